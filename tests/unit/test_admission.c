/*
 * test_admission.c: the controller's decision (plugin/admission.c).
 *
 * Jobs are described the way slurmctld hands them over: an array of
 * "NAME=value" SPANK variables.  The configuration in AML_CONFIG is made
 * by the real parser and encoder from a run.json text, as sbatch's side
 * does, and the site by the real aml.conf parser, so a change of the
 * canonical form or of the planner's messages shows up here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_comment.h"
#include "admission.h"
#include "runid.h"

#define RUN_ID "hello_1700000000_0a1b2c3d"
#define SNAPSHOT \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OPTION_VAR AML_JOBENV_OPTION "=run.json"
#define MAX_ENV 16

static const char site_text[] =
	"DefaultTarget=cpu\n"
	"FinalizeGrace=120\n"
	"ComputeTarget=cpu Partition=debug MaxNodes=2 MaxTime=1:00:00\n"
	"ComputeTarget=gpu Partition=gpu QOS=high Account=ml Gres=gpu:4 \\\n"
	"    Constraint=a100 MaxNodes=4 MaxProcessesPerNode=4 AllowUsers=carol\n";

/* PyTorch, 2 nodes x 2 processes, 15 minutes: the usual run. */
static const char ddp_json[] =
	"{\"experiment_name\": \"hello\", \"script\": \"train.py\","
	" \"arguments\": [\"--lr\", 0.1], \"compute_target\": \"cpu\","
	" \"distributed_job_config\": {\"type\": \"pytorch\","
	"  \"process_count\": 4, \"node_count\": 2},"
	" \"max_run_duration_seconds\": 900,"
	" \"environment\": {\"environment_variables\": {\"COLOUR\": \"blue\"}}}";

struct fixture {
	struct aml_site site;
	struct aml_submitter who;
	char *config_var;        /* "AML_CONFIG=<canonical>" */
	char *env[MAX_ENV];      /* the job's SPANK environment */
	size_t n;
	char *owned[MAX_ENV];    /* entries to free */
	size_t n_owned;
	struct aml_admission d;
	char err[2048];
};

/* ---- helpers ---- */

/* The canonical form of [text], as sbatch's plugin makes it: parsed
 * relative to the user's project and encoded. */
static char *canonical(const char *text)
{
	struct aml_runconfig rc;
	struct aml_errors errs;
	char *out;

	aml_errors_init(&errs, "run.json");
	if (aml_runconfig_parse(text, strlen(text), "run.json",
				"/home/alice/proj", NULL, NULL, &rc, &errs) < 0) {
		for (size_t i = 0; i < errs.count; i++)
			fprintf(stderr, "  error: %s\n", errs.lines[i]);
		fail_msg("the test's run.json does not parse");
	}
	aml_errors_free(&errs);
	out = aml_runconfig_encode(&rc);
	aml_runconfig_free(&rc);
	assert_non_null(out);
	return out;
}

static char *config_var(const char *canonical_json)
{
	char *var = NULL;

	assert_true(asprintf(&var, "%s=%s", AML_JOBENV_CONFIG,
			     canonical_json) > 0);
	return var;
}

/* Add an entry; [owned] entries are freed by teardown. */
static void add_env(struct fixture *f, char *entry, int owned)
{
	assert_true(f->n < MAX_ENV);
	f->env[f->n++] = entry;
	if (owned)
		f->owned[f->n_owned++] = entry;
}

/* What sbatch with the SPANK plugin sends, around [config] (owned). */
static void add_run_vars(struct fixture *f, char *config)
{
	add_env(f, "SLURM_SOMETHING=1", 0);
	add_env(f, OPTION_VAR, 0);
	add_env(f, config, 1);
	add_env(f, AML_JOBENV_RUN_ID "=" RUN_ID, 0);
	add_env(f, AML_JOBENV_SNAPSHOT "=" SNAPSHOT, 0);
	add_env(f, AML_JOBENV_LAUNCHER "=1", 0);
}

