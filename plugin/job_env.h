/*
 * job_env.h: the variables a run's stages hand each other, sbatch ->
 * slurmctld -> node -> launcher, and what makes a name a variable name.
 *
 * Every name that crosses a process boundary is spelled here once; each
 * says who writes it, who reads it, and why the reader may act on it.
 * The rule behind all of them: a variable that reaches a root process or
 * the controller is checked there as if a hostile user wrote it (a user
 * can submit any environment through Slurm's API), and a variable only the
 * job's own processes read (as the job's user, in that user's own
 * directories) can mislead nobody but the user who forged it.
 *
 * Three channels carry them:
 *   - the SPANK job-control environment: sbatch's plugin sets NAME with
 *     spank_job_control_setenv; slurmctld sees "NAME=value" in
 *     job_desc->spank_job_env, a job's steps see SLURM_SPANK_NAME, and
 *     slurmd's epilog sees SPANK_NAME;
 *   - the job's environment, which the controller writes from its plan
 *     (plan.h, admission.h) and every step inherits;
 *   - a step's environment, set by a process of the run for the steps
 *     and tasks it starts.
 */
#ifndef AML_JOB_ENV_H
#define AML_JOB_ENV_H

/* ---- inside sbatch: the cli_filter plugin -> the SPANK plugin ---- */

/*
 * The id of the job sbatch just submitted, which SPANK never tells its
 * plugins: Slurm's cli_filter plugins are the one client-side hook that
 * sees it (post_submit), so cli_filter/aml puts it into sbatch's own
 * environment for sbatch's SPANK plugin to read at exit.  Written after
 * the job was built, so it never reaches the job.  Trusted by nobody: the
 * SPANK plugin removes any inherited value before the submission, and
 * takes the job only once the controller says its admin comment names
 * the run (admin_comment.h); without cli_filter/aml it finds the job
 * among the user's jobs instead.
 */
#define AML_SUBMITTED_JOB_ID "AML_SUBMITTED_JOB_ID"

/* ---- sbatch -> slurmctld: the SPANK job-control environment ---- */

/*
 * The canonical configuration (compact JSON, one line; runconfig.h).
 * Written by sbatch's plugin (sbatch_side.c).  Trusted by nobody: the
 * controller parses and validates it again by the same rules and plans it
 * under site policy (admission.c); the node side and the launcher parse it
 * again within the site's limits.
 */
#define AML_JOBENV_CONFIG "AML_CONFIG"
/*
 * The run id, already in run history (NotStarted).  Written by sbatch's
 * plugin into the SPANK environment and, once the controller has checked
 * that it is a run id (aml_runid_is_valid) its plan agrees with, by the
 * controller into the job's environment under the same name (plan.c).
 * The node side and the launcher read it from the job's environment and
 * take it as one path component only (aml_is_path_component, launch.h)
 * inside the user's own RunDir directory.
 */
#define AML_JOBENV_RUN_ID "AML_RUN_ID"
/*
 * The snapshot of the source directory (64 hex digits).  Written by
 * sbatch's plugin; the controller refuses anything but 64 hex digits and
 * appends it to the job's environment under the same name (admission.c);
 * the node side checks it again (aml_sha256_is_hex) before it installs that
 * snapshot from the user's own store, as the user.
 */
#define AML_JOBENV_SNAPSHOT "AML_SNAPSHOT_ID"
/*
 * "1" when sbatch had no script of the user's and ran the plugin's
 * placeholder: the controller then replaces the batch script with the
 * run's launcher; "0" when the user's script is the run's command.
 * Written by sbatch's plugin; read by the controller only, which accepts
 * exactly "0" or "1": either way the job runs the user's own choice.
 */
#define AML_JOBENV_LAUNCHER "AML_LAUNCHER"
/*
 * The run's own id on the tracking server (HistoryBackend=mlflow), when
 * sbatch could create it there: every later writer reaches the run by it,
 * never by its name (history.h).  Written by sbatch's plugin; the
 * controller refuses one not of a tracking id's form
 * (aml_runid_is_tracking_id) and appends it to the job's environment and
 * its comment; the node side and the epilog use it only in that form.
 */
