/*
 * environment.h: what a run runs in, decided from its configuration and
 * the site's policy, the same way wherever it is asked: sbatch and the
 * controller (which refuse what cannot be honoured), aml-run plan, and
 * the launcher on the node (which prepares it).  Pure: no I/O.
 *
 * Azure ML's three kinds of environment, and the site's default:
 *   AML_ENV_DEFAULT       the run asks for nothing: the site's
 *                         DefaultEnvironment, else DefaultInterpreter
 *   AML_ENV_CATALOGUE     a name from the site's catalogue (aml.conf
 *                         Environment= lines: Azure ML's curated names, or
 *                         the site's own), v1 environment.name/version or
 *                         v2 azureml:NAME:VERSION, azureml:NAME@latest, or
 *                         a registry's azureml://registries/R/...
 *   AML_ENV_USER_MANAGED  user_managed_dependencies: the interpreter the run
 *                         names (interpreter_path), else DefaultInterpreter
 *   AML_ENV_PIP,          system-managed: the conda specification (v1
 *   AML_ENV_CONDA         conda_dependencies or its file, v2 conda_file)
 *                         built once per content key into EnvDir (env_cache.h):
 *                         by pip into a venv when pip alone can build it
 *                         (env_spec.h: pip-only), else by the site's
 *                         CondaCommand; with none, the run is refused
 *   AML_ENV_IMAGE         the run's own container image (v1
 *                         docker.base_image with docker.enabled, or any
 *                         image but Azure ML's own bases; v2
 *                         environment.image), run by the site's
 *                         ContainerRuntime; its interpreter is
 *                         python.interpreter_path, else "python" as the
 *                         image's PATH finds it.  Azure ML's own base
 *                         images (mcr.microsoft.com/azureml/openmpi...,
 *                         base..., intelmpi..., minimal-ubuntu...) with
 *                         Docker not enabled only say "the default
 *                         environment".
 * A catalogue entry with Image= stays AML_ENV_CATALOGUE, with c->image
 * set.  A run that defines its environment (dependencies, user-managed,
 * an image) keeps its name only as a label, as in Azure ML.
 *
 * Refused, each with the field named and the value quoted: an image on a
 * site with ContainerRuntime=none; an image that is not a reference
 * (image_ref.h) or whose registry is not in ContainerRegistries; conda or
 * pip dependencies on top of an image without user_managed_dependencies
 * (that needs an image build); Docker arguments outside docker_args.h's,
 * or without an image to give them to; a shm_size that is not a size,
 * with an image (without one it is ignored: every saved .runconfig has
 * one); credentials for an image registry written in the configuration
 * (they would be stored with the run; the site gives registry access);
 * a Dockerfile or build context (this site builds no images).
 */
#ifndef AML_ENVIRONMENT_H
#define AML_ENVIRONMENT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "runconfig.h"
#include "site.h"

enum aml_env_kind {
	AML_ENV_DEFAULT,
	AML_ENV_CATALOGUE,
	AML_ENV_USER_MANAGED,
	AML_ENV_PIP,
	AML_ENV_CONDA,
	AML_ENV_IMAGE,
};

struct aml_env_choice {
	enum aml_env_kind kind;
	/* CATALOGUE, and DEFAULT with a DefaultEnvironment: the site's
	 * entry (owned by the site, which must outlive the choice). */
	const struct aml_site_env *entry;
	/* The script's interpreter: an absolute path or a command name;
	 * "python" for PIP and CONDA, which the launcher finds first in
	 * PATH once the built environment's bin/ is put in front of it. */
	char *interpreter;
	/* PIP and CONDA: the specification's canonical text (env_spec.h),
	 * what the content key is made of, and its package count. */
	char *spec;
	size_t n_packages;
	/* PIP and CONDA: the specification as the run wrote it (JSON or
	 * YAML), which the builders read. */
	char *source;
	/* As people read it: "AzureML-Minimal:2", "torch (site default)",
	 * "inline: pip, 3 packages", "user-managed: /opt/py/bin/python",
	 * "image: nvcr.io/nvidia/pytorch:23.10-py3",
	 * "torch:2 (image nvcr.io/nvidia/pytorch:23.10-py3)". */
	char *label;
	/* The container image the run runs in, as written (image_ref.h
	 * reads it): IMAGE's own, or a catalogue entry's Image=.  NULL: no
	 * container. */
	char *image;
	/* Or a Docker build (ContainerBuilder=podman): the build context
	 * (v2 build.path, absolute; NULL for v1's Dockerfile text alone),
	 * the Dockerfile's path in it, or v1 docker.base_dockerfile's
	 * text.  The node builds it once per content (image_pull.h). */
	char *build_context;
	char *build_dockerfile;
	char *dockerfile_text;
	/* With an image: /dev/shm's size (shm_size, or a --shm-size
	 * argument, which wins), 0 for the runtime's default; whether the
	 * run asked for the host's IPC namespace (--ipc=host). */
	uint64_t shm_bytes;
	int ipc_host;
};

/*
 * Decide the environment of [rc] under [site].  Returns 0 and fills [c];
 * on a refusal returns -1 with every problem in [errs] (one line each,
 * naming the field, the rule and the value; an unknown name lists the
 * known ones, with a suggestion) and [c] zeroed.  Runs in the controller:
 * bounded by the configuration's own limits, no I/O.
 */
int aml_env_choose(const struct aml_runconfig *rc, const struct aml_site *site,
		   struct aml_env_choice *c, struct aml_errors *errs);

void aml_env_choice_free(struct aml_env_choice *c);

/* Whether [c] runs in a container: an image, or one it builds. */
int aml_env_in_container(const struct aml_env_choice *c);

/* "catalogue", "user-managed", "pip"... for messages and the plan. */
const char *aml_env_kind_name(enum aml_env_kind kind);

/*
 * The content key of a PIP or CONDA choice: SHA-256, lower-case hex, of
 * its kind, its specification, the builder as the site sets it up (the
 * pip options and base interpreter, or the conda command) and [node], what
 * of the node the build depends on (aml_env_node_facts: its machine, OS
 * release and Python version).  Two runs with the same key can use one
 * build; anything that could make the builds differ changes the key.
 * Returns 0, or -1 for another kind (or when hashing fails).
 */
int aml_env_key(const struct aml_env_choice *c, const struct aml_site *site,
		const char *node, char hex[65]);

#endif
