/*
 * test_plan.c: one test per planner rule (plugin/plan.c).
 *
 * Configurations and sites are built directly as structs, the way the
 * parsers hand them over, so every rule is tested without a file, a
 * parser or Slurm.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, popen */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "plan.h"

#define RUN_ID "hello_1700000000_0a1b2c3d"
#define MAX_ITEMS 16

/* ---- builders ---- */

struct fixture {
	struct aml_runconfig rc;
	struct aml_site site;
	struct aml_target targets[4];
	struct aml_kv vars[MAX_ITEMS];
	char *args[MAX_ITEMS];
	char *command[MAX_ITEMS];
	char *allow_users[MAX_ITEMS];
	char *allow_accounts[MAX_ITEMS];
	struct aml_submitter who;
	const char *run_id;
	struct aml_errors errs;
	struct aml_plan plan;
};

static struct aml_target *add_target(struct fixture *f, const char *name,
				     const char *partition)
{
	struct aml_target *t = &f->targets[f->site.n_targets++];

	memset(t, 0, sizeof(*t));
	t->name = (char *)name;
	t->partition = (char *)partition;
	t->max_nodes = AML_SITE_UNLIMITED;
	t->max_time_seconds = AML_SITE_UNLIMITED64;
	t->max_processes_per_node = AML_SITE_UNLIMITED;
	return t;
}

/* A cluster with an open CPU target (the default) and a limited GPU one,
 * and a plain one-process run of train.py on the default target. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct aml_target *gpu;

	if (!f)
		return -1;
	f->site.targets = f->targets;
	f->site.default_interpreter = "/usr/bin/python3";
	f->site.finalize_grace_seconds = 120;
	f->site.default_target = "cpu";
	add_target(f, "cpu", "batch");
	gpu = add_target(f, "gpu-cluster", "gpu");
	gpu->gres = "gpu:4";
	gpu->max_nodes = 64;
	gpu->max_time_seconds = 2 * 86400;
	gpu->max_processes_per_node = 4;

	f->rc.form = AML_FORM_SCRIPT_RUN_CONFIG;
	f->rc.experiment_name = "hello";
	f->rc.source_directory = "/home/alice/proj";
	f->rc.script = "train.py";
	f->args[0] = "--lr";
	f->args[1] = "0.1";
	f->rc.arguments.items = f->args;
	f->rc.arguments.count = 2;
	f->rc.command.items = f->command;
	f->rc.environment_variables.items = f->vars;
	f->rc.node_count = 1;
	f->rc.distributed.type = AML_DIST_NONE;
	f->rc.max_run_duration_seconds = 3600;
	f->rc.max_run_duration_given = 1;

	f->who.user = "alice";
	f->who.account = NULL;
	f->run_id = RUN_ID;
	aml_errors_init(&f->errs, "run.json");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_plan_free(&f->plan);
	aml_errors_free(&f->errs);
	free(f);
	return 0;
}

static void add_var(struct fixture *f, const char *key, const char *value)
{
	struct aml_kv *kv = &f->vars[f->rc.environment_variables.count++];

	kv->key = (char *)key;
	kv->value = (char *)value;
}

static void use_pytorch(struct fixture *f, uint32_t nodes, uint32_t per_node)
{
	f->rc.node_count = nodes;
	f->rc.distributed.type = AML_DIST_PYTORCH;
	f->rc.distributed.backend = "nccl";
	f->rc.distributed.process_count_per_node = per_node;
}

static void use_mpi(struct fixture *f, uint32_t nodes, uint32_t per_node)
{
	f->rc.node_count = nodes;
	f->rc.distributed.type = AML_DIST_MPI;
	f->rc.distributed.process_count_per_node = per_node;
}

static void use_tensorflow(struct fixture *f, uint32_t nodes,
			   uint32_t workers, uint32_t ps)
{
	f->rc.node_count = nodes;
	f->rc.distributed.type = AML_DIST_TENSORFLOW;
	f->rc.distributed.worker_count = workers;
	f->rc.distributed.parameter_server_count = ps;
}

static int plan(struct fixture *f)
{
	return aml_plan_from_config(&f->rc, &f->site, &f->who, f->run_id,
				    &f->plan, &f->errs);
}

static void print_errors(const struct aml_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		fprintf(stderr, "  error: %s\n", errs->lines[i]);
}

/* Planning succeeds, with no error lines. */
static void plan_ok(struct fixture *f)
{
	int rc = plan(f);

	if (rc != 0)
		print_errors(&f->errs);
	assert_int_equal(rc, 0);
	assert_int_equal(f->errs.count, 0);
}

/* Planning fails with exactly this one error, and the plan is zeroed. */
static void plan_fails_with(struct fixture *f, const char *line)
{
	static const struct aml_plan zero;
	int rc = plan(f);

	if (f->errs.count != 1)
		print_errors(&f->errs);
	assert_int_equal(rc, -1);
	assert_int_equal(f->errs.count, 1);
	assert_string_equal(f->errs.lines[0], line);
	assert_memory_equal(&f->plan, &zero, sizeof(zero));
}

static int has_error(const struct aml_errors *errs, const char *line)
{
	for (size_t i = 0; i < errs->count; i++)
		if (strcmp(errs->lines[i], line) == 0)
			return 1;
	return 0;
}

/* The value of NAME in the plan's environment, or NULL. */
static const char *env_value(const struct aml_plan *p, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < p->environment.count; i++)
		if (strncmp(p->environment.items[i], name, n) == 0 &&
		    p->environment.items[i][n] == '=')
			return p->environment.items[i] + n + 1;
	return NULL;
}

