/*
 * launch_env.h: the run's environment (environment.h) made ready on this
 * node while the run is Preparing, and put into the launcher's own
 * environment, which the run's processes inherit (srun hands it to the
 * tasks on every node: EnvDir and the site's prefixes are on filesystems
 * every node sees, like SnapshotDir).
 *
 *   catalogue:  Modules= loaded with the site's ModulesInit in a shell,
 *               whose resulting variables are taken over (a module that
 *               does not load fails the run, naming it and Lmod's reason);
 *               a Prefix= put first in PATH (VIRTUAL_ENV or CONDA_PREFIX
 *               set, as activating it would), its bin/python checked
 *   pip, conda: built once per content key in EnvDir (env_cache.h), then
 *               used as a prefix; a build's log goes to the run's
 *               logs/azureml/environment_build_log.txt; a build that fails
 *               fails the run with its one line (the package pip or conda
 *               refused)
 *   otherwise:  nothing to do
 * The catalogue's Env= variables are the plan's (the job's environment).
 */
#ifndef AML_TOOLS_LAUNCH_ENV_H
#define AML_TOOLS_LAUNCH_ENV_H

#include <stddef.h>

#include "environment.h"
#include "launch_common.h"

/*
 * Prepare [env] for the run of [c] (its working directory and site are
 * used).  Returns 0 with the process environment set, or -1 with the
 * reason the run fails in [errbuf].
 */
int launch_env_prepare(const struct launch_ctx *c,
		       const struct aml_env_choice *env, char *errbuf,
		       size_t errlen);

/*
 * A build's or pull's log [log_path] copied into the working directory
 * [workdir_fd] as logs/azureml/[name], uploaded with logs/ (Azure ML keeps
 * its own logs in logs/azureml/).  Nothing when it cannot be.
 */
void launch_keep_log(int workdir_fd, const char *log_path, const char *name);

#endif
