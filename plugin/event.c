/*
 * event.c: status events, their JSON lines and the state folded from them
 * (contract in event.h).
 *
 * Where the contract is silent:
 *   - Reasons and nodes are made valid UTF-8 as well as free of control
 *     characters (a byte that is not UTF-8 becomes '?', a C1 control a
 *     space): events.jsonl is read by other tools, and a strict JSON
 *     reader refuses a file that is not UTF-8.  An empty reason or node
 *     is the same as none, and is never written.
 *   - A node is cut without "...": it is a name, not prose.
 *   - aml_event_decode() passes node and reason through the same setters,
 *     so a hand-edited line cannot bring in what a writer could not.  A
 *     JSON null for an optional key is the same as the key missing.
 *     Whitespace after the object is allowed (a CRLF file).
 *   - The encoder also cuts a node set directly in the struct, after the
 *     reason, so its promise of AML_EVENT_LINE_MAX holds for any event.
 *   - Times are clamped to years 0000-9999 so the text is always 24
 *     characters; parsing accepts 1 to 9 digits of fraction (a Python
 *     writer has 6), keeping milliseconds, and only "Z".
 *   - updated_ms never goes back: an event stamped earlier than the one
 *     before it (two nodes' clocks) adds nothing to spent_ms, so the sum
 *     of spent_ms is always updated_ms - created_ms.
 *   - A node field holding a Slurm node list ("n1,n[3-4]") is split on
 *     its top-level commas, so each node is listed once.
 *   - Blank lines in a log are neither events nor counted as skipped.
 *   - aml_events_contain_id() looks at complete lines only, like the
 *     fold, and at their "id" alone: a line with that id but otherwise
 *     unreadable still holds that event, and appending it again would not
 *     make it readable.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm, memmem */
#endif
#include "event.h"
#include "errors.h"
#include "random.h"
#include "text.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const source_names[AML_SOURCE_COUNT] = {
	[AML_SOURCE_SBATCH] = "sbatch",
	[AML_SOURCE_CONTROLLER] = "controller",
	[AML_SOURCE_NODE] = "node",
	[AML_SOURCE_LAUNCHER] = "launcher",
	[AML_SOURCE_FINALIZER] = "finalizer",
	[AML_SOURCE_USER] = "user",
	[AML_SOURCE_RECONCILE] = "reconcile",
};

const char *aml_event_source_name(enum aml_event_source source)
{
	return (unsigned)source < AML_SOURCE_COUNT ? source_names[source] :
						     "unknown";
}

int aml_event_source_parse(const char *name, enum aml_event_source *source)
{
	if (!name)
		return -1;
	for (int i = 0; i < AML_SOURCE_COUNT; i++) {
		if (aml_ascii_ieq(name, source_names[i])) {
			if (source)
				*source = (enum aml_event_source)i;
			return 0;
		}
	}
	return -1;
}

/*
 * [s] made one line of valid UTF-8 and cut to [max] bytes, ending with
 * "..." when [ellipsis] and it was cut; malloc'd, NULL when memory runs
 * out.  "" comes back as "" for the caller to treat as none.
 */
static char *sanitise(const char *s, size_t max, int ellipsis)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), out_len = 0, cut;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t len = aml_utf8_length(p + i, n - i);

		if (len == 0) {
			out[out_len++] = '?';
			i++;
		} else if (len == 1) {
			out[out_len++] = (p[i] < 0x20 || p[i] == 0x7f) ?
				' ' : (char)p[i];
			i++;
		} else if (len == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
			/* U+0080-U+009F: C1 controls, one space for two
			 * bytes. */
			out[out_len++] = ' ';
			i += 2;
		} else {
			memcpy(out + out_len, p + i, len);
			out_len += len;
			i += len;
		}
	}
	out[out_len] = '\0';
	if (out_len <= max)
		return out;
	cut = ellipsis ? max - 3 : max;
	/* The output is valid UTF-8, so backing over continuation bytes
	 * lands on the start of the character that would be split. */
	while (cut > 0 && ((unsigned char)out[cut] & 0xc0) == 0x80)
		cut--;
	if (ellipsis) {
		memcpy(out + cut, "...", 4);
	} else {
		out[cut] = '\0';
	}
	return out;
}

static int set_text(char **field, const char *value, size_t max,
		    int ellipsis)
{
	char *copy = NULL;

	if (value && value[0]) {
		copy = sanitise(value, max, ellipsis);
		if (!copy)
			return -1;
		if (!copy[0]) {
			free(copy);
			copy = NULL;
		}
	}
	free(*field);
	*field = copy;
	return 0;
}

