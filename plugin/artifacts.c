/*
 * artifacts.c: run artifacts into run history and back out (contract in
 * artifacts.h).
 *
 * How the rules of the header are kept:
 *   - Every source entry is opened by its whole path from the root, not
 *     relative to the directory it was read from: with openat2
 *     RESOLVE_BENEATH the kernel then checks every symlink on the way
 *     against the root, including one that replaced a directory after we
 *     listed it.  Without openat2, and always for run history, each
 *     component is opened O_NOFOLLOW, so no symlink is followed at all.
 *   - No descriptor is held per level of the tree: a directory's names
 *     are read and its descriptor closed before any child is visited, and
 *     destination directories are reached again from [dest_fd] when
 *     needed (one is cached).  A deep tree cannot exhaust descriptors, and
 *     paths longer than PATH_MAX are refused in both resolution modes, so
 *     the recursion is at most PATH_MAX / 2 deep with small frames.
 *   - Loops (a symlink to a directory above it, or a bind mount) are cut
 *     by the (dev, ino) of the directories on the current path.  The
 *     destination directory is cut the same way when the source reaches
 *     it (a working directory that holds run history), else a copy would
 *     feed on itself.
 *   - Problems with the source are the user's data: the entry is skipped
 *     and described in the stats, the rest is still copied.  Problems
 *     with the destination (a symlink in the way, no space) fail the call.
 *
 * Where the contract is silent:
 *   - A file is copied up to the size fstat gave when it was opened: a
 *     log still being appended to cannot keep us reading forever.
 *   - Copies are not fsync'd.  An upload is typically many files on a
 *     shared filesystem, where each fsync is a round trip to the server,
 *     at the end of every job.  The rename is what keeps the promise to
 *     readers (the old file or the new one, while the system runs); after
 *     a crash a just-renamed file may come back empty on some
 *     filesystems, which is the price of not syncing.
 *   - The temporary names (".<name>.tmp-<16 hex>") of uploads in flight,
 *     or left by a crash, are not listed or downloaded.
 *   - A missing source creates nothing in the destination.
 *   - Paths given by the caller are normalized ("./outputs/" is
 *     "outputs"); an absolute one or one with ".." is refused.
 *   - [stats] may be NULL.  An empty listing is still an array.
 *   - Absolute symlinks are refused by RESOLVE_BENEATH even when they
 *     point inside the working directory: what they name depends on
 *     where the directory is mounted, which is not ours to check.
 */
#include "fdio.h"
#include "random.h"
#include "artifacts.h"
#include "bounded.h"
#include "errors.h"
#include "hangwatch.h"
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COPY_BUFFER (1024 * 1024)
#define SHOWN 320              /* an escaped path in a message */
#define TEMP_SUFFIX ".tmp-"
#define TEMP_HEX 16
#define TEMP_ATTEMPTS 16

/* For message builders and the file copy, called from the recursive
 * walk: their buffers stay out of its frames, which may be PATH_MAX / 2
 * deep. */
#define COLD __attribute__((noinline, cold))
#define LEAF __attribute__((noinline))

/* ---- growing paths ---- */

struct path {
	char *s;      /* NUL-terminated */
	size_t len;
	size_t cap;
};

static int path_reserve(struct path *p, size_t need)
{
	char *grown;
	size_t cap;

	if (need < p->cap)
		return 0;
	cap = p->cap ? p->cap : 128;
	while (cap <= need)
		cap *= 2;
	grown = realloc(p->s, cap);
	if (!grown)
		return -1;
	p->s = grown;
	p->cap = cap;
	return 0;
}

static int path_set(struct path *p, const char *s)
{
	size_t n = strlen(s);

	if (path_reserve(p, n) < 0)
		return -1;
	memcpy(p->s, s, n + 1);
	p->len = n;
	return 0;
}

/* Append "/name" (or "name" to an empty path).  Returns 0 or -1. */
static int path_push(struct path *p, const char *name)
{
	size_t n = strlen(name), sep = p->len ? 1 : 0;

	if (path_reserve(p, p->len + sep + n) < 0)
		return -1;
	if (sep)
		p->s[p->len] = '/';
	memcpy(p->s + p->len + sep, name, n + 1);
	p->len += sep + n;
	return 0;
}

static void path_pop(struct path *p, size_t len)
{
	p->len = len;
	p->s[len] = '\0';
}

