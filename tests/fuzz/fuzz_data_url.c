/*
 * libFuzzer target: an https:// input's URL (inputs.X.path, the
 * canonical form's downloads.X.url) and a DataDownloadHosts= item with a
 * host to match.  Reading must never crash or read out of bounds; a
 * refusal says why; what is accepted has a lowercase host name, a port,
 * and a file name that is a plain word, and never a password.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data_url.h"

static void check_url(const char *text)
{
	struct aml_data_url u;
	char err[512], path[AML_DATA_NAME_MAX + 64];

	err[0] = '\0';
	if (aml_data_url_parse(text, &u, err, sizeof(err)) != 0) {
		if (!err[0])
			abort();
		/* A refused URL is never repeated whole when it has
		 * userinfo. */
		if (strchr(text, '@') && strlen(text) > 12 &&
		    strstr(err, text))
			abort();
		return;
	}
	if (!u.host[0] || !u.name[0] || u.port < 1 || u.port > 65535 ||
	    !aml_data_host_pattern_valid(u.host))
		abort();
	for (const char *p = u.host; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
	for (const char *p = u.name; *p; p++)
		if (strchr("/ \t'\"$`\\;&|<>()*?[]{}~!#%\n", *p))
			abort();
	if (!strcmp(u.name, ".") || !strcmp(u.name, ".."))
		abort();
	if (aml_data_download_path("x", &u, path, sizeof(path)) != 0)
		abort();
	/* An accepted host is allowed by its own name. */
	{
		char *one = u.host;

		if (!aml_data_host_allowed(&one, 1, u.host))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char *nl;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_url(text);
	/* "PATTERN\nHOST": a host list item and a host. */
	nl = strchr(text, '\n');
	if (nl) {
		char *pattern = text;

		*nl = '\0';
		if (aml_data_host_pattern_valid(pattern))
			(void)aml_data_host_allowed(&pattern, 1, nl + 1);
	}
	free(text);
	return 0;
}
