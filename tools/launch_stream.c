/*
 * launch_stream.c: see launch_stream.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fdio.h"
#include "launch_logfiles.h"
#include "launch_stream.h"
#include "history.h"

/* The pipe's size asked for (/proc/sys/fs/pipe-max-size allows 1 MiB
 * to every user by default). */
#define PIPE_WANT (1 << 20)
/* A frame carries at most this much: the launcher reads 64 KiB at once. */
#define FRAME_MAX (64u << 10)
#define REPORT_MAX 1024
#define DEFAULT_TIMEOUT_S 10
/* Where the streamer finds its pipe, its report pipe, and (making
 * copies) the run's working directory. */
#define STREAMER_IN 3
#define STREAMER_REPORT 4
#define STREAMER_WORKDIR 5
/* A copy round may take this share of the streamer's time, at most: the
 * wait after a round is at least this many times what it took. */
#define COPY_IDLE_FACTOR 10
/* Ranks beyond this have no live copy (their logs are uploaded at the
 * end like the others). */
#define COPY_RANKS_MAX (1u << 20)

struct frame_head {
	uint32_t rank;
	uint32_t len;
};

/* How run history takes the live copy (aml_history_appends_logs). */
enum stream_mode {
	STREAM_APPEND, /* the streamer appends the bytes it is sent */
	STREAM_COPY,   /* it puts the local logs whole, every
			* HistoryLogInterval; it is sent no bytes */
};

enum stream_state {
	STREAM_IDLE,  /* not started: no byte yet */
	STREAM_ON,    /* the streamer takes the bytes */
	STREAM_OFF,   /* given up, or never possible: local copy only */
};

struct launch_stream {
	const struct launch_ctx *c;
	int labelled;
	enum stream_mode mode;
	enum stream_state state;
	pid_t pid;            /* the streamer, until reaped; 0 */
	int fd;               /* the pipe's write end, non-blocking; -1 */
	int report_fd;        /* its report pipe's read end; -1 */
	char *pending;        /* bytes of the stream not yet in the pipe: */
	size_t head, tail;    /* pending[head..tail) */
	int64_t waiting_since; /* no byte sent since, while some wait */
	int64_t timeout_ms;   /* HistoryTimeout */
	int64_t interval_ms;  /* HistoryLogInterval, making copies */
};

struct launch_stream *launch_stream_new(const struct launch_ctx *c,
					int labelled)
{
	struct launch_stream *s = calloc(1, sizeof(*s));
	uint32_t t = c->site ? c->site->history_timeout_seconds : 0;

	if (!s)
		return NULL;
	s->c = c;
	s->labelled = labelled;
	s->fd = s->report_fd = -1;
	s->timeout_ms = (int64_t)(t ? t : DEFAULT_TIMEOUT_S) * 1000;
	if (c->h && !aml_history_appends_logs(c->h)) {
		s->mode = STREAM_COPY;
		s->interval_ms = c->site ? (int64_t)c->site->
				 history_log_interval_seconds * 1000 : 0;
		/* Copies need the site to open run history again, and the
		 * working directory they are made from; 0 means none. */
		if (!s->interval_ms || !c->site || c->workdir_fd < 0)
			s->state = STREAM_OFF;
	}
	return s;
}

/* ---- the streamer ---- */

/* Say why on the report pipe, and end. */
static void __attribute__((noreturn, format(printf, 1, 2)))
streamer_fail(const char *fmt, ...)
{
	char msg[REPORT_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 1)
		n = (int)sizeof(msg) - 1;
	/* One write of less than PIPE_BUF to an empty pipe: whole, and at
	 * once. */
	if (n > 0)
		(void)!write(STREAMER_REPORT, msg, (size_t)n);
	_exit(1);
}

