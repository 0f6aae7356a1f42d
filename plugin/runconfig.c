/*
 * runconfig.c: the model's lifetime, form recognition, and the rules that
 * hold whatever the form; it hands the tree to the form's reader
 * (rc_<form>.c), which reads fields through rc_fields.c.
 */
#include "runconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "job_env.h"
#include "rc_internal.h"
#include "runid.h"
#include "text.h"

#define RC_MAX_NAME 255

/* [limits], or the defaults in [buf] when it is NULL. */
static const struct aml_run_limits *
limits_or_default(const struct aml_run_limits *limits,
		  struct aml_run_limits *buf)
{
	if (limits)
		return limits;
	aml_run_limits_default(buf);
	return buf;
}

int aml_runconfig_check_size(uint64_t bytes, const char *what,
			     const struct aml_run_limits *limits,
			     struct aml_errors *errs)
{
	struct aml_run_limits defaults;

	limits = limits_or_default(limits, &defaults);
	if (bytes <= limits->config_bytes)
		return 0;
	aml_errors_add(errs, NULL,
		       "%s is %llu bytes, at most %llu (MaxConfigSize in aml.conf)",
		       what ? what : "the configuration",
		       (unsigned long long)bytes,
		       (unsigned long long)limits->config_bytes);
	return -1;
}

void aml_runconfig_free(struct aml_runconfig *rc)
{
	struct aml_environment *env = &rc->environment;

	free(rc->run_id);
	free(rc->experiment_name);
	free(rc->display_name);
	free(rc->description);
	free(rc->source_directory);
	free(rc->script);
	aml_strlist_free(&rc->arguments);
	aml_strlist_free(&rc->command);
	free(rc->command_line);
	free(rc->compute_target);
	free(rc->distributed.backend);
	free(env->name);
	free(env->version);
	free(env->interpreter_path);
	free(env->conda_dependencies);
	free(env->conda_dependencies_file);
	free(env->docker_base_image);
	free(env->docker_shm_size);
	free(env->registry);
	free(env->environment_file);
	free(env->docker_base_dockerfile);
	free(env->build_context);
	free(env->build_dockerfile);
	free(env->registry_address);
	aml_strlist_free(&env->docker_arguments);
	aml_kvlist_free(&rc->environment_variables);
	aml_kvlist_free(&rc->tags);
	aml_kvlist_free(&rc->properties);
	for (size_t i = 0; i < rc->n_data_uses; i++) {
		free(rc->data_uses[i].field);
		free(rc->data_uses[i].path);
		free(rc->data_uses[i].type);
	}
	free(rc->data_uses);
	for (size_t i = 0; i < rc->n_datastore_outputs; i++) {
		free(rc->datastore_outputs[i].name);
		free(rc->datastore_outputs[i].root);
		free(rc->datastore_outputs[i].path);
	}
	free(rc->datastore_outputs);
	for (size_t i = 0; i < rc->n_downloads; i++) {
		free(rc->downloads[i].name);
		free(rc->downloads[i].url);
		free(rc->downloads[i].path);
	}
	free(rc->downloads);
	aml_strlist_free(&rc->output_names);
	memset(rc, 0, sizeof(*rc));
}

uint32_t aml_runconfig_process_count(const struct aml_runconfig *rc)
{
	const struct aml_distributed *d = &rc->distributed;

	switch (d->type) {
	case AML_DIST_PYTORCH:
	case AML_DIST_MPI:
		return rc->node_count * d->process_count_per_node;
	case AML_DIST_TENSORFLOW:
		return d->worker_count + d->parameter_server_count;
	case AML_DIST_NONE:
		break;
	}
	return 1;
}

const char *aml_dist_type_name(enum aml_dist_type type)
{
	switch (type) {
	case AML_DIST_PYTORCH:
		return "pytorch";
	case AML_DIST_MPI:
		return "mpi";
	case AML_DIST_TENSORFLOW:
		return "tensorflow";
	case AML_DIST_NONE:
		break;
	}
	return "none";
}

const char *aml_config_form_name(enum aml_config_form form)
{
	switch (form) {
	case AML_FORM_RUN_CONFIGURATION:
		return "run_configuration";
	case AML_FORM_COMMAND_JOB:
		return "command_job";
	case AML_FORM_SCRIPT_RUN_CONFIG:
		break;
	}
	return "script_run_config";
}

