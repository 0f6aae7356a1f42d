/*
 * test_placement.c: plugin/placement.c, each local rank's GPU and cores,
 * on topologies from tests/data/topology/ (hand-written hwloc XML: a
 * 2-package node with GPUs 0-3 on package 0 and 4-7 on package 1, and an
 * SMT node) and hwloc synthetic descriptions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"

static hwloc_topology_t load_xml(const char *name)
{
	const char *dir = getenv("AML_TEST_DATA");
	char path[4096], err[512];
	hwloc_topology_t t;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/topology/%s", dir, name);
	if (aml_topology_load(&t, path, err, sizeof(err)) < 0) {
		print_error("%s\n", err);
		fail();
	}
	return t;
}

/* Descriptions name their NUMA level: without one, hwloc 2.9 makes it
 * with an overlapping memcpy valgrind reports (not ours). */
static hwloc_topology_t load_synthetic(const char *desc)
{
	hwloc_topology_t t;

	assert_int_equal(hwloc_topology_init(&t), 0);
	assert_int_equal(hwloc_topology_set_synthetic(t, desc), 0);
	assert_int_equal(hwloc_topology_load(t), 0);
	return t;
}

/* Place [n] ranks with [gpus] (NULL: none) on [cpus] ("0-7"; NULL:
 * every CPU), checking what every placement must be: disjoint (unless
 * shared), non-empty, inside the allowed set, core counts within one of
 * each other. */
static void place(hwloc_topology_t t, const char *cpus, const char *gpus,
		  unsigned n, struct aml_placement *p)
{
	hwloc_bitmap_t allowed = hwloc_bitmap_alloc(), seen = hwloc_bitmap_alloc();
	struct aml_gpu_list gl;
	struct aml_placement_input in = { .topo = t, .n_ranks = n };
	char err[512];
	unsigned lo = ~0u, hi = 0;

	if (cpus)
		hwloc_bitmap_list_sscanf(allowed, cpus);
	else
		hwloc_bitmap_copy(allowed, hwloc_topology_get_allowed_cpuset(t));
	in.allowed = allowed;
	if (gpus) {
		assert_int_equal(aml_gpu_list_parse("SLURM_JOB_GPUS", gpus, &gl,
						    err, sizeof(err)), 0);
		in.gpus = &gl;
	}
	if (aml_placement_compute(&in, p, err, sizeof(err)) < 0) {
		print_error("%s\n", err);
		fail();
	}
	assert_int_equal(p->n_ranks, n);
	for (size_t r = 0; r < n; r++) {
		hwloc_const_bitmap_t s = p->ranks[r].cpuset;

		assert_false(hwloc_bitmap_iszero(s));
		assert_true(hwloc_bitmap_isincluded(s, allowed));
		if (p->unit != AML_PLACE_SHARED)
			assert_false(hwloc_bitmap_intersects(s, seen));
		hwloc_bitmap_or(seen, seen, s);
		if (p->ranks[r].threads < lo)
			lo = p->ranks[r].threads;
		if (p->ranks[r].threads > hi)
			hi = p->ranks[r].threads;
	}
	/* Every allowed CPU is someone's: nothing left idle. */
	assert_true(hwloc_bitmap_isequal(seen, allowed) ||
		    p->unit == AML_PLACE_SHARED);
	if (p->unit != AML_PLACE_SHARED && hwloc_get_nbobjs_by_type(
			t, HWLOC_OBJ_PU) == hwloc_get_nbobjs_by_type(
			t, HWLOC_OBJ_CORE))
		assert_true(hi - lo <= 1);
	hwloc_bitmap_free(allowed);
	hwloc_bitmap_free(seen);
}

static void cpus_are(const struct aml_placement *p, size_t r,
		     const char *want)
{
	char got[256];

	aml_cpuset_text(p->ranks[r].cpuset, got, sizeof(got));
	if (strcmp(got, want)) {
		print_error("rank %zu: cpus %s, want %s\n", r, got, want);
		fail();
	}
}

