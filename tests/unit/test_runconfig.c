/*
 * Unit tests of plugin/runconfig*.c: the three forms, Azure ML's defaults and
 * rules, the errors, and the canonical round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "joined_errors.h"
#include "rc_internal.h"
#include "runconfig.h"

#define BASE "/home/alice/project"

struct parsed {
	struct aml_runconfig rc;
	struct aml_errors errs;
	char *errors;
	int result;
};

static struct parsed *parse_as(const char *text, const char *filename,
			       const char *base)
{
	struct parsed *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	aml_errors_init(&p->errs, filename);
	p->result = aml_runconfig_parse(text, strlen(text), filename, base,
					NULL, NULL, &p->rc, &p->errs);
	p->errors = joined_errors(&p->errs);
	return p;
}

static struct parsed *parse(const char *text)
{
	return parse_as(text, "run.json", BASE);
}

static void parsed_free(struct parsed *p)
{
	aml_runconfig_free(&p->rc);
	aml_errors_free(&p->errs);
	free(p->errors);
	free(p);
}

/* Parse and insist it is valid, showing the errors when it is not. */
static struct parsed *ok(const char *text, const char *filename)
{
	struct parsed *p = parse_as(text, filename, BASE);

	if (p->result != 0)
		fail_msg("expected valid, got:\n%s", p->errors);
	return p;
}

/* Parse [text] as [filename] and insist the errors are exactly
 * [expected] (lines joined). */
static void fails_as(const char *text, const char *filename,
		     const char *expected)
{
	struct parsed *p = parse_as(text, filename, BASE);

	assert_int_equal(p->result, -1);
	assert_non_null(p->errors);
	if (strcmp(p->errors, expected))
		fail_msg("errors differ.\nexpected:\n%s\ngot:\n%s", expected,
			 p->errors);
	parsed_free(p);
}

static void fails_with(const char *text, const char *expected)
{
	fails_as(text, "run.json", expected);
}

static void fails_containing(const char *text, const char *part)
{
	struct parsed *p = parse(text);

	assert_int_equal(p->result, -1);
	assert_non_null(p->errors);
	if (!strstr(p->errors, part))
		fail_msg("expected an error containing:\n%s\ngot:\n%s", part,
			 p->errors);
	parsed_free(p);
}

static const char *env_get(const struct aml_runconfig *rc, const char *key)
{
	for (size_t i = 0; i < rc->environment_variables.count; i++)
		if (!strcmp(rc->environment_variables.items[i].key, key))
			return rc->environment_variables.items[i].value;
	return NULL;
}

/* ---- form 1: ScriptRunConfig ---- */

static void test_script_minimal_defaults(void **state)
{
	struct parsed *p = ok("{\"script\": \"train.py\"}", "run.json");

	(void)state;
	assert_int_equal(p->rc.form, AML_FORM_SCRIPT_RUN_CONFIG);
	assert_string_equal(p->rc.source_directory, BASE);
	assert_string_equal(p->rc.script, "train.py");
	assert_int_equal(p->rc.arguments.count, 0);
	assert_null(p->rc.compute_target);
	assert_int_equal(p->rc.node_count, 1);
	assert_int_equal(p->rc.max_run_duration_seconds, 2592000);
	assert_false(p->rc.max_run_duration_given);
	assert_int_equal(p->rc.distributed.type, AML_DIST_NONE);
	assert_string_equal(p->rc.experiment_name, "project");
	assert_int_equal(aml_runconfig_process_count(&p->rc), 1);
	parsed_free(p);
}

static void test_script_every_field(void **state)
{
	struct parsed *p = ok(
		"{\"source_directory\": \"src\", \"script\": \"./pkg/train.py\","
		" \"arguments\": [\"--lr\", 0.8, \"--flag\", true, \"--n\", 3,"
		" \"--none\", null, \"--e\", 1e-5, \"--f\", 1.0],"
		" \"compute_target\": \"gpu-cluster\", \"node_count\": 2,"
		" \"distributed_job_config\": {\"type\": \"PyTorch\","
		"  \"communication_backend\": \"Gloo\", \"process_count\": 8,"
		"  \"node_count\": 2},"
		" \"max_run_duration_seconds\": 3600,"
		" \"environment\": {\"name\": \"env\", \"version\": \"3\","
		"  \"environment_variables\": {\"A\": \"1\", \"B_2\": 2},"
		"  \"python\": {\"interpreter_path\": \"/opt/py/bin/python\","
		"   \"user_managed_dependencies\": true},"
		"  \"docker\": {\"enabled\": true, \"base_image\": \"img:1\","
		"   \"shm_size\": \"8g\", \"arguments\": [\"--ipc=host\"]}},"
		" \"experiment_name\": \"exp-1\", \"display_name\": \"first try\","
		" \"description\": \"d\", \"tags\": {\"team\": \"vision\", \"n\": 1},"
		" \"properties\": {\"p\": false}, \"run_id\": \"my_run_1\"}",
		"run.json");
	struct aml_runconfig *rc = &p->rc;
	const char *args[] = { "--lr", "0.8", "--flag", "True", "--n", "3",
			       "--none", "None", "--e", "1e-05", "--f", "1.0" };

	(void)state;
	assert_string_equal(rc->source_directory, BASE "/src");
	assert_string_equal(rc->script, "pkg/train.py");
	assert_int_equal(rc->arguments.count, 12);
	for (size_t i = 0; i < 12; i++)
		assert_string_equal(rc->arguments.items[i], args[i]);
	assert_string_equal(rc->compute_target, "gpu-cluster");
	assert_int_equal(rc->node_count, 2);
	assert_int_equal(rc->distributed.type, AML_DIST_PYTORCH);
	assert_string_equal(rc->distributed.backend, "gloo");
	assert_int_equal(rc->distributed.process_count_per_node, 4);
	assert_int_equal(aml_runconfig_process_count(rc), 8);
	assert_int_equal(rc->max_run_duration_seconds, 3600);
	assert_true(rc->max_run_duration_given);
	assert_string_equal(rc->environment.name, "env");
	assert_string_equal(rc->environment.version, "3");
	assert_string_equal(env_get(rc, "A"), "1");
	assert_string_equal(env_get(rc, "B_2"), "2");
	assert_string_equal(rc->environment.interpreter_path,
			    "/opt/py/bin/python");
	assert_true(rc->environment.user_managed_dependencies);
	assert_true(rc->environment.docker_enabled);
	assert_string_equal(rc->environment.docker_base_image, "img:1");
	assert_string_equal(rc->environment.docker_shm_size, "8g");
	assert_string_equal(rc->environment.docker_arguments.items[0],
			    "--ipc=host");
	assert_string_equal(rc->experiment_name, "exp-1");
	assert_string_equal(rc->display_name, "first try");
	assert_string_equal(rc->description, "d");
	assert_string_equal(rc->tags.items[0].key, "team");
	assert_string_equal(rc->tags.items[1].value, "1");
	assert_string_equal(rc->properties.items[0].value, "False");
	assert_string_equal(rc->run_id, "my_run_1");
	parsed_free(p);
}

/* The conda fields, which user_managed_dependencies: true would refuse
 * (test_python_rules): both may be there at parse, as in the canonical
 * form; aml_runconfig_read_files judges a file beside inline ones. */
static void test_script_system_managed(void **state)
{
	struct parsed *p = ok(
		"{\"script\": \"t.py\", \"environment\": {\"python\": {"
		" \"conda_dependencies\": {\"name\": \"x\", \"dependencies\": [\"python=3.10\"]},"
		" \"conda_dependencies_file\": \"conda.yml\"}}}",
		"run.json");
	struct aml_runconfig *rc = &p->rc;

	(void)state;
	assert_false(rc->environment.user_managed_dependencies);
	assert_string_equal(rc->environment.conda_dependencies,
			    "{\"name\":\"x\",\"dependencies\":[\"python=3.10\"]}");
	assert_string_equal(rc->environment.conda_dependencies_file,
			    BASE "/conda.yml");
	parsed_free(p);
}

static void test_script_yaml(void **state)
{
	struct parsed *p = ok("script: train.py\n"
			      "arguments: [--epochs, 10, --ratio, 0.25]\n"
			      "node_count: 2\n"
			      "distributed_job_config:\n"
			      "  type: mpi\n"
			      "  process_count_per_node: 4\n",
			      "run.yml");

	(void)state;
	assert_int_equal(p->rc.form, AML_FORM_SCRIPT_RUN_CONFIG);
	assert_string_equal(p->rc.arguments.items[1], "10");
	assert_string_equal(p->rc.arguments.items[3], "0.25");
	assert_int_equal(p->rc.distributed.type, AML_DIST_MPI);
	assert_int_equal(p->rc.distributed.process_count_per_node, 4);
	assert_int_equal(aml_runconfig_process_count(&p->rc), 8);
	parsed_free(p);
}

static void test_script_arguments_string_split(void **state)
{
	struct parsed *p = ok("{\"script\": \"t.py\", \"arguments\":"
			      " \"--name 'a b' --x \\\"c d\\\" e\\\\ f\"}",
			      "run.json");

	(void)state;
	assert_int_equal(p->rc.arguments.count, 5);
	assert_string_equal(p->rc.arguments.items[1], "a b");
	assert_string_equal(p->rc.arguments.items[3], "c d");
	assert_string_equal(p->rc.arguments.items[4], "e f");
	parsed_free(p);
}

static void test_command_list_and_string(void **state)
{
	struct parsed *p = ok("{\"command\": [\"python\", \"t.py\", \"--a\", 1]}",
			      "run.json");

	(void)state;
	assert_null(p->rc.script);
	assert_null(p->rc.command_line);
	assert_int_equal(p->rc.command.count, 4);
	assert_string_equal(p->rc.command.items[3], "1");
	parsed_free(p);
	p = ok("{\"command\": \"python t.py --a $HOME\"}", "run.json");
	assert_string_equal(p->rc.command_line, "python t.py --a $HOME");
	assert_int_equal(p->rc.command.count, 0);
	parsed_free(p);
}

static void test_pytorch_defaults_one_per_node(void **state)
{
	struct parsed *p = ok("{\"script\": \"t.py\", \"distributed_job_config\":"
			      " {\"type\": \"pytorch\", \"node_count\": 3}}",
			      "run.json");

	(void)state;
	assert_int_equal(p->rc.node_count, 3);
	assert_string_equal(p->rc.distributed.backend, "nccl");
	assert_int_equal(p->rc.distributed.process_count_per_node, 1);
	assert_int_equal(aml_runconfig_process_count(&p->rc), 3);
	parsed_free(p);
}

static void test_tensorflow_v1_defaults(void **state)
{
	struct parsed *p = ok("{\"script\": \"t.py\", \"distributed_job_config\":"
			      " {\"type\": \"tensorflow\", \"worker_count\": 2}}",
			      "run.json");

	(void)state;
	assert_int_equal(p->rc.distributed.type, AML_DIST_TENSORFLOW);
	assert_int_equal(p->rc.distributed.worker_count, 2);
	assert_int_equal(p->rc.distributed.parameter_server_count, 1);
	assert_int_equal(p->rc.node_count, 2);
	assert_int_equal(aml_runconfig_process_count(&p->rc), 3);
	parsed_free(p);
}

/* ---- form 1 rejections ---- */

static void test_pytorch_uneven(void **state)
{
	(void)state;
	fails_with("{\"script\": \"t.py\", \"node_count\": 4,"
		   " \"distributed_job_config\": {\"type\": \"pytorch\","
		   " \"process_count\": 6}}",
		   "run.json: distributed_job_config.process_count: 6 processes cannot be spread evenly over 4 nodes");
}

static void test_command_and_script_exclusive(void **state)
{
	(void)state;
	fails_with("{\"script\": \"t.py\", \"command\": [\"ls\"]}",
		   "run.json: command: command and script/arguments cannot be used together");
	fails_with("{\"arguments\": [\"a\"], \"command\": \"ls\"}",
		   "run.json: command: command and script/arguments cannot be used together");
}

static void test_neither_script_nor_command(void **state)
{
	(void)state;
	fails_with("{\"node_count\": 1}",
		   "run.json: script: one of script or command is required");
	fails_with("{\"arguments\": [\"--a\"]}",
		   "run.json: arguments: arguments need a script to pass them to");
}

static void test_unknown_key_suggests(void **state)
{
	(void)state;
	fails_with("{\"script\": \"t.py\", \"max_run_duration_second\": 60}",
		   "run.json: max_run_duration_second: unknown key for a ScriptRunConfig (line 1); did you mean \"max_run_duration_seconds\"?");
	fails_with("{\"script\": \"t.py\", \"zzz\": 1}",
		   "run.json: zzz: unknown key for a ScriptRunConfig (line 1)");
	fails_containing("{\"script\": \"t.py\", \"environment\": {\"pyton\": {}}}",
			 "run.json: environment.pyton: unknown key for a ScriptRunConfig (line 1); did you mean \"python\"?");
	fails_containing("{\"script\": \"t.py\", \"distributed_job_config\":"
			 " {\"type\": \"mpi\", \"process_count\": 2}}",
			 "distributed_job_config.process_count: unknown key for an MPI distributed_job_config (line 1); did you mean \"process_count_per_node\"?");
}

static void test_all_errors_reported(void **state)
{
	struct parsed *p = parse("{\n\"script\": \"/abs.py\",\n"
				 "\"node_count\": 0,\n"
				 "\"max_run_duration_seconds\": -5,\n"
				 "\"compute_target\": 7\n}");

	(void)state;
	assert_int_equal(p->result, -1);
	assert_int_equal(p->errs.count, 4);
	assert_string_equal(p->errs.lines[0],
			    "run.json: compute_target: must be a string, got 7");
	assert_string_equal(p->errs.lines[1],
			    "run.json: node_count: must be a whole number from 1 to 100000, got 0");
	assert_string_equal(p->errs.lines[2],
			    "run.json: max_run_duration_seconds: must be a whole number from 1 to 3153600000, got -5");
	assert_string_equal(p->errs.lines[3],
			    "run.json: script: must be a path relative to the source directory, got \"/abs.py\"");
	parsed_free(p);
}

static void test_script_escapes(void **state)
{
	(void)state;
	fails_with("{\"script\": \"../other/t.py\"}",
		   "run.json: script: must stay inside the source directory, got \"../other/t.py\"");
	fails_with("{\"script\": \"a/../../project/t.py\"}",
		   "run.json: script: must stay inside the source directory, got \"a/../../project/t.py\"");
	fails_with("{\"script\": \"a/..\"}",
		   "run.json: script: must name a file, got \"a/..\"");
	fails_with("{\"script\": \"\"}",
		   "run.json: script: must name a file, got \"\"");
}

