/*
 * test_gitinfo.c: git properties of a source directory (plugin/gitinfo.c).
 *
 * Real repositories are made in a temporary directory with the git on
 * PATH; HOME points there and GIT_CONFIG_NOSYSTEM=1, so neither the
 * machine's nor the user's git configuration can change the answers, and
 * GIT_CEILING_DIRECTORIES stops git from finding a repository above it.
 * Misbehaving gits (slow, chatty, crashing) are shell scripts put first
 * on PATH.  Every test checks that the password in the remote URLs,
 * SECRET, shows up in no property and no message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gitinfo.h"

#define SECRET "s3cret"
#define CRED_URL "https://user:" SECRET "@example.org/r.git"
#define CLEAN_URL "https://example.org/r.git"

static char tmp[64];            /* the temporary directory */
static char *saved_path;        /* PATH as the tests found it */
static int have_git;

static const char *const override_vars[] = {
	"AZUREML_GIT_REPOSITORY_URI", "AZUREML_GIT_BRANCH",
	"AZUREML_GIT_COMMIT", "AZUREML_GIT_DIRTY", "AZUREML_GIT_BUILD_ID",
	"AZUREML_GIT_BUILD_URI",
};

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

/* Run a shell command (printf-style) in the temporary directory; it must
 * succeed. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[4096];
	int n, status;
	va_list ap;

	n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", tmp);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	status = system(cmd);
	if (status != 0)
		fail_msg("command failed (status %d): %s", status, cmd);
}

/* "<tmp>/<name>" into a static buffer (one at a time). */
static const char *at(const char *name)
{
	static char path[2][512];
	static int which;

	which ^= 1;
	snprintf(path[which], sizeof(path[which]), "%s/%s", tmp, name);
	return path[which];
}

/* A fresh repository <tmp>/<name> on branch main with one commit. */
static void make_repo(const char *name)
{
	sh("rm -rf %s && git init -q %s && cd %s && "
	   "git symbolic-ref HEAD refs/heads/main && "
	   "git config user.name Tester && "
	   "git config user.email tester@example.org && "
	   "mkdir sub && echo a > a.txt && echo b > sub/b.txt && "
	   "git add . && git commit -q -m first", name, name, name);
}

/* `git rev-parse HEAD` of <tmp>/<name>, as the expected commit. */
static void head_of(const char *name, char out[64])
{
	char cmd[600];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse HEAD", at(name));
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 64, p));
	assert_int_equal(pclose(p), 0);
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(strlen(out), 40);
}

/* [key] has [value] in [props]; NULL: [key] is absent. */
static void expect(const struct aml_kvlist *props, const char *key,
		   const char *value)
{
	const char *got = aml_kvlist_get(props, key);

	if (!value) {
		if (got)
			fail_msg("%s is \"%s\", expected no such property",
				 key, got);
		return;
	}
	if (!got)
		fail_msg("%s is missing, expected \"%s\"", key, value);
	assert_string_equal(got, value);
}

/* The secret is in no property and not in the message. */
static void assert_no_secret(const struct aml_kvlist *props, const char *err)
{
	for (size_t i = 0; i < props->count; i++) {
		if (strstr(props->items[i].value, SECRET))
			fail_msg("%s leaks the secret: %s",
				 props->items[i].key, props->items[i].value);
	}
	if (strstr(err, SECRET))
		fail_msg("the message leaks the secret: %s", err);
}

/* aml_git_properties on <tmp>/<name> into [props] (freed by the caller),
 * with the secret checks. */
static int git_props(const char *name, struct aml_kvlist *props,
		     char *err, size_t errlen)
{
	int rc;

	memset(props, 0, sizeof(*props));
	memset(err, 'x', errlen);
	err[errlen - 1] = '\0';
	rc = aml_git_properties(at(name), props, err, errlen);
	assert_no_secret(props, err);
	if (rc < 0) {
		assert_true(err[0] != '\0');
		assert_int_equal(props->count, 0);
	} else {
		assert_string_equal(err, "");
	}
	return rc;
}

/* A fake `git` in <tmp>/fake: a /bin/sh script with [body]; "$3 $4" is
 * the subcommand and its first argument (after "-C <dir>").  PATH then
 * holds only <tmp>/fake and /bin, /usr/bin for the script's own tools. */
