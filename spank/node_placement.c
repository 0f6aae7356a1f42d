/*
 * node_placement.c: see node_placement.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include "errors.h"
#include "job_getenv.h"
#include "node_placement.h"
#include "placement_node.h"

/* The job's variables placement reads, each read once and kept until
 * the task is placed (placement_node.h's getenv returns borrowed
 * strings). */
struct job_env {
	spank_t sp;
	struct {
		const char *name;
		char *value;     /* NULL: not set */
	} seen[16];
	size_t n;
};

static const char *job_env_get(const char *name, void *arg)
{
	struct job_env *e = arg;
	char *value = NULL;

	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->seen[i].name, name))
			return e->seen[i].value;
	if (aml_job_getenv(e->sp, name, &value) <= 0)
		value = NULL;
	if (e->n == sizeof(e->seen) / sizeof(e->seen[0])) {
		free(value);
		return NULL;
	}
	e->seen[e->n].name = name;
	e->seen[e->n++].value = value;
	return value;
}

static void job_env_free(struct job_env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->seen[i].value);
}

/* The global ranks of the node's tasks, for the record; NULL when
 * Slurm does not say. */
static unsigned *global_ranks(spank_t sp, unsigned n)
{
	unsigned *g = calloc(n ? n : 1, sizeof(*g));

	for (unsigned i = 0; g && i < n; i++) {
		uint32_t id;

		if (spank_get_item(sp, S_JOB_LOCAL_TO_GLOBAL_ID, (uint32_t)i,
				   &id) != ESPANK_SUCCESS) {
			free(g);
			return NULL;
		}
		g[i] = id;
	}
	return g;
}

static void apply(spank_t sp, hwloc_topology_t topo,
		  const struct aml_task_placement *tp, const char *run_id)
{
	if (tp->bind && hwloc_set_cpubind(topo, tp->bind,
					  HWLOC_CPUBIND_PROCESS) < 0) {
		char cpus[128];

		aml_cpuset_text(tp->bind, cpus, sizeof(cpus));
		slurm_error(AML_LOG_PREFIX "run %s: cannot bind the task to CPUs %s; it runs unbound",
			    run_id, cpus);
	}
	for (size_t i = 0; i < tp->env.count; i++) {
		char *eq = strchr(tp->env.items[i], '=');
		spank_err_t e;

		*eq = '\0';
		/* 0: what the run or Slurm set wins. */
		e = spank_setenv(sp, tp->env.items[i], eq + 1, 0);
		if (e != ESPANK_SUCCESS && e != ESPANK_ENV_EXISTS)
			slurm_error(AML_LOG_PREFIX "run %s: cannot set %s",
				    run_id, tp->env.items[i]);
		*eq = '=';
	}
}

void aml_node_place_task(spank_t sp, const struct aml_site *site,
			 const char *run_id, const char *node,
			 struct aml_kvlist *props)
{
	struct job_env env = { .sp = sp };
	struct aml_task_placement tp;
	struct aml_task_placement_in in = {
		.mode = site->placement, .getenv = job_env_get,
		.env_arg = &env,
	};
	hwloc_topology_t topo;
	hwloc_bitmap_t affinity = NULL;
	unsigned *ranks;
	uint32_t world = 0;
	int local = -1;
	char err[512];

	if (site->placement == AML_PLACEMENT_NONE &&
	    spank_get_item(sp, S_TASK_ID, &local) == ESPANK_SUCCESS &&
	    local != 0)
		return;
	if (spank_get_item(sp, S_TASK_ID, &local) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_LOCAL_TASK_COUNT, &world) !=
		    ESPANK_SUCCESS || local < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: Slurm did not say which task this is; it is not placed",
			    run_id);
		return;
	}
	in.local_rank = (unsigned)local;
	in.local_world = world;
	if (aml_topology_load(&topo, NULL, err, sizeof(err)) < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: %s; the task is not placed",
			    run_id, err);
		return;
	}
	in.topo = topo;
	if (!(affinity = hwloc_bitmap_alloc()) ||
	    hwloc_get_cpubind(topo, affinity, HWLOC_CPUBIND_PROCESS) < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: cannot read the task's CPU affinity; it is not placed",
			    run_id);
		goto out;
	}
	in.affinity = affinity;
	if (aml_task_placement(&in, &tp, err, sizeof(err)) < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: %s; the task is not placed",
			    run_id, err);
		goto out;
	}
	apply(sp, topo, &tp, run_id);
	if (local == 0) {
		if (tp.warning[0])
			fprintf(stderr, AML_LOG_PREFIX "placement on %s: %s\n",
				node, tp.warning);
		if (tp.place.note[0])
			fprintf(stderr, AML_LOG_PREFIX "placement on %s: %s\n",
				node, tp.place.note);
		ranks = global_ranks(sp, world);
		if (aml_placement_properties(topo, node, &tp, ranks, props) < 0)
			slurm_error(AML_LOG_PREFIX "run %s: out of memory describing the placement",
				    run_id);
		free(ranks);
	}
	aml_task_placement_free(&tp);
out:
	hwloc_bitmap_free(affinity);
	hwloc_topology_destroy(topo);
	job_env_free(&env);
}
