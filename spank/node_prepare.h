/*
 * node_prepare.h: a run's steps on each of its nodes, in slurmstepd
 * (remote context): the run installed and the task prepared.  The end of
 * the job on the node is node_epilog.h's; the contract with aml-launch is
 * launch.h.
 *
 * Which jobs: those whose environment holds AML_RUN_ID (the controller
 * puts it there for a run).  Which steps: the batch step, and steps whose
 * own environment holds AML_LAUNCH_STEP=1 (aml-launch's srun).  The
 * extern step, the interactive step and steps the user starts are left
 * alone.  The node's name is slurmstepd's own SLURMD_NODENAME, never the
 * job's copy, which a step inherits from the batch node.
 *
 * <RunDir>/<user> is the user's own directory in RunDir (userdir.h: a
 * name someone else made first is stepped around).
 *
 * user_init (as the user): once per node per attempt, under an flock on
 * <RunDir>/<user>/<run_id>/.lock-<node> (node_rundir_lock.h), the
 * snapshot is installed into the working directory
 * <RunDir>/<user>/<run_id>/<node>, and the attempt noted in
 * <RunDir>/<user>/<run_id>/.attempt-<node> ("job <id> attempt <n>"),
 * beside the working directory rather than in it, so nothing of slurm-aml's shows up
 * among the run's files or can be overwritten by them.  A leftover from
 * an earlier attempt of the same job is removed first; a directory another
 * job's marker claims is never touched.  The batch step starts an
 * attempt, so it always installs afresh.
 * Errors are kept, not returned: a failing user_init drains the node.
 *
 * task_init (as the user, in the task, just before exec): a kept error is
 * printed and fails the task.  The batch task writes the attempt marker
 * and records Preparing (after a Queued of its own when the run is still
 * NotStarted or at an older attempt): Slurm 22.05 gives slurmstepd's
 * plugins a restart count of 0 always, and the real one appears only in
 * the task's environment (SLURM_RESTART_COUNT).  Then the task starts in
 * the working directory with AML_WORKDIR and PWD set, and a launch step's
 * task also gets its distributed environment (step_layout.h).
 *
 * An earlier attempt's directory whose outputs are kept undelivered
 * (node_rundir.h) is not wiped: the new attempt fails on that node
 * instead, with the reason.
 */
#ifndef AML_SPANK_NODE_PREPARE_H
#define AML_SPANK_NODE_PREPARE_H

#include <slurm/spank.h>

/* slurm_spank_user_init in remote context.  Always returns 0. */
int aml_node_user_init(spank_t sp);

/* slurm_spank_task_init in remote context.  Returns 0, or -1 to fail the
 * task (the reason already logged). */
int aml_node_task_init(spank_t sp);

/* Releases what user_init kept (slurm_spank_exit in remote context). */
void aml_node_exit(void);

#endif
