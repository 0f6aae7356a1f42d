/*
 * launch_env.c: see launch_env.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "env_cache.h"
#include "env_node.h"
#include "errors.h"
#include "fdio.h"
#include "job_env.h"
#include "launch_env.h"

/* Loading modules runs the site's shell code: bounded like any helper. */
#define MODULES_TIMEOUT_MS 60000
#define MODULES_ENV_MAX (4u << 20)
/* How long a run waits for another run's build of the same key. */
#define BUILD_WAIT_MS (3600LL * 1000)
/* Where a build's log goes in the run's working directory (uploaded
 * with logs/, where Azure ML keeps its own logs/azureml/). */
#define BUILD_LOG_DIR "logs/azureml"
#define BUILD_LOG_NAME "environment_build_log.txt"

extern char **environ;

/* ---- modules ---- */

/* The last non-empty line of [text], without its newline, into [out]. */
static void last_line(const char *text, char *out, size_t len)
{
	const char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(out, len, "%.*s", (int)(end - start), start);
}

/* Take over the variables of [env] (env -0's output): set what differs,
 * unset what the modules removed. */
/* The variables the shell sets for itself, not the modules. */
static int shell_own(const char *name)
{
	static const char *const own[] = { "_", "SHLVL", "PWD", "OLDPWD" };

	for (size_t i = 0; i < sizeof(own) / sizeof(*own); i++)
		if (!strcmp(name, own[i]))
			return 1;
	return 0;
}

static int take_environment(const char *env, size_t len)
{
	char **old = NULL;
	size_t n_old = 0;

	for (char **e = environ; *e; e++)
		n_old++;
	if (n_old && !(old = calloc(n_old, sizeof(*old))))
		return -1;
	for (size_t i = 0; i < n_old; i++) {
		size_t k = strcspn(environ[i], "=");

		if (!(old[i] = strndup(environ[i], k)))
			goto oom;
	}
	for (const char *p = env; p < env + len; p += strlen(p) + 1) {
		const char *eq = strchr(p, '=');
		char *name;

		if (!eq)
			continue;
		if (!(name = strndup(p, (size_t)(eq - p))))
			goto oom;
		/* Exported shell functions (BASH_FUNC_module%%) are no
		 * variables a program reads. */
		if (!shell_own(name) && aml_is_env_name(name)) {
			const char *now = getenv(name);

			if ((!now || strcmp(now, eq + 1)) &&
			    setenv(name, eq + 1, 1) < 0) {
				free(name);
				goto oom;
			}
		}
		for (size_t i = 0; i < n_old; i++)
			if (old[i] && !strcmp(old[i], name)) {
				free(old[i]);
				old[i] = NULL;
			}
		free(name);
	}
	/* What the shell no longer had, a module unset. */
	for (size_t i = 0; i < n_old; i++) {
		if (old[i] && !shell_own(old[i]))
			unsetenv(old[i]);
		free(old[i]);
	}
	free(old);
	return 0;
oom:
	for (size_t i = 0; i < n_old; i++)
		free(old[i]);
	free(old);
	return -1;
}

static int load_modules(const struct aml_site *site,
			const struct aml_site_env *e, char *errbuf,
			size_t errlen)
{
	/* Neither the user's profile nor bashrc: the site's init script,
	 * the modules in order, then the environment they left. */
	static const char script[] =
		". \"$1\" || exit 90; shift; "
		"module load \"$@\" || exit 91; exec env -0";
	char **argv = calloc(e->n_modules + 7, sizeof(*argv));
	struct aml_command cmd = { .timeout_ms = MODULES_TIMEOUT_MS,
				   .out_max = MODULES_ENV_MAX,
				   .err_max = 8192, .stop_on_more = 1 };
	struct aml_command_result res;
	char line[512];
	size_t n = 0;
	int rc = -1;

	if (!argv)
		return aml_fail(errbuf, errlen, "out of memory");
	argv[n++] = "/bin/bash";
	argv[n++] = "--noprofile";
	argv[n++] = "--norc";
	argv[n++] = "-c";
	argv[n++] = (char *)script;
	argv[n++] = "aml-modules";
	argv[n++] = site->modules_init;
	for (size_t i = 0; i < e->n_modules; i++)
		argv[n++] = e->modules[i];
	argv[n] = NULL;
	cmd.argv = argv;
	aml_command_run(&cmd, &res);
	last_line(res.err ? res.err : "", line, sizeof(line));
	if (res.outcome != AML_COMMAND_EXITED)
		aml_fail(errbuf, errlen, "environment %s: loading its modules "
			 "did not finish (%s)", e->name,
			 res.outcome == AML_COMMAND_TIMEOUT ? "timed out"
							   : "stopped");
	else if (res.exit_status == 90)
		aml_fail(errbuf, errlen, "environment %s: the site's "
			 "ModulesInit %s cannot be read by the shell%s%s",
			 e->name, site->modules_init, *line ? ": " : "", line);
	else if (res.exit_status != 0)
		aml_fail(errbuf, errlen, "environment %s: module load failed%s%s",
			 e->name, *line ? ": " : "", line);
	else if (take_environment(res.out, res.out_len) < 0)
		aml_fail(errbuf, errlen, "out of memory");
	else
		rc = 0;
	aml_command_result_free(&res);
	free(argv);
	return rc;
}

