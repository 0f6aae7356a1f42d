/*
 * status.h: Azure ML run statuses and the machine that orders them.
 *
 * A run's status is never stored: it is derived by folding its events
 * through aml_status_check(), in the one order every reader and writer
 * puts them in whatever order they arrived (event.h: attempt, then the
 * phase below, then time).  Writers run on different hosts and race (the
 * node's Preparing may reach run history before sbatch's Queued), so the
 * order comes from the events themselves, never from their arrival.
 *
 * Attempts: Slurm may requeue a job (node failure, preemption, scontrol
 * requeue).  Each requeue starts a new attempt, numbered from 1 like
 * SLURM_RESTART_COUNT + 1; an event of a later attempt than the run's
 * starts that attempt, whatever the status was (its own Queued may come
 * later, or be lost).  An event of an attempt older than the run's is
 * refused by writers (event.h: Slurm replaced that attempt, and its
 * launcher must not start); one stored anyway (writers racing on a
 * server without transactions) is folded into its own attempt.
 *
 * The phases of one attempt, in order:
 *   0 NotStarted  1 Queued  2 Preparing  3 Running, NotResponding
 *   4 CancelRequested  5 Finalizing  6 Completed, Failed, Canceled
 * Within an attempt a status may be followed by any status of the same or
 * a later phase, except that nothing follows an end (Completed, Failed,
 * Canceled) and nothing returns to NotStarted.  Phases may be skipped: the
 * finalizer is the authority on how a job ended even when the node never
 * said it started, and a late event fills its gap when it arrives.
 * CancelRequested comes before Finalizing whatever their times: a cancel
 * is what makes a running launcher finalize.
 */
#ifndef AML_STATUS_H
#define AML_STATUS_H

#include <stddef.h>

enum aml_status {
	AML_STATUS_NOT_STARTED,
	AML_STATUS_QUEUED,
	AML_STATUS_PREPARING,
	AML_STATUS_RUNNING,
	AML_STATUS_FINALIZING,
	AML_STATUS_CANCEL_REQUESTED,
	AML_STATUS_NOT_RESPONDING,
	AML_STATUS_COMPLETED,
	AML_STATUS_FAILED,
	AML_STATUS_CANCELED,
};
#define AML_STATUS_COUNT (AML_STATUS_CANCELED + 1)

/* Azure ML's spelling: "NotStarted", "CancelRequested", ... */
const char *aml_status_name(enum aml_status status);

/* The status spelled [name], exactly as Azure ML does, or case-insensitively
 * ("completed" from a command line).  Returns 0, or -1 when unknown. */
int aml_status_parse(const char *name, enum aml_status *status);

/* Completed, Failed or Canceled. */
int aml_status_is_terminal(enum aml_status status);

/* The status's phase (above), 0 to AML_STATUS_LAST_PHASE; an invalid
 * status has the last. */
#define AML_STATUS_LAST_PHASE 6
unsigned aml_status_phase(enum aml_status status);

enum aml_transition {
	AML_TRANSITION_OK,          /* append it */
	AML_TRANSITION_NEW_ATTEMPT, /* append it: the first of a later attempt */
	AML_TRANSITION_DUPLICATE,   /* same status and attempt again: a second
				     * writer saw the same end (launcher and
				     * finalizer); not appended, not an error */
	AML_TRANSITION_STALE,       /* from an older attempt: never met in
				     * the order events are folded in */
	AML_TRANSITION_ILLEGAL,     /* refused */
};

/*
 * Judge an event with [to] in attempt [to_attempt] against a run that is
 * at [from] in attempt [from_attempt].  Attempts are >= 1; an attempt 0
 * is ILLEGAL.
 */
enum aml_transition aml_status_check(enum aml_status from,
				     unsigned from_attempt,
				     enum aml_status to, unsigned to_attempt);

/* The first event of a run: NotStarted in attempt 1 only. */
enum aml_transition aml_status_check_first(enum aml_status to,
					   unsigned to_attempt);

/*
 * How a Slurm job ended, as Azure ML says it.  [slurm_state] is Slurm's
 * base state name as jobcomp/script's JOBSTATE, squeue and sacct print it
 * ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
 * "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY"; a trailing
 * " by UID" or "+" as sacct prints is ignored), [exit_code] the job's exit
 * status (0-255) and [signal] the signal that ended it (0 for none).
 * Fills [*status] and a one-sentence [reason] ("Slurm cancelled the job:
 * it reached its time limit (TIMEOUT)"); sets [*requeued] when the state
 * means Slurm will run the job again (REQUEUED, REQUEUE_FED, REQUEUE_HOLD,
 * or [requeue_flag] given by the caller for NODE_FAIL/PREEMPTED with
 * requeue), in which case [*status] is Queued.  Returns 0, or -1 when the
 * state is not a finished one (PENDING, RUNNING, SUSPENDED, ...) or is
 * unknown.
 */
int aml_status_from_slurm(const char *slurm_state, int exit_code, int signal,
			  int requeue_flag, enum aml_status *status,
			  int *requeued, char *reason, size_t reason_len);

#endif
