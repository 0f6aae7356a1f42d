/*
 * history_file.c: the embedded run history backend, a directory tree on
 * the shared filesystem (layout in DESIGN.md):
 *
 *     <HistoryDir>/<experiment>/<run_id>/
 *         run.json  properties.json  tags.json  events.jsonl
 *         refused.jsonl   events the state machine refused, with why
 *         outputs/  logs/  user_logs/
 *
 * Who may do what is left to the kernel: experiments are shared
 * directories (1777, like /tmp: anyone adds runs, nobody removes another's),
 * a run directory belongs to its user (0700 or 0755 by RunVisibility).
 *
 * Concurrency: events.jsonl is the run's lock (flock, which NFS maps to
 * its own locks).  A writer takes it, reads the events, checks the new one
 * against them and appends it with one write(2), so several nodes and the
 * finalizer never interleave or both move the run.  Properties and tags
 * are rewritten under the same lock, by rename, so a reader sees the old
 * file or the new one.  Readers take no lock: a line is appended whole,
 * and a torn last line (a writer killed mid-write) is skipped.
 *
 * Root (the finalizer): every path component is opened O_NOFOLLOW from
 * HistoryDir, and once the run directory is open the process acts as its
 * owner (privdrop.h) for everything inside it.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "errors.h"
#include "history_backend.h"
#include "privdrop.h"
#include "runid.h"
#include "text.h"

#define EVENTS "events.jsonl"
#define PROPERTIES "properties.json"
#define TAGS "tags.json"
#define CONFIG "run.json"
#define REFUSED "refused.jsonl"
#define MAX_RECORD_FILE (16u << 20)  /* a run's events or JSON files */

static const char *const artifact_tops[] = { "outputs", "logs", "user_logs" };
#define N_TOPS (sizeof(artifact_tops) / sizeof(artifact_tops[0]))

struct file_backend {
	char *root;
	mode_t dir_mode, file_mode;
};

/* An open run directory; for root, the identity it acts as meanwhile. */
struct run_dir {
	int rootfd, expfd, fd;
	uid_t uid;
	gid_t gid;
	struct aml_identity identity;
};

/* ---- errors ---- */

/* Errors that mean "the location cannot be written now", which the spool
 * absorbs, as opposed to a refusal. */
static int is_unavailable(int e)
{
	switch (e) {
	case EROFS: case ENOSPC: case EDQUOT: case EIO: case ESTALE:
	case ENOTCONN: case ETIMEDOUT: case EHOSTDOWN: case EHOSTUNREACH:
	case ENETUNREACH: case ENOLCK: case EAGAIN: case EINTR:
		return 1;
	default:
		return 0;
	}
}

static int fail_errno(char *errbuf, size_t errlen, int e, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

static int fail_errno(char *errbuf, size_t errlen, int e, const char *fmt,
		      ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	aml_fail(errbuf, errlen, "run history: %s: %s", what, strerror(e));
	return is_unavailable(e) ? AML_BACKEND_UNAVAILABLE
				 : AML_BACKEND_REFUSED;
}

/* ---- small file helpers ---- */

static int read_all(int fd, char **text, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	return aml_read_fd(fd, MAX_RECORD_FILE, text, len);
}

static int read_file_at(int dirfd, const char *name, char **text,
			size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
					    O_NOCTTY | O_NONBLOCK);
	int r, saved;

	if (fd < 0)
		return -1;
	r = read_all(fd, text, len);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

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

static char *kvlist_json(const struct aml_kvlist *list)
{
	cJSON *obj = cJSON_CreateObject();
	char *text;

	for (size_t i = 0; obj && list && i < list->count; i++)
		if (!cJSON_AddStringToObject(obj, list->items[i].key,
					     list->items[i].value)) {
			cJSON_Delete(obj);
			return NULL;
		}
	text = obj ? cJSON_Print(obj) : NULL;
	cJSON_Delete(obj);
	return text;
}

/* Read a JSON object of strings (properties.json, tags.json); a missing
 * file is an empty list. */
static int read_kvlist_at(int dirfd, const char *name,
			  struct aml_kvlist *list)
{
	char *text;
	size_t len;
	cJSON *obj, *item;

	memset(list, 0, sizeof(*list));
	if (read_file_at(dirfd, name, &text, &len) < 0)
		return errno == ENOENT ? 0 : -1;
	obj = cJSON_ParseWithLength(text, len);
	free(text);
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		errno = EBADMSG;
		return -1;
	}
	cJSON_ArrayForEach(item, obj) {
		if (cJSON_IsString(item) &&
		    aml_kvlist_set(list, item->string, item->valuestring) < 0) {
			cJSON_Delete(obj);
			aml_kvlist_free(list);
			errno = ENOMEM;
			return -1;
		}
	}
	cJSON_Delete(obj);
	return 0;
}

