/*
 * job_update.h: whether the controller lets an update of a run's job
 * (`scontrol update`) through, as a pure function of what the update
 * asks, the job's admin comment and the site's policy now.
 *
 * Runs in slurmctld under its locks; no I/O, no Slurm types: the
 * job_submit plugin reads Slurm's update message into struct
 * aml_job_update, and the unit tests build one by hand.
 */
#ifndef AML_JOB_UPDATE_H
#define AML_JOB_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "site.h"

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
/*
 * Whether [u] asks to change nothing aml_job_update_check judges (a hold,
 * a release, a new comment or name...): then the verdict is OK whatever
 * the job, and the controller need not look the job up at all.
 */
int aml_job_update_asks_nothing(const struct aml_job_update *u);

enum aml_update_verdict aml_job_update_check(const struct aml_site *site,
						const char *admin_comment,
						const struct aml_job_update *u,
						char *errbuf, size_t errlen);

#endif
