/*
 * run_folders.c: ./outputs, ./logs and the declared output folders of a
 * run (run_folders.h).
 */
#include "run_folders.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "job_env.h"

#define OUTPUTS "outputs"
#define LOGS "logs"

int aml_run_folder_name_ok(const char *name)
{
	return name && strlen(name) <= AML_RUN_FOLDER_NAME_MAX &&
	       aml_is_env_name(name);
}

int aml_run_folder_ok(const char *rel)
{
	if (!rel)
		return 0;
	if (!strcmp(rel, OUTPUTS) || !strcmp(rel, LOGS))
		return 1;
	return !strncmp(rel, OUTPUTS "/", sizeof(OUTPUTS)) &&
	       aml_run_folder_name_ok(rel + sizeof(OUTPUTS));
}

int aml_run_folders_list(const struct aml_strlist *names,
			 struct aml_strlist *out)
{
	char path[sizeof(OUTPUTS) + AML_RUN_FOLDER_NAME_MAX + 1];

	if (aml_strlist_push(out, OUTPUTS) < 0 ||
	    aml_strlist_push(out, LOGS) < 0)
		goto oom;
	for (size_t i = 0; names && i < names->count; i++) {
		if (!aml_run_folder_name_ok(names->items[i])) {
			aml_strlist_free(out);
			errno = EINVAL;
			return -1;
		}
		snprintf(path, sizeof(path), OUTPUTS "/%s", names->items[i]);
		if (aml_strlist_push(out, path) < 0)
			goto oom;
	}
	return 0;
oom:
	aml_strlist_free(out);
	errno = ENOMEM;
	return -1;
}

char *aml_run_folders_join(const struct aml_strlist *dirs)
{
	size_t len = 1;
	char *text, *p;

	for (size_t i = 0; i < dirs->count; i++)
		len += strlen(dirs->items[i]) + 1;
	if (!(text = p = malloc(len)))
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < dirs->count; i++)
		p += sprintf(p, "%s%s", i ? ":" : "", dirs->items[i]);
	return text;
}

int aml_run_folders_split(const char *value, struct aml_strlist *out,
			  char *errbuf, size_t errlen)
{
	const char *p = value;

	while (p && *p) {
		size_t n = strcspn(p, ":");
		char *one = strndup(p, n);

		if (!one) {
			aml_strlist_free(out);
			return aml_fail(errbuf, errlen, "out of memory");
		}
		if (!aml_run_folder_ok(one)) {
			aml_fail(errbuf, errlen,
				 "%s names \"%.300s\", which is no run folder "
				 "(outputs, logs or outputs/NAME of letters, "
				 "digits and '_')",
				 AML_ENV_OUTPUT_DIRS, one);
			free(one);
			aml_strlist_free(out);
			return -1;
		}
		if (aml_strlist_push(out, one) < 0) {
			free(one);
			aml_strlist_free(out);
			return aml_fail(errbuf, errlen, "out of memory");
		}
		free(one);
		p += n;
		if (*p == ':')
			p++;
	}
	return 0;
}

/*
 * [name] in the directory [dirfd], made unless it is there, opened
 * without following a link; [shown] is its path from the working
 * directory, for messages.  Returns the descriptor or -1 with errbuf.
 */
static int open_folder(int dirfd, const char *name, const char *shown,
		       char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	if (mkdirat(dirfd, name, 0777) < 0 && errno != EEXIST)
		return aml_fail(errbuf, errlen,
				"cannot make the folder %s in the run's working directory: %s",
				shown, strerror(errno));
	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC |
			    O_NONBLOCK);
	if (fd >= 0)
		return fd;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return aml_fail(errbuf, errlen,
				"%s is a symbolic link in the run's snapshot; Azure ML makes it a folder for the run's files: remove the link from the source directory (or list it in .amlignore)",
				shown);
	if (errno == ENOTDIR)
		return aml_fail(errbuf, errlen,
				"%s is a file in the run's snapshot, not a folder; Azure ML makes it a folder for the run's files: remove it from the source directory (or list it in .amlignore)",
				shown);
	return aml_fail(errbuf, errlen,
			"cannot open the folder %s in the run's working directory: %s",
			shown, strerror(errno));
}

/* The caller writes into [fd]'s folder: a folder the snapshot installed
 * read-only is the caller's own, so it gets u+rwx rather than failing
 * the command's first write. */
static int make_writable(int fd, const char *shown, char *errbuf,
			 size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return aml_fail(errbuf, errlen, "%s: %s", shown,
				strerror(errno));
	if (st.st_uid != geteuid())
		return aml_fail(errbuf, errlen,
				"the folder %s in the run's working directory belongs to uid %lu, not to the run's user",
				shown, (unsigned long)st.st_uid);
	if ((st.st_mode & S_IRWXU) != S_IRWXU &&
	    fchmod(fd, (st.st_mode & 07777) | S_IRWXU) < 0)
		return aml_fail(errbuf, errlen,
				"cannot let the run write in %s: %s", shown,
				strerror(errno));
	return 0;
}

/* [rel] ("outputs/model") below [workdir_fd], one component at a time. */
static int make_one(int workdir_fd, const char *rel, char *errbuf,
		    size_t errlen)
{
	char shown[sizeof(OUTPUTS) + AML_RUN_FOLDER_NAME_MAX + 1];
	const char *p = rel;
	int dirfd = workdir_fd, fd = -1;

	while (*p) {
		size_t n = strcspn(p, "/");
		char name[AML_RUN_FOLDER_NAME_MAX + 1];

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		snprintf(shown, sizeof(shown), "%.*s", (int)(p - rel + n),
			 rel);
		fd = open_folder(dirfd, name, shown, errbuf, errlen);
		if (dirfd != workdir_fd)
			close(dirfd);
		if (fd < 0)
			return -1;
		if (make_writable(fd, shown, errbuf, errlen) < 0) {
			close(fd);
			return -1;
		}
		dirfd = fd;
		p += n;
		if (*p == '/')
			p++;
	}
	if (dirfd != workdir_fd)
		close(dirfd);
	return 0;
}

int aml_run_folders_make(int workdir_fd, const struct aml_strlist *dirs,
			 char *errbuf, size_t errlen)
{
	static const char *const always[] = { OUTPUTS, LOGS };

	for (size_t i = 0; i < sizeof(always) / sizeof(*always); i++)
		if (make_one(workdir_fd, always[i], errbuf, errlen) < 0)
			return -1;
	for (size_t i = 0; dirs && i < dirs->count; i++) {
		if (!aml_run_folder_ok(dirs->items[i]))
			return aml_fail(errbuf, errlen,
					"\"%.300s\" is no run folder (outputs, logs or outputs/NAME)",
					dirs->items[i]);
		if (make_one(workdir_fd, dirs->items[i], errbuf, errlen) < 0)
			return -1;
	}
	return 0;
}
