/*
 * runid.c: run ids (contract in runid.h).
 *
 * Where the contract is silent:
 *   - A multi-byte UTF-8 character of the experiment becomes one '_', not
 *     one per byte ("café" -> "caf_").
 *   - Leading characters that are not letters or digits are dropped after
 *     sanitising, since a valid id starts with one (".hidden" -> "hidden");
 *     when nothing is left the id starts with "Default", the name Azure ML
 *     and runconfig give an experiment that has none.
 *   - The seconds are written with at least 10 digits, so ids sort by time
 *     for any date this software will see; a negative [now] is EINVAL.
 *   - A [buf] too small for the whole id is ERANGE: an id is never cut to
 *     fit a caller's buffer, as a shorter one could collide.
 */
#include "runid.h"
#include "random.h"
#include "text.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int is_alnum(unsigned char c)
{
	return aml_ascii_is_alpha(c) || aml_ascii_is_digit(c);
}

static int is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static int is_id_char(unsigned char c)
{
	return is_alnum(c) || c == '_' || c == '-';
}

/*
 * The experiment as the first part of an id, into [out] (at most [max]
 * characters, no NUL written); returns its length.
 */
static size_t id_prefix(const char *experiment, char *out, size_t max)
{
	const unsigned char *p = (const unsigned char *)(experiment ?
							 experiment : "");
	size_t n = 0;

	for (; *p && n < max; p++) {
		unsigned char c = *p;

		/* The tail bytes of a UTF-8 character were already
		 * replaced with its lead byte. */
		if ((c & 0xc0) == 0x80 && p != (const unsigned char *)experiment &&
		    p[-1] >= 0x80)
			continue;
		if (n == 0 && !is_alnum(c))
			continue;
		out[n++] = is_id_char(c) ? (char)c : '_';
	}
	if (n == 0) {
		n = strlen("Default") < max ? strlen("Default") : max;
		memcpy(out, "Default", n);
	}
	return n;
}

int aml_runid_generate(const char *experiment, time_t now, char *buf,
		       size_t len)
{
	char tail[48];
	char prefix[AML_RUNID_MAX];
	size_t n_tail, n_prefix;
	uint32_t bits;
	int n;

	if (buf && len > 0)
		buf[0] = '\0';
	if (!buf || now < 0) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(tail, sizeof(tail), "_%010llu_",
		     (unsigned long long)now);
	if (n < 0 || (size_t)n + 8 >= sizeof(tail)) {
		errno = EINVAL;
		return -1;
	}
	n_tail = (size_t)n + 8;
	n_prefix = id_prefix(experiment, prefix,
			     AML_RUNID_MAX - 1 - n_tail);
	if (len < n_prefix + n_tail + 1) {
		errno = ERANGE;
		return -1;
	}
	/* After the size check, so a failed call never consumes entropy. */
	if (aml_random(&bits, sizeof(bits)) < 0)
		return -1;
	snprintf(tail + n, sizeof(tail) - (size_t)n, "%08x", bits);
	memcpy(buf, prefix, n_prefix);
	memcpy(buf + n_prefix, tail, n_tail + 1);
	return 0;
}

int aml_runid_is_valid(const char *id)
{
	size_t n;

	if (!id || !is_alnum((unsigned char)id[0]))
		return 0;
	for (n = 0; id[n]; n++)
		if (n >= AML_RUNID_MAX - 1 || !is_id_char((unsigned char)id[n]))
			return 0;
	return 1;
}

int aml_runid_is_tracking_id(const char *id)
{
	static const char guid[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t n = id ? strlen(id) : 0;

	if (n != 32 && n != sizeof(guid) - 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int dash = n == 32 ? 0 : guid[i] == '-';

		if (dash ? id[i] != '-' : !is_hex((unsigned char)id[i]))
			return 0;
	}
	return 1;
}
