#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The errnos of the faults issue 13 asks history to survive. */
static const struct {
	const char *name;
	int value;
} errnos[] = {
	{ "EIO", EIO },       { "ESTALE", ESTALE }, { "EACCES", EACCES },
	{ "EROFS", EROFS },   { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
	{ "ENOTCONN", ENOTCONN },
};

#define NERRNOS (sizeof(errnos) / sizeof(errnos[0]))

static int errno_value(const char *word)
{
	char *end;
	long v;

	for (size_t i = 0; i < NERRNOS; i++)
		if (strcmp(word, errnos[i].name) == 0)
			return errnos[i].value;
	errno = 0;
	v = strtol(word, &end, 10);
	/* The kernel takes errors 1..4095 from a FUSE server. */
	if (errno || end == word || *end || v < 1 || v > 4095)
		return -1;
	return (int)v;
}

static const char *errno_name(int value, char *buf, size_t len)
{
	for (size_t i = 0; i < NERRNOS; i++)
		if (errnos[i].value == value)
			return errnos[i].name;
	snprintf(buf, len, "%d", value);
	return buf;
}

int fault_parse(const char *line, struct fault *f, char *errbuf,
		size_t errlen)
{
	char copy[256], *words[4], *save = NULL, *w;
	size_t n = 0;
	struct fault parsed = { FAULT_PASS, 0, 0 };

	if (strlen(line) >= sizeof(copy)) {
		snprintf(errbuf, errlen, "the line is longer than %zu bytes",
			 sizeof(copy) - 1);
		return -1;
	}
	strcpy(copy, line);
	copy[strcspn(copy, "\n")] = '\0';
	for (w = strtok_r(copy, " \t\r", &save); w;
	     w = strtok_r(NULL, " \t\r", &save)) {
		if (n == sizeof(words) / sizeof(words[0])) {
			snprintf(errbuf, errlen, "too many words (at \"%s\")", w);
			return -1;
		}
		words[n++] = w;
	}
	if (n == 0 || (n == 1 && strcmp(words[0], "ok") == 0)) {
		*f = parsed;
		return 0;
	}
	if (n == 1 && strcmp(words[0], "hang") == 0) {
		parsed.mode = FAULT_HANG;
		*f = parsed;
		return 0;
	}
	if (strcmp(words[0], "ok") == 0 || strcmp(words[0], "hang") == 0) {
		snprintf(errbuf, errlen, "\"%s\" takes nothing after it (at \"%s\")",
			 words[0], words[1]);
		return -1;
	}
	if (strcmp(words[0], "errno") != 0) {
		snprintf(errbuf, errlen,
			 "unknown fault \"%s\" (ok, errno NAME [writes], hang)",
			 words[0]);
		return -1;
	}
	if (n < 2) {
		snprintf(errbuf, errlen, "errno needs a NAME (EIO, ESTALE, "
			 "EACCES, EROFS, ENOSPC, EDQUOT, ENOTCONN or a number)");
		return -1;
	}
	parsed.mode = FAULT_ERRNO;
	parsed.err = errno_value(words[1]);
	if (parsed.err < 0) {
		snprintf(errbuf, errlen, "unknown errno \"%s\" (EIO, ESTALE, "
			 "EACCES, EROFS, ENOSPC, EDQUOT, ENOTCONN or 1..4095)",
			 words[1]);
		return -1;
	}
	if (n == 3) {
		if (strcmp(words[2], "writes") != 0) {
			snprintf(errbuf, errlen,
				 "\"%s\" after errno %s: only \"writes\" may follow",
				 words[2], words[1]);
			return -1;
		}
		parsed.writes_only = 1;
	} else if (n > 3) {
		snprintf(errbuf, errlen, "too many words (at \"%s\")", words[3]);
		return -1;
	}
	*f = parsed;
	return 0;
}

const char *fault_describe(const struct fault *f, char *buf, size_t len)
{
	char num[16];

	switch (f->mode) {
	case FAULT_HANG:
		snprintf(buf, len, "hang");
		break;
	case FAULT_ERRNO:
		snprintf(buf, len, "errno %s%s",
			 errno_name(f->err, num, sizeof(num)),
			 f->writes_only ? " writes" : "");
		break;
	case FAULT_PASS:
	default:
		snprintf(buf, len, "ok");
		break;
	}
	return buf;
}

static int same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Read the control file into [f] and its state into [st].  Returns 1
 * when it is missing (no fault), 0 when read, -1 with a sentence in
 * [errbuf].  Only root may say what faults a shared filesystem shows:
 * a file anyone else could write is refused, not obeyed.
 */
static int control_read(const char *path, struct fault *f, struct stat *st,
			char *errbuf, size_t errlen)
{
	char line[256], why[200];
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode) || st->st_uid != 0 ||
	    (st->st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(errbuf, errlen, "%s: not a regular file of root's "
			 "that only root can write (uid %u, mode %04o)",
			 path, (unsigned)st->st_uid,
			 (unsigned)(st->st_mode & 07777));
		close(fd);
		return -1;
	}
	got = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (got < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	line[got] = '\0';
	/* Only the first line counts; a longer file is not a mistake. */
	line[strcspn(line, "\n")] = '\0';
	if (fault_parse(line, f, why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "%s: line 1: %s", path, why);
		return -1;
	}
	return 0;
}

int control_init(struct control *c, const char *path, char *errbuf,
		 size_t errlen)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->path = path;
	c->now.mode = FAULT_PASS;
	r = control_read(path, &c->now, &c->st, errbuf, errlen);
	if (r < 0)
		return -1;
	c->seen = r == 0;
	return 0;
}

const struct fault *control_current(struct control *c)
{
	struct stat st;
	struct fault f = { FAULT_PASS, 0, 0 };
	char err[512], was[64], now[64];
	int r;

	if (stat(c->path, &st) < 0) {
		if (c->seen || c->now.mode != FAULT_PASS)
			fprintf(stderr, "faultfs: %s: %s: passing through\n",
				c->path, strerror(errno));
		c->seen = 0;
		c->now = f;
		return &c->now;
	}
	if (c->seen && same_file_state(&st, &c->st))
		return &c->now;
	r = control_read(c->path, &f, &c->st, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "faultfs: %s: passing through\n", err);
		/* Remember what was refused, so it is said once. */
		c->st = st;
		f.mode = FAULT_PASS;
	}
	c->seen = r <= 0;
	if (f.mode != c->now.mode || f.err != c->now.err ||
	    f.writes_only != c->now.writes_only)
		fprintf(stderr, "faultfs: %s -> %s\n",
			fault_describe(&c->now, was, sizeof(was)),
			fault_describe(&f, now, sizeof(now)));
	c->now = f;
	return &c->now;
}
