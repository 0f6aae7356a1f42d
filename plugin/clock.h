/*
 * clock.h: the one clock deadlines are kept in.
 */
#ifndef AML_CLOCK_H
#define AML_CLOCK_H

#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in milliseconds: a clock step (NTP, an admin's date)
 * can neither stretch nor cut a deadline kept in it. */
int64_t aml_monotonic_ms(void);

/*
 * Wait for the child [pid] to exit until [deadline_ms] (aml_monotonic_ms
 * time), with sleeps that start at 1 ms and grow to 50 ms while it
 * lingers.  [status] (may be NULL) gets its wait status.  Returns 0
 * reaped, 1 when the deadline passed first, -1 when waitpid fails (errno
 * set; the status is lost).
 */
int aml_waitpid_until(pid_t pid, int *status, int64_t deadline_ms);

#endif
