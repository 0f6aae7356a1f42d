/*
 * history.h: run history, the one interface every writer and reader uses.
 *
 * Writers: sbatch creates the run (NotStarted) and records Queued; the node
 * records Preparing; aml-launch records Running, Finalizing and the end,
 * and uploads outputs/, logs/ and user_logs/; the finalizer records the end
 * the launcher could not.  Readers: the aml-run commands.
 *
 * Behind it sits a backend chosen by aml.conf (HistoryBackend): the
 * embedded file backend (history_file.c, a directory tree on the shared
 * filesystem, layout at the top of history_file.c) or a REST one.  This layer adds what
 * every backend needs:
 *   - the state machine: an event is checked against the run's events
 *     under the backend's per-run lock, so two writers cannot both move
 *     the run, and a refused transition is reported (and logged by the
 *     caller), never written;
 *   - the spool: when the backend is unavailable (unmounted, full,
 *     read-only, server down), the write is queued on local disk
 *     (spool.h) and the call succeeds with AML_HISTORY_SPOOLED.  Every
 *     write first replays what is queued, and while anything stays queued
 *     new writes queue behind it, so order holds;
 *   - privileges: a writer running as root (the finalizer) acts as the
 *     run's owner for everything it touches in the run directory and in
 *     the spool, so a planted symlink cannot make root write elsewhere.
 *
 * Writers name a run by experiment and run id (both in the job's
 * environment and comment); readers by run id alone.  On a backend whose
 * runs have ids of their own (MLflow's run id), a name can be taken by
 * anyone who shares the experiment, so the run is reached by that id
 * instead (aml_history_bind): sbatch learns it when it creates the run
 * and hands it to the job, every later writer binds it before writing,
 * and aml-run binds the run it read.
 *
 * Errors are one sentence in errbuf: "run history: run
 * hello_1764089396_0a1b2c3d: Completed -> Running is not a valid
 * transition (event from launcher, attempt 1)".
 */
#ifndef AML_HISTORY_H
#define AML_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "artifacts.h"
#include "event.h"
#include "kvlist.h"
#include "run_info.h"
#include "site.h"
#include "strlist.h"

struct aml_history;

/* Properties slurm-aml sets on every run (besides Azure ML's own git and
 * snapshot ones), so tools find them without parsing run.json. */
#define AML_PROP_COMPUTE_TARGET "aml.compute_target"
#define AML_PROP_USER "aml.user"
#define AML_PROP_SNAPSHOT "ContentSnapshotId"

/* What a write did. */
enum aml_history_result {
	AML_HISTORY_ERROR = -1,    /* refused or failed: errbuf says why */
	AML_HISTORY_WRITTEN = 0,
	AML_HISTORY_SPOOLED = 1,   /* queued locally; errbuf says why the
				    * backend was unavailable */
	AML_HISTORY_UNCHANGED = 2, /* already so (the same terminal event,
				    * an equal property): nothing written */
	AML_HISTORY_UNAVAILABLE = 3, /* only from aml_history_record_direct:
				      * the backend cannot be written now
				      * (errbuf says why); nothing queued */
};

/*
 * Open the backend [site] names.  Cheap: nothing is read or written until
 * a run is.  [site] must outlive the handle: a root process replaying
 * entries queued for other users opens their handles from it.  Returns 0,
 * or -1 with errbuf.
 */
int aml_history_open(const struct aml_site *site, struct aml_history **h,
		     char *errbuf, size_t errlen);
void aml_history_close(struct aml_history *h);

/*
 * The MLflow backend is not in the core: it needs libcurl, which
 * slurmctld must never load and a job whose run history is not on
 * MLflow should not pay for.  A program that writes to MLflow registers
 * it once, before its first aml_history_open (history_backend.h says
 * what [b] is): the SPANK plugin and the tools one that loads it as a
 * module on first use (history_module.h), the tests of rest/ the one
 * they link (rest/history_mlflow.h).  A site that asks for MLflow in a program that
 * registered none gets one line saying so.  The last registration wins;
 * [b] must outlive its use.
 */
struct aml_history_opener;
void aml_history_register(const struct aml_history_opener *b);

