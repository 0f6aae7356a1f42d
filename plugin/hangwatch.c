/*
 * hangwatch.c: see hangwatch.h.
 *
 * The stamp is a seqlock in a MAP_SHARED|MAP_ANONYMOUS page made before
 * the fork: the child (the only writer) makes the sequence odd, changes
 * the fields, makes it even again; the parent copies the fields and keeps
 * the copy only when the sequence was even and the same before and
 * after.  The child never waits on the parent, so a parent that is slow
 * to look costs the child nothing.
 *
 * The parent sleeps in poll() on a signalfd (SIGCHLD, the signals it
 * forwards, SIGCONT) until the current operation would be too old: no
 * busy loop, and while the child is idle one wake-up per timeout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "hangwatch.h"
#include "text.h"

#define WHAT_MAX 512

struct stamp {
	unsigned seq;       /* odd while the child changes the rest */
	int writing;        /* the operation may change something */
	int wrote;          /* an operation that may change something began
			     * (this one or an earlier one) */
	int64_t since_ms;   /* its start or its last answer; 0: idle */
	char what[WHAT_MAX];
};

/* The watched child's view of the stamp; NULL in every other process. */
static struct stamp *stamp;
static int depth;

/* ---- the child's side ---- */

static void stamp_open(void)
{
	unsigned s = __atomic_load_n(&stamp->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&stamp->seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void stamp_close(void)
{
	unsigned s = __atomic_load_n(&stamp->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&stamp->seq, s + 1, __ATOMIC_RELEASE);
}

/* 0 means idle: a clock that reads 0 (it does not, after boot) is told
 * as 1. */
static int64_t stamp_now(void)
{
	int64_t now = aml_monotonic_ms();

	return now > 0 ? now : 1;
}

void aml_hangwatch_busy(int writing, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (!stamp)
		return;
	if (depth++ > 0) {
		if (writing && !stamp->writing) {
			stamp_open();
			stamp->writing = 1;
			stamp->wrote = 1;
			stamp_close();
		}
		return;
	}
	stamp_open();
	stamp->since_ms = stamp_now();
	stamp->writing = writing != 0;
	if (writing)
		stamp->wrote = 1;
	va_start(ap, fmt);
	vsnprintf(stamp->what, sizeof(stamp->what), fmt, ap);
	va_end(ap);
	stamp_close();
	errno = saved;
}

void aml_hangwatch_idle(void)
{
	if (!stamp || depth == 0 || --depth > 0)
		return;
	stamp_open();
	stamp->since_ms = 0;
	stamp_close();
}

void aml_hangwatch_progress(void)
{
	if (!stamp || depth == 0)
		return;
	stamp_open();
	stamp->since_ms = stamp_now();
	stamp_close();
}

/* In a child the watched one forks (aml_bounded_call's, a helper before
 * its exec): not the process the parent waits for. */
static void forget_stamp(void)
{
	stamp = NULL;
	depth = 0;
}

/* ---- the parent's side ---- */

/* A consistent copy of [shared] in [out]: 0, or -1 when the child was
 * changing it every time (it is not hung, then). */
static int snapshot(const struct stamp *shared, struct stamp *out)
{
	for (int i = 0; i < 100; i++) {
		unsigned s = __atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE);

		if (s & 1)
			continue;
		memcpy(out, (const void *)shared, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&shared->seq, __ATOMIC_RELAXED) == s) {
			out->what[sizeof(out->what) - 1] = '\0';
			return 0;
		}
	}
	return -1;
}

/* End the way the child ended. */
static void __attribute__((noreturn)) end_as(int status)
{
	sigset_t one;
	int sig;

	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	sig = WTERMSIG(status);
	switch (sig) {
	case SIGHUP: case SIGINT: case SIGKILL: case SIGPIPE: case SIGALRM:
	case SIGTERM: case SIGUSR1: case SIGUSR2:
		/* Signals that end a process without a core: the shell
		 * sees the same death ("Terminated", a pipeline's SIGPIPE
		 * kept quiet).  Those that dump core are not re-raised: a
		 * core of the watcher would only mislead. */
		signal(sig, SIG_DFL);
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		raise(sig);
		break;
	default:
		break;
	}
	_exit(128 + sig);
}

