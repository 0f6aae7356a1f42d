/*
 * Unit tests of rest/mlflow_answer.c: the answers of a call that succeeded.  The
 * example answers are the ones the MLflow servers 2.10.2 and 2.17.2 gave
 * (tests/mlflow-server/mlflow_test_server.py, §N).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlflow_answer.h"


static char errbuf[512];

#define RUN_ID "9c6b4e0f3a2d4c1b8e7f6a5b4c3d2ec5"

/* ---- answers --------------------------------------------------------- */

#define PARSE(fn, endpoint, body, out) \
	fn(endpoint, body, strlen(body), out, errbuf, sizeof(errbuf))

static void test_parse_experiment_get_by_name(void **state)
{
	static const char body[] =
		"{\"experiment\":{\"experiment_id\":\"1\",\"name\":\"my exp\","
		"\"artifact_location\":\"mlflow-artifacts:/1\",\"lifecycle_stage\":\"active\","
		"\"last_update_time\":1795614754000,\"creation_time\":1795614754000,"
		"\"tags\":[{\"key\":\"k\",\"value\":\"v\"}]}}";
	struct aml_mlflow_experiment e;

	(void)state;
	assert_int_equal(PARSE(aml_mlflow_parse_experiment,
			       "experiments/get-by-name", body, &e), 0);
	assert_string_equal(e.id, "1");
	assert_string_equal(e.name, "my exp");
	assert_false(e.deleted);
	aml_mlflow_experiment_free(&e);
	assert_null(e.id);

	assert_int_equal(PARSE(aml_mlflow_parse_experiment, "experiments/get",
			       "{\"experiment\":{\"experiment_id\":\"7\",\"lifecycle_stage\":\"deleted\"}}",
			       &e), 0);
	assert_string_equal(e.id, "7");
	assert_null(e.name);
	assert_true(e.deleted);
	aml_mlflow_experiment_free(&e);
}

static void expect_experiment_refused(const char *body, size_t len,
				      const char *what)
{
	struct aml_mlflow_experiment e;
	char expected[300];

	assert_int_equal(aml_mlflow_parse_experiment("experiments/get-by-name",
						     body, len, &e, errbuf,
						     sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected),
		 "MLflow server: experiments/get-by-name: unexpected answer: %s",
		 what);
	assert_string_equal(errbuf, expected);
	assert_null(e.id);
	assert_null(e.name);
}

