/*
 * aml-run list: the runs in run history, newest first, as a table or JSON.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "runs.h"
#include "text.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run list [OPTIONS]\n"
	"\n"
	"List runs, newest first: run id, experiment, status, duration, compute\n"
	"target and Slurm job id.  Others' private runs are not shown.\n"
	"\n"
	"  --experiment NAME  only runs of this experiment\n"
	"  --status STATUS    only runs in this status (Queued, Running, Completed,\n"
	"                     Failed, Canceled, ...)\n"
	"  --user NAME        only runs of this user\n"
	"  --since WHEN       only runs created since WHEN: a date (2026-11-25),\n"
	"                     a time (2026-11-25T10:00), or an age (30m, 2h, 7d)\n"
	"  --json             print JSON\n"
	"  --conf PATH        site policy to use\n"
	"  -h, --help         show this help\n";

static void print_table(const struct aml_run_info *runs, size_t n)
{
	int64_t now = runs_now_ms();
	int w_id = 6, w_exp = 10, w_target = 12;

	/* Widths in columns of what is shown, escapes included, so a run
	 * whose names hold control characters cannot shift the columns. */
	for (size_t i = 0; i < n; i++) {
		const char *target = aml_kvlist_get(&runs[i].properties,
						    AML_PROP_COMPUTE_TARGET);
		int a = (int)aml_text_shown_width(runs[i].run_id);
		int b = (int)aml_text_shown_width(runs[i].experiment);
		int c = target ? (int)aml_text_shown_width(target) : 1;

		w_id = a > w_id ? a : w_id;
		w_exp = b > w_exp ? b : w_exp;
		w_target = c > w_target ? c : w_target;
	}
	tool_printf(stdout, "%-*s  %-*s  %-15s  %9s  %-*s  %s\n", w_id,
		    "RUN ID", w_exp, "EXPERIMENT", "STATUS", "DURATION",
		    w_target, "TARGET", "JOB ID");
	for (size_t i = 0; i < n; i++) {
		const struct aml_run_info *r = &runs[i];
		const char *target = aml_kvlist_get(&r->properties,
						    AML_PROP_COMPUTE_TARGET);
		char duration[32], job[16] = "-";
		uint32_t job_id = runs_last_job(r);

		runs_format_duration(runs_duration_ms(r, now), duration,
				     sizeof(duration));
		if (job_id)
			snprintf(job, sizeof(job), "%u", job_id);
		tool_printf(stdout, "%-*s  %-*s  %-15s  %9s  %-*s  %s\n", w_id,
			    r->run_id, w_exp, r->experiment,
			    r->state.has_events
			    ? aml_status_name(r->state.status) : "Unknown",
			    duration, w_target, target ? target : "-", job);
	}
}

int cmd_list(int argc, char **argv)
{
	static const struct option options[] = {
		{ "experiment", required_argument, NULL, 'e' },
		{ "status", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct aml_run_filter filter = { 0 };
	struct aml_run_info *runs = NULL;
	struct aml_history *h;
	struct aml_site site;
	const char *conf = NULL;
	char err[1024];
	size_t n = 0, kept = 0;
	int json = 0, opt, status, want_status;
	enum aml_status status_wanted;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'e':
			filter.experiment = optarg;
			break;
		case 's':
			if (aml_status_parse(optarg, &filter.status) < 0)
				return tool_usage_error("list", "--status: no "
					"status \"%s\" (NotStarted, Queued, "
					"Preparing, Running, Finalizing, "
					"CancelRequested, NotResponding, "
					"Completed, Failed, Canceled)", optarg);
			filter.has_status = 1;
			break;
		case 'u':
			filter.user = optarg;
			break;
		case 'S':
			if (runs_parse_since(optarg, runs_now_ms(),
					     &filter.since_ms) < 0)
				return tool_usage_error("list", "--since: \"%s\" "
					"is not a date (2026-11-25), a time "
					"(2026-11-25T10:00) or an age (30m, 2h, "
					"7d)", optarg);
			break;
		case 'j':
			json = 1;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return AML_EXIT_OK;
		default:
			return tool_usage_error("list", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if (optind < argc)
		return tool_usage_error("list", "unexpected argument \"%s\"",
					argv[optind]);
	want_status = filter.has_status;
	status_wanted = filter.status;
	filter.has_status = 0;
	status = runs_open("list", conf, &site, &h);
	if (status != AML_EXIT_OK)
		return status;
	if (aml_history_list(h, &filter, &runs, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "aml-run list: %s\n", err);
		runs_close(&site, h);
		return AML_EXIT_FAILURE;
	}
	/* The status filter applies to what the run is once reconciled, so
	 * it is applied here rather than by the history. */
	for (size_t i = 0; i < n; i++) {
		runs_reconcile(h, &runs[i]);
		if (want_status && (!runs[i].state.has_events ||
				    runs[i].state.status != status_wanted)) {
			aml_run_info_free(&runs[i]);
			continue;
		}
		runs[kept++] = runs[i];
	}
	n = kept;
	if (json) {
		cJSON *array = cJSON_CreateArray();

		for (size_t i = 0; array && i < n; i++)
			cJSON_AddItemToArray(array,
					     runs_json(&runs[i], 0, NULL, 0));
		status = runs_print_json(array);
	} else {
		print_table(runs, n);
	}
	for (size_t i = 0; i < n; i++)
		aml_run_info_free(&runs[i]);
	free(runs);
	runs_close(&site, h);
	return status;
}
