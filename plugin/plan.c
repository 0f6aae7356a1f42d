/*
 * plan.c: the planner (contract in plan.h).
 *
 * Two phases.  Every rule is checked first (allocating only to word an
 * error), so that a rejected configuration reports all its problems and a
 * good one is never half-built; then the plan is built with exactly sized
 * allocations.  The controller runs this for every AML job with its locks
 * held, so the success path does no formatting through stdio and no
 * reallocations (about 1 us for a typical PyTorch run).
 */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "conf_values.h"
#include "job_env.h"
#include "run_folders.h"
#include "runid.h"
#include "text.h"

/* Variables the planner adds after the user's (see plan.h). */
#define N_RUN_VARS 11

/* Enough for any uint64_t in decimal, with the NUL. */
#define U64_TEXT 21

/* A user's value shown in a message is cut after 64 bytes of plain text:
 * the quotes, the 64 bytes, "..." and the NUL. */
#define QUOTE_BUF 70

/* What the checks decide and the builder uses. */
struct layout {
	const struct aml_target *target;
	const char *run_id;
	uint32_t nodes;
	uint32_t num_tasks;
	uint16_t ntasks_per_node;
	uint32_t time_limit;
	uint64_t deadline;      /* seconds: the run's limit, after defaults */
};

/* ---- small helpers ---- */

/* [s] quoted for a message (text.h), or "(none)". */
static const char *quote(const char *s, char buf[QUOTE_BUF])
{
	return s ? aml_text_quote(s, strlen(s), buf, QUOTE_BUF) : "(none)";
}

/* "s" for a count that takes a plural noun. */
static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* [s] is in [list]; [fold_case] for names Slurm lower-cases (accounts). */
static int in_list(char *const *list, size_t n, const char *s, int fold_case)
{
	if (!list || !s)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (list[i] && (fold_case ? strcasecmp(list[i], s)
					  : strcmp(list[i], s)) == 0)
			return 1;
	return 0;
}

/*
 * [n] names joined by [sep] into a malloc'd string ("" for none); NULL
 * when memory runs out.  Only used to build error messages.
 */
static char *join_names(char *const *names, size_t n, const char *sep)
{
	size_t total = 1, at = 0, seplen = strlen(sep);
	char *out;

	for (size_t i = 0; i < n; i++)
		total += strlen(names[i] ? names[i] : "") + seplen;
	out = malloc(total);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i] ? names[i] : "";
		size_t len = strlen(name);

		if (i) {
			memcpy(out + at, sep, seplen);
			at += seplen;
		}
		memcpy(out + at, name, len);
		at += len;
	}
	out[at] = '\0';
	return out;
}

/* [v] in decimal, written at the end of [buf]; returns the start. */
static const char *u64_text(uint64_t v, char buf[U64_TEXT])
{
	char *p = buf + U64_TEXT - 1;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

/*
 * The [n] strings that follow, concatenated into one malloc'd string;
 * NULL when memory runs out.  One strlen pass and one allocation, instead
 * of asprintf's two formatting passes.
 */
static char *concat(size_t n, ...)
{
	va_list ap;
	size_t total = 1, at = 0;
	char *out;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		total += strlen(va_arg(ap, const char *));
	va_end(ap);
	out = malloc(total);
	if (!out)
		return NULL;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		const char *s = va_arg(ap, const char *);
		size_t len = strlen(s);

		memcpy(out + at, s, len);
		at += len;
	}
	va_end(ap);
	out[at] = '\0';
	return out;
}

/* ---- checks (no allocation on the success path) ---- */

static void unknown_target(const struct aml_site *site, const char *name,
			   struct aml_errors *errs)
{
	char q[QUOTE_BUF];
	char **names = NULL;
	char *list = NULL;