static void test_bad_values(void **state)
{
	(void)state;
	fails_with("{\"script\": \"t.py\", \"node_count\": 2.0}",
		   "run.json: node_count: must be a whole number from 1 to 100000, got 2.0");
	fails_with("{\"script\": \"t.py\", \"node_count\": \"2\"}",
		   "run.json: node_count: must be a whole number from 1 to 100000, got \"2\"");
	fails_with("{\"script\": \"t.py\", \"distributed_job_config\": {\"type\": \"ray\"}}",
		   "run.json: distributed_job_config.type: must be \"pytorch\", \"mpi\" or \"tensorflow\", got \"ray\"");
	fails_with("{\"script\": \"t.py\", \"distributed_job_config\": {\"process_count\": 2}}",
		   "run.json: distributed_job_config.type: is required: \"pytorch\", \"mpi\" or \"tensorflow\"");
	fails_with("{\"script\": \"t.py\", \"distributed_job_config\": {\"type\": \"pytorch\","
		   " \"communication_backend\": \"mpi\"}}",
		   "run.json: distributed_job_config.communication_backend: must be \"nccl\" or \"gloo\", got \"mpi\"");
	fails_with("{\"script\": \"t.py\", \"experiment_name\": \"my exp\"}",
		   "run.json: experiment_name: must be 1 to 255 letters, digits, '_' or '-', starting with a letter or digit, got \"my exp\"");
	fails_with("{\"script\": \"t.py\", \"arguments\": [[1]]}",
		   "run.json: arguments[0]: must be a string, number or boolean, got an array");
	fails_with("{\"script\": \"t.py\", \"node_count\": 2, \"distributed_job_config\":"
		   " {\"type\": \"mpi\", \"node_count\": 3}}",
		   "run.json: distributed_job_config.node_count: 3 conflicts with node_count = 2");
	fails_with("[1, 2]",
		   "run.json: a run configuration must be an object of fields, got an array");
}

static void test_env_names(void **state)
{
	(void)state;
	fails_with("{\"script\": \"t.py\", \"environment\": {\"environment_variables\":"
		   " {\"1BAD\": \"x\"}}}",
		   "run.json: environment.environment_variables.1BAD: not a valid environment variable name (letters, digits and '_', not starting with a digit)");
	fails_containing("{\"script\": \"t.py\", \"environment\": {\"environment_variables\":"
			 " {\"A-B\": \"x\"}}}",
			 "environment.environment_variables.A-B: not a valid");
}

static void test_duplicate_key_refused(void **state)
{
	(void)state;
	fails_containing("{\"script\": \"t.py\", \"node_count\": 1, \"node_count\": 2}",
			 "node_count");
}

static void test_controller_needs_absolute(void **state)
{
	struct aml_runconfig rc;
	struct aml_errors errs;
	const char *text = "{\"script\": \"t.py\", \"source_directory\": \"rel\"}";

	(void)state;
	aml_errors_init(&errs, "canonical");
	assert_int_equal(aml_runconfig_parse(text, strlen(text), "canonical",
					     NULL, NULL, NULL, &rc, &errs), -1);
	assert_string_equal(errs.lines[0],
			    "canonical: source_directory: must be an absolute path here, got \"rel\"");
	aml_errors_free(&errs);
}

/* ---- form 2: RunConfiguration ---- */

static void test_runconfiguration_json(void **state)
{
	struct parsed *p = parse_as(
		"{\"script\":\"train.py\",\"arguments\":[\"--a\",1],"
		"\"framework\":\"Python\",\"communicator\":\"Mpi\","
		"\"target\":\"mycompute\",\"nodeCount\":2,"
		"\"environment\":{\"python\":{\"userManagedDependencies\":false,"
		"\"condaDependencies\":{\"name\":\"p\"}},"
		"\"docker\":{\"baseImage\":\"img\",\"enabled\":true}},"
		"\"mpi\":{\"processCountPerNode\":2},"
		"\"maxRunDurationSeconds\":600}",
		"pytorch-horovod.runconfig", "/p/.azureml");
	struct aml_runconfig *rc = &p->rc;

	(void)state;
	if (p->result)
		fail_msg("%s", p->errors);
	assert_int_equal(rc->form, AML_FORM_RUN_CONFIGURATION);
	assert_string_equal(rc->source_directory, "/p");
	assert_string_equal(rc->compute_target, "mycompute");
	assert_int_equal(rc->distributed.type, AML_DIST_MPI);
	assert_int_equal(rc->distributed.process_count_per_node, 2);
	assert_int_equal(rc->node_count, 2);
	assert_int_equal(rc->max_run_duration_seconds, 600);
	assert_true(rc->environment.docker_enabled);
	assert_string_equal(rc->environment.docker_base_image, "img");
	assert_string_equal(rc->arguments.items[1], "1");
	parsed_free(p);
}

static const char saved_runconfig_yaml[] =
	"# The script to run.\n"
	"script: train.py\n"
	"arguments: []\n"
	"target: gpu-cluster\n"
	"framework: PyTorch\n"
	"communicator: Nccl\n"
	"maxRunDurationSeconds:\n"
	"nodeCount: 2\n"
	"priority:\n"
	"environment:\n"
	"  name: pt\n"
	"  version:\n"
	"  environmentVariables:\n"
	"    EXAMPLE_ENV_VAR: EXAMPLE_VALUE\n"
	"  python:\n"
	"    userManagedDependencies: true\n"
	"    interpreterPath: python\n"
	"    condaDependenciesFile:\n"
	"    baseCondaEnvironment:\n"
	"  docker:\n"
	"    enabled: false\n"
	"    baseImage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n"
	"    sharedVolumes: true\n"
	"    shmSize: 2g\n"
	"    arguments: []\n"
	"history:\n"
	"  outputCollection: true\n"
	"  snapshotProject: true\n"
	"  directoriesToWatch:\n"
	"  - logs\n"
	"spark:\n"
	"  configuration:\n"
	"    spark.app.name: Azure ML Experiment\n"
	"docker:\n"
	"  useDocker: false\n"
	"  sharedVolumes: true\n"
	"  arguments: []\n"
	"  shmSize: 16g\n"
	"hdi:\n"
	"  yarnDeployMode: cluster\n"
	"tensorflow:\n"
	"  workerCount: 1\n"
	"  parameterServerCount: 1\n"
	"mpi:\n"
	"  processCountPerNode: 1\n"
	"  nodeCount: 1\n"
	"pytorch:\n"
	"  communicationBackend: nccl\n"
	"  processCount: 8\n"
	"  nodeCount: 2\n"
	"paralleltask:\n"
	"  maxRetriesPerWorker: 0\n"
	"dataReferences: {}\n"
	"data: {}\n"
	"outputData: {}\n"
	"datacaches: []\n"
	"sourceDirectoryDataStore:\n"
	"amlcompute:\n"
	"  vmSize:\n"
	"credentialPassthrough: false\n"
	"command: ''\n"
	"environmentVariables:\n"
	"  OMP_NUM_THREADS: 4\n";

static void test_runconfiguration_saved_yaml(void **state)
{
	struct parsed *p = parse_as(saved_runconfig_yaml, "train.runconfig",
				    "/p/aml_config");
	struct aml_runconfig *rc = &p->rc;

	(void)state;
	if (p->result)
		fail_msg("%s", p->errors);
	assert_int_equal(rc->form, AML_FORM_RUN_CONFIGURATION);
	assert_string_equal(rc->source_directory, "/p");
	assert_int_equal(rc->distributed.type, AML_DIST_PYTORCH);
	assert_string_equal(rc->distributed.backend, "nccl");
	assert_int_equal(rc->distributed.process_count_per_node, 4);
	assert_int_equal(rc->max_run_duration_seconds, 2592000);
	assert_string_equal(rc->environment.docker_shm_size, "16g");
	assert_false(rc->environment.docker_enabled);
	assert_string_equal(env_get(rc, "EXAMPLE_ENV_VAR"), "EXAMPLE_VALUE");
	assert_string_equal(env_get(rc, "OMP_NUM_THREADS"), "4");
	assert_string_equal(rc->environment.interpreter_path, "python");
	assert_string_equal(rc->experiment_name, "p");
	parsed_free(p);
}

static void test_runconfiguration_pyTorch_spelling(void **state)
{
	struct parsed *p = ok("{\"script\":\"t.py\",\"framework\":\"PyTorch\","
			      "\"communicator\":\"Gloo\",\"nodeCount\":2,"
			      "\"pyTorch\":{\"processCount\":4}}",
			      "x.runconfig");

	(void)state;
	assert_string_equal(p->rc.distributed.backend, "gloo");
	assert_int_equal(p->rc.distributed.process_count_per_node, 2);
	parsed_free(p);
}

static void test_runconfiguration_tensorflow_and_legacy(void **state)
{
	struct parsed *p = ok("{\"ArgumentVector\":[\"t.py\",\"--x\",2],"
			      "\"Target\":\"cpu\",\"Framework\":\"TensorFlow\","
			      "\"communicator\":\"ParameterServer\","
			      "\"tensorflow\":{\"workerCount\":3},"
			      "\"EnvironmentVariables\":{\"K\":\"v\"},"
			      "\"TrackedRun\":true}",
			      "old.runconfig");

	(void)state;
	assert_string_equal(p->rc.script, "t.py");
	assert_int_equal(p->rc.arguments.count, 2);
	assert_string_equal(p->rc.compute_target, "cpu");
	assert_int_equal(p->rc.distributed.type, AML_DIST_TENSORFLOW);
	assert_int_equal(p->rc.distributed.worker_count, 3);
	assert_int_equal(p->rc.distributed.parameter_server_count, 1);
	assert_int_equal(p->rc.node_count, 3);
	assert_string_equal(env_get(&p->rc, "K"), "v");
	parsed_free(p);
}

static void test_runconfiguration_rejections(void **state)
{
	struct parsed *p;

	(void)state;
	p = parse_as("{\"script\":\"t.py\",\"framework\":\"PySpark\"}",
		     "x.runconfig", BASE);
	assert_int_equal(p->result, -1);
	assert_non_null(strstr(p->errors, "x.runconfig: framework: must be Python, PyTorch or TensorFlow"));
	parsed_free(p);
	p = parse_as("{\"script\":\"t.py\",\"target\":\"c\",\"dataReferences\":{\"d\":{}}}",
		     "x.runconfig", BASE);
	assert_int_equal(p->result, -1);
	assert_non_null(strstr(p->errors, "x.runconfig: dataReferences: Azure ML data bindings are not supported on Slurm"));
	parsed_free(p);
	p = parse_as("{\"script\":\"t.py\",\"target\":\"c\",\"nodeCont\":2}",
		     "x.runconfig", BASE);
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errors,
			    "x.runconfig: nodeCont: unknown key for a RunConfiguration (line 1); did you mean \"nodeCount\"?");
	parsed_free(p);
}

/* ---- form 3: command job ---- */

static void test_command_job_yaml(void **state)
{
	struct parsed *p = ok(
		"$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
		"type: command\n"
		"name: cifar_run_7\n"
		"display_name: cifar\n"
		"experiment_name: cifar\n"
		"description: train\n"
		"tags: {owner: alice}\n"
		"code: ./src\n"
		"command: >-\n"
		"  python train.py --data ${{inputs.data}} --lr ${{inputs.lr}}\n"
		"  --out ${{outputs.model}} $[[--seed ${{inputs.seed}}]]\n"
		"inputs:\n"
		"  data:\n"
		"    type: uri_folder\n"
		"    path: ../data/cifar\n"
		"  lr: 0.01\n"
		"  seed:\n"
		"    type: integer\n"
		"    optional: true\n"
		"outputs:\n"
		"  model:\n"
		"    type: uri_folder\n"
		"environment: azureml:pytorch-env:4\n"
		"environment_variables: {NCCL_DEBUG: INFO}\n"
		"compute: azureml:gpu-cluster\n"
		"resources:\n"
		"  instance_count: 2\n"
		"  shm_size: 16g\n"
		"  instance_type: ignored\n"
		"distribution:\n"
		"  type: pytorch\n"
		"  process_count_per_instance: 4\n"
		"limits:\n"
		"  timeout: 7200\n",
		"job.yml");
	struct aml_runconfig *rc = &p->rc;

	(void)state;
	assert_int_equal(rc->form, AML_FORM_COMMAND_JOB);
	assert_string_equal(rc->run_id, "cifar_run_7");
	assert_string_equal(rc->source_directory, BASE "/src");
	assert_string_equal(rc->command_line,
			    "python train.py --data /home/alice/data/cifar --lr 0.01 --out outputs/model");
	assert_string_equal(rc->compute_target, "gpu-cluster");
	assert_int_equal(rc->node_count, 2);
	assert_int_equal(rc->distributed.type, AML_DIST_PYTORCH);
	assert_int_equal(rc->distributed.process_count_per_node, 4);
	assert_int_equal(aml_runconfig_process_count(rc), 8);
	assert_int_equal(rc->max_run_duration_seconds, 7200);
	assert_string_equal(rc->environment.name, "pytorch-env");
	assert_string_equal(rc->environment.version, "4");
	assert_string_equal(rc->environment.docker_shm_size, "16g");
	assert_string_equal(env_get(rc, "NCCL_DEBUG"), "INFO");
	assert_string_equal(env_get(rc, "AZURE_ML_INPUT_data"),
			    "/home/alice/data/cifar");
	assert_string_equal(env_get(rc, "AZURE_ML_INPUT_lr"), "0.01");
	assert_string_equal(env_get(rc, "AZURE_ML_OUTPUT_model"),
			    "outputs/model");
	assert_string_equal(rc->tags.items[0].value, "alice");
	parsed_free(p);
}

static void test_command_job_optional_block_kept(void **state)
{
	struct parsed *p = ok("type: command\n"
			      "command: python t.py $[[--seed ${{inputs.seed}}]]\n"
			      "inputs: {seed: 3}\n",
			      "job.yml");

	(void)state;
	assert_string_equal(p->rc.command_line, "python t.py --seed 3");
	parsed_free(p);
}

static void test_command_job_tensorflow_defaults(void **state)
{
	struct parsed *p = ok("type: command\ncommand: python t.py\n"
			      "resources: {instance_count: 3}\n"
			      "distribution: {type: tensorflow}\n",
			      "job.yml");

	(void)state;
	assert_int_equal(p->rc.distributed.worker_count, 3);
	assert_int_equal(p->rc.distributed.parameter_server_count, 0);
	assert_int_equal(p->rc.node_count, 3);
	parsed_free(p);
}

