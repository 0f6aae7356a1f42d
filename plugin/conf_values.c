/*
 * conf_values.c: aml.conf's values (contract in conf_values.h).
 */
#include "conf_values.h"
#include "text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_name_char(char c)
{
	return aml_ascii_is_alpha(c) || aml_ascii_is_digit(c) || c == '.' || c == '_' || c == '-';
}

int aml_conf_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	int overflow = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!aml_ascii_is_digit(s[i]))
			return -1;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			overflow = 1;
	}
	if (overflow)
		return -2;
	*out = v;
	return 0;
}

int aml_conf_is_unlimited(const char *s)
{
	return aml_ascii_ieq(s, "UNLIMITED") || aml_ascii_ieq(s, "INFINITE");
}

int aml_conf_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "true", "1", "on" };
	static const char *const no[] = { "no", "false", "0", "off" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (aml_ascii_ieq(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (aml_ascii_ieq(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int aml_conf_size(const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	unsigned shift = 0;
	uint64_t v;
	int rc;

	if (n > 0 && !aml_ascii_is_digit(s[n - 1])) {
		switch (aml_ascii_lower((unsigned char)s[n - 1])) {
		case 'k': shift = 10; break;
		case 'm': shift = 20; break;
		case 'g': shift = 30; break;
		case 't': shift = 40; break;
		default: return -1;
		}
		n--;
	}
	rc = aml_conf_digits(s, n, &v);
	if (rc < 0)
		return rc;
	if (v > (UINT64_MAX >> shift))
		return -2;
	v <<= shift;
	if (v == UINT64_MAX)
		return -2;
	*out = v;
	return 0;
}

int aml_conf_is_word(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int aml_conf_is_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!is_name_char(*s))
			return 0;
	return 1;
}

/* One item of a --gres list. */
static int is_gres_item(const char *s, size_t n)
{
	const char *field[3];
	size_t len[3], nf = 0, at = 0;
	uint64_t count;

	while (nf < 3) {
		size_t start = at;

		while (at < n && s[at] != ':')
			at++;
		field[nf] = s + start;
		len[nf++] = at - start;
		if (at == n)
			break;
		at++;
	}
	if (at < n)
		return 0;
	for (size_t i = 0; i < nf; i++) {
		/* A leading '-', '.' or '_' would read as an option or a
		 * hidden name, never as a GRES. */
		if (len[i] == 0 || !(aml_ascii_is_alpha(field[i][0]) ||
				     aml_ascii_is_digit(field[i][0])))
			return 0;
		for (size_t j = 0; j < len[i]; j++)
			if (!is_name_char(field[i][j]))
				return 0;
	}
	if (!aml_ascii_is_alpha(field[0][0]))
		return 0;
	/* "gpu:4" is a count, "gpu:a100" a type; a third field is a count. */
	if (nf == 3 || (nf == 2 && aml_ascii_is_digit(field[1][0]))) {
		const char *c = field[nf - 1];

		if (aml_conf_digits(c, len[nf - 1], &count) < 0 || count < 1 ||
		    count >= UINT32_MAX)
			return 0;
	}
	return 1;
}

int aml_conf_is_gres(const char *s)
{
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);

		if (!is_gres_item(s, n))
			return 0;
		if (!comma)
			return 1;
		s = comma + 1;
	}
}

uint64_t aml_conf_gres_gpus(const char *s)
{
	uint64_t total = 0;

	while (s && *s) {
		const char *comma = strchrnul(s, ',');
		size_t n = (size_t)(comma - s);
		const char *colon = memrchr(s, ':', n);
		uint64_t count = 1;

		if (n >= 3 && !strncmp(s, "gpu", 3) && (n == 3 || s[3] == ':')) {
			if (colon && aml_ascii_is_digit(colon[1]) &&
			    aml_conf_digits(colon + 1,
					    (size_t)(comma - colon - 1),
					    &count) < 0)
				count = 0;
			total += count;
		}
		s = *comma ? comma + 1 : comma;
	}
	return total;
}

int aml_conf_is_uri(const char *s)
{
	const char *p = s;

	if (!aml_ascii_is_alpha(*p))
		return 0;
	while (aml_ascii_is_alpha(*p) || aml_ascii_is_digit(*p) || *p == '+' || *p == '.' ||
	       *p == '-')
		p++;
	return strncmp(p, "://", 3) == 0 && p[3] != '\0' &&
	       aml_conf_is_word(s);
}

int aml_parse_slurm_time(const char *text, uint64_t *seconds)
{
	const char *p, *dash;
	uint64_t field[3], days = 0, total, part;
	size_t n_fields = 0;

	if (!text || !seconds)
		return -1;
	if (aml_conf_is_unlimited(text)) {
		*seconds = AML_CONF_UNLIMITED64;
		return 0;
	}
	p = text;
	dash = strchr(text, '-');
	if (dash) {
		if (aml_conf_digits(text, (size_t)(dash - text), &days) < 0)
			return -1;
		p = dash + 1;
	}
	for (;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);

		if (n_fields == 3 ||
		    aml_conf_digits(p, n, &field[n_fields++]) < 0)
			return -1;
		if (!colon)
			break;
		p = colon + 1;
	}
	/*
	 * Only the leading field may be large ("90" minutes, "48:00:00");
	 * a later one out of range is a typo Slurm would silently carry.
	 */
	if (dash) {
		uint64_t h = field[0];
		uint64_t m = n_fields > 1 ? field[1] : 0;
		uint64_t s = n_fields > 2 ? field[2] : 0;

		if (h > 23 || m > 59 || s > 59)
			return -1;
		if (__builtin_mul_overflow(days, 86400, &total))
			return -1;
		part = h * 3600 + m * 60 + s;
	} else if (n_fields == 1) {
		if (__builtin_mul_overflow(field[0], 60, &total))
			return -1;
		part = 0;
	} else if (n_fields == 2) {
		if (field[1] > 59 ||
		    __builtin_mul_overflow(field[0], 60, &total))
			return -1;
		part = field[1];
	} else {
		if (field[1] > 59 || field[2] > 59 ||
		    __builtin_mul_overflow(field[0], 3600, &total))
			return -1;
		part = field[1] * 60 + field[2];
	}
	if (__builtin_add_overflow(total, part, &total) ||
	    total == AML_CONF_UNLIMITED64)
		return -1;
	*seconds = total;
	return 0;
}

void aml_format_slurm_time(uint64_t seconds, char *buf, size_t len)
{
	uint64_t days = seconds / 86400;
	unsigned rest = (unsigned)(seconds % 86400);

	if (!buf || len == 0)
		return;
	if (seconds == AML_CONF_UNLIMITED64)
		snprintf(buf, len, "UNLIMITED");
	else if (days)
		snprintf(buf, len, "%" PRIu64 "-%02u:%02u:%02u", days,
			 rest / 3600, rest / 60 % 60, rest % 60);
	else
		snprintf(buf, len, "%02u:%02u:%02u", rest / 3600,
			 rest / 60 % 60, rest % 60);
}

void aml_conf_list_free(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

int aml_conf_list(const char *s, char ***items, size_t *n_items)
{
	size_t n = 1, i = 0;
	char **list;

	/* One empty item: site.c refuses an empty value before asking. */
	if (!*s)
		return -1;
	for (const char *c = s; *c; c++) {
		if (*c == ',')
			n++;
		else if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return -1;
	}
	for (const char *c = s; *c; c++)
		if (*c == ',' && (c == s || c[-1] == ',' || c[1] == '\0'))
			return -1;
	list = calloc(n, sizeof(*list));
	if (!list)
		return -2;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		list[i] = strndup(s, len);
		if (!list[i]) {
			aml_conf_list_free(list, i);
			return -2;
		}
		i++;
		if (!comma)
			break;
		s = comma + 1;
	}
	*items = list;
	*n_items = n;
	return 0;
}