	if (site->n_targets == 0) {
		aml_errors_add(errs, "compute_target",
			       "unknown compute target %s; this cluster has none",
			       quote(name, q));
		return;
	}
	names = malloc(site->n_targets * sizeof(*names));
	if (names) {
		for (size_t i = 0; i < site->n_targets; i++)
			names[i] = site->targets[i].name;
		list = join_names(names, site->n_targets, ", ");
	}
	if (list)
		aml_errors_add(errs, "compute_target",
			       "unknown compute target %s; this cluster has: %s",
			       quote(name, q), list);
	else
		aml_errors_add(errs, "compute_target",
			       "unknown compute target %s", quote(name, q));
	free(list);
	free(names);
}

/*
 * The target the run goes to, or NULL (with an error).  "local" is Azure
 * ML's name for "no compute target": here the site's default.  A site that
 * defines a target literally called "local" gets it, since that is plainly
 * what the admin meant it for.
 */
static const struct aml_target *resolve_target(const struct aml_runconfig *rc,
					       const struct aml_site *site,
					       struct aml_errors *errs)
{
	const char *name = rc->compute_target;
	const struct aml_target *target;

	if (name && strcmp(name, "local") != 0) {
		target = aml_site_find_target(site, name);
		if (!target)
			unknown_target(site, name, errs);
		return target;
	}
	if (name) {
		target = aml_site_find_target(site, name);
		if (target)
			return target;
	}
	if (!site->default_target) {
		aml_errors_add(errs, "compute_target",
			       "no compute target given and this cluster has no default target");
		return NULL;
	}
	target = aml_site_find_target(site, site->default_target);
	if (!target)
		aml_errors_add(errs, "compute_target",
			       "the cluster's default compute target %s is not defined",
			       site->default_target);
	return target;
}

/*
 * AllowUsers / AllowAccounts: either list admits the submitter.  The
 * account is the one the job names; a job that names none is charged to
 * the user's default account, which only slurmctld's association tables
 * know, so it never matches and the message says to name one.  Accounts
 * compare without case, as Slurm lower-cases them; user names with it.
 */
static void check_access(const struct aml_target *target,
			 const struct aml_submitter *who,
			 struct aml_errors *errs)
{
	const char *user = who ? who->user : NULL;
	const char *account = who ? who->account : NULL;
	int has_users = target->allow_users != NULL;
	int has_accounts = target->allow_accounts != NULL;
	char *users = NULL, *accounts = NULL;
	char qu[QUOTE_BUF], qa[QUOTE_BUF];

	if (!has_users && !has_accounts)
		return;
	if (has_users &&
	    in_list(target->allow_users, target->n_allow_users, user, 0))
		return;
	if (has_accounts &&
	    in_list(target->allow_accounts, target->n_allow_accounts, account,
		    1))
		return;

	if (has_users)
		users = join_names(target->allow_users, target->n_allow_users,
				   ",");
	if (has_accounts)
		accounts = join_names(target->allow_accounts,
				      target->n_allow_accounts, ",");
	if ((has_users && !users) || (has_accounts && !accounts)) {
		aml_errors_add(errs, "compute_target",
			       "compute target %s is restricted; user %s may not use it",
			       target->name, quote(user, qu));
		goto out;
	}
	aml_errors_add(errs, "compute_target",
		       "compute target %s is restricted to %s%s%s%s%s; user %s%s%s%s",
		       target->name,
		       has_users ? "AllowUsers=" : "", has_users ? users : "",
		       has_users && has_accounts ? " or " : "",
		       has_accounts ? "AllowAccounts=" : "",
		       has_accounts ? accounts : "",
		       quote(user, qu),
		       has_accounts && account ? " with account " : "",
		       has_accounts && account ? quote(account, qa) : "",
		       has_accounts && !account
			       ? " may not use it without an allowed account (name one with --account)"
			       : " may not use it");
out:
	free(users);
	free(accounts);
}

/*
 * A total process count over what [nodes] nodes may hold at [max_ppn] each;
 * [limited_by] names the target that set the limit, NULL for Slurm's own.
 */
