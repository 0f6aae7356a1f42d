/*
 * status.c: run statuses and their state machine (contract in status.h).
 *
 * Where the contract is silent:
 *   - A status value outside the enum is ILLEGAL wherever it appears, and
 *     is named "Unknown", so a corrupted value is refused rather than
 *     indexing past the table.
 *   - An event may skip attempts (1 -> 3): a requeue whose own events
 *     were lost must not wedge the run.
 *   - aml_status_from_slurm() judges COMPLETED by the numbers given: a
 *     non-zero exit code or a signal makes it Failed, since only the
 *     numbers say how the program really ended.  [requeue_flag] matters
 *     for NODE_FAIL and PREEMPTED only, the states Slurm requeues on its
 *     own.  When it returns -1 [reason] is "" and [*requeued] 0.
 */
#include "status.h"
#include "text.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[AML_STATUS_COUNT] = {
	[AML_STATUS_NOT_STARTED] = "NotStarted",
	[AML_STATUS_QUEUED] = "Queued",
	[AML_STATUS_PREPARING] = "Preparing",
	[AML_STATUS_RUNNING] = "Running",
	[AML_STATUS_FINALIZING] = "Finalizing",
	[AML_STATUS_CANCEL_REQUESTED] = "CancelRequested",
	[AML_STATUS_NOT_RESPONDING] = "NotResponding",
	[AML_STATUS_COMPLETED] = "Completed",
	[AML_STATUS_FAILED] = "Failed",
	[AML_STATUS_CANCELED] = "Canceled",
};

static int is_valid(enum aml_status status)
{
	return (unsigned)status < AML_STATUS_COUNT;
}

const char *aml_status_name(enum aml_status status)
{
	return is_valid(status) ? status_names[status] : "Unknown";
}

int aml_status_parse(const char *name, enum aml_status *status)
{
	if (!name)
		return -1;
	for (int i = 0; i < AML_STATUS_COUNT; i++) {
		if (aml_ascii_ieq(name, status_names[i])) {
			if (status)
				*status = (enum aml_status)i;
			return 0;
		}
	}
	return -1;
}

int aml_status_is_terminal(enum aml_status status)
{
	return status == AML_STATUS_COMPLETED || status == AML_STATUS_FAILED ||
	       status == AML_STATUS_CANCELED;
}

static const unsigned char phases[AML_STATUS_COUNT] = {
	[AML_STATUS_NOT_STARTED] = 0,
	[AML_STATUS_QUEUED] = 1,
	[AML_STATUS_PREPARING] = 2,
	[AML_STATUS_RUNNING] = 3,
	[AML_STATUS_NOT_RESPONDING] = 3,
	[AML_STATUS_CANCEL_REQUESTED] = 4,
	[AML_STATUS_FINALIZING] = 5,
	[AML_STATUS_COMPLETED] = AML_STATUS_LAST_PHASE,
	[AML_STATUS_FAILED] = AML_STATUS_LAST_PHASE,
	[AML_STATUS_CANCELED] = AML_STATUS_LAST_PHASE,
};

unsigned aml_status_phase(enum aml_status status)
{
	return is_valid(status) ? phases[status] : AML_STATUS_LAST_PHASE;
}

enum aml_transition aml_status_check(enum aml_status from,
				     unsigned from_attempt,
				     enum aml_status to, unsigned to_attempt)
{
	if (!is_valid(from) || !is_valid(to) || from_attempt == 0 ||
	    to_attempt == 0)
		return AML_TRANSITION_ILLEGAL;
	if (to_attempt < from_attempt)
		return AML_TRANSITION_STALE;
	/* Only a run's creation is NotStarted. */
	if (to == AML_STATUS_NOT_STARTED)
		return from == to && to_attempt == from_attempt
			       ? AML_TRANSITION_DUPLICATE
			       : AML_TRANSITION_ILLEGAL;
	if (to_attempt > from_attempt)
		return AML_TRANSITION_NEW_ATTEMPT;
	if (from == to)
		return AML_TRANSITION_DUPLICATE;
	if (aml_status_is_terminal(from))
		return AML_TRANSITION_ILLEGAL;
	return phases[to] >= phases[from] ? AML_TRANSITION_OK
					  : AML_TRANSITION_ILLEGAL;
}

enum aml_transition aml_status_check_first(enum aml_status to,
					   unsigned to_attempt)
{
	return to == AML_STATUS_NOT_STARTED && to_attempt == 1 ?
		       AML_TRANSITION_OK : AML_TRANSITION_ILLEGAL;
}

/* ---- Slurm's end states ---- */

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGHUP: return "SIGHUP";
	case SIGINT: return "SIGINT";
	case SIGQUIT: return "SIGQUIT";
	case SIGILL: return "SIGILL";
	case SIGTRAP: return "SIGTRAP";
	case SIGABRT: return "SIGABRT";
	case SIGBUS: return "SIGBUS";
	case SIGFPE: return "SIGFPE";
	case SIGKILL: return "SIGKILL";
	case SIGUSR1: return "SIGUSR1";
	case SIGSEGV: return "SIGSEGV";
	case SIGUSR2: return "SIGUSR2";
	case SIGPIPE: return "SIGPIPE";
	case SIGALRM: return "SIGALRM";
	case SIGTERM: return "SIGTERM";
	case SIGXCPU: return "SIGXCPU";
	case SIGXFSZ: return "SIGXFSZ";
	default: return NULL;
	}
}

/* "exited with code 3" / "was killed by signal 9 (SIGKILL)", for the
 * middle of a reason; "" when neither number says anything. */
