/*
 * aml-run plan: the exact Slurm allocation a run configuration gets under
 * this site's policy, so users see what they will get before submitting.
 * It runs the same planner the controller runs.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf_values.h"
#include "container.h"
#include "env_cache.h"
#include "env_node.h"
#include "errors.h"
#include "image_pull.h"
#include "plan.h"
#include "plan_placement.h"
#include "runconfig.h"
#include "runid.h"
#include "site.h"
#include "text.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run plan [OPTIONS] FILE\n"
	"\n"
	"Show the Slurm allocation FILE gets on this cluster, and the equivalent\n"
	"sbatch options.  Nothing is submitted.\n"
	"\n"
	"  --json            print the plan as JSON\n"
	"  --conf PATH       site policy to use (default: as check-config)\n"
	"  --run-id ID       use ID instead of a newly generated run id\n"
	"  --user NAME       plan as this user (default: you)\n"
	"  --account NAME    plan for this Slurm account (default: $SBATCH_ACCOUNT)\n"
	"  --no-files        do not check the script, nor read the environment's\n"
	"                    files (as sbatch does)\n"
	"  --node-topology FILE.xml  also show each process's cores and GPU on a\n"
	"                    node described by FILE.xml (lstopo --of xml)\n"
	"  -h, --help        show this help\n"
	"\n"
	"Exit status: 0 planned, 2 the file or the site policy refuses it,\n"
	"64 usage error.\n";

/* What the run runs in, and for a built environment its key on a node
 * like this one, whether EnvDir has it, and what builds it. */
/* The image, where it is on this host, and what each process runs. */
static void print_image(const struct aml_env_choice *env,
			const struct aml_site *site, const struct aml_plan *plan)
{
	char reason[700], err[512], workdir[512], bundle[512], *words;
	char *binds[] = { site->run_dir, NULL };
	struct aml_strlist argv = { 0 };
	struct aml_container_spec s = {
		.runtime = site->container_runtime,
		.runtime_args = site->container_runtime_args,
		.image = env->image,
		.workdir = workdir,
		.binds = binds,
		.storage_dir = "/tmp/aml-podman-XXXXXX",
		.shm_bytes = env->shm_bytes,
		.ipc_host = env->ipc_host,
		.argv = plan->argv.items,
	};
	int pyxis = site->container_runtime == AML_CONTAINER_PYXIS;

	/* pyxis starts every task in RunDir, and the task moves on into
	 * its own working directory (launch_image.h). */
	snprintf(workdir, sizeof(workdir), pyxis ? "%s" : "%s/<you>/%s/<node>",
		 site->run_dir, plan->run_id);
	snprintf(bundle, sizeof(bundle), "%s/<you>/<digest>", site->image_dir);
	s.bundle = bundle;
	if (!env->image) {
		printf("  image:         built by podman from %s "
		       "(ContainerRuntime=%s)\n",
		       env->build_context ? env->build_context
					  : "the run's Dockerfile",
		       aml_container_runtime_name(site->container_runtime));
		printf("  on this host:  built once per content of the "
		       "Dockerfile and the context, in %s\n", site->image_dir);
	} else {
		printf("  image:         %s (ContainerRuntime=%s)\n", env->image,
		       aml_container_runtime_name(site->container_runtime));
	}
	if (!pyxis && env->image) {
		aml_image_reason(env->image, site, reason, sizeof(reason));
		printf("  on this host:  %s\n", reason);
	}
	if ((pyxis ? aml_container_srun_options(&s, &argv, err, sizeof(err))
		   : aml_container_argv(&s, &argv, err, sizeof(err))) < 0) {
		printf("  each process:  (%s)\n", err);
		return;
	}
	words = aml_shell_words(argv.items, argv.count);
	printf("  %s %s\n", pyxis ? "srun options: " : "each process: ",
	       words ? words : "(out of memory)");
	free(words);
	aml_strlist_free(&argv);
}

static void print_environment(const struct aml_env_choice *env,
			      const struct aml_site *site,
			      const struct aml_plan *plan)
{
	char reason[512], key[65], prefix[4096], err[512];

	printf("runs in:         %s\n", env->label);
	if (aml_env_in_container(env))
		print_image(env, site, plan);
	if (env->kind != AML_ENV_PIP && env->kind != AML_ENV_CONDA)
		return;
	aml_env_reason(env, site, reason, sizeof(reason), key);
	if (!key[0]) {
		printf("  key:           (cannot tell on this host)\n");
		return;
	}
	printf("  key:           %s (on a node like this one)\n", key);
	if (aml_env_cache_lookup(site->env_dir, key, prefix, sizeof(prefix),
				 err, sizeof(err)) == 1)
		printf("  cached:        %s\n", prefix);
	else
		printf("  cached:        no: the first run that needs it builds "
		       "it in %s\n", site->env_dir);
	if (env->kind == AML_ENV_PIP) {
		printf("  built by:      %s -m venv; pip install",
		       site->default_interpreter);
		for (size_t i = 0; i < site->pip_options.count; i++)
			printf(" %s", site->pip_options.items[i]);
		printf(" (the requirements)\n");
	} else {
		printf("  built by:      %s (from an environment file)\n",
		       site->conda_command);
	}
}

