/*
 * launch_run.h: running the run's command and watching it.
 *
 * One process is started directly, in its own process group, so a signal
 * reaches everything it started.  Several processes (or a distributed
 * configuration, whose one process still needs its RANK and MASTER_ADDR)
 * are started through srun, whose tasks get their distributed
 * environment from the node side of the SPANK plugin (launch.h).
 *
 * While the command runs, one poll loop (signalfd, the output pipe, a
 * monotonic deadline) does everything; nothing sleeps:
 *   - the output is copied by launch_logs, whose live copy in run
 *     history (launch_stream.h) is polled for room, never waited for;
 *   - max_run_duration_seconds: at the deadline the processes get
 *     SIGTERM, then SIGKILL after a grace period (LAUNCH_GRACE_MS, less
 *     when Slurm's own time limit is closer).  srun turns a SIGTERM into
 *     an immediate SIGKILL of its tasks, so there SIGTERM is sent to the
 *     job's steps by `scancel --signal=TERM` (never to the batch step,
 *     where the launcher is), and srun gets its SIGTERM as the kill;
 *   - SIGTERM, SIGINT, SIGHUP, SIGQUIT to the launcher (scancel, Slurm's
 *     time limit, preemption) are passed on, and the launcher waits at
 *     most LAUNCH_CANCEL_WAIT_MS for the command to end: Slurm kills
 *     everything KillWait seconds after its SIGTERM, and the launcher
 *     still has to record the end;
 *   - SIGUSR1 and SIGUSR2 (`sbatch --signal=B:USR1@60`) are passed on,
 *     for a script that checkpoints on them.
 */
#ifndef AML_TOOLS_LAUNCH_RUN_H
#define AML_TOOLS_LAUNCH_RUN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "launch_logs.h"
#include "plan.h"

#define LAUNCH_GRACE_MS 10000
#define LAUNCH_CANCEL_WAIT_MS 1000

/*
 * Take the signals the loop handles away from their default actions
 * (block them: they are read from a signalfd), and ignore SIGPIPE.
 * Called first thing, so a scancel while the run is prepared is seen,
 * not fatal.  [old] receives the mask to give the command.
 */
int launch_signals_take(sigset_t *old);

/* srun with the plan's layout, starting in [run_dir] (RunDir, which
 * exists on every node; each task then moves into its own working
 * directory), [options] (may be NULL: pyxis's container options), then
 * [command] (NULL-terminated: the plan's, or it in its image);
 * NULL-terminated, malloc'd (free with aml_strlist_free), or -1 when
 * memory runs out. */
int launch_srun_argv(const struct aml_plan *plan, const char *run_dir,
		     const struct aml_strlist *options, char *const *command,
		     struct aml_strlist *out);

struct launch_spec {
	char *const *argv;          /* the command, or srun and the command */
	int via_srun;
	int64_t deadline_ms;        /* aml_monotonic_ms() clock; 0: none */
	uint32_t job_id;            /* for scancel and scontrol; 0: none */
	struct launch_logs *logs;
	const sigset_t *child_mask; /* from launch_signals_take */
};

enum launch_stop {
	LAUNCH_STOP_NONE,
	LAUNCH_STOP_DEADLINE,   /* max_run_duration_seconds */
	LAUNCH_STOP_SIGNAL,     /* the launcher was signalled */
};

struct launch_outcome {
	int started;        /* 0: exec failed, or a signal came first */
	int exec_errno;     /* why exec failed; 0 if it did not */
	int reaped;         /* the command ended and wait_status says how */
	int wait_status;
	enum launch_stop stop;
	int signal;         /* the launcher's signal (LAUNCH_STOP_SIGNAL) */
};

/*
 * Start [spec]'s command and watch it until it ends (and its output with
 * it), or until a stop has run its course.  Returns 0 with [out] filled,
 * or -1 with errbuf when the loop could not be set up (nothing started).
 */
int launch_run(const struct launch_spec *spec, struct launch_outcome *out,
	       char *errbuf, size_t errlen);

#endif