static void __attribute__((noreturn)) say_hung(pid_t child,
					       const struct stamp *snap,
					       int64_t timeout_ms,
					       const char *what_hangs,
					       const char *program)
{
	char shown[4 * WHAT_MAX], bound[32], line[sizeof(shown) + 512];
	const char *outcome;
	int status, n;

	/* It may have ended just now, with a status of its own. */
	if (waitpid(child, &status, WNOHANG) == child)
		end_as(status);
	if (timeout_ms % 1000)
		snprintf(bound, sizeof(bound), "%lld ms", (long long)timeout_ms);
	else
		snprintf(bound, sizeof(bound), "%lld s",
			 (long long)(timeout_ms / 1000));
	if (snap->writing)
		outcome = "the write may or may not have happened";
	else if (snap->wrote)
		outcome = "what this command wrote before stands";
	else
		outcome = "nothing was changed by this command";
	aml_text_escape(snap->what, shown, sizeof(shown));
	n = snprintf(line, sizeof(line), "%s: %s did not answer within %s "
		     "(%s): it may be hung; %s, try again later\n", program,
		     what_hangs, bound, shown, outcome);
	if (n > 0) {
		size_t len = (size_t)n < sizeof(line) ? (size_t)n
						      : sizeof(line) - 1;
		ssize_t w;

		/* One write, so the line is never mixed with another. */
		do
			w = write(STDERR_FILENO, line, len);
		while (w < 0 && errno == EINTR);
	}
	kill(child, SIGKILL);
	_exit(AML_HANGWATCH_EXIT);
}

/* The parent: wait for [child], forward signals, watch the stamp. */
static void __attribute__((noreturn)) watch(pid_t child, int sfd,
					    const struct stamp *shared,
					    int64_t read_ms, int64_t write_ms,
					    const char *what_hangs,
					    const char *program)
{
	int64_t resumed_ms = 0;

	/* Its one line to a stderr nobody reads any more must not end it
	 * before the child is killed and the status given. */
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct signalfd_siginfo si[8];
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		struct stamp snap;
		int64_t now, began, left, bound;
		int status, wait_ms;
		pid_t r = waitpid(child, &status, WNOHANG);
		ssize_t got;

		if (r == child)
			end_as(status);
		if (r < 0 && errno != EINTR) {
			/* Not ours any more: nothing left to watch. */
			dprintf(STDERR_FILENO, "%s: lost track of its own "
				"process: %s\n", program, strerror(errno));
			_exit(1);
		}
		now = aml_monotonic_ms();
		if (snapshot(shared, &snap) < 0) {
			wait_ms = 10;
		} else if (!snap.since_ms) {
			left = read_ms;
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		} else {
			bound = snap.writing ? write_ms : read_ms;
			/* Stopped and continued (^Z, fg): the time stopped
			 * was nobody's failure to answer. */
			began = snap.since_ms > resumed_ms ? snap.since_ms
							   : resumed_ms;
			left = began + bound - now;
			if (left <= 0)
				say_hung(child, &snap, bound, what_hangs,
					 program);
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		if (poll(&pfd, 1, wait_ms) <= 0)
			continue;
		while ((got = read(sfd, si, sizeof(si))) > 0) {
			for (size_t i = 0; i < (size_t)got / sizeof(si[0]);
			     i++) {
				int sig = (int)si[i].ssi_signo;

				if (sig == SIGCONT)
					resumed_ms = aml_monotonic_ms();
				else if (sig != SIGCHLD)
					kill(child, sig);
			}
		}
	}
}

int aml_hangwatch_start(int64_t timeout_ms, int64_t write_timeout_ms,
			const char *what_hangs, const char *program)
{
	static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
				       SIGCHLD, SIGCONT };
	static int atfork_set;
	struct sigaction dfl, old_chld;
	sigset_t set, old_mask;
	struct stamp *shared;
	int sfd;
	pid_t pid;

	if (stamp || timeout_ms <= 0)
		return 0;
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return 0;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaddset(&set, signals[i]);
	/* Blocked before the fork, so none is lost in between; SIGCHLD
	 * at its default, since an ignored one would reap the child
	 * before the parent learns how it ended. */
	if (sigprocmask(SIG_BLOCK, &set, &old_mask) < 0) {
		munmap(shared, sizeof(*shared));
		return 0;
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old_chld);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		goto unwatched;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(sfd);
		goto unwatched;
	}
	if (pid > 0)
		watch(pid, sfd, shared, timeout_ms,
		      write_timeout_ms > timeout_ms ? write_timeout_ms
						    : timeout_ms,
		      what_hangs, program);
	close(sfd);
	sigaction(SIGCHLD, &old_chld, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	stamp = shared;
	depth = 0;
	if (!atfork_set && pthread_atfork(NULL, NULL, forget_stamp) == 0)
		atfork_set = 1;
	return 0;

unwatched:
	sigaction(SIGCHLD, &old_chld, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	munmap(shared, sizeof(*shared));
	return 0;
}
