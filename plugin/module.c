/*
 * module.c: loading a module only root can have written (see module.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "module.h"

/* One entry of the path: root's (or [owner]'s), and no one else may
 * change it. */
static int entry_is_secure(const char *path, const struct stat *st,
			   uid_t owner, char *errbuf, size_t errlen)
{
	if (st->st_uid != 0 && st->st_uid != owner)
		return owner ? aml_fail(errbuf, errlen,
					"%s belongs to uid %u, neither root "
					"nor uid %u, who owns the program",
					path, (unsigned)st->st_uid,
					(unsigned)owner)
			     : aml_fail(errbuf, errlen,
					"%s belongs to uid %u, not root", path,
					(unsigned)st->st_uid);
	if (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
		return 0;
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return aml_fail(errbuf, errlen,
				"%s is writable by %s (mode %04o)", path,
				(st->st_mode & S_IWOTH) ? "others"
							: "its group",
				(unsigned)(st->st_mode & 07777));
	return 0;
}

int aml_module_is_secure(const char *path, uid_t owner, char *errbuf,
			 size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	int fd;

	if (path[0] != '/')
		return aml_fail(errbuf, errlen, "%s is not an absolute path",
				path);
	/* The file itself through a descriptor, so a symlink is never
	 * followed to it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return aml_fail(errbuf, errlen, "cannot open %s: %s", path,
				strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return aml_fail(errbuf, errlen, "cannot stat %s: %s", path,
				strerror(e));
	}
	close(fd);
	if (!S_ISREG(st.st_mode))
		return aml_fail(errbuf, errlen, "%s is not a regular file",
				path);
	if (entry_is_secure(path, &st, owner, errbuf, errlen) < 0)
		return -1;
	/* Then each directory above it, up to /, none of them followed if
	 * a symlink: a link root owns could still lead somewhere a user
	 * owns. */
	if (strlen(path) >= sizeof(dir))
		return aml_fail(errbuf, errlen, "%s: path too long", path);
	strcpy(dir, path);
	for (;;) {
		char *slash = strrchr(dir, '/');

		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (lstat(dir, &st) < 0)
			return aml_fail(errbuf, errlen, "cannot stat %s: %s",
					dir, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return aml_fail(errbuf, errlen,
					"%s is not a directory (a symlink?)",
					dir);
		if (entry_is_secure(dir, &st, owner, errbuf, errlen) < 0)
			return -1;
		if (!strcmp(dir, "/"))
			return 0;
	}
}

void *aml_module_load(const char *path, uid_t owner, const char *symbol,
		      char *errbuf, size_t errlen)
{
	void *handle, *sym;

	if (aml_module_is_secure(path, owner, errbuf, errlen) < 0)
		return NULL;
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		aml_fail(errbuf, errlen, "cannot load %s: %s", path,
			 dlerror());
		return NULL;
	}
	sym = dlsym(handle, symbol);
	if (!sym) {
		dlclose(handle);
		aml_fail(errbuf, errlen,
			 "%s is not a slurm-aml module: it has no %s", path,
			 symbol);
	}
	return sym;
}