static void test_command_job_rejections(void **state)
{
	struct parsed *p;

	(void)state;
	p = parse_as("type: command\ncommand: python t.py --lr ${{inputs.lr}}\n",
		     "job.yml", BASE);
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errors,
			    "job.yml: command: cannot resolve ${{inputs.lr}}: only the inputs and outputs this file declares can be used");
	parsed_free(p);
	p = parse_as("type: command\ncommand: python t.py ${{search_space.lr}}\n",
		     "job.yml", BASE);
	assert_int_equal(p->result, -1);
	assert_non_null(strstr(p->errors, "cannot resolve ${{search_space.lr}}"));
	parsed_free(p);
	p = parse_as("type: command\ncommand: python t.py\n"
		     "distribution: {type: mpi}\n",
		     "job.yml", BASE);
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errors,
			    "job.yml: distribution.process_count_per_instance: is required for an MPI distribution");
	parsed_free(p);
	p = parse_as("type: pipeline\ncommand: x\n", "job.yml", BASE);
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errors,
			    "job.yml: type: only command jobs can run through sbatch, got \"pipeline\"");
	parsed_free(p);
	/* Refused once: not again as an input "with no value". */
	p = parse_as("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_folder, path: azureml://datastores/x/paths/y}}\n",
		     "job.yml", BASE);
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errors,
			    "job.yml: inputs.d.path: datastore \"x\" is not mapped on this cluster (aml.conf maps none: add a Datastore= line)");
	parsed_free(p);
	/* Found by the fuzzer: a null command was taken for no command. */
	p = parse_as("type: command\ncommand:\n", "job.yml", BASE);
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errors,
			    "job.yml: command: is required in a command job");
	parsed_free(p);
	p = parse_as("type: command\ncode: .\n", "job.yml", BASE);
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errors,
			    "job.yml: command: is required in a command job");
	parsed_free(p);
	p = parse_as("type: command\ncommand: x\nlimits: {timeout: 0}\n"
		     "resources: {instance_cont: 2}\n", "job.yml", BASE);
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errs.lines[0],
			    "job.yml: resources.instance_cont: unknown key for a command job (line 4); did you mean \"instance_count\"?");
	assert_string_equal(p->errs.lines[1],
			    "job.yml: limits.timeout: must be a whole number from 1 to 3153600000, got 0");
	parsed_free(p);
}

/* ---- detection ---- */

static void test_form_from_content_not_name(void **state)
{
	struct parsed *p;

	(void)state;
	/* A v2 job saved as .json, a runconfig saved as .yml. */
	p = ok("{\"type\": \"command\", \"command\": \"ls\"}", "job.json");
	assert_int_equal(p->rc.form, AML_FORM_COMMAND_JOB);
	parsed_free(p);
	p = ok("script: t.py\ntarget: cpu\nnodeCount: 1\n", "rc.yml");
	assert_int_equal(p->rc.form, AML_FORM_RUN_CONFIGURATION);
	parsed_free(p);
	p = ok("{\"script\": \"t.py\"}", "rc.runconfig");
	assert_int_equal(p->rc.form, AML_FORM_RUN_CONFIGURATION);
	parsed_free(p);
}

/* ---- the environment ---- */

struct reference_case {
	const char *text;
	const char *name, *version, *registry;
};

/* Every form a v2 environment reference takes, as Azure ML and its CLI
 * write them. */
static void test_environment_references(void **state)
{
	static const struct reference_case cases[] = {
		{ "azureml:pytorch-env:4", "pytorch-env", "4", NULL },
		{ "azureml:pytorch-env@latest", "pytorch-env", NULL, NULL },
		{ "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu",
		  "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", NULL, NULL },
		{ "pytorch-env:4", "pytorch-env", "4", NULL },
		{ "pytorch-env@latest", "pytorch-env", NULL, NULL },
		{ "pytorch-env", "pytorch-env", NULL, NULL },
		{ "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
		  "sklearn-1.5", NULL, "azureml" },
		{ "azureml://registries/my-reg/environments/sklearn-1.5/versions/12",
		  "sklearn-1.5", "12", "my-reg" },
		{ "azureml:/subscriptions/00000000-1111/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/environments/my-env/versions/3",
		  "my-env", "3", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct parsed *p;

		snprintf(text, sizeof(text),
			 "type: command\ncommand: x\nenvironment: %s\n",
			 cases[i].text);
		p = ok(text, "job.yml");
		assert_string_equal(p->rc.environment.name, cases[i].name);
		if (cases[i].version)
			assert_string_equal(p->rc.environment.version,
					    cases[i].version);
		else
			assert_null(p->rc.environment.version);
		if (cases[i].registry)
			assert_string_equal(p->rc.environment.registry,
					    cases[i].registry);
		else
			assert_null(p->rc.environment.registry);
		assert_null(p->rc.environment.environment_file);
		parsed_free(p);
	}
}

static void test_environment_file_reference(void **state)
{
	struct parsed *p = ok("type: command\ncommand: x\n"
			      "environment: file:./environments/../env/env.yml\n",
			      "job.yml");

	(void)state;
	/* Read by aml_runconfig_read_files (test_read_environment_file). */
	assert_string_equal(p->rc.environment.environment_file,
			    BASE "/env/env.yml");
	assert_null(p->rc.environment.name);
	assert_null(p->rc.environment.version);
	parsed_free(p);
}

static void test_environment_bad_references(void **state)
{
	static const char forms[] =
		"must be azureml:NAME:VERSION, azureml:NAME@latest, NAME:VERSION, NAME, azureml://registries/REGISTRY/environments/NAME/versions/VERSION (or /labels/latest), azureml:/subscriptions/.../environments/NAME/versions/VERSION, file:PATH or an object";
	static const char *const malformed[] = {
		"azureml:", "azureml:a:b:c", "azureml:a b:1", "http://x/y",
		"azureml://registries/azureml/models/m/versions/1",
		"azureml://registries/azureml/environments/e",
		"azureml://registries/azureml/environments/e/versions/1/x",
		"azureml:/subscriptions/s/environments/e",
		"azureml:/subscriptions/s/rg/environments/e/labels/latest",
		"azureml:e@",
	};
	char text[512], expected[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]);
	     i++) {
		snprintf(text, sizeof(text),
			 "type: command\ncommand: x\nenvironment: \"%s\"\n",
			 malformed[i]);
		snprintf(expected, sizeof(expected),
			 "job.yml: environment: %s, got \"%s\"", forms,
			 malformed[i]);
		fails_as(text, "job.yml", expected);
	}
	fails_as("type: command\ncommand: x\nenvironment: azureml:e@stable\n",
		 "job.yml",
		 "job.yml: environment: only @latest: the site's catalogue has versions, not labels, got \"azureml:e@stable\"");
	fails_as("type: command\ncommand: x\nenvironment: "
		 "azureml://registries/azureml/environments/e/labels/prod\n",
		 "job.yml",
		 "job.yml: environment: only @latest: the site's catalogue has versions, not labels, got \"azureml://registries/azureml/environments/e/labels/prod\"");
	fails_as("type: command\ncommand: x\nenvironment: 'file:'\n",
		 "job.yml",
		 "job.yml: environment: file: must be followed by the environment file's path, got \"file:\"");
}

static void test_environment_v2_definition(void **state)
{
	struct parsed *p = ok(
		"type: command\ncommand: x\n"
		"environment:\n"
		"  $schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
		"  name: docker-context\n"
		"  version: 2\n"
		"  description: built from a context\n"
		"  tags: {team: vision}\n"
		"  os_type: Linux\n"
		"  build:\n"
		"    path: ./docker/../ctx\n"
		"    dockerfile_path: gpu/./Dockerfile\n"
		"  conda_file: conda.yml\n",
		"job.yml");
	struct aml_environment *env = &p->rc.environment;

	(void)state;
	assert_string_equal(env->name, "docker-context");
	assert_string_equal(env->version, "2");
	assert_string_equal(env->build_context, BASE "/ctx");
	assert_string_equal(env->build_dockerfile, "gpu/Dockerfile");
	assert_string_equal(env->conda_dependencies_file, BASE "/conda.yml");
	assert_null(env->docker_base_image);
	assert_false(env->docker_enabled);
	parsed_free(p);

	p = ok("type: command\ncommand: x\n"
	       "environment:\n"
	       "  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n"
	       "  build: null\n"
	       "  conda_file:\n"
	       "    name: e\n"
	       "    dependencies: [python=3.10, {pip: [numpy]}]\n",
	       "job.yml");
	env = &p->rc.environment;
	assert_true(env->docker_enabled);
	assert_string_equal(env->docker_base_image,
			    "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04");
	assert_string_equal(env->conda_dependencies,
			    "{\"name\":\"e\",\"dependencies\":[\"python=3.10\",{\"pip\":[\"numpy\"]}]}");
	assert_null(env->conda_dependencies_file);
	parsed_free(p);

	p = ok("type: command\ncommand: x\n"
	       "environment: {build: {path: ctx}}\n", "job.yml");
	assert_string_equal(p->rc.environment.build_dockerfile, "Dockerfile");
	parsed_free(p);
}

static void test_environment_v2_refusals(void **state)
{
	(void)state;
	fails_as("type: command\ncommand: x\n"
		 "environment: {image: i, build: {path: ctx}}\n", "job.yml",
		 "job.yml: environment.build: image and build are alternatives (as in Azure ML): give one");
	fails_as("type: command\ncommand: x\n"
		 "environment: {image: i, os_type: windows}\n", "job.yml",
		 "job.yml: environment.os_type: only linux nodes run jobs here, got \"windows\"");
	fails_as("type: command\ncommand: x\n"
		 "environment: {image: i, inference_config: {liveness_route: {port: 5001, path: /}}}\n",
		 "job.yml",
		 "job.yml: environment.inference_config: inference configurations are for deployments (online endpoints), not jobs, got an object");
	fails_as("type: command\ncommand: x\n"
		 "environment: {build: {path: 'https://github.com/x/y.git#main:docker'}}\n",
		 "job.yml",
		 "job.yml: environment.build.path: must be a directory on the shared filesystem (Azure storage and git build contexts cannot be reached from the cluster), got \"https://github.com/x/y.git#main:docker\"");
	fails_as("type: command\ncommand: x\n"
		 "environment: {build: {path: ctx, dockerfile_path: ../Dockerfile}}\n",
		 "job.yml",
		 "job.yml: environment.build.dockerfile_path: must be the path of a file inside the build context, got \"../Dockerfile\"");
	fails_as("type: command\ncommand: x\n"
		 "environment: {build: {dockerfile_path: Dockerfile}}\n",
		 "job.yml",
		 "job.yml: environment.build.path: is required: the build context's directory");
	fails_as("type: command\ncommand: x\nenvironment: {imag: i}\n",
		 "job.yml",
		 "job.yml: environment.imag: unknown key for a command job (line 3); did you mean \"image\"?");
}

/* The environment sections Azure ML writes into every saved .runconfig,
 * each at its default: accepted, and asking for nothing. */
static const char sdk_default_environment[] =
	"script: train.py\n"
	"target: cpu\n"
	"framework: Python\n"
	"environment:\n"
	"  name: Experiment train Environment\n"
	"  version: Autosave_2021-06-01T10:00:00Z_0f4a1c2b\n"
	"  assetId: azureml://locations/westeurope/workspaces/w/environments/e/versions/1\n"
	"  environmentVariables:\n"
	"    EXAMPLE_ENV_VAR: EXAMPLE_VALUE\n"
	"  python:\n"
	"    userManagedDependencies: false\n"
	"    interpreterPath: python\n"
	"    condaDependenciesFile:\n"
	"    baseCondaEnvironment:\n"
	"  docker:\n"
	"    enabled: false\n"
	"    baseImage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n"
	"    baseDockerfile:\n"
	"    buildContext:\n"
	"    sharedVolumes: true\n"
	"    gpuSupport: false\n"
	"    shmSize: 2g\n"
	"    arguments: []\n"
	"    baseImageRegistry:\n"
	"      address:\n"
	"      username:\n"
	"      password:\n"
	"      registryIdentity:\n"
	"    platform:\n"
	"      os: Linux\n"
	"      architecture: amd64\n"
	"  spark:\n"
	"    repositories: []\n"
	"    packages: []\n"
	"    precachePackages: true\n"
	"  databricks:\n"
	"    mavenLibraries: []\n"
	"    pypiLibraries: []\n"
	"    rcranLibraries: []\n"
	"    jarLibraries: []\n"
	"    eggLibraries: []\n"
	"  r:\n"
	"  inferencingStackVersion:\n"
	"docker:\n"
	"  useDocker: false\n"
	"  sharedVolumes: true\n"
	"  arguments: []\n"
	"  shmSize: 2g\n";

static void test_environment_v1_defaults_accepted(void **state)
{
	struct parsed *p = ok(sdk_default_environment, "train.runconfig");
	struct aml_environment *env = &p->rc.environment;

	(void)state;
	assert_string_equal(env->name, "Experiment train Environment");
	assert_false(env->user_managed_dependencies);
	/* "python" with userManagedDependencies false: the environment's
	 * own python, which is the run's anyway. */
	assert_null(env->interpreter_path);
	assert_null(env->docker_base_dockerfile);
	assert_null(env->build_context);
	assert_null(env->build_dockerfile);
	assert_null(env->registry_address);
	assert_false(env->registry_credentials_given);
	assert_null(env->conda_dependencies_file);
	parsed_free(p);
}

/* The same object in snake_case, as a ScriptRunConfig writes it. */
static void test_environment_v1_snake_case(void **state)
{
	struct parsed *p = ok(
		"{\"script\": \"t.py\", \"environment\": {"
		" \"asset_id\": null, \"r\": null,"
		" \"inferencing_stack_version\": null,"
		" \"spark\": {\"repositories\": [], \"packages\": [],"
		"  \"precache_packages\": false},"
		" \"databricks\": {\"maven_libraries\": [], \"egg_libraries\": []},"
		" \"python\": {\"base_conda_environment\": null,"
		"  \"interpreter_path\": \"python\"},"
		" \"docker\": {\"shared_volumes\": true, \"gpu_support\": false,"
		"  \"platform\": {\"os\": \"linux\", \"architecture\": \"x86_64\"},"
		"  \"base_dockerfile\": \"FROM debian:12\\nRUN true\\n\","
		"  \"base_image_registry\": {\"address\": \"reg.example.org\"}}}}",
		"run.json");
	struct aml_environment *env = &p->rc.environment;

	(void)state;
	assert_null(env->interpreter_path);
	assert_string_equal(env->docker_base_dockerfile,
			    "FROM debian:12\nRUN true\n");
	assert_string_equal(env->registry_address, "reg.example.org");
	assert_false(env->registry_credentials_given);
	parsed_free(p);
}

