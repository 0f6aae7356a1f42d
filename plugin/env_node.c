/*
 * env_node.c: see env_node.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "command.h"
#include "env_build.h"
#include "env_cache.h"
#include "env_node.h"
#include "env_spec.h"
#include "errors.h"
#include "fdio.h"
#include "image_pull.h"

#define OS_RELEASE "/etc/os-release"
#define OS_RELEASE_MAX 8192
#define VERSION_TIMEOUT_MS 10000
/* The key's first digits, as Preparing shows it (git's short form). */
#define SHORT_KEY 12

/* os-release's [key] ("ID", "VERSION_ID"), unquoted, into [out]. */
static void os_release_value(const char *text, const char *key, char *out,
			     size_t len)
{
	size_t klen = strlen(key);

	snprintf(out, len, "unknown");
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);

		if (n > klen && !strncmp(line, key, klen) && line[klen] == '=') {
			const char *v = line + klen + 1;
			size_t vn = n - klen - 1;

			if (vn >= 2 && (v[0] == '"' || v[0] == '\'') &&
			    v[vn - 1] == v[0]) {
				v++;
				vn -= 2;
			}
			snprintf(out, len, "%.*s", (int)vn, v);
			return;
		}
		line = end ? end + 1 : NULL;
	}
}

/* The file [name] runs as, searched on PATH like a shell would, into
 * [out] (realpath(3) writes up to PATH_MAX bytes there). */
static int resolve(const char *name, char out[PATH_MAX])
{
	const char *path = getenv("PATH");

	if (strchr(name, '/'))
		return realpath(name, out) ? 0 : -1;
	if (!path || !*path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char candidate[PATH_MAX];

		if (n && (size_t)snprintf(candidate, sizeof(candidate),
					  "%.*s/%s", (int)n, path, name) <
				 sizeof(candidate) &&
		    access(candidate, X_OK) == 0 && realpath(candidate, out))
			return 0;
		path += n;
		if (*path == ':')
			path++;
	}
	return -1;
}

int aml_env_python_version(const char *interpreter, char *buf, size_t len,
			   char *errbuf, size_t errlen)
{
	char *const argv[] = { (char *)interpreter, "-c",
			       "import platform; "
			       "print(platform.python_version())",
			       NULL };
	struct aml_command cmd = { .argv = argv,
				   .timeout_ms = VERSION_TIMEOUT_MS,
				   .out_max = 64, .err_max = 256 };
	struct aml_command_result res;
	int rc = -1;

	if (aml_command_run(&cmd, &res) == AML_COMMAND_EXITED &&
	    res.exit_status == 0 && res.out && res.out_len) {
		res.out[strcspn(res.out, "\n")] = '\0';
		snprintf(buf, len, "%s", res.out);
		rc = 0;
	} else {
		aml_fail(errbuf, errlen, "%s: cannot tell its Python version "
			 "(%s)", interpreter,
			 res.outcome == AML_COMMAND_NOT_STARTED
				 ? strerror(res.error)
				 : "it did not print one");
	}
	aml_command_result_free(&res);
	return rc;
}

int aml_env_node_facts(const char *interpreter, char *buf, size_t len,
		       char *errbuf, size_t errlen)
{
	char real[PATH_MAX], version[64] = "", id[64], vid[64];
	char *text = NULL;
	size_t text_len;
	struct utsname u;
	const char *base;
	unsigned major, minor;
	char tail;
	int fd;

	if (uname(&u) < 0)
		snprintf(u.machine, sizeof(u.machine), "unknown");
	fd = open(OS_RELEASE, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (aml_read_fd(fd, OS_RELEASE_MAX, &text, &text_len) < 0)
			text = NULL;
		close(fd);
	}
	os_release_value(text ? text : "", "ID", id, sizeof(id));
	os_release_value(text ? text : "", "VERSION_ID", vid, sizeof(vid));
	free(text);
	if (resolve(interpreter, real) < 0)
		return aml_fail(errbuf, errlen, "%s: no such interpreter on "
				"this node", interpreter);
	base = strrchr(real, '/');
	base = base ? base + 1 : real;
	/* Debian's python3 -> python3.11: the name says it, no need to
	 * start it. */
	if (sscanf(base, "python%u.%u%c", &major, &minor, &tail) == 2) {
		snprintf(version, sizeof(version), "%u.%u", major, minor);
	} else {
		char full[64];

		if (aml_env_python_version(real, full, sizeof(full), errbuf,
					   errlen) < 0)
			return -1;
		if (sscanf(full, "%u.%u", &major, &minor) == 2)
			snprintf(version, sizeof(version), "%u.%u", major,
				 minor);
		else
			snprintf(version, sizeof(version), "%s", full);
	}
	/* Where it is too: a venv refers to its interpreter by path, so root's
	 * python3 and a user's, if their PATHs find different ones, must
	 * not share a build. */
	snprintf(buf, len, "machine=%s os=%s-%s python=%s at %s", u.machine,
		 id, vid, version, real);
	return 0;
}

