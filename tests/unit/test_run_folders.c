/*
 * Unit tests of plugin/run_folders.c: the names a run may declare, the
 * list the plan carries, its ':' form in the job's environment, and the
 * folders made on the node, including what a hostile snapshot plants
 * under their names.
 */
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

#include "run_folders.h"

static void test_names(void **state)
{
	char longest[AML_RUN_FOLDER_NAME_MAX + 2];

	(void)state;
	assert_true(aml_run_folder_name_ok("model"));
	assert_true(aml_run_folder_name_ok("_x9"));
	assert_false(aml_run_folder_name_ok(NULL));
	assert_false(aml_run_folder_name_ok(""));
	assert_false(aml_run_folder_name_ok("."));
	assert_false(aml_run_folder_name_ok(".."));
	assert_false(aml_run_folder_name_ok("a/b"));
	assert_false(aml_run_folder_name_ok("9lives"));
	assert_false(aml_run_folder_name_ok("a-b"));
	memset(longest, 'a', AML_RUN_FOLDER_NAME_MAX);
	longest[AML_RUN_FOLDER_NAME_MAX] = '\0';
	assert_true(aml_run_folder_name_ok(longest));
	strcat(longest, "a");
	assert_false(aml_run_folder_name_ok(longest));

	assert_true(aml_run_folder_ok("outputs"));
	assert_true(aml_run_folder_ok("logs"));
	assert_true(aml_run_folder_ok("outputs/model"));
	assert_false(aml_run_folder_ok("outputs/"));
	assert_false(aml_run_folder_ok("outputs/.."));
	assert_false(aml_run_folder_ok("outputs/a/b"));
	assert_false(aml_run_folder_ok("outputsx"));
	assert_false(aml_run_folder_ok("logs/x"));
	assert_false(aml_run_folder_ok("/etc"));
	assert_false(aml_run_folder_ok("../outputs"));
	assert_false(aml_run_folder_ok(""));
}

