/*
 * mlflow_answer.c: reading the answers of MLflow's tracking API (contract
 * in mlflow_answer.h).
 *
 * Where the contract is silent:
 *   - JSON null in an answer counts as a missing field: proto3 JSON
 *     allows it for an unset field, and some proxies write it.
 *   - A body with text after its JSON value is not one JSON object and is
 *     refused (cJSON alone would stop reading at the value's end).
 */
#include "mlflow_answer.h"
#include "errors.h"
#include "text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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

		if (!aml_ascii_is_digit((unsigned char)s[0]) &&
		    !(s[0] == '-' && aml_ascii_is_digit((unsigned char)s[1])))
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

typedef int (*item_fn)(const struct reader *r, const cJSON *obj,
		       const char *path, void *ctx, size_t i);
typedef int (*answer_fn)(const struct reader *r, const cJSON *json,
			 void *ctx);

/*
 * The answer of a listing (experiments, runs, artifacts), all alike: the
 * array [key] of objects, each read by [item] into *[items] (calloc'd
 * here, [size] bytes each; [ctx] is the list that holds it), then, when
 * not NULL, [more] for the answer's other fields, then next_page_token
 * into [*token].  0, or -1 with what was read left for the caller to
 * free.
 */
static int read_list(const struct reader *r, const char *body, size_t len,
		     const char *key, size_t size, void **items, item_fn item,
		     answer_fn more, void *ctx, char **token)
{
	cJSON *json = parse_body(r, body, len);
	const cJSON *arr;
	size_t room;
	int rc = -1;

	if (json && get_array(r, json, "", key, &arr) == 0 &&
	    alloc_items(r, arr, size, items, &room) == 0 &&
	    each_object(r, arr, key, item, ctx) == 0 &&
	    (!more || more(r, json, ctx) == 0))
		rc = get_page_token(r, json, token);
	cJSON_Delete(json);
	return rc;
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

	memset(exps, 0, sizeof(*exps));
	if (read_list(&r, body, len, "experiments", sizeof(*exps->items),
		      (void **)&exps->items, experiment_item, NULL, exps,
		      &exps->next_page_token) == 0)
		return 0;
	aml_mlflow_experiments_free(exps);
	return -1;
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

	memset(runs, 0, sizeof(*runs));
	if (read_list(&r, body, len, "runs", sizeof(*runs->items),
		      (void **)&runs->items, run_item, NULL, runs,
		      &runs->next_page_token) == 0)
		return 0;
	aml_mlflow_runs_free(runs);
	return -1;
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

/* The listing's root_uri, read before its page token. */
static int files_root(const struct reader *r, const cJSON *json, void *ctx)
{
	struct aml_mlflow_files *files = ctx;

	return get_string(r, json, "", "root_uri", 0, &files->root_uri);
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

	memset(files, 0, sizeof(*files));
	if (read_list(&r, body, len, "files", sizeof(*files->items),
		      (void **)&files->items, file_item, files_root, files,
		      &files->next_page_token) == 0)
		return 0;
	aml_mlflow_files_free(files);
	return -1;
}
