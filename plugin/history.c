/*
 * history.c: the run history interface over a backend, with the spool in
 * front of every write (see history.h).
 *
 * A write first replays whatever the caller's spool holds; only when the
 * spool is empty does it go to the backend, so a write never overtakes an
 * older one that is still waiting.  A spooled write is a JSON record
 * naming the operation, replayed through the same backend calls; each of
 * them is idempotent (events carry ids, properties are set-once, tags and
 * uploads replace), which is what makes a replay after a crash harmless.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bounded.h"
#include "breaker.h"
#include "errors.h"
#include "hangwatch.h"
#include "history.h"
#include "history_backend.h"
#include "kvjson.h"
#include "runid.h"
#include "spool.h"
#include "text.h"

struct aml_history {
	const struct aml_history_ops *ops;
	void *self;
	char *spool_dir;
	const struct aml_site *site;  /* borrowed: the owners' handles */
	/* Runs found unwritable for now, as "<uid>/<experiment>/<run_id>":
	 * owners' runs until the end of the next replay of root's spool, and
	 * the caller's own runs that answered UNAVAILABLE without run
	 * history being silent (a run whose creation has not arrived yet, a
	 * run directory turned read-only) until the write or flush that
	 * replayed them is done.  Their entries wait, in order, and are not
	 * tried again meanwhile, while other runs' go on. */
	char **stuck;
	size_t n_stuck;
};

/* Where run history is, for what aml_hangwatch_busy says an operation
 * is doing (a HistoryURI holds no credentials: site.c refuses them). */
static const char *where(const struct aml_site *site)
{
	if (site->history_backend == AML_HISTORY_MLFLOW && site->history_uri)
		return site->history_uri;
	return site->history_dir ? site->history_dir : "HistoryDir";
}

/* The backend a program registered beside the file one (history.h). */
static const struct aml_history_opener *registered;

void aml_history_register(const struct aml_history_opener *b)
{
	registered = b;
}

int aml_history_open(const struct aml_site *site, struct aml_history **hp,
		     char *errbuf, size_t errlen)
{
	struct aml_history *h;

	*hp = NULL;
	h = calloc(1, sizeof(*h));
	if (!h || !(h->spool_dir = strdup(site->spool_dir))) {
		free(h);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	/* A backend may read a file to open (MLflow's credentials, in a
	 * home that may be on NFS too). */
	aml_hangwatch_busy(0, "opening run history at %s", where(site));
	h->site = site;
	switch (site->history_backend) {
	case AML_HISTORY_FILE:
		if (aml_history_file_open(site, &h->ops, &h->self, errbuf,
					  errlen) < 0)
			goto failed;
		if (aml_history_bounded_wrap(
			    &h->ops, &h->self, site->history_dir,
			    (int64_t)site->history_timeout_seconds * 1000,
			    errbuf, errlen) < 0) {
			h->ops->close(h->self);
			goto failed;
		}
		break;
	case AML_HISTORY_MLFLOW:
		if (!registered || registered->backend != AML_HISTORY_MLFLOW) {
			aml_fail(errbuf, errlen, "%s: HistoryBackend=mlflow "
				 "(HistoryURI=%s): this program is built "
				 "without the MLflow backend",
				 site->path ? site->path : "aml.conf",
				 site->history_uri ? site->history_uri : "");
			goto failed;
		}
		if (registered->open(site, &h->ops, &h->self, errbuf,
				     errlen) < 0)
			goto failed;
		break;
	}
	*hp = h;
	aml_hangwatch_idle();
	return 0;
failed:
	aml_hangwatch_idle();
	free(h->spool_dir);
	free(h);
	return -1;
}

/* Whether the write just found UNAVAILABLE found run history silent,
 * rather than answering with an error (a 503, a read-only directory),
 * which costs a writer little and may concern one run only. */
static int silent(struct aml_history *h)
{
	return h->ops->unanswered && h->ops->unanswered(h->self);
}

static void forget_stuck(struct aml_history *h);

void aml_history_close(struct aml_history *h)
{
	if (!h)
		return;
	h->ops->close(h->self);
	forget_stuck(h);
	free(h->spool_dir);
	free(h);
}

/* ---- spooled records ---- */

/* A spooled write; with the run's key when one is bound, so the replay,
 * maybe in another process, reaches the same run. */
static cJSON *new_record(struct aml_history *h, const char *op,
			 const char *experiment, const char *run_id)
{
	const char *key = aml_history_key(h, run_id);
	cJSON *rec = cJSON_CreateObject();

	if (rec && cJSON_AddStringToObject(rec, "op", op) &&
	    cJSON_AddStringToObject(rec, "experiment", experiment) &&
	    cJSON_AddStringToObject(rec, "run_id", run_id) &&
	    (!key || cJSON_AddStringToObject(rec, "key", key)))
		return rec;
	cJSON_Delete(rec);
	return NULL;
}

static int add_event(cJSON *rec, const struct aml_event *ev)
{
	char *line = aml_event_encode(ev);
	int ok = line && cJSON_AddStringToObject(rec, "event", line);

	free(line);
	return ok ? 0 : -1;
}

static enum aml_spool_verdict apply_one(struct aml_history *h,
					const struct aml_spool_entry *e,
					const cJSON *rec, char *errbuf,
					size_t errlen);

/*
 * Replay one record of the caller's own through the backend, bound to
 * the key it was written with; the binding the writer of this process
 * holds for the same run id (another run of that name, read by aml-run)
 * is put back afterwards.
 */
static enum aml_spool_verdict apply_keyed(struct aml_history *h,
					  const cJSON *rec,
					  const struct aml_spool_entry *e,
					  char *errbuf, size_t errlen)
{
	const char *run_id = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "run_id"));
	const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "key"));
	const char *held = run_id ? aml_history_key(h, run_id) : NULL;
	char *saved = held ? strdup(held) : NULL;
	enum aml_spool_verdict v;

	if (held && !saved) {
		aml_fail(errbuf, errlen, "out of memory");
		return AML_SPOOL_RETRY;
	}
	if (key && aml_history_bind(h, run_id, key, errbuf, errlen) < 0) {
		v = AML_SPOOL_REJECTED;
	} else {
		v = apply_one(h, e, rec, errbuf, errlen);
		if (key)
			aml_history_bind(h, run_id, saved, NULL, 0);
	}
	free(saved);
	return v;
}

