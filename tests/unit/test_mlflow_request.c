/*
 * Unit tests of rest/mlflow_request.c: statuses, the client-side limits and
 * the request bodies.
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

#include "mlflow_request.h"


static char errbuf[512];

#define RUN_ID "9c6b4e0f3a2d4c1b8e7f6a5b4c3d2ec5"

/* ---- statuses -------------------------------------------------------- */

static void test_status_every_azure_status(void **state)
{
	static const char *const expected[AML_STATUS_COUNT] = {
		[AML_STATUS_NOT_STARTED] = "SCHEDULED",
		[AML_STATUS_QUEUED] = "SCHEDULED",
		[AML_STATUS_PREPARING] = "SCHEDULED",
		[AML_STATUS_RUNNING] = "RUNNING",
		[AML_STATUS_FINALIZING] = "RUNNING",
		[AML_STATUS_CANCEL_REQUESTED] = "RUNNING",
		[AML_STATUS_NOT_RESPONDING] = "RUNNING",
		[AML_STATUS_COMPLETED] = "FINISHED",
		[AML_STATUS_FAILED] = "FAILED",
		[AML_STATUS_CANCELED] = "KILLED",
	};

	(void)state;
	for (int s = 0; s < AML_STATUS_COUNT; s++) {
		const char *m = aml_mlflow_status((enum aml_status)s);

		assert_string_equal(m, expected[s]);
		assert_true(aml_mlflow_status_valid(m));
	}
	assert_null(aml_mlflow_status((enum aml_status)AML_STATUS_COUNT));
}

