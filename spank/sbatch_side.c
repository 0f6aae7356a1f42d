/*
 * sbatch_side.c: sbatch's part of a run (see sbatch_side.h).
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include "slurm_compat.h"

#include "admin_comment.h"
#include "errors.h"
#include "event.h"
#include "gitinfo.h"
#include "hash.h"
#include "history.h"
#include "job_env.h"
#include "plan.h"
#include "runconfig.h"
#include "runid.h"
#include "sbatch_side.h"
#include "self.h"
#include "site.h"
#include "snapshot.h"
#include "store.h"
#include "text.h"

/* What prepare leaves for finish, which runs from sbatch's exit handler. */
static struct {
	int prepared;              /* a second prepare is a heterogeneous job */
	int have_site;
	struct aml_site site;      /* the history keeps pointing into it */
	struct aml_history *history;
	char *experiment;
	char *run_id;
	int created;               /* the run is in history, NotStarted */
	const char *abandoned;     /* why sbatch stopped after creating it */
} state;

static void print_errors(const struct aml_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		slurm_error(AML_LOG_PREFIX "%s", errs->lines[i]);
	if (errs->out_of_memory)
		slurm_error(AML_LOG_PREFIX "out of memory");
}

static int load_site(void)
{
	char path[PATH_MAX];
	struct aml_errors errs;
	int r;

	if (aml_site_default_path(path, sizeof(path)) < 0) {
		slurm_error(AML_LOG_PREFIX "the path of aml.conf is too long (AML_CONF or SLURM_CONF)");
		return -1;
	}
	aml_errors_init(&errs, NULL);
	r = aml_site_load(path, &state.site, &errs);
	if (r < 0)
		print_errors(&errs);
	else
		state.have_site = 1;
	aml_errors_free(&errs);
	return r;
}

/*
 * The account the job will charge, as far as sbatch's caller said it: the
 * command line, else $SBATCH_ACCOUNT.  An #SBATCH -A line is invisible
 * here; the controller, which sees the real account, plans again anyway.
 */
static const char *submit_account(char *buf, size_t len)
{
	const char *env = getenv("SBATCH_ACCOUNT");

	if (aml_self_account(buf, len) && *buf)
		return buf;
	return env && *env ? env : NULL;
}

/*
 * Everything that can be wrong with the request, all reported at once:
 * the configuration, its files, the plan, and the size of the canonical
 * form the controller will get (the site's MaxConfigSize, which the
 * controller applies to it too).  Nothing is created.  Returns 0 with
 * [rc], [plan] and [config] (malloc'd) filled, or -1 (all freed).
 */
static int check_request(const struct aml_sbatch_request *req,
			 const char *user, struct aml_runconfig *rc,
			 struct aml_plan *plan, char **config)
{
	struct aml_errors errs;
	struct aml_submitter who;
	char new_id[AML_RUNID_MAX], account[256];
	const char *run_id;
	int r = -1;

	memset(plan, 0, sizeof(*plan));
	*config = NULL;
	aml_errors_init(&errs, req->config_path);
	if (aml_runconfig_load(req->config_path, &state.site.limits,
			       &state.site.data, rc,
			       &errs) < 0) {
		print_errors(&errs);
		aml_errors_free(&errs);
		return -1;
	}
	(void)aml_runconfig_read_files(rc, &state.site.limits, &errs);
	run_id = rc->run_id;
	if (!run_id) {
		if (aml_runid_generate(rc->experiment_name, time(NULL), new_id,
				       sizeof(new_id)) < 0) {
			slurm_error(AML_LOG_PREFIX "cannot make a run id: %s",
				    strerror(errno));
			goto out;
		}
		run_id = new_id;
	}
	who.user = user;
	who.account = submit_account(account, sizeof(account));
	(void)aml_plan_from_config(rc, &state.site, &who, run_id, plan,
				   &errs);
	if (!aml_errors_any(&errs)) {
		*config = aml_runconfig_encode(rc);
		if (!*config)
			aml_errors_add(&errs, NULL, "out of memory");
		else
			(void)aml_runconfig_check_size(strlen(*config),
						       "its canonical form",
						       &state.site.limits,
						       &errs);
	}
	if (!aml_errors_any(&errs))
		r = 0;
out:
	if (r < 0) {
		print_errors(&errs);
		free(*config);
		*config = NULL;
		aml_plan_free(plan);
		aml_runconfig_free(rc);
	}
	aml_errors_free(&errs);
	return r;
}

