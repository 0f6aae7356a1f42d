#include "text.h"
#include "utf8.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/*
 * Characters a terminal acts on, or draws as nothing, instead of drawing:
 * the C1 controls U+0080-U+009F (U+009B is CSI and U+009D OSC for a
 * terminal that takes them in UTF-8); the bidirectional formatting
 * characters, which reorder what is drawn after them so a value can pass
 * for another ("Trojan Source"); U+2028 and U+2029, which a log viewer
 * may take for the end of a line; U+FEFF, which is drawn as nothing.
 */
static int is_hidden_control(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
	       cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* Where shown text goes: a terminal or a message, the inside of double
 * quotes in a message, or a JSON encoder's output. */
enum shown_form { SHOWN_PLAIN, SHOWN_QUOTED, SHOWN_JSON };

/*
 * How the character at [p] ([n] > 0 bytes left) is shown: returns the
 * length of its form, points [*piece] at it (into [esc] when escaped) and
 * sets [*used] to the bytes of [p] it stands for.  The rule of text.h:
 * C0, DEL and bytes that are not UTF-8 as \xNN, hidden controls as
 * \uNNNN, a backslash doubled, and inside quotes a '"' as \", so the
 * closing quote is always the value's end.  In a JSON encoder's output
 * its C0 are its own layout (it escapes every one in a string) and its
 * backslashes and quotes its escapes, so only what it lets through raw is
 * escaped, in JSON's form, and a byte that is not UTF-8 becomes \ufffd.
 */
static size_t shown_piece(const unsigned char *p, size_t n,
			  enum shown_form form, char esc[8],
			  const char **piece, size_t *used)
{
	size_t u = aml_utf8_length(p, n);
	int json = form == SHOWN_JSON;
	unsigned cp;

	*piece = esc;
	*used = u ? u : 1;
	if (u == 0 && json)
		return (size_t)snprintf(esc, 8, "\\u%04x", 0xfffdu);
	if (u == 0 || (u == 1 && (p[0] == 0x7f || (p[0] < 0x20 && !json))))
		return json ? (size_t)snprintf(esc, 8, "\\u%04x", p[0])
			    : (size_t)snprintf(esc, 8, "\\x%02x", p[0]);
	if (u == 1 && !json &&
	    (p[0] == '\\' || (p[0] == '"' && form == SHOWN_QUOTED))) {
		esc[0] = '\\';
		esc[1] = (char)p[0];
		return 2;
	}
	cp = u > 1 ? aml_utf8_decode(p, u) : 0;
	if (is_hidden_control(cp))
		return (size_t)snprintf(esc, 8, "\\u%04x", cp);
	*piece = (const char *)p;
	return u;
}

/* Columns [n] bytes of shown text take: one a character (continuation
 * bytes take none). */
static size_t columns(const char *s, size_t n)
{
	size_t cols = 0;

	for (size_t i = 0; i < n; i++)
		cols += ((unsigned char)s[i] & 0xc0) != 0x80;
	return cols;
}

/* Append [s] shown, at most [max_cols] columns of it and never half an
 * escape; returns the columns added.  [t] NULL: only count them. */
static size_t add_shown(struct aml_text *t, const char *s, size_t max_cols)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), cols = 0;

	while (n > 0) {
		const char *piece;
		char esc[8];
		size_t used, k = shown_piece(p, n, SHOWN_PLAIN, esc, &piece,
					     &used);
		size_t c = columns(piece, k);

		if (cols + c > max_cols)
			break;
		if (t)
			aml_text_add(t, piece, k);
		cols += c;
		p += used;
		n -= used;
	}
	return cols;
}

void aml_text_add_shown(struct aml_text *t, const char *s)
{
	add_shown(t, s, SIZE_MAX);
}

size_t aml_text_shown_width(const char *s)
{
	return add_shown(NULL, s, SIZE_MAX);
}

void aml_text_add_shown_json(struct aml_text *t, const char *json)
{
	const unsigned char *p = (const unsigned char *)json;
	size_t n = strlen(json);

	while (n > 0) {
		const char *piece;
		char esc[8];
		size_t used, k = shown_piece(p, n, SHOWN_JSON, esc, &piece,
					     &used);

		aml_text_add(t, piece, k);
		p += used;
		n -= used;
	}
}

/* The [n] bytes at [p] shown into [buf] while [reserve] of its [len]
 * bytes stay free; returns the length written, and whether all of it
 * fit in [*complete]. */
