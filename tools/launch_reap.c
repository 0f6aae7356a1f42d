/*
 * launch_reap.c: see launch_reap.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "launch_reap.h"

/* The parent of [pid] as /proc says, or -1. */
static pid_t parent_of(const char *pid)
{
	char path[64], stat[512], *close_paren;
	ssize_t len;
	pid_t ppid;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	stat[len] = '\0';
	/* "pid (comm) state ppid ...": comm may hold anything, ')' too,
	 * but ends at the last ')'. */
	close_paren = strrchr(stat, ')');
	if (!close_paren || sscanf(close_paren + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* This process's children, besides [keeper], at most [max]. */
static size_t list_children(pid_t keeper, pid_t *out, size_t max)
{
	pid_t self = getpid();
	DIR *proc = opendir("/proc");
	struct dirent *de;
	size_t n = 0;

	if (!proc)
		return 0;
	while ((de = readdir(proc)) && n < max) {
		pid_t pid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    parent_of(de->d_name) != self)
			continue;
		pid = (pid_t)atoi(de->d_name);
		if (pid != keeper)
			out[n++] = pid;
	}
	closedir(proc);
	return n;
}

static int is_child(pid_t pid)
{
	char name[24];

	snprintf(name, sizeof(name), "%d", (int)pid);
	return pid > 0 && parent_of(name) == getpid();
}

static pid_t read_pidfile(const char *path)
{
	char text[32];
	ssize_t len;
	int fd;

	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	text[len] = '\0';
	return (pid_t)atoi(text);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reap_zombies(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Wait for SIGCHLD (blocked) at most [ms]. */
static void wait_child_signal(int64_t ms)
{
	sigset_t chld;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	(void)sigtimedwait(&chld, NULL, &ts);
}

/*
 * Everything the command left: waited for until [grace_ms] has passed,
 * then killed; a killed process's own children come back to us as it
 * dies, so the list is taken again until it is empty.
 */
static void end_leftovers(const char *keeper_pidfile, int64_t grace_ms)
{
	int64_t deadline = now_ms() + grace_ms;
	pid_t keeper = read_pidfile(keeper_pidfile);
	pid_t left[256];
	int kill_rounds = 0;

	for (;;) {
		size_t n;
		int64_t now;

		reap_zombies();
		n = list_children(keeper, left, sizeof(left) / sizeof(*left));
		if (!n)
			break;
		now = now_ms();
		if (now < deadline) {
			wait_child_signal(deadline - now);
			continue;
		}
		/* A process that ignores SIGKILL's effect for long is in
		 * the kernel (D state): leave it to Slurm's end of the
		 * job rather than hold the run's end forever. */
		if (++kill_rounds > 50)
			break;
		for (size_t i = 0; i < n; i++)
			kill(left[i], SIGKILL);
		wait_child_signal(100);
	}
	/* A pid read from a file the runtime wrote is killed only while it
	 * names a child of ours. */
	if (is_child(keeper)) {
		kill(keeper, SIGKILL);
		while (waitpid(keeper, NULL, 0) < 0 && errno == EINTR)
			;
	}
	reap_zombies();
}

static void held_signals(sigset_t *set)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
				    SIGUSR2, SIGALRM, SIGPIPE, SIGCHLD };

	sigemptyset(set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
		sigaddset(set, sigs[i]);
}

int launch_reap_run(char *const argv[], const char *keeper_pidfile,
		    int64_t grace_ms, int *wait_status, char *errbuf,
		    size_t errlen)
{
	sigset_t held, old;
	int status, exec_pipe[2], child_errno = 0;
	pid_t pid;

	*wait_status = 126 << 8;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return aml_fail(errbuf, errlen,
				"cannot become the runtime's subreaper: %s",
				strerror(errno));
	if (pipe2(exec_pipe, O_CLOEXEC) < 0)
		return aml_fail(errbuf, errlen, "pipe: %s", strerror(errno));
	held_signals(&held);
	sigprocmask(SIG_BLOCK, &held, &old);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		close(exec_pipe[0]);
		close(exec_pipe[1]);
		return aml_fail(errbuf, errlen, "fork: %s", strerror(e));
	}
	if (pid == 0) {
		int e;

		sigprocmask(SIG_SETMASK, &old, NULL);
		close(exec_pipe[0]);
		execvp(argv[0], argv);
		e = errno;
		(void)!write(exec_pipe[1], &e, sizeof(e));
		_exit(127);
	}
	close(exec_pipe[1]);
	while (read(exec_pipe[0], &child_errno, sizeof(child_errno)) < 0 &&
	       errno == EINTR)
		;
	close(exec_pipe[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = 126 << 8;
			break;
		}
	}
	end_leftovers(keeper_pidfile, grace_ms);
	if (child_errno) {
		*wait_status = (child_errno == ENOENT ? 127 : 126) << 8;
		return aml_fail(errbuf, errlen, "cannot run %s: %s", argv[0],
				strerror(child_errno));
	}
	*wait_status = status;
	return 0;
}

void launch_reap_mirror(int wait_status)
{
	if (WIFSIGNALED(wait_status)) {
		int sig = WTERMSIG(wait_status);
		sigset_t one;

		signal(sig, SIG_DFL);
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		/* The command's crash was dumped where it crashed. */
		setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
		raise(sig);
		_exit(128 + sig);
	}
	_exit(WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 126);
}
