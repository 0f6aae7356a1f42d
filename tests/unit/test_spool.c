/*
 * test_spool.c: the durable local queue (plugin/spool.c): its layout and
 * the refusals that keep another user or a planted symlink out, order
 * (also across a clock step and between concurrent pushers), RETRY and
 * REJECTED, the files an entry carries, and what a crash leaves behind.
 *
 * Every test gets a fresh spool directory under /tmp.  Children made with
 * fork() never call cmocka: they report through their exit status.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "spool.h"
#include "tree.h"

#define NOBODY 65534
#define MAX_APPLIED 512

struct fixture {
	char base[64];        /* the spool directory, 1777 */
	char root[128];       /* base/<euid> */
	struct aml_spool sp;
	char err[1024];
	/* Heap a test holds while it forks lives here, reachable: a child
	 * that _exit()s under valgrind must not report it lost. */
	char *tree;
};

/* ---- helpers ---- */

static void remove_tree(const char *path)
{
	chmod(path, 0700);
	aml_tree_remove(AT_FDCWD, path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_spool.XXXXXX");
	if (!mkdtemp(f->base) || chmod(f->base, 01777) != 0)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/%lu", f->base,
		 (unsigned long)geteuid());
	if (aml_spool_open(&f->sp, f->base, f->err, sizeof(f->err)) != 0) {
		fprintf(stderr, "setup: %s\n", f->err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_spool_close(&f->sp);
	remove_tree(f->base);
	free(f->tree);
	free(f);
	return 0;
}

/* "<root>/<rel>" into [buf]. */
static const char *at(struct fixture *f, const char *rel, char buf[512])
{
	snprintf(buf, 512, "%s/%s", f->root, rel);
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* The whole file, NUL-terminated, malloc'd; NULL when it cannot be
 * opened. */
static char *read_file(const char *path, size_t *len)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap * 2 + 4096;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		r = read(fd, buf + n, cap - n);
		assert_true(r >= 0);
		n += (size_t)r;
	} while (r > 0);
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* Names in directory [path], "." and ".." left out; -1 when missing. */
static int count_dir(const char *path)
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

/* An entry made by hand, as a push of another clock would leave it. */
static void plant_entry(struct fixture *f, const char *dir, const char *name,
			const char *record)
{
	char rel[128], path[512];

	snprintf(rel, sizeof(rel), "%s/%s", dir, name);
	assert_int_equal(mkdir(at(f, rel, path), 0700), 0);
	snprintf(rel, sizeof(rel), "%s/%s/record", dir, name);
	write_file(at(f, rel, path), record, strlen(record));
}

static void push(struct fixture *f, const char *record, char name[AML_SPOOL_NAME_MAX])
{
	int rc = aml_spool_push(&f->sp, record, strlen(record), -1, NULL,
				name, f->err, sizeof(f->err));

	if (rc != 0)
		print_message("push: %s\n", f->err);
	assert_int_equal(rc, 0);
}

static int is_entry_name(const char *s)
{
	if (strlen(s) != 27 || s[20] != '-')
		return 0;
	for (int i = 0; i < 27; i++)
		if (i != 20 && !strchr(i < 20 ? "0123456789" : "0123456789abcdef",
				       s[i]))
			return 0;
	return 1;
}

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		print_message("# SKIP: needs root to give a directory to another uid\n");
		skip();
	}
}

/* Wait for child [pid]; returns its exit status, or 128 + signal. */
static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- a recording apply ---- */

struct applied {
	struct { char *text; size_t len; } rec[MAX_APPLIED];
	size_t n;                 /* APPLIED, in order */
	size_t attempts;          /* every call */
	int not_terminated;       /* a record without its NUL */
	const char *retry_on;     /* RETRY this record... */
	const char *reject_on;    /* ...REJECT this one... */
	const char *keep_prefix;  /* ...KEEP those starting so... */
	const char *reason;       /* ...with this */
};

static enum aml_spool_verdict record_apply(void *ctx,
					   const struct aml_spool_entry *e,
					   char *errbuf, size_t errlen)
{
	struct applied *a = ctx;

	a->attempts++;
	if (e->record[e->len] != '\0')
		a->not_terminated++;
	if (a->retry_on && strcmp(e->record, a->retry_on) == 0) {
		snprintf(errbuf, errlen, "%s", a->reason);
		return AML_SPOOL_RETRY;
	}
	if (a->reject_on && strcmp(e->record, a->reject_on) == 0) {
		snprintf(errbuf, errlen, "%s", a->reason);
		return AML_SPOOL_REJECTED;
	}
	if (a->keep_prefix &&
	    strncmp(e->record, a->keep_prefix, strlen(a->keep_prefix)) == 0) {
		snprintf(errbuf, errlen, "%s", a->reason);
		return AML_SPOOL_KEEP;
	}
	if (a->n == MAX_APPLIED)
		return AML_SPOOL_RETRY;
	a->rec[a->n].text = malloc(e->len + 1);
	if (!a->rec[a->n].text)
		return AML_SPOOL_RETRY;
	memcpy(a->rec[a->n].text, e->record, e->len + 1);
	a->rec[a->n].len = e->len;
	a->n++;
	return AML_SPOOL_APPLIED;
}

