/*
 * aml-run validate: is this run configuration valid, and what does it mean?
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_values.h"
#include "errors.h"
#include "runconfig.h"
#include "site.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run validate [--canonical] [--no-files] FILE\n"
	"\n"
	"Check a run configuration: a ScriptRunConfig (JSON or YAML), a\n"
	"RunConfiguration (.runconfig) or an SDK v2 command job.  Every problem\n"
	"is reported on its own line: file, field, rule, and the value found.\n"
	"\n"
	"  --canonical   print the canonical JSON the controller receives\n"
	"  --no-files    do not check that the source directory, script and data\n"
	"                inputs exist, nor read the environment's files\n"
	"  --conf PATH   the aml.conf whose limits on a run's size (MaxConfigSize,\n"
	"                MaxEnvironmentVariables, MaxArguments, MaxArgumentsSize)\n"
	"                and data mappings (Datastore=, DataAsset=) apply;\n"
	"                by default the cluster's aml.conf\n"
	"                when there is one, else the built-in defaults\n"
	"  -h, --help    show this help\n"
	"\n"
	"Exit status: 0 valid, 2 invalid, 64 usage error.\n";

static const char *form_title(enum aml_config_form form)
{
	switch (form) {
	case AML_FORM_RUN_CONFIGURATION:
		return "RunConfiguration";
	case AML_FORM_COMMAND_JOB:
		return "command job";
	case AML_FORM_SCRIPT_RUN_CONFIG:
		break;
	}
	return "ScriptRunConfig";
}

static void print_summary(const char *file, const struct aml_runconfig *rc)
{
	uint32_t per_node = rc->distributed.process_count_per_node;
	uint32_t total = aml_runconfig_process_count(rc);
	char limit[32];

	aml_format_slurm_time(rc->max_run_duration_seconds, limit,
			      sizeof(limit));
	printf("%s: valid %s: experiment %s, %u node%s", file,
	       form_title(rc->form), rc->experiment_name, rc->node_count,
	       rc->node_count == 1 ? "" : "s");
	/* "x N" reads as per node: say so, and the total, where there is
	 * a count per node (PyTorch, MPI); TensorFlow's spread is Slurm's. */
	if (per_node && (rc->distributed.type == AML_DIST_PYTORCH ||
			 rc->distributed.type == AML_DIST_MPI))
		printf(" x %u process%s per node (%u in all)", per_node,
		       per_node == 1 ? "" : "es", total);
	else
		printf(", %u process%s", total, total == 1 ? "" : "es");
	if (rc->distributed.type != AML_DIST_NONE)
		printf(" (%s)", aml_dist_type_name(rc->distributed.type));
	printf(", compute target %s, at most %s\n",
	       rc->compute_target ? rc->compute_target : "local (site default)",
	       limit);
}

/*
 * The site sbatch and the controller will apply (its limits, the data it
 * maps): [conf], the cluster's aml.conf when there is one, else the
 * defaults (validate also runs where there is no cluster).  AML_EXIT_OK
 * with [site] to free, or the exit status with the errors printed.
 */
static int load_site(const char *conf, struct aml_site *site)
{
	char path[PATH_MAX];

	if (!conf) {
		if (aml_site_default_path(path, sizeof(path)) < 0 ||
		    access(path, F_OK) < 0) {
			if (aml_site_defaults(site) < 0) {
				fprintf(stderr, "aml-run validate: out of memory\n");
				return AML_EXIT_FAILURE;
			}
			return AML_EXIT_OK;
		}
		conf = path;
	}
	return tool_load_site("validate", conf, site);
}

int cmd_validate(int argc, char **argv)
{
	static const struct option options[] = {
		{ "canonical", no_argument, NULL, 'c' },
		{ "no-files", no_argument, NULL, 'n' },
		{ "conf", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int canonical = 0, check_files = 1, opt, status;
	struct aml_runconfig rc;
	struct aml_site site;
	struct aml_errors errs;
	const char *file, *conf = NULL;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			canonical = 1;
			break;
		case 'n':
			check_files = 0;
			break;
		case 'C':
			conf = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return AML_EXIT_OK;
		default:
			return tool_usage_error("validate", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return tool_usage_error("validate",
					"expected exactly one FILE");
	file = argv[optind];
	if ((status = load_site(conf, &site)) != AML_EXIT_OK)
		return status;
	aml_errors_init(&errs, file);
	if (aml_runconfig_load(file, &site.limits, &site.data, &rc,
			       &errs) < 0) {
		tool_print_errors(&errs);
		aml_errors_free(&errs);
		aml_site_free(&site);
		return AML_EXIT_INVALID;
	}
	status = AML_EXIT_OK;
	if (check_files &&
	    aml_runconfig_read_files(&rc, &site.limits, &errs) < 0) {
		tool_print_errors(&errs);
		status = AML_EXIT_INVALID;
	} else {
		/* sbatch hands the controller the canonical form, which
		 * MaxConfigSize bounds as well as the file. */
		char *text = aml_runconfig_encode(&rc);

		if (!text) {
			fprintf(stderr, "aml-run validate: out of memory\n");
			status = AML_EXIT_FAILURE;
		} else if (aml_runconfig_check_size(strlen(text),
						    "its canonical form",
						    &site.limits, &errs) < 0) {
			tool_print_errors(&errs);
			status = AML_EXIT_INVALID;
		} else if (canonical) {
			printf("%s\n", text);
		} else {
			print_summary(file, &rc);
		}
		free(text);
	}
	aml_runconfig_free(&rc);
	aml_errors_free(&errs);
	aml_site_free(&site);
	return status;
}
