/*
 * test_env_cache.c: built environments, once per key (plugin/env_cache.c),
 * with a fake builder that makes a directory, or fails, or is killed.
 *
 * Runs as root in the test suite: each case acts as nobody (65534) as a
 * run's user would, and root makes what only root may (shared/, another
 * user's squatted directory).  As an ordinary user those cases are
 * skipped and the others run as that user.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "env_cache.h"
#include "errors.h"
#include "privdrop.h"
#include "tree.h"

#define NOBODY 65534
#define OTHER 12345       /* a uid that is neither the test's nor nobody */

static const char KEY_A[] =
	"3f2a9c0000000000000000000000000000000000000000000000000000000001";
static const char KEY_B[] =
	"3f2a9c0000000000000000000000000000000000000000000000000000000002";
static const char KEY_C[] =
	"3f2a9c0000000000000000000000000000000000000000000000000000000003";

struct fixture {
	char base[64];            /* EnvDir, 1777 */
	char calls[PATH_MAX];     /* one byte a build, from any process */
	struct aml_identity saved;
	char prefix[PATH_MAX], log[PATH_MAX], err[1024];
};

/* What the fake builder does. */
struct fake {
	const char *calls;
	int fail;
	int sleep_ms;
	int die;               /* killed after making half the tree */
};

static int fake_build(void *arg, const char *prefix, int log_fd,
		      char *errbuf, size_t errlen)
{
	struct fake *fk = arg;
	char file[PATH_MAX];
	int fd = open(fk->calls, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd < 0 || write(fd, "x", 1) != 1)
		return aml_fail(errbuf, errlen, "calls: %s", strerror(errno));
	close(fd);
	if (write(log_fd, "building\n", 9) != 9)
		return aml_fail(errbuf, errlen, "log: %s", strerror(errno));
	/* The contract: the prefix is absent when the build starts. */
	if (mkdir(prefix, 0755) < 0)
		return aml_fail(errbuf, errlen, "%s: %s", prefix,
				strerror(errno));
	snprintf(file, sizeof(file), "%s/python", prefix);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0)
		return aml_fail(errbuf, errlen, "%s: %s", file,
				strerror(errno));
	close(fd);
	if (fk->die)
		raise(SIGKILL);
	if (fk->sleep_ms)
		usleep((useconds_t)fk->sleep_ms * 1000);
	if (fk->fail)
		return aml_fail(errbuf, errlen, "fake: no matching "
				"distribution found for nosuchpkg==1.0");
	return 0;
}

static struct aml_env_builder builder(struct fake *fk)
{
	struct aml_env_builder b = { "pip", "pip, 1 package", fake_build, fk };

	return b;
}

static int is_root(void)
{
	return getuid() == 0;
}

static void as_user(struct fixture *f)
{
	if (is_root())
		assert_int_equal(aml_identity_become(NOBODY, NOBODY, &f->saved,
						     f->err, sizeof(f->err)), 0);
}

static void as_root(struct fixture *f)
{
	if (is_root() && f->saved.switched)
		aml_identity_restore(&f->saved);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_env_cache.XXXXXX");
	if (!mkdtemp(f->base) || chmod(f->base, 01777) != 0)
		return -1;
	snprintf(f->calls, sizeof(f->calls), "%s.calls", f->base);
	fd = open(f->calls, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || fchmod(fd, 0666) < 0)
		return -1;
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	as_root(f);
	aml_tree_remove(AT_FDCWD, f->base);
	unlink(f->calls);
	free(f);
	return 0;
}

static long calls(const struct fixture *f)
{
	struct stat st;

	return stat(f->calls, &st) == 0 ? (long)st.st_size : -1;
}

static enum aml_env_outcome get(struct fixture *f, const char *key,
				struct fake *fk, int64_t wait_ms)
{
	struct aml_env_builder b = builder(fk);

	fk->calls = f->calls;
	return aml_env_cache_get(f->base, key, &b, wait_ms, NULL, NULL,
				 f->prefix, sizeof(f->prefix), f->log,
				 sizeof(f->log), f->err, sizeof(f->err));
}

static int is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* <base>/<what> */
static const char *at(const struct fixture *f, const char *what)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->base, what);
	return path;
}

/* The caller's own directory's path, from a prefix in it. */
static void own_dir(const struct fixture *f, char *buf, size_t len)
{
	char *slash;

	snprintf(buf, len, "%s", f->prefix);
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
}