static void applied_free(struct applied *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->rec[i].text);
	a->n = 0;
}

static void replay_ok(struct fixture *f, struct applied *a,
		      struct aml_spool_replay_stats *st)
{
	int rc = aml_spool_replay(&f->sp, record_apply, a, st, f->err,
				  sizeof(f->err));

	if (rc != 0)
		print_message("replay: %s\n", f->err);
	assert_int_equal(rc, 0);
}

/* ---- open ---- */

static void test_open_creates_private_dir(void **state)
{
	struct fixture *f = *state;
	struct aml_spool again;
	char path[512];
	struct stat st;

	assert_int_equal(lstat(f->root, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(stat(at(f, "q", path), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(stat(at(f, "tmp", path), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_non_null(strstr(f->sp.path, f->base));
	assert_int_equal(strcmp(f->sp.path, f->root), 0);

	/* A second open finds it and keeps it. */
	assert_int_equal(aml_spool_open(&again, f->base, f->err, sizeof(f->err)), 0);
	assert_int_equal(aml_spool_count(&again, f->err, sizeof(f->err)), 0);
	aml_spool_close(&again);
	assert_int_equal(again.dirfd, -1);
	assert_null(again.path);
	aml_spool_close(&again);   /* closing twice is harmless */
}

static void test_open_missing_spool_dir(void **state)
{
	struct fixture *f = *state;
	struct aml_spool sp;
	char missing[128];

	snprintf(missing, sizeof(missing), "%s/not-there", f->base);
	assert_int_equal(aml_spool_open(&sp, missing, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, missing));
	assert_non_null(strstr(f->err, "does not exist"));
	assert_non_null(strstr(f->err, "administrator"));
	assert_int_equal(sp.dirfd, -1);
	assert_null(sp.path);
	/* Nothing was made in its place. */
	assert_int_equal(access(missing, F_OK), -1);
}

static void test_open_refuses_symlink(void **state)
{
	struct fixture *f = *state;
	char base2[128], link[160], real[128];
	struct aml_spool sp;
	struct stat st;

	snprintf(base2, sizeof(base2), "%s/other-spool", f->base);
	snprintf(real, sizeof(real), "%s/elsewhere", f->base);
	assert_int_equal(mkdir(base2, 0755), 0);
	assert_int_equal(mkdir(real, 0700), 0);
	snprintf(link, sizeof(link), "%s/%lu", base2, (unsigned long)geteuid());
	assert_int_equal(symlink(real, link), 0);

	assert_int_equal(aml_spool_open(&sp, base2, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, link));
	assert_non_null(strstr(f->err, "symbolic link"));
	assert_int_equal(sp.dirfd, -1);
	/* Nothing was made through it. */
	assert_int_equal(count_dir(real), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void test_open_refuses_open_modes(void **state)
{
	static const mode_t modes[] = { 0755, 0710, 0701, 0770 };
	struct fixture *f = *state;
	struct aml_spool sp;

	for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
		char want[16];

		assert_int_equal(chmod(f->root, modes[i]), 0);
		assert_int_equal(aml_spool_open(&sp, f->base, f->err,
						sizeof(f->err)), -1);
		snprintf(want, sizeof(want), "mode %04o", (unsigned)modes[i]);
		assert_non_null(strstr(f->err, want));
		assert_non_null(strstr(f->err, f->root));
		assert_non_null(strstr(f->err, "group or others"));
		assert_int_equal(sp.dirfd, -1);
		assert_null(sp.path);
	}
	assert_int_equal(chmod(f->root, 0700), 0);
	assert_int_equal(aml_spool_open(&sp, f->base, f->err, sizeof(f->err)), 0);
	aml_spool_close(&sp);
}

/* A spool another uid holds under the user's uid is never used, and
 * does not block the user: their own <uid>.<hex> is made beside it. */
static void test_open_steps_around_other_owner(void **state)
{
	struct fixture *f = *state;
	struct aml_spool sp;
	struct stat st;

	skip_unless_root();
	aml_spool_close(&f->sp);
	assert_int_equal(chown(f->root, NOBODY, NOBODY), 0);
	assert_int_equal(aml_spool_open(&sp, f->base, f->err, sizeof(f->err)), 0);
	assert_int_equal(strncmp(sp.path, f->root, strlen(f->root)), 0);
	assert_int_equal(sp.path[strlen(f->root)], '.');
	assert_int_equal(fstat(sp.dirfd, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_mode & 07777, 0700);
	aml_spool_close(&sp);
	assert_int_equal(chown(f->root, 0, 0), 0);
	assert_int_equal(aml_spool_open(&f->sp, f->base, f->err, sizeof(f->err)), 0);
}

static void test_open_refuses_regular_file(void **state)
{
	struct fixture *f = *state;
	char base2[128], file[160];
	struct aml_spool sp;

	snprintf(base2, sizeof(base2), "%s/file-spool", f->base);
	assert_int_equal(mkdir(base2, 01777), 0);
	snprintf(file, sizeof(file), "%s/%lu", base2, (unsigned long)geteuid());
	write_file(file, "x", 1);
	assert_int_equal(aml_spool_open(&sp, base2, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "not a directory"));
	assert_non_null(strstr(f->err, file));
}

/* ---- order ---- */

static void test_push_replay_order(void **state)
{
	enum { N = 20 };
	struct fixture *f = *state;
	char names[N][AML_SPOOL_NAME_MAX], recs[N][32], path[512];
	struct aml_spool_replay_stats st;
	struct applied a = { 0 };

	for (int i = 0; i < N; i++) {
		snprintf(recs[i], sizeof(recs[i]), "{\"op\":%d}", i);
		push(f, recs[i], names[i]);
		assert_true(is_entry_name(names[i]));
		if (i)
			assert_true(strcmp(names[i - 1], names[i]) < 0);
	}
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), N);
	assert_int_equal(count_dir(at(f, "tmp", path)), 0);

	replay_ok(f, &a, &st);
	assert_string_equal(f->err, "");
	assert_int_equal(st.applied, N);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.remaining, 0);
	assert_int_equal(a.n, N);
	assert_int_equal(a.not_terminated, 0);
	for (int i = 0; i < N; i++)
		assert_string_equal(a.rec[i].text, recs[i]);
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);
	assert_int_equal(count_dir(at(f, "q", path)), 0);
	assert_int_equal(count_dir(at(f, "tmp", path)), 0);
	applied_free(&a);

	/* Nothing left: a second replay applies nothing. */
	a.attempts = 0;
	replay_ok(f, &a, &st);
	assert_int_equal(st.applied, 0);
	assert_int_equal(a.attempts, 0);
}

/* Records are bytes: a NUL inside, and an empty one, come back whole. */
static void test_binary_and_empty_records(void **state)
{
	static const char bin[] = { 'a', '\0', 'b', '\n', (char)0xff };
	struct fixture *f = *state;
	struct aml_spool_replay_stats st;
	struct applied a = { 0 };

	assert_int_equal(aml_spool_push(&f->sp, bin, sizeof(bin), -1, NULL, NULL,
					f->err, sizeof(f->err)), 0);
	assert_int_equal(aml_spool_push(&f->sp, NULL, 0, -1, NULL, NULL,
					f->err, sizeof(f->err)), 0);
	replay_ok(f, &a, &st);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.rec[0].len, sizeof(bin));
	assert_memory_equal(a.rec[0].text, bin, sizeof(bin));
	assert_int_equal(a.rec[1].len, 0);
	assert_int_equal(a.not_terminated, 0);
	applied_free(&a);
}

/* The clock stepped back: an entry queued with a later clock (made here
 * by hand) still comes before the next push. */
static void test_order_survives_clock_step(void **state)
{
	static const char future[] = "09000000000000000000-abcdef";
	struct fixture *f = *state;
	char first[AML_SPOOL_NAME_MAX], after[AML_SPOOL_NAME_MAX];
	struct aml_spool_replay_stats st;
	struct applied a = { 0 };

	push(f, "first", first);
	assert_true(strcmp(first, future) < 0);
	plant_entry(f, "q", future, "future");
	push(f, "after", after);
	assert_true(strcmp(after, future) > 0);
	/* Exactly one past it: the clock is far behind. */
	assert_memory_equal(after, "09000000000000000001-", 21);

	replay_ok(f, &a, &st);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.rec[0].text, "first");
	assert_string_equal(a.rec[1].text, "future");
	assert_string_equal(a.rec[2].text, "after");
	applied_free(&a);
}

static void test_sequence_exhausted(void **state)
{
	struct fixture *f = *state;
	char path[512];

	plant_entry(f, "q", "99999999999999999999-000000", "last");
	assert_int_equal(aml_spool_push(&f->sp, "x", 1, -1, NULL, NULL, f->err,
					sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "99999999999999999999-000000"));
	assert_non_null(strstr(f->err, "largest sequence"));
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 1);
	assert_int_equal(count_dir(at(f, "tmp", path)), 0);
}

/* ---- verdicts ---- */

static void test_retry_stops_and_resumes(void **state)
{
	struct fixture *f = *state;
	static const char *const recs[] = { "r0", "r1", "r2", "r3", "r4" };
	struct aml_spool_replay_stats st;
	struct applied a = { 0 };

	for (int i = 0; i < 5; i++)
		push(f, recs[i], NULL);
	a.retry_on = "r2";
	a.reason = "history server is down";
	replay_ok(f, &a, &st);
	assert_int_equal(st.applied, 2);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.remaining, 3);
	assert_string_equal(f->err, "history server is down");
	assert_int_equal(a.n, 2);
	assert_int_equal(a.attempts, 3);   /* r3 and r4 were not tried */
	assert_string_equal(a.rec[0].text, "r0");
	assert_string_equal(a.rec[1].text, "r1");
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 3);

	/* The destination is back: exactly where it stopped. */
	a.retry_on = NULL;
	replay_ok(f, &a, &st);
	assert_string_equal(f->err, "");
	assert_int_equal(st.applied, 3);
	assert_int_equal(st.remaining, 0);
	assert_int_equal(a.n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(a.rec[i].text, recs[i]);
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);
	applied_free(&a);
}