/* ---- finding and opening runs ---- */

static int open_root(struct file_backend *fb, char *errbuf, size_t errlen)
{
	int fd = open(fb->root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		aml_fail(errbuf, errlen, "run history: HistoryDir %s: %s%s",
			 fb->root, strerror(e),
			 e == ENOENT ? " (not mounted, or not created yet)" : "");
		/* A missing root is what an unmounted filesystem looks like. */
		errno = e;
		return e == ENOENT || is_unavailable(e)
			       ? AML_BACKEND_UNAVAILABLE : AML_BACKEND_REFUSED;
	}
	return fd;
}

/*
 * The experiment directory, created shared (1777) when [create] and
 * missing.  One writable by all without the sticky bit would let anyone
 * remove anyone's runs: refused.
 */
static int open_experiment(int rootfd, const char *experiment, int create,
			   char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	fd = openat(rootfd, experiment, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(rootfd, experiment, 01777) < 0 && errno != EEXIST)
			return fail_errno(errbuf, errlen, errno,
					  "cannot create experiment %s",
					  experiment);
		fd = openat(rootfd, experiment, O_RDONLY | O_DIRECTORY |
							O_NOFOLLOW | O_CLOEXEC);
		/* umask took bits away; only the creator may put them back. */
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid())
			fchmod(fd, 01777);
	}
	if (fd < 0)
		return fail_errno(errbuf, errlen, errno, "experiment %s%s",
				  experiment,
				  errno == ELOOP || errno == ENOTDIR
					  ? " is not a directory" : "");
	if (fstat(fd, &st) < 0) {
		int r = fail_errno(errbuf, errlen, errno, "experiment %s",
				   experiment);
		close(fd);
		return r;
	}
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		close(fd);
		return aml_fail(errbuf, errlen, "run history: experiment "
				"directory %s is writable by everyone without "
				"the sticky bit, so anyone could remove its "
				"runs; an admin should chmod 1777 it",
				experiment);
	}
	return fd;
}

static void run_dir_close(struct run_dir *rd)
{
	aml_identity_restore(&rd->identity);
	if (rd->fd >= 0)
		close(rd->fd);
	if (rd->expfd >= 0)
		close(rd->expfd);
	if (rd->rootfd >= 0)
		close(rd->rootfd);
	rd->fd = rd->expfd = rd->rootfd = -1;
}

static int check_names(const char *experiment, const char *run_id,
		       char *errbuf, size_t errlen)
{
	char shown[96];

	if (!aml_runid_is_valid(experiment)) {
		aml_text_escape(experiment, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "run history: experiment name "
				"\"%s\" must be letters, digits, '_' and '-', "
				"starting with a letter or digit", shown);
	}
	if (!aml_runid_is_valid(run_id)) {
		aml_text_escape(run_id, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "run history: run id \"%s\" "
				"must be letters, digits, '_' and '-', "
				"starting with a letter or digit", shown);
	}
	return 0;
}

/*
 * Open <experiment>/<run_id> for writing.  Root becomes the run's owner
 * from here until run_dir_close; anyone else must be the owner.
 */
