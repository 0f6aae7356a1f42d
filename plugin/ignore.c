/*
 * ignore.c: gitignore patterns, as git reads and matches them.
 *
 * Reading follows git's add_patterns_from_buffer(): a UTF-8 byte order
 * mark is skipped at the very start only; lines end at '\n'; an empty
 * line or one whose first byte is '#' is skipped; one '\r' before the
 * '\n' is dropped; the line ends at its first NUL (git handles each line
 * as a C string, so "a\0b" is the pattern "a"); trailing spaces (not
 * tabs) are trimmed unless escaped, and nothing is trimmed when the line
 * ends in a lone backslash.  All of this was checked against git 2.39
 * (tests/unit/test_ignore.c holds the cases).
 *
 * Matching follows git's dir.c and wildmatch.c, but with an algorithm of
 * our own that never recurses and never allocates:
 *
 *  - A pattern without '/' (the trailing one aside) is matched against
 *    the basename; any other pattern against the whole path, anchored at
 *    the root after one leading '/' is dropped.
 *  - The literal head of a pattern (up to its first '*', '?', '[' or
 *    '\\') is compared byte for byte first, and the glob proper starts
 *    after it, as in git's match_pathname().
 *  - In a whole-path glob, a run of two or more '*' that starts the
 *    pattern or follows a '/' and that ends it or is followed by '/' (or
 *    by an escaped '/') is a "globstar": it may match across '/'.  Every
 *    other '*', '?' and bracket expression stops at '/'.  So "foo**" +
 *    "/bar" matches "foo/bar" and "foox/bar" but not "foo/x/y/bar", as
 *    gitignore(5) says ("other consecutive asterisks are considered
 *    regular asterisks") and git does from 2.4x on; git 2.39 took the
 *    "**" right after the literal head for a leading one.
 *  - A bracket expression git cannot parse (no closing ']', an unknown
 *    [:class:]) and a pattern ending in a lone '\\' make git's wildmatch
 *    give up on the whole pattern, so such a pattern matches nothing.
 *
 * The glob is compiled into tokens.  Globstars split it into chunks; every
 * chunk other than the last is empty or ends with a '/' (a globstar needs
 * a '/' or the start of the glob before it), so a chunk placed at a given
 * position can end at only one place: each '/' it holds must meet the
 * next '/' of the path.  The first chunk is placed at the start, each
 * middle chunk at the first position its globstar allows where it fits
 * (ending as early as possible leaves every choice open to what follows:
 * it ends after a '/', where any later start after a '/' is still
 * allowed), the last chunk where it reaches the end of the path.  Between
 * two '/' a segment of literals, '?', brackets and '*' is matched by the
 * usual loop that backs up to the last '*' only.  A chunk is tried at
 * most once per '/' of the path, so the cost is bounded by (pattern
 * length) x (path length) x (path depth), whatever the pattern.
 *
 * This was checked against a port of git's own code on every pattern of
 * up to 6 bytes made of 'a', '/', '*', '?', '[', ']', '!', '\\' and '-',
 * against every path of up to 5 bytes made of 'a', 'b' and '/', and on
 * millions of random longer ones.
 */
#include "ignore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Pattern flags, named after git's PATTERN_FLAG_*. */
#define PF_NEGATIVE	0x1u	/* "!pattern": re-includes */
#define PF_MUSTBEDIR	0x2u	/* "pattern/": directories only */
#define PF_BASENAME	0x4u	/* no '/': matched against the basename */
#define PF_SUFFIX	0x8u	/* "*literal" on the basename: a suffix test */

enum tok_kind {
	TK_LIT,		/* one byte, possibly '/' */
	TK_ANY,		/* '?': one byte but '/' */
	TK_CLASS,	/* [...]: one byte of a set that never holds '/' */
	TK_STAR,	/* '*': any run of bytes without '/' */
	TK_GS_DIRS,	/* "**" + "/": nothing, or anything ending in '/' */
	TK_GS_ANY,	/* "**" before "\/": anything */
	TK_GS_END	/* trailing "**": all the rest */
};