static void total_over_limit(struct aml_errors *errs, const char *field,
			     const char *what, uint64_t total,
			     uint32_t max_ppn, const char *limited_by,
			     uint32_t nodes)
{
	aml_errors_add(errs, field,
		       "%smust be at most %llu (%s%s%sat most %u processes per node, on %u node%s), got %llu",
		       what, (unsigned long long)max_ppn * nodes,
		       limited_by ? "compute target " : "",
		       limited_by ? limited_by : "",
		       limited_by ? " allows " : "", max_ppn, nodes,
		       plural(nodes), (unsigned long long)total);
}

/*
 * Nodes and tasks for the distribution type, within the target's limits.
 * Returns 0 and fills [out], or -1 after adding errors.
 */
static int check_layout(const struct aml_runconfig *rc,
			const struct aml_target *target, struct layout *out,
			struct aml_errors *errs)
{
	const struct aml_distributed *d = &rc->distributed;
	uint32_t nodes = rc->node_count;
	uint32_t max_nodes = AML_MAX_NODE_COUNT;
	uint32_t max_ppn = AML_PLAN_MAX_TASKS_PER_NODE;
	const char *nodes_by = NULL, *ppn_by = NULL;
	uint64_t total = 0, ppn = 0;
	int bad = 0;

	if (target && target->max_nodes != AML_SITE_UNLIMITED &&
	    target->max_nodes < max_nodes) {
		max_nodes = target->max_nodes;
		nodes_by = target->name;
	}
	if (target && target->max_processes_per_node != AML_SITE_UNLIMITED &&
	    target->max_processes_per_node < max_ppn) {
		max_ppn = target->max_processes_per_node;
		ppn_by = target->name;
	}

	if (nodes < 1 || nodes > max_nodes) {
		if (nodes_by)
			aml_errors_add(errs, "node_count",
				       "must be a whole number from 1 to %u (compute target %s allows at most %u), got %u",
				       max_nodes, nodes_by, max_nodes, nodes);
		else
			aml_errors_add(errs, "node_count",
				       "must be a whole number from 1 to %u, got %u",
				       max_nodes, nodes);
		/* Everything below is per node: no sensible check left. */
		return -1;
	}

	switch (d->type) {
	case AML_DIST_NONE:
		if (nodes != 1) {
			aml_errors_add(errs, "node_count",
				       "must be 1 without a distributed_job_config (the run is a single process; use a PyTorch or MPI configuration to start processes on several nodes), got %u",
				       nodes);
			return -1;
		}
		total = 1;
		break;

	case AML_DIST_MPI:
		ppn = d->process_count_per_node;
		total = ppn * nodes;
		if (ppn < 1 || ppn > max_ppn) {
			if (ppn_by)
				aml_errors_add(errs,
					       "distributed_job_config.process_count_per_node",
					       "must be a whole number from 1 to %u (compute target %s allows at most %u processes per node), got %llu",
					       max_ppn, ppn_by, max_ppn,
					       (unsigned long long)ppn);
			else
				aml_errors_add(errs,
					       "distributed_job_config.process_count_per_node",
					       "must be a whole number from 1 to %u, got %llu",
					       max_ppn, (unsigned long long)ppn);
			bad = 1;
		}
		break;

	case AML_DIST_PYTORCH:
		/* Form 1 gives the total; the model keeps it per node. */
		ppn = d->process_count_per_node;
		total = ppn * nodes;
		if (ppn < 1) {
			aml_errors_add(errs, "distributed_job_config.process_count",
				       "must be at least %u (one process on each node), got 0",
				       nodes);
			bad = 1;
		} else if (ppn > max_ppn) {
			total_over_limit(errs, "distributed_job_config.process_count",
					 "", total, max_ppn, ppn_by, nodes);
			bad = 1;
		}
		break;

	case AML_DIST_TENSORFLOW:
		total = (uint64_t)d->worker_count + d->parameter_server_count;
		if (d->worker_count < 1) {
			aml_errors_add(errs, "distributed_job_config.worker_count",
				       "must be at least 1, got 0");
			bad = 1;
			break;
		}
		if (total < nodes) {
			aml_errors_add(errs, "node_count",
				       "must be at most %llu for TensorFlow with %u worker%s and %u parameter server%s (every node needs at least one process), got %u",
				       (unsigned long long)total, d->worker_count,
				       plural(d->worker_count),
				       d->parameter_server_count,
				       plural(d->parameter_server_count), nodes);
			bad = 1;
			break;
		}
		/* The busiest node when Slurm spreads the tasks evenly. */
		ppn = (total + nodes - 1) / nodes;
		if (ppn > max_ppn) {
			total_over_limit(errs, "distributed_job_config.worker_count",
					 "worker_count + parameter_server_count ",
					 total, max_ppn, ppn_by, nodes);
			bad = 1;
		}
		break;

	default:
		aml_errors_add(errs, "distributed_job_config",
			       "unknown distribution type %d", (int)d->type);
		return -1;
	}

