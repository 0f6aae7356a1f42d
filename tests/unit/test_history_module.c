/*
 * Unit tests of plugin/history_module.c: the MLflow backend is a module
 * (where it may lie is module.c's, test_module's), loaded once, and a
 * program that registered none says so.  $AML_TEST_MLFLOW_MODULE is the module built beside the tests
 * (rest/.libs/aml_mlflow.so); copies of it are made in a directory of
 * the test's own under /tmp, root's when the test runs as root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "history.h"
#include "history_module.h"
#include "site.h"

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

/* This program registered no MLflow backend: a site that wants one is
 * told so in one line. */
static void test_unregistered_backend(void **state)
{
	char conf[PATH_MAX + 32];
	struct aml_errors errs;
	struct aml_site site;
	struct aml_history *h = NULL;
	FILE *f;

	(void)state;
	snprintf(conf, sizeof(conf), "%s/aml.conf", dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "HistoryBackend=mlflow\nHistoryURI=http://127.0.0.1:9\n"
		   "SpoolDir=%s\nComputeTarget=cpu Partition=debug\n", dir);
	fclose(f);
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_site_load(conf, &site, &errs), 0);
	aml_errors_free(&errs);
	assert_int_equal(aml_history_open(&site, &h, err, sizeof(err)), -1);
	assert_null(h);
	assert_non_null(strstr(err, "aml.conf: HistoryBackend=mlflow "
				    "(HistoryURI=http://127.0.0.1:9): this "
				    "program is built without the MLflow "
				    "backend"));
	assert_null(strchr(err, '\n'));
	aml_site_free(&site);
	unlink(conf);
}

static void test_load_refuses_insecure(void **state)
{
	const struct aml_history_opener *opener = NULL;

	(void)state;
	skip_unless_root();
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(aml_history_module_load(path, &opener, err,
						 sizeof(err)), -1);
	assert_null(opener);
	assert_non_null(strstr(err, "HistoryBackend=mlflow: not loading its module: "));
	assert_int_equal(chmod(path, 0755), 0);
}

static void test_load(void **state)
{
	const struct aml_history_opener *opener = NULL, *again = NULL;

	(void)state;
	skip_unless_root();
	assert_int_equal(aml_history_module_load(path, &opener, err,
						 sizeof(err)), 0);
	assert_non_null(opener);
	assert_int_equal(opener->backend, AML_HISTORY_MLFLOW);
	/* Once per process. */
	assert_int_equal(aml_history_module_load(path, &again, err,
						 sizeof(err)), 0);
	assert_ptr_equal(again, opener);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unregistered_backend),
		cmocka_unit_test(test_load_refuses_insecure),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
