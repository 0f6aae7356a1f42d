/*
 * spool.c: the durable local queue for run history (contract in
 * spool.h).
 *
 * Threat: the spool directory is the user's own, so anything in it may
 * have been replaced by the user (or their job) with a symlink, a FIFO or
 * a directory, and the trees a push copies are the job's outputs, which
 * may hold anything.  Every operation is therefore relative to a
 * descriptor, opens each component with O_NOFOLLOW, and opens files with
 * O_NONBLOCK before checking they are regular, so nothing planted can
 * redirect a write or hang the writer.
 *
 * Where the contract is silent:
 *   - Only names of the form <20 digits>-<6 hex> are entries of q/;
 *     anything else there is left alone and not counted.
 *   - A push holds the lock shared for its whole length, build included,
 *     so a replay (exclusive) never meets a build in progress.  Pushers
 *     run side by side: the random suffix and a rename that never
 *     replaces keep their names apart, and a push that starts after
 *     another returned reads q/ after that rename, so it sorts after it.
 *   - [files_path] must be relative and name a directory; a symlink on
 *     the way is refused.  In the tree, a name that vanishes or turns
 *     into a symlink while it is copied is left out (as if listed a
 *     moment later); one that cannot be read fails the push.  Files are
 *     copied 0600, directories 0700, without times.  The spool itself,
 *     met inside the tree, is not copied into itself.
 *   - [apply] must not push to or replay the same spool: both take the
 *     lock replay holds, and would wait for themselves forever.
 *     [entry->files_dirfd] belongs to replay and is valid during the call
 *     only.
 *   - An applied entry is first renamed to tmp/<name>.applied (one
 *     atomic step) and removed there, so a crash during the removal
 *     cannot leave half an entry in q/; the next replay removes such
 *     leftovers at once (only a replay makes them, under the exclusive
 *     lock).  A failure to remove them is not an error of the replay.
 *   - q/ is fsync'd once at the end of a replay, not after each removal:
 *     a removal lost to a crash only means the entry is applied again,
 *     which the contract allows.
 *   - A rejected entry gets its reason file (the reason and a newline;
 *     "no reason given" when [apply] left errbuf empty) before it is
 *     renamed to rejected/, so every rejected entry has one.
 *   - An [apply] verdict outside the enum is a failure of the replay (the
 *     entry stays queued).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH, renameat2, asprintf */
#endif
#include "dirtrust.h"
#include "fdio.h"
#include "spool.h"
#include "tree.h"
#include "userdir.h"
#include "artifacts.h"
#include "errors.h"
#include "random.h"
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEQ_DIGITS 20
#define SUFFIX_HEX 6
#define NAME_LEN (SEQ_DIGITS + 1 + SUFFIX_HEX)
#define APPLIED_SUFFIX ".applied"
#define TEMP_NAME 48
#define TEMP_MAX_AGE 86400
#define DEPTH_MAX 128        /* directories below files_path */
#define DEPTH_MAX_TEXT "128"
#define COPY_CHUNK (64 * 1024)
#define REASON_MAX 1024
#define SHOWN 512            /* a user's file name, escaped for a message */
#define SRC_MAX 4096

_Static_assert(NAME_LEN < AML_SPOOL_NAME_MAX,
	       "an entry name and its NUL fit AML_SPOOL_NAME_MAX");

/* ---- small helpers ---- */

static int is_dot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/*
 * Rename that fails with EEXIST rather than replace.  Filesystems
 * without RENAME_NOREPLACE (older NFS) get a plain rename, which still
 * never replaces a non-empty directory, and every entry holds its record.
 */
static int rename_noreplace(int olddir, const char *old, int newdir,
			    const char *new)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(olddir, old, newdir, new, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	return renameat(olddir, old, newdir, new);
}

/* ---- messages ---- */

/* "<spool>/<rel>: <strerror(err)>", or, when [err] comes from a symlink
 * met where a directory or file was expected, the first component of
 * [rel] that is one. */
