/*
 * aml-run: the user's and admin's command for slurm-aml run configurations.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "site.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run COMMAND [OPTIONS] [ARGS]\n"
	"\n"
	"Check, preview and follow Azure ML style runs on this Slurm cluster.\n"
	"\n"
	"Commands:\n"
	"  validate FILE         check a run configuration (ScriptRunConfig JSON/YAML,\n"
	"                        .runconfig, or v2 command job); exit 2 if invalid\n"
	"  plan FILE             show the Slurm allocation FILE gets, and the\n"
	"                        equivalent sbatch options\n"
	"  check-config [FILE]   check the site policy, aml.conf\n"
	"  snapshot ACTION       create, show, install or gc snapshots of source\n"
	"                        directories (see aml-run snapshot --help)\n"
	"  env ACTION            list, show, build or gc environments (see\n"
	"                        aml-run env --help)\n"
	"\n"
	"Run history:\n"
	"  list                  runs, newest first, with status and duration\n"
	"  show RUN              a run's status, timeline, properties, tags, outputs\n"
	"  logs RUN              a run's output (--follow to keep printing)\n"
	"  wait RUN              wait for a run to end (--show-output)\n"
	"  download RUN [PATH]   copy a run's outputs and logs\n"
	"  tag RUN KEY=VALUE     set a run's tags\n"
	"  cancel RUN            cancel a run\n"
	"\n"
	"  help [COMMAND]        show help for a command\n"
	"\n"
	"Options:\n"
	"  -h, --help            show this help\n"
	"  -V, --version         show the version\n"
	"\n"
	"Submit a run with:  sbatch --aml-run=FILE\n"
	"See aml-run(1), aml-run-validate(1), aml-run-plan(1), aml-run-snapshot(1),\n"
	"aml-run-check-config(1) and aml.conf(5).\n";

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "validate", cmd_validate },
	{ "plan", cmd_plan },
	{ "check-config", cmd_check_config },
	{ "snapshot", cmd_snapshot },
	{ "list", cmd_list },
	{ "show", cmd_show },
	{ "logs", cmd_logs },
	{ "wait", cmd_wait },
	{ "download", cmd_download },
	{ "tag", cmd_tag },
	{ "cancel", cmd_cancel },
	{ "env", cmd_env },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *command;

	aml_tool_use_mlflow_module();
	if (argc < 2) {
		fputs(usage, stderr);
		return AML_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage, stdout);
		return AML_EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("aml-run (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return AML_EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		char *help_argv[] = { argv[2], "--help", NULL };

		if (argc < 3) {
			fputs(usage, stdout);
			return AML_EXIT_OK;
		}
		command = find_command(argv[2]);
		if (!command) {
			fprintf(stderr, "aml-run: no command \"%s\"\n%s", argv[2],
				usage);
			return AML_EXIT_USAGE;
		}
		return command->run(2, help_argv);
	}
	command = find_command(argv[1]);
	if (!command) {
		fprintf(stderr, "aml-run: no command \"%s\"\n\n%s", argv[1],
			usage);
		return AML_EXIT_USAGE;
	}
	return command->run(argc - 1, argv + 1);
}
