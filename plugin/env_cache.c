/*
 * env_cache.c: built environments, once per key (layout and threats in
 * env_cache.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH, syncfs */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dirtrust.h"
#include "env_cache.h"
#include "errors.h"
#include "fdio.h"
#include "text.h"
#include "tree.h"
#include "userdir.h"

#define SHARED "shared"
#define MARKER_MAX 1024      /* bytes of .ready or .failed read */
#define SHOWN_KEY 12         /* hex digits of a key in messages */
#define KEYS_MAX 100000      /* entries gc and list look at */

/* A directory of entries: shared/ or the caller's own. */
struct place {
	int fd;                  /* -1: none */
	char *path;
	int shared;
};

/* What .ready says, and when the entry was last used. */
struct marker {
	char kind[16];
	char what[128];
	int64_t built_ms;
	int64_t used_ms;
};

int aml_env_key_valid(const char *key)
{
	size_t i;

	for (i = 0; key && key[i]; i++)
		if (!((key[i] >= '0' && key[i] <= '9') ||
		      (key[i] >= 'a' && key[i] <= 'f')))
			return 0;
	return key && i == AML_ENV_KEY_LEN;
}

static void entry_name(char *buf, size_t len, const char *key,
		       const char *suffix)
{
	snprintf(buf, len, "%s%s", key, suffix);
}

static int64_t stat_ms(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return stat_ms(&ts);
}

/* "14:02:11" for [ms] since the epoch, local time. */
static void clock_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%H:%M:%S", &tm))
		snprintf(buf, len, "?");
}

/* A text read from a marker, or a builder's reason, as one line, without
 * the blanks it ended with. */
static void one_line(char *s)
{
	char *end = s;

	for (; *s; s++) {
		if (*s == '\n' || *s == '\r')
			*s = ' ';
		if (*s != ' ')
			end = s + 1;
	}
	*end = '\0';
}

static void place_close(struct place *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	free(p->path);
	p->path = NULL;
}

/* ---------------------------------------------------------------------- */
/* Trust                                                                  */

/*
 * What root's shared area holds for a key ([st]: shared/, <key>/ or
 * <key>.ready, from a descriptor or fstatat that followed no symlink),
 * judged before any user's run executes it.  Threat: a user who made or
 * could change any of them would have every other user's run execute
 * their code.  So: the directory or regular file it must be, root's, and
 * writable by neither group nor others.  Returns NULL when trusted, else
 * why not, for a note (in [buf] when it names a number).
 */
static const char *not_roots(const struct stat *st, int dir, char *buf,
			     size_t len)
{
	enum aml_trust t;

	if (dir)
		t = aml_trust_user_dir(st, 0);
	else if (S_ISLNK(st->st_mode))
		t = AML_UNTRUSTED_LINK;
	else if (!S_ISREG(st->st_mode))
		t = AML_UNTRUSTED_KIND;
	else if (st->st_uid != 0)
		t = AML_UNTRUSTED_OWNER;
	else
		t = st->st_mode & (S_IWGRP | S_IWOTH) ? AML_UNTRUSTED_MODE
						      : AML_TRUSTED;
	switch (t) {
	case AML_TRUSTED:
		return NULL;
	case AML_UNTRUSTED_LINK:
		return "is a symbolic link";
	case AML_UNTRUSTED_KIND:
		return dir ? "is not a directory" : "is not a regular file";
	case AML_UNTRUSTED_OWNER:
		snprintf(buf, len, "is owned by uid %lu, not root",
			 (unsigned long)st->st_uid);
		return buf;
	case AML_UNTRUSTED_MODE:
		snprintf(buf, len, "is writable by group or others (mode %04o)",
			 (unsigned)(st->st_mode & 07777));
		return buf;
	}
	return "cannot be judged";
}

static void note_ignored(char *note, size_t nlen, const char *path,
			 const char *name, const char *why)
{
	if (note && nlen && !note[0])
		snprintf(note, nlen, "%s/%s %s: ignored (only root's "
			 "environments are shared)", path, name, why);
}

/* ---------------------------------------------------------------------- */
/* The directories                                                        */

