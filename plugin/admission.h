/*
 * admission.h: what the controller decides about a submitted job, as a pure
 * function of the job's SPANK environment, the submitter and the site.
 *
 * sbatch's SPANK plugin validates run.json, snapshots the source, creates
 * the run, and hands the controller the AML_JOBENV_ variables of
 * job_env.h (the configuration, the run id, the snapshot id, whether to
 * put in the launcher, the tracking server's run id) through
 * spank_job_control_setenv; they arrive in job_desc->spank_job_env as
 * "NAME=value".
 *
 * Nothing of that is trusted: a user can submit any spank_job_env through
 * the API.  The configuration is parsed and validated again by the same
 * rules, planned under the site policy, and the other values are checked
 * (a run id the plan agrees with, a snapshot id of 64 hex digits, a
 * tracking server's run id of its form: aml_runid_is_tracking_id).  The
 * last goes to the job's environment and, right after the run id, into
 * its comments (" mlflow_run_id=<id>"), where the finalizer finds it.
 *
 * No I/O, no Slurm types, nothing static: slurmctld calls this under its
 * locks, and it is unit-tested without Slurm.
 */
#ifndef AML_ADMISSION_H
#define AML_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "job_env.h"
#include "plan.h"
#include "site.h"
#include "strlist.h"

struct aml_admission {
	int is_aml;            /* 0: not an AML job; leave it untouched */
	int replace_script;    /* put the launcher in as the batch script */
	struct aml_plan plan;  /* the allocation; environment additionally
				* holds AML_SNAPSHOT_ID=<id> (and
				* AML_MLFLOW_RUN_ID=<id>) at its end */
	char *snapshot_id;
	/* What the job keeps of the run, for the node, beyond the plan:
	 * AML_ENV_NODE_CONFIG=<the configuration as validated>, for the
	 * job's environment (the controller keeps that on disk, not in
	 * memory), and AML_JOBENV_EXPERIMENT=<experiment>, for its SPANK
	 * environment (aml_admission_spank_kept). */
	char *node_config;
	char *spank_experiment;
	char *summary;         /* for sbatch to print on success: "run
				* hello_1795..._0a1b2c3d: compute target cpu,
				* 2 nodes x 2 tasks per node, time limit 17 min" */
};

/*
 * Decide about the job whose SPANK environment is [spank_env] ([n]
 * entries of "NAME=value"; may be NULL with n 0).  Returns 0 with [d]
 * filled (d->is_aml says whether there is anything to do), or -1 with the
 * reason in [errbuf]: one line, every problem of the configuration joined
 * by "; ", e.g. "run.json: node_count: must be a whole number from 1 to
 * 2 (compute target cpu allows at most 2), got 64".  A job that asked for
 * --aml-run (AML_JOBENV_OPTION) without AML_CONFIG is refused: the SPANK
 * plugin is missing on the submit host.
 */
int aml_admission_decide(char *const *spank_env, size_t n,
			 const struct aml_site *site,
			 const struct aml_submitter *who,
			 struct aml_admission *d, char *errbuf,
			 size_t errlen);

void aml_admission_free(struct aml_admission *d);

/*
 * Whether a run's job keeps [entry] ("NAME=value") of its SPANK
 * environment once the controller has accepted it.  slurmctld holds a
 * job's SPANK environment in memory for the job's whole life, and sends
 * it with every prolog and epilog, where its environment and script stay
 * on disk; so the variables the controller alone reads (AML_CONFIG,
 * AML_SNAPSHOT_ID, AML_LAUNCHER) go once read, the configuration going to
 * the job's environment instead (d->node_config), and an AML_EXPERIMENT
 * the client sent goes too, since the controller writes its own
 * (d->spank_experiment).  The run id, the tracking id and Slurm's own
 * option stay: the epilog and the node read them there.
 */
int aml_admission_spank_kept(const char *entry);

/*
 * The batch script of a run submitted without one: a POSIX sh script that
 * execs [launcher] (aml-launch's installed path) with no arguments; the
 * launcher finds everything in its environment.  malloc'd; NULL when
 * memory runs out.
 */
char *aml_admission_launcher_script(const struct aml_admission *d,
				    const char *launcher);

#endif
