/*
 * bounded.h: work a root process does as a user, in a child it can stop.
 *
 * Root components (aml-finalize, which slurmctld runs for one job at a
 * time; aml-epilog, on every node at every job's end) must never wait
 * without a bound on anything a user controls: a flock the user holds on
 * their own run's events.jsonl or on their spool, a FIFO, a filesystem
 * that hangs.  privdrop.h makes root act as the user; this runs that work
 * in a forked child acting as the user, and stops waiting at a deadline
 * by killing the child.  So the work must be safe to kill at any point:
 * run history and the spool are (an event is appended by one write(2), a
 * spool entry published by one rename and removed only after it applied,
 * and every history operation is idempotent).
 *
 * The child is a copy of the caller, not a new program: it inherits
 * descriptors and memory, and leaves by _exit(), so stdio buffers and
 * atexit handlers run once, in the caller.  Its 0, 1 and 2 are
 * /dev/null, whatever they were in the caller: work that uses one of the
 * caller's descriptors needs it above 2 (aml_fd_above_stdio).  Its real and saved uid stay
 * root, so the user it acts as can neither signal nor trace it.  For
 * single-threaded callers only (as privdrop.h).
 */
#ifndef AML_BOUNDED_H
#define AML_BOUNDED_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include <sys/types.h>

/* What aml_bounded_call runs in the child.  Returns a result in
 * AML_BOUNDED_MIN..AML_BOUNDED_MAX, with a sentence in errbuf when it has
 * something to say. */
typedef int (*aml_bounded_fn)(void *arg, char *errbuf, size_t errlen);

#define AML_BOUNDED_MIN (-999)
#define AML_BOUNDED_MAX 999
#define AML_BOUNDED_TIMEOUT (-1000)  /* the deadline came first */
#define AML_BOUNDED_FAILED (-1001)   /* no result: see errbuf */

/* What the (uid_t)-1 of [uid] means: stay who the caller is. */
#define AML_BOUNDED_AS_CALLER ((uid_t)-1)

/*
 * Run [fn]([arg]) in a child process acting as [uid]/[gid] (effective
 * ids and that one group, as aml_identity_become; AML_BOUNDED_AS_CALLER:
 * as the caller), and wait for it until [deadline_ms] (aml_monotonic_ms
 * time).  What the child leaves in its errbuf (up to 1023 bytes) comes
 * back in [errbuf].
 *
 * Returns fn's result; AML_BOUNDED_TIMEOUT when the deadline passed (or
 * had passed) before the child answered: it is killed, and errbuf says
 * so; AML_BOUNDED_FAILED when no child could be started or it ended
 * without an answer (it could not become [uid], crashed, or returned a
 * result out of range), with errbuf.  A killed child is reaped for at most
 * a second more (one stuck in the kernel is left to init).
 */
int aml_bounded_call(uid_t uid, gid_t gid, int64_t deadline_ms,
		     aml_bounded_fn fn, void *arg, char *errbuf,
		     size_t errlen);

/*
 * aml_bounded_call for work whose length cannot be known in advance (an
 * upload of any size to a filesystem that may hang): the child is
 * stopped when it has gone [idle_ms] without calling
 * aml_bounded_progress(), or at [deadline_ms] (0: no deadline but that
 * one).  A slow filesystem that moves on is waited for; one that stops
 * answering costs [idle_ms].
 */
int aml_bounded_call_watched(uid_t uid, gid_t gid, int64_t idle_ms,
			     int64_t deadline_ms, aml_bounded_fn fn,
			     void *arg, char *errbuf, size_t errlen);

/*
 * Say, from work that may run in a watched child, that it moves on (a
 * file or a buffer copied).  Outside such a child: nothing.  One store to
 * memory shared with the waiting parent: cheap enough for every buffer.
 */
void aml_bounded_progress(void);

#endif
