/*
 * spank_aml.c: the SPANK plugin's entry points, dispatched by context.
 *
 *   allocator (sbatch)    --aml-run=FILE: the submit side (sbatch_side.h),
 *                         with a placeholder script on standard input when
 *                         the user gives none (stdin_launcher.h)
 *   allocator (salloc,    --aml-run refused: a run is a batch job
 *   scrontab), local
 *   (srun)
 *   remote (slurmstepd)   the node side (node_prepare.h): the run's
 *                         snapshot installed and each task placed, in
 *                         user_init and task_init
 *   job_script (epilog)   the run's directory ended (node_epilog.h)
 *
 * The option is "aml-run" of plugin "aml", so Slurm forwards it to the
 * controller and the nodes as _SLURM_SPANK_OPTION_aml_aml_run.
 *
 * Every job of the cluster loads this file; only an AML run's needs the
 * rest, which is aml_spank_run.so (spank_run.h), loaded here when a job
 * turns out to be one.  So a hook does nothing else, for other jobs,
 * than tell that it is not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include "slurm_compat.h"

#include "errors.h"
#include "job_env.h"
#include "module.h"
#include "self.h"
#include "spank_run.h"

#define OPTION "aml-run"
#define REFUSAL "--aml-run is for sbatch: a run is a batch job; use sbatch --aml-run=FILE"

/* The plugin is built with hidden visibility; these are what plugstack
 * looks up, so they alone are exported (with spank_aml.map). */
#pragma GCC visibility push(default)
SPANK_PLUGIN(aml, 1);
#pragma GCC visibility pop

static char *run_file;  /* --aml-run's value; NULL when not given */

/* The run module, once loaded; why it could not be, on a node, for
 * task_init to fail the job with (as node_prepare.h keeps errors). */
static const struct aml_spank_run *run;
static char run_error[1024];

/* The run module, loaded the first time a job needs it; NULL with
 * [run_error] when it cannot be (said once, by the caller). */
static const struct aml_spank_run *load_run(void)
{
	const struct aml_spank_run *m;
	char why[768];

	if (run)
		return run;
	m = aml_module_load(AML_SPANK_RUN_PATH, 0, AML_SPANK_RUN_SYMBOL, why,
			    sizeof(why));
	if (m && (!m->version || strcmp(m->version, PACKAGE_VERSION) ||
		  m->request_size != sizeof(struct aml_sbatch_request))) {
		snprintf(why, sizeof(why), "%s is not from this build of slurm-aml %s",
			 AML_SPANK_RUN_PATH, PACKAGE_VERSION);
		m = NULL;
	}
	if (!m) {
		snprintf(run_error, sizeof(run_error),
			 "cannot load what AML runs need: %s", why);
		return NULL;
	}
	run = m;
	run->init();
	return run;
}

/*
 * sbatch calls this once for each --aml-run (#SBATCH lines, then the
 * command line), slurmstepd again with remote=1 from the job's
 * environment.  The same file twice is one request; two different ones
 * are a mistake worth stopping for, since either choice could surprise.
 */
static int option_cb(int val, const char *optarg, int remote)
{
	char *copy;

	(void)val;
	if (!optarg)
		optarg = "";
	if (run_file && !strcmp(run_file, optarg))
		return 0;
	if (run_file && !remote) {
		slurm_error(AML_LOG_PREFIX "--aml-run given twice, as %s and as %s: one job is one run",
			    run_file, optarg);
		return -1;
	}
	copy = strdup(optarg);
	if (!copy) {
		slurm_error(AML_LOG_PREFIX "out of memory");
		return -1;
	}
	free(run_file);
	run_file = copy;
	return 0;
}

/*
 * sbatch exports every option it passed on into the job's environment as
 * SLURM_SPANK_<its job-env name>, and srun, salloc and sbatch take an
 * option from there as if the user had typed it.  Inside a run's job that
 * would make every srun of the launcher (or of the user's script) refuse
 * to start, and every nested sbatch submit a copy of the run.  So
 * --aml-run counts only on the command line or in #SBATCH lines: the
 * inherited variable is dropped before Slurm parses the options.
 */
static void forget_inherited_option(void)
{
	unsetenv(AML_ENV_INHERITED_OPTION);
}

#pragma GCC visibility push(default)

