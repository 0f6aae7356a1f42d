/*
 * job_getenv.c: see job_getenv.h.
 */
#include <stdlib.h>

#include "job_getenv.h"

int aml_job_getenv(spank_t sp, const char *name, char **value)
{
	size_t len = 4096;

	*value = NULL;
	for (;;) {
		char *buf = malloc(len);
		spank_err_t err;

		if (!buf)
			return -1;
		err = spank_getenv(sp, name, buf, (int)len);
		if (err == ESPANK_SUCCESS) {
			*value = buf;
			return 1;
		}
		free(buf);
		if (err != ESPANK_NOSPACE || len >= AML_JOB_ENV_VALUE_MAX)
			return err == ESPANK_NOSPACE ? -1 : 0;
		len *= 4;
	}
}
