/*
 * rc_commandjob.c: form 3, the SDK v2 command job (YAML or JSON).
 *
 * v2 differs from v1 where users trip: process_count_per_instance is per
 * node (v1's PyTorch process_count is a total), TensorFlow parameter servers
 * default to 0 (v1: 1), and the command is a shell string with ${{inputs.x}}
 * and ${{outputs.y}} bindings that are resolved here, before submission, so
 * an unresolvable one is an error the user sees at once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job_env.h"
#include "pystr.h"
#include "rc_internal.h"
#include "run_folders.h"
#include "text.h"

#define MAX_TIMEOUT_SECONDS 3153600000ULL

static const char *const form_hint = "a command job";

static const char *const top_keys[] = {
	"$schema", "type", "name", "display_name", "experiment_name",
	"description", "tags", "properties", "command", "code", "environment",
	"environment_variables", "distribution", "compute", "resources",
	"limits", "inputs", "outputs", NULL,
};
/* Accepted and without effect on Slurm; see the README. */
static const char *const ignored_top_keys[] = {
	"queue_settings", "services", "identity", "is_deterministic", NULL,
};
static const char *const resources_keys[] = {
	"instance_count", "shm_size", "docker_args", NULL,
};
static const char *const ignored_resources_keys[] = {
	"instance_type", "locations", "max_instance_count", "properties",
	NULL,
};
static const char *const limits_keys[] = { "timeout", NULL };
static const char *const pytorch_keys[] = {
	"type", "process_count_per_instance", NULL,
};
static const char *const mpi_keys[] = {
	"type", "process_count_per_instance", NULL,
};
static const char *const tensorflow_keys[] = {
	"type", "worker_count", "parameter_server_count", NULL,
};
static const char *const input_keys[] = {
	"type", "path", "mode", "default", "optional", "description", NULL,
};
static const char *const output_keys[] = {
	"type", "path", "mode", "description", NULL,
};

struct binding {
	const char *name;
	char *value;      /* resolved text; NULL for an optional, unset input */
	/* Refused, and said so: its uses say nothing more ("has no
	 * value" would blame the user for what was already reported). */
	int refused;
};

struct bindings {
	struct binding *inputs;
	size_t n_inputs;
	struct binding *outputs;
	size_t n_outputs;
};

static int binding_cmp(const void *pa, const void *pb)
{
	const struct binding *a = pa, *b = pb;

	return strcmp(a->name, b->name);
}

/* For find_binding; names are an object's keys, so unique. */
static void sort_bindings(struct binding *list, size_t n)
{
	if (n > 1)
		qsort(list, n, sizeof(*list), binding_cmp);
}

static void bindings_free(struct bindings *b)
{
	for (size_t i = 0; i < b->n_inputs; i++)
		free(b->inputs[i].value);
	for (size_t i = 0; i < b->n_outputs; i++)
		free(b->outputs[i].value);
	free(b->inputs);
	free(b->outputs);
}

/* "azureml:gpu-cluster" and "gpu-cluster" name the same target. */
static void read_compute(struct rc_ctx *ctx, const struct aml_node *node)
{
	struct aml_runconfig *rc = ctx->rc;
	char *compute = NULL;

	if (rc_read_string(ctx, node, "compute", &compute) < 0 || !compute)
		return;
	if (!strncmp(compute, "azureml:", 8))
		memmove(compute, compute + 8, strlen(compute + 8) + 1);
	if (!*compute || !strcmp(compute, "local")) {
		free(compute);
		return;
	}
	rc->compute_target = compute;
}

static void read_resources(struct rc_ctx *ctx, const struct aml_node *node)
{
	struct aml_runconfig *rc = ctx->rc;
	struct aml_environment *env = &rc->environment;
	const struct aml_node *obj;
	uint64_t value;
	int given;

	obj = rc_object_or_null(ctx, node, "resources");
	if (!obj)
		return;
	rc_check_keys(ctx, obj, "resources", resources_keys,
		      ignored_resources_keys, form_hint);
	if (rc_read_uint(ctx, aml_doc_get(obj, "instance_count"),
			 "resources.instance_count", 1, AML_MAX_NODE_COUNT,
			 &value, &given) == 0 && given)
		rc_set_node_count(ctx, value, "resources.instance_count");
	rc_read_string(ctx, aml_doc_get(obj, "shm_size"), "resources.shm_size",
		       &env->docker_shm_size);
	if (aml_doc_get(obj, "docker_args")) {
		const struct aml_node *args = aml_doc_get(obj, "docker_args");

		if (args->type == AML_NODE_STRING) {
			if (rc_split_words(args->text, &env->docker_arguments) < 0)
				aml_errors_add(ctx->errs, "resources.docker_args",
					       "unterminated quote in \"%s\"",
					       args->text);
		} else {
			rc_read_strlist(ctx, args, "resources.docker_args",
					&env->docker_arguments);
		}
	}
}

