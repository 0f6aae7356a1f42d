/*
 * test_site.c: aml.conf, every rule of plugin/site.h.
 *
 * The files in tests/data/site/ are read through $AML_TEST_DATA (set by
 * the build); without it those cases are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "joined_errors.h"
#include "site.h"

#define BASE "ComputeTarget=cpu Partition=debug\n"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static int parse_n(const char *text, size_t len, struct aml_site *site,
		   struct aml_errors *errs)
{
	aml_errors_init(errs, NULL);
	return aml_site_parse(text, len, "aml.conf", site, errs);
}

/* Parse [text]; it must be accepted.  Free [site] afterwards. */
static void parse_ok(const char *text, struct aml_site *site)
{
	struct aml_errors errs;
	int rc = parse_n(text, strlen(text), site, &errs);

	if (rc != 0) {
		char *joined = joined_errors(&errs);

		print_error("unexpected errors for:\n%s\n---\n%s\n", text,
			    joined ? joined : "(none)");
		free(joined);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(errs.count, 0);
	aml_errors_free(&errs);
}

/* Parse [len] bytes; they must be refused with exactly [expected] (lines
 * joined by '\n'), and [site] must be left empty. */
static void parse_fails_n(const char *text, size_t len, const char *expected)
{
	struct aml_site site;
	struct aml_errors errs;
	char *joined;
	int rc;

	memset(&site, 0xa5, sizeof(site));
	rc = parse_n(text, len, &site, &errs);
	joined = joined_errors(&errs);
	assert_int_equal(rc, -1);
	assert_non_null(joined);
	assert_string_equal(joined, expected);
	assert_null(site.targets);
	assert_null(site.history_dir);
	assert_int_equal(site.n_targets, 0);
	free(joined);
	aml_errors_free(&errs);
}

static void parse_fails(const char *text, const char *expected)
{
	parse_fails_n(text, strlen(text), expected);
}

/* The value of one global key line, parsed with a minimal target. */
static void parse_global(const char *line, struct aml_site *site)
{
	char text[512];

	snprintf(text, sizeof(text), "%s\n" BASE, line);
	parse_ok(text, site);
}

/* The only target of "ComputeTarget=cpu Partition=debug <keys>". */
static void parse_target(const char *keys, struct aml_site *site)
{
	char text[512];

	snprintf(text, sizeof(text), "ComputeTarget=cpu Partition=debug %s\n",
		 keys);
	parse_ok(text, site);
	assert_int_equal(site->n_targets, 1);
}

static void global_fails(const char *line, const char *expected)
{
	char text[512];

	snprintf(text, sizeof(text), "%s\n" BASE, line);
	parse_fails(text, expected);
}

static void target_fails(const char *keys, const char *expected)
{
	char text[512];

	snprintf(text, sizeof(text), "ComputeTarget=cpu Partition=debug %s\n",
		 keys);
	parse_fails(text, expected);
}

static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t size = 0;

	if (!f)
		return NULL;
	buf = malloc(1 << 20);
	if (buf)
		size = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	if (buf) {
		buf[size] = '\0';
		*len = size;
	}
	return buf;
}

static const char *test_data(void)
{
	const char *dir = getenv("AML_TEST_DATA");

	if (!dir || !*dir) {
		/* tap-wrap takes the reason from this line. */
		printf("# SKIP: AML_TEST_DATA is not set\n");
		fflush(stdout);
		skip();
	}
	return dir;
}

/* ---------------------------------------------------------------------- */
/* Defaults                                                               */

static void check_global_defaults(const struct aml_site *site)
{
	assert_string_equal(site->history_dir, "/var/lib/aml/history");
	assert_int_equal(site->history_backend, AML_HISTORY_FILE);
	assert_null(site->history_uri);
	assert_null(site->history_credentials);
	assert_int_equal(site->run_visibility, AML_RUNS_PRIVATE);
	assert_string_equal(site->snapshot_dir, "/var/lib/aml/snapshots");
	assert_true(site->snapshot_max_bytes == 300ull * 1024 * 1024);
	assert_int_equal(site->snapshot_max_files, 2000);
	assert_string_equal(site->run_dir, "/tmp/aml-runs");
	assert_string_equal(site->spool_dir, "/var/spool/aml");
	assert_null(site->launcher);
	assert_int_equal(site->keep_failed_run_dir, 0);
	assert_true(site->kept_run_dir_max == AML_SITE_UNLIMITED64);
	assert_int_equal(site->container_runtime, AML_CONTAINER_NONE);
	assert_string_equal(site->default_interpreter, "python3");
	assert_int_equal(site->finalize_grace_seconds, 120);
	assert_true(site->limits.config_bytes == 1024 * 1024);
	assert_int_equal(site->limits.variables, 4096);
	assert_int_equal(site->limits.arguments, 4096);
	assert_true(site->limits.argument_bytes == 256 * 1024);
}

static void test_defaults(void **state)
{
	struct aml_site site;

	(void)state;
	assert_int_equal(aml_site_defaults(&site), 0);
	check_global_defaults(&site);
	assert_null(site.path);
	assert_null(site.default_target);
	assert_null(site.targets);
	assert_int_equal(site.n_targets, 0);
	aml_site_free(&site);
}

static void test_minimal_file_gets_every_default(void **state)
{
	struct aml_site site;
	const struct aml_target *t;

	(void)state;
	parse_ok(BASE, &site);
	check_global_defaults(&site);
	assert_string_equal(site.path, "aml.conf");
	assert_int_equal(site.n_targets, 1);
	t = &site.targets[0];
	assert_string_equal(t->name, "cpu");
	assert_string_equal(t->partition, "debug");
	assert_null(t->qos);
	assert_null(t->account);
	assert_null(t->gres);
	assert_null(t->constraint);
	assert_int_equal(t->max_nodes, AML_SITE_UNLIMITED);
	assert_true(t->max_time_seconds == AML_SITE_UNLIMITED64);
	assert_int_equal(t->max_processes_per_node, AML_SITE_UNLIMITED);
	assert_null(t->allow_users);
	assert_int_equal(t->n_allow_users, 0);
	assert_null(t->allow_accounts);
	assert_int_equal(t->n_allow_accounts, 0);
	assert_int_equal(t->line, 1);
	assert_string_equal(site.default_target, "cpu");
	aml_site_free(&site);
}

/* ---------------------------------------------------------------------- */
/* Global keys                                                            */

static void test_history_dir(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("HistoryDir=/shared/aml/history", &site);
	assert_string_equal(site.history_dir, "/shared/aml/history");
	aml_site_free(&site);
	global_fails("HistoryDir=shared/history",
		     "aml.conf: line 1: HistoryDir: must be an absolute path, "
		     "got \"shared/history\"");
}

static void test_history_backend(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("HistoryBackend=file", &site);
	assert_int_equal(site.history_backend, AML_HISTORY_FILE);
	aml_site_free(&site);
	parse_global("HistoryBackend=mlflow HistoryURI=https://mlflow.example"
		     ".org:5000", &site);
	assert_int_equal(site.history_backend, AML_HISTORY_MLFLOW);
	assert_string_equal(site.history_uri, "https://mlflow.example.org:5000");
	aml_site_free(&site);
	/* A keyword, not a name: its case does not matter. */
	parse_global("HistoryBackend=MLflow HistoryURI=http://h/", &site);
	assert_int_equal(site.history_backend, AML_HISTORY_MLFLOW);
	aml_site_free(&site);
	global_fails("HistoryBackend=sql",
		     "aml.conf: line 1: HistoryBackend: must be file or mlflow, "
		     "got \"sql\"");
}

static void test_mlflow_without_history_uri_refused(void **state)
{
	(void)state;
	global_fails("HistoryBackend=mlflow",
		     "aml.conf: line 1: HistoryBackend: mlflow requires "
		     "HistoryURI, got \"mlflow\"");
	/* A HistoryURI that is wrong is reported once, as itself. */
	global_fails("HistoryBackend=mlflow\nHistoryURI=mlflow.example.org",
		     "aml.conf: line 2: HistoryURI: must be a URI such as "
		     "https://host/path, got \"mlflow.example.org\"");
}

static void test_history_uri(void **state)
{
	(void)state;
	global_fails("HistoryURI=https://mlflow.example.org",
		     "aml.conf: line 1: HistoryURI: only used with "
		     "HistoryBackend=mlflow, got \"https://mlflow.example.org\"");
	global_fails("HistoryBackend=mlflow HistoryURI=https://",
		     "aml.conf: line 1: HistoryURI: must be a URI such as "
		     "https://host/path, got \"https://\"");
	global_fails("HistoryBackend=mlflow HistoryURI=\"https://a b\"",
		     "aml.conf: line 1: HistoryURI: must be a URI such as "
		     "https://host/path, got \"https://a b\"");
	/* A wrong backend is reported alone, not with the URI it leaves
	 * unused. */
	global_fails("HistoryBackend=rest HistoryURI=https://h",
		     "aml.conf: line 1: HistoryBackend: must be file or mlflow, "
		     "got \"rest\"");
}

static void test_history_credentials(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("HistoryBackend=mlflow HistoryURI=https://h "
		     "HistoryCredentials=/etc/aml/mlflow.token", &site);
	assert_string_equal(site.history_credentials, "/etc/aml/mlflow.token");
	aml_site_free(&site);
	global_fails("HistoryBackend=mlflow HistoryURI=https://h "
		     "HistoryCredentials=mlflow.token",
		     "aml.conf: line 1: HistoryCredentials: must be an absolute "
		     "path, got \"mlflow.token\"");
	global_fails("HistoryCredentials=/etc/aml/mlflow.token",
		     "aml.conf: line 1: HistoryCredentials: only used with "
		     "HistoryBackend=mlflow, got \"/etc/aml/mlflow.token\"");
	/* "~/": each writer's own home. */
	parse_global("HistoryBackend=mlflow HistoryURI=https://h "
		     "HistoryCredentials=~/.aml/mlflow-credentials", &site);
	assert_string_equal(site.history_credentials,
			    "~/.aml/mlflow-credentials");
	aml_site_free(&site);
	global_fails("HistoryBackend=mlflow HistoryURI=https://h "
		     "HistoryCredentials=~",
		     "aml.conf: line 1: HistoryCredentials: must be an absolute "
		     "path, got \"~\"");
	global_fails("HistoryBackend=mlflow HistoryURI=https://h "
		     "HistoryCredentials=~alice/token",
		     "aml.conf: line 1: HistoryCredentials: must be an absolute "
		     "path, got \"~alice/token\"");
}

static void test_history_timeout(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("FinalizeGrace=60", &site);
	assert_int_equal(site.history_timeout_seconds, 10);
	aml_site_free(&site);
	parse_global("HistoryTimeout=600", &site);
	assert_int_equal(site.history_timeout_seconds, 600);
	aml_site_free(&site);
	global_fails("HistoryTimeout=0",
		     "aml.conf: line 1: HistoryTimeout: must be a whole number "
		     "from 1 to 600, got \"0\"");
}

/* HistoryLogInterval: how often a tracking server gets the growing logs. */
static void test_history_log_interval(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("FinalizeGrace=60", &site);
	assert_int_equal(site.history_log_interval_seconds, 15);
	aml_site_free(&site);
	parse_global("HistoryLogInterval=0", &site);
	assert_int_equal(site.history_log_interval_seconds, 0);
	aml_site_free(&site);
	global_fails("HistoryLogInterval=3601",
		     "aml.conf: line 1: HistoryLogInterval: must be a whole "
		     "number from 0 to 3600, got \"3601\"");
}