static void assert_argv(const struct aml_plan *p, size_t n, ...)
{
	va_list ap;

	assert_int_equal(p->argv.count, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(p->argv.items[i], va_arg(ap, const char *));
	va_end(ap);
	assert_null(p->argv.items[n]);
}

/* ---- targets ---- */

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	struct aml_plan *p = &f->plan;

	plan_ok(f);
	assert_string_equal(p->run_id, RUN_ID);
	assert_string_equal(p->experiment_name, "hello");
	assert_string_equal(p->target, "cpu");
	assert_string_equal(p->job_name, RUN_ID);
	assert_string_equal(p->comment,
			    "aml run_id=" RUN_ID " experiment=hello");
	assert_string_equal(p->partition, "batch");
	assert_null(p->qos);
	assert_null(p->account);
	assert_null(p->tres_per_node);
	assert_null(p->gres);
	assert_null(p->constraint);
	assert_int_equal(p->min_nodes, 1);
	assert_int_equal(p->max_nodes, 1);
	assert_int_equal(p->num_tasks, 1);
	assert_int_equal(p->ntasks_per_node, 1);
	/* 3600 s = 60 min, plus 120 s of grace = 2 min. */
	assert_int_equal(p->time_limit_minutes, 62);
	assert_int_equal(p->deadline_seconds, 3600);
	assert_argv(p, 4, "/usr/bin/python3", "train.py", "--lr", "0.1");
	assert_string_equal(env_value(p, "AML_DIST_TYPE"),
			    aml_dist_type_name(AML_DIST_NONE));
	assert_string_equal(env_value(p, "AML_PROCESS_COUNT"), "1");
}

static void test_local_is_default_target(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "local";
	f->site.default_target = "gpu-cluster";
	plan_ok(f);
	assert_string_equal(f->plan.target, "gpu-cluster");
	assert_string_equal(f->plan.partition, "gpu");
}

static void test_target_named_local_wins(void **state)
{
	struct fixture *f = *state;

	add_target(f, "local", "debug");
	f->rc.compute_target = "local";
	plan_ok(f);
	assert_string_equal(f->plan.target, "local");
	assert_string_equal(f->plan.partition, "debug");
}

static void test_named_target_and_gres(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	plan_ok(f);
	assert_string_equal(f->plan.target, "gpu-cluster");
	assert_string_equal(f->plan.partition, "gpu");
	assert_string_equal(f->plan.tres_per_node, "gres:gpu:4");
	assert_string_equal(f->plan.gres, "gpu:4");
	assert_string_equal(env_value(&f->plan, "AML_COMPUTE_TARGET"),
			    "gpu-cluster");
}

static void test_gres_with_type(void **state)
{
	struct fixture *f = *state;

	f->targets[0].gres = "gpu:a100:8";
	plan_ok(f);
	assert_string_equal(f->plan.tres_per_node, "gres:gpu:a100:8");
	assert_string_equal(f->plan.gres, "gpu:a100:8");
}

static void test_target_policy_fields(void **state)
{
	struct fixture *f = *state;

	f->targets[0].qos = "high";
	f->targets[0].account = "ml";
	f->targets[0].constraint = "a100&ib";
	f->who.account = "physics";
	plan_ok(f);
	assert_string_equal(f->plan.qos, "high");
	/* The target's account replaces the job's own. */
	assert_string_equal(f->plan.account, "ml");
	assert_string_equal(f->plan.constraint, "a100&ib");
}

static void test_unknown_target_lists_known(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu";
	plan_fails_with(f,
		"run.json: compute_target: unknown compute target \"gpu\"; this cluster has: cpu, gpu-cluster");
}

static void test_unknown_target_value_escaped(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "x\"\n";
	plan_fails_with(f,
		"run.json: compute_target: unknown compute target \"x\\\"\\x0a\"; this cluster has: cpu, gpu-cluster");
}

static void test_no_default_target(void **state)
{
	struct fixture *f = *state;

	f->site.default_target = NULL;
	plan_fails_with(f,
		"run.json: compute_target: no compute target given and this cluster has no default target");
}

/* ---- access ---- */

static void restrict_gpu(struct fixture *f, int users, int accounts)
{
	struct aml_target *t = &f->targets[1];

	f->rc.compute_target = "gpu-cluster";
	if (users) {
		f->allow_users[0] = "carol";
		f->allow_users[1] = "dave";
		t->allow_users = f->allow_users;
		t->n_allow_users = 2;
	}
	if (accounts) {
		f->allow_accounts[0] = "ml";
		f->allow_accounts[1] = "vision";
		t->allow_accounts = f->allow_accounts;
		t->n_allow_accounts = 2;
	}
}

static void test_access_open_target(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	f->who.user = "anyone";
	plan_ok(f);
}

static void test_access_by_user(void **state)
{
	struct fixture *f = *state;

	restrict_gpu(f, 1, 1);
	f->who.user = "dave";
	f->who.account = "physics";
	plan_ok(f);
}

static void test_access_by_account(void **state)
{
	struct fixture *f = *state;

	restrict_gpu(f, 1, 1);
	f->who.account = "vision";
	plan_ok(f);
	aml_plan_free(&f->plan);
	/* Slurm lower-cases accounts, so --account=VISION is vision. */
	f->who.account = "VISION";
	plan_ok(f);
}

static void test_access_user_name_is_case_sensitive(void **state)
{
	struct fixture *f = *state;

	restrict_gpu(f, 1, 0);
	f->who.user = "Carol";
	plan_fails_with(f,
		"run.json: compute_target: compute target gpu-cluster is restricted to AllowUsers=carol,dave; user \"Carol\" may not use it");
}

