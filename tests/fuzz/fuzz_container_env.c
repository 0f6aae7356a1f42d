/*
 * libFuzzer target: an image's OCI config.json (umoci's bundle config),
 * which the node reads for the image's own variables before it runs a
 * process in the image.  The image comes from a registry a user named:
 * reading must never crash or read out of bounds; every variable given
 * is "NAME=VALUE" with a name; a refusal leaves the list as it was and
 * says why in one line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aml_strlist out = { 0 };
	char err[256];

	if (aml_strlist_push(&out, "KEPT=1") != 0)
		return 0;
	err[0] = '\0';
	if (aml_container_image_env((const char *)data, size, &out, err,
				    sizeof(err)) == 0) {
		if (out.count > 1 + AML_CONTAINER_ENV_MAX_ENTRIES)
			abort();
		for (size_t i = 0; i < out.count; i++) {
			const char *eq = strchr(out.items[i], '=');

			if (!eq || eq == out.items[i])
				abort();
		}
	} else if (out.count != 1 || !err[0] || strchr(err, '\n')) {
		abort();
	}
	aml_strlist_free(&out);
	return 0;
}
