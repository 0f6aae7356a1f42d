/*
 * test_history_file_find.c: plugin/history_file_find.c, where a run of
 * the file backend is: the experiment a generated id names, what an entry
 * of HistoryDir is by its mode, the names a run may have, and a search
 * in a HistoryDir of the caller's own.
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
#include "userdir.h"

static void test_experiment_of_id(void **state)
{
	char exp[AML_RUNID_MAX];

	(void)state;
	assert_int_equal(hf_experiment_of_id("train_1712345678_0a1b2c3d", exp,
					     sizeof(exp)), 0);
	assert_string_equal(exp, "train");
	/* The experiment may hold '_' itself: the last two parts are the id's. */
	assert_int_equal(hf_experiment_of_id("my_exp_42_deadbeef", exp,
					     sizeof(exp)), 0);
	assert_string_equal(exp, "my_exp");
	assert_int_equal(hf_experiment_of_id("train_12_0a1b2c3", exp,
					     sizeof(exp)), -1);
	assert_int_equal(hf_experiment_of_id("train_1x_0a1b2c3d", exp,
					     sizeof(exp)), -1);
	assert_int_equal(hf_experiment_of_id("train__0a1b2c3d", exp,
					     sizeof(exp)), -1);
	assert_int_equal(hf_experiment_of_id("_12_0a1b2c3d", exp,
					     sizeof(exp)), -1);
	assert_int_equal(hf_experiment_of_id("0a1b2c3d", exp, sizeof(exp)),
			 -1);
	assert_int_equal(hf_experiment_of_id("train_12_0a1b2c3d", exp, 5), -1);
	assert_int_equal(hf_experiment_of_id("train_12_0a1b2c3d", exp, 6), 0);
}

static void test_top_kind(void **state)
{
	struct stat st = { 0 };

	(void)state;
	st.st_mode = S_IFDIR | 0755;
	assert_int_equal(hf_top_kind(&st), TOP_TREE);
	st.st_mode = S_IFDIR | 0711;
	assert_int_equal(hf_top_kind(&st), TOP_TREE);
	st.st_mode = S_IFDIR | S_ISVTX | 0777;
	assert_int_equal(hf_top_kind(&st), TOP_LEGACY);
	/* Writable by others but not sticky, or by the group: neither. */
	st.st_mode = S_IFDIR | 0777;
	assert_int_equal(hf_top_kind(&st), TOP_OTHER);
	st.st_mode = S_IFDIR | 0775;
	assert_int_equal(hf_top_kind(&st), TOP_OTHER);
	st.st_mode = S_IFREG | 0755;
	assert_int_equal(hf_top_kind(&st), TOP_OTHER);
}

static void test_check_names(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(hf_check_names("exp-1", "run_2", err, sizeof(err)),
			 0);
	assert_int_equal(hf_check_names("../x", "run", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "experiment name \"../x\""));
	assert_int_equal(hf_check_names("exp", "a/b", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "run id \"a/b\""));
}

/* A HistoryDir with the caller's tree holding exp/r1: found there, by its
 * experiment and without it; a run nowhere is not found, and a writer is
 * told so as "not there (yet)". */
static void test_search_own_tree(void **state)
{
	struct file_backend fb = { .tree_mode = 0700, .dir_mode = 0700,
				   .file_mode = 0600 };
	char base[64] = "/tmp/test_history_file_find.XXXXXX", err[256];
	struct run_search s = { .run_id = "r1", .experiment = "exp" };
	int rootfd, treefd, expfd;

	(void)state;
	assert_non_null(mkdtemp(base));
	fb.root = base;
	rootfd = hf_open_root(&fb, err, sizeof(err));
	assert_true(rootfd >= 0);
	treefd = hf_open_own_tree(&fb, rootfd, 1, err, sizeof(err));
	assert_true(treefd >= 0);
	expfd = hf_open_tree_experiment(&fb, treefd, "exp", 1, err,
					sizeof(err));
	assert_true(expfd >= 0);
	assert_int_equal(mkdirat(expfd, "r1", 0700), 0);

	s.uid = geteuid();
	assert_int_equal(hf_search_run(&fb, rootfd, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.m[0].experiment, "exp");
	assert_int_equal(s.m[0].uid, geteuid());
	assert_false(s.m[0].legacy);
	assert_false(hf_several_owners(&s));
	hf_search_free(&s);
	assert_int_equal(s.n, 0);

	s.experiment = NULL;
	assert_int_equal(hf_search_run(&fb, rootfd, &s), 0);
	assert_int_equal(s.n, 1);
	hf_search_free(&s);

	s.run_id = "r2";
	s.experiment = "exp";
	assert_int_equal(hf_search_run(&fb, rootfd, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(hf_not_found(&s, err, sizeof(err)),
			 AML_BACKEND_UNAVAILABLE);
	assert_non_null(strstr(err, "no run r2 in experiment exp"));

	close(expfd);
	close(treefd);
	close(rootfd);
	assert_int_equal(aml_tree_remove(AT_FDCWD, base), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_experiment_of_id),
		cmocka_unit_test(test_top_kind),
		cmocka_unit_test(test_check_names),
		cmocka_unit_test(test_search_own_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