static size_t shown_into(const unsigned char *p, size_t n,
			 enum shown_form form, char *buf, size_t len,
			 size_t reserve, int *complete)
{
	size_t w = 0;

	*complete = 0;
	while (n > 0) {
		const char *piece;
		char esc[8];
		size_t used, k = shown_piece(p, n, form, esc, &piece, &used);

		if (w + k + reserve > len)
			return w;
		memcpy(buf + w, piece, k);
		w += k;
		p += used;
		n -= used;
	}
	*complete = 1;
	return w;
}

/*
 * The one way a value goes into a message: shown, between quotes when
 * [quoted], cut with "..." (before the closing quote) so that it fits
 * [buf]; a buffer too small for even the cut form gets "".
 */
static void show_in_message(const char *s, size_t n, int quoted, char *buf,
			    size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	enum shown_form form = quoted ? SHOWN_QUOTED : SHOWN_PLAIN;
	const char *cut = quoted ? "...\"" : "...";
	size_t open = quoted ? 1 : 0, cut_len = strlen(cut), at;
	int complete;

	if (!buf || len == 0)
		return;
	if (len < open + cut_len + 1) {
		buf[0] = '\0';
		return;
	}
	buf[0] = '"';
	at = open + shown_into(p, n, form, buf + open, len - open, open + 1,
			       &complete);
	if (complete) {
		memcpy(buf + at, "\"", open);
		at += open;
	} else {
		at = open + shown_into(p, n, form, buf + open, len - open,
				       cut_len + 1, &complete);
		memcpy(buf + at, cut, cut_len);
		at += cut_len;
	}
	buf[at] = '\0';
}

void aml_text_escape(const char *s, char *buf, size_t len)
{
	show_in_message(s, strlen(s), 0, buf, len);
}

void aml_text_escape_n(const char *s, size_t n, char *buf, size_t len)
{
	show_in_message(s, n, 0, buf, len);
}

const char *aml_text_quote(const char *s, size_t n, char *buf, size_t len)
{
	show_in_message(s, n, 1, buf, len);
	return buf;
}

/* Append [spec] (one printf conversion) formatted with what follows. */
static void add_formatted(struct aml_text *t, const char *spec, ...)
	__attribute__((format(printf, 2, 3)));
static void add_formatted(struct aml_text *t, const char *spec, ...)
{
	char small[128], *big;
	va_list ap;
	int n;

	va_start(ap, spec);
	n = vsnprintf(small, sizeof(small), spec, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		aml_text_add(t, small, (size_t)n);
		return;
	}
	big = malloc((size_t)n + 1);
	if (!big) {
		t->oom = 1;
		return;
	}
	va_start(ap, spec);
	vsnprintf(big, (size_t)n + 1, spec, ap);
	va_end(ap);
	aml_text_add(t, big, (size_t)n);
	free(big);
}

/* Pad to [width] columns from [cols]. */
static void pad(struct aml_text *t, size_t cols, long width)
{
	for (; width > 0 && cols < (size_t)width; cols++)
		aml_text_add(t, " ", 1);
}

/* A %s conversion: [s] shown, padded by columns, cut to [precision]
 * columns when it is not negative. */
static void add_string(struct aml_text *t, const char *s, int left,
		       long width, long precision)
{
	struct aml_text shown = AML_TEXT_INIT;
	size_t cols;

	cols = add_shown(&shown, s ? s : "(null)",
			 precision < 0 ? SIZE_MAX : (size_t)precision);
	if (shown.oom) {
		t->oom = 1;
		free(shown.data);
		return;
	}
	if (!left)
		pad(t, cols, width);
	aml_text_add(t, shown.data ? shown.data : "", shown.len);
	if (left)
		pad(t, cols, width);
	free(shown.data);
}

