/*
 * Unit tests of rest/mlflow_wire.c: statuses, URLs, request bodies,
 * limits, answers and error lines.  The example answers are the ones the
 * MLflow servers 2.10.2 and 2.17.2 gave (tests/mlflow-server/mlflow_test_server.py, §N).
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

#include "mlflow_wire.h"

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

/* ---- base URL -------------------------------------------------------- */

static void expect_base(const char *uri, const char *base)
{
	char *got = (char *)1;

	errbuf[0] = '\0';
	assert_int_equal(aml_mlflow_base_url(uri, &got, errbuf,
					     sizeof(errbuf)), 0);
	assert_string_equal(got, base);
	free(got);
}

static void expect_base_refused(const char *uri, const char *message)
{
	char *got = (char *)1;

	assert_int_equal(aml_mlflow_base_url(uri, &got, errbuf,
					     sizeof(errbuf)), -1);
	assert_null(got);
	assert_string_equal(errbuf, message);
}

static void test_base_url_http_https_kept(void **state)
{
	(void)state;
	expect_base("http://127.0.0.1:5000", "http://127.0.0.1:5000");
	expect_base("http://127.0.0.1:5000/", "http://127.0.0.1:5000");
	expect_base("HTTP://Tracking.Example:5000//", "http://Tracking.Example:5000");
	expect_base("https://mlflow.example.com/prefix/sub/",
		    "https://mlflow.example.com/prefix/sub");
	expect_base("HttpS://h", "https://h");
	expect_base("http://[::1]:5000/x", "http://[::1]:5000/x");
	expect_base("http://[::1]", "http://[::1]");
	expect_base("http://h:65535", "http://h:65535");
	expect_base("http://h:1/%7Euser", "http://h:1/%7Euser");
}

static void test_base_url_azureml(void **state)
{
	(void)state;
	expect_base("azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws",
		    "https://eastus.api.azureml.ms/mlflow/v2.0/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws");
	expect_base("azureml://eastus.api.azureml.ms/mlflow/v1.0",
		    "https://eastus.api.azureml.ms/mlflow/v2.0");
	expect_base("AzureML://h/mlflow/v1.0/",
		    "https://h/mlflow/v2.0");
	/* only a whole leading component is rewritten */
	expect_base("azureml://h/mlflow/v1.00/x", "https://h/mlflow/v1.00/x");
	expect_base("azureml://h/x/mlflow/v1.0/y", "https://h/x/mlflow/v1.0/y");
	expect_base("azureml://h/mlflow/v2.0/s", "https://h/mlflow/v2.0/s");
}

static void test_base_url_refuses_other_schemes(void **state)
{
	(void)state;
	expect_base_refused("ftp://h/x",
			    "HistoryURI: scheme \"ftp\" is not supported (expected http://, https:// or azureml://)");
	expect_base_refused("file:///var/lib/mlruns",
			    "HistoryURI: scheme \"file\" is not supported (expected http://, https:// or azureml://)");
	expect_base_refused("mlflow-artifacts://h/1",
			    "HistoryURI: scheme \"mlflow-artifacts\" is not supported (expected http://, https:// or azureml://)");
	expect_base_refused("localhost:5000",
			    "HistoryURI: does not start with a scheme (expected http://, https:// or azureml://)");
	expect_base_refused("http:/h",
			    "HistoryURI: does not start with a scheme (expected http://, https:// or azureml://)");
	expect_base_refused("",
			    "HistoryURI: does not start with a scheme (expected http://, https:// or azureml://)");
}

static void test_base_url_refuses_userinfo_without_echo(void **state)
{
	static const char message[] =
		"HistoryURI: holds user information (\"user:password@\", not shown); credentials belong in HistoryCredentials";

	(void)state;
	expect_base_refused("http://ci:hunter2@h:5000/x", message);
	assert_null(strstr(errbuf, "hunter2"));
	assert_null(strstr(errbuf, "ci:"));
	expect_base_refused("https://t0ken@h", message);
	assert_null(strstr(errbuf, "t0ken"));
	/* even with other faults in the URI, the password never shows */
	expect_base_refused("azureml://ci:hunter2@:99999/x?q", message);
	assert_null(strstr(errbuf, "hunter2"));
}

