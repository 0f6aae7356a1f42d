/*
 * rc_internal.h: what the three form readers of runconfig share.
 *
 * runconfig.c recognises the form and calls its reader (rc_script.c,
 * rc_runconfiguration.c, rc_commandjob.c, declared at the end).  Each
 * reader walks the document tree of its form and fills the model through
 * the field readers of rc_fields.c; those do the type checks and report
 * errors with the field path, so the readers stay a list of fields and
 * their Azure ML rules.  The rules that do not depend on the form (command
 * versus script, process counts, names) run once afterwards, in
 * runconfig.c.  Calls go one way: runconfig.c -> rc_<form>.c ->
 * rc_fields.c.
 */
#ifndef AML_RC_INTERNAL_H
#define AML_RC_INTERNAL_H

#include <stdint.h>

#include "doc.h"
#include "errors.h"
#include "runconfig.h"

#define RC_PATH_MAX 512

struct rc_ctx {
	struct aml_errors *errs;
	struct aml_runconfig *rc;
	const char *base_dir;        /* absolute, or NULL (controller) */
	const char *default_experiment;
	const struct aml_run_limits *limits;  /* never NULL */
	const struct aml_datamap *data;       /* NULL: nothing mapped */
	/* What the form reader saw, for the rules every form shares. */
	int has_script;
	int has_arguments;
	int has_command;
	int node_count_given;
	uint32_t pytorch_total;      /* PyTorch total processes, 0 = per node */
	int pytorch_total_given;
	char pytorch_total_path[RC_PATH_MAX];
	char node_count_path[RC_PATH_MAX];
};

/* Join "parent.key" (or "key" when parent is empty) into [out]. */
void rc_path(char out[RC_PATH_MAX], const char *parent, const char *key);

/* Whether [node] is absent, null, [] or {}: what Azure ML writes for a
 * section it leaves at its default. */
int rc_is_empty(const struct aml_node *node);

/* Whether [key] is in [list] (NULL-terminated; NULL is empty). */
int rc_key_in_list(const char *key, const char *const *list);

/*
 * Report every member of [obj] whose key is neither in [known] nor in
 * [ignored] (both NULL-terminated) as unknown, with a did-you-mean drawn
 * from [known].  [form_hint] completes "unknown key for <form_hint>".
 * Returns 0 when there were none.
 */
int rc_check_keys(struct rc_ctx *ctx, const struct aml_node *obj,
		  const char *path, const char *const *known,
		  const char *const *ignored, const char *form_hint);

/*
 * Field readers.  Each takes the node (NULL: absent, nothing done, returns
 * 0 with *given = 0 where there is a [given]), checks its type and range,
 * and stores a malloc'd copy.  A JSON null counts as absent.  On a bad value
 * they add an error for [path] and return -1.
 */
int rc_read_string(struct rc_ctx *ctx, const struct aml_node *node,
		   const char *path, char **out);
/* [node] when it is an object; NULL when absent or null, and NULL with an
 * error ("must be an object, got ...") when it is anything else. */
const struct aml_node *rc_object_or_null(struct rc_ctx *ctx,
					 const struct aml_node *node,
					 const char *path);
int rc_read_uint(struct rc_ctx *ctx, const struct aml_node *node,
		 const char *path, uint64_t min, uint64_t max, uint64_t *out,
		 int *given);
int rc_read_bool(struct rc_ctx *ctx, const struct aml_node *node,
		 const char *path, int *out);
/* A list of scalars, each turned into Python's str() of it. */
int rc_read_strlist(struct rc_ctx *ctx, const struct aml_node *node,
		    const char *path, struct aml_strlist *out);
/* The same for the run's arguments or command words: a list longer
 * than MaxArguments (plus [extra] items that are not arguments: the
 * script at the head of ArgumentVector) is refused before its items
 * are read. */
int rc_read_arguments(struct rc_ctx *ctx, const struct aml_node *node,
		      const char *path, size_t extra,
		      struct aml_strlist *out);
/* An object of [what] that each become an environment variable (a
 * command job's inputs and outputs): 0, or -1 with the error when it
 * holds more than MaxEnvironmentVariables. */
int rc_check_variable_count(struct rc_ctx *ctx, const struct aml_node *obj,
			    const char *path, const char *what);
/* An object of scalars; [env_names]: keys must be POSIX variable names.
 * Keys already in [out] are replaced (later sources win). */
int rc_read_kvlist(struct rc_ctx *ctx, const struct aml_node *node,
		   const char *path, int env_names, struct aml_kvlist *out);
/* The whole subtree as compact JSON text (conda dependencies). */
int rc_read_json_text(struct rc_ctx *ctx, const struct aml_node *node,
		      const char *path, char **out);
/* A path relative to the base directory, made absolute and normalised. */
int rc_read_dir(struct rc_ctx *ctx, const struct aml_node *node,
		const char *path, char **out);
/* The same for [text] already read from field [path]: into [*out]
 * (replacing what was there), or -1 with the error. */
int rc_make_absolute(struct rc_ctx *ctx, const char *path, const char *text,
		     char **out);

/*
 * Record the node count [value] read from field [path].  A count given in
 * two places (top level and distributed config) must agree: the SDK lets
 * the distributed config win silently, which hides mistakes.
 */
