/*
 * launch_finish.c: see launch_finish.h.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datastore_copy.h"
#include "job_env.h"
#include "launch.h"
#include "launch_finish.h"
#include "node_rundir.h"
#include "slurm_query.h"
#include "waiting.h"

/* The run's end, as the batch node decided it, for the other nodes'
 * upload step: a node that must keep its outputs in its spool keeps the
 * end behind them (launch_finish.h). */

extern char **environ;

static int upload(const struct launch_ctx *c, const char *dir)
{
	struct aml_artifact_stats stats = { 0 };
	enum aml_history_result r;
	char err[1024];

	r = aml_history_upload(c->h, c->experiment, c->run_id, c->workdir_fd,
			       dir, &stats, err, sizeof(err));
	if (r == AML_HISTORY_ERROR)
		launch_say("uploading %s/: %s", dir, err);
	else if (r == AML_HISTORY_SPOOLED)
		launch_say("%s/: %s", dir, err);
	for (size_t i = 0; i < stats.n_notes; i++)
		launch_say("%s", stats.notes[i]);
	if (stats.skipped > stats.n_notes)
		launch_say("%s/: %llu more file(s) skipped", dir,
			   (unsigned long long)(stats.skipped - stats.n_notes));
	aml_artifact_stats_free(&stats);
	return r == AML_HISTORY_ERROR ? -1 : 0;
}

/*
 * What this user has still queued on the node as the launcher ends (its
 * end, its uploads, or older writes in front of them) is the run's end
 * waiting in the node's spool.  Slurm is told, in the job's comment
 * (waiting.h), so that neither the finalizer nor aml-run takes Slurm's
 * end for the run's meanwhile; aml-epilog delivers the spool at the
 * job's end, or a later one's.
 */
static void mark_if_spooled(const struct launch_ctx *c)
{
	size_t remaining = 0;
	char err[1024];

	if (aml_history_flush(c->h, &remaining, err, sizeof(err)) == 0 &&
	    remaining == 0)
		return;
	if (!c->job_id || !c->node) {
		launch_say("the run's end waits in this machine's spool");
		return;
	}
	if (runs_slurm_mark_spooled(c->job_id, c->node, err,
				    sizeof(err)) < 0)
		launch_say("the run's end waits in the spool of node %s, and "
			   "the job's comment cannot say so: %s", c->node, err);
	else
		launch_say("the run's end waits in the spool of node %s; its "
			   "epilog delivers it when run history is back "
			   "(job comment: spooled_on=%s)", c->node, c->node);
}

/*
 * This node's outputs wait in its spool: the run's end the batch node
 * handed over ([AML_ENV_LAUNCH_END]) waits behind them, so it is delivered
 * after them, whoever delivers them.
 */
static void keep_end_behind(const struct launch_ctx *c)
{
	const char *line = getenv(AML_ENV_LAUNCH_END);
	enum aml_history_result r;
	struct aml_event ev;
	size_t remaining = 0;
	char err[1024];

	if (!line || !*line ||
	    (aml_history_flush(c->h, &remaining, err, sizeof(err)) == 0 &&
	     remaining == 0))
		return;
	if (aml_event_decode(line, strlen(line), &ev, err, sizeof(err)) < 0) {
		launch_say("the run's end from the batch node: %s", err);
		return;
	}
	r = aml_history_record(c->h, c->experiment, c->run_id, &ev, err,
			       sizeof(err));
	if (r == AML_HISTORY_ERROR)
		launch_say("cannot keep the run's end behind this node's "
			   "outputs: %s", err);
	aml_event_free(&ev);
}

/*
 * Every upload from this node reached run history or the spool: say so
 * beside the working directory, so that the node's epilog removes it
 * without uploading again.  Without the mark the epilog uploads them
 * itself, or keeps the directory until they are delivered
 * (node_rundir.h).
 */
static void mark_delivered(const struct launch_ctx *c)
{
	char err[1024];

	if (aml_node_rundir_mark_delivered(c->workdir_fd,
					   getenv(AML_ENV_WORKDIR), c->job_id,
					   c->attempt, err, sizeof(err)) < 0)
		launch_say("%s; the node's epilog delivers this node's "
			   "outputs and logs instead", err);
}

int launch_upload_node(const struct launch_ctx *c)
{
	/* The batch node uploads its own, after this step. */
	const char *batch = getenv(AML_ENV_BATCH_NODE);
	int rc;

	if (batch && c->node && !strcmp(batch, c->node))
		return 0;
	/* Both tried, whatever the first did. */
	rc = upload(c, "outputs") < 0;
	rc = (upload(c, "logs") < 0) | rc;
	if (!rc)
		mark_delivered(c);
	keep_end_behind(c);
	mark_if_spooled(c);
	return rc;
}

