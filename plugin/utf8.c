#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t aml_utf8_length(const unsigned char *p, size_t n)
{
	/* The second byte's range is what rules out overlongs (E0, F0),
	 * surrogates (ED) and code points past U+10FFFF (F4); the lead
	 * bytes C0, C1 and F5-FF never start a valid character. */
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return need;
}

size_t aml_utf8_invalid_at(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k;

		/* Eight bytes at a time while they are all ASCII: a run
		 * configuration is mostly ASCII, and this reads it whole. */
		while (n - i >= 8) {
			uint64_t w;

			memcpy(&w, p + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		k = aml_utf8_length(p + i, n - i);
		if (k == 0)
			return i;
		i += k;
	}
	return n;
}

unsigned aml_utf8_decode(const unsigned char *p, size_t len)
{
	static const unsigned char lead_bits[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned cp;

	if (len == 0 || len > AML_UTF8_MAX_LEN)
		return 0;
	cp = p[0] & lead_bits[len];
	for (size_t i = 1; i < len; i++)
		cp = (cp << 6) | (p[i] & 0x3f);
	return cp;
}

size_t aml_utf8_encode(unsigned cp, char *out)
{
	unsigned char *u = (unsigned char *)out;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (unsigned char)(0xf0 | cp >> 18);
	u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	u[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}
