/*
 * test_environment.c: the environment a run gets (plugin/environment.c),
 * from run configurations and aml.conf texts, as the controller decides
 * it: the kind, the interpreter, the label, each refusal's one line, and
 * the content key's dependence on exactly what makes builds differ.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "environment.h"
#include "errors.h"
#include "runconfig.h"
#include "site.h"

#define TARGET "ComputeTarget=cpu Partition=debug\n"
#define CATALOGUE                                                        \
	TARGET "Environment=AzureML-Minimal Prefix=/shared/envs/minimal\n" \
	"Environment=torch:1.9 Modules=cuda/12.2 Env=OMP_NUM_THREADS=1\n"   \
	"Environment=torch:2 Interpreter=/opt/torch2/bin/python\n"

static void site_of(const char *conf, struct aml_site *site)
{
	struct aml_errors errs;

	aml_errors_init(&errs, NULL);
	if (aml_site_parse(conf, strlen(conf), "aml.conf", site, &errs) != 0)
		fail_msg("aml.conf refused: %s", errs.count ? errs.lines[0]
							    : "?");
	aml_errors_free(&errs);
}

static void config_of(const char *json, struct aml_runconfig *rc)
{
	struct aml_errors errs;

	aml_errors_init(&errs, "run.json");
	if (aml_runconfig_parse(json, strlen(json), "run.json", "/src", NULL,
				NULL, rc, &errs) != 0)
		fail_msg("run.json refused: %s", errs.count ? errs.lines[0]
							    : "?");
	aml_errors_free(&errs);
}

/* Choose for [json] under [conf]; it must be accepted. */
static void choose_ok(const char *conf, const char *json,
		      struct aml_site *site, struct aml_env_choice *c)
{
	struct aml_runconfig rc;
	struct aml_errors errs;

	site_of(conf, site);
	config_of(json, &rc);
	aml_errors_init(&errs, "run.json");
	if (aml_env_choose(&rc, site, c, &errs) != 0)
		fail_msg("refused: %s", errs.count ? errs.lines[0] : "?");
	aml_errors_free(&errs);
	aml_runconfig_free(&rc);
}

/* Choose for [json] under [conf]; it must be refused with exactly
 * [expected] (lines joined by '\n'). */
static void choose_fails(const char *conf, const char *json,
			 const char *expected)
{
	struct aml_site site;
	struct aml_runconfig rc;
	struct aml_env_choice c;
	struct aml_errors errs;
	char joined[4096] = "";

	site_of(conf, &site);
	config_of(json, &rc);
	aml_errors_init(&errs, "run.json");
	assert_int_equal(aml_env_choose(&rc, &site, &c, &errs), -1);
	for (size_t i = 0; i < errs.count; i++)
		snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined),
			 "%s%s", i ? "\n" : "", errs.lines[i]);
	assert_string_equal(joined, expected);
	assert_null(c.interpreter);
	assert_null(c.label);
	aml_errors_free(&errs);
	aml_runconfig_free(&rc);
	aml_site_free(&site);
}

static void test_default_interpreter(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	choose_ok(TARGET, "{\"script\": \"t.py\"}", &site, &c);
	assert_int_equal(c.kind, AML_ENV_DEFAULT);
	assert_null(c.entry);
	assert_string_equal(c.interpreter, "python3");
	assert_string_equal(c.label, "site default: python3");
	aml_env_choice_free(&c);
	aml_site_free(&site);
}

static void test_site_default_environment(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	choose_ok(CATALOGUE "DefaultEnvironment=torch\n",
		  "{\"script\": \"t.py\"}", &site, &c);
	assert_int_equal(c.kind, AML_ENV_DEFAULT);
	assert_non_null(c.entry);
	assert_string_equal(c.interpreter, "/opt/torch2/bin/python");
	assert_string_equal(c.label, "torch:2 (site default)");
	aml_env_choice_free(&c);
	aml_site_free(&site);
}

static void test_catalogue(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	choose_ok(CATALOGUE,
		  "{\"script\": \"t.py\", \"environment\": "
		  "{\"name\": \"AzureML-Minimal\"}}", &site, &c);
	assert_int_equal(c.kind, AML_ENV_CATALOGUE);
	assert_string_equal(c.interpreter, "/shared/envs/minimal/bin/python");
	assert_string_equal(c.label, "AzureML-Minimal");
	aml_env_choice_free(&c);
	aml_site_free(&site);

	choose_ok(CATALOGUE,
		  "{\"script\": \"t.py\", \"environment\": "
		  "{\"name\": \"torch\", \"version\": \"1.9\"}}", &site, &c);
	assert_string_equal(c.interpreter, "python3");
	assert_string_equal(c.label, "torch:1.9");
	assert_int_equal(c.entry->n_modules, 1);
	aml_env_choice_free(&c);
	aml_site_free(&site);

	/* No version: the latest. */
	choose_ok(CATALOGUE,
		  "{\"script\": \"t.py\", \"environment\": "
		  "{\"name\": \"torch\"}}", &site, &c);
	assert_string_equal(c.label, "torch:2");
	aml_env_choice_free(&c);
	aml_site_free(&site);
}