int aml_event_set_reason(struct aml_event *ev, const char *reason)
{
	return set_text(&ev->reason, reason, AML_EVENT_REASON_MAX, 1);
}

int aml_event_set_node(struct aml_event *ev, const char *node)
{
	return set_text(&ev->node, node, AML_EVENT_NODE_MAX, 0);
}

/* ---- time ---- */

#define MS_MIN INT64_C(-62167219200000)  /* 0000-01-01T00:00:00.000Z */
#define MS_MAX INT64_C(253402300799999)  /* 9999-12-31T23:59:59.999Z */

void aml_event_format_time(int64_t time_ms, char *buf, size_t len)
{
	struct tm tm;
	time_t sec;
	int64_t ms;

	if (!buf || len == 0)
		return;
	if (time_ms < MS_MIN)
		time_ms = MS_MIN;
	if (time_ms > MS_MAX)
		time_ms = MS_MAX;
	ms = time_ms % 1000;
	sec = (time_t)(time_ms / 1000);
	if (ms < 0) {
		ms += 1000;
		sec--;
	}
	if (!gmtime_r(&sec, &tm)) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)ms);
}

/* Exactly [n] digits at [*p]; advances past them. */
static int digits(const char **p, int n, int *value)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*value = v;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

int aml_event_parse_time(const char *text, int64_t *time_ms)
{
	const char *p = text;
	int year, mon, day, hour, min, sec, ms = 0;
	struct tm tm, back;
	time_t t;

	if (!text)
		return -1;
	if (digits(&p, 4, &year) || expect(&p, '-') || digits(&p, 2, &mon) ||
	    expect(&p, '-') || digits(&p, 2, &day) || expect(&p, 'T') ||
	    digits(&p, 2, &hour) || expect(&p, ':') || digits(&p, 2, &min) ||
	    expect(&p, ':') || digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			if (n < 3)
				ms = ms * 10 + (*p - '0');
		}
		if (n == 0 || n > 9)
			return -1;
		for (; n < 3; n++)
			ms *= 10;
	}
	if (expect(&p, 'Z') || *p != '\0')
		return -1;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 ||
	    min > 59 || sec > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm rolls February 30 over into March; a round trip that does
	 * not come back to the same day shows the date did not exist. */
	if (!gmtime_r(&t, &back) || back.tm_mday != day ||
	    back.tm_mon != mon - 1)
		return -1;
	if (time_ms)
		*time_ms = (int64_t)t * 1000 + ms;
	return 0;
}

/* ---- one event ---- */

int aml_event_init(struct aml_event *ev, enum aml_status status,
		   enum aml_event_source source)
{
	struct timespec now;
	uint64_t bits;

	memset(ev, 0, sizeof(*ev));
	ev->status = status;
	ev->source = source;
	ev->attempt = 1;
	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return -1;
	if (aml_random(&bits, sizeof(bits)) < 0)
		return -1;
	snprintf(ev->id, sizeof(ev->id), "%016" PRIx64, bits);
	ev->time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	return 0;
}

void aml_event_free(struct aml_event *ev)
{
	if (!ev)
		return;
	free(ev->node);
	free(ev->reason);
	ev->node = NULL;
	ev->reason = NULL;
}

/* ---- encoding ---- */

/*
 * The JSON form of the character at [p] ([n] bytes left): points [*piece]
 * at it (in [esc] when escaped), returns its length and sets [*used] to
 * the bytes of [p] it stands for.  Bytes that are not UTF-8 become \ufffd
 * so a line stays valid whatever the struct held.
 */
static size_t json_char(const unsigned char *p, size_t n, char esc[8],
			const char **piece, size_t *used)
{
	size_t len = aml_utf8_length(p, n);

	*piece = esc;
	*used = len ? len : 1;
	if (len == 0) {
		*piece = "\\ufffd";
		return 6;
	}
	if (p[0] == '"' || p[0] == '\\') {
		esc[0] = '\\';
		esc[1] = (char)p[0];
		return 2;
	}
	if (p[0] < 0x20)
		return (size_t)snprintf(esc, 8, "\\u%04x", p[0]);
	*piece = (const char *)p;
	return len;
}

/*
 * Append [s] as the inside of a JSON string in at most [max] bytes, never
 * half a character or escape; with [ellipsis] a cut string ends with "..."
 * within [max].  Returns the bytes written.
 */