static int run_dir_open_write(struct file_backend *fb, const char *experiment,
			      const char *run_id, struct run_dir *rd,
			      char *errbuf, size_t errlen)
{
	struct stat st;
	int r;

	memset(rd, 0, sizeof(*rd));
	rd->rootfd = rd->expfd = rd->fd = -1;
	if (check_names(experiment, run_id, errbuf, errlen) < 0)
		return AML_BACKEND_REFUSED;
	r = open_root(fb, errbuf, errlen);
	if (r < 0)
		return r;
	rd->rootfd = r;
	r = open_experiment(rd->rootfd, experiment, 0, errbuf, errlen);
	if (r < 0)
		goto failed;
	rd->expfd = r;
	rd->fd = openat(rd->expfd, run_id,
			O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rd->fd < 0) {
		r = errno == ENOENT
			    ? aml_fail(errbuf, errlen, "run history: no run %s "
				       "in experiment %s", run_id, experiment)
			    : fail_errno(errbuf, errlen, errno, "run %s",
					 run_id);
		goto failed;
	}
	if (fstat(rd->fd, &st) < 0) {
		r = fail_errno(errbuf, errlen, errno, "run %s", run_id);
		goto failed;
	}
	rd->uid = st.st_uid;
	rd->gid = st.st_gid;
	if (geteuid() != 0 && st.st_uid != geteuid()) {
		r = aml_fail(errbuf, errlen, "run history: run %s belongs to "
			     "uid %lu; only its owner records its history",
			     run_id, (unsigned long)st.st_uid);
		goto failed;
	}
	if (aml_identity_become(st.st_uid, st.st_gid, &rd->identity, errbuf,
				errlen) < 0) {
		r = AML_BACKEND_REFUSED;
		goto failed;
	}
	return 0;
failed:
	run_dir_close(rd);
	return r < 0 ? r : AML_BACKEND_REFUSED;
}

/*
 * The run's lock: events.jsonl, open for appending, locked exclusively.
 * A symlink in its place is refused, whoever asks.
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
		return fail_errno(errbuf, errlen, errno, "%s of run %s",
				  EVENTS, run_id);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != rd->uid) {
		close(fd);
		return aml_fail(errbuf, errlen, "run history: %s of run %s is "
				"not a regular file of the run's owner; "
				"refusing to write to it", EVENTS, run_id);
	}
	while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot lock %s of run %s",
			       EVENTS, run_id);
		close(fd);
		return r;
	}
	return fd;
}

/* ---- writers ---- */

static int remove_tree_at(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return unlinkat(parent, name, 0);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 &&
		    (errno == EISDIR || errno == EPERM))
			remove_tree_at(dirfd(d), de->d_name);
	}
	closedir(d);
	return unlinkat(parent, name, AT_REMOVEDIR);
}