	if (!bad && total > AML_MAX_PROCESSES) {
		aml_errors_add(errs, "distributed_job_config",
			       "the run would start %llu processes; at most %u are allowed",
			       (unsigned long long)total, AML_MAX_PROCESSES);
		bad = 1;
	}
	if (bad)
		return -1;

	out->nodes = nodes;
	out->num_tasks = (uint32_t)total;
	/* Uneven TensorFlow layouts leave placement to Slurm (plan.h). */
	out->ntasks_per_node = total % nodes == 0 ? (uint16_t)(total / nodes)
						  : 0;
	return 0;
}

static uint64_t ceil_minutes(uint64_t seconds)
{
	/* Not (s + 59) / 60: that wraps for the largest values. */
	return seconds / 60 + (seconds % 60 != 0);
}

/*
 * The Slurm time limit: the run's deadline plus the finalize grace, both
 * rounded up to minutes.  A deadline the user asked for must fit the
 * target's MaxTime; Azure ML's 30-day default (max_run_duration_given 0)
 * is not a request, so it is shortened to MaxTime, as Slurm gives a job
 * without --time its partition's limit.  The sum must stay below Slurm's
 * NO_VAL and INFINITE.
 */
static int check_time(const struct aml_runconfig *rc,
		      const struct aml_site *site,
		      const struct aml_target *target, struct layout *out,
		      struct aml_errors *errs)
{
	uint64_t seconds = rc->max_run_duration_seconds;
	uint64_t grace = ceil_minutes(site->finalize_grace_seconds);
	uint64_t max_minutes = AML_PLAN_MAX_TIME_LIMIT - grace;

	if (target && target->max_time_seconds != AML_SITE_UNLIMITED64 &&
	    seconds > target->max_time_seconds) {
		char limit[32];

		if (!rc->max_run_duration_given) {
			seconds = target->max_time_seconds;
		} else {
			aml_format_slurm_time(target->max_time_seconds, limit,
					      sizeof(limit));
			aml_errors_add(errs, "max_run_duration_seconds",
				       "must be at most %llu (compute target %s allows %s), got %llu",
				       (unsigned long long)target->max_time_seconds,
				       target->name, limit,
				       (unsigned long long)seconds);
			return -1;
		}
	}
	if (seconds < 1) {
		aml_errors_add(errs, "max_run_duration_seconds",
			       "must be at least 1, got 0");
		return -1;
	}
	if (ceil_minutes(seconds) > max_minutes) {
		aml_errors_add(errs, "max_run_duration_seconds",
			       "must be at most %llu (Slurm's longest time limit, %u minutes, less FinalizeGrace), got %llu",
			       (unsigned long long)max_minutes * 60,
			       AML_PLAN_MAX_TIME_LIMIT,
			       (unsigned long long)seconds);
		return -1;
	}
	out->deadline = seconds;
	out->time_limit = (uint32_t)(ceil_minutes(seconds) + grace);
	return 0;
}