static void test_rejected(void **state)
{
	struct fixture *f = *state;
	char names[3][AML_SPOOL_NAME_MAX], rel[128], path[512], *text;
	struct aml_spool_replay_stats st;
	struct applied a = { 0 };

	push(f, "a", names[0]);
	push(f, "b", names[1]);
	push(f, "c", names[2]);
	a.reject_on = "b";
	a.reason = "event \"finished\" refused: the run is not running";
	replay_ok(f, &a, &st);
	assert_int_equal(st.applied, 2);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.remaining, 0);
	assert_string_equal(f->err, a.reason);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.rec[0].text, "a");
	assert_string_equal(a.rec[1].text, "c");
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);

	snprintf(rel, sizeof(rel), "rejected/%s/reason", names[1]);
	text = read_file(at(f, rel, path), NULL);
	assert_non_null(text);
	assert_string_equal(text, "event \"finished\" refused: the run is not running\n");
	free(text);
	snprintf(rel, sizeof(rel), "rejected/%s/record", names[1]);
	text = read_file(at(f, rel, path), NULL);
	assert_non_null(text);
	assert_string_equal(text, "b");
	free(text);
	assert_int_equal(count_dir(at(f, "rejected", path)), 1);
	applied_free(&a);

	/* Not retried. */
	a.reject_on = NULL;
	a.attempts = 0;
	replay_ok(f, &a, &st);
	assert_int_equal(a.attempts, 0);
	assert_int_equal(st.rejected, 0);
}

