/*
 * test_launch_judge.c: the run's verdict from how its command ended
 * (tools/launch_judge.c), and above all which ends may be Slurm's: the
 * launcher asks Slurm about those before it records an end of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "launch_judge.h"

/* A wait status as waitpid(2) reports it. */
static int exited(int code)
{
	return (code & 0xff) << 8;
}

static int killed(int sig)
{
	return sig & 0x7f;
}

static struct launch_outcome ended(int wait_status)
{
	struct launch_outcome o = { .started = 1, .reaped = 1,
				    .wait_status = wait_status };
	return o;
}

static void test_exit_zero_completes(void **state)
{
	struct launch_outcome o = ended(exited(0));
	struct launch_verdict v;

	(void)state;
	launch_judge(&o, 0, 0, "python", NULL, &v);
	assert_int_equal(v.status, AML_STATUS_COMPLETED);
	assert_int_equal(v.exit_code, 0);
	assert_string_equal(v.reason, "");
	assert_false(v.slurm_may_have_ended);
}

static void test_exit_code_fails(void **state)
{
	struct launch_outcome o = ended(exited(3));
	struct launch_verdict v;

	(void)state;
	launch_judge(&o, 0, 0, "python", NULL, &v);
	assert_int_equal(v.status, AML_STATUS_FAILED);
	assert_int_equal(v.exit_code, 3);
	assert_string_equal(v.reason, "the script exited with code 3");
	assert_false(v.slurm_may_have_ended);
}

/* The race of a scancel: Slurm's SIGTERM reached the script, which was
 * reaped before the launcher's own SIGTERM arrived. */
static void test_killed_by_sigterm_may_be_slurm(void **state)
{
	struct launch_outcome o = ended(killed(SIGTERM));
	struct launch_verdict v;

	(void)state;
	launch_judge(&o, 0, 0, "python", NULL, &v);
	assert_int_equal(v.status, AML_STATUS_FAILED);
	assert_int_equal(v.exit_code, 128 + SIGTERM);
	assert_int_equal(v.exit_signal, SIGTERM);
	assert_string_equal(v.reason,
			    "the script was killed by signal 15 (SIGTERM)");
	assert_true(v.slurm_may_have_ended);
}

static void test_killed_by_sigkill_may_be_slurm(void **state)
{
	struct launch_outcome o = ended(killed(SIGKILL));
	struct launch_verdict v;

	(void)state;
	launch_judge(&o, 0, 0, "python", NULL, &v);
	assert_true(v.slurm_may_have_ended);
}

/* A crash is the script's own: no question to Slurm. */
static void test_crash_is_the_scripts(void **state)
{
	struct launch_outcome o = ended(killed(SIGSEGV));
	struct launch_verdict v;

	(void)state;
	launch_judge(&o, 0, 0, "python", NULL, &v);
	assert_int_equal(v.status, AML_STATUS_FAILED);
	assert_string_equal(v.reason,
			    "the script was killed by signal 11 (SIGSEGV)");
	assert_false(v.slurm_may_have_ended);
}

/* srun turns its tasks' SIGTERM into exit 143. */
static void test_srun_tasks_terminated_may_be_slurm(void **state)
{
	struct launch_outcome o = ended(exited(128 + SIGTERM));
	struct launch_verdict v;

	(void)state;
	launch_judge(&o, 1, 0, "srun", "task 1: Terminated", &v);
	assert_int_equal(v.status, AML_STATUS_FAILED);
	assert_string_equal(v.reason, "a process of the run exited with code "
				      "143; srun: task 1: Terminated");
	assert_true(v.slurm_may_have_ended);

	/* The same code from the script itself is its own. */
	launch_judge(&o, 0, 0, "python", NULL, &v);
	assert_false(v.slurm_may_have_ended);
}

static void test_launcher_signalled_cancels(void **state)
{
	struct launch_outcome o = ended(killed(SIGTERM));
	struct launch_verdict v;

	(void)state;
	o.stop = LAUNCH_STOP_SIGNAL;
	o.signal = SIGTERM;
	launch_judge(&o, 0, 0, "python", NULL, &v);
	assert_int_equal(v.status, AML_STATUS_CANCELED);
	assert_string_equal(v.reason, "cancelled: the launcher received "
				      "SIGTERM (scancel, the job's time limit "
				      "or preemption)");
	assert_true(v.slurm_may_have_ended);
}

/* The launcher's own deadline killed the script: never Slurm's. */
static void test_deadline_is_the_launchers(void **state)
{
	struct launch_outcome o = ended(killed(SIGTERM));
	struct launch_verdict v;

	(void)state;
	o.stop = LAUNCH_STOP_DEADLINE;
	launch_judge(&o, 0, 60, "python", NULL, &v);
	assert_int_equal(v.status, AML_STATUS_CANCELED);
	assert_string_equal(v.reason, "max_run_duration_seconds (60 s) reached");
	assert_false(v.slurm_may_have_ended);
}

static void test_exec_failure(void **state)
{
	struct launch_outcome o = { .exec_errno = ENOENT };
	struct launch_verdict v;

	(void)state;
	launch_judge(&o, 0, 0, "nosuch", NULL, &v);
	assert_int_equal(v.status, AML_STATUS_FAILED);
	assert_int_equal(v.exit_code, 127);
	assert_string_equal(v.reason,
			    "cannot run nosuch: No such file or directory");
	assert_false(v.slurm_may_have_ended);
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_exit_zero_completes),
		T(test_exit_code_fails),
		T(test_killed_by_sigterm_may_be_slurm),
		T(test_killed_by_sigkill_may_be_slurm),
		T(test_crash_is_the_scripts),
		T(test_srun_tasks_terminated_may_be_slurm),
		T(test_launcher_signalled_cancels),
		T(test_deadline_is_the_launchers),
		T(test_exec_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
