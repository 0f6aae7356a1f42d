/*
 * test_history_file_io.c: plugin/history_file_io.c, the file backend's
 * reading of a run's files and its verdict on a failed system call.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history_file_internal.h"
#include "tree.h"

static char base[64];

static int setup(void **state)
{
	(void)state;
	strcpy(base, "/tmp/test_history_file_io.XXXXXX");
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return aml_tree_remove(AT_FDCWD, base) < 0 ? -1 : 0;
}

static int open_base(void)
{
	int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static void put(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Only a judgement of the backend's own (no errno) is a refusal; any
 * system error is the location's, to be spooled. */
static void test_verdict(void **state)
{
	(void)state;
	assert_int_equal(hf_verdict(0), AML_BACKEND_REFUSED);
	assert_int_equal(hf_verdict(EACCES), AML_BACKEND_UNAVAILABLE);
	assert_int_equal(hf_verdict(ENOSPC), AML_BACKEND_UNAVAILABLE);
	assert_int_equal(hf_verdict(EINVAL), AML_BACKEND_UNAVAILABLE);
}

static void test_sysfail_names_what_and_hint(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(hf_sysfail(err, sizeof(err), EROFS, "run %s", "r1"),
			 AML_BACKEND_UNAVAILABLE);
	assert_string_equal(err, "run history: run r1: Read-only file system "
			    "(an admin must make it writable again)");
	assert_string_equal(hf_admin_hint(ENOENT), "");
	assert_non_null(strstr(hf_admin_hint(EDQUOT), "space"));
	assert_non_null(strstr(hf_admin_hint(ESTALE), "mount"));
}

static void test_read_file_at(void **state)
{
	int dfd = open_base();
	char *text = NULL;
	size_t len = 0;

	(void)state;
	put(dfd, "a", "hello");
	assert_int_equal(hf_read_file_at(dfd, "a", &text, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(text, "hello", 5);
	free(text);
	assert_int_equal(hf_read_file_at(dfd, "missing", &text, &len), -1);
	assert_int_equal(errno, ENOENT);
	/* A symlink is never followed, a directory is not a file. */
	assert_int_equal(symlinkat("a", dfd, "link"), 0);
	assert_int_equal(hf_read_file_at(dfd, "link", &text, &len), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(mkdirat(dfd, "d", 0700), 0);
	assert_int_equal(hf_read_file_at(dfd, "d", &text, &len), -1);
	assert_int_equal(errno, EINVAL);
	close(dfd);
}

static void test_read_kvlist_at(void **state)
{
	struct aml_kvlist list;
	int dfd = open_base();
	char why[160];

	(void)state;
	/* Missing: an empty list. */
	assert_int_equal(hf_read_kvlist_at(dfd, "tags.json", &list, why,
					   sizeof(why)), 0);
	assert_int_equal(list.count, 0);
	assert_string_equal(why, "");
	put(dfd, "tags.json", "{\"a\": \"1\", \"b\": \"2\"}");
	assert_int_equal(hf_read_kvlist_at(dfd, "tags.json", &list, why,
					   sizeof(why)), 0);
	assert_int_equal(list.count, 2);
	assert_string_equal(aml_kvlist_get(&list, "b"), "2");
	aml_kvlist_free(&list);
	put(dfd, "bad.json", "{\"a\": ");
	assert_int_equal(hf_read_kvlist_at(dfd, "bad.json", &list, why,
					   sizeof(why)), -1);
	assert_int_equal(errno, EBADMSG);
	put(dfd, "num.json", "{\"a\": 1}");
	assert_int_equal(hf_read_kvlist_at(dfd, "num.json", &list, why,
					   sizeof(why)), -1);
	assert_string_not_equal(why, "");
	aml_kvlist_free(&list);
	close(dfd);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_verdict),
		T(test_sysfail_names_what_and_hint),
		T(test_read_file_at),
		T(test_read_kvlist_at),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
