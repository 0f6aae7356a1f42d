/*
 * test_gpu_list.c: plugin/gpu_list.c, the GPUs Slurm lists in a job's
 * environment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gpu_list.h"

static void list_is(const char *text, size_t n, const unsigned *want)
{
	struct aml_gpu_list l;
	char err[256] = "";

	if (aml_gpu_list_parse("SLURM_JOB_GPUS", text, &l, err,
			       sizeof(err)) < 0) {
		print_error("\"%s\" refused: %s\n", text, err);
		fail();
	}
	assert_int_equal(l.count, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(l.ids[i], want[i]);
}

static void refused(const char *text, const char *msg)
{
	struct aml_gpu_list l;
	char err[256] = "";

	assert_int_equal(aml_gpu_list_parse("SLURM_JOB_GPUS", text, &l, err,
					    sizeof(err)), -1);
	assert_string_equal(err, msg);
	assert_int_equal(l.count, 0);
}

static void test_forms(void **state)
{
	(void)state;
	list_is("", 0, NULL);
	list_is("0", 1, (unsigned[]){ 0 });
	/* Slurm's order is kept: rank k gets the k-th. */
	list_is("5,2", 2, (unsigned[]){ 5, 2 });
	list_is("0-3,6", 5, (unsigned[]){ 0, 1, 2, 3, 6 });
	list_is("7-7", 1, (unsigned[]){ 7 });
	list_is("65535", 1, (unsigned[]){ 65535 });
}

static void test_refusals(void **state)
{
	(void)state;
	refused("NoDevFiles",
		"SLURM_JOB_GPUS: \"NoDevFiles\" is not a GPU index (a whole number from 0 to 65535, or a range A-B of them)");
	refused("GPU-8f6d2c3e-1a2b",
		"SLURM_JOB_GPUS: \"GPU-8f6d2c3e-1a2b\" is not a GPU index (a whole number from 0 to 65535, or a range A-B of them)");
	refused("0,,1",
		"SLURM_JOB_GPUS: \"\" is not a GPU index (a whole number from 0 to 65535, or a range A-B of them)");
	refused("1,", "SLURM_JOB_GPUS: \"\" is not a GPU index (a whole number from 0 to 65535, or a range A-B of them)");
	refused(" 1", "SLURM_JOB_GPUS: \" 1\" is not a GPU index (a whole number from 0 to 65535, or a range A-B of them)");
	refused("-1", "SLURM_JOB_GPUS: \"-1\" is not a GPU index (a whole number from 0 to 65535, or a range A-B of them)");
	refused("65536", "SLURM_JOB_GPUS: \"65536\" is not a GPU index (a whole number from 0 to 65535, or a range A-B of them)");
	refused("3-1", "SLURM_JOB_GPUS: range 3-1 goes backwards");
	refused("1,2,1", "SLURM_JOB_GPUS: GPU 1 is named twice");
	refused("0-3,2", "SLURM_JOB_GPUS: GPU 2 is named twice");
	refused("0-65535", "SLURM_JOB_GPUS: more than 256 GPUs");
}

struct fake_env {
	const char *const *pairs;
};

static const char *fake_getenv(const char *name, void *arg)
{
	const struct fake_env *e = arg;

	for (size_t i = 0; e->pairs[i]; i += 2)
		if (!strcmp(e->pairs[i], name))
			return e->pairs[i + 1];
	return NULL;
}

static void test_from_env_order(void **state)
{
	/* With ConstrainDevices, CUDA_VISIBLE_DEVICES is renumbered from
	 * 0: the node's own indices come first. */
	const char *const pairs[] = { "CUDA_VISIBLE_DEVICES", "0,1",
				      "SLURM_JOB_GPUS", "2,5", "SLURM_STEP_GPUS",
				      "", NULL };
	struct fake_env e = { pairs };
	struct aml_gpu_list l;
	const char *from;
	char err[256];

	(void)state;
	assert_int_equal(aml_gpu_list_from_env(fake_getenv, &e, &l, &from, err,
					       sizeof(err)), 0);
	assert_string_equal(from, "SLURM_JOB_GPUS");
	assert_int_equal(l.count, 2);
	assert_int_equal(l.ids[0], 2);
	assert_int_equal(l.ids[1], 5);
	assert_int_equal(aml_gpu_list_find(&l, 5), 1);
	assert_int_equal(aml_gpu_list_find(&l, 0), -1);
}

static void test_from_env_none_and_bad(void **state)
{
	const char *const none[] = { "PATH", "/bin", NULL };
	const char *const bad[] = { "GPU_DEVICE_ORDINAL", "x", NULL };
	struct fake_env e = { none };
	struct aml_gpu_list l;
	const char *from = "x";
	char err[256];

	(void)state;
	assert_int_equal(aml_gpu_list_from_env(fake_getenv, &e, &l, &from, err,
					       sizeof(err)), 0);
	assert_null(from);
	assert_int_equal(l.count, 0);
	e.pairs = bad;
	assert_int_equal(aml_gpu_list_from_env(fake_getenv, &e, &l, &from, err,
					       sizeof(err)), -1);
	assert_string_equal(from, "GPU_DEVICE_ORDINAL");
	assert_non_null(strstr(err, "GPU_DEVICE_ORDINAL: \"x\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_from_env_order),
		cmocka_unit_test(test_from_env_none_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
