/*
 * job_env.c: what makes a name a variable name (job_env.h).
 */
#include "job_env.h"

#include <ctype.h>

int aml_is_env_name(const char *name)
{
	if (!name || !(isalpha((unsigned char)*name) || *name == '_'))
		return 0;
	for (const char *p = name + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return 0;
	return 1;
}