static int spool_fail(const struct aml_spool *sp, const char *rel, int err,
		      char *errbuf, size_t errlen)
{
	char prefix[256];
	size_t n = strlen(rel);
	struct stat st;

	if ((err == ELOOP || err == ENOTDIR) && n < sizeof(prefix)) {
		for (size_t i = 1; i <= n; i++) {
			if (rel[i] != '/' && rel[i] != '\0')
				continue;
			memcpy(prefix, rel, i);
			prefix[i] = '\0';
			if (fstatat(sp->dirfd, prefix, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				return aml_fail(errbuf, errlen,
					    "%s/%s: is a symbolic link: refused (nothing in a spool is followed)",
					    sp->path, prefix);
		}
	}
	return aml_fail(errbuf, errlen, "%s/%s: %s", sp->path, rel,
		    strerror(err));
}

/* ---- the lock and the layout ---- */

/* The lock file, flocked; closing the descriptor releases it.  Returns
 * the descriptor, or -1 with errbuf. */
static int lock_spool(const struct aml_spool *sp, int exclusive,
		      char *errbuf, size_t errlen)
{
	struct stat st;
	/* Read-write: on NFS flock is emulated with POSIX locks, and an
	 * exclusive one needs a descriptor open for writing. */
	int fd = openat(sp->dirfd, "lock",
			O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			0600);

	if (fd < 0)
		return spool_fail(sp, "lock", errno, errbuf, errlen);
	if (fstat(fd, &st) != 0) {
		int err = errno;

		close(fd);
		return spool_fail(sp, "lock", err, errbuf, errlen);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return aml_fail(errbuf, errlen,
			    "%s/lock: is not a regular file: refused", sp->path);
	}
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		int err = errno;

		if (err == EINTR)
			continue;
		close(fd);
		return spool_fail(sp, "lock", err, errbuf, errlen);
	}
	return fd;
}

/*
 * <spool>/<name> (one component), made 0700 when missing and [create],
 * opened with [flags] (O_PATH, or O_RDONLY to list or fsync it) and never
 * through a symlink.  Returns the descriptor, or -1 with errno.
 */
static int open_subdir(const struct aml_spool *sp, const char *name,
		       int flags, int create)
{
	if (create && mkdirat(sp->dirfd, name, 0700) != 0 && errno != EEXIST)
		return -1;
	return openat(sp->dirfd, name,
		      flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int is_entry_name(const char *s)
{
	int i;

	for (i = 0; i < SEQ_DIGITS; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	if (s[i++] != '-')
		return 0;
	for (; i < NAME_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[i] == '\0';
}

struct names {
	char (*v)[AML_SPOOL_NAME_MAX];
	size_t count, capacity;
};

static int compare_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * The entries of q/ ([qfd], opened O_RDONLY): their number in [*count],
 * the newest name in [newest] when non-NULL (left as it was when there is
 * none newer), and, when [names] is non-NULL, all of them oldest first
 * (fixed-width names sort as their sequence numbers do).  Returns 0, or
 * -1 with errno.
 */
static int scan_queue(int qfd, struct names *names, char *newest,
		      size_t *count)
{
	/* A description of its own: qfd's offset is not disturbed. */
	int fd = openat(qfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *dir;

	*count = 0;
	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (!dir) {
		aml_close_quietly(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		if (!is_entry_name(de->d_name))
			continue;
		(*count)++;
		if (newest && strcmp(de->d_name, newest) > 0)
			strcpy(newest, de->d_name);
		if (!names)
			continue;
		if (names->count == names->capacity) {
			size_t cap = names->capacity ? names->capacity * 2 : 64;
			void *grown = realloc(names->v, cap * sizeof(*names->v));

			if (!grown) {
				closedir(dir);
				errno = ENOMEM;
				return -1;
			}
			names->v = grown;
			names->capacity = cap;
		}
		strcpy(names->v[names->count++], de->d_name);
	}
	if (errno != 0) {
		int err = errno;

		closedir(dir);
		errno = err;
		return -1;
	}
	closedir(dir);
	if (names && names->count)
		qsort(names->v, names->count, sizeof(*names->v), compare_names);
	return 0;
}

int64_t aml_spool_entry_queued_ms(const struct aml_spool_entry *e)
{
	int64_t ms = 0;

	/* Nanoseconds in 20 digits: the first 14 are the milliseconds. */
	for (int i = 0; i < SEQ_DIGITS - 6; i++) {
		if (e->name[i] < '0' || e->name[i] > '9')
			return INT64_MAX;
		ms = ms * 10 + (e->name[i] - '0');
	}
	return ms;
}

/*
 * The sequence of a new entry, 20 decimal digits: the realtime clock in
 * nanoseconds, or one more than [newest]'s when the clock is not past it
 * (stepped back, or two pushes in one tick).  Decimal arithmetic on the
 * digits, so a hand-made name beyond 2^64 is handled too.  Returns -1
 * when [newest] leaves no room (all nines).
 */
static int next_sequence(const char *newest, char seq[SEQ_DIGITS + 1])
{
	unsigned long long ns = 0;
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec >= 0)
		ns = (unsigned long long)ts.tv_sec * 1000000000ULL +
		     (unsigned long long)ts.tv_nsec;
	snprintf(seq, SEQ_DIGITS + 1, "%020llu", ns);
	if (!*newest || memcmp(seq, newest, SEQ_DIGITS) > 0)
		return 0;
	memcpy(seq, newest, SEQ_DIGITS);
	for (int i = SEQ_DIGITS - 1; i >= 0; i--) {
		if (seq[i] != '9') {
			seq[i]++;
			return 0;
		}
		seq[i] = '0';
	}
	return -1;
}

/* ---- open, close, count ---- */

int aml_spool_open(struct aml_spool *sp, const char *spool_dir,
		   char *errbuf, size_t errlen)
{
	static const char *const subdirs[] = { "q", "tmp" };
	struct aml_userdir own;
	char uid[24];
	int parent, fd, r;

	sp->dirfd = -1;
	sp->path = NULL;
	if (!spool_dir || !*spool_dir)
		return aml_fail(errbuf, errlen,
			    "the spool directory is not set (an empty path)");
	snprintf(uid, sizeof(uid), "%lu", (unsigned long)geteuid());
	parent = open(spool_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0) {
		if (errno == ENOENT)
			return aml_fail(errbuf, errlen,
				 "%s: does not exist: an administrator creates it once, mode 1777 like /tmp",
				 spool_dir);
		return aml_fail(errbuf, errlen, "%s: %s", spool_dir,
				strerror(errno));
	}
	/* Threat: a directory another user owns or can enter could have
	 * entries planted in it or read from it; a symlink could send the
	 * queue anywhere; one made first under the user's uid must not
	 * block the user's spool (userdir.h). */
	r = aml_userdir_open(parent, spool_dir, uid, geteuid(), 0700,
			     S_IRWXG | S_IRWXO, 1, &own, errbuf, errlen);
	close(parent);
	if (r < 0)
		return -1;
	sp->path = own.path;
	sp->dirfd = fd = own.fd;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(*subdirs); i++) {
		if (mkdirat(fd, subdirs[i], 0700) != 0 && errno != EEXIST) {
			spool_fail(sp, subdirs[i], errno, errbuf, errlen);
			goto fail;
		}
	}
	return 0;

fail:
	aml_spool_close(sp);
	return -1;
}

void aml_spool_close(struct aml_spool *sp)
{
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	sp->dirfd = -1;
	free(sp->path);
	sp->path = NULL;
}

int aml_spool_open_dir(struct aml_spool *sp, int dirfd, const char *path,
		       char *errbuf, size_t errlen)
{
	struct stat st;

	sp->dirfd = -1;
	sp->path = strdup(path ? path : "");
	if (!sp->path)
		return aml_fail(errbuf, errlen, "%s: out of memory", path);
	/* Threat: the same as aml_spool_open's; the name it was found by
	 * proves nothing, the descriptor's owner and mode do. */
	if (fstat(dirfd, &st) != 0) {
		aml_fail(errbuf, errlen, "%s: %s", sp->path, strerror(errno));
		goto fail;
	}
	switch (aml_trust_private_dir(&st, geteuid())) {
	case AML_TRUSTED:
		break;
	case AML_UNTRUSTED_LINK:
	case AML_UNTRUSTED_KIND:
		aml_fail(errbuf, errlen, "%s: is %s: refused (a spool must be "
			 "a real directory)", sp->path,
			 S_ISLNK(st.st_mode) ? "a symbolic link"
					     : "not a directory");
		goto fail;
	case AML_UNTRUSTED_OWNER:
		aml_fail(errbuf, errlen, "%s: is owned by uid %lu, not by the "
			 "caller (uid %lu): refused", sp->path,
			 (unsigned long)st.st_uid, (unsigned long)geteuid());
		goto fail;
	case AML_UNTRUSTED_MODE:
		aml_fail(errbuf, errlen, "%s: is open to group or others "
			 "(mode %04o): refused (a spool must be 0700)",
			 sp->path, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	sp->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (sp->dirfd < 0) {
		aml_fail(errbuf, errlen, "%s: %s", sp->path, strerror(errno));
		goto fail;
	}
	return 0;

fail:
	aml_spool_close(sp);
	return -1;
}

long aml_spool_count(struct aml_spool *sp, char *errbuf, size_t errlen)
{
	size_t n;
	int qfd = open_subdir(sp, "q", O_RDONLY, 0);

	if (qfd < 0) {
		if (errno == ENOENT)
			return 0;
		return spool_fail(sp, "q", errno, errbuf, errlen);
	}
	if (scan_queue(qfd, NULL, NULL, &n) != 0) {
		int err = errno;

		close(qfd);
		return spool_fail(sp, "q", err, errbuf, errlen);
	}
	close(qfd);
	return (long)n;
}

/* ---- push ---- */

/*
 * files/ of the entry [efd]: the tree of [files_path], copied by the same
 * rules as an upload to run history (artifacts.h), so what is replayed is
 * exactly what the upload would have taken: symlinks that stay inside the
 * working directory followed, nothing that leads out, no special files.
 * One syncfs makes the whole entry durable, cheaper than a sync per file
 * and as good, since the spool is one local filesystem.
 */
static int copy_files(const struct aml_spool *sp, int efd, int files_dirfd,
		      const char *files_path, char *errbuf, size_t errlen)
{
	struct aml_artifact_stats stats = { 0 };
	struct stat st;
	int rc;

	if (!*files_path || *files_path == '/')
		return aml_fail(errbuf, errlen, "%s: the files to queue must be "
				"a relative path below the directory given, not "
				"%s", sp->path, *files_path ? "absolute" : "empty");
	if (fstatat(files_dirfd, files_path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return spool_fail(sp, files_path, errno, errbuf, errlen);
	if (!S_ISDIR(st.st_mode))
		return aml_fail(errbuf, errlen, "%s: the files to queue (%s) "
				"are %s, not a directory", sp->path, files_path,
				S_ISLNK(st.st_mode) ? "a symbolic link"
						    : "something else");
	rc = aml_artifacts_copy_in(files_dirfd, files_path, efd, "files", 0700,
				   0600, &stats, errbuf, errlen);
	aml_artifact_stats_free(&stats);
	if (rc == 0 && syncfs(efd) < 0)
		rc = spool_fail(sp, "files", errno, errbuf, errlen);
	return rc;
}

static int make_build_dir(const struct aml_spool *sp, int tmpfd,
			  char tname[TEMP_NAME], char *errbuf, size_t errlen)
{
	for (int tries = 0; tries < 100; tries++) {
		snprintf(tname, TEMP_NAME, "%ld.%016llx", (long)getpid(),
			 aml_unique_bits());
		if (mkdirat(tmpfd, tname, 0700) == 0)
			return 0;
		if (errno != EEXIST) {
			char rel[TEMP_NAME + 8];

			snprintf(rel, sizeof(rel), "tmp/%s", tname);
			return spool_fail(sp, rel, errno, errbuf, errlen);
		}
	}
	return aml_fail(errbuf, errlen,
		    "%s/tmp: could not make a unique directory for a new entry",
		    sp->path);
}

int aml_spool_push(struct aml_spool *sp, const char *record, size_t len,
		   int files_dirfd, const char *files_path, char *name,
		   char *errbuf, size_t errlen)
{
	char tname[TEMP_NAME], rel[TEMP_NAME + 16];
	char newest[AML_SPOOL_NAME_MAX] = "", entry[AML_SPOOL_NAME_MAX];
	int lockfd, tmpfd = -1, efd = -1, qfd = -1, fd, built = 0, rc = -1;
	size_t queued;

	if (name)
		name[0] = '\0';
	if (!record && len)
		return aml_fail(errbuf, errlen,
			    "%s: nothing to queue (no record given)", sp->path);
	if (!files_path)
		files_path = "";
	lockfd = lock_spool(sp, 0, errbuf, errlen);
	if (lockfd < 0)
		return -1;
	tmpfd = open_subdir(sp, "tmp", O_PATH, 1);
	if (tmpfd < 0) {
		spool_fail(sp, "tmp", errno, errbuf, errlen);
		goto out;
	}
	if (make_build_dir(sp, tmpfd, tname, errbuf, errlen) != 0)
		goto out;
	built = 1;
	snprintf(rel, sizeof(rel), "tmp/%s", tname);
	efd = openat(tmpfd, tname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (efd < 0) {
		spool_fail(sp, rel, errno, errbuf, errlen);
		goto out;
	}
	snprintf(rel, sizeof(rel), "tmp/%s/record", tname);
	fd = openat(efd, "record",
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		spool_fail(sp, rel, errno, errbuf, errlen);
		goto out;
	}
	if (aml_write_all(fd, record, len) != 0 || fsync(fd) != 0) {
		spool_fail(sp, rel, errno, errbuf, errlen);
		close(fd);
		goto out;
	}
	if (aml_close_checked(fd) != 0) {
		spool_fail(sp, rel, errno, errbuf, errlen);
		goto out;
	}
	if (files_dirfd >= 0 &&
	    copy_files(sp, efd, files_dirfd, files_path, errbuf,
		       errlen) != 0)
		goto out;
	if (aml_fsync_dir(efd) != 0) {
		snprintf(rel, sizeof(rel), "tmp/%s", tname);
		spool_fail(sp, rel, errno, errbuf, errlen);
		goto out;
	}

	qfd = open_subdir(sp, "q", O_RDONLY, 1);
	if (qfd < 0 || scan_queue(qfd, NULL, newest, &queued) != 0) {
		spool_fail(sp, "q", errno, errbuf, errlen);
		goto out;
	}
	for (int tries = 0;; tries++) {
		char seq[SEQ_DIGITS + 1];

		if (next_sequence(newest, seq) != 0) {
			aml_fail(errbuf, errlen,
				 "%s/q/%s: has the largest sequence number possible, so no entry can follow it",
				 sp->path, newest);
			goto out;
		}
		snprintf(entry, sizeof(entry), "%s-%06llx", seq,
			 aml_unique_bits() & 0xffffff);
		if (rename_noreplace(tmpfd, tname, qfd, entry) == 0)
			break;
		if ((errno != EEXIST && errno != ENOTEMPTY) || tries == 100) {
			snprintf(rel, sizeof(rel), "q/%s", entry);
			spool_fail(sp, rel, errno, errbuf, errlen);
			goto out;
		}
		/* A concurrent pusher took this very name; the next one
		 * sorts after it. */
		strcpy(newest, entry);
	}
	if (aml_fsync_dir(qfd) != 0) {
		spool_fail(sp, "q", errno, errbuf, errlen);
		/* Not durable, so not queued as the contract means it: taken
		 * back when possible.  When not, a caller that pushes again
		 * makes a duplicate, which replay's idempotent operations
		 * absorb. */
		built = renameat(qfd, entry, tmpfd, tname) == 0;
		goto out;
	}
	built = 0;
	rc = 0;
	if (name)
		snprintf(name, AML_SPOOL_NAME_MAX, "%s", entry);

out:
	if (built)
		(void)aml_tree_remove(tmpfd, tname);
	aml_close_quietly(qfd);
	aml_close_quietly(efd);
	aml_close_quietly(tmpfd);
	aml_close_quietly(lockfd);
	return rc;
}

/* ---- replay ---- */

/* The record of entry [efd] (q/<name>), whole and NUL-terminated.
 * Returns 0 or -1 with errbuf. */
static int read_record(const struct aml_spool *sp, int efd, const char *name,
		       char **text, size_t *len, char *errbuf, size_t errlen)
{
	char rel[AML_SPOOL_NAME_MAX + 16];
	struct stat st;
	int fd;

	*text = NULL;
	*len = 0;
	snprintf(rel, sizeof(rel), "q/%s/record", name);
	fd = openat(efd, "record", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return spool_fail(sp, rel, errno, errbuf, errlen);
	if (fstat(fd, &st) != 0) {
		int err = errno;

		close(fd);
		return spool_fail(sp, rel, err, errbuf, errlen);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return aml_fail(errbuf, errlen,
			    "%s/%s: is not a regular file: refused", sp->path, rel);
	}
	if (aml_read_fd(fd, SIZE_MAX / 2, text, len) < 0) {
		int err = errno;

		close(fd);
		return spool_fail(sp, rel, err, errbuf, errlen);
	}
	close(fd);
	return 0;
}

/* Older than [cutoff]: "not newer than", to the nanosecond. */
static int older(const struct stat *st, time_t cutoff)
{
	return st->st_mtim.tv_sec < cutoff ||
	       (st->st_mtim.tv_sec == cutoff && st->st_mtim.tv_nsec == 0);
}

/*
 * Remove what crashed processes left in tmp/: applied entries at once
 * (only a replay makes them, and it holds the exclusive lock), anything
 * else once a day old.  Best effort: a leftover is harmless and is tried
 * again next time, so nothing here fails the replay.
 */
static void clean_tmp(int tmpfd)
{
	time_t cutoff = time(NULL) - TEMP_MAX_AGE;
	size_t suffix = strlen(APPLIED_SUFFIX);
	int fd = openat(tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *dir;

	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name);
		struct stat st;

		if (is_dot(de->d_name) ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if ((n > suffix &&
		     strcmp(de->d_name + n - suffix, APPLIED_SUFFIX) == 0) ||
		    older(&st, cutoff))
			(void)aml_tree_remove(fd, de->d_name);
	}
	closedir(dir);
}

struct replay {
	struct aml_spool *sp;
	int qfd, tmpfd, rejfd;
	char reason[REASON_MAX];  /* of the last RETRY, REJECTED or KEEP */
	size_t kept;              /* KEEP verdicts: still queued */
	char *errbuf;
	size_t errlen;
};

/* Take applied entry [name] out of q/ (one rename), then remove it. */
static int take_out(struct replay *r, const char *name)
{
	char gone[AML_SPOOL_NAME_MAX + sizeof(APPLIED_SUFFIX)];
	char rel[AML_SPOOL_NAME_MAX + 8];

	snprintf(gone, sizeof(gone), "%s" APPLIED_SUFFIX, name);
	for (int attempt = 0;; attempt++) {
		if (renameat(r->qfd, name, r->tmpfd, gone) == 0)
			break;
		/* A leftover of the same name: only a crash after this very
		 * rename, whose removal from q/ was then lost, makes one. */
		if ((errno == EEXIST || errno == ENOTEMPTY) && attempt == 0 &&
		    aml_tree_remove(r->tmpfd, gone) == 0)
			continue;
		snprintf(rel, sizeof(rel), "q/%s", name);
		return spool_fail(r->sp, rel, errno, r->errbuf, r->errlen);
	}
	/* A failure leaves it to the next replay's clean-up. */
	(void)aml_tree_remove(r->tmpfd, gone);
	return 0;
}

/* Give entry [name] ([efd]) its reason file, then move it to
 * rejected/. */
static int reject(struct replay *r, int efd, const char *name,
		  const char *reason)
{
	char rel[AML_SPOOL_NAME_MAX + 16];
	int fd;

	snprintf(rel, sizeof(rel), "q/%s/reason", name);
	/* O_NONBLOCK: a FIFO planted as reason must not hang the replay. */
	fd = openat(efd, "reason",
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC, 0600);
	if (fd < 0)
		return spool_fail(r->sp, rel, errno, r->errbuf, r->errlen);
	if (aml_write_all(fd, reason, strlen(reason)) != 0 ||
	    aml_write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
		int err = errno;

		close(fd);
		return spool_fail(r->sp, rel, err, r->errbuf, r->errlen);
	}
	if (aml_close_checked(fd) != 0)
		return spool_fail(r->sp, rel, errno, r->errbuf, r->errlen);
	if (r->rejfd < 0) {
		r->rejfd = open_subdir(r->sp, "rejected", O_RDONLY, 1);
		if (r->rejfd < 0)
			return spool_fail(r->sp, "rejected", errno, r->errbuf,
					  r->errlen);
	}
	snprintf(rel, sizeof(rel), "rejected/%s", name);
	if (rename_noreplace(r->qfd, name, r->rejfd, name) != 0)
		return spool_fail(r->sp, rel, errno, r->errbuf, r->errlen);
	if (aml_fsync_dir(r->rejfd) != 0)
		return spool_fail(r->sp, "rejected", errno, r->errbuf, r->errlen);
	return 0;
}

/* Hand entry [name] to [apply] and act on its verdict.  Returns 1 to go
 * on, 0 to stop (RETRY), -1 with errbuf. */
static int replay_one(struct replay *r, const char *name,
		      aml_spool_apply_fn apply, void *ctx,
		      struct aml_spool_replay_stats *stats)
{
	char rel[AML_SPOOL_NAME_MAX + 16], msg[REASON_MAX];
	struct aml_spool_entry entry;
	enum aml_spool_verdict verdict;
	int efd, files, rc;
	char *record;
	size_t len;

	snprintf(rel, sizeof(rel), "q/%s", name);
	efd = openat(r->qfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (efd < 0)
		return spool_fail(r->sp, rel, errno, r->errbuf, r->errlen);
	if (read_record(r->sp, efd, name, &record, &len, r->errbuf,
			r->errlen) != 0) {
		close(efd);
		return -1;
	}
	files = openat(efd, "files", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (files < 0 && errno != ENOENT) {
		snprintf(rel, sizeof(rel), "q/%s/files", name);
		spool_fail(r->sp, rel, errno, r->errbuf, r->errlen);
		free(record);
		close(efd);
		return -1;
	}
	entry.name = name;
	entry.record = record;
	entry.len = len;
	entry.files_dirfd = files;
	msg[0] = '\0';
	verdict = apply(ctx, &entry, msg, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	aml_close_quietly(files);
	free(record);
	switch (verdict) {
	case AML_SPOOL_APPLIED:
		rc = take_out(r, name);
		if (rc == 0)
			stats->applied++;
		break;
	case AML_SPOOL_RETRY:
		snprintf(r->reason, sizeof(r->reason), "%s", msg);
		rc = 0;
		break;
	case AML_SPOOL_REJECTED:
		snprintf(r->reason, sizeof(r->reason), "%s",
			 msg[0] ? msg : "no reason given");
		rc = reject(r, efd, name, r->reason);
		if (rc == 0)
			stats->rejected++;
		break;
	case AML_SPOOL_KEEP:
		if (msg[0])
			snprintf(r->reason, sizeof(r->reason), "%s", msg);
		r->kept++;
		rc = 0;
		break;
	default:
		rc = aml_fail(r->errbuf, r->errlen,
			      "%s/%s: the replay callback returned %d, which is no verdict: the entry stays queued",
			      r->sp->path, rel, (int)verdict);
		break;
	}
	close(efd);
	if (rc != 0)
		return -1;
	return verdict == AML_SPOOL_RETRY ? 0 : 1;
}

int aml_spool_replay(struct aml_spool *sp, aml_spool_apply_fn apply,
		     void *ctx, struct aml_spool_replay_stats *stats,
		     char *errbuf, size_t errlen)
{
	struct aml_spool_replay_stats local;
	struct names q = { NULL, 0, 0 };
	struct replay r;
	size_t i = 0, queued;
	int lockfd, rc = -1;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (errbuf && errlen)
		errbuf[0] = '\0';
	memset(&r, 0, sizeof(r));
	r.sp = sp;
	r.qfd = r.tmpfd = r.rejfd = -1;
	r.errbuf = errbuf;
	r.errlen = errlen;
	lockfd = lock_spool(sp, 1, errbuf, errlen);
	if (lockfd < 0)
		return -1;
	r.tmpfd = open_subdir(sp, "tmp", O_PATH, 1);
	if (r.tmpfd < 0) {
		spool_fail(sp, "tmp", errno, errbuf, errlen);
		goto out;
	}
	clean_tmp(r.tmpfd);
	r.qfd = open_subdir(sp, "q", O_RDONLY, 1);
	if (r.qfd < 0 || scan_queue(r.qfd, &q, NULL, &queued) != 0) {
		spool_fail(sp, "q", errno, errbuf, errlen);
		goto out;
	}
	for (i = 0; i < q.count; i++) {
		int step = replay_one(&r, q.v[i], apply, ctx, stats);

		if (step < 0)
			goto out;
		if (step == 0)
			break;
	}
	rc = 0;

out:
	stats->remaining = r.kept + (q.count - i);
	/* One fsync for all the removals (see the top of the file). */
	if (r.qfd >= 0 && (stats->applied || stats->rejected) &&
	    aml_fsync_dir(r.qfd) != 0 && rc == 0)
		rc = spool_fail(sp, "q", errno, errbuf, errlen);
	if (rc == 0 && r.reason[0] && errbuf && errlen)
		snprintf(errbuf, errlen, "%s", r.reason);
	free(q.v);
	aml_close_quietly(r.rejfd);
	aml_close_quietly(r.qfd);
	aml_close_quietly(r.tmpfd);
	aml_close_quietly(lockfd);
	return rc;
}
