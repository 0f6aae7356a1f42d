/*
 * history_file.c: the embedded run history backend, a directory tree on
 * the shared filesystem (also in slurm-aml(8), Directories):
 *
 *     <HistoryDir>/<user>/<experiment>/<run_id>/
 *         run.json  properties.json  tags.json  events.jsonl
 *         refused.jsonl   events the state machine refused, with why
 *         outputs/  logs/  user_logs/
 *
 * Who may do what is left to the kernel: each user's runs are in a tree
 * nobody else can write (why, and the old layout, below: "The layout"),
 * a run directory belongs to its user (0700 or 0755 by RunVisibility).
 *
 * Concurrency: events.jsonl is the run's lock (flock, which NFS maps to
 * its own locks).  A writer takes it, reads the events, checks the new one
 * against them and appends it with one write(2), so several nodes and the
 * finalizer never interleave or both move the run.  Properties and tags
 * are rewritten under the same lock, by rename, so a reader sees the old
 * file or the new one.  Readers take no lock: a line is appended whole,
 * and a torn last line (a writer killed mid-write) is skipped.
 *
 * Root (a reconcile by an admin): every path component is opened
 * O_NOFOLLOW from HistoryDir only to learn whose the run is; the process
 * then becomes that user (privdrop.h) and finds the run again as them.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "dirtrust.h"
#include "errors.h"
#include "history_backend.h"
#include "kvjson.h"
#include "privdrop.h"
#include "random.h"
#include "runid.h"
#include "text.h"
#include "tree.h"
#include "userdir.h"

#define EVENTS "events.jsonl"
#define PROPERTIES "properties.json"
#define TAGS "tags.json"
#define CONFIG "run.json"
#define REFUSED "refused.jsonl"
#define MAX_RECORD_FILE (16u << 20)  /* a run's events or JSON files */

static const char *const artifact_tops[] = { "outputs", "logs", "user_logs" };
#define N_TOPS (sizeof(artifact_tops) / sizeof(artifact_tops[0]))

struct file_backend {
	char *root;
	mode_t tree_mode;            /* a user's tree and its experiments */
	mode_t dir_mode, file_mode;  /* a run's directories and files */
};

/* An open run directory; for root, the identity it acts as meanwhile. */
struct run_dir {
	int rootfd, fd;
	uid_t uid;
	gid_t gid;
	struct aml_identity identity;
};

/* ---- errors ---- */

/*
 * What a failed system call on HistoryDir says about a write: nothing
 * about the write itself.  Whatever the errno (a full or read-only
 * filesystem, an unmount, a stale handle, and equally a permission an
 * expired Kerberos ticket took away, or a mount an admin broke), the
 * write is sound and the location is not: history.c keeps it in the spool
 * and writes it when the location is fixed.  Only the backend's own
 * judgements (a transition the state machine refuses, a property that
 * would change, a run that is another user's) are refusals; those are
 * made with aml_fail, never from an errno.  [e] == 0 (a failure that set
 * no errno) is such a judgement.
 */
static int errno_verdict(int e)
{
	return e ? AML_BACKEND_UNAVAILABLE : AML_BACKEND_REFUSED;
}

/* What an admin, not the writer, must do about [e], or "". */
static const char *admin_hint(int e)
{
	switch (e) {
	case EACCES: case EPERM:
		return " (access to run history was taken away: an admin "
		       "must give it back)";
	case EROFS:
		return " (an admin must make it writable again)";
	case ENOSPC: case EDQUOT:
		return " (space must be freed there)";
	case ESTALE: case EIO: case ENOTCONN:
		return " (its mount is broken: an admin must repair it)";
	default:
		return "";
	}
}

