/*
 * node_rundir.c: a run's directory on a node (node_rundir.h).
 *
 * Where the contract is silent:
 *   - A marker is a regular file of at most MARKER_MAX bytes, opened
 *     O_NOFOLLOW|O_NONBLOCK: a symlink or a FIFO of that name is no
 *     marker, and opening it blocks nothing.
 *   - .delivered-<node>: "job <id> attempt <n> <time>"; only one naming
 *     the job that ended counts.
 *   - .undelivered-<node>: "<time> <why>", then "run <experiment>
 *     <tracking id> keep <0|1>" ('-' for what is not known): aml-epilog
 *     has no job environment to learn them from.  keep 1: kept for
 *     KeepFailedRunDir, so delivered later it stays (only the marker
 *     goes).  The user can edit it, which concerns only their own runs:
 *     it is read and acted on as them, and each value is checked for its
 *     form.
 *   - .lost-<node>: the sentence said when the directory was removed
 *     undelivered, then the same "run" line: the property to record.
 *   - The ledger, <RunDir>/.aml-kept/<node>/<uid>/<run_id> = "<bytes>",
 *     is the caller's (root's) own directory in RunDir (userdir.h, so a
 *     squatter of the name is stepped around), read and written under an
 *     flock of <node>.  An entry is added when a directory is kept (the
 *     size measured as its owner by this code), replaced when the same
 *     directory is kept again, and dropped when it is removed; aml-epilog
 *     drops every entry of a user whose trees it went through whole that
 *     no kept directory matches any more (delivered, or removed by the
 *     user), unless it is younger than that round.
 *   - A directory whose size cannot be measured in time (a huge tree, or
 *     one its owner made unreadable) is counted as over any KeptRunDirMax:
 *     the bound is a promise about disk.
 *   - aml-epilog looks at SCAN_MAX entries of RunDir, and of each user's
 *     tree, per round; the rest wait for a later one.  At most SAID_MAX
 *     odd entries are said per round, then their number.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bounded.h"
#include "dirtrust.h"
#include "errors.h"
#include "event.h"
#include "fdio.h"
#include "history.h"
#include "job_env.h"
#include "launch.h"
#include "node_rundir.h"
#include "privdrop.h"
#include "runid.h"
#include "text.h"
#include "tree.h"

#define MARKER_MAX 4096
#define REMOVE_MAX_DEPTH 512
#define LEDGER ".aml-kept"
#define LEDGER_MAX 100000
#define SCAN_MAX 10000
#define SAID_MAX 10
#define STOP_MARGIN_MS 300
#define SHOWN 160
#define NODE_MAX 128              /* a node name in a marker's name */
#define TRACKING_MAX 64
#define REPORT_LINES 32
#define REPORT_LINE_MAX 768
#define REPORT_KEPT_MAX 1024

static const char *const uploaded[] = { "outputs", "logs", "user_logs" };

static void say(aml_node_rundir_say fn, void *ctx, int level,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void say(aml_node_rundir_say fn, void *ctx, int level,
		const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(ctx, level, line);
}

static int64_t realtime_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line of [s] (newlines and tabs as spaces), for a marker's line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
}

/* ---------------------------------------------------------------------- */
/* The layout                                                             */

/*
 * RunDir is the admin's, shared by every user: a user's directory in it
 * must not be renamed away by anyone else, which the sticky bit (or
 * nobody else being able to write it) guarantees.
 */
static int open_run_root(const char *run_dir, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return aml_fail(errbuf, errlen, "RunDir %s: cannot open: %s (the "
				"admin makes it on every node, mode 1777)",
				run_dir, strerror(errno));
	if (fstat(fd, &st) < 0 ||
	    aml_trust_shared_dir(&st, geteuid()) != AML_TRUSTED) {
		close(fd);
		return aml_fail(errbuf, errlen, "RunDir %s: must belong to root "
				"and be sticky if others may write it (mode "
				"1777), refused", run_dir);
	}
	return fd;
}

int aml_node_rundir_open_user_root(const char *run_dir, int create,
				   struct aml_userdir *ud, char *errbuf,
				   size_t errlen)
{
	char name[NAME_MAX + 1];
	int root = open_run_root(run_dir, errbuf, errlen), r, e;

	ud->fd = -1;
	ud->path = NULL;
	if (root < 0)
		return -1;
	aml_userdir_default_name(geteuid(), name, sizeof(name));
	r = aml_userdir_open(root, run_dir, name, geteuid(), 0700,
			     S_IWGRP | S_IWOTH, create, ud, errbuf, errlen);
	e = errno;
	close(root);
	errno = e;
	return r;
}

int aml_node_rundir_open_run(int root, const char *root_path,
			     const char *run_id, int create, char *errbuf,
			     size_t errlen)
{
	struct stat st;
	int fd;

	if (create && mkdirat(root, run_id, 0700) < 0 && errno != EEXIST)
		return aml_fail(errbuf, errlen, "%s/%s: cannot create: %s",
				root_path, run_id, strerror(errno));
	fd = openat(root, run_id,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !create)
		return -2;
	if (fd < 0)
		return aml_fail(errbuf, errlen, "%s/%s: cannot open: %s",
				root_path, run_id, strerror(errno));
	if (fstat(fd, &st) < 0) {
		aml_fail(errbuf, errlen, "%s/%s: cannot stat: %s", root_path,
			 run_id, strerror(errno));
		close(fd);
		return -1;
	}
	if (aml_trust_user_dir(&st, geteuid()) != AML_TRUSTED) {
		aml_fail(errbuf, errlen, "%s/%s: belongs to uid %lu or others "
			 "may write it; the run's directory must be its user's "
			 "alone, refused", root_path, run_id,
			 (unsigned long)st.st_uid);
		close(fd);
		return -1;
	}
	return fd;
}

int aml_node_rundir_marker(char *buf, size_t len, const char *prefix,
			   const char *node)
{
	int n;

	if (!node || !aml_is_path_component(node))
		return -1;
	n = snprintf(buf, len, "%s%s", prefix, node);
	return n < 0 || (size_t)n + sizeof(".new") > len ? -1 : 0;
}

/*
 * The regular file [name] in [dirfd], at most [cap] - 1 bytes of it,
 * NUL-terminated, opened without following a symlink or blocking on a
 * FIFO.  Returns the bytes read, or -1 with errno (ENOENT: none; EINVAL:
 * not a regular file; EFBIG: longer).
 */
