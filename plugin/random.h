/*
 * random.h: random bits, for secrets and for names that must not clash.
 *
 * Two needs, two calls: a secret or an id others must not guess (a run
 * id's tail, an event id, the controller's key) waits for the kernel's
 * pool; a temporary file's name, where O_EXCL catches a clash, never
 * waits and never fails.
 */
#ifndef AML_RANDOM_H
#define AML_RANDOM_H

#include <stddef.h>

/*
 * [len] random bytes from getrandom(2) into [buf].  It blocks only until
 * the kernel's pool is initialised (early in boot), rather than fail a
 * submission; EINTR is retried.  Returns 0, or -1 with errno.
 */
int aml_random(void *buf, size_t len);

/*
 * 64 bits for a temporary file's name, where only uniqueness matters and
 * O_EXCL (or a rename that never replaces) catches a clash: random when
 * the pool answers at once, else the pid, the time and a process-wide
 * counter.  Never blocks, never fails.
 */
unsigned long long aml_unique_bits(void);

#endif
