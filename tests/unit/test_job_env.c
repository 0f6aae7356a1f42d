/*
 * test_job_env.c: what makes a name a variable name (plugin/job_env.c),
 * and the names the stages of a run hand each other.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "job_env.h"

static void test_env_names(void **state)
{
	(void)state;
	assert_true(aml_is_env_name("_A1"));
	assert_false(aml_is_env_name(""));
	assert_false(aml_is_env_name("A B"));
	assert_false(aml_is_env_name(NULL));
	assert_true(aml_is_env_name("a"));
	assert_true(aml_is_env_name("PATH_2"));
	assert_false(aml_is_env_name("1BAD"));
	assert_false(aml_is_env_name("A-B"));
	assert_false(aml_is_env_name("A=B"));
	assert_false(aml_is_env_name("\xc3\xa9"));
}

/* Slurm's spelling of the SPANK variables at each stage, which the names
 * built from the prefixes must match exactly. */
static void test_spank_names(void **state)
{
	(void)state;
	assert_string_equal(AML_ENV_NODE_CONFIG, "SLURM_SPANK_AML_CONFIG");
	assert_string_equal(AML_EPILOG_RUN_ID, "SPANK_AML_RUN_ID");
	assert_string_equal(AML_EPILOG_CONFIG, "SPANK_AML_CONFIG");
	assert_string_equal(AML_EPILOG_MLFLOW_RUN_ID,
			    "SPANK_AML_MLFLOW_RUN_ID");
	assert_string_equal(AML_ENV_INHERITED_OPTION,
			    "SLURM_SPANK__SLURM_SPANK_OPTION_aml_aml_run");
}

/* Every AML_ name the controller writes is under the reserved prefix, so
 * a user's configuration cannot set it. */
static void test_reserved_prefix(void **state)
{
	const char *const names[] = {
		AML_JOBENV_RUN_ID, AML_JOBENV_SNAPSHOT,
		AML_JOBENV_MLFLOW_RUN_ID, AML_ENV_COMPUTE_TARGET,
		AML_ENV_MAX_RUN_DURATION, AML_ENV_PROCESS_COUNT,
		AML_ENV_DIST_TYPE, AML_ENV_WORKDIR, AML_ENV_LAUNCH_STEP,
	};
	size_t n = strlen(AML_ENV_RESERVED_PREFIX);

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		assert_true(aml_is_env_name(names[i]));
		assert_memory_equal(names[i], AML_ENV_RESERVED_PREFIX, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_names),
		cmocka_unit_test(test_spank_names),
		cmocka_unit_test(test_reserved_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
