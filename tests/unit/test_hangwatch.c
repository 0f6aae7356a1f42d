/*
 * test_hangwatch.c: the command's work in a watched child
 * (plugin/hangwatch.c): an operation that goes unanswered past the bound
 * makes the parent say so in one line, kill the child and exit 75 (the
 * line saying what became of the work: nothing changed, earlier writes
 * stand, or a write that may or may not have happened), even when nobody
 * reads its stderr any more; a write has its own, longer bound; many
 * short operations, or a long one that keeps getting answers, are not
 * stopped; exit statuses and signal deaths pass through; SIGTERM to the
 * parent reaches the child; a child's own fork is not watched; no watch,
 * no fork.
 *
 * Each case runs in a forked process of its own, which becomes the
 * watcher, so the test program is never the process watched; its stderr
 * comes back through a pipe.  The test program is the subreaper of what
 * it starts, so the child a watcher leaves behind is reaped here, and how
 * it ended can be checked.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hangwatch.h"

#define PROGRAM "test-hangwatch"
#define WHAT "the test's store"

/* A watched case: the watcher's pid, its stderr, and the pipe on which
 * the child says it is ready (its pid, as text). */
struct watched {
	pid_t watcher;
	int err_fd, ready_fd;
	int64_t started_ms;
	/* after finish() */
	int status;
	int64_t took_ms;
	char err[4096];
};

typedef int (*work_fn)(int ready_fd);

/* When set, the case's stderr is fully buffered and holds this, unwritten,
 * when the watch starts. */
static const char *buffered_before_watch;

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Block for good, as on a filesystem that does not answer: a read of a
 * pipe whose only writer is this process. */
static void hang(void)
{
	int p[2];
	char c;

	if (pipe(p) < 0)
		_exit(99);
	for (;;)
		if (read(p[0], &c, 1) < 0 && errno != EINTR)
			_exit(98);
}

static void say_ready(int ready_fd)
{
	dprintf(ready_fd, "%ld\n", (long)getpid());
	close(ready_fd);
}

/* Reads have [timeout_ms], writes [write_ms]. */
static void launch_rw(struct watched *w, int64_t timeout_ms, int64_t write_ms,
		      work_fn work)
{
	int errp[2], readyp[2];

	assert_int_equal(pipe(errp), 0);
	assert_int_equal(pipe(readyp), 0);
	fflush(NULL);
	w->started_ms = aml_monotonic_ms();
	w->watcher = fork();
	assert_true(w->watcher >= 0);
	if (w->watcher == 0) {
		close(errp[0]);
		close(readyp[0]);
		if (dup2(errp[1], STDERR_FILENO) < 0)
			_exit(97);
		close(errp[1]);
		if (buffered_before_watch) {
			setvbuf(stderr, NULL, _IOFBF, BUFSIZ);
			fputs(buffered_before_watch, stderr);
		}
		aml_hangwatch_start(timeout_ms, write_ms, WHAT, PROGRAM);
		/* _exit: nothing buffered is written at the end. */
		_exit(work(readyp[1]));
	}
	close(errp[1]);
	close(readyp[1]);
	w->err_fd = errp[0];
	w->ready_fd = readyp[0];
}

static void launch(struct watched *w, int64_t timeout_ms, work_fn work)
{
	launch_rw(w, timeout_ms, timeout_ms, work);
}

/* The watched child's pid, once it says it is ready. */
static pid_t wait_ready(struct watched *w)
{
	char buf[32];
	ssize_t n = read(w->ready_fd, buf, sizeof(buf) - 1);

	assert_true(n > 0);
	buf[n] = '\0';
	return (pid_t)atol(buf);
}

/* Wait for the watcher; then its stderr, to the end (which comes when
 * the child it left behind is gone too). */
