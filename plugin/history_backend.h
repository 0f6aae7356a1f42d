/*
 * history_backend.h: what a run history backend implements.
 *
 * history.c owns the rules every backend shares (the spool, replay,
 * privileges of the caller's spool); a backend only stores.  Writers
 * return one of the verdicts below: UNAVAILABLE is the only one that sends
 * the write to the spool, so a backend must use it exactly for "the
 * location or service cannot be reached or written right now" (unmounted,
 * full, read-only, 5xx), never for a refusal.
 */
#ifndef AML_HISTORY_BACKEND_H
#define AML_HISTORY_BACKEND_H

#include "history.h"
#include "run_info.h"

enum aml_backend_verdict {
	AML_BACKEND_OK = 0,
	AML_BACKEND_UNCHANGED = 1,
	AML_BACKEND_REFUSED = -1,      /* for good: errbuf says why */
	AML_BACKEND_UNAVAILABLE = -2,  /* for now: spool and retry later */
};

struct aml_history_ops {
	const char *name;
	int (*create_run)(void *self, const struct aml_run_new *req,
			  char *errbuf, size_t errlen);
	int (*record)(void *self, const char *experiment, const char *run_id,
		      const struct aml_event *ev, char *errbuf, size_t errlen);
	int (*add_properties)(void *self, const char *experiment,
			      const char *run_id,
			      const struct aml_kvlist *properties,
			      char *errbuf, size_t errlen);
	int (*set_tags)(void *self, const char *experiment,
			const char *run_id, const struct aml_kvlist *set,
			const struct aml_strlist *remove, char *errbuf,
			size_t errlen);
	/* [root_fd] is the run's working directory, or a spooled upload's
	 * entry (then [src] is "files" and [dest] names the target). */
	int (*upload)(void *self, const char *experiment, const char *run_id,
		      int root_fd, const char *src, const char *dest,
		      struct aml_artifact_stats *stats, char *errbuf,
		      size_t errlen);
	/* A live log: a backend implements one of the two.  open_log:
	 * a descriptor the launcher's streamer appends to (a file in
	 * HistoryDir).  put_log: the first [len] bytes of [fd], a log
	 * still growing, stored over the last copy (a tracking server,
	 * whose artifacts are stored whole). */
	int (*open_log)(void *self, const char *experiment,
			const char *run_id, const char *name, char *errbuf,
			size_t errlen);
	int (*put_log)(void *self, const char *experiment,
		       const char *run_id, const char *name, int fd,
		       long long len, char *errbuf, size_t errlen);
	int (*read_run)(void *self, const char *run_id, int with_config,
			struct aml_run_info *info, char *errbuf,
			size_t errlen);
	int (*list)(void *self, const struct aml_run_filter *filter,
		    struct aml_run_info **runs, size_t *n, char *errbuf,
		    size_t errlen);
	int (*list_artifacts)(void *self, const struct aml_run_info *run,
			      struct aml_artifact **list, size_t *n,
			      char *errbuf, size_t errlen);
	int (*open_artifact)(void *self, const struct aml_run_info *run,
			     const char *path, char *errbuf, size_t errlen);
	int (*download)(void *self, const struct aml_run_info *run,
			const char *path, int out_fd,
			struct aml_artifact_stats *stats, char *errbuf,
			size_t errlen);
	/* Backends whose runs have ids of their own (MLflow); NULL for the
	 * others.  bind: find [run_id] by [key] from now on, for reads and
	 * writes (NULL [key]: forget); key_of: the key bound to [run_id]
	 * (create_run binds the run it made, or found it had made), or
	 * NULL.  history.c keeps a spooled write's key with it, and binds
	 * it again for the replay. */
	int (*bind)(void *self, const char *run_id, const char *key,
		    char *errbuf, size_t errlen);
	const char *(*key_of)(void *self, const char *run_id);
	/* What the job's processes get to log into the same run themselves
	 * (MLFLOW_RUN_ID...); NULL when nothing. */
	int (*job_env)(void *self, const char *experiment, const char *run_id,
		       struct aml_kvlist *env, char *errbuf, size_t errlen);
	/* Whether the last write that was UNAVAILABLE found run history not
	 * answering at all (a timeout, no connection, a hung filesystem) as
	 * opposed to answering with an error: what opens the breaker
	 * (breaker.h).  NULL: never. */
	int (*unanswered)(void *self);
	void (*close)(void *self);
};

/*
 * Put [*ops]/[*self] behind a layer that runs each write in a child given
 * up after [idle_ms] without progress (history_bounded.c), for a backend
 * on a filesystem that may hang; [where] names it in messages.  [idle_ms]
 * <= 0 leaves them as they are.  Returns 0, or -1 with errbuf.
 */
int aml_history_bounded_wrap(const struct aml_history_ops **ops, void **self,
			     const char *where, int64_t idle_ms,
			     char *errbuf, size_t errlen);

/* The embedded backend: a directory tree under site->history_dir. */
int aml_history_file_open(const struct aml_site *site,
			  const struct aml_history_ops **ops, void **self,
			  char *errbuf, size_t errlen);

/*
 * How a program opens a backend the core does not hold (the MLflow one,
 * rest/history_mlflow.h), registered with aml_history_register: for
 * sites whose HistoryBackend is [backend], [open] as
 * aml_history_file_open.
 */
struct aml_history_opener {
	enum aml_history_backend backend;
	int (*open)(const struct aml_site *site,
		    const struct aml_history_ops **ops, void **self,
		    char *errbuf, size_t errlen);
};

#endif
