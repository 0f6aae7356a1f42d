/*
 * forge-submit: submits a batch job straight through the Slurm API with
 * a SPANK environment of the caller's choosing, as anyone can without
 * sbatch or our SPANK plugin.  The controller must judge such a job by
 * the same rules as one sbatch submitted.
 *
 *   forge-submit NAME=VALUE...      (each becomes a spank_job_env entry)
 *
 * Prints "submitted <job id>" and the controller's message, or
 * "refused: <Slurm's error>" (the controller's own line is printed by
 * libslurm on stderr first); exits 0 or 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "slurm_compat.h"

int main(int argc, char **argv)
{
	char *environment[] = { "PATH=/usr/bin:/bin", NULL };
	char cwd[4096];
	submit_response_msg_t *resp = NULL;
	job_desc_msg_t desc;

	if (argc < 2) {
		fprintf(stderr, "usage: forge-submit NAME=VALUE...\n");
		return 2;
	}
	slurm_init(NULL);
	slurm_init_job_desc_msg(&desc);
	desc.name = "forged";
	desc.script = "#!/bin/sh\ntrue\n";
	desc.user_id = getuid();
	desc.group_id = getgid();
	desc.min_nodes = 1;
	desc.work_dir = getcwd(cwd, sizeof(cwd)) ? cwd : "/tmp";
	desc.std_out = "/dev/null";
	desc.environment = environment;
	desc.env_size = 1;
	desc.spank_job_env = argv + 1;
	desc.spank_job_env_size = (uint32_t)(argc - 1);
	if (slurm_submit_batch_job(&desc, &resp) != SLURM_SUCCESS) {
		printf("refused: %s\n", slurm_strerror(slurm_get_errno()));
		slurm_fini();
		return 1;
	}
	printf("submitted %u\n", aml_submitted_job_id(resp));
	if (resp->job_submit_user_msg)
		printf("%s\n", resp->job_submit_user_msg);
	slurm_free_submit_response_response_msg(resp);
	slurm_fini();
	return 0;
}