/* A queue of several owners: one is stuck, the others go on, and the
 * stuck one's entries stay, in order, for the next replay. */
static void test_keep_goes_on(void **state)
{
	struct fixture *f = *state;
	static const char *const recs[] = { "a1", "b1", "a2", "c1", "b2" };
	struct aml_spool_replay_stats st;
	struct applied a = { 0 };

	for (int i = 0; i < 5; i++)
		push(f, recs[i], NULL);
	a.keep_prefix = "b";
	a.reason = "uid b: its run's lock is held";
	replay_ok(f, &a, &st);
	assert_int_equal(st.applied, 3);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.remaining, 2);
	assert_string_equal(f->err, "uid b: its run's lock is held");
	assert_int_equal(a.attempts, 5);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.rec[0].text, "a1");
	assert_string_equal(a.rec[1].text, "a2");
	assert_string_equal(a.rec[2].text, "c1");
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 2);

	/* A RETRY after kept entries counts both in what remains. */
	push(f, "d1", NULL);
	a.retry_on = "b1";
	a.keep_prefix = NULL;
	replay_ok(f, &a, &st);
	assert_int_equal(st.applied, 0);
	assert_int_equal(st.remaining, 3);

	/* Let go: the kept ones first, in their order, then the rest. */
	a.retry_on = NULL;
	replay_ok(f, &a, &st);
	assert_int_equal(st.applied, 3);
	assert_int_equal(st.remaining, 0);
	assert_int_equal(a.n, 6);
	assert_string_equal(a.rec[3].text, "b1");
	assert_string_equal(a.rec[4].text, "b2");
	assert_string_equal(a.rec[5].text, "d1");
	applied_free(&a);
}

/* A spool found by listing the spool directory, opened by its
 * descriptor: judged by its owner and mode, never by its name. */
