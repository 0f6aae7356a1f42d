/*
 * test_job_update.c: the controller's judgement of an update of a run's
 * job (plugin/job_update.c), against a site read by the real aml.conf
 * parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "job_update.h"
#include "site.h"

#define RUN_ID "hello_1700000000_0a1b2c3d"

static const char site_text[] =
	"DefaultTarget=cpu\n"
	"FinalizeGrace=120\n"
	"ComputeTarget=cpu Partition=debug MaxNodes=2 MaxTime=1:00:00\n"
	"ComputeTarget=gpu Partition=gpu QOS=high Account=ml Gres=gpu:4 \\\n"
	"    Constraint=a100 MaxNodes=4 MaxProcessesPerNode=4 AllowUsers=carol\n";

struct fixture {
	struct aml_site site;
	char err[2048];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct aml_errors errs;

	if (!f)
		return -1;
	aml_errors_init(&errs, "aml.conf");
	if (aml_site_parse(site_text, strlen(site_text), "aml.conf", &f->site,
			   &errs) < 0) {
		aml_errors_free(&errs);
		free(f);
		return -1;
	}
	aml_errors_free(&errs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_site_free(&f->site);
	free(f);
	return 0;
}

#define ADMIN "aml run_id=" RUN_ID " experiment=hello target=cpu nodes=2 " \
	"tasks=4 tpn=2"
#define GPU_ADMIN "aml run_id=" RUN_ID " experiment=hello target=gpu " \
	"nodes=1 tasks=4 tpn=4"

static enum aml_update_verdict check(struct fixture *f, const char *admin,
				     const struct aml_job_update *u)
{
	f->err[0] = '\0';
	return aml_job_update_check(&f->site, admin, u, f->err,
				       sizeof(f->err));
}

static void test_update_not_a_run(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .has_nodes = 1, .min_nodes = 100 };

	assert_int_equal(check(f, NULL, &u), AML_UPDATE_OK);
	assert_int_equal(check(f, "someone's note", &u), AML_UPDATE_OK);
	assert_int_equal(check(f, "aml but not ours", &u), AML_UPDATE_OK);
}

static void test_update_within_limits(void **state)
{
	struct fixture *f = *state;
	/* MaxTime 1 h plus FinalizeGrace 120 s: 62 minutes at most. */
	struct aml_job_update u = { .has_nodes = 1, .min_nodes = 2,
				    .max_nodes = 2, .has_time_limit = 1,
				    .time_limit_minutes = 62,
				    .partition = "debug" };

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_OK);
}

static void test_update_nodes_refused(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .has_nodes = 1, .min_nodes = 3 };

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_NODES);
	assert_string_equal(f->err, "run " RUN_ID ": NumNodes: compute target "
			    "cpu allows at most 2, asked 3");
	u.min_nodes = 1;
	u.max_nodes = 5;
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_NODES);
	/* Fewer than planned breaks the run's process layout. */
	u.min_nodes = 1;
	u.max_nodes = 0;
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_NODES);
	assert_string_equal(f->err, "run " RUN_ID ": NumNodes: the run's "
			    "processes were planned for 2 node(s), asked 1");
}

static void test_update_time_refused(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .has_time_limit = 1,
				    .time_limit_minutes = 63 };

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_TIME);
	assert_string_equal(f->err, "run " RUN_ID ": TimeLimit: compute target "
			    "cpu allows at most 62 minutes (01:00:00 and 120 s "
			    "to finalize)");
	u.time_limit_minutes = UINT32_MAX;
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_TIME);
}

static void test_update_partition_qos_account(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .partition = "gpu" };
	const char *gpu = "aml run_id=" RUN_ID " experiment=hello target=gpu";

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_PARTITION);
	assert_non_null(strstr(f->err, "runs in partition debug only"));
	u.partition = NULL;
	u.qos = "low";
	assert_int_equal(check(f, gpu, &u), AML_UPDATE_QOS);
	/* cpu names no QOS: any will do. */
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_OK);
	u.qos = NULL;
	u.account = "physics";
	assert_int_equal(check(f, gpu, &u), AML_UPDATE_ACCOUNT);
	assert_string_equal(f->err, "run " RUN_ID ": Account: compute target "
			    "gpu does not allow account \"physics\"");
	/* The account is the user's word: it cannot forge a log line. */
	u.account = "ml\nrun x: ok";
	assert_int_equal(check(f, gpu, &u), AML_UPDATE_ACCOUNT);
	assert_null(strchr(f->err, '\n'));
	u.account = "ml";
	assert_int_equal(check(f, gpu, &u), AML_UPDATE_OK);
}

