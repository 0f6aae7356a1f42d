/*
 * waiting.h: a run whose own end waits in a node's spool.
 *
 * When a node cannot write run history (its mount is gone, full or
 * read-only, the server is down), the launcher's Finalizing, uploads and
 * end wait in the node's spool (spool.h) until they are delivered: by
 * aml-epilog at this job's end or a later one on the node, or by the
 * user's next write there.  Meanwhile Slurm says the job ended, and the
 * finalizer, or aml-run's reconcile on read, would record Slurm's end:
 * Completed, with no outputs, and the launcher's own end refused when it
 * arrives.  So the run must say it waits instead:
 *
 *   - the launcher, ending with anything of its user still queued on the
 *     node, adds "spooled_on=<node>" to its job's comment (the job's user
 *     may; the comment is the plugin's, "aml run_id=... experiment=...");
 *     the finalizer and aml-run read it back from `scontrol show job`;
 *   - the finalizer, seeing it, records Finalizing with the reason
 *     aml_waiting_reason() gives, instead of Slurm's end;
 *   - a Finalizing run whose job ended on its own (the launcher exited by
 *     itself) gets no end from Slurm, from anyone: the launcher, which
 *     recorded Finalizing, recorded or queued its own end before it
 *     exited, and that end is the one to wait for.  A job Slurm ended
 *     (cancel, time limit, node failure, out of memory, a signal) gets
 *     Slurm's end, as always: that launcher may not have finished.
 *
 * Threat: the comment is the job's user's to change.  A user who adds or
 * removes the mark only changes how their own run's end is recorded (the
 * job is theirs); it names nodes, which are only echoed in a reason.
 */
#ifndef AML_WAITING_H
#define AML_WAITING_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* The word the launcher adds to its job's comment: spooled_on=n1,n2 */
#define AML_SPOOLED_KEY "spooled_on"

/*
 * [comment] (NULL or "" for none) with [node] added to its spooled_on
 * word, which is made when missing; a node already named is not named
 * again.  Returns a malloc'd string, or NULL when memory runs out or
 * [node] is empty or holds a blank, ',' or '=' (no node name does).
 */
char *aml_waiting_mark_comment(const char *comment, const char *node);

/*
 * The nodes [comment]'s spooled_on word names ("n1,n2"), into [buf];
 * "" when it has none.
 */
void aml_waiting_nodes(const char *comment, char *buf, size_t len);

/*
 * Whether the node list [after] ("n1,n2") names a node that [before] does
 * not, other than [except] (may be NULL): another node has just said its
 * part of the run waits in its spool.
 */
int aml_waiting_added(const char *before, const char *after,
		      const char *except);

/*
 * The reason a waiting run's Finalizing gives, for the nodes [nodes]
 * ("n1" or "n1,n2", as the mark holds them), waiting since [since_ms]
 * (the job's end, ms since the epoch; 0: not said): "outputs and events
 * of node n1 are waiting in its spool since 22:39 (run history
 * unavailable there)", and for several "of nodes n1,n2 are waiting in
 * their spools since ...".  The time is local, with the date when it is
 * not today's.
 */
void aml_waiting_reason(const char *nodes, int64_t since_ms, char *buf,
			size_t len);

/* What to record when Slurm says a run's job ended. */
enum aml_waiting_verdict {
	AML_END_FROM_SLURM = 0,  /* Slurm's end, as aml_status_from_slurm */
	AML_END_MARK_WAITING,    /* Finalizing, with aml_waiting_reason */
	AML_END_WAIT,            /* nothing: the run's own end is on its
				  * way from a node's spool */
};

/*
 * For a run in [status] (not terminal) whose job Slurm says ended in
 * [slurm_state] (its base state, any case) with [signal] (0: none), and
 * whose comment names [spooled_on] (NULL or "": no mark).  A job ended
 * on its own: COMPLETED, or FAILED with no signal.
 */
enum aml_waiting_verdict aml_waiting_judge(enum aml_status status,
					   const char *slurm_state,
					   int signal, const char *spooled_on);

#endif
