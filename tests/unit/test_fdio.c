/*
 * test_fdio.c: opening below a directory without being led out of it
 * (aml_open_beneath in plugin/fdio.c), by openat2 and by its fallback:
 * the fallback is reached by the test-only switch, and by a seccomp
 * filter that blocks openat2 with EPERM as older container runtimes do.
 * Every case is run in both modes; where they differ (which errno, or
 * whether a symlink inside is followed) both answers are checked.
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
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdio.h"
#include "tree.h"

struct fixture {
	char base[64];   /* holds root/ and outside/ */
	int rootfd;
};

static void make_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[128];

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_fdio.XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	/* root/a/b/file; root/in -> a; root/in_file -> a/b/file;
	 * root/out -> ../outside; root/abs -> /tmp. */
	snprintf(p, sizeof(p), "%s/root", f->base);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/root/a", f->base);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/root/a/b", f->base);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/root/a/b/file", f->base);
	make_file(p);
	snprintf(p, sizeof(p), "%s/outside", f->base);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/outside/file", f->base);
	make_file(p);
	snprintf(p, sizeof(p), "%s/root/in", f->base);
	if (symlink("a", p) != 0)
		return -1;
	snprintf(p, sizeof(p), "%s/root/in_file", f->base);
	if (symlink("a/b/file", p) != 0)
		return -1;
	snprintf(p, sizeof(p), "%s/root/out", f->base);
	if (symlink("../outside", p) != 0)
		return -1;
	snprintf(p, sizeof(p), "%s/root/abs", f->base);
	if (symlink("/tmp", p) != 0)
		return -1;
	snprintf(p, sizeof(p), "%s/root", f->base);
	f->rootfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->rootfd < 0)
		return -1;
	aml_open_beneath_force_fallback(0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_open_beneath_force_fallback(0);
	close(f->rootfd);
	(void)aml_tree_remove(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* Whether this kernel (and whatever runs us: valgrind) has openat2. */
static int kernel_has_openat2(void)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* aml_open_beneath's errno, 0 when it opened; [*by] which mode
 * decided. */
static int try_open(struct fixture *f, const char *path, int flags,
		    int follow, int *by)
{
	int fd;

	errno = 0;
	fd = aml_open_beneath(f->rootfd, path, flags, follow, by);
	if (fd < 0)
		return errno ? errno : -1;
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	return 0;
}

/* What must hold in whichever mode is in force: [kernel] says which
 * one the caller expects. */
static void check_cases(struct fixture *f, int kernel)
{
	int by = -1;

	/* Plain paths and the root itself, both ways. */
	assert_int_equal(try_open(f, "a/b/file", O_RDONLY, 0, &by), 0);
	assert_int_equal(by, kernel);
	assert_int_equal(try_open(f, "a/b/file", O_RDONLY, 1, &by), 0);
	assert_int_equal(try_open(f, "", O_RDONLY | O_DIRECTORY, 0, NULL), 0);
	assert_int_equal(try_open(f, "nothing", O_RDONLY, 0, &by), ENOENT);
	assert_int_equal(by, kernel);

	/* Nothing followed: a symlink last is ELOOP either way; one on the
	 * way is ELOOP for openat2, ENOTDIR for the fallback. */
	assert_int_equal(try_open(f, "in_file", O_RDONLY, 0, &by), ELOOP);
	assert_int_equal(try_open(f, "in/b/file", O_RDONLY, 0, &by),
			 kernel ? ELOOP : ENOTDIR);
	assert_int_equal(try_open(f, "out/file", O_RDONLY, 0, &by),
			 kernel ? ELOOP : ENOTDIR);

	/* Followed inside: only openat2 can prove a symlink stays
	 * beneath, so the fallback follows none. */
	assert_int_equal(try_open(f, "in/b/file", O_RDONLY, 1, &by),
			 kernel ? 0 : ENOTDIR);
	assert_int_equal(by, kernel);
	assert_int_equal(try_open(f, "in_file", O_RDONLY, 1, &by),
			 kernel ? 0 : ELOOP);
	/* Never out: relative or absolute.  (open(2) says ENOTDIR, not
	 * ELOOP, when O_DIRECTORY meets a symlink it does not follow.) */
	assert_int_equal(try_open(f, "out/file", O_RDONLY, 1, &by),
			 kernel ? EXDEV : ENOTDIR);
	assert_int_equal(try_open(f, "abs", O_RDONLY | O_DIRECTORY, 1, &by),
			 kernel ? EXDEV : ENOTDIR);
	assert_int_equal(try_open(f, "out", O_RDONLY, 1, &by),
			 kernel ? EXDEV : ELOOP);
}

static void test_by_openat2(void **state)
{
	if (!kernel_has_openat2())
		skip();
	check_cases(*state, 1);
}

static void test_by_the_fallback(void **state)
{
	aml_open_beneath_force_fallback(1);
	check_cases(*state, 0);
	/* And openat2 is asked again once allowed. */
	aml_open_beneath_force_fallback(0);
	if (kernel_has_openat2())
		check_cases(*state, 1);
}

/* A seccomp filter that answers openat2 with EPERM, as Docker before
 * 20.10 did: the fallback takes over and stays. */
static void test_blocked_openat2_falls_back(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	if (!kernel_has_openat2())
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_filter code[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
				 offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
			BPF_STMT(BPF_RET | BPF_K,
				 SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {
			.len = sizeof(code) / sizeof(code[0]),
			.filter = code,
		};
		int by = -1, fd;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
			_exit(2);
		fd = aml_open_beneath(f->rootfd, "a/b/file", O_RDONLY, 1, &by);
		if (fd < 0 || by != 0)
			_exit(3);
		close(fd);
		errno = 0;
		fd = aml_open_beneath(f->rootfd, "out/file", O_RDONLY, 1, &by);
		_exit(fd < 0 && errno == ENOTDIR && by == 0 ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_file_kind(void **state)
{
	(void)state;
	assert_string_equal(aml_file_kind(S_IFIFO | 0644, "?"), "a FIFO");
	assert_string_equal(aml_file_kind(S_IFSOCK | 0755, "?"), "a socket");
	assert_string_equal(aml_file_kind(S_IFCHR, "?"), "a character device");
	assert_string_equal(aml_file_kind(S_IFBLK, "?"), "a block device");
	assert_string_equal(aml_file_kind(S_IFREG | 0644, "?"), "?");
	assert_string_equal(aml_file_kind(S_IFDIR, "other"), "other");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_by_openat2),
		T(test_by_the_fallback),
		T(test_blocked_openat2_falls_back),
		cmocka_unit_test(test_file_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
