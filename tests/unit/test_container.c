/*
 * test_container.c: each runtime's command line and pyxis's srun options
 * (plugin/container.c), word for word, and the image's variables read
 * from its config.json.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"

static char *const command[] = { "python3", "train.py", "--lr", "0.1",
				 NULL };
static char *const site_args[] = { "--runtime", "runc",
				   "--cgroup-manager=cgroupfs", NULL };
static char *const two_binds[] = { "/data", "/scratch/u1", NULL };

/* What every podman command of the base spec holds, in its order: the
 * storage, then run's own options. */
#define PODMAN_RUN                                                        \
	"--root", "/var/tmp/aml/podman-1001/root", "--runroot",           \
		"/var/tmp/aml/podman-1001/run", "--tmpdir",                \
		"/var/tmp/aml/podman-1001/tmp", "run", "--rm", "--rootfs", \
		"--read-only", "--network=host", "--pid=host",              \
		"--userns=keep-id", "--env-host", "--log-driver=passthrough"
#define COMMAND "python3", "train.py", "--lr", "0.1"

static struct aml_container_spec base(enum aml_container_runtime r)
{
	struct aml_container_spec s = {
		.runtime = r,
		.bundle = "/var/cache/aml/img/sha256-ab",
		.image = "registry.site:5000/aml/pytorch:2.1",
		.workdir = "/var/tmp/aml/run-1",
		.storage_dir = "/var/tmp/aml/podman-1001",
		.argv = command,
	};
	return s;
}

/* [list] holds exactly the words up to NULL; the list is freed. */
static void expect_words(struct aml_strlist *list, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	for (size_t i = 0; i < n && i < list->count; i++)
		assert_string_equal(list->items[i], want[i]);
	assert_int_equal(list->count, n);
	/* exec takes it as it is. */
	assert_null(list->items[n]);
	aml_strlist_free(list);
}