static void test_access_denied_both_lists(void **state)
{
	struct fixture *f = *state;

	restrict_gpu(f, 1, 1);
	f->who.account = "physics";
	plan_fails_with(f,
		"run.json: compute_target: compute target gpu-cluster is restricted to AllowUsers=carol,dave or AllowAccounts=ml,vision; user \"alice\" with account \"physics\" may not use it");
}

static void test_access_denied_users_only(void **state)
{
	struct fixture *f = *state;

	restrict_gpu(f, 1, 0);
	/* An account cannot open a users-only target. */
	f->who.account = "ml";
	plan_fails_with(f,
		"run.json: compute_target: compute target gpu-cluster is restricted to AllowUsers=carol,dave; user \"alice\" may not use it");
}

static void test_access_denied_without_account(void **state)
{
	struct fixture *f = *state;

	restrict_gpu(f, 0, 1);
	plan_fails_with(f,
		"run.json: compute_target: compute target gpu-cluster is restricted to AllowAccounts=ml,vision; user \"alice\" may not use it without an allowed account (name one with --account)");
}

/* ---- layouts ---- */

static void test_pytorch(void **state)
{
	struct fixture *f = *state;
	struct aml_plan *p = &f->plan;

	f->rc.compute_target = "gpu-cluster";
	use_pytorch(f, 2, 4);
	plan_ok(f);
	assert_int_equal(p->min_nodes, 2);
	assert_int_equal(p->max_nodes, 2);
	assert_int_equal(p->ntasks_per_node, 4);
	assert_int_equal(p->num_tasks, 8);
	assert_string_equal(env_value(p, "AML_PROCESS_COUNT"), "8");
	assert_string_equal(env_value(p, "AZUREML_NODE_COUNT"), "2");
	assert_string_equal(env_value(p, "AML_DIST_TYPE"),
			    aml_dist_type_name(AML_DIST_PYTORCH));
}

static void test_mpi(void **state)
{
	struct fixture *f = *state;
	struct aml_plan *p = &f->plan;

	use_mpi(f, 3, 2);
	plan_ok(f);
	assert_int_equal(p->min_nodes, 3);
	assert_int_equal(p->max_nodes, 3);
	assert_int_equal(p->ntasks_per_node, 2);
	assert_int_equal(p->num_tasks, 6);
	assert_string_equal(env_value(p, "AML_DIST_TYPE"),
			    aml_dist_type_name(AML_DIST_MPI));
}

static void test_tensorflow_even(void **state)
{
	struct fixture *f = *state;
	struct aml_plan *p = &f->plan;

	use_tensorflow(f, 2, 4, 0);
	plan_ok(f);
	assert_int_equal(p->min_nodes, 2);
	assert_int_equal(p->max_nodes, 2);
	assert_int_equal(p->num_tasks, 4);
	assert_int_equal(p->ntasks_per_node, 2);
	assert_string_equal(env_value(p, "AML_DIST_TYPE"),
			    aml_dist_type_name(AML_DIST_TENSORFLOW));
}

static void test_tensorflow_uneven(void **state)
{
	struct fixture *f = *state;
	struct aml_plan *p = &f->plan;

	use_tensorflow(f, 2, 2, 1);
	plan_ok(f);
	assert_int_equal(p->min_nodes, 2);
	assert_int_equal(p->num_tasks, 3);
	/* 3 over 2 nodes: Slurm places them. */
	assert_int_equal(p->ntasks_per_node, 0);
}

static void test_tensorflow_fewer_tasks_than_nodes(void **state)
{
	struct fixture *f = *state;

	use_tensorflow(f, 4, 2, 1);
	plan_fails_with(f,
		"run.json: node_count: must be at most 3 for TensorFlow with 2 workers and 1 parameter server (every node needs at least one process), got 4");
}

static void test_tensorflow_no_workers(void **state)
{
	struct fixture *f = *state;

	use_tensorflow(f, 1, 0, 1);
	plan_fails_with(f,
		"run.json: distributed_job_config.worker_count: must be at least 1, got 0");
}

static void test_tensorflow_per_node_limit(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	/* 9 processes on 2 nodes puts 5 on one; the target allows 4. */
	use_tensorflow(f, 2, 8, 1);
	plan_fails_with(f,
		"run.json: distributed_job_config.worker_count: worker_count + parameter_server_count must be at most 8 (compute target gpu-cluster allows at most 4 processes per node, on 2 nodes), got 9");
}

static void test_none_with_several_nodes_rejected(void **state)
{
	struct fixture *f = *state;

	f->rc.node_count = 2;
	plan_fails_with(f,
		"run.json: node_count: must be 1 without a distributed_job_config (the run is a single process; use a PyTorch or MPI configuration to start processes on several nodes), got 2");
}

/* ---- limits ---- */

static void test_node_count_over_target(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	use_pytorch(f, 100, 1);
	plan_fails_with(f,
		"run.json: node_count: must be a whole number from 1 to 64 (compute target gpu-cluster allows at most 64), got 100");
}

static void test_node_count_at_target_limit(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	use_pytorch(f, 64, 4);
	plan_ok(f);
	assert_int_equal(f->plan.num_tasks, 256);
}

static void test_node_count_zero(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	f->rc.node_count = 0;
	plan_fails_with(f,
		"run.json: node_count: must be a whole number from 1 to 64 (compute target gpu-cluster allows at most 64), got 0");
}

static void test_node_count_over_builtin(void **state)
{
	struct fixture *f = *state;

	use_mpi(f, AML_MAX_NODE_COUNT + 1, 1);
	plan_fails_with(f,
		"run.json: node_count: must be a whole number from 1 to 100000, got 100001");
}

