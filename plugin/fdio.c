/*
 * fdio.c: see fdio.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdio.h"
#include "hangwatch.h"

int aml_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t aml_read_some(int fd, void *buf, size_t n)
{
	ssize_t r;

	do
		r = read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	/* An answer: the operation of run history this read may be part of
	 * is not hung (hangwatch.h). */
	aml_hangwatch_progress();
	return r;
}

int aml_read_fd(int fd, size_t max, char **text, size_t *len)
{
	struct stat st;
	size_t cap = 4096, at = 0;
	char *buf, *grown;
	ssize_t r;

	if (fstat(fd, &st) == 0 && st.st_size > 0 &&
	    (uint64_t)st.st_size < max)
		cap = (size_t)st.st_size + 1;
	if (max < SIZE_MAX - 1 && cap > max + 1)
		cap = max + 1;
	/* One byte more than there is to read, so reaching the end needs no
	 * second buffer, and one for the NUL. */
	buf = malloc(cap + 1);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		if (at == cap) {
			if (at > max) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			cap = cap > (SIZE_MAX - 1) / 2 ? SIZE_MAX - 1 : cap * 2;
			if (max < SIZE_MAX - 1 && cap > max + 1)
				cap = max + 1;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				free(buf);
				errno = ENOMEM;
				return -1;
			}
			buf = grown;
		}
		r = aml_read_some(fd, buf + at, cap - at);
		if (r < 0) {
			int err = errno;

			free(buf);
			errno = err;
			return -1;
		}
		if (r == 0)
			break;
		at += (size_t)r;
	}
	if (at > max) {
		free(buf);
		errno = EFBIG;
		return -1;
	}
	buf[at] = '\0';
	*text = buf;
	*len = at;
	return 0;
}

int aml_close_checked(int fd)
{
	if (close(fd) != 0 && errno != EINTR)
		return -1;
	return 0;
}

void aml_close_quietly(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
}

int aml_fsync_dir(int fd)
{
	return fsync(fd) != 0 && errno != EINVAL ? -1 : 0;
}

/*
 * [path] (normalized) below [rootfd], each directory on the way opened
 * O_PATH|O_DIRECTORY|O_NOFOLLOW and the last component with [flags] and
 * O_NOFOLLOW: a symlink last fails with ELOOP, one on the way with
 * ENOTDIR.  Returns the descriptor or -1 with errno.
 */
int aml_open_nofollow(int rootfd, const char *path, int flags)
{
	char component[NAME_MAX + 1];
	const char *p = path;
	int dirfd = rootfd, fd;

	/* openat2 refuses these itself; the same limit here keeps the two
	 * modes alike and bounds how deep a walk recurses. */
	if (strlen(path) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || len > NAME_MAX) {
			if (dirfd != rootfd)
				close(dirfd);
			errno = len ? ENAMETOOLONG : ENOENT;
			return -1;
		}
		memcpy(component, p, len);
		component[len] = '\0';
		fd = openat(dirfd, component,
			    slash ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
				  : flags | O_NOFOLLOW | O_CLOEXEC);
		if (dirfd != rootfd) {
			int saved = errno;

			close(dirfd);
			errno = saved;
		}
		if (fd < 0 || !slash)
			return fd;
		dirfd = fd;
		p = slash + 1;
	}
}

#define OPENAT2_TRIES 8

/* Set once openat2 answers ENOSYS or EPERM: the same answer for the
 * whole process, and asking again per file would double the calls. */
static atomic_int no_openat2;

void aml_open_beneath_force_fallback(int on)
{
	atomic_store_explicit(&no_openat2, on, memory_order_relaxed);
}

int aml_open_beneath(int rootfd, const char *path, int flags,
		     int follow_inside, int *by_kernel)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = -1;

	if (by_kernel)
		*by_kernel = 0;
	if (!*path)
		return openat(rootfd, ".", flags | O_CLOEXEC);
	if (!follow_inside) {
		how.flags |= O_NOFOLLOW;
		how.resolve |= RESOLVE_NO_SYMLINKS;
	}
	if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
		for (int i = 0; i < OPENAT2_TRIES; i++) {
			fd = (int)syscall(SYS_openat2, rootfd, path, &how,
					  sizeof(how));
			/* EAGAIN: the kernel could not prove a ".." stayed
			 * beneath while a rename raced with it. */
			if (fd >= 0 || errno != EAGAIN)
				break;
		}
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) {
			if (by_kernel)
				*by_kernel = 1;
			return fd;
		}
		atomic_store_explicit(&no_openat2, 1, memory_order_relaxed);
	}
	return aml_open_nofollow(rootfd, path, flags);
}

int aml_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (1u << 20))
		return 1 << 20;
	return (int)rl.rlim_cur;
}

void aml_close_from(int first, int limit)
{
	if (close_range((unsigned)first, ~0U, 0) == 0)
		return;
	for (int fd = first; fd < limit; fd++)
		(void)close(fd);
}

int aml_fd_above_stdio(int fd)
{
	int moved;

	if (fd > STDERR_FILENO)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (moved < 0)
		return -1;
	close(fd);
	return moved;
}

const char *aml_file_kind(mode_t mode, const char *fallback)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return fallback;
}