/* A job for the run described by [json] (any form). */
static void job_for(struct fixture *f, const char *json)
{
	char *c = canonical(json);

	add_run_vars(f, config_var(c));
	free(c);
}

/* Replace the value of NAME (an unowned entry) by [entry]. */
static void set_var(struct fixture *f, const char *name, char *entry)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < f->n; i++)
		if (strncmp(f->env[i], name, len) == 0 &&
		    f->env[i][len] == '=') {
			f->env[i] = entry;
			return;
		}
	fail_msg("no %s in the job", name);
}

static int decide(struct fixture *f)
{
	return aml_admission_decide(f->env, f->n, &f->site, &f->who, &f->d,
				    f->err, sizeof(f->err));
}

static void decide_ok(struct fixture *f)
{
	int rc = decide(f);

	if (rc != 0)
		fprintf(stderr, "  refused: %s\n", f->err);
	assert_int_equal(rc, 0);
	assert_int_equal(f->d.is_aml, 1);
}

/* Refused with exactly [reason], and nothing left in the decision. */
static void refused_with(struct fixture *f, const char *reason)
{
	assert_int_equal(decide(f), -1);
	assert_string_equal(f->err, reason);
	assert_null(f->d.plan.run_id);
	assert_null(f->d.plan.environment.items);
	assert_null(f->d.summary);
	assert_null(f->d.snapshot_id);
}

static const char *env_at(const struct aml_plan *p, size_t i)
{
	assert_true(i < p->environment.count);
	return p->environment.items[i];
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct aml_errors errs;

	if (!f)
		return -1;
	aml_errors_init(&errs, "aml.conf");
	if (aml_site_parse(site_text, strlen(site_text), "aml.conf", &f->site,
			   &errs) < 0) {
		for (size_t i = 0; i < errs.count; i++)
			fprintf(stderr, "  error: %s\n", errs.lines[i]);
		aml_errors_free(&errs);
		free(f);
		return -1;
	}
	aml_errors_free(&errs);
	f->who.user = "alice";
	f->who.account = NULL;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_admission_free(&f->d);
	for (size_t i = 0; i < f->n_owned; i++)
		free(f->owned[i]);
	aml_site_free(&f->site);
	free(f);
	return 0;
}

/* ---- not AML ---- */

static void test_no_env_is_not_aml(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(aml_admission_decide(NULL, 0, &f->site, &f->who, &f->d,
					      f->err, sizeof(f->err)),
			 0);
	assert_int_equal(f->d.is_aml, 0);
	assert_string_equal(f->err, "");
}

/* Names that merely start or end like ours are someone else's. */
static void test_other_vars_are_not_aml(void **state)
{
	struct fixture *f = *state;

	add_env(f, "SLURM_SOMETHING=1", 0);
	add_env(f, "AML_CONFIGX={}", 0);
	add_env(f, "XAML_CONFIG={}", 0);
	add_env(f, "AML_RUN_ID", 0);
	add_env(f, "_SLURM_SPANK_OPTION_aml_aml_run_x=run.json", 0);
	add_env(f, "_SLURM_SPANK_OPTION_pyxis_container_image=x", 0);
	assert_int_equal(decide(f), 0);
	assert_int_equal(f->d.is_aml, 0);
	assert_null(f->d.plan.run_id);
	assert_null(f->d.summary);
}

/* ---- the SPANK side missing or forged ---- */

static void test_option_without_config_refused(void **state)
{
	struct fixture *f = *state;

	add_env(f, "SLURM_SOMETHING=1", 0);
	add_env(f, OPTION_VAR, 0);
	refused_with(f, "sbatch --aml-run needs the slurm-aml SPANK plugin on the submit host (plugstack.conf)");
	assert_int_equal(f->d.is_aml, 1);
}

static void test_vars_without_config_refused(void **state)
{
	struct fixture *f = *state;

	add_env(f, AML_JOBENV_RUN_ID "=" RUN_ID, 0);
	refused_with(f, "the job carries slurm-aml variables but no AML_CONFIG: submit runs with sbatch --aml-run");
}

