#include "joined_errors.h"

#include <stdlib.h>
#include <string.h>

char *joined_errors(const struct aml_errors *errs)
{
	size_t total = 0, at = 0;
	char *joined;

	if (errs->count == 0)
		return NULL;
	for (size_t i = 0; i < errs->count; i++)
		total += strlen(errs->lines[i]) + 1;
	joined = malloc(total);
	if (!joined)
		return NULL;
	for (size_t i = 0; i < errs->count; i++) {
		size_t n = strlen(errs->lines[i]);

		memcpy(joined + at, errs->lines[i], n);
		at += n;
		joined[at++] = '\n';
	}
	joined[total - 1] = '\0';
	return joined;
}
