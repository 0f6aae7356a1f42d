/*
 * node_spools.c: delivering every user's spool on a node (node_spools.h).
 *
 * Where the contract is silent:
 *   - SpoolDir is read once per round, at most SCAN_MAX entries (a user
 *     can make millions); the rest wait for a later round.
 *   - A skipped entry is said at most SKIPS_SAID times a round, then once
 *     in sum, so junk a user leaves in SpoolDir cannot flood the log.
 *   - The job's user's spools are tried again, a second apart, while they
 *     hold something and their share of time (AML_NODE_JOB_USER_MS) lasts:
 *     run history may come back in a moment.  A lock the user holds
 *     spends that share in one try.
 *   - Each child stops its replay a little before it is killed, so a
 *     replay that runs out of time ends between two entries.
 *   - Counts come back from the child through a shared page: a child
 *     stopped at its deadline had not written them, and its entries are
 *     counted in no field (they are where they were).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bounded.h"
#include "dirtrust.h"
#include "errors.h"
#include "history.h"
#include "node_spools.h"
#include "privdrop.h"
#include "spool.h"
#include "text.h"
#include "userdir.h"

#define SCAN_MAX 10000
#define SKIPS_SAID 10
#define STOP_MARGIN_MS 300
#define RETRY_PAUSE_MS 1000
#define SHOWN 160

/* Written by the child, read by the parent (MAP_SHARED). */
struct counts {
	size_t applied, rejected, remaining;
	int done;
};

struct round {
	const struct aml_site *site;
	aml_node_spools_say say;
	void *ctx;
	struct aml_node_spools_stats *stats;
	struct counts *shared;
	size_t skips_said;
	int level;                /* of [line], 0 when there is none */
	char line[2048];          /* the last try's outcome, to be said */
};

static void say(struct round *r, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct round *r, int level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (!r->say)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->say(r->ctx, level, line);
}

/* ---- in the child, as the spool's owner ---- */

struct deliver_arg {
	const struct aml_site *site;
	int fd;
	const char *path;
	int64_t stop_ms;
	struct counts *out;
};

/* 0 nothing left, 1 something left, -1 refused or failed (errbuf). */
static int deliver_as_owner(void *arg, char *errbuf, size_t errlen)
{
	struct deliver_arg *a = arg;
	struct aml_spool_replay_stats st = { 0 };
	struct aml_history *h;
	struct aml_spool sp;
	long queued;
	int r;

	if (aml_spool_open_dir(&sp, a->fd, a->path, errbuf, errlen) < 0)
		return -1;
	queued = aml_spool_count(&sp, errbuf, errlen);
	if (queued <= 0) {
		aml_spool_close(&sp);
		a->out->done = 1;
		return queued < 0 ? -1 : 0;
	}
	if (aml_history_open(a->site, &h, errbuf, errlen) < 0) {
		aml_spool_close(&sp);
		a->out->remaining = (size_t)queued;
		a->out->done = 1;
		return 1;
	}
	r = aml_history_replay_spool(h, &sp, a->stop_ms, &st, errbuf, errlen);
	aml_history_close(h);
	aml_spool_close(&sp);
	a->out->applied = st.applied;
	a->out->rejected = st.rejected;
	a->out->remaining = st.remaining;
	a->out->done = 1;
	if (r < 0)
		return -1;
	return st.remaining ? 1 : 0;
}

/* ---- in the parent, as root ---- */

