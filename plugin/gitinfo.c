/*
 * gitinfo.c: the git properties of a source directory (contract in
 * gitinfo.h).
 *
 * Where the contract is silent, Azure ML's own behaviour (azureml-core's
 * git tracking) is followed, so a run records what it would record there:
 *   - Values are stripped of surrounding blanks; an empty value is no value,
 *     and an override that is empty (or only blanks) falls back to git.
 *   - AZUREML_GIT_DIRTY gives "True" when it is "1" or "true" (any case)
 *     and "False" for anything else.
 *   - Overrides are recorded outside a work tree too, and when git is not
 *     installed; git is not run at all when all four git facts are
 *     overridden.
 *   - A git command that exits non-zero means git does not know that fact
 *     (no remote, a detached HEAD, no commit yet, an index git cannot
 *     read): its property is left out, and that is not an error.
 * What this adds:
 *   - -1 is kept for git misbehaving: no answer within 10 s, more than
 *     64 KiB from a command whose output is kept, death by a signal, a git
 *     that is found but cannot be run, and a value that is not clean text
 *     (a control character, a NUL, invalid UTF-8).  A hostile .git/config
 *     can put terminal escapes in a URL or branch name; such a value is
 *     refused rather than mended, since any mending could still mislead
 *     whoever reads the run.  The same holds for the overrides.
 *   - On -1, [props] is unchanged (unless memory ran out while adding).
 *   - A remote "URL" with neither ':' nor '/' is a remote's name, which
 *     older git prints when no remote is configured (git 2.39 fails
 *     instead): it is left out.
 *   - git is forked only when [dir] or a directory above it holds a
 *     ".git" (or one cannot be looked at): the only way into a work tree
 *     once the variables naming another repository are gone
 *     (git_environment).  Most sources outside git then cost a few stats
 *     instead of a fork and exec of git (1.5-3 ms of every sbatch).
 *   - The output of `git status --porcelain .` is only looked at, never
 *     kept, so a big untracked tree is dirty, not an error.
 *   - Messages never quote a value.  They may quote the first line of
 *     git's stderr, with credentials stripped from any URL in it and
 *     control characters replaced by '?'; a line too long to keep whole is
 *     left out, since cutting it could cut a URL before its '@' and keep
 *     half a password.
 */
#include "command.h"
#include "gitinfo.h"
#include "utf8.h"
#include "text.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define GIT_TIMEOUT_MS 10000
#define GIT_OUTPUT_MAX (64 * 1024)
#define GIT_STDERR_KEEP 1024
#define GIT_MAX_ARGS 4

/* ---------------------------------------------------------------------- */
/* Credentials                                                            */

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

static int is_scheme_char(unsigned char c)
{
	return aml_ascii_is_alpha(c) || (c >= '0' && c <= '9') || c == '+' ||
	       c == '-' || c == '.';
}

/* Where an authority ends inside running text: URLs in git's messages sit
 * between quotes or blanks. */
static int ends_authority_in_text(unsigned char c)
{
	return c == '/' || c == '\'' || c == '"' || c == '`' || c == ' ' ||
	       c == '\t' || c == '<' || c == '>' || c == '(' || c == ')';
}

/*
 * If a URL's scheme ends with the ':' at [s + colon] ("https:", scheme
 * starting at [start]), remove the userinfo of its authority in place.
 *
 * The authority runs from the slashes after the scheme to the next '/'
 * (RFC 3986 also ends it at '?' and '#', but a password with an unencoded
 * '#' would then survive; no host name contains either) and the userinfo
 * is everything up to its *last* '@', so "user:p@ss@host" loses all of
 * "user:p@ss@".  One slash is enough ("https:/u:p@host"): lenient URL
 * parsers accept it, and stripping is the safe side.  A one-letter
 * scheme is a drive letter, and file: URLs name local paths, whose '@'
 * are part of the name.
 */
