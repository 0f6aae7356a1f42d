/*
 * node_prepare.c: a run's steps on each node, in slurmstepd (see
 * node_prepare.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include "slurm_compat.h"

#include "clock.h"
#include "errors.h"
#include "event.h"
#include "env_node.h"
#include "environment.h"
#include "hash.h"
#include "history.h"
#include "job_env.h"
#include "job_getenv.h"
#include "launch.h"
#include "node_placement.h"
#include "node_rundir.h"
#include "node_prepare.h"
#include "node_rundir_lock.h"
#include "run_folders.h"
#include "runid.h"
#include "runconfig.h"
#include "site.h"
#include "userdir.h"
#include "snapshot.h"
#include "step_layout.h"
#include "store.h"

/* slurmstepd's own environment: the node's name as slurmd knows it.
 * The job's variable of the same name is the batch node's in every step
 * the batch script starts. */
#define ENV_NODENAME "SLURMD_NODENAME"

/* What user_init leaves for task_init, which runs in a child forked after
 * it, and so inherits it. */
static struct {
	int active;               /* a run's batch step or launch step */
	int batch;                /* the batch step; else a launch step */
	char run_id[256];
	char node_name[256];
	uint32_t job_id;
	int have_site;
	struct aml_site site;
	char workdir[PATH_MAX];
	int failed;
	char error[1024];         /* why, for task_init to report */
} node;

static void keep_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* The first error wins: later ones are usually its consequences. */
static void keep_error(const char *fmt, ...)
{
	va_list ap;

	if (node.failed)
		return;
	node.failed = 1;
	va_start(ap, fmt);
	vsnprintf(node.error, sizeof(node.error), fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* The run's directory on the node                                         */

struct install_req {
	const struct aml_site *site;
	const char *run_id;
	const char *node_name;
	const char *workdir;
	const char *snapshot;
	/* The plan's folders (AML_ENV_OUTPUT_DIRS), checked */
	const struct aml_strlist *folders;
	uint32_t job_id;
	unsigned attempt;          /* 0 in the batch step's user_init */
};

static struct install_req request_of(unsigned attempt, const char *snapshot)
{
	struct install_req q = {
		.site = &node.site, .run_id = node.run_id,
		.node_name = node.node_name, .workdir = node.workdir,
		.snapshot = snapshot, .job_id = node.job_id,
		.attempt = attempt,
	};

	return q;
}

/*
 * The attempt of this job, SLURM_RESTART_COUNT + 1.  Slurm 22.05's
 * S_SLURM_RESTART_COUNT is always 0 in slurmstepd (its job record's
 * restart count is never filled in, only the task environment's), so the
 * variable counts too: slurmstepd puts it in the batch task's environment
 * when not 0, and the steps the batch script starts inherit it.  It is
 * therefore unknown in the batch step's user_init.
 */
static unsigned current_attempt(spank_t sp)
{
	uint32_t item = 0;
	unsigned long env = 0;
	char *text = NULL, *end;

	(void)spank_get_item(sp, S_SLURM_RESTART_COUNT, &item);
	if (aml_job_getenv(sp, "SLURM_RESTART_COUNT", &text) > 0 && *text) {
		errno = 0;
		env = strtoul(text, &end, 10);
		if (errno || *end || env >= UINT16_MAX)
			env = 0;
	}
	free(text);
	return (unsigned)(item > env ? item : env) + 1;
}

static int install_snapshot(const struct install_req *q, char *errbuf,
			    size_t errlen)
{
	struct aml_store store;
	struct aml_errors errs;
	struct aml_install_stats st;
	struct passwd pw, *found = NULL;
	char pwbuf[4096];
	int r;

	if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &found) != 0 ||
	    !found) {
		snprintf(errbuf, errlen, "cannot find the name of uid %lu",
			 (unsigned long)geteuid());
		return -1;
	}
	if (aml_store_open(&store, q->site->snapshot_dir, pw.pw_name, 0,
			   errbuf, errlen) < 0)
		return -1;
	aml_errors_init(&errs, NULL);
	r = aml_snapshot_install(&store, q->snapshot, q->workdir, &st, &errs);
	if (r < 0)
		snprintf(errbuf, errlen, "installing snapshot %s: %s%s",
			 q->snapshot,
			 errs.count ? errs.lines[0] : "out of memory",
			 errs.count > 1 ? " (and more errors)" : "");
	else
		slurm_verbose(AML_LOG_PREFIX "run %s: snapshot %s installed into %s: %llu files, %llu bytes, %llu by reflink",
			      q->run_id, q->snapshot, q->workdir,
			      (unsigned long long)st.files,
			      (unsigned long long)st.bytes,
			      (unsigned long long)st.cloned);
	aml_errors_free(&errs);
	aml_store_close(&store);
	return r;
}