static void test_open_dir(void **state)
{
	struct fixture *f = *state;
	struct aml_spool other;
	struct applied a = { 0 };
	char path[512];
	int fd;

	push(f, "x", NULL);
	/* Any name will do: here a name that is not the owner's uid. */
	assert_int_equal(rename(f->root, at(f, "../renamed", path)), 0);
	snprintf(f->root, sizeof(f->root), "%s/renamed", f->base);
	fd = open(f->root, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(aml_spool_open_dir(&other, fd, f->root, f->err,
					    sizeof(f->err)), 0);
	close(fd);  /* duplicated: ours to close */
	assert_string_equal(other.path, f->root);
	assert_int_equal(aml_spool_count(&other, f->err, sizeof(f->err)), 1);
	assert_int_equal(aml_spool_replay(&other, record_apply, &a, NULL,
					  f->err, sizeof(f->err)), 0);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.rec[0].text, "x");
	aml_spool_close(&other);
	applied_free(&a);

	/* Open to the group: refused, and said. */
	assert_int_equal(chmod(f->root, 0750), 0);
	fd = open(f->root, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(aml_spool_open_dir(&other, fd, f->root, f->err,
					    sizeof(f->err)), -1);
	assert_int_equal(other.dirfd, -1);
	assert_null(other.path);
	assert_non_null(strstr(f->err, "open to group or others"));
	close(fd);
	assert_int_equal(chmod(f->root, 0700), 0);

	/* A symlink, opened as itself. */
	assert_int_equal(symlink(f->root, at(f, "../link", path)), 0);
	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(aml_spool_open_dir(&other, fd, path, f->err,
					    sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "symbolic link"));
	close(fd);

	/* Another owner's, however it is named. */
	if (geteuid() == 0) {
		assert_int_equal(chown(f->root, NOBODY, NOBODY), 0);
		fd = open(f->root, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(aml_spool_open_dir(&other, fd, f->root,
						    f->err, sizeof(f->err)),
				 -1);
		assert_non_null(strstr(f->err, "owned by uid 65534"));
		close(fd);
		assert_int_equal(chown(f->root, 0, 0), 0);
	}
}

static enum aml_spool_verdict reject_silently(void *ctx,
					      const struct aml_spool_entry *e,
					      char *errbuf, size_t errlen)
{
	(void)ctx;
	(void)e;
	(void)errbuf;
	(void)errlen;
	return AML_SPOOL_REJECTED;
}

static void test_rejected_without_reason(void **state)
{
	struct fixture *f = *state;
	char name[AML_SPOOL_NAME_MAX], rel[128], path[512], *text;
	struct aml_spool_replay_stats st;

	push(f, "x", name);
	assert_int_equal(aml_spool_replay(&f->sp, reject_silently, NULL, &st,
					  f->err, sizeof(f->err)), 0);
	assert_int_equal(st.rejected, 1);
	snprintf(rel, sizeof(rel), "rejected/%s/reason", name);
	text = read_file(at(f, rel, path), NULL);
	assert_non_null(text);
	assert_string_equal(text, "no reason given\n");
	assert_string_equal(f->err, "no reason given");
	free(text);
}

/* An entry that cannot be read stops the replay with an error naming it;
 * what came before it was applied. */
static void test_unreadable_entry_fails(void **state)
{
	struct fixture *f = *state;
	char name[AML_SPOOL_NAME_MAX], rel[128], path[512];
	struct aml_spool_replay_stats st;
	struct applied a = { 0 };

	push(f, "ok", NULL);
	push(f, "torn", name);
	push(f, "later", NULL);
	snprintf(rel, sizeof(rel), "q/%s/record", name);
	assert_int_equal(unlink(at(f, rel, path)), 0);
	assert_int_equal(aml_spool_replay(&f->sp, record_apply, &a, &st, f->err,
					  sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, rel));
	assert_int_equal(st.applied, 1);
	assert_int_equal(st.remaining, 2);
	assert_int_equal(a.n, 1);
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 2);
	applied_free(&a);
}

/* ---- files ---- */

struct files_seen {
	int calls, has_files;
	char *a, *b, *c;
	size_t c_len;
	int link, dirlink, fifo, sock, empty_dir;
};

/* [rel] in [dirfd] whole, or NULL; never follows a symlink. */
static char *read_at(int dirfd, const char *rel, size_t *len)
{
	char proc[64], path[600];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	n = readlink(proc, path, sizeof(path) - 1);
	if (n < 0)
		return NULL;
	snprintf(path + n, sizeof(path) - (size_t)n, "/%s", rel);
	return read_file(path, len);
}

static int exists_at(int dirfd, const char *rel)
{
	struct stat st;

	return fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static enum aml_spool_verdict files_apply(void *ctx,
					  const struct aml_spool_entry *e,
					  char *errbuf, size_t errlen)
{
	struct files_seen *s = ctx;

	(void)errbuf;
	(void)errlen;
	s->calls++;
	if (e->files_dirfd < 0)
		return AML_SPOOL_APPLIED;
	s->has_files = 1;
	s->a = read_at(e->files_dirfd, "a.txt", NULL);
	s->b = read_at(e->files_dirfd, "sub/b.txt", NULL);
	s->c = read_at(e->files_dirfd, "sub/deeper/c.bin", &s->c_len);
	s->link = exists_at(e->files_dirfd, "link");
	s->dirlink = exists_at(e->files_dirfd, "sub/dirlink");
	s->fifo = exists_at(e->files_dirfd, "fifo");
	s->sock = exists_at(e->files_dirfd, "sub/sock");
	s->empty_dir = exists_at(e->files_dirfd, "empty");
	return AML_SPOOL_APPLIED;
}

static void files_seen_free(struct files_seen *s)
{
	free(s->a);
	free(s->b);
	free(s->c);
}

enum { C_LEN = 200000 };

/* base/src: two files, one binary in a nested directory, an empty
 * directory, a symlink to a file and one to a directory, a FIFO and a
 * socket.  Returns c.bin's content (owned by the fixture). */
static char *make_tree(struct fixture *f)
{
	char path[256], *c = f->tree = malloc(C_LEN);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s;

	assert_non_null(c);
	for (size_t i = 0; i < C_LEN; i++)
		c[i] = (char)(i * 7 + i / 251);
	snprintf(path, sizeof(path), "%s/src", f->base);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/src/sub", f->base);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/src/sub/deeper", f->base);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/src/empty", f->base);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/src/a.txt", f->base);
	write_file(path, "alpha", 5);
	snprintf(path, sizeof(path), "%s/src/sub/b.txt", f->base);
	write_file(path, "bravo\n", 6);
	snprintf(path, sizeof(path), "%s/src/sub/deeper/c.bin", f->base);
	write_file(path, c, C_LEN);
	snprintf(path, sizeof(path), "%s/src/link", f->base);
	assert_int_equal(symlink("a.txt", path), 0);
	snprintf(path, sizeof(path), "%s/src/sub/dirlink", f->base);
	assert_int_equal(symlink("../sub", path), 0);
	snprintf(path, sizeof(path), "%s/src/fifo", f->base);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/src/sub/sock", f->base);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	return c;
}

