/*
 * runs.c: see runs.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "hangwatch.h"
#include "runs.h"
#include "text.h"
#include "tools.h"
#include "waiting.h"

/*
 * What bounds itself gets this much more from the watch, which only
 * backs it up and must not win the race: a write to HistoryDir, given up
 * by its own child after HistoryTimeout without progress, then queued
 * (history_bounded.c); and on MLflow every request, stopped by the REST
 * layer at HistoryTimeout and tried again after a backoff of at most
 * 2 s (history_mlflow.c).
 */
#define SELF_BOUNDED_MARGIN_MS 5000

/* The rest of the command in a watched child (hangwatch.h): run history
 * that does not answer within HistoryTimeout costs the user that long,
 * not the rest of their session. */
static void watch_history(const char *command, const struct aml_site *site)
{
	static char program[64];
	int64_t read_ms = (int64_t)site->history_timeout_seconds * 1000;
	int64_t write_ms = read_ms + SELF_BOUNDED_MARGIN_MS;
	const char *what = "run history's filesystem";

	if (site->history_backend == AML_HISTORY_MLFLOW) {
		read_ms = write_ms;
		what = "run history";
	}
	snprintf(program, sizeof(program), "aml-run %s", command);
	aml_hangwatch_start(read_ms, write_ms, what, program);
}

int runs_open(const char *command, const char *conf, struct aml_site *site,
	      struct aml_history **h)
{
	char err[1024];
	size_t remaining;
	int status = tool_load_site(command, conf, site);

	if (status != AML_EXIT_OK)
		return status;
	watch_history(command, site);
	if (aml_history_open(site, h, err, sizeof(err)) < 0) {
		fprintf(stderr, "aml-run %s: %s\n", command, err);
		aml_site_free(site);
		return AML_EXIT_FAILURE;
	}
	/* What this user's earlier writes left in the spool goes first, so
	 * the history we read is as complete as this machine can make it. */
	if (aml_history_flush(*h, &remaining, err, sizeof(err)) < 0)
		fprintf(stderr, "aml-run %s: warning: %s\n", command, err);
	else if (remaining)
		fprintf(stderr, "aml-run %s: warning: %zu write(s) to run "
			"history still queued on this machine (%s)\n", command,
			remaining, err);
	return AML_EXIT_OK;
}

int runs_one_id(const char *command, int argc)
{
	if (argc - optind == 1)
		return AML_EXIT_OK;
	return tool_usage_error(command, argc == optind
					 ? "which run? give its run id"
					 : "one run id at a time");
}

int runs_open_read(const char *command, const char *conf, const char *run_id,
		   struct aml_site *site, struct aml_history **h,
		   struct aml_run_info *info)
{
	int status = runs_open(command, conf, site, h);

	if (status != AML_EXIT_OK)
		return status;
	status = runs_read(command, *h, run_id, 0, info);
	if (status != AML_EXIT_OK)
		runs_close(site, *h);
	return status;
}

void runs_close(struct aml_site *site, struct aml_history *h)
{
	aml_history_close(h);
	aml_site_free(site);
}

int runs_read(const char *command, struct aml_history *h, const char *run_id,
	      int with_config, struct aml_run_info *info)
{
	char err[1024];

	if (aml_history_read_run(h, run_id, with_config, info, err,
				 sizeof(err)) < 0) {
		fprintf(stderr, "aml-run %s: %s\n", command, err);
		return AML_EXIT_FAILURE;
	}
	/* What the command then writes (a tag, a cancel, a reconciled
	 * end) goes to the run it read, by that run's own id: never to
	 * another run of the same name. */
	if (aml_history_bind(h, info->run_id, info->key, err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "aml-run %s: %s\n", command, err);
		aml_run_info_free(info);
		return AML_EXIT_FAILURE;
	}
	runs_reconcile(h, info);
	return AML_EXIT_OK;
}

uint32_t runs_last_job(const struct aml_run_info *info)
{
	return info->state.n_job_ids
		       ? info->state.job_ids[info->state.n_job_ids - 1] : 0;
}