struct tok {
	unsigned char kind;
	unsigned char ch;	/* TK_LIT */
	uint32_t cls;		/* TK_CLASS: index into classes */
};

struct pat {
	unsigned flags;
	size_t lit, litlen;	/* literal head (PF_SUFFIX: suffix), in strs */
	size_t tok, ntok;	/* the glob after the head, in toks */
	int glob;		/* 0: the head is the whole pattern */
};

struct aml_ignore {
	struct pat *pats;
	size_t npats, cap_pats;
	struct tok *toks;
	size_t ntoks, cap_toks;
	uint64_t (*classes)[4];	/* 256-bit byte sets */
	size_t nclasses, cap_classes;
	char *strs;
	size_t nstrs, cap_strs;
	size_t count;		/* for aml_ignore_count(): lines that are
				 * neither comments nor blank once trimmed,
				 * even those (like "!" or "[") that match
				 * nothing and are not kept */
};

/* ---------------------------------------------------------------------- */
/* Growing arrays                                                         */

/*
 * Room for [more] elements of [size] bytes after the [n] used in the
 * array [p] of *[cap].  Returns the array, moved or not, or NULL when
 * memory runs out or the size would overflow ([p] is then still valid).
 */
static void *grow(void *p, size_t *cap, size_t n, size_t more, size_t size)
{
	size_t want, c;

	if (more > SIZE_MAX / size - n)
		return NULL;
	want = n + more;
	if (p && want <= *cap)
		return p;
	c = *cap ? *cap : 16;
	while (c < want)
		c = c > SIZE_MAX / 2 / size ? want : c * 2;
	p = realloc(p, c * size);
	if (p)
		*cap = c;
	return p;
}

/* ---------------------------------------------------------------------- */
/* Character classes                                                      */

/* git's own ctype (sane_ctype), not the C library's: ASCII only, and
 * [:space:] is " \t\n\r" without '\v' and '\f'. */
static int in_class(const char *name, size_t len, unsigned c)
{
#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
	int upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
	int digit = c >= '0' && c <= '9';
	int print = c >= 0x20 && c <= 0x7e;

	if (IS("alnum"))
		return upper || lower || digit;
	if (IS("alpha"))
		return upper || lower;
	if (IS("blank"))
		return c == ' ' || c == '\t';
	if (IS("cntrl"))
		return c < 0x20 || c == 0x7f;
	if (IS("digit"))
		return digit;
	if (IS("graph"))
		return print && c != ' ';
	if (IS("lower"))
		return lower;
	if (IS("print"))
		return print;
	if (IS("punct"))
		return print && c != ' ' && !upper && !lower && !digit;
	if (IS("space"))
		return c == ' ' || c == '\t' || c == '\n' || c == '\r';
	if (IS("upper"))
		return upper;
	if (IS("xdigit"))
		return digit || (c >= 'a' && c <= 'f') ||
		       (c >= 'A' && c <= 'F');
	return -1;
#undef IS
}

static int known_class(const char *name, size_t len)
{
	return in_class(name, len, 'a') >= 0;
}

static void set_add(uint64_t *set, unsigned c)
{
	set[c >> 6] |= (uint64_t)1 << (c & 63);
}

static int set_has(const uint64_t *set, unsigned char c)
{
	return (int)(set[c >> 6] >> (c & 63)) & 1;
}

/* p[k] of the glob p[0..end), 0 past its end as past git's NUL. */
static unsigned at(const char *p, size_t end, size_t k)
{
	return k < end ? (unsigned char)p[k] : 0u;
}

/*
 * Parse the bracket expression at p[i] == '[' of the glob p[0..end),
 * exactly as git's dowild() walks it (a ']' right after '[' or "[!" is a
 * member, '-' between two members is a range, "[:name:]" a class, '\\'
 * escapes, a "[:" without ":]" is a plain '['), into [set].  Returns the
 * index after the closing ']', or 0 when git would give up on the pattern.
 */
