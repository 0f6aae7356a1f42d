/*
 * test_tree.c: removing a tree (plugin/tree.c): everything below goes,
 * nothing a symlink leads to does, a directory its owner locked is
 * emptied anyway, a failure leaves the rest removed and is the one
 * reported, and a tree deeper than the bound is refused.
 *
 * The cases of an ordinary user removing their own tree run in a child
 * that became nobody (65534), so they need root; as an ordinary user
 * they are skipped.
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
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tree.h"

#define NOBODY 65534

struct fixture {
	char base[64];
	int basefd;
	char outside[64]; /* what symlinks in the tree lead to */
};

/* The fixture cleans up without the remover it tests. */
static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(path, 0700);
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_tree.XXXXXX");
	strcpy(f->outside, "/tmp/test_tree_out.XXXXXX");
	if (!mkdtemp(f->base) || !mkdtemp(f->outside) ||
	    chmod(f->base, 01777) != 0)
		return -1;
	f->basefd = open(f->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->basefd < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->basefd);
	nftw(f->base, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(f->outside, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static const char *at(struct fixture *f, const char *rel)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", f->base, rel);
	return buf[i];
}

static void make_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* chown -R [uid] of [path], symlinks themselves. */
static int chown_one_uid;
static int chown_one(const char *path, const struct stat *st, int flag,
		     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, (uid_t)chown_one_uid, (gid_t)chown_one_uid);
}

static void chown_tree(const char *path, uid_t uid)
{
	chown_one_uid = (int)uid;
	assert_int_equal(nftw(path, chown_one, 16, FTW_PHYS), 0);
}

/* aml_tree_remove(f->basefd, [name]) as nobody; the errno it failed
 * with, 0 on success, or -1 when the child could not run it. */
static int remove_as_nobody(struct fixture *f, const char *name)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			_exit(255);
		_exit(aml_tree_remove(f->basefd, name) == 0 ? 0
			      : errno > 0 && errno < 255 ? errno : 254);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status) == 255 ? -1 : WEXITSTATUS(status);
}