static enum aml_spool_verdict apply_one(struct aml_history *h,
					const struct aml_spool_entry *e,
					const cJSON *rec, char *errbuf,
					size_t errlen)
{
	const char *op = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "op"));
	const char *exp = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "experiment"));
	const char *run_id = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "run_id"));
	const char *line = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "event"));
	struct aml_event ev;
	struct aml_kvlist a = { 0 }, b = { 0 };
	struct aml_strlist remove = { 0 };
	char why[160] = "";
	int have_event = 0, r;

	memset(&ev, 0, sizeof(ev));
	if (!op || !exp || !run_id) {
		r = aml_fail(errbuf, errlen, "spool entry %s is not a run "
			     "history record", e->name);
		goto done;
	}
	if (line) {
		if (aml_event_decode(line, strlen(line), &ev, errbuf,
				     errlen) < 0) {
			r = AML_BACKEND_REFUSED;
			goto done;
		}
		have_event = 1;
	}
	if (!strcmp(op, "create") && have_event) {
		struct aml_run_new req = {
			.experiment = exp,
			.run_id = run_id,
			.config_json = cJSON_GetStringValue(
				cJSON_GetObjectItem(rec, "config")),
			.properties = &a,
			.tags = &b,
			.first = &ev,
		};

		if (!req.config_json ||
		    aml_kvlist_from_json(cJSON_GetObjectItem(rec, "properties"),
					 &a, why, sizeof(why)) < 0 ||
		    aml_kvlist_from_json(cJSON_GetObjectItem(rec, "tags"), &b,
					 why, sizeof(why)) < 0)
			r = aml_fail(errbuf, errlen, "spool entry %s: a "
				     "malformed run creation%s%s", e->name,
				     *why ? ": " : "", why);
		else
			r = h->ops->create_run(h->self, &req, errbuf, errlen);
	} else if (!strcmp(op, "event") && have_event) {
		r = h->ops->record(h->self, exp, run_id, &ev, errbuf, errlen);
	} else if (!strcmp(op, "properties")) {
		if (aml_kvlist_from_json(cJSON_GetObjectItem(rec, "properties"),
					 &a, why, sizeof(why)) < 0)
			r = aml_fail(errbuf, errlen, "spool entry %s: "
				     "malformed properties: %s", e->name, why);
		else
			r = h->ops->add_properties(h->self, exp, run_id, &a,
						   errbuf, errlen);
	} else if (!strcmp(op, "tags")) {
		const cJSON *item;

		r = aml_kvlist_from_json(cJSON_GetObjectItem(rec, "set"), &a,
					 why, sizeof(why));
		cJSON_ArrayForEach(item, cJSON_GetObjectItem(rec, "remove")) {
			char **grown;

			if (r < 0 || !cJSON_IsString(item))
				break;
			grown = realloc(remove.items, (remove.count + 1) *
						      sizeof(*grown));
			if (!grown || !(grown[remove.count] =
					strdup(item->valuestring))) {
				if (grown)
					remove.items = grown;
				r = -1;
				break;
			}
			remove.items = grown;
			remove.count++;
		}
		if (r < 0)
			r = aml_fail(errbuf, errlen, "spool entry %s: "
				     "malformed tags%s%s", e->name,
				     *why ? ": " : "", why);
		else
			r = h->ops->set_tags(h->self, exp, run_id, &a,
					     &remove, errbuf, errlen);
	} else if (!strcmp(op, "upload") && e->files_dirfd >= 0) {
		const char *dest = cJSON_GetStringValue(
			cJSON_GetObjectItem(rec, "dest"));

		/* An upload names its source below a root; a spooled one's
		 * source is the entry's files/ itself, so its root is the
		 * entry (our own directory: ".." is safe here). */
		int entry_fd = openat(e->files_dirfd, "..", O_PATH |
				      O_DIRECTORY | O_CLOEXEC);

		if (!dest)
			r = aml_fail(errbuf, errlen, "spool entry %s: an "
				     "upload without a destination", e->name);
		else if (entry_fd < 0)
			r = aml_fail(errbuf, errlen, "spool entry %s: %s",
				     e->name, strerror(errno));
		else
			r = h->ops->upload(h->self, exp, run_id, entry_fd,
					   "files", dest, NULL, errbuf, errlen);
		if (entry_fd >= 0)
			close(entry_fd);
	} else {
		r = aml_fail(errbuf, errlen, "spool entry %s: unknown "
			     "operation", e->name);
	}
done:
	aml_event_free(&ev);
	aml_kvlist_free(&a);
	aml_kvlist_free(&b);
	aml_strlist_free(&remove);
	if (r == AML_BACKEND_UNAVAILABLE)
		return AML_SPOOL_RETRY;
	if (r < 0)
		return AML_SPOOL_REJECTED;
	return AML_SPOOL_APPLIED;
}

/* ---- writing as a run's owner, from root ---- */

struct owned_write {
	const struct aml_site *site;
	const char *experiment, *run_id;
	const char *key;              /* the run's own id, when bound */
	const struct aml_event *ev;
};

/* In the child, acting as the owner: a handle of the owner's own, and
 * the event straight to the backend. */
static int write_as_owner(void *arg, char *errbuf, size_t errlen)
{
	const struct owned_write *w = arg;
	struct aml_history *h;
	enum aml_history_result r;

	/* Failing to open (credentials on a home that is away) is no
	 * refusal of the event: it is tried again later. */
	if (aml_history_open(w->site, &h, errbuf, errlen) < 0)
		return AML_HISTORY_UNAVAILABLE;
	if (w->key && aml_history_bind(h, w->run_id, w->key, errbuf,
				       errlen) < 0)
		r = AML_HISTORY_ERROR;
	else
		r = aml_history_record_direct(h, w->experiment, w->run_id,
					      w->ev, errbuf, errlen);
	aml_history_close(h);
	return r;
}

/* aml_history_record_direct as [uid]/[gid], stopped at [until]: a child
 * stopped, or one that ended without a word, is UNAVAILABLE (tried again
 * later, never dropped). */
