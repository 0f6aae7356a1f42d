/*
 * submit.c: the controller's decision about a submitted job (contract in
 * submit.h).
 *
 * Everything here runs in slurmctld with its locks held, for every job
 * submitted to the cluster, AML or not: a job without any of our variables
 * costs one pass over its SPANK environment and nothing else.
 */
#include "submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "conf_values.h"
#include "job_env.h"
#include "runid.h"
#include "text.h"

/* The file name messages start with when the option does not give a
 * usable one (a forged job, or an option value we would not print). */
#define DEFAULT_FILE "run.json"
/* A longer option value is not worth repeating on every error line. */
#define MAX_SHOWN_FILE 200
/* A user's value shown in a message: escaped, cut, in double quotes. */
#define SHOWN_VALUE 96

enum job_var {
	VAR_CONFIG,
	VAR_RUN_ID,
	VAR_SNAPSHOT,
	VAR_LAUNCHER,
	VAR_MLFLOW_RUN_ID,
	VAR_OPTION,
	N_VARS
};

static const char *const var_names[N_VARS] = {
	[VAR_CONFIG] = AML_JOBENV_CONFIG,
	[VAR_RUN_ID] = AML_JOBENV_RUN_ID,
	[VAR_SNAPSHOT] = AML_JOBENV_SNAPSHOT,
	[VAR_LAUNCHER] = AML_JOBENV_LAUNCHER,
	[VAR_MLFLOW_RUN_ID] = AML_JOBENV_MLFLOW_RUN_ID,
	[VAR_OPTION] = AML_JOBENV_OPTION,
};

struct job_vars {
	const char *value[N_VARS];  /* NULL when absent */
	int count[N_VARS];
	int any;
};

static void find_vars(char *const *env, size_t n, struct job_vars *v)
{
	memset(v, 0, sizeof(*v));
	if (!env)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *entry = env[i];

		/* slurmctld checks the count against the array, but an
		 * entry that is not there is still no reason to crash. */
		if (!entry)
			continue;
		for (int k = 0; k < N_VARS; k++) {
			size_t len = strlen(var_names[k]);

			if (strncmp(entry, var_names[k], len) != 0 ||
			    entry[len] != '=')
				continue;
			/* The first value is kept for messages; a second one
			 * refuses the job anyway (see check_vars). */
			if (!v->value[k])
				v->value[k] = entry + len + 1;
			v->count[k]++;
			v->any = 1;
			break;
		}
	}
}

/* [s] for a message: escaped (a forged value must not forge a second
 * line in the user's terminal or slurmctld's log), cut, quoted. */
static const char *shown(const char *s, char buf[SHOWN_VALUE])
{
	size_t n;

	buf[0] = '"';
	aml_text_escape(s, buf + 1, SHOWN_VALUE - 2);
	n = strlen(buf);
	buf[n] = '"';
	buf[n + 1] = '\0';
	return buf;
}

/*
 * The name the user gave --aml-run, which sbatch's side of the plugin
 * parsed under that name: messages then name the user's own file
 * ("exp/run.yml: node_count: ...").  The value is the client's word, so
 * only a plain printable one is used.
 */
static const char *file_name(const char *option)
{
	size_t n;

	if (!option || !*option)
		return DEFAULT_FILE;
	for (n = 0; option[n]; n++) {
		unsigned char c = (unsigned char)option[n];

		if (n >= MAX_SHOWN_FILE || c < 0x20 || c == 0x7f)
			return DEFAULT_FILE;
	}
	return option;
}

/*
 * What the SPANK plugin adds besides the configuration.  These are set
 * by the plugin, not written by the user, so a problem here means a
 * forged submission or a mismatched plugin: it is reported on its own,
 * before the configuration is looked at.
 */