/* The environment settings and the catalogue (environment.h). */
static void test_environment_globals(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("FinalizeGrace=60", &site);
	assert_string_equal(site.env_dir, "/var/lib/aml/envs");
	assert_string_equal(site.modules_init,
			    "/usr/share/lmod/lmod/init/profile");
	assert_null(site.conda_command);
	assert_int_equal(site.pip_options.count, 0);
	assert_null(site.default_environment);
	aml_site_free(&site);
	parse_global("EnvDir=/shared/envs PipOptions=\"--no-index  "
		     "--find-links=/shared/wheels\" "
		     "CondaCommand=/opt/mm/bin/micromamba "
		     "ModulesInit=/etc/modules/init/bash", &site);
	assert_string_equal(site.env_dir, "/shared/envs");
	assert_int_equal(site.pip_options.count, 2);
	assert_string_equal(site.pip_options.items[0], "--no-index");
	assert_string_equal(site.pip_options.items[1],
			    "--find-links=/shared/wheels");
	assert_string_equal(site.conda_command, "/opt/mm/bin/micromamba");
	assert_string_equal(site.modules_init, "/etc/modules/init/bash");
	aml_site_free(&site);
	global_fails("EnvDir=envs",
		     "aml.conf: line 1: EnvDir: must be an absolute path, got "
		     "\"envs\"");
	global_fails("CondaCommand=/usr/bin/pip",
		     "aml.conf: line 1: CondaCommand: must be a conda, mamba or "
		     "micromamba program (its name says which options it "
		     "takes), got \"/usr/bin/pip\"");
	global_fails("CondaCommand=conda",
		     "aml.conf: line 1: CondaCommand: must be an absolute "
		     "path, got \"conda\"");
	global_fails("PipOptions=\"  \"",
		     "aml.conf: line 1: PipOptions: must hold at least one "
		     "option, got \"  \"");
}

static void test_environment_catalogue(void **state)
{
	struct aml_site site;
	const struct aml_site_env *e;

	(void)state;
	parse_ok(BASE
		 "Environment=AzureML-Minimal Prefix=/shared/envs/minimal\n"
		 "Environment=torch:1.9 Modules=cuda/12.2,py-torch/2.1+cuda "
		 "Env=OMP_NUM_THREADS=1 Env=\"NOTE=a b\"\n"
		 "Environment=torch:1.10 Interpreter=/opt/py/bin/python3\n"
		 "Environment=torch:2 Interpreter=python3.11\n"
		 "DefaultEnvironment=AzureML-Minimal\n", &site);
	assert_int_equal(site.n_envs, 4);
	assert_string_equal(site.default_environment, "AzureML-Minimal");
	e = aml_site_find_env(&site, "AzureML-Minimal", NULL);
	assert_non_null(e);
	assert_string_equal(e->prefix, "/shared/envs/minimal");
	assert_null(e->version);
	e = aml_site_find_env(&site, "torch", "1.9");
	assert_non_null(e);
	assert_int_equal(e->n_modules, 2);
	assert_string_equal(e->modules[1], "py-torch/2.1+cuda");
	assert_string_equal(aml_kvlist_get(&e->vars, "OMP_NUM_THREADS"), "1");
	assert_string_equal(aml_kvlist_get(&e->vars, "NOTE"), "a b");
	/* The latest: versions compare as numbers. */
	e = aml_site_find_env(&site, "torch", NULL);
	assert_non_null(e);
	assert_string_equal(e->version, "2");
	assert_null(aml_site_find_env(&site, "torch", "3"));
	assert_null(aml_site_find_env(&site, "Torch", NULL));
	aml_site_free(&site);

	parse_fails(BASE "Environment=a Prefix=/p Interpreter=/i\n",
		    "aml.conf: line 2: Environment: Prefix and Interpreter "
		    "exclude each other (a Prefix's interpreter is "
		    "PREFIX/bin/python), got \"a\"");
	parse_fails(BASE "Environment=a Env=X=1\n",
		    "aml.conf: line 2: Environment: must give Prefix, "
		    "Interpreter, Modules or Image, got \"a\"");
	parse_fails(BASE "Environment=a Prefix=/p\nEnvironment=a Modules=m\n",
		    "aml.conf: line 3: Environment: a is defined twice (first "
		    "on line 2)");
	parse_fails(BASE "Environment=a b Prefix=/p\n",
		    "aml.conf: line 2: expected Key=Value, got \"b\"");
	parse_fails(BASE "Environment=a:1/2 Prefix=/p\n",
		    "aml.conf: line 2: Environment: must be NAME or "
		    "NAME:VERSION, each of letters, digits, '.', '_' and '-', "
		    "got \"a:1/2\"");
	parse_fails(BASE "Environment=a Modules=-x\n",
		    "aml.conf: line 2: Modules: module names are letters, "
		    "digits and . _ - / + @, not starting with / or -, got "
		    "\"-x\"");
	parse_fails(BASE "Environment=a Prefix=/p Env=AML_RUN_ID=x\n",
		    "aml.conf: line 2: Env: AML_RUN_ID: names starting with "
		    "AML_ are slurm-aml's own, got \"AML_RUN_ID=x\"");
	parse_fails(BASE "Environment=a Prefix=/p Env=1X=x Env=Y\n",
		    "aml.conf: line 2: Env: must be NAME=VALUE, NAME of "
		    "letters, digits and '_', not starting with a digit, got "
		    "\"1X=x\"\n"
		    "aml.conf: line 2: Env: must be NAME=VALUE, NAME of "
		    "letters, digits and '_', not starting with a digit, got "
		    "\"Y\"");
	parse_fails(BASE "Environment=a Prefix=/p Partition=x\n",
		    "aml.conf: line 2: Partition: belongs on a ComputeTarget "
		    "line, not valid on an Environment line, got \"x\"");
	parse_fails(BASE "Environment=a Prefx=/p\n",
		    "aml.conf: line 2: Prefx: unknown key (did you mean "
		    "Prefix?), got \"/p\"\n"
		    "aml.conf: line 2: Environment: must give Prefix, "
		    "Interpreter, Modules or Image, got \"a\"");
	parse_fails(BASE "Modules=a\n",
		    "aml.conf: line 2: Modules: only valid on an Environment "
		    "line, got \"a\"");
	parse_fails("ComputeTarget=cpu Partition=debug Prefix=/p\n",
		    "aml.conf: line 1: Prefix: belongs on an Environment "
		    "line, not valid on a ComputeTarget line, got \"/p\"");
	parse_fails(BASE "Environment=a Prefix=/p\nDefaultEnvironment=b\n",
		    "aml.conf: line 3: DefaultEnvironment: must name an "
		    "Environment line, got \"b\"");
	parse_fails(BASE "DefaultEnvironment=a:1\n",
		    "aml.conf: line 2: DefaultEnvironment: must name an "
		    "Environment line, and none is defined, got \"a:1\"");
}

static void test_run_visibility(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("RunVisibility=shared", &site);
	assert_int_equal(site.run_visibility, AML_RUNS_SHARED);
	aml_site_free(&site);
	parse_global("RunVisibility=Private", &site);
	assert_int_equal(site.run_visibility, AML_RUNS_PRIVATE);
	aml_site_free(&site);
	global_fails("RunVisibility=public",
		     "aml.conf: line 1: RunVisibility: must be private or "
		     "shared, got \"public\"");
}

static void test_snapshot_dir(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("SnapshotDir=/shared/aml/snapshots", &site);
	assert_string_equal(site.snapshot_dir, "/shared/aml/snapshots");
	aml_site_free(&site);
	global_fails("SnapshotDir=./snapshots",
		     "aml.conf: line 1: SnapshotDir: must be an absolute path, "
		     "got \"./snapshots\"");
}

static uint64_t snapshot_size(const char *value)
{
	struct aml_site site;
	char line[128];
	uint64_t bytes;

	snprintf(line, sizeof(line), "SnapshotMaxSize=%s", value);
	parse_global(line, &site);
	bytes = site.snapshot_max_bytes;
	aml_site_free(&site);
	return bytes;
}

static void test_snapshot_max_size_suffixes(void **state)
{
	(void)state;
	assert_true(snapshot_size("100") == 100);
	assert_true(snapshot_size("1") == 1);
	assert_true(snapshot_size("512K") == 512ull << 10);
	assert_true(snapshot_size("512k") == 512ull << 10);
	assert_true(snapshot_size("300M") == 300ull << 20);
	assert_true(snapshot_size("300m") == 300ull << 20);
	assert_true(snapshot_size("2G") == 2ull << 30);
	assert_true(snapshot_size("2g") == 2ull << 30);
	assert_true(snapshot_size("3T") == 3ull << 40);
	assert_true(snapshot_size("3t") == 3ull << 40);
	assert_true(snapshot_size("0010M") == 10ull << 20);
}

static void test_snapshot_max_size_refused(void **state)
{
	static const char *const bad[] = {
		"0", "0K", "10MB", "10MiB", "1.5G", "-1", "+1", "K", "G1",
		"1 G", "lots", "1P", "UNLIMITED",
	};
	char line[128], expected[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(line, sizeof(line), "SnapshotMaxSize=\"%s\"", bad[i]);
		snprintf(expected, sizeof(expected),
			 "aml.conf: line 1: SnapshotMaxSize: must be a size of "
			 "at least 1 byte: a whole number with an optional K, "
			 "M, G or T suffix (powers of 1024), got \"%s\"",
			 bad[i]);
		global_fails(line, expected);
	}
}

static void test_snapshot_max_size_overflow(void **state)
{
	static const char *const big[] = {
		"16777216T",              /* 2^64 */
		"17179869184G",           /* 2^64 */
		"18446744073709551615",   /* kept for "unlimited" */
		"18446744073709551616",
		"99999999999999999999999",
	};
	char line[128], expected[512];

	(void)state;
	assert_true(snapshot_size("16777215T") == 16777215ull << 40);
	assert_true(snapshot_size("18446744073709551614") ==
		    UINT64_MAX - 1);
	for (size_t i = 0; i < sizeof(big) / sizeof(*big); i++) {
		snprintf(line, sizeof(line), "SnapshotMaxSize=%s", big[i]);
		snprintf(expected, sizeof(expected),
			 "aml.conf: line 1: SnapshotMaxSize: too large (must fit "
			 "in 64 bits), got \"%s\"", big[i]);
		global_fails(line, expected);
	}
}

static void test_snapshot_max_files(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("SnapshotMaxFiles=1", &site);
	assert_int_equal(site.snapshot_max_files, 1);
	aml_site_free(&site);
	parse_global("SnapshotMaxFiles=10000000", &site);
	assert_int_equal(site.snapshot_max_files, 10000000);
	aml_site_free(&site);
	global_fails("SnapshotMaxFiles=0",
		     "aml.conf: line 1: SnapshotMaxFiles: must be a whole number "
		     "from 1 to 10000000, got \"0\"");
	global_fails("SnapshotMaxFiles=10000001",
		     "aml.conf: line 1: SnapshotMaxFiles: must be a whole number "
		     "from 1 to 10000000, got \"10000001\"");
	global_fails("SnapshotMaxFiles=2k",
		     "aml.conf: line 1: SnapshotMaxFiles: must be a whole number "
		     "from 1 to 10000000, got \"2k\"");
}

static void test_run_dir(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("RunDir=/scratch/aml-runs", &site);
	assert_string_equal(site.run_dir, "/scratch/aml-runs");
	aml_site_free(&site);
	global_fails("RunDir=scratch",
		     "aml.conf: line 1: RunDir: must be an absolute path, got "
		     "\"scratch\"");
}

static void test_spool_dir(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("SpoolDir=/var/tmp/aml-spool", &site);
	assert_string_equal(site.spool_dir, "/var/tmp/aml-spool");
	aml_site_free(&site);
	global_fails("SpoolDir=spool",
		     "aml.conf: line 1: SpoolDir: must be an absolute path, got "
		     "\"spool\"");
}

