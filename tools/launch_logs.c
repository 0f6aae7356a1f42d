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

#include "launch_logs.h"
#include "runconfig.h"

/* srun -l writes "%*d: " (the width of the largest task id), so a label
 * is spaces, digits, a colon and a space: a few bytes, never this many. */
#define LABEL_MAX 24
/* Runs may have far more processes than a process may have descriptors;
 * beyond this many, the least recently opened is closed and reopened
 * when its rank speaks again (appending, so nothing is lost). */
#define OPEN_LOGS_MAX 256
#define SRUN_ERROR_MAX 256
#define SRUN_ERROR "srun: error: "

enum sink_where {
	SINK_UNOPENED,  /* nothing written yet */
	SINK_HISTORY,   /* appended in run history */
	SINK_LOCAL,     /* in the working directory, uploaded at the end */
	SINK_BROKEN,    /* given up: the job's output has it */
};

struct sink {
	int fd;          /* -1 while closed */
	enum sink_where where;
};

struct launch_logs {
	const struct launch_ctx *c;
	int out_fd;
	int out_broken;
	int labelled;
	struct sink *sinks;  /* by rank; one for std_log.txt */
	size_t n_sinks;
	size_t n_open;
	size_t hand;         /* where the search for a log to close starts */
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
	l->c = c;
	l->out_fd = out_fd;
	l->labelled = labelled;
	l->at_line_start = 1;
	l->rank = -1;
	return l;
}

static void log_name(const struct launch_logs *l, size_t rank, char *buf,
		     size_t len)
{
	if (l->labelled)
		snprintf(buf, len, "std_log_process_%zu.txt", rank);
	else
		snprintf(buf, len, "std_log.txt");
}

static int open_local(const struct launch_logs *l, const char *name)
{
	int dirfd, fd;

	if (mkdirat(l->c->workdir_fd, "user_logs", 0777) < 0 &&
	    errno != EEXIST)
		return -1;
	dirfd = openat(l->c->workdir_fd, "user_logs",
		       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return -1;
	fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
					 O_CLOEXEC | O_NOCTTY, 0666);
	close(dirfd);
	return fd;
}

/* Make room for one more open log by closing another. */
static void close_one(struct launch_logs *l)
{
	for (size_t i = 0; i < l->n_sinks; i++) {
		struct sink *s = &l->sinks[(l->hand + i) % l->n_sinks];

		if (s->fd >= 0) {
			close(s->fd);
			s->fd = -1;
			l->n_open--;
			l->hand = (l->hand + i + 1) % l->n_sinks;
			return;
		}
	}
}

static struct sink *sink_for(struct launch_logs *l, size_t rank)
{
	if (rank >= l->n_sinks) {
		size_t n = l->n_sinks ? l->n_sinks : 16;
		struct sink *grown;

		while (n <= rank)
			n *= 2;
		grown = realloc(l->sinks, n * sizeof(*grown));
		if (!grown)
			return NULL;
		for (size_t i = l->n_sinks; i < n; i++)
			grown[i] = (struct sink){ -1, SINK_UNOPENED };
		l->sinks = grown;
		l->n_sinks = n;
	}
	return &l->sinks[rank];
}

/* An open descriptor for the log of [rank], or -1 when it is given up. */
static int sink_fd(struct launch_logs *l, size_t rank)
{
	struct sink *s = sink_for(l, rank);
	char name[64], err[1024];

	if (!s)
		return -1;
	if (s->fd >= 0 || s->where == SINK_BROKEN)
		return s->fd;
	if (l->n_open >= OPEN_LOGS_MAX)
		close_one(l);
	log_name(l, rank, name, sizeof(name));
	switch (s->where) {
	case SINK_UNOPENED:
		s->fd = aml_history_open_log(l->c->h, l->c->experiment,
					     l->c->run_id, name, err,
					     sizeof(err));
		if (s->fd >= 0) {
			s->where = SINK_HISTORY;
			break;
		}
		s->fd = open_local(l, name);
		if (s->fd >= 0) {
			/* Said once per log: the upload at the end brings
			 * it to run history. */
			launch_say("user_logs/%s is written in the working "
				   "directory and uploaded at the end: %s",
				   name, err);
			s->where = SINK_LOCAL;
			break;
		}
		launch_say("user_logs/%s cannot be written (%s; in the "
			   "working directory: %s): it is only in the job's "
			   "output", name, err, strerror(errno));
		s->where = SINK_BROKEN;
		break;
	case SINK_HISTORY:
		/* Reopened after being closed for room.  Were it to go to
		 * the working directory now, the upload at the end would
		 * replace what run history already has with the rest. */
		s->fd = aml_history_open_log(l->c->h, l->c->experiment,
					     l->c->run_id, name, err,
					     sizeof(err));
		if (s->fd < 0) {
			launch_say("user_logs/%s: %s; the rest of it is only "
				   "in the job's output", name, err);
			s->where = SINK_BROKEN;
		}
		break;
	case SINK_LOCAL:
		s->fd = open_local(l, name);
		if (s->fd < 0) {
			launch_say("user_logs/%s: %s; the rest of it is only "
				   "in the job's output", name,
				   strerror(errno));
			s->where = SINK_BROKEN;
		}
		break;
	case SINK_BROKEN:
		break;
	}
	if (s->fd >= 0)
		l->n_open++;
	return s->fd;
}

static void log_write(struct launch_logs *l, size_t rank, const char *p,
		      size_t n)
{
	int fd;
	char name[64];

	if (!n || (fd = sink_fd(l, rank)) < 0)
		return;
	if (write_all(fd, p, n) == 0)
		return;
	log_name(l, rank, name, sizeof(name));
	launch_say("user_logs/%s: %s; the rest of it is only in the job's "
		   "output", name, strerror(errno));
	close(fd);
	l->n_open--;
	l->sinks[rank].fd = -1;
	l->sinks[rank].where = SINK_BROKEN;
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

void launch_logs_free(struct launch_logs *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_sinks; i++)
		if (l->sinks[i].fd >= 0)
			close(l->sinks[i].fd);
	free(l->sinks);
	free(l);
}
