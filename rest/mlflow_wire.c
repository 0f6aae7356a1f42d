/*
 * mlflow_wire.c: MLflow's tracking REST API on the wire (contract in
 * mlflow_wire.h).
 *
 * Where the contract is silent:
 *   - int64 fields (times, steps) are written as raw JSON text from
 *     PRId64, never through a double, so every int64 is exact; doubles
 *     likewise as raw text, see aml_mlflow_add_double().
 *   - JSON null in an answer counts as a missing field: proto3 JSON
 *     allows it for an unset field, and some proxies write it.
 *   - A body with text after its JSON value is not one JSON object and is
 *     refused (cJSON alone would stop reading at the value's end).
 *   - Artifact paths keep their percent-escapes: run.info.artifact_uri is
 *     a URI already, and encoding it again would turn "%20" into "%2520".
 */
#include "mlflow_wire.h"
#include "http.h"
#include "errors.h"
#include "text.h"
#include "utf8.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- statuses -------------------------------------------------------- */

static const char *const status_map[AML_STATUS_COUNT] = {
	[AML_STATUS_NOT_STARTED] = "SCHEDULED",
	[AML_STATUS_QUEUED] = "SCHEDULED",
	[AML_STATUS_PREPARING] = "SCHEDULED",
	[AML_STATUS_RUNNING] = "RUNNING",
	[AML_STATUS_FINALIZING] = "RUNNING",
	[AML_STATUS_CANCEL_REQUESTED] = "RUNNING",
	[AML_STATUS_NOT_RESPONDING] = "RUNNING",
	[AML_STATUS_COMPLETED] = "FINISHED",
	[AML_STATUS_FAILED] = "FAILED",
	[AML_STATUS_CANCELED] = "KILLED",
};

const char *aml_mlflow_status(enum aml_status s)
{
	return (unsigned)s < AML_STATUS_COUNT ? status_map[s] : NULL;
}

int aml_mlflow_status_valid(const char *s)
{
	static const char *const names[] = {
		"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED",
	};

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return 1;
	return 0;
}

/* ---- small text helpers ---------------------------------------------- */

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_unreserved(int c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

/* aml_ascii_ieq_n stops at [s]'s NUL, so a shorter [s] is safe. */
static int starts_with_ci(const char *s, const char *prefix)
{
	return aml_ascii_ieq_n(s, strlen(prefix), prefix);
}

/* ---- URLs ------------------------------------------------------------ */

#define URI_SCHEMES "http://, https:// or azureml://"

/* Printable ASCII only: a blank would end the URL in a log and curl
 * refuses it; a control character could forge a log line. */
static int check_uri_chars(const char *uri, char *errbuf, size_t errlen)
{
	for (size_t i = 0; uri[i]; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c <= 0x20 || c >= 0x7f)
			return aml_fail(errbuf, errlen,
					"HistoryURI: holds whitespace, a control or a non-ASCII character (at offset %zu); a URI is printable ASCII (percent-encode the rest)",
					i);
	}
	return 0;
}

/* The scheme's length when [uri] starts with "<scheme>://", else 0. */
static size_t scheme_length(const char *uri)
{
	size_t n = 0;

	if (!is_alpha((unsigned char)uri[0]))
		return 0;
	while (is_alpha((unsigned char)uri[n]) ||
	       is_digit((unsigned char)uri[n]) || uri[n] == '+' ||
	       uri[n] == '-' || uri[n] == '.')
		n++;
	return strncmp(uri + n, "://", 3) == 0 ? n : 0;
}

static int check_port(const char *port, size_t n, char *errbuf,
		      size_t errlen)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; i < n && i < 6 && is_digit((unsigned char)port[i]); i++)
		v = v * 10 + (unsigned long)(port[i] - '0');
	if (n == 0 || i != n || v < 1 || v > 65535)
		return aml_fail(errbuf, errlen,
				"HistoryURI: port \"%.*s\" is not a number from 1 to 65535",
				(int)(n > 16 ? 16 : n), port);
	return 0;
}

/* [auth] of [n] bytes is host, [host]:port, host:port or [v6]:port. */
static int check_authority(const char *scheme, const char *auth, size_t n,
			   char *errbuf, size_t errlen)
{
	const char *colon = NULL;
	size_t host_len;

	if (n && auth[0] == '[') {
		const char *close = memchr(auth, ']', n);

		if (!close || close == auth + 1)
			return aml_fail(errbuf, errlen,
					"HistoryURI: no host after \"%s://\" (an IPv6 address goes in [brackets])",
					scheme);
		host_len = (size_t)(close - auth) + 1;
		if (host_len < n && auth[host_len] != ':')
			return aml_fail(errbuf, errlen,
					"HistoryURI: text after the IPv6 address's ']' that is not \":port\"");
	} else {
		for (size_t i = 0; i < n; i++)
			if (auth[i] == ':')
				colon = auth + i;
		host_len = colon ? (size_t)(colon - auth) : n;
	}
	if (host_len == 0)
		return aml_fail(errbuf, errlen,
				"HistoryURI: no host after \"%s://\"", scheme);
	if (host_len < n)
		return check_port(auth + host_len + 1, n - host_len - 1, errbuf,
				  errlen);
	return 0;
}

static int accepted_scheme(const char *uri, size_t n, const char **lower)
{
	static const char *const schemes[] = { "http", "https", "azureml" };

	for (size_t i = 0; i < 3; i++)
		if (n == strlen(schemes[i]) &&
		    aml_ascii_ieq_n(uri, n, schemes[i])) {
			*lower = schemes[i];
			return 1;
		}
	return 0;
}

/* Azure ML's URI carries /mlflow/v1.0; MLflow 2 semantics (such as
 * experiments/search) live under v2.0, where the azureml-mlflow plugin sends MLflow 2 clients. */
static int azure_v1_path(const char *path, size_t n)
{
	static const char v1[] = "/mlflow/v1.0";
	size_t v1n = sizeof(v1) - 1;

	return n >= v1n && strncmp(path, v1, v1n) == 0 &&
	       (n == v1n || path[v1n] == '/');
}