static void skip_unless_root(void)
{
	if (!is_root()) {
		print_message("# SKIP: needs root to make root's and another "
			      "user's directories\n");
		skip();
	}
}

static void test_built_once_then_cached(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 };
	char first[PATH_MAX];

	as_user(f);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_BUILT);
	assert_string_equal(f->err, "");
	assert_true(is_dir(f->prefix));
	assert_non_null(strstr(f->prefix, KEY_A));
	assert_true(strncmp(f->prefix, f->base, strlen(f->base)) == 0);
	assert_non_null(strstr(f->log, ".log"));
	assert_int_equal(access(f->log, R_OK), 0);
	assert_int_equal(calls(f), 1);
	snprintf(first, sizeof(first), "%s", f->prefix);

	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_CACHED);
	assert_int_equal(calls(f), 1);
	assert_string_equal(f->prefix, first);
	assert_string_equal(f->log, "");

	assert_int_equal(aml_env_cache_lookup(f->base, KEY_A, f->prefix,
					      sizeof(f->prefix), f->err,
					      sizeof(f->err)), 1);
	assert_string_equal(f->prefix, first);
	assert_int_equal(aml_env_cache_lookup(f->base, KEY_B, f->prefix,
					      sizeof(f->prefix), f->err,
					      sizeof(f->err)), 0);
}

static void test_bad_key_and_env_dir(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 };
	struct aml_env_builder b = builder(&fk);

	as_user(f);
	assert_int_equal(get(f, "3F2A", &fk, 0), AML_ENV_ERROR);
	assert_non_null(strstr(f->err, "64 lowercase hex"));
	assert_int_equal(aml_env_cache_get("/nonexistent/env", KEY_A, &b, 0,
					   NULL, NULL, f->prefix,
					   sizeof(f->prefix), f->log,
					   sizeof(f->log), f->err,
					   sizeof(f->err)),
			 AML_ENV_ERROR);
	assert_non_null(strstr(f->err, "does not exist"));
	assert_int_equal(calls(f), 0);
}

static void on_build(void *arg)
{
	(*(int *)arg)++;
}

/* Two runs asking at once: one builds, the other waits and uses it. */
static void test_concurrent_build_once(void **state)
{
	struct fixture *f = *state;
	pid_t pids[2];
	int built = 0, cached = 0;

	as_user(f);
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct fake fk = { .sleep_ms = 300 };
			enum aml_env_outcome o = get(f, KEY_A, &fk, 10000);

			_exit(is_dir(f->prefix) && strstr(f->prefix, KEY_A)
				      ? (int)o : 9);
		}
	}
	for (int i = 0; i < 2; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		built += WEXITSTATUS(status) == AML_ENV_BUILT;
		cached += WEXITSTATUS(status) == AML_ENV_CACHED;
	}
	assert_int_equal(built, 1);
	assert_int_equal(cached, 1);
	assert_int_equal(calls(f), 1);
}

/* A builder killed mid-way leaves <key>/ without .ready: the next run
 * removes it and builds again (the fake's mkdir fails otherwise). */
static void test_killed_builder_rebuilt(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 };
	int status, started = 0;
	pid_t pid;

	as_user(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fake dying = { .die = 1 };

		get(f, KEY_A, &dying, 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(aml_env_cache_lookup(f->base, KEY_A, f->prefix,
					      sizeof(f->prefix), f->err,
					      sizeof(f->err)), 0);
	{
		struct aml_env_builder b = builder(&fk);

		fk.calls = f->calls;
		assert_int_equal(aml_env_cache_get(f->base, KEY_A, &b, 1000,
						   on_build, &started,
						   f->prefix,
						   sizeof(f->prefix), f->log,
						   sizeof(f->log), f->err,
						   sizeof(f->err)),
				 AML_ENV_BUILT);
	}
	assert_string_equal(f->err, "");
	assert_int_equal(started, 1);
	assert_int_equal(calls(f), 2);
}

/* A failure is remembered for the retry window, not built in a loop. */
static void test_failure_remembered(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { .fail = 1 };
	char failed[2 * PATH_MAX], own[PATH_MAX];
	struct timespec old[2];

	as_user(f);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_FAILED);
	assert_string_equal(f->err, "fake: no matching distribution found "
				    "for nosuchpkg==1.0");
	assert_string_equal(f->prefix, "");
	assert_int_equal(access(f->log, R_OK), 0);
	assert_int_equal(calls(f), 1);
	snprintf(own, sizeof(own), "%s", f->log);
	*strrchr(own, '.') = '\0';
	assert_false(is_dir(own));   /* the failed build's tree is gone */

	fk.fail = 0;
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_FAILED);
	assert_int_equal(calls(f), 1);
	assert_non_null(strstr(f->err, "nosuchpkg==1.0 (its build failed "
				       "at "));
	assert_non_null(strstr(f->err, "not tried again before"));
	assert_int_equal(access(f->log, R_OK), 0);

	/* The window has passed. */
	snprintf(own, sizeof(own), "%s", f->log);
	*strrchr(own, '/') = '\0';
	snprintf(failed, sizeof(failed), "%s/%s.failed", own, KEY_A);
	clock_gettime(CLOCK_REALTIME, &old[0]);
	old[0].tv_sec -= AML_ENV_RETRY_AFTER_S + 1;
	old[1] = old[0];
	assert_int_equal(utimensat(AT_FDCWD, failed, old, 0), 0);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_BUILT);
	assert_int_equal(calls(f), 2);
	assert_int_equal(access(failed, F_OK), -1);
}

