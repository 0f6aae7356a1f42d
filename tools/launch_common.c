/*
 * launch_common.c: see launch_common.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "errors.h"
#include "event.h"
#include "launch_common.h"

static const char *msg_run_id;

void launch_msg_run(const char *run_id)
{
	msg_run_id = run_id;
}

void launch_say(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf, so the line cannot be split by another writer of
	 * the job's error file. */
	if (msg_run_id)
		fprintf(stderr, "aml-launch: run %s: %s\n", msg_run_id, line);
	else
		fprintf(stderr, "aml-launch: %s\n", line);
}

int launch_event_make(const struct launch_ctx *c, enum aml_status status,
		      const char *reason, int has_exit_code, int exit_code,
		      struct aml_event *ev, char *errbuf, size_t errlen)
{
	if (aml_event_init(ev, status, AML_SOURCE_LAUNCHER) < 0)
		return aml_fail(errbuf, errlen,
				"no randomness for an event id");
	ev->attempt = c->attempt;
	ev->job_id = c->job_id;
	ev->has_exit_code = has_exit_code;
	ev->exit_code = exit_code;
	if ((c->node && aml_event_set_node(ev, c->node) < 0) ||
	    (reason && aml_event_set_reason(ev, reason) < 0)) {
		aml_event_free(ev);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	return 0;
}

enum aml_history_result launch_record_quietly(const struct launch_ctx *c,
					      enum aml_status status,
					      const char *reason,
					      int has_exit_code, int exit_code,
					      int64_t *time_ms, char *errbuf,
					      size_t errlen)
{
	enum aml_history_result r;
	struct aml_event ev;

	if (launch_event_make(c, status, reason, has_exit_code, exit_code,
			      &ev, errbuf, errlen) < 0)
		return AML_HISTORY_ERROR;
	if (time_ms)
		*time_ms = ev.time_ms;
	r = aml_history_record(c->h, c->experiment, c->run_id, &ev, errbuf,
			       errlen);
	aml_event_free(&ev);
	return r;
}

enum aml_history_result launch_record(const struct launch_ctx *c,
				      enum aml_status status,
				      const char *reason, int has_exit_code,
				      int exit_code, int64_t *time_ms)
{
	enum aml_history_result r;
	char err[1024];

	r = launch_record_quietly(c, status, reason, has_exit_code, exit_code,
				  time_ms, err, sizeof(err));
	if (r == AML_HISTORY_ERROR)
		launch_say("cannot record %s: %s", aml_status_name(status),
			   err);
	else if (r == AML_HISTORY_SPOOLED)
		launch_say("%s: %s", aml_status_name(status), err);
	return r;
}

int64_t launch_monotonic_of(int64_t realtime_ms)
{
	int64_t now = aml_monotonic_ms();
	struct timespec ts;
	int64_t real_now;

	clock_gettime(CLOCK_REALTIME, &ts);
	real_now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return real_now > realtime_ms ? now - (real_now - realtime_ms) : now;
}
