/*
 * Unit tests of plugin/text.c: the growing string, shell quoting, and text
 * from elsewhere shown safely.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
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

/* The one form of a value inside a message: quoted, a '"' in it escaped
 * so the closing quote is its end, cut inside the quotes. */
static void test_quote_for_messages(void **state)
{
	static const struct {
		const char *raw;
		size_t n, len;
		const char *shown;
	} cases[] = {
		{ "plain", 5, 16, "\"plain\"" },
		{ "a\"b\\c", 5, 16, "\"a\\\"b\\\\c\"" },
		/* [n] bytes, a NUL among them shown, not an end */
		{ "a\0b\nrest", 4, 16, "\"a\\x00b\\x0a\"" },
		{ "", 0, 16, "\"\"" },
		/* exactly fits: 13 characters, the quotes and the NUL */
		{ "1234567890123", 13, 16, "\"1234567890123\"" },
		{ "12345678901234", 14, 16, "\"1234567890...\"" },
		/* never half an escape or a character */
		{ "123456789\"abc", 13, 16, "\"123456789...\"" },
		{ "123456789\xc3\xa9xyz", 14, 16, "\"123456789...\"" },
		/* the smallest buffer that holds the cut form, and one less */
		{ "abcd", 4, 6, "\"...\"" },
		{ "abcd", 4, 5, "" },
	};
	char buf[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'X', sizeof(buf));
		assert_ptr_equal(aml_text_quote(cases[i].raw, cases[i].n, buf,
						cases[i].len), buf);
		assert_string_equal(buf, cases[i].shown);
	}
	buf[0] = 'X';
	aml_text_quote("abc", 3, buf, 0);
	assert_int_equal(buf[0], 'X');
}

static void test_escape_n(void **state)
{
	char buf[16];

	(void)state;
	aml_text_escape_n("ab\0c\"d", 6, buf, sizeof(buf));
	assert_string_equal(buf, "ab\\x00c\"d");
	/* a character cut by [n] is bytes that are not UTF-8 */
	aml_text_escape_n("caf\xc3\xa9", 4, buf, sizeof(buf));
	assert_string_equal(buf, "caf\\xc3");
	aml_text_escape_n("12345678901234567", 16, buf, sizeof(buf));
	assert_string_equal(buf, "123456789012...");
}

/* What reaches a terminal as an action rather than a character. */
static void test_escape_terminal_controls(void **state)
{
	static const struct {
		const char *raw;
		const char *shown;
	} cases[] = {
		{ "\x1b[2J", "\\x1b[2J" },                 /* clear screen */
		{ "\x1b]52;c;aGk=\a", "\\x1b]52;c;aGk=\\x07" }, /* clipboard */
		{ "done\rfake", "done\\x0dfake" },
		{ "del\x7f", "del\\x7f" },
		{ "\xc2\x9b" "2J", "\\u009b2J" },           /* C1 CSI in UTF-8 */
		{ "\xc2\x9d" "52;c;x\xc2\x9c", "\\u009d52;c;x\\u009c" },
		{ "\xc2\xa0nbsp", "\xc2\xa0nbsp" },         /* U+00A0 is text */
		{ "\x9b" "2J", "\\x9b2J" },                 /* a lone C1 byte */
		{ "user\xe2\x80\xae" "exe.txt", "user\\u202eexe.txt" },
		{ "\xe2\x81\xa6x\xe2\x81\xa9", "\\u2066x\\u2069" },
		{ "\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f", "\\u061c\\u200e\\u200f" },
		{ "\xe2\x80\x94 dash", "\xe2\x80\x94 dash" }, /* U+2014 is text */
		{ "a\xe2\x80\xa8" "b\xe2\x80\xa9", "a\\u2028b\\u2029" }, /* line breaks */
		{ "\xef\xbb\xbfinvisible", "\\ufeffinvisible" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },       /* a surrogate */
		{ "\xc0\xaf", "\\xc0\\xaf" },                /* an overlong '/' */
		{ "a\\x1b", "a\\\\x1b" },  /* typed text never passes for an escape */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml_text t = AML_TEXT_INIT;
		char buf[64], *s;

		aml_text_escape(cases[i].raw, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].shown);
		aml_text_add_shown(&t, cases[i].raw);
		s = aml_text_finish(&t);
		assert_string_equal(s, cases[i].shown);
		free(s);
	}
}

/* Whatever the bytes, the shown form holds no byte a terminal acts on:
 * no C0, no DEL, no C1 (raw or as UTF-8), and it is valid UTF-8. */
