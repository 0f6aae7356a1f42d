/*
 * job_update.c: the controller's judgement of an update of a run's job
 * (contract in job_update.h).
 */
#include "job_update.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_comment.h"
#include "conf_values.h"
#include "runid.h"
#include "text.h"

/* A user's value shown in a message: escaped, cut, in double quotes. */
#define SHOWN_VALUE 96

static int account_allowed(const struct aml_target *t, const char *account)
{
	if (!t->allow_accounts)
		return 1;
	for (size_t i = 0; i < t->n_allow_accounts; i++)
		if (!strcmp(t->allow_accounts[i], account))
			return 1;
	return 0;
}

/* Whether [u] changes anything a compute target limits. */
static int touches_target(const struct aml_job_update *u)
{
	return u->has_nodes || u->has_time_limit || u->partition || u->qos ||
	       u->account || u->features || u->batch_features ||
	       u->req_nodes || u->tres_per_node || u->tres_per_job ||
	       u->tres_per_socket || u->tres_per_task || u->cpus_per_tres ||
	       u->mem_per_tres || u->has_num_tasks ||
	       u->has_ntasks_per_node || u->other_layout;
}

/* Slurm's tres_per_node for a target's Gres, as the planner writes it
 * ("gres:gpu:4"); an update may spell it with or without the "gres:". */
static int is_target_gres(const struct aml_target *t, const char *value)
{
	if (!t->gres)
		return !*value;
	if (!strncmp(value, "gres:", 5))
		value += 5;
	return !strcmp(value, t->gres);
}

/* The TRES fields no run sets: name and value of the first an update
 * sets to anything but empty, or NULL. */
static const char *foreign_tres(const struct aml_job_update *u,
				const char **value)
{
	const struct {
		const char *name;
		const char *value;
	} fields[] = {
		{ "TresPerJob", u->tres_per_job },
		{ "TresPerSocket", u->tres_per_socket },
		{ "TresPerTask", u->tres_per_task },
		{ "CpusPerTres", u->cpus_per_tres },
		{ "MemPerTres", u->mem_per_tres },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
		if (fields[i].value && *fields[i].value) {
			*value = fields[i].value;
			return fields[i].name;
		}
	}
	return NULL;
}

/* The node count, time, partition, QOS and account rules. */
static enum aml_update_verdict check_allocation(const struct aml_site *site,
						const struct aml_target *t,
						const char *run_id,
						const char *admin_comment,
						const struct aml_job_update *u,
						char *errbuf, size_t errlen)
{
	char limit[32], buf[SHOWN_VALUE];

	if (u->has_nodes) {
		uint32_t nodes = u->max_nodes > u->min_nodes ? u->max_nodes
							     : u->min_nodes;
		uint32_t planned;

		if (t->max_nodes != AML_SITE_UNLIMITED &&
		    nodes > t->max_nodes) {
			aml_fail(errbuf, errlen, "run %s: NumNodes: compute "
				 "target %s allows at most %u, asked %u",
				 run_id, t->name, t->max_nodes, nodes);
			return AML_UPDATE_NODES;
		}
		/* The run's processes and their environment were planned
		 * for this many nodes; another count would break them. */
		if (aml_admin_comment_number(admin_comment, "nodes",
					     &planned) == 0 &&
		    (planned != nodes ||
		     (u->min_nodes && u->min_nodes != planned))) {
			aml_fail(errbuf, errlen, "run %s: NumNodes: the run's "
				 "processes were planned for %u node(s), asked "
				 "%u", run_id, planned,
				 u->min_nodes && u->min_nodes != planned
					 ? u->min_nodes : nodes);
			return AML_UPDATE_NODES;
		}
	}
	if (u->has_time_limit && t->max_time_seconds != AML_SITE_UNLIMITED64) {
		/* The planner's limit: the run's longest duration plus the
		 * time to upload its outputs, in whole minutes. */
		uint64_t most = (t->max_time_seconds + 59) / 60 +
				(site->finalize_grace_seconds + 59) / 60;

		if (u->time_limit_minutes == UINT32_MAX ||
		    u->time_limit_minutes > most) {
			aml_format_slurm_time(t->max_time_seconds, limit,
					      sizeof(limit));
			aml_fail(errbuf, errlen, "run %s: TimeLimit: compute "
				 "target %s allows at most %llu minutes (%s and "
				 "%u s to finalize)", run_id, t->name,
				 (unsigned long long)most, limit,
				 site->finalize_grace_seconds);
			return AML_UPDATE_TIME;
		}
	}
	if (u->partition && strcmp(u->partition, t->partition)) {
		aml_fail(errbuf, errlen, "run %s: Partition: compute target %s "
			 "runs in partition %s only", run_id, t->name,
			 t->partition);
		return AML_UPDATE_PARTITION;
	}
	if (u->qos && t->qos && strcmp(u->qos, t->qos)) {
		aml_fail(errbuf, errlen, "run %s: QOS: compute target %s uses "
			 "QOS %s only", run_id, t->name, t->qos);
		return AML_UPDATE_QOS;
	}
	if (u->account && ((t->account && strcmp(u->account, t->account)) ||
			   !account_allowed(t, u->account))) {
		/* The user's word, shown escaped: it must not forge a
		 * second line of slurmctld's log. */
		aml_fail(errbuf, errlen, "run %s: Account: compute target %s "
			 "does not allow account %s", run_id, t->name,
			 aml_text_quote(u->account, strlen(u->account), buf, sizeof(buf)));
		return AML_UPDATE_ACCOUNT;
	}
	return AML_UPDATE_OK;
}

