/*
 * spool.h: a durable, ordered queue on local disk for what run history
 * could not take yet.
 *
 * When the history location is unmounted, full, read-only or its server is
 * down, the writer (sbatch, a node, the launcher, the finalizer) must not
 * lose anything and must not block the job.  It pushes the operation here
 * instead; the next writer of the same user on the same machine, and every
 * aml-run command, replays the queue first, oldest entry first.
 *
 *     <spool_dir>/<uid>/               0700, owned by the user (or
 *                                      <uid>.<8 hex>: userdir.h)
 *         lock                         flock: replay exclusive, push shared
 *         tmp/                         entries are built here...
 *         q/<20-digit seq>-<6 hex>/    ...and renamed here when complete
 *             record                   the operation, opaque bytes (JSON)
 *             files/...                the files an upload carries, if any
 *         rejected/<same name>/        entries the destination refused for
 *             reason                   good (not retried), with why
 *
 * An entry is published by one rename, so a crash leaves either a whole
 * entry or none (a torn one in tmp/ is removed after a day).  Sequence
 * numbers come from the realtime clock in nanoseconds, raised past the
 * newest entry already queued, so order survives clock steps; the random
 * suffix keeps concurrent pushers apart.  Entries are fsync'd before
 * publication: they exist because the real destination failed, and must
 * outlive a reboot.
 *
 * Exactly once: replay removes an entry only after [apply] succeeds, so a
 * crash between the two re-applies it.  The history operations are written
 * to be idempotent for that (events carry ids, properties are set-once,
 * uploads replace files).
 *
 * Every function runs as the user who owns the spool; a root caller
 * switches to that user first (see privdrop.h).  Errors are one sentence
 * in errbuf, naming the path.
 */
#ifndef AML_SPOOL_H
#define AML_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AML_SPOOL_NAME_MAX 32   /* "<20 digits>-<6 hex>" and a NUL */

struct aml_spool {
	int dirfd;       /* <spool_dir>/<uid>, O_PATH|O_DIRECTORY */
	char *path;      /* for messages */
};

/*
 * Open (creating with 0700 when missing) the calling user's spool under
 * [spool_dir], which must exist (admins create it like /tmp: 1777):
 * <spool_dir>/<uid>, or, when another uid made that name first, the
 * user's own <uid>.<8 hex> (userdir.h).  Refuses a spool of the user's
 * that is a symlink or open to others.  Returns 0, or -1 with errbuf ([sp] left closed).
 */
int aml_spool_open(struct aml_spool *sp, const char *spool_dir,
		   char *errbuf, size_t errlen);
void aml_spool_close(struct aml_spool *sp);

/*
 * Queue [record] ([len] bytes).  When [files_dirfd] >= 0, the directory
 * [files_path] (relative to files_dirfd, non-empty) is copied into the
 * entry's files/ as it is now, by the rules of an upload (artifacts.h):
 * symlinks that stay below files_dirfd are followed, the others and
 * special files are left out.  Replay then sees exactly what the upload
 * would have taken.  Returns 0 with the entry's name in [name] (when
 * non-NULL, AML_SPOOL_NAME_MAX bytes), or -1 with errbuf and nothing
 * queued.
 */
int aml_spool_push(struct aml_spool *sp, const char *record, size_t len,
		   int files_dirfd, const char *files_path, char *name,
		   char *errbuf, size_t errlen);

/* What replay hands [apply] for each entry, oldest first. */
struct aml_spool_entry {
	const char *name;     /* q/<name> */
	const char *record;   /* NUL-terminated copy of the record */
	size_t len;
	int files_dirfd;      /* the entry's files/ (O_PATH), or -1 */
};

/* When [e] was queued, in realtime milliseconds, as its sequence number
 * says (a clock stepped back makes it later, never earlier). */
int64_t aml_spool_entry_queued_ms(const struct aml_spool_entry *e);

/* What [apply] returns. */
enum aml_spool_verdict {
	AML_SPOOL_APPLIED,    /* done: remove the entry, go on */
	AML_SPOOL_RETRY,      /* destination still unavailable: stop, keep
			       * this entry and every later one */
	AML_SPOOL_REJECTED,   /* destination refused it for good (an event
			       * the state machine refuses): move it to
			       * rejected/ with errbuf as the reason, go on */
	AML_SPOOL_KEEP,       /* not now, but the others may go: keep this
			       * entry, go on with the next (a queue of
			       * several owners' entries, one of whom is
			       * stuck; [apply] keeps each owner's order by
			       * keeping their later entries too) */
};

typedef enum aml_spool_verdict (*aml_spool_apply_fn)(
	void *ctx, const struct aml_spool_entry *entry, char *errbuf,
	size_t errlen);

struct aml_spool_replay_stats {
	size_t applied, rejected, remaining;
};

/*
 * Replay the queue in order under the exclusive lock (a second replayer
 * waits for the first, then finds less to do).  Stops at the first RETRY;
 * a kept entry (KEEP) stays and the replay goes on.  Returns 0 (even
 * after a RETRY: [stats->remaining] says what is left, kept entries
 * included), or -1 with errbuf when the spool itself fails (an entry
 * cannot be read or removed).  [errbuf] on success holds the reason of
 * the last RETRY, REJECTED or KEEP (when it gave one), or "".
 */
int aml_spool_replay(struct aml_spool *sp, aml_spool_apply_fn apply,
		     void *ctx, struct aml_spool_replay_stats *stats,
		     char *errbuf, size_t errlen);

/*
 * Open the spool whose directory [dirfd] is (any descriptor of it, even
 * O_PATH; duplicated, so the caller keeps its own), named [path] in
 * messages.  For a root process that found a user's spool by listing
 * <spool_dir>, judged it by its owner (never by its name), and now acts
 * as that owner (aml-epilog, which delivers what a node's spools hold).
 * The same checks as aml_spool_open, on the descriptor itself: a real
 * directory, owned by the caller, closed to group and others.  Nothing is
 * created.  Returns 0, or -1 with errbuf ([sp] left closed).
 */
int aml_spool_open_dir(struct aml_spool *sp, int dirfd, const char *path,
		       char *errbuf, size_t errlen);

/* Number of entries queued (0 when none), or -1 with errbuf.  Cheap: one
 * directory read. */
long aml_spool_count(struct aml_spool *sp, char *errbuf, size_t errlen);

#endif
