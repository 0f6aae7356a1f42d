#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aml_text_add(struct aml_text *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char *data;

		while (t->len + n + 1 > cap)
			cap *= 2;
		data = realloc(t->data, cap);
		if (!data) {
			t->oom = 1;
			return;
		}
		t->data = data;
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

void aml_text_str(struct aml_text *t, const char *s)
{
	aml_text_add(t, s, strlen(s));
}

static int shell_safe(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("_./:=,@%+-", c)))
			return 0;
	}
	return 1;
}

void aml_text_shell_word(struct aml_text *t, const char *word)
{
	if (shell_safe(word)) {
		aml_text_str(t, word);
		return;
	}
	aml_text_add(t, "'", 1);
	for (const char *p = word; *p; p++) {
		if (*p == '\'')
			aml_text_add(t, "'\\''", 4);
		else
			aml_text_add(t, p, 1);
	}
	aml_text_add(t, "'", 1);
}

char *aml_text_finish(struct aml_text *t)
{
	char *data;

	if (t->oom) {
		free(t->data);
		data = NULL;
	} else {
		data = t->data ? t->data : strdup("");
	}
	t->data = NULL;
	t->len = t->cap = 0;
	return data;
}

char *aml_shell_words(char *const *words, size_t n)
{
	struct aml_text t = AML_TEXT_INIT;

	for (size_t i = 0; i < n; i++) {
		if (i)
			aml_text_add(&t, " ", 1);
		aml_text_shell_word(&t, words[i]);
	}
	return aml_text_finish(&t);
}

/* Length of the valid UTF-8 sequence at [p], or 0 (overlongs, surrogates
 * and code points past U+10FFFF are not valid). */
static size_t utf8_length(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[0] == 0xe0 && p[1] < 0xa0) ||
		    (p[0] == 0xed && p[1] > 0x9f))
			return 0;
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80 || (p[0] == 0xf0 && p[1] < 0x90) ||
		    (p[0] == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* Escape into [buf] while [reserve] bytes stay free; returns the length
 * written, and whether all of [s] fit in [*complete]. */
static size_t escape_into(const unsigned char *p, char *buf, size_t len,
			  size_t reserve, int *complete)
{
	size_t n = 0;

	*complete = 0;
	while (*p) {
		size_t u = utf8_length(p), k;
		char piece[8];

		if (u == 0 || (u == 1 && (*p < 0x20 || *p == 0x7f))) {
			snprintf(piece, sizeof(piece), "\\x%02x", *p);
			k = 4;
			u = 1;
		} else if (*p == '\\') {
			memcpy(piece, "\\\\", 2);
			k = 2;
		} else {
			memcpy(piece, p, u);
			k = u;
		}
		if (n + k + reserve > len)
			return n;
		memcpy(buf + n, piece, k);
		n += k;
		p += u;
	}
	*complete = 1;
	return n;
}

void aml_text_escape(const char *s, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	int complete;

	if (len < 4) {
		if (len)
			buf[0] = '\0';
		return;
	}
	n = escape_into(p, buf, len, 1, &complete);
	if (!complete) {
		n = escape_into(p, buf, len, 4, &complete);
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
}

void aml_format_bytes(unsigned long long bytes, char *buf, size_t len)
{
	if (bytes >= 1024ULL * 1024 * 1024)
		snprintf(buf, len, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
	else if (bytes >= 1024 * 1024)
		snprintf(buf, len, "%.1f MiB", bytes / (1024.0 * 1024.0));
	else if (bytes >= 1024)
		snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
	else
		snprintf(buf, len, "%llu bytes", bytes);
}

int aml_ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int aml_ascii_ieq_n(const char *a, size_t n, const char *b)
{
	for (size_t i = 0; i < n; i++)
		if (!b[i] || aml_ascii_lower((unsigned char)a[i]) !=
			     aml_ascii_lower((unsigned char)b[i]))
			return 0;
	return b[n] == '\0';
}

int aml_compare_n(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int aml_ascii_ieq(const char *a, const char *b)
{
	return aml_ascii_ieq_n(a, strlen(a), b);
}

char *aml_strdup_opt(const char *s, int *oom)
{
	char *copy;

	if (!s)
		return NULL;
	copy = strdup(s);
	if (!copy)
		*oom = 1;
	return copy;
}