/*
 * The rules on which nodes and devices: features, generic resources and
 * TRES, and required nodes.  Two targets may share a partition and
 * differ only by Constraint (or Gres), the site's way of keeping some
 * nodes for some users; a job that changes any of these after its
 * submission was judged would land where its target does not reach.
 */
static enum aml_update_verdict check_placement(const struct aml_target *t,
					       const char *run_id,
					       const struct aml_job_update *u,
					       char *errbuf, size_t errlen)
{
	char buf[SHOWN_VALUE];
	const char *name, *value;

	if (u->features &&
	    (t->constraint ? strcmp(u->features, t->constraint)
			   : *u->features != '\0')) {
		if (t->constraint)
			aml_fail(errbuf, errlen, "run %s: Features: compute "
				 "target %s requires Constraint=%s exactly, "
				 "asked %s", run_id, t->name, t->constraint,
				 aml_text_quote(u->features, strlen(u->features), buf, sizeof(buf)));
		else
			aml_fail(errbuf, errlen, "run %s: Features: compute "
				 "target %s sets no Constraint, so a run may "
				 "not ask for node features, asked %s", run_id,
				 t->name, aml_text_quote(u->features, strlen(u->features), buf, sizeof(buf)));
		return AML_UPDATE_FEATURES;
	}
	if (u->batch_features && *u->batch_features) {
		aml_fail(errbuf, errlen, "run %s: BatchFeatures: would bring a "
			 "node with features %s into the job, past compute "
			 "target %s", run_id, aml_text_quote(u->batch_features, strlen(u->batch_features), buf, sizeof(buf)),
			 t->name);
		return AML_UPDATE_FEATURES;
	}
	if (u->tres_per_node && !is_target_gres(t, u->tres_per_node)) {
		if (t->gres)
			aml_fail(errbuf, errlen, "run %s: Gres: compute target "
				 "%s gives gres %s per node only, asked %s",
				 run_id, t->name, t->gres,
				 aml_text_quote(u->tres_per_node, strlen(u->tres_per_node), buf, sizeof(buf)));
		else
			aml_fail(errbuf, errlen, "run %s: Gres: compute target "
				 "%s has no Gres, asked %s", run_id, t->name,
				 aml_text_quote(u->tres_per_node, strlen(u->tres_per_node), buf, sizeof(buf)));
		return AML_UPDATE_GRES;
	}
	if ((name = foreign_tres(u, &value))) {
		aml_fail(errbuf, errlen, "run %s: %s: a run gets its devices "
			 "per node from compute target %s (Gres), asked %s",
			 run_id, name, t->name, aml_text_quote(value, strlen(value), buf, sizeof(buf)));
		return AML_UPDATE_GRES;
	}
	if (u->req_nodes && *u->req_nodes) {
		aml_fail(errbuf, errlen, "run %s: NodeList: a run's nodes are "
			 "chosen within compute target %s; asked for %s",
			 run_id, t->name, aml_text_quote(u->req_nodes, strlen(u->req_nodes), buf, sizeof(buf)));
		return AML_UPDATE_NODELIST;
	}
	return AML_UPDATE_OK;
}

