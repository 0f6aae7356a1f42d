/*
 * test_env_build.c: the environment builders (plugin/env_build.c): a real
 * `python3 -m venv` and pip install from a wheelhouse this test makes
 * itself (PyPI is out of reach), failures read off the log in pip's and
 * conda's words, and the conda builder driven through a stand-in for
 * micromamba (conda is not in Debian).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"
#include "env_build.h"
#include "errors.h"
#include "fdio.h"
#include "strlist.h"
#include "tree.h"

struct fixture {
	char dir[64];
	char prefix[PATH_MAX];
	int log;
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char log[PATH_MAX];

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/test_env_build.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->prefix, sizeof(f->prefix), "%s/env", f->dir);
	snprintf(log, sizeof(log), "%s/env.log", f->dir);
	f->log = open(log, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f->log < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->log);
	aml_tree_remove(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

/* The whole log so far. */
static char *log_text(const struct fixture *f)
{
	char *text;
	size_t len;

	assert_int_equal(lseek(f->log, 0, SEEK_SET), 0);
	assert_int_equal(aml_read_fd(f->log, 1 << 24, &text, &len), 0);
	return text;
}

static void test_what(void **state)
{
	char buf[64];

	(void)state;
	aml_env_what("pip", 1, buf, sizeof(buf));
	assert_string_equal(buf, "pip, 1 package");
	aml_env_what("conda", 4, buf, sizeof(buf));
	assert_string_equal(buf, "conda, 4 packages");
}

