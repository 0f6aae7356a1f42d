/*
 * statcache.c: the stat cache's format (contract in statcache.h).
 *
 * Where the contract is silent:
 *   - Numbers go through memcpy and <endian.h>: records are not aligned,
 *     and a store on a shared filesystem may be read by a machine of the
 *     other byte order.
 *   - aml_stat_cache_add() refuses (fails the writer) a path outside
 *     1-4096 bytes or a hash that is not hex, so the writer never makes a
 *     cache its own parser would drop.
 */
#include "statcache.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "text.h"

#define HEADER_LEN (sizeof(AML_STAT_CACHE_HEADER) - 1)
#define MANIFEST_LINE (9 + AML_SHA256_HEX_LEN + 1) /* "manifest <id>\n" */
#define FIXED (4 * 8 + 32 + 2)                     /* a record but its path */

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

int aml_stat_cache_parse(const char *text, size_t len,
			 struct aml_stat_cache *c)
{
	const unsigned char *p = (const unsigned char *)text;
	const unsigned char *end = p + len;
	size_t at, count = 0, capacity;

	memset(c, 0, sizeof(*c));
	if (!text || len < HEADER_LEN + MANIFEST_LINE ||
	    memcmp(text, AML_STAT_CACHE_HEADER, HEADER_LEN) ||
	    memcmp(text + HEADER_LEN, "manifest ", 9) ||
	    text[HEADER_LEN + MANIFEST_LINE - 1] != '\n')
		return -1;
	memcpy(c->manifest, text + HEADER_LEN + 9, AML_SHA256_HEX_LEN);
	c->manifest[AML_SHA256_HEX_LEN] = '\0';
	if (!aml_sha256_is_hex(c->manifest))
		goto drop;
	at = HEADER_LEN + MANIFEST_LINE;
	/* Every record holds at least FIXED + 1 bytes. */
	capacity = (len - at) / (FIXED + 1);
	c->entries = malloc((capacity ? capacity : 1) * sizeof(*c->entries));
	if (!c->entries)
		return -1;
	p += at;
	while (p < end) {
		struct aml_stat_entry *e = &c->entries[count];

		if ((size_t)(end - p) < FIXED || count == capacity)
			goto drop;
		e->path_len = (size_t)p[FIXED - 2] | (size_t)p[FIXED - 1] << 8;
		if (!e->path_len || e->path_len > AML_MANIFEST_PATH_MAX ||
		    (size_t)(end - p) - FIXED < e->path_len)
			goto drop;
		e->ino = get64(p);
		e->size = get64(p + 8);
		e->mtime_ns = (int64_t)get64(p + 16);
		e->ctime_ns = (int64_t)get64(p + 24);
		e->sha256 = p + 32;
		e->path = (const char *)p + FIXED;
		if (count && aml_compare_n(c->entries[count - 1].path,
					   c->entries[count - 1].path_len,
					   e->path, e->path_len) >= 0)
			goto drop;
		p += FIXED + e->path_len;
		count++;
	}
	c->count = count;
	return 0;
drop:
	aml_stat_cache_free(c);
	return -1;
}

const struct aml_stat_entry *aml_stat_cache_find(struct aml_stat_cache *c,
						 const char *path)
{
	size_t n = strlen(path);

	while (c->next < c->count) {
		const struct aml_stat_entry *e = &c->entries[c->next];
		int cmp = aml_compare_n(e->path, e->path_len, path, n);

		if (cmp > 0)
			return NULL;
		c->next++;
		if (cmp == 0)
			return e;
	}
	return NULL;
}

void aml_stat_cache_free(struct aml_stat_cache *c)
{
	free(c->entries);
	memset(c, 0, sizeof(*c));
}

static int reserve(struct aml_stat_cache_writer *wr, size_t more)
{
	size_t want = wr->len + more, capacity = wr->capacity;
	char *grown;

	if (wr->failed)
		return -1;
	if (want <= capacity)
		return 0;
	while (capacity < want)
		capacity = capacity ? capacity * 2 : 4096;
	grown = realloc(wr->text, capacity);
	if (!grown) {
		wr->failed = 1;
		return -1;
	}
	wr->text = grown;
	wr->capacity = capacity;
	return 0;
}

void aml_stat_cache_start(struct aml_stat_cache_writer *wr,
			  const char *manifest, size_t entries,
			  size_t path_bytes)
{
	memset(wr, 0, sizeof(*wr));
	if (!aml_sha256_is_hex(manifest) ||
	    reserve(wr, HEADER_LEN + MANIFEST_LINE + entries * FIXED +
				path_bytes) < 0) {
		wr->failed = 1;
		return;
	}
	memcpy(wr->text, AML_STAT_CACHE_HEADER, HEADER_LEN);
	memcpy(wr->text + HEADER_LEN, "manifest ", 9);
	memcpy(wr->text + HEADER_LEN + 9, manifest, AML_SHA256_HEX_LEN);
	wr->text[HEADER_LEN + MANIFEST_LINE - 1] = '\n';
	wr->len = HEADER_LEN + MANIFEST_LINE;
}

void aml_stat_cache_add(struct aml_stat_cache_writer *wr, const char *path,
			uint64_t ino, uint64_t size, int64_t mtime_ns,
			int64_t ctime_ns, const char *sha256)
{
	size_t n = strlen(path);
	unsigned char *p;

	if (!n || n > AML_MANIFEST_PATH_MAX || !aml_sha256_is_hex(sha256)) {
		wr->failed = 1;
		return;
	}
	if (reserve(wr, FIXED + n) < 0)
		return;
	p = (unsigned char *)wr->text + wr->len;
	put64(p, ino);
	put64(p + 8, size);
	put64(p + 16, (uint64_t)mtime_ns);
	put64(p + 24, (uint64_t)ctime_ns);
	aml_sha256_to_bin(sha256, p + 32);
	p[FIXED - 2] = (unsigned char)(n & 0xff);
	p[FIXED - 1] = (unsigned char)(n >> 8);
	memcpy(p + FIXED, path, n);
	wr->len += FIXED + n;
}

void aml_stat_cache_copy(struct aml_stat_cache_writer *wr,
			 const struct aml_stat_entry *e)
{
	unsigned char *p;

	if (reserve(wr, FIXED + e->path_len) < 0)
		return;
	p = (unsigned char *)wr->text + wr->len;
	put64(p, e->ino);
	put64(p + 8, e->size);
	put64(p + 16, (uint64_t)e->mtime_ns);
	put64(p + 24, (uint64_t)e->ctime_ns);
	memcpy(p + 32, e->sha256, 32);
	p[FIXED - 2] = (unsigned char)(e->path_len & 0xff);
	p[FIXED - 1] = (unsigned char)(e->path_len >> 8);
	memcpy(p + FIXED, e->path, e->path_len);
	wr->len += FIXED + e->path_len;
}

char *aml_stat_cache_end(struct aml_stat_cache_writer *wr, size_t *len)
{
	char *text = wr->text;

	if (wr->failed) {
		free(text);
		text = NULL;
	}
	*len = text ? wr->len : 0;
	memset(wr, 0, sizeof(*wr));
	return text;
}
