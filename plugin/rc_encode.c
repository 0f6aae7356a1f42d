/*
 * rc_encode.c: the canonical form, what sbatch hands to the controller.
 *
 * It is form 1 with every value explicit and normalised (absolute source
 * directory, the distributed layout as numbers, arguments already str()'d),
 * so the controller's parse of it needs no file system and no defaults that
 * could differ between the login node and the controller.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "kvjson.h"
#include "runconfig.h"

static int add_string(cJSON *obj, const char *key, const char *value)
{
	if (!value)
		return 0;
	return cJSON_AddStringToObject(obj, key, value) ? 0 : -1;
}

static int add_number(cJSON *obj, const char *key, double value)
{
	return cJSON_AddNumberToObject(obj, key, value) ? 0 : -1;
}

static int add_strlist(cJSON *obj, const char *key,
		       const struct aml_strlist *list)
{
	cJSON *array = cJSON_AddArrayToObject(obj, key);

	if (!array)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		cJSON *item = cJSON_CreateString(list->items[i]);

		if (!item)
			return -1;
		cJSON_AddItemToArray(array, item);
	}
	return 0;
}

static int add_kvlist(cJSON *obj, const char *key,
		      const struct aml_kvlist *list)
{
	cJSON *map;

	if (list->count == 0)
		return 0;
	map = aml_kvlist_to_json(list);
	if (!map)
		return -1;
	if (!cJSON_AddItemToObject(obj, key, map)) {
		cJSON_Delete(map);
		return -1;
	}
	return 0;
}

static int add_distributed(cJSON *top, const struct aml_runconfig *rc)
{
	const struct aml_distributed *d = &rc->distributed;
	cJSON *dist;

	if (d->type == AML_DIST_NONE)
		return 0;
	dist = cJSON_AddObjectToObject(top, "distributed_job_config");
	if (!dist || add_string(dist, "type", aml_dist_type_name(d->type)) < 0)
		return -1;
	switch (d->type) {
	case AML_DIST_PYTORCH:
		/* process_count is the total, as PyTorchConfiguration has it. */
		if (add_string(dist, "communication_backend", d->backend) < 0 ||
		    add_number(dist, "process_count",
			       (double)d->process_count_per_node *
				       rc->node_count) < 0)
			return -1;
		break;
	case AML_DIST_MPI:
		if (add_number(dist, "process_count_per_node",
			       d->process_count_per_node) < 0)
			return -1;
		break;
	case AML_DIST_TENSORFLOW:
		if (add_number(dist, "worker_count", d->worker_count) < 0 ||
		    add_number(dist, "parameter_server_count",
			       d->parameter_server_count) < 0)
			return -1;
		break;
	case AML_DIST_NONE:
		break;
	}
	return 0;
}

/* docker.build_context and docker.base_image_registry: only when the
 * file gave them.  The registry's credentials are never in the model;
 * that they were written is. */
static int add_docker_sources(cJSON *docker, const struct aml_environment *env)
{
	cJSON *obj;

	if (env->build_context) {
		obj = cJSON_AddObjectToObject(docker, "build_context");
		if (!obj || add_string(obj, "location", env->build_context) < 0 ||
		    add_string(obj, "dockerfile_path", env->build_dockerfile) < 0)
			return -1;
	}
	if (env->registry_address || env->registry_credentials_given) {
		obj = cJSON_AddObjectToObject(docker, "base_image_registry");
		if (!obj ||
		    add_string(obj, "address", env->registry_address) < 0 ||
		    (env->registry_credentials_given &&
		     !cJSON_AddTrueToObject(obj, "credentials_given")))
			return -1;
	}
	return 0;
}