static void test_status_valid_exactly_five(void **state)
{
	static const char *const good[] = {
		"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED",
	};
	static const char *const bad[] = {
		"running", "BOGUS", "", "FINISHED ", "Completed", "CANCELED",
	};

	(void)state;
	for (size_t i = 0; i < 5; i++)
		assert_true(aml_mlflow_status_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(aml_mlflow_status_valid(bad[i]));
	assert_false(aml_mlflow_status_valid(NULL));
}

/* ---- limits ---------------------------------------------------------- */

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_check_key_length_boundary(void **state)
{
	char *k250 = repeat('k', 250), *k251 = repeat('k', 251);
	char *k76 = repeat('k', 76), expected[200];

	(void)state;
	assert_int_equal(aml_mlflow_check_key("metric", k250, errbuf,
					      sizeof(errbuf)), 0);
	assert_int_equal(aml_mlflow_check_key("metric", k251, errbuf,
					      sizeof(errbuf)), -1);
	/* the key is shown cut, the count whole */
	snprintf(expected, sizeof(expected),
		 "metric key \"%s...\": 251 characters, more than 250", k76);
	assert_string_equal(errbuf, expected);
	free(k250);
	free(k251);
	free(k76);
}

static void test_check_key_characters(void **state)
{
	static const char *const good[] = {
		"loss", "train/loss", "a.b-c_d e", "A9", " ", ".a", "a/.b",
		"a..b", "mlflow.runName",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(aml_mlflow_check_key("tag", good[i], errbuf,
						      sizeof(errbuf)), 0);
	assert_int_equal(aml_mlflow_check_key("metric", "bad key!", errbuf,
					      sizeof(errbuf)), -1);
	assert_string_equal(errbuf,
			    "metric key \"bad key!\": only ASCII letters, digits, '_', '/', '.', '-' and space are allowed");
	assert_int_equal(aml_mlflow_check_key("param", "a\nb", errbuf,
					      sizeof(errbuf)), -1);
	assert_string_equal(errbuf,
			    "param key \"a\\x0ab\": only ASCII letters, digits, '_', '/', '.', '-' and space are allowed");
	assert_int_equal(aml_mlflow_check_key("tag", "caf\xc3\xa9", errbuf,
					      sizeof(errbuf)), -1);
	assert_int_equal(aml_mlflow_check_key("tag", "a:b", errbuf,
					      sizeof(errbuf)), -1);
	assert_int_equal(aml_mlflow_check_key("tag", "", errbuf,
					      sizeof(errbuf)), -1);
	assert_string_equal(errbuf, "tag key is empty");
}

static void test_check_key_normalized_path(void **state)
{
	static const char *const bad[] = {
		"/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "./a", "a/.",
		"..a", "a/..",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char expected[300];

		assert_int_equal(aml_mlflow_check_key("metric", bad[i], errbuf,
						      sizeof(errbuf)), -1);
		snprintf(expected, sizeof(expected),
			 "metric key \"%s\": not a normalized path (no leading or trailing '/', no \"//\", no \".\" or \"..\" component, no leading \"..\")",
			 bad[i]);
		assert_string_equal(errbuf, expected);
	}
}

static void test_check_values_boundaries(void **state)
{
	char *v5000 = repeat('v', 5000), *v5001 = repeat('v', 5001);
	char *v6000 = repeat('v', 6000), *v6001 = repeat('v', 6001);

	(void)state;
	assert_int_equal(aml_mlflow_check_tag_value("t", v5000, errbuf,
						    sizeof(errbuf)), 0);
	assert_int_equal(aml_mlflow_check_tag_value("t", v5001, errbuf,
						    sizeof(errbuf)), -1);
	assert_string_equal(errbuf, "tag \"t\": value is 5001 bytes, more than 5000");
	assert_int_equal(aml_mlflow_check_param_value("lr", v6000, errbuf,
						      sizeof(errbuf)), 0);
	assert_int_equal(aml_mlflow_check_param_value("lr", v6001, errbuf,
						      sizeof(errbuf)), -1);
	assert_string_equal(errbuf, "param \"lr\": value is 6001 bytes, more than 6000");
	free(v5000);
	free(v5001);
	free(v6000);
	free(v6001);
}

static void test_check_values_utf8(void **state)
{
	(void)state;
	assert_int_equal(aml_mlflow_check_tag_value("t", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80",
						    errbuf, sizeof(errbuf)), 0);
	assert_int_equal(aml_mlflow_check_tag_value("t", "ok\xff", errbuf,
						    sizeof(errbuf)), -1);
	assert_string_equal(errbuf,
			    "tag \"t\": value is not valid UTF-8 (byte 0xff at offset 2)");
	/* a sequence cut short, and a surrogate */
	assert_int_equal(aml_mlflow_check_param_value("p", "a\xc3", errbuf,
						      sizeof(errbuf)), -1);
	assert_int_equal(aml_mlflow_check_param_value("p", "\xed\xa0\x80", errbuf,
						      sizeof(errbuf)), -1);
}

/* [n] metrics "m0".."m<n-1>" and a list of [k] "<prefix><i>" = "v". */
static struct aml_mlflow_metric *make_metrics(size_t n)
{
	struct aml_mlflow_metric *m = calloc(n ? n : 1, sizeof(*m));
	static char keys[1100][8];

	assert_non_null(m);
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "m%zu", i);
		m[i].key = keys[i];
		m[i].value = (double)i;
	}
	return m;
}

static void make_list(struct aml_kvlist *list, const char *prefix, size_t k)
{
	memset(list, 0, sizeof(*list));
	for (size_t i = 0; i < k; i++) {
		char key[32];

		snprintf(key, sizeof(key), "%s%zu", prefix, i);
		assert_int_equal(aml_kvlist_set(list, key, "v"), 0);
	}
}

static void expect_batch(size_t metrics, size_t params, size_t tags,
			 const char *message)
{
	struct aml_mlflow_metric *m = make_metrics(metrics);
	struct aml_kvlist p, t;
	char *body;

	make_list(&p, "p", params);
	make_list(&t, "t", tags);
	errbuf[0] = '\0';
	assert_int_equal(aml_mlflow_check_batch(&t, &p, m, metrics, errbuf,
						sizeof(errbuf)),
			 message ? -1 : 0);
	assert_string_equal(errbuf, message ? message : "");
	body = aml_mlflow_log_batch_body("r", &t, &p, m, metrics, errbuf,
					 sizeof(errbuf));
	if (message) {
		assert_null(body);
		assert_string_equal(errbuf, message);
	} else {
		assert_non_null(body);
	}
	free(body);
	free(m);
	aml_kvlist_free(&p);
	aml_kvlist_free(&t);
}

static void test_batch_metric_count_boundary(void **state)
{
	(void)state;
	expect_batch(1000, 0, 0, NULL);
	expect_batch(1001, 0, 0, "1001 metrics in one request, more than 1000");
}

