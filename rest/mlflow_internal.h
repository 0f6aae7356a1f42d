/*
 * mlflow_internal.h: what the MLflow backend's modules share, and nothing
 * else includes.  Data goes one way:
 *
 *     mlflow_call.c       one request to the server and its verdict
 *     mlflow_find.c       finding experiments and runs
 *     mlflow_artifacts.c  a run's artifacts: listed, opened, downloaded
 *     history_mlflow.c    the writers, the readers, the backend itself
 */
#ifndef AML_MLFLOW_INTERNAL_H
#define AML_MLFLOW_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include "credentials.h"
#include "history_backend.h"
#include "http.h"
#include "mlflow_answer.h"

/* The API's root below HistoryURI, and slurm-aml's tags in an MLflow run
 * (history_mlflow.c, at the top). */
#define API "/api/2.0/mlflow/"
#define TAG_RUN_ID "aml.run_id"
#define TAG_SCHEMA "aml.schema"
#define TAG_STATUS "aml.status"
#define TAG_REASON "aml.reason"
#define TAG_UID "aml.owner_uid"
#define TAG_EVENT "aml.event."
#define TAG_CONFIG "aml.config."
#define TAG_PROPERTY "aml.property."
#define TAG_REFUSED "aml.refused."

/* A run id and the MLflow run it is (mf_bind). */
struct binding {
	char *run_id;
	char *key;
};

struct mlflow {
	struct aml_http *http;
	char *base;          /* HistoryURI as an https/http base */
	char *tracking_uri;  /* HistoryURI as written, for MLFLOW_TRACKING_URI */
	struct aml_credentials creds;
	char *auth;          /* the Authorization header line, or NULL */
	uid_t uid;
	char user[64];       /* its name, as our runs' owner says it */
	struct binding *bound;
	size_t n_bound;
};

/* ---- mlflow_call.c ---- */

/* Make [errbuf] safe to show: no secret of [m]'s may be in it, whatever
 * the server or libcurl echoed. */
void mf_redact(struct mlflow *m, char *errbuf, size_t errlen);

/*
 * One request to [target] ("runs/get?run_id=..." below the API, or an
 * absolute URL).  AML_BACKEND_OK on a 2xx answer (in [resp]), else the
 * verdict with one line in errbuf; [resp] keeps the answer either way
 * (404s matter to callers).
 */
int mf_request(struct mlflow *m, const char *method, const char *target,
	       const char *json, struct aml_http_response *resp,
	       char *errbuf, size_t errlen);

/* "out of memory" in errbuf; AML_BACKEND_REFUSED. */
int mf_oom(char *errbuf, size_t errlen);

/* The one line for a transfer of [path] ([doing] before it) that did not
 * end in a 2xx: the server's answer when there was one ([rc]
 * AML_HTTP_ANSWER), else the transport's [err]; redacted. */
void mf_transfer_failed(struct mlflow *m, const char *doing,
			const char *path, int rc,
			const struct aml_http_response *resp,
			const char *err, char *errbuf, size_t errlen);

/* ---- mlflow_find.c ---- */

/* The id of experiment [name]: 0 with malloc'd *[id]; 1 when it does not
 * exist and [create] is 0; else a verdict.  Made when missing. */
int mf_experiment_id(struct mlflow *m, const char *name, int create,
		     char **id, char *errbuf, size_t errlen);

/* Every experiment on the server (ids and names): 0, or a verdict. */
int mf_all_experiments(struct mlflow *m, struct aml_mlflow_experiments *all,
		       char *errbuf, size_t errlen);

/* The name of experiment [id] in [all] (may be NULL), or NULL. */
const char *mf_experiment_name(const struct aml_mlflow_experiments *all,
			       const char *id);

/* The ids of [all], or of those named [name] only (NULL: every one), for
 * runs/search; malloc'd (the strings are [all]'s), NULL when memory runs
 * out. */
const char **mf_experiment_ids(const struct aml_mlflow_experiments *all,
			       const char *name, size_t *n);

/* Search [ids] for runs matching [filter]; every page.  [max] stops
 * early (0: all).  0 with [out], or a verdict. */
int mf_search_runs(struct mlflow *m, const char *const *ids, size_t n,
		   const char *filter, size_t max,
		   struct aml_mlflow_runs *out, char *errbuf, size_t errlen);

/* struct aml_history_ops' bind and key_of: which MLflow run [run_id] is
 * reached by. */
int mf_bind(void *self, const char *run_id, const char *key, char *errbuf,
	    size_t errlen);
const char *mf_key_of(void *self, const char *run_id);

/* The MLflow run [key] (runs/get): 0 with [run], 1 when the server has
 * none, or a verdict. */
int mf_get_run(struct mlflow *m, const char *key,
	       struct aml_mlflow_run *run, char *errbuf, size_t errlen);

/* The run [key], which must be slurm-aml's run [run_id]: 0 with [run],
 * or a verdict saying which of the two did not hold. */
int mf_keyed_run(struct mlflow *m, const char *key, const char *run_id,
		 struct aml_mlflow_run *run, char *errbuf, size_t errlen);

/* Who made [run]: run.info.user_id, else the mlflow.user tag, else "?". */
const char *mf_owner_of(const struct aml_mlflow_run *run);

/* Every slurm-aml run named [run_id] in the experiments [ids] (all
 * pages): 0 with [found], or a verdict. */
int mf_runs_named(struct mlflow *m, const char *const *ids, size_t n,
		  const char *run_id, struct aml_mlflow_runs *found,
		  char *errbuf, size_t errlen);

/* The run of [found] (the runs named [run_id]) that a caller without a
 * key takes (the caller's own only, when [mine_only]); several are
 * refused with one line naming each (experiments from [all], may be
 * NULL).  0 with [*run] moved out of [found]; 1 when none is left; or a
 * verdict. */
int mf_choose_run(struct mlflow *m, struct aml_mlflow_runs *found,
		  const char *run_id, int mine_only,
		  const struct aml_mlflow_experiments *all,
		  struct aml_mlflow_run *run, char *errbuf, size_t errlen);

/* The run [run_id] of [experiment] a writer names: by its bound key, else
 * by name among the writer's own runs there.  0 with [run] and malloc'd
 * [*exp_id], or a verdict (a key that is not there is refused; a name
 * that is not there yet is UNAVAILABLE: its creation may wait in a
 * spool). */
int mf_named_run(struct mlflow *m, const char *experiment,
		 const char *run_id, char **exp_id,
		 struct aml_mlflow_run *run, char *errbuf, size_t errlen);

/* The run of [found] that the create whose first event's id is
 * [first_id] made: 0 with [*run] moved out of [found], 1 when none. */
int mf_made_by(struct aml_mlflow_runs *found, const char *first_id,
	       struct aml_mlflow_run *run);

/* Whether [run] holds the event [event_id] (in a tag of any release's
 * key format). */
int mf_has_event(const struct aml_mlflow_run *run, const char *event_id);

/* ---- mlflow_artifacts.c: struct aml_history_ops' artifact readers ---- */

int mf_list_artifacts(void *self, const struct aml_run_info *run,
		      struct aml_artifact **list, size_t *n, char *errbuf,
		      size_t errlen);
int mf_open_artifact(void *self, const struct aml_run_info *run,
		     const char *path, char *errbuf, size_t errlen);
int mf_download(void *self, const struct aml_run_info *run,
		const char *path, int out_fd,
		struct aml_artifact_stats *stats, char *errbuf,
		size_t errlen);

#endif
