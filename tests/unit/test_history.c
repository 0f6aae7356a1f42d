/*
 * test_history.c: run history (plugin/history.c over the embedded file
 * backend, plugin/history_file.c): the run layout and its modes, the state
 * machine as writers meet it, concurrent writers, properties and tags,
 * uploads, logs and artifacts, listing, reading hand-edited logs, the
 * spool in front of every write (unmounted, read-only and full history),
 * and a root writer acting as the run's owner.
 *
 * Every test gets a fresh fixture under /tmp: a HistoryDir and a SpoolDir
 * made as an admin would (1777) and a working directory.  Children made
 * with fork() never call cmocka: they report through their exit status
 * (and, for the concurrent writers, through a shared page).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "bounded.h"
#include "event.h"
#include "history.h"
#include "kvlist.h"
#include "site.h"
#include "spool.h"
#include "status.h"
#include "tree.h"

#define NOBODY 65534
#define OTHER 65533
#define EXP "hello"
#define RUN "hello_1764089396_0a1b2c3d"
#define CONFIG "{\"script\":\"train.py\",\"arguments\":[\"--lr\",\"0.1\"]}"

struct fixture {
	char base[64];     /* everything lives below */
	char hist[128];    /* HistoryDir, 1777 */
	char away[128];    /* where HistoryDir goes while "unmounted" */
	char spool[128];   /* SpoolDir, 1777 */
	char work[128];    /* the run's working directory */
	struct aml_site site;
	struct aml_history *h;
	int mounted;       /* a tmpfs is mounted on hist */
	mode_t umask_was;
	char *kept[32];    /* paths kept for a whole test (keep()) */
	size_t n_kept;
	/* Owned here, not by the test, so a failing test leaks nothing
	 * (forked children of later tests would inherit it, and valgrind
	 * would fail them for it). */
	struct aml_kvlist kvs[8];
	size_t n_kvs;
	char *big;
	char err[2048];
};

/* ---- helpers ---- */

static void remove_tree(const char *path)
{
	aml_tree_remove(AT_FDCWD, path);
}

static int open_history(struct fixture *f, enum aml_run_visibility vis)
{
	if (f->h)
		aml_history_close(f->h);
	f->h = NULL;
	f->site.run_visibility = vis;
	if (aml_history_open(&f->site, &f->h, f->err, sizeof(f->err)) != 0) {
		fprintf(stderr, "aml_history_open: %s\n", f->err);
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->umask_was = umask(022);
	strcpy(f->base, "/tmp/test_history.XXXXXX");
	if (!mkdtemp(f->base) || chmod(f->base, 0755) != 0)
		return -1;
	snprintf(f->hist, sizeof(f->hist), "%s/history", f->base);
	snprintf(f->away, sizeof(f->away), "%s/history.away", f->base);
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->base);
	snprintf(f->work, sizeof(f->work), "%s/work", f->base);
	/* As an admin would: both shared like /tmp. */
	if (mkdir(f->hist, 0700) != 0 || chmod(f->hist, 01777) != 0 ||
	    mkdir(f->spool, 0700) != 0 || chmod(f->spool, 01777) != 0 ||
	    mkdir(f->work, 0755) != 0)
		return -1;
	if (aml_site_defaults(&f->site) != 0)
		return -1;
	free(f->site.history_dir);
	free(f->site.spool_dir);
	f->site.history_dir = strdup(f->hist);
	f->site.spool_dir = strdup(f->spool);
	if (!f->site.history_dir || !f->site.spool_dir)
		return -1;
	f->site.history_backend = AML_HISTORY_FILE;
	/* The tests lift a fault and write at once; the breaker's own
	 * tests turn it on. */
	f->site.history_probe_interval_seconds = 0;
	if (open_history(f, AML_RUNS_PRIVATE) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_history_close(f->h);
	if (f->mounted && umount2(f->hist, MNT_DETACH) != 0)
		fprintf(stderr, "teardown: umount %s: %s\n", f->hist,
			strerror(errno));
	aml_site_free(&f->site);
	remove_tree(f->base);
	for (size_t i = 0; i < f->n_kept; i++)
		free(f->kept[i]);
	for (size_t i = 0; i < f->n_kvs; i++)
		aml_kvlist_free(&f->kvs[i]);
	free(f->big);
	umask(f->umask_was);
	free(f);
	return 0;
}

/* printf into one of a few rotating static buffers. */
static const char *pathf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static const char *pathf(const char *fmt, ...)
{
	static char bufs[8][512];
	static unsigned next;
	char *buf = bufs[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return buf;
}

/* A copy of [path] that lives until teardown (pathf's do not). */
static const char *keep(struct fixture *f, const char *path)
{
	char *copy = strdup(path);

	assert_non_null(copy);
	assert_true(f->n_kept < sizeof(f->kept) / sizeof(f->kept[0]));
	f->kept[f->n_kept++] = copy;
	return copy;
}

/* The name of [uid]'s tree in HistoryDir: its login name. */
static const char *tree_of(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	assert_non_null(pw);
	return pw->pw_name;
}

/* <HistoryDir>/<tree>/<exp>/<id>/<rel>, in the tree that holds the run
 * (whoever made it), else in the caller's. */
static const char *runp(struct fixture *f, const char *exp, const char *id,
			const char *rel)
{
	const char *tree = tree_of(geteuid());
	static char found[256];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(f->hist);

	/* A buffer of its own: pathf's few are the callers'. */
	while (d && (de = readdir(d))) {
		char probe[512];

		snprintf(probe, sizeof(probe), "%s/%s/%s/%s", f->hist,
			 de->d_name, exp, id);
		if (de->d_name[0] != '.' && lstat(probe, &st) == 0) {
			snprintf(found, sizeof(found), "%s", de->d_name);
			tree = found;
			break;
		}
	}
	if (d)
		closedir(d);
	return *rel ? pathf("%s/%s/%s/%s/%s", f->hist, tree, exp, id, rel)
		    : pathf("%s/%s/%s/%s", f->hist, tree, exp, id);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Entries in directory [path] other than "." and "..", or -1. */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Entries whose name starts with '.' (temporaries) in [path]. */
static int count_dot_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") &&
		    strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void write_data(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
}

static void write_file(const char *path, const char *text)
{
	write_data(path, text, strlen(text));
}

static void append_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The whole file, malloc'd and NUL-terminated, or NULL. */
static char *slurp(const char *path, size_t *lenp)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (lenp)
		*lenp = (size_t)n;
	return buf;
}

static void assert_file_is(const char *path, const char *expect)
{
	char *text = slurp(path, NULL);

	if (!text)
		fail_msg("%s: %s", path, strerror(errno));
	if (strcmp(text, expect)) {
		print_message("# %s holds \"%s\"\n", path, text);
		free(text);
		fail_msg("%s does not hold \"%s\"", path, expect);
	}
	free(text);
}

static size_t count_lines(const char *path)
{
	char *text = slurp(path, NULL);
	size_t n = 0;

	if (!text)
		fail_msg("%s: %s", path, strerror(errno));
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* Decode every line of [path]; a line that does not decode fails. */
static size_t load_log(const char *path, struct aml_event **out)
{
	char *text = slurp(path, NULL), *p, *nl;
	struct aml_event *evs = NULL;
	size_t n = 0, lineno = 0;
	char err[256];

	if (!text)
		fail_msg("%s: %s", path, strerror(errno));
	for (p = text; *p; p = nl + 1) {
		struct aml_event *grown;

		lineno++;
		nl = strchr(p, '\n');
		if (!nl)
			fail_msg("%s: line %zu has no newline", path, lineno);
		grown = realloc(evs, (n + 1) * sizeof(*evs));
		assert_non_null(grown);
		evs = grown;
		if (aml_event_decode(p, (size_t)(nl - p) + 1, &evs[n], err,
				     sizeof(err)) != 0)
			fail_msg("%s: line %zu does not decode (%s): %.*s",
				 path, lineno, err, (int)(nl - p), p);
		n++;
	}
	free(text);
	*out = evs;
	return n;
}

static void free_log(struct aml_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aml_event_free(&evs[i]);
	free(evs);
}

static void check_mode(const char *path, mode_t mode)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s: mode %04o, expected %04o", path,
			 (unsigned)(st.st_mode & 07777), (unsigned)mode);
}

static void check_owner(const char *path, uid_t uid)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	if (st.st_uid != uid)
		fail_msg("%s: owned by uid %lu, expected %lu", path,
			 (unsigned long)st.st_uid, (unsigned long)uid);
}

static ino_t inode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	return st.st_ino;
}

static const char *user_name(void)
{
	static char name[256];
	struct passwd *pw = getpwuid(geteuid());

	if (pw)
		snprintf(name, sizeof(name), "%s", pw->pw_name);
	else
		snprintf(name, sizeof(name), "%lu", (unsigned long)geteuid());
	return name;
}

static void skip_unless_root(const char *why)
{
	if (geteuid() != 0) {
		print_message("# SKIP: %s\n", why);
		skip();
	}
}

/* Wait for child [pid]; returns its exit status, or 128 + signal. */
static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* [ev] for [status] in [attempt]; [time_ms] 0 keeps "now". */
static void ev_make(struct aml_event *ev, enum aml_status status,
		    unsigned attempt, int64_t time_ms)
{
	assert_int_equal(aml_event_init(ev, status, AML_SOURCE_LAUNCHER), 0);
	ev->attempt = attempt;
	if (time_ms)
		ev->time_ms = time_ms;
}

static const char *result_name(enum aml_history_result r)
{
	switch (r) {
	case AML_HISTORY_ERROR: return "ERROR";
	case AML_HISTORY_WRITTEN: return "WRITTEN";
	case AML_HISTORY_SPOOLED: return "SPOOLED";
	case AML_HISTORY_UNCHANGED: return "UNCHANGED";
	case AML_HISTORY_UNAVAILABLE: return "UNAVAILABLE";
	}
	return "?";
}

static void expect_result(struct fixture *f, const char *what,
			  enum aml_history_result got,
			  enum aml_history_result want)
{
	if (got != want)
		fail_msg("%s: %s, expected %s (errbuf: %s)", what,
			 result_name(got), result_name(want), f->err);
}

static void expect_event(struct fixture *f, const char *exp, const char *id,
			 const struct aml_event *ev,
			 enum aml_history_result want)
{
	char what[128];

	snprintf(what, sizeof(what), "record %s attempt %u in %s",
		 aml_status_name(ev->status), ev->attempt, id);
	f->err[0] = '\0';
	expect_result(f, what, aml_history_record(f->h, exp, id, ev, f->err,
						  sizeof(f->err)), want);
}

/* Record a fresh [status] event; its id goes to [id_out] when non-NULL. */
static void expect_status(struct fixture *f, const char *exp, const char *id,
			  enum aml_status status, unsigned attempt,
			  int64_t time_ms, enum aml_history_result want,
			  char *id_out)
{
	struct aml_event ev;

	ev_make(&ev, status, attempt, time_ms);
	expect_event(f, exp, id, &ev, want);
	if (id_out)
		memcpy(id_out, ev.id, sizeof(ev.id));
	aml_event_free(&ev);
}

static enum aml_history_result create_full(struct fixture *f, const char *exp,
					   const char *id, int64_t time_ms,
					   const char *config,
					   const struct aml_kvlist *props,
					   const struct aml_kvlist *tags,
					   char *id_out)
{
	struct aml_event ev;
	struct aml_run_new req = {
		.experiment = exp,
		.run_id = id,
		.config_json = config,
		.properties = props,
		.tags = tags,
		.first = &ev,
	};
	enum aml_history_result r;

	ev_make(&ev, AML_STATUS_NOT_STARTED, 1, time_ms);
	ev.source = AML_SOURCE_SBATCH;
	f->err[0] = '\0';
	r = aml_history_create_run(f->h, &req, f->err, sizeof(f->err));
	if (id_out)
		memcpy(id_out, ev.id, sizeof(ev.id));
	aml_event_free(&ev);
	return r;
}

static void create_ok(struct fixture *f, const char *exp, const char *id,
		      int64_t time_ms, char *id_out)
{
	char what[128];

	snprintf(what, sizeof(what), "create %s/%s", exp, id);
	expect_result(f, what, create_full(f, exp, id, time_ms, CONFIG, NULL,
					   NULL, id_out),
		      AML_HISTORY_WRITTEN);
}

/* An empty list the fixture frees. */
static struct aml_kvlist *new_kv(struct fixture *f)
{
	assert_true(f->n_kvs < sizeof(f->kvs) / sizeof(f->kvs[0]));
	return &f->kvs[f->n_kvs++];
}

static void kv(struct aml_kvlist *list, const char *key, const char *value)
{
	assert_int_equal(aml_kvlist_set(list, key, value), 0);
}

static void read_run_ok(struct fixture *f, const char *id, int with_config,
			struct aml_run_info *info)
{
	if (aml_history_read_run(f->h, id, with_config, info, f->err,
				 sizeof(f->err)) != 0)
		fail_msg("read_run %s: %s", id, f->err);
}

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	return fd;
}

/* The spool of [uid]: its queue and rejected directories. */
static const char *queue_of(struct fixture *f, uid_t uid)
{
	return pathf("%s/%lu/q", f->spool, (unsigned long)uid);
}

static const char *rejected_of(struct fixture *f, uid_t uid)
{
	return pathf("%s/%lu/rejected", f->spool, (unsigned long)uid);
}

/* Entries queued; a queue directory not made yet holds none. */
static int queued(struct fixture *f, uid_t uid)
{
	int n = count_entries(queue_of(f, uid));

	return n < 0 ? 0 : n;
}

static int rejected(struct fixture *f, uid_t uid)
{
	int n = count_entries(rejected_of(f, uid));

	return n < 0 ? 0 : n;
}

/* Nothing in [uid]'s rejected/; otherwise show why and fail. */
static void expect_none_rejected(struct fixture *f, uid_t uid)
{
	const char *dir = keep(f, rejected_of(f, uid));
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *reason;

		if (de->d_name[0] == '.')
			continue;
		n++;
		reason = slurp(pathf("%s/%s/reason", dir, de->d_name), NULL);
		print_message("# rejected %s: %s\n", de->d_name,
			      reason ? reason : "(no reason file)");
		free(reason);
	}
	closedir(d);
	if (n)
		fail_msg("%d spooled writes of uid %lu were rejected", n,
			 (unsigned long)uid);
}

static void history_away(struct fixture *f)
{
	assert_int_equal(rename(f->hist, f->away), 0);
}

static void history_back(struct fixture *f)
{
	assert_int_equal(rename(f->away, f->hist), 0);
}

static void flush_all(struct fixture *f)
{
	size_t remaining = 99;

	if (aml_history_flush(f->h, &remaining, f->err, sizeof(f->err)) != 0)
		fail_msg("flush: %s", f->err);
	if (remaining != 0)
		fail_msg("flush left %zu queued (%s)", remaining, f->err);
}

/* The ids of [path]'s lines must be [ids], in order. */
static void expect_log_ids(const char *path, const char *const *ids,
			   size_t n)
{
	struct aml_event *evs;
	size_t got = load_log(path, &evs);

	if (got != n) {
		for (size_t i = 0; i < got; i++)
			print_message("# line %zu: %s %s\n", i + 1, evs[i].id,
				      aml_status_name(evs[i].status));
		free_log(evs, got);
		fail_msg("%s: %zu lines, expected %zu", path, got, n);
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(evs[i].id, ids[i])) {
			char seen[AML_EVENT_ID_LEN + 1];

			memcpy(seen, evs[i].id, sizeof(seen));
			free_log(evs, got);
			fail_msg("%s: line %zu is event %s, expected %s",
				 path, i + 1, seen, ids[i]);
		}
	free_log(evs, got);
}

