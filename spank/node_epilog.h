/*
 * node_epilog.h: a run's directory on a node at the job's end, in the
 * SPANK epilog (job_script context, slurmd, root).  What the steps made
 * there is node_prepare.h's; the directory's layout node_rundir.h's.
 *
 * Which jobs: those whose SPANK environment holds the run's id
 * (AML_EPILOG_RUN_ID, job_env.h).  The node's name is slurmd's own
 * SLURMD_NODENAME.
 *
 * job_epilog (root): the node's directory at the job's end
 * (aml_node_rundir_end_job, which acts as the job's user): what the
 * launcher did not deliver (no .delivered-<node>) is uploaded, then the
 * working directory, its lock and markers, and <RunDir>/<user>/<run_id>
 * once empty are removed; a directory whose outputs reach neither run
 * history nor the spool is kept (within KeptRunDirMax) for aml-epilog to
 * deliver.  The working directory also stays when KeepFailedRunDir=yes
 * and the job's exit code (SLURM_JOB_EXIT_CODE, which slurmd's epilog
 * gets in 22.05) is not zero.  The run's experiment comes from the
 * canonical configuration in the job's SPANK environment
 * (SPANK_AML_CONFIG).  Messages go to the slurmd log ("aml: run R: ..."),
 * a loss of outputs to syslog as well.  It never fails: a failing epilog
 * drains the node too.
 */
#ifndef AML_SPANK_NODE_EPILOG_H
#define AML_SPANK_NODE_EPILOG_H

#include <slurm/spank.h>

/* slurm_spank_job_epilog (job_script context).  Always returns 0. */
int aml_node_job_epilog(spank_t sp);

#endif