static void test_duplicate_config_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	add_env(f, "AML_CONFIG={\"script\":\"evil.py\"}", 0);
	refused_with(f, "AML_CONFIG is set 2 times in the job's SPANK environment; it must be set once");
}

static void test_duplicate_of_each_var_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	add_env(f, AML_JOBENV_RUN_ID "=other_1", 0);
	add_env(f, AML_JOBENV_LAUNCHER "=0", 0);
	add_env(f, OPTION_VAR, 0);
	refused_with(f,
		     "AML_RUN_ID is set 2 times in the job's SPANK environment; it must be set once; "
		     "AML_LAUNCHER is set 2 times in the job's SPANK environment; it must be set once; "
		     "_SLURM_SPANK_OPTION_aml_aml_run is set 2 times in the job's SPANK environment; it must be set once");
}

static void test_bad_snapshot_id_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	/* Upper case is not what the store writes. */
	set_var(f, AML_JOBENV_SNAPSHOT,
		AML_JOBENV_SNAPSHOT "=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
	refused_with(f, "AML_SNAPSHOT_ID must be 64 lower-case hex digits, got \"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"");
}

static void test_short_snapshot_id_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	set_var(f, AML_JOBENV_SNAPSHOT, AML_JOBENV_SNAPSHOT "=abc");
	refused_with(f, "AML_SNAPSHOT_ID must be 64 lower-case hex digits, got \"abc\"");
}

static void test_bad_run_id_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	set_var(f, AML_JOBENV_RUN_ID, AML_JOBENV_RUN_ID "=../x\ny");
	refused_with(f, "AML_RUN_ID must be 1 to 255 letters, digits, '_' or '-', starting with a letter or digit, got \"../x\\x0ay\"");
}

static void test_bad_launcher_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	set_var(f, AML_JOBENV_LAUNCHER, AML_JOBENV_LAUNCHER "=yes");
	refused_with(f, "AML_LAUNCHER must be 0 or 1, got \"yes\"");
}

/* All three at once, and missing ones named. */
static void test_every_bad_var_reported(void **state)
{
	struct fixture *f = *state;
	char *c = canonical(ddp_json);

	add_env(f, config_var(c), 1);
	free(c);
	add_env(f, AML_JOBENV_LAUNCHER "=", 0);
	refused_with(f,
		     "AML_RUN_ID is missing; AML_SNAPSHOT_ID is missing; "
		     "AML_LAUNCHER must be 0 or 1, got \"\"");
}

/* ---- a good run ---- */

static void test_valid_run_planned(void **state)
{
	struct fixture *f = *state;
	const struct aml_plan *p = &f->d.plan;

	job_for(f, ddp_json);
	decide_ok(f);
	assert_int_equal(f->d.replace_script, 1);
	assert_string_equal(f->d.snapshot_id, SNAPSHOT);
	assert_string_equal(p->run_id, RUN_ID);
	assert_string_equal(p->job_name, RUN_ID);
	assert_string_equal(p->target, "cpu");
	assert_string_equal(p->partition, "debug");
	assert_null(p->qos);
	assert_null(p->account);
	assert_null(p->tres_per_node);
	assert_null(p->constraint);
	assert_string_equal(p->comment,
			    "aml run_id=" RUN_ID " experiment=hello");
	assert_int_equal(p->min_nodes, 2);
	assert_int_equal(p->max_nodes, 2);
	assert_int_equal(p->num_tasks, 4);
	assert_int_equal(p->ntasks_per_node, 2);
	/* ceil(900 / 60) + ceil(FinalizeGrace 120 / 60) */
	assert_int_equal(p->time_limit_minutes, 17);
	assert_int_equal(p->deadline_seconds, 900);

	/* The user's variables, the planner's, then the snapshot last. */
	assert_int_equal(p->environment.count, 13);
	assert_string_equal(env_at(p, 0), "COLOUR=blue");
	assert_string_equal(env_at(p, 1), "AZUREML_RUN_ID=" RUN_ID);
	assert_string_equal(env_at(p, 9), "AML_DIST_TYPE=pytorch");
	assert_string_equal(env_at(p, 10), "SLURM_JOB_NAME=" RUN_ID);
	assert_string_equal(env_at(p, 11), "AML_OUTPUT_DIRS=outputs:logs");
	assert_string_equal(env_at(p, 12), "AML_SNAPSHOT_ID=" SNAPSHOT);
	assert_null(p->environment.items[13]);

	assert_string_equal(p->argv.items[0], "python3");
	assert_string_equal(p->argv.items[1], "train.py");

	assert_string_equal(f->d.summary,
			    "run " RUN_ID ": compute target cpu, 2 nodes x 2 tasks per node, time limit 17 min");
}

