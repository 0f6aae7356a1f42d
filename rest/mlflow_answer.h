/*
 * mlflow_answer.h: reading what MLflow's tracking REST API answers when a
 * call succeeds: experiments, runs, searches and artifact lists, from a
 * body that is whatever the network (or a hostile or broken server) sent.
 *
 * Pure: no I/O, so every rule has a unit test.
 */
#ifndef AML_MLFLOW_ANSWER_H
#define AML_MLFLOW_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "kvlist.h"

/*
 * Each parser takes the body of a 200 answer ([len] bytes, need not be
 * NUL-terminated) and the endpoint it came from ([endpoint], e.g.
 * "runs/get", for the message).  Optional fields may be missing (or
 * null); a field of the wrong type, a body that is not one JSON object,
 * or a missing required field is an error:
 *   "MLflow server: runs/get: unexpected answer: run.info.run_id is not a string".
 * Returns 0, or -1 with that line and the output left empty (nothing
 * allocated).  A next_page_token that is missing or "" is NULL.  Every
 * output has a _free function that leaves it zeroed.
 */

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

#endif
