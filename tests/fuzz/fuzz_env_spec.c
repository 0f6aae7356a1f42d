/*
 * libFuzzer target: a conda environment specification as a user writes
 * it (run.json's conda_dependencies, a conda_file), which sbatch and the
 * controller both read.  Reading must never crash or read out of bounds;
 * a refusal says why; and what is accepted is a fixed point of the
 * writers: canonical -> environment.yml -> read again -> the same
 * canonical text, the same requirements, and a python constraint the
 * matcher can read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "env_spec.h"

/* The environment.yml of a specification at the limits may be over them
 * (quotes, "pip" added, python spelt for conda): only a limit may refuse
 * it. */
static void check_only_limits(const struct aml_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		if (!strstr(errs->lines[i], "at most"))
			abort();
}

static void check_written(const struct aml_env_spec *spec)
{
	struct aml_env_spec again;
	struct aml_errors errs;
	char *canonical = aml_env_spec_canonical(spec);
	char *yaml = aml_env_spec_conda_yaml(spec);
	char *req = aml_env_spec_requirements(spec);
	char err[256];

	if (!canonical || !yaml || !req)
		abort();
	if (aml_env_python_matches(spec->python, "3.11.2", err,
				   sizeof(err)) < 0)
		abort();
	aml_errors_init(&errs, NULL);
	if (aml_env_spec_parse(yaml, strlen(yaml), "yaml", &again,
			       &errs) != 0) {
		check_only_limits(&errs);
	} else {
		char *canonical2 = aml_env_spec_canonical(&again);
		char *req2 = aml_env_spec_requirements(&again);

		if (!canonical2 || !req2 || strcmp(canonical, canonical2) ||
		    strcmp(req, req2) ||
		    aml_env_spec_pip_only(spec) != aml_env_spec_pip_only(&again))
			abort();
		free(canonical2);
		free(req2);
	}
	aml_env_spec_free(&again);
	aml_errors_free(&errs);
	free(canonical);
	free(yaml);
	free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aml_env_spec spec;
	struct aml_errors errs;

	aml_errors_init(&errs, "run.json");
	if (aml_env_spec_parse((const char *)data, size, "conda_dependencies",
			       &spec, &errs) == 0) {
		if (errs.count)
			abort();
		check_written(&spec);
	} else if (!errs.count && !errs.out_of_memory) {
		abort();
	}
	aml_env_spec_free(&spec);
	aml_errors_free(&errs);
	return 0;
}