void rc_set_node_count(struct rc_ctx *ctx, uint64_t value, const char *path);

/* A PyTorch communication backend, any case, stored lower-case in [*out]
 * (replacing what was there); "nccl" or "gloo", else an error. */
int rc_read_backend(struct rc_ctx *ctx, const struct aml_node *node,
		    const char *path, char **out);

/* "pytorch", "PyTorch" ... into the enum; -1 when unknown. */
int rc_dist_type_from_name(const char *name);

/*
 * Lexically normalise [path] ("a/./b/../c" -> "a/c"): "." and empty
 * segments dropped, ".." taking back the segment before it.  [absolute]:
 * the result starts with '/', and ".." at the root stays there ("/" when
 * nothing is left).  Otherwise the result is relative ("" when nothing is
 * left), and a ".." that would climb above the start is refused: NULL
 * with *escapes set.  Returns a malloc'd string, or NULL (out of memory,
 * *escapes 0).
 */
char *rc_normalise(const char *path, int absolute, int *escapes);

/*
 * [path] relative to [base] when not absolute (base may be NULL only for
 * absolute paths), normalised as an absolute path by rc_normalise.
 * Returns a malloc'd absolute path or NULL (out of memory).
 */
char *rc_join_normalise(const char *base, const char *path);

/*
 * Open [path] to read it whole (rc_files.c): a regular file, whose size
 * goes to [*size].  Returns the descriptor, or -1 with one line at
 * [field] (may be NULL) in [errs]: "cannot read PATH: why" or "PATH is
 * not a regular file".
 */
int rc_open_regular(const char *path, const char *field, uint64_t *size,
		    struct aml_errors *errs);

/* Split a shell-like string into words: quotes and backslashes as in
 * POSIX sh, no expansion.  Returns -1 on an unterminated quote. */
int rc_split_words(const char *text, struct aml_strlist *out);

/*
 * A command job's data (rc_data.c).
 *
 * rc_check_input_type: inputs.<name>.type at [parent] (may be absent)
 * into [*type] (malloc'd, or NULL) and, for an input with a path
 * ([has_path]), the kind it asks for into [*kind]: a data type
 * (uri_file, uri_folder, mltable, mlflow_model, custom_model), or for an
 * input without a path a literal type too.  0, or -1 after reporting.
 *
 * rc_read_data_input: an input object [name] with a path at [parent]: its
 * type, mode and path (shared filesystem path, or a reference resolved
 * through ctx->data), recorded in rc->data_uses for
 * aml_runconfig_read_files; an https:// path is recorded in
 * rc->downloads instead and gets inputs/<name>/<file>.
 * Returns the path the command gets (malloc'd), or NULL after reporting.
 *
 * rc_read_data_output: an output object [name] at [parent]: its type and
 * mode and, when it has a path, the datastore it is copied to
 * (rc->datastore_outputs).  0, or -1 after reporting.
 */
int rc_check_input_type(struct rc_ctx *ctx, const struct aml_node *in,
			const char *parent, int has_path, char **type,
			enum aml_data_kind *kind);
char *rc_read_data_input(struct rc_ctx *ctx, const struct aml_node *in,
			 const char *name, const char *parent);
int rc_read_data_output(struct rc_ctx *ctx, const struct aml_node *out,
			const char *name, const char *parent);

/*
 * The environment (rc_environment.c).  Each reader fills
 * ctx->rc->environment and reports what it refuses with the field's path.
 *
 * rc_read_v1_environment: Azure ML's Environment object at "environment",
 * in snake_case ([camel] 0: a ScriptRunConfig and the canonical form,
 * which adds registry, file and base_image_registry.credentials_given) or
 * as a .runconfig spells it ([camel] 1).  [form_hint] completes "unknown
 * key for ...".
 */
void rc_read_v1_environment(struct rc_ctx *ctx, const struct aml_node *node,
			    int camel, const char *form_hint);
/*
 * v1's python rules, once every field that sets them was read (a
 * .runconfig's legacy CondaDependenciesFile comes after its environment):
 * interpreter_path counts only with user_managed_dependencies (Azure ML's
 * default "python" is dropped, another value refused), and a conda
 * specification contradicts user_managed_dependencies.  [conda_file_field]
 * names where the conda file was given (NULL: the python section).
 */
void rc_check_v1_python(struct rc_ctx *ctx, int camel,
			const char *conda_file_field);
/* docker.sharedVolumes, at [path]: true (Azure ML's default) or absent;
 * false is refused. */
void rc_read_shared_volumes(struct rc_ctx *ctx, const struct aml_node *node,
			    const char *path);
/* A command job's environment: a reference string or a definition. */
void rc_read_v2_environment(struct rc_ctx *ctx, const struct aml_node *node);
/* A v2 environment definition [obj] at [path] ("" for an environment
 * file's top level); relative paths in it against ctx->base_dir. */
void rc_read_v2_definition(struct rc_ctx *ctx, const struct aml_node *obj,
			   const char *path, const char *form_hint);

/* Form readers (one file each): fill ctx->rc from [root]. */
void rc_read_script_run_config(struct rc_ctx *ctx,
			       const struct aml_node *root);
void rc_read_run_configuration(struct rc_ctx *ctx,
			       const struct aml_node *root);
void rc_read_command_job(struct rc_ctx *ctx, const struct aml_node *root);

#endif