/* ---- recognising the form ---- */

static const char *const form1_only[] = {
	"source_directory", "compute_target", "node_count",
	"distributed_job_config", "max_run_duration_seconds", "run_id",
	"original_form", NULL,
};
static const char *const form2_only[] = {
	"target", "framework", "communicator", "maxRunDurationSeconds",
	"nodeCount", "environmentVariables", "history", "docker", "mpi",
	"pytorch", "pyTorch", "tensorflow", "dataReferences", "data",
	"spark", "hdi", "amlcompute", "amlCompute", "priority",
	"outputData", "datacaches", "credentialPassthrough",
	"sourceDirectoryDataStore", "paralleltask", "parallelTask",
	"ArgumentVector", "Target", "Framework", "CondaDependenciesFile",
	"TrackedRun", "EnvironmentVariables", "sourceDirectory",
	"Description", "CondaFile", "ManagedEnvironment",
	"PrepareEnvironment", "SparkDependenciesFile", "UseSampling", NULL,
};
static const char *const form3_only[] = {
	"$schema", "type", "code", "compute", "resources", "distribution",
	"limits", "inputs", "outputs", "environment_variables", "name",
	"queue_settings", "services", "identity", NULL,
};

static int count_keys(const struct aml_node *root, const char *const *keys)
{
	int n = 0;

	for (size_t i = 0; i < root->n_children; i++)
		if (rc_key_in_list(root->children[i].key, keys))
			n++;
	return n;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static enum aml_config_form detect_form(const struct aml_node *root,
					const char *filename)
{
	const struct aml_node *schema = aml_doc_get(root, "$schema");
	const struct aml_node *type = aml_doc_get(root, "type");
	int f1, f2, f3;

	if (schema && schema->type == AML_NODE_STRING &&
	    strcasestr(schema->text, "commandJob"))
		return AML_FORM_COMMAND_JOB;
	if (type && type->type == AML_NODE_STRING &&
	    !strcasecmp(type->text, "command"))
		return AML_FORM_COMMAND_JOB;
	f1 = count_keys(root, form1_only);
	f2 = count_keys(root, form2_only);
	f3 = count_keys(root, form3_only);
	if (f2 > f1 && f2 >= f3)
		return AML_FORM_RUN_CONFIGURATION;
	if (f3 > f1 && f3 > f2)
		return AML_FORM_COMMAND_JOB;
	if (f1 == 0 && f2 == 0 && f3 == 0 && filename &&
	    ends_with(filename, ".runconfig"))
		return AML_FORM_RUN_CONFIGURATION;
	return AML_FORM_SCRIPT_RUN_CONFIG;
}

/* ---- shared rules ---- */

static int valid_experiment_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > RC_MAX_NAME || !isalnum((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)name[i]) || name[i] == '_' ||
		      name[i] == '-'))
			return 0;
	return 1;
}

/* Azure ML names the experiment after the submitting directory when the
 * file does not; such a name may hold characters an experiment may not. */
static char *experiment_from_dir(const char *dir)
{
	const char *base = dir ? strrchr(dir, '/') : NULL;
	char *name;
	size_t n = 0;

	base = base ? base + 1 : (dir ? dir : "");
	name = malloc(strlen(base) + sizeof("Default"));
	if (!name)
		return NULL;
	for (const char *p = base; *p && n < RC_MAX_NAME; p++) {
		if (isalnum((unsigned char)*p) || ((*p == '_' || *p == '-') && n))
			name[n++] = *p;
		else if (n)
			name[n++] = '_';
	}
	name[n] = '\0';
	if (n == 0)
		strcpy(name, "Default");
	return name;
}

static void check_script_path(struct rc_ctx *ctx)
{
	struct aml_runconfig *rc = ctx->rc;
	char *normal;
	int escapes;

	if (rc->script[0] == '/') {
		aml_errors_add(ctx->errs, "script",
			       "must be a path relative to the source directory, got \"%s\"",
			       rc->script);
		return;
	}
	/* "a/../b" is fine, "../src/x" is not even if it happens to come
	 * back: the source directory's own name is not part of the
	 * snapshot. */
	normal = rc_normalise(rc->script, 0, &escapes);
	if (escapes) {
		aml_errors_add(ctx->errs, "script",
			       "must stay inside the source directory, got \"%s\"",
			       rc->script);
		return;
	}
	if (!normal) {
		aml_errors_add(ctx->errs, "script", "out of memory");
		return;
	}
	if (!*normal) {
		aml_errors_add(ctx->errs, "script",
			       "must name a file, got \"%s\"", rc->script);
		free(normal);
		return;
	}
	free(rc->script);
	rc->script = normal;
}