static void streamer_append(const struct launch_stream *s,
			    struct launch_logfiles *logs, size_t rank,
			    const char *p, size_t n)
{
	struct launch_logfile *f = launch_logfiles_get(logs, rank);
	char name[64], err[REPORT_MAX];
	int fd, flags;

	launch_log_name(s->labelled, rank, name, sizeof(name));
	if (!f)
		streamer_fail("user_logs/%s: out of memory", name);
	if (f->fd < 0) {
		launch_logfiles_make_room(logs);
		fd = aml_history_open_log(s->c->h, s->c->experiment,
					  s->c->run_id, name, err, sizeof(err));
		if (fd < 0)
			streamer_fail("%s", err);
		/* The backend opens without blocking (a FIFO planted in
		 * its place must not hold an opener); the writes here may
		 * block, as a write to a hung filesystem does anyway: this
		 * process exists for that. */
		flags = fcntl(fd, F_GETFL);
		if (flags >= 0 && (flags & O_NONBLOCK))
			(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
		launch_logfiles_opened(logs, f, fd);
	}
	if (aml_write_all(f->fd, p, n) < 0)
		streamer_fail("user_logs/%s in run history: %s", name,
			      strerror(errno));
}

/* Descriptors: [in] becomes STREAMER_IN, [report] STREAMER_REPORT,
 * [workdir] (-1: none) STREAMER_WORKDIR, /dev/null 0, 1 and 2;
 * everything else is closed. */
static int streamer_fds(int in, int report, int workdir, int max_fd)
{
	int high_in, high_report, high_workdir = -1, devnull;

	/* Copies above them first: with one of the standard descriptors
	 * closed in the launcher, a pipe may already be 0..5. */
	high_in = fcntl(in, F_DUPFD_CLOEXEC, 10);
	high_report = fcntl(report, F_DUPFD_CLOEXEC, 10);
	if (workdir >= 0)
		high_workdir = fcntl(workdir, F_DUPFD_CLOEXEC, 10);
	if (high_in < 0 || high_report < 0 || (workdir >= 0 && high_workdir < 0))
		return -1;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
	    dup2(devnull, 2) < 0 || dup2(high_in, STREAMER_IN) < 0 ||
	    dup2(high_report, STREAMER_REPORT) < 0 ||
	    (workdir >= 0 && dup2(high_workdir, STREAMER_WORKDIR) < 0))
		return -1;
	aml_close_from(workdir >= 0 ? STREAMER_WORKDIR + 1
				    : STREAMER_REPORT + 1, max_fd);
	return 0;
}

/* Append the frames on STREAMER_IN to the logs in run history, until the
 * pipe ends. */
static void append_frames(const struct launch_stream *s)
{
	struct launch_logfiles logs = LAUNCH_LOGFILES_INIT;
	struct frame_head h;
	size_t h_have = 0, body_left = 0;
	static char buf[FRAME_MAX];

	for (;;) {
		ssize_t got = aml_read_some(STREAMER_IN, buf, sizeof(buf));
		const char *p = buf;
		size_t n;

		if (got <= 0)
			break;
		n = (size_t)got;
		while (n) {
			size_t take;

			if (!body_left) {
				take = sizeof(h) - h_have;
				take = take < n ? take : n;
				memcpy((char *)&h + h_have, p, take);
				h_have += take;
				if (h_have == sizeof(h)) {
					h_have = 0;
					body_left = h.len;
				}
			} else {
				take = body_left < n ? body_left : n;
				streamer_append(s, &logs, h.rank, p, take);
				body_left -= take;
			}
			p += take;
			n -= take;
		}
	}
	/* A frame cut short can only be a launcher that gave up (and kills
	 * us) or died: what came of it is in the log, as far as it came. */
	launch_logfiles_free(&logs);
}

/* The rank whose log [name] is, or -1 for a file that is none. */
static long rank_of_log(int labelled, const char *name)
{
	static const char prefix[] = "std_log_process_";
	char again[64];
	unsigned long rank;
	char *end;

	if (!labelled)
		return strcmp(name, "std_log.txt") ? -1 : 0;
	if (strncmp(name, prefix, sizeof(prefix) - 1))
		return -1;
	errno = 0;
	rank = strtoul(name + sizeof(prefix) - 1, &end, 10);
	if (errno || rank >= COPY_RANKS_MAX)
		return -1;
	/* "std_log_process_01.txt" is no rank's. */
	launch_log_name(1, rank, again, sizeof(again));
	return strcmp(again, name) ? -1 : (long)rank;
}

/* The sizes already copied, by rank; -1 for a log never copied. */
struct copied {
	long long *size;
	size_t n;
};

static long long *copied_slot(struct copied *c, size_t rank)
{
	if (rank >= c->n) {
		size_t n = c->n ? c->n : 16;
		long long *grown;

		while (n <= rank)
			n *= 2;
		if (!(grown = realloc(c->size, n * sizeof(*grown))))
			return NULL;
		for (size_t i = c->n; i < n; i++)
			grown[i] = -1;
		c->size = grown;
		c->n = n;
	}
	return &c->size[rank];
}