/* ---- forked children (no cmocka in here) ---- */

typedef int (*child_fn)(struct fixture *f, const void *arg);

/* Run [fn] in a child that became [uid] (gid the same) for good. */
static int run_as(struct fixture *f, uid_t uid, child_fn fn, const void *arg)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t gid = (gid_t)uid;

		if (setgroups(1, &gid) != 0 || setgid(gid) != 0 ||
		    setuid(uid) != 0)
			_exit(100);
		_exit(fn(f, arg));
	}
	return wait_child(pid);
}

struct run_name {
	const char *exp, *id;
};

static int child_create(struct fixture *f, const void *arg)
{
	const struct run_name *rn = arg;
	struct aml_event ev;
	struct aml_run_new req = {
		.experiment = rn->exp,
		.run_id = rn->id,
		.config_json = CONFIG,
		.first = &ev,
	};
	char err[1024];
	enum aml_history_result r;

	if (aml_event_init(&ev, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH))
		return 1;
	r = aml_history_create_run(f->h, &req, err, sizeof(err));
	aml_event_free(&ev);
	if (r != AML_HISTORY_WRITTEN) {
		fprintf(stderr, "child create: %s\n", err);
		return 2;
	}
	return 0;
}

/* Filesystem steps a user takes in their own run. */
enum fs_op { FS_END, FS_RENAME, FS_SYMLINK, FS_UNLINK, FS_RMDIR };

struct fs_step {
	enum fs_op op;
	const char *a, *b;   /* rename a b; symlink target=a at b; unlink a */
};

static int child_fs(struct fixture *f, const void *arg)
{
	const struct fs_step *s = arg;

	(void)f;
	for (int i = 0; s[i].op != FS_END; i++) {
		int r = -1;

		switch (s[i].op) {
		case FS_RENAME: r = rename(s[i].a, s[i].b); break;
		case FS_SYMLINK: r = symlink(s[i].a, s[i].b); break;
		case FS_UNLINK: r = unlink(s[i].a); break;
		case FS_RMDIR: r = rmdir(s[i].a); break;
		case FS_END: break;
		}
		if (r != 0) {
			fprintf(stderr, "child step %d: %s\n", i,
				strerror(errno));
			return 10 + i;
		}
	}
	return 0;
}

static int child_flush(struct fixture *f, const void *arg)
{
	size_t remaining = 0;
	char err[1024];

	(void)arg;
	if (aml_history_flush(f->h, &remaining, err, sizeof(err)) != 0) {
		fprintf(stderr, "child flush: %s\n", err);
		return 1;
	}
	return remaining == 0 ? 0 : 2;
}

/* ==== 1. create_run ==== */

static void check_layout(struct fixture *f, const char *exp, const char *id,
			 mode_t dmode, mode_t fmode, const char *first_id)
{
	static const char *const files[] = { "run.json", "properties.json",
					     "tags.json", "events.jsonl" };
	const char *tree = keep(f, pathf("%s/%s", f->hist, tree_of(geteuid())));
	const char *expdir = keep(f, pathf("%s/%s", tree, exp));
	/* A private user's tree can be entered, not listed. */
	mode_t tmode = dmode == 0700 ? 0711 : 0755;
	struct aml_event *evs;
	struct stat st;
	cJSON *obj, *item;
	char *text;
	size_t n;

	/* The user's own tree, and the experiment in it, nobody else's to
	 * write. */
	assert_int_equal(lstat(tree, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, geteuid());
	check_mode(tree, tmode);
	assert_int_equal(lstat(expdir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, geteuid());
	check_mode(expdir, tmode);
	assert_int_equal(lstat(runp(f, exp, id, ""), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, geteuid());
	check_mode(runp(f, exp, id, ""), dmode);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(lstat(runp(f, exp, id, files[i]), &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_uid, geteuid());
		check_mode(runp(f, exp, id, files[i]), fmode);
	}
	assert_file_is(runp(f, exp, id, "run.json"), CONFIG);

	/* Properties and tags as given, in their order. */
	text = slurp(runp(f, exp, id, "properties.json"), NULL);
	assert_non_null(text);
	obj = cJSON_Parse(text);
	free(text);
	assert_true(cJSON_IsObject(obj));
	assert_int_equal(cJSON_GetArraySize(obj), 2);
	item = cJSON_GetArrayItem(obj, 0);
	assert_string_equal(item->string, "p1");
	assert_string_equal(cJSON_GetStringValue(item), "v1");
	item = cJSON_GetArrayItem(obj, 1);
	assert_string_equal(item->string, "p2");
	assert_string_equal(cJSON_GetStringValue(item), "v2");
	cJSON_Delete(obj);
	text = slurp(runp(f, exp, id, "tags.json"), NULL);
	assert_non_null(text);
	obj = cJSON_Parse(text);
	free(text);
	assert_true(cJSON_IsObject(obj));
	assert_int_equal(cJSON_GetArraySize(obj), 1);
	assert_string_equal(cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(obj, "t1")), "x");
	cJSON_Delete(obj);

	/* Exactly one event: the NotStarted given. */
	n = load_log(runp(f, exp, id, "events.jsonl"), &evs);
	assert_int_equal(n, 1);
	assert_int_equal(evs[0].status, AML_STATUS_NOT_STARTED);
	assert_int_equal(evs[0].attempt, 1);
	assert_string_equal(evs[0].id, first_id);
	free_log(evs, n);

	/* Nothing built aside is left behind. */
	assert_int_equal(count_dot_entries(expdir), 0);
	assert_int_equal(count_dot_entries(runp(f, exp, id, "")), 0);
}

static void test_create_run_private(void **state)
{
	struct fixture *f = *state;
	struct aml_kvlist *props = new_kv(f), *tags = new_kv(f);
	char first[AML_EVENT_ID_LEN + 1];

	kv(props, "p1", "v1");
	kv(props, "p2", "v2");
	kv(tags, "t1", "x");
	expect_result(f, "create", create_full(f, EXP, RUN, 0, CONFIG, props,
					       tags, first),
		      AML_HISTORY_WRITTEN);
	check_layout(f, EXP, RUN, 0700, 0600, first);

	/* The same id again: an error naming it; the run is untouched. */
	expect_result(f, "create again",
		      create_full(f, EXP, RUN, 0, "{\"other\":1}", NULL, NULL,
				  NULL),
		      AML_HISTORY_ERROR);
	assert_non_null(strstr(f->err, RUN));
	assert_non_null(strstr(f->err, "already exists"));
	check_layout(f, EXP, RUN, 0700, 0600, first);
	assert_int_equal(count_entries(pathf("%s/%s/%s", f->hist,
					     tree_of(geteuid()), EXP)), 1);
	aml_kvlist_free(props);
	aml_kvlist_free(tags);
}

static void test_create_run_shared_umask(void **state)
{
	struct fixture *f = *state;
	struct aml_kvlist *props = new_kv(f), *tags = new_kv(f);
	char first[AML_EVENT_ID_LEN + 1];

	assert_int_equal(open_history(f, AML_RUNS_SHARED), 0);
	/* A restrictive umask: the modes must be set, not requested. */
	umask(077);
	kv(props, "p1", "v1");
	kv(props, "p2", "v2");
	kv(tags, "t1", "x");
	expect_result(f, "create", create_full(f, "shared-exp", "run-1", 0,
					       CONFIG, props, tags, first),
		      AML_HISTORY_WRITTEN);
	check_layout(f, "shared-exp", "run-1", 0755, 0644, first);
	aml_kvlist_free(props);
	aml_kvlist_free(tags);
}

static void test_create_run_refusals(void **state)
{
	static const char *const bad_exps[] = { "", "..", "../evil", "a/b",
						".hidden", "-dash", "sp ace",
						"tab\there" };
	static const char *const bad_ids[] = { "", ".", "..", "a/b",
					       "../../etc", "-x", "x y" };
	struct fixture *f = *state;
	struct aml_event ev;
	struct aml_run_new req = {
		.experiment = EXP,
		.run_id = RUN,
		.config_json = CONFIG,
		.first = &ev,
	};

	/* A first event that is not NotStarted (attempt 1) is refused. */
	ev_make(&ev, AML_STATUS_QUEUED, 1, 0);
	expect_result(f, "create with Queued",
		      aml_history_create_run(f->h, &req, f->err,
					     sizeof(f->err)),
		      AML_HISTORY_ERROR);
	assert_non_null(strstr(f->err, "NotStarted"));
	aml_event_free(&ev);
	ev_make(&ev, AML_STATUS_NOT_STARTED, 2, 0);
	expect_result(f, "create with NotStarted attempt 2",
		      aml_history_create_run(f->h, &req, f->err,
					     sizeof(f->err)),
		      AML_HISTORY_ERROR);
	aml_event_free(&ev);
	assert_false(exists(runp(f, EXP, RUN, "")));

	for (size_t i = 0; i < sizeof(bad_exps) / sizeof(*bad_exps); i++) {
		expect_result(f, bad_exps[i],
			      create_full(f, bad_exps[i], "run-1", 0, CONFIG,
					  NULL, NULL, NULL),
			      AML_HISTORY_ERROR);
		assert_non_null(strstr(f->err, "experiment name"));
	}
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(*bad_ids); i++) {
		expect_result(f, bad_ids[i],
			      create_full(f, EXP, bad_ids[i], 0, CONFIG, NULL,
					  NULL, NULL),
			      AML_HISTORY_ERROR);
		assert_non_null(strstr(f->err, "run id"));
	}
	/* Nothing was made anywhere, nor queued. */
	assert_int_equal(count_entries(f->hist), 0);
	assert_false(exists(pathf("%s/evil", f->base)));
	assert_int_equal(queued(f, geteuid()), 0);

	/* An experiment others may write would let them remove or swap
	 * its runs: refused, not written. */
	create_ok(f, EXP, RUN, 0, NULL);
	assert_int_equal(chmod(pathf("%s/%s/%s", f->hist, tree_of(geteuid()),
				     EXP), 0777), 0);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0, AML_HISTORY_ERROR,
		      NULL);
	assert_non_null(strstr(f->err, "written by others"));
	expect_result(f, "create in a non-sticky experiment",
		      create_full(f, EXP, "run-2", 0, CONFIG, NULL, NULL,
				  NULL),
		      AML_HISTORY_ERROR);
	assert_non_null(strstr(f->err, "others cannot write"));
	assert_int_equal(count_lines(runp(f, EXP, RUN, "events.jsonl")), 1);
	assert_int_equal(queued(f, geteuid()), 0);
}

/* ==== 2. record ==== */

static void test_record_sequence(void **state)
{
	struct fixture *f = *state;
	const char *log = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	char queued_id[AML_EVENT_ID_LEN + 1];
	struct aml_run_info info;
	struct aml_event ev, done;

	create_ok(f, EXP, RUN, 0, NULL);
	ev_make(&ev, AML_STATUS_QUEUED, 1, 0);
	ev.source = AML_SOURCE_SBATCH;
	ev.job_id = 42;
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_WRITTEN);
	memcpy(queued_id, ev.id, sizeof(queued_id));
	aml_event_free(&ev);
	ev_make(&ev, AML_STATUS_PREPARING, 1, 0);
	ev.source = AML_SOURCE_NODE;
	assert_int_equal(aml_event_set_node(&ev, "n1"), 0);
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_WRITTEN);
	aml_event_free(&ev);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	expect_status(f, EXP, RUN, AML_STATUS_FINALIZING, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	ev_make(&done, AML_STATUS_COMPLETED, 1, 0);
	done.has_exit_code = 1;
	done.exit_code = 0;
	expect_event(f, EXP, RUN, &done, AML_HISTORY_WRITTEN);

	read_run_ok(f, RUN, 0, &info);
	assert_string_equal(info.experiment, EXP);
	assert_string_equal(info.run_id, RUN);
	assert_int_equal(info.uid, geteuid());
	assert_string_equal(info.owner, user_name());
	assert_null(info.config_json);
	assert_true(info.state.has_events);
	assert_int_equal(info.state.status, AML_STATUS_COMPLETED);
	assert_int_equal(info.state.attempt, 1);
	assert_int_equal(info.state.n_job_ids, 1);
	assert_int_equal(info.state.job_ids[0], 42);
	assert_non_null(info.state.nodes);
	assert_string_equal(info.state.nodes, "n1");
	assert_true(info.state.has_exit_code);
	assert_int_equal(info.state.exit_code, 0);
	assert_int_equal(info.state.n_skipped, 0);
	assert_int_equal(info.n_events, 6);
	assert_int_equal(info.events[1].job_id, 42);
	assert_int_equal(info.events[5].status, AML_STATUS_COMPLETED);
	aml_run_info_free(&info);
	assert_int_equal(count_lines(log), 6);

	/* Nothing follows a terminal status. */
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0, AML_HISTORY_ERROR,
		      NULL);
	assert_non_null(strstr(f->err,
			       "Completed -> Running is not a valid transition"));
	assert_non_null(strstr(f->err, RUN));
	assert_int_equal(count_lines(log), 6);
	/* ...and kept, with why, for whoever wonders later. */
	{
		char *refused = slurp(runp(f, EXP, RUN, "refused.jsonl"), NULL);

		assert_non_null(refused);
		assert_non_null(strstr(refused, "\"refused\":\"run history: run "));
		assert_non_null(strstr(refused, "\"status\":\"Running\""));
		assert_int_equal(count_lines(runp(f, EXP, RUN, "refused.jsonl")), 1);
		free(refused);
	}

	/* The finalizer saw the same end as the launcher: not an error. */
	expect_status(f, EXP, RUN, AML_STATUS_COMPLETED, 1, 0,
		      AML_HISTORY_UNCHANGED, NULL);
	assert_int_equal(count_lines(log), 6);

	/* The very same events again (a replay): nothing appended. */
	expect_event(f, EXP, RUN, &done, AML_HISTORY_UNCHANGED);
	aml_event_free(&done);
	ev_make(&ev, AML_STATUS_QUEUED, 1, 0);
	memcpy(ev.id, queued_id, sizeof(ev.id));
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_UNCHANGED);
	aml_event_free(&ev);
	assert_int_equal(count_lines(log), 6);

	/* No such run (yet): its creation may wait in a login host's
	 * spool, so the event waits too, never dropped. */
	expect_status(f, EXP, "no-such-run", AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_SPOOLED, NULL);
	assert_non_null(strstr(f->err, "no run no-such-run"));
}

static void test_record_requeue(void **state)
{
	struct fixture *f = *state;
	struct aml_run_info info;
	struct aml_event ev;

	create_ok(f, EXP, RUN, 0, NULL);
	ev_make(&ev, AML_STATUS_QUEUED, 1, 0);
	ev.job_id = 42;
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_WRITTEN);
	aml_event_free(&ev);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	/* Slurm requeued the job: attempt 2. */
	ev_make(&ev, AML_STATUS_QUEUED, 2, 0);
	ev.job_id = 43;
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_WRITTEN);
	aml_event_free(&ev);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.state.status, AML_STATUS_QUEUED);
	assert_int_equal(info.state.attempt, 2);
	assert_int_equal(info.state.n_job_ids, 2);
	assert_int_equal(info.state.job_ids[1], 43);
	aml_run_info_free(&info);

	/* A slow node of attempt 1 reports: stale. */
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0, AML_HISTORY_ERROR,
		      NULL);
	assert_non_null(strstr(f->err, "attempt 1"));
	assert_non_null(strstr(f->err, "attempt 2"));
	expect_status(f, EXP, RUN, AML_STATUS_FAILED, 1, 0, AML_HISTORY_ERROR,
		      NULL);
	/* Attempt 2 goes on from Queued. */
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 2, 0,
		      AML_HISTORY_WRITTEN, NULL);
	expect_status(f, EXP, RUN, AML_STATUS_COMPLETED, 2, 0,
		      AML_HISTORY_WRITTEN, NULL);
	assert_int_equal(count_lines(runp(f, EXP, RUN, "events.jsonl")), 6);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.state.status, AML_STATUS_COMPLETED);
	assert_int_equal(info.state.attempt, 2);
	assert_int_equal(info.state.n_skipped, 0);
	aml_run_info_free(&info);
}

