/*
 * breaker.c: run history's circuit breaker for one user on one machine
 * (contract in breaker.h).
 *
 * Where the contract is silent:
 *   - The file is opened without following a symlink and without
 *     blocking (a FIFO planted in place would otherwise hang a writer);
 *     anything but a regular file, or a line that does not parse, is a
 *     closed breaker: the worst a broken file costs is one more try.
 *   - A breaker whose end lies further ahead than its cooldown allows
 *     (a clock stepped back) is due for a probe, so it cannot stay open
 *     for good.
 *   - The new line is written beside the file and renamed over it; a
 *     writer that dies between the two leaves a stray file of its pid,
 *     which the next writer of that pid replaces.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "breaker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct state {
	int64_t until_ms;
	unsigned trips;
	int64_t since_ms;
};

static int load(int dirfd, struct state *st)
{
	char buf[128];
	struct stat sb;
	ssize_t n;
	long long until, since;
	unsigned trips;
	int fd;

	memset(st, 0, sizeof(*st));
	fd = openat(dirfd, AML_BREAKER_FILE,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%lld %u %lld", &until, &trips, &since) != 3 ||
	    trips == 0)
		return -1;
	st->until_ms = until;
	st->trips = trips;
	st->since_ms = since;
	return 0;
}

static int store(int dirfd, const struct state *st)
{
	char tmp[64], line[96];
	int fd, n, saved;

	snprintf(tmp, sizeof(tmp), "%s.%ld", AML_BREAKER_FILE, (long)getpid());
	n = snprintf(line, sizeof(line), "%" PRId64 " %u %" PRId64 "\n",
		     st->until_ms, st->trips, st->since_ms);
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, line, (size_t)n) != n) {
		saved = errno ? errno : EIO;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0 || renameat(dirfd, tmp, dirfd, AML_BREAKER_FILE) < 0) {
		saved = errno;
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

int64_t aml_breaker_cooldown_ms(unsigned trips, int64_t first_ms)
{
	int64_t last = first_ms * AML_BREAKER_MAX_FACTOR, ms = first_ms;

	for (unsigned i = 1; i < trips && ms < last; i++)
		ms *= 2;
	return ms < last ? ms : last;
}

enum aml_breaker_state aml_breaker_check(int dirfd, int64_t now_ms,
					 int64_t first_ms, int64_t probe_ms,
					 int64_t *since_ms)
{
	struct state st;

	if (since_ms)
		*since_ms = 0;
	if (load(dirfd, &st) < 0)
		return AML_BREAKER_CLOSED;
	if (since_ms)
		*since_ms = st.since_ms;
	if (now_ms < st.until_ms &&
	    st.until_ms - now_ms <=
		    aml_breaker_cooldown_ms(st.trips, first_ms) + probe_ms)
		return AML_BREAKER_OPEN;
	/* Claim the probe: the others wait while this one tries. */
	st.until_ms = now_ms + probe_ms;
	store(dirfd, &st);
	return AML_BREAKER_PROBE;
}

int aml_breaker_trip(int dirfd, int64_t now_ms, int64_t first_ms)
{
	struct state st;

	if (load(dirfd, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (st.trips < 64)
		st.trips++;
	st.since_ms = now_ms;
	st.until_ms = now_ms + aml_breaker_cooldown_ms(st.trips, first_ms);
	return store(dirfd, &st);
}

void aml_breaker_close(int dirfd)
{
	unlinkat(dirfd, AML_BREAKER_FILE, 0);
}