int aml_mlflow_base_url(const char *uri, char **base, char *errbuf,
			size_t errlen)
{
	struct aml_text t = AML_TEXT_INIT;
	const char *scheme, *auth, *path;
	size_t sn, an, pn;

	*base = NULL;
	if (check_uri_chars(uri, errbuf, errlen) != 0)
		return -1;
	sn = scheme_length(uri);
	if (sn == 0)
		return aml_fail(errbuf, errlen,
				"HistoryURI: does not start with a scheme (expected " URI_SCHEMES ")");
	if (!accepted_scheme(uri, sn, &scheme))
		return aml_fail(errbuf, errlen,
				"HistoryURI: scheme \"%.*s\" is not supported (expected " URI_SCHEMES ")",
				(int)(sn > 32 ? 32 : sn), uri);
	auth = uri + sn + 3;
	an = strcspn(auth, "/?#");
	/* Checked before anything that could quote the authority. */
	if (memchr(auth, '@', an))
		return aml_fail(errbuf, errlen,
				"HistoryURI: holds user information (\"user:password@\", not shown); credentials belong in HistoryCredentials");
	if (strpbrk(uri, "?#"))
		return aml_fail(errbuf, errlen,
				"HistoryURI: holds a query or fragment ('?' or '#'); endpoints are appended to it, so it must end with its path");
	if (check_authority(scheme, auth, an, errbuf, errlen) != 0)
		return -1;
	path = auth + an;
	pn = strlen(path);
	while (pn && path[pn - 1] == '/')
		pn--;
	if (strcmp(scheme, "azureml") == 0) {
		aml_text_str(&t, "https://");
		aml_text_add(&t, auth, an);
		if (azure_v1_path(path, pn)) {
			aml_text_str(&t, "/mlflow/v2.0");
			path += 12;
			pn -= 12;
		}
	} else {
		aml_text_str(&t, scheme);
		aml_text_str(&t, "://");
		aml_text_add(&t, auth, an);
	}
	aml_text_add(&t, path, pn);
	*base = aml_text_finish(&t);
	return *base ? 0 : aml_fail(errbuf, errlen, "HistoryURI: out of memory");
}

/*
 * Append [n] (> 0) bytes of [s] percent-encoded by curl, which keeps
 * exactly RFC 3986's unreserved bytes and writes upper-case hex (the
 * handle it takes is unused since curl 7.82).
 */
static void add_escaped(struct aml_text *t, const char *s, size_t n)
{
	char *e = n <= INT_MAX ? curl_easy_escape(NULL, s, (int)n) : NULL;

	if (!e) {
		t->oom = 1;
		return;
	}
	aml_text_str(t, e);
	curl_free(e);
}

char *aml_url_encode(const char *s)
{
	struct aml_text t = AML_TEXT_INIT;

	/* curl reads a length of 0 as "up to the NUL". */
	if (*s)
		add_escaped(&t, s, strlen(s));
	return aml_text_finish(&t);
}

char *aml_url_encode_path(const char *s)
{
	struct aml_text t = AML_TEXT_INIT;

	for (;;) {
		size_t n = strcspn(s, "/");

		if (n)
			add_escaped(&t, s, n);
		if (!s[n])
			break;
		aml_text_add(&t, "/", 1);
		s += n + 1;
	}
	return aml_text_finish(&t);
}

/* What may stand in a URI path as is (RFC 3986 pchar, '%' and '/'). */
static int keep_uri_path_char(int c)
{
	return is_unreserved(c) || (c && strchr("!$&'()*+,;=:@%/", c));
}

/*
 * Append [n] bytes of a URI path segment, bytes a URI cannot hold
 * percent-encoded.  By hand, as curl has no encoder that keeps the '%'
 * of escapes already there (CURLU_URLENCODE encodes it again).
 */
static void add_uri_path_segment(struct aml_text *t, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (keep_uri_path_char(c))
			aml_text_add(t, s + i, 1);
		else
			aml_text_add(t, esc, 3);
	}
}

#define ARTIFACTS_API "/api/2.0/mlflow-artifacts/artifacts"
#define PROXY_ONLY "only the tracking server's artifact proxy, mlflow-artifacts:, is"

static int unsupported_artifact_uri(const char *uri, char *errbuf,
				    size_t errlen)
{
	size_t n = strcspn(uri, ":/");
	char shown[128];

	if (uri[n] == ':' && n > 1 && is_alpha((unsigned char)uri[0])) {
		char scheme[40];

		snprintf(scheme, sizeof(scheme), "%.*s", (int)n, uri);
		aml_text_escape(scheme, shown, sizeof(shown));
		return aml_fail(errbuf, errlen,
				"artifact upload is not supported for artifact_uri scheme \"%s\" (" PROXY_ONLY ")",
				shown);
	}
	aml_text_escape(uri, shown, sizeof(shown));
	return aml_fail(errbuf, errlen,
			"artifact upload is not supported for artifact_uri \"%s\", a path on the server (" PROXY_ONLY ")",
			shown);
}

/* Append [path] without leading, trailing or doubled '/', each part
 * after a '/', bytes a URL cannot hold percent-encoded. */
static void add_artifact_path(struct aml_text *t, const char *path)
{
	for (;;) {
		size_t n;

		path += strspn(path, "/");
		n = strcspn(path, "/");
		if (n == 0)
			return;
		aml_text_add(t, "/", 1);
		add_uri_path_segment(t, path, n);
		path += n;
	}
}

int aml_mlflow_artifact_url(const char *base, const char *artifact_uri,
			    char **url, char *errbuf, size_t errlen)
{
	static const char scheme[] = "mlflow-artifacts:";
	struct aml_text t = AML_TEXT_INIT;
	const char *rest, *base_sep;
	size_t bn;

	*url = NULL;
	if (!starts_with_ci(artifact_uri, scheme))
		return unsupported_artifact_uri(artifact_uri, errbuf, errlen);
	base_sep = strstr(base, "://");
	if (!base_sep)
		return aml_fail(errbuf, errlen,
				"tracking URL has no scheme; cannot resolve artifact_uri");
	rest = artifact_uri + sizeof(scheme) - 1;
	if (strpbrk(rest, "?#"))
		return aml_fail(errbuf, errlen,
				"artifact_uri holds a query or fragment ('?' or '#'); a run's artifact location cannot");
	if (strncmp(rest, "//", 2) == 0) {
		/* A separate artifact server, reached the way the tracking
		 * server is (same scheme). */
		size_t an = strcspn(rest + 2, "/");

		if (an == 0 || rest[2] == ':' || memchr(rest + 2, '@', an))
			return aml_fail(errbuf, errlen,
					"artifact_uri: \"mlflow-artifacts://\" must be followed by host[:port], without user information");
		aml_text_add(&t, base, (size_t)(base_sep - base) + 3);
		aml_text_add(&t, rest + 2, an);
		rest += 2 + an;
	} else {
		bn = strlen(base);
		while (bn && base[bn - 1] == '/')
			bn--;
		aml_text_add(&t, base, bn);
	}
	aml_text_str(&t, ARTIFACTS_API);
	add_artifact_path(&t, rest);
	*url = aml_text_finish(&t);
	return *url ? 0 : aml_fail(errbuf, errlen, "out of memory");
}

