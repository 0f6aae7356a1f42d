/*
 * test_launch.c: the run's working directory and each task's distributed
 * environment (plugin/launch.c), for the layouts the node side meets:
 * 2 nodes x 2 tasks of PyTorch and MPI, TensorFlow's 2 workers and a
 * parameter server over 2 nodes, and no distribution at all.
 *
 * Job 4242 throughout, so the port base is 20000 + 4242 = 24242.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"

#define JOB 4242

static const char *const two_hosts[] = { "n1", "n2" };
static const uint32_t two_by_two[] = { 2, 2 };
static const uint32_t two_then_one[] = { 2, 1 };

static struct aml_runconfig config_of(enum aml_dist_type type)
{
	struct aml_runconfig rc;

	memset(&rc, 0, sizeof(rc));
	rc.distributed.type = type;
	rc.distributed.process_count_per_node = 2;
	return rc;
}

/* Global rank [rank] of a block-distributed step over [tpn]. */
static struct aml_task_place place_of(uint32_t rank, const uint32_t *tpn,
				      uint32_t n_nodes)
{
	struct aml_task_place p = {
		.job_id = JOB, .rank = rank, .n_nodes = n_nodes,
		.hosts = two_hosts, .tasks_per_host = tpn,
	};
	uint32_t first = 0;

	for (uint32_t i = 0; i < n_nodes; i++)
		p.world_size += tpn[i];
	while (rank >= first + tpn[p.node_rank])
		first += tpn[p.node_rank++];
	p.local_rank = rank - first;
	p.local_world = tpn[p.node_rank];
	return p;
}

/* [out] holds exactly [expected] (NULL-terminated), in order. */
static void assert_vars(const struct aml_strlist *out,
			const char *const *expected)
{
	size_t n = 0;

	while (expected[n])
		n++;
	for (size_t i = 0; i < n && i < out->count; i++)
		assert_string_equal(out->items[i], expected[i]);
	assert_int_equal(out->count, n);
	assert_null(out->items[out->count]);
}

/* ---- the working directory ---- */