static void test_topology_gpus(void **state)
{
	hwloc_topology_t t = load_xml("gpu8.xml");
	struct aml_topo_gpu *g;
	size_t n;

	(void)state;
	assert_int_equal(aml_topo_gpus(t, &g, &n), 0);
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		hwloc_obj_t pkg = hwloc_get_obj_by_type(t, HWLOC_OBJ_PACKAGE,
							(unsigned)(i / 4));

		assert_int_equal(g[i].index, i);
		assert_string_equal(g[i].model, "NVIDIA A100-SXM4-40GB");
		assert_true(hwloc_bitmap_isequal(g[i].near->cpuset,
						 pkg->cpuset));
	}
	assert_string_equal(g[0].busid, "0000:07:00.0");
	assert_string_equal(g[5].busid, "0001:8b:00.0");
	free(g);
	hwloc_topology_destroy(t);
}

/* 8 ranks, 8 GPUs, 16 cores: rank k gets GPU k and two cores of the
 * package its GPU is on. */
static void test_full_gpu_node(void **state)
{
	hwloc_topology_t t = load_xml("gpu8.xml");
	struct aml_placement p;
	char want[16];

	(void)state;
	place(t, NULL, "0-7", 8, &p);
	assert_int_equal(p.unit, AML_PLACE_CORES);
	assert_int_equal(p.cores, 16);
	for (unsigned r = 0; r < 8; r++) {
		assert_int_equal(p.ranks[r].gpu, (int)r);
		assert_true(p.ranks[r].gpu_near);
		assert_int_equal(p.ranks[r].cores, 2);
		snprintf(want, sizeof(want), "%u-%u", 2 * r, 2 * r + 1);
		cpus_are(&p, r, want);
	}
	assert_string_equal(p.note, "");
	aml_placement_free(&p);
	hwloc_topology_destroy(t);
}

/* GPUs 2 and 5 only: one rank on each package, all of its cores. */
static void test_gpus_2_and_5(void **state)
{
	hwloc_topology_t t = load_xml("gpu8.xml");
	struct aml_placement p;

	(void)state;
	place(t, NULL, "5,2", 2, &p);
	assert_int_equal(p.ranks[0].gpu, 5);
	assert_int_equal(p.ranks[1].gpu, 2);
	cpus_are(&p, 0, "8-15");
	cpus_are(&p, 1, "0-7");
	aml_placement_free(&p);
	place(t, NULL, "2,5", 2, &p);
	cpus_are(&p, 0, "0-7");
	cpus_are(&p, 1, "8-15");
	assert_int_equal(p.ranks[0].cores, 8);
	aml_placement_free(&p);
	hwloc_topology_destroy(t);
}

/* The job was given only package 0's cores: the ranks whose GPUs are
 * on package 1 still get cores, from what there is, and the
 * placement says their GPUs are far. */
static void test_half_the_cores(void **state)
{
	hwloc_topology_t t = load_xml("gpu8.xml");
	struct aml_placement p;

	(void)state;
	place(t, "0-7", "0-7", 8, &p);
	for (unsigned r = 0; r < 8; r++) {
		char want[8];

		snprintf(want, sizeof(want), "%u", r);
		cpus_are(&p, r, want);
		assert_int_equal(p.ranks[r].gpu_near, r < 4);
	}
	assert_non_null(strstr(p.note, "4 of 8 ranks' GPUs are not in the topology, or have none of the job's cores near them"));
	aml_placement_free(&p);
	/* Both GPUs far: the cores split in blocks all the same. */
	place(t, "0-7", "4,5", 2, &p);
	cpus_are(&p, 0, "0-3");
	cpus_are(&p, 1, "4-7");
	aml_placement_free(&p);
	hwloc_topology_destroy(t);
}

/* Fewer GPUs than ranks: the ranks past them get none, and cores on the
 * package with room, in blocks. */
static void test_fewer_gpus_than_ranks(void **state)
{
	hwloc_topology_t t = load_xml("gpu8.xml");
	struct aml_placement p;

	(void)state;
	place(t, NULL, "0,4", 4, &p);
	assert_int_equal(p.ranks[0].gpu, 0);
	assert_int_equal(p.ranks[1].gpu, 4);
	assert_int_equal(p.ranks[2].gpu, -1);
	assert_int_equal(p.ranks[3].gpu, -1);
	cpus_are(&p, 0, "0-3");
	cpus_are(&p, 1, "8-11");
	cpus_are(&p, 2, "4-7");
	cpus_are(&p, 3, "12-15");
	assert_string_equal(p.note, "4 ranks, 2 GPUs: ranks 2-3 get no GPU");
	aml_placement_free(&p);
	hwloc_topology_destroy(t);
}