/*
 * [in] as plain names joined by single slashes, "." and empty components
 * dropped ("outputs/" from a user is "outputs").  NULL with errno EINVAL
 * for an absolute path, a ".." or nothing left, ENOMEM when out of memory:
 * every path here must stay below the directory it is relative to.
 */
static char *normalize(const char *in)
{
	size_t len = in ? strlen(in) : 0, at = 0, n = 0;
	char *out;

	if (!in || in[0] == '/') {
		errno = EINVAL;
		return NULL;
	}
	out = malloc(len + 1);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	while (at < len) {
		const char *slash = strchr(in + at, '/');
		size_t k = slash ? (size_t)(slash - (in + at)) : len - at;

		if (k == 2 && in[at] == '.' && in[at + 1] == '.') {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		if (k && !(k == 1 && in[at] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, in + at, k);
			n += k;
		}
		at += k + 1;
	}
	out[n] = '\0';
	if (!n) {
		free(out);
		errno = EINVAL;
		return NULL;
	}
	return out;
}

/* ---- opening beneath a root ---- */

/*
 * [path] below [rootfd] with symlinks followed while they stay beneath
 * it, when [follow_inside] and the kernel has openat2; else nothing is
 * followed.  [*beneath] tells which rule applied, for the message.
 */
static int open_source(int rootfd, const char *path, int flags,
		       int follow_inside, int *beneath)
{
	if (follow_inside)
		return aml_open_beneath(rootfd, path, flags, 1, beneath);
	*beneath = 0;
	return aml_open_nofollow(rootfd, path, flags);
}

/* ---- one copy ---- */

struct devino {
	dev_t dev;
	ino_t ino;
};

struct copy {
	int src_root;
	int follow_inside;        /* symlinks inside the root (copy_in) */
	int dest_root;
	mode_t dir_mode;
	mode_t file_mode;
	int exact_modes;          /* fchmod, so the umask does not apply */
	const char *verb;         /* "uploaded", "downloaded" */
	struct path src;          /* the entry, relative to src_root */
	struct path dst;          /* where it goes, relative to dest_root */

	struct devino *above;     /* source directories on the current path */
	size_t n_above, cap_above;
	int have_dest_top;
	struct devino dest_top;

	int dir_fd;               /* cached destination directory, or -1 */
	struct path dir_path;

	char *buf;
	struct aml_artifact_stats *stats;
	char *errbuf;
	size_t errlen;

	/* A walk (aml_artifacts_walk): files go to [sink], no destination
	 * directory exists. */
	aml_artifact_sink_fn sink;
	void *sink_arg;
};

static void note(struct copy *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3))) COLD;

/* A skipped entry ([c->src]): counted always, described while there is
 * room.  A note that cannot be stored for lack of memory is only
 * counted: the copy itself matters more than its description. */