static void test_shown_never_holds_a_control(void **state)
{
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		struct aml_text t = AML_TEXT_INIT;
		unsigned char raw[64];
		size_t n = 1 + round % 63, backslashes, cols;
		char *s, *again;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			/* Often the lead bytes of C1 and bidi sequences. */
			raw[i] = (unsigned char)(seed >> 16);
			if (seed % 5 == 0)
				raw[i] = (unsigned char)"\xc2\xe2\x80\x9b\x1b"[seed % 4];
			if (!raw[i])
				raw[i] = 'x';
		}
		raw[n] = '\0';
		aml_text_add_shown(&t, (const char *)raw);
		s = aml_text_finish(&t);
		assert_non_null(s);
		for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
			assert_true(*p >= 0x20 && *p != 0x7f);
			if (*p == 0xc2)
				assert_true(p[1] >= 0xa0);
		}
		/* Shown again, only its backslashes change: nothing in it is
		 * a control or a byte that is not UTF-8. */
		aml_text_add_shown(&t, s);
		again = aml_text_finish(&t);
		backslashes = cols = 0;
		for (const char *p = s; *p; p++) {
			backslashes += *p == '\\';
			cols += (*p & 0xc0) != 0x80;
		}
		assert_int_equal(strlen(again), strlen(s) + backslashes);
		/* and the width is the columns of the shown form */
		assert_int_equal(aml_text_shown_width((const char *)raw), cols);
		free(again);
		free(s);
	}
}

static void test_shown_width_counts_columns(void **state)
{
	(void)state;
	assert_int_equal(aml_text_shown_width(""), 0);
	assert_int_equal(aml_text_shown_width("train"), 5);
	assert_int_equal(aml_text_shown_width("caf\xc3\xa9"), 4);
	assert_int_equal(aml_text_shown_width("\x1b[2J"), 7);
	assert_int_equal(aml_text_shown_width("\xc2\x9b"), 6);
	assert_int_equal(aml_text_shown_width("\xff"), 4);
	assert_int_equal(aml_text_shown_width("\\"), 2);
}

