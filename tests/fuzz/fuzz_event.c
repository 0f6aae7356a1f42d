/*
 * libFuzzer target: an events.jsonl as anyone who can write a run
 * directory could leave it (the run's owner, a torn write).  Folding it
 * must never crash or read out of bounds, and must agree with itself:
 * every line that decodes re-encodes to a line that decodes to the same
 * event, and the fold's counts stay within the number of lines.
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
	aml_run_state_free(&st);
	return 0;
}