/* Another run building [key] for [ms], once its build has started. */
static pid_t slow_builder(struct fixture *f, const char *key, int ms)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct fake slow = { .sleep_ms = ms };

		_exit(get(f, key, &slow, 0) == AML_ENV_BUILT ? 0 : 1);
	}
	while (calls(f) < 1)
		usleep(5000);
	return pid;
}

static void reap_builder(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Another run's build is waited for, up to wait_ms. */
static void test_wait_honours_wait_ms(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 };
	int64_t t0, took;
	pid_t pid;

	as_user(f);
	pid = slow_builder(f, KEY_A, 1500);
	t0 = aml_monotonic_ms();
	assert_int_equal(get(f, KEY_A, &fk, 300), AML_ENV_FAILED);
	took = aml_monotonic_ms() - t0;
	assert_true(took >= 290);
	assert_true(took < 1200);
	assert_non_null(strstr(f->err, "still being built by another run "
				       "since "));
	assert_non_null(strstr(f->err, "(pip, 1 package)"));

	assert_int_equal(get(f, KEY_A, &fk, 10000), AML_ENV_CACHED);
	assert_int_equal(calls(f), 1);
	reap_builder(pid);

	/* wait_ms 0: no wait at all. */
	assert_int_equal(get(f, KEY_B, &fk, 0), AML_ENV_BUILT);
}

/* Root's build goes to shared/, and every user's run uses it. */
static void test_shared_used_when_roots(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 };
	char shared[PATH_MAX];

	skip_unless_root();
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_BUILT);
	snprintf(shared, sizeof(shared), "%s/shared/%s", f->base, KEY_A);
	assert_string_equal(f->prefix, shared);

	as_user(f);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_CACHED);
	assert_string_equal(f->prefix, shared);
	assert_string_equal(f->err, "");
	assert_int_equal(calls(f), 1);
	assert_int_equal(aml_env_cache_lookup(f->base, KEY_A, f->prefix,
					      sizeof(f->prefix), f->err,
					      sizeof(f->err)), 1);
	assert_string_equal(f->prefix, shared);
}

/*
 * Root builds [key] into shared/, [tamper] changes it as root, then a
 * user's run must ignore it, saying [why], and build its own.
 */
static void shared_ignored(struct fixture *f, const char *key,
			   const char *tamper, const char *why)
{
	struct fake fk = { 0 };
	char shared[PATH_MAX];
	long before;

	as_root(f);
	assert_int_equal(get(f, key, &fk, 1000), AML_ENV_BUILT);
	assert_int_equal(system(tamper), 0);
	before = calls(f);
	snprintf(shared, sizeof(shared), "%s/shared/", f->base);

	as_user(f);
	assert_int_equal(aml_env_cache_lookup(f->base, key, f->prefix,
					      sizeof(f->prefix), f->err,
					      sizeof(f->err)), 0);
	assert_non_null(strstr(f->err, why));
	assert_int_equal(get(f, key, &fk, 1000), AML_ENV_BUILT);
	assert_int_equal(calls(f), before + 1);
	assert_true(strncmp(f->prefix, shared, strlen(shared)) != 0);
	assert_non_null(strstr(f->err, why));
	assert_non_null(strstr(f->err, "ignored (only root's environments "
				       "are shared)"));
}

