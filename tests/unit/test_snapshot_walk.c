/*
 * Unit tests of plugin/snapshot_walk.c: what the walk finds does not
 * depend on the threads that found it, and a refused tree's messages come
 * in one order, the order of a single walk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot_walk.h"

#define DIRS 60
#define FILES 7

struct fixture {
	char root[64];
	int rootfd;
};

static void make(struct fixture *f, const char *rel, int is_dir)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	if (is_dir) {
		assert_int_equal(mkdir(path, 0755), 0);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, rel, strlen(rel)), (ssize_t)strlen(rel));
	close(fd);
}

/* DIRS directories (some nested) of FILES files each, a symlink, a .git
 * directory and a log. */
static void make_tree(struct fixture *f)
{
	char rel[256];

	for (int d = 0; d < DIRS; d++) {
		if (d % 10 == 0)
			snprintf(rel, sizeof(rel), "d%02d", d);
		else
			snprintf(rel, sizeof(rel), "d%02d/s%d", d - d % 10, d % 10);
		make(f, rel, 1);
		for (int i = 0; i < FILES; i++) {
			char file[300];

			snprintf(file, sizeof(file), "%s/f%d.py", rel, i);
			make(f, file, 0);
		}
	}
	make(f, ".git", 1);
	make(f, ".git/config", 0);
	make(f, "run.log", 0);
	snprintf(rel, sizeof(rel), "%s/d00/link", f->root);
	assert_int_equal(symlink("f0.py", rel), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->root, "/tmp/aml-test-walk.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->rootfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	close(f->rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

struct ticks {
	pthread_t caller;
	int count;
	int other_thread;
};

static void tick(void *arg)
{
	struct ticks *t = arg;

	t->count++;
	if (!pthread_equal(t->caller, pthread_self()))
		t->other_thread = 1;
}

static void test_finds_every_entry_sorted(void **state)
{
	struct fixture *f = *state;
	struct aml_ignore *ignore = aml_ignore_parse("*.log\n", 6);
	struct aml_capture_stats stats = { 0 };
	struct aml_errors errs;
	struct ticks ticks = { .caller = pthread_self() };

	assert_non_null(ignore);
	make_tree(f);
	aml_errors_init(&errs, NULL);
	for (int round = 0; round < 5; round++) {
		struct aml_walk w = { .rootfd = f->rootfd, .ignore = ignore,
				      .stats = &stats, .errs = &errs,
				      .tick = tick, .tick_arg = &ticks };

		memset(&stats, 0, sizeof(stats));
		assert_int_equal(aml_snapshot_walk(&w), 0);
		assert_int_equal(errs.count, 0);
		assert_int_equal(w.n_found, DIRS * FILES + 1);
		assert_int_equal(stats.files, DIRS * FILES + 1);
		assert_int_equal(stats.ignored, 1);
		for (size_t i = 1; i < w.n_found; i++)
			assert_true(strcmp(w.found[i - 1].path, w.found[i].path) < 0);
		assert_string_equal(w.found[0].path, "d00/f0.py");
		assert_string_equal(w.found[FILES].path, "d00/link");
		assert_true(w.found[FILES].is_link);
		assert_string_equal(w.found[FILES].target, "f0.py");
		assert_false(w.found[0].fd_needed);
		aml_snapshot_walk_free(&w);
		assert_null(w.found);
	}
	assert_true(ticks.count > 0);
	assert_false(ticks.other_thread);
	aml_errors_free(&errs);
	aml_ignore_free(ignore);
}

/* A FIFO in many directories: every one refused, and the messages the
 * same, in the same order, walk after walk. */
static void test_refusals_in_one_order(void **state)
{
	struct fixture *f = *state;
	struct aml_capture_stats stats = { 0 };
	struct aml_errors first;

	make_tree(f);
	for (int d = 0; d < DIRS; d += 3) {
		char path[512];

		snprintf(path, sizeof(path), "%s/d%02d/pipe%d", f->root,
			 d - d % 10, d);
		assert_int_equal(mkfifo(path, 0644), 0);
	}
	for (int round = 0; round < 5; round++) {
		struct aml_errors errs;
		struct aml_walk w = { .rootfd = f->rootfd, .stats = &stats,
				      .errs = &errs };

		aml_errors_init(&errs, NULL);
		memset(&stats, 0, sizeof(stats));
		assert_int_equal(aml_snapshot_walk(&w), DIRS / 3);
		assert_int_equal(errs.count, DIRS / 3);
		/* counted once, not once per walk */
		assert_int_equal(stats.files, DIRS * FILES + 2);
		assert_non_null(strstr(errs.lines[0], "is a FIFO"));
		aml_snapshot_walk_free(&w);
		if (!round) {
			first = errs;
			continue;
		}
		for (size_t i = 0; i < errs.count; i++)
			assert_string_equal(errs.lines[i], first.lines[i]);
		aml_errors_free(&errs);
	}
	aml_errors_free(&first);
}

static void test_entry_error_escapes_the_path(void **state)
{
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, NULL);
	aml_snapshot_entry_error(&errs, "a\nb", "is %s", "odd");
	aml_snapshot_entry_error(&errs, "c", "cannot be read%s", NULL);
	assert_int_equal(errs.count, 2);
	assert_null(strchr(errs.lines[0], '\n'));
	assert_non_null(strstr(errs.lines[0], "is odd"));
	assert_non_null(strstr(errs.lines[1], "c: cannot be read"));
	aml_errors_free(&errs);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_finds_every_entry_sorted),
		T(test_refusals_in_one_order),
		cmocka_unit_test(test_entry_error_escapes_the_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