static size_t put_json_chars(struct aml_text *t, const char *s, size_t max,
			     int ellipsis)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), total = 0, limit, w = 0, i, used, plen;
	const char *piece;
	char esc[8];

	for (i = 0; i < n && total <= max; i += used)
		total += json_char(p + i, n - i, esc, &piece, &used);
	if (total <= max) {
		limit = max;
		ellipsis = 0;
	} else if (ellipsis) {
		if (max < 3)
			return 0;
		limit = max - 3;
	} else {
		limit = max;
	}
	for (i = 0; i < n; i += used) {
		plen = json_char(p + i, n - i, esc, &piece, &used);
		if (w + plen > limit)
			break;
		aml_text_add(t, piece, plen);
		w += plen;
	}
	if (ellipsis) {
		aml_text_add(t, "...", 3);
		w += 3;
	}
	return w;
}

static void put_key_string(struct aml_text *t, const char *key,
			   const char *value)
{
	aml_text_str(t, ",\"");
	aml_text_str(t, key);
	aml_text_str(t, "\":\"");
	put_json_chars(t, value, SIZE_MAX, 0);
	aml_text_str(t, "\"");
}

char *aml_event_encode(const struct aml_event *ev)
{
	struct aml_text t = AML_TEXT_INIT;
	char when[32], num[48], tail[48], id[AML_EVENT_ID_LEN + 1];
	const char *node = ev->node && ev->node[0] ? ev->node : NULL;
	const char *reason = ev->reason && ev->reason[0] ? ev->reason : NULL;
	size_t fixed, avail, used;

	memcpy(id, ev->id, AML_EVENT_ID_LEN);
	id[AML_EVENT_ID_LEN] = '\0';
	aml_event_format_time(ev->time_ms, when, sizeof(when));
	aml_text_str(&t, "{\"id\":\"");
	put_json_chars(&t, id, SIZE_MAX, 0);
	aml_text_str(&t, "\"");
	put_key_string(&t, "time", when);
	put_key_string(&t, "status", aml_status_name(ev->status));
	put_key_string(&t, "source", aml_event_source_name(ev->source));
	snprintf(num, sizeof(num), ",\"attempt\":%u", ev->attempt);
	aml_text_str(&t, num);
	if (ev->job_id) {
		snprintf(num, sizeof(num), ",\"job_id\":%" PRIu32, ev->job_id);
		aml_text_str(&t, num);
	}
	if (ev->has_exit_code)
		snprintf(tail, sizeof(tail), ",\"exit_code\":%d}\n",
			 ev->exit_code);
	else
		snprintf(tail, sizeof(tail), "}\n");

	/* Everything but the two free texts is short and bounded; they share
	 * what is left, the node first, so the reason is what gets cut. */
	fixed = t.len + strlen(tail) +
		(node ? strlen(",\"node\":\"\"") : 0) +
		(reason ? strlen(",\"reason\":\"\"") : 0);
	avail = fixed < AML_EVENT_LINE_MAX ? AML_EVENT_LINE_MAX - fixed : 0;
	if (node) {
		aml_text_str(&t, ",\"node\":\"");
		used = put_json_chars(&t, node, avail, 0);
		aml_text_str(&t, "\"");
		avail -= used;
	}
	if (reason && avail >= 3) {
		aml_text_str(&t, ",\"reason\":\"");
		put_json_chars(&t, reason, avail, 1);
		aml_text_str(&t, "\"");
	}
	aml_text_str(&t, tail);
	return aml_text_finish(&t);
}

/* ---- decoding ---- */

/* [item] as a short JSON text for a message. */
static void show(const cJSON *item, char *buf, size_t len)
{
	char *text = cJSON_PrintUnformatted(item);

	aml_text_escape(text ? text : "?", buf, len);
	free(text);
}

/* [item] as a whole number in [lo, hi]. */
static int whole_number(const cJSON *item, double lo, double hi,
			long long *value)
{
	double d;

	if (!cJSON_IsNumber(item))
		return -1;
	d = item->valuedouble;
	/* Written so that NaN fails too. */
	if (!(d >= lo && d <= hi) || (double)(long long)d != d)
		return -1;
	*value = (long long)d;
	return 0;
}

/* The member [key] of [obj], or NULL when absent or null. */
static const cJSON *member(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNull(item) ? NULL : item;
}

static int is_event_id(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	}
	return n == AML_EVENT_ID_LEN;
}

/* Parse the JSON object a line holds, or NULL; only whitespace may
 * follow it. */
static cJSON *parse_line(const char *line, size_t len)
{
	const char *end = NULL;
	cJSON *root;

	root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!root)
		return NULL;
	for (; end && end < line + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
			cJSON_Delete(root);
			return NULL;
		}
	}
	return root;
}