static int fail_errno(char *errbuf, size_t errlen, int e, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

static int fail_errno(char *errbuf, size_t errlen, int e, const char *fmt,
		      ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	aml_fail(errbuf, errlen, "run history: %s: %s%s", what, strerror(e),
		 admin_hint(e));
	return errno_verdict(e);
}

/* ---- small file helpers ---- */

static int read_all(int fd, char **text, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	return aml_read_fd(fd, MAX_RECORD_FILE, text, len);
}

static int read_file_at(int dirfd, const char *name, char **text,
			size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
					    O_NOCTTY | O_NONBLOCK);
	int r, saved;

	if (fd < 0)
		return -1;
	r = read_all(fd, text, len);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* Replace [name] in [dirfd] by [text]: a new file, synced, renamed over
 * the old, so a reader sees one or the other. */
static int replace_file_at(int dirfd, const char *name, const char *text,
			   size_t len, mode_t mode)
{
	char tmp[NAME_MAX + 1];
	unsigned int rnd;
	int fd, saved;

	if (aml_random(&rnd, sizeof(rnd)) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), ".%s.tmp-%08x", name, rnd);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) < 0 || aml_write_all(fd, text, len) < 0 ||
	    fdatasync(fd) < 0 || close(fd) < 0) {
		saved = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		saved = errno;
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * Create the [n] (at most 8) files [names] with [texts] in [dirfd], a
 * directory no reader sees yet, and make their contents durable: every
 * file written, then their writeback started, then every one synced, so
 * that a filesystem that commits metadata in one journal (ext4, xfs)
 * does so once, not once per file.  Returns 0, or -1 with errno (the
 * files then left to the caller).
 */
static int create_files_synced(int dirfd, const char *const *names,
			       const char *const *texts, size_t n, mode_t mode)
{
	int fds[8], r = 0, saved = 0;
	size_t opened = 0;

	if (n > sizeof(fds) / sizeof(*fds)) {
		errno = EINVAL;
		return -1;
	}
	for (; opened < n; opened++) {
		fds[opened] = openat(dirfd, names[opened],
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					     O_CLOEXEC, mode);
		if (fds[opened] < 0 || fchmod(fds[opened], mode) < 0 ||
		    aml_write_all(fds[opened], texts[opened],
				  strlen(texts[opened])) < 0) {
			saved = errno;
			if (fds[opened] >= 0)
				opened++;
			r = -1;
			break;
		}
	}
	/* Their writeback started together first: a filesystem that
	 * allocates blocks at writeback (ext4, xfs) then allocates all four
	 * before the first fdatasync commits, and the others find nothing
	 * left to commit.  Only a hint: the fdatasyncs below are the
	 * guarantee. */
	for (size_t i = 0; r == 0 && i < opened; i++)
		(void)sync_file_range(fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < opened; i++) {
		if (r == 0 && fdatasync(fds[i]) < 0) {
			saved = errno;
			r = -1;
		}
		if (close(fds[i]) < 0 && r == 0) {
			saved = errno;
			r = -1;
		}
	}
	if (r < 0)
		errno = saved;
	return r;
}

/* [list] as properties.json and tags.json hold it; NULL when memory
 * runs out. */
static char *kvlist_json(const struct aml_kvlist *list)
{
	cJSON *obj = aml_kvlist_to_json(list);
	char *text = obj ? cJSON_Print(obj) : NULL;

	cJSON_Delete(obj);
	return text;
}

/* Read a JSON object of strings (properties.json, tags.json); a missing
 * file is an empty list.  0, or -1 with errno, and with what is wrong in
 * the text in [why] (else [why] is ""). */
static int read_kvlist_at(int dirfd, const char *name,
			  struct aml_kvlist *list, char *why, size_t whylen)
{
	char *text;
	size_t len;
	cJSON *obj;
	int r;

	memset(list, 0, sizeof(*list));
	why[0] = '\0';
	if (read_file_at(dirfd, name, &text, &len) < 0)
		return errno == ENOENT ? 0 : -1;
	obj = cJSON_ParseWithLength(text, len);
	free(text);
	if (!obj) {
		errno = EBADMSG;
		return -1;
	}
	r = aml_kvlist_from_json(obj, list, why, whylen);
	cJSON_Delete(obj);
	return r;
}

/* ---- finding and opening runs ---- */

static int open_root(struct file_backend *fb, char *errbuf, size_t errlen)
{
	int fd = open(fb->root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		aml_fail(errbuf, errlen, "run history: HistoryDir %s: %s%s",
			 fb->root, strerror(e),
			 e == ENOENT ? " (not mounted, or not created yet)"
				     : admin_hint(e));
		/* A missing root is what an unmounted filesystem looks like. */
		errno = e;
		return errno_verdict(e);
	}
	return fd;
}

/* The experiment a generated id names: "<exp>_<digits>_<8 hex>". */
static int experiment_of_id(const char *run_id, char *buf, size_t len)
{
	const char *hex = strrchr(run_id, '_'), *secs;
	size_t n;

	if (!hex || strlen(hex + 1) != 8 || hex == run_id)
		return -1;
	for (secs = hex - 1; secs > run_id && *secs != '_'; secs--)
		if (*secs < '0' || *secs > '9')
			return -1;
	if (secs == run_id || secs == hex - 1)
		return -1;
	n = (size_t)(secs - run_id);
	if (n + 1 > len)
		return -1;
	memcpy(buf, run_id, n);
	buf[n] = '\0';
	return 0;
}

/*
 * The layout, and why (slurm-aml(8), Directories):
 *
 *     <HistoryDir>/<user>/<experiment>/<run_id>/
 *
 * HistoryDir is shared like /tmp (1777); each user's runs live in a tree
 * of their own (userdir.h: <user>, or <user>.<8 hex> when another uid
 * made that name first), which nobody else can write.  Threat: in the
 * old layout, <HistoryDir>/<experiment>/<run_id>, an experiment directory
 * was shared (1777) and owned by whoever used it first, and the owner of
 * a sticky directory may rename anything in it: that user could rename
 * another's run away and put a forged one under its id.  Here no user
 * can write a directory that holds another user's runs.
 *
 * Old experiment directories (sticky and writable by all) stay readable
 * beside the trees; a run still in one is written only when its
 * experiment directory belongs to root or to the run's owner, the two
 * who could rename it anyway.
 *
 * A run's owner is the owner of its directory, which must be the owner
 * of the tree it is in: names decide nothing.
 */

/* What an entry of HistoryDir is, judged by its mode: a user's tree is
 * writable by its owner alone; an experiment of the old layout is
 * sticky and writable by everyone. */
enum top_kind { TOP_OTHER, TOP_TREE, TOP_LEGACY };

static enum top_kind top_kind_of(const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return TOP_OTHER;
	if ((st->st_mode & S_ISVTX) && (st->st_mode & S_IWOTH))
		return TOP_LEGACY;
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return TOP_TREE;
	return TOP_OTHER;
}

/*
 * The caller's own tree, made when [create] and missing.  Returns an
 * O_PATH descriptor, or a backend error with errbuf.
 */
static int open_own_tree(struct file_backend *fb, int rootfd, int create,
			 char *errbuf, size_t errlen)
{
	struct aml_userdir ud;
	char name[AML_RUNID_MAX];
	int fd;

	aml_userdir_default_name(geteuid(), name, sizeof(name));
	if (aml_userdir_open(rootfd, fb->root, name, geteuid(), fb->tree_mode,
			     S_IWGRP | S_IWOTH, create, &ud, errbuf,
			     errlen) < 0) {
		return errno_verdict(errno);
	}
	fd = ud.fd;
	ud.fd = -1;
	aml_userdir_close(&ud);
	return fd;
}

/*
 * <tree>/<experiment>, made (with the tree's mode, exactly) when
 * [create].  Inside a tree only its owner can make names, so anything
 * but a directory of the owner's that others cannot write is refused.
 */
static int open_tree_experiment(struct file_backend *fb, int treefd,
				const char *experiment, int create,
				char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	fd = openat(treefd, experiment, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		int made = mkdirat(treefd, experiment, fb->tree_mode & 0777);

		if (made < 0 && errno != EEXIST)
			return fail_errno(errbuf, errlen, errno,
					  "cannot create experiment %s",
					  experiment);
		if (made == 0) {
			int wfd = openat(treefd, experiment,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			/* The umask must not decide who may enter. */
			if (wfd >= 0) {
				(void)fchmod(wfd, fb->tree_mode);
				close(wfd);
			}
		}
		fd = openat(treefd, experiment, O_RDONLY | O_DIRECTORY |
							O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return fail_errno(errbuf, errlen, errno, "experiment %s%s",
				  experiment,
				  errno == ELOOP || errno == ENOTDIR
					  ? " is not a directory" : "");
	if (fstat(fd, &st) < 0 ||
	    aml_trust_user_dir(&st, geteuid()) != AML_TRUSTED) {
		close(fd);
		return aml_fail(errbuf, errlen, "run history: experiment %s "
				"is not a directory of its user's that others "
				"cannot write; refusing to use it", experiment);
	}
	return fd;
}

/*
 * Call [visit] for every directory in [parent] whose name does not start
 * with '.' (and that [wanted], when not NULL, wants by its name alone,
 * which costs no system call), opened O_PATH without following a
 * symlink, with its stat.  [visit] returns 0 to go on, a positive value
 * to stop, which is returned.  -1 with errno when [parent] cannot be
 * read.
 */
typedef int (*subdir_fn)(void *ctx, int fd, const char *name,
			 const struct stat *st);
typedef int (*subdir_wanted_fn)(void *ctx, const char *name);

static int each_subdir(int parent, subdir_wanted_fn wanted, subdir_fn visit,
		       void *ctx)
{
	struct dirent *de;
	int fd, r = 0;
	DIR *d;

	fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	while (r == 0 && (de = readdir(d))) {
		struct stat st;
		int sub;

		if (de->d_name[0] == '.' || (wanted && !wanted(ctx, de->d_name)))
			continue;
		sub = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY |
							   O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (fstat(sub, &st) == 0)
			r = visit(ctx, sub, de->d_name, &st);
		close(sub);
	}
	closedir(d);
	return r;
}

/* A run found: where it is and whose it is. */
struct run_match {
	int fd;                           /* the run directory, O_PATH */
	uid_t uid;                        /* its owner */
	int legacy;                       /* in an old shared experiment */
	int legacy_safe;                  /* ...owned by root or the owner */
	char experiment[AML_RUNID_MAX];
};

#define MAX_MATCHES 8

struct run_search {
	const char *run_id;
	const char *experiment;  /* NULL: any (a v2 job names its run) */
	int any_owner;           /* 0: only runs of [uid] */
	uid_t uid;
	struct run_match m[MAX_MATCHES];
	size_t n;
	int denied;              /* a tree or experiment we could not read */
	int unsafe;              /* an experiment others may write, skipped */
	/* With one owner, the names its trees can have (userdir.h): its
	 * login name and its uid, so a search need not open every user's
	 * tree of a HistoryDir with thousands. */
	char names[2][NAME_MAX + 1];
};

static void search_free(struct run_search *s)
{
	for (size_t i = 0; i < s->n; i++)
		close(s->m[i].fd);
	s->n = 0;
}

/* Add <dirfd>/<run_id> when it is a run directory owned by [owner]
 * ((uid_t)-1: anyone). */
static void try_run(struct run_search *s, int dirfd, const char *experiment,
		    uid_t owner, int legacy, int legacy_safe)
{
	struct stat st;
	int fd;

	if (s->n == MAX_MATCHES)
		return;
	fd = openat(dirfd, s->run_id, O_PATH | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES)
			s->denied = 1;
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    (owner != (uid_t)-1 && st.st_uid != owner) ||
	    (!s->any_owner && st.st_uid != s->uid)) {
		close(fd);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		struct stat seen;

		/* The same directory through two paths counts once. */
		if (fstat(s->m[i].fd, &seen) == 0 &&
		    seen.st_dev == st.st_dev && seen.st_ino == st.st_ino) {
			close(fd);
			return;
		}
	}
	s->m[s->n].fd = fd;
	s->m[s->n].uid = st.st_uid;
	s->m[s->n].legacy = legacy;
	s->m[s->n].legacy_safe = legacy_safe;
	snprintf(s->m[s->n].experiment, sizeof(s->m[s->n].experiment), "%s",
		 experiment);
	s->n++;
}

/* Whether the experiment [st] of a tree of [owner] can hold runs: one
 * others may write would let them rename runs away. */
static int experiment_is_safe(struct run_search *s, const struct stat *st,
			      uid_t owner)
{
	if (aml_trust_user_dir(st, owner) == AML_TRUSTED)
		return 1;
	s->unsafe = 1;
	return 0;
}

struct tree_search {
	struct run_search *s;
	uid_t owner;
};

static int search_experiment(void *ctx, int expfd, const char *name,
			     const struct stat *st)
{
	struct tree_search *t = ctx;

	if (experiment_is_safe(t->s, st, t->owner))
		try_run(t->s, expfd, name, t->owner, 0, 0);
	return t->s->n == MAX_MATCHES;
}

/* Every experiment of the tree [treefd] (owned by [owner]) that holds
 * the run. */
static void search_tree(struct run_search *s, int treefd, uid_t owner)
{
	struct tree_search t = { s, owner };
	char guess[AML_RUNID_MAX];

	if (s->experiment || experiment_of_id(s->run_id, guess,
					      sizeof(guess)) == 0) {
		const char *exp = s->experiment ? s->experiment : guess;
		struct stat st;
		int fd;

		fd = openat(treefd, exp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);
		if (fd >= 0) {
			size_t before = s->n;

			if (fstat(fd, &st) == 0 &&
			    experiment_is_safe(s, &st, owner))
				try_run(s, fd, exp, owner, 0, 0);
			close(fd);
			if (s->experiment || s->n > before)
				return;
		} else if (s->experiment) {
			if (errno == EACCES)
				s->denied = 1;
			return;
		}
	}
	/* A run named by its user (v2 `name`) may be in any experiment. */
	if (each_subdir(treefd, NULL, search_experiment, &t) < 0 &&
	    errno == EACCES)
		s->denied = 1;
}

/* The run in the old layout, <HistoryDir>/<experiment>/<run_id>. */
static void search_legacy(struct run_search *s, int rootfd, const char *exp)
{
	struct stat st;
	int fd;

	fd = openat(rootfd, exp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && top_kind_of(&st) == TOP_LEGACY) {
		size_t before = s->n;

		try_run(s, fd, exp, (uid_t)-1, 1, 0);
		/* Only root and the experiment's owner may rename runs in a
		 * sticky directory: safe to write when that is the run's
		 * owner. */
		if (s->n > before)
			s->m[before].legacy_safe =
				st.st_uid == 0 || st.st_uid == s->m[before].uid;
	}
	close(fd);
}

/*
 * Find the run: in the searcher's own tree first (the usual case, a few
 * lookups), then in every tree of HistoryDir the search allows, then in
 * the old layout.  Fills s->m; errno of the scan when it cannot run.
 */
static int search_top(void *ctx, int topfd, const char *name,
		      const struct stat *st)
{
	struct run_search *s = ctx;

	(void)name;
	if (top_kind_of(st) == TOP_TREE && (s->any_owner || st->st_uid == s->uid))
		search_tree(s, topfd, st->st_uid);
	return s->n == MAX_MATCHES;
}

/* Whether a tree named [name] can be one of the searched owner's. */
static int tree_wanted(void *ctx, const char *name)
{
	struct run_search *s = ctx;

	return s->any_owner || aml_userdir_name_matches(name, s->names[0]) ||
	       aml_userdir_name_matches(name, s->names[1]);
}

static int search_run(struct file_backend *fb, int rootfd,
		      struct run_search *s)
{
	char guess[AML_RUNID_MAX], ignored[256];
	int own;

	if (!s->any_owner) {
		aml_userdir_default_name(s->uid, s->names[0],
					 sizeof(s->names[0]));
		snprintf(s->names[1], sizeof(s->names[1]), "%lu",
			 (unsigned long)s->uid);
	}

	own = open_own_tree(fb, rootfd, 0, ignored, sizeof(ignored));
	if (own >= 0) {
		search_tree(s, own, geteuid());
		close(own);
		/* The caller's own run is the one they mean. */
		if (s->n > 0)
			return 0;
	}
	if (each_subdir(rootfd, tree_wanted, search_top, s) < 0)
		return -1;
	if (s->experiment)
		search_legacy(s, rootfd, s->experiment);
	else if (experiment_of_id(s->run_id, guess, sizeof(guess)) == 0)
		search_legacy(s, rootfd, guess);
	return 0;
}

static void run_dir_close(struct run_dir *rd)
{
	aml_identity_restore(&rd->identity);
	if (rd->fd >= 0)
		close(rd->fd);
	if (rd->rootfd >= 0)
		close(rd->rootfd);
	rd->fd = rd->rootfd = -1;
}

static int check_names(const char *experiment, const char *run_id,
		       char *errbuf, size_t errlen)
{
	char shown[96];

	if (!aml_runid_is_valid(experiment)) {
		aml_text_escape(experiment, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "run history: experiment name "
				"\"%s\" must be letters, digits, '_' and '-', "
				"starting with a letter or digit", shown);
	}
	if (!aml_runid_is_valid(run_id)) {
		aml_text_escape(run_id, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "run history: run id \"%s\" "
				"must be letters, digits, '_' and '-', "
				"starting with a letter or digit", shown);
	}
	return 0;
}

/* "alice, bob" for a message: the owners of [s]'s matches. */
static void owners_of(const struct run_search *s, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n; i++) {
		char name[AML_RUNID_MAX];
		int dup = 0;

		for (size_t j = 0; j < i; j++)
			dup |= s->m[j].uid == s->m[i].uid;
		if (dup)
			continue;
		aml_userdir_default_name(s->m[i].uid, name, sizeof(name));
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0,
					 "%s%s", used ? ", " : "", name);
		if (used >= len)
			break;
	}
}

/* Whether [s] found runs of more than one user. */
static int several_owners(const struct run_search *s)
{
	for (size_t i = 1; i < s->n; i++)
		if (s->m[i].uid != s->m[0].uid)
			return 1;
	return 0;
}

/* Why a writer's search found nothing. */
static int not_found(const struct run_search *s, char *errbuf, size_t errlen)
{
	if (s->unsafe)
		return aml_fail(errbuf, errlen, "run history: experiment %s "
				"of run %s can be written by others, who "
				"could swap its runs; refusing to use it (its "
				"owner can chmod go-w it)", s->experiment,
				s->run_id);
	/* A writer names a run sbatch made: missing, it is not there yet
	 * (its creation waits in a spool on the login host) or HistoryDir
	 * is not what it was (another filesystem mounted, or none).  Kept
	 * for later, not refused. */
	if (s->any_owner)
		aml_fail(errbuf, errlen, "run history: no run %s in "
			 "experiment %s (yet)", s->run_id, s->experiment);
	else
		aml_fail(errbuf, errlen, "run history: no run %s in "
			 "experiment %s of uid %lu (yet)", s->run_id,
			 s->experiment, (unsigned long)s->uid);
	return AML_BACKEND_UNAVAILABLE;
}

/*
 * Open <experiment>/<run_id> of the caller for writing.  Root first
 * finds whose run it is, then becomes that user (privdrop.h) and looks it
 * up again as them, so no path is resolved as root beyond learning the
 * owner; everyone else must own the run.  The identity is restored by
 * run_dir_close.
 */
static int run_dir_open_write(struct file_backend *fb, const char *experiment,
			      const char *run_id, struct run_dir *rd,
			      char *errbuf, size_t errlen)
{
	struct run_search s = { .run_id = run_id, .experiment = experiment };
	struct stat st;
	int r;

	memset(rd, 0, sizeof(*rd));
	rd->rootfd = rd->fd = -1;
	if (check_names(experiment, run_id, errbuf, errlen) < 0)
		return AML_BACKEND_REFUSED;
	r = open_root(fb, errbuf, errlen);
	if (r < 0)
		return r;
	rd->rootfd = r;
	if (geteuid() == 0) {
		char owners[256];

		s.any_owner = 1;
		if (search_run(fb, rd->rootfd, &s) < 0) {
			r = fail_errno(errbuf, errlen, errno, "cannot read "
				       "HistoryDir %s", fb->root);
			goto failed;
		}
		if (s.n == 0) {
			r = not_found(&s, errbuf, errlen);
			goto failed;
		}
		if (several_owners(&s)) {
			owners_of(&s, owners, sizeof(owners));
			r = aml_fail(errbuf, errlen, "run history: run %s of "
				     "experiment %s exists for several users "
				     "(%s); refusing to guess whose to write",
				     run_id, experiment, owners);
			goto failed;
		}
		if (fstat(s.m[0].fd, &st) < 0) {
			r = fail_errno(errbuf, errlen, errno, "run %s", run_id);
			goto failed;
		}
		search_free(&s);
		if (aml_identity_become(st.st_uid, st.st_gid, &rd->identity,
					errbuf, errlen) < 0) {
			r = AML_BACKEND_REFUSED;
			goto failed;
		}
	}
	s.any_owner = 0;
	s.uid = geteuid();
	if (search_run(fb, rd->rootfd, &s) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot read HistoryDir "
			       "%s", fb->root);
		goto failed;
	}
	if (s.n == 0) {
		struct run_search other = { .run_id = run_id,
					    .experiment = experiment,
					    .any_owner = 1 };

		/* Someone else's run: say so, rather than "no run". */
		if (!s.unsafe && search_run(fb, rd->rootfd, &other) == 0 &&
		    other.n > 0)
			r = aml_fail(errbuf, errlen, "run history: run %s "
				     "belongs to uid %lu; only its owner "
				     "records its history", run_id,
				     (unsigned long)other.m[0].uid);
		else
			r = not_found(&s, errbuf, errlen);
		search_free(&other);
		goto failed;
	}
	if (s.m[0].legacy && !s.m[0].legacy_safe) {
		r = aml_fail(errbuf, errlen, "run history: run %s is in the "
			     "old shared experiment directory %s, which "
			     "another user owns and could swap runs in; "
			     "refusing to write to it (slurm-aml(8): "
			     "history layout)", run_id, experiment);
		goto failed;
	}
	/* The first is the one a tree of the user's holds, if any. */
	rd->fd = s.m[0].fd;
	for (size_t i = 1; i < s.n; i++)
		close(s.m[i].fd);
	s.n = 0;
	if (fstat(rd->fd, &st) < 0) {
		r = fail_errno(errbuf, errlen, errno, "run %s", run_id);
		goto failed;
	}
	rd->uid = st.st_uid;
	rd->gid = st.st_gid;
	return 0;
failed:
	search_free(&s);
	run_dir_close(rd);
	return r < 0 ? r : AML_BACKEND_REFUSED;
}