/* ---- client-side limits ---------------------------------------------- */

static int key_char_ok(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '/' ||
	       c == '.' || c == '-' || c == ' ';
}

/* MLflow's path_not_unique(): posixpath.normpath(key) must be the key
 * itself and not start with "..", since keys may become file names. */
static int key_is_normalized(const char *key)
{
	if (key[0] == '/' || key[strlen(key) - 1] == '/' ||
	    strstr(key, "//") || strncmp(key, "..", 2) == 0)
		return 0;
	for (const char *seg = key; seg; ) {
		const char *slash = strchr(seg, '/');
		size_t n = slash ? (size_t)(slash - seg) : strlen(seg);

		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		seg = slash ? slash + 1 : NULL;
	}
	return 1;
}

int aml_mlflow_check_key(const char *what, const char *key, char *errbuf,
			 size_t errlen)
{
	char shown[80];
	size_t n = strlen(key);

	if (n == 0)
		return aml_fail(errbuf, errlen, "%s key is empty", what);
	aml_text_escape(key, shown, sizeof(shown));
	if (n > AML_MLFLOW_MAX_KEY)
		return aml_fail(errbuf, errlen,
				"%s key \"%s\": %zu characters, more than %d",
				what, shown, n, AML_MLFLOW_MAX_KEY);
	for (size_t i = 0; i < n; i++)
		if (!key_char_ok((unsigned char)key[i]))
			return aml_fail(errbuf, errlen,
					"%s key \"%s\": only ASCII letters, digits, '_', '/', '.', '-' and space are allowed",
					what, shown);
	if (!key_is_normalized(key))
		return aml_fail(errbuf, errlen,
				"%s key \"%s\": not a normalized path (no leading or trailing '/', no \"//\", no \".\" or \"..\" component, no leading \"..\")",
				what, shown);
	return 0;
}

static int check_value(const char *what, const char *key, const char *value,
		       size_t max, char *errbuf, size_t errlen)
{
	char shown[80];
	size_t n = strlen(value), bad;

	aml_text_escape(key, shown, sizeof(shown));
	if (n > max)
		return aml_fail(errbuf, errlen,
				"%s \"%s\": value is %zu bytes, more than %zu",
				what, shown, n, max);
	bad = aml_utf8_invalid_at((const unsigned char *)value, n);
	if (bad < n)
		return aml_fail(errbuf, errlen,
				"%s \"%s\": value is not valid UTF-8 (byte 0x%02x at offset %zu)",
				what, shown, (unsigned char)value[bad], bad);
	return 0;
}

int aml_mlflow_check_tag_value(const char *key, const char *value,
			       char *errbuf, size_t errlen)
{
	return check_value("tag", key, value, AML_MLFLOW_MAX_TAG_VALUE, errbuf,
			   errlen);
}

int aml_mlflow_check_param_value(const char *key, const char *value,
				 char *errbuf, size_t errlen)
{
	return check_value("param", key, value, AML_MLFLOW_MAX_PARAM_VALUE,
			   errbuf, errlen);
}

static int check_counts(size_t tags, size_t params, size_t metrics,
			char *errbuf, size_t errlen)
{
	if (metrics > AML_MLFLOW_MAX_BATCH_METRICS)
		return aml_fail(errbuf, errlen,
				"%zu metrics in one request, more than %d",
				metrics, AML_MLFLOW_MAX_BATCH_METRICS);
	if (params > AML_MLFLOW_MAX_BATCH_PARAMS)
		return aml_fail(errbuf, errlen,
				"%zu params in one request, more than %d",
				params, AML_MLFLOW_MAX_BATCH_PARAMS);
	if (tags > AML_MLFLOW_MAX_BATCH_TAGS)
		return aml_fail(errbuf, errlen,
				"%zu tags in one request, more than %d", tags,
				AML_MLFLOW_MAX_BATCH_TAGS);
	if (metrics + params + tags > AML_MLFLOW_MAX_BATCH_ENTITIES)
		return aml_fail(errbuf, errlen,
				"%zu metrics, params and tags in one request, more than %d",
				metrics + params + tags,
				AML_MLFLOW_MAX_BATCH_ENTITIES);
	return 0;
}

int aml_mlflow_check_batch(const struct aml_kvlist *tags,
			   const struct aml_kvlist *params,
			   const struct aml_mlflow_metric *metrics, size_t n,
			   char *errbuf, size_t errlen)
{
	size_t nt = tags ? tags->count : 0, np = params ? params->count : 0;

	if (check_counts(nt, np, n, errbuf, errlen) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (aml_mlflow_check_key("metric", metrics[i].key, errbuf,
					 errlen) != 0)
			return -1;
	for (size_t i = 0; i < np; i++)
		if (aml_mlflow_check_key("param", params->items[i].key, errbuf,
					 errlen) != 0 ||
		    aml_mlflow_check_param_value(params->items[i].key,
						 params->items[i].value, errbuf,
						 errlen) != 0)
			return -1;
	for (size_t i = 0; i < nt; i++)
		if (aml_mlflow_check_key("tag", tags->items[i].key, errbuf,
					 errlen) != 0 ||
		    aml_mlflow_check_tag_value(tags->items[i].key,
					       tags->items[i].value, errbuf,
					       errlen) != 0)
			return -1;
	return 0;
}

/* ---- request bodies -------------------------------------------------- */

static int add_raw(cJSON *obj, const char *key, const char *text)
{
	return cJSON_AddRawToObject(obj, key, text) ? 0 : -1;
}

int aml_mlflow_add_int64(cJSON *obj, const char *key, int64_t v)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRId64, v);
	return add_raw(obj, key, text);
}

/* The shortest of %.15g..%.17g that strtod reads back as [v] exactly. */
static void format_double(double v, char *text, size_t len)
{
	const char *point = localeconv()->decimal_point;

	for (int digits = 15; digits <= 17; digits++) {
		snprintf(text, len, "%.*g", digits, v);
		if (strtod(text, NULL) == v)
			break;
	}
	/* JSON's decimal point is '.', whatever LC_NUMERIC says. */
	if (point && point[0] && point[0] != '.' && !point[1]) {
		char *p = strchr(text, point[0]);

		if (p)
			*p = '.';
	}
}

int aml_mlflow_add_double(cJSON *obj, const char *key, double v)
{
	char text[40];

	if (isnan(v))
		return cJSON_AddStringToObject(obj, key, "NaN") ? 0 : -1;
	if (isinf(v))
		return cJSON_AddStringToObject(obj, key,
					       v > 0 ? "Infinity" : "-Infinity")
			       ? 0 : -1;
	format_double(v, text, sizeof(text));
	return add_raw(obj, key, text);
}