/* ---- writers ---- */

struct aml_run_new {
	const char *experiment;
	const char *run_id;
	const char *config_json;               /* canonical form */
	const struct aml_kvlist *properties;   /* may be NULL */
	const struct aml_kvlist *tags;         /* may be NULL */
	const struct aml_event *first;         /* NotStarted, attempt 1 */
};

/*
 * Create the run with its first event.  The run appears whole or not at
 * all (it is built aside and renamed into place); an existing run id is an
 * error.  Owned by the caller, mode from RunVisibility.  On MLflow, where
 * anyone sharing an experiment can make a run of any name, another run
 * of the name is no error (it could block anyone's submission): a new
 * run is made, told apart by its own id, which [h] is then bound to
 * (aml_history_key).
 */
enum aml_history_result aml_history_create_run(struct aml_history *h,
					       const struct aml_run_new *req,
					       char *errbuf, size_t errlen);

/*
 * Append [ev] after checking it against the run's events.  UNCHANGED when
 * it repeats the run's current status in the same attempt, or its id is
 * already in the log (a replay).
 */
enum aml_history_result aml_history_record(struct aml_history *h,
					   const char *experiment,
					   const char *run_id,
					   const struct aml_event *ev,
					   char *errbuf, size_t errlen);

/*
 * Add properties.  A key already set to another value is an error (as in
 * Azure ML, properties never change); the same value is UNCHANGED when
 * every key is so.  Nothing is written unless every key is acceptable.
 */
enum aml_history_result aml_history_add_properties(
	struct aml_history *h, const char *experiment, const char *run_id,
	const struct aml_kvlist *properties, char *errbuf, size_t errlen);

/*
 * Set the tags in [set] and remove those named in [remove] (either may be
 * NULL); the tag file is replaced atomically.
 */
enum aml_history_result aml_history_set_tags(
	struct aml_history *h, const char *experiment, const char *run_id,
	const struct aml_kvlist *set, const struct aml_strlist *remove,
	char *errbuf, size_t errlen);

/*
 * Upload the directory [src] (relative to the run's working directory
 * [workdir_fd]: "outputs", "logs", "user_logs") into the run under the same
 * name, by the rules of artifacts.h.  [stats] may be NULL.  Root may
 * upload only a working directory root owns: a user's is uploaded by the
 * user, who may read it.
 */
enum aml_history_result aml_history_upload(struct aml_history *h,
					   const char *experiment,
					   const char *run_id, int workdir_fd,
					   const char *src,
					   struct aml_artifact_stats *stats,
					   char *errbuf, size_t errlen);

/*
 * Open user_logs/[name] of the run for appending, so `aml-run logs
 * --follow` sees output as it is written.  Returns the descriptor, or -1
 * with errbuf (the launcher then writes locally and uploads at the end).
 */
int aml_history_open_log(struct aml_history *h, const char *experiment,
			 const char *run_id, const char *name, char *errbuf,
			 size_t errlen);

/*
 * Whether run history takes live logs by appending (aml_history_open_log:
 * the file backend) rather than as copies put whole (aml_history_put_log:
 * MLflow).
 */
int aml_history_appends_logs(const struct aml_history *h);

/*
 * Store the first [len] bytes of [fd], a log that only grows, as
 * user_logs/[name] of the run, over the last copy: the live log where
 * run history keeps no appendable files.  Never spooled: the launcher
 * uploads the whole log at the end, and only that one counts.  While the
 * breaker is open (breaker.h) nothing is tried: UNAVAILABLE at once, as
 * when run history does not answer, which opens it.
 */
enum aml_history_result aml_history_put_log(struct aml_history *h,
					    const char *experiment,
					    const char *run_id,
					    const char *name, int fd,
					    long long len, char *errbuf,
					    size_t errlen);

/*
 * From now on, find the run [run_id] through [h] by [key], the backend's
 * own id of it (the MLflow run id sbatch recorded when it created the
 * run: AML_MLFLOW_RUN_ID, the job's admin comment, or info->key of a run
 * read), for reads and writes alike, never by its name; a write that is
 * spooled keeps the key with it.  NULL [key] forgets the binding.  The
 * backend still checks that the run it finds is [run_id]
 * (history_mlflow.c), so a wrong key is refused, never written to.  A
 * backend without keys (the file backend, where a run id is a path)
 * ignores it.  Returns 0, or -1 with errbuf (a key not of the form of
 * aml_runid_is_tracking_id, out of memory).
 */