static enum aml_history_result record_as(const struct aml_site *site,
					 uid_t uid, gid_t gid, int64_t until,
					 const char *experiment,
					 const char *run_id, const char *key,
					 const struct aml_event *ev,
					 int *timed_out, char *errbuf,
					 size_t errlen)
{
	struct owned_write w = { site, experiment, run_id, key, ev };
	char why[1024];
	int64_t started = aml_monotonic_ms();
	int r = aml_bounded_call(uid, gid, until, write_as_owner, &w, why,
				 sizeof(why));

	if (timed_out)
		*timed_out = r == AML_BOUNDED_TIMEOUT;
	switch (r) {
	case AML_HISTORY_WRITTEN:
	case AML_HISTORY_UNCHANGED:
	case AML_HISTORY_ERROR:
	case AML_HISTORY_UNAVAILABLE:
		snprintf(errbuf, errlen, "%s", why);
		return r;
	case AML_BOUNDED_TIMEOUT:
		aml_fail(errbuf, errlen, "run history: run %s: not written "
			 "within %lld ms as uid %lu (its lock is held, or the "
			 "history location hangs)", run_id,
			 (long long)(until - started), (unsigned long)uid);
		return AML_HISTORY_UNAVAILABLE;
	default:
		aml_fail(errbuf, errlen, "run history: run %s: writing as uid "
			 "%lu failed: %s", run_id, (unsigned long)uid, why);
		return AML_HISTORY_UNAVAILABLE;
	}
}

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * An entry run history answered for but did not take: KEEP it, unless it
 * has waited AML_HISTORY_KEPT_MAX_MS (then REJECTED, why in [errbuf],
 * which holds the last answer).
 */
static enum aml_spool_verdict keep_or_expire(const struct aml_spool_entry *e,
					     char *errbuf, size_t errlen)
{
	int64_t waited = realtime_ms() - aml_spool_entry_queued_ms(e);
	char last[512];

	if (waited < AML_HISTORY_KEPT_MAX_MS)
		return AML_SPOOL_KEEP;
	snprintf(last, sizeof(last), "%s", errbuf);
	aml_fail(errbuf, errlen, "not taken in %lld days, given up (%s)",
		 (long long)(waited / (24LL * 3600 * 1000)), last);
	return AML_SPOOL_REJECTED;
}

/* A replay: the handle, and when to stop. */
struct replay_ctx {
	struct aml_history *h;
	int64_t deadline_ms;   /* 0: none */
	int unavailable;       /* run history did not answer a replay */
};

static void stuck_key(char *buf, size_t len, uid_t uid,
		      const char *experiment, const char *run_id)
{
	snprintf(buf, len, "%lu/%s/%s", (unsigned long)uid, experiment,
		 run_id);
}

static int is_stuck(const struct aml_history *h, const char *key)
{
	for (size_t i = 0; i < h->n_stuck; i++)
		if (!strcmp(h->stuck[i], key))
			return 1;
	return 0;
}

/* What was stuck is worth a try again after a replay has kept it. */
static void forget_stuck(struct aml_history *h)
{
	for (size_t i = 0; i < h->n_stuck; i++)
		free(h->stuck[i]);
	free(h->stuck);
	h->stuck = NULL;
	h->n_stuck = 0;
}

/* Remember [key]; out of memory, the entry is kept anyway, and the
 * run's later ones are tried (and fail or pass) in order. */
static void add_stuck(struct aml_history *h, const char *key)
{
	char **grown;

	if (is_stuck(h, key))
		return;
	grown = realloc(h->stuck, (h->n_stuck + 1) * sizeof(*grown));
	if (!grown)
		return;
	h->stuck = grown;
	if ((h->stuck[h->n_stuck] = strdup(key)))
		h->n_stuck++;
}

/* The owner of an owned record, or -1 when it has none (0) or a bad one
 * (-1). */
static int record_owner(const cJSON *rec, uid_t *uid, gid_t *gid)
{
	const cJSON *u = cJSON_GetObjectItem(rec, "owner_uid");
	const cJSON *g = cJSON_GetObjectItem(rec, "owner_gid");

	if (!u && !g)
		return 0;
	if (!cJSON_IsNumber(u) || !cJSON_IsNumber(g) || u->valuedouble < 0 ||
	    g->valuedouble < 0 || u->valuedouble >= 4294967295.0 ||
	    g->valuedouble >= 4294967295.0 ||
	    u->valuedouble != (double)(uint32_t)u->valuedouble ||
	    g->valuedouble != (double)(uint32_t)g->valuedouble)
		return -1;
	*uid = (uid_t)u->valuedouble;
	*gid = (gid_t)g->valuedouble;
	return 1;
}

/* An event queued in root's spool for its run's owner. */
static enum aml_spool_verdict apply_owned(struct replay_ctx *c,
					  const cJSON *rec, uid_t uid,
					  gid_t gid,
					  const struct aml_spool_entry *e,
					  char *errbuf, size_t errlen)
{
	const char *op = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "op"));
	const char *exp = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "experiment"));
	const char *run_id = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "run_id"));
	const char *line = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "event"));
	int note = cJSON_IsTrue(cJSON_GetObjectItem(rec, "note"));
	enum aml_history_result r;
	struct aml_event ev;
	int64_t now, until;
	char key[600];

	if (!op || strcmp(op, "event") || !exp || !run_id || !line) {
		aml_fail(errbuf, errlen, "spool entry %s is not an event "
			 "queued for a run's owner", e->name);
		return AML_SPOOL_REJECTED;
	}
	/* Only root acts as another user; a user's replay of their own
	 * spool leaves such an entry alone (and only root's spool gets
	 * them: a user who forges one in theirs only keeps it). */
	if (geteuid() != 0) {
		aml_fail(errbuf, errlen, "spool entry %s is queued for uid %lu: "
			 "only root writes it", e->name, (unsigned long)uid);
		return AML_SPOOL_KEEP;
	}
	stuck_key(key, sizeof(key), uid, exp, run_id);
	if (is_stuck(c->h, key)) {
		aml_fail(errbuf, errlen, "run %s: an older write of the run "
			 "waits", run_id);
		return AML_SPOOL_KEEP;
	}
	now = aml_monotonic_ms();
	if (c->deadline_ms && now >= c->deadline_ms) {
		aml_fail(errbuf, errlen, "no time left in this replay");
		return AML_SPOOL_RETRY;
	}
	until = now + AML_HISTORY_OWNED_WRITE_MS;
	if (c->deadline_ms && c->deadline_ms < until)
		until = c->deadline_ms;
	if (aml_event_decode(line, strlen(line), &ev, errbuf, errlen) < 0)
		return AML_SPOOL_REJECTED;
	r = record_as(c->h->site, uid, gid, until, exp, run_id,
		      cJSON_GetStringValue(cJSON_GetObjectItem(rec, "key")),
		      &ev, NULL, errbuf, errlen);
	aml_event_free(&ev);
	switch (r) {
	case AML_HISTORY_WRITTEN:
	case AML_HISTORY_UNCHANGED:
		return AML_SPOOL_APPLIED;
	case AML_HISTORY_UNAVAILABLE:
		/* That owner's run, for now (its lock held, its directory
		 * hung): not run history as a whole, so no breaker. */
		add_stuck(c->h, key);
		return keep_or_expire(e, errbuf, errlen);
	default:
		/* A note the run has moved past is moot, not lost. */
		return note ? AML_SPOOL_APPLIED : AML_SPOOL_REJECTED;
	}
}