static int add_string(cJSON *obj, const char *key, const char *value)
{
	return value && cJSON_AddStringToObject(obj, key, value) ? 0 : -1;
}

/* [obj] printed compactly and deleted; NULL when [failed] or out of
 * memory. */
static char *finish(cJSON *obj, int failed)
{
	char *text = NULL;

	if (obj && !failed)
		text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	return text;
}

/* "name":[{"key":k,"value":v}...], left out when [list] is empty. */
static int add_key_values(cJSON *obj, const char *name,
			  const struct aml_kvlist *list)
{
	cJSON *array;

	if (!list || list->count == 0)
		return 0;
	array = cJSON_AddArrayToObject(obj, name);
	if (!array)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		cJSON *kv = cJSON_CreateObject();

		if (!kv)
			return -1;
		cJSON_AddItemToArray(array, kv);
		if (add_string(kv, "key", list->items[i].key) != 0 ||
		    add_string(kv, "value", list->items[i].value) != 0)
			return -1;
	}
	return 0;
}

static int add_metrics(cJSON *obj, const struct aml_mlflow_metric *metrics,
		       size_t n)
{
	cJSON *array;

	if (n == 0)
		return 0;
	array = cJSON_AddArrayToObject(obj, "metrics");
	if (!array)
		return -1;
	for (size_t i = 0; i < n; i++) {
		cJSON *m = cJSON_CreateObject();

		if (!m)
			return -1;
		cJSON_AddItemToArray(array, m);
		if (add_string(m, "key", metrics[i].key) != 0 ||
		    aml_mlflow_add_double(m, "value", metrics[i].value) != 0 ||
		    aml_mlflow_add_int64(m, "timestamp",
					 metrics[i].timestamp_ms) != 0 ||
		    aml_mlflow_add_int64(m, "step", metrics[i].step) != 0)
			return -1;
	}
	return 0;
}

char *aml_mlflow_create_experiment_body(const char *name)
{
	cJSON *obj = cJSON_CreateObject();

	return finish(obj, !obj || add_string(obj, "name", name) != 0);
}

char *aml_mlflow_create_run_body(const char *experiment_id,
				 const char *run_name, const char *user_id,
				 int64_t start_ms,
				 const struct aml_kvlist *tags)
{
	cJSON *obj = cJSON_CreateObject();
	int failed = !obj ||
		     add_string(obj, "experiment_id", experiment_id) != 0 ||
		     aml_mlflow_add_int64(obj, "start_time", start_ms) != 0 ||
		     (run_name && add_string(obj, "run_name", run_name) != 0) ||
		     (user_id && add_string(obj, "user_id", user_id) != 0) ||
		     add_key_values(obj, "tags", tags) != 0;

	return finish(obj, failed);
}

char *aml_mlflow_update_run_body(const char *run_id, const char *status,
				 int64_t end_ms)
{
	cJSON *obj;
	int failed;

	if (status && !aml_mlflow_status_valid(status))
		return NULL;
	obj = cJSON_CreateObject();
	failed = !obj || add_string(obj, "run_id", run_id) != 0 ||
		 (status && add_string(obj, "status", status) != 0) ||
		 (end_ms >= 0 && aml_mlflow_add_int64(obj, "end_time", end_ms) != 0);
	return finish(obj, failed);
}

char *aml_mlflow_delete_tag_body(const char *run_id, const char *key)
{
	cJSON *obj = cJSON_CreateObject();
	int failed = !obj || add_string(obj, "run_id", run_id) != 0 ||
		     add_string(obj, "key", key) != 0;

	return finish(obj, failed);
}

char *aml_mlflow_log_batch_body(const char *run_id,
				const struct aml_kvlist *tags,
				const struct aml_kvlist *params,
				const struct aml_mlflow_metric *metrics,
				size_t n, char *errbuf, size_t errlen)
{
	cJSON *obj;
	char *text;

	if (aml_mlflow_check_batch(tags, params, metrics, n, errbuf,
				   errlen) != 0)
		return NULL;
	obj = cJSON_CreateObject();
	text = finish(obj, !obj || add_string(obj, "run_id", run_id) != 0 ||
			   add_metrics(obj, metrics, n) != 0 ||
			   add_key_values(obj, "params", params) != 0 ||
			   add_key_values(obj, "tags", tags) != 0);
	if (!text)
		aml_fail(errbuf, errlen, "runs/log-batch: out of memory");
	return text;
}

static int add_paging(cJSON *obj, int max_results, const char *page_token)
{
	if (max_results > 0 &&
	    !cJSON_AddNumberToObject(obj, "max_results", max_results))
		return -1;
	return page_token ? add_string(obj, "page_token", page_token) : 0;
}

char *aml_mlflow_search_runs_body(const char *const *experiment_ids,
				  size_t n, const char *filter,
				  int max_results, const char *page_token)
{
	cJSON *obj = cJSON_CreateObject(), *ids;
	int failed = !obj;

	ids = obj ? cJSON_AddArrayToObject(obj, "experiment_ids") : NULL;
	failed = failed || !ids;
	for (size_t i = 0; !failed && i < n; i++) {
		cJSON *id = experiment_ids[i] ?
			cJSON_CreateString(experiment_ids[i]) : NULL;

		failed = !id;
		if (id)
			cJSON_AddItemToArray(ids, id);
	}
	failed = failed ||
		 (filter && *filter && add_string(obj, "filter", filter) != 0) ||
		 add_paging(obj, max_results, page_token) != 0;
	return finish(obj, failed);
}

char *aml_mlflow_search_experiments_body(int max_results,
					 const char *page_token)
{
	cJSON *obj = cJSON_CreateObject();

	return finish(obj, !obj ||
			   add_paging(obj, max_results, page_token) != 0);
}

int aml_mlflow_filter_value(const char *value, char **quoted, char *errbuf,
			    size_t errlen)
{
	char shown[80];

	*quoted = NULL;
	for (const char *p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\'' || c == '\\' || c < 0x20 || c == 0x7f) {
			aml_text_escape(value, shown, sizeof(shown));
			return aml_fail(errbuf, errlen,
					"filter value \"%s\": holds a quote, a backslash or a control character, which MLflow's filter grammar cannot escape",
					shown);
		}
	}
	{
		struct aml_text t = AML_TEXT_INIT;

		aml_text_str(&t, "'");
		aml_text_str(&t, value);
		aml_text_str(&t, "'");
		*quoted = aml_text_finish(&t);
	}
	return *quoted ? 0 : aml_fail(errbuf, errlen, "out of memory");
}