/* Push with files in a child, guarded by alarm(): a push that opened the
 * FIFO for reading would hang, and the child would die of SIGALRM. */
static int push_files_in_child(struct fixture *f, int dirfd, const char *rel)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char err[1024];

		alarm(30);
		if (aml_spool_push(&f->sp, "with files", 10, dirfd, rel, NULL,
				   err, sizeof(err)) != 0) {
			fprintf(stderr, "push: %s\n", err);
			_exit(1);
		}
		_exit(0);
	}
	return wait_child(pid);
}

static int have_openat2(void)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH,
	};
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno != ENOSYS && errno != EPERM;
}

static void test_push_files(void **state)
{
	struct fixture *f = *state;
	struct aml_spool_replay_stats st;
	struct files_seen seen = { 0 };
	char *c = make_tree(f), path[512];
	int basefd = open(f->base, O_PATH | O_DIRECTORY | O_CLOEXEC);

	assert_true(basefd >= 0);
	assert_int_equal(push_files_in_child(f, basefd, "src"), 0);
	close(basefd);
	assert_int_equal(count_dir(at(f, "tmp", path)), 0);
	assert_int_equal(aml_spool_replay(&f->sp, files_apply, &seen, &st, f->err,
					  sizeof(f->err)), 0);
	assert_int_equal(seen.calls, 1);
	assert_true(seen.has_files);
	assert_non_null(seen.a);
	assert_string_equal(seen.a, "alpha");
	assert_non_null(seen.b);
	assert_string_equal(seen.b, "bravo\n");
	assert_non_null(seen.c);
	assert_int_equal(seen.c_len, C_LEN);
	assert_memory_equal(seen.c, c, C_LEN);
	/* As an upload would: a link that stays inside is followed (when
	 * openat2 can prove it stays inside; valgrind lacks it), one that
	 * loops back into its own directory is not. */
	assert_int_equal(seen.link, have_openat2());
	assert_false(seen.dirlink);
	assert_false(seen.fifo);
	assert_false(seen.sock);
	assert_true(seen.empty_dir);
	assert_int_equal(st.applied, 1);
	/* The entry and its files are gone. */
	assert_int_equal(count_dir(at(f, "q", path)), 0);
	assert_int_equal(count_dir(at(f, "tmp", path)), 0);
	files_seen_free(&seen);
}