int aml_history_bind(struct aml_history *h, const char *run_id,
		     const char *key, char *errbuf, size_t errlen);

/* The key bound to [run_id] (aml_history_create_run binds the run it
 * made), or NULL: what sbatch hands the job.  Valid until the next bind
 * or close. */
const char *aml_history_key(struct aml_history *h, const char *run_id);

/*
 * Replay the caller's spool now (every write does this first anyway).
 * Returns 0 with what is left in [*remaining], or -1 with errbuf.
 */
int aml_history_flush(struct aml_history *h, size_t *remaining,
		      char *errbuf, size_t errlen);

/* ---- root components writing for a run's owner ---- */

/*
 * aml-finalize records the end of every user's runs, one job after
 * another, as root.  Nothing a user controls may stall it: not a lock the
 * user holds on their run's events or on their own spool (whose lock and
 * contents are theirs), not a filesystem that hangs.  So it never goes
 * through the owner's spool: it writes straight to the backend, as the
 * owner, in a child stopped at a deadline (bounded.h), and what cannot be
 * written in time waits in root's own spool, which no user can lock or
 * write, with the owner it is to be written as.  Any replay of root's
 * spool (aml_history_flush_until, and every write root makes) writes
 * those entries the same way, one bounded child each; a run whose write
 * fails for now keeps its entries, in order, and the other runs' entries
 * go on.
 */

/* How long one write as an owner may take before it is stopped and
 * queued (or kept queued) for later. */
#define AML_HISTORY_OWNED_WRITE_MS 3000

/* A flush by root without a deadline of its own stops after this. */
#define AML_HISTORY_ROOT_FLUSH_MS 10000
/* A queued write that run history answers for but does not take (the
 * run's creation never arrived, its directory stays read-only) is given
 * up this long after it was queued: moved to the spool's rejected/, with
 * why, instead of waiting, and warning, for ever. */
#define AML_HISTORY_KEPT_MAX_MS (7LL * 24 * 3600 * 1000)

/*
 * Append [ev] straight to the backend: no spool is replayed and nothing
 * queued.  Returns WRITTEN, UNCHANGED, ERROR (refused: errbuf says why),
 * or UNAVAILABLE (errbuf says why) for the caller to queue where it can
 * trust the queue.
 */
enum aml_history_result aml_history_record_direct(struct aml_history *h,
						  const char *experiment,
						  const char *run_id,
						  const struct aml_event *ev,
						  char *errbuf,
						  size_t errlen);

/* Flags of aml_history_record_owned. */
#define AML_HISTORY_NOTE 1  /* [ev] only says how the run is waiting: if
			     * the run has moved past it by the time it is
			     * written (refused), it is moot, and dropped
			     * instead of kept as rejected */

/*
 * Record [ev] in the run [experiment]/[run_id] of [uid]/[gid], for a
 * caller running as root: written as that owner, with a handle of the
 * owner's own (a backend's credentials are the effective user's), in a
 * child stopped at [deadline_ms] (aml_monotonic_ms time), unless root's
 * spool still holds an older entry of the same run; then, or when the
 * write is unavailable or not done in time, queued in root's spool for
 * the owner.  Returns WRITTEN, UNCHANGED, SPOOLED (errbuf says why and
 * where) or ERROR (refused, or not root, or the queue failed too).  The
 * key [h] holds for [run_id] (aml_history_bind) goes with the write, and
 * with what is queued.  A write that ran out of time is not tried again
 * by the next replay of root's spool through [h] (it would only wait as
 * long once more); the replays after that try it.
 */
enum aml_history_result aml_history_record_owned(
	struct aml_history *h, uid_t uid, gid_t gid, int64_t deadline_ms,
	const char *experiment, const char *run_id, const struct aml_event *ev,
	int flags, char *errbuf, size_t errlen);

