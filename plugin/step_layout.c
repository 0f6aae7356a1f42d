/*
 * step_layout.c: a step's layout and a task's distributed environment
 * (contract in step_layout.h).
 */
#include "step_layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int aml_tasks_per_node_parse(const char *s, uint32_t *out, uint32_t n)
{
	uint32_t filled = 0;

	while (*s) {
		unsigned long count, repeat = 1;
		char *end;

		if (*s < '0' || *s > '9')
			return -1;
		errno = 0;
		count = strtoul(s, &end, 10);
		if (errno || count > UINT32_MAX)
			return -1;
		s = end;
		if (*s == '(') {
			if (s[1] != 'x' || s[2] < '0' || s[2] > '9')
				return -1;
			repeat = strtoul(s + 2, &end, 10);
			/* Slurm writes a repeat only for two nodes or more;
			 * "3(x0)" names no node and is junk. */
			if (errno || *end != ')' || repeat == 0)
				return -1;
			s = end + 1;
		}
		if (repeat > n - filled)
			return -1;
		while (repeat--)
			out[filled++] = (uint32_t)count;
		if (*s == ',' && s[1])
			s++;
		else if (*s)
			return -1;
	}
	return filled == n ? 0 : -1;
}

int aml_step_layout_alloc(struct aml_step_layout *l, uint32_t n,
			  char *errbuf, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->hosts = calloc(n, sizeof(*l->hosts));
	l->tasks = calloc(n, sizeof(*l->tasks));
	if (!l->hosts || !l->tasks) {
		aml_step_layout_free(l);
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	l->n = n;
	return 0;
}

int aml_step_layout_set_tasks(struct aml_step_layout *l,
			      const char *tasks_per_node, char *errbuf,
			      size_t errlen)
{
	if (aml_tasks_per_node_parse(tasks_per_node, l->tasks, l->n) < 0) {
		snprintf(errbuf, errlen,
			 "SLURM_STEP_TASKS_PER_NODE=%.200s does not give tasks for the step's %u nodes",
			 tasks_per_node, (unsigned)l->n);
		return -1;
	}
	return 0;
}

void aml_step_layout_free(struct aml_step_layout *l)
{
	for (uint32_t i = 0; l->hosts && i < l->n; i++)
		free(l->hosts[i]);
	free(l->hosts);
	free(l->tasks);
	memset(l, 0, sizeof(*l));
}

int aml_step_task_env(const struct aml_runconfig *rc,
		      const struct aml_step_layout *l,
		      struct aml_task_place *place, struct aml_strlist *vars,
		      char *errbuf, size_t errlen)
{
	place->hosts = (const char *const *)l->hosts;
	place->tasks_per_host = l->tasks;
	if (l->n != place->n_nodes ||
	    aml_distributed_env(rc, place, vars) < 0) {
		snprintf(errbuf, errlen,
			 "no %s environment for task %u of %u (node %u of %u, local task %u of %u): the step is not laid out as the run's configuration asks, or memory ran out",
			 aml_dist_type_name(rc->distributed.type),
			 (unsigned)place->rank, (unsigned)place->world_size,
			 (unsigned)place->node_rank, (unsigned)place->n_nodes,
			 (unsigned)place->local_rank,
			 (unsigned)place->local_world);
		return -1;
	}
	return 0;
}