static void expect_argv(const struct aml_container_spec *s,
			const char *const *want)
{
	struct aml_strlist out = { 0 };
	char err[256] = "";

	if (aml_container_argv(s, &out, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	expect_words(&out, want);
}

/* -1, [out] untouched, and a line holding [part]. */
static void expect_refused(const struct aml_container_spec *s,
			   const char *part)
{
	struct aml_strlist out = { 0 };
	char err[256] = "";

	assert_int_equal(aml_container_argv(s, &out, err, sizeof(err)), -1);
	assert_int_equal(out.count, 0);
	assert_null(out.items);
	if (!strstr(err, part))
		fail_msg("\"%s\" does not say \"%s\"", err, part);
}

static void expect_srun_refused(const struct aml_container_spec *s,
				const char *part)
{
	struct aml_strlist out = { 0 };
	char err[256] = "";

	assert_int_equal(aml_container_srun_options(s, &out, err,
						    sizeof(err)), -1);
	assert_int_equal(out.count, 0);
	if (!strstr(err, part))
		fail_msg("\"%s\" does not say \"%s\"", err, part);
}

static void test_podman_no_gpu(void **state)
{
	struct aml_container_spec s = base(AML_CONTAINER_PODMAN);
	const char *want[] = {
		"podman", "--runtime", "runc", "--cgroup-manager=cgroupfs",
		PODMAN_RUN,
		"--volume=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--workdir=/var/tmp/aml/run-1",
		"/var/cache/aml/img/sha256-ab/rootfs",
		COMMAND, NULL,
	};

	(void)state;
	s.runtime_args = site_args;
	expect_argv(&s, want);
	/* A runroot of its own: podman refuses one over 50 bytes, so the
	 * launcher's is short and elsewhere. */
	s.runroot = "/run/user/1001/aml-podman";
	want[7] = "/run/user/1001/aml-podman";
	want[9] = "/run/user/1001/aml-podman/tmp";
	expect_argv(&s, want);
	s.runroot = "run";
	expect_refused(&s, "runroot: must be an absolute path");
}

static void test_podman_gpu_binds_shm(void **state)
{
	struct aml_container_spec s = base(AML_CONTAINER_PODMAN);
	const char *want[] = {
		"podman",
		PODMAN_RUN,
		"--volume=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--volume=/data:/data",
		"--volume=/scratch/u1:/scratch/u1",
		"--workdir=/var/tmp/aml/run-1",
		"--shm-size=2147483648",
		"--device=nvidia.com/gpu=3",
		"/var/cache/aml/img/sha256-ab/rootfs",
		COMMAND, NULL,
	};
	const char *want_two[] = {
		"podman",
		PODMAN_RUN,
		"--volume=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--workdir=/var/tmp/aml/run-1",
		"--ipc=host",
		"--device=nvidia.com/gpu=0",
		"--device=nvidia.com/gpu=12",
		"/var/cache/aml/img/sha256-ab/rootfs",
		COMMAND, NULL,
	};

	(void)state;
	s.binds = two_binds;
	s.shm_bytes = 2147483648ULL;
	s.gpus = "3";
	expect_argv(&s, want);

	s = base(AML_CONTAINER_PODMAN);
	s.ipc_host = 1;
	s.gpus = "0,12";
	expect_argv(&s, want_two);
}

static void test_charliecloud(void **state)
{
	struct aml_container_spec s = base(AML_CONTAINER_CHARLIECLOUD);
	const char *want[] = {
		"ch-run",
		"--bind=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--cd=/var/tmp/aml/run-1",
		"/var/cache/aml/img/sha256-ab/rootfs", "--",
		COMMAND, NULL,
	};
	/* GPUs, shm and IPC change nothing: ch-fromhost's driver, the
	 * host's /dev/shm and IPC namespace. */
	const char *want_gpu[] = {
		"ch-run", "-v",
		"--bind=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--bind=/data:/data", "--bind=/scratch/u1:/scratch/u1",
		"--cd=/var/tmp/aml/run-1",
		"/var/cache/aml/img/sha256-ab/rootfs", "--",
		COMMAND, NULL,
	};
	char *const verbose[] = { "-v", NULL };

	(void)state;
	s.storage_dir = NULL;
	expect_argv(&s, want);
	s.gpus = "0";
	s.shm_bytes = 1 << 30;
	s.ipc_host = 1;
	s.binds = two_binds;
	s.runtime_args = verbose;
	expect_argv(&s, want_gpu);
}

/* The image's variables are set by the runtime inside the container:
 * never in the runtime's own environment on the host. */
static void test_image_env_inside(void **state)
{
	struct aml_container_spec s = base(AML_CONTAINER_CHARLIECLOUD);
	char *const env[] = { "PATH=/opt/conda/bin:/usr/bin", "LANG=C.UTF-8",
			      NULL };
	char *const comma[] = { "NV=a,b", NULL };
	const char *want_ch[] = {
		"ch-run", "--bind=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--cd=/var/tmp/aml/run-1", "--env-no-expand",
		"--set-env=PATH=/opt/conda/bin:/usr/bin",
		"--set-env=LANG=C.UTF-8",
		"/var/cache/aml/img/sha256-ab/rootfs", "--", COMMAND, NULL,
	};
	const char *want_podman[] = {
		"podman", PODMAN_RUN,
		"--volume=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--workdir=/var/tmp/aml/run-1",
		"--env=PATH=/opt/conda/bin:/usr/bin", "--env=LANG=C.UTF-8",
		"/var/cache/aml/img/sha256-ab/rootfs", COMMAND, NULL,
	};
	const char *want_apptainer[] = {
		"apptainer", "exec",
		"--bind=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--pwd=/var/tmp/aml/run-1",
		"--env=PATH=/opt/conda/bin:/usr/bin", "--env=LANG=C.UTF-8",
		"/var/cache/aml/img/sha256-ab/rootfs", COMMAND, NULL,
	};

	(void)state;
	s.env = env;
	expect_argv(&s, want_ch);
	s.runtime = AML_CONTAINER_PODMAN;
	expect_argv(&s, want_podman);
	s.runtime = AML_CONTAINER_APPTAINER;
	expect_argv(&s, want_apptainer);
	s.env = comma;
	expect_refused(&s, "the image's variable NV holds a ','");
}

/* The run's working directory below RunDir comes with RunDir's bind:
 * ch-run could not bind it alone (its mount point is not in the image). */
static void test_workdir_below_a_bind(void **state)
{
	struct aml_container_spec s = base(AML_CONTAINER_CHARLIECLOUD);
	char *const run_dir[] = { "/var/tmp/aml", NULL };
	char *const run_dir_slash[] = { "/var/tmp/aml/", NULL };
	char *const sibling[] = { "/var/tmp/am", NULL };
	const char *want[] = {
		"ch-run", "--bind=/var/tmp/aml:/var/tmp/aml",
		"--cd=/var/tmp/aml/run-1",
		"/var/cache/aml/img/sha256-ab/rootfs", "--", COMMAND, NULL,
	};
	const char *want_sibling[] = {
		"ch-run", "--bind=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--bind=/var/tmp/am:/var/tmp/am", "--cd=/var/tmp/aml/run-1",
		"/var/cache/aml/img/sha256-ab/rootfs", "--", COMMAND, NULL,
	};

	(void)state;
	s.binds = run_dir;
	expect_argv(&s, want);
	s.binds = run_dir_slash;
	want[1] = "--bind=/var/tmp/aml/:/var/tmp/aml/";
	expect_argv(&s, want);
	/* A name that only starts the same is no parent. */
	s.binds = sibling;
	expect_argv(&s, want_sibling);
}

static void test_apptainer(void **state)
{
	struct aml_container_spec s = base(AML_CONTAINER_APPTAINER);
	const char *want[] = {
		"apptainer", "exec",
		"--bind=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--pwd=/var/tmp/aml/run-1",
		"/var/cache/aml/img/sha256-ab/rootfs",
		COMMAND, NULL,
	};
	const char *want_gpu[] = {
		"apptainer", "--quiet", "exec",
		"--bind=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--bind=/data:/data", "--bind=/scratch/u1:/scratch/u1",
		"--pwd=/var/tmp/aml/run-1", "--nv",
		"/var/cache/aml/img/sha256-ab/rootfs",
		COMMAND, NULL,
	};
	char *const quiet[] = { "--quiet", NULL };

	(void)state;
	s.gpus = "";
	expect_argv(&s, want);
	s.gpus = "1";
	s.binds = two_binds;
	s.runtime_args = quiet;
	s.shm_bytes = 1 << 20;
	expect_argv(&s, want_gpu);
}

static void test_pyxis(void **state)
{
	struct aml_container_spec s = base(AML_CONTAINER_PYXIS);
	struct aml_strlist out = { 0 };
	char err[256] = "";
	const char *want[] = {
		"--container-image=registry.site:5000#aml/pytorch:2.1",
		"--container-mounts=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--container-workdir=/var/tmp/aml/run-1",
		"--no-container-remap-root", "--no-container-entrypoint",
		NULL,
	};
	const char *want_gpu[] = {
		"--container-mount-home",
		"--container-image=registry.site#aml/pytorch:sha256:0123ab",
		"--container-mounts=/var/tmp/aml/run-1:/var/tmp/aml/run-1,"
		"/data:/data,/scratch/u1:/scratch/u1",
		"--container-workdir=/var/tmp/aml/run-1",
		"--no-container-remap-root", "--no-container-entrypoint",
		NULL,
	};
	char *const home[] = { "--container-mount-home", NULL };

	(void)state;
	s.bundle = NULL;
	assert_int_equal(aml_container_srun_options(&s, &out, err,
						    sizeof(err)), 0);
	expect_words(&out, want);

	/* GPUs are enroot's hooks' and Slurm's: nothing added. */
	s.gpus = "0,1";
	s.binds = two_binds;
	s.runtime_args = home;
	s.image = "registry.site/aml/pytorch:2.1@sha256:0123ab";
	assert_int_equal(aml_container_srun_options(&s, &out, err,
						    sizeof(err)), 0);
	expect_words(&out, want_gpu);
}

/* Docker Hub names keep enroot's default registry; localhost and a
 * host:port are registries. */
static void test_pyxis_image_forms(void **state)
{
	static const struct {
		const char *image, *enroot;
	} cases[] = {
		{ "ubuntu", "ubuntu" },
		{ "ubuntu:22.04", "ubuntu:22.04" },
		{ "library/ubuntu:22.04", "library/ubuntu:22.04" },
		{ "ubuntu@sha256:ff", "ubuntu:sha256:ff" },
		{ "localhost/aml/py", "localhost#aml/py" },
		{ "127.0.0.1:5000/aml/py:3", "127.0.0.1:5000#aml/py:3" },
		{ "nvcr.io/nvidia/pytorch:24.01-py3",
		  "nvcr.io#nvidia/pytorch:24.01-py3" },
	};
	char want[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml_container_spec s = base(AML_CONTAINER_PYXIS);
		struct aml_strlist out = { 0 };
		char err[256] = "";

		s.image = cases[i].image;
		if (aml_container_srun_options(&s, &out, err,
					       sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].image, err);
		snprintf(want, sizeof(want), "--container-image=%s",
			 cases[i].enroot);
		assert_string_equal(out.items[0], want);
		aml_strlist_free(&out);
	}
}

static void test_pyxis_refused(void **state)
{
	static const char *const bad_images[] = {
		"Registry.site/Aml/Py", "user@registry.site/aml/py",
		"registry.site/aml/py@md5:00", "reg.site/aml/py:ta g",
		"reg.site/aml#py", "reg.site/aml/py@sha256:", "a,b",
		"reg.site/aml/py:",
	};
	struct aml_container_spec s = base(AML_CONTAINER_PYXIS);
	char *const bad_bind[] = { "/data", "/a,b", NULL };

	(void)state;
	s.image = NULL;
	expect_srun_refused(&s, "image: missing");
	s.image = "";
	expect_srun_refused(&s, "image: missing");
	for (size_t i = 0; i < sizeof(bad_images) / sizeof(bad_images[0]);
	     i++) {
		s.image = bad_images[i];
		expect_srun_refused(&s, "image: must be");
	}
	s = base(AML_CONTAINER_PYXIS);
	s.workdir = NULL;
	expect_srun_refused(&s, "workdir: missing");
	s = base(AML_CONTAINER_PYXIS);
	s.binds = bad_bind;
	expect_srun_refused(&s, "binds: must be an absolute path");
	s = base(AML_CONTAINER_PODMAN);
	expect_srun_refused(&s, "runtime podman has a command line");
}

enum spec_field { F_BUNDLE, F_WORKDIR, F_GPUS };

/* One field of the base spec changed, and what its refusal says: for
 * every runtime with a command line. */
static const struct {
	enum spec_field field;
	const char *value;
	const char *says;
} field_cases[] = {
	{ F_BUNDLE, NULL, "bundle: missing" },
	{ F_BUNDLE, "relative/bundle", "bundle: must be an absolute path" },
	{ F_BUNDLE, "/cache/img:O", "bundle: must be an absolute path" },
	{ F_WORKDIR, "", "workdir: missing" },
	{ F_WORKDIR, "/var/tmp/a:b", "workdir: must be an absolute path" },
	{ F_WORKDIR, "/var/tmp/a,b", "workdir: must be an absolute path" },
	{ F_WORKDIR, "/var/tmp/a\nb", "\"/var/tmp/a\\x0ab\"" },
	{ F_GPUS, "a", "gpus: must be GPU indices" },
	{ F_GPUS, "0,", "gpus: must be GPU indices" },
	{ F_GPUS, ",0", "gpus: must be GPU indices" },
	{ F_GPUS, "0,,1", "gpus: must be GPU indices" },
	{ F_GPUS, "0 1", "gpus: must be GPU indices" },
	{ F_GPUS, "1234567890", "gpus: must be GPU indices" },
	{ F_GPUS, "-1", "gpus: must be GPU indices" },
};

static void test_argv_refused(void **state)
{
	struct aml_container_spec s;
	char *const empty[] = { NULL };
	char *const blank[] = { "", NULL };
	char *const relative[] = { "data", NULL };
	char *const *const no_command[] = { NULL, empty, blank };

	(void)state;
	s = base(AML_CONTAINER_PYXIS);
	expect_refused(&s, "pyxis runs the image through srun's options");
	s = base(AML_CONTAINER_NONE);
	expect_refused(&s, "no command line for runtime none");
	s = base((enum aml_container_runtime)99);
	expect_refused(&s, "no command line for runtime unknown");

	for (int r = AML_CONTAINER_PODMAN; r <= AML_CONTAINER_APPTAINER;
	     r++) {
		for (size_t i = 0;
		     i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
			s = base((enum aml_container_runtime)r);
			if (field_cases[i].field == F_BUNDLE)
				s.bundle = field_cases[i].value;
			else if (field_cases[i].field == F_WORKDIR)
				s.workdir = field_cases[i].value;
			else
				s.gpus = field_cases[i].value;
			expect_refused(&s, field_cases[i].says);
		}
		s = base((enum aml_container_runtime)r);
		s.binds = relative;
		expect_refused(&s, "binds: must be an absolute path");
		for (size_t i = 0; i < 3; i++) {
			s = base((enum aml_container_runtime)r);
			s.argv = no_command[i];
			expect_refused(&s, "argv: no command to run");
		}
	}
	s = base(AML_CONTAINER_PODMAN);
	s.storage_dir = NULL;
	expect_refused(&s, "storage_dir: missing");
	s = base(AML_CONTAINER_PODMAN);
	s.shm_bytes = 1 << 30;
	s.ipc_host = 1;
	expect_refused(&s, "--shm-size conflicts with --ipc=host");
}

/* A list that already holds words keeps them, before the new ones. */
static void test_argv_appends(void **state)
{
	struct aml_container_spec s = base(AML_CONTAINER_CHARLIECLOUD);
	struct aml_strlist out = { 0 };
	char err[256];
	const char *want[] = {
		"srun", "ch-run",
		"--bind=/var/tmp/aml/run-1:/var/tmp/aml/run-1",
		"--cd=/var/tmp/aml/run-1",
		"/var/cache/aml/img/sha256-ab/rootfs", "--",
		COMMAND, NULL,
	};

	(void)state;
	assert_int_equal(aml_strlist_push(&out, "srun"), 0);
	assert_int_equal(aml_container_argv(&s, &out, err, sizeof(err)), 0);
	expect_words(&out, want);
}

static void test_runtime_names(void **state)
{
	(void)state;
	assert_string_equal(aml_container_runtime_name(AML_CONTAINER_NONE),
			    "none");
	assert_string_equal(aml_container_runtime_name(AML_CONTAINER_PYXIS),
			    "pyxis");
	assert_string_equal(
		aml_container_runtime_name(AML_CONTAINER_PODMAN), "podman");
	assert_string_equal(
		aml_container_runtime_name(AML_CONTAINER_CHARLIECLOUD),
		"charliecloud");
	assert_string_equal(
		aml_container_runtime_name(AML_CONTAINER_APPTAINER),
		"apptainer");
	assert_string_equal(
		aml_container_runtime_name((enum aml_container_runtime)42),
		"unknown");
}

static int image_env(const char *json, struct aml_strlist *out, char *err,
		     size_t errlen)
{
	return aml_container_image_env(json, strlen(json), out, err, errlen);
}

static void test_image_env(void **state)
{
	struct aml_strlist out = { 0 };
	char err[256] = "";
	const char *want[] = {
		"PATH=/opt/conda/bin:/usr/bin", "EMPTY=", "A=b=c", NULL,
	};

	(void)state;
	assert_int_equal(
		image_env("{\"ociVersion\": \"1.0.0\", \"process\": "
			  "{\"terminal\": false, \"env\": "
			  "[\"PATH=/opt/conda/bin:/usr/bin\", \"EMPTY=\", "
			  "\"A=b=c\"], \"cwd\": \"/\"}, \"root\": "
			  "{\"path\": \"rootfs\"}}",
			  &out, err, sizeof(err)),
		0);
	expect_words(&out, want);

	/* No process, no env, an empty env: nothing. */
	assert_int_equal(image_env("{}", &out, err, sizeof(err)), 0);
	assert_int_equal(image_env("{\"process\": {}}", &out, err,
				   sizeof(err)), 0);
	assert_int_equal(image_env("{\"process\": {\"env\": []}}", &out, err,
				   sizeof(err)), 0);
	assert_int_equal(out.count, 0);
}

static void expect_env_refused(const char *json, size_t len,
			       const char *part)
{
	struct aml_strlist out = { 0 };
	char err[256] = "";

	assert_int_equal(aml_strlist_push(&out, "KEPT=1"), 0);
	assert_int_equal(aml_container_image_env(json, len, &out, err,
						 sizeof(err)), -1);
	assert_int_equal(out.count, 1);
	assert_string_equal(out.items[0], "KEPT=1");
	aml_strlist_free(&out);
	if (!strstr(err, part))
		fail_msg("\"%s\" does not say \"%s\"", err, part);
}

static void test_image_env_refused(void **state)
{
	static const struct {
		const char *json, *says;
	} cases[] = {
		{ "", "config.json: line 1" },
		{ "{\"process\": {\"env\": [\"A=1\"]}", "config.json: line 1" },
		{ "process: {}", "config.json: line 1" },
		{ "[]", "config.json: must be an object, got an array" },
		{ "{\"process\": []}", "process: must be an object" },
		{ "{\"process\": {\"env\": \"A=1\"}}",
		  "process.env: must be an array, got a string" },
		{ "{\"process\": {\"env\": {\"A\": \"1\"}}}",
		  "process.env: must be an array, got an object" },
		{ "{\"process\": {\"env\": [\"A=1\", \"NOEQUALS\"]}}",
		  "process.env[1]: must be a string NAME=VALUE, got "
		  "\"NOEQUALS\"" },
		{ "{\"process\": {\"env\": [\"=value\"]}}",
		  "process.env[0]: must be a string NAME=VALUE" },
		{ "{\"process\": {\"env\": [1]}}",
		  "process.env[0]: must be a string NAME=VALUE, got 1" },
		{ "{\"process\": {\"env\": [\"A=\\u0000b\"]}}",
		  "process.env[0]: must be a string NAME=VALUE" },
		{ "{\"process\": {\"env\": [], \"env\": []}}",
		  "config.json: line 1" },
	};
	char *big;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_env_refused(cases[i].json, strlen(cases[i].json),
				   cases[i].says);

	/* 4097 entries */
	big = malloc(64 * 1024);
	assert_non_null(big);
	n += (size_t)sprintf(big, "{\"process\": {\"env\": [");
	for (int i = 0; i <= AML_CONTAINER_ENV_MAX_ENTRIES; i++)
		n += (size_t)sprintf(big + n, "%s\"V%d=1\"", i ? "," : "",
				     i);
	n += (size_t)sprintf(big + n, "]}}");
	expect_env_refused(big, n, "4097 entries, more than the 4096 read");
	free(big);

	/* over 1 MiB: refused before it is read */
	big = malloc(AML_CONTAINER_ENV_MAX_BYTES + 1);
	assert_non_null(big);
	memset(big, ' ', AML_CONTAINER_ENV_MAX_BYTES + 1);
	big[0] = '{';
	big[AML_CONTAINER_ENV_MAX_BYTES] = '}';
	expect_env_refused(big, AML_CONTAINER_ENV_MAX_BYTES + 1,
			   "1048577 bytes, more than the 1048576 read");
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_podman_no_gpu),
		cmocka_unit_test(test_podman_gpu_binds_shm),
		cmocka_unit_test(test_workdir_below_a_bind),
		cmocka_unit_test(test_image_env_inside),
		cmocka_unit_test(test_charliecloud),
		cmocka_unit_test(test_apptainer),
		cmocka_unit_test(test_pyxis),
		cmocka_unit_test(test_pyxis_image_forms),
		cmocka_unit_test(test_pyxis_refused),
		cmocka_unit_test(test_argv_refused),
		cmocka_unit_test(test_argv_appends),
		cmocka_unit_test(test_runtime_names),
		cmocka_unit_test(test_image_env),
		cmocka_unit_test(test_image_env_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
