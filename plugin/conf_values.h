/*
 * conf_values.h: the values of aml.conf's keys, read strictly.
 *
 * Slurm's own strtol-based parsing takes "+5", " 5" and "5abc", which
 * hides typos; these take exactly the documented forms and nothing else.
 * They judge text and say nothing: the message that names the key and
 * the line is the caller's (site.h).
 */
#ifndef AML_CONF_VALUES_H
#define AML_CONF_VALUES_H

#include <stddef.h>
#include <stdint.h>

/* "No limit" among 64-bit values, as Slurm's INFINITE (site.h's
 * AML_SITE_UNLIMITED64 is the same value). */
#define AML_CONF_UNLIMITED64 UINT64_MAX

/*
 * Decimal digits only, the [n] bytes at [s], into [out].  Returns 0, -1
 * when malformed (empty, or anything but a digit), -2 when the number
 * does not fit in 64 bits.
 */
int aml_conf_digits(const char *s, size_t n, uint64_t *out);

/* Whether [s] is UNLIMITED or INFINITE, in any case. */
int aml_conf_is_unlimited(const char *s);

/*
 * yes/no, true/false, 1/0, on/off in any case into [out] (1 or 0).
 * Returns 0, or -1 for anything else.
 */
int aml_conf_bool(const char *s, int *out);

/*
 * Bytes with an optional binary K/M/G/T suffix (any case) into [out].
 * Returns 0, -1 when malformed, -2 when too large for 64 bits
 * (UINT64_MAX itself is kept for "unlimited").
 */
int aml_conf_size(const char *s, uint64_t *out);

/* Printable ASCII without blanks: what Slurm takes as a partition, QOS,
 * account or constraint without quoting on a command line. */
int aml_conf_is_word(const char *s);

/* One or more letters, digits, '.', '_' and '-': a compute target's name. */
int aml_conf_is_name(const char *s);

/* NAME, NAME:COUNT, NAME:TYPE or NAME:TYPE:COUNT, comma-separated, as
 * --gres takes them; a COUNT is from 1 to 2^32 - 2. */
int aml_conf_is_gres(const char *s);

/* The GPUs per node a valid --gres list [s] asks for: the counts of its
 * "gpu" items ("gpu" alone and "gpu:TYPE" are one); 0 for none or NULL. */
uint64_t aml_conf_gres_gpus(const char *s);

/* SCHEME://REST, a word (aml_conf_is_word) with something after "://". */
int aml_conf_is_uri(const char *s);

/*
 * Split the comma list [s] into [*items] (malloc'd, [*n] of them).  Empty
 * items and blanks or control characters are refused: "alice,,bob" is a
 * typo, not a wish to allow the empty user.  Returns 0, -1 when
 * malformed, -2 when memory runs out (nothing to free then).
 */
int aml_conf_list(const char *s, char ***items, size_t *n);

/* Free what aml_conf_list made ([items] may be NULL). */
void aml_conf_list_free(char **items, size_t n);

/*
 * Parse Slurm's time format into seconds: MIN, MIN:SEC, H:M:S, D-H,
 * D-H:M, D-H:M:S (minutes and seconds 0-59, hours 0-23 after a day
 * count).  "UNLIMITED" and "INFINITE" give AML_CONF_UNLIMITED64.
 * Returns 0, or -1 when malformed or too large.
 */
int aml_parse_slurm_time(const char *text, uint64_t *seconds);

/*
 * Write [seconds] in Slurm's D-HH:MM:SS form ("1-00:00:00", "01:30:00"),
 * or UNLIMITED, into [buf] of [len] bytes (cut to fit).
 */
void aml_format_slurm_time(uint64_t seconds, char *buf, size_t len);

#endif
