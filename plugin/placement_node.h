/*
 * placement_node.h: what one task of a run does about its placement
 * (placement.h), and how a node's hardware and placement are recorded,
 * for the node side of the SPANK plugin (each task of the run's steps)
 * and aml-launch (the one process it runs itself).  Nothing here knows
 * Slurm's API: the task's environment comes through a getenv.
 *
 * The task:
 *   - Placement=none: nothing;
 *   - Slurm bound it (placement.h's aml_placement_decide) or
 *     Placement=slurm: its binding is kept; OMP_NUM_THREADS is the
 *     cores of its affinity;
 *   - otherwise: the node's placement is computed from the task's
 *     affinity (the job's CPUs: never more) and the job's GPUs
 *     (gpu_list.h), the task is bound to its rank's cores, and
 *     OMP_NUM_THREADS is their count.  CUDA_VISIBLE_DEVICES is left in
 *     Slurm's order, which puts rank k's GPU at cuda:k (cuda:LOCAL_RANK,
 *     as PyTorch DDP and torchrun expect), and CUDA_DEVICE_ORDER is
 *     PCI_BUS_ID unless set, so CUDA numbers the GPUs as Slurm and NVML
 *     do.
 * OMP_NUM_THREADS and CUDA_DEVICE_ORDER are never changed when set: the
 * run's environment_variables, the catalogue's Env= and the submitting
 * shell's own reach the task first.
 */
#ifndef AML_PLACEMENT_NODE_H
#define AML_PLACEMENT_NODE_H

#include <stddef.h>

#include "kvlist.h"
#include "placement.h"
#include "strlist.h"

typedef const char *(*aml_getenv_fn)(const char *name, void *arg);

struct aml_task_placement_in {
	enum aml_placement_mode mode;
	hwloc_topology_t topo;
	hwloc_const_cpuset_t affinity;  /* the task's, now */
	aml_getenv_fn getenv;           /* the task's environment */
	void *env_arg;
	unsigned local_rank;
	unsigned local_world;
};

struct aml_task_placement {
	enum aml_placement_action action;
	char why[160];                 /* why not BIND; "" */
	struct aml_gpu_list gpus;      /* the job's, as Slurm listed them */
	struct aml_placement place;    /* BIND: the node's placement */
	hwloc_bitmap_t bind;           /* BIND: this task's cores; else NULL */
	unsigned threads_for_omp;      /* 0: OMP_NUM_THREADS left alone */
	struct aml_strlist env;        /* "NAME=value" to set in the task */
	char warning[512];             /* to log; "" */
};

/*
 * Decide and compute [in]'s task placement into [out] (free with
 * aml_task_placement_free).  A GPU list that does not read (a UUID, "NoDevFiles") is no
 * reason to fail: the GPUs are then left out and warning says so.
 * Returns 0, or -1 with one sentence (out of memory; the task's
 * affinity is none of the topology's CPUs).
 */
int aml_task_placement(const struct aml_task_placement_in *in,
		       struct aml_task_placement *out, char *errbuf,
		       size_t errlen);

void aml_task_placement_free(struct aml_task_placement *p);

/* Property keys: aml.node.<node>.<what> and aml.placement.<rank>. */
#define AML_PROP_NODE_PREFIX "aml.node."
#define AML_PROP_PLACEMENT_PREFIX "aml.placement."
/* At most this many ranks of a node are recorded, and this many GPUs
 * listed, so the properties stay small on a big node. */
#define AML_PLACEMENT_RECORD_MAX 64
#define AML_PLACEMENT_GPUS_MAX 16

/*
 * The properties that describe node [node]'s hardware into [out]:
 *   aml.node.<node>.cpu    "<model>: 2 packages, 32 cores, 64 threads"
 *   aml.node.<node>.numa   "2 nodes: 0 64.0 GiB, 1 64.0 GiB"
 *   aml.node.<node>.gpus   "2 NVIDIA A100 0000:07:00.0, 5 ..." (those of
 *                          [gpus] the run was given; absent without)
 * and [tp]'s placement: for BIND, one per rank (the first
 * AML_PLACEMENT_RECORD_MAX), aml.placement.<rank> = "<node> local <k>
 * cpus <list> cores <n> gpu <i|->", the rank being [global_ranks][k]
 * (NULL: the local rank); otherwise aml.placement.<node> = "slurm: why"
 * or "none: why".  Returns 0, or -1 when memory runs out.
 */
int aml_placement_properties(hwloc_topology_t topo, const char *node,
			     const struct aml_task_placement *tp,
			     const unsigned *global_ranks,
			     struct aml_kvlist *out);

/* One rank's recorded placement, read back. */
struct aml_placement_row {
	unsigned rank;
	char node[65];
	unsigned local;
	char cpus[128];
	unsigned cores;
	int gpu;               /* -1: none */
	int shared;
};

/*
 * [key] and [value] as aml_placement_properties writes one rank's
 * (aml.placement.<rank>), into [row].  Returns 0, or -1 when they are
 * not one (another property, or a value edited by hand).
 */
int aml_placement_row_parse(const char *key, const char *value,
			    struct aml_placement_row *row);

#endif
