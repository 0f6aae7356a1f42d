/*
 * job_submit_aml.c: the job_submit plugin slurmctld loads as
 * job_submit/aml (JobSubmitPlugins=aml).
 *
 * Thin on purpose: the decision is aml_admission_decide() (plugin/admission.h),
 * pure and unit-tested; this file reads aml.conf once at startup and
 * writes the decision into job_desc.  slurmctld calls job_submit() with
 * its config, job, node and partition locks held, so nothing here does
 * I/O on a submission.
 *
 * Built out of tree against the public headers only.  Strings and arrays
 * stored in job_desc (and *err_msg) are freed by slurmctld with xfree,
 * which checks a header in front of the block, so they come from Slurm's
 * own allocator, exported by libslurmfull.so (which slurmctld links);
 * everything the core allocates with malloc is freed here.
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <slurm/slurm_version.h>

#include "slurm_compat.h"

#include "admin_comment.h"
#include "admission.h"
#include "env_index.h"
#include "errors.h"
#include "hash.h"
#include "job_env.h"
#include "job_update.h"
#include "random.h"
#include "runid.h"
#include "runid_claims.h"
#include "site.h"
#include "text.h"

#ifndef AML_LAUNCHER_PATH
#define AML_LAUNCHER_PATH "/usr/libexec/slurm-aml/aml-launch"
#endif

/* Everything else is hidden (-fvisibility=hidden) and kept local by the
 * version script; these are what slurmctld looks up. */
#define AML_EXPORT __attribute__((visibility("default")))

/* slurmctld's own record; opaque to a plugin built out of tree. */
typedef struct job_record job_record_t;

/* Slurm's allocator and log (src/common/xmalloc.h, xstring.h, log.h of
 * Slurm 22.05), exported by libslurmfull.so. */
extern void *slurm_xrecalloc(void **item, size_t count, size_t size,
			     bool clear, bool try_, const char *file,
			     int line, const char *func);