static size_t parse_bracket(const char *p, size_t i, size_t end,
			    uint64_t *set)
{
	size_t k = i + 1;
	unsigned pc = at(p, end, k), prev = 0;
	int negated;

	memset(set, 0, 4 * sizeof(*set));
	if (pc == '^')
		pc = '!';
	negated = pc == '!';
	if (negated)
		pc = at(p, end, ++k);
	do {
		if (!pc)
			return 0;
		if (pc == '\\') {
			pc = at(p, end, ++k);
			if (!pc)
				return 0;
			set_add(set, pc);
		} else if (pc == '-' && prev && at(p, end, k + 1) &&
			   at(p, end, k + 1) != ']') {
			pc = at(p, end, ++k);
			if (pc == '\\') {
				pc = at(p, end, ++k);
				if (!pc)
					return 0;
			}
			for (unsigned c = prev; c <= pc; c++)
				set_add(set, c);
			pc = 0;	/* a range cannot start another range */
		} else if (pc == '[' && at(p, end, k + 1) == ':') {
			size_t s = k + 2;

			for (k = s; at(p, end, k) && at(p, end, k) != ']'; k++)
				;
			if (!at(p, end, k))
				return 0;
			if (k == s || p[k - 1] != ':') {
				/* Not "[:name:]": a plain '[', and the
				 * members go on right after it. */
				k = s - 2;
				pc = '[';
				set_add(set, pc);
				continue;
			}
			if (!known_class(p + s, k - s - 1))
				return 0;
			for (unsigned c = 1; c < 256; c++)
				if (in_class(p + s, k - s - 1, c) > 0)
					set_add(set, c);
			pc = 0;
		} else {
			set_add(set, pc);
		}
	} while (prev = pc, (pc = at(p, end, ++k)) != ']');
	if (negated)
		for (int w = 0; w < 4; w++)
			set[w] = ~set[w];
	/* Neither NUL nor '/' is ever matched by a bracket expression. */
	set[0] &= ~((uint64_t)1 | (uint64_t)1 << '/');
	return k + 1;
}

/* ---------------------------------------------------------------------- */
/* Compiling                                                              */

static int add_tok(struct aml_ignore *ig, unsigned kind, unsigned ch,
		   uint32_t cls)
{
	struct tok *t = grow(ig->toks, &ig->cap_toks, ig->ntoks, 1,
			     sizeof(*t));

	if (!t)
		return -1;
	ig->toks = t;
	ig->toks[ig->ntoks].kind = (unsigned char)kind;
	ig->toks[ig->ntoks].ch = (unsigned char)ch;
	ig->toks[ig->ntoks].cls = cls;
	ig->ntoks++;
	return 0;
}

/*
 * Tokens for the glob p[0..end) into ig->toks.  [pathname]: matched
 * against a whole path, where "**" may be a globstar (for a basename
 * every '*' run is one '*'); [after_slash]: the glob starts the pattern
 * or follows a '/' of its literal head.  Returns 1 when compiled, 0 when
 * git would never match the pattern, -1 when memory runs out.
 */
