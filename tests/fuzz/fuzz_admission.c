/*
 * libFuzzer target: the controller's decisions, as slurmctld asks for
 * them, on arbitrary jobs.  The input is NUL-separated fields:
 *
 *   the job's SPANK environment ("NAME=value" entries, up to a field that
 *   is exactly "--"), then an admin comment, then the string fields of an
 *   update (Features, BatchFeatures, NodeList, Gres as tres_per_node,
 *   TresPerTask, Partition, QOS, Account), then 16 bytes of numbers
 *   (nodes, time, tasks, tasks per node, and which of them are set).
 *
 * aml_admission_decide runs under a site whose size caps are small
 * (MaxConfigSize 2K, 8 variables, 8 arguments, 256 bytes of them), so
 * the caps are in force on inputs of libFuzzer's usual lengths.  What it
 * must hold:
 *   - a refusal is one non-empty printable line, and leaves no plan;
 *   - an accepted run stays within the caps, its admin comment gives its
 *     run id back, every planned variable is found by the environment
 *     index, and updating the job to what it already has (or to nothing
 *     a target limits) is never refused;
 * and aml_job_update_check on the fuzzed comment and update refuses
 * with a one-line reason or accepts, never anything else.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_comment.h"
#include "admission.h"
#include "env_index.h"
#include "job_env.h"
#include "job_update.h"
#include "runid.h"
#include "site.h"
#include "text.h"

#define MAX_FIELDS 64

static const char site_text[] =
	"MaxConfigSize=2K\n"
	"MaxEnvironmentVariables=8\n"
	"MaxArguments=8\n"
	"MaxArgumentsSize=256\n"
	"FinalizeGrace=60\n"
	"DefaultTarget=cpu\n"
	"ComputeTarget=cpu Partition=debug MaxNodes=2 MaxTime=1:00:00\n"
	"ComputeTarget=big Partition=debug Constraint=big MaxNodes=1 AllowUsers=alice\n"
	"ComputeTarget=gpu Partition=gpu QOS=high Account=ml Gres=gpu:4 "
	"Constraint=a100 MaxNodes=4 MaxProcessesPerNode=4 AllowAccounts=ml\n"
	"Environment=AzureML-Minimal Prefix=/shared/envs/minimal\n"
	"Environment=torch:2 Modules=cuda/12.2 Env=OMP_NUM_THREADS=1\n"
	"CondaCommand=/opt/micromamba/bin/micromamba\n";

static struct aml_site site;
static int site_ready;

static void need_site(void)
{
	struct aml_errors errs;

	if (site_ready)
		return;
	aml_errors_init(&errs, NULL);
	if (aml_site_parse(site_text, strlen(site_text), "aml.conf", &site,
			   &errs) < 0)
		abort();
	aml_errors_free(&errs);
	site_ready = 1;
}

/* A reason for the user: one line of printable text. */
static void check_reason(const char *reason)
{
	if (!*reason)
		abort();
	for (const unsigned char *p = (const unsigned char *)reason; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "a reason of more than one printable line: %s\n",
				reason);
			abort();
		}
	}
}

