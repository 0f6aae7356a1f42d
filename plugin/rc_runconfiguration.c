/*
 * rc_runconfiguration.c: form 2, the serialized RunConfiguration (.runconfig)
 * in camelCase, with the legacy TitleCase keys and both spellings the
 * service and the SDK write (pytorch/pyTorch, amlcompute/amlCompute).
 *
 * Error paths use the file's own key names, since that is what the user
 * sees in their editor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rc_internal.h"

#define MAX_DURATION_SECONDS 3153600000ULL

static const char *const form_hint = "a RunConfiguration";

static const char *const top_keys[] = {
	"script", "arguments", "target", "framework", "communicator",
	"maxRunDurationSeconds", "nodeCount", "environment", "docker",
	"tensorflow", "mpi", "pytorch", "pyTorch", "command",
	"environmentVariables", "sourceDirectory", "ArgumentVector",
	"Target", "Framework", "CondaDependenciesFile",
	"EnvironmentVariables", "Description", "CondaFile",
	"ManagedEnvironment", "PrepareEnvironment", "SparkDependenciesFile",
	"UseSampling", NULL,
};

/*
 * The keys only Azure ML Workbench (2017-2018) wrote, TitleCase: a file
 * with any of them is read with Workbench's meanings (read_workbench)
 * and its messages say it is a Workbench runconfig.
 */
static const char *const workbench_keys[] = {
	"ArgumentVector", "Target", "Framework", "CondaDependenciesFile",
	"EnvironmentVariables", "TrackedRun", "Description", "CondaFile",
	"ManagedEnvironment", "PrepareEnvironment", "SparkDependenciesFile",
	"UseSampling", NULL,
};
static const char *const workbench_hint =
	"a RunConfiguration (this is an Azure ML Workbench runconfig, 2017-2018)";

/*
 * Keys Azure ML writes into every saved .runconfig that mean nothing on a
 * Slurm cluster (Spark, HDInsight, the AmlCompute VM size...).  Refusing
 * them would reject every real file; they are accepted and have no effect,
 * as documented in the README.  Data bindings are not here: they change
 * what the script sees, so a non-empty one is an error (see below).
 */
static const char *const ignored_top_keys[] = {
	"priority", "history", "spark", "hdi", "paralleltask", "parallelTask",
	"amlcompute", "amlCompute", "kubernetescompute", "kubernetesCompute",
	"credentialPassthrough", "applicationEndpoints", "useAbsolutePath",
	"jobName", "maxNodeCount", "identity", "commandReturnCodeConfig",
	"autoPrepareEnvironment", "TrackedRun", "sourceDirectoryDataStore",
	"dataReferences", "data", "datacaches", "outputData", NULL,
};
static const char *const data_keys[] = {
	"dataReferences", "data", "datacaches", "outputData", NULL,
};

static const char *const docker_keys[] = {
	"useDocker", "shmSize", "arguments", "sharedVolumes", NULL,
};
static const char *const tensorflow_keys[] = {
	"workerCount", "parameterServerCount", NULL,
};
static const char *const mpi_keys[] = {
	"processCountPerNode", "nodeCount", NULL,
};
static const char *const pytorch_keys[] = {
	"communicationBackend", "processCount", "nodeCount", NULL,
};

static const struct aml_node *get_either(const struct aml_node *obj,
					 const char *a, const char *b)
{
	const struct aml_node *node = aml_doc_get(obj, a);

	return node ? node : aml_doc_get(obj, b);
}

/* The top-level docker section is the current home of these settings and
 * wins over the deprecated environment.docker ones. */
static void read_top_docker(struct rc_ctx *ctx, const struct aml_node *root)
{
	struct aml_environment *env = &ctx->rc->environment;
	const struct aml_node *docker;
	int use_docker = -1;

	docker = rc_object_or_null(ctx, aml_doc_get(root, "docker"), "docker");
	if (!docker)
		return;
	rc_check_keys(ctx, docker, "docker", docker_keys, NULL, form_hint);
	if (rc_read_bool(ctx, aml_doc_get(docker, "useDocker"),
			 "docker.useDocker", &use_docker) == 0 &&
	    use_docker >= 0)
		env->docker_enabled = use_docker;
	rc_read_string(ctx, aml_doc_get(docker, "shmSize"), "docker.shmSize",
		       &env->docker_shm_size);
	if (!rc_is_empty(aml_doc_get(docker, "arguments")))
		rc_read_strlist(ctx, aml_doc_get(docker, "arguments"),
				"docker.arguments", &env->docker_arguments);
	rc_read_shared_volumes(ctx, aml_doc_get(docker, "sharedVolumes"),
			       "docker.sharedVolumes");
}