static void test_launcher(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("Launcher=/opt/aml/libexec/aml-launch", &site);
	assert_string_equal(site.launcher, "/opt/aml/libexec/aml-launch");
	aml_site_free(&site);
	global_fails("Launcher=aml-launch",
		     "aml.conf: line 1: Launcher: must be an absolute path, got "
		     "\"aml-launch\"");
}

static void test_keep_failed_run_dir(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("KeepFailedRunDir=yes", &site);
	assert_int_equal(site.keep_failed_run_dir, 1);
	aml_site_free(&site);
	parse_global("KeepFailedRunDir=no", &site);
	assert_int_equal(site.keep_failed_run_dir, 0);
	aml_site_free(&site);
	global_fails("KeepFailedRunDir=maybe",
		     "aml.conf: line 1: KeepFailedRunDir: must be yes or no (or "
		     "true/false, 1/0, on/off), got \"maybe\"");
}

/* KeptRunDirMax: SnapshotMaxSize's sizes, and UNLIMITED (the default). */
static void test_kept_run_dir_max(void **state)
{
	static const struct {
		const char *value;
		uint64_t bytes;
	} good[] = {
		{ "1", 1 }, { "1K", 1ull << 10 }, { "20g", 20ull << 30 },
		{ "3T", 3ull << 40 }, { "UNLIMITED", AML_SITE_UNLIMITED64 },
		{ "unlimited", AML_SITE_UNLIMITED64 },
		{ "INFINITE", AML_SITE_UNLIMITED64 },
	};
	static const char *const bad[] = { "0", "10MB", "1.5G", "-1", "none" };
	struct aml_site site;
	char line[128], expected[512];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		snprintf(line, sizeof(line), "KeptRunDirMax=%s", good[i].value);
		parse_global(line, &site);
		assert_true(site.kept_run_dir_max == good[i].bytes);
		aml_site_free(&site);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(line, sizeof(line), "KeptRunDirMax=\"%s\"", bad[i]);
		snprintf(expected, sizeof(expected),
			 "aml.conf: line 1: KeptRunDirMax: must be a size of "
			 "at least 1 byte: a whole number with an optional K, "
			 "M, G or T suffix (powers of 1024), or UNLIMITED, got "
			 "\"%s\"", bad[i]);
		global_fails(line, expected);
	}
	global_fails("KeptRunDirMax=16777216T",
		     "aml.conf: line 1: KeptRunDirMax: too large (must fit in "
		     "64 bits), got \"16777216T\"");
}

static void test_booleans_all_spellings(void **state)
{
	static const char *const yes[] = {
		"yes", "Yes", "YES", "true", "True", "TRUE", "1", "on", "On",
		"ON",
	};
	static const char *const no[] = {
		"no", "No", "NO", "false", "False", "FALSE", "0", "off", "Off",
		"OFF",
	};
	static const char *const bad[] = { "y", "n", "2", "yess", "enabled",
					   "-1", "t" };
	struct aml_site site;
	char line[64], expected[256];

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		snprintf(line, sizeof(line), "KeepFailedRunDir=%s", yes[i]);
		parse_global(line, &site);
		assert_int_equal(site.keep_failed_run_dir, 1);
		aml_site_free(&site);
		snprintf(line, sizeof(line), "KeepFailedRunDir=%s", no[i]);
		parse_global(line, &site);
		assert_int_equal(site.keep_failed_run_dir, 0);
		aml_site_free(&site);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(line, sizeof(line), "KeepFailedRunDir=%s", bad[i]);
		snprintf(expected, sizeof(expected),
			 "aml.conf: line 1: KeepFailedRunDir: must be yes or no "
			 "(or true/false, 1/0, on/off), got \"%s\"", bad[i]);
		global_fails(line, expected);
	}
}

static void test_container_runtime(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("ContainerRuntime=pyxis", &site);
	assert_int_equal(site.container_runtime, AML_CONTAINER_PYXIS);
	aml_site_free(&site);
	parse_global("ContainerRuntime=None", &site);
	assert_int_equal(site.container_runtime, AML_CONTAINER_NONE);
	aml_site_free(&site);
	global_fails("ContainerRuntime=docker",
		     "aml.conf: line 1: ContainerRuntime: must be none, podman, "
		     "charliecloud, apptainer or pyxis, got \"docker\"");
}

static void test_container_runtimes(void **state)
{
	static const struct {
		const char *value;
		enum aml_container_runtime runtime;
		const char *name;
	} cases[] = {
		{ "none", AML_CONTAINER_NONE, "none" },
		{ "PYXIS", AML_CONTAINER_PYXIS, "pyxis" },
		{ "podman", AML_CONTAINER_PODMAN, "podman" },
		{ "Charliecloud", AML_CONTAINER_CHARLIECLOUD, "charliecloud" },
		{ "apptainer", AML_CONTAINER_APPTAINER, "apptainer" },
	};
	struct aml_site site;
	char line[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		snprintf(line, sizeof(line), "ContainerRuntime=%s",
			 cases[i].value);
		parse_global(line, &site);
		assert_int_equal(site.container_runtime, cases[i].runtime);
		assert_string_equal(aml_container_runtime_name(
					    site.container_runtime),
				    cases[i].name);
		aml_site_free(&site);
	}
	global_fails("ContainerRuntime=singularity",
		     "aml.conf: line 1: ContainerRuntime: must be none, podman, "
		     "charliecloud, apptainer or pyxis, got \"singularity\"");
}

static void test_container_keys(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("FinalizeGrace=60", &site);
	assert_null(site.container_registries);
	assert_int_equal(site.n_container_registries, 0);
	assert_null(site.container_auth_file);
	assert_null(site.container_cert_dir);
	assert_null(site.container_runtime_args);
	assert_int_equal(site.n_container_runtime_args, 0);
	assert_string_equal(site.image_dir, "/var/lib/aml/images");
	assert_int_equal(site.container_builder_podman, 0);
	aml_site_free(&site);

	parse_global("ContainerRuntime=podman "
		     "ContainerRegistries=127.0.0.1:5000,nvcr.io,docker.io,"
		     "localhost,[::1]:5000 "
		     "ContainerAuthFile=/etc/aml/auth.json "
		     "ContainerCertDir=/etc/aml/certs.d "
		     "ContainerRuntimeArgs=\"--runtime=runc  "
		     "--cgroup-manager=cgroupfs\" ImageDir=/shared/images "
		     "ContainerBuilder=podman ContainerBuilderArgs=--log-level=warn",
		     &site);
	assert_int_equal(site.container_builder_podman, 1);
	assert_int_equal(site.placement, AML_PLACEMENT_HWLOC);
	assert_int_equal(site.n_container_builder_args, 1);
	assert_string_equal(site.container_builder_args[0], "--log-level=warn");
	assert_null(site.container_builder_args[1]);
	assert_int_equal(site.n_container_registries, 5);
	assert_string_equal(site.container_registries[0], "127.0.0.1:5000");
	assert_string_equal(site.container_registries[4], "[::1]:5000");
	assert_string_equal(site.container_auth_file, "/etc/aml/auth.json");
	assert_string_equal(site.container_cert_dir, "/etc/aml/certs.d");
	assert_int_equal(site.n_container_runtime_args, 2);
	assert_string_equal(site.container_runtime_args[0], "--runtime=runc");
	assert_string_equal(site.container_runtime_args[1],
			    "--cgroup-manager=cgroupfs");
	assert_null(site.container_runtime_args[2]);
	assert_string_equal(site.image_dir, "/shared/images");
	aml_site_free(&site);

	global_fails("ContainerRegistries=nvcr.io,bad_host",
		     "aml.conf: line 1: ContainerRegistries: \"bad_host\" is "
		     "not a registry: a host name (letters, digits, inner '-', "
		     "joined by '.') or [IPv6 address], with an optional :port, "
		     "got \"nvcr.io,bad_host\"");
	global_fails("ContainerRegistries=nvcr.io:x",
		     "aml.conf: line 1: ContainerRegistries: \"nvcr.io:x\" is "
		     "not a registry: a host name (letters, digits, inner '-', "
		     "joined by '.') or [IPv6 address], with an optional :port, "
		     "got \"nvcr.io:x\"");
	global_fails("ContainerRegistries=nvcr.io,,x.io",
		     "aml.conf: line 1: ContainerRegistries: must be a "
		     "comma-separated list of names, with no empty items or "
		     "blanks, got \"nvcr.io,,x.io\"");
	global_fails("ContainerAuthFile=auth.json",
		     "aml.conf: line 1: ContainerAuthFile: must be an absolute "
		     "path, got \"auth.json\"");
	global_fails("ContainerCertDir=certs",
		     "aml.conf: line 1: ContainerCertDir: must be an absolute "
		     "path, got \"certs\"");
	parse_global("Placement=SLURM", &site);
	assert_int_equal(site.placement, AML_PLACEMENT_SLURM);
	aml_site_free(&site);
	parse_global("Placement=none", &site);
	assert_int_equal(site.placement, AML_PLACEMENT_NONE);
	aml_site_free(&site);
	global_fails("Placement=numa",
		     "aml.conf: line 1: Placement: must be hwloc, slurm or "
		     "none, got \"numa\"");
	global_fails("ContainerBuilder=docker",
		     "aml.conf: line 1: ContainerBuilder: must be none or "
		     "podman, got \"docker\"");
	global_fails("ImageDir=images",
		     "aml.conf: line 1: ImageDir: must be an absolute path, got "
		     "\"images\"");
	global_fails("ContainerRuntimeArgs=\" \"",
		     "aml.conf: line 1: ContainerRuntimeArgs: must hold at least "
		     "one option, got \" \"");
	global_fails("ContainerRuntimeArgs=--a\nContainerRuntimeArgs=--b",
		     "aml.conf: line 2: ContainerRuntimeArgs: duplicate key "
		     "(first set on line 1), got \"--b\"");
}

static void test_catalogue_images(void **state)
{
	struct aml_site site;
	const struct aml_site_env *e;

	(void)state;
	parse_ok(BASE "ContainerRuntime=charliecloud\n"
		 "Environment=torch:2 Image=nvcr.io/nvidia/pytorch:23.10-py3 "
		 "Interpreter=/usr/bin/python Env=NCCL_DEBUG=INFO\n"
		 "Environment=plain Image=ubuntu\n", &site);
	e = aml_site_find_env(&site, "torch", NULL);
	assert_non_null(e);
	assert_string_equal(e->image, "nvcr.io/nvidia/pytorch:23.10-py3");
	assert_string_equal(e->interpreter, "/usr/bin/python");
	assert_string_equal(aml_kvlist_get(&e->vars, "NCCL_DEBUG"), "INFO");
	e = aml_site_find_env(&site, "plain", NULL);
	assert_string_equal(e->image, "ubuntu");
	assert_null(e->interpreter);
	aml_site_free(&site);

	/* The runtime may be set after the line that needs it. */
	parse_ok(BASE "Environment=a Image=ubuntu\nContainerRuntime=pyxis\n",
		 &site);
	aml_site_free(&site);

	parse_fails(BASE "Environment=a Image=ubuntu\n",
		    "aml.conf: line 2: Environment: a has Image= but "
		    "ContainerRuntime=none: set ContainerRuntime to the site's "
		    "runtime, or remove the Image");
	parse_fails(BASE "ContainerRuntime=podman\n"
		    "Environment=a Image=Ubuntu:22.04\n",
		    "aml.conf: line 3: Image: a path component is lowercase "
		    "letters and digits, separated by '.', '_', '__' or '-', "
		    "got \"Ubuntu\", got \"Ubuntu:22.04\"");
	parse_fails(BASE "ContainerRuntime=podman\n"
		    "Environment=a Image=ubuntu Prefix=/p\n",
		    "aml.conf: line 3: Environment: Image excludes Prefix and "
		    "Modules (they are the host's; the image brings its own), "
		    "got \"a\"");
	parse_fails(BASE "ContainerRuntime=podman\n"
		    "Environment=a Modules=cuda Image=ubuntu\n",
		    "aml.conf: line 3: Environment: Image excludes Prefix and "
		    "Modules (they are the host's; the image brings its own), "
		    "got \"a\"");
	parse_fails(BASE "ContainerRuntime=podman\n"
		    "Environment=a Image=x Image=y\n",
		    "aml.conf: line 3: Image: duplicate key on this Environment "
		    "line (first set on line 3), got \"y\"");
	parse_fails(BASE "Image=ubuntu\n",
		    "aml.conf: line 2: Image: only valid on an Environment "
		    "line, got \"ubuntu\"");
}

