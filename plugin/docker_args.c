/*
 * docker_args.c: see docker_args.h.
 */
#include <stdio.h>
#include <string.h>

#include "conf_values.h"
#include "docker_args.h"
#include "errors.h"
#include "text.h"

#define ALLOWED "--shm-size=SIZE, --ipc=host, --network=host or --net=host"

/* Sizes up to a byte count and K/M/G/T: more than any host's memory. */
#define SIZE_TEXT_MAX 32

/* Quoted arguments are cut here: a line, not a page. */
#define SHOWN_SIZE 80

int aml_docker_size_parse(const char *text, uint64_t *bytes)
{
	char digits[SIZE_TEXT_MAX];
	size_t n = strlen(text);
	uint64_t v;

	/* Docker's "b", "kb", "KiB": the unit is the letter before them. */
	if (n && aml_ascii_lower((unsigned char)text[n - 1]) == 'b') {
		n--;
		if (n && aml_ascii_lower((unsigned char)text[n - 1]) == 'i')
			n--;
	}
	if (!n || n >= sizeof(digits) ||
	    !aml_ascii_is_digit((unsigned char)text[0]))
		return -1;
	memcpy(digits, text, n);
	digits[n] = '\0';
	/* aml_conf_size reads the same units (powers of 1024). */
	if (aml_conf_size(digits, &v) != 0 || v == 0)
		return -1;
	*bytes = v;
	return 0;
}

/* The options taken, each with the one value it may have (NULL: a size). */
static const struct option {
	const char *name;
	const char *only;
} options[] = {
	{ "--shm-size", NULL },
	{ "--ipc", "host" },
	{ "--network", "host" },
	{ "--net", "host" },
};

/* Which of options[] [arg] is (as --NAME=VALUE or --NAME), or -1. */
static int find_option(const char *arg, const char **value)
{
	for (size_t k = 0; k < sizeof(options) / sizeof(*options); k++) {
		size_t len = strlen(options[k].name);

		if (strncmp(arg, options[k].name, len) ||
		    (arg[len] && arg[len] != '='))
			continue;
		*value = arg[len] ? arg + len + 1 : NULL;
		return (int)k;
	}
	return -1;
}

int aml_docker_args_check(char *const *args, size_t n, uint64_t *shm_bytes,
			  int *ipc_host, char *errbuf, size_t errlen)
{
	char shown[SHOWN_SIZE];

	*shm_bytes = 0;
	*ipc_host = 0;
	if (errlen)
		errbuf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *v = NULL;
		int k = find_option(args[i], &v);

		if (k < 0)
			return aml_fail(errbuf, errlen, "%s is not allowed: a "
				        "run's container takes only " ALLOWED,
				        aml_text_quote(args[i], strlen(args[i]),
						       shown, sizeof(shown)));
		if (!v && i + 1 == n)
			return aml_fail(errbuf, errlen, "%s: needs a value",
				        options[k].name);
		if (!v)
			v = args[++i];
		if (!options[k].only) {
			if (aml_docker_size_parse(v, shm_bytes) < 0)
				return aml_fail(errbuf, errlen, "%s: must be a "
					        "size such as 2g, 512m or "
					        "1073741824 (units k, m, g, t: "
					        "powers of 1024), got %s",
					        options[k].name,
					        aml_text_quote(v, strlen(v), shown,
							       sizeof(shown)));
		} else if (strcmp(v, options[k].only)) {
			return aml_fail(errbuf, errlen, "%s: only %s is allowed, "
				        "got %s", options[k].name,
				        options[k].only,
				        aml_text_quote(v, strlen(v), shown,
						       sizeof(shown)));
		} else if (k == 1) {
			*ipc_host = 1;
		}
	}
	return 0;
}