static void test_base_url_refuses_empty_host(void **state)
{
	(void)state;
	expect_base_refused("http://",
			    "HistoryURI: no host after \"http://\"");
	expect_base_refused("https:///path",
			    "HistoryURI: no host after \"https://\"");
	expect_base_refused("http://:5000",
			    "HistoryURI: no host after \"http://\"");
	expect_base_refused("azureml://",
			    "HistoryURI: no host after \"azureml://\"");
	expect_base_refused("http://[]:5000",
			    "HistoryURI: no host after \"http://\" (an IPv6 address goes in [brackets])");
	expect_base_refused("http://[::1",
			    "HistoryURI: no host after \"http://\" (an IPv6 address goes in [brackets])");
	expect_base_refused("http://[::1]x",
			    "HistoryURI: text after the IPv6 address's ']' that is not \":port\"");
}

static void test_base_url_refuses_bad_port(void **state)
{
	(void)state;
	expect_base_refused("http://h:0",
			    "HistoryURI: port \"0\" is not a number from 1 to 65535");
	expect_base_refused("http://h:65536/x",
			    "HistoryURI: port \"65536\" is not a number from 1 to 65535");
	expect_base_refused("http://h:http",
			    "HistoryURI: port \"http\" is not a number from 1 to 65535");
	expect_base_refused("http://h:",
			    "HistoryURI: port \"\" is not a number from 1 to 65535");
	expect_base_refused("http://[::1]:-1",
			    "HistoryURI: port \"-1\" is not a number from 1 to 65535");
}

static void test_base_url_refuses_query_fragment(void **state)
{
	static const char message[] =
		"HistoryURI: holds a query or fragment ('?' or '#'); endpoints are appended to it, so it must end with its path";

	(void)state;
	expect_base_refused("http://h/x?a=1", message);
	expect_base_refused("http://h#frag", message);
	expect_base_refused("http://h?", message);
}

static void test_base_url_refuses_whitespace_control_non_ascii(void **state)
{
	(void)state;
	expect_base_refused("http://h/a b",
			    "HistoryURI: holds whitespace, a control or a non-ASCII character (at offset 10); a URI is printable ASCII (percent-encode the rest)");
	expect_base_refused(" http://h",
			    "HistoryURI: holds whitespace, a control or a non-ASCII character (at offset 0); a URI is printable ASCII (percent-encode the rest)");
	expect_base_refused("http://h\n",
			    "HistoryURI: holds whitespace, a control or a non-ASCII character (at offset 8); a URI is printable ASCII (percent-encode the rest)");
	expect_base_refused("http://h/\x01",
			    "HistoryURI: holds whitespace, a control or a non-ASCII character (at offset 9); a URI is printable ASCII (percent-encode the rest)");
	expect_base_refused("http://h/\xc3\xa9",
			    "HistoryURI: holds whitespace, a control or a non-ASCII character (at offset 9); a URI is printable ASCII (percent-encode the rest)");
}

/* ---- encoding -------------------------------------------------------- */