static void fake_git(const char *body)
{
	FILE *f;

	sh("mkdir -p fake");
	f = fopen(at("fake/git"), "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(at("fake/git"), 0755), 0);
	assert_int_equal(setenv("PATH", at("fake:/usr/bin:/bin"), 1), 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void need_git(void)
{
	if (!have_git) {
		/* tap-wrap takes the reason from this line. */
		printf("# SKIP: git is not installed\n");
		fflush(stdout);
		skip();
	}
}

/* ---------------------------------------------------------------------- */
/* Fixtures                                                               */

static int group_setup(void **state)
{
	static const char *const git_vars[] = {
		"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
		"GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR", "GIT_CONFIG",
		"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_PARAMETERS",
		"GIT_CONFIG_COUNT", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES",
	};
	const char *path = getenv("PATH");

	(void)state;
	strcpy(tmp, "/tmp/aml-gitinfo-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	saved_path = strdup(path ? path : "/usr/bin:/bin");
	if (!saved_path)
		return -1;
	for (size_t i = 0; i < sizeof(git_vars) / sizeof(*git_vars); i++)
		unsetenv(git_vars[i]);
	if (setenv("HOME", tmp, 1) || setenv("GIT_CONFIG_NOSYSTEM", "1", 1) ||
	    setenv("GIT_CEILING_DIRECTORIES", tmp, 1))
		return -1;
	have_git = system("git --version >/dev/null 2>&1") == 0;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		return -1;
	free(saved_path);
	return 0;
}

static int test_setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(override_vars) / sizeof(*override_vars); i++)
		unsetenv(override_vars[i]);
	return setenv("PATH", saved_path, 1);
}

static int test_teardown(void **state)
{
	return test_setup(state);
}

/* ---------------------------------------------------------------------- */
/* Real repositories                                                      */

static void test_clean_repo_with_remote(void **state)
{
	struct aml_kvlist props;
	char err[256], head[64];

	(void)state;
	need_git();
	make_repo("clean");
	sh("git -C clean remote add origin '%s'", CRED_URL);
	head_of("clean", head);
	assert_int_equal(git_props("clean", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.repository_uri", CLEAN_URL);
	expect(&props, "mlflow.source.git.repoURL", CLEAN_URL);
	expect(&props, "azureml.git.branch", "main");
	expect(&props, "mlflow.source.git.branch", "main");
	expect(&props, "azureml.git.commit", head);
	expect(&props, "mlflow.source.git.commit", head);
	expect(&props, "azureml.git.dirty", "False");
	assert_int_equal(props.count, 7);
	/* Azure ML's order. */
	assert_string_equal(props.items[0].key, "azureml.git.repository_uri");
	assert_string_equal(props.items[6].key, "azureml.git.dirty");
	aml_kvlist_free(&props);
}

static void test_existing_properties_kept(void **state)
{
	struct aml_kvlist props = { NULL, 0 };
	char err[256];

	(void)state;
	need_git();
	make_repo("keep");
	assert_int_equal(aml_kvlist_set(&props, "mine", "1"), 0);
	assert_int_equal(aml_kvlist_set(&props, "azureml.git.branch", "old"),
			 0);
	assert_int_equal(aml_git_properties(at("keep"), &props, err,
					    sizeof(err)), 1);
	expect(&props, "mine", "1");
	expect(&props, "azureml.git.branch", "main");
	aml_kvlist_free(&props);
}

static void test_dirty(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	make_repo("dirty");
	/* Modified tracked file. */
	sh("echo changed >> dirty/a.txt");
	assert_int_equal(git_props("dirty", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.dirty", "True");
	aml_kvlist_free(&props);
	/* Untracked file only. */
	sh("git -C dirty checkout -q -- a.txt && touch dirty/new.txt");
	assert_int_equal(git_props("dirty", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.dirty", "True");
	aml_kvlist_free(&props);
	/* Clean again. */
	sh("rm dirty/new.txt");
	assert_int_equal(git_props("dirty", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.dirty", "False");
	aml_kvlist_free(&props);
}

static void test_subdirectory_source(void **state)
{
	struct aml_kvlist props;
	char err[256], head[64];

	(void)state;
	need_git();
	make_repo("subrepo");
	sh("git -C subrepo remote add origin '%s'", CRED_URL);
	head_of("subrepo", head);
	/* A change outside the source directory does not make it dirty:
	 * `git status --porcelain .` runs in the source directory. */
	sh("echo changed >> subrepo/a.txt");
	assert_int_equal(git_props("subrepo/sub", &props, err, sizeof(err)),
			 1);
	expect(&props, "azureml.git.repository_uri", CLEAN_URL);
	expect(&props, "azureml.git.branch", "main");
	expect(&props, "azureml.git.commit", head);
	expect(&props, "azureml.git.dirty", "False");
	aml_kvlist_free(&props);
	assert_int_equal(git_props("subrepo", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.dirty", "True");
	aml_kvlist_free(&props);
	/* A change inside it does. */
	sh("echo new > subrepo/sub/c.txt");
	assert_int_equal(git_props("subrepo/sub", &props, err, sizeof(err)),
			 1);
	expect(&props, "azureml.git.dirty", "True");
	aml_kvlist_free(&props);
}

static void test_detached_head(void **state)
{
	struct aml_kvlist props;
	char err[256], head[64];

	(void)state;
	need_git();
	make_repo("detached");
	sh("git -C detached checkout -q --detach");
	head_of("detached", head);
	assert_int_equal(git_props("detached", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.branch", NULL);
	expect(&props, "mlflow.source.git.branch", NULL);
	expect(&props, "azureml.git.commit", head);
	expect(&props, "mlflow.source.git.commit", head);
	expect(&props, "azureml.git.dirty", "False");
	expect(&props, "azureml.git.repository_uri", NULL);
	assert_int_equal(props.count, 3);
	aml_kvlist_free(&props);
}

static void test_other_branch(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	make_repo("branchy");
	sh("git -C branchy checkout -q -b feature/x-1");
	assert_int_equal(git_props("branchy", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.branch", "feature/x-1");
	expect(&props, "mlflow.source.git.branch", "feature/x-1");
	aml_kvlist_free(&props);
}

/* A GIT_DIR left in the submitting shell must not make another
 * repository's facts those of the source directory. */
static void test_inherited_git_dir_ignored(void **state)
{
	struct aml_kvlist props;
	char err[256], other[128];

	(void)state;
	need_git();
	make_repo("mine");
	make_repo("elsewhere");
	sh("git -C elsewhere checkout -q -b not-mine");
	snprintf(other, sizeof(other), "%s/.git", at("elsewhere"));
	assert_int_equal(setenv("GIT_DIR", other, 1), 0);
	assert_int_equal(setenv("GIT_WORK_TREE", at("elsewhere"), 1), 0);
	assert_int_equal(git_props("mine", &props, err, sizeof(err)), 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	expect(&props, "azureml.git.branch", "main");
	aml_kvlist_free(&props);
}

static void test_no_commits_no_remote(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	sh("rm -rf empty && git init -q empty && "
	   "git -C empty symbolic-ref HEAD refs/heads/main");
	assert_int_equal(git_props("empty", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.commit", NULL);
	expect(&props, "mlflow.source.git.commit", NULL);
	expect(&props, "azureml.git.repository_uri", NULL);
	expect(&props, "mlflow.source.git.repoURL", NULL);
	/* An unborn branch still has a name. */
	expect(&props, "azureml.git.branch", "main");
	expect(&props, "azureml.git.dirty", "False");
	assert_int_equal(props.count, 3);
	aml_kvlist_free(&props);
}

static void test_remote_not_named_origin(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	make_repo("upstream");
	sh("git -C upstream remote add upstream 'ssh://git:%s@example.org:2222/r.git'",
	   SECRET);
	assert_int_equal(git_props("upstream", &props, err, sizeof(err)), 1);
	/* git 2.39 answers with the only remote; older git printed
	 * "origin", which is not recorded.  Either way no secret. */
	if (aml_kvlist_get(&props, "azureml.git.repository_uri"))
		expect(&props, "azureml.git.repository_uri",
		       "ssh://example.org:2222/r.git");
	aml_kvlist_free(&props);
}

static void test_scp_like_remote_kept(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	make_repo("scp");
	sh("git -C scp remote add origin git@github.com:org/repo.git");
	assert_int_equal(git_props("scp", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.repository_uri",
	       "git@github.com:org/repo.git");
	expect(&props, "mlflow.source.git.repoURL",
	       "git@github.com:org/repo.git");
	aml_kvlist_free(&props);
}

static void test_utf8_remote_accepted(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	make_repo("utf8");
	sh("git -C utf8 remote add origin 'https://example.org/caf\xc3\xa9.git'");
	assert_int_equal(git_props("utf8", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.repository_uri",
	       "https://example.org/caf\xc3\xa9.git");
	aml_kvlist_free(&props);
}

static void test_outside_any_repository(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	sh("mkdir -p outside/deeper");
	assert_int_equal(git_props("outside", &props, err, sizeof(err)), 0);
	assert_int_equal(props.count, 0);
	assert_int_equal(git_props("outside/deeper", &props, err,
				   sizeof(err)), 0);
	assert_int_equal(props.count, 0);
	/* A directory that does not exist is not in a work tree either. */
	assert_int_equal(git_props("no-such-dir", &props, err, sizeof(err)),
			 0);
	assert_int_equal(props.count, 0);
}

static void test_inside_dot_git(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	make_repo("dotgit");
	assert_int_equal(git_props("dotgit/.git", &props, err, sizeof(err)),
			 0);
	assert_int_equal(props.count, 0);
}

static void test_hostile_remote_url(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	make_repo("hostile");
	/* An ANSI escape in the URL, as a hostile .git/config could have. */
	sh("git -C hostile config remote.origin.url "
	   "\"$(printf 'https://user:%s@example.org/\\033[31mr.git')\"",
	   SECRET);
	assert_int_equal(git_props("hostile", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "git ls-remote --get-url"));
	assert_non_null(strstr(err, "control character"));
	assert_null(strchr(err, '\033'));
	aml_kvlist_free(&props);

	/* Bytes that are not UTF-8. */
	sh("git -C hostile config remote.origin.url "
	   "\"$(printf 'https://user:%s@example.org/\\377.git')\"", SECRET);
	assert_int_equal(git_props("hostile", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not UTF-8"));
	aml_kvlist_free(&props);

	/* C1 control (U+009B, a one-byte CSI for some terminals). */
	sh("git -C hostile config remote.origin.url "
	   "\"$(printf 'https://example.org/\\302\\233r.git')\"");
	assert_int_equal(git_props("hostile", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control character"));
	aml_kvlist_free(&props);
}

static void test_hostile_value_leaves_props_alone(void **state)
{
	struct aml_kvlist props = { NULL, 0 };
	char err[256];

	(void)state;
	need_git();
	make_repo("hostile2");
	sh("git -C hostile2 config remote.origin.url "
	   "\"$(printf 'https://example.org/\\033]0;x\\007r.git')\"");
	assert_int_equal(aml_kvlist_set(&props, "mine", "1"), 0);
	assert_int_equal(aml_git_properties(at("hostile2"), &props, err,
					    sizeof(err)), -1);
	assert_int_equal(props.count, 1);
	expect(&props, "mine", "1");
	aml_kvlist_free(&props);
}

/* ---------------------------------------------------------------------- */
/* Overrides                                                              */

static void test_overrides_take_precedence(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	make_repo("over");
	sh("git -C over remote add origin '%s'", CRED_URL);
	setenv("AZUREML_GIT_REPOSITORY_URI",
	       "https://tok:" SECRET "@ci.example.org/x.git", 1);
	setenv("AZUREML_GIT_BRANCH", " release/1 \n", 1);
	setenv("AZUREML_GIT_COMMIT", "0123456789abcdef", 1);
	setenv("AZUREML_GIT_DIRTY", "TRUE", 1);
	setenv("AZUREML_GIT_BUILD_ID", "build-42", 1);
	setenv("AZUREML_GIT_BUILD_URI",
	       "https://bot:" SECRET "@ci.example.org/builds/42", 1);
	assert_int_equal(git_props("over", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.repository_uri",
	       "https://ci.example.org/x.git");
	expect(&props, "mlflow.source.git.repoURL",
	       "https://ci.example.org/x.git");
	expect(&props, "azureml.git.branch", "release/1");
	expect(&props, "mlflow.source.git.branch", "release/1");
	expect(&props, "azureml.git.commit", "0123456789abcdef");
	expect(&props, "mlflow.source.git.commit", "0123456789abcdef");
	expect(&props, "azureml.git.dirty", "True");
	expect(&props, "azureml.git.build_id", "build-42");
	expect(&props, "azureml.git.build_uri",
	       "https://ci.example.org/builds/42");
	assert_int_equal(props.count, 9);
	aml_kvlist_free(&props);
}

static void test_partial_override(void **state)
{
	struct aml_kvlist props;
	char err[256], head[64];

	(void)state;
	need_git();
	make_repo("partial");
	sh("git -C partial remote add origin '%s'", CRED_URL);
	head_of("partial", head);
	setenv("AZUREML_GIT_BRANCH", "ci-branch", 1);
	/* Blank overrides are no overrides: git answers. */
	setenv("AZUREML_GIT_COMMIT", "  ", 1);
	setenv("AZUREML_GIT_REPOSITORY_URI", "", 1);
	assert_int_equal(git_props("partial", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.branch", "ci-branch");
	expect(&props, "mlflow.source.git.branch", "ci-branch");
	expect(&props, "azureml.git.commit", head);
	expect(&props, "azureml.git.repository_uri", CLEAN_URL);
	expect(&props, "azureml.git.dirty", "False");
	expect(&props, "azureml.git.build_id", NULL);
	assert_int_equal(props.count, 7);
	aml_kvlist_free(&props);
}

static void test_dirty_override_spellings(void **state)
{
	static const struct {
		const char *env, *want;
	} cases[] = {
		{ "1", "True" }, { "true", "True" }, { " True\n", "True" },
		{ "tRuE", "True" }, { "0", "False" }, { "false", "False" },
		{ "yes", "False" }, { "2", "False" },
	};
	struct aml_kvlist props;
	char err[256];

	(void)state;
	need_git();
	sh("mkdir -p plain/.git");
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		setenv("AZUREML_GIT_DIRTY", cases[i].env, 1);
		assert_int_equal(git_props("plain", &props, err, sizeof(err)),
				 1);
		expect(&props, "azureml.git.dirty", cases[i].want);
		assert_int_equal(props.count, 1);
		aml_kvlist_free(&props);
	}
}

static void test_overrides_outside_repository(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	/* No git needed: overrides count without it. */
	sh("mkdir -p plain/.git empty-bin");
	setenv("AZUREML_GIT_REPOSITORY_URI", CRED_URL, 1);
	setenv("AZUREML_GIT_BUILD_ID", "7", 1);
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.repository_uri", CLEAN_URL);
	expect(&props, "mlflow.source.git.repoURL", CLEAN_URL);
	expect(&props, "azureml.git.build_id", "7");
	assert_int_equal(props.count, 3);
	aml_kvlist_free(&props);
	/* And without git at all. */
	setenv("PATH", at("empty-bin"), 1);
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), 1);
	assert_int_equal(props.count, 3);
	aml_kvlist_free(&props);
}

static void test_override_with_control_character(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	sh("mkdir -p plain/.git");
	setenv("AZUREML_GIT_BRANCH", "main\033[2J", 1);
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "AZUREML_GIT_BRANCH"));
	assert_non_null(strstr(err, "control character"));
	assert_null(strchr(err, '\033'));
	unsetenv("AZUREML_GIT_BRANCH");
	setenv("AZUREML_GIT_REPOSITORY_URI",
	       "https://user:" SECRET "@example.org/\033r.git", 1);
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "AZUREML_GIT_REPOSITORY_URI"));
}

/* ---------------------------------------------------------------------- */
/* Misbehaving or missing git                                             */

static void test_no_git_on_path(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	sh("mkdir -p empty-bin");
	if (have_git)
		make_repo("nogit");
	else
		sh("mkdir -p nogit");
	setenv("PATH", at("empty-bin"), 1);
	assert_int_equal(git_props("nogit", &props, err, sizeof(err)), 0);
	assert_int_equal(props.count, 0);
}

static void test_git_not_executable(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	sh("mkdir -p noexec-bin plain/.git && echo 'echo true' > noexec-bin/git && "
	   "chmod 644 noexec-bin/git");
	setenv("PATH", at("noexec-bin"), 1);
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot run git"));
}

/* Whether process [pid] has ended (gone, or a zombie left for init). */
static int process_ended(long pid)
{
	char path[64], stat[512], *paren;
	FILE *s;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	s = fopen(path, "r");
	if (!s)
		return 1;
	if (!fgets(stat, sizeof(stat), s))
		stat[0] = '\0';
	fclose(s);
	paren = strrchr(stat, ')');
	return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static void test_timeout(void **state)
{
	struct aml_kvlist props;
	char err[512], body[512];
	int64_t start, took;
	long sleeper = 0;
	FILE *f;
	int ended = 0;

	(void)state;
	sh("mkdir -p plain/.git");
	/* The sleep is a grandchild: the kill must reach the whole group. */
	snprintf(body, sizeof(body),
		 "echo \"fatal: unable to access '%s/': slow\" >&2\n"
		 "sleep 60 &\n"
		 "echo $! > '%s'\n"
		 "wait", CRED_URL, at("sleeper.pid"));
	fake_git(body);
	start = now_ms();
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), -1);
	took = now_ms() - start;
	if (took < 9500 || took > 15000)
		fail_msg("returned after %lld ms, expected about 10 s",
			 (long long)took);
	assert_non_null(strstr(err, "git rev-parse --is-inside-work-tree"));
	assert_non_null(strstr(err, "no answer within 10 s"));
	/* git's message is quoted, without the password. */
	assert_non_null(strstr(err, "git said: fatal: unable to access '"
			       CLEAN_URL "/': slow"));

	f = fopen(at("sleeper.pid"), "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld", &sleeper), 1);
	fclose(f);
	for (int i = 0; i < 100 && !ended; i++) {
		ended = process_ended(sleeper);
		if (!ended)
			usleep(10000);
	}
	if (!ended)
		fail_msg("the fake git's child %ld survived the timeout",
			 sleeper);
}

static void test_too_much_output(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	sh("mkdir -p plain/.git");
	fake_git("case \"$3 $4\" in\n"
		 "'rev-parse --is-inside-work-tree') echo true ;;\n"
		 "'ls-remote --get-url') head -c 70000 /dev/zero | tr '\\0' a ;;\n"
		 "'status --porcelain') echo ' M a' ;;\n"
		 "*) exit 1 ;;\n"
		 "esac");
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "git ls-remote --get-url"));
	assert_non_null(strstr(err, "more than 64 KiB"));
}

static void test_exactly_64_kib_accepted(void **state)
{
	struct aml_kvlist props;
	char err[256];
	const char *uri;

	(void)state;
	sh("mkdir -p plain/.git");
	/* 65535 characters and the newline: 64 KiB in all. */
	fake_git("case \"$3 $4\" in\n"
		 "'rev-parse --is-inside-work-tree') echo true ;;\n"
		 "'ls-remote --get-url') printf 'https://h/'; "
		 "head -c 65525 /dev/zero | tr '\\0' a; echo ;;\n"
		 "*) exit 1 ;;\n"
		 "esac");
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), 1);
	uri = aml_kvlist_get(&props, "azureml.git.repository_uri");
	assert_non_null(uri);
	assert_int_equal(strlen(uri), 65535);
	aml_kvlist_free(&props);
}

static void test_big_status_is_dirty_not_error(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	sh("mkdir -p plain/.git");
	fake_git("case \"$3 $4\" in\n"
		 "'rev-parse --is-inside-work-tree') echo true ;;\n"
		 "'status --porcelain') head -c 300000 /dev/zero | tr '\\0' '?' ;;\n"
		 "*) exit 128 ;;\n"
		 "esac");
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.dirty", "True");
	assert_int_equal(props.count, 1);
	aml_kvlist_free(&props);
}

static void test_git_killed_by_signal(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	sh("mkdir -p plain/.git");
	fake_git("case \"$3 $4\" in\n"
		 "'rev-parse --is-inside-work-tree') echo true ;;\n"
		 "'rev-parse HEAD') echo 'error: https://u:" SECRET
		 "@h/x broke' >&2; kill -SEGV $$ ;;\n"
		 "*) exit 1 ;;\n"
		 "esac");
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "git rev-parse HEAD"));
	assert_non_null(strstr(err, "killed by signal 11"));
	assert_non_null(strstr(err, "https://h/x broke"));
}

/* A first stderr line longer than what is kept is not quoted: the cut
 * could fall inside a URL's password, before the '@' that marks it. */
static void test_long_stderr_line_not_quoted(void **state)
{
	struct aml_kvlist props;
	char err[2048];

	(void)state;
	sh("mkdir -p plain/.git");
	/* 1007 + 14 = 1021: the kept 1024 bytes end in "s3c". */
	fake_git("{ head -c 1007 /dev/zero | tr '\\0' x; "
		 "echo ' https://user:" SECRET "@example.org/r.git'; } >&2\n"
		 "kill -KILL $$");
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "killed by signal 9"));
	assert_null(strstr(err, "git said"));
	assert_null(strstr(err, "s3c"));
}

/*
 * A signal mask the caller set is not inherited by git.  The fake git is
 * Python, since sh clears its own mask and so cannot show it.
 */
static void test_signal_mask_not_inherited(void **state)
{
	struct aml_kvlist props;
	char err[256];
	sigset_t term, old;
	FILE *f;

	(void)state;
	if (access("/usr/bin/python3", X_OK) != 0) {
		printf("# SKIP: /usr/bin/python3 is needed to read the mask\n");
		fflush(stdout);
		skip();
	}
	sh("mkdir -p plain/.git fake");
	f = fopen(at("fake/git"), "w");
	assert_non_null(f);
	fprintf(f, "#!/usr/bin/python3\n"
		"import sys\n"
		"for line in open('/proc/self/status'):\n"
		"    if line.startswith('SigBlk:'):\n"
		"        print('true' if int(line.split()[1], 16) == 0 else 'blocked')\n");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(at("fake/git"), 0755), 0);
	assert_int_equal(setenv("PATH", at("fake:/usr/bin:/bin"), 1), 0);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &term, &old), 0);
	/* "true" for every command: the mask is clear, so git is "in a work
	 * tree" and everything else answers "true" as well. */
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), 1);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	expect(&props, "azureml.git.branch", "true");
	aml_kvlist_free(&props);
}

static void test_old_git_prints_remote_name(void **state)
{
	struct aml_kvlist props;
	char err[256];

	(void)state;
	sh("mkdir -p plain/.git");
	fake_git("case \"$3 $4\" in\n"
		 "'rev-parse --is-inside-work-tree') echo true ;;\n"
		 "'ls-remote --get-url') echo origin ;;\n"
		 "'symbolic-ref --short') echo main ;;\n"
		 "'rev-parse HEAD') printf 'abc\\r\\n\\n' ;;\n"
		 "'status --porcelain') ;;\n"
		 "*) exit 1 ;;\n"
		 "esac");
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), 1);
	expect(&props, "azureml.git.repository_uri", NULL);
	expect(&props, "azureml.git.branch", "main");
	expect(&props, "azureml.git.commit", "abc");
	expect(&props, "azureml.git.dirty", "False");
	assert_int_equal(props.count, 5);
	aml_kvlist_free(&props);
}

/*
 * git is forked only where it could find a work tree: no ".git" in the
 * source directory or above it, and the fake git (which would leave a
 * mark and say "true") is never run; with one above, it is.
 */
static void test_outside_any_tree_forks_nothing(void **state)
{
	static const char body[] = "echo run >> \"$(dirname \"$0\")/ran\"\n"
				   "[ \"$4\" = --is-inside-work-tree ] && echo true\n"
				   "exit 1";
	struct aml_kvlist props;
	char err[256];

	(void)state;
	sh("rm -rf tree fake/ran && mkdir -p tree/a/b");
	fake_git(body);
	assert_int_equal(git_props("tree/a/b", &props, err, sizeof(err)), 0);
	assert_int_equal(props.count, 0);
	assert_int_equal(access(at("fake/ran"), F_OK), -1);
	/* A .git file (a linked work tree's) two levels up is enough. */
	sh("touch tree/.git");
	assert_int_equal(git_props("tree/a/b", &props, err, sizeof(err)), 0);
	assert_int_equal(access(at("fake/ran"), F_OK), 0);
}

static void test_not_true_means_no_work_tree(void **state)
{
	static const char *const answers[] = {
		"echo false", "echo true; exit 1", "exit 0",
		"echo 'true x'",
	};
	struct aml_kvlist props;
	char err[256], body[256];

	(void)state;
	sh("mkdir -p plain/.git");
	for (size_t i = 0; i < sizeof(answers) / sizeof(*answers); i++) {
		snprintf(body, sizeof(body),
			 "[ \"$4\" = --is-inside-work-tree ] && { %s; }\n"
			 "echo should-not-be-asked", answers[i]);
		fake_git(body);
		assert_int_equal(git_props("plain", &props, err, sizeof(err)),
				 0);
		assert_int_equal(props.count, 0);
	}
}

/*
 * What git gets: argv, stdin from /dev/null, no inherited descriptors,
 * the forced variables; with the caller's stdin closed, so the pipes may
 * take the standard descriptors' numbers.
 */
static void test_child_environment(void **state)
{
	struct aml_kvlist props;
	char err[256], got[4096], want[4096];
	int leak, saved_stdin;
	FILE *f;
	size_t n;

	(void)state;
	sh("mkdir -p plain/.git");
	fake_git("log=\"$HOME/child.log\"\n"
		 "if [ \"$4\" = --is-inside-work-tree ]; then\n"
		 "  { printf 'args:'; printf ' [%s]' \"$@\"; echo\n"
		 "    echo \"stdin: $(readlink /proc/$$/fd/0)\"\n"
		 "    for fd in 3 4 5 50; do [ -e /proc/$$/fd/$fd ] && echo \"open: $fd\"; done\n"
		 "    echo \"prompt: $GIT_TERMINAL_PROMPT locks: $GIT_OPTIONAL_LOCKS lc_all: $LC_ALL\"\n"
		 "    echo \"nosystem: $GIT_CONFIG_NOSYSTEM other: $AML_TEST_OTHER\"\n"
		 "  } > \"$log\"\n"
		 "  echo true\n"
		 "fi\n"
		 "exit 1");
	setenv("GIT_TERMINAL_PROMPT", "1", 1);
	setenv("LC_ALL", "de_DE.UTF-8", 1);
	setenv("AML_TEST_OTHER", "kept", 1);
	/* A descriptor without close-on-exec, which git must not get. */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak >= 0);
	assert_int_equal(dup2(leak, 50), 50);
	close(leak);
	saved_stdin = dup(0);
	assert_true(saved_stdin >= 0);
	close(0);

	assert_int_equal(git_props("plain", &props, err, sizeof(err)), 0);

	assert_int_equal(dup2(saved_stdin, 0), 0);
	close(saved_stdin);
	close(50);
	unsetenv("GIT_TERMINAL_PROMPT");
	unsetenv("LC_ALL");
	unsetenv("AML_TEST_OTHER");

	f = fopen(at("child.log"), "r");
	assert_non_null(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	got[n] = '\0';
	snprintf(want, sizeof(want),
		 "args: [-C] [%s] [rev-parse] [--is-inside-work-tree]\n"
		 "stdin: /dev/null\n"
		 "prompt: 0 locks: 0 lc_all: C\n"
		 "nosystem: 1 other: kept\n", at("plain"));
	assert_string_equal(got, want);
}

/* With the caller's standard descriptors closed, the pipes take their
 * numbers (stdout's write end is 1 already): git still gets them. */
static void test_caller_stdio_closed(void **state)
{
	struct aml_kvlist props;
	char err[256];
	int saved[3], rc;

	(void)state;
	sh("mkdir -p plain/.git");
	fake_git("case \"$3 $4\" in\n"
		 "'rev-parse --is-inside-work-tree') echo true ;;\n"
		 "'symbolic-ref --short') echo main ;;\n"
		 "*) exit 1 ;;\n"
		 "esac");
	fflush(stdout);
	fflush(stderr);
	for (int fd = 0; fd < 3; fd++) {
		saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 20);
		assert_true(saved[fd] >= 0);
	}
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	memset(&props, 0, sizeof(props));
	rc = aml_git_properties(at("plain"), &props, err, sizeof(err));
	for (int fd = 0; fd < 3; fd++) {
		if (dup2(saved[fd], fd) != fd)
			abort();
		close(saved[fd]);
	}
	assert_int_equal(rc, 1);
	expect(&props, "azureml.git.branch", "main");
	aml_kvlist_free(&props);
}

static void test_bad_arguments(void **state)
{
	struct aml_kvlist props = { NULL, 0 };
	char err[256];

	(void)state;
	assert_int_equal(aml_git_properties(NULL, &props, err, sizeof(err)),
			 -1);
	assert_true(err[0] != '\0');
	assert_int_equal(aml_git_properties("", &props, err, sizeof(err)), -1);
	assert_int_equal(aml_git_properties("/tmp", NULL, err, sizeof(err)),
			 -1);
	/* No message buffer is fine too. */
	assert_int_equal(aml_git_properties(NULL, &props, NULL, 0), -1);
}

static void test_small_errbuf(void **state)
{
	struct aml_kvlist props;
	char err[24];

	(void)state;
	sh("mkdir -p plain/.git");
	fake_git("echo \"fatal: '" CRED_URL "'\" >&2; kill -KILL $$");
	assert_int_equal(git_props("plain", &props, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

/* ---------------------------------------------------------------------- */
/* Credentials                                                            */

static void test_strip_credentials(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "https://user:s3cret@example.org/r.git",
		  "https://example.org/r.git" },
		{ "https://token@example.org/r.git", "https://example.org/r.git" },
		{ "http://u:p@example.org:8080/a/b", "http://example.org:8080/a/b" },
		{ "ssh://git@example.org:22/r.git", "ssh://example.org:22/r.git" },
		{ "git://u@example.org/r", "git://example.org/r" },
		{ "ftp://anonymous:me%40x@ftp.example.org/r",
		  "ftp://ftp.example.org/r" },
		{ "git+ssh://me@h/r", "git+ssh://h/r" },
		{ "HTTPS://U:P@Example.org/R", "HTTPS://Example.org/R" },
		/* percent-encoded and unencoded '@' in the password */
		{ "https://u:p%40ss@h/r", "https://h/r" },
		{ "https://u:p@ss@h/r", "https://h/r" },
		{ "https://u:p#s?s@h/r", "https://h/r" },
		{ "https://u:p@[::1]:8443/r", "https://[::1]:8443/r" },
		{ "https://u:p@h", "https://h" },
		{ " \thttps://u:p@h/r\n", " \thttps://h/r\n" },
		{ "https://u:p@", "https://" },
		{ "https:/u:p@h/r", "https:/h/r" },
		{ "https:///u:p@h/r", "https:///h/r" },
		/* an '@' after the authority is not userinfo */
		{ "https://h/p@x/r", "https://h/p@x/r" },
		{ "https://h/r?x=a@b", "https://h/r?x=a@b" },
		/* kept: scp-like, local paths, file: URLs, non-URLs */
		{ "git@github.com:org/repo.git", "git@github.com:org/repo.git" },
		{ "me@host:/srv/git/r.git", "me@host:/srv/git/r.git" },
		{ "host:r.git", "host:r.git" },
		{ "/srv/git/a@b/r.git", "/srv/git/a@b/r.git" },
		{ "../a@b/r", "../a@b/r" },
		{ "file:///srv/a@b/r.git", "file:///srv/a@b/r.git" },
		{ "FILE://host@x/r", "FILE://host@x/r" },
		{ "C:/a@b/r", "C:/a@b/r" },
		{ "", "" },
		{ ":", ":" },
		{ "://u@h", "://u@h" },
		{ "1http://u@h/", "1http://u@h/" },
		{ "@", "@" },
		{ "origin", "origin" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *got = aml_git_strip_credentials(cases[i].in);

		assert_non_null(got);
		if (strcmp(got, cases[i].out) != 0)
			fail_msg("\"%s\" gave \"%s\", expected \"%s\"",
				 cases[i].in, got, cases[i].out);
		free(got);
	}
	errno = 0;
	assert_null(aml_git_strip_credentials(NULL));
	assert_int_equal(errno, EINVAL);
}

/* Every short string over a small alphabet: no crash, never longer, and
 * whatever it keeps is a prefix and suffix of the input. */
static void test_strip_credentials_malformed(void **state)
{
	static const char alphabet[] = "h:/@%s#?\xff";
	const size_t k = sizeof(alphabet) - 1;
	char in[8];

	(void)state;
	for (size_t len = 0; len <= 6; len++) {
		size_t total = 1;

		for (size_t i = 0; i < len; i++)
			total *= k;
		for (size_t x = 0; x < total; x++) {
			size_t v = x, ol, il = len, p = 0;
			char *out;

			for (size_t i = 0; i < len; i++) {
				in[i] = alphabet[v % k];
				v /= k;
			}
			in[len] = '\0';
			out = aml_git_strip_credentials(in);
			assert_non_null(out);
			ol = strlen(out);
			assert_true(ol <= il);
			while (p < ol && out[p] == in[p])
				p++;
			assert_memory_equal(out + p, in + il - (ol - p),
					    ol - p);
			free(out);
		}
	}
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
	const struct CMUnitTest tests[] = {
		T(test_clean_repo_with_remote),
		T(test_existing_properties_kept),
		T(test_dirty),
		T(test_subdirectory_source),
		T(test_detached_head),
		T(test_other_branch),
		T(test_inherited_git_dir_ignored),
		T(test_no_commits_no_remote),
		T(test_remote_not_named_origin),
		T(test_scp_like_remote_kept),
		T(test_utf8_remote_accepted),
		T(test_outside_any_repository),
		T(test_inside_dot_git),
		T(test_hostile_remote_url),
		T(test_hostile_value_leaves_props_alone),
		T(test_overrides_take_precedence),
		T(test_partial_override),
		T(test_dirty_override_spellings),
		T(test_overrides_outside_repository),
		T(test_override_with_control_character),
		T(test_no_git_on_path),
		T(test_git_not_executable),
		T(test_timeout),
		T(test_too_much_output),
		T(test_exactly_64_kib_accepted),
		T(test_big_status_is_dirty_not_error),
		T(test_git_killed_by_signal),
		T(test_long_stderr_line_not_quoted),
		T(test_signal_mask_not_inherited),
		T(test_old_git_prints_remote_name),
		T(test_outside_any_tree_forks_nothing),
		T(test_not_true_means_no_work_tree),
		T(test_child_environment),
		T(test_caller_stdio_closed),
		T(test_bad_arguments),
		T(test_small_errbuf),
		T(test_strip_credentials),
		T(test_strip_credentials_malformed),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