/*
 * flock(LOCK_EX), with a bound for root components.  Threat: the lock is
 * a file its user owns, and whoever holds it for good would otherwise
 * stall a root process that serves everyone: the finalizer, which
 * slurmctld runs for one job at a time, or slurmstepd.  A run's end must
 * never wait on its user.  Writers hold it for one read and one append,
 * milliseconds, so a wait of LOCK_WAIT_MS means someone is holding it on
 * purpose or is stuck; the write is then "unavailable" and goes to the
 * spool, to be replayed.  A process of the user's own (real uid not
 * root) waits in the kernel's queue as long as it takes, which is fair
 * under contention, and only the user can hold it up.  -1 with errno
 * EWOULDBLOCK when the bound passed.
 */
#define LOCK_WAIT_MS 5000

static int lock_bounded(int fd)
{
	int64_t waited_ms = 0, step_ms = 1;

	if (getuid() != 0) {
		int r;

		while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
			;
		return r;
	}
	for (;;) {
		struct timespec ts;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (waited_ms >= LOCK_WAIT_MS) {
			errno = EWOULDBLOCK;
			return -1;
		}
		ts.tv_sec = step_ms / 1000;
		ts.tv_nsec = (long)(step_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		waited_ms += step_ms;
		/* Short steps: a writer blocked in flock is woken the moment
		 * the lock is free, and a poller that slept longer would lose
		 * every race to it (the finalizer's end to the launcher's). */
		if (step_ms < 2)
			step_ms *= 2;
	}
}

/*
 * The run's lock: events.jsonl, open for appending, locked exclusively
 * within LOCK_WAIT_MS.  A symlink in its place is refused, whoever asks.
 */
static int lock_events(struct run_dir *rd, const char *run_id, char *errbuf,
		       size_t errlen)
{
	struct stat st;
	int fd, r;

	fd = openat(rd->fd, EVENTS, O_RDWR | O_APPEND | O_NOFOLLOW |
					    O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			return aml_fail(errbuf, errlen, "run history: %s of "
					"run %s is a symlink; refusing to "
					"write through it", EVENTS, run_id);
		return fail_errno(errbuf, errlen, errno, "%s of run %s",
				  EVENTS, run_id);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != rd->uid) {
		close(fd);
		return aml_fail(errbuf, errlen, "run history: %s of run %s is "
				"not a regular file of the run's owner; "
				"refusing to write to it", EVENTS, run_id);
	}
	r = lock_bounded(fd);
	if (r < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			aml_fail(errbuf, errlen, "run history: %s of run %s "
				 "stayed locked by another process for %d s",
				 EVENTS, run_id, LOCK_WAIT_MS / 1000);
			return AML_BACKEND_UNAVAILABLE;
		}
		return fail_errno(errbuf, errlen, e, "cannot lock %s of run %s",
				  EVENTS, run_id);
	}
	return fd;
}