static int hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The inverse, for round trips (upper-case hex, as encoded). */
static char *url_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	assert_non_null(out);
	for (; *s; s++) {
		if (*s == '%') {
			assert_true(hex_value(s[1]) >= 0 && hex_value(s[2]) >= 0);
			*o++ = (char)(hex_value(s[1]) * 16 + hex_value(s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

static void test_url_encode_exact(void **state)
{
	char *e;

	(void)state;
	e = aml_url_encode("a b/c%'\xc3\xa9~-._Z9");
	assert_string_equal(e, "a%20b%2Fc%25%27%C3%A9~-._Z9");
	free(e);
	e = aml_url_encode("");
	assert_string_equal(e, "");
	free(e);
	e = aml_url_encode("+&=?#\n");
	assert_string_equal(e, "%2B%26%3D%3F%23%0A");
	free(e);
}

static void test_url_encode_path_keeps_slashes(void **state)
{
	char *e;

	(void)state;
	e = aml_url_encode_path("dir one/fi le%.txt");
	assert_string_equal(e, "dir%20one/fi%20le%25.txt");
	free(e);
	e = aml_url_encode_path("ckpt/epoch_1/it's \xc3\xa9/");
	assert_string_equal(e, "ckpt/epoch_1/it%27s%20%C3%A9/");
	free(e);
}

#define UNRESERVED \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

static void test_url_encode_round_trips(void **state)
{
	static const char *const awkward[] = {
		"space here", "a/b//c", "100%", "%25", "it's", "\xc3\xa9t\xc3\xa9",
		"\xe2\x82\xac \xf0\x9f\x98\x80", "~-._", "?#[]@!$&()*+,;=",
		"\t\r\n\x7f\xff",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(awkward) / sizeof(awkward[0]); i++) {
		char *e = aml_url_encode(awkward[i]);
		char *p = aml_url_encode_path(awkward[i]);
		char *d = url_decode(e), *dp = url_decode(p);

		assert_string_equal(d, awkward[i]);
		assert_string_equal(dp, awkward[i]);
		/* nothing but unreserved characters and escapes is left */
		assert_int_equal(strspn(e, UNRESERVED "%"), strlen(e));
		assert_int_equal(strspn(p, UNRESERVED "%/"), strlen(p));
		free(e);
		free(p);
		free(d);
		free(dp);
	}
}

/* ---- artifact URLs --------------------------------------------------- */

static void expect_artifact_url(const char *base, const char *uri,
				const char *url)
{
	char *got = NULL;

	errbuf[0] = '\0';
	assert_int_equal(aml_mlflow_artifact_url(base, uri, &got, errbuf,
						 sizeof(errbuf)), 0);
	assert_string_equal(got, url);
	free(got);
}

static void expect_artifact_refused(const char *uri, const char *message)
{
	char *got = (char *)1;

	assert_int_equal(aml_mlflow_artifact_url("http://h:5000", uri, &got,
						 errbuf, sizeof(errbuf)), -1);
	assert_null(got);
	assert_string_equal(errbuf, message);
}

static void test_artifact_url_proxy(void **state)
{
	(void)state;
	expect_artifact_url("http://127.0.0.1:5000",
			    "mlflow-artifacts:/1/" RUN_ID "/artifacts",
			    "http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/1/" RUN_ID "/artifacts");
	expect_artifact_url("https://h/prefix", "mlflow-artifacts:/1/r/artifacts/",
			    "https://h/prefix/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts");
	expect_artifact_url("http://h/", "mlflow-artifacts:/",
			    "http://h/api/2.0/mlflow-artifacts/artifacts");
	expect_artifact_url("http://h", "mlflow-artifacts:1//r",
			    "http://h/api/2.0/mlflow-artifacts/artifacts/1/r");
	/* a URI path keeps its escapes; what it cannot hold is encoded */
	expect_artifact_url("http://h", "MLflow-Artifacts:/my%20exp/a b/\xc3\xa9",
			    "http://h/api/2.0/mlflow-artifacts/artifacts/my%20exp/a%20b/%C3%A9");
}

static void test_artifact_url_separate_server(void **state)
{
	(void)state;
	expect_artifact_url("https://track:5000/p",
			    "mlflow-artifacts://art:8080/1/r/artifacts",
			    "https://art:8080/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts");
	expect_artifact_url("http://track", "mlflow-artifacts://art",
			    "http://art/api/2.0/mlflow-artifacts/artifacts");
}

static void test_artifact_url_refuses_other_schemes(void **state)
{
	(void)state;
	expect_artifact_refused("s3://bucket/1/r/artifacts",
				"artifact upload is not supported for artifact_uri scheme \"s3\" (only the tracking server's artifact proxy, mlflow-artifacts:, is)");
	expect_artifact_refused("file:///srv/mlruns/1/r/artifacts",
				"artifact upload is not supported for artifact_uri scheme \"file\" (only the tracking server's artifact proxy, mlflow-artifacts:, is)");
	expect_artifact_refused("azureml://h/experiments/e/runs/r/artifacts",
				"artifact upload is not supported for artifact_uri scheme \"azureml\" (only the tracking server's artifact proxy, mlflow-artifacts:, is)");
	expect_artifact_refused("wasbs://c@acct.blob.core.windows.net/x",
				"artifact upload is not supported for artifact_uri scheme \"wasbs\" (only the tracking server's artifact proxy, mlflow-artifacts:, is)");
	expect_artifact_refused("./mlruns/1/r/artifacts",
				"artifact upload is not supported for artifact_uri \"./mlruns/1/r/artifacts\", a path on the server (only the tracking server's artifact proxy, mlflow-artifacts:, is)");
	expect_artifact_refused("mlflow-artifacts://:5000/x",
				"artifact_uri: \"mlflow-artifacts://\" must be followed by host[:port], without user information");
	expect_artifact_refused("mlflow-artifacts://u:p@h/x",
				"artifact_uri: \"mlflow-artifacts://\" must be followed by host[:port], without user information");
	expect_artifact_refused("mlflow-artifacts:/1/r?x=1",
				"artifact_uri holds a query or fragment ('?' or '#'); a run's artifact location cannot");
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

/* ---- error lines ----------------------------------------------------- */

static void expect_error_line(long status, const char *type, const char *body,
			      const char *line)
{
	char buf[512];

	aml_mlflow_error_line(status, type, body, body ? strlen(body) : 0, buf,
			      sizeof(buf));
	assert_string_equal(buf, line);
	for (const char *p = buf; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
}

static void test_error_line_mlflow_json(void **state)
{
	(void)state;
	expect_error_line(404, "application/json",
			  "{\"error_code\": \"RESOURCE_DOES_NOT_EXIST\", \"message\": \"Could not find experiment with name 'x'\"}",
			  "HTTP 404 RESOURCE_DOES_NOT_EXIST: Could not find experiment with name 'x'");
	expect_error_line(400, "application/json",
			  "{\"error_code\":\"INVALID_PARAMETER_VALUE\",\"message\":\"Bad Request. Content-Type must be one of ['application/json'].\"}",
			  "HTTP 400 INVALID_PARAMETER_VALUE: Bad Request. Content-Type must be one of ['application/json'].");
	expect_error_line(500, NULL, "{\"error_code\":\"INTERNAL_ERROR\"}",
			  "HTTP 500 INTERNAL_ERROR");
}

static void test_error_line_azure_json(void **state)
{
	(void)state;
	expect_error_line(429, "application/json; charset=utf-8",
			  "{\"error\":{\"code\":\"RequestThrottled\",\"message\":\"Too many requests, retry after 10 s\",\"innerError\":{}}}",
			  "HTTP 429 RequestThrottled: Too many requests, retry after 10 s");
}

static void test_error_line_html(void **state)
{
	static const char flask405[] =
		"<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n"
		"<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n";

	(void)state;
	expect_error_line(405, "text/html; charset=utf-8", flask405,
			  "HTTP 405 Method Not Allowed (HTML page from the server)");
	/* recognised by its first character too; the title squeezed */
	expect_error_line(502, NULL,
			  "  <html><head><TITLE>\n  Bad\n\tGateway </TITLE></head></html>",
			  "HTTP 502 Bad Gateway (HTML page from the server)");
	expect_error_line(500, "TEXT/HTML", "<p>oops</p>",
			  "HTTP 500 (HTML page from the server)");
	expect_error_line(404, "text/html", "<title>404 Not Found",
			  "HTTP 404 (HTML page from the server)");
}

static void test_error_line_plain_text(void **state)
{
	char body[600], expected[400];

	(void)state;
	expect_error_line(401, "text/plain",
			  "\n  \nYou are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.\r\nsecond line\n",
			  "HTTP 401: You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.");
	expect_error_line(403, NULL, "Permission denied",
			  "HTTP 403: Permission denied");
	/* JSON of another shape is shown as text */
	expect_error_line(400, "application/json", "{\"detail\":\"nope\"}",
			  "HTTP 400: {\"detail\":\"nope\"}");

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	snprintf(expected, sizeof(expected), "HTTP 503: %.300s...", body);
	expect_error_line(503, "text/plain", body, expected);
}

static void test_error_line_empty(void **state)
{
	(void)state;
	expect_error_line(502, NULL, "", "HTTP 502 (empty answer)");
	expect_error_line(502, "text/plain", " \r\n\t\n", "HTTP 502 (empty answer)");
	expect_error_line(504, NULL, NULL, "HTTP 504 (empty answer)");
}

static void test_error_line_escapes_control_characters(void **state)
{
	(void)state;
	expect_error_line(400, NULL,
			  "{\"error_code\":\"BAD_REQUEST\",\"message\":\"line1\\nline2\\u0007 end\"}",
			  "HTTP 400 BAD_REQUEST: line1\\x0aline2\\x07 end");
	expect_error_line(500, NULL, "boom\x1b[31m red\r\n",
			  "HTTP 500: boom\\x1b[31m red");
	expect_error_line(500, NULL, "bad \xff byte",
			  "HTTP 500: bad \\xff byte");
}

static void test_error_line_small_buffer(void **state)
{
	char buf[12];

	(void)state;
	aml_mlflow_error_line(404, NULL, "Not Found", 9, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP 404: N");
	aml_mlflow_error_line(404, NULL, "Not Found", 9, buf, 0); /* no-op */
}

/* ---- retries --------------------------------------------------------- */

#define RETRYABLE(status, body) \
	aml_mlflow_retryable(status, body, strlen(body))

static void test_retryable(void **state)
{
	static const long yes[] = { 408, 429, 500, 502, 503, 504 };
	static const long no[] = { 200, 400, 401, 403, 404, 405, 409, 499, 501 };
	static const char throttled[] =
		"{\"error\":{\"code\":\"RequestThrottled\",\"message\":\"slow down\"}}";

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(aml_mlflow_retryable(yes[i], NULL, 0));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(aml_mlflow_retryable(no[i], "{}", 2));
	assert_true(RETRYABLE(400, throttled));
	assert_true(RETRYABLE(200, "  \n" "{\"error\":{\"code\":\"RequestThrottled\"}}"));
	assert_false(RETRYABLE(400, "{\"error\":{\"code\":\"BadRequest\"}}"));
	assert_false(RETRYABLE(400, "{\"error_code\":\"RequestThrottled\"}"));
	assert_false(RETRYABLE(400, "{\"error\":{\"code\":\"RequestThrottled\""));
	assert_false(RETRYABLE(400, "RequestThrottled"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_every_azure_status),
		cmocka_unit_test(test_status_valid_exactly_five),
		cmocka_unit_test(test_base_url_http_https_kept),
		cmocka_unit_test(test_base_url_azureml),
		cmocka_unit_test(test_base_url_refuses_other_schemes),
		cmocka_unit_test(test_base_url_refuses_userinfo_without_echo),
		cmocka_unit_test(test_base_url_refuses_empty_host),
		cmocka_unit_test(test_base_url_refuses_bad_port),
		cmocka_unit_test(test_base_url_refuses_query_fragment),
		cmocka_unit_test(test_base_url_refuses_whitespace_control_non_ascii),
		cmocka_unit_test(test_url_encode_exact),
		cmocka_unit_test(test_url_encode_path_keeps_slashes),
		cmocka_unit_test(test_url_encode_round_trips),
		cmocka_unit_test(test_artifact_url_proxy),
		cmocka_unit_test(test_artifact_url_separate_server),
		cmocka_unit_test(test_artifact_url_refuses_other_schemes),
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
		cmocka_unit_test(test_error_line_mlflow_json),
		cmocka_unit_test(test_error_line_azure_json),
		cmocka_unit_test(test_error_line_html),
		cmocka_unit_test(test_error_line_plain_text),
		cmocka_unit_test(test_error_line_empty),
		cmocka_unit_test(test_error_line_escapes_control_characters),
		cmocka_unit_test(test_error_line_small_buffer),
		cmocka_unit_test(test_retryable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