/* Put the logs of user_logs/ that grew since their last copy.  Returns
 * 0; -1 when run history did not take them now (try again next round). */
static int copy_round(const struct launch_stream *s, struct aml_history *h,
		      struct copied *copied)
{
	int dfd = openat(STREAMER_WORKDIR, "user_logs",
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while (rc == 0 && (e = readdir(d))) {
		long rank = rank_of_log(s->labelled, e->d_name);
		long long *done;
		struct stat st;
		char err[REPORT_MAX];
		int fd;

		if (rank < 0 || !(done = copied_slot(copied, (size_t)rank)))
			continue;
		/* A log the launcher gave up (a full disk) is gone: its copy
		 * waits for the end, like the rest. */
		fd = openat(dfd, e->d_name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size != *done) {
			switch (aml_history_put_log(h, s->c->experiment,
						    s->c->run_id, e->d_name, fd,
						    (long long)st.st_size, err,
						    sizeof(err))) {
			case AML_HISTORY_WRITTEN:
				*done = (long long)st.st_size;
				break;
			case AML_HISTORY_ERROR:
				streamer_fail("%s", err);
			default:
				/* Not answering: no use trying the others
				 * until the next round. */
				rc = -1;
				break;
			}
		}
		close(fd);
	}
	closedir(d);
	return rc;
}

/* Put the run's growing logs into run history every HistoryLogInterval,
 * with a history handle of this process's own, until the pipe ends. */
static void copy_logs(const struct launch_stream *s)
{
	struct aml_history *h;
	struct copied copied = { NULL, 0 };
	const char *key;
	char err[REPORT_MAX];
	int64_t next = aml_monotonic_ms() + s->interval_ms;

	/* The launcher's handle may be talking to the server over a
	 * connection this process shares with it: its state is not ours to
	 * use, only its key. */
	if (aml_history_open(s->c->site, &h, err, sizeof(err)) < 0)
		streamer_fail("%s", err);
	key = aml_history_key(s->c->h, s->c->run_id);
	if (key && aml_history_bind(h, s->c->run_id, key, err, sizeof(err)) < 0)
		streamer_fail("%s", err);
	for (;;) {
		struct pollfd p = { .fd = STREAMER_IN, .events = POLLIN };
		int64_t now = aml_monotonic_ms(), took;
		char buf[256];
		int r;

		r = poll(&p, 1, next > now ? (int)(next - now) : 0);
		if (r < 0 && errno != EINTR)
			break;
		/* The launcher sends nothing: readable is its end. */
		if (r > 0 && aml_read_some(STREAMER_IN, buf, sizeof(buf)) <= 0)
			break;
		now = aml_monotonic_ms();
		if (now < next)
			continue;
		(void)copy_round(s, h, &copied);
		took = aml_monotonic_ms() - now;
		next = now + took + (took * COPY_IDLE_FACTOR > s->interval_ms
					     ? took * COPY_IDLE_FACTOR
					     : s->interval_ms);
	}
	/* The launcher uploads the whole logs now: a last copy would only
	 * race with it. */
	free(copied.size);
}

static void __attribute__((noreturn))
streamer(const struct launch_stream *s, int in, int report, int max_fd)
{
	static const int meant_for_the_launcher[] = {
		SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE
	};
	sigset_t none;

	/* scancel and Slurm's time limit signal every process of the
	 * step: the launcher handles them, and this one ends when its pipe
	 * closes (or by SIGKILL).  A log whose reader went (a FIFO) is an
	 * error, not a death. */
	for (size_t i = 0; i < sizeof(meant_for_the_launcher) /
					sizeof(meant_for_the_launcher[0]);
	     i++)
		(void)signal(meant_for_the_launcher[i], SIG_IGN);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)prctl(PR_SET_NAME, "aml-log-stream");
	if (streamer_fds(in, report,
			 s->mode == STREAM_COPY ? s->c->workdir_fd : -1,
			 max_fd) < 0)
		/* Descriptor 4 may not be the report pipe yet: the
		 * launcher sees an end without a word. */
		_exit(1);
	if (s->mode == STREAM_COPY)
		copy_logs(s);
	else
		append_frames(s);
	_exit(0);
}

/* ---- the launcher's side ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* The streamer's own sentence, if it left one, into [buf]; 0 if not. */
static int read_report(struct launch_stream *s, char *buf, size_t len)
{
	ssize_t n = s->report_fd >= 0
			    ? aml_read_some(s->report_fd, buf, len - 1) : -1;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 1;
}