/* ---- answers --------------------------------------------------------- */

struct reader {
	const char *endpoint;
	char *errbuf;
	size_t errlen;
};

#define PATH_MAX_LEN 128

static int unexpected(const struct reader *r, const char *path,
		      const char *rule)
{
	return aml_fail(r->errbuf, r->errlen,
			"MLflow server: %s: unexpected answer: %s%s%s",
			r->endpoint, path, *path ? " " : "", rule);
}

static int out_of_memory(const struct reader *r)
{
	return aml_fail(r->errbuf, r->errlen, "MLflow server: %s: out of memory",
			r->endpoint);
}

/* Field paths for messages ("runs[2].info.run_id"); the precisions
 * keep them within PATH_MAX_LEN, and one cut short still says where. */
static void child_path(char *out, const char *parent, const char *name)
{
	snprintf(out, PATH_MAX_LEN, "%.90s%s%.32s", parent,
		 *parent ? "." : "", name);
}

static void index_path(char *out, const char *parent, size_t i)
{
	snprintf(out, PATH_MAX_LEN, "%.90s[%zu]", parent, i);
}

/* The member [name] of [obj]; NULL when missing or null. */
static const cJSON *member(const cJSON *obj, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);

	return m && !cJSON_IsNull(m) ? m : NULL;
}

/* [*out]: the string [name], copied; NULL when missing (an error when
 * [required]). */
static int get_string(const struct reader *r, const cJSON *obj,
		      const char *parent, const char *name, int required,
		      char **out)
{
	const cJSON *m = member(obj, name);
	char path[PATH_MAX_LEN];

	*out = NULL;
	child_path(path, parent, name);
	if (!m)
		return required ? unexpected(r, path, "is missing") : 0;
	if (!cJSON_IsString(m))
		return unexpected(r, path, "is not a string");
	*out = strdup(m->valuestring);
	return *out ? 0 : out_of_memory(r);
}

/* [*out]: the object or array [name] (by [is_type]); NULL when missing. */
static int get_node(const struct reader *r, const cJSON *obj,
		    const char *parent, const char *name,
		    cJSON_bool (*is_type)(const cJSON *), const char *rule,
		    const cJSON **out)
{
	const cJSON *m = member(obj, name);
	char path[PATH_MAX_LEN];

	*out = NULL;
	if (m && !is_type(m)) {
		child_path(path, parent, name);
		return unexpected(r, path, rule);
	}
	*out = m;
	return 0;
}

static int get_object(const struct reader *r, const cJSON *obj,
		      const char *parent, const char *name, int required,
		      const cJSON **out)
{
	char path[PATH_MAX_LEN];

	if (get_node(r, obj, parent, name, cJSON_IsObject, "is not an object",
		     out) != 0)
		return -1;
	if (!*out && required) {
		child_path(path, parent, name);
		return unexpected(r, path, "is missing");
	}
	return 0;
}

static int get_array(const struct reader *r, const cJSON *obj,
		     const char *parent, const char *name, const cJSON **out)
{
	return get_node(r, obj, parent, name, cJSON_IsArray,
			"is not an array", out);
}

/* An int64 from a JSON number (integral, in range) or a decimal string
 * (proto3 JSON writes int64 as either). */
static int int64_of(const cJSON *m, int64_t *v)
{
	if (cJSON_IsNumber(m)) {
		double d = m->valuedouble;

		/* 2^63 is exact as a double; anything below it converts. */
		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
		    (double)(int64_t)d != d)
			return -1;
		*v = (int64_t)d;
		return 0;
	}
	if (cJSON_IsString(m)) {
		const char *s = m->valuestring;
		char *end;
		long long ll;

		if (!is_digit((unsigned char)s[0]) &&
		    !(s[0] == '-' && is_digit((unsigned char)s[1])))
			return -1;
		errno = 0;
		ll = strtoll(s, &end, 10);
		if (errno || *end)
			return -1;
		*v = ll;
		return 0;
	}
	return -1;
}

static int get_int64(const struct reader *r, const cJSON *obj,
		     const char *parent, const char *name, int64_t missing,
		     int64_t *out)
{
	const cJSON *m = member(obj, name);
	char path[PATH_MAX_LEN];

	*out = missing;
	if (m && int64_of(m, out) != 0) {
		child_path(path, parent, name);
		return unexpected(r, path, "is not an integer");
	}
	return 0;
}

/* A double from a number, "NaN", "Infinity", "-Infinity", or a number in
 * a string. */
static int double_of(const cJSON *m, double *v)
{
	const char *s;
	char *end;

	if (cJSON_IsNumber(m)) {
		*v = m->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(m))
		return -1;
	s = m->valuestring;
	if (strcmp(s, "NaN") == 0)
		*v = NAN;
	else if (strcmp(s, "Infinity") == 0)
		*v = INFINITY;
	else if (strcmp(s, "-Infinity") == 0)
		*v = -INFINITY;
	else if (*s && strspn(s, "0123456789+-.eE") == strlen(s)) {
		*v = strtod(s, &end);
		return *end ? -1 : 0;
	} else
		return -1;
	return 0;
}

static int get_bool(const struct reader *r, const cJSON *obj,
		    const char *parent, const char *name, int *out)
{
	const cJSON *m = member(obj, name);
	char path[PATH_MAX_LEN];

	*out = 0;
	if (m && !cJSON_IsBool(m)) {
		child_path(path, parent, name);
		return unexpected(r, path, "is not true or false");
	}
	*out = m && cJSON_IsTrue(m);
	return 0;
}

/* The body as one JSON object, or NULL with the line written. */
static cJSON *parse_body(const struct reader *r, const char *body,
			 size_t len)
{
	const char *end = NULL;
	cJSON *json;

	if (!body || len == 0) {
		unexpected(r, "", "empty body");
		return NULL;
	}
	json = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!json) {
		unexpected(r, "", "not valid JSON");
		return NULL;
	}
	while (end && end < body + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (end != body + len) {
		cJSON_Delete(json);
		unexpected(r, "", "not valid JSON (text after the value)");
		return NULL;
	}
	if (!cJSON_IsObject(json)) {
		cJSON_Delete(json);
		unexpected(r, "", "not a JSON object");
		return NULL;
	}
	return json;
}

/* The next_page_token of [obj]; "" counts as none, so that a paging
 * loop "while (token)" ends on every server. */