static void test_batch_param_and_tag_count_boundary(void **state)
{
	(void)state;
	expect_batch(0, 100, 100, NULL);
	expect_batch(0, 101, 0, "101 params in one request, more than 100");
	expect_batch(0, 0, 101, "101 tags in one request, more than 100");
}

static void test_batch_total_boundary(void **state)
{
	(void)state;
	expect_batch(900, 100, 0, NULL);
	expect_batch(900, 100, 1,
		     "1001 metrics, params and tags in one request, more than 1000");
}

static void test_batch_checks_each_entry(void **state)
{
	struct aml_mlflow_metric m[] = { { "ok", 1, 0, 0 }, { "bad key!", 1, 0, 0 } };
	struct aml_kvlist p = { 0 }, t = { 0 };
	char *long_value = repeat('x', 5001);

	(void)state;
	assert_int_equal(aml_mlflow_check_batch(NULL, NULL, m, 2, errbuf,
						sizeof(errbuf)), -1);
	assert_string_equal(errbuf,
			    "metric key \"bad key!\": only ASCII letters, digits, '_', '/', '.', '-' and space are allowed");
	assert_int_equal(aml_kvlist_set(&p, "a//b", "1"), 0);
	assert_int_equal(aml_mlflow_check_batch(NULL, &p, NULL, 0, errbuf,
						sizeof(errbuf)), -1);
	assert_non_null(strstr(errbuf, "param key \"a//b\": not a normalized path"));
	assert_int_equal(aml_kvlist_set(&t, "phase", long_value), 0);
	assert_int_equal(aml_mlflow_check_batch(&t, NULL, NULL, 0, errbuf,
						sizeof(errbuf)), -1);
	assert_string_equal(errbuf, "tag \"phase\": value is 5001 bytes, more than 5000");
	assert_null(aml_mlflow_log_batch_body("r", &t, NULL, NULL, 0, errbuf,
					      sizeof(errbuf)));
	free(long_value);
	aml_kvlist_free(&p);
	aml_kvlist_free(&t);
}

/* ---- request bodies -------------------------------------------------- */

static void expect_body(char *body, const char *json)
{
	assert_non_null(body);
	assert_string_equal(body, json);
	free(body);
}

static void test_body_create_experiment(void **state)
{
	(void)state;
	expect_body(aml_mlflow_create_experiment_body("my exp"),
		    "{\"name\":\"my exp\"}");
	expect_body(aml_mlflow_create_experiment_body("a\"b\\c\nd\xc3\xa9"),
		    "{\"name\":\"a\\\"b\\\\c\\nd\xc3\xa9\"}");
	assert_null(aml_mlflow_create_experiment_body(NULL));
}

static void test_body_create_run(void **state)
{
	struct aml_kvlist tags = { 0 };

	(void)state;
	assert_int_equal(aml_kvlist_set(&tags, "mlflow.user", "ci"), 0);
	assert_int_equal(aml_kvlist_set(&tags, "mlflow.source.name", "trainer.c"), 0);
	assert_int_equal(aml_kvlist_set(&tags, "mlflow.source.type", "LOCAL"), 0);
	expect_body(aml_mlflow_create_run_body("1", "c-run-1", "ci", 1795614754372LL, &tags),
		    "{\"experiment_id\":\"1\",\"start_time\":1795614754372,\"run_name\":\"c-run-1\","
		    "\"user_id\":\"ci\","
		    "\"tags\":[{\"key\":\"mlflow.user\",\"value\":\"ci\"},"
		    "{\"key\":\"mlflow.source.name\",\"value\":\"trainer.c\"},"
		    "{\"key\":\"mlflow.source.type\",\"value\":\"LOCAL\"}]}");
	/* experiment_id and start_time always, the rest only when given */
	expect_body(aml_mlflow_create_run_body("1", NULL, NULL, 0, NULL),
		    "{\"experiment_id\":\"1\",\"start_time\":0}");
	aml_kvlist_free(&tags);
	expect_body(aml_mlflow_create_run_body("e", NULL, NULL, 1, &tags),
		    "{\"experiment_id\":\"e\",\"start_time\":1}");
}