/*
 * The limits on what the lists add up to, once every place that sets
 * them has been read: each list was bounded on its own as it was read,
 * but a RunConfiguration has two places for variables, a command job's
 * inputs and outputs add theirs, and a string of arguments is only
 * counted once it is split.
 */
static void check_totals(struct rc_ctx *ctx)
{
	const struct aml_runconfig *rc = ctx->rc;
	const struct aml_run_limits *lim = ctx->limits;
	const struct aml_strlist *args =
		rc->command.count ? &rc->command : &rc->arguments;
	const char *field = rc->command.count || rc->command_line
				    ? "command" : "arguments";
	uint64_t bytes = 0;

	if (rc->environment_variables.count > lim->variables)
		aml_errors_add(ctx->errs, NULL,
			       "%zu environment variables in all, at most %u (MaxEnvironmentVariables in aml.conf)",
			       rc->environment_variables.count, lim->variables);
	if (args->count > lim->arguments) {
		aml_errors_add(ctx->errs, field,
			       "%zu arguments, at most %u (MaxArguments in aml.conf)",
			       args->count, lim->arguments);
		return;
	}
	for (size_t i = 0; i < args->count; i++)
		bytes += strlen(args->items[i]) + 1;
	if (rc->command_line)
		bytes += strlen(rc->command_line) + 1;
	if (bytes > lim->argument_bytes)
		aml_errors_add(ctx->errs, field,
			       "%llu bytes of arguments, at most %llu (MaxArgumentsSize in aml.conf)",
			       (unsigned long long)bytes,
			       (unsigned long long)lim->argument_bytes);
}

int aml_runconfig_check_variables(const struct aml_runconfig *rc,
				  const char *where, struct aml_errors *errs)
{
	const struct aml_kvlist *vars = &rc->environment_variables;
	size_t before = errs->count;

	for (size_t i = 0; i < vars->count; i++) {
		const char *name = vars->items[i].key ? vars->items[i].key : "";
		const char *why;
		char path[256], q[70];

		if (!aml_is_env_name(name)) {
			aml_errors_add(errs, where,
				       "%s is not a valid variable name (letters, digits and '_', not starting with a digit)",
				       aml_text_quote(name, strlen(name), q,
						      sizeof(q)));
			continue;
		}
		why = aml_env_reserved_reason(
			name, rc->distributed.type != AML_DIST_NONE);
		if (!why)
			continue;
		snprintf(path, sizeof(path), "%s.%.200s", where, name);
		aml_errors_add(errs, path, "reserved: %s", why);
	}
	return errs->count > before ? -1 : 0;
}

/* Where a form keeps the run's variables, for messages in its terms. */
static const char *variables_field(enum aml_config_form form)
{
	switch (form) {
	case AML_FORM_RUN_CONFIGURATION:
		return "environmentVariables";
	case AML_FORM_COMMAND_JOB:
		return "environment_variables";
	case AML_FORM_SCRIPT_RUN_CONFIG:
		break;
	}
	return "environment.environment_variables";
}

