/*
 * test_breaker.c: run history's circuit breaker (plugin/breaker.c), in a
 * directory of its own standing in for a user's spool.
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

#include "breaker.h"

#define T0 INT64_C(1795625396123)
#define PROBE_MS 2000
#define FIRST 15000

struct fixture {
	char dir[64];
	int fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_breaker.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->fd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	*state = f;
	return f->fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	close(f->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static enum aml_breaker_state check(struct fixture *f, int64_t now)
{
	return aml_breaker_check(f->fd, now, FIRST, PROBE_MS, NULL);
}

static void put(struct fixture *f, const char *text)
{
	int fd = openat(f->fd, AML_BREAKER_FILE,
			O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_closed_without_a_file(void **state)
{
	struct fixture *f = *state;
	int64_t since = -1;

	assert_int_equal(aml_breaker_check(f->fd, T0, FIRST, PROBE_MS, &since),
			 AML_BREAKER_CLOSED);
	assert_true(since == 0);
}

/* Tripped: writers skip run history until the cooldown ends; then one
 * probes, and the others keep skipping while it does. */
static void test_trip_cooldown_probe(void **state)
{
	struct fixture *f = *state;
	int64_t since;

	assert_int_equal(aml_breaker_trip(f->fd, T0, FIRST), 0);
	assert_int_equal(aml_breaker_check(f->fd, T0 + 1, FIRST, PROBE_MS,
					   &since),
			 AML_BREAKER_OPEN);
	assert_true(since == T0);
	assert_int_equal(check(f, T0 + FIRST - 1),
			 AML_BREAKER_OPEN);
	assert_int_equal(check(f, T0 + FIRST),
			 AML_BREAKER_PROBE);
	assert_int_equal(check(f, T0 + FIRST + 1),
			 AML_BREAKER_OPEN);
	/* The probe failed: a longer cooldown. */
	assert_int_equal(aml_breaker_trip(f->fd, T0 + FIRST + 5, FIRST),
			 0);
	assert_int_equal(check(f, T0 + 3 * FIRST), AML_BREAKER_OPEN);
	assert_int_equal(check(f, T0 + 3 * FIRST + 5),
			 AML_BREAKER_PROBE);
	/* It answered. */
	aml_breaker_close(f->fd);
	assert_int_equal(check(f, T0 + 3 * FIRST + 6),
			 AML_BREAKER_CLOSED);
	/* A new failure starts from the first cooldown again. */
	assert_int_equal(aml_breaker_trip(f->fd, T0, FIRST), 0);
	assert_int_equal(check(f, T0 + FIRST), AML_BREAKER_PROBE);
}

static void test_cooldowns(void **state)
{
	(void)state;
	assert_true(aml_breaker_cooldown_ms(1, FIRST) == FIRST);
	assert_true(aml_breaker_cooldown_ms(2, FIRST) == 2 * FIRST);
	assert_true(aml_breaker_cooldown_ms(3, FIRST) == 4 * FIRST);
	assert_true(aml_breaker_cooldown_ms(30, FIRST) ==
		    AML_BREAKER_MAX_FACTOR * FIRST);
	assert_true(aml_breaker_cooldown_ms(64, 1000) ==
		    AML_BREAKER_MAX_FACTOR * 1000);
}

/* Whatever sits in the file's place, a writer neither hangs nor skips
 * run history for good. */
static void test_broken_files_are_closed(void **state)
{
	struct fixture *f = *state;
	char path[128];
	struct stat sb;

	put(f, "not a breaker\n");
	assert_int_equal(check(f, T0), AML_BREAKER_CLOSED);
	put(f, "99999999999999 0 1\n");
	assert_int_equal(check(f, T0), AML_BREAKER_CLOSED);
	/* A clock stepped back: an end further than any cooldown. */
	put(f, "99999999999999 3 1\n");
	assert_int_equal(check(f, T0), AML_BREAKER_PROBE);
	assert_int_equal(unlinkat(f->fd, AML_BREAKER_FILE, 0), 0);

	snprintf(path, sizeof(path), "%s/" AML_BREAKER_FILE, f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(check(f, T0), AML_BREAKER_CLOSED);
	assert_int_equal(unlink(path), 0);

	/* A symlink is not followed, and a trip replaces the link itself. */
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(check(f, T0), AML_BREAKER_CLOSED);
	assert_int_equal(aml_breaker_trip(f->fd, T0, FIRST), 0);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(check(f, T0 + 1), AML_BREAKER_OPEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_closed_without_a_file,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_trip_cooldown_probe, setup,
						teardown),
		cmocka_unit_test(test_cooldowns),
		cmocka_unit_test_setup_teardown(test_broken_files_are_closed,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