/* The run id: the configuration's own `name` first, then the caller's. */
static const char *resolve_run_id(const struct aml_runconfig *rc,
				  const char *run_id, struct aml_errors *errs)
{
	const char *id = rc->run_id ? rc->run_id : run_id;
	char q[QUOTE_BUF];

	if (!id) {
		aml_errors_add(errs, "name", "no run id was given");
		return NULL;
	}
	if (!aml_runid_is_valid(id)) {
		aml_errors_add(errs, "name",
			       "must be 1 to %d letters, digits, '_' or '-', starting with a letter or digit, got %s",
			       AML_RUNID_MAX - 1, quote(id, q));
		return NULL;
	}
	return id;
}

/*
 * The experiment goes into the job comment (which sacct prints one job per
 * line) and the environment: a control character would break both.
 */
static void check_experiment(const struct aml_runconfig *rc,
			     struct aml_errors *errs)
{
	const char *name = rc->experiment_name;
	char q[QUOTE_BUF];

	if (!name || !*name) {
		aml_errors_add(errs, "experiment_name", "must not be empty");
		return;
	}
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f) {
			aml_errors_add(errs, "experiment_name",
				       "must not contain control characters, got %s",
				       quote(name, q));
			return;
		}
	}
}

static void check_environment(const struct aml_runconfig *rc,
			      struct aml_errors *errs)
{
	aml_runconfig_check_variables(rc, "environment.environment_variables",
				      errs);
}

/* The node makes a folder of each declared output: a name that is no
 * single component could make it elsewhere. */
static void check_outputs(const struct aml_runconfig *rc,
			  struct aml_errors *errs)
{
	for (size_t i = 0; i < rc->output_names.count; i++)
		if (!aml_run_folder_name_ok(rc->output_names.items[i]))
			aml_errors_add(errs, "output_folders",
				       "must be names of 1 to %d letters, digits and '_', not starting with a digit, got \"%.300s\"",
				       AML_RUN_FOLDER_NAME_MAX,
				       rc->output_names.items[i]);
}

static void check_command(const struct aml_runconfig *rc,
			  struct aml_errors *errs)
{
	if (rc->command.count == 0 && !rc->command_line && !rc->script)
		aml_errors_add(errs, "script",
			       "no command to run: give a script or a command");
}

/* ---- building ---- */

