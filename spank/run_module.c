/*
 * run_module.c: aml_spank_run.so's one export (spank_run.h), and the
 * MLflow backend it loads in turn only for a run whose site uses it
 * (history_module.h).
 */
#include "history_module.h"
#include "node_epilog.h"
#include "node_prepare.h"
#include "spank_run.h"
#include "stdin_launcher.h"
#include "sbatch_side.h"

/* Root's module, where make install put it: the plugin runs in root's
 * slurmstepd. */
static const char *installed_module(uid_t *owner)
{
	*owner = 0;
	return AML_MLFLOW_MODULE_PATH;
}

static void init(void)
{
	aml_history_module_register(installed_module);
}

__attribute__((visibility("default")))
const struct aml_spank_run aml_spank_run = {
	AML_SPANK_RUN_BUILD,
	.init = init,
	.stdin_launcher_install = aml_stdin_launcher_install,
	.stdin_launcher_finish = aml_stdin_launcher_finish,
	.sbatch_prepare = aml_sbatch_prepare,
	.sbatch_finish = aml_sbatch_finish,
	.node_user_init = aml_node_user_init,
	.node_task_init = aml_node_task_init,
	.node_job_epilog = aml_node_job_epilog,
	.node_exit = aml_node_exit,
};
