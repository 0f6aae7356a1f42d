/*
 * mlflow_find.c: finding the MLflow backend's experiments and runs: an
 * experiment by name (made when missing), every experiment, runs by
 * search, and which MLflow run is slurm-aml's run of a given id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "mlflow_internal.h"
#include "mlflow_request.h"
#include "mlflow_url.h"
#include "runid.h"
#include "text.h"

#define SEARCH_PAGE 1000

/* ---- experiments ---- */

/*
 * Move the [*page_count] items of [*page] ([size] bytes each) to the end
 * of [*items] ([*count] so far), leaving the page empty: a listing that
 * comes in pages becomes one array.  0, or -1 when memory runs out
 * (nothing moved).
 */
static int take_page(void **items, size_t *count, void **page,
		     size_t *page_count, size_t size)
{
	char *grown;

	if (!*page_count)
		return 0;
	grown = realloc(*items, (*count + *page_count) * size);
	if (!grown)
		return -1;
	memcpy(grown + *count * size, *page, *page_count * size);
	*items = grown;
	*count += *page_count;
	free(*page);
	*page = NULL;
	*page_count = 0;
	return 0;
}

/*
 * The id of experiment [name]: 0 with *[id]; 1 when it does not exist
 * and [create] is 0; else a verdict.  Made when missing (the race with
 * another creator is settled as MLflow's own client settles it: ask
 * again).
 */
int mf_experiment_id(struct mlflow *m, const char *name, int create,
		     char **id, char *errbuf, size_t errlen)
{
	for (int round = 0; round < 2; round++) {
		struct aml_http_response resp;
		struct aml_mlflow_experiment exp = { 0 };
		char *enc = aml_url_encode(name), *target, *body;
		int rc;

		if (!enc || asprintf(&target, "experiments/get-by-name?"
				     "experiment_name=%s", enc) < 0) {
			free(enc);
			return mf_oom(errbuf, errlen);
		}
		free(enc);
		rc = mf_request(m, "GET", target, NULL, &resp, errbuf, errlen);
		free(target);
		if (rc == AML_BACKEND_OK) {
			rc = aml_mlflow_parse_experiment("experiments/get-by-name",
							 resp.body, resp.body_len,
							 &exp, errbuf, errlen);
			aml_http_response_free(&resp);
			if (rc < 0)
				return AML_BACKEND_REFUSED;
			if (exp.deleted) {
				aml_mlflow_experiment_free(&exp);
				aml_fail(errbuf, errlen, "run history (MLflow): "
					 "experiment %s is deleted on the "
					 "server; restore it there, or use "
					 "another experiment name", name);
				return AML_BACKEND_REFUSED;
			}
			*id = exp.id;
			exp.id = NULL;
			aml_mlflow_experiment_free(&exp);
			return 0;
		}
		if (resp.status != 404 || !create) {
			long status = resp.status;

			aml_http_response_free(&resp);
			return status == 404 ? 1 : rc;
		}
		aml_http_response_free(&resp);
		if (!(body = aml_mlflow_create_experiment_body(name)))
			return mf_oom(errbuf, errlen);
		rc = mf_request(m, "POST", "experiments/create", body, &resp,
				errbuf, errlen);
		free(body);
		if (rc == AML_BACKEND_OK) {
			rc = aml_mlflow_parse_experiment_id("experiments/create",
							    resp.body,
							    resp.body_len, id,
							    errbuf, errlen);
			aml_http_response_free(&resp);
			return rc < 0 ? AML_BACKEND_REFUSED : 0;
		}
		/* 400 RESOURCE_ALREADY_EXISTS: someone made it meanwhile. */
		if (resp.status != 400 || !resp.body ||
		    !strstr(resp.body, "RESOURCE_ALREADY_EXISTS")) {
			aml_http_response_free(&resp);
			return rc;
		}
		aml_http_response_free(&resp);
	}
	aml_fail(errbuf, errlen, "run history (MLflow): experiment %s: "
		 "neither found nor made", name);
	return AML_BACKEND_REFUSED;
}