extern void slurm_xfree(void **item);
extern char *slurm_xstrdup(const char *str);
extern char *slurm_xstrdup_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
extern int slurm_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
extern void slurm_info(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
extern void slurm_debug(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

AML_EXPORT const char plugin_name[] = "slurm-aml: Azure ML runs";
AML_EXPORT const char plugin_type[] = "job_submit/aml";
/* slurmctld loads the plugin only into the Slurm it was built for
 * (major.minor.micro), since job_desc_msg_t changes between releases. */
AML_EXPORT const uint32_t plugin_version = SLURM_VERSION_NUMBER;

/* The site policy, read once by init(): a submission must not read a
 * file.  A change to aml.conf takes effect when slurmctld restarts. */
static struct aml_site site;
static int site_loaded;
/* Whether planning needs the submitter's login name (see job_submit). */
static int need_user_name;
/* Which user each run id was accepted for since slurmctld started
 * (runid_claims.h: what it cannot do). */
static struct aml_runid_claims claims;
static int claims_ready;

/* A reason longer than this is cut by aml_admission_decide, with "...". */
#define REASON_MAX 4096

/* Replace a string field of job_desc with a copy of [value]. */
static void set_string(char **field, const char *value)
{
	slurm_xfree((void **)field);
	*field = slurm_xstrdup(value);
}

/*
 * Put the plan's variables into the job's environment: a variable the
 * job already has (the user's shell exported AML_RUN_ID, or a forger
 * did, even twice) is replaced in place, so the batch step sees only the
 * planner's value.  One pass over the job's array with a sorted index of
 * the plan's (aml_env_index), so the cost stays linear in what the job
 * and the run carry.  The array stays NULL-terminated with env_size
 * entries.  Returns 0, or -1 when memory runs out (nothing changed).
 */
static int merge_environment(job_desc_msg_t *job_desc,
			     const struct aml_strlist *vars)
{
	struct aml_env_index ix;
	unsigned char *placed;

	if (aml_env_index_init(&ix, vars) < 0)
		return -1;
	if (!(placed = calloc(vars->count ? vars->count : 1, 1))) {
		aml_env_index_free(&ix);
		return -1;
	}
	/* One reallocation: room for every new variable and the NULL
	 * (slurm_xrecalloc clears the new part). */
	slurm_xrecalloc((void **)&job_desc->environment,
			(size_t)job_desc->env_size + vars->count + 1,
			sizeof(char *), true, false, __FILE__, __LINE__,
			__func__);
	for (uint32_t at = 0; at < job_desc->env_size; at++) {
		const char *old = job_desc->environment[at];
		long k = old ? aml_env_index_find(&ix, old) : -1;

		if (k < 0)
			continue;
		set_string(&job_desc->environment[at], vars->items[k]);
		placed[k] = 1;
	}
	for (size_t k = 0; k < vars->count; k++)
		if (!placed[k])
			job_desc->environment[job_desc->env_size++] =
				slurm_xstrdup(vars->items[k]);
	free(placed);
	aml_env_index_free(&ix);
	return 0;
}

/*
 * Take out of the job's SPANK environment what only the controller reads
 * (aml_admission_spank_kept) and add the experiment for the epilog
 * ([experiment], "NAME=value"): slurmctld keeps that array in memory for
 * the job's whole life.  The array stays NULL-terminated with
 * spank_job_env_size entries.
 */
static void trim_spank_env(job_desc_msg_t *job_desc, const char *experiment)
{
	uint32_t kept = 0;

	for (uint32_t at = 0; at < job_desc->spank_job_env_size; at++) {
		char *entry = job_desc->spank_job_env[at];

		if (entry && !aml_admission_spank_kept(entry))
			slurm_xfree((void **)&job_desc->spank_job_env[at]);
		else
			job_desc->spank_job_env[kept++] = entry;
	}
	/* Room for the experiment and the NULL (cleared by the call). */
	slurm_xrecalloc((void **)&job_desc->spank_job_env, (size_t)kept + 2,
			sizeof(char *), true, false, __FILE__, __LINE__,
			__func__);
	job_desc->spank_job_env[kept++] = slurm_xstrdup(experiment);
	job_desc->spank_job_env[kept] = NULL;
	job_desc->spank_job_env_size = kept;
}

/*
 * slurmctld hashed the script and environment as they arrived, and with
 * AccountingStoreFlags=job_script/job_env the database keeps one copy
 * per hash: left stale, sacct would show another job's script or
 * environment.  Slurm's K12 is not available to a plugin, but the hash
 * is only a key, so SHA-256 (a type Slurm knows) of what the job now
 * holds serves.  On failure the old hash stays: a wrong sacct display is
 * no reason to refuse a job.
 */
static void rehash(slurm_hash_t *hash, char *const *parts, size_t n)
{
	struct aml_sha256 h;
	char hex[AML_SHA256_HEX_LEN + 1];

	if (aml_sha256_init(&h) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *p = parts[i] ? parts[i] : "";

		/* With the NUL, so {"ab","c"} and {"a","bc"} differ. */
		if (aml_sha256_update(&h, p, strlen(p) + 1) < 0) {
			aml_sha256_abort(&h);
			return;
		}
	}
	if (aml_sha256_final(&h, hex) < 0)
		return;
	for (size_t i = 0; i < sizeof(hash->hash); i++) {
		unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0'
							   : hex[2 * i] - 'a' + 10);
		unsigned lo = (unsigned)(hex[2 * i + 1] <= '9'
						 ? hex[2 * i + 1] - '0'
						 : hex[2 * i + 1] - 'a' + 10);

		hash->hash[i] = (unsigned char)(hi << 4 | lo);
	}
	hash->type = HASH_PLUGIN_SHA256;
}

/* Give the user [text]; a message another plugin earlier in
 * JobSubmitPlugins left is kept above it. */
static void tell_user(char **err_msg, const char *text)
{
	char *both;

	if (!err_msg)
		return;
	if (!*err_msg) {
		*err_msg = slurm_xstrdup(text);
		return;
	}
	both = slurm_xstrdup_printf("%s\n%s", *err_msg, text);
	slurm_xfree((void **)err_msg);
	*err_msg = both;
}

/* Whether the job carries AML_CONFIG: only then is the submitter's name
 * worth a lookup. */
static int has_config(char *const *env, uint32_t n)
{
	size_t len = strlen(AML_JOBENV_CONFIG);

	for (uint32_t i = 0; env && i < n; i++)
		if (env[i] && strncmp(env[i], AML_JOBENV_CONFIG, len) == 0 &&
		    env[i][len] == '=')
			return 1;
	return 0;
}

/*
 * The login name of [uid], malloc'd into *[buf]; NULL when unknown.
 *
 * getpwuid_r may ask NSS, and NSS may be LDAP or SSSD over the network:
 * with slurmctld's locks held, a slow directory would stall every RPC of
 * the cluster.  So it is called only when a target has AllowUsers (the
 * only rule that needs the name), and only for AML jobs.
 */
static const char *user_name(uid_t uid, char **buf)
{
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;
	struct passwd pw, *found = NULL;

	*buf = NULL;
	for (;;) {
		char *grown = realloc(*buf, size);
		int rc;

		if (!grown)
			return NULL;
		*buf = grown;
		rc = getpwuid_r(uid, &pw, *buf, size, &found);
		if (rc != ERANGE || size >= 1024 * 1024)
			break;
		size *= 2;
	}
	return found ? found->pw_name : NULL;
}

/*
 * The run id table, keyed with 16 secret random bytes so that no user
 * can choose run ids that share its buckets.  Returns 0, or -1 (logged).
 */
static int start_claims(void)
{
	unsigned char key[16];

	if (aml_random(key, sizeof(key)) < 0) {
		slurm_error(AML_LOG_PREFIX "no randomness for the run id table: %s",
			    strerror(errno));
		return -1;
	}
	if (aml_runid_claims_init(&claims, AML_RUNID_CLAIMS_CAPACITY,
				  key) < 0) {
		slurm_error(AML_LOG_PREFIX "out of memory for the run id table");
		return -1;
	}
	claims_ready = 1;
	return 0;
}

AML_EXPORT int init(void)
{
	char path[4096];
	struct aml_errors errs;
	char hex[AML_SHA256_HEX_LEN + 1];

	if (aml_site_default_path(path, sizeof(path)) < 0) {
		slurm_error(AML_LOG_PREFIX "the path of aml.conf is too long (AML_CONF or SLURM_CONF)");
		return SLURM_ERROR;
	}
	aml_errors_init(&errs, NULL);
	if (aml_site_load(path, &site, &errs) < 0) {
		/* Refusing to start is louder than refusing every run
		 * later: the admin sees it at once, with every line. */
		for (size_t i = 0; i < errs.count; i++)
			slurm_error(AML_LOG_PREFIX "%s", errs.lines[i]);
		if (errs.out_of_memory || errs.count == 0)
			slurm_error(AML_LOG_PREFIX "cannot load %s", path);
		aml_errors_free(&errs);
		return SLURM_ERROR;
	}
	aml_errors_free(&errs);
	site_loaded = 1;
	need_user_name = 0;
	for (size_t i = 0; i < site.n_targets; i++)
		if (site.targets[i].allow_users)
			need_user_name = 1;
	/* libcrypto reads its configuration file on first use: let that
	 * happen now rather than under slurmctld's locks. */
	(void)aml_sha256_buffer("", 0, hex);
	if (start_claims() < 0) {
		aml_site_free(&site);
		site_loaded = 0;
		return SLURM_ERROR;
	}
	slurm_info(AML_LOG_PREFIX "%s: %zu compute target(s), default %s",
		   path, site.n_targets,
		   site.default_target ? site.default_target : "(none)");
	return SLURM_SUCCESS;
}

AML_EXPORT int fini(void)
{
	if (site_loaded)
		aml_site_free(&site);
	site_loaded = 0;
	if (claims_ready)
		aml_runid_claims_free(&claims);
	claims_ready = 0;
	return SLURM_SUCCESS;
}

/* Write the accepted plan into the job, with [admin] as its admin
 * comment.  Returns 0, or -1 when memory runs out before anything was
 * written. */
static int apply(job_desc_msg_t *job_desc,
		 const struct aml_admission *d, const char *admin,
		 char *launcher)
{
	const struct aml_plan *p = &d->plan;
	/* The plan's variables, the configuration as validated, which
	 * replaces sbatch's copy (the node reads the one checked here), and
	 * the plan an update is judged by (job_modify). */
	struct aml_strlist vars = { NULL, p->environment.count + 2 };
	char *plan = aml_env_pair(AML_JOBENV_PLAN, admin);

	if (!plan || !(vars.items = calloc(vars.count + 1, sizeof(char *)))) {
		free(plan);
		return -1;
	}
	memcpy(vars.items, p->environment.items,
	       p->environment.count * sizeof(char *));
	vars.items[p->environment.count] = d->node_config;
	vars.items[p->environment.count + 1] = plan;
	if (merge_environment(job_desc, &vars) < 0) {
		free(vars.items);
		free(plan);
		return -1;
	}
	free(vars.items);
	free(plan);
	trim_spank_env(job_desc, d->spank_experiment);
	rehash(&job_desc->env_hash, job_desc->environment,
	       job_desc->env_size);
	job_desc->min_nodes = p->min_nodes;
	job_desc->max_nodes = p->max_nodes;
	job_desc->num_tasks = p->num_tasks;
	/* 0 means Slurm places the tasks: an --ntasks-per-node the user
	 * also gave would contradict num_tasks, so it goes. */
	job_desc->ntasks_per_node =
		p->ntasks_per_node ? p->ntasks_per_node : NO_VAL16;
	job_desc->time_limit = p->time_limit_minutes;
	set_string(&job_desc->partition, p->partition);
	if (p->qos)
		set_string(&job_desc->qos, p->qos);
	if (p->account)
		set_string(&job_desc->account, p->account);
	if (p->tres_per_node)
		set_string(&job_desc->tres_per_node, p->tres_per_node);
	if (p->constraint)
		set_string(&job_desc->features, p->constraint);
	set_string(&job_desc->name, p->job_name);
	set_string(&job_desc->comment, p->comment);
	/* The user can edit the comment but not the admin comment (only an
	 * admin may set it: slurmctld checks that before the plugins run,
	 * so setting it here is allowed), so the run id stays findable. */
	set_string(&job_desc->admin_comment, admin);

	if (launcher) {
		set_string(&job_desc->script, launcher);
		rehash(&job_desc->script_hash, &launcher, 1);
	}
	return 0;
}

/* What of the job's layout the planner never sets: the first such field
 * [job_desc] sets, by the name scontrol shows, or NULL. */
static const char *other_layout(const job_desc_msg_t *job_desc)
{
	if (job_desc->ntasks_per_socket != NO_VAL16)
		return "NtasksPerSocket";
	if (job_desc->ntasks_per_core != NO_VAL16)
		return "NtasksPerCore";
	if (job_desc->ntasks_per_tres != NO_VAL16)
		return "NtasksPerTRES";
	return NULL;
}

/*
 * The fields of [job_desc] that choose where a job runs, beyond what the
 * planner writes (features, generic resources and TRES, required nodes,
 * the task layout), into [u] for aml_job_update_check.  With [whole],
 * as an update message sets them: also the node count, time, partition,
 * QOS, account and task counts, which a submission gets from the plan.
 * Slurm's NO_VAL, NO_VAL16 and INFINITE are read as what they mean:
 * unset, unset, no limit.
 */
static void read_update(const job_desc_msg_t *job_desc, int whole,
			struct aml_job_update *u)
{
	memset(u, 0, sizeof(*u));
	u->features = job_desc->features;
	u->batch_features = job_desc->batch_features;
	u->req_nodes = job_desc->req_nodes;
	u->tres_per_node = job_desc->tres_per_node;
	u->tres_per_job = job_desc->tres_per_job;
	u->tres_per_socket = job_desc->tres_per_socket;
	u->tres_per_task = job_desc->tres_per_task;
	u->cpus_per_tres = job_desc->cpus_per_tres;
	u->mem_per_tres = job_desc->mem_per_tres;
	u->other_layout = other_layout(job_desc);
	if (!whole)
		return;
	if (job_desc->min_nodes != NO_VAL || job_desc->max_nodes != NO_VAL) {
		u->has_nodes = 1;
		u->min_nodes = job_desc->min_nodes != NO_VAL
				       ? job_desc->min_nodes : 0;
		u->max_nodes = job_desc->max_nodes != NO_VAL
				       ? job_desc->max_nodes : 0;
	}
	if (job_desc->time_limit != NO_VAL) {
		u->has_time_limit = 1;
		u->time_limit_minutes = job_desc->time_limit == INFINITE
						? UINT32_MAX
						: job_desc->time_limit;
	}
	u->partition = job_desc->partition;
	u->qos = job_desc->qos;
	u->account = job_desc->account;
	if (job_desc->num_tasks != NO_VAL) {
		u->has_num_tasks = 1;
		u->num_tasks = job_desc->num_tasks;
	}
	if (job_desc->ntasks_per_node != NO_VAL16) {
		u->has_ntasks_per_node = 1;
		u->ntasks_per_node = job_desc->ntasks_per_node;
	}
}

/*
 * Whether [name] is the run id of a run accepted for another user than
 * [uid]: a plain job (sbatch -J) or a rename (scontrol update Name=)
 * could otherwise put any job under another user's run in squeue.  One
 * keyed hash per named job.
 */
static int name_of_others_run(const char *name, uint32_t uid)
{
	uint32_t holder;

	return name && aml_runid_claims_owner(&claims, name, &holder) &&
	       holder != uid;
}

AML_EXPORT int job_submit(job_desc_msg_t *job_desc, uint32_t submit_uid,
			  char **err_msg)
{
	struct aml_admission d;
	struct aml_submitter who = { NULL, NULL };
	struct aml_job_update asked;
	char reason[REASON_MAX];
	char *pw_buf = NULL, *launcher = NULL, *admin = NULL;
	/* The job's owner: slurmctld has set it from the credential (root
	 * may submit for another user). */
	uint32_t owner = job_desc->user_id != NO_VAL ? job_desc->user_id
						     : submit_uid;
	uint32_t holder;
	int rc = SLURM_SUCCESS;

	if (!site_loaded || !claims_ready)
		return SLURM_SUCCESS;
	if (need_user_name &&
	    has_config(job_desc->spank_job_env, job_desc->spank_job_env_size))
		who.user = user_name((uid_t)submit_uid, &pw_buf);
	who.account = job_desc->account;

	if (aml_admission_decide(job_desc->spank_job_env,
				 job_desc->spank_job_env_size, &site, &who, &d,
				 reason, sizeof(reason)) < 0) {
		rc = SLURM_ERROR;
	} else if (!d.is_aml && !name_of_others_run(job_desc->name, owner)) {
		goto out;
	} else if (!d.is_aml) {
		snprintf(reason, sizeof(reason),
			 "the job name %s is the run id of another user's run: a job may not be named after it",
			 job_desc->name);
		rc = SLURM_ERROR;
	} else if (d.replace_script && !job_desc->script) {
		/* salloc and srun allocations have no batch script, and
		 * giving them one would turn them into batch jobs. */
		snprintf(reason, sizeof(reason),
			 "run %s has no command of its own to run: submit it with sbatch --aml-run",
			 d.plan.run_id);
		rc = SLURM_ERROR;
	} else if (!(admin = aml_admin_comment_make(&d.plan))) {
		snprintf(reason, sizeof(reason),
			 "slurm-aml: out of memory while planning run %s",
			 d.plan.run_id);
		rc = SLURM_ERROR;
	} else if (read_update(job_desc, 0, &asked),
		   aml_job_update_check(&site, admin, &asked, reason,
					sizeof(reason)) != AML_UPDATE_OK) {
		/* What the job asks for beyond the plan (sbatch
		 * --constraint, --gres, --nodelist...) is judged by the
		 * rule an update is judged by: the target's or nothing. */
		rc = SLURM_ERROR;
	} else if (aml_runid_claims_owner(&claims, d.plan.run_id, &holder) &&
		   holder != owner) {
		/* Someone else's run (its id is public in squeue): the job
		 * would be named and commented after it. */
		snprintf(reason, sizeof(reason),
			 "run %s belongs to another user: a run can be submitted only by the user who created it",
			 d.plan.run_id);
		rc = SLURM_ERROR;
	} else if ((d.replace_script &&
		    !(launcher = aml_admission_launcher_script(
			      &d, site.launcher ? site.launcher
						: AML_LAUNCHER_PATH))) ||
		   apply(job_desc, &d, admin, launcher) < 0 ||
		   aml_runid_claims_add(&claims, d.plan.run_id, owner,
					NULL) != 0) {
		/* Registered only once the job is accepted (slurmctld may
		 * still refuse it for its own reasons: the claim is then
		 * the same user's, who may submit the run again).  A run
		 * that cannot be registered is not accepted. */
		snprintf(reason, sizeof(reason),
			 "slurm-aml: out of memory while planning run %s",
			 d.plan.run_id);
		rc = SLURM_ERROR;
	}

	if (rc != SLURM_SUCCESS) {
		/*
		 * The client prints err_msg as it arrives ("sbatch: error:
		 * <reason>", in the unpacking of the reply), whatever the
		 * code; the code only picks the words of sbatch's second
		 * line, "Batch job submission failed: <slurm_strerror>".
		 * The decision does not say which rule refused, and one
		 * refusal can hold several (a target's AllowUsers and a
		 * node count), so no specific ESLURM_* is right for all of
		 * them: SLURM_ERROR ("Unspecified error") claims nothing
		 * the reason does not say, is what job_submit/lua returns,
		 * and is not one of the codes sbatch retries on.
		 */
		slurm_info(AML_LOG_PREFIX "refused a job of uid %u: %s",
			   submit_uid, reason);
		tell_user(err_msg, reason);
		goto out;
	}

	/* slurmctld already logs every submission at info; a second line
	 * per job would double the log's share of the submit RPC.  The
	 * run id stays in the job's admin comment, and refusals, which an
	 * admin may be asked about, stay at info. */
	slurm_debug(AML_LOG_PREFIX "uid %u: %s", submit_uid, d.summary);
	tell_user(err_msg, d.summary);
out:
	aml_admission_free(&d);
	free(launcher);
	free(admin);
	free(pw_buf);
	return rc;
}

/*
 * slurmctld's own, exported to its plugins on every release this builds
 * for (accounting_storage/slurmdbd calls it too): the job's environment
 * as submitted, read from the state directory, in one xmalloc'd buffer
 * that env[0] points at.  NULL when it cannot be read.
 */
extern char **get_job_env(job_record_t *job_ptr, uint32_t *env_size);

/*
 * The plan the controller wrote into [job_ptr]'s environment at submission
 * (AML_JOBENV_PLAN), malloc'd; NULL for a job without one (not a run) or
 * one whose environment cannot be read.  The one thing of the job's past
 * read here, through slurmctld's own function: a plugin built out of tree
 * sees job_record_t as an opaque type whose layout changes between
 * releases.
 */
static char *job_plan(job_record_t *job_ptr)
{
	uint32_t n = 0;
	char **env = get_job_env(job_ptr, &n);
	const char *plan = aml_env_value(env, n, AML_JOBENV_PLAN);
	char *copy = plan ? strdup(plan) : NULL;

	if (env) {
		slurm_xfree((void **)&env[0]);
		slurm_xfree((void **)&env);
	}
	return copy;
}

/*
 * An update of a run's job (scontrol update) must stay within its compute
 * target, as its submission had to; the owner could otherwise take a
 * pending run past MaxNodes or MaxTime, or onto nodes, features or GPUs
 * another target keeps for other users.  The run's target and planned
 * layout come from the plan written into its environment at submission
 * (job_plan), read only for an update that asks to change what the check
 * judges: a hold, a release or a new comment costs nothing.  Root may (an
 * admin extending a run on purpose).  Where slurmctld passes an err_msg
 * (23.02 and later) the user reads the reason; otherwise the error
 * code's text, and the controller's log the full reason.
 */
AML_EXPORT int job_modify(AML_JOB_MODIFY_ARGS)
{
	struct aml_job_update u;
	enum aml_update_verdict verdict;
	char reason[REASON_MAX], *plan;

	if (!site_loaded || !claims_ready || submit_uid == 0)
		return SLURM_SUCCESS;
	/* Whoever renames a job (its owner, or an operator) may not give
	 * it another user's run id. */
	if (name_of_others_run(job_desc->name, submit_uid)) {
		slurm_info(AML_LOG_PREFIX "refused an update by uid %u: the job name %s is the run id of another user's run",
			   submit_uid, job_desc->name);
		return ESLURM_ACCESS_DENIED;
	}
	read_update(job_desc, 1, &u);
	if (!job_ptr || aml_job_update_asks_nothing(&u))
		return SLURM_SUCCESS;
	plan = job_plan(job_ptr);
	verdict = aml_job_update_check(&site, plan, &u, reason,
				       sizeof(reason));
	free(plan);
	if (verdict == AML_UPDATE_OK)
		return SLURM_SUCCESS;
	slurm_info(AML_LOG_PREFIX "refused an update by uid %u: %s",
		   submit_uid, reason);
	tell_user(AML_JOB_MODIFY_ERR_MSG, reason);
	switch (verdict) {
	case AML_UPDATE_NODES:
		return ESLURM_INVALID_NODE_COUNT;
	case AML_UPDATE_TIME:
		return ESLURM_INVALID_TIME_LIMIT;
	case AML_UPDATE_PARTITION:
		return ESLURM_INVALID_PARTITION_NAME;
	case AML_UPDATE_QOS:
		return ESLURM_INVALID_QOS;
	case AML_UPDATE_ACCOUNT:
		return ESLURM_INVALID_ACCOUNT;
	case AML_UPDATE_FEATURES:
		return ESLURM_INVALID_FEATURE;
	case AML_UPDATE_GRES:
		return ESLURM_INVALID_GRES;
	case AML_UPDATE_TASKS:
		return ESLURM_BAD_TASK_COUNT;
	default:
		/* A node list, or a target gone: policy, not a bad value. */
		return ESLURM_ACCESS_DENIED;
	}
}
