/*
 * history_module.h: a run history backend loaded from a shared object the
 * first time a site needs it.
 *
 * The SPANK plugin is loaded by every sbatch, srun and salloc and every
 * root slurmstepd of the cluster, AML run or not; the MLflow backend
 * brings libcurl and some thirty libraries with it.  So the plugin does
 * not link it: it loads aml_mlflow.so (rest/Makefile.am) when a run's
 * site uses HistoryBackend=mlflow, and never otherwise.
 *
 * Threat: the module runs as root in slurmstepd.  Whoever could write or
 * replace it, or rename a directory above it, would run code as root on
 * every node.  So its path is fixed when slurm-aml is built (never taken
 * from the environment or a file a user names), and it is loaded only
 * when aml_history_module_is_secure says no one but root can change
 * what that path names.  A module from another build of slurm-aml (its
 * structures may differ) is refused too.
 */
#ifndef AML_HISTORY_MODULE_H
#define AML_HISTORY_MODULE_H

#include <stddef.h>

#include "history_backend.h"

/* What a module exports, under this name. */
#define AML_MLFLOW_MODULE_SYMBOL "aml_mlflow_module"

struct aml_history_module {
	/* The build it comes from: the version and the sizes of the
	 * structures that cross between it and the plugin. */
	const char *version;
	size_t site_size, ops_size, run_info_size, event_size;
	const struct aml_history_opener *opener;
};

/* The fields above for this build, for a module to export. */
#define AML_HISTORY_MODULE_BUILD                                       \
	.version = PACKAGE_VERSION,                                    \
	.site_size = sizeof(struct aml_site),                          \
	.ops_size = sizeof(struct aml_history_ops),                    \
	.run_info_size = sizeof(struct aml_run_info),                  \
	.event_size = sizeof(struct aml_event)

/*
 * Whether the absolute [path] and every directory above it belong to
 * root and no one else may write them (a directory writable by others
 * only with its sticky bit, as /tmp, whose entries only their owner may
 * rename), [path] being a regular file: then no one but root can change
 * what it names.  Returns 0, or -1 with errbuf naming the path, what is
 * wrong and who owns it.
 */
int aml_history_module_is_secure(const char *path, char *errbuf,
				 size_t errlen);

/*
 * Load the module at [path] (once per process: it stays loaded, as the
 * handles it opens point into it) after aml_history_module_is_secure,
 * and give its backend in [*opener].  Returns 0, or -1 with errbuf
 * ("HistoryBackend=mlflow: /usr/lib/slurm-aml/aml_mlflow.so: ...").
 */
int aml_history_module_load(const char *path,
			    const struct aml_history_opener **opener,
			    char *errbuf, size_t errlen);

#endif