static int open_env_dir(const char *env_dir, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	if (!env_dir || !*env_dir)
		return aml_fail(errbuf, errlen, "EnvDir is not set");
	fd = open(env_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return aml_fail(errbuf, errlen, "EnvDir %s: does not exist: an "
				"administrator makes it once (mode 1777 like "
				"/tmp, or 0755 for root's environments only)",
				env_dir);
	if (fd < 0)
		return aml_fail(errbuf, errlen, "EnvDir %s: %s", env_dir,
				strerror(errno));
	if (fstat(fd, &st) < 0 ||
	    aml_trust_shared_dir(&st, geteuid()) != AML_TRUSTED) {
		close(fd);
		return aml_fail(errbuf, errlen, "EnvDir %s: must belong to "
				"root and be sticky if others may write it "
				"(mode 1777), refused", env_dir);
	}
	return fd;
}

/*
 * shared/ in [envfd]: for root, made when missing, and anything but
 * root's own refused (an error); for a user, looked at only, and
 * anything untrusted ignored with a note.  Returns 1 open, 0 none, -1
 * with errbuf.
 */
static int open_shared(int envfd, const char *env_dir, int as_root,
		       int create, struct place *p, char *note, size_t nlen,
		       char *errbuf, size_t errlen)
{
	char num[128];
	const char *why;
	struct stat st;
	int fd, made = 0;

	if (create) {
		made = mkdirat(envfd, SHARED, 0755) == 0;
		if (!made && errno != EEXIST)
			return aml_fail(errbuf, errlen, "%s/%s: cannot create: "
					"%s", env_dir, SHARED, strerror(errno));
	}
	fd = openat(envfd, SHARED,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	/* Every user's runs enter it, whatever root's umask. */
	if (made && fd >= 0)
		(void)fchmod(fd, 0755);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
		why = "is a symbolic link or not a directory";
	} else if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(num, sizeof(num), "cannot be opened: %s",
			 strerror(errno));
		why = num;
	} else {
		why = not_roots(&st, 1, num, sizeof(num));
	}
	if (!why) {
		p->fd = fd;
		p->shared = 1;
		if (asprintf(&p->path, "%s/%s", env_dir, SHARED) < 0) {
			p->path = NULL;
			place_close(p);
			return aml_fail(errbuf, errlen, "out of memory");
		}
		return 1;
	}
	if (fd >= 0)
		close(fd);
	if (as_root)
		return aml_fail(errbuf, errlen, "%s/%s %s: refused (root's "
				"environments go where only root can write)",
				env_dir, SHARED, why);
	note_ignored(note, nlen, env_dir, SHARED, why);
	return 0;
}

/* The caller's own directory (userdir.h).  1 open, 0 none (and not
 * [create]), -1 with errbuf. */
static int open_own(int envfd, const char *env_dir, int create,
		    struct place *p, char *errbuf, size_t errlen)
{
	struct aml_userdir ud;
	char name[NAME_MAX + 1];

	aml_userdir_default_name(geteuid(), name, sizeof(name));
	if (aml_userdir_open(envfd, env_dir, name, geteuid(), 0700,
			     S_IWGRP | S_IWOTH, create, &ud, errbuf,
			     errlen) < 0)
		return errno == ENOENT && !create ? 0 : -1;
	p->fd = ud.fd;
	p->path = ud.path;
	p->shared = 0;
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Markers                                                                */

/* "kind what built_at_ms" into [m]; 0, or -1 when it is not that. */
static int parse_ready(char *text, struct marker *m)
{
	char *sp = strchr(text, ' '), *last = strrchr(text, ' '), *end;
	long long built;

	one_line(text);
	if (!sp || sp == text || (size_t)(sp - text) >= sizeof(m->kind))
		return -1;
	errno = 0;
	built = strtoll(last + 1, &end, 10);
	while (*end == ' ')
		end++;
	if (errno || end == last + 1 || *end || built < 0)
		return -1;
	snprintf(m->kind, sizeof(m->kind), "%.*s", (int)(sp - text), text);
	snprintf(m->what, sizeof(m->what), "%.*s",
		 last > sp ? (int)(last - sp - 1) : 0, sp + 1);
	m->built_ms = built;
	return 0;
}

/* [name] in [p] read whole (at most MARKER_MAX) into [buf], with its
 * [st].  0, or -1 with errno (EFBIG: longer). */
static int read_marker(const struct place *p, const char *name, char *buf,
		       size_t len, struct stat *st, int *fdp)
{
	char *text;
	size_t n;
	int fd = openat(p->fd, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) ||
	    aml_read_fd(fd, MARKER_MAX, &text, &n) < 0) {
		int e = S_ISREG(st->st_mode) ? errno : EINVAL;

		close(fd);
		errno = e;
		return -1;
	}
	snprintf(buf, len, "%s", text);
	free(text);
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return 0;
}

/*
 * Whether [key] is whole in [p]: its .ready readable and well formed, and
 * <key>/ a directory; in shared/, both root's alone (not_roots).  With
 * [date_use], the caller's own entry's last use becomes now (the marker's
 * mtime).  Returns 1 ([m] filled), 0 not whole (a note for a shared entry
 * that is there but refused), -1 with errbuf (only for the caller's own).
 */
