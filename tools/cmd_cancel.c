/*
 * aml-run cancel: cancel a run's Slurm job.
 *
 * A run that never reached a node (NotStarted, Queued) has nothing left to
 * report its end, so the cancel is recorded here, as Canceled.  A run on
 * its nodes gets CancelRequested: its launcher sees scancel's SIGTERM,
 * uploads what the script wrote and records Canceled itself, and the
 * finalizer records it if the launcher cannot.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runs.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run cancel [OPTIONS] RUN_ID\n"
	"\n"
	"Cancel a run: scancel its Slurm job and record the cancellation.\n"
	"\n"
	"  --conf PATH    site policy to use\n"
	"  -h, --help     show this help\n";

static void who(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)getuid());
}

int cmd_cancel(int argc, char **argv)
{
	static const struct option options[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct aml_run_info info;
	struct aml_history *h;
	struct aml_site site;
	struct aml_event ev;
	const char *conf = NULL;
	char err[1024], reason[256], user[64];
	enum aml_status status_now, next;
	uint32_t job_id;
	int opt, status;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return AML_EXIT_OK;
		default:
			return tool_usage_error("cancel", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if ((status = runs_one_id("cancel", argc)) != AML_EXIT_OK)
		return status;
	status = runs_open_read("cancel", conf, argv[optind], &site, &h, &info);
	if (status != AML_EXIT_OK)
		return status;
	status_now = info.state.status;
	if (!info.state.has_events || aml_status_is_terminal(status_now)) {
		tool_printf(stderr, "aml-run cancel: run %s has already ended: "
			    "%s\n", info.run_id, info.state.has_events
			    ? aml_status_name(status_now) : "no valid events");
		status = AML_EXIT_FAILURE;
		goto done;
	}
	job_id = runs_last_job(&info);
	if (job_id &&
	    runs_slurm_cancel(job_id, (uint32_t)info.uid, err, sizeof(err)) < 0) {
		tool_printf(stderr, "aml-run cancel: run %s: %s\n", info.run_id,
			    err);
		status = AML_EXIT_FAILURE;
		goto done;
	}
	next = status_now == AML_STATUS_NOT_STARTED ||
			       status_now == AML_STATUS_QUEUED
		       ? AML_STATUS_CANCELED : AML_STATUS_CANCEL_REQUESTED;
	who(user, sizeof(user));
	snprintf(reason, sizeof(reason), "cancelled by %s with aml-run cancel",
		 user);
	if (aml_event_init(&ev, next, AML_SOURCE_USER) < 0 ||
	    aml_event_set_reason(&ev, reason) < 0) {
		fprintf(stderr, "aml-run cancel: cannot make an event\n");
		aml_event_free(&ev);
		status = AML_EXIT_FAILURE;
		goto done;
	}
	ev.attempt = info.state.attempt;
	ev.job_id = job_id;
	err[0] = '\0';
	/* An error here is not the command's failure: the job's own end
	 * may have won the race, and the job is cancelled either way.  A
	 * spooled record is said, so nobody wonders where it went. */
	if (aml_history_record(h, info.experiment, info.run_id, &ev, err,
			       sizeof(err)) != AML_HISTORY_WRITTEN && *err)
		fprintf(stderr, "aml-run cancel: %s\n", err);
	aml_event_free(&ev);
	if (job_id)
		tool_printf(stdout, "Cancelled Slurm job %u of run %s (%s)\n",
			    job_id, info.run_id, aml_status_name(next));
	else if (next == AML_STATUS_CANCELED)
		tool_printf(stdout, "Run %s was never submitted; recorded as "
			    "Canceled\n", info.run_id);
	else
		tool_printf(stdout, "Run %s has no Slurm job to cancel; "
			    "recorded %s\n", info.run_id, aml_status_name(next));
done:
	aml_run_info_free(&info);
	runs_close(&site, h);
	return status;
}
