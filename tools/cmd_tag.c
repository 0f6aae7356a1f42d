/*
 * aml-run tag: set or remove a run's tags (properties never change).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runs.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run tag [OPTIONS] RUN_ID KEY=VALUE...\n"
	"\n"
	"Set tags on a run (a tag that exists is replaced), or remove them.\n"
	"\n"
	"  --remove KEY   remove the tag KEY (may be given several times)\n"
	"  --conf PATH    site policy to use\n"
	"  -h, --help     show this help\n";

int cmd_tag(int argc, char **argv)
{
	static const struct option options[] = {
		{ "remove", required_argument, NULL, 'r' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct aml_kvlist set = { 0 };
	struct aml_strlist remove = { 0 };
	struct aml_run_info info;
	struct aml_history *h;
	struct aml_site site;
	const char *conf = NULL;
	char err[1024];
	int opt, status = AML_EXIT_OK;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'r': {
			char **grown = realloc(remove.items, (remove.count + 1) *
							     sizeof(*grown));

			if (!grown)
				goto oom;
			remove.items = grown;
			remove.items[remove.count++] = optarg;
			break;
		}
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			free(remove.items);
			return AML_EXIT_OK;
		default:
			free(remove.items);
			return tool_usage_error("tag", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if (optind >= argc || (optind + 1 == argc && !remove.count)) {
		free(remove.items);
		return tool_usage_error("tag", optind >= argc
					? "which run? give its run id"
					: "give at least one KEY=VALUE or --remove KEY");
	}
	for (int i = optind + 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i]) {
			aml_kvlist_free(&set);
			free(remove.items);
			return tool_usage_error("tag", "\"%s\" is not KEY=VALUE",
						argv[i]);
		}
		*eq = '\0';
		if (aml_kvlist_set(&set, argv[i], eq + 1) < 0)
			goto oom;
	}
	status = runs_open("tag", conf, &site, &h);
	if (status == AML_EXIT_OK) {
		status = runs_read("tag", h, argv[optind], 0, &info);
		if (status == AML_EXIT_OK) {
			enum aml_history_result r = aml_history_set_tags(
				h, info.experiment, info.run_id, &set, &remove,
				err, sizeof(err));

			if (r == AML_HISTORY_ERROR)
				status = AML_EXIT_FAILURE;
			if (r == AML_HISTORY_ERROR || r == AML_HISTORY_SPOOLED)
				fprintf(stderr, "aml-run tag: %s\n", err);
			aml_run_info_free(&info);
		}
		runs_close(&site, h);
	}
	aml_kvlist_free(&set);
	free(remove.items);
	return status;
oom:
	aml_kvlist_free(&set);
	free(remove.items);
	fprintf(stderr, "aml-run tag: out of memory\n");
	return AML_EXIT_FAILURE;
}