void runs_reconcile(struct aml_history *h, struct aml_run_info *info)
{
	struct aml_slurm_job job;
	struct aml_event ev;
	enum aml_status status;
	char reason[256], err[1024];
	uint32_t job_id = runs_last_job(info);
	int requeued;

	if (!info->state.has_events ||
	    aml_status_is_terminal(info->state.status) || !job_id ||
	    runs_slurm_query(job_id, &job) != 0)
		return;
	if (aml_status_from_slurm(job.state, job.exit_code, job.signal, 0,
				  &status, &requeued, reason,
				  sizeof(reason)) < 0 ||
	    requeued)
		return;
	switch (aml_waiting_judge(info->state.status, job.state, job.signal,
				  job.spooled_on)) {
	case AML_END_FROM_SLURM:
		break;
	case AML_END_MARK_WAITING:
		/* Shown, not written: the finalizer records it. */
		aml_waiting_reason(job.spooled_on, job.end_ms, reason,
				   sizeof(reason));
		if (aml_event_init(&ev, AML_STATUS_FINALIZING,
				   AML_SOURCE_RECONCILE) == 0) {
			ev.attempt = info->state.attempt;
			ev.job_id = job_id;
			if (aml_event_set_reason(&ev, reason) == 0)
				aml_run_state_apply(&info->state, &ev);
			aml_event_free(&ev);
		}
		return;
	case AML_END_WAIT:
		/* Shown with where it waits, when Slurm says. */
		if (job.spooled_on[0]) {
			char *why;

			aml_waiting_reason(job.spooled_on, job.end_ms, reason,
					   sizeof(reason));
			if ((why = strdup(reason))) {
				free(info->state.reason);
				info->state.reason = why;
			}
		}
		return;
	}
	/* A run of a listing, of which several may share a name: the end
	 * goes to this one, by its own id. */
	if (aml_history_bind(h, info->run_id, info->key, err,
			     sizeof(err)) < 0 ||
	    aml_event_init(&ev, status, AML_SOURCE_RECONCILE) < 0)
		return;
	/* The end as Slurm saw it, not when someone happened to look; never
	 * before the run's last event, so the timeline stays in order. */
	if (job.end_ms > info->state.updated_ms && job.end_ms <= ev.time_ms)
		ev.time_ms = job.end_ms;
	ev.attempt = info->state.attempt;
	ev.job_id = job_id;
	ev.has_exit_code = 1;
	ev.exit_code = job.signal ? 128 + job.signal : job.exit_code;
	if (aml_event_set_reason(&ev, reason) == 0) {
		switch (aml_history_record(h, info->experiment, info->run_id,
					   &ev, err, sizeof(err))) {
		case AML_HISTORY_ERROR:
			break;
		case AML_HISTORY_SPOOLED:
			/* Run history is away: what it will say. */
			aml_run_state_apply(&info->state, &ev);
			break;
		default: {
			struct aml_run_info fresh;

			if (aml_history_read_run(h, info->run_id,
						 info->config_json != NULL,
						 &fresh, err,
						 sizeof(err)) == 0) {
				aml_run_info_free(info);
				*info = fresh;
			}
		}
		}
	}
	aml_event_free(&ev);
}

int64_t runs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t runs_duration_ms(const struct aml_run_info *info, int64_t now_ms)
{
	const struct aml_run_state *st = &info->state;

	if (!st->started_ms)
		return -1;
	return (st->ended_ms ? st->ended_ms : now_ms) - st->started_ms;
}

void runs_format_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 60000)
		snprintf(buf, len, "%.1fs", (double)ms / 1000);
	else if (s < 3600)
		snprintf(buf, len, "%lldm %02llds", (long long)(s / 60),
			 (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lldh %02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%lldd %02lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
}

void runs_format_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S",
					       &tm))
		snprintf(buf, len, "-");
}

static cJSON *time_json(int64_t ms)
{
	char text[32];

	if (!ms)
		return cJSON_CreateNull();
	aml_event_format_time(ms, text, sizeof(text));
	return cJSON_CreateString(text);
}

static cJSON *kvlist_json(const struct aml_kvlist *list)
{
	cJSON *obj = cJSON_CreateObject();

	for (size_t i = 0; obj && i < list->count; i++)
		cJSON_AddStringToObject(obj, list->items[i].key,
					list->items[i].value);
	return obj;
}