static int add_environment(cJSON *top, const struct aml_runconfig *rc)
{
	const struct aml_environment *env = &rc->environment;
	cJSON *envj, *python, *docker;

	envj = cJSON_AddObjectToObject(top, "environment");
	if (!envj || add_string(envj, "name", env->name) < 0 ||
	    add_string(envj, "version", env->version) < 0 ||
	    add_string(envj, "registry", env->registry) < 0 ||
	    add_string(envj, "file", env->environment_file) < 0 ||
	    add_kvlist(envj, "environment_variables",
		       &rc->environment_variables) < 0)
		return -1;
	python = cJSON_AddObjectToObject(envj, "python");
	if (!python ||
	    add_string(python, "interpreter_path", env->interpreter_path) < 0 ||
	    !cJSON_AddBoolToObject(python, "user_managed_dependencies",
				   env->user_managed_dependencies) ||
	    add_string(python, "conda_dependencies",
		       env->conda_dependencies) < 0 ||
	    add_string(python, "conda_dependencies_file",
		       env->conda_dependencies_file) < 0)
		return -1;
	docker = cJSON_AddObjectToObject(envj, "docker");
	if (!docker ||
	    !cJSON_AddBoolToObject(docker, "enabled", env->docker_enabled) ||
	    add_string(docker, "base_image", env->docker_base_image) < 0 ||
	    add_string(docker, "base_dockerfile",
		       env->docker_base_dockerfile) < 0 ||
	    add_docker_sources(docker, env) < 0 ||
	    add_string(docker, "shm_size", env->docker_shm_size) < 0 ||
	    add_strlist(docker, "arguments", &env->docker_arguments) < 0)
		return -1;
	return 0;
}

/* "datastore_outputs": {"NAME": {"root": ..., "path": ...}}: an object,
 * so that it is bounded as every object of variables is. */
static int add_datastore_outputs(cJSON *top, const struct aml_runconfig *rc)
{
	cJSON *map;

	if (rc->n_datastore_outputs == 0)
		return 0;
	map = cJSON_AddObjectToObject(top, "datastore_outputs");
	if (!map)
		return -1;
	for (size_t i = 0; i < rc->n_datastore_outputs; i++) {
		const struct aml_datastore_output *o =
			&rc->datastore_outputs[i];
		cJSON *one = cJSON_AddObjectToObject(map, o->name);

		if (!one || add_string(one, "root", o->root) < 0 ||
		    add_string(one, "path", o->path) < 0)
			return -1;
	}
	return 0;
}

/* "downloads": {"NAME": {"url": ..., "path": ...}}, bounded as
 * datastore_outputs is. */
static int add_downloads(cJSON *top, const struct aml_runconfig *rc)
{
	cJSON *map;

	if (rc->n_downloads == 0)
		return 0;
	map = cJSON_AddObjectToObject(top, "downloads");
	if (!map)
		return -1;
	for (size_t i = 0; i < rc->n_downloads; i++) {
		const struct aml_download *d = &rc->downloads[i];
		cJSON *one = cJSON_AddObjectToObject(map, d->name);

		if (!one || add_string(one, "url", d->url) < 0 ||
		    add_string(one, "path", d->path) < 0)
			return -1;
	}
	return 0;
}

char *aml_runconfig_encode(const struct aml_runconfig *rc)
{
	cJSON *top = cJSON_CreateObject();
	char *text = NULL;

	if (!top)
		return NULL;
	if (add_string(top, "original_form", aml_config_form_name(rc->form)) < 0 ||
	    add_string(top, "run_id", rc->run_id) < 0 ||
	    add_string(top, "experiment_name", rc->experiment_name) < 0 ||
	    add_string(top, "display_name", rc->display_name) < 0 ||
	    add_string(top, "description", rc->description) < 0 ||
	    add_string(top, "source_directory", rc->source_directory) < 0)
		goto out;
	if (rc->script) {
		if (add_string(top, "script", rc->script) < 0 ||
		    add_strlist(top, "arguments", &rc->arguments) < 0)
			goto out;
	} else if (rc->command_line) {
		if (add_string(top, "command", rc->command_line) < 0)
			goto out;
	} else if (add_strlist(top, "command", &rc->command) < 0) {
		goto out;
	}
	if (add_string(top, "compute_target", rc->compute_target) < 0 ||
	    add_number(top, "node_count", rc->node_count) < 0 ||
	    add_distributed(top, rc) < 0 ||
	    (rc->max_run_duration_given &&
	     add_number(top, "max_run_duration_seconds",
			(double)rc->max_run_duration_seconds) < 0) ||
	    add_environment(top, rc) < 0 ||
	    add_kvlist(top, "tags", &rc->tags) < 0 ||
	    add_kvlist(top, "properties", &rc->properties) < 0 ||
	    add_datastore_outputs(top, rc) < 0 ||
	    add_downloads(top, rc) < 0 ||
	    (rc->output_names.count &&
	     add_strlist(top, "output_folders", &rc->output_names) < 0))
		goto out;
	text = cJSON_PrintUnformatted(top);
out:
	cJSON_Delete(top);
	return text;
}
