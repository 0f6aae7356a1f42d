/*
 * test_event.c: status events, their JSON lines and the state folded from
 * them (plugin/event.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"

/* 2026-11-25T16:49:56.123Z */
#define T0 INT64_C(1795625396123)
#define ID "0123456789abcdef"

static const char full_line[] =
	"{\"id\":\"0123456789abcdef\",\"time\":\"2026-11-25T16:49:56.123Z\","
	"\"status\":\"Queued\",\"source\":\"sbatch\",\"attempt\":1,"
	"\"job_id\":4242,\"node\":\"n1\",\"reason\":\"waiting for "
	"resources\",\"exit_code\":3}\n";

static const char minimal_line[] =
	"{\"id\":\"0123456789abcdef\",\"time\":\"2026-11-25T16:49:56.123Z\","
	"\"status\":\"Queued\",\"source\":\"sbatch\",\"attempt\":1}\n";

/* An event with nothing optional, for the tests to add to. */
static void make(struct aml_event *ev, const char *id, int64_t time_ms,
		 enum aml_status status, enum aml_event_source source,
		 unsigned attempt)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->id, sizeof(ev->id), "%s", id);
	ev->time_ms = time_ms;
	ev->status = status;
	ev->source = source;
	ev->attempt = attempt;
}

static void make_full(struct aml_event *ev)
{
	make(ev, ID, T0, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1);
	ev->job_id = 4242;
	assert_int_equal(aml_event_set_node(ev, "n1"), 0);
	assert_int_equal(aml_event_set_reason(ev, "waiting for resources"), 0);
	ev->has_exit_code = 1;
	ev->exit_code = 3;
}

static void assert_events_equal(const struct aml_event *a,
				const struct aml_event *b)
{
	assert_string_equal(a->id, b->id);
	assert_true(a->time_ms == b->time_ms);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->source, b->source);
	assert_int_equal(a->attempt, b->attempt);
	assert_int_equal(a->job_id, b->job_id);
	if (a->node || b->node)
		assert_string_equal(a->node ? a->node : "(null)",
				    b->node ? b->node : "(null)");
	if (a->reason || b->reason)
		assert_string_equal(a->reason ? a->reason : "(null)",
				    b->reason ? b->reason : "(null)");
	assert_int_equal(a->has_exit_code, b->has_exit_code);
	if (a->has_exit_code)
		assert_int_equal(a->exit_code, b->exit_code);
}

/* Decode [line] (NUL-terminated) expecting success. */
static void decode_ok(const char *line, struct aml_event *ev)
{
	char err[256] = "";

	if (aml_event_decode(line, strlen(line), ev, err, sizeof(err)) != 0)
		fail_msg("refused %s: %s", line, err);
}

/* Decode [line] expecting failure with [in_error] in the message. */
static void decode_bad(const char *line, const char *in_error)
{
	struct aml_event ev;
	char err[512] = "";

	if (aml_event_decode(line, strlen(line), &ev, err, sizeof(err)) != -1)
		fail_msg("accepted %s", line);
	if (!strstr(err, in_error) || strncmp(err, "event line: ", 12) != 0 ||
	    strchr(err, '\n'))
		fail_msg("%s: error \"%s\" lacks \"%s\"", line, err, in_error);
	/* A refused line leaves nothing to free. */
	assert_null(ev.node);
	assert_null(ev.reason);
}

/* ---- sources, init ---- */

static void test_source_names(void **state)
{
	static const char *const names[AML_SOURCE_COUNT] = {
		"sbatch", "controller", "node", "launcher", "finalizer",
		"user", "reconcile",
	};
	enum aml_event_source src;

	(void)state;
	for (int i = 0; i < AML_SOURCE_COUNT; i++) {
		assert_string_equal(aml_event_source_name(
					    (enum aml_event_source)i), names[i]);
		assert_int_equal(aml_event_source_parse(names[i], &src), 0);
		assert_int_equal(src, i);
	}
	assert_int_equal(aml_event_source_parse("SBATCH", &src), 0);
	assert_int_equal(src, AML_SOURCE_SBATCH);
	assert_int_equal(aml_event_source_parse("slurmd", &src), -1);
	assert_int_equal(aml_event_source_parse("", &src), -1);
	assert_int_equal(aml_event_source_parse(NULL, &src), -1);
}

static void test_init(void **state)
{
	struct aml_event a, b;
	struct timespec now;
	int64_t now_ms;

	(void)state;
	assert_int_equal(clock_gettime(CLOCK_REALTIME, &now), 0);
	now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	assert_int_equal(aml_event_init(&a, AML_STATUS_RUNNING,
					AML_SOURCE_NODE), 0);
	assert_int_equal(aml_event_init(&b, AML_STATUS_RUNNING,
					AML_SOURCE_NODE), 0);
	assert_int_equal(strlen(a.id), AML_EVENT_ID_LEN);
	assert_int_equal(strspn(a.id, "0123456789abcdef"), AML_EVENT_ID_LEN);
	assert_string_not_equal(a.id, b.id);
	assert_true(a.time_ms >= now_ms - 1000 && a.time_ms <= now_ms + 5000);
	assert_int_equal(a.status, AML_STATUS_RUNNING);
	assert_int_equal(a.source, AML_SOURCE_NODE);
	assert_int_equal(a.attempt, 1);
	assert_int_equal(a.job_id, 0);
	assert_null(a.node);
	assert_null(a.reason);
	assert_false(a.has_exit_code);
	aml_event_free(&a);
	aml_event_free(&b);
}

/* ---- encoding and decoding ---- */

static void test_encode_known_line(void **state)
{
	struct aml_event ev;
	char *line;

	(void)state;
	make_full(&ev);
	line = aml_event_encode(&ev);
	assert_non_null(line);
	assert_string_equal(line, full_line);
	free(line);
	aml_event_free(&ev);

	make(&ev, ID, T0, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1);
	line = aml_event_encode(&ev);
	assert_string_equal(line, minimal_line);
	free(line);
}

static void test_key_order(void **state)
{
	static const char *const keys[] = {
		"\"id\":", "\"time\":", "\"status\":", "\"source\":",
		"\"attempt\":", "\"job_id\":", "\"node\":", "\"reason\":",
		"\"exit_code\":",
	};
	struct aml_event ev;
	const char *prev = NULL;
	char *line;

	(void)state;
	make_full(&ev);
	/* Values that look like keys must not confuse the order check. */
	ev.status = AML_STATUS_FAILED;
	ev.source = AML_SOURCE_FINALIZER;
	ev.attempt = 12;
	ev.exit_code = -9;
	line = aml_event_encode(&ev);
	assert_non_null(line);
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const char *at = strstr(line, keys[i]);

		if (!at || (prev && at <= prev))
			fail_msg("%s out of order in %s", keys[i], line);
		prev = at;
	}
	/* Compact: no blank after a colon or between members. */
	assert_null(strstr(line, "\": "));
	assert_null(strstr(line, ", \""));
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	free(line);
	aml_event_free(&ev);
}

static void test_round_trip_all_fields(void **state)
{
	struct aml_event ev, back;
	char *line, *again;

	(void)state;
	make_full(&ev);
	ev.time_ms = T0 + 877;
	ev.status = AML_STATUS_CANCEL_REQUESTED;
	ev.source = AML_SOURCE_USER;
	ev.attempt = 4000000000u;
	ev.job_id = UINT32_MAX;
	ev.exit_code = -15;
	assert_int_equal(aml_event_set_reason(&ev, "asked by \"alice\" \\ "
					      "caf\xc3\xa9 \xe2\x82\xac"), 0);
	line = aml_event_encode(&ev);
	assert_non_null(line);
	decode_ok(line, &back);
	assert_events_equal(&ev, &back);
	again = aml_event_encode(&back);
	assert_string_equal(line, again);
	free(line);
	free(again);
	aml_event_free(&back);

	/* Every status and source survives. */
	for (int s = 0; s < AML_STATUS_COUNT; s++) {
		for (int src = 0; src < AML_SOURCE_COUNT; src++) {
			ev.status = (enum aml_status)s;
			ev.source = (enum aml_event_source)src;
			line = aml_event_encode(&ev);
			decode_ok(line, &back);
			assert_events_equal(&ev, &back);
			aml_event_free(&back);
			free(line);
		}
	}
	aml_event_free(&ev);
}

