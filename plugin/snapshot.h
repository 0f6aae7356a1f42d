/*
 * snapshot.h: taking a snapshot of a source directory (as the submitting
 * user, in sbatch), and installing one into a run's directory (as the job's
 * user, on each node).
 */
#ifndef AML_SNAPSHOT_H
#define AML_SNAPSHOT_H

#include <stdint.h>

#include "errors.h"
#include "hash.h"
#include "store.h"

struct aml_snapshot_limits {
	uint64_t max_bytes;   /* total size of the kept files */
	uint32_t max_files;   /* number of kept files and links */
};

struct aml_capture_stats {
	uint64_t files;        /* files and links kept */
	uint64_t bytes;        /* their total size */
	uint64_t hashed_files; /* files read (stat cache misses) */
	uint64_t hashed_bytes;
	uint64_t new_files;    /* blobs the store did not have */
	uint64_t new_bytes;
	uint64_t ignored;      /* entries left out by the ignore file */
	int manifest_written;  /* 0 when the same snapshot existed */
};

/* Called now and then during a capture (at most a few times a second). */
typedef void (*aml_capture_progress)(const struct aml_capture_stats *stats,
				     void *arg);

/*
 * Snapshot [source_dir] into [store]: walk it without ever following a
 * symlink or leaving it, apply the ignore file at its root (.amlignore,
 * else .gitignore), read only files whose size, mtime, ctime or inode
 * changed since the last capture of the same directory, store new
 * contents, publish the manifest.  [progress] may be NULL.
 *
 * On success returns 0 with the snapshot [id].  On any problem returns -1
 * with every error in [errs]: "<source_dir>: <path>: <what>" for
 * individual entries; over a limit, one line naming the limit, the largest
 * directories and files, and .amlignore.  Nothing is published then.
 */
int aml_snapshot_capture(const char *source_dir, struct aml_store *store,
			 const struct aml_snapshot_limits *limits,
			 aml_capture_progress progress, void *progress_arg,
			 char id[AML_SHA256_HEX_LEN + 1],
			 struct aml_capture_stats *stats,
			 struct aml_errors *errs);

struct aml_install_stats {
	uint64_t files;
	uint64_t bytes;
	uint64_t cloned;  /* files made by reflink */
};

/*
 * Install snapshot [id] from [store] into [dest_dir], which must not exist
 * or be an empty directory.  The manifest is verified and decoded as
 * untrusted input before anything is written; every file's content is
 * verified against its hash while it is installed (a mismatch is an error
 * naming the file, and the partial tree is removed); executable bits and
 * mtimes are restored.  Files are made by reflink where the filesystem
 * allows, else read once, hashed and written (copy_file_range would save
 * nothing: every byte must be read for the hash anyway, and it refuses to
 * cross filesystems, the usual store-to-local-disk case); never hard
 * links, since a script editing its own files would corrupt the store.
 * Returns 0, or -1 with errors in [errs].
 */
int aml_snapshot_install(struct aml_store *store, const char *id,
			 const char *dest_dir, struct aml_install_stats *stats,
			 struct aml_errors *errs);

#endif