/* ---- a prefix: a venv or a conda environment ---- */

static int use_prefix(const char *prefix, const char *what, char *errbuf,
		      size_t errlen)
{
	const char *path = getenv("PATH");
	char python[PATH_MAX], meta[PATH_MAX], *new_path = NULL;
	struct stat st;
	int conda;

	snprintf(python, sizeof(python), "%s/bin/python", prefix);
	if (access(python, X_OK) != 0)
		return aml_fail(errbuf, errlen, "environment %s: %s: %s", what,
				python, strerror(errno));
	snprintf(meta, sizeof(meta), "%s/conda-meta", prefix);
	conda = stat(meta, &st) == 0 && S_ISDIR(st.st_mode);
	if (asprintf(&new_path, "%s/bin%s%s", prefix, path && *path ? ":" : "",
		     path ? path : "") < 0)
		return aml_fail(errbuf, errlen, "out of memory");
	/* As activating it would: its bin first, its name for the tools
	 * that ask, no PYTHONHOME to send its python elsewhere. */
	if (setenv("PATH", new_path, 1) < 0 ||
	    setenv(conda ? "CONDA_PREFIX" : "VIRTUAL_ENV", prefix, 1) < 0) {
		free(new_path);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	unsetenv("PYTHONHOME");
	free(new_path);
	return 0;
}

/* ---- built environments ---- */

void launch_keep_log(int workdir_fd, const char *log_path, const char *name)
{
	int in = open(log_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), out = -1;
	char buf[65536], rel[256];
	ssize_t n;

	if (in < 0)
		return;
	snprintf(rel, sizeof(rel), "%s/%s", BUILD_LOG_DIR, name);
	if ((mkdirat(workdir_fd, "logs", 0755) == 0 || errno == EEXIST) &&
	    (mkdirat(workdir_fd, BUILD_LOG_DIR, 0755) == 0 ||
	     errno == EEXIST))
		out = openat(workdir_fd, rel,
			     O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				     O_CLOEXEC,
			     0644);
	while (out >= 0 && (n = aml_read_some(in, buf, sizeof(buf))) > 0)
		if (aml_write_all(out, buf, (size_t)n) < 0)
			break;
	if (out >= 0)
		close(out);
	close(in);
}

static int prepare_built(const struct launch_ctx *c,
			 const struct aml_env_choice *env, char *errbuf,
			 size_t errlen)
{
	const struct aml_site *site = c->site;
	char key[65], prefix[PATH_MAX], log_path[PATH_MAX];
	struct aml_env_hold held = { -1 };
	enum aml_env_outcome got;

	got = aml_env_make(env, site, BUILD_WAIT_MS, key, prefix,
			   sizeof(prefix), log_path, sizeof(log_path), errbuf,
			   errlen);
	if (log_path[0])
		launch_keep_log(c->workdir_fd, log_path, BUILD_LOG_NAME);
	if (got != AML_ENV_CACHED && got != AML_ENV_BUILT)
		return -1;
	/* Held while the run runs, so that no gc takes it away under it;
	 * the descriptor closes with the launcher. */
	if (aml_env_cache_hold(site->env_dir, key, &held, prefix,
			       sizeof(prefix), errbuf, errlen) < 0)
		return -1;
	return use_prefix(prefix, env->label, errbuf, errlen);
}

int launch_env_prepare(const struct launch_ctx *c,
		       const struct aml_env_choice *env, char *errbuf,
		       size_t errlen)
{
	const struct aml_site_env *e = env->entry;

	if (env->kind == AML_ENV_PIP || env->kind == AML_ENV_CONDA)
		return prepare_built(c, env, errbuf, errlen);
	if (!e)
		return 0;
	if (e->n_modules && load_modules(c->site, e, errbuf, errlen) < 0)
		return -1;
	if (e->prefix && use_prefix(e->prefix, env->label, errbuf, errlen) < 0)
		return -1;
	return 0;
}