/* Any directory below the descriptor; an entry without files has none. */
static void test_push_files_whole_dir_and_none(void **state)
{
	struct fixture *f = *state;
	struct aml_spool_replay_stats st;
	struct files_seen seen = { 0 };
	char *c = make_tree(f);
	int srcfd;

	srcfd = open(f->base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(srcfd >= 0);
	push(f, "no files", NULL);
	assert_int_equal(push_files_in_child(f, srcfd, "src/"), 0);
	close(srcfd);
	assert_int_equal(aml_spool_replay(&f->sp, files_apply, &seen, &st, f->err,
					  sizeof(f->err)), 0);
	assert_int_equal(seen.calls, 2);
	assert_true(seen.has_files);
	assert_non_null(seen.a);
	assert_string_equal(seen.a, "alpha");
	assert_non_null(seen.c);
	assert_memory_equal(seen.c, c, C_LEN);
	assert_false(seen.fifo);
	files_seen_free(&seen);
}

/* Refused sources queue nothing and leave nothing in tmp/. */
static void test_push_files_refusals(void **state)
{
	struct fixture *f = *state;
	char path[512];
	int basefd;

	make_tree(f);
	basefd = open(f->base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(basefd >= 0);
	snprintf(path, sizeof(path), "%s/srclink", f->base);
	assert_int_equal(symlink("src", path), 0);

	assert_int_equal(aml_spool_push(&f->sp, "x", 1, basefd, "srclink",
					NULL, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "symbolic link"));
	assert_int_equal(aml_spool_push(&f->sp, "x", 1, basefd, "src/sub/dirlink",
					NULL, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "symbolic link"));
	assert_int_equal(aml_spool_push(&f->sp, "x", 1, basefd, "/etc", NULL,
					f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "absolute"));
	assert_int_equal(aml_spool_push(&f->sp, "x", 1, basefd, "src/a.txt",
					NULL, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "src/a.txt"));
	assert_int_equal(aml_spool_push(&f->sp, "x", 1, basefd, "nope", NULL,
					f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "nope"));

	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);
	assert_int_equal(count_dir(at(f, "tmp", path)), 0);
	close(basefd);
}

/* A file that cannot be read fails the push, naming it; nothing is
 * queued.  Root reads anything, so only as another user. */
static void test_push_files_unreadable(void **state)
{
	struct fixture *f = *state;
	char path[512];
	int basefd;

	if (geteuid() == 0) {
		print_message("# SKIP: root reads a file of mode 0000\n");
		skip();
	}
	make_tree(f);
	snprintf(path, sizeof(path), "%s/src/sub/b.txt", f->base);
	assert_int_equal(chmod(path, 0), 0);
	basefd = open(f->base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(basefd >= 0);
	assert_int_equal(aml_spool_push(&f->sp, "x", 1, basefd, "src", NULL,
					f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "src/sub/b.txt"));
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);
	assert_int_equal(count_dir(at(f, "tmp", path)), 0);
	close(basefd);
}

/* ---- concurrency and the lock ---- */

enum { PROCS = 8, EACH = 50 };

struct interleaved {
	int seen[PROCS][EACH];
	int next[PROCS];
	int out_of_order, duplicate, malformed;
};

static enum aml_spool_verdict interleaved_apply(void *ctx,
						const struct aml_spool_entry *e,
						char *errbuf, size_t errlen)
{
	struct interleaved *s = ctx;
	int p, i;

	(void)errbuf;
	(void)errlen;
	if (sscanf(e->record, "%d:%d", &p, &i) != 2 || p < 0 || p >= PROCS ||
	    i < 0 || i >= EACH) {
		s->malformed++;
		return AML_SPOOL_APPLIED;
	}
	if (s->seen[p][i]++)
		s->duplicate++;
	if (i != s->next[p])
		s->out_of_order++;
	s->next[p] = i + 1;
	return AML_SPOOL_APPLIED;
}

static void test_concurrent_pushers(void **state)
{
	struct fixture *f = *state;
	struct aml_spool_replay_stats st;
	struct interleaved counts = { 0 }, *s = &counts;
	pid_t pids[PROCS];
	int go[2];

	assert_int_equal(pipe(go), 0);
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			char rec[32], err[1024], c;

			close(go[1]);
			/* All start together: the pipe reads end-of-file
			 * when the parent closes it. */
			if (read(go[0], &c, 1) != 0)
				_exit(2);
			for (int i = 0; i < EACH; i++) {
				int n = snprintf(rec, sizeof(rec), "%d:%d", p, i);

				if (aml_spool_push(&f->sp, rec, (size_t)n, -1, NULL,
						   NULL, err, sizeof(err)) != 0) {
					fprintf(stderr, "push: %s\n", err);
					_exit(3);
				}
			}
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int p = 0; p < PROCS; p++)
		assert_int_equal(wait_child(pids[p]), 0);
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)),
			 PROCS * EACH);

	assert_int_equal(aml_spool_replay(&f->sp, interleaved_apply, s, &st,
					  f->err, sizeof(f->err)), 0);
	assert_int_equal(st.applied, PROCS * EACH);
	assert_int_equal(s->malformed, 0);
	assert_int_equal(s->duplicate, 0);
	assert_int_equal(s->out_of_order, 0);
	for (int p = 0; p < PROCS; p++) {
		assert_int_equal(s->next[p], EACH);
		for (int i = 0; i < EACH; i++)
			assert_int_equal(s->seen[p][i], 1);
	}
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);
}

struct blocking {
	int ready, release;   /* pipe ends */
};

static enum aml_spool_verdict blocking_apply(void *ctx,
					     const struct aml_spool_entry *e,
					     char *errbuf, size_t errlen)
{
	struct blocking *b = ctx;
	char c;

	(void)e;
	(void)errbuf;
	(void)errlen;
	if (write(b->ready, "r", 1) != 1 || read(b->release, &c, 1) < 0)
		return AML_SPOOL_RETRY;
	return AML_SPOOL_APPLIED;
}

/* While [apply] runs, the replayer holds the lock exclusive: no push
 * (shared) nor second replay can take it. */