static int entry_ready(const struct place *p, const char *key, int date_use,
		       struct marker *m, char *note, size_t nlen,
		       char *errbuf, size_t errlen)
{
	char name[NAME_MAX + 1], text[MARKER_MAX + 1], num[128];
	const char *why = NULL;
	struct stat st, ds;
	int fd = -1;

	entry_name(name, sizeof(name), key, ".ready");
	memset(m, 0, sizeof(*m));
	if (read_marker(p, name, text, sizeof(text), &st, &fd) < 0) {
		if (errno == ENOENT || errno == EFBIG || errno == EINVAL)
			return 0;
		if (p->shared || errno == ELOOP) {
			if (p->shared) {
				snprintf(num, sizeof(num), "cannot be read: %s",
					 strerror(errno));
				note_ignored(note, nlen, p->path, name,
					     errno == ELOOP ? "is a symbolic link"
							    : num);
			}
			return 0;
		}
		return aml_fail(errbuf, errlen, "%s/%s: %s", p->path, name,
				strerror(errno));
	}
	if (p->shared && (why = not_roots(&st, 0, num, sizeof(num)))) {
		note_ignored(note, nlen, p->path, name, why);
		goto not_whole;
	}
	if (parse_ready(text, m) < 0)
		goto not_whole;
	if (fstatat(p->fd, key, &ds, AT_SYMLINK_NOFOLLOW) < 0)
		goto not_whole;
	if (p->shared && (why = not_roots(&ds, 1, num, sizeof(num)))) {
		note_ignored(note, nlen, p->path, key, why);
		goto not_whole;
	}
	if (!S_ISDIR(ds.st_mode))
		goto not_whole;
	/* Only root can date root's marker: users' uses show in its atime. */
	if (date_use && (!p->shared || geteuid() == 0))
		(void)futimens(fd, NULL);
	m->used_ms = stat_ms(&st.st_mtim);
	if (p->shared && stat_ms(&st.st_atim) > m->used_ms)
		m->used_ms = stat_ms(&st.st_atim);
	close(fd);
	return 1;

not_whole:
	close(fd);
	return 0;
}

/* The reason in [key]'s .failed, when it is younger than the retry
 * window ([any_age]: whatever its age), into [reason]; [*at] its time.
 * 1 there, 0 not. */
static int entry_failed(const struct place *p, const char *key, int any_age,
			char *reason, size_t len, int64_t *at)
{
	char name[NAME_MAX + 1];
	struct stat st;

	entry_name(name, sizeof(name), key, ".failed");
	if (read_marker(p, name, reason, len, &st, NULL) < 0)
		return 0;
	one_line(reason);
	*at = stat_ms(&st.st_mtim);
	return any_age || now_ms() - *at < AML_ENV_RETRY_AFTER_S * 1000LL;
}

/*
 * [text] as [name] in [p], replacing it at once: a reader sees the old or
 * the new whole, never half.  The key's lock is held, so one temporary
 * name per marker is enough.  0, or -1 with errno.
 */
