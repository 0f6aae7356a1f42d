/*
 * history_module.c: loading a backend module (see history_module.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "history_module.h"

/* One entry of the path: root's, and no one else may change it. */
static int entry_is_secure(const char *path, const struct stat *st,
			   char *errbuf, size_t errlen)
{
	if (st->st_uid != 0)
		return aml_fail(errbuf, errlen, "%s belongs to uid %u, not root",
				path, (unsigned)st->st_uid);
	if (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
		return 0;
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return aml_fail(errbuf, errlen,
				"%s is writable by %s (mode %04o)", path,
				(st->st_mode & S_IWOTH) ? "others" : "its group",
				(unsigned)(st->st_mode & 07777));
	return 0;
}

int aml_history_module_is_secure(const char *path, char *errbuf,
				 size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	int fd;

	if (path[0] != '/')
		return aml_fail(errbuf, errlen, "%s is not an absolute path",
				path);
	/* The file itself through the descriptor, so a symlink is never
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
	if (entry_is_secure(path, &st, errbuf, errlen) < 0)
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
		if (entry_is_secure(dir, &st, errbuf, errlen) < 0)
			return -1;
		if (!strcmp(dir, "/"))
			return 0;
	}
}

/* Whether [m] comes from this build: otherwise the structures handed
 * across may not mean the same on both sides. */
static int same_build(const struct aml_history_module *m)
{
	const struct aml_history_module here = { AML_HISTORY_MODULE_BUILD };

	return m->version && !strcmp(m->version, here.version) &&
	       m->site_size == here.site_size &&
	       m->ops_size == here.ops_size &&
	       m->run_info_size == here.run_info_size &&
	       m->event_size == here.event_size && m->opener &&
	       m->opener->open;
}

int aml_history_module_load(const char *path,
			    const struct aml_history_opener **opener,
			    char *errbuf, size_t errlen)
{
	/* Loaded once; never unloaded, since the handles opened through
	 * it, and their operations, live in it. */
	static const struct aml_history_module *loaded;
	const struct aml_history_module *m;
	char why[768];
	void *handle;

	if (loaded) {
		*opener = loaded->opener;
		return 0;
	}
	if (aml_history_module_is_secure(path, why, sizeof(why)) < 0)
		return aml_fail(errbuf, errlen,
				"HistoryBackend=mlflow: not loading its module: %s",
				why);
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		return aml_fail(errbuf, errlen,
				"HistoryBackend=mlflow: cannot load %s: %s",
				path, dlerror());
	m = dlsym(handle, AML_MLFLOW_MODULE_SYMBOL);
	if (!m || !same_build(m)) {
		dlclose(handle);
		return aml_fail(errbuf, errlen,
				"HistoryBackend=mlflow: %s is %s of slurm-aml %s",
				path, m ? "not from this build" : "not the MLflow module",
				PACKAGE_VERSION);
	}
	loaded = m;
	*opener = m->opener;
	return 0;
}