/* Fewer nodes than planned, even as a range, would break the layout. */
static void test_update_node_range_refused(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .has_nodes = 1, .min_nodes = 1,
				    .max_nodes = 2 };

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_NODES);
	assert_string_equal(f->err, "run " RUN_ID ": NumNodes: the run's "
			    "processes were planned for 2 node(s), asked 1");
	u.min_nodes = 2;
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_OK);
}

/* A target without Constraint allows no features: two targets on one
 * partition may differ by Constraint alone. */
static void test_update_features(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .features = "big" };

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_FEATURES);
	assert_string_equal(f->err, "run " RUN_ID ": Features: compute target "
			    "cpu sets no Constraint, so a run may not ask for "
			    "node features, asked \"big\"");
	u.features = "a100|big";
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_FEATURES);
	u.features = "";
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_OK);

	/* The target's own constraint, exactly; clearing it escapes. */
	u.features = "a100";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_OK);
	u.features = "big";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_FEATURES);
	assert_string_equal(f->err, "run " RUN_ID ": Features: compute target "
			    "gpu requires Constraint=a100 exactly, asked "
			    "\"big\"");
	u.features = "";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_FEATURES);
	u.features = "a100&big";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_FEATURES);
	/* A value that could forge a log line is shown escaped. */
	u.features = "x\ny";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_FEATURES);
	assert_null(strchr(f->err, '\n'));
}

static void test_update_batch_features(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .batch_features = "big" };

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_FEATURES);
	assert_string_equal(f->err, "run " RUN_ID ": BatchFeatures: would "
			    "bring a node with features \"big\" into the job, "
			    "past compute target cpu");
	u.batch_features = "";
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_OK);
}

static void test_update_gres(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .tres_per_node = "gres:gpu:1" };

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_GRES);
	assert_string_equal(f->err, "run " RUN_ID ": Gres: compute target cpu "
			    "has no Gres, asked \"gres:gpu:1\"");
	u.tres_per_node = "";
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_OK);

	u.tres_per_node = "gres:gpu:4";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_OK);
	u.tres_per_node = "gpu:4";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_OK);
	u.tres_per_node = "gres:gpu:8";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_GRES);
	assert_string_equal(f->err, "run " RUN_ID ": Gres: compute target gpu "
			    "gives gres gpu:4 per node only, asked "
			    "\"gres:gpu:8\"");
	u.tres_per_node = "gres:gpu:4,gres:nic:1";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_GRES);
	u.tres_per_node = "";
	assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_GRES);
}

/* TRES a run never asks for: only clearing them is no change. */
static void test_update_other_tres(void **state)
{
	struct fixture *f = *state;
	struct {
		const char *name;
		size_t offset;
	} fields[] = {
		{ "TresPerJob", offsetof(struct aml_job_update, tres_per_job) },
		{ "TresPerSocket", offsetof(struct aml_job_update, tres_per_socket) },
		{ "TresPerTask", offsetof(struct aml_job_update, tres_per_task) },
		{ "CpusPerTres", offsetof(struct aml_job_update, cpus_per_tres) },
		{ "MemPerTres", offsetof(struct aml_job_update, mem_per_tres) },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
		struct aml_job_update u = { 0 };
		const char **field = (const char **)((char *)&u +
						     fields[i].offset);
		char expected[256];

		*field = "gres:gpu:8";
		assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_GRES);
		snprintf(expected, sizeof(expected),
			 "run " RUN_ID ": %s: a run gets its devices per node "
			 "from compute target gpu (Gres), asked "
			 "\"gres:gpu:8\"", fields[i].name);
		assert_string_equal(f->err, expected);
		*field = "";
		assert_int_equal(check(f, GPU_ADMIN, &u), AML_UPDATE_OK);
	}
}

static void test_update_node_list(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .req_nodes = "n2" };

	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_NODELIST);
	assert_string_equal(f->err, "run " RUN_ID ": NodeList: a run's nodes "
			    "are chosen within compute target cpu; asked for "
			    "\"n2\"");
	u.req_nodes = "";
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_OK);
}