/* ==== 3. concurrent writers ==== */

#define WRITERS 8
#define ROUNDS 200

struct tally {
	int written, unchanged, errors, spooled;
};

static void test_concurrent_writers(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };
	const char *log;
	struct tally *tally;
	pid_t pids[WRITERS];
	struct aml_event *evs;
	struct aml_run_info info;
	char (*ids)[AML_EVENT_ID_LEN + 1];
	int go[2], total_written = 0, total = 0;
	size_t n;

	/* The writers are a user's own processes (nodes, the launcher):
	 * under root the run and its writers are nobody's, since a root
	 * process's wait for the lock is bounded and would spool. */
	if (geteuid() == 0)
		assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	else
		create_ok(f, EXP, RUN, 0, NULL);
	log = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	expect_status(f, EXP, RUN, AML_STATUS_PREPARING, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	tally = mmap(NULL, sizeof(*tally) * WRITERS, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(tally != MAP_FAILED);
	memset(tally, 0, sizeof(*tally) * WRITERS);
	assert_int_equal(pipe(go), 0);
	for (int c = 0; c < WRITERS; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0) {
			char err[1024], b;

			close(go[1]);
			if (geteuid() == 0) {
				gid_t gid = NOBODY;

				if (setgroups(1, &gid) != 0 ||
				    setgid(gid) != 0 || setuid(NOBODY) != 0)
					_exit(6);
			}
			/* Start together: when the parent closes the pipe. */
			if (read(go[0], &b, 1) != 0)
				_exit(4);
			for (int r = 0; r < ROUNDS; r++) {
				struct aml_event ev;
				enum aml_history_result res;

				if (aml_event_init(&ev, r % 2 == 0
						   ? AML_STATUS_NOT_RESPONDING
						   : AML_STATUS_RUNNING,
						   AML_SOURCE_NODE) != 0)
					_exit(5);
				res = aml_history_record(f->h, EXP, RUN, &ev,
							 err, sizeof(err));
				aml_event_free(&ev);
				switch (res) {
				case AML_HISTORY_WRITTEN:
					tally[c].written++;
					break;
				case AML_HISTORY_UNCHANGED:
					tally[c].unchanged++;
					break;
				case AML_HISTORY_SPOOLED:
					tally[c].spooled++;
					break;
				default:
					if (tally[c].errors++ == 0)
						fprintf(stderr, "writer %d: %s\n",
							c, err);
				}
			}
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int c = 0; c < WRITERS; c++)
		assert_int_equal(wait_child(pids[c]), 0);
	for (int c = 0; c < WRITERS; c++) {
		if (tally[c].errors || tally[c].spooled)
			fail_msg("writer %d: %d errors, %d spooled", c,
				 tally[c].errors, tally[c].spooled);
		total_written += tally[c].written;
		total += tally[c].written + tally[c].unchanged;
	}
	munmap(tally, sizeof(*tally) * WRITERS);
	assert_int_equal(total, WRITERS * ROUNDS);
	assert_true(total_written > 0);
	print_message("# %d of %d events written\n", total_written, total);

	/* Every line whole, every id once, and the statuses alternate: each
	 * writer saw the status the previous one left. */
	n = load_log(log, &evs);
	assert_int_equal(n, (size_t)total_written + 4);
	ids = calloc(n, sizeof(*ids));
	assert_non_null(ids);
	for (size_t i = 0; i < n; i++)
		memcpy(ids[i], evs[i].id, sizeof(ids[i]));
	qsort(ids, n, sizeof(*ids),
	      (int (*)(const void *, const void *))strcmp);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(ids[i - 1], ids[i]))
			fail_msg("event id %s is in the log twice", ids[i]);
	free(ids);
	for (size_t i = 4; i < n; i++)
		if (evs[i].status == evs[i - 1].status)
			fail_msg("lines %zu and %zu are both %s", i, i + 1,
				 aml_status_name(evs[i].status));
	assert_int_equal(evs[4].status, AML_STATUS_NOT_RESPONDING);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.state.n_skipped, 0);
	assert_int_equal(info.n_events, n);
	assert_int_equal(info.state.status, evs[n - 1].status);
	aml_run_info_free(&info);
	free_log(evs, n);
}

/* Writers adding properties and tags at once: each rewrite happens under
 * the run's lock, so no writer's keys are lost to another's rename. */
#define KV_WRITERS 8
#define KV_ROUNDS 15

static void test_concurrent_properties_and_tags(void **state)
{
	struct fixture *f = *state;
	struct aml_run_info info;
	pid_t pids[KV_WRITERS];
	int go[2];

	create_ok(f, EXP, RUN, 0, NULL);
	assert_int_equal(pipe(go), 0);
	for (int c = 0; c < KV_WRITERS; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0) {
			char err[1024], key[32], b;
			int bad = 0;

			close(go[1]);
			if (read(go[0], &b, 1) != 0)
				_exit(4);
			for (int r = 0; r < KV_ROUNDS && !bad; r++) {
				struct aml_kvlist one = { 0 };

				snprintf(key, sizeof(key), "w%d-%d", c, r);
				if (aml_kvlist_set(&one, key, "1") != 0)
					_exit(5);
				if (aml_history_add_properties(f->h, EXP, RUN,
							       &one, err,
							       sizeof(err)) !=
					    AML_HISTORY_WRITTEN ||
				    aml_history_set_tags(f->h, EXP, RUN, &one,
							 NULL, err,
							 sizeof(err)) !=
					    AML_HISTORY_WRITTEN) {
					fprintf(stderr, "writer %d: %s\n", c,
						err);
					bad = 1;
				}
				aml_kvlist_free(&one);
			}
			_exit(bad ? 6 : 0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int c = 0; c < KV_WRITERS; c++)
		assert_int_equal(wait_child(pids[c]), 0);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.properties.count, KV_WRITERS * KV_ROUNDS);
	assert_int_equal(info.tags.count, KV_WRITERS * KV_ROUNDS);
	aml_run_info_free(&info);
	assert_int_equal(count_dot_entries(runp(f, EXP, RUN, "")), 0);
}

/* ==== 4. properties and tags ==== */