void aml_text_vprintf_shown(struct aml_text *t, const char *fmt, va_list ap)
{
	const char *p = fmt;

	while (*p) {
		const char *pct = strchr(p, '%');
		char spec[32], len[3] = "", conv, *end;
		long width = -1, precision = -1;
		size_t n = 0;
		int left = 0;

		if (!pct) {
			aml_text_str(t, p);
			return;
		}
		aml_text_add(t, p, (size_t)(pct - p));
		p = pct + 1;
		spec[n++] = '%';
		/* Flags, width and precision, '*' resolved, so the spec
		 * handed to snprintf stands alone. */
		while (*p && strchr("-+ #0", *p)) {
			left |= *p == '-';
			if (n < 8)
				spec[n++] = *p;
			p++;
		}
		if (*p == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = 1;
				width = -width;
			}
			p++;
		} else if (*p >= '0' && *p <= '9') {
			width = strtol(p, &end, 10);
			p = end;
		}
		if (*p == '.') {
			p++;
			if (*p == '*') {
				precision = va_arg(ap, int);
				p++;
			} else {
				precision = strtol(p, &end, 10);
				p = end;
			}
		}
		if (width > 4096)
			width = 4096;
		if (precision > 4096)
			precision = 4096;
		if (left && !memchr(spec, '-', n))
			spec[n++] = '-';
		if (width >= 0)
			n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%ld",
					      width);
		if (precision >= 0)
			n += (size_t)snprintf(spec + n, sizeof(spec) - n,
					      ".%ld", precision);
		for (size_t k = 0; k < 2 && *p && strchr("hlzjtL", *p); k++)
			len[k] = *p++;
		conv = *p ? *p++ : '\0';
		/* Integers go through intmax_t, after the narrowing their
		 * length asks for, so one spec per kind serves them all. */
		switch (conv) {
		case '%':
			aml_text_add(t, "%", 1);
			break;
		case 's':
			add_string(t, va_arg(ap, const char *), left, width,
				   precision);
			break;
		case 'c':
			snprintf(spec + n, sizeof(spec) - n, "c");
			add_formatted(t, spec, va_arg(ap, int));
			break;
		case 'd':
		case 'i': {
			intmax_t v;

			if (!strcmp(len, "ll"))
				v = va_arg(ap, long long);
			else if (!strcmp(len, "l"))
				v = va_arg(ap, long);
			else if (!strcmp(len, "z") || !strcmp(len, "t"))
				v = va_arg(ap, ptrdiff_t);
			else if (!strcmp(len, "j"))
				v = va_arg(ap, intmax_t);
			else if (!strcmp(len, "hh"))
				v = (signed char)va_arg(ap, int);
			else if (!strcmp(len, "h"))
				v = (short)va_arg(ap, int);
			else
				v = va_arg(ap, int);
			snprintf(spec + n, sizeof(spec) - n, "jd");
			add_formatted(t, spec, v);
			break;
		}
		case 'u':
		case 'o':
		case 'x':
		case 'X': {
			uintmax_t v;

			if (!strcmp(len, "ll"))
				v = va_arg(ap, unsigned long long);
			else if (!strcmp(len, "l"))
				v = va_arg(ap, unsigned long);
			else if (!strcmp(len, "z") || !strcmp(len, "t"))
				v = va_arg(ap, size_t);
			else if (!strcmp(len, "j"))
				v = va_arg(ap, uintmax_t);
			else if (!strcmp(len, "hh"))
				v = (unsigned char)va_arg(ap, unsigned);
			else if (!strcmp(len, "h"))
				v = (unsigned short)va_arg(ap, unsigned);
			else
				v = va_arg(ap, unsigned);
			snprintf(spec + n, sizeof(spec) - n, "j%c", conv);
			add_formatted(t, spec, v);
			break;
		}
		case 'e':
		case 'E':
		case 'f':
		case 'F':
		case 'g':
		case 'G':
			if (!strcmp(len, "L")) {
				snprintf(spec + n, sizeof(spec) - n, "L%c",
					 conv);
				add_formatted(t, spec, va_arg(ap, long double));
			} else {
				snprintf(spec + n, sizeof(spec) - n, "%c", conv);
				add_formatted(t, spec, va_arg(ap, double));
			}
			break;
		default:
			/* Not one of ours (%n, %p, %ls): the arguments
			 * after it cannot be read safely, so stop here. */
			aml_text_str(t, "?");
			return;
		}
	}
}

void aml_text_printf_shown(struct aml_text *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	aml_text_vprintf_shown(t, fmt, ap);
	va_end(ap);
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

int aml_parse_decimal(const char *text, unsigned long max,
		      unsigned long *out)
{
	unsigned long v = 0;

	if (!text || !*text)
		return -1;
	for (; *text; text++) {
		unsigned d = (unsigned char)*text - '0';

		if (d > 9 || d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
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

const char *aml_env_value(char *const *env, size_t n, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; env && i < n; i++)
		if (env[i] && !strncmp(env[i], name, len) && env[i][len] == '=')
			return env[i] + len + 1;
	return NULL;
}

char *aml_env_pair(const char *name, const char *value)
{
	size_t name_len = strlen(name), value_len = value ? strlen(value) : 0;
	char *pair = malloc(name_len + 1 + value_len + 1);

	if (!pair)
		return NULL;
	memcpy(pair, name, name_len);
	pair[name_len] = '=';
	memcpy(pair + name_len + 1, value ? value : "", value_len + 1);
	return pair;
}
