/*
 * test_node_ledger.c: plugin/node_ledger.c, the ledger of the run
 * directories a node keeps: entries put, replaced, summed and forgotten,
 * in a temporary RunDir (sticky, as the admin makes it).  The ledger's
 * part in keeping and removing directories is test_node_rundir's.
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

#include "node_rundir_internal.h"
#include "site.h"
#include "tree.h"

struct fixture {
	char base[64];
	struct aml_site site;
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_node_ledger.XXXXXX");
	if (!mkdtemp(f->base) || chmod(f->base, 01777) != 0 ||
	    aml_site_defaults(&f->site) != 0)
		return -1;
	free(f->site.run_dir);
	f->site.run_dir = strdup(f->base);
	if (!f->site.run_dir)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_site_free(&f->site);
	aml_tree_remove(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* A node without a ledger has none until one is asked for. */
static void test_open_creates_only_when_asked(void **state)
{
	struct fixture *f = *state;
	int fd;

	fd = ledger_open(&f->site, "n1", 0, f->err, sizeof(f->err));
	assert_int_equal(fd, -1);
	assert_int_equal(errno, ENOENT);
	fd = ledger_open(&f->site, "n1", 1, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	assert_int_equal(ledger_lock(fd), 0);
	close(fd);
	fd = ledger_open(&f->site, "n1", 0, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	close(fd);
}

/* Entries of several users count together; the same run put again
 * replaces its entry; a forgotten one no longer counts. */
static void test_put_sum_forget(void **state)
{
	struct fixture *f = *state;
	unsigned long long total = 1;
	int fd;

	fd = ledger_open(&f->site, "n1", 1, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	assert_int_equal(ledger_sum(fd, &total), 0);
	assert_int_equal(total, 0);
	assert_int_equal(ledger_put(fd, 1000, "run_a", 4096), 0);
	assert_int_equal(ledger_put(fd, 1001, "run_b", 100), 0);
	assert_int_equal(ledger_sum(fd, &total), 0);
	assert_int_equal(total, 4196);
	assert_int_equal(ledger_put(fd, 1000, "run_a", 8192), 0);
	assert_int_equal(ledger_sum(fd, &total), 0);
	assert_int_equal(total, 8292);
	close(fd);

	ledger_forget(&f->site, "n1", 1000, "run_a");
	/* Nothing to forget: no harm. */
	ledger_forget(&f->site, "n1", 1000, "run_a");
	ledger_forget(&f->site, "n2", 1000, "run_a");
	fd = ledger_open(&f->site, "n1", 0, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	assert_int_equal(ledger_sum(fd, &total), 0);
	assert_int_equal(total, 100);
	close(fd);
}

/* Each node has a ledger of its own. */
static void test_nodes_apart(void **state)
{
	struct fixture *f = *state;
	unsigned long long total;
	int a, b;

	a = ledger_open(&f->site, "n1", 1, f->err, sizeof(f->err));
	b = ledger_open(&f->site, "n2", 1, f->err, sizeof(f->err));
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(ledger_put(a, 1000, "run_a", 10), 0);
	assert_int_equal(ledger_sum(b, &total), 0);
	assert_int_equal(total, 0);
	close(a);
	close(b);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_creates_only_when_asked),
		T(test_put_sum_forget),
		T(test_nodes_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