static void finish(struct watched *w)
{
	size_t at = 0;
	ssize_t n;

	assert_int_equal(waitpid(w->watcher, &w->status, 0), w->watcher);
	w->took_ms = aml_monotonic_ms() - w->started_ms;
	while (w->err_fd >= 0 && at < sizeof(w->err) - 1 &&
	       (n = read(w->err_fd, w->err + at, sizeof(w->err) - 1 - at)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		at += (size_t)n;
	}
	w->err[at] = '\0';
	if (w->err_fd >= 0)
		close(w->err_fd);
	close(w->ready_fd);
}

static void assert_exit(const struct watched *w, int code)
{
	if (!WIFEXITED(w->status) || WEXITSTATUS(w->status) != code)
		fail_msg("wanted exit %d, got status 0x%x; stderr: %s", code,
			 w->status, w->err);
}

/* The child a watcher left behind was killed, and is reaped here. */
static void assert_killed(pid_t child)
{
	int status;

	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* ---- a hang ---- */

static int read_hangs(int ready_fd)
{
	aml_hangwatch_busy(0, "reading run %s in %s", "hello_1",
			   "/shared/aml/history");
	say_ready(ready_fd);
	hang();
	return 0;
}

static void test_hang_is_told_and_stopped(void **state)
{
	struct watched w;
	pid_t child;

	(void)state;
	launch(&w, 200, read_hangs);
	child = wait_ready(&w);
	finish(&w);
	assert_exit(&w, AML_HANGWATCH_EXIT);
	assert_string_equal(w.err, PROGRAM ": " WHAT " did not answer within "
			    "200 ms (reading run hello_1 in "
			    "/shared/aml/history): it may be hung; nothing "
			    "was changed by this command, try again later\n");
	assert_true(w.took_ms >= 200);
	assert_true(w.took_ms < 5000);
	assert_killed(child);
}

/* Nobody reads stderr any more (a pipeline's reader gone): the line
 * cannot be written, and the watcher still kills and exits 75, rather
 * than die of SIGPIPE. */
static void test_hang_with_stderr_gone(void **state)
{
	struct watched w;
	pid_t child;

	(void)state;
	launch(&w, 200, read_hangs);
	close(w.err_fd);
	w.err_fd = -1;
	child = wait_ready(&w);
	finish(&w);
	assert_exit(&w, AML_HANGWATCH_EXIT);
	assert_killed(child);
}

/* A write, its description from elsewhere (escaped when shown). */
static int write_hangs(int ready_fd)
{
	aml_hangwatch_busy(1, "writing run %s to %s", "bad\033[2Jrun",
			   "/shared/aml/history");
	say_ready(ready_fd);
	hang();
	return 0;
}

/* A write has the bound of a write. */
static void test_write_hang_may_have_happened(void **state)
{
	struct watched w;
	pid_t child;

	(void)state;
	launch_rw(&w, 200, 1000, write_hangs);
	child = wait_ready(&w);
	finish(&w);
	assert_exit(&w, AML_HANGWATCH_EXIT);
	assert_string_equal(w.err, PROGRAM ": " WHAT " did not answer within "
			    "1 s (writing run bad\\x1b[2Jrun to "
			    "/shared/aml/history): it may be hung; the write "
			    "may or may not have happened, try again later\n");
	assert_true(w.took_ms >= 1000);
	assert_killed(child);
}

/* A write that bounds itself and takes longer than a read may: not
 * stopped (the watch must not win its race to queue). */
static int slow_write(int ready_fd)
{
	close(ready_fd);
	aml_hangwatch_busy(0, "replaying queued writes");
	pause_ms(100);
	aml_hangwatch_busy(1, "replaying a write");
	pause_ms(500);
	aml_hangwatch_idle();
	aml_hangwatch_idle();
	return 0;
}

static void test_write_has_its_own_bound(void **state)
{
	struct watched w;

	(void)state;
	launch_rw(&w, 200, 2000, slow_write);
	finish(&w);
	assert_exit(&w, 0);
	assert_string_equal(w.err, "");
}

/* A read that hangs after a write: what was written stands.  Nested
 * pairs: the outermost names the operation; an inner write makes it a
 * write. */
static int read_after_write_hangs(int ready_fd)
{
	aml_hangwatch_busy(1, "writing run a to b");
	aml_hangwatch_idle();
	aml_hangwatch_busy(0, "outer read");
	aml_hangwatch_busy(0, "inner read");
	aml_hangwatch_idle();
	say_ready(ready_fd);
	hang();
	return 0;
}

static int inner_write_hangs(int ready_fd)
{
	aml_hangwatch_busy(0, "outer read");
	aml_hangwatch_busy(1, "inner write");
	say_ready(ready_fd);
	hang();
	return 0;
}

static void test_what_became_of_the_work(void **state)
{
	struct watched w;
	pid_t child;

	(void)state;
	launch(&w, 200, read_after_write_hangs);
	child = wait_ready(&w);
	finish(&w);
	assert_killed(child);
	assert_exit(&w, AML_HANGWATCH_EXIT);
	assert_non_null(strstr(w.err, "(outer read): it may be hung; what "
			       "this command wrote before stands, try again "
			       "later\n"));

	launch(&w, 200, inner_write_hangs);
	child = wait_ready(&w);
	finish(&w);
	assert_killed(child);
	assert_exit(&w, AML_HANGWATCH_EXIT);
	assert_non_null(strstr(w.err, "(outer read): it may be hung; the "
			       "write may or may not have happened"));
}

/* ---- no hang ---- */

/* Forty operations of 20 ms: 800 ms in all, four times the bound. */
static int many_short_operations(int ready_fd)
{
	close(ready_fd);
	for (int i = 0; i < 40; i++) {
		aml_hangwatch_busy(0, "reading run %d", i);
		pause_ms(20);
		aml_hangwatch_idle();
		pause_ms(1);
	}
	return 0;
}

/* One operation of 800 ms that gets an answer every 20 ms. */
static int long_operation_answered(int ready_fd)
{
	close(ready_fd);
	aml_hangwatch_busy(0, "downloading run x");
	for (int i = 0; i < 40; i++) {
		pause_ms(20);
		aml_hangwatch_progress();
	}
	aml_hangwatch_idle();
	return 0;
}

/* Idle for longer than the bound (between the polls of aml-run wait). */
static int idle_long(int ready_fd)
{
	close(ready_fd);
	aml_hangwatch_busy(0, "reading run x");
	aml_hangwatch_idle();
	pause_ms(600);
	aml_hangwatch_busy(0, "reading run x");
	aml_hangwatch_idle();
	return 0;
}

static void test_short_operations_are_not_stopped(void **state)
{
	work_fn works[] = { many_short_operations, long_operation_answered,
			    idle_long };
	struct watched w;

	(void)state;
	for (size_t i = 0; i < sizeof(works) / sizeof(works[0]); i++) {
		launch(&w, 200, works[i]);
		finish(&w);
		assert_exit(&w, 0);
		assert_string_equal(w.err, "");
		assert_true(w.took_ms >= 500);
	}
}

/* ---- how the child ends is how the parent ends ---- */

static int exit_0(int ready_fd)
{
	close(ready_fd);
	return 0;
}

static int exit_3(int ready_fd)
{
	close(ready_fd);
	/* Around stdio's buffer, which _exit drops. */
	if (write(STDERR_FILENO, "said after\n", 11) != 11)
		return 96;
	return 3;
}

static int killed_by_sigterm(int ready_fd)
{
	close(ready_fd);
	raise(SIGTERM);
	return 0;
}

static int killed_by_sigint(int ready_fd)
{
	close(ready_fd);
	raise(SIGINT);
	return 0;
}

static int killed_by_sigquit(int ready_fd)
{
	struct rlimit none = { 0, 0 };

	close(ready_fd);
	setrlimit(RLIMIT_CORE, &none);
	raise(SIGQUIT);
	return 0;
}

static void test_exit_status_passes_through(void **state)
{
	struct watched w;

	(void)state;
	launch(&w, 1000, exit_0);
	finish(&w);
	assert_exit(&w, 0);
	assert_string_equal(w.err, "");

	/* What stdio held was written before the fork: once, and not
	 * lost with the child's _exit. */
	buffered_before_watch = "said before\n";
	launch(&w, 1000, exit_3);
	buffered_before_watch = NULL;
	finish(&w);
	assert_exit(&w, 3);
	assert_string_equal(w.err, "said before\nsaid after\n");
}

static void test_signal_death_passes_through(void **state)
{
	struct watched w;

	(void)state;
	launch(&w, 1000, killed_by_sigterm);
	finish(&w);
	assert_true(WIFSIGNALED(w.status));
	assert_int_equal(WTERMSIG(w.status), SIGTERM);

	launch(&w, 1000, killed_by_sigint);
	finish(&w);
	assert_true(WIFSIGNALED(w.status));
	assert_int_equal(WTERMSIG(w.status), SIGINT);

	/* One that dumps core: an exit status, not a core of the watcher. */
	launch(&w, 1000, killed_by_sigquit);
	finish(&w);
	assert_exit(&w, 128 + SIGQUIT);
}

static int wait_for_signal(int ready_fd)
{
	say_ready(ready_fd);
	hang();
	return 0;
}

static void test_sigterm_reaches_child(void **state)
{
	struct watched w;

	(void)state;
	/* Idle: the watch never fires; only the signal ends it. */
	launch(&w, 60000, wait_for_signal);
	wait_ready(&w);
	assert_int_equal(kill(w.watcher, SIGTERM), 0);
	finish(&w);
	assert_true(WIFSIGNALED(w.status));
	assert_int_equal(WTERMSIG(w.status), SIGTERM);
	assert_string_equal(w.err, "");
	assert_true(w.took_ms < 5000);
}

/* ---- what is not watched ---- */

/* A child of the watched child stamps nothing the watcher reads. */
static int grandchild_busy(int ready_fd)
{
	pid_t pid;
	int status;

	close(ready_fd);
	pid = fork();
	if (pid == 0) {
		aml_hangwatch_busy(0, "the grandchild's read");
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 90;
	pause_ms(600);
	return 7;
}

static void test_grandchild_not_watched(void **state)
{
	struct watched w;

	(void)state;
	launch(&w, 200, grandchild_busy);
	finish(&w);
	assert_exit(&w, 7);
	assert_string_equal(w.err, "");
}

static void test_no_watch_no_fork(void **state)
{
	pid_t me = getpid();

	(void)state;
	/* Never started here: the calls do nothing. */
	aml_hangwatch_busy(1, "nothing %d", 1);
	aml_hangwatch_progress();
	aml_hangwatch_idle();
	aml_hangwatch_idle();
	/* No bound: the process carries on as it is. */
	assert_int_equal(aml_hangwatch_start(0, 1000, WHAT, PROGRAM), 0);
	assert_int_equal(aml_hangwatch_start(-5, 1000, WHAT, PROGRAM), 0);
	assert_int_equal(getpid(), me);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hang_is_told_and_stopped),
		cmocka_unit_test(test_hang_with_stderr_gone),
		cmocka_unit_test(test_write_hang_may_have_happened),
		cmocka_unit_test(test_write_has_its_own_bound),
		cmocka_unit_test(test_what_became_of_the_work),
		cmocka_unit_test(test_short_operations_are_not_stopped),
		cmocka_unit_test(test_exit_status_passes_through),
		cmocka_unit_test(test_signal_death_passes_through),
		cmocka_unit_test(test_sigterm_reaches_child),
		cmocka_unit_test(test_grandchild_not_watched),
		cmocka_unit_test(test_no_watch_no_fork),
	};

	/* The children watchers leave behind come here. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("prctl(PR_SET_CHILD_SUBREAPER)");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
