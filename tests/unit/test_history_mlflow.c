/*
 * test_history_mlflow.c: run history on an MLflow server (HistoryBackend=
 * mlflow, rest/history_mlflow.c) where users share an experiment, against
 * the MLflow test server on loopback (mlflow_server.h).
 *
 * On MLflow a run's name is only a name: anyone who shares an experiment
 * can make a run of any name in it, and claim anyone as its owner, since
 * MLflow 2.10 takes run.info.user_id and every tag from the client.  So
 * here another user ("mallory") makes runs through the REST API directly,
 * as a hostile client would, with the names and owners of our user's
 * runs; our user's writers, which reach a run by its MLflow run id, and
 * readers, which never take one of several runs of a name silently, must
 * be unaffected.
 *
 * The cases run as an unprivileged user (root, which counts every run as
 * its own, drops to nobody first), in order, on one server, each with
 * run ids of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "history.h"
#include "history_mlflow.h"
#include "mlflow_server.h"
#include "runid.h"
#include "site.h"

#define NOBODY 65534
#define EXP "shared"

static struct mlflow_server server = { .pid = -1 };
static const char *skip_reason;
static char work[64];
static char me[64];
static struct aml_site site;
static int have_site;

#define NEED_SERVER()                                        \
	do {                                                 \
		if (!have_site) {                            \
			printf("# SKIP: %s\n", skip_reason); \
			skip();                              \
		}                                            \
	} while (0)

/* ---- helpers ---- */

static struct aml_history *open_history(void)
{
	struct aml_history *h;
	char err[1024];

	if (aml_history_open(&site, &h, err, sizeof(err)) != 0)
		fail_msg("aml_history_open: %s", err);
	return h;
}

/* Create [run_id] in EXP through [h], as sbatch does; its MLflow id. */
static char *create(struct aml_history *h, const char *run_id)
{
	struct aml_event ev;
	struct aml_run_new req = { .experiment = EXP, .run_id = run_id,
				   .config_json = "{\"script\":\"t.py\"}",
				   .first = &ev };
	enum aml_history_result r;
	const char *key;
	char err[1024];

	assert_int_equal(aml_event_init(&ev, AML_STATUS_NOT_STARTED,
					AML_SOURCE_SBATCH), 0);
	r = aml_history_create_run(h, &req, err, sizeof(err));
	aml_event_free(&ev);
	if (r != AML_HISTORY_WRITTEN)
		fail_msg("create %s: %s", run_id, err);
	key = aml_history_key(h, run_id);
	assert_non_null(key);
	assert_true(aml_runid_is_tracking_id(key));
	return strdup(key);
}

static enum aml_history_result record(struct aml_history *h,
				      const char *run_id,
				      enum aml_status status, char *err,
				      size_t errlen)
{
	struct aml_event ev;
	enum aml_history_result r;

	assert_int_equal(aml_event_init(&ev, status, AML_SOURCE_LAUNCHER), 0);
	r = aml_history_record(h, EXP, run_id, &ev, err, errlen);
	aml_event_free(&ev);
	return r;
}

static char *experiment_id(void)
{
	char *text = mlflow_server_control(&server, "GET",
		"/api/2.0/mlflow/experiments/get-by-name?experiment_name=" EXP,
		NULL);
	cJSON *j = cJSON_Parse(text);
	char *id = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(j, "experiment"), "experiment_id")));

	cJSON_Delete(j);
	free(text);
	return id;
}

/* A run named [run_id] in EXP that another user makes with the REST API
 * directly, claiming [owner] (user_id and mlflow.user) as MLflow lets
 * any client; its MLflow id. */
