/*
 * environment.c: see environment.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker_args.h"
#include "env_spec.h"
#include "environment.h"
#include "hash.h"
#include "image_ref.h"
#include "suggest.h"
#include "text.h"

/* Names listed in a refusal: a site's catalogue may be long. */
#define KNOWN_SHOWN 12

const char *aml_env_kind_name(enum aml_env_kind kind)
{
	switch (kind) {
	case AML_ENV_DEFAULT:
		return "site default";
	case AML_ENV_CATALOGUE:
		return "catalogue";
	case AML_ENV_USER_MANAGED:
		return "user-managed";
	case AML_ENV_PIP:
		return "pip";
	case AML_ENV_CONDA:
		return "conda";
	case AML_ENV_IMAGE:
		return "image";
	}
	return "?";
}

void aml_env_choice_free(struct aml_env_choice *c)
{
	free(c->interpreter);
	free(c->spec);
	free(c->source);
	free(c->label);
	free(c->image);
	free(c->build_context);
	free(c->build_dockerfile);
	free(c->dockerfile_text);
	memset(c, 0, sizeof(*c));
}

int aml_env_in_container(const struct aml_env_choice *c)
{
	return c->image || c->build_context || c->dockerfile_text;
}

/* Whether the site builds runs' images: a builder, and a runtime that
 * runs what it builds from ImageDir. */
static int site_builds(const struct aml_site *site)
{
	return site->container_builder_podman &&
	       site->container_runtime != AML_CONTAINER_NONE &&
	       site->container_runtime != AML_CONTAINER_PYXIS;
}

/* DefaultInterpreter; python3 where a site (a test's) has none. */
static const char *site_interpreter(const struct aml_site *site)
{
	return site->default_interpreter ? site->default_interpreter
					 : "python3";
}

/*
 * Azure ML's own base images: a configuration saved by the SDK names one
 * even when it asks for no container (docker.enabled false), and with
 * one of them it means "the default environment", which here is the
 * site's.  Any other image asks for a container this site cannot run.
 */
static int is_azureml_base_image(const char *image)
{
	static const char *const bases[] = {
		"mcr.microsoft.com/azureml/openmpi",
		"mcr.microsoft.com/azureml/base",
		"mcr.microsoft.com/azureml/intelmpi",
		"mcr.microsoft.com/azureml/minimal-ubuntu",
	};

	for (size_t i = 0; i < sizeof(bases) / sizeof(*bases); i++)
		if (!strncmp(image, bases[i], strlen(bases[i])))
			return 1;
	return 0;
}

/* The run's own spelling of the container fields. */
struct image_fields {
	const char *image, *arguments, *shm_size;
};

static struct image_fields fields_of(const struct aml_runconfig *rc)
{
	struct image_fields f = { "environment.docker.base_image",
				  "environment.docker.arguments",
				  "environment.docker.shm_size" };

	if (rc->form == AML_FORM_COMMAND_JOB) {
		f.image = "environment.image";
		f.arguments = "resources.docker_args";
		f.shm_size = "resources.shm_size";
	}
	return f;
}

/* The run's own image: Docker enabled, or an image that is not one of
 * Azure ML's bases (which, with Docker off, only mean the default). */
static const char *inline_image(const struct aml_environment *env)
{
	return env->docker_base_image &&
			       (env->docker_enabled ||
				!is_azureml_base_image(env->docker_base_image))
		       ? env->docker_base_image
		       : NULL;
}

/* The refusals that hold whatever the kind (environment.h). */
static void refuse_builds(const struct aml_environment *env,
			  const struct aml_site *site, struct aml_errors *errs)
{
	const char *why = site->container_runtime == AML_CONTAINER_NONE
				  ? " (ContainerRuntime=none)"
			  : site->container_runtime == AML_CONTAINER_PYXIS
				  ? " (pyxis runs registry images only)"
				  : " (ContainerBuilder=none); push the image "
				    "to a registry and name it instead";
	char shown[256];

	if (env->registry_credentials_given)
		aml_errors_add(errs, "environment.docker.base_image_registry",
			       "credentials written in the configuration are "
			       "refused: they would be stored with the run for "
			       "everyone who can read it; the site gives "
			       "registry access");
	if (site_builds(site))
		return;
	if (env->docker_base_dockerfile)
		aml_errors_add(errs, "environment.docker.base_dockerfile",
			       "this site builds no container images%s", why);
	if (env->build_context)
		aml_errors_add(errs, "environment.build",
			       "this site builds no container images%s, got "
			       "%s", why,
			       aml_text_quote(env->build_context,
					      strlen(env->build_context), shown,
					      sizeof(shown)));
}

