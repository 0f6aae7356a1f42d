/*
 * mlflow_request.c: what a request to MLflow's tracking API sends (contract
 * in mlflow_request.h).
 *
 * Where the contract is silent: int64 fields (times, steps) are written as
 * raw JSON text from PRId64, never through a double, so every int64 is
 * exact; doubles likewise as raw text, see aml_mlflow_add_double().
 */
#include "mlflow_request.h"
#include "errors.h"
#include "text.h"
#include "utf8.h"

#include <inttypes.h>
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

/* ---- client-side limits ---------------------------------------------- */

static int key_char_ok(int c)
{
	return aml_ascii_is_alpha(c) || aml_ascii_is_digit(c) || c == '_' ||
	       c == '/' || c == '.' || c == '-' || c == ' ';
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
