/*
 * privdrop.c: see privdrop.h.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "privdrop.h"

int aml_identity_become(uid_t uid, gid_t gid, struct aml_identity *saved,
			char *errbuf, size_t errlen)
{
	int n;

	memset(saved, 0, sizeof(*saved));
	if (geteuid() == uid)
		return 0;
	if (geteuid() != 0)
		return aml_fail(errbuf, errlen,
				"cannot act as uid %lu: this process runs as "
				"uid %lu, not root", (unsigned long)uid,
				(unsigned long)geteuid());
	saved->euid = geteuid();
	saved->egid = getegid();
	n = getgroups(0, NULL);
	if (n < 0)
		return aml_fail(errbuf, errlen, "getgroups: %s",
				strerror(errno));
	saved->groups = calloc((size_t)n + 1, sizeof(gid_t));
	if (!saved->groups)
		return aml_fail(errbuf, errlen, "out of memory");
	saved->n_groups = getgroups(n, saved->groups);
	if (saved->n_groups < 0)
		goto failed;
	/* Groups first, then gid, then uid: after seteuid to a user, the
	 * process could no longer change its groups. */
	if (setgroups(1, &gid) < 0)
		goto failed;
	saved->switched = 1;
	if (setegid(gid) < 0 || seteuid(uid) < 0) {
		n = errno;
		aml_identity_restore(saved);
		errno = n;
		goto failed;
	}
	return 0;
failed:
	n = errno;
	free(saved->groups);
	saved->groups = NULL;
	return aml_fail(errbuf, errlen, "cannot act as uid %lu gid %lu: %s",
			(unsigned long)uid, (unsigned long)gid, strerror(n));
}

void aml_identity_restore(struct aml_identity *saved)
{
	if (!saved->switched)
		return;
	if (seteuid(saved->euid) < 0 || setegid(saved->egid) < 0 ||
	    setgroups((size_t)saved->n_groups, saved->groups) < 0) {
		fprintf(stderr, "slurm-aml: cannot return to uid %lu after "
			"acting as a run's owner: %s\n",
			(unsigned long)saved->euid, strerror(errno));
		abort();
	}
	free(saved->groups);
	saved->groups = NULL;
	saved->switched = 0;
}

gid_t aml_primary_gid(uid_t uid, gid_t fallback)
{
	struct passwd *pw = getpwuid(uid);

	return pw ? pw->pw_gid : fallback;
}