static int replace_marker(const struct place *p, const char *name,
			  const char *text)
{
	char tmp[NAME_MAX + 1];
	int fd, e;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(p->fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	/* Root's are read by every user's runs, whatever root's umask. */
	if ((p->shared && fchmod(fd, 0644) < 0) ||
	    aml_write_all(fd, text, strlen(text)) < 0 ||
	    aml_close_checked(fd) < 0 || renameat(p->fd, tmp, p->fd, name) < 0) {
		e = errno;
		unlinkat(p->fd, tmp, 0);
		errno = e;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Locks                                                                  */

/* Sleep until [deadline] at most, [*pause_ms] (which doubles up to 100
 * ms): a waiter notices a finished build within a tenth of a second. */
static void pause_until(int64_t deadline, int *pause_ms)
{
	int64_t left = deadline - aml_monotonic_ms();
	struct timespec ts;

	if (left > *pause_ms)
		left = *pause_ms;
	if (left <= 0)
		return;
	ts.tv_sec = left / 1000;
	ts.tv_nsec = (left % 1000) * 1000000L;
	nanosleep(&ts, NULL);
	if (*pause_ms < 100)
		*pause_ms *= 2;
}

/*
 * [key]'s lock in [p] taken with [op] (LOCK_EX or LOCK_SH), trying until
 * [wait_ms] passed; [create]: the lock file is made when missing.  gc
 * removes the lock file of what it removed while it holds it, so a lock
 * taken on a file no longer at its name guards nothing and is taken again.
 * Returns 1 with [*fdp], 0 when still held by another at the deadline
 * ([*since]: when its builder started, the file's mtime), -1 with errno.
 */
static int lock_entry(const struct place *p, const char *key, int op,
		      int create, int64_t wait_ms, int *fdp, int64_t *since)
{
	int64_t deadline = aml_monotonic_ms() + wait_ms;
	char name[NAME_MAX + 1];
	struct stat a, b;
	int pause_ms = 2, fd = -1, stale = 0, e;

	entry_name(name, sizeof(name), key, ".lock");
	for (;;) {
		if (fd < 0) {
			fd = create ? openat(p->fd, name, O_RDWR | O_CREAT |
						     O_NOFOLLOW | O_CLOEXEC,
					     p->shared ? 0644 : 0600)
				    : openat(p->fd, name, O_RDONLY | O_NOFOLLOW |
						     O_CLOEXEC);
			if (fd < 0)
				return -1;
			/* Users' runs must be able to open root's to hold it,
			 * whatever root's umask. */
			if (create && p->shared && fstat(fd, &a) == 0 &&
			    a.st_uid == geteuid())
				(void)fchmod(fd, 0644);
		}
		if (flock(fd, op | LOCK_NB) == 0) {
			if (fstat(fd, &a) == 0 &&
			    fstatat(p->fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
			    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
				*fdp = fd;
				return 1;
			}
			close(fd);
			fd = -1;
			/* Only the directory's owner removes lock files, and
			 * only gc, once: a name that keeps changing is not
			 * worth waiting on. */
			if (++stale > 8) {
				errno = EAGAIN;
				return -1;
			}
			continue;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (aml_monotonic_ms() >= deadline) {
			*since = fstat(fd, &a) == 0 ? stat_ms(&a.st_mtim) : 0;
			close(fd);
			return 0;
		}
		pause_until(deadline, &pause_ms);
	}
}

/* ---------------------------------------------------------------------- */
/* Finding and building                                                   */

/* One key looked for: EnvDir, the directories opened, what was found. */
struct search {
	int envfd;
	struct place shared, own;
	struct place *at;         /* where it is whole, else where the caller
				   * builds it (root: shared/, a user: own) */
	struct marker m;
	char note[512];           /* why a shared entry was ignored */
};

/*
 * Look for [key]: shared/ first, then (not for root) the caller's own,
 * which is opened (made when [create]) either way; root makes shared/
 * when [create].  Returns 1 whole, 0 not, -1 with errbuf; search_end in
 * every case.
 */
static int search(const char *env_dir, const char *key, int create,
		  int date_use, struct search *s, char *errbuf, size_t errlen)
{
	int as_root = geteuid() == 0, r;

	memset(s, 0, sizeof(*s));
	s->envfd = s->shared.fd = s->own.fd = -1;
	s->shared.shared = 1;
	s->at = &s->shared;
	if (!aml_env_key_valid(key))
		return aml_fail(errbuf, errlen, "environment key: not %d "
				"lowercase hex digits", AML_ENV_KEY_LEN);
	s->envfd = open_env_dir(env_dir, errbuf, errlen);
	if (s->envfd < 0)
		return -1;
	r = open_shared(s->envfd, env_dir, as_root, as_root && create,
			&s->shared, s->note, sizeof(s->note), errbuf, errlen);
	if (r == 1)
		r = entry_ready(&s->shared, key, date_use, &s->m, s->note,
				sizeof(s->note), errbuf, errlen);
	if (r != 0 || as_root)
		return r;
	r = open_own(s->envfd, env_dir, create, &s->own, errbuf, errlen);
	if (r <= 0)
		return r;
	s->at = &s->own;
	return entry_ready(&s->own, key, date_use, &s->m, s->note,
			   sizeof(s->note), errbuf, errlen);
}

static void search_end(struct search *s)
{
	place_close(&s->shared);
	place_close(&s->own);
	if (s->envfd >= 0)
		close(s->envfd);
	s->envfd = -1;
}

static int set_path(char *buf, size_t len, const struct place *p,
		    const char *name, char *errbuf, size_t errlen)
{
	if ((size_t)snprintf(buf, len, "%s/%s", p->path, name) >= len)
		return aml_fail(errbuf, errlen, "%s/%s: the path is longer "
				"than the caller's buffer", p->path, name);
	return 0;
}

/* What [p] held for [key] before a build: a killed build's tree, a stale
 * marker.  0, or -1 with errbuf. */
static int clear_entry(const struct place *p, const char *key, char *errbuf,
		       size_t errlen)
{
	static const char *const markers[] = { ".ready", ".failed" };
	char name[NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(markers) / sizeof(*markers); i++) {
		entry_name(name, sizeof(name), key, markers[i]);
		if (unlinkat(p->fd, name, 0) < 0 && errno != ENOENT)
			return aml_fail(errbuf, errlen, "%s/%s: cannot remove: "
					"%s", p->path, name, strerror(errno));
	}
	if (aml_tree_remove(p->fd, key) < 0)
		return aml_fail(errbuf, errlen, "%s/%s: cannot remove what a "
				"build that did not finish left: %s", p->path,
				key, strerror(errno));
	return 0;
}

/* Run [b] into [prefix], the key's lock held, and leave the marker that
 * says how it went.  BUILT or FAILED, or ERROR with errbuf. */
static enum aml_env_outcome run_builder(const struct place *p,
					const char *key,
					const struct aml_env_builder *b,
					const char *prefix, int log_fd,
					char *errbuf, size_t errlen)
{
	char name[NAME_MAX + 1], line[MARKER_MAX], reason[MARKER_MAX] = "";
	struct stat st;
	mode_t old;
	int r;

	/* Root's tree must be root's alone (env_cache.h); and nothing of a
	 * user's umask decides who else may change an environment. */
	old = umask(022);
	r = b->build(b->arg, prefix, log_fd, reason, sizeof(reason));
	umask(old);
	if (r == 0 && (fstatat(p->fd, key, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		       !S_ISDIR(st.st_mode))) {
		snprintf(reason, sizeof(reason), "the %s build left no "
			 "environment at %s", b->kind, prefix);
		r = -1;
	}
	if (r < 0) {
		if (!reason[0])
			snprintf(reason, sizeof(reason), "the %s build failed "
				 "without saying why", b->kind);
		one_line(reason);
		/* What a failed build made is of no use (its log says what
		 * happened) and may be large. */
		(void)aml_tree_remove(p->fd, key);
		snprintf(line, sizeof(line), "%s\n", reason);
		entry_name(name, sizeof(name), key, ".failed");
		if (replace_marker(p, name, line) < 0)
			snprintf(errbuf, errlen, "%s (and %s/%s could not be "
				 "written: %s)", reason, p->path, name,
				 strerror(errno));
		else
			snprintf(errbuf, errlen, "%s", reason);
		return AML_ENV_FAILED;
	}
	/* A marker that outlives a crash must not vouch for a tree that did
	 * not: the environment's files reach the disk first. */
	(void)syncfs(log_fd);
	snprintf(reason, sizeof(reason), "%s", b->what ? b->what : "");
	one_line(reason);
	snprintf(line, sizeof(line), "%s %s %lld\n", b->kind, reason,
		 (long long)now_ms());
	entry_name(name, sizeof(name), key, ".ready");
	if (replace_marker(p, name, line) < 0) {
		aml_fail(errbuf, errlen, "%s/%s: cannot write: %s", p->path,
			 name, strerror(errno));
		return AML_ENV_ERROR;
	}
	return AML_ENV_BUILT;
}

/* Under [key]'s lock in [p]: find it built meanwhile, or failed lately,
 * or build it. */
static enum aml_env_outcome build_locked(const struct place *p,
					 const char *key,
					 const struct aml_env_builder *b,
					 int64_t wait_ms,
					 void (*on_build)(void *),
					 void *on_build_arg,
					 const char *prefix, char *log_path,
					 size_t llen, char *errbuf,
					 size_t errlen)
{
	char name[NAME_MAX + 1], reason[MARKER_MAX + 1], when[32], again[32];
	enum aml_env_outcome o = AML_ENV_ERROR;
	int64_t since = 0, failed_at;
	struct marker m;
	int lock = -1, log_fd = -1, r;

	r = lock_entry(p, key, LOCK_EX, 1, wait_ms, &lock, &since);
	if (r < 0) {
		aml_fail(errbuf, errlen, "%s/%s.lock: %s", p->path, key,
			 strerror(errno));
		return AML_ENV_ERROR;
	}
	if (r == 0) {
		clock_time(since, when, sizeof(when));
		snprintf(errbuf, errlen, "environment %.*s… (%s): still being "
			 "built by another run since %s", SHOWN_KEY, key,
			 b && b->what ? b->what : "?", when);
		return AML_ENV_FAILED;
	}
	r = entry_ready(p, key, 1, &m, NULL, 0, errbuf, errlen);
	if (r != 0) {
		o = r < 0 ? AML_ENV_ERROR : AML_ENV_CACHED;
		goto out;
	}
	entry_name(name, sizeof(name), key, ".log");
	if (set_path(log_path, llen, p, name, errbuf, errlen) < 0)
		goto out;
	if (entry_failed(p, key, 0, reason, sizeof(reason), &failed_at)) {
		clock_time(failed_at, when, sizeof(when));
		clock_time(failed_at + AML_ENV_RETRY_AFTER_S * 1000LL, again,
			   sizeof(again));
		snprintf(errbuf, errlen, "%s (its build failed at %s; not "
			 "tried again before %s)", reason, when, again);
		o = AML_ENV_FAILED;
		goto out;
	}
	if (!b || !b->build || !b->kind || !b->kind[0] ||
	    strlen(b->kind) >= sizeof(m.kind) || strchr(b->kind, ' ')) {
		aml_fail(errbuf, errlen, "environment %.*s…: not built, and no "
			 "builder (with a one-word kind) given", SHOWN_KEY,
			 key);
		goto out;
	}
	if (clear_entry(p, key, errbuf, errlen) < 0)
		goto out;
	log_fd = openat(p->fd, name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW |
				     O_CLOEXEC, 0600);
	if (log_fd >= 0 && p->shared)
		(void)fchmod(log_fd, 0644);
	if (log_fd < 0) {
		aml_fail(errbuf, errlen, "%s: cannot create: %s", log_path,
			 strerror(errno));
		goto out;
	}
	/* Whoever waits for us says since when. */
	(void)futimens(lock, NULL);
	if (on_build)
		on_build(on_build_arg);
	o = run_builder(p, key, b, prefix, log_fd, errbuf, errlen);
out:
	if (o != AML_ENV_BUILT && o != AML_ENV_FAILED)
		log_path[0] = '\0';
	if (log_fd >= 0)
		close(log_fd);
	close(lock);
	return o;
}

enum aml_env_outcome aml_env_cache_get(const char *env_dir, const char *key,
				       const struct aml_env_builder *b,
				       int64_t wait_ms,
				       void (*on_build)(void *),
				       void *on_build_arg, char *prefix,
				       size_t plen, char *log_path,
				       size_t llen, char *errbuf,
				       size_t errlen)
{
	enum aml_env_outcome o = AML_ENV_ERROR;
	struct search s;
	int r;

	prefix[0] = log_path[0] = errbuf[0] = '\0';
	r = search(env_dir, key, 1, 1, &s, errbuf, errlen);
	if (r >= 0 && set_path(prefix, plen, s.at, key, errbuf, errlen) == 0)
		o = r == 1 ? AML_ENV_CACHED
			   : build_locked(s.at, key, b, wait_ms, on_build,
					  on_build_arg, prefix, log_path, llen,
					  errbuf, errlen);
	if ((o == AML_ENV_CACHED || o == AML_ENV_BUILT) && !errbuf[0])
		snprintf(errbuf, errlen, "%s", s.note);
	if (o == AML_ENV_ERROR || o == AML_ENV_FAILED)
		prefix[0] = '\0';
	search_end(&s);
	return o;
}

int aml_env_cache_lookup(const char *env_dir, const char *key, char *prefix,
			 size_t plen, char *errbuf, size_t errlen)
{
	struct search s;
	int r;

	prefix[0] = errbuf[0] = '\0';
	r = search(env_dir, key, 0, 0, &s, errbuf, errlen);
	if (r == 1 && set_path(prefix, plen, s.at, key, errbuf, errlen) < 0)
		r = -1;
	if (r >= 0)
		snprintf(errbuf, errlen, "%s", s.note);
	search_end(&s);
	return r;
}

int aml_env_cache_hold(const char *env_dir, const char *key,
		       struct aml_env_hold *h, char *prefix, size_t plen,
		       char *errbuf, size_t errlen)
{
	struct search s;
	int64_t since;
	int r, fd = -1;

	h->fd = -1;
	prefix[0] = errbuf[0] = '\0';
	r = search(env_dir, key, 0, 1, &s, errbuf, errlen);
	if (r != 1)
		goto out;
	/* Busy for long is not gc (which takes the marker away at once):
	 * whoever holds it keeps gc away too.  No lock file at all: an entry
	 * no build of ours made, which gc would lock before removing. */
	if (lock_entry(s.at, key, LOCK_SH, 0, AML_ENV_HOLD_TRY_MS, &fd,
		       &since) < 0 && errno != ENOENT) {
		r = aml_fail(errbuf, errlen, "%s/%s.lock: %s", s.at->path, key,
			     strerror(errno));
		goto out;
	}
	r = entry_ready(s.at, key, 0, &s.m, s.note, sizeof(s.note), errbuf,
			errlen);
	if (r == 1 && set_path(prefix, plen, s.at, key, errbuf, errlen) < 0)
		r = -1;
	if (r == 1) {
		h->fd = fd;
		fd = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	if (r >= 0)
		snprintf(errbuf, errlen, "%s", s.note);
	search_end(&s);
	return r;
}

void aml_env_cache_release(struct aml_env_hold *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

/* ---------------------------------------------------------------------- */
/* Listing and collecting                                                 */

static int by_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys [p] has anything of (<key>/, <key>.<anything>), sorted, each
 * once, into a malloc'd [*keys] of [*n] (free with free_keys).  0, or -1
 * with errno. */
static int list_keys(const struct place *p, char ***keys, size_t *n)
{
	char **list = NULL, **grown;
	size_t count = 0, cap = 0;
	struct dirent *de;
	int fd = openat(p->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) && count < KEYS_MAX) {
		char key[AML_ENV_KEY_LEN + 1];

		if (strnlen(de->d_name, AML_ENV_KEY_LEN) < AML_ENV_KEY_LEN)
			continue;
		memcpy(key, de->d_name, AML_ENV_KEY_LEN);
		key[AML_ENV_KEY_LEN] = '\0';
		if (!aml_env_key_valid(key) ||
		    (de->d_name[AML_ENV_KEY_LEN] &&
		     de->d_name[AML_ENV_KEY_LEN] != '.'))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown)
				goto oom;
			list = grown;
		}
		list[count] = strdup(key);
		if (!list[count])
			goto oom;
		count++;
	}
	closedir(d);
	if (count)
		qsort(list, count, sizeof(*list), by_key);
	*n = 0;
	for (size_t i = 0; i < count; i++) {
		if (*n && !strcmp(list[*n - 1], list[i]))
			free(list[i]);
		else
			list[(*n)++] = list[i];
	}
	*keys = list;
	return 0;
oom:
	closedir(d);
	while (count)
		free(list[--count]);
	free(list);
	errno = ENOMEM;
	return -1;
}

static void free_keys(char **keys, size_t n)
{
	while (n)
		free(keys[--n]);
	free(keys);
}

/* Disk used by [name] in [dirfd] and below (a file hard-linked elsewhere,
 * as conda's package cache does, counts in full). */
static uint64_t tree_bytes(int parent, const char *name, int depth)
{
	struct dirent *de;
	struct stat st;
	uint64_t sum;
	DIR *d;
	int fd;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	sum = (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode) || depth >= AML_TREE_DEPTH_MAX)
		return sum;
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return sum;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			sum += tree_bytes(dirfd(d), de->d_name, depth + 1);
	closedir(d);
	return sum;
}

/* [key] in [p] as list and gc report it; its disk use only [with_sizes]
 * (a walk of the whole tree: an image's is large). */
static void describe(const struct place *p, const char *key,
		     struct aml_env_entry *e, char *path, size_t plen,
		     int with_sizes)
{
	struct marker m;
	char err[256];

	memset(e, 0, sizeof(*e));
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->shared = p->shared;
	e->ready = entry_ready(p, key, 0, &m, e->note, sizeof(e->note), err,
			       sizeof(err)) == 1;
	if (e->ready) {
		snprintf(e->kind, sizeof(e->kind), "%s", m.kind);
		snprintf(e->what, sizeof(e->what), "%s", m.what);
		e->built_ms = m.built_ms;
		e->used_ms = m.used_ms;
	} else {
		e->failed = entry_failed(p, key, 1, e->note, sizeof(e->note),
					 &e->used_ms);
	}
	if (with_sizes)
		e->bytes = tree_bytes(p->fd, key, 0);
	snprintf(path, plen, "%s/%s", p->path, key);
	e->path = path;
}

/* Everything of [key] in [p], its lock (held by the caller) last: the
 * marker first, so that nobody finds it whole meanwhile.  0, or -1 with
 * errno of the first failure. */
static int remove_entry(const struct place *p, const char *key)
{
	char name[NAME_MAX + 1];
	size_t klen = strlen(key);
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	entry_name(name, sizeof(name), key, ".ready");
	if (unlinkat(p->fd, name, 0) < 0 && errno != ENOENT)
		err = errno;
	if (aml_tree_remove(p->fd, key) < 0 && !err)
		err = errno;
	fd = openat(p->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		errno = err ? err : errno;
		return -1;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, key, klen) || de->d_name[klen] != '.' ||
		    !strcmp(de->d_name + klen, ".lock"))
			continue;
		if (aml_tree_remove(dirfd(d), de->d_name) < 0 && !err)
			err = errno;
	}
	closedir(d);
	entry_name(name, sizeof(name), key, ".lock");
	if (unlinkat(p->fd, name, 0) < 0 && errno != ENOENT && !err)
		err = errno;
	errno = err;
	return err ? -1 : 0;
}

/* The directory gc and list work in for the caller: root's shared/, a
 * user's own.  1 open, 0 none, -1 with errbuf. */
static int open_mine(int envfd, const char *env_dir, struct place *p,
		     char *note, size_t nlen, char *errbuf, size_t errlen)
{
	if (geteuid() == 0)
		return open_shared(envfd, env_dir, 1, 0, p, note, nlen, errbuf,
				   errlen);
	return open_own(envfd, env_dir, 0, p, errbuf, errlen);
}

/* Why gc removes [e] (into its note), or NULL to keep it. */
static const char *gc_reason(struct aml_env_entry *e, int64_t unused_s)
{
	static const char failed[] = "its last build failed: ";
	const size_t h = sizeof(failed) - 1;
	time_t t = (time_t)(e->used_ms / 1000);
	char when[64];
	struct tm tm;
	size_t n;

	if (e->failed) {
		n = strnlen(e->note, sizeof(e->note) - 1 - h);
		memmove(e->note + h, e->note, n);
		memcpy(e->note, failed, h);
		e->note[h + n] = '\0';
	} else if (!e->ready) {
		snprintf(e->note, sizeof(e->note), "left by a build that did "
			 "not finish");
	} else if (now_ms() - e->used_ms > unused_s * 1000) {
		if (!localtime_r(&t, &tm) ||
		    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm))
			snprintf(when, sizeof(when), "?");
		snprintf(e->note, sizeof(e->note), "unused since %s", when);
	} else {
		return NULL;
	}
	return e->note;
}

int aml_env_cache_gc(const char *env_dir, int64_t unused_s,
		     aml_env_entry_fn removed, void *arg, char *errbuf,
		     size_t errlen)
{
	struct place p = { -1, NULL, 0 };
	char **keys = NULL, path[PATH_MAX];
	size_t n = 0;
	int envfd, r, count = 0, failed = 0;

	errbuf[0] = '\0';
	envfd = open_env_dir(env_dir, errbuf, errlen);
	if (envfd < 0)
		return -1;
	r = open_mine(envfd, env_dir, &p, errbuf, errlen, errbuf, errlen);
	close(envfd);
	if (r <= 0) {
		if (r == 0 && errbuf[0])
			r = -1;    /* root's shared/ is not root's: refused */
		return r;
	}
	if (list_keys(&p, &keys, &n) < 0) {
		aml_fail(errbuf, errlen, "%s: cannot read: %s", p.path,
			 strerror(errno));
		place_close(&p);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct aml_env_entry e;
		int64_t since;
		int lock = -1;

		r = lock_entry(&p, keys[i], LOCK_EX, 1, 0, &lock, &since);
		if (r == 0)
			continue;   /* a builder's, or a run's */
		if (r < 0) {
			if (!failed++)
				aml_fail(errbuf, errlen, "%s/%s.lock: %s",
					 p.path, keys[i], strerror(errno));
			continue;
		}
		describe(&p, keys[i], &e, path, sizeof(path), 1);
		if (gc_reason(&e, unused_s)) {
			if (removed)
				removed(arg, &e);
			if (remove_entry(&p, keys[i]) < 0) {
				if (!failed++)
					aml_fail(errbuf, errlen, "%s: cannot "
						 "remove: %s", path,
						 strerror(errno));
			} else {
				count++;
			}
		}
		close(lock);
	}
	free_keys(keys, n);
	place_close(&p);
	return failed ? -1 : count;
}

/* Each entry of [p] to [fn].  0, or -1 with errno. */
static int list_place(const struct place *p, int with_sizes,
		      aml_env_entry_fn fn, void *arg)
{
	char **keys, path[PATH_MAX];
	size_t n;

	if (list_keys(p, &keys, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct aml_env_entry e;

		describe(p, keys[i], &e, path, sizeof(path), with_sizes);
		fn(arg, &e);
	}
	free_keys(keys, n);
	return 0;
}

int aml_env_cache_scan(const char *env_dir, int with_sizes,
		       aml_env_entry_fn fn, void *arg, char *errbuf,
		       size_t errlen)
{
	struct place shared = { -1, NULL, 1 }, own = { -1, NULL, 0 };
	char note[512] = "";
	int envfd, r, out = -1;

	errbuf[0] = '\0';
	envfd = open_env_dir(env_dir, errbuf, errlen);
	if (envfd < 0)
		return -1;
	r = open_shared(envfd, env_dir, 0, 0, &shared, note, sizeof(note),
			errbuf, errlen);
	if (r == 1 && list_place(&shared, with_sizes, fn, arg) < 0) {
		aml_fail(errbuf, errlen, "%s: cannot read: %s", shared.path,
			 strerror(errno));
		goto out;
	}
	if (geteuid() != 0) {
		r = open_own(envfd, env_dir, 0, &own, errbuf, errlen);
		if (r < 0)
			goto out;
		if (r == 1 && list_place(&own, with_sizes, fn, arg) < 0) {
			aml_fail(errbuf, errlen, "%s: cannot read: %s",
				 own.path, strerror(errno));
			goto out;
		}
	}
	snprintf(errbuf, errlen, "%s", note);
	out = 0;
out:
	place_close(&shared);
	place_close(&own);
	close(envfd);
	return out;
}

int aml_env_cache_list(const char *env_dir, aml_env_entry_fn fn, void *arg,
		       char *errbuf, size_t errlen)
{
	return aml_env_cache_scan(env_dir, 1, fn, arg, errbuf, errlen);
}
