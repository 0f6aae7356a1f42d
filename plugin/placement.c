/*
 * placement.c: see placement.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "placement.h"
#include "text.h"

const char *aml_placement_mode_name(enum aml_placement_mode m)
{
	switch (m) {
	case AML_PLACEMENT_HWLOC:
		return "hwloc";
	case AML_PLACEMENT_SLURM:
		return "slurm";
	case AML_PLACEMENT_NONE:
		return "none";
	}
	return "unknown";
}

int aml_placement_mode_parse(const char *s, enum aml_placement_mode *out)
{
	for (int m = AML_PLACEMENT_HWLOC; m <= AML_PLACEMENT_NONE; m++)
		if (aml_ascii_ieq(s, aml_placement_mode_name(
					     (enum aml_placement_mode)m))) {
			*out = (enum aml_placement_mode)m;
			return 0;
		}
	return -1;
}

int aml_topology_load(hwloc_topology_t *topo, const char *xml, char *errbuf,
		      size_t errlen)
{
	if (hwloc_topology_init(topo) < 0)
		return aml_fail(errbuf, errlen, "hwloc: %s", strerror(errno));
	/* GPUs are I/O objects, which hwloc leaves out unless asked; the
	 * filter applies to an XML import too. */
	hwloc_topology_set_io_types_filter(*topo,
					   HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
	/* hwloc's CUDA and OpenCL components start those runtimes, which
	 * takes seconds and a context on a GPU, in every task of every run;
	 * NVML names the same GPUs without either. */
	hwloc_topology_set_components(*topo,
				      HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST,
				      "cuda");
	hwloc_topology_set_components(*topo,
				      HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST,
				      "opencl");
	if (xml && hwloc_topology_set_xml(*topo, xml) < 0) {
		int e = errno;

		hwloc_topology_destroy(*topo);
		return aml_fail(errbuf, errlen,
				"%s: not an hwloc XML topology (lstopo --of xml): %s",
				xml, strerror(e));
	}
	if (hwloc_topology_load(*topo) < 0) {
		int e = errno;

		hwloc_topology_destroy(*topo);
		return aml_fail(errbuf, errlen, "%s: hwloc cannot load it: %s",
				xml ? xml : "this node's topology",
				strerror(e));
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* GPUs                                                                    */

/* The backends that number GPUs, the preferred first. */
static const char *const gpu_backends[] = { "nvml", "cuda", "rsmi" };
#define N_BACKENDS (sizeof(gpu_backends) / sizeof(gpu_backends[0]))

/* [name] as backend [b]'s "<b><N>"; its N, or -1. */
static long backend_index(const char *name, const char *b)
{
	size_t n = strlen(b);
	unsigned long v;

	if (!name || strncmp(name, b, n) != 0 ||
	    aml_parse_decimal(name + n, AML_GPU_INDEX_MAX, &v) < 0)
		return -1;
	return (long)v;
}

static int by_index(const void *a, const void *b)
{
	const struct aml_topo_gpu *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static void describe_gpu(hwloc_topology_t topo, hwloc_obj_t os,
			 struct aml_topo_gpu *g)
{
	hwloc_obj_t pci = os->parent;
	const char *model = hwloc_obj_get_info_by_name(os, "GPUModel");

	while (pci && pci->type != HWLOC_OBJ_PCI_DEVICE)
		pci = pci->parent;
	g->busid[0] = '\0';
	if (pci)
		snprintf(g->busid, sizeof(g->busid), "%04x:%02x:%02x.%01x",
			 pci->attr->pcidev.domain, pci->attr->pcidev.bus,
			 pci->attr->pcidev.dev, pci->attr->pcidev.func);
	if (!model && pci)
		model = hwloc_obj_get_info_by_name(pci, "PCIDevice");
	snprintf(g->model, sizeof(g->model), "%s", model ? model : "");
	g->near = hwloc_get_non_io_ancestor_obj(topo, os);
}

int aml_topo_gpus(hwloc_topology_t topo, struct aml_topo_gpu **gpus,
		  size_t *n)
{
	*gpus = NULL;
	*n = 0;
	for (size_t b = 0; b < N_BACKENDS && !*n; b++) {
		hwloc_obj_t os = NULL;

		while ((os = hwloc_get_next_osdev(topo, os))) {
			long idx = backend_index(os->name, gpu_backends[b]);
			struct aml_topo_gpu *grown;

			if (idx < 0)
				continue;
			grown = realloc(*gpus, (*n + 1) * sizeof(*grown));
			if (!grown) {
				free(*gpus);
				*gpus = NULL;
				*n = 0;
				return -1;
			}
			*gpus = grown;
			grown[*n].index = (unsigned)idx;
			describe_gpu(topo, os, &grown[*n]);
			(*n)++;
		}
	}
	if (*n)
		qsort(*gpus, *n, sizeof(**gpus), by_index);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The placement                                                           */

/* What the ranks are given out in: cores, or hardware threads. */
struct unit {
	hwloc_bitmap_t set;    /* its part of the allowed cpuset */
	int owner;             /* rank, -1 while free */
};

/* Where a rank would rather be: [0] the cores nearest its GPU (or its
 * home NUMA node), [1] that package; NULL where unknown. */
struct want {
	hwloc_const_cpuset_t dom[2];
	unsigned need;
};

struct work {
	hwloc_topology_t topo;
	struct unit *units;
	size_t n_units;
	struct want *wants;
	size_t n_ranks;
};

static void free_units(struct unit *u, size_t n)
{
	for (size_t i = 0; u && i < n; i++)
		hwloc_bitmap_free(u[i].set);
	free(u);
}

/* Every object of [type] with some of [allowed], in topology order. */
static int collect_units(hwloc_topology_t topo, hwloc_obj_type_t type,
			 hwloc_const_cpuset_t allowed, struct unit **out,
			 size_t *n)
{
	int total = hwloc_get_nbobjs_by_type(topo, type);
	struct unit *u = calloc(total > 0 ? (size_t)total : 1, sizeof(*u));

	*out = NULL;
	*n = 0;
	if (!u)
		return -1;
	for (int i = 0; i < total; i++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(topo, type, (unsigned)i);

		if (!o->cpuset || !hwloc_bitmap_intersects(o->cpuset, allowed))
			continue;
		u[*n].set = hwloc_bitmap_alloc();
		u[*n].owner = -1;
		if (!u[*n].set) {
			free_units(u, *n);
			*n = 0;
			return -1;
		}
		hwloc_bitmap_and(u[*n].set, o->cpuset, allowed);
		(*n)++;
	}
	*out = u;
	return 0;
}

/* The NUMA node of [set]: the smallest object with memory above its
 * first thread, as hwloc 2 hangs NUMA nodes beside the cores. */
static hwloc_obj_t numa_of(hwloc_topology_t topo, hwloc_const_cpuset_t set)
{
	hwloc_obj_t o = hwloc_get_pu_obj_by_os_index(
		topo, (unsigned)hwloc_bitmap_first(set));

	while (o && !o->memory_arity)
		o = o->parent;
	return o;
}

static hwloc_const_cpuset_t package_cpuset(hwloc_topology_t topo,
					   hwloc_obj_t o)
{
	hwloc_obj_t p = o && o->type == HWLOC_OBJ_PACKAGE
				? o
				: hwloc_get_ancestor_obj_by_type(
					  topo, HWLOC_OBJ_PACKAGE, o);

	return p ? p->cpuset : NULL;
}

static int same_dom(hwloc_const_cpuset_t a, hwloc_const_cpuset_t b)
{
	return a && b && hwloc_bitmap_isequal(a, b);
}

/* Give rank [r] up to [take] free units inside [dom] (NULL: anywhere),
 * first in topology order. */
static unsigned give(struct work *w, size_t r, hwloc_const_cpuset_t dom,
		     unsigned take)
{
	unsigned given = 0;

	for (size_t i = 0; i < w->n_units && given < take; i++)
		if (w->units[i].owner < 0 &&
		    (!dom || hwloc_bitmap_isincluded(w->units[i].set, dom))) {
			w->units[i].owner = (int)r;
			given++;
		}
	return given;
}

static unsigned free_in(const struct work *w, hwloc_const_cpuset_t dom)
{
	unsigned n = 0;

	for (size_t i = 0; i < w->n_units; i++)
		n += w->units[i].owner < 0 &&
		     hwloc_bitmap_isincluded(w->units[i].set, dom);
	return n;
}

/*
 * Near domains first: at each level, the ranks that would rather be in
 * one domain split its free units fairly (rounded up for the earlier
 * ranks), so the first of them cannot take what the others need.
 * Whatever is still needed is then taken anywhere, in rank order.
 */
static void assign(struct work *w)
{
	for (int tier = 0; tier < 2; tier++)
		for (size_t r = 0; r < w->n_ranks; r++) {
			hwloc_const_cpuset_t d = w->wants[r].dom[tier];
			unsigned k = 0, avail, fair;

			if (!d || !w->wants[r].need)
				continue;
			for (size_t s = r; s < w->n_ranks; s++)
				k += w->wants[s].need &&
				     same_dom(w->wants[s].dom[tier], d);
			avail = free_in(w, d);
			fair = (avail + k - 1) / k;
			w->wants[r].need -= give(w, r, d,
						 fair < w->wants[r].need
							 ? fair
							 : w->wants[r].need);
		}
	for (size_t r = 0; r < w->n_ranks; r++)
		w->wants[r].need -= give(w, r, NULL, w->wants[r].need);
}

/* A NUMA node and the units still unclaimed in it. */
struct home {
	hwloc_obj_t numa;
	long room;
};

/* [numa]'s entry in [h], or NULL. */
static struct home *home_of(struct home *h, size_t n, hwloc_obj_t numa)
{
	for (size_t i = 0; numa && i < n; i++)
		if (h[i].numa == numa)
			return &h[i];
	return NULL;
}

/*
 * Where each rank would rather be, and how many units it gets.  A rank
 * with a GPU wants the cores near it.  The others are homed first-fit:
 * the first NUMA node (topology order) with room for the rank's share
 * once the GPU ranks' shares are counted, else the one with the most
 * room; so ranks without GPUs fill the nodes in order, in blocks,
 * around those with GPUs.
 */
static int set_wants(struct work *w, const struct aml_placement *p,
		     const struct aml_topo_gpu *tg, size_t n_tg)
{
	size_t n = w->n_units, r_count = w->n_ranks, n_homes = 0;
	int n_numa = hwloc_get_nbobjs_by_type(w->topo, HWLOC_OBJ_NUMANODE);
	struct home *homes = calloc(n_numa > 0 ? (size_t)n_numa : 1,
				    sizeof(*homes));

	if (!homes)
		return -1;
	for (size_t u = 0; u < n; u++) {
		hwloc_obj_t numa = numa_of(w->topo, w->units[u].set);
		struct home *h = home_of(homes, n_homes, numa);

		if (!h && numa && n_homes < (size_t)n_numa) {
			h = &homes[n_homes++];
			h->numa = numa;
		}
		if (h)
			h->room++;
	}
	for (size_t r = 0; r < r_count; r++) {
		struct want *x = &w->wants[r];
		struct home *h;
		hwloc_obj_t near = NULL;

		x->need = (unsigned)(n / r_count + (r < n % r_count));
		for (size_t g = 0; p->ranks[r].gpu >= 0 && g < n_tg; g++)
			if (tg[g].index == (unsigned)p->ranks[r].gpu)
				near = tg[g].near;
		if (!near || !near->cpuset)
			continue;
		x->dom[0] = near->cpuset;
		x->dom[1] = package_cpuset(w->topo, near);
		if (!free_in(w, x->dom[1] ? x->dom[1] : x->dom[0])) {
			/* None of the job's cores is near its GPU: homed as
			 * a rank without one. */
			x->dom[0] = x->dom[1] = NULL;
			continue;
		}
		p->ranks[r].gpu_near = 1;
		h = home_of(homes, n_homes, numa_of(w->topo, near->cpuset));
		if (h)
			h->room -= x->need;
	}
	for (size_t r = 0; r < r_count; r++) {
		struct want *x = &w->wants[r];
		struct home *best = NULL;
		int first_fit;

		if (p->ranks[r].gpu_near)
			continue;
		for (size_t i = 0; i < n_homes && !best; i++)
			if (homes[i].room >= (long)x->need)
				best = &homes[i];
		first_fit = best != NULL;
		for (size_t i = 0; i < n_homes && !first_fit; i++)
			if (!best || homes[i].room > best->room)
				best = &homes[i];
		if (!best)
			continue;
		best->room -= x->need;
		x->dom[0] = best->numa->cpuset;
		x->dom[1] = package_cpuset(w->topo, best->numa);
	}
	free(homes);
	return 0;
}

/* Cores [set] touches: a core only partly in it counts, the rank runs
 * on it. */
static unsigned cores_in(hwloc_topology_t topo, hwloc_const_cpuset_t set)
{
	hwloc_obj_t o = NULL;
	unsigned c = 0;

	while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
		c += o->cpuset && hwloc_bitmap_intersects(o->cpuset, set);
	/* A topology without cores: each thread is one. */
	return c ? c : (unsigned)hwloc_bitmap_weight(set);
}

static int fill_sets(struct work *w, struct aml_placement *p)
{
	for (size_t r = 0; r < p->n_ranks; r++) {
		struct aml_rank_place *rp = &p->ranks[r];

		if (!(rp->cpuset = hwloc_bitmap_alloc()))
			return -1;
		if (p->unit == AML_PLACE_SHARED) {
			hwloc_bitmap_copy(rp->cpuset,
					  w->units[r % w->n_units].set);
		} else {
			for (size_t i = 0; i < w->n_units; i++)
				if (w->units[i].owner == (int)r)
					hwloc_bitmap_or(rp->cpuset, rp->cpuset,
							w->units[i].set);
		}
		rp->threads = (unsigned)hwloc_bitmap_weight(rp->cpuset);
		rp->cores = cores_in(w->topo, rp->cpuset);
	}
	return 0;
}

static void note_gpus(struct aml_placement *p, const struct aml_gpu_list *g,
		      size_t n_tg)
{
	size_t len = strlen(p->note), far = 0, with = 0;

	for (size_t r = 0; r < p->n_ranks; r++) {
		with += p->ranks[r].gpu >= 0;
		far += p->ranks[r].gpu >= 0 && !p->ranks[r].gpu_near;
	}
	if (g && g->count + 1 == p->n_ranks)
		len += (size_t)snprintf(p->note + len, sizeof(p->note) - len,
				       "%s%zu ranks, %zu GPUs: rank %zu gets no GPU",
				       len ? "; " : "", p->n_ranks, g->count,
				       g->count);
	else if (g && g->count && p->n_ranks > g->count)
		len += (size_t)snprintf(p->note + len, sizeof(p->note) - len,
				       "%s%zu ranks, %zu GPUs: ranks %zu-%zu get no GPU",
				       len ? "; " : "", p->n_ranks, g->count,
				       g->count, p->n_ranks - 1);
	if (far && len < sizeof(p->note))
		snprintf(p->note + len, sizeof(p->note) - len,
			 "%s%zu of %zu ranks' GPUs are %s: their cores are taken where there is room",
			 len ? "; " : "", far, with,
			 n_tg ? "not in the topology, or have none of the job's cores near them"
			      : "not in the topology (it shows no GPU)");
}

int aml_placement_compute(const struct aml_placement_input *in,
			  struct aml_placement *p, char *errbuf, size_t errlen)
{
	struct work w = { .topo = in->topo };
	hwloc_bitmap_t allowed = NULL;
	struct aml_topo_gpu *tg = NULL;
	size_t n_tg = 0, n_cores = 0;
	int r = -1;

	memset(p, 0, sizeof(*p));
	if (in->n_ranks < 1 || in->n_ranks > AML_PLACEMENT_MAX_RANKS)
		return aml_fail(errbuf, errlen,
				"%u ranks on a node: must be from 1 to %d",
				in->n_ranks, AML_PLACEMENT_MAX_RANKS);
	if (!(allowed = hwloc_bitmap_dup(
		      hwloc_topology_get_allowed_cpuset(in->topo))))
		goto oom;
	hwloc_bitmap_and(allowed, allowed, in->allowed);
	if (hwloc_bitmap_iszero(allowed)) {
		char text[128];

		aml_cpuset_text(in->allowed, text, sizeof(text));
		hwloc_bitmap_free(allowed);
		return aml_fail(errbuf, errlen,
				"the job's CPUs (%s) are none of the node's",
				text);
	}
	p->n_ranks = in->n_ranks;
	if (!(p->ranks = calloc(p->n_ranks, sizeof(*p->ranks))) ||
	    !(w.wants = calloc(p->n_ranks, sizeof(*w.wants))) ||
	    aml_topo_gpus(in->topo, &tg, &n_tg) < 0 ||
	    collect_units(in->topo, HWLOC_OBJ_CORE, allowed, &w.units,
			  &w.n_units) < 0)
		goto oom;
	w.n_ranks = p->n_ranks;
	n_cores = w.n_units;
	p->unit = AML_PLACE_CORES;
	p->threads = (unsigned)hwloc_bitmap_weight(allowed);
	if (w.n_units < p->n_ranks) {
		/* Fewer cores than ranks (or a topology without cores):
		 * threads instead. */
		free_units(w.units, w.n_units);
		if (collect_units(in->topo, HWLOC_OBJ_PU, allowed, &w.units,
				  &w.n_units) < 0)
			goto oom;
		if (!n_cores)
			n_cores = w.n_units;
		p->unit = w.n_units < p->n_ranks ? AML_PLACE_SHARED
						 : AML_PLACE_THREADS;
	}
	p->cores = (unsigned)n_cores;
	for (size_t k = 0; k < p->n_ranks; k++)
		p->ranks[k].gpu = in->gpus && k < in->gpus->count
					  ? (int)in->gpus->ids[k] : -1;
	if (p->unit == AML_PLACE_SHARED) {
		snprintf(p->note, sizeof(p->note),
			 "%zu ranks share %u hardware threads", p->n_ranks,
			 p->threads);
	} else {
		if (set_wants(&w, p, tg, n_tg) < 0)
			goto oom;
		assign(&w);
		if (p->unit == AML_PLACE_THREADS)
			snprintf(p->note, sizeof(p->note),
				 "%zu ranks on %u cores: each gets hardware threads, not whole cores",
				 p->n_ranks, p->cores);
	}
	if (fill_sets(&w, p) < 0)
		goto oom;
	note_gpus(p, in->gpus, n_tg);
	r = 0;
	goto out;
oom:
	aml_fail(errbuf, errlen, "out of memory");
out:
	if (r < 0)
		aml_placement_free(p);
	free_units(w.units, w.n_units);
	free(w.wants);
	free(tg);
	hwloc_bitmap_free(allowed);
	return r;
}

void aml_placement_free(struct aml_placement *p)
{
	for (size_t i = 0; p->ranks && i < p->n_ranks; i++)
		hwloc_bitmap_free(p->ranks[i].cpuset);
	free(p->ranks);
	memset(p, 0, sizeof(*p));
}

enum aml_placement_action aml_placement_decide(enum aml_placement_mode mode,
					       const struct aml_placement_facts *f,
					       char *why, size_t whylen)
{
	const char *t = f->cpu_bind_type;
	char dummy[1];

	if (!why) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	why[0] = '\0';
	if (mode == AML_PLACEMENT_NONE) {
		snprintf(why, whylen, "Placement=none");
		return AML_PLACE_LEAVE;
	}
	if (mode == AML_PLACEMENT_SLURM) {
		snprintf(why, whylen, "Placement=slurm");
		return AML_PLACE_KEEP_SLURM;
	}
	/* srun writes "none" (or nothing) when it binds nothing; anything
	 * else (cores, mask_cpu:..., map_ldom:...) is a binding. */
	if (t && *t && strncmp(t, "none", 4) != 0 &&
	    strncmp(t, "verbose,none", 12) != 0) {
		snprintf(why, whylen, "Slurm bound the task (SLURM_CPU_BIND_TYPE=%.60s)",
			 t);
		return AML_PLACE_KEEP_SLURM;
	}
	if (f->affinity_narrower) {
		snprintf(why, whylen,
			 "Slurm bound the task (its affinity is narrower than the job's CPUs)");
		return AML_PLACE_KEEP_SLURM;
	}
	if (f->visible_gpus < f->job_gpus) {
		snprintf(why, whylen,
			 "Slurm bound the task's GPUs (%zu of the job's %zu visible)",
			 f->visible_gpus, f->job_gpus);
		return AML_PLACE_KEEP_SLURM;
	}
	return AML_PLACE_BIND;
}

void aml_cpuset_text(hwloc_const_bitmap_t set, char *buf, size_t len)
{
	int n = hwloc_bitmap_list_snprintf(buf, len, set);

	if (n >= 0 && (size_t)n >= len && len > 4) {
		/* Cut at the last whole item. */
		char *comma;

		buf[len - 4] = '\0';
		comma = strrchr(buf, ',');
		strcpy(comma ? comma + 1 : buf, "...");
	}
}
