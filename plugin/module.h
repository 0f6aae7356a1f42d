/*
 * module.h: loading a part of slurm-aml that only some jobs need, from a
 * shared object, into a process that may run as root.
 *
 * The SPANK plugin is loaded by every sbatch, srun and salloc and every
 * root slurmstepd of the cluster, AML run or not.  What only AML runs
 * need (the run configuration, snapshots, run history and the libraries
 * behind them), and what only runs on MLflow need (libcurl and some
 * thirty libraries), are modules it loads when a job turns out to need
 * them, and never otherwise.  The tools load the MLflow one the same way
 * (aml-epilog runs as root at the end of every job).
 *
 * Threat: a module runs as root in slurmstepd.  Whoever could write or
 * replace it, or rename a directory above it, would run code as root on
 * every node.  So a module's path is fixed when slurm-aml is built (never
 * taken from the environment or a file a user names), and it is loaded
 * only when aml_module_is_secure says no one but root can change what
 * that path names.
 *
 * Plain C with nothing but libc and errors.c, so the plugin's smallest
 * part links it without the core (plugin/Makefile.am, libamlbase).
 */
#ifndef AML_MODULE_H
#define AML_MODULE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Whether the absolute [path] and every directory above it belong to
 * root (or to [owner], when not 0) and no one else may write them (a
 * directory writable by others only with its sticky bit, as /tmp, whose
 * entries only their owner may rename), [path] being a regular file and
 * no symlink on the way: then no one but root (and [owner]) can change
 * what it names.  [owner] is for a program run from its build tree,
 * whose module is as much its builder's as the program itself (tools/
 * tool_module.c); every installed program passes 0.  Returns 0, or -1
 * with errbuf naming the path, what is wrong and who owns it.
 */
int aml_module_is_secure(const char *path, uid_t owner, char *errbuf,
			 size_t errlen);

/*
 * Load the module at [path] after aml_module_is_secure([owner]) and
 * return the address of its [symbol]; it stays loaded for the life of
 * the process, since what it hands out points into it.  Returns NULL
 * with errbuf ("/usr/lib/slurm-aml/aml_mlflow.so: ...") when it is not
 * secure, cannot be loaded or has no [symbol] (then it is unloaded).
 */
void *aml_module_load(const char *path, uid_t owner, const char *symbol,
		      char *errbuf, size_t errlen);

#endif
