/*
 * env_build.c: the pip and conda builders (contract in env_build.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"
#include "env_build.h"
#include "errors.h"
#include "fdio.h"
#include "text.h"

/* The end of a failed command's output that its reason is looked for in:
 * pip and conda print it last. */
#define LOG_TAIL (64 * 1024)

void aml_env_what(const char *kind, size_t packages, char *buf, size_t len)
{
	snprintf(buf, len, "%s, %zu package%s", kind, packages,
		 packages == 1 ? "" : "s");
}

/* ---------------------------------------------------------------------- */
/* Reading a failure off the log                                          */

/* The next line of [*at] before [end] into [*line] and [*n] (without its
 * end of line); 0 when there is none. */
static int next_line(const char **at, const char *end, const char **line,
		     size_t *n)
{
	const char *nl;

	if (*at >= end)
		return 0;
	nl = memchr(*at, '\n', (size_t)(end - *at));
	*line = *at;
	*n = (size_t)((nl ? nl : end) - *at);
	*at = nl ? nl + 1 : end;
	while (*n && ((*line)[*n - 1] == '\r' || (*line)[*n - 1] == ' '))
		(*n)--;
	return 1;
}

static int starts(const char *line, size_t n, const char *word)
{
	size_t w = strlen(word);

	return n >= w && !memcmp(line, word, w);
}

/* [n] bytes of [s] shown (text.h), between [head] and nothing, in [buf]. */
static void reason(char *buf, size_t len, const char *head, const char *s,
		   size_t n)
{
	char shown[512];

	aml_text_escape_n(s, n, shown, sizeof(shown));
	snprintf(buf, len, "%s%s", head, shown);
}

void aml_env_pip_reason(const char *log, size_t len, int status, char *buf,
			size_t buflen)
{
	static const char none[] = "ERROR: No matching distribution found for ";
	static const char version[] =
		"ERROR: Could not find a version that satisfies the "
		"requirement ";
	const char *at = log, *end = log + len, *line, *found = NULL,
		   *last = NULL;
	size_t n, found_n = 0, last_n = 0;
	int found_rank = 0;

	while (next_line(&at, end, &line, &n)) {
		if (starts(line, n, none)) {
			found = line + sizeof(none) - 1;
			found_n = n - (sizeof(none) - 1);
			found_rank = 2;
		} else if (starts(line, n, version) && found_rank < 2) {
			const char *cut;

			found = line + sizeof(version) - 1;
			found_n = n - (sizeof(version) - 1);
			cut = memmem(found, found_n, " (from versions", 15);
			if (cut)
				found_n = (size_t)(cut - found);
			found_rank = 1;
		} else if (starts(line, n, "ERROR: ")) {
			last = line + 7;
			last_n = n - 7;
		}
	}
	if (found)
		reason(buf, buflen, "pip: no matching distribution found for ",
		       found, found_n);
	else if (last)
		reason(buf, buflen, "pip: ", last, last_n);
	else
		snprintf(buf, buflen, "pip exited with status %d", status);
}

/* Whether [line] starts "SomethingError:", as conda's exceptions print. */
static int names_error(const char *line, size_t n)
{
	size_t i = 0;

	while (i < n && ((line[i] >= 'A' && line[i] <= 'Z') ||
			 (line[i] >= 'a' && line[i] <= 'z')))
		i++;
	return i > 5 && i < n && line[i] == ':' &&
	       !memcmp(line + i - 5, "Error", 5);
}

