/*
 * node_ledger.c: the ledger of the run directories a node keeps, which
 * KeptRunDirMax bounds: <RunDir>/.aml-kept/<node>/<uid>/<run_id> =
 * "<bytes>", root's own (node_rundir.c says who adds and drops entries).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirtrust.h"
#include "errors.h"
#include "fdio.h"
#include "node_rundir_internal.h"

#define LEDGER_MAX 100000

/* <RunDir>/.aml-kept, the caller's own (userdir.h), made when [create].
 * 0 with [own], or -1 with errbuf (errno ENOENT: none, not [create]). */
int ledger_root(const struct aml_site *site, int create,
		struct aml_userdir *own, char *errbuf, size_t errlen)
{
	int root, r, e;

	own->fd = -1;
	own->path = NULL;
	root = nr_open_run_root(site->run_dir, errbuf, errlen);
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
int ledger_node(const struct aml_userdir *own, const char *node,
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
int ledger_open(const struct aml_site *site, const char *node,
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

int ledger_lock(int fd)
{
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* The bytes every entry of the node's ledger [fd] counts.  0, or -1. */
int ledger_sum(int fd, unsigned long long *total)
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
			    nr_read_small(dirfd(u), ue->d_name, text,
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
int ledger_put(int fd, uid_t uid, const char *run_id,
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
	r = nr_write_small(ufd, run_id, text);
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
void ledger_forget(const struct aml_site *site, const char *node,
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
