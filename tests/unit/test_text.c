/*
 * Unit tests of plugin/text.c: the growing string and shell quoting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static void test_grows_and_finishes(void **state)
{
	struct aml_text t = AML_TEXT_INIT;
	char *s;

	(void)state;
	for (int i = 0; i < 1000; i++)
		aml_text_str(&t, "abc");
	aml_text_add(&t, "x\0y", 3);
	assert_int_equal(t.len, 3003);
	s = aml_text_finish(&t);
	assert_non_null(s);
	assert_int_equal(strlen(s), 3001); /* the embedded NUL ends the C string */
	assert_memory_equal(s + 2997, "abcx\0y", 7);
	assert_null(t.data);
	free(s);
}

static void test_empty_is_empty_string(void **state)
{
	struct aml_text t = AML_TEXT_INIT;
	char *s;

	(void)state;
	s = aml_text_finish(&t);
	assert_string_equal(s, "");
	free(s);
}

static void test_oom_is_sticky(void **state)
{
	struct aml_text t = AML_TEXT_INIT;

	(void)state;
	aml_text_str(&t, "kept until the end");
	t.oom = 1; /* as after a failed realloc */
	aml_text_str(&t, "ignored");
	assert_int_equal(t.len, strlen("kept until the end"));
	assert_null(aml_text_finish(&t));
	assert_null(t.data);
}

static void test_shell_words(void **state)
{
	static const struct {
		const char *word;
		const char *quoted;
	} cases[] = {
		{ "python3", "python3" },
		{ "--lr=0.1", "--lr=0.1" },
		{ "/a/b.py", "/a/b.py" },
		{ "two words", "'two words'" },
		{ "", "''" },
		{ "it's", "'it'\\''s'" },
		{ "$HOME", "'$HOME'" },
		{ "a;rm -rf /", "'a;rm -rf /'" },
		{ "line\nbreak", "'line\nbreak'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *const one[] = { (char *)cases[i].word };
		char *s = aml_shell_words(one, 1);

		assert_string_equal(s, cases[i].quoted);
		free(s);
	}
}

/* What the quoting promises: a POSIX shell reads back the same words. */
static void test_shell_reads_words_back(void **state)
{
	char *const words[] = { "python3", "t.py", "--name", "it's a \"test\"",
				"$(id)", "`id`", "", "tab\there" };
	char *line = aml_shell_words(words, 8), *cmd;
	char out[512];
	size_t n;
	FILE *f;

	(void)state;
	assert_non_null(line);
	assert_true(asprintf(&cmd, "printf '%%s\\n' %s", line) > 0);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	assert_int_equal(pclose(f), 0);
	assert_string_equal(out, "python3\nt.py\n--name\nit's a \"test\"\n$(id)\n`id`\n\ntab\there\n");
	free(cmd);
	free(line);
}

static void test_escape_for_messages(void **state)
{
	char buf[16];

	(void)state;
	aml_text_escape("plain.py", buf, sizeof(buf));
	assert_string_equal(buf, "plain.py");
	aml_text_escape("a\nb", buf, sizeof(buf));
	assert_string_equal(buf, "a\\x0ab");
	aml_text_escape("bad\xff\xc3", buf, sizeof(buf));
	assert_string_equal(buf, "bad\\xff\\xc3");
	aml_text_escape("caf\xc3\xa9\\", buf, sizeof(buf));
	assert_string_equal(buf, "caf\xc3\xa9\\\\");
	/* exactly fits: 15 characters and the NUL */
	aml_text_escape("123456789012345", buf, sizeof(buf));
	assert_string_equal(buf, "123456789012345");
	aml_text_escape("1234567890123456", buf, sizeof(buf));
	assert_string_equal(buf, "123456789012...");
	/* an escape is never cut in half */
	aml_text_escape("12345678901\n34567", buf, sizeof(buf));
	assert_string_equal(buf, "12345678901...");
}

static void test_strdup_opt(void **state)
{
	int oom = 0;
	char *copy;

	(void)state;
	assert_null(aml_strdup_opt(NULL, &oom));
	copy = aml_strdup_opt("gpu", &oom);
	assert_string_equal(copy, "gpu");
	assert_int_equal(oom, 0);
	free(copy);
}

/* The order strcmp gives, on pieces of longer text. */
static void test_compare_n_as_strcmp(void **state)
{
	static const char *const words[] = { "", "a", "ab", "abc", "b", "B",
					     "a_b", "\xff", "ab\x80" };
	size_t n = sizeof(words) / sizeof(*words);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			int want = strcmp(words[i], words[j]);
			int got = aml_compare_n(words[i], strlen(words[i]),
						words[j], strlen(words[j]));

			assert_int_equal(want < 0, got < 0);
			assert_int_equal(want > 0, got > 0);
		}
	}
	/* A name cut out of "NAME=value". */
	assert_int_equal(aml_compare_n("AB=1", 2, "AB", 2), 0);
	assert_true(aml_compare_n("A=1", 1, "AB", 2) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_and_finishes),
		cmocka_unit_test(test_empty_is_empty_string),
		cmocka_unit_test(test_oom_is_sticky),
		cmocka_unit_test(test_shell_words),
		cmocka_unit_test(test_shell_reads_words_back),
		cmocka_unit_test(test_escape_for_messages),
		cmocka_unit_test(test_strdup_opt),
		cmocka_unit_test(test_compare_n_as_strcmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