static void pip_says(const char *log, int status, const char *want)
{
	char buf[256];

	aml_env_pip_reason(log, strlen(log), status, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_pip_reason(void **state)
{
	(void)state;
	/* pip 23, as it prints a name no index has. */
	pip_says("Looking in links: /w\n"
		 "ERROR: Could not find a version that satisfies the "
		 "requirement nosuchpkg==1.0 (from versions: none)\r\n"
		 "ERROR: No matching distribution found for nosuchpkg==1.0\n",
		 1, "pip: no matching distribution found for nosuchpkg==1.0");
	pip_says("ERROR: Could not find a version that satisfies the "
		 "requirement torch==9.9 (from versions: 2.0, 2.1)\n"
		 "ERROR: something after it\n",
		 1, "pip: no matching distribution found for torch==9.9");
	pip_says("Collecting x\nERROR: Invalid requirement: '-r'\n"
		 "ERROR: the last one\nsome trailer\n",
		 1, "pip: the last one");
	pip_says("Traceback (most recent call last):\n  boom\n", 2,
		 "pip exited with status 2");
	pip_says("", 3, "pip exited with status 3");
	/* A name from the run is shown, never replayed raw. */
	pip_says("ERROR: No matching distribution found for x\x1b[2Jy\n", 1,
		 "pip: no matching distribution found for x\\x1b[2Jy");
}

static void conda_says(const char *log, const char *tool, const char *want)
{
	char buf[256];

	aml_env_conda_reason(log, strlen(log), tool, 1, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_conda_reason(void **state)
{
	(void)state;
	conda_says("Collecting package metadata (repodata.json): done\n"
		   "Solving environment: failed\n\n"
		   "PackagesNotFoundError: The following packages are not "
		   "available from current channels:\n\n"
		   "  - nosuchpkg=1.0\n"
		   "  - other\n\n"
		   "Current channels:\n\n"
		   "  - https://conda.anaconda.org/conda-forge/linux-64\n"
		   "  - https://conda.anaconda.org/conda-forge/noarch\n",
		   "conda", "conda: packages not found: nosuchpkg=1.0, other");
	conda_says("Solving environment: failed\n\n"
		   "ResolvePackageNotFound: \n"
		   "  - python=2.1\n",
		   "mamba", "mamba: packages not found: python=2.1");
	conda_says("Collecting package metadata: failed\n\n"
		   "CondaHTTPError: HTTP 000 CONNECTION FAILED for url <x>\n"
		   "An HTTP error occurred when trying to retrieve this URL.\n"
		   "\n",
		   "conda", "conda: CondaHTTPError: HTTP 000 CONNECTION "
		   "FAILED for url <x>");
	conda_says("error    libmamba Could not solve for environment "
		   "specs\n    The following package could not be installed\n",
		   "micromamba", "micromamba: error    libmamba Could not "
		   "solve for environment specs");
	conda_says("nothing useful\n", "micromamba",
		   "micromamba exited with status 1");
}

/* ---------------------------------------------------------------------- */
/* A real venv and pip                                                    */

/* The node's interpreter for these tests; the test is skipped, saying
 * why, when none can make a venv and build a wheel. */
static const char *python_or_skip(void)
{
	char why[512] = "";

	static const char *const candidates[] = { "/usr/bin/python3",
						  "python3" };

	for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates);
	     i++) {
		char *argv[] = { (char *)candidates[i], "-c",
				 "import venv, ensurepip, setuptools, wheel",
				 NULL };
		struct aml_command cmd = { .argv = argv, .timeout_ms = 20000,
					   .err_max = 200 };
		struct aml_command_result res;
		enum aml_command_outcome o = aml_command_run(&cmd, &res);
		int ok = o == AML_COMMAND_EXITED && res.exit_status == 0;

		snprintf(why, sizeof(why), "%s cannot make a venv or build a wheel "
			 "(python3-venv, python3-setuptools, python3-wheel): "
			 "%s", candidates[i], res.err ? res.err : "");
		aml_command_result_free(&res);
		if (ok)
			return candidates[i];
	}
	print_message("# SKIP: %s\n", why);
	skip();
	return NULL;
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(aml_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

/* A wheel of amltestpkg [version] into [wheelhouse], made offline. */
static void make_wheel(const struct fixture *f, const char *py,
		       const char *version, const char *wheelhouse)
{
	char src[PATH_MAX], file[PATH_MAX + 16], text[256];
	char *argv[] = { (char *)py, "-m", "pip", "wheel", "--no-deps",
			 "--no-index", "--no-build-isolation", "-q", "-w",
			 (char *)wheelhouse, src, NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", "HOME=/nonexistent",
			 "PIP_CONFIG_FILE=/dev/null", NULL };
	struct aml_command cmd = { .argv = argv, .envp = envp,
				   .timeout_ms = 120000, .err_max = 4096,
				   .dir = f->dir };
	struct aml_command_result res;

	snprintf(src, sizeof(src), "%s/src-%s", f->dir, version);
	assert_int_equal(mkdir(src, 0755), 0);
	snprintf(file, sizeof(file), "%s/setup.py", src);
	snprintf(text, sizeof(text), "from setuptools import setup\n"
		 "setup(name='amltestpkg', version='%s', "
		 "py_modules=['amltestpkg'])\n", version);
	write_text(file, text);
	snprintf(file, sizeof(file), "%s/amltestpkg.py", src);
	snprintf(text, sizeof(text), "__version__ = '%s'\n", version);
	write_text(file, text);
	mkdir(wheelhouse, 0755);
	aml_command_run(&cmd, &res);
	if (res.outcome != AML_COMMAND_EXITED || res.exit_status != 0)
		fail_msg("pip wheel: %s", res.err);
	aml_command_result_free(&res);
}

/* What [prefix]'s python says amltestpkg's version is. */
static void imports(const char *prefix, const char *want)
{
	char py[PATH_MAX + 16];
	char *argv[] = { py, "-c",
			 "import amltestpkg; print(amltestpkg.__version__)",
			 NULL };
	struct aml_command cmd = { .argv = argv, .timeout_ms = 30000,
				   .out_max = 64, .err_max = 1024 };
	struct aml_command_result res;

	snprintf(py, sizeof(py), "%s/bin/python", prefix);
	assert_int_equal(aml_command_run(&cmd, &res), AML_COMMAND_EXITED);
	if (res.exit_status != 0)
		fail_msg("%s: %s", py, res.err);
	assert_string_equal(res.out, want);
	aml_command_result_free(&res);
}

static void test_pip_builds_from_wheelhouse(void **state)
{
	struct fixture *f = *state;
	struct aml_strlist options = { 0 }, reqs = { 0 };
	char wheels[PATH_MAX], leak[PATH_MAX], link[PATH_MAX + 16];
	const char *py = python_or_skip();
	struct aml_env_pip pip = { py, &options, &reqs, 0 };
	char *log;

	snprintf(wheels, sizeof(wheels), "%s/wheels", f->dir);
	snprintf(leak, sizeof(leak), "%s/leak", f->dir);
	make_wheel(f, py, "1.0", wheels);
	make_wheel(f, py, "2.0", wheels);
	snprintf(link, sizeof(link), "--find-links=%s", wheels);
	assert_int_equal(aml_strlist_push(&options, "--no-index"), 0);
	assert_int_equal(aml_strlist_push(&options, link), 0);
	assert_int_equal(aml_strlist_push(&reqs, "amltestpkg==1.0"), 0);
	/* The caller's pip settings would install elsewhere: they must not
	 * count, nor the node's /etc/pip.conf. */
	setenv("PIP_TARGET", leak, 1);
	setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple", 1);

	assert_int_equal(aml_env_pip_build(&pip, f->prefix, f->log, f->err,
					   sizeof(f->err)), 0);
	unsetenv("PIP_TARGET");
	unsetenv("PIP_INDEX_URL");
	imports(f->prefix, "1.0\n");
	assert_int_equal(access(leak, F_OK), -1);
	log = log_text(f);
	assert_non_null(strstr(log, " -m venv "));
	assert_non_null(strstr(log, "/env/bin/python -m pip install "
				    "--disable-pip-version-check --no-input "
				    "--no-index --find-links="));
	assert_non_null(strstr(log, " -- amltestpkg==1.0\n"));
	assert_non_null(strstr(log, "Successfully installed amltestpkg-1.0"));
	free(log);
	aml_strlist_free(&options);
	aml_strlist_free(&reqs);
}

static void test_pip_failure_names_the_package(void **state)
{
	struct fixture *f = *state;
	struct aml_strlist options = { 0 }, reqs = { 0 };
	const char *py = python_or_skip();
	struct aml_env_pip pip = { py, &options, &reqs, 0 };
	char *log;

	assert_int_equal(aml_strlist_push(&options, "--no-index"), 0);
	assert_int_equal(aml_strlist_push(&reqs, "nosuchpkg==1.0"), 0);
	/* A requirement that looks like an option stays a requirement. */
	assert_int_equal(aml_strlist_push(&reqs, "-r/etc/passwd"), 0);
	assert_int_equal(aml_env_pip_build(&pip, f->prefix, f->log, f->err,
					   sizeof(f->err)), -1);
	/* pip 23 stops there; pip 24 and later (trixie, sid) go on with
	 * why ("...: Expected package name at the start of ..."). */
	assert_true(!strncmp(f->err, "pip: Invalid requirement: "
			     "'-r/etc/passwd'",
			     strlen("pip: Invalid requirement: "
				    "'-r/etc/passwd'")));
	aml_tree_remove(AT_FDCWD, f->prefix);
	aml_strlist_free(&reqs);
	assert_int_equal(aml_strlist_push(&reqs, "nosuchpkg==1.0"), 0);
	assert_int_equal(aml_env_pip_build(&pip, f->prefix, f->log, f->err,
					   sizeof(f->err)), -1);
	assert_string_equal(f->err, "pip: no matching distribution found for "
				    "nosuchpkg==1.0");
	log = log_text(f);
	assert_non_null(strstr(log, "ERROR: No matching distribution found "
				    "for nosuchpkg==1.0"));
	free(log);
	aml_strlist_free(&options);
	aml_strlist_free(&reqs);
}

static void test_venv_failures(void **state)
{
	struct fixture *f = *state;
	struct aml_strlist reqs = { 0 };
	struct aml_env_pip pip = { "/nonexistent/python3", NULL, &reqs, 0 };
	char slow[PATH_MAX];
	int64_t t0;

	assert_int_equal(aml_env_pip_build(&pip, f->prefix, f->log, f->err,
					   sizeof(f->err)), -1);
	assert_string_equal(f->err, "/nonexistent/python3: cannot run: no "
				    "such program");
	pip.python = "/bin/false";
	assert_int_equal(aml_env_pip_build(&pip, f->prefix, f->log, f->err,
					   sizeof(f->err)), -1);
	assert_string_equal(f->err, "/bin/false -m venv exited with status 1");
	snprintf(slow, sizeof(slow), "%s/slowpython", f->dir);
	write_text(slow, "#!/bin/sh\nexec sleep 30\n");
	assert_int_equal(chmod(slow, 0755), 0);
	pip.python = slow;
	pip.timeout_ms = 300;
	t0 = aml_monotonic_ms();
	assert_int_equal(aml_env_pip_build(&pip, f->prefix, f->log, f->err,
					   sizeof(f->err)), -1);
	assert_true(aml_monotonic_ms() - t0 < 5000);
	assert_non_null(strstr(f->err, "slowpython: the build took longer "
				       "than allowed: stopped"));
}

/* ---------------------------------------------------------------------- */
/* conda, through a stand-in                                              */

/* A micromamba that checks its file, shows its environment, and fails
 * as conda does when the file names nosuchpkg. */
static const char fake_micromamba[] =
	"#!/bin/sh\n"
	"[ \"$1 $2 $3\" = 'create -y -p' ] || exit 9\n"
	"prefix=$4 file=$6\n"
	"grep -q '^dependencies:' \"$file\" || exit 8\n"
	"if grep -q nosuchpkg \"$file\"; then\n"
	"  printf 'PackagesNotFoundError: The following packages are not "
	"available from current channels:\\n\\n  - nosuchpkg=1.0\\n\\n"
	"Current channels:\\n\\n  - https://x/linux-64\\n' >&2\n"
	"  exit 1\n"
	"fi\n"
	"mkdir \"$prefix\" && env >\"$prefix/env.txt\" && echo \"$7\" "
	">\"$prefix/extra.txt\"\n";

static int fake_argv(const char *command, const char *prefix,
		     const char *yaml_path, const struct aml_strlist *extra,
		     struct aml_strlist *argv, char *errbuf, size_t errlen)
{
	const char *const words[] = { command, "create", "-y", "-p", prefix,
				      "-f", yaml_path };

	if (strstr(prefix, "/refuse"))
		return aml_fail(errbuf, errlen, "refused by argv_for");
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (aml_strlist_push(argv, words[i]) < 0)
			return -1;
	for (size_t i = 0; extra && i < extra->count; i++)
		if (aml_strlist_push(argv, extra->items[i]) < 0)
			return -1;
	return 0;
}

static void test_conda_builder(void **state)
{
	struct fixture *f = *state;
	struct aml_strlist extra = { 0 };
	char command[PATH_MAX], file[PATH_MAX + 16], *text;
	struct aml_env_conda c = { command, &extra, fake_argv,
				   "dependencies:\n  - python=3.11\n", 0 };
	size_t len;
	int fd;

	snprintf(command, sizeof(command), "%s/micromamba", f->dir);
	write_text(command, fake_micromamba);
	assert_int_equal(chmod(command, 0755), 0);
	assert_int_equal(aml_strlist_push(&extra, "--override-channels"), 0);
	setenv("CONDA_PKGS_DIRS", "/elsewhere", 1);

	assert_int_equal(aml_env_conda_build(&c, f->prefix, f->log, f->err,
					     sizeof(f->err)), 0);
	unsetenv("CONDA_PKGS_DIRS");
	snprintf(file, sizeof(file), "%s.yml", f->prefix);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(aml_read_fd(fd, 4096, &text, &len), 0);
	close(fd);
	assert_string_equal(text, c.yaml);
	free(text);
	snprintf(file, sizeof(file), "%s/env.txt", f->prefix);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(aml_read_fd(fd, 65536, &text, &len), 0);
	close(fd);
	assert_non_null(strstr(text, "PATH=/usr/bin:/bin\n"));
	assert_non_null(strstr(text, "LANG=C.UTF-8\n"));
	assert_non_null(strstr(text, "HOME="));
	assert_null(strstr(text, "CONDA_PKGS_DIRS"));
	assert_null(strstr(text, "PIP_CONFIG_FILE"));
	free(text);

	aml_tree_remove(AT_FDCWD, f->prefix);
	c.yaml = "dependencies:\n  - nosuchpkg=1.0\n";
	assert_int_equal(aml_env_conda_build(&c, f->prefix, f->log, f->err,
					     sizeof(f->err)), -1);
	assert_string_equal(f->err, "micromamba: packages not found: "
				    "nosuchpkg=1.0");
	text = log_text(f);
	assert_non_null(strstr(text, "$ "));
	assert_non_null(strstr(text, "micromamba create -y -p "));
	assert_non_null(strstr(text, "PackagesNotFoundError"));
	free(text);

	snprintf(file, sizeof(file), "%s/refuse", f->dir);
	assert_int_equal(aml_env_conda_build(&c, file, f->log, f->err,
					     sizeof(f->err)), -1);
	assert_string_equal(f->err, "refused by argv_for");
	aml_strlist_free(&extra);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_what),
		cmocka_unit_test(test_pip_reason),
		cmocka_unit_test(test_conda_reason),
		cmocka_unit_test_setup_teardown(test_pip_builds_from_wheelhouse,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_pip_failure_names_the_package, setup, teardown),
		cmocka_unit_test_setup_teardown(test_venv_failures, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_conda_builder, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
