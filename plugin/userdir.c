/*
 * userdir.c: a user's own directory inside a shared one (userdir.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "dirtrust.h"
#include "fdio.h"
#include "random.h"
#include "userdir.h"

#define SUFFIX_HEX 8

int aml_userdir_name_matches(const char *entry, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(entry, name, n))
		return 0;
	if (entry[n] == '\0')
		return 1;
	if (entry[n] != '.' || strlen(entry + n + 1) != SUFFIX_HEX)
		return 0;
	for (const char *p = entry + n + 1; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

void aml_userdir_default_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *found = NULL;
	char pwbuf[1024];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found &&
	    found->pw_name[0] && found->pw_name[0] != '.' &&
	    !strchr(found->pw_name, '/') &&
	    strlen(found->pw_name) <= NAME_MAX - 1 - SUFFIX_HEX)
		snprintf(buf, len, "%s", found->pw_name);
	else
		snprintf(buf, len, "%lu", (unsigned long)uid);
}

void aml_userdir_close(struct aml_userdir *ud)
{
	if (ud->fd >= 0)
		close(ud->fd);
	ud->fd = -1;
	free(ud->path);
	ud->path = NULL;
}

static int set_path(struct aml_userdir *ud, const char *parent_path,
		    const char *entry)
{
	size_t n = strlen(parent_path);

	free(ud->path);
	if (asprintf(&ud->path, "%s%s%s", parent_path,
		     n && parent_path[n - 1] == '/' ? "" : "/", entry) < 0) {
		ud->path = NULL;
		return -1;
	}
	return 0;
}

/* Open [entry] itself (a symlink is opened as the link, so fstat sees
 * it, not where it points) and stat it.  -1 with errno. */
