/*
 * tree.c: see tree.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tree.h"

#define PASSES 3

static int is_dot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* [name] in [parent] as a directory to list, or -1 with errno (ENOTDIR
 * or ELOOP when it is not one, or a symlink). */
static int open_listable(int parent, const char *name)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(parent, name, flags);

	struct stat st;

	/* Its owner made it unreadable.  chmod(2) by name follows a
	 * symlink swapped in after the fstatat, so root (who meets EACCES
	 * only where root is squashed, on NFS) never does it; anyone else
	 * can only chmod their own files that way, which gains nothing.
	 * (AT_SYMLINK_NOFOLLOW needs /proc/self/fd, closed to a process
	 * that switched from root to its user.) */
	if (fd < 0 && errno == EACCES && geteuid() != 0 &&
	    fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == geteuid()) {
		if (fchmodat(parent, name, (st.st_mode & 07777) | S_IRWXU,
			     0) == 0)
			fd = openat(parent, name, flags);
		else
			errno = EACCES;
	}
	return fd;
}

/* One pass over the entries of [fd] (consumed); 0, or -1 with errno of
 * the first failure, after trying every entry. */
static int remove_entries(int fd, int depth);

static int remove_at(int parent, const char *name, int depth)
{
	struct stat st;

	for (int pass = 0; pass < PASSES; pass++) {
		int fd = open_listable(parent, name);

		if (fd < 0) {
			if (errno == ENOENT)
				return 0;
			if (errno != ENOTDIR && errno != ELOOP)
				return -1;
			/* Not a directory, or a symlink: removed itself. */
			return unlinkat(parent, name, 0) == 0 ||
					       errno == ENOENT
				       ? 0
				       : -1;
		}
		if (depth > AML_TREE_DEPTH_MAX) {
			close(fd);
			errno = ELOOP;
			return -1;
		}
		/* Writable and searchable by its owner, or its entries
		 * cannot go. */
		if (fstat(fd, &st) == 0 &&
		    (st.st_mode & S_IRWXU) != S_IRWXU)
			(void)fchmod(fd, (st.st_mode & 07777) | S_IRWXU);
		if (remove_entries(fd, depth) < 0) {
			int err = errno;

			/* Whatever could go is gone; this one cannot. */
			(void)unlinkat(parent, name, AT_REMOVEDIR);
			errno = err;
			return -1;
		}
		if (unlinkat(parent, name, AT_REMOVEDIR) == 0 ||
		    errno == ENOENT)
			return 0;
		if (errno != ENOTEMPTY && errno != EEXIST)
			return -1;
	}
	return -1;
}

static int remove_entries(int fd, int depth)
{
	struct dirent *de;
	int first_err = 0;
	DIR *dir = fdopendir(fd);

	if (!dir) {
		first_err = errno;
		close(fd);
		errno = first_err;
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno && !first_err)
				first_err = errno;
			break;
		}
		if (is_dot(de->d_name))
			continue;
		if (remove_at(dirfd(dir), de->d_name, depth + 1) < 0 &&
		    !first_err)
			first_err = errno;
	}
	closedir(dir);
	errno = first_err;
	return first_err ? -1 : 0;
}

int aml_tree_remove(int parent, const char *name)
{
	return remove_at(parent, name, 0);
}
