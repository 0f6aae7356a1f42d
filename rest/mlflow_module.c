/*
 * mlflow_module.c: the MLflow backend as a module, aml_mlflow.so, for the
 * SPANK plugin to load when a run's site uses it (history_module.h).
 *
 * The module carries its own copy of the core: what it shares with the
 * plugin crosses as the structures AML_HISTORY_MODULE_BUILD checks, and
 * the core's process-wide state it would hold apart (aml-run's hang
 * watch, a bounded child's progress) is used by neither in the
 * processes that load it.
 */
#include "history_mlflow.h"
#include "history_module.h"

__attribute__((visibility("default")))
const struct aml_history_module aml_mlflow_module = {
	AML_HISTORY_MODULE_BUILD,
	.opener = &aml_history_mlflow_backend,
};
