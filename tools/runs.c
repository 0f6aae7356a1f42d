/*
 * runs.c: see runs.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "runs.h"
#include "text.h"
#include "tools.h"
#include "waiting.h"

extern char **environ;

int runs_open(const char *command, const char *conf, struct aml_site *site,
	      struct aml_history **h)
{
	char err[1024];
	size_t remaining;
	int status = tool_load_site(command, conf, site);

	if (status != AML_EXIT_OK)
		return status;
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

/* Run [argv] and keep what it prints on stdout (up to [len] - 1 bytes);
 * stderr is kept in [err] the same way.  Returns the exit status, or -1
 * when it could not be started. */
static int run_capture(char *const argv[], char *out, size_t len, char *err,
		       size_t errlen)
{
	posix_spawn_file_actions_t actions;
	int outpipe[2], errpipe[2], status;
	size_t n = 0, m = 0;
	pid_t pid;

	if (pipe2(outpipe, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		close(outpipe[0]);
		close(outpipe[1]);
		return -1;
	}
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, outpipe[1], 1);
	posix_spawn_file_actions_adddup2(&actions, errpipe[1], 2);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	status = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	close(outpipe[1]);
	close(errpipe[1]);
	if (status != 0) {
		close(outpipe[0]);
		close(errpipe[0]);
		return -1;
	}
	/* Both outputs are small (one job); stdout first, then stderr, is
	 * safe as long as stderr fits the pipe, which a one-line error does. */
	for (;;) {
		char sink[512];
		ssize_t got = n + 1 < len ? read(outpipe[0], out + n, len - 1 - n)
					  : read(outpipe[0], sink, sizeof(sink));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (n + 1 < len)
			n += (size_t)got;
	}
	for (;;) {
		ssize_t got = m + 1 < errlen
				      ? read(errpipe[0], err + m, errlen - 1 - m)
				      : 0;

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		m += (size_t)got;
	}
	out[n] = '\0';
	err[m] = '\0';
	close(outpipe[0]);
	close(errpipe[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int runs_slurm_query(uint32_t job_id, struct aml_slurm_job *job)
{
	char id[16], out[8192], err[1024];
	char *scontrol[] = { "scontrol", "show", "job", "-o", id, NULL };
	char *sacct[] = { "sacct", "-n", "-P", "-X", "-o", "State,ExitCode,End",
			  "-j", id, NULL };
	int rc;

	snprintf(id, sizeof(id), "%u", job_id);
	rc = run_capture(scontrol, out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		return aml_slurm_parse_scontrol(out, job) == 0 ? 0 : -1;
	if (rc < 0 || !strstr(err, "Invalid job id"))
		return -1;
	/* The controller forgot the job (MinJobAge); accounting may not. */
	rc = run_capture(sacct, out, sizeof(out), err, sizeof(err));
	if (rc == 0 && aml_slurm_parse_sacct(out, job) == 0)
		return 0;
	return 1;
}

int runs_slurm_cancel(uint32_t job_id, char *errbuf, size_t errlen)
{
	char id[16], out[256], err[1024];
	char *scancel[] = { "scancel", id, NULL };
	int rc;

	snprintf(id, sizeof(id), "%u", job_id);
	rc = run_capture(scancel, out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		return 0;
	err[strcspn(err, "\n")] = '\0';
	return aml_fail(errbuf, errlen, "scancel %u failed: %s", job_id,
			rc < 0 ? "scancel could not be run"
			       : *err ? err : "no message");
}

/* [job_id]'s comment ("" for none) into [out]; 0, or -1 with errbuf. */
static int read_comment(uint32_t job_id, char *out, size_t len, char *errbuf,
			size_t errlen)
{
	char id[16], err[1024];
	char *squeue[] = { "squeue", "-h", "-j", id, "-o", "%k", NULL };
	int rc;

	snprintf(id, sizeof(id), "%u", job_id);
	rc = run_capture(squeue, out, len, err, sizeof(err));
	if (rc != 0) {
		err[strcspn(err, "\n")] = '\0';
		return aml_fail(errbuf, errlen, "squeue -j %u: %s", job_id,
				rc < 0 ? "could not be run" : err);
	}
	out[strcspn(out, "\n")] = '\0';
	if (!strcmp(out, "(null)"))
		out[0] = '\0';
	return 0;
}

int runs_slurm_spooled_on(uint32_t job_id, char *buf, size_t len,
			  char *errbuf, size_t errlen)
{
	char comment[4096];

	if (len)
		buf[0] = '\0';
	if (read_comment(job_id, comment, sizeof(comment), errbuf, errlen) < 0)
		return -1;
	aml_waiting_nodes(comment, buf, len);
	return 0;
}

int runs_slurm_mark_spooled(uint32_t job_id, const char *node, char *errbuf,
			    size_t errlen)
{
	char out[4096], err[1024], *comment, *arg;
	char *scontrol[] = { "scontrol", "update", NULL, NULL, NULL };
	char jobid_arg[32];
	int rc;

	if (read_comment(job_id, out, sizeof(out), errbuf, errlen) < 0)
		return -1;
	comment = aml_waiting_mark_comment(out, node);
	if (!comment)
		return aml_fail(errbuf, errlen, "node \"%s\" cannot be named in "
				"a comment", node);
	if (asprintf(&arg, "Comment=%s", comment) < 0) {
		free(comment);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	free(comment);
	snprintf(jobid_arg, sizeof(jobid_arg), "JobId=%u", job_id);
	scontrol[2] = jobid_arg;
	scontrol[3] = arg;
	rc = run_capture(scontrol, out, sizeof(out), err, sizeof(err));
	free(arg);
	if (rc == 0)
		return 0;
	err[strcspn(err, "\n")] = '\0';
	return aml_fail(errbuf, errlen, "scontrol update JobId=%u: %s", job_id,
			rc < 0 ? "could not be run" : *err ? err : "failed");
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
		aml_waiting_reason(job.spooled_on, reason, sizeof(reason));
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

			aml_waiting_reason(job.spooled_on, reason,
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