/* What the job keeps of the run beyond the plan: the configuration as
 * validated for the node, and the experiment for the epilog. */
static void test_node_config_and_experiment(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	decide_ok(f);
	assert_int_equal(strncmp(f->d.node_config, AML_ENV_NODE_CONFIG "=",
				 strlen(AML_ENV_NODE_CONFIG "=")), 0);
	/* add_run_vars puts the configuration third. */
	assert_string_equal(f->d.node_config + strlen(AML_ENV_NODE_CONFIG "="),
			    f->env[2] + strlen(AML_JOBENV_CONFIG "="));
	assert_string_equal(f->d.spank_experiment,
			    AML_JOBENV_EXPERIMENT "=hello");
}

/* The SPANK variables only the controller reads or writes go; the run
 * id, the tracking id, Slurm's option and anything else stay. */
static void test_spank_kept(void **state)
{
	(void)state;
	assert_false(aml_admission_spank_kept(AML_JOBENV_CONFIG "={}"));
	assert_false(aml_admission_spank_kept(AML_JOBENV_SNAPSHOT "=" SNAPSHOT));
	assert_false(aml_admission_spank_kept(AML_JOBENV_LAUNCHER "=1"));
	assert_false(aml_admission_spank_kept(AML_JOBENV_EXPERIMENT "=forged"));
	assert_false(aml_admission_spank_kept(AML_JOBENV_CONFIG));
	assert_true(aml_admission_spank_kept(AML_JOBENV_RUN_ID "=" RUN_ID));
	assert_true(aml_admission_spank_kept(AML_JOBENV_MLFLOW_RUN_ID "=x"));
	assert_true(aml_admission_spank_kept(OPTION_VAR));
	assert_true(aml_admission_spank_kept("AML_CONFIGX=1"));
	assert_true(aml_admission_spank_kept("AML_CONFI=1"));
	assert_true(aml_admission_spank_kept("OTHER=1"));
}

/* The run's id on the tracking server: into the environment, and into
 * the comments right after the run id, where the finalizer reads it. */
static void test_tracking_id_handed_on(void **state)
{
	struct fixture *f = *state;
	const struct aml_plan *p = &f->d.plan;
	char *admin;

	job_for(f, ddp_json);
	add_env(f, AML_JOBENV_MLFLOW_RUN_ID "=9c6b0e2d4f1a48b7a3c5d6e7f8091a2b",
		0);
	decide_ok(f);
	assert_string_equal(p->comment,
			    "aml run_id=" RUN_ID
			    " mlflow_run_id=9c6b0e2d4f1a48b7a3c5d6e7f8091a2b"
			    " experiment=hello");
	assert_int_equal(p->environment.count, 14);
	assert_string_equal(env_at(p, 12), "AML_SNAPSHOT_ID=" SNAPSHOT);
	assert_string_equal(env_at(p, 13), "AML_MLFLOW_RUN_ID=9c6b0e2d4f1a48b7a3c5d6e7f8091a2b");
	admin = aml_admin_comment_make(p);
	assert_string_equal(admin, "aml run_id=" RUN_ID
			    " mlflow_run_id=9c6b0e2d4f1a48b7a3c5d6e7f8091a2b"
			    " experiment=hello target=cpu nodes=2 tasks=4 tpn=2");
	free(admin);
}

