/*
 * breaker.h: whether run history answered lately, as one user's writers
 * on one machine last found it (a circuit breaker).
 *
 * A server or filesystem that does not answer costs each request its
 * whole HistoryTimeout.  Once a write has found it so, the writers that
 * follow (the same run's launcher, the next runs of the same user on the
 * same host) go straight to the spool until a cooldown has passed; then
 * one writer probes, and the breaker closes when run history answers,
 * or stays open for a longer cooldown when it does not.
 *
 * The state is a file in the user's own spool directory (spool.h), which
 * only that user can write: no other user can open or close anyone's
 * breaker.  One line, "<until> <trips> <since>\n": until when (realtime
 * milliseconds) writers skip run history, how many times in a row it
 * failed, and when it last did.  It is replaced by a rename, so a reader sees a whole line; a
 * file that does not parse is a closed breaker.
 */
#ifndef AML_BREAKER_H
#define AML_BREAKER_H

#include <stdint.h>

#define AML_BREAKER_FILE "breaker"
/* The first cooldown (aml.conf HistoryProbeInterval) is doubled at each
 * failed probe, up to this many times itself. */
#define AML_BREAKER_MAX_FACTOR 20

enum aml_breaker_state {
	AML_BREAKER_CLOSED,  /* run history answered last: use it */
	AML_BREAKER_OPEN,    /* it did not, lately: the spool, at once */
	AML_BREAKER_PROBE,   /* the cooldown passed: this writer probes (the
			      * others are kept away meanwhile) */
};

/*
 * The breaker of the spool directory [dirfd] at [now_ms] (realtime), for
 * a first cooldown of [first_ms].  PROBE also pushes the breaker's end
 * [probe_ms] ahead, so the writers that check while this one probes go to
 * the spool.  [*since_ms] (may be NULL) gets when run history was last
 * found not answering, 0 if never.
 */
enum aml_breaker_state aml_breaker_check(int dirfd, int64_t now_ms,
					 int64_t first_ms, int64_t probe_ms,
					 int64_t *since_ms);

/* Run history did not answer at [now_ms]: open the breaker for the next
 * cooldown.  Returns 0, or -1 (errno set) when the file cannot be
 * written; writers then simply try run history again next time. */
int aml_breaker_trip(int dirfd, int64_t now_ms, int64_t first_ms);

/* Run history answered: close the breaker (remove its file). */
void aml_breaker_close(int dirfd);

/* The cooldown after [trips] failures in a row (trips >= 1): [first_ms],
 * doubled, at most AML_BREAKER_MAX_FACTOR times [first_ms]. */
int64_t aml_breaker_cooldown_ms(unsigned trips, int64_t first_ms);

#endif
