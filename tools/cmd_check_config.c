/*
 * aml-run check-config: is the site policy valid, and is this build of
 * slurm-aml for the Slurm installed here?  Admins run it before
 * installing a changed aml.conf, since both plugins refuse a bad one,
 * and after upgrading Slurm, since slurmctld refuses a job_submit plugin
 * built for another release.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "site.h"
#include "slurm_query.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run check-config [FILE]\n"
	"\n"
	"Check the site policy.  Without FILE: $AML_CONF, else aml.conf beside\n"
	"$SLURM_CONF, else /etc/slurm/aml.conf.  Every problem is reported with\n"
	"its line number.  Then check that slurm-aml was built for the Slurm\n"
	"installed here (slurmctld -V, else slurmd -V).\n"
	"\n"
	"  -h, --help    show this help\n"
	"\n"
	"Exit status: 0 valid, 2 invalid or built for another Slurm, 64 usage\n"
	"error.\n";

/*
 * slurmctld loads a job_submit plugin, and sbatch, srun and salloc a
 * cli_filter plugin, only when built for exactly their release; SPANK
 * plugins for the same major and minor.  After a Slurm upgrade, a build
 * for the old release stops slurmctld at start.  Returns AML_EXIT_OK, or
 * AML_EXIT_INVALID with the way out on stderr.
 */
static int check_slurm_release(void)
{
	char installed[32];
	const char *program;

	if (runs_slurm_release(installed, sizeof(installed), &program) < 0) {
		printf("Slurm: built for %s; neither slurmctld -V nor slurmd -V "
		       "says which Slurm is installed here\n",
		       AML_SLURM_BUILT_FOR);
		return AML_EXIT_OK;
	}
	if (!strcmp(installed, AML_SLURM_BUILT_FOR)) {
		printf("Slurm: built for %s, the %s installed here\n",
		       AML_SLURM_BUILT_FOR, program);
		return AML_EXIT_OK;
	}
	fprintf(stderr,
		"aml-run check-config: Slurm: slurm-aml was built for Slurm "
		"%s, but %s here is %s: slurmctld will not load "
		"job_submit_aml.so (its log says \"Incompatible Slurm plugin "
		"... version (%s)\") nor sbatch, srun and salloc "
		"cli_filter_aml.so; build and install slurm-aml against %s "
		"before restarting slurmctld\n",
		AML_SLURM_BUILT_FOR, program, installed, AML_SLURM_BUILT_FOR,
		installed);
	return AML_EXIT_INVALID;
}

int cmd_check_config(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct aml_site site;
	int opt, status;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return AML_EXIT_OK;
		}
		return tool_usage_error("check-config", "unknown option %s",
						argv[optind - 1]);
	}
	if (argc - optind > 1)
		return tool_usage_error("check-config", "expected at most one FILE");
	status = tool_load_site("check-config",
				optind < argc ? argv[optind] : NULL, &site);
	if (status != AML_EXIT_OK)
		return status;
	printf("%s: valid: %zu compute target%s (", site.path, site.n_targets,
	       site.n_targets == 1 ? "" : "s");
	for (size_t i = 0; i < site.n_targets; i++)
		printf("%s%s", i ? ", " : "", site.targets[i].name);
	printf("), default %s, history %s in %s\n", site.default_target,
	       site.history_backend == AML_HISTORY_MLFLOW ? "mlflow" : "file",
	       site.history_backend == AML_HISTORY_MLFLOW ? site.history_uri
							   : site.history_dir);
	aml_site_free(&site);
	return check_slurm_release();
}