static void test_round_trip_required_only(void **state)
{
	struct aml_event ev, back;
	char *line;

	(void)state;
	make(&ev, "ffffffffffffffff", 0, AML_STATUS_NOT_STARTED,
	     AML_SOURCE_CONTROLLER, 1);
	line = aml_event_encode(&ev);
	assert_string_equal(line,
			    "{\"id\":\"ffffffffffffffff\",\"time\":"
			    "\"1970-01-01T00:00:00.000Z\",\"status\":"
			    "\"NotStarted\",\"source\":\"controller\","
			    "\"attempt\":1}\n");
	decode_ok(line, &back);
	assert_events_equal(&ev, &back);
	assert_null(back.node);
	assert_null(back.reason);
	assert_int_equal(back.job_id, 0);
	assert_false(back.has_exit_code);
	free(line);

	/* An exit code of 0 is known, and written. */
	ev.has_exit_code = 1;
	ev.exit_code = 0;
	line = aml_event_encode(&ev);
	assert_non_null(strstr(line, ",\"exit_code\":0}\n"));
	decode_ok(line, &back);
	assert_true(back.has_exit_code);
	assert_int_equal(back.exit_code, 0);
	free(line);
}

static void test_decode_known_line(void **state)
{
	struct aml_event ev, want;

	(void)state;
	make_full(&want);
	decode_ok(full_line, &ev);
	assert_events_equal(&want, &ev);
	aml_event_free(&ev);
	/* Without the newline too. */
	assert_int_equal(aml_event_decode(full_line, strlen(full_line) - 1,
					  &ev, NULL, 0), 0);
	assert_events_equal(&want, &ev);
	aml_event_free(&ev);
	/* [len] is what counts, not a NUL. */
	assert_int_equal(aml_event_decode(full_line, 30, &ev, NULL, 0), -1);
	aml_event_free(&want);
}

static void test_decode_missing_required(void **state)
{
	static const char *const keys[] = {
		"id", "time", "status", "source", "attempt",
	};
	static const char *const parts[] = {
		"\"id\":\"0123456789abcdef\"",
		"\"time\":\"2026-11-25T16:49:56.123Z\"",
		"\"status\":\"Queued\"",
		"\"source\":\"sbatch\"",
		"\"attempt\":1",
	};

	(void)state;
	for (size_t skip = 0; skip < 5; skip++) {
		char line[512] = "{", want[64];
		int first = 1;

		for (size_t i = 0; i < 5; i++) {
			if (i == skip)
				continue;
			if (!first)
				strcat(line, ",");
			strcat(line, parts[i]);
			first = 0;
		}
		strcat(line, ",\"job_id\":7}\n");
		snprintf(want, sizeof(want), "event line: %s: is missing",
			 keys[skip]);
		decode_bad(line, want);
	}
	/* null is no value. */
	decode_bad("{\"id\":null,\"time\":\"2026-11-25T16:49:56.123Z\","
		   "\"status\":\"Queued\",\"source\":\"sbatch\",\"attempt\":1}",
		   "id: is missing");
}

/* [minimal_line] with the value of [key] replaced by [value]. */
static void replaced(const char *key, const char *value, char *out,
		     size_t len)
{
	char pattern[64];
	const char *at, *end;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	at = strstr(minimal_line, pattern);
	if (!at) {
		/* An optional key: add it before the closing brace. */
		snprintf(out, len, "%.*s,\"%s\":%s}\n",
			 (int)(strlen(minimal_line) - 2), minimal_line, key,
			 value);
		return;
	}
	at += strlen(pattern);
	end = at + strcspn(at, ",}");
	snprintf(out, len, "%.*s%s%s", (int)(at - minimal_line), minimal_line,
		 value, end);
}

static void test_decode_bad_values(void **state)
{
	static const struct {
		const char *key, *value, *error;
	} cases[] = {
		{ "id", "\"0123456789ABCDEF\"", "id: must be 16 lowercase hex" },
		{ "id", "\"0123456789abcde\"", "id: must be 16" },
		{ "id", "\"0123456789abcdef0\"", "id: must be 16" },
		{ "id", "\"0123456789abcdeg\"", "id: must be 16" },
		{ "id", "\"\"", "id: must be 16" },
		{ "id", "1234567890123456", "id: must be 16" },
		{ "time", "\"2026-11-25 16:49:56.123Z\"", "time: must be" },
		{ "time", "\"2026-11-25T16:49:56.123\"", "time: must be" },
		{ "time", "\"2026-02-30T00:00:00Z\"", "time: must be" },
		{ "time", "\"yesterday\"", "time: must be" },
		{ "time", "1795625396123", "time: must be" },
		{ "status", "\"Done\"", "status: must be" },
		{ "status", "\"\"", "status: must be" },
		{ "status", "7", "status: must be" },
		{ "source", "\"slurmd\"", "source: must be" },
		{ "source", "[]", "source: must be" },
		{ "attempt", "0", "attempt: must be a whole number from 1, "
				  "got 0" },
		{ "attempt", "-1", "attempt: must be" },
		{ "attempt", "1.5", "attempt: must be" },
		{ "attempt", "\"x\"", "event line: attempt: must be a whole "
				      "number from 1, got \"x\"" },
		{ "attempt", "4294967296", "attempt: must be" },
		{ "attempt", "true", "attempt: must be" },
		{ "job_id", "-1", "job_id: must be a whole number from 0 to "
				  "4294967295, got -1" },
		{ "job_id", "4294967296", "job_id: must be" },
		{ "job_id", "1.5", "job_id: must be" },
		{ "job_id", "\"4242\"", "job_id: must be" },
		{ "exit_code", "256", "exit_code: must be" },
		{ "exit_code", "-256", "exit_code: must be" },
		{ "exit_code", "\"3\"", "exit_code: must be" },
		{ "node", "5", "node: must be a string" },
		{ "reason", "true", "reason: must be a string" },
		{ "reason", "{}", "reason: must be a string" },
	};
	char line[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		replaced(cases[i].key, cases[i].value, line, sizeof(line));
		decode_bad(line, cases[i].error);
	}
}

static void test_decode_edges_accepted(void **state)
{
	struct aml_event ev;
	char line[512];

	(void)state;
	replaced("job_id", "4294967295", line, sizeof(line));
	decode_ok(line, &ev);
	assert_int_equal(ev.job_id, UINT32_MAX);
	replaced("exit_code", "-9", line, sizeof(line));
	decode_ok(line, &ev);
	assert_true(ev.has_exit_code);
	assert_int_equal(ev.exit_code, -9);
	replaced("exit_code", "255", line, sizeof(line));
	decode_ok(line, &ev);
	assert_int_equal(ev.exit_code, 255);
	replaced("attempt", "4294967295", line, sizeof(line));
	decode_ok(line, &ev);
	assert_int_equal(ev.attempt, 4294967295u);
	replaced("status", "\"completed\"", line, sizeof(line));
	decode_ok(line, &ev);
	assert_int_equal(ev.status, AML_STATUS_COMPLETED);
	replaced("time", "\"2026-11-25T16:49:56Z\"", line, sizeof(line));
	decode_ok(line, &ev);
	assert_true(ev.time_ms == T0 - 123);
	/* Optional keys given as null are unknown. */
	replaced("reason", "null", line, sizeof(line));
	decode_ok(line, &ev);
	assert_null(ev.reason);
	replaced("job_id", "null", line, sizeof(line));
	decode_ok(line, &ev);
	assert_int_equal(ev.job_id, 0);
	/* An empty reason is no reason. */
	replaced("reason", "\"\"", line, sizeof(line));
	decode_ok(line, &ev);
	assert_null(ev.reason);
	/* A CRLF file. */
	decode_ok("{\"id\":\"0123456789abcdef\",\"time\":"
		  "\"2026-11-25T16:49:56.123Z\",\"status\":\"Queued\","
		  "\"source\":\"sbatch\",\"attempt\":1}\r\n", &ev);
}

