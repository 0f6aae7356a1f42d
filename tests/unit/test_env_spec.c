/*
 * test_env_spec.c: conda environment specifications read, refused and
 * written again (plugin/env_spec.c), python versions matched, and the
 * command lines of the conda-compatible builders.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_spec.h"

#define FIELD "environment.python.conda_dependencies"

static const char example_yaml[] =
	"name: project_environment          # ignored\n"
	"channels: [conda-forge, defaults]\n"
	"dependencies:\n"
	"  - python=3.10\n"
	"  - pip=23.1\n"
	"  - numpy>=1.24          # a conda package\n"
	"  - pip:\n"
	"      - torch==2.1.0\n"
	"      - mypkg==1.0\n";

static const char example_canonical[] =
	"{\"python\":\"3.10\",\"channels\":[\"conda-forge\",\"defaults\"],"
	"\"conda\":[\"numpy>=1.24\"],\"pip\":[\"torch==2.1.0\",\"mypkg==1.0\"]}";

/* [text] parsed, which must succeed; its canonical text, malloc'd. */
static char *canonical_of(const char *text)
{
	struct aml_env_spec spec;
	struct aml_errors errs;
	char *canonical;

	aml_errors_init(&errs, "run.json");
	if (aml_env_spec_parse(text, strlen(text), FIELD, &spec, &errs) != 0)
		fail_msg("refused: %s", errs.count ? errs.lines[0] : "?");
	assert_int_equal(errs.count, 0);
	canonical = aml_env_spec_canonical(&spec);
	assert_non_null(canonical);
	aml_env_spec_free(&spec);
	aml_errors_free(&errs);
	return canonical;
}

static void assert_canonical(const char *text, const char *expected)
{
	char *canonical = canonical_of(text);

	assert_string_equal(canonical, expected);
	free(canonical);
}

/* [text] must be refused with exactly the one line [expected] (in a list
 * whose file is "run.json"). */
static void assert_refused(const char *text, size_t len,
			   const char *expected)
{
	struct aml_env_spec spec;
	struct aml_errors errs;

	aml_errors_init(&errs, "run.json");
	assert_int_equal(aml_env_spec_parse(text, len, FIELD, &spec, &errs),
			 -1);
	if (errs.count != 1 || strcmp(errs.lines[0], expected)) {
		for (size_t i = 0; i < errs.count; i++)
			print_message("# got: %s\n", errs.lines[i]);
		fail_msg("expected: %s", expected);
	}
	/* Nothing is left behind on a refusal. */
	assert_null(spec.python);
	assert_int_equal(spec.channels.count + spec.conda.count +
			 spec.pip.count, 0);
	aml_errors_free(&errs);
}

static void refused(const char *text, const char *expected)
{
	assert_refused(text, strlen(text), expected);
}

/* The specification whose only dependency is [item], which must be
 * accepted. */
static void parse_one(const char *item, struct aml_env_spec *spec)
{
	struct aml_errors errs;
	char text[256];

	snprintf(text, sizeof(text), "{\"dependencies\":[\"%s\"]}", item);
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_env_spec_parse(text, strlen(text), FIELD, spec,
					    &errs), 0);
	aml_errors_free(&errs);
}

/* ---- reading ---- */

static void test_example(void **state)
{
	struct aml_env_spec spec;
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, "run.json");
	assert_int_equal(aml_env_spec_parse(example_yaml, strlen(example_yaml),
					    FIELD, &spec, &errs), 0);
	assert_string_equal(spec.python, "3.10");
	assert_int_equal(spec.pip_listed, 1);
	assert_int_equal(spec.channels.count, 2);
	assert_string_equal(spec.channels.items[0], "conda-forge");
	assert_int_equal(spec.conda.count, 1);
	assert_string_equal(spec.conda.items[0], "numpy>=1.24");
	assert_int_equal(spec.pip.count, 2);
	assert_string_equal(spec.pip.items[1], "mypkg==1.0");
	assert_false(aml_env_spec_pip_only(&spec));
	aml_env_spec_free(&spec);
	aml_env_spec_free(&spec);
	aml_errors_free(&errs);
	assert_canonical(example_yaml, example_canonical);
}

/* The same specification in JSON (as run.json holds it), in another
 * layout, key order, quoting, with another name or none, and blanks
 * around items: one canonical text. */
