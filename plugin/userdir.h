/*
 * userdir.h: a user's own directory inside a directory every user shares.
 *
 * HistoryDir, SnapshotDir, SpoolDir and RunDir are made once by the admin
 * like /tmp (1777), and each user keeps a directory of their own inside.
 * In a sticky directory whoever makes a name first owns it.  Threat: a
 * user who makes <dir>/<victim> before the victim does would otherwise
 * block the victim for good (every later open refused), or, were the
 * directory trusted by its name, hold the victim's data and be able to
 * rename it away or swap it.  So a name decides nothing; ownership does.
 *
 * A user's directory is an entry <name> or <name>.<8 hex> of the shared
 * directory that is a real directory (not a symlink), owned by the user,
 * with none of the [deny] mode bits (at least group and other write).
 * <name> is preferred; when someone else holds it, the first such
 * <name>.<8 hex> in name order; when there is none and [create], a new
 * <name>.<random 8 hex>.  Every process of the user finds the same
 * directory, whatever anyone else made first: a squatter cannot make a
 * directory the user owns.
 *
 * A <name> the user owns that fails a check (a symlink, not a directory,
 * a mode others may write) is the user's own doing and refused with the
 * reason, not silently replaced: only its owner can fix it.
 */
#ifndef AML_USERDIR_H
#define AML_USERDIR_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct aml_userdir {
	int fd;        /* O_PATH | O_DIRECTORY, or -1 */
	char *path;    /* "<parent path>/<chosen entry>", for messages and
			* for handing the path to others (chdir) */
};

/*
 * Find (or when [create], make with [mode], exactly, whatever the umask)
 * [uid]'s directory [name] in the shared directory [parentfd] (any open
 * directory; [parent_path] is its path, for messages and ud->path).
 * Returns 0 with [ud] filled, or -1 with errbuf and ud->fd -1; errno is
 * ENOENT when there is none and [create] is 0.
 */
int aml_userdir_open(int parentfd, const char *parent_path, const char *name,
		     uid_t uid, mode_t mode, mode_t deny, int create,
		     struct aml_userdir *ud, char *errbuf, size_t errlen);

void aml_userdir_close(struct aml_userdir *ud);

/*
 * Whether [entry] is a name aml_userdir_open may choose for [name]:
 * [name] itself or [name].<8 lowercase hex>.
 */
int aml_userdir_name_matches(const char *entry, const char *name);

/*
 * The name [uid]'s directory is made under: the login name when it is a
 * plain file name (not starting with '.'), else the uid in decimal.
 */
void aml_userdir_default_name(uid_t uid, char *buf, size_t len);

/* One entry of a shared directory, as aml_userdir_scan found it. */
struct aml_userdir_entry {
	int fd;                   /* O_PATH of the entry itself, above 0-2 */
	uid_t uid;
	gid_t gid;                /* the entry's owner and group */
	char name[NAME_MAX + 1];
};

/* Whether [name] ([st], from fstat of the entry opened O_NOFOLLOW) is
 * one to keep; says why not, when worth saying. */
typedef int (*aml_userdir_keep_fn)(void *ctx, const char *name,
				   const struct stat *st);

/*
 * The entries of the shared directory [parentfd] (any descriptor of it,
 * even O_PATH; the caller's stays open) that [keep] keeps, sorted by name: for a root process
 * that acts for each user whose directory it finds there (aml-epilog),
 * and so judges each by what its own descriptor says, never by its name.
 * Each is opened O_PATH|O_NOFOLLOW, reading and following nothing a user
 * made, above descriptors 0-2 (the work done in it may run in a bounded
 * child, whose 0-2 are its own).  At most [max] entries are looked at;
 * [*more] says whether some were left for a later round.  Returns 0 with
 * a malloc'd [*list] (aml_userdir_scan_free), or -1 with errno.
 */
int aml_userdir_scan(int parentfd, size_t max, aml_userdir_keep_fn keep,
		     void *ctx, struct aml_userdir_entry **list, size_t *n,
		     int *more);
void aml_userdir_scan_free(struct aml_userdir_entry *list, size_t n);

#endif