/* Whether the site lets runs pull from [registry] (ContainerRegistries;
 * host names compare in any case). */
static int registry_allowed(const struct aml_site *site, const char *registry)
{
	if (!site->container_registries)
		return 1;
	for (size_t i = 0; i < site->n_container_registries; i++)
		if (aml_ascii_ieq(site->container_registries[i], registry))
			return 1;
	return 0;
}

/* The run's inline image [image]: a reference the site may pull. */
static int check_inline_image(const char *image, const char *field,
			      const struct aml_site *site,
			      struct aml_errors *errs)
{
	struct aml_image_ref ref;
	char err[256], shown[300], allowed[512];
	size_t used = 0;

	aml_text_quote(image, strlen(image), shown, sizeof(shown));
	if (site->container_runtime == AML_CONTAINER_NONE) {
		aml_errors_add(errs, field, "this site runs no container images "
			       "(ContainerRuntime=none); name an environment of "
			       "the site's catalogue instead, got %s", shown);
		return -1;
	}
	if (aml_image_ref_parse(image, &ref, err, sizeof(err)) < 0) {
		aml_errors_add(errs, field, "not an image reference: %s", err);
		return -1;
	}
	if (registry_allowed(site, ref.registry))
		return 0;
	allowed[0] = '\0';
	for (size_t i = 0; i < site->n_container_registries &&
			   used < sizeof(allowed); i++)
		used += (size_t)snprintf(allowed + used, sizeof(allowed) - used,
					 "%s%s", i ? ", " : "",
					 site->container_registries[i]);
	aml_errors_add(errs, field, "registry %s is not one this site pulls "
		       "from (allowed: %s), got %s", ref.registry, allowed,
		       shown);
	return -1;
}

/* shm_size and the Docker arguments, for a run with an image; without
 * one, arguments are refused and shm_size ignored (every saved
 * .runconfig has one). */
static void container_options(const struct aml_runconfig *rc,
			      struct aml_env_choice *c,
			      struct aml_errors *errs)
{
	const struct aml_environment *env = &rc->environment;
	struct image_fields f = fields_of(rc);
	uint64_t shm = 0;
	char err[512], shown[100];

	if (!aml_env_in_container(c)) {
		if (env->docker_arguments.count)
			aml_errors_add(errs, f.arguments,
				       "only for a container, and the run has "
				       "none (%zu argument%s)",
				       env->docker_arguments.count,
				       env->docker_arguments.count == 1 ? ""
									: "s");
		return;
	}
	if (env->docker_shm_size &&
	    aml_docker_size_parse(env->docker_shm_size, &shm) < 0)
		aml_errors_add(errs, f.shm_size, "must be a size such as 2g, "
			       "512m or 1073741824 (units k, m, g, t: powers "
			       "of 1024), got %s",
			       aml_text_quote(env->docker_shm_size,
					      strlen(env->docker_shm_size),
					      shown, sizeof(shown)));
	c->shm_bytes = shm;
	if (aml_docker_args_check(env->docker_arguments.items,
				  env->docker_arguments.count, &shm,
				  &c->ipc_host, err, sizeof(err)) < 0)
		aml_errors_add(errs, f.arguments, "%s", err);
	else if (shm)
		c->shm_bytes = shm;  /* --shm-size wins, as in Docker */
}

/* The environment is a container the run defines: its name is only its
 * label, as for any inline definition. */
static int defines_image(const struct aml_environment *env)
{
	return (env->docker_base_image && env->docker_enabled) ||
	       env->docker_base_dockerfile || env->build_context;
}

/*
 * Azure ML's SDK names every ScriptRunConfig's environment it made itself
 * "Experiment <experiment> Environment" (saved with an "Autosave_..."
 * version): no one chose it, and it stands for the default environment,
 * not for one of the site's catalogue.
 */
static int sdk_generated_name(const char *name)
{
	static const char head[] = "Experiment ", tail[] = " Environment";
	size_t n = strlen(name);

	return n > sizeof(head) - 1 + sizeof(tail) - 1 &&
	       !strncmp(name, head, sizeof(head) - 1) &&
	       !strcmp(name + n - (sizeof(tail) - 1), tail);
}

