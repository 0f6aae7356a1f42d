/*
 * Unit tests of rest/mlflow_error.c: the line made of a failed answer, and whether
 * a request is sent again.  The example answers are the ones the MLflow
 * servers 2.10.2 and 2.17.2 gave (tests/mlflow-server/mlflow_test_server.py,
 * §N).
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

#include "mlflow_error.h"


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