/* A forged one cannot carry a blank (a second word in the comment), a
 * newline or anything but the form of a server's run id. */
static void test_bad_tracking_id_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	add_env(f, AML_JOBENV_MLFLOW_RUN_ID "=9c6b0e2d4f1a48b7 target=gpu\n", 0);
	refused_with(f, "AML_MLFLOW_RUN_ID must be a tracking server's run id (32 hex digits, or a GUID), got \"9c6b0e2d4f1a48b7 target=gpu\\x0a\"");
}

static void test_user_script_kept(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	set_var(f, AML_JOBENV_LAUNCHER, AML_JOBENV_LAUNCHER "=0");
	decide_ok(f);
	assert_int_equal(f->d.replace_script, 0);
}

/* A forger needs no option variable: the configuration is judged as
 * any other. */
static void test_valid_without_option(void **state)
{
	struct fixture *f = *state;
	char *c = canonical(ddp_json);

	add_env(f, config_var(c), 1);
	free(c);
	add_env(f, AML_JOBENV_RUN_ID "=" RUN_ID, 0);
	add_env(f, AML_JOBENV_SNAPSHOT "=" SNAPSHOT, 0);
	add_env(f, AML_JOBENV_LAUNCHER "=1", 0);
	decide_ok(f);
	assert_int_equal(f->d.plan.min_nodes, 2);
}

static void test_one_node_one_task_summary(void **state)
{
	struct fixture *f = *state;

	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"a.py\","
		   " \"max_run_duration_seconds\": 60}");
	decide_ok(f);
	assert_string_equal(f->d.summary,
			    "run " RUN_ID ": compute target cpu, 1 node x 1 task per node, time limit 3 min");
}

/* TensorFlow with parameter servers: Slurm places the tasks. */
static void test_uneven_tasks_summary(void **state)
{
	struct fixture *f = *state;

	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"w.py\","
		   " \"node_count\": 2, \"distributed_job_config\":"
		   " {\"type\": \"tensorflow\", \"worker_count\": 4,"
		   "  \"parameter_server_count\": 1},"
		   " \"max_run_duration_seconds\": 600}");
	decide_ok(f);
	assert_int_equal(f->d.plan.ntasks_per_node, 0);
	assert_int_equal(f->d.plan.num_tasks, 5);
	assert_string_equal(f->d.summary,
			    "run " RUN_ID ": compute target cpu, 2 nodes, 5 tasks, time limit 12 min");
}

/* The target's QOS, account, Gres and constraint reach the plan. */
static void test_target_policy_in_plan(void **state)
{
	struct fixture *f = *state;

	f->who.user = "carol";
	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"a.py\","
		   " \"compute_target\": \"gpu\","
		   " \"max_run_duration_seconds\": 60}");
	decide_ok(f);
	assert_string_equal(f->d.plan.partition, "gpu");
	assert_string_equal(f->d.plan.qos, "high");
	assert_string_equal(f->d.plan.account, "ml");
	assert_string_equal(f->d.plan.tres_per_node, "gres:gpu:4");
	assert_string_equal(f->d.plan.constraint, "a100");
}

/* ---- site policy ---- */

static void test_node_count_over_max_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"a.py\","
		   " \"distributed_job_config\": {\"type\": \"mpi\","
		   "  \"process_count_per_node\": 1, \"node_count\": 3}}");
	refused_with(f, "run.json: node_count: must be a whole number from 1 to 2 (compute target cpu allows at most 2), got 3");
}

