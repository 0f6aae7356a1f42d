/*
 * Unit tests of plugin/command.c: running a program within a time bound,
 * with both of its outputs read at once.  The programs are /bin/sh
 * scripts, so every case says in one line what the child does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"

/* Run [script] under /bin/sh with [cmd]'s other settings. */
static enum aml_command_outcome sh(struct aml_command *cmd,
				   const char *script,
				   struct aml_command_result *res)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };

	cmd->argv = argv;
	return aml_command_run(cmd, res);
}

static void test_exit_status_and_both_outputs(void **state)
{
	struct aml_command cmd = { .timeout_ms = 10000, .out_max = 64,
				   .err_max = 64 };
	struct aml_command_result res;

	(void)state;
	assert_int_equal(sh(&cmd, "echo out; echo err >&2; exit 3", &res),
			 AML_COMMAND_EXITED);
	assert_int_equal(res.exit_status, 3);
	assert_string_equal(res.out, "out\n");
	assert_int_equal(res.out_total, 4);
	assert_string_equal(res.err, "err\n");
	assert_false(res.err_cut);
	aml_command_result_free(&res);
	aml_command_result_free(&res);
}

/* A megabyte on stderr before anything on stdout: read one after the
 * other, the child would block on a full stderr pipe for ever. */
static void test_big_outputs_on_both_pipes(void **state)
{
	struct aml_command cmd = { .timeout_ms = 20000, .out_max = 100,
				   .err_max = 10 };
	struct aml_command_result res;

	(void)state;
	assert_int_equal(sh(&cmd, "head -c 1000000 /dev/zero >&2; "
			    "head -c 1000000 /dev/zero | tr '\\0' x; exit 0",
			    &res),
			 AML_COMMAND_EXITED);
	assert_int_equal(res.exit_status, 0);
	assert_int_equal(res.out_total, 1000000);
	assert_int_equal(res.out_len, 100);
	assert_int_equal(strspn(res.out, "x"), 100);
	assert_int_equal(res.err_len, 10);
	assert_true(res.err_cut);
	aml_command_result_free(&res);
}

static void test_stop_on_more(void **state)
{
	struct aml_command cmd = { .timeout_ms = 20000, .out_max = 1000,
				   .err_max = 0, .stop_on_more = 1 };
	struct aml_command_result res;
	int64_t start = aml_monotonic_ms();

	(void)state;
	assert_int_equal(sh(&cmd, "yes", &res), AML_COMMAND_TOO_MUCH);
	assert_true(aml_monotonic_ms() - start < 5000);
	assert_int_equal(res.out_len, 1000);
	assert_true(res.out_total > 1000);
	aml_command_result_free(&res);
}

/* Nothing kept, but whether it wrote at all is known. */
static void test_nothing_kept_but_counted(void **state)
{
	struct aml_command cmd = { .timeout_ms = 10000 };
	struct aml_command_result res;

	(void)state;
	assert_int_equal(sh(&cmd, "echo a; echo b >&2", &res),
			 AML_COMMAND_EXITED);
	assert_int_equal(res.out_total, 2);
	assert_string_equal(res.out, "");
	assert_string_equal(res.err, "");
	assert_true(res.err_cut);
	aml_command_result_free(&res);
}

static void test_timeout(void **state)
{
	struct aml_command cmd = { .timeout_ms = 300, .out_max = 64,
				   .err_max = 64 };
	struct aml_command_result res;
	int64_t start = aml_monotonic_ms();

	(void)state;
	assert_int_equal(sh(&cmd, "echo started; exec sleep 30", &res),
			 AML_COMMAND_TIMEOUT);
	assert_true(aml_monotonic_ms() - start < 3000);
	assert_string_equal(res.out, "started\n");
	aml_command_result_free(&res);
}

/* Is [pid] gone (or a zombie left to whoever reaps it)? */
static int gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' && p[2] == 'Z';
}

/* Its output closed, it goes on running, and so does what it started:
 * the deadline still holds, and the whole group is killed. */
static void test_closed_output_still_running(void **state)
{
	struct aml_command cmd = { .timeout_ms = 500, .out_max = 64,
				   .err_max = 64 };
	struct aml_command_result res;
	int64_t start = aml_monotonic_ms();
	char *end;
	long pid;

	(void)state;
	assert_int_equal(sh(&cmd, "sleep 30 </dev/null >/dev/null 2>&1 & "
			    "echo $!; exec >&- 2>&-; wait", &res),
			 AML_COMMAND_TIMEOUT);
	assert_true(aml_monotonic_ms() - start < 3000);
	pid = strtol(res.out, &end, 10);
	assert_true(pid > 0 && *end == '\n');
	for (int i = 0; i < 100 && !gone((pid_t)pid); i++)
		usleep(10000);
	assert_true(gone((pid_t)pid));
	aml_command_result_free(&res);
}