static int compile_glob(struct aml_ignore *ig, const char *p, size_t end,
			int pathname, int starts_after_slash)
{
	size_t i = 0;

	while (i < end) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\') {
			if (i + 1 >= end)
				return 0;	/* a lone '\\' at the end */
			if (add_tok(ig, TK_LIT, (unsigned char)p[i + 1], 0))
				return -1;
			i += 2;
		} else if (c == '?') {
			if (add_tok(ig, TK_ANY, 0, 0))
				return -1;
			i++;
		} else if (c == '[') {
			uint64_t set[4];
			size_t next = parse_bracket(p, i, end, set);
			uint64_t (*cls)[4];

			if (!next)
				return 0;
			if (ig->nclasses >= UINT32_MAX)
				return -1;
			cls = grow(ig->classes, &ig->cap_classes, ig->nclasses,
				   1, sizeof(*cls));
			if (!cls)
				return -1;
			ig->classes = cls;
			if (add_tok(ig, TK_CLASS, 0, (uint32_t)ig->nclasses))
				return -1;
			memcpy(ig->classes[ig->nclasses++], set, sizeof(set));
			i = next;
		} else if (c == '*') {
			size_t j = i;
			/* The previous byte as written, escaped or not, as in
			 * wildmatch; at the start of the glob, the last of
			 * the literal head's. */
			int after_slash = i == 0 ? starts_after_slash
						 : p[i - 1] == '/';
			unsigned kind = TK_STAR;

			while (j < end && p[j] == '*')
				j++;
			if (pathname && j - i >= 2 && after_slash) {
				if (j == end) {
					kind = TK_GS_END;
				} else if (p[j] == '/') {
					kind = TK_GS_DIRS;
					j++;
				} else if (p[j] == '\\' && j + 1 < end &&
					   p[j + 1] == '/') {
					kind = TK_GS_ANY;
				}
			}
			if (add_tok(ig, kind, 0, 0))
				return -1;
			i = j;
		} else {
			if (add_tok(ig, TK_LIT, c, 0))
				return -1;
			i++;
		}
	}
	return 1;
}

/* git's simple_length(): bytes before the first glob special. */
static size_t simple_length(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] != '*' && p[i] != '?' && p[i] != '[' &&
	       p[i] != '\\')
		i++;
	return i;
}

static int add_str(struct aml_ignore *ig, const char *s, size_t n,
		   size_t *off)
{
	char *strs = grow(ig->strs, &ig->cap_strs, ig->nstrs, n + 1, 1);

	if (!strs)
		return -1;
	ig->strs = strs;
	memcpy(ig->strs + ig->nstrs, s, n);
	ig->strs[ig->nstrs + n] = '\0';
	*off = ig->nstrs;
	ig->nstrs += n + 1;
	return 0;
}

/*
 * Compile the pattern p[0..len) (a line, trimmed), as git's
 * parse_path_pattern() and then match_basename() or match_pathname()
 * see it.  Returns 0 (also for a pattern that can match nothing, which
 * is dropped) or -1 when memory runs out.
 */
static int compile_pattern(struct aml_ignore *ig, const char *p, size_t len)
{
	struct pat pt = { 0 }, *pats;
	size_t head, ntoks0 = ig->ntoks, nclasses0 = ig->nclasses;
	size_t full = len;	/* with the trailing '/', as git measures */
	int r;

	if (len && *p == '!') {
		pt.flags |= PF_NEGATIVE;
		p++;
		len--;
		full--;
	}
	if (len && p[len - 1] == '/') {
		pt.flags |= PF_MUSTBEDIR;
		len--;
	}
	if (!len)
		return 0;	/* "!", "/" or "!/": git matches nothing */
	if (!memchr(p, '/', len))
		pt.flags |= PF_BASENAME;
	head = simple_length(p, full);
	if (head > len)
		head = len;

	if (pt.flags & PF_BASENAME) {
		/* git's "*literal" shortcut: a suffix test.  git looks for
		 * wildcards with the trailing '/' still there. */
		if (*p == '*' && simple_length(p + 1, full - 1) == full - 1) {
			pt.flags |= PF_SUFFIX;
			p++;
			len--;
			head = len;
		}
	} else if (*p == '/') {
		/* Anchored: one leading '/' is dropped (a second one stays
		 * and then never matches, as in git). */
		p++;
		len--;
		head--;
	}

	if (add_str(ig, p, head, &pt.lit))
		return -1;
	pt.litlen = head;
	pt.glob = head < len;
	if (pt.glob) {
		pt.tok = ig->ntoks;
		r = compile_glob(ig, p + head, len - head,
				 !(pt.flags & PF_BASENAME),
				 head == 0 || p[head - 1] == '/');
		if (r < 0)
			return -1;
		if (r == 0) {
			/* Never matches: forget its tokens. */
			ig->ntoks = ntoks0;
			ig->nclasses = nclasses0;
			return 0;
		}
		pt.ntok = ig->ntoks - pt.tok;
	}
	pats = grow(ig->pats, &ig->cap_pats, ig->npats, 1, sizeof(*pats));
	if (!pats)
		return -1;
	ig->pats = pats;
	ig->pats[ig->npats++] = pt;
	return 0;
}

