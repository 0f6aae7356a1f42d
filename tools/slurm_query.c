/*
 * slurm_query.c: asking Slurm about a job (see slurm_query.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "errors.h"
#include "slurm_query.h"
#include "waiting.h"

/* How long one Slurm command may take.  The controller answers in
 * milliseconds when it is up; a busy one can take seconds, and Slurm's
 * own clients retry for about MessageTimeout (10 s by default) before
 * giving up, so 30 s is only passed by a controller that is down or
 * hung, and nothing the tools do must wait on that for ever. */
#define SLURM_COMMAND_TIMEOUT_MS 30000

/* run_capture's answer when that time passed. */
#define TIMED_OUT (-2)

/*
 * Run [argv] and keep what it prints on stdout (up to [len] - 1 bytes) and
 * on stderr (up to [errlen] - 1), the rest read and dropped.  Returns the
 * exit status; TIMED_OUT, with why in [err], when it gave no answer
 * within SLURM_COMMAND_TIMEOUT_MS (its process group is then killed); -1,
 * with why in [err], when it could not be run or was killed.
 */
static int run_capture(char *const argv[], char *out, size_t len, char *err,
		       size_t errlen)
{
	struct aml_command cmd = {
		.argv = argv,
		.timeout_ms = SLURM_COMMAND_TIMEOUT_MS,
		.out_max = len - 1,
		.err_max = errlen - 1,
	};
	struct aml_command_result res;
	int rc = -1;

	out[0] = '\0';
	switch (aml_command_run(&cmd, &res)) {
	case AML_COMMAND_EXITED:
		memcpy(out, res.out, res.out_len + 1);
		memcpy(err, res.err, res.err_len + 1);
		rc = res.exit_status;
		break;
	case AML_COMMAND_TOO_MUCH:      /* not asked for: out is cut */
	case AML_COMMAND_TIMEOUT:
		snprintf(err, errlen, "%s gave no answer within %d s (is "
			 "slurmctld up?); stopped it", argv[0],
			 SLURM_COMMAND_TIMEOUT_MS / 1000);
		rc = TIMED_OUT;
		break;
	case AML_COMMAND_SIGNALED:
		snprintf(err, errlen, "%s was killed by signal %d (%s)",
			 argv[0], res.term_signal, strsignal(res.term_signal));
		break;
	case AML_COMMAND_NOT_STARTED:
		snprintf(err, errlen, "%s could not be run: %s", argv[0],
			 strerror(res.error));
		break;
	case AML_COMMAND_FAILED:
		snprintf(err, errlen, "%s could not be run: %s failed: %s",
			 argv[0], res.failed_call, strerror(res.error));
		break;
	}
	aml_command_result_free(&res);
	return rc;
}

/* Say on stderr why Slurm could not be asked when that took all of
 * SLURM_COMMAND_TIMEOUT_MS: the callers of runs_slurm_query go on
 * without Slurm's answer, and a wait that long must not be silent. */
static void tell_if_slow(int rc, const char *err)
{
	if (rc == TIMED_OUT)
		fprintf(stderr, "%s: %s\n", program_invocation_short_name,
			err);
}

int runs_slurm_release(char *buf, size_t len, const char **program)
{
	static char *const daemons[][3] = { { "slurmctld", "-V", NULL },
					   { "slurmd", "-V", NULL } };
	char out[256], err[256];

	for (size_t i = 0; i < 2; i++) {
		if (run_capture(daemons[i], out, sizeof(out), err,
				sizeof(err)) == 0 &&
		    aml_slurm_parse_version(out, buf, len) == 0) {
			*program = daemons[i][0];
			return 0;
		}
	}
	return -1;
}

