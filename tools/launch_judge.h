/*
 * launch_judge.h: how the run ended, from how its command ended and why
 * the launcher stopped it.
 *
 *   exit 0                         Completed
 *   exit N                         Failed, exit code N, "the script
 *                                  exited with code N"
 *   killed by signal S             Failed, exit code 128+S (as the
 *                                  finalizer records it), "the script
 *                                  was killed by signal S (SIGSEGV)"
 *   max_run_duration_seconds       Canceled, "max_run_duration_seconds
 *                                  (N s) reached"
 *   SIGTERM/SIGINT/... to us       Canceled (scancel, Slurm's time limit,
 *                                  preemption: the launcher cannot tell)
 *   the command could not start    Failed, exit code 127 or 126, as a
 *                                  shell says it
 *
 * Slurm ends a job by signalling every process of its steps, one after
 * the other: the command may die of Slurm's SIGTERM (or SIGKILL) and be
 * reaped before the launcher's own SIGTERM has arrived.  Such an end, as
 * much as a signal to the launcher, may be Slurm's; the verdict says so
 * (slurm_may_have_ended), and launch_finish asks Slurm's record of the
 * job before recording an end of its own.
 */
#ifndef AML_TOOLS_LAUNCH_JUDGE_H
#define AML_TOOLS_LAUNCH_JUDGE_H

#include <stdint.h>

#include "launch_run.h"
#include "status.h"

struct launch_verdict {
	enum aml_status status;
	int has_exit_code;
	int exit_code;
	char reason[512];
	int exit_status;      /* the launcher's, when exit_signal is 0 */
	int exit_signal;      /* end by this signal instead */
	int slurm_may_have_ended; /* the launcher was signalled, or the
				   * command died of a signal Slurm sends
				   * at a job's end (SIGTERM, SIGKILL) that
				   * the launcher did not send */
};

/*
 * Judge [o].  [via_srun]: the status is srun's (the highest of its
 * tasks').  [deadline_s]: max_run_duration_seconds, for the reason.
 * [command]: argv[0] of what was started, for a failed exec.
 * [srun_error]: launch_logs_srun_error(), added to a failure's reason.
 */
void launch_judge(const struct launch_outcome *o, int via_srun,
		  uint64_t deadline_s, const char *command,
		  const char *srun_error, struct launch_verdict *v);

#endif
