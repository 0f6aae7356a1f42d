/*
 * Unit tests of tests/faultfs/control.c: the control line of faultfs, and
 * noticing when a test changes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"

static void parses(const char *line, enum fault_mode mode, int err,
		   int writes_only)
{
	struct fault f = { FAULT_HANG, 99, 1 };
	char why[256] = "";

	assert_int_equal(fault_parse(line, &f, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(f.mode, mode);
	if (mode == FAULT_ERRNO) {
		assert_int_equal(f.err, err);
		assert_int_equal(f.writes_only, writes_only);
	}
}

static void refuses(const char *line, const char *why_has)
{
	struct fault f = { FAULT_HANG, 0, 0 };
	char why[256] = "";

	assert_int_equal(fault_parse(line, &f, why, sizeof(why)), -1);
	if (!strstr(why, why_has))
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", line, why,
			 why_has);
	/* A refused line changes nothing. */
	assert_int_equal(f.mode, FAULT_HANG);
}

static void test_lines(void **state)
{
	(void)state;
	parses("ok", FAULT_PASS, 0, 0);
	parses("ok\n", FAULT_PASS, 0, 0);
	parses("", FAULT_PASS, 0, 0);
	parses("  \t\n", FAULT_PASS, 0, 0);
	parses("hang", FAULT_HANG, 0, 0);
	parses(" hang \r\n", FAULT_HANG, 0, 0);
	parses("errno EIO", FAULT_ERRNO, EIO, 0);
	parses("errno ESTALE", FAULT_ERRNO, ESTALE, 0);
	parses("errno EACCES", FAULT_ERRNO, EACCES, 0);
	parses("errno EROFS", FAULT_ERRNO, EROFS, 0);
	parses("errno ENOSPC writes", FAULT_ERRNO, ENOSPC, 1);
	parses("errno EDQUOT writes\n", FAULT_ERRNO, EDQUOT, 1);
	parses("errno ENOTCONN", FAULT_ERRNO, ENOTCONN, 0);
	parses("errno 5", FAULT_ERRNO, 5, 0);
	parses("errno 4095 writes", FAULT_ERRNO, 4095, 1);
}

static void test_bad_lines(void **state)
{
	char longline[300];

	(void)state;
	refuses("panic", "unknown fault \"panic\"");
	refuses("OK", "unknown fault \"OK\"");
	refuses("hang now", "\"hang\" takes nothing after it (at \"now\")");
	refuses("ok ok", "\"ok\" takes nothing after it (at \"ok\")");
	refuses("errno", "errno needs a NAME");
	refuses("errno EBOGUS", "unknown errno \"EBOGUS\"");
	refuses("errno eio", "unknown errno \"eio\"");
	refuses("errno 0", "unknown errno \"0\"");
	refuses("errno 4096", "unknown errno \"4096\"");
	refuses("errno 5x", "unknown errno \"5x\"");
	refuses("errno EIO reads", "\"reads\" after errno EIO");
	refuses("errno EIO writes now", "too many words (at \"now\")");
	refuses("a b c d e", "too many words (at \"e\")");
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	refuses(longline, "longer than 255 bytes");
}

static void test_describe_round_trips(void **state)
{
	const char *lines[] = { "ok", "hang", "errno EIO", "errno EDQUOT writes",
				"errno 42" };
	struct fault f;
	char why[256], text[64];

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(fault_parse(lines[i], &f, why, sizeof(why)), 0);
		assert_string_equal(fault_describe(&f, text, sizeof(text)),
				    lines[i]);
	}
}

/* A scratch directory and its control file, removed by teardown. */
struct scratch {
	char dir[64];
	char path[96];
};

static int setup_scratch(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/test_control.XXXXXX");
	if (!mkdtemp(s->dir)) {
		free(s);
		return -1;
	}
	snprintf(s->path, sizeof(s->path), "%s/control", s->dir);
	*state = s;
	return 0;
}

static int teardown_scratch(void **state)
{
	struct scratch *s = *state;
	char tmp[128];

	snprintf(tmp, sizeof(tmp), "%s.new", s->path);
	unlink(tmp);
	unlink(s->path);
	rmdir(s->dir);
	free(s);
	return 0;
}

/* Replace the control file as faults.sh does: a new file renamed over. */
static void say(const struct scratch *s, const char *line, mode_t mode)
{
	char tmp[128];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", s->path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(line, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(tmp, mode), 0);
	assert_int_equal(rename(tmp, s->path), 0);
}

static void needs_root(void)
{
	/* Only a file of root's is obeyed. */
	if (geteuid() != 0) {
		printf("# SKIP: control files are obeyed only when root's: run as root\n");
		skip();
	}
}

static void test_file_changes_are_followed(void **state)
{
	struct scratch *s = *state;
	struct control c;
	char why[256];

	needs_root();
	/* Missing: no fault. */
	assert_int_equal(control_init(&c, s->path, why, sizeof(why)), 0);
	assert_int_equal(control_current(&c)->mode, FAULT_PASS);

	say(s, "hang\n", 0600);
	assert_int_equal(control_current(&c)->mode, FAULT_HANG);
	say(s, "errno EDQUOT writes\n", 0644);
	assert_int_equal(control_current(&c)->mode, FAULT_ERRNO);
	assert_int_equal(control_current(&c)->err, EDQUOT);
	assert_true(control_current(&c)->writes_only);
	/* Only the first line counts. */
	say(s, "errno EIO\nhang\n", 0600);
	assert_int_equal(control_current(&c)->err, EIO);
	assert_false(control_current(&c)->writes_only);
	say(s, "ok\n", 0600);
	assert_int_equal(control_current(&c)->mode, FAULT_PASS);
	say(s, "hang\n", 0600);
	assert_int_equal(unlink(s->path), 0);
	assert_int_equal(control_current(&c)->mode, FAULT_PASS);
}

static void test_unusable_files_pass_through(void **state)
{
	struct scratch *s = *state;
	struct control c;
	char why[256] = "";

	needs_root();
	/* At start: refused, with a reason naming the file. */
	say(s, "errno EBOGUS\n", 0600);
	assert_int_equal(control_init(&c, s->path, why, sizeof(why)), -1);
	assert_non_null(strstr(why, s->path));
	assert_non_null(strstr(why, "line 1: unknown errno \"EBOGUS\""));
	say(s, "hang\n", 0666);
	assert_int_equal(control_init(&c, s->path, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "only root can write"));

	/* Later: no fault, rather than one nobody asked for. */
	say(s, "hang\n", 0600);
	assert_int_equal(control_init(&c, s->path, why, sizeof(why)), 0);
	assert_int_equal(control_current(&c)->mode, FAULT_HANG);
	say(s, "hang\n", 0622);
	assert_int_equal(control_current(&c)->mode, FAULT_PASS);
	say(s, "errno EIO\n", 0600);
	assert_int_equal(control_current(&c)->mode, FAULT_ERRNO);
	say(s, "hang later\n", 0600);
	assert_int_equal(control_current(&c)->mode, FAULT_PASS);
	/* And stays so, said once, until the file changes. */
	assert_int_equal(control_current(&c)->mode, FAULT_PASS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_describe_round_trips),
		cmocka_unit_test_setup_teardown(test_file_changes_are_followed,
						setup_scratch, teardown_scratch),
		cmocka_unit_test_setup_teardown(test_unusable_files_pass_through,
						setup_scratch, teardown_scratch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
