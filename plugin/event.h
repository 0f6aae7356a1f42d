/*
 * event.h: one status event, its JSON line, and the run's state derived
 * from a sequence of them.
 *
 * An event is one line of events.jsonl (and one record of the spool):
 *
 *   {"id":"5f0c...","time":"2026-11-25T16:49:56.123Z","status":"Queued",
 *    "source":"sbatch","attempt":1,"job_id":4242,"node":"n1",
 *    "reason":"...","exit_code":3}
 *
 * id, time, status, source and attempt are always present; job_id, node,
 * reason and exit_code only when known.  The id (16 random hex digits) is
 * what makes a replay from the spool exactly-once: an event whose id is
 * already in the log is not appended again.  Lines are at most
 * AML_EVENT_LINE_MAX bytes with the newline, so one write(2) appends one.
 */
#ifndef AML_EVENT_H
#define AML_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define AML_EVENT_LINE_MAX 4096
#define AML_EVENT_ID_LEN 16
#define AML_EVENT_REASON_MAX 1024  /* longer reasons are cut, with "..." */
#define AML_EVENT_NODE_MAX 255

/* Who wrote an event; the name is what the JSON holds. */
enum aml_event_source {
	AML_SOURCE_SBATCH,
	AML_SOURCE_CONTROLLER,
	AML_SOURCE_NODE,
	AML_SOURCE_LAUNCHER,
	AML_SOURCE_FINALIZER,
	AML_SOURCE_USER,      /* aml-run cancel */
	AML_SOURCE_RECONCILE, /* aml-run, from Slurm's record of the job */
};
#define AML_SOURCE_COUNT (AML_SOURCE_RECONCILE + 1)

const char *aml_event_source_name(enum aml_event_source source);
int aml_event_source_parse(const char *name, enum aml_event_source *source);

struct aml_event {
	char id[AML_EVENT_ID_LEN + 1];
	int64_t time_ms;        /* UTC, milliseconds since the epoch */
	enum aml_status status;
	enum aml_event_source source;
	unsigned attempt;       /* >= 1 */
	uint32_t job_id;        /* 0: not known */
	char *node;             /* NULL: not known */
	char *reason;           /* NULL: none */
	int has_exit_code;
	int exit_code;
};

/*
 * Fill [ev] for [status] from [source] now: a fresh random id, the
 * current time, attempt 1, nothing else known.  Returns 0, or -1 when
 * randomness is unavailable (errno set).
 */
int aml_event_init(struct aml_event *ev, enum aml_status status,
		   enum aml_event_source source);

/* Copy [reason] / [node] into [ev] (replacing any), cut to their maxima;
 * control characters become spaces so a line stays one line.  Return 0,
 * or -1 when memory runs out. */
int aml_event_set_reason(struct aml_event *ev, const char *reason);
int aml_event_set_node(struct aml_event *ev, const char *node);

/*
 * The JSON line for [ev], with its trailing '\n', malloc'd; NULL when
 * memory runs out.  Never longer than AML_EVENT_LINE_MAX.
 */
char *aml_event_encode(const struct aml_event *ev);

/*
 * Parse one line ([len] bytes, a trailing '\n' allowed).  Unknown keys are
 * ignored (a later version may add some); a missing or malformed required
 * key, an unknown status or source is an error.  Returns 0 with [ev] filled
 * (free with aml_event_free), or -1 with one sentence in errbuf.
 */
int aml_event_decode(const char *line, size_t len, struct aml_event *ev,
		     char *errbuf, size_t errlen);

void aml_event_free(struct aml_event *ev);

/* "2026-11-25T16:49:56.123Z" from [time_ms]; [buf] needs 25 bytes. */
void aml_event_format_time(int64_t time_ms, char *buf, size_t len);
/* The reverse; also accepts no fraction.  Returns 0, or -1. */
int aml_event_parse_time(const char *text, int64_t *time_ms);

/* ---- the state derived from a run's events ---- */

#define AML_RUN_MAX_JOBS 64

