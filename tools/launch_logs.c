/*
 * launch_logs.c: see launch_logs.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch_logfiles.h"
#include "launch_logs.h"
#include "launch_stream.h"
#include "runconfig.h"

/* srun -l writes "%*d: " (the width of the largest task id), so a label
 * is spaces, digits, a colon and a space: a few bytes, never this many. */
#define LABEL_MAX 24
#define SRUN_ERROR_MAX 256
#define SRUN_ERROR "srun: error: "

/* A local log's launch_logfile.state. */
enum local_state {
	LOCAL_UNOPENED,  /* nothing written yet */
	LOCAL_WRITTEN,   /* opened at least once: reopened appending */
	LOCAL_BROKEN,    /* given up: the job's output has it */
};

struct launch_logs {
	const struct launch_ctx *c;
	int out_fd;
	int out_broken;
	int labelled;
	struct launch_logfiles local;   /* user_logs/ of the working directory */
	struct launch_stream *stream;   /* the live copy in run history */
	/* The line being read, labelled mode. */
	int at_line_start;
	char label[LABEL_MAX];
	size_t label_len;
	long rank;           /* of the current line; -1: srun's own */
	char own[SRUN_ERROR_MAX]; /* srun's own line, as far as it fits */
	size_t own_len;
	char srun_error[SRUN_ERROR_MAX];
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			/* A non-blocking pipe we share with someone (the
			 * job's output): wait for room rather than drop. */
			struct pollfd p1 = { .fd = fd, .events = POLLOUT };