static void test_shared_ignored_unless_roots(void **state)
{
	struct fixture *f = *state;
	char cmd[3][PATH_MAX + 128];

	skip_unless_root();
	snprintf(cmd[0], sizeof(cmd[0]), "chown %d %s/shared/%s", OTHER,
		 f->base, KEY_A);
	shared_ignored(f, KEY_A, cmd[0], "is owned by uid 12345, not root");
	snprintf(cmd[1], sizeof(cmd[1]), "chown %d %s/shared/%s.ready", OTHER,
		 f->base, KEY_B);
	shared_ignored(f, KEY_B, cmd[1], "is owned by uid 12345, not root");
	snprintf(cmd[2], sizeof(cmd[2]), "mv %s/shared/%s %s/elsewhere && "
		 "ln -s %s/elsewhere %s/shared/%s", f->base, KEY_C, f->base,
		 f->base, f->base, KEY_C);
	shared_ignored(f, KEY_C, cmd[2], "is a symbolic link");
}

static void test_shared_dir_ignored_unless_roots(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 64];

	skip_unless_root();
	snprintf(cmd, sizeof(cmd), "chmod 0775 %s/shared", f->base);
	shared_ignored(f, KEY_A, cmd, "is writable by group or others "
				      "(mode 0775)");
	as_root(f);
	snprintf(cmd, sizeof(cmd), "chmod 0755 %s/shared", f->base);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "chown %d %s/shared", OTHER, f->base);
	shared_ignored(f, KEY_B, cmd, "is owned by uid 12345, not root");
	as_root(f);
	snprintf(cmd, sizeof(cmd), "chown 0 %s/shared", f->base);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "mv %s/shared %s/real && ln -s real "
		 "%s/shared", f->base, f->base, f->base);
	shared_ignored(f, KEY_C, cmd, "is a symbolic link or not a directory");
}

/* Root's umask does not decide whether users can use root's builds. */
static void test_shared_despite_roots_umask(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 };
	mode_t old;

	skip_unless_root();
	old = umask(077);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_BUILT);
	umask(old);
	as_user(f);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_CACHED);
	assert_string_equal(f->err, "");
	assert_int_equal(calls(f), 1);
}

/* A user who made shared/ first in a 1777 EnvDir does not get root's
 * builds into it, nor other users' runs to use it. */
static void test_shared_squatted(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 };

	skip_unless_root();
	as_user(f);
	assert_int_equal(mkdir(at(f, "shared"), 0755), 0);
	as_root(f);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_ERROR);
	assert_non_null(strstr(f->err, "is owned by uid 65534, not root: "
				       "refused"));
	assert_int_equal(calls(f), 0);
}

/* Another user's directory named like ours is stepped around. */
static void test_squatter_stepped_around(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 };
	char own[PATH_MAX];

	skip_unless_root();
	assert_int_equal(mkdir(at(f, "nobody"), 0777), 0);
	assert_int_equal(chown(at(f, "nobody"), OTHER, OTHER), 0);
	assert_int_equal(chmod(at(f, "nobody"), 0777), 0);
	as_user(f);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_BUILT);
	own_dir(f, own, sizeof(own));
	assert_true(strncmp(own, at(f, "nobody."), strlen(at(f, "nobody.")))
		    == 0);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_CACHED);
	assert_int_equal(calls(f), 1);
}

struct seen {
	int n;
	char notes[4][300];
	char keys[4][AML_ENV_KEY_LEN + 1];
};

static void remember(void *arg, const struct aml_env_entry *e)
{
	struct seen *s = arg;

	if (s->n < 4) {
		snprintf(s->notes[s->n], sizeof(s->notes[0]), "%s", e->note);
		snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", e->key);
	}
	s->n++;
}

/* [key]'s last use in the directory of [prefix], [seconds] ago. */
static void age(const char *prefix, const char *key, int seconds)
{
	char own[PATH_MAX], ready[2 * PATH_MAX];
	struct timespec ts[2];

	snprintf(own, sizeof(own), "%s", prefix);
	*strrchr(own, '/') = '\0';
	snprintf(ready, sizeof(ready), "%s/%s.ready", own, key);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= seconds;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, ready, ts, AT_SYMLINK_NOFOLLOW),
			 0);
}

/* gc removes what was not used lately and failures, never what a run
 * holds; what a run holds stays whole. */
