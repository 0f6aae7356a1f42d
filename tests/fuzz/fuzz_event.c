/*
 * libFuzzer target: an events.jsonl as anyone who can write a run
 * directory could leave it (the run's owner, a torn write).  Folding it
 * must never crash or read out of bounds, and must agree with itself:
 * every line that decodes re-encodes to a line that decodes to the same
 * event, the fold's counts stay within the number of lines, the timeline
 * is in event.h's order and folds to the same state, and an event that
 * admission takes is still taken in its place once stored.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

static void check_line(const char *line, size_t len)
{
	struct aml_event ev, again;
	char err[256];
	char *out;

	if (aml_event_decode(line, len, &ev, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	out = aml_event_encode(&ev);
	if (!out || strlen(out) > AML_EVENT_LINE_MAX ||
	    out[strlen(out) - 1] != '\n')
		abort();
	if (aml_event_decode(out, strlen(out), &again, err, sizeof(err)) != 0)
		abort();
	if (strcmp(ev.id, again.id) || ev.status != again.status ||
	    ev.source != again.source || ev.attempt != again.attempt ||
	    ev.job_id != again.job_id || ev.time_ms != again.time_ms ||
	    ev.has_exit_code != again.has_exit_code)
		abort();
	free(out);
	aml_event_free(&ev);
	aml_event_free(&again);
}

/* The timeline is ordered, and folding it again gives [st] again. */
static void check_timeline(const char *text, size_t size,
			   const struct aml_run_state *st)
{
	struct aml_run_state again;
	struct aml_event *evs;
	size_t n;

	aml_run_state_init(&again);
	if (aml_run_events(text, size, &again, &evs, &n) < 0)
		return;
	for (size_t i = 1; i < n; i++)
		if (aml_event_order(&evs[i - 1], &evs[i]) > 0)
			abort();
	if (again.status != st->status || again.attempt != st->attempt ||
	    again.ended_ms != st->ended_ms)
		abort();
	aml_run_state_free(&again);
	aml_run_state_init(&again);
	aml_run_state_fold_events(&again, evs, &n);
	if (n != 0 && again.status != st->status)
		abort();
	aml_events_free(evs, n);
	aml_run_state_free(&again);
}

/* Every status, in every attempt up to 3, at a time inside the log's:
 * an event admitted and appended is accepted by the fold in its place. */
static void check_admit(const char *text, size_t size)
{
	static const int64_t times[] = { 0, 1795625396123, INT64_C(1) << 40 };
	char err[512];

	for (int s = 0; s < AML_STATUS_COUNT; s++)
		for (unsigned a = 1; a <= 3; a++)
			for (size_t t = 0; t < 3; t++) {
				struct aml_event ev;
				struct aml_run_state st;
				char *line, *all;

				if (aml_event_init(&ev, (enum aml_status)s,
						   AML_SOURCE_USER) < 0)
					return;
				ev.attempt = a;
				ev.time_ms = times[t];
				if (aml_events_admit(text, size, &ev, "r", err,
						     sizeof(err)) !=
				    AML_ADMIT_YES) {
					aml_event_free(&ev);
					continue;
				}
				line = aml_event_encode(&ev);
				all = line ? malloc(size + strlen(line) + 2)
					   : NULL;
				if (all) {
					size_t at = size;

					memcpy(all, text, size);
					if (size && text[size - 1] != '\n')
						all[at++] = '\n';
					strcpy(all + at, line);
					aml_run_state_init(&st);
					aml_run_state_fold(&st, all,
							   at + strlen(line));
					/* Taken: the log's end is that of the
					 * event's attempt or a later one. */
					if (!st.has_events || st.attempt < a)
						abort();
					aml_run_state_free(&st);
				}
				free(all);
				free(line);
				aml_event_free(&ev);
			}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *p = text, *end = text + size;
	struct aml_run_state st;
	size_t lines = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			break;
		check_line(p, (size_t)(nl - p));
		lines++;
		p = nl + 1;
	}
	aml_run_state_init(&st);
	aml_run_state_fold(&st, text, size);
	if (st.n_skipped > lines || st.n_job_ids > AML_RUN_MAX_JOBS)
		abort();
	check_timeline(text, size, &st);
	check_admit(text, size);
	aml_run_state_free(&st);
	return 0;
}
