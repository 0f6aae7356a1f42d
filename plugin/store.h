/*
 * store.h: a user's content-addressed snapshot store.
 *
 * One directory per user under the site's SnapshotDir (0700, owned by the
 * user; every operation here runs as that user):
 *
 *     <SnapshotDir>/<user>/
 *         blobs/<2 hex>/<62 hex>     file contents, read-only, by SHA-256
 *         manifests/<64 hex>         manifest texts, by their SHA-256 (the id)
 *         cache/<64 hex>             stat caches, by SHA-256 of the source path
 *         tmp/                       where every write starts
 *         lock                       flock: captures shared, gc exclusive
 *         gc-stamp                   its mtime: when gc last began removing
 *                                    blobs, or later (aml_store_blobs_kept_since)
 *
 * Every write goes to a new file in tmp/ and is renamed into place, so a
 * reader never sees a partial blob or manifest, whatever is killed when.
 * Blobs are not fsync'd as they are written (10,000 fsyncs would dominate
 * a first capture); aml_store_sync() flushes the ones written since the
 * last sync before the manifest that refers to them is published with
 * fsync of the file and of its directory.  A blob that was torn anyway
 * (power loss) fails its hash check at install, naming the file; it is
 * never installed silently.
 *
 * Errors are one sentence in the caller's [errbuf], naming the path.
 */
#ifndef AML_STORE_H
#define AML_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hash.h"

/* The most new blobs aml_store_sync() flushes one by one. */
#define AML_STORE_FRESH_MAX 8

struct aml_store {
	int dirfd;      /* the user's store directory, O_PATH|O_DIRECTORY */
	char *path;     /* for messages */
	int lockfd;     /* -1 unless locked */
	/* Blobs put since the last aml_store_sync (store.c's). */
	char fresh[AML_STORE_FRESH_MAX][AML_SHA256_HEX_LEN + 1];
	size_t n_fresh;
	int fresh_many;   /* more than fit in [fresh] */
	int fresh_dirs;   /* a blobs/<2 hex> was made for one */
};

/*
 * Open the calling user's store, <snapshot_dir>/<user> (or, when another
 * uid made that name first, the user's own <user>.<8 hex>: userdir.h).
 * With [create], make it (0700) and its subdirectories when missing; the
 * snapshot_dir itself must exist.  Refuses a store of the user's that is
 * a symlink or writable by others.  Returns 0, or -1 with errbuf (and [s] left closed, so
 * aml_store_close() on it is harmless).
 */
int aml_store_open(struct aml_store *s, const char *snapshot_dir,
		   const char *user, int create, char *errbuf, size_t errlen);

void aml_store_close(struct aml_store *s);

/*
 * Take the store's lock: shared for a capture (several may run at once),
 * exclusive for gc.  Blocks.  Returns 0, or -1 with errbuf.
 */
int aml_store_lock(struct aml_store *s, int exclusive, char *errbuf,
		   size_t errlen);
void aml_store_unlock(struct aml_store *s);

/* Non-zero when the blob [hex] is in the store. */
int aml_store_has_blob(struct aml_store *s, const char *hex);

/*
 * Copy everything readable from [fd] into the store while hashing it.
 * Fills [hex] and [*size]; sets [*written] to 1 when the blob was new, 0
 * when an identical one was already there (the copy is then dropped).
 * Returns 0, or -1 with errbuf ([what] names the source in the message).
 */
int aml_store_put_fd(struct aml_store *s, int fd, const char *what,
		     char hex[AML_SHA256_HEX_LEN + 1], uint64_t *size,
		     int *written, char *errbuf, size_t errlen);

/*
 * Open blob [hex] for reading (O_RDONLY|O_NOFOLLOW|O_CLOEXEC).  Safe to
 * call from several threads at once (it only opens, relative to dirfd).  Returns the
 * descriptor, or -1 with errbuf.  The caller verifies the content.
 */
int aml_store_open_blob(struct aml_store *s, const char *hex, char *errbuf,
			size_t errlen);

