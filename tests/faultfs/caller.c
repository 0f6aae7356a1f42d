#define FUSE_USE_VERSION 31

#include "caller.h"

#include <errno.h>
#include <fuse.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

/* More than any user here is in; the kernel allows 65536. */
#define GROUPS_MAX 1024

static gid_t own_groups[GROUPS_MAX];
static int n_own_groups;

int caller_init(void)
{
	n_own_groups = getgroups(GROUPS_MAX, own_groups);
	return n_own_groups < 0 ? -1 : 0;
}

int caller_become(void)
{
	const struct fuse_context *ctx = fuse_get_context();
	gid_t groups[GROUPS_MAX];
	int n;

	/*
	 * default_permissions has the kernel check modes against all the
	 * caller's groups; the backing filesystem checks again and must
	 * agree.  A caller gone already has only its primary group left.
	 */
	n = fuse_getgroups(GROUPS_MAX, groups);
	if (n < 0 || n > GROUPS_MAX)
		n = 0;
	if (setgroups((size_t)n, groups) < 0)
		return -errno;
	setfsgid(ctx->gid);
	setfsuid(ctx->uid);
	/* setfsuid reports no error: ask again to see what took. */
	if ((uid_t)setfsuid(ctx->uid) != ctx->uid ||
	    (gid_t)setfsgid(ctx->gid) != ctx->gid) {
		caller_restore();
		return -EPERM;
	}
	return 0;
}

void caller_restore(void)
{
	int saved = errno;

	setfsuid(0);
	setfsgid(0);
	if (setgroups((size_t)n_own_groups, own_groups) < 0) {
		/* Root can always; if not, later calls must not run with a user's groups. */
		fprintf(stderr, "faultfs: cannot restore root's groups: %s\n",
			strerror(errno));
		abort();
	}
	errno = saved;
}

/* The signal mask on a "SigPnd:" or "ShdPnd:" line of /proc/PID/status. */
static int has_sigkill(const char *line, const char *key)
{
	unsigned long long mask;
	size_t len = strlen(key);

	if (strncmp(line, key, len) != 0)
		return 0;
	mask = strtoull(line + len, NULL, 16);
	return (mask >> (SIGKILL - 1)) & 1;
}

int caller_is_dying(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	int dying = 0;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH;
	while (!dying && fgets(line, sizeof(line), f))
		dying = has_sigkill(line, "SigPnd:") ||
			has_sigkill(line, "ShdPnd:");
	fclose(f);
	return dying;
}