/* Every problem on one line, and the file named as the user named it. */
static void test_every_plan_error_on_one_line(void **state)
{
	struct fixture *f = *state;

	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"a.py\","
		   " \"distributed_job_config\": {\"type\": \"mpi\","
		   "  \"process_count_per_node\": 1, \"node_count\": 3},"
		   " \"max_run_duration_seconds\": 7200}");
	set_var(f, AML_JOBENV_OPTION, AML_JOBENV_OPTION "=exp/run.yml");
	refused_with(f,
		     "exp/run.yml: node_count: must be a whole number from 1 to 2 (compute target cpu allows at most 2), got 3; "
		     "exp/run.yml: max_run_duration_seconds: must be at most 3600 (compute target cpu allows 01:00:00), got 7200");
}

/* A file name that could forge a line is not repeated. */
static void test_strange_option_value_not_shown(void **state)
{
	struct fixture *f = *state;

	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"a.py\","
		   " \"node_count\": 3, \"distributed_job_config\":"
		   " {\"type\": \"mpi\"}}");
	set_var(f, AML_JOBENV_OPTION, AML_JOBENV_OPTION "=a\nb.json");
	refused_with(f, "run.json: node_count: must be a whole number from 1 to 2 (compute target cpu allows at most 2), got 3");
}

static void test_unknown_target_lists_known(void **state)
{
	struct fixture *f = *state;

	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"a.py\","
		   " \"compute_target\": \"gpu-cluster\"}");
	refused_with(f, "run.json: compute_target: unknown compute target \"gpu-cluster\"; this cluster has: cpu, gpu");
}

static void test_allow_users_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"a.py\","
		   " \"compute_target\": \"gpu\"}");
	refused_with(f, "run.json: compute_target: compute target gpu is restricted to AllowUsers=carol; user \"alice\" may not use it");
}

/* ---- hand-edited canonical configurations ---- */

/* [c] with [from] replaced by [to] (once). */
static char *edit(const char *c, const char *from, const char *to)
{
	const char *at = strstr(c, from);
	char *out = NULL;

	assert_non_null(at);
	assert_true(asprintf(&out, "%.*s%s%s", (int)(at - c), c, to,
			     at + strlen(from)) > 0);
	return out;
}

static void test_edited_config_unknown_key_refused(void **state)
{
	struct fixture *f = *state;
	char *c = canonical(ddp_json);
	char *bad = edit(c, "\"node_count\":2", "\"node_count\":2,\"nodes\":64");

	add_run_vars(f, config_var(bad));
	free(c);
	free(bad);
	refused_with(f, "run.json: nodes: unknown key for a ScriptRunConfig (line 1)");
}

static void test_edited_config_bad_type_refused(void **state)
{
	struct fixture *f = *state;
	char *c = canonical(ddp_json);
	char *bad = edit(c, "\"node_count\":2", "\"node_count\":\"64\"");

	add_run_vars(f, config_var(bad));
	free(c);
	free(bad);
	refused_with(f, "run.json: node_count: must be a whole number from 1 to 100000, got \"64\"");
}

/* Edited to ask for more than the site allows: the limits hold. */
static void test_edited_config_over_limit_refused(void **state)
{
	struct fixture *f = *state;
	char *c = canonical("{\"experiment_name\": \"hello\", \"script\": \"a.py\","
			    " \"distributed_job_config\": {\"type\": \"mpi\","
			    "  \"process_count_per_node\": 1, \"node_count\": 2}}");
	char *bad = edit(c, "\"node_count\":2", "\"node_count\":64");

	add_run_vars(f, config_var(bad));
	free(c);
	free(bad);
	refused_with(f, "run.json: node_count: must be a whole number from 1 to 2 (compute target cpu allows at most 2), got 64");
}

/* A forged key holding a newline stays on one line. */
static void test_control_characters_escaped(void **state)
{
	struct fixture *f = *state;
	char *c = canonical(ddp_json);
	char *bad = edit(c, "\"node_count\":2", "\"node_count\":2,\"x\\ny\":1");

	add_run_vars(f, config_var(bad));
	free(c);
	free(bad);
	assert_int_equal(decide(f), -1);
	assert_null(strchr(f->err, '\n'));
	assert_non_null(strstr(f->err, "x\\x0ay"));
}

