/*
 * runs.h: what the run history commands (list, show, logs, wait,
 * download, tag, cancel) share: opening history, asking Slurm about a
 * run's job, reconciling, and showing times.
 */
#ifndef AML_TOOLS_RUNS_H
#define AML_TOOLS_RUNS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "history.h"
#include "slurm_query.h"
#include "site.h"
#include "slurm_text.h"

/* Load the site policy and open its run history, replaying this user's
 * spool on the way.  Returns AML_EXIT_OK, or the exit status for [command]
 * (the errors printed).  For aml-run's commands only: from here on the
 * command runs in a watched child (hangwatch.h), and an operation of run
 * history that goes HistoryTimeout without an answer ends it with exit
 * 75 and one line, "aml-run [command]: run history's filesystem did not
 * answer within ...". */
int runs_open(const char *command, const char *conf, struct aml_site *site,
	      struct aml_history **h);
void runs_close(struct aml_site *site, struct aml_history *h);

/* The commands that take one run id: AML_EXIT_OK when exactly one is
 * left after the options (argv[optind] of [argc]), else the usage
 * error. */
int runs_one_id(const char *command, int argc);

/* runs_open, then runs_read of [run_id]: AML_EXIT_OK with [site], [h]
 * and [info] to release (aml_run_info_free, runs_close), or the exit
 * status with nothing left open. */
int runs_open_read(const char *command, const char *conf, const char *run_id,
		   struct aml_site *site, struct aml_history **h,
		   struct aml_run_info *info);

/* Read [run_id] and reconcile it with Slurm (below).  Returns AML_EXIT_OK,
 * or the exit status with the error printed. */
int runs_read(const char *command, struct aml_history *h, const char *run_id,
	      int with_config, struct aml_run_info *info);

/*
 * A run that history says is still queued or running, but whose last
 * Slurm job has ended: record the end Slurm saw (source "reconcile") and
 * read the run again.  Does nothing for a finished run, a run without a
 * job id, or when Slurm cannot be asked.  A run we may not write (someone
 * else's) is left as it is.  A run whose own end waits in a node's spool
 * (waiting.h) is not given Slurm's end: when the job's comment says so,
 * [info] shows Finalizing with the nodes it waits for (nothing written:
 * the finalizer records that); a Finalizing run whose job ended on its
 * own is left as it is.  A reconciled end that could only be queued
 * shows in [info] as if written.
 */
void runs_reconcile(struct aml_history *h, struct aml_run_info *info);



/* The last Slurm job of the run, 0 when none. */
uint32_t runs_last_job(const struct aml_run_info *info);

/* "1h 02m 03s", "4.2s", "-" for a negative duration. */
void runs_format_duration(int64_t ms, char *buf, size_t len);
/* Local time, "2026-11-25 16:49:56". */
void runs_format_time(int64_t ms, char *buf, size_t len);
/* Time from the run's start (Running) to its end or now; -1 if never
 * started. */
int64_t runs_duration_ms(const struct aml_run_info *info, int64_t now_ms);
int64_t runs_now_ms(void);

/* The run as JSON for --json: list gives the summary, show adds the
 * timeline, properties, tags and [artifacts]. */
cJSON *runs_json(const struct aml_run_info *info, int detailed,
		 const struct aml_artifact *artifacts, size_t n_artifacts);

/* Parse --since: "2026-11-25", "2026-11-25T10:00[:00]", or "30m", "2h",
 * "7d" ago.  Returns 0 with [*ms], or -1. */
int runs_parse_since(const char *text, int64_t now_ms, int64_t *ms);

/* Print [json] (pretty) and free it, with what cJSON leaves raw escaped
 * (aml_text_add_shown_json); AML_EXIT_FAILURE when it is NULL. */
int runs_print_json(cJSON *json);

#endif
