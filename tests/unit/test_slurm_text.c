/*
 * test_slurm_text.c: reading back what scontrol and sacct print about a
 * job (plugin/slurm_text.c), on lines in Slurm 22.05's exact formats.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slurm_text.h"

/* `scontrol show job -o` of a job cancelled while running, as 22.05
 * prints it (trimmed of keys we do not read, but in their order). */
static const char scontrol_cancelled[] =
	"JobId=42 JobName=hello_1764000000_0a1b2c3d UserId=alice(1000) "
	"GroupId=alice(1000) MCS_label=N/A Priority=4294901759 Nice=0 "
	"Account=(null) QOS=(null) JobState=CANCELLED Reason=None "
	"Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1 Reboot=0 "
	"ExitCode=0:15 RunTime=00:00:07 TimeLimit=00:03:00 "
	"SubmitTime=2026-11-25T16:49:50 StartTime=2026-11-25T16:49:51 "
	"EndTime=2026-11-25T16:49:58 Deadline=N/A "
	"Comment=aml run_id=hello_1764000000_0a1b2c3d experiment=hello "
	"StdOut=/tmp/slurm-42.out Power=\n";

static void test_scontrol_fields(void **state)
{
	struct aml_slurm_job job;

	(void)state;
	assert_int_equal(aml_slurm_parse_scontrol(scontrol_cancelled, &job), 0);
	assert_string_equal(job.state, "CANCELLED");
	assert_int_equal(job.exit_code, 0);
	assert_int_equal(job.signal, 15);
	assert_int_equal(job.restarts, 2);
	assert_int_equal(job.requeue, 1);
	assert_string_equal(job.reason, "");
	assert_string_equal(job.spooled_on, "");
	/* TZ=UTC in main(): Slurm prints local time. */
	assert_true(job.end_ms == 1795625398000LL);
}

/* Reason holds blanks; the value runs to the next Key=. */
static void test_scontrol_reason_with_blanks(void **state)
{
	struct aml_slurm_job job;

	(void)state;
	assert_int_equal(aml_slurm_parse_scontrol(
		"JobId=7 JobState=PENDING Reason=launch failed requeued held "
		"Dependency=(null) Requeue=0 Restarts=0 ExitCode=1:0 "
		"EndTime=Unknown", &job), 0);
	assert_true(job.end_ms == 0);
	assert_string_equal(job.state, "PENDING");
	assert_string_equal(job.reason, "launch failed requeued held");
	assert_int_equal(job.exit_code, 1);
	assert_int_equal(job.requeue, 0);
}

/* A key must be a whole word: "OldJobState=" is not JobState. */
static void test_scontrol_whole_keys(void **state)
{
	struct aml_slurm_job job;

	(void)state;
	assert_int_equal(aml_slurm_parse_scontrol("JobId=7 OldJobState=RUNNING",
						  &job), -1);
	assert_int_equal(aml_slurm_parse_scontrol(
		"JobId=7 XJobState=RUNNING JobState=TIMEOUT ExitCode=0:9", &job), 0);
	assert_string_equal(job.state, "TIMEOUT");
	assert_int_equal(job.signal, 9);
}

/* The run's tracking id, only where the controller puts it in the admin
 * comment: not from the user's Comment, nor from anywhere else in it than
 * right after the run id. */
static void test_scontrol_tracking_id(void **state)
{
	struct aml_slurm_job job;

	(void)state;
	assert_int_equal(aml_slurm_parse_scontrol(
		"JobId=7 JobState=CANCELLED WorkDir=/home/u "
		"AdminComment=aml run_id=r_1_0a1b2c3d mlflow_run_id=9c6b0e2d4f1a48b7a3c5d6e7f8091a2b "
		"experiment=e target=cpu nodes=1 "
		"Comment=aml run_id=r_1_0a1b2c3d mlflow_run_id=00000000000000000000000000000000 "
		"StdOut=/tmp/x", &job), 0);
	assert_string_equal(job.tracking_id, "9c6b0e2d4f1a48b7a3c5d6e7f8091a2b");
	/* The run and experiment a finalizer that cannot read run history
	 * records by: the controller's, not the Comment's. */
	assert_string_equal(job.run_id, "r_1_0a1b2c3d");
	assert_string_equal(job.experiment, "e");
	assert_int_equal(aml_slurm_parse_scontrol(scontrol_cancelled, &job), 0);
	assert_string_equal(job.tracking_id, "");
	assert_string_equal(job.experiment, "");
	assert_int_equal(aml_slurm_parse_scontrol(
		"JobId=7 JobState=CANCELLED "
		"AdminComment=aml run_id=r_1_0a1b2c3d experiment=a mlflow_run_id=bad "
		"target=cpu nodes=1 Comment=x mlflow_run_id=bad", &job), 0);
	assert_string_equal(job.tracking_id, "");
	assert_string_equal(job.experiment, "a");
	/* A user's Comment that spells the words is no AdminComment. */
	assert_int_equal(aml_slurm_parse_scontrol(
		"JobId=7 JobState=CANCELLED "
		"Comment=xAdminComment=aml run_id=r_2_0a1b2c3d experiment=z", &job),
		0);
	assert_string_equal(job.run_id, "");
	assert_string_equal(job.experiment, "");
}

