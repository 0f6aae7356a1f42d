#include "suggest.h"

/* A word this long that a key merely extends ("process_count" for
 * "process_count_per_node") is a truncated key, however many edits away. */
#define PREFIX_MIN 6

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAP 255u

/* Words this long or shorter are normalised on the stack. */
#define LOCAL_WORD 128

/*
 * Lower case without '_' and '-', so maxRunDuration, max_run_duration and
 * max-run-duration are the same word.  Returns the length; *out points at
 * [local] or at a malloc'd copy (free it when != local), NULL on OOM.
 */
static size_t normalise(const char *s, char *local, char **out)
{
	size_t n = strlen(s), k = 0;
	char *d = local;

	if (n >= LOCAL_WORD) {
		d = malloc(n + 1);
		if (!d) {
			*out = NULL;
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '_' || c == '-')
			continue;
		d[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	d[k] = '\0';
	*out = d;
	return k;
}

static unsigned min3(unsigned a, unsigned b, unsigned c)
{
	unsigned m = a < b ? a : b;

	return m < c ? m : c;
}

/*
 * Optimal string alignment over normalised words, capped at CAP: only
 * cells within CAP of the diagonal can stay under the cap, so each row is
 * computed on that band alone and long inputs cost O(n * CAP).
 */
static unsigned osa(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned *rows, *r0, *r1, *r2, d;
	const unsigned inf = CAP + 1;

	if ((la > lb ? la - lb : lb - la) > CAP)
		return CAP;
	if (la == 0 || lb == 0)
		return (unsigned)(la + lb);
	if (lb + 1 > SIZE_MAX / sizeof(*rows) / 3)
		return CAP;
	rows = malloc(3 * (lb + 1) * sizeof(*rows));
	if (!rows)
		return CAP;
	r2 = rows;                /* row i - 2 */
	r1 = rows + (lb + 1);     /* row i - 1 */
	r0 = rows + 2 * (lb + 1); /* row i */
	for (size_t j = 0; j <= lb; j++)
		r1[j] = j < inf ? (unsigned)j : inf;
	for (size_t i = 1; i <= la; i++) {
		size_t lo = i > CAP ? i - CAP : 1;
		size_t hi = i + CAP < lb ? i + CAP : lb;
		unsigned *t;

		r0[0] = i < inf ? (unsigned)i : inf;
		if (lo > 1)
			r0[lo - 1] = inf;
		for (size_t j = lo; j <= hi; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = min3(r1[j] + 1, r0[j - 1] + 1,
					  r1[j - 1] + cost);

			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && r2[j - 2] + 1 < v)
				v = r2[j - 2] + 1;
			r0[j] = v < inf ? v : inf;
		}
		if (hi < lb)
			r0[hi + 1] = inf;
		t = r2;
		r2 = r1;
		r1 = r0;
		r0 = t;
	}
	d = r1[lb];
	free(rows);
	return d < CAP ? d : CAP;
}

unsigned aml_edit_distance(const char *a, const char *b)
{
	char la[LOCAL_WORD], lb[LOCAL_WORD], *na, *nb;
	size_t ka, kb;
	unsigned d;

	if (!a || !b)
		return CAP;
	ka = normalise(a, la, &na);
	kb = normalise(b, lb, &nb);
	d = na && nb ? osa(na, ka, nb, kb) : CAP;
	if (na != la)
		free(na);
	if (nb != lb)
		free(nb);
	return d;
}

const char *aml_suggest(const char *word, const char *const *candidates,
			size_t n)
{
	char lw[LOCAL_WORD], lc[LOCAL_WORD], *nw, *nc;
	size_t kw, limit;
	const char *best = NULL, *best_prefix = NULL;
	unsigned best_d = CAP + 1;
	size_t n_prefix = 0;

	if (!word || !candidates)
		return NULL;
	kw = normalise(word, lw, &nw);
	if (!nw)
		return NULL;
	limit = kw / 3 > 2 ? kw / 3 : 2;
	for (size_t i = 0; i < n; i++) {
		size_t kc;
		unsigned d;
		int extends;

		if (!candidates[i])
			continue;
		kc = normalise(candidates[i], lc, &nc);
		if (!nc)
			continue;
		d = osa(nw, kw, nc, kc);
		extends = kw >= PREFIX_MIN && kc > kw && !memcmp(nc, nw, kw);
		if (nc != lc)
			free(nc);
		if (d > limit && extends) {
			/* Only a unique extension is a confident guess. */
			best_prefix = n_prefix++ ? NULL : candidates[i];
			continue;
		}
		/* CAP means "at least CAP": never close enough to name */
		if (d < CAP && d <= limit && d < best_d) {
			best = candidates[i];
			best_d = d;
		}
	}
	if (nw != lw)
		free(nw);
	return best ? best : best_prefix;
}