static int decode_fields(const cJSON *root, struct aml_event *ev,
			 char *errbuf, size_t errlen)
{
	const cJSON *item;
	char shown[96];
	long long v;

	if (!cJSON_IsObject(root))
		return aml_fail(errbuf, errlen,
				"event line: must be a JSON object");

#define REQUIRED(key)                                                        \
	do {                                                                 \
		item = member(root, key);                                    \
		if (!item)                                                   \
			return aml_fail(errbuf, errlen,                      \
					"event line: " key ": is missing");  \
		show(item, shown, sizeof(shown));                            \
	} while (0)

	REQUIRED("id");
	if (!cJSON_IsString(item) || !is_event_id(item->valuestring))
		return aml_fail(errbuf, errlen,
				"event line: id: must be %d lowercase hex "
				"digits, got %s", AML_EVENT_ID_LEN, shown);
	memcpy(ev->id, item->valuestring, AML_EVENT_ID_LEN + 1);

	REQUIRED("time");
	if (!cJSON_IsString(item) ||
	    aml_event_parse_time(item->valuestring, &ev->time_ms) < 0)
		return aml_fail(errbuf, errlen,
				"event line: time: must be a UTC time such as "
				"2026-11-25T16:49:56.123Z, got %s", shown);

	REQUIRED("status");
	if (!cJSON_IsString(item) ||
	    aml_status_parse(item->valuestring, &ev->status) < 0)
		return aml_fail(errbuf, errlen,
				"event line: status: must be a run status "
				"such as Running, got %s", shown);

	REQUIRED("source");
	if (!cJSON_IsString(item) ||
	    aml_event_source_parse(item->valuestring, &ev->source) < 0)
		return aml_fail(errbuf, errlen,
				"event line: source: must be one of sbatch, "
				"controller, node, launcher, finalizer, user "
				"or reconcile, got %s", shown);

	REQUIRED("attempt");
	if (whole_number(item, 1, UINT_MAX, &v) < 0)
		return aml_fail(errbuf, errlen,
				"event line: attempt: must be a whole number "
				"from 1, got %s", shown);
	ev->attempt = (unsigned)v;
#undef REQUIRED

	item = member(root, "job_id");
	if (item) {
		show(item, shown, sizeof(shown));
		if (whole_number(item, 0, UINT32_MAX, &v) < 0)
			return aml_fail(errbuf, errlen,
					"event line: job_id: must be a whole "
					"number from 0 to %" PRIu32 ", got %s",
					UINT32_MAX, shown);
		ev->job_id = (uint32_t)v;
	}
	item = member(root, "exit_code");
	if (item) {
		show(item, shown, sizeof(shown));
		if (whole_number(item, -255, 255, &v) < 0)
			return aml_fail(errbuf, errlen,
					"event line: exit_code: must be a "
					"whole number from -255 to 255, got %s",
					shown);
		ev->has_exit_code = 1;
		ev->exit_code = (int)v;
	}
	item = member(root, "node");
	if (item) {
		show(item, shown, sizeof(shown));
		if (!cJSON_IsString(item))
			return aml_fail(errbuf, errlen,
					"event line: node: must be a string, "
					"got %s", shown);
		if (aml_event_set_node(ev, item->valuestring) < 0)
			return aml_fail(errbuf, errlen,
					"event line: out of memory");
	}
	item = member(root, "reason");
	if (item) {
		show(item, shown, sizeof(shown));
		if (!cJSON_IsString(item))
			return aml_fail(errbuf, errlen,
					"event line: reason: must be a string, "
					"got %s", shown);
		if (aml_event_set_reason(ev, item->valuestring) < 0)
			return aml_fail(errbuf, errlen,
					"event line: out of memory");
	}
	return 0;
}

int aml_event_decode(const char *line, size_t len, struct aml_event *ev,
		     char *errbuf, size_t errlen)
{
	cJSON *root;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (!line)
		return aml_fail(errbuf, errlen, "event line: is missing");
	root = parse_line(line, len);
	if (!root)
		return aml_fail(errbuf, errlen,
				"event line: is not one JSON object");
	rc = decode_fields(root, ev, errbuf, errlen);
	cJSON_Delete(root);
	if (rc < 0) {
		aml_event_free(ev);
		memset(ev, 0, sizeof(*ev));
	}
	return rc;
}

/* ---- the state of a run ---- */

void aml_run_state_init(struct aml_run_state *st)
{
	memset(st, 0, sizeof(*st));
	st->status = AML_STATUS_NOT_STARTED;
}

void aml_run_state_free(struct aml_run_state *st)
{
	if (!st)
		return;
	free(st->nodes);
	free(st->reason);
	aml_run_state_init(st);
}