/* The stuck key of the caller's own record [rec]. */
static void own_key(char *buf, size_t len, const cJSON *rec)
{
	const char *exp = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "experiment"));
	const char *run_id = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "run_id"));

	stuck_key(buf, len, geteuid(), exp ? exp : "", run_id ? run_id : "");
}

/*
 * One record of the caller's own.  Run history silent stops the replay
 * (everything after would find it so); one run it answered for but could
 * not take (its creation has not arrived yet from the host it was
 * submitted on, its directory is read-only) keeps that run's entries, in
 * order, and lets the other runs' go.
 */
static enum aml_spool_verdict apply_own(struct replay_ctx *c,
					const cJSON *rec,
					const struct aml_spool_entry *e,
					char *errbuf, size_t errlen)
{
	enum aml_spool_verdict v;
	char key[600];

	own_key(key, sizeof(key), rec);
	if (is_stuck(c->h, key)) {
		aml_fail(errbuf, errlen, "spool entry %s: an older write of its "
			 "run waits", e->name);
		return AML_SPOOL_KEEP;
	}
	v = apply_keyed(c->h, rec, e, errbuf, errlen);
	if (v != AML_SPOOL_RETRY)
		return v;
	if (silent(c->h)) {
		c->unavailable = 1;
		return v;
	}
	add_stuck(c->h, key);
	return keep_or_expire(e, errbuf, errlen);
}

/* Replay one record: the caller's own, or, in root's spool, one queued
 * for a run's owner. */
static enum aml_spool_verdict apply_record(void *ctx,
					   const struct aml_spool_entry *e,
					   char *errbuf, size_t errlen)
{
	struct replay_ctx *c = ctx;
	cJSON *rec = cJSON_ParseWithLength(e->record, e->len);
	enum aml_spool_verdict v;
	uid_t uid;
	gid_t gid;

	/* A replay writes only from here: a flush that finds nothing
	 * queued has changed nothing (hangwatch.h). */
	aml_hangwatch_busy(1, "replaying a queued write to %s",
			   where(c->h->site));
	switch (record_owner(rec, &uid, &gid)) {
	case 1:
		v = apply_owned(c, rec, uid, gid, e, errbuf, errlen);
		break;
	case -1:
		aml_fail(errbuf, errlen, "spool entry %s: a malformed owner",
			 e->name);
		v = AML_SPOOL_REJECTED;
		break;
	default:
		if (c->deadline_ms && aml_monotonic_ms() >= c->deadline_ms) {
			aml_fail(errbuf, errlen, "no time left in this replay");
			v = AML_SPOOL_RETRY;
		} else {
			v = apply_own(c, rec, e, errbuf, errlen);
		}
		break;
	}
	cJSON_Delete(rec);
	aml_hangwatch_idle();
	return v;
}

/* ---- the breaker (breaker.h) ---- */

static int64_t first_cooldown_ms(const struct aml_history *h)
{
	return (int64_t)h->site->history_probe_interval_seconds * 1000;
}

/* The caller's breaker; a spool that cannot be opened has none, and
 * neither has a site that turned it off. */
static enum aml_breaker_state gate(struct aml_history *h, int64_t *since_ms)
{
	enum aml_breaker_state st = AML_BREAKER_CLOSED;
	struct aml_spool sp;
	char why[256];

	*since_ms = 0;
	if (!first_cooldown_ms(h) ||
	    aml_spool_open(&sp, h->spool_dir, why, sizeof(why)) < 0)
		return st;
	/* A probe's write may take a request's whole time, twice over
	 * (the replay's first record, then the write itself). */
	st = aml_breaker_check(sp.dirfd, realtime_ms(), first_cooldown_ms(h),
			       (int64_t)h->site->history_timeout_seconds *
				       1000 * 2,
			       since_ms);
	aml_spool_close(&sp);
	return st;
}

/* Run history answered ([answered]) or did not: the breaker follows. */
static void breaker_note(struct aml_history *h, int answered)
{
	struct aml_spool sp;
	char why[256];

	if (!first_cooldown_ms(h) ||
	    aml_spool_open(&sp, h->spool_dir, why, sizeof(why)) < 0)
		return;
	if (answered)
		aml_breaker_close(sp.dirfd);
	else
		aml_breaker_trip(sp.dirfd, realtime_ms(), first_cooldown_ms(h));
	aml_spool_close(&sp);
}

/*
 * After trying run history through [breaker]'s gate: a silent run history
 * ([silent_now]) opens the breaker; a probe that found it answering
 * closes it; a closed breaker that found it answering is left alone.
 */
static void breaker_after(struct aml_history *h,
			  enum aml_breaker_state breaker, int silent_now)
{
	if (silent_now || breaker == AML_BREAKER_PROBE)
		breaker_note(h, !silent_now);
}