static void strip_at(char *s, size_t start, size_t colon, int in_text)
{
	size_t auth, end, at = 0;
	int has_at = 0;

	if (colon - start < 2 || !aml_ascii_is_alpha((unsigned char)s[start]))
		return;
	if (colon - start == 4 && !strncasecmp(s + start, "file", 4))
		return;
	if (s[colon + 1] != '/')
		return;
	auth = colon + 1;
	while (s[auth] == '/')
		auth++;
	for (end = auth; s[end]; end++) {
		unsigned char c = (unsigned char)s[end];

		if (in_text ? ends_authority_in_text(c) : c == '/')
			break;
		if (c == '@') {
			at = end;
			has_at = 1;
		}
	}
	if (!has_at)
		return;
	memmove(s + auth, s + at + 1, strlen(s + at + 1) + 1);
}

/*
 * Remove the userinfo of URLs in [s], in place.  [in_text] 0: [s] is one
 * URI, looked at only from its start.  1: [s] is a message, with URLs
 * anywhere in it.
 */
static void strip_userinfo(char *s, int in_text)
{
	size_t start, i = 0;

	/* A URI handed in with blanks around it is still that URI. */
	while (!in_text && is_blank((unsigned char)s[i]))
		i++;
	for (start = i; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ':') {
			strip_at(s, start, i, in_text);
			if (!in_text)
				return;
			start = i + 1;
		} else if (!is_scheme_char(c)) {
			if (!in_text)
				return;
			start = i + 1;
		}
	}
}

char *aml_git_strip_credentials(const char *uri)
{
	char *copy;

	if (!uri) {
		errno = EINVAL;
		return NULL;
	}
	copy = strdup(uri);
	if (copy)
		strip_userinfo(copy, 0);
	return copy;
}

/* ---------------------------------------------------------------------- */
/* Values                                                                 */

