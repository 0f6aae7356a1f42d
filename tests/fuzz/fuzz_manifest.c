/*
 * libFuzzer target: the manifest decoder on arbitrary bytes, as a node
 * sees a manifest read back from a user's store.  Whatever decodes must
 * be the one canonical text of its tree: finishing the decoded manifest
 * accepts it unchanged, and encoding it again gives exactly the input
 * and the same id.  A failed decode leaves the manifest empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], id[AML_SHA256_HEX_LEN + 1], again[AML_SHA256_HEX_LEN + 1];
	const char *text = (const char *)data;
	struct aml_manifest m;
	size_t len;
	char *out;

	if (aml_manifest_decode(text, size, &m, err, sizeof(err)) != 0) {
		if (m.count != 0 || m.entries != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if (aml_manifest_finish(&m, err, sizeof(err)) != 0)
		abort();
	out = aml_manifest_encode(&m, &len, id);
	if (!out)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	if (aml_sha256_buffer(data, size, again) != 0 || strcmp(id, again) != 0)
		abort();
	for (size_t i = 0; i < m.count; i++)
		if (aml_manifest_check_path(m.entries[i].path, err,
					    sizeof(err)) != 0)
			abort();
	free(out);
	aml_manifest_free(&m);
	return 0;
}