/*
 * ./outputs, ./logs and the declared output folders, before any task
 * starts there, as Azure ML makes them: through the working directory's
 * own descriptor, never following what the snapshot put under those
 * names (run_folders.h).
 */
static int make_folders(const struct install_req *q, char *errbuf,
			size_t errlen)
{
	int fd = open(q->workdir,
		      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r;

	if (fd < 0) {
		snprintf(errbuf, errlen, "cannot open the working directory %s: %s",
			 q->workdir, strerror(errno));
		return -1;
	}
	r = aml_run_folders_make(fd, q->folders, errbuf, errlen);
	close(fd);
	return r;
}

/*
 * The working directory of this attempt on this node, installed unless
 * it already is (node_rundir_lock.h).  The batch step starts an attempt,
 * so it always installs afresh, and leaves the marker to its task_init,
 * the first moment it knows which attempt this is; nothing else of the
 * job can start on the node before that.
 */
static int install(const struct install_req *q, int batch, char *errbuf,
		   size_t errlen)
{
	struct aml_node_rundir_lock l;
	int r = -1, claim;

	if (aml_node_rundir_lock(&l, q->site->run_dir, q->run_id,
				 q->node_name, 1, errbuf, errlen) < 0)
		return -1;
	claim = aml_node_rundir_claim(&l, q->node_name, q->workdir, q->job_id,
				      q->attempt, batch, errbuf, errlen);
	if (claim == 1)
		r = 0;
	else if (claim == 0 && install_snapshot(q, errbuf, errlen) == 0 &&
		 make_folders(q, errbuf, errlen) == 0 &&
		 (batch || aml_node_rundir_note_attempt(&l, q->run_id,
							q->job_id, q->attempt,
							errbuf, errlen) == 0))
		r = 0;
	aml_node_rundir_unlock(&l);
	return r;
}

/* Append [status] from this node; errbuf says why when it is not. */
static enum aml_history_result record(struct aml_history *h,
				      const char *experiment,
				      const struct install_req *q,
				      enum aml_status status,
				      const char *reason, char *errbuf,
				      size_t errlen)
{
	struct aml_event ev;
	enum aml_history_result r;

	if (aml_event_init(&ev, status, AML_SOURCE_NODE) < 0) {
		snprintf(errbuf, errlen, "cannot make an event: %s",
			 strerror(errno));
		return AML_HISTORY_ERROR;
	}
	ev.attempt = q->attempt;
	ev.job_id = q->job_id;
	if (aml_event_set_node(&ev, q->node_name) < 0 ||
	    (reason && *reason && aml_event_set_reason(&ev, reason) < 0)) {
		snprintf(errbuf, errlen, "out of memory");
		aml_event_free(&ev);
		return AML_HISTORY_ERROR;
	}
	r = aml_history_record(h, experiment, q->run_id, &ev, errbuf, errlen);
	aml_event_free(&ev);
	return r;
}

/*
 * What Preparing says: the environment the launcher now makes ready
 * (env_node.h: its name, or a built one's key and whether it is built).
 * Nothing when the configuration does not read (the launcher fails the
 * run with why).
 */
static void preparing_reason(spank_t sp, const struct install_req *q,
			     char *buf, size_t len)
{
	struct aml_runconfig rc;
	struct aml_env_choice env;
	struct aml_errors errs;
	char *config = NULL;

	buf[0] = '\0';
	if (aml_job_getenv(sp, AML_ENV_NODE_CONFIG, &config) <= 0)
		return;
	aml_errors_init(&errs, NULL);
	if (aml_runconfig_parse(config, strlen(config), AML_ENV_NODE_CONFIG,
				NULL, NULL, &q->site->limits, &rc, &errs) == 0) {
		if (aml_env_choose(&rc, q->site, &env, &errs) == 0) {
			aml_env_reason(&env, q->site, buf, len, NULL);
			aml_env_choice_free(&env);
		}
		aml_runconfig_free(&rc);
	}
	aml_errors_free(&errs);
	free(config);
}

/*
 * Run history open on the run (bound to its id on a tracking server,
 * which sbatch recorded and the controller put in the job's
 * environment: the run is reached by it, not by its name), and the
 * run's experiment.  Returns 0, or -1 with errbuf.
 */
static int open_run_history(spank_t sp, const char *run_id,
			    struct aml_history **h, char **experiment,
			    char *errbuf, size_t errlen)
{
	char *tracking_id = NULL;
	int r = -1;

	*h = NULL;
	*experiment = NULL;
	if (aml_job_getenv(sp, AML_ENV_EXPERIMENT, experiment) <= 0) {
		snprintf(errbuf, errlen, "%s is not in the job's environment",
			 AML_ENV_EXPERIMENT);
	} else if (aml_job_getenv(sp, AML_JOBENV_MLFLOW_RUN_ID,
				  &tracking_id) < 0) {
		snprintf(errbuf, errlen, "%s: out of memory",
			 AML_JOBENV_MLFLOW_RUN_ID);
	} else if (aml_history_open(&node.site, h, errbuf, errlen) == 0 &&
		   aml_history_bind(*h, run_id, tracking_id, errbuf,
				    errlen) == 0) {
		r = 0;
	}
	if (r < 0) {
		aml_history_close(*h);
		*h = NULL;
		free(*experiment);
		*experiment = NULL;
	}
	free(tracking_id);
	return r;
}

/*
 * [status] from the batch task: Preparing once the snapshot is in place
 * (with what preparing_reason says), or Failed with [reason] when the
 * node could not make the run's working directory (a snapshot that put a
 * link where ./outputs goes), so the run says why rather than the
 * finalizer's "the job exited with code 1", which then leaves it be.  The job
 * often starts before sbatch, at its exit, finds it and records Queued,
 * and a requeued job before anyone records the new attempt's Queued; the
 * state machine refuses Preparing after NotStarted or from a later
 * attempt.  Yet a job that runs on a node was queued in this attempt, so
 * the node says so first and tries again: Queued is accepted exactly in
 * those two cases (sbatch's own Queued, later, is then refused quietly).
 * Run history being unavailable is no reason to fail a run that can
 * otherwise start (the spool keeps the event), nor is a refused
 * transition (a cancel that got there first): both are only logged.
 */
static void record_from_node(spank_t sp, const struct install_req *q,
			     enum aml_status status, const char *why)
{
	struct aml_history *h = NULL;
	char errbuf[1024], ignored[1024], reason[512], *experiment = NULL;
	const char *name = aml_status_name(status);
	enum aml_history_result r;

	if (open_run_history(sp, q->run_id, &h, &experiment, errbuf,
			     sizeof(errbuf)) < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: %s not recorded: %s",
			    q->run_id, name, errbuf);
		return;
	}
	if (why)
		snprintf(reason, sizeof(reason), "%s", why);
	else
		preparing_reason(sp, q, reason, sizeof(reason));
	r = record(h, experiment, q, status, reason, errbuf, sizeof(errbuf));
	if (r == AML_HISTORY_ERROR &&
	    record(h, experiment, q, AML_STATUS_QUEUED, NULL, ignored,
		   sizeof(ignored)) != AML_HISTORY_ERROR)
		r = record(h, experiment, q, status, reason, errbuf,
			   sizeof(errbuf));
	if (r == AML_HISTORY_ERROR)
		slurm_error(AML_LOG_PREFIX "run %s: %s not recorded: %s",
			    q->run_id, name, errbuf);
	else if (r == AML_HISTORY_SPOOLED)
		slurm_info(AML_LOG_PREFIX "run %s: %s kept in the spool: %s",
			   q->run_id, name, errbuf);
	aml_history_close(h);
	free(experiment);
}

