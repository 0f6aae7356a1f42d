/*
 * admission.c: the controller's decision about a submitted job (contract in
 * admission.h).
 *
 * Everything here runs in slurmctld with its locks held, for every job
 * submitted to the cluster, AML or not: a job without any of our variables
 * costs one pass over its SPANK environment and nothing else.
 */
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
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
			       aml_text_quote(v->value[VAR_RUN_ID], strlen(v->value[VAR_RUN_ID]), buf, sizeof(buf)));

	if (!v->value[VAR_SNAPSHOT])
		aml_errors_add(errs, NULL, "%s is missing",
			       AML_JOBENV_SNAPSHOT);
	else if (!aml_sha256_is_hex(v->value[VAR_SNAPSHOT]))
		aml_errors_add(errs, NULL,
			       "%s must be %d lower-case hex digits, got %s",
			       AML_JOBENV_SNAPSHOT, AML_SHA256_HEX_LEN,
			       aml_text_quote(v->value[VAR_SNAPSHOT], strlen(v->value[VAR_SNAPSHOT]), buf, sizeof(buf)));

	if (!v->value[VAR_LAUNCHER])
		aml_errors_add(errs, NULL, "%s is missing",
			       AML_JOBENV_LAUNCHER);
	else if (strcmp(v->value[VAR_LAUNCHER], "0") != 0 &&
		 strcmp(v->value[VAR_LAUNCHER], "1") != 0)
		aml_errors_add(errs, NULL, "%s must be 0 or 1, got %s",
			       AML_JOBENV_LAUNCHER,
			       aml_text_quote(v->value[VAR_LAUNCHER], strlen(v->value[VAR_LAUNCHER]), buf, sizeof(buf)));

	if (v->value[VAR_MLFLOW_RUN_ID] &&
	    !aml_runid_is_tracking_id(v->value[VAR_MLFLOW_RUN_ID]))
		aml_errors_add(errs, NULL,
			       "%s must be a tracking server's run id (32 hex digits, or a GUID), got %s",
			       AML_JOBENV_MLFLOW_RUN_ID,
			       aml_text_quote(v->value[VAR_MLFLOW_RUN_ID], strlen(v->value[VAR_MLFLOW_RUN_ID]), buf, sizeof(buf)));
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
		  struct aml_admission *d, struct aml_errors *errs)
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

int aml_admission_decide(char *const *spank_env, size_t n,
			 const struct aml_site *site,
			 const struct aml_submitter *who,
			 struct aml_admission *d, char *errbuf,
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
		aml_admission_free(d);
	}
	aml_errors_free(&errs);
	d->is_aml = 1;
	return rc;
}

void aml_admission_free(struct aml_admission *d)
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

int aml_admission_spank_kept(const char *entry)
{
	size_t n = strcspn(entry, "=");

	for (size_t i = 0; i < sizeof(controller_only) /
				   sizeof(*controller_only); i++)
		if (strlen(controller_only[i]) == n &&
		    !strncmp(entry, controller_only[i], n))
			return 0;
	return 1;
}

char *aml_admission_launcher_script(const struct aml_admission *d,
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
