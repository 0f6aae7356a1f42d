/*
 * cli_filter_aml.c: the cli_filter plugin sbatch, srun and salloc load as
 * cli_filter/aml (CliFilterPlugins=aml in slurm.conf).
 *
 * Its one job: tell sbatch's SPANK plugin the id of the job sbatch just
 * submitted (job_env.h: AML_SUBMITTED_JOB_ID).  Without it, sbatch's
 * plugin has to ask the controller for every job of the user to find
 * the run's, and slurmctld packs all of them for every `sbatch
 * --aml-run`; with it, the plugin asks for that one job.
 *
 * Loaded into every client command of the cluster, so it links nothing
 * but libc and does nothing else.  Built against Slurm's public headers
 * only: slurm_opt_t, the type of the options the two other hooks get, is
 * in Slurm's private headers, and they only pass it on untouched, so it
 * is a pointer to something opaque here.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <slurm/slurm_version.h>

#include "job_env.h"

const char plugin_name[] = "slurm-aml: the submitted job's id for sbatch";
const char plugin_type[] = "cli_filter/aml";
const uint32_t plugin_version = SLURM_VERSION_NUMBER;

int init(void)
{
	return SLURM_SUCCESS;
}

int fini(void)
{
	return SLURM_SUCCESS;
}

int cli_filter_p_setup_defaults(void *opt, bool early)
{
	(void)opt;
	(void)early;
	return SLURM_SUCCESS;
}

int cli_filter_p_pre_submit(void *opt, int offset)
{
	(void)opt;
	(void)offset;
	return SLURM_SUCCESS;
}

/*
 * sbatch calls this with the new job's id and no step (NO_VAL); srun
 * names the step it made, which is no run's submission.  A run is one
 * job, never a heterogeneous one, so only the first component counts.
 */
void cli_filter_p_post_submit(int offset, uint32_t jobid, uint32_t stepid)
{
	char id[16];

	if (offset != 0 || stepid != NO_VAL || jobid == 0 || jobid == NO_VAL)
		return;
	snprintf(id, sizeof(id), "%u", jobid);
	setenv(AML_SUBMITTED_JOB_ID, id, 1);
}
