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
 *     and refreshes an existing manifest's mtime through a descriptor that
 *     it then fsyncs, so a refresh survives a crash as a publish does.
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
#include "userdir.h"
#include "errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "manifest.h"

#define CHUNK (256 * 1024)
#define TEXT_MAX ((size_t)256 << 20)
#define TEMP_MAX_AGE 86400
#define REL_MAX 160   /* longest relative path used here, with margin */
#define TEMP_NAME 48

/* ---- messages ---- */

/* Messages go through aml_fail() (errors.h). */

/* "<store>/<rel>: <strerror(err)>", or, when [err] comes from a symlink
 * met where a directory or file was expected, the first component of
 * [rel] that is one. */
static int path_fail(const struct aml_store *s, const char *rel, int err,
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

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int is_hex_name(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (hex_value(name[i]) < 0)
			return 0;
	return name[i] == '\0';
}

static void hex_to_bin(const char *hex, unsigned char bin[32])
{
	for (size_t i = 0; i < 32; i++)
		bin[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 |
					 hex_value(hex[2 * i + 1]));
}

/*
 * Open directory [rel] ("tmp", "blobs/ab") below [dirfd], following no
 * symlink on the way.  The last component is opened with [flags]
 * (O_PATH, or O_RDONLY for a descriptor to fsync or read).  Returns the
 * descriptor, or -1 with errno.
 */
static int open_dir(int dirfd, const char *rel, int flags)
{
	char buf[REL_MAX], *component, *slash;
	int fd = dirfd;

	if (strlen(rel) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(buf, rel);
	component = buf;
	while ((slash = strchr(component, '/'))) {
		int next;

		*slash = '\0';
		next = openat(fd, component,
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != dirfd) {
			int saved = errno;

			close(fd);
			errno = saved;
		}
		if (next < 0)
			return -1;
		fd = next;
		component = slash + 1;
	}
	{
		int last = openat(fd, component,
				  flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;

		if (fd != dirfd)
			close(fd);
		errno = saved;
		return last;
	}
}

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
		      size_t *len, int *sys_error, char *errbuf,
		      size_t errlen)
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
		return path_fail(s, rel, errno, errbuf, errlen);
	}
	if ((uint64_t)st.st_size > TEXT_MAX) {
		close(fd);
		*sys_error = 0;
		return aml_fail(errbuf, errlen,
			    "%s/%s: is larger than 256 MiB (%lld bytes): refused",
			    s->path, rel, (long long)st.st_size);
	}
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
		return path_fail(s, rel, err, errbuf, errlen);
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
			return path_fail(s, rel, errno, errbuf, errlen);
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
		return path_fail(s, rel, err, errbuf, errlen);
	}
	if (aml_close_checked(fd) != 0) {
		int err = errno;

		unlinkat(tmpfd, name, 0);
		return path_fail(s, rel, err, errbuf, errlen);
	}
	return 0;
}