static void check_vars(const struct job_vars *v, struct aml_errors *errs)
{
	char buf[SHOWN_VALUE];

	for (int k = 0; k < N_VARS; k++)
		if (v->count[k] > 1)
			aml_errors_add(errs, NULL,
				       "%s is set %d times in the job's SPANK environment; it must be set once",
				       var_names[k], v->count[k]);
	if (aml_errors_any(errs))
		return;

	if (!v->value[VAR_CONFIG]) {
		if (v->value[VAR_OPTION])
			aml_errors_add(errs, NULL,
				       "sbatch --aml-run needs the slurm-aml SPANK plugin on the submit host (plugstack.conf)");
		else
			aml_errors_add(errs, NULL,
				       "the job carries slurm-aml variables but no %s: submit runs with sbatch --aml-run",
				       AML_JOBENV_CONFIG);
		return;
	}

	if (!v->value[VAR_RUN_ID])
		aml_errors_add(errs, NULL, "%s is missing", AML_JOBENV_RUN_ID);
	else if (!aml_runid_is_valid(v->value[VAR_RUN_ID]))
		aml_errors_add(errs, NULL,
			       "%s must be 1 to %d letters, digits, '_' or '-', starting with a letter or digit, got %s",
			       AML_JOBENV_RUN_ID, AML_RUNID_MAX - 1,
			       shown(v->value[VAR_RUN_ID], buf));

	if (!v->value[VAR_SNAPSHOT])
		aml_errors_add(errs, NULL, "%s is missing",
			       AML_JOBENV_SNAPSHOT);
	else if (!aml_sha256_is_hex(v->value[VAR_SNAPSHOT]))
		aml_errors_add(errs, NULL,
			       "%s must be %d lower-case hex digits, got %s",
			       AML_JOBENV_SNAPSHOT, AML_SHA256_HEX_LEN,
			       shown(v->value[VAR_SNAPSHOT], buf));

	if (!v->value[VAR_LAUNCHER])
		aml_errors_add(errs, NULL, "%s is missing",
			       AML_JOBENV_LAUNCHER);
	else if (strcmp(v->value[VAR_LAUNCHER], "0") != 0 &&
		 strcmp(v->value[VAR_LAUNCHER], "1") != 0)
		aml_errors_add(errs, NULL, "%s must be 0 or 1, got %s",
			       AML_JOBENV_LAUNCHER,
			       shown(v->value[VAR_LAUNCHER], buf));

	if (v->value[VAR_MLFLOW_RUN_ID] &&
	    !aml_runid_is_tracking_id(v->value[VAR_MLFLOW_RUN_ID]))
		aml_errors_add(errs, NULL,
			       "%s must be a tracking server's run id (32 hex digits, or a GUID), got %s",
			       AML_JOBENV_MLFLOW_RUN_ID,
			       shown(v->value[VAR_MLFLOW_RUN_ID], buf));
}

/*
 * Every line of [errs] into [errbuf], joined by "; ": sbatch prints the
 * reason as one line.  Control characters still in a line (a parser
 * message quoting a forged key) become \xNN, and a reason that does not
 * fit ends in "...".
 */
static void join_errors(const struct aml_errors *errs, char *errbuf,
			size_t errlen)
{
	struct aml_text t = AML_TEXT_INIT;
	char *joined;
	int n;

	/* Past [errlen] the reason is cut anyway: a configuration with
	 * thousands of bad variables is not worth joining whole. */
	for (size_t i = 0; i < errs->count && t.len < errlen; i++) {
		if (i)
			aml_text_str(&t, "; ");
		for (const char *p = errs->lines[i]; *p; p++) {
			unsigned char c = (unsigned char)*p;
			char hex[5];

			if (c < 0x20 || c == 0x7f) {
				snprintf(hex, sizeof(hex), "\\x%02x", c);
				aml_text_str(&t, hex);
			} else {
				aml_text_add(&t, p, 1);
			}
		}
	}
	joined = aml_text_finish(&t);
	if (!joined || !*joined)
		n = snprintf(errbuf, errlen, "%s",
			     errs->out_of_memory || errs->count
				     ? "slurm-aml: out of memory while checking the run"
				     : "slurm-aml: the run was refused");
	else
		n = snprintf(errbuf, errlen, "%s", joined);
	free(joined);
	if (n >= 0 && (size_t)n >= errlen && errlen > 4)
		memcpy(errbuf + errlen - 4, "...", 4);
}

/* "NAME=value" (AML_SNAPSHOT_ID, AML_MLFLOW_RUN_ID) at the end of the
 * plan's environment, which stays NULL-terminated. */
static int add_env_var(struct aml_plan *plan, const char *name,
		       const char *value)
{
	struct aml_strlist *env = &plan->environment;
	size_t len = strlen(name) + 1 + strlen(value) + 1;
	char **items = realloc(env->items, (env->count + 2) * sizeof(*items));
	char *pair;

	if (!items)
		return -1;
	env->items = items;
	pair = malloc(len);
	if (!pair)
		return -1;
	snprintf(pair, len, "%s=%s", name, value);
	items[env->count++] = pair;
	items[env->count] = NULL;
	return 0;
}

/*
 * " mlflow_run_id=<id>" into the job's comment right after the run id
 * ("aml run_id=<id> mlflow_run_id=<id> experiment=..."): a fixed place in
 * the controller's own text, where the finalizer reads it (slurm_text.h),
 * whatever words the user's own fields of the job (Comment, WorkDir) may
 * spell elsewhere in scontrol's line.
 */
