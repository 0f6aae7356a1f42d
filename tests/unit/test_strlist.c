/*
 * test_strlist.c: the list of strings (plugin/strlist.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "strlist.h"

/* Items are copies, kept in order; freeing leaves a list to reuse. */
static void test_strlist_push_free(void **state)
{
	struct aml_strlist l = { 0 };
	char word[] = "one";

	(void)state;
	assert_int_equal(aml_strlist_push(&l, word), 0);
	assert_int_equal(aml_strlist_push(&l, ""), 0);
	assert_int_equal(aml_strlist_push(&l, "three"), 0);
	word[0] = 'X';
	assert_int_equal(l.count, 3);
	assert_string_equal(l.items[0], "one");
	assert_string_equal(l.items[1], "");
	assert_string_equal(l.items[2], "three");
	/* An argv as it stands. */
	assert_null(l.items[3]);
	aml_strlist_free(&l);
	assert_null(l.items);
	assert_int_equal(l.count, 0);
	aml_strlist_free(&l);
	assert_int_equal(aml_strlist_push(&l, "again"), 0);
	assert_int_equal(l.count, 1);
	aml_strlist_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strlist_push_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