static void test_default_interpreter(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("DefaultInterpreter=python3.11", &site);
	assert_string_equal(site.default_interpreter, "python3.11");
	aml_site_free(&site);
	parse_global("DefaultInterpreter=/opt/conda/bin/python", &site);
	assert_string_equal(site.default_interpreter, "/opt/conda/bin/python");
	aml_site_free(&site);
	global_fails("DefaultInterpreter=bin/python",
		     "aml.conf: line 1: DefaultInterpreter: must be a command "
		     "name or an absolute path, got \"bin/python\"");
	global_fails("DefaultInterpreter=\"python3 -u\"",
		     "aml.conf: line 1: DefaultInterpreter: must be a command "
		     "name or an absolute path, got \"python3 -u\"");
}

static void test_finalize_grace(void **state)
{
	struct aml_site site;

	(void)state;
	parse_global("FinalizeGrace=0", &site);
	assert_int_equal(site.finalize_grace_seconds, 0);
	aml_site_free(&site);
	parse_global("FinalizeGrace=86400", &site);
	assert_int_equal(site.finalize_grace_seconds, 86400);
	aml_site_free(&site);
	global_fails("FinalizeGrace=86401",
		     "aml.conf: line 1: FinalizeGrace: must be a whole number "
		     "from 0 to 86400, got \"86401\"");
	global_fails("FinalizeGrace=2:00",
		     "aml.conf: line 1: FinalizeGrace: must be a whole number "
		     "from 0 to 86400, got \"2:00\"");
}

/* The caps on a run's size: sizes with suffixes, counts, each within
 * the most a site may raise it to, refused with the file's line. */
static void test_run_limits(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("MaxConfigSize=4M\nMaxEnvironmentVariables=10000\n"
		 "MaxArguments=1\nMaxArgumentsSize=512K\n" BASE, &site);
	assert_true(site.limits.config_bytes == 4ull << 20);
	assert_int_equal(site.limits.variables, 10000);
	assert_int_equal(site.limits.arguments, 1);
	assert_true(site.limits.argument_bytes == 512ull << 10);
	aml_site_free(&site);
	parse_ok("maxconfigsize=64M\nMAXENVIRONMENTVARIABLES=1000000\n"
		 "MaxArguments=1000000\nMaxArgumentsSize=1\n" BASE, &site);
	assert_true(site.limits.config_bytes == 64ull << 20);
	assert_int_equal(site.limits.variables, 1000000);
	assert_true(site.limits.argument_bytes == 1);
	aml_site_free(&site);

	global_fails("MaxConfigSize=65M",
		     "aml.conf: line 1: MaxConfigSize: must be at most 64.0 MiB, got \"65M\"");
	global_fails("MaxConfigSize=0",
		     "aml.conf: line 1: MaxConfigSize: must be a size of at least 1 byte: a whole number with an optional K, M, G or T suffix (powers of 1024), got \"0\"");
	global_fails("MaxConfigSize=UNLIMITED",
		     "aml.conf: line 1: MaxConfigSize: must be a size of at least 1 byte: a whole number with an optional K, M, G or T suffix (powers of 1024), got \"UNLIMITED\"");
	global_fails("MaxConfigSize=99999999999999999999",
		     "aml.conf: line 1: MaxConfigSize: too large (must fit in 64 bits), got \"99999999999999999999\"");
	global_fails("MaxArgumentsSize=1G",
		     "aml.conf: line 1: MaxArgumentsSize: must be at most 64.0 MiB, got \"1G\"");
	global_fails("MaxEnvironmentVariables=0",
		     "aml.conf: line 1: MaxEnvironmentVariables: must be a whole number from 1 to 1000000, got \"0\"");
	global_fails("MaxEnvironmentVariables=1000001",
		     "aml.conf: line 1: MaxEnvironmentVariables: must be a whole number from 1 to 1000000, got \"1000001\"");
	global_fails("MaxArguments=4k",
		     "aml.conf: line 1: MaxArguments: must be a whole number from 1 to 1000000, got \"4k\"");
	parse_fails("MaxArguments=10\nMaxArguments=20\n" BASE,
		    "aml.conf: line 2: MaxArguments: duplicate key (first set on line 1), got \"20\"");
	target_fails("MaxArguments=10",
		     "aml.conf: line 1: MaxArguments: is a global key, not valid on a ComputeTarget line, got \"10\"");
}

static void test_default_target_names_a_later_target(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("DefaultTarget=gpu\n"
		 "ComputeTarget=cpu Partition=debug\n"
		 "ComputeTarget=gpu Partition=gpu\n", &site);
	assert_string_equal(site.default_target, "gpu");
	aml_site_free(&site);
}

static void test_default_target_is_first_when_unset(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("ComputeTarget=b Partition=debug\n"
		 "ComputeTarget=a Partition=gpu\n", &site);
	assert_string_equal(site.default_target, "b");
	aml_site_free(&site);
}

static void test_default_target_unknown_lists_known(void **state)
{
	(void)state;
	parse_fails("DefaultTarget=gpus\n"
		    "ComputeTarget=cpu Partition=debug\n"
		    "ComputeTarget=gpu Partition=gpu\n",
		    "aml.conf: line 1: DefaultTarget: must name a ComputeTarget "
		    "(known: cpu, gpu), got \"gpus\"");
}

static void test_default_target_list_is_cut(void **state)
{
	char text[2048];
	size_t at = 0;

	(void)state;
	at += (size_t)snprintf(text + at, sizeof(text) - at, "DefaultTarget=x\n");
	for (int i = 0; i < 12; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at,
				       "ComputeTarget=t%d Partition=p\n", i);
	parse_fails(text, "aml.conf: line 1: DefaultTarget: must name a "
		    "ComputeTarget (known: t0, t1, t2, t3, t4, t5, t6, t7, t8, "
		    "t9, ...), got \"x\"");
}

/* ---------------------------------------------------------------------- */
/* ComputeTarget lines                                                    */

static void test_target_every_key(void **state)
{
	struct aml_site site;
	const struct aml_target *t;

	(void)state;
	parse_ok("ComputeTarget=gpu-cluster Partition=gpu QOS=normal "
		 "Account=ml Gres=gpu:a100:8 Constraint=a100&ib MaxNodes=64 "
		 "MaxTime=2-00:00:00 MaxProcessesPerNode=8 "
		 "AllowUsers=alice,bob AllowAccounts=ml,vision,nlp Default=YES\n",
		 &site);
	assert_int_equal(site.n_targets, 1);
	t = &site.targets[0];
	assert_string_equal(t->name, "gpu-cluster");
	assert_string_equal(t->partition, "gpu");
	assert_string_equal(t->qos, "normal");
	assert_string_equal(t->account, "ml");
	assert_string_equal(t->gres, "gpu:a100:8");
	assert_string_equal(t->constraint, "a100&ib");
	assert_int_equal(t->max_nodes, 64);
	assert_true(t->max_time_seconds == 2 * 86400);
	assert_int_equal(t->max_processes_per_node, 8);
	assert_int_equal(t->n_allow_users, 2);
	assert_string_equal(t->allow_users[0], "alice");
	assert_string_equal(t->allow_users[1], "bob");
	assert_int_equal(t->n_allow_accounts, 3);
	assert_string_equal(t->allow_accounts[0], "ml");
	assert_string_equal(t->allow_accounts[1], "vision");
	assert_string_equal(t->allow_accounts[2], "nlp");
	assert_string_equal(site.default_target, "gpu-cluster");
	aml_site_free(&site);
}

static void test_target_without_partition_refused(void **state)
{
	(void)state;
	parse_fails("ComputeTarget=cpu MaxNodes=2\n",
		    "aml.conf: line 1: ComputeTarget: must have a Partition, "
		    "got \"cpu\"");
	/* A misspelt Partition is one mistake: reported once. */
	parse_fails("ComputeTarget=cpu Partiton=debug\n",
		    "aml.conf: line 1: Partiton: unknown key (did you mean "
		    "Partition?), got \"debug\"");
	parse_fails("ComputeTarget=cpu Partition=\n",
		    "aml.conf: line 1: Partition: must not be empty, got \"\"");
}

static void test_target_partition_qos_account_constraint(void **state)
{
	struct aml_site site;

	(void)state;
	parse_target("QOS=high Account=physics Constraint=[rack1|rack2]", &site);
	assert_string_equal(site.targets[0].qos, "high");
	assert_string_equal(site.targets[0].account, "physics");
	assert_string_equal(site.targets[0].constraint, "[rack1|rack2]");
	aml_site_free(&site);
	parse_ok("ComputeTarget=c Partition=debug,long\n", &site);
	assert_string_equal(site.targets[0].partition, "debug,long");
	aml_site_free(&site);
	parse_fails("ComputeTarget=c Partition=\"a b\"\n",
		    "aml.conf: line 1: Partition: must be printable ASCII "
		    "without blanks, got \"a b\"");
	target_fails("QOS=\"x y\"",
		     "aml.conf: line 1: QOS: must be printable ASCII without "
		     "blanks, got \"x y\"");
	target_fails("Account=caf\xc3\xa9",
		     "aml.conf: line 1: Account: must be printable ASCII without "
		     "blanks, got \"caf\xc3\xa9\"");
	target_fails("Constraint=\"a & b\"",
		     "aml.conf: line 1: Constraint: must be printable ASCII "
		     "without blanks, got \"a & b\"");
}

static void test_target_gres(void **state)
{
	static const char *const good[] = {
		"gpu", "gpu:4", "gpu:a100:8", "gpu:a100", "gpu:2080:2",
		"gpu:4,mps:100", "nic_x:1", "shard:tesla.v-1:3",
	};
	static const char *const bad[] = {
		"4", "gpu:", ":4", "gpu:0", "gpu:a100:0", "gpu:a100:x",
		"gpu::4", "gpu:a:b:4", "gpu:4,", ",gpu", "gpu;4", "gpu:4294967295",
		"gpu:-1", "gpu*4",
	};
	struct aml_site site;
	char keys[128], expected[512];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		snprintf(keys, sizeof(keys), "Gres=%s", good[i]);
		parse_target(keys, &site);
		assert_string_equal(site.targets[0].gres, good[i]);
		aml_site_free(&site);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(keys, sizeof(keys), "Gres=%s", bad[i]);
		snprintf(expected, sizeof(expected),
			 "aml.conf: line 1: Gres: must be NAME[:TYPE][:COUNT] "
			 "per node, comma-separated, as in --gres (gpu:4, "
			 "gpu:a100:8), got \"%s\"", bad[i]);
		target_fails(keys, expected);
	}
}

