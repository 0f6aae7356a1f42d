/*
 * aml-run logs and aml-run wait: a run's output, printed or followed
 * while the run goes on.
 *
 * Following polls: run history may sit on NFS, where inotify sees nothing
 * another client writes.  Four reads a second cost nothing and keep the
 * output within a quarter second of the file.  A run history that keeps
 * logs as whole copies (MLflow: the launcher puts the growing log again
 * every HistoryLogInterval) is read again from the start each time, so
 * it is fetched every 2 s at most, and never more than a tenth of the
 * time: what was printed is skipped.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hangwatch.h"
#include "runs.h"
#include "tools.h"

#define POLL_MS 250
#define COPY_POLL_MS 2000
#define COPY_IDLE_FACTOR 10
#define RECONCILE_EVERY_MS 10000

static const char logs_usage[] =
	"Usage: aml-run logs [OPTIONS] RUN_ID\n"
	"\n"
	"Print a run's output (user_logs/std_log.txt, or a process's\n"
	"user_logs/std_log_process_N.txt).\n"
	"\n"
	"  -f, --follow   keep printing as the run writes, until it ends\n"
	"  --rank N       the output of process N (default: the driver, rank 0)\n"
	"  --conf PATH    site policy to use\n"
	"  -h, --help     show this help\n";

static const char wait_usage[] =
	"Usage: aml-run wait [OPTIONS] RUN_ID\n"
	"\n"
	"Wait until a run ends, and exit with a status that says how it ended.\n"
	"\n"
	"  --show-output     print the driver's output while waiting\n"
	"  --timeout SECS    give up after SECS seconds (exit 124)\n"
	"  --conf PATH       site policy to use\n"
	"  -h, --help        show this help\n"
	"\n"
	"Exit status: 0 Completed; Failed: the run's exit code when it is 1 to\n"
	"125, else 1; 130 Canceled; 124 timed out; 64 usage error.\n";

struct follower {
	struct aml_history *h;
	struct aml_run_info info;
	const char *paths[2];    /* the log to print, and a fallback */
	int fd;
	int64_t last_reconcile;
	/* Where run history keeps whole copies (!aml_history_appends_logs) */
	int copies;
	long long printed;       /* bytes of the log printed so far */
	int path;                /* paths[] index of the copy read: -1 */
	int64_t next_fetch;      /* runs_now_ms() time of the next fetch */
};

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Open the log, or (copies) fetch its copy again when it is time, or
 * [now] anyway, past what was printed. */
static void open_log(struct follower *f, int now)
{
	char err[1024];
	int64_t started, took;

	if (!f->copies) {
		for (size_t i = 0; f->fd < 0 && i < 2 && f->paths[i]; i++)
			f->fd = aml_history_open_artifact(f->h, &f->info,
							  f->paths[i], err,
							  sizeof(err));
		return;
	}
	started = runs_now_ms();
	if (!now && started < f->next_fetch)
		return;
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	/* The fallback is only for as long as neither log was seen. */
	if (f->path >= 0)
		f->fd = aml_history_open_artifact(f->h, &f->info,
						  f->paths[f->path], err,
						  sizeof(err));
	for (int i = 0; f->path < 0 && i < 2 && f->paths[i]; i++)
		if ((f->fd = aml_history_open_artifact(f->h, &f->info,
						       f->paths[i], err,
						       sizeof(err))) >= 0)
			f->path = i;
	if (f->fd >= 0 && lseek(f->fd, (off_t)f->printed, SEEK_SET) < 0) {
		close(f->fd);
		f->fd = -1;
	}
	took = runs_now_ms() - started;
	f->next_fetch = started + (took * COPY_IDLE_FACTOR > COPY_POLL_MS
					   ? took * COPY_IDLE_FACTOR
					   : COPY_POLL_MS);
}

/* Copy what the log holds beyond what was printed, as it is: the run's
 * own output, which its user reads as their script wrote it (everything
 * else aml-run prints goes through tool_printf). */
static int drain(struct follower *f)
{
	char buf[65536];
	ssize_t got;

	if (f->fd < 0)
		return 0;
	for (;;) {
		/* The read is run history's; the write, a terminal's or a
		 * pipe's, may wait on a reader as long as it likes. */
		aml_hangwatch_busy(0, "reading the log of run %s",
				   f->info.run_id);
		got = read(f->fd, buf, sizeof(buf));
		aml_hangwatch_idle();
		if (got <= 0)
			break;
		if (fwrite(buf, 1, (size_t)got, stdout) != (size_t)got)
			return -1;
		f->printed += got;
	}
	fflush(stdout);
	return 0;
}

/* Re-read the run's status; ask Slurm now and then, so a job that died
 * without its launcher reporting still ends the wait. */
static int refresh(struct follower *f, const char *command)
{
	struct aml_run_info fresh;
	char err[1024];
	int64_t now = runs_now_ms();

	if (aml_history_read_run(f->h, f->info.run_id, 0, &fresh, err,
				 sizeof(err)) < 0) {
		fprintf(stderr, "aml-run %s: %s\n", command, err);
		return -1;
	}
	aml_run_info_free(&f->info);
	f->info = fresh;
	if (now - f->last_reconcile >= RECONCILE_EVERY_MS) {
		f->last_reconcile = now;
		runs_reconcile(f->h, &f->info);
	}
	return 0;
}

static int finished(const struct follower *f)
{
	return f->info.state.has_events &&
	       aml_status_is_terminal(f->info.state.status);
}