static void print_plan(const struct aml_plan *plan,
		       const struct aml_runconfig *rc,
		       const struct aml_site *site)
{
	char deadline[32];
	char *options = aml_plan_sbatch_options(plan);
	char *command = aml_shell_words(plan->argv.items, plan->argv.count);
	uint32_t per_node = plan->ntasks_per_node;

	aml_format_slurm_time(plan->deadline_seconds, deadline,
			      sizeof(deadline));
	printf("run id:          %s\n", plan->run_id);
	printf("experiment:      %s\n", plan->experiment_name);
	printf("compute target:  %s (partition %s)\n", plan->target,
	       plan->partition);
	printf("nodes:           %u\n", plan->min_nodes);
	printf("processes:       %u", plan->num_tasks);
	if (per_node)
		printf(" (%u per node)", per_node);
	if (rc->distributed.type != AML_DIST_NONE)
		printf(", %s", aml_dist_type_name(rc->distributed.type));
	printf("\n");
	if (plan->gres)
		printf("gres per node:   %s\n", plan->gres);
	printf("time limit:      %u minutes (the run is stopped at %s; %u s to finalize)\n",
	       plan->time_limit_minutes, deadline,
	       site->finalize_grace_seconds);
	print_environment(&plan->env, site, plan);
	printf("command:         %s\n", command ? command : "(out of memory)");
	printf("environment:\n");
	for (size_t i = 0; i < plan->environment.count; i++)
		printf("  %s\n", plan->environment.items[i]);
	printf("sbatch options:  %s\n", options ? options : "(out of memory)");
	free(options);
	free(command);
}

int cmd_plan(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "conf", required_argument, NULL, 'c' },
		{ "run-id", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "account", required_argument, NULL, 'a' },
		{ "no-files", no_argument, NULL, 'n' },
		{ "node-topology", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *run_id = NULL, *user = NULL, *account;
	const char *topology = NULL;
	char new_id[AML_RUNID_MAX];
	struct aml_runconfig rc;
	struct aml_site site;
	struct aml_plan plan;
	struct aml_errors errs;
	struct aml_submitter who;
	int json = 0, read_files = 1, opt, status = AML_EXIT_INVALID;

	account = getenv("SBATCH_ACCOUNT");
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'r':
			run_id = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'a':
			account = optarg;
			break;
		case 'n':
			read_files = 0;
			break;
		case 't':
			topology = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return AML_EXIT_OK;
		case ':':
			return tool_usage_error("plan", "option %s needs a value",
						argv[optind - 1]);
		default:
			return tool_usage_error("plan", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return tool_usage_error("plan", "expected exactly one FILE");
	if (json && topology)
		return tool_usage_error("plan", "--node-topology prints text: it does not go with --json");
	if (!user) {
		struct passwd *pw = getpwuid(getuid());

		if (!pw) {
			fprintf(stderr, "aml-run plan: cannot find the name of uid %u; use --user\n",
				(unsigned)getuid());
			return AML_EXIT_FAILURE;
		}
		user = pw->pw_name;
	}

	status = tool_load_site("plan", conf, &site);
	if (status != AML_EXIT_OK)
		return status;
	status = AML_EXIT_INVALID;
	aml_errors_init(&errs, argv[optind]);
	if (aml_runconfig_load(argv[optind], &site.limits, &site.data, &rc,
			       &errs) < 0) {
		tool_print_errors(&errs);
		goto out_site;
	}
	if (read_files &&
	    aml_runconfig_read_files(&rc, &site.limits, &errs) < 0) {
		tool_print_errors(&errs);
		goto out_rc;
	}
	if (!run_id) {
		if (aml_runid_generate(rc.experiment_name, time(NULL), new_id,
				       sizeof(new_id)) < 0) {
			perror("aml-run plan: cannot make a run id");
			status = AML_EXIT_FAILURE;
			goto out_rc;
		}
		run_id = new_id;
	}
	who.user = user;
	who.account = account && *account ? account : NULL;
	if (aml_plan_from_config(&rc, &site, &who, run_id, &plan, &errs) < 0) {
		tool_print_errors(&errs);
		goto out_rc;
	}
	if (json) {
		char *text = aml_plan_to_json(&plan);

		if (!text) {
			fprintf(stderr, "aml-run plan: out of memory\n");
			status = AML_EXIT_FAILURE;
		} else {
			printf("%s\n", text);
			free(text);
			status = AML_EXIT_OK;
		}
	} else {
		print_plan(&plan, &rc, &site);
		status = AML_EXIT_OK;
		if (topology &&
		    plan_print_placement(topology, &plan, &site) < 0)
			status = AML_EXIT_INVALID;
	}
	aml_plan_free(&plan);
out_rc:
	aml_runconfig_free(&rc);
out_site:
	aml_site_free(&site);
	aml_errors_free(&errs);
	return status;
}
