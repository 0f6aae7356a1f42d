/*
 * plan.h: from a run configuration and the site policy to a Slurm
 * allocation.
 *
 * A pure function: no I/O, no clock, no randomness (the run id is an
 * input), so the controller can call it under its locks and every rule is
 * unit-tested.  A request over a site limit is rejected naming the limit,
 * never silently clamped.  Every problem is reported, not just the first.
 *
 * The plan is expressed in Slurm 22.05's own terms (job_desc fields):
 *   tres_per_node  "gres:gpu:4" for a target with Gres=gpu:4 (and
 *                  "gres:gpu:a100:8" for Gres=gpu:a100:8)
 *   time_limit     minutes: ceil(deadline / 60) plus ceil(FinalizeGrace /
 *                  60), so the launcher can enforce the exact deadline and
 *                  still upload outputs before Slurm's own limit kills the
 *                  job.  The deadline is max_run_duration_seconds; when the
 *                  file set none (max_run_duration_given 0), Azure ML's
 *                  30-day default is shortened to the target's MaxTime, as
 *                  Slurm gives a job without --time its partition's limit,
 *                  while a requested duration over MaxTime is refused.
 *                  Never above AML_PLAN_MAX_TIME_LIMIT: Slurm reads
 *                  0xfffffffe as NO_VAL ("not set") and 0xffffffff as
 *                  INFINITE.  A target's MaxTime bounds the deadline, not
 *                  the Slurm limit, so a site sets MaxTime at most the
 *                  partition's MaxTime less FinalizeGrace.
 *   ntasks_per_node  0 when processes do not spread evenly (TensorFlow with
 *                  parameter servers): Slurm then places num_tasks itself
 *
 * Layout by distribution type (min_nodes = max_nodes = node_count always):
 *   none        1 node, 1 task.  node_count > 1 is rejected: without a
 *               distributed_job_config the run is one process, and holding
 *               idle nodes (or silently starting the script on each) is
 *               never what the user meant; the message says to use a
 *               PyTorch or MPI configuration.
 *   pytorch     process_count_per_node tasks on each node.
 *   mpi         the same.
 *   tensorflow  worker_count + parameter_server_count tasks over node_count
 *               nodes; fewer tasks than nodes is rejected (a node would
 *               hold nothing); the per-node limit applies to
 *               ceil(tasks / nodes).
 * Processes per node are also bounded by AML_PLAN_MAX_TASKS_PER_NODE
 * (job_desc's uint16 with NO_VAL16/INFINITE16 reserved) and the total by
 * AML_MAX_PROCESSES.
 *
 * Compute target: compute_target NULL or "local" means the site's default
 * target, unless the site defines a target actually named "local".  When
 * the target has AllowUsers and/or AllowAccounts, the submitter may use it
 * if the user is in AllowUsers or the account is in AllowAccounts
 * (compared without case, as Slurm lower-cases accounts); a NULL account
 * (Slurm will pick the user's default, which the planner cannot know
 * without I/O) never matches AllowAccounts.
 *
 * Error paths use ScriptRunConfig's (form 1) field names whatever form the
 * file was in: node_count, compute_target, max_run_duration_seconds, name,
 * experiment_name, distributed_job_config.process_count (PyTorch, total),
 * distributed_job_config.process_count_per_node (MPI),
 * distributed_job_config.worker_count (TensorFlow),
 * environment.environment_variables.NAME, script.
 */
#ifndef AML_PLAN_H
#define AML_PLAN_H

#include <stdint.h>
#include <stddef.h>

#include "environment.h"
#include "errors.h"
#include "runconfig.h"
#include "site.h"

/* The longest time limit (minutes) the planner writes; see above. */
#define AML_PLAN_MAX_TIME_LIMIT 0xfffffffdU
/* The most tasks per node: Slurm's NO_VAL16 and INFINITE16 are reserved. */
#define AML_PLAN_MAX_TASKS_PER_NODE 0xfffdU

struct aml_submitter {
	const char *user;     /* login name */
	const char *account;  /* the account the job charges, or NULL when
			       * Slurm will use the user's default */
};

