/*
 * store.c: a user's content-addressed snapshot store (contract in
 * store.h).
 *
 * Threat: the store lives on a shared filesystem in the user's own
 * directory, so anything in it may have been replaced by the user (or by
 * their job) with a symlink, a FIFO or a directory.  Every operation is
 * therefore relative to the store's descriptor and walks its
 * subdirectories one component at a time with O_NOFOLLOW (openat's
 * O_NOFOLLOW alone protects only the last component), opens files with
 * O_NOFOLLOW|O_NONBLOCK and checks they are regular files, so nothing
 * planted inside can redirect a write out of the store or hang a reader.
 *
 * Where the contract is silent:
 *   - Temporaries are created 0600 and made 0444 before they are renamed
 *     into place: the store's files are never edited, and an NFS server
 *     need not honour writes to a file created read-only.
 *   - A blob already present but of the wrong size (torn by a crash) or
 *     not a regular file is replaced, and counts as written.  A source
 *     smaller than one chunk (256 KiB) whose blob is present makes no
 *     temporary at all.
 *   - aml_store_put_manifest() refuses a text whose SHA-256 is not [id],
 *     and refreshes an existing manifest's mtime without fsync.  The
 *     manifest and its blobs are durable already (it was published with
 *     them synced); the mtime only tells gc, which keeps manifests for
 *     days, when it was last used.  A crash that loses the refresh (the
 *     kernel writes it back within seconds) makes the snapshot look as
 *     old as its previous use: no worse than a job pending that long,
 *     and worth the 1.5 ms an fsync costs every unchanged resubmit.
 *   - aml_store_sync() flushes the blobs put since the last sync, those
 *     found already there included: a concurrent capture may have written
 *     one and not synced it yet, and our manifest must not outlive it.
 *     It fsyncs a blob, then its blobs/<2 hex> (the rename
 *     that named it), then blobs/ when a <2 hex> was made: each name is
 *     durable before anything that reaches the blob through it.  Past
 *     AML_STORE_FRESH_MAX, one syncfs costs less than their fsyncs.
 *   - A missing cache/ directory reads as "no cache".
 *   - gc leaves names it does not know (not hex) alone; it stops before
 *     removing any blob when a manifest cannot be read for a system
 *     reason (I/O error, permission), since deciding without it could
 *     delete a good snapshot's files; a corrupted or malformed manifest is
 *     kept and counted instead.  An aged manifest that cannot be
 *     removed keeps its blobs (it can still be installed), and a symlink
 *     planted as blobs/<2 hex> is skipped, not followed.  A caller holding
 *     the lock already (shared or exclusive) has it converted to
 *     exclusive, and keeps it on return.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH, syncfs, asprintf */
#endif
#include "fdio.h"
#include "random.h"
#include "store.h"
#include "store_internal.h"
#include "userdir.h"
#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"

#define CHUNK (256 * 1024)
#define TEXT_MAX ((size_t)256 << 20)
#define TEMP_NAME 48

/* ---- messages ---- */

/* Messages go through aml_fail() (errors.h). */

/* "<store>/<rel>: <strerror(err)>", or, when [err] comes from a symlink
 * met where a directory or file was expected, the first component of
 * [rel] that is one. */