static char *forged_run(const char *run_id, const char *owner)
{
	char *exp = experiment_id(), *body, *text, *id;
	cJSON *j;

	assert_true(asprintf(&body,
		"{\"experiment_id\":\"%s\",\"run_name\":\"%s\",\"user_id\":\"%s\","
		"\"start_time\":1,\"tags\":["
		"{\"key\":\"aml.run_id\",\"value\":\"%s\"},"
		"{\"key\":\"aml.schema\",\"value\":\"1\"},"
		"{\"key\":\"aml.owner_uid\",\"value\":\"4242\"},"
		"{\"key\":\"mlflow.user\",\"value\":\"%s\"}]}",
		exp, run_id, owner, run_id, owner) > 0);
	text = mlflow_server_control(&server, "POST",
				     "/api/2.0/mlflow/runs/create", body);
	j = cJSON_Parse(text);
	id = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(j, "run"), "info"),
		"run_id")));
	cJSON_Delete(j);
	free(text);
	free(body);
	free(exp);
	return id;
}

/* The statuses of the events MLflow run [key] holds, in tag order,
 * joined by blanks ("" when none). */
static char *events_on(const char *key)
{
	cJSON *d = mlflow_server_dump(&server), *run, *tag;
	char out[512] = "";

	cJSON_ArrayForEach(run, cJSON_GetObjectItem(d, "runs")) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(run, "info"), "run_id"));

		if (!id || strcmp(id, key))
			continue;
		cJSON_ArrayForEach(tag, cJSON_GetObjectItem(run, "tags")) {
			const char *k = cJSON_GetStringValue(
				cJSON_GetObjectItem(tag, "key"));
			cJSON *ev;

			if (!k || strncmp(k, "aml.event.", 10))
				continue;
			ev = cJSON_Parse(cJSON_GetStringValue(
				cJSON_GetObjectItem(tag, "value")));
			snprintf(out + strlen(out), sizeof(out) - strlen(out),
				 "%s%s", out[0] ? " " : "",
				 cJSON_GetStringValue(cJSON_GetObjectItem(
					 ev, "status")));
			cJSON_Delete(ev);
		}
	}
	cJSON_Delete(d);
	return strdup(out);
}

static void assert_events(const char *key, const char *want)
{
	char *got = events_on(key);

	assert_string_equal(got, want);
	free(got);
}

/* How many runs on the server are named [run_id]. */
static int runs_named(const char *run_id)
{
	cJSON *d = mlflow_server_dump(&server), *run;
	int n = 0;

	cJSON_ArrayForEach(run, cJSON_GetObjectItem(d, "runs")) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(run, "info"), "run_name"));

		n += name && !strcmp(name, run_id);
	}
	cJSON_Delete(d);
	return n;
}

/* ---- the cases ---- */

/* sbatch learns the MLflow id at creation; a writer bound to it (the node,
 * the launcher: AML_MLFLOW_RUN_ID) writes there, whatever other run of
 * the same name another user made meanwhile. */
static void test_writer_reaches_its_run_by_id(void **state)
{
	struct aml_history *sbatch, *launcher;
	char *key, *other, err[1024];

	(void)state;
	NEED_SERVER();
	sbatch = open_history();
	key = create(sbatch, "w_1_0000000a");
	other = forged_run("w_1_0000000a", "mallory");
	assert_int_equal(record(sbatch, "w_1_0000000a", AML_STATUS_QUEUED, err,
				sizeof(err)), AML_HISTORY_WRITTEN);
	aml_history_close(sbatch);

	/* Even a same-named run that claims to be ours is left alone. */
	free(forged_run("w_1_0000000a", me));
	launcher = open_history();
	assert_int_equal(aml_history_bind(launcher, "w_1_0000000a", key, err,
					  sizeof(err)), 0);
	assert_int_equal(record(launcher, "w_1_0000000a", AML_STATUS_RUNNING,
				err, sizeof(err)), AML_HISTORY_WRITTEN);
	aml_history_close(launcher);
	assert_events(key, "NotStarted Queued Running");
	assert_events(other, "");
	free(other);
	free(key);
}

/* A key that names another run (a job pointed at someone else's run) is
 * refused, and nothing is written there. */
