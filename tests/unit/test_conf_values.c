/*
 * test_conf_values.c: plugin/conf_values.c, the values of aml.conf's keys
 * read strictly (test_site.c has them in their place, with the messages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_values.h"

/* ---------------------------------------------------------------------- */
/* Numbers, booleans, sizes                                               */

static void test_digits(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(aml_conf_digits("0", 1, &v), 0);
	assert_true(v == 0);
	assert_int_equal(aml_conf_digits("0042", 4, &v), 0);
	assert_true(v == 42);
	/* Only the [n] bytes count. */
	assert_int_equal(aml_conf_digits("12x", 2, &v), 0);
	assert_true(v == 12);
	assert_int_equal(aml_conf_digits("18446744073709551615", 20, &v), 0);
	assert_true(v == UINT64_MAX);
	v = 7;
	assert_int_equal(aml_conf_digits("18446744073709551616", 20, &v), -2);
	assert_int_equal(aml_conf_digits("99999999999999999999999", 23, &v),
			 -2);
	assert_int_equal(aml_conf_digits("", 0, &v), -1);
	assert_int_equal(aml_conf_digits("+5", 2, &v), -1);
	assert_int_equal(aml_conf_digits(" 5", 2, &v), -1);
	assert_int_equal(aml_conf_digits("5a", 2, &v), -1);
	assert_int_equal(aml_conf_digits("-1", 2, &v), -1);
	/* Untouched on failure. */
	assert_true(v == 7);
}

static void test_unlimited(void **state)
{
	(void)state;
	assert_true(aml_conf_is_unlimited("UNLIMITED"));
	assert_true(aml_conf_is_unlimited("unlimited"));
	assert_true(aml_conf_is_unlimited("Infinite"));
	assert_false(aml_conf_is_unlimited("UNLIMITED "));
	assert_false(aml_conf_is_unlimited("unlimit"));
	assert_false(aml_conf_is_unlimited(""));
}

static void test_bool(void **state)
{
	static const char *const yes[] = { "yes", "YES", "true", "True", "1",
					   "on", "ON" };
	static const char *const no[] = { "no", "No", "false", "FALSE", "0",
					  "off", "Off" };
	static const char *const bad[] = { "", "y", "n", "2", "yes ", " no",
					   "enabled", "01" };
	int v;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		v = 0;
		assert_int_equal(aml_conf_bool(yes[i], &v), 0);
		assert_int_equal(v, 1);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
		v = 1;
		assert_int_equal(aml_conf_bool(no[i], &v), 0);
		assert_int_equal(v, 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 5;
		assert_int_equal(aml_conf_bool(bad[i], &v), -1);
		assert_int_equal(v, 5);
	}
}

static void test_size(void **state)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t bytes;
	} cases[] = {
		{ "0", 0, 0 },
		{ "300", 0, 300 },
		{ "1k", 0, 1024 },
		{ "1K", 0, 1024 },
		{ "300M", 0, (uint64_t)300 << 20 },
		{ "2g", 0, (uint64_t)2 << 30 },
		{ "16T", 0, (uint64_t)16 << 40 },
		{ "16777215T", 0, (uint64_t)16777215 << 40 },
		{ "18446744073709551614", 0, UINT64_MAX - 1 },
		/* UINT64_MAX is "unlimited", never a size read. */
		{ "18446744073709551615", -2, 0 },
		{ "16777216T", -2, 0 },
		{ "99999999999999999999", -2, 0 },
		{ "", -1, 0 },
		{ "K", -1, 0 },
		{ "1KB", -1, 0 },
		{ "1P", -1, 0 },
		{ "1.5G", -1, 0 },
		{ " 1G", -1, 0 },
		{ "-1", -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		uint64_t v = 99;
		int rc = aml_conf_size(cases[i].text, &v);

		if (rc != cases[i].rc) {
			print_error("\"%s\": %d, expected %d\n", cases[i].text,
				    rc, cases[i].rc);
			fail();
		}
		assert_true(v == (rc == 0 ? cases[i].bytes : 99));
	}
}

/* ---------------------------------------------------------------------- */
/* Words, names, GRES, URIs, lists                                        */

static void test_words_and_names(void **state)
{
	(void)state;
	assert_true(aml_conf_is_word("gpu"));
	assert_true(aml_conf_is_word("a100&(nvlink|ib)"));
	assert_true(aml_conf_is_word(""));
	assert_false(aml_conf_is_word("two words"));
	assert_false(aml_conf_is_word("tab\there"));
	assert_false(aml_conf_is_word("del\x7f"));
	assert_false(aml_conf_is_word("caf\xc3\xa9"));

	assert_true(aml_conf_is_name("gpu-cluster"));
	assert_true(aml_conf_is_name("cpu_2.large"));
	assert_false(aml_conf_is_name(""));
	assert_false(aml_conf_is_name("gpu/cluster"));
	assert_false(aml_conf_is_name("gpu cluster"));
	assert_false(aml_conf_is_name("gpu:4"));
}

