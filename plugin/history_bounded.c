/*
 * history_bounded.c: the file backend's writes, each in a child stopped
 * when the filesystem stops answering (history_backend.h).
 *
 * A write to HistoryDir on a hung NFS server (or FUSE filesystem) blocks
 * in the kernel, and cannot even be killed while the server holds its
 * request.  Every writer must go on: sbatch returning to the user, the
 * node side inside slurmstepd, the launcher before the job's time limit.
 * So each write runs in a child (bounded.h) that is given up when it has
 * made no progress for HistoryTimeout (an upload reports each buffer and
 * each file, so a large one on a slow but live filesystem is waited for).
 * The write given up is UNAVAILABLE: history.c queues it in the spool,
 * and since every operation is idempotent, a child that finishes after
 * all (the server answered at last) does no harm to the replay.
 *
 * A process meets a hang once: after a write was given up, the handle
 * sends every later write straight to the spool without trying, so one
 * process leaves at most one child stuck in the kernel, not one per
 * write.  Reads are not run in children (their results do not fit
 * through a pipe cheaply): aml-run's watch (hangwatch.h) bounds them.
 *
 * open_log hands back a descriptor, which a child cannot: the child
 * opens (and so creates) the log, and only once that answered does the
 * caller open it itself.  What the caller then writes to it may still
 * hang; the launcher writes its live log from a process of its own for
 * that reason (launch_logs.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bounded.h"
#include "clock.h"
#include "errors.h"
#include "history_backend.h"

/* Room for what an upload's stats say (counts, and up to
 * AML_ARTIFACTS_NOTES notes) on their way back from the child. */
#define STATS_ROOM 16384

struct bounded {
	const struct aml_history_ops *inner;
	void *inner_self;
	char *where;        /* HistoryDir, for messages */
	int64_t idle_ms;
	int hung;           /* a write was given up: no more tries */
};

/* One write, as the child runs it. */
struct job {
	struct bounded *b;
	int (*run)(const struct job *j, char *errbuf, size_t errlen);
	const char *experiment, *run_id;
	const struct aml_run_new *req;
	const struct aml_event *ev;
	const struct aml_kvlist *kv;
	const struct aml_strlist *remove;
	int root_fd;
	const char *src, *dest, *log_name;
	char *stats_room;   /* shared with the caller, STATS_ROOM bytes */
};

static int in_child(void *arg, char *errbuf, size_t errlen)
{
	const struct job *j = arg;

	return j->run(j, errbuf, errlen);
}

static int hung_already(const struct bounded *b, char *errbuf, size_t errlen)
{
	aml_fail(errbuf, errlen, "run history: HistoryDir %s stopped "
		 "answering earlier in this process; not tried again",
		 b->where);
	return AML_BACKEND_UNAVAILABLE;
}

static int run_bounded(struct bounded *b, struct job *j, char *errbuf,
		       size_t errlen)
{
	char why[1024];
	int r;

	if (b->hung)
		return hung_already(b, errbuf, errlen);
	j->b = b;
	r = aml_bounded_call_watched(AML_BOUNDED_AS_CALLER, 0, b->idle_ms, 0,
				     in_child, j, why, sizeof(why));
	switch (r) {
	case AML_BOUNDED_TIMEOUT:
		b->hung = 1;
		aml_fail(errbuf, errlen, "run history: HistoryDir %s did not "
			 "answer within %lld s (its filesystem hangs?)",
			 b->where, (long long)(b->idle_ms / 1000));
		return AML_BACKEND_UNAVAILABLE;
	case AML_BOUNDED_FAILED:
		/* No child (out of processes or memory): the write is still
		 * worth doing, unwatched, rather than not at all. */
		return j->run(j, errbuf, errlen);
	default:
		snprintf(errbuf, errlen, "%s", why);
		return r;
	}
}

/* ---- the writes ---- */

static int do_create(const struct job *j, char *errbuf, size_t errlen)
{
	return j->b->inner->create_run(j->b->inner_self, j->req, errbuf,
				       errlen);
}

static int bounded_create_run(void *self, const struct aml_run_new *req,
			      char *errbuf, size_t errlen)
{
	struct job j = { .run = do_create, .req = req };

	return run_bounded(self, &j, errbuf, errlen);
}

