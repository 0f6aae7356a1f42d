/*
 * placement_node.c: see placement_node.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "placement_node.h"
#include "text.h"

static int push_env(struct aml_task_placement *out, const char *name,
		    const char *value)
{
	char pair[256];

	snprintf(pair, sizeof(pair), "%s=%s", name, value);
	return aml_strlist_push(&out->env, pair);
}

/* The job's GPUs, and how many the task sees. */
static void read_gpus(const struct aml_task_placement_in *in,
		      struct aml_task_placement *out, size_t *visible)
{
	struct aml_gpu_list shown;
	const char *from, *cuda = in->getenv("CUDA_VISIBLE_DEVICES",
					     in->env_arg);
	char err[256];

	if (aml_gpu_list_from_env(in->getenv, in->env_arg, &out->gpus, &from,
				  err, sizeof(err)) < 0)
		snprintf(out->warning, sizeof(out->warning),
			 "the job's GPUs are left out of its placement: %s",
			 err);
	*visible = out->gpus.count;
	/* --gpu-bind gives each task fewer GPUs than the job has. */
	if (cuda && *cuda && from && strcmp(from, "CUDA_VISIBLE_DEVICES") &&
	    aml_gpu_list_parse("CUDA_VISIBLE_DEVICES", cuda, &shown, err,
			       sizeof(err)) == 0)
		*visible = shown.count;
}

int aml_task_placement(const struct aml_task_placement_in *in,
		       struct aml_task_placement *out, char *errbuf,
		       size_t errlen)
{
	struct aml_placement_facts f = { 0 };
	hwloc_const_cpuset_t job = hwloc_topology_get_allowed_cpuset(in->topo);
	char num[16];
	size_t visible;

	memset(out, 0, sizeof(*out));
	/* Read even for none: the record names the GPUs the run had. */
	read_gpus(in, out, &visible);
	if (in->mode == AML_PLACEMENT_NONE) {
		out->action = aml_placement_decide(in->mode, &f, out->why,
						   sizeof(out->why));
		return 0;
	}
	f.cpu_bind_type = in->getenv("SLURM_CPU_BIND_TYPE", in->env_arg);
	f.affinity_narrower = in->local_world > 1 &&
			      hwloc_bitmap_isincluded(in->affinity, job) &&
			      !hwloc_bitmap_isequal(in->affinity, job);
	f.job_gpus = out->gpus.count;
	f.visible_gpus = visible;
	out->action = aml_placement_decide(in->mode, &f, out->why,
					   sizeof(out->why));
	if (out->action == AML_PLACE_BIND) {
		struct aml_placement_input pi = {
			.topo = in->topo, .allowed = in->affinity,
			.gpus = &out->gpus, .n_ranks = in->local_world,
		};

		if (in->local_rank >= in->local_world)
			return aml_fail(errbuf, errlen,
					"local rank %u of %u tasks on the node",
					in->local_rank, in->local_world);
		if (aml_placement_compute(&pi, &out->place, errbuf, errlen) < 0)
			return -1;
		out->bind = hwloc_bitmap_dup(
			out->place.ranks[in->local_rank].cpuset);
		if (!out->bind)
			goto oom;
		out->threads_for_omp = out->place.ranks[in->local_rank].cores;
		if (out->gpus.count &&
		    !in->getenv("CUDA_DEVICE_ORDER", in->env_arg) &&
		    push_env(out, "CUDA_DEVICE_ORDER", "PCI_BUS_ID") < 0)
			goto oom;
	} else {
		hwloc_bitmap_t mine = hwloc_bitmap_alloc();
		hwloc_obj_t o = NULL;

		if (!mine)
			goto oom;
		hwloc_bitmap_and(mine, in->affinity, job);
		while ((o = hwloc_get_next_obj_by_type(in->topo,
						       HWLOC_OBJ_CORE, o)))
			out->threads_for_omp += o->cpuset &&
				hwloc_bitmap_intersects(o->cpuset, mine);
		if (!out->threads_for_omp)
			out->threads_for_omp =
				(unsigned)hwloc_bitmap_weight(mine);
		hwloc_bitmap_free(mine);
	}
	if (in->getenv("OMP_NUM_THREADS", in->env_arg)) {
		out->threads_for_omp = 0;
	} else if (out->threads_for_omp) {
		snprintf(num, sizeof(num), "%u", out->threads_for_omp);
		if (push_env(out, "OMP_NUM_THREADS", num) < 0)
			goto oom;
	}
	return 0;
oom:
	aml_task_placement_free(out);
	return aml_fail(errbuf, errlen, "out of memory");
}

void aml_task_placement_free(struct aml_task_placement *p)
{
	aml_placement_free(&p->place);
	hwloc_bitmap_free(p->bind);
	p->bind = NULL;
	aml_strlist_free(&p->env);
}

/* ---------------------------------------------------------------------- */
/* The record                                                              */

static int set_node_prop(struct aml_kvlist *out, const char *node,
			 const char *what, const char *value)
{
	char key[320];

	snprintf(key, sizeof(key), AML_PROP_NODE_PREFIX "%s.%s", node, what);
	return aml_kvlist_set(out, key, value);
}

static int cpu_prop(hwloc_topology_t topo, const char *node,
		    struct aml_kvlist *out)
{
	hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
	const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel")
				: NULL;
	char v[256];

	snprintf(v, sizeof(v), "%.120s: %d packages, %d cores, %d threads",
		 model ? model : "unknown model",
		 hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE),
		 hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE),
		 hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU));
	return set_node_prop(out, node, "cpu", v);
}

