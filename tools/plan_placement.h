/*
 * plan_placement.h: `aml-run plan --node-topology FILE.xml`: the
 * placement a run's processes would get on a node like the one an hwloc
 * XML export (`lstopo --of xml`) describes, so an admin can check a new
 * node type before users run on it.
 */
#ifndef AML_TOOLS_PLAN_PLACEMENT_H
#define AML_TOOLS_PLAN_PLACEMENT_H

#include "plan.h"
#include "site.h"

/*
 * Print [plan]'s placement on one node of topology [xml]: its ranks per
 * node, the job given every CPU of the node and the first of its GPUs
 * the plan's gres asks for (as Slurm gives a whole-node job).  Returns
 * 0, or -1 with one line on stderr when the file is no topology.
 */
int plan_print_placement(const char *xml, const struct aml_plan *plan,
			 const struct aml_site *site);

#endif
