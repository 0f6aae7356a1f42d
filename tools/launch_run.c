/*
 * launch_run.c: see launch_run.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "job_env.h"
#include "launch.h"
#include "launch_common.h"
#include "launch_run.h"
#include "slurm_text.h"

/* srun told to stop (SIGTERM: it kills its tasks) gets this long before
 * it is killed itself, so its step is ended by srun, not abandoned. */
#define SRUN_FORCE_MS 3000
/* After the command ends, its output may still be in the pipe, and
 * processes it left behind may hold the pipe open: they get this long. */
#define DRAIN_MS 1000
/* What the launcher keeps for itself before Slurm's time limit:
 * Finalizing, the uploads and the end, before Slurm's SIGTERM. */
#define FINALIZE_RESERVE_MS 5000
#define MIN_GRACE_MS 1000

static const int handled[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT,
			       SIGUSR1, SIGUSR2, SIGCHLD };
#define N_HANDLED (sizeof(handled) / sizeof(handled[0]))

static void handled_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < N_HANDLED; i++)
		sigaddset(set, handled[i]);
}

int launch_signals_take(sigset_t *old)
{
	sigset_t set;

	handled_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return -1;
	/* Blocked, a signal waits for the signalfd even if whoever started
	 * us ignored it; the default action is what the command gets. */
	for (size_t i = 0; i < N_HANDLED; i++)
		signal(handled[i], SIG_DFL);
	/* A job output that went away must not kill the launcher before
	 * it records the end. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int add_arg(struct aml_strlist *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add_arg(struct aml_strlist *l, const char *fmt, ...)
{
	char **grown = realloc(l->items, (l->count + 2) * sizeof(*grown));
	va_list ap;
	int n;

	if (!grown)
		return -1;
	l->items = grown;
	va_start(ap, fmt);
	n = vasprintf(&l->items[l->count], fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	l->items[++l->count] = NULL;
	return 0;
}

int launch_srun_argv(const struct aml_plan *plan, const char *run_dir,
		     const struct aml_strlist *options, char *const *command,
		     struct aml_strlist *out)
{
	int bad = 0;

	memset(out, 0, sizeof(*out));
	bad |= add_arg(out, "srun");
	/* --export=ALL overrides an `sbatch --export=NONE` the job may
	 * carry in SLURM_EXPORT_ENV: the tasks need the run's variables,
	 * which are in our environment.  AML_LAUNCH_STEP tells the node
	 * side this is the run's step (launch.h). */
	bad |= add_arg(out, "--export=ALL,%s=1", AML_ENV_LAUNCH_STEP);
	/* One process failing fails the run, as in Azure ML: the others
	 * would wait for it forever in their collectives. */
	bad |= add_arg(out, "--kill-on-bad-exit=1");
	/* "<rank>: " before every line: launch_logs splits by it. */
	bad |= add_arg(out, "--label");
	bad |= add_arg(out, "--input=none");
	/* srun would ask every node to start in this node's working
	 * directory, which exists here only; RunDir exists everywhere, and
	 * the node side moves each task into its own. */
	bad |= add_arg(out, "--chdir=%s", run_dir);
	bad |= add_arg(out, "--nodes=%u", plan->min_nodes);
	bad |= add_arg(out, "--ntasks=%u", plan->num_tasks);
	if (plan->ntasks_per_node)
		bad |= add_arg(out, "--ntasks-per-node=%u",
			       (unsigned)plan->ntasks_per_node);
	for (size_t i = 0; options && i < options->count && !bad; i++)
		bad |= add_arg(out, "%s", options->items[i]);
	bad |= add_arg(out, "--");
	for (size_t i = 0; command[i] && !bad; i++)
		bad |= add_arg(out, "%s", command[i]);
	if (bad) {
		aml_strlist_free(out);
		return -1;
	}
	return 0;
}

/*
 * The file a shell would run for [name].  execvp answers EACCES when one
 * directory of PATH cannot be searched, even if the command is in none:
 * a shell says "not found" (127) there, and so do we: ENOENT when no
 * directory has it, EACCES when one has it but not executable.
 */
static char *resolve(const char *name, int *err)
{
	const char *path = getenv("PATH"), *dir, *end;
	struct stat st;
	int seen = 0;

	if (strchr(name, '/'))
		return strdup(name);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (dir = path; ; dir = end + 1) {
		char *file;
		int n;

		end = strchrnul(dir, ':');
		n = end == dir ? asprintf(&file, "%s", name)
			       : asprintf(&file, "%.*s/%s", (int)(end - dir),
					  dir, name);
		if (n < 0) {
			*err = ENOMEM;
			return NULL;
		}
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(file, X_OK) == 0)
				return file;
			seen = 1;
		}
		free(file);
		if (!*end)
			break;
	}
	*err = seen ? EACCES : ENOENT;
	return NULL;
}