/* The other nodes' uploads, as one srun step; 0, or -1 when some node's
 * could not be made (the step failed to start, or a node said so). */
static int upload_other_nodes(const struct launch_ctx *c, uint32_t nodes,
			      const char *run_dir)
{
	char self[4096], n[32], chdir_opt[4200], export_opt[512];
	char *argv[] = { "srun", n, "--ntasks-per-node=1", chdir_opt,
			 export_opt, "--kill-on-bad-exit=0", "--input=none",
			 "--", self, "--upload-node", NULL };
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;
	int status;

	if (len <= 0)
		return -1;
	self[len] = '\0';
	snprintf(n, sizeof(n), "--nodes=%u", nodes);
	snprintf(chdir_opt, sizeof(chdir_opt), "--chdir=%s", run_dir);
	snprintf(export_opt, sizeof(export_opt),
		 "--export=ALL," AML_ENV_LAUNCH_STEP "=1,"
		 AML_ENV_BATCH_NODE "=%s",
		 c->node ? c->node : "");
	if (posix_spawnp(&pid, "srun", NULL, NULL, argv, environ) != 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/*
 * The outputs bound to a datastore, copied there from this (the batch)
 * node's outputs/, as the run's user: 0, or -1 when one could not be
 * (said on stderr; the run's outputs still reach run history).
 */
static int copy_to_datastores(const struct launch_ctx *c)
{
	int rc = 0;

	for (size_t i = 0; i < c->n_datastore_outputs; i++) {
		const struct aml_datastore_output *o = &c->datastore_outputs[i];
		struct aml_artifact_stats stats;
		char err[1024];

		if (aml_datastore_copy(c->workdir_fd, o, &stats, err,
				       sizeof(err)) < 0) {
			launch_say("%s", err);
			rc = -1;
		}
		for (size_t j = 0; j < stats.n_notes; j++)
			launch_say("%s", stats.notes[j]);
		aml_artifact_stats_free(&stats);
	}
	return rc;
}

/*
 * Record Finalizing.  Returns 1 when run history already has the run's
 * end: Slurm ended the job (scancel, time limit, boot failure...) and
 * the finalizer, which slurmctld runs before it signals the steps, got
 * there first with Slurm's reason.  That end stands; the outputs are
 * still worth uploading, and the user is told once, calmly.
 */
static int finalizing(const struct launch_ctx *c)
{
	struct aml_run_info run = { 0 };
	char err[1024], why[1024];
	int ended = 0;

	if (launch_record_quietly(c, AML_STATUS_FINALIZING, NULL, 0, 0, NULL,
				  err, sizeof(err)) != AML_HISTORY_ERROR)
		return 0;
	if (aml_history_read_run(c->h, c->run_id, 0, &run, why,
				 sizeof(why)) == 0 &&
	    run.state.attempt == c->attempt &&
	    aml_status_is_terminal(run.state.status)) {
		ended = 1;
		launch_say("run history already has the run's end, %s%s%s; "
			   "uploading its outputs",
			   aml_status_name(run.state.status),
			   run.state.reason ? ": " : "",
			   run.state.reason ? run.state.reason : "");
	} else {
		launch_say("cannot record Finalizing: %s", err);
	}
	aml_run_info_free(&run);
	return ended;
}

/*
 * The end [end], which another node keeps behind its outputs in its
 * spool: recorded here only behind what this node has queued too, since
 * recorded now it would end the run before those outputs arrive.
 */
static void end_carried(const struct launch_ctx *c, const struct aml_event *end,
			const char *nodes)
{
	enum aml_history_result r;
	size_t remaining = 0;
	char err[1024];

	launch_say("the outputs of node(s) %s wait in their spool, and the "
		   "run's end behind them: the run ends when they are "
		   "delivered", nodes);
	if (aml_history_flush(c->h, &remaining, err, sizeof(err)) == 0 &&
	    remaining == 0)
		return;
	r = aml_history_record(c->h, c->experiment, c->run_id, end, err,
			       sizeof(err));
	if (r == AML_HISTORY_ERROR)
		launch_say("cannot record %s: %s", aml_status_name(end->status),
			   err);
}

/*
 * Whether Slurm ended the job (see launch_finish.h): the launcher or the
 * command got a signal Slurm may have sent, and Slurm's record of the job holds an end (TIMEOUT,
 * CANCELLED, BOOT_FAIL, PREEMPTED...), which the finalizer records.  A
 * signal with the job still running (scancel --signal to the step, a
 * kill by hand), or Slurm out of reach, leaves the end to the launcher.
 * [state] gets Slurm's state.
 */
static int slurm_ended_job(const struct launch_ctx *c,
			   const struct launch_verdict *v, char *state,
			   size_t len)
{
	struct aml_slurm_job job;
	enum aml_status status;
	char reason[256];
	int requeue;

	if (!v->slurm_may_have_ended || !c->job_id ||
	    runs_slurm_query(c->job_id, &job) != 0 ||
	    aml_status_from_slurm(job.state, job.exit_code, job.signal, 0,
				  &status, &requeue, reason,
				  sizeof(reason)) < 0)
		return 0;
	snprintf(state, len, "%s", job.state);
	return 1;
}

void launch_finish(const struct launch_ctx *c, struct launch_verdict *v,
		   uint32_t nodes, const char *run_dir)
{
	static const char *const dirs[] = { "outputs", "logs", "user_logs" };
	char before[256] = "", after[256] = "", err[1024], slurm_state[32];
	struct aml_event end;
	int lost = 0, own_lost = 0, ended, slurm_ends, handed = 0,
	    carried = 0;

	slurm_ends = slurm_ended_job(c, v, slurm_state, sizeof(slurm_state));
	ended = finalizing(c);
	/* The end travels with the other nodes' outputs only when it is the
	 * launcher's to record (not Slurm's, not already recorded). */
	if (nodes > 1 && !ended && !slurm_ends && c->job_id &&
	    launch_event_make(c, v->status, v->reason[0] ? v->reason : NULL,
			      v->has_exit_code, v->exit_code, &end, err,
			      sizeof(err)) == 0) {
		char *line = aml_event_encode(&end);

		if (line) {
			line[strcspn(line, "\n")] = '\0';
			handed = setenv(AML_ENV_LAUNCH_END, line, 1) == 0 &&
				 runs_slurm_spooled_on(c->job_id, before,
						       sizeof(before), err,
						       sizeof(err)) == 0;
			free(line);
		}
		if (!handed)
			aml_event_free(&end);
	}
	if (nodes > 1 && upload_other_nodes(c, nodes, run_dir) < 0) {
		launch_say("the other nodes' outputs/ and logs/ could not all "
			   "be uploaded");
		lost = 1;
	}
	unsetenv(AML_ENV_LAUNCH_END);
	/* A node that kept its outputs (and the end) in its spool says so
	 * in the job's comment; an older mark is not this attempt's. */
	if (handed && !lost &&
	    runs_slurm_spooled_on(c->job_id, after, sizeof(after), err,
				  sizeof(err)) == 0)
		carried = aml_waiting_added(before, after, c->node);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (upload(c, dirs[i]) < 0)
			own_lost = 1;
	if (!own_lost)
		mark_delivered(c);
	lost |= own_lost;
	if (copy_to_datastores(c) < 0 && !lost &&
	    v->status == AML_STATUS_COMPLETED) {
		v->status = AML_STATUS_FAILED;
		snprintf(v->reason, sizeof(v->reason),
			 "the script succeeded, but its outputs could not all "
			 "be copied to their datastore (see the job's error "
			 "output)");
	}
	if (lost && v->status == AML_STATUS_COMPLETED) {
		v->status = AML_STATUS_FAILED;
		snprintf(v->reason, sizeof(v->reason),
			 "the script succeeded, but its outputs could not all "
			 "be uploaded (see the job's error output)");
	}
	if (!ended && slurm_ends)
		launch_say("Slurm ended the job (%s): aml-finalize records the "
			   "run's end, with Slurm's reason", slurm_state);
	else if (!ended && carried && !lost)
		end_carried(c, &end, after);
	else if (!ended)
		launch_record(c, v->status, v->reason[0] ? v->reason : NULL,
			      v->has_exit_code, v->exit_code, NULL);
	if (handed)
		aml_event_free(&end);
	mark_if_spooled(c);
}

void launch_exit(const struct launch_verdict *v)
{
	if (v->exit_signal) {
		struct rlimit no_core = { 0, 0 };
		sigset_t set;

		fflush(NULL);
		/* The command's core dump (if any) is the one that
		 * matters; the launcher only repeats its end. */
		setrlimit(RLIMIT_CORE, &no_core);
		signal(v->exit_signal, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, v->exit_signal);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(v->exit_signal);
		/* A signal whose default is to be ignored or to stop
		 * (SIGCHLD, SIGTSTP...) cannot end us. */
	}
	exit(v->exit_status & 0xff);
}