static int take_snapshot(const struct aml_runconfig *rc, const char *user,
			 char id[AML_SHA256_HEX_LEN + 1])
{
	struct aml_store store;
	struct aml_errors errs;
	struct aml_capture_stats st;
	struct aml_snapshot_limits limits = {
		.max_bytes = state.site.snapshot_max_bytes,
		.max_files = state.site.snapshot_max_files,
	};
	char errbuf[1024];
	int r;

	if (aml_store_open(&store, state.site.snapshot_dir, user, 1, errbuf,
			   sizeof(errbuf)) < 0) {
		slurm_error(AML_LOG_PREFIX "snapshot store: %s", errbuf);
		return -1;
	}
	aml_errors_init(&errs, rc->source_directory);
	r = aml_snapshot_capture(rc->source_directory, &store, &limits, NULL,
				 NULL, id, &st, &errs);
	if (r < 0)
		print_errors(&errs);
	else
		slurm_verbose(AML_LOG_PREFIX "snapshot %s of %s: %llu files, %llu bytes; %llu read, %llu new",
			      id, rc->source_directory,
			      (unsigned long long)st.files,
			      (unsigned long long)st.bytes,
			      (unsigned long long)st.hashed_files,
			      (unsigned long long)st.new_files);
	aml_errors_free(&errs);
	aml_store_close(&store);
	return r;
}

/*
 * The run's properties: those the configuration sets, the git ones, and
 * slurm-aml's own last, so a configuration cannot pose as another user or
 * snapshot.
 */
static int collect_properties(const struct aml_runconfig *rc,
			      const struct aml_plan *plan, const char *user,
			      const char *snapshot, struct aml_kvlist *props)
{
	char errbuf[512];

	for (size_t i = 0; i < rc->properties.count; i++)
		if (aml_kvlist_set(props, rc->properties.items[i].key,
				   rc->properties.items[i].value) < 0)
			return -1;
	/* Code outside git, or a git that misbehaves, is no reason to
	 * refuse a run: the snapshot holds the code anyway. */
	if (aml_git_properties(rc->source_directory, props, errbuf,
			       sizeof(errbuf)) < 0)
		slurm_info(AML_LOG_PREFIX "warning: git properties left out: %s",
			   errbuf);
	if (aml_kvlist_set(props, AML_PROP_COMPUTE_TARGET, plan->target) < 0 ||
	    aml_kvlist_set(props, AML_PROP_USER, user) < 0 ||
	    aml_kvlist_set(props, AML_PROP_SNAPSHOT, snapshot) < 0)
		return -1;
	return 0;
}

static int create_run(const struct aml_runconfig *rc,
		      const struct aml_plan *plan, const char *config,
		      const struct aml_kvlist *props)
{
	struct aml_event ev;
	struct aml_run_new run = {
		.experiment = rc->experiment_name,
		.run_id = plan->run_id,
		.config_json = config,
		.properties = props,
		.tags = &rc->tags,
		.first = &ev,
	};
	char errbuf[1024];
	enum aml_history_result r;

	state.experiment = strdup(rc->experiment_name);
	state.run_id = strdup(plan->run_id);
	if (!state.experiment || !state.run_id) {
		slurm_error(AML_LOG_PREFIX "out of memory");
		return -1;
	}
	if (aml_history_open(&state.site, &state.history, errbuf,
			     sizeof(errbuf)) < 0) {
		slurm_error(AML_LOG_PREFIX "%s", errbuf);
		return -1;
	}
	if (aml_event_init(&ev, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH) < 0) {
		slurm_error(AML_LOG_PREFIX "cannot make a run history event: %s",
			    strerror(errno));
		return -1;
	}
	r = aml_history_create_run(state.history, &run, errbuf,
				   sizeof(errbuf));
	aml_event_free(&ev);
	if (r == AML_HISTORY_ERROR) {
		slurm_error(AML_LOG_PREFIX "%s", errbuf);
		return -1;
	}
	if (r == AML_HISTORY_SPOOLED)
		slurm_info(AML_LOG_PREFIX "warning: run %s: %s", plan->run_id, errbuf);
	state.created = 1;
	return 0;
}

static int set_control_env(spank_t sp, const char *name, const char *value)
{
	spank_err_t err = spank_job_control_setenv(sp, name, value, 1);

	if (err == ESPANK_SUCCESS)
		return 0;
	slurm_error(AML_LOG_PREFIX "cannot pass %s to the controller: %s", name,
		    spank_strerror(err));
	return -1;
}

