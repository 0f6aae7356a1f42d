/*
 * aml-run show: one run in full: status, timeline with the time spent in
 * each phase, properties, tags, jobs and nodes, outputs with sizes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement_node.h"
#include "runs.h"
#include "text.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run show [OPTIONS] RUN_ID\n"
	"\n"
	"Show a run: status, exit code and reason, the timeline with the time\n"
	"spent in each status, properties, each rank's cores and GPU, tags, Slurm\n"
	"job ids and nodes, and the uploaded outputs and logs with their sizes.\n"
	"\n"
	"  --json         print JSON\n"
	"  --conf PATH    site policy to use\n"
	"  -h, --help     show this help\n";

/* [skip] (may be NULL) leaves out what another section shows. */
static void print_kv(const char *title, const struct aml_kvlist *list,
		     int (*skip)(const char *key, const char *value))
{
	int shown = 0;

	tool_printf(stdout, "\n%s\n", title);
	for (size_t i = 0; i < list->count; i++) {
		if (skip && skip(list->items[i].key, list->items[i].value))
			continue;
		tool_printf(stdout, "  %s: %s\n", list->items[i].key,
			    list->items[i].value);
		shown = 1;
	}
	if (!shown)
		tool_printf(stdout, "  (none)\n");
}

static int is_rank_placement(const char *key, const char *value)
{
	struct aml_placement_row row;

	return aml_placement_row_parse(key, value, &row) == 0;
}

