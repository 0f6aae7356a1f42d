/*
 * submit.h: what the controller decides about a submitted job, as a pure
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
#ifndef AML_SUBMIT_H
#define AML_SUBMIT_H

#include <stddef.h>
#include <stdint.h>

#include "job_env.h"
#include "plan.h"
#include "site.h"
#include "strlist.h"

struct aml_submit_decision {
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
	 * environment (aml_submit_spank_kept). */
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
int aml_submit_decide(char *const *spank_env, size_t n,
		      const struct aml_site *site,
		      const struct aml_submitter *who,
		      struct aml_submit_decision *d, char *errbuf,
		      size_t errlen);

void aml_submit_decision_free(struct aml_submit_decision *d);

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
int aml_submit_spank_kept(const char *entry);

/*
 * The admin comment the plugin writes on a run's job: the comment plus
 * " target=<compute target> nodes=<N> tasks=<N> tpn=<N>", the planned
 * node count, task count and tasks per node (0: Slurm places them).
 * Users cannot change an admin comment, so it is what a later update of
 * the job is judged by: the controller can read nothing else of the
 * job's past.  malloc'd.
 */
char *aml_submit_admin_comment(const struct aml_plan *plan);

/*
 * The run id in an admin comment the plugin wrote, into [buf] of [len]
 * bytes.  Returns 0, or -1 when [admin_comment] (may be NULL) is not
 * one of ours.  A job's name can be changed by its owner; its admin
 * comment cannot, so this is how a job is tied to its run.
 */
int aml_submit_admin_run_id(const char *admin_comment, char *buf, size_t len);

/*
 * What an update of a job (`scontrol update`) asks to change, as the
 * job_submit plugin reads Slurm's update message: the has_ flags at 0
 * and NULL strings mean "unchanged"; an empty string clears a field.
 */
struct aml_job_update {
	int has_nodes;
	uint32_t min_nodes, max_nodes;  /* max 0: same as min */
	int has_time_limit;
	uint32_t time_limit_minutes;    /* UINT32_MAX: Slurm's INFINITE */
	const char *partition;
	const char *qos;
	const char *account;
	const char *features;           /* Features= (required features) */
	const char *batch_features;     /* --batch: a node of the allocation */
	const char *req_nodes;          /* NodeList= (required nodes) */
	/* Gres= arrives as tres_per_node ("gres:gpu:4"); the others are
	 * TRES a run never asks for. */
	const char *tres_per_node;
	const char *tres_per_job;
	const char *tres_per_socket;
	const char *tres_per_task;
	const char *cpus_per_tres;
	const char *mem_per_tres;
	int has_num_tasks;
	uint32_t num_tasks;
	int has_ntasks_per_node;
	uint32_t ntasks_per_node;
	/* The name of another field of the task layout the update sets
	 * (ntasks_per_socket, _core, _tres), or NULL. */
	const char *other_layout;
};

enum aml_update_verdict {
	AML_UPDATE_OK,          /* not a run, or within its target */
	AML_UPDATE_NODES,       /* refused: another node count than planned,
				 * or more than the target allows */
	AML_UPDATE_TIME,        /* refused: a longer time limit */
	AML_UPDATE_PARTITION,   /* refused: another partition */
	AML_UPDATE_QOS,         /* refused: another QOS */
	AML_UPDATE_ACCOUNT,     /* refused: an account the target does not allow */
	AML_UPDATE_TARGET_GONE, /* refused: the target is no longer in aml.conf */
	AML_UPDATE_FEATURES,    /* refused: features other than the target's
				 * Constraint */
	AML_UPDATE_GRES,        /* refused: generic resources or TRES other
				 * than the target's Gres per node */
	AML_UPDATE_TASKS,       /* refused: another task layout than planned */
	AML_UPDATE_NODELIST,    /* refused: a required node list */
};

/*
 * Judge [u] for the job whose admin comment is [admin_comment] (NULL or
 * not ours: not a run, OK).  Every field that selects the job's
 * resources stays inside its compute target as aml.conf defines it now,
 * or is refused:
 *   NumNodes      the planned count (the run's processes were laid out
 *                 for it), within the target's MaxNodes
 *   TimeLimit     at most MaxTime plus FinalizeGrace (the planner's)
 *   Partition, QOS, Account   the target's (AllowAccounts)
 *   Features      exactly the target's Constraint; a target without one
 *                 allows none (its nodes are told apart from another
 *                 target's on the same partition by features)
 *   BatchFeatures none: it would pull a node with them into the job
 *   Gres          exactly the target's Gres per node, or none without
 *   TresPerJob/Socket/Task, CpusPerTres, MemPerTres   none: runs never
 *                 use them, and they select GPUs past the target's
 *   NodeList      none: a run's nodes are chosen within its target
 *   NumTasks, NtasksPerNode   the planned ones; other layout fields: none
 * Clearing a field a run never sets is no change and is allowed.
 * Updates that touch none of these (hold, release, a new name, the
 * comment, ExcNodeList, CPUs and memory per task or node) are always OK.
 * A refusal comes with one line in [errbuf] naming the run, the field and
 * the rule.
 */
enum aml_update_verdict aml_submit_check_update(const struct aml_site *site,
						const char *admin_comment,
						const struct aml_job_update *u,
						char *errbuf, size_t errlen);

/*
 * The plan's variables, sorted by name, for putting them into a job's
 * environment in one pass: a job can carry any number of variables of
 * its own and a run up to MaxEnvironmentVariables, and a search of the
 * job's array per planned variable made a submission cost their product
 * under slurmctld's locks.  Names in [vars] are unique (the planner's
 * are: users may not set the ones it adds).
 */
struct aml_env_index {
	char *const *items;  /* vars->items, not owned */
	size_t *order;       /* indices into items, sorted by name */
	size_t count;
};

/*
 * Index [vars] ("NAME=value" strings).  Returns 0, or -1 when memory runs
 * out ([ix] then needs no free).  O(m log m).
 */
int aml_env_index_init(struct aml_env_index *ix,
		       const struct aml_strlist *vars);

/*
 * The index in [vars] of the variable with the name of [entry] ("NAME=
 * value"; all of it is the name when there is no '='), or -1.  O(log m).
 */
long aml_env_index_find(const struct aml_env_index *ix, const char *entry);

void aml_env_index_free(struct aml_env_index *ix);

/*
 * The batch script of a run submitted without one: a POSIX sh script that
 * execs [launcher] (aml-launch's installed path) with no arguments; the
 * launcher finds everything in its environment.  malloc'd; NULL when
 * memory runs out.
 */
char *aml_submit_launcher_script(const struct aml_submit_decision *d,
				 const char *launcher);

#endif
