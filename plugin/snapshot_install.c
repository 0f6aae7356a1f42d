/*
 * snapshot_install.c: aml_snapshot_install(), the node side of snapshots.
 *
 * Runs on every compute node as the job's user and turns a manifest and
 * the blobs it names into a tree under the run's directory.  The manifest
 * and the blobs come from a store on a shared filesystem, so both are
 * treated as untrusted: the manifest is verified and decoded before
 * anything is created, and every file's bytes are hashed on their way in.
 *
 * How the tree is made:
 *  - [dest_dir] is made (0700: who else may read the run is the caller's
 *    decision, by the directory above it) or must be an empty directory
 *    that is not a symlink.  Everything below it is created relative to
 *    its descriptor, each directory reached one component at a time with
 *    O_DIRECTORY|O_NOFOLLOW, so no symlink (planted by a concurrent process
 *    or slipped past the manifest checks) can redirect a write.
 *  - Directories first, in manifest order, by one thread; then the files,
 *    by two threads (the node's cores hash while the kernel copies);
 *    symlinks last, so none exists while anything is written below.
 *  - Modes are 0777 for executables and directories and 0666 otherwise,
 *    less the process umask, as cp does without -p: the run owns its copy.
 *    mtimes (and atimes, set equal) come from the manifest, to the ns.
 *  - A file of 64 KiB or more is a reflink of its blob where the
 *    filesystem allows (FICLONE: no data copied, yet a separate file), and
 *    the blob is then read to verify it.  Anything else is read once into
 *    a buffer, hashed and written: the same I/O as cp.  copy_file_range
 *    is not used: the bytes must be read for the hash anyway, and on ext4
 *    a kernel copy plus that read measured as much CPU as one read and
 *    one write; it also refuses to cross filesystems (since Linux 5.19),
 *    the usual case of a shared store and a local run directory.
 *  - Never a hard link: a script that edits its own files would then
 *    rewrite the store.
 *  - On any error, every entry and directory made so far is removed, and
 *    [dest_dir] is removed too when this call made it.
 */
#include "fdio.h"
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"

#define INSTALL_THREADS 2

/*
 * Copy buffer per thread.  Most source files are far smaller, so one
 * read() takes a whole file; large files go through in 1 MiB steps: few
 * system calls, and each step is still in the CPU's cache when it is
 * hashed and written.
 */
#define COPY_BUFFER (1024 * 1024)

/*
 * Smaller files are copied even where reflinks work: measured on XFS, a
 * clone's metadata update (both inodes, the refcount tree) costs more
 * than writing a few KiB, and their blocks are not worth sharing.
 */
#define CLONE_MIN_SIZE (64 * 1024)

/* Room for one message: a blob path, an errno text, a few words. */
#define MESSAGE_MAX (PATH_MAX + 512)

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */

/* The errno text, thread-safely (workers report from two threads). */
static const char *error_text(int err, char *buf, size_t len)
{
	return strerror_r(err, buf, len);
}

/* Nanoseconds since the epoch as a timespec, rounding towards -infinity
 * so that times before 1970 keep a tv_nsec in [0, 1e9). */
static struct timespec timespec_from_ns(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	if (ts.tv_nsec < 0) {
		ts.tv_nsec += 1000000000;
		ts.tv_sec -= 1;
	}
	return ts;
}

/* Where blob [hex] lives, for messages that must say what is corrupted.
 * Mirrors the layout in store.h. */
static void blob_path(const struct aml_store *store, const char *hex,
		      char *buf, size_t len)
{
	snprintf(buf, len, "%s/blobs/%.2s/%s",
		 store->path ? store->path : "(store)", hex, hex + 2);
}

/* Read up to [len] bytes at [offset], retrying on EINTR.  Returns the
 * count, 0 at the end, -1 with errno. */
static ssize_t read_some(int fd, char *buf, size_t len, off_t offset)
{
	for (;;) {
		ssize_t n = pread(fd, buf, len, offset);

		if (n >= 0 || errno != EINTR)
			return n;
	}
}