/* ---- writers ---- */

/* Whether the caller already has a run [run_id] in [experiment]. */
static int exists_for_caller(struct file_backend *fb, int rootfd,
			     const char *experiment, const char *run_id)
{
	struct run_search s = { .run_id = run_id, .experiment = experiment,
				.uid = geteuid() };
	int found;

	if (search_run(fb, rootfd, &s) < 0)
		return 0;
	found = s.n > 0;
	search_free(&s);
	return found;
}

static int file_create_run(void *self, const struct aml_run_new *req,
			   char *errbuf, size_t errlen)
{
	struct file_backend *fb = self;
	char tmp[NAME_MAX + 1], *props = NULL, *tags = NULL, *line = NULL;
	int rootfd = -1, treefd = -1, expfd = -1, fd = -1, r;
	unsigned int rnd;

	if (check_names(req->experiment, req->run_id, errbuf, errlen) < 0)
		return AML_BACKEND_REFUSED;
	if (aml_status_check_first(req->first->status, req->first->attempt) !=
	    AML_TRANSITION_OK)
		return aml_fail(errbuf, errlen, "run history: run %s must "
				"start NotStarted in attempt 1, not %s",
				req->run_id,
				aml_status_name(req->first->status));
	if (strlen(req->run_id) > NAME_MAX - 20)
		return aml_fail(errbuf, errlen, "run history: run id %s is too "
				"long", req->run_id);
	props = kvlist_json(req->properties);
	tags = kvlist_json(req->tags);
	line = aml_event_encode(req->first);
	if (!props || !tags || !line) {
		r = aml_fail(errbuf, errlen, "out of memory");
		goto done;
	}
	r = open_root(fb, errbuf, errlen);
	if (r < 0)
		goto done;
	rootfd = r;
	/* Run ids are unique per user: one already in an older tree of the
	 * user's, or in the old layout, is taken too. */
	if (exists_for_caller(fb, rootfd, req->experiment, req->run_id)) {
		r = aml_fail(errbuf, errlen, "run history: a run %s already "
			     "exists in experiment %s", req->run_id,
			     req->experiment);
		goto done;
	}
	r = open_own_tree(fb, rootfd, 1, errbuf, errlen);
	if (r < 0)
		goto done;
	treefd = r;
	r = open_tree_experiment(fb, treefd, req->experiment, 1, errbuf,
				 errlen);
	if (r < 0)
		goto done;
	expfd = r;
	if (aml_random(&rnd, sizeof(rnd)) < 0) {
		r = fail_errno(errbuf, errlen, errno, "getrandom");
		goto done;
	}
	/* Built aside under a dot name, then renamed: list never shows a
	 * half-made run. */
	snprintf(tmp, sizeof(tmp), ".new-%s-%08x", req->run_id, rnd);
	if (mkdirat(expfd, tmp, 0700) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot create run %s in "
			       "experiment %s", req->run_id, req->experiment);
		goto done;
	}
	fd = openat(expfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
	/* The contents, then the directory that names them, then (below)
	 * the rename that names the directory: synced in that order, a
	 * crash leaves either no run or a whole one.  Nothing reads the dot
	 * name meanwhile, so the files are written in place. */
	if (fd < 0 || fchmod(fd, fb->dir_mode) < 0 ||
	    create_files_synced(fd, (const char *const[]){ CONFIG, PROPERTIES,
							   TAGS, EVENTS },
				(const char *const[]){ req->config_json, props,
						       tags, line },
				4, fb->file_mode) < 0 ||
	    fsync(fd) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot create run %s in "
			       "experiment %s", req->run_id, req->experiment);
		goto undo;
	}
	if (renameat2(expfd, tmp, expfd, req->run_id, RENAME_NOREPLACE) < 0) {
		int e = errno;

		/* NFS has no RENAME_NOREPLACE; a 32-bit random id makes the
		 * window between the check and the rename harmless. */
		if (e == EINVAL &&
		    faccessat(expfd, req->run_id, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT && renameat(expfd, tmp, expfd,
						req->run_id) == 0)
			goto renamed;
		if (e == EINVAL)
			e = EEXIST;
		r = e == EEXIST || e == ENOTEMPTY
			    ? aml_fail(errbuf, errlen, "run history: a run %s "
				       "already exists in experiment %s",
				       req->run_id, req->experiment)
			    : fail_errno(errbuf, errlen, e, "cannot create run "
					 "%s", req->run_id);
		goto undo;
	}
renamed:
	fsync(expfd);
	r = AML_BACKEND_OK;
	goto done;
undo:
	/* The failure already in errbuf is what the caller must hear; a
	 * dot name left behind is never listed as a run. */
	(void)aml_tree_remove(expfd, tmp);
done:
	if (fd >= 0)
		close(fd);
	if (expfd >= 0)
		close(expfd);
	if (treefd >= 0)
		close(treefd);
	if (rootfd >= 0)
		close(rootfd);
	free(props);
	free(tags);
	free(line);
	return r;
}

