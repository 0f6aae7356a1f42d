/*
 * history-fixture: writes runs into run history through the core, with
 * chosen times, so the aml-run history commands can be tested on known
 * runs without a cluster.  What a real run writes comes from sbatch, the
 * node and the launcher; this stands in for them, through the same calls.
 *
 *   history-fixture create EXP RUN_ID TIME_MS [TARGET [CONFIG_JSON
 *                   [PROPERTY=VALUE]...]]
 *   history-fixture event EXP RUN_ID STATUS TIME_MS SOURCE [job=N]
 *                   [node=X] [exit=N] [reason=TEXT] [attempt=N]
 *   history-fixture env EXP RUN_ID   (what the run's processes get)
 *   history-fixture upload EXP RUN_ID WORKDIR SRC
 *   history-fixture log EXP RUN_ID NAME TEXT
 *
 * The site comes from $AML_CONF.  Prints what the call returned; after
 * a create on a tracking server, "key <its id for the run>" as well.  As
 * the node and the launcher do, the other commands reach the run by
 * $AML_MLFLOW_RUN_ID when it is set.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "history.h"
#include "history_mlflow.h"

static int fail(const char *what)
{
	fprintf(stderr, "history-fixture: %s\n", what);
	return 1;
}

static int report(enum aml_history_result r, const char *err)
{
	static const char *const names[] = { "written", "spooled",
					     "unchanged", "unavailable" };

	if (r == AML_HISTORY_ERROR)
		return fail(err);
	puts(names[r]);
	/* Why it waits, for the tests that tell a try from a skip. */
	if (r == AML_HISTORY_SPOOLED)
		fprintf(stderr, "history-fixture: %s\n", err);
	return 0;
}

int main(int argc, char **argv)
{
	struct aml_site site;
	struct aml_errors errs;
	struct aml_history *h;
	struct aml_event ev;
	char err[1024];
	int rc = 1;

	aml_history_register(&aml_history_mlflow_backend);
	if (argc < 4)
		return fail("usage: see the comment at the top of the source");
	aml_errors_init(&errs, NULL);
	if (aml_site_load(getenv("AML_CONF"), &site, &errs) < 0)
		return fail("cannot load $AML_CONF");
	aml_errors_free(&errs);
	if (aml_history_open(&site, &h, err, sizeof(err)) < 0 ||
	    aml_history_bind(h, argv[3], getenv("AML_MLFLOW_RUN_ID"), err,
			     sizeof(err)) < 0)
		return fail(err);
	if (!strcmp(argv[1], "create") && argc >= 5) {
		struct aml_kvlist props = { 0 };
		struct aml_run_new req = { argv[2], argv[3],
					   argc > 6 ? argv[6]
						    : "{\"script\":\"train.py\"}",
					   &props, NULL, &ev };

		aml_kvlist_set(&props, AML_PROP_COMPUTE_TARGET,
			       argc > 5 ? argv[5] : "cpu");
		for (int i = 7; i < argc; i++) {
			char *v = strchr(argv[i], '=');

			if (!v)
				return fail("properties are key=value");
			*v++ = '\0';
			aml_kvlist_set(&props, argv[i], v);
		}
		aml_event_init(&ev, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH);
		ev.time_ms = strtoll(argv[4], NULL, 10);
		rc = report(aml_history_create_run(h, &req, err, sizeof(err)),
			    err);
		if (rc == 0 && aml_history_key(h, argv[3]))
			printf("key %s\n", aml_history_key(h, argv[3]));
		aml_kvlist_free(&props);
		aml_event_free(&ev);
	} else if (!strcmp(argv[1], "env")) {
		struct aml_kvlist env = { 0 };

		rc = aml_history_job_env(h, argv[2], argv[3], &env, err,
					 sizeof(err)) < 0;
		for (size_t i = 0; i < env.count; i++)
			printf("%s=%s\n", env.items[i].key, env.items[i].value);
		if (rc)
			fprintf(stderr, "history-fixture: %s\n", err);
		aml_kvlist_free(&env);
	} else if (!strcmp(argv[1], "event") && argc >= 7) {
		enum aml_status status;
		enum aml_event_source source;

		if (aml_status_parse(argv[4], &status) < 0 ||
		    aml_event_source_parse(argv[6], &source) < 0 ||
		    aml_event_init(&ev, status, source) < 0)
			return fail("bad status or source");
		ev.time_ms = strtoll(argv[5], NULL, 10);
		for (int i = 7; i < argc; i++) {
			char *v = strchr(argv[i], '=');

			if (!v)
				return fail("options are key=value");
			*v++ = '\0';
			if (!strcmp(argv[i], "job"))
				ev.job_id = (uint32_t)strtoul(v, NULL, 10);
			else if (!strcmp(argv[i], "node"))
				aml_event_set_node(&ev, v);
			else if (!strcmp(argv[i], "exit")) {
				ev.has_exit_code = 1;
				ev.exit_code = atoi(v);
			} else if (!strcmp(argv[i], "reason"))
				aml_event_set_reason(&ev, v);
			else if (!strcmp(argv[i], "attempt"))
				ev.attempt = (unsigned)atoi(v);
			else
				return fail("unknown option");
		}
		rc = report(aml_history_record(h, argv[2], argv[3], &ev, err,
					       sizeof(err)), err);
		aml_event_free(&ev);
	} else if (!strcmp(argv[1], "upload") && argc == 6) {
		int fd = open(argv[4], O_RDONLY | O_DIRECTORY);

		rc = fd < 0 ? fail("cannot open WORKDIR")
			    : report(aml_history_upload(h, argv[2], argv[3], fd,
							argv[5], NULL, err,
							sizeof(err)), err);
		if (fd >= 0)
			close(fd);
	} else if (!strcmp(argv[1], "log") && argc == 6) {
		int fd = aml_history_open_log(h, argv[2], argv[3], argv[4], err,
					      sizeof(err));

		if (fd < 0)
			rc = fail(err);
		else {
			rc = write(fd, argv[5], strlen(argv[5])) ==
					     (ssize_t)strlen(argv[5]) ? 0 : 1;
			close(fd);
		}
	} else {
		rc = fail("unknown command or wrong arguments");
	}
	aml_history_close(h);
	aml_site_free(&site);
	return rc;
}