static void note(struct copy *c, const char *fmt, ...)
{
	struct aml_artifact_stats *st = c->stats;
	char shown[SHOWN], reason[256];
	va_list ap;

	st->skipped++;
	if (st->n_notes >= AML_ARTIFACTS_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	aml_text_escape(c->src.s, shown, sizeof(shown));
	if (asprintf(&st->notes[st->n_notes], "%s: %s", shown, reason) < 0)
		st->notes[st->n_notes] = NULL;
	else
		st->n_notes++;
}

/* Fail naming the first [len] bytes of the destination path. */
static COLD int dest_fail(struct copy *c, size_t len, const char *what,
			  int err)
{
	char shown[SHOWN];

	aml_text_escape_n(c->dst.s, len, shown, sizeof(shown));
	return aml_fail(c->errbuf, c->errlen, "%s: %s: %s", shown, what,
			strerror(err));
}

static COLD int src_fail(struct copy *c, const char *what, int err)
{
	char shown[SHOWN];

	aml_text_escape(c->src.s, shown, sizeof(shown));
	return aml_fail(c->errbuf, c->errlen, "%s: %s: %s", shown, what,
			strerror(err));
}

/*
 * Why [c->src] could not be opened ([err]), as a skip; -1 with errbuf
 * only when the fault is ours (descriptors, memory), not the entry's.
 */
static int skip_unopened(struct copy *c, int err, int beneath)
{
	switch (err) {
	case EXDEV:
		note(c, "a symlink that leads outside the working directory; not %s",
		     c->verb);
		return 0;
	case ELOOP:
		if (beneath)
			note(c, "a symlink that leads outside the working directory or in a loop; not %s",
			     c->verb);
		else if (c->follow_inside)
			note(c, "a symbolic link; not %s (this kernel has no openat2, Linux 5.6, to check that it stays inside the working directory)",
			     c->verb);
		else
			note(c, "a symbolic link; not %s (nothing in run history is followed)",
			     c->verb);
		return 0;
	case ENOENT:
		note(c, "is gone, or is a symbolic link to nothing; not %s",
		     c->verb);
		return 0;
	case ENOTDIR:
		note(c, "changed while being %s (a directory on its path is no longer one); not %s",
		     c->verb, c->verb);
		return 0;
	case ENAMETOOLONG:
		note(c, "the path is longer than the system allows; not %s",
		     c->verb);
		return 0;
	case ENXIO:
		note(c, "a socket, or a device that is not there; not %s",
		     c->verb);
		return 0;
	case EAGAIN:
		note(c, "kept changing while being %s; not %s", c->verb,
		     c->verb);
		return 0;
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return src_fail(c, "cannot be opened", err);
	default:
		note(c, "cannot be read (%s); not %s", strerror(err), c->verb);
		return 0;
	}
}

/* ---- the destination ---- */

static void close_walk(struct copy *c, int fd)
{
	if (fd != c->dest_root && fd != c->dir_fd)
		close(fd);
}

/* Component [name] of [parent] could not be opened as a directory
 * ([err]): say whether something is in the way, and what. */
static COLD int dest_refuse(struct copy *c, int parent, const char *name,
			    size_t len, int err)
{
	struct stat st;

	if ((err == ELOOP || err == ENOTDIR) &&
	    fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		char shown[SHOWN];

		aml_text_escape_n(c->dst.s, len, shown, sizeof(shown));
		if (S_ISLNK(st.st_mode))
			return aml_fail(c->errbuf, c->errlen,
					"%s: is a symbolic link: refused (nothing in the destination is followed)",
					shown);
		return aml_fail(c->errbuf, c->errlen,
				"%s: exists and is not a directory: refused",
				shown);
	}
	return dest_fail(c, len, "cannot be opened", err);
}

/*
 * A descriptor of the destination directory named by the first [len]
 * bytes of [c->dst] (the destination itself when 0), each component
 * opened O_NOFOLLOW and made when missing.  The descriptor belongs to the
 * cache.  Returns it, or -1 with errbuf.
 */
static int dest_dir(struct copy *c, size_t len)
{
	char name[NAME_MAX + 1];
	const char *dir = c->dst.s;
	size_t at;
	int fd;

	if (len == 0)
		return c->dest_root;
	if (c->dir_fd >= 0 && c->dir_path.len == len &&
	    !memcmp(c->dir_path.s, dir, len))
		return c->dir_fd;
	/* Going deeper from the cached directory is the usual step of a
	 * walk, and saves reopening from the top. */
	if (c->dir_fd >= 0 && len > c->dir_path.len &&
	    dir[c->dir_path.len] == '/' &&
	    !memcmp(c->dir_path.s, dir, c->dir_path.len)) {
		fd = c->dir_fd;
		at = c->dir_path.len + 1;
	} else {
		fd = c->dest_root;
		at = 0;
	}
	while (at < len) {
		const char *slash = memchr(dir + at, '/', len - at);
		size_t n = slash ? (size_t)(slash - (dir + at)) : len - at;
		int next, created = 0, err;

		if (n > NAME_MAX) {
			close_walk(c, fd);
			return dest_fail(c, at + n, "cannot be created",
					 ENAMETOOLONG);
		}
		memcpy(name, dir + at, n);
		name[n] = '\0';
		next = openat(fd, name,
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(fd, name, c->dir_mode) == 0) {
				created = 1;
			} else if (errno != EEXIST) {
				err = errno;
				close_walk(c, fd);
				return dest_fail(c, at + n, "cannot be created",
						 err);
			}
			/* One we made is opened for real, so that its mode
			 * is set through the descriptor, not by a name that
			 * could be swapped in between. */
			next = openat(fd, name,
				      (created && c->exact_modes ? O_RDONLY
								 : O_PATH) |
					      O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC);
		}
		if (next < 0) {
			err = errno;
			dest_refuse(c, fd, name, at + n, err);
			close_walk(c, fd);
			return -1;
		}
		close_walk(c, fd);
		fd = next;
		if (created && c->exact_modes && fchmod(fd, c->dir_mode) < 0) {
			err = errno;
			close(fd);
			return dest_fail(c, at + n, "cannot set its mode", err);
		}
		at += n + 1;
	}
	if (path_reserve(&c->dir_path, len) < 0) {
		close_walk(c, fd);
		return dest_fail(c, len, "cannot be opened", ENOMEM);
	}
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	memcpy(c->dir_path.s, dir, len);
	path_pop(&c->dir_path, len);
	c->dir_fd = fd;
	return fd;
}

