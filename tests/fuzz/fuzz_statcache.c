/*
 * libFuzzer target: the stat cache parser on arbitrary bytes, as a capture
 * reads a cache back from a store its user (or their job) may have
 * written anything into.  What parses must be exactly what the writer
 * makes of the entries read (one form per cache), both from their fields
 * and copied whole (aml_stat_cache_copy), and each entry must be found
 * again in one pass; what does not parse leaves the cache empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aml_stat_cache c;
	struct aml_stat_cache_writer wr;
	char path[4097], hex[AML_SHA256_HEX_LEN + 1];
	size_t len = 0;
	char *out;

	if (aml_stat_cache_parse((const char *)data, size, &c) != 0) {
		if (c.count != 0 || c.entries != NULL || c.manifest[0] != '\0')
			abort();
		return 0;
	}
	aml_stat_cache_start(&wr, c.manifest, c.count, size);
	for (size_t i = 0; i < c.count; i++) {
		const struct aml_stat_entry *e = &c.entries[i];

		/* A path with a NUL in it cannot be looked up by name, and
		 * no capture writes one: the round trip stops there. */
		if (memchr(e->path, '\0', e->path_len)) {
			aml_stat_cache_free(&c);
			free(aml_stat_cache_end(&wr, &len));
			return 0;
		}
		memcpy(path, e->path, e->path_len);
		path[e->path_len] = '\0';
		if (aml_stat_cache_find(&c, path) != e)
			abort();
		aml_sha256_to_hex(e->sha256, hex);
		aml_stat_cache_add(&wr, path, e->ino, e->size, e->mtime_ns,
				   e->ctime_ns, hex);
	}
	out = aml_stat_cache_end(&wr, &len);
	if (!out || len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	aml_stat_cache_start(&wr, c.manifest, 0, 0);
	for (size_t i = 0; i < c.count; i++)
		aml_stat_cache_copy(&wr, &c.entries[i]);
	out = aml_stat_cache_end(&wr, &len);
	if (!out || len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	aml_stat_cache_free(&c);
	return 0;
}