static void test_decode_unknown_keys_ignored(void **state)
{
	struct aml_event ev, want;

	(void)state;
	make(&want, ID, T0, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1);
	decode_ok("{\"future\":{\"a\":[1,2,{\"b\":null}]},"
		  "\"id\":\"0123456789abcdef\",\"time\":"
		  "\"2026-11-25T16:49:56.123Z\",\"status\":\"Queued\","
		  "\"source\":\"sbatch\",\"attempt\":1,\"gpu\":\"a100\","
		  "\"ID\":\"not the id\"}\n", &ev);
	assert_events_equal(&want, &ev);
	aml_event_free(&ev);
}

static void test_decode_not_an_object(void **state)
{
	static const char *const lines[] = {
		"", "\n", "garbage\n", "[]\n", "\"text\"\n", "42\n", "null\n",
		"{\"id\":\"0123456789abcdef\"\n",
		/* Two events glued together by a torn write. */
		("{\"id\":\"0123456789abcdef\",\"time\":\"2026-11-25T16:49:56Z\","
		 "\"status\":\"Queued\",\"source\":\"sbatch\",\"attempt\":1}"
		 "{\"id\":\"0123456789abcdef\"}\n"),
		("{\"id\":\"0123456789abcdef\",\"time\":\"2026-11-25T16:49:56Z\","
		 "\"status\":\"Queued\",\"source\":\"sbatch\",\"attempt\":1} x\n"),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(*lines); i++)
		decode_bad(lines[i], "event line: ");
	decode_bad("[1]\n", "JSON object");
}

/* ---- reasons and nodes ---- */

static void test_reason_sanitised(void **state)
{
	struct aml_event ev, back;
	char *line;

	(void)state;
	make(&ev, ID, T0, AML_STATUS_FAILED, AML_SOURCE_FINALIZER, 1);
	assert_int_equal(aml_event_set_reason(&ev, "line one\nline two\r\t"
					      "bell\x07 del\x7f nel\xc2\x85"
					      "end"), 0);
	assert_string_equal(ev.reason,
			    "line one line two  bell  del  nel end");
	/* Bytes that are not UTF-8 cannot reach the log either. */
	assert_int_equal(aml_event_set_reason(&ev, "bad \xff\xc3 byte"), 0);
	assert_string_equal(ev.reason, "bad ?? byte");
	assert_int_equal(aml_event_set_node(&ev, "n1\nforged"), 0);
	assert_string_equal(ev.node, "n1 forged");

	/* Replacing frees the old one (valgrind), NULL and "" clear. */
	assert_int_equal(aml_event_set_reason(&ev, "second"), 0);
	assert_string_equal(ev.reason, "second");
	assert_int_equal(aml_event_set_reason(&ev, ""), 0);
	assert_null(ev.reason);
	assert_int_equal(aml_event_set_reason(&ev, "third"), 0);
	assert_int_equal(aml_event_set_reason(&ev, NULL), 0);
	assert_null(ev.reason);

	/* A reason put in the struct directly still makes one line. */
	ev.reason = strdup("raw\nnewline \"quoted\" \x01");
	line = aml_event_encode(&ev);
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	assert_non_null(strstr(line, "\"reason\":\"raw\\u000anewline "
				     "\\\"quoted\\\" \\u0001\""));
	decode_ok(line, &back);
	assert_string_equal(back.reason, "raw newline \"quoted\"  ");
	aml_event_free(&back);
	free(line);
	aml_event_free(&ev);
}

static void test_reason_cut_at_max(void **state)
{
	char text[2 * AML_EVENT_REASON_MAX];
	struct aml_event ev;

	(void)state;
	make(&ev, ID, T0, AML_STATUS_FAILED, AML_SOURCE_FINALIZER, 1);

	/* Exactly the maximum: kept whole. */
	memset(text, 'a', AML_EVENT_REASON_MAX);
	text[AML_EVENT_REASON_MAX] = '\0';
	assert_int_equal(aml_event_set_reason(&ev, text), 0);
	assert_string_equal(ev.reason, text);

	/* One more: cut to the maximum, "..." included. */
	memset(text, 'a', AML_EVENT_REASON_MAX + 1);
	text[AML_EVENT_REASON_MAX + 1] = '\0';
	assert_int_equal(aml_event_set_reason(&ev, text), 0);
	assert_int_equal(strlen(ev.reason), AML_EVENT_REASON_MAX);
	assert_string_equal(ev.reason + AML_EVENT_REASON_MAX - 3, "...");
	assert_int_equal(strspn(ev.reason, "a"), AML_EVENT_REASON_MAX - 3);

	/* A 3-byte character across the cut goes whole: 1020 'a', then
	 * U+20AC at bytes 1020-1022, the cut falling at 1021. */
	memset(text, 'a', 1020);
	memcpy(text + 1020, "\xe2\x82\xac", 3);
	memset(text + 1023, 'b', 100);
	text[1123] = '\0';
	assert_int_equal(aml_event_set_reason(&ev, text), 0);
	assert_int_equal(strlen(ev.reason), 1023);
	assert_int_equal(strspn(ev.reason, "a"), 1020);
	assert_string_equal(ev.reason + 1020, "...");

	/* A 4-byte one. */
	memset(text, 'a', 1019);
	memcpy(text + 1019, "\xf0\x9f\x98\x80", 4);
	memset(text + 1023, 'b', 100);
	text[1123] = '\0';
	assert_int_equal(aml_event_set_reason(&ev, text), 0);
	assert_int_equal(strlen(ev.reason), 1022);
	assert_string_equal(ev.reason + 1019, "...");

	/* A character that ends right at the cut is kept. */
	memset(text, 'a', 1019);
	memcpy(text + 1019, "\xc3\xa9", 2);
	memset(text + 1021, 'b', 100);
	text[1121] = '\0';
	assert_int_equal(aml_event_set_reason(&ev, text), 0);
	assert_int_equal(strlen(ev.reason), AML_EVENT_REASON_MAX);
	assert_memory_equal(ev.reason + 1019, "\xc3\xa9...", 5);
	aml_event_free(&ev);
}

static void test_node_cut_at_max(void **state)
{
	char text[400];
	struct aml_event ev;

	(void)state;
	make(&ev, ID, T0, AML_STATUS_RUNNING, AML_SOURCE_NODE, 1);
	memset(text, 'n', 300);
	text[300] = '\0';
	assert_int_equal(aml_event_set_node(&ev, text), 0);
	assert_int_equal(strlen(ev.node), AML_EVENT_NODE_MAX);
	assert_int_equal(strspn(ev.node, "n"), AML_EVENT_NODE_MAX);
	/* Not in the middle of a character. */
	memset(text, 'n', 254);
	memcpy(text + 254, "\xc3\xa9xyz", 6);
	assert_int_equal(aml_event_set_node(&ev, text), 0);
	assert_int_equal(strlen(ev.node), 254);
	aml_event_free(&ev);
}

