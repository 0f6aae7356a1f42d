/*
 * mlflow_url.h: where MLflow's tracking REST API is reached: aml.conf's
 * HistoryURI made a base URL, the percent-encoding of what goes into a
 * path or a query, and the artifact proxy's URLs of a run.  "Section N"
 * is that of the list of what real MLflow servers do that
 * tests/mlflow-server/mlflow_test_server.py reproduces (its §N).
 *
 * Pure: no I/O (curl only encodes), so every rule has a unit test.
 * Functions that can fail for a reason a person must read take [errbuf]
 * and [errlen] and write one line there (aml_fail), returning -1.
 * Strings returned are malloc'd and freed with free(); NULL means out of
 * memory unless said otherwise.
 */
#ifndef AML_MLFLOW_URL_H
#define AML_MLFLOW_URL_H

#include <stddef.h>

/*
 * aml.conf's HistoryURI [uri] -> [*base] (malloc'd), to which
 * "/api/2.0/mlflow/<endpoint>" is appended:
 *   http://host[:port][/path], https://...  kept, scheme lower-cased,
 *       trailing '/' dropped;
 *   azureml://<netloc>/<path>  -> https://<netloc>/<path>, a leading
 *       /mlflow/v1.0 rewritten to /mlflow/v2.0 (as the azureml-mlflow plugin does for MLflow 2).
 * Refused, one line naming HistoryURI and the rule (the URI itself is
 * never echoed, it may hold a password): another scheme, no host, a port
 * that is not 1-65535, user information ("user:pass@"; credentials
 * belong in HistoryCredentials), a query or fragment, whitespace, control
 * or non-ASCII characters.  Returns 0, or -1 with [*base] NULL.
 */
int aml_mlflow_base_url(const char *uri, char **base, char *errbuf,
			size_t errlen);

/* RFC 3986 percent-encoding of all but the unreserved A-Za-z0-9-._~,
 * for a query value or one path segment. */
char *aml_url_encode(const char *s);

/* The same, segment by segment: '/' kept ("a b/c%" -> "a%20b/c%25"). */
char *aml_url_encode_path(const char *s);

/*
 * The artifact proxy URL of a run's [artifact_uri] (run.info.artifact_uri)
 * for a tracking server at [base] (from aml_mlflow_base_url), as MLflow's
 * own client resolves it (section 2.9):
 *   mlflow-artifacts:/<p>           -> <base>/api/2.0/mlflow-artifacts/artifacts/<p>
 *   mlflow-artifacts://host:port/<p> -> <base's scheme>://host:port/api/2.0/mlflow-artifacts/artifacts/<p>
 * <p> is kept as the URI has it (it is already a URI path), bytes a URL
 * cannot hold percent-encoded.  [*url] has no trailing '/': a file's
 * URL below it is aml_mlflow_artifact_file_url's.  Any other scheme (s3:,
 * file:, azureml:, a bare server path) is refused: only the tracking
 * server's proxy is spoken.  Returns 0, or -1 with [*url] NULL.
 */
int aml_mlflow_artifact_url(const char *base, const char *artifact_uri,
			    char **url, char *errbuf, size_t errlen);

/* [url] (from aml_mlflow_artifact_url) "/" [path] encoded segment by
 * segment (aml_url_encode_path): where the run's file [path] lives behind
 * its artifact root.  NULL when memory runs out. */
char *aml_mlflow_artifact_file_url(const char *url, const char *path);

#endif
