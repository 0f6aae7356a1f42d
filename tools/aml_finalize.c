/*
 * aml-finalize: the controller's word on how a run's job ended.
 *
 * slurmctld runs it for every job that ends (JobCompType=jobcomp/script,
 * JobCompLoc=<this program>), as root, with the job in its environment:
 * JOBID, JOBNAME (a run's job is named after the run), JOBSTATE (Slurm's
 * base state), EXITCODE ("exit:signal"), UID.  It records the end of the
 * run for every path the launcher cannot report: cancelled while pending,
 * node failure, a hard kill after KillWait, Slurm's own time limit, out
 * of memory, a boot failure.  When the launcher has already recorded an
 * end for this attempt, that end stands and nothing is written.  A node
 * failure or preemption that Slurm requeues is not an end: the run goes
 * back to Queued as a new attempt.
 *
 * It must run as root (SlurmUser=root), and becomes the job's owner (UID
 * and GID, as Slurm knows them) before it looks anything up: it reads and
 * writes run history as that user would, so nothing a user plants in
 * their runs makes root act on a path.  It only writes to a run whose
 * owner is the job's user, so a job named after someone else's run
 * cannot end it.  jobcomp/script throws its program's output
 * away, so every problem goes to syslog (daemon facility) as well as to
 * stderr.  Exit status: 0 recorded or nothing to do, 1 a problem.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "history.h"
#include "privdrop.h"
#include "runid.h"
#include "runs.h"
#include "site.h"
#include "status.h"

static const char usage[] =
	"Usage: aml-finalize\n"
	"\n"
	"Record how a run's Slurm job ended, from the job completion environment\n"
	"slurmctld gives JobCompLoc under JobCompType=jobcomp/script (JOBID,\n"
	"JOBNAME, JOBSTATE, EXITCODE).  Jobs that are not runs are ignored.\n"
	"See aml-finalize(8).\n";

static int fail(const char *run_id, const char *what)
{
	fprintf(stderr, "aml-finalize: run %s: %s\n", run_id, what);
	syslog(LOG_ERR, "run %s: %s", run_id, what);
	return 1;
}

/* "2:15" -> 2 and 15 */
static void parse_exit(const char *text, int *code, int *signal)
{
	char *colon;

	*code = text ? (int)strtol(text, &colon, 10) : 0;
	*signal = text && *colon == ':' ? (int)strtol(colon + 1, NULL, 10) : 0;
}

/*
 * NODE_FAIL and PREEMPTED end a job only when Slurm does not requeue it;
 * jobcomp's JOBSTATE cannot say which, Slurm's record of the job [job]
 * (NULL when Slurm could not be asked) can: pending again, one more
 * restart.  Sets [*attempt] to the attempt the requeue starts.
 */
static int requeued(const struct aml_slurm_job *job, unsigned *attempt)
{
	if (!job)
		return 0;
	if (strcmp(job->state, "PENDING") && strcmp(job->state, "REQUEUED") &&
	    strcmp(job->state, "CONFIGURING") && strcmp(job->state, "RUNNING"))
		return 0;
	*attempt = job->restarts + 1;
	return 1;
}

/* The job's owner from jobcomp's UID and GID: plain decimal numbers. */
static int job_owner(uid_t *uid, gid_t *gid)
{
	const char *u = getenv("UID"), *g = getenv("GID");
	unsigned long un, gn;
	char *end;

	if (!u || !g || !*u || !*g)
		return -1;
	errno = 0;
	un = strtoul(u, &end, 10);
	if (errno || *end || un >= (uid_t)-1)
		return -1;
	gn = strtoul(g, &end, 10);
	if (errno || *end || gn >= (gid_t)-1)
		return -1;
	*uid = (uid_t)un;
	*gid = (gid_t)gn;
	return 0;
}

