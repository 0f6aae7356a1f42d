/*
 * runconfig.h: the run configuration, one typed model for every form users
 * write.
 *
 * Three forms are read (the form is recognised from the content, not the
 * file name):
 *   1. ScriptRunConfig fields, snake_case JSON or YAML (source_directory,
 *      script, arguments, compute_target, distributed_job_config, ...).
 *   2. RunConfiguration, the serialized .runconfig (camelCase, YAML or JSON,
 *      legacy TitleCase keys, both "pytorch" and "pyTorch").
 *   3. The SDK v2 command job (command, code, compute, resources,
 *      distribution, limits, inputs, outputs, ...).
 * All reach the same struct with Azure ML's defaults and rules applied, so
 * every later stage (planner, controller, node) sees one shape.
 *
 * The canonical form is a compact JSON of form 1 with every field explicit
 * (plus "original_form", so messages can keep speaking the user's form);
 * aml_runconfig_encode() writes it and aml_runconfig_parse() reads it back
 * exactly.  The controller receives that form and re-validates it with the
 * same rules, so a hand-edited canonical config is judged like any other.
 *
 * The parser does no I/O besides what the caller hands it: it is safe in
 * slurmctld.  aml_runconfig_read_files() is the separate, user-side step
 * (sbatch, aml-run) that checks the script exists and reads the files the
 * environment names, so that the canonical form carries their content.
 */
#ifndef AML_RUNCONFIG_H
#define AML_RUNCONFIG_H

#include <stdint.h>
#include <stddef.h>

#include "datamap.h"
#include "errors.h"
#include "kvlist.h"
#include "run_limits.h"
#include "strlist.h"

#define AML_DEFAULT_MAX_RUN_DURATION 2592000ULL  /* 30 days, Azure ML's */
#define AML_MAX_NODE_COUNT 100000
#define AML_MAX_PROCESSES 1000000

/*
 * The size rule alone, for a text about to be handed on (sbatch's
 * canonical form): 0 when [bytes] is within [limits] (NULL: the
 * defaults), else -1 with "<file>: [what] is N bytes, at most M
 * (MaxConfigSize in aml.conf)" in [errs]; [what] NULL says "the
 * configuration".
 */
int aml_runconfig_check_size(uint64_t bytes, const char *what,
			     const struct aml_run_limits *limits,
			     struct aml_errors *errs);

enum aml_config_form {
	AML_FORM_SCRIPT_RUN_CONFIG,
	AML_FORM_RUN_CONFIGURATION,
	AML_FORM_COMMAND_JOB,
};

enum aml_dist_type {
	AML_DIST_NONE,
	AML_DIST_PYTORCH,
	AML_DIST_MPI,
	AML_DIST_TENSORFLOW,
};

/*
 * The distributed layout, normalised: whatever form it came from, the
 * planner reads node_count and process_count_per_node (or, for TensorFlow,
 * worker_count + parameter_server_count processes over node_count nodes).
 */
struct aml_distributed {
	enum aml_dist_type type;
	/* PYTORCH: "nccl" or "gloo" (lower case); NULL otherwise */
	char *backend;
	/* PYTORCH and MPI: processes on each node (>= 1) */
	uint32_t process_count_per_node;
	/* TENSORFLOW: */
	uint32_t worker_count;
	uint32_t parameter_server_count;
};

/*
 * What the run asks of its environment.  Three kinds, as in Azure ML: a
 * named one (the site's catalogue, environment.h), user-managed (the
 * interpreter the user points at) and system-managed (conda/pip
 * dependencies built once per content).  Which applies is environment.h's
 * decision; this is what the file says, in every form's terms.
 */
struct aml_environment {
	char *name;                 /* NULL when not given */
	char *version;              /* NULL: not given, or "latest" */
	/* azureml://registries/<registry>/environments/<name>/...: the
	 * registry's name (the name and version are the reference's) */
	char *registry;
	/* A v2 "file:PATH" reference (absolute, normalised) until
	 * aml_runconfig_read_files replaces it by what the file defines
	 * and clears it: one still set was never read (aml-run validate
	 * --no-files), and a run must not start from it. */
	char *environment_file;
	char *interpreter_path;     /* python.interpreter_path; NULL: site's */
	int user_managed_dependencies;
	/* The conda specification as compact JSON: written inline, or read
	 * from conda_dependencies_file (v1) / conda_file (v2) by
	 * aml_runconfig_read_files in sbatch, so that the controller, which
	 * reads no file, judges the same text. */
	char *conda_dependencies;
	char *conda_dependencies_file; /* absolute, normalised; or NULL */
	int docker_enabled;
	char *docker_base_image;
	char *docker_shm_size;      /* as written: "2g" */
	struct aml_strlist docker_arguments;
	/* A Docker build: v1 docker.base_dockerfile (its text), v2 build
	 * (the context directory, absolute, and its Dockerfile's path in
	 * it).  NULL when not given. */
	char *docker_base_dockerfile;
	char *build_context;
	char *build_dockerfile;
	/* base_image_registry (v1): the address; whether credentials were
	 * written in the file (their values are never kept, so never reach
	 * the canonical form, history or the job: only that they were
	 * given, which the resolver refuses). */
	char *registry_address;
	int registry_credentials_given;
};

