/*
 * statcache.h: a capture's stat cache, what it saw of each file it
 * hashed, so that the next capture of the same source directory reads
 * only the files that changed (the rules of what may be vouched for are
 * snapshot_capture.c's; this is the format).
 *
 * Binary, read and written whole on every resubmit of a large tree, so
 * it is small and parsed without converting a number (10,000 files: 0.8
 * MB, where the text form it replaced was 1.3 MB and most of a resubmit's
 * time outside the walk):
 *
 *     "aml-stat-cache 2\n"
 *     "manifest " <64 hex digits: the snapshot it was written with> "\n"
 *     per file, sorted bytewise by path, no path twice:
 *         ino, size, mtime_ns, ctime_ns   8 bytes each, little-endian
 *         SHA-256 of the content          32 bytes
 *         path length                     2 bytes, little-endian, 1-4096
 *         path                            that many bytes, no NUL
 *
 * A cache is only ever a saving: one that is not exactly in this form
 * (another version, cut short, out of order) is dropped whole, and every
 * file is read again.
 */
#ifndef AML_STATCACHE_H
#define AML_STATCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define AML_STAT_CACHE_HEADER "aml-stat-cache 2\n"

struct aml_stat_entry {
	const char *path;       /* into the parsed text; not NUL-terminated */
	size_t path_len;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	const unsigned char *sha256; /* 32 bytes, into the parsed text */
};

struct aml_stat_cache {
	struct aml_stat_entry *entries; /* sorted by path */
	size_t count;
	char manifest[AML_SHA256_HEX_LEN + 1]; /* "" when there is no cache */
	size_t next;            /* aml_stat_cache_find's place */
};

/*
 * Parse [len] bytes of [text], which must outlive [c] (entries point into
 * it).  Returns 0, or -1 with [c] empty (count 0, manifest "") when the
 * text is not a cache of this version or memory runs out.
 */
int aml_stat_cache_parse(const char *text, size_t len,
			 struct aml_stat_cache *c);

/*
 * The entry for [path] or NULL.  Calls must come with paths in strictly
 * increasing order (as a capture's sorted walk gives them): each search
 * starts where the last one stopped, so a whole capture is one pass.
 */
const struct aml_stat_entry *aml_stat_cache_find(struct aml_stat_cache *c,
						 const char *path);

void aml_stat_cache_free(struct aml_stat_cache *c);

/*
 * Writing one: aml_stat_cache_start() with the snapshot's [manifest] id
 * and an upper bound of the entries to come and of their paths' total
 * length (what is reserved; more is allowed), then aml_stat_cache_add()
 * per file in increasing path order, then aml_stat_cache_end(), which
 * returns the malloc'd text and its length in [*len], or NULL if memory
 * ran out at any step.  [path] is 1-4096 bytes; [sha256] is hex as
 * aml_sha256_is_hex accepts it.
 */
struct aml_stat_cache_writer {
	char *text;
	size_t len;
	size_t capacity;
	int failed;
};

void aml_stat_cache_start(struct aml_stat_cache_writer *wr,
			  const char *manifest, size_t entries,
			  size_t path_bytes);
void aml_stat_cache_add(struct aml_stat_cache_writer *wr, const char *path,
			uint64_t ino, uint64_t size, int64_t mtime_ns,
			int64_t ctime_ns, const char *sha256);
char *aml_stat_cache_end(struct aml_stat_cache_writer *wr, size_t *len);

/*
 * aml_stat_cache_add() of [e], an entry of a cache aml_stat_cache_parse
 * read (so already in this form: nothing is checked or converted again).
 * A resubmit keeps most entries as they were, and copying them costs a
 * tenth of writing them from their hex hashes.
 */
void aml_stat_cache_copy(struct aml_stat_cache_writer *wr,
			 const struct aml_stat_entry *e);

#endif
