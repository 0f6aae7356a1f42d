/*
 * sbatch_side.h: what sbatch does for `--aml-run=FILE`, in the user's own
 * process, before and after the job reaches the controller.
 *
 * Before (slurm_spank_init_post_opt): every check first, so a user sees
 * every mistake and nothing exists yet when one is found: the site policy
 * (aml.conf), the run configuration, its files, and the plan the
 * controller will make of it for this user.  Only then: the snapshot of
 * the source directory, the run in history (NotStarted), and the job
 * control environment the controller decides from (admission.h):
 * AML_CONFIG, AML_RUN_ID, AML_SNAPSHOT_ID, AML_LAUNCHER.
 *
 * After (slurm_spank_exit): SPANK never tells sbatch the job id.
 * cli_filter/aml does, where the site loads it (job_env.h:
 * AML_SUBMITTED_JOB_ID), and the controller is asked for that one job;
 * elsewhere the run's job is found among all of the user's jobs.  Either
 * way it counts only when its admin comment, which the controller wrote,
 * names the run.  Then the run moves to Queued; when there is none, the
 * controller refused it, and the run is recorded Failed with why, rather
 * than sit at NotStarted for ever.
 *
 * Every message is one line through slurm_error/slurm_info; sbatch adds
 * "sbatch: error: ".  The configuration's contents are never printed.
 */
#ifndef AML_SPANK_SBATCH_SIDE_H
#define AML_SPANK_SBATCH_SIDE_H

#include <slurm/spank.h>

struct aml_sbatch_request {
	const char *config_path;  /* --aml-run's value, as the user gave it */
	int launcher;             /* 1: sbatch ran the placeholder script */
	int test_only;            /* sbatch --test-only: create no run */
};

/*
 * The "before" part.  Returns 0 when the job may go to the controller,
 * -1 when sbatch must stop (the reasons already printed).  A second call
 * in the same sbatch (a heterogeneous job calls post_opt once per
 * component) is refused: one run is one job.
 */
int aml_sbatch_prepare(spank_t sp, const struct aml_sbatch_request *req);

/*
 * The "after" part, at sbatch's exit.  [submit_errno] is sbatch's errno
 * when its exit handlers began (why the submission failed, if it did).
 * Does nothing unless prepare created a run; releases everything prepare
 * kept.
 */
void aml_sbatch_finish(int submit_errno);

#endif
