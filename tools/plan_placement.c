/*
 * plan_placement.c: see plan_placement.h.
 */
#include <stdio.h>
#include <string.h>

#include "conf_values.h"
#include "placement_node.h"
#include "plan_placement.h"
#include "text.h"
#include "tools.h"

/* The node's hardware lines, as a run would record them. */
static void print_hardware(hwloc_topology_t topo,
			   const struct aml_task_placement *tp)
{
	struct aml_kvlist props = { 0 };
	static const char *const what[] = { "cpu", "numa", "gpus" };
	static const char *const label[] = { "cpus:  ", "memory:", "gpus:  " };

	if (aml_placement_properties(topo, "node", tp, NULL, &props) < 0)
		return;
	for (size_t i = 0; i < 3; i++) {
		char key[64];
		const char *v;

		snprintf(key, sizeof(key), AML_PROP_NODE_PREFIX "node.%s",
			 what[i]);
		if ((v = aml_kvlist_get(&props, key)))
			tool_printf(stdout, "  %s  %s\n", label[i], v);
	}
	aml_kvlist_free(&props);
}

int plan_print_placement(const char *xml, const struct aml_plan *plan,
			 const struct aml_site *site)
{
	struct aml_task_placement tp = { 0 };
	struct aml_gpu_list gpus = { .count = 0 };
	struct aml_placement_input in;
	hwloc_topology_t topo;
	uint64_t want = aml_conf_gres_gpus(plan->gres);
	unsigned ranks = plan->ntasks_per_node
				 ? plan->ntasks_per_node
				 : (plan->num_tasks + plan->min_nodes - 1) /
					   plan->min_nodes;
	struct aml_topo_gpu *tg = NULL;
	size_t n_tg = 0;
	char err[1024];

	if (aml_topology_load(&topo, xml, err, sizeof(err)) < 0) {
		fprintf(stderr, "aml-run plan: --node-topology: %s\n", err);
		return -1;
	}
	if (aml_topo_gpus(topo, &tg, &n_tg) < 0) {
		fprintf(stderr, "aml-run plan: out of memory\n");
		hwloc_topology_destroy(topo);
		return -1;
	}
	/* A whole-node job gets the first GPUs of the node, in order. */
	for (size_t i = 0; i < n_tg && gpus.count < want &&
			   gpus.count < AML_GPU_LIST_MAX; i++)
		gpus.ids[gpus.count++] = tg[i].index;
	tool_printf(stdout, "placement on a node of %s (Placement=%s):\n", xml,
		    aml_placement_mode_name(site->placement));
	tp.gpus = gpus;
	print_hardware(topo, &tp);
	if (want > n_tg)
		tool_printf(stdout, "  warning: the gres asks for %llu GPUs per node, the node has %zu\n",
			    (unsigned long long)want, n_tg);
	if (site->placement != AML_PLACEMENT_HWLOC) {
		tool_printf(stdout, "  %s\n", site->placement == AML_PLACEMENT_NONE
			    ? "nothing is placed: each process keeps the affinity Slurm gives it"
			    : "Slurm's binding is kept; OMP_NUM_THREADS is the cores of each process's affinity");
		goto out;
	}
	in = (struct aml_placement_input){
		.topo = topo, .allowed = hwloc_topology_get_allowed_cpuset(topo),
		.gpus = &gpus, .n_ranks = ranks,
	};
	if (aml_placement_compute(&in, &tp.place, err, sizeof(err)) < 0) {
		fprintf(stderr, "aml-run plan: --node-topology: %s\n", err);
		goto out;
	}
	tool_printf(stdout, "  %u process%s per node, given all %u cores; unless Slurm binds them itself:\n",
		    ranks, ranks == 1 ? "" : "es", tp.place.cores);
	tool_printf(stdout, "  %-10s %-5s %-4s %s\n", "LOCAL_RANK", "CORES",
		    "GPU", "CPUS");
	for (size_t r = 0; r < tp.place.n_ranks; r++) {
		const struct aml_rank_place *rp = &tp.place.ranks[r];
		char cpus[128], gpu[16];

		aml_cpuset_text(rp->cpuset, cpus, sizeof(cpus));
		snprintf(gpu, sizeof(gpu), "%d", rp->gpu);
		tool_printf(stdout, "  %-10zu %-5u %-4s %s%s\n", r, rp->cores,
			    rp->gpu < 0 ? "-" : gpu, cpus,
			    rp->gpu >= 0 && !rp->gpu_near
				    ? " (not near its GPU)" : "");
	}
	if (tp.place.note[0])
		tool_printf(stdout, "  note: %s\n", tp.place.note);
out:
	aml_placement_free(&tp.place);
	free(tg);
	hwloc_topology_destroy(topo);
	return 0;
}
