/*
 * mlflow_call.c: one request to the MLflow server and the backend's
 * verdict on it (history_backend.h: only what cannot reach the server,
 * or is refused for its credentials, is UNAVAILABLE), and the line a
 * failed transfer says; every message redacted of the credentials.
 */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "mlflow_error.h"
#include "mlflow_internal.h"

/* Make [errbuf] safe to show: no secret of ours may be in it, whatever
 * the server or libcurl echoed. */
void mf_redact(struct mlflow *m, char *errbuf, size_t errlen)
{
	if (errbuf && errlen)
		aml_credentials_redact(&m->creds, errbuf, errlen);
}

/*
 * One request to [target] ("runs/get?run_id=..." below the API, or an
 * absolute URL).  AML_BACKEND_OK on a 2xx answer (in [resp]), else the
 * verdict with one line in errbuf; [resp] keeps the answer either way
 * (404s matter to callers).
 */
int mf_request(struct mlflow *m, const char *method,
	       const char *target, const char *json,
	       struct aml_http_response *resp, char *errbuf,
	       size_t errlen)
{
	char err[1024], line[768], path[4096];
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (strncmp(target, "http", 4)) {
		snprintf(path, sizeof(path), "%s%s", API, target);
		target = path;
	}
	rc = aml_http_request(m->http, method, target, json, resp, err,
			      sizeof(err));
	if (rc == AML_HTTP_ANSWER && resp->status / 100 == 2)
		return AML_BACKEND_OK;
	if (rc == AML_HTTP_ERROR) {
		aml_fail(errbuf, errlen, "run history (MLflow): %s", err);
		rc = AML_BACKEND_REFUSED;
	} else if (rc == AML_HTTP_UNAVAILABLE) {
		aml_fail(errbuf, errlen, "run history (MLflow): %s", err);
		rc = AML_BACKEND_UNAVAILABLE;
	} else {
		const char *q = strchr(target, '?');
		int shown = q ? (int)(q - target) : (int)strlen(target);

		aml_mlflow_error_line(resp->status, resp->content_type,
				      resp->body, resp->body_len, line,
				      sizeof(line));
		aml_fail(errbuf, errlen, "run history (MLflow %s): %s %.*s: %s%s",
			 m->base, method, shown, target, line,
			 resp->status == 401 || resp->status == 403
				 ? " (the server refuses these credentials: "
				   "HistoryCredentials must be fixed)" : "");
		/* Credentials that expired or lost their rights say nothing
		 * about the write: it waits in the spool for the fix, as a
		 * filesystem's EACCES does. */
		rc = resp->status == 401 || resp->status == 403
			     ? AML_BACKEND_UNAVAILABLE : AML_BACKEND_REFUSED;
	}
	mf_redact(m, errbuf, errlen);
	return rc;
}

int mf_oom(char *errbuf, size_t errlen)
{
	aml_fail(errbuf, errlen, "out of memory");
	return AML_BACKEND_REFUSED;
}

/* The one line for a transfer of [path] that did not end in a 2xx: the
 * server's answer when there was one ([rc] AML_HTTP_ANSWER), else the
 * transport's [err]; redacted. */
void mf_transfer_failed(struct mlflow *m, const char *doing,
			const char *path, int rc,
			const struct aml_http_response *resp,
			const char *err, char *errbuf, size_t errlen)
{
	char line[768];

	if (rc == AML_HTTP_ANSWER)
		aml_mlflow_error_line(resp->status, resp->content_type,
				      resp->body, resp->body_len, line,
				      sizeof(line));
	aml_fail(errbuf, errlen, "run history (MLflow): %s%s: %s", doing, path,
		 rc == AML_HTTP_ANSWER ? line : err);
	mf_redact(m, errbuf, errlen);
}