static void test_body_update_run(void **state)
{
	(void)state;
	expect_body(aml_mlflow_update_run_body(RUN_ID, "FINISHED", 1795614774463LL),
		    "{\"run_id\":\"" RUN_ID "\",\"status\":\"FINISHED\",\"end_time\":1795614774463}");
	expect_body(aml_mlflow_update_run_body("r", "RUNNING", -1),
		    "{\"run_id\":\"r\",\"status\":\"RUNNING\"}");
	expect_body(aml_mlflow_update_run_body("r", NULL, 0),
		    "{\"run_id\":\"r\",\"end_time\":0}");
	/* the server would ignore it silently */
	assert_null(aml_mlflow_update_run_body("r", "Completed", 1));
	assert_null(aml_mlflow_update_run_body("r", "BOGUS", 1));
}

static void test_body_tags(void **state)
{
	(void)state;
	expect_body(aml_mlflow_delete_tag_body("r", "phase"),
		    "{\"run_id\":\"r\",\"key\":\"phase\"}");
}

static void test_body_log_batch(void **state)
{
	struct aml_mlflow_metric m[] = {
		{ "loss", 0.25, 1795614762540LL, 1 },
		{ "grad_norm", NAN, 1795614762540LL, 1 },
		{ "up", INFINITY, 1795614762541LL, 2 },
		{ "down", -INFINITY, 1795614762542LL, 3 },
		{ "sum", 0.1 + 0.2, 1795614762543LL, 4 },
		{ "big", 1e300, 0, 5 },
		{ "neg", -1.5e-7, 0, -6 },
	};
	struct aml_kvlist params = { 0 }, tags = { 0 };

	(void)state;
	assert_int_equal(aml_kvlist_set(&params, "lr", "0.01"), 0);
	assert_int_equal(aml_kvlist_set(&tags, "phase", "train"), 0);
	expect_body(aml_mlflow_log_batch_body("r", &tags, &params, m, 7, errbuf,
					      sizeof(errbuf)),
		    "{\"run_id\":\"r\",\"metrics\":["
		    "{\"key\":\"loss\",\"value\":0.25,\"timestamp\":1795614762540,\"step\":1},"
		    "{\"key\":\"grad_norm\",\"value\":\"NaN\",\"timestamp\":1795614762540,\"step\":1},"
		    "{\"key\":\"up\",\"value\":\"Infinity\",\"timestamp\":1795614762541,\"step\":2},"
		    "{\"key\":\"down\",\"value\":\"-Infinity\",\"timestamp\":1795614762542,\"step\":3},"
		    "{\"key\":\"sum\",\"value\":0.30000000000000004,\"timestamp\":1795614762543,\"step\":4},"
		    "{\"key\":\"big\",\"value\":1e+300,\"timestamp\":0,\"step\":5},"
		    "{\"key\":\"neg\",\"value\":-1.5e-07,\"timestamp\":0,\"step\":-6}],"
		    "\"params\":[{\"key\":\"lr\",\"value\":\"0.01\"}],"
		    "\"tags\":[{\"key\":\"phase\",\"value\":\"train\"}]}");
	/* empty parts are left out */
	expect_body(aml_mlflow_log_batch_body("r", NULL, &params, NULL, 0,
					      errbuf, sizeof(errbuf)),
		    "{\"run_id\":\"r\",\"params\":[{\"key\":\"lr\",\"value\":\"0.01\"}]}");
	aml_kvlist_free(&params);
	aml_kvlist_free(&tags);
}

static void test_body_int64_exact(void **state)
{
	struct aml_mlflow_metric m[] = {
		{ "a", 1, INT64_MAX, INT64_MIN },
		{ "b", 2, 9007199254740993LL, 9007199254740992LL },
	};

	(void)state;
	expect_body(aml_mlflow_log_batch_body("r", NULL, NULL, m, 2, errbuf,
					      sizeof(errbuf)),
		    "{\"run_id\":\"r\",\"metrics\":["
		    "{\"key\":\"a\",\"value\":1,\"timestamp\":9223372036854775807,\"step\":-9223372036854775808},"
		    "{\"key\":\"b\",\"value\":2,\"timestamp\":9007199254740993,\"step\":9007199254740992}]}");
}

