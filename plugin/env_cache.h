/*
 * env_cache.h: a node's built Python environments, built once per content
 * key and reused by every later run with the same key.
 *
 * A run's system-managed dependencies (pip or conda) are named by a key,
 * 64 lowercase hex digits computed elsewhere from what the environment
 * holds (environment.h).  Everything here runs as the run's user (the
 * launcher, an ordinary process), except `aml-run env build` run by root,
 * which builds into the shared area.  Users of one cluster do not trust
 * each other, so each check below is against a named threat.
 *
 *   <EnvDir>/                  1777 (or 0755: root's environments only),
 *                              made by the admin like SpoolDir.  Must be
 *                              root's (or the caller's own), and sticky
 *                              when others may write it
 *                              (aml_trust_shared_dir).  Threat: a user who
 *                              could rename in it could swap another
 *                              user's directory, or shared/, for their own.
 *     shared/                  root's builds, used by every user's run.
 *       <key>/ + markers       Used ONLY when shared/, <key>/ and its
 *                              marker are root's and none is writable by
 *                              group or others, and none is a symlink.
 *                              Threat: in a 1777 EnvDir any user can make
 *                              "shared" first, or plant an entry there,
 *                              and every other user's run would execute
 *                              their code.  Anything else found there is
 *                              ignored, with the reason as a note, and the
 *                              run builds its own.  Root builds with umask
 *                              022, so the tree below <key>/ is root's and
 *                              only root can change it; the marker, written
 *                              by root last, vouches for that.
 *     <user dir>/              the user's own, 0700 (userdir.h,
 *                              aml_userdir_open, as SpoolDir does): a name
 *                              someone else made first is stepped around.
 *                              Threat: a squatter's directory named like
 *                              ours would hold what our runs execute.
 *       <key>/                 the environment (venv or conda prefix),
 *                              built IN PLACE at this final path: neither a
 *                              venv nor a conda env can be moved once made.
 *       <key>.lock             flock: one builder per key, the others wait
 *                              for it; a run using the entry holds it
 *                              shared (aml_env_cache_hold), so gc, which
 *                              needs it exclusive, never removes what runs.
 *       <key>.ready            written last (a temporary renamed): the
 *                              environment is whole.  One line, "kind what
 *                              built_at_ms"; its mtime is the last use.
 *       <key>.failed           the last build failed: one line, the
 *                              reason.  While younger than
 *                              AML_ENV_RETRY_AFTER_S the key is not built
 *                              again (no build loop): a run fails at once
 *                              with that reason.
 *       <key>.log              the last build's whole output.
 *       <key>.yml              the conda builder's environment file
 *                              (env_build.h); gc removes every <key>.*.
 *
 * In shared/ the lock is 0644 so that users' runs can hold it.  A user can
 * hold it for ever; that only keeps root's gc from removing the entry and
 * root's rebuild of a key that is not ready from starting (root's waits
 * are bounded, like everyone's): it cannot change what anyone runs or make
 * another user's build wait, since users build only in their own
 * directories.  Users cannot date root's marker, so a shared entry's last
 * use is the later of its marker's mtime (root's own uses) and its atime
 * (every run reads the marker; with relatime the kernel records that at
 * least once a day; on a noatime mount only root's uses count).
 *
 * Errors are one line in the caller's [errbuf]; on success [errbuf] is ""
 * or a note worth logging (why a shared entry was not used).
 */
#ifndef AML_ENV_CACHE_H
#define AML_ENV_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* Hex digits of a key. */
#define AML_ENV_KEY_LEN 64

/* A failed key is not built again for this long. */
#define AML_ENV_RETRY_AFTER_S 600

/* How long aml_env_cache_hold tries for its shared lock before it decides
 * the entry is held by something other than gc (which would have taken the
 * marker away by then). */
#define AML_ENV_HOLD_TRY_MS 2000

struct aml_env_builder {
	const char *kind;   /* "pip" or "conda", into .ready */
	const char *what;   /* "pip, 4 packages", for messages */
	/*
	 * Build into [prefix] (absent; its parent exists), all output to
	 * [log_fd] (open for reading and writing, positioned at its end).
	 * Returns 0, or -1 with one line in errbuf.
	 */
	int (*build)(void *arg, const char *prefix, int log_fd, char *errbuf,
		     size_t errlen);
	void *arg;
};

enum aml_env_outcome {
	AML_ENV_CACHED,   /* ready already, or built meanwhile by another run */
	AML_ENV_BUILT,    /* built now, by this call */
	AML_ENV_FAILED,   /* the build failed (now or within the retry
			   * window), or another run's build outlasted wait_ms */
	AML_ENV_ERROR,    /* the cache itself could not be used */
};

