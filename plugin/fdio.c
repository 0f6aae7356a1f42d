/*
 * fdio.c: see fdio.h.
 */
#include <errno.h>
#include <unistd.h>

#include "fdio.h"

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
	return r;
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