/* Whether [name] is one of our temporaries: ".<name>.tmp-<16 hex>". */
static int is_temp_name(const char *name)
{
	size_t n = strlen(name), s = sizeof(TEMP_SUFFIX) - 1;

	if (name[0] != '.' || n < 1 + 1 + s + TEMP_HEX)
		return 0;
	if (memcmp(name + n - TEMP_HEX - s, TEMP_SUFFIX, s))
		return 0;
	for (size_t i = n - TEMP_HEX; i < n; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}

/* A step of a copy or a listing (a buffer, a file, an entry): whoever
 * watches the work sees it move on, the parent of a bounded child
 * (bounded.h, uploads) or aml-run's watch (hangwatch.h, downloads and
 * listings).  Outside either, nothing. */
static void moved(void)
{
	aml_bounded_progress();
	aml_hangwatch_progress();
}

/*
 * Copy the open regular file [fd] ([st]) to [c->dst] by way of a
 * temporary in the same directory.  Returns 0 (copied, or skipped when
 * the source cannot be read) or -1 with errbuf.
 */
static LEAF int copy_file(struct copy *c, int fd, const struct stat *st)
{
	const char *slash = strrchr(c->dst.s, '/');
	const char *base = slash ? slash + 1 : c->dst.s;
	size_t parent_len = slash ? (size_t)(slash - c->dst.s) : 0;
	size_t keep = strlen(base);
	uint64_t want = (uint64_t)st->st_size, done = 0;
	char temp[NAME_MAX + 1];
	int dir, out = -1, flags, err;

	/* O_NONBLOCK was for opening; some filesystems (FUSE) pass it on
	 * to reads of regular files too. */
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	dir = dest_dir(c, parent_len);
	if (dir < 0)
		return -1;
	if (!c->buf) {
		c->buf = malloc(COPY_BUFFER);
		if (!c->buf)
			return dest_fail(c, c->dst.len, "cannot be written",
					 ENOMEM);
	}
	if (keep > NAME_MAX - 1 - (sizeof(TEMP_SUFFIX) - 1) - TEMP_HEX)
		keep = NAME_MAX - 1 - (sizeof(TEMP_SUFFIX) - 1) - TEMP_HEX;
	for (int i = 0; i < TEMP_ATTEMPTS && out < 0; i++) {
		snprintf(temp, sizeof(temp), ".%.*s" TEMP_SUFFIX "%016llx",
			 (int)keep, base, aml_unique_bits());
		out = openat(dir, temp,
			     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			     c->file_mode);
		if (out < 0 && errno != EEXIST)
			break;
	}
	if (out < 0)
		return dest_fail(c, c->dst.len, "cannot be written", errno);
	if (c->exact_modes && fchmod(out, c->file_mode) < 0) {
		err = errno;
		goto write_failed;
	}
	while (done < want) {
		size_t step = want - done < COPY_BUFFER ? (size_t)(want - done)
							: COPY_BUFFER;
		ssize_t n = read(fd, c->buf, step);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			close(out);
			unlinkat(dir, temp, 0);
			note(c, "cannot be read (%s); not %s", strerror(err),
			     c->verb);
			return 0;
		}
		if (n == 0)
			break;  /* shrank while we read: copied as read */
		if (aml_write_all(out, c->buf, (size_t)n) < 0) {
			err = errno;
			goto write_failed;
		}
		done += (uint64_t)n;
		moved();
	}
	/* Linux releases the descriptor even when close fails; a failure
	 * still means a write may be lost (NFS reports them here). */
	if (close(out) < 0 && errno != EINTR) {
		err = errno;
		out = -1;
		goto write_failed;
	}
	out = -1;
	if (renameat(dir, temp, dir, base) < 0) {
		err = errno;
		unlinkat(dir, temp, 0);
		if (err == EISDIR || err == ENOTEMPTY || err == EEXIST) {
			char shown[SHOWN];

			aml_text_escape_n(c->dst.s, c->dst.len,
					  shown, sizeof(shown));
			return aml_fail(c->errbuf, c->errlen,
					"%s: exists and is a directory: not replaced",
					shown);
		}
		return dest_fail(c, c->dst.len, "cannot be put in place", err);
	}
	c->stats->files++;
	c->stats->bytes += done;
	return 0;

write_failed:
	if (out >= 0)
		close(out);
	unlinkat(dir, temp, 0);
	return dest_fail(c, c->dst.len, "cannot be written", err);
}