static void describe_end(int exit_code, int sig, char *buf, size_t len)
{
	const char *name = signal_name(sig);

	if (sig != 0 && name)
		snprintf(buf, len, "was killed by %s, signal %d", name, sig);
	else if (sig != 0)
		snprintf(buf, len, "was killed by signal %d", sig);
	else if (exit_code != 0)
		snprintf(buf, len, "exited with code %d", exit_code);
	else
		buf[0] = '\0';
}

enum slurm_end {
	END_COMPLETED, END_FAILED, END_CANCELLED, END_TIMEOUT, END_DEADLINE,
	END_NODE_FAIL, END_PREEMPTED, END_BOOT_FAIL, END_OUT_OF_MEMORY,
	END_REQUEUED, END_REQUEUE_FED, END_REQUEUE_HOLD, END_SPECIAL_EXIT,
};

static const struct {
	const char *name;
	enum slurm_end end;
} slurm_ends[] = {
	{ "COMPLETED", END_COMPLETED },
	{ "FAILED", END_FAILED },
	{ "CANCELLED", END_CANCELLED },
	{ "TIMEOUT", END_TIMEOUT },
	{ "DEADLINE", END_DEADLINE },
	{ "NODE_FAIL", END_NODE_FAIL },
	{ "PREEMPTED", END_PREEMPTED },
	{ "BOOT_FAIL", END_BOOT_FAIL },
	{ "OUT_OF_MEMORY", END_OUT_OF_MEMORY },
	{ "REQUEUED", END_REQUEUED },
	{ "REQUEUE_FED", END_REQUEUE_FED },
	{ "REQUEUE_HOLD", END_REQUEUE_HOLD },
	{ "SPECIAL_EXIT", END_SPECIAL_EXIT },
};

int aml_status_from_slurm(const char *slurm_state, int exit_code, int signal,
			  int requeue_flag, enum aml_status *status,
			  int *requeued, char *reason, size_t reason_len)
{
	char why[96], state[32];
	const char *name = NULL;
	enum slurm_end end = END_COMPLETED;
	enum aml_status st;
	int again = 0;
	size_t n, i;

	if (requeued)
		*requeued = 0;
	if (reason && reason_len)
		reason[0] = '\0';
	if (!slurm_state)
		return -1;
	/* sacct decorates the name: "CANCELLED by 1000", "CANCELLED+"
	 * (the state was set by someone other than the job). */
	slurm_state += strspn(slurm_state, " \t");
	n = strcspn(slurm_state, " \t+");
	if (n == 0 || n >= sizeof(state))
		return -1;
	memcpy(state, slurm_state, n);
	state[n] = '\0';
	for (i = 0; i < sizeof(slurm_ends) / sizeof(*slurm_ends); i++) {
		if (aml_ascii_ieq(state, slurm_ends[i].name)) {
			name = slurm_ends[i].name;
			end = slurm_ends[i].end;
			break;
		}
	}
	if (!name)
		return -1;

	describe_end(exit_code, signal, why, sizeof(why));
	switch (end) {
	case END_COMPLETED:
		if (why[0]) {
			st = AML_STATUS_FAILED;
			if (reason && reason_len)
				snprintf(reason, reason_len,
					 "The job %s (%s)", why, name);
		} else {
			st = AML_STATUS_COMPLETED;
			if (reason && reason_len)
				snprintf(reason, reason_len,
					 "The job exited with code 0 (%s)",
					 name);
		}
		break;
	case END_FAILED:
		st = AML_STATUS_FAILED;
		if (reason && reason_len)
			snprintf(reason, reason_len, "The job %s (%s)",
				 why[0] ? why : "failed", name);
		break;
	case END_CANCELLED:
		st = AML_STATUS_CANCELED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "The job was cancelled in Slurm, by scancel "
				 "or an administrator (%s)", name);
		break;
	case END_TIMEOUT:
		st = AML_STATUS_CANCELED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "Slurm ended the job: it reached its time "
				 "limit (%s)", name);
		break;
	case END_DEADLINE:
		st = AML_STATUS_CANCELED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "Slurm ended the job: it reached its "
				 "deadline (%s)", name);
		break;
	case END_NODE_FAIL:
		again = requeue_flag != 0;
		st = again ? AML_STATUS_QUEUED : AML_STATUS_FAILED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "A node of the job failed%s (%s)",
				 again ? " and Slurm requeued the job" : "",
				 name);
		break;
	case END_PREEMPTED:
		again = requeue_flag != 0;
		st = again ? AML_STATUS_QUEUED : AML_STATUS_CANCELED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "Slurm preempted the job for another "
				 "one%s (%s)",
				 again ? " and requeued it" : "", name);
		break;
	case END_BOOT_FAIL:
		st = AML_STATUS_FAILED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "A node of the job failed to boot (%s)",
				 name);
		break;
	case END_OUT_OF_MEMORY:
		st = AML_STATUS_FAILED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "The job ran out of memory (%s)", name);
		break;
	case END_REQUEUED:
		again = 1;
		st = AML_STATUS_QUEUED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "Slurm requeued the job (%s)", name);
		break;
	case END_REQUEUE_FED:
		again = 1;
		st = AML_STATUS_QUEUED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "Slurm requeued the job in its federation "
				 "(%s)", name);
		break;
	case END_REQUEUE_HOLD:
		again = 1;
		st = AML_STATUS_QUEUED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "Slurm requeued the job and holds it until "
				 "it is released (%s)", name);
		break;
	case END_SPECIAL_EXIT:
	default:
		/* Slurm requeues and holds such a job, but only for someone
		 * to look at it: as a run, it failed. */
		st = AML_STATUS_FAILED;
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "The job %s, which the cluster treats as a "
				 "special exit (%s)",
				 why[0] ? why : "ended", name);
		break;
	}
	if (status)
		*status = st;
	if (requeued)
		*requeued = again;
	return 0;
}
