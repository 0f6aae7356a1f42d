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
 * A run that defines its environment (dependencies, user-managed) keeps its
 * name only as a label, as in Azure ML.
 *
 * Refused, whatever the kind, each with the field named: credentials for
 * an image registry written in the configuration (they would be stored
 * with the run); a container image, Dockerfile or build context (this
 * site runs no containers), except Azure ML's own base images
 * (mcr.microsoft.com/azureml/openmpi..., base..., intelmpi...,
 * minimal-ubuntu...) with Docker not enabled, which only say "the default
 * environment"; Docker arguments without an image to give them to.
 */
#ifndef AML_ENVIRONMENT_H
#define AML_ENVIRONMENT_H

#include <stddef.h>

#include "errors.h"
#include "runconfig.h"
#include "site.h"

enum aml_env_kind {
	AML_ENV_DEFAULT,
	AML_ENV_CATALOGUE,
	AML_ENV_USER_MANAGED,
	AML_ENV_PIP,
	AML_ENV_CONDA,
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
	 * "inline: pip, 3 packages", "user-managed: /opt/py/bin/python". */
	char *label;
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