static uint32_t u32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* What an accepted run must hold. */
static void check_accepted(const struct aml_admission *d,
			   const char *run_id)
{
	const struct aml_plan *p = &d->plan;
	struct aml_job_update same = { 0 }, none = { 0 };
	struct aml_env_index ix;
	char id[AML_RUNID_MAX], why[1024];
	char *admin;

	if (!p->run_id || !d->summary || !d->snapshot_id ||
	    (run_id && strcmp(p->run_id, run_id)))
		abort();
	/* The caps: the user's variables, the planner's eleven (with
	 * AML_OUTPUT_DIRS) and the snapshot's; an interpreter and a script
	 * before the arguments. */
	if (p->environment.count > site.limits.variables + 12 ||
	    p->argv.count > site.limits.arguments + 3 ||
	    p->environment.items[p->environment.count] != NULL)
		abort();
	if (aml_env_index_init(&ix, &p->environment) == 0) {
		for (size_t i = 0; i < p->environment.count; i++)
			if (aml_env_index_find(&ix, p->environment.items[i]) !=
			    (long)i)
				abort();
		aml_env_index_free(&ix);
	}
	admin = aml_admin_comment_make(p);
	if (!admin)
		return;
	if (aml_admin_comment_run_id(admin, id, sizeof(id)) < 0 ||
	    strcmp(id, p->run_id))
		abort();
	if (aml_job_update_check(&site, admin, &none, why, sizeof(why)) !=
	    AML_UPDATE_OK)
		abort();
	/* The plan as job_modify finds it again: in the job's environment
	 * after the plan's own variables, under AML_JOBENV_PLAN. */
	{
		char *plan = aml_env_pair(AML_JOBENV_PLAN, admin);
		char **env = plan ? calloc(p->environment.count + 1,
					   sizeof(*env))
				  : NULL;
		const char *found;

		if (env) {
			memcpy(env, p->environment.items,
			       p->environment.count * sizeof(*env));
			env[p->environment.count] = plan;
			found = aml_env_value(env, p->environment.count + 1,
					      AML_JOBENV_PLAN);
			if (!found || strcmp(found, admin))
				abort();
		}
		free(env);
		free(plan);
	}
	/* The job as planned, asked for again. */
	same.has_nodes = 1;
	same.min_nodes = p->min_nodes;
	same.max_nodes = p->max_nodes;
	same.has_time_limit = 1;
	same.time_limit_minutes = p->time_limit_minutes;
	same.partition = p->partition;
	same.qos = p->qos;
	same.account = p->account;
	same.features = p->constraint ? p->constraint : "";
	same.tres_per_node = p->tres_per_node ? p->tres_per_node : "";
	same.has_num_tasks = 1;
	same.num_tasks = p->num_tasks;
	if (p->ntasks_per_node) {
		same.has_ntasks_per_node = 1;
		same.ntasks_per_node = p->ntasks_per_node;
	}
	if (aml_job_update_check(&site, admin, &same, why, sizeof(why)) !=
	    AML_UPDATE_OK) {
		fprintf(stderr, "the planned job refused as an update: %s\n",
			why);
		abort();
	}
	free(admin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct aml_submitter who = { "alice", "ml" };
	char *copy, *fields[MAX_FIELDS], reason[4096], why[512];
	const char *run_id = NULL, *admin;
	struct aml_admission d;
	struct aml_job_update u = { 0 };
	size_t n = 0, env_n, at = 0;
	uint8_t nums[16] = { 0 };
	enum aml_update_verdict v;

	need_site();
	if (size > 16) {
		memcpy(nums, data + size - 16, 16);
		size -= 16;
	}
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* Fields end at each NUL; the last at the end of the input. */
	for (size_t i = 0; i <= size && n < MAX_FIELDS; i++) {
		if (i == size || copy[i] == '\0') {
			copy[i] = '\0';
			fields[n++] = copy + at;
			at = i + 1;
		}
	}
	for (env_n = 0; env_n < n && strcmp(fields[env_n], "--"); env_n++)
		if (!strncmp(fields[env_n], AML_JOBENV_RUN_ID "=", 11))
			run_id = fields[env_n] + 11;

	if (aml_admission_decide(fields, env_n, &site, &who, &d, reason,
				 sizeof(reason)) < 0) {
		check_reason(reason);
		if (d.plan.run_id || d.summary || d.snapshot_id ||
		    d.plan.environment.items)
			abort();
	} else if (d.is_aml) {
		check_accepted(&d, run_id);
	}
	aml_admission_free(&d);

	/* The update check on what follows "--". */
	at = env_n + 1;
	admin = at < n ? fields[at++] : NULL;
	u.features = at < n ? fields[at++] : NULL;
	u.batch_features = at < n ? fields[at++] : NULL;
	u.req_nodes = at < n ? fields[at++] : NULL;
	u.tres_per_node = at < n ? fields[at++] : NULL;
	u.tres_per_task = at < n ? fields[at++] : NULL;
	u.partition = at < n ? fields[at++] : NULL;
	u.qos = at < n ? fields[at++] : NULL;
	u.account = at < n ? fields[at++] : NULL;
	u.has_nodes = nums[0] & 1;
	u.has_time_limit = nums[0] & 2;
	u.has_num_tasks = nums[0] & 4;
	u.has_ntasks_per_node = nums[0] & 8;
	u.other_layout = nums[0] & 16 ? "NtasksPerSocket" : NULL;
	u.min_nodes = nums[1];
	u.max_nodes = nums[2];
	u.time_limit_minutes = u32_at(nums + 4);
	u.num_tasks = u32_at(nums + 8);
	u.ntasks_per_node = (uint32_t)nums[12] | (uint32_t)nums[13] << 8;
	why[0] = '\0';
	v = aml_job_update_check(&site, admin, &u, why, sizeof(why));
	if (v > AML_UPDATE_NODELIST)
		abort();
	/* What job_modify lets through without reading the job. */
	if (aml_job_update_asks_nothing(&u) && v != AML_UPDATE_OK)
		abort();
	if (v != AML_UPDATE_OK)
		check_reason(why);
	free(copy);
	return 0;
}