static void test_workdir_path(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(aml_run_workdir("/tmp/aml-runs", "hello_1_ab", "n1",
					 buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/aml-runs/hello_1_ab/n1");
	/* As an admin may write RunDir: no doubled slash. */
	assert_int_equal(aml_run_workdir("/tmp/aml-runs//", "r", "n2", buf,
					 sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/aml-runs/r/n2");
	assert_int_equal(aml_run_workdir("/", "r", "n2", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/r/n2");
}

static void test_workdir_overflow(void **state)
{
	/* "/d/run/n1" is 9 characters: 10 bytes fit, 9 do not. */
	char buf[10];

	(void)state;
	assert_int_equal(aml_run_workdir("/d", "run", "n1", buf, 10), 0);
	assert_string_equal(buf, "/d/run/n1");
	assert_int_equal(aml_run_workdir("/d", "run", "n1", buf, 9), -1);
	assert_int_equal(aml_run_workdir("/d", "run", "n1", buf, 0), -1);
}

/* The run id comes from the job's environment, the user's to write: it
 * may name one directory, never a path out of RunDir. */
static void test_workdir_refuses_paths(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(aml_run_workdir("/d", "..", "n1", buf, sizeof(buf)),
			 -1);
	assert_int_equal(aml_run_workdir("/d", ".", "n1", buf, sizeof(buf)),
			 -1);
	assert_int_equal(aml_run_workdir("/d", "a/../..", "n1", buf,
					 sizeof(buf)), -1);
	assert_int_equal(aml_run_workdir("/d", "", "n1", buf, sizeof(buf)),
			 -1);
	assert_int_equal(aml_run_workdir("/d", "run", "../n1", buf,
					 sizeof(buf)), -1);
	assert_int_equal(aml_run_workdir("/d", "run", "", buf, sizeof(buf)),
			 -1);
	assert_int_equal(aml_run_workdir("", "run", "n1", buf, sizeof(buf)),
			 -1);
	assert_int_equal(aml_run_workdir(NULL, "run", "n1", buf, sizeof(buf)),
			 -1);
}

/* ---- PyTorch ---- */

static void test_pytorch_every_rank(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_PYTORCH);
	static const char *const expected[4][9] = {
		{ "MASTER_ADDR=n1", "MASTER_PORT=24242", "WORLD_SIZE=4",
		  "RANK=0", "LOCAL_RANK=0", "LOCAL_WORLD_SIZE=2",
		  "NODE_RANK=0", "GROUP_RANK=0", NULL },
		{ "MASTER_ADDR=n1", "MASTER_PORT=24242", "WORLD_SIZE=4",
		  "RANK=1", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=2",
		  "NODE_RANK=0", "GROUP_RANK=0", NULL },
		{ "MASTER_ADDR=n1", "MASTER_PORT=24242", "WORLD_SIZE=4",
		  "RANK=2", "LOCAL_RANK=0", "LOCAL_WORLD_SIZE=2",
		  "NODE_RANK=1", "GROUP_RANK=1", NULL },
		{ "MASTER_ADDR=n1", "MASTER_PORT=24242", "WORLD_SIZE=4",
		  "RANK=3", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=2",
		  "NODE_RANK=1", "GROUP_RANK=1", NULL },
	};

	(void)state;
	for (uint32_t rank = 0; rank < 4; rank++) {
		struct aml_task_place p = place_of(rank, two_by_two, 2);
		struct aml_strlist out = { 0 };

		assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
		assert_vars(&out, expected[rank]);
		aml_strlist_free(&out);
	}
}

/* Job ids wrap into 20000..29999: the same port on every node. */
static void test_pytorch_port_wraps(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_PYTORCH);
	struct aml_task_place p = place_of(0, two_by_two, 2);
	struct aml_strlist out = { 0 };

	(void)state;
	p.job_id = 1239999;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
	assert_string_equal(out.items[1], "MASTER_PORT=29999");
	aml_strlist_free(&out);
	p.job_id = 30000;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
	assert_string_equal(out.items[1], "MASTER_PORT=20000");
	aml_strlist_free(&out);
}

/* What the caller had stays, in front, and the list stays terminated. */
static void test_appends_to_existing(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_PYTORCH);
	struct aml_task_place p = place_of(2, two_by_two, 2);
	struct aml_strlist out = { 0 };

	(void)state;
	out.items = calloc(2, sizeof(char *));
	assert_non_null(out.items);
	out.items[0] = strdup("KEEP=1");
	out.count = 1;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
	assert_int_equal(out.count, 9);
	assert_string_equal(out.items[0], "KEEP=1");
	assert_string_equal(out.items[4], "RANK=2");
	assert_null(out.items[9]);
	aml_strlist_free(&out);
}

/* ---- MPI ---- */

static void test_mpi(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_MPI);
	static const char *const rank0[] = {
		"OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_RANK=0",
		"OMPI_COMM_WORLD_LOCAL_RANK=0", "OMPI_COMM_WORLD_LOCAL_SIZE=2",
		"OMPI_COMM_WORLD_NODE_RANK=0", "AZ_BATCH_MASTER_NODE=n1:24242",
		"PMI_RANK=0", "PMI_SIZE=4", NULL,
	};
	static const char *const rank3[] = {
		"OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_RANK=3",
		"OMPI_COMM_WORLD_LOCAL_RANK=1", "OMPI_COMM_WORLD_LOCAL_SIZE=2",
		"OMPI_COMM_WORLD_NODE_RANK=1", "AZ_BATCH_MASTER_NODE=n1:24242",
		"PMI_RANK=3", "PMI_SIZE=4", NULL,
	};
	struct aml_task_place p = place_of(0, two_by_two, 2);
	struct aml_strlist out = { 0 };

	(void)state;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
	assert_vars(&out, rank0);
	aml_strlist_free(&out);
	p = place_of(3, two_by_two, 2);
	assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
	assert_vars(&out, rank3);
	aml_strlist_free(&out);
}

/* ---- TensorFlow ---- */

#define TF_CLUSTER \
	"{\"cluster\":{\"worker\":[\"n1:24242\",\"n1:24243\"]," \
	"\"ps\":[\"n2:24242\"]},"

static void test_tensorflow_workers_and_ps(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_TENSORFLOW);
	static const char *const expected[3][2] = {
		{ "TF_CONFIG=" TF_CLUSTER
		  "\"task\":{\"type\":\"worker\",\"index\":0}}", NULL },
		{ "TF_CONFIG=" TF_CLUSTER
		  "\"task\":{\"type\":\"worker\",\"index\":1}}", NULL },
		{ "TF_CONFIG=" TF_CLUSTER
		  "\"task\":{\"type\":\"ps\",\"index\":0}}", NULL },
	};

	(void)state;
	rc.distributed.worker_count = 2;
	rc.distributed.parameter_server_count = 1;
	for (uint32_t rank = 0; rank < 3; rank++) {
		struct aml_task_place p = place_of(rank, two_then_one, 2);
		struct aml_strlist out = { 0 };

		assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
		assert_vars(&out, expected[rank]);
		aml_strlist_free(&out);
	}
}

static void test_tensorflow_without_ps(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_TENSORFLOW);
	struct aml_task_place p = place_of(2, two_by_two, 2);
	struct aml_strlist out = { 0 };
	static const char *const expected[] = {
		"TF_CONFIG={\"cluster\":{\"worker\":[\"n1:24242\",\"n1:24243\","
		"\"n2:24242\",\"n2:24243\"]},"
		"\"task\":{\"type\":\"worker\",\"index\":2}}",
		NULL,
	};

	(void)state;
	rc.distributed.worker_count = 4;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
	assert_vars(&out, expected);
	aml_strlist_free(&out);
}

