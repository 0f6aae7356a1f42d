/*
 * aml-run download: copy a run's outputs and logs out of run history.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runs.h"
#include "text.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run download [OPTIONS] RUN_ID [PATH]\n"
	"\n"
	"Copy a run's files out of run history: PATH (a file or folder such as\n"
	"outputs/model.pt or logs), or everything under outputs/, logs/ and\n"
	"user_logs/.  Paths are kept: outputs/model.pt lands in DIR/outputs/model.pt.\n"
	"\n"
	"  -o, --output DIR   where to put them (default: ./RUN_ID)\n"
	"  --conf PATH        site policy to use\n"
	"  -h, --help         show this help\n";

int cmd_download(int argc, char **argv)
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct aml_artifact_stats stats = { 0 };
	struct aml_run_info info;
	struct aml_history *h;
	struct aml_site site;
	const char *conf = NULL, *out = NULL, *path;
	char err[1024], size[32];
	int opt, status, outfd;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return AML_EXIT_OK;
		default:
			return tool_usage_error("download", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return tool_usage_error("download", argc == optind
					? "which run? give its run id"
					: "give a run id and at most one path");
	path = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (!out)
		out = argv[optind];
	status = runs_open("download", conf, &site, &h);
	if (status != AML_EXIT_OK)
		return status;
	status = runs_read("download", h, argv[optind], 0, &info);
	if (status != AML_EXIT_OK) {
		runs_close(&site, h);
		return status;
	}
	if (mkdir(out, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "aml-run download: cannot create %s: %s\n", out,
			strerror(errno));
		status = AML_EXIT_FAILURE;
		goto done;
	}
	outfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (outfd < 0) {
		fprintf(stderr, "aml-run download: %s: %s\n", out,
			strerror(errno));
		status = AML_EXIT_FAILURE;
		goto done;
	}
	if (aml_history_download(h, &info, path, outfd, &stats, err,
				 sizeof(err)) < 0) {
		fprintf(stderr, "aml-run download: %s\n", err);
		status = AML_EXIT_FAILURE;
	} else {
		aml_format_bytes(stats.bytes, size, sizeof(size));
		tool_printf(stdout, "Downloaded %llu file%s (%s) of run %s to "
			    "%s\n", (unsigned long long)stats.files,
			    stats.files == 1 ? "" : "s", size, info.run_id,
			    out);
	}
	close(outfd);
done:
	aml_artifact_stats_free(&stats);
	aml_run_info_free(&info);
	runs_close(&site, h);
	return status;
}