/* ---- the walk ---- */

/* A walk's file: handed, open, to the sink, which reads it as it
 * likes (a REST upload streams it). */
static int sink_file(struct copy *c, int fd, const struct stat *st)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	if (c->sink(c->sink_arg, c->dst.s, fd, st, c->errbuf, c->errlen) < 0)
		return -1;
	c->stats->files++;
	c->stats->bytes += (uint64_t)st->st_size;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * The names in directory [fd] (closed here), sorted so that the copy, and
 * which skips get a note, do not depend on the filesystem's order.
 * Returns 0, or -1 with errno; a directory that fails part way is kept
 * as far as it was read, with [*partial] set.
 */
static int read_names(int fd, char ***names, size_t *n, int *partial)
{
	DIR *d = fdopendir(fd);
	size_t cap = 0;
	struct dirent *de;

	*names = NULL;
	*n = 0;
	*partial = 0;
	if (!d) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			*partial = errno != 0;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			size_t grown_cap = cap ? cap * 2 : 16;
			char **grown = realloc(*names,
					       grown_cap * sizeof(*grown));

			if (!grown)
				goto oom;
			*names = grown;
			cap = grown_cap;
		}
		(*names)[*n] = strdup(de->d_name);
		if (!(*names)[*n])
			goto oom;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), compare_names);
	return 0;
oom:
	closedir(d);
	free_names(*names, *n);
	*names = NULL;
	*n = 0;
	errno = ENOMEM;
	return -1;
}

enum place { TOP_IN, TOP_OUT, INNER };

static int copy_entry(struct copy *c, enum place place);

/* The directory [fd] ([st]) at [c->src]: made at [c->dst], then each
 * entry.  Consumes [fd]. */
static int copy_dir(struct copy *c, int fd, const struct stat *st,
		    enum place place)
{
	size_t src_len = c->src.len, dst_len = c->dst.len, n, i;
	char **names;
	int partial, dir, rc = 0;

	for (i = 0; i < c->n_above; i++) {
		if (c->above[i].dev == st->st_dev &&
		    c->above[i].ino == st->st_ino) {
			close(fd);
			note(c, "leads back to a directory it is inside (a loop); not %s again",
			     c->verb);
			return 0;
		}
	}
	if (c->have_dest_top && c->dest_top.dev == st->st_dev &&
	    c->dest_top.ino == st->st_ino) {
		close(fd);
		note(c, "is where the copy goes; not %s into itself", c->verb);
		return 0;
	}
	if (read_names(fd, &names, &n, &partial) < 0) {
		if (errno == ENOMEM || errno == EMFILE || errno == ENFILE)
			return src_fail(c, "cannot be read", errno);
		note(c, "cannot be read (%s); not %s", strerror(errno), c->verb);
		return 0;
	}
	dir = c->sink ? -1 : dest_dir(c, c->dst.len);
	if (dir < 0 && !c->sink) {
		free_names(names, n);
		return -1;
	}
	if (place != INNER && !c->sink) {
		struct stat top;

		if (fstat(dir, &top) < 0) {
			free_names(names, n);
			return dest_fail(c, c->dst.len, "cannot be examined",
					 errno);
		}
		c->have_dest_top = 1;
		c->dest_top.dev = top.st_dev;
		c->dest_top.ino = top.st_ino;
		if (top.st_dev == st->st_dev && top.st_ino == st->st_ino) {
			free_names(names, n);
			note(c, "is where the copy goes; not %s into itself",
			     c->verb);
			return 0;
		}
	}
	if (partial)
		note(c, "could not be read whole; some of its entries were not %s",
		     c->verb);
	if (c->n_above == c->cap_above) {
		size_t cap = c->cap_above ? c->cap_above * 2 : 16;
		struct devino *grown = realloc(c->above, cap * sizeof(*grown));

		if (!grown) {
			free_names(names, n);
			return src_fail(c, "cannot be read", ENOMEM);
		}
		c->above = grown;
		c->cap_above = cap;
	}
	c->above[c->n_above].dev = st->st_dev;
	c->above[c->n_above].ino = st->st_ino;
	c->n_above++;
	for (i = 0; i < n && rc == 0; i++) {
		if (path_push(&c->src, names[i]) < 0 ||
		    path_push(&c->dst, names[i]) < 0) {
			rc = src_fail(c, "cannot be read", ENOMEM);
		} else {
			rc = copy_entry(c, INNER);
		}
		path_pop(&c->src, src_len);
		path_pop(&c->dst, dst_len);
	}
	c->n_above--;
	free_names(names, n);
	return rc;
}

