/*
 * test_mlflow_call.c: rest/mlflow_call.c's lines that need no server:
 * a failed transfer said from the server's answer or the transport's
 * error, with the credentials' secrets taken out.  Requests themselves
 * are test_history_mlflow's, against the test server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mlflow_internal.h"

static void test_transfer_failed(void **state)
{
	char token[] = "s3cr3t-t0ken";
	struct mlflow m = { .creds = { .token = token } };
	struct aml_http_response resp = { 0 };
	char body[] = "{\"error_code\":\"RESOURCE_DOES_NOT_EXIST\","
		      "\"message\":\"no such file\"}";
	char err[512];

	(void)state;
	resp.status = 404;
	resp.body = body;
	resp.body_len = strlen(body);
	mf_transfer_failed(&m, "download of ", "outputs/a", AML_HTTP_ANSWER,
			   &resp, "unused", err, sizeof(err));
	assert_string_equal(err, "run history (MLflow): download of "
			    "outputs/a: HTTP 404 RESOURCE_DOES_NOT_EXIST: "
			    "no such file");

	/* No answer: the transport's error, never a secret in it. */
	mf_transfer_failed(&m, "", "logs/b", AML_HTTP_UNAVAILABLE, &resp,
			   "refused with s3cr3t-t0ken", err, sizeof(err));
	assert_non_null(strstr(err, "run history (MLflow): logs/b: refused "
			       "with "));
	assert_null(strstr(err, token));
}

static void test_oom(void **state)
{
	char err[64];

	(void)state;
	assert_int_equal(mf_oom(err, sizeof(err)), AML_BACKEND_REFUSED);
	assert_string_equal(err, "out of memory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transfer_failed),
		cmocka_unit_test(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