static int get_page_token(const struct reader *r, const cJSON *obj,
			  char **out)
{
	if (get_string(r, obj, "", "next_page_token", 0, out) != 0)
		return -1;
	if (*out && !**out) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* The items of array [arr] as objects, each handed to [fn] with its
 * path; stops at the first failure. */
static int each_object(const struct reader *r, const cJSON *arr,
		       const char *path,
		       int (*fn)(const struct reader *, const cJSON *,
				 const char *, void *, size_t),
		       void *ctx)
{
	const cJSON *item;
	size_t i = 0;

	cJSON_ArrayForEach(item, arr) {
		char ipath[PATH_MAX_LEN];

		index_path(ipath, path, i);
		if (!cJSON_IsObject(item))
			return unexpected(r, ipath, "is not an object");
		if (fn(r, item, ipath, ctx, i) != 0)
			return -1;
		i++;
	}
	return 0;
}

/* Room for the items of [arr] (calloc'd, NULL for none). */
static int alloc_items(const struct reader *r, const cJSON *arr,
		       size_t size, void **items, size_t *count)
{
	int n = arr ? cJSON_GetArraySize(arr) : 0;

	*items = NULL;
	*count = 0;
	if (n <= 0)
		return 0;
	*items = calloc((size_t)n, size);
	return *items ? 0 : out_of_memory(r);
}

/* -- experiments -- */

void aml_mlflow_experiment_free(struct aml_mlflow_experiment *exp)
{
	if (!exp)
		return;
	free(exp->id);
	free(exp->name);
	memset(exp, 0, sizeof(*exp));
}

static int read_experiment(const struct reader *r, const cJSON *obj,
			   const char *path, struct aml_mlflow_experiment *exp)
{
	char *stage = NULL;

	if (get_string(r, obj, path, "experiment_id", 1, &exp->id) != 0 ||
	    get_string(r, obj, path, "name", 0, &exp->name) != 0 ||
	    get_string(r, obj, path, "lifecycle_stage", 0, &stage) != 0) {
		aml_mlflow_experiment_free(exp);
		return -1;
	}
	exp->deleted = stage && strcmp(stage, "deleted") == 0;
	free(stage);
	return 0;
}

int aml_mlflow_parse_experiment(const char *endpoint, const char *body,
				size_t len, struct aml_mlflow_experiment *exp,
				char *errbuf, size_t errlen)
{
	struct reader r = { endpoint, errbuf, errlen };
	const cJSON *obj;
	cJSON *json;
	int rc = -1;

	memset(exp, 0, sizeof(*exp));
	json = parse_body(&r, body, len);
	if (json && get_object(&r, json, "", "experiment", 1, &obj) == 0)
		rc = read_experiment(&r, obj, "experiment", exp);
	cJSON_Delete(json);
	return rc;
}

int aml_mlflow_parse_experiment_id(const char *endpoint, const char *body,
				   size_t len, char **id, char *errbuf,
				   size_t errlen)
{
	struct reader r = { endpoint, errbuf, errlen };
	cJSON *json;
	int rc = -1;

	*id = NULL;
	json = parse_body(&r, body, len);
	if (json)
		rc = get_string(&r, json, "", "experiment_id", 1, id);
	cJSON_Delete(json);
	return rc;
}

static int experiment_item(const struct reader *r, const cJSON *obj,
			   const char *path, void *ctx, size_t i)
{
	struct aml_mlflow_experiments *exps = ctx;

	if (read_experiment(r, obj, path, &exps->items[i]) != 0)
		return -1;
	exps->count = i + 1;
	return 0;
}

void aml_mlflow_experiments_free(struct aml_mlflow_experiments *exps)
{
	if (!exps)
		return;
	for (size_t i = 0; i < exps->count; i++)
		aml_mlflow_experiment_free(&exps->items[i]);
	free(exps->items);
	free(exps->next_page_token);
	memset(exps, 0, sizeof(*exps));
}

int aml_mlflow_parse_experiments(const char *endpoint, const char *body,
				 size_t len,
				 struct aml_mlflow_experiments *exps,
				 char *errbuf, size_t errlen)
{
	struct reader r = { endpoint, errbuf, errlen };
	const cJSON *arr;
	size_t room;
	void *items;
	cJSON *json;
	int rc = -1;

	memset(exps, 0, sizeof(*exps));
	json = parse_body(&r, body, len);
	if (json && get_array(&r, json, "", "experiments", &arr) == 0 &&
	    alloc_items(&r, arr, sizeof(*exps->items), &items, &room) == 0) {
		exps->items = items;
		rc = each_object(&r, arr, "experiments", experiment_item, exps);
		if (rc == 0)
			rc = get_page_token(&r, json, &exps->next_page_token);
	}
	if (rc != 0)
		aml_mlflow_experiments_free(exps);
	cJSON_Delete(json);
	return rc;
}

/* -- runs -- */

void aml_mlflow_run_free(struct aml_mlflow_run *run)
{
	if (!run)
		return;
	free(run->run_id);
	free(run->experiment_id);
	free(run->run_name);
	free(run->user_id);
	free(run->status);
	free(run->artifact_uri);
	free(run->lifecycle_stage);
	aml_kvlist_free(&run->tags);
	aml_kvlist_free(&run->params);
	for (size_t i = 0; i < run->metric_count; i++)
		free(run->metrics[i].key);
	free(run->metrics);
	memset(run, 0, sizeof(*run));
}

static int read_run_info(const struct reader *r, const cJSON *info,
			 const char *path, struct aml_mlflow_run *run)
{
	if (get_string(r, info, path, "run_id", 0, &run->run_id) != 0)
		return -1;
	/* run_uuid: the deprecated twin, all some older servers send. */
	if (!run->run_id &&
	    get_string(r, info, path, "run_uuid", 0, &run->run_id) != 0)
		return -1;
	if (!run->run_id) {
		char p[PATH_MAX_LEN];

		child_path(p, path, "run_id");
		return unexpected(r, p, "is missing");
	}
	return get_string(r, info, path, "experiment_id", 0,
			  &run->experiment_id) ||
	       get_string(r, info, path, "run_name", 0, &run->run_name) ||
	       get_string(r, info, path, "user_id", 0, &run->user_id) ||
	       get_string(r, info, path, "status", 0, &run->status) ||
	       get_string(r, info, path, "artifact_uri", 0,
			  &run->artifact_uri) ||
	       get_string(r, info, path, "lifecycle_stage", 0,
			  &run->lifecycle_stage) ||
	       get_int64(r, info, path, "start_time", 0, &run->start_ms) ||
	       get_int64(r, info, path, "end_time", -1, &run->end_ms) ? -1 : 0;
}

static int kv_item(const struct reader *r, const cJSON *obj,
		   const char *path, void *ctx, size_t i)
{
	struct aml_kvlist *list = ctx;
	char *key = NULL, *value = NULL;
	int rc = -1;

	(void)i;
	if (get_string(r, obj, path, "key", 1, &key) == 0 &&
	    get_string(r, obj, path, "value", 0, &value) == 0) {
		rc = aml_kvlist_set(list, key, value ? value : "");
		if (rc != 0)
			out_of_memory(r);
	}
	free(key);
	free(value);
	return rc;
}

static int read_key_values(const struct reader *r, const cJSON *data,
			   const char *path, const char *name,
			   struct aml_kvlist *list)
{
	const cJSON *arr;
	char apath[PATH_MAX_LEN];

	child_path(apath, path, name);
	if (get_array(r, data, path, name, &arr) != 0)
		return -1;
	return arr ? each_object(r, arr, apath, kv_item, list) : 0;
}

static int metric_item(const struct reader *r, const cJSON *obj,
		       const char *path, void *ctx, size_t i)
{
	struct aml_mlflow_run *run = ctx;
	struct aml_mlflow_metric_point *m = &run->metrics[i];
	const cJSON *value = member(obj, "value");

	if (get_string(r, obj, path, "key", 1, &m->key) != 0)
		return -1;
	run->metric_count = i + 1;
	if (value && double_of(value, &m->value) != 0) {
		char p[PATH_MAX_LEN];

		child_path(p, path, "value");
		return unexpected(r, p, "is not a number");
	}
	return get_int64(r, obj, path, "timestamp", 0, &m->timestamp_ms) ||
	       get_int64(r, obj, path, "step", 0, &m->step) ? -1 : 0;
}

static int read_metrics(const struct reader *r, const cJSON *data,
			const char *path, struct aml_mlflow_run *run)
{
	const cJSON *arr;
	char apath[PATH_MAX_LEN];
	size_t room;
	void *items;

	child_path(apath, path, "metrics");
	if (get_array(r, data, path, "metrics", &arr) != 0 ||
	    alloc_items(r, arr, sizeof(*run->metrics), &items, &room) != 0)
		return -1;
	run->metrics = items;
	return arr ? each_object(r, arr, apath, metric_item, run) : 0;
}

static int read_run(const struct reader *r, const cJSON *obj,
		    const char *path, struct aml_mlflow_run *run)
{
	const cJSON *info, *data;
	char ipath[PATH_MAX_LEN], dpath[PATH_MAX_LEN];

	child_path(ipath, path, "info");
	child_path(dpath, path, "data");
	if (get_object(r, obj, path, "info", 1, &info) != 0 ||
	    read_run_info(r, info, ipath, run) != 0 ||
	    get_object(r, obj, path, "data", 0, &data) != 0 ||
	    (data && (read_key_values(r, data, dpath, "tags", &run->tags) != 0 ||
		      read_key_values(r, data, dpath, "params", &run->params) != 0 ||
		      read_metrics(r, data, dpath, run) != 0))) {
		aml_mlflow_run_free(run);
		return -1;
	}
	return 0;
}

int aml_mlflow_parse_run(const char *endpoint, const char *body, size_t len,
			 struct aml_mlflow_run *run, char *errbuf,
			 size_t errlen)
{
	struct reader r = { endpoint, errbuf, errlen };
	const cJSON *obj;
	cJSON *json;
	int rc = -1;

	memset(run, 0, sizeof(*run));
	json = parse_body(&r, body, len);
	if (json && get_object(&r, json, "", "run", 1, &obj) == 0)
		rc = read_run(&r, obj, "run", run);
	cJSON_Delete(json);
	return rc;
}

static int run_item(const struct reader *r, const cJSON *obj,
		    const char *path, void *ctx, size_t i)
{
	struct aml_mlflow_runs *runs = ctx;

	if (read_run(r, obj, path, &runs->items[i]) != 0)
		return -1;
	runs->count = i + 1;
	return 0;
}

void aml_mlflow_runs_free(struct aml_mlflow_runs *runs)
{
	if (!runs)
		return;
	for (size_t i = 0; i < runs->count; i++)
		aml_mlflow_run_free(&runs->items[i]);
	free(runs->items);
	free(runs->next_page_token);
	memset(runs, 0, sizeof(*runs));
}

int aml_mlflow_parse_runs(const char *endpoint, const char *body, size_t len,
			  struct aml_mlflow_runs *runs, char *errbuf,
			  size_t errlen)
{
	struct reader r = { endpoint, errbuf, errlen };
	const cJSON *arr;
	size_t room;
	void *items;
	cJSON *json;
	int rc = -1;

	memset(runs, 0, sizeof(*runs));
	json = parse_body(&r, body, len);
	if (json && get_array(&r, json, "", "runs", &arr) == 0 &&
	    alloc_items(&r, arr, sizeof(*runs->items), &items, &room) == 0) {
		runs->items = items;
		rc = each_object(&r, arr, "runs", run_item, runs);
		if (rc == 0)
			rc = get_page_token(&r, json, &runs->next_page_token);
	}
	if (rc != 0)
		aml_mlflow_runs_free(runs);
	cJSON_Delete(json);
	return rc;
}

/* -- artifact lists -- */

static int file_item(const struct reader *r, const cJSON *obj,
		     const char *path, void *ctx, size_t i)
{
	struct aml_mlflow_files *files = ctx;
	struct aml_mlflow_file *f = &files->items[i];

	if (get_string(r, obj, path, "path", 1, &f->path) != 0)
		return -1;
	files->count = i + 1;
	return get_bool(r, obj, path, "is_dir", &f->is_dir) ||
	       get_int64(r, obj, path, "file_size", -1, &f->file_size) ? -1 : 0;
}

void aml_mlflow_files_free(struct aml_mlflow_files *files)
{
	if (!files)
		return;
	for (size_t i = 0; i < files->count; i++)
		free(files->items[i].path);
	free(files->items);
	free(files->root_uri);
	free(files->next_page_token);
	memset(files, 0, sizeof(*files));
}

int aml_mlflow_parse_files(const char *endpoint, const char *body,
			   size_t len, struct aml_mlflow_files *files,
			   char *errbuf, size_t errlen)
{
	struct reader r = { endpoint, errbuf, errlen };
	const cJSON *arr;
	size_t room;
	void *items;
	cJSON *json;
	int rc = -1;

	memset(files, 0, sizeof(*files));
	json = parse_body(&r, body, len);
	if (json && get_array(&r, json, "", "files", &arr) == 0 &&
	    alloc_items(&r, arr, sizeof(*files->items), &items, &room) == 0) {
		files->items = items;
		rc = each_object(&r, arr, "files", file_item, files);
		if (rc == 0 &&
		    (get_string(&r, json, "", "root_uri", 0,
				&files->root_uri) != 0 ||
		     get_page_token(&r, json, &files->next_page_token) != 0))
			rc = -1;
	}
	if (rc != 0)
		aml_mlflow_files_free(files);
	cJSON_Delete(json);
	return rc;
}

/* ---- failed answers -------------------------------------------------- */

#define SHOWN_MAX 304 /* ~300 characters of a server's text, then "..." */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Where [needle] (lower case) first occurs in [hay] of [n] bytes, any
 * case; NULL when nowhere. */
static const char *find_ci(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;

		while (j < k && aml_ascii_lower((unsigned char)hay[i + j]) ==
				needle[j])
			j++;
		if (j == k)
			return hay + i;
	}
	return NULL;
}