int aml_sbatch_prepare(spank_t sp, const struct aml_sbatch_request *req)
{
	struct aml_runconfig rc;
	struct aml_plan plan;
	struct aml_kvlist props = { 0 };
	struct passwd *pw;
	char snapshot[AML_SHA256_HEX_LEN + 1], *user = NULL, *config = NULL;
	const char *tracking_id;
	int r = -1;

	if (state.prepared) {
		slurm_error(AML_LOG_PREFIX "a heterogeneous job cannot be a run; submit the run as one job");
		state.abandoned = "sbatch refused it: a heterogeneous job cannot be a run";
		return -1;
	}
	state.prepared = 1;
	/* Only cli_filter/aml, after this submission, may say which job it
	 * made (job_env.h): not a value inherited from the caller. */
	unsetenv(AML_SUBMITTED_JOB_ID);
	if (!*req->config_path) {
		slurm_error(AML_LOG_PREFIX "needs the path of a run configuration, as in --aml-run=run.json");
		return -1;
	}
	pw = getpwuid(getuid());
	if (!pw) {
		slurm_error(AML_LOG_PREFIX "cannot find the name of uid %u",
			    (unsigned)getuid());
		return -1;
	}
	user = strdup(pw->pw_name);
	if (!user) {
		slurm_error(AML_LOG_PREFIX "out of memory");
		return -1;
	}
	if (load_site() < 0 ||
	    check_request(req, user, &rc, &plan, &config) < 0) {
		free(user);
		return -1;
	}

	/* Every check passed: from here on, things are created. */
	if (take_snapshot(&rc, user, snapshot) < 0)
		goto out;
	if (collect_properties(&rc, &plan, user, snapshot, &props) < 0) {
		slurm_error(AML_LOG_PREFIX "out of memory");
		goto out;
	}
	/* --test-only submits nothing, so a run would stay NotStarted. */
	if (!req->test_only && create_run(&rc, &plan, config, &props) < 0)
		goto out;
	/* The run's own id on a tracking server: the job's writers reach the
	 * run by it, never by a name anyone sharing the experiment could
	 * give another run.  None when the create only reached the spool. */
	tracking_id = state.created ? aml_history_key(state.history,
						      plan.run_id) : NULL;
	if (set_control_env(sp, AML_JOBENV_CONFIG, config) < 0 ||
	    set_control_env(sp, AML_JOBENV_RUN_ID, plan.run_id) < 0 ||
	    set_control_env(sp, AML_JOBENV_SNAPSHOT, snapshot) < 0 ||
	    (tracking_id && set_control_env(sp, AML_JOBENV_MLFLOW_RUN_ID,
					    tracking_id) < 0) ||
	    set_control_env(sp, AML_JOBENV_LAUNCHER,
			    req->launcher ? "1" : "0") < 0) {
		state.abandoned = "sbatch could not hand the run to the controller";
		goto out;
	}
	slurm_verbose(AML_LOG_PREFIX "run %s (experiment %s), compute target %s, %s",
		      plan.run_id, rc.experiment_name, plan.target,
		      req->launcher ? "the run's own launcher"
				    : "the batch script given runs the run");
	r = 0;
out:
	aml_kvlist_free(&props);
	free(config);
	aml_plan_free(&plan);
	aml_runconfig_free(&rc);
	free(user);
	return r;
}

/*
 * Whether [job] is one the controller planned for [run_id]: its admin
 * comment, which the job_submit plugin writes and users cannot change,
 * names the run (the job name is the run id too, but its owner can
 * rename any of their jobs to it); and it is the user's own.
 */
static int planned_for(const slurm_job_info_t *job, const char *run_id)
{
	char planned[AML_RUNID_MAX];

	return job->user_id == (uint32_t)getuid() &&
	       aml_admin_comment_run_id(job->admin_comment, planned,
					sizeof(planned)) == 0 &&
	       !strcmp(planned, run_id);
}

/* The run's job: its id, and whether it is still pending. */
static void take_job(const slurm_job_info_t *job, uint32_t *job_id,
		     int *pending)
{
	*job_id = job->job_id;
	*pending = (job->job_state & JOB_STATE_BASE) == JOB_PENDING;
}

/*
 * The job cli_filter/aml saw sbatch submit (job_env.h), if the controller
 * planned it for [run_id].  One job's record: the cheap way, for sites
 * that load cli_filter/aml.  Returns 1 with its id and whether it is
 * still pending, 0 when there is no such word or it names another job.
 */