void aml_env_reason(const struct aml_env_choice *c,
		    const struct aml_site *site, char *buf, size_t len,
		    char key[65])
{
	char facts[256], prefix[PATH_MAX], err[512], hex[65];
	int found;

	buf[0] = '\0';
	if (key)
		key[0] = '\0';
	if (c->image && site->container_runtime != AML_CONTAINER_PYXIS) {
		aml_image_reason(c->image, site, buf, len);
		return;
	}
	switch (c->kind) {
	case AML_ENV_PIP:
	case AML_ENV_CONDA:
		break;
	case AML_ENV_DEFAULT:
		if (!c->entry)
			return;
		/* fall through */
	default:
		snprintf(buf, len, "environment %s", c->label);
		return;
	}
	if (aml_env_node_facts(site->default_interpreter, facts, sizeof(facts),
			       err, sizeof(err)) < 0 ||
	    aml_env_key(c, site, facts, hex) < 0) {
		snprintf(buf, len, "environment %s", c->label);
		return;
	}
	if (key)
		memcpy(key, hex, 65);
	found = aml_env_cache_lookup(site->env_dir, hex, prefix,
				     sizeof(prefix), err, sizeof(err));
	snprintf(buf, len, "environment %.*s (%s, %zu package%s): %s",
		 SHORT_KEY, hex, aml_env_kind_name(c->kind), c->n_packages,
		 c->n_packages == 1 ? "" : "s",
		 found == 1 ? "cached" : "building");
}

/* The builder of [c] into [b] (pip's or conda's, with [pip] or [conda]
 * filled); -1 with errbuf when pip cannot give the python asked. */
static int builder_of(const struct aml_env_choice *c,
		      const struct aml_site *site,
		      const struct aml_env_spec *spec, struct aml_env_pip *pip,
		      struct aml_env_conda *conda, struct aml_env_builder *b,
		      char *errbuf, size_t errlen)
{
	const char *python = site->default_interpreter;

	if (c->kind == AML_ENV_CONDA) {
		if (!(conda->yaml = aml_env_spec_conda_yaml(spec)))
			return aml_fail(errbuf, errlen, "out of memory");
		conda->command = site->conda_command;
		conda->argv_for = aml_env_conda_argv;
		b->kind = "conda";
		b->build = aml_env_conda_build;
		b->arg = conda;
		return 0;
	}
	/* pip makes a venv of the node's own python: one of another
	 * version it cannot give. */
	if (spec->python && strcmp(spec->python, "*")) {
		char version[64];
		int fits;

		if (aml_env_python_version(python, version, sizeof(version),
					   errbuf, errlen) < 0 ||
		    (fits = aml_env_python_matches(spec->python, version,
						   errbuf, errlen)) < 0)
			return -1;
		if (!fits)
			return aml_fail(errbuf, errlen, "environment: python %s "
					"asked, and this node's %s is %s: pip "
					"cannot give another python (the site "
					"has no CondaCommand)", spec->python,
					python, version);
	}
	pip->python = python;
	pip->options = &site->pip_options;
	pip->requirements = &spec->pip;
	b->kind = "pip";
	b->build = aml_env_pip_build;
	b->arg = pip;
	return 0;
}

enum aml_env_outcome aml_env_make(const struct aml_env_choice *c,
				  const struct aml_site *site,
				  int64_t wait_ms, char key[65],
				  char *prefix, size_t plen, char *log_path,
				  size_t llen, char *errbuf, size_t errlen)
{
	struct aml_env_spec spec;
	struct aml_errors errs;
	struct aml_env_pip pip = { 0 };
	struct aml_env_conda conda = { 0 };
	struct aml_env_builder b = { 0 };
	enum aml_env_outcome got = AML_ENV_FAILED;
	char facts[256], what[64];

	key[0] = '\0';
	if (llen)
		log_path[0] = '\0';
	memset(&spec, 0, sizeof(spec));
	aml_errors_init(&errs, NULL);
	if (!c->source ||
	    aml_env_spec_parse(c->source, strlen(c->source), "environment",
			       &spec, &errs) < 0) {
		aml_fail(errbuf, errlen, "environment: its specification does "
			 "not read back: %s", errs.count ? errs.lines[0] : "?");
		goto out;
	}
	if (aml_env_node_facts(site->default_interpreter, facts, sizeof(facts),
			       errbuf, errlen) < 0)
		goto out;
	if (aml_env_key(c, site, facts, key) < 0) {
		aml_fail(errbuf, errlen, "environment: no key for a %s "
			 "environment", aml_env_kind_name(c->kind));
		goto out;
	}
	if (builder_of(c, site, &spec, &pip, &conda, &b, errbuf, errlen) < 0)
		goto out;
	aml_env_what(b.kind, c->n_packages, what, sizeof(what));
	b.what = what;
	got = aml_env_cache_get(site->env_dir, key, &b, wait_ms, NULL, NULL,
				prefix, plen, log_path, llen, errbuf, errlen);
out:
	free((char *)conda.yaml);
	aml_env_spec_free(&spec);
	aml_errors_free(&errs);
	return got;
}