/* Keep the outcome of a try, for report() to say. */
static void keep(struct round *r, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void keep(struct round *r, int level, const char *fmt, ...)
{
	va_list ap;

	r->level = level;
	va_start(ap, fmt);
	vsnprintf(r->line, sizeof(r->line), fmt, ap);
	va_end(ap);
}

/* Say what the last try did, if anything worth saying. */
static void report(struct round *r)
{
	if (r->level && r->say)
		r->say(r->ctx, r->level, r->line);
	r->level = 0;
}

/*
 * One try at [f]'s spool, as [uid]/[gid], until [until]; its outcome is
 * kept for report().  Returns what the child returned (0, 1, -1), or -1
 * when it was stopped or failed.
 */
static int deliver(struct round *r, const struct aml_userdir_entry *f, gid_t gid,
		   int64_t until)
{
	char path[PATH_MAX + 16], shown[SHOWN], msg[1024];
	struct deliver_arg a;
	int64_t started = aml_monotonic_ms();
	int res;

	aml_text_escape(f->name, shown, sizeof(shown));
	snprintf(path, sizeof(path), "%s/%s", r->site->spool_dir, f->name);
	memset(r->shared, 0, sizeof(*r->shared));
	a.site = r->site;
	a.fd = f->fd;
	a.path = path;
	a.stop_ms = until - STOP_MARGIN_MS > started ? until - STOP_MARGIN_MS
						     : until;
	a.out = r->shared;
	res = aml_bounded_call(f->uid, gid, until, deliver_as_owner, &a, msg,
			       sizeof(msg));
	r->stats->tried++;
	if (r->shared->done) {
		r->stats->delivered += r->shared->applied;
		r->stats->rejected += r->shared->rejected;
		r->stats->waiting += r->shared->remaining;
	}
	r->level = 0;
	switch (res) {
	case 0:
		if (r->shared->applied || r->shared->rejected)
			keep(r, r->shared->rejected ? LOG_WARNING : LOG_INFO,
			    "%s/%s (uid %lu): %zu delivered to run history, "
			    "%zu refused by it for good (kept in rejected/)%s%s",
			    r->site->spool_dir, shown, (unsigned long)f->uid,
			    r->shared->applied, r->shared->rejected,
			    r->shared->rejected && *msg ? ": " : "",
			    r->shared->rejected ? msg : "");
		return 0;
	case 1:
		keep(r, LOG_WARNING, "%s/%s (uid %lu): %zu delivered, %zu "
		    "refused for good (kept in rejected/), %zu still waiting "
		    "for the next job's end here%s%s", r->site->spool_dir,
		    shown, (unsigned long)f->uid, r->shared->applied,
		    r->shared->rejected, r->shared->remaining,
		    *msg ? ": " : "", msg);
		return 1;
	case AML_BOUNDED_TIMEOUT:
		keep(r, LOG_WARNING, "%s/%s (uid %lu): not done within %lld ms "
		    "(its lock is held, or run history hangs): stopped; what "
		    "is left waits for the next job's end here",
		    r->site->spool_dir, shown, (unsigned long)f->uid,
		    (long long)(until - started));
		return -1;
	default:
		keep(r, LOG_WARNING, "%s/%s (uid %lu): %s", r->site->spool_dir,
		    shown, (unsigned long)f->uid, msg);
		return -1;
	}
}

/* Whether SpoolDir's entry [name] ([fd], [st]) is a user's spool; says
 * why not when it is not (and is not root's). */
static int is_user_spool(struct round *r, const char *name,
			 const struct stat *st)
{
	char shown[SHOWN];
	const char *why;

	/* Root's spool is the finalizer's: not ours, and nothing wrong. */
	if (st->st_uid == 0 && S_ISDIR(st->st_mode))
		return 0;
	/* Threat: see node_spools.h; the name proves nothing. */
	if (aml_trust_private_dir(st, st->st_uid) == AML_TRUSTED)
		return 1;
	r->stats->skipped++;
	if (S_ISLNK(st->st_mode))
		why = "is a symbolic link (not followed)";
	else if (!S_ISDIR(st->st_mode))
		why = "is not a directory";
	else
		why = "is open to group or others";
	if (r->skips_said++ < SKIPS_SAID) {
		aml_text_escape(name, shown, sizeof(shown));
		say(r, LOG_WARNING, "%s/%s (uid %lu) %s: skipped, not a spool "
		    "to deliver", r->site->spool_dir, shown,
		    (unsigned long)st->st_uid, why);
	}
	return 0;
}

static int keep_spool(void *ctx, const char *name, const struct stat *st)
{
	return is_user_spool(ctx, name, st);
}

/* List SpoolDir's users' spools, sorted by name. */
static int scan(struct round *r, struct aml_userdir_entry **list, size_t *n,
		char *errbuf, size_t errlen)
{
	int dir = open(r->site->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = -1, more = 0;

	if (dir >= 0)
		rc = aml_userdir_scan(dir, SCAN_MAX, keep_spool, r, list, n,
				      &more);
	if (rc < 0) {
		int e = errno;

		if (dir >= 0)
			close(dir);
		return aml_fail(errbuf, errlen, "%s: %s", r->site->spool_dir,
				strerror(e));
	}
	close(dir);
	if (more)
		say(r, LOG_WARNING, "%s: more than %d entries; the rest wait "
		    "for a later job's end", r->site->spool_dir, SCAN_MAX);
	if (r->skips_said > SKIPS_SAID)
		say(r, LOG_WARNING, "%s: %zu more entries skipped",
		    r->site->spool_dir, r->skips_said - SKIPS_SAID);
	return 0;
}

static void pause_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int aml_node_spools_deliver(const struct aml_site *site, uid_t first_uid,
			    gid_t first_gid, unsigned start,
			    int64_t deadline_ms,
			    struct aml_node_spools_stats *stats,
			    aml_node_spools_say say_fn, void *ctx,
			    char *errbuf, size_t errlen)
{
	struct aml_node_spools_stats local;
	struct round r = { .site = site, .say = say_fn, .ctx = ctx };
	struct aml_userdir_entry *list;
	size_t n, others = 0;
	int64_t until;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	r.stats = stats;
	if (geteuid() != 0)
		return aml_fail(errbuf, errlen, "delivering every user's spool "
				"takes root (this process runs as uid %lu)",
				(unsigned long)geteuid());
	r.shared = mmap(NULL, sizeof(*r.shared), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r.shared == MAP_FAILED)
		return aml_fail(errbuf, errlen, "mmap: %s", strerror(errno));
	if (scan(&r, &list, &n, errbuf, errlen) < 0) {
		munmap(r.shared, sizeof(*r.shared));
		return -1;
	}
	stats->spools = n;

	/* The job's own user first, again while something is left. */
	until = aml_monotonic_ms() + AML_NODE_JOB_USER_MS;
	if (until > deadline_ms)
		until = deadline_ms;
	for (size_t i = 0; i < n; i++) {
		if (list[i].uid != first_uid || first_uid == (uid_t)-1)
			continue;
		while (aml_monotonic_ms() < until &&
		       deliver(&r, &list[i], first_gid, until) == 1 &&
		       aml_monotonic_ms() + RETRY_PAUSE_MS + STOP_MARGIN_MS <
			       until) {
			/* Counted and said once: the last try's stand. */
			stats->tried--;
			stats->waiting -= r.shared->remaining;
			r.level = 0;
			pause_ms(RETRY_PAUSE_MS);
		}
		report(&r);
	}

	/* Then every other user's, once, from a different one each time. */
	for (size_t i = 0; i < n; i++)
		if (first_uid == (uid_t)-1 || list[i].uid != first_uid)
			others++;
	for (size_t k = 0, seen = 0; k < n && seen < others; k++) {
		const struct aml_userdir_entry *f = &list[(start + k) % n];
		int64_t now = aml_monotonic_ms();

		if (first_uid != (uid_t)-1 && f->uid == first_uid)
			continue;
		seen++;
		if (now >= deadline_ms) {
			say(&r, LOG_WARNING, "%s: out of time with %zu users' "
			    "spools not tried; they wait for the next job's "
			    "end here", site->spool_dir, others - seen + 1);
			break;
		}
		until = now + AML_NODE_SPOOL_MS;
		if (until > deadline_ms)
			until = deadline_ms;
		(void)deliver(&r, f, aml_primary_gid(f->uid, f->gid), until);
		report(&r);
	}

	aml_userdir_scan_free(list, n);
	munmap(r.shared, sizeof(*r.shared));
	return 0;
}
