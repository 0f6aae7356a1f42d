/*
 * step_layout.h: where a step's tasks are, from what Slurm tells each
 * task, and the distributed-training variables that follow (launch.h).
 *
 * The node side reads the step's host names (SLURM_STEP_NODELIST, which
 * only Slurm's hostlist functions expand) and its tasks per node
 * (SLURM_STEP_TASKS_PER_NODE, "2(x3),1"); the rest is here, without
 * Slurm, so that it can be tested.
 */
#ifndef AML_STEP_LAYOUT_H
#define AML_STEP_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "launch.h"
#include "runconfig.h"
#include "strlist.h"

/*
 * Slurm's compressed task counts, "2(x3),1" (2 on each of three nodes,
 * then 1): exactly [n] counts into [out].  Returns 0, or -1 when
 * malformed (anything but COUNT or COUNT(xREPEAT), comma-separated; a
 * count past 2^32 - 1), or when the counts are not exactly [n] (then
 * [out] may be partly written).  Never writes past [out][n - 1].
 */
int aml_tasks_per_node_parse(const char *s, uint32_t *out, uint32_t n);

/* A step's nodes in order, and the tasks on each. */
struct aml_step_layout {
	uint32_t n;
	char **hosts;      /* malloc'd names; the caller fills them */
	uint32_t *tasks;
};

/*
 * Room for [n] hosts (NULL each) and their task counts.  Returns 0, or -1
 * with errbuf when memory runs out ([l] then empty).
 */
int aml_step_layout_alloc(struct aml_step_layout *l, uint32_t n,
			  char *errbuf, size_t errlen);

/*
 * The tasks on each of the layout's hosts from SLURM_STEP_TASKS_PER_NODE's
 * text [tasks_per_node].  Returns 0, or -1 with errbuf naming the
 * variable when it does not give tasks for exactly those hosts.
 */
int aml_step_layout_set_tasks(struct aml_step_layout *l,
			      const char *tasks_per_node, char *errbuf,
			      size_t errlen);

/* Frees the hosts and counts; [l] is empty after, and may be already. */
void aml_step_layout_free(struct aml_step_layout *l);

/*
 * The distributed-training variables of the task at [place] (its hosts
 * and counts taken from [l]) for the run [rc], "NAME=value" each,
 * appended to [vars]: aml_distributed_env's, with one sentence in errbuf
 * when the step is not laid out as the configuration asks.  Returns 0, or
 * -1 with errbuf.
 */
int aml_step_task_env(const struct aml_runconfig *rc,
		      const struct aml_step_layout *l,
		      struct aml_task_place *place, struct aml_strlist *vars,
		      char *errbuf, size_t errlen);

#endif