/* "a, b, c, ..." of the catalogue's distinct names, into [buf]. */
static void known_names(const struct aml_site *site, char *buf, size_t len)
{
	size_t used = 0, shown = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < site->n_envs && used < len; i++) {
		const char *name = site->envs[i].name;
		int seen = 0;

		if (!name)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = site->envs[j].name &&
			       !strcmp(site->envs[j].name, name);
		if (seen)
			continue;
		if (shown == KNOWN_SHOWN) {
			snprintf(buf + used, len - used, ", ...");
			return;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 shown ? ", " : "", name);
		shown++;
	}
}

/* One refusal for a name the catalogue lacks, with what it has. */
static void unknown_name(const struct aml_environment *env,
			 const struct aml_site *site, struct aml_errors *errs)
{
	const char *field = env->registry ? "environment (registry)"
					  : "environment.name";
	const char **names = NULL;
	const char *near = NULL;
	char known[1024], shown[300];

	known_names(site, known, sizeof(known));
	if (site->n_envs && (names = malloc(site->n_envs * sizeof(*names)))) {
		size_t n = 0;

		for (size_t i = 0; i < site->n_envs; i++)
			if (site->envs[i].name)
				names[n++] = site->envs[i].name;
		near = aml_suggest(env->name, names, n);
	}
	aml_text_quote(env->name, strlen(env->name), shown, sizeof(shown));
	if (env->version && aml_site_find_env(site, env->name, NULL))
		aml_errors_add(errs, "environment.version",
			       "%s has no version %s in this site's catalogue "
			       "(ask for @latest, or one it has)", shown,
			       env->version);
	else if (!site->n_envs)
		aml_errors_add(errs, field,
			       "this site's catalogue has no environments, "
			       "got %s; leave it out for the default, or define "
			       "the environment (conda_dependencies)", shown);
	else if (near)
		aml_errors_add(errs, field,
			       "not in this site's catalogue (did you mean "
			       "%s?; known: %s), got %s", near, known, shown);
	else
		aml_errors_add(errs, field,
			       "not in this site's catalogue (known: %s), got "
			       "%s", known, shown);
	free(names);
}

static int set_label(struct aml_env_choice *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int set_label(struct aml_env_choice *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&c->label, fmt, ap);
	va_end(ap);
	if (n < 0)
		c->label = NULL;
	return n < 0 ? -1 : 0;
}

/* An entry of the catalogue: its interpreter and label. */
static int use_entry(struct aml_env_choice *c, const struct aml_site_env *e,
		     const struct aml_site *site, const char *why)
{
	c->entry = e;
	if (e->image) {
		/* The interpreter inside the image: its own PATH's. */
		if (!(c->image = strdup(e->image)) ||
		    !(c->interpreter = strdup(e->interpreter ? e->interpreter
							     : "python")))
			return -1;
		return set_label(c, "%s%s%s (image %s)%s", e->name,
				 e->version ? ":" : "",
				 e->version ? e->version : "", e->image, why);
	}
	if (e->interpreter)
		c->interpreter = strdup(e->interpreter);
	else if (e->prefix &&
		 asprintf(&c->interpreter, "%s/bin/python", e->prefix) < 0)
		c->interpreter = NULL;
	else if (!e->prefix)
		/* Modules only: the interpreter their PATH gives. */
		c->interpreter = strdup(site_interpreter(site));
	if (!c->interpreter)
		return -1;
	return set_label(c, "%s%s%s%s", e->name, e->version ? ":" : "",
			 e->version ? e->version : "", why);
}