static int by_rank(const void *a, const void *b)
{
	const struct aml_placement_row *x = a, *y = b;

	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Each rank's node, cores and GPU, as the nodes recorded them
 * (placement_node.h), in rank order. */
static void print_placement(const struct aml_kvlist *props)
{
	struct aml_placement_row *rows = calloc(props->count ? props->count : 1,
						sizeof(*rows));
	size_t n = 0;

	if (!rows)
		return;
	for (size_t i = 0; i < props->count; i++)
		if (aml_placement_row_parse(props->items[i].key,
					    props->items[i].value,
					    &rows[n]) == 0)
			n++;
	if (n) {
		qsort(rows, n, sizeof(*rows), by_rank);
		tool_printf(stdout, "\nPlacement\n");
		tool_printf(stdout, "  %-5s %-16s %-5s %-5s %-4s %s\n", "RANK",
			    "NODE", "LOCAL", "CORES", "GPU", "CPUS");
		for (size_t i = 0; i < n; i++) {
			char gpu[16];

			snprintf(gpu, sizeof(gpu), "%d", rows[i].gpu);
			tool_printf(stdout, "  %-5u %-16s %-5u %-5u %-4s %s%s\n",
				    rows[i].rank, rows[i].node, rows[i].local,
				    rows[i].cores,
				    rows[i].gpu < 0 ? "-" : gpu, rows[i].cpus,
				    rows[i].shared ? " (shared)" : "");
		}
	}
	free(rows);
}

static void print_run(const struct aml_run_info *r,
		      const struct aml_artifact *files, size_t n_files)
{
	const struct aml_run_state *st = &r->state;
	const char *target = aml_kvlist_get(&r->properties,
					    AML_PROP_COMPUTE_TARGET);
	int64_t now = runs_now_ms();
	char when[32], spent[32];

	tool_printf(stdout, "Run:         %s\n", r->run_id);
	tool_printf(stdout, "Experiment:  %s\n", r->experiment);
	tool_printf(stdout, "Status:      %s", st->has_events
		    ? aml_status_name(st->status) : "Unknown");
	if (st->has_exit_code)
		tool_printf(stdout, " (exit code %d)", st->exit_code);
	tool_printf(stdout, "\n");
	if (st->reason)
		tool_printf(stdout, "Reason:      %s\n", st->reason);
	tool_printf(stdout, "Owner:       %s\n", r->owner);
	tool_printf(stdout, "Target:      %s\n", target ? target : "-");
	tool_printf(stdout, "Attempt:     %u\n", st->attempt);
	tool_printf(stdout, "Slurm jobs:  ");
	for (size_t i = 0; i < st->n_job_ids; i++)
		tool_printf(stdout, "%s%u", i ? ", " : "", st->job_ids[i]);
	tool_printf(stdout, "%s\n", st->n_job_ids ? "" : "-");
	tool_printf(stdout, "Nodes:       %s\n", st->nodes ? st->nodes : "-");
	runs_format_duration(runs_duration_ms(r, now), spent, sizeof(spent));
	tool_printf(stdout, "Duration:    %s\n", spent);

	tool_printf(stdout, "\nTimeline\n");
	for (size_t i = 0; i < r->n_events; i++) {
		const struct aml_event *ev = &r->events[i];
		int64_t next = i + 1 < r->n_events ? r->events[i + 1].time_ms
			     : aml_status_is_terminal(ev->status) ? -1 : now;

		runs_format_time(ev->time_ms, when, sizeof(when));
		runs_format_duration(next < 0 ? -1 : next - ev->time_ms, spent,
				     sizeof(spent));
		tool_printf(stdout, "  %s  %-15s %9s  %-10s", when,
			    aml_status_name(ev->status),
			    aml_status_is_terminal(ev->status) ? "" : spent,
			    aml_event_source_name(ev->source));
		if (ev->attempt > 1)
			tool_printf(stdout, "  attempt %u", ev->attempt);
		if (ev->job_id)
			tool_printf(stdout, "  job %u", ev->job_id);
		if (ev->node)
			tool_printf(stdout, "  on %s", ev->node);
		if (ev->has_exit_code)
			tool_printf(stdout, "  exit %d", ev->exit_code);
		if (ev->reason)
			tool_printf(stdout, "  (%s)", ev->reason);
		tool_printf(stdout, "\n");
	}

	tool_printf(stdout, "\nTime in each status\n");
	for (int s = 0; s < AML_STATUS_COUNT; s++) {
		int64_t ms = st->spent_ms[s];

		if (st->has_events && (enum aml_status)s == st->status &&
		    !aml_status_is_terminal(st->status))
			ms += now - st->updated_ms;
		if (ms <= 0)
			continue;
		runs_format_duration(ms, spent, sizeof(spent));
		tool_printf(stdout, "  %-15s %9s\n", aml_status_name(s), spent);
	}

	print_kv("Properties", &r->properties, is_rank_placement);
	print_placement(&r->properties);
	print_kv("Tags", &r->tags, NULL);

	tool_printf(stdout, "\nOutputs and logs\n");
	if (!n_files)
		tool_printf(stdout, "  (none)\n");
	for (size_t i = 0; i < n_files; i++) {
		char size[32];

		aml_format_bytes(files[i].size, size, sizeof(size));
		tool_printf(stdout, "  %-50s %10s\n", files[i].path, size);
	}
}

int cmd_show(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct aml_artifact *files = NULL;
	struct aml_run_info info;
	struct aml_history *h;
	struct aml_site site;
	const char *conf = NULL;
	char err[1024];
	size_t n_files = 0;
	int json = 0, opt, status;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
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
			return tool_usage_error("show", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if ((status = runs_one_id("show", argc)) != AML_EXIT_OK)
		return status;
	status = runs_open_read("show", conf, argv[optind], &site, &h, &info);
	if (status != AML_EXIT_OK)
		return status;
	if (aml_history_list_artifacts(h, &info, &files, &n_files, err,
				       sizeof(err)) < 0)
		fprintf(stderr, "aml-run show: warning: %s\n", err);
	if (json)
		status = runs_print_json(runs_json(&info, 1, files, n_files));
	else
		print_run(&info, files, n_files);
	aml_artifact_list_free(files, n_files);
	aml_run_info_free(&info);
	runs_close(&site, h);
	return status;
}
