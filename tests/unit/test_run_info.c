/*
 * Unit tests of plugin/run_info.c: a run read from history is freed
 * whole, and freeing it twice is harmless.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "run_info.h"

static void test_free_everything_and_zero(void **state)
{
	struct aml_run_info info = { 0 };
	const struct aml_run_info zero = { 0 };

	(void)state;
	info.experiment = strdup("exp");
	info.run_id = strdup("exp_1764089396_0a1b2c3d");
	info.owner = strdup("alice");
	info.key = strdup("0123456789abcdef0123456789abcdef");
	info.config_json = strdup("{}");
	assert_int_equal(aml_kvlist_set(&info.properties, "aml.user", "alice"), 0);
	assert_int_equal(aml_kvlist_set(&info.tags, "k", "v"), 0);
	info.events = calloc(2, sizeof(*info.events));
	assert_non_null(info.events);
	assert_int_equal(aml_event_init(&info.events[0], AML_STATUS_NOT_STARTED,
					AML_SOURCE_SBATCH), 0);
	assert_int_equal(aml_event_init(&info.events[1], AML_STATUS_QUEUED,
					AML_SOURCE_SBATCH), 0);
	assert_int_equal(aml_event_set_reason(&info.events[1], "held"), 0);
	info.n_events = 2;
	aml_run_state_init(&info.state);
	for (size_t i = 0; i < info.n_events; i++)
		(void)aml_run_state_apply(&info.state, &info.events[i]);

	aml_run_info_free(&info);
	assert_memory_equal(&info, &zero, sizeof(info));
	aml_run_info_free(&info);
	assert_memory_equal(&info, &zero, sizeof(info));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_everything_and_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