/* Every experiment on the server (ids and names), for readers that name
 * a run by its id alone. */
int mf_all_experiments(struct mlflow *m,
		       struct aml_mlflow_experiments *all, char *errbuf,
		       size_t errlen)
{
	char *token = NULL;

	memset(all, 0, sizeof(*all));
	do {
		struct aml_http_response resp;
		struct aml_mlflow_experiments page = { 0 };
		char *body = aml_mlflow_search_experiments_body(SEARCH_PAGE,
								token);
		int rc;

		free(token);
		token = NULL;
		if (!body)
			return mf_oom(errbuf, errlen);
		rc = mf_request(m, "POST", "experiments/search", body, &resp,
				errbuf, errlen);
		free(body);
		if (rc == AML_BACKEND_OK &&
		    aml_mlflow_parse_experiments("experiments/search",
						 resp.body, resp.body_len,
						 &page, errbuf, errlen) < 0)
			rc = AML_BACKEND_REFUSED;
		aml_http_response_free(&resp);
		if (rc != AML_BACKEND_OK) {
			aml_mlflow_experiments_free(all);
			return rc;
		}
		if (take_page((void **)&all->items, &all->count,
			      (void **)&page.items, &page.count,
			      sizeof(*page.items)) < 0) {
			aml_mlflow_experiments_free(&page);
			aml_mlflow_experiments_free(all);
			return mf_oom(errbuf, errlen);
		}
		token = page.next_page_token;
		page.next_page_token = NULL;
		aml_mlflow_experiments_free(&page);
	} while (token && *token);
	free(token);
	return 0;
}

const char *mf_experiment_name(const struct aml_mlflow_experiments *all,
			       const char *id)
{
	for (size_t i = 0; all && i < all->count; i++)
		if (id && !strcmp(all->items[i].id, id))
			return all->items[i].name;
	return NULL;
}

/* The ids of [all], or of those named [name] only (NULL: every one),
 * for runs/search; malloc'd (the strings are [all]'s), NULL when memory
 * runs out. */
const char **mf_experiment_ids(const struct aml_mlflow_experiments *all,
			       const char *name, size_t *n)
{
	const char **ids = calloc(all->count + 1, sizeof(*ids));

	*n = 0;
	for (size_t i = 0; ids && i < all->count; i++)
		if (!name || (all->items[i].name &&
			      !strcmp(all->items[i].name, name)))
			ids[(*n)++] = all->items[i].id;
	return ids;
}

/* ---- runs ---- */

/*
 * Search [ids] for runs matching [filter]; every page.  [max] stops
 * early (0: all).
 */
int mf_search_runs(struct mlflow *m, const char *const *ids, size_t n,
		   const char *filter, size_t max,
		   struct aml_mlflow_runs *out, char *errbuf,
		   size_t errlen)
{
	char *token = NULL;

	memset(out, 0, sizeof(*out));
	if (!n)
		return 0;
	do {
		struct aml_http_response resp;
		struct aml_mlflow_runs page = { 0 };
		char *body = aml_mlflow_search_runs_body(ids, n, filter,
							 SEARCH_PAGE, token);
		int rc;

		free(token);
		token = NULL;
		if (!body)
			return mf_oom(errbuf, errlen);
		rc = mf_request(m, "POST", "runs/search", body, &resp, errbuf,
				errlen);
		free(body);
		if (rc == AML_BACKEND_OK &&
		    aml_mlflow_parse_runs("runs/search", resp.body,
					  resp.body_len, &page, errbuf,
					  errlen) < 0)
			rc = AML_BACKEND_REFUSED;
		aml_http_response_free(&resp);
		if (rc != AML_BACKEND_OK) {
			aml_mlflow_runs_free(out);
			return rc;
		}
		if (take_page((void **)&out->items, &out->count,
			      (void **)&page.items, &page.count,
			      sizeof(*page.items)) < 0) {
			aml_mlflow_runs_free(&page);
			aml_mlflow_runs_free(out);
			return mf_oom(errbuf, errlen);
		}
		token = page.next_page_token;
		page.next_page_token = NULL;
		aml_mlflow_runs_free(&page);
	} while (token && *token && (!max || out->count < max));
	free(token);
	return 0;
}

