/*
 * history_mlflow.c: run history on an MLflow tracking server (aml.conf
 * HistoryBackend=mlflow, HistoryURI, HistoryCredentials), the second
 * backend behind history.h.
 *
 * MLflow knows five statuses, tags, and artifacts; Azure ML's run history
 * has ten statuses, a timeline, properties, tags and outputs.  Nothing of
 * the latter is lost, it is kept in tags of the MLflow run:
 *
 *   experiment        the Azure ML experiment, by name (made when missing)
 *   run_name          the run's display name (Azure ML's), else the run
 *                     id
 *   aml.run_id        the run id, which a reader given nothing else
 *                     searches for (runs/search); a name only, since
 *                     anyone sharing the experiment can make a run of
 *                     any name: writers reach the run by its MLflow run
 *                     id, which sbatch learns when it makes the run
 *                     (mlflow_find.c, "which MLflow run is which")
 *   aml.schema        "1": marks slurm-aml's runs, for listing
 *   aml.status        the exact Azure ML status, as the events fold
 *   aml.reason        why the run ended (failed, cancelled), once ended
 *                     with a reason: in MLflow's UI beside the status
 *   mlflow.note.content  the run's description (MLflow's note)
 *   mlflow.source.git.*  git details (MLflow's own tags; also kept as
 *                     properties)
 *   params            the script's --name value arguments
 *   aml.owner_uid     the owner's uid (mlflow.user and run.info.user_id
 *                     have the name)
 *   aml.event.<attempt>.<phase>.<time>.<id>   each event, one JSON line
 *                     as in events.jsonl, under a key of its own: writers
 *                     never read a counter to add one, so racing writers
 *                     keep every event, ordered by event.h's one order
 *                     whatever order they arrived in; the first goes in
 *                     runs/create itself, and tells a create repeated
 *                     after a timeout its own run (older releases wrote
 *                     aml.event.<seq>.<id>, read the same way)
 *   aml.config.<n>    the canonical configuration, in pieces under the
 *                     servers' 5000-byte tag limit
 *   aml.property.<k>  each property, set once
 *   aml.refused.<id>  an event the state machine refused, and why
 *   any other key     the run's own tags (user-visible in MLflow's UI)
 *   status            MLflow's mapping of the status, end_time at the end
 *   artifacts         outputs/, logs/, user_logs/ through the artifact
 *                     proxy, each file streamed from its descriptor
 *
 * Every request goes through http.c (timeouts, retries with backoff on
 * 408/429/5xx); what still fails to reach the server, or is refused for
 * its credentials (401, 403), is UNAVAILABLE, and history.c spools it.  Every message is passed through the credentials'
 * redaction before anyone sees it.
 *
 * This file writes runs and reads them; finding experiments and runs is
 * mlflow_find.c, artifacts mlflow_artifacts.c, one request and its
 * verdict mlflow_call.c (mlflow_internal.h).  The state machine is applied
 * on our side, on read, from the events in the run's tags: MLflow has no
 * lock or transaction to offer, so a run's status is never read back as
 * truth.  Each writer stores its event, then reads the run and makes
 * aml.status and MLflow's status what the events fold to, reading again
 * until a read agrees (converge()): the last writer to read sees every
 * event.  Two writers racing with contradicting ends (Completed, Failed)
 * may both be stored; the fold keeps the first in event.h's order.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "artifacts.h"
#include "credentials.h"
#include "errors.h"
#include "event.h"
#include "history_backend.h"
#include "history_mlflow.h"
#include "http.h"
#include "mlflow_answer.h"
#include "mlflow_error.h"
#include "mlflow_internal.h"
#include "mlflow_request.h"
#include "mlflow_url.h"
#include "runid.h"
#include "text.h"

#define RESERVED "aml."
#define PROP_MLFLOW_RUN_ID "mlflow.run_id"
/* Below every server's tag limit (5000 up to MLflow 2.16), in bytes. */
#define CONFIG_PIECE 4000

/* How long a writer waits on the server (HistoryTimeout per request)
 * before the spool takes the write: few retries, short waits, since the
 * launcher has KillWait seconds for its whole end. */
#define CONNECT_TIMEOUT_MS 3000
#define RETRIES 2
#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 2000

/* Log [tags] or [params] (one of them) on MLflow run [id], in batches
 * the servers accept. */
static int log_batched(struct mlflow *m, const char *id,
		       const struct aml_kvlist *tags,
		       const struct aml_kvlist *params, char *errbuf,
		       size_t errlen)
{
	const struct aml_kvlist *all = tags ? tags : params;
	size_t per = tags ? AML_MLFLOW_MAX_BATCH_TAGS
			  : AML_MLFLOW_MAX_BATCH_PARAMS;

	for (size_t at = 0; at < all->count;) {
		struct aml_kvlist batch = {
			.items = all->items + at,
			.count = all->count - at < per ? all->count - at : per,
		};
		struct aml_http_response resp;
		char *body = aml_mlflow_log_batch_body(
			id, tags ? &batch : NULL, tags ? NULL : &batch, NULL, 0,
			errbuf, errlen);
		int rc;

		if (!body)
			return AML_BACKEND_REFUSED;
		rc = mf_request(m, "POST", "runs/log-batch", body, &resp,
				errbuf, errlen);
		free(body);
		aml_http_response_free(&resp);
		if (rc != AML_BACKEND_OK)
			return rc;
		at += batch.count;
	}
	return AML_BACKEND_OK;
}

static int set_tags(struct mlflow *m, const char *id,
		    const struct aml_kvlist *tags, char *errbuf, size_t errlen)
{
	return log_batched(m, id, tags, NULL, errbuf, errlen);
}

static int update_status(struct mlflow *m, const char *id,
			 enum aml_status status, int64_t end_ms,
			 char *errbuf, size_t errlen)
{
	const char *name = aml_mlflow_status(status);
	struct aml_http_response resp;
	char *body;
	int rc;

	/* The server ignores a status it does not know, silently. */
	if (!name || !aml_mlflow_status_valid(name)) {
		aml_fail(errbuf, errlen, "run history (MLflow): no MLflow "
			 "status for %s", aml_status_name(status));
		return AML_BACKEND_REFUSED;
	}
	if (!(body = aml_mlflow_update_run_body(id, name, end_ms)))
		return mf_oom(errbuf, errlen);
	rc = mf_request(m, "POST", "runs/update", body, &resp, errbuf, errlen);
	free(body);
	aml_http_response_free(&resp);
	return rc;
}