/* ---------------------------------------------------------------------- */
/* Reaching a directory below the destination without following symlinks */

/*
 * The last directory reached, so that the files of one directory (which a
 * sorted manifest keeps together) cost one open between them.  Each
 * thread has its own.
 */
struct dir_cache {
	int rootfd;     /* the destination; not owned */
	int fd;         /* O_PATH descriptor of [path], or -1 */
	char *path;     /* relative to the destination; not NUL-terminated */
	size_t len;
	size_t cap;
};

static void dir_cache_init(struct dir_cache *c, int rootfd)
{
	memset(c, 0, sizeof(*c));
	c->rootfd = rootfd;
	c->fd = -1;
}

static void dir_cache_free(struct dir_cache *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	c->fd = -1;
	c->path = NULL;
}

/*
 * A descriptor of directory [dir] ([len] bytes, relative to the
 * destination; 0 for the destination itself), reached component by
 * component with O_DIRECTORY|O_NOFOLLOW: a symlink anywhere on the way
 * fails with ENOTDIR or ELOOP instead of leading elsewhere.  The
 * descriptor belongs to the cache.  Returns -1 with errno.
 */
static int dir_cache_get(struct dir_cache *c, const char *dir, size_t len)
{
	char name[NAME_MAX + 1];
	size_t at;
	int fd;

	if (len == 0)
		return c->rootfd;
	if (c->fd >= 0 && c->len == len && memcmp(c->path, dir, len) == 0)
		return c->fd;

	/* Going deeper from the cached directory saves the walk from the top
	 * (directories are made parent first). */
	if (c->fd >= 0 && len > c->len && dir[c->len] == '/' &&
	    memcmp(c->path, dir, c->len) == 0) {
		fd = c->fd;
		at = c->len + 1;
	} else {
		fd = c->rootfd;
		at = 0;
	}
	while (at < len) {
		const char *slash = memchr(dir + at, '/', len - at);
		size_t n = slash ? (size_t)(slash - (dir + at)) : len - at;
		int next;

		if (n == 0 || n > NAME_MAX) {
			if (fd != c->rootfd && fd != c->fd)
				close(fd);
			errno = n == 0 ? EINVAL : ENAMETOOLONG;
			return -1;
		}
		memcpy(name, dir + at, n);
		name[n] = '\0';
		next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			      O_CLOEXEC);
		if (fd != c->rootfd && fd != c->fd)
			close(fd);
		if (next < 0)
			return -1;
		fd = next;
		at += n + 1;
	}

	if (c->cap < len) {
		char *path = realloc(c->path, len);

		if (!path) {
			close(fd);
			errno = ENOMEM;
			return -1;
		}
		c->path = path;
		c->cap = len;
	}
	if (c->fd >= 0)
		close(c->fd);
	memcpy(c->path, dir, len);
	c->len = len;
	c->fd = fd;
	return fd;
}

/* The directory part of [path] has length *dirlen; returns the last
 * component. */
static const char *split_path(const char *path, size_t *dirlen)
{
	const char *slash = strrchr(path, '/');

	*dirlen = slash ? (size_t)(slash - path) : 0;
	return slash ? slash + 1 : path;
}

/* ---------------------------------------------------------------------- */
/* The shared state of one install                                         */

struct dir_span {
	const char *path; /* a prefix of some entry's path */
	size_t len;
};

struct install {
	struct aml_store *store;
	const struct aml_manifest *m;
	int destfd;

	/* Files only (symlinks are made afterwards), in manifest order. */
	size_t *files;
	size_t nfiles;
	atomic_size_t next;        /* next index into files[] to take */

	atomic_int stop;           /* set at the first error */
	atomic_int try_clone;      /* cleared once FICLONE says it cannot */

	atomic_uint_least64_t bytes;
	atomic_uint_least64_t cloned;

	/* The error of the lowest entry index seen, so a single failure is
	 * reported the same way whichever thread met it. */
	pthread_mutex_t lock;
	int failed;
	size_t error_entry;
	char error[MESSAGE_MAX];
};

