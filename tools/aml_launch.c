/*
 * aml-launch: the batch step's program of a run.
 *
 * The job_submit plugin makes a run's batch script `exec aml-launch`;
 * by then the node side of the SPANK plugin has installed the snapshot
 * and started us, as the user, in the run's working directory
 * (AML_WORKDIR, launch.h).  Everything comes from the job's environment:
 *   AML_RUN_ID, AZUREML_EXPERIMENT_NAME   the run, in run history
 *   AML_MLFLOW_RUN_ID                     its id on a tracking server, if any
 *   SLURM_SPANK_AML_CONFIG                the canonical configuration
 *   SLURM_JOB_ID, SLURM_RESTART_COUNT, SLURMD_NODENAME, SLURM_JOB_ACCOUNT
 *   AML_CONF / SLURM_CONF                 the site policy (aml.conf)
 * The command and its layout are planned again from the configuration,
 * by the same rules as the controller's, rather than carried through the
 * environment where the script could change them.
 *
 * Then: Running, the command (launch_run.h), Finalizing, the uploads and
 * the end (launch_finish.h), and the launcher exits as the command did.
 * Every problem is one line on stderr, "aml-launch: run <id>: ...", and
 * when the run can still be written, it is recorded Failed with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "job_env.h"
#include "launch.h"
#include "launch_common.h"
#include "launch_data.h"
#include "launch_env.h"
#include "launch_cause.h"
#include "launch_finish.h"
#include "launch_image.h"
#include "launch_logs.h"
#include "launch_place.h"
#include "launch_run.h"
#include "plan.h"
#include "runconfig.h"
#include "runid.h"
#include "site.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-launch\n"
	"\n"
	"Run a run's command as the batch program of its Slurm job: record\n"
	"Running, start the command (through srun for several processes),\n"
	"enforce max_run_duration_seconds, upload outputs/, logs/ and\n"
	"user_logs/, and record how it ended.  Takes no arguments: the job's\n"
	"environment names the run (AML_RUN_ID, SLURM_SPANK_AML_CONFIG, ...).\n"
	"Installed for the job_submit plugin; not meant to be run by hand.\n";

struct launcher {
	struct launch_ctx ctx;
	struct aml_site site;
	int site_loaded;
	struct aml_runconfig rc;
	int rc_parsed;
	struct aml_plan plan;
	struct aml_strlist srun_argv;
	struct aml_strlist in_image;    /* the command in its image */
	struct aml_strlist container_options; /* pyxis's, for srun */
	struct launch_image image;
	struct launch_data data;     /* the downloads held */
	struct launch_logs *logs;
};

static void launcher_free(struct launcher *L)
{
	launch_logs_free(L->logs);
	aml_strlist_free(&L->srun_argv);
	aml_strlist_free(&L->in_image);
	aml_strlist_free(&L->container_options);
	if (L->image.held_fd >= 0)
		close(L->image.held_fd);
	launch_data_release(&L->data);
	aml_plan_free(&L->plan);
	if (L->rc_parsed)
		aml_runconfig_free(&L->rc);
	if (L->ctx.workdir_fd >= 0)
		close(L->ctx.workdir_fd);
	aml_history_close(L->ctx.h);
	if (L->site_loaded)
		aml_site_free(&L->site);
}