static void test_replay_holds_lock(void **state)
{
	struct fixture *f = *state;
	int ready[2], release[2], lockfd;
	char c, path[512];
	pid_t pid;

	push(f, "slow", NULL);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(release), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct blocking b = { ready[1], release[0] };
		struct aml_spool_replay_stats st;
		char err[1024];

		close(ready[0]);
		close(release[1]);
		if (aml_spool_replay(&f->sp, blocking_apply, &b, &st, err,
				     sizeof(err)) != 0)
			_exit(1);
		_exit(st.applied == 1 ? 0 : 2);
	}
	close(ready[1]);
	close(release[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	lockfd = open(at(f, "lock", path), O_RDWR | O_CLOEXEC);
	assert_true(lockfd >= 0);
	assert_int_equal(flock(lockfd, LOCK_SH | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(write(release[1], "go", 2), 2);
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(flock(lockfd, LOCK_SH | LOCK_NB), 0);
	close(lockfd);
	close(ready[0]);
	close(release[1]);
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);
}

/* ---- crashes ---- */

/* A push killed before its rename leaves only tmp/: never replayed nor
 * counted; removed once a day old.  Leftovers of a replay killed while
 * removing an applied entry go at once; junk in q/ is no entry. */
static void test_leftovers_not_replayed(void **state)
{
	struct fixture *f = *state;
	struct aml_spool_replay_stats st;
	struct applied a = { 0 };
	struct timespec old[2];
	char path[512];

	push(f, "real", NULL);
	plant_entry(f, "tmp", "1234.00000000000000aa", "torn, young");
	plant_entry(f, "tmp", "1234.00000000000000bb", "torn, old");
	plant_entry(f, "tmp", "00000000000000000001-aaaaaa.applied", "applied");
	plant_entry(f, "q", "junk", "not an entry");
	plant_entry(f, "q", "0001-abcdef", "not an entry either");
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 2 * 86400;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, at(f, "tmp/1234.00000000000000bb", path),
				   old, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 1);

	replay_ok(f, &a, &st);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.rec[0].text, "real");
	assert_int_equal(st.remaining, 0);
	assert_int_equal(access(at(f, "tmp/1234.00000000000000aa/record", path), F_OK), 0);
	assert_int_equal(access(at(f, "tmp/1234.00000000000000bb", path), F_OK), -1);
	assert_int_equal(access(at(f, "tmp/00000000000000000001-aaaaaa.applied", path),
				F_OK), -1);
	assert_int_equal(count_dir(at(f, "q", path)), 2);   /* the junk */
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);
	applied_free(&a);
}

struct crash_ctx {
	int log;              /* O_APPEND */
	const char *die_on;   /* _exit inside apply, after its effect */
};

static enum aml_spool_verdict logging_apply(void *ctx,
					    const struct aml_spool_entry *e,
					    char *errbuf, size_t errlen)
{
	struct crash_ctx *c = ctx;

	(void)errbuf;
	(void)errlen;
	if (write(c->log, e->record, e->len) != (ssize_t)e->len ||
	    write(c->log, "\n", 1) != 1)
		return AML_SPOOL_RETRY;
	if (c->die_on && strcmp(e->record, c->die_on) == 0)
		_exit(7);
	return AML_SPOOL_APPLIED;
}

/*
 * The contract: an entry is removed only after apply succeeded, so a
 * crash between the two applies it again (at least once, deduplicated by
 * the history layer); an entry removed before the crash is never applied
 * again, and the order holds.
 */
static void test_crash_inside_apply(void **state)
{
	struct fixture *f = *state;
	char names[4][AML_SPOOL_NAME_MAX], logpath[128], rel[64], path[512];
	struct aml_spool_replay_stats st;
	struct crash_ctx c;
	char *log;
	pid_t pid;

	for (int i = 0; i < 4; i++) {
		char rec[8];

		snprintf(rec, sizeof(rec), "e%d", i + 1);
		push(f, rec, names[i]);
	}
	snprintf(logpath, sizeof(logpath), "%s/log", f->base);
	c.log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(c.log >= 0);
	c.die_on = "e2";
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[1024];

		aml_spool_replay(&f->sp, logging_apply, &c, &st, err, sizeof(err));
		_exit(3);   /* never reached */
	}
	assert_int_equal(wait_child(pid), 7);
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 3);
	snprintf(rel, sizeof(rel), "q/%s", names[0]);
	assert_int_equal(access(at(f, rel, path), F_OK), -1);
	snprintf(rel, sizeof(rel), "q/%s", names[1]);
	assert_int_equal(access(at(f, rel, path), F_OK), 0);

	/* Restart: the dead replayer's lock went with it. */
	c.die_on = NULL;
	assert_int_equal(aml_spool_replay(&f->sp, logging_apply, &c, &st, f->err,
					  sizeof(f->err)), 0);
	assert_int_equal(st.applied, 3);
	close(c.log);
	log = read_file(logpath, NULL);
	assert_non_null(log);
	assert_string_equal(log, "e1\ne2\ne2\ne3\ne4\n");
	free(log);
	assert_int_equal(aml_spool_count(&f->sp, f->err, sizeof(f->err)), 0);
	assert_int_equal(count_dir(at(f, "tmp", path)), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_creates_private_dir),
		T(test_open_missing_spool_dir),
		T(test_open_refuses_symlink),
		T(test_open_refuses_open_modes),
		T(test_open_steps_around_other_owner),
		T(test_open_refuses_regular_file),
		T(test_push_replay_order),
		T(test_binary_and_empty_records),
		T(test_order_survives_clock_step),
		T(test_sequence_exhausted),
		T(test_retry_stops_and_resumes),
		T(test_rejected),
		T(test_rejected_without_reason),
		T(test_keep_goes_on),
		T(test_open_dir),
		T(test_unreadable_entry_fails),
		T(test_push_files),
		T(test_push_files_whole_dir_and_none),
		T(test_push_files_refusals),
		T(test_push_files_unreadable),
		T(test_concurrent_pushers),
		T(test_replay_holds_lock),
		T(test_leftovers_not_replayed),
		T(test_crash_inside_apply),
	};

	/* Children report by exit status; SIGPIPE must not hide one. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