struct aml_plan {
	char *run_id;
	char *experiment_name;
	char *target;         /* the compute target used (default resolved) */
	char *job_name;       /* = run_id */
	char *comment;        /* "aml run_id=<id> experiment=<exp>" */
	char *partition;
	char *qos;            /* NULL: leave the job's own */
	char *account;        /* NULL: leave the job's own */
	char *tres_per_node;  /* NULL when the target has no Gres */
	char *gres;           /* the same as --gres spells it, or NULL */
	char *constraint;     /* NULL when none */
	uint32_t min_nodes;
	uint32_t max_nodes;
	uint32_t num_tasks;
	uint16_t ntasks_per_node;   /* 0: not fixed */
	uint32_t time_limit_minutes;
	uint64_t deadline_seconds;  /* the run's exact limit: see time_limit */
	/* Both lists are also NULL-terminated (items[count] == NULL), ready
	 * for execve. */
	struct aml_strlist environment; /* "NAME=value", user's first */
	struct aml_strlist argv;        /* the launch command */
	/* The folders the node makes in the working directory before the
	 * command (run_folders.h): "outputs", "logs", "outputs/<name>" for
	 * each declared output; also AML_OUTPUT_DIRS in environment. */
	struct aml_strlist output_dirs;
	struct aml_env_choice env;      /* what it runs in (environment.h) */
};

/*
 * Plan [rc] under [site] for [who], with run id [run_id] (a v2 `name` in
 * [rc] takes precedence; either must satisfy aml_runid_is_valid()).
 * Returns 0 and fills [plan]; on any problem returns -1 with every error in
 * [errs] and [plan] freed (zeroed).  Errors name the field and the limit:
 * "run.json: node_count: must be a whole number from 1 to 64 (compute
 * target gpu-cluster allows at most 64), got 100" (the file part comes
 * from [errs]).
 *
 * The environment is the run's variables in their order, followed by
 * AZUREML_RUN_ID, AZUREML_ARM_PROJECT_NAME (the experiment),
 * AZUREML_EXPERIMENT_NAME, AZUREML_NODE_COUNT, AML_RUN_ID,
 * AML_COMPUTE_TARGET, AML_MAX_RUN_DURATION_SECONDS, AML_PROCESS_COUNT (=
 * num_tasks), AML_DIST_TYPE (aml_dist_type_name()), SLURM_JOB_NAME and
 * AML_OUTPUT_DIRS (output_dirs joined by ':').  A user variable
 * whose name starts with SLURM_, AZUREML_ or AML_ (which covers all of
 * those names) is an error, as is a name that is not a valid variable name.
 *
 * The environment the run runs in is environment.h's choice (env), and a
 * refusal of it is the plan's.  A catalogue environment's Env= variables
 * follow the run's own, except those the run sets itself.
 *
 * argv: the argv-form command as is; a shell command line as
 * {"/bin/bash", "-c", line}; a script as {interpreter, script, arguments...}
 * with the environment's interpreter (env.interpreter).  If a configuration holds more than one (the parser
 * forbids it), the argv form wins, then the command line.
 *
 * job_name is the run id; comment is "aml run_id=<id> experiment=<exp>".
 * The experiment name must be non-empty without control characters, since
 * it ends up in the comment and the environment.
 */
int aml_plan_from_config(const struct aml_runconfig *rc,
			 const struct aml_site *site,
			 const struct aml_submitter *who,
			 const char *run_id, struct aml_plan *plan,
			 struct aml_errors *errs);

/*
 * The equivalent sbatch options for the allocation (not the environment),
 * malloc'd, in this order:
 *   -J <id> -p <partition> [--qos=Q] [--account=A] -N <nodes>
 *   (--ntasks-per-node=K | -n <tasks> when K is 0) [--gres=G]
 *   [--constraint=C] -t <minutes> --comment=<comment>
 * e.g. "-J hello_1700000000_0a1b2c3d -p gpu -N 2 --ntasks-per-node=4
 * --gres=gpu:4 -t 61 --comment='aml run_id=... experiment=...'".  A value
 * holding anything outside [A-Za-z0-9_./:=,@%+-] (or empty) is put in
 * single quotes, with ' written as '\''.  NULL if memory runs out.
 */
char *aml_plan_sbatch_options(const struct aml_plan *plan);

/*
 * The plan as compact JSON (malloc'd), for `aml-run plan --json`: an
 * object with the members of struct aml_plan in declaration order and
 * under the same names; unset strings are null, "environment" is an
 * object in the plan's order, "argv" an array of strings.  NULL if memory
 * runs out.
 */
char *aml_plan_to_json(const struct aml_plan *plan);

/*
 * Release everything [plan] holds and zero it; safe on a zeroed plan and
 * twice in a row.
 */
void aml_plan_free(struct aml_plan *plan);

#endif