/* The rules shared by every form, after its reader ran. */
static void rc_finish(struct rc_ctx *ctx)
{
	struct aml_runconfig *rc = ctx->rc;
	struct aml_distributed *d = &rc->distributed;

	if (ctx->has_command && (ctx->has_script || ctx->has_arguments))
		aml_errors_add(ctx->errs, "command",
			       "command and script/arguments cannot be used together");
	else if (!ctx->has_command && !ctx->has_script && ctx->has_arguments)
		aml_errors_add(ctx->errs, "arguments",
			       "arguments need a script to pass them to");
	else if (!ctx->has_command && !ctx->has_script &&
		 !aml_errors_any(ctx->errs))
		aml_errors_add(ctx->errs, "script",
			       "one of script or command is required");
	if (rc->script)
		check_script_path(ctx);
	if (ctx->has_command && rc->command_line && !*rc->command_line)
		aml_errors_add(ctx->errs, "command", "must not be empty");

	if (rc->node_count == 0)
		rc->node_count = 1;
	/* The batch node's launcher downloads (launch_data.h): the other
	 * nodes' working directories would not hold the file. */
	for (size_t i = 0; rc->node_count > 1 && i < rc->n_downloads; i++) {
		char field[RC_PATH_MAX];

		snprintf(field, sizeof(field), "inputs.%s.path",
			 rc->downloads[i].name);
		aml_errors_add(ctx->errs, field,
			       "an https:// input is downloaded on the batch node only, and this run has %u nodes: put the file on a datastore the site maps (Datastore=) or run on 1 node",
			       rc->node_count);
	}
	if (rc->max_run_duration_seconds == 0)
		rc->max_run_duration_seconds = AML_DEFAULT_MAX_RUN_DURATION;
	else
		rc->max_run_duration_given = 1;

	if (d->type == AML_DIST_PYTORCH) {
		if (!d->backend)
			d->backend = strdup("nccl");
		if (ctx->pytorch_total_given) {
			if (ctx->pytorch_total % rc->node_count) {
				aml_errors_add(ctx->errs,
					       ctx->pytorch_total_path,
					       "%u processes cannot be spread evenly over %u nodes",
					       ctx->pytorch_total,
					       rc->node_count);
			} else {
				d->process_count_per_node =
					ctx->pytorch_total / rc->node_count;
			}
		}
	}
	if ((d->type == AML_DIST_PYTORCH || d->type == AML_DIST_MPI) &&
	    d->process_count_per_node == 0)
		d->process_count_per_node = 1;
	if ((d->type == AML_DIST_PYTORCH || d->type == AML_DIST_MPI) &&
	    (uint64_t)d->process_count_per_node * rc->node_count >
		    AML_MAX_PROCESSES)
		aml_errors_add(ctx->errs, "distributed_job_config",
			       "%u nodes x %u processes per node is more than %u processes in all",
			       rc->node_count, d->process_count_per_node,
			       AML_MAX_PROCESSES);
	if (d->type == AML_DIST_TENSORFLOW && d->worker_count == 0)
		aml_errors_add(ctx->errs, "distributed_job_config.worker_count",
			       "must be at least 1, got 0");

	if (!rc->experiment_name) {
		rc->experiment_name =
			ctx->default_experiment
				? experiment_from_dir(ctx->default_experiment)
				: experiment_from_dir(rc->source_directory);
	} else if (!valid_experiment_name(rc->experiment_name)) {
		aml_errors_add(ctx->errs, "experiment_name",
			       "must be 1 to 255 letters, digits, '_' or '-', starting with a letter or digit, got \"%s\"",
			       rc->experiment_name);
	}
	if (rc->run_id && !aml_runid_is_valid(rc->run_id))
		aml_errors_add(ctx->errs,
			       rc->form == AML_FORM_COMMAND_JOB ? "name" : "run_id",
			       "must be 1 to %d letters, digits, '_' or '-', starting with a letter or digit, got \"%s\"",
			       AML_RUNID_MAX - 1, rc->run_id);
	aml_runconfig_check_variables(rc, variables_field(rc->form),
				      ctx->errs);
	if (rc->display_name && strlen(rc->display_name) > RC_MAX_NAME)
		aml_errors_add(ctx->errs, "display_name",
			       "must be at most %d characters, got %zu",
			       RC_MAX_NAME, strlen(rc->display_name));
	check_totals(ctx);
}

/* ---- entry points ---- */

static char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	dir = strndup(path, (size_t)(slash - path));
	return dir;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int aml_runconfig_parse(const char *text, size_t len, const char *filename,
			const char *base_dir, const char *default_experiment,
			const struct aml_run_limits *limits,
			struct aml_runconfig *rc, struct aml_errors *errs)
{
	return aml_runconfig_parse_mapped(text, len, filename, base_dir,
					  default_experiment, limits, NULL, rc,
					  errs);
}

int aml_runconfig_parse_mapped(const char *text, size_t len,
			       const char *filename, const char *base_dir,
			       const char *default_experiment,
			       const struct aml_run_limits *limits,
			       const struct aml_datamap *data,
			       struct aml_runconfig *rc,
			       struct aml_errors *errs)
{
	struct rc_ctx ctx;
	struct aml_node *root;
	struct aml_run_limits defaults;
	char *project_dir = NULL;
	size_t errors_before = errs->count;