/* The live copy ends here: everything is let go, and the streamer, if
 * still there, is killed without waiting (launch_stream.h). */
static void shut(struct launch_stream *s)
{
	close_fd(&s->fd);
	close_fd(&s->report_fd);
	if (s->pid > 0) {
		(void)kill(s->pid, SIGKILL);
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
			s->pid = 0;
	}
	free(s->pending);
	s->pending = NULL;
	s->head = s->tail = 0;
	s->state = STREAM_OFF;
}

static void say_local_only(const char *why)
{
	launch_say("user_logs: no live copy in run history (%s); the whole "
		   "log is in user_logs/ of the working directory and is "
		   "uploaded at the end", why);
}

/* Give up: one line saying why, and shut. */
static void give_up(struct launch_stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void give_up(struct launch_stream *s, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	launch_say("user_logs: run history stopped taking the live log (%s); "
		   "the whole log is in user_logs/ of the working directory "
		   "and is uploaded at the end", why);
	shut(s);
}

/* The streamer is gone, or going: its own reason if it left one. */
static void writer_ended(struct launch_stream *s)
{
	char report[REPORT_MAX];

	if (read_report(s, report, sizeof(report))) {
		say_local_only(report);
		shut(s);
	} else {
		give_up(s, "its writer ended");
	}
}

static void start(struct launch_stream *s)
{
	int in[2] = { -1, -1 }, report[2] = { -1, -1 };
	int max_fd = aml_fd_limit();
	pid_t pid;

	s->state = STREAM_OFF;
	/* Close-on-exec: the helpers the launcher starts later (scancel,
	 * scontrol, srun) must not hold the pipe, or the streamer would
	 * never see its end. */
	if (pipe2(in, O_CLOEXEC) < 0 ||
	    pipe2(report, O_CLOEXEC | O_NONBLOCK) < 0) {
		char why[128];

		snprintf(why, sizeof(why), "pipe: %s", strerror(errno));
		say_local_only(why);
		goto fail;
	}
	/* Where the user may not (pipe-max-size, pipe-user-pages-soft),
	 * the default 64 KiB it is. */
	(void)fcntl(in[1], F_SETPIPE_SZ, PIPE_WANT);
	if (fcntl(in[1], F_SETFL, O_NONBLOCK) < 0) {
		char why[128];

		snprintf(why, sizeof(why), "fcntl: %s", strerror(errno));
		say_local_only(why);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		char why[128];

		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		say_local_only(why);
		goto fail;
	}
	if (pid == 0)
		streamer(s, in[0], report[1], max_fd);
	close(in[0]);
	close(report[1]);
	s->pid = pid;
	s->fd = in[1];
	s->report_fd = report[0];
	s->state = STREAM_ON;
	return;
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&report[i]);
	}
}

/*
 * Send what waits, as far as the pipe takes it.  Progress, which restarts
 * HistoryTimeout, is a page of the pipe taken (the streamer read it), or
 * nothing left waiting: a full pipe still takes a few bytes into its last
 * page, now and then, which says nothing of the streamer.
 */
static void flush(struct launch_stream *s, int64_t now)
{
	size_t sent = 0;

	while (s->state == STREAM_ON && s->tail > s->head) {
		ssize_t w = write(s->fd, s->pending + s->head,
				  s->tail - s->head);

		if (w > 0) {
			s->head += (size_t)w;
			sent += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			break;
		} else {
			/* EPIPE: the streamer is gone. */
			writer_ended(s);
			return;
		}
	}
	if (s->state != STREAM_ON)
		return;
	if (s->tail == s->head)
		s->head = s->tail = 0;
	else if (sent >= PIPE_BUF)
		s->waiting_since = now;
}

/* Keep [n] bytes of [p] behind what waits; 0, or -1 when they do not
 * fit (or memory ran out). */
static int keep(struct launch_stream *s, const void *p, size_t n)
{
	if (!s->pending &&
	    !(s->pending = malloc(LAUNCH_STREAM_PENDING_MAX)))
		return -1;
	if (LAUNCH_STREAM_PENDING_MAX - s->tail < n && s->head) {
		memmove(s->pending, s->pending + s->head, s->tail - s->head);
		s->tail -= s->head;
		s->head = 0;
	}
	if (LAUNCH_STREAM_PENDING_MAX - s->tail < n)
		return -1;
	memcpy(s->pending + s->tail, p, n);
	s->tail += n;
	return 0;
}