static void test_properties(void **state)
{
	struct fixture *f = *state;
	const char *file = keep(f, runp(f, EXP, RUN, "properties.json"));
	struct aml_kvlist *a = new_kv(f), *ab = new_kv(f), *bad = new_kv(f);
	struct aml_run_info info;
	ino_t ino;

	create_ok(f, EXP, RUN, 0, NULL);
	kv(a, "a", "1");
	kv(ab, "a", "1");
	kv(ab, "b", "2");
	kv(bad, "a", "9");
	kv(bad, "c", "3");
	expect_result(f, "add {a:1}",
		      aml_history_add_properties(f->h, EXP, RUN, a, f->err,
						 sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	expect_result(f, "add {a:1,b:2}",
		      aml_history_add_properties(f->h, EXP, RUN, ab, f->err,
						 sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.properties.count, 2);
	assert_string_equal(aml_kvlist_get(&info.properties, "a"), "1");
	assert_string_equal(aml_kvlist_get(&info.properties, "b"), "2");
	aml_run_info_free(&info);

	ino = inode_of(file);
	expect_result(f, "add {a:1} again",
		      aml_history_add_properties(f->h, EXP, RUN, a, f->err,
						 sizeof(f->err)),
		      AML_HISTORY_UNCHANGED);
	assert_true(inode_of(file) == ino);

	/* a would change: refused, and c is not written either. */
	expect_result(f, "add {a:9,c:3}",
		      aml_history_add_properties(f->h, EXP, RUN, bad, f->err,
						 sizeof(f->err)),
		      AML_HISTORY_ERROR);
	assert_non_null(strstr(f->err, "property a"));
	assert_true(inode_of(file) == ino);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.properties.count, 2);
	assert_string_equal(aml_kvlist_get(&info.properties, "a"), "1");
	assert_null(aml_kvlist_get(&info.properties, "c"));
	aml_run_info_free(&info);
	check_mode(file, 0600);
	assert_int_equal(count_dot_entries(runp(f, EXP, RUN, "")), 0);
	aml_kvlist_free(a);
	aml_kvlist_free(ab);
	aml_kvlist_free(bad);
}

/* The tags of the run as tags.json holds them, "k=v,k=v" in file order. */
static const char *tags_in_file(struct fixture *f)
{
	static char out[256];
	char *text = slurp(runp(f, EXP, RUN, "tags.json"), NULL);
	const cJSON *item;
	cJSON *obj;

	assert_non_null(text);
	obj = cJSON_Parse(text);
	free(text);
	assert_true(cJSON_IsObject(obj));
	out[0] = '\0';
	cJSON_ArrayForEach(item, obj) {
		size_t len = strlen(out);

		snprintf(out + len, sizeof(out) - len, "%s%s=%s",
			 len ? "," : "", item->string,
			 cJSON_GetStringValue(item));
	}
	cJSON_Delete(obj);
	return out;
}

static void test_tags(void **state)
{
	struct fixture *f = *state;
	const char *file = keep(f, runp(f, EXP, RUN, "tags.json"));
	struct aml_kvlist *init = new_kv(f), *set = new_kv(f);
	char k[] = "k", nothing[] = "not-there";
	char *names[] = { k, nothing };
	struct aml_strlist remove = { names, 2 };
	struct aml_run_info info;
	ino_t ino;

	kv(init, "first", "1");
	expect_result(f, "create", create_full(f, EXP, RUN, 0, CONFIG, NULL,
					       init, NULL),
		      AML_HISTORY_WRITTEN);
	assert_string_equal(tags_in_file(f), "first=1");

	ino = inode_of(file);
	kv(set, "k", "v");
	expect_result(f, "set k=v",
		      aml_history_set_tags(f->h, EXP, RUN, set, NULL, f->err,
					   sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	assert_string_equal(tags_in_file(f), "first=1,k=v");
	/* Replaced by rename: a new inode, never rewritten in place. */
	assert_true(inode_of(file) != ino);
	ino = inode_of(file);
	aml_kvlist_free(set);

	kv(set, "last", "z");
	expect_result(f, "set last=z",
		      aml_history_set_tags(f->h, EXP, RUN, set, NULL, f->err,
					   sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	assert_string_equal(tags_in_file(f), "first=1,k=v,last=z");
	assert_true(inode_of(file) != ino);
	ino = inode_of(file);
	aml_kvlist_free(set);

	kv(set, "k", "w");
	expect_result(f, "set k=w",
		      aml_history_set_tags(f->h, EXP, RUN, set, NULL, f->err,
					   sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	assert_string_equal(tags_in_file(f), "first=1,k=w,last=z");
	assert_true(inode_of(file) != ino);
	ino = inode_of(file);
	aml_kvlist_free(set);

	/* Removal keeps the order of the others; a name not there is fine. */
	expect_result(f, "remove k",
		      aml_history_set_tags(f->h, EXP, RUN, NULL, &remove,
					   f->err, sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	assert_string_equal(tags_in_file(f), "first=1,last=z");
	assert_true(inode_of(file) != ino);

	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.tags.count, 2);
	assert_string_equal(info.tags.items[0].key, "first");
	assert_string_equal(info.tags.items[1].key, "last");
	assert_string_equal(info.tags.items[1].value, "z");
	aml_run_info_free(&info);
	check_mode(file, 0600);
	assert_int_equal(count_dot_entries(runp(f, EXP, RUN, "")), 0);
	aml_kvlist_free(init);
}

/* A tags.json holding a value that is not a string (not ours: run history
 * writes only strings) is refused, naming the key, never read with the
 * value dropped: a tag written back over it would lose it for good. */
static void test_tags_not_strings_refused(void **state)
{
	struct fixture *f = *state;
	const char *file = keep(f, runp(f, EXP, RUN, "tags.json"));
	struct aml_kvlist *set = new_kv(f);
	struct aml_run_info info;

	create_ok(f, EXP, RUN, 0, NULL);
	write_file(file, "{\"first\":\"1\",\"n\":2}");
	kv(set, "k", "v");
	assert_int_not_equal(aml_history_set_tags(f->h, EXP, RUN, set, NULL,
						  f->err, sizeof(f->err)),
			     AML_HISTORY_WRITTEN);
	assert_non_null(strstr(f->err, "\"n\" is not a string"));
	assert_file_is(file, "{\"first\":\"1\",\"n\":2}");
	assert_int_not_equal(aml_history_read_run(f->h, RUN, 0, &info, f->err,
						  sizeof(f->err)), 0);
	assert_non_null(strstr(f->err, "\"n\" is not a string"));
}

/* ==== 5. uploads ==== */

#define BIG_LEN 70000

static char *big_data(struct fixture *f)
{
	char *big = f->big ? f->big : malloc(BIG_LEN);

	assert_non_null(big);
	f->big = big;
	for (size_t i = 0; i < BIG_LEN; i++)
		big[i] = (char)(i * 7 + i / 251);
	return big;
}

/* work/outputs/{a.txt, sub/b.txt, sub/deep/c.bin} */
static void make_outputs(struct fixture *f, const char *big)
{
	assert_int_equal(mkdir(pathf("%s/outputs", f->work), 0755), 0);
	assert_int_equal(mkdir(pathf("%s/outputs/sub", f->work), 0755), 0);
	assert_int_equal(mkdir(pathf("%s/outputs/sub/deep", f->work), 0755),
			 0);
	write_file(pathf("%s/outputs/a.txt", f->work), "alpha\n");
	write_file(pathf("%s/outputs/sub/b.txt", f->work), "bravo\n");
	write_data(pathf("%s/outputs/sub/deep/c.bin", f->work), big, BIG_LEN);
}

static void check_outputs(struct fixture *f, const char *exp, const char *id,
			  const char *big)
{
	char *got;
	size_t len = 0;

	assert_file_is(runp(f, exp, id, "outputs/a.txt"), "alpha\n");
	assert_file_is(runp(f, exp, id, "outputs/sub/b.txt"), "bravo\n");
	got = slurp(runp(f, exp, id, "outputs/sub/deep/c.bin"), &len);
	assert_non_null(got);
	assert_int_equal(len, BIG_LEN);
	assert_memory_equal(got, big, BIG_LEN);
	free(got);
}

static void test_upload(void **state)
{
	struct fixture *f = *state;
	struct aml_artifact_stats stats;
	char *big = big_data(f);
	int wd;

	create_ok(f, EXP, RUN, 0, NULL);
	make_outputs(f, big);
	wd = open_dir(f->work);
	memset(&stats, 0, sizeof(stats));
	expect_result(f, "upload outputs",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", &stats,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	assert_true(stats.files == 3);
	assert_true(stats.bytes == 6 + 6 + BIG_LEN);
	assert_true(stats.skipped == 0);
	aml_artifact_stats_free(&stats);
	check_outputs(f, EXP, RUN, big);
	check_mode(runp(f, EXP, RUN, "outputs"), 0700);
	check_mode(runp(f, EXP, RUN, "outputs/sub/deep"), 0700);
	check_mode(runp(f, EXP, RUN, "outputs/a.txt"), 0600);

	/* A symlink out of the working directory: not one byte of it. */
	assert_int_equal(mkdir(pathf("%s/outside", f->base), 0755), 0);
	write_file(pathf("%s/outside/secret.txt", f->base), "secret\n");
	assert_int_equal(symlink(pathf("%s/outside/secret.txt", f->base),
				 pathf("%s/outputs/leak", f->work)), 0);
	memset(&stats, 0, sizeof(stats));
	expect_result(f, "upload with a leak",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", &stats,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	assert_true(stats.files == 3);
	assert_true(stats.skipped == 1);
	assert_true(stats.n_notes >= 1);
	assert_non_null(strstr(stats.notes[0], "leak"));
	aml_artifact_stats_free(&stats);
	assert_false(exists(runp(f, EXP, RUN, "outputs/leak")));
	check_outputs(f, EXP, RUN, big);
	close(wd);
}

/* ==== 6. logs and artifacts ==== */

static void test_logs_and_artifacts(void **state)
{
	static const char *const refused[] = { "../run.json", "run.json",
					       "events.jsonl",
					       "outputs/../run.json",
					       "/etc/passwd", "outputsx/a",
					       "" };
	struct fixture *f = *state;
	struct aml_artifact *list = NULL;
	struct aml_artifact_stats stats;
	struct aml_run_info info;
	char buf[64];
	size_t n = 0;
	ssize_t got;
	int fd, wd, out;

	create_ok(f, EXP, RUN, 0, NULL);
	fd = aml_history_open_log(f->h, EXP, RUN, "std_log.txt", f->err,
				  sizeof(f->err));
	if (fd < 0)
		fail_msg("open_log: %s", f->err);
	assert_true(fcntl(fd, F_GETFL) & O_APPEND);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	fd = aml_history_open_log(f->h, EXP, RUN, "std_log.txt", f->err,
				  sizeof(f->err));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "world\n", 6), 6);
	close(fd);
	assert_file_is(runp(f, EXP, RUN, "user_logs/std_log.txt"),
		       "hello\nworld\n");
	check_mode(runp(f, EXP, RUN, "user_logs/std_log.txt"), 0600);

	/* Only plain names. */
	assert_int_equal(aml_history_open_log(f->h, EXP, RUN, "a/b", f->err,
					      sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "a/b"));
	assert_int_equal(aml_history_open_log(f->h, EXP, RUN, "../x", f->err,
					      sizeof(f->err)), -1);
	assert_int_equal(aml_history_open_log(f->h, EXP, RUN, "..", f->err,
					      sizeof(f->err)), -1);
	assert_false(exists(runp(f, EXP, RUN, "x")));
	assert_false(exists(runp(f, EXP, RUN, "user_logs/a")));

	/* An output to list and download too. */
	assert_int_equal(mkdir(pathf("%s/outputs", f->work), 0755), 0);
	write_file(pathf("%s/outputs/x.txt", f->work), "ex\n");
	wd = open_dir(f->work);
	expect_result(f, "upload",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", NULL,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	close(wd);

	read_run_ok(f, RUN, 0, &info);
	fd = aml_history_open_artifact(f->h, &info, "user_logs/std_log.txt",
				       f->err, sizeof(f->err));
	if (fd < 0)
		fail_msg("open_artifact: %s", f->err);
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(got, 12);
	buf[got] = '\0';
	assert_string_equal(buf, "hello\nworld\n");
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
		errno = 0;
		fd = aml_history_open_artifact(f->h, &info, refused[i],
					       f->err, sizeof(f->err));
		if (fd >= 0) {
			close(fd);
			fail_msg("open_artifact \"%s\" was allowed",
				 refused[i]);
		}
		assert_int_equal(errno, EINVAL);
	}
	errno = 0;
	assert_int_equal(aml_history_open_artifact(f->h, &info,
						   "outputs/nope", f->err,
						   sizeof(f->err)), -1);
	assert_int_equal(errno, ENOENT);

	if (aml_history_list_artifacts(f->h, &info, &list, &n, f->err,
				       sizeof(f->err)) != 0)
		fail_msg("list_artifacts: %s", f->err);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].path, "outputs/x.txt");
	assert_true(list[0].size == 3);
	assert_string_equal(list[1].path, "user_logs/std_log.txt");
	assert_true(list[1].size == 12);
	aml_artifact_list_free(list, n);

	/* Everything, then one file, into temporary directories. */
	assert_int_equal(mkdir(pathf("%s/dl", f->base), 0700), 0);
	out = open_dir(pathf("%s/dl", f->base));
	memset(&stats, 0, sizeof(stats));
	if (aml_history_download(f->h, &info, NULL, out, &stats, f->err,
				 sizeof(f->err)) != 0)
		fail_msg("download: %s", f->err);
	close(out);
	assert_true(stats.files == 2);
	aml_artifact_stats_free(&stats);
	assert_file_is(pathf("%s/dl/outputs/x.txt", f->base), "ex\n");
	assert_file_is(pathf("%s/dl/user_logs/std_log.txt", f->base),
		       "hello\nworld\n");
	assert_false(exists(pathf("%s/dl/run.json", f->base)));
	assert_false(exists(pathf("%s/dl/events.jsonl", f->base)));

	assert_int_equal(mkdir(pathf("%s/dl2", f->base), 0700), 0);
	out = open_dir(pathf("%s/dl2", f->base));
	memset(&stats, 0, sizeof(stats));
	if (aml_history_download(f->h, &info, "outputs/x.txt", out, &stats,
				 f->err, sizeof(f->err)) != 0)
		fail_msg("download one: %s", f->err);
	aml_artifact_stats_free(&stats);
	assert_file_is(pathf("%s/dl2/outputs/x.txt", f->base), "ex\n");
	assert_int_equal(count_entries(pathf("%s/dl2", f->base)), 1);
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(aml_history_download(f->h, &info, "../run.json", out,
					      &stats, f->err,
					      sizeof(f->err)), -1);
	aml_artifact_stats_free(&stats);
	assert_int_equal(count_entries(pathf("%s/dl2", f->base)), 1);
	close(out);
	aml_run_info_free(&info);
}

/* Shared runs are readable by every user (aml.conf(5)), whatever the
 * writer's umask: also what is made after the run was created. */
static void test_shared_later_files_umask(void **state)
{
	struct fixture *f = *state;
	int fd, wd;

	assert_int_equal(open_history(f, AML_RUNS_SHARED), 0);
	umask(077);
	create_ok(f, EXP, RUN, 0, NULL);
	assert_int_equal(mkdir(pathf("%s/outputs", f->work), 0755), 0);
	assert_int_equal(mkdir(pathf("%s/outputs/sub", f->work), 0755), 0);
	write_file(pathf("%s/outputs/sub/x.txt", f->work), "ex\n");
	wd = open_dir(f->work);
	expect_result(f, "upload",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", NULL,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	close(wd);
	check_mode(runp(f, EXP, RUN, "outputs"), 0755);
	check_mode(runp(f, EXP, RUN, "outputs/sub"), 0755);
	check_mode(runp(f, EXP, RUN, "outputs/sub/x.txt"), 0644);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	check_mode(runp(f, EXP, RUN, "events.jsonl"), 0644);
	{
		struct aml_kvlist *t = new_kv(f);

		kv(t, "k", "v");
		expect_result(f, "tags",
			      aml_history_set_tags(f->h, EXP, RUN, t, NULL,
						   f->err, sizeof(f->err)),
			      AML_HISTORY_WRITTEN);
		aml_kvlist_free(t);
	}
	check_mode(runp(f, EXP, RUN, "tags.json"), 0644);

	/* The logs too, which `aml-run logs` of other users reads. */
	fd = aml_history_open_log(f->h, EXP, RUN, "std_log.txt", f->err,
				  sizeof(f->err));
	if (fd < 0)
		fail_msg("open_log: %s", f->err);
	close(fd);
	check_mode(runp(f, EXP, RUN, "user_logs"), 0755);
	check_mode(runp(f, EXP, RUN, "user_logs/std_log.txt"), 0644);
}

/* ==== 7. list ==== */

static void expect_list(struct fixture *f, const struct aml_run_filter *flt,
			const char *const *ids, size_t n)
{
	struct aml_run_info *runs = NULL;
	size_t got = 99;
	char seen[512] = "";
	int ok;

	if (aml_history_list(f->h, flt, &runs, &got, f->err,
			     sizeof(f->err)) != 0)
		fail_msg("list: %s", f->err);
	ok = got == n;
	for (size_t i = 0; i < got; i++) {
		size_t len = strlen(seen);

		snprintf(seen + len, sizeof(seen) - len, " %s",
			 runs[i].run_id);
		if (i < n && strcmp(runs[i].run_id, ids[i]))
			ok = 0;
		if (runs[i].config_json || runs[i].uid != geteuid() ||
		    strcmp(runs[i].owner, user_name()))
			ok = 0;
	}
	for (size_t i = 0; i < got; i++)
		aml_run_info_free(&runs[i]);
	free(runs);
	if (!ok) {
		char want[512] = "";

		for (size_t i = 0; i < n; i++) {
			size_t len = strlen(want);

			snprintf(want + len, sizeof(want) - len, " %s", ids[i]);
		}
		fail_msg("list gave [%s ], expected [%s ]", seen, want);
	}
}

#define IDS(...) (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct aml_run_filter flt;
	struct aml_run_info *runs = NULL;
	size_t n = 99;

	/* Created out of time order, in two experiments. */
	create_ok(f, "expB", "r-2", 2000000, NULL);
	expect_status(f, "expB", "r-2", AML_STATUS_QUEUED, 1, 2000100,
		      AML_HISTORY_WRITTEN, NULL);
	expect_status(f, "expB", "r-2", AML_STATUS_RUNNING, 1, 2000200,
		      AML_HISTORY_WRITTEN, NULL);
	create_ok(f, "expA", "r-3", 3000000, NULL);
	expect_status(f, "expA", "r-3", AML_STATUS_FAILED, 1, 3000100,
		      AML_HISTORY_WRITTEN, NULL);
	create_ok(f, "expA", "r-1", 1000000, NULL);
	expect_status(f, "expA", "r-1", AML_STATUS_QUEUED, 1, 1000100,
		      AML_HISTORY_WRITTEN, NULL);
	expect_status(f, "expA", "r-1", AML_STATUS_RUNNING, 1, 1000200,
		      AML_HISTORY_WRITTEN, NULL);
	expect_status(f, "expA", "r-1", AML_STATUS_COMPLETED, 1, 1000300,
		      AML_HISTORY_WRITTEN, NULL);
	create_ok(f, "expB", "r-4", 4000000, NULL);
	/* Neither a half-made run nor a stray file is a run. */
	assert_int_equal(mkdir(pathf("%s/%s/expA/.new-r-9-00000000", f->hist,
				     tree_of(geteuid())),
			       0700), 0);

	expect_list(f, NULL, IDS("r-4", "r-3", "r-2", "r-1"));
	memset(&flt, 0, sizeof(flt));
	expect_list(f, &flt, IDS("r-4", "r-3", "r-2", "r-1"));
	flt.experiment = "expA";
	expect_list(f, &flt, IDS("r-3", "r-1"));
	flt.experiment = "expB";
	expect_list(f, &flt, IDS("r-4", "r-2"));
	flt.experiment = "expC";
	expect_list(f, &flt, NULL, 0);

	memset(&flt, 0, sizeof(flt));
	flt.has_status = 1;
	flt.status = AML_STATUS_RUNNING;
	expect_list(f, &flt, IDS("r-2"));
	flt.status = AML_STATUS_NOT_STARTED;
	expect_list(f, &flt, IDS("r-4"));
	flt.status = AML_STATUS_COMPLETED;
	expect_list(f, &flt, IDS("r-1"));
	flt.status = AML_STATUS_CANCELED;
	expect_list(f, &flt, NULL, 0);

	memset(&flt, 0, sizeof(flt));
	flt.since_ms = 2000000;
	expect_list(f, &flt, IDS("r-4", "r-3", "r-2"));
	flt.since_ms = 2000001;
	expect_list(f, &flt, IDS("r-4", "r-3"));

	memset(&flt, 0, sizeof(flt));
	flt.user = user_name();
	expect_list(f, &flt, IDS("r-4", "r-3", "r-2", "r-1"));
	flt.user = "nobody-else";
	expect_list(f, &flt, NULL, 0);

	memset(&flt, 0, sizeof(flt));
	flt.experiment = "expB";
	flt.since_ms = 3000000;
	expect_list(f, &flt, IDS("r-4"));

	/* What a listed run holds. */
	memset(&flt, 0, sizeof(flt));
	flt.experiment = "expA";
	assert_int_equal(aml_history_list(f->h, &flt, &runs, &n, f->err,
					  sizeof(f->err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(runs[1].experiment, "expA");
	assert_true(runs[1].state.created_ms == 1000000);
	assert_true(runs[1].state.ended_ms == 1000300);
	assert_int_equal(runs[1].state.status, AML_STATUS_COMPLETED);
	assert_int_equal(runs[1].n_events, 4);
	for (size_t i = 0; i < n; i++)
		aml_run_info_free(&runs[i]);
	free(runs);
}

/* ==== 8. read_run ==== */

static void test_read_run_find(void **state)
{
	struct fixture *f = *state;
	const char *generated = "exp2_1764089396_0a1b2c3d";
	struct aml_run_info info;

	/* A v2 name, and a generated-looking id living in another
	 * experiment than the one it names. */
	create_ok(f, "exp2", "my-run-1", 0, NULL);
	create_ok(f, "other", generated, 0, NULL);
	create_ok(f, EXP, RUN, 0, NULL);

	read_run_ok(f, "my-run-1", 1, &info);
	assert_string_equal(info.experiment, "exp2");
	assert_string_equal(info.run_id, "my-run-1");
	assert_non_null(info.config_json);
	assert_string_equal(info.config_json, CONFIG);
	assert_int_equal(info.state.status, AML_STATUS_NOT_STARTED);
	aml_run_info_free(&info);

	read_run_ok(f, generated, 0, &info);
	assert_string_equal(info.experiment, "other");
	assert_null(info.config_json);
	aml_run_info_free(&info);

	read_run_ok(f, RUN, 0, &info);
	assert_string_equal(info.experiment, EXP);
	aml_run_info_free(&info);

	assert_int_equal(aml_history_read_run(f->h, "missing-7", 0, &info,
					      f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "no run"));
	assert_non_null(strstr(f->err, "missing-7"));
	assert_int_equal(aml_history_read_run(f->h, "hello_1_00000000", 0,
					      &info, f->err,
					      sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "no run"));
	assert_int_equal(aml_history_read_run(f->h, "../hello", 0, &info,
					      f->err, sizeof(f->err)), -1);
}

/* Append to [log], by hand, an event of [status] at now + [later_ms]. */
static void append_by_hand(const char *log, enum aml_status status,
			   int64_t later_ms)
{
	struct aml_event ev;
	char *line;

	ev_make(&ev, status, 1, 0);
	ev.time_ms += later_ms;
	line = aml_event_encode(&ev);
	assert_non_null(line);
	append_file(log, line);
	free(line);
	aml_event_free(&ev);
}

static void test_read_run_hand_edited(void **state)
{
	struct fixture *f = *state;
	const char *log = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	struct aml_run_info info;

	create_ok(f, EXP, RUN, 0, NULL);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	/* By hand: Queued again (nothing new in its place: dropped, not
	 * counted), a garbage line, then a legal Finalizing. */
	append_by_hand(log, AML_STATUS_QUEUED, 0);
	append_file(log, "this is not an event\n");
	append_by_hand(log, AML_STATUS_FINALIZING, 0);

	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.state.status, AML_STATUS_FINALIZING);
	assert_int_equal(info.state.n_skipped, 1);
	assert_int_equal(info.n_events, 4);  /* those the machine took */
	aml_run_info_free(&info);

	/* A torn last line (a writer killed mid-write) is skipped by
	 * readers, and the next writer ends it before its own line. */
	append_file(log, "{\"id\":\"0123456789ab");
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.state.status, AML_STATUS_FINALIZING);
	aml_run_info_free(&info);
	expect_status(f, EXP, RUN, AML_STATUS_COMPLETED, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.state.status, AML_STATUS_COMPLETED);
	assert_int_equal(info.state.n_skipped, 2);
	assert_int_equal(info.n_events, 5);
	assert_int_equal(info.events[4].status, AML_STATUS_COMPLETED);
	aml_run_info_free(&info);
	assert_int_equal(count_lines(log), 8);

	/* By hand: a second, different end, later, refused by readers and
	 * counted. */
	append_by_hand(log, AML_STATUS_FAILED, 60000);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.state.status, AML_STATUS_COMPLETED);
	assert_int_equal(info.state.n_skipped, 3);
	assert_int_equal(info.n_events, 5);
	aml_run_info_free(&info);
}

/* ==== 9. the spool ==== */

/* (a) HistoryDir gone: every kind of write is queued, then replayed in
 * order, once, with the upload's files as they were. */
static void test_spool_unmounted(void **state)
{
	struct fixture *f = *state;
	const char *log = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	char ids[4][AML_EVENT_ID_LEN + 1];
	const char *order[4] = { ids[0], ids[1], ids[2], ids[3] };
	struct aml_kvlist *props = new_kv(f), *tags = new_kv(f);
	struct aml_kvlist *set = new_kv(f);
	char old[] = "old";
	char *names[] = { old };
	struct aml_strlist remove = { names, 1 };
	struct aml_artifact_stats stats;
	struct aml_run_info info;
	struct aml_event ev;
	size_t remaining = 99;
	char *big = big_data(f);
	int wd;

	kv(tags, "old", "x");
	kv(tags, "keep", "y");
	expect_result(f, "create", create_full(f, EXP, RUN, 0, CONFIG, NULL,
					       tags, ids[0]),
		      AML_HISTORY_WRITTEN);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_WRITTEN, ids[1]);

	history_away(f);
	expect_status(f, EXP, RUN, AML_STATUS_PREPARING, 1, 0,
		      AML_HISTORY_SPOOLED, ids[2]);
	assert_non_null(strstr(f->err, "queued"));
	assert_int_equal(queued(f, geteuid()), 1);
	ev_make(&ev, AML_STATUS_RUNNING, 1, 0);
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_SPOOLED);
	memcpy(ids[3], ev.id, sizeof(ids[3]));
	assert_int_equal(queued(f, geteuid()), 2);

	kv(props, "k", "v");
	expect_result(f, "properties",
		      aml_history_add_properties(f->h, EXP, RUN, props,
						 f->err, sizeof(f->err)),
		      AML_HISTORY_SPOOLED);
	kv(set, "t", "1");
	expect_result(f, "tags",
		      aml_history_set_tags(f->h, EXP, RUN, set, &remove,
					   f->err, sizeof(f->err)),
		      AML_HISTORY_SPOOLED);
	make_outputs(f, big);
	wd = open_dir(f->work);
	memset(&stats, 0, sizeof(stats));
	expect_result(f, "upload",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", &stats,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_SPOOLED);
	aml_artifact_stats_free(&stats);
	close(wd);
	/* The working copy goes away (the node cleans up). */
	remove_tree(pathf("%s/outputs", f->work));
	assert_false(exists(pathf("%s/outputs", f->work)));
	expect_result(f, "create another",
		      create_full(f, "exp2", "late-run", 0, "{\"late\":1}",
				  props, set, NULL),
		      AML_HISTORY_SPOOLED);
	assert_int_equal(queued(f, geteuid()), 6);

	/* Still away: a flush keeps everything. */
	assert_int_equal(aml_history_flush(f->h, &remaining, f->err,
					   sizeof(f->err)), 0);
	assert_int_equal(remaining, 6);
	assert_int_equal(queued(f, geteuid()), 6);

	history_back(f);
	flush_all(f);
	assert_int_equal(queued(f, geteuid()), 0);
	expect_none_rejected(f, geteuid());
	expect_log_ids(log, order, 4);
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.state.status, AML_STATUS_RUNNING);
	assert_string_equal(aml_kvlist_get(&info.properties, "k"), "v");
	assert_int_equal(info.tags.count, 2);
	assert_string_equal(info.tags.items[0].key, "keep");
	assert_string_equal(info.tags.items[1].key, "t");
	aml_run_info_free(&info);
	check_outputs(f, EXP, RUN, big);
	read_run_ok(f, "late-run", 1, &info);
	assert_string_equal(info.experiment, "exp2");
	assert_string_equal(info.config_json, "{\"late\":1}");
	assert_string_equal(aml_kvlist_get(&info.properties, "k"), "v");
	assert_string_equal(aml_kvlist_get(&info.tags, "t"), "1");
	aml_run_info_free(&info);

	/* Exactly once: flushing or replaying again adds nothing. */
	flush_all(f);
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_UNCHANGED);
	expect_log_ids(log, order, 4);
	aml_event_free(&ev);
	aml_kvlist_free(props);
	aml_kvlist_free(tags);
	aml_kvlist_free(set);
}

/* (c) Once the history is back, a new write replays the queue first and
 * lands after it. */
static void test_spool_new_write_goes_behind(void **state)
{
	struct fixture *f = *state;
	char ids[5][AML_EVENT_ID_LEN + 1];
	const char *order[5] = { ids[0], ids[1], ids[2], ids[3], ids[4] };

	create_ok(f, EXP, RUN, 0, ids[0]);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_WRITTEN, ids[1]);
	history_away(f);
	expect_status(f, EXP, RUN, AML_STATUS_PREPARING, 1, 0,
		      AML_HISTORY_SPOOLED, ids[2]);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0,
		      AML_HISTORY_SPOOLED, ids[3]);
	history_back(f);
	/* Finalizing is legal only after the queued ones are in. */
	expect_status(f, EXP, RUN, AML_STATUS_FINALIZING, 1, 0,
		      AML_HISTORY_WRITTEN, ids[4]);
	expect_log_ids(runp(f, EXP, RUN, "events.jsonl"), order, 5);
	assert_int_equal(queued(f, geteuid()), 0);
	expect_none_rejected(f, geteuid());
}

/* (d) A queued event that became illegal meanwhile is set aside with its
 * reason, and the queue moves on. */
static void test_spool_rejected(void **state)
{
	struct fixture *f = *state;
	const char *log = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	struct aml_kvlist *props = new_kv(f);
	struct aml_run_info info;
	struct aml_event *evs, ev;
	struct dirent *de;
	char *line, *reason = NULL;
	DIR *d;
	size_t n;

	struct timespec ts;
	int64_t t;

	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	t = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	create_ok(f, EXP, RUN, 0, NULL);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	history_away(f);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, t + 1000,
		      AML_HISTORY_SPOOLED, NULL);
	kv(props, "after", "1");
	expect_result(f, "properties",
		      aml_history_add_properties(f->h, EXP, RUN, props,
						 f->err, sizeof(f->err)),
		      AML_HISTORY_SPOOLED);
	aml_kvlist_free(props);
	expect_status(f, EXP, RUN, AML_STATUS_FAILED, 1, t + 3000,
		      AML_HISTORY_SPOOLED, NULL);
	history_back(f);
	/* Meanwhile someone else ended the run, between the two: the
	 * Running replayed late takes its place before that end; the
	 * spooled Failed contradicts it, and is refused. */
	ev_make(&ev, AML_STATUS_CANCELED, 1, t + 2000);
	ev.source = AML_SOURCE_USER;
	line = aml_event_encode(&ev);
	assert_non_null(line);
	append_file(log, line);
	free(line);
	aml_event_free(&ev);

	flush_all(f);
	assert_int_equal(queued(f, geteuid()), 0);
	assert_int_equal(rejected(f, geteuid()), 1);
	d = opendir(rejected_of(f, geteuid()));
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			reason = slurp(pathf("%s/%s/reason",
					     rejected_of(f, geteuid()),
					     de->d_name), NULL);
	closedir(d);
	assert_non_null(reason);
	if (!strstr(reason, "Failed from launcher (attempt 1) contradicts "
			    "Canceled from user")) {
		print_message("# reason: %s\n", reason);
		free(reason);
		fail_msg("the reason does not name what it contradicts");
	}
	free(reason);

	n = load_log(log, &evs);
	assert_int_equal(n, 4);
	assert_int_equal(evs[2].status, AML_STATUS_CANCELED);
	assert_int_equal(evs[3].status, AML_STATUS_RUNNING);
	free_log(evs, n);
	read_run_ok(f, RUN, 0, &info);
	assert_string_equal(aml_kvlist_get(&info.properties, "after"), "1");
	assert_int_equal(info.n_events, 4);
	assert_int_equal(info.events[2].status, AML_STATUS_RUNNING);
	assert_int_equal(info.events[3].status, AML_STATUS_CANCELED);
	assert_int_equal(info.state.status, AML_STATUS_CANCELED);
	aml_run_info_free(&info);
}

/* A run whose creation has not arrived yet (it waits in the spool of the
 * host it was submitted on) keeps its own writes waiting, in order, and
 * holds up no other run's; its creation goes ahead of them, and they
 * follow it. */
#define LATE "hello_1764089396_0c0c0c0c"
static void test_run_not_there_yet_waits_alone(void **state)
{
	struct fixture *f = *state;
	const char *late = keep(f, runp(f, EXP, LATE, "events.jsonl"));
	const char *log = keep(f, runp(f, EXP, RUN, "events.jsonl"));

	create_ok(f, EXP, RUN, 1000, NULL);
	expect_status(f, EXP, LATE, AML_STATUS_PREPARING, 1, 3000,
		      AML_HISTORY_SPOOLED, NULL);
	assert_non_null(strstr(f->err, "(yet)"));
	expect_status(f, EXP, LATE, AML_STATUS_RUNNING, 1, 4000,
		      AML_HISTORY_SPOOLED, NULL);
	/* Another run's write is not held up. */
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 2000,
		      AML_HISTORY_WRITTEN, NULL);
	assert_int_equal(count_lines(log), 2);
	assert_int_equal(queued(f, geteuid()), 2);
	/* The creation arrives ahead of its run's waiting writes, which
	 * then follow it. */
	create_ok(f, EXP, LATE, 2500, NULL);
	flush_all(f);
	assert_int_equal(count_lines(late), 3);
	assert_int_equal(rejected(f, geteuid()), 0);
}