static void test_update_tasks(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .has_num_tasks = 1, .num_tasks = 4,
				    .has_ntasks_per_node = 1,
				    .ntasks_per_node = 2 };

	/* The planned layout again is no change. */
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_OK);
	u.num_tasks = 8;
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_TASKS);
	assert_string_equal(f->err, "run " RUN_ID ": NumTasks: the run's "
			    "processes were planned as 4 task(s), asked 8");
	u.num_tasks = 4;
	u.ntasks_per_node = 1;
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_TASKS);
	assert_string_equal(f->err, "run " RUN_ID ": NtasksPerNode: the run's "
			    "processes were planned with another layout, "
			    "asked 1");
	u.ntasks_per_node = 2;
	u.other_layout = "NtasksPerSocket";
	assert_int_equal(check(f, ADMIN, &u), AML_UPDATE_TASKS);
	assert_string_equal(f->err, "run " RUN_ID ": NtasksPerSocket: the "
			    "run's processes were planned with another layout");
}

/* Slurm placed the tasks (tpn 0), or the comment predates the layout:
 * no per-node count can be checked, so none is accepted. */
static void test_update_tasks_unknown_layout(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .has_ntasks_per_node = 1,
				    .ntasks_per_node = 2 };
	const char *placed = "aml run_id=" RUN_ID " experiment=hello "
			     "target=cpu nodes=2 tasks=5 tpn=0";
	const char *old = "aml run_id=" RUN_ID " experiment=hello "
			  "target=cpu nodes=2";

	assert_int_equal(check(f, placed, &u), AML_UPDATE_TASKS);
	assert_int_equal(check(f, old, &u), AML_UPDATE_TASKS);
	u.has_ntasks_per_node = 0;
	u.has_num_tasks = 1;
	u.num_tasks = 5;
	assert_int_equal(check(f, placed, &u), AML_UPDATE_OK);
	assert_int_equal(check(f, old, &u), AML_UPDATE_TASKS);
	assert_string_equal(f->err, "run " RUN_ID ": NumTasks: the run's "
			    "processes were planned for another task count, "
			    "asked 5");
}

/* What no target limits goes through, whatever else the run is. */
static void test_update_harmless(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update none = { 0 };

	assert_int_equal(check(f, ADMIN, &none), AML_UPDATE_OK);
	assert_int_equal(check(f, GPU_ADMIN, &none), AML_UPDATE_OK);
	assert_string_equal(f->err, "");
}

/* Each field the check judges makes an update one to look at; nothing
 * else does. */
static void test_update_asks_nothing(void **state)
{
	struct aml_job_update none = { 0 };
	const struct aml_job_update each[] = {
		{ .has_nodes = 1 }, { .has_time_limit = 1 },
		{ .partition = "" }, { .qos = "q" }, { .account = "a" },
		{ .features = "f" }, { .batch_features = "b" },
		{ .req_nodes = "n1" }, { .tres_per_node = "gres:gpu:1" },
		{ .tres_per_job = "x" }, { .tres_per_socket = "x" },
		{ .tres_per_task = "x" }, { .cpus_per_tres = "x" },
		{ .mem_per_tres = "x" }, { .has_num_tasks = 1 },
		{ .has_ntasks_per_node = 1 }, { .other_layout = "ntasks_per_core" },
	};

	(void)state;
	assert_true(aml_job_update_asks_nothing(&none));
	for (size_t i = 0; i < sizeof(each) / sizeof(each[0]); i++)
		assert_false(aml_job_update_asks_nothing(&each[i]));
}

static void test_update_target_gone(void **state)
{
	struct fixture *f = *state;
	struct aml_job_update u = { .has_nodes = 1, .min_nodes = 1 };
	struct aml_job_update hold = { 0 };

	assert_int_equal(check(f, "aml run_id=" RUN_ID " experiment=hello "
			       "target=retired", &u),
			 AML_UPDATE_TARGET_GONE);
	assert_non_null(strstr(f->err, "no longer in aml.conf"));
	/* Holding or releasing touches no limit. */
	assert_int_equal(check(f, "aml run_id=" RUN_ID " experiment=hello "
			       "target=retired", &hold), AML_UPDATE_OK);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_update_not_a_run),
		T(test_update_within_limits),
		T(test_update_nodes_refused),
		T(test_update_time_refused),
		T(test_update_partition_qos_account),
		T(test_update_node_range_refused),
		T(test_update_features),
		T(test_update_batch_features),
		T(test_update_gres),
		T(test_update_other_tres),
		T(test_update_node_list),
		T(test_update_tasks),
		T(test_update_tasks_unknown_layout),
		T(test_update_harmless),
		cmocka_unit_test(test_update_asks_nothing),
		T(test_update_target_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
