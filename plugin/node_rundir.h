/*
 * node_rundir.h: a run's directory on a node, from its install to its
 * removal; nothing in it is removed while its outputs and logs have
 * reached neither run history nor the spool.
 *
 *     <RunDir>/<user>/                 the user's own (userdir.h), 0700
 *         <run_id>/                    the run's, 0700
 *             <node>/                  the node's working directory
 *             .lock-<node>             the node side's install lock
 *             .attempt-<node>          "job <id> attempt <n>"
 *             .delivered-<node>        aml-launch uploaded it all
 *             .undelivered-<node>      kept: not delivered (why, and how
 *                                      to deliver it)
 *             .lost-<node>             removed undelivered (KeptRunDirMax);
 *                                      what run history must still be told
 *     <RunDir>/.aml-kept/<node>/<uid>/<run_id>   the ledger: bytes kept
 *
 * Who does what:
 *   - aml-launch, as the user, writes .delivered-<node> once every upload
 *     from that node (outputs/, logs/, user_logs/) was written, unchanged
 *     or queued in the spool (aml_node_rundir_mark_delivered).
 *   - The SPANK epilog, as root, at the job's end on the node
 *     (aml_node_rundir_end_job): without .delivered-<node> (the launcher
 *     was killed before its uploads, or they failed), it uploads outputs/,
 *     logs/ and user_logs/ itself, as the user, in a child stopped at a
 *     deadline.  Delivered: the directory is removed.  Not delivered: it
 *     is kept with .undelivered-<node>, and said.  But when keeping it
 *     would bring the node's kept directories above KeptRunDirMax, the
 *     admin's bound on disk wins: it is removed, said loudly, and the run
 *     gets the property aml.outputs_lost.<node> (or, while run history and
 *     the spool are both away, a .lost-<node> note that asks for it).
 *   - aml-epilog, as root, at every job's end and by hand
 *     (aml_node_rundirs_retry): every kept directory on the node is
 *     uploaded again, as its owner, and removed once delivered; every
 *     .lost-<node> note is written to run history and removed.
 *
 * Threat: RunDir is shared (1777) and each user's tree is theirs.  A user
 * may put anything in their own tree (markers, symlinks, FIFOs, millions
 * of entries) and anything at the top of RunDir under any name.  So
 * everything inside a user's tree is read and removed only as that user
 * (the kernel stops a symlink to another user's directory as it would
 * stop the user), never following a symlink, and markers are opened
 * without blocking and read only when they are regular files; a user's
 * tree is judged by who owns it, never by its name; each user's work runs
 * in a child stopped at a deadline, one user after another, from a
 * different one each time, so no user's tree can hold up the others or
 * the node.  What a user plants in their own tree concerns only their own
 * runs.  The ledger of bytes kept is root's own (no user can write,
 * inflate or lock it): sizes are measured by this code, as the owner,
 * when the directory is kept, never read from what a user can write.
 *
 * Every function that touches a user's tree may be called as root (then
 * it acts as [uid]/[gid] for it) or as that user.  Single-threaded
 * callers only (privdrop.h, bounded.h).
 */
#ifndef AML_NODE_RUNDIR_H
#define AML_NODE_RUNDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "node_spools.h"
#include "site.h"
#include "userdir.h"

/* The markers, each followed by the node's name. */
#define AML_RUNDIR_LOCK ".lock-"
#define AML_RUNDIR_ATTEMPT ".attempt-"
#define AML_RUNDIR_DELIVERED ".delivered-"
#define AML_RUNDIR_UNDELIVERED ".undelivered-"
#define AML_RUNDIR_LOST ".lost-"

/* The run property that says a node's outputs were lost, followed by the
 * node's name; its value is the sentence the epilog logged. */
#define AML_PROP_OUTPUTS_LOST "aml.outputs_lost."

/*
 * How long the SPANK epilog may spend on one node's directory: uploading
 * what the launcher could not, then measuring what it keeps.  Slurm waits
 * for the epilog (the job stays COMPLETING, the node takes no new job),
 * and a site's PrologEpilogTimeout, when set, drains a node whose epilog
 * runs longer: keep it above this plus aml-epilog's --seconds.
 */
#define AML_NODE_RUNDIR_EPILOG_MS 30000
/* Of which measuring the kept directory's size may take at most this. */
#define AML_NODE_RUNDIR_MEASURE_MS 5000
/* aml-epilog: each user's kept directories get at least this long. */
#define AML_NODE_RUNDIR_USER_MIN_MS 3000

/* The same callback aml-epilog gives node_spools: one line with a syslog
 * level (LOG_INFO, LOG_WARNING, LOG_ERR: a loss). */
typedef aml_node_spools_say aml_node_rundir_say;

/* ---- the layout, for the node side ---- */

/*
 * The caller's own directory in [run_dir] (RunDir), made (0700) when
 * [create].  RunDir must belong to root (or the caller) and be sticky
 * when others may write it.  Returns 0 with [ud] filled, or -1 with
 * errbuf (errno ENOENT when there is none and [create] is 0).
 */
int aml_node_rundir_open_user_root(const char *run_dir, int create,
				   struct aml_userdir *ud, char *errbuf,
				   size_t errlen);

