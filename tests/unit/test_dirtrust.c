/*
 * test_dirtrust.c: one case per rule of each named check
 * (plugin/dirtrust.c), on real directories and files whose owner and
 * mode the test sets: the bad owners need chown, so those cases run as
 * root (the test suite does) and are skipped otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirtrust.h"
#include "tree.h"

#define NOBODY 65534
#define USER 1234

struct fixture {
	char base[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_dirtrust.XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	(void)aml_tree_remove(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* A new entry [name] (a directory when [dir], else a file) owned by
 * [uid] with [mode], as fstat of its O_NOFOLLOW open sees it. */
static struct stat made(struct fixture *f, const char *name, int dir,
			uid_t uid, mode_t mode)
{
	struct stat st;
	int fd;

	snprintf(f->path, sizeof(f->path), "%s/%s", f->base, name);
	if (dir)
		assert_int_equal(mkdir(f->path, 0700), 0);
	else
		close(open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600));
	if (uid != geteuid())
		assert_int_equal(chown(f->path, uid, uid), 0);
	assert_int_equal(chmod(f->path, mode), 0);
	fd = open(f->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	return st;
}

/* A symlink [name], as fstat of an O_PATH|O_NOFOLLOW open sees it. */
static struct stat link_made(struct fixture *f, const char *name)
{
	struct stat st;
	int fd;