static void install_fail(struct install *in, size_t entry, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

/* Record an error for manifest entry [entry] and stop the workers. */
static void install_fail(struct install *in, size_t entry, const char *fmt,
			 ...)
{
	va_list ap;

	atomic_store(&in->stop, 1);
	pthread_mutex_lock(&in->lock);
	if (!in->failed || entry < in->error_entry) {
		va_start(ap, fmt);
		vsnprintf(in->error, sizeof(in->error), fmt, ap);
		va_end(ap);
		in->failed = 1;
		in->error_entry = entry;
	}
	pthread_mutex_unlock(&in->lock);
}

/* ---------------------------------------------------------------------- */
/* One file                                                                */

/* The per-thread state of a worker. */
struct worker {
	struct install *in;
	struct dir_cache dirs;
	char *buf;
};

/*
 * Copy [size] bytes from [src] (read from offset 0) to [dst] through the
 * thread's buffer, hashing each piece between the read and the write: the
 * bytes are read once, as cp reads them.  With [dst] < 0 only hash: after
 * a reflink, to check the blob the clone shares its blocks with.  Stops
 * early when another thread failed.  Returns 0, 1 when [src] ends early
 * (with [*got] the bytes found), 2 when stopped, -1 with errno; [*werr] is
 * set to 1 when the failure was the write.
 */
static int copy_and_hash(struct worker *w, int src, int dst, uint64_t size,
			 char hex[AML_SHA256_HEX_LEN + 1], uint64_t *got,
			 int *werr)
{
	struct aml_sha256 h;
	uint64_t done = 0;

	*werr = 0;
	if (aml_sha256_init(&h) < 0) {
		errno = ENOMEM;
		return -1;
	}
	/* Exactly [size] bytes are read, no probe for the end: the blob's
	 * size was checked against the manifest, and whatever might follow
	 * is not installed, so the hash covers all that is. */
	while (done < size) {
		size_t want = size - done < COPY_BUFFER ? (size_t)(size - done)
							: COPY_BUFFER;
		ssize_t n;

		if (done > 0 && atomic_load_explicit(&w->in->stop,
						      memory_order_relaxed)) {
			aml_sha256_abort(&h);
			return 2;
		}
		n = read_some(src, w->buf, want, (off_t)done);
		if (n <= 0) {
			int err = errno;

			aml_sha256_abort(&h);
			*got = done;
			if (n == 0)
				return 1;
			errno = err;
			return -1;
		}
		if (aml_sha256_update(&h, w->buf, (size_t)n) < 0) {
			aml_sha256_abort(&h);
			errno = ENOMEM;
			return -1;
		}
		if (dst >= 0 && aml_write_all(dst, w->buf, (size_t)n) < 0) {
			int err = errno;

			aml_sha256_abort(&h);
			*werr = 1;
			errno = err;
			return -1;
		}
		done += (uint64_t)n;
	}
	*got = done;
	if (aml_sha256_final(&h, hex) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Nonzero when a FICLONE failure with [err] means "never on this pair of
 * filesystems" rather than something about this one file. */
static int clone_unsupported(int err)
{
	return err == EOPNOTSUPP || err == EXDEV || err == ENOTTY ||
	       err == EINVAL || err == ENOSYS || err == EPERM;
}

/* Install manifest entry [index], a regular file.  Errors go to
 * install_fail(); returns 0 or -1. */
static int install_file(struct worker *w, size_t index)
{
	struct install *in = w->in;
	const struct aml_manifest_entry *e = &in->m->entries[index];
	char msg[MESSAGE_MAX], blob[PATH_MAX], ebuf[128];
	char hex[AML_SHA256_HEX_LEN + 1];
	struct timespec times[2];
	const char *base;
	struct stat st;
	size_t dirlen;
	uint64_t got = 0;
	int src, dst = -1, parent, rc, werr = 0, cloned = 0;

	src = aml_store_open_blob(in->store, e->sha256, msg, sizeof(msg));
	if (src < 0) {
		install_fail(in, index, "%s", msg);
		return -1;
	}
	blob_path(in->store, e->sha256, blob, sizeof(blob));
	if (fstat(src, &st) < 0) {
		install_fail(in, index, "cannot check %s: %s", blob,
			     error_text(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}
	/* Before creating anything: a blob of the wrong size is corrupted,
	 * and a blob that is not a regular file is not a blob. */
	if (!S_ISREG(st.st_mode)) {
		install_fail(in, index,
			     "the store's blob is not a regular file "
			     "(store corrupted: %s)", blob);
		goto fail;
	}
	if ((uint64_t)st.st_size != e->size) {
		install_fail(in, index,
			     "the store's blob has %llu bytes, the manifest "
			     "says %llu (store corrupted: %s)",
			     (unsigned long long)st.st_size,
			     (unsigned long long)e->size, blob);
		goto fail;
	}

	base = split_path(e->path, &dirlen);
	parent = dir_cache_get(&w->dirs, e->path, dirlen);
	if (parent < 0) {
		install_fail(in, index, "cannot reach its directory: %s",
			     error_text(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}
	/* O_EXCL|O_NOFOLLOW: never reuse or follow anything already there. */
	dst = openat(parent, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW |
		     O_CLOEXEC, e->executable ? 0777 : 0666);
	if (dst < 0) {
		install_fail(in, index, "cannot create: %s",
			     error_text(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}

	/* A reflink shares the blob's blocks: no data is copied, and a later
	 * write to either file gets its own blocks (unlike a hard link).  The
	 * blob is hashed after the clone, through its own descriptor: the
	 * bytes are the clone's, and its page cache is the one likely to be
	 * warm (reading the clone back measured twice as slow on XFS). */
	if (e->size >= CLONE_MIN_SIZE && atomic_load_explicit(&in->try_clone,
						memory_order_relaxed)) {
		if (ioctl(dst, FICLONE, src) == 0) {
			cloned = 1;
		} else if (clone_unsupported(errno)) {
			atomic_store_explicit(&in->try_clone, 0,
					      memory_order_relaxed);
		}
	}
	if (cloned) {
		struct stat dst_st;

		if (fstat(dst, &dst_st) < 0) {
			install_fail(in, index, "cannot check its size: %s",
				     error_text(errno, ebuf, sizeof(ebuf)));
			goto fail;
		}
		if ((uint64_t)dst_st.st_size != e->size) {
			install_fail(in, index,
				     "the clone of the store's blob has %llu "
				     "bytes, the manifest says %llu (store "
				     "corrupted: %s)",
				     (unsigned long long)dst_st.st_size,
				     (unsigned long long)e->size, blob);
			goto fail;
		}
		rc = copy_and_hash(w, src, -1, e->size, hex, &got, &werr);
	} else {
		rc = copy_and_hash(w, src, dst, e->size, hex, &got, &werr);
	}
	if (rc == 2)
		goto fail; /* another file failed: that is the error */
	if (rc == 1) {
		install_fail(in, index,
			     "the store's blob ends after %llu bytes, the "
			     "manifest says %llu (store corrupted: %s)",
			     (unsigned long long)got,
			     (unsigned long long)e->size, blob);
		goto fail;
	}
	if (rc < 0) {
		if (werr)
			install_fail(in, index, "cannot write: %s",
				     error_text(errno, ebuf, sizeof(ebuf)));
		else
			install_fail(in, index, "cannot read %s: %s", blob,
				     error_text(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (strcmp(hex, e->sha256) != 0) {
		install_fail(in, index,
			     "content does not match its hash (store "
			     "corrupted: %s)", blob);
		goto fail;
	}

	times[0] = times[1] = timespec_from_ns(e->mtime_ns);
	if (futimens(dst, times) < 0) {
		install_fail(in, index, "cannot set its mtime: %s",
			     error_text(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}
	/* close() reports delayed write errors on some filesystems (NFS). */
	rc = close(dst);
	dst = -1;
	if (rc < 0 && errno != EINTR) {
		install_fail(in, index, "cannot write: %s",
			     error_text(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}
	close(src);
	atomic_fetch_add_explicit(&in->bytes, e->size, memory_order_relaxed);
	if (cloned)
		atomic_fetch_add_explicit(&in->cloned, 1,
					  memory_order_relaxed);
	return 0;

fail:
	if (dst >= 0)
		close(dst);
	close(src);
	return -1;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct install *in = w->in;

	while (!atomic_load_explicit(&in->stop, memory_order_relaxed)) {
		size_t i = atomic_fetch_add(&in->next, 1);

		if (i >= in->nfiles)
			break;
		if (install_file(w, in->files[i]) < 0)
			break;
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Directories, symlinks, removal                                          */

/*
 * The directories the manifest implies, parents first, each once.  A
 * sorted manifest keeps every directory's entries together, so only the
 * components that differ from the previous entry's directory are new.
 * Returns 0, or -1 when memory runs out.
 */
static int list_directories(const struct aml_manifest *m,
			    struct dir_span **out, size_t *count)
{
	struct dir_span *dirs = NULL;
	size_t n = 0, cap = 0;
	const char *prev = "";
	size_t prevlen = 0;

	for (size_t i = 0; i < m->count; i++) {
		const char *path = m->entries[i].path;
		size_t len, common = 0;

		split_path(path, &len);
		/* The longest whole-component prefix shared with [prev]. */
		for (size_t k = 1; k <= len && k <= prevlen; k++) {
			if (path[k - 1] != prev[k - 1])
				break;
			if ((k == len || path[k] == '/') &&
			    (k == prevlen || prev[k] == '/'))
				common = k;
		}
		for (size_t k = common + 1; k <= len; k++) {
			if (k < len && path[k] != '/')
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct dir_span *d = realloc(dirs,
							     ncap * sizeof(*d));

				if (!d) {
					free(dirs);
					return -1;
				}
				dirs = d;
				cap = ncap;
			}
			dirs[n].path = path;
			dirs[n].len = k;
			n++;
		}
		prev = path;
		prevlen = len;
	}
	*out = dirs;
	*count = n;
	return 0;
}

/* Make directory [d] (0777 less the umask: the run writes into its tree).
 * Returns 0, or -1 with a message in [msg]. */
static int make_directory(struct dir_cache *c, const struct dir_span *d,
			  char *msg, size_t msglen)
{
	char name[NAME_MAX + 1], ebuf[128];
	size_t parentlen, namelen;
	const char *slash;
	int parent;

	slash = memrchr(d->path, '/', d->len);
	parentlen = slash ? (size_t)(slash - d->path) : 0;
	namelen = d->len - (slash ? parentlen + 1 : 0);
	if (namelen == 0 || namelen > NAME_MAX) {
		snprintf(msg, msglen, "%.*s: %s", (int)d->len, d->path,
			 error_text(namelen ? ENAMETOOLONG : EINVAL, ebuf,
				    sizeof(ebuf)));
		return -1;
	}
	memcpy(name, d->path + d->len - namelen, namelen);
	name[namelen] = '\0';
	parent = dir_cache_get(c, d->path, parentlen);
	if (parent < 0 || mkdirat(parent, name, 0777) < 0) {
		snprintf(msg, msglen, "%.*s: cannot create the directory: %s",
			 (int)d->len, d->path,
			 error_text(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	return 0;
}

/* Make symlink entry [e] and give it its mtime.  Returns 0, or -1 with a
 * message in [msg]. */
static int make_symlink(struct dir_cache *c,
			const struct aml_manifest_entry *e, char *msg,
			size_t msglen)
{
	struct timespec times[2];
	char ebuf[128];
	const char *base;
	size_t dirlen;
	int parent;

	base = split_path(e->path, &dirlen);
	parent = dir_cache_get(c, e->path, dirlen);
	if (parent < 0 || symlinkat(e->target, parent, base) < 0) {
		snprintf(msg, msglen, "cannot create the symbolic link: %s",
			 error_text(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	times[0] = times[1] = timespec_from_ns(e->mtime_ns);
	if (utimensat(parent, base, times, AT_SYMLINK_NOFOLLOW) < 0) {
		snprintf(msg, msglen, "cannot set its mtime: %s",
			 error_text(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	return 0;
}

/*
 * Remove what this install made: every entry of the manifest, then the
 * first [ndirs] directories, children before parents.  The list is the
 * manifest rather than a walk of the tree, because a walk holds one
 * descriptor per level and a hostile manifest can nest 2,000 deep; every
 * parent is still reached without following symlinks, and an entry that
 * was never made is simply absent.  Failures go to [errs].
 */
static void remove_installed(int destfd, const struct aml_manifest *m,
			     const struct dir_span *dirs, size_t ndirs,
			     const char *dest_dir, struct aml_errors *errs)
{
	struct dir_cache c;
	char ebuf[128];

	dir_cache_init(&c, destfd);
	for (size_t i = m->count; i-- > 0;) {
		const char *path = m->entries[i].path;
		size_t dirlen;
		const char *base = split_path(path, &dirlen);
		int parent = dir_cache_get(&c, path, dirlen);

		if (parent < 0) {
			if (errno != ENOENT)
				aml_errors_add(errs, path,
					       "cannot remove it from %s: %s",
					       dest_dir, error_text(errno, ebuf,
							sizeof(ebuf)));
			continue;
		}
		/* EISDIR: a directory the manifest also names as an entry,
		 * which the directory pass below removes. */
		if (unlinkat(parent, base, 0) < 0 && errno != ENOENT &&
		    errno != EISDIR)
			aml_errors_add(errs, path,
				       "cannot remove it from %s: %s",
				       dest_dir,
				       error_text(errno, ebuf, sizeof(ebuf)));
	}
	/* Reaching the parents from the top each time: the cache only helps
	 * going down, and this is the rare path. */
	for (size_t i = ndirs; i-- > 0;) {
		const struct dir_span *d = &dirs[i];
		const char *slash = memrchr(d->path, '/', d->len);
		size_t parentlen = slash ? (size_t)(slash - d->path) : 0;
		char name[NAME_MAX + 1];
		size_t namelen = d->len - (slash ? parentlen + 1 : 0);
		int parent;

		if (namelen == 0 || namelen > NAME_MAX)
			continue; /* never made */
		memcpy(name, d->path + d->len - namelen, namelen);
		name[namelen] = '\0';
		parent = dir_cache_get(&c, d->path, parentlen);
		if (parent < 0 && errno == ENOENT)
			continue;
		if (parent < 0 || (unlinkat(parent, name, AT_REMOVEDIR) < 0 &&
				   errno != ENOENT)) {
			aml_errors_add(errs, NULL,
				       "%s: %.*s: cannot remove the "
				       "directory: %s", dest_dir, (int)d->len,
				       d->path, error_text(errno, ebuf,
							   sizeof(ebuf)));
		}
		/* The cached descriptor may be the directory just removed
		 * or its child; drop it so nothing stale is reused. */
		dir_cache_free(&c);
		dir_cache_init(&c, destfd);
	}
	dir_cache_free(&c);
}

/* ---------------------------------------------------------------------- */
/* The destination                                                         */

/*
 * Open [dest_dir] for the install, making it (0700) when it does not
 * exist.  An existing one must be an empty directory, not a symlink: the
 * install never mixes with other files, and never follows a link the
 * user (or anyone) left at that name.  Returns the descriptor with
 * [*created], or -1 with an error in [errs].
 */
static int open_destination(const char *dest_dir, int *created,
			    struct aml_errors *errs)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	char ebuf[128];
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, fd2, empty = 1;

	*created = 0;
	fd = open(dest_dir, flags);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir(dest_dir, 0700) == 0)
			*created = 1;
		else if (errno != EEXIST) {
			aml_errors_add(errs, dest_dir,
				       "cannot create the directory: %s",
				       error_text(errno, ebuf, sizeof(ebuf)));
			return -1;
		}
		fd = open(dest_dir, flags);
	}
	if (fd < 0) {
		int err = errno;

		if (lstat(dest_dir, &st) == 0 && S_ISLNK(st.st_mode))
			aml_errors_add(errs, dest_dir,
				       "is a symbolic link; a snapshot is "
				       "installed only into a real directory");
		else if (err == ENOTDIR)
			aml_errors_add(errs, dest_dir, "is not a directory");
		else
			aml_errors_add(errs, dest_dir, "cannot open: %s",
				       error_text(err, ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (*created) {
		/* 0700 whatever the umask: the install must be able to write
		 * into it, and widening access is the caller's decision. */
		if (fchmod(fd, 0700) < 0) {
			aml_errors_add(errs, dest_dir,
				       "cannot set its mode: %s",
				       error_text(errno, ebuf, sizeof(ebuf)));
			goto fail;
		}
		return fd;
	}

	/* A second descriptor for the listing, so [fd] stays ours. */
	fd2 = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd2 >= 0 ? fdopendir(fd2) : NULL;
	if (!dir) {
		aml_errors_add(errs, dest_dir, "cannot list: %s",
			       error_text(errno, ebuf, sizeof(ebuf)));
		if (fd2 >= 0)
			close(fd2);
		goto fail;
	}
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	if (!de && errno != 0) {
		aml_errors_add(errs, dest_dir, "cannot list: %s",
			       error_text(errno, ebuf, sizeof(ebuf)));
		closedir(dir);
		goto fail;
	}
	closedir(dir);
	if (!empty) {
		aml_errors_add(errs, dest_dir,
			       "is not empty; a snapshot is installed only "
			       "into a new or empty directory");
		goto fail;
	}
	return fd;

fail:
	if (fd >= 0)
		close(fd);
	if (*created)
		rmdir(dest_dir);
	*created = 0;
	return -1;
}

/* ---------------------------------------------------------------------- */

int aml_snapshot_install(struct aml_store *store, const char *id,
			 const char *dest_dir, struct aml_install_stats *stats,
			 struct aml_errors *errs)
{
	struct aml_manifest m = {0};
	struct install in;
	struct worker workers[INSTALL_THREADS];
	pthread_t threads[INSTALL_THREADS];
	struct dir_span *dirs = NULL;
	size_t ndirs = 0, made_dirs = 0, nthreads = 0, nlinks = 0;
	char *text = NULL, msg[MESSAGE_MAX];
	size_t len;
	int destfd = -1, created = 0, ok = 0, mutex_ready = 0;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	memset(&in, 0, sizeof(in));
	memset(workers, 0, sizeof(workers));

	if (!aml_sha256_is_hex(id)) {
		aml_errors_add(errs, NULL,
			       "snapshot id \"%.80s\" is not 64 lower-case "
			       "hex digits", id ? id : "");
		return -1;
	}

	/* The manifest, verified and decoded, before anything is made. */
	if (aml_store_read_manifest(store, id, &text, &len, msg,
				    sizeof(msg)) < 0) {
		aml_errors_add(errs, NULL, "%s", msg);
		return -1;
	}
	if (aml_manifest_decode(text, len, &m, msg, sizeof(msg)) < 0) {
		aml_errors_add(errs, NULL, "%s/manifests/%s: %s",
			       store->path ? store->path : "(store)", id, msg);
		free(text);
		return -1;
	}
	free(text);
	if (list_directories(&m, &dirs, &ndirs) < 0)
		goto out_of_memory;
	in.files = malloc((m.count ? m.count : 1) * sizeof(*in.files));
	if (!in.files)
		goto out_of_memory;
	for (size_t i = 0; i < m.count; i++) {
		if (m.entries[i].type == AML_ENTRY_FILE)
			in.files[in.nfiles++] = i;
		else
			nlinks++;
	}

	destfd = open_destination(dest_dir, &created, errs);
	if (destfd < 0)
		goto done;

	/* Directories: few, and each needs its parent, so one thread. */
	{
		struct dir_cache c;

		dir_cache_init(&c, destfd);
		for (; made_dirs < ndirs; made_dirs++) {
			if (make_directory(&c, &dirs[made_dirs], msg,
					   sizeof(msg)) < 0) {
				dir_cache_free(&c);
				aml_errors_add(errs, NULL, "%s", msg);
				goto undo;
			}
		}
		dir_cache_free(&c);
	}

	/* Files: this thread and INSTALL_THREADS - 1 more take the next
	 * file in turn.  If a thread cannot be started the others do the
	 * work: slower, never wrong. */
	in.store = store;
	in.m = &m;
	in.destfd = destfd;
	atomic_init(&in.next, 0);
	atomic_init(&in.stop, 0);
	atomic_init(&in.try_clone, 1);
	atomic_init(&in.bytes, 0);
	atomic_init(&in.cloned, 0);
	if (pthread_mutex_init(&in.lock, NULL) != 0)
		goto out_of_memory_undo;
	mutex_ready = 1;
	for (size_t t = 0; t < INSTALL_THREADS; t++) {
		workers[t].in = &in;
		dir_cache_init(&workers[t].dirs, destfd);
		workers[t].buf = malloc(COPY_BUFFER);
		if (!workers[t].buf) {
			for (size_t k = 0; k < t; k++)
				free(workers[k].buf);
			goto out_of_memory_undo;
		}
	}
	for (size_t t = 1; t < INSTALL_THREADS && t < in.nfiles; t++) {
		if (pthread_create(&threads[t], NULL, worker_run,
				   &workers[t]) != 0)
			break;
		nthreads++;
	}
	worker_run(&workers[0]);
	for (size_t t = 1; t <= nthreads; t++)
		pthread_join(threads[t], NULL);
	for (size_t t = 0; t < INSTALL_THREADS; t++) {
		dir_cache_free(&workers[t].dirs);
		free(workers[t].buf);
	}
	if (in.failed) {
		aml_errors_add(errs, m.entries[in.error_entry].path, "%s",
			       in.error);
		goto undo;
	}

	/* Symlinks last: nothing is written after one exists. */
	{
		struct dir_cache c;

		dir_cache_init(&c, destfd);
		for (size_t i = 0; i < m.count; i++) {
			if (m.entries[i].type != AML_ENTRY_SYMLINK)
				continue;
			if (make_symlink(&c, &m.entries[i], msg,
					 sizeof(msg)) < 0) {
				dir_cache_free(&c);
				aml_errors_add(errs, m.entries[i].path, "%s",
					       msg);
				goto undo;
			}
		}
		dir_cache_free(&c);
	}

	ok = 1;
	if (stats) {
		stats->files = in.nfiles + nlinks;
		stats->bytes = atomic_load(&in.bytes);
		stats->cloned = atomic_load(&in.cloned);
	}
	goto done;

out_of_memory_undo:
	aml_errors_add(errs, NULL, "%s: out of memory", dest_dir);
undo:
	/* made_dirs stops at the directory that failed, which may or may not
	 * exist: include it, removal ignores what is absent. */
	remove_installed(destfd, &m, dirs,
			 made_dirs < ndirs ? made_dirs + 1 : ndirs, dest_dir,
			 errs);
	if (created && rmdir(dest_dir) < 0) {
		char ebuf[128];

		aml_errors_add(errs, dest_dir,
			       "cannot remove the directory made for the "
			       "install: %s",
			       error_text(errno, ebuf, sizeof(ebuf)));
	}
	goto done;

out_of_memory:
	aml_errors_add(errs, NULL, "%s: out of memory", dest_dir);
done:
	if (mutex_ready)
		pthread_mutex_destroy(&in.lock);
	if (destfd >= 0)
		close(destfd);
	free(in.files);
	free(dirs);
	aml_manifest_free(&m);
	return ok ? 0 : -1;
}