static void add_bytes(char *v, size_t len, unsigned long long bytes)
{
	size_t at = strlen(v);

	if (at < len)
		snprintf(v + at, len - at, "%.1f GiB",
			 (double)bytes / (1024.0 * 1024 * 1024));
}

static int numa_prop(hwloc_topology_t topo, const char *node,
		     struct aml_kvlist *out)
{
	int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	char v[512];
	size_t at;

	snprintf(v, sizeof(v), "%d node%s:", n, n == 1 ? "" : "s");
	/* The first 16 nodes: enough to tell one node type from another. */
	for (int i = 0; i < n && i < 16; i++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE,
						      (unsigned)i);

		at = strlen(v);
		snprintf(v + at, sizeof(v) - at, "%s %u ", i ? "," : "",
			 o->os_index);
		add_bytes(v, sizeof(v), (unsigned long long)
			  o->attr->numanode.local_memory);
	}
	if (n > 16) {
		at = strlen(v);
		snprintf(v + at, sizeof(v) - at, ", ...");
	}
	return set_node_prop(out, node, "numa", v);
}

static int gpus_prop(hwloc_topology_t topo, const char *node,
		     const struct aml_gpu_list *used, struct aml_kvlist *out)
{
	struct aml_topo_gpu *tg = NULL;
	size_t n_tg = 0, at = 0;
	char v[1024];
	int r;

	if (!used->count)
		return 0;
	if (aml_topo_gpus(topo, &tg, &n_tg) < 0)
		return -1;
	v[0] = '\0';
	for (size_t i = 0; i < used->count && i < AML_PLACEMENT_GPUS_MAX;
	     i++) {
		const struct aml_topo_gpu *g = NULL;

		for (size_t k = 0; k < n_tg; k++)
			if (tg[k].index == used->ids[i])
				g = &tg[k];
		at = strlen(v);
		snprintf(v + at, sizeof(v) - at, "%s%u %.50s%s%s", i ? ", " : "",
			 used->ids[i],
			 g ? (*g->model ? g->model : "unknown model")
			   : "not in the topology",
			 g && *g->busid ? " " : "", g ? g->busid : "");
	}
	if (used->count > AML_PLACEMENT_GPUS_MAX) {
		at = strlen(v);
		snprintf(v + at, sizeof(v) - at, ", ... (%zu in all)",
			 used->count);
	}
	free(tg);
	r = set_node_prop(out, node, "gpus", v);
	return r;
}

int aml_placement_properties(hwloc_topology_t topo, const char *node,
			     const struct aml_task_placement *tp,
			     const unsigned *global_ranks,
			     struct aml_kvlist *out)
{
	char key[320], v[256], cpus[128], gpu[16];

	if (cpu_prop(topo, node, out) < 0 || numa_prop(topo, node, out) < 0 ||
	    gpus_prop(topo, node, &tp->gpus, out) < 0)
		return -1;
	if (tp->action != AML_PLACE_BIND) {
		snprintf(key, sizeof(key), AML_PROP_PLACEMENT_PREFIX "%s",
			 node);
		snprintf(v, sizeof(v), "%s: %s",
			 tp->action == AML_PLACE_LEAVE ? "none" : "slurm",
			 tp->why);
		return aml_kvlist_set(out, key, v);
	}
	for (size_t k = 0; k < tp->place.n_ranks &&
			   k < AML_PLACEMENT_RECORD_MAX; k++) {
		const struct aml_rank_place *rp = &tp->place.ranks[k];

		snprintf(key, sizeof(key), AML_PROP_PLACEMENT_PREFIX "%u",
			 global_ranks ? global_ranks[k] : (unsigned)k);
		aml_cpuset_text(rp->cpuset, cpus, sizeof(cpus));
		if (rp->gpu >= 0)
			snprintf(gpu, sizeof(gpu), "%d", rp->gpu);
		else
			snprintf(gpu, sizeof(gpu), "-");
		snprintf(v, sizeof(v), "%.64s local %zu cpus %s cores %u gpu %s%s",
			 node, k, cpus, rp->cores, gpu,
			 tp->place.unit == AML_PLACE_SHARED ? " shared" : "");
		if (aml_kvlist_set(out, key, v) < 0)
			return -1;
	}
	if (tp->place.note[0]) {
		snprintf(key, sizeof(key), AML_PROP_NODE_PREFIX "%s.placement_note",
			 node);
		if (aml_kvlist_set(out, key, tp->place.note) < 0)
			return -1;
	}
	return 0;
}

int aml_placement_row_parse(const char *key, const char *value,
			    struct aml_placement_row *row)
{
	size_t plen = strlen(AML_PROP_PLACEMENT_PREFIX);
	unsigned long rank;
	char gpu[16], extra[16];
	int n;

	memset(row, 0, sizeof(*row));
	if (strncmp(key, AML_PROP_PLACEMENT_PREFIX, plen) != 0 ||
	    aml_parse_decimal(key + plen, AML_PLACEMENT_MAX_RANKS * 1024ul,
			      &rank) < 0)
		return -1;
	row->rank = (unsigned)rank;
	extra[0] = '\0';
	n = sscanf(value, "%64s local %u cpus %127s cores %u gpu %15s %15s",
		   row->node, &row->local, row->cpus, &row->cores, gpu, extra);
	if (n < 5 || (n == 6 && strcmp(extra, "shared")))
		return -1;
	row->shared = n == 6;
	if (!strcmp(gpu, "-")) {
		row->gpu = -1;
	} else {
		unsigned long g;

		if (aml_parse_decimal(gpu, AML_GPU_INDEX_MAX, &g) < 0)
			return -1;
		row->gpu = (int)g;
	}
	return 0;
}