/* Why a write goes to the spool without trying run history. */
static void say_open(char *why, size_t len, int64_t since_ms)
{
	char at[32];
	time_t t = (time_t)(since_ms / 1000);
	struct tm tm;

	if (since_ms > 0 && localtime_r(&t, &tm))
		strftime(at, sizeof(at), "%H:%M:%S", &tm);
	else
		snprintf(at, sizeof(at), "lately");
	snprintf(why, len, "it did not answer at %s; writes wait without "
		 "trying it until it answers a probe again", at);
}

/*
 * Replay the caller's spool until [deadline_ms] (0: none; for root,
 * AML_HISTORY_ROOT_FLUSH_MS).  [stats->remaining] is what is still
 * queued; a spool that cannot be opened (SpoolDir missing) counts as
 * empty, since nothing can have been queued in it.  [*unavailable] is
 * set when run history did not answer the replay.
 */
static int replay(struct aml_history *h, int64_t deadline_ms,
		  struct aml_spool_replay_stats *stats, int *unavailable,
		  char *errbuf, size_t errlen)
{
	struct replay_ctx c = { .h = h, .deadline_ms = deadline_ms };
	struct aml_spool_replay_stats local;
	struct aml_spool sp;
	char why[512];
	int r;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	*unavailable = 0;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (aml_spool_open(&sp, h->spool_dir, why, sizeof(why)) < 0)
		return 0;
	if (aml_spool_count(&sp, why, sizeof(why)) == 0) {
		aml_spool_close(&sp);
		return 0;
	}
	if (!c.deadline_ms && geteuid() == 0)
		c.deadline_ms = aml_monotonic_ms() + AML_HISTORY_ROOT_FLUSH_MS;
	r = aml_spool_replay(&sp, apply_record, &c, stats, errbuf, errlen);
	aml_spool_close(&sp);
	*unavailable = c.unavailable;
	return r;
}

/*
 * A flush through the breaker: none while it is open (what is queued
 * stays, [stats->remaining] says how much), a probe when it is due.
 */
static int flush_gated(struct aml_history *h, int64_t deadline_ms,
		       struct aml_spool_replay_stats *stats, char *errbuf,
		       size_t errlen)
{
	struct aml_spool_replay_stats local;
	enum aml_breaker_state breaker;
	struct aml_spool sp;
	int64_t since;
	int unavailable, r;
	char why[256];

	if (!stats)
		stats = &local;
	breaker = gate(h, &since);
	if (breaker == AML_BREAKER_OPEN) {
		memset(stats, 0, sizeof(*stats));
		if (aml_spool_open(&sp, h->spool_dir, why, sizeof(why)) == 0) {
			long n = aml_spool_count(&sp, why, sizeof(why));

			stats->remaining = n > 0 ? (size_t)n : 0;
			aml_spool_close(&sp);
		}
		say_open(errbuf, errlen, since);
		return 0;
	}
	r = replay(h, deadline_ms, stats, &unavailable, errbuf, errlen);
	forget_stuck(h);
	breaker_after(h, breaker, unavailable);
	return r;
}

int aml_history_bind(struct aml_history *h, const char *run_id,
		     const char *key, char *errbuf, size_t errlen)
{
	char shown[96];

	if (key && !aml_runid_is_tracking_id(key)) {
		aml_text_escape(key, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "run %s: \"%s\" is not a "
				"tracking server's run id (32 hexadecimal "
				"digits, or a GUID)", run_id, shown);
	}
	if (!h->ops->bind)
		return 0;
	return h->ops->bind(h->self, run_id, key, errbuf, errlen) < 0 ? -1 : 0;
}

const char *aml_history_key(struct aml_history *h, const char *run_id)
{
	return h->ops->key_of ? h->ops->key_of(h->self, run_id) : NULL;
}

int aml_history_flush(struct aml_history *h, size_t *remaining, char *errbuf,
		      size_t errlen)
{
	struct aml_spool_replay_stats stats;
	int r;

	aml_hangwatch_busy(0, "replaying the writes queued in %s to %s",
			   h->spool_dir, where(h->site));
	r = flush_gated(h, 0, &stats, errbuf, errlen);
	aml_hangwatch_idle();
	*remaining = stats.remaining;
	return r;
}

int aml_history_flush_until(struct aml_history *h, int64_t deadline_ms,
			    struct aml_spool_replay_stats *stats,
			    char *errbuf, size_t errlen)
{
	return flush_gated(h, deadline_ms, stats, errbuf, errlen);
}

int aml_history_replay_spool(struct aml_history *h, struct aml_spool *sp,
			     int64_t deadline_ms,
			     struct aml_spool_replay_stats *stats,
			     char *errbuf, size_t errlen)
{
	struct replay_ctx c = { .h = h, .deadline_ms = deadline_ms };
	int r = aml_spool_replay(sp, apply_record, &c, stats, errbuf, errlen);

	forget_stuck(h);
	/* A delivery that wrote something found run history answering:
	 * the spool owner's writers on this machine need not wait for their
	 * own probe (its breaker is in that spool). */
	if (r == 0 && stats && stats->applied > 0 && !c.unavailable)
		aml_breaker_close(sp->dirfd);
	return r;
}

/*
 * Whether the write [rec] may go to run history ahead of what the replay
 * kept: only entries of stuck runs other than its own are left (run
 * history was not silent), or it is its run's creation, which no event
 * of that run can precede.
 */
static int may_overtake(struct aml_history *h, const cJSON *rec,
			int unavailable)
{
	const char *op = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "op"));
	char key[600];

	if (unavailable)
		return 0;
	own_key(key, sizeof(key), rec);
	return (op && !strcmp(op, "create")) || !is_stuck(h, key);
}

/*
 * The common path of every write: replay, then either the backend ([r],
 * computed by the caller's [attempt] only when the spool is empty) or the
 * spool.
 */
typedef int (*backend_call)(struct aml_history *h, const void *args,
			    char *errbuf, size_t errlen);