/*
 * Keep a refused event beside the run's events (refused.jsonl), with why:
 * a writer that reports into a job's log may be long gone when someone
 * wonders why the run never said Running.  Best effort: the refusal stands
 * whether or not it could be kept.
 */
static void log_refused(struct file_backend *fb, int runfd,
			const struct aml_event *ev, const char *why)
{
	char *line = aml_event_encode(ev), *text = NULL;
	cJSON *rec = cJSON_CreateObject(), *event;
	int fd;

	if (!line || !rec)
		goto done;
	event = cJSON_Parse(line);
	if (!event || !cJSON_AddStringToObject(rec, "refused", why) ||
	    !cJSON_AddItemToObject(rec, "event", event)) {
		cJSON_Delete(event);
		goto done;
	}
	text = cJSON_PrintUnformatted(rec);
	if (!text)
		goto done;
	fd = openat(runfd, REFUSED, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
					    O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		    fb->file_mode);
	if (fd >= 0) {
		size_t n = strlen(text);

		text[n] = '\n';
		if (aml_write_all(fd, text, n + 1) < 0) {
			/* Best effort, as said above. */
		}
		text[n] = '\0';
		close(fd);
	}
done:
	free(text);
	free(line);
	cJSON_Delete(rec);
}

static int file_record(void *self, const char *experiment,
		       const char *run_id, const struct aml_event *ev,
		       char *errbuf, size_t errlen)
{
	struct run_dir rd;
	char *text = NULL, *line = NULL;
	size_t len = 0;
	int fd, r;

	r = run_dir_open_write(self, experiment, run_id, &rd, errbuf, errlen);
	if (r < 0)
		return r;
	fd = lock_events(&rd, run_id, errbuf, errlen);
	if (fd < 0) {
		r = fd;
		goto done;
	}
	if (read_all(fd, &text, &len) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot read %s of run %s",
			       EVENTS, run_id);
		goto done;
	}
	switch (aml_events_admit(text, len, ev, run_id, errbuf, errlen)) {
	case AML_ADMIT_YES:
		break;
	case AML_ADMIT_ALREADY:
		r = AML_BACKEND_UNCHANGED;
		goto done;
	default:
		r = AML_BACKEND_REFUSED;
		log_refused(self, rd.fd, ev, errbuf);
		goto done;
	}
	line = aml_event_encode(ev);
	if (!line) {
		r = aml_fail(errbuf, errlen, "out of memory");
		goto done;
	}
	/* A torn last line (a writer that died mid-write) is ended first, in
	 * the same write, so ours is not glued to it. */
	if (len > 0 && text[len - 1] != '\n') {
		char *joined = malloc(strlen(line) + 2);

		if (!joined) {
			r = aml_fail(errbuf, errlen, "out of memory");
			goto done;
		}
		joined[0] = '\n';
		strcpy(joined + 1, line);
		free(line);
		line = joined;
	}
	if (aml_write_all(fd, line, strlen(line)) < 0 || fdatasync(fd) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot append to %s of "
			       "run %s", EVENTS, run_id);
		goto done;
	}
	r = AML_BACKEND_OK;
done:
	if (fd >= 0)
		close(fd);
	free(text);
	free(line);
	run_dir_close(&rd);
	return r;
}

/*
 * Properties and tags: read the file under the run's lock, let [merge]
 * change the list, write it back by rename.  [merge] returns 1 when there
 * is something to write, 0 when nothing changes, -1 to refuse.
 */
typedef int (*merge_fn)(struct aml_kvlist *list, const void *arg,
			const char *run_id, char *errbuf, size_t errlen);

static int update_kvfile(struct file_backend *fb, const char *experiment,
			 const char *run_id, const char *name, merge_fn merge,
			 const void *arg, char *errbuf, size_t errlen)
{
	struct aml_kvlist list = { 0 };
	struct run_dir rd;
	char *text = NULL, why[160];
	int lockfd = -1, r;

	r = run_dir_open_write(fb, experiment, run_id, &rd, errbuf, errlen);
	if (r < 0)
		return r;
	lockfd = lock_events(&rd, run_id, errbuf, errlen);
	if (lockfd < 0) {
		r = lockfd;
		goto done;
	}
	if (read_kvlist_at(rd.fd, name, &list, why, sizeof(why)) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot read %s of run "
			       "%s%s%s", name, run_id, *why ? ", " : "", why);
		goto done;
	}
	r = merge(&list, arg, run_id, errbuf, errlen);
	if (r <= 0) {
		r = r < 0 ? AML_BACKEND_REFUSED : AML_BACKEND_UNCHANGED;
		goto done;
	}
	text = kvlist_json(&list);
	if (!text) {
		r = aml_fail(errbuf, errlen, "out of memory");
		goto done;
	}
	if (replace_file_at(rd.fd, name, text, strlen(text), fb->file_mode) < 0)
		r = fail_errno(errbuf, errlen, errno, "cannot write %s of run %s",
			       name, run_id);
	else
		r = AML_BACKEND_OK;