#define AML_JOBENV_MLFLOW_RUN_ID "AML_MLFLOW_RUN_ID"
/*
 * The run's experiment, for the epilog, which finds the run's history by
 * it.  Written by the controller only, from the configuration it
 * validated, in place of the configuration itself, which it takes out of
 * the SPANK environment (admission.h: aml_admission_spank_kept) and any value
 * the client sent under this name.
 */
#define AML_JOBENV_EXPERIMENT "AML_EXPERIMENT"
/*
 * The run's plan as the controller admitted it: the words of its admin
 * comment (admin_comment.h: target, node and task counts).  Written by the
 * controller only, into the job's environment, in place of any value the
 * client sent under this name.  Read by the controller alone, when an
 * update asks to change the job's resources (job_update.h): a job's
 * environment cannot be updated, and slurmctld gives its plugins a job's
 * environment (get_job_env) on every release, where it gives them no way
 * to read the admin comment.  A plain job whose user wrote one gets its
 * own updates judged by it: a forger can only restrict their own job.
 */
#define AML_JOBENV_PLAN "AML_PLAN"
/*
 * How Slurm forwards `--aml-run=FILE` itself (the option of SPANK plugin
 * "aml"): present when the user asked for a run, whether or not the SPANK
 * plugin on the submit host did its part.  Written by Slurm; the
 * controller refuses a job that has it without AML_JOBENV_CONFIG.
 */
#define AML_JOBENV_OPTION "_SLURM_SPANK_OPTION_aml_aml_run"

/* ---- the SPANK job-control environment as later stages see it ---- */

/* What a job's steps see of the SPANK job-control variable NAME. */
#define AML_SPANK_STEP_PREFIX "SLURM_SPANK_"
/* What slurmd's epilog sees of it. */
#define AML_SPANK_EPILOG_PREFIX "SPANK_"

/*
 * The canonical configuration in a job's steps: read by the node side
 * (task_init, for the distributed layout) and the launcher, both as the
 * user, both parsing it again within the site's limits.  sbatch exports
 * it to the job's environment; the controller replaces that copy with the
 * one it validated (admission.h: node_config).
 */
#define AML_ENV_NODE_CONFIG AML_SPANK_STEP_PREFIX AML_JOBENV_CONFIG
/*
 * The option as sbatch exports it to the job's environment: removed
 * before Slurm parses options (spank_aml.c), so that no srun or sbatch
 * inside a run takes it as its own.
 */
#define AML_ENV_INHERITED_OPTION AML_SPANK_STEP_PREFIX AML_JOBENV_OPTION
/*
 * The run id, experiment and tracking id as the epilog (root) sees them:
 * set only through sbatch and checked by the controller as above (the
 * experiment written by the controller).  The epilog takes the job's
 * owner from Slurm, not from these, and uses the run id and experiment
 * only as path components and the tracking id only in its form
 * (node_epilog.c).
 */
#define AML_EPILOG_RUN_ID AML_SPANK_EPILOG_PREFIX AML_JOBENV_RUN_ID
#define AML_EPILOG_EXPERIMENT AML_SPANK_EPILOG_PREFIX AML_JOBENV_EXPERIMENT
/* The configuration, which a job queued before the controller took it out
 * of the SPANK environment still carries there. */
#define AML_EPILOG_CONFIG AML_SPANK_EPILOG_PREFIX AML_JOBENV_CONFIG
#define AML_EPILOG_MLFLOW_RUN_ID \
	AML_SPANK_EPILOG_PREFIX AML_JOBENV_MLFLOW_RUN_ID

/* ---- slurmctld -> every step: the job's environment ---- */

