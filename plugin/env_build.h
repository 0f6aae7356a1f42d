/*
 * env_build.h: the builders env_cache.h runs, as the caller (a run's
 * user, or root for shared/): a venv with pip, and a conda-compatible
 * command (conda, mamba, micromamba: its command line made elsewhere).
 *
 * Each command runs without a shell, with stdin from /dev/null, in a
 * process group of its own that a deadline kills (command.h), and a clean
 * environment: PATH=/usr/bin:/bin, HOME (the caller's, from the password
 * database), LANG=C.UTF-8, and for pip PIP_CONFIG_FILE=/dev/null; nothing
 * else of the caller's.  Why: a key names an environment by its content
 * and the site's builder options (PipOptions), so it must mean the same
 * environment whoever builds it.  A user's PIP_INDEX_URL, PIP_FIND_LINKS,
 * pip.conf (and the node's /etc/pip.conf) or PYTHONPATH would change what
 * a key holds without changing the key.  Conda still reads ~/.condarc
 * (no variable turns that off): the site's conda options give the
 * channels (--override-channels) where that matters.
 *
 * The programs are found on the caller's PATH (command.h), as every
 * command of the project is: the interpreter the key was computed for.
 *
 * The whole output of every command goes to the build's log, after a line
 * "$ <the command>"; a failure is one line, read from that log, naming
 * what pip or conda refused.
 */
#ifndef AML_ENV_BUILD_H
#define AML_ENV_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "strlist.h"

/* A build that takes longer is stuck (a hung index): it is stopped. */
#define AML_ENV_BUILD_TIMEOUT_MS (3 * 3600 * 1000LL)

struct aml_env_pip {
	const char *python;   /* the node's interpreter, absolute or a
			       * command name */
	const struct aml_strlist *options;      /* the site's PipOptions,
						 * e.g. "--no-index"
						 * "--find-links=/shared/
						 * wheels"; may be NULL */
	const struct aml_strlist *requirements; /* "torch==2.1.0", ... */
	int64_t timeout_ms;   /* the whole build; 0: AML_ENV_BUILD_TIMEOUT_MS */
};

/*
 * The pip builder (struct aml_env_builder's build, [arg] a struct
 * aml_env_pip): `PYTHON -m venv PREFIX`, then `PREFIX/bin/python -m pip
 * install --disable-pip-version-check --no-input OPTIONS -- REQUIREMENTS`.
 * The requirements are arguments after "--", not a requirements file: a
 * line of a requirements file may be an option ("--index-url ...", "-r
 * /elsewhere"), an argument after "--" is only ever a requirement, so
 * nothing in a run's list can change where pip looks.  Returns 0, or -1
 * with one line in errbuf: "pip: no matching distribution found for
 * nosuchpkg==1.0", else pip's last ERROR line, else "pip exited with
 * status N" (or what stopped venv).
 */
int aml_env_pip_build(void *arg, const char *prefix, int log_fd,
		      char *errbuf, size_t errlen);

struct aml_env_conda {
	const char *command;                 /* the site's conda, mamba or
					      * micromamba */
	const struct aml_strlist *extra;     /* the site's options; may be
					      * NULL */
	/* Makes the command line for [prefix] from the environment file
	 * [yaml_path] (env_spec.h's aml_env_conda_argv).  0, or -1 with
	 * errbuf. */
	int (*argv_for)(const char *command, const char *prefix,
			const char *yaml_path, const struct aml_strlist *extra,
			struct aml_strlist *argv, char *errbuf,
			size_t errlen);
	const char *yaml;                    /* the environment.yml text */
	int64_t timeout_ms;   /* 0: AML_ENV_BUILD_TIMEOUT_MS */
};

/*
 * The conda builder ([arg] a struct aml_env_conda): writes [yaml] to
 * PREFIX.yml, then runs the command argv_for makes.  Returns 0, or -1 with
 * one line in errbuf: "conda: packages not found: nosuchpkg=1.0, other"
 * (from PackagesNotFoundError or ResolvePackageNotFound; the tool named by
 * its command's base name), else its last line naming an error, else "conda
 * exited with status N".
 */
int aml_env_conda_build(void *arg, const char *prefix, int log_fd,
			char *errbuf, size_t errlen);

/* "pip, 4 packages", "conda, 1 package": a builder's what. */
void aml_env_what(const char *kind, size_t packages, char *buf, size_t len);

/*
 * The one line a failed command's output [log] ([len] bytes) gives:
 * pip's (status [status]), and a conda-compatible [tool]'s ("conda",
 * "mamba", "micromamba").  Exposed for tests.
 */
void aml_env_pip_reason(const char *log, size_t len, int status, char *buf,
			size_t buflen);
void aml_env_conda_reason(const char *log, size_t len, const char *tool,
			  int status, char *buf, size_t buflen);

/*
 * One step of a build, for every builder (image_pull.h's too): run [argv]
 * ([argc] words; clean [envp]) with its output to [log_fd], after a line
 * naming it, until [deadline] (aml_monotonic_ms); [*output_at] is where
 * its output starts in the log.  Returns its exit status (0 or more), or
 * -1 with errbuf when it could not run or did not exit by itself.
 */
int aml_env_run_logged(char *const *argv, size_t argc, char *const *envp,
		       int log_fd, int64_t deadline, off_t *output_at,
		       char *errbuf, size_t errlen);

/* The clean environment of env_build.h into [env] (PATH=/usr/bin:/bin,
 * the caller's HOME, LANG=C.UTF-8; PIP_CONFIG_FILE=/dev/null [for_pip]),
 * for every builder's commands.  0, or -1 when memory runs out. */
int aml_env_clean_env(struct aml_strlist *env, int for_pip);

/* [log_fd]'s last bytes from [from] on (at most 64 KiB), malloc'd and
 * NUL-ended, for a failed step's reason; NULL when it cannot be read. */
char *aml_env_log_tail(int log_fd, off_t from, size_t *len);

#endif
