/*
 * artifacts.h: copying a directory of run artifacts (outputs/, logs/,
 * user_logs/) from where the run wrote it into run history, and back out
 * for `aml-run download`.
 *
 * The source is written by the user's script, so it may hold anything: a
 * symlink to /etc/shadow, to another user's files through a shared mount,
 * a FIFO that blocks a reader forever, a file that grows while it is read.
 * The rules:
 *   - Paths are resolved beneath the run's working directory [root_fd]
 *     (openat2 RESOLVE_BENEATH).  A symlink is followed only when its
 *     target stays inside that directory; one that leads out is skipped
 *     and reported, and not one byte of its target is read.  Without
 *     openat2 (kernels before 5.6) no symlink is followed at all.
 *   - Only regular files and directories are copied; FIFOs, sockets and
 *     devices are skipped and reported, and never opened (O_NONBLOCK, then
 *     fstat, so a FIFO swapped in after the readdir cannot block us).
 *   - Each file is written to a temporary name in its destination
 *     directory and renamed into place: a reader of run history sees the
 *     old file or the new one, never half of one.  A file that changes
 *     while it is copied is copied as it was read (no retry loop).
 *   - Destination directories are created with [dir_mode], files with
 *     [file_mode] (0700/0600 for private runs, 0755/0644 for shared).
 *   - Nothing is followed in the destination: every directory on the way
 *     is opened O_NOFOLLOW, relative to [dest_fd].
 *
 * Errors are one sentence in errbuf, naming the path (escaped with
 * aml_text_escape, since file names may hold anything).  Skips are not
 * errors: they are counted and the first few are described in the stats.
 */
#ifndef AML_ARTIFACTS_H
#define AML_ARTIFACTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AML_ARTIFACTS_NOTES 8   /* skip descriptions kept */

struct aml_artifact_stats {
	uint64_t files;
	uint64_t bytes;
	uint64_t skipped;
	char *notes[AML_ARTIFACTS_NOTES]; /* "outputs/leak: a symlink that
					   * leads outside the working
					   * directory; not uploaded" */
	size_t n_notes;
};

/*
 * Copy the tree [src_path] (relative to [root_fd], e.g. "outputs") into
 * [dest_path] (relative to [dest_fd], created as needed, e.g. "outputs").
 * A missing source is not an error (a run that wrote no outputs): 0 with
 * zero files.  Returns 0, or -1 with errbuf; files copied before the error
 * stay (each is whole).  [stats] is filled either way; free its notes with
 * aml_artifact_stats_free().
 */
int aml_artifacts_copy_in(int root_fd, const char *src_path, int dest_fd,
			  const char *dest_path, mode_t dir_mode,
			  mode_t file_mode, struct aml_artifact_stats *stats,
			  char *errbuf, size_t errlen);

/*
 * Walk [src_path] below [root_fd] by exactly the rules of
 * aml_artifacts_copy_in, but hand each regular file to [sink] instead of
 * copying it: open for reading, with its path below [dest_path]
 * ("outputs/model.pt") and its fstat.  For a backend that stores
 * elsewhere (a REST server), which then reads only what these rules let
 * through.  The sink returns 0, or -1 with errbuf to stop the walk.
 */
struct stat;
typedef int (*aml_artifact_sink_fn)(void *arg, const char *path, int fd,
				    const struct stat *st, char *errbuf,
				    size_t errlen);
int aml_artifacts_walk(int root_fd, const char *src_path,
		       const char *dest_path, aml_artifact_sink_fn sink,
		       void *arg, struct aml_artifact_stats *stats,
		       char *errbuf, size_t errlen);

/*
 * Copy [path] (a file or a directory, relative to [run_fd], e.g.
 * "outputs/model.pt" or "outputs") out of run history into the directory
 * [out_fd], keeping the path below the run ("outputs/model.pt" lands in
 * <out>/outputs/model.pt).  Symlinks in run history are never followed
 * (history holds none that we wrote).  Existing files in the destination
 * are replaced the same atomic way; the user's umask applies.  Returns 0,
 * or -1 with errbuf.
 */
int aml_artifacts_copy_out(int run_fd, const char *path, int out_fd,
			   struct aml_artifact_stats *stats, char *errbuf,
			   size_t errlen);

/* One entry of a listing: a regular file below the run directory. */
struct aml_artifact {
	char *path;       /* relative to the run, "outputs/model.pt" */
	uint64_t size;
	int64_t mtime_ms;
};

/*
 * List the regular files below each of [tops] ("outputs", "logs",
 * "user_logs"; each missing one is simply empty) of the run directory
 * [run_fd], sorted by path.  Returns 0 with a malloc'd array in [*list]
 * and its length in [*n] (free with aml_artifact_list_free), or -1 with
 * errbuf.
 */
int aml_artifacts_list(int run_fd, const char *const *tops, size_t n_tops,
		       struct aml_artifact **list, size_t *n, char *errbuf,
		       size_t errlen);
void aml_artifact_list_free(struct aml_artifact *list, size_t n);

void aml_artifact_stats_free(struct aml_artifact_stats *stats);

#endif