/* ---- which MLflow run is which ---- */

/*
 * A run's name (run_name, and the aml.run_id tag searched for) is only a
 * name: on a server whose experiments users share, anyone can make a run
 * of any name in them, and MLflow keeps both.  So a run is reached by its
 * MLflow run id, the key sbatch learned when it made the run (bind).
 * Only a reader given nothing but the name searches by it (mf_choose_run),
 * and never takes one of several silently.
 */

int mf_bind(void *self, const char *run_id, const char *key,
	    char *errbuf, size_t errlen)
{
	struct mlflow *m = self;
	struct binding *b = NULL, *grown;

	for (size_t i = 0; i < m->n_bound; i++)
		if (!strcmp(m->bound[i].run_id, run_id))
			b = &m->bound[i];
	if (!key) {
		if (b) {
			free(b->run_id);
			free(b->key);
			*b = m->bound[--m->n_bound];
		}
		return 0;
	}
	if (b) {
		char *copy = strdup(key);

		if (!copy)
			return mf_oom(errbuf, errlen);
		free(b->key);
		b->key = copy;
		return 0;
	}
	grown = realloc(m->bound, (m->n_bound + 1) * sizeof(*grown));
	if (!grown)
		return mf_oom(errbuf, errlen);
	m->bound = grown;
	b = &m->bound[m->n_bound];
	b->run_id = strdup(run_id);
	b->key = strdup(key);
	if (!b->run_id || !b->key) {
		free(b->run_id);
		free(b->key);
		return mf_oom(errbuf, errlen);
	}
	m->n_bound++;
	return 0;
}

const char *mf_key_of(void *self, const char *run_id)
{
	struct mlflow *m = self;

	for (size_t i = 0; i < m->n_bound; i++)
		if (!strcmp(m->bound[i].run_id, run_id))
			return m->bound[i].key;
	return NULL;
}

/* The MLflow run [key] (runs/get): 0 with [run], 1 when the server has
 * none, or a verdict. */
int mf_get_run(struct mlflow *m, const char *key,
	       struct aml_mlflow_run *run, char *errbuf, size_t errlen)
{
	struct aml_http_response resp;
	char *enc = aml_url_encode(key), *target = NULL;
	int rc;

	memset(run, 0, sizeof(*run));
	if (!enc || asprintf(&target, "runs/get?run_id=%s", enc) < 0) {
		free(enc);
		return mf_oom(errbuf, errlen);
	}
	free(enc);
	rc = mf_request(m, "GET", target, NULL, &resp, errbuf, errlen);
	free(target);
	if (rc == AML_BACKEND_OK &&
	    aml_mlflow_parse_run("runs/get", resp.body, resp.body_len, run,
				 errbuf, errlen) < 0)
		rc = AML_BACKEND_REFUSED;
	else if (rc != AML_BACKEND_OK && resp.status == 404)
		rc = 1;
	aml_http_response_free(&resp);
	return rc;
}

/*
 * Whether [run], reached by a key that was handed to us (a job's
 * environment or admin comment, a spooled write, a command line), is
 * slurm-aml's run [run_id].  The key passes through places its user
 * controls; pointing it at another run, of another name, must not make
 * that run this one.  Which user the run belongs to is judged where it
 * matters: the finalizer (root) compares it with the job's user.
 */
static int run_is_named(const struct aml_mlflow_run *run, const char *run_id)
{
	const char *tagged = aml_kvlist_get(&run->tags, TAG_RUN_ID);

	return tagged && !strcmp(tagged, run_id);
}

/* The run [key], which must be run [run_id]: 0 with [run], or a verdict
 * saying which of the two did not hold. */