int main(int argc, char **argv)
{
	const char *job_name = getenv("JOBNAME"), *state = getenv("JOBSTATE");
	const char *job_text = getenv("JOBID");
	struct aml_identity as_owner = { 0 };
	struct aml_slurm_job job;
	struct aml_run_info info;
	struct aml_history *h;
	uid_t uid;
	gid_t gid;
	struct aml_site site;
	struct aml_event ev;
	enum aml_status status;
	enum aml_history_result r;
	char reason[256], err[1024];
	unsigned attempt;
	uint32_t job_id;
	int code, signal, is_requeue, have_job, rc = 0;

	if (argc > 1) {
		fputs(usage, strcmp(argv[1], "-h") && strcmp(argv[1], "--help")
			      ? stderr : stdout);
		return argc == 2 && (!strcmp(argv[1], "-h") ||
				     !strcmp(argv[1], "--help")) ? 0 : 64;
	}
	/* Every job ends here; only runs concern us. */
	if (!job_name || !aml_runid_is_valid(job_name) || !state || !job_text)
		return 0;
	openlog("aml-finalize", LOG_PID, LOG_DAEMON);
	if (geteuid() != 0)
		return fail(job_name, "must run as root (SlurmUser=root): it "
			    "writes every user's runs as their owner");
	/* Threat: the run's directories belong to its user, who can plant
	 * symlinks, swap names and hold locks in them.  The job's owner,
	 * as Slurm knows it, is who the finalizer is from here on: every
	 * lookup and write is the user's own, checked by the kernel as
	 * theirs would be.  The real uid stays root (the user cannot
	 * signal or trace this process), for the restore at the end. */
	if (job_owner(&uid, &gid) < 0)
		return fail(job_name, "jobcomp gave no valid UID and GID; "
			    "nothing recorded");
	if (aml_identity_become(uid, gid, &as_owner, err, sizeof(err)) < 0)
		return fail(job_name, err);
	job_id = (uint32_t)strtoul(job_text, NULL, 10);
	parse_exit(getenv("EXITCODE"), &code, &signal);
	if (runs_open("finalize", NULL, &site, &h) != 0) {
		aml_identity_restore(&as_owner);
		return fail(job_name, "cannot load aml.conf or open run history "
			    "(set AML_CONF in a wrapper when aml.conf is not "
			    "beside slurm.conf)");
	}
	/* Slurm's record of the job, asked only when it matters (an RPC
	 * per job end would slow every finalization): whether a node
	 * failure or preemption was requeued, and the run's id on a
	 * tracking server, which the controller put in the job's admin
	 * comment.  The run is then read by that id, not by a name anyone
	 * sharing the experiment could give another run; the checks below
	 * still judge the run it names. */
	have_job = (site.history_backend == AML_HISTORY_MLFLOW ||
		    !strcmp(state, "NODE_FAIL") ||
		    !strcmp(state, "PREEMPTED")) &&
		   runs_slurm_query(job_id, &job) == 0;
	if (have_job && job.tracking_id[0] &&
	    aml_history_bind(h, job_name, job.tracking_id, err,
			     sizeof(err)) < 0) {
		runs_close(&site, h);
		aml_identity_restore(&as_owner);
		return fail(job_name, err);
	}
	if (aml_history_read_run(h, job_name, 0, &info, err, sizeof(err)) < 0) {
		/* A job named like a run that is none is not ours to
		 * report; one we cannot read is a problem to say. */
		runs_close(&site, h);
		aml_identity_restore(&as_owner);
		return strstr(err, "no run ") ? 0 : fail(job_name, err);
	}
	if (uid != info.uid) {
		rc = fail(info.run_id, "the job that ended belongs to another "
			  "user than the run; nothing recorded");
		goto done;
	}
	if (info.state.has_events && runs_last_job(&info) &&
	    runs_last_job(&info) != job_id) {
		rc = fail(info.run_id, "the job that ended is not the run's job; "
			  "nothing recorded");
		goto done;
	}
	if (aml_status_from_slurm(state, code, signal, 0, &status, &is_requeue,
				  reason, sizeof(reason)) < 0)
		goto done; /* not an end (RESIZING...) */
	attempt = info.state.attempt ? info.state.attempt : 1;
	if ((!strcmp(state, "NODE_FAIL") || !strcmp(state, "PREEMPTED")) &&
	    requeued(have_job ? &job : NULL, &attempt) &&
	    attempt > info.state.attempt) {
		aml_status_from_slurm(state, code, signal, 1, &status,
				      &is_requeue, reason, sizeof(reason));
	} else if (info.state.has_events &&
		   aml_status_is_terminal(info.state.status)) {
		goto done; /* the launcher's end stands */
	}
	if (aml_event_init(&ev, status, AML_SOURCE_FINALIZER) < 0) {
		rc = fail(info.run_id, "no randomness for an event id");
		goto done;
	}
	ev.attempt = attempt;
	ev.job_id = job_id;
	/* A job that failed to boot ran nothing: Slurm's ExitCode (0:1)
	 * is a marker, not an exit status of the run. */
	if (!is_requeue && strcmp(state, "BOOT_FAIL")) {
		ev.has_exit_code = 1;
		ev.exit_code = signal ? 128 + signal : code;
	}
	aml_event_set_reason(&ev, reason);
	r = aml_history_record(h, info.experiment, info.run_id, &ev, err,
			       sizeof(err));
	if (r == AML_HISTORY_ERROR)
		rc = fail(info.run_id, err);
	else if (r == AML_HISTORY_SPOOLED)
		fprintf(stderr, "aml-finalize: run %s: %s\n", info.run_id, err);
	aml_event_free(&ev);
done:
	aml_run_info_free(&info);
	runs_close(&site, h);
	aml_identity_restore(&as_owner);
	return rc;
}
