/*
 * fail-boot: tells slurmctld that the nodes of a running job failed to
 * come up for it, as a node_features plugin or a ResumeFailProgram does
 * when a reboot into the job's configuration fails
 * (slurm_requeue(JOB_RECONFIG_FAIL)).  A job that may not be requeued
 * then ends BOOT_FAIL: Slurm's own path, without rebooting anything.
 *
 *   fail-boot JOBID      (as root or SlurmUser)
 *
 * Exits 0, or 1 with Slurm's error.
 */
#include <stdio.h>
#include <stdlib.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "slurm_compat.h"

int main(int argc, char **argv)
{
	char *end;
	unsigned long id;

	if (argc != 2 || !(id = strtoul(argv[1], &end, 10)) || *end) {
		fprintf(stderr, "usage: fail-boot JOBID\n");
		return 2;
	}
	slurm_init(NULL);
	/* For a job that may not be requeued, slurmctld answers with an
	 * error after ending it BOOT_FAIL: the state is what counts. */
	if (aml_slurm_requeue((uint32_t)id, JOB_RECONFIG_FAIL) != SLURM_SUCCESS &&
	    slurm_get_errno() != ESLURM_DISABLED) {
		fprintf(stderr, "fail-boot: %s\n",
			slurm_strerror(slurm_get_errno()));
		return 1;
	}
	return 0;
}