/* A system-managed environment: the specification decides pip or conda. */
static int use_spec(struct aml_env_choice *c, const struct aml_environment *env,
		    const struct aml_site *site, struct aml_errors *errs)
{
	const char *field = env->conda_dependencies_file
				    ? "environment.python.conda_dependencies_file"
				    : "environment.python.conda_dependencies";
	struct aml_env_spec spec;
	int rc = -1;

	memset(&spec, 0, sizeof(spec));
	if (aml_env_spec_parse(env->conda_dependencies,
			       strlen(env->conda_dependencies), field, &spec,
			       errs) < 0)
		return -1;
	c->n_packages = spec.conda.count + spec.pip.count;
	/* A python version that pip cannot give: conda, where the site has
	 * it; else pip, and the node says whether its python fits. */
	if (aml_env_spec_pip_only(&spec) &&
	    !(spec.python && strcmp(spec.python, "*") && site->conda_command)) {
		c->kind = AML_ENV_PIP;
	} else if (site->conda_command) {
		c->kind = AML_ENV_CONDA;
	} else {
		char shown[300];
		const char *first = spec.conda.items[0];

		aml_errors_add(errs, field,
			       "needs conda (%s is a conda package), and this "
			       "site has no CondaCommand; list the packages "
			       "under pip: where pip has them",
			       aml_text_quote(first, strlen(first), shown,
					      sizeof(shown)));
		goto out;
	}
	if (!(c->spec = aml_env_spec_canonical(&spec)) ||
	    !(c->source = strdup(env->conda_dependencies)) ||
	    !(c->interpreter = strdup("python")) ||
	    set_label(c, "%s%s%s: %s, %zu package%s",
		      env->name ? env->name : "inline",
		      env->name && env->version ? ":" : "",
		      env->name && env->version ? env->version : "",
		      aml_env_kind_name(c->kind), c->n_packages,
		      c->n_packages == 1 ? "" : "s") < 0) {
		aml_errors_add(errs, field, "out of memory");
		goto out;
	}
	rc = 0;
out:
	aml_env_spec_free(&spec);
	return rc;
}

/* The run's own image (AML_ENV_IMAGE): dependencies on top of it would
 * need an image build. */
static int use_image(struct aml_env_choice *c, const struct aml_runconfig *rc,
		     const struct aml_site *site, struct aml_errors *errs)
{
	const struct aml_environment *env = &rc->environment;
	const char *image = inline_image(env);
	const char *interp = env->interpreter_path ? env->interpreter_path
						   : "python";
	int bad = check_inline_image(image, fields_of(rc).image, site, errs);

	if (env->conda_dependencies && !env->user_managed_dependencies) {
		aml_errors_add(errs, env->conda_dependencies_file
					     ? "environment.python."
					       "conda_dependencies_file"
					     : "environment.python."
					       "conda_dependencies",
			       "dependencies on top of an image need an image "
			       "build, which this site does not make: use an "
			       "image that has them, or "
			       "user_managed_dependencies: true");
		bad = -1;
	}
	if (bad < 0)
		return -1;
	c->kind = AML_ENV_IMAGE;
	if (!(c->image = strdup(image)) || !(c->interpreter = strdup(interp)) ||
	    set_label(c, "image: %s", image) < 0) {
		aml_errors_add(errs, "environment", "out of memory");
		return -1;
	}
	return 0;
}

/* A Docker build the site makes (ContainerBuilder): run in what it
 * builds, as in its own image. */
static int use_build(struct aml_env_choice *c, const struct aml_runconfig *rc,
		     struct aml_errors *errs)
{
	const struct aml_environment *env = &rc->environment;
	const char *interp = env->interpreter_path ? env->interpreter_path
						   : "python";
	int oom;

	if (env->conda_dependencies && !env->user_managed_dependencies) {
		aml_errors_add(errs, "environment.python.conda_dependencies",
			       "dependencies on top of a Docker build: put "
			       "them in its Dockerfile, or set "
			       "user_managed_dependencies: true");
		return -1;
	}
	c->kind = AML_ENV_IMAGE;
	oom = !(c->interpreter = strdup(interp));
	if (env->build_context)
		oom = oom || !(c->build_context = strdup(env->build_context)) ||
		      !(c->build_dockerfile =
				strdup(env->build_dockerfile
					       ? env->build_dockerfile
					       : "Dockerfile")) ||
		      set_label(c, "image built from %s", env->build_context) <
			      0;
	else
		oom = oom ||
		      !(c->dockerfile_text =
				strdup(env->docker_base_dockerfile)) ||
		      set_label(c, "image built from its Dockerfile") < 0;
	if (oom) {
		aml_errors_add(errs, "environment", "out of memory");
		return -1;
	}
	return 0;
}

int aml_env_choose(const struct aml_runconfig *rc, const struct aml_site *site,
		   struct aml_env_choice *c, struct aml_errors *errs)
{
	const struct aml_environment *env = &rc->environment;
	const char *default_interpreter = site_interpreter(site);
	size_t before = errs->count;
	int oom = 0;

