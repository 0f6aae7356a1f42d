/*
 * node_rundir_lock.c: a node's claim on a run's directory (contract in
 * node_rundir_lock.h).
 */
#include "node_rundir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "node_rundir.h"
#include "tree.h"
#include "userdir.h"

void aml_node_rundir_unlock(struct aml_node_rundir_lock *l)
{
	if (l->lock >= 0)
		close(l->lock);
	if (l->rdir >= 0)
		close(l->rdir);
	if (l->root >= 0)
		close(l->root);
	free(l->root_path);
	l->root_path = NULL;
	l->root = l->rdir = l->lock = -1;
}

int aml_node_rundir_lock(struct aml_node_rundir_lock *l, const char *run_dir,
			 const char *run_id, const char *node, int create,
			 char *errbuf, size_t errlen)
{
	char lock_name[NAME_MAX + 1];
	struct aml_userdir own;

	l->root = l->rdir = l->lock = -1;
	l->root_path = NULL;
	if (aml_node_rundir_marker(lock_name, sizeof(lock_name),
				   AML_RUNDIR_LOCK, node) < 0 ||
	    aml_node_rundir_marker(l->marker, sizeof(l->marker),
				   AML_RUNDIR_ATTEMPT, node) < 0 ||
	    aml_node_rundir_marker(l->delivered, sizeof(l->delivered),
				   AML_RUNDIR_DELIVERED, node) < 0) {
		snprintf(errbuf, errlen, "node name %s is too long", node);
		return -1;
	}
	if (aml_node_rundir_open_user_root(run_dir, create, &own, errbuf,
					   errlen) < 0)
		return -1;
	l->root = own.fd;
	l->root_path = own.path;
	l->rdir = aml_node_rundir_open_run(l->root, l->root_path, run_id,
					   create, errbuf, errlen);
	if (l->rdir == -2)
		snprintf(errbuf, errlen, "%s/%s: has gone", l->root_path,
			 run_id);
	if (l->rdir < 0)
		goto fail;
	l->lock = openat(l->rdir, lock_name,
			 O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (l->lock < 0) {
		snprintf(errbuf, errlen, "%s/%s/%s: cannot open: %s",
			 l->root_path, run_id, lock_name, strerror(errno));
		goto fail;
	}
	while (flock(l->lock, LOCK_EX) < 0) {
		if (errno != EINTR) {
			snprintf(errbuf, errlen, "%s/%s/%s: cannot lock: %s",
				 l->root_path, run_id, lock_name,
				 strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	aml_node_rundir_unlock(l);
	return -1;
}

int aml_node_rundir_claim(struct aml_node_rundir_lock *l, const char *node,
			  const char *workdir, uint32_t job_id,
			  unsigned attempt, int fresh, char *errbuf,
			  size_t errlen)
{
	uint32_t marked_job;
	unsigned marked_attempt;
	int m;

	m = aml_node_rundir_read_attempt(l->rdir, l->marker, &marked_job,
					 &marked_attempt);
	/* A run id is one job, requeued or not.  Another job with the same
	 * AML_RUN_ID has inherited the run's environment (submitted from
	 * inside the run): it must not wipe the run's files. */
	if (m == 1 && marked_job != job_id) {
		snprintf(errbuf, errlen,
			 "%s belongs to job %u, not to this job %u: a job submitted from inside a run inherits AML_RUN_ID; unset it (and AML_LAUNCH_STEP) for jobs that are not the run",
			 workdir, (unsigned)marked_job, (unsigned)job_id);
		return -1;
	}
	if (!fresh && m == 1 && marked_attempt == attempt)
		return 1;
	/* An earlier attempt's outputs that reached neither run history
	 * nor the spool stay until aml-epilog delivers them: this attempt
	 * cannot start here meanwhile (node_rundir.h). */
	if (aml_node_rundir_is_kept(l->rdir, node) != 0) {
		snprintf(errbuf, errlen,
			 "%s holds outputs of an earlier attempt of this run that are not delivered yet (aml-epilog delivers them at the end of a job on this node): this attempt cannot start here until then",
			 workdir);
		return -1;
	}
	/* An earlier attempt's directory, or one a killed install left;
	 * its launcher's word that it delivered is not this attempt's. */
	if ((unlinkat(l->rdir, l->marker, 0) < 0 && errno != ENOENT) ||
	    (unlinkat(l->rdir, l->delivered, 0) < 0 && errno != ENOENT) ||
	    aml_tree_remove(l->rdir, node) < 0) {
		snprintf(errbuf, errlen,
			 "%s: cannot remove what an earlier attempt left: %s",
			 workdir, strerror(errno));
		return -1;
	}
	return 0;
}

int aml_node_rundir_note_attempt(struct aml_node_rundir_lock *l,
				 const char *run_id, uint32_t job_id,
				 unsigned attempt, char *errbuf,
				 size_t errlen)
{
	if (aml_node_rundir_write_attempt(l->rdir, l->marker, job_id,
					  attempt) < 0) {
		snprintf(errbuf, errlen, "%s/%s/%s: cannot write: %s",
			 l->root_path, run_id, l->marker, strerror(errno));
		return -1;
	}
	return 0;
}

int aml_node_rundir_mark_attempt(const char *run_dir, const char *run_id,
				 const char *node, uint32_t job_id,
				 unsigned attempt, char *errbuf,
				 size_t errlen)
{
	struct aml_node_rundir_lock l;
	int r;

	if (aml_node_rundir_lock(&l, run_dir, run_id, node, 0, errbuf,
				 errlen) < 0)
		return -1;
	r = aml_node_rundir_note_attempt(&l, run_id, job_id, attempt, errbuf,
					 errlen);
	aml_node_rundir_unlock(&l);
	return r;
}