/*
 * framework + communicator pick the distributed section that applies, as
 * the SDK's distributed configs set them; the other sections are written
 * with defaults into every saved file and mean nothing then.
 */
static void read_distribution(struct rc_ctx *ctx, const struct aml_node *root)
{
	struct aml_distributed *d = &ctx->rc->distributed;
	char *framework = NULL, *communicator = NULL;
	const char *framework_key = "framework";
	const struct aml_node *section;
	const char *section_name;
	uint64_t value;
	int given;

	/* Messages name the key as the file spells it. */
	if (aml_doc_get(root, "Framework") && !aml_doc_get(root, "framework"))
		framework_key = "Framework";
	rc_read_string(ctx, get_either(root, "framework", "Framework"),
		       framework_key, &framework);
	rc_read_string(ctx, aml_doc_get(root, "communicator"), "communicator",
		       &communicator);
	if (framework && strcasecmp(framework, "Python") &&
	    strcasecmp(framework, "PyTorch") &&
	    strcasecmp(framework, "TensorFlow")) {
		aml_errors_add(ctx->errs, framework_key,
			       "must be Python, PyTorch or TensorFlow on Slurm (PySpark and CNTK need their own clusters), got \"%s\"",
			       framework);
		goto out;
	}
	if (communicator && strcasecmp(communicator, "None") &&
	    strcasecmp(communicator, "ParameterServer") &&
	    strcasecmp(communicator, "Mpi") &&
	    strcasecmp(communicator, "IntelMpi") &&
	    strcasecmp(communicator, "OpenMpi") &&
	    strcasecmp(communicator, "Nccl") &&
	    strcasecmp(communicator, "Gloo")) {
		aml_errors_add(ctx->errs, "communicator",
			       "must be None, ParameterServer, Mpi, IntelMpi, OpenMpi, Nccl or Gloo, got \"%s\"",
			       communicator);
		goto out;
	}

	if (framework && !strcasecmp(framework, "PyTorch")) {
		section_name = aml_doc_get(root, "pyTorch") ? "pyTorch"
							    : "pytorch";
		d->type = AML_DIST_PYTORCH;
		if (communicator && !strcasecmp(communicator, "Nccl"))
			d->backend = strdup("nccl");
		else if (communicator && !strcasecmp(communicator, "Gloo"))
			d->backend = strdup("gloo");
	} else if (framework && !strcasecmp(framework, "TensorFlow") &&
		   communicator &&
		   !strcasecmp(communicator, "ParameterServer")) {
		section_name = "tensorflow";
		d->type = AML_DIST_TENSORFLOW;
	} else if (communicator && (!strcasecmp(communicator, "Mpi") ||
				    !strcasecmp(communicator, "IntelMpi") ||
				    !strcasecmp(communicator, "OpenMpi"))) {
		section_name = "mpi";
		d->type = AML_DIST_MPI;
	} else {
		goto out;
	}

	section = rc_object_or_null(ctx, aml_doc_get(root, section_name),
				 section_name);
	if (d->type == AML_DIST_TENSORFLOW) {
		d->worker_count = 1;
		d->parameter_server_count = 1;
	}
	if (!section)
		goto out;
	switch (d->type) {
	case AML_DIST_PYTORCH: {
		char path[RC_PATH_MAX];
		rc_check_keys(ctx, section, section_name, pytorch_keys, NULL,
			      form_hint);
		rc_path(path, section_name, "communicationBackend");
		rc_read_backend(ctx, aml_doc_get(section, "communicationBackend"),
				path, &d->backend);
		rc_path(path, section_name, "processCount");
		if (rc_read_uint(ctx, aml_doc_get(section, "processCount"), path,
				 1, AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given) {
			ctx->pytorch_total = (uint32_t)value;
			ctx->pytorch_total_given = 1;
			snprintf(ctx->pytorch_total_path,
				 sizeof(ctx->pytorch_total_path), "%s", path);
		}
		rc_path(path, section_name, "nodeCount");
		if (rc_read_uint(ctx, aml_doc_get(section, "nodeCount"), path, 1,
				 AML_MAX_NODE_COUNT, &value, &given) == 0 &&
		    given)
			rc_set_node_count(ctx, value, path);
		break;
	}
	case AML_DIST_MPI:
		rc_check_keys(ctx, section, "mpi", mpi_keys, NULL, form_hint);
		if (rc_read_uint(ctx, aml_doc_get(section, "processCountPerNode"),
				 "mpi.processCountPerNode", 1,
				 AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->process_count_per_node = (uint32_t)value;
		if (rc_read_uint(ctx, aml_doc_get(section, "nodeCount"),
				 "mpi.nodeCount", 1, AML_MAX_NODE_COUNT, &value,
				 &given) == 0 && given)
			rc_set_node_count(ctx, value, "mpi.nodeCount");
		break;
	case AML_DIST_TENSORFLOW:
		rc_check_keys(ctx, section, "tensorflow", tensorflow_keys, NULL,
			      form_hint);
		if (rc_read_uint(ctx, aml_doc_get(section, "workerCount"),
				 "tensorflow.workerCount", 1, AML_MAX_PROCESSES,
				 &value, &given) == 0 && given)
			d->worker_count = (uint32_t)value;
		if (rc_read_uint(ctx, aml_doc_get(section, "parameterServerCount"),
				 "tensorflow.parameterServerCount", 0,
				 AML_MAX_PROCESSES, &value, &given) == 0 &&
		    given)
			d->parameter_server_count = (uint32_t)value;
		break;
	case AML_DIST_NONE:
		break;
	}
out:
	if (d->type == AML_DIST_TENSORFLOW && !ctx->node_count_given)
		rc_set_node_count(ctx, d->worker_count, "tensorflow.workerCount");
	free(framework);
	free(communicator);
}

static void read_command(struct rc_ctx *ctx, const struct aml_node *command)
{
	struct aml_runconfig *rc = ctx->rc;

	/* Saved files carry  command: ""  or  []  when a script is used. */
	if (rc_is_empty(command) ||
	    (command->type == AML_NODE_STRING && command->len == 0))
		return;
	ctx->has_command = 1;
	if (command->type == AML_NODE_STRING)
		rc_read_string(ctx, command, "command", &rc->command_line);
	else
		rc_read_arguments(ctx, command, "command", 0, &rc->command);
}

/* ArgumentVector, the legacy form, holds the script first. */
static void read_argument_vector(struct rc_ctx *ctx,
				 const struct aml_node *vector)
{
	struct aml_runconfig *rc = ctx->rc;
	struct aml_strlist all = { 0 };

	if (rc_is_empty(vector))
		return;
	if (rc_read_arguments(ctx, vector, "ArgumentVector", 1, &all) < 0)
		goto out;
	if (rc->script || rc->arguments.count) {
		aml_errors_add(ctx->errs, "ArgumentVector",
			       "cannot be used together with script/arguments");
		goto out;
	}
	/* Workbench put the script named on its command line (az ml
	 * experiment submit ... train.py) in place of "$file"; sbatch
	 * names no script, so there is nothing to put there. */
	for (size_t i = 0; i < all.count; i++) {
		if (strcmp(all.items[i], "$file"))
			continue;
		aml_errors_add(ctx->errs, "ArgumentVector",
			       "\"$file\" (item %zu) is Azure ML Workbench's placeholder for the script named on its command line, and sbatch --aml-run names none: write the script's path relative to the project instead (ArgumentVector: [train.py, ...])",
			       i + 1);
		goto out;
	}
	rc->script = strdup(all.items[0]);
	ctx->has_script = 1;
	for (size_t i = 1; i < all.count; i++) {
		aml_strlist_push(&rc->arguments, all.items[i]);
		ctx->has_arguments = 1;
	}
out:
	for (size_t i = 0; i < all.count; i++)
		free(all.items[i]);
	free(all.items);
}

/*
 * What Azure ML Workbench (2017-2018) wrote beside the keys the later
 * RunConfiguration kept, with the meaning Workbench gave them:
 *   Description            the run's description
 *   ManagedEnvironment     false: the interpreter as it is (user-managed
 *                          dependencies), the conda file unused, as
 *                          Workbench used it only for an environment it
 *                          managed
 *   PrepareEnvironment     whether to build the conda environment before
 *                          the run: the node always builds it once per
 *                          content and reuses it, so either value is met
 *   UseSampling            the data preparation package's sampling
 *                          switch: no data preparation here, no effect
 *   SparkDependenciesFile  the Spark session's packages: a run without
 *                          Framework (Workbench's default was PySpark)
 *                          that names one is a Spark run, refused; with
 *                          Framework: Python Workbench started no Spark
 *                          and read it not
 *   CondaFile              the conda file, as CondaDependenciesFile
 * [*conda] is the conda file's node, NULL when the environment is not
 * managed.
 */
static void read_workbench(struct rc_ctx *ctx, const struct aml_node *root,
			   const struct aml_node **conda)
{
	struct aml_runconfig *rc = ctx->rc;
	const struct aml_node *legacy = aml_doc_get(root, "CondaDependenciesFile");
	const struct aml_node *short_name = aml_doc_get(root, "CondaFile");
	const struct aml_node *spark = aml_doc_get(root, "SparkDependenciesFile");
	const struct aml_node *framework = get_either(root, "framework",
						      "Framework");
	int managed = -1, flag = -1;

	*conda = rc_is_empty(legacy) ? short_name : legacy;
	if (!rc_is_empty(legacy) && !rc_is_empty(short_name))
		aml_errors_add(ctx->errs, "CondaFile",
			       "names the conda file CondaDependenciesFile already names: keep one");
	if (!rc->description)
		rc_read_string(ctx, aml_doc_get(root, "Description"),
			       "Description", &rc->description);
	rc_read_bool(ctx, aml_doc_get(root, "PrepareEnvironment"),
		     "PrepareEnvironment", &flag);
	rc_read_bool(ctx, aml_doc_get(root, "UseSampling"), "UseSampling",
		     &flag);
	if (rc_read_bool(ctx, aml_doc_get(root, "ManagedEnvironment"),
			 "ManagedEnvironment", &managed) == 0 &&
	    managed == 0) {
		rc->environment.user_managed_dependencies = 1;
		*conda = NULL;
	}
	if (!rc_is_empty(spark) &&
	    !(spark->type == AML_NODE_STRING && spark->len == 0) &&
	    rc_is_empty(framework))
		aml_errors_add(ctx->errs, "SparkDependenciesFile",
			       "names Spark packages and no Framework is given, which Azure ML Workbench ran as PySpark: Spark is not available on Slurm; for a Python script write Framework: Python (SparkDependenciesFile is then not used)");
}

void rc_read_run_configuration(struct rc_ctx *ctx, const struct aml_node *root)
{
	struct aml_runconfig *rc = ctx->rc;
	const struct aml_node *legacy_conda;
	const char *conda_field;
	uint64_t value;
	int given, workbench = 0;

	for (size_t i = 0; i < root->n_children; i++)
		if (rc_key_in_list(root->children[i].key, workbench_keys))
			workbench = 1;
	rc_check_keys(ctx, root, "", top_keys, ignored_top_keys,
		      workbench ? workbench_hint : form_hint);
	for (const char *const *key = data_keys; *key; key++) {
		if (!rc_is_empty(aml_doc_get(root, *key)))
			aml_errors_add(ctx->errs, *key,
				       "Azure ML data bindings are not supported on Slurm; read the data from its path on the shared filesystem instead");
	}

	rc_read_dir(ctx, aml_doc_get(root, "sourceDirectory"),
		    "sourceDirectory", &rc->source_directory);
	if (rc_read_string(ctx, aml_doc_get(root, "script"), "script",
			   &rc->script) == 0 && rc->script)
		ctx->has_script = 1;
	if (!rc_is_empty(aml_doc_get(root, "arguments"))) {
		ctx->has_arguments = 1;
		rc_read_arguments(ctx, aml_doc_get(root, "arguments"),
				  "arguments", 0, &rc->arguments);
	}
	read_argument_vector(ctx, aml_doc_get(root, "ArgumentVector"));
	read_command(ctx, aml_doc_get(root, "command"));
	rc_read_string(ctx, get_either(root, "target", "Target"), "target",
		       &rc->compute_target);
	if (rc->compute_target && !strcmp(rc->compute_target, "local")) {
		free(rc->compute_target);
		rc->compute_target = NULL;
	}
	if (rc_read_uint(ctx, aml_doc_get(root, "nodeCount"), "nodeCount", 1,
			 AML_MAX_NODE_COUNT, &value, &given) == 0 && given)
		rc_set_node_count(ctx, value, "nodeCount");
	read_distribution(ctx, root);
	rc_read_uint(ctx, aml_doc_get(root, "maxRunDurationSeconds"),
		     "maxRunDurationSeconds", 1, MAX_DURATION_SECONDS,
		     &rc->max_run_duration_seconds, NULL);
	rc_read_v1_environment(ctx, aml_doc_get(root, "environment"), 1,
			       form_hint);
	read_top_docker(ctx, root);
	rc_read_kvlist(ctx, get_either(root, "environmentVariables",
				       "EnvironmentVariables"),
		       "environmentVariables", 1, &rc->environment_variables);
	legacy_conda = NULL;
	if (workbench)
		read_workbench(ctx, root, &legacy_conda);
	conda_field = legacy_conda ? legacy_conda->key : NULL;
	rc_read_dir(ctx, legacy_conda, conda_field,
		    &rc->environment.conda_dependencies_file);
	rc_check_v1_python(ctx, 1,
			   rc_is_empty(legacy_conda) ? NULL : conda_field);
}
