/*
 * submit_burst: how fast the controller takes batch jobs, for the
 * job_submit plugin's cost in bench-submit.
 *
 *   submit_burst [-N NODES] [-n TASKS] [-k PER_NODE] [-t MINUTES]
 *                [-E NAME=VALUE]... N [NAME=VALUE...]
 *
 * Submits N held jobs (nothing runs, so only the submission path is
 * timed) through the Slurm API, one after another as sbatch users do, and
 * prints "N jobs in S s: R jobs/s".  Each job has the allocation and the
 * job environment (-E) given, and the trailing NAME=VALUE as its SPANK
 * environment: an AML run's, for the plugin to plan, or, for the
 * baseline, the same allocation and variables the plugin would have
 * written, submitted as plain sbatch would.  Exits 1 on the first
 * refusal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <getopt.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "slurm_compat.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char *environment[64] = { "PATH=/usr/bin:/bin" };
	uint32_t nodes = 1, tasks = NO_VAL, minutes = NO_VAL;
	uint16_t per_node = NO_VAL16;
	submit_response_msg_t *resp;
	int env_size = 1, opt;
	job_desc_msg_t desc;
	double start, secs;
	long n;

	while ((opt = getopt(argc, argv, "+N:n:k:t:E:")) != -1) {
		switch (opt) {
		case 'N': nodes = (uint32_t)atoi(optarg); break;
		case 'n': tasks = (uint32_t)atoi(optarg); break;
		case 'k': per_node = (uint16_t)atoi(optarg); break;
		case 't': minutes = (uint32_t)atoi(optarg); break;
		case 'E':
			if (env_size < 63)
				environment[env_size++] = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc || (n = strtol(argv[optind], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: submit_burst [-N NODES] [-n TASKS] "
			"[-k PER_NODE] [-t MINUTES] [-E NAME=VALUE]... N "
			"[NAME=VALUE...]\n");
		return 2;
	}
	optind++;
	slurm_init(NULL);
	start = now_s();
	for (long i = 0; i < n; i++) {
		slurm_init_job_desc_msg(&desc);
		desc.name = "burst";
		desc.script = "#!/bin/sh\ntrue\n";
		desc.user_id = getuid();
		desc.group_id = getgid();
		desc.min_nodes = nodes;
		desc.max_nodes = nodes;
		desc.num_tasks = tasks;
		desc.ntasks_per_node = per_node;
		desc.time_limit = minutes;
		desc.priority = 0; /* held */
		desc.work_dir = "/tmp";
		desc.std_out = "/dev/null";
		desc.environment = environment;
		desc.env_size = (uint32_t)env_size;
		desc.spank_job_env = optind < argc ? argv + optind : NULL;
		desc.spank_job_env_size = (uint32_t)(argc - optind);
		resp = NULL;
		if (slurm_submit_batch_job(&desc, &resp) != SLURM_SUCCESS) {
			fprintf(stderr, "submit_burst: job %ld refused: %s\n", i,
				slurm_strerror(slurm_get_errno()));
			return 1;
		}
		slurm_free_submit_response_response_msg(resp);
	}
	secs = now_s() - start;
	printf("%ld jobs in %.2f s: %.1f jobs/s\n", n, secs, n / secs);
	slurm_fini();
	return 0;
}
