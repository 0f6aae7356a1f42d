/*
 * launch_place.h: the placement of the one process aml-launch runs
 * itself (no srun: the tasks of srun's steps are placed by the node
 * side, node_placement.h).
 */
#ifndef AML_TOOLS_LAUNCH_PLACE_H
#define AML_TOOLS_LAUNCH_PLACE_H

#include "launch_common.h"

/*
 * Place the command as rank 0 of 1 on this node (placement_node.h): its
 * OMP_NUM_THREADS (unless set) and CUDA_DEVICE_ORDER go into the
 * launcher's environment, which the command inherits, and the launcher
 * binds itself to the job's CPUs, which the command inherits too (one
 * rank has them all: nothing changes unless the topology's allowed CPUs
 * are narrower than the launcher's affinity).  The node's hardware and
 * the placement are recorded as run properties.  Nothing here fails the
 * run: a problem is one line on stderr.
 */
void launch_place_single(const struct launch_ctx *c);

#endif
