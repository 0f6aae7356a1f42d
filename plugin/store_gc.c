/*
 * store_gc.c: removing what no kept snapshot of a store needs (contract
 * of aml_store_gc in store.h; where it is silent, see store.c's head).
 *
 * The order is what makes it safe beside captures: manifests are aged
 * and the kept ones' blobs marked first, under the store's exclusive
 * lock; blobs are removed only when every kept manifest was read, since
 * a manifest that could not be read for a system reason might refer to
 * any blob.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH */
#endif
#include "digestset.h"
#include "errors.h"
#include "fdio.h"
#include "hash.h"
#include "manifest.h"
#include "store.h"
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct gc_state {
	struct aml_store *s;
	struct aml_gc_stats *stats;
	struct aml_digest_set marked;  /* what kept manifests refer to */
	time_t now;
	char *errbuf;
	size_t errlen;
	int failed;          /* a first error is in errbuf */
	char invalid[1024];  /* the first invalid manifest's message */
};

/* Keep the first error; carry on with what can still be done safely. */
static void gc_error(struct gc_state *g, const char *rel, int err)
{
	if (!g->failed)
		aml_store_path_fail(g->s, rel, err, g->errbuf, g->errlen);
	g->failed = 1;
}

/* Older than [cutoff] seconds: "not newer than", to the nanosecond. */
static int older(const struct stat *st, time_t cutoff)
{
	return st->st_mtim.tv_sec < cutoff ||
	       (st->st_mtim.tv_sec == cutoff && st->st_mtim.tv_nsec == 0);
}

/* A listing of the store's directory [name] (never through a symlink),
 * or NULL after reporting why, except that a missing one is reported
 * only when not [missing_ok]. */