static void read_distribution(struct rc_ctx *ctx, const struct aml_node *node)
{
	struct aml_runconfig *rc = ctx->rc;
	struct aml_distributed *d = &rc->distributed;
	const struct aml_node *obj;
	char *type = NULL;
	uint64_t value;
	int given, t;

	obj = rc_object_or_null(ctx, node, "distribution");
	if (!obj)
		return;
	if (rc_read_string(ctx, aml_doc_get(obj, "type"), "distribution.type",
			   &type) < 0)
		return;
	if (!type) {
		aml_errors_add(ctx->errs, "distribution.type",
			       "is required: pytorch, mpi or tensorflow");
		return;
	}
	t = rc_dist_type_from_name(type);
	if (t < 0) {
		aml_errors_add(ctx->errs, "distribution.type",
			       "must be pytorch, mpi or tensorflow on Slurm, got \"%s\"",
			       type);
		free(type);
		return;
	}
	free(type);
	d->type = (enum aml_dist_type)t;
	switch (d->type) {
	case AML_DIST_PYTORCH:
		rc_check_keys(ctx, obj, "distribution", pytorch_keys, NULL,
			      "a PyTorch distribution");
		d->process_count_per_node = 1;
		if (rc_read_uint(ctx, aml_doc_get(obj, "process_count_per_instance"),
				 "distribution.process_count_per_instance", 1,
				 AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->process_count_per_node = (uint32_t)value;
		break;
	case AML_DIST_MPI:
		rc_check_keys(ctx, obj, "distribution", mpi_keys, NULL,
			      "an MPI distribution");
		if (!aml_doc_get(obj, "process_count_per_instance"))
			aml_errors_add(ctx->errs,
				       "distribution.process_count_per_instance",
				       "is required for an MPI distribution");
		if (rc_read_uint(ctx, aml_doc_get(obj, "process_count_per_instance"),
				 "distribution.process_count_per_instance", 1,
				 AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->process_count_per_node = (uint32_t)value;
		break;
	case AML_DIST_TENSORFLOW:
		rc_check_keys(ctx, obj, "distribution", tensorflow_keys, NULL,
			      "a TensorFlow distribution");
		/* v2 defaults: one worker per instance, no parameter server. */
		d->worker_count = rc->node_count ? rc->node_count : 1;
		d->parameter_server_count = 0;
		if (rc_read_uint(ctx, aml_doc_get(obj, "worker_count"),
				 "distribution.worker_count", 1,
				 AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->worker_count = (uint32_t)value;
		if (rc_read_uint(ctx, aml_doc_get(obj, "parameter_server_count"),
				 "distribution.parameter_server_count", 0,
				 AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->parameter_server_count = (uint32_t)value;
		break;
	case AML_DIST_NONE:
		break;
	}
}

static char *prefixed_name(const char *prefix, const char *name)
{
	size_t n = strlen(prefix) + strlen(name) + 1;
	char *out = malloc(n);

	if (!out)
		return NULL;
	snprintf(out, n, "%s%s", prefix, name);
	return out;
}

/*
 * The variable <prefix><name>=<value> into [vars], which has room for one
 * per input or output: all of them are merged into the run's variables at
 * once (aml_kvlist_merge), not searched for one by one.
 */
static void push_variable(struct rc_ctx *ctx, struct aml_kvlist *vars,
			  const char *prefix, const char *name,
			  const char *value, const char *path)
{
	char *var = prefixed_name(prefix, name);
	char *copy = strdup(value);

	if (!vars->items || !var || !copy) {
		aml_errors_add(ctx->errs, path, "out of memory");
		free(var);
		free(copy);
		return;
	}
	vars->items[vars->count].key = var;
	vars->items[vars->count].value = copy;
	vars->count++;
}

/* Merge what push_variable collected into the run's variables. */
static void merge_variables(struct rc_ctx *ctx, struct aml_kvlist *vars,
			    const char *path)
{
	if (aml_kvlist_merge(&ctx->rc->environment_variables, vars) < 0)
		aml_errors_add(ctx->errs, path, "out of memory");
}

/*
 * Inputs are literals (numbers, strings, booleans) or data: a path on the
 * shared filesystem, resolved against the file's directory, or a
 * datastore path or data asset the site maps to one (rc_data.c).
 */
static void read_inputs(struct rc_ctx *ctx, const struct aml_node *node,
			struct bindings *b)
{
	const struct aml_node *obj = rc_object_or_null(ctx, node, "inputs");
	struct aml_kvlist vars = { 0 };

	if (!obj || rc_check_variable_count(ctx, obj, "inputs", "inputs") < 0)
		return;
	b->inputs = calloc(obj->n_children ? obj->n_children : 1,
			   sizeof(*b->inputs));
	vars.items = calloc(obj->n_children ? obj->n_children : 1,
			    sizeof(*vars.items));
	if (!b->inputs || !vars.items) {
		aml_errors_add(ctx->errs, "inputs", "out of memory");
		free(vars.items);
		return;
	}
	for (size_t i = 0; i < obj->n_children; i++) {
		const struct aml_node *in = &obj->children[i];
		struct binding *bind = &b->inputs[b->n_inputs++];
		char path[RC_PATH_MAX];

		bind->name = in->key;
		rc_path(path, "inputs", in->key);
		if (!aml_is_env_name(in->key)) {
			aml_errors_add(ctx->errs, path,
				       "input names must be letters, digits and '_', not starting with a digit");
			continue;
		}
		if (in->type == AML_NODE_ARRAY) {
			aml_errors_add(ctx->errs, path,
				       "must be a literal value or an object with a path");
			continue;
		}
		if (in->type != AML_NODE_OBJECT) {
			if (in->type != AML_NODE_NULL)
				bind->value = aml_pystr(in);
		} else if (rc_check_keys(ctx, in, path, input_keys, NULL,
					 "an input"),
			   aml_doc_get(in, "path")) {
			size_t before = ctx->errs->count;

			bind->value = rc_read_data_input(ctx, in, in->key, path);
			/* path: null is no path, not a refusal. */
			bind->refused = ctx->errs->count > before;
		} else {
			const struct aml_node *def = aml_doc_get(in, "default");
			enum aml_data_kind kind;
			char *type = NULL;

			/* Only its errors count: a literal has no kind. */
			rc_check_input_type(ctx, in, path, 0, &type, &kind);
			free(type);
			if (!def)
				;
			else if (def->type == AML_NODE_ARRAY ||
				 def->type == AML_NODE_OBJECT)
				aml_errors_add(ctx->errs, path,
					       "default must be a literal value");
			else if (def->type != AML_NODE_NULL)
				bind->value = aml_pystr(def);
		}
		if (bind->value)
			push_variable(ctx, &vars, "AZURE_ML_INPUT_", in->key,
				      bind->value, path);
	}
	merge_variables(ctx, &vars, "inputs");
	sort_bindings(b->inputs, b->n_inputs);
}

/* Outputs are written under the run's ./outputs, which is uploaded to run
 * history at the end, as Azure ML's upload mode does; one with a
 * datastore path is also copied there (rc_data.c). */
static void read_outputs(struct rc_ctx *ctx, const struct aml_node *node,
			 struct bindings *b)
{
	const struct aml_node *obj = rc_object_or_null(ctx, node, "outputs");
	struct aml_kvlist vars = { 0 };

	if (!obj ||
	    rc_check_variable_count(ctx, obj, "outputs", "outputs") < 0)
		return;
	b->outputs = calloc(obj->n_children ? obj->n_children : 1,
			    sizeof(*b->outputs));
	vars.items = calloc(obj->n_children ? obj->n_children : 1,
			    sizeof(*vars.items));
	if (!b->outputs || !vars.items) {
		aml_errors_add(ctx->errs, "outputs", "out of memory");
		free(vars.items);
		return;
	}
	for (size_t i = 0; i < obj->n_children; i++) {
		const struct aml_node *out = &obj->children[i];
		struct binding *bind = &b->outputs[b->n_outputs++];
		char path[RC_PATH_MAX];

		bind->name = out->key;
		rc_path(path, "outputs", out->key);
		/* The name is also a folder under ./outputs and part of a
		 * variable's name: no '/', '.' or '..' can get through. */
		if (!aml_run_folder_name_ok(out->key)) {
			aml_errors_add(ctx->errs, path,
				       "output names must be 1 to %d letters, digits and '_', not starting with a digit",
				       AML_RUN_FOLDER_NAME_MAX);
			continue;
		}
		if (out->type == AML_NODE_OBJECT) {
			rc_check_keys(ctx, out, path, output_keys, NULL,
				      "an output");
			rc_read_data_output(ctx, out, out->key, path);
		} else if (out->type != AML_NODE_NULL) {
			aml_errors_add(ctx->errs, path,
				       "must be an object or null");
			continue;
		}
		bind->value = prefixed_name("outputs/", out->key);
		if (!bind->value ||
		    aml_strlist_push(&ctx->rc->output_names, out->key) < 0)
			aml_errors_add(ctx->errs, path, "out of memory");
		else
			push_variable(ctx, &vars, "AZURE_ML_OUTPUT_", out->key,
				      bind->value, path);
	}
	merge_variables(ctx, &vars, "outputs");
	sort_bindings(b->outputs, b->n_outputs);
}

/*
 * A binding by name, by binary search: a command can hold as many
 * ${{...}} as its length allows, and the controller resolves a forged
 * command job too, so one scan of the list per use would be quadratic.
 * [list] is sorted by sort_bindings.
 */
static const struct binding *find_binding(const struct binding *list,
					  size_t n, const char *name,
					  size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = aml_compare_n(name, len, list[mid].name,
				      strlen(list[mid].name));

		if (c == 0)
			return &list[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * Resolve the ${{...}} in [text] from [start] to [end] into [g].
 * Returns the number of bindings that were unset optional inputs (for
 * $[[...]] blocks, which vanish then), or -1 after reporting an error.
 */
static int substitute(struct rc_ctx *ctx, const struct bindings *b,
		      const char *text, const char *end, struct aml_text *g)
{
	int unset = 0;
	const char *p = text;

	while (p < end) {
		/* Searches stop at [end]: a command of many $[[...]] blocks
		 * would otherwise be scanned to its end once per block. */
		const char *open = memmem(p, (size_t)(end - p), "${{", 3);
		const char *close, *expr, *expr_end;
		const struct binding *bind = NULL;

		if (!open) {
			aml_text_add(g, p, (size_t)(end - p));
			break;
		}
		aml_text_add(g, p, (size_t)(open - p));
		close = memmem(open + 3, (size_t)(end - open - 3), "}}", 2);
		if (!close) {
			aml_errors_add(ctx->errs, "command",
				       "unterminated \"${{\" binding");
			return -1;
		}
		expr = open + 3;
		expr_end = close;
		while (expr < expr_end && isspace((unsigned char)*expr))
			expr++;
		while (expr_end > expr && isspace((unsigned char)expr_end[-1]))
			expr_end--;
		if (expr_end - expr > 7 && !strncmp(expr, "inputs.", 7))
			bind = find_binding(b->inputs, b->n_inputs, expr + 7,
					    (size_t)(expr_end - expr - 7));
		else if (expr_end - expr > 8 && !strncmp(expr, "outputs.", 8))
			bind = find_binding(b->outputs, b->n_outputs, expr + 8,
					    (size_t)(expr_end - expr - 8));
		if (!bind) {
			aml_errors_add(ctx->errs, "command",
				       "cannot resolve ${{%.*s}}: only the inputs and outputs this file declares can be used",
				       (int)(expr_end - expr), expr);
			return -1;
		}
		if (bind->value)
			aml_text_add(g, bind->value, strlen(bind->value));
		else if (!bind->refused)
			unset++;
		p = close + 2;
	}
	return unset;
}

/*
 * v2 marks optional parts of a command with $[[ ... ]]: the part is kept
 * (without the brackets) when all its bindings have values and dropped
 * otherwise.  A binding outside such a block must have a value.
 */
static char *resolve_command(struct rc_ctx *ctx, const struct bindings *b,
			     const char *command)
{
	struct aml_text out = AML_TEXT_INIT;
	const char *p = command;
	int unset_outside = 0, bad = 0;
	char *text;

	for (;;) {
		const char *open = strstr(p, "$[[");
		const char *close;
		struct aml_text part = AML_TEXT_INIT;
		int unset = substitute(ctx, b, p, open ? open : p + strlen(p),
				       &out);

		if (unset < 0) {
			bad = 1;
			break;
		}
		unset_outside += unset;
		if (!open)
			break;
		close = strstr(open + 3, "]]");
		if (!close) {
			aml_errors_add(ctx->errs, "command",
				       "unterminated \"$[[\" optional block");
			bad = 1;
			break;
		}
		unset = substitute(ctx, b, open + 3, close, &part);
		if (unset < 0)
			bad = 1;
		else if (unset == 0 && part.data)
			aml_text_add(&out, part.data, part.len);
		out.oom |= part.oom;
		free(part.data);
		if (bad)
			break;
		p = close + 2;
	}
	if (!bad && unset_outside) {
		aml_errors_add(ctx->errs, "command",
			       "an input used outside $[[...]] has no value; give it a value or a default, or wrap that part in $[[...]]");
		bad = 1;
	}
	/* A dropped $[[...]] at the end leaves the blank before it. */
	while (!out.oom && out.len > 0 &&
	       isspace((unsigned char)out.data[out.len - 1]))
		out.data[--out.len] = '\0';
	text = aml_text_finish(&out);
	if (bad) {
		free(text);
		return NULL;
	}
	if (!text)
		aml_errors_add(ctx->errs, "command", "out of memory");
	return text;
}

static void read_limits(struct rc_ctx *ctx, const struct aml_node *node)
{
	const struct aml_node *obj = rc_object_or_null(ctx, node, "limits");

	if (!obj)
		return;
	rc_check_keys(ctx, obj, "limits", limits_keys, NULL, form_hint);
	rc_read_uint(ctx, aml_doc_get(obj, "timeout"), "limits.timeout", 1,
		     MAX_TIMEOUT_SECONDS, &ctx->rc->max_run_duration_seconds,
		     NULL);
}

void rc_read_command_job(struct rc_ctx *ctx, const struct aml_node *root)
{
	struct aml_runconfig *rc = ctx->rc;
	struct bindings b = { 0 };
	const struct aml_node *type = aml_doc_get(root, "type");
	char *command = NULL;

	rc_check_keys(ctx, root, "", top_keys, ignored_top_keys, form_hint);
	if (type && (type->type != AML_NODE_STRING ||
		     strcasecmp(type->text, "command"))) {
		char shown[96];

		aml_doc_describe(type, shown, sizeof(shown));
		aml_errors_add(ctx->errs, "type",
			       "only command jobs can run through sbatch, got %s",
			       shown);
	}
	rc_read_string(ctx, aml_doc_get(root, "name"), "name", &rc->run_id);
	rc_read_string(ctx, aml_doc_get(root, "display_name"), "display_name",
		       &rc->display_name);
	rc_read_string(ctx, aml_doc_get(root, "experiment_name"),
		       "experiment_name", &rc->experiment_name);
	rc_read_string(ctx, aml_doc_get(root, "description"), "description",
		       &rc->description);
	rc_read_kvlist(ctx, aml_doc_get(root, "tags"), "tags", 0, &rc->tags);
	rc_read_kvlist(ctx, aml_doc_get(root, "properties"), "properties", 0,
		       &rc->properties);
	rc_read_dir(ctx, aml_doc_get(root, "code"), "code",
		    &rc->source_directory);
	rc_read_v2_environment(ctx, aml_doc_get(root, "environment"));
	rc_read_kvlist(ctx, aml_doc_get(root, "environment_variables"),
		       "environment_variables", 1, &rc->environment_variables);
	read_compute(ctx, aml_doc_get(root, "compute"));
	read_resources(ctx, aml_doc_get(root, "resources"));
	read_distribution(ctx, aml_doc_get(root, "distribution"));
	read_limits(ctx, aml_doc_get(root, "limits"));
	read_inputs(ctx, aml_doc_get(root, "inputs"), &b);
	read_outputs(ctx, aml_doc_get(root, "outputs"), &b);

	/* Reported here, not again by the shared rules: has_command is set
	 * whatever happens. */
	ctx->has_command = 1;
	if (rc_read_string(ctx, aml_doc_get(root, "command"), "command",
			   &command) == 0) {
		if (!command)
			aml_errors_add(ctx->errs, "command",
				       "is required in a command job");
		else
			rc->command_line = resolve_command(ctx, &b, command);
	}
	free(command);
	bindings_free(&b);
}
