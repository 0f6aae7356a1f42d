/*
 * bounded.c: work in a child the caller can stop (see bounded.h).
 *
 * The child answers through a pipe: a 4-byte result, then its message.
 * End of file without the 4 bytes means it died first.  The caller polls
 * the pipe until the deadline; the answer is what decides, the exit
 * status only confirms the child is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bounded.h"
#include "errors.h"
#include "fdio.h"
#include "privdrop.h"

#define MESSAGE_MAX 1024
#define REAP_GRACE_MS 1000
/* How often a watching parent looks at the child's progress. */
#define WATCH_STEP_MS 50

/* In a watched child: the counter its parent reads. */
static volatile uint64_t *progress_counter;

void aml_bounded_progress(void)
{
	if (progress_counter)
		__atomic_add_fetch(progress_counter, 1, __ATOMIC_RELAXED);
}


static void __attribute__((noreturn))
child(int out, pid_t parent, uid_t uid, gid_t gid, aml_bounded_fn fn,
      void *arg, volatile uint64_t *progress)
{
	struct aml_identity saved;
	char msg[MESSAGE_MAX] = "";
	int32_t result = AML_BOUNDED_FAILED;

	progress_counter = progress;
	/* It answers through [out] only.  Stuck in the kernel (a hung
	 * filesystem), it must not keep open the caller's output, which a
	 * shell's $(...) or a pipeline waits on to end. */
	if (out <= STDERR_FILENO) {
		int moved = fcntl(out, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);

		if (moved >= 0)
			out = moved;
	}
	if (out > STDERR_FILENO) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* Only a stream someone may wait on: a caller started with
		 * 0-2 closed may hold the work's own directories there. */
		for (int fd = STDIN_FILENO; null >= 0 && fd <= STDERR_FILENO;
		     fd++) {
			struct stat st;

			if (fd != null && fstat(fd, &st) == 0 &&
			    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
			     S_ISCHR(st.st_mode)))
				(void)dup2(null, fd);
		}
		if (null > STDERR_FILENO)
			close(null);
	}
	/* The caller's handlers are not ours: a SIGTERM meant for it must
	 * not run its code here. */
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGINT, SIG_DFL);
	(void)signal(SIGPIPE, SIG_DFL);
	if (uid != AML_BOUNDED_AS_CALLER &&
	    aml_identity_become(uid, gid, &saved, msg, sizeof(msg)) < 0)
		goto answer;
	/* Stopped, the work must stop with it: a child of its own (a
	 * bounded write inside this work) left running would write later,
	 * out of order.  Set after the change of identity, which clears
	 * it; a parent already gone means stopped already. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(0);
	result = fn(arg, msg, sizeof(msg));
answer:
	msg[sizeof(msg) - 1] = '\0';
	if (aml_write_all(out, &result, sizeof(result)) == 0)
		(void)aml_write_all(out, msg, strlen(msg));
	_exit(0);
}

/* When a watched child's time is up: [idle_ms] after the last progress
 * seen, and never after [deadline]. */
struct watch {
	volatile uint64_t *progress;  /* NULL: not watched */
	int64_t idle_ms;
	uint64_t seen;
	int64_t moved_ms;
};

static int64_t time_up(struct watch *w, int64_t deadline)
{
	int64_t now = aml_monotonic_ms(), until;

	if (!w->progress)
		return deadline;
	if (*w->progress != w->seen) {
		w->seen = *w->progress;
		w->moved_ms = now;
	}
	until = w->moved_ms + w->idle_ms;
	return deadline && deadline < until ? deadline : until;
}

/* Read the child's answer into [buf] until end of file or its time is
 * up.  Returns the bytes read, or -1 when the time came first. */
static ssize_t read_answer(int fd, char *buf, size_t cap, int64_t deadline,
			   struct watch *w)
{
	size_t got = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = time_up(w, deadline) - aml_monotonic_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return -1;
		if (w->progress && left > WATCH_STEP_MS)
			left = WATCH_STEP_MS;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0 && errno != EINTR)
			return (ssize_t)got;
		if (r <= 0)
			continue;
		if (got < cap) {
			n = aml_read_some(fd, buf + got, cap - got);
		} else {
			char sink[256];

			n = aml_read_some(fd, sink, sizeof(sink));
			if (n > 0)
				continue;
		}
		if (n <= 0)
			return (ssize_t)got;
		got += (size_t)n;
	}
}

