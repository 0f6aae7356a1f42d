/*
 * history_file.c: the embedded run history backend, a directory tree on
 * the shared filesystem (also in slurm-aml(8), Directories):
 *
 *     <HistoryDir>/<user>/<experiment>/<run_id>/
 *         run.json  properties.json  tags.json  events.jsonl
 *         refused.jsonl   events the state machine refused, with why
 *         outputs/  logs/  user_logs/
 *
 * Who may do what is left to the kernel: each user's runs are in a tree
 * nobody else can write (why, and the old layout: "The layout" in
 * history_file_find.c), a run directory belongs to its user (0700 or 0755
 * by RunVisibility).
 *
 * Concurrency: events.jsonl is the run's lock (flock, which NFS maps to
 * its own locks).  A writer takes it, reads the events, checks the new one
 * against them and appends it with one write(2), so several nodes and the
 * finalizer never interleave or both move the run.  Properties and tags
 * are rewritten under the same lock, by rename, so a reader sees the old
 * file or the new one.  Readers take no lock: a line is appended whole,
 * and a torn last line (a writer killed mid-write) is skipped.
 *
 * Root (a reconcile by an admin): every path component is opened
 * O_NOFOLLOW from HistoryDir only to learn whose the run is; the process
 * then becomes that user (privdrop.h) and finds the run again as them.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "errors.h"
#include "history_file_internal.h"
#include "kvjson.h"
#include "privdrop.h"
#include "random.h"
#include "text.h"
#include "tree.h"

#define REFUSED "refused.jsonl"

/* An open run directory; for root, the identity it acts as meanwhile. */
struct run_dir {
	int rootfd, fd;
	uid_t uid;
	gid_t gid;
	struct aml_identity identity;
};

/* Replace [name] in [dirfd] by [text]: a new file, synced, renamed over
 * the old, so a reader sees one or the other. */
