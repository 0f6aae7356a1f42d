#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aml_errors_init(struct aml_errors *errs, const char *file)
{
	memset(errs, 0, sizeof(*errs));
	errs->file = strdup(file ? file : "");
	if (!errs->file)
		errs->out_of_memory = 1;
}

void aml_errors_vadd(struct aml_errors *errs, const char *where,
		     const char *fmt, va_list ap)
{
	char *message = NULL, *line = NULL;
	const char *file = errs->file ? errs->file : "";
	int n;

	if (vasprintf(&message, fmt, ap) < 0) {
		errs->out_of_memory = 1;
		return;
	}
	if (where && *where)
		n = asprintf(&line, "%s%s%s: %s", file, *file ? ": " : "",
			     where, message);
	else
		n = asprintf(&line, "%s%s%s", file, *file ? ": " : "",
			     message);
	free(message);
	if (n < 0) {
		errs->out_of_memory = 1;
		return;
	}
	if (errs->count == errs->capacity) {
		size_t capacity = errs->capacity ? errs->capacity * 2 : 8;
		char **lines = realloc(errs->lines, capacity * sizeof(*lines));

		if (!lines) {
			free(line);
			errs->out_of_memory = 1;
			return;
		}
		errs->lines = lines;
		errs->capacity = capacity;
	}
	errs->lines[errs->count++] = line;
}

void aml_errors_add(struct aml_errors *errs, const char *where,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	aml_errors_vadd(errs, where, fmt, ap);
	va_end(ap);
}

int aml_errors_any(const struct aml_errors *errs)
{
	return errs->count > 0 || errs->out_of_memory;
}

int aml_fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf && errlen) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void aml_errors_free(struct aml_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		free(errs->lines[i]);
	free(errs->lines);
	free(errs->file);
	memset(errs, 0, sizeof(*errs));
}