static void test_mpi_per_node_over_target(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	use_mpi(f, 2, 8);
	plan_fails_with(f,
		"run.json: distributed_job_config.process_count_per_node: must be a whole number from 1 to 4 (compute target gpu-cluster allows at most 4 processes per node), got 8");
}

static void test_pytorch_per_node_over_target(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	use_pytorch(f, 2, 8);
	plan_fails_with(f,
		"run.json: distributed_job_config.process_count: must be at most 8 (compute target gpu-cluster allows at most 4 processes per node, on 2 nodes), got 16");
}

static void test_pytorch_per_node_over_target_one_node(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	use_pytorch(f, 1, 5);
	plan_fails_with(f,
		"run.json: distributed_job_config.process_count: must be at most 4 (compute target gpu-cluster allows at most 4 processes per node, on 1 node), got 5");
}

static void test_per_node_over_slurm_field(void **state)
{
	struct fixture *f = *state;

	/* ntasks_per_node is a uint16 with NO_VAL16/INFINITE16 reserved. */
	use_mpi(f, 1, 70000);
	plan_fails_with(f,
		"run.json: distributed_job_config.process_count_per_node: must be a whole number from 1 to 65533, got 70000");
}

static void test_total_processes_over_max(void **state)
{
	struct fixture *f = *state;

	use_mpi(f, 100, 20000);
	plan_fails_with(f,
		"run.json: distributed_job_config: the run would start 2000000 processes; at most 1000000 are allowed");
}

static void test_duration_over_target(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	f->rc.max_run_duration_seconds = 2 * 86400 + 1;
	plan_fails_with(f,
		"run.json: max_run_duration_seconds: must be at most 172800 (compute target gpu-cluster allows 2-00:00:00), got 172801");
}

static void test_requested_30_days_over_target(void **state)
{
	struct fixture *f = *state;

	/* Written in the file: a request, refused rather than shortened. */
	f->rc.compute_target = "gpu-cluster";
	f->rc.max_run_duration_seconds = AML_DEFAULT_MAX_RUN_DURATION;
	plan_fails_with(f,
		"run.json: max_run_duration_seconds: must be at most 172800 (compute target gpu-cluster allows 2-00:00:00), got 2592000");
}

static void test_unset_duration_shortened_to_target(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	f->rc.max_run_duration_seconds = AML_DEFAULT_MAX_RUN_DURATION;
	f->rc.max_run_duration_given = 0;
	plan_ok(f);
	assert_int_equal(f->plan.deadline_seconds, 2 * 86400);
	assert_int_equal(f->plan.time_limit_minutes, 2 * 1440 + 2);
	assert_string_equal(env_value(&f->plan,
				      "AML_MAX_RUN_DURATION_SECONDS"),
			    "172800");
}

static void test_unset_duration_on_unlimited_target(void **state)
{
	struct fixture *f = *state;

	f->rc.max_run_duration_seconds = AML_DEFAULT_MAX_RUN_DURATION;
	f->rc.max_run_duration_given = 0;
	plan_ok(f);
	assert_int_equal(f->plan.deadline_seconds, 2592000);
	assert_int_equal(f->plan.time_limit_minutes, 43200 + 2);
	assert_string_equal(env_value(&f->plan,
				      "AML_MAX_RUN_DURATION_SECONDS"),
			    "2592000");
}

static void test_duration_at_target_limit(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "gpu-cluster";
	f->rc.max_run_duration_seconds = 2 * 86400;
	plan_ok(f);
	assert_int_equal(f->plan.time_limit_minutes, 2 * 1440 + 2);
	assert_int_equal(f->plan.deadline_seconds, 2 * 86400);
}

static void test_duration_zero(void **state)
{
	struct fixture *f = *state;

	f->rc.max_run_duration_seconds = 0;
	plan_fails_with(f,
		"run.json: max_run_duration_seconds: must be at least 1, got 0");
}

/* ---- time limit arithmetic ---- */

static void test_time_limit_rounding(void **state)
{
	static const struct {
		uint64_t seconds;
		uint32_t grace;
		uint32_t minutes;
	} cases[] = {
		{ 3600, 120, 62 },
		{ 3601, 120, 63 },  /* a started minute counts */
		{ 3659, 120, 63 },
		{ 3660, 120, 63 },
		{ 1, 0, 1 },
		{ 60, 0, 1 },
		{ 61, 0, 2 },
		{ 59, 1, 2 },       /* grace rounds up on its own */
		{ 60, 60, 2 },
		{ 60, 61, 3 },
		{ 2592000, 120, 43202 },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		f->rc.max_run_duration_seconds = cases[i].seconds;
		f->site.finalize_grace_seconds = cases[i].grace;
		plan_ok(f);
		assert_int_equal(f->plan.time_limit_minutes, cases[i].minutes);
		assert_int_equal(f->plan.deadline_seconds, cases[i].seconds);
		aml_plan_free(&f->plan);
	}
}

static void test_time_limit_largest(void **state)
{
	struct fixture *f = *state;

	/* With no grace the longest run fills the limit exactly ... */
	f->site.finalize_grace_seconds = 0;
	f->rc.max_run_duration_seconds = (uint64_t)AML_PLAN_MAX_TIME_LIMIT * 60;
	plan_ok(f);
	assert_int_equal(f->plan.time_limit_minutes, AML_PLAN_MAX_TIME_LIMIT);
	aml_plan_free(&f->plan);

	/* ... and with grace, the grace comes off the run's share. */
	f->site.finalize_grace_seconds = 120;
	f->rc.max_run_duration_seconds =
		(uint64_t)(AML_PLAN_MAX_TIME_LIMIT - 2) * 60;
	plan_ok(f);
	assert_int_equal(f->plan.time_limit_minutes, AML_PLAN_MAX_TIME_LIMIT);
	assert_true(f->plan.time_limit_minutes != 0xfffffffeU);
	assert_true(f->plan.time_limit_minutes != 0xffffffffU);
}