/* The launcher's mark in the comment comes out as a key of its own. */
static void test_scontrol_spooled_mark(void **state)
{
	struct aml_slurm_job job;

	(void)state;
	assert_int_equal(aml_slurm_parse_scontrol(
		"JobId=42 JobState=COMPLETED ExitCode=0:0 "
		"Comment=aml run_id=hello_1764000000_0a1b2c3d experiment=hello "
		"spooled_on=n1,n2 StdErr=/tmp/slurm-42.out Power=\n", &job), 0);
	assert_string_equal(job.state, "COMPLETED");
	assert_string_equal(job.spooled_on, "n1,n2");
	/* Last of the line too. */
	assert_int_equal(aml_slurm_parse_scontrol(
		"JobId=42 JobState=COMPLETED Comment=aml spooled_on=n2\n",
		&job), 0);
	assert_string_equal(job.spooled_on, "n2");
	/* Only as a word: "xspooled_on=" is not it. */
	assert_int_equal(aml_slurm_parse_scontrol(
		"JobId=42 JobState=COMPLETED Comment=xspooled_on=n1", &job), 0);
	assert_string_equal(job.spooled_on, "");
}

static void test_sacct_lines(void **state)
{
	struct aml_slurm_job job;

	(void)state;
	assert_int_equal(aml_slurm_parse_sacct("CANCELLED by 1000|0:15\n",
					       &job), 0);
	assert_string_equal(job.state, "CANCELLED");
	assert_int_equal(job.signal, 15);
	assert_true(job.end_ms == 0);
	assert_int_equal(aml_slurm_parse_sacct("FAILED|3:0|2026-11-25T16:49:58",
					       &job), 0);
	assert_true(job.end_ms == 1795625398000LL);
	assert_string_equal(job.state, "FAILED");
	assert_int_equal(job.exit_code, 3);
	assert_int_equal(aml_slurm_parse_sacct("RUNNING+|0:0", &job), 0);
	assert_string_equal(job.state, "RUNNING");
	assert_int_equal(aml_slurm_parse_sacct("", &job), -1);
	assert_int_equal(aml_slurm_parse_sacct("|0:0", &job), -1);
	assert_int_equal(aml_slurm_parse_sacct("COMPLETED|x", &job), -1);
	assert_int_equal(aml_slurm_parse_sacct("COMPLETED", &job), -1);
}

static void test_version(void **state)
{
	char v[16];

	(void)state;
	assert_int_equal(aml_slurm_parse_version("slurm 24.11.5\n", v, sizeof(v)), 0);
	assert_string_equal(v, "24.11.5");
	assert_int_equal(aml_slurm_parse_version("slurm-wlm 22.05.8\nmore\n", v,
						 sizeof(v)), 0);
	assert_string_equal(v, "22.05.8");
	/* no release, not Slurm's, too long, or not N.N.N */
	assert_int_equal(aml_slurm_parse_version("", v, sizeof(v)), -1);
	assert_int_equal(aml_slurm_parse_version("munge 0.5.15\n", v, sizeof(v)), -1);
	assert_int_equal(aml_slurm_parse_version("slurm 24.11.5", v, 7), -1);
	assert_int_equal(aml_slurm_parse_version("slurm 24.11\n", v, sizeof(v)), -1);
	assert_int_equal(aml_slurm_parse_version("slurm 24.11.5-1\n", v, sizeof(v)), -1);
	assert_int_equal(aml_slurm_parse_version("slurm .24.11\n", v, sizeof(v)), -1);
	assert_int_equal(aml_slurm_parse_version("slurm\n", v, sizeof(v)), -1);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scontrol_fields),
		cmocka_unit_test(test_scontrol_reason_with_blanks),
		cmocka_unit_test(test_scontrol_whole_keys),
		cmocka_unit_test(test_scontrol_tracking_id),
		cmocka_unit_test(test_scontrol_spooled_mark),
		cmocka_unit_test(test_sacct_lines),
		cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
