/*
 * launch_common.h: what the modules of aml-launch share: the run they
 * report to, its messages, its clock.
 *
 * aml-launch has one reader of its stderr (the job's error file, often
 * the same as its output) and one rule: every problem is one line,
 * "aml-launch: run <id>: <what>".
 */
#ifndef AML_TOOLS_LAUNCH_COMMON_H
#define AML_TOOLS_LAUNCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "history.h"
#include "site.h"
#include "status.h"

/* The run's identity in run history and in Slurm, as the launcher
 * writes every event with. */
struct launch_ctx {
	struct aml_history *h;
	const char *experiment;
	const char *run_id;
	uint32_t job_id;      /* 0: not known (outside Slurm) */
	const char *node;     /* NULL: not known */
	unsigned attempt;     /* SLURM_RESTART_COUNT + 1 */
	int workdir_fd;       /* the run's working directory: the cwd */
	const struct aml_site *site; /* aml.conf (HistoryTimeout); NULL:
				      * the defaults */
	/* Outputs the batch node copies to their datastore at Finalizing
	 * (datastore_copy.h); none on the other nodes' upload step. */
	const struct aml_datastore_output *datastore_outputs;
	size_t n_datastore_outputs;
};

/* Name the run in later messages (NULL before it is known). */
void launch_msg_run(const char *run_id);

/* One line on stderr: "aml-launch: run <id>: <message>". */
void launch_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Append [status] from the launcher, with [reason] and the exit code
 * when given (has_exit_code).  A refusal or a failure is said on stderr
 * (and returned); a write queued in the spool is said too, since the
 * run's history is then behind.  [time_ms], when not NULL, receives the
 * event's time.
 */
enum aml_history_result launch_record(const struct launch_ctx *c,
				      enum aml_status status,
				      const char *reason, int has_exit_code,
				      int exit_code, int64_t *time_ms);

/*
 * The event launch_record would append, made but not recorded (the end
 * other nodes carry: launch_finish.h).  Returns 0 with [ev] filled (free
 * with aml_event_free), or -1 with errbuf.
 */
int launch_event_make(const struct launch_ctx *c, enum aml_status status,
		      const char *reason, int has_exit_code, int exit_code,
		      struct aml_event *ev, char *errbuf, size_t errlen);

/* The same without a word on stderr: the result, and the reason in
 * [errbuf] for ERROR and SPOOLED. */
enum aml_history_result launch_record_quietly(const struct launch_ctx *c,
					      enum aml_status status,
					      const char *reason,
					      int has_exit_code, int exit_code,
					      int64_t *time_ms, char *errbuf,
					      size_t errlen);

/* The aml_monotonic_ms() time of [realtime_ms], an event's time (at most
 * now: a later one is taken as now). */
int64_t launch_monotonic_of(int64_t realtime_ms);

#endif