	snprintf(f->path, sizeof(f->path), "%s/%s", f->base, name);
	assert_int_equal(symlink(f->base, f->path), 0);
	fd = open(f->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	return st;
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip();
}

/* RunDir: root's (or the caller's), sticky when others may write. */
static void test_shared_dir(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	need_root();
	st = made(f, "tmp_like", 1, 0, 01777);
	assert_int_equal(aml_trust_shared_dir(&st, USER), AML_TRUSTED);
	st = made(f, "closed", 1, 0, 0755);
	assert_int_equal(aml_trust_shared_dir(&st, USER), AML_TRUSTED);
	/* The caller's own: a private setup. */
	st = made(f, "callers", 1, USER, 0755);
	assert_int_equal(aml_trust_shared_dir(&st, USER), AML_TRUSTED);
	/* Writable by all without the sticky bit: anyone renames anyone's
	 * directory away. */
	st = made(f, "not_sticky", 1, 0, 0777);
	assert_int_equal(aml_trust_shared_dir(&st, USER), AML_UNTRUSTED_MODE);
	st = made(f, "group", 1, 0, 0775);
	assert_int_equal(aml_trust_shared_dir(&st, USER), AML_UNTRUSTED_MODE);
	/* An ordinary user's, sticky or not: its owner renames anything. */
	st = made(f, "users", 1, NOBODY, 01777);
	assert_int_equal(aml_trust_shared_dir(&st, USER), AML_UNTRUSTED_OWNER);
	st = made(f, "file", 0, 0, 0644);
	assert_int_equal(aml_trust_shared_dir(&st, USER), AML_UNTRUSTED_KIND);
	st = link_made(f, "link");
	assert_int_equal(aml_trust_shared_dir(&st, USER), AML_UNTRUSTED_LINK);
}

/* A tree of run history, a run directory: the user's, nobody else
 * writes it; others may read. */
static void test_user_dir(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	need_root();
	st = made(f, "own", 1, USER, 0755);
	assert_int_equal(aml_trust_user_dir(&st, USER), AML_TRUSTED);
	st = made(f, "own_closed", 1, USER, 0700);
	assert_int_equal(aml_trust_user_dir(&st, USER), AML_TRUSTED);
	st = made(f, "squatted", 1, NOBODY, 0755);
	assert_int_equal(aml_trust_user_dir(&st, USER), AML_UNTRUSTED_OWNER);
	st = made(f, "roots", 1, 0, 0755);
	assert_int_equal(aml_trust_user_dir(&st, USER), AML_UNTRUSTED_OWNER);
	st = made(f, "group_writes", 1, USER, 0775);
	assert_int_equal(aml_trust_user_dir(&st, USER), AML_UNTRUSTED_MODE);
	st = made(f, "sticky_shared", 1, USER, 01777);
	assert_int_equal(aml_trust_user_dir(&st, USER), AML_UNTRUSTED_MODE);
	st = made(f, "file", 0, USER, 0600);
	assert_int_equal(aml_trust_user_dir(&st, USER), AML_UNTRUSTED_KIND);
	st = link_made(f, "link");
	assert_int_equal(aml_trust_user_dir(&st, geteuid()),
			 AML_UNTRUSTED_LINK);
}

/* A spool, a node's directory of a run: the user's alone. */
static void test_private_dir(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	need_root();
	st = made(f, "own", 1, USER, 0700);
	assert_int_equal(aml_trust_private_dir(&st, USER), AML_TRUSTED);
	st = made(f, "less", 1, USER, 0500);
	assert_int_equal(aml_trust_private_dir(&st, USER), AML_TRUSTED);
	/* Readable by others is already too much here. */
	st = made(f, "readable", 1, USER, 0755);
	assert_int_equal(aml_trust_private_dir(&st, USER), AML_UNTRUSTED_MODE);
	st = made(f, "group_search", 1, USER, 0710);
	assert_int_equal(aml_trust_private_dir(&st, USER), AML_UNTRUSTED_MODE);
	st = made(f, "squatted", 1, NOBODY, 0700);
	assert_int_equal(aml_trust_private_dir(&st, USER),
			 AML_UNTRUSTED_OWNER);
	st = made(f, "file", 0, USER, 0600);
	assert_int_equal(aml_trust_private_dir(&st, USER), AML_UNTRUSTED_KIND);
	st = link_made(f, "link");
	assert_int_equal(aml_trust_private_dir(&st, geteuid()),
			 AML_UNTRUSTED_LINK);
}

/* The rule both are, as userdir's callers give it their bits (moved
 * here with aml_userdir_is_own, which it replaces). */
static void test_own_dir(void **state)
{
	struct stat st = { 0 };

	(void)state;
	st.st_mode = S_IFDIR | 0755;
	st.st_uid = 7;
	assert_int_equal(aml_trust_own_dir(&st, 7, S_IWGRP | S_IWOTH),
			 AML_TRUSTED);
	assert_int_not_equal(aml_trust_own_dir(&st, 8, S_IWGRP | S_IWOTH),
			     AML_TRUSTED);
	assert_int_not_equal(aml_trust_own_dir(&st, 7, 077), AML_TRUSTED);
	st.st_mode = S_IFLNK | 0777;
	assert_int_not_equal(aml_trust_own_dir(&st, 7, 0), AML_TRUSTED);
	st.st_mode = S_IFDIR | 01777;
	assert_int_not_equal(aml_trust_own_dir(&st, 7, S_IWGRP | S_IWOTH),
			     AML_TRUSTED);
}

/* Credentials: root's or their user's, and nobody else's to read. */
static void test_secret_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	need_root();
	st = made(f, "users", 0, USER, 0600);
	assert_int_equal(aml_trust_secret_file(&st, USER), AML_TRUSTED);
	st = made(f, "roots", 0, 0, 0400);
	assert_int_equal(aml_trust_secret_file(&st, USER), AML_TRUSTED);
	st = made(f, "someone_elses", 0, NOBODY, 0600);
	assert_int_equal(aml_trust_secret_file(&st, USER),
			 AML_UNTRUSTED_OWNER);
	st = made(f, "group_reads", 0, USER, 0640);
	assert_int_equal(aml_trust_secret_file(&st, USER), AML_UNTRUSTED_MODE);
	st = made(f, "others_write", 0, USER, 0602);
	assert_int_equal(aml_trust_secret_file(&st, USER), AML_UNTRUSTED_MODE);
	st = made(f, "group_exec", 0, USER, 0610);
	assert_int_equal(aml_trust_secret_file(&st, USER), AML_UNTRUSTED_MODE);
	st = made(f, "dir", 1, USER, 0700);
	assert_int_equal(aml_trust_secret_file(&st, USER), AML_UNTRUSTED_KIND);
	st = link_made(f, "link");
	assert_int_equal(aml_trust_secret_file(&st, geteuid()),
			 AML_UNTRUSTED_LINK);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_shared_dir),
		T(test_user_dir),
		T(test_private_dir),
		T(test_own_dir),
		T(test_secret_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
