/*
 * run_limits.c: the default bounds on a run configuration (run_limits.h).
 */
#include "run_limits.h"

void aml_run_limits_default(struct aml_run_limits *limits)
{
	limits->config_bytes = AML_DEFAULT_MAX_CONFIG_BYTES;
	limits->variables = AML_DEFAULT_MAX_VARIABLES;
	limits->arguments = AML_DEFAULT_MAX_ARGUMENTS;
	limits->argument_bytes = AML_DEFAULT_MAX_ARGUMENT_BYTES;
}
