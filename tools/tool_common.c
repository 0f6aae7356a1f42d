/*
 * tool_common.c: what every command of the tools shares (tools.h): loading
 * the site policy, printing what history holds, errors, usage errors.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "errors.h"
#include "site.h"
#include "text.h"
#include "tools.h"

void tool_printf(FILE *out, const char *fmt, ...)
{
	struct aml_text t = AML_TEXT_INIT;
	va_list ap;
	char *text;

	va_start(ap, fmt);
	aml_text_vprintf_shown(&t, fmt, ap);
	va_end(ap);
	text = aml_text_finish(&t);
	if (!text) {
		fputs("aml-run: out of memory\n", stderr);
		return;
	}
	fputs(text, out);
	free(text);
}

void tool_print_errors(const struct aml_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		fprintf(stderr, "%s\n", errs->lines[i]);
	if (errs->out_of_memory)
		fprintf(stderr, "aml-run: out of memory; some errors are missing\n");
}

int tool_load_site(const char *command, const char *conf,
		   struct aml_site *site)
{
	char path[PATH_MAX];
	struct aml_errors errs;
	int status = AML_EXIT_OK;

	if (!conf) {
		if (aml_site_default_path(path, sizeof(path)) < 0)
			return tool_usage_error(command,
						"the aml.conf path is too long");
		conf = path;
	}
	aml_errors_init(&errs, NULL);
	if (aml_site_load(conf, site, &errs) < 0) {
		tool_print_errors(&errs);
		status = AML_EXIT_INVALID;
	}
	aml_errors_free(&errs);
	return status;
}

int tool_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "aml-run %s: ", command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'aml-run %s --help'.\n", command);
	return AML_EXIT_USAGE;
}
