/*
 * tool_module.c: where a tool finds the MLflow backend's module
 * (history_module.h).
 *
 * An installed tool loads the installed module, root's, as the SPANK
 * plugin does: aml-epilog and aml-finalize run as root or SlurmUser at
 * every job's end.  The same program in its build tree (make check, a
 * person trying a build before installing it) loads the module built
 * beside it, which need not be installed, or be root's: it may belong to
 * whoever owns the program, since whoever runs that program already runs
 * their code.  Both paths are fixed when the tool is built; which one is
 * taken depends only on where the running program lies, never on the
 * environment, so a copy of a tool anywhere else names the installed
 * module.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history_module.h"
#include "tools.h"

/* Whether this process runs the program of the build tree; then [*owner]
 * is who owns it. */
static int runs_from_build_tree(uid_t *owner)
{
	char exe[PATH_MAX], tools_dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	struct stat st;

	if (n <= 0 || !realpath(AML_BUILD_TOOLS_DIR, tools_dir))
		return 0;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash || stat(exe, &st) < 0)
		return 0;
	*slash = '\0';
	if (strcmp(exe, tools_dir))
		return 0;
	*owner = st.st_uid;
	return 1;
}

static const char *locate_module(uid_t *owner)
{
	*owner = 0;
	if (runs_from_build_tree(owner))
		return AML_BUILD_MLFLOW_MODULE;
	return AML_MLFLOW_MODULE_PATH;
}

void aml_tool_use_mlflow_module(void)
{
	aml_history_module_register(locate_module);
}
