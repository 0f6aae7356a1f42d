/*
 * snapshot_walk.h: the first phase of a capture (snapshot_capture.c):
 * find what a snapshot of a source tree keeps, without reading a file.
 * Internal to the capture; its contract for callers is snapshot.h.
 */
#ifndef AML_SNAPSHOT_WALK_H
#define AML_SNAPSHOT_WALK_H

#include <stddef.h>
#include <sys/stat.h>

#include "errors.h"
#include "hash.h"
#include "ignore.h"
#include "snapshot.h"

/* One kept entry: a regular file or a symbolic link. */
struct aml_found {
	char *path;             /* malloc'd, relative to the root */
	char *target;           /* symlink: malloc'd target */
	int is_link;
	int fd_needed;          /* file the stat cache cannot vouch for */
	struct stat st;         /* as the walk saw it, not followed */
	char sha256[AML_SHA256_HEX_LEN + 1]; /* filled in by the capture */
};

struct aml_walk {
	int rootfd;                        /* the source directory */
	const struct aml_ignore *ignore;   /* NULL: nothing ignored */
	struct aml_capture_stats *stats;   /* files, bytes, ignored added */
	struct aml_errors *errs;
	/* Called now and then by the calling thread while no other thread
	 * changes [stats]; may be NULL. */
	void (*tick)(void *arg);
	void *tick_arg;
	struct aml_found *found;           /* out: sorted by path */
	size_t n_found;
};

/*
 * Walk the tree below [w->rootfd]: every directory is opened beneath the
 * root (aml_open_beneath: no symlink followed, nothing outside), every
 * entry examined with fstatat(AT_SYMLINK_NOFOLLOW), so no symlink is ever
 * followed and no FIFO or device opened; ".git" is left out, then what
 * [w->ignore] matches; each name and link target is checked by the
 * manifest's rules.  Directories are read by up to two threads; what is
 * found does not depend on which thread found it.
 *
 * Returns the number of entries refused (0 on success), each an error in
 * [w->errs] in the order a single walk in readdir order meets them, as
 * aml_snapshot_entry_error() words it.  [w->found] is filled in either
 * way; free it with aml_snapshot_walk_free().
 */
size_t aml_snapshot_walk(struct aml_walk *w);

void aml_snapshot_walk_free(struct aml_walk *w);

/*
 * Add "<path>: <fmt with detail>" to [errs], [path] escaped so that a
 * newline in a name cannot forge a second line.  [fmt] holds one "%s",
 * given [detail] ("" when NULL).
 */
void aml_snapshot_entry_error(struct aml_errors *errs, const char *path,
			      const char *fmt, const char *detail);

#endif