/* The length of the first name of the node list at [p]: up to a comma
 * outside brackets, since Slurm writes ranges as "n[1,3-4]". */
static size_t first_node(const char *p)
{
	int depth = 0;
	size_t n;

	for (n = 0; p[n]; n++) {
		if (p[n] == '[')
			depth++;
		else if (p[n] == ']' && depth > 0)
			depth--;
		else if (p[n] == ',' && depth == 0)
			break;
	}
	return n;
}

/* Whether the node list [list] holds [name] ([n] bytes). */
static int list_has(const char *list, const char *name, size_t n)
{
	const char *p = list;

	while (p && *p) {
		size_t len = first_node(p);

		if (len == n && memcmp(p, name, n) == 0)
			return 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

static void note_one_node(struct aml_run_state *st, const char *name,
			  size_t n)
{
	size_t old = st->nodes ? strlen(st->nodes) : 0;
	char *grown;

	while (n > 0 && *name == ' ') {
		name++;
		n--;
	}
	while (n > 0 && name[n - 1] == ' ')
		n--;
	if (n == 0 || list_has(st->nodes, name, n))
		return;
	grown = realloc(st->nodes, old + (old ? 1 : 0) + n + 1);
	if (!grown)
		return;
	if (old)
		grown[old++] = ',';
	memcpy(grown + old, name, n);
	grown[old + n] = '\0';
	st->nodes = grown;
}

/* The most names one range of a node list is expanded into; a longer
 * one is listed as written. */
#define RANGE_MAX 1024

/* One bound of a range, digits only: its value and width (the width of
 * a zero-padded bound, "01", else 0).  Returns the digits read, 0 if
 * none or too many. */
static size_t range_bound(const char *p, size_t n, unsigned long *v,
			  int *width)
{
	size_t i = 0;

	*v = 0;
	while (i < n && p[i] >= '0' && p[i] <= '9' && i < 9)
		*v = *v * 10 + (unsigned long)(p[i++] - '0');
	if (i == 0 || (i < n && p[i] >= '0' && p[i] <= '9'))
		return 0;
	*width = i > 1 && p[0] == '0' ? (int)i : 0;
	return i;
}

/* Each name of the one-bracket range at [name] ([n] bytes,
 * "prefix[1,3-4]suffix"), with [note]; 0, or -1 when it is not such a
 * range (or longer than RANGE_MAX), then nothing was noted. */
static int each_in_range(struct aml_run_state *st, const char *name, size_t n,
			 int note)
{
	const char *lb = memchr(name, '[', n), *rb, *p, *end;
	size_t total = 0;

	if (!lb || !(rb = memchr(lb, ']', n - (size_t)(lb - name))) ||
	    memchr(rb, '[', n - (size_t)(rb - name)))
		return -1;
	for (p = lb + 1, end = rb; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t len = (size_t)((comma ? comma : end) - p), used;
		unsigned long lo, hi;
		int wlo, whi;

		used = range_bound(p, len, &lo, &wlo);
		hi = lo;
		whi = wlo;
		if (used && used < len) {
			if (p[used] != '-' ||
			    range_bound(p + used + 1, len - used - 1, &hi,
					&whi) != len - used - 1 ||
			    hi < lo)
				return -1;
		} else if (!used) {
			return -1;
		}
		total += hi - lo + 1;
		if (total > RANGE_MAX)
			return -1;
		for (unsigned long v = lo; note && v <= hi; v++) {
			char one[AML_EVENT_NODE_MAX + 24];
			int k = snprintf(one, sizeof(one), "%.*s%0*lu%.*s",
					 (int)(lb - name), name, wlo, v,
					 (int)(n - (size_t)(rb + 1 - name)),
					 rb + 1);

			if (k > 0 && (size_t)k < sizeof(one))
				note_one_node(st, one, (size_t)k);
		}
		p += len + (comma ? 1 : 0);
	}
	return 0;
}

/* An event may name the job's whole node list, in Slurm's ranges
 * ("n[1-2]"): each node is listed once, by its own name. */
static void note_nodes(struct aml_run_state *st, const char *node)
{
	const char *p = node;

	while (*p) {
		size_t len = first_node(p);

		if (each_in_range(st, p, len, 0) == 0)
			each_in_range(st, p, len, 1);
		else
			note_one_node(st, p, len);
		p += len;
		if (*p == ',')
			p++;
	}
}

static void note_job_id(struct aml_run_state *st, uint32_t job_id)
{
	if (job_id == 0)
		return;
	for (size_t i = 0; i < st->n_job_ids; i++) {
		if (st->job_ids[i] == job_id)
			return;
	}
	if (st->n_job_ids < AML_RUN_MAX_JOBS)
		st->job_ids[st->n_job_ids++] = job_id;
}

enum aml_transition aml_run_state_apply(struct aml_run_state *st,
					const struct aml_event *ev)
{
	enum aml_transition verdict;

	verdict = st->has_events ?
		aml_status_check(st->status, st->attempt, ev->status,
				 ev->attempt) :
		aml_status_check_first(ev->status, ev->attempt);
	switch (verdict) {
	case AML_TRANSITION_OK:
	case AML_TRANSITION_NEW_ATTEMPT:
		break;
	case AML_TRANSITION_DUPLICATE:
		return verdict;
	case AML_TRANSITION_STALE:
	case AML_TRANSITION_ILLEGAL:
	default:
		st->n_skipped++;
		return verdict;
	}

	if (!st->has_events) {
		st->has_events = 1;
		st->created_ms = ev->time_ms;
		st->updated_ms = ev->time_ms;
	} else if (ev->time_ms > st->updated_ms) {
		st->spent_ms[st->status] += ev->time_ms - st->updated_ms;
		st->updated_ms = ev->time_ms;
	}
	if (verdict == AML_TRANSITION_NEW_ATTEMPT) {
		st->started_ms = 0;
		st->ended_ms = 0;
		st->has_exit_code = 0;
		st->exit_code = 0;
	}
	st->status = ev->status;
	st->attempt = ev->attempt;
	if (ev->status == AML_STATUS_RUNNING && st->started_ms == 0)
		st->started_ms = ev->time_ms;
	if (aml_status_is_terminal(ev->status))
		st->ended_ms = ev->time_ms;
	note_job_id(st, ev->job_id);
	if (ev->node && ev->node[0])
		note_nodes(st, ev->node);
	if (ev->reason && ev->reason[0]) {
		/* Without memory, no reason beats the previous one, which
		 * would describe an older event as if it were this one. */
		free(st->reason);
		st->reason = strdup(ev->reason);
	} else if (aml_status_is_terminal(ev->status)) {
		/* An end without a reason is a plain end; a reason from
		 * before it (a requeue, a cancel request) would explain the
		 * wrong thing. */
		free(st->reason);
		st->reason = NULL;
	}
	if (ev->has_exit_code) {
		st->has_exit_code = 1;
		st->exit_code = ev->exit_code;
	}
	return verdict;
}

static int is_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	}
	return 1;
}

