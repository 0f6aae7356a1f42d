/*
 * job_env.c: what makes a name a variable name (job_env.h).
 */
#include "job_env.h"

#include <ctype.h>
#include <string.h>

int aml_is_env_name(const char *name)
{
	if (!name || !(isalpha((unsigned char)*name) || *name == '_'))
		return 0;
	for (const char *p = name + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return 0;
	return 1;
}

/*
 * The one list of names a run may not set itself: a user's SLURM_JOB_ID
 * or AZUREML_RUN_ID would silently mislead the launcher, the node side or
 * the script.  Only the AZUREML_ names slurm-aml sets are reserved, not
 * the prefix: real Azure ML configurations set others
 * (AZUREML_COMPUTE_USE_COMMON_RUNTIME) that are harmless here.  The
 * per-process distributed variables are reserved only for a distributed
 * run, the only kind that gets them.
 */
static const struct {
	const char *name;
	int prefix;
	int distributed_only;
	const char *why;
} reserved[] = {
	{ "SLURM_", 1, 0, "names starting with SLURM_ are reserved for Slurm" },
	{ AML_ENV_RESERVED_PREFIX, 1, 0, "names starting with " AML_ENV_RESERVED_PREFIX " are reserved for slurm-aml" },
	{ "AZUREML_CR_", 1, 0, "names starting with AZUREML_CR_ are reserved for slurm-aml's node side" },
	{ AML_ENV_AZUREML_RUN_ID, 0, 0, "slurm-aml sets it for every run" },
	{ AML_ENV_AZUREML_PROJECT, 0, 0, "slurm-aml sets it for every run" },
	{ AML_ENV_EXPERIMENT, 0, 0, "slurm-aml sets it for every run" },
	{ AML_ENV_NODE_COUNT, 0, 0, "slurm-aml sets it for every run" },
	{ "OMPI_COMM_WORLD_", 1, 1, "slurm-aml sets the OMPI_COMM_WORLD_ names per process in a distributed run" },
	{ "MASTER_ADDR", 0, 1, "slurm-aml sets it per process in a distributed run" },
	{ "MASTER_PORT", 0, 1, "slurm-aml sets it per process in a distributed run" },
	{ "WORLD_SIZE", 0, 1, "slurm-aml sets it per process in a distributed run" },
	{ "RANK", 0, 1, "slurm-aml sets it per process in a distributed run" },
	{ "LOCAL_RANK", 0, 1, "slurm-aml sets it per process in a distributed run" },
	{ "LOCAL_WORLD_SIZE", 0, 1, "slurm-aml sets it per process in a distributed run" },
	{ "NODE_RANK", 0, 1, "slurm-aml sets it per process in a distributed run" },
	{ "TF_CONFIG", 0, 1, "slurm-aml sets it per process in a distributed run" },
	{ "AZ_BATCH_MASTER_NODE", 0, 1, "slurm-aml sets it per process in a distributed run" },
};

const char *aml_env_reserved_reason(const char *name, int distributed)
{
	for (size_t r = 0; r < sizeof(reserved) / sizeof(*reserved); r++) {
		if (reserved[r].distributed_only && !distributed)
			continue;
		if (reserved[r].prefix
			    ? !strncmp(name, reserved[r].name,
				       strlen(reserved[r].name))
			    : !strcmp(name, reserved[r].name))
			return reserved[r].why;
	}
	return NULL;
}
