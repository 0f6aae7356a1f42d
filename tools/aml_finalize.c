/*
 * aml-finalize: the controller's word on how a run's job ended.
 *
 * slurmctld runs it for every job that ends (JobCompType=jobcomp/script,
 * JobCompLoc=<this program>), as root, with the job in its environment:
 * JOBID, JOBNAME (a run's job is named after the run), JOBSTATE (Slurm's
 * base state), EXITCODE ("exit:signal"), UID, GID.  It records the end of
 * the run for every path the launcher cannot report: cancelled while
 * pending, node failure, a hard kill after KillWait, Slurm's own time
 * limit, out of memory, a boot failure.  When the launcher has already
 * recorded an end for this attempt, that end stands and nothing is
 * written; when the launcher's end waits in a node's spool (waiting.h),
 * the run is recorded Finalizing with the nodes it waits for, not given
 * Slurm's end.  A node failure or preemption that Slurm requeues is not an
 * end: the run goes back to Queued as a new attempt.
 *
 * jobcomp/script runs it for one job at a time, so nothing a user
 * controls may stall it: it writes as the run's owner in a child it stops
 * after AML_HISTORY_OWNED_WRITE_MS (a lock the owner holds on the run's
 * events, a hung filesystem), never through the owner's spool, and what
 * cannot be written in time waits in root's own spool.  Every invocation
 * then gives root's spool FINALIZE_REPLAY_MS; what is left waits for the
 * next job's end, or `aml-finalize --flush`.
 *
 * It must run as root (SlurmUser=root), and becomes the job's owner (UID
 * and GID, as Slurm knows them) before it looks anything up: it reads and
 * writes run history as that user would, so nothing a user plants in
 * their runs makes root act on a path.  Only root's own spool is touched
 * as root.  It only writes to a run whose owner is the job's user, so a
 * job named after someone else's run cannot end it.  jobcomp/script
 * throws its program's output away, so every problem goes to syslog
 * (daemon facility) as well as to stderr.  Exit status: 0 recorded,
 * queued or nothing to do, 1 a problem.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bounded.h"
#include "history.h"
#include "privdrop.h"
#include "runid.h"
#include "runs.h"
#include "site.h"
#include "spool.h"
#include "status.h"
#include "tools.h"
#include "waiting.h"

/* How long each job's end gives the writes waiting in root's spool. */
#define FINALIZE_REPLAY_MS 3000
/* And an administrator's --flush, unless told otherwise. */
#define FLUSH_DEFAULT_SECONDS 30

static const char usage[] =
	"Usage: aml-finalize\n"
	"       aml-finalize --flush [--seconds=N]\n"
	"\n"
	"Record how a run's Slurm job ended, from the job completion environment\n"
	"slurmctld gives JobCompLoc under JobCompType=jobcomp/script (JOBID,\n"
	"JOBNAME, JOBSTATE, EXITCODE, UID, GID).  Jobs that are not runs are\n"
	"ignored.\n"
	"\n"
	"  --flush        write what waits in root's spool (ends that could not\n"
	"                 be recorded in time), each as its run's owner, then exit\n"
	"  --seconds=N    give --flush at most N seconds (default 30)\n"
	"\n"
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

/* aml.conf and run history, without replaying anyone's spool: root's is
 * replayed under a deadline below, and a user's is never root's to
 * touch.  Returns 0, or -1 with errbuf. */
static int open_history(struct aml_site *site, struct aml_history **h,
			char *errbuf, size_t errlen)
{
	if (tool_load_site("finalize", NULL, site) != AML_EXIT_OK) {
		snprintf(errbuf, errlen, "cannot load aml.conf (set AML_CONF "
			 "in a wrapper when aml.conf is not beside slurm.conf)");
		return -1;
	}
	if (aml_history_open(site, h, errbuf, errlen) < 0) {
		aml_site_free(site);
		return -1;
	}
	return 0;
}

/*
 * Write what waits in root's spool until [deadline_ms]; say what is left.
 * Returns the number of entries still waiting, or -1 when the spool
 * cannot be read.
 */