static void test_encode_never_exceeds_line_max(void **state)
{
	struct aml_event ev, back;
	char *line;

	(void)state;
	make(&ev, ID, T0, AML_STATUS_FAILED, AML_SOURCE_FINALIZER, 7);
	ev.job_id = UINT32_MAX;
	ev.has_exit_code = 1;
	ev.exit_code = -255;

	/* The worst the setters allow: every character escaped. */
	{
		char quotes[AML_EVENT_REASON_MAX + 1], ctl[AML_EVENT_NODE_MAX + 1];

		memset(quotes, '"', AML_EVENT_REASON_MAX);
		quotes[AML_EVENT_REASON_MAX] = '\0';
		memset(ctl, '\\', AML_EVENT_NODE_MAX);
		ctl[AML_EVENT_NODE_MAX] = '\0';
		assert_int_equal(aml_event_set_reason(&ev, quotes), 0);
		assert_int_equal(aml_event_set_node(&ev, ctl), 0);
		line = aml_event_encode(&ev);
		assert_true(strlen(line) <= AML_EVENT_LINE_MAX);
		decode_ok(line, &back);
		assert_events_equal(&ev, &back);
		aml_event_free(&back);
		free(line);
	}

	/* A reason put in the struct directly, far too long: the reason is
	 * cut, with "...", and the rest of the line kept. */
	free(ev.reason);
	ev.reason = malloc(10001);
	memset(ev.reason, 0x01, 10000);
	ev.reason[10000] = '\0';
	line = aml_event_encode(&ev);
	assert_true(strlen(line) <= AML_EVENT_LINE_MAX);
	assert_true(strlen(line) > AML_EVENT_LINE_MAX - 8);
	assert_non_null(strstr(line, "...\",\"exit_code\":-255}\n"));
	assert_non_null(strstr(line, "\"node\":\"\\\\\\\\"));
	decode_ok(line, &back);
	assert_string_equal(back.node, ev.node);
	aml_event_free(&back);
	free(line);

	/* A node too long as well: the reason goes first, then the node is
	 * cut; the line still decodes. */
	free(ev.node);
	ev.node = malloc(10001);
	memset(ev.node, 'n', 10000);
	ev.node[10000] = '\0';
	line = aml_event_encode(&ev);
	assert_true(strlen(line) <= AML_EVENT_LINE_MAX);
	assert_null(strstr(line, "\"reason\""));
	assert_non_null(strstr(line, "\"exit_code\":-255}\n"));
	decode_ok(line, &back);
	assert_int_equal(strlen(back.node), AML_EVENT_NODE_MAX);
	assert_true(back.has_exit_code);
	aml_event_free(&back);
	free(line);
	aml_event_free(&ev);
}

/* ---- time ---- */

