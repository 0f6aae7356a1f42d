/*
 * node_rundir_lock.h: one node's claim on a run's directory, under the
 * node's lock (node_rundir.h has the layout and the markers).
 *
 * Several steps of a job may start on a node at once (aml-launch's srun
 * reaching a node where the batch step never ran), and each slurmstepd
 * installs the run: an flock on <RunDir>/<user>/<run_id>/.lock-<node>
 * makes them go one at a time, the first installing and the others
 * finding its attempt marker.  The lock is taken as the user, on a
 * directory only the user may write, and waits for nothing but the
 * user's own steps.
 */
#ifndef AML_NODE_RUNDIR_LOCK_H
#define AML_NODE_RUNDIR_LOCK_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct aml_node_rundir_lock {
	int root;        /* the user's own directory in RunDir */
	char *root_path; /* its path, for messages */
	int rdir;        /* <root>/<run_id> */
	int lock;        /* its .lock-<node>, flock'd */
	char marker[NAME_MAX + 1];     /* .attempt-<node> */
	char delivered[NAME_MAX + 1];  /* .delivered-<node> */
};

/*
 * Open <run_dir>/<user>/<run_id> (made when [create]) and take [node]'s
 * lock in it, waiting while another step of the node holds it.  Returns
 * 0, or -1 with errbuf and nothing held.
 */
int aml_node_rundir_lock(struct aml_node_rundir_lock *l, const char *run_dir,
			 const char *run_id, const char *node, int create,
			 char *errbuf, size_t errlen);

/* Let the next step in; [l] may be one whose lock failed. */
void aml_node_rundir_unlock(struct aml_node_rundir_lock *l);

/*
 * Under the lock, before installing attempt [attempt] of job [job_id] into
 * [workdir] (the node's working directory, for messages): returns 1 when
 * that attempt is installed already and [fresh] is 0; 0 when the caller
 * must install, what an earlier attempt or a killed install left removed
 * (its marker, its launcher's .delivered, the directory); -1 with errbuf
 * when the directory belongs to another job (one that inherited the run's
 * AML_RUN_ID), or holds an earlier attempt's undelivered outputs, or
 * cannot be cleared.  [fresh]: install even over the same attempt (the
 * batch step, which starts an attempt).
 */
int aml_node_rundir_claim(struct aml_node_rundir_lock *l, const char *node,
			  const char *workdir, uint32_t job_id,
			  unsigned attempt, int fresh, char *errbuf,
			  size_t errlen);

/*
 * Under the lock: write the attempt marker, "job <id> attempt <n>".
 * [run_id] is for the message.  Returns 0, or -1 with errbuf.
 */
int aml_node_rundir_note_attempt(struct aml_node_rundir_lock *l,
				 const char *run_id, uint32_t job_id,
				 unsigned attempt, char *errbuf,
				 size_t errlen);

/*
 * The batch step's marker, once its attempt is known: lock the existing
 * directory, note the attempt, unlock.  Returns 0, or -1 with errbuf.
 */
int aml_node_rundir_mark_attempt(const char *run_dir, const char *run_id,
				 const char *node, uint32_t job_id,
				 unsigned attempt, char *errbuf,
				 size_t errlen);

#endif
