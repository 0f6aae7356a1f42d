/*
 * Unit tests of plugin/history_module.c: the MLflow backend is a module
 * (where it may lie is module.c's, test_module's), loaded once, and a
 * program that registered none says so.  $AML_TEST_MLFLOW_MODULE is the
 * module built beside the tests; loading it needs it where only root can
 * write (the build tree of a root build).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "history.h"
#include "history_module.h"
#include "module.h"
#include "site.h"

static char err[1024];

/* This program registered no MLflow backend: a site that wants one is
 * told so in one line. */
static void test_unregistered_backend(void **state)
{
	char dir[] = "/tmp/test_history_module.XXXXXX", conf[64];
	struct aml_errors errs;
	struct aml_site site;
	struct aml_history *h = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
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
	rmdir(dir);
}

static void test_load_refused(void **state)
{
	const struct aml_history_opener *opener = NULL;

	(void)state;
	assert_int_equal(aml_history_module_load("/nonexistent/aml_mlflow.so", 0,
						 &opener, err, sizeof(err)),
			 -1);
	assert_null(opener);
	assert_string_equal(err, "HistoryBackend=mlflow: not loading its "
				 "module: cannot open /nonexistent/aml_mlflow.so: "
				 "No such file or directory");
}

static void test_load(void **state)
{
	const struct aml_history_opener *opener = NULL, *again = NULL;
	const char *module = getenv("AML_TEST_MLFLOW_MODULE");

	(void)state;
	if (!module || aml_module_is_secure(module, getuid(), err, sizeof(err)) < 0)
		skip();
	assert_int_equal(aml_history_module_load(module, getuid(), &opener, err,
						 sizeof(err)), 0);
	assert_non_null(opener);
	assert_int_equal(opener->backend, AML_HISTORY_MLFLOW);
	/* Once per process: a later path is not even looked at. */
	assert_int_equal(aml_history_module_load("/nonexistent", 0, &again, err,
						 sizeof(err)), 0);
	assert_ptr_equal(again, opener);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unregistered_backend),
		cmocka_unit_test(test_load_refused),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
