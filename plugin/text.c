#include "text.h"

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