static void test_layouts_agree(void **state)
{
	/* In parentheses: clang takes a literal of several lines in an array
	 * for a missing comma. */
	static const char *const same[] = {
		("{\"name\":\"project_environment\",\"channels\":[\"conda-forge\","
		"\"defaults\"],\"dependencies\":[\"python=3.10\",\"pip=23.1\","
		"\"numpy>=1.24\",{\"pip\":[\"torch==2.1.0\",\"mypkg==1.0\"]}]}"),
		("{ \"dependencies\" : [ \"python=3.10\", \"pip\", \" numpy>=1.24 \","
		" { \"pip\" : [ \"torch==2.1.0 \", \"  mypkg==1.0\" ] } ],\n"
		"  \"channels\": [\"conda-forge\", \"defaults\"] }"),
		("# a comment first\n"
		"dependencies:\n"
		"- 'python=3.10'\n"
		"- \"pip=23.1\"\n"
		"- numpy>=1.24\n"
		"- pip: [torch==2.1.0, 'mypkg==1.0']\n"
		"channels:\n"
		"- conda-forge\n"
		"- \"defaults\"   # trailing comment\n"
		"name: another\n"),
		("channels: [conda-forge, defaults]\n"
		"dependencies: [python 3.10.*, numpy>=1.24, {pip: [torch==2.1.0, mypkg==1.0]}]\n"),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(same) / sizeof(*same); i++)
		assert_canonical(same[i], example_canonical);
}

/* Order is meaning: channels are conda's priority, pip installs in
 * order. */
static void test_order_kept(void **state)
{
	(void)state;
	assert_canonical(
		"channels: [defaults, conda-forge]\n"
		"dependencies: [scipy, numpy, {pip: [b, a]}]\n",
		"{\"python\":null,\"channels\":[\"defaults\",\"conda-forge\"],"
		"\"conda\":[\"scipy\",\"numpy\"],\"pip\":[\"b\",\"a\"]}");
	assert_canonical("{}",
			 "{\"python\":null,\"channels\":[],\"conda\":[],\"pip\":[]}");
	assert_canonical("name: x\nchannels:\ndependencies:\n",
			 "{\"python\":null,\"channels\":[],\"conda\":[],\"pip\":[]}");
}

/* Each spelling of python's constraint: kept as conda reads it, and
 * written for conda so that it reads it alike. */