static int file_create_run(void *self, const struct aml_run_new *req,
			   char *errbuf, size_t errlen)
{
	struct file_backend *fb = self;
	char tmp[NAME_MAX + 1], *props = NULL, *tags = NULL, *line = NULL;
	int rootfd = -1, expfd = -1, fd = -1, r;
	unsigned int rnd;

	if (check_names(req->experiment, req->run_id, errbuf, errlen) < 0)
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
	r = open_root(fb, errbuf, errlen);
	if (r < 0)
		goto done;
	rootfd = r;
	r = open_experiment(rootfd, req->experiment, 1, errbuf, errlen);
	if (r < 0)
		goto done;
	expfd = r;
	if (aml_random(&rnd, sizeof(rnd)) < 0) {
		r = fail_errno(errbuf, errlen, errno, "getrandom");
		goto done;
	}
	/* Built aside under a dot name, then renamed: list never shows a
	 * half-made run. */
	snprintf(tmp, sizeof(tmp), ".new-%s-%08x", req->run_id, rnd);
	if (mkdirat(expfd, tmp, 0700) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot create run %s in "
			       "experiment %s", req->run_id, req->experiment);
		goto done;
	}
	fd = openat(expfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
	if (fd < 0 || fchmod(fd, fb->dir_mode) < 0 ||
	    replace_file_at(fd, CONFIG, req->config_json,
			    strlen(req->config_json), fb->file_mode) < 0 ||
	    replace_file_at(fd, PROPERTIES, props, strlen(props),
			    fb->file_mode) < 0 ||
	    replace_file_at(fd, TAGS, tags, strlen(tags), fb->file_mode) < 0 ||
	    replace_file_at(fd, EVENTS, line, strlen(line), fb->file_mode) < 0 ||
	    fsync(fd) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot create run %s in "
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
			    : fail_errno(errbuf, errlen, e, "cannot create run "
					 "%s", req->run_id);
		goto undo;
	}
renamed:
	fsync(expfd);
	r = AML_BACKEND_OK;
	goto done;
undo:
	remove_tree_at(expfd, tmp);
done:
	if (fd >= 0)
		close(fd);
	if (expfd >= 0)
		close(expfd);
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
	if (read_all(fd, &text, &len) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot read %s of run %s",
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
		r = fail_errno(errbuf, errlen, errno, "cannot append to %s of "
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
	char *text = NULL;
	int lockfd = -1, r;

	r = run_dir_open_write(fb, experiment, run_id, &rd, errbuf, errlen);
	if (r < 0)
		return r;
	lockfd = lock_events(&rd, run_id, errbuf, errlen);
	if (lockfd < 0) {
		r = lockfd;
		goto done;
	}
	if (read_kvlist_at(rd.fd, name, &list) < 0) {
		r = fail_errno(errbuf, errlen, errno, "cannot read %s of run %s",
			       name, run_id);
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
		r = fail_errno(errbuf, errlen, errno, "cannot write %s of run %s",
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
		r = is_unavailable(errno) ? AML_BACKEND_UNAVAILABLE
					  : AML_BACKEND_REFUSED;
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
		fail_errno(errbuf, errlen, errno, "user_logs of run %s", run_id);
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
		fail_errno(errbuf, errlen, errno, "user_logs/%s of run %s", name,
			   run_id);
	if (dirfd >= 0)
		close(dirfd);
	run_dir_close(&rd);
	return fd;
}

/* ---- readers ---- */

static char *owner_name(uid_t uid)
{
	struct passwd pw, *found = NULL;
	char buf[1024], *name;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		return strdup(found->pw_name);
	if (asprintf(&name, "%lu", (unsigned long)uid) < 0)
		return NULL;
	return name;
}

static int append_event(struct aml_run_info *info, const struct aml_event *ev)
{
	struct aml_event *grown = realloc(info->events, (info->n_events + 1) *
							       sizeof(*grown));

	if (!grown)
		return -1;
	info->events = grown;
	info->events[info->n_events++] = *ev;
	return 0;
}

/* Decode every whole line into info->events and fold them. */
static int load_events(struct aml_run_info *info, const char *text,
		       size_t len)
{
	const char *p = text, *end = text + len;

	aml_run_state_fold(&info->state, text, len);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct aml_event ev;
		char err[16];

		if (!nl)
			break;
		if (aml_event_decode(p, (size_t)(nl - p), &ev, err,
				     sizeof(err)) == 0 &&
		    append_event(info, &ev) < 0) {
			aml_event_free(&ev);
			return -1;
		}
		p = nl + 1;
	}
	return 0;
}

/* Fill [info] from the open run directory [fd]. */
static int load_run(int fd, const char *experiment, const char *run_id,
		    int with_config, struct aml_run_info *info, char *errbuf,
		    size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len;

	memset(info, 0, sizeof(*info));
	aml_run_state_init(&info->state);
	if (fstat(fd, &st) < 0)
		return fail_errno(errbuf, errlen, errno, "run %s", run_id);
	info->uid = st.st_uid;
	info->experiment = strdup(experiment);
	info->run_id = strdup(run_id);
	info->owner = owner_name(st.st_uid);
	if (!info->experiment || !info->run_id || !info->owner)
		goto oom;
	if (read_file_at(fd, EVENTS, &text, &len) < 0) {
		int e = errno;

		aml_run_info_free(info);
		if (e == EACCES)
			return aml_fail(errbuf, errlen, "run history: run %s is "
					"private to its owner (uid %lu)",
					run_id, (unsigned long)st.st_uid);
		return fail_errno(errbuf, errlen, e, "cannot read %s of run %s",
				  EVENTS, run_id);
	}
	if (load_events(info, text, len) < 0)
		goto oom;
	free(text);
	text = NULL;
	if (read_kvlist_at(fd, PROPERTIES, &info->properties) < 0 ||
	    read_kvlist_at(fd, TAGS, &info->tags) < 0) {
		int e = errno;

		aml_run_info_free(info);
		return fail_errno(errbuf, errlen, e, "cannot read the "
				  "properties or tags of run %s", run_id);
	}
	if (with_config && read_file_at(fd, CONFIG, &info->config_json,
					&len) < 0 && errno != ENOENT) {
		int e = errno;

		aml_run_info_free(info);
		return fail_errno(errbuf, errlen, e, "cannot read %s of run %s",
				  CONFIG, run_id);
	}
	return 0;
oom:
	free(text);
	aml_run_info_free(info);
	return aml_fail(errbuf, errlen, "out of memory");
}

/* The experiment a generated id names: "<exp>_<digits>_<8 hex>". */
static int experiment_of_id(const char *run_id, char *buf, size_t len)
{
	const char *hex = strrchr(run_id, '_'), *secs;
	size_t n;

	if (!hex || strlen(hex + 1) != 8 || hex == run_id)
		return -1;
	for (secs = hex - 1; secs > run_id && *secs != '_'; secs--)
		if (*secs < '0' || *secs > '9')
			return -1;
	if (secs == run_id || secs == hex - 1)
		return -1;
	n = (size_t)(secs - run_id);
	if (n + 1 > len)
		return -1;
	memcpy(buf, run_id, n);
	buf[n] = '\0';
	return 0;
}

/* Find the run: first in the experiment its id names, then anywhere (a
 * v2 job chooses its own name).  Returns the run's directory fd and the
 * experiment's name in [exp_out], or -1 with errno. */
static int find_run(int rootfd, const char *run_id, char *exp_out,
		    size_t exp_len)
{
	char guess[AML_RUNID_MAX];
	struct dirent *de;
	DIR *d;
	int fd, expfd;

	if (experiment_of_id(run_id, guess, sizeof(guess)) == 0 &&
	    (expfd = openat(rootfd, guess, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						   O_CLOEXEC)) >= 0) {
		fd = openat(expfd, run_id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						   O_CLOEXEC);
		close(expfd);
		if (fd >= 0 || errno != ENOENT) {
			snprintf(exp_out, exp_len, "%s", guess);
			return fd;
		}
	}
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		int runfd;

		if (de->d_name[0] == '.')
			continue;
		expfd = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY |
							     O_NOFOLLOW |
							     O_CLOEXEC);
		if (expfd < 0)
			continue;
		runfd = openat(expfd, run_id, O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC);
		close(expfd);
		if (runfd >= 0 || errno == EACCES) {
			int e = errno;

			snprintf(exp_out, exp_len, "%s", de->d_name);
			closedir(d);
			errno = e;
			return runfd;
		}
	}
	closedir(d);
	errno = ENOENT;
	return -1;
}

static int file_read_run(void *self, const char *run_id, int with_config,
			 struct aml_run_info *info, char *errbuf, size_t errlen)
{
	struct file_backend *fb = self;
	char experiment[AML_RUNID_MAX], shown[96];
	int rootfd, fd, r;

	memset(info, 0, sizeof(*info));
	if (!aml_runid_is_valid(run_id)) {
		aml_text_escape(run_id, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "\"%s\" is not a run id "
				"(letters, digits, '_' and '-')", shown);
	}
	rootfd = open_root(fb, errbuf, errlen);
	if (rootfd < 0)
		return -1;
	fd = find_run(rootfd, run_id, experiment, sizeof(experiment));
	if (fd < 0) {
		int e = errno;

		close(rootfd);
		if (e == ENOENT)
			return aml_fail(errbuf, errlen, "run history: no run %s "
					"(looked in %s)", run_id, fb->root);
		if (e == EACCES)
			return aml_fail(errbuf, errlen, "run history: run %s is "
					"private to its owner", run_id);
		return fail_errno(errbuf, errlen, e, "run %s", run_id);
	}
	r = load_run(fd, experiment, run_id, with_config, info, errbuf, errlen);
	close(fd);
	close(rootfd);
	return r < 0 ? -1 : 0;
}

static int matches(const struct aml_run_filter *f,
		   const struct aml_run_info *info)
{
	if (!f)
		return 1;
	if (f->has_status && (!info->state.has_events ||
			      info->state.status != f->status))
		return 0;
	if (f->user && strcmp(f->user, info->owner))
		return 0;
	if (f->since_ms && info->state.created_ms < f->since_ms)
		return 0;
	return 1;
}

static int newest_first(const void *a, const void *b)
{
	const struct aml_run_info *x = a, *y = b;

	if (x->state.created_ms != y->state.created_ms)
		return x->state.created_ms > y->state.created_ms ? -1 : 1;
	return strcmp(y->run_id, x->run_id);
}

/* Add every readable, matching run of the experiment [expfd] to [*runs]. */
static int list_experiment(int expfd, const char *experiment,
			   const struct aml_run_filter *filter,
			   struct aml_run_info **runs, size_t *n, size_t *cap,
			   char *errbuf, size_t errlen)
{
	int fd = openat(expfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0; /* an experiment we cannot read has no runs for us */
	}
	while ((de = readdir(d))) {
		struct aml_run_info info;
		char ignored[256];
		int runfd;

		if (de->d_name[0] == '.' || !aml_runid_is_valid(de->d_name))
			continue;
		runfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
							     O_NOFOLLOW |
							     O_CLOEXEC);
		if (runfd < 0)
			continue;
		/* Others' private runs are simply not listed. */
		if (load_run(runfd, experiment, de->d_name, 0, &info, ignored,
			     sizeof(ignored)) < 0) {
			close(runfd);
			continue;
		}
		close(runfd);
		if (!matches(filter, &info)) {
			aml_run_info_free(&info);
			continue;
		}
		if (*n == *cap) {
			size_t grown_cap = *cap ? *cap * 2 : 64;
			struct aml_run_info *grown =
				realloc(*runs, grown_cap * sizeof(*grown));

			if (!grown) {
				aml_run_info_free(&info);
				closedir(d);
				return aml_fail(errbuf, errlen, "out of memory");
			}
			*runs = grown;
			*cap = grown_cap;
		}
		(*runs)[(*n)++] = info;
	}
	closedir(d);
	return 0;
}