/*
 * fork and exec [argv] with stdout and stderr on [out_fd] and [err_fd]
 * (-1: the launcher's), in a process group of its own when [new_group].
 * Returns the pid; 0 with *exec_errno when exec failed (the child is
 * reaped); -1 when fork or pipe failed.
 */
static pid_t spawn(char *const argv[], int out_fd, int err_fd, int new_group,
		   const sigset_t *mask, int *exec_errno)
{
	pid_t parent = getpid(), pid;
	int status_pipe[2], e = 0;
	char *file;
	ssize_t n;

	*exec_errno = 0;
	if (!(file = resolve(argv[0], exec_errno)))
		return 0;
	if (pipe2(status_pipe, O_CLOEXEC) < 0) {
		free(file);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(status_pipe[0]);
		close(status_pipe[1]);
		free(file);
		return -1;
	}
	if (pid == 0) {
		if (new_group)
			setpgid(0, 0);
		/* If the launcher is killed (Slurm's SIGKILL after
		 * KillWait), what it started must not run on unwatched:
		 * under proctrack/pgid, Slurm itself would miss a process
		 * group of its own. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if ((out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0) ||
		    (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0))
			goto failed;
		for (size_t i = 0; i < N_HANDLED; i++)
			signal(handled[i], SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, mask, NULL);
		execv(file, argv);
failed:
		e = errno;
		/* Should this write fail, the parent sees an exec and then
		 * the exit status a shell would give. */
		if (write(status_pipe[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
			e = EIO;
		_exit(e == ENOENT ? 127 : 126);
	}
	close(status_pipe[1]);
	free(file);
	/* Both sides set the group, so a signal sent as soon as fork
	 * returns already reaches it. */
	if (new_group)
		setpgid(pid, pid);
	/* The status pipe closes on exec: a read returns 0 once the
	 * command runs, or the child's errno. */
	do
		n = read(status_pipe[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(status_pipe[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		*exec_errno = e ? e : EIO;
		return 0;
	}
	return pid;
}

struct loop {
	const struct launch_spec *s;
	struct launch_outcome *o;
	const sigset_t *mask;
	int sfd;
	int out_fd;           /* read end of the command's output; -1 at EOF */
	pid_t pid;            /* the command (or srun) */
	int64_t kill_at;      /* 0: not scheduled */
	int64_t force_at;
	int64_t give_up_at;
	int64_t drain_at;
	int64_t logs_at;      /* the live log's wait runs out; 0: none */
	int leftovers_killed;
	pid_t scancel_pid;
	pid_t query_pid;
	int query_fd;
	char query_out[8192];
	size_t query_len;
};

static void schedule(int64_t *at, int64_t when)
{
	if (!*at || when < *at)
		*at = when;
}

/* A Slurm command on the side; -1 for [out_fd] or [err_fd] is
 * /dev/null, -2 the launcher's own. */
static pid_t start_helper(struct loop *L, char *const argv[], int out_fd,
			  int err_fd)
{
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC), e;
	pid_t pid;

	out_fd = out_fd == -1 ? devnull : out_fd == -2 ? -1 : out_fd;
	err_fd = err_fd == -1 ? devnull : err_fd == -2 ? -1 : err_fd;
	pid = spawn(argv, out_fd, err_fd, 0, L->mask, &e);
	if (devnull >= 0)
		close(devnull);
	return pid > 0 ? pid : -1;
}

/* Ask Slurm when it will end the job, to keep the grace period short of
 * that; the answer comes on query_fd, the loop reads it. */
static void start_query(struct loop *L)
{
	char id[16], *argv[] = { "scontrol", "show", "job", "-o", id, NULL };
	int p[2];

	snprintf(id, sizeof(id), "%u", L->s->job_id);
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	L->query_pid = start_helper(L, argv, p[1], -1);
	close(p[1]);
	if (L->query_pid < 0) {
		close(p[0]);
		return;
	}
	L->query_fd = p[0];
}

static void query_answered(struct loop *L, int64_t now)
{
	struct aml_slurm_job job;
	struct timespec ts;
	int64_t left, grace;

	L->query_out[L->query_len] = '\0';
	if (aml_slurm_parse_scontrol(L->query_out, &job) < 0 || !job.end_ms)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	left = job.end_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	grace = left - FINALIZE_RESERVE_MS;
	if (grace < MIN_GRACE_MS)
		grace = MIN_GRACE_MS;
	if (L->kill_at && now + grace < L->kill_at)
		L->kill_at = now + grace;
}

static void stop_gently(struct loop *L)
{
	char id[16], *argv[] = { "scancel", "--quiet", "--signal=TERM", id,
				 NULL };

	if (!L->s->via_srun) {
		kill(-L->pid, SIGTERM);
		return;
	}
	if (L->s->job_id) {
		snprintf(id, sizeof(id), "%u", L->s->job_id);
		/* Its complaint, if any, belongs in the job's error file. */
		L->scancel_pid = start_helper(L, argv, -1, -2);
		if (L->scancel_pid > 0)
			return;
	}
	kill(L->pid, SIGTERM);
}

static void stop_hard(struct loop *L, int64_t now)
{
	if (!L->s->via_srun) {
		kill(-L->pid, SIGKILL);
		return;
	}
	/* srun's answer to SIGTERM is SIGKILL to every task, through
	 * their slurmstepd, so the step ends cleanly. */
	kill(L->pid, SIGTERM);
	schedule(&L->force_at, now + SRUN_FORCE_MS);
}

static void on_deadline(struct loop *L, int64_t now)
{
	L->o->stop = LAUNCH_STOP_DEADLINE;
	stop_gently(L);
	schedule(&L->kill_at, now + LAUNCH_GRACE_MS);
	if (L->s->job_id)
		start_query(L);
}

static void on_stop_signal(struct loop *L, int sig, int64_t now)
{
	if (L->give_up_at)
		return; /* already on the way out */
	if (L->o->stop == LAUNCH_STOP_NONE) {
		L->o->stop = LAUNCH_STOP_SIGNAL;
		L->o->signal = sig;
	}
	if (!L->o->reaped) {
		if (L->s->via_srun)
			kill(L->pid, SIGTERM);
		else
			kill(-L->pid, sig == SIGQUIT ? SIGTERM : sig);
	}
	L->give_up_at = now + LAUNCH_CANCEL_WAIT_MS;
}

static void reap(struct loop *L, int64_t now)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == L->pid) {
			L->o->reaped = 1;
			L->o->wait_status = status;
			L->kill_at = L->force_at = 0;
			L->drain_at = now + DRAIN_MS;
		} else if (pid == L->scancel_pid) {
			L->scancel_pid = 0;
			if ((!WIFEXITED(status) || WEXITSTATUS(status)) &&
			    !L->o->reaped) {
				launch_say("scancel --signal=TERM %u failed; "
					   "stopping srun, which kills the "
					   "run's processes", L->s->job_id);
				kill(L->pid, SIGTERM);
			}
		} else if (pid == L->query_pid) {
			L->query_pid = 0;
		} else {
			/* The log streamer (launch_stream.h). */
			launch_logs_child_ended(L->s->logs, pid, status);
		}
	}
}

static void read_signals(struct loop *L, int64_t now)
{
	struct signalfd_siginfo si;

	while (read(L->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;

		if (sig == SIGCHLD) {
			reap(L, now);
		} else if (sig == SIGUSR1 || sig == SIGUSR2) {
			if (L->pid > 0 && !L->o->reaped)
				kill(L->s->via_srun ? L->pid : -L->pid, sig);
		} else if (L->pid > 0) {
			on_stop_signal(L, sig, now);
		} else if (L->o->stop == LAUNCH_STOP_NONE) {
			L->o->stop = LAUNCH_STOP_SIGNAL;
			L->o->signal = sig;
		}
	}
}

static void read_output(struct loop *L)
{
	char buf[65536];
	ssize_t n = read(L->out_fd, buf, sizeof(buf));

	if (n > 0) {
		launch_logs_feed(L->s->logs, buf, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(L->out_fd);
		L->out_fd = -1;
	}
}

static void read_query(struct loop *L, int64_t now)
{
	size_t room = sizeof(L->query_out) - 1 - L->query_len;
	char sink[512];
	ssize_t n = room ? read(L->query_fd, L->query_out + L->query_len, room)
			 : read(L->query_fd, sink, sizeof(sink));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		/* Past the buffer it is not a job's line: read to EOF. */
		if (room)
			L->query_len += (size_t)n;
		return;
	}
	close(L->query_fd);
	L->query_fd = -1;
	query_answered(L, now);
}

/* Run the timers due at [now]; returns 1 when the loop is over. */
static int due(struct loop *L, int64_t now)
{
	if (L->o->stop == LAUNCH_STOP_NONE && L->s->deadline_ms &&
	    now >= L->s->deadline_ms && !L->o->reaped)
		on_deadline(L, now);
	if (L->kill_at && now >= L->kill_at) {
		L->kill_at = 0;
		stop_hard(L, now);
	}
	if (L->force_at && now >= L->force_at) {
		L->force_at = 0;
		/* srun alone: the shepherd it forked into its group then
		 * asks slurmctld to kill the step. */
		kill(L->pid, SIGKILL);
	}
	if (L->o->reaped && L->out_fd < 0)
		return 1;
	if (L->give_up_at && now >= L->give_up_at)
		return 1;
	if (L->drain_at && now >= L->drain_at) {
		if (L->leftovers_killed)
			return 1;
		/* Processes the command left behind still hold its
		 * output; the run is over, and what they wrote so far is
		 * still in the pipe. */
		kill(-L->pid, SIGKILL);
		L->leftovers_killed = 1;
		L->drain_at = now + DRAIN_MS / 2;
	}
	return 0;
}

static int next_timeout(const struct loop *L, int64_t now)
{
	int64_t at = 0;

	if (L->o->stop == LAUNCH_STOP_NONE && L->s->deadline_ms &&
	    !L->o->reaped)
		schedule(&at, L->s->deadline_ms);
	if (L->kill_at)
		schedule(&at, L->kill_at);
	if (L->force_at)
		schedule(&at, L->force_at);
	if (L->give_up_at)
		schedule(&at, L->give_up_at);
	if (L->drain_at)
		schedule(&at, L->drain_at);
	if (L->logs_at)
		schedule(&at, L->logs_at);
	if (!at)
		return -1;
	return at <= now ? 0 : at - now > 86400000 ? 86400000 : (int)(at - now);
}

static void finish_loop(struct loop *L)
{
	if (L->pid > 0 && !L->o->reaped)
		/* Giving up on a command that did not end in time: nothing
		 * of it may write on while the launcher records the end.
		 * It is not waited for: the launcher ends by its own
		 * signal, as Slurm meant it to. */
		kill(-L->pid, SIGKILL);
	if (L->query_pid > 0)
		kill(L->query_pid, SIGKILL);
	if (L->query_fd >= 0)
		close(L->query_fd);
	if (L->out_fd >= 0)
		close(L->out_fd);
	close(L->sfd);
}

int launch_run(const struct launch_spec *s, struct launch_outcome *o,
	       char *errbuf, size_t errlen)
{
	struct loop L = { .s = s, .o = o, .mask = s->child_mask,
			  .out_fd = -1, .query_fd = -1 };
	sigset_t set;
	int p[2];

	memset(o, 0, sizeof(*o));
	handled_set(&set);
	L.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (L.sfd < 0)
		return aml_fail(errbuf, errlen, "signalfd: %s",
				strerror(errno));
	/* A scancel while the run was prepared: it never starts. */
	read_signals(&L, aml_monotonic_ms());
	if (o->stop != LAUNCH_STOP_NONE) {
		close(L.sfd);
		return 0;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(L.sfd);
		return aml_fail(errbuf, errlen, "pipe: %s", strerror(errno));
	}
	L.pid = spawn(s->argv, p[1], p[1], 1, s->child_mask, &o->exec_errno);
	close(p[1]);
	L.out_fd = p[0];
	if (L.pid <= 0) {
		int e = errno;

		close(L.out_fd);
		close(L.sfd);
		if (L.pid == 0)
			return 0;
		return aml_fail(errbuf, errlen, "fork: %s", strerror(e));
	}
	o->started = 1;
	fcntl(L.out_fd, F_SETFL, fcntl(L.out_fd, F_GETFL) | O_NONBLOCK);

	for (;;) {
		struct pollfd fds[4];
		nfds_t n = 0;
		int64_t now = aml_monotonic_ms();
		int out_at = -1, query_at = -1, logs_fd;

		if (due(&L, now))
			break;
		fds[n++] = (struct pollfd){ .fd = L.sfd, .events = POLLIN };
		if (L.out_fd >= 0) {
			out_at = (int)n;
			fds[n++] = (struct pollfd){ .fd = L.out_fd,
						    .events = POLLIN };
		}
		if (L.query_fd >= 0) {
			query_at = (int)n;
			fds[n++] = (struct pollfd){ .fd = L.query_fd,
						    .events = POLLIN };
		}
		/* Room in the log streamer's pipe, while live-log bytes wait
		 * for it (and when their wait runs out). */
		logs_fd = launch_logs_poll_fd(s->logs, &L.logs_at);
		if (logs_fd >= 0)
			fds[n++] = (struct pollfd){ .fd = logs_fd,
						    .events = POLLOUT };
		if (poll(fds, n, next_timeout(&L, now)) < 0) {
			if (errno == EINTR)
				continue;
			launch_say("poll: %s; no longer watching the run",
				   strerror(errno));
			break;
		}
		now = aml_monotonic_ms();
		if (fds[0].revents)
			read_signals(&L, now);
		if (out_at >= 0 && fds[out_at].revents && L.out_fd >= 0)
			read_output(&L);
		if (query_at >= 0 && fds[query_at].revents && L.query_fd >= 0)
			read_query(&L, now);
		launch_logs_pump(s->logs, now);
	}
	finish_loop(&L);
	return 0;
}