int runs_slurm_query(uint32_t job_id, struct aml_slurm_job *job)
{
	char id[16], out[8192], err[1024];
	char *scontrol[] = { "scontrol", "show", "job", "-o", id, NULL };
	char *sacct[] = { "sacct", "-n", "-P", "-X", "-o", "State,ExitCode,End",
			  "-j", id, NULL };
	int rc;

	snprintf(id, sizeof(id), "%u", job_id);
	rc = run_capture(scontrol, out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		return aml_slurm_parse_scontrol(out, job) == 0 ? 0 : -1;
	tell_if_slow(rc, err);
	if (rc < 0 || !strstr(err, "Invalid job id"))
		return -1;
	/* The controller forgot the job (MinJobAge); accounting may not. */
	rc = run_capture(sacct, out, sizeof(out), err, sizeof(err));
	tell_if_slow(rc, err);
	if (rc == 0 && aml_slurm_parse_sacct(out, job) == 0)
		return 0;
	return 1;
}

/*
 * Whose job [job_id] is, as Slurm says in a field no user writes (squeue's
 * numeric %U: scontrol's one-line record holds the job's name and
 * comment, which its owner chooses, so a key there can be forged).
 * Returns 0 with [*uid], 1 when Slurm no longer knows the job, -1 when it
 * cannot be asked.
 */
static int job_owner(uint32_t job_id, uint32_t *uid, char *why,
		     size_t whylen)
{
	char id[16], out[64], err[1024], *end;
	char *squeue[] = { "squeue", "-h", "-j", id, "-o", "%U", NULL };
	unsigned long v;
	int rc;

	snprintf(id, sizeof(id), "%u", job_id);
	why[0] = '\0';
	rc = run_capture(squeue, out, sizeof(out), err, sizeof(err));
	if (rc < 0)
		snprintf(why, whylen, "%s", err);
	if (rc != 0)
		return rc > 0 && strstr(err, "Invalid job id") ? 1 : -1;
	v = strtoul(out, &end, 10);
	if (end == out || (*end && *end != '\n') || v > UINT32_MAX)
		return strspn(out, " \n") == strlen(out) ? 1 : -1;
	*uid = (uint32_t)v;
	return 0;
}

int runs_slurm_cancel(uint32_t job_id, uint32_t owner, char *errbuf,
		      size_t errlen)
{
	char id[16], out[256], err[1024], why[1024];
	char *scancel[] = { "scancel", id, NULL };
	uint32_t uid;
	int rc;

	/* The job id comes from the run's history, which its owner
	 * writes: an administrator cancelling a run must not cancel
	 * another user's job a run names. */
	rc = job_owner(job_id, &uid, why, sizeof(why));
	if (rc < 0)
		return aml_fail(errbuf, errlen, "cannot ask Slurm (squeue) "
				"whose job %u is%s%s; nothing cancelled", job_id,
				*why ? ": " : "", why);
	if (rc == 0 && uid != owner)
		return aml_fail(errbuf, errlen, "Slurm job %u belongs to uid "
				"%u, not to the run's owner (uid %u); nothing "
				"cancelled", job_id, uid, owner);
	snprintf(id, sizeof(id), "%u", job_id);
	rc = run_capture(scancel, out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		return 0;
	err[strcspn(err, "\n")] = '\0';
	return aml_fail(errbuf, errlen, "scancel %u failed: %s", job_id,
			*err ? err : "no message");
}

/* [job_id]'s comment ("" for none) into [out]; 0, or -1 with errbuf. */
static int read_comment(uint32_t job_id, char *out, size_t len, char *errbuf,
			size_t errlen)
{
	char id[16], err[1024];
	char *squeue[] = { "squeue", "-h", "-j", id, "-o", "%k", NULL };
	int rc;

	snprintf(id, sizeof(id), "%u", job_id);
	rc = run_capture(squeue, out, len, err, sizeof(err));
	if (rc != 0) {
		err[strcspn(err, "\n")] = '\0';
		return aml_fail(errbuf, errlen, "squeue -j %u: %s", job_id,
				err);
	}
	out[strcspn(out, "\n")] = '\0';
	if (!strcmp(out, "(null)"))
		out[0] = '\0';
	return 0;
}

int runs_slurm_spooled_on(uint32_t job_id, char *buf, size_t len,
			  char *errbuf, size_t errlen)
{
	char comment[4096];

	if (len)
		buf[0] = '\0';
	if (read_comment(job_id, comment, sizeof(comment), errbuf, errlen) < 0)
		return -1;
	aml_waiting_nodes(comment, buf, len);
	return 0;
}

int runs_slurm_mark_spooled(uint32_t job_id, const char *node, char *errbuf,
			    size_t errlen)
{
	char out[4096], err[1024], *comment, *arg;
	char *scontrol[] = { "scontrol", "update", NULL, NULL, NULL };
	char jobid_arg[32];
	int rc;

	if (read_comment(job_id, out, sizeof(out), errbuf, errlen) < 0)
		return -1;
	comment = aml_waiting_mark_comment(out, node);
	if (!comment)
		return aml_fail(errbuf, errlen, "node \"%s\" cannot be named in "
				"a comment", node);
	if (asprintf(&arg, "Comment=%s", comment) < 0) {
		free(comment);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	free(comment);
	snprintf(jobid_arg, sizeof(jobid_arg), "JobId=%u", job_id);
	scontrol[2] = jobid_arg;
	scontrol[3] = arg;
	rc = run_capture(scontrol, out, sizeof(out), err, sizeof(err));
	free(arg);
	if (rc == 0)
		return 0;
	err[strcspn(err, "\n")] = '\0';
	return aml_fail(errbuf, errlen, "scontrol update JobId=%u: %s", job_id,
			*err ? err : "failed");
}