static ssize_t read_small(int dirfd, const char *name, char *buf, size_t cap)
{
	struct stat st;
	size_t got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					     O_NOCTTY | O_CLOEXEC), e;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size >= cap) {
		e = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		close(fd);
		errno = e;
		return -1;
	}
	while (got < cap - 1) {
		ssize_t n = aml_read_some(fd, buf + got, cap - 1 - got);

		if (n < 0) {
			aml_close_quietly(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* The directory [name] in [dirfd], not followed if a symlink: -1 with
 * errno ELOOP then (open(2) says ENOTDIR when O_DIRECTORY meets one). */
static int open_dir_nofollow(int dirfd, const char *name)
{
	struct stat st;
	int fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOTDIR &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		errno = ELOOP;
	return fd;
}

/* [text] as the file [name] in [dirfd], written aside (<name>.new) and
 * renamed, so a reader never sees half of it.  0, or -1 with errno. */
static int write_small(int dirfd, const char *name, const char *text)
{
	char tmp[NAME_MAX + 1];
	size_t len = strlen(text);
	int fd, ok, e;

	if (snprintf(tmp, sizeof(tmp), "%s.new", name) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(dirfd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -1;
	ok = aml_write_all(fd, text, len) == 0;
	e = errno;
	if (aml_close_checked(fd) < 0 && ok) {
		ok = 0;
		e = errno;
	}
	if (!ok || renameat(dirfd, tmp, dirfd, name) < 0) {
		if (ok)
			e = errno;
		unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int aml_node_rundir_read_attempt(int rdir, const char *name, uint32_t *job_id,
				 unsigned *attempt)
{
	char text[64];

	if (read_small(rdir, name, text, sizeof(text)) < 0)
		return errno == ENOENT ? 0 : -1;
	if (sscanf(text, "job %u attempt %u", job_id, attempt) != 2)
		return -1;
	return 1;
}

int aml_node_rundir_write_attempt(int rdir, const char *name, uint32_t job_id,
				  unsigned attempt)
{
	char text[64];

	snprintf(text, sizeof(text), "job %u attempt %u\n", (unsigned)job_id,
		 attempt);
	return write_small(rdir, name, text);
}

int aml_node_rundir_is_kept(int rdir, const char *node)
{
	char name[NAME_MAX + 1];
	struct stat st;

	if (aml_node_rundir_marker(name, sizeof(name), AML_RUNDIR_UNDELIVERED,
				   node) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (fstatat(rdir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* aml-launch: the node's uploads are done                                */

int aml_node_rundir_mark_delivered(int workdir_fd, const char *workdir,
				   uint32_t job_id, unsigned attempt,
				   char *errbuf, size_t errlen)
{
	char name[NAME_MAX + 1], text[128], when[32];
	const char *node = workdir ? strrchr(workdir, '/') : NULL;
	struct stat wd, rd, entry;
	int rdir, r = -1;

	if (!node || aml_node_rundir_marker(name, sizeof(name),
					    AML_RUNDIR_DELIVERED,
					    node + 1) < 0)
		return aml_fail(errbuf, errlen, "%s: not a run's working "
				"directory (%s)", workdir ? workdir : "(unset)",
				AML_ENV_WORKDIR);
	node++;
	/* The directory that holds this very working directory, reached
	 * through it: no path anyone could swap. */
	rdir = openat(workdir_fd, "..",
		      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rdir < 0)
		return aml_fail(errbuf, errlen, "%s/..: cannot open: %s",
				workdir, strerror(errno));
	if (fstat(workdir_fd, &wd) < 0 || fstat(rdir, &rd) < 0 ||
	    fstatat(rdir, node, &entry, AT_SYMLINK_NOFOLLOW) < 0) {
		aml_fail(errbuf, errlen, "%s: %s", workdir, strerror(errno));
		goto out;
	}
	if (aml_trust_user_dir(&rd, geteuid()) != AML_TRUSTED ||
	    entry.st_dev != wd.st_dev || entry.st_ino != wd.st_ino) {
		aml_fail(errbuf, errlen, "%s: the working directory is not "
			 "where AML_WORKDIR says, in a run directory of this "
			 "user's alone: no %s written", workdir, name);
		goto out;
	}
	aml_event_format_time(realtime_ms(), when, sizeof(when));
	snprintf(text, sizeof(text), "job %u attempt %u %s\n",
		 (unsigned)job_id, attempt, when);
	if (write_small(rdir, name, text) < 0) {
		aml_fail(errbuf, errlen, "%s/../%s: cannot write: %s", workdir,
			 name, strerror(errno));
		goto out;
	}
	r = 0;
out:
	close(rdir);
	return r;
}

/* Whether [rdir] holds a .delivered marker [name] of job [job_id]. */
static int is_delivered(int rdir, const char *name, uint32_t job_id)
{
	char text[128];
	unsigned job;

	return read_small(rdir, name, text, sizeof(text)) >= 0 &&
	       sscanf(text, "job %u ", &job) == 1 && job == job_id;
}

/* ---------------------------------------------------------------------- */
/* Delivering, as the owner                                               */

/* What run history knows the run by, as a marker's "run" line says. */
struct run_name {
	char experiment[AML_RUNID_MAX];   /* "" when not known */
	char tracking[TRACKING_MAX];      /* "" when none */
	int keep;
};

/* The "run <experiment> <tracking> keep <n>" line (keep optional), each
 * value checked for its form ('-': not known).  0, or -1. */
static int parse_run_line(const char *line, struct run_name *rn)
{
	char exp[AML_RUNID_MAX], tracking[TRACKING_MAX];
	int keep = 0, n;

	memset(rn, 0, sizeof(*rn));
	n = sscanf(line, "run %255s %63s keep %d", exp, tracking, &keep);
	if (n < 2)
		return -1;
	/* An experiment's name has a run id's alphabet (runconfig.h). */
	if (strcmp(exp, "-") && !aml_runid_is_valid(exp))
		return -1;
	if (strcmp(tracking, "-") && !aml_runid_is_tracking_id(tracking))
		return -1;
	if (strcmp(exp, "-"))
		snprintf(rn->experiment, sizeof(rn->experiment), "%s", exp);
	if (strcmp(tracking, "-"))
		snprintf(rn->tracking, sizeof(rn->tracking), "%s", tracking);
	rn->keep = keep == 1;
	return 0;
}

static void format_run_line(char *buf, size_t len, const char *experiment,
			    const char *tracking, int keep)
{
	snprintf(buf, len, "run %s %s keep %d\n",
		 experiment && *experiment ? experiment : "-",
		 tracking && *tracking ? tracking : "-", keep ? 1 : 0);
}

/* A handle on run history for [run_id], as the caller (the owner), and
 * the run's experiment in [exp] (looked up when [given] is empty).
 * Returns the handle, or NULL with errbuf. */
static struct aml_history *open_run_history(const struct aml_site *site,
					    const char *run_id,
					    const char *tracking,
					    const char *given, char *exp,
					    size_t exp_len, char *errbuf,
					    size_t errlen)
{
	struct aml_run_info info = { 0 };
	struct aml_history *h = NULL;
	char err[1024];

	if (aml_history_open(site, &h, errbuf, errlen) < 0)
		return NULL;
	if (tracking && *tracking &&
	    aml_history_bind(h, run_id, tracking, errbuf, errlen) < 0) {
		aml_history_close(h);
		return NULL;
	}
	if (given && *given) {
		snprintf(exp, exp_len, "%s", given);
		return h;
	}
	if (aml_history_read_run(h, run_id, 0, &info, err, sizeof(err)) < 0 ||
	    !info.experiment) {
		aml_fail(errbuf, errlen, "the run's experiment is not known "
			 "here, and run history cannot say it: %s", err);
		aml_run_info_free(&info);
		aml_history_close(h);
		return NULL;
	}
	snprintf(exp, exp_len, "%s", info.experiment);
	aml_run_info_free(&info);
	return h;
}

struct deliver_arg {
	const struct aml_site *site;
	int rdir;                 /* the run's directory */
	const char *run_id;
	const char *node;
	const char *experiment;   /* NULL or "": looked up */
	const char *tracking;     /* NULL or "": none */
};

/*
 * Upload the node's outputs/, logs/ and user_logs/, as the caller.
 * Returns 0 when each was written, unchanged or queued in the spool, 1
 * when not (errbuf: the first reason), as a bounded child answers.
 */
static int deliver_node(void *arg, char *errbuf, size_t errlen)
{
	const struct deliver_arg *a = arg;
	char exp[AML_RUNID_MAX], err[1024];
	struct aml_history *h;
	struct stat st;
	int wd, failed = 0;

	wd = open_dir_nofollow(a->rdir, a->node);
	if (wd < 0) {
		aml_fail(errbuf, errlen, "%s: %s", a->node,
			 errno == ELOOP ? "is a symbolic link, not followed"
					: strerror(errno));
		return 1;
	}
	if (fstat(wd, &st) < 0 || st.st_uid != geteuid()) {
		close(wd);
		aml_fail(errbuf, errlen, "%s: not the user's own directory",
			 a->node);
		return 1;
	}
	h = open_run_history(a->site, a->run_id, a->tracking, a->experiment,
			     exp, sizeof(exp), errbuf, errlen);
	if (!h) {
		close(wd);
		return 1;
	}
	for (size_t i = 0; i < sizeof(uploaded) / sizeof(*uploaded); i++) {
		struct aml_artifact_stats stats = { 0 };

		if (aml_history_upload(h, exp, a->run_id, wd, uploaded[i],
				       &stats, err, sizeof(err)) ==
			    AML_HISTORY_ERROR &&
		    !failed++)
			aml_fail(errbuf, errlen, "%s/: %s", uploaded[i], err);
		aml_artifact_stats_free(&stats);
	}
	aml_history_close(h);
	close(wd);
	return failed ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* Measuring, as the owner                                                */

struct measure {
	unsigned long long bytes;
	int64_t stop_ms;
	int complete;
};

/* Add what [name] in [parent] takes on disk; 0, or -1 when it could not
 * all be seen (unreadable, too deep, out of time). */
static int measure_below(struct measure *m, int parent, const char *name,
			 int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, r = 0;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	m->bytes += (unsigned long long)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (depth >= REMOVE_MAX_DEPTH || aml_monotonic_ms() >= m->stop_ms)
		return -1;
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (aml_monotonic_ms() >= m->stop_ms) {
			r = -1;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (measure_below(m, dirfd(dir), de->d_name, depth + 1) < 0)
			r = -1;
	}
	closedir(dir);
	return r;
}

struct measure_arg {
	int rdir;
	const char *node;
	int64_t stop_ms;
};

/* The child's answer: "<bytes> <complete>" in errbuf, result 0. */
static int measure_node(void *arg, char *errbuf, size_t errlen)
{
	const struct measure_arg *a = arg;
	struct measure m = { 0, a->stop_ms, 0 };

	m.complete = measure_below(&m, a->rdir, a->node, 0) == 0;
	snprintf(errbuf, errlen, "%llu %d", m.bytes, m.complete);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The ledger of what the node keeps (the caller's own: root's)           */

/* <RunDir>/.aml-kept, the caller's own (userdir.h), made when [create].
 * 0 with [own], or -1 with errbuf (errno ENOENT: none, not [create]). */
static int ledger_root(const struct aml_site *site, int create,
		       struct aml_userdir *own, char *errbuf, size_t errlen)
{
	int root, r, e;

	own->fd = -1;
	own->path = NULL;
	root = open_run_root(site->run_dir, errbuf, errlen);
	if (root < 0)
		return -1;
	r = aml_userdir_open(root, site->run_dir, LEDGER, geteuid(), 0700,
			     S_IRWXG | S_IRWXO, create, own, errbuf, errlen);
	e = errno;
	close(root);
	errno = e;
	return r;
}

/* [own]'s <node>, made when [create]; opened O_RDONLY for its flock.
 * The descriptor, or -1 with errbuf (errno ENOENT: none). */
static int ledger_node(const struct aml_userdir *own, const char *node,
		       int create, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd, e;

	if (create && mkdirat(own->fd, node, 0700) < 0 && errno != EEXIST)
		return aml_fail(errbuf, errlen, "%s/%s: cannot create: %s",
				own->path, node, strerror(errno));
	fd = openat(own->fd, node,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	e = errno;
	if (fd >= 0 && (fstat(fd, &st) < 0 ||
			aml_trust_private_dir(&st, geteuid()) != AML_TRUSTED)) {
		close(fd);
		fd = -1;
		e = EPERM;
	}
	if (fd < 0 && !(e == ENOENT && !create))
		aml_fail(errbuf, errlen, "%s/%s: %s", own->path, node,
			 e == EPERM ? "is not this process's own directory"
				    : strerror(e));
	errno = e;
	return fd;
}

/* The node's ledger: ledger_root, then ledger_node. */
static int ledger_open(const struct aml_site *site, const char *node,
		       int create, char *errbuf, size_t errlen)
{
	struct aml_userdir own;
	int fd, e;

	if (ledger_root(site, create, &own, errbuf, errlen) < 0)
		return -1;
	fd = ledger_node(&own, node, create, errbuf, errlen);
	e = errno;
	aml_userdir_close(&own);
	errno = e;
	return fd;
}

static int ledger_lock(int fd)
{
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* The bytes every entry of the node's ledger [fd] counts.  0, or -1. */
static int ledger_sum(int fd, unsigned long long *total)
{
	struct dirent *de, *ue;
	size_t seen = 0;
	DIR *d, *u;
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*total = 0;
	if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	while ((de = readdir(d)) && seen < LEDGER_MAX) {
		int ufd;

		if (de->d_name[0] == '.')
			continue;
		ufd = openat(dirfd(d), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ufd < 0 || !(u = fdopendir(ufd))) {
			if (ufd >= 0)
				close(ufd);
			continue;
		}
		while ((ue = readdir(u)) && seen++ < LEDGER_MAX) {
			char text[32];

			if (ue->d_name[0] == '.' ||
			    read_small(dirfd(u), ue->d_name, text,
				       sizeof(text)) < 0)
				continue;
			*total += strtoull(text, NULL, 10);
		}
		closedir(u);
	}
	closedir(d);
	return 0;
}

/* The entry of [uid]'s [run_id]: [bytes].  0, or -1 with errno. */
static int ledger_put(int fd, uid_t uid, const char *run_id,
		      unsigned long long bytes)
{
	char name[32], text[32];
	int ufd, r;

	snprintf(name, sizeof(name), "%lu", (unsigned long)uid);
	if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	ufd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ufd < 0)
		return -1;
	snprintf(text, sizeof(text), "%llu\n", bytes);
	r = write_small(ufd, run_id, text);
	aml_close_quietly(ufd);
	return r;
}

static void ledger_drop(int fd, uid_t uid, const char *run_id)
{
	char name[32];
	int ufd;

	snprintf(name, sizeof(name), "%lu", (unsigned long)uid);
	ufd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ufd < 0)
		return;
	(void)unlinkat(ufd, run_id, 0);
	close(ufd);
	(void)unlinkat(fd, name, AT_REMOVEDIR);
}

/* Forget [uid]'s [run_id] on [node], if the ledger has it. */
static void ledger_forget(const struct aml_site *site, const char *node,
			  uid_t uid, const char *run_id)
{
	char ignored[256];
	int fd = ledger_open(site, node, 0, ignored, sizeof(ignored));

	if (fd < 0)
		return;
	if (ledger_lock(fd) == 0)
		ledger_drop(fd, uid, run_id);
	close(fd);
}

/* ---------------------------------------------------------------------- */
/* Recording a loss, as the owner                                         */

struct note_arg {
	const struct aml_site *site;
	const char *run_id;
	const char *node;
	const char *experiment;   /* NULL or "": looked up */
	const char *tracking;     /* NULL or "": none */
	const char *sentence;
};

/*
 * The run's property aml.outputs_lost.<node> = the sentence, as the
 * caller.  0 when written, queued in the spool, or already there (with
 * any value: properties never change, and it already says so); 1 when
 * not (errbuf), as a bounded child answers.
 */
static int record_loss(void *arg, char *errbuf, size_t errlen)
{
	const struct note_arg *a = arg;
	struct aml_kvlist props = { 0 };
	struct aml_run_info info = { 0 };
	enum aml_history_result r;
	char key[sizeof(AML_PROP_OUTPUTS_LOST) + NAME_MAX];
	char exp[AML_RUNID_MAX], ignored[256];
	struct aml_history *h;

	h = open_run_history(a->site, a->run_id, a->tracking, a->experiment,
			     exp, sizeof(exp), errbuf, errlen);
	if (!h)
		return 1;
	snprintf(key, sizeof(key), "%s%s", AML_PROP_OUTPUTS_LOST, a->node);
	if (aml_kvlist_set(&props, key, a->sentence) < 0) {
		aml_history_close(h);
		aml_fail(errbuf, errlen, "out of memory");
		return 1;
	}
	r = aml_history_add_properties(h, exp, a->run_id, &props, errbuf,
				       errlen);
	if (r == AML_HISTORY_ERROR &&
	    aml_history_read_run(h, a->run_id, 0, &info, ignored,
				 sizeof(ignored)) == 0 &&
	    aml_kvlist_get(&info.properties, key))
		r = AML_HISTORY_UNCHANGED;
	aml_run_info_free(&info);
	aml_kvlist_free(&props);
	aml_history_close(h);
	return r == AML_HISTORY_ERROR ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* The SPANK epilog: the job ended on the node                            */

struct names {
	char lock[NAME_MAX + 1];
	char attempt[NAME_MAX + 1];
	char delivered[NAME_MAX + 1];
	char undelivered[NAME_MAX + 1];
	char lost[NAME_MAX + 1];
};

static int make_names(struct names *n, const char *node)
{
	return aml_node_rundir_marker(n->lock, sizeof(n->lock),
				      AML_RUNDIR_LOCK, node) < 0 ||
	       aml_node_rundir_marker(n->attempt, sizeof(n->attempt),
				      AML_RUNDIR_ATTEMPT, node) < 0 ||
	       aml_node_rundir_marker(n->delivered, sizeof(n->delivered),
				      AML_RUNDIR_DELIVERED, node) < 0 ||
	       aml_node_rundir_marker(n->undelivered,
				      sizeof(n->undelivered),
				      AML_RUNDIR_UNDELIVERED, node) < 0 ||
	       aml_node_rundir_marker(n->lost, sizeof(n->lost),
				      AML_RUNDIR_LOST, node) < 0
		       ? -1 : 0;
}

/* As the owner: the node's markers that outlive nothing. */
static void drop_markers(int rdir, const struct names *n, int undelivered)
{
	(void)unlinkat(rdir, n->attempt, 0);
	(void)unlinkat(rdir, n->lock, 0);
	(void)unlinkat(rdir, n->delivered, 0);
	if (undelivered)
		(void)unlinkat(rdir, n->undelivered, 0);
}

/* [bytes] as aml.conf would write it: "1K", "20G", "1000". */
static void format_conf_size(unsigned long long bytes, char *buf, size_t len)
{
	static const struct { unsigned shift; char unit; } units[] = {
		{ 40, 'T' }, { 30, 'G' }, { 20, 'M' }, { 10, 'K' },
	};

	if (bytes == AML_SITE_UNLIMITED64) {
		snprintf(buf, len, "UNLIMITED");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (bytes && bytes % (1ull << units[i].shift) == 0) {
			snprintf(buf, len, "%llu%c", bytes >> units[i].shift,
				 units[i].unit);
			return;
		}
	snprintf(buf, len, "%llu", bytes);
}

/* The .undelivered marker, as the owner.  0, or -1 with errno. */
static int write_undelivered(int rdir, const struct names *n,
			     const struct aml_node_rundir_end *e,
			     const char *why, int keep)
{
	char text[MARKER_MAX], reason[1024], when[32];
	char line[AML_RUNID_MAX + TRACKING_MAX + 32];

	snprintf(reason, sizeof(reason), "%s", why);
	one_line(reason);
	aml_event_format_time(realtime_ms(), when, sizeof(when));
	format_run_line(line, sizeof(line), e->experiment, e->tracking_id,
			keep);
	snprintf(text, sizeof(text), "%s %s\n%s", when, reason, line);
	return write_small(rdir, n->undelivered, text);
}

/* The .lost note, as the owner.  0, or -1 with errno. */
static int write_lost(int rdir, const struct names *n,
		      const struct aml_node_rundir_end *e,
		      const char *sentence)
{
	char text[MARKER_MAX], line[AML_RUNID_MAX + TRACKING_MAX + 32];

	format_run_line(line, sizeof(line), e->experiment, e->tracking_id, 0);
	snprintf(text, sizeof(text), "%s\n%s", sentence, line);
	return write_small(rdir, n->lost, text);
}

/* The deadline [ms] before [deadline], but not past it and not already
 * gone: what is left when less remains. */
static int64_t before(int64_t deadline, int64_t ms)
{
	int64_t now = aml_monotonic_ms(), at = deadline - ms;

	return at > now ? at : deadline;
}

/*
 * Whether keeping [bytes] more ([complete]: measured whole) keeps the
 * node within KeptRunDirMax; when it does, the directory is counted in
 * the ledger.  As the ledger's owner (the caller).  Returns 1 kept, 0
 * over the bound ([why] says how), with [total] what was kept before.
 */
static int account(const struct aml_node_rundir_end *e,
		   unsigned long long bytes, int complete,
		   unsigned long long *total, char *why, size_t why_len,
		   aml_node_rundir_say say_fn, void *ctx)
{
	const unsigned long long max = e->site->kept_run_dir_max;
	char err[1024];
	int fd, fits;

	*total = 0;
	fd = ledger_open(e->site, e->node, 1, err, sizeof(err));
	if (fd >= 0 && ledger_lock(fd) < 0) {
		snprintf(err, sizeof(err), "cannot lock the ledger of kept run "
			 "directories: %s", strerror(errno));
		close(fd);
		fd = -1;
	}
	if (fd < 0 || ledger_sum(fd, total) < 0) {
		if (fd >= 0) {
			snprintf(err, sizeof(err), "cannot read the ledger of "
				 "kept run directories: %s", strerror(errno));
			close(fd);
		}
		if (max == AML_SITE_UNLIMITED64) {
			say(say_fn, ctx, LOG_WARNING, "run %s: node %s: what "
			    "it keeps cannot be counted (%s); kept anyway "
			    "(KeptRunDirMax=UNLIMITED)", e->run_id, e->node,
			    err);
			return 1;
		}
		snprintf(why, why_len, "what this node keeps cannot be counted "
			 "(%.400s)", err);
		return 0;
	}
	fits = max == AML_SITE_UNLIMITED64 ||
	       (complete && bytes <= max && *total <= max - bytes);
	if (!fits)
		snprintf(why, why_len, "%s", complete ? "" :
			 "its size could not be measured in time");
	else if (ledger_put(fd, e->uid, e->run_id, bytes) < 0)
		say(say_fn, ctx, LOG_WARNING, "run %s: node %s: the ledger of "
		    "kept run directories cannot count it: %s", e->run_id,
		    e->node, strerror(errno));
	close(fd);
	return fits;
}

enum aml_node_rundir_fate aml_node_rundir_end_job(
	const struct aml_node_rundir_end *e, aml_node_rundir_say say_fn,
	void *ctx)
{
	enum aml_node_rundir_fate fate = AML_RUNDIR_FATE_ERROR;
	struct aml_userdir own = { -1, NULL };
	struct aml_identity saved = { 0 };
	struct names n;
	struct stat st;
	char errbuf[2048], why[1024] = "", where[PATH_MAX + 512];
	uint32_t marked_job;
	unsigned marked_attempt;
	int rdir = -1, as_owner = 0, delivered, is_dir, r;

	/* Run ids are what aml-epilog looks for (runid.h): a directory
	 * kept under another name would never be delivered. */
	if (make_names(&n, e->node) < 0 || !aml_runid_is_valid(e->run_id)) {
		say(say_fn, ctx, LOG_ERR, "run %.200s: it, or node name %s, "
		    "cannot name the run's files on the node", e->run_id,
		    e->node);
		return fate;
	}
	/* Root never touches the user's tree: as the user, a symlink the
	 * run left can lead nowhere the user could not go anyway. */
	if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
				sizeof(errbuf)) < 0) {
		say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s", e->run_id,
		    errbuf);
		return fate;
	}
	as_owner = 1;
	if (aml_node_rundir_open_user_root(e->site->run_dir, 0, &own, errbuf,
					   sizeof(errbuf)) < 0) {
		if (errno == ENOENT) {
			fate = AML_RUNDIR_FATE_GONE;
		} else {
			say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s",
			    e->run_id, errbuf);
		}
		goto out;
	}
	rdir = aml_node_rundir_open_run(own.fd, own.path, e->run_id, 0,
					errbuf, sizeof(errbuf));
	if (rdir == -2) {
		fate = AML_RUNDIR_FATE_GONE;
		goto out;
	}
	if (rdir < 0) {
		say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s", e->run_id,
		    errbuf);
		goto out;
	}
	/* The children below work in it (bounded.h). */
	if ((r = aml_fd_above_stdio(rdir)) < 0) {
		say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s", e->run_id,
		    strerror(errno));
		goto out;
	}
	rdir = r;
	snprintf(where, sizeof(where), "%s/%s/%s", own.path, e->run_id,
		 e->node);
	if (aml_node_rundir_read_attempt(rdir, n.attempt, &marked_job,
					 &marked_attempt) == 1 &&
	    marked_job != e->job_id) {
		say(say_fn, ctx, LOG_ERR, "run %s: cleanup: the directory on %s "
		    "belongs to job %u, not %u: left alone", e->run_id,
		    e->node, (unsigned)marked_job, (unsigned)e->job_id);
		fate = AML_RUNDIR_FATE_NOT_OURS;
		goto out;
	}
	is_dir = fstatat(rdir, e->node, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		 S_ISDIR(st.st_mode);
	/* No working directory (or only something else by its name): there
	 * is nothing to deliver. */
	delivered = !is_dir || is_delivered(rdir, n.delivered, e->job_id);
	aml_identity_restore(&saved);
	as_owner = 0;

	if (!delivered) {
		struct deliver_arg a = {
			.site = e->site, .rdir = rdir, .run_id = e->run_id,
			.node = e->node, .experiment = e->experiment,
			.tracking = e->tracking_id,
		};

		r = aml_bounded_call(e->uid, e->gid,
				     before(e->deadline_ms,
					    AML_NODE_RUNDIR_MEASURE_MS),
				     deliver_node, &a, why, sizeof(why));
		delivered = r == 0;
		if (r == AML_BOUNDED_TIMEOUT)
			snprintf(why, sizeof(why), "the upload did not end in "
				 "time (run history hangs?) and was stopped");
		else if (!delivered && !*why)
			snprintf(why, sizeof(why), "the upload failed");
		/* A warning: the launcher did not do its part, and the
		 * slurmd log of Slurm 22.05 keeps nothing below it from the
		 * SPANK epilog. */
		if (delivered)
			say(say_fn, ctx, LOG_WARNING, "run %s: outputs of node "
			    "%s delivered by the epilog (the launcher had not: "
			    "it was stopped before its uploads, or they "
			    "failed)", e->run_id, e->node);
	}

	if (e->keep) {
		if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
					sizeof(errbuf)) < 0)
			goto said;
		as_owner = 1;
		drop_markers(rdir, &n, delivered);
		if (!delivered &&
		    write_undelivered(rdir, &n, e, why, 1) < 0)
			say(say_fn, ctx, LOG_ERR, "run %s: %s/%s/%s: cannot "
			    "write: %s", e->run_id, own.path, e->run_id,
			    n.undelivered, strerror(errno));
		say(say_fn, ctx, delivered ? LOG_INFO : LOG_WARNING,
		    "run %s: job %u failed: %s kept "
		    "(KeepFailedRunDir=yes)%s%s%s", e->run_id,
		    (unsigned)e->job_id, where,
		    delivered ? "" : "; its outputs are not delivered (",
		    delivered ? "" : why,
		    delivered ? "" : "): aml-epilog retries at every job's "
		    "end");
		fate = AML_RUNDIR_FATE_KEPT_FAILED;
		goto out;
	}

	if (delivered) {
		if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
					sizeof(errbuf)) < 0)
			goto said;
		as_owner = 1;
		if (aml_tree_remove(rdir, e->node) < 0)
			say(say_fn, ctx, LOG_ERR, "run %s: cannot remove %s: %s",
			    e->run_id, where, strerror(errno));
		drop_markers(rdir, &n, 1);
		/* Not empty while another node's directory, or a kept one,
		 * or a note remains. */
		(void)unlinkat(own.fd, e->run_id, AT_REMOVEDIR);
		aml_identity_restore(&saved);
		as_owner = 0;
		ledger_forget(e->site, e->node, e->uid, e->run_id);
		fate = AML_RUNDIR_FATE_REMOVED;
		goto out;
	}

	{
		struct measure_arg m = { rdir, e->node, 0 };
		unsigned long long bytes = 0, total = 0;
		char size[32], max[32], bound[512] = "", answer[64];
		char sentence[2048];
		int complete = 0, kept;

		m.stop_ms = before(e->deadline_ms, STOP_MARGIN_MS);
		if (aml_bounded_call(e->uid, e->gid, e->deadline_ms,
				     measure_node, &m, answer,
				     sizeof(answer)) == 0)
			(void)sscanf(answer, "%llu %d", &bytes, &complete);
		kept = account(e, bytes, complete, &total, bound,
			       sizeof(bound), say_fn, ctx);
		if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
					sizeof(errbuf)) < 0)
			goto said;
		as_owner = 1;
		if (kept) {
			drop_markers(rdir, &n, 0);
			if (write_undelivered(rdir, &n, e, why, 0) < 0)
				say(say_fn, ctx, LOG_ERR, "run %s: %s/%s/%s: "
				    "cannot write (aml-epilog will not find "
				    "it): %s", e->run_id, own.path, e->run_id,
				    n.undelivered, strerror(errno));
			say(say_fn, ctx, LOG_WARNING, "run %s: outputs of node "
			    "%s not delivered (%s); kept in %s until they are "
			    "(aml-epilog retries at every job's end)",
			    e->run_id, e->node, why, where);
			fate = AML_RUNDIR_FATE_KEPT;
			goto out;
		}
		aml_format_bytes(bytes, size, sizeof(size));
		format_conf_size(e->site->kept_run_dir_max, max, sizeof(max));
		snprintf(sentence, sizeof(sentence), "run %s: outputs of node %s "
			 "(%s%s) not delivered and removed: kept run "
			 "directories on this node would exceed "
			 "KeptRunDirMax=%s%s%s%s; %s", e->run_id, e->node,
			 complete ? "" : "at least ", size, max,
			 *bound ? " (" : "", bound, *bound ? ")" : "", why);
		one_line(sentence);
		if (aml_tree_remove(rdir, e->node) < 0)
			say(say_fn, ctx, LOG_ERR, "run %s: cannot remove %s: %s",
			    e->run_id, where, strerror(errno));
		drop_markers(rdir, &n, 1);
		aml_identity_restore(&saved);
		as_owner = 0;
		{
			struct note_arg a = {
				.site = e->site, .run_id = e->run_id,
				.node = e->node, .experiment = e->experiment,
				.tracking = e->tracking_id,
				.sentence = sentence,
			};
			char note_err[1024];

			r = aml_bounded_call(e->uid, e->gid,
					     aml_monotonic_ms() +
						     AML_HISTORY_OWNED_WRITE_MS,
					     record_loss, &a, note_err,
					     sizeof(note_err));
			aml_format_bytes(total, size, sizeof(size));
			say(say_fn, ctx, LOG_ERR, "%s (the admin can raise "
			    "KeptRunDirMax, of which %s is kept on this node, "
			    "or bring run history back, so that what is kept "
			    "is delivered); %s%s%s", sentence, size,
			    r == 0 ? "recorded in the run as "
				     AML_PROP_OUTPUTS_LOST
				   : "the run is told once run history is "
				     "back (" AML_RUNDIR_LOST,
			    e->node, r == 0 ? "" : ")");
			if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
						sizeof(errbuf)) < 0)
				goto said;
			as_owner = 1;
			if (r != 0 && write_lost(rdir, &n, e, sentence) < 0)
				say(say_fn, ctx, LOG_ERR, "run %s: %s/%s/%s: "
				    "cannot write: %s", e->run_id, own.path,
				    e->run_id, n.lost, strerror(errno));
			(void)unlinkat(own.fd, e->run_id, AT_REMOVEDIR);
		}
		fate = AML_RUNDIR_FATE_LOST;
		goto out;
	}
said:
	say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s", e->run_id, errbuf);
out:
	if (rdir >= 0)
		close(rdir);
	aml_userdir_close(&own);
	if (as_owner)
		aml_identity_restore(&saved);
	return fate;
}

/* ---------------------------------------------------------------------- */
/* aml-epilog: every kept directory on the node, each user's as the user  */

/* How old a ledger entry must be before a round that did not see its
 * directory drops it: the SPANK epilog counts a directory just before
 * it marks it. */
#define PRUNE_AGE_MS 60000

struct kept_key {
	char run_id[AML_RUNID_MAX];
	char node[NODE_MAX];
	int gone;                 /* delivered and removed this round */
};

/* What a user's child did, written as it goes and read by the parent
 * (MAP_SHARED): a child stopped at its deadline leaves what it had
 * done, with complete 0. */
struct report {
	int complete;             /* every tree seen whole, every kept
				   * directory listed in keys */
	size_t kept, delivered, noted, waiting, skipped, said;
	size_t n_lines, more_lines;
	int levels[REPORT_LINES];
	char lines[REPORT_LINES][REPORT_LINE_MAX];
	size_t n_keys;
	int keys_overflow;
	struct kept_key keys[REPORT_KEPT_MAX];
};

struct retry_arg {
	const struct aml_site *site;
	const char *node;         /* NULL: every node */
	const struct aml_userdir_entry *const *trees;
	size_t n_trees;
	int64_t stop_ms;
	struct report *rep;
};

static void report_line(struct report *rep, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report_line(struct report *rep, int level, const char *fmt, ...)
{
	va_list ap;

	if (rep->n_lines >= REPORT_LINES) {
		rep->more_lines++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(rep->lines[rep->n_lines], REPORT_LINE_MAX, fmt, ap);
	va_end(ap);
	rep->levels[rep->n_lines] = level;
	rep->n_lines++;
}

static void report_key(struct report *rep, const char *run_id,
		       const char *node, int gone)
{
	struct kept_key *k;

	if (rep->n_keys >= REPORT_KEPT_MAX) {
		rep->keys_overflow = 1;
		return;
	}
	k = &rep->keys[rep->n_keys];
	snprintf(k->run_id, sizeof(k->run_id), "%s", run_id);
	snprintf(k->node, sizeof(k->node), "%s", node);
	k->gone = gone;
	rep->n_keys++;
}

/* An odd entry of a user's tree, said SAID_MAX times a round at most. */
static void report_skip(struct report *rep, const char *path,
			const char *name, const char *why)
{
	char shown[SHOWN];

	rep->skipped++;
	if (rep->said++ >= SAID_MAX)
		return;
	aml_text_escape(name, shown, sizeof(shown));
	report_line(rep, LOG_WARNING, "%s/%s %s: skipped", path, shown, why);
}

/* One kept directory, .undelivered-<node> in [rdir]; as the owner. */
static void retry_kept(struct retry_arg *a, const char *path, int rdir,
		       const char *run_id, const char *node)
{
	struct report *rep = a->rep;
	struct run_name rn;
	struct names n;
	char text[MARKER_MAX], why[1024] = "", shown[SHOWN], *nl;
	struct deliver_arg d;

	if (make_names(&n, node) < 0)
		return;
	aml_text_escape(node, shown, sizeof(shown));
	rep->kept++;
	if (read_small(rdir, n.undelivered, text, sizeof(text)) < 0 ||
	    !(nl = strchr(text, '\n')) || parse_run_line(nl + 1, &rn) < 0) {
		/* Counted as kept all the same: it is on disk. */
		report_key(rep, run_id, node, 0);
		report_skip(rep, path, n.undelivered,
			    "is no marker slurm-aml wrote");
		return;
	}
	d.site = a->site;
	d.rdir = rdir;
	d.run_id = run_id;
	d.node = node;
	d.experiment = rn.experiment;
	d.tracking = rn.tracking;
	if (deliver_node(&d, why, sizeof(why)) != 0) {
		if (!rn.keep)
			report_key(rep, run_id, node, 0);
		rep->waiting++;
		report_line(rep, LOG_WARNING, "run %s: outputs of node %s still "
			    "not delivered (%s); kept in %s/%s/%s", run_id,
			    shown, why, path, run_id, shown);
		return;
	}
	if (rn.keep) {
		(void)unlinkat(rdir, n.undelivered, 0);
		rep->delivered++;
		report_line(rep, LOG_INFO, "run %s: outputs of node %s "
			    "delivered to run history; %s/%s/%s stays "
			    "(KeepFailedRunDir=yes)", run_id, shown, path,
			    run_id, shown);
		return;
	}
	if (aml_tree_remove(rdir, node) < 0) {
		/* Delivered, yet still on disk: the next round tries again
		 * (its uploads are then unchanged). */
		report_key(rep, run_id, node, 0);
		rep->waiting++;
		report_line(rep, LOG_ERR, "run %s: outputs of node %s delivered "
			    "to run history, but %s/%s/%s cannot be removed: "
			    "%s", run_id, shown, path, run_id, shown,
			    strerror(errno));
		return;
	}
	drop_markers(rdir, &n, 1);
	report_key(rep, run_id, node, 1);
	rep->delivered++;
	report_line(rep, LOG_INFO, "run %s: outputs of node %s delivered to run "
		    "history; %s/%s/%s removed", run_id, shown, path, run_id,
		    shown);
}

/* One .lost-<node> note in [rdir]; as the owner. */
static void retry_lost(struct retry_arg *a, const char *path, int rdir,
		       const char *run_id, const char *node)
{
	struct report *rep = a->rep;
	struct run_name rn;
	struct names n;
	struct note_arg na;
	char text[MARKER_MAX], why[1024] = "", shown[SHOWN], *nl;

	if (make_names(&n, node) < 0)
		return;
	aml_text_escape(node, shown, sizeof(shown));
	if (read_small(rdir, n.lost, text, sizeof(text)) < 0 ||
	    !(nl = strchr(text, '\n')) || nl == text ||
	    parse_run_line(nl + 1, &rn) < 0) {
		report_skip(rep, path, n.lost, "is no note slurm-aml wrote");
		return;
	}
	*nl = '\0';
	na.site = a->site;
	na.run_id = run_id;
	na.node = node;
	na.experiment = rn.experiment;
	na.tracking = rn.tracking;
	na.sentence = text;
	if (record_loss(&na, why, sizeof(why)) != 0) {
		rep->waiting++;
		report_line(rep, LOG_WARNING, "run %s: the loss of the outputs "
			    "of node %s cannot be recorded in the run yet (%s)",
			    run_id, shown, why);
		return;
	}
	(void)unlinkat(rdir, n.lost, 0);
	rep->noted++;
	report_line(rep, LOG_INFO, "run %s: the loss of the outputs of node %s "
		    "is recorded in the run (" AML_PROP_OUTPUTS_LOST "%s)",
		    run_id, shown, shown);
}

/* The markers of [rdir] this round looks at: "<prefix><node>". */
#define MARKERS_PER_RUN 64

/* One run's directory [run_id] in the tree [dfd] ([path]); as the owner.
 * Returns 0, or -1 when its markers could not all be seen. */
static int retry_run(struct retry_arg *a, int dfd, const char *path,
		     const char *run_id)
{
	static const char *const prefixes[] = { AML_RUNDIR_UNDELIVERED,
						AML_RUNDIR_LOST };
	char names[MARKERS_PER_RUN][NAME_MAX + 1];
	size_t n = 0, seen = 0, done;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rdir, whole = 1;

	rdir = open_dir_nofollow(dfd, run_id);
	if (rdir < 0) {
		if (errno == ELOOP)
			report_skip(a->rep, path, run_id,
				    "is a symbolic link (not followed)");
		return 0;
	}
	if (fstat(rdir, &st) < 0 ||
	    aml_trust_user_dir(&st, geteuid()) != AML_TRUSTED) {
		report_skip(a->rep, path, run_id,
			    "is not its user's alone");
		close(rdir);
		return 0;
	}
	/* Names first, acted on after: acting removes entries. */
	{
		int lfd = openat(rdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (lfd < 0 || !(d = fdopendir(lfd))) {
			if (lfd >= 0)
				close(lfd);
			close(rdir);
			return -1;
		}
	}
	while ((de = readdir(d))) {
		const char *node = NULL;
		size_t len;

		/* A run directory holds a few entries; one its user filled
		 * with more costs only this round's share. */
		if (++seen > SCAN_MAX || aml_monotonic_ms() >= a->stop_ms) {
			whole = 0;
			break;
		}
		for (size_t i = 0; i < 2 && !node; i++)
			if (!strncmp(de->d_name, prefixes[i],
				     strlen(prefixes[i])))
				node = de->d_name + strlen(prefixes[i]);
		if (!node)
			continue;
		len = strlen(node);
		/* A marker's temporary (<marker>.new) is no marker. */
		if (!aml_is_path_component(node) || len >= NODE_MAX ||
		    (len > 4 && !strcmp(node + len - 4, ".new")) ||
		    (a->node && strcmp(node, a->node)))
			continue;
		if (n == MARKERS_PER_RUN) {
			whole = 0;
			break;
		}
		snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(d);
	done = a->rep->delivered + a->rep->noted;
	for (size_t i = 0; i < n; i++) {
		int lost = names[i][1] == 'l';
		const char *node = names[i] + strlen(prefixes[lost]);

		if (aml_monotonic_ms() >= a->stop_ms) {
			whole = 0;
			/* Not looked at: still kept, as far as we know. */
			if (!lost)
				report_key(a->rep, run_id, node, 0);
			continue;
		}
		if (lost)
			retry_lost(a, path, rdir, run_id, node);
		else
			retry_kept(a, path, rdir, run_id, node);
	}
	close(rdir);
	/* Gone once this round emptied it; an empty one it did not touch
	 * may be a starting job's, whose node side is about to fill it. */
	if (a->rep->delivered + a->rep->noted > done)
		(void)unlinkat(dfd, run_id, AT_REMOVEDIR);
	return whole ? 0 : -1;
}

/* In the child, as the trees' owner: every tree of theirs.  0. */
static int retry_user(void *arg, char *errbuf, size_t errlen)
{
	struct retry_arg *a = arg;
	int whole = 1;

	(void)errbuf;
	(void)errlen;
	for (size_t t = 0; t < a->n_trees; t++) {
		const struct aml_userdir_entry *tr = a->trees[t];
		char path[PATH_MAX];
		struct dirent *de;
		struct stat st;
		size_t seen = 0;
		DIR *d;
		int dfd;

		snprintf(path, sizeof(path), "%s/%s", a->site->run_dir,
			 tr->name);
		/* Opened again as the owner: what root listed, the owner
		 * now reads, with the owner's rights only. */
		dfd = openat(tr->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fstat(dfd, &st) < 0 || st.st_uid != geteuid() ||
		    !(d = fdopendir(dfd))) {
			if (dfd >= 0)
				close(dfd);
			whole = 0;
			continue;
		}
		while ((de = readdir(d))) {
			if (aml_monotonic_ms() >= a->stop_ms) {
				whole = 0;
				break;
			}
			if (++seen > SCAN_MAX) {
				report_line(a->rep, LOG_WARNING, "%s: more than "
					    "%d entries; the rest wait for a "
					    "later round", path, SCAN_MAX);
				whole = 0;
				break;
			}
			/* Run ids are file names as they are (runid.h);
			 * anything else is not a run's. */
			if (!aml_runid_is_valid(de->d_name))
				continue;
			if (retry_run(a, dirfd(d), path, de->d_name) < 0)
				whole = 0;
		}
		closedir(d);
	}
	a->rep->complete = whole && !a->rep->keys_overflow;
	return 0;
}

/* Whether [key] ([run_id] on [node]) is among [rep]'s still kept. */
static int still_kept(const struct report *rep, const char *run_id,
		      const char *node)
{
	for (size_t i = 0; i < rep->n_keys; i++)
		if (!rep->keys[i].gone && !strcmp(rep->keys[i].run_id, run_id) &&
		    !strcmp(rep->keys[i].node, node))
			return 1;
	return 0;
}

/*
 * After [uid]'s round [rep]: drop from the ledger what it delivered, and,
 * when the round saw all of the user's trees, what it found kept no more
 * (removed by the user) unless younger than PRUNE_AGE_MS before
 * [started_ms].  As the ledger's owner.
 */
static void prune_ledger(const struct aml_site *site, const char *node,
			 uid_t uid, const struct report *rep,
			 int64_t started_ms)
{
	struct aml_userdir own;
	struct dirent *de;
	char ignored[512], uname[32];
	DIR *d = NULL;
	int lfd;

	for (size_t i = 0; i < rep->n_keys; i++)
		if (rep->keys[i].gone)
			ledger_forget(site, rep->keys[i].node, uid,
				      rep->keys[i].run_id);
	if (!rep->complete ||
	    ledger_root(site, 0, &own, ignored, sizeof(ignored)) < 0)
		return;
	snprintf(uname, sizeof(uname), "%lu", (unsigned long)uid);
	lfd = openat(own.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0 || !(d = fdopendir(lfd))) {
		if (lfd >= 0)
			close(lfd);
		aml_userdir_close(&own);
		return;
	}
	while ((de = readdir(d))) {
		struct dirent *ue;
		DIR *u;
		int nfd, ufd;

		if (de->d_name[0] == '.' || (node && strcmp(de->d_name, node)))
			continue;
		nfd = ledger_node(&own, de->d_name, 0, ignored,
				  sizeof(ignored));
		if (nfd < 0)
			continue;
		if (ledger_lock(nfd) < 0 ||
		    (ufd = openat(nfd, uname, O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC)) < 0) {
			close(nfd);
			continue;
		}
		if (!(u = fdopendir(ufd))) {
			close(ufd);
			close(nfd);
			continue;
		}
		while ((ue = readdir(u))) {
			struct stat st;
			int64_t mtime_ms;

			if (ue->d_name[0] == '.' ||
			    fstatat(dirfd(u), ue->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
				   st.st_mtim.tv_nsec / 1000000;
			if (mtime_ms < started_ms - PRUNE_AGE_MS &&
			    !still_kept(rep, ue->d_name, de->d_name))
				(void)unlinkat(dirfd(u), ue->d_name, 0);
		}
		closedir(u);
		(void)unlinkat(nfd, uname, AT_REMOVEDIR);
		close(nfd);
	}
	closedir(d);
	aml_userdir_close(&own);
}

/* Whether RunDir's entry [name] ([st]) is a user's tree to go through;
 * says why not when that is worth saying. */
static int is_user_tree(struct report *said, const char *run_dir,
			const char *name, const struct stat *st,
			aml_node_rundir_say say_fn, void *ctx)
{
	char shown[SHOWN];
	const char *why;

	/* The ledger, ours. */
	if (aml_userdir_name_matches(name, LEDGER) && S_ISDIR(st->st_mode) &&
	    st->st_uid == geteuid())
		return 0;
	/* Threat: anyone may make anything in RunDir; the name proves
	 * nothing, the owner decides (userdir.h). */
	if (aml_trust_user_dir(st, st->st_uid) == AML_TRUSTED &&
	    st->st_uid != 0)
		return geteuid() == 0 || st->st_uid == geteuid();
	if (S_ISLNK(st->st_mode))
		why = "is a symbolic link (not followed)";
	else if (!S_ISDIR(st->st_mode))
		why = "is not a directory";
	else if (st->st_uid == 0)
		why = "belongs to root, not to a user";
	else
		why = "is open to group or others";
	said->skipped++;
	if (said->said++ < SAID_MAX) {
		aml_text_escape(name, shown, sizeof(shown));
		say(say_fn, ctx, LOG_WARNING, "%s/%s (uid %lu) %s: skipped, no "
		    "user's run directories", run_dir, shown,
		    (unsigned long)st->st_uid, why);
	}
	return 0;
}

struct tree_judge {
	struct report *said;
	const char *run_dir;
	aml_node_rundir_say say_fn;
	void *ctx;
};

static int keep_tree(void *ctx, const char *name, const struct stat *st)
{
	struct tree_judge *j = ctx;

	return is_user_tree(j->said, j->run_dir, name, st, j->say_fn, j->ctx);
}

/* RunDir's users' trees, sorted by name. */
static int scan_trees(const struct aml_site *site, struct report *said,
		      struct aml_userdir_entry **list, size_t *n,
		      aml_node_rundir_say say_fn, void *ctx, char *errbuf,
		      size_t errlen)
{
	struct tree_judge j = { said, site->run_dir, say_fn, ctx };
	int root, r, e, more;

	*list = NULL;
	*n = 0;
	root = open_run_root(site->run_dir, errbuf, errlen);
	if (root < 0)
		return -1;
	r = aml_userdir_scan(root, SCAN_MAX, keep_tree, &j, list, n, &more);
	e = errno;
	close(root);
	if (r < 0)
		return aml_fail(errbuf, errlen, "RunDir %s: %s", site->run_dir,
				strerror(e));
	if (more)
		say(say_fn, ctx, LOG_WARNING, "RunDir %s: more than %d "
		    "entries; the rest wait for a later round", site->run_dir,
		    SCAN_MAX);
	if (said->said > SAID_MAX)
		say(say_fn, ctx, LOG_WARNING, "RunDir %s: %zu more entries "
		    "skipped", site->run_dir, said->said - SAID_MAX);
	return 0;
}

int aml_node_rundirs_retry(const struct aml_site *site, const char *node,
			   unsigned start, int64_t deadline_ms,
			   struct aml_node_rundir_stats *stats,
			   aml_node_rundir_say say_fn, void *ctx, char *errbuf,
			   size_t errlen)
{
	struct aml_node_rundir_stats local;
	struct report said = { 0 }, *rep;
	const struct aml_userdir_entry **mine = NULL;
	struct aml_userdir_entry *list = NULL;
	uid_t *uids = NULL;
	size_t n = 0, n_uids = 0;
	int rc = -1;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (node && !aml_is_path_component(node))
		return aml_fail(errbuf, errlen, "node name \"%s\" cannot name a "
				"run directory's marker", node);
	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED)
		return aml_fail(errbuf, errlen, "mmap: %s", strerror(errno));
	if (scan_trees(site, &said, &list, &n, say_fn, ctx, errbuf,
		       errlen) < 0)
		goto out;
	stats->users = n;
	stats->skipped = said.skipped;
	uids = calloc(n ? n : 1, sizeof(*uids));
	mine = calloc(n ? n : 1, sizeof(*mine));
	if (!uids || !mine) {
		aml_fail(errbuf, errlen, "out of memory");
		goto out;
	}
	/* Users in the order of their trees' names, each once. */
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < n_uids && uids[j] != list[i].uid)
			j++;
		if (j == n_uids)
			uids[n_uids++] = list[i].uid;
	}
	for (size_t k = 0; k < n_uids; k++) {
		uid_t uid = uids[(start + k) % n_uids];
		int64_t now = aml_monotonic_ms(), until, share;
		int64_t started = realtime_ms();
		struct retry_arg a;
		char msg[1024];
		size_t n_mine = 0;
		gid_t gid = 0;
		int res;

		if (now >= deadline_ms) {
			say(say_fn, ctx, LOG_WARNING, "RunDir %s: out of time "
			    "with %zu users' kept run directories not tried; "
			    "they wait for a later round", site->run_dir,
			    n_uids - k);
			break;
		}
		share = (deadline_ms - now) / (int64_t)(n_uids - k);
		if (share < AML_NODE_RUNDIR_USER_MIN_MS)
			share = AML_NODE_RUNDIR_USER_MIN_MS;
		until = now + share < deadline_ms ? now + share : deadline_ms;
		for (size_t i = 0; i < n; i++)
			if (list[i].uid == uid) {
				mine[n_mine++] = &list[i];
				gid = list[i].gid;
			}
		memset(rep, 0, sizeof(*rep));
		a.site = site;
		a.node = node;
		a.trees = mine;
		a.n_trees = n_mine;
		a.stop_ms = before(until, STOP_MARGIN_MS);
		a.rep = rep;
		res = aml_bounded_call(uid, aml_primary_gid(uid, gid), until,
				       retry_user, &a, msg, sizeof(msg));
		for (size_t i = 0; i < rep->n_lines && i < REPORT_LINES; i++)
			if (say_fn) {
				rep->lines[i][REPORT_LINE_MAX - 1] = '\0';
				say_fn(ctx, rep->levels[i], rep->lines[i]);
			}
		if (rep->more_lines)
			say(say_fn, ctx, LOG_WARNING, "uid %lu: %zu more lines "
			    "not said", (unsigned long)uid, rep->more_lines);
		stats->kept += rep->kept;
		stats->delivered += rep->delivered;
		stats->noted += rep->noted;
		stats->waiting += rep->waiting;
		stats->skipped += rep->skipped;
		if (res == AML_BOUNDED_TIMEOUT)
			say(say_fn, ctx, LOG_WARNING, "RunDir %s (uid %lu): not "
			    "done within %lld ms (run history hangs, or too "
			    "much to deliver): stopped; the rest waits for a "
			    "later round", site->run_dir, (unsigned long)uid,
			    (long long)share);
		else if (res != 0)
			say(say_fn, ctx, LOG_WARNING, "RunDir %s (uid %lu): %s",
			    site->run_dir, (unsigned long)uid, msg);
		else
			prune_ledger(site, node, uid, rep, started);
	}
	rc = 0;
out:
	aml_userdir_scan_free(list, n);
	free(uids);
	free(mine);
	munmap(rep, sizeof(*rep));
	return rc;
}
