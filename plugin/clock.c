/*
 * clock.c: see clock.h.
 */
#include <errno.h>
#include <sys/wait.h>
#include <time.h>

#include "clock.h"

int64_t aml_monotonic_ms(void)
{
	struct timespec ts;

	/* Cannot fail with a valid clock id and pointer. */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int aml_waitpid_until(pid_t pid, int *status, int64_t deadline_ms)
{
	long step_ms = 1;

	for (;;) {
		struct timespec ts;
		int64_t left;
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (r < 0)
			continue;
		left = deadline_ms - aml_monotonic_ms();
		if (left <= 0)
			return 1;
		if (left < step_ms)
			step_ms = (long)left;
		ts.tv_sec = 0;
		ts.tv_nsec = step_ms * 1000000L;
		/* Interrupted or not, the loop looks at the child and the
		 * clock again. */
		(void)nanosleep(&ts, NULL);
		if (step_ms < 50)
			step_ms *= 2;
	}
}