static void test_parse_experiment_malformed(void **state)
{
	static const struct {
		const char *body, *what;
	} cases[] = {
		{ "{\"experiment\":{\"experiment_id\":1}}",
		  "experiment.experiment_id is not a string" },
		{ "{\"experiment\":{\"experiment_id\":\"1\",\"name\":[]}}",
		  "experiment.name is not a string" },
		{ "{\"experiment\":{\"name\":\"x\"}}",
		  "experiment.experiment_id is missing" },
		{ "{\"experiment\":{\"experiment_id\":null}}",
		  "experiment.experiment_id is missing" },
		{ "{}", "experiment is missing" },
		{ "{\"experiment\":[]}", "experiment is not an object" },
		{ "[1]", "not a JSON object" },
		{ "\"x\"", "not a JSON object" },
		{ "{\"experiment\":{\"experiment_id\":\"1\"", "not valid JSON" },
		{ "<html>", "not valid JSON" },
		{ "{} {}", "not valid JSON (text after the value)" },
		{ "", "empty body" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_experiment_refused(cases[i].body, strlen(cases[i].body),
					  cases[i].what);
	/* the length rules, not a NUL */
	expect_experiment_refused("{\"experiment\":{}}", 5, "not valid JSON");
}

static void test_parse_body_not_nul_terminated(void **state)
{
	static const char json[] = "{\"experiment_id\":\"12\"}";
	size_t n = strlen(json);
	char *body = malloc(n), *id;

	(void)state;
	assert_non_null(body);
	memcpy(body, json, n); /* no NUL: a sanitizer sees any overread */
	assert_int_equal(aml_mlflow_parse_experiment_id("experiments/create",
							body, n, &id, errbuf,
							sizeof(errbuf)), 0);
	assert_string_equal(id, "12");
	free(id);
	free(body);
}

static void test_parse_experiment_id(void **state)
{
	char *id = (char *)1;

	(void)state;
	assert_int_equal(PARSE(aml_mlflow_parse_experiment_id,
			       "experiments/create", "{\"experiment_id\":\"1\"}", &id), 0);
	assert_string_equal(id, "1");
	free(id);
	assert_int_equal(PARSE(aml_mlflow_parse_experiment_id,
			       "experiments/create", "{\"experiment_id\":1}", &id), -1);
	assert_null(id);
	assert_string_equal(errbuf,
			    "MLflow server: experiments/create: unexpected answer: experiment_id is not a string");
	assert_int_equal(PARSE(aml_mlflow_parse_experiment_id,
			       "experiments/create", "{}", &id), -1);
	assert_string_equal(errbuf,
			    "MLflow server: experiments/create: unexpected answer: experiment_id is missing");
}

/* runs/create's answer from a real server (mlflow_test_server.py §2.3), ids filled in. */
static const char create_run_answer[] =
	"{\"run\":{\"info\":{\"run_id\":\"" RUN_ID "\",\"run_uuid\":\"" RUN_ID "\","
	"\"experiment_id\":\"1\",\"run_name\":\"c-run-1\",\"user_id\":\"\","
	"\"status\":\"RUNNING\",\"start_time\":1795614754372,"
	"\"artifact_uri\":\"mlflow-artifacts:/1/" RUN_ID "/artifacts\","
	"\"lifecycle_stage\":\"active\"},"
	"\"data\":{\"tags\":[{\"key\":\"mlflow.user\",\"value\":\"ci\"},"
	"{\"key\":\"mlflow.source.name\",\"value\":\"trainer.c\"},"
	"{\"key\":\"mlflow.source.type\",\"value\":\"LOCAL\"},"
	"{\"key\":\"mlflow.runName\",\"value\":\"c-run-1\"}]},\"inputs\":{}}}";

static void test_parse_run_create_answer(void **state)
{
	struct aml_mlflow_run run;

	(void)state;
	assert_int_equal(PARSE(aml_mlflow_parse_run, "runs/create",
			       create_run_answer, &run), 0);
	assert_string_equal(run.run_id, RUN_ID);
	assert_string_equal(run.experiment_id, "1");
	assert_string_equal(run.run_name, "c-run-1");
	assert_string_equal(run.user_id, "");
	assert_string_equal(run.status, "RUNNING");
	assert_string_equal(run.artifact_uri, "mlflow-artifacts:/1/" RUN_ID "/artifacts");
	assert_string_equal(run.lifecycle_stage, "active");
	assert_true(run.start_ms == 1795614754372LL);
	assert_true(run.end_ms == -1);
	assert_int_equal(run.tags.count, 4);
	assert_string_equal(run.tags.items[0].key, "mlflow.user");
	assert_string_equal(run.tags.items[3].key, "mlflow.runName");
	assert_string_equal(aml_kvlist_get(&run.tags, "mlflow.runName"), "c-run-1");
	assert_int_equal(run.params.count, 0);
	assert_int_equal(run.metric_count, 0);
	assert_null(run.metrics);
	aml_mlflow_run_free(&run);
	assert_null(run.run_id);
}

static void test_parse_run_get_with_data(void **state)
{
	static const char body[] =
		"{\"run\":{\"info\":{\"run_uuid\":\"r1\",\"status\":\"FINISHED\","
		"\"start_time\":\"1795614754372\",\"end_time\":1795614774463},"
		"\"data\":{\"metrics\":["
		"{\"key\":\"loss\",\"value\":0.25,\"timestamp\":1795614762540,\"step\":1},"
		"{\"key\":\"grad_norm\",\"value\":\"NaN\",\"timestamp\":\"1795614762540\",\"step\":\"1\"},"
		"{\"key\":\"up\",\"value\":1.7976931348623157e308},"
		"{\"key\":\"inf\",\"value\":\"Infinity\"},"
		"{\"key\":\"ninf\",\"value\":\"-Infinity\",\"step\":-3},"
		"{\"key\":\"str\",\"value\":\"2.5\"}],"
		"\"params\":[{\"key\":\"lr\",\"value\":\"0.01\"},{\"key\":\"empty\"}],"
		"\"tags\":[]},\"inputs\":{}}}";
	struct aml_mlflow_run run;

	(void)state;
	assert_int_equal(PARSE(aml_mlflow_parse_run, "runs/get", body, &run), 0);
	assert_string_equal(run.run_id, "r1");
	assert_null(run.experiment_id);
	assert_true(run.start_ms == 1795614754372LL);
	assert_true(run.end_ms == 1795614774463LL);
	assert_int_equal(run.metric_count, 6);
	assert_string_equal(run.metrics[0].key, "loss");
	assert_true(run.metrics[0].value == 0.25);
	assert_true(run.metrics[0].timestamp_ms == 1795614762540LL);
	assert_true(run.metrics[0].step == 1);
	assert_true(isnan(run.metrics[1].value));
	assert_true(run.metrics[1].timestamp_ms == 1795614762540LL);
	assert_true(run.metrics[1].step == 1);
	assert_true(run.metrics[2].value == 1.7976931348623157e308);
	assert_true(run.metrics[2].timestamp_ms == 0 && run.metrics[2].step == 0);
	assert_true(isinf(run.metrics[3].value) && run.metrics[3].value > 0);
	assert_true(isinf(run.metrics[4].value) && run.metrics[4].value < 0);
	assert_true(run.metrics[4].step == -3);
	assert_true(run.metrics[5].value == 2.5);
	assert_int_equal(run.params.count, 2);
	assert_string_equal(aml_kvlist_get(&run.params, "lr"), "0.01");
	assert_string_equal(aml_kvlist_get(&run.params, "empty"), "");
	assert_int_equal(run.tags.count, 0);
	aml_mlflow_run_free(&run);
}

static void test_parse_run_malformed(void **state)
{
	static const struct {
		const char *body, *what;
	} cases[] = {
		{ "{\"run\":{\"info\":{\"run_id\":5}}}",
		  "run.info.run_id is not a string" },
		{ "{\"run\":{\"info\":{}}}", "run.info.run_id is missing" },
		{ "{\"run\":{}}", "run.info is missing" },
		{ "{\"run\":{\"info\":\"x\"}}", "run.info is not an object" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\",\"status\":1}}}",
		  "run.info.status is not a string" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\",\"start_time\":1.5}}}",
		  "run.info.start_time is not an integer" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\",\"end_time\":\"12x\"}}}",
		  "run.info.end_time is not an integer" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\",\"end_time\":1e300}}}",
		  "run.info.end_time is not an integer" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":[]}}",
		  "run.data is not an object" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":{\"tags\":{}}}}",
		  "run.data.tags is not an array" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":{\"tags\":[{\"key\":\"a\",\"value\":\"b\"},7]}}}",
		  "run.data.tags[1] is not an object" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":{\"params\":[{\"value\":\"b\"}]}}}",
		  "run.data.params[0].key is missing" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":{\"params\":[{\"key\":\"k\",\"value\":1}]}}}",
		  "run.data.params[0].value is not a string" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":{\"metrics\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":\"abc\"}]}}}",
		  "run.data.metrics[1].value is not a number" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":{\"metrics\":[{\"key\":\"a\",\"value\":true}]}}}",
		  "run.data.metrics[0].value is not a number" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":{\"metrics\":[{\"key\":\"a\",\"value\":\"nan\"}]}}}",
		  "run.data.metrics[0].value is not a number" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"},\"data\":{\"metrics\":[{\"key\":\"a\",\"value\":1,\"step\":\"x\"}]}}}",
		  "run.data.metrics[0].step is not an integer" },
		{ "{\"run\":7}", "run is not an object" },
		{ "{\"run\":{\"info\":{\"run_id\":\"r\"}}", "not valid JSON" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml_mlflow_run run;
		char expected[300];

		assert_int_equal(PARSE(aml_mlflow_parse_run, "runs/get",
				       cases[i].body, &run), -1);
		snprintf(expected, sizeof(expected),
			 "MLflow server: runs/get: unexpected answer: %s",
			 cases[i].what);
		assert_string_equal(errbuf, expected);
		assert_null(run.run_id);
		assert_int_equal(run.tags.count, 0);
		assert_int_equal(run.metric_count, 0);
	}
}

static void test_parse_runs_search(void **state)
{
	static const char body[] =
		"{\"runs\":[{\"info\":{\"run_id\":\"a\",\"status\":\"FINISHED\"},"
		"\"data\":{\"params\":[{\"key\":\"lr\",\"value\":\"0.01\"}]}},"
		"{\"info\":{\"run_id\":\"b\",\"status\":\"FAILED\"}}],"
		"\"next_page_token\":\"tok==\"}";
	struct aml_mlflow_runs runs;

	(void)state;
	assert_int_equal(PARSE(aml_mlflow_parse_runs, "runs/search", body, &runs), 0);
	assert_int_equal(runs.count, 2);
	assert_string_equal(runs.items[0].run_id, "a");
	assert_string_equal(aml_kvlist_get(&runs.items[0].params, "lr"), "0.01");
	assert_string_equal(runs.items[1].status, "FAILED");
	assert_string_equal(runs.next_page_token, "tok==");
	aml_mlflow_runs_free(&runs);
	assert_null(runs.items);

	/* "runs" left out when there are none; "" is no page */
	assert_int_equal(PARSE(aml_mlflow_parse_runs, "runs/search", "{}", &runs), 0);
	assert_int_equal(runs.count, 0);
	assert_null(runs.next_page_token);
	aml_mlflow_runs_free(&runs);
	assert_int_equal(PARSE(aml_mlflow_parse_runs, "runs/search",
			       "{\"runs\":[],\"next_page_token\":\"\"}", &runs), 0);
	assert_int_equal(runs.count, 0);
	assert_null(runs.next_page_token);
	aml_mlflow_runs_free(&runs);
}

static void test_parse_runs_search_malformed(void **state)
{
	struct aml_mlflow_runs runs;

	(void)state;
	assert_int_equal(PARSE(aml_mlflow_parse_runs, "runs/search",
			       "{\"runs\":[{\"info\":{\"run_id\":\"a\"},\"data\":{\"tags\":[{\"key\":\"k\",\"value\":\"v\"}]}},"
			       "{\"info\":{\"run_name\":\"b\"}}]}", &runs), -1);
	assert_string_equal(errbuf,
			    "MLflow server: runs/search: unexpected answer: runs[1].info.run_id is missing");
	assert_int_equal(runs.count, 0);
	assert_null(runs.items);
	assert_int_equal(PARSE(aml_mlflow_parse_runs, "runs/search",
			       "{\"runs\":{}}", &runs), -1);
	assert_string_equal(errbuf,
			    "MLflow server: runs/search: unexpected answer: runs is not an array");
	assert_int_equal(PARSE(aml_mlflow_parse_runs, "runs/search",
			       "{\"runs\":[],\"next_page_token\":5}", &runs), -1);
	assert_string_equal(errbuf,
			    "MLflow server: runs/search: unexpected answer: next_page_token is not a string");
}

static void test_parse_experiments_search(void **state)
{
	struct aml_mlflow_experiments exps;

	(void)state;
	assert_int_equal(PARSE(aml_mlflow_parse_experiments, "experiments/search",
			       "{\"experiments\":[{\"experiment_id\":\"0\",\"name\":\"Default\",\"lifecycle_stage\":\"active\"},"
			       "{\"experiment_id\":\"3\",\"name\":\"old\",\"lifecycle_stage\":\"deleted\"}],"
			       "\"next_page_token\":\"p2\"}", &exps), 0);
	assert_int_equal(exps.count, 2);
	assert_string_equal(exps.items[0].name, "Default");
	assert_false(exps.items[0].deleted);
	assert_true(exps.items[1].deleted);
	assert_string_equal(exps.next_page_token, "p2");
	aml_mlflow_experiments_free(&exps);

	assert_int_equal(PARSE(aml_mlflow_parse_experiments, "experiments/search",
			       "{}", &exps), 0);
	assert_int_equal(exps.count, 0);
	aml_mlflow_experiments_free(&exps);

	assert_int_equal(PARSE(aml_mlflow_parse_experiments, "experiments/search",
			       "{\"experiments\":[{\"experiment_id\":\"0\"},\"x\"]}", &exps), -1);
	assert_string_equal(errbuf,
			    "MLflow server: experiments/search: unexpected answer: experiments[1] is not an object");
	assert_int_equal(exps.count, 0);
}

static void test_parse_files_both_forms(void **state)
{
	struct aml_mlflow_files f;

	(void)state;
	/* the proxy's list: names relative to the listed directory */
	assert_int_equal(PARSE(aml_mlflow_parse_files, "mlflow-artifacts/artifacts",
			       "{\"files\":[{\"path\":\"a.txt\",\"is_dir\":false,\"file_size\":12},"
			       "{\"path\":\"ckpt\",\"is_dir\":true}]}", &f), 0);
	assert_int_equal(f.count, 2);
	assert_string_equal(f.items[0].path, "a.txt");
	assert_false(f.items[0].is_dir);
	assert_true(f.items[0].file_size == 12);
	assert_true(f.items[1].is_dir);
	assert_true(f.items[1].file_size == -1);
	assert_null(f.root_uri);
	assert_null(f.next_page_token);
	aml_mlflow_files_free(&f);

	/* the tracking API's: root_uri, sizes possibly as strings */
	assert_int_equal(PARSE(aml_mlflow_parse_files, "artifacts/list",
			       "{\"root_uri\":\"mlflow-artifacts:/1/" RUN_ID "/artifacts\","
			       "\"files\":[{\"path\":\"ckpt/epoch_1/big.bin\",\"is_dir\":false,\"file_size\":\"20971520\"}],"
			       "\"next_page_token\":\"n\"}", &f), 0);
	assert_int_equal(f.count, 1);
	assert_string_equal(f.items[0].path, "ckpt/epoch_1/big.bin");
	assert_true(f.items[0].file_size == 20971520);
	assert_string_equal(f.root_uri, "mlflow-artifacts:/1/" RUN_ID "/artifacts");
	assert_string_equal(f.next_page_token, "n");
	aml_mlflow_files_free(&f);

	assert_int_equal(PARSE(aml_mlflow_parse_files, "artifacts/list", "{}", &f), 0);
	assert_int_equal(f.count, 0);
	assert_null(f.items);
	aml_mlflow_files_free(&f);
}

static void test_parse_files_malformed(void **state)
{
	static const struct {
		const char *body, *what;
	} cases[] = {
		{ "{\"files\":[{\"path\":\"a\",\"is_dir\":\"yes\"}]}",
		  "files[0].is_dir is not true or false" },
		{ "{\"files\":[{\"path\":\"a\"},{\"path\":\"b\",\"file_size\":\"12 bytes\"}]}",
		  "files[1].file_size is not an integer" },
		{ "{\"files\":[{\"is_dir\":true}]}", "files[0].path is missing" },
		{ "{\"files\":\"a.txt\"}", "files is not an array" },
		{ "{\"files\":[],\"root_uri\":[]}", "root_uri is not a string" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml_mlflow_files f;
		char expected[300];

		assert_int_equal(PARSE(aml_mlflow_parse_files, "artifacts/list",
				       cases[i].body, &f), -1);
		snprintf(expected, sizeof(expected),
			 "MLflow server: artifacts/list: unexpected answer: %s",
			 cases[i].what);
		assert_string_equal(errbuf, expected);
		assert_int_equal(f.count, 0);
		assert_null(f.items);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_experiment_get_by_name),
		cmocka_unit_test(test_parse_experiment_malformed),
		cmocka_unit_test(test_parse_body_not_nul_terminated),
		cmocka_unit_test(test_parse_experiment_id),
		cmocka_unit_test(test_parse_run_create_answer),
		cmocka_unit_test(test_parse_run_get_with_data),
		cmocka_unit_test(test_parse_run_malformed),
		cmocka_unit_test(test_parse_runs_search),
		cmocka_unit_test(test_parse_runs_search_malformed),
		cmocka_unit_test(test_parse_experiments_search),
		cmocka_unit_test(test_parse_files_both_forms),
		cmocka_unit_test(test_parse_files_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