/*
 * git's trim_trailing_spaces() on line[0..*len): drop trailing ' ', but
 * not one escaped by '\\', and nothing at all when the line ends in a
 * lone '\\'.
 */
static void trim_trailing_spaces(const char *line, size_t *len)
{
	size_t i, last_space = SIZE_MAX;

	for (i = 0; i < *len; i++) {
		if (line[i] == ' ') {
			if (last_space == SIZE_MAX)
				last_space = i;
			continue;
		}
		if (line[i] == '\\' && ++i >= *len)
			return;
		last_space = SIZE_MAX;
	}
	if (last_space != SIZE_MAX)
		*len = last_space;
}

struct aml_ignore *aml_ignore_parse(const char *text, size_t len)
{
	struct aml_ignore *ig = calloc(1, sizeof(*ig));
	size_t i = 0;

	if (!ig)
		return NULL;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len) {
		const char *line = text + i, *nl, *nul;
		size_t n;

		nl = memchr(line, '\n', len - i);
		n = nl ? (size_t)(nl - line) : len - i;
		i += n + 1;
		if (n == 0 || line[0] == '#')
			continue;
		if (line[n - 1] == '\r')
			n--;
		nul = memchr(line, '\0', n);
		if (nul)
			n = (size_t)(nul - line);
		trim_trailing_spaces(line, &n);
		if (n == 0)
			continue;	/* blank once trimmed */
		ig->count++;
		if (compile_pattern(ig, line, n)) {
			aml_ignore_free(ig);
			return NULL;
		}
	}
	return ig;
}

/* ---------------------------------------------------------------------- */
/* Matching                                                               */

#define NO_FIT SIZE_MAX

static int tok_is_globstar(const struct tok *t)
{
	return t->kind >= TK_GS_DIRS;
}

/*
 * Does the segment glob t[0..n) (literals but '/', '?', brackets, '*')
 * match all of s[0..len), which holds no '/'?  The classic loop: on a
 * mismatch, let the last '*' seen take one byte more.
 */
static int match_segment(const struct aml_ignore *ig, const struct tok *t,
			 size_t n, const unsigned char *s, size_t len)
{
	size_t ti = 0, si = 0, star_t = SIZE_MAX, star_s = 0;

	while (si < len) {
		if (ti < n) {
			const struct tok *k = &t[ti];

			if (k->kind == TK_STAR) {
				star_t = ti++;
				star_s = si;
				continue;
			}
			if (k->kind == TK_ANY ||
			    (k->kind == TK_LIT && k->ch == s[si]) ||
			    (k->kind == TK_CLASS &&
			     set_has(ig->classes[k->cls], s[si]))) {
				ti++;
				si++;
				continue;
			}
		}
		if (star_t == SIZE_MAX)
			return 0;
		ti = star_t + 1;
		si = ++star_s;
	}
	while (ti < n && t[ti].kind == TK_STAR)
		ti++;
	return ti == n;
}

/*
 * Place the chunk t[0..n) (no globstar) at s[pos] of s[0..len).  Each
 * '/' token must meet the path's next '/', so the end is fixed: returns
 * it, or NO_FIT.  [last]: the chunk must reach the end of s; otherwise
 * it is empty or ends with a '/' token (see the top of the file).
 */