/* What the user asked to download is not there, or is a symlink. */
static COLD int download_refused(struct copy *c, int err)
{
	char shown[SHOWN];

	aml_text_escape(c->src.s, shown, sizeof(shown));
	return aml_fail(c->errbuf, c->errlen,
			err == ENOENT ? "%s: not in the run"
				      : "%s: is a symbolic link, or below one, in run history: refused",
			shown);
}

/*
 * Copy [c->src] to [c->dst], whatever it is.  [place] says whether it is
 * the top of an upload (missing is no error), of a download (missing or
 * a symlink is: the user asked for it), or inside one.
 */
static int copy_entry(struct copy *c, enum place place)
{
	int beneath, fd, rc;
	struct stat st;

	/* Each entry is a step: a watcher sees it move. */
	moved();

	/* In run history, an upload in flight or left by a crash; in a
	 * working directory, the user's file like any other. */
	if (place == INNER && !c->follow_inside &&
	    is_temp_name(strrchr(c->src.s, '/') + 1))
		return 0;
	fd = open_source(c->src_root, c->src.s,
			 O_RDONLY | O_NONBLOCK | O_NOCTTY, c->follow_inside,
			 &beneath);
	if (fd < 0) {
		int err = errno;

		if (place == TOP_IN && err == ENOENT)
			return 0;
		if (place == TOP_OUT &&
		    (err == ENOENT || err == ELOOP || err == ENOTDIR))
			return download_refused(c, err);
		return skip_unopened(c, err, beneath);
	}
	if (fstat(fd, &st) < 0) {
		int err = errno;

		close(fd);
		return src_fail(c, "cannot be examined", err);
	}
	if (S_ISDIR(st.st_mode))
		return copy_dir(c, fd, &st, place);
	if (S_ISREG(st.st_mode)) {
		rc = c->sink ? sink_file(c, fd, &st) : copy_file(c, fd, &st);
		close(fd);
		return rc;
	}
	close(fd);
	note(c, "%s; not %s",
	     aml_file_kind(st.st_mode, "neither a file nor a directory"),
	     c->verb);
	return 0;
}

static void copy_free(struct copy *c)
{
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	free(c->dir_path.s);
	free(c->src.s);
	free(c->dst.s);
	free(c->above);
	free(c->buf);
}

static int run_copy(struct copy *c, const char *src, const char *dst,
		    enum place place)
{
	char shown[SHOWN];
	char *s = normalize(src), *d = s ? normalize(dst) : NULL;

	if (!s || !d) {
		const char *bad = !s ? src : dst;
		const char *below = s ? "destination"
				      : place == TOP_IN ? "working directory"
							: "run";
		int err = errno;

		free(s);
		if (err == ENOMEM)
			return aml_fail(c->errbuf, c->errlen, "out of memory");
		aml_text_escape(bad ? bad : "", shown, sizeof(shown));
		return aml_fail(c->errbuf, c->errlen,
				"\"%s\": not a path below the %s", shown, below);
	}
	if (path_set(&c->src, s) < 0 || path_set(&c->dst, d) < 0) {
		free(s);
		free(d);
		return aml_fail(c->errbuf, c->errlen, "out of memory");
	}
	free(s);
	free(d);
	return copy_entry(c, place);
}

/* One upload, walk or download from the top: [stats] (or our own, when
 * the caller wants none) start empty and are filled either way. */