/*
 * Written by the controller from its plan (plan.c), after the user's own
 * variables, whose names may not start with AML_ENV_RESERVED_PREFIX nor
 * be one of these (plan.c refuses them), so a configuration cannot
 * shadow them.  Read by the run's script (Azure ML's names), the node
 * side and the launcher, as the user: the user's own steps can set
 * anything in their environment, and mislead only themselves.
 */
#define AML_ENV_RESERVED_PREFIX "AML_"
#define AML_ENV_COMPUTE_TARGET "AML_COMPUTE_TARGET"
#define AML_ENV_MAX_RUN_DURATION "AML_MAX_RUN_DURATION_SECONDS"
#define AML_ENV_PROCESS_COUNT "AML_PROCESS_COUNT"
#define AML_ENV_DIST_TYPE "AML_DIST_TYPE"   /* aml_dist_type_name() */
#define AML_ENV_AZUREML_RUN_ID "AZUREML_RUN_ID"
#define AML_ENV_AZUREML_PROJECT "AZUREML_ARM_PROJECT_NAME"
/* The experiment: the node side and the launcher record the run in it. */
#define AML_ENV_EXPERIMENT "AZUREML_EXPERIMENT_NAME"
#define AML_ENV_NODE_COUNT "AZUREML_NODE_COUNT"
/* The folders the node side makes in the working directory before the
 * command starts, joined by ':' (run_folders.h): "outputs:logs" and
 * "outputs/<name>" for each output a command job declares. */
#define AML_ENV_OUTPUT_DIRS "AML_OUTPUT_DIRS"
/*
 * Slurm's own name for the job's name, which sbatch writes into the job's
 * environment before the controller renames the job after its run id:
 * without this a run would see no SLURM_JOB_NAME, or the -J it was
 * submitted with, never the name squeue and sacct show.
 */
#define AML_ENV_SLURM_JOB_NAME "SLURM_JOB_NAME"

/* ---- node and launcher -> the steps and tasks they start ---- */

/*
 * The run's working directory on this node.  Written by the node side
 * into each task's environment (task_init, as the user) once it has made
 * the directory inside the user's own RunDir directory; read by the
 * launcher, which starts there.
 */
#define AML_ENV_WORKDIR "AML_WORKDIR"
/*
 * "1" in a step the launcher starts (srun --export): the node side gives
 * that step's tasks the run's distributed environment and working
 * directory, and leaves steps the user starts alone.  A user who sets it
 * in a step of their own run gets that step treated as the run's, as the
 * user, in the user's own directory: nothing of anyone else's.
 */
#define AML_ENV_LAUNCH_STEP "AML_LAUNCH_STEP"
/*
 * The batch node's name, in the launcher's upload step on every node: the
 * batch node uploads its own after that step, so its copy there does
 * nothing.  Written and read by the launcher only.
 */
#define AML_ENV_BATCH_NODE "AML_BATCH_NODE"
/*
 * The run's end event as one line, handed by the batch node's launcher
 * to the upload step, so that a node whose outputs wait in its spool
 * delivers the end after them.  Written and read by the launcher only.
 */
#define AML_ENV_LAUNCH_END "AML_LAUNCH_END"

/*
 * Non-zero when [name] is a valid POSIX environment variable name
 * ([A-Za-z_][A-Za-z0-9_]*); 0 for NULL or "".
 */
int aml_is_env_name(const char *name);

/*
 * Why a run may not set the variable [name] itself, as one phrase ("names
 * starting with SLURM_ are reserved for Slurm"), or NULL when it may.
 * Reserved: names starting with SLURM_, AML_ or AZUREML_CR_; the
 * AZUREML_ names the plan sets (AZUREML_RUN_ID, AZUREML_ARM_PROJECT_NAME,
 * AZUREML_EXPERIMENT_NAME, AZUREML_NODE_COUNT); and, when [distributed]
 * is non-zero, the per-process variables of aml_distributed_env
 * (launch.h).  Case-sensitive, as variable names are.  The one list:
 * validation (runconfig.h) and the planner both ask it.
 */
const char *aml_env_reserved_reason(const char *name, int distributed);

#endif