static void test_environment_v1_honoured(void **state)
{
	struct parsed *p = ok(
		"script: train.py\n"
		"environment:\n"
		"  docker:\n"
		"    enabled: true\n"
		"    baseImage:\n"
		"    buildContext:\n"
		"      location: docker/ctx\n"
		"      dockerfilePath: gpu/Dockerfile\n"
		"    baseImageRegistry:\n"
		"      address: myacr.azurecr.io\n"
		"      username: robot\n"
		"      password: hunter2-SECRET\n",
		"x.runconfig");
	struct aml_environment *env = &p->rc.environment;

	(void)state;
	assert_true(env->docker_enabled);
	assert_string_equal(env->build_context, BASE "/docker/ctx");
	assert_string_equal(env->build_dockerfile, "gpu/Dockerfile");
	assert_string_equal(env->registry_address, "myacr.azurecr.io");
	assert_true(env->registry_credentials_given);
	parsed_free(p);
}

/* A non-default value in each section Azure ML writes: refused, with
 * the field in the file's own spelling. */
static void test_environment_v1_refusals(void **state)
{
	(void)state;
	fails_as("script: t.py\ntarget: c\nenvironment:\n"
		 "  spark:\n"
		 "    repositories: [https://mmlspark.azureedge.net/maven]\n"
		 "    packages: [{group: com.microsoft.ml.spark, artifact: mmlspark_2.11, version: '0.12'}]\n",
		 "x.runconfig",
		 "x.runconfig: environment.spark.repositories: Spark packages are for PySpark runs, which need a Spark cluster; not supported on Slurm, got an array\n"
		 "x.runconfig: environment.spark.packages: Spark packages are for PySpark runs, which need a Spark cluster; not supported on Slurm, got an array");
	fails_as("script: t.py\ntarget: c\nenvironment:\n"
		 "  databricks: {mavenLibraries: [], pypiLibraries: [{package: x}]}\n",
		 "x.runconfig",
		 "x.runconfig: environment.databricks.pypiLibraries: Databricks libraries need a Databricks cluster; not supported on Slurm, got an array");
	fails_as("script: t.py\ntarget: c\nenvironment:\n"
		 "  r: {rVersion: '4.0'}\n"
		 "  inferencingStackVersion: latest\n",
		 "x.runconfig",
		 "x.runconfig: environment.r: R environments are not supported on Slurm: only Python runs, got an object\n"
		 "x.runconfig: environment.inferencingStackVersion: inferencing stacks are for deployed models, not training runs, got \"latest\"");
	fails_as("script: t.py\ntarget: c\nenvironment:\n"
		 "  python: {baseCondaEnvironment: base}\n",
		 "x.runconfig",
		 "x.runconfig: environment.python.baseCondaEnvironment: building on another conda environment is not supported; list its packages in the conda specification instead, got \"base\"");
	fails_as("script: t.py\ntarget: c\nenvironment:\n"
		 "  docker:\n"
		 "    sharedVolumes: false\n"
		 "    gpuSupport: true\n"
		 "    platform: {os: Windows, architecture: arm64}\n"
		 "docker: {sharedVolumes: false}\n",
		 "x.runconfig",
		 "x.runconfig: environment.docker.sharedVolumes: must be true: the run's directory is always shared with the run here (Azure ML's copy-instead workaround for broken shared volumes is not offered), got false\n"
		 "x.runconfig: environment.docker.gpuSupport: GPUs come from the compute target here (its gres), not from the environment: choose a GPU compute target and remove it, got true\n"
		 "x.runconfig: environment.docker.platform.os: only Linux nodes run jobs here, got \"Windows\"\n"
		 "x.runconfig: environment.docker.platform.architecture: only amd64 (x86_64) nodes run jobs here, got \"arm64\"\n"
		 "x.runconfig: docker.sharedVolumes: must be true: the run's directory is always shared with the run here (Azure ML's copy-instead workaround for broken shared volumes is not offered), got false");
	fails_as("script: t.py\ntarget: c\nenvironment:\n"
		 "  docker:\n"
		 "    baseImage: img\n"
		 "    baseDockerfile: FROM x\n"
		 "    buildContext: {locationType: storageAccount, location: 'https://acct.blob.core.windows.net/c/ctx'}\n"
		 "    baseImageRegistry: {registryIdentity: {clientId: x}}\n",
		 "x.runconfig",
		 "x.runconfig: environment.docker.buildContext.locationType: only a directory on the shared filesystem can be a build context here: give it as location, without a type, got \"storageAccount\"\n"
		 "x.runconfig: environment.docker.buildContext.location: must be a directory on the shared filesystem (Azure storage and git build contexts cannot be reached from the cluster), got \"https://acct.blob.core.windows.net/c/ctx\"\n"
		 "x.runconfig: environment.docker.baseImageRegistry.registryIdentity: Azure managed identities cannot sign in to a registry from the cluster, got an object\n"
		 "x.runconfig: environment.docker: baseImage, baseDockerfile and buildContext are alternatives (as in Azure ML): give one");
	fails_as("{\"script\": \"t.py\", \"environment\": {\"docker\":"
		 " {\"base_image\": \"i\", \"build_context\": {\"location\": \"c\"}}}}",
		 "run.json",
		 "run.json: environment.docker: base_image, base_dockerfile and build_context are alternatives (as in Azure ML): give one");
	fails_as("{\"script\": \"t.py\", \"environment\": {\"registry\": \"azureml\"}}",
		 "run.json",
		 "run.json: environment.registry: names the registry of an environment, and environment.name is missing");
	/* Only the canonical spelling has the canonical form's keys. */
	fails_as("script: t.py\ntarget: c\nenvironment: {registry: r}\n",
		 "x.runconfig",
		 "x.runconfig: environment.registry: unknown key for a RunConfiguration (line 3)");
}

/* A credential is never echoed, even in a type error. */
static void test_environment_registry_secret_not_shown(void **state)
{
	struct parsed *p = parse_as(
		"script: t.py\ntarget: c\nenvironment:\n"
		"  docker:\n"
		"    baseImageRegistry: {address: r, username: u, password: 73105113}\n",
		"x.runconfig", BASE);

	(void)state;
	assert_int_equal(p->result, -1);
	assert_string_equal(p->errors,
			    "x.runconfig: environment.docker.baseImageRegistry.password: must be a string (its value is not shown)");
	parsed_free(p);
}

/* Registry credentials reach neither the canonical form nor, from it,
 * the controller, history or the job: only that they were given. */
static void test_environment_credentials_not_encoded(void **state)
{
	struct parsed *p = ok("script: t.py\ntarget: c\nenvironment:\n"
			      "  docker:\n"
			      "    baseImageRegistry: {address: myacr.azurecr.io,"
			      " username: robot-user, password: hunter2-SECRET}\n",
			      "x.runconfig");
	char *canonical = aml_runconfig_encode(&p->rc);
	struct parsed *back;

	(void)state;
	assert_non_null(canonical);
	assert_null(strstr(canonical, "hunter2"));
	assert_null(strstr(canonical, "robot-user"));
	assert_non_null(strstr(canonical,
			       "\"base_image_registry\":{\"address\":\"myacr.azurecr.io\",\"credentials_given\":true}"));
	back = parse_as(canonical, "canonical", NULL);
	assert_int_equal(back->result, 0);
	assert_true(back->rc.environment.registry_credentials_given);
	assert_string_equal(back->rc.environment.registry_address,
			    "myacr.azurecr.io");
	parsed_free(back);
	free(canonical);
	parsed_free(p);
}

/* v1: interpreter_path counts only with user_managed_dependencies, and a
 * conda specification contradicts it. */
static void test_python_rules(void **state)
{
	struct parsed *p;

	(void)state;
	p = ok("{\"script\": \"t.py\", \"environment\": {\"python\":"
	       " {\"interpreter_path\": \"python\"}}}", "run.json");
	assert_null(p->rc.environment.interpreter_path);
	parsed_free(p);
	p = ok("{\"script\": \"t.py\", \"environment\": {\"python\":"
	       " {\"interpreter_path\": \"/opt/py/bin/python3\","
	       " \"user_managed_dependencies\": true}}}", "run.json");
	assert_string_equal(p->rc.environment.interpreter_path,
			    "/opt/py/bin/python3");
	parsed_free(p);
	p = ok("{\"script\": \"t.py\", \"environment\": {\"python\":"
	       " {\"user_managed_dependencies\": true}}}", "run.json");
	assert_null(p->rc.environment.interpreter_path);
	parsed_free(p);
	fails_with("{\"script\": \"t.py\", \"environment\": {\"python\":"
		   " {\"interpreter_path\": \"python3\"}}}",
		   "run.json: environment.python.interpreter_path: used only with user_managed_dependencies: true (Azure ML ignores it otherwise); remove it or set user_managed_dependencies: true");
	fails_as("script: t.py\ntarget: c\nenvironment:\n"
		 "  python: {userManagedDependencies: false, interpreterPath: /usr/bin/python3}\n",
		 "x.runconfig",
		 "x.runconfig: environment.python.interpreterPath: used only with userManagedDependencies: true (Azure ML ignores it otherwise); remove it or set userManagedDependencies: true");
	fails_with("{\"script\": \"t.py\", \"environment\": {\"python\":"
		   " {\"user_managed_dependencies\": true,"
		   " \"conda_dependencies\": {\"dependencies\": [\"numpy\"]},"
		   " \"conda_dependencies_file\": \"c.yml\"}}}",
		   "run.json: environment.python.conda_dependencies: cannot be used with user_managed_dependencies: true (the run then uses its interpreter as it is, and nothing is built); remove one of them\n"
		   "run.json: environment.python.conda_dependencies_file: cannot be used with user_managed_dependencies: true (the run then uses its interpreter as it is, and nothing is built); remove one of them");
	fails_as("script: t.py\ntarget: c\nCondaDependenciesFile: c.yml\n"
		 "environment: {python: {userManagedDependencies: true}}\n",
		 "x.runconfig",
		 "x.runconfig: CondaDependenciesFile: cannot be used with userManagedDependencies: true (the run then uses its interpreter as it is, and nothing is built); remove one of them");
	fails_with("{\"script\": \"t.py\", \"environment\": {\"python\":"
		   " {\"interpreter_path\": \"\","
		   " \"user_managed_dependencies\": true}}}",
		   "run.json: environment.python.interpreter_path: must not be empty");
}

/* ---- canonical round trip ---- */

static void assert_same_text(const char *a, const char *b)
{
	if (a || b) {
		assert_non_null(a);
		assert_non_null(b);
		assert_string_equal(a, b);
	}
}

static void assert_environment_equal(const struct aml_environment *a,
				     const struct aml_environment *b)
{
	assert_same_text(a->name, b->name);
	assert_same_text(a->version, b->version);
	assert_same_text(a->registry, b->registry);
	assert_same_text(a->environment_file, b->environment_file);
	assert_same_text(a->interpreter_path, b->interpreter_path);
	assert_int_equal(a->user_managed_dependencies,
			 b->user_managed_dependencies);
	assert_same_text(a->conda_dependencies, b->conda_dependencies);
	assert_same_text(a->conda_dependencies_file,
			 b->conda_dependencies_file);
	assert_int_equal(a->docker_enabled, b->docker_enabled);
	assert_same_text(a->docker_base_image, b->docker_base_image);
	assert_same_text(a->docker_shm_size, b->docker_shm_size);
	assert_int_equal(a->docker_arguments.count, b->docker_arguments.count);
	assert_same_text(a->docker_base_dockerfile, b->docker_base_dockerfile);
	assert_same_text(a->build_context, b->build_context);
	assert_same_text(a->build_dockerfile, b->build_dockerfile);
	assert_same_text(a->registry_address, b->registry_address);
	assert_int_equal(a->registry_credentials_given,
			 b->registry_credentials_given);
}

static void assert_roundtrip(const char *text, const char *filename)
{
	struct parsed *p = ok(text, filename);
	char *canonical = aml_runconfig_encode(&p->rc);
	char *again;
	struct aml_runconfig back;
	struct aml_errors errs;

	assert_non_null(canonical);
	aml_errors_init(&errs, "canonical");
	if (aml_runconfig_parse(canonical, strlen(canonical), "canonical",
				NULL, NULL, NULL, &back, &errs) != 0)
		fail_msg("canonical form does not parse:\n%s\n%s", canonical,
			 errs.lines[0]);
	again = aml_runconfig_encode(&back);
	assert_string_equal(canonical, again);
	assert_int_equal(back.form, p->rc.form);
	assert_int_equal(back.node_count, p->rc.node_count);
	assert_int_equal(back.distributed.type, p->rc.distributed.type);
	assert_int_equal(back.distributed.process_count_per_node,
			 p->rc.distributed.process_count_per_node);
	assert_int_equal(back.distributed.worker_count,
			 p->rc.distributed.worker_count);
	assert_int_equal(back.distributed.parameter_server_count,
			 p->rc.distributed.parameter_server_count);
	assert_int_equal(back.max_run_duration_seconds,
			 p->rc.max_run_duration_seconds);
	assert_int_equal(back.max_run_duration_given,
			 p->rc.max_run_duration_given);
	assert_int_equal(back.environment_variables.count,
			 p->rc.environment_variables.count);
	assert_environment_equal(&back.environment, &p->rc.environment);
	assert_int_equal(back.output_names.count, p->rc.output_names.count);
	for (size_t i = 0; i < back.output_names.count; i++)
		assert_string_equal(back.output_names.items[i],
				    p->rc.output_names.items[i]);
	free(canonical);
	free(again);
	aml_runconfig_free(&back);
	aml_errors_free(&errs);
	parsed_free(p);
}

/* ---- issue 19: output folders, Workbench runconfigs, reserved names ---- */

/* A command job's outputs are names of folders the node makes: kept in
 * the model and carried by the canonical form. */