cJSON *runs_json(const struct aml_run_info *info, int detailed,
		 const struct aml_artifact *artifacts, size_t n_artifacts)
{
	const struct aml_run_state *st = &info->state;
	const char *target = aml_kvlist_get(&info->properties,
					    AML_PROP_COMPUTE_TARGET);
	int64_t duration = runs_duration_ms(info, runs_now_ms());
	cJSON *o = cJSON_CreateObject(), *jobs, *list;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "run_id", info->run_id);
	cJSON_AddStringToObject(o, "experiment", info->experiment);
	cJSON_AddStringToObject(o, "status", st->has_events
				? aml_status_name(st->status) : "Unknown");
	cJSON_AddNumberToObject(o, "attempt", st->attempt);
	cJSON_AddStringToObject(o, "owner", info->owner);
	if (target)
		cJSON_AddStringToObject(o, "compute_target", target);
	else
		cJSON_AddNullToObject(o, "compute_target");
	cJSON_AddItemToObject(o, "created", time_json(st->created_ms));
	cJSON_AddItemToObject(o, "started", time_json(st->started_ms));
	cJSON_AddItemToObject(o, "ended", time_json(st->ended_ms));
	if (duration >= 0)
		cJSON_AddNumberToObject(o, "duration_seconds",
					(double)duration / 1000);
	else
		cJSON_AddNullToObject(o, "duration_seconds");
	jobs = cJSON_AddArrayToObject(o, "job_ids");
	for (size_t i = 0; jobs && i < st->n_job_ids; i++)
		cJSON_AddItemToArray(jobs, cJSON_CreateNumber(st->job_ids[i]));
	if (st->has_exit_code)
		cJSON_AddNumberToObject(o, "exit_code", st->exit_code);
	else
		cJSON_AddNullToObject(o, "exit_code");
	if (st->reason)
		cJSON_AddStringToObject(o, "reason", st->reason);
	else
		cJSON_AddNullToObject(o, "reason");
	if (!detailed)
		return o;
	if (st->nodes)
		cJSON_AddStringToObject(o, "nodes", st->nodes);
	else
		cJSON_AddNullToObject(o, "nodes");
	list = cJSON_AddArrayToObject(o, "events");
	for (size_t i = 0; list && i < info->n_events; i++) {
		char *line = aml_event_encode(&info->events[i]);
		cJSON *ev = line ? cJSON_Parse(line) : NULL;

		free(line);
		if (ev)
			cJSON_AddItemToArray(list, ev);
	}
	list = cJSON_AddObjectToObject(o, "seconds_in_status");
	for (int s = 0; list && s < AML_STATUS_COUNT; s++) {
		int64_t spent = st->spent_ms[s];

		if (st->has_events && (enum aml_status)s == st->status &&
		    !aml_status_is_terminal(st->status))
			spent += runs_now_ms() - st->updated_ms;
		if (spent > 0)
			cJSON_AddNumberToObject(list, aml_status_name(s),
						(double)spent / 1000);
	}
	cJSON_AddItemToObject(o, "properties", kvlist_json(&info->properties));
	cJSON_AddItemToObject(o, "tags", kvlist_json(&info->tags));
	list = cJSON_AddArrayToObject(o, "artifacts");
	for (size_t i = 0; list && i < n_artifacts; i++) {
		cJSON *a = cJSON_CreateObject();

		cJSON_AddStringToObject(a, "path", artifacts[i].path);
		cJSON_AddNumberToObject(a, "size", (double)artifacts[i].size);
		cJSON_AddItemToArray(list, a);
	}
	return o;
}

int runs_print_json(cJSON *json)
{
	struct aml_text shown = AML_TEXT_INIT;
	char *printed = json ? cJSON_Print(json) : NULL, *text = NULL;

	cJSON_Delete(json);
	/* cJSON escapes C0 only: DEL, C1 and bidirectional controls and
	 * bytes that are not UTF-8 would reach a terminal raw (and the last
	 * would make the JSON invalid). */
	if (printed) {
		aml_text_add_shown_json(&shown, printed);
		free(printed);
		text = aml_text_finish(&shown);
	}
	if (!text) {
		fprintf(stderr, "aml-run: out of memory\n");
		return AML_EXIT_FAILURE;
	}
	puts(text);
	free(text);
	return AML_EXIT_OK;
}

int runs_parse_since(const char *text, int64_t now_ms, int64_t *ms)
{
	struct tm tm;
	char *end;
	long n;

	n = strtol(text, &end, 10);
	if (end != text && n >= 0 && end[0] && !end[1]) {
		int64_t unit = end[0] == 's' ? 1000 : end[0] == 'm' ? 60000
			     : end[0] == 'h' ? 3600000 : end[0] == 'd' ? 86400000
			     : end[0] == 'w' ? 604800000 : 0;

		if (unit) {
			*ms = now_ms - (int64_t)n * unit;
			return 0;
		}
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%d", &tm);
	if (end && (*end == 'T' || *end == ' ')) {
		end = strptime(end + 1, "%H:%M", &tm);
		if (end && *end == ':')
			end = strptime(end + 1, "%S", &tm);
	}
	if (!end || *end)
		return -1;
	tm.tm_isdst = -1;
	*ms = (int64_t)mktime(&tm) * 1000;
	return 0;
}
