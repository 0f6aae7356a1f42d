/*
 * launch_judge.c: see launch_judge.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "launch_judge.h"

static const char *signame(int sig)
{
	const char *abbrev = sigabbrev_np(sig);

	return abbrev ? abbrev : "?";
}

static void stopped(const struct launch_outcome *o, uint64_t deadline_s,
		    struct launch_verdict *v)
{
	v->status = AML_STATUS_CANCELED;
	v->slurm_may_have_ended = o->stop == LAUNCH_STOP_SIGNAL;
	if (o->stop == LAUNCH_STOP_DEADLINE)
		snprintf(v->reason, sizeof(v->reason),
			 "max_run_duration_seconds (%llu s) reached",
			 (unsigned long long)deadline_s);
	else
		snprintf(v->reason, sizeof(v->reason),
			 "cancelled: the launcher received SIG%s (scancel, "
			 "the job's time limit or preemption)%s",
			 signame(o->signal),
			 o->started ? "" : " before the script started");
}

/* Slurm's signals at a job's end (scancel, its time limit, preemption):
 * SIGTERM, then SIGKILL after KillWait. */
static int slurm_end_signal(int sig)
{
	return sig == SIGTERM || sig == SIGKILL;
}

void launch_judge(const struct launch_outcome *o, int via_srun,
		  uint64_t deadline_s, const char *command,
		  const char *srun_error, struct launch_verdict *v)
{
	const char *who = via_srun ? "a process of the run" : "the script";

	memset(v, 0, sizeof(*v));
	if (!o->started && o->exec_errno) {
		v->status = AML_STATUS_FAILED;
		v->has_exit_code = 1;
		v->exit_code = o->exec_errno == ENOENT ? 127 : 126;
		v->exit_status = v->exit_code;
		snprintf(v->reason, sizeof(v->reason), "cannot run %s: %s",
			 command, strerror(o->exec_errno));
		return;
	}
	if (o->reaped && WIFEXITED(o->wait_status)) {
		int code = WEXITSTATUS(o->wait_status);

		v->has_exit_code = 1;
		v->exit_code = code;
		v->exit_status = code;
		v->status = code ? AML_STATUS_FAILED : AML_STATUS_COMPLETED;
		/* srun's tasks killed by a signal: srun exits 128+S. */
		v->slurm_may_have_ended = via_srun && code > 128 &&
					  slurm_end_signal(code - 128);
		if (code)
			snprintf(v->reason, sizeof(v->reason),
				 "%s exited with code %d", who, code);
	} else if (o->reaped && WIFSIGNALED(o->wait_status)) {
		int sig = WTERMSIG(o->wait_status);

		v->has_exit_code = 1;
		v->exit_code = 128 + sig;
		v->exit_status = 128 + sig;
		v->exit_signal = sig;
		v->status = AML_STATUS_FAILED;
		v->slurm_may_have_ended = slurm_end_signal(sig);
		/* srun ends by a signal only when it is killed itself; a
		 * task killed by one makes srun exit 128+S. */
		snprintf(v->reason, sizeof(v->reason),
			 "%s was killed by signal %d (SIG%s)",
			 via_srun ? "srun" : "the script", sig, signame(sig));
	} else {
		/* Not waited for (given up on after a cancel), or never
		 * started: the launcher ends by the signal it got. */
		v->status = AML_STATUS_FAILED;
		snprintf(v->reason, sizeof(v->reason),
			 "the launcher lost track of %s", who);
		v->exit_signal = o->signal;
		v->exit_status = o->signal ? 128 + o->signal : 1;
	}
	if (v->status == AML_STATUS_FAILED && via_srun && srun_error) {
		size_t len = strlen(v->reason);

		snprintf(v->reason + len, sizeof(v->reason) - len,
			 "; srun: %s", srun_error);
	}
	/* Whatever the command made of its SIGTERM, the run was stopped. */
	if (o->stop != LAUNCH_STOP_NONE)
		stopped(o, deadline_s, v);
}

