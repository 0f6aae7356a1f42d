#include "random.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

int aml_random(void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

unsigned long long aml_unique_bits(void)
{
	static unsigned long long counter;
	unsigned long long r;
	struct timespec ts;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((unsigned long long)getpid() << 40) ^
	       (unsigned long long)ts.tv_nsec ^
	       ((unsigned long long)ts.tv_sec << 20) ^
	       (__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) *
		0x9e3779b97f4a7c15ULL);
}
