/*
 * privdrop.h: a root process acting as a run's owner for a while.
 *
 * The finalizer and the epilog run as root, yet the run directory, its
 * files and the owner's spool belong to the user, who can plant a symlink
 * anywhere in them.  Root never follows such a path: it becomes the owner
 * (effective uid and gid, and only the owner's primary group) around every
 * touch of user files, so the kernel's own permission checks stop a
 * symlink to /etc/shadow as they would stop the user.  The real and saved
 * uid stay root, so the identity can be restored afterwards.
 *
 * Not thread-safe in spirit: glibc switches every thread, so call it only
 * from single-threaded processes (the finalizer, the tools).
 */
#ifndef AML_PRIVDROP_H
#define AML_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

struct aml_identity {
	int switched;     /* 1 when aml_identity_restore() has work to do */
	uid_t euid;
	gid_t egid;
	gid_t *groups;
	int n_groups;
};

/*
 * Act as [uid]/[gid].  When the process already runs as [uid] this does
 * nothing; a process that is neither root nor [uid] gets an error.
 * Returns 0, or -1 with errbuf and the identity unchanged.
 */
int aml_identity_become(uid_t uid, gid_t gid, struct aml_identity *saved,
			char *errbuf, size_t errlen);

/*
 * Return to the identity saved by aml_identity_become.  Failing to do so
 * leaves a root process running half as someone else, which no caller
 * could continue safely from: it aborts.
 */
void aml_identity_restore(struct aml_identity *saved);

/*
 * The group a root process acts with as [uid], which it found owning a
 * directory (a spool, a run directory) rather than in a job's record:
 * the user's primary group, or [fallback] (the directory's) when the
 * user is unknown.
 */
gid_t aml_primary_gid(uid_t uid, gid_t fallback);

#endif
