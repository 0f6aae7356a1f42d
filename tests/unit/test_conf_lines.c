/*
 * test_conf_lines.c: plugin/conf_lines.c, slurm.conf's lexical rules
 * (test_site.c has them through aml.conf, with the messages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_lines.h"

/* Every logical line as "line:key=value|..." (or "line:word" for a
 * token without '=', '!' after an unterminated one), lines joined by
 * '\n'; NUL lines reported as "NUL n".  Returns a malloc'd string. */
static char *nul_report;
static size_t nul_len;

static void note_nul(void *ctx, int line)
{
	FILE *f = ctx;

	fprintf(f, "NUL %d\n", line);
}

static char *read_all(const char *text, size_t len)
{
	struct aml_conf_reader r;
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	FILE *nul = open_memstream(&nul_report, &nul_len);
	int got;

	assert_non_null(f);
	assert_non_null(nul);
	assert_int_equal(aml_conf_reader_init(&r, text, len, note_nul, nul),
			 0);
	while ((got = aml_conf_read_line(&r)) == 1) {
		if (r.poisoned)
			fputs("(poisoned)", f);
		for (size_t i = 0; i < r.n_toks; i++) {
			const struct aml_conf_token *t = &r.toks[i];

			fprintf(f, "%s%d:%.*s", i ? "|" : "", t->line,
				(int)t->key_len, t->text);
			if (t->value)
				fprintf(f, "=%s", t->value);
			if (t->unterminated)
				fputc('!', f);
		}
		fputc('\n', f);
	}
	assert_int_equal(got, 0);
	aml_conf_reader_free(&r);
	fclose(nul);
	fclose(f);
	return out;
}

static void lines_are(const char *text, const char *expected)
{
	char *got = read_all(text, strlen(text));

	if (strcmp(got, expected) != 0) {
		print_error("for:\n%s\n--- got:\n%s--- expected:\n%s", text,
			    got, expected);
		fail();
	}
	free(got);
	free(nul_report);
	nul_report = NULL;
}

static void test_tokens_and_lines(void **state)
{
	(void)state;
	lines_are("", "");
	lines_are("A=1", "1:A=1\n");
	lines_are("A=1 B=2\n\nC=3\n",
		  "1:A=1|1:B=2\n\n3:C=3\n");
	lines_are("  \tA=1\t \r\n", "1:A=1\n");
	/* A word without '=', and only the first '=' separates. */
	lines_are("word A=b=c =x", "1:word|1:A=b=c|1:=x\n");
	lines_are("A=", "1:A=\n");
}

static void test_comments(void **state)
{
	(void)state;
	lines_are("# all comment\nA=1 # the rest\n", "\n2:A=1\n");
	/* Even inside quotes, as in Slurm. */
	lines_are("A=\"x # y\"\n", "1:A=x !\n");
	lines_are("A=x\\#y\n", "1:A=x#y\n");
}

static void test_continuation(void **state)
{
	(void)state;
	/* Joined without a separator; tokens keep their own line. */
	lines_are("A=1 \\\nB=2\nC=3\n", "1:A=1|2:B=2\n3:C=3\n");
	lines_are("A=ab\\\ncd\n", "1:A=abcd\n");
	/* Blanks and a comment may follow the '\'. */
	lines_are("A=1 \\  \t\nB=2\n", "1:A=1|2:B=2\n");
	lines_are("A=1 \\ # more\nB=2\n", "1:A=1|2:B=2\n");
	/* A '\' on the last line continues into nothing. */
	lines_are("A=1 \\", "1:A=1\n");
	lines_are("A=1 \\\n", "1:A=1\n");
	/* Line numbers count every physical line. */
	lines_are("A=1\\\n\\\n\\\n\nB=2", "1:A=1\n5:B=2\n");
}

static void test_escapes_and_quotes(void **state)
{
	(void)state;
	lines_are("A=x\\ y", "1:A=x y\n");
	lines_are("A=\\\"", "1:A=\"\n");
	lines_are("A=\"two words\" B=c", "1:A=two words|1:B=c\n");
	/* A quoted '=' does not separate. */
	lines_are("\"A=B\"=c", "1:A=B=c\n");
	/* A quote opened and never closed is said, and ends at the line. */
	lines_are("A=\"open B=2\nC=3\n", "1:A=open B=2!\n2:C=3\n");
	lines_are("\"\"", "1:\n");
}

static void test_nul_bytes(void **state)
{
	static const char text[] = "A=1\nB=\0\nC=3 \\\nD\0=4\n";
	char *got;

	(void)state;
	got = read_all(text, sizeof(text) - 1);
	assert_string_equal(nul_report, "NUL 2\nNUL 4\n");
	/* Reported for every physical line, and the logical line holding
	 * one is marked. */
	assert_non_null(strstr(got, "1:A=1\n(poisoned)"));
	assert_non_null(strstr(got, "\n(poisoned)3:C=3|"));
	free(got);
	free(nul_report);
	nul_report = NULL;
}

static void test_null_text_and_no_callback(void **state)
{
	struct aml_conf_reader r;

	(void)state;
	assert_int_equal(aml_conf_reader_init(&r, NULL, 0, NULL, NULL), 0);
	assert_int_equal(aml_conf_read_line(&r), 0);
	aml_conf_reader_free(&r);
	assert_int_equal(aml_conf_reader_init(&r, "A\0", 2, NULL, NULL), 0);
	assert_int_equal(aml_conf_read_line(&r), 1);
	assert_true(r.poisoned);
	assert_int_equal(aml_conf_read_line(&r), 0);
	aml_conf_reader_free(&r);
}

/* The text of earlier lines' tokens stays while later lines are read. */
static void test_tokens_outlive_their_line(void **state)
{
	struct aml_conf_reader r;
	struct aml_conf_token first;

	(void)state;
	assert_int_equal(aml_conf_reader_init(&r, "A=1\nB=2\nC=3", 11, NULL,
					      NULL), 0);
	assert_int_equal(aml_conf_read_line(&r), 1);
	first = r.toks[0];
	while (aml_conf_read_line(&r) == 1)
		;
	assert_string_equal(first.text, "A=1");
	assert_string_equal(first.value, "1");
	aml_conf_reader_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens_and_lines),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_escapes_and_quotes),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_null_text_and_no_callback),
		cmocka_unit_test(test_tokens_outlive_their_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
