/*
 * test_runid.c: run ids (plugin/runid.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runid.h"

#define NOW ((time_t)1700000000)

/* [id] matches the extended regular expression [pattern] in full. */
static int matches(const char *id, const char *pattern)
{
	regex_t re;
	int ok;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&re, id, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* A generated id for [experiment] at NOW, checked for the general form. */
static void generate(const char *experiment, char id[AML_RUNID_MAX])
{
	assert_int_equal(aml_runid_generate(experiment, NOW, id,
					    AML_RUNID_MAX), 0);
	assert_true(aml_runid_is_valid(id));
	assert_true(matches(id, "_1700000000_[0-9a-f]{8}$"));
}

static void test_valid_ids(void **state)
{
	char longest[AML_RUNID_MAX];

	(void)state;
	assert_true(aml_runid_is_valid("a"));
	assert_true(aml_runid_is_valid("7"));
	assert_true(aml_runid_is_valid("hello_1700000000_0a1b2c3d"));
	assert_true(aml_runid_is_valid("My-Run_2"));
	assert_true(aml_runid_is_valid("a-"));
	memset(longest, 'x', AML_RUNID_MAX - 1);
	longest[AML_RUNID_MAX - 1] = '\0';
	assert_true(aml_runid_is_valid(longest));
}

static void test_invalid_ids(void **state)
{
	static const char *const bad[] = {
		"", "_a", "-a", "a b", "a/b", "../a", "a.b", "a;b", "a\nb",
		"caf\xc3\xa9", "a'b", "a$b",
	};
	char too_long[AML_RUNID_MAX + 1];

	(void)state;
	assert_false(aml_runid_is_valid(NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (aml_runid_is_valid(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
	}
	memset(too_long, 'x', AML_RUNID_MAX);
	too_long[AML_RUNID_MAX] = '\0';
	assert_false(aml_runid_is_valid(too_long));
}

static void test_generated_format(void **state)
{
	char id[AML_RUNID_MAX];

	(void)state;
	generate("hello", id);
	assert_true(matches(id, "^hello_1700000000_[0-9a-f]{8}$"));
	assert_int_equal(strlen(id), strlen("hello") + 20);
}

static void test_seconds_have_ten_digits(void **state)
{
	char id[AML_RUNID_MAX];

	(void)state;
	assert_int_equal(aml_runid_generate("exp", 5, id, sizeof(id)), 0);
	assert_true(matches(id, "^exp_0000000005_[0-9a-f]{8}$"));
	assert_int_equal(aml_runid_generate("exp", 0, id, sizeof(id)), 0);
	assert_true(matches(id, "^exp_0000000000_[0-9a-f]{8}$"));
}

static void test_negative_time_refused(void **state)
{
	char id[AML_RUNID_MAX] = "x";

	(void)state;
	errno = 0;
	assert_int_equal(aml_runid_generate("exp", -1, id, sizeof(id)), -1);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(id, "");
}

static void test_odd_experiment_names_sanitised(void **state)
{
	static const struct {
		const char *experiment;
		const char *prefix;
	} cases[] = {
		{ "my exp/v1.2", "my_exp_v1_2_" },
		{ "a-b_c", "a-b_c_" },
		{ "caf\xc3\xa9", "caf__" },                /* one '_' per character */
		{ "\xe6\x97\xa5\xe6\x9c\xac x", "x_" },    /* leading odd dropped */
		{ ".hidden", "hidden_" },
		{ "-dash", "dash_" },
		{ "__init__", "init___" },
		{ "a\nb", "a_b_" },
		{ "___", "Default_" },
		{ "", "Default_" },
		{ "\xe6\x97\xa5", "Default_" },
	};
	char id[AML_RUNID_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		generate(cases[i].experiment, id);
		if (strncmp(id, cases[i].prefix, strlen(cases[i].prefix)) != 0 ||
		    strlen(id) != strlen(cases[i].prefix) + 19)
			fail_msg("case %zu: got \"%s\", expected \"%s...\"", i,
				 id, cases[i].prefix);
	}
	generate(NULL, id);
	assert_true(matches(id, "^Default_1700000000_[0-9a-f]{8}$"));
}

static void test_long_experiment_cut(void **state)
{
	char experiment[400];
	char id[AML_RUNID_MAX];

	(void)state;
	memset(experiment, 'e', sizeof(experiment) - 1);
	experiment[sizeof(experiment) - 1] = '\0';
	generate(experiment, id);
	assert_int_equal(strlen(id), AML_RUNID_MAX - 1);
	assert_int_equal(strspn(id, "e"), AML_RUNID_MAX - 1 - 20);
}

static void test_buffer_too_small(void **state)
{
	/* "hello" + "_1700000000_" + 8 hex = 25 characters and the NUL. */
	char id[64];

	(void)state;
	memset(id, 'z', sizeof(id));
	errno = 0;
	assert_int_equal(aml_runid_generate("hello", NOW, id, 25), -1);
	assert_int_equal(errno, ERANGE);
	assert_string_equal(id, "");
	assert_int_equal(aml_runid_generate("hello", NOW, id, 0), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(aml_runid_generate("hello", NOW, id, 26), 0);
	assert_int_equal(strlen(id), 25);
	/* Nothing written past the buffer it was given. */
	assert_int_equal(id[26], 'z');
}

static int compare(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_ids_unique(void **state)
{
	enum { N = 1000, LEN = 32 };
	char (*ids)[LEN] = calloc(N, LEN);
	size_t duplicates = 0;

	(void)state;
	assert_non_null(ids);
	/* Same experiment, same second: only the random part differs. */
	for (size_t i = 0; i < N; i++)
		assert_int_equal(aml_runid_generate("exp", NOW, ids[i], LEN), 0);
	qsort(ids, N, LEN, compare);
	for (size_t i = 1; i < N; i++)
		duplicates += strcmp(ids[i - 1], ids[i]) == 0;
	/*
	 * 1000 draws of 32 bits collide with probability ~1.2e-4 (birthday
	 * bound), so one duplicate is chance, not a bug; two happen about
	 * once in 10^8 runs.  A broken source of randomness gives hundreds.
	 */
	assert_true(duplicates <= 1);
	free(ids);
}

/* What the controller lets through as AML_MLFLOW_RUN_ID. */
static void test_tracking_id_form(void **state)
{
	(void)state;
	assert_true(aml_runid_is_tracking_id("9c6b0e2d4f1a48b7a3c5d6e7f8091a2b"));
	assert_true(aml_runid_is_tracking_id("9C6B0E2D4F1A48B7A3C5D6E7F8091A2B"));
	assert_true(aml_runid_is_tracking_id("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
	assert_false(aml_runid_is_tracking_id(NULL));
	assert_false(aml_runid_is_tracking_id(""));
	assert_false(aml_runid_is_tracking_id("9c6b0e2d4f1a48b7a3c5d6e7f8091a2"));
	assert_false(aml_runid_is_tracking_id("9c6b0e2d4f1a48b7a3c5d6e7f8091a2bc"));
	assert_false(aml_runid_is_tracking_id("9c6b0e2d4f1a48b7a3c5d6e7f8091a2g"));
	assert_false(aml_runid_is_tracking_id("9c6b0e2d4f1a48b7 3c5d6e7f8091a2b"));
	assert_false(aml_runid_is_tracking_id("3fa85f64-5717-4562-b3fc2c963f66afa6-"));
	assert_false(aml_runid_is_tracking_id("3fa85f6445717-4562-b3fc-2c963f66afa6"));
	assert_false(aml_runid_is_tracking_id("hello_1764000000_0a1b2c3d"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_ids),
		cmocka_unit_test(test_invalid_ids),
		cmocka_unit_test(test_generated_format),
		cmocka_unit_test(test_seconds_have_ten_digits),
		cmocka_unit_test(test_negative_time_refused),
		cmocka_unit_test(test_odd_experiment_names_sanitised),
		cmocka_unit_test(test_long_experiment_cut),
		cmocka_unit_test(test_buffer_too_small),
		cmocka_unit_test(test_ids_unique),
		cmocka_unit_test(test_tracking_id_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