/* Whether the machine took an event it judged [verdict]. */
static int accepted(unsigned char verdict)
{
	return verdict == AML_TRANSITION_OK ||
	       verdict == AML_TRANSITION_NEW_ATTEMPT;
}

int aml_event_order(const void *a, const void *b)
{
	const struct aml_event *x = a, *y = b;
	unsigned px = aml_status_phase(x->status);
	unsigned py = aml_status_phase(y->status);

	if (x->attempt != y->attempt)
		return x->attempt < y->attempt ? -1 : 1;
	if (px != py)
		return px < py ? -1 : 1;
	if (x->time_ms != y->time_ms)
		return x->time_ms < y->time_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

void aml_events_free(struct aml_event *events, size_t n)
{
	for (size_t i = 0; events && i < n; i++)
		aml_event_free(&events[i]);
	free(events);
}

int aml_events_parse(const char *text, size_t len, struct aml_event **events,
		     size_t *n, size_t *n_bad)
{
	const char *p = text, *end = text ? text + len : NULL;
	struct aml_event *all = NULL;
	size_t count = 0, cap = 0;

	*events = NULL;
	*n = 0;
	*n_bad = 0;
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t line_len;

		if (!nl)
			break;
		line_len = (size_t)(nl - p);
		if (!is_blank(p, line_len)) {
			if (count == cap) {
				size_t grown = cap ? cap * 2 : 16;
				struct aml_event *more =
					realloc(all, grown * sizeof(*all));

				if (!more) {
					aml_events_free(all, count);
					return -1;
				}
				all = more;
				cap = grown;
			}
			if (aml_event_decode(p, line_len, &all[count], NULL,
					     0) < 0)
				(*n_bad)++;
			else
				count++;
		}
		p = nl + 1;
	}
	if (count)
		qsort(all, count, sizeof(*all), aml_event_order);
	*events = all;
	*n = count;
	return 0;
}