static void test_unknown_names(void **state)
{
	(void)state;
	choose_fails(CATALOGUE,
		     "{\"script\": \"t.py\", \"environment\": "
		     "{\"name\": \"AzureML-Minimall\"}}",
		     "run.json: environment.name: not in this site's catalogue "
		     "(did you mean AzureML-Minimal?; known: AzureML-Minimal, "
		     "torch), got \"AzureML-Minimall\"");
	choose_fails(CATALOGUE,
		     "{\"script\": \"t.py\", \"environment\": "
		     "{\"name\": \"sklearn\"}}",
		     "run.json: environment.name: not in this site's catalogue "
		     "(known: AzureML-Minimal, torch), got \"sklearn\"");
	choose_fails(CATALOGUE,
		     "{\"script\": \"t.py\", \"environment\": "
		     "{\"name\": \"torch\", \"version\": \"3\"}}",
		     "run.json: environment.version: \"torch\" has no version 3 "
		     "in this site's catalogue (ask for @latest, or one it has)");
	choose_fails(TARGET,
		     "{\"script\": \"t.py\", \"environment\": "
		     "{\"name\": \"torch\"}}",
		     "run.json: environment.name: this site's catalogue has no "
		     "environments, got \"torch\"; leave it out for the "
		     "default, or define the environment (conda_dependencies)");
}

static void test_user_managed(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	choose_ok(CATALOGUE,
		  "{\"script\": \"t.py\", \"environment\": {\"name\": \"mine\","
		  " \"python\": {\"user_managed_dependencies\": true, "
		  "\"interpreter_path\": \"/opt/py/bin/python\"}}}", &site, &c);
	assert_int_equal(c.kind, AML_ENV_USER_MANAGED);
	assert_string_equal(c.interpreter, "/opt/py/bin/python");
	assert_string_equal(c.label, "user-managed: /opt/py/bin/python");
	aml_env_choice_free(&c);
	aml_site_free(&site);
}

#define PIP_SPEC                                                           \
	"{\"script\": \"t.py\", \"environment\": {\"name\": \"label-only\", " \
	"\"python\": {\"conda_dependencies\": {\"dependencies\": [\"pip\", "  \
	"{\"pip\": [\"amlenvpkg==1.0\", \"numpy\"]}]}}}}"
#define CONDA_SPEC                                                         \
	"{\"script\": \"t.py\", \"environment\": {\"python\": "              \
	"{\"conda_dependencies\": {\"dependencies\": [\"python=3.10\", "     \
	"\"numpy>=1.24\", {\"pip\": [\"torch==2.1\"]}]}}}}"

static void test_system_managed(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	/* An inline definition: the name is only its label. */
	choose_ok(TARGET, PIP_SPEC, &site, &c);
	assert_int_equal(c.kind, AML_ENV_PIP);
	assert_string_equal(c.interpreter, "python");
	assert_int_equal(c.n_packages, 2);
	assert_string_equal(c.label, "label-only: pip, 2 packages");
	assert_non_null(strstr(c.spec, "amlenvpkg==1.0"));
	aml_env_choice_free(&c);
	aml_site_free(&site);

	choose_ok(TARGET "CondaCommand=/opt/mm/bin/micromamba\n", CONDA_SPEC,
		  &site, &c);
	assert_int_equal(c.kind, AML_ENV_CONDA);
	assert_string_equal(c.label, "inline: conda, 2 packages");
	aml_env_choice_free(&c);
	aml_site_free(&site);

	choose_fails(TARGET, CONDA_SPEC,
		     "run.json: environment.python.conda_dependencies: needs "
		     "conda (\"numpy>=1.24\" is a conda package), and this site "
		     "has no CondaCommand; list the packages under pip: where "
		     "pip has them");
}