static void test_output_names(void **state)
{
	static const char job[] =
		"$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
		"command: python t.py --m ${{outputs.model}} --e ${{outputs.evals}}\n"
		"outputs:\n"
		"  model:\n"
		"    type: uri_folder\n"
		"  evals:\n";
	struct parsed *p = ok(job, "job.yml");

	(void)state;
	assert_int_equal(p->rc.output_names.count, 2);
	assert_string_equal(p->rc.output_names.items[0], "model");
	assert_string_equal(p->rc.output_names.items[1], "evals");
	assert_string_equal(p->rc.command_line,
			    "python t.py --m outputs/model --e outputs/evals");
	parsed_free(p);
	assert_roundtrip(job, "job.yml");
	/* None declared: none carried, and no key in the canonical form. */
	p = ok("{\"script\": \"t.py\"}", "run.json");
	assert_int_equal(p->rc.output_names.count, 0);
	{
		char *c = aml_runconfig_encode(&p->rc);

		assert_null(strstr(c, "output_folders"));
		free(c);
	}
	parsed_free(p);
}

/* The canonical form's names are judged again: the node makes folders
 * of them. */
static void test_output_folders_checked(void **state)
{
	(void)state;
	fails_with("{\"script\": \"t.py\", \"output_folders\": [\"../../etc\"]}",
		   "run.json: output_folders: must be names of 1 to 255 letters, digits and '_', not starting with a digit, got \"../../etc\"");
	fails_with("{\"script\": \"t.py\", \"output_folders\": [\"a/b\", \"ok\", \".\"]}",
		   "run.json: output_folders: must be names of 1 to 255 letters, digits and '_', not starting with a digit, got \"a/b\"\n"
		   "run.json: output_folders: must be names of 1 to 255 letters, digits and '_', not starting with a digit, got \".\"");
	fails_with("{\"script\": \"t.py\", \"output_folders\": \"model\"}",
		   "run.json: output_folders: must be a list, got \"model\"");
	fails_as("command: echo\n"
		 "type: command\n"
		 "outputs:\n"
		 "  x.y: {}\n",
		 "job.yml",
		 "job.yml: outputs.x.y: output names must be 1 to 255 letters, digits and '_', not starting with a digit");
}

/* One list of reserved names, checked by every parse, whatever the form,
 * in the form's own field names. */
static void test_reserved_variables_every_form(void **state)
{
	(void)state;
	fails_with("{\"script\": \"t.py\", \"environment\": {\"environment_variables\": {\"AZUREML_CR_BOOTSTRAPPER_CONFIG_OVERRIDE\": \"x\"}}}",
		   "run.json: environment.environment_variables.AZUREML_CR_BOOTSTRAPPER_CONFIG_OVERRIDE: reserved: names starting with AZUREML_CR_ are reserved for slurm-aml's node side");
	fails_as("script: t.py\n"
		 "framework: Python\n"
		 "environmentVariables:\n"
		 "  SLURM_JOB_ID: '1'\n",
		 "x.runconfig",
		 "x.runconfig: environmentVariables.SLURM_JOB_ID: reserved: names starting with SLURM_ are reserved for Slurm");
	fails_as("type: command\n"
		 "command: echo\n"
		 "environment_variables:\n"
		 "  AZUREML_RUN_ID: x\n"
		 "  AML_X: y\n",
		 "job.yml",
		 "job.yml: environment_variables.AZUREML_RUN_ID: reserved: slurm-aml sets it for every run\n"
		 "job.yml: environment_variables.AML_X: reserved: names starting with AML_ are reserved for slurm-aml");
	/* Other AZUREML_ names real configurations set are the run's. */
	parsed_free(ok("{\"script\": \"t.py\", \"environment\": {\"environment_variables\": {\"AZUREML_COMPUTE_USE_COMMON_RUNTIME\": \"false\"}}}",
		       "run.json"));
	/* The per-process names only in a distributed run. */
	parsed_free(ok("{\"script\": \"t.py\", \"environment\": {\"environment_variables\": {\"RANK\": \"0\"}}}",
		       "run.json"));
	fails_with("{\"script\": \"t.py\", \"distributed_job_config\": {\"type\": \"pytorch\", \"process_count\": 2}, \"environment\": {\"environment_variables\": {\"RANK\": \"0\"}}}",
		   "run.json: environment.environment_variables.RANK: reserved: slurm-aml sets it per process in a distributed run");
}

/* "2 nodes x 16 processes" read as 16 per node when 16 was the total. */
static void test_process_limit_message_per_node(void **state)
{
	(void)state;
	fails_containing("{\"script\": \"t.py\", \"node_count\": 100000, \"distributed_job_config\": {\"type\": \"mpi\", \"process_count_per_node\": 11}}",
			 "distributed_job_config: 100000 nodes x 11 processes per node is more than 1000000 processes in all");
}

/* Workbench (2017-2018) wrote these keys into every runconfig. */
static void test_workbench_keys(void **state)
{
	struct parsed *p;

	(void)state;
	p = ok("ArgumentVector: [train.py, --alpha, '0.5']\n"
	       "Target: local\n"
	       "Framework: Python\n"
	       "Description: first model\n"
	       "CondaDependenciesFile: aml_config/conda_dependencies.yml\n"
	       "SparkDependenciesFile: aml_config/spark_dependencies.yml\n"
	       "PrepareEnvironment: true\n"
	       "TrackedRun: true\n"
	       "UseSampling: true\n",
	       "local.runconfig");
	assert_int_equal(p->rc.form, AML_FORM_RUN_CONFIGURATION);
	assert_string_equal(p->rc.script, "train.py");
	assert_string_equal(p->rc.description, "first model");
	assert_false(p->rc.environment.user_managed_dependencies);
	assert_string_equal(p->rc.environment.conda_dependencies_file,
			    BASE "/aml_config/conda_dependencies.yml");
	parsed_free(p);

	/* ManagedEnvironment: false: the interpreter as it is, and the conda
	 * file Workbench then did not use is not read. */
	p = ok("ArgumentVector: [train.py]\n"
	       "ManagedEnvironment: false\n"
	       "CondaDependenciesFile: aml_config/conda_dependencies.yml\n"
	       "PrepareEnvironment: false\n",
	       "local.runconfig");
	assert_true(p->rc.environment.user_managed_dependencies);
	assert_null(p->rc.environment.conda_dependencies_file);
	parsed_free(p);

	/* CondaFile is the same file. */
	p = ok("ArgumentVector: [train.py]\n"
	       "CondaFile: env.yml\n", "local.runconfig");
	assert_string_equal(p->rc.environment.conda_dependencies_file,
			    BASE "/env.yml");
	parsed_free(p);
	fails_as("ArgumentVector: [train.py]\n"
		 "CondaFile: env.yml\n"
		 "CondaDependenciesFile: other.yml\n",
		 "local.runconfig",
		 "local.runconfig: CondaFile: names the conda file CondaDependenciesFile already names: keep one");

	/* Types are still checked. */
	fails_as("ArgumentVector: [train.py]\nUseSampling: often\n",
		 "local.runconfig",
		 "local.runconfig: UseSampling: must be true or false, got \"often\"");
}

static void test_workbench_refusals(void **state)
{
	(void)state;
	fails_as("ArgumentVector: [\"$file\", --epochs, '3']\n"
		 "Framework: Python\n",
		 "local.runconfig",
		 "local.runconfig: ArgumentVector: \"$file\" (item 1) is Azure ML Workbench's placeholder for the script named on its command line, and sbatch --aml-run names none: write the script's path relative to the project instead (ArgumentVector: [train.py, ...])");
	/* No Framework was PySpark in Workbench. */
	fails_as("ArgumentVector: [etl.py]\n"
		 "SparkDependenciesFile: aml_config/spark_dependencies.yml\n",
		 "docker.runconfig",
		 "docker.runconfig: SparkDependenciesFile: names Spark packages and no Framework is given, which Azure ML Workbench ran as PySpark: Spark is not available on Slurm; for a Python script write Framework: Python (SparkDependenciesFile is then not used)");
	fails_as("ArgumentVector: [etl.py]\n"
		 "Framework: PySpark\n",
		 "docker.runconfig",
		 "docker.runconfig: Framework: must be Python, PyTorch or TensorFlow on Slurm (PySpark and CNTK need their own clusters), got \"PySpark\"");
	/* An unknown key says what kind of file this is. */
	fails_as("ArgumentVector: [train.py]\n"
		 "Framework: Python\n"
		 "NativeSharedDirectory: x\n",
		 "local.runconfig",
		 "local.runconfig: NativeSharedDirectory: unknown key for a RunConfiguration (this is an Azure ML Workbench runconfig, 2017-2018) (line 3)");
}

/* ---- the lexical normal form both kinds of path share ---- */

static void expect_normal(const char *path, int absolute, const char *want)
{
	int escapes = -1;
	char *got = rc_normalise(path, absolute, &escapes);

	if (!want) {
		assert_null(got);
		assert_int_equal(escapes, 1);
		return;
	}
	assert_non_null(got);
	assert_int_equal(escapes, 0);
	assert_string_equal(got, want);
	free(got);
}

static void test_normalise(void **state)
{
	char *joined;

	(void)state;
	expect_normal("/a/./b/../c", 1, "/a/c");
	expect_normal("a//b/", 1, "/a/b");
	expect_normal("/../..", 1, "/");
	expect_normal("", 1, "/");
	expect_normal("/a/../../b", 1, "/b");
	expect_normal("a/./b/../c", 0, "a/c");
	expect_normal("a/..", 0, "");
	expect_normal("./x//y/", 0, "x/y");
	expect_normal("../src/x", 0, NULL);
	expect_normal("a/../../x", 0, NULL);
	joined = rc_join_normalise("/home/alice/p", "../q/./r");
	assert_string_equal(joined, "/home/alice/q/r");
	free(joined);
	joined = rc_join_normalise("/ignored", "/abs/../x");
	assert_string_equal(joined, "/x");
	free(joined);
}

/* A RunConfiguration's two places: the top-level list wins for a name
 * in both, which keeps its first place. */
static void test_runconfiguration_two_variable_lists(void **state)
{
	struct parsed *p = ok(
		"{\"script\":\"t.py\",\"framework\":\"Python\","
		"\"environment\":{\"environmentVariables\":{\"A\":\"1\",\"B\":\"2\"}},"
		"\"environmentVariables\":{\"C\":\"3\",\"A\":\"9\"}}",
		"x.runconfig");
	const struct aml_kvlist *v = &p->rc.environment_variables;

	(void)state;
	assert_int_equal(v->count, 3);
	assert_string_equal(v->items[0].key, "A");
	assert_string_equal(v->items[0].value, "9");
	assert_string_equal(v->items[1].key, "B");
	assert_string_equal(v->items[2].key, "C");
	parsed_free(p);
}

/* Bindings are found whatever the order they were declared in, and one
 * that is not declared is still refused. */
static void test_command_job_bindings_any_order(void **state)
{
	struct parsed *p = ok("type: command\n"
			      "command: t ${{inputs.zeta}} ${{inputs.alpha}} ${{inputs.mid}} ${{outputs.o2}} ${{outputs.o1}}\n"
			      "inputs: {zeta: 1, mid: 2, alpha: 3}\n"
			      "outputs: {o2: null, o1: null}\n",
			      "job.yml");

	(void)state;
	assert_string_equal(p->rc.command_line,
			    "t 1 3 2 outputs/o2 outputs/o1");
	/* The variables keep the file's order. */
	assert_string_equal(p->rc.environment_variables.items[0].key,
			    "AZURE_ML_INPUT_zeta");
	assert_string_equal(p->rc.environment_variables.items[3].key,
			    "AZURE_ML_OUTPUT_o2");
	parsed_free(p);
	fails_containing("{\"type\": \"command\", \"command\": \"t ${{inputs.alph}}\","
			 " \"inputs\": {\"alpha\": 1, \"alphab\": 2}}",
			 "cannot resolve ${{inputs.alph}}");
}

/* ---- limits on a configuration's size ---- */

/* Small limits, so each rule is tested on a few bytes. */
static const struct aml_run_limits small_limits = {
	.config_bytes = 400, .variables = 3, .arguments = 3,
	.argument_bytes = 16,
};

/* [text] parsed under small_limits: refused with exactly [expected]. */
static void limited_fails_with(const char *text, const char *filename,
			       const char *expected)
{
	struct aml_runconfig rc;
	struct aml_errors errs;
	char *joined;

	aml_errors_init(&errs, filename);
	assert_int_equal(aml_runconfig_parse(text, strlen(text), filename,
					     BASE, NULL, &small_limits, &rc,
					     &errs), -1);
	joined = joined_errors(&errs);
	assert_non_null(joined);
	if (strcmp(joined, expected))
		fail_msg("errors differ.\nexpected:\n%s\ngot:\n%s", expected,
			 joined);
	free(joined);
	aml_errors_free(&errs);
}

static void limited_ok(const char *text, const char *filename)
{
	struct aml_runconfig rc;
	struct aml_errors errs;

	aml_errors_init(&errs, filename);
	if (aml_runconfig_parse(text, strlen(text), filename, BASE, NULL,
				&small_limits, &rc, &errs) != 0)
		fail_msg("expected valid, got: %s", errs.lines[0]);
	aml_runconfig_free(&rc);
	aml_errors_free(&errs);
}

static void test_limits_default(void **state)
{
	struct aml_run_limits l;

	(void)state;
	aml_run_limits_default(&l);
	assert_true(l.config_bytes == 1048576);
	assert_int_equal(l.variables, 4096);
	assert_int_equal(l.arguments, 4096);
	assert_true(l.argument_bytes == 262144);
}

/* Over the size, nothing is read: not even the syntax error after it. */
static void test_limit_config_size(void **state)
{
	char text[512];

	(void)state;
	memset(text, ' ', sizeof(text) - 1);
	text[0] = '{';
	text[sizeof(text) - 1] = '\0';
	limited_fails_with(text, "run.json",
			   "run.json: the configuration is 511 bytes, at most 400 (MaxConfigSize in aml.conf)");
	assert_int_equal(aml_runconfig_check_size(400, "it", &small_limits,
						  NULL), 0);
}