struct aml_spool;
struct aml_spool_replay_stats;

/*
 * Replay the caller's spool, as aml_history_flush, and stop at
 * [deadline_ms] (aml_monotonic_ms time; 0: none, which for root means
 * AML_HISTORY_ROOT_FLUSH_MS).  Entries queued for an owner are written as
 * that owner, each in a child stopped at the deadline or
 * AML_HISTORY_OWNED_WRITE_MS later, whichever comes first.  [stats] (may
 * be NULL) says what was applied, rejected and what remains.  Returns 0
 * (errbuf: the reason of the last entry left or rejected, or ""), or -1
 * with errbuf when the spool itself fails.
 */
int aml_history_flush_until(struct aml_history *h, int64_t deadline_ms,
			    struct aml_spool_replay_stats *stats,
			    char *errbuf, size_t errlen);

/*
 * The same for the open spool [sp], which the caller owns (aml-epilog,
 * acting as the owner of a spool it found on the node).
 */
int aml_history_replay_spool(struct aml_history *h, struct aml_spool *sp,
			     int64_t deadline_ms,
			     struct aml_spool_replay_stats *stats,
			     char *errbuf, size_t errlen);

/*
 * Variables the run's processes get so they can log into the same run
 * themselves (the MLflow backend: MLFLOW_TRACKING_URI, MLFLOW_RUN_ID,
 * MLFLOW_EXPERIMENT_NAME, and, for a user's own process on a server that
 * wants credentials, the user's own as MLflow's client reads them:
 * MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and _PASSWORD), added
 * to [env].  The caller puts them in the environment of the processes it
 * starts, and nowhere else.  Nothing
 * for the file backend.  Returns 0, or -1 with errbuf, and then [env]
 * may still hold what could be known without run history (the server's
 * address and the experiment, when the run cannot be found there).
 */
int aml_history_job_env(struct aml_history *h, const char *experiment,
			const char *run_id, struct aml_kvlist *env,
			char *errbuf, size_t errlen);

/* ---- readers ---- */

/*
 * Read the run [run_id]: its events folded into info->state, properties,
 * tags and (when [with_config]) the canonical configuration.  Returns 0,
 * or -1 with errbuf ("run history: no run hello_17... (looked in
 * /shared/aml/history)").  Free [info] with aml_run_info_free
 * (run_info.h).
 */
int aml_history_read_run(struct aml_history *h, const char *run_id,
			 int with_config, struct aml_run_info *info,
			 char *errbuf, size_t errlen);

struct aml_run_filter {
	const char *experiment;  /* NULL: all */
	int has_status;
	enum aml_status status;
	const char *user;        /* NULL: all users whose runs we can read */
	int64_t since_ms;        /* 0: no limit; runs created at or after */
};

/*
 * Every run matching [filter] that the caller may read, newest first (by
 * creation time).  Runs the caller cannot read (private runs of others)
 * are left out silently.  Returns 0 with a malloc'd array (free each with
 * aml_run_info_free, then the array), or -1 with errbuf.
 */
int aml_history_list(struct aml_history *h,
		     const struct aml_run_filter *filter,
		     struct aml_run_info **runs, size_t *n, char *errbuf,
		     size_t errlen);

/* The run's uploaded files below outputs/, logs/ and user_logs/. */
int aml_history_list_artifacts(struct aml_history *h,
			       const struct aml_run_info *run,
			       struct aml_artifact **list, size_t *n,
			       char *errbuf, size_t errlen);

/*
 * Open the run's file [path] ("user_logs/std_log.txt") for reading;
 * returns the descriptor, or -1 with errbuf (errno ENOENT when it does not
 * exist yet).
 */
int aml_history_open_artifact(struct aml_history *h,
			      const struct aml_run_info *run,
			      const char *path, char *errbuf, size_t errlen);

/* Copy the run's [path] (file or directory; NULL or "" for every
 * artifact) into [out_fd], as aml_artifacts_copy_out. */
int aml_history_download(struct aml_history *h,
			 const struct aml_run_info *run, const char *path,
			 int out_fd, struct aml_artifact_stats *stats,
			 char *errbuf, size_t errlen);

#endif