int mf_keyed_run(struct mlflow *m, const char *key, const char *run_id,
		 struct aml_mlflow_run *run, char *errbuf, size_t errlen)
{
	int rc = mf_get_run(m, key, run, errbuf, errlen);

	if (rc == 1) {
		errno = ENOENT;
		aml_fail(errbuf, errlen, "run history: no run %s (MLflow run "
			 "%s, the id it was made with, is not on %s)", run_id,
			 key, m->base);
		return AML_BACKEND_REFUSED;
	}
	if (rc == 0 && !run_is_named(run, run_id)) {
		aml_mlflow_run_free(run);
		return aml_fail(errbuf, errlen, "run history (MLflow): run %s: "
				"MLflow run %s is another run; nothing read or "
				"written", run_id, key);
	}
	return rc;
}

/* Who made [run]: run.info.user_id (MLflow's own field, which our
 * creates fill with the user's name; a server that knows its users may
 * set it itself), else the mlflow.user tag. */
const char *mf_owner_of(const struct aml_mlflow_run *run)
{
	const char *user = aml_kvlist_get(&run->tags, "mlflow.user");

	if (run->user_id && *run->user_id)
		return run->user_id;
	return user ? user : "?";
}

/* Every slurm-aml run named [run_id] in the experiments [ids] (all
 * pages): 0 with [found], or a verdict. */
int mf_runs_named(struct mlflow *m, const char *const *ids, size_t n,
		  const char *run_id, struct aml_mlflow_runs *found,
		  char *errbuf, size_t errlen)
{
	char *quoted = NULL, *filter = NULL;
	int rc;

	memset(found, 0, sizeof(*found));
	if (!aml_runid_is_valid(run_id)) {
		char shown[96];

		aml_text_escape(run_id, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "\"%s\" is not a run id",
				shown);
	}
	if (aml_mlflow_filter_value(run_id, &quoted, errbuf, errlen) < 0)
		return AML_BACKEND_REFUSED;
	if (asprintf(&filter, "tags.\"" TAG_RUN_ID "\" = %s", quoted) < 0) {
		free(quoted);
		return mf_oom(errbuf, errlen);
	}
	free(quoted);
	rc = mf_search_runs(m, ids, n, filter, 0, found, errbuf, errlen);
	free(filter);
	return rc;
}

/*
 * The run of [found] (the runs named [run_id]) that a caller without a
 * key takes: the caller's own (owner_of is our user's name; root counts
 * every run as its own) when [mine_only] (a writer must not write into
 * someone else's run), else the only one or, of several, the only one
 * that is the caller's.  Anything else is refused with one line naming
 * each candidate's MLflow run id, owner and experiment (from [all], may
 * be NULL) and how to pick one, so another user's run of the same name is
 * never taken silently.  0 with [*run] moved out of [found]; 1 when none
 * is left; or a verdict.
 */
int mf_choose_run(struct mlflow *m, struct aml_mlflow_runs *found,
		  const char *run_id, int mine_only,
		  const struct aml_mlflow_experiments *all,
		  struct aml_mlflow_run *run, char *errbuf,
		  size_t errlen)
{
	struct aml_text t = AML_TEXT_INIT;
	size_t pick = found->count, mine = 0;
	char *line;

	for (size_t i = 0; i < found->count; i++)
		if (m->uid == 0 ||
		    !strcmp(mf_owner_of(&found->items[i]), m->user)) {
			mine++;
			pick = i;
		}
	if (!mine_only && found->count == 1) {
		pick = 0;
		mine = 1;
	}
	if (mine == 1) {
		*run = found->items[pick];
		memset(&found->items[pick], 0, sizeof(found->items[pick]));
		return 0;
	}
	if (mine_only ? !mine : !found->count)
		return 1;
	aml_text_printf_shown(&t, "run history (MLflow): %zu runs on %s are "
			      "named %s:", found->count, m->base, run_id);
	for (size_t i = 0; i < found->count; i++) {
		const struct aml_mlflow_run *r = &found->items[i];
		const char *exp = mf_experiment_name(all, r->experiment_id);

		aml_text_printf_shown(&t, "%s MLflow run %s (owner %s%s%s)",
				      i ? "," : "", r->run_id, mf_owner_of(r),
				      exp ? ", experiment " : "",
				      exp ? exp : "");
	}
	aml_text_str(&t, "; none is yours alone: name the one you mean by "
		     "its MLflow run id instead of the run id");
	line = aml_text_finish(&t);
	aml_fail(errbuf, errlen, "%s", line ? line : "out of memory");
	free(line);
	return AML_BACKEND_REFUSED;
}

