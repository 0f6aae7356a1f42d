/*
 * launch_logfiles.h: the run's logs by rank: their names, and a table of
 * their descriptors with a cap on how many are open at once.
 *
 * Both copies of the run's logs use it: the launcher's own, in the
 * working directory (launch_logs.h), and the live one the log streamer
 * appends in run history (launch_stream.h).
 */
#ifndef AML_TOOLS_LAUNCH_LOGFILES_H
#define AML_TOOLS_LAUNCH_LOGFILES_H

#include <stddef.h>

/* Runs may have far more processes than a process may have descriptors;
 * beyond this many, the least recently opened is closed and reopened
 * when its rank speaks again (appending, so nothing is lost). */
#define LAUNCH_OPEN_LOGS_MAX 256

/*
 * The name of rank [rank]'s log, as Azure ML names them, into [buf] of
 * [len] bytes: "std_log_process_<rank>.txt" when [labelled] (srun's
 * per-rank logs), else "std_log.txt".
 */
void launch_log_name(int labelled, size_t rank, char *buf, size_t len);

struct launch_logfile {
	int fd;     /* -1 while closed */
	int state;  /* the caller's; 0 for a log never seen */
};

struct launch_logfiles {
	struct launch_logfile *by_rank;
	size_t n;
	size_t n_open;
	size_t hand;  /* where the search for one to close starts */
};

/* An empty table: nothing to free until a slot is taken. */
#define LAUNCH_LOGFILES_INIT { NULL, 0, 0, 0 }

/* The slot of [rank] (closed, state 0 the first time), or NULL when
 * memory runs out. */
struct launch_logfile *launch_logfiles_get(struct launch_logfiles *t,
					   size_t rank);

/* Before opening one more: close one when LAUNCH_OPEN_LOGS_MAX are. */
void launch_logfiles_make_room(struct launch_logfiles *t);

/* [f] of [t] is now open on [fd]. */
void launch_logfiles_opened(struct launch_logfiles *t,
			    struct launch_logfile *f, int fd);

/* Close [f] of [t] (its state is kept). */
void launch_logfiles_close(struct launch_logfiles *t,
			   struct launch_logfile *f);

/* Close every log and free [t]'s table; [t] is empty again. */
void launch_logfiles_free(struct launch_logfiles *t);

#endif
