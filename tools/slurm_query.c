/*
 * slurm_query.c: asking Slurm about a job (see slurm_query.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"
#include "slurm_query.h"
#include "waiting.h"

extern char **environ;

/* Run [argv] and keep what it prints on stdout (up to [len] - 1 bytes);
 * stderr is kept in [err] the same way.  Returns the exit status, or -1
 * when it could not be started. */
static int run_capture(char *const argv[], char *out, size_t len, char *err,
		       size_t errlen)
{
	posix_spawn_file_actions_t actions;
	int outpipe[2], errpipe[2], status;
	size_t n = 0, m = 0;
	pid_t pid;

	if (pipe2(outpipe, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		close(outpipe[0]);
		close(outpipe[1]);
		return -1;
	}
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, outpipe[1], 1);
	posix_spawn_file_actions_adddup2(&actions, errpipe[1], 2);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	status = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	close(outpipe[1]);
	close(errpipe[1]);
	if (status != 0) {
		close(outpipe[0]);
		close(errpipe[0]);
		return -1;
	}
	/* Both outputs are small (one job); stdout first, then stderr, is
	 * safe as long as stderr fits the pipe, which a one-line error does. */
	for (;;) {
		char sink[512];
		ssize_t got = n + 1 < len ? read(outpipe[0], out + n, len - 1 - n)
					  : read(outpipe[0], sink, sizeof(sink));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (n + 1 < len)
			n += (size_t)got;
	}
	for (;;) {
		ssize_t got = m + 1 < errlen
				      ? read(errpipe[0], err + m, errlen - 1 - m)
				      : 0;

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		m += (size_t)got;
	}
	out[n] = '\0';
	err[m] = '\0';
	close(outpipe[0]);
	close(errpipe[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
	if (rc < 0 || !strstr(err, "Invalid job id"))
		return -1;
	/* The controller forgot the job (MinJobAge); accounting may not. */
	rc = run_capture(sacct, out, sizeof(out), err, sizeof(err));
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
static int job_owner(uint32_t job_id, uint32_t *uid)
{
	char id[16], out[64], err[1024], *end;
	char *squeue[] = { "squeue", "-h", "-j", id, "-o", "%U", NULL };
	unsigned long v;
	int rc;

	snprintf(id, sizeof(id), "%u", job_id);
	rc = run_capture(squeue, out, sizeof(out), err, sizeof(err));
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
	char id[16], out[256], err[1024];
	char *scancel[] = { "scancel", id, NULL };
	uint32_t uid;
	int rc;

	/* The job id comes from the run's history, which its owner
	 * writes: an administrator cancelling a run must not cancel
	 * another user's job a run names. */
	rc = job_owner(job_id, &uid);
	if (rc < 0)
		return aml_fail(errbuf, errlen, "cannot ask Slurm (squeue) "
				"whose job %u is; nothing cancelled", job_id);
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
			rc < 0 ? "scancel could not be run"
			       : *err ? err : "no message");
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
				rc < 0 ? "could not be run" : err);
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
			rc < 0 ? "could not be run" : *err ? err : "failed");
}