done:
	if (lockfd >= 0)
		close(lockfd);
	free(text);
	aml_kvlist_free(&list);
	run_dir_close(&rd);
	return r;
}

static int merge_properties(struct aml_kvlist *list, const void *arg,
			    const char *run_id, char *errbuf, size_t errlen)
{
	const struct aml_kvlist *add = arg;
	int changed = 0;

	/* Every key is judged before any is set: all or nothing. */
	for (size_t i = 0; add && i < add->count; i++) {
		const char *old = aml_kvlist_get(list, add->items[i].key);
		char k[96], o[96];

		if (old && strcmp(old, add->items[i].value)) {
			aml_text_escape(add->items[i].key, k, sizeof(k));
			aml_text_escape(old, o, sizeof(o));
			return aml_fail(errbuf, errlen, "run history: run %s: "
					"property %s is already \"%s\"; "
					"properties never change (use a tag "
					"for a value that does)", run_id, k, o);
		}
	}
	for (size_t i = 0; add && i < add->count; i++) {
		if (aml_kvlist_get(list, add->items[i].key))
			continue;
		if (aml_kvlist_set(list, add->items[i].key,
				   add->items[i].value) < 0)
			return aml_fail(errbuf, errlen, "out of memory");
		changed = 1;
	}
	return changed;
}

static int file_add_properties(void *self, const char *experiment,
			       const char *run_id,
			       const struct aml_kvlist *properties,
			       char *errbuf, size_t errlen)
{
	return update_kvfile(self, experiment, run_id, PROPERTIES,
			     merge_properties, properties, errbuf, errlen);
}

struct tag_change {
	const struct aml_kvlist *set;
	const struct aml_strlist *remove;
};

static int merge_tags(struct aml_kvlist *list, const void *arg,
		      const char *run_id, char *errbuf, size_t errlen)
{
	const struct tag_change *c = arg;
	struct aml_kvlist out = { 0 };

	(void)run_id;
	/* Rebuilt rather than edited, so removal keeps the others' order. */
	for (size_t i = 0; i < list->count; i++) {
		int removed = 0;

		for (size_t j = 0; c->remove && j < c->remove->count; j++)
			removed |= !strcmp(list->items[i].key,
					   c->remove->items[j]);
		if (!removed && aml_kvlist_set(&out, list->items[i].key,
					       list->items[i].value) < 0)
			goto oom;
	}
	for (size_t i = 0; c->set && i < c->set->count; i++)
		if (aml_kvlist_set(&out, c->set->items[i].key,
				   c->set->items[i].value) < 0)
			goto oom;
	aml_kvlist_free(list);
	*list = out;
	return 1;
oom:
	aml_kvlist_free(&out);
	return aml_fail(errbuf, errlen, "out of memory");
}

static int file_set_tags(void *self, const char *experiment,
			 const char *run_id, const struct aml_kvlist *set,
			 const struct aml_strlist *remove, char *errbuf,
			 size_t errlen)
{
	struct tag_change c = { set, remove };

	return update_kvfile(self, experiment, run_id, TAGS, merge_tags, &c,
			     errbuf, errlen);
}

static int file_upload(void *self, const char *experiment,
		       const char *run_id, int root_fd, const char *src,
		       const char *dest, struct aml_artifact_stats *stats,
		       char *errbuf, size_t errlen)
{
	struct file_backend *fb = self;
	struct aml_artifact_stats local = { 0 };
	struct run_dir rd;
	int r;

	if (!stats)
		stats = &local;
	r = run_dir_open_write(fb, experiment, run_id, &rd, errbuf, errlen);
	if (r < 0)
		return r;
	errno = 0;
	if (aml_artifacts_copy_in(root_fd, src, rd.fd, dest, fb->dir_mode,
				  fb->file_mode, stats, errbuf, errlen) < 0)
		r = errno_verdict(errno);
	else
		r = AML_BACKEND_OK;
	run_dir_close(&rd);
	aml_artifact_stats_free(&local);
	return r;
}

static int valid_log_name(const char *name)
{
	return *name && *name != '.' && !strchr(name, '/') &&
	       strlen(name) <= NAME_MAX;
}

static int file_open_log(void *self, const char *experiment,
			 const char *run_id, const char *name, char *errbuf,
			 size_t errlen)
{
	struct file_backend *fb = self;
	struct run_dir rd;
	int dirfd, fd;

	if (!valid_log_name(name))
		return aml_fail(errbuf, errlen, "run history: log name \"%s\" "
				"must be a plain file name", name);
	if (run_dir_open_write(fb, experiment, run_id, &rd, errbuf,
			       errlen) < 0)
		return -1;
	if (mkdirat(rd.fd, "user_logs", fb->dir_mode) < 0 && errno != EEXIST) {
		fail_errno(errbuf, errlen, errno, "user_logs of run %s", run_id);
		run_dir_close(&rd);
		return -1;
	}
	dirfd = openat(rd.fd, "user_logs", O_RDONLY | O_DIRECTORY |
						   O_NOFOLLOW | O_CLOEXEC);
	fd = dirfd < 0 ? -1
		       : openat(dirfd, name, O_WRONLY | O_APPEND | O_CREAT |
						     O_NOFOLLOW | O_CLOEXEC |
						     O_NOCTTY | O_NONBLOCK,
				fb->file_mode);
	/* The umask of whoever opened first must not decide who may read
	 * the run's logs: RunVisibility does. */
	if (fd >= 0 && (fchmod(dirfd, fb->dir_mode) < 0 ||
			fchmod(fd, fb->file_mode) < 0)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fail_errno(errbuf, errlen, errno, "user_logs/%s of run %s", name,
			   run_id);
	if (dirfd >= 0)
		close(dirfd);
	run_dir_close(&rd);
	return fd;
}

/* ---- readers ---- */

static char *owner_name(uid_t uid)
{
	struct passwd pw, *found = NULL;
	char buf[1024], *name;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		return strdup(found->pw_name);
	if (asprintf(&name, "%lu", (unsigned long)uid) < 0)
		return NULL;
	return name;
}

static int append_event(struct aml_run_info *info, const struct aml_event *ev)
{
	struct aml_event *grown = realloc(info->events, (info->n_events + 1) *
							       sizeof(*grown));

	if (!grown)
		return -1;
	info->events = grown;
	info->events[info->n_events++] = *ev;
	return 0;
}

/* Decode every whole line into info->events and fold them. */
static int load_events(struct aml_run_info *info, const char *text,
		       size_t len)
{
	const char *p = text, *end = text + len;

	aml_run_state_fold(&info->state, text, len);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct aml_event ev;
		char err[16];

		if (!nl)
			break;
		if (aml_event_decode(p, (size_t)(nl - p), &ev, err,
				     sizeof(err)) == 0 &&
		    append_event(info, &ev) < 0) {
			aml_event_free(&ev);
			return -1;
		}
		p = nl + 1;
	}
	return 0;
}