static void test_time_limit_one_second_over(void **state)
{
	struct fixture *f = *state;

	f->site.finalize_grace_seconds = 120;
	f->rc.max_run_duration_seconds =
		(uint64_t)(AML_PLAN_MAX_TIME_LIMIT - 2) * 60 + 1;
	plan_fails_with(f,
		"run.json: max_run_duration_seconds: must be at most 257698037460 (Slurm's longest time limit, 4294967293 minutes, less FinalizeGrace), got 257698037461");
}

static void test_time_limit_no_wrap(void **state)
{
	struct fixture *f = *state;

	/* The largest values must not wrap into a short limit. */
	f->site.finalize_grace_seconds = UINT32_MAX;
	f->rc.max_run_duration_seconds = UINT64_MAX;
	assert_int_equal(plan(f), -1);
	assert_int_equal(f->errs.count, 1);
	assert_non_null(strstr(f->errs.lines[0],
			       "max_run_duration_seconds: must be at most "));
}

/* ---- environment ---- */

static void test_environment_order_and_values(void **state)
{
	static const char *const expected[] = {
		"ZETA=last letter first",
		"ALPHA=",
		"slurm_lower=case matters",
		"AZUREML_RUN_ID=" RUN_ID,
		"AZUREML_ARM_PROJECT_NAME=hello",
		"AZUREML_EXPERIMENT_NAME=hello",
		"AZUREML_NODE_COUNT=2",
		"AML_RUN_ID=" RUN_ID,
		"AML_COMPUTE_TARGET=cpu",
		"AML_MAX_RUN_DURATION_SECONDS=3600",
		"AML_PROCESS_COUNT=6",
		NULL, /* AML_DIST_TYPE, from aml_dist_type_name */
		/* the job's name as squeue shows it, not sbatch's -J */
		"SLURM_JOB_NAME=" RUN_ID,
		/* the folders every node makes (none declared here) */
		"AML_OUTPUT_DIRS=outputs:logs",
	};
	struct fixture *f = *state;
	struct aml_plan *p = &f->plan;
	char dist[64];
	size_t n = sizeof(expected) / sizeof(*expected);
	size_t dist_at = n - 3;

	add_var(f, "ZETA", "last letter first");
	add_var(f, "ALPHA", "");
	add_var(f, "slurm_lower", "case matters");
	use_mpi(f, 2, 3);
	plan_ok(f);
	assert_int_equal(p->environment.count, n);
	for (size_t i = 0; i < n; i++)
		if (i != dist_at)
			assert_string_equal(p->environment.items[i],
					    expected[i]);
	snprintf(dist, sizeof(dist), "AML_DIST_TYPE=%s",
		 aml_dist_type_name(AML_DIST_MPI));
	assert_string_equal(p->environment.items[dist_at], dist);
	assert_null(p->environment.items[n]);
}

/* Every node makes ./outputs, ./logs and each declared output's folder:
 * the plan lists them, and hands them on in the job's environment. */
static void test_output_dirs(void **state)
{
	struct fixture *f = *state;
	char *names[] = { "model", "scores", NULL };
	const char *last;

	f->rc.output_names.items = names;
	f->rc.output_names.count = 2;
	plan_ok(f);
	assert_int_equal(f->plan.output_dirs.count, 4);
	assert_string_equal(f->plan.output_dirs.items[0], "outputs");
	assert_string_equal(f->plan.output_dirs.items[1], "logs");
	assert_string_equal(f->plan.output_dirs.items[2], "outputs/model");
	assert_string_equal(f->plan.output_dirs.items[3], "outputs/scores");
	last = f->plan.environment.items[f->plan.environment.count - 1];
	assert_string_equal(last,
			    "AML_OUTPUT_DIRS=outputs:logs:outputs/model:outputs/scores");
	aml_plan_free(&f->plan);
	aml_errors_free(&f->errs);
	aml_errors_init(&f->errs, "run.json");

	/* A configuration built by hand (or forged) is judged too. */
	names[1] = "../../etc";
	plan_fails_with(f, "run.json: output_folders: must be names of 1 to 255 letters, digits and '_', not starting with a digit, got \"../../etc\"");
	f->rc.output_names.items = NULL;
	f->rc.output_names.count = 0;
}

static void test_reserved_variable_names(void **state)
{
	struct fixture *f = *state;

	add_var(f, "SLURM_FOO", "1");
	add_var(f, "AZUREML_RUN_ID", "mine");
	add_var(f, "AML_PROCESS_COUNT", "3");
	add_var(f, "MY_SLURM_THING", "fine");
	add_var(f, "AZUREML_COMPUTE_USE_COMMON_RUNTIME", "true");
	add_var(f, "RANK", "not distributed, so fine");
	add_var(f, "AZUREML_CR_EXECUTION_WORKING_DIR_PATH", "/x");
	assert_int_equal(plan(f), -1);
	assert_int_equal(f->errs.count, 4);
	assert_string_equal(f->errs.lines[0],
		"run.json: environment.environment_variables.SLURM_FOO: reserved: names starting with SLURM_ are reserved for Slurm");
	assert_string_equal(f->errs.lines[1],
		"run.json: environment.environment_variables.AZUREML_RUN_ID: reserved: slurm-aml sets it for every run");
	assert_string_equal(f->errs.lines[2],
		"run.json: environment.environment_variables.AML_PROCESS_COUNT: reserved: names starting with AML_ are reserved for slurm-aml");
	assert_string_equal(f->errs.lines[3],
		"run.json: environment.environment_variables.AZUREML_CR_EXECUTION_WORKING_DIR_PATH: reserved: names starting with AZUREML_CR_ are reserved for slurm-aml's node side");
	assert_null(f->plan.run_id);
}

