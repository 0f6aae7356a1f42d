/*
 * test_step_layout.c: plugin/step_layout.c, Slurm's tasks-per-node form,
 * a step's layout and a task's distributed environment from it
 * (test_launch.c has every variable of every framework).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "step_layout.h"

#define CANARY 0xdeadbeefu

/* [s] must give exactly the [n] counts in [want]. */
static void tpn_is(const char *s, uint32_t n, const uint32_t *want)
{
	uint32_t got[16];

	assert_true(n < 16);
	for (size_t i = 0; i < 16; i++)
		got[i] = CANARY;
	if (aml_tasks_per_node_parse(s, got, n) != 0) {
		print_error("refused: \"%s\" for %u nodes\n", s, (unsigned)n);
		fail();
	}
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
	assert_int_equal(got[n], CANARY);
}

/* [s] must be refused for [n] nodes, writing nothing past them. */
static void tpn_refused(const char *s, uint32_t n)
{
	uint32_t got[16];

	assert_true(n < 16);
	for (size_t i = 0; i < 16; i++)
		got[i] = CANARY;
	if (aml_tasks_per_node_parse(s, got, n) != -1) {
		print_error("accepted: \"%s\" for %u nodes\n", s, (unsigned)n);
		fail();
	}
	assert_int_equal(got[n], CANARY);
}

static void test_tasks_per_node_forms(void **state)
{
	(void)state;
	tpn_is("1", 1, (const uint32_t[]){ 1 });
	tpn_is("8", 1, (const uint32_t[]){ 8 });
	tpn_is("2,1", 2, (const uint32_t[]){ 2, 1 });
	tpn_is("2(x3),1", 4, (const uint32_t[]){ 2, 2, 2, 1 });
	tpn_is("1,3(x2)", 3, (const uint32_t[]){ 1, 3, 3 });
	tpn_is("4(x2),2(x2)", 4, (const uint32_t[]){ 4, 4, 2, 2 });
	tpn_is("2(x1)", 1, (const uint32_t[]){ 2 });
	tpn_is("0", 1, (const uint32_t[]){ 0 });
	tpn_is("4294967295", 1, (const uint32_t[]){ UINT32_MAX });
	tpn_is("", 0, NULL);
}

static void test_tasks_per_node_overflow(void **state)
{
	(void)state;
	tpn_refused("4294967296", 1);
	tpn_refused("99999999999999999999999999", 1);
	tpn_refused("1(x99999999999999999999999999)", 2);
	tpn_refused("1(x4294967296)", 2);
}

static void test_tasks_per_node_junk(void **state)
{
	static const char *const junk[] = {
		"", "a", "1,", ",1", "1,,1", "2(x)", "2(3)", "2(x3", "2x3",
		"2(x3)x", "2(x3)(x2)", " 1", "1 ", "-1", "+1", "1;1", "2(y1)",
		"3(x0)", "3(x0),1",
		"2(x-1)", "2(x+1)", "2(x 1)", "0x1", "1.0",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(junk) / sizeof(*junk); i++)
		tpn_refused(junk[i], 1);
}

/* Slurm's counts describe the step's nodes, no more and no fewer. */
static void test_tasks_per_node_must_add_up(void **state)
{
	(void)state;
	tpn_refused("1", 2);
	tpn_refused("1,1,1", 2);
	tpn_refused("2(x3)", 2);
	tpn_refused("2(x3),1", 3);
	tpn_refused("2(x2)", 3);
	tpn_refused("1", 0);
}

/* ---- the layout ---- */

static void layout_of(struct aml_step_layout *l, uint32_t n,
		      const char *tpn)
{
	char errbuf[256];

	assert_int_equal(aml_step_layout_alloc(l, n, errbuf, sizeof(errbuf)),
			 0);
	assert_int_equal(l->n, n);
	for (uint32_t i = 0; i < n; i++) {
		char name[16];

		assert_null(l->hosts[i]);
		snprintf(name, sizeof(name), "n%u", (unsigned)i + 1);
		l->hosts[i] = strdup(name);
		assert_non_null(l->hosts[i]);
	}
	assert_int_equal(aml_step_layout_set_tasks(l, tpn, errbuf,
						   sizeof(errbuf)), 0);
}

