/*
 * rc_script.c: form 1, the ScriptRunConfig fields in snake_case.  This is
 * also the canonical form the controller receives, so every field the model
 * has is reachable from here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_url.h"
#include "job_env.h"
#include "rc_internal.h"
#include "run_folders.h"

#define MAX_DURATION_SECONDS 3153600000ULL /* 100 years: a typo, not a run */

static const char *const top_keys[] = {
	"source_directory", "script", "command", "arguments",
	"compute_target", "node_count", "distributed_job_config",
	"max_run_duration_seconds", "environment", "experiment_name",
	"display_name", "description", "tags", "properties", "run_id",
	"original_form", "datastore_outputs", "output_folders", "downloads",
	NULL,
};

static const char *const pytorch_keys[] = {
	"type", "communication_backend", "process_count", "node_count", NULL,
};
static const char *const mpi_keys[] = {
	"type", "process_count_per_node", "node_count", NULL,
};
static const char *const tensorflow_keys[] = {
	"type", "worker_count", "parameter_server_count", NULL,
};
/* What a distributed config of any type may hold, for the did-you-mean
 * when "type" itself is missing or wrong. */
static const char *const any_dist_keys[] = {
	"type", "communication_backend", "process_count", "node_count",
	"process_count_per_node", "worker_count", "parameter_server_count",
	NULL,
};

static const char *const form_hint = "a ScriptRunConfig";