/* A run that never appears (its creation lost with the host it was
 * submitted on) does not keep its writes, and a warning, for ever: after
 * AML_HISTORY_KEPT_MAX_MS they go to rejected/, saying why; younger ones
 * still wait. */
static void test_run_that_never_appears_expires(void **state)
{
	struct fixture *f = *state;
	const char *q = keep(f, queue_of(f, geteuid()));
	const char *rej = keep(f, rejected_of(f, geteuid()));
	struct dirent *de;
	char *reason = NULL, old[64];
	size_t remaining = 99;
	DIR *d;

	create_ok(f, EXP, RUN, 1000, NULL);
	expect_status(f, EXP, LATE, AML_STATUS_PREPARING, 1, 3000,
		      AML_HISTORY_SPOOLED, NULL);
	/* Queued 8 days ago: its sequence number says so. */
	d = opendir(q);
	assert_non_null(d);
	while ((de = readdir(d)) && de->d_name[0] == '.')
		;
	assert_non_null(de);
	snprintf(old, sizeof(old), "%020llu%s",
		 strtoull(de->d_name, NULL, 10) - 8ULL * 24 * 3600 * 1000000000,
		 de->d_name + 20);
	assert_int_equal(renameat(dirfd(d), de->d_name, dirfd(d), old), 0);
	closedir(d);
	expect_status(f, EXP, LATE, AML_STATUS_RUNNING, 1, 4000,
		      AML_HISTORY_SPOOLED, NULL);
	assert_int_equal(aml_history_flush(f->h, &remaining, f->err,
					   sizeof(f->err)), 0);
	assert_int_equal(remaining, 1);
	assert_int_equal(rejected(f, geteuid()), 1);
	assert_int_equal(queued(f, geteuid()), 1);
	reason = slurp(pathf("%s/%s/reason", rej, old), NULL);
	assert_non_null(reason);
	assert_non_null(strstr(reason, "not taken in 8 days, given up"));
	assert_non_null(strstr(reason, LATE));
	free(reason);
}

/* Neither the history nor the spool: an error, nothing lost silently. */
static void test_spool_unavailable_too(void **state)
{
	struct fixture *f = *state;
	struct aml_event ev;

	create_ok(f, EXP, RUN, 0, NULL);
	history_away(f);
	assert_int_equal(rename(f->spool, pathf("%s/spool.away", f->base)), 0);
	ev_make(&ev, AML_STATUS_QUEUED, 1, 0);
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_ERROR);
	assert_non_null(strstr(f->err, "cannot keep the write"));
	assert_non_null(strstr(f->err, f->hist));
	assert_int_equal(rename(pathf("%s/spool.away", f->base), f->spool), 0);
	history_back(f);
	/* Nothing was queued: the same event is new. */
	expect_event(f, EXP, RUN, &ev, AML_HISTORY_WRITTEN);
	aml_event_free(&ev);
	assert_int_equal(queued(f, geteuid()), 0);
}

/* A run that wrote no logs/: uploading it is no error (artifacts.h),
 * with the history away as much as with it there; nothing is written
 * (UNCHANGED) and nothing needs queueing. */
static void test_spool_upload_missing_source(void **state)
{
	struct fixture *f = *state;
	enum aml_history_result r;
	int wd;

	create_ok(f, EXP, RUN, 0, NULL);
	wd = open_dir(f->work);
	r = aml_history_upload(f->h, EXP, RUN, wd, "logs", NULL, f->err,
			       sizeof(f->err));
	if (r != AML_HISTORY_UNCHANGED && r != AML_HISTORY_WRITTEN)
		fail_msg("upload of a missing logs/: %s (%s)", result_name(r),
			 f->err);
	history_away(f);
	r = aml_history_upload(f->h, EXP, RUN, wd, "logs", NULL, f->err,
			       sizeof(f->err));
	close(wd);
	if (r == AML_HISTORY_ERROR)
		fail_msg("upload of a missing logs/ while the history is "
			 "away: ERROR (%s)", f->err);
	history_back(f);
	flush_all(f);
	expect_none_rejected(f, geteuid());
	assert_int_equal(queued(f, geteuid()), 0);
	assert_false(exists(runp(f, EXP, RUN, "logs")));
}

/* A symlink that stays inside the working directory is uploaded
 * (artifacts.h); a spooled upload must keep it too. */