static void test_list_join_split(void **state)
{
	char *names_items[] = { "model", "metrics", NULL };
	struct aml_strlist names = { names_items, 2 };
	struct aml_strlist dirs = { 0 }, back = { 0 };
	char err[256], *joined;

	(void)state;
	assert_int_equal(aml_run_folders_list(&names, &dirs), 0);
	assert_int_equal(dirs.count, 4);
	assert_string_equal(dirs.items[0], "outputs");
	assert_string_equal(dirs.items[1], "logs");
	assert_string_equal(dirs.items[2], "outputs/model");
	assert_string_equal(dirs.items[3], "outputs/metrics");
	joined = aml_run_folders_join(&dirs);
	assert_string_equal(joined, "outputs:logs:outputs/model:outputs/metrics");
	assert_int_equal(aml_run_folders_split(joined, &back, err,
					       sizeof(err)), 0);
	assert_int_equal(back.count, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(back.items[i], dirs.items[i]);
	free(joined);
	aml_strlist_free(&dirs);
	aml_strlist_free(&back);

	/* No names: the two every run gets. */
	assert_int_equal(aml_run_folders_list(NULL, &dirs), 0);
	assert_int_equal(dirs.count, 2);
	aml_strlist_free(&dirs);

	names_items[1] = "../etc";
	assert_int_equal(aml_run_folders_list(&names, &dirs), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(dirs.count, 0);

	assert_int_equal(aml_run_folders_split(NULL, &back, err, sizeof(err)),
			 0);
	assert_int_equal(back.count, 0);
	assert_int_equal(aml_run_folders_split("", &back, err, sizeof(err)),
			 0);
	assert_int_equal(back.count, 0);
}

/* A job's environment is the user's to write: every entry is judged. */
static void test_split_refuses(void **state)
{
	static const char *const bad[] = {
		"outputs:../../etc", "outputs/../..", "/etc", "outputs::logs",
		"outputs/a/b", "outputs/x:outputs/.",
	};
	struct aml_strlist out = { 0 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(aml_run_folders_split(bad[i], &out, err,
						       sizeof(err)), -1);
		assert_int_equal(out.count, 0);
		assert_non_null(strstr(err, "AML_OUTPUT_DIRS names"));
	}
}

struct tree {
	char dir[64];
	int fd;
};

static struct tree *tree_new(void)
{
	struct tree *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	strcpy(t->dir, "/tmp/aml-test-folders.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->fd = open(t->dir, O_RDONLY | O_DIRECTORY);
	assert_true(t->fd >= 0);
	return t;
}

static void tree_free(struct tree *t)
{
	char cmd[256];

	close(t->fd);
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'; rm -rf '%s'", t->dir,
		 t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
}

static int is_dir(const struct tree *t, const char *rel)
{
	struct stat st;

	return fstatat(t->fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

static void test_make(void **state)
{
	char *items[] = { "outputs/model", "outputs/metrics", NULL };
	struct aml_strlist dirs = { items, 2 };
	struct tree *t = tree_new();
	char err[512];

	(void)state;
	assert_int_equal(aml_run_folders_make(t->fd, &dirs, err, sizeof(err)),
			 0);
	assert_true(is_dir(t, "outputs"));
	assert_true(is_dir(t, "logs"));
	assert_true(is_dir(t, "outputs/model"));
	assert_true(is_dir(t, "outputs/metrics"));
	/* Again (a second step on the node): nothing changes, no error. */
	assert_int_equal(aml_run_folders_make(t->fd, &dirs, err, sizeof(err)),
			 0);
	/* No declared outputs: still outputs and logs. */
	tree_free(t);
	t = tree_new();
	assert_int_equal(aml_run_folders_make(t->fd, NULL, err, sizeof(err)),
			 0);
	assert_true(is_dir(t, "outputs"));
	assert_true(is_dir(t, "logs"));
	tree_free(t);
}

/* A folder the snapshot brought read-only is the user's: made writable. */
static void test_make_read_only_folder(void **state)
{
	struct tree *t = tree_new();
	struct stat st;
	char err[512];

	(void)state;
	assert_int_equal(mkdirat(t->fd, "outputs", 0555), 0);
	assert_int_equal(aml_run_folders_make(t->fd, NULL, err, sizeof(err)),
			 0);
	assert_int_equal(fstatat(t->fd, "outputs", &st, 0), 0);
	assert_int_equal(st.st_mode & S_IRWXU, S_IRWXU);
	tree_free(t);
}

/* What a hostile snapshot plants: refused, and nothing made outside. */
static void test_make_refuses_links(void **state)
{
	char *items[] = { "outputs/x", NULL };
	struct aml_strlist dirs = { items, 1 };
	struct tree *t = tree_new(), *target = tree_new();
	char err[512], path[160];

	(void)state;
	/* outputs -> another directory */
	assert_int_equal(symlinkat(target->dir, t->fd, "outputs"), 0);
	assert_int_equal(aml_run_folders_make(t->fd, &dirs, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "outputs is a symbolic link in the run's snapshot; Azure ML makes it a folder for the run's files: remove the link from the source directory (or list it in .amlignore)");
	snprintf(path, sizeof(path), "%s/x", target->dir);
	assert_int_equal(access(path, F_OK), -1);
	tree_free(t);

	/* outputs/x -> another directory, one level down */
	t = tree_new();
	assert_int_equal(mkdirat(t->fd, "outputs", 0755), 0);
	assert_int_equal(symlinkat(target->dir, t->fd, "outputs/x"), 0);
	assert_int_equal(aml_run_folders_make(t->fd, &dirs, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "outputs/x is a symbolic link"));
	tree_free(t);

	/* logs -> a dangling name: not created through the link */
	t = tree_new();
	snprintf(path, sizeof(path), "%s/made", target->dir);
	assert_int_equal(symlinkat(path, t->fd, "logs"), 0);
	assert_int_equal(aml_run_folders_make(t->fd, NULL, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "logs is a symbolic link"));
	assert_int_equal(access(path, F_OK), -1);
	tree_free(t);

	/* outputs a regular file */
	t = tree_new();
	close(openat(t->fd, "outputs", O_WRONLY | O_CREAT, 0644));
	assert_int_equal(aml_run_folders_make(t->fd, NULL, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "outputs is a file in the run's snapshot, not a folder; Azure ML makes it a folder for the run's files: remove it from the source directory (or list it in .amlignore)");
	tree_free(t);

	/* a FIFO does not hold the node up */
	t = tree_new();
	assert_int_equal(mkfifoat(t->fd, "outputs", 0644), 0);
	assert_int_equal(aml_run_folders_make(t->fd, NULL, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "outputs is a file"));
	tree_free(t);
	tree_free(target);
}

/* The node checks the list too (a forged one may reach it). */
static void test_make_refuses_bad_entries(void **state)
{
	char *items[] = { "outputs/../../x", NULL };
	struct aml_strlist dirs = { items, 1 };
	struct tree *t = tree_new();
	char err[512];

	(void)state;
	assert_int_equal(aml_run_folders_make(t->fd, &dirs, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "is no run folder"));
	tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_list_join_split),
		cmocka_unit_test(test_split_refuses),
		cmocka_unit_test(test_make),
		cmocka_unit_test(test_make_read_only_folder),
		cmocka_unit_test(test_make_refuses_links),
		cmocka_unit_test(test_make_refuses_bad_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