static void test_gc_and_hold(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 }, failing = { .fail = 1 };
	struct aml_env_hold h;
	struct seen seen = { 0 };
	char held[PATH_MAX], prefix_a[PATH_MAX];

	as_user(f);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_BUILT);
	snprintf(prefix_a, sizeof(prefix_a), "%s", f->prefix);
	assert_int_equal(get(f, KEY_B, &fk, 1000), AML_ENV_BUILT);
	assert_int_equal(get(f, KEY_C, &failing, 1000), AML_ENV_FAILED);
	age(prefix_a, KEY_A, 3600);
	age(prefix_a, KEY_B, 3600);

	assert_int_equal(aml_env_cache_hold(f->base, KEY_B, &h, held,
					    sizeof(held), f->err,
					    sizeof(f->err)), 1);
	assert_true(h.fd >= 0);
	age(prefix_a, KEY_B, 3600);   /* the hold dated it: undo that */
	assert_int_equal(aml_env_cache_gc(f->base, 60, remember, &seen,
					  f->err, sizeof(f->err)), 2);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.keys[0], KEY_A);
	assert_non_null(strstr(seen.notes[0], "unused since "));
	assert_string_equal(seen.keys[1], KEY_C);
	assert_non_null(strstr(seen.notes[1], "its last build failed: fake: "
					      "no matching distribution"));
	assert_false(is_dir(prefix_a));
	assert_true(is_dir(held));
	assert_int_equal(aml_env_cache_lookup(f->base, KEY_B, f->prefix,
					      sizeof(f->prefix), f->err,
					      sizeof(f->err)), 1);

	/* A failure gone, the next run builds at once. */
	assert_int_equal(get(f, KEY_C, &fk, 1000), AML_ENV_BUILT);

	aml_env_cache_release(&h);
	aml_env_cache_release(&h);
	seen.n = 0;
	assert_int_equal(aml_env_cache_gc(f->base, 60, remember, &seen,
					  f->err, sizeof(f->err)), 1);
	assert_string_equal(seen.keys[0], KEY_B);
	assert_false(is_dir(held));
	assert_int_equal(aml_env_cache_hold(f->base, KEY_B, &h, held,
					    sizeof(held), f->err,
					    sizeof(f->err)), 0);
	assert_int_equal(h.fd, -1);
}

/* A build in progress is not gc's to take. */
static void test_gc_leaves_builders(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };
	pid_t pid;

	as_user(f);
	pid = slow_builder(f, KEY_A, 800);
	assert_int_equal(aml_env_cache_gc(f->base, 0, remember, &seen, f->err,
					  sizeof(f->err)), 0);
	assert_int_equal(seen.n, 0);
	reap_builder(pid);
	assert_int_equal(aml_env_cache_lookup(f->base, KEY_A, f->prefix,
					      sizeof(f->prefix), f->err,
					      sizeof(f->err)), 1);
}

struct listing {
	int n, ready, failed, shared;
	char what[256];
};

static void count(void *arg, const struct aml_env_entry *e)
{
	struct listing *l = arg;

	l->n++;
	l->ready += e->ready;
	l->failed += e->failed;
	l->shared += e->shared;
	if (e->ready) {
		snprintf(l->what, sizeof(l->what), "%s|%s|%d", e->kind, e->what,
			 e->bytes > 0 && e->built_ms > 0 && e->used_ms > 0);
	}
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct fake fk = { 0 }, failing = { .fail = 1 };
	struct listing l = { 0 };

	if (is_root())
		assert_int_equal(get(f, KEY_C, &fk, 1000), AML_ENV_BUILT);
	as_user(f);
	assert_int_equal(get(f, KEY_A, &fk, 1000), AML_ENV_BUILT);
	assert_int_equal(get(f, KEY_B, &failing, 1000), AML_ENV_FAILED);
	assert_int_equal(aml_env_cache_list(f->base, count, &l, f->err,
					    sizeof(f->err)), 0);
	assert_int_equal(l.n, is_root() ? 3 : 2);
	assert_int_equal(l.ready, is_root() ? 2 : 1);
	assert_int_equal(l.failed, 1);
	assert_int_equal(l.shared, is_root() ? 1 : 0);
	assert_string_equal(l.what, "pip|pip, 1 package|1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_built_once_then_cached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_key_and_env_dir,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_build_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_builder_rebuilt,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_remembered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_honours_wait_ms,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_used_when_roots,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_shared_ignored_unless_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_shared_dir_ignored_unless_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_squatted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_shared_despite_roots_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_squatter_stepped_around,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_and_hold, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gc_leaves_builders, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