/*
 * Flush every blob put through [s] since its last sync (written, or
 * found there already) to stable storage: up to AML_STORE_FRESH_MAX of
 * them (a resubmit's few) by fsync
 * of each and of its directory, more by one syncfs of the store's
 * filesystem.  Nothing to do (no fsync) when none was written.  Returns
 * 0, or -1 with errbuf (the blobs then still count as unflushed).
 */
int aml_store_sync(struct aml_store *s, char *errbuf, size_t errlen);

/*
 * Publish manifest [text] under [id] (its SHA-256, which the caller
 * computed): written to tmp/, fsync'd, renamed, directory fsync'd.  When
 * it exists already, only its mtime is refreshed (gc ages manifests by
 * it), without fsync: store.c says why that is enough.
 * Sets [*written] like aml_store_put_fd.  Returns 0, or -1 with errbuf.
 */
int aml_store_put_manifest(struct aml_store *s, const char *id,
			   const char *text, size_t len, int *written,
			   char *errbuf, size_t errlen);

/*
 * aml_store_put_manifest for a text whose id the store works out itself
 * (its SHA-256, hashed once here), into [id].  Returns 0, or -1 with
 * errbuf.
 */
int aml_store_publish_manifest(struct aml_store *s, const char *text,
			       size_t len, char id[AML_SHA256_HEX_LEN + 1],
			       int *written, char *errbuf, size_t errlen);

/*
 * Read manifest [id] and check that its SHA-256 is [id].  Returns 0 with a
 * malloc'd [*text] (NUL-terminated) and [*len], or -1 with errbuf.
 */
int aml_store_read_manifest(struct aml_store *s, const char *id,
			    char **text, size_t *len, char *errbuf,
			    size_t errlen);

/*
 * The stat cache of source directory [key] (an absolute path): read it
 * into a malloc'd [*text] (0 with *text NULL when there is none) and its
 * mtime into [*written], or replace it atomically (no fsync: a lost cache
 * only costs re-hashing).
 */
int aml_store_read_cache(struct aml_store *s, const char *key, char **text,
			 size_t *len, struct timespec *written, char *errbuf,
			 size_t errlen);
int aml_store_write_cache(struct aml_store *s, const char *key,
			  const char *text, size_t len, char *errbuf,
			  size_t errlen);

/*
 * Whether no gc can have removed a blob since [since] (the mtime of a
 * stat cache written under the lock after its snapshot was published):
 * then every blob that snapshot names is still here, without reading it.
 * 1 only when gc-stamp is older than [since]; 0 when a gc may have run
 * since, or the store has no gc-stamp (one made by an earlier slurm-aml,
 * never collected since; a new store gets its stamp when it is made): one
 * is then made, dated now, which claims no more than that a gc may have
 * run until now.  Call with the lock held, shared or exclusive.
 */
int aml_store_blobs_kept_since(struct aml_store *s,
			       const struct timespec *since);

/*
 * Date gc-stamp now (made if missing), durably: what gc does, under the
 * exclusive lock, before it removes a blob.  Returns 0, or -1 with errbuf.
 */
int aml_store_stamp_gc(struct aml_store *s, char *errbuf, size_t errlen);

struct aml_gc_stats {
	uint64_t manifests_kept, manifests_removed;
	uint64_t blobs_kept, blobs_removed, bytes_removed;
	uint64_t temporaries_removed;
	uint64_t manifests_invalid;  /* kept, but not verified or decoded */
};

/*
 * Remove manifests not used (published or re-published) for
 * [older_than_days] days, then every blob no kept manifest refers to, and
 * temporaries older than a day (left by killed captures).  Holds the
 * exclusive lock, so it never removes a blob a capture has just written
 * for a manifest it has not published yet.  A manifest that does not
 * verify is kept and reported, never used to decide: counted in
 * manifests_invalid, and on success [errbuf] then names the first one
 * (else it is ""); a manifest that cannot be read at all stops gc before
 * any blob is removed.  Returns 0, or -1 with errbuf.
 */
int aml_store_gc(struct aml_store *s, unsigned older_than_days,
		 struct aml_gc_stats *stats, char *errbuf, size_t errlen);

#endif