static void test_limit_variables(void **state)
{
	(void)state;
	limited_ok("{\"script\": \"t.py\", \"environment\": {\"environment_variables\":"
		   " {\"A\": 1, \"B\": 2, \"C\": 3}}}", "run.json");
	/* The count is judged before the names: one line, not five. */
	limited_fails_with("{\"script\": \"t.py\", \"environment\": {\"environment_variables\":"
			   " {\"1\": 1, \"2\": 2, \"3\": 3, \"4\": 4, \"5\": 5}}}",
			   "run.json",
			   "run.json: environment.environment_variables: 5 variables, at most 3 (MaxEnvironmentVariables in aml.conf)");
	/* Two places of a RunConfiguration, each within the limit. */
	limited_fails_with("{\"script\":\"t.py\",\"framework\":\"Python\","
			   "\"environment\":{\"environmentVariables\":{\"A\":\"1\",\"B\":\"2\"}},"
			   "\"environmentVariables\":{\"C\":\"3\",\"D\":\"4\"}}",
			   "x.runconfig",
			   "x.runconfig: 4 environment variables in all, at most 3 (MaxEnvironmentVariables in aml.conf)");
	/* A command job's inputs and outputs are variables too. */
	limited_fails_with("{\"type\": \"command\", \"command\": \"t\","
			   " \"inputs\": {\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4}}",
			   "job.json",
			   "job.json: inputs: 4 inputs, each an environment variable, at most 3 (MaxEnvironmentVariables in aml.conf)");
	limited_fails_with("{\"type\": \"command\", \"command\": \"t\","
			   " \"environment_variables\": {\"A\": 1, \"B\": 2},"
			   " \"outputs\": {\"o\": null, \"p\": null}}",
			   "job.json",
			   "job.json: 4 environment variables in all, at most 3 (MaxEnvironmentVariables in aml.conf)");
}

static void test_limit_arguments(void **state)
{
	(void)state;
	limited_ok("{\"script\": \"t.py\", \"arguments\": [\"a\", \"b\", \"c\"]}",
		   "run.json");
	limited_fails_with("{\"script\": \"t.py\", \"arguments\": [1, 2, 3, {}]}",
			   "run.json",
			   "run.json: arguments: 4 arguments, at most 3 (MaxArguments in aml.conf)");
	/* A string of arguments is counted once it is split. */
	limited_fails_with("{\"script\": \"t.py\", \"arguments\": \"a b c d\"}",
			   "run.json",
			   "run.json: arguments: 4 arguments, at most 3 (MaxArguments in aml.conf)");
	limited_fails_with("{\"command\": [\"a\", \"b\", \"c\", \"d\"]}",
			   "run.json",
			   "run.json: command: 4 arguments, at most 3 (MaxArguments in aml.conf)");
	/* The script at the head of ArgumentVector is not an argument. */
	limited_ok("{\"framework\": \"Python\", \"ArgumentVector\": [\"t.py\", \"a\", \"b\", \"c\"]}",
		   "x.runconfig");
	limited_fails_with("{\"framework\": \"Python\", \"ArgumentVector\": [\"t.py\", \"a\", \"b\", \"c\", \"d\"]}",
			   "x.runconfig",
			   "x.runconfig: ArgumentVector: 4 arguments, at most 3 (MaxArguments in aml.conf)");
}

static void test_limit_argument_bytes(void **state)
{
	(void)state;
	/* 7 + 1 and 7 + 1: 16 bytes exactly. */
	limited_ok("{\"script\": \"t.py\", \"arguments\": [\"1234567\", \"1234567\"]}",
		   "run.json");
	limited_fails_with("{\"script\": \"t.py\", \"arguments\": [\"1234567\", \"12345678\"]}",
			   "run.json",
			   "run.json: arguments: 17 bytes of arguments, at most 16 (MaxArgumentsSize in aml.conf)");
	limited_fails_with("{\"command\": \"python t.py --x 1234\"}", "run.json",
			   "run.json: command: 21 bytes of arguments, at most 16 (MaxArgumentsSize in aml.conf)");
}

/* A file over the size is refused before it is read. */
static void test_limit_file_size(void **state)
{
	char path[] = "/tmp/aml-test-limit-XXXXXX";
	struct aml_runconfig rc;
	struct aml_errors errs;
	char expected[256];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	for (int i = 0; i < 41; i++)
		assert_int_equal(write(fd, "          ", 10), 10);
	close(fd);
	aml_errors_init(&errs, NULL);
	assert_int_equal(aml_runconfig_load(path, &small_limits, NULL, &rc, &errs),
			 -1);
	snprintf(expected, sizeof(expected),
		 "%s is 410 bytes, at most 400 (MaxConfigSize in aml.conf)",
		 path);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.lines[0], expected);
	aml_errors_free(&errs);
	unlink(path);
}

static void test_roundtrip_every_field(void **state)
{
	(void)state;
	assert_roundtrip(
		"{\"source_directory\": \"src\", \"script\": \"t.py\","
		" \"arguments\": [\"--lr\", 0.8, true],"
		" \"compute_target\": \"gpu\", \"node_count\": 2,"
		" \"distributed_job_config\": {\"type\": \"pytorch\","
		"  \"communication_backend\": \"gloo\", \"process_count\": 8},"
		" \"max_run_duration_seconds\": 3153600000,"
		" \"environment\": {\"name\": \"e\", \"version\": \"1\","
		"  \"environment_variables\": {\"A\": \"x\\ny\", \"B\": \"\"},"
		"  \"python\": {\"user_managed_dependencies\": false,"
		"   \"conda_dependencies\": {\"c\": [1, 2.5, null, \"\\u00e9\"]},"
		"   \"conda_dependencies_file\": \"/c.yml\"},"
		"  \"docker\": {\"enabled\": true, \"base_image\": \"i\","
		"   \"shm_size\": \"1g\", \"arguments\": [\"a\"]}},"
		" \"experiment_name\": \"e1\", \"display_name\": \"d\","
		" \"description\": \"\\\"quoted\\\"\", \"tags\": {\"t\": \"1\"},"
		" \"properties\": {\"p\": \"2\"}, \"run_id\": \"r1\"}",
		"run.json");
	assert_roundtrip("{\"script\": \"t.py\", \"environment\": {\"python\":"
			 " {\"interpreter_path\": \"py\","
			 " \"user_managed_dependencies\": true}}}",
			 "run.json");
	assert_roundtrip("{\"command\": [\"ls\", \"-l\"]}", "run.json");
	assert_roundtrip("{\"command\": \"echo $X | wc\"}", "run.json");
	assert_roundtrip("{\"script\": \"t.py\", \"distributed_job_config\":"
			 " {\"type\": \"mpi\", \"process_count_per_node\": 3,"
			 " \"node_count\": 2}}",
			 "run.json");
	assert_roundtrip("{\"script\": \"t.py\", \"distributed_job_config\":"
			 " {\"type\": \"tensorflow\", \"worker_count\": 2,"
			 " \"parameter_server_count\": 0}}",
			 "run.json");
	assert_roundtrip(saved_runconfig_yaml, "train.runconfig");
	assert_roundtrip(sdk_default_environment, "train.runconfig");
	assert_roundtrip("type: command\ncommand: python t.py ${{inputs.x}}\n"
			 "inputs: {x: 1}\nresources: {instance_count: 4}\n"
			 "distribution: {type: tensorflow, worker_count: 8}\n",
			 "job.yml");
}

/* Every environment field the canonical form gained carries over. */
static void test_roundtrip_environment_fields(void **state)
{
	(void)state;
	assert_roundtrip(
		"{\"script\": \"t.py\", \"environment\": {\"name\": \"e\","
		" \"version\": \"3\", \"registry\": \"azureml\","
		" \"docker\": {\"enabled\": true,"
		"  \"base_dockerfile\": \"FROM debian:12\\nRUN apt-get update\\n\","
		"  \"base_image_registry\": {\"address\": \"r.example.org\","
		"   \"username\": \"u\", \"password\": \"p\"}}}}",
		"run.json");
	assert_roundtrip(
		"{\"script\": \"t.py\", \"environment\": {\"file\": \"env.yml\","
		" \"docker\": {\"build_context\": {\"location\": \"ctx\","
		"  \"dockerfile_path\": \"d/Dockerfile\"},"
		"  \"base_image_registry\": {\"credentials_given\": true}}}}",
		"run.json");
	assert_roundtrip("type: command\ncommand: x\nenvironment: "
			 "azureml://registries/azureml/environments/sklearn-1.5/versions/7\n",
			 "job.yml");
	assert_roundtrip("type: command\ncommand: x\n"
			 "environment: file:env/env.yml\n", "job.yml");
	assert_roundtrip("type: command\ncommand: x\nenvironment: {name: n,"
			 " version: 1, build: {path: ctx}, conda_file: c.yml}\n",
			 "job.yml");
	assert_roundtrip("script: t.py\nenvironment:\n  docker:\n"
			 "    buildContext: {location: ctx}\n"
			 "    baseImageRegistry: {address: a, password: p}\n",
			 "x.runconfig");
}

/* ---- data on Slurm: the site's datastores and assets (datamap.h) ---- */

static struct aml_datastore test_stores[] = {
	{ "workspaceblobstore", "/lustre/blob", 1, 1 },
	{ "scratch", "/scratch", 0, 2 },
};
static struct aml_data_asset test_assets[] = {
	{ "cifar10", "2", "/data/cifar10-2", AML_DATA_FOLDER, 3 },
	{ "cifar10", "10", "/data/cifar10-10", AML_DATA_ANY, 4 },
	{ "iris", "1", "/data/iris.csv", AML_DATA_FILE, 5 },
};
static struct aml_data_account test_accounts[] = {
	{ "mlstore01", "/lustre/azure", 6 },
};
static char *test_hosts[] = { "data.example.org", "*.blob.example.net" };
static const struct aml_datamap test_map = {
	test_stores, 2, test_assets, 3, test_accounts, 1, test_hosts, 2,
};

static struct parsed *parse_mapped(const char *text)
{
	struct parsed *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	aml_errors_init(&p->errs, "job.yml");
	p->result = aml_runconfig_parse_mapped(text, strlen(text), "job.yml",
					       BASE, NULL, NULL, &test_map,
					       &p->rc, &p->errs);
	p->errors = joined_errors(&p->errs);
	return p;
}

static void mapped_fails(const char *text, const char *expected)
{
	struct parsed *p = parse_mapped(text);

	assert_int_equal(p->result, -1);
	assert_non_null(p->errors);
	if (strcmp(p->errors, expected))
		fail_msg("errors differ.\nexpected:\n%s\ngot:\n%s", expected,
			 p->errors);
	parsed_free(p);
}

static void test_data_inputs_resolve(void **state)
{
	struct parsed *p = parse_mapped(
		"type: command\n"
		"command: python t.py --iris ${{inputs.iris}} --images ${{inputs.images}} --old ${{inputs.old}} --long ${{inputs.long}} --mine ${{inputs.mine}}\n"
		"inputs:\n"
		"  iris:\n"
		"    type: uri_file\n"
		"    path: azureml://datastores/workspaceblobstore/paths/data/./iris.csv\n"
		"    mode: download\n"
		"  images:\n"
		"    type: uri_folder\n"
		"    path: azureml:cifar10@latest\n"
		"    mode: ro_mount\n"
		"  old: {path: 'azureml:cifar10:2'}\n"
		"  long: {type: uri_file, path: 'azureml://locations/westeurope/workspaces/ws/data/iris/versions/1'}\n"
		"  mine: {type: mltable, path: ../tables/t1}\n");
	struct aml_runconfig *rc = &p->rc;

	(void)state;
	assert_int_equal(p->result, 0);
	assert_string_equal(rc->command_line,
			    "python t.py --iris /lustre/blob/data/iris.csv --images /data/cifar10-10 --old /data/cifar10-2 --long /data/iris.csv --mine /home/alice/tables/t1");
	assert_string_equal(env_get(rc, "AZURE_ML_INPUT_iris"),
			    "/lustre/blob/data/iris.csv");
	/* Inputs come in the file's order. */
	assert_int_equal(rc->n_data_uses, 5);
	assert_string_equal(rc->data_uses[0].field, "inputs.iris.path");
	assert_int_equal(rc->data_uses[0].kind, AML_DATA_FILE);
	assert_int_equal(rc->data_uses[1].kind, AML_DATA_FOLDER);
	/* No type in the file: what the site's Type= says. */
	assert_int_equal(rc->data_uses[2].kind, AML_DATA_FOLDER);
	assert_string_equal(rc->data_uses[2].type, "uri_folder");
	assert_int_equal(rc->data_uses[4].kind, AML_DATA_FOLDER);
	assert_int_equal(rc->n_datastore_outputs, 0);
	parsed_free(p);
}

static void test_data_inputs_refused(void **state)
{
	(void)state;
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_folder, path: azureml://datastores/blob/paths/y}}\n",
		     "job.yml: inputs.d.path: datastore \"blob\" is not mapped on this cluster (aml.conf maps workspaceblobstore, scratch)");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {path: azureml://datastores/scratch/paths/a/../../etc}}\n",
		     "job.yml: inputs.d.path: must stay inside datastore scratch, got \"azureml://datastores/scratch/paths/a/../../etc\"");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_folder, path: 'azureml:iris:1'}}\n",
		     "job.yml: inputs.d.type: is uri_folder, but aml.conf maps \"azureml:iris:1\" as uri_file");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_file, path: 'azureml:mnist@latest'}}\n",
		     "job.yml: inputs.d.path: data asset \"mnist\" is not mapped on this cluster (aml.conf maps cifar10:2, cifar10:10, iris:1)");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_file, path: /x, mode: upload}}\n",
		     "job.yml: inputs.d.mode: must be ro_mount, rw_mount, download, direct, eval_mount or eval_download (each gives the command the path), got \"upload\"");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: integer, path: /x}}\n",
		     "job.yml: inputs.d.type: integer is a literal type; an input with a path is uri_file, uri_folder, mltable, mlflow_model or custom_model");
	/* A null path is no path: the input has no value. */
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_file, path: null}}\n",
		     "job.yml: command: an input used outside $[[...]] has no value; give it a value or a default, or wrap that part in $[[...]]");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_fil, default: 3}}\n",
		     "job.yml: inputs.d.type: must be uri_file, uri_folder, mltable, mlflow_model or custom_model, or a literal: string, integer, number or boolean; got \"uri_fil\"");
}