struct aml_run_state {
	int has_events;             /* 0: no valid event yet */
	enum aml_status status;
	unsigned attempt;
	int64_t created_ms;         /* time of the first event */
	int64_t updated_ms;         /* time of the last accepted event */
	int64_t started_ms;         /* first Running of the current attempt, 0 */
	int64_t ended_ms;           /* terminal event's time, 0 */
	/* Time spent in each status, all attempts, up to the last event (a
	 * run still in progress: the caller adds now - updated_ms to the
	 * current status). */
	int64_t spent_ms[AML_STATUS_COUNT];
	uint32_t job_ids[AML_RUN_MAX_JOBS]; /* distinct, in order seen */
	size_t n_job_ids;
	char *nodes;                /* distinct nodes, comma-separated, or NULL */
	char *reason;               /* of the last event that had one, or NULL
				     * when the run ended without one */
	int has_exit_code;
	int exit_code;              /* of the last event that had one */
	size_t n_skipped;           /* events refused by the machine */
};

void aml_run_state_init(struct aml_run_state *st);

/*
 * Fold [ev] into [st] through the state machine and return the verdict.
 * Only OK and NEW_ATTEMPT change [st]; STALE and ILLEGAL are counted in
 * n_skipped; DUPLICATE is dropped silently.  Running out of memory while
 * noting a node only leaves that node out of the list.
 */
enum aml_transition aml_run_state_apply(struct aml_run_state *st,
					const struct aml_event *ev);

/*
 * The one order of a run's events, whatever order they were written or
 * arrived in: attempt, then the phase of the status (status.h), then
 * time, then id.  A qsort comparator over struct aml_event.
 */
int aml_event_order(const void *a, const void *b);

/*
 * Every event of an events.jsonl text, in that order, in a malloc'd array
 * (free with aml_events_free); lines that do not parse are counted in
 * [*n_bad], blank ones nowhere.  A final line without '\n' (a writer that
 * died mid-write, which one write(2) makes all but impossible) is ignored.
 * Returns 0, or -1 when memory runs out.
 */
int aml_events_parse(const char *text, size_t len, struct aml_event **events,
		     size_t *n, size_t *n_bad);
void aml_events_free(struct aml_event *events, size_t n);

/* Fold [*n] ordered events into [st], keeping in place (and counting in
 * [*n]) only those the machine accepts; the others are freed. */
void aml_run_state_fold_events(struct aml_run_state *st,
			       struct aml_event *events, size_t *n);

/*
 * The run's timeline from an events.jsonl text: its accepted events in
 * order into [*events] (free with aml_events_free), folded into [st].
 * Returns 0, or -1 when memory runs out ([st] untouched).
 */
int aml_run_events(const char *text, size_t len, struct aml_run_state *st,
		   struct aml_event **events, size_t *n);

/* The state alone, from every line of an events.jsonl text in the order
 * above (without memory for that, in the order written). */
void aml_run_state_fold(struct aml_run_state *st, const char *text,
			size_t len);

/* Non-zero when an event with id [id] is in the events.jsonl [text]. */
int aml_events_contain_id(const char *text, size_t len, const char *id);

void aml_run_state_free(struct aml_run_state *st);

/*
 * Whether [ev] may join the events.jsonl [text] of run [run_id], put in
 * its place in the order above: the one judgement every backend makes
 * before it stores an event.  An event that arrives late (the node's
 * Preparing after the launcher's Running, the launcher's spooled
 * Finalizing after the finalizer's Canceled) takes its place.
 *   AML_ADMIT_YES      store it: the machine accepts it in its place, and
 *                      every event it accepted before still;
 *   AML_ADMIT_ALREADY  nothing to store: its id is there (a replay), or
 *                      it repeats a status of its attempt in the same
 *                      place;
 *   AML_ADMIT_NO       refused, errbuf says why in one sentence, for the
 *                      caller to log: a transition the machine refuses,
 *                      an end contradicting the end recorded ("Failed
 *                      from launcher (attempt 1) contradicts Completed
 *                      from finalizer, already recorded"), or an event
 *                      later in time than the end of its attempt.
 */
enum aml_admit { AML_ADMIT_NO = -1, AML_ADMIT_YES = 0, AML_ADMIT_ALREADY = 1 };
enum aml_admit aml_events_admit(const char *text, size_t len,
				const struct aml_event *ev, const char *run_id,
				char *errbuf, size_t errlen);

#endif
