/*
 * test_datastore_copy.c: plugin/datastore_copy.h, a run's output copied
 * to a datastore folder, and the links that must not redirect it.
 */
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

#include "datastore_copy.h"

struct dirs {
	char work[64];
	char store[64];
	char other[64];
	int work_fd;
};

static void put(const char *dir, const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void sub(const char *dir, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(mkdir(path, 0700), 0);
}

static int exists(const char *dir, const char *rel)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return lstat(path, &st) == 0;
}

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	strcpy(d->work, "/tmp/aml-test-dscopy-w.XXXXXX");
	strcpy(d->store, "/tmp/aml-test-dscopy-s.XXXXXX");
	strcpy(d->other, "/tmp/aml-test-dscopy-o.XXXXXX");
	assert_non_null(mkdtemp(d->work));
	assert_non_null(mkdtemp(d->store));
	assert_non_null(mkdtemp(d->other));
	sub(d->work, "outputs");
	sub(d->work, "outputs/model");
	sub(d->work, "outputs/model/sub");
	put(d->work, "outputs/model/weights.bin", "w");
	put(d->work, "outputs/model/sub/meta.json", "{}");
	d->work_fd = open(d->work, O_RDONLY | O_DIRECTORY);
	assert_true(d->work_fd >= 0);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dirs *d = *state;
	char cmd[256];

	close(d->work_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", d->work, d->store,
		 d->other);
	assert_int_equal(system(cmd), 0);
	free(d);
	return 0;
}

static void test_copies_tree(void **state)
{
	struct dirs *d = *state;
	struct aml_datastore_output o = { "model", d->store, "models/run1" };
	struct aml_artifact_stats stats;
	char err[1024];

	{
		char link[256];

		snprintf(link, sizeof(link), "%s/outputs/model/leak", d->work);
		assert_int_equal(symlink("/etc/passwd", link), 0);
	}
	assert_int_equal(aml_datastore_copy(d->work_fd, &o, &stats, err,
					    sizeof(err)), 0);
	assert_int_equal(stats.files, 2);
	assert_int_equal(stats.skipped, 1);
	assert_true(exists(d->store, "models/run1/weights.bin"));
	assert_true(exists(d->store, "models/run1/sub/meta.json"));
	assert_false(exists(d->store, "models/run1/leak"));
	aml_artifact_stats_free(&stats);
}

/* Another user's link in a shared datastore does not send the files
 * where it points. */
static void test_planted_link_refused(void **state)
{
	struct dirs *d = *state;
	struct aml_datastore_output o = { "model", d->store, "evil/run1" };
	struct aml_artifact_stats stats;
	char link[256], err[1024];

	snprintf(link, sizeof(link), "%s/evil", d->store);
	assert_int_equal(symlink(d->other, link), 0);
	assert_int_equal(aml_datastore_copy(d->work_fd, &o, &stats, err,
					    sizeof(err)), -1);
	assert_non_null(strstr(err, "outputs.model: copying to "));
	assert_false(exists(d->other, "run1"));
	aml_artifact_stats_free(&stats);
}

static void test_nothing_written(void **state)
{
	struct dirs *d = *state;
	struct aml_datastore_output o = { "absent", d->store, "x" };
	struct aml_artifact_stats stats;
	char err[1024];

	assert_int_equal(aml_datastore_copy(d->work_fd, &o, &stats, err,
					    sizeof(err)), 0);
	assert_int_equal(stats.files, 0);
	aml_artifact_stats_free(&stats);
}

static void test_missing_root(void **state)
{
	struct dirs *d = *state;
	struct aml_datastore_output o = { "model", "/nonexistent/aml-store",
					  "x" };
	struct aml_artifact_stats stats;
	char err[1024];

	assert_int_equal(aml_datastore_copy(d->work_fd, &o, &stats, err,
					    sizeof(err)), -1);
	assert_string_equal(err, "outputs.model: cannot open the datastore's "
			    "/nonexistent/aml-store: No such file or directory");
	aml_artifact_stats_free(&stats);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copies_tree, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_planted_link_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_written, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_root, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