static int run_top(struct copy *c, struct aml_artifact_stats *stats,
		   const char *src, const char *dst, enum place place)
{
	struct aml_artifact_stats own;
	int rc;

	c->stats = stats ? stats : &own;
	memset(c->stats, 0, sizeof(*c->stats));
	rc = run_copy(c, src, dst, place);
	copy_free(c);
	if (!stats)
		aml_artifact_stats_free(&own);
	return rc;
}

int aml_artifacts_copy_in(int root_fd, const char *src_path, int dest_fd,
			  const char *dest_path, mode_t dir_mode,
			  mode_t file_mode, struct aml_artifact_stats *stats,
			  char *errbuf, size_t errlen)
{
	struct copy c = {
		.src_root = root_fd,
		.follow_inside = 1,
		.dest_root = dest_fd,
		.dir_mode = dir_mode & 07777,
		.file_mode = file_mode & 07777,
		.exact_modes = 1,
		.verb = "uploaded",
		.dir_fd = -1,
		.errbuf = errbuf,
		.errlen = errlen,
	};

	return run_top(&c, stats, src_path, dest_path, TOP_IN);
}

int aml_artifacts_walk(int root_fd, const char *src_path,
		       const char *dest_path, aml_artifact_sink_fn sink,
		       void *arg, struct aml_artifact_stats *stats,
		       char *errbuf, size_t errlen)
{
	struct copy c = {
		.src_root = root_fd,
		.follow_inside = 1,
		.dest_root = -1,
		.verb = "uploaded",
		.dir_fd = -1,
		.errbuf = errbuf,
		.errlen = errlen,
		.sink = sink,
		.sink_arg = arg,
	};

	return run_top(&c, stats, src_path, dest_path, TOP_IN);
}

int aml_artifacts_copy_out(int run_fd, const char *path, int out_fd,
			   struct aml_artifact_stats *stats, char *errbuf,
			   size_t errlen)
{
	struct copy c = {
		.src_root = run_fd,
		.dest_root = out_fd,
		.dir_mode = 0777,
		.file_mode = 0666,
		.verb = "downloaded",
		.dir_fd = -1,
		.errbuf = errbuf,
		.errlen = errlen,
	};

	return run_top(&c, stats, path, path, TOP_OUT);
}

void aml_artifact_stats_free(struct aml_artifact_stats *stats)
{
	if (!stats)
		return;
	for (size_t i = 0; i < stats->n_notes && i < AML_ARTIFACTS_NOTES; i++)
		free(stats->notes[i]);
	memset(stats, 0, sizeof(*stats));
}

/* ---- listing ---- */

struct lister {
	int run_fd;
	struct aml_artifact *items;
	size_t n, cap;
	struct path p;
	char *errbuf;
	size_t errlen;
};

static COLD int list_fail(struct lister *l, const char *name,
			  const char *what, int err)
{
	char shown[SHOWN];
	size_t len = l->p.len;

	if (name && path_push(&l->p, name) == 0) {
		aml_text_escape(l->p.s, shown, sizeof(shown));
		path_pop(&l->p, len);
	} else {
		aml_text_escape(l->p.s, shown, sizeof(shown));
	}
	return aml_fail(l->errbuf, l->errlen, "%s: %s: %s", shown, what,
			strerror(err));
}

static int list_add(struct lister *l, const char *name, const struct stat *st)
{
	struct aml_artifact *a;
	size_t len = l->p.len;
	int64_t ms;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct aml_artifact *grown = realloc(l->items, cap * sizeof(*grown));

		if (!grown)
			return -1;
		l->items = grown;
		l->cap = cap;
	}
	if (path_push(&l->p, name) < 0)
		return -1;
	a = &l->items[l->n];
	a->path = strdup(l->p.s);
	path_pop(&l->p, len);
	if (!a->path)
		return -1;
	/* Floor, so a time before 1970 is not rounded towards it. */
	ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
	a->size = (uint64_t)st->st_size;
	a->mtime_ms = ms;
	l->n++;
	return 0;
}

/* The regular files below directory [l->p]; files first, with the
 * directory open, then the subdirectories by path, so no descriptor is
 * held per level. */
