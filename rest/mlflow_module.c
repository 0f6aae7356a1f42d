/*
 * mlflow_module.c: the MLflow backend as a module, aml_mlflow.so, for the
 * SPANK plugin and the tools to load when a run's site uses it
 * (history_module.h).
 *
 * The module carries its own copy of the core: what it shares with the
 * program crosses as the structures AML_HISTORY_MODULE_BUILD checks.
 * The one process-wide state of the core it uses, the hang watch that a
 * transfer's progress feeds, is the program's: the loader hands it over
 * (set_progress).
 */
#include "history_mlflow.h"
#include "history_module.h"
#include "http.h"

__attribute__((visibility("default")))
const struct aml_history_module aml_mlflow_module = {
	AML_HISTORY_MODULE_BUILD,
	.opener = &aml_history_mlflow_backend,
	.set_progress = aml_http_report_progress_to,
};