static void test_add_double_round_trips(void **state)
{
	static const double values[] = {
		0.1, 1.0 / 3, 2.0 / 3, 1e-310, 5e-324, 1.7976931348623157e308,
		123456789.123456789, -0.0, 0.30000000000000004,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		cJSON *obj = cJSON_CreateObject(), *back;
		char *text;

		assert_int_equal(aml_mlflow_add_double(obj, "v", values[i]), 0);
		text = cJSON_PrintUnformatted(obj);
		back = cJSON_Parse(text);
		assert_non_null(back);
		assert_true(cJSON_GetObjectItem(back, "v")->valuedouble == values[i]);
		assert_true(cJSON_IsNumber(cJSON_GetObjectItem(back, "v")));
		cJSON_Delete(back);
		cJSON_Delete(obj);
		free(text);
	}
}

static void test_body_search_runs(void **state)
{
	const char *const ids[] = { "1", "2" };

	(void)state;
	expect_body(aml_mlflow_search_runs_body(ids, 2,
						"params.lr = '0.01' and attributes.status = 'FINISHED'",
						100, "abc=="),
		    "{\"experiment_ids\":[\"1\",\"2\"],"
		    "\"filter\":\"params.lr = '0.01' and attributes.status = 'FINISHED'\","
		    "\"max_results\":100,\"page_token\":\"abc==\"}");
	expect_body(aml_mlflow_search_runs_body(ids, 1, NULL, 0, NULL),
		    "{\"experiment_ids\":[\"1\"]}");
	expect_body(aml_mlflow_search_runs_body(ids, 1, "", -1, NULL),
		    "{\"experiment_ids\":[\"1\"]}");
}

static void test_body_search_experiments(void **state)
{
	(void)state;
	expect_body(aml_mlflow_search_experiments_body(50, "t"),
		    "{\"max_results\":50,\"page_token\":\"t\"}");
	expect_body(aml_mlflow_search_experiments_body(0, NULL), "{}");
}

static void test_filter_value(void **state)
{
	char *q = (char *)1;

	(void)state;
	assert_int_equal(aml_mlflow_filter_value("0.01", &q, errbuf,
						 sizeof(errbuf)), 0);
	assert_string_equal(q, "'0.01'");
	free(q);
	assert_int_equal(aml_mlflow_filter_value("", &q, errbuf,
						 sizeof(errbuf)), 0);
	assert_string_equal(q, "''");
	free(q);
	assert_int_equal(aml_mlflow_filter_value("a b/\xc3\xa9\"x", &q, errbuf,
						 sizeof(errbuf)), 0);
	assert_string_equal(q, "'a b/\xc3\xa9\"x'");
	free(q);

	assert_int_equal(aml_mlflow_filter_value("it's", &q, errbuf,
						 sizeof(errbuf)), -1);
	assert_null(q);
	assert_string_equal(errbuf,
			    "filter value \"it's\": holds a quote, a backslash or a control character, which MLflow's filter grammar cannot escape");
	assert_int_equal(aml_mlflow_filter_value("a\\b", &q, errbuf,
						 sizeof(errbuf)), -1);
	assert_int_equal(aml_mlflow_filter_value("a\nb", &q, errbuf,
						 sizeof(errbuf)), -1);
	assert_null(strchr(errbuf, '\n'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_every_azure_status),
		cmocka_unit_test(test_status_valid_exactly_five),
		cmocka_unit_test(test_check_key_length_boundary),
		cmocka_unit_test(test_check_key_characters),
		cmocka_unit_test(test_check_key_normalized_path),
		cmocka_unit_test(test_check_values_boundaries),
		cmocka_unit_test(test_check_values_utf8),
		cmocka_unit_test(test_batch_metric_count_boundary),
		cmocka_unit_test(test_batch_param_and_tag_count_boundary),
		cmocka_unit_test(test_batch_total_boundary),
		cmocka_unit_test(test_batch_checks_each_entry),
		cmocka_unit_test(test_body_create_experiment),
		cmocka_unit_test(test_body_create_run),
		cmocka_unit_test(test_body_update_run),
		cmocka_unit_test(test_body_tags),
		cmocka_unit_test(test_body_log_batch),
		cmocka_unit_test(test_body_int64_exact),
		cmocka_unit_test(test_add_double_round_trips),
		cmocka_unit_test(test_body_search_runs),
		cmocka_unit_test(test_body_search_experiments),
		cmocka_unit_test(test_filter_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