/*
 * A data input the run reads (a command job's inputs.<name>.path), for
 * the checks only the user's side can make (aml_runconfig_read_files:
 * it exists, and is a file or a folder as its type says).  Not in the
 * canonical form: the controller stats nothing, and the command already
 * holds the path.
 */
struct aml_data_use {
	char *field;               /* "inputs.iris.path" */
	char *path;                /* absolute, normalised */
	char *type;                /* as written ("uri_file"); NULL: none */
	enum aml_data_kind kind;   /* what the type (or the asset) says */
};

/*
 * An output written to a datastore (outputs.<name>.path:
 * azureml://datastores/NAME/paths/PATH): the command writes outputs/<name>
 * as every output, and the launcher copies it, as the run's user, to
 * PATH below the datastore's Path at Finalizing.  In the canonical form
 * as "datastore_outputs".
 */
struct aml_datastore_output {
	char *name;                /* the output's name */
	char *root;                /* the datastore's Path (absolute) */
	char *path;                /* below root, normalised, never ".." */
};

/*
 * An input downloaded on the node (inputs.<name>.path: https://...,
 * data_url.h): the launcher fetches [url] into the user's cache while
 * the run is Preparing and binds it at [path], which the command already
 * holds.  In the canonical form as "downloads".
 */
struct aml_download {
	char *name;                /* the input's name */
	char *url;                 /* https, no userinfo */
	char *path;                /* "inputs/<name>/<file>", relative to
				    * the run's working directory */
};

struct aml_runconfig {
	enum aml_config_form form;      /* where it came from (for messages) */
	char *run_id;                   /* requested id (v2 `name`), or NULL */
	char *experiment_name;          /* never NULL after parse */
	char *display_name;
	char *description;
	char *source_directory;         /* absolute, normalised */
	char *script;                   /* relative to source_directory; or NULL */
	struct aml_strlist arguments;   /* with script: already str()'d */
	struct aml_strlist command;     /* argv form; empty when unused */
	char *command_line;             /* shell form; NULL when unused */
	char *compute_target;           /* NULL means "local": site default */
	uint32_t node_count;            /* >= 1 */
	struct aml_distributed distributed;
	uint64_t max_run_duration_seconds;
	/* 0 when the file set no limit and Azure ML's 30-day default applies:
	 * the planner may then shorten it to the target's MaxTime, as Slurm
	 * gives a job without --time its partition's limit.  A limit the user
	 * asked for is never shortened; over the target's, it is refused. */
	int max_run_duration_given;
	struct aml_environment environment;
	struct aml_kvlist environment_variables; /* run's env, merged */
	struct aml_kvlist tags;
	struct aml_kvlist properties;
	struct aml_data_use *data_uses;        /* user side only, above */
	size_t n_data_uses;
	struct aml_datastore_output *datastore_outputs;
	size_t n_datastore_outputs;
	struct aml_download *downloads;
	size_t n_downloads;
	/* The outputs a command job declares (outputs.<name>), whose
	 * folders outputs/<name> the node makes before the command starts
	 * (run_folders.h); each aml_run_folder_name_ok.  The canonical form
	 * carries them as "output_folders". */
	struct aml_strlist output_names;
};

/*
 * Parse [len] bytes of [text], a configuration in any of the three forms,
 * JSON or YAML, within [limits] (NULL: the defaults).  A text over
 * limits->config_bytes is refused before it is read; a list or an object
 * of variables over its count is refused before its items are.  [filename] names the file in messages ("run.json") and is
 * also used for the YAML/JSON hint from its extension when the content is
 * ambiguous.  [base_dir] is the absolute directory relative paths in the
 * file are resolved against (the file's directory; for a .runconfig inside
 * .azureml/ or aml_config/, the project folder above it is used instead,
 * computed from [filename]).
 *
 * [default_experiment] is the directory whose name names the experiment
 * when the file does not (Azure ML uses the directory the job is
 * submitted from); NULL: the source directory's.  A name that is no valid
 * experiment name is made one (letters, digits, '_' and '-' kept, other
 * characters '_', leading ones dropped; "Default" when nothing is left).
 *
 * Returns 0 and fills [rc]; on any problem returns -1 with every error in
 * [errs] (one line each: file, field path, rule, value) and [rc] freed.
 */
