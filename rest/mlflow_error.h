/*
 * mlflow_error.h: what a failed answer of MLflow's tracking REST API says,
 * as one line for a person, and whether the request is worth sending
 * again: sections 4 and 6 of the list of what real MLflow servers do
 * that tests/mlflow-server/mlflow_test_server.py reproduces.
 *
 * Pure: no I/O, so every rule has a unit test.
 */
#ifndef AML_MLFLOW_ERROR_H
#define AML_MLFLOW_ERROR_H

#include <stddef.h>

/*
 * One line for an answer that failed, into [buf] of [buflen] bytes; it
 * never holds a newline or control character (all escaped):
 *   MLflow JSON {"error_code","message"}
 *       "HTTP 404 RESOURCE_DOES_NOT_EXIST: Could not find experiment ..."
 *   Azure JSON {"error":{"code","message"}}
 *       "HTTP 429 RequestThrottled: ..."
 *   HTML ([content_type] text/html, or a body starting with '<')
 *       "HTTP 405 Method Not Allowed (HTML page from the server)", from
 *       the <title> (a leading status number dropped), or without it
 *   plain text: "HTTP 401: <first non-blank line, cut with ... at ~300>"
 *   nothing:    "HTTP 502 (empty answer)"
 * [content_type] and [body] may be NULL.  Messages are cut at ~300
 * characters too.
 */
void aml_mlflow_error_line(long http_status, const char *content_type,
			   const char *body, size_t len, char *buf,
			   size_t buflen);

/* Non-zero when a failed request is worth sending again: HTTP 408, 429,
 * 500, 502, 503, 504, and Azure's {"error":{"code":"RequestThrottled"}}
 * whatever the status (what MLflow's and azureml-mlflow's clients do). */
int aml_mlflow_retryable(long http_status, const char *body, size_t len);

#endif