void aml_env_conda_reason(const char *log, size_t len, const char *tool,
			  int status, char *buf, size_t buflen)
{
	struct aml_text names = AML_TEXT_INIT;
	const char *at = log, *end = log + len, *line, *last = NULL;
	size_t n, last_n = 0;
	int listing = 0, last_named = 0;
	char head[64], *list;

	while (next_line(&at, end, &line, &n)) {
		while (n && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (starts(line, n, "PackagesNotFoundError") ||
		    starts(line, n, "ResolvePackageNotFound")) {
			/* The last report is the one that ended it. */
			free(aml_text_finish(&names));
			names = (struct aml_text)AML_TEXT_INIT;
			listing = 1;
			continue;
		}
		if (listing && n && starts(line, n, "- ")) {
			if (names.len)
				aml_text_str(&names, ", ");
			aml_text_add(&names, line + 2, n - 2);
			continue;
		}
		if (n)
			listing = 0;
		/* An exception conda names ("CondaHTTPError: ...") says
		 * more than the lines explaining it; else any line about an
		 * error ("error    libmamba ..."). */
		if (names_error(line, n) || (!last_named && n &&
					     memmem(line, n, "rror", 4))) {
			last_named = names_error(line, n);
			last = line;
			last_n = n;
		}
	}
	list = aml_text_finish(&names);
	if (list && *list) {
		snprintf(head, sizeof(head), "%s: packages not found: ", tool);
		reason(buf, buflen, head, list, strlen(list));
	} else if (last) {
		snprintf(head, sizeof(head), "%s: ", tool);
		reason(buf, buflen, head, last, last_n);
	} else {
		snprintf(buf, buflen, "%s exited with status %d", tool, status);
	}
	free(list);
}

char *aml_env_log_tail(int log_fd, off_t from, size_t *len)
{
	off_t end = lseek(log_fd, 0, SEEK_END);
	char *text;
	ssize_t r;

	if (end < 0 || from < 0 || from > end)
		return NULL;
	if (end - from > LOG_TAIL)
		from = end - LOG_TAIL;
	text = malloc((size_t)(end - from) + 1);
	if (!text)
		return NULL;
	r = pread(log_fd, text, (size_t)(end - from), from);
	if (r < 0) {
		free(text);
		return NULL;
	}
	text[r] = '\0';
	*len = (size_t)r;
	return text;
}

/* ---------------------------------------------------------------------- */
/* Running a step                                                         */

int aml_env_clean_env(struct aml_strlist *env, int for_pip)
{
	struct passwd pw, *found = NULL;
	char buf[1024], *home;
	int bad;

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &found) != 0)
		found = NULL;
	home = aml_env_pair("HOME", found && found->pw_dir[0] ? found->pw_dir
							      : "/");
	bad = !home || aml_strlist_push(env, "PATH=/usr/bin:/bin") < 0 ||
	      aml_strlist_push(env, home) < 0 ||
	      aml_strlist_push(env, "LANG=C.UTF-8") < 0 ||
	      (for_pip && aml_strlist_push(env, "PIP_CONFIG_FILE=/dev/null") < 0);
	free(home);
	return bad ? -1 : 0;
}

int aml_env_run_logged(char *const *argv, size_t argc, char *const *envp,
		      int log_fd, int64_t deadline, off_t *output_at,
		      char *errbuf, size_t errlen)
{
	struct aml_command cmd = { .argv = argv, .envp = envp };
	struct aml_command_result res;
	char *shown = aml_shell_words(argv, argc), prog[256];
	int r = -1;

	aml_text_escape(argv[0], prog, sizeof(prog));
	if (!shown || aml_write_all(log_fd, "$ ", 2) < 0 ||
	    aml_write_all(log_fd, shown, strlen(shown)) < 0 ||
	    aml_write_all(log_fd, "\n", 1) < 0) {
		free(shown);
		return aml_fail(errbuf, errlen, "cannot write the build log: "
				"%s", strerror(errno));
	}
	free(shown);
	*output_at = lseek(log_fd, 0, SEEK_CUR);
	cmd.timeout_ms = deadline - aml_monotonic_ms();
	if (cmd.timeout_ms <= 0)
		return aml_fail(errbuf, errlen, "%s: the build took longer than "
				"allowed: stopped", prog);
	switch (aml_command_run_to(&cmd, log_fd, &res)) {
	case AML_COMMAND_EXITED:
		r = res.exit_status;
		break;
	case AML_COMMAND_SIGNALED:
		aml_fail(errbuf, errlen, "%s was killed by signal %d", prog,
			 res.term_signal);
		break;
	case AML_COMMAND_TIMEOUT:
	case AML_COMMAND_TOO_MUCH:
		aml_fail(errbuf, errlen, "%s: the build took longer than "
			 "allowed: stopped", prog);
		break;
	case AML_COMMAND_NOT_STARTED:
		aml_fail(errbuf, errlen, "%s: cannot run: %s", prog,
			 res.error == ENOENT ? "no such program"
					     : strerror(res.error));
		break;
	case AML_COMMAND_FAILED:
		aml_fail(errbuf, errlen, "cannot run %s: %s: %s", prog,
			 res.failed_call, strerror(res.error));
		break;
	}
	aml_command_result_free(&res);
	return r;
}