static void test_spool_upload_inside_symlink(void **state)
{
	struct fixture *f = *state;
	int wd;

	create_ok(f, EXP, RUN, 0, NULL);
	assert_int_equal(mkdir(pathf("%s/outputs", f->work), 0755), 0);
	write_file(pathf("%s/outputs/model.txt", f->work), "weights\n");
	assert_int_equal(symlink("model.txt",
				 pathf("%s/outputs/latest", f->work)), 0);
	wd = open_dir(f->work);
	/* Directly: the link's target is uploaded under its name. */
	expect_result(f, "upload",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", NULL,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	if (!exists(runp(f, EXP, RUN, "outputs/latest"))) {
		close(wd);
		print_message("# SKIP: symlinks are not followed here (no "
			      "openat2: a kernel before 5.6, or valgrind)\n");
		skip();
	}
	assert_file_is(runp(f, EXP, RUN, "outputs/latest"), "weights\n");
	assert_int_equal(unlink(runp(f, EXP, RUN, "outputs/latest")), 0);
	assert_int_equal(unlink(runp(f, EXP, RUN, "outputs/model.txt")), 0);

	/* Through the spool: the same. */
	history_away(f);
	expect_result(f, "upload while away",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", NULL,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_SPOOLED);
	close(wd);
	history_back(f);
	flush_all(f);
	expect_none_rejected(f, geteuid());
	assert_file_is(runp(f, EXP, RUN, "outputs/model.txt"), "weights\n");
	assert_file_is(runp(f, EXP, RUN, "outputs/latest"), "weights\n");
}

/* (b) A real filesystem: read-only, then full. */
static void mount_tmpfs(struct fixture *f, const char *size)
{
	char opts[64];

	skip_unless_root("needs root to mount a tmpfs");
	snprintf(opts, sizeof(opts), "size=%s,mode=1777", size);
	if (mount("tmpfs", f->hist, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
		print_message("# SKIP: cannot mount a tmpfs here: %s\n",
			      strerror(errno));
		skip();
	}
	f->mounted = 1;
}

static void remount(struct fixture *f, int read_only)
{
	/* Source and type named although a remount ignores them: valgrind
	 * flags NULL there. */
	if (mount("tmpfs", f->hist, "tmpfs",
		  MS_REMOUNT | MS_NOSUID | MS_NODEV |
			  (read_only ? MS_RDONLY : 0), NULL) != 0)
		fail_msg("remount %s %s: %s", f->hist, read_only ? "ro" : "rw",
			 strerror(errno));
}

static void test_spool_read_only(void **state)
{
	struct fixture *f = *state;
	char ids[4][AML_EVENT_ID_LEN + 1];
	const char *order[4] = { ids[0], ids[1], ids[2], ids[3] };
	struct aml_kvlist *set = new_kv(f);
	struct aml_run_info info;

	mount_tmpfs(f, "4m");
	create_ok(f, EXP, RUN, 0, ids[0]);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_WRITTEN, ids[1]);
	remount(f, 1);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0,
		      AML_HISTORY_SPOOLED, ids[2]);
	assert_non_null(strstr(f->err, "queued"));
	assert_non_null(strstr(f->err, strerror(EROFS)));
	kv(set, "t", "1");
	expect_result(f, "tags",
		      aml_history_set_tags(f->h, EXP, RUN, set, NULL, f->err,
					   sizeof(f->err)),
		      AML_HISTORY_SPOOLED);
	aml_kvlist_free(set);
	expect_result(f, "create while read-only",
		      create_full(f, EXP, "ro-run", 0, CONFIG, NULL, NULL,
				  NULL),
		      AML_HISTORY_SPOOLED);
	assert_int_equal(queued(f, geteuid()), 3);
	remount(f, 0);
	expect_status(f, EXP, RUN, AML_STATUS_COMPLETED, 1, 0,
		      AML_HISTORY_WRITTEN, ids[3]);
	assert_int_equal(queued(f, geteuid()), 0);
	expect_none_rejected(f, geteuid());
	expect_log_ids(runp(f, EXP, RUN, "events.jsonl"), order, 4);
	read_run_ok(f, RUN, 0, &info);
	assert_string_equal(aml_kvlist_get(&info.tags, "t"), "1");
	aml_run_info_free(&info);
	read_run_ok(f, "ro-run", 0, &info);
	assert_int_equal(info.state.status, AML_STATUS_NOT_STARTED);
	aml_run_info_free(&info);
}

static void test_spool_full(void **state)
{
	struct fixture *f = *state;
	const char *filler;
	char *chunk, *big = big_data(f);
	int fd, wd;

	mount_tmpfs(f, "512k");
	create_ok(f, EXP, RUN, 0, NULL);
	/* Fill the filesystem. */
	filler = keep(f, pathf("%s/filler", f->hist));
	fd = open(filler, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	chunk = calloc(1, 65536);
	assert_non_null(chunk);
	for (;;) {
		ssize_t put = write(fd, chunk, 65536);

		if (put < 0) {
			assert_int_equal(errno, ENOSPC);
			break;
		}
	}
	close(fd);
	free(chunk);

	make_outputs(f, big);
	wd = open_dir(f->work);
	expect_result(f, "upload to a full filesystem",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", NULL,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_SPOOLED);
	close(wd);
	assert_non_null(strstr(f->err, strerror(ENOSPC)));
	assert_int_equal(queued(f, geteuid()), 1);

	assert_int_equal(unlink(filler), 0);
	flush_all(f);
	assert_int_equal(queued(f, geteuid()), 0);
	expect_none_rejected(f, geteuid());
	check_outputs(f, EXP, RUN, big);
	/* No temporaries of the failed attempt are left. */
	assert_int_equal(count_dot_entries(runp(f, EXP, RUN, "outputs")), 0);
	assert_int_equal(count_dot_entries(runp(f, EXP, RUN,
						"outputs/sub/deep")), 0);
}

/* ==== 10. root writing a user's run ==== */

static void expect_victim_intact(const char *victim)
{
	struct stat st;

	assert_file_is(victim, "root secret\n");
	assert_int_equal(lstat(victim, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_nlink, 1);
}

static void expect_root_again(void)
{
	assert_int_equal(geteuid(), 0);
	assert_int_equal(getegid(), 0);
	assert_int_equal(getuid(), 0);
}

static void test_root_acts_as_owner(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };
	const char *victim = keep(f, pathf("%s/victim", f->base));
	const char *events, *saved, *tagsf, *tags_saved;
	const char *rootdir = keep(f, pathf("%s/rootonly", f->base));
	struct aml_kvlist *set = new_kv(f), *props = new_kv(f);
	gid_t groups_before[64], groups_after[64];
	int ngroups_before, ngroups_after, fd, wd;

	skip_unless_root("needs root");
	ngroups_before = getgroups(64, groups_before);
	assert_true(ngroups_before >= 0);
	write_file(victim, "root secret\n");
	assert_int_equal(chmod(victim, 0600), 0);
	assert_int_equal(mkdir(rootdir, 0700), 0);

	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	/* In the owner's tree, now that it exists. */
	events = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	saved = keep(f, runp(f, EXP, RUN, "events.saved"));
	tagsf = keep(f, runp(f, EXP, RUN, "tags.json"));
	tags_saved = keep(f, runp(f, EXP, RUN, "tags.saved"));
	check_owner(runp(f, EXP, RUN, ""), NOBODY);
	check_owner(events, NOBODY);

	/* The user swaps events.jsonl for a symlink to root's file. */
	{
		const struct fs_step plant[] = {
			{ FS_RENAME, events, saved },
			{ FS_SYMLINK, victim, events },
			{ FS_END, NULL, NULL },
		};

		assert_int_equal(run_as(f, NOBODY, child_fs, plant), 0);
	}
	/* Refused, or kept for later: never written through. */
	{
		enum aml_history_result r;
		struct aml_event ev;

		ev_make(&ev, AML_STATUS_QUEUED, 1, 0);
		r = aml_history_record(f->h, EXP, RUN, &ev, f->err,
				       sizeof(f->err));
		aml_event_free(&ev);
		if (r != AML_HISTORY_ERROR && r != AML_HISTORY_SPOOLED)
			fail_msg("through a symlink: %s (%s)", result_name(r),
				 f->err);
	}
	expect_victim_intact(victim);
	expect_root_again();
	kv(set, "by", "root");
	expect_result(f, "tags through a symlinked lock",
		      aml_history_set_tags(f->h, EXP, RUN, set, NULL, f->err,
					   sizeof(f->err)),
		      AML_HISTORY_ERROR);
	expect_victim_intact(victim);
	expect_root_again();
	{
		const struct fs_step restore[] = {
			{ FS_UNLINK, events, NULL },
			{ FS_RENAME, saved, events },
			{ FS_END, NULL, NULL },
		};

		assert_int_equal(run_as(f, NOBODY, child_fs, restore), 0);
	}

	/* Intact: root writes, as the owner. */
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_WRITTEN, NULL);
	expect_root_again();
	check_owner(events, NOBODY);
	assert_int_equal(count_lines(events), 2);
	expect_result(f, "tags as root",
		      aml_history_set_tags(f->h, EXP, RUN, set, NULL, f->err,
					   sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	expect_root_again();
	check_owner(tagsf, NOBODY);
	kv(props, "p", "1");
	expect_result(f, "properties as root",
		      aml_history_add_properties(f->h, EXP, RUN, props,
						 f->err, sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	check_owner(runp(f, EXP, RUN, "properties.json"), NOBODY);
	fd = aml_history_open_log(f->h, EXP, RUN, "std_log.txt", f->err,
				  sizeof(f->err));
	if (fd < 0)
		fail_msg("open_log as root: %s", f->err);
	close(fd);
	expect_root_again();
	check_owner(runp(f, EXP, RUN, "user_logs"), NOBODY);
	check_owner(runp(f, EXP, RUN, "user_logs/std_log.txt"), NOBODY);
	assert_int_equal(mkdir(pathf("%s/outputs", f->work), 0755), 0);
	write_file(pathf("%s/outputs/x.txt", f->work), "ex\n");
	wd = open_dir(f->work);
	expect_result(f, "upload as root",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", NULL,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_WRITTEN);
	expect_root_again();
	check_owner(runp(f, EXP, RUN, "outputs"), NOBODY);
	check_owner(runp(f, EXP, RUN, "outputs/x.txt"), NOBODY);

	/* tags.json a symlink to root's file: not read, not written. */
	{
		const struct fs_step plant[] = {
			{ FS_RENAME, tagsf, tags_saved },
			{ FS_SYMLINK, victim, tagsf },
			{ FS_END, NULL, NULL },
		};

		assert_int_equal(run_as(f, NOBODY, child_fs, plant), 0);
	}
	aml_kvlist_free(set);
	kv(set, "again", "1");
	(void)aml_history_set_tags(f->h, EXP, RUN, set, NULL, f->err,
				   sizeof(f->err));
	expect_victim_intact(victim);
	expect_root_again();

	/* user_logs a symlink to a directory only root may write. */
	{
		const struct fs_step plant[] = {
			{ FS_RENAME, runp(f, EXP, RUN, "user_logs"),
			  runp(f, EXP, RUN, "user_logs.saved") },
			{ FS_SYMLINK, rootdir, runp(f, EXP, RUN, "user_logs") },
			{ FS_END, NULL, NULL },
		};

		assert_int_equal(run_as(f, NOBODY, child_fs, plant), 0);
	}
	fd = aml_history_open_log(f->h, EXP, RUN, "std_log.txt", f->err,
				  sizeof(f->err));
	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, -1);
	assert_int_equal(count_entries(rootdir), 0);
	expect_root_again();

	/* outputs a symlink to it: the upload does not land there. */
	{
		const struct fs_step plant[] = {
			{ FS_RENAME, runp(f, EXP, RUN, "outputs"),
			  runp(f, EXP, RUN, "outputs.saved") },
			{ FS_SYMLINK, rootdir, runp(f, EXP, RUN, "outputs") },
			{ FS_END, NULL, NULL },
		};

		assert_int_equal(run_as(f, NOBODY, child_fs, plant), 0);
	}
	(void)aml_history_upload(f->h, EXP, RUN, wd, "outputs", NULL, f->err,
				 sizeof(f->err));
	close(wd);
	assert_int_equal(count_entries(rootdir), 0);
	expect_root_again();

	/* A hard link to root's file as events.jsonl (made by root here:
	 * protected_hardlinks stops a user). */
	assert_int_equal(unlink(events), 0);
	assert_int_equal(link(victim, events), 0);
	/* The owner cannot open it: kept for later, and root's file is
	 * never written. */
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 0,
		      AML_HISTORY_SPOOLED, NULL);
	assert_int_equal(unlink(events), 0);
	expect_victim_intact(victim);
	expect_root_again();

	ngroups_after = getgroups(64, groups_after);
	assert_int_equal(ngroups_after, ngroups_before);
	assert_memory_equal(groups_after, groups_before,
			    (size_t)ngroups_before * sizeof(gid_t));
	aml_kvlist_free(set);
	aml_kvlist_free(props);
}

/* The whole run directory swapped for a symlink to one of root's. */
static void test_root_run_dir_symlink(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };
	const char *fake = keep(f, pathf("%s/rootrun", f->base));
	char *before, *after;

	skip_unless_root("needs root");
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	/* root's look-alike run, with its own events.jsonl */
	assert_int_equal(mkdir(fake, 0700), 0);
	write_file(pathf("%s/events.jsonl", fake), "root's own\n");
	assert_int_equal(chmod(pathf("%s/events.jsonl", fake), 0600), 0);
	{
		const struct fs_step plant[] = {
			{ FS_RENAME, runp(f, EXP, RUN, ""),
			  pathf("%s/%s/%s/real-run", f->hist, tree_of(NOBODY),
				EXP) },
			{ FS_SYMLINK, fake, runp(f, EXP, RUN, "") },
			{ FS_END, NULL, NULL },
		};

		assert_int_equal(run_as(f, NOBODY, child_fs, plant), 0);
	}
	before = slurp(pathf("%s/events.jsonl", fake), NULL);
	assert_non_null(before);
	/* The run is not found where it must be: kept for later, never
	 * written into root's look-alike. */
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_SPOOLED, NULL);
	expect_root_again();
	after = slurp(pathf("%s/events.jsonl", fake), NULL);
	assert_non_null(after);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(count_entries(fake), 1);
}

/*
 * Root (the finalizer) queues writes to a user's run while the history is
 * unavailable; once it is back, they must land in the run: the event and
 * the upload, owned by the run's owner, with nothing rejected.
 */
static void test_root_spooled_writes_replay(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };
	int wd;

	skip_unless_root("needs root");
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	assert_int_equal(mkdir(pathf("%s/outputs", f->work), 0755), 0);
	write_file(pathf("%s/outputs/model.txt", f->work), "weights\n");
	wd = open_dir(f->work);
	history_away(f);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0,
		      AML_HISTORY_SPOOLED, NULL);
	/* Root never uploads a user's working directory: it would read the
	 * user's files as root, and spool them where only root may replay
	 * them. */
	assert_int_equal(fchown(wd, NOBODY, NOBODY), 0);
	expect_result(f, "upload as root while away",
		      aml_history_upload(f->h, EXP, RUN, wd, "outputs", NULL,
					 f->err, sizeof(f->err)),
		      AML_HISTORY_ERROR);
	assert_non_null(strstr(f->err, "not as root"));
	assert_int_equal(fchown(wd, 0, 0), 0);
	close(wd);
	expect_root_again();
	remove_tree(pathf("%s/outputs", f->work));
	history_back(f);

	/* Whichever spool took them (root's own or the owner's), replaying
	 * both empties them. */
	flush_all(f);
	assert_int_equal(run_as(f, NOBODY, child_flush, NULL), 0);
	expect_root_again();
	assert_int_equal(count_lines(runp(f, EXP, RUN, "events.jsonl")), 2);
	expect_none_rejected(f, 0);
	expect_none_rejected(f, NOBODY);
	assert_int_equal(queued(f, 0) + queued(f, NOBODY), 0);
	assert_int_equal(access(runp(f, EXP, RUN, "outputs/model.txt"), F_OK),
			 -1);
}

/* ==== 11. another user cannot write the run ==== */