static void send_frame(struct launch_stream *s, size_t rank, const char *p,
		       size_t n)
{
	struct frame_head h = { (uint32_t)rank, (uint32_t)n };
	int64_t now = aml_monotonic_ms();
	size_t sent = 0;

	if (s->tail > s->head)
		flush(s, now);
	if (s->state != STREAM_ON)
		return;
	if (s->tail == s->head) {
		struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, n } };
		ssize_t w;

		do
			w = writev(s->fd, iov, 2);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			writer_ended(s);
			return;
		}
		sent = w > 0 ? (size_t)w : 0;
		if (sent == sizeof(h) + n)
			return;
		/* Bytes wait from now on. */
		s->waiting_since = now;
	}
	if ((sent < sizeof(h) &&
	     keep(s, (const char *)&h + sent, sizeof(h) - sent) < 0) ||
	    keep(s, p + (sent > sizeof(h) ? sent - sizeof(h) : 0),
		 n - (sent > sizeof(h) ? sent - sizeof(h) : 0)) < 0)
		give_up(s, "it fell more than %u MiB behind",
			LAUNCH_STREAM_PENDING_MAX >> 20);
}

void launch_stream_send(struct launch_stream *s, size_t rank, const char *p,
			size_t n)
{
	if (s->state == STREAM_IDLE && n)
		start(s);
	/* Copies are made from the local logs, which have the bytes. */
	while (n && s->state == STREAM_ON && s->mode == STREAM_APPEND) {
		size_t piece = n < FRAME_MAX ? n : FRAME_MAX;

		send_frame(s, rank, p, piece);
		p += piece;
		n -= piece;
	}
}

int launch_stream_poll_fd(const struct launch_stream *s, int64_t *at_ms)
{
	if (s->state != STREAM_ON || s->tail == s->head) {
		*at_ms = 0;
		return -1;
	}
	*at_ms = s->waiting_since + s->timeout_ms;
	return s->fd;
}

void launch_stream_pump(struct launch_stream *s, int64_t now_ms)
{
	if (s->state != STREAM_ON || s->tail == s->head)
		return;
	flush(s, now_ms);
	if (s->state == STREAM_ON && s->tail > s->head &&
	    now_ms - s->waiting_since >= s->timeout_ms)
		give_up(s, "%lld s without progress",
			(long long)(s->timeout_ms / 1000));
}

int launch_stream_child_ended(struct launch_stream *s, pid_t pid, int status)
{
	(void)status;
	if (!s || pid <= 0 || pid != s->pid)
		return 0;
	s->pid = 0;
	/* Before the end, the streamer has no reason to end on its own:
	 * run history refused a log, or it was killed. */
	if (s->state == STREAM_ON)
		writer_ended(s);
	return 1;
}

void launch_stream_end(struct launch_stream *s)
{
	int64_t wait_ms, end_at;
	int status, r;

	if (!s)
		return;
	wait_ms = s->timeout_ms < LAUNCH_STREAM_END_MAX_MS
			  ? s->timeout_ms : LAUNCH_STREAM_END_MAX_MS;
	end_at = aml_monotonic_ms() + wait_ms;
	while (s->state == STREAM_ON && s->tail > s->head) {
		struct pollfd p = { .fd = s->fd, .events = POLLOUT };
		int64_t now = aml_monotonic_ms();

		if (now >= end_at)
			break;
		if (poll(&p, 1, (int)(end_at - now)) < 0 && errno != EINTR)
			break;
		flush(s, aml_monotonic_ms());
	}
	if (s->state == STREAM_ON && s->tail > s->head)
		give_up(s, "still writing %lld s after the run's end",
			(long long)(wait_ms / 1000));
	if (s->state == STREAM_ON) {
		/* End of file: it writes what it has and exits. */
		close_fd(&s->fd);
		r = s->pid > 0 ? aml_waitpid_until(s->pid, &status, end_at)
			       : -1;
		if (r == 0) {
			s->pid = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				writer_ended(s);
		} else if (r == 1) {
			give_up(s, "still writing %lld s after the run's end",
				(long long)(wait_ms / 1000));
		} else {
			/* Reaped by someone else: its status is lost. */
			s->pid = 0;
		}
	}
	shut(s);
	free(s);
}