void aml_run_state_fold_events(struct aml_run_state *st,
			       struct aml_event *events, size_t *n)
{
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++) {
		if (accepted(aml_run_state_apply(st, &events[i])))
			events[kept++] = events[i];
		else
			aml_event_free(&events[i]);
	}
	*n = kept;
}

int aml_run_events(const char *text, size_t len, struct aml_run_state *st,
		   struct aml_event **events, size_t *n)
{
	size_t bad;

	if (aml_events_parse(text, len, events, n, &bad) < 0)
		return -1;
	st->n_skipped += bad;
	aml_run_state_fold_events(st, *events, n);
	return 0;
}

/* Without memory for the whole log: its lines as they come, which is the
 * order a single writer under a lock wrote them in. */
static void fold_as_written(struct aml_run_state *st, const char *text,
			    size_t len)
{
	const char *p = text, *end = text ? text + len : NULL;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct aml_event ev;
		size_t n;

		if (!nl)
			break;
		n = (size_t)(nl - p);
		if (!is_blank(p, n)) {
			if (aml_event_decode(p, n, &ev, NULL, 0) < 0) {
				st->n_skipped++;
			} else {
				aml_run_state_apply(st, &ev);
				aml_event_free(&ev);
			}
		}
		p = nl + 1;
	}
}

void aml_run_state_fold(struct aml_run_state *st, const char *text,
			size_t len)
{
	struct aml_event *events;
	size_t n;

	if (aml_run_events(text, len, st, &events, &n) < 0) {
		fold_as_written(st, text, len);
		return;
	}
	aml_events_free(events, n);
}

int aml_events_contain_id(const char *text, size_t len, const char *id)
{
	const char *p = text, *end = text ? text + len : NULL;
	size_t id_len;

	if (!text || !id || !is_event_id(id))
		return 0;
	id_len = strlen(id);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const cJSON *item;
		cJSON *root;
		size_t n;
		int found;

		if (!nl)
			break;
		n = (size_t)(nl - p);
		/* Parsing only lines that hold the digits somewhere keeps a
		 * long log cheap to search. */
		if (memmem(p, n, id, id_len)) {
			root = parse_line(p, n);
			item = cJSON_GetObjectItemCaseSensitive(root, "id");
			found = cJSON_IsString(item) &&
				strcmp(item->valuestring, id) == 0;
			cJSON_Delete(root);
			if (found)
				return 1;
		}
		p = nl + 1;
	}
	return 0;
}

/* Apply [events] from [from] up to [to] to [st], keeping each one's
 * verdict (an enum aml_transition) at its index in [verdict]. */
static void fold_noting(struct aml_run_state *st,
			const struct aml_event *events, size_t from, size_t to,
			unsigned char *verdict)
{
	for (size_t i = from; i < to; i++)
		verdict[i] = (unsigned char)aml_run_state_apply(st, &events[i]);
}

/* The accepted end of [attempt] in [events], or NULL. */
static const struct aml_event *end_of_attempt(const struct aml_event *events,
					      const unsigned char *verdict,
					      size_t n, unsigned attempt)
{
	for (size_t i = 0; i < n; i++)
		if (accepted(verdict[i]) && events[i].attempt == attempt &&
		    aml_status_is_terminal(events[i].status))
			return &events[i];
	return NULL;
}

static void contradicts(const char *run_id, const struct aml_event *ev,
			const struct aml_event *was, char *errbuf,
			size_t errlen)
{
	aml_fail(errbuf, errlen, "run history: run %s: %s from %s (attempt "
		 "%u) contradicts %s from %s, already recorded", run_id,
		 aml_status_name(ev->status),
		 aml_event_source_name(ev->source), ev->attempt,
		 aml_status_name(was->status),
		 aml_event_source_name(was->source));
}

