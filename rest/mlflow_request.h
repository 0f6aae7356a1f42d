/*
 * mlflow_request.h: what a request to MLflow's tracking REST API sends:
 * the RunStatus of an Azure ML status, the limits a key, a value and a
 * batch are held to before they go, and each call's JSON body.  "Section
 * N" is that of the list of what real MLflow servers do that
 * tests/mlflow-server/mlflow_test_server.py reproduces (its §N).
 *
 * Pure: no I/O, so every rule has a unit test.  Functions that can fail
 * for a reason a person must read take [errbuf] and [errlen] and write
 * one line there (aml_fail), returning -1.  Strings returned are malloc'd
 * and freed with free(); NULL means out of memory unless said otherwise.
 */
#ifndef AML_MLFLOW_REQUEST_H
#define AML_MLFLOW_REQUEST_H

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

#endif