/* A NULL-ended vector of [n] words, pointing into the caller's strings. */
static char **words(const struct aml_strlist *l)
{
	char **v = calloc(l->count + 1, sizeof(*v));

	for (size_t i = 0; v && i < l->count; i++)
		v[i] = l->items[i];
	return v;
}

static int64_t deadline_of(int64_t timeout_ms)
{
	return aml_monotonic_ms() +
	       (timeout_ms > 0 ? timeout_ms : AML_ENV_BUILD_TIMEOUT_MS);
}

/* ---------------------------------------------------------------------- */
/* pip                                                                    */

/* The two command lines of the pip builder into [venv] and [install]. */
static int pip_argvs(const struct aml_env_pip *pip, const char *prefix,
		     struct aml_strlist *venv, struct aml_strlist *install)
{
	static const char *const head[] = {
		"-m", "pip", "install", "--disable-pip-version-check",
		"--no-input",
	};
	char *python = NULL;
	int bad;

	bad = aml_strlist_push(venv, pip->python) < 0 ||
	      aml_strlist_push(venv, "-m") < 0 ||
	      aml_strlist_push(venv, "venv") < 0 ||
	      aml_strlist_push(venv, prefix) < 0 ||
	      asprintf(&python, "%s/bin/python", prefix) < 0;
	if (bad)
		return -1;
	bad = aml_strlist_push(install, python) < 0;
	free(python);
	for (size_t i = 0; !bad && i < sizeof(head) / sizeof(*head); i++)
		bad = aml_strlist_push(install, head[i]) < 0;
	for (size_t i = 0; !bad && pip->options && i < pip->options->count;
	     i++)
		bad = aml_strlist_push(install, pip->options->items[i]) < 0;
	bad = bad || aml_strlist_push(install, "--") < 0;
	for (size_t i = 0; !bad && pip->requirements &&
			   i < pip->requirements->count; i++)
		bad = aml_strlist_push(install, pip->requirements->items[i]) < 0;
	return bad ? -1 : 0;
}

enum speaker { PLAIN, PIP, CONDA };

/* Why [step] failed with [status], from the log since [from]: in pip's or
 * conda's own words ([step] then names the conda tool), or the last line
 * it wrote. */
static void step_failed(int log_fd, off_t from, enum speaker who,
			const char *step, int status, char *errbuf,
			size_t errlen)
{
	const char *at, *end, *line, *last = NULL;
	size_t len = 0, n, last_n = 0;
	char *text = aml_env_log_tail(log_fd, from, &len), head[320];

	if (text && who == PIP) {
		aml_env_pip_reason(text, len, status, errbuf, errlen);
	} else if (text && who == CONDA) {
		aml_env_conda_reason(text, len, step, status, errbuf, errlen);
	} else {
		for (at = text, end = text ? text + len : NULL;
		     text && next_line(&at, end, &line, &n);)
			if (n) {
				last = line;
				last_n = n;
			}
		snprintf(head, sizeof(head), "%s exited with status %d%s", step,
			 status, last ? ": " : "");
		reason(errbuf, errlen, head, last ? last : "", last_n);
	}
	free(text);
}