static void test_not_json_refused(void **state)
{
	struct fixture *f = *state;

	add_run_vars(f, strdup(AML_JOBENV_CONFIG "=[1, 2]"));
	refused_with(f, "run.json: a run configuration must be an object of fields, got an array");
}

/* A long reason is cut, visibly, and never overruns the buffer. */
static void test_long_reason_cut(void **state)
{
	struct fixture *f = *state;
	char small[64];

	job_for(f, "{\"experiment_name\": \"hello\", \"script\": \"a.py\","
		   " \"compute_target\": \"nope\"}");
	assert_int_equal(aml_admission_decide(f->env, f->n, &f->site, &f->who,
					      &f->d, small, sizeof(small)),
			 -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_string_equal(small + sizeof(small) - 4, "...");
	assert_memory_equal(small, "run.json: compute_target: unknown", 33);
}

/* ---- limits on a run's size (aml.conf) ---- */

/* [c] with [n] more variables V0000000=x... before COLOUR.  malloc'd. */
static char *with_variables(const char *c, long n)
{
	const char *at = strstr(c, "\"COLOUR\"");
	size_t head;
	char *out, *p;

	assert_non_null(at);
	head = (size_t)(at - c);
	out = malloc(strlen(c) + (size_t)n * 16 + 1);
	assert_non_null(out);
	memcpy(out, c, head);
	p = out + head;
	for (long i = 0; i < n; i++)
		p += sprintf(p, "\"V%07ld\":\"x\",", i);
	strcpy(p, at);
	return out;
}

static void test_config_over_size_refused(void **state)
{
	struct fixture *f = *state;
	char *c = canonical(ddp_json);
	char *big = with_variables(c, 100000);
	char expected[256];

	add_run_vars(f, config_var(big));
	snprintf(expected, sizeof(expected),
		 "run.json: the configuration is %zu bytes, at most 1048576 (MaxConfigSize in aml.conf)",
		 strlen(big));
	refused_with(f, expected);
	free(c);
	free(big);
}

/* Within MaxConfigSize, the count refuses it, in one line. */
static void test_too_many_variables_refused(void **state)
{
	struct fixture *f = *state;
	char *c = canonical(ddp_json);
	/* With COLOUR, 100000 in all. */
	char *big = with_variables(c, 99999);
	static const char raised[] = "MaxConfigSize=4M\n"
				     "ComputeTarget=cpu Partition=debug\n";
	struct aml_errors errs;

	aml_site_free(&f->site);
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_site_parse(raised, strlen(raised), "aml.conf",
					&f->site, &errs), 0);
	aml_errors_free(&errs);
	add_run_vars(f, config_var(big));
	refused_with(f, "run.json: environment.environment_variables: 100000 variables, at most 4096 (MaxEnvironmentVariables in aml.conf)");
	free(c);
	free(big);
}

/* Up to the limit, the run is planned with every variable. */
static void test_variables_up_to_the_limit_accepted(void **state)
{
	struct fixture *f = *state;
	char *c = canonical(ddp_json);
	char *big = with_variables(c, 4095);

	add_run_vars(f, config_var(big));
	decide_ok(f);
	/* 4096 of the user's, 11 of the planner's, the snapshot's. */
	assert_int_equal(f->d.plan.environment.count, 4096 + 12);
	assert_string_equal(env_at(&f->d.plan, 4095), "COLOUR=blue");
	free(c);
	free(big);
}

/* ---- run ids ---- */

static const char named_job[] =
	"{\"$schema\": \"https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\","
	" \"type\": \"command\", \"name\": \"my_run_7\","
	" \"experiment_name\": \"hello\", \"code\": \".\","
	" \"command\": \"python3 a.py\", \"compute\": \"azureml:cpu\"}";

