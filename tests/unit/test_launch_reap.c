/*
 * test_launch_reap.c: a command run with this process as its subreaper
 * (tools/launch_reap.c), as podman is: what it leaves behind comes back,
 * is waited for a while and then ended; the command's end is given back.
 * Each case runs in a child of its own, which becomes the subreaper.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch_reap.h"

struct result {
	int rc;
	int wait_status;
	long elapsed_ms;
	char err[256];
};

static char dir[] = "/tmp/aml-test-reap-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* launch_reap_run of "sh -c SCRIPT" in a child of ours. */
static struct result reap_in_child(const char *script, const char *keeper,
				   int64_t grace_ms)
{
	struct result r;
	int fds[2];
	pid_t pid;

	memset(&r, 0, sizeof(r));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
		struct timespec a, b;

		close(fds[0]);
		clock_gettime(CLOCK_MONOTONIC, &a);
		r.rc = launch_reap_run(argv, keeper, grace_ms, &r.wait_status,
				       r.err, sizeof(r.err));
		clock_gettime(CLOCK_MONOTONIC, &b);
		r.elapsed_ms = (b.tv_sec - a.tv_sec) * 1000 +
			       (b.tv_nsec - a.tv_nsec) / 1000000;
		(void)!write(fds[1], &r, sizeof(r));
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(fds[0]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return r;
}

static pid_t pid_in(const char *name)
{
	char path[128];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

static int file_says(const char *name, const char *want)
{
	char path[128], got[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(got, sizeof(got), f))
		got[0] = '\0';
	fclose(f);
	return !strcmp(got, want);
}

/* The command's own exit status comes back, and a process it left that
 * never ends is killed once the grace is over: none outlives us. */
static void test_leftover_is_ended(void **state)
{
	char script[256];
	struct result r;
	pid_t left;

	(void)state;
	snprintf(script, sizeof(script),
		 "sleep 300 & echo $! > %s/left; exit 3", dir);
	r = reap_in_child(script, NULL, 200);
	assert_int_equal(r.rc, 0);
	assert_true(WIFEXITED(r.wait_status));
	assert_int_equal(WEXITSTATUS(r.wait_status), 3);
	left = pid_in("left");
	assert_true(left > 0);
	assert_int_equal(kill(left, 0), -1);
	assert_int_equal(errno, ESRCH);
}

/* A leftover that ends by itself within the grace (conmon running
 * podman's clean-up) is waited for, not killed. */
static void test_leftover_within_grace_finishes(void **state)
{
	char script[256];
	struct result r;

	(void)state;
	snprintf(script, sizeof(script),
		 "(sleep 0.3; echo done > %s/finished) & exit 0", dir);
	r = reap_in_child(script, NULL, 60000);
	assert_int_equal(r.rc, 0);
	assert_int_equal(WEXITSTATUS(r.wait_status), 0);
	assert_true(file_says("finished", "done\n"));
}

/* A leftover that a daemon's own leftovers hide behind: killing the
 * first brings its children back to us, and they are ended too. */
static void test_grandchildren_are_ended(void **state)
{
	char script[256];
	struct result r;
	pid_t inner;

	(void)state;
	snprintf(script, sizeof(script),
		 "sh -c 'sleep 300 & echo $! > %s/inner; wait' & exit 0", dir);
	r = reap_in_child(script, NULL, 300);
	assert_int_equal(r.rc, 0);
	inner = pid_in("inner");
	assert_true(inner > 0);
	assert_int_equal(kill(inner, 0), -1);
}

/* The keeper (podman's pause process) is not waited for: the reaper
 * does not sit out the grace for a process that never ends. */
static void test_keeper_not_waited_for(void **state)
{
	char script[256], keeper[128];
	struct result r;
	pid_t kept;

	(void)state;
	snprintf(keeper, sizeof(keeper), "%s/pause.pid", dir);
	snprintf(script, sizeof(script), "sleep 300 & echo $! > %s; exit 0",
		 keeper);
	r = reap_in_child(script, keeper, 600000);
	assert_int_equal(r.rc, 0);
	assert_true(r.elapsed_ms < 600000);
	kept = pid_in("pause.pid");
	assert_true(kept > 0);
	assert_int_equal(kill(kept, 0), -1);
}

/* Slurm's SIGTERM to the process group reaches the reaper too: it is
 * held, and the command's own end is what comes back. */
static void test_held_signal_does_not_end_reaper(void **state)
{
	struct result r;

	(void)state;
	r = reap_in_child("kill -TERM $PPID; sleep 0.2; exit 5", NULL, 1000);
	assert_int_equal(r.rc, 0);
	assert_true(WIFEXITED(r.wait_status));
	assert_int_equal(WEXITSTATUS(r.wait_status), 5);
}

static void test_command_killed_by_signal(void **state)
{
	struct result r;

	(void)state;
	r = reap_in_child("kill -KILL $$", NULL, 1000);
	assert_int_equal(r.rc, 0);
	assert_true(WIFSIGNALED(r.wait_status));
	assert_int_equal(WTERMSIG(r.wait_status), SIGKILL);
}

static void test_missing_command(void **state)
{
	char *argv[] = { "/nonexistent/aml-runtime", NULL };
	int fds[2], status;
	pid_t pid;
	struct result r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		r.rc = launch_reap_run(argv, NULL, 100, &r.wait_status, r.err,
				       sizeof(r.err));
		(void)!write(fds[1], &r, sizeof(r));
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(fds[0]);
	waitpid(pid, &status, 0);
	assert_int_equal(r.rc, -1);
	assert_int_equal(WEXITSTATUS(r.wait_status), 127);
	assert_non_null(strstr(r.err, "/nonexistent/aml-runtime"));
}

/* The reaper ends as the command did: exit status or signal. */
static void test_mirror(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	if (pid == 0)
		launch_reap_mirror(7 << 8);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);

	pid = fork();
	if (pid == 0) {
		sigset_t all;

		/* Held, as the reaper holds it. */
		sigemptyset(&all);
		sigaddset(&all, SIGTERM);
		sigprocmask(SIG_BLOCK, &all, NULL);
		launch_reap_mirror(SIGTERM);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_leftover_is_ended),
		T(test_leftover_within_grace_finishes),
		T(test_grandchildren_are_ended),
		T(test_keeper_not_waited_for),
		T(test_held_signal_does_not_end_reaper),
		T(test_command_killed_by_signal),
		T(test_missing_command),
		T(test_mirror),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
