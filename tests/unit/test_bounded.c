/*
 * test_bounded.c: work in a child the caller can stop (plugin/bounded.c):
 * the answer and its message come back, a child that does not answer by
 * the deadline is stopped (also one blocked on a lock, the case it exists
 * for), one that dies or answers out of range is a failure, the identity
 * switch happens in the child only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bounded.h"

#define NOBODY 65534

static int answer_42(void *arg, char *errbuf, size_t errlen)
{
	(void)arg;
	snprintf(errbuf, errlen, "the answer, from pid %ld", (long)getpid());
	return 42;
}

static void test_answer_and_message(void **state)
{
	char err[256];
	int64_t before = aml_monotonic_ms();

	(void)state;
	assert_int_equal(aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
					  before + 5000, answer_42, NULL, err,
					  sizeof(err)),
			 42);
	assert_non_null(strstr(err, "the answer, from pid "));
	/* In another process, not this one. */
	assert_null(strstr(err, "the answer, from pid 0"));
	assert_true(atol(strstr(err, "pid ") + 4) != (long)getpid());
	assert_true(aml_monotonic_ms() - before < 2000);
}

static int negative(void *arg, char *errbuf, size_t errlen)
{
	(void)arg;
	(void)errbuf;
	(void)errlen;
	return -2;
}

static void test_negative_answer_and_no_message(void **state)
{
	char err[64] = "stale";

	(void)state;
	assert_int_equal(aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
					  aml_monotonic_ms() + 5000, negative,
					  NULL, err, sizeof(err)),
			 -2);
	assert_string_equal(err, "");
}

static int sleep_forever(void *arg, char *errbuf, size_t errlen)
{
	(void)arg;
	(void)errbuf;
	(void)errlen;
	for (;;)
		pause();
	return 0;
}

static void test_timeout_stops_child(void **state)
{
	char err[256];
	int64_t before = aml_monotonic_ms(), took;

	(void)state;
	assert_int_equal(aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
					  before + 300, sleep_forever, NULL,
					  err, sizeof(err)),
			 AML_BOUNDED_TIMEOUT);
	took = aml_monotonic_ms() - before;
	assert_true(took >= 290);
	assert_true(took < 1500);
	assert_non_null(strstr(err, "stopped"));
}

/* Work that moves on for [*arg] ms, saying so every 20 ms. */
static int busy_with_progress(void *arg, char *errbuf, size_t errlen)
{
	int64_t until = aml_monotonic_ms() + *(const int *)arg;

	(void)errbuf;
	(void)errlen;
	while (aml_monotonic_ms() < until) {
		struct timespec step = { 0, 20 * 1000000L };

		nanosleep(&step, NULL);
		aml_bounded_progress();
	}
	return 7;
}

/* Watched: a child that moves on is waited for well past the idle time;
 * one that stops is given up after it. */
static void test_watched_progress_and_stall(void **state)
{
	char err[256];
	int for_ms = 800;
	int64_t before = aml_monotonic_ms(), took;

	(void)state;
	assert_int_equal(aml_bounded_call_watched(AML_BOUNDED_AS_CALLER, 0,
						  200, 0, busy_with_progress,
						  &for_ms, err, sizeof(err)),
			 7);
	assert_true(aml_monotonic_ms() - before >= 800);

	before = aml_monotonic_ms();
	assert_int_equal(aml_bounded_call_watched(AML_BOUNDED_AS_CALLER, 0,
						  200, 0, sleep_forever, NULL,
						  err, sizeof(err)),
			 AML_BOUNDED_TIMEOUT);
	took = aml_monotonic_ms() - before;
	assert_true(took >= 190);
	assert_true(took < 1500);

	/* The hard deadline still holds for one that never stops moving. */
	for_ms = 5000;
	before = aml_monotonic_ms();
	assert_int_equal(aml_bounded_call_watched(AML_BOUNDED_AS_CALLER, 0,
						  200, before + 400,
						  busy_with_progress, &for_ms,
						  err, sizeof(err)),
			 AML_BOUNDED_TIMEOUT);
	took = aml_monotonic_ms() - before;
	assert_true(took >= 390);
	assert_true(took < 2000);
	/* Outside a watched child, progress is nothing. */
	aml_bounded_progress();
}

/* The case it exists for: a lock someone else holds. */
static int lock_file(void *arg, char *errbuf, size_t errlen)
{
	const char *path = arg;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 1;
}