static void test_data_outputs(void **state)
{
	struct parsed *p = parse_mapped(
		"type: command\n"
		"command: python t.py --out ${{outputs.model}} --logs ${{outputs.extra}}\n"
		"outputs:\n"
		"  model:\n"
		"    type: uri_folder\n"
		"    path: azureml://datastores/${{default_datastore}}/paths/models/run1/\n"
		"    mode: rw_mount\n"
		"  extra: {mode: upload}\n");
	struct parsed *back;
	char *canonical;

	(void)state;
	assert_int_equal(p->result, 0);
	/* The command writes its outputs folder; the launcher copies it. */
	assert_string_equal(p->rc.command_line,
			    "python t.py --out outputs/model --logs outputs/extra");
	assert_int_equal(p->rc.n_datastore_outputs, 1);
	assert_string_equal(p->rc.datastore_outputs[0].name, "model");
	assert_string_equal(p->rc.datastore_outputs[0].root, "/lustre/blob");
	assert_string_equal(p->rc.datastore_outputs[0].path, "models/run1");
	canonical = aml_runconfig_encode(&p->rc);
	assert_non_null(canonical);
	assert_non_null(strstr(canonical,
			       "\"datastore_outputs\":{\"model\":{\"root\":\"/lustre/blob\",\"path\":\"models/run1\"}}"));
	back = parse_as(canonical, "canonical", NULL);
	assert_int_equal(back->result, 0);
	assert_int_equal(back->rc.n_datastore_outputs, 1);
	assert_string_equal(back->rc.datastore_outputs[0].path, "models/run1");
	free(canonical);
	parsed_free(back);
	parsed_free(p);

	mapped_fails("type: command\ncommand: x\n"
		     "outputs: {o: {path: ./results}}\n",
		     "job.yml: outputs.o.path: an output's path is a datastore path, azureml://datastores/NAME/paths/PATH (mapped in aml.conf); without a path the output stays in the run's outputs/o, got \"./results\"");
	mapped_fails("type: command\ncommand: x\n"
		     "outputs: {o: {path: 'azureml://locations/l/workspaces/w/data/iris/versions/1'}}\n",
		     "job.yml: outputs.o.path: a data asset is read-only; an output's path is a datastore path, azureml://datastores/NAME/paths/PATH, got \"azureml://locations/l/workspaces/w/data/iris/versions/1\"");
	mapped_fails("type: command\ncommand: x\n"
		     "outputs: {o: {type: uri_file, path: 'azureml://datastores/scratch/paths/a.csv'}}\n",
		     "job.yml: outputs.o.type: uri_file outputs with a datastore path are not supported on Slurm: the run writes the folder outputs/o, which is copied to the datastore; use uri_folder");
	mapped_fails("type: command\ncommand: x\n"
		     "outputs: {o: {path: 'azureml://datastores/scratch/paths/'}}\n",
		     "job.yml: outputs.o.path: must name a folder below the datastore's root, got \"azureml://datastores/scratch/paths/\"");
	mapped_fails("type: command\ncommand: x\n"
		     "outputs: {o: {mode: ro_mount}}\n",
		     "job.yml: outputs.o.mode: must be rw_mount, upload or direct (the run writes outputs/NAME in each case), got \"ro_mount\"");
	/* A forged canonical form is judged as any other. */
	fails_containing("{\"source_directory\": \"/x\", \"command\": \"x\", "
			 "\"datastore_outputs\": {\"o\": {\"root\": \"/r\", \"path\": \"../etc\"}}}",
			 "datastore_outputs.o.path: must be a normalised path below root, got \"../etc\"");
	fails_containing("{\"source_directory\": \"/x\", \"command\": \"x\", "
			 "\"datastore_outputs\": {\"o\": {\"root\": \"r\", \"path\": \"a\"}}}",
			 "datastore_outputs.o.root: must be an absolute path");
}

/* https:// inputs: downloaded on the node, bound at inputs/NAME/FILE. */
static void test_data_downloads(void **state)
{
	struct parsed *p = parse_mapped(
		"type: command\n"
		"command: python t.py --iris ${{inputs.iris}} --raw ${{inputs.raw}} --blob ${{inputs.blob}}\n"
		"inputs:\n"
		"  iris: {type: uri_file, path: 'https://data.example.org/sets/iris%2Bv2.csv?v=3'}\n"
		"  raw: {path: 'https://x.blob.example.net/c/raw.bin'}\n"
		"  blob: {type: uri_folder, path: 'wasbs://data@mlstore01.blob.core.windows.net/iris/'}\n");
	struct parsed *back;
	char *canonical;

	(void)state;
	assert_int_equal(p->result, 0);
	assert_string_equal(p->rc.command_line,
			    "python t.py --iris inputs/iris/iris+v2.csv --raw inputs/raw/raw.bin --blob /lustre/azure/data/iris");
	assert_int_equal(p->rc.n_downloads, 2);
	assert_string_equal(p->rc.downloads[0].url,
			    "https://data.example.org/sets/iris%2Bv2.csv?v=3");
	assert_string_equal(p->rc.downloads[0].path, "inputs/iris/iris+v2.csv");
	/* Nothing to stat on the user's side: the node downloads it. */
	assert_int_equal(p->rc.n_data_uses, 1);
	canonical = aml_runconfig_encode(&p->rc);
	assert_non_null(canonical);
	assert_non_null(strstr(canonical,
			       "\"downloads\":{\"iris\":{\"url\":\"https://data.example.org/sets/iris%2Bv2.csv?v=3\",\"path\":\"inputs/iris/iris+v2.csv\"},"));
	back = parse_as(canonical, "canonical", NULL);
	assert_int_equal(back->result, 0);
	assert_int_equal(back->rc.n_downloads, 2);
	assert_string_equal(back->rc.downloads[1].path, "inputs/raw/raw.bin");
	free(canonical);
	parsed_free(back);
	parsed_free(p);

	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_file, path: 'https://example.org/iris.csv'}}\n",
		     "job.yml: inputs.d.path: host example.org is not one this cluster downloads from (aml.conf's DataDownloadHosts=data.example.org,*.blob.example.net)");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_file, path: 'https://blob.example.net/iris.csv'}}\n",
		     "job.yml: inputs.d.path: host blob.example.net is not one this cluster downloads from (aml.conf's DataDownloadHosts=data.example.org,*.blob.example.net)");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_file, path: 'https://me:s3cret@data.example.org/iris.csv'}}\n",
		     "job.yml: inputs.d.path: a URL with a user name or password (https://USER:PASSWORD@HOST/) is refused and not kept: credentials in a run's configuration are readable in its history and its job");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_file, path: 'http://data.example.org/iris.csv'}}\n",
		     "job.yml: inputs.d.path: plain http:// is not downloaded (what it answers could be changed on the way): use https://");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: uri_folder, path: 'https://data.example.org/sets/'}}\n",
		     "job.yml: inputs.d.type: uri_folder over https:// is not supported on Slurm: a URL is downloaded as one file (uri_file)");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {path: 'https://data.example.org/sets/'}}\n",
		     "job.yml: inputs.d.path: the URL's path must end in a file's name (https://HOST/.../FILE): an https:// input is a uri_file");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "resources: {instance_count: 2}\n"
		     "inputs: {d: {type: uri_file, path: 'https://data.example.org/iris.csv'}}\n",
		     "job.yml: inputs.d.path: an https:// input is downloaded on the batch node only, and this run has 2 nodes: put the file on a datastore the site maps (Datastore=) or run on 1 node");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {type: mltable, path: 'https://data.example.org/sets/t'}}\n",
		     "job.yml: inputs.d.type: mltable over https:// is not supported on Slurm: a URL is downloaded as one file (uri_file)");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {path: 'wasbs://data@other.blob.core.windows.net/x'}}\n",
		     "job.yml: inputs.d.path: storage account \"other\" is not mapped on this cluster (aml.conf maps mlstore01)");
	mapped_fails("type: command\ncommand: x ${{inputs.d}}\n"
		     "inputs: {d: {path: 'wasbs://data@mlstore01.blob.core.windows.net/../x'}}\n",
		     "job.yml: inputs.d.path: must stay inside storage account mlstore01, got \"wasbs://data@mlstore01.blob.core.windows.net/../x\"");
	/* Without a map (no aml.conf, or none with the key). */
	fails_containing("type: command\ncommand: x ${{inputs.d}}\n"
			 "inputs: {d: {path: 'https://data.example.org/a.csv'}}\n",
			 "inputs.d.path: https:// inputs are not downloaded on this cluster (aml.conf has no DataDownloadHosts=)");
	/* A forged canonical form is judged as any other. */
	fails_containing("{\"source_directory\": \"/x\", \"command\": \"x\", "
			 "\"downloads\": {\"d\": {\"url\": \"https://h.org/a.csv\", \"path\": \"../a.csv\"}}}",
			 "downloads.d.path: must be \"inputs/d/a.csv\" (inputs/NAME/FILE of the URL), got \"../a.csv\"");
	fails_containing("{\"source_directory\": \"/x\", \"command\": \"x\", "
			 "\"downloads\": {\"d\": {\"url\": \"https://u:p@h.org/a.csv\", \"path\": \"inputs/d/a.csv\"}}}",
			 "downloads.d.url: a URL with a user name or password");
	fails_containing("{\"source_directory\": \"/x\", \"command\": \"x\", "
			 "\"downloads\": {\"d\": {\"url\": \"file:///etc/shadow\", \"path\": \"inputs/d/shadow\"}}}",
			 "downloads.d.url: must be an https:// URL");
}

/* ---- the files a configuration names (aml_runconfig_read_files) ---- */

struct files {
	char dir[64];
	struct aml_runconfig rc;
	struct aml_errors errs;
	char *errors;
	int result;
};

static struct files *files_new(void)
{
	struct files *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/aml-test-rc-files.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	return f;
}