static void test_wrong_key_refused(void **state)
{
	struct aml_history *h;
	char *mine, *theirs, err[1024];

	(void)state;
	NEED_SERVER();
	h = open_history();
	mine = create(h, "k_1_0000000a");
	theirs = forged_run("k_2_0000000b", "mallory");
	aml_history_close(h);
	h = open_history();
	assert_int_equal(aml_history_bind(h, "k_1_0000000a", theirs, err,
					  sizeof(err)), 0);
	assert_int_equal(record(h, "k_1_0000000a", AML_STATUS_QUEUED, err,
				sizeof(err)), AML_HISTORY_ERROR);
	assert_non_null(strstr(err, "is another run"));
	assert_int_equal(aml_history_bind(h, "k_1_0000000a", "not a key", err,
					  sizeof(err)), -1);
	assert_non_null(strstr(err, "\"not a key\" is not a tracking server's run id"));
	aml_history_close(h);
	assert_events(theirs, "");
	assert_events(mine, "NotStarted");
	free(mine);
	free(theirs);
}

/* A reader given the run id alone takes its own run of that name, and
 * gets its MLflow id with it, for what it writes next. */
static void test_reader_prefers_own_run(void **state)
{
	struct aml_history *h;
	struct aml_run_info info;
	char *key, *other, err[1024];

	(void)state;
	NEED_SERVER();
	h = open_history();
	key = create(h, "r_1_0000000a");
	aml_history_close(h);
	other = forged_run("r_1_0000000a", "mallory");

	h = open_history();
	if (aml_history_read_run(h, "r_1_0000000a", 0, &info, err,
				 sizeof(err)) != 0)
		fail_msg("read: %s", err);
	assert_string_equal(info.key, key);
	assert_string_equal(info.owner, me);
	assert_string_equal(info.experiment, EXP);
	aml_run_info_free(&info);
	/* The other one, by its MLflow id. */
	if (aml_history_read_run(h, other, 0, &info, err, sizeof(err)) != 0)
		fail_msg("read by MLflow id: %s", err);
	assert_string_equal(info.run_id, "r_1_0000000a");
	assert_string_equal(info.key, other);
	assert_string_equal(info.owner, "mallory");
	aml_run_info_free(&info);
	aml_history_close(h);
	free(other);
	free(key);
}

/* Two runs of the name that both claim the reader: refused with one line
 * naming each MLflow id and owner and how to pick; the MLflow id picks. */
static void test_reader_refuses_to_guess(void **state)
{
	struct aml_history *h;
	struct aml_run_info info;
	char *key, *forged, err[1024];

	(void)state;
	NEED_SERVER();
	h = open_history();
	key = create(h, "a_1_0000000a");
	aml_history_close(h);
	forged = forged_run("a_1_0000000a", me);

	h = open_history();
	assert_int_equal(aml_history_read_run(h, "a_1_0000000a", 0, &info, err,
					      sizeof(err)), -1);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "2 runs on http://127.0.0.1:"));
	assert_non_null(strstr(err, key));
	assert_non_null(strstr(err, forged));
	assert_non_null(strstr(err, "(owner "));
	assert_non_null(strstr(err, "experiment " EXP));
	assert_non_null(strstr(err, "by its MLflow run id"));
	if (aml_history_read_run(h, key, 0, &info, err, sizeof(err)) != 0)
		fail_msg("read by MLflow id: %s", err);
	assert_string_equal(info.run_id, "a_1_0000000a");
	assert_string_equal(info.key, key);
	aml_run_info_free(&info);
	aml_history_close(h);
	free(forged);
	free(key);
}

/* A writer with no key (a job whose run sbatch could only spool) writes
 * only into a run of its own, and refuses when that is ambiguous. */
static void test_unbound_writer_own_runs_only(void **state)
{
	struct aml_history *h;
	char *key, *other, err[1024];

	(void)state;
	NEED_SERVER();
	h = open_history();
	key = create(h, "u_1_0000000a");
	aml_history_close(h);
	other = forged_run("u_1_0000000a", "mallory");
	h = open_history();
	assert_int_equal(record(h, "u_1_0000000a", AML_STATUS_QUEUED, err,
				sizeof(err)), AML_HISTORY_WRITTEN);
	aml_history_close(h);
	assert_events(key, "NotStarted Queued");
	assert_events(other, "");

	free(forged_run("u_1_0000000a", me));
	h = open_history();
	assert_int_equal(record(h, "u_1_0000000a", AML_STATUS_RUNNING, err,
				sizeof(err)), AML_HISTORY_ERROR);
	assert_non_null(strstr(err, "3 runs on"));
	aml_history_close(h);
	assert_events(key, "NotStarted Queued");
	free(other);
	free(key);
}