static void test_target_max_nodes(void **state)
{
	struct aml_site site;

	(void)state;
	parse_target("MaxNodes=1", &site);
	assert_int_equal(site.targets[0].max_nodes, 1);
	aml_site_free(&site);
	parse_target("MaxNodes=100000", &site);
	assert_int_equal(site.targets[0].max_nodes, 100000);
	aml_site_free(&site);
	parse_target("MaxNodes=UNLIMITED", &site);
	assert_int_equal(site.targets[0].max_nodes, AML_SITE_UNLIMITED);
	aml_site_free(&site);
	target_fails("MaxNodes=0",
		     "aml.conf: line 1: MaxNodes: must be a whole number from 1 "
		     "to 100000 or UNLIMITED, got \"0\"");
	target_fails("MaxNodes=100001",
		     "aml.conf: line 1: MaxNodes: must be a whole number from 1 "
		     "to 100000 or UNLIMITED, got \"100001\"");
	target_fails("MaxNodes=sixty",
		     "aml.conf: line 1: MaxNodes: must be a whole number from 1 "
		     "to 100000 or UNLIMITED, got \"sixty\"");
	target_fails("MaxNodes=-1",
		     "aml.conf: line 1: MaxNodes: must be a whole number from 1 "
		     "to 100000 or UNLIMITED, got \"-1\"");
	target_fails("MaxNodes=99999999999999999999999",
		     "aml.conf: line 1: MaxNodes: must be a whole number from 1 "
		     "to 100000 or UNLIMITED, got \"99999999999999999999999\"");
}

static void test_target_max_time(void **state)
{
	struct aml_site site;

	(void)state;
	parse_target("MaxTime=90", &site);
	assert_true(site.targets[0].max_time_seconds == 5400);
	aml_site_free(&site);
	parse_target("MaxTime=0:30", &site);
	assert_true(site.targets[0].max_time_seconds == 30);
	aml_site_free(&site);
	parse_target("MaxTime=unlimited", &site);
	assert_true(site.targets[0].max_time_seconds == AML_SITE_UNLIMITED64);
	aml_site_free(&site);
	target_fails("MaxTime=0",
		     "aml.conf: line 1: MaxTime: must be longer than 0, got "
		     "\"0\"");
	target_fails("MaxTime=1:60:00",
		     "aml.conf: line 1: MaxTime: must be a Slurm time: MIN, "
		     "MIN:SEC, H:M:S, D-H, D-H:M, D-H:M:S or UNLIMITED (minutes "
		     "and seconds 0-59, hours 0-23 after a day count), got "
		     "\"1:60:00\"");
	/* Slurm keeps minutes in 32 bits. */
	parse_target("MaxTime=4294967293", &site);
	assert_true(site.targets[0].max_time_seconds == 4294967293ull * 60);
	aml_site_free(&site);
	target_fails("MaxTime=4294967294",
		     "aml.conf: line 1: MaxTime: must be at most 4294967293 "
		     "minutes (Slurm's longest time limit), got \"4294967294\"");
}

static void test_target_max_processes_per_node(void **state)
{
	struct aml_site site;

	(void)state;
	parse_target("MaxProcessesPerNode=8", &site);
	assert_int_equal(site.targets[0].max_processes_per_node, 8);
	aml_site_free(&site);
	parse_target("MaxProcessesPerNode=INFINITE", &site);
	assert_int_equal(site.targets[0].max_processes_per_node,
			 AML_SITE_UNLIMITED);
	aml_site_free(&site);
	target_fails("MaxProcessesPerNode=0",
		     "aml.conf: line 1: MaxProcessesPerNode: must be a whole "
		     "number from 1 to 10000 or UNLIMITED, got \"0\"");
	target_fails("MaxProcessesPerNode=10001",
		     "aml.conf: line 1: MaxProcessesPerNode: must be a whole "
		     "number from 1 to 10000 or UNLIMITED, got \"10001\"");
}

static void test_target_allow_lists(void **state)
{
	static const char *const bad[] = {
		"alice,,bob", ",alice", "alice,", ",", "alice, bob",
	};
	struct aml_site site;
	char keys[128], expected[512];

	(void)state;
	parse_target("AllowUsers=alice AllowAccounts=ml", &site);
	assert_int_equal(site.targets[0].n_allow_users, 1);
	assert_string_equal(site.targets[0].allow_users[0], "alice");
	assert_int_equal(site.targets[0].n_allow_accounts, 1);
	assert_string_equal(site.targets[0].allow_accounts[0], "ml");
	aml_site_free(&site);
	/* Names are kept as written: Slurm's user and account names are
	 * case-sensitive. */
	parse_target("AllowUsers=Alice,bob.smith,c_d-e", &site);
	assert_int_equal(site.targets[0].n_allow_users, 3);
	assert_string_equal(site.targets[0].allow_users[0], "Alice");
	assert_string_equal(site.targets[0].allow_users[1], "bob.smith");
	assert_string_equal(site.targets[0].allow_users[2], "c_d-e");
	aml_site_free(&site);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(keys, sizeof(keys), "AllowUsers=\"%s\"", bad[i]);
		snprintf(expected, sizeof(expected),
			 "aml.conf: line 1: AllowUsers: must be a comma-separated"
			 " list of names, with no empty items or blanks, got "
			 "\"%s\"", bad[i]);
		target_fails(keys, expected);
		snprintf(keys, sizeof(keys), "AllowAccounts=\"%s\"", bad[i]);
		snprintf(expected, sizeof(expected),
			 "aml.conf: line 1: AllowAccounts: must be a "
			 "comma-separated list of names, with no empty items or "
			 "blanks, got \"%s\"", bad[i]);
		target_fails(keys, expected);
	}
}

static void test_target_default_yes(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("ComputeTarget=cpu Partition=debug Default=NO\n"
		 "ComputeTarget=gpu Partition=gpu Default=YES\n", &site);
	assert_string_equal(site.default_target, "gpu");
	aml_site_free(&site);
	parse_ok("ComputeTarget=cpu Partition=debug Default=no\n"
		 "ComputeTarget=gpu Partition=gpu Default=off\n", &site);
	assert_string_equal(site.default_target, "cpu");
	aml_site_free(&site);
	parse_fails("ComputeTarget=cpu Partition=debug Default=sometimes\n",
		    "aml.conf: line 1: Default: must be yes or no (or "
		    "true/false, 1/0, on/off), got \"sometimes\"");
}

static void test_two_default_yes_refused(void **state)
{
	(void)state;
	parse_fails("ComputeTarget=cpu Partition=debug Default=YES\n"
		    "ComputeTarget=gpu Partition=gpu Default=yes\n",
		    "aml.conf: line 2: Default: only one ComputeTarget may have "
		    "Default=YES (cpu on line 1 already has), got \"yes\"");
}

static void test_default_target_conflicts_with_default_yes(void **state)
{
	struct aml_site site;

	(void)state;
	parse_fails("DefaultTarget=cpu\n"
		    "ComputeTarget=cpu Partition=debug\n"
		    "ComputeTarget=gpu Partition=gpu Default=YES\n",
		    "aml.conf: line 1: DefaultTarget: conflicts with Default=YES "
		    "on ComputeTarget gpu (line 3), got \"cpu\"");
	/* Saying the same thing twice is not a conflict. */
	parse_ok("DefaultTarget=gpu\n"
		 "ComputeTarget=cpu Partition=debug\n"
		 "ComputeTarget=gpu Partition=gpu Default=YES\n", &site);
	assert_string_equal(site.default_target, "gpu");
	aml_site_free(&site);
}

static void test_target_names(void **state)
{
	static const char *const good[] = {
		"cpu", "gpu-cluster", "a100_x8", "v1.2", "A", "0", "-", ".",
		/* The planner gives a run asking for "local" this target. */
		"local",
	};
	struct aml_site site;
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		snprintf(text, sizeof(text), "ComputeTarget=%s Partition=p\n",
			 good[i]);
		parse_ok(text, &site);
		assert_string_equal(site.targets[0].name, good[i]);
		aml_site_free(&site);
	}
	parse_fails("ComputeTarget=\"gpu cluster\" Partition=gpu\n",
		    "aml.conf: line 1: ComputeTarget: must be a name of letters, "
		    "digits, '.', '_' and '-', got \"gpu cluster\"");
	parse_fails("ComputeTarget=gpu/a100 Partition=gpu\n",
		    "aml.conf: line 1: ComputeTarget: must be a name of letters, "
		    "digits, '.', '_' and '-', got \"gpu/a100\"");
	parse_fails("ComputeTarget=gp\xc3\xbc Partition=gpu\n",
		    "aml.conf: line 1: ComputeTarget: must be a name of letters, "
		    "digits, '.', '_' and '-', got \"gp\xc3\xbc\"");
	parse_fails("ComputeTarget=a,b Partition=gpu\n",
		    "aml.conf: line 1: ComputeTarget: must be a name of letters, "
		    "digits, '.', '_' and '-', got \"a,b\"");
	parse_fails("ComputeTarget= Partition=gpu\n",
		    "aml.conf: line 1: ComputeTarget: must not be empty, got "
		    "\"\"");
	/* A DefaultTarget naming the bad target is not a second error. */
	parse_fails("DefaultTarget=gpu/a100\n"
		    "ComputeTarget=gpu/a100 Partition=gpu\n",
		    "aml.conf: line 2: ComputeTarget: must be a name of letters, "
		    "digits, '.', '_' and '-', got \"gpu/a100\"");
}

static void test_find_target(void **state)
{
	struct aml_site site;
	const struct aml_target *t;

	(void)state;
	parse_ok("ComputeTarget=cpu Partition=debug\n"
		 "ComputeTarget=gpu Partition=gpu\n", &site);
	t = aml_site_find_target(&site, "gpu");
	assert_non_null(t);
	assert_string_equal(t->partition, "gpu");
	assert_int_equal(t->line, 2);
	assert_ptr_equal(aml_site_find_target(&site, "cpu"), &site.targets[0]);
	assert_null(aml_site_find_target(&site, "GPU"));
	assert_null(aml_site_find_target(&site, "gp"));
	assert_null(aml_site_find_target(&site, NULL));
	assert_null(aml_site_find_target(NULL, "cpu"));
	aml_site_free(&site);
}

/* ---------------------------------------------------------------------- */
/* Syntax                                                                 */

static void test_keys_are_case_insensitive(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("historydir=/a\nSNAPSHOTDIR=/b\nrUnDiR=/c\n"
		 "computetarget=cpu partition=debug MAXNODES=3 gres=gpu:1\n",
		 &site);
	assert_string_equal(site.history_dir, "/a");
	assert_string_equal(site.snapshot_dir, "/b");
	assert_string_equal(site.run_dir, "/c");
	assert_string_equal(site.targets[0].name, "cpu");
	assert_int_equal(site.targets[0].max_nodes, 3);
	assert_string_equal(site.targets[0].gres, "gpu:1");
	aml_site_free(&site);
}

static void test_values_are_case_sensitive(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("HistoryDir=/Shared/AML\n"
		 "ComputeTarget=CPU Partition=Debug QOS=High\n"
		 "ComputeTarget=cpu Partition=debug\n", &site);
	assert_string_equal(site.history_dir, "/Shared/AML");
	assert_string_equal(site.targets[0].name, "CPU");
	assert_string_equal(site.targets[0].partition, "Debug");
	assert_string_equal(site.targets[0].qos, "High");
	assert_string_equal(site.targets[1].name, "cpu");
	aml_site_free(&site);
	parse_fails("DefaultTarget=Cpu\n" BASE,
		    "aml.conf: line 1: DefaultTarget: must name a ComputeTarget "
		    "(known: cpu), got \"Cpu\"");
}