static void test_exec_failures(void **state)
{
	char missing[] = "aml-test-no-such-program";
	char *argv[] = { missing, NULL };
	struct aml_command cmd = { .argv = argv, .timeout_ms = 10000,
				   .out_max = 8, .err_max = 8 };
	struct aml_command_result res;
	char path[] = "/tmp/test_command_XXXXXX";
	char *argv2[] = { path, NULL };
	int fd;

	(void)state;
	assert_int_equal(aml_command_run(&cmd, &res), AML_COMMAND_NOT_STARTED);
	assert_int_equal(res.error, ENOENT);
	aml_command_result_free(&res);

	/* A file that is there but cannot be run. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	chmod(path, 0600);
	cmd.argv = argv2;
	assert_int_equal(aml_command_run(&cmd, &res), AML_COMMAND_NOT_STARTED);
	assert_int_equal(res.error, EACCES);
	aml_command_result_free(&res);
	unlink(path);
}

static void test_directory(void **state)
{
	struct aml_command cmd = { .timeout_ms = 10000, .out_max = 64,
				   .err_max = 64, .dir = "/" };
	struct aml_command_result res;

	(void)state;
	assert_int_equal(sh(&cmd, "pwd", &res), AML_COMMAND_EXITED);
	assert_string_equal(res.out, "/\n");
	aml_command_result_free(&res);
	/* Not "no such program": the program was never looked for. */
	cmd.dir = "/nonexistent/aml-test";
	assert_int_equal(sh(&cmd, "pwd", &res), AML_COMMAND_FAILED);
	assert_string_equal(res.failed_call, "chdir");
	assert_int_equal(res.error, ENOENT);
	aml_command_result_free(&res);
}

static void test_environment(void **state)
{
	char var[] = "AML_TEST_VAR=given";
	char *envp[] = { var, NULL };
	struct aml_command cmd = { .timeout_ms = 10000, .out_max = 64,
				   .err_max = 64, .envp = envp };
	struct aml_command_result res;

	(void)state;
	setenv("AML_TEST_OTHER", "caller's", 1);
	assert_int_equal(sh(&cmd, "echo \"$AML_TEST_VAR/${AML_TEST_OTHER-}\"",
			    &res),
			 AML_COMMAND_EXITED);
	assert_string_equal(res.out, "given/\n");
	aml_command_result_free(&res);
	unsetenv("AML_TEST_OTHER");
}

static void test_signal(void **state)
{
	struct aml_command cmd = { .timeout_ms = 10000, .out_max = 64,
				   .err_max = 64 };
	struct aml_command_result res;

	(void)state;
	assert_int_equal(sh(&cmd, "kill -TERM $$", &res),
			 AML_COMMAND_SIGNALED);
	assert_int_equal(res.term_signal, SIGTERM);
	aml_command_result_free(&res);
}

/* stdin is /dev/null, SIGPIPE is at its default even when the caller
 * ignores it, and none of the caller's descriptors is inherited. */
static void test_child_surroundings(void **state)
{
	struct aml_command cmd = { .timeout_ms = 10000, .out_max = 256,
				   .err_max = 256 };
	struct aml_command_result res;
	char script[256];
	int null = open("/dev/null", O_RDONLY);
	int fd = fcntl(null, F_DUPFD, 20);      /* not close-on-exec */

	(void)state;
	assert_true(fd >= 20);
	close(null);
	signal(SIGPIPE, SIG_IGN);
	snprintf(script, sizeof(script),
		 "cat; test -e /proc/self/fd/%d && echo inherited; "
		 "yes | head -c 1 >/dev/null; echo done", fd);
	assert_int_equal(sh(&cmd, script, &res), AML_COMMAND_EXITED);
	assert_string_equal(res.out, "done\n");
	assert_string_equal(res.err, "");
	signal(SIGPIPE, SIG_DFL);
	close(fd);
	aml_command_result_free(&res);
}

/* Output that must be kept whole goes to a file the child writes
 * itself: far past any bound, both outputs, in the order written. */
static void test_output_to_descriptor(void **state)
{
	struct aml_command cmd = { .timeout_ms = 20000, .out_max = 8 };
	char *argv[] = { "/bin/sh", "-c", "echo first >&2; "
			 "head -c 300000 /dev/zero; echo; echo last; exit 4",
			 NULL };
	struct aml_command_result res;
	char path[] = "/tmp/test_command.XXXXXX", tail[16] = "";
	int fd = mkstemp(path);
	struct stat st;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "$ sh\n", 5), 5);
	cmd.argv = argv;
	assert_int_equal(aml_command_run_to(&cmd, fd, &res),
			 AML_COMMAND_EXITED);
	assert_int_equal(res.exit_status, 4);
	assert_string_equal(res.out, "");
	assert_int_equal(res.out_total, 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 5 + 6 + 300000 + 1 + 5);
	assert_int_equal(pread(fd, tail, 11, 0), 11);
	assert_memory_equal(tail, "$ sh\nfirst\n", 11);
	assert_int_equal(pread(fd, tail, 5, st.st_size - 5), 5);
	assert_memory_equal(tail, "last\n", 5);
	aml_command_result_free(&res);
	close(fd);

	assert_int_equal(aml_command_run_to(&cmd, -1, &res),
			 AML_COMMAND_FAILED);
	assert_int_equal(res.error, EBADF);
	aml_command_result_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status_and_both_outputs),
		cmocka_unit_test(test_big_outputs_on_both_pipes),
		cmocka_unit_test(test_stop_on_more),
		cmocka_unit_test(test_nothing_kept_but_counted),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_closed_output_still_running),
		cmocka_unit_test(test_exec_failures),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_child_surroundings),
		cmocka_unit_test(test_output_to_descriptor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