/* No GPU at all: blocks, one package after the other. */
static void test_no_gpus(void **state)
{
	hwloc_topology_t t = load_synthetic("pack:2 numa:1 core:4 pu:1");
	struct aml_placement p;

	(void)state;
	place(t, NULL, NULL, 4, &p);
	cpus_are(&p, 0, "0-1");
	cpus_are(&p, 1, "2-3");
	cpus_are(&p, 2, "4-5");
	cpus_are(&p, 3, "6-7");
	assert_int_equal(p.ranks[0].gpu, -1);
	aml_placement_free(&p);
	/* Uneven: counts differ by one at most (place checks). */
	place(t, NULL, NULL, 3, &p);
	assert_int_equal(p.ranks[0].threads, 3);
	assert_int_equal(p.ranks[2].threads, 2);
	aml_placement_free(&p);
	/* GPUs the topology does not have: placed as without. */
	place(t, NULL, "0,1", 2, &p);
	cpus_are(&p, 0, "0-3");
	cpus_are(&p, 1, "4-7");
	assert_non_null(strstr(p.note, "(it shows no GPU)"));
	aml_placement_free(&p);
	hwloc_topology_destroy(t);
}

/* SMT: whole cores (both threads) while there are enough, then threads,
 * then shared. */
static void test_smt(void **state)
{
	hwloc_topology_t t = load_xml("smt.xml");
	struct aml_placement p;

	(void)state;
	place(t, NULL, NULL, 4, &p);
	assert_int_equal(p.unit, AML_PLACE_CORES);
	cpus_are(&p, 0, "0,4");
	cpus_are(&p, 3, "3,7");
	assert_int_equal(p.ranks[0].cores, 1);
	assert_int_equal(p.ranks[0].threads, 2);
	aml_placement_free(&p);
	place(t, NULL, NULL, 2, &p);
	cpus_are(&p, 0, "0-1,4-5");
	assert_int_equal(p.ranks[0].cores, 2);
	aml_placement_free(&p);
	place(t, NULL, NULL, 8, &p);
	assert_int_equal(p.unit, AML_PLACE_THREADS);
	cpus_are(&p, 0, "0");
	cpus_are(&p, 1, "4");
	assert_int_equal(p.ranks[1].cores, 1);
	assert_non_null(strstr(p.note, "8 ranks on 4 cores"));
	aml_placement_free(&p);
	place(t, NULL, NULL, 10, &p);
	assert_int_equal(p.unit, AML_PLACE_SHARED);
	cpus_are(&p, 8, "0");
	assert_string_equal(p.note, "10 ranks share 8 hardware threads");
	aml_placement_free(&p);
	/* Half a core given: it counts as the rank's core. */
	place(t, "0-3", NULL, 2, &p);
	cpus_are(&p, 0, "0-1");
	assert_int_equal(p.ranks[0].cores, 2);
	aml_placement_free(&p);
	hwloc_topology_destroy(t);
}

/* The same input gives the same answer, whoever asks and how often. */
static void test_stable(void **state)
{
	hwloc_topology_t t = load_xml("gpu8.xml"), u = load_xml("gpu8.xml");
	struct aml_placement a, b;

	(void)state;
	place(t, "1-6,9-14", "1,3,4,6", 5, &a);
	place(u, "1-6,9-14", "1,3,4,6", 5, &b);
	for (size_t r = 0; r < 5; r++) {
		assert_true(hwloc_bitmap_isequal(a.ranks[r].cpuset,
						 b.ranks[r].cpuset));
		assert_int_equal(a.ranks[r].gpu, b.ranks[r].gpu);
	}
	aml_placement_free(&a);
	aml_placement_free(&b);
	hwloc_topology_destroy(t);
	hwloc_topology_destroy(u);
}

