/*
 * node_rundir.c: a run's directory on a node (node_rundir.h): its place
 * in RunDir, its markers and their small files.  The end of a job on the
 * node is node_rundir_end.c, the ledger of what a node keeps
 * node_ledger.c, aml-epilog's retry of kept directories
 * node_rundir_retry.c (node_rundir_internal.h).
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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dirtrust.h"
#include "errors.h"
#include "event.h"
#include "fdio.h"
#include "job_env.h"
#include "launch.h"
#include "node_rundir_internal.h"
#include "runid.h"

int64_t nr_realtime_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------- */
/* The layout                                                             */

/*
 * RunDir is the admin's, shared by every user: a user's directory in it
 * must not be renamed away by anyone else, which the sticky bit (or
 * nobody else being able to write it) guarantees.
 */
int nr_open_run_root(const char *run_dir, char *errbuf, size_t errlen)
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
	int root = nr_open_run_root(run_dir, errbuf, errlen), r, e;

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
ssize_t nr_read_small(int dirfd, const char *name, char *buf, size_t cap)
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
int nr_open_dir_nofollow(int dirfd, const char *name)
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
int nr_write_small(int dirfd, const char *name, const char *text)
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

	if (nr_read_small(rdir, name, text, sizeof(text)) < 0)
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
	return nr_write_small(rdir, name, text);
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
	aml_event_format_time(nr_realtime_ms(), when, sizeof(when));
	snprintf(text, sizeof(text), "job %u attempt %u %s\n",
		 (unsigned)job_id, attempt, when);
	if (nr_write_small(rdir, name, text) < 0) {
		aml_fail(errbuf, errlen, "%s/../%s: cannot write: %s", workdir,
			 name, strerror(errno));
		goto out;
	}
	r = 0;
out:
	close(rdir);
	return r;
}

/* ---------------------------------------------------------------------- */
/* What run history knows a run by, in a marker                           */

/* The "run <experiment> <tracking> keep <n>" line (keep optional), each
 * value checked for its form ('-': not known).  0, or -1. */
int nr_parse_run_line(const char *line, struct run_name *rn)
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

void nr_format_run_line(char *buf, size_t len, const char *experiment,
			const char *tracking, int keep)
{
	snprintf(buf, len, "run %s %s keep %d\n",
		 experiment && *experiment ? experiment : "-",
		 tracking && *tracking ? tracking : "-", keep ? 1 : 0);
}
