/*
 * placement.h: which cores and which GPU each local rank of a run gets on
 * a node, from the node's hwloc topology.
 *
 * Given the topology, the cpuset the job may use (its affinity: never
 * more), the GPUs Slurm gave it (gpu_list.h, the node's indices in
 * Slurm's order) and the number of ranks on the node:
 *   - rank k gets the job's k-th GPU (PyTorch DDP's cuda:LOCAL_RANK, with
 *     CUDA_VISIBLE_DEVICES left in Slurm's order); ranks past the last
 *     GPU get none;
 *   - every rank gets a disjoint, non-empty set of whole cores, the
 *     cores split as evenly as they go (counts differ by at most one),
 *     taken first from the cores nearest its GPU (the NUMA node the GPU's
 *     PCI bridge hangs off), then from that GPU's package, then anywhere;
 *     a rank without a GPU is homed where its even share of the cores
 *     starts, so ranks spread over the packages instead of piling on
 *     the first;
 *   - more ranks than cores: hardware threads are split instead; more
 *     ranks than hardware threads: ranks share threads, round robin, and
 *     the placement says so.
 * The answer depends on nothing but the input (stable): every task of a
 * node computes the node's whole placement and takes its own rank's.
 * Nothing here knows Slurm.
 */
#ifndef AML_PLACEMENT_H
#define AML_PLACEMENT_H

#include <stddef.h>

#include <hwloc.h>

#include "gpu_list.h"
#include "placement_mode.h"

/*
 * A topology to place on: the XML file [xml] (an `lstopo --of xml`
 * export), or this machine's when NULL.  PCI devices and GPUs are kept
 * (hwloc drops them by default).  Returns 0, or -1 with one sentence.
 */
int aml_topology_load(hwloc_topology_t *topo, const char *xml, char *errbuf,
		      size_t errlen);

/* A GPU of the topology. */
struct aml_topo_gpu {
	unsigned index;        /* nvmlN, cudaN or rsmiN's N */
	char busid[16];        /* "0000:3b:00.0"; "" when not seen on PCI */
	char model[96];        /* "" when hwloc does not say */
	hwloc_obj_t near;      /* the first non-I/O object above it: the
				* cores nearest it */
};

/*
 * The topology's GPUs, index order, into a malloc'd [*gpus] of [*n]
 * (NULL and 0 when it has none).  One GPU is named by every backend hwloc
 * has (nvml, cuda, rsmi): NVML's numbering is preferred, since it is the
 * node's own order, the one Slurm's AutoDetect uses.  -1 when memory runs
 * out.
 */
int aml_topo_gpus(hwloc_topology_t topo, struct aml_topo_gpu **gpus,
		  size_t *n);

struct aml_rank_place {
	int gpu;               /* the job's GPU (node index); -1: none */
	int gpu_near;          /* the cores are near that GPU (the topology
				* knows it) */
	hwloc_bitmap_t cpuset; /* never empty */
	unsigned cores;        /* cores it touches: its OMP_NUM_THREADS */
	unsigned threads;      /* hardware threads in it */
};

enum aml_place_unit {
	AML_PLACE_CORES,       /* whole cores per rank */
	AML_PLACE_THREADS,     /* more ranks than cores */
	AML_PLACE_SHARED,      /* more ranks than threads: shared */
};

struct aml_placement {
	size_t n_ranks;
	struct aml_rank_place *ranks;
	enum aml_place_unit unit;
	unsigned cores;        /* the job's cores on the node */
	unsigned threads;      /* and hardware threads */
	char note[256];        /* what the placement had to give up; "" */
};

struct aml_placement_input {
	hwloc_topology_t topo;
	hwloc_const_cpuset_t allowed;   /* the job's affinity */
	const struct aml_gpu_list *gpus; /* may be NULL: none */
	unsigned n_ranks;               /* 1 to AML_PLACEMENT_MAX_RANKS */
};

#define AML_PLACEMENT_MAX_RANKS 4096

/*
 * Place [in]'s ranks into [out] (free with aml_placement_free).
 * Returns 0, or -1 with one sentence: no rank, too many, an allowed
 * cpuset with no hardware thread of the topology in it, out of memory.
 */
int aml_placement_compute(const struct aml_placement_input *in,
			  struct aml_placement *out, char *errbuf,
			  size_t errlen);

void aml_placement_free(struct aml_placement *p);

/*
 * What a task does about its placement.  Where Slurm's task/affinity
 * already bound the task (srun --cpu-bind, or a site default that binds),
 * or its --gpu-bind gave each task its own GPUs, hwloc placement would
 * fight it: the task keeps Slurm's binding and only gets OMP_NUM_THREADS.
 */
enum aml_placement_action {
	AML_PLACE_BIND,        /* bind to our placement */
	AML_PLACE_KEEP_SLURM,  /* keep the task's binding, set the threads */
	AML_PLACE_LEAVE,       /* touch nothing */
};

struct aml_placement_facts {
	const char *cpu_bind_type;  /* SLURM_CPU_BIND_TYPE; NULL: unset */
	int affinity_narrower;      /* the task's affinity is a strict part
				     * of the cpuset the job may use */
	size_t job_gpus;            /* GPUs Slurm gave the job */
	size_t visible_gpus;        /* in the task's CUDA_VISIBLE_DEVICES;
				     * as job_gpus when unset */
};

/* The action for [mode] given [f]; [why] (may be NULL) gets a phrase
 * for the log ("Slurm bound the task (SLURM_CPU_BIND_TYPE=cores)"). */
enum aml_placement_action aml_placement_decide(enum aml_placement_mode mode,
					       const struct aml_placement_facts *f,
					       char *why, size_t whylen);

/* [set] as a list ("0-3,8"), cut with "..." to fit [len]. */
void aml_cpuset_text(hwloc_const_bitmap_t set, char *buf, size_t len);

#endif
