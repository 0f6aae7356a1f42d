/*
 * launch_cause.h: why the run really ended, when the launcher alone
 * cannot tell.
 *
 * A command killed by SIGKILL looks the same to the launcher whether an
 * administrator or the kernel's OOM killer sent it, and the user
 * deserves to know which.  The memory cgroup Slurm put the job in
 * (task/cgroup with ConstrainRAMSpace) counts its OOM kills, so the
 * launcher reads it once the command has ended.
 *
 * The other ends the launcher cannot tell apart (a SIGTERM from scancel,
 * Slurm's time limit, a failed boot, preemption) need nothing here:
 * slurmctld runs the finalizer as it ends the job, before it signals the
 * steps, so the finalizer records those ends with Slurm's own reason,
 * and the launcher's later end is refused (kept in refused.jsonl) while
 * its uploads still go through.
 */
#ifndef AML_TOOLS_LAUNCH_CAUSE_H
#define AML_TOOLS_LAUNCH_CAUSE_H

#include <stdint.h>

#include "launch_finish.h"
#include "launch_run.h"

/* Refine [v] (from launch_judge) for job [job_id] (0: not under Slurm):
 * a failure with OOM kills in the job's cgroup says so first. */
void launch_cause_refine(uint32_t job_id, const struct launch_outcome *o,
			 struct launch_verdict *v);

#endif