	memset(rc, 0, sizeof(*rc));
	memset(&ctx, 0, sizeof(ctx));
	ctx.errs = errs;
	ctx.rc = rc;
	ctx.base_dir = base_dir;
	ctx.default_experiment = default_experiment;
	ctx.data = data;
	ctx.limits = limits_or_default(limits, &defaults);
	/* Before a byte is read: the size alone refuses it. */
	if (aml_runconfig_check_size(len, NULL, ctx.limits, errs) < 0)
		return -1;

	root = aml_doc_parse(text, len, AML_DOC_AUTO, errs);
	if (!root)
		return -1;
	if (root->type != AML_NODE_OBJECT) {
		char shown[96];

		aml_doc_describe(root, shown, sizeof(shown));
		aml_errors_add(errs, NULL,
			       "a run configuration must be an object of fields, got %s",
			       shown);
		aml_doc_free(root);
		return -1;
	}
	rc->form = detect_form(root, filename);
	/* A saved .runconfig lives in <project>/.azureml/: the project is the
	 * source directory, as Azure ML's Project does it. */
	if (rc->form == AML_FORM_RUN_CONFIGURATION && base_dir &&
	    (!strcmp(basename_of(base_dir), ".azureml") ||
	     !strcmp(basename_of(base_dir), "aml_config"))) {
		project_dir = dirname_of(base_dir);
		if (!project_dir) {
			aml_errors_add(errs, NULL, "out of memory");
			aml_doc_free(root);
			return -1;
		}
		ctx.base_dir = project_dir;
	}

	switch (rc->form) {
	case AML_FORM_SCRIPT_RUN_CONFIG:
		rc_read_script_run_config(&ctx, root);
		break;
	case AML_FORM_RUN_CONFIGURATION:
		rc_read_run_configuration(&ctx, root);
		break;
	case AML_FORM_COMMAND_JOB:
		rc_read_command_job(&ctx, root);
		break;
	}
	if (!rc->source_directory && ctx.base_dir) {
		rc->source_directory = rc_join_normalise(NULL, ctx.base_dir);
		if (!rc->source_directory)
			aml_errors_add(errs, NULL, "out of memory");
	} else if (!rc->source_directory) {
		aml_errors_add(errs, "source_directory",
			       "is required (an absolute path) in this form");
	}
	rc_finish(&ctx);
	aml_doc_free(root);
	free(project_dir);
	if (errs->count > errors_before || errs->out_of_memory) {
		aml_runconfig_free(rc);
		return -1;
	}
	return 0;
}

static char *absolute_dir_of(const char *path)
{
	char *dir = dirname_of(path), *abs = NULL;
	char cwd[PATH_MAX];

	if (!dir)
		return NULL;
	if (dir[0] == '/') {
		abs = rc_join_normalise(NULL, dir);
	} else if (getcwd(cwd, sizeof(cwd))) {
		abs = rc_join_normalise(cwd, dir);
	}
	free(dir);
	return abs;
}

int aml_runconfig_load(const char *path, const struct aml_run_limits *limits,
		       const struct aml_datamap *data,
		       struct aml_runconfig *rc, struct aml_errors *errs)
{
	char *text = NULL, *base = NULL;
	size_t len = 0;
	uint64_t size;
	struct aml_run_limits defaults;
	char cwd[PATH_MAX];
	int fd, result = -1;

	memset(rc, 0, sizeof(*rc));
	fd = rc_open_regular(path, NULL, &size, errs);
	if (fd < 0)
		goto out;
	limits = limits_or_default(limits, &defaults);
	if (aml_runconfig_check_size(size, path, limits, errs) < 0)
		goto out;
	if (aml_read_fd(fd, limits->config_bytes, &text, &len) < 0) {
		aml_errors_add(errs, NULL, "cannot read %s: %s", path,
			       strerror(errno));
		goto out;
	}
	base = absolute_dir_of(path);
	if (!base) {
		aml_errors_add(errs, NULL,
			       "cannot tell the directory of %s", path);
		goto out;
	}
	/* Azure ML names the experiment after the directory the job is
	 * submitted from (the CLI's current directory), not the code's: a
	 * job with code: src is not experiment "src". */
	result = aml_runconfig_parse_mapped(text, len, path, base,
					    getcwd(cwd, sizeof(cwd)) ? cwd
								     : NULL,
					    limits, data, rc, errs);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(base);
	return result;
}