static int replace_file_at(int dirfd, const char *name, const char *text,
			   size_t len, mode_t mode)
{
	char tmp[NAME_MAX + 1];
	unsigned int rnd;
	int fd, saved;

	if (aml_random(&rnd, sizeof(rnd)) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), ".%s.tmp-%08x", name, rnd);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) < 0 || aml_write_all(fd, text, len) < 0 ||
	    fdatasync(fd) < 0 || close(fd) < 0) {
		saved = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		saved = errno;
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * Create the [n] (at most 8) files [names] with [texts] in [dirfd], a
 * directory no reader sees yet, and make their contents durable: every
 * file written, then their writeback started, then every one synced, so
 * that a filesystem that commits metadata in one journal (ext4, xfs)
 * does so once, not once per file.  Returns 0, or -1 with errno (the
 * files then left to the caller).
 */
static int create_files_synced(int dirfd, const char *const *names,
			       const char *const *texts, size_t n, mode_t mode)
{
	int fds[8], r = 0, saved = 0;
	size_t opened = 0;

	if (n > sizeof(fds) / sizeof(*fds)) {
		errno = EINVAL;
		return -1;
	}
	for (; opened < n; opened++) {
		fds[opened] = openat(dirfd, names[opened],
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					     O_CLOEXEC, mode);
		if (fds[opened] < 0 || fchmod(fds[opened], mode) < 0 ||
		    aml_write_all(fds[opened], texts[opened],
				  strlen(texts[opened])) < 0) {
			saved = errno;
			if (fds[opened] >= 0)
				opened++;
			r = -1;
			break;
		}
	}
	/* Their writeback started together first: a filesystem that
	 * allocates blocks at writeback (ext4, xfs) then allocates all four
	 * before the first fdatasync commits, and the others find nothing
	 * left to commit.  Only a hint: the fdatasyncs below are the
	 * guarantee. */
	for (size_t i = 0; r == 0 && i < opened; i++)
		(void)sync_file_range(fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < opened; i++) {
		if (r == 0 && fdatasync(fds[i]) < 0) {
			saved = errno;
			r = -1;
		}
		if (close(fds[i]) < 0 && r == 0) {
			saved = errno;
			r = -1;
		}
	}
	if (r < 0)
		errno = saved;
	return r;
}

/* [list] as properties.json and tags.json hold it; NULL when memory
 * runs out. */
static char *kvlist_json(const struct aml_kvlist *list)
{
	cJSON *obj = aml_kvlist_to_json(list);
	char *text = obj ? cJSON_Print(obj) : NULL;

	cJSON_Delete(obj);
	return text;
}

static void run_dir_close(struct run_dir *rd)
{
	aml_identity_restore(&rd->identity);
	if (rd->fd >= 0)
		close(rd->fd);
	if (rd->rootfd >= 0)
		close(rd->rootfd);
	rd->fd = rd->rootfd = -1;
}

/*
 * Open <experiment>/<run_id> of the caller for writing.  Root first
 * finds whose run it is, then becomes that user (privdrop.h) and looks it
 * up again as them, so no path is resolved as root beyond learning the
 * owner; everyone else must own the run.  The identity is restored by
 * run_dir_close.
 */
static int run_dir_open_write(struct file_backend *fb, const char *experiment,
			      const char *run_id, struct run_dir *rd,
			      char *errbuf, size_t errlen)
{
	struct run_search s = { .run_id = run_id, .experiment = experiment };
	struct stat st;
	int r;

	memset(rd, 0, sizeof(*rd));
	rd->rootfd = rd->fd = -1;
	if (hf_check_names(experiment, run_id, errbuf, errlen) < 0)
		return AML_BACKEND_REFUSED;
	r = hf_open_root(fb, errbuf, errlen);
	if (r < 0)
		return r;
	rd->rootfd = r;
	if (geteuid() == 0) {
		char owners[256];

		s.any_owner = 1;
		if (hf_search_run(fb, rd->rootfd, &s) < 0) {
			r = hf_sysfail(errbuf, errlen, errno, "cannot read "
				       "HistoryDir %s", fb->root);
			goto failed;
		}
		if (s.n == 0) {
			r = hf_not_found(&s, errbuf, errlen);
			goto failed;
		}
		if (hf_several_owners(&s)) {
			hf_owners_of(&s, owners, sizeof(owners));
			r = aml_fail(errbuf, errlen, "run history: run %s of "
				     "experiment %s exists for several users "
				     "(%s); refusing to guess whose to write",
				     run_id, experiment, owners);
			goto failed;
		}
		if (fstat(s.m[0].fd, &st) < 0) {
			r = hf_sysfail(errbuf, errlen, errno, "run %s", run_id);
			goto failed;
		}
		hf_search_free(&s);
		if (aml_identity_become(st.st_uid, st.st_gid, &rd->identity,
					errbuf, errlen) < 0) {
			r = AML_BACKEND_REFUSED;
			goto failed;
		}
	}
	s.any_owner = 0;
	s.uid = geteuid();
	if (hf_search_run(fb, rd->rootfd, &s) < 0) {
		r = hf_sysfail(errbuf, errlen, errno, "cannot read HistoryDir "
			       "%s", fb->root);
		goto failed;
	}
	if (s.n == 0) {
		struct run_search other = { .run_id = run_id,
					    .experiment = experiment,
					    .any_owner = 1 };

		/* Someone else's run: say so, rather than "no run". */
		if (!s.unsafe && hf_search_run(fb, rd->rootfd, &other) == 0 &&
		    other.n > 0)
			r = aml_fail(errbuf, errlen, "run history: run %s "
				     "belongs to uid %lu; only its owner "
				     "records its history", run_id,
				     (unsigned long)other.m[0].uid);
		else
			r = hf_not_found(&s, errbuf, errlen);
		hf_search_free(&other);
		goto failed;
	}
	if (s.m[0].legacy && !s.m[0].legacy_safe) {
		r = aml_fail(errbuf, errlen, "run history: run %s is in the "
			     "old shared experiment directory %s, which "
			     "another user owns and could swap runs in; "
			     "refusing to write to it (slurm-aml(8): "
			     "history layout)", run_id, experiment);
		goto failed;
	}
	/* The first is the one a tree of the user's holds, if any. */
	rd->fd = s.m[0].fd;
	for (size_t i = 1; i < s.n; i++)
		close(s.m[i].fd);
	s.n = 0;
	if (fstat(rd->fd, &st) < 0) {
		r = hf_sysfail(errbuf, errlen, errno, "run %s", run_id);
		goto failed;
	}
	rd->uid = st.st_uid;
	rd->gid = st.st_gid;
	return 0;
failed:
	hf_search_free(&s);
	run_dir_close(rd);
	return r < 0 ? r : AML_BACKEND_REFUSED;
}

/*
 * flock(LOCK_EX), with a bound for root components.  Threat: the lock is
 * a file its user owns, and whoever holds it for good would otherwise
 * stall a root process that serves everyone: the finalizer, which
 * slurmctld runs for one job at a time, or slurmstepd.  A run's end must
 * never wait on its user.  Writers hold it for one read and one append,
 * milliseconds, so a wait of LOCK_WAIT_MS means someone is holding it on
 * purpose or is stuck; the write is then "unavailable" and goes to the
 * spool, to be replayed.  A process of the user's own (real uid not
 * root) waits in the kernel's queue as long as it takes, which is fair
 * under contention, and only the user can hold it up.  -1 with errno
 * EWOULDBLOCK when the bound passed.
 */
#define LOCK_WAIT_MS 5000

static int lock_bounded(int fd)
{
	int64_t waited_ms = 0, step_ms = 1;

	if (getuid() != 0) {
		int r;

		while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
			;
		return r;
	}
	for (;;) {
		struct timespec ts;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (waited_ms >= LOCK_WAIT_MS) {
			errno = EWOULDBLOCK;
			return -1;
		}
		ts.tv_sec = step_ms / 1000;
		ts.tv_nsec = (long)(step_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		waited_ms += step_ms;
		/* Short steps: a writer blocked in flock is woken the moment
		 * the lock is free, and a poller that slept longer would lose
		 * every race to it (the finalizer's end to the launcher's). */
		if (step_ms < 2)
			step_ms *= 2;
	}
}

/*
 * The run's lock: events.jsonl, open for appending, locked exclusively
 * within LOCK_WAIT_MS.  A symlink in its place is refused, whoever asks.
 */
static int lock_events(struct run_dir *rd, const char *run_id, char *errbuf,
		       size_t errlen)
{
	struct stat st;
	int fd, r;

	fd = openat(rd->fd, EVENTS, O_RDWR | O_APPEND | O_NOFOLLOW |
					    O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			return aml_fail(errbuf, errlen, "run history: %s of "
					"run %s is a symlink; refusing to "
					"write through it", EVENTS, run_id);
		return hf_sysfail(errbuf, errlen, errno, "%s of run %s",
				  EVENTS, run_id);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != rd->uid) {
		close(fd);
		return aml_fail(errbuf, errlen, "run history: %s of run %s is "
				"not a regular file of the run's owner; "
				"refusing to write to it", EVENTS, run_id);
	}
	r = lock_bounded(fd);
	if (r < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			aml_fail(errbuf, errlen, "run history: %s of run %s "
				 "stayed locked by another process for %d s",
				 EVENTS, run_id, LOCK_WAIT_MS / 1000);
			return AML_BACKEND_UNAVAILABLE;
		}
		return hf_sysfail(errbuf, errlen, e, "cannot lock %s of run %s",
				  EVENTS, run_id);
	}
	return fd;
}

/* ---- writers ---- */

/* Whether the caller already has a run [run_id] in [experiment]. */
static int exists_for_caller(struct file_backend *fb, int rootfd,
			     const char *experiment, const char *run_id)
{
	struct run_search s = { .run_id = run_id, .experiment = experiment,
				.uid = geteuid() };
	int found;

	if (hf_search_run(fb, rootfd, &s) < 0)
		return 0;
	found = s.n > 0;
	hf_search_free(&s);
	return found;
}

static int file_create_run(void *self, const struct aml_run_new *req,
			   char *errbuf, size_t errlen)
{
	struct file_backend *fb = self;
	char tmp[NAME_MAX + 1], *props = NULL, *tags = NULL, *line = NULL;
	int rootfd = -1, treefd = -1, expfd = -1, fd = -1, r;
	unsigned int rnd;

	if (hf_check_names(req->experiment, req->run_id, errbuf, errlen) < 0)
		return AML_BACKEND_REFUSED;
	if (aml_status_check_first(req->first->status, req->first->attempt) !=
	    AML_TRANSITION_OK)
		return aml_fail(errbuf, errlen, "run history: run %s must "
				"start NotStarted in attempt 1, not %s",
				req->run_id,
				aml_status_name(req->first->status));
	if (strlen(req->run_id) > NAME_MAX - 20)
		return aml_fail(errbuf, errlen, "run history: run id %s is too "
				"long", req->run_id);
	props = kvlist_json(req->properties);
	tags = kvlist_json(req->tags);
	line = aml_event_encode(req->first);
	if (!props || !tags || !line) {
		r = aml_fail(errbuf, errlen, "out of memory");
		goto done;
	}
	r = hf_open_root(fb, errbuf, errlen);
	if (r < 0)
		goto done;
	rootfd = r;
	/* Run ids are unique per user: one already in an older tree of the
	 * user's, or in the old layout, is taken too. */
	if (exists_for_caller(fb, rootfd, req->experiment, req->run_id)) {
		r = aml_fail(errbuf, errlen, "run history: a run %s already "
			     "exists in experiment %s", req->run_id,
			     req->experiment);
		goto done;
	}
	r = hf_open_own_tree(fb, rootfd, 1, errbuf, errlen);
	if (r < 0)
		goto done;
	treefd = r;
	r = hf_open_tree_experiment(fb, treefd, req->experiment, 1, errbuf,
				    errlen);
	if (r < 0)
		goto done;
	expfd = r;
	if (aml_random(&rnd, sizeof(rnd)) < 0) {
		r = hf_sysfail(errbuf, errlen, errno, "getrandom");
		goto done;
	}
	/* Built aside under a dot name, then renamed: list never shows a
	 * half-made run. */
	snprintf(tmp, sizeof(tmp), ".new-%s-%08x", req->run_id, rnd);
	if (mkdirat(expfd, tmp, 0700) < 0) {
		r = hf_sysfail(errbuf, errlen, errno, "cannot create run %s in "
			       "experiment %s", req->run_id, req->experiment);
		goto done;
	}
	fd = openat(expfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
	/* The contents, then the directory that names them, then (below)
	 * the rename that names the directory: synced in that order, a
	 * crash leaves either no run or a whole one.  Nothing reads the dot
	 * name meanwhile, so the files are written in place. */
	if (fd < 0 || fchmod(fd, fb->dir_mode) < 0 ||
	    create_files_synced(fd, (const char *const[]){ CONFIG, PROPERTIES,
							   TAGS, EVENTS },
				(const char *const[]){ req->config_json, props,
						       tags, line },
				4, fb->file_mode) < 0 ||
	    fsync(fd) < 0) {
		r = hf_sysfail(errbuf, errlen, errno, "cannot create run %s in "
			       "experiment %s", req->run_id, req->experiment);
		goto undo;
	}
	if (renameat2(expfd, tmp, expfd, req->run_id, RENAME_NOREPLACE) < 0) {
		int e = errno;

		/* NFS has no RENAME_NOREPLACE; a 32-bit random id makes the
		 * window between the check and the rename harmless. */
		if (e == EINVAL &&
		    faccessat(expfd, req->run_id, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT && renameat(expfd, tmp, expfd,
						req->run_id) == 0)
			goto renamed;
		if (e == EINVAL)
			e = EEXIST;
		r = e == EEXIST || e == ENOTEMPTY
			    ? aml_fail(errbuf, errlen, "run history: a run %s "
				       "already exists in experiment %s",
				       req->run_id, req->experiment)
			    : hf_sysfail(errbuf, errlen, e, "cannot create run "
					 "%s", req->run_id);
		goto undo;
	}
renamed:
	fsync(expfd);
	r = AML_BACKEND_OK;
	goto done;
undo:
	/* The failure already in errbuf is what the caller must hear; a
	 * dot name left behind is never listed as a run. */
	(void)aml_tree_remove(expfd, tmp);
done:
	if (fd >= 0)
		close(fd);
	if (expfd >= 0)
		close(expfd);
	if (treefd >= 0)
		close(treefd);
	if (rootfd >= 0)
		close(rootfd);
	free(props);
	free(tags);
	free(line);
	return r;
}

/*
 * Keep a refused event beside the run's events (refused.jsonl), with why:
 * a writer that reports into a job's log may be long gone when someone
 * wonders why the run never said Running.  Best effort: the refusal stands
 * whether or not it could be kept.
 */
static void log_refused(struct file_backend *fb, int runfd,
			const struct aml_event *ev, const char *why)
{
	char *line = aml_event_encode(ev), *text = NULL;
	cJSON *rec = cJSON_CreateObject(), *event;
	int fd;

	if (!line || !rec)
		goto done;
	event = cJSON_Parse(line);
	if (!event || !cJSON_AddStringToObject(rec, "refused", why) ||
	    !cJSON_AddItemToObject(rec, "event", event)) {
		cJSON_Delete(event);
		goto done;
	}
	text = cJSON_PrintUnformatted(rec);
	if (!text)
		goto done;
	fd = openat(runfd, REFUSED, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
					    O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		    fb->file_mode);
	if (fd >= 0) {
		size_t n = strlen(text);

		text[n] = '\n';
		if (aml_write_all(fd, text, n + 1) < 0) {
			/* Best effort, as said above. */
		}
		text[n] = '\0';
		close(fd);
	}
done:
	free(text);
	free(line);
	cJSON_Delete(rec);
}

static int file_record(void *self, const char *experiment,
		       const char *run_id, const struct aml_event *ev,
		       char *errbuf, size_t errlen)
{
	struct run_dir rd;
	char *text = NULL, *line = NULL;
	size_t len = 0;
	int fd, r;

	r = run_dir_open_write(self, experiment, run_id, &rd, errbuf, errlen);
	if (r < 0)
		return r;
	fd = lock_events(&rd, run_id, errbuf, errlen);
	if (fd < 0) {
		r = fd;
		goto done;
	}
	if (hf_read_all(fd, &text, &len) < 0) {
		r = hf_sysfail(errbuf, errlen, errno, "cannot read %s of run %s",
			       EVENTS, run_id);
		goto done;
	}
	switch (aml_events_admit(text, len, ev, run_id, errbuf, errlen)) {
	case AML_ADMIT_YES:
		break;
	case AML_ADMIT_ALREADY:
		r = AML_BACKEND_UNCHANGED;
		goto done;
	default:
		r = AML_BACKEND_REFUSED;
		log_refused(self, rd.fd, ev, errbuf);
		goto done;
	}
	line = aml_event_encode(ev);
	if (!line) {
		r = aml_fail(errbuf, errlen, "out of memory");
		goto done;
	}
	/* A torn last line (a writer that died mid-write) is ended first, in
	 * the same write, so ours is not glued to it. */
	if (len > 0 && text[len - 1] != '\n') {
		char *joined = malloc(strlen(line) + 2);

		if (!joined) {
			r = aml_fail(errbuf, errlen, "out of memory");
			goto done;
		}
		joined[0] = '\n';
		strcpy(joined + 1, line);
		free(line);
		line = joined;
	}
	if (aml_write_all(fd, line, strlen(line)) < 0 || fdatasync(fd) < 0) {
		r = hf_sysfail(errbuf, errlen, errno, "cannot append to %s of "
			       "run %s", EVENTS, run_id);
		goto done;
	}
	r = AML_BACKEND_OK;
done:
	if (fd >= 0)
		close(fd);
	free(text);
	free(line);
	run_dir_close(&rd);
	return r;
}

/*
 * Properties and tags: read the file under the run's lock, let [merge]
 * change the list, write it back by rename.  [merge] returns 1 when there
 * is something to write, 0 when nothing changes, -1 to refuse.
 */
typedef int (*merge_fn)(struct aml_kvlist *list, const void *arg,
			const char *run_id, char *errbuf, size_t errlen);

static int update_kvfile(struct file_backend *fb, const char *experiment,
			 const char *run_id, const char *name, merge_fn merge,
			 const void *arg, char *errbuf, size_t errlen)
{
	struct aml_kvlist list = { 0 };
	struct run_dir rd;
	char *text = NULL, why[160];
	int lockfd = -1, r;

	r = run_dir_open_write(fb, experiment, run_id, &rd, errbuf, errlen);
	if (r < 0)
		return r;
	lockfd = lock_events(&rd, run_id, errbuf, errlen);
	if (lockfd < 0) {
		r = lockfd;
		goto done;
	}
	if (hf_read_kvlist_at(rd.fd, name, &list, why, sizeof(why)) < 0) {
		r = hf_sysfail(errbuf, errlen, errno, "cannot read %s of run "
			       "%s%s%s", name, run_id, *why ? ", " : "", why);
		goto done;
	}
	r = merge(&list, arg, run_id, errbuf, errlen);
	if (r <= 0) {
		r = r < 0 ? AML_BACKEND_REFUSED : AML_BACKEND_UNCHANGED;
		goto done;
	}
	text = kvlist_json(&list);
	if (!text) {
		r = aml_fail(errbuf, errlen, "out of memory");
		goto done;
	}
	if (replace_file_at(rd.fd, name, text, strlen(text), fb->file_mode) < 0)
		r = hf_sysfail(errbuf, errlen, errno, "cannot write %s of run %s",
			       name, run_id);
	else
		r = AML_BACKEND_OK;
done:
	if (lockfd >= 0)
		close(lockfd);
	free(text);
	aml_kvlist_free(&list);
	run_dir_close(&rd);
	return r;
}

static int merge_properties(struct aml_kvlist *list, const void *arg,
			    const char *run_id, char *errbuf, size_t errlen)
{
	const struct aml_kvlist *add = arg;
	int changed = 0;

	/* Every key is judged before any is set: all or nothing. */
	for (size_t i = 0; add && i < add->count; i++) {
		const char *old = aml_kvlist_get(list, add->items[i].key);
		char k[96], o[96];

		if (old && strcmp(old, add->items[i].value)) {
			aml_text_escape(add->items[i].key, k, sizeof(k));
			aml_text_escape(old, o, sizeof(o));
			return aml_fail(errbuf, errlen, "run history: run %s: "
					"property %s is already \"%s\"; "
					"properties never change (use a tag "
					"for a value that does)", run_id, k, o);
		}
	}
	for (size_t i = 0; add && i < add->count; i++) {
		if (aml_kvlist_get(list, add->items[i].key))
			continue;
		if (aml_kvlist_set(list, add->items[i].key,
				   add->items[i].value) < 0)
			return aml_fail(errbuf, errlen, "out of memory");
		changed = 1;
	}
	return changed;
}

static int file_add_properties(void *self, const char *experiment,
			       const char *run_id,
			       const struct aml_kvlist *properties,
			       char *errbuf, size_t errlen)
{
	return update_kvfile(self, experiment, run_id, PROPERTIES,
			     merge_properties, properties, errbuf, errlen);
}

struct tag_change {
	const struct aml_kvlist *set;
	const struct aml_strlist *remove;
};

static int merge_tags(struct aml_kvlist *list, const void *arg,
		      const char *run_id, char *errbuf, size_t errlen)
{
	const struct tag_change *c = arg;
	struct aml_kvlist out = { 0 };

	(void)run_id;
	/* Rebuilt rather than edited, so removal keeps the others' order. */
	for (size_t i = 0; i < list->count; i++) {
		int removed = 0;

		for (size_t j = 0; c->remove && j < c->remove->count; j++)
			removed |= !strcmp(list->items[i].key,
					   c->remove->items[j]);
		if (!removed && aml_kvlist_set(&out, list->items[i].key,
					       list->items[i].value) < 0)
			goto oom;
	}
	for (size_t i = 0; c->set && i < c->set->count; i++)
		if (aml_kvlist_set(&out, c->set->items[i].key,
				   c->set->items[i].value) < 0)
			goto oom;
	aml_kvlist_free(list);
	*list = out;
	return 1;
oom:
	aml_kvlist_free(&out);
	return aml_fail(errbuf, errlen, "out of memory");
}

static int file_set_tags(void *self, const char *experiment,
			 const char *run_id, const struct aml_kvlist *set,
			 const struct aml_strlist *remove, char *errbuf,
			 size_t errlen)
{
	struct tag_change c = { set, remove };

	return update_kvfile(self, experiment, run_id, TAGS, merge_tags, &c,
			     errbuf, errlen);
}

static int file_upload(void *self, const char *experiment,
		       const char *run_id, int root_fd, const char *src,
		       const char *dest, struct aml_artifact_stats *stats,
		       char *errbuf, size_t errlen)
{
	struct file_backend *fb = self;
	struct aml_artifact_stats local = { 0 };
	struct run_dir rd;
	int r;

	if (!stats)
		stats = &local;
	r = run_dir_open_write(fb, experiment, run_id, &rd, errbuf, errlen);
	if (r < 0)
		return r;
	errno = 0;
	if (aml_artifacts_copy_in(root_fd, src, rd.fd, dest, fb->dir_mode,
				  fb->file_mode, stats, errbuf, errlen) < 0)
		r = hf_verdict(errno);
	else
		r = AML_BACKEND_OK;
	run_dir_close(&rd);
	aml_artifact_stats_free(&local);
	return r;
}

static int valid_log_name(const char *name)
{
	return *name && *name != '.' && !strchr(name, '/') &&
	       strlen(name) <= NAME_MAX;
}

static int file_open_log(void *self, const char *experiment,
			 const char *run_id, const char *name, char *errbuf,
			 size_t errlen)
{
	struct file_backend *fb = self;
	struct run_dir rd;
	int dirfd, fd;

	if (!valid_log_name(name))
		return aml_fail(errbuf, errlen, "run history: log name \"%s\" "
				"must be a plain file name", name);
	if (run_dir_open_write(fb, experiment, run_id, &rd, errbuf,
			       errlen) < 0)
		return -1;
	if (mkdirat(rd.fd, "user_logs", fb->dir_mode) < 0 && errno != EEXIST) {
		hf_sysfail(errbuf, errlen, errno, "user_logs of run %s", run_id);
		run_dir_close(&rd);
		return -1;
	}
	dirfd = openat(rd.fd, "user_logs", O_RDONLY | O_DIRECTORY |
						   O_NOFOLLOW | O_CLOEXEC);
	fd = dirfd < 0 ? -1
		       : openat(dirfd, name, O_WRONLY | O_APPEND | O_CREAT |
						     O_NOFOLLOW | O_CLOEXEC |
						     O_NOCTTY | O_NONBLOCK,
				fb->file_mode);
	/* The umask of whoever opened first must not decide who may read
	 * the run's logs: RunVisibility does. */
	if (fd >= 0 && (fchmod(dirfd, fb->dir_mode) < 0 ||
			fchmod(fd, fb->file_mode) < 0)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		hf_sysfail(errbuf, errlen, errno, "user_logs/%s of run %s", name,
			   run_id);
	if (dirfd >= 0)
		close(dirfd);
	run_dir_close(&rd);
	return fd;
}

static void file_close(void *self)
{
	struct file_backend *fb = self;

	free(fb->root);
	free(fb);
}

static const struct aml_history_ops file_ops = {
	.name = "file",
	.create_run = file_create_run,
	.record = file_record,
	.add_properties = file_add_properties,
	.set_tags = file_set_tags,
	.upload = file_upload,
	.open_log = file_open_log,
	.read_run = hf_read_run,
	.list = hf_list,
	.list_artifacts = hf_list_artifacts,
	.open_artifact = hf_open_artifact,
	.download = hf_download,
	.close = file_close,
};

int aml_history_file_open(const struct aml_site *site,
			  const struct aml_history_ops **ops, void **self,
			  char *errbuf, size_t errlen)
{
	struct file_backend *fb = calloc(1, sizeof(*fb));

	if (!fb || !(fb->root = strdup(site->history_dir))) {
		free(fb);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	/* A private user's tree can be entered, not listed: others learn
	 * nothing of the experiments, and a run they name is refused as
	 * private rather than missing. */
	if (site->run_visibility == AML_RUNS_SHARED) {
		fb->tree_mode = 0755;
		fb->dir_mode = 0755;
		fb->file_mode = 0644;
	} else {
		fb->tree_mode = 0711;
		fb->dir_mode = 0700;
		fb->file_mode = 0600;
	}
	*ops = &file_ops;
	*self = fb;
	return 0;
}
