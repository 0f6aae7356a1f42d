/*
 * fdio.h: the few loops every writer of files needs, once: writing all of
 * a buffer through short writes and EINTR, reading through EINTR, closing
 * with the error kept, syncing a directory, opening below a directory
 * without being led out of it, and closing everything a forked child
 * must not hold.
 */
#ifndef AML_FDIO_H
#define AML_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Write all [n] bytes; 0, or -1 with errno (EIO for a write of 0). */
int aml_write_all(int fd, const void *buf, size_t n);

/* read(2), retried on EINTR. */
ssize_t aml_read_some(int fd, void *buf, size_t n);

/*
 * Everything from [fd]'s offset to its end, into a malloc'd, NUL-ended
 * [*text] of [*len] bytes; the file's size (fstat) sizes the first buffer,
 * and a file that grows meanwhile is still read whole.  Returns 0, or -1
 * with errno: EFBIG when there is more than [max] bytes, ENOMEM, or
 * read(2)'s.  Nothing is allocated on failure.
 */
int aml_read_fd(int fd, size_t max, char **text, size_t *len);

/* close(2) whose error means a write may be lost (NFS reports them
 * here); never retried, since Linux releases the descriptor anyway. */
int aml_close_checked(int fd);

/* close(2) on a path that already failed: errno is kept. */
void aml_close_quietly(int fd);

/* fsync(2) of a directory; filesystems that cannot (EINVAL) make a
 * rename as durable as they can without it. */
int aml_fsync_dir(int fd);

/*
 * [path] below [rootfd], each directory on the way opened
 * O_PATH|O_DIRECTORY|O_NOFOLLOW and the last component with [flags] and
 * O_NOFOLLOW: a symlink last fails with ELOOP, one on the way with
 * ENOTDIR; an empty component with ENOENT, a path of PATH_MAX or more
 * with ENAMETOOLONG.  Paths from readdir or checked by the caller hold
 * no "." or "..".  Returns the descriptor or -1 with errno.  Where
 * openat2 is missing, this is how nothing gets followed.
 */
int aml_open_nofollow(int rootfd, const char *path, int flags);

/*
 * [path] below [rootfd] with openat2(2) RESOLVE_BENEATH and
 * RESOLVE_NO_MAGICLINKS: the kernel proves every step stays beneath
 * [rootfd].  With [follow_inside], symlinks are followed while they
 * stay beneath (one that leads out fails with EXDEV); without, none is
 * (RESOLVE_NO_SYMLINKS and O_NOFOLLOW: ELOOP).  An empty [path] is
 * [rootfd]'s directory itself.  openat2 failing with EAGAIN (a rename
 * raced with a ".." on the way) is asked again a few times.
 *
 * Where openat2 is missing (ENOSYS, kernels before 5.6 and valgrind) or
 * blocked (EPERM, seccomp in older container runtimes), as
 * aml_open_nofollow: nothing is followed, which is stricter and so
 * always safe.  That answer holds for the whole process, so it is
 * remembered (atomically) and openat2 not asked again.
 *
 * [*by_kernel] (may be NULL) is 1 when openat2 decided, 0 when the
 * fallback did: the messages differ.  Returns the descriptor
 * (close-on-exec) or -1 with errno.
 */
int aml_open_beneath(int rootfd, const char *path, int flags,
		     int follow_inside, int *by_kernel);

/* For tests only: [on] makes aml_open_beneath take its fallback, as on
 * a kernel without openat2; 0 lets it ask openat2 again. */
void aml_open_beneath_force_fallback(int on);

/*
 * The descriptor number aml_close_from closes up to, one by one, where
 * close_range() is missing (kernels before 5.9): RLIMIT_NOFILE's soft
 * limit, at most 1 << 20.  Call it before fork: getrlimit is not on the
 * list of calls safe in a forked child.
 */
int aml_fd_limit(void);

/*
 * Close every descriptor from [first] on, in a forked child, so it holds
 * none of its parent's (a lock file, a socket, the read end of a pipe
 * whose writer waits for its end): close_range(), or close() of each
 * below [limit] (aml_fd_limit()).  Async-signal-safe.
 */
void aml_close_from(int first, int limit);

/*
 * [fd] where work in a bounded child can still use it (bounded.h: the
 * child's 0, 1 and 2 are /dev/null): [fd] itself when above 2, else a
 * close-on-exec copy above 2, [fd] then closed.  A process whose stdin
 * was closed (slurmstepd's SPANK prolog and epilog) gets 0 from its next
 * open.  Returns the descriptor, or -1 with errno and [fd] still open.
 */
int aml_fd_above_stdio(int fd);

/*
 * What a file that is none of a regular file, a directory and a symbolic
 * link is, for a message that refuses it: "a FIFO", "a socket", "a
 * character device", "a block device", else [fallback].
 */
const char *aml_file_kind(mode_t mode, const char *fallback);

#endif
