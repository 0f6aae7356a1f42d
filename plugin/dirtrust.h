/*
 * dirtrust.h: whether a directory or file may be trusted with what the
 * caller is about to keep in it or read from it, one named check per
 * kind, each judging what fstat(2) said of a descriptor the caller
 * opened without following a symlink (a path can be swapped after it
 * was checked; an open descriptor cannot).
 *
 * Each answers with a verdict, not a message: the callers name the path
 * and the rule in their own words.  The checks are in the order a
 * person fixes them (what it is, whose, its mode), and a verdict names
 * the first that fails.
 */
#ifndef AML_DIRTRUST_H
#define AML_DIRTRUST_H

#include <sys/stat.h>
#include <sys/types.h>

enum aml_trust {
	AML_TRUSTED = 0,
	AML_UNTRUSTED_LINK,   /* a symbolic link */
	AML_UNTRUSTED_KIND,   /* not a directory (not a regular file) */
	AML_UNTRUSTED_OWNER,  /* owned by someone who must not own it */
	AML_UNTRUSTED_MODE,   /* open to someone it must not be open to */
};

/*
 * A directory the admin shares among all users (RunDir), holding each
 * user's own directory.  Threat: a directory others may write without
 * the sticky bit lets any of them rename or remove a user's directory
 * in it and put their own in its place; one owned by an ordinary user
 * lets that user do the same, sticky or not.  So: a directory owned by
 * root or by [self] (the caller, who may own a test's or a private
 * setup's), sticky when group or others may write it (1777 as /tmp).
 */
enum aml_trust aml_trust_shared_dir(const struct stat *st, uid_t self);

/*
 * A user's own directory that others may read (run history's trees and
 * experiments, run directories, the snapshot store).  Threat: anyone
 * else who may write it can rename the user's runs or snapshots away
 * and put forged ones under their names, or fill it.  So: a real
 * directory owned by [uid], writable by neither group nor others.
 */
enum aml_trust aml_trust_user_dir(const struct stat *st, uid_t uid);

/*
 * A user's own directory that is for the user alone (a spool of run
 * history's pending writes, a node's directory of a run).  Threat: what
 * waits there is replayed or delivered as the user later, so anyone
 * else who could write it could have things written in the user's name,
 * and anyone who could read it could read what the user has not
 * published.  So: a real directory owned by [uid], mode 0700 or less.
 */
enum aml_trust aml_trust_private_dir(const struct stat *st, uid_t uid);

/*
 * The rule both of those are: a real directory owned by [uid] with none
 * of the [deny] mode bits.  For aml_userdir_open, which is given the
 * kind's bits by its caller.
 */
enum aml_trust aml_trust_own_dir(const struct stat *st, uid_t uid,
				 mode_t deny);

/*
 * A file holding a secret for [owner] (the REST backend's credentials),
 * read by root or by [owner].  Threat: anyone else who can read it has
 * the token; anyone else who owns it can change it, and so where run
 * history goes and as whom; a FIFO or device in its place could hang or
 * feed the reader.  So: a regular file owned by root or [owner], and no
 * group or other bits at all.
 */
enum aml_trust aml_trust_secret_file(const struct stat *st, uid_t owner);

#endif