static int child_other_user(struct fixture *f, const void *arg)
{
	const struct run_name *rn = arg;
	struct aml_kvlist kvl = { 0 };
	struct aml_run_info *runs = NULL;
	struct aml_run_info info;
	struct aml_event ev;
	char err[1024];
	size_t n = 99;
	int bad = 0, fd;

	if (aml_event_init(&ev, AML_STATUS_QUEUED, AML_SOURCE_LAUNCHER) != 0)
		return 1;
	if (aml_history_record(f->h, rn->exp, rn->id, &ev, err,
			       sizeof(err)) != AML_HISTORY_ERROR ||
	    !strstr(err, "belongs to uid 65534")) {
		fprintf(stderr, "record: %s\n", err);
		bad |= 2;
	}
	aml_event_free(&ev);
	if (aml_kvlist_set(&kvl, "k", "v") != 0)
		return 1;
	if (aml_history_set_tags(f->h, rn->exp, rn->id, &kvl, NULL, err,
				 sizeof(err)) != AML_HISTORY_ERROR ||
	    !strstr(err, "belongs to uid 65534"))
		bad |= 4;
	if (aml_history_add_properties(f->h, rn->exp, rn->id, &kvl, err,
				       sizeof(err)) != AML_HISTORY_ERROR)
		bad |= 8;
	aml_kvlist_free(&kvl);
	fd = aml_history_open_log(f->h, rn->exp, rn->id, "std_log.txt", err,
				  sizeof(err));
	if (fd >= 0) {
		close(fd);
		bad |= 16;
	}
	/* A private run of another user is not listed, and not read. */
	if (aml_history_list(f->h, NULL, &runs, &n, err, sizeof(err)) != 0 ||
	    n != 0)
		bad |= 32;
	for (size_t i = 0; runs && i < n; i++)
		aml_run_info_free(&runs[i]);
	free(runs);
	if (aml_history_read_run(f->h, rn->id, 0, &info, err,
				 sizeof(err)) == 0) {
		aml_run_info_free(&info);
		bad |= 64;
	} else if (!strstr(err, "private")) {
		bad |= 64;
	}
	return bad;
}

static void test_other_user_refused(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };
	struct aml_run_info info;

	skip_unless_root("needs root");
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	assert_int_equal(run_as(f, OTHER, child_other_user, &rn), 0);
	assert_int_equal(count_lines(runp(f, EXP, RUN, "events.jsonl")), 1);
	assert_false(exists(runp(f, EXP, RUN, "user_logs")));
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.tags.count, 0);
	assert_int_equal(info.properties.count, 0);
	assert_int_equal(info.uid, NOBODY);
	assert_string_equal(info.owner, "nobody");
	aml_run_info_free(&info);
	/* Nothing of it was queued either. */
	assert_int_equal(queued(f, OTHER), 0);
}

/* ==== 12. users who do not trust each other: the layout ==== */

/* A user who made <HistoryDir>/<victim> first neither blocks the victim
 * nor gets the victim's runs: they go to a tree the victim owns. */
static void test_squatted_tree(void **state)
{
	struct fixture *f = *state;
	const char *squat = keep(f, pathf("%s/%s", f->hist, tree_of(NOBODY)));
	const struct run_name rn = { EXP, RUN };
	struct aml_run_info info;
	struct stat st;

	skip_unless_root("needs root");
	assert_int_equal(mkdir(squat, 0777), 0);
	assert_int_equal(chmod(squat, 0777), 0);
	assert_int_equal(chown(squat, OTHER, OTHER), 0);
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	/* Not in the squatter's directory, which stays empty... */
	assert_int_equal(count_entries(squat), 0);
	/* ...but in one of the victim's own. */
	assert_int_equal(lstat(runp(f, EXP, RUN, ""), &st), 0);
	assert_int_equal(st.st_uid, NOBODY);
	assert_non_null(strstr(runp(f, EXP, RUN, ""),
			       pathf("/%s.", tree_of(NOBODY))));
	read_run_ok(f, RUN, 0, &info);
	assert_int_equal(info.uid, NOBODY);
	aml_run_info_free(&info);
}

/* A run of the old layout, <HistoryDir>/<exp>/<id>, made by [uid] in an
 * experiment directory (1777) owned by [exp_owner]. */
static void make_legacy_run(struct fixture *f, const char *exp,
			    const char *id, uid_t uid, uid_t exp_owner)
{
	const char *expdir = keep(f, pathf("%s/%s", f->hist, exp));
	const char *rundir = keep(f, pathf("%s/%s", expdir, id));
	struct aml_event ev;
	char *line;

	if (access(expdir, F_OK) != 0) {
		assert_int_equal(mkdir(expdir, 0700), 0);
		assert_int_equal(chmod(expdir, 01777), 0);
		assert_int_equal(chown(expdir, exp_owner, exp_owner), 0);
	}
	assert_int_equal(mkdir(rundir, 0700), 0);
	ev_make(&ev, AML_STATUS_NOT_STARTED, 1, 1000);
	line = aml_event_encode(&ev);
	assert_non_null(line);
	write_file(pathf("%s/events.jsonl", rundir), line);
	write_file(pathf("%s/run.json", rundir), CONFIG);
	free(line);
	aml_event_free(&ev);
	assert_int_equal(chown(pathf("%s/events.jsonl", rundir), uid, uid), 0);
	assert_int_equal(chown(pathf("%s/run.json", rundir), uid, uid), 0);
	assert_int_equal(chown(rundir, uid, uid), 0);
}

static int child_record_queued(struct fixture *f, const void *arg)
{
	const struct run_name *rn = arg;
	struct aml_event ev;
	char err[1024];
	enum aml_history_result r;

	if (aml_event_init(&ev, AML_STATUS_QUEUED, AML_SOURCE_SBATCH))
		return 1;
	r = aml_history_record(f->h, rn->exp, rn->id, &ev, err, sizeof(err));
	aml_event_free(&ev);
	if (r == AML_HISTORY_WRITTEN)
		return 0;
	fprintf(stderr, "child record: %s\n", err);
	return strstr(err, "old shared experiment") ? 3 : 2;
}

/* History of the old layout stays readable and listed; a run in it is
 * written only when nobody but root and its owner could have swapped it
 * (its experiment directory is theirs). */
static void test_legacy_layout(void **state)
{
	struct fixture *f = *state;
	const struct run_name safe = { "oldexp", "oldexp_1700000000_00000001" };
	const struct run_name risky = { "shared", "shared_1700000000_00000002" };
	struct aml_run_info info;

	skip_unless_root("needs root");
	make_legacy_run(f, safe.exp, safe.id, NOBODY, NOBODY);
	make_legacy_run(f, risky.exp, risky.id, NOBODY, OTHER);
	create_ok(f, EXP, RUN, 3000, NULL);

	read_run_ok(f, safe.id, 1, &info);
	assert_string_equal(info.experiment, safe.exp);
	assert_int_equal(info.uid, NOBODY);
	assert_string_equal(info.config_json, CONFIG);
	aml_run_info_free(&info);
	{
		struct aml_run_info *runs;
		size_t n, found = 0;

		assert_int_equal(aml_history_list(f->h, NULL, &runs, &n, f->err,
						  sizeof(f->err)), 0);
		assert_int_equal(n, 3);
		for (size_t i = 0; i < n; i++) {
			found += !strcmp(runs[i].run_id, safe.id) ||
				 !strcmp(runs[i].run_id, risky.id) ||
				 !strcmp(runs[i].run_id, RUN);
			aml_run_info_free(&runs[i]);
		}
		free(runs);
		assert_int_equal(found, 3);
	}

	assert_int_equal(run_as(f, NOBODY, child_record_queued, &safe), 0);
	assert_int_equal(count_lines(pathf("%s/%s/%s/events.jsonl", f->hist,
					   safe.exp, safe.id)), 2);
	/* OTHER owns "shared" and could have swapped the run: refused. */
	assert_int_equal(run_as(f, NOBODY, child_record_queued, &risky), 3);
	assert_int_equal(count_lines(pathf("%s/%s/%s/events.jsonl", f->hist,
					   risky.exp, risky.id)), 1);
}

static int child_read_own(struct fixture *f, const void *arg)
{
	const char *id = arg;
	struct aml_run_info info;
	char err[1024];
	int ok;

	if (aml_history_read_run(f->h, id, 0, &info, err, sizeof(err)) != 0) {
		fprintf(stderr, "child read: %s\n", err);
		return 2;
	}
	ok = info.uid == geteuid();
	aml_run_info_free(&info);
	return ok ? 0 : 3;
}

/* A user who names a run after another user's run (v2 `name`) cannot
 * make it show as the other's: each owner reads their own, and anyone
 * else is told the id is ambiguous, with whose runs they are. */
static void test_same_run_id_two_users(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };
	struct aml_run_info info;

	skip_unless_root("needs root");
	/* Runs of both shared, so each could read the other's. */
	assert_int_equal(open_history(f, AML_RUNS_SHARED), 0);
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	assert_int_equal(run_as(f, OTHER, child_create, &rn), 0);
	assert_int_equal(run_as(f, NOBODY, child_read_own, RUN), 0);
	assert_int_equal(run_as(f, OTHER, child_read_own, RUN), 0);
	assert_int_equal(aml_history_read_run(f->h, RUN, 0, &info, f->err,
					      sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "used by several users"));
	assert_non_null(strstr(f->err, tree_of(NOBODY)));
	/* Root, who could write either, writes neither. */
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 0, AML_HISTORY_ERROR,
		      NULL);
	assert_non_null(strstr(f->err, "several users"));
}

/* A held lock costs a root writer (the finalizer) a bounded wait: the
 * event is spooled, and written once the lock is let go. */
/* [path] locked exclusively through a description of its own, as a user
 * holding it would; close the descriptor to let go. */
static int hold_lock(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(flock(fd, LOCK_EX), 0);
	return fd;
}

static void test_held_lock_is_bounded(void **state)
{
	struct fixture *f = *state;
	const char *events;
	struct timespec t0, t1;
	int lock;
	double waited;

	/* Only a root process's wait is bounded: a user's own waits for
	 * its own lock. */
	skip_unless_root("needs root");
	create_ok(f, EXP, RUN, 1000, NULL);
	events = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	lock = hold_lock(events);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 2000,
		      AML_HISTORY_SPOOLED, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waited = (double)(t1.tv_sec - t0.tv_sec) +
		 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("# waited %.1f s for a held lock\n", waited);
	assert_non_null(strstr(f->err, "stayed locked"));
	assert_int_equal(count_lines(events), 1);
	close(lock);
	/* Let go: the next write replays the spooled one first. */
	expect_status(f, EXP, RUN, AML_STATUS_PREPARING, 1, 3000,
		      AML_HISTORY_WRITTEN, NULL);
	assert_int_equal(count_lines(events), 3);
}

/*
 * A filesystem that stops answering (here: a lock held for ever, which
 * blocks a write as a hung server does) costs a writer HistoryTimeout
 * once: the write waits in the spool, and later writes of the same
 * process go straight there, not into another stuck child.
 */
static void test_hung_history_is_given_up(void **state)
{
	struct fixture *f = *state;
	const char *events;
	int lock;
	int64_t t0, took;

	f->site.history_timeout_seconds = 1;
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	create_ok(f, EXP, RUN, 1000, NULL);
	events = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	lock = hold_lock(events);
	t0 = aml_monotonic_ms();
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 2000,
		      AML_HISTORY_SPOOLED, NULL);
	took = aml_monotonic_ms() - t0;
	print_message("# given up after %lld ms\n", (long long)took);
	assert_non_null(strstr(f->err, "did not answer within 1 s"));
	assert_true(took >= 900 && took < 4500);
	t0 = aml_monotonic_ms();
	expect_status(f, EXP, RUN, AML_STATUS_PREPARING, 1, 3000,
		      AML_HISTORY_SPOOLED, NULL);
	assert_true(aml_monotonic_ms() - t0 < 500);
	assert_non_null(strstr(f->err, "earlier"));
	assert_int_equal(count_lines(events), 1);
	close(lock);
	/* The next process (a new handle) delivers both, in order. */
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 4000,
		      AML_HISTORY_WRITTEN, NULL);
	assert_int_equal(count_lines(events), 4);
}

/* The breaker's file in the caller's spool, as "<until> <trips> <since>". */
static const char *breaker_of(struct fixture *f)
{
	return pathf("%s/%lu/breaker", f->spool, (unsigned long)geteuid());
}

/* The breaker's cooldown is over (as if its time had passed). */
static void cooldown_over(struct fixture *f)
{
	long long until, since;
	unsigned trips;
	char *text = slurp(breaker_of(f), NULL);
	FILE *out;

	assert_non_null(text);
	assert_int_equal(sscanf(text, "%lld %u %lld", &until, &trips, &since),
			 3);
	free(text);
	out = fopen(breaker_of(f), "w");
	assert_non_null(out);
	fprintf(out, "%lld %u %lld\n", since - 1, trips, since);
	fclose(out);
}

static unsigned breaker_trips(struct fixture *f)
{
	long long until, since;
	unsigned trips = 0;
	char *text = slurp(breaker_of(f), NULL);

	if (text && sscanf(text, "%lld %u %lld", &until, &trips, &since) != 3)
		trips = 0;
	free(text);
	return trips;
}

/* Once run history has not answered (here a lock held for ever, which
 * blocks a write as a hung server does), the writes that follow queue
 * without trying it, in order, also in later processes, until a probe
 * finds it back; a probe that fails opens the breaker for longer.  An
 * answer that is an error (history gone: ENOENT) opens nothing. */
static void test_breaker_skips_then_probes(void **state)
{
	struct fixture *f = *state;
	const char *log = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	size_t remaining = 0;
	int lock;

	f->site.history_timeout_seconds = 1;
	f->site.history_probe_interval_seconds = 60;
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	create_ok(f, EXP, RUN, 1000, NULL);
	history_away(f);
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 2000,
		      AML_HISTORY_SPOOLED, NULL);
	assert_int_equal(breaker_trips(f), 0);
	history_back(f);
	flush_all(f);

	lock = hold_lock(log);
	expect_status(f, EXP, RUN, AML_STATUS_PREPARING, 1, 3000,
		      AML_HISTORY_SPOOLED, NULL);
	assert_non_null(strstr(f->err, "did not answer within 1 s"));
	assert_int_equal(breaker_trips(f), 1);
	close(lock);
	/* It answers again, but no one has probed it yet: the next
	 * process's writes keep queueing, without a try. */
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 4000,
		      AML_HISTORY_SPOOLED, NULL);
	assert_non_null(strstr(f->err, "did not answer at"));
	assert_int_equal(queued(f, geteuid()), 2);
	assert_int_equal(count_lines(log), 2);
	/* The cooldown passes while it hangs again: the probe fails, and
	 * the next cooldown is longer. */
	lock = hold_lock(log);
	cooldown_over(f);
	expect_status(f, EXP, RUN, AML_STATUS_FINALIZING, 1, 5000,
		      AML_HISTORY_SPOOLED, NULL);
	assert_int_equal(breaker_trips(f), 2);
	close(lock);
	/* Probed when it answers: everything in order, breaker closed. */
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	cooldown_over(f);
	expect_status(f, EXP, RUN, AML_STATUS_COMPLETED, 1, 6000,
		      AML_HISTORY_WRITTEN, NULL);
	assert_int_equal(queued(f, geteuid()), 0);
	assert_int_equal(count_lines(log), 6);
	assert_int_equal(access(breaker_of(f), F_OK), -1);
	/* An explicit flush goes through the same gate. */
	lock = hold_lock(log);
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	expect_result(f, "tag while hung",
		      aml_history_set_tags(f->h, EXP, RUN, NULL, NULL, f->err,
					   sizeof(f->err)),
		      AML_HISTORY_SPOOLED);
	close(lock);
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	assert_int_equal(aml_history_flush(f->h, &remaining, f->err,
					   sizeof(f->err)),
			 0);
	assert_int_equal(remaining, 1);
	assert_non_null(strstr(f->err, "did not answer at"));
	cooldown_over(f);
	flush_all(f);
	assert_int_equal(access(breaker_of(f), F_OK), -1);
}