static int file_list(void *self, const struct aml_run_filter *filter,
		     struct aml_run_info **runs, size_t *n, char *errbuf,
		     size_t errlen)
{
	struct file_backend *fb = self;
	size_t cap = 0;
	struct dirent *de;
	int rootfd, fd, r = 0;
	DIR *d;

	*runs = NULL;
	*n = 0;
	rootfd = open_root(fb, errbuf, errlen);
	if (rootfd < 0)
		return -1;
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(rootfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		fail_errno(errbuf, errlen, e, "cannot read HistoryDir %s",
			   fb->root);
		return -1;
	}
	while (r == 0 && (de = readdir(d))) {
		int expfd;

		if (de->d_name[0] == '.' ||
		    (filter && filter->experiment &&
		     strcmp(filter->experiment, de->d_name)))
			continue;
		expfd = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY |
							     O_NOFOLLOW |
							     O_CLOEXEC);
		if (expfd < 0)
			continue;
		r = list_experiment(expfd, de->d_name, filter, runs, n, &cap,
				    errbuf, errlen);
		close(expfd);
	}
	closedir(d);
	if (r < 0) {
		for (size_t i = 0; i < *n; i++)
			aml_run_info_free(&(*runs)[i]);
		free(*runs);
		*runs = NULL;
		*n = 0;
		return -1;
	}
	if (*n > 1)
		qsort(*runs, *n, sizeof(**runs), newest_first);
	return 0;
}