/* Fill [info] from the open run directory [fd]. */
static int load_run(int fd, const char *experiment, const char *run_id,
		    int with_config, struct aml_run_info *info, char *errbuf,
		    size_t errlen)
{
	struct stat st;
	char *text = NULL, why[160];
	size_t len;

	memset(info, 0, sizeof(*info));
	aml_run_state_init(&info->state);
	if (fstat(fd, &st) < 0)
		return fail_errno(errbuf, errlen, errno, "run %s", run_id);
	info->uid = st.st_uid;
	info->experiment = strdup(experiment);
	info->run_id = strdup(run_id);
	info->owner = owner_name(st.st_uid);
	if (!info->experiment || !info->run_id || !info->owner)
		goto oom;
	if (read_file_at(fd, EVENTS, &text, &len) < 0) {
		int e = errno;

		aml_run_info_free(info);
		if (e == EACCES)
			return aml_fail(errbuf, errlen, "run history: run %s is "
					"private to its owner (uid %lu)",
					run_id, (unsigned long)st.st_uid);
		return fail_errno(errbuf, errlen, e, "cannot read %s of run %s",
				  EVENTS, run_id);
	}
	if (load_events(info, text, len) < 0)
		goto oom;
	free(text);
	text = NULL;
	if (read_kvlist_at(fd, PROPERTIES, &info->properties, why,
			   sizeof(why)) < 0 ||
	    read_kvlist_at(fd, TAGS, &info->tags, why, sizeof(why)) < 0) {
		int e = errno;

		aml_run_info_free(info);
		return fail_errno(errbuf, errlen, e, "cannot read the "
				  "properties or tags of run %s%s%s", run_id,
				  *why ? ", " : "", why);
	}
	if (with_config && read_file_at(fd, CONFIG, &info->config_json,
					&len) < 0 && errno != ENOENT) {
		int e = errno;

		aml_run_info_free(info);
		return fail_errno(errbuf, errlen, e, "cannot read %s of run %s",
				  CONFIG, run_id);
	}
	return 0;
oom:
	free(text);
	aml_run_info_free(info);
	return aml_fail(errbuf, errlen, "out of memory");
}

/*
 * Find a reader's run by its id alone.  The reader's own run, when there
 * is one; else the one run of that id; runs of that id of several users
 * (a user may name a run as they like: v2 `name`) are refused rather
 * than one picked, so nobody can make another user's run show as theirs.
 * Returns the run's directory (O_RDONLY) with [exp_out] and [*uid], or
 * -1 with errbuf (errno EACCES: private).
 */
static int find_run_for_reader(struct file_backend *fb, int rootfd,
			       const char *run_id, char *exp_out,
			       size_t exp_len, char *errbuf, size_t errlen)
{
	struct run_search s = { .run_id = run_id, .any_owner = 1 };
	size_t pick = 0;
	int fd, e;

	if (search_run(fb, rootfd, &s) < 0)
		return fail_errno(errbuf, errlen, errno, "cannot read "
				  "HistoryDir %s", fb->root);
	if (s.n == 0) {
		errno = s.denied ? EACCES : ENOENT;
		return s.denied ? aml_fail(errbuf, errlen, "run history: run "
					   "%s is private to its owner",
					   run_id)
				: aml_fail(errbuf, errlen, "run history: no run "
					   "%s (looked in %s)", run_id,
					   fb->root);
	}
	while (pick < s.n && s.m[pick].uid != geteuid())
		pick++;
	if (pick == s.n) {
		if (several_owners(&s)) {
			char owners[256];

			owners_of(&s, owners, sizeof(owners));
			search_free(&s);
			errno = EEXIST;
			return aml_fail(errbuf, errlen, "run history: run id "
					"%s is used by several users (%s); "
					"only its owner can tell which is "
					"theirs", run_id, owners);
		}
		pick = 0;
	}
	snprintf(exp_out, exp_len, "%s", s.m[pick].experiment);
	fd = openat(s.m[pick].fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e = errno;
	search_free(&s);
	if (fd < 0) {
		errno = e;
		if (e == EACCES)
			return aml_fail(errbuf, errlen, "run history: run %s "
					"is private to its owner", run_id);
		return fail_errno(errbuf, errlen, e, "run %s", run_id);
	}
	return fd;
}

static int file_read_run(void *self, const char *run_id, int with_config,
			 struct aml_run_info *info, char *errbuf, size_t errlen)
{
	struct file_backend *fb = self;
	char experiment[AML_RUNID_MAX], shown[96];
	int rootfd, fd, r;

	memset(info, 0, sizeof(*info));
	if (!aml_runid_is_valid(run_id)) {
		aml_text_escape(run_id, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "\"%s\" is not a run id "
				"(letters, digits, '_' and '-')", shown);
	}
	rootfd = open_root(fb, errbuf, errlen);
	if (rootfd < 0)
		return -1;
	fd = find_run_for_reader(fb, rootfd, run_id, experiment,
				 sizeof(experiment), errbuf, errlen);
	if (fd < 0) {
		close(rootfd);
		return -1;
	}
	r = load_run(fd, experiment, run_id, with_config, info, errbuf, errlen);
	close(fd);
	close(rootfd);
	return r < 0 ? -1 : 0;
}

static int matches(const struct aml_run_filter *f,
		   const struct aml_run_info *info)
{
	if (!f)
		return 1;
	if (f->has_status && (!info->state.has_events ||
			      info->state.status != f->status))
		return 0;
	if (f->user && strcmp(f->user, info->owner))
		return 0;
	if (f->since_ms && info->state.created_ms < f->since_ms)
		return 0;
	return 1;
}

static int newest_first(const void *a, const void *b)
{
	const struct aml_run_info *x = a, *y = b;

	if (x->state.created_ms != y->state.created_ms)
		return x->state.created_ms > y->state.created_ms ? -1 : 1;
	return strcmp(y->run_id, x->run_id);
}

/* Add every readable, matching run of the experiment [expfd] to [*runs]. */
static int list_experiment(int expfd, const char *experiment, uid_t owner,
			   const struct aml_run_filter *filter,
			   struct aml_run_info **runs, size_t *n, size_t *cap,
			   char *errbuf, size_t errlen)
{
	int fd = openat(expfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0; /* an experiment we cannot read has no runs for us */
	}
	while ((de = readdir(d))) {
		struct aml_run_info info;
		char ignored[256];
		int runfd;

		if (de->d_name[0] == '.' || !aml_runid_is_valid(de->d_name))
			continue;
		runfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
							     O_NOFOLLOW |
							     O_CLOEXEC);
		if (runfd < 0)
			continue;
		/* In a user's tree, only the tree owner's runs are runs. */
		if (owner != (uid_t)-1) {
			struct stat st;

			if (fstat(runfd, &st) < 0 || st.st_uid != owner) {
				close(runfd);
				continue;
			}
		}
		/* Others' private runs are simply not listed. */
		if (load_run(runfd, experiment, de->d_name, 0, &info, ignored,
			     sizeof(ignored)) < 0) {
			close(runfd);
			continue;
		}
		close(runfd);
		if (!matches(filter, &info)) {
			aml_run_info_free(&info);
			continue;
		}
		if (*n == *cap) {
			size_t grown_cap = *cap ? *cap * 2 : 64;
			struct aml_run_info *grown =
				realloc(*runs, grown_cap * sizeof(*grown));

			if (!grown) {
				aml_run_info_free(&info);
				closedir(d);
				return aml_fail(errbuf, errlen, "out of memory");
			}
			*runs = grown;
			*cap = grown_cap;
		}
		(*runs)[(*n)++] = info;
	}
	closedir(d);
	return 0;
}

/* A visitor's "stop: errbuf says why" (each_subdir's -1 is its own). */
#define LIST_FAILED 2

/* What listing carries through the directories it visits. */
struct listing {
	const struct aml_run_filter *filter;
	struct aml_run_info **runs;
	size_t *n, cap;
	uid_t owner;           /* of the tree being listed */
	char *errbuf;
	size_t errlen;
};

static int list_tree_experiment(void *ctx, int expfd, const char *name,
				const struct stat *st)
{
	struct listing *l = ctx;

	(void)st;
	return list_experiment(expfd, name, l->owner, l->filter, l->runs,
			       l->n, &l->cap, l->errbuf, l->errlen) < 0
		       ? LIST_FAILED : 0;
}