static void test_v2_name_mismatch_refused(void **state)
{
	struct fixture *f = *state;

	job_for(f, named_job);
	refused_with(f, "run.json: name: the configuration names run \"my_run_7\" but the job was submitted for run \"" RUN_ID "\" (AML_RUN_ID)");
}

static void test_v2_name_matching_accepted(void **state)
{
	struct fixture *f = *state;

	job_for(f, named_job);
	set_var(f, AML_JOBENV_RUN_ID, AML_JOBENV_RUN_ID "=my_run_7");
	decide_ok(f);
	assert_string_equal(f->d.plan.run_id, "my_run_7");
	assert_string_equal(f->d.plan.job_name, "my_run_7");
}

/* ---- the launcher script ---- */

static void test_launcher_script_bytes(void **state)
{
	struct fixture *f = *state;
	char *s;

	job_for(f, ddp_json);
	decide_ok(f);
	s = aml_admission_launcher_script(&f->d,
					  "/usr/libexec/slurm-aml/aml-launch");
	assert_non_null(s);
	assert_string_equal(s, "#!/bin/sh\n"
			       "# slurm-aml: the launcher of run " RUN_ID "\n"
			       "exec /usr/libexec/slurm-aml/aml-launch\n");
	free(s);
}

static void test_launcher_script_quotes_path(void **state)
{
	struct fixture *f = *state;
	char *s;

	job_for(f, ddp_json);
	decide_ok(f);
	s = aml_admission_launcher_script(&f->d, "/opt/it's here/aml-launch");
	assert_non_null(s);
	assert_string_equal(s, "#!/bin/sh\n"
			       "# slurm-aml: the launcher of run " RUN_ID "\n"
			       "exec '/opt/it'\\''s here/aml-launch'\n");
	free(s);
}

static void test_launcher_script_needs_a_run(void **state)
{
	struct fixture *f = *state;

	assert_null(aml_admission_launcher_script(&f->d, "/bin/true"));
	assert_null(aml_admission_launcher_script(NULL, "/bin/true"));
}

static void test_free_twice(void **state)
{
	struct fixture *f = *state;

	job_for(f, ddp_json);
	decide_ok(f);
	aml_admission_free(&f->d);
	aml_admission_free(&f->d);
	aml_admission_free(NULL);
	assert_null(f->d.summary);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_env_is_not_aml),
		T(test_other_vars_are_not_aml),
		T(test_option_without_config_refused),
		T(test_vars_without_config_refused),
		T(test_duplicate_config_refused),
		T(test_duplicate_of_each_var_refused),
		T(test_bad_snapshot_id_refused),
		T(test_short_snapshot_id_refused),
		T(test_bad_run_id_refused),
		T(test_bad_launcher_refused),
		T(test_every_bad_var_reported),
		T(test_valid_run_planned),
		T(test_node_config_and_experiment),
		T(test_spank_kept),
		T(test_tracking_id_handed_on),
		T(test_bad_tracking_id_refused),
		T(test_user_script_kept),
		T(test_valid_without_option),
		T(test_one_node_one_task_summary),
		T(test_uneven_tasks_summary),
		T(test_target_policy_in_plan),
		T(test_node_count_over_max_refused),
		T(test_every_plan_error_on_one_line),
		T(test_strange_option_value_not_shown),
		T(test_unknown_target_lists_known),
		T(test_allow_users_refused),
		T(test_edited_config_unknown_key_refused),
		T(test_edited_config_bad_type_refused),
		T(test_edited_config_over_limit_refused),
		T(test_control_characters_escaped),
		T(test_not_json_refused),
		T(test_long_reason_cut),
		T(test_config_over_size_refused),
		T(test_too_many_variables_refused),
		T(test_variables_up_to_the_limit_accepted),
		T(test_v2_name_mismatch_refused),
		T(test_v2_name_matching_accepted),
		T(test_launcher_script_bytes),
		T(test_launcher_script_quotes_path),
		T(test_launcher_script_needs_a_run),
		T(test_free_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