/* Follow until the run ends (or [deadline_ms] passes, when non-zero).
 * Returns 0 when it ended, 1 on timeout, -1 on error. */
static int follow(struct follower *f, const char *command, int print,
		  int64_t deadline_ms)
{
	for (;;) {
		if (print) {
			open_log(f, 0);
			if (drain(f) < 0)
				return -1;
		}
		if (finished(f)) {
			/* The launcher uploads the last lines before it
			 * records the end, so one more read has them all. */
			if (print) {
				open_log(f, 1);
				drain(f);
			}
			return 0;
		}
		if (deadline_ms && runs_now_ms() >= deadline_ms)
			return 1;
		pause_ms(POLL_MS);
		if (refresh(f, command) < 0)
			return -1;
	}
}

static int start(const char *command, const char *conf, const char *run_id,
		 struct aml_site *site, struct follower *f)
{
	int status = runs_open_read(command, conf, run_id, site, &f->h,
				    &f->info);

	f->fd = -1;
	f->path = -1;
	f->last_reconcile = runs_now_ms();
	if (status == AML_EXIT_OK)
		f->copies = !aml_history_appends_logs(f->h);
	return status;
}

static void stop(struct aml_site *site, struct follower *f)
{
	if (f->fd >= 0)
		close(f->fd);
	aml_run_info_free(&f->info);
	runs_close(site, f->h);
}

int cmd_logs(int argc, char **argv)
{
	static const struct option options[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "rank", required_argument, NULL, 'r' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct follower f = { 0 };
	struct aml_site site;
	const char *conf = NULL;
	char rank_path[64] = "";
	int follow_it = 0, opt, status;
	long rank = -1;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "fh", options, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'f':
			follow_it = 1;
			break;
		case 'r':
			rank = strtol(optarg, &end, 10);
			if (end == optarg || *end || rank < 0 || rank > 999999)
				return tool_usage_error("logs", "--rank: must be "
					"a process rank from 0, got \"%s\"",
					optarg);
			break;
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(logs_usage, stdout);
			return AML_EXIT_OK;
		default:
			return tool_usage_error("logs", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if ((status = runs_one_id("logs", argc)) != AML_EXIT_OK)
		return status;
	if (rank >= 0) {
		snprintf(rank_path, sizeof(rank_path),
			 "user_logs/std_log_process_%ld.txt", rank);
		f.paths[0] = rank_path;
	} else {
		f.paths[0] = "user_logs/std_log.txt";
		f.paths[1] = "user_logs/std_log_process_0.txt";
	}
	status = start("logs", conf, argv[optind], &site, &f);
	if (status != AML_EXIT_OK)
		return status;
	if (follow_it) {
		status = follow(&f, "logs", 1, 0) < 0 ? AML_EXIT_FAILURE
						      : AML_EXIT_OK;
	} else {
		open_log(&f, 1);
		if (f.fd < 0) {
			tool_printf(stderr, "aml-run logs: run %s has no %s "
				    "yet (status %s)\n", f.info.run_id,
				    f.paths[0], f.info.state.has_events
				    ? aml_status_name(f.info.state.status)
				    : "Unknown");
			status = AML_EXIT_FAILURE;
		} else if (drain(&f) < 0) {
			status = AML_EXIT_FAILURE;
		}
	}
	stop(&site, &f);
	return status;
}

static int exit_status_of(const struct aml_run_state *st)
{
	switch (st->status) {
	case AML_STATUS_COMPLETED:
		return 0;
	case AML_STATUS_CANCELED:
		return 130;
	default:
		if (st->has_exit_code && st->exit_code >= 1 &&
		    st->exit_code <= 125)
			return st->exit_code;
		return 1;
	}
}

int cmd_wait(int argc, char **argv)
{
	static const struct option options[] = {
		{ "show-output", no_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct follower f = { 0 };
	struct aml_site site;
	const char *conf = NULL;
	int show = 0, opt, status, r;
	long timeout = 0;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'o':
			show = 1;
			break;
		case 't':
			timeout = strtol(optarg, &end, 10);
			if (end == optarg || *end || timeout <= 0)
				return tool_usage_error("wait", "--timeout: must "
					"be a whole number of seconds from 1, "
					"got \"%s\"", optarg);
			break;
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(wait_usage, stdout);
			return AML_EXIT_OK;
		default:
			return tool_usage_error("wait", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if ((status = runs_one_id("wait", argc)) != AML_EXIT_OK)
		return status;
	f.paths[0] = "user_logs/std_log.txt";
	f.paths[1] = "user_logs/std_log_process_0.txt";
	status = start("wait", conf, argv[optind], &site, &f);
	if (status != AML_EXIT_OK)
		return status;
	r = follow(&f, "wait", show,
		   timeout ? runs_now_ms() + (int64_t)timeout * 1000 : 0);
	if (r < 0) {
		status = AML_EXIT_FAILURE;
	} else if (r > 0) {
		tool_printf(stderr, "aml-run wait: run %s is still %s after "
			    "%ld s\n", f.info.run_id,
			    aml_status_name(f.info.state.status), timeout);
		status = 124;
	} else {
		const struct aml_run_state *st = &f.info.state;

		tool_printf(stderr, "Run %s: %s", f.info.run_id,
			    aml_status_name(st->status));
		if (st->has_exit_code)
			tool_printf(stderr, " (exit code %d)", st->exit_code);
		if (st->reason)
			tool_printf(stderr, ": %s", st->reason);
		tool_printf(stderr, "\n");
		status = exit_status_of(st);
	}
	stop(&site, &f);
	return status;
}