static int add_tracking_word(struct aml_plan *plan, const char *run_id,
			     const char *tracking_id)
{
	size_t head = strlen("aml run_id=") + strlen(run_id);
	char *comment;

	if (!plan->comment || strlen(plan->comment) < head ||
	    asprintf(&comment, "%.*s mlflow_run_id=%s%s", (int)head,
		     plan->comment, tracking_id, plan->comment + head) < 0)
		return -1;
	free(plan->comment);
	plan->comment = comment;
	return 0;
}

static char *make_summary(const struct aml_plan *p)
{
	char *s = NULL;
	int n;

	if (p->ntasks_per_node)
		n = asprintf(&s,
			     "run %s: compute target %s, %u node%s x %u task%s per node, time limit %u min",
			     p->run_id, p->target, p->min_nodes,
			     p->min_nodes == 1 ? "" : "s",
			     (unsigned)p->ntasks_per_node,
			     p->ntasks_per_node == 1 ? "" : "s",
			     p->time_limit_minutes);
	else
		n = asprintf(&s,
			     "run %s: compute target %s, %u node%s, %u task%s, time limit %u min",
			     p->run_id, p->target, p->min_nodes,
			     p->min_nodes == 1 ? "" : "s", p->num_tasks,
			     p->num_tasks == 1 ? "" : "s",
			     p->time_limit_minutes);
	return n < 0 ? NULL : s;
}

/* The plan and the rest of the decision, for a job whose variables
 * passed check_vars.  Problems go to [errs]; returns 0 or -1. */
static int decide(const struct job_vars *v, const struct aml_site *site,
		  const struct aml_submitter *who,
		  struct aml_submit_decision *d, struct aml_errors *errs)
{
	const char *config = v->value[VAR_CONFIG];
	const char *run_id = v->value[VAR_RUN_ID];
	struct aml_runconfig rc;
	/* The parser refuses a text over MaxConfigSize on its length
	 * before reading it: a forged value can be as long as Slurm's
	 * messages allow, and counting its bytes costs less than Slurm's
	 * own copy of it. */
	size_t len = strlen(config);

	/* No base directory: the canonical form has an absolute source
	 * directory, and the controller must not resolve a relative one
	 * against its own working directory. */
	if (aml_runconfig_parse(config, len, file_name(v->value[VAR_OPTION]),
				NULL, NULL, &site->limits, &rc, errs) < 0)
		return -1;
	if (aml_plan_from_config(&rc, site, who, run_id, &d->plan, errs) < 0) {
		aml_runconfig_free(&rc);
		return -1;
	}
	/* sbatch created the run in history under AML_RUN_ID before
	 * submitting; a job under another id would report to a run nobody
	 * is looking at. */
	if (strcmp(d->plan.run_id, run_id) != 0) {
		aml_errors_add(errs,
			       rc.form == AML_FORM_COMMAND_JOB ? "name"
							       : "run_id",
			       "the configuration names run \"%s\" but the job was submitted for run \"%s\" (%s)",
			       d->plan.run_id, run_id, AML_JOBENV_RUN_ID);
		aml_runconfig_free(&rc);
		return -1;
	}
	aml_runconfig_free(&rc);

	d->snapshot_id = strdup(v->value[VAR_SNAPSHOT]);
	d->node_config = aml_env_pair(AML_ENV_NODE_CONFIG, config);
	d->spank_experiment = aml_env_pair(AML_JOBENV_EXPERIMENT,
					   d->plan.experiment_name);
	if (!d->snapshot_id || !d->node_config || !d->spank_experiment ||
	    add_env_var(&d->plan, AML_JOBENV_SNAPSHOT,
			v->value[VAR_SNAPSHOT]) < 0 ||
	    (v->value[VAR_MLFLOW_RUN_ID] &&
	     (add_env_var(&d->plan, AML_JOBENV_MLFLOW_RUN_ID,
			  v->value[VAR_MLFLOW_RUN_ID]) < 0 ||
	      add_tracking_word(&d->plan, run_id,
				v->value[VAR_MLFLOW_RUN_ID]) < 0)) ||
	    !(d->summary = make_summary(&d->plan))) {
		aml_errors_add(errs, NULL, "out of memory while planning the run");
		return -1;
	}
	d->replace_script = strcmp(v->value[VAR_LAUNCHER], "1") == 0;
	return 0;
}