/* [*s, *s + *len) without surrounding blanks. */
static void trim(const char **s, size_t *len)
{
	while (*len && is_blank((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_blank((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

/*
 * NULL when [len] bytes of [s] are clean text for a property, else what is
 * wrong.  Refused: NUL, C0 controls and DEL, C1 controls (U+0080..U+009F,
 * which some terminals read as escapes), and anything that is not UTF-8
 * (properties end up in JSON).
 */
static const char *unclean(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n;

		if (p[i] == 0)
			return "a NUL byte";
		if (p[i] < 0x20 || p[i] == 0x7f)
			return "a control character";
		n = aml_utf8_length(p + i, len - i);
		if (n == 0)
			return "bytes that are not UTF-8";
		if (n == 2 && aml_utf8_decode(p + i, n) <= 0x9f)
			return "a control character";
		i += n;
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Messages                                                               */

static void set_error(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* "git a b c" for messages; the arguments are this file's constants. */
static void describe(const char *const *args, char *buf, size_t len)
{
	size_t used;

	snprintf(buf, len, "git");
	for (size_t i = 0; args[i]; i++) {
		used = strlen(buf);
		snprintf(buf + used, len - used, " %s", args[i]);
	}
}

/* ---------------------------------------------------------------------- */
/* Running git                                                            */

enum git_mode {
	GIT_CAPTURE,    /* keep stdout (at most GIT_OUTPUT_MAX bytes) */
	GIT_PROBE,      /* only note whether there was any stdout */
};

enum git_outcome {
	GIT_EXITED,     /* ran and exited: see exit_status */
	GIT_NOT_FOUND,  /* no git on PATH */
	GIT_ERROR,      /* errbuf says what went wrong */
};

/*
 * "; git said: <first line of stderr>" for a message, or "" when git said
 * nothing usable.  Credentials are stripped and control characters
 * replaced, as the line is shown to people.
 */
static void git_said(const struct aml_command_result *res, char *buf,
		     size_t len)
{
	char line[GIT_STDERR_KEEP + 1];
	const char *s = res->err;
	size_t n = strcspn(s, "\r\n");

	buf[0] = '\0';
	/* A first line that did not fit in what was kept may end inside a
	 * URL, before the '@' that marks its credentials. */
	if (n == res->err_len && res->err_cut)
		return;
	trim(&s, &n);
	if (!n)
		return;
	memcpy(line, s, n);
	line[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f)
			line[i] = '?';
	}
	strip_userinfo(line, 1);
	snprintf(buf, len, "; git said: %s", line);
}


/*
 * Run `git -C [dir] [args...]`, reading its output as [mode] says, within
 * GIT_TIMEOUT_MS.  GIT_EXITED with res->exit_status (res freed by the
 * caller), GIT_NOT_FOUND, or GIT_ERROR with one sentence in [errbuf].
 */
static enum git_outcome run_git(const char *dir, const char *const *args,
				enum git_mode mode, char **envp,
				struct aml_command_result *res, char *errbuf,
				size_t errlen)
{
	char *argv[GIT_MAX_ARGS + 4];
	char what[128], said[GIT_STDERR_KEEP + 32];
	struct aml_command cmd = {
		.argv = argv,
		.envp = envp,
		.timeout_ms = GIT_TIMEOUT_MS,
		.out_max = mode == GIT_CAPTURE ? GIT_OUTPUT_MAX : 0,
		.err_max = GIT_STDERR_KEEP,
		.stop_on_more = mode == GIT_CAPTURE,
	};
	enum aml_command_outcome o;
	size_t argc = 0;

	describe(args, what, sizeof(what));
	/* execvp takes char *const[]; it does not write through them. */
	argv[argc++] = "git";
	argv[argc++] = "-C";
	argv[argc++] = (char *)dir;
	for (size_t i = 0; args[i] && i < GIT_MAX_ARGS; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;

	o = aml_command_run(&cmd, res);
	if (o == AML_COMMAND_EXITED)
		return GIT_EXITED;
	if (o == AML_COMMAND_NOT_STARTED && res->error == ENOENT) {
		aml_command_result_free(res);
		return GIT_NOT_FOUND;
	}
	said[0] = '\0';
	if (res->err)
		git_said(res, said, sizeof(said));
	switch (o) {
	case AML_COMMAND_EXITED:
		break;
	case AML_COMMAND_NOT_STARTED:
		set_error(errbuf, errlen, "%s in %s: cannot run git: %s",
			  what, dir, strerror(res->error));
		break;
	case AML_COMMAND_TIMEOUT:
		set_error(errbuf, errlen,
			  "%s in %s: no answer within %d s, stopped it%s",
			  what, dir, GIT_TIMEOUT_MS / 1000, said);
		break;
	case AML_COMMAND_TOO_MUCH:
		set_error(errbuf, errlen,
			  "%s in %s: more than %d KiB of output, stopped it%s",
			  what, dir, GIT_OUTPUT_MAX / 1024, said);
		break;
	case AML_COMMAND_SIGNALED:
		set_error(errbuf, errlen, "%s in %s: killed by signal %d (%s)%s",
			  what, dir, res->term_signal,
			  strsignal(res->term_signal), said);
		break;
	case AML_COMMAND_FAILED:
		if (res->error == ENOMEM && !strcmp(res->failed_call, "malloc"))
			set_error(errbuf, errlen, "%s in %s: out of memory",
				  what, dir);
		else if (!strcmp(res->failed_call, "waitpid"))
			set_error(errbuf, errlen,
				  "%s in %s: lost its exit status (%s); is SIGCHLD ignored?",
				  what, dir, strerror(res->error));
		else if (!strcmp(res->failed_call, "read") ||
			 !strcmp(res->failed_call, "poll"))
			set_error(errbuf, errlen,
				  "%s in %s: reading its output failed: %s",
				  what, dir, strerror(res->error));
		else
			set_error(errbuf, errlen, "%s in %s: %s failed: %s",
				  what, dir, res->failed_call,
				  strerror(res->error));
		break;
	}
	aml_command_result_free(res);
	return GIT_ERROR;
}

/*
 * The caller's environment with GIT_TERMINAL_PROMPT=0 (never ask for a
 * password), GIT_OPTIONAL_LOCKS=0 (`git status` must not take the index
 * lock of a tree the user is working in) and LC_ALL=C (messages and output
 * in one language), and without the variables that point git at another
 * repository (GIT_DIR, GIT_WORK_TREE...): the facts must be those of the
 * source directory, whatever the submitting shell had set.  The strings
 * are shared with environ: only the array is allocated.  NULL when memory
 * runs out.
 */
static char **git_environment(void)
{
	static char prompt[] = "GIT_TERMINAL_PROMPT=0";
	static char locks[] = "GIT_OPTIONAL_LOCKS=0";
	static char locale[] = "LC_ALL=C";
	static const char *const replaced[] = {
		"GIT_TERMINAL_PROMPT=", "GIT_OPTIONAL_LOCKS=", "LC_ALL=",
		"GIT_DIR=", "GIT_WORK_TREE=", "GIT_INDEX_FILE=",
		"GIT_COMMON_DIR=", "GIT_OBJECT_DIRECTORY=",
		"GIT_NAMESPACE=",
	};
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 4, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int keep = 1;

		for (size_t r = 0; r < sizeof(replaced) / sizeof(*replaced); r++) {
			if (!strncmp(environ[i], replaced[r],
				     strlen(replaced[r])))
				keep = 0;
		}
		if (keep)
			env[k++] = environ[i];
	}
	env[k++] = prompt;
	env[k++] = locks;
	env[k++] = locale;
	env[k] = NULL;
	return env;
}

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

enum fact { F_URI, F_BRANCH, F_COMMIT, F_DIRTY, F_BUILD_ID, F_BUILD_URI,
	    F_COUNT };

struct facts {
	char *value[F_COUNT];   /* malloc'd, or NULL: not known */
};

static void facts_free(struct facts *f)
{
	for (int i = 0; i < F_COUNT; i++) {
		free(f->value[i]);
		f->value[i] = NULL;
	}
}

/*
 * Store [len] bytes of [s] as fact [which], after trimming; nothing when
 * empty.  URLs lose their credentials.  0, or -1 when the value is not
 * clean text ([why] says what it holds) or memory ran out ([why] NULL).
 */
static int keep_fact(struct facts *f, enum fact which, const char *s,
		     size_t len, const char **why)
{
	char *v;

	*why = NULL;
	trim(&s, &len);
	if (!len)
		return 0;
	*why = unclean(s, len);
	if (*why)
		return -1;
	v = strndup(s, len);
	if (!v)
		return -1;
	if (which == F_URI || which == F_BUILD_URI)
		strip_userinfo(v, 0);
	free(f->value[which]);
	f->value[which] = v;
	return 0;
}

/* The AZUREML_GIT_* overrides into [f].  0, or -1 with [errbuf]. */
static int read_overrides(struct facts *f, char *errbuf, size_t errlen)
{
	static const struct {
		const char *name;
		enum fact which;
	} vars[] = {
		{ "AZUREML_GIT_REPOSITORY_URI", F_URI },
		{ "AZUREML_GIT_BRANCH", F_BRANCH },
		{ "AZUREML_GIT_COMMIT", F_COMMIT },
		{ "AZUREML_GIT_BUILD_ID", F_BUILD_ID },
		{ "AZUREML_GIT_BUILD_URI", F_BUILD_URI },
	};
	const char *dirty = getenv("AZUREML_GIT_DIRTY"), *why;

	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++) {
		const char *v = getenv(vars[i].name);

		if (!v)
			continue;
		if (keep_fact(f, vars[i].which, v, strlen(v), &why) < 0) {
			if (why)
				set_error(errbuf, errlen,
					  "environment variable %s contains %s; refusing to record it",
					  vars[i].name, why);
			else
				set_error(errbuf, errlen,
					  "environment variable %s: out of memory",
					  vars[i].name);
			return -1;
		}
	}
	if (dirty) {
		const char *s = dirty;
		size_t len = strlen(dirty);
		int yes;

		trim(&s, &len);
		if (len) {
			yes = (len == 1 && s[0] == '1') ||
			      (len == 4 && !strncasecmp(s, "true", 4));
			f->value[F_DIRTY] = strdup(yes ? "True" : "False");
			if (!f->value[F_DIRTY]) {
				set_error(errbuf, errlen,
					  "environment variable AZUREML_GIT_DIRTY: out of memory");
				return -1;
			}
		}
	}
	return 0;
}

/* A remote URL from `git ls-remote --get-url`, or the remote's bare name
 * that older git prints when there is none. */
static int looks_like_remote_url(const char *s)
{
	return strchr(s, ':') || strchr(s, '/');
}

/* [len] bytes of [s], trimmed, are [word]. */
static int is_word(const char *s, size_t len, const char *word)
{
	trim(&s, &len);
	return len == strlen(word) && !memcmp(s, word, len);
}

/*
 * Whether git could find a work tree from [dir]: a ".git" (directory, or
 * the file of a linked work tree or submodule) in [dir] or above it, on
 * the physical path, as git walks it after its chdir.  Anything this
 * cannot tell (a directory it may not search, a path too long) answers
 * yes, and git decides.  A [dir] that does not exist answers no, as git
 * would.  git may stop earlier than this (GIT_CEILING_DIRECTORIES, a
 * filesystem boundary, safe.directory): then it is asked and says no.
 */
static int may_be_in_work_tree(const char *dir)
{
	char path[PATH_MAX + 8];
	struct stat st;
	size_t len;

	if (!realpath(dir, path))
		return errno != ENOENT && errno != ENOTDIR;
	len = strlen(path);
	for (;;) {
		/* "/" is the one path that ends in '/'. */
		if (len == 1)
			len = 0;
		memcpy(path + len, "/.git", 6);
		if (stat(path, &st) == 0 ||
		    (errno != ENOENT && errno != ENOTDIR))
			return 1;
		if (!len)
			return 0;
		while (len && path[len - 1] != '/')
			len--;
		/* keep "/" itself: len 1 */
		if (len > 1)
			len--;
	}
}

/*
 * Ask git for the facts [f] lacks.  0 (whatever git knew is in [f]; git
 * missing or [dir] outside a work tree leave [f] as it was), or -1 with
 * [errbuf].
 */
static int ask_git(const char *dir, struct facts *f, char *errbuf,
		   size_t errlen)
{
	static const char *const inside[] = {
		"rev-parse", "--is-inside-work-tree", NULL };
	static const struct {
		enum fact which;
		const char *const args[GIT_MAX_ARGS + 1];
		enum git_mode mode;
		const char *name;       /* for messages */
	} cmds[] = {
		{ F_URI, { "ls-remote", "--get-url", NULL },
		  GIT_CAPTURE, "the remote URL" },
		{ F_BRANCH, { "symbolic-ref", "--short", "HEAD", NULL },
		  GIT_CAPTURE, "the branch" },
		{ F_COMMIT, { "rev-parse", "HEAD", NULL },
		  GIT_CAPTURE, "the commit" },
		{ F_DIRTY, { "status", "--porcelain", ".", NULL },
		  GIT_PROBE, "the status" },
	};
	struct aml_command_result res;
	enum git_outcome o;
	char **envp;
	int rc = -1;

	if (!may_be_in_work_tree(dir))
		return 0;
	envp = git_environment();
	if (!envp) {
		set_error(errbuf, errlen, "git in %s: out of memory", dir);
		return -1;
	}
	o = run_git(dir, inside, GIT_CAPTURE, envp, &res, errbuf, errlen);
	if (o == GIT_ERROR)
		goto out;
	if (o == GIT_NOT_FOUND || res.exit_status != 0 ||
	    !is_word(res.out, res.out_len, "true")) {
		/* Not in a work tree: inside .git, outside any repository, a
		 * repository git will not trust (safe.directory), or no git.
		 * Azure ML's own test also takes only "true". */
		aml_command_result_free(&res);
		rc = 0;
		goto out;
	}
	aml_command_result_free(&res);

	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		const char *why;
		char what[128];

		if (f->value[cmds[i].which])
			continue;   /* overridden */
		o = run_git(dir, cmds[i].args, cmds[i].mode, envp, &res,
			    errbuf, errlen);
		if (o == GIT_ERROR)
			goto out;
		if (o == GIT_NOT_FOUND || res.exit_status != 0) {
			/* git does not know (no remote, detached HEAD, no
			 * commit, ...), or vanished meanwhile. */
			aml_command_result_free(&res);
			continue;
		}
		if (cmds[i].which == F_DIRTY) {
			f->value[F_DIRTY] = strdup(res.out_total ? "True" :
						   "False");
			aml_command_result_free(&res);
			if (!f->value[F_DIRTY]) {
				set_error(errbuf, errlen,
					  "git in %s: out of memory", dir);
				goto out;
			}
			continue;
		}
		if (cmds[i].which == F_URI &&
		    !looks_like_remote_url(res.out)) {
			aml_command_result_free(&res);
			continue;
		}
		if (keep_fact(f, cmds[i].which, res.out, res.out_len,
			      &why) < 0) {
			describe(cmds[i].args, what, sizeof(what));
			if (why)
				set_error(errbuf, errlen,
					  "%s in %s: %s contains %s; refusing to record it",
					  what, dir, cmds[i].name, why);
			else
				set_error(errbuf, errlen,
					  "%s in %s: out of memory", what, dir);
			aml_command_result_free(&res);
			goto out;
		}
		aml_command_result_free(&res);
	}
	rc = 0;
out:
	free(envp);
	return rc;
}

int aml_git_properties(const char *dir, struct aml_kvlist *props,
		       char *errbuf, size_t errlen)
{
	/* Azure ML's order; each git fact also under its MLflow name. */
	static const struct {
		enum fact which;
		const char *key;
	} keys[] = {
		{ F_URI, "azureml.git.repository_uri" },
		{ F_URI, "mlflow.source.git.repoURL" },
		{ F_BRANCH, "azureml.git.branch" },
		{ F_BRANCH, "mlflow.source.git.branch" },
		{ F_COMMIT, "azureml.git.commit" },
		{ F_COMMIT, "mlflow.source.git.commit" },
		{ F_DIRTY, "azureml.git.dirty" },
		{ F_BUILD_ID, "azureml.git.build_id" },
		{ F_BUILD_URI, "azureml.git.build_uri" },
	};
	struct facts f = { { NULL } };
	int added = 0;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!dir || !*dir || !props) {
		set_error(errbuf, errlen,
			  "git properties: no source directory or property list given");
		return -1;
	}
	if (read_overrides(&f, errbuf, errlen) < 0)
		goto fail;
	if (!f.value[F_URI] || !f.value[F_BRANCH] || !f.value[F_COMMIT] ||
	    !f.value[F_DIRTY]) {
		if (ask_git(dir, &f, errbuf, errlen) < 0)
			goto fail;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const char *v = f.value[keys[i].which];

		if (!v)
			continue;
		if (aml_kvlist_set(props, keys[i].key, v) < 0) {
			set_error(errbuf, errlen,
				  "git properties of %s: out of memory", dir);
			goto fail;
		}
		added = 1;
	}
	facts_free(&f);
	return added;
fail:
	facts_free(&f);
	return -1;
}