/*
 * The run [run_id] of [experiment], which a writer names: by its key when
 * one is bound (always, but for a job whose run sbatch could only spool),
 * else by name among the writer's own runs in that experiment.  One that
 * is not there is refused.  [*exp_id] is the run's experiment id.
 */
int mf_named_run(struct mlflow *m, const char *experiment,
		 const char *run_id, char **exp_id,
		 struct aml_mlflow_run *run, char *errbuf, size_t errlen)
{
	const char *key = mf_key_of(m, run_id);
	struct aml_mlflow_runs found = { 0 };
	int rc;

	memset(run, 0, sizeof(*run));
	if (key) {
		rc = mf_keyed_run(m, key, run_id, run, errbuf, errlen);
		if (rc == 0 && run->experiment_id &&
		    !(*exp_id = strdup(run->experiment_id))) {
			aml_mlflow_run_free(run);
			rc = mf_oom(errbuf, errlen);
		}
		return rc;
	}
	rc = mf_experiment_id(m, experiment, 0, exp_id, errbuf, errlen);
	if (rc == 0)
		rc = mf_runs_named(m, (const char *const *)exp_id, 1, run_id,
				   &found, errbuf, errlen);
	if (rc == 0)
		rc = mf_choose_run(m, &found, run_id, 1, NULL, run, errbuf,
				   errlen);
	aml_mlflow_runs_free(&found);
	if (rc != 0) {
		free(*exp_id);
		*exp_id = NULL;
	}
	/* A writer names a run sbatch made: missing, it is not there yet
	 * (its creation waits in the spool of the host it was submitted
	 * from, which that host's delivery sends).  Kept for later, as the
	 * file backend does, not refused. */
	if (rc == 1)
		aml_fail(errbuf, errlen, "run history (MLflow): no run %s of "
			 "yours in experiment %s on %s (yet: its creation may "
			 "still wait in the spool of the host it was submitted "
			 "from)", run_id, experiment, m->base);
	return rc == 1 ? AML_BACKEND_UNAVAILABLE : rc;
}

/*
 * The run of [found] this create made: a create that timed out may still
 * have reached the server, and its run carries the create's first event,
 * whose id is random, so no one else's run can.  Another run of the same
 * name (anyone's, the caller's own earlier one too) is left alone:
 * refusing because of it would let anyone who shares the experiment block
 * a submission by making a run of its name first.  0 with [*run] moved
 * out of [found], 1 when there is none.
 */
int mf_made_by(struct aml_mlflow_runs *found, const char *first_id,
	       struct aml_mlflow_run *run)
{
	for (size_t i = 0; i < found->count; i++)
		if (mf_has_event(&found->items[i], first_id)) {
			*run = found->items[i];
			memset(&found->items[i], 0, sizeof(found->items[i]));
			return 0;
		}
	return 1;
}

int mf_has_event(const struct aml_mlflow_run *run, const char *event_id)
{
	size_t prefix = strlen(TAG_EVENT), id_len = strlen(event_id);

	/* Any key of an event ends in ".<id>", whichever release of
	 * slurm-aml wrote it. */
	for (size_t i = 0; i < run->tags.count; i++) {
		const char *key = run->tags.items[i].key;
		size_t len = strlen(key);

		if (len > prefix + id_len && !strncmp(key, TAG_EVENT, prefix) &&
		    key[len - id_len - 1] == '.' &&
		    !strcmp(key + len - id_len, event_id))
			return 1;
	}
	return 0;
}