static enum aml_admit judge(const struct aml_event *all, size_t n,
			    const struct aml_event *ev, const char *run_id,
			    char *errbuf, size_t errlen)
{
	struct aml_event *with = malloc((n + 1) * sizeof(*with));
	unsigned char *old_v = malloc(n + 1), *new_v = malloc(n + 1);
	struct aml_run_state st;
	enum aml_status before, now;
	unsigned latest;
	int before_any, ever;
	enum aml_admit admit = AML_ADMIT_YES;
	const struct aml_event *end;
	size_t at = 0;

	if (!with || !old_v || !new_v) {
		free(with);
		free(old_v);
		free(new_v);
		aml_fail(errbuf, errlen, "run history: run %s: out of memory "
			 "judging %s", run_id, aml_status_name(ev->status));
		return AML_ADMIT_NO;
	}
	while (at < n && aml_event_order(&all[at], ev) < 0)
		at++;
	if (at)
		memcpy(with, all, at * sizeof(*with));
	with[at] = *ev;
	if (n > at)
		memcpy(with + at + 1, all + at, (n - at) * sizeof(*with));

	/* The run as it is, then with [ev] in its place (and what the run
	 * was just before it, to say why it is refused). */
	aml_run_state_init(&st);
	fold_noting(&st, all, 0, n, old_v);
	now = st.status;
	ever = st.has_events;
	latest = st.attempt;
	aml_run_state_free(&st);
	aml_run_state_init(&st);
	fold_noting(&st, with, 0, at, new_v);
	before = st.status;
	before_any = st.has_events;
	fold_noting(&st, with, at, n + 1, new_v);
	aml_run_state_free(&st);

	end = end_of_attempt(all, old_v, n, ev->attempt);
	/* An attempt Slurm has replaced is over: its launcher must not
	 * start the script (it is refused Running), and what a slow node
	 * says of it changes nothing. */
	if (ever && ev->attempt < latest) {
		aml_fail(errbuf, errlen, "run history: run %s: %s from %s "
			 "belongs to attempt %u, but the run is in attempt %u; "
			 "not recorded", run_id, aml_status_name(ev->status),
			 aml_event_source_name(ev->source), ev->attempt,
			 latest);
		admit = AML_ADMIT_NO;
		goto done;
	}
	if (ever && ev->status == AML_STATUS_NOT_STARTED) {
		aml_fail(errbuf, errlen, "run history: run %s: %s -> %s is not "
			 "a valid transition (event from %s, attempt %u): "
			 "only a new run is NotStarted", run_id,
			 aml_status_name(now), aml_status_name(ev->status),
			 aml_event_source_name(ev->source), ev->attempt);
		admit = AML_ADMIT_NO;
		goto done;
	}
	/* An end stands: what comes after it in time is not part of that
	 * attempt (a cancel asked for once the run had ended). */
	if (end && !aml_status_is_terminal(ev->status) &&
	    ev->time_ms >= end->time_ms) {
		aml_fail(errbuf, errlen, "run history: run %s: %s -> %s is not "
			 "a valid transition (event from %s, attempt %u): the "
			 "attempt had ended", run_id,
			 aml_status_name(end->status),
			 aml_status_name(ev->status),
			 aml_event_source_name(ev->source), ev->attempt);
		admit = AML_ADMIT_NO;
		goto done;
	}
	if (!accepted(new_v[at])) {
		if (new_v[at] == AML_TRANSITION_DUPLICATE) {
			admit = AML_ADMIT_ALREADY;
		} else if (end && aml_status_is_terminal(ev->status)) {
			contradicts(run_id, ev, end, errbuf, errlen);
			admit = AML_ADMIT_NO;
		} else if (!before_any) {
			aml_fail(errbuf, errlen, "run history: run %s has no "
				 "valid events; %s cannot be its first",
				 run_id, aml_status_name(ev->status));
			admit = AML_ADMIT_NO;
		} else {
			aml_fail(errbuf, errlen, "run history: run %s: %s -> "
				 "%s is not a valid transition (event from %s, "
				 "attempt %u)", run_id, aml_status_name(before),
				 aml_status_name(ev->status),
				 aml_event_source_name(ev->source),
				 ev->attempt);
			admit = AML_ADMIT_NO;
		}
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct aml_event *was = &all[i];

		if (!accepted(old_v[i]) || accepted(new_v[i < at ? i : i + 1]))
			continue;
		/* The same status said earlier: nothing new. */
		if (was->status == ev->status && was->attempt == ev->attempt) {
			admit = AML_ADMIT_ALREADY;
			goto done;
		}
		contradicts(run_id, ev, was, errbuf, errlen);
		admit = AML_ADMIT_NO;
		goto done;
	}
done:
	free(with);
	free(old_v);
	free(new_v);
	return admit;
}

enum aml_admit aml_events_admit(const char *text, size_t len,
				const struct aml_event *ev, const char *run_id,
				char *errbuf, size_t errlen)
{
	struct aml_event *all;
	size_t n, bad;
	enum aml_admit admit;

	if (aml_events_contain_id(text, len, ev->id))
		return AML_ADMIT_ALREADY;
	if (aml_events_parse(text, len, &all, &n, &bad) < 0) {
		aml_fail(errbuf, errlen, "run history: run %s: out of memory "
			 "judging %s", run_id, aml_status_name(ev->status));
		return AML_ADMIT_NO;
	}
	admit = judge(all, n, ev, run_id, errbuf, errlen);
	aml_events_free(all, n);
	return admit;
}