/* A delivery of the spool by another process (aml-epilog, the delivery
 * timer) that writes something closes the breaker: run history answered,
 * and the spool owner's writers need not wait for their own probe. */
static void test_delivery_closes_breaker(void **state)
{
	struct fixture *f = *state;
	struct aml_spool_replay_stats st;
	struct aml_spool sp;
	int lock;

	f->site.history_timeout_seconds = 1;
	f->site.history_probe_interval_seconds = 60;
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	create_ok(f, EXP, RUN, 1000, NULL);
	lock = hold_lock(keep(f, runp(f, EXP, RUN, "events.jsonl")));
	expect_status(f, EXP, RUN, AML_STATUS_QUEUED, 1, 2000,
		      AML_HISTORY_SPOOLED, NULL);
	close(lock);
	assert_int_equal(breaker_trips(f), 1);
	assert_int_equal(open_history(f, AML_RUNS_PRIVATE), 0);
	assert_int_equal(aml_spool_open(&sp, f->spool, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(aml_history_replay_spool(f->h, &sp, 0, &st, f->err,
						  sizeof(f->err)),
			 0);
	aml_spool_close(&sp);
	assert_int_equal(st.applied, 1);
	assert_int_equal(access(breaker_of(f), F_OK), -1);
	expect_status(f, EXP, RUN, AML_STATUS_RUNNING, 1, 3000,
		      AML_HISTORY_WRITTEN, NULL);
}

/* ==== 13. root writing for a run's owner: bounded, never through the
 * owner's spool, root's own spool for what must wait ==== */

#define RUN2 "hello_1764089396_0b0b0b0b"

/* Record a fresh [status] from the finalizer in [uid]'s run [id], as
 * root; its id goes to [id_out] when non-NULL. */
static enum aml_history_result owned(struct fixture *f, const char *id,
				     uid_t uid, enum aml_status status,
				     int64_t deadline, int flags,
				     char *id_out)
{
	enum aml_history_result r;
	struct aml_event ev;

	assert_int_equal(aml_event_init(&ev, status, AML_SOURCE_FINALIZER), 0);
	f->err[0] = '\0';
	r = aml_history_record_owned(f->h, uid, uid, deadline, EXP, id, &ev,
				     flags, f->err, sizeof(f->err));
	if (id_out)
		memcpy(id_out, ev.id, sizeof(ev.id));
	aml_event_free(&ev);
	expect_root_again();
	return r;
}

static int child_owned_refused(struct fixture *f, const void *arg)
{
	struct aml_event ev;
	char err[1024];
	int r;

	(void)arg;
	if (aml_event_init(&ev, AML_STATUS_PREPARING, AML_SOURCE_FINALIZER))
		return 1;
	r = aml_history_record_owned(f->h, NOBODY, NOBODY,
				     aml_monotonic_ms() + 5000, EXP, RUN, &ev,
				     0, err, sizeof(err));
	aml_event_free(&ev);
	return r == AML_HISTORY_ERROR && strstr(err, "only root") ? 0 : 2;
}

static void test_owned_written_as_owner(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };

	skip_unless_root("needs root");
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	expect_result(f, "owned Queued",
		      owned(f, RUN, NOBODY, AML_STATUS_QUEUED,
			    aml_monotonic_ms() + 5000, 0, NULL),
		      AML_HISTORY_WRITTEN);
	assert_int_equal(count_lines(runp(f, EXP, RUN, "events.jsonl")), 2);
	check_owner(runp(f, EXP, RUN, "events.jsonl"), NOBODY);
	expect_result(f, "owned Queued again",
		      owned(f, RUN, NOBODY, AML_STATUS_QUEUED,
			    aml_monotonic_ms() + 5000, 0, NULL),
		      AML_HISTORY_UNCHANGED);
	/* A refused transition is refused, not queued. */
	expect_result(f, "owned NotStarted",
		      owned(f, RUN, NOBODY, AML_STATUS_NOT_STARTED,
			    aml_monotonic_ms() + 5000, 0, NULL),
		      AML_HISTORY_ERROR);
	assert_non_null(strstr(f->err, "not a valid transition"));
	assert_int_equal(queued(f, 0) + queued(f, NOBODY), 0);
	/* Only root writes for another user. */
	assert_int_equal(run_as(f, NOBODY, child_owned_refused, NULL), 0);
	assert_int_equal(count_lines(runp(f, EXP, RUN, "events.jsonl")), 2);
}

/* The user holds their run's lock: the write gives up at the deadline,
 * waits in root's spool (not the user's), keeps its order, and another
 * user's run is not held up. */
static void test_owned_held_lock(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN }, rn2 = { EXP, RUN2 };
	char ids[4][AML_EVENT_ID_LEN + 1];
	const char *order[4] = { ids[0], ids[1], ids[2], ids[3] };
	struct aml_spool_replay_stats st;
	struct aml_run_info info;
	int64_t t0, took;
	const char *log;
	int lock;

	skip_unless_root("needs root");
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	assert_int_equal(run_as(f, OTHER, child_create, &rn2), 0);
	/* In its owner's tree, now that it is made. */
	log = keep(f, runp(f, EXP, RUN, "events.jsonl"));
	read_run_ok(f, RUN, 0, &info);
	memcpy(ids[0], info.events[0].id, sizeof(ids[0]));
	aml_run_info_free(&info);
	expect_result(f, "owned Queued",
		      owned(f, RUN, NOBODY, AML_STATUS_QUEUED,
			    aml_monotonic_ms() + 5000, 0, ids[1]),
		      AML_HISTORY_WRITTEN);

	lock = hold_lock(log);
	t0 = aml_monotonic_ms();
	expect_result(f, "owned Canceled, lock held",
		      owned(f, RUN, NOBODY, AML_STATUS_CANCELED, t0 + 300, 0,
			    ids[2]),
		      AML_HISTORY_SPOOLED);
	took = aml_monotonic_ms() - t0;
	if (took > 1500)
		fail_msg("the write waited %lld ms for the lock",
			 (long long)took);
	assert_non_null(strstr(f->err, "not written within"));
	assert_non_null(strstr(f->err, "to be written as uid 65534"));
	assert_int_equal(queued(f, 0), 1);
	assert_int_equal(queued(f, NOBODY), 0);
	/* The run's next write goes behind, at once, without trying. */
	t0 = aml_monotonic_ms();
	expect_result(f, "owned again, behind",
		      owned(f, RUN, NOBODY, AML_STATUS_CANCELED, t0 + 5000, 0,
			    ids[3]),
		      AML_HISTORY_SPOOLED);
	assert_true(aml_monotonic_ms() - t0 < 1000);
	assert_non_null(strstr(f->err, "older write"));
	assert_int_equal(queued(f, 0), 2);
	/* Another user's run is written meanwhile. */
	expect_result(f, "other user's run",
		      owned(f, RUN2, OTHER, AML_STATUS_QUEUED,
			    aml_monotonic_ms() + 5000, 0, NULL),
		      AML_HISTORY_WRITTEN);

	/* The replay right after does not try again what just ran out of
	 * time: both kept at once. */
	t0 = aml_monotonic_ms();
	assert_int_equal(aml_history_flush_until(f->h, t0 + 400, &st, f->err,
						 sizeof(f->err)), 0);
	took = aml_monotonic_ms() - t0;
	if (took > 200)
		fail_msg("the first replay waited %lld ms", (long long)took);
	assert_int_equal(st.applied, 0);
	assert_int_equal(st.remaining, 2);
	/* A later one tries, while the lock is held: bounded, both kept. */
	t0 = aml_monotonic_ms();
	assert_int_equal(aml_history_flush_until(f->h, t0 + 400, &st, f->err,
						 sizeof(f->err)), 0);
	took = aml_monotonic_ms() - t0;
	if (took < 300 || took > 1500)
		fail_msg("the second replay took %lld ms", (long long)took);
	expect_root_again();
	assert_int_equal(st.applied, 0);
	assert_int_equal(st.remaining, 2);
	assert_int_equal(queued(f, 0), 2);

	/* Let go: in order, once. */
	close(lock);
	assert_int_equal(aml_history_flush_until(f->h,
						 aml_monotonic_ms() + 5000,
						 &st, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(st.applied, 2);
	assert_int_equal(st.remaining, 0);
	expect_log_ids(log, order, 3);
	check_owner(log, NOBODY);
	/* The second Canceled repeats the run's end: unchanged, applied. */
	expect_none_rejected(f, 0);
	assert_int_equal(queued(f, 0), 0);
}

/* A lock the user holds on their own spool does not matter: root never
 * goes near that spool. */
static int child_open_spool(struct fixture *f, const void *arg)
{
	struct aml_spool sp;
	char err[512];

	(void)arg;
	if (aml_spool_open(&sp, f->spool, err, sizeof(err)) < 0)
		return 1;
	/* Its lock file, which the user then holds. */
	close(openat(sp.dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	aml_spool_close(&sp);
	return 0;
}

static void test_owned_ignores_user_spool(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };
	struct aml_spool_replay_stats st;
	int64_t t0;
	int lock;

	skip_unless_root("needs root");
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	assert_int_equal(run_as(f, NOBODY, child_open_spool, NULL), 0);
	lock = hold_lock(pathf("%s/%d/lock", f->spool, NOBODY));
	history_away(f);
	t0 = aml_monotonic_ms();
	expect_result(f, "owned while away",
		      owned(f, RUN, NOBODY, AML_STATUS_QUEUED, t0 + 2000, 0,
			    NULL),
		      AML_HISTORY_SPOOLED);
	assert_true(aml_monotonic_ms() - t0 < 1500);
	assert_int_equal(queued(f, 0), 1);
	assert_int_equal(queued(f, NOBODY), 0);
	history_back(f);
	assert_int_equal(aml_history_flush_until(f->h,
						 aml_monotonic_ms() + 5000,
						 &st, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(st.applied, 1);
	close(lock);
	assert_int_equal(count_lines(runp(f, EXP, RUN, "events.jsonl")), 2);
	/* Straight to the backend: nothing replayed or queued. */
	history_away(f);
	{
		struct aml_event ev;

		ev_make(&ev, AML_STATUS_PREPARING, 1, 0);
		expect_result(f, "direct while away",
			      aml_history_record_direct(f->h, EXP, RUN, &ev,
							f->err,
							sizeof(f->err)),
			      AML_HISTORY_UNAVAILABLE);
		aml_event_free(&ev);
	}
	history_back(f);
	assert_int_equal(queued(f, 0) + queued(f, NOBODY), 0);
}

/* The owner ends the run meanwhile, straight in run history. */
static int child_cancel(struct fixture *f, const void *arg)
{
	struct aml_event ev;
	char err[1024];
	int r;

	(void)arg;
	if (aml_event_init(&ev, AML_STATUS_CANCELED, AML_SOURCE_USER))
		return 1;
	/* Before what the caller spooled: that came after the end. */
	ev.time_ms -= 60000;
	r = aml_history_record_direct(f->h, EXP, RUN, &ev, err, sizeof(err));
	aml_event_free(&ev);
	return r == AML_HISTORY_WRITTEN ? 0 : 2;
}

/* A note the run has moved past is dropped, not rejected; any other
 * refused event is rejected with its reason. */
static void test_owned_note_moot(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN };
	struct aml_spool_replay_stats st;

	skip_unless_root("needs root");
	assert_int_equal(run_as(f, NOBODY, child_create, &rn), 0);
	history_away(f);
	expect_result(f, "note while away",
		      owned(f, RUN, NOBODY, AML_STATUS_RUNNING,
			    aml_monotonic_ms() + 2000, AML_HISTORY_NOTE, NULL),
		      AML_HISTORY_SPOOLED);
	expect_result(f, "plain while away",
		      owned(f, RUN, NOBODY, AML_STATUS_PREPARING,
			    aml_monotonic_ms() + 2000, 0, NULL),
		      AML_HISTORY_SPOOLED);
	history_back(f);
	/* The run had ended before (its owner wrote it meanwhile). */
	assert_int_equal(run_as(f, NOBODY, child_cancel, NULL), 0);
	assert_int_equal(aml_history_flush_until(f->h,
						 aml_monotonic_ms() + 5000,
						 &st, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(st.applied, 1);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(rejected(f, 0), 1);
	assert_int_equal(queued(f, 0), 0);
	assert_int_equal(count_lines(runp(f, EXP, RUN, "events.jsonl")), 2);
}

/* A user who forges an owned entry in their own spool only keeps it:
 * replays as a user write no one else's run. */
static int child_forge_owned(struct fixture *f, const void *arg)
{
	const char *rec = arg;
	struct aml_spool sp;
	size_t remaining = 9;
	char err[1024];

	if (aml_spool_open(&sp, f->spool, err, sizeof(err)) < 0 ||
	    aml_spool_push(&sp, rec, strlen(rec), -1, NULL, NULL, err,
			   sizeof(err)) < 0)
		return 1;
	aml_spool_close(&sp);
	if (aml_history_flush(f->h, &remaining, err, sizeof(err)) < 0)
		return 2;
	return remaining == 1 && strstr(err, "only root") ? 0 : 3;
}

static void test_owned_forged_by_user(void **state)
{
	struct fixture *f = *state;
	const struct run_name rn = { EXP, RUN2 };
	char *rec;

	skip_unless_root("needs root");
	assert_int_equal(run_as(f, OTHER, child_create, &rn), 0);
	/* The event itself does not matter: it is never decoded. */
	assert_true(asprintf(&rec, "{\"op\":\"event\",\"experiment\":\"%s\","
			     "\"run_id\":\"%s\",\"event\":\"{}\","
			     "\"owner_uid\":%d,\"owner_gid\":%d}", EXP, RUN2,
			     OTHER, OTHER) > 0);
	f->big = rec;
	assert_int_equal(run_as(f, NOBODY, child_forge_owned, rec), 0);
	assert_int_equal(count_lines(runp(f, EXP, RUN2, "events.jsonl")), 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_run_private),
		T(test_create_run_shared_umask),
		T(test_create_run_refusals),
		T(test_record_sequence),
		T(test_record_requeue),
		T(test_concurrent_writers),
		T(test_concurrent_properties_and_tags),
		T(test_properties),
		T(test_tags),
		T(test_tags_not_strings_refused),
		T(test_upload),
		T(test_logs_and_artifacts),
		T(test_shared_later_files_umask),
		T(test_list),
		T(test_read_run_find),
		T(test_read_run_hand_edited),
		T(test_spool_unmounted),
		T(test_spool_new_write_goes_behind),
		T(test_spool_rejected),
		T(test_breaker_skips_then_probes),
		T(test_run_not_there_yet_waits_alone),
		T(test_run_that_never_appears_expires),
		T(test_delivery_closes_breaker),
		T(test_spool_unavailable_too),
		T(test_spool_upload_missing_source),
		T(test_spool_upload_inside_symlink),
		T(test_spool_read_only),
		T(test_spool_full),
		T(test_root_acts_as_owner),
		T(test_root_run_dir_symlink),
		T(test_root_spooled_writes_replay),
		T(test_other_user_refused),
		T(test_squatted_tree),
		T(test_legacy_layout),
		T(test_same_run_id_two_users),
		T(test_held_lock_is_bounded),
		T(test_hung_history_is_given_up),
		T(test_owned_written_as_owner),
		T(test_owned_held_lock),
		T(test_owned_ignores_user_spool),
		T(test_owned_note_moot),
		T(test_owned_forged_by_user),
	};

	/* Children report by exit status; SIGPIPE must not hide one. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