/* [n] bytes of [s] into [shown], NUL-free, escaped and cut. */
static void show(const char *s, size_t n, char *shown)
{
	char raw[1024];

	if (n >= sizeof(raw))
		n = sizeof(raw) - 1;
	memcpy(raw, s, n);
	raw[n] = '\0';
	aml_text_escape(raw, shown, SHOWN_MAX);
}

/* MLflow's {"error_code","message"} or Azure's {"error":{"code",
 * "message"}}; -1 when the body is neither. */
static int json_error_line(long status, const char *body, size_t len,
			   char *buf, size_t buflen)
{
	cJSON *json = cJSON_ParseWithLength(body, len);
	const cJSON *err, *code, *msg;
	char shown_code[80], shown_msg[SHOWN_MAX];

	if (!cJSON_IsObject(json)) {
		cJSON_Delete(json);
		return -1;
	}
	err = cJSON_GetObjectItemCaseSensitive(json, "error");
	if (cJSON_IsObject(err)) {
		code = cJSON_GetObjectItemCaseSensitive(err, "code");
		msg = cJSON_GetObjectItemCaseSensitive(err, "message");
	} else {
		code = cJSON_GetObjectItemCaseSensitive(json, "error_code");
		msg = cJSON_GetObjectItemCaseSensitive(json, "message");
	}
	if (!cJSON_IsString(code)) {
		cJSON_Delete(json);
		return -1;
	}
	aml_text_escape(code->valuestring, shown_code, sizeof(shown_code));
	if (cJSON_IsString(msg) && *msg->valuestring) {
		aml_text_escape(msg->valuestring, shown_msg, sizeof(shown_msg));
		snprintf(buf, buflen, "HTTP %ld %s: %s", status, shown_code,
			 shown_msg);
	} else {
		snprintf(buf, buflen, "HTTP %ld %s", status, shown_code);
	}
	cJSON_Delete(json);
	return 0;
}

