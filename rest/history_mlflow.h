/*
 * history_mlflow.h: run history on an MLflow tracking server, for the
 * programs that link rest/ (history.h, aml_history_register):
 *
 *     aml_history_register(&aml_history_mlflow_backend);
 *
 * Only the module aml_mlflow.so and the tests of rest/ link it: the SPANK
 * plugin and the tools load that module, which exports this backend as
 * AML_MLFLOW_MODULE_SYMBOL (history_module.h), only when a run's site
 * uses MLflow.
 */
#ifndef AML_HISTORY_MLFLOW_H
#define AML_HISTORY_MLFLOW_H

#include "history_backend.h"

extern const struct aml_history_opener aml_history_mlflow_backend;

#endif