static void test_refusals(void **state)
{
	hwloc_topology_t t = load_synthetic("pack:2 numa:1 core:2 pu:1");
	hwloc_bitmap_t none = hwloc_bitmap_alloc();
	struct aml_placement_input in = { .topo = t, .n_ranks = 0 };
	struct aml_placement p;
	char err[256];

	(void)state;
	hwloc_bitmap_set(none, 40);
	in.allowed = hwloc_topology_get_allowed_cpuset(t);
	assert_int_equal(aml_placement_compute(&in, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "0 ranks on a node: must be from 1 to 4096");
	in.n_ranks = 1;
	in.allowed = none;
	assert_int_equal(aml_placement_compute(&in, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "the job's CPUs (40) are none of the node's");
	assert_int_equal(aml_topology_load(&t, "/nonexistent.xml", err,
					   sizeof(err)) + 1, 0);
	assert_non_null(strstr(err, "/nonexistent.xml"));
	hwloc_bitmap_free(none);
	hwloc_topology_destroy(in.topo);
}

static void test_decide(void **state)
{
	struct aml_placement_facts f = { 0 };
	char why[160];

	(void)state;
	assert_int_equal(aml_placement_decide(AML_PLACEMENT_HWLOC, &f, why,
					      sizeof(why)), AML_PLACE_BIND);
	f.cpu_bind_type = "none,";
	assert_int_equal(aml_placement_decide(AML_PLACEMENT_HWLOC, &f, why,
					      sizeof(why)), AML_PLACE_BIND);
	f.cpu_bind_type = "cores,";
	assert_int_equal(aml_placement_decide(AML_PLACEMENT_HWLOC, &f, why,
					      sizeof(why)),
			 AML_PLACE_KEEP_SLURM);
	assert_string_equal(why, "Slurm bound the task (SLURM_CPU_BIND_TYPE=cores,)");
	f.cpu_bind_type = NULL;
	f.affinity_narrower = 1;
	assert_int_equal(aml_placement_decide(AML_PLACEMENT_HWLOC, &f, NULL, 0),
			 AML_PLACE_KEEP_SLURM);
	f.affinity_narrower = 0;
	f.job_gpus = 4;
	f.visible_gpus = 1;
	assert_int_equal(aml_placement_decide(AML_PLACEMENT_HWLOC, &f, why,
					      sizeof(why)),
			 AML_PLACE_KEEP_SLURM);
	assert_string_equal(why, "Slurm bound the task's GPUs (1 of the job's 4 visible)");
	f.visible_gpus = 4;
	assert_int_equal(aml_placement_decide(AML_PLACEMENT_SLURM, &f, why,
					      sizeof(why)),
			 AML_PLACE_KEEP_SLURM);
	assert_int_equal(aml_placement_decide(AML_PLACEMENT_NONE, &f, why,
					      sizeof(why)), AML_PLACE_LEAVE);
}

static void test_modes_and_text(void **state)
{
	enum aml_placement_mode m;
	hwloc_bitmap_t s = hwloc_bitmap_alloc();
	char buf[12];

	(void)state;
	assert_int_equal(aml_placement_mode_parse("HWLOC", &m), 0);
	assert_int_equal(m, AML_PLACEMENT_HWLOC);
	assert_int_equal(aml_placement_mode_parse("none", &m), 0);
	assert_int_equal(m, AML_PLACEMENT_NONE);
	assert_int_equal(aml_placement_mode_parse("slurm", &m), 0);
	assert_int_equal(m, AML_PLACEMENT_SLURM);
	assert_int_equal(aml_placement_mode_parse("auto", &m), -1);
	assert_string_equal(aml_placement_mode_name(AML_PLACEMENT_SLURM),
			    "slurm");
	hwloc_bitmap_list_sscanf(s, "0,2,4,6,8,10,12");
	aml_cpuset_text(s, buf, sizeof(buf));
	assert_string_equal(buf, "0,2,4,6,...");
	hwloc_bitmap_list_sscanf(s, "0-3");
	aml_cpuset_text(s, buf, sizeof(buf));
	assert_string_equal(buf, "0-3");
	hwloc_bitmap_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topology_gpus),
		cmocka_unit_test(test_full_gpu_node),
		cmocka_unit_test(test_gpus_2_and_5),
		cmocka_unit_test(test_half_the_cores),
		cmocka_unit_test(test_fewer_gpus_than_ranks),
		cmocka_unit_test(test_no_gpus),
		cmocka_unit_test(test_smt),
		cmocka_unit_test(test_stable),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_modes_and_text),
	};

	if (!getenv("AML_TEST_DATA")) {
		printf("1..0 # SKIP AML_TEST_DATA is not set\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