/* ---- events in tags ---- */

/*
 * The run's events as events.jsonl text (malloc'd), one line per event
 * tag, in the server's order: event.h's order is the events' own, so
 * readers and writers fold them the same whatever order they arrived in
 * or the server lists them.
 */
static char *events_text(const struct aml_mlflow_run *run)
{
	struct aml_text t = AML_TEXT_INIT;

	for (size_t i = 0; i < run->tags.count; i++) {
		const struct aml_kv *kv = &run->tags.items[i];

		if (strncmp(kv->key, TAG_EVENT, strlen(TAG_EVENT)))
			continue;
		aml_text_str(&t, kv->value);
		aml_text_str(&t, "\n");
	}
	return aml_text_finish(&t);
}

static int add_tag(struct aml_kvlist *tags, const char *key,
		   const char *value)
{
	return aml_kvlist_set(tags, key, value);
}

static int add_tagf(struct aml_kvlist *tags, const char *value,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int add_tagf(struct aml_kvlist *tags, const char *value,
		    const char *fmt, ...)
{
	char key[AML_MLFLOW_MAX_KEY + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(key)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return aml_kvlist_set(tags, key, value);
}

/*
 * The event's tag into [tags].  Its key is its own: every writer of a run
 * (sbatch, each node, the launcher, the finalizer, aml-run) adds its
 * events without reading a counter first, so two never take the same key,
 * and the key sorts as event.h orders events (attempt, phase, time) for
 * whoever reads the tags in MLflow's UI.
 */
static int event_tags(struct aml_kvlist *tags, const struct aml_event *ev)
{
	char *line = aml_event_encode(ev);
	int rc;

	if (!line)
		return -1;
	line[strcspn(line, "\n")] = '\0';
	rc = add_tagf(tags, line, TAG_EVENT "%03u.%u.%013lld.%s",
		      ev->attempt % 1000, aml_status_phase(ev->status),
		      (long long)(ev->time_ms < 0 ? 0 : ev->time_ms), ev->id);
	free(line);
	return rc;
}

/* ---- what the run shows ---- */

/* Reads after a write before a writer leaves the status to the next one:
 * each round is a read, and another round is needed only when a writer
 * raced this one between its write and its read. */
#define CONVERGE_ROUNDS 4

/* The fold of the events in [text] (events_text's), with [extra] (one
 * more, not yet stored) if non-NULL.  Returns 0, or -1 when memory runs
 * out. */
static int fold_events(const char *text, const struct aml_event *extra,
		       struct aml_run_state *st)
{
	char *line = extra ? aml_event_encode(extra) : NULL, *all;
	struct aml_text t = AML_TEXT_INIT;
	int ok;

	aml_run_state_init(st);
	aml_text_str(&t, text);
	if (line)
		aml_text_str(&t, line);
	all = aml_text_finish(&t);
	ok = all && (!extra || line);
	if (ok)
		aml_run_state_fold(st, all, strlen(all));
	free(all);
	free(line);
	return ok ? 0 : -1;
}

/* The fold of [run]'s events. */
static int fold_run(const struct aml_mlflow_run *run, struct aml_run_state *st)
{
	char *text = events_text(run);
	int rc;

	if (!text) {
		aml_run_state_init(st);
		return -1;
	}
	rc = fold_events(text, NULL, st);
	free(text);
	return rc;
}

/* Whether [run] shows the state [st]: aml.status, MLflow's status and,
 * once ended, MLflow's end time. */
static int shows(const struct aml_mlflow_run *run,
		 const struct aml_run_state *st)
{
	const char *tag = aml_kvlist_get(&run->tags, TAG_STATUS);
	const char *mlflow = aml_mlflow_status(st->status);

	return tag && !strcmp(tag, aml_status_name(st->status)) &&
	       run->status && mlflow && !strcmp(run->status, mlflow) &&
	       (!aml_status_is_terminal(st->status) ||
		run->end_ms == st->ended_ms);
}

/* The tags that show [st]: aml.status, and why it ended, once ended. */
static int status_tags(struct aml_kvlist *tags, const struct aml_run_state *st)
{
	if (add_tag(tags, TAG_STATUS, aml_status_name(st->status)) < 0)
		return -1;
	if (aml_status_is_terminal(st->status) && st->reason &&
	    add_tag(tags, TAG_REASON, st->reason) < 0)
		return -1;
	return 0;
}

/* Write what [st] shows on MLflow run [id]. */
static int show(struct mlflow *m, const char *id,
		const struct aml_run_state *st, char *errbuf, size_t errlen)
{
	struct aml_kvlist tags = { 0 };
	int rc;

	if (status_tags(&tags, st) < 0) {
		aml_kvlist_free(&tags);
		return mf_oom(errbuf, errlen);
	}
	rc = set_tags(m, id, &tags, errbuf, errlen);
	aml_kvlist_free(&tags);
	if (rc == AML_BACKEND_OK)
		rc = update_status(m, id, st->status,
				   aml_status_is_terminal(st->status)
					   ? st->ended_ms
					   : -1,
				   errbuf, errlen);
	return rc;
}

/*
 * Make what the run shows agree with its events, from [*run] as read
 * after this writer's own event was stored, reading again after each
 * correction.  MLflow has no transaction across requests and writers
 * race, but each of them reads only after storing its event and folds
 * in event.h's one order: the last read of all sees every event, and
 * its writer stops only once the run shows their fold.
 */
static int converge(struct mlflow *m, struct aml_mlflow_run *run,
		    char *errbuf, size_t errlen)
{
	for (int round = 1;; round++) {
		struct aml_mlflow_run fresh;
		struct aml_run_state st;
		int rc, same;

		if (fold_run(run, &st) < 0)
			return mf_oom(errbuf, errlen);
		same = shows(run, &st);
		rc = same ? AML_BACKEND_OK
			  : show(m, run->run_id, &st, errbuf, errlen);
		aml_run_state_free(&st);
		if (same || rc != AML_BACKEND_OK || round == CONVERGE_ROUNDS)
			return rc;
		rc = mf_get_run(m, run->run_id, &fresh, errbuf, errlen);
		if (rc == 1)
			return AML_BACKEND_OK; /* deleted meanwhile */
		if (rc != AML_BACKEND_OK)
			return rc;
		aml_mlflow_run_free(run);
		*run = fresh;
	}
}

/* ---- writers ---- */

/* Whether [key] is the user's to set: not one of slurm-aml's own. */
static int user_key_ok(const char *key, char *errbuf, size_t errlen)
{
	char shown[96];

	if (!strncmp(key, RESERVED, strlen(RESERVED))) {
		aml_text_escape(key, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "run history (MLflow): tag "
				"\"%s\": keys starting with \"aml.\" are "
				"slurm-aml's own", shown);
	}
	return aml_mlflow_check_key("tag", key, errbuf, errlen);
}

/* The configuration in pieces at UTF-8 boundaries. */
/* The length of the longest head of [s] ([len] bytes) that is at most
 * [max] bytes and ends on a UTF-8 character boundary. */
static size_t utf8_head(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

static int config_tags(struct aml_kvlist *tags, const char *config)
{
	size_t len = strlen(config), at = 0;
	unsigned piece = 0;

	while (at < len) {
		size_t take = utf8_head(config + at, len - at, CONFIG_PIECE);
		char *part;
		int rc;

		if (!take || !(part = strndup(config + at, take)))
			return -1;
		rc = add_tagf(tags, part, TAG_CONFIG "%03u", piece++);
		free(part);
		if (rc < 0)
			return -1;
		at += take;
	}
	return 0;
}

/* [value] cut to at most [max] bytes at a UTF-8 boundary, malloc'd. */
static char *cut_utf8(const char *value, size_t max)
{
	return strndup(value, utf8_head(value, strlen(value), max));
}

/*
 * The script's arguments as MLflow params, as a reader of MLflow expects
 * them (what argparse would make of them): "--lr 0.01" and "--lr=0.01"
 * give lr = 0.01, a "--flag" followed by another option or nothing gives
 * flag = true.  Positional arguments are not params.  A name seen twice
 * keeps its first value (MLflow refuses to change a param), and what
 * MLflow would refuse as a name or value is left out: arguments never
 * stop a run from being recorded.
 */
static int argument_params(const cJSON *arguments, struct aml_kvlist *params)
{
	int n = cJSON_GetArraySize(arguments);
	char err[256];

	for (int i = 0; i < n; i++) {
		const char *a = cJSON_GetStringValue(
			cJSON_GetArrayItem(arguments, i));
		const char *next = i + 1 < n ? cJSON_GetStringValue(
			cJSON_GetArrayItem(arguments, i + 1)) : NULL;
		const char *eq, *value = "true";
		char *name;
		int rc = 0;

		if (!a || strncmp(a, "--", 2) || !a[2])
			continue;
		eq = strchr(a + 2, '=');
		if (eq) {
			value = eq + 1;
		} else if (next && (next[0] != '-' ||
				    (next[1] >= '0' && next[1] <= '9'))) {
			value = next;
			i++;
		}
		name = eq ? strndup(a + 2, (size_t)(eq - a - 2)) : strdup(a + 2);
		if (!name)
			return -1;
		if (*name && !aml_kvlist_get(params, name) &&
		    aml_mlflow_check_key("param", name, err, sizeof(err)) == 0 &&
		    aml_mlflow_check_param_value(name, value, err,
						 sizeof(err)) == 0)
			rc = aml_kvlist_set(params, name, value);
		free(name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/*
 * What MLflow's own fields carry of the run (its UI and search read
 * them): the description as the run's note, git details as MLflow's own
 * source tags (also kept as properties), and the arguments as params.
 */
static int mlflow_fields(const cJSON *config,
			 const struct aml_kvlist *properties,
			 struct aml_kvlist *tags, struct aml_kvlist *params)
{
	const char *description = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(config, "description"));

	if (description && *description) {
		char *note = cut_utf8(description, AML_MLFLOW_MAX_TAG_VALUE);
		int rc = note ? add_tag(tags, "mlflow.note.content", note) : -1;

		free(note);
		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; properties && i < properties->count; i++) {
		const struct aml_kv *kv = &properties->items[i];

		if (!strncmp(kv->key, "mlflow.source.git.", 18) &&
		    add_tag(tags, kv->key, kv->value) < 0)
			return -1;
	}
	return argument_params(cJSON_GetObjectItemCaseSensitive(config,
								"arguments"),
			       params);
}

static char *user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *found = NULL;
	char pwbuf[4096];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found)
		snprintf(buf, len, "%s", found->pw_name);
	else
		snprintf(buf, len, "%u", (unsigned)uid);
	return buf;
}

static int mlflow_create_run(void *self, const struct aml_run_new *req,
			     char *errbuf, size_t errlen)
{
	struct mlflow *m = self;
	struct aml_kvlist first = { 0 }, rest = { 0 }, params = { 0 };
	struct aml_mlflow_runs found = { 0 };
	struct aml_mlflow_run run = { 0 };
	struct aml_http_response resp;
	char *exp_id = NULL, *body = NULL, *shown_name = NULL;
	char uid[16];
	const char *script, *display;
	cJSON *config = NULL;
	int rc;

	rc = mf_experiment_id(m, req->experiment, 1, &exp_id, errbuf, errlen);
	if (rc != 0)
		return rc;
	rc = mf_runs_named(m, (const char *const *)&exp_id, 1, req->run_id,
			   &found, errbuf, errlen);
	if (rc != 0)
		goto done;
	if (mf_made_by(&found, req->first->id, &run) != 0) {
		/* The run's identity and its first event go in the create
		 * itself, so the run is never on the server without them. */
		snprintf(uid, sizeof(uid), "%u", (unsigned)m->uid);
		config = cJSON_Parse(req->config_json);
		script = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(config, "script"));
		display = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(config,
							 "display_name"));
		if (add_tag(&first, TAG_RUN_ID, req->run_id) < 0 ||
		    add_tag(&first, TAG_SCHEMA, "1") < 0 ||
		    add_tag(&first, TAG_UID, uid) < 0 ||
		    add_tag(&first, "mlflow.user", m->user) < 0 ||
		    add_tag(&first, "mlflow.source.type", "JOB") < 0 ||
		    (script && add_tag(&first, "mlflow.source.name", script) < 0) ||
		    event_tags(&first, req->first) < 0 ||
		    add_tag(&first, TAG_STATUS,
			    aml_status_name(req->first->status)) < 0) {
			rc = mf_oom(errbuf, errlen);
			goto done;
		}
		/* The name MLflow shows is the run's display name, as
		 * Azure ML shows it; the run id stays its tag. */
		shown_name = cut_utf8(display && *display ? display
							  : req->run_id,
				      AML_MLFLOW_MAX_KEY);
		body = shown_name ? aml_mlflow_create_run_body(
					    exp_id, shown_name, m->user,
					    req->first->time_ms, &first)
				  : NULL;
		if (!body) {
			rc = mf_oom(errbuf, errlen);
			goto done;
		}
		rc = mf_request(m, "POST", "runs/create", body, &resp, errbuf,
				errlen);
		if (rc == AML_BACKEND_OK &&
		    aml_mlflow_parse_run("runs/create", resp.body,
					 resp.body_len, &run, errbuf,
					 errlen) < 0)
			rc = AML_BACKEND_REFUSED;
		aml_http_response_free(&resp);
		if (rc != AML_BACKEND_OK)
			goto done;
	}
	/* Every later write of this process reaches this run by its id. */
	rc = mf_bind(m, req->run_id, run.run_id, errbuf, errlen);
	if (rc != 0)
		goto done;
	/* Everything else, idempotently: a replay sets the same values. */
	if (!config)
		config = cJSON_Parse(req->config_json);
	if (config_tags(&rest, req->config_json) < 0 ||
	    add_tagf(&rest, run.run_id, TAG_PROPERTY "%s",
		     PROP_MLFLOW_RUN_ID) < 0 ||
	    mlflow_fields(config, req->properties, &rest, &params) < 0) {
		rc = mf_oom(errbuf, errlen);
		goto done;
	}
	for (size_t i = 0; req->properties && i < req->properties->count; i++)
		if (add_tagf(&rest, req->properties->items[i].value,
			     TAG_PROPERTY "%s",
			     req->properties->items[i].key) < 0) {
			aml_fail(errbuf, errlen, "run history (MLflow): "
				 "property %s: longer than a tag key may be",
				 req->properties->items[i].key);
			rc = AML_BACKEND_REFUSED;
			goto done;
		}
	for (size_t i = 0; req->tags && i < req->tags->count; i++) {
		if (user_key_ok(req->tags->items[i].key, errbuf, errlen) < 0) {
			rc = AML_BACKEND_REFUSED;
			goto done;
		}
		if (add_tag(&rest, req->tags->items[i].key,
			    req->tags->items[i].value) < 0) {
			rc = mf_oom(errbuf, errlen);
			goto done;
		}
	}
	rc = set_tags(m, run.run_id, &rest, errbuf, errlen);
	if (rc == AML_BACKEND_OK)
		rc = log_batched(m, run.run_id, NULL, &params, errbuf,
				 errlen);
	if (rc == AML_BACKEND_OK)
		rc = update_status(m, run.run_id, req->first->status, -1,
				   errbuf, errlen);
done:
	cJSON_Delete(config);
	aml_kvlist_free(&first);
	aml_kvlist_free(&rest);
	aml_kvlist_free(&params);
	free(shown_name);
	aml_mlflow_runs_free(&found);
	aml_mlflow_run_free(&run);
	free(body);
	free(exp_id);
	return rc;
}

/* Keep a refused event where the file backend keeps it (refused.jsonl):
 * with the run, saying why.  Best effort: the refusal stands anyway. */
static void keep_refused(struct mlflow *m, const char *id,
			 const struct aml_event *ev, const char *why)
{
	struct aml_kvlist tags = { 0 };
	char *line = aml_event_encode(ev), *value = NULL, err[256];
	cJSON *rec = cJSON_CreateObject();

	if (line)
		line[strcspn(line, "\n")] = '\0';
	if (rec && line && cJSON_AddStringToObject(rec, "refused", why) &&
	    cJSON_AddRawToObject(rec, "event", line) &&
	    (value = cJSON_PrintUnformatted(rec)) &&
	    strlen(value) <= AML_MLFLOW_MAX_TAG_VALUE &&
	    add_tagf(&tags, value, TAG_REFUSED "%s", ev->id) == 0)
		set_tags(m, id, &tags, err, sizeof(err));
	aml_kvlist_free(&tags);
	cJSON_Delete(rec);
	free(value);
	free(line);
}

static int mlflow_record(void *self, const char *experiment,
			 const char *run_id, const struct aml_event *ev,
			 char *errbuf, size_t errlen)
{
	struct mlflow *m = self;
	struct aml_mlflow_run run = { 0 };
	struct aml_run_state st;
	struct aml_kvlist tags = { 0 };
	char *exp_id = NULL, *text = NULL;
	int rc;

	aml_run_state_init(&st);
	rc = mf_named_run(m, experiment, run_id, &exp_id, &run, errbuf, errlen);
	if (rc != 0)
		goto done;
	if (!(text = events_text(&run))) {
		rc = mf_oom(errbuf, errlen);
		goto done;
	}
	switch (aml_events_admit(text, strlen(text), ev, run_id, errbuf,
				 errlen)) {
	case AML_ADMIT_YES:
		break;
	case AML_ADMIT_ALREADY:
		/* A writer that stored it may have died before showing it. */
		rc = converge(m, &run, errbuf, errlen);
		if (rc == AML_BACKEND_OK)
			rc = AML_BACKEND_UNCHANGED;
		goto done;
	default:
		keep_refused(m, run.run_id, ev, errbuf);
		rc = AML_BACKEND_REFUSED;
		goto done;
	}
	/* The event and what the run shows with it, in one request; then
	 * MLflow's own status; then a read, which a racing writer's event
	 * may make differ. */
	if (fold_events(text, ev, &st) < 0 || event_tags(&tags, ev) < 0 ||
	    status_tags(&tags, &st) < 0) {
		rc = mf_oom(errbuf, errlen);
		goto done;
	}
	rc = set_tags(m, run.run_id, &tags, errbuf, errlen);
	if (rc == AML_BACKEND_OK)
		rc = update_status(m, run.run_id, st.status,
				   aml_status_is_terminal(st.status)
					   ? st.ended_ms
					   : -1,
				   errbuf, errlen);
	/* A failure from here on leaves the event stored: its replay finds
	 * it there and shows it. */
	if (rc == AML_BACKEND_OK) {
		struct aml_mlflow_run fresh;

		rc = mf_get_run(m, run.run_id, &fresh, errbuf, errlen);
		if (rc == AML_BACKEND_OK) {
			aml_mlflow_run_free(&run);
			run = fresh;
			rc = converge(m, &run, errbuf, errlen);
		} else if (rc == 1) {
			rc = AML_BACKEND_OK; /* deleted meanwhile */
		}
	}
done:
	aml_run_state_free(&st);
	aml_kvlist_free(&tags);
	aml_mlflow_run_free(&run);
	free(text);
	free(exp_id);
	return rc;
}

static int mlflow_add_properties(void *self, const char *experiment,
				 const char *run_id,
				 const struct aml_kvlist *properties,
				 char *errbuf, size_t errlen)
{
	struct mlflow *m = self;
	struct aml_mlflow_run run = { 0 };
	struct aml_kvlist add = { 0 };
	char *exp_id = NULL, key[AML_MLFLOW_MAX_KEY + 1];
	int rc;

	rc = mf_named_run(m, experiment, run_id, &exp_id, &run, errbuf, errlen);
	if (rc != 0)
		goto done;
	/* Every key is judged before any is set: all or nothing. */
	for (size_t i = 0; properties && i < properties->count; i++) {
		const struct aml_kv *kv = &properties->items[i];
		const char *old;
		char k[96], o[96];

		if ((size_t)snprintf(key, sizeof(key), TAG_PROPERTY "%s",
				     kv->key) >= sizeof(key)) {
			aml_text_escape(kv->key, k, sizeof(k));
			aml_fail(errbuf, errlen, "run history (MLflow): "
				 "property \"%s\": longer than a tag key may "
				 "be", k);
			rc = AML_BACKEND_REFUSED;
			goto done;
		}
		if (aml_mlflow_check_key("property", key, errbuf, errlen) < 0 ||
		    aml_mlflow_check_tag_value(key, kv->value, errbuf,
					       errlen) < 0) {
			rc = AML_BACKEND_REFUSED;
			goto done;
		}
		old = aml_kvlist_get(&run.tags, key);
		if (old && strcmp(old, kv->value)) {
			aml_text_escape(kv->key, k, sizeof(k));
			aml_text_escape(old, o, sizeof(o));
			aml_fail(errbuf, errlen, "run history: run %s: property "
				 "%s is already \"%s\"; properties never "
				 "change (use a tag for a value that does)",
				 run_id, k, o);
			rc = AML_BACKEND_REFUSED;
			goto done;
		}
		if (!old && aml_kvlist_set(&add, key, kv->value) < 0) {
			rc = mf_oom(errbuf, errlen);
			goto done;
		}
	}
	rc = add.count ? set_tags(m, run.run_id, &add, errbuf, errlen)
		       : AML_BACKEND_UNCHANGED;
done:
	aml_kvlist_free(&add);
	aml_mlflow_run_free(&run);
	free(exp_id);
	return rc;
}

static int mlflow_set_tags(void *self, const char *experiment,
			   const char *run_id, const struct aml_kvlist *set,
			   const struct aml_strlist *remove, char *errbuf,
			   size_t errlen)
{
	struct mlflow *m = self;
	struct aml_mlflow_run run = { 0 };
	char *exp_id = NULL;
	int rc;

	for (size_t i = 0; set && i < set->count; i++)
		if (user_key_ok(set->items[i].key, errbuf, errlen) < 0 ||
		    aml_mlflow_check_tag_value(set->items[i].key,
					       set->items[i].value, errbuf,
					       errlen) < 0)
			return AML_BACKEND_REFUSED;
	for (size_t i = 0; remove && i < remove->count; i++)
		if (user_key_ok(remove->items[i], errbuf, errlen) < 0)
			return AML_BACKEND_REFUSED;
	rc = mf_named_run(m, experiment, run_id, &exp_id, &run, errbuf, errlen);
	if (rc != 0)
		goto done;
	if (set && set->count)
		rc = set_tags(m, run.run_id, set, errbuf, errlen);
	for (size_t i = 0; rc == AML_BACKEND_OK && remove && i < remove->count;
	     i++) {
		struct aml_http_response resp;
		char *body;

		if (!aml_kvlist_get(&run.tags, remove->items[i]))
			continue; /* removing what is not there: done */
		if (!(body = aml_mlflow_delete_tag_body(run.run_id,
							remove->items[i]))) {
			rc = mf_oom(errbuf, errlen);
			break;
		}
		rc = mf_request(m, "POST", "runs/delete-tag", body, &resp,
				errbuf, errlen);
		free(body);
		aml_http_response_free(&resp);
	}
done:
	aml_mlflow_run_free(&run);
	free(exp_id);
	return rc;
}

struct upload {
	struct mlflow *m;
	const char *url;   /* the run's artifact root */
	const char *src;   /* the walk's top, replaced by [dest] */
	const char *dest;
	int verdict;
};

static int upload_file(void *arg, const char *path, int fd,
		       const struct stat *st, char *errbuf, size_t errlen)
{
	struct upload *u = arg;
	struct aml_http_response resp;
	char *target = aml_mlflow_artifact_file_url(u->url, path), err[1024];
	int rc;

	(void)st;
	if (!target) {
		u->verdict = mf_oom(errbuf, errlen);
		return -1;
	}
	rc = aml_http_upload(u->m->http, target, fd,
			     "application/octet-stream", &resp, err,
			     sizeof(err));
	free(target);
	if (rc == AML_HTTP_ANSWER && resp.status / 100 == 2) {
		aml_http_response_free(&resp);
		return 0;
	}
	u->verdict = rc == AML_HTTP_UNAVAILABLE ? AML_BACKEND_UNAVAILABLE
						: AML_BACKEND_REFUSED;
	mf_transfer_failed(u->m, "uploading ", path, rc, &resp, err, errbuf,
			   errlen);
	aml_http_response_free(&resp);
	return -1;
}

/* The artifact root URL of the run [run_id] names, into [*url]: the
 * backend verdict; [*url] set only when OK. */
static int named_artifact_root(struct mlflow *m, const char *experiment,
			       const char *run_id, char **url, char *errbuf,
			       size_t errlen)
{
	struct aml_mlflow_run run = { 0 };
	char *exp_id = NULL;
	int rc;

	*url = NULL;
	rc = mf_named_run(m, experiment, run_id, &exp_id, &run, errbuf, errlen);
	if (rc != 0)
		goto done;
	if (!run.artifact_uri) {
		aml_fail(errbuf, errlen, "run history (MLflow): run %s has no "
			 "artifact_uri", run_id);
		rc = AML_BACKEND_REFUSED;
	} else if (aml_mlflow_artifact_url(m->base, run.artifact_uri, url,
					   errbuf, errlen) < 0) {
		rc = AML_BACKEND_REFUSED;
	}
done:
	aml_mlflow_run_free(&run);
	free(exp_id);
	return rc;
}

static int mlflow_upload(void *self, const char *experiment,
			 const char *run_id, int root_fd, const char *src,
			 const char *dest, struct aml_artifact_stats *stats,
			 char *errbuf, size_t errlen)
{
	struct mlflow *m = self;
	struct upload u = { .m = m, .src = src, .dest = dest,
			    .verdict = AML_BACKEND_OK };
	char *url = NULL;
	int rc;

	rc = named_artifact_root(m, experiment, run_id, &url, errbuf, errlen);
	if (rc != 0)
		return rc;
	u.url = url;
	if (aml_artifacts_walk(root_fd, src, dest, upload_file, &u, stats,
			       errbuf, errlen) < 0)
		rc = u.verdict != AML_BACKEND_OK ? u.verdict
						 : AML_BACKEND_REFUSED;
	else
		rc = AML_BACKEND_OK;
	free(url);
	return rc;
}

/* A tracking server stores an artifact whole: a live log is put again,
 * as far as it has come, over the last copy. */
static int mlflow_put_log(void *self, const char *experiment,
			  const char *run_id, const char *name, int fd,
			  long long len, char *errbuf, size_t errlen)
{
	struct mlflow *m = self;
	struct aml_http_response resp;
	char *url = NULL, *path = NULL, *target = NULL, err[1024];
	int rc;

	rc = named_artifact_root(m, experiment, run_id, &url, errbuf, errlen);
	if (rc != 0)
		return rc;
	if (asprintf(&path, "user_logs/%s", name) < 0) {
		path = NULL;
		rc = mf_oom(errbuf, errlen);
		goto done;
	}
	if (!(target = aml_mlflow_artifact_file_url(url, path))) {
		rc = mf_oom(errbuf, errlen);
		goto done;
	}
	rc = aml_http_upload_prefix(m->http, target, fd, len, "text/plain",
				    &resp, err, sizeof(err));
	if (rc == AML_HTTP_ANSWER && resp.status / 100 == 2) {
		rc = AML_BACKEND_OK;
	} else {
		mf_transfer_failed(m, "uploading ", path, rc, &resp, err,
				   errbuf, errlen);
		rc = rc == AML_HTTP_UNAVAILABLE ? AML_BACKEND_UNAVAILABLE
						: AML_BACKEND_REFUSED;
	}
	aml_http_response_free(&resp);
done:
	free(target);
	free(path);
	free(url);
	return rc;
}

/* ---- readers ---- */

static int run_config_of(const struct aml_mlflow_run *run, char **config)
{
	struct aml_text t = AML_TEXT_INIT;

	for (unsigned piece = 0;; piece++) {
		char key[32];
		const char *part;

		snprintf(key, sizeof(key), TAG_CONFIG "%03u", piece);
		if (!(part = aml_kvlist_get(&run->tags, key)))
			break;
		aml_text_str(&t, part);
	}
	*config = aml_text_finish(&t);
	return *config ? 0 : -1;
}

/* The run's record as history.h gives it. */
static int info_of(const struct aml_mlflow_run *run, const char *experiment,
		   int with_config, struct aml_run_info *info)
{
	const char *owner = mf_owner_of(run);
	const char *uid = aml_kvlist_get(&run->tags, TAG_UID);
	const char *run_id = aml_kvlist_get(&run->tags, TAG_RUN_ID);
	char *text = NULL;
	size_t plen = strlen(TAG_PROPERTY);

	memset(info, 0, sizeof(*info));
	aml_run_state_init(&info->state);
	info->uid = uid ? (uid_t)strtoul(uid, NULL, 10) : (uid_t)-1;
	if (!(info->experiment = strdup(experiment ? experiment : "")) ||
	    !(info->run_id = strdup(run_id ? run_id : run->run_name
					 ? run->run_name : "")) ||
	    !(info->owner = strdup(strcmp(owner, "?") || !uid ? owner
								   : uid)) ||
	    !(info->key = strdup(run->run_id)) ||
	    (with_config && run_config_of(run, &info->config_json) < 0) ||
	    !(text = events_text(run)) ||
	    aml_run_events(text, strlen(text), &info->state, &info->events,
			   &info->n_events) < 0)
		goto failed;
	free(text);
	text = NULL;
	for (size_t i = 0; i < run->tags.count; i++) {
		const struct aml_kv *kv = &run->tags.items[i];

		if (!strncmp(kv->key, TAG_PROPERTY, plen)) {
			if (aml_kvlist_set(&info->properties, kv->key + plen,
					   kv->value) < 0)
				goto failed;
		} else if (strncmp(kv->key, RESERVED, strlen(RESERVED)) &&
			   strncmp(kv->key, "mlflow.", 7)) {
			if (aml_kvlist_set(&info->tags, kv->key, kv->value) < 0)
				goto failed;
		}
	}
	return 0;
failed:
	free(text);
	aml_run_info_free(info);
	return -1;
}

/*
 * A reader's run: the bound one (aml-run binds what it read, the
 * finalizer the job's); the one an MLflow run id given in place of the
 * run id names, when it is one of ours; else by name, in every experiment
 * (choose_run: never one of several silently).
 */
static int find_read_run(struct mlflow *m, const char *run_id,
			 const struct aml_mlflow_experiments *all,
			 struct aml_mlflow_run *run, char *errbuf,
			 size_t errlen)
{
	struct aml_mlflow_runs found = { 0 };
	const char *key = mf_key_of(m, run_id);
	const char **ids;
	size_t n = 0;
	int rc;

	if (key)
		return mf_keyed_run(m, key, run_id, run, errbuf, errlen);
	if (aml_runid_is_tracking_id(run_id)) {
		rc = mf_get_run(m, run_id, run, errbuf, errlen);
		if (rc != 1 && (rc != 0 || aml_kvlist_get(&run->tags,
							   TAG_RUN_ID)))
			return rc;
		aml_mlflow_run_free(run);
	}
	if (!(ids = mf_experiment_ids(all, NULL, &n)))
		return mf_oom(errbuf, errlen);
	rc = mf_runs_named(m, ids, n, run_id, &found, errbuf, errlen);
	if (rc == 0)
		rc = mf_choose_run(m, &found, run_id, 0, all, run, errbuf,
				   errlen);
	aml_mlflow_runs_free(&found);
	free(ids);
	return rc;
}

static int mlflow_read_run(void *self, const char *run_id, int with_config,
			   struct aml_run_info *info, char *errbuf,
			   size_t errlen)
{
	struct mlflow *m = self;
	struct aml_mlflow_experiments all = { 0 };
	struct aml_mlflow_run run = { 0 };
	int rc;

	/* The listing names the run's experiment, and lets a search by
	 * name look in every one. */
	rc = mf_all_experiments(m, &all, errbuf, errlen);
	if (rc == 0)
		rc = find_read_run(m, run_id, &all, &run, errbuf, errlen);
	if (rc == 1) {
		errno = ENOENT;
		rc = aml_fail(errbuf, errlen, "run history: no run %s (looked "
			      "on the MLflow server %s)", run_id, m->base);
	} else if (rc == 0 &&
		   info_of(&run, mf_experiment_name(&all, run.experiment_id),
			   with_config, info) < 0) {
		rc = aml_fail(errbuf, errlen, "out of memory");
	}
	aml_mlflow_experiments_free(&all);
	aml_mlflow_run_free(&run);
	return rc == 0 ? 0 : -1;
}

static int mlflow_list(void *self, const struct aml_run_filter *filter,
		       struct aml_run_info **runs, size_t *n, char *errbuf,
		       size_t errlen)
{
	struct mlflow *m = self;
	struct aml_mlflow_experiments all = { 0 };
	struct aml_mlflow_runs found = { 0 };
	const char **ids = NULL;
	char query[256];
	size_t n_ids = 0;
	int rc;

	*runs = NULL;
	*n = 0;
	rc = mf_all_experiments(m, &all, errbuf, errlen);
	if (rc != 0)
		return -1;
	if (!(ids = mf_experiment_ids(&all, filter->experiment, &n_ids))) {
		aml_mlflow_experiments_free(&all);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	snprintf(query, sizeof(query), "tags.\"" TAG_SCHEMA "\" = '1'");
	if (filter->since_ms > 0)
		snprintf(query + strlen(query), sizeof(query) - strlen(query),
			 " and attributes.start_time >= %lld",
			 (long long)filter->since_ms);
	rc = mf_search_runs(m, ids, n_ids, query, 0, &found, errbuf, errlen);
	if (rc == 0 && found.count &&
	    !(*runs = calloc(found.count, sizeof(**runs))))
		rc = aml_fail(errbuf, errlen, "out of memory");
	for (size_t i = 0; rc == 0 && i < found.count; i++) {
		struct aml_run_info *info = &(*runs)[*n];

		if (info_of(&found.items[i],
			    mf_experiment_name(&all,
					       found.items[i].experiment_id),
			    0, info) < 0) {
			rc = aml_fail(errbuf, errlen, "out of memory");
			break;
		}
		if ((filter->has_status && (!info->state.has_events ||
					    info->state.status !=
						    filter->status)) ||
		    (filter->user && strcmp(filter->user, info->owner))) {
			aml_run_info_free(info);
			continue;
		}
		(*n)++;
	}
	if (rc != 0) {
		for (size_t i = 0; i < *n; i++)
			aml_run_info_free(&(*runs)[i]);
		free(*runs);
		*runs = NULL;
		*n = 0;
	}
	free(ids);
	aml_mlflow_runs_free(&found);
	aml_mlflow_experiments_free(&all);
	return rc == 0 ? 0 : -1;
}

static int mlflow_job_env(void *self, const char *experiment,
			  const char *run_id, struct aml_kvlist *env,
			  char *errbuf, size_t errlen)
{
	struct mlflow *m = self;
	struct aml_mlflow_run run = { 0 };
	char *exp_id = NULL;
	int rc;

	if (!experiment)
		return aml_fail(errbuf, errlen, "run %s: no experiment name",
				run_id);
	/* Where and which experiment whatever the server's state: a script
	 * that logs then at least reaches this server, in this experiment;
	 * the run itself only when the server can say which it is. */
	if (aml_kvlist_set(env, "MLFLOW_TRACKING_URI", m->tracking_uri) < 0 ||
	    aml_kvlist_set(env, "MLFLOW_EXPERIMENT_NAME", experiment) < 0)
		return mf_oom(errbuf, errlen);
	/* On a server that wants credentials, the script logs into its run
	 * as its user, with what this process (the user's own launcher)
	 * read from the user's own credentials file, which the user can
	 * read anyway: put only into the environment of the processes the
	 * launcher starts, which the user and root alone can read; never
	 * into run history, the run's recorded configuration, its logs or
	 * Slurm's job record (sbatch never holds them).  Not from root: its
	 * credentials are not the user's. */
	if (geteuid() != 0 && geteuid() == m->uid &&
	    ((m->creds.username && m->creds.password)
		     ? aml_kvlist_set(env, "MLFLOW_TRACKING_USERNAME",
				      m->creds.username) < 0 ||
			       aml_kvlist_set(env, "MLFLOW_TRACKING_PASSWORD",
					      m->creds.password) < 0
		     : m->creds.token &&
			       aml_kvlist_set(env, "MLFLOW_TRACKING_TOKEN",
					      m->creds.token) < 0))
		return mf_oom(errbuf, errlen);
	rc = mf_named_run(m, experiment, run_id, &exp_id, &run, errbuf, errlen);
	if (rc == 0 &&
	    (aml_kvlist_set(env, "MLFLOW_RUN_ID", run.run_id) < 0 ||
	     (exp_id && aml_kvlist_set(env, "MLFLOW_EXPERIMENT_ID",
				       exp_id) < 0)))
		rc = mf_oom(errbuf, errlen);
	aml_mlflow_run_free(&run);
	free(exp_id);
	return rc;
}

static void mlflow_close(void *self)
{
	struct mlflow *m = self;

	if (!m)
		return;
	aml_http_close(m->http);
	aml_credentials_header_free(m->auth);
	aml_credentials_free(&m->creds);
	for (size_t i = 0; i < m->n_bound; i++) {
		free(m->bound[i].run_id);
		free(m->bound[i].key);
	}
	free(m->bound);
	free(m->base);
	free(m->tracking_uri);
	free(m);
}

static int mlflow_unanswered(void *self)
{
	return aml_http_unanswered(((struct mlflow *)self)->http);
}

static const struct aml_history_ops mlflow_ops = {
	.name = "mlflow",
	.create_run = mlflow_create_run,
	.record = mlflow_record,
	.add_properties = mlflow_add_properties,
	.set_tags = mlflow_set_tags,
	.upload = mlflow_upload,
	.put_log = mlflow_put_log,
	.read_run = mlflow_read_run,
	.list = mlflow_list,
	.list_artifacts = mf_list_artifacts,
	.open_artifact = mf_open_artifact,
	.download = mf_download,
	.bind = mf_bind,
	.key_of = mf_key_of,
	.job_env = mlflow_job_env,
	.unanswered = mlflow_unanswered,
	.close = mlflow_close,
};

/*
 * HistoryCredentials: an absolute path, or "~/..." in the home of the
 * process's own user (each user writes as themselves; root, the
 * finalizer, reads root's).  A "~/" file that does not exist means no
 * credentials: a server without auth, or a user who has none yet (the
 * server then says 401).
 */
static int load_credentials(struct mlflow *m, const char *path,
			    char *errbuf, size_t errlen)
{
	char full[4096];

	if (!path)
		return 0;
	if (!strncmp(path, "~/", 2)) {
		struct passwd pw, *found = NULL;
		char buf[4096];

		if (getpwuid_r(m->uid, &pw, buf, sizeof(buf), &found) != 0 ||
		    !found)
			return aml_fail(errbuf, errlen, "HistoryCredentials: "
					"no home directory for uid %u",
					(unsigned)m->uid);
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", pw.pw_dir,
				     path + 2) >= sizeof(full))
			return aml_fail(errbuf, errlen, "HistoryCredentials: "
					"path too long");
		if (access(full, F_OK) < 0 && errno == ENOENT)
			return 0;
		path = full;
	}
	if (aml_credentials_load(path, m->uid, &m->creds, errbuf, errlen) < 0)
		return -1;
	m->auth = aml_credentials_auth_header(&m->creds);
	return 0;
}