int aml_store_path_fail(const struct aml_store *s, const char *rel, int err,
			char *errbuf, size_t errlen)
{
	char prefix[256];
	size_t n = strlen(rel);
	struct stat st;

	if ((err == ELOOP || err == ENOTDIR) && s->dirfd >= 0 &&
	    n < sizeof(prefix)) {
		for (size_t i = 1; i <= n; i++) {
			if (rel[i] != '/' && rel[i] != '\0')
				continue;
			memcpy(prefix, rel, i);
			prefix[i] = '\0';
			if (fstatat(s->dirfd, prefix, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				return aml_fail(errbuf, errlen,
					    "%s/%s: is a symbolic link: refused (nothing in a store is followed)",
					    s->path, prefix);
		}
	}
	return aml_fail(errbuf, errlen, "%s/%s: %s", s->path, rel, strerror(err));
}

/* ---- small helpers ---- */

/*
 * Open regular file [name] in [dfd] for reading: never a symlink, and
 * never blocking on a FIFO planted in its place.  Returns the descriptor
 * (blocking again), or -1 with errno (EINVAL for "not a regular file").
 */
static int open_regular(int dfd, const char *name, struct stat *st)
{
	int fd = openat(dfd, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int flags;

	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0)
		goto fail;
	if (!S_ISREG(st->st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto fail;
	return fd;

fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

/*
 * Read regular file [name] in [dfd] whole (at most TEXT_MAX bytes) into
 * a malloc'd, NUL-terminated [*text].  [rel] names it in messages.
 * Returns 0, 1 when it does not exist and [missing_ok], or -1 with
 * errbuf, and [*sys_error] set when the failure was the system's rather
 * than the file's (too large, not a regular file).
 */
static int read_whole(const struct aml_store *s, int dfd, const char *name,
		      const char *rel, int missing_ok, char **text,
		      size_t *len, struct timespec *mtime, int *sys_error,
		      char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	*text = NULL;
	*len = 0;
	*sys_error = 1;
	fd = open_regular(dfd, name, &st);
	if (fd < 0) {
		if (errno == ENOENT && missing_ok)
			return 1;
		if (errno == EINVAL) {
			*sys_error = 0;
			return aml_fail(errbuf, errlen,
				    "%s/%s: is not a regular file: refused",
				    s->path, rel);
		}
		return aml_store_path_fail(s, rel, errno, errbuf, errlen);
	}
	if ((uint64_t)st.st_size > TEXT_MAX) {
		close(fd);
		*sys_error = 0;
		return aml_fail(errbuf, errlen,
			    "%s/%s: is larger than 256 MiB (%lld bytes): refused",
			    s->path, rel, (long long)st.st_size);
	}
	if (mtime)
		*mtime = st.st_mtim;
	if (aml_read_fd(fd, TEXT_MAX, text, len) < 0) {
		int err = errno;

		close(fd);
		if (err == EFBIG) {
			*sys_error = 0;
			return aml_fail(errbuf, errlen,
				    "%s/%s: is larger than 256 MiB: refused",
				    s->path, rel);
		}
		if (err == ENOMEM)
			return aml_fail(errbuf, errlen, "%s/%s: out of memory",
				    s->path, rel);
		return aml_store_path_fail(s, rel, err, errbuf, errlen);
	}
	close(fd);
	return 0;
}

/*
 * A new temporary file in [tmpfd] (the store's tmp/), named
 * "<kind>.<pid>.<random>" in [name], mode 0600 until it is complete.
 * Returns the descriptor, or -1 with errbuf.
 */
static int make_temp(const struct aml_store *s, int tmpfd, const char *kind,
		     char name[TEMP_NAME], char *errbuf, size_t errlen)
{

	for (int tries = 0; tries < 100; tries++) {
		/* Uniqueness comes from O_EXCL; the bits only make a
		 * clash (and another try) unlikely. */
		uint64_t r = aml_unique_bits();
		int fd;

		snprintf(name, TEMP_NAME, "%s.%ld.%016llx", kind, (long)getpid(),
			 (unsigned long long)r);
		fd = openat(tmpfd, name,
			    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			char rel[REL_MAX];

			snprintf(rel, sizeof(rel), "tmp/%.47s", name);
			return aml_store_path_fail(s, rel, errno, errbuf, errlen);
		}
	}
	return aml_fail(errbuf, errlen, "%s/tmp: could not make a unique temporary file",
		    s->path);
}

/*
 * Write [len] bytes of [text] to a new temporary, made read-only, and
 * fsync'd when [durable].  Returns 0 with its [name], or -1 with errbuf
 * (the temporary removed).
 */
static int write_temp(const struct aml_store *s, int tmpfd, const char *kind,
		      const char *text, size_t len, int durable,
		      char name[TEMP_NAME], char *errbuf, size_t errlen)
{
	char rel[REL_MAX];
	int fd = make_temp(s, tmpfd, kind, name, errbuf, errlen);

	if (fd < 0)
		return -1;
	snprintf(rel, sizeof(rel), "tmp/%.47s", name);
	if (aml_write_all(fd, text, len) != 0 || fchmod(fd, 0444) != 0 ||
	    (durable && fsync(fd) != 0)) {
		int err = errno;

		close(fd);
		unlinkat(tmpfd, name, 0);
		return aml_store_path_fail(s, rel, err, errbuf, errlen);
	}
	if (aml_close_checked(fd) != 0) {
		int err = errno;

		unlinkat(tmpfd, name, 0);
		return aml_store_path_fail(s, rel, err, errbuf, errlen);
	}
	return 0;
}

/* ---- open, close, lock ---- */

static int date_stamp(struct aml_store *s, int durable);

int aml_store_open(struct aml_store *s, const char *snapshot_dir,
		   const char *user, int create, char *errbuf, size_t errlen)
{
	static const char *const subdirs[] = { "blobs", "manifests", "cache",
					       "tmp" };
	size_t dlen = strlen(snapshot_dir);
	struct aml_userdir own;
	int parent, fd, r;

	s->dirfd = -1;
	s->lockfd = -1;
	s->path = NULL;
	s->n_fresh = 0;
	s->fresh_many = 0;
	s->fresh_dirs = 0;
	if (!*user || strchr(user, '/') || strcmp(user, ".") == 0 ||
	    strcmp(user, "..") == 0)
		return aml_fail(errbuf, errlen,
			    "%s: store name \"%s\" is not a plain file name",
			    snapshot_dir, user);
	if (asprintf(&s->path, "%s%s%s", snapshot_dir,
		     dlen && snapshot_dir[dlen - 1] == '/' ? "" : "/", user) < 0) {
		s->path = NULL;
		return aml_fail(errbuf, errlen, "%s: out of memory", snapshot_dir);
	}
	parent = open(snapshot_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0) {
		aml_fail(errbuf, errlen, "%s: %s", snapshot_dir, strerror(errno));
		goto fail;
	}
	/* Threat: another user who owns or can write the store could swap
	 * blobs under the caller's snapshots, or plant links that the
	 * caller's processes would then write through; one who made
	 * <SnapshotDir>/<user> first must not block the user either. */
	r = aml_userdir_open(parent, snapshot_dir, user, geteuid(), 0700,
			     S_IWGRP | S_IWOTH, create, &own, errbuf, errlen);
	close(parent);
	if (r < 0)
		goto fail;
	free(s->path);
	s->path = own.path;
	fd = own.fd;
	s->dirfd = fd;
	for (size_t i = 0; create && i < sizeof(subdirs) / sizeof(*subdirs); i++) {
		if (mkdirat(fd, subdirs[i], 0700) == 0) {
			/* A store without blobs until now: no gc has removed
			 * any, so its stamp may start now. */
			if (i == 0)
				date_stamp(s, 0);
		} else if (errno != EEXIST) {
			aml_store_path_fail(s, subdirs[i], errno, errbuf, errlen);
			goto fail;
		}
	}
	return 0;

fail:
	aml_store_close(s);
	return -1;
}

void aml_store_close(struct aml_store *s)
{
	aml_store_unlock(s);
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->dirfd = -1;
	free(s->path);
	s->path = NULL;
}

int aml_store_lock(struct aml_store *s, int exclusive, char *errbuf,
		   size_t errlen)
{
	int opened = 0;

	if (s->lockfd < 0) {
		struct stat st;
		/* Read-write: on NFS flock is emulated with POSIX locks, and
		 * an exclusive one needs a descriptor open for writing. */
		int fd = openat(s->dirfd, "lock",
				O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
				O_CLOEXEC, 0600);

		if (fd < 0)
			return aml_store_path_fail(s, "lock", errno, errbuf, errlen);
		if (fstat(fd, &st) != 0) {
			int err = errno;

			close(fd);
			return aml_store_path_fail(s, "lock", err, errbuf, errlen);
		}
		if (!S_ISREG(st.st_mode)) {
			close(fd);
			return aml_fail(errbuf, errlen,
				    "%s/lock: is not a regular file: refused",
				    s->path);
		}
		s->lockfd = fd;
		opened = 1;
	}
	while (flock(s->lockfd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		int err = errno;

		if (err == EINTR)
			continue;
		if (opened) {
			close(s->lockfd);
			s->lockfd = -1;
		}
		return aml_store_path_fail(s, "lock", err, errbuf, errlen);
	}
	return 0;
}

void aml_store_unlock(struct aml_store *s)
{
	if (s->lockfd < 0)
		return;
	/* Closing the only descriptor releases the lock. */
	close(s->lockfd);
	s->lockfd = -1;
}

/* ---- blobs ---- */

static void blob_rel(const char *hex, char rel[REL_MAX])
{
	snprintf(rel, REL_MAX, "blobs/%.2s/%.62s", hex, hex + 2);
}

int aml_store_has_blob(struct aml_store *s, const char *hex)
{
	char rel[REL_MAX];
	struct stat st;
	int dfd, found;

	if (!aml_sha256_is_hex(hex))
		return 0;
	blob_rel(hex, rel);
	rel[8] = '\0';   /* "blobs/ab" */
	dfd = aml_open_nofollow(s->dirfd, rel, O_PATH | O_DIRECTORY);
	if (dfd < 0)
		return 0;
	found = fstatat(dfd, hex + 2, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		S_ISREG(st.st_mode);
	close(dfd);
	return found;
}

/* blobs/<2 hex>, made when missing.  Returns an O_PATH descriptor or -1
 * with errno. */
static int blob_dir(struct aml_store *s, const char *hex)
{
	char sub[3] = { hex[0], hex[1], '\0' };
	int blobs = aml_open_nofollow(s->dirfd, "blobs", O_PATH | O_DIRECTORY), fd, err;

	if (blobs < 0)
		return -1;
	if (mkdirat(blobs, sub, 0700) == 0) {
		s->fresh_dirs = 1;
	} else if (errno != EEXIST) {
		err = errno;
		close(blobs);
		errno = err;
		return -1;
	}
	fd = openat(blobs, sub, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	err = errno;
	close(blobs);
	errno = err;
	return fd;
}

/*
 * Blob [hex] was just written, or found written by another capture that
 * may not have synced it yet: aml_store_sync flushes it (a blob already
 * on disk costs an fsync next to nothing).
 */
static void note_fresh(struct aml_store *s, const char *hex)
{
	if (s->n_fresh < AML_STORE_FRESH_MAX)
		memcpy(s->fresh[s->n_fresh++], hex, AML_SHA256_HEX_LEN + 1);
	else
		s->fresh_many = 1;
}

/*
 * Move temporary [name] (in [tmpfd]) to blob [hex] of [size] bytes, or
 * drop it when the blob is there already.
 */
static int publish_blob(struct aml_store *s, int tmpfd, const char *name,
			const char *hex, uint64_t size, int *written,
			char *errbuf, size_t errlen)
{
	char rel[REL_MAX];

	blob_rel(hex, rel);
	/* Twice at most: a gc that ignored the lock may remove an empty
	 * blobs/<2 hex> between its creation and the rename. */
	for (int attempt = 0;; attempt++) {
		struct stat st;
		int dfd = blob_dir(s, hex), err;

		if (dfd < 0) {
			err = errno;
			rel[8] = '\0';
			aml_store_path_fail(s, rel, err, errbuf, errlen);
			unlinkat(tmpfd, name, 0);
			return -1;
		}
		if (fstatat(dfd, hex + 2, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == size) {
				close(dfd);
				unlinkat(tmpfd, name, 0);
				*written = 0;
				note_fresh(s, hex);
				return 0;
			}
			/* Torn, or something planted: replaced below
			 * (rename replaces a symlink, never follows it). */
		} else if (errno != ENOENT) {
			err = errno;
			close(dfd);
			unlinkat(tmpfd, name, 0);
			return aml_store_path_fail(s, rel, err, errbuf, errlen);
		}
		/* A concurrent writer of the same content may rename first:
		 * this rename then replaces identical bytes, harmlessly. */
		if (renameat(tmpfd, name, dfd, hex + 2) == 0) {
			close(dfd);
			*written = 1;
			note_fresh(s, hex);
			return 0;
		}
		err = errno;
		close(dfd);
		if (err == ENOENT && attempt == 0)
			continue;
		unlinkat(tmpfd, name, 0);
		return aml_store_path_fail(s, rel, err, errbuf, errlen);
	}
}

/* Blob [hex] is in the store whole: a regular file of [size] bytes. */
static int blob_present(struct aml_store *s, const char *hex, uint64_t size)
{
	char rel[REL_MAX];
	struct stat st;
	int dfd, found;

	blob_rel(hex, rel);
	rel[8] = '\0';   /* "blobs/ab" */
	dfd = aml_open_nofollow(s->dirfd, rel, O_PATH | O_DIRECTORY);
	if (dfd < 0)
		return 0;
	found = fstatat(dfd, hex + 2, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
	close(dfd);
	return found;
}

/* Read until [len] bytes or the end.  Returns the count, or -1 with
 * errno; [*eof] says whether the end was seen. */
static ssize_t read_full(int fd, char *buf, size_t len, int *eof)
{
	size_t at = 0;

	*eof = 0;
	while (at < len) {
		ssize_t n = aml_read_some(fd, buf + at, len - at);

		if (n < 0)
			return -1;
		if (n == 0) {
			*eof = 1;
			break;
		}
		at += (size_t)n;
	}
	return (ssize_t)at;
}

/*
 * The first chunk is read whole before anything is written: a source
 * that fits in it (most files in a source tree) is hashed first, and
 * when its blob exists no temporary is made at all, which is what a
 * capture without a stat cache mostly meets.  Larger sources stream
 * through a temporary, hashed as they go.
 */
int aml_store_put_fd(struct aml_store *s, int fd, const char *what,
		     char hex[AML_SHA256_HEX_LEN + 1], uint64_t *size,
		     int *written, char *errbuf, size_t errlen)
{
	char name[TEMP_NAME], rel[REL_MAX];
	struct aml_sha256 h = { NULL };
	uint64_t total;
	char *buf;
	int tmpfd = -1, out = -1, err, eof;
	ssize_t n;

	*written = 0;
	*size = 0;
	name[0] = '\0';
	if (!what)
		what = "input";
	buf = malloc(CHUNK);
	if (!buf || aml_sha256_init(&h) != 0) {
		aml_fail(errbuf, errlen, "%s: out of memory storing it", what);
		goto fail;
	}
	n = read_full(fd, buf, CHUNK, &eof);
	if (n < 0) {
		aml_fail(errbuf, errlen, "%s: %s", what, strerror(errno));
		goto fail;
	}
	if (aml_sha256_update(&h, buf, (size_t)n) != 0) {
		aml_fail(errbuf, errlen, "%s: hashing failed", what);
		goto fail;
	}
	total = (uint64_t)n;
	if (eof) {
		if (aml_sha256_final(&h, hex) != 0) {
			aml_fail(errbuf, errlen, "%s: hashing failed", what);
			goto fail;
		}
		if (blob_present(s, hex, total)) {
			free(buf);
			*size = total;
			note_fresh(s, hex);
			return 0;
		}
	}
	tmpfd = aml_open_nofollow(s->dirfd, "tmp", O_PATH | O_DIRECTORY);
	if (tmpfd < 0) {
		aml_store_path_fail(s, "tmp", errno, errbuf, errlen);
		goto fail;
	}
	out = make_temp(s, tmpfd, "blob", name, errbuf, errlen);
	if (out < 0)
		goto fail;
	snprintf(rel, sizeof(rel), "tmp/%.47s", name);
	while (n > 0) {
		if (aml_write_all(out, buf, (size_t)n) != 0) {
			aml_store_path_fail(s, rel, errno, errbuf, errlen);
			goto fail;
		}
		if (eof)
			break;
		n = aml_read_some(fd, buf, CHUNK);
		if (n < 0) {
			aml_fail(errbuf, errlen, "%s: %s", what, strerror(errno));
			goto fail;
		}
		if (aml_sha256_update(&h, buf, (size_t)n) != 0) {
			aml_fail(errbuf, errlen, "%s: hashing failed", what);
			goto fail;
		}
		total += (uint64_t)n;
	}
	free(buf);
	buf = NULL;
	if (!eof && aml_sha256_final(&h, hex) != 0) {
		aml_fail(errbuf, errlen, "%s: hashing failed", what);
		goto fail;
	}
	if (fchmod(out, 0444) != 0) {
		aml_store_path_fail(s, rel, errno, errbuf, errlen);
		goto fail;
	}
	err = aml_close_checked(out);
	out = -1;
	if (err != 0) {
		aml_store_path_fail(s, rel, errno, errbuf, errlen);
		goto fail;
	}
	err = publish_blob(s, tmpfd, name, hex, total, written, errbuf, errlen);
	close(tmpfd);
	if (err != 0)
		return -1;
	*size = total;
	return 0;

fail:
	aml_sha256_abort(&h);
	free(buf);
	if (out >= 0)
		close(out);
	if (tmpfd >= 0) {
		if (name[0])
			unlinkat(tmpfd, name, 0);
		close(tmpfd);
	}
	return -1;
}

int aml_store_open_blob(struct aml_store *s, const char *hex, char *errbuf,
			size_t errlen)
{
	char rel[REL_MAX];
	struct stat st;
	int dfd, fd, err;

	if (!aml_sha256_is_hex(hex))
		return aml_fail(errbuf, errlen,
			    "%s: blob name \"%.80s\" is not a SHA-256 in hex",
			    s->path, hex ? hex : "");
	blob_rel(hex, rel);
	rel[8] = '\0';
	dfd = aml_open_nofollow(s->dirfd, rel, O_PATH | O_DIRECTORY);
	if (dfd < 0)
		return aml_store_path_fail(s, rel, errno, errbuf, errlen);
	rel[8] = '/';
	fd = open_regular(dfd, hex + 2, &st);
	err = errno;
	close(dfd);
	if (fd < 0) {
		if (err == EINVAL)
			return aml_fail(errbuf, errlen,
				    "%s/%s: is not a regular file: refused",
				    s->path, rel);
		return aml_store_path_fail(s, rel, err, errbuf, errlen);
	}
	return fd;
}

/* fsync [fd] (a directory's too: some filesystems cannot, EINVAL, and
 * their renames are then as durable as they make them).  Returns 0, or
 * -1 with errbuf naming [rel]. */
static int sync_fd(struct aml_store *s, int fd, const char *rel, char *errbuf,
		   size_t errlen)
{
	if (fsync(fd) != 0 && errno != EINVAL)
		return aml_store_path_fail(s, rel, errno, errbuf, errlen);
	return 0;
}

/* One fresh blob, then the directory entry that names it. */
static int sync_blob(struct aml_store *s, const char *hex, char *errbuf,
		     size_t errlen)
{
	char rel[REL_MAX];
	struct stat st;
	int dfd, fd, rc;

	blob_rel(hex, rel);
	rel[8] = '\0';   /* "blobs/ab" */
	/* Real descriptors (not O_PATH): both are fsync'd. */
	dfd = aml_open_nofollow(s->dirfd, rel, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return aml_store_path_fail(s, rel, errno, errbuf, errlen);
	rel[8] = '/';
	fd = open_regular(dfd, hex + 2, &st);
	if (fd < 0) {
		rc = aml_store_path_fail(s, rel, errno, errbuf, errlen);
		close(dfd);
		return rc;
	}
	rc = sync_fd(s, fd, rel, errbuf, errlen);
	close(fd);
	rel[8] = '\0';
	if (rc == 0)
		rc = sync_fd(s, dfd, rel, errbuf, errlen);
	close(dfd);
	return rc;
}

/* One syncfs of the store's filesystem, for many fresh blobs. */
static int sync_all(struct aml_store *s, char *errbuf, size_t errlen)
{
	/* syncfs needs a real descriptor: the store's own is O_PATH. */
	int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return aml_fail(errbuf, errlen, "%s: %s", s->path, strerror(errno));
	if (syncfs(fd) != 0) {
		int err = errno;

		close(fd);
		return aml_fail(errbuf, errlen, "%s: %s", s->path, strerror(err));
	}
	close(fd);
	return 0;
}

int aml_store_sync(struct aml_store *s, char *errbuf, size_t errlen)
{
	if (s->fresh_many) {
		if (sync_all(s, errbuf, errlen) != 0)
			return -1;
	} else {
		for (size_t i = 0; i < s->n_fresh; i++)
			if (sync_blob(s, s->fresh[i], errbuf, errlen) != 0)
				return -1;
		if (s->fresh_dirs) {
			int blobs = aml_open_nofollow(s->dirfd, "blobs",
						      O_RDONLY | O_DIRECTORY);

			if (blobs < 0)
				return aml_store_path_fail(s, "blobs", errno,
							   errbuf, errlen);
			if (sync_fd(s, blobs, "blobs", errbuf, errlen) != 0) {
				close(blobs);
				return -1;
			}
			close(blobs);
		}
	}
	s->n_fresh = 0;
	s->fresh_many = 0;
	s->fresh_dirs = 0;
	return 0;
}

/* ---- manifests ---- */

/* mtime of manifests/<id> to now. */
static int refresh_manifest(struct aml_store *s, int mdir, const char *id,
			    const char *rel, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd = open_regular(mdir, id, &st);

	if (fd < 0)
		return aml_store_path_fail(s, rel, errno, errbuf, errlen);
	/* The owner may set the times of a read-only file.  No fsync: see
	 * the top of this file. */
	if (futimens(fd, NULL) != 0) {
		int err = errno;

		close(fd);
		return aml_store_path_fail(s, rel, err, errbuf, errlen);
	}
	close(fd);
	return 0;
}

/* Publish [text], whose SHA-256 is [id] (checked by the caller). */
static int publish_manifest(struct aml_store *s, const char *id,
			    const char *text, size_t len, int *written,
			    char *errbuf, size_t errlen)
{
	char rel[REL_MAX], name[TEMP_NAME];
	struct stat st;
	int mdir, tmpfd, err;

	snprintf(rel, sizeof(rel), "manifests/%.64s", id);
	/* A real descriptor (not O_PATH): the directory is fsync'd. */
	mdir = aml_open_nofollow(s->dirfd, "manifests", O_RDONLY | O_DIRECTORY);
	if (mdir < 0)
		return aml_store_path_fail(s, "manifests", errno, errbuf, errlen);
	if (fstatat(mdir, id, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && (uint64_t)st.st_size == len) {
		err = refresh_manifest(s, mdir, id, rel, errbuf, errlen);
		close(mdir);
		return err;
	}
	tmpfd = aml_open_nofollow(s->dirfd, "tmp", O_PATH | O_DIRECTORY);
	if (tmpfd < 0) {
		close(mdir);
		return aml_store_path_fail(s, "tmp", errno, errbuf, errlen);
	}
	if (write_temp(s, tmpfd, "manifest", text, len, 1, name, errbuf,
		       errlen) != 0)
		goto fail;
	if (renameat(tmpfd, name, mdir, id) != 0) {
		aml_store_path_fail(s, rel, errno, errbuf, errlen);
		unlinkat(tmpfd, name, 0);
		goto fail;
	}
	if (sync_fd(s, mdir, "manifests", errbuf, errlen) != 0)
		goto fail;
	close(tmpfd);
	close(mdir);
	*written = 1;
	return 0;

fail:
	close(tmpfd);
	close(mdir);
	return -1;
}

int aml_store_put_manifest(struct aml_store *s, const char *id,
			   const char *text, size_t len, int *written,
			   char *errbuf, size_t errlen)
{
	char actual[AML_SHA256_HEX_LEN + 1];

	*written = 0;
	if (!aml_sha256_is_hex(id))
		return aml_fail(errbuf, errlen,
			    "%s: manifest id \"%.80s\" is not a SHA-256 in hex",
			    s->path, id ? id : "");
	if (aml_sha256_buffer(text, len, actual) != 0)
		return aml_fail(errbuf, errlen, "%s/manifests/%.64s: hashing failed",
				s->path, id);
	if (strcmp(actual, id) != 0)
		return aml_fail(errbuf, errlen,
			    "%s/manifests/%.64s: the text's SHA-256 is %s, not its id: refused",
			    s->path, id, actual);
	return publish_manifest(s, id, text, len, written, errbuf, errlen);
}

int aml_store_publish_manifest(struct aml_store *s, const char *text,
			       size_t len, char id[AML_SHA256_HEX_LEN + 1],
			       int *written, char *errbuf, size_t errlen)
{
	*written = 0;
	if (aml_sha256_buffer(text, len, id) != 0)
		return aml_fail(errbuf, errlen, "%s/manifests: hashing failed",
				s->path);
	return publish_manifest(s, id, text, len, written, errbuf, errlen);
}

/* Read and verify manifests/<id> from directory [mdir]. */
int aml_store_read_manifest_at(struct aml_store *s, int mdir, const char *id,
			       char **text, size_t *len, int *sys_error,
			       char *errbuf, size_t errlen)
{
	char rel[REL_MAX], actual[AML_SHA256_HEX_LEN + 1];

	snprintf(rel, sizeof(rel), "manifests/%.64s", id);
	if (read_whole(s, mdir, id, rel, 0, text, len, NULL, sys_error, errbuf,
		       errlen) != 0)
		return -1;
	if (aml_sha256_buffer(*text, *len, actual) != 0) {
		free(*text);
		*text = NULL;
		return aml_fail(errbuf, errlen, "%s/%s: hashing failed", s->path,
			    rel);
	}
	if (strcmp(actual, id) != 0) {
		free(*text);
		*text = NULL;
		*sys_error = 0;
		return aml_fail(errbuf, errlen,
			    "%s/%s: corrupted: its content's SHA-256 is %s",
			    s->path, rel, actual);
	}
	return 0;
}

int aml_store_read_manifest(struct aml_store *s, const char *id,
			    char **text, size_t *len, char *errbuf,
			    size_t errlen)
{
	int mdir, rc, sys_error;

	*text = NULL;
	*len = 0;
	if (!aml_sha256_is_hex(id))
		return aml_fail(errbuf, errlen,
			    "%s: snapshot id \"%.80s\" is not a SHA-256 in hex",
			    s->path, id ? id : "");
	mdir = aml_open_nofollow(s->dirfd, "manifests", O_PATH | O_DIRECTORY);
	if (mdir < 0)
		return aml_store_path_fail(s, "manifests", errno, errbuf, errlen);
	rc = aml_store_read_manifest_at(s, mdir, id, text, len, &sys_error, errbuf,
			      errlen);
	close(mdir);
	return rc;
}

/* ---- stat caches ---- */

int aml_store_read_cache(struct aml_store *s, const char *key, char **text,
			 size_t *len, struct timespec *written, char *errbuf,
			 size_t errlen)
{
	char name[AML_SHA256_HEX_LEN + 1], rel[REL_MAX];
	int dfd, rc, sys_error;

	*text = NULL;
	*len = 0;
	written->tv_sec = 0;
	written->tv_nsec = 0;
	if (aml_sha256_buffer(key, strlen(key), name) != 0)
		return aml_fail(errbuf, errlen, "%s: hashing failed", key);
	snprintf(rel, sizeof(rel), "cache/%.64s", name);
	dfd = aml_open_nofollow(s->dirfd, "cache", O_PATH | O_DIRECTORY);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		return aml_store_path_fail(s, "cache", errno, errbuf, errlen);
	}
	rc = read_whole(s, dfd, name, rel, 1, text, len, written, &sys_error,
			errbuf, errlen);
	close(dfd);
	return rc < 0 ? -1 : 0;
}

int aml_store_write_cache(struct aml_store *s, const char *key,
			  const char *text, size_t len, char *errbuf,
			  size_t errlen)
{
	char name[AML_SHA256_HEX_LEN + 1], rel[REL_MAX], tmp[TEMP_NAME];
	int dfd, tmpfd, rc = 0;

	if (aml_sha256_buffer(key, strlen(key), name) != 0)
		return aml_fail(errbuf, errlen, "%s: hashing failed", key);
	snprintf(rel, sizeof(rel), "cache/%.64s", name);
	dfd = aml_open_nofollow(s->dirfd, "cache", O_PATH | O_DIRECTORY);
	if (dfd < 0)
		return aml_store_path_fail(s, "cache", errno, errbuf, errlen);
	tmpfd = aml_open_nofollow(s->dirfd, "tmp", O_PATH | O_DIRECTORY);
	if (tmpfd < 0) {
		close(dfd);
		return aml_store_path_fail(s, "tmp", errno, errbuf, errlen);
	}
	if (write_temp(s, tmpfd, "cache", text, len, 0, tmp, errbuf,
		       errlen) != 0) {
		rc = -1;
	} else if (renameat(tmpfd, tmp, dfd, name) != 0) {
		rc = aml_store_path_fail(s, rel, errno, errbuf, errlen);
		unlinkat(tmpfd, tmp, 0);
	}
	close(tmpfd);
	close(dfd);
	return rc;
}

/*
 * gc-stamp: gc dates it before it removes any blob, so a stat cache
 * written after that date (strictly: file times come in ticks) was written
 * after every blob removal so far, when the snapshot it vouches for had
 * just been published whole.  Both dates are the filesystem's own, so one
 * clock reads them, also on NFS.
 */
#define GC_STAMP "gc-stamp"

static int date_stamp(struct aml_store *s, int durable)
{
	int fd = openat(s->dirfd, GC_STAMP,
			O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
			0600);

	if (fd < 0)
		return -1;
	if (futimens(fd, NULL) != 0 || (durable && fsync(fd) != 0)) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return aml_close_checked(fd);
}

static int older(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int aml_store_blobs_kept_since(struct aml_store *s,
			       const struct timespec *since)
{
	struct stat st;

	if (fstatat(s->dirfd, GC_STAMP, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		/* Not durable: a stamp lost in a crash is made again. */
		if (errno == ENOENT)
			date_stamp(s, 0);
		return 0;
	}
	return S_ISREG(st.st_mode) && older(&st.st_mtim, since);
}

int aml_store_stamp_gc(struct aml_store *s, char *errbuf, size_t errlen)
{
	int dir, rc;

	if (date_stamp(s, 1) != 0)
		return aml_store_path_fail(s, GC_STAMP, errno, errbuf, errlen);
	/* A stamp just made must survive a crash as surely as its date. */
	dir = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return aml_store_path_fail(s, ".", errno, errbuf, errlen);
	rc = sync_fd(s, dir, ".", errbuf, errlen);
	close(dir);
	return rc;
}