static int build_environment(const struct aml_runconfig *rc,
			     const struct layout *l, const char *target,
			     const struct aml_env_choice *choice,
			     const char *output_dirs, struct aml_strlist *env)
{
	const struct aml_kvlist *vars = &rc->environment_variables;
	const struct aml_kvlist *site_vars =
		choice->entry ? &choice->entry->vars : NULL;
	const char *exp = rc->experiment_name;
	char nodes[U64_TEXT], seconds[U64_TEXT], tasks[U64_TEXT];
	const char *run_vars[N_RUN_VARS][2] = {
		{ AML_ENV_AZUREML_RUN_ID, l->run_id },
		{ AML_ENV_AZUREML_PROJECT, exp },
		{ AML_ENV_EXPERIMENT, exp },
		{ AML_ENV_NODE_COUNT, u64_text(l->nodes, nodes) },
		{ AML_JOBENV_RUN_ID, l->run_id },
		{ AML_ENV_COMPUTE_TARGET, target },
		{ AML_ENV_MAX_RUN_DURATION,
		  u64_text(l->deadline, seconds) },
		{ AML_ENV_PROCESS_COUNT, u64_text(l->num_tasks, tasks) },
		{ AML_ENV_DIST_TYPE, aml_dist_type_name(rc->distributed.type) },
		{ AML_ENV_SLURM_JOB_NAME, l->run_id },
		{ AML_ENV_OUTPUT_DIRS, output_dirs },
	};

	env->items = calloc(vars->count + (site_vars ? site_vars->count : 0) +
				    N_RUN_VARS + 1,
			    sizeof(char *));
	if (!env->items)
		return -1;
	for (size_t i = 0; i < vars->count; i++) {
		env->items[env->count] = aml_env_pair(vars->items[i].key,
						  vars->items[i].value);
		if (!env->items[env->count])
			return -1;
		env->count++;
	}
	/* The catalogue environment's own variables, where the run sets
	 * none of the name: a run's environment_variables win, as in Azure
	 * ML. */
	for (size_t i = 0; site_vars && i < site_vars->count; i++) {
		if (aml_kvlist_get(vars, site_vars->items[i].key))
			continue;
		env->items[env->count] = aml_env_pair(site_vars->items[i].key,
						  site_vars->items[i].value);
		if (!env->items[env->count])
			return -1;
		env->count++;
	}
	for (size_t i = 0; i < N_RUN_VARS; i++) {
		env->items[env->count] = aml_env_pair(run_vars[i][0],
						  run_vars[i][1]);
		if (!env->items[env->count])
			return -1;
		env->count++;
	}
	return 0;
}

static int build_argv(const struct aml_runconfig *rc,
		      const struct aml_env_choice *env, struct aml_strlist *argv)
{
	const char *fixed[3];
	const struct aml_strlist *rest = NULL;
	size_t n_fixed = 0;

	if (rc->command.count > 0) {
		rest = &rc->command;
	} else if (rc->command_line) {
		/* Azure ML runs a string command through bash. */
		fixed[n_fixed++] = "/bin/bash";
		fixed[n_fixed++] = "-c";
		fixed[n_fixed++] = rc->command_line;
	} else {
		fixed[n_fixed++] = env->interpreter;
		fixed[n_fixed++] = rc->script;
		rest = &rc->arguments;
	}

	argv->items = calloc(n_fixed + (rest ? rest->count : 0) + 1,
			     sizeof(char *));
	if (!argv->items)
		return -1;
	for (size_t i = 0; i < n_fixed; i++) {
		argv->items[argv->count] = strdup(fixed[i]);
		if (!argv->items[argv->count])
			return -1;
		argv->count++;
	}
	for (size_t i = 0; rest && i < rest->count; i++) {
		argv->items[argv->count] = strdup(rest->items[i] ?
						  rest->items[i] : "");
		if (!argv->items[argv->count])
			return -1;
		argv->count++;
	}
	return 0;
}

static int build_plan(const struct aml_runconfig *rc, const struct layout *l,
		      struct aml_plan *plan)
{
	const struct aml_target *t = l->target;
	char *dirs;
	int oom = 0;

	plan->run_id = aml_strdup_opt(l->run_id, &oom);
	plan->experiment_name = aml_strdup_opt(rc->experiment_name, &oom);
	plan->target = aml_strdup_opt(t->name, &oom);
	plan->job_name = aml_strdup_opt(l->run_id, &oom);
	plan->comment = concat(4, "aml run_id=", l->run_id, " experiment=",
			       rc->experiment_name);
	plan->partition = aml_strdup_opt(t->partition, &oom);
	plan->qos = aml_strdup_opt(t->qos, &oom);
	plan->account = aml_strdup_opt(t->account, &oom);
	if (t->gres) {
		plan->tres_per_node = concat(2, "gres:", t->gres);
		plan->gres = aml_strdup_opt(t->gres, &oom);
		if (!plan->tres_per_node)
			oom = 1;
	}
	plan->constraint = aml_strdup_opt(t->constraint, &oom);
	if (oom || !plan->comment)
		return -1;