static int list_dir(struct lister *l)
{
	int fd = aml_open_nofollow(l->run_fd, l->p.s,
			       O_RDONLY | O_DIRECTORY | O_NONBLOCK);
	char **subdirs = NULL;
	size_t n_sub = 0, cap_sub = 0, len = l->p.len;
	struct dirent *de;
	int rc = 0;
	DIR *d;

	if (fd < 0) {
		/* Gone, a symlink (never followed in history), or a file
		 * where a top was named: nothing below it. */
		if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR ||
		    errno == ENAMETOOLONG)
			return 0;
		return list_fail(l, NULL, "cannot be read", errno);
	}
	d = fdopendir(fd);
	if (!d) {
		int err = errno;

		close(fd);
		return list_fail(l, NULL, "cannot be read", err);
	}
	for (;;) {
		struct stat st;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = list_fail(l, NULL, "cannot be read", errno);
			break;
		}
		/* The directory answered: a listing of many files is one
		 * operation of run history. */
		moved();
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			rc = list_fail(l, de->d_name, "cannot be examined",
				       errno);
			break;
		}
		if (S_ISREG(st.st_mode) && !is_temp_name(de->d_name)) {
			if (list_add(l, de->d_name, &st) < 0) {
				rc = list_fail(l, NULL, "cannot be listed", ENOMEM);
				break;
			}
		} else if (S_ISDIR(st.st_mode)) {
			if (n_sub == cap_sub) {
				size_t cap = cap_sub ? cap_sub * 2 : 8;
				char **grown = realloc(subdirs,
						       cap * sizeof(*grown));

				if (!grown) {
					rc = list_fail(l, NULL, "cannot be listed",
						       ENOMEM);
					break;
				}
				subdirs = grown;
				cap_sub = cap;
			}
			subdirs[n_sub] = strdup(de->d_name);
			if (!subdirs[n_sub]) {
				rc = list_fail(l, NULL, "cannot be listed", ENOMEM);
				break;
			}
			n_sub++;
		}
	}
	closedir(d);
	for (size_t i = 0; i < n_sub && rc == 0; i++) {
		if (path_push(&l->p, subdirs[i]) < 0)
			rc = list_fail(l, NULL, "cannot be listed", ENOMEM);
		else
			rc = list_dir(l);
		path_pop(&l->p, len);
	}
	free_names(subdirs, n_sub);
	return rc;
}

static int compare_artifacts(const void *a, const void *b)
{
	return strcmp(((const struct aml_artifact *)a)->path,
		      ((const struct aml_artifact *)b)->path);
}

int aml_artifacts_list(int run_fd, const char *const *tops, size_t n_tops,
		       struct aml_artifact **list, size_t *n, char *errbuf,
		       size_t errlen)
{
	struct lister l = {
		.run_fd = run_fd,
		.errbuf = errbuf,
		.errlen = errlen,
	};
	size_t kept = 0;

	*list = NULL;
	*n = 0;
	for (size_t i = 0; i < n_tops; i++) {
		char *top = normalize(tops[i]);
		int rc;

		if (!top) {
			char shown[SHOWN];

			aml_text_escape(tops[i] ? tops[i] : "(none)", shown,
					sizeof(shown));
			aml_fail(errbuf, errlen,
				 errno == ENOMEM ? "%s: out of memory"
						 : "\"%s\": not a path below the run",
				 shown);
			goto fail;
		}
		rc = path_set(&l.p, top);
		free(top);
		if (rc < 0) {
			aml_fail(errbuf, errlen, "out of memory");
			goto fail;
		}
		if (list_dir(&l) < 0)
			goto fail;
	}
	if (l.n)
		qsort(l.items, l.n, sizeof(*l.items), compare_artifacts);
	/* Tops that overlap ("outputs", "outputs/sub") list a file twice. */
	for (size_t i = 0; i < l.n; i++) {
		if (kept && !strcmp(l.items[kept - 1].path, l.items[i].path))
			free(l.items[i].path);
		else
			l.items[kept++] = l.items[i];
	}
	/* A caller may take NULL for failure: even an empty list is an
	 * array. */
	if (!l.items) {
		l.items = calloc(1, sizeof(*l.items));
		if (!l.items) {
			aml_fail(errbuf, errlen, "out of memory");
			goto fail;
		}
	}
	free(l.p.s);
	*list = l.items;
	*n = kept;
	return 0;
fail:
	aml_artifact_list_free(l.items, l.n);
	free(l.p.s);
	return -1;
}

void aml_artifact_list_free(struct aml_artifact *list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++)
		free(list[i].path);
	free(list);
}