static void test_distributed_names_reserved_when_distributed(void **state)
{
	struct fixture *f = *state;

	f->rc.distributed.type = AML_DIST_MPI;
	f->rc.distributed.process_count_per_node = 1;
	add_var(f, "RANK", "0");
	add_var(f, "OMPI_COMM_WORLD_SIZE", "9");
	assert_int_equal(plan(f), -1);
	assert_int_equal(f->errs.count, 2);
	assert_string_equal(f->errs.lines[0],
		"run.json: environment.environment_variables.RANK: reserved: slurm-aml sets it per process in a distributed run");
	assert_string_equal(f->errs.lines[1],
		"run.json: environment.environment_variables.OMPI_COMM_WORLD_SIZE: reserved: slurm-aml sets the OMPI_COMM_WORLD_ names per process in a distributed run");
}

static void test_invalid_variable_name(void **state)
{
	struct fixture *f = *state;

	add_var(f, "1BAD NAME", "x");
	plan_fails_with(f,
		"run.json: environment.environment_variables: \"1BAD NAME\" is not a valid variable name (letters, digits and '_', not starting with a digit)");
}

/* ---- argv ---- */

static void test_argv_command(void **state)
{
	struct fixture *f = *state;

	f->rc.script = NULL;
	f->rc.arguments.count = 0;
	f->command[0] = "python";
	f->command[1] = "train.py";
	f->command[2] = "--name";
	f->command[3] = "two words";
	f->rc.command.count = 4;
	plan_ok(f);
	assert_argv(&f->plan, 4, "python", "train.py", "--name", "two words");
}

static void test_argv_command_line(void **state)
{
	struct fixture *f = *state;

	f->rc.script = NULL;
	f->rc.arguments.count = 0;
	f->rc.command_line = "python train.py --epochs ${EPOCHS:-3} | tee log";
	plan_ok(f);
	assert_argv(&f->plan, 3, "/bin/bash", "-c",
		    "python train.py --epochs ${EPOCHS:-3} | tee log");
}

static void test_argv_script_with_interpreter_path(void **state)
{
	struct fixture *f = *state;

	/* Azure ML uses it only for a user-managed environment. */
	f->rc.environment.interpreter_path = "/opt/conda/bin/python";
	f->rc.environment.user_managed_dependencies = 1;
	plan_ok(f);
	assert_argv(&f->plan, 4, "/opt/conda/bin/python", "train.py", "--lr",
		    "0.1");
}

static void test_argv_script_without_site_interpreter(void **state)
{
	struct fixture *f = *state;

	f->site.default_interpreter = NULL;
	f->rc.arguments.count = 0;
	plan_ok(f);
	assert_argv(&f->plan, 2, "python3", "train.py");
}

static void test_argv_nothing_to_run(void **state)
{
	struct fixture *f = *state;

	f->rc.script = NULL;
	f->rc.arguments.count = 0;
	plan_fails_with(f,
		"run.json: script: no command to run: give a script or a command");
}

/* ---- run id and names ---- */

static void test_run_id_from_config_wins(void **state)
{
	struct fixture *f = *state;

	f->rc.run_id = "my-chosen-name";
	plan_ok(f);
	assert_string_equal(f->plan.run_id, "my-chosen-name");
	assert_string_equal(f->plan.job_name, "my-chosen-name");
	assert_string_equal(f->plan.comment,
			    "aml run_id=my-chosen-name experiment=hello");
	assert_string_equal(env_value(&f->plan, "AZUREML_RUN_ID"),
			    "my-chosen-name");
	assert_string_equal(env_value(&f->plan, "AML_RUN_ID"),
			    "my-chosen-name");
}

static void test_run_id_invalid(void **state)
{
	struct fixture *f = *state;

	f->rc.run_id = "bad id;rm";
	plan_fails_with(f,
		"run.json: name: must be 1 to 255 letters, digits, '_' or '-', starting with a letter or digit, got \"bad id;rm\"");
}

static void test_run_id_missing(void **state)
{
	struct fixture *f = *state;

	f->run_id = NULL;
	plan_fails_with(f, "run.json: name: no run id was given");
}

static void test_experiment_with_control_character(void **state)
{
	struct fixture *f = *state;

	f->rc.experiment_name = "a\nb";
	plan_fails_with(f,
		"run.json: experiment_name: must not contain control characters, got \"a\\x0ab\"");
}

static void test_every_error_reported(void **state)
{
	struct fixture *f = *state;

	f->rc.compute_target = "nope";
	f->rc.run_id = "-x";
	f->rc.max_run_duration_seconds = 0;
	add_var(f, "SLURM_JOB_ID", "1");
	assert_int_equal(plan(f), -1);
	assert_int_equal(f->errs.count, 4);
	assert_true(has_error(&f->errs,
		"run.json: compute_target: unknown compute target \"nope\"; this cluster has: cpu, gpu-cluster"));
	assert_true(has_error(&f->errs,
		"run.json: max_run_duration_seconds: must be at least 1, got 0"));
	assert_true(has_error(&f->errs,
		"run.json: name: must be 1 to 255 letters, digits, '_' or '-', starting with a letter or digit, got \"-x\""));
	assert_true(has_error(&f->errs,
		"run.json: environment.environment_variables.SLURM_JOB_ID: reserved: names starting with SLURM_ are reserved for Slurm"));
}