	plan->min_nodes = l->nodes;
	plan->max_nodes = l->nodes;
	plan->num_tasks = l->num_tasks;
	plan->ntasks_per_node = l->ntasks_per_node;
	plan->time_limit_minutes = l->time_limit;
	plan->deadline_seconds = l->deadline;

	if (aml_run_folders_list(&rc->output_names, &plan->output_dirs) < 0)
		return -1;
	dirs = aml_run_folders_join(&plan->output_dirs);
	if (!dirs || build_environment(rc, l, t->name, &plan->env, dirs,
				       &plan->environment) < 0 ||
	    build_argv(rc, &plan->env, &plan->argv) < 0) {
		free(dirs);
		return -1;
	}
	free(dirs);
	return 0;
}

int aml_plan_from_config(const struct aml_runconfig *rc,
			 const struct aml_site *site,
			 const struct aml_submitter *who,
			 const char *run_id, struct aml_plan *plan,
			 struct aml_errors *errs)
{
	struct layout l = { 0 };
	size_t errors_before = errs->count;
	int bad = 0;

	memset(plan, 0, sizeof(*plan));

	l.target = resolve_target(rc, site, errs);
	if (l.target)
		check_access(l.target, who, errs);
	/* Limits are checked against the built-in bounds even without a
	 * target, so one run reports everything that is wrong with it. */
	if (check_layout(rc, l.target, &l, errs) < 0)
		bad = 1;
	if (check_time(rc, site, l.target, &l, errs) < 0)
		bad = 1;
	l.run_id = resolve_run_id(rc, run_id, errs);
	check_experiment(rc, errs);
	check_environment(rc, errs);
	check_outputs(rc, errs);
	check_command(rc, errs);
	if (aml_env_choose(rc, site, &plan->env, errs) < 0)
		bad = 1;

	if (bad || !l.target || !l.run_id || errs->count != errors_before ||
	    errs->out_of_memory)
		goto fail;

	if (build_plan(rc, &l, plan) < 0) {
		aml_errors_add(errs, NULL, "out of memory while planning the run");
		goto fail;
	}
	return 0;

fail:
	aml_plan_free(plan);
	return -1;
}

/* ---- sbatch options ---- */

/* " <option><value>", the value quoted; nothing when [value] is NULL. */
static void text_option(struct aml_text *t, const char *option,
			const char *value)
{
	if (!value)
		return;
	if (t->len)
		aml_text_add(t, " ", 1);
	aml_text_str(t, option);
	aml_text_shell_word(t, value);
}

char *aml_plan_sbatch_options(const struct aml_plan *plan)
{
	struct aml_text t = AML_TEXT_INIT;
	char a[U64_TEXT], b[U64_TEXT];

	text_option(&t, "-J ", plan->job_name);
	text_option(&t, "-p ", plan->partition);
	text_option(&t, "--qos=", plan->qos);
	text_option(&t, "--account=", plan->account);
	if (plan->min_nodes == plan->max_nodes) {
		text_option(&t, "-N ", u64_text(plan->min_nodes, a));
	} else {
		char range[2 * U64_TEXT];

		snprintf(range, sizeof(range), "%s-%s",
			 u64_text(plan->min_nodes, a),
			 u64_text(plan->max_nodes, b));
		text_option(&t, "-N ", range);
	}
	/* -N with --ntasks-per-node implies the task count; only an uneven
	 * layout needs -n. */
	if (plan->ntasks_per_node)
		text_option(&t, "--ntasks-per-node=",
			    u64_text(plan->ntasks_per_node, a));
	else
		text_option(&t, "-n ", u64_text(plan->num_tasks, a));
	text_option(&t, "--gres=", plan->gres);
	text_option(&t, "--constraint=", plan->constraint);
	text_option(&t, "-t ", u64_text(plan->time_limit_minutes, a));
	text_option(&t, "--comment=", plan->comment);
	return aml_text_finish(&t);
}

/* ---- JSON ---- */

