/*
 * history_module.h: the MLflow backend as a module (module.h), which the
 * SPANK plugin and the tools load the first time a run's site uses
 * HistoryBackend=mlflow: libcurl and the thirty libraries behind it are
 * loaded only then, never by the Epilog of a job on a file-history site
 * nor by each aml-run.  A module from another build of slurm-aml, whose
 * structures may differ, is refused.
 */
#ifndef AML_HISTORY_MODULE_H
#define AML_HISTORY_MODULE_H

#include <stddef.h>
#include <sys/types.h>

#include "history_backend.h"

/* What a module exports, under this name. */
#define AML_MLFLOW_MODULE_SYMBOL "aml_mlflow_module"

struct aml_history_module {
	/* The build it comes from: the version and the sizes of the
	 * structures that cross between it and the plugin. */
	const char *version;
	size_t site_size, ops_size, run_info_size, event_size;
	const struct aml_history_opener *opener;
	/* Hands the module the loader's aml_hangwatch_progress: the
	 * module's own copy of the core watches nothing (http.h). */
	void (*set_progress)(void (*progress)(void));
};

/* The fields above for this build, for a module to export. */
#define AML_HISTORY_MODULE_BUILD                                       \
	.version = PACKAGE_VERSION,                                    \
	.site_size = sizeof(struct aml_site),                          \
	.ops_size = sizeof(struct aml_history_ops),                    \
	.run_info_size = sizeof(struct aml_run_info),                  \
	.event_size = sizeof(struct aml_event)

/*
 * Load the module at [path] (aml_module_load, with [owner]; once per
 * process) and give its backend in [*opener].  Returns 0, or -1 with
 * errbuf ("HistoryBackend=mlflow: /usr/lib/slurm-aml/aml_mlflow.so: ...").
 */
int aml_history_module_load(const char *path, uid_t owner,
			    const struct aml_history_opener **opener,
			    char *errbuf, size_t errlen);

/* Where a program's module lies, and the one uid besides root that may
 * own it (0: none; module.h).  Never fails: a program that cannot tell
 * names the installed module. */
typedef const char *aml_module_locator(uid_t *owner);

/*
 * Register (history.h, aml_history_register) the MLflow backend as the
 * module [locate] names, loaded the first time a run history on MLflow
 * is opened: what every program that does not link rest/ calls once.
 */
void aml_history_module_register(aml_module_locator *locate);

#endif