/* Read by srun and slurmstepd; sbatch and salloc ignore a static table
 * (plugstack.c), so slurm_spank_init registers the same option there. */
struct spank_option spank_options[] = {
	{ OPTION, "FILE",
	  "Submit the Azure ML run described in FILE (a ScriptRunConfig as "
	  "run.json or YAML, a .runconfig, or a command job) as this batch "
	  "job (sbatch only)",
	  1, 0, option_cb },
	SPANK_OPTIONS_TABLE_END
};

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	char errbuf[256];
	spank_err_t err;

	if (ac > 0) {
		slurm_error(AML_LOG_PREFIX "spank_aml.so takes no arguments in plugstack.conf, got \"%s\"",
			    av[0]);
		return -1;
	}
	switch (spank_context()) {
	case S_CTX_LOCAL:
		forget_inherited_option();
		return 0;
	case S_CTX_ALLOCATOR:
		forget_inherited_option();
		break;
	default:
		return 0;
	}
	err = spank_option_register(sp, &spank_options[0]);
	if (err != ESPANK_SUCCESS) {
		slurm_error(AML_LOG_PREFIX "cannot register the option: %s",
			    spank_strerror(err));
		return -1;
	}
	/* sbatch reads its script before any option callback runs, so only
	 * the raw command line can say, this early, that a run is coming. */
	if (!aml_self_is("sbatch") || !aml_self_has_option("--" OPTION))
		return 0;
	if (!load_run()) {
		slurm_error(AML_LOG_PREFIX "%s", run_error);
		return -1;
	}
	if (run->stdin_launcher_install(errbuf, sizeof(errbuf)) < 0)
		slurm_error(AML_LOG_PREFIX "%s", errbuf);
	return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	struct aml_sbatch_request req = { 0 };

	(void)ac;
	(void)av;
	switch (spank_context()) {
	case S_CTX_LOCAL:
		break;
	case S_CTX_ALLOCATOR:
		/* Whether sbatch read the placeholder, and standard input
		 * back as it was, with or without --aml-run. */
		req.launcher = run ? run->stdin_launcher_finish() : 0;
		if (!run_file || !aml_self_is("sbatch"))
			break;
		/* --aml-run in an #SBATCH line only: seen just now. */
		if (!load_run()) {
			slurm_error(AML_LOG_PREFIX "%s", run_error);
			return -1;
		}
		req.config_path = run_file;
		req.test_only = aml_self_has_option("--test-only");
		return run->sbatch_prepare(sp, &req);
	default:
		return 0;
	}
	if (run_file) {
		slurm_error(AML_LOG_PREFIX "%s", REFUSAL);
		return -1;
	}
	return 0;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	/* First, before anything here can change it: why sbatch's
	 * submission failed, if it did. */
	int submit_errno = slurm_get_errno();

	(void)sp;
	(void)ac;
	(void)av;
	if (run && spank_context() == S_CTX_ALLOCATOR)
		run->sbatch_finish(submit_errno);
	else if (run && spank_context() == S_CTX_REMOTE)
		run->node_exit();
	free(run_file);
	run_file = NULL;
	return 0;
}

/* Errors are kept for task_init: in a batch step a failing user_init
 * drains the node instead of failing the job. */
int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	char value[8];
	spank_err_t err;

	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	/* A run's job has its id in the SPANK environment the controller
	 * checked; the value is node_prepare's to read. */
	err = spank_getenv(sp, AML_JOBENV_RUN_ID, value, sizeof(value));
	if (err != ESPANK_SUCCESS && err != ESPANK_NOSPACE)
		return 0;
	if (!load_run())
		return 0;
	return run->node_user_init(sp);
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (run)
		return run->node_task_init(sp);
	if (run_error[0]) {
		slurm_error(AML_LOG_PREFIX "%s", run_error);
		return -1;
	}
	return 0;
}

/* slurmd gives the epilog the job's SPANK environment with SPANK_ in
 * front; a job without a run id there is no run's. */
int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_JOB_SCRIPT ||
	    !getenv("SPANK_" AML_JOBENV_RUN_ID))
		return 0;
	if (!load_run()) {
		slurm_error(AML_LOG_PREFIX "%s: the run's directory stays", run_error);
		return 0;
	}
	return run->node_job_epilog(sp);
}

#pragma GCC visibility pop
