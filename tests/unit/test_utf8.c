/*
 * Unit tests of plugin/utf8.c: the one UTF-8 validator, strict RFC 3629,
 * on the classic edge cases (boundaries of each length, overlongs,
 * surrogates, the end of Unicode, cut and stray bytes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "utf8.h"

#define U(s) ((const unsigned char *)(s))

/* [s] of [n] bytes is one valid character of [len] bytes with [cp]. */
static void one_char(const char *s, size_t n, size_t len, unsigned cp)
{
	char out[AML_UTF8_MAX_LEN];

	assert_int_equal(aml_utf8_length(U(s), n), len);
	assert_int_equal(aml_utf8_decode(U(s), len), cp);
	assert_int_equal(aml_utf8_invalid_at(U(s), n), n);
	assert_int_equal(aml_utf8_encode(cp, out), len);
	assert_memory_equal(out, s, len);
}

static void test_boundaries_of_each_length(void **state)
{
	(void)state;
	one_char("\0", 1, 1, 0);
	one_char("\x7f", 1, 1, 0x7f);
	one_char("\xc2\x80", 2, 2, 0x80);
	one_char("\xdf\xbf", 2, 2, 0x7ff);
	one_char("\xe0\xa0\x80", 3, 3, 0x800);
	one_char("\xed\x9f\xbf", 3, 3, 0xd7ff);     /* below the surrogates */
	one_char("\xee\x80\x80", 3, 3, 0xe000);     /* above them */
	one_char("\xef\xbf\xbd", 3, 3, 0xfffd);
	one_char("\xef\xbf\xbf", 3, 3, 0xffff);
	one_char("\xf0\x90\x80\x80", 4, 4, 0x10000);
	one_char("\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff);
	one_char("\xc3\xa9", 2, 2, 0xe9);
	one_char("\xe2\x82\xac", 3, 3, 0x20ac);
	one_char("\xf0\x9f\x98\x80", 4, 4, 0x1f600);
}

/* Each refused at its first byte, whatever follows. */
static void test_refused(void **state)
{
	static const struct {
		const char *s;
		const char *why;
	} bad[] = {
		{ "\x80", "a lone continuation byte" },
		{ "\xbf", "a lone continuation byte" },
		{ "\xc0\xaf", "an overlong '/' in two bytes" },
		{ "\xc1\xbf", "an overlong U+007F" },
		{ "\xe0\x80\xaf", "an overlong '/' in three bytes" },
		{ "\xe0\x9f\xbf", "an overlong U+07FF" },
		{ "\xf0\x80\x80\xaf", "an overlong '/' in four bytes" },
		{ "\xf0\x8f\xbf\xbf", "an overlong U+FFFF" },
		{ "\xed\xa0\x80", "the first high surrogate U+D800" },
		{ "\xed\xbf\xbf", "the last low surrogate U+DFFF" },
		{ "\xed\xa0\xbd\xed\xb8\x80", "a CESU-8 pair" },
		{ "\xf4\x90\x80\x80", "U+110000" },
		{ "\xf5\x80\x80\x80", "a lead byte past Unicode" },
		{ "\xf8\x88\x80\x80\x80", "a five-byte form" },
		{ "\xfc\x84\x80\x80\x80\x80", "a six-byte form" },
		{ "\xfe", "0xFE" },
		{ "\xff", "0xFF" },
		{ "\xc3\x28", "a lead byte followed by ASCII" },
		{ "\xe2\x28\xa1", "a bad second byte of three" },
		{ "\xe2\x82\x28", "a bad third byte of three" },
		{ "\xf0\x9f\x98\x28", "a bad fourth byte of four" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i].s);
		char with_prefix[16] = "abcdefghij";

		if (aml_utf8_length(U(bad[i].s), n) != 0)
			fail_msg("accepted %s", bad[i].why);
		assert_int_equal(aml_utf8_invalid_at(U(bad[i].s), n), 0);
		/* past the ASCII fast path too */
		memcpy(with_prefix + 10, bad[i].s, n < 6 ? n : 6);
		assert_int_equal(aml_utf8_invalid_at(U(with_prefix),
						     10 + (n < 6 ? n : 6)), 10);
	}
}

/* A character cut by the end of the bytes is refused, and nothing past
 * [n] is read (the bytes after it would complete it). */
static void test_cut_short(void **state)
{
	(void)state;
	assert_int_equal(aml_utf8_length(U(""), 0), 0);
	assert_int_equal(aml_utf8_length(U("\xc3\xa9"), 1), 0);
	assert_int_equal(aml_utf8_length(U("\xe2\x82\xac"), 2), 0);
	assert_int_equal(aml_utf8_length(U("\xf0\x9f\x98\x80"), 3), 0);
	assert_int_equal(aml_utf8_invalid_at(U("ok\xe2\x82\xac"), 4), 2);
	assert_int_equal(aml_utf8_invalid_at(U("abcdefgh\xf0\x9f\x98\x80"), 11),
			 8);
	assert_int_equal(aml_utf8_invalid_at(U("x"), 0), 0);
}

static void test_invalid_at_finds_the_first(void **state)
{
	const char *s = "plain ascii, then caf\xc3\xa9 and \xe2\x82\xac, "
			"then \xff and \xc0\xaf";
	size_t n = strlen(s);

	(void)state;
	assert_int_equal(aml_utf8_invalid_at(U(s), n),
			 (size_t)(strchr(s, '\xff') - s));
	/* what lies past [n] is not looked at */
	assert_int_equal(aml_utf8_invalid_at(U(s), 38), 38);
	/* the euro sign cut by [n] */
	assert_int_equal(aml_utf8_invalid_at(U(s), 30), 28);
}

/* Every code point encodes to what the validator takes back, whole, and
 * the surrogates' encodings are refused. */
static void test_every_code_point_round_trips(void **state)
{
	char out[AML_UTF8_MAX_LEN];

	(void)state;
	for (unsigned cp = 0; cp <= AML_UTF8_MAX_CODE_POINT; cp++) {
		size_t len;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		len = aml_utf8_encode(cp, out);
		assert_int_equal(aml_utf8_length(U(out), len), len);
		assert_int_equal(aml_utf8_decode(U(out), len), cp);
	}
	for (unsigned cp = 0xd800; cp <= 0xdfff; cp++) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		assert_int_equal(aml_utf8_length(U(out), 3), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundaries_of_each_length),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_invalid_at_finds_the_first),
		cmocka_unit_test(test_every_code_point_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