static void test_containers_refused(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	choose_fails(TARGET,
		     "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		     "{\"enabled\": true, \"base_image\": \"nvcr.io/pytorch:23\"}}}",
		     "run.json: environment.docker.base_image: this site runs no "
		     "container images (ContainerRuntime=none); name an "
		     "environment of the site's catalogue instead, got "
		     "\"nvcr.io/pytorch:23\"");
	/* Azure ML's own base image with Docker off: the default. */
	choose_ok(TARGET,
		  "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		  "{\"enabled\": false, \"base_image\": "
		  "\"mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\"}}}",
		  &site, &c);
	assert_int_equal(c.kind, AML_ENV_DEFAULT);
	aml_env_choice_free(&c);
	aml_site_free(&site);
	choose_fails(TARGET,
		     "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		     "{\"arguments\": [\"--ipc=host\"]}}}",
		     "run.json: environment.docker.arguments: only for a "
		     "container, and the run has none (1 argument)");
}

#define PODMAN TARGET "ContainerRuntime=podman\n"
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Docker builds the site makes (ContainerBuilder=podman): accepted with
 * a runtime that runs what is built, refused otherwise, naming why. */
static void test_site_builds(void **state)
{
	static const char dockerfile_run[] =
		"{\"script\": \"t.py\", \"environment\": {\"docker\": "
		"{\"base_dockerfile\": \"FROM ubuntu\\nRUN true\"}}}";
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	choose_ok(TARGET "ContainerRuntime=charliecloud\n"
		  "ContainerBuilder=podman\n", dockerfile_run, &site, &c);
	assert_int_equal(c.kind, AML_ENV_IMAGE);
	assert_null(c.image);
	assert_true(aml_env_in_container(&c));
	assert_string_equal(c.dockerfile_text, "FROM ubuntu\nRUN true");
	assert_string_equal(c.label, "image built from its Dockerfile");
	assert_string_equal(c.interpreter, "python");
	aml_env_choice_free(&c);
	aml_site_free(&site);
	choose_fails(TARGET "ContainerRuntime=pyxis\nContainerBuilder=podman\n",
		     dockerfile_run,
		     "run.json: environment.docker.base_dockerfile: this site "
		     "builds no container images (pyxis runs registry images "
		     "only)");
	choose_fails(TARGET "ContainerRuntime=podman\nContainerBuilder=podman\n",
		     "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		     "{\"base_dockerfile\": \"FROM ubuntu\"}, \"python\": "
		     "{\"conda_dependencies\": {\"dependencies\": "
		     "[\"numpy\"]}}}}",
		     "run.json: environment.python.conda_dependencies: "
		     "dependencies on top of a Docker build: put them in its "
		     "Dockerfile, or set user_managed_dependencies: true");
}

static void test_inline_images(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	/* v1: docker.enabled with a base image. */
	choose_ok(PODMAN,
		  "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		  "{\"enabled\": true, \"base_image\": "
		  "\"nvcr.io/nvidia/pytorch:23.10-py3\", \"shm_size\": \"2g\"}}}",
		  &site, &c);
	assert_int_equal(c.kind, AML_ENV_IMAGE);
	assert_string_equal(aml_env_kind_name(c.kind), "image");
	assert_string_equal(c.image, "nvcr.io/nvidia/pytorch:23.10-py3");
	assert_string_equal(c.interpreter, "python");
	assert_string_equal(c.label, "image: nvcr.io/nvidia/pytorch:23.10-py3");
	assert_true(c.shm_bytes == 2ull << 30);
	assert_int_equal(c.ipc_host, 0);
	assert_null(c.entry);
	aml_env_choice_free(&c);
	aml_site_free(&site);
	/* Not one of Azure ML's bases: an image even with Docker off; the
	 * interpreter the run names; --shm-size wins over shm_size. */
	choose_ok(PODMAN,
		  "{\"script\": \"t.py\", \"environment\": {\"python\": "
		  "{\"interpreter_path\": \"/opt/conda/bin/python\", "
		  "\"user_managed_dependencies\": true}, \"docker\": "
		  "{\"base_image\": \"127.0.0.1:5000/aml/py@sha256:" HEX64 "\", "
		  "\"shm_size\": \"1g\", \"arguments\": [\"--shm-size\", "
		  "\"512m\", \"--ipc=host\", \"--net=host\"]}}}",
		  &site, &c);
	assert_int_equal(c.kind, AML_ENV_IMAGE);
	assert_string_equal(c.interpreter, "/opt/conda/bin/python");
	assert_true(c.shm_bytes == 512ull << 20);
	assert_int_equal(c.ipc_host, 1);
	aml_env_choice_free(&c);
	aml_site_free(&site);
	/* v2: environment.image, resources.shm_size and docker_args. */
	choose_ok(TARGET "ContainerRuntime=charliecloud\n"
		  "ContainerRegistries=docker.io,127.0.0.1:5000\n",
		  "{\"command\": \"python t.py\", \"code\": \".\", "
		  "\"environment\": {\"image\": \"ubuntu:22.04\"}, "
		  "\"resources\": {\"shm_size\": \"64m\", \"docker_args\": "
		  "\"--ipc=host\"}}",
		  &site, &c);
	assert_int_equal(c.kind, AML_ENV_IMAGE);
	assert_string_equal(c.image, "ubuntu:22.04");
	assert_true(c.shm_bytes == 64ull << 20);
	assert_int_equal(c.ipc_host, 1);
	aml_env_choice_free(&c);
	aml_site_free(&site);
	/* Without an image shm_size stays ignored. */
	choose_ok(PODMAN,
		  "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		  "{\"shm_size\": \"lots\"}}}", &site, &c);
	assert_int_equal(c.kind, AML_ENV_DEFAULT);
	assert_null(c.image);
	assert_true(c.shm_bytes == 0);
	aml_env_choice_free(&c);
	aml_site_free(&site);
}

static void test_catalogue_images(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;

	(void)state;
	choose_ok(PODMAN "Environment=torch:2 "
		  "Image=nvcr.io/nvidia/pytorch:23.10-py3\n"
		  "Environment=py Image=ubuntu Interpreter=/usr/bin/python3\n",
		  "{\"script\": \"t.py\", \"environment\": {\"name\": \"torch\", "
		  "\"docker\": {\"arguments\": [\"--shm-size=8g\"]}}}",
		  &site, &c);
	assert_int_equal(c.kind, AML_ENV_CATALOGUE);
	assert_non_null(c.entry);
	assert_string_equal(c.image, "nvcr.io/nvidia/pytorch:23.10-py3");
	assert_string_equal(c.interpreter, "python");
	assert_string_equal(c.label,
			    "torch:2 (image nvcr.io/nvidia/pytorch:23.10-py3)");
	assert_true(c.shm_bytes == 8ull << 30);
	aml_env_choice_free(&c);
	aml_site_free(&site);
	choose_ok(PODMAN "Environment=py Image=ubuntu "
		  "Interpreter=/usr/bin/python3\nDefaultEnvironment=py\n",
		  "{\"script\": \"t.py\"}", &site, &c);
	assert_int_equal(c.kind, AML_ENV_DEFAULT);
	assert_string_equal(c.image, "ubuntu");
	assert_string_equal(c.interpreter, "/usr/bin/python3");
	assert_string_equal(c.label, "py (image ubuntu) (site default)");
	aml_env_choice_free(&c);
	aml_site_free(&site);
}

static void test_images_refused(void **state)
{
	struct aml_site site;
	struct aml_env_choice c;
	struct aml_runconfig rc;
	struct aml_errors errs;

	(void)state;
	choose_fails(TARGET,
		     "{\"command\": \"python t.py\", \"code\": \".\", "
		     "\"environment\": {\"image\": \"ubuntu\"}}",
		     "run.json: environment.image: this site runs no container "
		     "images (ContainerRuntime=none); name an environment of "
		     "the site's catalogue instead, got \"ubuntu\"");
	choose_fails(PODMAN,
		     "{\"command\": \"python t.py\", \"code\": \".\", "
		     "\"environment\": {\"image\": \"Ubuntu\"}}",
		     "run.json: environment.image: not an image reference: a "
		     "path component is lowercase letters and digits, separated "
		     "by '.', '_', '__' or '-', got \"Ubuntu\"");
	choose_fails(TARGET "ContainerRuntime=apptainer\n"
		     "ContainerRegistries=127.0.0.1:5000,nvcr.io\n",
		     "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		     "{\"enabled\": true, \"base_image\": \"ubuntu\"}}}",
		     "run.json: environment.docker.base_image: registry "
		     "docker.io is not one this site pulls from (allowed: "
		     "127.0.0.1:5000, nvcr.io), got \"ubuntu\"");
	choose_fails(PODMAN,
		     "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		     "{\"enabled\": true, \"base_image\": \"ubuntu\", "
		     "\"arguments\": [\"--privileged\"]}}}",
		     "run.json: environment.docker.arguments: \"--privileged\" "
		     "is not allowed: a run's container takes only "
		     "--shm-size=SIZE, --ipc=host, --network=host or --net=host");
	choose_fails(PODMAN,
		     "{\"command\": \"python t.py\", \"code\": \".\", "
		     "\"environment\": {\"image\": \"ubuntu\"}, \"resources\": "
		     "{\"docker_args\": \"-v /:/host\"}}",
		     "run.json: resources.docker_args: \"-v\" is not allowed: a "
		     "run's container takes only --shm-size=SIZE, --ipc=host, "
		     "--network=host or --net=host");
	choose_fails(PODMAN,
		     "{\"command\": \"python t.py\", \"code\": \".\", "
		     "\"environment\": {\"image\": \"ubuntu\"}, \"resources\": "
		     "{\"shm_size\": \"lots\"}}",
		     "run.json: resources.shm_size: must be a size such as 2g, "
		     "512m or 1073741824 (units k, m, g, t: powers of 1024), got "
		     "\"lots\"");
	choose_fails(PODMAN,
		     "{\"script\": \"t.py\", \"environment\": {\"python\": "
		     "{\"conda_dependencies\": {\"dependencies\": "
		     "[{\"pip\": [\"torch\"]}]}}, \"docker\": {\"enabled\": true, "
		     "\"base_image\": \"ubuntu\"}}}",
		     "run.json: environment.python.conda_dependencies: "
		     "dependencies on top of an image need an image build, which "
		     "this site does not make: use an image that has them, or "
		     "user_managed_dependencies: true");
	choose_fails(PODMAN,
		     "{\"script\": \"t.py\", \"environment\": {\"docker\": "
		     "{\"base_dockerfile\": \"FROM ubuntu\"}}}",
		     "run.json: environment.docker.base_dockerfile: this site "
		     "builds no container images (ContainerBuilder=none); push "
		     "the image to a registry and name it instead");
	/* A catalogue image on a site whose runtime is none: aml.conf's
	 * check refuses that file, so the site is changed after it. */
	site_of(PODMAN "Environment=torch Image=ubuntu\n", &site);
	site.container_runtime = AML_CONTAINER_NONE;
	config_of("{\"script\": \"t.py\", \"environment\": {\"name\": "
		  "\"torch\"}}", &rc);
	aml_errors_init(&errs, "run.json");
	assert_int_equal(aml_env_choose(&rc, &site, &c, &errs), -1);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.lines[0],
			    "run.json: environment.name: torch (image ubuntu) "
			    "runs in a container image, and this site runs none "
			    "(ContainerRuntime=none)");
	assert_null(c.image);
	aml_errors_free(&errs);
	aml_runconfig_free(&rc);
	aml_site_free(&site);
}

static void test_key(void **state)
{
	struct aml_site site, other;
	struct aml_env_choice c;
	char a[65], b[65];

	(void)state;
	choose_ok(TARGET, PIP_SPEC, &site, &c);
	assert_int_equal(aml_env_key(&c, &site, "machine=x86_64 os=debian-12 "
				     "python=3.11", a), 0);
	assert_int_equal(strlen(a), 64);
	/* The same again: the same key. */
	assert_int_equal(aml_env_key(&c, &site, "machine=x86_64 os=debian-12 "
				     "python=3.11", b), 0);
	assert_string_equal(a, b);
	/* Another node's python: another key. */
	assert_int_equal(aml_env_key(&c, &site, "machine=x86_64 os=debian-12 "
				     "python=3.12", b), 0);
	assert_string_not_equal(a, b);
	/* Another pip index: another key. */
	site_of(TARGET "PipOptions=\"--index-url=https://pypi.site/simple\"\n",
		&other);
	assert_int_equal(aml_env_key(&c, &other, "machine=x86_64 os=debian-12 "
				     "python=3.11", b), 0);
	assert_string_not_equal(a, b);
	aml_site_free(&other);
	aml_env_choice_free(&c);
	/* Not a built environment: no key. */
	choose_ok(TARGET, "{\"script\": \"t.py\"}", &other, &c);
	assert_int_equal(aml_env_key(&c, &other, "x", b), -1);
	aml_env_choice_free(&c);
	aml_site_free(&other);
	aml_site_free(&site);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_interpreter),
		cmocka_unit_test(test_site_default_environment),
		cmocka_unit_test(test_catalogue),
		cmocka_unit_test(test_unknown_names),
		cmocka_unit_test(test_user_managed),
		cmocka_unit_test(test_system_managed),
		cmocka_unit_test(test_containers_refused),
		cmocka_unit_test(test_inline_images),
		cmocka_unit_test(test_site_builds),
		cmocka_unit_test(test_catalogue_images),
		cmocka_unit_test(test_images_refused),
		cmocka_unit_test(test_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