static enum aml_history_result write_through(struct aml_history *h,
					     backend_call call,
					     const void *args, cJSON *rec,
					     int files_dirfd,
					     const char *files_path,
					     char *errbuf, size_t errlen)
{
	char why[1024] = "", spool_err[512];
	struct aml_spool_replay_stats stats;
	enum aml_breaker_state breaker;
	struct aml_spool sp;
	int64_t since;
	int unavailable = 0;
	char *text;
	int r;

	if (!rec)
		return aml_fail(errbuf, errlen, "out of memory");
	/* Once run history has not answered, the writes that follow do not
	 * each wait for it again: they queue until a probe finds it back. */
	breaker = gate(h, &since);
	if (breaker == AML_BREAKER_OPEN) {
		say_open(why, sizeof(why), since);
	} else if (replay(h, 0, &stats, &unavailable, why, sizeof(why)) ==
			   0 &&
		   (stats.remaining == 0 || may_overtake(h, rec, unavailable))) {
		forget_stuck(h);
		r = call(h, args, errbuf, errlen);
		if (r != AML_BACKEND_UNAVAILABLE) {
			breaker_after(h, breaker, 0);
			cJSON_Delete(rec);
			if (r == AML_BACKEND_UNCHANGED)
				return AML_HISTORY_UNCHANGED;
			return r < 0 ? AML_HISTORY_ERROR : AML_HISTORY_WRITTEN;
		}
		breaker_after(h, breaker, silent(h));
		snprintf(why, sizeof(why), "%s", errbuf);
	} else {
		forget_stuck(h);
		breaker_after(h, breaker, unavailable);
		if (!*why)
			snprintf(why, sizeof(why),
				 "older writes are still queued");
	}
	text = cJSON_PrintUnformatted(rec);
	cJSON_Delete(rec);
	if (!text)
		return aml_fail(errbuf, errlen, "out of memory");
	if (aml_spool_open(&sp, h->spool_dir, spool_err,
			   sizeof(spool_err)) < 0 ||
	    aml_spool_push(&sp, text, strlen(text), files_dirfd, files_path,
			   NULL, spool_err, sizeof(spool_err)) < 0) {
		aml_spool_close(&sp);
		free(text);
		return aml_fail(errbuf, errlen, "run history is unavailable "
				"(%s) and the local spool cannot keep the "
				"write either: %s", why, spool_err);
	}
	aml_fail(errbuf, errlen, "run history is unavailable (%s); queued in "
		 "%s, to be written when it is back", why, sp.path);
	aml_spool_close(&sp);
	free(text);
	return AML_HISTORY_SPOOLED;
}

/* ---- the writers ---- */

static int call_create(struct aml_history *h, const void *args,
		       char *errbuf, size_t errlen)
{
	return h->ops->create_run(h->self, args, errbuf, errlen);
}

enum aml_history_result aml_history_create_run(struct aml_history *h,
					       const struct aml_run_new *req,
					       char *errbuf, size_t errlen)
{
	cJSON *rec = new_record(h, "create", req->experiment, req->run_id);
	enum aml_history_result r;

	aml_hangwatch_busy(1, "writing run %s to %s", req->run_id,
			   where(h->site));
	if (rec && (!cJSON_AddStringToObject(rec, "config", req->config_json) ||
		    !cJSON_AddItemToObject(rec, "properties",
					   aml_kvlist_to_json(req->properties)) ||
		    !cJSON_AddItemToObject(rec, "tags",
					   aml_kvlist_to_json(req->tags)) ||
		    add_event(rec, req->first) < 0)) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	r = write_through(h, call_create, req, rec, -1, NULL, errbuf, errlen);
	aml_hangwatch_idle();
	return r;
}

struct run_args {
	const char *experiment;
	const char *run_id;
	const struct aml_event *ev;
	const struct aml_kvlist *kv;
	const struct aml_strlist *remove;
	int workdir_fd;
	const char *src;
	struct aml_artifact_stats *stats;
};

static int call_record(struct aml_history *h, const void *args,
		       char *errbuf, size_t errlen)
{
	const struct run_args *a = args;

	return h->ops->record(h->self, a->experiment, a->run_id, a->ev,
			      errbuf, errlen);
}

enum aml_history_result aml_history_record(struct aml_history *h,
					   const char *experiment,
					   const char *run_id,
					   const struct aml_event *ev,
					   char *errbuf, size_t errlen)
{
	struct run_args a = { .experiment = experiment, .run_id = run_id,
			      .ev = ev };
	cJSON *rec = new_record(h, "event", experiment, run_id);
	enum aml_history_result r;

	aml_hangwatch_busy(1, "writing run %s to %s", run_id, where(h->site));
	if (rec && add_event(rec, ev) < 0) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	r = write_through(h, call_record, &a, rec, -1, NULL, errbuf, errlen);
	aml_hangwatch_idle();
	return r;
}

static int call_properties(struct aml_history *h, const void *args,
			   char *errbuf, size_t errlen)
{
	const struct run_args *a = args;

	return h->ops->add_properties(h->self, a->experiment, a->run_id,
				      a->kv, errbuf, errlen);
}

enum aml_history_result aml_history_add_properties(
	struct aml_history *h, const char *experiment, const char *run_id,
	const struct aml_kvlist *properties, char *errbuf, size_t errlen)
{
	struct run_args a = { .experiment = experiment, .run_id = run_id,
			      .kv = properties };
	cJSON *rec = new_record(h, "properties", experiment, run_id);
	enum aml_history_result r;

	aml_hangwatch_busy(1, "writing run %s to %s", run_id, where(h->site));
	if (rec && !cJSON_AddItemToObject(rec, "properties",
					  aml_kvlist_to_json(properties))) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	r = write_through(h, call_properties, &a, rec, -1, NULL, errbuf,
			  errlen);
	aml_hangwatch_idle();
	return r;
}

static int call_tags(struct aml_history *h, const void *args, char *errbuf,
		     size_t errlen)
{
	const struct run_args *a = args;

	return h->ops->set_tags(h->self, a->experiment, a->run_id, a->kv,
				a->remove, errbuf, errlen);
}