/* [text] as the file [name] (its directories made) in [f]'s directory. */
static void put(const struct files *f, const char *name, const char *text)
{
	char path[256];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	for (char *slash = strchr(path + strlen(f->dir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		(void)mkdir(path, 0700);
		*slash = '/';
	}
	out = fopen(path, "w");
	assert_non_null(out);
	assert_int_equal(fputs(text, out) >= 0, 1);
	assert_int_equal(fclose(out), 0);
}

/* The configuration [name] of [f] loaded and its files read; the errors
 * (joined, the directory shown as DIR) in f->errors. */
static void load_and_read(struct files *f, const char *name)
{
	char path[256];
	char *raw, *out;
	size_t n = strlen(f->dir), cap;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	aml_errors_init(&f->errs, name);
	f->result = aml_runconfig_load(path, NULL, NULL, &f->rc, &f->errs);
	if (f->result == 0)
		f->result = aml_runconfig_read_files(&f->rc, NULL, &f->errs);
	raw = joined_errors(&f->errs);
	if (!raw)
		return;
	cap = strlen(raw) + 1;
	out = malloc(cap);
	assert_non_null(out);
	out[0] = '\0';
	for (const char *p = raw; *p;) {
		const char *hit = strstr(p, f->dir);

		if (!hit) {
			strcat(out, p);
			break;
		}
		strncat(out, p, (size_t)(hit - p));
		strcat(out, "DIR");
		p = hit + n;
	}
	free(raw);
	f->errors = out;
}

static void files_free(struct files *f)
{
	char cmd[128];

	aml_runconfig_free(&f->rc);
	aml_errors_free(&f->errs);
	free(f->errors);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

/* [name] in a fresh directory with [others] (name, text, ..., NULL)
 * beside it: read, and refused with exactly [expected] (DIR for the
 * directory). */
static void read_fails_with(const char *name, const char *text,
			    const char *expected, ...)
{
	struct files *f = files_new();
	va_list ap;
	const char *other;

	put(f, name, text);
	va_start(ap, expected);
	while ((other = va_arg(ap, const char *)))
		put(f, other, va_arg(ap, const char *));
	va_end(ap);
	load_and_read(f, name);
	assert_int_equal(f->result, -1);
	assert_non_null(f->errors);
	if (strcmp(f->errors, expected))
		fail_msg("errors differ.\nexpected:\n%s\ngot:\n%s", expected,
			 f->errors);
	files_free(f);
}

/* Data inputs are stat'd on the user's side: there, and a file or a
 * folder as the type says. */
static void test_read_data_inputs(void **state)
{
	struct files *f = files_new();
	struct aml_datastore store = { "blob", f->dir, 1, 1 };
	struct aml_datamap map = { &store, 1, NULL, 0, NULL, 0, NULL, 0 };
	static const char job[] =
		"type: command\ncommand: x ${{inputs.a}} ${{inputs.b}} ${{inputs.c}}\n"
		"inputs:\n"
		"  a: {type: uri_file, path: azureml://datastores/blob/paths/data/iris.csv}\n"
		"  b: {type: uri_folder, path: azureml://datastores/blob/paths/data/iris.csv}\n"
		"  c: {type: uri_file, path: azureml://datastores/blob/paths/missing.csv}\n";
	char *raw;

	(void)state;
	put(f, "data/iris.csv", "a,b\n");
	aml_errors_init(&f->errs, "job.yml");
	assert_int_equal(aml_runconfig_parse_mapped(job, strlen(job), "job.yml",
						    f->dir, NULL, NULL, &map,
						    &f->rc, &f->errs), 0);
	assert_int_equal(aml_runconfig_read_files(&f->rc, NULL, &f->errs), -1);
	raw = joined_errors(&f->errs);
	assert_non_null(raw);
	{
		char expected[1024];

		snprintf(expected, sizeof(expected),
			 "job.yml: inputs.b.path: %s/data/iris.csv is not a directory, and type uri_folder needs one\n"
			 "job.yml: inputs.c.path: %s/missing.csv: No such file or directory",
			 f->dir, f->dir);
		assert_string_equal(raw, expected);
	}
	free(raw);
	files_free(f);
}

static const char conda_yaml[] =
	"# the environment's packages\n"
	"name: e\n"
	"channels: [conda-forge]\n"
	"dependencies:\n"
	"  - python=3.10\n"
	"  - pip:\n"
	"    - numpy==1.26\n";
static const char conda_json[] =
	"{\"name\":\"e\",\"channels\":[\"conda-forge\"],\"dependencies\":[\"python=3.10\",{\"pip\":[\"numpy==1.26\"]}]}";

/* Read in sbatch, carried by the canonical form: the controller judges
 * the same text without reading a file. */
static void test_read_conda_file(void **state)
{
	struct files *f = files_new();
	char path[256];
	char *canonical;
	struct parsed *back;

	(void)state;
	put(f, "job.yml", "type: command\ncommand: x\n"
			  "environment: {image: i, conda_file: env/conda.yml}\n");
	put(f, "env/conda.yml", conda_yaml);
	load_and_read(f, "job.yml");
	if (f->result)
		fail_msg("%s", f->errors);
	assert_string_equal(f->rc.environment.conda_dependencies, conda_json);
	snprintf(path, sizeof(path), "%s/env/conda.yml", f->dir);
	assert_string_equal(f->rc.environment.conda_dependencies_file, path);
	canonical = aml_runconfig_encode(&f->rc);
	assert_non_null(canonical);
	back = parse_as(canonical, "canonical", NULL);
	assert_int_equal(back->result, 0);
	assert_string_equal(back->rc.environment.conda_dependencies,
			    conda_json);
	parsed_free(back);
	free(canonical);
	files_free(f);

	/* A .runconfig's, JSON, relative to the project above .azureml/. */
	f = files_new();
	put(f, ".azureml/x.runconfig",
	    "script: t.py\ntarget: c\nenvironment:\n  python:\n"
	    "    condaDependenciesFile: .azureml/conda_dependencies.yml\n");
	put(f, ".azureml/conda_dependencies.yml", conda_json);
	put(f, "t.py", "print(1)\n");
	load_and_read(f, ".azureml/x.runconfig");
	if (f->result)
		fail_msg("%s", f->errors);
	assert_string_equal(f->rc.environment.conda_dependencies, conda_json);
	files_free(f);

	/* A canonical form read again keeps both: the same specification. */
	f = files_new();
	put(f, "c.yml", conda_yaml);
	put(f, "t.py", "");
	snprintf(path, sizeof(path),
		 "{\"script\": \"t.py\", \"environment\": {\"python\": {"
		 "\"conda_dependencies\": %s, \"conda_dependencies_file\": \"c.yml\"}}}",
		 conda_json);
	put(f, "run.json", path);
	load_and_read(f, "run.json");
	if (f->result)
		fail_msg("%s", f->errors);
	assert_string_equal(f->rc.environment.conda_dependencies, conda_json);
	files_free(f);
}

static void test_read_conda_file_refusals(void **state)
{
	static const char job[] = "type: command\ncommand: x\n"
				  "environment: {image: i, conda_file: c.yml}\n";
	char *big = malloc(70001);
	struct files *f;

	(void)state;
	read_fails_with("job.yml", job,
			"job.yml: environment.conda_file: cannot read DIR/c.yml: No such file or directory",
			NULL);
	read_fails_with("job.yml", job,
			"job.yml: environment.conda_file: DIR/c.yml: a conda specification must be an object of fields, got an array",
			"c.yml", "- python=3.10\n", NULL);
	read_fails_with("job.yml", job,
			"job.yml: environment.conda_file: DIR/c.yml: line 1: YAML anchors are not supported",
			"c.yml", "name: &n e\nchannels: *n\n", NULL);
	assert_non_null(big);
	memset(big, '#', 70000);
	big[70000] = '\0';
	read_fails_with("job.yml", job,
			"job.yml: environment.conda_file: DIR/c.yml is 70000 bytes, at most 65536",
			"c.yml", big, NULL);
	free(big);
	read_fails_with("run.json",
			"{\"script\": \"t.py\", \"environment\": {\"python\": {"
			"\"conda_dependencies\": {\"dependencies\": [\"numpy\"]},"
			" \"conda_dependencies_file\": \"c.yml\"}}}",
			"run.json: environment.python.conda_dependencies_file: the conda specification is given both inline and in a file (DIR/c.yml); keep one",
			"c.yml", conda_yaml, "t.py", "", NULL);
	/* A FIFO in its place is refused, not waited on. */
	f = files_new();
	put(f, "job.yml", job);
	{
		char fifo[256];

		snprintf(fifo, sizeof(fifo), "%s/c.yml", f->dir);
		assert_int_equal(mkfifo(fifo, 0600), 0);
	}
	load_and_read(f, "job.yml");
	assert_int_equal(f->result, -1);
	assert_string_equal(f->errors,
			    "job.yml: environment.conda_file: DIR/c.yml is not a regular file");
	files_free(f);
	/* The script is checked as before. */
	read_fails_with("run.json", "{\"script\": \"t.py\"}",
			"run.json: script: DIR/t.py: No such file or directory",
			NULL);
}

static const char environment_yaml[] =
	"$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
	"name: my-env\n"
	"version: 3\n"
	"description: what the team trains with\n"
	"tags: {team: vision}\n"
	"os_type: linux\n"
	"image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\n"
	"conda_file: conda.yml\n";

/* file: reads Azure ML's environment YAML as an inline definition, its
 * paths relative to its own directory; the canonical form carries what
 * it said, not the path. */
static void test_read_environment_file(void **state)
{
	struct files *f = files_new();
	char path[256];
	char *canonical;

	(void)state;
	put(f, "job.yml", "type: command\ncommand: python t.py\n"
			  "environment: file:./envs/env.yml\n");
	put(f, "envs/env.yml", environment_yaml);
	put(f, "envs/conda.yml", conda_yaml);
	load_and_read(f, "job.yml");
	if (f->result)
		fail_msg("%s", f->errors);
	assert_null(f->rc.environment.environment_file);
	assert_string_equal(f->rc.environment.name, "my-env");
	assert_string_equal(f->rc.environment.version, "3");
	assert_true(f->rc.environment.docker_enabled);
	assert_string_equal(f->rc.environment.docker_base_image,
			    "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest");
	assert_string_equal(f->rc.environment.conda_dependencies, conda_json);
	snprintf(path, sizeof(path), "%s/envs/conda.yml", f->dir);
	assert_string_equal(f->rc.environment.conda_dependencies_file, path);
	canonical = aml_runconfig_encode(&f->rc);
	assert_non_null(canonical);
	assert_null(strstr(canonical, "env.yml"));
	assert_null(strstr(canonical, "\"file\""));
	free(canonical);
	files_free(f);

	f = files_new();
	put(f, "job.yml", "type: command\ncommand: x\n"
			  "environment: file:envs/docker.yml\n");
	put(f, "envs/docker.yml", "name: built\nbuild:\n  path: ../ctx\n");
	load_and_read(f, "job.yml");
	if (f->result)
		fail_msg("%s", f->errors);
	snprintf(path, sizeof(path), "%s/ctx", f->dir);
	assert_string_equal(f->rc.environment.build_context, path);
	assert_string_equal(f->rc.environment.build_dockerfile, "Dockerfile");
	files_free(f);
}

static void test_read_environment_file_refusals(void **state)
{
	static const char job[] = "type: command\ncommand: x\n"
				  "environment: file:envs/env.yml\n";

	(void)state;
	read_fails_with("job.yml", job,
			"job.yml: environment: cannot read DIR/envs/env.yml: No such file or directory",
			NULL);
	read_fails_with("job.yml", job,
			"job.yml: environment: DIR/envs/env.yml: an environment file must be an object of fields, got an array",
			"envs/env.yml", "- image: i\n", NULL);
	read_fails_with("job.yml", job,
			"job.yml: environment: DIR/envs/env.yml: os_typ: unknown key for an environment file (line 2); did you mean \"os_type\"?\n"
			"job.yml: environment: DIR/envs/env.yml: os_type: only linux nodes run jobs here, got \"windows\"\n"
			"job.yml: environment: DIR/envs/env.yml: inference_config: inference configurations are for deployments (online endpoints), not jobs, got an object",
			"envs/env.yml",
			"image: i\nos_typ: linux\nos_type: windows\n"
			"inference_config: {scoring_route: {port: 5001}}\n",
			NULL);
	read_fails_with("job.yml", job,
			"job.yml: environment.conda_file: cannot read DIR/envs/conda.yml: No such file or directory",
			"envs/env.yml", "image: i\nconda_file: conda.yml\n",
			NULL);
}

/* [text] parsed as [filename], then aml_runconfig_check_read: its lines
 * exactly [expected], or none when it is NULL. */
static void check_read_says(const char *text, const char *filename,
			    const char *expected)
{
	struct parsed *p = ok(text, filename);
	struct aml_errors errs;
	char *joined;

	aml_errors_init(&errs, "canonical");
	assert_int_equal(aml_runconfig_check_read(&p->rc, &errs),
			 expected ? -1 : 0);
	joined = joined_errors(&errs);
	if (expected)
		assert_string_equal(joined, expected);
	else
		assert_null(joined);
	free(joined);
	aml_errors_free(&errs);
	parsed_free(p);
}

/* What the controller can tell without a file: whether sbatch read
 * them. */
static void test_check_read(void **state)
{
	(void)state;
	check_read_says("type: command\ncommand: x\nenvironment: file:env.yml\n",
			"job.yml",
			"canonical: environment: the environment file " BASE "/env.yml was not read: sbatch reads it and hands on what it says; submit with sbatch --aml-run");
	check_read_says("script: t.py\nenvironment: {python: {condaDependenciesFile: c.yml}}\n",
			"x.runconfig",
			"canonical: environment.python.condaDependenciesFile: " BASE "/c.yml was not read: sbatch reads the conda file and hands on its specification; submit with sbatch --aml-run");
	/* Read: the specification is there, the path only says where it
	 * came from. */
	check_read_says("{\"script\": \"t.py\", \"environment\": {\"python\": {"
			"\"conda_dependencies\": {\"dependencies\": [\"numpy\"]},"
			" \"conda_dependencies_file\": \"c.yml\"}}}",
			"run.json", NULL);
}

/* Azure ML's default experiment is the directory the job is submitted
 * from, whatever the form and wherever its code is (code: src is not
 * experiment "src"); a name no experiment may have is made one. */
static void test_default_experiment_is_submit_dir(void **state)
{
	static const struct {
		const char *file, *text;
	} forms[] = {
		{ "job.yml", "type: command\ncommand: echo hi\ncode: src\n" },
		{ "run.json", "{\"script\": \"t.py\", \"source_directory\": \"src\"}" },
		{ ".azureml/x.runconfig", "script: t.py\nframework: Python\n" },
		{ "named.json", "{\"script\": \"t.py\", \"experiment_name\": \"mine\"}" },
	};
	static const char *const want[] = {
		"my_exp_v2", "my_exp_v2", "my_exp_v2", "mine",
	};
	struct files *f = files_new();
	char here[4096], dir[256];

	(void)state;
	assert_non_null(getcwd(here, sizeof(here)));
	for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
		char name[128];

		snprintf(name, sizeof(name), "my exp.v2/%s", forms[i].file);
		put(f, name, forms[i].text);
	}
	snprintf(dir, sizeof(dir), "%s/my exp.v2", f->dir);
	assert_int_equal(chdir(dir), 0);
	for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
		aml_errors_init(&f->errs, forms[i].file);
		assert_int_equal(aml_runconfig_load(forms[i].file, NULL, NULL, &f->rc,
						    &f->errs), 0);
		assert_string_equal(f->rc.experiment_name, want[i]);
		aml_runconfig_free(&f->rc);
		aml_errors_free(&f->errs);
	}
	/* Submitted from elsewhere: that directory's name. */
	assert_int_equal(chdir(f->dir), 0);
	aml_errors_init(&f->errs, "job.yml");
	assert_int_equal(aml_runconfig_load("my exp.v2/job.yml", NULL, NULL, &f->rc,
					    &f->errs), 0);
	/* aml-test-rc-files.XXXXXX: the '.' is no experiment's */
	assert_int_equal(strncmp(f->rc.experiment_name, "aml-test-rc-files_",
				 18), 0);
	assert_int_equal(strlen(f->rc.experiment_name),
			 strlen(strrchr(f->dir, '/') + 1));
	aml_runconfig_free(&f->rc);
	aml_errors_free(&f->errs);
	memset(&f->rc, 0, sizeof(f->rc));
	memset(&f->errs, 0, sizeof(f->errs));
	assert_int_equal(chdir(here), 0);
	files_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script_minimal_defaults),
		cmocka_unit_test(test_script_every_field),
		cmocka_unit_test(test_script_system_managed),
		cmocka_unit_test(test_script_yaml),
		cmocka_unit_test(test_script_arguments_string_split),
		cmocka_unit_test(test_command_list_and_string),
		cmocka_unit_test(test_pytorch_defaults_one_per_node),
		cmocka_unit_test(test_tensorflow_v1_defaults),
		cmocka_unit_test(test_pytorch_uneven),
		cmocka_unit_test(test_command_and_script_exclusive),
		cmocka_unit_test(test_neither_script_nor_command),
		cmocka_unit_test(test_unknown_key_suggests),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_script_escapes),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_env_names),
		cmocka_unit_test(test_duplicate_key_refused),
		cmocka_unit_test(test_controller_needs_absolute),
		cmocka_unit_test(test_runconfiguration_json),
		cmocka_unit_test(test_runconfiguration_saved_yaml),
		cmocka_unit_test(test_runconfiguration_pyTorch_spelling),
		cmocka_unit_test(test_runconfiguration_tensorflow_and_legacy),
		cmocka_unit_test(test_runconfiguration_rejections),
		cmocka_unit_test(test_command_job_yaml),
		cmocka_unit_test(test_command_job_optional_block_kept),
		cmocka_unit_test(test_command_job_tensorflow_defaults),
		cmocka_unit_test(test_command_job_rejections),
		cmocka_unit_test(test_data_inputs_resolve),
		cmocka_unit_test(test_data_downloads),
		cmocka_unit_test(test_data_inputs_refused),
		cmocka_unit_test(test_data_outputs),
		cmocka_unit_test(test_read_data_inputs),
		cmocka_unit_test(test_form_from_content_not_name),
		cmocka_unit_test(test_environment_references),
		cmocka_unit_test(test_environment_file_reference),
		cmocka_unit_test(test_environment_bad_references),
		cmocka_unit_test(test_environment_v2_definition),
		cmocka_unit_test(test_environment_v2_refusals),
		cmocka_unit_test(test_environment_v1_defaults_accepted),
		cmocka_unit_test(test_environment_v1_snake_case),
		cmocka_unit_test(test_environment_v1_honoured),
		cmocka_unit_test(test_environment_v1_refusals),
		cmocka_unit_test(test_environment_registry_secret_not_shown),
		cmocka_unit_test(test_environment_credentials_not_encoded),
		cmocka_unit_test(test_python_rules),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_runconfiguration_two_variable_lists),
		cmocka_unit_test(test_command_job_bindings_any_order),
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_limit_config_size),
		cmocka_unit_test(test_limit_variables),
		cmocka_unit_test(test_limit_arguments),
		cmocka_unit_test(test_limit_argument_bytes),
		cmocka_unit_test(test_limit_file_size),
		cmocka_unit_test(test_roundtrip_every_field),
		cmocka_unit_test(test_roundtrip_environment_fields),
		cmocka_unit_test(test_read_conda_file),
		cmocka_unit_test(test_read_conda_file_refusals),
		cmocka_unit_test(test_read_environment_file),
		cmocka_unit_test(test_read_environment_file_refusals),
		cmocka_unit_test(test_check_read),
		cmocka_unit_test(test_output_names),
		cmocka_unit_test(test_output_folders_checked),
		cmocka_unit_test(test_reserved_variables_every_form),
		cmocka_unit_test(test_process_limit_message_per_node),
		cmocka_unit_test(test_workbench_keys),
		cmocka_unit_test(test_workbench_refusals),
		cmocka_unit_test(test_default_experiment_is_submit_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
