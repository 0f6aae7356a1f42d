/*
 * test_userdir.c: a user's own directory in a shared one (plugin/userdir.c):
 * made with its exact mode, found again by every process of the user, and
 * never taken from a squatter: a directory, symlink or file another uid
 * made first under the user's name is stepped around, not trusted and not
 * a refusal.  The user's own mistakes are refused with the reason.
 *
 * Runs as root in the test suite: "another user" is nobody (65534),
 * through chown.  As an ordinary user those cases are skipped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userdir.h"
#include "tree.h"

#define NOBODY 65534
#define DENY_WRITE (S_IWGRP | S_IWOTH)

struct fixture {
	char base[64]; /* the shared directory, 1777 */
	int basefd;
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_userdir.XXXXXX");
	if (!mkdtemp(f->base) || chmod(f->base, 01777) != 0)
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
	aml_tree_remove(AT_FDCWD, f->base);
	free(f);
	return 0;
}

static int open_own(struct fixture *f, const char *name, int create,
		    struct aml_userdir *ud)
{
	return aml_userdir_open(f->basefd, f->base, name, geteuid(), 0755,
				DENY_WRITE, create, ud, f->err, sizeof(f->err));
}

static void skip_unless_root(void)
{
	if (geteuid() != 0)
		skip();
}

/* Another uid's entry [name] in the shared directory, of [kind]. */
static void squat(struct fixture *f, const char *name, char kind)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", f->base, name);
	switch (kind) {
	case 'd':
		assert_int_equal(mkdir(path, 0777), 0);
		assert_int_equal(chmod(path, 0777), 0);
		break;
	case 'l':
		assert_int_equal(symlink("/etc", path), 0);
		break;
	default: {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);

		assert_true(fd >= 0);
		close(fd);
	}
	}
	assert_int_equal(lchown(path, NOBODY, NOBODY), 0);
}

/* How many entries aml_userdir_open could choose for [name]. */
static int entries_named(struct fixture *f, const char *name)
{
	DIR *d = opendir(f->base);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += aml_userdir_name_matches(de->d_name, name);
	closedir(d);
	return n;
}