	memset(c, 0, sizeof(*c));
	/* What a file says travels as its content: a path alone (a forged
	 * client, validate --no-files) would start the run without it. */
	if (aml_runconfig_check_read(rc, errs) < 0)
		return -1;
	refuse_builds(env, site, errs);
	if (inline_image(env)) {
		if (use_image(c, rc, site, errs) < 0)
			goto refused;
	} else if (site_builds(site) &&
		   (env->build_context || env->docker_base_dockerfile)) {
		if (use_build(c, rc, errs) < 0)
			goto refused;
	} else if (env->user_managed_dependencies) {
		const char *interp = env->interpreter_path
					     ? env->interpreter_path
					     : default_interpreter;

		c->kind = AML_ENV_USER_MANAGED;
		oom = !(c->interpreter = strdup(interp)) ||
		      set_label(c, "user-managed: %s", interp) < 0;
	} else if (env->conda_dependencies) {
		if (use_spec(c, env, site, errs) < 0)
			goto refused;
	} else if (env->name && !defines_image(env) &&
		   !sdk_generated_name(env->name)) {
		/* azureml:NAME@latest: the catalogue's highest version. */
		const char *version = env->version &&
					      strcmp(env->version, "latest")
					      ? env->version
					      : NULL;
		const struct aml_site_env *e =
			aml_site_find_env(site, env->name, version);

		if (!e) {
			unknown_name(env, site, errs);
			goto refused;
		}
		c->kind = AML_ENV_CATALOGUE;
		oom = use_entry(c, e, site, "") < 0;
	} else if (site->default_environment) {
		const char *colon = strchr(site->default_environment, ':');
		char *name = colon ? strndup(site->default_environment,
					     (size_t)(colon -
						      site->default_environment))
				   : strdup(site->default_environment);
		const struct aml_site_env *e =
			name ? aml_site_find_env(site, name,
						 colon ? colon + 1 : NULL)
			     : NULL;

		free(name);
		c->kind = AML_ENV_DEFAULT;
		/* aml.conf's own check makes it there. */
		oom = !e || use_entry(c, e, site, " (site default)") < 0;
	} else {
		c->kind = AML_ENV_DEFAULT;
		oom = !(c->interpreter = strdup(default_interpreter)) ||
		      set_label(c, "site default: %s", default_interpreter) < 0;
	}
	if (oom)
		aml_errors_add(errs, "environment", "out of memory");
	else if (c->image && site->container_runtime == AML_CONTAINER_NONE)
		/* A site made without aml.conf's check (which refuses it). */
		aml_errors_add(errs, "environment.name", "%s runs in a container "
			       "image, and this site runs none "
			       "(ContainerRuntime=none)", c->label);
	container_options(rc, c, errs);
	if (errs->count == before)
		return 0;
refused:
	aml_env_choice_free(c);
	return -1;
}

int aml_env_key(const struct aml_env_choice *c, const struct aml_site *site,
		const char *node, char hex[65])
{
	struct aml_sha256 h;
	int ok;

	if ((c->kind != AML_ENV_PIP && c->kind != AML_ENV_CONDA) || !c->spec)
		return -1;
	if (aml_sha256_init(&h) < 0)
		return -1;
	/* Each part ends with a NUL, so no two splits of the same bytes
	 * hash alike. */
	ok = aml_sha256_update(&h, "aml-env 1", 10) == 0 &&
	     aml_sha256_update(&h, aml_env_kind_name(c->kind),
			       strlen(aml_env_kind_name(c->kind)) + 1) == 0 &&
	     aml_sha256_update(&h, c->spec, strlen(c->spec) + 1) == 0 &&
	     aml_sha256_update(&h, node ? node : "", strlen(node ? node : "") +
						  1) == 0;
	if (ok && c->kind == AML_ENV_PIP) {
		ok = aml_sha256_update(&h, site_interpreter(site),
				       strlen(site_interpreter(site)) + 1) == 0;
		for (size_t i = 0; ok && i < site->pip_options.count; i++)
			ok = aml_sha256_update(&h, site->pip_options.items[i],
					       strlen(site->pip_options.items[i]) +
						       1) == 0;
	} else if (ok) {
		ok = aml_sha256_update(&h, site->conda_command,
				       strlen(site->conda_command) + 1) == 0;
	}
	if (!ok) {
		aml_sha256_abort(&h);
		return -1;
	}
	return aml_sha256_final(&h, hex) == 0 ? 0 : -1;
}