static void read_distributed(struct rc_ctx *ctx, const struct aml_node *dist)
{
	struct aml_distributed *d = &ctx->rc->distributed;
	const char *base = "distributed_job_config";
	const struct aml_node *type;
	char *type_name = NULL;
	uint64_t value;
	int given, t;

	if (!dist || dist->type == AML_NODE_NULL)
		return;
	if (dist->type != AML_NODE_OBJECT) {
		aml_errors_add(ctx->errs, base,
			       "must be an object with \"type\": \"pytorch\", \"mpi\" or \"tensorflow\"");
		return;
	}
	type = aml_doc_get(dist, "type");
	if (!type) {
		aml_errors_add(ctx->errs, "distributed_job_config.type",
			       "is required: \"pytorch\", \"mpi\" or \"tensorflow\"");
		rc_check_keys(ctx, dist, base, any_dist_keys, NULL, form_hint);
		return;
	}
	if (rc_read_string(ctx, type, "distributed_job_config.type",
			   &type_name) < 0)
		return;
	t = type_name ? rc_dist_type_from_name(type_name) : -1;
	if (t < 0) {
		aml_errors_add(ctx->errs, "distributed_job_config.type",
			       "must be \"pytorch\", \"mpi\" or \"tensorflow\", got \"%s\"",
			       type_name ? type_name : "null");
		free(type_name);
		return;
	}
	free(type_name);
	d->type = (enum aml_dist_type)t;

	switch (d->type) {
	case AML_DIST_PYTORCH: {
		rc_check_keys(ctx, dist, base, pytorch_keys, NULL,
			      "a PyTorch distributed_job_config");
		rc_read_backend(ctx, aml_doc_get(dist, "communication_backend"),
				"distributed_job_config.communication_backend",
				&d->backend);
		if (rc_read_uint(ctx, aml_doc_get(dist, "process_count"),
				 "distributed_job_config.process_count", 1,
				 AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given) {
			ctx->pytorch_total = (uint32_t)value;
			ctx->pytorch_total_given = 1;
			snprintf(ctx->pytorch_total_path,
				 sizeof(ctx->pytorch_total_path),
				 "distributed_job_config.process_count");
		}
		break;
	}
	case AML_DIST_MPI:
		rc_check_keys(ctx, dist, base, mpi_keys, NULL,
			      "an MPI distributed_job_config");
		if (rc_read_uint(ctx, aml_doc_get(dist, "process_count_per_node"),
				 "distributed_job_config.process_count_per_node",
				 1, AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->process_count_per_node = (uint32_t)value;
		break;
	case AML_DIST_TENSORFLOW:
		rc_check_keys(ctx, dist, base, tensorflow_keys, NULL,
			      "a TensorFlow distributed_job_config");
		d->worker_count = 1;
		d->parameter_server_count = 1; /* v1's default */
		if (rc_read_uint(ctx, aml_doc_get(dist, "worker_count"),
				 "distributed_job_config.worker_count", 1,
				 AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->worker_count = (uint32_t)value;
		if (rc_read_uint(ctx, aml_doc_get(dist, "parameter_server_count"),
				 "distributed_job_config.parameter_server_count",
				 0, AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->parameter_server_count = (uint32_t)value;
		/* TensorflowConfiguration sets the node count from the
		 * workers, as the SDK does; an explicit node_count (the
		 * canonical form, or v2's instance_count) spreads the
		 * workers over that many nodes instead. */
		if (!ctx->node_count_given)
			rc_set_node_count(ctx, d->worker_count,
				       "distributed_job_config.worker_count");
		break;
	case AML_DIST_NONE:
		break;
	}
	if (d->type != AML_DIST_TENSORFLOW &&
	    rc_read_uint(ctx, aml_doc_get(dist, "node_count"),
			 "distributed_job_config.node_count", 1,
			 AML_MAX_NODE_COUNT, &value, &given) == 0 && given)
		rc_set_node_count(ctx, value, "distributed_job_config.node_count");
}

static void read_command(struct rc_ctx *ctx, const struct aml_node *command)
{
	struct aml_runconfig *rc = ctx->rc;

	if (!command || command->type == AML_NODE_NULL)
		return;
	ctx->has_command = 1;
	if (command->type == AML_NODE_STRING) {
		rc_read_string(ctx, command, "command", &rc->command_line);
		return;
	}
	if (rc_read_arguments(ctx, command, "command", 0, &rc->command) == 0 &&
	    rc->command.count == 0)
		aml_errors_add(ctx->errs, "command", "must not be empty");
}

/* ScriptRunConfig takes arguments as a list, or as one string that a user
 * writes as they would on a command line. */
static void read_arguments(struct rc_ctx *ctx, const struct aml_node *args)
{
	if (!args || args->type == AML_NODE_NULL)
		return;
	if (args->type == AML_NODE_ARRAY) {
		if (args->n_children)
			ctx->has_arguments = 1;
		rc_read_arguments(ctx, args, "arguments", 0,
				  &ctx->rc->arguments);
		return;
	}
	if (args->type != AML_NODE_STRING) {
		char shown[96];

		aml_doc_describe(args, shown, sizeof(shown));
		aml_errors_add(ctx->errs, "arguments",
			       "must be a list or a string, got %s", shown);
		return;
	}
	ctx->has_arguments = 1;
	if (rc_split_words(args->text, &ctx->rc->arguments) < 0)
		aml_errors_add(ctx->errs, "arguments",
			       "unterminated quote in \"%s\"", args->text);
}

static void read_original_form(struct rc_ctx *ctx, const struct aml_node *n)
{
	char *name = NULL;

	if (rc_read_string(ctx, n, "original_form", &name) < 0 || !name)
		return;
	if (!strcmp(name, "script_run_config"))
		ctx->rc->form = AML_FORM_SCRIPT_RUN_CONFIG;
	else if (!strcmp(name, "run_configuration"))
		ctx->rc->form = AML_FORM_RUN_CONFIGURATION;
	else if (!strcmp(name, "command_job"))
		ctx->rc->form = AML_FORM_COMMAND_JOB;
	else
		aml_errors_add(ctx->errs, "original_form",
			       "must be \"script_run_config\", \"run_configuration\" or \"command_job\", got \"%s\"",
			       name);
	free(name);
}

/*
 * The canonical form's datastore outputs (rc_data.c wrote them from a
 * command job's outputs).  A forged client can name any directory here,
 * and gains nothing by it: the launcher copies as the run's own user.
 * What is checked is that each is what the command job's reader makes:
 * an output name, an absolute root and a path below it.
 */
static void read_datastore_outputs(struct rc_ctx *ctx,
				   const struct aml_node *node)
{
	struct aml_runconfig *rc = ctx->rc;
	const struct aml_node *obj =
		rc_object_or_null(ctx, node, "datastore_outputs");

	if (!obj || rc_check_variable_count(ctx, obj, "datastore_outputs",
					     "datastore outputs") < 0)
		return;
	rc->datastore_outputs = calloc(obj->n_children ? obj->n_children : 1,
				       sizeof(*rc->datastore_outputs));
	if (!rc->datastore_outputs) {
		aml_errors_add(ctx->errs, "datastore_outputs", "out of memory");
		return;
	}
	for (size_t i = 0; i < obj->n_children; i++) {
		const struct aml_node *one = &obj->children[i];
		struct aml_datastore_output *o =
			&rc->datastore_outputs[rc->n_datastore_outputs++];
		static const char *const keys[] = { "root", "path", NULL };
		char path[RC_PATH_MAX], field[RC_PATH_MAX];
		char *normal;
		int escapes;

		rc_path(path, "datastore_outputs", one->key);
		if (!(o->name = strdup(one->key))) {
			aml_errors_add(ctx->errs, path, "out of memory");
			continue;
		}
		if (!aml_is_env_name(one->key))
			aml_errors_add(ctx->errs, path,
				       "output names must be letters, digits and '_', not starting with a digit");
		if (!rc_object_or_null(ctx, one, path))
			continue;
		rc_check_keys(ctx, one, path, keys, NULL, "a datastore output");
		rc_path(field, path, "root");
		if (rc_read_string(ctx, aml_doc_get(one, "root"), field,
				   &o->root) == 0 &&
		    (!o->root || o->root[0] != '/'))
			aml_errors_add(ctx->errs, field,
				       "must be an absolute path");
		rc_path(field, path, "path");
		if (rc_read_string(ctx, aml_doc_get(one, "path"), field,
				   &o->path) < 0)
			continue;
		normal = o->path ? rc_normalise(o->path, 0, &escapes) : NULL;
		if (!o->path || !normal || !*normal ||
		    strcmp(normal, o->path))
			aml_errors_add(ctx->errs, field,
				       "must be a normalised path below root, got \"%s\"",
				       o->path ? o->path : "");
		free(normal);
	}
}

/*
 * The canonical form's downloads (rc_data.c wrote them from a command
 * job's https:// inputs).  Each URL is checked as the user's side
 * checked it (a forged client gains no credentials in a URL, nor plain
 * http), and its path is the one its name and URL give: a client cannot
 * choose where in the working directory a download lands.  The hosts
 * are the node's to check again, against its own aml.conf.
 */
static void read_downloads(struct rc_ctx *ctx, const struct aml_node *node)
{
	struct aml_runconfig *rc = ctx->rc;
	const struct aml_node *obj = rc_object_or_null(ctx, node, "downloads");

	if (!obj || rc_check_variable_count(ctx, obj, "downloads",
					     "downloads") < 0)
		return;
	rc->downloads = calloc(obj->n_children ? obj->n_children : 1,
			       sizeof(*rc->downloads));
	if (!rc->downloads) {
		aml_errors_add(ctx->errs, "downloads", "out of memory");
		return;
	}
	for (size_t i = 0; i < obj->n_children; i++) {
		const struct aml_node *one = &obj->children[i];
		struct aml_download *d = &rc->downloads[rc->n_downloads++];
		static const char *const keys[] = { "url", "path", NULL };
		char path[RC_PATH_MAX], field[RC_PATH_MAX], err[512];
		char want[AML_DATA_NAME_MAX + RC_PATH_MAX];
		struct aml_data_url u;

		rc_path(path, "downloads", one->key);
		if (!(d->name = strdup(one->key))) {
			aml_errors_add(ctx->errs, path, "out of memory");
			continue;
		}
		if (!aml_is_env_name(one->key))
			aml_errors_add(ctx->errs, path,
				       "input names must be letters, digits and '_', not starting with a digit");
		if (!rc_object_or_null(ctx, one, path))
			continue;
		rc_check_keys(ctx, one, path, keys, NULL, "a download");
		rc_path(field, path, "url");
		if (rc_read_string(ctx, aml_doc_get(one, "url"), field,
				   &d->url) < 0)
			continue;
		if (!d->url || aml_data_url_parse(d->url, &u, err,
						  sizeof(err)) < 0) {
			aml_errors_add(ctx->errs, field, "%s",
				       d->url ? err : "is required");
			continue;
		}
		rc_path(field, path, "path");
		if (rc_read_string(ctx, aml_doc_get(one, "path"), field,
				   &d->path) < 0)
			continue;
		if (aml_data_download_path(one->key, &u, want,
					   sizeof(want)) < 0 ||
		    !d->path || strcmp(d->path, want))
			aml_errors_add(ctx->errs, field,
				       "must be \"%s\" (inputs/NAME/FILE of "
				       "the URL), got \"%s\"", want,
				       d->path ? d->path : "");
	}
}

/*
 * The declared outputs' names, as the canonical form carries a command
 * job's: the controller and the node judge them again, since the node
 * makes a folder of each.  Bounded like the variables they came with.
 */
static void read_output_folders(struct rc_ctx *ctx, const struct aml_node *n)
{
	struct aml_strlist *names = &ctx->rc->output_names;

	if (n && n->type == AML_NODE_ARRAY &&
	    n->n_children > ctx->limits->variables) {
		aml_errors_add(ctx->errs, "output_folders",
			       "%zu outputs, at most %u (MaxEnvironmentVariables in aml.conf)",
			       n->n_children, ctx->limits->variables);
		return;
	}
	if (rc_read_strlist(ctx, n, "output_folders", names) < 0)
		return;
	for (size_t i = 0; i < names->count; i++)
		if (!aml_run_folder_name_ok(names->items[i]))
			aml_errors_add(ctx->errs, "output_folders",
				       "must be names of 1 to %d letters, digits and '_', not starting with a digit, got \"%.300s\"",
				       AML_RUN_FOLDER_NAME_MAX, names->items[i]);
}

void rc_read_script_run_config(struct rc_ctx *ctx,
			       const struct aml_node *root)
{
	struct aml_runconfig *rc = ctx->rc;
	uint64_t value;
	int given;

	rc_check_keys(ctx, root, "", top_keys, NULL, form_hint);
	read_original_form(ctx, aml_doc_get(root, "original_form"));
	rc_read_dir(ctx, aml_doc_get(root, "source_directory"),
		    "source_directory", &rc->source_directory);
	if (rc_read_string(ctx, aml_doc_get(root, "script"), "script",
			   &rc->script) == 0 && rc->script)
		ctx->has_script = 1;
	read_arguments(ctx, aml_doc_get(root, "arguments"));
	read_command(ctx, aml_doc_get(root, "command"));
	rc_read_string(ctx, aml_doc_get(root, "compute_target"),
		       "compute_target", &rc->compute_target);
	if (rc->compute_target && !strcmp(rc->compute_target, "local")) {
		free(rc->compute_target);
		rc->compute_target = NULL;
	}
	if (rc_read_uint(ctx, aml_doc_get(root, "node_count"), "node_count", 1,
			 AML_MAX_NODE_COUNT, &value, &given) == 0 && given)
		rc_set_node_count(ctx, value, "node_count");
	read_distributed(ctx, aml_doc_get(root, "distributed_job_config"));
	rc_read_uint(ctx, aml_doc_get(root, "max_run_duration_seconds"),
		     "max_run_duration_seconds", 1, MAX_DURATION_SECONDS,
		     &rc->max_run_duration_seconds, NULL);
	rc_read_v1_environment(ctx, aml_doc_get(root, "environment"), 0,
			       form_hint);
	rc_check_v1_python(ctx, 0, NULL);
	rc_read_string(ctx, aml_doc_get(root, "experiment_name"),
		       "experiment_name", &rc->experiment_name);
	rc_read_string(ctx, aml_doc_get(root, "display_name"), "display_name",
		       &rc->display_name);
	rc_read_string(ctx, aml_doc_get(root, "description"), "description",
		       &rc->description);
	rc_read_kvlist(ctx, aml_doc_get(root, "tags"), "tags", 0, &rc->tags);
	rc_read_kvlist(ctx, aml_doc_get(root, "properties"), "properties", 0,
		       &rc->properties);
	rc_read_string(ctx, aml_doc_get(root, "run_id"), "run_id",
		       &rc->run_id);
	read_datastore_outputs(ctx, aml_doc_get(root, "datastore_outputs"));
	read_output_folders(ctx, aml_doc_get(root, "output_folders"));
	read_downloads(ctx, aml_doc_get(root, "downloads"));
}
