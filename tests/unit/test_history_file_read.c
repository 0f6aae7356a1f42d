/*
 * test_history_file_read.c: plugin/history_file_read.c's pure rules:
 * which paths name something inside a run, and which runs a listing's
 * filter keeps.  Reading real runs is test_history's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "history_file_internal.h"

static void test_artifact_path_ok(void **state)
{
	(void)state;
	assert_true(hf_artifact_path_ok("outputs"));
	assert_true(hf_artifact_path_ok("outputs/model.pt"));
	assert_true(hf_artifact_path_ok("logs/a/b.txt"));
	assert_true(hf_artifact_path_ok("user_logs/std_log.txt"));
	assert_true(hf_artifact_path_ok("outputs/..x"));
	/* A trailing slash still names the folder. */
	assert_true(hf_artifact_path_ok("outputs/"));
	/* Only below the artifact folders, and never out of them. */
	assert_false(hf_artifact_path_ok("events.jsonl"));
	assert_false(hf_artifact_path_ok("outputsx/a"));
	assert_false(hf_artifact_path_ok("/outputs/a"));
	assert_false(hf_artifact_path_ok("outputs/../events.jsonl"));
	assert_false(hf_artifact_path_ok("outputs/./a"));
	assert_false(hf_artifact_path_ok("outputs//a"));
	assert_false(hf_artifact_path_ok(""));
}

static void test_filter_matches(void **state)
{
	struct aml_run_info info;
	struct aml_run_filter f;
	char alice[] = "alice";

	(void)state;
	memset(&info, 0, sizeof(info));
	info.owner = alice;
	info.state.has_events = 1;
	info.state.status = AML_STATUS_RUNNING;
	info.state.created_ms = 1000;
	assert_true(hf_filter_matches(NULL, &info));

	memset(&f, 0, sizeof(f));
	assert_true(hf_filter_matches(&f, &info));
	f.has_status = 1;
	f.status = AML_STATUS_RUNNING;
	assert_true(hf_filter_matches(&f, &info));
	f.status = AML_STATUS_COMPLETED;
	assert_false(hf_filter_matches(&f, &info));
	/* A run with no events has no status to match. */
	f.status = AML_STATUS_RUNNING;
	info.state.has_events = 0;
	assert_false(hf_filter_matches(&f, &info));
	info.state.has_events = 1;

	f.user = "alice";
	assert_true(hf_filter_matches(&f, &info));
	f.user = "bob";
	assert_false(hf_filter_matches(&f, &info));
	f.user = NULL;

	f.since_ms = 1000;
	assert_true(hf_filter_matches(&f, &info));
	f.since_ms = 1001;
	assert_false(hf_filter_matches(&f, &info));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_artifact_path_ok),
		cmocka_unit_test(test_filter_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
