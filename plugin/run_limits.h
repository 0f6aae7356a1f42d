/*
 * run_limits.h: the bounds on one run configuration, apart from the model
 * (runconfig.h) so that site policy, which sets them, needs only these.
 */
#ifndef AML_RUN_LIMITS_H
#define AML_RUN_LIMITS_H

#include <stdint.h>

/*
 * Bounds on a configuration's size: aml.conf's MaxConfigSize,
 * MaxEnvironmentVariables, MaxArguments and MaxArgumentsSize (site.h).
 * Users do not trust each other, and the controller reads every user's
 * configuration under its locks: these keep what one configuration costs
 * any reader within a constant.  sbatch, the controller, the node and
 * aml-run apply the same ones, so what sbatch accepts is what the
 * controller accepts.  Each refusal is one line naming the field, the
 * count, the limit and its aml.conf key.
 */
struct aml_run_limits {
	uint64_t config_bytes;    /* the text parsed: the file as written,
				   * or the canonical form the controller
				   * and the node receive */
	uint32_t variables;       /* environment variables, all places merged
				   * (a command job's inputs and outputs are
				   * variables too) */
	uint32_t arguments;       /* the script's arguments or the command's
				   * words */
	uint64_t argument_bytes;  /* those, or the command line, counting a
				   * NUL for each */
};

#define AML_DEFAULT_MAX_CONFIG_BYTES ((uint64_t)1 << 20)
#define AML_DEFAULT_MAX_VARIABLES 4096
#define AML_DEFAULT_MAX_ARGUMENTS 4096
#define AML_DEFAULT_MAX_ARGUMENT_BYTES ((uint64_t)256 << 10)

/* Fill [limits] with the defaults above. */
void aml_run_limits_default(struct aml_run_limits *limits);

#endif