/* A run of the name made before ours (even claiming us) neither blocks
 * the create nor is taken for ours; a create repeated after a timeout
 * finishes its own run instead of making a second. */
static void test_create_takes_only_its_own(void **state)
{
	struct aml_history *h;
	struct aml_event ev;
	struct aml_run_new req = { .experiment = EXP, .run_id = "c_1_0000000a",
				   .config_json = "{\"script\":\"t.py\"}",
				   .first = &ev };
	char *squat, *key, err[1024];

	(void)state;
	NEED_SERVER();
	h = open_history();
	free(create(h, "c_0_0000000a")); /* the experiment exists */
	squat = forged_run("c_1_0000000a", me);
	assert_int_equal(aml_event_init(&ev, AML_STATUS_NOT_STARTED,
					AML_SOURCE_SBATCH), 0);
	assert_int_equal(aml_history_create_run(h, &req, err, sizeof(err)),
			 AML_HISTORY_WRITTEN);
	key = strdup(aml_history_key(h, "c_1_0000000a"));
	assert_string_not_equal(key, squat);
	aml_history_close(h);
	assert_int_equal(runs_named("c_1_0000000a"), 2);

	h = open_history();
	assert_int_equal(aml_history_create_run(h, &req, err, sizeof(err)),
			 AML_HISTORY_WRITTEN);
	assert_string_equal(aml_history_key(h, "c_1_0000000a"), key);
	aml_history_close(h);
	aml_event_free(&ev);
	assert_int_equal(runs_named("c_1_0000000a"), 2);
	assert_events(key, "NotStarted");
	assert_events(squat, "");
	free(squat);
	free(key);
}

/* A write spooled while the server failed keeps its key: replayed later
 * by a process that knows nothing (aml-run's flush), it reaches the same
 * run, though a name search would be ambiguous by then. */
static void test_spooled_write_keeps_its_key(void **state)
{
	struct aml_history *h;
	char *key, err[1024];
	size_t left = 99;

	(void)state;
	NEED_SERVER();
	h = open_history();
	key = create(h, "s_1_0000000a");
	mlflow_server_faults(&server, "{\"faults\":[{\"type\":\"fail\","
			     "\"match\":\"runs/get\",\"status\":503,"
			     "\"count\":-1}]}");
	assert_int_equal(record(h, "s_1_0000000a", AML_STATUS_QUEUED, err,
				sizeof(err)), AML_HISTORY_SPOOLED);
	aml_history_close(h);
	mlflow_server_faults(&server, "{}");
	free(forged_run("s_1_0000000a", me));

	h = open_history();
	if (aml_history_flush(h, &left, err, sizeof(err)) != 0)
		fail_msg("flush: %s", err);
	assert_int_equal(left, 0);
	aml_history_close(h);
	assert_events(key, "NotStarted Queued");
	free(key);
}

/* A node's write for a run whose creation is still spooled on the host
 * it was submitted from waits (as the file backend's does), and arrives
 * once the run is there; meanwhile the job's processes still get the
 * server and the experiment, and the run itself once it is there. */
