/*
 * Unit tests of plugin/errors.c: the one-line error list every check
 * reports into.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "errors.h"

static void test_empty_list(void **state)
{
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, "run.json");
	assert_false(aml_errors_any(&errs));
	assert_int_equal(errs.count, 0);
	aml_errors_free(&errs);
}

static void test_line_shapes(void **state)
{
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, "run.json");
	aml_errors_add(&errs, "node_count", "must be at least %d, got %d", 1, 0);
	aml_errors_add(&errs, NULL, "a run configuration must be an object");
	aml_errors_add(&errs, "", "empty where is left out");
	assert_true(aml_errors_any(&errs));
	assert_int_equal(errs.count, 3);
	assert_string_equal(errs.lines[0],
			    "run.json: node_count: must be at least 1, got 0");
	assert_string_equal(errs.lines[1],
			    "run.json: a run configuration must be an object");
	assert_string_equal(errs.lines[2], "run.json: empty where is left out");
	aml_errors_free(&errs);
}

static void test_no_file_name(void **state)
{
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, NULL);
	aml_errors_add(&errs, "line 3", "bad");
	aml_errors_add(&errs, NULL, "worse");
	assert_string_equal(errs.lines[0], "line 3: bad");
	assert_string_equal(errs.lines[1], "worse");
	aml_errors_free(&errs);
}

static void test_many_lines_grow(void **state)
{
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, "f");
	for (int i = 0; i < 1000; i++)
		aml_errors_add(&errs, "k", "error %d", i);
	assert_int_equal(errs.count, 1000);
	assert_string_equal(errs.lines[0], "f: k: error 0");
	assert_string_equal(errs.lines[999], "f: k: error 999");
	aml_errors_free(&errs);
	/* A freed list is empty and can be used again. */
	assert_int_equal(errs.count, 0);
	aml_errors_init(&errs, "g");
	aml_errors_add(&errs, NULL, "again");
	assert_string_equal(errs.lines[0], "g: again");
	aml_errors_free(&errs);
}

/* A percent sign in a value must reach the message as text, not as a
 * format directive: values come from users. */
static void test_values_are_not_formats(void **state)
{
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, "%s%n.json");
	aml_errors_add(&errs, "%d", "got \"%s\"", "%x%n");
	assert_string_equal(errs.lines[0], "%s%n.json: %d: got \"%x%n\"");
	aml_errors_free(&errs);
}

static void test_fail_fills_buffer_and_returns_minus_one(void **state)
{
	char buf[12];

	(void)state;
	assert_int_equal(aml_fail(buf, sizeof(buf), "%s: %d", "x", 42), -1);
	assert_string_equal(buf, "x: 42");
	/* truncated, still terminated */
	assert_int_equal(aml_fail(buf, sizeof(buf), "%s", "0123456789abcdef"), -1);
	assert_string_equal(buf, "0123456789a");
	/* no buffer: only the verdict */
	assert_int_equal(aml_fail(NULL, 0, "ignored %d", 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_list),
		cmocka_unit_test(test_line_shapes),
		cmocka_unit_test(test_no_file_name),
		cmocka_unit_test(test_many_lines_grow),
		cmocka_unit_test(test_values_are_not_formats),
		cmocka_unit_test(test_fail_fills_buffer_and_returns_minus_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
