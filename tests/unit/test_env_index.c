/*
 * test_env_index.c: variables found by name (plugin/env_index.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_index.h"

static void test_env_index_finds_by_name(void **state)
{
	char *items[] = { "ZED=1", "A=2", "AB=3", "A_B=4", "EMPTY=", NULL };
	struct aml_strlist vars = { items, 5 };
	struct aml_env_index ix;

	(void)state;
	assert_int_equal(aml_env_index_init(&ix, &vars), 0);
	assert_int_equal(aml_env_index_find(&ix, "A=old"), 1);
	assert_int_equal(aml_env_index_find(&ix, "AB=x=y"), 2);
	assert_int_equal(aml_env_index_find(&ix, "A_B="), 3);
	assert_int_equal(aml_env_index_find(&ix, "ZED=9"), 0);
	assert_int_equal(aml_env_index_find(&ix, "EMPTY=x"), 4);
	/* An entry without '=' is all name. */
	assert_int_equal(aml_env_index_find(&ix, "ZED"), 0);
	/* Prefixes and extensions of a name are other names. */
	assert_int_equal(aml_env_index_find(&ix, "Z=1"), -1);
	assert_int_equal(aml_env_index_find(&ix, "ZEDS=1"), -1);
	assert_int_equal(aml_env_index_find(&ix, "=1"), -1);
	assert_int_equal(aml_env_index_find(&ix, ""), -1);
	aml_env_index_free(&ix);
	aml_env_index_free(&ix);
}

static void test_env_index_empty(void **state)
{
	struct aml_strlist vars = { NULL, 0 };
	struct aml_env_index ix;

	(void)state;
	assert_int_equal(aml_env_index_init(&ix, &vars), 0);
	assert_int_equal(aml_env_index_find(&ix, "A=1"), -1);
	aml_env_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_index_finds_by_name),
		cmocka_unit_test(test_env_index_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