/*
 * Find [key] ready (shared first, then the caller's own; root: shared
 * only) or build it with [b] in the caller's own directory (root: in
 * shared/, made when missing), under the key's lock.  A caller that finds
 * another builder at work waits for it, up to [wait_ms] (then FAILED
 * "still being built by another run since HH:MM:SS"), and uses its
 * result.  A half-built <key>/ (a builder killed mid-way: no .ready) is
 * removed (tree.h) and built again.  [on_build] (may be NULL) is called
 * with [on_build_arg] just before a build starts.  A found entry's last
 * use is dated now.  The process umask is 022 while the builder runs
 * (single-threaded callers, as privdrop.h).
 *
 * [prefix] gets the environment's path; [log_path] the build log's, only
 * when built or failed (else "").  On FAILED and ERROR, errbuf says why in
 * one line; on CACHED and BUILT it is "" or a note.
 */
enum aml_env_outcome aml_env_cache_get(const char *env_dir, const char *key,
				       const struct aml_env_builder *b,
				       int64_t wait_ms,
				       void (*on_build)(void *),
				       void *on_build_arg, char *prefix,
				       size_t plen, char *log_path,
				       size_t llen, char *errbuf,
				       size_t errlen);

/*
 * Look only (no build, no wait, nothing created, nothing dated), as
 * aml_env_cache_get would find [key]: returns 1 ready (its path in
 * [prefix]), 0 not built (or not whole), -1 with errbuf.  For plan and
 * list.
 */
int aml_env_cache_lookup(const char *env_dir, const char *key, char *prefix,
			 size_t plen, char *errbuf, size_t errlen);

/* A run's claim on the entry it uses. */
struct aml_env_hold {
	int fd;   /* the entry's lock, flock'd shared; -1: nothing held */
};

/*
 * Claim the ready entry of [key] (found as aml_env_cache_lookup does) for
 * as long as a run uses it: gc leaves it alone until
 * aml_env_cache_release.  Call it after aml_env_cache_get.  Returns 1
 * with [prefix] (the entry held; h->fd is -1 when its lock was held
 * exclusively by someone else for AML_ENV_HOLD_TRY_MS while the entry
 * stayed whole: that lock keeps gc away as well), 0 when the entry is not
 * ready (gc took it meanwhile: get it again), -1 with errbuf.
 */
int aml_env_cache_hold(const char *env_dir, const char *key,
		       struct aml_env_hold *h, char *prefix, size_t plen,
		       char *errbuf, size_t errlen);

/* Let gc have the entry again; [h] may hold nothing. */
void aml_env_cache_release(struct aml_env_hold *h);

/* One entry, as list and gc report it. */
struct aml_env_entry {
	char key[AML_ENV_KEY_LEN + 1];
	int shared;               /* in shared/ (root's) */
	int ready;                /* .ready: whole */
	int failed;               /* .failed: its last build failed */
	char kind[16];            /* from .ready; "" when not ready */
	char what[128];
	int64_t built_ms;         /* ms since the epoch; 0: unknown */
	int64_t used_ms;          /* last use (the last failure: failed) */
	uint64_t bytes;           /* disk used by <key>/ */
	const char *path;         /* <key>/'s path */
	char note[256];           /* the failure's reason, why a shared entry
				   * is ignored, or why gc removed it */
};

typedef void (*aml_env_entry_fn)(void *arg, const struct aml_env_entry *e);

/*
 * Remove the caller's own entries (root: shared/'s) whose last use is
 * older than [unused_s] seconds, every failure (so that the next run
 * builds it again at once), and what builders killed mid-way left; never
 * one whose lock anyone holds (a builder, a run using it).  [removed] (may
 * be NULL) is told of each, with the reason in its note, before it goes.
 * Returns how many were removed, or -1 with errbuf (the first problem;
 * the other entries are still collected).
 */
int aml_env_cache_gc(const char *env_dir, int64_t unused_s,
		     aml_env_entry_fn removed, void *arg, char *errbuf,
		     size_t errlen);

/*
 * Every entry of the caller's own (not for root) and of shared/, shared
 * first, each in key order, to [fn]: ready, failed, or neither (being
 * built, or left half-built).  Shared entries that runs would ignore are
 * listed with the reason in their note.  Returns 0, or -1 with errbuf.
 */
int aml_env_cache_list(const char *env_dir, aml_env_entry_fn fn, void *arg,
		       char *errbuf, size_t errlen);

/* aml_env_cache_list, each entry's size (a walk of its whole tree) only
 * when [with_sizes], else bytes is 0: a look on a run's path (image_pull.h's
 * Preparing reason) must not walk every image in the cache. */
int aml_env_cache_scan(const char *env_dir, int with_sizes,
		       aml_env_entry_fn fn, void *arg, char *errbuf,
		       size_t errlen);

/* Whether [key] is 64 lowercase hex digits. */
int aml_env_key_valid(const char *key);

#endif