int aml_submit_decide(char *const *spank_env, size_t n,
		      const struct aml_site *site,
		      const struct aml_submitter *who,
		      struct aml_submit_decision *d, char *errbuf,
		      size_t errlen)
{
	struct job_vars v;
	struct aml_errors errs;
	int rc;

	memset(d, 0, sizeof(*d));
	if (errbuf && errlen)
		errbuf[0] = '\0';
	find_vars(spank_env, n, &v);
	if (!v.any)
		return 0;

	aml_errors_init(&errs, NULL);
	check_vars(&v, &errs);
	if (aml_errors_any(&errs)) {
		rc = -1;
	} else {
		/* The configuration's problems are the user's: they name
		 * the file, as sbatch's own check does. */
		aml_errors_free(&errs);
		aml_errors_init(&errs, file_name(v.value[VAR_OPTION]));
		rc = decide(&v, site, who, d, &errs);
	}
	if (rc < 0) {
		if (errbuf && errlen)
			join_errors(&errs, errbuf, errlen);
		aml_submit_decision_free(d);
	}
	aml_errors_free(&errs);
	d->is_aml = 1;
	return rc;
}

void aml_submit_decision_free(struct aml_submit_decision *d)
{
	if (!d)
		return;
	aml_plan_free(&d->plan);
	free(d->snapshot_id);
	free(d->node_config);
	free(d->spank_experiment);
	free(d->summary);
	memset(d, 0, sizeof(*d));
}

/* The variables of a job's SPANK environment that the controller alone
 * reads (the configuration, the snapshot id, the launcher flag) or alone
 * writes (the experiment). */
static const char *const controller_only[] = {
	AML_JOBENV_CONFIG,
	AML_JOBENV_SNAPSHOT,
	AML_JOBENV_LAUNCHER,
	AML_JOBENV_EXPERIMENT,
};

int aml_submit_spank_kept(const char *entry)
{
	size_t n = strcspn(entry, "=");

	for (size_t i = 0; i < sizeof(controller_only) /
				   sizeof(*controller_only); i++)
		if (strlen(controller_only[i]) == n &&
		    !strncmp(entry, controller_only[i], n))
			return 0;
	return 1;
}

/* The length of the name in "NAME=value" (all of it without '='). */
static size_t env_name_length(const char *entry)
{
	return strcspn(entry, "=");
}

/* qsort has no context argument: the items ride along in each element. */
struct env_sort_item {
	const char *entry;
	size_t index;
};

static int env_sort_cmp(const void *pa, const void *pb)
{
	const struct env_sort_item *a = pa, *b = pb;

	return aml_compare_n(a->entry, env_name_length(a->entry),
				 b->entry, env_name_length(b->entry));
}

int aml_env_index_init(struct aml_env_index *ix,
		       const struct aml_strlist *vars)
{
	struct env_sort_item *tmp;

	memset(ix, 0, sizeof(*ix));
	ix->items = vars->items;
	if (vars->count == 0)
		return 0;
	tmp = calloc(vars->count, sizeof(*tmp));
	ix->order = calloc(vars->count, sizeof(*ix->order));
	if (!tmp || !ix->order) {
		free(tmp);
		free(ix->order);
		ix->order = NULL;
		return -1;
	}
	for (size_t i = 0; i < vars->count; i++)
		tmp[i] = (struct env_sort_item){ vars->items[i], i };
	qsort(tmp, vars->count, sizeof(*tmp), env_sort_cmp);
	for (size_t i = 0; i < vars->count; i++)
		ix->order[i] = tmp[i].index;
	ix->count = vars->count;
	free(tmp);
	return 0;
}

