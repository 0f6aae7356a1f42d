/*
 * test_node_rundir_end.c: plugin/node_rundir_end.c's pure parts: the
 * names of a node's markers and the deadlines a job's end works to.  The
 * end of a job itself (delivered, kept, removed) is test_node_rundir's.
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

#include "clock.h"
#include "node_rundir_internal.h"

static void test_make_names(void **state)
{
	struct names n;
	char node[NAME_MAX + 1];

	(void)state;
	assert_int_equal(nr_make_names(&n, "n1"), 0);
	assert_string_equal(n.attempt, ".attempt-n1");
	assert_string_equal(n.delivered, ".delivered-n1");
	assert_string_equal(n.undelivered, ".undelivered-n1");
	assert_string_equal(n.lost, ".lost-n1");
	assert_string_equal(n.lock, ".lock-n1");
	/* A node name that is not one path component names no marker. */
	assert_int_equal(nr_make_names(&n, "a/b"), -1);
	assert_int_equal(nr_make_names(&n, ".."), -1);
	/* Nor one too long for a marker's name with its ".new". */
	memset(node, 'x', sizeof(node) - 1);
	node[sizeof(node) - 1] = '\0';
	assert_int_equal(nr_make_names(&n, node), -1);
}

/* [ms] before the deadline, unless that is already past: then the
 * deadline itself. */
static void test_before(void **state)
{
	int64_t now = aml_monotonic_ms();

	(void)state;
	assert_int_equal(nr_before(now + 60000, 300), now + 60000 - 300);
	assert_int_equal(nr_before(now + 100, 300), now + 100);
	assert_int_equal(nr_before(now - 5, 300), now - 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_names),
		cmocka_unit_test(test_before),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