/* ---- open, close, lock ---- */

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
		if (mkdirat(fd, subdirs[i], 0700) != 0 && errno != EEXIST) {
			path_fail(s, subdirs[i], errno, errbuf, errlen);
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
			return path_fail(s, "lock", errno, errbuf, errlen);
		if (fstat(fd, &st) != 0) {
			int err = errno;

			close(fd);
			return path_fail(s, "lock", err, errbuf, errlen);
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
		return path_fail(s, "lock", err, errbuf, errlen);
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
	dfd = open_dir(s->dirfd, rel, O_PATH);
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
	int blobs = open_dir(s->dirfd, "blobs", O_PATH), fd, err;

	if (blobs < 0)
		return -1;
	if (mkdirat(blobs, sub, 0700) != 0 && errno != EEXIST) {
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
			path_fail(s, rel, err, errbuf, errlen);
			unlinkat(tmpfd, name, 0);
			return -1;
		}
		if (fstatat(dfd, hex + 2, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == size) {
				close(dfd);
				unlinkat(tmpfd, name, 0);
				*written = 0;
				return 0;
			}
			/* Torn, or something planted: replaced below
			 * (rename replaces a symlink, never follows it). */
		} else if (errno != ENOENT) {
			err = errno;
			close(dfd);
			unlinkat(tmpfd, name, 0);
			return path_fail(s, rel, err, errbuf, errlen);
		}
		/* A concurrent writer of the same content may rename first:
		 * this rename then replaces identical bytes, harmlessly. */
		if (renameat(tmpfd, name, dfd, hex + 2) == 0) {
			close(dfd);
			*written = 1;
			return 0;
		}
		err = errno;
		close(dfd);
		if (err == ENOENT && attempt == 0)
			continue;
		unlinkat(tmpfd, name, 0);
		return path_fail(s, rel, err, errbuf, errlen);
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
	dfd = open_dir(s->dirfd, rel, O_PATH);
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
			return 0;
		}
	}
	tmpfd = open_dir(s->dirfd, "tmp", O_PATH);
	if (tmpfd < 0) {
		path_fail(s, "tmp", errno, errbuf, errlen);
		goto fail;
	}
	out = make_temp(s, tmpfd, "blob", name, errbuf, errlen);
	if (out < 0)
		goto fail;
	snprintf(rel, sizeof(rel), "tmp/%.47s", name);
	while (n > 0) {
		if (aml_write_all(out, buf, (size_t)n) != 0) {
			path_fail(s, rel, errno, errbuf, errlen);
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
		path_fail(s, rel, errno, errbuf, errlen);
		goto fail;
	}
	err = aml_close_checked(out);
	out = -1;
	if (err != 0) {
		path_fail(s, rel, errno, errbuf, errlen);
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
	dfd = open_dir(s->dirfd, rel, O_PATH);
	if (dfd < 0)
		return path_fail(s, rel, errno, errbuf, errlen);
	rel[8] = '/';
	fd = open_regular(dfd, hex + 2, &st);
	err = errno;
	close(dfd);
	if (fd < 0) {
		if (err == EINVAL)
			return aml_fail(errbuf, errlen,
				    "%s/%s: is not a regular file: refused",
				    s->path, rel);
		return path_fail(s, rel, err, errbuf, errlen);
	}
	return fd;
}

int aml_store_sync(struct aml_store *s, char *errbuf, size_t errlen)
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

/* ---- manifests ---- */

/* mtime of manifests/<id> to now, made durable. */
static int refresh_manifest(struct aml_store *s, int mdir, const char *id,
			    const char *rel, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd = open_regular(mdir, id, &st);

	if (fd < 0)
		return path_fail(s, rel, errno, errbuf, errlen);
	/* The owner may set the times of a read-only file; fsync on a
	 * read-only descriptor flushes them. */
	if (futimens(fd, NULL) != 0 || fsync(fd) != 0) {
		int err = errno;

		close(fd);
		return path_fail(s, rel, err, errbuf, errlen);
	}
	close(fd);
	return 0;
}

int aml_store_put_manifest(struct aml_store *s, const char *id,
			   const char *text, size_t len, int *written,
			   char *errbuf, size_t errlen)
{
	char rel[REL_MAX], actual[AML_SHA256_HEX_LEN + 1], name[TEMP_NAME];
	struct stat st;
	int mdir, tmpfd, err;

	*written = 0;
	if (!aml_sha256_is_hex(id))
		return aml_fail(errbuf, errlen,
			    "%s: manifest id \"%.80s\" is not a SHA-256 in hex",
			    s->path, id ? id : "");
	snprintf(rel, sizeof(rel), "manifests/%.64s", id);
	if (aml_sha256_buffer(text, len, actual) != 0)
		return aml_fail(errbuf, errlen, "%s/%s: hashing failed", s->path,
			    rel);
	if (strcmp(actual, id) != 0)
		return aml_fail(errbuf, errlen,
			    "%s/%s: the text's SHA-256 is %s, not its id: refused",
			    s->path, rel, actual);
	/* A real descriptor (not O_PATH): the directory is fsync'd. */
	mdir = open_dir(s->dirfd, "manifests", O_RDONLY);
	if (mdir < 0)
		return path_fail(s, "manifests", errno, errbuf, errlen);
	if (fstatat(mdir, id, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && (uint64_t)st.st_size == len) {
		err = refresh_manifest(s, mdir, id, rel, errbuf, errlen);
		close(mdir);
		return err;
	}
	tmpfd = open_dir(s->dirfd, "tmp", O_PATH);
	if (tmpfd < 0) {
		close(mdir);
		return path_fail(s, "tmp", errno, errbuf, errlen);
	}
	if (write_temp(s, tmpfd, "manifest", text, len, 1, name, errbuf,
		       errlen) != 0)
		goto fail;
	if (renameat(tmpfd, name, mdir, id) != 0) {
		path_fail(s, rel, errno, errbuf, errlen);
		unlinkat(tmpfd, name, 0);
		goto fail;
	}
	/* Some filesystems cannot fsync a directory (EINVAL); the rename
	 * is then as durable as they make it. */
	if (fsync(mdir) != 0 && errno != EINVAL) {
		path_fail(s, "manifests", errno, errbuf, errlen);
		goto fail;
	}
	close(tmpfd);
	close(mdir);
	*written = 1;
	return 0;

fail:
	close(tmpfd);
	close(mdir);
	return -1;
}

/* Read and verify manifests/<id> from directory [mdir]. */
static int read_manifest_at(struct aml_store *s, int mdir, const char *id,
			    char **text, size_t *len, int *sys_error,
			    char *errbuf, size_t errlen)
{
	char rel[REL_MAX], actual[AML_SHA256_HEX_LEN + 1];

	snprintf(rel, sizeof(rel), "manifests/%.64s", id);
	if (read_whole(s, mdir, id, rel, 0, text, len, sys_error, errbuf,
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
	mdir = open_dir(s->dirfd, "manifests", O_PATH);
	if (mdir < 0)
		return path_fail(s, "manifests", errno, errbuf, errlen);
	rc = read_manifest_at(s, mdir, id, text, len, &sys_error, errbuf,
			      errlen);
	close(mdir);
	return rc;
}

/* ---- stat caches ---- */

int aml_store_read_cache(struct aml_store *s, const char *key, char **text,
			 size_t *len, char *errbuf, size_t errlen)
{
	char name[AML_SHA256_HEX_LEN + 1], rel[REL_MAX];
	int dfd, rc, sys_error;

	*text = NULL;
	*len = 0;
	if (aml_sha256_buffer(key, strlen(key), name) != 0)
		return aml_fail(errbuf, errlen, "%s: hashing failed", key);
	snprintf(rel, sizeof(rel), "cache/%.64s", name);
	dfd = open_dir(s->dirfd, "cache", O_PATH);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		return path_fail(s, "cache", errno, errbuf, errlen);
	}
	rc = read_whole(s, dfd, name, rel, 1, text, len, &sys_error, errbuf,
			errlen);
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
	dfd = open_dir(s->dirfd, "cache", O_PATH);
	if (dfd < 0)
		return path_fail(s, "cache", errno, errbuf, errlen);
	tmpfd = open_dir(s->dirfd, "tmp", O_PATH);
	if (tmpfd < 0) {
		close(dfd);
		return path_fail(s, "tmp", errno, errbuf, errlen);
	}
	if (write_temp(s, tmpfd, "cache", text, len, 0, tmp, errbuf,
		       errlen) != 0) {
		rc = -1;
	} else if (renameat(tmpfd, tmp, dfd, name) != 0) {
		rc = path_fail(s, rel, errno, errbuf, errlen);
		unlinkat(tmpfd, tmp, 0);
	}
	close(tmpfd);
	close(dfd);
	return rc;
}

/* ---- gc ---- */

/*
 * The set of blobs kept manifests refer to: 32-byte digests, open
 * addressing, so marking and looking up 100,000 blobs stays linear.
 */
struct blobset {
	unsigned char (*keys)[32];
	unsigned char *used;
	size_t mask, count;
};

static size_t blobset_slot(const struct blobset *set,
			   const unsigned char key[32], int *found)
{
	uint64_t h;
	size_t at;

	/* A SHA-256 is already uniform: its first bytes are the hash. */
	memcpy(&h, key, sizeof(h));
	for (at = (size_t)h & set->mask; set->used[at];
	     at = (at + 1) & set->mask) {
		if (memcmp(set->keys[at], key, 32) == 0) {
			*found = 1;
			return at;
		}
	}
	*found = 0;
	return at;
}

static int blobset_grow(struct blobset *set)
{
	struct blobset bigger;
	size_t size = set->mask ? (set->mask + 1) * 2 : 1024;

	bigger.keys = malloc(size * sizeof(*bigger.keys));
	bigger.used = calloc(size, 1);
	if (!bigger.keys || !bigger.used) {
		free(bigger.keys);
		free(bigger.used);
		return -1;
	}
	bigger.mask = size - 1;
	bigger.count = set->count;
	for (size_t i = 0; set->mask && i <= set->mask; i++) {
		int found;
		size_t at;

		if (!set->used[i])
			continue;
		at = blobset_slot(&bigger, set->keys[i], &found);
		memcpy(bigger.keys[at], set->keys[i], 32);
		bigger.used[at] = 1;
	}
	free(set->keys);
	free(set->used);
	*set = bigger;
	return 0;
}

static int blobset_add(struct blobset *set, const unsigned char key[32])
{
	int found;
	size_t at;

	if ((set->count + 1) * 2 > (set->mask ? set->mask + 1 : 0) &&
	    blobset_grow(set) != 0)
		return -1;
	at = blobset_slot(set, key, &found);
	if (!found) {
		memcpy(set->keys[at], key, 32);
		set->used[at] = 1;
		set->count++;
	}
	return 0;
}

static int blobset_has(const struct blobset *set, const unsigned char key[32])
{
	int found = 0;

	if (set->mask)
		blobset_slot(set, key, &found);
	return found;
}

struct gc_state {
	struct aml_store *s;
	struct aml_gc_stats *stats;
	struct blobset marked;
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
		path_fail(g->s, rel, err, g->errbuf, g->errlen);
	g->failed = 1;
}

/* Older than [cutoff] seconds: "not newer than", to the nanosecond. */
static int older(const struct stat *st, time_t cutoff)
{
	return st->st_mtim.tv_sec < cutoff ||
	       (st->st_mtim.tv_sec == cutoff && st->st_mtim.tv_nsec == 0);
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

	if (read_manifest_at(g->s, mdir, id, &text, &len, &sys_error, msg,
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
		hex_to_bin(m.entries[i].sha256, key);
		if (blobset_add(&g->marked, key) != 0) {
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
	int mdir = open_dir(g->s->dirfd, "manifests", O_RDONLY);

	if (mdir < 0 || !(dir = fdopendir(mdir))) {
		gc_error(g, "manifests", errno);
		if (mdir >= 0)
			close(mdir);
		return -1;
	}
	for (;;) {
		struct stat st;
		char rel[REL_MAX];

		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		if (!is_hex_name(de->d_name, AML_SHA256_HEX_LEN))
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
		if (!is_hex_name(de->d_name, AML_SHA256_HEX_LEN - 2)) {
			remaining++;
			continue;
		}
		memcpy(hex, sub, 2);
		memcpy(hex + 2, de->d_name, AML_SHA256_HEX_LEN - 2);
		hex[AML_SHA256_HEX_LEN] = '\0';
		hex_to_bin(hex, key);
		if (blobset_has(&g->marked, key)) {
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
	int blobs = open_dir(g->s->dirfd, "blobs", O_RDONLY);

	if (blobs < 0 || !(dir = fdopendir(blobs))) {
		if (errno != ENOENT)
			gc_error(g, "blobs", errno);
		if (blobs >= 0)
			close(blobs);
		return;
	}
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		if (is_hex_name(de->d_name, 2))
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
	int tmp = open_dir(g->s->dirfd, "tmp", O_RDONLY);

	if (tmp < 0 || !(dir = fdopendir(tmp))) {
		if (errno != ENOENT)
			gc_error(g, "tmp", errno);
		if (tmp >= 0)
			close(tmp);
		return;
	}
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
	if (gc_manifests(&g, g.now - (time_t)older_than_days * 86400) == 0)
		gc_blobs(&g);
	gc_temporaries(&g);
	free(g.marked.keys);
	free(g.marked.used);
	if (!was_locked)
		aml_store_unlock(s);
	if (g.failed)
		return -1;
	if (stats->manifests_invalid)
		aml_fail(errbuf, errlen, "%s", g.invalid);
	return 0;
}