static int open_entry(int parentfd, const char *entry, struct stat *st)
{
	int fd = openat(parentfd, entry, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Why the user's own [path] is refused. */
static int refuse_own(const struct stat *st, const char *path,
		      char *errbuf, size_t errlen)
{
	if (S_ISLNK(st->st_mode))
		return aml_fail(errbuf, errlen, "%s: is a symbolic link: "
				"refused (it must be a real directory)", path);
	if (!S_ISDIR(st->st_mode))
		return aml_fail(errbuf, errlen, "%s: is not a directory: "
				"refused", path);
	return aml_fail(errbuf, errlen, "%s: is open to group or others "
			"(mode %04o): refused", path,
			(unsigned)(st->st_mode & 07777));
}

/*
 * Make [entry] with exactly [mode]: the umask of whoever creates it
 * first must not decide who may enter it.  0 (it exists now, made by us
 * or by a concurrent process), or -1 with errno.
 */
static int make_entry(int parentfd, const char *entry, uid_t uid,
		      mode_t mode)
{
	struct stat st;
	int fd;

	if (mkdirat(parentfd, entry, mode & 0777) < 0)
		return errno == EEXIST ? 0 : -1;
	fd = openat(parentfd, entry,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_uid == uid)
		(void)fchmod(fd, mode);
	close(fd);
	return 0;
}

/* The first good <name>.<hex> of [uid] in name order, or -1 (errno
 * ENOENT when there is none). */
static int find_suffixed(int parentfd, const char *name, uid_t uid,
			 mode_t deny, char *chosen, size_t chosen_len)
{
	struct dirent *de;
	int dfd, best = -1;
	DIR *d;

	dfd = openat(parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	chosen[0] = '\0';
	while ((de = readdir(d))) {
		struct stat st;
		int fd;

		if (!aml_userdir_name_matches(de->d_name, name) ||
		    !strcmp(de->d_name, name) ||
		    (chosen[0] && strcmp(de->d_name, chosen) >= 0))
			continue;
		/* Names a squatter made by the thousand cost one stat each,
		 * not an open. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    aml_trust_own_dir(&st, uid, deny) != AML_TRUSTED)
			continue;
		fd = open_entry(dirfd(d), de->d_name, &st);
		if (fd < 0)
			continue;
		if (aml_trust_own_dir(&st, uid, deny) != AML_TRUSTED) {
			close(fd);
			continue;
		}
		if (best >= 0)
			close(best);
		best = fd;
		snprintf(chosen, chosen_len, "%s", de->d_name);
	}
	closedir(d);
	if (best < 0)
		errno = ENOENT;
	return best;
}

int aml_userdir_open(int parentfd, const char *parent_path, const char *name,
		     uid_t uid, mode_t mode, mode_t deny, int create,
		     struct aml_userdir *ud, char *errbuf, size_t errlen)
{
	char entry[NAME_MAX + 1];
	struct stat st;
	int fd, tries;

	ud->fd = -1;
	ud->path = NULL;
	if (!*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, "..") || strlen(name) > NAME_MAX - 1 - SUFFIX_HEX)
		return aml_fail(errbuf, errlen, "%s: \"%s\" cannot name a "
				"directory of its own", parent_path, name);
	/* Twice: a concurrent process of the user may make it between our
	 * open and our mkdir. */
	for (tries = 0; tries < 2; tries++) {
		fd = open_entry(parentfd, name, &st);
		if (fd >= 0 && st.st_uid == uid) {
			if (set_path(ud, parent_path, name) < 0) {
				close(fd);
				return aml_fail(errbuf, errlen, "out of memory");
			}
			if (aml_trust_own_dir(&st, uid, deny) != AML_TRUSTED) {
				close(fd);
				refuse_own(&st, ud->path, errbuf, errlen);
				aml_userdir_close(ud);
				errno = EPERM;
				return -1;
			}
			ud->fd = fd;
			return 0;
		}
		if (fd >= 0) {
			close(fd);
			break; /* someone else's: look for our own elsewhere */
		}
		if (errno != ENOENT)
			return aml_fail(errbuf, errlen, "%s/%s: %s", parent_path,
					name, strerror(errno));
		if (!create)
			break;
		if (make_entry(parentfd, name, uid, mode) < 0)
			return aml_fail(errbuf, errlen, "%s/%s: cannot create: "
					"%s", parent_path, name,
					strerror(errno));
	}
	for (tries = 0; tries < 2; tries++) {
		unsigned int rnd;
		int e;

		fd = find_suffixed(parentfd, name, uid, deny, entry,
				   sizeof(entry));
		if (fd >= 0) {
			if (set_path(ud, parent_path, entry) < 0) {
				close(fd);
				return aml_fail(errbuf, errlen, "out of memory");
			}
			ud->fd = fd;
			return 0;
		}
		e = errno;
		if (e != ENOENT)
			return aml_fail(errbuf, errlen, "%s: cannot read: %s",
					parent_path, strerror(e));
		if (!create) {
			aml_fail(errbuf, errlen, "%s%s%s: %s", parent_path,
				 parent_path[0] && parent_path[strlen(
					 parent_path) - 1] == '/' ? "" : "/",
				 name, strerror(ENOENT));
			errno = ENOENT;
			return -1;
		}
		if (aml_random(&rnd, sizeof(rnd)) < 0)
			return aml_fail(errbuf, errlen, "getrandom: %s",
					strerror(errno));
		snprintf(entry, sizeof(entry), "%s.%08x", name, rnd);
		if (make_entry(parentfd, entry, uid, mode) < 0)
			return aml_fail(errbuf, errlen, "%s/%s: cannot create: "
					"%s", parent_path, entry,
					strerror(errno));
	}
	return aml_fail(errbuf, errlen, "%s: cannot make a directory of uid "
			"%lu named %s", parent_path, (unsigned long)uid, name);
}

static int entry_by_name(const void *a, const void *b)
{
	return strcmp(((const struct aml_userdir_entry *)a)->name,
		      ((const struct aml_userdir_entry *)b)->name);
}

int aml_userdir_scan(int parentfd, size_t max, aml_userdir_keep_fn keep,
		     void *ctx, struct aml_userdir_entry **list, size_t *n,
		     int *more)
{
	struct aml_userdir_entry *got = NULL;
	size_t cap = 0, count = 0, seen = 0;
	struct dirent *de;
	DIR *d;
	/* A descriptor to list, of our own ([parentfd] may be O_PATH). */
	int fd = openat(parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*list = NULL;
	*n = 0;
	*more = 0;
	if (fd < 0)
		return -1;
	if (!(d = fdopendir(fd))) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int entry, moved;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++seen > max) {
			*more = 1;
			break;
		}
		entry = openat(dirfd(d), de->d_name,
			       O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (entry < 0)
			continue;
		moved = aml_fd_above_stdio(entry);
		if (moved < 0) {
			close(entry);
			continue;
		}
		entry = moved;
		if (fstat(entry, &st) < 0 || !keep(ctx, de->d_name, &st)) {
			close(entry);
			continue;
		}
		if (count == cap) {
			struct aml_userdir_entry *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(got, cap * sizeof(*got));
			if (!grown) {
				close(entry);
				break;
			}
			got = grown;
		}
		got[count].fd = entry;
		got[count].uid = st.st_uid;
		got[count].gid = st.st_gid;
		snprintf(got[count].name, sizeof(got[count].name), "%s",
			 de->d_name);
		count++;
	}
	closedir(d);
	if (count > 1)
		qsort(got, count, sizeof(*got), entry_by_name);
	*list = got;
	*n = count;
	return 0;
}

void aml_userdir_scan_free(struct aml_userdir_entry *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		if (list[i].fd >= 0)
			close(list[i].fd);
	free(list);
}
