/*
 * test_placement_node.c: plugin/placement_node.c, what one task does
 * about its placement, and how the node's hardware and placement are
 * recorded (tests/data/topology/gpu8.xml: GPUs 0-3 on package 0, 4-7 on
 * package 1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement_node.h"

static hwloc_topology_t gpu8(void)
{
	char path[4096], err[512];
	hwloc_topology_t t;

	snprintf(path, sizeof(path), "%s/topology/gpu8.xml",
		 getenv("AML_TEST_DATA"));
	if (aml_topology_load(&t, path, err, sizeof(err)) < 0) {
		print_error("%s\n", err);
		fail();
	}
	return t;
}

static const char *env_get(const char *name, void *arg)
{
	const char *const *pairs = arg;

	for (size_t i = 0; pairs[i]; i += 2)
		if (!strcmp(pairs[i], name))
			return pairs[i + 1];
	return NULL;
}

static const char *env_in(const struct aml_strlist *l, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < l->count; i++)
		if (!strncmp(l->items[i], name, n) && l->items[i][n] == '=')
			return l->items[i] + n + 1;
	return NULL;
}

/* Task [local] of [world] with the environment [pairs] and affinity
 * [cpus] (NULL: the whole node). */
static void task(enum aml_placement_mode mode, const char *const *pairs,
		 const char *cpus, unsigned local, unsigned world,
		 struct aml_task_placement *out, hwloc_topology_t t)
{
	hwloc_bitmap_t aff = hwloc_bitmap_alloc();
	struct aml_task_placement_in in = {
		.mode = mode, .topo = t, .affinity = aff, .getenv = env_get,
		.env_arg = (void *)pairs, .local_rank = local,
		.local_world = world,
	};
	char err[512];

	if (cpus)
		hwloc_bitmap_list_sscanf(aff, cpus);
	else
		hwloc_bitmap_copy(aff, hwloc_topology_get_allowed_cpuset(t));
	if (aml_task_placement(&in, out, err, sizeof(err)) < 0) {
		print_error("%s\n", err);
		fail();
	}
	hwloc_bitmap_free(aff);
}