static void test_made_with_exact_mode(void **state)
{
	struct fixture *f = *state;
	struct aml_userdir ud;
	struct stat st;
	mode_t old = umask(077);

	assert_int_equal(open_own(f, "alice", 1, &ud), 0);
	umask(old);
	assert_true(ud.fd >= 0);
	assert_true(strstr(ud.path, "/alice") != NULL);
	assert_int_equal(fstat(ud.fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* The umask of the first process must not decide who may enter. */
	assert_int_equal(st.st_mode & 07777, 0755);
	aml_userdir_close(&ud);
	assert_int_equal(ud.fd, -1);
}

static void test_found_again(void **state)
{
	struct fixture *f = *state;
	struct aml_userdir a, b;

	assert_int_equal(open_own(f, "alice", 1, &a), 0);
	assert_int_equal(open_own(f, "alice", 0, &b), 0);
	assert_string_equal(a.path, b.path);
	aml_userdir_close(&a);
	aml_userdir_close(&b);
}

static void test_missing_without_create(void **state)
{
	struct fixture *f = *state;
	struct aml_userdir ud;

	assert_int_equal(open_own(f, "alice", 0, &ud), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(ud.fd, -1);
	assert_non_null(strstr(f->err, "/alice: No such file or directory"));
}

static void check_stepped_around(struct fixture *f, char kind)
{
	struct aml_userdir a, b;
	struct stat st;
	const char *entry;

	squat(f, "alice", kind);
	assert_int_equal(open_own(f, "alice", 1, &a), 0);
	entry = strrchr(a.path, '/') + 1;
	assert_true(aml_userdir_name_matches(entry, "alice"));
	assert_string_not_equal(entry, "alice");
	assert_int_equal(fstat(a.fd, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	/* Every later process finds the same one, with or without create. */
	assert_int_equal(open_own(f, "alice", 0, &b), 0);
	assert_string_equal(a.path, b.path);
	aml_userdir_close(&b);
	assert_int_equal(open_own(f, "alice", 1, &b), 0);
	assert_string_equal(a.path, b.path);
	aml_userdir_close(&a);
	aml_userdir_close(&b);
}

static void test_squatted_directory(void **state)
{
	skip_unless_root();
	check_stepped_around(*state, 'd');
}

static void test_squatted_symlink(void **state)
{
	skip_unless_root();
	check_stepped_around(*state, 'l');
}

static void test_squatted_file(void **state)
{
	skip_unless_root();
	check_stepped_around(*state, 'f');
}

/* Suffixed names of another uid, or of ours but open to others, are not
 * ours; the first good one in name order is. */
static void test_suffixed_choice(void **state)
{
	struct fixture *f = *state;
	struct aml_userdir ud;
	char path[256];

	skip_unless_root();
	squat(f, "alice", 'd');
	squat(f, "alice.00000000", 'd');
	snprintf(path, sizeof(path), "%s/alice.00000001", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0777), 0);
	snprintf(path, sizeof(path), "%s/alice.0000000f", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/alice.00000002", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/alice.2", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(open_own(f, "alice", 0, &ud), 0);
	assert_string_equal(strrchr(ud.path, '/') + 1, "alice.00000002");
	aml_userdir_close(&ud);
}

/* The user's own mistakes are reported, not stepped around: only they
 * can fix them. */
static void test_own_mistakes_refused(void **state)
{
	struct fixture *f = *state;
	struct aml_userdir ud;
	char path[256];

	snprintf(path, sizeof(path), "%s/open", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(open_own(f, "open", 1, &ud), -1);
	assert_non_null(strstr(f->err, "open to group or others (mode 0777)"));
	assert_int_equal(ud.fd, -1);

	snprintf(path, sizeof(path), "%s/link", f->base);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_int_equal(open_own(f, "link", 1, &ud), -1);
	assert_non_null(strstr(f->err, "symbolic link"));

	snprintf(path, sizeof(path), "%s/file", f->base);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(open_own(f, "file", 1, &ud), -1);
	assert_non_null(strstr(f->err, "not a directory"));
}

static void test_bad_names(void **state)
{
	struct fixture *f = *state;
	struct aml_userdir ud;
	static const char *const bad[] = { "", ".", "..", "a/b" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(open_own(f, bad[i], 1, &ud), -1);
		assert_non_null(strstr(f->err, "cannot name a directory"));
	}
}

static void test_name_matches(void **state)
{
	(void)state;
	assert_true(aml_userdir_name_matches("bob", "bob"));
	assert_true(aml_userdir_name_matches("bob.0123abcd", "bob"));
	assert_false(aml_userdir_name_matches("bob.0123ABCD", "bob"));
	assert_false(aml_userdir_name_matches("bob.0123abc", "bob"));
	assert_false(aml_userdir_name_matches("bob.0123abcde", "bob"));
	assert_false(aml_userdir_name_matches("bobby", "bob"));
	assert_false(aml_userdir_name_matches("bo", "bob"));
	assert_false(aml_userdir_name_matches("bob_0123abcd", "bob"));
}

/* The login name, else the uid: never a path of more than one entry. */
static void test_default_name(void **state)
{
	char name[64];

	(void)state;
	aml_userdir_default_name(0, name, sizeof(name));
	assert_string_equal(name, "root");
	aml_userdir_default_name(3999999999u, name, sizeof(name));
	assert_string_equal(name, "3999999999");
}

/* Processes of the user starting at once all end with one directory when
 * the name is free. */
static void test_concurrent_first_use(void **state)
{
	struct fixture *f = *state;
	struct aml_userdir ud;
	pid_t pids[8];
	int status;

	for (size_t i = 0; i < 8; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct aml_userdir mine;
			char err[256];
			int r = aml_userdir_open(f->basefd, f->base, "carol",
						 geteuid(), 0700, 077, 1, &mine,
						 err, sizeof(err));

			_exit(r == 0 && !strcmp(strrchr(mine.path, '/') + 1,
						"carol") ? 0 : 1);
		}
	}
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* One directory, and no suffixed twin beside it. */
	assert_int_equal(open_own(f, "carol", 0, &ud), 0);
	assert_string_equal(strrchr(ud.path, '/') + 1, "carol");
	aml_userdir_close(&ud);
	assert_int_equal(entries_named(f, "carol"), 1);
}

/* The judge of the scan below: directories only, and it counts. */
static int keep_dirs(void *ctx, const char *name, const struct stat *st)
{
	(void)name;
	++*(int *)ctx;
	return S_ISDIR(st->st_mode);
}

/* A root process's listing of a shared directory: the entries its
 * judge keeps, by name, each the entry itself (a symlink is not
 * followed), and no more than asked for looked at. */
static void test_scan(void **state)
{
	struct fixture *f = *state;
	struct aml_userdir_entry *list;
	char path[128];
	size_t n;
	int judged = 0, more = 1;

	snprintf(path, sizeof(path), "%s/zed", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/amy", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/link", f->base);
	assert_int_equal(symlink(f->base, path), 0);
	snprintf(path, sizeof(path), "%s/file", f->base);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(aml_userdir_scan(f->basefd, 100, keep_dirs, &judged,
					  &list, &n, &more), 0);
	assert_int_equal(judged, 4);
	assert_int_equal(more, 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "amy");
	assert_string_equal(list[1].name, "zed");
	assert_true(list[0].fd > STDERR_FILENO);
	assert_int_equal(list[0].uid, geteuid());
	aml_userdir_scan_free(list, n);

	judged = 0;
	assert_int_equal(aml_userdir_scan(f->basefd, 2, keep_dirs, &judged,
					  &list, &n, &more), 0);
	assert_int_equal(judged, 2);
	assert_int_equal(more, 1);
	aml_userdir_scan_free(list, n);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_made_with_exact_mode),
		T(test_found_again),
		T(test_missing_without_create),
		T(test_squatted_directory),
		T(test_squatted_symlink),
		T(test_squatted_file),
		T(test_suffixed_choice),
		T(test_own_mistakes_refused),
		T(test_bad_names),
		T(test_name_matches),
		T(test_default_name),
		T(test_concurrent_first_use),
		T(test_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
