/*
 * launch_finish.h: how the run ended, and saying so.
 *
 * Given the verdict (launch_judge.h), in this order, because Slurm may
 * kill the launcher KillWait seconds after a cancel: Finalizing, the
 * uploads of outputs/, logs/ and user_logs/, the end.  When Slurm ended
 * the job (scancel, its time limit, a boot failure, a preemption: the
 * verdict says Slurm may have, and Slurm's record of the job says so),
 * the end is the finalizer's, with Slurm's reason, and the launcher
 * records none: slurmctld starts the finalizer as it signals the steps,
 * so both hear of the end at once, and the first to write must not
 * decide the reason.  Only Finalizing (when the finalizer is not already
 * there) and the uploads are made.  A queued (spooled) upload is fine; a
 * failed one turns a Completed run into Failed, since its outputs are
 * lost.
 *
 * What cannot be written now waits in the node's spool (spool.h), and
 * the run must not end before it is delivered (waiting.h): a node ending
 * with something still queued adds spooled_on=<node> to the job's
 * comment; with several nodes, the batch node hands the end it decided to
 * the other nodes' upload step (AML_LAUNCH_END), a node that had to queue
 * its outputs queues that end behind them, and the batch node, seeing a
 * new node in the mark, does not record the end itself (only behind what
 * it queued too).  So the end is delivered after the outputs, wherever
 * and by whomever they are.  With several nodes queueing, the first one
 * delivered ends the run.
 *
 * A node all of whose uploads were written, unchanged or queued marks
 * its run directory .delivered-<node>; on a node without the mark (the
 * launcher was killed first, or an upload failed) the SPANK epilog
 * uploads them itself, or keeps the directory until they are delivered
 * (node_rundir.h).
 *
 * The launcher then ends as the command did (its exit status, or the
 * same signal), so Slurm's record of the job agrees with run history.
 */
#ifndef AML_TOOLS_LAUNCH_FINISH_H
#define AML_TOOLS_LAUNCH_FINISH_H

#include <stdint.h>

#include "launch_common.h"
#include "launch_judge.h"
#include "launch_run.h"

/*
 * Finalizing, the uploads and the end, for [c].  When [nodes] > 1, each
 * other node uploads its own outputs/ and logs/ first, through one srun
 * step that runs this program again with --upload-node in every node's
 * working directory ([run_dir] to start from; the node side moves each
 * task into its own).  In run history they join the batch node's in one
 * outputs/ and logs/, as Azure ML gathers every node's.
 */
void launch_finish(const struct launch_ctx *c, struct launch_verdict *v,
		   uint32_t nodes, const char *run_dir);

/* --upload-node: this node's outputs/ and logs/, from the cwd; the
 * launcher's exit status. */
int launch_upload_node(const struct launch_ctx *c);

/* End the launcher as [v] says. */
__attribute__((noreturn)) void launch_exit(const struct launch_verdict *v);

#endif