static long replay_root_spool(struct aml_history *h, int64_t deadline_ms,
			      int verbose)
{
	struct aml_spool_replay_stats st = { 0 };
	char err[1024];

	if (aml_history_flush_until(h, deadline_ms, &st, err,
				    sizeof(err)) < 0) {
		fprintf(stderr, "aml-finalize: root's spool: %s\n", err);
		syslog(LOG_ERR, "root's spool: %s", err);
		return -1;
	}
	if (st.applied || st.rejected || st.remaining || verbose) {
		fprintf(stderr, "aml-finalize: root's spool: %zu written, %zu "
			"rejected (kept in its rejected/), %zu still waiting%s%s\n",
			st.applied, st.rejected, st.remaining,
			*err ? ": " : "", err);
		syslog(st.rejected || st.remaining ? LOG_WARNING : LOG_INFO,
		       "root's spool: %zu written, %zu rejected, %zu still "
		       "waiting%s%s", st.applied, st.rejected, st.remaining,
		       *err ? ": " : "", err);
	}
	return (long)st.remaining;
}

/* --flush [--seconds=N]: the administrator's way to empty root's spool
 * without waiting for a job to end. */
static int flush_command(int argc, char **argv)
{
	struct aml_history *h;
	struct aml_site site;
	long seconds = FLUSH_DEFAULT_SECONDS, left;
	char err[1024];

	for (int i = 2; i < argc; i++) {
		char *end;

		if (strncmp(argv[i], "--seconds=", 10)) {
			fputs(usage, stderr);
			return 64;
		}
		seconds = strtol(argv[i] + 10, &end, 10);
		if (end == argv[i] + 10 || *end || seconds < 1 ||
		    seconds > 86400) {
			fprintf(stderr, "aml-finalize: --seconds: a whole number "
				"of seconds from 1 to 86400, got \"%s\"\n",
				argv[i] + 10);
			return 64;
		}
	}
	if (geteuid() != 0) {
		fprintf(stderr, "aml-finalize: --flush must run as root: root's "
			"spool holds every user's waiting ends\n");
		return 1;
	}
	openlog("aml-finalize", LOG_PID, LOG_DAEMON);
	if (open_history(&site, &h, err, sizeof(err)) < 0) {
		fprintf(stderr, "aml-finalize: %s\n", err);
		return 1;
	}
	left = replay_root_spool(h, aml_monotonic_ms() + seconds * 1000, 1);
	runs_close(&site, h);
	return left == 0 ? 0 : 1;
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

/*
 * What the finalizer needs of a run, read in a child (bounded.h) acting
 * as the caller (the run's owner): a read of a hung filesystem must not
 * hold up slurmctld's queue of job ends, which runs one finalizer after
 * another.  The summary comes back through memory shared with the child.
 */
struct run_summary {
	int32_t found;               /* 1: read; 0: no such run; -1: error */
	int32_t has_events, status;
	uint32_t attempt, last_job;
	uint32_t uid;
	char run_id[AML_RUNID_MAX], experiment[AML_RUNID_MAX];
	char err[1024];
};

struct read_req {
	struct aml_history *h;
	const char *run_id;
	struct run_summary *out;
};

static int read_in_child(void *arg, char *errbuf, size_t errlen)
{
	const struct read_req *q = arg;
	struct run_summary *o = q->out;
	struct aml_run_info info = { 0 };

	(void)errbuf;
	(void)errlen;
	if (aml_history_read_run(q->h, q->run_id, 0, &info, o->err,
				 sizeof(o->err)) < 0) {
		o->found = strstr(o->err, "no run ") ? 0 : -1;
		return 0;
	}
	o->found = 1;
	o->has_events = info.state.has_events;
	o->status = (int32_t)info.state.status;
	o->attempt = info.state.attempt;
	o->last_job = runs_last_job(&info);
	o->uid = (uint32_t)info.uid;
	snprintf(o->run_id, sizeof(o->run_id), "%s", info.run_id);
	snprintf(o->experiment, sizeof(o->experiment), "%s", info.experiment);
	aml_run_info_free(&info);
	return 0;
}

/* Read [run_id] into [info] (its names, owner and state) within
 * [timeout_ms].  1: read; 0: no such run; -1: unreadable now, with why
 * in errbuf. */
static int read_run_bounded(struct aml_history *h, const char *run_id,
			    int64_t timeout_ms, struct aml_run_info *info,
			    uint32_t *last_job, char *errbuf, size_t errlen)
{
	struct read_req q = { h, run_id, NULL };
	char why[1024];
	int r, found;

	q.out = mmap(NULL, sizeof(*q.out), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (q.out == MAP_FAILED) {
		snprintf(errbuf, errlen, "mmap: %s", strerror(errno));
		return -1;
	}
	memset(q.out, 0, sizeof(*q.out));
	q.out->found = -1;
	r = aml_bounded_call(AML_BOUNDED_AS_CALLER, 0,
			     aml_monotonic_ms() + timeout_ms, read_in_child, &q,
			     why, sizeof(why));
	found = r == 0 ? q.out->found : -1;
	if (r == AML_BOUNDED_TIMEOUT)
		snprintf(errbuf, errlen, "run history did not answer within "
			 "%lld s (its filesystem hangs?)",
			 (long long)(timeout_ms / 1000));
	else if (r != 0)
		snprintf(errbuf, errlen, "%s", why);
	else if (found <= 0)
		snprintf(errbuf, errlen, "%s", q.out->err);
	if (found == 1) {
		info->run_id = strdup(q.out->run_id);
		info->experiment = strdup(q.out->experiment);
		info->uid = (uid_t)q.out->uid;
		info->state.has_events = q.out->has_events;
		info->state.status = (enum aml_status)q.out->status;
		info->state.attempt = q.out->attempt;
		*last_job = q.out->last_job;
		if (!info->run_id || !info->experiment) {
			snprintf(errbuf, errlen, "out of memory");
			found = -1;
		}
	}
	munmap(q.out, sizeof(*q.out));
	return found;
}

int main(int argc, char **argv)
{
	const char *job_name = getenv("JOBNAME"), *state = getenv("JOBSTATE");
	const char *job_text = getenv("JOBID");
	struct aml_identity as_owner = { 0 };
	struct aml_run_info info = { 0 };
	struct aml_slurm_job job;
	struct aml_history *h, *ho = NULL;
	struct aml_site site;
	struct aml_event ev;
	enum aml_status status;
	enum aml_history_result r;
	enum aml_waiting_verdict waiting = AML_END_FROM_SLURM;
	char reason[512], err[2048], nodes[256] = "";
	unsigned attempt;
	uint32_t job_id;
	uid_t uid;
	gid_t gid;
	int code, signal, is_requeue, have_job, found, blind = 0, rc = 0;
	uint32_t last_job = 0;

	aml_tool_use_mlflow_module();
	if (argc > 1 && !strcmp(argv[1], "--flush"))
		return flush_command(argc, argv);
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
	if (job_owner(&uid, &gid) < 0)
		return fail(job_name, "jobcomp gave no valid UID and GID; "
			    "nothing recorded");
	job_id = (uint32_t)strtoul(job_text, NULL, 10);
	parse_exit(getenv("EXITCODE"), &code, &signal);
	if (open_history(&site, &h, err, sizeof(err)) < 0)
		return fail(job_name, err);
	/* Threat: the run's directories belong to its user, who can plant
	 * symlinks, swap names and hold locks in them.  The job's owner,
	 * as Slurm knows it, is who the finalizer is for the lookup: it is
	 * the user's own, checked by the kernel as theirs would be, with a
	 * handle of theirs.  The real uid stays root (the user cannot
	 * signal or trace this process), for the restore below. */
	if (aml_identity_become(uid, gid, &as_owner, err, sizeof(err)) < 0) {
		rc = fail(job_name, err);
		goto done;
	}
	if (aml_history_open(&site, &ho, err, sizeof(err)) < 0) {
		rc = fail(job_name, err);
		goto done;
	}
	/* Slurm's record of the job, asked only when it matters (an RPC
	 * per job end would slow every finalization): whether a node
	 * failure or preemption was requeued, and the run's id on a
	 * tracking server, which the controller put in the job's admin
	 * comment.  The run is then read, and written, by that id, not by
	 * a name anyone sharing the experiment could give another run; the
	 * checks below still judge the run it names. */
	have_job = (site.history_backend == AML_HISTORY_MLFLOW ||
		    !strcmp(state, "NODE_FAIL") ||
		    !strcmp(state, "PREEMPTED")) &&
		   runs_slurm_query(job_id, &job) == 0;
	if (have_job && job.tracking_id[0] &&
	    (aml_history_bind(ho, job_name, job.tracking_id, err,
			      sizeof(err)) < 0 ||
	     aml_history_bind(h, job_name, job.tracking_id, err,
			      sizeof(err)) < 0)) {
		rc = fail(job_name, err);
		goto done;
	}
	found = read_run_bounded(ho, job_name,
				 (int64_t)site.history_timeout_seconds * 1000,
				 &info, &last_job, err, sizeof(err));
	if (found != 1) {
		/* Run history cannot say (away, hung, refusing us), or has no
		 * such run yet (its creation waits in a login host's spool).
		 * A job the controller made for a run still gets its end,
		 * queued until run history takes it, by the names the
		 * controller wrote into its AdminComment, which no user can
		 * change.  Any other job named like a run is not ours. */
		if (!have_job)
			have_job = runs_slurm_query(job_id, &job) == 0;
		if (!have_job || strcmp(job.run_id, job_name) ||
		    !job.experiment[0]) {
			if (found < 0)
				rc = fail(job_name, err);
			goto done;
		}
		blind = 1;
		syslog(LOG_WARNING, "run %s: run history cannot be read now "
		       "(%s); Slurm's end is recorded for when it can be",
		       job_name, err);
		info.run_id = strdup(job_name);
		info.experiment = strdup(job.experiment);
		info.uid = uid;
		info.state.has_events = 1;
		info.state.status = AML_STATUS_RUNNING;
		info.state.attempt = job.restarts + 1;
		if (!info.run_id || !info.experiment) {
			rc = fail(job_name, "out of memory");
			goto done;
		}
	}
	if (uid != info.uid) {
		rc = fail(info.run_id, "the job that ended belongs to another "
			  "user than the run; nothing recorded");
		goto done;
	}
	if (info.state.has_events && last_job && last_job != job_id) {
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
	} else if (info.state.has_events) {
		/* The launcher's end may wait in a node's spool; Slurm's
		 * record of the job says where, and is asked only when a
		 * mark would change what is recorded. */
		if (aml_waiting_judge(info.state.status, state, signal, "?") !=
		    aml_waiting_judge(info.state.status, state, signal, "")) {
			if (!have_job)
				have_job = runs_slurm_query(job_id, &job) == 0;
			if (have_job)
				snprintf(nodes, sizeof(nodes), "%s",
					 job.spooled_on);
		}
		waiting = aml_waiting_judge(info.state.status, state, signal,
					    nodes);
	}
	if (waiting == AML_END_WAIT) {
		syslog(LOG_INFO, "run %s: %s, and its own end is on its way "
		       "from a node's spool: nothing recorded", info.run_id,
		       aml_status_name(info.state.status));
		goto done;
	}
	if (aml_event_init(&ev, waiting == AML_END_MARK_WAITING
				       ? AML_STATUS_FINALIZING : status,
			   AML_SOURCE_FINALIZER) < 0) {
		rc = fail(info.run_id, "no randomness for an event id");
		goto done;
	}
	ev.attempt = attempt;
	ev.job_id = job_id;
	if (waiting == AML_END_MARK_WAITING) {
		aml_waiting_reason(nodes, have_job ? job.end_ms : 0, reason,
				   sizeof(reason));
	} else if (!is_requeue && strcmp(state, "BOOT_FAIL")) {
		/* A job that failed to boot ran nothing: Slurm's ExitCode
		 * (0:1) is a marker, not an exit status of the run. */
		ev.has_exit_code = 1;
		ev.exit_code = signal ? 128 + signal : code;
	}
	aml_event_set_reason(&ev, reason);
	/* Root again for the write: it is made by a child acting as the
	 * owner, stopped in time, and what waits, waits in root's spool. */
	aml_identity_restore(&as_owner);
	r = aml_history_record_owned(h, uid, gid,
				     aml_monotonic_ms() +
					     AML_HISTORY_OWNED_WRITE_MS,
				     info.experiment, info.run_id, &ev,
				     /* Moot once the run has moved past it:
				      * a note of waiting, or an end judged
				      * without the run's events. */
				     waiting == AML_END_MARK_WAITING || blind
					     ? AML_HISTORY_NOTE : 0,
				     err, sizeof(err));
	if (r == AML_HISTORY_ERROR) {
		rc = fail(info.run_id, err);
	} else if (r == AML_HISTORY_SPOOLED) {
		fprintf(stderr, "aml-finalize: run %s: %s\n", info.run_id, err);
		syslog(LOG_WARNING, "run %s: %s", info.run_id, err);
	}
	aml_event_free(&ev);
done:
	aml_identity_restore(&as_owner);
	/* As root, root's own spool only: ends earlier jobs could not write
	 * in time, for a while.  After this job's end, which is the one
	 * waited for now (one of its run's own still queued there keeps it
	 * behind: aml_history_record_owned). */
	replay_root_spool(h, aml_monotonic_ms() + FINALIZE_REPLAY_MS, 0);
	aml_run_info_free(&info);
	aml_history_close(ho);
	runs_close(&site, h);
	return rc;
}
