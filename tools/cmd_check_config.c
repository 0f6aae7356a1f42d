/*
 * aml-run check-config: is the site policy valid?  Admins run it before
 * installing a changed aml.conf, since both plugins refuse a bad one.
 */
#include <getopt.h>
#include <stdio.h>

#include "site.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run check-config [FILE]\n"
	"\n"
	"Check the site policy.  Without FILE: $AML_CONF, else aml.conf beside\n"
	"$SLURM_CONF, else /etc/slurm/aml.conf.  Every problem is reported with\n"
	"its line number.\n"
	"\n"
	"  -h, --help    show this help\n"
	"\n"
	"Exit status: 0 valid, 2 invalid, 64 usage error.\n";

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
	return AML_EXIT_OK;
}