static int do_record(const struct job *j, char *errbuf, size_t errlen)
{
	return j->b->inner->record(j->b->inner_self, j->experiment, j->run_id,
				   j->ev, errbuf, errlen);
}

static int bounded_record(void *self, const char *experiment,
			  const char *run_id, const struct aml_event *ev,
			  char *errbuf, size_t errlen)
{
	struct job j = { .run = do_record, .experiment = experiment,
			 .run_id = run_id, .ev = ev };

	return run_bounded(self, &j, errbuf, errlen);
}

static int do_properties(const struct job *j, char *errbuf, size_t errlen)
{
	return j->b->inner->add_properties(j->b->inner_self, j->experiment,
					   j->run_id, j->kv, errbuf, errlen);
}

static int bounded_add_properties(void *self, const char *experiment,
				  const char *run_id,
				  const struct aml_kvlist *properties,
				  char *errbuf, size_t errlen)
{
	struct job j = { .run = do_properties, .experiment = experiment,
			 .run_id = run_id, .kv = properties };

	return run_bounded(self, &j, errbuf, errlen);
}

static int do_tags(const struct job *j, char *errbuf, size_t errlen)
{
	return j->b->inner->set_tags(j->b->inner_self, j->experiment,
				     j->run_id, j->kv, j->remove, errbuf,
				     errlen);
}

static int bounded_set_tags(void *self, const char *experiment,
			    const char *run_id, const struct aml_kvlist *set,
			    const struct aml_strlist *remove, char *errbuf,
			    size_t errlen)
{
	struct job j = { .run = do_tags, .experiment = experiment,
			 .run_id = run_id, .kv = set, .remove = remove };

	return run_bounded(self, &j, errbuf, errlen);
}

/* The stats travel as "<files> <bytes> <skipped>\n" and each note,
 * NUL-terminated. */
static void stats_put(char *room, const struct aml_artifact_stats *st)
{
	int at = snprintf(room, STATS_ROOM, "%llu %llu %llu\n",
			  (unsigned long long)st->files,
			  (unsigned long long)st->bytes,
			  (unsigned long long)st->skipped);

	for (size_t i = 0; i < st->n_notes && at > 0 && at < STATS_ROOM; i++)
		at += snprintf(room + at, (size_t)(STATS_ROOM - at), "%s%c",
			       st->notes[i], '\0');
}

static void stats_get(const char *room, struct aml_artifact_stats *st)
{
	unsigned long long files, bytes, skipped;
	const char *p = memchr(room, '\n', STATS_ROOM), *end = room + STATS_ROOM;

	if (!p || sscanf(room, "%llu %llu %llu", &files, &bytes,
			 &skipped) != 3)
		return;
	st->files = files;
	st->bytes = bytes;
	st->skipped = skipped;
	for (p++; p < end && *p && st->n_notes < AML_ARTIFACTS_NOTES;) {
		size_t len = strnlen(p, (size_t)(end - p));

		if (p + len >= end)
			break;
		st->notes[st->n_notes] = strdup(p);
		if (st->notes[st->n_notes])
			st->n_notes++;
		p += len + 1;
	}
}

static int do_upload(const struct job *j, char *errbuf, size_t errlen)
{
	struct aml_artifact_stats st = { 0 };
	int r = j->b->inner->upload(j->b->inner_self, j->experiment,
				    j->run_id, j->root_fd, j->src, j->dest,
				    &st, errbuf, errlen);

	if (j->stats_room)
		stats_put(j->stats_room, &st);
	aml_artifact_stats_free(&st);
	return r;
}

