/*
 * mlflow_wire.h: MLflow's tracking REST API on the wire, without the
 * network: URLs, request bodies, client-side limits, answers, and error
 * lines.  "section N" is that of the list of what real MLflow servers do
 * that tests/mlflow-server/mlflow_test_server.py reproduces (its §N).
 *
 * Everything here is pure: no I/O, no curl, so every rule has a unit test.
 * Functions that can fail for a reason a person must read take [errbuf]
 * and [errlen] and write one line there (aml_fail), returning -1.
 * Strings returned are malloc'd and freed with free(); NULL means out of
 * memory unless said otherwise.
 */
#ifndef AML_MLFLOW_WIRE_H
#define AML_MLFLOW_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kvlist.h"
#include "status.h"

/* ---- statuses (sections 2.4, 8) ------------------------------------ */

/*
 * The MLflow RunStatus for an Azure ML status: NotStarted, Queued,
 * Preparing -> "SCHEDULED"; Running, Finalizing, CancelRequested,
 * NotResponding -> "RUNNING"; Completed -> "FINISHED"; Failed ->
 * "FAILED"; Canceled -> "KILLED".  NULL for a value outside the enum.
 */
const char *aml_mlflow_status(enum aml_status s);

/* Non-zero when [s] is exactly one of the five RunStatus names.  The
 * server silently ignores an unknown one (section 1): we refuse it. */
int aml_mlflow_status_valid(const char *s);

/* ---- URLs ------------------------------------------------------------ */

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
 * cannot hold percent-encoded.  [*url] has no trailing '/': callers
 * append "/" and aml_url_encode_path(relpath).  Any other scheme (s3:,
 * file:, azureml:, a bare server path) is refused: only the tracking
 * server's proxy is spoken.  Returns 0, or -1 with [*url] NULL.
 */
int aml_mlflow_artifact_url(const char *base, const char *artifact_uri,
			    char **url, char *errbuf, size_t errlen);

/* ---- client-side limits (section 2.6) -------------------------------
 * The safest common policy, so every server (OSS 2.10 rejects, 2.11+
 * truncates, Azure may be stricter) treats a run alike. */

#define AML_MLFLOW_MAX_KEY 250            /* characters (keys are ASCII) */
#define AML_MLFLOW_MAX_TAG_VALUE 5000     /* bytes */
#define AML_MLFLOW_MAX_PARAM_VALUE 6000   /* bytes */
#define AML_MLFLOW_MAX_BATCH_METRICS 1000
#define AML_MLFLOW_MAX_BATCH_PARAMS 100
#define AML_MLFLOW_MAX_BATCH_TAGS 100
#define AML_MLFLOW_MAX_BATCH_ENTITIES 1000 /* metrics + params + tags */

/*
 * A metric, param or tag key ([what] says which, for the message:
 * "metric", "param", "tag"): non-empty, at most 250 characters, only
 * ASCII letters, digits, '_', '/', '.', '-' and space, and a normalized
 * path (no leading or trailing '/', no "//", no "." or ".." component,
 * not starting with ".."), as MLflow's server requires.  Returns 0, or
 * -1 with a line naming the key (escaped, cut) and the rule.
 */
int aml_mlflow_check_key(const char *what, const char *key, char *errbuf,
			 size_t errlen);

/* A tag's / a param's value for [key]: at most 5000 / 6000 bytes, and
 * valid UTF-8 (the server decodes the body as UTF-8; a stray byte fails
 * the whole request).  Returns 0, or -1 with a line. */
int aml_mlflow_check_tag_value(const char *key, const char *value,
			       char *errbuf, size_t errlen);
int aml_mlflow_check_param_value(const char *key, const char *value,
				 char *errbuf, size_t errlen);

/* ---- request bodies (compact JSON text) ----------------------------- */

/* One metric point to send.  NaN and +-Inf are fine (sent as strings). */
struct aml_mlflow_metric {
	const char *key;
	double value;
	int64_t timestamp_ms;
	int64_t step;
};

/*
 * Add [v] to [obj] under [key]: a finite value as a JSON number with the
 * fewest digits (15 to 17) that read back exactly (cJSON's own printing
 * accepts 15 digits that are only close: 0.30000000000000004 -> 0.3),
 * whatever the locale's decimal point; NaN, +Inf, -Inf as the strings
 * "NaN", "Infinity", "-Infinity", which is what the server parses
 * (cJSON's own would be null, refused).  Returns 0, or -1 when memory
 * runs out.
 */