enum aml_history_result aml_history_set_tags(
	struct aml_history *h, const char *experiment, const char *run_id,
	const struct aml_kvlist *set, const struct aml_strlist *remove,
	char *errbuf, size_t errlen)
{
	struct run_args a = { .experiment = experiment, .run_id = run_id,
			      .kv = set, .remove = remove };
	cJSON *rec = new_record(h, "tags", experiment, run_id);
	cJSON *names = cJSON_CreateArray();
	enum aml_history_result r;

	aml_hangwatch_busy(1, "writing run %s to %s", run_id, where(h->site));
	for (size_t i = 0; names && remove && i < remove->count; i++)
		if (!cJSON_AddItemToArray(names, cJSON_CreateString(
						 remove->items[i]))) {
			cJSON_Delete(names);
			names = NULL;
		}
	if (rec && (!cJSON_AddItemToObject(rec, "set", aml_kvlist_to_json(set)) ||
		    !names || !cJSON_AddItemToObject(rec, "remove", names))) {
		if (!names || !cJSON_GetObjectItem(rec, "remove"))
			cJSON_Delete(names);
		cJSON_Delete(rec);
		rec = NULL;
	} else if (!rec) {
		cJSON_Delete(names);
	}
	r = write_through(h, call_tags, &a, rec, -1, NULL, errbuf, errlen);
	aml_hangwatch_idle();
	return r;
}

static int call_upload(struct aml_history *h, const void *args,
		       char *errbuf, size_t errlen)
{
	const struct run_args *a = args;

	return h->ops->upload(h->self, a->experiment, a->run_id, a->workdir_fd,
			      a->src, a->src, a->stats, errbuf, errlen);
}

enum aml_history_result aml_history_upload(struct aml_history *h,
					   const char *experiment,
					   const char *run_id, int workdir_fd,
					   const char *src,
					   struct aml_artifact_stats *stats,
					   char *errbuf, size_t errlen)
{
	struct run_args a = { .experiment = experiment, .run_id = run_id,
			      .workdir_fd = workdir_fd, .src = src,
			      .stats = stats };
	enum aml_history_result r;
	cJSON *rec;
	struct stat st;

	/* Root reading a user's working directory could be led to files
	 * only root may read, and what root spools, the user could not
	 * replay.  A user's uploads are the user's job (aml-launch runs as
	 * the user); root uploads only what root owns. */
	if (geteuid() == 0 && (fstat(workdir_fd, &st) < 0 || st.st_uid != 0))
		return aml_fail(errbuf, errlen, "run history: run %s: a user's "
				"working directory is uploaded as that user, not "
				"as root", run_id);
	/* A run that wrote no logs/ has nothing to upload, and nothing to
	 * queue when run history is away. */
	if (fstatat(workdir_fd, src, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT) {
		if (stats)
			memset(stats, 0, sizeof(*stats));
		return AML_HISTORY_UNCHANGED;
	}
	aml_hangwatch_busy(1, "writing run %s to %s", run_id, where(h->site));
	rec = new_record(h, "upload", experiment, run_id);

	if (rec && !cJSON_AddStringToObject(rec, "dest", src)) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	r = write_through(h, call_upload, &a, rec, workdir_fd, src, errbuf,
			  errlen);
	aml_hangwatch_idle();
	return r;
}

enum aml_history_result aml_history_record_direct(struct aml_history *h,
						  const char *experiment,
						  const char *run_id,
						  const struct aml_event *ev,
						  char *errbuf,
						  size_t errlen)
{
	switch (h->ops->record(h->self, experiment, run_id, ev, errbuf,
			       errlen)) {
	case AML_BACKEND_OK:
		return AML_HISTORY_WRITTEN;
	case AML_BACKEND_UNCHANGED:
		return AML_HISTORY_UNCHANGED;
	case AML_BACKEND_UNAVAILABLE:
		return AML_HISTORY_UNAVAILABLE;
	default:
		return AML_HISTORY_ERROR;
	}
}

/* What a scan of root's spool looks for: an entry of one owner's run. */
struct run_key {
	uid_t uid;
	const char *experiment, *run_id;
	int found;
};

static enum aml_spool_verdict match_run(void *ctx,
					const struct aml_spool_entry *e,
					char *errbuf, size_t errlen)
{
	struct run_key *k = ctx;
	cJSON *rec = cJSON_ParseWithLength(e->record, e->len);
	const char *exp = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "experiment"));
	const char *run_id = cJSON_GetStringValue(
		cJSON_GetObjectItem(rec, "run_id"));
	uid_t uid;
	gid_t gid;

	(void)errbuf;
	(void)errlen;
	if (record_owner(rec, &uid, &gid) == 1 && uid == k->uid && exp &&
	    run_id && !strcmp(exp, k->experiment) &&
	    !strcmp(run_id, k->run_id))
		k->found = 1;
	cJSON_Delete(rec);
	return AML_SPOOL_KEEP;
}

/* Whether root's spool [sp] holds an entry of [k]'s run (a scan that
 * keeps every entry). */
static int run_is_queued(struct aml_spool *sp, struct run_key *k)
{
	char why[512];

	if (aml_spool_count(sp, why, sizeof(why)) <= 0)
		return 0;
	k->found = 0;
	/* A scan that fails to read an entry is told as "queued": going
	 * behind it keeps the order whatever it held. */
	if (aml_spool_replay(sp, match_run, k, NULL, why, sizeof(why)) < 0)
		return 1;
	return k->found;
}