/* The task layout the run's processes were planned for. */
static enum aml_update_verdict check_tasks(const char *run_id,
					   const char *admin_comment,
					   const struct aml_job_update *u,
					   char *errbuf, size_t errlen)
{
	uint32_t tasks, tpn;

	if (u->has_num_tasks &&
	    aml_admin_comment_number(admin_comment, "tasks", &tasks) < 0) {
		aml_fail(errbuf, errlen, "run %s: NumTasks: the run's "
			 "processes were planned for another task count, "
			 "asked %u", run_id, u->num_tasks);
		return AML_UPDATE_TASKS;
	}
	if (u->has_num_tasks && u->num_tasks != tasks) {
		aml_fail(errbuf, errlen, "run %s: NumTasks: the run's "
			 "processes were planned as %u task(s), asked %u",
			 run_id, tasks, u->num_tasks);
		return AML_UPDATE_TASKS;
	}
	/* tpn 0: Slurm places the tasks, and none was set. */
	if (u->has_ntasks_per_node &&
	    (aml_admin_comment_number(admin_comment, "tpn", &tpn) < 0 ||
	     tpn == 0 ||
	     u->ntasks_per_node != tpn)) {
		aml_fail(errbuf, errlen, "run %s: NtasksPerNode: the run's "
			 "processes were planned with another layout, asked "
			 "%u", run_id, u->ntasks_per_node);
		return AML_UPDATE_TASKS;
	}
	if (u->other_layout) {
		aml_fail(errbuf, errlen, "run %s: %s: the run's processes were "
			 "planned with another layout", run_id,
			 u->other_layout);
		return AML_UPDATE_TASKS;
	}
	return AML_UPDATE_OK;
}

int aml_job_update_asks_nothing(const struct aml_job_update *u)
{
	return !u->has_nodes && !u->has_time_limit && !u->partition &&
	       !u->qos && !u->account && !u->features && !u->batch_features &&
	       !u->req_nodes && !u->tres_per_node && !u->tres_per_job &&
	       !u->tres_per_socket && !u->tres_per_task && !u->cpus_per_tres &&
	       !u->mem_per_tres && !u->has_num_tasks &&
	       !u->has_ntasks_per_node && !u->other_layout;
}

enum aml_update_verdict aml_job_update_check(const struct aml_site *site,
						const char *admin_comment,
						const struct aml_job_update *u,
						char *errbuf, size_t errlen)
{
	char run_id[AML_RUNID_MAX], name[256];
	const struct aml_target *t;
	enum aml_update_verdict v;

	if (aml_admin_comment_run_id(admin_comment, run_id, sizeof(run_id)) < 0)
		return AML_UPDATE_OK;
	/* Holding, releasing, renaming: nothing the target limits. */
	if (!touches_target(u))
		return AML_UPDATE_OK;
	if (aml_admin_comment_word(admin_comment, "target", name,
				   sizeof(name)) < 0 ||
	    !(t = aml_site_find_target(site, name))) {
		aml_fail(errbuf, errlen, "run %s: its compute target is no "
			 "longer in aml.conf, so its limits cannot be changed",
			 run_id);
		return AML_UPDATE_TARGET_GONE;
	}
	v = check_allocation(site, t, run_id, admin_comment, u, errbuf,
			     errlen);
	if (v == AML_UPDATE_OK)
		v = check_placement(t, run_id, u, errbuf, errlen);
	if (v == AML_UPDATE_OK)
		v = check_tasks(run_id, admin_comment, u, errbuf, errlen);
	return v;
}