/*
 * <root>/<run_id> ([root_path] for messages), made (0700) when [create],
 * opened O_NOFOLLOW, and only when it is the caller's and nobody else may
 * write it.  Returns the descriptor (O_RDONLY), -1 with errbuf, or -2
 * (errno ENOENT) when it does not exist and [create] is 0.
 */
int aml_node_rundir_open_run(int root, const char *root_path,
			     const char *run_id, int create, char *errbuf,
			     size_t errlen);

/*
 * The marker [prefix][node] ("." AML_RUNDIR_ATTEMPT "n1") into [buf] of
 * [len] bytes, room left for a ".new" temporary.  Returns 0, or -1 when
 * [node] is no single path component or the name would not fit.
 */
int aml_node_rundir_marker(char *buf, size_t len, const char *prefix,
			   const char *node);

/*
 * The attempt marker [name] in [rdir]: "job <id> attempt <n>".  Returns 1
 * with both, 0 when there is none, -1 when it cannot be read or makes no
 * sense.  Never blocks (a FIFO is no marker).
 */
int aml_node_rundir_read_attempt(int rdir, const char *name, uint32_t *job_id,
				 unsigned *attempt);

/* Write it, aside and renamed into place.  0, or -1 with errno. */
int aml_node_rundir_write_attempt(int rdir, const char *name, uint32_t job_id,
				  unsigned attempt);

/*
 * Whether [node]'s directory in [rdir] waits to be delivered
 * (.undelivered-<node>): 1, 0, or -1 (errno) when that cannot be told.
 * A new attempt must not wipe it (the node side refuses to start there).
 */
int aml_node_rundir_is_kept(int rdir, const char *node);

/* ---- aml-launch ---- */

/*
 * Say that this node's outputs, logs and user_logs reached run history
 * or the spool: .delivered-<node> beside [workdir_fd], the working
 * directory ([workdir], AML_WORKDIR, whose last component is the node's
 * name as the node side made it), with "job <id> attempt <n> <time>".
 * The run's directory is reached from [workdir_fd]'s own ".." and used
 * only when it is the caller's, closed to others, and holds [workdir_fd]
 * under that name: nothing a path could be swapped for.  Returns 0, or -1
 * with errbuf.
 */
int aml_node_rundir_mark_delivered(int workdir_fd, const char *workdir,
				   uint32_t job_id, unsigned attempt,
				   char *errbuf, size_t errlen);

/* ---- the SPANK epilog ---- */

struct aml_node_rundir_end {
	const struct aml_site *site;
	uid_t uid;                 /* the job's user */
	gid_t gid;
	const char *run_id;
	const char *node;          /* SLURMD_NODENAME */
	const char *experiment;    /* the run's, or NULL: looked up in run
				    * history by the run id */
	const char *tracking_id;   /* AML_MLFLOW_RUN_ID, or NULL */
	uint32_t job_id;
	int keep;                  /* KeepFailedRunDir=yes and the job
				    * failed: kept whatever happens */
	int64_t deadline_ms;       /* for the upload and the measure
				    * (aml_monotonic_ms time) */
};

enum aml_node_rundir_fate {
	AML_RUNDIR_FATE_GONE,       /* no directory of the run on the node */
	AML_RUNDIR_FATE_NOT_OURS,   /* another job's: left alone */
	AML_RUNDIR_FATE_REMOVED,    /* delivered, then removed */
	AML_RUNDIR_FATE_KEPT_FAILED, /* KeepFailedRunDir */
	AML_RUNDIR_FATE_KEPT,       /* not delivered: kept, marked, said */
	AML_RUNDIR_FATE_LOST,       /* not delivered and removed
				     * (KeptRunDirMax), said */
	AML_RUNDIR_FATE_ERROR,      /* could not be looked at: said */
};

/*
 * The job [e] ended on the node: deliver what the launcher did not, then
 * remove the node's directory, or keep it as above.  Everything is said
 * through [say] (may be NULL), without a prefix: "run R: ...".  Returns
 * what became of the directory.
 */
enum aml_node_rundir_fate aml_node_rundir_end_job(
	const struct aml_node_rundir_end *e, aml_node_rundir_say say,
	void *ctx);

/* ---- aml-epilog ---- */

struct aml_node_rundir_stats {
	size_t users;       /* users' trees found in RunDir */
	size_t kept;        /* kept directories tried */
	size_t delivered;   /* of them, delivered and removed */
	size_t noted;       /* .lost notes written to run history */
	size_t waiting;     /* kept directories and notes still waiting */
	size_t skipped;     /* entries that are no user's tree, or no
			     * directory of ours inside one */
};

/*
 * Deliver every kept directory and .lost note of [node] (NULL: of every
 * node) under [site]'s RunDir, each user's as that user, until
 * [deadline_ms]; users in name order from the [start]th (the job id), so
 * a different one goes first each time.  Run as root, or as a user (then
 * only that user's trees are done).  Returns 0 with [stats] (may be
 * NULL), or -1 with errbuf when RunDir cannot be read.
 */
int aml_node_rundirs_retry(const struct aml_site *site, const char *node,
			   unsigned start, int64_t deadline_ms,
			   struct aml_node_rundir_stats *stats,
			   aml_node_rundir_say say, void *ctx, char *errbuf,
			   size_t errlen);

#endif