static void printf_case(const char *want, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void printf_case(const char *want, const char *fmt, ...)
{
	struct aml_text t = AML_TEXT_INIT;
	va_list ap;
	char *s;

	va_start(ap, fmt);
	aml_text_vprintf_shown(&t, fmt, ap);
	va_end(ap);
	s = aml_text_finish(&t);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void test_printf_shows_strings(void **state)
{
	const char *volatile none = NULL; /* unknown to the format checker */

	(void)state;
	printf_case("Run: a\\x1b[2Jb\n", "Run: %s\n", "a\x1b[2Jb");
	printf_case("(null)", "%s", none);
	printf_case("100% plain", "100%% plain");
	/* widths count columns of the shown form, so columns line up */
	printf_case("caf\xc3\xa9  |", "%-6s|", "caf\xc3\xa9");
	printf_case("a\\x1b |", "%-6s|", "a\x1b");
	printf_case("  abc|", "%5s|", "abc");
	printf_case("abcdefg|", "%-3s|", "abcdefg");
	printf_case("ab   |ok", "%-*s|%s", 5, "ab", "ok");
	printf_case("ab   |", "%*s|", -5, "ab");
	/* a precision cuts in columns, never inside an escape */
	printf_case("a|", "%.3s|", "a\nb");
	printf_case("a\\x0a|", "%.5s|", "a\nb");
	printf_case("caf|", "%.*s|", 3, "caf\xc3\xa9");
}

static void test_printf_passes_numbers(void **state)
{
	(void)state;
	printf_case("7 -7 4294967295 -9000000000 18446744073709551615",
		    "%d %i %u %lld %llu", 7, -7, 4294967295u,
		    -9000000000LL, 18446744073709551615ULL);
	printf_case("   42|42   |00042|+42", "%5d|%-5d|%05d|%+d", 42, 42, 42,
		    42);
	printf_case("12 -3 ff FF 17 x", "%zu %ld %x %X %o %c", (size_t)12, -3L,
		    255u, 255u, 15u, 'x');
	printf_case("-1 255 1", "%hhd %hhu %hd", (signed char)-1,
		    (unsigned char)255, (short)1);
	printf_case("1.5 |   2.25|1e+06", "%-4.1f|%7.2f|%g", 1.5, 2.25,
		    1e6);
	printf_case("9 8 3.5", "%jd %td %Lg", (intmax_t)9, (ptrdiff_t)8,
		    3.5L);
	printf_case("[    7]", "[%*u]", 5, 7u);
}

/* JSON from cJSON keeps its layout and its escapes; what cJSON left raw
 * is escaped in JSON's form, and the result parses back. */
static void test_shown_json(void **state)
{
	struct aml_text t = AML_TEXT_INIT;
	const char *raw = "{\n\t\"k\":\t\"a\\u001b\x7f\xc2\x9b\xff\xe2\x80\xae"
			  "\\\\\\\"\xc3\xa9\"\n}";
	char *s;

	(void)state;
	aml_text_add_shown_json(&t, raw);
	s = aml_text_finish(&t);
	assert_string_equal(s, "{\n\t\"k\":\t\"a\\u001b\\u007f\\u009b"
			       "\\ufffd\\u202e\\\\\\\"\xc3\xa9\"\n}");
	free(s);
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
/* Plain digits only, up to the bound, never a wrapped value. */
static void test_parse_decimal(void **state)
{
	unsigned long v = 7;

	(void)state;
	assert_int_equal(aml_parse_decimal("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(aml_parse_decimal("4294967295", 4294967295UL, &v), 0);
	assert_int_equal(v, 4294967295UL);
	assert_int_equal(aml_parse_decimal("007", 10, &v), 0);
	assert_int_equal(v, 7);
	v = 99;
	assert_int_equal(aml_parse_decimal("4294967296", 4294967295UL, &v), -1);
	assert_int_equal(aml_parse_decimal("11", 10, &v), -1);
	assert_int_equal(aml_parse_decimal("7", 5, &v), -1);
	assert_int_equal(aml_parse_decimal("5", 5, &v), 0);
	assert_int_equal(v, 5);
	v = 99;
	assert_int_equal(aml_parse_decimal("99999999999999999999999", -1UL, &v),
			 -1);
	assert_int_equal(aml_parse_decimal("", 10, &v), -1);
	assert_int_equal(aml_parse_decimal(NULL, 10, &v), -1);
	assert_int_equal(aml_parse_decimal(" 1", 10, &v), -1);
	assert_int_equal(aml_parse_decimal("+1", 10, &v), -1);
	assert_int_equal(aml_parse_decimal("-1", 10, &v), -1);
	assert_int_equal(aml_parse_decimal("1\n", 10, &v), -1);
	assert_int_equal(aml_parse_decimal("0x1", 10, &v), -1);
	assert_int_equal(v, 99);
}

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

static void test_env_pair(void **state)
{
	char *pair;

	(void)state;
	pair = aml_env_pair("RANK", "3");
	assert_string_equal(pair, "RANK=3");
	free(pair);
	/* no value is the empty one; a '=' in the value stays */
	pair = aml_env_pair("EMPTY", NULL);
	assert_string_equal(pair, "EMPTY=");
	free(pair);
	pair = aml_env_pair("OPTS", "a=b c");
	assert_string_equal(pair, "OPTS=a=b c");
	free(pair);
}

static void test_env_value(void **state)
{
	char *env[] = { "AML_PLANNED=no", NULL, "AML_PLAN=", "AML_PLAN=second",
			"AML=x" };

	(void)state;
	/* the first of two, empty or not; a longer name is another name */
	assert_string_equal(aml_env_value(env, 5, "AML_PLAN"), "");
	assert_string_equal(aml_env_value(env + 3, 2, "AML_PLAN"), "second");
	assert_string_equal(aml_env_value(env, 5, "AML"), "x");
	/* only the [n] entries given */
	assert_null(aml_env_value(env, 2, "AML_PLAN"));
	assert_null(aml_env_value(NULL, 3, "AML"));
	assert_null(aml_env_value(env, 5, "AML_PLANN"));
}

/* Every byte, under a locale whose letters go beyond ASCII: only the 52
 * letters and 10 digits are. */
static void test_ascii_classes(void **state)
{
	int alpha = 0, digit = 0;

	(void)state;
	setlocale(LC_CTYPE, "C.UTF-8");
	for (int c = -1; c < 256; c++) {
		alpha += aml_ascii_is_alpha(c) != 0;
		digit += aml_ascii_is_digit(c) != 0;
	}
	setlocale(LC_CTYPE, "C");
	assert_int_equal(alpha, 52);
	assert_int_equal(digit, 10);
	assert_true(aml_ascii_is_alpha('a') && aml_ascii_is_alpha('Z'));
	assert_false(aml_ascii_is_alpha('@') || aml_ascii_is_alpha('[') ||
		     aml_ascii_is_alpha('`') || aml_ascii_is_alpha('{') ||
		     aml_ascii_is_alpha(0xe9));
	assert_true(aml_ascii_is_digit('0') && aml_ascii_is_digit('9'));
	assert_false(aml_ascii_is_digit('/') || aml_ascii_is_digit(':'));
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
		cmocka_unit_test(test_quote_for_messages),
		cmocka_unit_test(test_escape_n),
		cmocka_unit_test(test_escape_terminal_controls),
		cmocka_unit_test(test_shown_never_holds_a_control),
		cmocka_unit_test(test_shown_width_counts_columns),
		cmocka_unit_test(test_printf_shows_strings),
		cmocka_unit_test(test_printf_passes_numbers),
		cmocka_unit_test(test_shown_json),
		cmocka_unit_test(test_strdup_opt),
		cmocka_unit_test(test_env_pair),
		cmocka_unit_test(test_env_value),
		cmocka_unit_test(test_parse_decimal),
		cmocka_unit_test(test_compare_n_as_strcmp),
		cmocka_unit_test(test_ascii_classes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