/*
 * The node's hardware and its ranks' placement, as run properties.  A
 * requeued run placed elsewhere finds the first attempt's there, and
 * properties never change: that, like run history being away, is only
 * logged.
 */
static void record_placement(spank_t sp, const struct aml_kvlist *props)
{
	struct aml_history *h = NULL;
	char errbuf[1024], *experiment = NULL;
	enum aml_history_result r;

	if (open_run_history(sp, node.run_id, &h, &experiment, errbuf,
			     sizeof(errbuf)) < 0) {
		slurm_info(AML_LOG_PREFIX "run %s: placement not recorded: %s",
			   node.run_id, errbuf);
		return;
	}
	r = aml_history_add_properties(h, experiment, node.run_id, props,
				       errbuf, sizeof(errbuf));
	if (r == AML_HISTORY_ERROR)
		slurm_info(AML_LOG_PREFIX "run %s: placement not recorded: %s",
			   node.run_id, errbuf);
	aml_history_close(h);
	free(experiment);
}

static void prepare(spank_t sp)
{
	struct aml_userdir own;
	struct install_req q;
	int r;
	char errbuf[PATH_MAX + 2048], *snapshot = NULL, *dirs = NULL;
	struct aml_strlist folders = { 0 };
	const char *node_name = getenv(ENV_NODENAME);

	if (!node_name || !*node_name ||
	    snprintf(node.node_name, sizeof(node.node_name), "%s",
		     node_name) >= (int)sizeof(node.node_name)) {
		keep_error("run %s: slurmstepd's %s does not name this node",
			   node.run_id, ENV_NODENAME);
		return;
	}
	if (spank_get_item(sp, S_JOB_ID, &node.job_id) != ESPANK_SUCCESS) {
		keep_error("run %s: Slurm did not say the job id",
			   node.run_id);
		return;
	}
	if (aml_site_load_default(&node.site, errbuf, sizeof(errbuf)) < 0) {
		keep_error("run %s: %s", node.run_id, errbuf);
		return;
	}
	node.have_site = 1;
	if (aml_node_rundir_open_user_root(node.site.run_dir, 1, &own, errbuf,
					   sizeof(errbuf)) < 0) {
		keep_error("run %s: node %s: %s", node.run_id,
			   node.node_name, errbuf);
		return;
	}
	r = aml_run_workdir(own.path, node.run_id, node.node_name,
			    node.workdir, sizeof(node.workdir));
	aml_userdir_close(&own);
	if (r < 0) {
		keep_error("run id \"%.200s\" (AML_RUN_ID) cannot name a directory under RunDir %s on node %s",
			   node.run_id, node.site.run_dir, node.node_name);
		return;
	}
	if (aml_job_getenv(sp, AML_JOBENV_SNAPSHOT, &snapshot) <= 0 ||
	    !aml_sha256_is_hex(snapshot)) {
		keep_error("run %s: %s in the job's environment is %s",
			   node.run_id, AML_JOBENV_SNAPSHOT,
			   snapshot ? "not a snapshot id" : "missing");
		free(snapshot);
		return;
	}
	/* A job queued before the plan carried them has none: outputs and
	 * logs are made all the same. */
	if (aml_job_getenv(sp, AML_ENV_OUTPUT_DIRS, &dirs) < 0 ||
	    aml_run_folders_split(dirs, &folders, errbuf,
				  sizeof(errbuf)) < 0) {
		keep_error("run %s: %s", node.run_id,
			   dirs ? errbuf : AML_ENV_OUTPUT_DIRS " cannot be read");
		goto out;
	}
	q = request_of(node.batch ? 0 : current_attempt(sp), snapshot);
	q.folders = &folders;
	if (install(&q, node.batch, errbuf, sizeof(errbuf)) < 0)
		keep_error("run %s: node %s: %s", node.run_id,
			   node.node_name, errbuf);
out:
	aml_strlist_free(&folders);
	free(dirs);
	free(snapshot);
}