static void test_gres(void **state)
{
	static const char *const good[] = {
		"gpu", "gpu:4", "gpu:a100", "gpu:a100:8", "gpu:4,nic:1",
		"mps:100,gpu:tesla:2", "gpu:4294967294",
	};
	static const char *const bad[] = {
		"", "4", "gpu:", ":4", "gpu::4", "gpu:a100:8:1", "gpu:0",
		"gpu:a100:0", "gpu:4294967295", "gpu,", ",gpu", "gpu,,nic",
		"-gpu", "gpu:_a", "gpu :4", "gpu:a/b", "gpu:a100:x",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		if (!aml_conf_is_gres(good[i])) {
			print_error("refused: \"%s\"\n", good[i]);
			fail();
		}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (aml_conf_is_gres(bad[i])) {
			print_error("accepted: \"%s\"\n", bad[i]);
			fail();
		}
}

static void test_gres_gpus(void **state)
{
	(void)state;
	assert_int_equal(aml_conf_gres_gpus(NULL), 0);
	assert_int_equal(aml_conf_gres_gpus("nic:2"), 0);
	assert_int_equal(aml_conf_gres_gpus("gpu"), 1);
	assert_int_equal(aml_conf_gres_gpus("gpu:4"), 4);
	assert_int_equal(aml_conf_gres_gpus("gpu:a100"), 1);
	assert_int_equal(aml_conf_gres_gpus("gpu:a100:8"), 8);
	assert_int_equal(aml_conf_gres_gpus("mps:100,gpu:tesla:2,gpu:1"), 3);
	assert_int_equal(aml_conf_gres_gpus("gpus:4"), 0);
}

static void test_uri(void **state)
{
	(void)state;
	assert_true(aml_conf_is_uri("https://mlflow.example/api"));
	assert_true(aml_conf_is_uri("http://127.0.0.1:5000"));
	assert_true(aml_conf_is_uri("git+ssh://host"));
	assert_false(aml_conf_is_uri("https://"));
	assert_false(aml_conf_is_uri("https:/host"));
	assert_false(aml_conf_is_uri("://host"));
	assert_false(aml_conf_is_uri("1http://host"));
	assert_false(aml_conf_is_uri("https://a b"));
	assert_false(aml_conf_is_uri("/var/lib/aml"));
}

static void test_list(void **state)
{
	static const char *const bad[] = {
		"", ",", "a,", ",a", "a,,b", "a, b", "a b", "a\tb", "\x7f",
	};
	char **items = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(aml_conf_list("alice", &items, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(items[0], "alice");
	aml_conf_list_free(items, n);
	assert_int_equal(aml_conf_list("alice,bob,c.d", &items, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(items[0], "alice");
	assert_string_equal(items[1], "bob");
	assert_string_equal(items[2], "c.d");
	aml_conf_list_free(items, n);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		items = NULL;
		n = 0;
		if (aml_conf_list(bad[i], &items, &n) != -1) {
			print_error("accepted: \"%s\"\n", bad[i]);
			fail();
		}
		assert_null(items);
		assert_int_equal(n, 0);
	}
	aml_conf_list_free(NULL, 0);
}

/* ---------------------------------------------------------------------- */
/* Slurm time                                                             */

static uint64_t slurm_time(const char *text)
{
	uint64_t seconds = 12345;

	if (aml_parse_slurm_time(text, &seconds) != 0) {
		print_error("refused: \"%s\"\n", text);
		fail();
	}
	return seconds;
}

static void test_slurm_time_forms(void **state)
{
	(void)state;
	/* MIN */
	assert_true(slurm_time("0") == 0);
	assert_true(slurm_time("5") == 300);
	assert_true(slurm_time("90") == 5400);
	assert_true(slurm_time("007") == 420);
	/* MIN:SEC, the leading field unbounded */
	assert_true(slurm_time("5:30") == 330);
	assert_true(slurm_time("0:59") == 59);
	assert_true(slurm_time("120:00") == 7200);
	/* H:M:S */
	assert_true(slurm_time("1:02:03") == 3723);
	assert_true(slurm_time("00:00:59") == 59);
	assert_true(slurm_time("48:00:00") == 172800);
	/* D-H, D-H:M, D-H:M:S */
	assert_true(slurm_time("1-0") == 86400);
	assert_true(slurm_time("2-12") == 2 * 86400 + 12 * 3600);
	assert_true(slurm_time("1-2:30") == 86400 + 7200 + 1800);
	assert_true(slurm_time("1-2:3:4") == 86400 + 7200 + 180 + 4);
	assert_true(slurm_time("0-23:59:59") == 86399);
	assert_true(slurm_time("365-00:00:00") == 365ull * 86400);
}

static void test_slurm_time_unlimited(void **state)
{
	(void)state;
	assert_true(slurm_time("UNLIMITED") == AML_CONF_UNLIMITED64);
	assert_true(slurm_time("unlimited") == AML_CONF_UNLIMITED64);
	assert_true(slurm_time("INFINITE") == AML_CONF_UNLIMITED64);
	assert_true(slurm_time("Infinite") == AML_CONF_UNLIMITED64);
}

static void test_slurm_time_bad_forms(void **state)
{
	static const char *const bad[] = {
		"", "1-", "-5", "-1", "1:", ":5", "::", "1::2", "1:2:3:4",
		"1-2-3", "1-2:3:4:5", "-", "1--2", " 5", "5 ", "+5", "5m",
		"1.5", "abc", "1h", "unlimitedx", "UNLIMITED ", "1-:30",
		"1-2:", "0x10",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		uint64_t seconds = 777;

		if (aml_parse_slurm_time(bad[i], &seconds) != -1) {
			print_error("accepted: \"%s\"\n", bad[i]);
			fail();
		}
		/* Untouched on failure. */
		assert_true(seconds == 777);
	}
	assert_int_equal(aml_parse_slurm_time(NULL, &(uint64_t){ 0 }), -1);
}

static void test_slurm_time_field_ranges(void **state)
{
	static const char *const bad[] = {
		"0:60", "1:60:00", "1:00:60", "1-24", "1-1:60", "1-1:1:60",
		"0-99:00:00", "1:99",
	};
	uint64_t seconds;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (aml_parse_slurm_time(bad[i], &seconds) != -1) {
			print_error("accepted: \"%s\"\n", bad[i]);
			fail();
		}
	}
	/* Only the leading field may exceed its usual range. */
	assert_true(slurm_time("99:59") == 99 * 60 + 59);
	assert_true(slurm_time("99:59:59") == 99 * 3600 + 59 * 60 + 59);
	assert_true(slurm_time("999-23:59:59") == 999ull * 86400 + 86399);
}

static void test_slurm_time_overflow(void **state)
{
	uint64_t seconds;

	(void)state;
	/* 213503982334601 days is the most that fits in 64 bits. */
	assert_true(slurm_time("213503982334601-0") ==
		    213503982334601ull * 86400);
	assert_true(slurm_time("213503982334601-7:0:14") ==
		    UINT64_MAX - 1);
	/* UINT64_MAX itself means unlimited: never a parsed time. */
	assert_int_equal(aml_parse_slurm_time("213503982334601-7:0:15",
					      &seconds), -1);
	assert_int_equal(aml_parse_slurm_time("213503982334602-0", &seconds),
			 -1);
	assert_int_equal(aml_parse_slurm_time("307445734561825861", &seconds),
			 -1);
	assert_int_equal(aml_parse_slurm_time("18446744073709551616",
					      &seconds), -1);
	assert_int_equal(aml_parse_slurm_time("5124095576030432:00:00",
					      &seconds), -1);
}

static void test_format_slurm_time(void **state)
{
	char buf[64];

	(void)state;
	aml_format_slurm_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "00:00:00");
	aml_format_slurm_time(59, buf, sizeof(buf));
	assert_string_equal(buf, "00:00:59");
	aml_format_slurm_time(5400, buf, sizeof(buf));
	assert_string_equal(buf, "01:30:00");
	aml_format_slurm_time(86399, buf, sizeof(buf));
	assert_string_equal(buf, "23:59:59");
	aml_format_slurm_time(86400, buf, sizeof(buf));
	assert_string_equal(buf, "1-00:00:00");
	aml_format_slurm_time(2 * 86400 + 3723, buf, sizeof(buf));
	assert_string_equal(buf, "2-01:02:03");
	aml_format_slurm_time(AML_CONF_UNLIMITED64, buf, sizeof(buf));
	assert_string_equal(buf, "UNLIMITED");
	aml_format_slurm_time(UINT64_MAX - 1, buf, sizeof(buf));
	assert_string_equal(buf, "213503982334601-07:00:14");
	/* Cut to the buffer, always terminated. */
	aml_format_slurm_time(86400, buf, 4);
	assert_string_equal(buf, "1-0");
	buf[0] = 'x';
	aml_format_slurm_time(86400, buf, 0);
	assert_int_equal(buf[0], 'x');
	aml_format_slurm_time(86400, NULL, 10);
}

static void test_format_then_parse_round_trips(void **state)
{
	static const uint64_t values[] = {
		0, 1, 59, 60, 61, 3599, 3600, 86399, 86400, 86401, 90061,
		30 * 86400, 365ull * 86400 + 1, UINT64_MAX - 1,
		AML_CONF_UNLIMITED64,
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
		aml_format_slurm_time(values[i], buf, sizeof(buf));
		assert_true(slurm_time(buf) == values[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digits),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_words_and_names),
		cmocka_unit_test(test_gres),
		cmocka_unit_test(test_gres_gpus),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_slurm_time_forms),
		cmocka_unit_test(test_slurm_time_unlimited),
		cmocka_unit_test(test_slurm_time_bad_forms),
		cmocka_unit_test(test_slurm_time_field_ranges),
		cmocka_unit_test(test_slurm_time_overflow),
		cmocka_unit_test(test_format_slurm_time),
		cmocka_unit_test(test_format_then_parse_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