static int json_string(cJSON *obj, const char *name, const char *value)
{
	if (value)
		return cJSON_AddStringToObject(obj, name, value) != NULL;
	return cJSON_AddNullToObject(obj, name) != NULL;
}

static int json_number(cJSON *obj, const char *name, uint64_t value)
{
	/* Exact: every value here is below 2^53 (time limits are bounded
	 * by AML_PLAN_MAX_TIME_LIMIT minutes). */
	return cJSON_AddNumberToObject(obj, name, (double)value) != NULL;
}

static int json_environment(cJSON *root, const struct aml_strlist *env)
{
	cJSON *obj = cJSON_AddObjectToObject(root, "environment");

	if (!obj)
		return 0;
	for (size_t i = 0; i < env->count; i++) {
		const char *item = env->items[i];
		const char *eq = strchr(item, '=');
		char *name;
		int ok;

		if (!eq) {
			if (!json_string(obj, item, ""))
				return 0;
			continue;
		}
		name = strndup(item, (size_t)(eq - item));
		if (!name)
			return 0;
		ok = json_string(obj, name, eq + 1);
		free(name);
		if (!ok)
			return 0;
	}
	return 1;
}

static int json_strlist(cJSON *root, const char *name,
			const struct aml_strlist *argv)
{
	cJSON *array = cJSON_AddArrayToObject(root, name);

	if (!array)
		return 0;
	for (size_t i = 0; i < argv->count; i++) {
		cJSON *item = cJSON_CreateString(argv->items[i]);

		if (!item)
			return 0;
		cJSON_AddItemToArray(array, item);
	}
	return 1;
}

char *aml_plan_to_json(const struct aml_plan *plan)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;

	if (!root)
		return NULL;
	if (json_string(root, "run_id", plan->run_id) &&
	    json_string(root, "experiment_name", plan->experiment_name) &&
	    json_string(root, "target", plan->target) &&
	    json_string(root, "job_name", plan->job_name) &&
	    json_string(root, "comment", plan->comment) &&
	    json_string(root, "partition", plan->partition) &&
	    json_string(root, "qos", plan->qos) &&
	    json_string(root, "account", plan->account) &&
	    json_string(root, "tres_per_node", plan->tres_per_node) &&
	    json_string(root, "gres", plan->gres) &&
	    json_string(root, "constraint", plan->constraint) &&
	    json_number(root, "min_nodes", plan->min_nodes) &&
	    json_number(root, "max_nodes", plan->max_nodes) &&
	    json_number(root, "num_tasks", plan->num_tasks) &&
	    json_number(root, "ntasks_per_node", plan->ntasks_per_node) &&
	    json_number(root, "time_limit_minutes",
			plan->time_limit_minutes) &&
	    json_number(root, "deadline_seconds", plan->deadline_seconds) &&
	    json_environment(root, &plan->environment) &&
	    json_strlist(root, "argv", &plan->argv) &&
	    json_strlist(root, "output_dirs", &plan->output_dirs) &&
	    json_string(root, "environment_kind",
			aml_env_kind_name(plan->env.kind)) &&
	    json_string(root, "environment_label", plan->env.label) &&
	    json_string(root, "environment_spec", plan->env.spec))
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

/* ---- freeing ---- */

void aml_plan_free(struct aml_plan *plan)
{
	if (!plan)
		return;
	free(plan->run_id);
	free(plan->experiment_name);
	free(plan->target);
	free(plan->job_name);
	free(plan->comment);
	free(plan->partition);
	free(plan->qos);
	free(plan->account);
	free(plan->tres_per_node);
	free(plan->gres);
	free(plan->constraint);
	aml_strlist_free(&plan->environment);
	aml_strlist_free(&plan->argv);
	aml_strlist_free(&plan->output_dirs);
	aml_env_choice_free(&plan->env);
	memset(plan, 0, sizeof(*plan));
}
