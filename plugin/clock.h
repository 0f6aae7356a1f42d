/*
 * clock.h: the one clock deadlines are kept in.
 */
#ifndef AML_CLOCK_H
#define AML_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: a clock step (NTP, an admin's date)
 * can neither stretch nor cut a deadline kept in it. */
int64_t aml_monotonic_ms(void);

#endif