static int bounded_upload(void *self, const char *experiment,
			  const char *run_id, int root_fd, const char *src,
			  const char *dest, struct aml_artifact_stats *stats,
			  char *errbuf, size_t errlen)
{
	struct bounded *b = self;
	struct job j = { .run = do_upload, .experiment = experiment,
			 .run_id = run_id, .root_fd = root_fd, .src = src,
			 .dest = dest };
	/* Zeroed: stats_get finds nothing in a room no child wrote. */
	void *room = mmap(NULL, STATS_ROOM, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int r;

	/* No room for the stats to come back: unwatched, as run_bounded
	 * does without a child, rather than not at all. */
	if (room == MAP_FAILED)
		return b->hung ? hung_already(b, errbuf, errlen)
			       : b->inner->upload(b->inner_self, experiment,
						  run_id, root_fd, src, dest,
						  stats, errbuf, errlen);
	j.stats_room = room;
	r = run_bounded(b, &j, errbuf, errlen);
	if (stats)
		stats_get(room, stats);
	munmap(room, STATS_ROOM);
	return r;
}

static int do_open_log(const struct job *j, char *errbuf, size_t errlen)
{
	int fd = j->b->inner->open_log(j->b->inner_self, j->experiment,
				       j->run_id, j->log_name, errbuf, errlen);

	if (fd < 0)
		return AML_BACKEND_UNAVAILABLE;
	close(fd);
	return AML_BACKEND_OK;
}

static int bounded_open_log(void *self, const char *experiment,
			    const char *run_id, const char *name,
			    char *errbuf, size_t errlen)
{
	struct bounded *b = self;
	struct job j = { .run = do_open_log, .experiment = experiment,
			 .run_id = run_id, .log_name = name };

	if (run_bounded(b, &j, errbuf, errlen) != AML_BACKEND_OK)
		return -1;
	return b->inner->open_log(b->inner_self, experiment, run_id, name,
				  errbuf, errlen);
}

/* ---- reads go straight through ---- */

static int bounded_read_run(void *self, const char *run_id, int with_config,
			    struct aml_run_info *info, char *errbuf,
			    size_t errlen)
{
	struct bounded *b = self;

	return b->inner->read_run(b->inner_self, run_id, with_config, info,
				  errbuf, errlen);
}

static int bounded_list(void *self, const struct aml_run_filter *filter,
			struct aml_run_info **runs, size_t *n, char *errbuf,
			size_t errlen)
{
	struct bounded *b = self;

	return b->inner->list(b->inner_self, filter, runs, n, errbuf, errlen);
}

static int bounded_list_artifacts(void *self, const struct aml_run_info *run,
				  struct aml_artifact **list, size_t *n,
				  char *errbuf, size_t errlen)
{
	struct bounded *b = self;

	return b->inner->list_artifacts(b->inner_self, run, list, n, errbuf,
					errlen);
}

static int bounded_open_artifact(void *self, const struct aml_run_info *run,
				 const char *path, char *errbuf,
				 size_t errlen)
{
	struct bounded *b = self;

	return b->inner->open_artifact(b->inner_self, run, path, errbuf,
				       errlen);
}

static int bounded_download(void *self, const struct aml_run_info *run,
			    const char *path, int out_fd,
			    struct aml_artifact_stats *stats, char *errbuf,
			    size_t errlen)
{
	struct bounded *b = self;

	return b->inner->download(b->inner_self, run, path, out_fd, stats,
				  errbuf, errlen);
}

static void bounded_close(void *self)
{
	struct bounded *b = self;

	b->inner->close(b->inner_self);
	free(b->where);
	free(b);
}

static int bounded_unanswered(void *self)
{
	return ((struct bounded *)self)->hung;
}

static const struct aml_history_ops bounded_ops = {
	.name = "file",
	.create_run = bounded_create_run,
	.record = bounded_record,
	.add_properties = bounded_add_properties,
	.set_tags = bounded_set_tags,
	.upload = bounded_upload,
	.open_log = bounded_open_log,
	.read_run = bounded_read_run,
	.list = bounded_list,
	.list_artifacts = bounded_list_artifacts,
	.open_artifact = bounded_open_artifact,
	.download = bounded_download,
	.unanswered = bounded_unanswered,
	.close = bounded_close,
};

int aml_history_bounded_wrap(const struct aml_history_ops **ops, void **self,
			     const char *where, int64_t idle_ms,
			     char *errbuf, size_t errlen)
{
	struct bounded *b;

	if (idle_ms <= 0)
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->where = strdup(where))) {
		free(b);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	b->inner = *ops;
	b->inner_self = *self;
	b->idle_ms = idle_ms;
	*ops = &bounded_ops;
	*self = b;
	return 0;
}
