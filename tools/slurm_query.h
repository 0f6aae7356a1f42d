/*
 * slurm_query.h: what the tools ask Slurm about a job, through its own
 * commands (scontrol, then sacct once the controller forgot the job;
 * squeue for the job's owner; scancel), so the tools need no libslurm and
 * work against whatever Slurm the cluster runs.  Used by aml-run
 * (reconcile, cancel), aml-finalize (requeues) and aml-launch (whose end
 * Slurm decided).
 */
#ifndef AML_TOOLS_SLURM_QUERY_H
#define AML_TOOLS_SLURM_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "slurm_text.h"

/* Ask Slurm about [job_id]: 0 with [job] filled, 1 when Slurm no longer
 * knows the job, -1 when Slurm cannot be asked.  Each Slurm command here
 * is given 30 s; one that takes them all is stopped, and said so on
 * stderr. */
int runs_slurm_query(uint32_t job_id, struct aml_slurm_job *job);

/*
 * The Slurm release installed here, as `slurmctld -V` says (else `slurmd
 * -V`: a node without the controller), into [buf]; the program asked in
 * [*program].  Returns 0, or -1 when neither is installed or says.
 */
int runs_slurm_release(char *buf, size_t len, const char **program);

/* scancel [job_id] when Slurm says it belongs to [owner] (the run's
 * uid: a run's history names its job, and whoever cancels the run must
 * not cancel another user's job by it); 0, or -1 with the reason or
 * scancel's message in errbuf. */
int runs_slurm_cancel(uint32_t job_id, uint32_t owner, char *errbuf,
		      size_t errlen);

/*
 * Add [node] to the spooled_on word of [job_id]'s comment (waiting.h):
 * what the job left on [node] waits in its spool.  Reads the comment
 * (squeue) and writes it back (scontrol update), as the caller, who must
 * be the job's user or root.  0, or -1 with errbuf.
 */
int runs_slurm_mark_spooled(uint32_t job_id, const char *node, char *errbuf,
			    size_t errlen);

/* The nodes the spooled_on word of [job_id]'s comment names, into [buf]
 * ("" when none); 0, or -1 with errbuf when the comment cannot be read. */
int runs_slurm_spooled_on(uint32_t job_id, char *buf, size_t len,
			  char *errbuf, size_t errlen);

#endif