static void test_time_format(void **state)
{
	char buf[25];

	(void)state;
	aml_event_format_time(T0, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-25T16:49:56.123Z");
	aml_event_format_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	aml_event_format_time(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	aml_event_format_time(INT64_C(1709164800005), buf, sizeof(buf));
	assert_string_equal(buf, "2024-02-29T00:00:00.005Z");
	/* Out of the four-digit years: clamped, still 24 characters. */
	aml_event_format_time(INT64_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	aml_event_format_time(INT64_MIN, buf, sizeof(buf));
	assert_string_equal(buf, "0000-01-01T00:00:00.000Z");
}

static void test_time_parse(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {
		{ "2026-11-25T16:49:56.123Z", T0 },
		{ "2026-11-25T16:49:56Z", T0 - 123 },
		{ "2026-11-25T16:49:56.1Z", T0 - 23 },
		{ "2026-11-25T16:49:56.12Z", T0 - 3 },
		{ "2026-11-25T16:49:56.123999Z", T0 },
		{ "2026-11-25T16:49:56.123456789Z", T0 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1969-12-31T23:59:59.999Z", -1 },
		{ "2024-02-29T00:00:00.000Z", INT64_C(1709164800000) },
		{ "0001-01-01T00:00:00Z", INT64_C(-62135596800000) },
	};
	static const char *const bad[] = {
		"", "2026-11-25", "2026-11-25T16:49:56", "2026-11-25T16:49:56.Z",
		"2026-11-25T16:49:56.123", "2026-11-25T16:49:56.123+00:00",
		"2026-11-25 16:49:56Z", "2026-11-25t16:49:56z",
		"2026-11-25T16:49:56.1234567890Z", "2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z",
		"2026-11-31T00:00:00Z", "2026-02-29T00:00:00Z",
		"2026-11-25T24:00:00Z", "2026-11-25T16:60:00Z",
		"2026-11-25T16:49:60Z", "2026-11-25T16:49:56Z ",
		" 2026-11-25T16:49:56Z", "+026-11-25T16:49:56Z",
		"2026-1-25T16:49:56Z", "20261125T164956Z",
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		ms = 42;
		if (aml_event_parse_time(good[i].text, &ms) != 0 ||
		    ms != good[i].ms)
			fail_msg("\"%s\": got %lld", good[i].text,
				 (long long)ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (aml_event_parse_time(bad[i], &ms) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(aml_event_parse_time(NULL, &ms), -1);
}

static void test_time_round_trip(void **state)
{
	static const int64_t fixed[] = {
		0, 1, 999, 1000, -1, -999, -1000, -1001, T0,
		INT64_C(951782400000),      /* 2000-02-29 */
		INT64_C(4102444799999),     /* 2099-12-31T23:59:59.999 */
		INT64_C(-62167219200000),   /* 0000-01-01 */
		INT64_C(253402300799999),   /* 9999-12-31T23:59:59.999 */
	};
	char buf[25];
	int64_t back;
	uint64_t x = 88172645463325252u;

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++) {
		aml_event_format_time(fixed[i], buf, sizeof(buf));
		assert_int_equal(aml_event_parse_time(buf, &back), 0);
		assert_true(back == fixed[i]);
	}
	for (int i = 0; i < 2000; i++) {
		int64_t ms;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = (int64_t)(x % UINT64_C(8000000000000)) -
		     INT64_C(2000000000000);
		aml_event_format_time(ms, buf, sizeof(buf));
		assert_int_equal(strlen(buf), 24);
		if (aml_event_parse_time(buf, &back) != 0 || back != ms)
			fail_msg("%lld -> %s -> %lld", (long long)ms, buf,
				 (long long)back);
	}
	/* The no-fraction form reads back to the whole second. */
	assert_int_equal(aml_event_parse_time("2026-11-25T16:49:56Z", &back),
			 0);
	aml_event_format_time(back, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-25T16:49:56.000Z");
}

/* ---- folding ---- */

/* Appends the line for one event to a growing log. */
struct log {
	char text[16384];
	size_t len;
	unsigned next_id;
};

static void add(struct log *log, int64_t time_ms, enum aml_status status,
		enum aml_event_source source, unsigned attempt,
		uint32_t job_id, const char *node, const char *reason,
		int has_exit_code, int exit_code)
{
	struct aml_event ev;
	char id[AML_EVENT_ID_LEN + 1];
	char *line;
	size_t n;

	snprintf(id, sizeof(id), "%016x", ++log->next_id);
	make(&ev, id, time_ms, status, source, attempt);
	ev.job_id = job_id;
	assert_int_equal(aml_event_set_node(&ev, node), 0);
	assert_int_equal(aml_event_set_reason(&ev, reason), 0);
	ev.has_exit_code = has_exit_code;
	ev.exit_code = exit_code;
	line = aml_event_encode(&ev);
	assert_non_null(line);
	n = strlen(line);
	assert_true(log->len + n < sizeof(log->text));
	memcpy(log->text + log->len, line, n + 1);
	log->len += n;
	free(line);
	aml_event_free(&ev);
}

static void add_raw(struct log *log, const char *text)
{
	size_t n = strlen(text);

	assert_true(log->len + n < sizeof(log->text));
	memcpy(log->text + log->len, text, n + 1);
	log->len += n;
}

static void fold(const struct log *log, struct aml_run_state *st)
{
	aml_run_state_init(st);
	aml_run_state_fold(st, log->text, log->len);
}

/* The ordinary life of a run, from T0 (seconds after T0 in comments). */
static void realistic(struct log *log)
{
	memset(log, 0, sizeof(*log));
	/* 0 */
	add(log, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 1, 0, NULL,
	    NULL, 0, 0);
	/* 1 */
	add(log, T0 + 1000, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1, 4242,
	    NULL, NULL, 0, 0);
	/* 3 */
	add(log, T0 + 3000, AML_STATUS_PREPARING, AML_SOURCE_NODE, 1, 4242,
	    "n7", NULL, 0, 0);
	/* 10 */
	add(log, T0 + 10000, AML_STATUS_RUNNING, AML_SOURCE_LAUNCHER, 1, 4242,
	    "n7", NULL, 0, 0);
	/* 70 */
	add(log, T0 + 70000, AML_STATUS_FINALIZING, AML_SOURCE_LAUNCHER, 1,
	    4242, "n7", NULL, 1, 0);
}

static void finish(struct log *log)
{
	/* 75 */
	add(log, T0 + 75000, AML_STATUS_COMPLETED, AML_SOURCE_FINALIZER, 1,
	    4242, "n7", "The job exited with code 0 (COMPLETED)", 1, 0);
}

static void check_realistic(const struct aml_run_state *st)
{
	static const int64_t spent[AML_STATUS_COUNT] = {
		[AML_STATUS_NOT_STARTED] = 1000,
		[AML_STATUS_QUEUED] = 2000,
		[AML_STATUS_PREPARING] = 7000,
		[AML_STATUS_RUNNING] = 60000,
		[AML_STATUS_FINALIZING] = 5000,
	};

	assert_true(st->has_events);
	assert_int_equal(st->status, AML_STATUS_COMPLETED);
	assert_int_equal(st->attempt, 1);
	assert_true(st->created_ms == T0);
	assert_true(st->updated_ms == T0 + 75000);
	assert_true(st->started_ms == T0 + 10000);
	assert_true(st->ended_ms == T0 + 75000);
	for (int i = 0; i < AML_STATUS_COUNT; i++) {
		if (st->spent_ms[i] != spent[i])
			fail_msg("spent in %s: %lld, expected %lld",
				 aml_status_name((enum aml_status)i),
				 (long long)st->spent_ms[i],
				 (long long)spent[i]);
	}
	assert_int_equal(st->n_job_ids, 1);
	assert_int_equal(st->job_ids[0], 4242);
	assert_string_equal(st->nodes, "n7");
	assert_string_equal(st->reason,
			    "The job exited with code 0 (COMPLETED)");
	assert_true(st->has_exit_code);
	assert_int_equal(st->exit_code, 0);
}

static void test_fold_realistic(void **state)
{
	struct log log;
	struct aml_run_state st;

	(void)state;
	realistic(&log);
	finish(&log);
	fold(&log, &st);
	check_realistic(&st);
	assert_int_equal(st.n_skipped, 0);
	aml_run_state_free(&st);
}

static void test_fold_in_progress(void **state)
{
	struct log log;
	struct aml_run_state st;

	(void)state;
	realistic(&log);
	fold(&log, &st);
	assert_int_equal(st.status, AML_STATUS_FINALIZING);
	assert_true(st.started_ms == T0 + 10000);
	assert_true(st.ended_ms == 0);
	assert_true(st.updated_ms == T0 + 70000);
	/* The current status has no time yet: the caller adds it. */
	assert_true(st.spent_ms[AML_STATUS_FINALIZING] == 0);
	assert_null(st.reason);
	aml_run_state_free(&st);
}

static void test_fold_illegal_line_skipped(void **state)
{
	struct log log;
	struct aml_run_state st;

	(void)state;
	realistic(&log);
	finish(&log);
	/* A hand-edited line: a second, different end, refused and
	 * counted. */
	add(&log, T0 + 80000, AML_STATUS_FAILED, AML_SOURCE_USER, 1, 9,
	    "elsewhere", "forged", 1, 99);
	fold(&log, &st);
	check_realistic(&st);
	assert_int_equal(st.n_skipped, 1);
	aml_run_state_free(&st);
}

static void test_fold_duplicate_terminal_dropped(void **state)
{
	struct log log;
	struct aml_run_state st;

	(void)state;
	realistic(&log);
	finish(&log);
	/* The launcher saw the same end a moment later. */
	add(&log, T0 + 76000, AML_STATUS_COMPLETED, AML_SOURCE_LAUNCHER, 1,
	    4242, "n8", "another reason", 1, 1);
	fold(&log, &st);
	check_realistic(&st);
	assert_int_equal(st.n_skipped, 0);
	aml_run_state_free(&st);
}

static void test_fold_requeue(void **state)
{
	struct log log;
	struct aml_run_state st;

	(void)state;
	memset(&log, 0, sizeof(log));
	add(&log, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 1, 0, NULL,
	    NULL, 0, 0);
	add(&log, T0 + 1000, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1, 100,
	    NULL, NULL, 0, 0);
	add(&log, T0 + 2000, AML_STATUS_RUNNING, AML_SOURCE_LAUNCHER, 1, 100,
	    "n1", NULL, 0, 0);
	add(&log, T0 + 5000, AML_STATUS_FAILED, AML_SOURCE_CONTROLLER, 1, 100,
	    "n1", "A node of the job failed (NODE_FAIL)", 1, 1);
	add(&log, T0 + 6000, AML_STATUS_QUEUED, AML_SOURCE_CONTROLLER, 2, 101,
	    NULL, "Slurm requeued the job (REQUEUED)", 0, 0);
	/* The first node, slow, reports after the requeue: folded into its
	 * own attempt, where it changes nothing of the second. */
	add(&log, T0 + 6500, AML_STATUS_FINALIZING, AML_SOURCE_LAUNCHER, 1,
	    100, "n1", "stale", 1, 2);
	add(&log, T0 + 8000, AML_STATUS_RUNNING, AML_SOURCE_LAUNCHER, 2, 101,
	    "n2", NULL, 0, 0);
	fold(&log, &st);
	assert_int_equal(st.status, AML_STATUS_RUNNING);
	assert_int_equal(st.attempt, 2);
	assert_int_equal(st.n_skipped, 0);
	assert_true(st.started_ms == T0 + 8000);
	assert_true(st.ended_ms == 0);
	/* The first attempt's exit code does not describe this one. */
	assert_false(st.has_exit_code);
	assert_string_equal(st.reason, "Slurm requeued the job (REQUEUED)");
	aml_run_state_free(&st);

	add(&log, T0 + 20000, AML_STATUS_COMPLETED, AML_SOURCE_FINALIZER, 2,
	    101, "n2", NULL, 1, 0);
	fold(&log, &st);
	assert_int_equal(st.status, AML_STATUS_COMPLETED);
	assert_int_equal(st.attempt, 2);
	assert_true(st.created_ms == T0);
	assert_true(st.started_ms == T0 + 8000);
	assert_true(st.ended_ms == T0 + 20000);
	assert_int_equal(st.n_job_ids, 2);
	assert_int_equal(st.job_ids[0], 100);
	assert_int_equal(st.job_ids[1], 101);
	assert_string_equal(st.nodes, "n1,n2");
	/* The slow node's Finalizing (6.5 s) came after the controller's
	 * Failed (5 s) in time: time is never counted twice, so the first
	 * attempt ran until 6.5 s, and the requeue waited from there. */
	assert_true(st.spent_ms[AML_STATUS_NOT_STARTED] == 1000);
	assert_true(st.spent_ms[AML_STATUS_QUEUED] == 1000 + 1500);
	assert_true(st.spent_ms[AML_STATUS_RUNNING] == 4500 + 12000);
	assert_true(st.spent_ms[AML_STATUS_FINALIZING] == 0);
	assert_true(st.spent_ms[AML_STATUS_FAILED] == 0);
	assert_true(st.has_exit_code);
	assert_int_equal(st.exit_code, 0);
	/* The run ended without a reason: the requeue's no longer explains
	 * anything. */
	assert_null(st.reason);
	aml_run_state_free(&st);
}

static void test_fold_running_to_requeue_directly(void **state)
{
	struct log log;
	struct aml_run_state st;

	(void)state;
	memset(&log, 0, sizeof(log));
	add(&log, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 1, 0, NULL,
	    NULL, 0, 0);
	add(&log, T0 + 1000, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1, 300,
	    NULL, NULL, 0, 0);
	add(&log, T0 + 2000, AML_STATUS_RUNNING, AML_SOURCE_LAUNCHER, 1, 300,
	    "n1", NULL, 0, 0);
	add(&log, T0 + 4000, AML_STATUS_QUEUED, AML_SOURCE_CONTROLLER, 2, 301,
	    NULL, NULL, 0, 0);
	add(&log, T0 + 5000, AML_STATUS_RUNNING, AML_SOURCE_LAUNCHER, 2, 301,
	    "n2", NULL, 0, 0);
	add(&log, T0 + 9000, AML_STATUS_COMPLETED, AML_SOURCE_FINALIZER, 2, 301,
	    "n2", NULL, 1, 0);
	fold(&log, &st);
	assert_int_equal(st.status, AML_STATUS_COMPLETED);
	assert_int_equal(st.attempt, 2);
	assert_int_equal(st.n_skipped, 0);
	assert_int_equal(st.n_job_ids, 2);
	assert_int_equal(st.job_ids[0], 300);
	assert_int_equal(st.job_ids[1], 301);
	assert_string_equal(st.nodes, "n1,n2");
	assert_true(st.started_ms == T0 + 5000);
	assert_true(st.spent_ms[AML_STATUS_RUNNING] == 2000 + 4000);
	assert_true(st.spent_ms[AML_STATUS_QUEUED] == 1000 + 1000);
	aml_run_state_free(&st);
}

static void test_fold_garbage_and_torn_last_line(void **state)
{
	struct log log;
	struct aml_run_state st;
	char *line;
	struct aml_event ev;

	(void)state;
	realistic(&log);
	add_raw(&log, "this is not json\n");
	add_raw(&log, "\n   \n");  /* blank: neither event nor error */
	add_raw(&log, "{\"id\":\"00000000000000aa\"}\n");
	/* The Completed line, torn by a writer that died. */
	make(&ev, "00000000000000bb", T0 + 75000, AML_STATUS_COMPLETED,
	     AML_SOURCE_FINALIZER, 1);
	line = aml_event_encode(&ev);
	line[strlen(line) - 1] = '\0';
	add_raw(&log, line);
	free(line);
	fold(&log, &st);
	assert_int_equal(st.status, AML_STATUS_FINALIZING);
	assert_int_equal(st.n_skipped, 2);
	assert_true(st.ended_ms == 0);
	aml_run_state_free(&st);

	/* Half a line is ignored the same way. */
	aml_run_state_init(&st);
	aml_run_state_fold(&st, full_line, 40);
	assert_false(st.has_events);
	assert_int_equal(st.n_skipped, 0);
	aml_run_state_fold(&st, "", 0);
	aml_run_state_fold(&st, NULL, 0);
	assert_false(st.has_events);
	aml_run_state_free(&st);
}

static void test_apply_first_must_be_not_started(void **state)
{
	struct aml_run_state st;
	struct aml_event ev;

	(void)state;
	aml_run_state_init(&st);
	make(&ev, ID, T0, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1);
	assert_int_equal(aml_run_state_apply(&st, &ev),
			 AML_TRANSITION_ILLEGAL);
	assert_false(st.has_events);
	assert_int_equal(st.n_skipped, 1);
	make(&ev, ID, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 2);
	assert_int_equal(aml_run_state_apply(&st, &ev),
			 AML_TRANSITION_ILLEGAL);
	make(&ev, ID, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 1);
	assert_int_equal(aml_run_state_apply(&st, &ev), AML_TRANSITION_OK);
	assert_true(st.has_events);
	assert_int_equal(st.status, AML_STATUS_NOT_STARTED);
	assert_int_equal(st.attempt, 1);
	assert_true(st.created_ms == T0 && st.updated_ms == T0);
	assert_int_equal(st.n_skipped, 2);
	/* The same again is a duplicate: dropped, not counted. */
	assert_int_equal(aml_run_state_apply(&st, &ev),
			 AML_TRANSITION_DUPLICATE);
	assert_int_equal(st.n_skipped, 2);
	aml_run_state_free(&st);
}

static void test_apply_clock_going_back(void **state)
{
	struct aml_run_state st;
	struct aml_event ev;

	(void)state;
	aml_run_state_init(&st);
	make(&ev, ID, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 1);
	aml_run_state_apply(&st, &ev);
	make(&ev, ID, T0 + 5000, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1);
	aml_run_state_apply(&st, &ev);
	/* A node whose clock is behind. */
	make(&ev, ID, T0 + 2000, AML_STATUS_RUNNING, AML_SOURCE_NODE, 1);
	assert_int_equal(aml_run_state_apply(&st, &ev), AML_TRANSITION_OK);
	make(&ev, ID, T0 + 9000, AML_STATUS_COMPLETED, AML_SOURCE_FINALIZER, 1);
	assert_int_equal(aml_run_state_apply(&st, &ev), AML_TRANSITION_OK);
	for (int i = 0; i < AML_STATUS_COUNT; i++)
		assert_true(st.spent_ms[i] >= 0);
	assert_true(st.spent_ms[AML_STATUS_NOT_STARTED] == 5000);
	assert_true(st.spent_ms[AML_STATUS_QUEUED] == 0);
	assert_true(st.spent_ms[AML_STATUS_RUNNING] == 4000);
	assert_true(st.updated_ms == T0 + 9000);
	aml_run_state_free(&st);
}

static void test_apply_nodes_and_job_ids(void **state)
{
	struct aml_run_state st;
	struct aml_event ev;

	(void)state;
	aml_run_state_init(&st);
	make(&ev, ID, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 1);
	aml_run_state_apply(&st, &ev);
	/* A Slurm node list, then names already in it. */
	make(&ev, ID, T0, AML_STATUS_QUEUED, AML_SOURCE_CONTROLLER, 1);
	assert_int_equal(aml_event_set_node(&ev, "n[1,3-4],gpu2"), 0);
	aml_run_state_apply(&st, &ev);
	aml_event_free(&ev);
	make(&ev, ID, T0, AML_STATUS_RUNNING, AML_SOURCE_NODE, 1);
	assert_int_equal(aml_event_set_node(&ev, "gpu2"), 0);
	aml_run_state_apply(&st, &ev);
	aml_event_free(&ev);
	/* Each node by its own name, once. */
	assert_string_equal(st.nodes, "n1,n3,n4,gpu2");
	/* Zero-padded ranges keep their width; what is not one range of
	 * digits, or a longer one than is worth listing, stays as written. */
	make(&ev, ID, T0, AML_STATUS_FINALIZING, AML_SOURCE_NODE, 1);
	assert_int_equal(aml_event_set_node(&ev, "gpu[01-03,10],n[3],x[1-,"
					    "r[1-2]n[1-2],big[1-5000],"
					    "y[3-1]"), 0);
	aml_run_state_apply(&st, &ev);
	aml_event_free(&ev);
	assert_string_equal(st.nodes, "n1,n3,n4,gpu2,gpu01,gpu02,gpu03,gpu10,"
			    "x[1-,r[1-2]n[1-2],big[1-5000],y[3-1]");

	/* Job ids: distinct, in order, at most AML_RUN_MAX_JOBS. */
	for (unsigned a = 2; a < 2 * AML_RUN_MAX_JOBS + 10; a++) {
		make(&ev, ID, T0 + a, AML_STATUS_QUEUED, AML_SOURCE_CONTROLLER,
		     a);
		ev.job_id = 1000 + (a % 2 ? a : 2);
		assert_int_equal(aml_run_state_apply(&st, &ev),
				 AML_TRANSITION_NEW_ATTEMPT);
	}
	assert_int_equal(st.n_job_ids, AML_RUN_MAX_JOBS);
	assert_int_equal(st.job_ids[0], 1002);
	assert_int_equal(st.job_ids[1], 1003);
	assert_int_equal(st.job_ids[2], 1005);
	aml_run_state_free(&st);
	assert_null(st.nodes);
}

/* ---- one order, whatever the arrival ---- */

/* The lines of [log] in a shuffled order ([seed] picks it). */
static void shuffled(const struct log *log, unsigned seed, struct log *out)
{
	const char *lines[64];
	size_t n = 0, lens[64];

	for (const char *p = log->text; *p;) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);
		assert_true(n < 64);
		lines[n] = p;
		lens[n++] = (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	for (size_t i = n; i > 1; i--) {
		size_t j;
		const char *tl;
		size_t tn;

		seed = seed * 1103515245u + 12345u;
		j = (seed >> 16) % i;
		tl = lines[i - 1], lines[i - 1] = lines[j], lines[j] = tl;
		tn = lens[i - 1], lens[i - 1] = lens[j], lens[j] = tn;
	}
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		memcpy(out->text + out->len, lines[i], lens[i]);
		out->len += lens[i];
	}
	out->text[out->len] = '\0';
}

/* Writers on several hosts race: run history may hold a run's events in
 * any order, and every reader folds the same run from them. */
static void test_fold_same_in_any_order(void **state)
{
	struct log log, mixed;
	struct aml_run_state want, got;

	(void)state;
	realistic(&log);
	finish(&log);
	/* The launcher saw the end too, and a cancel asked meanwhile. */
	add(&log, T0 + 74000, AML_STATUS_CANCEL_REQUESTED, AML_SOURCE_USER, 1,
	    4242, NULL, "asked by alice", 0, 0);
	add(&log, T0 + 76000, AML_STATUS_COMPLETED, AML_SOURCE_LAUNCHER, 1,
	    4242, "n7", NULL, 1, 0);
	fold(&log, &want);
	assert_int_equal(want.status, AML_STATUS_COMPLETED);
	for (unsigned seed = 1; seed <= 200; seed++) {
		shuffled(&log, seed, &mixed);
		fold(&mixed, &got);
		assert_int_equal(got.status, want.status);
		assert_int_equal(got.attempt, want.attempt);
		assert_true(got.created_ms == want.created_ms);
		assert_true(got.updated_ms == want.updated_ms);
		assert_true(got.started_ms == want.started_ms);
		assert_true(got.ended_ms == want.ended_ms);
		assert_memory_equal(got.spent_ms, want.spent_ms,
				    sizeof(got.spent_ms));
		assert_string_equal(got.nodes, want.nodes);
		assert_string_equal(got.reason, want.reason);
		assert_int_equal(got.exit_code, want.exit_code);
		assert_int_equal(got.n_skipped, want.n_skipped);
		aml_run_state_free(&got);
	}
	aml_run_state_free(&want);
}

/* The timeline is the accepted events in the one order. */
static void test_run_events_in_order(void **state)
{
	struct log log;
	struct aml_run_state st;
	struct aml_event *evs;
	size_t n;

	(void)state;
	memset(&log, 0, sizeof(log));
	add(&log, T0 + 9000, AML_STATUS_FINALIZING, AML_SOURCE_LAUNCHER, 1,
	    7, "n1", NULL, 0, 0);
	add(&log, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 1, 0, NULL,
	    NULL, 0, 0);
	/* The cancel came after Finalizing began, by the clock: it is still
	 * what made the launcher finalize. */
	add(&log, T0 + 9500, AML_STATUS_CANCEL_REQUESTED, AML_SOURCE_USER, 1,
	    7, NULL, NULL, 0, 0);
	add(&log, T0 + 4000, AML_STATUS_PREPARING, AML_SOURCE_NODE, 1, 7,
	    "n1", NULL, 0, 0);
	add(&log, T0 + 5000, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1, 7, NULL,
	    NULL, 0, 0);
	add_raw(&log, "not an event\n");
	aml_run_state_init(&st);
	assert_int_equal(aml_run_events(log.text, log.len, &st, &evs, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(evs[0].status, AML_STATUS_NOT_STARTED);
	assert_int_equal(evs[1].status, AML_STATUS_QUEUED);
	assert_int_equal(evs[2].status, AML_STATUS_PREPARING);
	assert_int_equal(evs[3].status, AML_STATUS_CANCEL_REQUESTED);
	assert_int_equal(evs[4].status, AML_STATUS_FINALIZING);
	assert_int_equal(st.status, AML_STATUS_FINALIZING);
	assert_int_equal(st.n_skipped, 1);
	aml_events_free(evs, n);
	aml_run_state_free(&st);
}

/* A log holding the run's creation (NotStarted at T0) alone. */
static void created(struct log *log)
{
	memset(log, 0, sizeof(*log));
	add(log, T0, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH, 1, 0, NULL,
	    NULL, 0, 0);
}

/* admit [ev] into [log] of run "r": the verdict, with errbuf in [err]. */
static enum aml_admit admit(const struct log *log, enum aml_status status,
			    enum aml_event_source source, unsigned attempt,
			    int64_t time_ms, char *err, size_t errlen)
{
	struct aml_event ev;
	enum aml_admit a;

	make(&ev, "abcdefabcdefabcd", time_ms, status, source, attempt);
	err[0] = '\0';
	a = aml_events_admit(log->text, log->len, &ev, "r", err, errlen);
	aml_event_free(&ev);
	return a;
}

static void test_admit_takes_late_events_in_their_place(void **state)
{
	struct log log;
	char err[512];

	(void)state;
	created(&log);
	/* The node's Preparing before sbatch's Queued. */
	assert_int_equal(admit(&log, AML_STATUS_PREPARING, AML_SOURCE_NODE, 1,
			       T0 + 30, err, sizeof(err)),
			 AML_ADMIT_YES);
	add(&log, T0 + 30, AML_STATUS_PREPARING, AML_SOURCE_NODE, 1, 7, "n1",
	    NULL, 0, 0);
	assert_int_equal(admit(&log, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1,
			       T0 + 20, err, sizeof(err)),
			 AML_ADMIT_YES);
	add(&log, T0 + 20, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1, 7, NULL,
	    NULL, 0, 0);
	add(&log, T0 + 1000, AML_STATUS_RUNNING, AML_SOURCE_LAUNCHER, 1, 7,
	    "n1", NULL, 0, 0);
	/* The finalizer's Canceled, then the launcher's Finalizing from
	 * before it, replayed from a spool. */
	add(&log, T0 + 9000, AML_STATUS_CANCELED, AML_SOURCE_FINALIZER, 1, 7,
	    NULL, NULL, 0, 0);
	assert_int_equal(admit(&log, AML_STATUS_FINALIZING,
			       AML_SOURCE_LAUNCHER, 1, T0 + 8000, err,
			       sizeof(err)),
			 AML_ADMIT_YES);
	/* The same end, said earlier by the launcher: nothing new. */
	assert_int_equal(admit(&log, AML_STATUS_CANCELED, AML_SOURCE_LAUNCHER,
			       1, T0 + 8500, err, sizeof(err)),
			 AML_ADMIT_ALREADY);
	assert_int_equal(admit(&log, AML_STATUS_CANCELED, AML_SOURCE_LAUNCHER,
			       1, T0 + 9500, err, sizeof(err)),
			 AML_ADMIT_ALREADY);
}

static void test_admit_refusals(void **state)
{
	struct log log;
	char err[512];

	(void)state;
	created(&log);
	add(&log, T0 + 1000, AML_STATUS_RUNNING, AML_SOURCE_LAUNCHER, 1, 7,
	    "n1", NULL, 0, 0);
	add(&log, T0 + 5000, AML_STATUS_COMPLETED, AML_SOURCE_FINALIZER, 1, 7,
	    NULL, NULL, 1, 0);
	/* A cancel asked once the run had ended. */
	assert_int_equal(admit(&log, AML_STATUS_CANCEL_REQUESTED,
			       AML_SOURCE_USER, 1, T0 + 6000, err,
			       sizeof(err)),
			 AML_ADMIT_NO);
	assert_string_equal(err, "run history: run r: Completed -> "
			    "CancelRequested is not a valid transition (event "
			    "from user, attempt 1): the attempt had ended");
	/* Another end, later or earlier than the one recorded. */
	assert_int_equal(admit(&log, AML_STATUS_FAILED, AML_SOURCE_LAUNCHER, 1,
			       T0 + 6000, err, sizeof(err)),
			 AML_ADMIT_NO);
	assert_string_equal(err, "run history: run r: Failed from launcher "
			    "(attempt 1) contradicts Completed from "
			    "finalizer, already recorded");
	assert_int_equal(admit(&log, AML_STATUS_FAILED, AML_SOURCE_LAUNCHER, 1,
			       T0 + 4000, err, sizeof(err)),
			 AML_ADMIT_NO);
	assert_non_null(strstr(err, "contradicts Completed from finalizer"));
	/* Only a new run is NotStarted. */
	assert_int_equal(admit(&log, AML_STATUS_NOT_STARTED, AML_SOURCE_USER,
			       1, T0 + 100, err, sizeof(err)),
			 AML_ADMIT_NO);
	assert_non_null(strstr(err, "only a new run is NotStarted"));
	/* A requeue: attempt 1 is over. */
	add(&log, T0 + 7000, AML_STATUS_QUEUED, AML_SOURCE_CONTROLLER, 2, 8,
	    NULL, NULL, 0, 0);
	assert_int_equal(admit(&log, AML_STATUS_RUNNING, AML_SOURCE_LAUNCHER,
			       1, T0 + 2000, err, sizeof(err)),
			 AML_ADMIT_NO);
	assert_string_equal(err, "run history: run r: Running from launcher "
			    "belongs to attempt 1, but the run is in attempt "
			    "2; not recorded");
	/* Attempt 3 may begin with any event (its Queued may come later). */
	assert_int_equal(admit(&log, AML_STATUS_PREPARING, AML_SOURCE_NODE, 3,
			       T0 + 8000, err, sizeof(err)),
			 AML_ADMIT_YES);
	/* A run with no valid events takes none. */
	memset(&log, 0, sizeof(log));
	assert_int_equal(admit(&log, AML_STATUS_QUEUED, AML_SOURCE_SBATCH, 1,
			       T0, err, sizeof(err)),
			 AML_ADMIT_NO);
	assert_non_null(strstr(err, "has no valid events"));
}

/* ---- finding an id ---- */

static void test_contain_id(void **state)
{
	struct log log;
	const char *trap = "00000000000000ff";
	char reason[128];

	(void)state;
	realistic(&log);
	/* A reason quoting an id as a key would appear. */
	snprintf(reason, sizeof(reason), "see {\"id\":\"%s\"} and %s", trap,
		 trap);
	add(&log, T0 + 71000, AML_STATUS_CANCEL_REQUESTED, AML_SOURCE_USER, 1,
	    0, trap, reason, 0, 0);
	assert_non_null(strstr(log.text, trap));

	assert_true(aml_events_contain_id(log.text, log.len,
					  "0000000000000001"));
	assert_true(aml_events_contain_id(log.text, log.len,
					  "0000000000000006"));
	assert_false(aml_events_contain_id(log.text, log.len, trap));
	assert_false(aml_events_contain_id(log.text, log.len,
					   "0000000000000007"));
	/* Exact: not a prefix, not another case, not a bad id. */
	assert_false(aml_events_contain_id(log.text, log.len,
					   "000000000000000"));
	assert_false(aml_events_contain_id(log.text, log.len,
					   "1000000000000000"));
	assert_false(aml_events_contain_id(full_line, strlen(full_line),
					   "0123456789ABCDEF"));
	assert_true(aml_events_contain_id(full_line, strlen(full_line), ID));
	assert_false(aml_events_contain_id(log.text, log.len, ""));
	assert_false(aml_events_contain_id(log.text, log.len, NULL));
	assert_false(aml_events_contain_id(NULL, 0, ID));
	/* A torn last line is not in the log. */
	assert_false(aml_events_contain_id(full_line, strlen(full_line) - 1,
					   ID));
	/* Only the id matters: a line the fold would refuse still holds
	 * the event. */
	{
		static const char later[] =
			"{\"id\":\"0123456789abcdef\",\"status\":\"Later\"}\n";

		assert_true(aml_events_contain_id(later, strlen(later), ID));
	}
	/* Nor an "id" nested in another key's value. */
	{
		static const char nested[] =
			"{\"future\":{\"id\":\"00000000000000ee\"},"
			"\"id\":\"0123456789abcdef\",\"time\":"
			"\"2026-11-25T16:49:56Z\",\"status\":\"Queued\","
			"\"source\":\"sbatch\",\"attempt\":1}\n";

		assert_false(aml_events_contain_id(nested, strlen(nested),
						   "00000000000000ee"));
		assert_true(aml_events_contain_id(nested, strlen(nested), ID));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_names),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_encode_known_line),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_round_trip_all_fields),
		cmocka_unit_test(test_round_trip_required_only),
		cmocka_unit_test(test_decode_known_line),
		cmocka_unit_test(test_decode_missing_required),
		cmocka_unit_test(test_decode_bad_values),
		cmocka_unit_test(test_decode_edges_accepted),
		cmocka_unit_test(test_decode_unknown_keys_ignored),
		cmocka_unit_test(test_decode_not_an_object),
		cmocka_unit_test(test_reason_sanitised),
		cmocka_unit_test(test_reason_cut_at_max),
		cmocka_unit_test(test_node_cut_at_max),
		cmocka_unit_test(test_encode_never_exceeds_line_max),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_time_round_trip),
		cmocka_unit_test(test_fold_realistic),
		cmocka_unit_test(test_fold_in_progress),
		cmocka_unit_test(test_fold_illegal_line_skipped),
		cmocka_unit_test(test_fold_duplicate_terminal_dropped),
		cmocka_unit_test(test_fold_requeue),
		cmocka_unit_test(test_fold_running_to_requeue_directly),
		cmocka_unit_test(test_fold_garbage_and_torn_last_line),
		cmocka_unit_test(test_apply_first_must_be_not_started),
		cmocka_unit_test(test_apply_clock_going_back),
		cmocka_unit_test(test_apply_nodes_and_job_ids),
		cmocka_unit_test(test_fold_same_in_any_order),
		cmocka_unit_test(test_run_events_in_order),
		cmocka_unit_test(test_admit_takes_late_events_in_their_place),
		cmocka_unit_test(test_admit_refusals),
		cmocka_unit_test(test_contain_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