static void test_comments_blank_lines_and_whitespace(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("# aml.conf\n"
		 "\n"
		 "   \t\n"
		 "   # indented comment\n"
		 "  HistoryDir=/a/b   # trailing comment\n"
		 "\tRunDir=/c\t\n"
		 "#ComputeTarget=ignored Partition=x\n"
		 "ComputeTarget=cpu    Partition=debug\t MaxNodes=2#comment\n"
		 "# the end", &site);
	assert_string_equal(site.history_dir, "/a/b");
	assert_string_equal(site.run_dir, "/c");
	assert_int_equal(site.n_targets, 1);
	assert_int_equal(site.targets[0].max_nodes, 2);
	assert_int_equal(site.targets[0].line, 8);
	aml_site_free(&site);
}

static void test_hash_ends_a_value(void **state)
{
	struct aml_site site;

	(void)state;
	/* As in slurm.conf: '#' starts a comment even inside a value or
	 * quotes; "\#" is a literal '#'. */
	parse_ok("HistoryDir=/a#b\nRunDir=/c\\#d\n" BASE, &site);
	assert_string_equal(site.history_dir, "/a");
	assert_string_equal(site.run_dir, "/c#d");
	aml_site_free(&site);
	parse_fails("HistoryDir=\"/a#b\"\n" BASE,
		    "aml.conf: line 1: HistoryDir: unterminated quote, got "
		    "\"/a\"");
}

static void test_escapes_and_quotes(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("HistoryDir=\"/srv/aml history\"\n"
		 "SnapshotDir=/srv/aml\\ snapshots\n"
		 "RunDir=/tmp/a\\\\b\n"
		 "DefaultInterpreter=/opt/\"my python\"/bin/python\n"
		 BASE, &site);
	assert_string_equal(site.history_dir, "/srv/aml history");
	assert_string_equal(site.snapshot_dir, "/srv/aml snapshots");
	assert_string_equal(site.run_dir, "/tmp/a\\b");
	assert_string_equal(site.default_interpreter,
			    "/opt/my python/bin/python");
	aml_site_free(&site);
	parse_fails("HistoryDir=\"/srv/aml\n" BASE,
		    "aml.conf: line 1: HistoryDir: unterminated quote, got "
		    "\"/srv/aml\"");
	/* An '=' in quotes or escaped is not the separator. */
	parse_fails("\"HistoryDir=/a\"\n" BASE,
		    "aml.conf: line 1: expected Key=Value, got "
		    "\"HistoryDir=/a\"");
	parse_fails("HistoryDir\\=/a\n" BASE,
		    "aml.conf: line 1: expected Key=Value, got "
		    "\"HistoryDir=/a\"");
	/* An '=' in a value is part of it. */
	parse_ok("HistoryDir=/a=b\n" BASE, &site);
	assert_string_equal(site.history_dir, "/a=b");
	aml_site_free(&site);
}

static void test_line_continuation(void **state)
{
	struct aml_site site;
	const struct aml_target *t;

	(void)state;
	parse_ok("ComputeTarget=gpu-cluster Partition=gpu \\\n"
		 "    Gres=gpu:4 \\   \n"
		 "    MaxNodes=2 \\ # a comment after the backslash\n"
		 "    MaxTime=1-00:00:00\n"
		 "HistoryDir=/h\n", &site);
	t = &site.targets[0];
	assert_string_equal(t->gres, "gpu:4");
	assert_int_equal(t->max_nodes, 2);
	assert_true(t->max_time_seconds == 86400);
	assert_int_equal(t->line, 1);
	assert_string_equal(site.history_dir, "/h");
	aml_site_free(&site);
	/* Joined without a separator, as Slurm does. */
	parse_ok("ComputeTarget=c Partition=p MaxNodes=1\\\n6\n", &site);
	assert_int_equal(site.targets[0].max_nodes, 16);
	aml_site_free(&site);
	/* An escaped backslash does not continue the line. */
	parse_ok("ComputeTarget=c Partition=p Constraint=a\\\\\n"
		 "HistoryDir=/h\n", &site);
	assert_string_equal(site.targets[0].constraint, "a\\");
	assert_string_equal(site.history_dir, "/h");
	aml_site_free(&site);
	/* A backslash on the last line ends the file. */
	parse_ok(BASE "HistoryDir=/h \\", &site);
	assert_string_equal(site.history_dir, "/h");
	aml_site_free(&site);
}

static void test_continued_line_errors_name_their_own_line(void **state)
{
	(void)state;
	parse_fails("ComputeTarget=gpu Partition=gpu \\\n"
		    "    Gres=gpu:4 \\\n"
		    "    MaxNodes=zero\n",
		    "aml.conf: line 3: MaxNodes: must be a whole number from 1 to "
		    "100000 or UNLIMITED, got \"zero\"");
}

static void test_crlf_line_endings(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok("# windows\r\n"
		 "HistoryDir=/a\r\n"
		 "\r\n"
		 "ComputeTarget=gpu Partition=gpu \\\r\n"
		 "    MaxNodes=2\r\n", &site);
	assert_string_equal(site.history_dir, "/a");
	assert_string_equal(site.targets[0].partition, "gpu");
	assert_int_equal(site.targets[0].max_nodes, 2);
	aml_site_free(&site);
	parse_fails("HistoryDir=a\r\n" BASE,
		    "aml.conf: line 1: HistoryDir: must be an absolute path, got "
		    "\"a\"");
}

static void test_nul_byte_refused(void **state)
{
	static const char text[] = "HistoryDir=/a\0b\n" BASE;
	static const char in_comment[] = BASE "# x\0y\n";
	static const char third[] = BASE "\n  \0\nRunDir=/r\n";

	(void)state;
	parse_fails_n(text, sizeof(text) - 1,
		      "aml.conf: line 1: contains a NUL byte");
	parse_fails_n(in_comment, sizeof(in_comment) - 1,
		      "aml.conf: line 2: contains a NUL byte");
	parse_fails_n(third, sizeof(third) - 1,
		      "aml.conf: line 3: contains a NUL byte");
}

static void test_control_characters_refused(void **state)
{
	(void)state;
	parse_fails("HistoryDir=/a\x01" "b\n" BASE,
		    "aml.conf: line 1: HistoryDir: must not contain control "
		    "characters, got \"/a\\x01b\"");
	parse_fails("HistoryDir=\"/a\tb\"\n" BASE,
		    "aml.conf: line 1: HistoryDir: must not contain control "
		    "characters, got \"/a\\x09b\"");
}

static void test_not_key_value(void **state)
{
	(void)state;
	parse_fails("HistoryDir\n" BASE,
		    "aml.conf: line 1: expected Key=Value, got \"HistoryDir\"");
	parse_fails("=/a\n" BASE,
		    "aml.conf: line 1: expected Key=Value, got \"=/a\"");
	parse_fails("ComputeTarget=cpu Partition=debug gpu\n",
		    "aml.conf: line 1: expected Key=Value, got \"gpu\"");
	parse_fails("HistoryDir=\n" BASE,
		    "aml.conf: line 1: HistoryDir: must not be empty, got \"\"");
}

static void test_values_in_messages_are_escaped_and_cut(void **state)
{
	char text[512], expected[512];

	(void)state;
	parse_fails("HistoryDir=rel\\\"x\\\\y\n" BASE,
		    "aml.conf: line 1: HistoryDir: must be an absolute path, got "
		    "\"rel\\\"x\\\\y\"");
	snprintf(text, sizeof(text), "HistoryDir=%0100d\n" BASE, 0);
	snprintf(expected, sizeof(expected),
		 "aml.conf: line 1: HistoryDir: must be an absolute path, got "
		 "\"%060d...\"", 0);
	parse_fails(text, expected);
}

/* ---------------------------------------------------------------------- */
/* Duplicates, unknown keys, placement                                    */

static void test_duplicate_global_key_refused(void **state)
{
	(void)state;
	parse_fails("HistoryDir=/a\nhistorydir=/b\n" BASE,
		    "aml.conf: line 2: HistoryDir: duplicate key (first set on "
		    "line 1), got \"/b\"");
	/* Even with the same value: one of them is a leftover. */
	parse_fails("RunDir=/r RunDir=/r\n" BASE,
		    "aml.conf: line 1: RunDir: duplicate key (first set on line "
		    "1), got \"/r\"");
}

static void test_duplicate_target_name_refused(void **state)
{
	(void)state;
	parse_fails("ComputeTarget=cpu Partition=a\n"
		    "ComputeTarget=gpu Partition=g\n"
		    "ComputeTarget=cpu Partition=b\n",
		    "aml.conf: line 3: ComputeTarget: duplicate target name "
		    "(first defined on line 1), got \"cpu\"");
}

static void test_duplicate_key_on_target_line_refused(void **state)
{
	(void)state;
	parse_fails("ComputeTarget=cpu Partition=debug MaxNodes=2 maxnodes=3\n",
		    "aml.conf: line 1: MaxNodes: duplicate key on this "
		    "ComputeTarget line (first set on line 1), got \"3\"");
	parse_fails("ComputeTarget=cpu Partition=debug \\\n"
		    "  Partition=long\n",
		    "aml.conf: line 2: Partition: duplicate key on this "
		    "ComputeTarget line (first set on line 1), got \"long\"");
}

static void test_unknown_key_suggests(void **state)
{
	(void)state;
	parse_fails("HistroyDir=/x\n" BASE,
		    "aml.conf: line 1: HistroyDir: unknown key (did you mean "
		    "HistoryDir?), got \"/x\"");
	parse_fails("snapshot_max_size=1G\n" BASE,
		    "aml.conf: line 1: snapshot_max_size: unknown key (did you "
		    "mean SnapshotMaxSize?), got \"1G\"");
	parse_fails("ComputeTarget=cpu Partition=debug MaxNode=2\n",
		    "aml.conf: line 1: MaxNode: unknown key (did you mean "
		    "MaxNodes?), got \"2\"");
	parse_fails("Frobnicate=1\n" BASE,
		    "aml.conf: line 1: Frobnicate: unknown key, got \"1\"");
}

static void test_keys_on_the_wrong_line(void **state)
{
	(void)state;
	parse_fails("Partition=gpu\n" BASE,
		    "aml.conf: line 1: Partition: only valid on a ComputeTarget "
		    "line, got \"gpu\"");
	parse_fails("ComputeTarget=cpu Partition=debug HistoryDir=/x\n",
		    "aml.conf: line 1: HistoryDir: is a global key, not valid on "
		    "a ComputeTarget line, got \"/x\"");
	parse_fails("HistoryDir=/x ComputeTarget=cpu Partition=debug\n",
		    "aml.conf: line 1: ComputeTarget: must be the first key on "
		    "its line, got \"cpu\"");
	parse_fails("ComputeTarget=cpu Partition=debug ComputeTarget=gpu\n",
		    "aml.conf: line 1: ComputeTarget: one per line; start a new "
		    "line, got \"gpu\"");
}

/* ---------------------------------------------------------------------- */
/* Whole file                                                             */

static void test_no_compute_target_refused(void **state)
{
	(void)state;
	parse_fails("HistoryDir=/h\n",
		    "aml.conf: no ComputeTarget defined; at least one is "
		    "required");
	parse_fails("", "aml.conf: no ComputeTarget defined; at least one is "
		    "required");
	parse_fails_n(NULL, 0, "aml.conf: no ComputeTarget defined; at least "
		      "one is required");
	parse_fails("# only a comment\n\n",
		    "aml.conf: no ComputeTarget defined; at least one is "
		    "required");
}

