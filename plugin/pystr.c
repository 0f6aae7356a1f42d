#include "pystr.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Python's repr() ignores the locale; printf and strtod do not, and a
 * process (sbatch, a tool) may have called setlocale().  Number text is
 * therefore formatted and read under the "C" locale.
 */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Switch this thread to "C"; returns what to restore, or 0. */
static locale_t enter_c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale ? uselocale(c_locale) : (locale_t)0;
}

static void leave_c_locale(locale_t old)
{
	if (old)
		uselocale(old);
}

/*
 * The shortest digits that read back as [value] (finite, > 0), as
 * Python's repr() picks them: fewest digits, then closest to the value.
 * At each precision the correctly rounded %.*e is the closest candidate;
 * when it falls just below [value] outside the rounding interval, the
 * next decimal up may still be inside it, because at a power of two the
 * interval above is twice as wide as below (2**182 is 6.129982163463556e+54,
 * not the 17 digits the rounded candidate alone would give).
 * Writes the digits without a point into [digits] and returns their count;
 * *exp10 is the exponent of the first digit.
 */
static int shortest_digits(double value, char digits[20], int *exp10)
{
	char buf[40], try[40];
	int n = 0;

	for (int prec = 1; prec <= 17; prec++) {
		double back;

		snprintf(buf, sizeof(buf), "%.*e", prec - 1, value);
		back = strtod(buf, NULL);
		if (back == value || prec == 17)
			break;
		if (back < value) {
			int e = atoi(strchr(buf, 'e') + 1), k = 0;
			char d[20];

			for (const char *p = buf; *p != 'e'; p++)
				if (*p >= '0' && *p <= '9')
					d[k++] = *p;
			for (int i = k - 1; i >= 0; i--) {
				if (d[i] != '9') {
					d[i]++;
					break;
				}
				d[i] = '0';
				if (i == 0) {
					d[0] = '1';
					e++;
				}
			}
			snprintf(try, sizeof(try), "%c.%.*se%d", d[0], k - 1,
				 d + 1, e);
			if (strtod(try, NULL) == value) {
				strcpy(buf, try);
				break;
			}
		}
	}
	/* buf is "d.ddde[+-]x" or "de[+-]x" */
	for (const char *p = buf; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[n++] = *p;
	*exp10 = atoi(strchr(buf, 'e') + 1);
	/* %.*e keeps trailing zeros ("1.0e+16" at precision 2): drop them */
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';
	return n;
}

int aml_pystr_float(double value, char *buf, size_t len)
{
	char out[48], digits[20];
	int n = 0, nd, e;
	size_t k;
	locale_t old;

	if (isnan(value)) {
		strcpy(out, "nan");
	} else if (isinf(value)) {
		strcpy(out, value < 0 ? "-inf" : "inf");
	} else {
		if (signbit(value)) {
			out[n++] = '-';
			value = -value;
		}
		if (value == 0) {
			strcpy(out + n, "0.0");
		} else {
			old = enter_c_locale();
			nd = shortest_digits(value, digits, &e);
			leave_c_locale(old);
			if (e < -4 || e >= 16) {
				/* 1e-05, 1.5e+16: Python's repr exponent form */
				out[n++] = digits[0];
				if (nd > 1) {
					out[n++] = '.';
					memcpy(out + n, digits + 1, (size_t)nd - 1);
					n += nd - 1;
				}
				snprintf(out + n, sizeof(out) - (size_t)n,
					 "e%c%02d", e < 0 ? '-' : '+',
					 e < 0 ? -e : e);
			} else if (e < 0) {
				/* 0.0001 */
				memcpy(out + n, "0.", 2);
				n += 2;
				for (int i = 0; i < -e - 1; i++)
					out[n++] = '0';
				memcpy(out + n, digits, (size_t)nd);
				out[n + nd] = '\0';
			} else {
				/* 123.45, 100000.0 */
				for (int i = 0; i <= e; i++)
					out[n++] = i < nd ? digits[i] : '0';
				out[n++] = '.';
				if (nd > e + 1) {
					memcpy(out + n, digits + e + 1,
					       (size_t)(nd - e - 1));
					n += nd - e - 1;
				} else {
					out[n++] = '0';
				}
				out[n] = '\0';
			}
		}
	}
	k = strlen(out);
	if (!buf || k >= len)
		return -1;
	memcpy(buf, out, k + 1);
	return (int)k;
}

/*
 * Python's int(): optional sign, then digits; leading zeros and '+'
 * dropped, and -0 is 0.  Text that is not an integer is kept as is.
 */
static char *int_text(const char *s, size_t n)
{
	int neg = 0;
	size_t i = 0;
	char *out;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	while (i + 1 < n && s[i] == '0')
		i++;
	if (i == n)
		return strndup(s, n);
	for (size_t k = i; k < n; k++)
		if (s[k] < '0' || s[k] > '9')
			return strndup(s, n);
	if (n - i == 1 && s[i] == '0')
		neg = 0;
	out = malloc(n - i + 2);
	if (!out)
		return NULL;
	if (neg)
		out[0] = '-';
	memcpy(out + neg, s + i, n - i);
	out[neg + n - i] = '\0';
	return out;
}

char *aml_pystr(const struct aml_node *scalar)
{
	char buf[48];
	locale_t old;
	double value;

	if (!scalar)
		return NULL;
	switch (scalar->type) {
	case AML_NODE_STRING: {
		char *s = malloc(scalar->len + 1);

		if (!s)
			return NULL;
		if (scalar->len)
			memcpy(s, scalar->text, scalar->len);
		s[scalar->len] = '\0';
		return s;
	}
	case AML_NODE_BOOL:
		return strdup(scalar->boolean ? "True" : "False");
	case AML_NODE_NULL:
		return strdup("None");
	case AML_NODE_INT:
		return int_text(scalar->text ? scalar->text : "0",
				scalar->text ? scalar->len : 1);
	case AML_NODE_FLOAT:
		if (!scalar->text)
			return NULL;
		/* the node's text is NUL-terminated; strtod reads "1e400"
		 * as inf and "nan" as nan, as Python's float() does */
		old = enter_c_locale();
		value = strtod(scalar->text, NULL);
		leave_c_locale(old);
		if (aml_pystr_float(value, buf, sizeof(buf)) < 0)
			return NULL;
		return strdup(buf);
	default:
		return NULL;
	}
}