static void test_timeout_on_held_lock(void **state)
{
	char path[] = "/tmp/test_bounded.XXXXXX", err[256];
	int fd = mkstemp(path), held;
	int64_t before;

	(void)state;
	assert_true(fd >= 0);
	/* Another open file description holds it, as the user would. */
	held = open(path, O_RDWR | O_CLOEXEC);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_EX), 0);
	before = aml_monotonic_ms();
	assert_int_equal(aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
					  before + 300, lock_file, path, err,
					  sizeof(err)),
			 AML_BOUNDED_TIMEOUT);
	assert_true(aml_monotonic_ms() - before < 1500);
	/* Let go, and the same work goes through. */
	close(held);
	assert_int_equal(aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
					  aml_monotonic_ms() + 5000, lock_file,
					  path, err, sizeof(err)),
			 1);
	close(fd);
	unlink(path);
}

static int must_not_run(void *arg, char *errbuf, size_t errlen)
{
	(void)errbuf;
	(void)errlen;
	close(open(arg, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	return 0;
}

static void test_no_time_left(void **state)
{
	char dir[] = "/tmp/test_bounded.XXXXXX", path[64], err[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ran", dir);
	assert_int_equal(aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
					  aml_monotonic_ms() - 1, must_not_run,
					  path, err, sizeof(err)),
			 AML_BOUNDED_TIMEOUT);
	assert_int_equal(access(path, F_OK), -1);
	assert_non_null(strstr(err, "no time"));
	rmdir(dir);
}

static int crash(void *arg, char *errbuf, size_t errlen)
{
	(void)arg;
	(void)errlen;
	errbuf[0] = 'x';
	signal(SIGABRT, SIG_DFL);
	abort();
}

static int out_of_range(void *arg, char *errbuf, size_t errlen)
{
	(void)arg;
	(void)errbuf;
	(void)errlen;
	return 5000;
}

static void test_crash_and_bad_answer_fail(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
					  aml_monotonic_ms() + 5000, crash,
					  NULL, err, sizeof(err)),
			 AML_BOUNDED_FAILED);
	assert_non_null(strstr(err, "without an answer"));
	assert_int_equal(aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
					  aml_monotonic_ms() + 5000,
					  out_of_range, NULL, err, sizeof(err)),
			 AML_BOUNDED_FAILED);
	assert_non_null(strstr(err, "5000"));
}

static int who_am_i(void *arg, char *errbuf, size_t errlen)
{
	gid_t groups[8];
	int n = getgroups(8, groups);

	(void)arg;
	snprintf(errbuf, errlen, "euid %lu egid %lu ruid %lu groups %d:%lu",
		 (unsigned long)geteuid(), (unsigned long)getegid(),
		 (unsigned long)getuid(), n, n > 0 ? (unsigned long)groups[0]
						   : 0ul);
	return 0;
}

static void test_acts_as_owner_in_child_only(void **state)
{
	char err[256];

	(void)state;
	if (geteuid() != 0) {
		/* Not root: becoming someone else is refused, and said. */
		assert_int_equal(aml_bounded_call(NOBODY == geteuid() ? 1
								      : NOBODY,
						  NOBODY,
						  aml_monotonic_ms() + 5000,
						  who_am_i, NULL, err,
						  sizeof(err)),
				 AML_BOUNDED_FAILED);
		assert_non_null(strstr(err, "not root"));
		return;
	}
	assert_int_equal(aml_bounded_call(NOBODY, NOBODY,
					  aml_monotonic_ms() + 5000, who_am_i,
					  NULL, err, sizeof(err)),
			 0);
	/* The real uid stays root: the user cannot signal or trace it. */
	assert_string_equal(err, "euid 65534 egid 65534 ruid 0 groups 1:65534");
	assert_int_equal(geteuid(), 0);
	assert_int_equal(getegid(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_and_message),
		cmocka_unit_test(test_negative_answer_and_no_message),
		cmocka_unit_test(test_timeout_stops_child),
		cmocka_unit_test(test_timeout_on_held_lock),
		cmocka_unit_test(test_watched_progress_and_stall),
		cmocka_unit_test(test_no_time_left),
		cmocka_unit_test(test_crash_and_bad_answer_fail),
		cmocka_unit_test(test_acts_as_owner_in_child_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
