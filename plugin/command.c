/*
 * command.c: running a program within a time bound (contract in
 * command.h).
 */
#include "clock.h"
#include "command.h"
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long a killed child is waited for before it is left behind. */
#define REAP_GRACE_MS 1000

/* What the child reports on its close-on-exec pipe when it cannot exec:
 * end of file there means the program runs. */
enum stage { STAGE_SETUP, STAGE_CHDIR, STAGE_EXEC };

struct report {
	int stage;
	int error;
};

struct child {
	pid_t pid;
	int reaped;
	int status;
};

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		/* A pipe end: close() has nothing to flush, so nothing to
		 * report, and an EINTR close has still closed it on Linux. */
		(void)close(*fd);
		*fd = -1;
	}
}

/*
 * The child: [fds] become its stdin, stdout, stderr and descriptor 3 (the
 * report pipe); everything else is closed.  Only async-signal-safe calls
 * from here on.
 */
static void __attribute__((noreturn))
exec_child(const int fds[4], const struct aml_command *cmd, char *const *envp,
	   int max_fd)
{
	struct report rep = { STAGE_SETUP, 0 };
	int report = fds[3];
	int high[4];
	sigset_t none;

	/* Its own process group, so that a timeout also kills what it
	 * started (a shell wrapper's children). */
	(void)setpgid(0, 0);
	/* A blocked signal mask and an ignored SIGPIPE survive exec. */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)signal(SIGPIPE, SIG_DFL);
	/* Copies above 3 first: with one of the caller's standard
	 * descriptors closed, a pipe may already be 0..3, and dup2() onto
	 * the same number would leave it close-on-exec. */
	for (int i = 0; i < 4; i++) {
		high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
		if (high[i] < 0)
			goto fail;
	}
	report = high[3];
	for (int i = 0; i < 4; i++) {
		if (dup2(high[i], i) < 0)
			goto fail;
	}
	report = 3;
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		goto fail;
	aml_close_from(4, max_fd);
	rep.stage = STAGE_CHDIR;
	if (cmd->dir && chdir(cmd->dir) < 0)
		goto fail;
	rep.stage = STAGE_EXEC;
	execvpe(cmd->argv[0], cmd->argv, envp);
fail:
	rep.error = errno;
	(void)!write(report, &rep, sizeof(rep));
	_exit(127);
}

static void kill_and_reap(struct child *c)
{
	if (c->pid <= 0 || c->reaped)
		return;
	/* Not reaped yet, so its pid, which is also its group's id, cannot
	 * have been given to another process.  The parent's setpgid() makes
	 * the group exist even if the child has not run yet. */
	if (kill(-c->pid, SIGKILL) < 0)
		(void)kill(c->pid, SIGKILL);
	if (aml_waitpid_until(c->pid, &c->status,
			      aml_monotonic_ms() + REAP_GRACE_MS) != 1)
		c->reaped = 1;
}

/* Keep what fits of [n] bytes in [buf] of [max], counting them all. */
static void keep(char *buf, size_t max, size_t *len, const char *data,
		 size_t n)
{
	size_t take = n < max - *len ? n : max - *len;

	memcpy(buf + *len, data, take);
	*len += take;
}

/*
 * Read the child's stdout and stderr until both reach end of file or
 * [deadline] passes.  Both are read together, so the child never blocks
 * on a full stderr pipe while we wait on stdout.  Returns the outcome so
 * far: AML_COMMAND_EXITED when both ended (the child may still run).
 */
static enum aml_command_outcome collect(const struct aml_command *cmd,
					int *out_fd, int *err_fd,
					struct aml_command_result *res,
					int64_t deadline)
{
	struct pollfd pfd[2];
	char scratch[4096];

	while (*out_fd >= 0 || *err_fd >= 0) {
		int64_t left = deadline - aml_monotonic_ms();
		int n;

		if (left <= 0)
			return AML_COMMAND_TIMEOUT;
		pfd[0].fd = *out_fd;
		pfd[1].fd = *err_fd;
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		n = poll(pfd, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			res->failed_call = "poll";
			res->error = errno;
			return AML_COMMAND_FAILED;
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? out_fd : err_fd;
			ssize_t r;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			r = read(*fd, scratch, sizeof(scratch));
			if (r < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				res->failed_call = "read";
				res->error = errno;
				return AML_COMMAND_FAILED;
			}
			if (r == 0) {
				close_fd(fd);
				continue;
			}
			if (i == 1) {
				if ((size_t)r > cmd->err_max - res->err_len)
					res->err_cut = 1;
				keep(res->err, cmd->err_max, &res->err_len,
				     scratch, (size_t)r);
				continue;
			}
			res->out_total += (size_t)r;
			keep(res->out, cmd->out_max, &res->out_len, scratch,
			     (size_t)r);
			if (cmd->stop_on_more && res->out_total > cmd->out_max)
				return AML_COMMAND_TOO_MUCH;
		}
	}
	return AML_COMMAND_EXITED;
}