static size_t place_chunk(const struct aml_ignore *ig, const struct tok *t,
			  size_t n, const unsigned char *s, size_t len,
			  size_t pos, int last)
{
	size_t k = 0;

	for (;;) {
		size_t j = k, seg_end = pos;

		while (j < n && !(t[j].kind == TK_LIT && t[j].ch == '/'))
			j++;
		while (seg_end < len && s[seg_end] != '/')
			seg_end++;
		if (j < n) {
			if (seg_end == len ||
			    !match_segment(ig, t + k, j - k, s + pos,
					   seg_end - pos))
				return NO_FIT;
			pos = seg_end + 1;
			k = j + 1;
			continue;
		}
		if (!last)
			return k == n ? pos : NO_FIT;
		if (seg_end != len ||
		    !match_segment(ig, t + k, n - k, s + pos, len - pos))
			return NO_FIT;
		return len;
	}
}

/* Does the compiled glob t[0..n) match all of s[0..len)? */
static int match_glob(const struct aml_ignore *ig, const struct tok *t,
		      size_t n, const unsigned char *s, size_t len)
{
	size_t g = 0, pos;

	while (g < n && !tok_is_globstar(&t[g]))
		g++;
	pos = place_chunk(ig, t, g, s, len, 0, g == n);
	if (pos == NO_FIT)
		return 0;
	while (g < n) {
		const struct tok *gs = &t[g];
		size_t c = g + 1, g2 = c, start, e = NO_FIT;
		int last;

		if (gs->kind == TK_GS_END)
			return 1;	/* always the last token */
		while (g2 < n && !tok_is_globstar(&t[g2]))
			g2++;
		last = g2 == n;
		for (start = pos; start <= len; start++) {
			/* "**" + "/" lets the chunk start where it is or
			 * right after any '/' further on; after "**" the
			 * chunk starts with the '/' of "\/". */
			if (gs->kind == TK_GS_DIRS ?
			    start != pos && s[start - 1] != '/' :
			    start == len || s[start] != '/')
				continue;
			e = place_chunk(ig, t + c, g2 - c, s, len, start, last);
			if (e != NO_FIT)
				break;
		}
		if (e == NO_FIT)
			return 0;
		if (last)
			return 1;
		pos = e;
		g = g2;
	}
	return pos == len;
}

static int match_one(const struct aml_ignore *ig, const struct pat *pt,
		     const char *path, size_t pathlen, const char *base,
		     size_t baselen)
{
	const char *s = path;
	size_t len = pathlen;

	if (pt->flags & PF_BASENAME) {
		s = base;
		len = baselen;
		if (pt->flags & PF_SUFFIX)
			return len >= pt->litlen &&
			       memcmp(s + len - pt->litlen, ig->strs + pt->lit,
				      pt->litlen) == 0;
	}
	if (!pt->glob)
		return len == pt->litlen &&
		       memcmp(s, ig->strs + pt->lit, len) == 0;
	if (len < pt->litlen ||
	    memcmp(s, ig->strs + pt->lit, pt->litlen) != 0)
		return 0;
	return match_glob(ig, ig->toks + pt->tok, pt->ntok,
			  (const unsigned char *)s + pt->litlen,
			  len - pt->litlen);
}

int aml_ignore_match(const struct aml_ignore *ig, const char *path,
		     int is_dir)
{
	size_t pathlen, baselen;
	const char *base;

	if (!ig || !path || !*path)
		return 0;
	pathlen = strlen(path);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	baselen = pathlen - (size_t)(base - path);
	/* The last pattern that matches decides. */
	for (size_t i = ig->npats; i-- > 0;) {
		const struct pat *pt = &ig->pats[i];

		if ((pt->flags & PF_MUSTBEDIR) && !is_dir)
			continue;
		if (match_one(ig, pt, path, pathlen, base, baselen))
			return !(pt->flags & PF_NEGATIVE);
	}
	return 0;
}

size_t aml_ignore_count(const struct aml_ignore *ig)
{
	return ig ? ig->count : 0;
}

void aml_ignore_free(struct aml_ignore *ig)
{
	if (!ig)
		return;
	free(ig->pats);
	free(ig->toks);
	free(ig->classes);
	free(ig->strs);
	free(ig);
}
