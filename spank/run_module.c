/*
 * run_module.c: aml_spank_run.so's one export (spank_run.h), and the
 * MLflow backend it loads in turn only for a run whose site uses it
 * (history_module.h).
 */
#include "history.h"
#include "history_module.h"
#include "node_epilog.h"
#include "node_prepare.h"
#include "spank_run.h"
#include "stdin_launcher.h"
#include "sbatch_side.h"

static int open_mlflow(const struct aml_site *site,
		       const struct aml_history_ops **ops, void **self,
		       char *errbuf, size_t errlen)
{
	const struct aml_history_opener *module;

	if (aml_history_module_load(AML_MLFLOW_MODULE_PATH, &module, errbuf,
				    errlen) < 0)
		return -1;
	return module->open(site, ops, self, errbuf, errlen);
}

static const struct aml_history_opener mlflow_on_demand = {
	.backend = AML_HISTORY_MLFLOW,
	.open = open_mlflow,
};

static void init(void)
{
	aml_history_register(&mlflow_on_demand);
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