/* ---- sbatch options ---- */

static void test_sbatch_options_pytorch(void **state)
{
	struct fixture *f = *state;
	char *opts;

	f->rc.compute_target = "gpu-cluster";
	use_pytorch(f, 2, 4);
	plan_ok(f);
	opts = aml_plan_sbatch_options(&f->plan);
	assert_non_null(opts);
	assert_string_equal(opts,
		"-J " RUN_ID " -p gpu -N 2 --ntasks-per-node=4 --gres=gpu:4 -t 62 --comment='aml run_id=" RUN_ID " experiment=hello'");
	free(opts);
}

static void test_sbatch_options_every_field(void **state)
{
	struct fixture *f = *state;
	char *opts;

	f->targets[0].qos = "high";
	f->targets[0].account = "ml";
	f->targets[0].constraint = "a100&ib";
	f->targets[0].gres = "gpu:a100:8";
	use_tensorflow(f, 2, 2, 1);
	plan_ok(f);
	opts = aml_plan_sbatch_options(&f->plan);
	assert_non_null(opts);
	/* Uneven layout: -n instead of --ntasks-per-node. */
	assert_string_equal(opts,
		"-J " RUN_ID " -p batch --qos=high --account=ml -N 2 -n 3 --gres=gpu:a100:8 --constraint='a100&ib' -t 62 --comment='aml run_id=" RUN_ID " experiment=hello'");
	free(opts);
}

static void test_sbatch_options_quoting(void **state)
{
	struct aml_plan p = { 0 };
	char *opts;

	(void)state;
	p.job_name = "job";
	p.partition = "a_b.c/d:e=f,g@h%i+j-k";  /* every safe character */
	p.qos = "";                              /* empty: '' */
	p.account = "it's";                      /* quote inside */
	p.constraint = "x y";
	p.comment = "$(id) `id` \"q\" \\";
	p.min_nodes = 1;
	p.max_nodes = 4;
	p.num_tasks = 4;
	p.time_limit_minutes = 5;
	opts = aml_plan_sbatch_options(&p);
	assert_non_null(opts);
	assert_string_equal(opts,
		"-J job -p a_b.c/d:e=f,g@h%i+j-k --qos='' --account='it'\\''s' -N 1-4 -n 4 --constraint='x y' -t 5 --comment='$(id) `id` \"q\" \\'");
	free(opts);
}

/* The options read back through a real shell give the same words. */
static void test_sbatch_options_through_shell(void **state)
{
	struct fixture *f = *state;
	char *opts, *cmd;
	char line[512];
	char out[2048] = "";
	FILE *sh;

	f->rc.experiment_name = "it's a \"test\" $(x)";
	f->targets[0].constraint = "a|b";
	plan_ok(f);
	opts = aml_plan_sbatch_options(&f->plan);
	assert_non_null(opts);
	assert_true(asprintf(&cmd,
			     "set -- %s; for a in \"$@\"; do printf '[%%s]' \"$a\"; done",
			     opts) > 0);
	sh = popen(cmd, "r");
	assert_non_null(sh);
	while (fgets(line, sizeof(line), sh))
		strncat(out, line, sizeof(out) - strlen(out) - 1);
	assert_int_equal(pclose(sh), 0);
	assert_string_equal(out,
		"[-J][" RUN_ID "][-p][batch][-N][1][--ntasks-per-node=1][--constraint=a|b][-t][62][--comment=aml run_id=" RUN_ID " experiment=it's a \"test\" $(x)]");
	free(cmd);
	free(opts);
}

/* ---- JSON ---- */

static const char *json_str(const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	assert_non_null(item);
	assert_true(cJSON_IsString(item));
	return item->valuestring;
}

static double json_num(const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	assert_non_null(item);
	assert_true(cJSON_IsNumber(item));
	return item->valuedouble;
}

