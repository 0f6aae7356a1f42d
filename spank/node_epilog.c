/*
 * node_epilog.c: a run's directory on a node at the job's end, in the
 * SPANK epilog (see node_epilog.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include "clock.h"
#include "errors.h"
#include "job_env.h"
#include "launch.h"
#include "node_epilog.h"
#include "node_rundir.h"
#include "runconfig.h"
#include "runid.h"
#include "site.h"

/* slurmd's own environment: the node's name as slurmd knows it. */
#define ENV_NODENAME "SLURMD_NODENAME"
/* The epilog sees the job's SPANK environment (AML_EPILOG_*, job_env.h),
 * not the job's environment. */
#define ENV_EPILOG_EXIT_CODE "SLURM_JOB_EXIT_CODE"

/*
 * Whether to keep the working directory: KeepFailedRunDir=yes and a job
 * that did not exit 0.  slurmd's epilog has the job's wait status in
 * SLURM_JOB_EXIT_CODE unless Slurm never learnt it; unknown counts as
 * success, so the directory is removed rather than kept for ever.
 */
static int keep_for_failure(const struct aml_site *site)
{
	const char *code = getenv(ENV_EPILOG_EXIT_CODE);

	return site->keep_failed_run_dir && code && *code &&
	       strcmp(code, "0") != 0;
}

/* What the epilog's run directory work says, as Slurm's messages: a
 * loss also to syslog, where admins watch for it. */
static void epilog_say(void *ctx, int level, const char *line)
{
	(void)ctx;
	if (level <= LOG_ERR) {
		slurm_error(AML_LOG_PREFIX "%s", line);
		syslog(LOG_DAEMON | LOG_ERR, "aml: %s", line);
	} else if (level <= LOG_WARNING) {
		slurm_error(AML_LOG_PREFIX "%s", line);
	} else {
		slurm_info(AML_LOG_PREFIX "%s", line);
	}
}

/*
 * The run's experiment, as the controller wrote it into the job's SPANK
 * environment (or, for a job queued before it did, from the configuration
 * there), into [buf]; "" when it cannot be told (the core then asks run
 * history).
 */
static void epilog_experiment(const struct aml_site *site, char *buf,
			      size_t len)
{
	const char *exp = getenv(AML_EPILOG_EXPERIMENT);
	const char *config = getenv(AML_EPILOG_CONFIG);
	struct aml_runconfig rc;
	struct aml_errors errs;

	buf[0] = '\0';
	/* An experiment's name has a run id's alphabet (runconfig.h). */
	if (exp && aml_runid_is_valid(exp)) {
		snprintf(buf, len, "%s", exp);
		return;
	}
	if (!config || !*config)
		return;
	aml_errors_init(&errs, AML_EPILOG_CONFIG);
	if (aml_runconfig_parse(config, strlen(config), AML_EPILOG_CONFIG,
				NULL, NULL, &site->limits, &rc, &errs) == 0) {
		snprintf(buf, len, "%s", rc.experiment_name);
		aml_runconfig_free(&rc);
	}
	aml_errors_free(&errs);
}

int aml_node_job_epilog(spank_t sp)
{
	struct aml_node_rundir_end e = { 0 };
	struct aml_site site;
	const char *run_id = getenv(AML_EPILOG_RUN_ID);
	const char *node_name = getenv(ENV_NODENAME);
	const char *tracking = getenv(AML_EPILOG_MLFLOW_RUN_ID);
	char workdir[PATH_MAX], errbuf[2048], experiment[AML_RUNID_MAX];
	uint32_t job_id = 0;
	uid_t uid;
	gid_t gid;

	if (spank_context() != S_CTX_JOB_SCRIPT || !run_id)
		return 0;
	if (!node_name || !*node_name ||
	    spank_get_item(sp, S_JOB_UID, &uid) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_GID, &gid) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS) {
		slurm_error(AML_LOG_PREFIX "run %s: epilog: no node name, job id or user: the run's directory stays",
			    run_id);
		return 0;
	}
	if (aml_site_load_default(&site, errbuf, sizeof(errbuf)) < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: epilog: %s", run_id, errbuf);
		return 0;
	}
	/* The same checks as the install's: one directory entry each. */
	if (aml_run_workdir(site.run_dir, run_id, node_name, workdir,
			    sizeof(workdir)) < 0) {
		slurm_error(AML_LOG_PREFIX "epilog: run id \"%.200s\" cannot name a directory under RunDir",
			    run_id);
		goto out;
	}
	epilog_experiment(&site, experiment, sizeof(experiment));
	e.site = &site;
	e.uid = uid;
	e.gid = gid;
	e.run_id = run_id;
	e.node = node_name;
	e.experiment = experiment;
	e.tracking_id = tracking && aml_runid_is_tracking_id(tracking)
				? tracking : NULL;
	e.job_id = job_id;
	e.keep = keep_for_failure(&site);
	e.deadline_ms = aml_monotonic_ms() + AML_NODE_RUNDIR_EPILOG_MS;
	/* Root here: the core acts as the user for every touch of the
	 * user's tree, in children it stops in time for the uploads. */
	(void)aml_node_rundir_end_job(&e, epilog_say, NULL);
out:
	aml_site_free(&site);
	return 0;
}