static void test_run_not_there_yet(void **state)
{
	struct aml_kvlist env = { 0 };
	struct aml_history *h;
	size_t remaining = 9;
	char *key, err[1024];

	(void)state;
	NEED_SERVER();
	h = open_history();
	free(create(h, "y_0_0000000a")); /* the experiment exists */
	assert_int_equal(record(h, "y_1_0000000a", AML_STATUS_PREPARING, err,
				sizeof(err)), AML_HISTORY_SPOOLED);
	assert_non_null(strstr(err, "no run y_1_0000000a of yours"));
	assert_non_null(strstr(err, "(yet"));
	assert_int_equal(aml_history_job_env(h, EXP, "y_1_0000000a", &env, err,
					     sizeof(err)), -1);
	assert_string_equal(aml_kvlist_get(&env, "MLFLOW_EXPERIMENT_NAME"),
			    EXP);
	assert_non_null(aml_kvlist_get(&env, "MLFLOW_TRACKING_URI"));
	assert_null(aml_kvlist_get(&env, "MLFLOW_RUN_ID"));
	aml_kvlist_free(&env);
	aml_history_close(h);

	/* The creation arrives (the login host's delivery). */
	h = open_history();
	key = create(h, "y_1_0000000a");
	aml_history_close(h);
	h = open_history();
	assert_int_equal(aml_history_flush(h, &remaining, err, sizeof(err)), 0);
	assert_int_equal(remaining, 0);
	assert_int_equal(aml_history_job_env(h, EXP, "y_1_0000000a", &env, err,
					     sizeof(err)), 0);
	assert_string_equal(aml_kvlist_get(&env, "MLFLOW_RUN_ID"), key);
	aml_kvlist_free(&env);
	aml_history_close(h);
	assert_events(key, "NotStarted Preparing");
	free(key);
}

/* A configuration longer than a tag holds is cut into pieces, never
 * inside a character: a two-byte character at every offset makes some
 * piece boundary fall mid-character, which the server (which decodes
 * UTF-8) would refuse; read back, the pieces are the configuration. */
static void test_config_pieces_whole_characters(void **state)
{
	struct aml_event ev;
	struct aml_run_new req = { .experiment = EXP,
				   .run_id = "y_0_0000000c", .first = &ev };
	struct aml_run_info info;
	struct aml_history *h;
	size_t n = 0, chars = 9000;
	char err[1024], *config = malloc(32 + 2 * chars);

	(void)state;
	NEED_SERVER();
	assert_non_null(config);
	n += (size_t)sprintf(config, "{\"script\":\"t.py\",\"a\":\"x");
	for (size_t i = 0; i < chars; i++) {
		config[n++] = (char)0xc3;
		config[n++] = (char)0xa9;
	}
	strcpy(config + n, "\"}");
	req.config_json = config;
	assert_int_equal(aml_event_init(&ev, AML_STATUS_NOT_STARTED,
					AML_SOURCE_SBATCH), 0);
	h = open_history();
	if (aml_history_create_run(h, &req, err, sizeof(err)) !=
	    AML_HISTORY_WRITTEN)
		fail_msg("create: %s", err);
	aml_event_free(&ev);
	if (aml_history_read_run(h, "y_0_0000000c", 1, &info, err,
				 sizeof(err)) != 0)
		fail_msg("read: %s", err);
	assert_non_null(info.config_json);
	assert_string_equal(info.config_json, config);
	aml_run_info_free(&info);
	aml_history_close(h);
	free(config);
}

/* What run [run_id]'s artifact [path] holds, as a reader gets it. */
static char *artifact_text(struct aml_history *h, const char *run_id,
			   const char *path)
{
	struct aml_run_info info;
	char err[1024], *text = calloc(1, 4096);
	ssize_t n;
	int fd;

	assert_non_null(text);
	if (aml_history_read_run(h, run_id, 0, &info, err, sizeof(err)) != 0)
		fail_msg("read %s: %s", run_id, err);
	fd = aml_history_open_artifact(h, &info, path, err, sizeof(err));
	if (fd < 0)
		fail_msg("open %s: %s", path, err);
	n = read(fd, text, 4095);
	assert_true(n >= 0);
	close(fd);
	aml_run_info_free(&info);
	return text;
}

/* A live log on a tracking server: put whole, as far as it has come, over
 * the last copy; never spooled, even for a run not there yet. */
