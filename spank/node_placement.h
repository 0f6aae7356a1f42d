/*
 * node_placement.h: a run's task placed on its node (placement_node.h),
 * in slurm_spank_task_init of aml-launch's step, as the user, in the
 * task's own process just before exec: binding the process binds the
 * program it becomes.
 */
#ifndef AML_SPANK_NODE_PLACEMENT_H
#define AML_SPANK_NODE_PLACEMENT_H

#include <slurm/spank.h>

#include "kvlist.h"
#include "site.h"

/*
 * Place this task as [site]'s Placement says: bind it, set
 * OMP_NUM_THREADS and CUDA_DEVICE_ORDER in its environment (never over
 * what is set).  The node's local rank 0 also fills [props] with the
 * node's hardware and placement (placement_node.h), for run history;
 * the others leave it empty.  What it had to give up (ranks sharing
 * cores, ranks without a GPU) is said once per node on the task's
 * stderr, which is the run's log.  A placement that cannot be made is
 * logged and the task runs unplaced: placement is an optimisation, no
 * reason to fail a run.
 */
void aml_node_place_task(spank_t sp, const struct aml_site *site,
			 const char *run_id, const char *node,
			 struct aml_kvlist *props);

#endif