static void test_removes_everything_below(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkdir(at(f, "t"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/a"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/a/b"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/empty"), 0755), 0);
	make_file(at(f, "t/top"));
	make_file(at(f, "t/a/one"));
	make_file(at(f, "t/a/b/two"));
	assert_int_equal(mkfifo(at(f, "t/a/fifo"), 0600), 0);
	assert_int_equal(aml_tree_remove(f->basefd, "t"), 0);
	assert_false(exists(at(f, "t")));
}

static void test_gone_already_is_success(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(aml_tree_remove(f->basefd, "none"), 0);
}

static void test_a_file_is_removed_itself(void **state)
{
	struct fixture *f = *state;

	make_file(at(f, "plain"));
	assert_int_equal(aml_tree_remove(f->basefd, "plain"), 0);
	assert_false(exists(at(f, "plain")));
}

/* Threat: a user plants symlinks to what the remover may remove but
 * they may not; only the links go. */
static void test_symlinks_are_never_followed(void **state)
{
	struct fixture *f = *state;
	char target[128];

	snprintf(target, sizeof(target), "%s/keep", f->outside);
	assert_int_equal(mkdir(target, 0755), 0);
	snprintf(target, sizeof(target), "%s/keep/file", f->outside);
	make_file(target);
	snprintf(target, sizeof(target), "%s/keep", f->outside);

	assert_int_equal(mkdir(at(f, "t"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/d"), 0755), 0);
	assert_int_equal(symlink(target, at(f, "t/to_dir")), 0);
	assert_int_equal(symlink(target, at(f, "t/d/to_dir")), 0);
	snprintf(target, sizeof(target), "%s/keep/file", f->outside);
	assert_int_equal(symlink(target, at(f, "t/to_file")), 0);
	assert_int_equal(symlink("/nonexistent", at(f, "t/dangling")), 0);
	assert_int_equal(aml_tree_remove(f->basefd, "t"), 0);
	assert_false(exists(at(f, "t")));
	assert_true(exists(target));

	/* The name given, a symlink itself: the link goes, not its
	 * target's entries. */
	snprintf(target, sizeof(target), "%s/keep", f->outside);
	assert_int_equal(symlink(target, at(f, "link")), 0);
	assert_int_equal(aml_tree_remove(f->basefd, "link"), 0);
	assert_false(exists(at(f, "link")));
	snprintf(target, sizeof(target), "%s/keep/file", f->outside);
	assert_true(exists(target));
}

/* A user who took away their own bits on a directory still has it
 * removed whole: it is theirs to empty. */
static void test_owner_locked_directories_are_emptied(void **state)
{
	struct fixture *f = *state;
	char target[128];

	if (geteuid() != 0)
		skip();
	snprintf(target, sizeof(target), "%s/file", f->outside);
	make_file(target);
	assert_int_equal(chmod(target, 0444), 0);
	assert_int_equal(mkdir(at(f, "t"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/noread"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/nowrite"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/nosearch"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/nowrite/deeper"), 0755), 0);
	make_file(at(f, "t/noread/a"));
	make_file(at(f, "t/nowrite/a"));
	make_file(at(f, "t/nosearch/a"));
	make_file(at(f, "t/nowrite/deeper/a"));
	/* The bits come back on directories only, never through a link. */
	assert_int_equal(symlink(target, at(f, "t/nowrite/link")), 0);
	chown_tree(at(f, "t"), NOBODY);
	assert_int_equal(chmod(at(f, "t/noread"), 0300), 0);
	assert_int_equal(chmod(at(f, "t/nowrite"), 0500), 0);
	assert_int_equal(chmod(at(f, "t/nowrite/deeper"), 0), 0);
	assert_int_equal(chmod(at(f, "t/nosearch"), 0600), 0);
	assert_int_equal(chmod(at(f, "t"), 0500), 0);
	assert_int_equal(remove_as_nobody(f, "t"), 0);
	assert_false(exists(at(f, "t")));
	{
		struct stat st;

		assert_int_equal(stat(target, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0444);
	}
}

/* What cannot be removed does not keep the rest: everything else goes
 * and the first failure is what the caller learns. */
static void test_a_failure_leaves_the_rest_removed(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(at(f, "t"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/a"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/z"), 0755), 0);
	assert_int_equal(mkdir(at(f, "t/root"), 0755), 0);
	make_file(at(f, "t/a/one"));
	make_file(at(f, "t/z/one"));
	make_file(at(f, "t/root/theirs"));
	make_file(at(f, "t/file"));
	chown_tree(at(f, "t"), NOBODY);
	/* Root's own directory inside: nobody cannot empty it. */
	chown_tree(at(f, "t/root"), 0);
	assert_int_equal(remove_as_nobody(f, "t"), EACCES);
	assert_true(exists(at(f, "t/root/theirs")));
	assert_false(exists(at(f, "t/a")));
	assert_false(exists(at(f, "t/z")));
	assert_false(exists(at(f, "t/file")));
}

/* The directory [levels] "d" below [fd] (which is closed), made on the
 * way when [make]. */
static int go_down(int fd, int levels, int make)
{
	for (int i = 0; i < levels; i++) {
		int next;

		if (make)
			assert_int_equal(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	return fd;
}

/* [levels] directories "d" nested in [name]. */
static void make_deep(struct fixture *f, const char *name, int levels)
{
	int fd;

	assert_int_equal(mkdirat(f->basefd, name, 0755), 0);
	fd = openat(f->basefd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(go_down(fd, levels, 1));
}

static void test_depth_is_bounded(void **state)
{
	struct fixture *f = *state;

	make_deep(f, "fits", AML_TREE_DEPTH_MAX);
	assert_int_equal(aml_tree_remove(f->basefd, "fits"), 0);
	assert_false(exists(at(f, "fits")));

	make_deep(f, "deeper", AML_TREE_DEPTH_MAX + 1);
	errno = 0;
	assert_int_equal(aml_tree_remove(f->basefd, "deeper"), -1);
	assert_int_equal(errno, ELOOP);
	assert_true(exists(at(f, "deeper")));
	/* The fixture's own removal goes by path, which this is too deep
	 * for: cut it shorter first. */
	{
		int fd = openat(f->basefd, "deeper", O_RDONLY | O_DIRECTORY);

		assert_true(fd >= 0);
		fd = go_down(fd, AML_TREE_DEPTH_MAX - 1, 0);
		assert_int_equal(aml_tree_remove(fd, "d"), 0);
		close(fd);
	}
	assert_int_equal(aml_tree_remove(f->basefd, "deeper"), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_removes_everything_below),
		T(test_gone_already_is_success),
		T(test_a_file_is_removed_itself),
		T(test_symlinks_are_never_followed),
		T(test_owner_locked_directories_are_emptied),
		T(test_a_failure_leaves_the_rest_removed),
		T(test_depth_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