static void test_live_log_copies(void **state)
{
	struct aml_history *h;
	char path[128], err[1024], *text;
	size_t remaining = 9;
	int fd;

	(void)state;
	NEED_SERVER();
	h = open_history();
	assert_false(aml_history_appends_logs(h));
	assert_int_equal(aml_history_open_log(h, EXP, "y_0_0000000b",
					      "std_log.txt", err,
					      sizeof(err)), -1);
	free(create(h, "y_0_0000000b"));
	snprintf(path, sizeof(path), "%s/live.txt", work);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "line 1\nline 2\n", 14), 14);

	assert_int_equal(aml_history_put_log(h, EXP, "y_0_0000000b",
					     "std_log.txt", fd, 7, err,
					     sizeof(err)), AML_HISTORY_WRITTEN);
	text = artifact_text(h, "y_0_0000000b", "user_logs/std_log.txt");
	assert_string_equal(text, "line 1\n");
	free(text);
	assert_int_equal(aml_history_put_log(h, EXP, "y_0_0000000b",
					     "std_log.txt", fd, 14, err,
					     sizeof(err)), AML_HISTORY_WRITTEN);
	text = artifact_text(h, "y_0_0000000b", "user_logs/std_log.txt");
	assert_string_equal(text, "line 1\nline 2\n");
	free(text);

	assert_int_equal(aml_history_put_log(h, EXP, "y_1_0000000b",
					     "std_log.txt", fd, 14, err,
					     sizeof(err)),
			 AML_HISTORY_UNAVAILABLE);
	assert_int_equal(aml_history_flush(h, &remaining, err, sizeof(err)), 0);
	assert_int_equal(remaining, 0);
	close(fd);
	aml_history_close(h);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	char conf[128], spool[96];
	struct aml_errors errs;
	FILE *f;

	(void)state;
	if (mlflow_server_start(&server, NULL, &skip_reason) != 0)
		return 0;
	snprintf(work, sizeof(work), "/tmp/test_history_mlflow.XXXXXX");
	if (!mkdtemp(work)) {
		skip_reason = "cannot make a temporary directory";
		return 0;
	}
	snprintf(spool, sizeof(spool), "%s/spool", work);
	snprintf(conf, sizeof(conf), "%s/aml.conf", work);
	f = fopen(conf, "w");
	if (mkdir(spool, 01777) != 0 || !f) {
		skip_reason = "cannot write aml.conf";
		if (f)
			fclose(f);
		return 0;
	}
	fprintf(f, "HistoryBackend=mlflow\nHistoryURI=http://127.0.0.1:%d\n"
		"SpoolDir=%s\nHistoryTimeout=2\nHistoryProbeInterval=0\n"
		"ComputeTarget=cpu Partition=debug\n",
		server.port, spool);
	fclose(f);
	aml_errors_init(&errs, NULL);
	if (aml_site_load(conf, &site, &errs) != 0) {
		skip_reason = errs.count ? "aml.conf refused" : "out of memory";
		aml_errors_free(&errs);
		return 0;
	}
	aml_errors_free(&errs);
	have_site = 1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	mlflow_server_stop(&server);
	if (have_site)
		aml_site_free(&site);
	if (work[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
		if (system(cmd) != 0)
			fprintf(stderr, "# cannot remove %s\n", work);
	}
	return 0;
}

/* Root counts every run as its own; the cases are an ordinary user's. */
static int become_ordinary(void)
{
	struct passwd *pw;

	if (geteuid() == 0 &&
	    (setgroups(0, NULL) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
	     setresuid(NOBODY, NOBODY, NOBODY) != 0))
		return -1;
	pw = getpwuid(geteuid());
	snprintf(me, sizeof(me), "%s", pw ? pw->pw_name : "?");
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_reaches_its_run_by_id),
		cmocka_unit_test(test_wrong_key_refused),
		cmocka_unit_test(test_reader_prefers_own_run),
		cmocka_unit_test(test_reader_refuses_to_guess),
		cmocka_unit_test(test_unbound_writer_own_runs_only),
		cmocka_unit_test(test_create_takes_only_its_own),
		cmocka_unit_test(test_spooled_write_keeps_its_key),
		cmocka_unit_test(test_run_not_there_yet),
		cmocka_unit_test(test_live_log_copies),
		cmocka_unit_test(test_config_pieces_whole_characters),
	};

	aml_history_register(&aml_history_mlflow_backend);
	if (become_ordinary() != 0) {
		printf("1..0 # SKIP cannot become an ordinary user\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