static int call_in_bounded_child(uid_t uid, gid_t gid, int64_t deadline_ms,
				 struct watch *w, aml_bounded_fn fn, void *arg,
				 char *errbuf, size_t errlen)
{
	char answer[sizeof(int32_t) + MESSAGE_MAX];
	int32_t result;
	ssize_t got;
	int pipefd[2];
	pid_t pid, parent;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (deadline_ms && deadline_ms <= aml_monotonic_ms()) {
		aml_fail(errbuf, errlen, "no time was left to try");
		return AML_BOUNDED_TIMEOUT;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		aml_fail(errbuf, errlen, "pipe: %s", strerror(errno));
		return AML_BOUNDED_FAILED;
	}
	/* Whatever the caller buffered is written once, by the caller. */
	fflush(NULL);
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(pipefd[0]);
		close(pipefd[1]);
		aml_fail(errbuf, errlen, "fork: %s", strerror(e));
		return AML_BOUNDED_FAILED;
	}
	if (pid == 0) {
		close(pipefd[0]);
		child(pipefd[1], parent, uid, gid, fn, arg, w->progress);
	}
	close(pipefd[1]);
	w->moved_ms = aml_monotonic_ms();
	got = read_answer(pipefd[0], answer, sizeof(answer) - 1, deadline_ms,
			  w);
	close(pipefd[0]);
	if (got < 0) {
		(void)kill(pid, SIGKILL);
		(void)aml_waitpid_until(pid, NULL,
					 aml_monotonic_ms() + REAP_GRACE_MS);
		aml_fail(errbuf, errlen, "no answer in time: stopped it");
		return AML_BOUNDED_TIMEOUT;
	}
	/* It answered, or died: either way it is on its way out.  Still
	 * there after the grace (not merely lost to waitpid): killed. */
	if (aml_waitpid_until(pid, NULL,
			      aml_monotonic_ms() + REAP_GRACE_MS) == 1)
		(void)kill(pid, SIGKILL);
	if ((size_t)got < sizeof(result)) {
		aml_fail(errbuf, errlen, "the process doing it ended without "
			 "an answer");
		return AML_BOUNDED_FAILED;
	}
	memcpy(&result, answer, sizeof(result));
	answer[got] = '\0';
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", answer + sizeof(result));
	if (result == AML_BOUNDED_FAILED)
		return AML_BOUNDED_FAILED;
	if (result < AML_BOUNDED_MIN || result > AML_BOUNDED_MAX) {
		aml_fail(errbuf, errlen, "the process doing it answered %d, "
			 "which is out of range", (int)result);
		return AML_BOUNDED_FAILED;
	}
	return result;
}

int aml_bounded_call(uid_t uid, gid_t gid, int64_t deadline_ms,
		     aml_bounded_fn fn, void *arg, char *errbuf,
		     size_t errlen)
{
	struct watch w = { 0 };

	if (!deadline_ms)
		deadline_ms = aml_monotonic_ms();  /* no time: said so */
	return call_in_bounded_child(uid, gid, deadline_ms, &w, fn, arg,
				     errbuf, errlen);
}

int aml_bounded_call_watched(uid_t uid, gid_t gid, int64_t idle_ms,
			     int64_t deadline_ms, aml_bounded_fn fn,
			     void *arg, char *errbuf, size_t errlen)
{
	struct watch w = { 0 };
	void *shared;
	int r;

	if (idle_ms <= 0)
		return aml_bounded_call(uid, gid, deadline_ms, fn, arg, errbuf,
					errlen);
	shared = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		aml_fail(errbuf, errlen, "mmap: %s", strerror(errno));
		return AML_BOUNDED_FAILED;
	}
	w.progress = shared;
	w.idle_ms = idle_ms;
	r = call_in_bounded_child(uid, gid, deadline_ms, &w, fn, arg, errbuf,
				  errlen);
	munmap(shared, sizeof(uint64_t));
	return r;
}