			if (poll(&p1, 1, -1) < 0 && errno != EINTR)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct launch_logs *launch_logs_new(const struct launch_ctx *c, int out_fd,
				    int labelled)
{
	struct launch_logs *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	if (!(l->stream = launch_stream_new(c, labelled))) {
		free(l);
		return NULL;
	}
	l->c = c;
	l->out_fd = out_fd;
	l->labelled = labelled;
	l->local = (struct launch_logfiles)LAUNCH_LOGFILES_INIT;
	l->at_line_start = 1;
	l->rank = -1;
	return l;
}

/* user_logs/, opened below the working directory; -1 with errno. */
static int open_user_logs(const struct launch_logs *l, int create)
{
	if (create && mkdirat(l->c->workdir_fd, "user_logs", 0777) < 0 &&
	    errno != EEXIST)
		return -1;
	return openat(l->c->workdir_fd, "user_logs",
		      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* user_logs/[name] for appending; [first]: the first time in this run,
 * so whatever a file of that name held before (the snapshot's) goes. */
static int open_local(const struct launch_logs *l, const char *name,
		      int first)
{
	int dirfd = open_user_logs(l, 1), fd, e;

	if (dirfd < 0)
		return -1;
	fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
					 O_CLOEXEC | O_NOCTTY |
					 (first ? O_TRUNC : 0), 0666);
	e = errno;
	close(dirfd);
	errno = e;
	return fd;
}

/*
 * The local copy of [rank]'s log is lost ([e]): said once, and the part
 * written is removed, so that the upload at the end does not put it over
 * the live copy run history may still have whole.
 */
static void local_broken(struct launch_logs *l, struct launch_logfile *f,
			 const char *name, int e)
{
	int dirfd;

	launch_logfiles_close(&l->local, f);
	f->state = LOCAL_BROKEN;
	if ((dirfd = open_user_logs(l, 0)) >= 0) {
		(void)unlinkat(dirfd, name, 0);
		close(dirfd);
	}
	launch_say("user_logs/%s cannot be written in the working directory: "
		   "%s; the job's output has all of it, run history only its "
		   "live copy", name, strerror(e));
}

static void local_write(struct launch_logs *l, size_t rank, const char *p,
			size_t n)
{
	struct launch_logfile *f = launch_logfiles_get(&l->local, rank);
	char name[64];
	int fd;

	if (!f || f->state == LOCAL_BROKEN)
		return;
	launch_log_name(l->labelled, rank, name, sizeof(name));
	if (f->fd < 0) {
		launch_logfiles_make_room(&l->local);
		fd = open_local(l, name, f->state == LOCAL_UNOPENED);
		if (fd < 0) {
			local_broken(l, f, name, errno);
			return;
		}
		f->state = LOCAL_WRITTEN;
		launch_logfiles_opened(&l->local, f, fd);
	}
	if (write_all(f->fd, p, n) < 0)
		local_broken(l, f, name, errno);
}

static void log_write(struct launch_logs *l, size_t rank, const char *p,
		      size_t n)
{
	if (!n)
		return;
	local_write(l, rank, p, n);
	launch_stream_send(l->stream, rank, p, n);
}

enum label_verdict { LABEL_MORE, LABEL_DONE, LABEL_NONE };

/* Judge the bytes at the start of a line against "^ *[0-9]+: ". */
static enum label_verdict label_check(const char *p, size_t n, long *rank)
{
	size_t i = 0, digits;
	long v = 0;

	while (i < n && p[i] == ' ')
		i++;
	for (digits = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
		if (v > AML_MAX_PROCESSES)
			return LABEL_NONE;
		v = v * 10 + (p[i] - '0');
	}
	if (i == n)
		return LABEL_MORE;
	if (!digits || p[i] != ':')
		return LABEL_NONE;
	if (++i == n)
		return LABEL_MORE;
	if (p[i] != ' ' || i + 1 != n)
		return LABEL_NONE;
	*rank = v;
	return LABEL_DONE;
}

/* Bytes of srun's own line; [end]: the line is complete. */
static void own_line(struct launch_logs *l, const char *p, size_t n, int end)
{
	size_t room = sizeof(l->own) - 1 - l->own_len;

	memcpy(l->own + l->own_len, p, n < room ? n : room);
	l->own_len += n < room ? n : room;
	if (!end)
		return;
	l->own[l->own_len] = '\0';
	l->own[strcspn(l->own, "\n")] = '\0';
	/* The first error srun reports is the one that ended the run
	 * ("task 2: Exited with exit code 3"); the rest follow from it. */
	if (!l->srun_error[0] &&
	    !strncmp(l->own, SRUN_ERROR, strlen(SRUN_ERROR)))
		snprintf(l->srun_error, sizeof(l->srun_error), "%s",
			 l->own + strlen(SRUN_ERROR));
	l->own_len = 0;
}

static void feed_labelled(struct launch_logs *l, const char *buf, size_t len)
{
	while (len) {
		const char *nl;
		size_t n;

		if (l->at_line_start) {
			char ch = *buf++;

			len--;
			l->label[l->label_len++] = ch;
			switch (label_check(l->label, l->label_len, &l->rank)) {
			case LABEL_MORE:
				if (ch != '\n' && l->label_len < LABEL_MAX)
					continue;
				/* fall through */
			case LABEL_NONE:
				l->rank = -1;
				own_line(l, l->label, l->label_len, ch == '\n');
				break;
			case LABEL_DONE:
				break;
			}
			l->label_len = 0;
			l->at_line_start = ch == '\n';
			continue;
		}
		nl = memchr(buf, '\n', len);
		n = nl ? (size_t)(nl - buf) + 1 : len;
		if (l->rank >= 0)
			log_write(l, (size_t)l->rank, buf, n);
		else
			own_line(l, buf, n, nl != NULL);
		buf += n;
		len -= n;
		if (nl)
			l->at_line_start = 1;
	}
}

void launch_logs_feed(struct launch_logs *l, const char *buf, size_t len)
{
	if (!l->out_broken && write_all(l->out_fd, buf, len) < 0) {
		/* The job's output is gone (a full disk, a closed pipe): the
		 * logs in run history still get everything. */
		launch_say("the job's output cannot be written: %s",
			   strerror(errno));
		l->out_broken = 1;
	}
	if (l->labelled)
		feed_labelled(l, buf, len);
	else
		log_write(l, 0, buf, len);
}

const char *launch_logs_srun_error(const struct launch_logs *l)
{
	return l->srun_error[0] ? l->srun_error : NULL;
}

int launch_logs_poll_fd(const struct launch_logs *l, int64_t *at_ms)
{
	return launch_stream_poll_fd(l->stream, at_ms);
}

void launch_logs_pump(struct launch_logs *l, int64_t now_ms)
{
	launch_stream_pump(l->stream, now_ms);
}

int launch_logs_child_ended(struct launch_logs *l, pid_t pid, int status)
{
	return launch_stream_child_ended(l->stream, pid, status);
}

void launch_logs_free(struct launch_logs *l)
{
	if (!l)
		return;
	/* The local copy first: it is whole whatever the live one does. */
	launch_logfiles_free(&l->local);
	launch_stream_end(l->stream);
	free(l);
}