/* The outcome once the child is reaped and its report pipe read. */
static enum aml_command_outcome judge(const struct child *c, int rep_fd,
				      struct aml_command_result *res)
{
	struct report rep;

	/* Non-blocking: a stray copy held by an unrelated fork must not
	 * make us wait. */
	if (read(rep_fd, &rep, sizeof(rep)) == (ssize_t)sizeof(rep)) {
		res->error = rep.error;
		if (rep.stage == STAGE_EXEC)
			return AML_COMMAND_NOT_STARTED;
		res->failed_call = rep.stage == STAGE_CHDIR ? "chdir"
							    : "the child's set-up";
		return AML_COMMAND_FAILED;
	}
	if (WIFSIGNALED(c->status)) {
		res->term_signal = WTERMSIG(c->status);
		return AML_COMMAND_SIGNALED;
	}
	res->exit_status = WEXITSTATUS(c->status);
	return AML_COMMAND_EXITED;
}

static enum aml_command_outcome failed(struct aml_command_result *res,
				       const char *call, int e)
{
	res->failed_call = call;
	res->error = e;
	return AML_COMMAND_FAILED;
}

/* What aml_command_run_to was given for a descriptor below 0. */
#define NO_FD (-2)

/* Both public calls: [to_fd] -1 keeps the output through pipes, else
 * the child writes both of its outputs to [to_fd] itself. */
static enum aml_command_outcome run(const struct aml_command *cmd, int to_fd,
				    struct aml_command_result *res)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rep[2] = { -1, -1 };
	int devnull = -1, max_fd = aml_fd_limit();
	char *const *envp = cmd->envp ? cmd->envp : environ;
	struct child child = { -1, 0, 0 };
	enum aml_command_outcome o;
	int64_t deadline;

	memset(res, 0, sizeof(*res));
	res->out = malloc(cmd->out_max + 1);
	res->err = malloc(cmd->err_max + 1);
	if (!res->out || !res->err) {
		o = failed(res, "malloc", ENOMEM);
		goto done;
	}
	res->out[0] = res->err[0] = '\0';
	if (to_fd == NO_FD) {
		o = failed(res, "the output descriptor", EBADF);
		goto done;
	}
	/* Close-on-exec everywhere, so a fork elsewhere in the process does
	 * not hold our pipes open; the child dup2()s what it keeps. */
	if ((to_fd < 0 && (pipe2(out, O_CLOEXEC) < 0 ||
			   pipe2(err, O_CLOEXEC) < 0)) ||
	    pipe2(rep, O_CLOEXEC | O_NONBLOCK) < 0) {
		o = failed(res, "pipe", errno);
		goto done;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		o = failed(res, "open /dev/null", errno);
		goto done;
	}
	deadline = aml_monotonic_ms() + cmd->timeout_ms;
	child.pid = fork();
	if (child.pid < 0) {
		o = failed(res, "fork", errno);
		goto done;
	}
	if (child.pid == 0) {
		const int fds[4] = { devnull, to_fd < 0 ? out[1] : to_fd,
				     to_fd < 0 ? err[1] : to_fd, rep[1] };

		exec_child(fds, cmd, envp, max_fd);
	}
	/* Also here, against the race with the child's own setpgid(); it
	 * fails harmlessly once the child has exec'd. */
	(void)setpgid(child.pid, child.pid);
	close_fd(&devnull);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&rep[1]);

	o = collect(cmd, &out[0], &err[0], res, deadline);
	if (o == AML_COMMAND_EXITED) {
		/* Its output ended; it may still run (a child that closed
		 * stdout and stderr, or a daemon it left holding them). */
		int w = aml_waitpid_until(child.pid, &child.status, deadline);

		if (w == 1) {
			o = AML_COMMAND_TIMEOUT;
		} else if (w < 0) {
			/* SIGCHLD ignored, or reaped by someone else. */
			child.reaped = 1;
			o = failed(res, "waitpid", errno);
		} else {
			child.reaped = 1;
			o = judge(&child, rep[0], res);
		}
	}
done:
	kill_and_reap(&child);
	close_fd(&devnull);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&rep[0]);
	close_fd(&rep[1]);
	if (res->out)
		res->out[res->out_len] = '\0';
	if (res->err)
		res->err[res->err_len] = '\0';
	res->outcome = o;
	return o;
}

void aml_command_result_free(struct aml_command_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

enum aml_command_outcome aml_command_run(const struct aml_command *cmd,
					 struct aml_command_result *res)
{
	return run(cmd, -1, res);
}

enum aml_command_outcome aml_command_run_to(const struct aml_command *cmd,
					    int fd,
					    struct aml_command_result *res)
{
	return run(cmd, fd < 0 ? NO_FD : fd, res);
}