/* Tasks that are neither a worker nor a parameter server of the
 * configuration cannot be given a role. */
static void test_tensorflow_count_mismatch(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_TENSORFLOW);
	struct aml_task_place p = place_of(0, two_by_two, 2);
	struct aml_strlist out = { 0 };

	(void)state;
	rc.distributed.worker_count = 2;
	rc.distributed.parameter_server_count = 1;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), -1);
	assert_int_equal(out.count, 0);
	rc.distributed.worker_count = 0;
	rc.distributed.parameter_server_count = 4;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), -1);
	assert_int_equal(out.count, 0);
	free(out.items);
}

/* The configuration as the node reads it: parsed, not built by hand. */
static void test_tensorflow_from_parsed_config(void **state)
{
	static const char text[] =
		"{\"script\": \"train.py\", \"distributed_job_config\":"
		" {\"type\": \"tensorflow\", \"worker_count\": 2,"
		"  \"parameter_server_count\": 1}, \"node_count\": 2}";
	struct aml_runconfig rc;
	struct aml_errors errs;
	struct aml_task_place p = place_of(2, two_then_one, 2);
	struct aml_strlist out = { 0 };

	(void)state;
	aml_errors_init(&errs, "run.json");
	assert_int_equal(aml_runconfig_parse(text, strlen(text), "run.json",
					     "/src", "hello", NULL, &rc, &errs), 0);
	aml_errors_free(&errs);
	assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
	assert_int_equal(out.count, 1);
	assert_string_equal(out.items[0], "TF_CONFIG=" TF_CLUSTER
			    "\"task\":{\"type\":\"ps\",\"index\":0}}");
	aml_strlist_free(&out);
	aml_runconfig_free(&rc);
}

/* ---- none ---- */

static void test_none_sets_nothing(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_NONE);
	struct aml_task_place p = place_of(1, two_by_two, 2);
	struct aml_task_place empty = { 0 };
	struct aml_strlist out = { 0 };

	(void)state;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), 0);
	assert_int_equal(out.count, 0);
	assert_null(out.items);
	/* Nothing is computed, so nothing about the place matters. */
	assert_int_equal(aml_distributed_env(&rc, &empty, &out), 0);
	assert_int_equal(out.count, 0);
}

/* ---- inconsistent places ---- */