long aml_env_index_find(const struct aml_env_index *ix, const char *entry)
{
	size_t len = env_name_length(entry), lo = 0, hi = ix->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *item = ix->items[ix->order[mid]];
		int c = aml_compare_n(entry, len, item,
					  env_name_length(item));

		if (c == 0)
			return (long)ix->order[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

void aml_env_index_free(struct aml_env_index *ix)
{
	free(ix->order);
	memset(ix, 0, sizeof(*ix));
}

char *aml_submit_launcher_script(const struct aml_submit_decision *d,
				 const char *launcher)
{
	struct aml_text t = AML_TEXT_INIT;

	if (!d || !d->plan.run_id || !launcher)
		return NULL;
	aml_text_str(&t, "#!/bin/sh\n# slurm-aml: the launcher of run ");
	/* A valid run id is only [A-Za-z0-9_-]: it cannot end the comment
	 * line early. */
	aml_text_str(&t, d->plan.run_id);
	aml_text_str(&t, "\nexec ");
	aml_text_shell_word(&t, launcher);
	aml_text_str(&t, "\n");
	return aml_text_finish(&t);
}

char *aml_submit_admin_comment(const struct aml_plan *plan)
{
	char *text;

	if (!plan || !plan->comment || !plan->target ||
	    asprintf(&text, "%s target=%s nodes=%u tasks=%u tpn=%u",
		     plan->comment, plan->target, plan->min_nodes,
		     plan->num_tasks, (unsigned)plan->ntasks_per_node) < 0)
		return NULL;
	return text;
}

/* The value of " key=" in an admin comment we wrote (words without
 * blanks: run ids, experiment and target names, numbers). */
static int comment_word(const char *comment, const char *key, char *buf,
			size_t len)
{
	size_t klen = strlen(key), n;
	const char *p = comment;

	while ((p = strstr(p, key))) {
		if ((p == comment || p[-1] == ' ') && p[klen] == '=')
			break;
		p += klen;
	}
	if (!p)
		return -1;
	p += klen + 1;
	n = strcspn(p, " ");
	if (n == 0 || n >= len)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

/* A number of the admin comment; -1 when absent (a job submitted before
 * the plugin wrote it) or not a plain decimal. */
static int comment_number(const char *comment, const char *key,
			  uint32_t *out)
{
	char word[16], *end;
	unsigned long v;

	if (comment_word(comment, key, word, sizeof(word)) < 0 ||
	    word[0] < '0' || word[0] > '9')
		return -1;
	v = strtoul(word, &end, 10);
	if (*end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int aml_submit_admin_run_id(const char *admin_comment, char *buf, size_t len)
{
	if (!admin_comment || strncmp(admin_comment, "aml run_id=", 11) ||
	    comment_word(admin_comment, "run_id", buf, len) < 0 ||
	    !aml_runid_is_valid(buf))
		return -1;
	return 0;
}

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
		if (comment_number(admin_comment, "nodes", &planned) == 0 &&
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
			 shown(u->account, buf));
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
				 shown(u->features, buf));
		else
			aml_fail(errbuf, errlen, "run %s: Features: compute "
				 "target %s sets no Constraint, so a run may "
				 "not ask for node features, asked %s", run_id,
				 t->name, shown(u->features, buf));
		return AML_UPDATE_FEATURES;
	}
	if (u->batch_features && *u->batch_features) {
		aml_fail(errbuf, errlen, "run %s: BatchFeatures: would bring a "
			 "node with features %s into the job, past compute "
			 "target %s", run_id, shown(u->batch_features, buf),
			 t->name);
		return AML_UPDATE_FEATURES;
	}
	if (u->tres_per_node && !is_target_gres(t, u->tres_per_node)) {
		if (t->gres)
			aml_fail(errbuf, errlen, "run %s: Gres: compute target "
				 "%s gives gres %s per node only, asked %s",
				 run_id, t->name, t->gres,
				 shown(u->tres_per_node, buf));
		else
			aml_fail(errbuf, errlen, "run %s: Gres: compute target "
				 "%s has no Gres, asked %s", run_id, t->name,
				 shown(u->tres_per_node, buf));
		return AML_UPDATE_GRES;
	}
	if ((name = foreign_tres(u, &value))) {
		aml_fail(errbuf, errlen, "run %s: %s: a run gets its devices "
			 "per node from compute target %s (Gres), asked %s",
			 run_id, name, t->name, shown(value, buf));
		return AML_UPDATE_GRES;
	}
	if (u->req_nodes && *u->req_nodes) {
		aml_fail(errbuf, errlen, "run %s: NodeList: a run's nodes are "
			 "chosen within compute target %s; asked for %s",
			 run_id, t->name, shown(u->req_nodes, buf));
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
	    comment_number(admin_comment, "tasks", &tasks) < 0) {
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
	    (comment_number(admin_comment, "tpn", &tpn) < 0 || tpn == 0 ||
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

enum aml_update_verdict aml_submit_check_update(const struct aml_site *site,
						const char *admin_comment,
						const struct aml_job_update *u,
						char *errbuf, size_t errlen)
{
	char run_id[AML_RUNID_MAX], name[256];
	const struct aml_target *t;
	enum aml_update_verdict v;

	if (aml_submit_admin_run_id(admin_comment, run_id, sizeof(run_id)) < 0)
		return AML_UPDATE_OK;
	/* Holding, releasing, renaming: nothing the target limits. */
	if (!touches_target(u))
		return AML_UPDATE_OK;
	if (comment_word(admin_comment, "target", name, sizeof(name)) < 0 ||
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
