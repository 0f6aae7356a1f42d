/*
 * Unit tests of rest/mlflow_url.c: the base URL made of HistoryURI, percent-encoding
 * and the artifact proxy's URLs.
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

#include "mlflow_url.h"


static char errbuf[512];

#define RUN_ID "9c6b4e0f3a2d4c1b8e7f6a5b4c3d2ec5"

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

/* A file below the artifact root: the root as it is, the path encoded
 * segment by segment. */
static void test_artifact_file_url(void **state)
{
	static const char root[] =
		"http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/r%20x/artifacts";
	char *u;

	(void)state;
	u = aml_mlflow_artifact_file_url(root, "outputs/model 1/w%.bin");
	assert_string_equal(u, "http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/r%20x/artifacts/outputs/model%201/w%25.bin");
	free(u);
	u = aml_mlflow_artifact_file_url(root, "logs/it's \xc3\xa9");
	assert_string_equal(u, "http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/r%20x/artifacts/logs/it%27s%20%C3%A9");
	free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
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
		cmocka_unit_test(test_artifact_file_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
