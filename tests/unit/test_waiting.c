/*
 * test_waiting.c: a run whose own end waits in a node's spool
 * (plugin/waiting.c): the launcher's mark in the job's comment, the
 * reason the run gives meanwhile, and which end Slurm's record still
 * decides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "waiting.h"

static void expect_mark(const char *comment, const char *node,
			const char *want)
{
	char *got = aml_waiting_mark_comment(comment, node);

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_mark_comment(void **state)
{
	(void)state;
	expect_mark("aml run_id=r_1_00000000 experiment=e", "n1",
		    "aml run_id=r_1_00000000 experiment=e spooled_on=n1");
	/* Another node joins the word; one already named does not. */
	expect_mark("aml run_id=r experiment=e spooled_on=n1", "n2",
		    "aml run_id=r experiment=e spooled_on=n1,n2");
	expect_mark("aml run_id=r spooled_on=n1,n2 experiment=e", "n2",
		    "aml run_id=r spooled_on=n1,n2 experiment=e");
	expect_mark("aml run_id=r spooled_on=n1,n2 experiment=e", "n3",
		    "aml run_id=r spooled_on=n1,n2,n3 experiment=e");
	/* "n1" is not "n10". */
	expect_mark("spooled_on=n10", "n1", "spooled_on=n10,n1");
	expect_mark("spooled_on=", "n1", "spooled_on=n1");
	/* Only a whole word is the mark. */
	expect_mark("xspooled_on=n9", "n1", "xspooled_on=n9 spooled_on=n1");
	/* No comment at all (a user cleared it). */
	expect_mark(NULL, "n1", "spooled_on=n1");
	expect_mark("", "n1", "spooled_on=n1");
	/* Nothing a node name cannot hold. */
	expect_mark("c", "", NULL);
	expect_mark("c", NULL, NULL);
	expect_mark("c", "n1 x=y", NULL);
	expect_mark("c", "n1,n2", NULL);
	expect_mark("c", "a=b", NULL);
}

static void test_nodes_and_added(void **state)
{
	char buf[64];

	(void)state;
	aml_waiting_nodes("aml run_id=r spooled_on=n1,n2 experiment=e", buf,
			  sizeof(buf));
	assert_string_equal(buf, "n1,n2");
	aml_waiting_nodes("aml run_id=r", buf, sizeof(buf));
	assert_string_equal(buf, "");
	aml_waiting_nodes(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	aml_waiting_nodes("spooled_on=n1,n2", buf, 4);
	assert_string_equal(buf, "n1,");
	/* A node the step added, other than the batch node's own. */
	assert_true(aml_waiting_added("", "n2", "n1"));
	assert_true(aml_waiting_added("n1", "n1,n3", "n1"));
	assert_true(aml_waiting_added("n2", "n2,n3", NULL));
	assert_false(aml_waiting_added("n2", "n2", "n1"));
	assert_false(aml_waiting_added("", "n1", "n1"));
	assert_false(aml_waiting_added("n2", "", NULL));
	assert_false(aml_waiting_added(NULL, NULL, NULL));
	/* "n1" is not "n10". */
	assert_true(aml_waiting_added("n10", "n10,n1", "n9"));
}

static void test_reason(void **state)
{
	char buf[256];

	(void)state;
	aml_waiting_reason("n1", 0, buf, sizeof(buf));
	assert_string_equal(buf, "outputs and events of node n1 are waiting "
			    "in its spool (run history unavailable there)");
	aml_waiting_reason("n1,n2", 0, buf, sizeof(buf));
	assert_string_equal(buf, "outputs and events of nodes n1,n2 are "
			    "waiting in their spools (run history unavailable "
			    "there)");
	{
		time_t now = time(NULL);
		struct tm t;
		char want[300], hm[16];

		localtime_r(&now, &t);
		strftime(hm, sizeof(hm), "%H:%M", &t);
		aml_waiting_reason("n1", (int64_t)now * 1000, buf, sizeof(buf));
		snprintf(want, sizeof(want), "outputs and events of node n1 "
			 "are waiting in its spool since %s (run history "
			 "unavailable there)", hm);
		/* A minute may turn between the two clocks: say which. */
		if (strcmp(buf, want))
			print_message("# got: %s\n", buf);
		assert_non_null(strstr(buf, "waiting in its spool since "));
		aml_waiting_reason("n1", 86400000, buf, sizeof(buf));
		assert_non_null(strstr(buf, " since 1970-01-0"));
	}
	aml_waiting_reason("", 0, buf, 20);
	assert_int_equal(strlen(buf), 19);
}

static void test_judge(void **state)
{
	(void)state;
	/* No mark, not Finalizing: Slurm's end, as ever. */
	assert_int_equal(aml_waiting_judge(AML_STATUS_RUNNING, "COMPLETED", 0,
					   ""),
			 AML_END_FROM_SLURM);
	assert_int_equal(aml_waiting_judge(AML_STATUS_QUEUED, "FAILED", 0,
					   NULL),
			 AML_END_FROM_SLURM);
	/* The mark on a job that ended on its own. */
	assert_int_equal(aml_waiting_judge(AML_STATUS_RUNNING, "COMPLETED", 0,
					   "n1"),
			 AML_END_MARK_WAITING);
	assert_int_equal(aml_waiting_judge(AML_STATUS_RUNNING, "completed", 0,
					   "n1"),
			 AML_END_MARK_WAITING);
	assert_int_equal(aml_waiting_judge(AML_STATUS_NOT_RESPONDING, "FAILED",
					   0, "n1"),
			 AML_END_MARK_WAITING);
	/* Too early for Finalizing: waits as it is. */
	assert_int_equal(aml_waiting_judge(AML_STATUS_PREPARING, "COMPLETED",
					   0, "n1"),
			 AML_END_WAIT);
	/* Finalizing and ended on its own: the launcher's end is coming,
	 * mark or not. */
	assert_int_equal(aml_waiting_judge(AML_STATUS_FINALIZING, "COMPLETED",
					   0, ""),
			 AML_END_WAIT);
	assert_int_equal(aml_waiting_judge(AML_STATUS_FINALIZING, "FAILED", 0,
					   "n1"),
			 AML_END_WAIT);
	/* Slurm ended it: its end, whatever the mark. */
	assert_int_equal(aml_waiting_judge(AML_STATUS_FINALIZING, "FAILED", 9,
					   "n1"),
			 AML_END_FROM_SLURM);
	assert_int_equal(aml_waiting_judge(AML_STATUS_FINALIZING, "CANCELLED",
					   0, "n1"),
			 AML_END_FROM_SLURM);
	assert_int_equal(aml_waiting_judge(AML_STATUS_RUNNING, "TIMEOUT", 0,
					   "n1"),
			 AML_END_FROM_SLURM);
	assert_int_equal(aml_waiting_judge(AML_STATUS_RUNNING, "NODE_FAIL", 0,
					   "n1"),
			 AML_END_FROM_SLURM);
	assert_int_equal(aml_waiting_judge(AML_STATUS_RUNNING,
					   "OUT_OF_MEMORY", 0, "n1"),
			 AML_END_FROM_SLURM);
	assert_int_equal(aml_waiting_judge(AML_STATUS_RUNNING, NULL, 0, "n1"),
			 AML_END_FROM_SLURM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mark_comment),
		cmocka_unit_test(test_nodes_and_added),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_judge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