/* The <title> text, blanks squeezed, a leading "<status> " dropped
 * (Flask writes "405 Method Not Allowed"); "" when there is none. */
static void html_title(long status, const char *body, size_t len,
		       char *title, size_t size)
{
	const char *open = find_ci(body, len, "<title"), *start, *close;
	char number[24];
	size_t n = 0, numlen;

	title[0] = '\0';
	if (!open)
		return;
	start = memchr(open, '>', len - (size_t)(open - body));
	if (!start)
		return;
	start++;
	close = find_ci(start, len - (size_t)(start - body), "</title");
	if (!close)
		return;
	for (const char *p = start; p < close && n + 1 < size; p++) {
		if (is_space(*p) || *p == '\0') {
			if (n && title[n - 1] != ' ')
				title[n++] = ' ';
		} else {
			title[n++] = *p;
		}
	}
	while (n && title[n - 1] == ' ')
		n--;
	title[n] = '\0';
	numlen = (size_t)snprintf(number, sizeof(number), "%ld", status);
	/* A byte loop, not memmove: valgrind takes the fortified memmove
	 * of this glibc for a memcpy and reports the overlap. */
	if (strncmp(title, number, numlen) == 0 && title[numlen] == ' ')
		for (size_t i = 0; i + numlen < n; i++)
			title[i] = title[i + numlen + 1];
}

static void html_line(long status, const char *body, size_t len, char *buf,
		      size_t buflen)
{
	char title[1024], shown[SHOWN_MAX];

	html_title(status, body, len, title, sizeof(title));
	if (!*title) {
		snprintf(buf, buflen, "HTTP %ld (HTML page from the server)",
			 status);
		return;
	}
	aml_text_escape(title, shown, sizeof(shown));
	snprintf(buf, buflen, "HTTP %ld %s (HTML page from the server)", status,
		 shown);
}

/* The first line that holds more than blanks. */
static void text_line(long status, const char *body, size_t len, char *buf,
		      size_t buflen)
{
	const char *p = body, *end = body + len;
	char shown[SHOWN_MAX];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;

		while (p < e && is_space(*p))
			p++;
		while (e > p && is_space(e[-1]))
			e--;
		if (e > p) {
			show(p, (size_t)(e - p), shown);
			snprintf(buf, buflen, "HTTP %ld: %s", status, shown);
			return;
		}
		p = nl ? nl + 1 : end;
	}
	snprintf(buf, buflen, "HTTP %ld (empty answer)", status);
}

static int is_html(const char *content_type, const char *body)
{
	while (content_type && *content_type == ' ')
		content_type++;
	return (content_type && starts_with_ci(content_type, "text/html")) ||
	       body[0] == '<';
}

void aml_mlflow_error_line(long http_status, const char *content_type,
			   const char *body, size_t len, char *buf,
			   size_t buflen)
{
	const char *p = body, *end = body ? body + len : NULL;

	if (!buf || buflen == 0)
		return;
	while (p && p < end && is_space(*p))
		p++;
	if (!p || p == end) {
		snprintf(buf, buflen, "HTTP %ld (empty answer)", http_status);
		return;
	}
	if (*p == '{' &&
	    json_error_line(http_status, p, (size_t)(end - p), buf, buflen) == 0)
		return;
	if (is_html(content_type, p))
		html_line(http_status, p, (size_t)(end - p), buf, buflen);
	else
		text_line(http_status, p, (size_t)(end - p), buf, buflen);
}

static int azure_throttled(const char *body, size_t len)
{
	cJSON *json;
	const cJSON *code;
	int throttled;

	while (len && is_space(*body)) {
		body++;
		len--;
	}
	if (!len || *body != '{')
		return 0;
	json = cJSON_ParseWithLength(body, len);
	code = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(json, "error"), "code");
	throttled = cJSON_IsString(code) &&
		    strcmp(code->valuestring, "RequestThrottled") == 0;
	cJSON_Delete(json);
	return throttled;
}

int aml_mlflow_retryable(long http_status, const char *body, size_t len)
{
	return aml_http_status_retryable(http_status) ||
	       (body && azure_throttled(body, len));
}