static void test_python_spellings(void **state)
{
	static const struct {
		const char *item, *python, *written;
	} cases[] = {
		{ "python", "*",
		  "python" },
		{ "python=*", "*",
		  "python" },
		{ "python=3.10", "3.10",
		  "python=3.10" },
		{ "python=3.10.*", "3.10",
		  "python=3.10" },
		{ "python 3.10.*", "3.10",
		  "python=3.10" },
		{ "python 3.10*", "3.10",
		  "python=3.10" },
		{ "python==3.10", "==3.10",
		  "python ==3.10" },
		{ "python 3.10", "==3.10",
		  "python ==3.10" },  /* conda: exactly 3.10.0 */
		{ "python ==3.10.4", "==3.10.4",
		  "python ==3.10.4" },
		{ "python>=3.9", ">=3.9",
		  "python >=3.9" },
		{ "python >=3.9,<3.12", ">=3.9,<3.12",
		  "python >=3.9,<3.12" },
		{ "python >=3.9 , <3.12", ">=3.9,<3.12",
		  "python >=3.9,<3.12" },
		{ "python>=3.9.*", ">=3.9",
		  "python >=3.9" },
		{ "python!=3.10", "!=3.10",
		  "python !=3.10" },
		{ "python!=3.10.*", "!=3.10.*",
		  "python !=3.10.*" },
		{ "python=3.10|3.11", "3.10|==3.11",
		  "python 3.10.*|==3.11" },
		{ "python 3.10.*|3.11.*", "3.10|3.11",
		  "python 3.10.*|3.11.*" },
		{ "python==3.10|3.11", "==3.10|==3.11",
		  "python ==3.10|==3.11" },
		{ "python>=3.8,<3.9|>=3.10", ">=3.8,<3.9|>=3.10",
		  "python >=3.8,<3.9|>=3.10" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct aml_env_spec spec;
		char line[128], *yaml;

		parse_one(cases[i].item, &spec);
		assert_string_equal(spec.python, cases[i].python);
		assert_int_equal(spec.conda.count, 0);
		snprintf(line, sizeof(line), "dependencies:\n  - \"%s\"\n",
			 cases[i].written);
		yaml = aml_env_spec_conda_yaml(&spec);
		assert_string_equal(yaml, line);
		free(yaml);
		aml_env_spec_free(&spec);
	}
}

/* Only python and pip among the conda packages: pip can build it. */
static void test_pip_only(void **state)
{
	static const struct {
		const char *text;
		int pip_only;
	} cases[] = {
		{ "dependencies: [python=3.10, pip, {pip: [torch]}]", 1 },
		{ "dependencies: [{pip: [torch]}]", 1 },
		{ "channels: [conda-forge]\ndependencies: [python, pip]", 1 },
		{ "{}", 1 },
		{ "dependencies: [python=3.10, numpy, {pip: [torch]}]", 0 },
		{ "dependencies: [conda-forge::python=3.10]", 0 },
		{ "dependencies: [pipx]", 0 },
		{ "dependencies: [python3]", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct aml_env_spec spec;
		struct aml_errors errs;

		aml_errors_init(&errs, NULL);
		assert_int_equal(aml_env_spec_parse(cases[i].text,
						    strlen(cases[i].text),
						    FIELD, &spec, &errs), 0);
		assert_int_equal(aml_env_spec_pip_only(&spec),
				 cases[i].pip_only);
		aml_env_spec_free(&spec);
		aml_errors_free(&errs);
	}
}

static void test_refused_keys(void **state)
{
	(void)state;
	refused("- python\n",
		"run.json: " FIELD ": must be a conda environment: a mapping of name, channels and dependencies, got an array");
	refused("name: x\nprefix: /home/me/env\ndependencies: []\n",
		"run.json: " FIELD ".prefix: not allowed (line 2): the environment's place is the site's (EnvDir in aml.conf)");
	refused("variables: {A: b}\n",
		"run.json: " FIELD ".variables: not supported here (line 1); set the run's environment_variables instead");
	refused("channel: [conda-forge]\n",
		"run.json: " FIELD ".channel: unknown key for a conda environment (line 1), which has only name, channels and dependencies; did you mean \"channels\"?");
	refused("{\"build\": 1}",
		"run.json: " FIELD ".build: unknown key for a conda environment (line 1), which has only name, channels and dependencies");
	refused("name: [a]\n",
		"run.json: " FIELD ".name: must be a string (it is ignored: the site names environments), got an array");
	refused("channels: [a\n",
		"run.json: " FIELD ": line 2: did not find expected ',' or ']' (while parsing a flow sequence at line 1)");
}

static void test_refused_lists(void **state)
{
	(void)state;
	refused("channels: conda-forge\n",
		"run.json: " FIELD ".channels: must be a list of channel names, got \"conda-forge\"");
	refused("channels: [conda-forge, '  ']\n",
		"run.json: " FIELD ".channels[1]: must not be empty");
	refused("channels: [conda-forge, 7]\n",
		"run.json: " FIELD ".channels[1]: must be a channel name (a string), got 7");
	refused("dependencies: {python: 3.10}\n",
		"run.json: " FIELD ".dependencies: must be a list of conda packages and at most one {pip: [...]}, got an object");
	refused("dependencies: [python, 3]\n",
		"run.json: " FIELD ".dependencies[1]: must be a conda package (a string) or a pip list ({pip: [...]}), got 3");
	refused("dependencies: [[numpy]]\n",
		"run.json: " FIELD ".dependencies[0]: must be a conda package (a string) or a pip list ({pip: [...]}), got an array");
	refused("dependencies:\n  - pip: [a]\n    conda: [b]\n",
		"run.json: " FIELD ".dependencies[0].conda: unknown key (line 3): a mapping among the dependencies holds only pip");
	refused("dependencies: [{conda: [b]}]\n",
		"run.json: " FIELD ".dependencies[0].conda: unknown key (line 1): a mapping among the dependencies holds only pip");
	refused("dependencies: [{}]\n",
		"run.json: " FIELD ".dependencies[0].pip: missing: a mapping among the dependencies is {pip: [requirements]}");
	refused("dependencies: [{pip: [a]}, numpy, {pip: [b]}]\n",
		"run.json: " FIELD ".dependencies[2]: a second pip list (the first is dependencies[0]); put every pip requirement in one");
	refused("dependencies:\n  - pip:\n",
		"run.json: " FIELD ".dependencies[0].pip: must be a list of pip requirements, got null");
	refused("dependencies: [{pip: torch}]\n",
		"run.json: " FIELD ".dependencies[0].pip: must be a list of pip requirements, got \"torch\"");
	refused("dependencies: [{pip: [torch, '']}]\n",
		"run.json: " FIELD ".dependencies[0].pip[1]: must not be empty");
	refused("dependencies: [{pip: [torch, 2]}]\n",
		"run.json: " FIELD ".dependencies[0].pip[1]: must be a pip requirement (a string), got 2");
}

/* One line, printable ASCII: what a newline, a NUL or a character YAML
 * takes for a line break would do differs between readers. */
static void test_refused_characters(void **state)
{
	static const char nul[] = "{\"dependencies\":[\"numpy\\u0000x\"]}";

	(void)state;
	refused("{\"dependencies\":[{\"pip\":[\"torch\\n--index-url x\"]}]}",
		"run.json: " FIELD ".dependencies[0].pip[0]: must be printable ASCII on one line, got \"torch\\x0a--index-url x\"");
	refused(nul,
		"run.json: " FIELD ".dependencies[0]: must be printable ASCII on one line, got \"numpy\\x00x\"");
	refused("{\"channels\":[\"caf\\u00e9\"]}",
		"run.json: " FIELD ".channels[0]: must be printable ASCII on one line, got \"caf\xc3\xa9\"");
	refused("{\"channels\":[\"a\\u2028b\"]}",
		"run.json: " FIELD ".channels[0]: must be printable ASCII on one line, got \"a\\u2028b\"");
}

static void test_refused_python(void **state)
{
	(void)state;
	refused("dependencies: [python=3.10, numpy, python>=3.9]\n",
		"run.json: " FIELD ".dependencies[2]: python is listed twice (first at " FIELD ".dependencies[0]), got \"python>=3.9\"");
	refused("dependencies: [python=3.10=h12345_0]\n",
		"run.json: " FIELD ".dependencies[0]: python's version constraint may hold only digits, '.', '*', the operators == != >= <= > < = and ',' '|' (no build string or channel), got \"python=3.10=h12345_0\"");
	refused("dependencies: ['python ~=3.10']\n",
		"run.json: " FIELD ".dependencies[0]: python's version constraint may hold only digits, '.', '*', the operators == != >= <= > < = and ',' '|' (no build string or channel), got \"python ~=3.10\"");
	refused("dependencies: [python=3.10=0]\n",
		"run.json: " FIELD ".dependencies[0]: cannot read python's version constraint in \"python=3.10=0\": \"=3.10=0\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)");
	refused("dependencies: [python 3.10 0]\n",
		"run.json: " FIELD ".dependencies[0]: cannot read python's version constraint in \"python 3.10 0\": \"3.10 0\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)");
	refused("dependencies: ['python<3.12.*']\n",
		"run.json: " FIELD ".dependencies[0]: cannot read python's version constraint in \"python<3.12.*\": \"<3.12.*\" means nothing to conda: '*' only after =, >= or !=");
	refused("dependencies: ['python>=3.9,']\n",
		"run.json: " FIELD ".dependencies[0]: cannot read python's version constraint in \"python>=3.9,\": an empty term in \">=3.9,\"");
	refused("dependencies: ['python=']\n",
		"run.json: " FIELD ".dependencies[0]: cannot read python's version constraint in \"python=\": \"=\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)");
	refused("dependencies: ['python 3.*.1']\n",
		"run.json: " FIELD ".dependencies[0]: cannot read python's version constraint in \"python 3.*.1\": \"3.*.1\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)");
}

static void test_pip_requirements(void **state)
{
	static const char *const options[] = {
		"-r req.txt", "-e .", "--index-url https://example.org/simple",
		"--extra-index-url https://example.org/simple",
		"--find-links /srv/wheels", "--no-index", "-c constraints.txt",
		"torch --global-option=x", "torch  --hash=sha256:00",
	};
	static const char *const elsewhere[] = {
		"git+https://github.com/org/repo.git",
		"http://example.org/pkg-1.0.tar.gz", "https://example.org/x",
		"file:pkg", "./pkg", "../pkg", "/srv/pkg", "~/pkg", ".",
		"pkg @ https://example.org/pkg.whl", "pkg@file:///x",
		"pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz", "pkg.zip",
		"pkg==${VERSION}", "pkg\\\\", "[extra]", "#comment", "'torch'",
		"pkg/sub",
	};
	static const char *const kept[] = {
		"torch==2.1.0", "numpy>=1.24,<2", "mypkg[extra]==1.0",
		"pkg; python_version<'3.11'",
		"pkg ; sys_platform == 'linux' and platform_release >= '5.4.0-1'",
		"Django >= 4.2", "zope.interface", "a-b_c.d~=1.0",
		"pkg; extra == 'x:y/z@w'",
	};
	char text[256], expected[512];

	(void)state;
	for (size_t i = 0; i < sizeof(options) / sizeof(*options); i++) {
		snprintf(text, sizeof(text),
			 "{\"dependencies\":[{\"pip\":[\"%s\"]}]}", options[i]);
		snprintf(expected, sizeof(expected),
			 "run.json: " FIELD ".dependencies[0].pip[0]: pip options are the site's (PipOptions in aml.conf), got \"%s\"",
			 options[i]);
		refused(text, expected);
	}
	for (size_t i = 0; i < sizeof(elsewhere) / sizeof(*elsewhere); i++) {
		const char *shown = elsewhere[i];

		snprintf(text, sizeof(text),
			 "{\"dependencies\":[{\"pip\":[\"%s\"]}]}", shown);
		if (!strcmp(shown, "pkg\\\\"))
			shown = "pkg\\";
		snprintf(expected, sizeof(expected),
			 "run.json: " FIELD ".dependencies[0].pip[0]: only package requirements from the site's package index (a name first, as in torch==2.1.0; no URL, path, VCS reference or archive), got \"%s\"",
			 shown);
		refused(text, expected);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++) {
		char canonical[512];

		snprintf(text, sizeof(text),
			 "{\"dependencies\":[{\"pip\":[\"%s\"]}]}", kept[i]);
		snprintf(canonical, sizeof(canonical),
			 "{\"python\":null,\"channels\":[],\"conda\":[],\"pip\":[\"%s\"]}",
			 kept[i]);
		assert_canonical(text, canonical);
	}
}

/* Every problem is reported, each on its own line. */
static void test_every_problem(void **state)
{
	static const char text[] =
		"prefix: /x\n"
		"channels: ['']\n"
		"dependencies: [python=3.10, python, {pip: [-e ., ./x]}]\n";
	struct aml_env_spec spec;
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_env_spec_parse(text, strlen(text), "conda_file env.yml",
					    &spec, &errs), -1);
	assert_int_equal(errs.count, 5);
	assert_string_equal(errs.lines[0], "conda_file env.yml.prefix: not allowed (line 1): the environment's place is the site's (EnvDir in aml.conf)");
	assert_string_equal(errs.lines[1], "conda_file env.yml.channels[0]: must not be empty");
	assert_string_equal(errs.lines[2], "conda_file env.yml.dependencies[1]: python is listed twice (first at conda_file env.yml.dependencies[0]), got \"python\"");
	assert_string_equal(errs.lines[3], "conda_file env.yml.dependencies[2].pip[0]: pip options are the site's (PipOptions in aml.conf), got \"-e .\"");
	assert_string_equal(errs.lines[4], "conda_file env.yml.dependencies[2].pip[1]: only package requirements from the site's package index (a name first, as in torch==2.1.0; no URL, path, VCS reference or archive), got \"./x\"");
	aml_errors_free(&errs);
}

/* A JSON list of [n] copies of the string [item], in "{"[key]":[...]}". */
static char *list_of(const char *key, const char *item, size_t n)
{
	size_t cap = strlen(key) + n * (strlen(item) + 3) + 16;
	char *text = malloc(cap);
	size_t at;

	assert_non_null(text);
	at = (size_t)snprintf(text, cap, "{\"%s\":[", key);
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(text + at, cap - at, "%s\"%s\"",
				       i ? "," : "", item);
	snprintf(text + at, cap - at, "]}");
	return text;
}

static void test_limits(void **state)
{
	char item[AML_ENV_SPEC_MAX_ITEM + 2], expected[256];
	char *text, *big;

	(void)state;
	/* The whole text, checked before it is read. */
	big = malloc(AML_ENV_SPEC_MAX_BYTES + 1);
	assert_non_null(big);
	memset(big, '#', AML_ENV_SPEC_MAX_BYTES + 1);
	assert_refused(big, AML_ENV_SPEC_MAX_BYTES + 1,
		       "run.json: " FIELD ": 65537 bytes, at most 65536 in an environment specification");
	free(big);

	/* Items in all: 500 pass, 501 do not, however they are split. */
	text = list_of("channels", "c", AML_ENV_SPEC_MAX_ITEMS);
	free(canonical_of(text));
	free(text);
	text = list_of("channels", "c", AML_ENV_SPEC_MAX_ITEMS + 1);
	refused(text, "run.json: " FIELD ": 501 channels, dependencies and pip requirements, at most 500 in all");
	free(text);
	text = list_of("dependencies", "numpy", 300);
	text[strlen(text) - 2] = '\0';
	{
		char *pip = list_of("pip", "torch", 200), *all;

		assert_int_equal(asprintf(&all, "%s,%s]}", text, pip) > 0, 1);
		refused(all, "run.json: " FIELD ": 501 channels, dependencies and pip requirements, at most 500 in all");
		free(all);
		free(pip);
	}
	free(text);

	/* One item: 512 bytes pass, 513 do not. */
	memset(item, 'a', sizeof(item));
	item[AML_ENV_SPEC_MAX_ITEM] = '\0';
	text = list_of("dependencies", item, 1);
	free(canonical_of(text));
	free(text);
	item[AML_ENV_SPEC_MAX_ITEM] = 'a';
	item[AML_ENV_SPEC_MAX_ITEM + 1] = '\0';
	text = list_of("dependencies", item, 1);
	snprintf(expected, sizeof(expected),
		 "run.json: " FIELD ".dependencies[0]: 513 bytes, at most 512 in one item of an environment specification");
	refused(text, expected);
	free(text);
}

/* ---- python versions ---- */

static void test_python_matches(void **state)
{
	static const struct {
		const char *constraint, *version;
		int expected;
	} cases[] = {
		{ NULL, "3.11.2", 1 },
		{ "*", "3.11.2", 1 },
		{ "3.11", "3.11.2", 1 },
		{ "3.11", "3.11.0", 1 },
		{ "3.11", "3.12.0", 0 },
		{ "3.1", "3.11.2", 0 },          /* components, not text */
		{ "=3.11", "3.11.2", 1 },
		{ "3.11.*", "3.11.9", 1 },
		{ "3.11*", "3.11.9", 1 },
		{ "3.11.*", "3.10.9", 0 },
		{ "3", "3.11.2", 1 },
		{ "==3.11.2", "3.11.2", 1 },
		{ "==3.11.2", "3.11.3", 0 },
		{ "==3.11", "3.11.0", 1 },       /* 3.11 is 3.11.0 */
		{ "==3.11", "3.11.2", 0 },
		{ ">=3.9", "3.11.2", 1 },
		{ ">=3.9", "3.8.18", 0 },
		{ ">=3.9", "3.10.0", 1 },        /* 10 > 9 as numbers */
		{ "<3.12", "3.11.9", 1 },
		{ "<3.12", "3.12.0", 0 },
		{ "<=3.12", "3.12.0", 1 },
		{ ">3.11", "3.11.0", 0 },
		{ ">3.11", "3.11.1", 1 },
		{ "!=3.10", "3.10.0", 0 },
		{ "!=3.10", "3.10.1", 1 },
		{ "!=3.10.*", "3.10.1", 0 },
		{ "!=3.10.*", "3.11.1", 1 },
		{ ">=3.9,<3.12", "3.11.2", 1 },
		{ ">=3.9,<3.12", "3.12.1", 0 },
		{ ">=3.9, <3.12", "3.8.1", 0 },
		{ "3.10|3.11", "3.11.4", 1 },
		{ "3.10 | 3.11", "3.12.0", 0 },
		{ "3.8|>=3.10,<3.12", "3.9.1", 0 },   /* ',' before '|' */
		{ "3.8|>=3.10,<3.12", "3.11.1", 1 },
		{ ">=3.10,<3.12|3.8", "3.8.5", 1 },
		{ ">=3.10,!=3.11.*", "3.11.2", 0 },
		{ "3.011", "3.11.2", 1 },         /* leading zeros */
		{ "<3.12", "3.12.0rc1", 1 },      /* a pre-release first */
		{ "==3.12.0", "3.12.0rc1", 0 },
		{ "3.12", "3.12.0rc1", 1 },
		{ ">=3.13", "3.13.0a1+", 0 },
		{ "3.13", "3.13.0a1+", 1 },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int got = aml_env_python_matches(cases[i].constraint,
						 cases[i].version, err,
						 sizeof(err));

		if (got != cases[i].expected)
			fail_msg("%s against %s: %d, expected %d",
				 cases[i].constraint ? cases[i].constraint
						     : "(null)",
				 cases[i].version, got, cases[i].expected);
	}
}

static void test_python_unreadable(void **state)
{
	static const struct {
		const char *constraint, *version, *message;
	} cases[] = {
		{ "~=3.10", "3.11.2",
		  "cannot read python constraint \"~=3.10\": only digits, '.', '*', the operators == != >= <= > < = and ',' '|' are allowed" },
		{ "3.10,", "3.11.2", "an empty term in \"3.10,\"" },
		{ "==3.10.*", "3.10.1",
		  "\"==3.10.*\" means nothing to conda: '*' only after =, >= or !=" },
		{ ">=", "3.10.1",
		  "\">=\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)" },
		{ "3..10", "3.10.1",
		  "\"3..10\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)" },
		{ "=>3.10", "3.10.1",
		  "\"=>3.10\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)" },
		{ "3.10", "3.10.x",
		  "cannot read python version \"3.10.x\" (expected digits separated by dots, as 3.11.2 or 3.13.0rc1)" },
		{ "3.10", "",
		  "cannot read python version \"\" (expected digits separated by dots, as 3.11.2 or 3.13.0rc1)" },
		{ "3.10", "3.10.0rc",
		  "cannot read python version \"3.10.0rc\" (expected digits separated by dots, as 3.11.2 or 3.13.0rc1)" },
		/* One unreadable term fails the whole, wherever it is. */
		{ "3.11|>=", "3.11.1",
		  "\">=\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		err[0] = '\0';
		assert_int_equal(aml_env_python_matches(cases[i].constraint,
							cases[i].version, err,
							sizeof(err)), -1);
		assert_string_equal(err, cases[i].message);
	}
}

/* ---- writing ---- */

static void test_conda_yaml(void **state)
{
	static const char expected[] =
		"channels:\n"
		"  - \"conda-forge\"\n"
		"  - \"defaults\"\n"
		"dependencies:\n"
		"  - \"python=3.10\"\n"
		"  - \"pip\"\n"
		"  - \"numpy>=1.24\"\n"
		"  - pip:\n"
		"      - \"torch==2.1.0\"\n"
		"      - \"mypkg==1.0\"\n";
	struct aml_env_spec spec;
	struct aml_errors errs;
	char *yaml, *req;

	(void)state;
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_env_spec_parse(example_yaml, strlen(example_yaml),
					    FIELD, &spec, &errs), 0);
	yaml = aml_env_spec_conda_yaml(&spec);
	assert_string_equal(yaml, expected);
	req = aml_env_spec_requirements(&spec);
	assert_string_equal(req, "torch==2.1.0\nmypkg==1.0\n");
	free(yaml);
	free(req);
	aml_env_spec_free(&spec);

	/* Nothing at all is still a file conda reads. */
	assert_int_equal(aml_env_spec_parse("{}", 2, FIELD, &spec, &errs), 0);
	yaml = aml_env_spec_conda_yaml(&spec);
	assert_string_equal(yaml, "dependencies: []\n");
	req = aml_env_spec_requirements(&spec);
	assert_string_equal(req, "");
	free(yaml);
	free(req);
	aml_env_spec_free(&spec);
	aml_errors_free(&errs);
}

/* What the writer gives conda reads back as the same specification, for
 * every spelling of python, quotes inside items, and pip requirements
 * without pip listed (then pip is listed, as conda needs it). */
static void test_yaml_reads_back(void **state)
{
	static const char *const texts[] = {
		example_yaml,
		"dependencies: [python]",
		"dependencies: [python==3.10, 'pkg \"x\"']",
		"dependencies: [python 3.10]",
		"dependencies: ['python>=3.9, <3.12', numpy]",
		"dependencies: ['python=3.10|3.11']",
		"dependencies: ['python 3.10.*|3.11.*,!=3.11.2']",
		"dependencies: ['python==3.10|3.11']",
		"dependencies: ['python!=3.10.*']",
		"dependencies: ['python *|3.10']",
		"dependencies: [{pip: [\"pkg; python_version < '3.11'\"]}]",
		"channels: [\"a'b\", 'c#d', '- e', '{f}']\ndependencies: [pip]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
		struct aml_env_spec spec;
		struct aml_errors errs;
		char *first, *yaml, *again;

		aml_errors_init(&errs, NULL);
		assert_int_equal(aml_env_spec_parse(texts[i], strlen(texts[i]),
						    FIELD, &spec, &errs), 0);
		first = aml_env_spec_canonical(&spec);
		yaml = aml_env_spec_conda_yaml(&spec);
		aml_env_spec_free(&spec);
		again = canonical_of(yaml);
		if (strcmp(first, again))
			fail_msg("%s\nwrote\n%s\nread back as %s", first, yaml,
				 again);
		free(first);
		free(yaml);
		free(again);
		aml_errors_free(&errs);
	}
}

/* ---- the builders' command lines ---- */

static void assert_argv(const struct aml_strlist *argv, const char *words)
{
	char joined[1024] = "";

	for (size_t i = 0; i < argv->count; i++) {
		if (i)
			strcat(joined, " ");
		strcat(joined, argv->items[i]);
	}
	assert_string_equal(joined, words);
}

static void test_conda_argv(void **state)
{
	char *extra_items[] = { "--quiet", "--override-channels" };
	struct aml_strlist extra = { extra_items, 2 }, argv = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(aml_env_conda_argv("/opt/conda/bin/conda", "/env/k1",
					    "/env/k1.build/environment.yml",
					    NULL, &argv, err, sizeof(err)), 0);
	assert_argv(&argv, "/opt/conda/bin/conda env create -p /env/k1 -f /env/k1.build/environment.yml");
	aml_strlist_free(&argv);

	assert_int_equal(aml_env_conda_argv("conda", "/env/k1", "/t/e.yaml",
					    &extra, &argv, err, sizeof(err)), 0);
	assert_argv(&argv, "conda env create --quiet --override-channels -p /env/k1 -f /t/e.yaml");
	aml_strlist_free(&argv);

	assert_int_equal(aml_env_conda_argv("/usr/bin/mamba", "/env/k1",
					    "/t/environment.yml", &extra,
					    &argv, err, sizeof(err)), 0);
	assert_argv(&argv, "/usr/bin/mamba env create --quiet --override-channels -p /env/k1 -f /t/environment.yml");
	aml_strlist_free(&argv);

	assert_int_equal(aml_env_conda_argv("/usr/local/bin/micromamba",
					    "/env/k1", "/t/environment.yml",
					    NULL, &argv, err, sizeof(err)), 0);
	assert_argv(&argv, "/usr/local/bin/micromamba create -y -p /env/k1 -f /t/environment.yml");
	aml_strlist_free(&argv);

	assert_int_equal(aml_env_conda_argv("micromamba", "/env/k1",
					    "/t/environment.yml", &extra,
					    &argv, err, sizeof(err)), 0);
	assert_argv(&argv, "micromamba create -y --quiet --override-channels -p /env/k1 -f /t/environment.yml");
	aml_strlist_free(&argv);
}

static void test_conda_argv_refused(void **state)
{
	static const struct {
		const char *command, *prefix, *yaml, *message;
	} cases[] = {
		{ "/usr/bin/pip", "/env/k", "/t/e.yml",
		  "/usr/bin/pip: not a conda-compatible command this project knows (its name must be conda, mamba or micromamba)" },
		{ "/opt/conda/bin/conda-env", "/env/k", "/t/e.yml",
		  "/opt/conda/bin/conda-env: not a conda-compatible command this project knows (its name must be conda, mamba or micromamba)" },
		{ "/opt/conda/", "/env/k", "/t/e.yml",
		  "/opt/conda/: not a conda-compatible command this project knows (its name must be conda, mamba or micromamba)" },
		{ "", "/env/k", "/t/e.yml", "no conda-compatible command given" },
		{ "conda", "env/k", "/t/e.yml",
		  "the environment's prefix must be an absolute path, got \"env/k\"" },
		{ "conda", "-n", "/t/e.yml",
		  "the environment's prefix must be an absolute path, got \"-n\"" },
		{ "conda", "/env/k", "e.yml",
		  "the environment file must be an absolute path ending in .yml or .yaml, got \"e.yml\"" },
		{ "mamba", "/env/k", "/t/requirements.txt",
		  "the environment file must be an absolute path ending in .yml or .yaml, got \"/t/requirements.txt\"" },
	};
	struct aml_strlist argv = { 0 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		assert_int_equal(aml_env_conda_argv(cases[i].command,
						    cases[i].prefix,
						    cases[i].yaml, NULL, &argv,
						    err, sizeof(err)), -1);
		assert_string_equal(err, cases[i].message);
		assert_int_equal(argv.count, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_layouts_agree),
		cmocka_unit_test(test_order_kept),
		cmocka_unit_test(test_python_spellings),
		cmocka_unit_test(test_pip_only),
		cmocka_unit_test(test_refused_keys),
		cmocka_unit_test(test_refused_lists),
		cmocka_unit_test(test_refused_characters),
		cmocka_unit_test(test_refused_python),
		cmocka_unit_test(test_pip_requirements),
		cmocka_unit_test(test_every_problem),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_python_matches),
		cmocka_unit_test(test_python_unreadable),
		cmocka_unit_test(test_conda_yaml),
		cmocka_unit_test(test_yaml_reads_back),
		cmocka_unit_test(test_conda_argv),
		cmocka_unit_test(test_conda_argv_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