static void test_every_error_is_reported_in_line_order(void **state)
{
	(void)state;
	parse_fails("# site policy\n"
		    "HistoryDir=relative/history\n"
		    "SnapshotMaxSize=lots\n"
		    "ComputeTarget=cpu Partition=debug\n"
		    "ComputeTarget=gpu Partition=gpu MaxNodes=0\n",
		    "aml.conf: line 2: HistoryDir: must be an absolute path, got "
		    "\"relative/history\"\n"
		    "aml.conf: line 3: SnapshotMaxSize: must be a size of at "
		    "least 1 byte: a whole number with an optional K, M, G or T "
		    "suffix (powers of 1024), got \"lots\"\n"
		    "aml.conf: line 5: MaxNodes: must be a whole number from 1 to "
		    "100000 or UNLIMITED, got \"0\"");
	/* Found at the end of the file, reported at their own line. */
	parse_fails("DefaultTarget=nope\n"
		    "ComputeTarget=cpu Partition=debug\n"
		    "RunDir=r\n"
		    "ComputeTarget=cpu Partition=debug\n",
		    "aml.conf: line 1: DefaultTarget: must name a ComputeTarget "
		    "(known: cpu), got \"nope\"\n"
		    "aml.conf: line 3: RunDir: must be an absolute path, got "
		    "\"r\"\n"
		    "aml.conf: line 4: ComputeTarget: duplicate target name "
		    "(first defined on line 2), got \"cpu\"");
}

static void test_too_many_errors_are_summarised(void **state)
{
	size_t len = 1500 * 4;
	char *text = malloc(len + 1);
	struct aml_site site;
	struct aml_errors errs;

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < 1500; i++)
		memcpy(text + i * 4, "bad\n", 4);
	text[len] = '\0';
	assert_int_equal(parse_n(text, len, &site, &errs), -1);
	assert_int_equal(errs.count, 1001);
	assert_string_equal(errs.lines[0],
			    "aml.conf: line 1: expected Key=Value, got \"bad\"");
	assert_string_equal(errs.lines[999],
			    "aml.conf: line 1000: expected Key=Value, got "
			    "\"bad\"");
	assert_string_equal(errs.lines[1000],
			    "aml.conf: 501 more errors not shown");
	aml_errors_free(&errs);
	free(text);
}

static void test_many_targets_parse_quickly(void **state)
{
	enum { N = 20000 };
	size_t cap = (size_t)N * 48, at = 0;
	char *text = malloc(cap);
	struct aml_site site;

	(void)state;
	assert_non_null(text);
	for (int i = 0; i < N; i++)
		at += (size_t)snprintf(text + at, cap - at,
				       "ComputeTarget=t%d Partition=p%d\n",
				       N - i, i);
	parse_ok(text, &site);
	assert_int_equal(site.n_targets, N);
	assert_string_equal(site.default_target, "t20000");
	assert_string_equal(aml_site_find_target(&site, "t1")->partition,
			    "p19999");
	aml_site_free(&site);
	free(text);
}

static void test_errors_name_the_given_file(void **state)
{
	struct aml_site site;
	struct aml_errors errs;

	(void)state;
	/* Whatever the list was started with, lines name [filename]. */
	aml_errors_init(&errs, "something-else");
	assert_int_equal(aml_site_parse("RunDir=r\n" BASE, strlen(BASE) + 9,
					"/etc/slurm/aml.conf", &site, &errs),
			 -1);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.lines[0], "/etc/slurm/aml.conf: line 1: "
			    "RunDir: must be an absolute path, got \"r\"");
	assert_string_equal(errs.file, "something-else");
	/* Appended after what the list already held. */
	assert_int_equal(aml_site_parse("", 0, NULL, &site, &errs), -1);
	assert_int_equal(errs.count, 2);
	assert_string_equal(errs.lines[1], "something-else: no ComputeTarget "
			    "defined; at least one is required");
	aml_errors_free(&errs);
}

static void test_free_twice_is_harmless(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok(BASE, &site);
	aml_site_free(&site);
	aml_site_free(&site);
	aml_site_free(NULL);
}

/* ---------------------------------------------------------------------- */
/* Files and paths                                                        */

static void test_load_missing_file(void **state)
{
	struct aml_site site;
	struct aml_errors errs;

	(void)state;
	memset(&site, 0x5a, sizeof(site));
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_site_load("/nonexistent/aml.conf", &site, &errs),
			 -1);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.lines[0], "/nonexistent/aml.conf: cannot "
			    "read: No such file or directory");
	assert_null(site.targets);
	assert_null(site.path);
	aml_errors_free(&errs);
}

static void test_load_directory(void **state)
{
	struct aml_site site;
	struct aml_errors errs;

	(void)state;
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_site_load("/", &site, &errs), -1);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.lines[0],
			    "/: cannot read: not a regular file");
	aml_errors_free(&errs);
}

static void test_load_file(void **state)
{
	static const char text[] = "HistoryDir=/h\nComputeTarget=cpu "
				   "Partition=debug MaxNodes=x\n";
	char path[] = "/tmp/test_site_XXXXXX";
	struct aml_site site;
	struct aml_errors errs;
	char expected[256];
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
			 (ssize_t)(sizeof(text) - 1));
	close(fd);
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_site_load(path, &site, &errs), -1);
	snprintf(expected, sizeof(expected), "%s: line 2: MaxNodes: must be a "
		 "whole number from 1 to 100000 or UNLIMITED, got \"x\"", path);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.lines[0], expected);
	aml_errors_free(&errs);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, BASE, strlen(BASE)), (ssize_t)strlen(BASE));
	close(fd);
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_site_load(path, &site, &errs), 0);
	assert_int_equal(errs.count, 0);
	assert_string_equal(site.path, path);
	assert_string_equal(site.default_target, "cpu");
	aml_site_free(&site);
	aml_errors_free(&errs);
	unlink(path);
}

