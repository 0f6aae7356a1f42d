/*
 * launch_place.c: see launch_place.h.
 */
#include <stdlib.h>
#include <string.h>

#include "launch_place.h"
#include "placement_node.h"

static const char *process_getenv(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

static void record(const struct launch_ctx *c, hwloc_topology_t topo,
		   const struct aml_task_placement *tp)
{
	struct aml_kvlist props = { 0 };
	char err[1024];

	if (aml_placement_properties(topo, c->node ? c->node : "localhost",
				     tp, NULL, &props) < 0) {
		launch_say("out of memory describing the placement");
	} else if (c->h && c->experiment &&
		   aml_history_add_properties(c->h, c->experiment, c->run_id,
					      &props, err, sizeof(err)) ==
			   AML_HISTORY_ERROR) {
		/* A requeued run placed on another node finds the first
		 * attempt's there, and properties never change. */
		launch_say("placement not recorded: %s", err);
	}
	aml_kvlist_free(&props);
}

void launch_place_single(const struct launch_ctx *c)
{
	struct aml_task_placement_in in = {
		.mode = c->site ? c->site->placement : AML_PLACEMENT_HWLOC,
		.getenv = process_getenv, .local_rank = 0, .local_world = 1,
	};
	struct aml_task_placement tp;
	hwloc_topology_t topo;
	hwloc_bitmap_t affinity;
	char err[512];

	if (aml_topology_load(&topo, NULL, err, sizeof(err)) < 0) {
		launch_say("%s; the command is not placed", err);
		return;
	}
	if (!(affinity = hwloc_bitmap_alloc()) ||
	    hwloc_get_cpubind(topo, affinity, HWLOC_CPUBIND_PROCESS) < 0) {
		launch_say("cannot read the launcher's CPU affinity; the command is not placed");
		goto out;
	}
	in.topo = topo;
	in.affinity = affinity;
	if (aml_task_placement(&in, &tp, err, sizeof(err)) < 0) {
		launch_say("%s; the command is not placed", err);
		goto out;
	}
	if (tp.warning[0])
		launch_say("placement: %s", tp.warning);
	if (tp.bind && !hwloc_bitmap_isequal(tp.bind, affinity) &&
	    hwloc_set_cpubind(topo, tp.bind, HWLOC_CPUBIND_PROCESS) < 0)
		launch_say("cannot bind to the job's CPUs; the command runs unbound");
	for (size_t i = 0; i < tp.env.count; i++) {
		char *eq = strchr(tp.env.items[i], '=');

		*eq = '\0';
		if (setenv(tp.env.items[i], eq + 1, 0) < 0)
			launch_say("cannot set %s", tp.env.items[i]);
		*eq = '=';
	}
	record(c, topo, &tp);
	aml_task_placement_free(&tp);
out:
	hwloc_bitmap_free(affinity);
	hwloc_topology_destroy(topo);
}
