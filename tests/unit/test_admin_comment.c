/*
 * test_admin_comment.c: the run's words in its job's admin comment
 * (plugin/admin_comment.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_comment.h"
#include "runid.h"

#define RUN_ID "hello_1700000000_0a1b2c3d"
#define ADMIN "aml run_id=" RUN_ID " experiment=hello target=cpu nodes=2 " \
	"tasks=4 tpn=2"

static void test_admin_comment_names_target(void **state)
{
	struct aml_plan plan = { 0 };
	char *text;

	plan.comment = "aml run_id=" RUN_ID " experiment=hello";
	plan.target = "cpu";
	plan.min_nodes = 2;
	plan.num_tasks = 4;
	plan.ntasks_per_node = 2;
	text = aml_admin_comment_make(&plan);
	assert_string_equal(text, ADMIN);
	free(text);
	(void)state;
}

/* The run id comes back out of the admin comment, and only ours. */
static void test_admin_run_id(void **state)
{
	char id[AML_RUNID_MAX];

	(void)state;
	assert_int_equal(aml_admin_comment_run_id(ADMIN, id, sizeof(id)), 0);
	assert_string_equal(id, RUN_ID);
	assert_int_equal(aml_admin_comment_run_id(NULL, id, sizeof(id)), -1);
	assert_int_equal(aml_admin_comment_run_id("note run_id=" RUN_ID, id,
						 sizeof(id)), -1);
	assert_int_equal(aml_admin_comment_run_id("aml run_id=../x", id,
						 sizeof(id)), -1);
	assert_int_equal(aml_admin_comment_run_id("aml run_id=", id,
						 sizeof(id)), -1);
	assert_int_equal(aml_admin_comment_run_id(ADMIN, id, 8), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admin_comment_names_target),
		cmocka_unit_test(test_admin_run_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