static void test_default_path_aml_conf(void **state)
{
	char buf[PATH_MAX];

	(void)state;
	setenv("AML_CONF", "/srv/conf/aml-test.conf", 1);
	setenv("SLURM_CONF", "/etc/slurm-llnl/slurm.conf", 1);
	assert_int_equal(aml_site_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/srv/conf/aml-test.conf");
	unsetenv("AML_CONF");
	unsetenv("SLURM_CONF");
}

static void test_default_path_slurm_conf(void **state)
{
	char buf[PATH_MAX];

	(void)state;
	unsetenv("AML_CONF");
	setenv("SLURM_CONF", "/etc/slurm-llnl/slurm.conf", 1);
	assert_int_equal(aml_site_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/etc/slurm-llnl/aml.conf");
	setenv("SLURM_CONF", "/cluster.conf", 1);
	assert_int_equal(aml_site_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/aml.conf");
	setenv("SLURM_CONF", "slurm.conf", 1);
	assert_int_equal(aml_site_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "aml.conf");
	/* An empty AML_CONF counts as unset. */
	setenv("AML_CONF", "", 1);
	setenv("SLURM_CONF", "/x/slurm.conf", 1);
	assert_int_equal(aml_site_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/x/aml.conf");
	unsetenv("AML_CONF");
	unsetenv("SLURM_CONF");
}

static void test_default_path_neither(void **state)
{
	char buf[PATH_MAX];

	(void)state;
	unsetenv("AML_CONF");
	unsetenv("SLURM_CONF");
	assert_int_equal(aml_site_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/etc/slurm/aml.conf");
}

static void test_default_path_too_small(void **state)
{
	char buf[32];

	(void)state;
	unsetenv("AML_CONF");
	unsetenv("SLURM_CONF");
	/* "/etc/slurm/aml.conf" is 19 bytes and its NUL. */
	assert_int_equal(aml_site_default_path(buf, 20), 0);
	assert_string_equal(buf, "/etc/slurm/aml.conf");
	assert_int_equal(aml_site_default_path(buf, 19), -1);
	assert_string_equal(buf, "");
	assert_int_equal(aml_site_default_path(buf, 0), -1);
}

/* ---------------------------------------------------------------------- */
/* tests/data/site                                                        */

/* Every name.conf there: with a name.err beside it, parsing must give
 * exactly those lines; without, it must succeed. */
static void run_data_files(int want_invalid)
{
	const char *data = test_data();
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *entry;
	int seen = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/site", data);
	d = opendir(dir);
	assert_non_null(d);
	while ((entry = readdir(d))) {
		size_t n = strlen(entry->d_name), conf_len, err_len;
		char *conf, *err, *joined;
		struct aml_site site;
		struct aml_errors errs;
		int rc;

		if (n < 6 || strcmp(entry->d_name + n - 5, ".conf") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%.*s.err", dir, (int)(n - 5),
			 entry->d_name);
		err = read_whole(path, &err_len);
		if ((err != NULL) != want_invalid) {
			free(err);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		conf = read_whole(path, &conf_len);
		assert_non_null(conf);
		aml_errors_init(&errs, NULL);
		rc = aml_site_parse(conf, conf_len, entry->d_name, &site,
				    &errs);
		joined = joined_errors(&errs);
		if (err) {
			/* The .err file ends with a newline; the list not. */
			if (err_len && err[err_len - 1] == '\n')
				err[err_len - 1] = '\0';
			if (!joined || strcmp(joined, err) != 0)
				print_error("%s:\nexpected:\n%s\ngot:\n%s\n",
					    entry->d_name, err,
					    joined ? joined : "(nothing)");
			assert_int_equal(rc, -1);
			assert_non_null(joined);
			assert_string_equal(joined, err);
		} else {
			if (rc != 0)
				print_error("%s:\n%s\n", entry->d_name,
					    joined ? joined : "(nothing)");
			assert_int_equal(rc, 0);
			aml_site_free(&site);
		}
		free(joined);
		free(conf);
		free(err);
		aml_errors_free(&errs);
		seen++;
	}
	closedir(d);
	assert_true(seen > 0);
}

static void test_data_valid_files(void **state)
{
	(void)state;
	run_data_files(0);
}

static void test_data_invalid_files(void **state)
{
	(void)state;
	run_data_files(1);
}

static void test_contrib_example_is_valid(void **state)
{
	const char *data = test_data();
	char path[PATH_MAX];
	struct aml_site site;
	struct aml_errors errs;
	const struct aml_target *cpu, *gpu;

	(void)state;
	snprintf(path, sizeof(path), "%s/../../contrib/aml.conf", data);
	aml_errors_init(&errs, NULL);
	if (aml_site_load(path, &site, &errs) != 0) {
		char *joined = joined_errors(&errs);

		print_error("%s\n", joined ? joined : "");
		free(joined);
		fail();
	}
	cpu = aml_site_find_target(&site, "cpu");
	gpu = aml_site_find_target(&site, "gpu-cluster");
	assert_non_null(cpu);
	assert_non_null(gpu);
	assert_string_equal(cpu->partition, "debug");
	assert_string_equal(gpu->partition, "gpu");
	assert_string_equal(gpu->gres, "gpu:4");
	assert_string_equal(site.default_target, "cpu");
	aml_site_free(&site);
	aml_errors_free(&errs);
}


/* DataDownloadHosts, DataDownloadMax, DataCacheDir, DataDownloadCAFile
 * and DataStorageAccount lines. */
static void test_download_keys(void **state)
{
	struct aml_site site;

	(void)state;
	parse_ok(BASE, &site);
	assert_int_equal(site.data.n_download_hosts, 0);
	assert_true(site.data_download_max == (uint64_t)10 << 30);
	assert_string_equal(site.data_cache_dir, "/var/lib/aml/data");
	assert_null(site.data_download_ca_file);
	aml_site_free(&site);

	parse_ok(BASE "DataDownloadHosts=data.example.org,*.blob.example.net\n"
		 "DataDownloadMax=2G\nDataCacheDir=/scratch/aml-data\n"
		 "DataDownloadCAFile=/etc/aml/ca.pem\n"
		 "DataStorageAccount=mlstore01 Path=/lustre/azure/\n", &site);
	assert_int_equal(site.data.n_download_hosts, 2);
	assert_string_equal(site.data.download_hosts[1], "*.blob.example.net");
	assert_true(site.data_download_max == (uint64_t)2 << 30);
	assert_string_equal(site.data_cache_dir, "/scratch/aml-data");
	assert_string_equal(site.data_download_ca_file, "/etc/aml/ca.pem");
	assert_int_equal(site.data.n_accounts, 1);
	assert_string_equal(site.data.accounts[0].path, "/lustre/azure");
	assert_non_null(aml_datamap_find_account(&site.data, "MLSTORE01", 9));
	aml_site_free(&site);

	parse_fails(BASE "DataDownloadHosts=data.example.org,http://x\n",
		    "aml.conf: line 2: DataDownloadHosts: \"http://x\" is not a "
		    "host: a host name (letters, digits, inner '-', joined by "
		    "'.') or *.DOMAIN for every host below DOMAIN, got "
		    "\"data.example.org,http://x\"");
	parse_fails(BASE "DataDownloadHosts=*\n",
		    "aml.conf: line 2: DataDownloadHosts: \"*\" is not a host: "
		    "a host name (letters, digits, inner '-', joined by '.') "
		    "or *.DOMAIN for every host below DOMAIN, got \"*\"");
	parse_fails(BASE "DataDownloadMax=0\n",
		    "aml.conf: line 2: DataDownloadMax: must be a size of at "
		    "least 1 byte: a whole number with an optional K, M, G or "
		    "T suffix (powers of 1024), got \"0\"");
	parse_fails(BASE "DataCacheDir=data\n",
		    "aml.conf: line 2: DataCacheDir: must be an absolute path, "
		    "got \"data\"");
	parse_fails(BASE "DataStorageAccount=ML_store Path=/x\n",
		    "aml.conf: line 2: DataStorageAccount: must be a storage "
		    "account's name: 3 to 24 lowercase letters and digits, got "
		    "\"ML_store\"");
	parse_fails(BASE "DataStorageAccount=acct Path=/x Default=yes\n",
		    "aml.conf: line 2: Default: not valid on a "
		    "DataStorageAccount line (it takes Path), got \"yes\"");
	parse_fails(BASE "DataStorageAccount=acct Path=/x\n"
		    "DataStorageAccount=acct Path=/y\n",
		    "aml.conf: line 3: DataStorageAccount: acct is mapped twice "
		    "(first on line 2)");
}

/* Datastore= and DataAsset= lines: the map datamap.h resolves through. */
static void test_data_lines(void **state)
{
	struct aml_site site;
	const struct aml_data_asset *a;

	(void)state;
	parse_ok(BASE "Datastore=workspaceblobstore Path=/lustre/blob/ "
		 "Default=yes\n"
		 "datastore=scratch path=/scratch\n"
		 "DataAsset=cifar10:2 Path=/data/cifar10 Type=uri_folder\n"
		 "DataAsset=cifar10:10 Path=/data/cifar10-v10\n"
		 "DataAsset=iris:1 Path=/data/iris.csv Type=uri_file\n", &site);
	assert_int_equal(site.data.n_stores, 2);
	assert_string_equal(site.data.stores[0].path, "/lustre/blob");
	assert_int_equal(site.data.stores[0].is_default, 1);
	assert_int_equal(site.data.stores[1].is_default, 0);
	assert_string_equal(aml_datamap_find_store(&site.data, NULL)->name,
			    "workspaceblobstore");
	a = aml_datamap_find_asset(&site.data, "cifar10", NULL);
	assert_non_null(a);
	assert_string_equal(a->version, "10");
	assert_int_equal(a->kind, AML_DATA_ANY);
	assert_int_equal(aml_datamap_find_asset(&site.data, "cifar10", "2")->kind,
			 AML_DATA_FOLDER);
	assert_int_equal(aml_datamap_find_asset(&site.data, "iris", "1")->kind,
			 AML_DATA_FILE);
	assert_null(aml_datamap_find_asset(&site.data, "iris", "2"));
	aml_site_free(&site);

	parse_ok(BASE "Datastore=root Path=/\n", &site);
	assert_string_equal(site.data.stores[0].path, "/");
	assert_null(aml_datamap_find_store(&site.data, NULL));
	aml_site_free(&site);

	parse_fails(BASE "Datastore=a Path=rel\n",
		    "aml.conf: line 2: Path: must be an absolute path, got "
		    "\"rel\"");
	parse_fails(BASE "Datastore=a\n",
		    "aml.conf: line 2: Datastore: must have a Path, got \"a\"");
	parse_fails(BASE "Datastore=a/b Path=/x\n",
		    "aml.conf: line 2: Datastore: must be a name of letters, "
		    "digits, '.', '_' and '-', got \"a/b\"");
	parse_fails(BASE "Datastore=a Path=/x Default=yes\n"
		    "Datastore=b Path=/y Default=yes\n",
		    "aml.conf: line 3: Default: only one Datastore may have "
		    "Default=yes (line 2 already has), got \"yes\"");
	parse_fails(BASE "Datastore=a Path=/x\nDatastore=b Path=/y\n"
		    "Datastore=a Path=/z\n",
		    "aml.conf: line 4: Datastore: a is mapped twice (first on "
		    "line 2)");
	parse_fails(BASE "Datastore=a Path=/x Type=uri_file\n",
		    "aml.conf: line 2: Type: not valid on a Datastore line (it "
		    "takes Path and Default), got \"uri_file\"");
	parse_fails(BASE "DataAsset=a Path=/x\n",
		    "aml.conf: line 2: DataAsset: must be NAME:VERSION (a data "
		    "asset is mapped one version at a time), got \"a\"");
	parse_fails(BASE "DataAsset=a:1:2 Path=/x\n",
		    "aml.conf: line 2: DataAsset: must be NAME:VERSION, each of "
		    "letters, digits, '.', '_' and '-', got \"a:1:2\"");
	parse_fails(BASE "DataAsset=a:1 Path=/x Type=mltable\n",
		    "aml.conf: line 2: Type: must be uri_file or uri_folder, "
		    "got \"mltable\"");
	parse_fails(BASE "DataAsset=a:1 Path=/x Default=yes\n",
		    "aml.conf: line 2: Default: not valid on a DataAsset line "
		    "(it takes Path and Type), got \"yes\"");
	parse_fails(BASE "DataAsset=a:1 Path=/x\nDataAsset=a:1 Path=/y\n",
		    "aml.conf: line 3: DataAsset: a:1 is mapped twice (first "
		    "on line 2)");
	parse_fails(BASE "DataAsset=a:1 Paht=/x\n",
		    "aml.conf: line 2: Paht: unknown key (did you mean Path?), "
		    "got \"/x\"\n"
		    "aml.conf: line 2: DataAsset: must have a Path, got \"a:1\"");
	parse_fails(BASE "Path=/x\n",
		    "aml.conf: line 2: Path: only valid on a Datastore, "
		    "DataAsset or DataStorageAccount line, got \"/x\"");
	parse_fails(BASE "Datastore=a Path=/x Path=/y\n",
		    "aml.conf: line 2: Path: duplicate key on this Datastore "
		    "line (first set on line 2), got \"/y\"");
	parse_fails("ComputeTarget=cpu Partition=debug Path=/p\n",
		    "aml.conf: line 1: Path: belongs on a Datastore, DataAsset "
		    "or DataStorageAccount line, not valid on a ComputeTarget "
		    "line, got "
		    "\"/p\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_minimal_file_gets_every_default),
		cmocka_unit_test(test_history_dir),
		cmocka_unit_test(test_history_backend),
		cmocka_unit_test(test_mlflow_without_history_uri_refused),
		cmocka_unit_test(test_history_uri),
		cmocka_unit_test(test_history_credentials),
		cmocka_unit_test(test_history_timeout),
		cmocka_unit_test(test_history_log_interval),
		cmocka_unit_test(test_environment_globals),
		cmocka_unit_test(test_environment_catalogue),
		cmocka_unit_test(test_run_visibility),
		cmocka_unit_test(test_snapshot_dir),
		cmocka_unit_test(test_snapshot_max_size_suffixes),
		cmocka_unit_test(test_snapshot_max_size_refused),
		cmocka_unit_test(test_snapshot_max_size_overflow),
		cmocka_unit_test(test_snapshot_max_files),
		cmocka_unit_test(test_run_dir),
		cmocka_unit_test(test_spool_dir),
		cmocka_unit_test(test_launcher),
		cmocka_unit_test(test_keep_failed_run_dir),
		cmocka_unit_test(test_kept_run_dir_max),
		cmocka_unit_test(test_booleans_all_spellings),
		cmocka_unit_test(test_container_runtime),
		cmocka_unit_test(test_container_runtimes),
		cmocka_unit_test(test_container_keys),
		cmocka_unit_test(test_catalogue_images),
		cmocka_unit_test(test_default_interpreter),
		cmocka_unit_test(test_finalize_grace),
		cmocka_unit_test(test_run_limits),
		cmocka_unit_test(test_default_target_names_a_later_target),
		cmocka_unit_test(test_default_target_is_first_when_unset),
		cmocka_unit_test(test_default_target_unknown_lists_known),
		cmocka_unit_test(test_default_target_list_is_cut),
		cmocka_unit_test(test_target_every_key),
		cmocka_unit_test(test_target_without_partition_refused),
		cmocka_unit_test(test_target_partition_qos_account_constraint),
		cmocka_unit_test(test_target_gres),
		cmocka_unit_test(test_target_max_nodes),
		cmocka_unit_test(test_target_max_time),
		cmocka_unit_test(test_target_max_processes_per_node),
		cmocka_unit_test(test_target_allow_lists),
		cmocka_unit_test(test_target_default_yes),
		cmocka_unit_test(test_two_default_yes_refused),
		cmocka_unit_test(test_default_target_conflicts_with_default_yes),
		cmocka_unit_test(test_target_names),
		cmocka_unit_test(test_find_target),
		cmocka_unit_test(test_keys_are_case_insensitive),
		cmocka_unit_test(test_values_are_case_sensitive),
		cmocka_unit_test(test_comments_blank_lines_and_whitespace),
		cmocka_unit_test(test_hash_ends_a_value),
		cmocka_unit_test(test_escapes_and_quotes),
		cmocka_unit_test(test_line_continuation),
		cmocka_unit_test(test_continued_line_errors_name_their_own_line),
		cmocka_unit_test(test_crlf_line_endings),
		cmocka_unit_test(test_nul_byte_refused),
		cmocka_unit_test(test_control_characters_refused),
		cmocka_unit_test(test_not_key_value),
		cmocka_unit_test(test_values_in_messages_are_escaped_and_cut),
		cmocka_unit_test(test_duplicate_global_key_refused),
		cmocka_unit_test(test_duplicate_target_name_refused),
		cmocka_unit_test(test_duplicate_key_on_target_line_refused),
		cmocka_unit_test(test_unknown_key_suggests),
		cmocka_unit_test(test_keys_on_the_wrong_line),
		cmocka_unit_test(test_no_compute_target_refused),
		cmocka_unit_test(test_every_error_is_reported_in_line_order),
		cmocka_unit_test(test_too_many_errors_are_summarised),
		cmocka_unit_test(test_many_targets_parse_quickly),
		cmocka_unit_test(test_errors_name_the_given_file),
		cmocka_unit_test(test_free_twice_is_harmless),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_directory),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_default_path_aml_conf),
		cmocka_unit_test(test_default_path_slurm_conf),
		cmocka_unit_test(test_default_path_neither),
		cmocka_unit_test(test_default_path_too_small),
		cmocka_unit_test(test_data_lines),
		cmocka_unit_test(test_download_keys),
		cmocka_unit_test(test_data_valid_files),
		cmocka_unit_test(test_data_invalid_files),
		cmocka_unit_test(test_contrib_example_is_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