enum aml_history_result aml_history_record_owned(
	struct aml_history *h, uid_t uid, gid_t gid, int64_t deadline_ms,
	const char *experiment, const char *run_id, const struct aml_event *ev,
	int flags, char *errbuf, size_t errlen)
{
	struct run_key k = { uid, experiment, run_id, 0 };
	char why[1024], spool_err[512], key[600];
	enum aml_history_result r;
	struct aml_spool sp;
	cJSON *rec;
	char *text;

	if (geteuid() != 0)
		return aml_fail(errbuf, errlen, "run %s: only root records a "
				"run's history for its owner (this process "
				"runs as uid %lu)", run_id,
				(unsigned long)geteuid());
	/* Root's own spool: the owner can neither lock nor write it. */
	if (aml_spool_open(&sp, h->spool_dir, spool_err,
			   sizeof(spool_err)) < 0)
		sp.dirfd = -1;
	if (sp.dirfd >= 0 && run_is_queued(&sp, &k)) {
		snprintf(why, sizeof(why), "an older write of the run is still "
			 "queued");
	} else {
		int timed_out = 0;

		r = record_as(h->site, uid, gid, deadline_ms, experiment,
			      run_id, aml_history_key(h, run_id), ev,
			      &timed_out, why, sizeof(why));
		if (r != AML_HISTORY_UNAVAILABLE) {
			aml_spool_close(&sp);
			snprintf(errbuf, errlen, "%s", why);
			return r;
		}
		/* A write that just ran out of time (a held lock, a hung
		 * filesystem) is not tried again by the next replay: it would
		 * only wait as long once more. */
		if (timed_out) {
			stuck_key(key, sizeof(key), uid, experiment, run_id);
			add_stuck(h, key);
		}
	}
	rec = new_record(h, "event", experiment, run_id);
	if (rec && (add_event(rec, ev) < 0 ||
		    !cJSON_AddNumberToObject(rec, "owner_uid", (double)uid) ||
		    !cJSON_AddNumberToObject(rec, "owner_gid", (double)gid) ||
		    ((flags & AML_HISTORY_NOTE) &&
		     !cJSON_AddTrueToObject(rec, "note")))) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	text = rec ? cJSON_PrintUnformatted(rec) : NULL;
	cJSON_Delete(rec);
	if (!text) {
		aml_spool_close(&sp);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	if (sp.dirfd < 0 ||
	    aml_spool_push(&sp, text, strlen(text), -1, NULL, NULL, spool_err,
			   sizeof(spool_err)) < 0) {
		aml_spool_close(&sp);
		free(text);
		return aml_fail(errbuf, errlen, "%s, and root's spool cannot "
				"keep the write either: %s", why, spool_err);
	}
	aml_fail(errbuf, errlen, "%s; queued in %s, to be written as uid %lu "
		 "when it can be", why, sp.path, (unsigned long)uid);
	aml_spool_close(&sp);
	free(text);
	return AML_HISTORY_SPOOLED;
}

int aml_history_open_log(struct aml_history *h, const char *experiment,
			 const char *run_id, const char *name, char *errbuf,
			 size_t errlen)
{
	if (!h->ops->open_log) {
		errno = ENOTSUP;
		return aml_fail(errbuf, errlen, "run history (%s) keeps no "
				"logs to append to", h->ops->name);
	}
	return h->ops->open_log(h->self, experiment, run_id, name, errbuf,
				errlen);
}

int aml_history_appends_logs(const struct aml_history *h)
{
	return h->ops->open_log != NULL;
}

enum aml_history_result aml_history_put_log(struct aml_history *h,
					    const char *experiment,
					    const char *run_id,
					    const char *name, int fd,
					    long long len, char *errbuf,
					    size_t errlen)
{
	enum aml_breaker_state breaker;
	int64_t since;
	int r;

	if (!h->ops->put_log)
		return aml_fail(errbuf, errlen, "run history (%s) takes logs "
				"by appending, not whole", h->ops->name);
	breaker = gate(h, &since);
	if (breaker == AML_BREAKER_OPEN) {
		say_open(errbuf, errlen, since);
		return AML_HISTORY_UNAVAILABLE;
	}
	aml_hangwatch_busy(1, "writing run %s to %s", run_id, where(h->site));
	r = h->ops->put_log(h->self, experiment, run_id, name, fd, len, errbuf,
			    errlen);
	aml_hangwatch_idle();
	breaker_after(h, breaker, r == AML_BACKEND_UNAVAILABLE && silent(h));
	switch (r) {
	case AML_BACKEND_OK:
	case AML_BACKEND_UNCHANGED:
		return AML_HISTORY_WRITTEN;
	case AML_BACKEND_UNAVAILABLE:
		return AML_HISTORY_UNAVAILABLE;
	default:
		return AML_HISTORY_ERROR;
	}
}

/* ---- the readers ---- */

int aml_history_job_env(struct aml_history *h, const char *experiment,
			const char *run_id, struct aml_kvlist *env,
			char *errbuf, size_t errlen)
{
	if (!h->ops->job_env)
		return 0;
	return h->ops->job_env(h->self, experiment, run_id, env, errbuf,
			       errlen) < 0
		       ? -1
		       : 0;
}

int aml_history_read_run(struct aml_history *h, const char *run_id,
			 int with_config, struct aml_run_info *info,
			 char *errbuf, size_t errlen)
{
	int r;

	aml_hangwatch_busy(0, "reading run %s in %s", run_id, where(h->site));
	r = h->ops->read_run(h->self, run_id, with_config, info, errbuf,
			     errlen) < 0 ? -1 : 0;
	aml_hangwatch_idle();
	return r;
}

int aml_history_list(struct aml_history *h,
		     const struct aml_run_filter *filter,
		     struct aml_run_info **runs, size_t *n, char *errbuf,
		     size_t errlen)
{
	int r;

	aml_hangwatch_busy(0, "listing the runs in %s", where(h->site));
	r = h->ops->list(h->self, filter, runs, n, errbuf, errlen) < 0 ? -1
								       : 0;
	aml_hangwatch_idle();
	return r;
}

int aml_history_list_artifacts(struct aml_history *h,
			       const struct aml_run_info *run,
			       struct aml_artifact **list, size_t *n,
			       char *errbuf, size_t errlen)
{
	int r;

	aml_hangwatch_busy(0, "listing the files of run %s in %s",
			   run->run_id, where(h->site));
	r = h->ops->list_artifacts(h->self, run, list, n, errbuf, errlen);
	aml_hangwatch_idle();
	return r;
}

int aml_history_open_artifact(struct aml_history *h,
			      const struct aml_run_info *run,
			      const char *path, char *errbuf, size_t errlen)
{
	int fd;

	aml_hangwatch_busy(0, "opening %s of run %s in %s", path, run->run_id,
			   where(h->site));
	fd = h->ops->open_artifact(h->self, run, path, errbuf, errlen);
	aml_hangwatch_idle();
	return fd;
}

int aml_history_download(struct aml_history *h,
			 const struct aml_run_info *run, const char *path,
			 int out_fd, struct aml_artifact_stats *stats,
			 char *errbuf, size_t errlen)
{
	int r;

	aml_hangwatch_busy(0, "downloading run %s from %s", run->run_id,
			   where(h->site));
	r = h->ops->download(h->self, run, path, out_fd, stats, errbuf,
			     errlen);
	aml_hangwatch_idle();
	return r;
}
