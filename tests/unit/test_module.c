/*
 * Unit tests of plugin/module.c: a module is loaded only from a path no
 * one but root can change.  $AML_TEST_MLFLOW_MODULE is a module built
 * beside the tests (rest/.libs/aml_mlflow.so); copies of it are made in
 * a directory of the test's own under /tmp, root's when the test runs as
 * root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "module.h"

static char dir[PATH_MAX], path[PATH_MAX + 32], err[1024];

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY), out;

	assert_true(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(fchmod(out, mode), 0);
	close(out);
}

static int setup(void **state)
{
	const char *module = getenv("AML_TEST_MLFLOW_MODULE");

	(void)state;
	if (!module)
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/test_history_module.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/aml_mlflow.so", dir);
	copy_file(module, path, 0755);
	return 0;
}

static int teardown(void **state)
{
	char p[PATH_MAX + 64];
	const char *names[] = { "aml_mlflow.so", "link.so", "other.so",
				"sub/aml_mlflow.so" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/sub", dir);
	rmdir(p);
	rmdir(dir);
	return 0;
}

static void skip_unless_root(void)
{
	if (geteuid() != 0)
		skip();
}

static void test_not_absolute(void **state)
{
	(void)state;
	assert_int_equal(aml_module_is_secure("aml_mlflow.so", 0, err,
						      sizeof(err)), -1);
	assert_string_equal(err, "aml_mlflow.so is not an absolute path");
}

static void test_missing(void **state)
{
	char p[PATH_MAX + 32];

	(void)state;
	snprintf(p, sizeof(p), "%s/none.so", dir);
	assert_int_equal(aml_module_is_secure(p, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_non_null(strstr(err, "No such file"));
}

/* A user's file is never root's module, whoever runs the test. */
static void test_not_root_owned(void **state)
{
	(void)state;
	if (geteuid() == 0)
		assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(aml_module_is_secure(path, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not root"));
	if (geteuid() == 0)
		assert_int_equal(chown(path, 0, 0), 0);
}

/* A program run from its build tree trusts its own owner's module too
 * (tools/tool_module.c), and still no one else's. */
static void test_owner_trusted(void **state)
{
	(void)state;
	skip_unless_root();
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(aml_module_is_secure(path, 65534, err, sizeof(err)), 0);
	assert_int_equal(aml_module_is_secure(path, 65533, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "belongs to uid 65534, neither root nor "
				    "uid 65533, who owns the program"));
	assert_int_equal(chmod(path, 0775), 0);
	assert_int_equal(aml_module_is_secure(path, 65534, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is writable by its group"));
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(chown(path, 0, 0), 0);
}

static void test_secure_copy(void **state)
{
	(void)state;
	skip_unless_root();
	assert_int_equal(aml_module_is_secure(path, 0, err, sizeof(err)), 0);
}

static void test_writable_file(void **state)
{
	(void)state;
	skip_unless_root();
	assert_int_equal(chmod(path, 0775), 0);
	assert_int_equal(aml_module_is_secure(path, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is writable by its group (mode 0775)"));
	assert_int_equal(chmod(path, 0757), 0);
	assert_int_equal(aml_module_is_secure(path, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is writable by others"));
	assert_int_equal(chmod(path, 0755), 0);
}

/* Anyone could rename the module away and put theirs in its place. */
static void test_writable_directory(void **state)
{
	(void)state;
	skip_unless_root();
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(aml_module_is_secure(path, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is writable by others (mode 0777)"));
	assert_non_null(strstr(err, dir));
	/* Sticky, as /tmp: entries stay their owners'. */
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(aml_module_is_secure(path, 0, err, sizeof(err)), 0);
	assert_int_equal(chmod(dir, 0700), 0);
}

static void test_symlinks_refused(void **state)
{
	char link[PATH_MAX + 32], sub[PATH_MAX + 32];

	(void)state;
	skip_unless_root();
	snprintf(link, sizeof(link), "%s/link.so", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(aml_module_is_secure(link, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
	/* A directory above it that is a link. */
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(symlink(".", sub), 0);
	snprintf(link, sizeof(link), "%s/sub/aml_mlflow.so", dir);
	assert_int_equal(aml_module_is_secure(link, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a directory"));
}

static void test_load_refuses_insecure(void **state)
{
	(void)state;
	skip_unless_root();
	assert_int_equal(chmod(path, 0777), 0);
	assert_null(aml_module_load(path, 0, "aml_mlflow_module", err, sizeof(err)));
	assert_non_null(strstr(err, "is writable by others"));
	assert_int_equal(chmod(path, 0755), 0);
}

/* A secure library that is no module of ours (libcjson's copy). */
static void test_load_refuses_other_library(void **state)
{
	char other[PATH_MAX + 32], want[PATH_MAX + 128];
	Dl_info where;

	(void)state;
	skip_unless_root();
	assert_true(dladdr((void *)cJSON_Version, &where) && where.dli_fname);
	snprintf(other, sizeof(other), "%s/other.so", dir);
	copy_file(where.dli_fname, other, 0755);
	assert_null(aml_module_load(other, 0, "aml_mlflow_module", err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "%s is not a slurm-aml module: it has no aml_mlflow_module",
		 other);
	assert_string_equal(err, want);
}

static void test_load(void **state)
{
	(void)state;
	skip_unless_root();
	assert_non_null(aml_module_load(path, 0, "aml_mlflow_module", err,
					sizeof(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_absolute),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_not_root_owned),
		cmocka_unit_test(test_owner_trusted),
		cmocka_unit_test(test_secure_copy),
		cmocka_unit_test(test_writable_file),
		cmocka_unit_test(test_writable_directory),
		cmocka_unit_test(test_symlinks_refused),
		cmocka_unit_test(test_load_refuses_insecure),
		cmocka_unit_test(test_load_refuses_other_library),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