/* The run directory of a run read before, for reading. */
static int open_run_read(struct file_backend *fb,
			 const struct aml_run_info *run, char *errbuf,
			 size_t errlen)
{
	int rootfd = open_root(fb, errbuf, errlen), expfd, fd = -1;

	if (rootfd < 0)
		return -1;
	expfd = openat(rootfd, run->experiment, O_PATH | O_DIRECTORY |
							O_NOFOLLOW | O_CLOEXEC);
	if (expfd >= 0)
		fd = openat(expfd, run->run_id, O_RDONLY | O_DIRECTORY |
							O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fail_errno(errbuf, errlen, errno, "run %s", run->run_id);
	if (expfd >= 0)
		close(expfd);
	close(rootfd);
	return fd;
}

static int file_list_artifacts(void *self, const struct aml_run_info *run,
			       struct aml_artifact **list, size_t *n,
			       char *errbuf, size_t errlen)
{
	int fd = open_run_read(self, run, errbuf, errlen), r;

	*list = NULL;
	*n = 0;
	if (fd < 0)
		return -1;
	r = aml_artifacts_list(fd, artifact_tops, N_TOPS, list, n, errbuf,
			       errlen);
	close(fd);
	return r;
}

/* A path inside a run: relative, no "." or ".." components, below one of
 * the artifact folders. */
static int valid_artifact_path(const char *path)
{
	const char *p = path;
	int top_ok = 0;

	for (size_t i = 0; i < N_TOPS; i++) {
		size_t n = strlen(artifact_tops[i]);

		if (!strncmp(path, artifact_tops[i], n) &&
		    (path[n] == '/' || path[n] == '\0'))
			top_ok = 1;
	}
	if (!top_ok)
		return 0;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

static int file_open_artifact(void *self, const struct aml_run_info *run,
			      const char *path, char *errbuf, size_t errlen)
{
	int runfd, fd, e;

	if (!valid_artifact_path(path)) {
		aml_fail(errbuf, errlen, "\"%s\" is not a path in a run: it "
			 "must start with outputs/, logs/ or user_logs/", path);
		errno = EINVAL;
		return -1;
	}
	runfd = open_run_read(self, run, errbuf, errlen);
	if (runfd < 0)
		return -1;
	fd = aml_open_nofollow(runfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	e = errno;
	close(runfd);
	if (fd < 0)
		fail_errno(errbuf, errlen, e, "%s of run %s", path,
			   run->run_id);
	errno = e;
	return fd;
}

static int file_download(void *self, const struct aml_run_info *run,
			 const char *path, int out_fd,
			 struct aml_artifact_stats *stats, char *errbuf,
			 size_t errlen)
{
	int runfd, r = 0;

	if (path && *path && !valid_artifact_path(path))
		return aml_fail(errbuf, errlen, "\"%s\" is not a path in a "
				"run: it must start with outputs/, logs/ or "
				"user_logs/", path);
	runfd = open_run_read(self, run, errbuf, errlen);
	if (runfd < 0)
		return -1;
	if (path && *path) {
		r = aml_artifacts_copy_out(runfd, path, out_fd, stats, errbuf,
					   errlen);
	} else {
		/* Each copy counts from zero; the caller wants the sum. */
		struct aml_artifact_stats sum = { 0 };

		for (size_t i = 0; r == 0 && i < N_TOPS; i++) {
			struct aml_artifact_stats one = { 0 };

			if (faccessat(runfd, artifact_tops[i], F_OK,
				      AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			r = aml_artifacts_copy_out(runfd, artifact_tops[i],
						   out_fd, &one, errbuf, errlen);
			sum.files += one.files;
			sum.bytes += one.bytes;
			sum.skipped += one.skipped;
			for (size_t k = 0; k < one.n_notes &&
					   k < AML_ARTIFACTS_NOTES; k++) {
				if (sum.n_notes < AML_ARTIFACTS_NOTES)
					sum.notes[sum.n_notes++] = one.notes[k];
				else
					free(one.notes[k]);
			}
		}
		if (stats)
			*stats = sum;
		else
			aml_artifact_stats_free(&sum);
	}
	close(runfd);
	return r;
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
	.read_run = file_read_run,
	.list = file_list,
	.list_artifacts = file_list_artifacts,
	.open_artifact = file_open_artifact,
	.download = file_download,
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
	if (site->run_visibility == AML_RUNS_SHARED) {
		fb->dir_mode = 0755;
		fb->file_mode = 0644;
	} else {
		fb->dir_mode = 0700;
		fb->file_mode = 0600;
	}
	*ops = &file_ops;
	*self = fb;
	return 0;
}