static DIR *open_listing(struct gc_state *g, const char *name, int missing_ok)
{
	int fd = aml_open_nofollow(g->s->dirfd, name, O_RDONLY | O_DIRECTORY);
	DIR *dir;

	if (fd >= 0 && (dir = fdopendir(fd)))
		return dir;
	if (!missing_ok || errno != ENOENT)
		gc_error(g, name, errno);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Mark the blobs of one kept manifest.  Returns -1 only when gc must stop
 * before removing blobs (the manifest could not be read). */
static int gc_mark(struct gc_state *g, int mdir, const char *id)
{
	struct aml_manifest m;
	char msg[1024], decode_msg[512], rel[REL_MAX];
	int sys_error;
	size_t len;
	char *text;

	if (aml_store_read_manifest_at(g->s, mdir, id, &text, &len, &sys_error, msg,
			     sizeof(msg)) != 0) {
		if (sys_error) {
			if (!g->failed)
				aml_fail(g->errbuf, g->errlen, "%s", msg);
			g->failed = 1;
			return -1;
		}
		goto invalid;
	}
	snprintf(rel, sizeof(rel), "manifests/%.64s", id);
	if (aml_manifest_decode(text, len, &m, decode_msg,
				sizeof(decode_msg)) != 0) {
		snprintf(msg, sizeof(msg), "%s/%s: %s", g->s->path, rel,
			 decode_msg);
		free(text);
		goto invalid;
	}
	free(text);
	for (size_t i = 0; i < m.count; i++) {
		unsigned char key[32];

		if (m.entries[i].type != AML_ENTRY_FILE)
			continue;
		aml_sha256_to_bin(m.entries[i].sha256, key);
		if (aml_digest_set_add(&g->marked, key) != 0) {
			aml_manifest_free(&m);
			if (!g->failed)
				aml_fail(g->errbuf, g->errlen, "%s/%s: out of memory",
				     g->s->path, rel);
			g->failed = 1;
			return -1;
		}
	}
	aml_manifest_free(&m);
	return 0;

invalid:
	if (!g->stats->manifests_invalid)
		snprintf(g->invalid, sizeof(g->invalid), "%s", msg);
	g->stats->manifests_invalid++;
	return 0;
}

/* Age out manifests and mark what the others refer to.  Returns -1 when
 * the set of kept manifests is not known for sure. */
static int gc_manifests(struct gc_state *g, time_t cutoff)
{
	struct dirent *de;
	DIR *dir;
	int mdir;

	if (!(dir = open_listing(g, "manifests", 0)))
		return -1;
	mdir = dirfd(dir);
	for (;;) {
		struct stat st;
		char rel[REL_MAX];

		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		if (!aml_hex_is_lower(de->d_name, AML_SHA256_HEX_LEN))
			continue;
		snprintf(rel, sizeof(rel), "manifests/%.64s", de->d_name);
		if (fstatat(mdir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			gc_error(g, rel, errno);
			closedir(dir);
			return -1;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (older(&st, cutoff)) {
			if (unlinkat(mdir, de->d_name, 0) == 0) {
				g->stats->manifests_removed++;
				continue;
			}
			if (errno == ENOENT)
				continue;
			/* Still there, so still installable: its blobs
			 * stay with it. */
			gc_error(g, rel, errno);
		}
		g->stats->manifests_kept++;
		if (gc_mark(g, mdir, de->d_name) != 0) {
			closedir(dir);
			return -1;
		}
	}
	if (errno != 0) {
		gc_error(g, "manifests", errno);
		closedir(dir);
		return -1;
	}
	closedir(dir);
	return 0;
}

struct names {
	char (*name)[AML_SHA256_HEX_LEN];
	size_t count, capacity;
};

/* Sweep blobs/<sub>: names to remove are collected first and removed
 * after the listing, as removing while reading a directory may skip
 * entries on some network filesystems. */
static void gc_blob_dir(struct gc_state *g, int blobs, const char *sub)
{
	struct names doomed = { NULL, 0, 0 };
	size_t remaining = 0;
	struct dirent *de;
	char rel[REL_MAX];
	DIR *dir;
	int dfd;

	snprintf(rel, sizeof(rel), "blobs/%.2s", sub);
	dfd = openat(blobs, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		/* A symlink planted as blobs/<sub> is not ours to follow. */
		if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
			gc_error(g, rel, errno);
		if (dfd >= 0)
			close(dfd);
		return;
	}
	for (;;) {
		char hex[AML_SHA256_HEX_LEN + 1];
		unsigned char key[32];

		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!aml_hex_is_lower(de->d_name, AML_SHA256_HEX_LEN - 2)) {
			remaining++;
			continue;
		}
		memcpy(hex, sub, 2);
		memcpy(hex + 2, de->d_name, AML_SHA256_HEX_LEN - 2);
		hex[AML_SHA256_HEX_LEN] = '\0';
		aml_sha256_to_bin(hex, key);
		if (aml_digest_set_has(&g->marked, key)) {
			g->stats->blobs_kept++;
			remaining++;
			continue;
		}
		if (doomed.count == doomed.capacity) {
			size_t cap = doomed.capacity ? doomed.capacity * 2 : 64;
			void *grown = realloc(doomed.name, cap * sizeof(*doomed.name));

			if (!grown) {
				/* Left for the next gc. */
				remaining++;
				continue;
			}
			doomed.name = grown;
			doomed.capacity = cap;
		}
		memcpy(doomed.name[doomed.count++], de->d_name,
		       AML_SHA256_HEX_LEN - 2);
	}
	if (errno != 0)
		gc_error(g, rel, errno);
	for (size_t i = 0; i < doomed.count; i++) {
		char name[AML_SHA256_HEX_LEN];
		struct stat st;

		memcpy(name, doomed.name[i], AML_SHA256_HEX_LEN - 2);
		name[AML_SHA256_HEX_LEN - 2] = '\0';
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			memset(&st, 0, sizeof(st));
		if (unlinkat(dfd, name, 0) == 0) {
			g->stats->blobs_removed++;
			if (S_ISREG(st.st_mode))
				g->stats->bytes_removed += (uint64_t)st.st_size;
		} else if (errno != ENOENT) {
			snprintf(rel, sizeof(rel), "blobs/%.2s/%.62s", sub, name);
			gc_error(g, rel, errno);
			remaining++;
		}
	}
	free(doomed.name);
	closedir(dir);
	/* A capture cannot be filling it: gc holds the exclusive lock. */
	if (remaining == 0 && unlinkat(blobs, sub, AT_REMOVEDIR) != 0 &&
	    errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
		snprintf(rel, sizeof(rel), "blobs/%.2s", sub);
		gc_error(g, rel, errno);
	}
}

static void gc_blobs(struct gc_state *g)
{
	struct dirent *de;
	DIR *dir;
	int blobs;

	if (!(dir = open_listing(g, "blobs", 1)))
		return;
	blobs = dirfd(dir);
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		if (aml_hex_is_lower(de->d_name, 2))
			gc_blob_dir(g, blobs, de->d_name);
	}
	if (errno != 0)
		gc_error(g, "blobs", errno);
	closedir(dir);
}

/* Temporaries older than a day: left by killed writers.  A younger one
 * may belong to a writer that does not hold the lock (a cache write). */
static void gc_temporaries(struct gc_state *g)
{
	struct dirent *de;
	DIR *dir;
	int tmp;

	if (!(dir = open_listing(g, "tmp", 1)))
		return;
	tmp = dirfd(dir);
	for (;;) {
		char rel[REL_MAX];
		struct stat st;

		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(tmp, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    S_ISDIR(st.st_mode) || !older(&st, g->now - TEMP_MAX_AGE))
			continue;
		if (unlinkat(tmp, de->d_name, 0) == 0) {
			g->stats->temporaries_removed++;
		} else if (errno != ENOENT) {
			snprintf(rel, sizeof(rel), "tmp/%.100s", de->d_name);
			gc_error(g, rel, errno);
		}
	}
	if (errno != 0)
		gc_error(g, "tmp", errno);
	closedir(dir);
}

int aml_store_gc(struct aml_store *s, unsigned older_than_days,
		 struct aml_gc_stats *stats, char *errbuf, size_t errlen)
{
	struct gc_state g;
	int was_locked = s->lockfd >= 0;

	memset(stats, 0, sizeof(*stats));
	memset(&g, 0, sizeof(g));
	g.s = s;
	g.stats = stats;
	g.errbuf = errbuf;
	g.errlen = errlen;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (aml_store_lock(s, 1, errbuf, errlen) != 0)
		return -1;
	/* Read the clock once the lock is held: a capture that published
	 * while gc waited has a younger mtime than the cutoff. */
	g.now = time(NULL);
	/* Dated before any blob goes: a stat cache older than this may
	 * vouch for a blob that is gone (aml_store_blobs_kept_since). */
	if (gc_manifests(&g, g.now - (time_t)older_than_days * 86400) == 0) {
		if (aml_store_stamp_gc(s, errbuf, errlen) == 0)
			gc_blobs(&g);
		else
			g.failed = 1;
	}
	gc_temporaries(&g);
	aml_digest_set_free(&g.marked);
	if (!was_locked)
		aml_store_unlock(s);
	if (g.failed)
		return -1;
	if (stats->manifests_invalid)
		aml_fail(errbuf, errlen, "%s", g.invalid);
	return 0;
}