static void test_bind_with_gpus(void **state)
{
	const char *const env[] = { "SLURM_JOB_GPUS", "2,5",
				    "CUDA_VISIBLE_DEVICES", "2,5", NULL };
	hwloc_topology_t t = gpu8();
	struct aml_task_placement tp;
	char cpus[64];

	(void)state;
	task(AML_PLACEMENT_HWLOC, env, NULL, 1, 2, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_BIND);
	aml_cpuset_text(tp.bind, cpus, sizeof(cpus));
	assert_string_equal(cpus, "8-15");
	assert_string_equal(env_in(&tp.env, "OMP_NUM_THREADS"), "8");
	assert_string_equal(env_in(&tp.env, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
	/* CUDA_VISIBLE_DEVICES stays as Slurm wrote it: cuda:1 is GPU 5. */
	assert_null(env_in(&tp.env, "CUDA_VISIBLE_DEVICES"));
	assert_int_equal(tp.place.ranks[1].gpu, 5);
	aml_task_placement_free(&tp);
	hwloc_topology_destroy(t);
}

/* What the run set is kept. */
static void test_run_set_threads(void **state)
{
	const char *const env[] = { "OMP_NUM_THREADS", "3",
				    "CUDA_DEVICE_ORDER", "FASTEST_FIRST",
				    "SLURM_JOB_GPUS", "0", NULL };
	hwloc_topology_t t = gpu8();
	struct aml_task_placement tp;

	(void)state;
	task(AML_PLACEMENT_HWLOC, env, NULL, 0, 4, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_BIND);
	assert_int_equal(tp.env.count, 0);
	assert_int_equal(tp.threads_for_omp, 0);
	aml_task_placement_free(&tp);
	hwloc_topology_destroy(t);
}

/* Slurm bound it: its affinity stays, OMP_NUM_THREADS follows it. */
static void test_slurm_bound(void **state)
{
	const char *const bound[] = { "SLURM_CPU_BIND_TYPE", "mask_cpu:", NULL };
	const char *const none[] = { NULL };
	const char *const bound_gpus[] = { "SLURM_JOB_GPUS", "0,1",
					   "CUDA_VISIBLE_DEVICES", "1", NULL };
	hwloc_topology_t t = gpu8();
	struct aml_task_placement tp;

	(void)state;
	/* --gpu-bind: the task sees one of the job's two GPUs. */
	task(AML_PLACEMENT_HWLOC, bound_gpus, NULL, 0, 2, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_KEEP_SLURM);
	assert_non_null(strstr(tp.why, "1 of the job's 2 visible"));
	aml_task_placement_free(&tp);
	task(AML_PLACEMENT_HWLOC, bound, "4-6", 0, 2, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_KEEP_SLURM);
	assert_null(tp.bind);
	assert_string_equal(env_in(&tp.env, "OMP_NUM_THREADS"), "3");
	aml_task_placement_free(&tp);
	/* Narrower than the job's CPUs with several tasks: bound too. */
	task(AML_PLACEMENT_HWLOC, none, "4-6", 0, 2, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_KEEP_SLURM);
	assert_non_null(strstr(tp.why, "narrower"));
	aml_task_placement_free(&tp);
	/* One task with fewer CPUs is the job's own cpuset: placed. */
	task(AML_PLACEMENT_HWLOC, none, "4-6", 0, 1, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_BIND);
	assert_string_equal(env_in(&tp.env, "OMP_NUM_THREADS"), "3");
	aml_task_placement_free(&tp);
	task(AML_PLACEMENT_SLURM, none, NULL, 0, 2, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_KEEP_SLURM);
	assert_string_equal(env_in(&tp.env, "OMP_NUM_THREADS"), "16");
	aml_task_placement_free(&tp);
	task(AML_PLACEMENT_NONE, none, NULL, 0, 2, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_LEAVE);
	assert_int_equal(tp.env.count, 0);
	assert_null(tp.bind);
	aml_task_placement_free(&tp);
	/* none still knows the GPUs, for the record. */
	task(AML_PLACEMENT_NONE, bound_gpus, NULL, 0, 2, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_LEAVE);
	assert_int_equal(tp.gpus.count, 2);
	assert_int_equal(tp.env.count, 0);
	aml_task_placement_free(&tp);
	hwloc_topology_destroy(t);
}

/* A GPU list that does not read leaves the GPUs out, with a warning. */
static void test_bad_gpu_list(void **state)
{
	const char *const env[] = { "SLURM_JOB_GPUS", "NoDevFiles", NULL };
	hwloc_topology_t t = gpu8();
	struct aml_task_placement tp;

	(void)state;
	task(AML_PLACEMENT_HWLOC, env, NULL, 0, 2, &tp, t);
	assert_int_equal(tp.action, AML_PLACE_BIND);
	assert_int_equal(tp.gpus.count, 0);
	assert_non_null(strstr(tp.warning, "SLURM_JOB_GPUS: \"NoDevFiles\""));
	assert_null(env_in(&tp.env, "CUDA_DEVICE_ORDER"));
	aml_task_placement_free(&tp);
	hwloc_topology_destroy(t);
}

static void test_properties(void **state)
{
	const char *const env[] = { "SLURM_JOB_GPUS", "2,5", NULL };
	const char *const bound[] = { "SLURM_CPU_BIND_TYPE", "cores", NULL };
	const unsigned ranks[] = { 6, 7 };
	hwloc_topology_t t = gpu8();
	struct aml_task_placement tp;
	struct aml_kvlist props = { 0 };

	(void)state;
	task(AML_PLACEMENT_HWLOC, env, NULL, 0, 2, &tp, t);
	assert_int_equal(aml_placement_properties(t, "n1", &tp, ranks, &props),
			 0);
	assert_string_equal(aml_kvlist_get(&props, "aml.node.n1.cpu"),
			    "Test CPU 8-core: 2 packages, 16 cores, 16 threads");
	assert_string_equal(aml_kvlist_get(&props, "aml.node.n1.numa"),
			    "2 nodes: 0 64.0 GiB, 1 64.0 GiB");
	assert_string_equal(aml_kvlist_get(&props, "aml.node.n1.gpus"),
			    "2 NVIDIA A100-SXM4-40GB 0000:48:00.0, "
			    "5 NVIDIA A100-SXM4-40GB 0001:8b:00.0");
	assert_string_equal(aml_kvlist_get(&props, "aml.placement.6"),
			    "n1 local 0 cpus 0-7 cores 8 gpu 2");
	assert_string_equal(aml_kvlist_get(&props, "aml.placement.7"),
			    "n1 local 1 cpus 8-15 cores 8 gpu 5");
	aml_kvlist_free(&props);
	aml_task_placement_free(&tp);

	task(AML_PLACEMENT_HWLOC, bound, NULL, 0, 2, &tp, t);
	assert_int_equal(aml_placement_properties(t, "n2", &tp, NULL, &props),
			 0);
	assert_string_equal(aml_kvlist_get(&props, "aml.placement.n2"),
			    "slurm: Slurm bound the task (SLURM_CPU_BIND_TYPE=cores)");
	assert_null(aml_kvlist_get(&props, "aml.node.n2.gpus"));
	aml_kvlist_free(&props);
	aml_task_placement_free(&tp);
	hwloc_topology_destroy(t);
}

/* A big node stays a bounded record. */
static void test_properties_bounded(void **state)
{
	const char *const env[] = { NULL };
	struct aml_task_placement tp;
	struct aml_kvlist props = { 0 };
	hwloc_topology_t t;
	size_t bytes = 0;

	(void)state;
	assert_int_equal(hwloc_topology_init(&t), 0);
	assert_int_equal(hwloc_topology_set_synthetic(t, "pack:4 numa:8 core:16 pu:2"), 0);
	assert_int_equal(hwloc_topology_load(t), 0);
	task(AML_PLACEMENT_HWLOC, env, NULL, 0, 300, &tp, t);
	assert_int_equal(aml_placement_properties(t, "big", &tp, NULL, &props),
			 0);
	assert_non_null(aml_kvlist_get(&props, "aml.placement.63"));
	assert_null(aml_kvlist_get(&props, "aml.placement.64"));
	assert_non_null(strstr(aml_kvlist_get(&props, "aml.node.big.numa"),
			       ", ..."));
	for (size_t i = 0; i < props.count; i++)
		bytes += strlen(props.items[i].key) +
			 strlen(props.items[i].value);
	assert_true(bytes < 16384);
	aml_kvlist_free(&props);
	aml_task_placement_free(&tp);
	hwloc_topology_destroy(t);
}

static void test_row_parse(void **state)
{
	struct aml_placement_row row;

	(void)state;
	assert_int_equal(aml_placement_row_parse("aml.placement.7",
						 "n1 local 1 cpus 8-15 cores 8 gpu 5",
						 &row), 0);
	assert_int_equal(row.rank, 7);
	assert_string_equal(row.node, "n1");
	assert_int_equal(row.local, 1);
	assert_string_equal(row.cpus, "8-15");
	assert_int_equal(row.cores, 8);
	assert_int_equal(row.gpu, 5);
	assert_int_equal(row.shared, 0);
	assert_int_equal(aml_placement_row_parse("aml.placement.0",
						 "n1 local 0 cpus 0 cores 1 gpu - shared",
						 &row), 0);
	assert_int_equal(row.gpu, -1);
	assert_int_equal(row.shared, 1);
	assert_int_equal(aml_placement_row_parse("aml.placement.n1",
						 "slurm: Placement=slurm",
						 &row), -1);
	assert_int_equal(aml_placement_row_parse("aml.placement.1",
						 "n1 local 0 cpus 0 cores 1 gpu x",
						 &row), -1);
	assert_int_equal(aml_placement_row_parse("aml.placement.1",
						 "n1 local 0 cpus 0 cores 1 gpu 1 more",
						 &row), -1);
	assert_int_equal(aml_placement_row_parse("aml.node.n1.cpu", "x", &row),
			 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind_with_gpus),
		cmocka_unit_test(test_run_set_threads),
		cmocka_unit_test(test_slurm_bound),
		cmocka_unit_test(test_bad_gpu_list),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_properties_bounded),
		cmocka_unit_test(test_row_parse),
	};

	if (!getenv("AML_TEST_DATA")) {
		printf("1..0 # SKIP AML_TEST_DATA is not set\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