static int submitted_job(const char *run_id, uint32_t *job_id, int *pending)
{
	job_info_msg_t *msg = NULL;
	unsigned long id;
	int found = 0;

	if (aml_parse_decimal(getenv(AML_SUBMITTED_JOB_ID), NO_VAL - 1,
			      &id) < 0 || id == 0)
		return 0;
	if (aml_slurm_load_job(&msg, (uint32_t)id, SHOW_ALL) != SLURM_SUCCESS)
		return 0;
	if (msg->record_count == 1 && planned_for(&msg->job_array[0], run_id)) {
		take_job(&msg->job_array[0], job_id, pending);
		found = 1;
	}
	slurm_free_job_info_msg(msg);
	return found;
}

/*
 * The newest of the user's jobs that the controller planned for
 * [run_id], when cli_filter/aml did not name it: every job of the user
 * is asked for, which costs the controller as much as the user has jobs.
 * Returns 1 with its id and whether it is still pending, 0 when there is
 * none, -1 when the controller could not be asked.
 */
static int find_job(const char *run_id, uint32_t *job_id, int *pending)
{
	job_info_msg_t *msg = NULL;
	const slurm_job_info_t *best = NULL;

	if (submitted_job(run_id, job_id, pending))
		return 1;
	if (slurm_load_job_user(&msg, (uint32_t)getuid(), SHOW_ALL) !=
	    SLURM_SUCCESS)
		return -1;
	for (uint32_t i = 0; i < msg->record_count; i++) {
		const slurm_job_info_t *j = &msg->job_array[i];

		if (!planned_for(j, run_id))
			continue;
		if (!best || j->submit_time > best->submit_time ||
		    (j->submit_time == best->submit_time &&
		     j->job_id > best->job_id))
			best = j;
	}
	if (best)
		take_job(best, job_id, pending);
	slurm_free_job_info_msg(msg);
	return best != NULL;
}

/*
 * Append [status] to the run.  [quiet] when a refusal is expected: the
 * job already started, and the node may have recorded Preparing first.
 */
static void record(enum aml_status status, uint32_t job_id,
		   const char *reason, int quiet)
{
	struct aml_event ev;
	char errbuf[1024];
	enum aml_history_result r;

	if (aml_event_init(&ev, status, AML_SOURCE_SBATCH) < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: cannot make a run history event: %s",
			    state.run_id, strerror(errno));
		return;
	}
	ev.job_id = job_id;
	if (reason && aml_event_set_reason(&ev, reason) < 0) {
		slurm_error(AML_LOG_PREFIX "out of memory");
		aml_event_free(&ev);
		return;
	}
	r = aml_history_record(state.history, state.experiment, state.run_id,
			       &ev, errbuf, sizeof(errbuf));
	if (r == AML_HISTORY_ERROR && quiet)
		slurm_verbose(AML_LOG_PREFIX "%s", errbuf);
	else if (r == AML_HISTORY_ERROR)
		slurm_error(AML_LOG_PREFIX "%s", errbuf);
	else if (r == AML_HISTORY_SPOOLED)
		slurm_info(AML_LOG_PREFIX "warning: run %s: %s: %s", state.run_id,
			   aml_status_name(status), errbuf);
	aml_event_free(&ev);
}

static void record_outcome(int submit_errno)
{
	char reason[512];
	uint32_t job_id = 0;
	int pending = 0, found;

	if (state.abandoned) {
		record(AML_STATUS_FAILED, 0, state.abandoned, 0);
		return;
	}
	found = find_job(state.run_id, &job_id, &pending);
	if (found < 0) {
		/* The submission may or may not have gone through: leave
		 * the run as it is rather than record a guess. */
		slurm_error(AML_LOG_PREFIX "run %s stays NotStarted: cannot ask the controller for its job: %s",
			    state.run_id, slurm_strerror(slurm_get_errno()));
		return;
	}
	if (found) {
		record(AML_STATUS_QUEUED, job_id, NULL, !pending);
		return;
	}
	if (submit_errno)
		snprintf(reason, sizeof(reason),
			 "the controller refused the submission: %s",
			 slurm_strerror(submit_errno));
	else
		snprintf(reason, sizeof(reason),
			 "sbatch found no job the controller planned for the run: the submission did not go through, or the controller does not run job_submit/aml");
	record(AML_STATUS_FAILED, 0, reason, 0);
}

void aml_sbatch_finish(int submit_errno)
{
	if (state.created)
		record_outcome(submit_errno);
	aml_history_close(state.history);
	if (state.have_site)
		aml_site_free(&state.site);
	free(state.experiment);
	free(state.run_id);
	memset(&state, 0, sizeof(state));
}