static void test_json_round_trip(void **state)
{
	static const char *const members[] = {
		"run_id", "experiment_name", "target", "job_name", "comment",
		"partition", "qos", "account", "tres_per_node", "gres",
		"constraint", "min_nodes", "max_nodes", "num_tasks",
		"ntasks_per_node", "time_limit_minutes", "deadline_seconds",
		"environment", "argv", "output_dirs", "environment_kind",
		"environment_label", "environment_spec",
	};
	struct fixture *f = *state;
	struct aml_plan *p = &f->plan;
	const cJSON *item, *env, *argv;
	cJSON *root;
	char *text;
	size_t i = 0;

	f->rc.compute_target = "gpu-cluster";
	f->targets[1].constraint = "ib";
	use_pytorch(f, 2, 4);
	add_var(f, "NCCL_DEBUG", "INFO");
	add_var(f, "WEIRD", "a=b \"c\"\n");
	plan_ok(f);
	text = aml_plan_to_json(p);
	assert_non_null(text);
	/* Compact: no newlines outside strings. */
	assert_null(strchr(text, '\n'));
	root = cJSON_Parse(text);
	free(text);
	assert_non_null(root);

	cJSON_ArrayForEach(item, root) {
		assert_true(i < sizeof(members) / sizeof(*members));
		assert_string_equal(item->string, members[i]);
		i++;
	}
	assert_int_equal(i, sizeof(members) / sizeof(*members));

	assert_string_equal(json_str(root, "run_id"), RUN_ID);
	assert_string_equal(json_str(root, "experiment_name"), "hello");
	assert_string_equal(json_str(root, "target"), "gpu-cluster");
	assert_string_equal(json_str(root, "job_name"), RUN_ID);
	assert_string_equal(json_str(root, "comment"), p->comment);
	assert_string_equal(json_str(root, "partition"), "gpu");
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "qos")));
	assert_true(cJSON_IsNull(
		cJSON_GetObjectItemCaseSensitive(root, "account")));
	assert_string_equal(json_str(root, "tres_per_node"), "gres:gpu:4");
	assert_string_equal(json_str(root, "gres"), "gpu:4");
	assert_string_equal(json_str(root, "constraint"), "ib");
	assert_true(json_num(root, "min_nodes") == 2);
	assert_true(json_num(root, "max_nodes") == 2);
	assert_true(json_num(root, "num_tasks") == 8);
	assert_true(json_num(root, "ntasks_per_node") == 4);
	assert_true(json_num(root, "time_limit_minutes") == 62);
	assert_true(json_num(root, "deadline_seconds") == 3600);

	env = cJSON_GetObjectItemCaseSensitive(root, "environment");
	assert_true(cJSON_IsObject(env));
	assert_int_equal(cJSON_GetArraySize(env), p->environment.count);
	i = 0;
	cJSON_ArrayForEach(item, env) {
		const char *entry = p->environment.items[i++];
		size_t n = strlen(item->string);

		assert_true(cJSON_IsString(item));
		assert_memory_equal(entry, item->string, n);
		assert_int_equal(entry[n], '=');
		assert_string_equal(entry + n + 1, item->valuestring);
	}
	assert_string_equal(json_str(env, "WEIRD"), "a=b \"c\"\n");

	argv = cJSON_GetObjectItemCaseSensitive(root, "argv");
	assert_true(cJSON_IsArray(argv));
	assert_int_equal(cJSON_GetArraySize(argv), 4);
	assert_string_equal(cJSON_GetArrayItem(argv, 0)->valuestring,
			    "/usr/bin/python3");
	assert_string_equal(cJSON_GetArrayItem(argv, 3)->valuestring, "0.1");
	cJSON_Delete(root);
}

static void test_json_largest_numbers_exact(void **state)
{
	struct fixture *f = *state;
	cJSON *root;
	char *text;

	f->site.finalize_grace_seconds = 0;
	f->rc.max_run_duration_seconds = (uint64_t)AML_PLAN_MAX_TIME_LIMIT * 60;
	plan_ok(f);
	text = aml_plan_to_json(&f->plan);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"time_limit_minutes\":4294967293,"));
	assert_non_null(strstr(text, "\"deadline_seconds\":257698037580,"));
	root = cJSON_Parse(text);
	assert_non_null(root);
	cJSON_Delete(root);
	free(text);
}

/* ---- lifetime ---- */

static void test_free_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct aml_plan zero = { 0 };

	aml_plan_free(&zero);
	aml_plan_free(NULL);
	plan_ok(f);
	aml_plan_free(&f->plan);
	aml_plan_free(&f->plan);
	assert_null(f->plan.run_id);
	assert_int_equal(f->plan.environment.count, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_local_is_default_target),
		T(test_target_named_local_wins),
		T(test_named_target_and_gres),
		T(test_gres_with_type),
		T(test_target_policy_fields),
		T(test_unknown_target_lists_known),
		T(test_unknown_target_value_escaped),
		T(test_no_default_target),
		T(test_access_open_target),
		T(test_access_by_user),
		T(test_access_by_account),
		T(test_access_user_name_is_case_sensitive),
		T(test_access_denied_both_lists),
		T(test_access_denied_users_only),
		T(test_access_denied_without_account),
		T(test_pytorch),
		T(test_mpi),
		T(test_tensorflow_even),
		T(test_tensorflow_uneven),
		T(test_tensorflow_fewer_tasks_than_nodes),
		T(test_tensorflow_no_workers),
		T(test_tensorflow_per_node_limit),
		T(test_none_with_several_nodes_rejected),
		T(test_node_count_over_target),
		T(test_node_count_at_target_limit),
		T(test_node_count_zero),
		T(test_node_count_over_builtin),
		T(test_mpi_per_node_over_target),
		T(test_pytorch_per_node_over_target),
		T(test_pytorch_per_node_over_target_one_node),
		T(test_per_node_over_slurm_field),
		T(test_total_processes_over_max),
		T(test_duration_over_target),
		T(test_requested_30_days_over_target),
		T(test_unset_duration_shortened_to_target),
		T(test_unset_duration_on_unlimited_target),
		T(test_duration_at_target_limit),
		T(test_duration_zero),
		T(test_time_limit_rounding),
		T(test_time_limit_largest),
		T(test_time_limit_one_second_over),
		T(test_time_limit_no_wrap),
		T(test_environment_order_and_values),
		T(test_output_dirs),
		T(test_reserved_variable_names),
		T(test_distributed_names_reserved_when_distributed),
		T(test_invalid_variable_name),
		T(test_argv_command),
		T(test_argv_command_line),
		T(test_argv_script_with_interpreter_path),
		T(test_argv_script_without_site_interpreter),
		T(test_argv_nothing_to_run),
		T(test_run_id_from_config_wins),
		T(test_run_id_invalid),
		T(test_run_id_missing),
		T(test_experiment_with_control_character),
		T(test_every_error_reported),
		T(test_sbatch_options_pytorch),
		T(test_sbatch_options_every_field),
		T(test_sbatch_options_quoting),
		T(test_sbatch_options_through_shell),
		T(test_json_round_trip),
		T(test_json_largest_numbers_exact),
		T(test_free_is_idempotent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