int aml_mlflow_add_double(cJSON *obj, const char *key, double v);

/* Add [v] to [obj] under [key] as an exact JSON integer (all of int64,
 * not rounded through a double).  Returns 0, or -1 when out of memory. */
int aml_mlflow_add_int64(cJSON *obj, const char *key, int64_t v);

/*
 * Whether a log-batch request may be sent: at most 1000 metrics, 100
 * params, 100 tags and 1000 in all, and every key and value within the
 * rules above.  [tags] and [params] may be NULL, [metrics] NULL when [n]
 * is 0.  Also the check for create-run's tags (pass only [tags]).
 * Returns 0, or -1 with a line naming the count or the entry.
 */
int aml_mlflow_check_batch(const struct aml_kvlist *tags,
			   const struct aml_kvlist *params,
			   const struct aml_mlflow_metric *metrics, size_t n,
			   char *errbuf, size_t errlen);

/* experiments/create: {"name":...}. */
char *aml_mlflow_create_experiment_body(const char *name);

/*
 * runs/create: {"experiment_id","start_time","run_name","user_id",
 * "tags":[...]}; experiment_id and start_time are always sent (the server
 * stores 0 for a missing start time, and answers a missing experiment
 * with raw SQL).  [user_id] is CreateRun's deprecated field, which
 * MLflow's own client still fills with the user's name (mlflow.user) and
 * the server keeps as run.info.user_id; MLflow 2.10 takes it from the
 * client even under its basic-auth app, so it is a claim, like a tag.
 * [run_name], [user_id] NULL and [tags] NULL or empty are left out.
 */
char *aml_mlflow_create_run_body(const char *experiment_id,
				 const char *run_name, const char *user_id,
				 int64_t start_ms,
				 const struct aml_kvlist *tags);

/* runs/update: {"run_id","status","end_time"}.  [status] must be one of
 * the five (aml_mlflow_status_valid) or NULL to leave it out; [end_ms]
 * < 0 leaves end_time out.  NULL also for an invalid [status]. */
char *aml_mlflow_update_run_body(const char *run_id, const char *status,
				 int64_t end_ms);

/* runs/delete-tag {"run_id","key"}.  The key is the caller's to check
 * (aml_mlflow_check_*). */
char *aml_mlflow_delete_tag_body(const char *run_id, const char *key);

/*
 * runs/log-batch: {"run_id","metrics":[{key,value,timestamp,step}],
 * "params":[{key,value}],"tags":[{key,value}]}, empty arrays left out.
 * Checked first with aml_mlflow_check_batch().  Returns the text, or
 * NULL with a line in [errbuf] (a broken rule, or out of memory).
 */
char *aml_mlflow_log_batch_body(const char *run_id,
				const struct aml_kvlist *tags,
				const struct aml_kvlist *params,
				const struct aml_mlflow_metric *metrics,
				size_t n, char *errbuf, size_t errlen);

/*
 * runs/search: {"experiment_ids":[...],"filter","max_results",
 * "page_token"}.  [filter] NULL or "" and [page_token] NULL are left
 * out, and so is [max_results] <= 0 (the server's default, 1000).
 */
char *aml_mlflow_search_runs_body(const char *const *experiment_ids,
				  size_t n, const char *filter,
				  int max_results, const char *page_token);

/* experiments/search: {"max_results","page_token"}, left out as above. */
char *aml_mlflow_search_experiments_body(int max_results,
					 const char *page_token);

/*
 * A value for a search filter ("params.lr = <value>"), quoted: [*quoted]
 * = "'value'".  MLflow's filter grammar has no escape that every server
 * honours, so a value holding ' or \ or a control character is refused.
 * Returns 0, or -1 with a line (and [*quoted] NULL).
 */
int aml_mlflow_filter_value(const char *value, char **quoted, char *errbuf,
			    size_t errlen);

/* ---- answers ----------------------------------------------------------
 * Each parser takes the body of a 200 answer ([len] bytes, need not be
 * NUL-terminated) and the endpoint it came from ([endpoint], e.g.
 * "runs/get", for the message).  Optional fields may be missing (or
 * null); a field of the wrong type, a body that is not one JSON object,
 * or a missing required field is an error:
 *   "MLflow server: runs/get: unexpected answer: run.info.run_id is not a string".
 * Returns 0, or -1 with that line and the output left empty (nothing
 * allocated).  A next_page_token that is missing or "" is NULL.  Every
 * output has a _free function that leaves it zeroed. */