static int mlflow_open(const struct aml_site *site,
		       const struct aml_history_ops **ops, void **self,
		       char *errbuf, size_t errlen)
{
	struct aml_http_config cfg;
	struct mlflow *m = calloc(1, sizeof(*m));

	if (!m)
		return aml_fail(errbuf, errlen, "out of memory");
	/* The effective user is who we act as: slurmstepd runs the node
	 * side with the job user's euid (its real uid stays root). */
	m->uid = geteuid();
	user_name(m->uid, m->user, sizeof(m->user));
	if (!(m->tracking_uri = strdup(site->history_uri ? site->history_uri
							 : "")) ||
	    aml_mlflow_base_url(site->history_uri ? site->history_uri : "",
				&m->base, errbuf, errlen) < 0 ||
	    load_credentials(m, site->history_credentials, errbuf, errlen) < 0)
		goto failed;
	aml_http_config_init(&cfg);
	cfg.base_url = m->base;
	cfg.label = "MLflow server";
	cfg.auth_header = m->auth;
	cfg.timeout_ms = (long)site->history_timeout_seconds * 1000;
	cfg.connect_timeout_ms = CONNECT_TIMEOUT_MS;
	cfg.max_retries = RETRIES;
	cfg.backoff_base_ms = BACKOFF_BASE_MS;
	cfg.backoff_cap_ms = BACKOFF_CAP_MS;
	cfg.retryable = aml_mlflow_retryable;
	if (aml_http_open(&m->http, &cfg, errbuf, errlen) < 0)
		goto failed;
	*ops = &mlflow_ops;
	*self = m;
	return 0;
failed:
	if (errbuf && errlen)
		aml_credentials_redact(&m->creds, errbuf, errlen);
	mlflow_close(m);
	return -1;
}

const struct aml_history_opener aml_history_mlflow_backend = {
	.backend = AML_HISTORY_MLFLOW,
	.open = mlflow_open,
};