/* Every experiment of a user's tree, or the one the filter names. */
static int list_tree(int treefd, struct listing *l)
{
	int fd, r;

	if (l->filter && l->filter->experiment) {
		fd = openat(treefd, l->filter->experiment,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return 0;
		r = list_experiment(fd, l->filter->experiment, l->owner,
				    l->filter, l->runs, l->n, &l->cap,
				    l->errbuf, l->errlen);
		close(fd);
		return r < 0 ? LIST_FAILED : 0;
	}
	r = each_subdir(treefd, NULL, list_tree_experiment, l);
	/* A tree we cannot read (a private one) lists nothing for us. */
	return r < 0 ? 0 : r;
}

static int list_top(void *ctx, int topfd, const char *name,
		    const struct stat *st)
{
	struct listing *l = ctx;

	switch (top_kind_of(st)) {
	case TOP_TREE:
		l->owner = st->st_uid;
		return list_tree(topfd, l);
	case TOP_LEGACY:
		if (l->filter && l->filter->experiment &&
		    strcmp(l->filter->experiment, name))
			return 0;
		return list_experiment(topfd, name, (uid_t)-1, l->filter,
				       l->runs, l->n, &l->cap, l->errbuf,
				       l->errlen) < 0 ? LIST_FAILED : 0;
	default:
		return 0;
	}
}

static int file_list(void *self, const struct aml_run_filter *filter,
		     struct aml_run_info **runs, size_t *n, char *errbuf,
		     size_t errlen)
{
	struct file_backend *fb = self;
	struct listing l = { .filter = filter, .runs = runs, .n = n,
			     .errbuf = errbuf, .errlen = errlen };
	int rootfd, r;

	*runs = NULL;
	*n = 0;
	rootfd = open_root(fb, errbuf, errlen);
	if (rootfd < 0)
		return -1;
	r = each_subdir(rootfd, NULL, list_top, &l);
	if (r < 0)
		fail_errno(errbuf, errlen, errno, "cannot read HistoryDir %s",
			   fb->root);
	close(rootfd);
	if (r != 0) {
		for (size_t i = 0; i < *n; i++)
			aml_run_info_free(&(*runs)[i]);
		free(*runs);
		*runs = NULL;
		*n = 0;
		return -1;
	}
	if (*n > 1)
		qsort(*runs, *n, sizeof(**runs), newest_first);
	return 0;
}

/* The run directory of a run read before, for reading: the run of that
 * owner, experiment and id, wherever it is. */
static int open_run_read(struct file_backend *fb,
			 const struct aml_run_info *run, char *errbuf,
			 size_t errlen)
{
	struct run_search s = { .run_id = run->run_id,
				.experiment = run->experiment,
				.uid = run->uid };
	int rootfd = open_root(fb, errbuf, errlen), fd = -1, e = ENOENT;

	if (rootfd < 0)
		return -1;
	if (search_run(fb, rootfd, &s) == 0 && s.n > 0) {
		fd = openat(s.m[0].fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		e = errno;
	}
	search_free(&s);
	close(rootfd);
	if (fd < 0)
		fail_errno(errbuf, errlen, e, "run %s", run->run_id);
	return fd;
}

static int file_list_artifacts(void *self, const struct aml_run_info *run,
			       struct aml_artifact **list, size_t *n,
			       char *errbuf, size_t errlen)
{
	int fd = open_run_read(self, run, errbuf, errlen), r;

	*list = NULL;
	*n = 0;
	if (fd < 0)
		return -1;
	r = aml_artifacts_list(fd, artifact_tops, N_TOPS, list, n, errbuf,
			       errlen);
	close(fd);
	return r;
}

/* A path inside a run: relative, no "." or ".." components, below one of
 * the artifact folders. */
static int valid_artifact_path(const char *path)
{
	const char *p = path;
	int top_ok = 0;

	for (size_t i = 0; i < N_TOPS; i++) {
		size_t n = strlen(artifact_tops[i]);

		if (!strncmp(path, artifact_tops[i], n) &&
		    (path[n] == '/' || path[n] == '\0'))
			top_ok = 1;
	}
	if (!top_ok)
		return 0;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

static int file_open_artifact(void *self, const struct aml_run_info *run,
			      const char *path, char *errbuf, size_t errlen)
{
	int runfd, fd, e;

	if (!valid_artifact_path(path)) {
		aml_fail(errbuf, errlen, "\"%s\" is not a path in a run: it "
			 "must start with outputs/, logs/ or user_logs/", path);
		errno = EINVAL;
		return -1;
	}
	runfd = open_run_read(self, run, errbuf, errlen);
	if (runfd < 0)
		return -1;
	fd = aml_open_nofollow(runfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	e = errno;
	close(runfd);
	if (fd < 0)
		fail_errno(errbuf, errlen, e, "%s of run %s", path,
			   run->run_id);
	errno = e;
	return fd;
}

static int file_download(void *self, const struct aml_run_info *run,
			 const char *path, int out_fd,
			 struct aml_artifact_stats *stats, char *errbuf,
			 size_t errlen)
{
	int runfd, r = 0;

	if (path && *path && !valid_artifact_path(path))
		return aml_fail(errbuf, errlen, "\"%s\" is not a path in a "
				"run: it must start with outputs/, logs/ or "
				"user_logs/", path);
	runfd = open_run_read(self, run, errbuf, errlen);
	if (runfd < 0)
		return -1;
	if (path && *path) {
		r = aml_artifacts_copy_out(runfd, path, out_fd, stats, errbuf,
					   errlen);
	} else {
		/* Each copy counts from zero; the caller wants the sum. */
		struct aml_artifact_stats sum = { 0 };

		for (size_t i = 0; r == 0 && i < N_TOPS; i++) {
			struct aml_artifact_stats one = { 0 };

			if (faccessat(runfd, artifact_tops[i], F_OK,
				      AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			r = aml_artifacts_copy_out(runfd, artifact_tops[i],
						   out_fd, &one, errbuf, errlen);
			sum.files += one.files;
			sum.bytes += one.bytes;
			sum.skipped += one.skipped;
			for (size_t k = 0; k < one.n_notes &&
					   k < AML_ARTIFACTS_NOTES; k++) {
				if (sum.n_notes < AML_ARTIFACTS_NOTES)
					sum.notes[sum.n_notes++] = one.notes[k];
				else
					free(one.notes[k]);
			}
		}
		if (stats)
			*stats = sum;
		else
			aml_artifact_stats_free(&sum);
	}
	close(runfd);
	return r;
}

static void file_close(void *self)
{
	struct file_backend *fb = self;

	free(fb->root);
	free(fb);
}

static const struct aml_history_ops file_ops = {
	.name = "file",
	.create_run = file_create_run,
	.record = file_record,
	.add_properties = file_add_properties,
	.set_tags = file_set_tags,
	.upload = file_upload,
	.open_log = file_open_log,
	.read_run = file_read_run,
	.list = file_list,
	.list_artifacts = file_list_artifacts,
	.open_artifact = file_open_artifact,
	.download = file_download,
	.close = file_close,
};

int aml_history_file_open(const struct aml_site *site,
			  const struct aml_history_ops **ops, void **self,
			  char *errbuf, size_t errlen)
{
	struct file_backend *fb = calloc(1, sizeof(*fb));

	if (!fb || !(fb->root = strdup(site->history_dir))) {
		free(fb);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	/* A private user's tree can be entered, not listed: others learn
	 * nothing of the experiments, and a run they name is refused as
	 * private rather than missing. */
	if (site->run_visibility == AML_RUNS_SHARED) {
		fb->tree_mode = 0755;
		fb->dir_mode = 0755;
		fb->file_mode = 0644;
	} else {
		fb->tree_mode = 0711;
		fb->dir_mode = 0700;
		fb->file_mode = 0600;
	}
	*ops = &file_ops;
	*self = fb;
	return 0;
}