struct aml_mlflow_experiment {
	char *id;       /* experiment_id: required */
	char *name;     /* NULL when the answer had none */
	int deleted;    /* lifecycle_stage is "deleted" */
};

/* A metric as read back; value may be NaN or +-Inf. */
struct aml_mlflow_metric_point {
	char *key;
	double value;
	int64_t timestamp_ms;
	int64_t step;
};

struct aml_mlflow_run {
	char *run_id;           /* required (run_uuid accepted for it) */
	char *experiment_id;    /* these: NULL when missing */
	char *run_name;
	char *user_id;          /* run.info.user_id: "" or missing when the
				 * creator sent none */
	char *status;           /* as the server spells it */
	char *artifact_uri;
	char *lifecycle_stage;
	int64_t start_ms;       /* 0 when missing */
	int64_t end_ms;         /* -1 when missing (the run has not ended) */
	struct aml_kvlist tags; /* in the server's order */
	struct aml_kvlist params;
	struct aml_mlflow_metric_point *metrics;
	size_t metric_count;
};

struct aml_mlflow_runs {
	struct aml_mlflow_run *items;
	size_t count;
	char *next_page_token;
};

struct aml_mlflow_experiments {
	struct aml_mlflow_experiment *items;
	size_t count;
	char *next_page_token;
};

struct aml_mlflow_file {
	char *path;             /* as the server gives it, see below */
	int is_dir;
	int64_t file_size;      /* -1 when missing (directories) */
};

struct aml_mlflow_files {
	struct aml_mlflow_file *items;
	size_t count;
	char *root_uri;         /* tracking API only; NULL otherwise */
	char *next_page_token;
};

/* {"experiment":{experiment_id,name,lifecycle_stage,...}}
 * (experiments/get-by-name, experiments/get). */
int aml_mlflow_parse_experiment(const char *endpoint, const char *body,
				size_t len, struct aml_mlflow_experiment *exp,
				char *errbuf, size_t errlen);

/* {"experiment_id":"1"} (experiments/create); [*id] malloc'd. */
int aml_mlflow_parse_experiment_id(const char *endpoint, const char *body,
				   size_t len, char **id, char *errbuf,
				   size_t errlen);

/* {"run":{"info":{...},"data":{"tags","params","metrics"}}}
 * (runs/get, runs/create).  Times and int64s are read as numbers or
 * strings; a metric's value as a number or "NaN"/"Infinity"/"-Infinity"
 * (or any number in a string). */
int aml_mlflow_parse_run(const char *endpoint, const char *body, size_t len,
			 struct aml_mlflow_run *run, char *errbuf,
			 size_t errlen);

/* {"runs":[Run...],"next_page_token"} (runs/search); no "runs" is none. */
int aml_mlflow_parse_runs(const char *endpoint, const char *body, size_t len,
			  struct aml_mlflow_runs *runs, char *errbuf,
			  size_t errlen);

/* {"experiments":[...],"next_page_token"} (experiments/search). */
int aml_mlflow_parse_experiments(const char *endpoint, const char *body,
				 size_t len,
				 struct aml_mlflow_experiments *exps,
				 char *errbuf, size_t errlen);

/* {"root_uri","files":[{path,is_dir,file_size}],"next_page_token"}, both
 * the tracking API's artifacts/list (paths relative to the run's
 * artifact root) and the proxy's list (paths relative to the listed
 * directory).  file_size is a number or a string. */
int aml_mlflow_parse_files(const char *endpoint, const char *body,
			   size_t len, struct aml_mlflow_files *files,
			   char *errbuf, size_t errlen);

void aml_mlflow_experiment_free(struct aml_mlflow_experiment *exp);
void aml_mlflow_run_free(struct aml_mlflow_run *run);
void aml_mlflow_runs_free(struct aml_mlflow_runs *runs);
void aml_mlflow_experiments_free(struct aml_mlflow_experiments *exps);
void aml_mlflow_files_free(struct aml_mlflow_files *files);

/* ---- failed answers (sections 4, 6) -------------------------------- */

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