/* Say [fmt] and record the run Failed with it when it can be written. */
static int fail_run(struct launcher *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail_run(struct launcher *L, const char *fmt, ...)
{
	char reason[AML_EVENT_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	launch_say("%s", reason);
	if (L->ctx.h && L->ctx.experiment)
		launch_record(&L->ctx, AML_STATUS_FAILED, reason, 0, 0, NULL);
	launcher_free(L);
	return AML_EXIT_FAILURE;
}

/*
 * The environment could not be made ready: what its build left in logs/
 * (logs/azureml/environment_build_log.txt) goes to run history first,
 * so the reason's package can be looked up in the log, then the run
 * fails from Preparing.
 */
static int fail_preparing(struct launcher *L, const char *reason)
{
	char err[1024];

	if (L->ctx.h && L->ctx.experiment && L->ctx.workdir_fd >= 0 &&
	    aml_history_upload(L->ctx.h, L->ctx.experiment, L->ctx.run_id,
			       L->ctx.workdir_fd, "logs", NULL, err,
			       sizeof(err)) == AML_HISTORY_ERROR)
		launch_say("%s", err);
	return fail_run(L, "%s", reason);
}

/* Every line of [errs] as one, joined by "; ": one line on stderr and
 * one reason.  NULL when memory runs out. */
static char *errors_line(const struct aml_errors *errs)
{
	size_t len = 1;
	char *text, *p;

	for (size_t i = 0; i < errs->count; i++)
		len += strlen(errs->lines[i]) + 2;
	if (!(text = p = malloc(len)))
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < errs->count; i++)
		p += sprintf(p, "%s%s", i ? "; " : "", errs->lines[i]);
	return text;
}

/* The run fails with every one of [errs], on one line; [errs] is freed. */
static int fail_errors(struct launcher *L, struct aml_errors *errs)
{
	char *line = errors_line(errs);

	aml_errors_free(errs);
	fail_run(L, "%s", line ? line : "out of memory");
	free(line);
	return AML_EXIT_FAILURE;
}

static unsigned env_unsigned(const char *name, unsigned dflt)
{
	const char *text = getenv(name);
	char *end;
	unsigned long v;

	if (!text || !*text)
		return dflt;
	errno = 0;
	v = strtoul(text, &end, 10);
	return errno || *end || v > UINT_MAX ? dflt : (unsigned)v;
}

static int load_site(struct launcher *L)
{
	char path[PATH_MAX], *line;
	struct aml_errors errs;

	if (aml_site_default_path(path, sizeof(path)) < 0) {
		launch_say("the path of aml.conf is too long (AML_CONF, "
			   "SLURM_CONF)");
		return -1;
	}
	aml_errors_init(&errs, NULL);
	if (aml_site_load(path, &L->site, &errs) < 0) {
		line = errors_line(&errs);
		launch_say("%s", line ? line : "cannot load the site policy");
		free(line);
		aml_errors_free(&errs);
		return -1;
	}
	aml_errors_free(&errs);
	L->site_loaded = 1;
	return 0;
}

/* The node side chdir'd us into the working directory and said where it
 * is; anything else means it did not run for this job. */
static int check_workdir(struct launcher *L)
{
	const char *workdir = getenv(AML_ENV_WORKDIR);
	struct stat want, here;

	if (!workdir || !*workdir)
		return fail_run(L, "%s is not set: the node side of the SPANK "
				"plugin (slurm_spank_task_init) did not prepare "
				"this job; is plugstack.conf on node %s "
				"loading it?", AML_ENV_WORKDIR,
				L->ctx.node ? L->ctx.node : "(unknown)");
	if (stat(workdir, &want) < 0)
		return fail_run(L, "the working directory %s (%s): %s", workdir,
				AML_ENV_WORKDIR, strerror(errno));
	if (stat(".", &here) < 0 || want.st_dev != here.st_dev ||
	    want.st_ino != here.st_ino)
		return fail_run(L, "the launcher is not in the run's working "
				"directory %s (%s)", workdir, AML_ENV_WORKDIR);
	L->ctx.workdir_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (L->ctx.workdir_fd < 0)
		return fail_run(L, "the working directory %s: %s", workdir,
				strerror(errno));
	return 0;
}

static int parse_config(struct launcher *L)
{
	const char *config = getenv(AML_ENV_NODE_CONFIG);
	struct aml_errors errs;

	if (!config || !*config)
		return fail_run(L, "%s is not set: the job carries no run "
				"configuration (was it submitted with sbatch "
				"--aml-run, and is the SPANK plugin loaded on "
				"node %s?)", AML_ENV_NODE_CONFIG,
				L->ctx.node ? L->ctx.node : "(unknown)");
	aml_errors_init(&errs, AML_ENV_NODE_CONFIG);
	if (aml_runconfig_parse(config, strlen(config), AML_ENV_NODE_CONFIG,
				NULL, NULL, &L->site.limits, &L->rc, &errs) < 0) {
		return fail_errors(L, &errs);
	}
	aml_errors_free(&errs);
	L->rc_parsed = 1;
	if (!L->ctx.experiment)
		L->ctx.experiment = L->rc.experiment_name;
	L->ctx.datastore_outputs = L->rc.datastore_outputs;
	L->ctx.n_datastore_outputs = L->rc.n_datastore_outputs;
	return 0;
}

static int make_plan(struct launcher *L)
{
	struct passwd *pw = getpwuid(getuid());
	struct aml_submitter who = { pw ? pw->pw_name : NULL,
				     getenv("SLURM_JOB_ACCOUNT") };
	struct aml_errors errs;

	if (!who.user)
		return fail_run(L, "uid %lu has no user name",
				(unsigned long)getuid());
	aml_errors_init(&errs, AML_ENV_NODE_CONFIG);
	if (aml_plan_from_config(&L->rc, &L->site, &who, L->ctx.run_id,
				 &L->plan, &errs) < 0) {
		return fail_errors(L, &errs);
	}
	aml_errors_free(&errs);
	if (strcmp(L->plan.run_id, L->ctx.run_id) != 0)
		return fail_run(L, "the configuration names run \"%s\", but "
				"the job is run %s's (%s)", L->plan.run_id,
				L->ctx.run_id, AML_JOBENV_RUN_ID);
	if (!L->plan.argv.count)
		return fail_run(L, "the configuration has no command");
	return 0;
}

/*
 * Running, for this attempt.  A job Slurm requeued starts a new attempt
 * (SLURM_RESTART_COUNT), whose Queued the run may lack: requeues that
 * are not a node failure or a preemption (scontrol requeue) reach no one
 * who records them.  Slurm running the job again is the proof, so the
 * launcher records that Queued itself, with why, when run history is
 * still in an earlier attempt.
 */
static int record_running(struct launcher *L, int64_t *running_ms)
{
	const char *nodes = getenv("SLURM_JOB_NODELIST");
	struct launch_ctx running = L->ctx;
	struct aml_run_info info;
	enum aml_history_result r;
	char err[1024], reason[128];

	/* The run runs on every node of the job, not only this one: its
	 * Running names them all (Slurm's list, "n[1-2]"), so the run's
	 * nodes are all of them. */
	if (nodes && *nodes)
		running.node = nodes;

	if (L->ctx.attempt > 1 &&
	    aml_history_read_run(L->ctx.h, L->ctx.run_id, 0, &info, err,
				 sizeof(err)) == 0) {
		int behind = info.state.has_events &&
			     info.state.attempt < L->ctx.attempt;

		aml_run_info_free(&info);
		snprintf(reason, sizeof(reason),
			 "Slurm requeued the job (restart %u)",
			 L->ctx.attempt - 1);
		if (behind && launch_record(&L->ctx, AML_STATUS_QUEUED, reason,
					    0, 0, NULL) == AML_HISTORY_ERROR)
			return -1;
	}
	r = launch_record_quietly(&running, AML_STATUS_RUNNING, NULL, 0, 0,
				  running_ms, err, sizeof(err));
	if (r == AML_HISTORY_ERROR) {
		launch_say("cannot record Running: %s", err);
		return -1;
	}
	if (r == AML_HISTORY_SPOOLED)
		launch_say("Running: %s", err);
	return 0;
}

/*
 * What run history gives the run's processes, so a script that logs
 * with MLflow's own client logs into this same run (MLFLOW_RUN_ID...).
 * Put in the launcher's environment, it reaches the command and, through
 * srun, every task.  A history that cannot say is no reason to fail.
 */
static void history_env(struct launcher *L)
{
	struct aml_kvlist env = { 0 };
	char err[1024];

	if (aml_history_job_env(L->ctx.h, L->ctx.experiment, L->ctx.run_id,
				&env, err, sizeof(err)) < 0)
		launch_say("%s; the run's processes get no MLFLOW_RUN_ID", err);
	for (size_t i = 0; i < env.count; i++)
		if (setenv(env.items[i].key, env.items[i].value, 1) < 0)
			launch_say("cannot set %s: %s", env.items[i].key,
				   strerror(errno));
	aml_kvlist_free(&env);
}

int main(int argc, char **argv)
{
	struct launcher L = { .ctx = { .workdir_fd = -1 },
			      .image = { .held_fd = -1 } };
	struct launch_outcome outcome;
	struct launch_verdict verdict;
	struct launch_spec spec = { 0 };
	sigset_t child_mask;
	const char *run_id = getenv(AML_JOBENV_RUN_ID);
	char err[1024] = "";
	int64_t running_ms, started;
	int via_srun, image_in_srun, status;

	int upload_node = argc == 2 && !strcmp(argv[1], "--upload-node");
	char *const *command;

	/* A process of a run in its image (launch_image.h): first, before
	 * the signals are taken, since it becomes the runtime. */
	if (argc > 1 && !strncmp(argv[1], "--in-image=", 11))
		return launch_image_exec(argc - 1, argv + 1);

	aml_tool_use_mlflow_module();
	if (argc > 1 && !upload_node) {
		int help = argc == 2 && (!strcmp(argv[1], "-h") ||
					 !strcmp(argv[1], "--help"));

		fputs(usage, help ? stdout : stderr);
		return help ? AML_EXIT_OK : AML_EXIT_USAGE;
	}
	if (launch_signals_take(&child_mask) < 0) {
		launch_say("cannot take the signals: %s", strerror(errno));
		return AML_EXIT_FAILURE;
	}
	if (!run_id || !aml_runid_is_valid(run_id)) {
		launch_say("%s is %s: this job is not a run's (aml-launch runs "
			   "jobs submitted with sbatch --aml-run)",
			   AML_JOBENV_RUN_ID, run_id ? "not a run id" : "not set");
		return AML_EXIT_FAILURE;
	}
	launch_msg_run(run_id);
	L.ctx.run_id = run_id;
	L.ctx.experiment = getenv(AML_ENV_EXPERIMENT);
	if (L.ctx.experiment && !*L.ctx.experiment)
		L.ctx.experiment = NULL;
	L.ctx.job_id = env_unsigned("SLURM_JOB_ID", 0);
	L.ctx.node = getenv("SLURMD_NODENAME");
	L.ctx.attempt = env_unsigned("SLURM_RESTART_COUNT", 0) + 1;

	if (load_site(&L) < 0) {
		launcher_free(&L);
		return AML_EXIT_FAILURE;
	}
	L.ctx.site = &L.site;
	if (aml_history_open(&L.site, &L.ctx.h, err, sizeof(err)) < 0) {
		L.ctx.h = NULL;
		launch_say("%s", err);
		launcher_free(&L);
		return AML_EXIT_FAILURE;
	}
	/* The run's id on a tracking server, which sbatch recorded and the
	 * controller put in the job's environment: every write reaches the
	 * run by it, never by its name. */
	if (aml_history_bind(L.ctx.h, run_id,
			     getenv(AML_JOBENV_MLFLOW_RUN_ID), err,
			     sizeof(err)) < 0) {
		launch_say("%s", err);
		launcher_free(&L);
		return AML_EXIT_FAILURE;
	}
	if (upload_node) {
		/* One task of the upload step on every node (launch_finish.h):
		 * the node side has moved it into this node's working
		 * directory. */
		L.ctx.workdir_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		status = L.ctx.workdir_fd < 0 ? AML_EXIT_FAILURE
					      : launch_upload_node(&L.ctx);
		launcher_free(&L);
		return status;
	}
	if ((status = parse_config(&L)) != 0 ||
	    (status = check_workdir(&L)) != 0 ||
	    (status = make_plan(&L)) != 0)
		return status;
	/* Still Preparing: a build can take minutes, and its failure is
	 * the run's. */
	if (launch_env_prepare(&L.ctx, &L.plan.env, err, sizeof(err)) < 0 ||
	    launch_image_prepare(&L.ctx, &L.plan.env, &L.image, err,
				 sizeof(err)) < 0 ||
	    launch_data_prepare(&L.ctx, &L.rc, &L.data, err,
				sizeof(err)) < 0)
		return fail_preparing(&L, err);

	/* One process of a distributed configuration still goes through
	 * srun: its RANK, WORLD_SIZE and MASTER_ADDR come from the node
	 * side, for the steps the launcher starts.  pyxis runs images only
	 * in srun's steps. */
	if (launch_image_command(&L.image, &L.plan.env, &L.site,
				 L.plan.argv.items, &L.in_image,
				 &L.container_options, &image_in_srun, err,
				 sizeof(err)) < 0)
		return fail_run(&L, "%s", err);
	command = L.in_image.count ? L.in_image.items : L.plan.argv.items;
	via_srun = L.plan.num_tasks > 1 ||
		   L.rc.distributed.type != AML_DIST_NONE || image_in_srun;
	if (via_srun && launch_srun_argv(&L.plan, L.site.run_dir,
					 &L.container_options, command,
					 &L.srun_argv) < 0)
		return fail_run(&L, "out of memory");
	L.logs = launch_logs_new(&L.ctx, STDOUT_FILENO, via_srun);
	if (!L.logs)
		return fail_run(&L, "out of memory");

	if (record_running(&L, &running_ms) < 0) {
		/* A run history that refuses Running (the run was cancelled
		 * meanwhile, or this attempt is stale) must not see the
		 * script run anyway. */
		launcher_free(&L);
		return AML_EXIT_FAILURE;
	}
	history_env(&L);
	/* srun's tasks are placed by the node side, each in its own
	 * process; the one process started here is placed now. */
	if (!via_srun)
		launch_place_single(&L.ctx);
	/* The deadline counts from the Running event: the time it took to
	 * record is already spent. */
	started = launch_monotonic_of(running_ms);
	spec.argv = via_srun ? L.srun_argv.items : command;
	spec.via_srun = via_srun;
	spec.deadline_ms = L.plan.deadline_seconds
				   ? started + (int64_t)L.plan.deadline_seconds * 1000
				   : 0;
	spec.job_id = L.ctx.job_id;
	spec.logs = L.logs;
	spec.child_mask = &child_mask;
	if (launch_run(&spec, &outcome, err, sizeof(err)) < 0)
		return fail_run(&L, "%s", err);
	launch_judge(&outcome, via_srun, L.plan.deadline_seconds,
		     spec.argv[0], launch_logs_srun_error(L.logs), &verdict);
	launch_cause_refine(L.ctx.job_id, &outcome, &verdict);
	/* Every log is closed before the upload, so user_logs/ is whole. */
	launch_logs_free(L.logs);
	L.logs = NULL;
	if (verdict.status == AML_STATUS_FAILED && !outcome.started)
		launch_say("%s", verdict.reason);
	launch_finish(&L.ctx, &verdict, via_srun ? L.plan.min_nodes : 1,
		      L.site.run_dir);
	launcher_free(&L);
	launch_exit(&verdict);
}