static void test_layout(void **state)
{
	struct aml_step_layout l;
	char errbuf[256];

	(void)state;
	layout_of(&l, 3, "2(x2),1");
	assert_string_equal(l.hosts[2], "n3");
	assert_int_equal(l.tasks[0], 2);
	assert_int_equal(l.tasks[1], 2);
	assert_int_equal(l.tasks[2], 1);
	assert_int_equal(aml_step_layout_set_tasks(&l, "2(x2)", errbuf,
						   sizeof(errbuf)), -1);
	assert_string_equal(errbuf, "SLURM_STEP_TASKS_PER_NODE=2(x2) does "
			    "not give tasks for the step's 3 nodes");
	aml_step_layout_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.hosts);
	/* Twice, and on hosts never filled in. */
	aml_step_layout_free(&l);
	assert_int_equal(aml_step_layout_alloc(&l, 2, errbuf, sizeof(errbuf)),
			 0);
	aml_step_layout_free(&l);
}

/* ---- a task's distributed environment ---- */

static struct aml_runconfig pytorch(void)
{
	struct aml_runconfig rc;

	memset(&rc, 0, sizeof(rc));
	rc.distributed.type = AML_DIST_PYTORCH;
	rc.distributed.process_count_per_node = 2;
	return rc;
}

static void env_is(const struct aml_step_layout *l,
		   struct aml_task_place *place, const char *const *expected)
{
	struct aml_runconfig rc = pytorch();
	struct aml_strlist vars = { 0 };
	char errbuf[512];
	size_t n = 0;

	assert_int_equal(aml_step_task_env(&rc, l, place, &vars, errbuf,
					   sizeof(errbuf)), 0);
	while (expected[n])
		n++;
	for (size_t i = 0; i < n && i < vars.count; i++)
		assert_string_equal(vars.items[i], expected[i]);
	assert_int_equal(vars.count, n);
	aml_strlist_free(&vars);
}

static void test_env_one_node(void **state)
{
	struct aml_step_layout l;
	struct aml_task_place place = {
		.job_id = 17, .rank = 1, .world_size = 2, .local_rank = 1,
		.local_world = 2, .node_rank = 0, .n_nodes = 1,
	};
	static const char *const expected[] = {
		"MASTER_ADDR=n1", "MASTER_PORT=20017", "WORLD_SIZE=2",
		"RANK=1", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=2", "NODE_RANK=0",
		"GROUP_RANK=0", NULL,
	};

	(void)state;
	layout_of(&l, 1, "2");
	env_is(&l, &place, expected);
	aml_step_layout_free(&l);
}

static void test_env_two_nodes(void **state)
{
	struct aml_step_layout l;
	struct aml_task_place place = {
		.job_id = 12345, .rank = 2, .world_size = 4, .local_rank = 0,
		.local_world = 2, .node_rank = 1, .n_nodes = 2,
	};
	static const char *const expected[] = {
		"MASTER_ADDR=n1", "MASTER_PORT=22345", "WORLD_SIZE=4",
		"RANK=2", "LOCAL_RANK=0", "LOCAL_WORLD_SIZE=2", "NODE_RANK=1",
		"GROUP_RANK=1", NULL,
	};

	(void)state;
	layout_of(&l, 2, "2(x2)");
	env_is(&l, &place, expected);
	/* The place points at the layout's names and counts. */
	assert_ptr_equal(place.hosts, l.hosts);
	assert_ptr_equal(place.tasks_per_host, l.tasks);
	aml_step_layout_free(&l);
}

/* A step laid out otherwise than its tasks say: one sentence, no
 * variables. */
static void test_env_refuses_another_layout(void **state)
{
	struct aml_runconfig rc = pytorch();
	struct aml_step_layout l;
	struct aml_strlist vars = { 0 };
	struct aml_task_place place = {
		.job_id = 1, .rank = 0, .world_size = 4, .local_rank = 0,
		.local_world = 2, .node_rank = 0, .n_nodes = 2,
	};
	char errbuf[512];

	(void)state;
	layout_of(&l, 1, "2");
	assert_int_equal(aml_step_task_env(&rc, &l, &place, &vars, errbuf,
					   sizeof(errbuf)), -1);
	assert_string_equal(errbuf, "no pytorch environment for task 0 of 4 "
			    "(node 0 of 2, local task 0 of 2): the step is not "
			    "laid out as the run's configuration asks, or "
			    "memory ran out");
	assert_int_equal(vars.count, 0);
	aml_strlist_free(&vars);
	aml_step_layout_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tasks_per_node_forms),
		cmocka_unit_test(test_tasks_per_node_overflow),
		cmocka_unit_test(test_tasks_per_node_junk),
		cmocka_unit_test(test_tasks_per_node_must_add_up),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_env_one_node),
		cmocka_unit_test(test_env_two_nodes),
		cmocka_unit_test(test_env_refuses_another_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