int aml_node_user_init(spank_t sp)
{
	uint32_t step_id;
	char *run_id = NULL, *launch = NULL;
	int batch;

	if (spank_context() != S_CTX_REMOTE ||
	    spank_get_item(sp, S_JOB_STEPID, &step_id) != ESPANK_SUCCESS ||
	    step_id == SLURM_EXTERN_CONT || step_id == SLURM_INTERACTIVE_STEP)
		return 0;
	if (aml_job_getenv(sp, AML_JOBENV_RUN_ID, &run_id) <= 0)
		return 0;
	batch = step_id == SLURM_BATCH_SCRIPT;
	if (!batch && (aml_job_getenv(sp, AML_ENV_LAUNCH_STEP, &launch) <= 0 ||
		       strcmp(launch, "1"))) {
		free(run_id);
		free(launch);
		return 0;
	}
	node.active = 1;
	node.batch = batch;
	if (snprintf(node.run_id, sizeof(node.run_id), "%s", run_id) >=
	    (int)sizeof(node.run_id))
		keep_error("AML_RUN_ID is too long to be a run id");
	else
		prepare(sp);
	free(run_id);
	free(launch);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Each task                                                               */

/* The step's hosts in order and tasks on each, from the step's own
 * variables (srun sets them; the job-wide ones would describe the whole
 * allocation, not this step). */
static int step_layout(spank_t sp, uint32_t n_nodes,
		       struct aml_step_layout *l, char *errbuf, size_t errlen)
{
	char *list = NULL, *tpn = NULL;
	aml_hostlist_t hl = NULL;
	int r = -1;

	memset(l, 0, sizeof(*l));
	if (aml_job_getenv(sp, "SLURM_STEP_NODELIST", &list) <= 0 ||
	    aml_job_getenv(sp, "SLURM_STEP_TASKS_PER_NODE", &tpn) <= 0) {
		snprintf(errbuf, errlen,
			 "SLURM_STEP_NODELIST or SLURM_STEP_TASKS_PER_NODE is missing from the step's environment");
		goto out;
	}
	hl = slurm_hostlist_create(list);
	if (!hl || slurm_hostlist_count(hl) != (int)n_nodes) {
		snprintf(errbuf, errlen,
			 "SLURM_STEP_NODELIST=%.200s does not name the step's %u nodes",
			 list, (unsigned)n_nodes);
		goto out;
	}
	if (aml_step_layout_alloc(l, n_nodes, errbuf, errlen) < 0)
		goto out;
	for (uint32_t i = 0; i < n_nodes; i++) {
		l->hosts[i] = slurm_hostlist_shift(hl);
		if (!l->hosts[i]) {
			snprintf(errbuf, errlen, "out of memory");
			goto out;
		}
	}
	if (aml_step_layout_set_tasks(l, tpn, errbuf, errlen) < 0)
		goto out;
	r = 0;
out:
	if (hl)
		slurm_hostlist_destroy(hl);
	if (r < 0)
		aml_step_layout_free(l);
	free(list);
	free(tpn);
	return r;
}

static int get_u32(spank_t sp, spank_item_t item, uint32_t *v)
{
	return spank_get_item(sp, item, v) == ESPANK_SUCCESS ? 0 : -1;
}

/* The distributed-training variables of this task (launch.h). */
static int distributed_env(spank_t sp, char *errbuf, size_t errlen)
{
	struct aml_task_place place = { 0 };
	struct aml_step_layout layout = { 0 };
	struct aml_runconfig rc;
	struct aml_strlist vars = { 0 };
	struct aml_errors errs;
	char *config = NULL;
	int local_id, have_rc = 0, r = -1;

	if (get_u32(sp, S_JOB_ID, &place.job_id) < 0 ||
	    get_u32(sp, S_TASK_GLOBAL_ID, &place.rank) < 0 ||
	    spank_get_item(sp, S_TASK_ID, &local_id) != ESPANK_SUCCESS ||
	    get_u32(sp, S_JOB_LOCAL_TASK_COUNT, &place.local_world) < 0 ||
	    get_u32(sp, S_JOB_TOTAL_TASK_COUNT, &place.world_size) < 0 ||
	    get_u32(sp, S_JOB_NODEID, &place.node_rank) < 0 ||
	    get_u32(sp, S_JOB_NNODES, &place.n_nodes) < 0 || local_id < 0) {
		snprintf(errbuf, errlen, "Slurm did not say where this task is");
		return -1;
	}
	place.local_rank = (uint32_t)local_id;
	if (aml_job_getenv(sp, AML_ENV_NODE_CONFIG, &config) <= 0) {
		snprintf(errbuf, errlen, "%s is missing from the job's environment",
			 AML_ENV_NODE_CONFIG);
		return -1;
	}
	aml_errors_init(&errs, AML_JOBENV_CONFIG);
	if (aml_runconfig_parse(config, strlen(config), AML_JOBENV_CONFIG,
				NULL, NULL,
				node.have_site ? &node.site.limits : NULL, &rc,
				&errs) < 0) {
		snprintf(errbuf, errlen, "%s",
			 errs.count ? errs.lines[0] : "out of memory");
		aml_errors_free(&errs);
		goto out;
	}
	aml_errors_free(&errs);
	have_rc = 1;
	if (rc.distributed.type == AML_DIST_NONE) {
		r = 0;
		goto out;
	}
	if (step_layout(sp, place.n_nodes, &layout, errbuf, errlen) < 0)
		goto out;
	if (aml_step_task_env(&rc, &layout, &place, &vars, errbuf,
			      errlen) < 0)
		goto out;
	for (size_t i = 0; i < vars.count; i++) {
		char *eq = strchr(vars.items[i], '=');
		spank_err_t err;

		*eq = '\0';
		err = spank_setenv(sp, vars.items[i], eq + 1, 1);
		if (err != ESPANK_SUCCESS) {
			snprintf(errbuf, errlen, "cannot set %s: %s",
				 vars.items[i], spank_strerror(err));
			goto out;
		}
	}
	r = 0;
out:
	aml_strlist_free(&vars);
	aml_step_layout_free(&layout);
	if (have_rc)
		aml_runconfig_free(&rc);
	free(config);
	return r;
}

/* The launcher's upload step (launch_finish.h), which names the batch
 * node: one task per node that only uploads, not the run's ranks. */
static int upload_step(spank_t sp)
{
	char *batch_node = NULL;
	int r = aml_job_getenv(sp, AML_ENV_BATCH_NODE, &batch_node) > 0;

	free(batch_node);
	return r;
}

int aml_node_task_init(spank_t sp)
{
	char errbuf[1024];

	if (spank_context() != S_CTX_REMOTE || !node.active)
		return 0;
	if (node.failed) {
		slurm_error(AML_LOG_PREFIX "%s", node.error);
		/* Only a node that knows where the run is can say why; the
		 * reason drops the "run <id>: " its log line needs. */
		if (node.batch && node.have_site && node.node_name[0] &&
		    node.job_id) {
			struct install_req q = request_of(current_attempt(sp),
							  NULL);
			const char *why = node.error;
			size_t prefix = strlen("run ") + strlen(node.run_id);

			if (!strncmp(why, "run ", 4) &&
			    !strncmp(why + 4, node.run_id,
				     strlen(node.run_id)) &&
			    !strncmp(why + prefix, ": ", 2))
				why += prefix + 2;
			record_from_node(sp, &q, AML_STATUS_FAILED, why);
		}
		return -1;
	}
	if (node.batch) {
		struct install_req q = request_of(current_attempt(sp), NULL);

		if (aml_node_rundir_mark_attempt(q.site->run_dir, q.run_id,
						 q.node_name, q.job_id,
						 q.attempt, errbuf,
						 sizeof(errbuf)) < 0) {
			slurm_error(AML_LOG_PREFIX "run %s: node %s: %s", node.run_id,
				    node.node_name, errbuf);
			return -1;
		}
		record_from_node(sp, &q, AML_STATUS_PREPARING, NULL);
	}
	/* SPANK has no working-directory item, but this is the task's own
	 * process, just before exec: its cwd is what the program gets. */
	if (chdir(node.workdir) < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: cannot enter its working directory %s: %s",
			    node.run_id, node.workdir, strerror(errno));
		return -1;
	}
	if (spank_setenv(sp, AML_ENV_WORKDIR, node.workdir, 1) !=
		    ESPANK_SUCCESS ||
	    spank_setenv(sp, "PWD", node.workdir, 1) != ESPANK_SUCCESS) {
		slurm_error(AML_LOG_PREFIX "run %s: cannot set %s", node.run_id,
			    AML_ENV_WORKDIR);
		return -1;
	}
	if (!node.batch && distributed_env(sp, errbuf, sizeof(errbuf)) < 0) {
		slurm_error(AML_LOG_PREFIX "run %s: %s", node.run_id, errbuf);
		return -1;
	}
	if (!node.batch && !upload_step(sp)) {
		struct aml_kvlist props = { 0 };

		aml_node_place_task(sp, &node.site, node.run_id,
				    node.node_name, &props);
		if (props.count)
			record_placement(sp, &props);
		aml_kvlist_free(&props);
	}
	return 0;
}

void aml_node_exit(void)
{
	if (node.have_site)
		aml_site_free(&node.site);
	memset(&node, 0, sizeof(node));
}