int aml_runconfig_parse(const char *text, size_t len, const char *filename,
			const char *base_dir, const char *default_experiment,
			const struct aml_run_limits *limits,
			struct aml_runconfig *rc, struct aml_errors *errs);

/*
 * aml_runconfig_parse, with the site's data map [data] (aml.conf's
 * Datastore= and DataAsset= lines; NULL: none) that a command job's
 * azureml: inputs and outputs resolve through (datamap.h).  The user's
 * side (sbatch, aml-run) parses with it; the canonical form it produces
 * holds resolved paths, so the controller and the nodes need no map.
 */
int aml_runconfig_parse_mapped(const char *text, size_t len,
			       const char *filename, const char *base_dir,
			       const char *default_experiment,
			       const struct aml_run_limits *limits,
			       const struct aml_datamap *data,
			       struct aml_runconfig *rc,
			       struct aml_errors *errs);

/*
 * Read [path] and parse it as aml_runconfig_parse_mapped does; base_dir
 * comes from the path, the default experiment from the current
 * directory's name (sbatch's and aml-run's: where the user submits
 * from), whatever the form.
 * A file over limits->config_bytes is refused before it is read.
 */
int aml_runconfig_load(const char *path, const struct aml_run_limits *limits,
		       const struct aml_datamap *data,
		       struct aml_runconfig *rc, struct aml_errors *errs);

/*
 * The canonical compact JSON for [rc], malloc'd; NULL if memory runs out.
 * Parsing it back with aml_runconfig_parse() gives an identical struct.
 */
char *aml_runconfig_encode(const struct aml_runconfig *rc);

/*
 * What needs the user's filesystem, done in sbatch and aml-run, never in
 * the controller: the source directory is a directory and the script a
 * regular file in it; a "file:" environment is read (Azure ML's
 * environment YAML: its fields as an inline definition would give them,
 * its conda_file and build path relative to its own directory) and
 * environment_file cleared; the conda file (v1 conda_dependencies_file,
 * v2 conda_file; YAML or JSON) is read into conda_dependencies as compact
 * JSON, the path kept as where it came from.  Each file is a regular file
 * of at most AML_ENV_FILE_MAX bytes.  A conda file beside inline
 * conda_dependencies is refused.  Each data input (data_uses) exists and
 * is a regular file (uri_file) or a directory (uri_folder, mltable,
 * mlflow_model), stat'd as the caller, who is the run's user.  [limits] (NULL: the defaults) apply to
 * the environment file's fields as to a configuration's.  Returns 0, or
 * -1 with every problem in [errs], one line each, naming the field and
 * the file.
 */
#define AML_ENV_FILE_MAX (64 * 1024)
int aml_runconfig_read_files(struct aml_runconfig *rc,
			     const struct aml_run_limits *limits,
			     struct aml_errors *errs);

/*
 * For the controller and the node, which read no file: a configuration
 * that still names a file aml_runconfig_read_files reads (a "file:"
 * environment, or a conda file without the specification it holds) was
 * never read (aml-run validate --no-files, a forged client), so what the
 * file says is missing and the run must not start from it.  Returns 0,
 * or -1 with one line per such field in [errs].
 */
int aml_runconfig_check_read(const struct aml_runconfig *rc,
			     struct aml_errors *errs);

/*
 * The run's own variables (environment_variables): each a valid name and
 * none that Slurm or slurm-aml set (aml_env_reserved_reason, job_env.h),
 * one line per bad name in [errs] under "[where].NAME".  Every parse
 * applies it (aml-run validate refuses what plan and the controller
 * would), and so does the planner.  Returns 0, or -1.
 */
int aml_runconfig_check_variables(const struct aml_runconfig *rc,
				  const char *where, struct aml_errors *errs);

/*
 * Total number of processes the run starts (>= 1).
 */
uint32_t aml_runconfig_process_count(const struct aml_runconfig *rc);

const char *aml_dist_type_name(enum aml_dist_type type);
const char *aml_config_form_name(enum aml_config_form form);

void aml_runconfig_free(struct aml_runconfig *rc);

#endif