static void expect_refused(const struct aml_task_place *p)
{
	static const enum aml_dist_type types[] = {
		AML_DIST_PYTORCH, AML_DIST_MPI, AML_DIST_TENSORFLOW,
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct aml_runconfig rc = config_of(types[i]);
		struct aml_strlist out = { 0 };

		rc.distributed.worker_count = p->world_size;
		assert_int_equal(aml_distributed_env(&rc, p, &out), -1);
		assert_int_equal(out.count, 0);
		free(out.items);
	}
}

static void test_inconsistent_places(void **state)
{
	static const char *const one_empty[] = { "n1", "" };
	static const char *const one_null[] = { "n1", NULL };
	static const uint32_t zero_on_one[] = { 4, 0 };
	static const uint32_t huge[] = { 40000, 1 };
	struct aml_task_place p;

	(void)state;
	p = place_of(3, two_by_two, 2);
	p.world_size = 5;               /* more than the hosts hold */
	expect_refused(&p);
	p = place_of(3, two_by_two, 2);
	p.rank = 4;                     /* past the end */
	p.world_size = 4;
	expect_refused(&p);
	p = place_of(3, two_by_two, 2);
	p.local_world = 3;              /* the node holds 2 */
	expect_refused(&p);
	p = place_of(3, two_by_two, 2);
	p.local_rank = 2;               /* past the node's tasks */
	expect_refused(&p);
	p = place_of(3, two_by_two, 2);
	p.local_rank = 0;               /* rank 3 is the second on n2 */
	expect_refused(&p);
	p = place_of(1, two_by_two, 2);
	p.node_rank = 1;                /* rank 1 is on n1 */
	expect_refused(&p);
	p = place_of(3, two_by_two, 2);
	p.node_rank = 2;                /* no third node */
	expect_refused(&p);
	p = place_of(0, two_by_two, 2);
	p.n_nodes = 0;
	expect_refused(&p);
	p = place_of(0, two_by_two, 2);
	p.hosts = NULL;
	expect_refused(&p);
	p = place_of(0, two_by_two, 2);
	p.tasks_per_host = NULL;
	expect_refused(&p);
	p = place_of(0, two_by_two, 2);
	p.hosts = one_empty;
	expect_refused(&p);
	p = place_of(0, two_by_two, 2);
	p.hosts = one_null;
	expect_refused(&p);
	p = place_of(0, zero_on_one, 2);
	p.node_rank = 0;
	p.local_world = 4;
	expect_refused(&p);
	/* 29999 + 40000 tasks on one host: ports past 65535. */
	p = place_of(0, huge, 2);
	p.job_id = 9999;
	expect_refused(&p);
}

/* A refusal leaves what the caller had, and only that. */
static void test_refusal_keeps_list(void **state)
{
	struct aml_runconfig rc = config_of(AML_DIST_MPI);
	struct aml_task_place p = place_of(0, two_by_two, 2);
	struct aml_strlist out = { 0 };

	(void)state;
	out.items = calloc(2, sizeof(char *));
	assert_non_null(out.items);
	out.items[0] = strdup("KEEP=1");
	out.count = 1;
	p.world_size = 3;
	assert_int_equal(aml_distributed_env(&rc, &p, &out), -1);
	assert_int_equal(out.count, 1);
	assert_string_equal(out.items[0], "KEEP=1");
	assert_null(out.items[1]);
	aml_strlist_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workdir_path),
		cmocka_unit_test(test_workdir_overflow),
		cmocka_unit_test(test_workdir_refuses_paths),
		cmocka_unit_test(test_pytorch_every_rank),
		cmocka_unit_test(test_pytorch_port_wraps),
		cmocka_unit_test(test_appends_to_existing),
		cmocka_unit_test(test_mpi),
		cmocka_unit_test(test_tensorflow_workers_and_ps),
		cmocka_unit_test(test_tensorflow_without_ps),
		cmocka_unit_test(test_tensorflow_count_mismatch),
		cmocka_unit_test(test_tensorflow_from_parsed_config),
		cmocka_unit_test(test_none_sets_nothing),
		cmocka_unit_test(test_inconsistent_places),
		cmocka_unit_test(test_refusal_keeps_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
