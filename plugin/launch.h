/*
 * launch.h: what the node side of the SPANK plugin and aml-launch agree
 * on, and the per-task distributed environment they compute.
 *
 * A run's job on a node:
 *   1. slurmstepd, batch step, slurm_spank_user_init (as the user):
 *      installs the run's snapshot into its working directory
 *      (aml_run_workdir) once per node per attempt, records Preparing.
 *   2. slurmstepd, slurm_spank_task_init (as the user, before exec): the
 *      task starts in the working directory with AML_WORKDIR set; in a
 *      step aml-launch started (AML_LAUNCH_STEP=1 in its environment),
 *      each task also gets its distributed environment
 *      (aml_distributed_env).  Steps the user starts themselves, and the
 *      extern step, are left alone.
 *   3. aml-launch (the batch script's program, as the user): records
 *      Running, runs the command (itself for one process, through srun
 *      for several), enforces max_run_duration_seconds, records
 *      Finalizing, uploads outputs/, logs/ and user_logs/, and the end.
 *
 * The node learns the run from the job's environment, which the
 * controller wrote (admission.h): AML_RUN_ID, AZUREML_EXPERIMENT_NAME,
 * AML_SNAPSHOT_ID, and the canonical configuration in SLURM_SPANK_AML_CONFIG
 * (job_env.h, with every other variable they pass each other).
 */
#ifndef AML_LAUNCH_H
#define AML_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "job_env.h"
#include "runconfig.h"

/*
 * The run's working directory on node [node]: <run_dir>/<run_id>/<node>,
 * where [run_dir] is the user's own directory in RunDir (userdir.h).
 * The node name is part of it so that several slurmd on one machine (the
 * test cluster) keep apart.  Returns 0, or -1 when it does not fit [len].
 */
int aml_run_workdir(const char *run_dir, const char *run_id, const char *node,
		    char *buf, size_t len);

/*
 * Whether [s] names exactly one directory entry: a run id or node name
 * that is empty, "." or "..", or holds a '/', would put a run's
 * directory or its markers somewhere else than <run_dir>/<run_id>/<node>.
 * The job's environment, where the run id comes from, is the user's to
 * write.
 */
int aml_is_path_component(const char *s);

/* Where one task of a run is. */
struct aml_task_place {
	uint32_t job_id;
	uint32_t rank;          /* global task id, 0-based */
	uint32_t world_size;    /* tasks in the step */
	uint32_t local_rank;    /* task id on this node */
	uint32_t local_world;   /* tasks on this node */
	uint32_t node_rank;     /* this node's index in the step */
	uint32_t n_nodes;
	const char *const *hosts;  /* the step's nodes' host names, in order */
	const uint32_t *tasks_per_host; /* tasks on each of them */
};

/*
 * The distributed-training variables of one task, "NAME=value" each,
 * appended to [out] (NULL-terminated as aml_strlist is everywhere):
 *   PyTorch:    MASTER_ADDR (the first host), MASTER_PORT (20000 + job_id
 *               % 10000: the same on every node, and two jobs sharing a
 *               node rarely collide), WORLD_SIZE, RANK, LOCAL_RANK,
 *               LOCAL_WORLD_SIZE, NODE_RANK, GROUP_RANK
 *   MPI:        OMPI_COMM_WORLD_SIZE, _RANK, _LOCAL_RANK, _LOCAL_SIZE,
 *               _NODE_RANK, AZ_BATCH_MASTER_NODE (first host:port), and
 *               PMI_RANK/PMI_SIZE
 *   TensorFlow: TF_CONFIG {"cluster":{"worker":[host:port...],
 *               "ps":[...]}, "task":{"type":..., "index":...}} with the
 *               configuration's worker and parameter server counts, ranks
 *               0..workers-1 being workers
 *   none:       nothing
 * Returns 0, or -1 when memory runs out or the place is inconsistent.
 */
int aml_distributed_env(const struct aml_runconfig *rc,
			const struct aml_task_place *place,
			struct aml_strlist *out);

#endif
