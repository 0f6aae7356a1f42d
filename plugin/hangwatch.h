/*
 * hangwatch.h: a command that gets its user's shell back when run history
 * hangs.
 *
 * Run history on a shared filesystem (HistoryDir on NFS; a FUSE
 * filesystem in tests) can stop answering: its server is gone and the
 * mount waits for it.  A process that asks it then waits in the kernel,
 * and nothing inside that process can end the wait:
 *   - a request already with the server cannot be interrupted, not even
 *     by SIGKILL, until the server answers;
 *   - a process with such a thread cannot finish exiting: exit(), a
 *     signal handler, alarm() or a watchdog thread all end in the same
 *     wait, and the shell waits for the process to be gone.
 * So the process the shell waits for must not be the one that asks.
 * aml_hangwatch_start forks: the child does the command's work and
 * returns from it; the parent, the process the shell knows, only
 * watches.  The child stamps, in memory it shares with the parent, when
 * the run history operation it is in began and what it is; one that
 * goes unanswered for longer than the bound gets one line from the
 * parent, the child is killed (it goes when the kernel lets it; init
 * reaps it), and the parent exits AML_HANGWATCH_EXIT at once.
 *
 * A write has a bound of its own, longer: writers bound themselves (the
 * file backend writes in a child it gives up, history_bounded.c; a REST
 * request times out) and queue in the spool what did not answer.  The
 * watch only backs them up, and must not win that race: a write it
 * stops is one that "may or may not have happened", where the writer's
 * own bound would have queued it.
 *
 * The child left behind keeps its descriptors until the kernel lets it
 * go: the shell has its prompt back, but a pipe the command was writing
 * into (aml-run list | less, $(aml-run show ...)) ends only then.
 *
 * Only time inside an operation counts, never the time between them, so
 * a command that follows a run for hours (aml-run wait, logs --follow)
 * is stopped only when one read in it goes unanswered.  An operation
 * made of many requests (a listing, a download) says each time one was
 * answered (aml_hangwatch_progress), so only a wait for one answer
 * counts, not the length of the whole.
 *
 * Everything but aml_hangwatch_start is a no-op in a process that is not
 * a watched child (the library is linked into the plugins and the other
 * tools, which never start a watch; a child the watched one forks is not
 * watched either), and cheap: the monotonic clock and a few stores.
 * The parent forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the child,
 * and ends as the child ended: its exit status, or the same signal.
 */
#ifndef AML_HANGWATCH_H
#define AML_HANGWATCH_H

#include <stdint.h>

/* The parent's exit status when an operation went unanswered: sysexits'
 * EX_TEMPFAIL, "try again later". */
#define AML_HANGWATCH_EXIT 75

/*
 * Go on in a watched child.  Call once, at the start of a command,
 * before any thread is started.  Returns 0 in the child.  The parent
 * never returns: it waits for the child and exits with its exit status;
 * a child killed by SIGHUP, SIGINT, SIGKILL, SIGPIPE, SIGALRM, SIGTERM,
 * SIGUSR1 or SIGUSR2 is followed by the same signal on the parent (the
 * shell sees a signal death, as of any tool), one killed by another
 * signal (one that dumps core) by exit 128 + the signal.  An operation
 * (aml_hangwatch_busy) that gets no answer for [timeout_ms], or for
 * [write_timeout_ms] once it writes (never less than [timeout_ms]), makes
 * the parent print to stderr
 *
 *   <program>: <what_hangs> did not answer within N s (<what the child
 *   was doing>): it may be hung; <what became of the command's work>,
 *   try again later
 *
 * (the last part says that nothing was changed, that what the command
 * wrote before stands, or, when the operation was a write, that the
 * write may or may not have happened), kill the child with SIGKILL and
 * exit AML_HANGWATCH_EXIT without waiting for it.  [what_hangs] names
 * what did not answer ("run history's filesystem"); [program] starts the
 * line ("aml-run show").  Both must stay valid until the process ends.
 *
 * Never makes a command unusable: with [timeout_ms] <= 0, in a process
 * already watched, or when the fork (or its preparation) fails, the
 * process carries on unwatched and 0 is returned.  stdio's buffers are
 * flushed first, so nothing buffered is printed twice.
 */
int aml_hangwatch_start(int64_t timeout_ms, int64_t write_timeout_ms,
			const char *what_hangs, const char *program);

/*
 * An operation begins: [writing] non-zero when it may change something
 * (it is then never told as "nothing was changed"), and what it is, as
 * printf ("reading run %s in %s"), up to 511 bytes; the parent shows it
 * escaped (text.h).  Pairs nest: the outermost names the operation and
 * starts its clock; an inner one that writes makes it a write.
 */
void aml_hangwatch_busy(int writing, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The operation [aml_hangwatch_busy] began has ended (the outermost of
 * nested pairs clears the stamp). */
void aml_hangwatch_idle(void);

/* Inside an operation: something just answered (a read returned, a
 * request was made again after the last one ended), so its clock starts
 * again.  Outside one, or unwatched, nothing. */
void aml_hangwatch_progress(void);

/* None of the three changes errno, so they fit between a failed call and
 * the caller's look at it. */

#endif
