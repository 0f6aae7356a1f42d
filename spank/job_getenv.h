/*
 * job_getenv.h: a variable of the job's environment in slurmstepd
 * (remote context), whatever its length.
 */
#ifndef AML_SPANK_JOB_GETENV_H
#define AML_SPANK_JOB_GETENV_H

#include <slurm/spank.h>

/* The biggest job variable read (the canonical configuration). */
#define AML_JOB_ENV_VALUE_MAX (16u << 20)

/*
 * The job's variable [name], malloc'd into [*value].  Returns 1, 0 when
 * it is not set, -1 when memory runs out or it is longer than
 * AML_JOB_ENV_VALUE_MAX.  spank_getenv copies into a buffer and says
 * when it is too small; the configuration can be long.
 */
int aml_job_getenv(spank_t sp, const char *name, char **value);

#endif
