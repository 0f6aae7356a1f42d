/*
 * test_mlflow_find.c: rest/mlflow_find.c's rules that need no server:
 * experiments by id and name, who made a run, the run a create made, and
 * which of several runs of one name a caller without a key may take.
 * Finding runs on a server is test_history_mlflow's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlflow_internal.h"

static char *dup(const char *s)
{
	char *copy = strdup(s);

	assert_non_null(copy);
	return copy;
}

static void test_experiments(void **state)
{
	struct aml_mlflow_experiment items[] = {
		{ .id = "1", .name = "train" },
		{ .id = "2", .name = NULL },
		{ .id = "3", .name = "train" },
	};
	struct aml_mlflow_experiments all = { .items = items, .count = 3 };
	const char **ids;
	size_t n;

	(void)state;
	assert_string_equal(mf_experiment_name(&all, "3"), "train");
	assert_null(mf_experiment_name(&all, "2"));
	assert_null(mf_experiment_name(&all, "9"));
	assert_null(mf_experiment_name(&all, NULL));
	assert_null(mf_experiment_name(NULL, "1"));

	ids = mf_experiment_ids(&all, "train", &n);
	assert_non_null(ids);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], "1");
	assert_string_equal(ids[1], "3");
	free(ids);
	ids = mf_experiment_ids(&all, NULL, &n);
	assert_int_equal(n, 3);
	free(ids);
}

static void test_owner_of(void **state)
{
	struct aml_mlflow_run run = { 0 };

	(void)state;
	assert_string_equal(mf_owner_of(&run), "?");
	assert_int_equal(aml_kvlist_set(&run.tags, "mlflow.user", "bob"), 0);
	assert_string_equal(mf_owner_of(&run), "bob");
	/* The server's own field first; empty is none. */
	run.user_id = "";
	assert_string_equal(mf_owner_of(&run), "bob");
	run.user_id = "alice";
	assert_string_equal(mf_owner_of(&run), "alice");
	aml_kvlist_free(&run.tags);
}

/* Runs named r1: one of alice's in experiment 1, one of bob's in 2. */
static void two_runs(struct aml_mlflow_runs *found)
{
	found->count = 2;
	found->items = calloc(2, sizeof(*found->items));
	assert_non_null(found->items);
	found->items[0].run_id = dup("aaa");
	found->items[0].user_id = dup("alice");
	found->items[0].experiment_id = dup("1");
	found->items[1].run_id = dup("bbb");
	found->items[1].user_id = dup("bob");
	found->items[1].experiment_id = dup("2");
	assert_int_equal(aml_kvlist_set(&found->items[1].tags,
					"aml.event.001.0.1796655463633."
					"5f0c1a2b3c4d5e6f", "{}"), 0);
	/* An older release's key, and a tag that only looks like one. */
	assert_int_equal(aml_kvlist_set(&found->items[0].tags,
					"aml.event.0001.0123456789abcdef",
					"{}"), 0);
	assert_int_equal(aml_kvlist_set(&found->items[0].tags,
					"aml.refused.fedcba9876543210", "{}"),
			 0);
}

static void test_made_by(void **state)
{
	struct aml_mlflow_runs found = { 0 };
	struct aml_mlflow_run run;

	(void)state;
	two_runs(&found);
	assert_int_equal(mf_made_by(&found, "1796655463633", &run), 1);
	assert_int_equal(mf_made_by(&found, "c4d5e6f", &run), 1);
	assert_int_equal(mf_made_by(&found, "fedcba9876543210", &run), 1);
	assert_int_equal(mf_made_by(&found, "5f0c1a2b3c4d5e6f", &run), 0);
	assert_string_equal(run.run_id, "bbb");
	/* Moved out: found keeps an empty place. */
	assert_null(found.items[1].run_id);
	aml_mlflow_run_free(&run);
	/* A run an older release made is found by the same id. */
	assert_int_equal(mf_made_by(&found, "0123456789abcdef", &run), 0);
	assert_string_equal(run.run_id, "aaa");
	aml_mlflow_run_free(&run);
	aml_mlflow_runs_free(&found);
}

static void test_choose_run(void **state)
{
	struct aml_mlflow_experiment items[] = { { .id = "2", .name = "exp" } };
	struct aml_mlflow_experiments all = { .items = items, .count = 1 };
	struct mlflow m = { .base = "https://ml.example", .uid = 1000,
			    .user = "alice" };
	struct aml_mlflow_runs found = { 0 };
	struct aml_mlflow_run run;
	char err[512];

	(void)state;
	/* Of several, the caller's own. */
	two_runs(&found);
	assert_int_equal(mf_choose_run(&m, &found, "r1", 0, &all, &run, err,
				       sizeof(err)), 0);
	assert_string_equal(run.run_id, "aaa");
	aml_mlflow_run_free(&run);
	aml_mlflow_runs_free(&found);

	/* None the caller's: a writer finds none; a reader is told which
	 * there are, never given one. */
	two_runs(&found);
	snprintf(m.user, sizeof(m.user), "carol");
	assert_int_equal(mf_choose_run(&m, &found, "r1", 1, &all, &run, err,
				       sizeof(err)), 1);
	assert_int_equal(mf_choose_run(&m, &found, "r1", 0, &all, &run, err,
				       sizeof(err)), AML_BACKEND_REFUSED);
	assert_string_equal(err, "run history (MLflow): 2 runs on "
			    "https://ml.example are named r1: MLflow run aaa "
			    "(owner alice), MLflow run bbb (owner bob, "
			    "experiment exp); none is yours alone: name the "
			    "one you mean by its MLflow run id instead of the "
			    "run id");
	aml_mlflow_runs_free(&found);

	/* A reader takes the only one, whoever's it is. */
	two_runs(&found);
	aml_mlflow_run_free(&found.items[1]);
	found.count = 1;
	assert_int_equal(mf_choose_run(&m, &found, "r1", 0, NULL, &run, err,
				       sizeof(err)), 0);
	assert_string_equal(run.run_id, "aaa");
	aml_mlflow_run_free(&run);
	aml_mlflow_runs_free(&found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_experiments),
		cmocka_unit_test(test_owner_of),
		cmocka_unit_test(test_made_by),
		cmocka_unit_test(test_choose_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