int aml_env_pip_build(void *arg, const char *prefix, int log_fd,
		      char *errbuf, size_t errlen)
{
	const struct aml_env_pip *pip = arg;
	struct aml_strlist env = { 0 }, venv = { 0 }, install = { 0 };
	int64_t deadline = deadline_of(pip->timeout_ms);
	char **envp = NULL, **venv_v = NULL, **install_v = NULL, step[300];
	off_t from;
	int r = -1;

	if (aml_env_clean_env(&env, 1) < 0 || !(envp = words(&env)) ||
	    pip_argvs(pip, prefix, &venv, &install) < 0 ||
	    !(venv_v = words(&venv)) || !(install_v = words(&install))) {
		aml_fail(errbuf, errlen, "out of memory");
		goto out;
	}
	r = aml_env_run_logged(venv_v, venv.count, envp, log_fd, deadline, &from,
		       errbuf, errlen);
	if (r > 0) {
		aml_text_escape(pip->python, step, sizeof(step) - 8);
		strcat(step, " -m venv");
		step_failed(log_fd, from, PLAIN, step, r, errbuf, errlen);
	}
	/* Only python asked for: the venv is the environment. */
	if (r != 0 || !pip->requirements || !pip->requirements->count)
		goto out;
	r = aml_env_run_logged(install_v, install.count, envp, log_fd, deadline,
		       &from, errbuf, errlen);
	if (r > 0)
		step_failed(log_fd, from, PIP, "pip", r, errbuf, errlen);
out:
	free(envp);
	free(venv_v);
	free(install_v);
	aml_strlist_free(&env);
	aml_strlist_free(&venv);
	aml_strlist_free(&install);
	return r == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* conda                                                                  */

/* [text] as the file [path], which the build made its own (O_NOFOLLOW: no
 * symlink is written through).  0, or -1 with errbuf. */
static int write_file(const char *path, const char *text, char *errbuf,
		      size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				    O_CLOEXEC, 0644);

	if (fd < 0 || aml_write_all(fd, text, strlen(text)) < 0 ||
	    aml_close_checked(fd) < 0) {
		int e = errno;

		if (fd >= 0)
			aml_close_quietly(fd);
		return aml_fail(errbuf, errlen, "%s: cannot write: %s", path,
				strerror(e));
	}
	return 0;
}

int aml_env_conda_build(void *arg, const char *prefix, int log_fd,
			char *errbuf, size_t errlen)
{
	const struct aml_env_conda *c = arg;
	struct aml_strlist env = { 0 }, argv = { 0 };
	int64_t deadline = deadline_of(c->timeout_ms);
	const char *slash = strrchr(c->command, '/');
	char **envp = NULL, **argv_v = NULL, *yaml_path = NULL, tool[64];
	off_t from;
	int r = -1;

	aml_text_escape(slash ? slash + 1 : c->command, tool, sizeof(tool));
	if (asprintf(&yaml_path, "%s.yml", prefix) < 0) {
		yaml_path = NULL;
		aml_fail(errbuf, errlen, "out of memory");
		goto out;
	}
	if (write_file(yaml_path, c->yaml, errbuf, errlen) < 0 ||
	    c->argv_for(c->command, prefix, yaml_path, c->extra, &argv,
			errbuf, errlen) < 0)
		goto out;
	if (aml_env_clean_env(&env, 0) < 0 || !(envp = words(&env)) || !argv.count ||
	    !(argv_v = words(&argv))) {
		aml_fail(errbuf, errlen, argv.count ? "out of memory"
						    : "no conda command line");
		goto out;
	}
	r = aml_env_run_logged(argv_v, argv.count, envp, log_fd, deadline, &from,
		       errbuf, errlen);
	if (r > 0)
		step_failed(log_fd, from, CONDA, tool, r, errbuf, errlen);
out:
	free(yaml_path);
	free(envp);
	free(argv_v);
	aml_strlist_free(&env);
	aml_strlist_free(&argv);
	return r == 0 ? 0 : -1;
}
