/*
 * manifest.c: the snapshot manifest, its rules and its text (contract in
 * manifest.h).
 *
 * Where the contract is silent:
 *   - A symlink target may hold "." and empty segments (both stay where
 *     they are: "./run.py", "lib/"), and ".." only before its first name
 *     ("../../lib/x", not "a/../b"), counted against the link's own depth.
 *     A lexical check of "s/../x" cannot see that "s" may itself be a
 *     symlink to a shallower place ("s" -> "." at the root makes
 *     "s/../x" leave the tree); with every ".." first, the climb happens in
 *     the link's own directory, which is a real directory because nothing
 *     lies below a symlink, and what follows only descends.
 *   - A target's characters follow the path rules (UTF-8, no control
 *     character, at most AML_MANIFEST_PATH_MAX bytes); its segments may
 *     name anything, ".git" included: the link then dangles, harmlessly.
 *   - aml_manifest_add() keeps a target only for a symlink, and
 *     aml_manifest_finish() zeroes a symlink's size, mode and hash and
 *     makes [executable] 0 or 1, so what is checked is what is encoded.
 *   - A failed decode leaves [m] empty (aml_manifest_free() is harmless).
 *   - aml_manifest_total_bytes() saturates at UINT64_MAX rather than wrap,
 *     so a limit check on a hostile manifest cannot be fooled.
 *   - Values in messages are quoted as text.h says, cut after 200 bytes
 *     of plain text (QUOTE_BUF).
 */
#include "manifest.h"
#include "errors.h"
#include "text.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_LEN (sizeof(AML_MANIFEST_HEADER) - 1)
/* A value quoted in a message: 200 bytes of it, the quotes and "...". */
#define QUOTE_BUF 206
#define RULE_BUF 160

/* ---- messages ---- */

/* Messages go through aml_fail() (errors.h), values in them through
 * aml_text_quote() (text.h). */

/* ---- path and target rules ---- */

/* The character rules shared by paths and targets.  Writes the broken
 * rule into [rule] and returns -1. */
static int check_chars(const char *s, size_t n, char rule[RULE_BUF])
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	if (n == 0)
		return aml_fail(rule, RULE_BUF, "is empty");
	if (n > AML_MANIFEST_PATH_MAX)
		return aml_fail(rule, RULE_BUF, "is longer than %d bytes (%zu)",
			    AML_MANIFEST_PATH_MAX, n);
	if (s[0] == '/')
		return aml_fail(rule, RULE_BUF, "is absolute");
	while (i < n) {
		size_t k;

		if (u[i] >= 0x20 && u[i] < 0x7F) {
			i++;    /* printable ASCII: the common case */
			continue;
		}
		if (u[i] < 0x20 || u[i] == 0x7F)
			return aml_fail(rule, RULE_BUF,
				    "has a control character (byte 0x%02x at offset %zu)",
				    u[i], i);
		k = aml_utf8_length(u + i, n - i);
		if (!k)
			return aml_fail(rule, RULE_BUF,
				    "is not valid UTF-8 (byte 0x%02x at offset %zu)",
				    u[i], i);
		i += k;
	}
	return 0;
}

static int segment_is(const char *seg, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(seg, word, n) == 0;
}

static int check_path_rule(const char *path, size_t n, char rule[RULE_BUF])
{
	size_t start = 0;

	if (check_chars(path, n, rule) != 0)
		return -1;
	while (start <= n) {
		const char *seg = path + start;
		const char *slash = memchr(seg, '/', n - start);
		size_t len = slash ? (size_t)(slash - seg) : n - start;

		if (len == 0)
			return aml_fail(rule, RULE_BUF, "has an empty segment");
		if (segment_is(seg, len, "."))
			return aml_fail(rule, RULE_BUF, "has a \".\" segment");
		if (segment_is(seg, len, ".."))
			return aml_fail(rule, RULE_BUF, "has a \"..\" segment");
		if (segment_is(seg, len, ".git"))
			return aml_fail(rule, RULE_BUF, "has a \".git\" segment");
		start += len + 1;
	}
	return 0;
}

/* [target] of the symlink at [link] (a valid path of [link_len] bytes):
 * see the top of the file for why ".." must come first. */
static int check_target_rule(const char *link, size_t link_len,
			     const char *target, size_t n,
			     char rule[RULE_BUF])
{
	size_t depth = 0, ups = 0, start = 0;
	int named = 0;

	if (check_chars(target, n, rule) != 0)
		return -1;
	for (size_t i = 0; i < link_len; i++)
		depth += link[i] == '/';
	while (start <= n) {
		const char *seg = target + start;
		const char *slash = memchr(seg, '/', n - start);
		size_t len = slash ? (size_t)(slash - seg) : n - start;

		if (segment_is(seg, len, "..")) {
			if (named)
				return aml_fail(rule, RULE_BUF,
					    "has \"..\" after a name (only leading \"..\" are allowed)");
			if (++ups > depth)
				return aml_fail(rule, RULE_BUF, "leaves the tree");
		} else if (len != 0 && !segment_is(seg, len, ".")) {
			named = 1;
		}
		start += len + 1;
	}
	return 0;
}

int aml_manifest_check_path(const char *path, char *errbuf, size_t errlen)
{
	char rule[RULE_BUF];

	if (check_path_rule(path, strlen(path), rule) != 0)
		return aml_fail(errbuf, errlen, "%s", rule);
	return 0;
}

int aml_manifest_check_target(const char *link, const char *target,
			      char *errbuf, size_t errlen)
{
	char rule[RULE_BUF];

	if (check_target_rule(link, strlen(link), target, strlen(target),
			      rule) != 0)
		return aml_fail(errbuf, errlen, "%s", rule);
	return 0;
}

/* ---- building ---- */

static int reserve(struct aml_manifest *m, size_t want)
{
	struct aml_manifest_entry *grown;
	size_t capacity = m->capacity ? m->capacity : 64;

	if (want <= m->capacity)
		return 0;
	while (capacity < want) {
		if (capacity > SIZE_MAX / 2 / sizeof(*grown))
			return -1;
		capacity *= 2;
	}
	grown = realloc(m->entries, capacity * sizeof(*grown));
	if (!grown)
		return -1;
	m->entries = grown;
	m->capacity = capacity;
	return 0;
}

int aml_manifest_add(struct aml_manifest *m,
		     const struct aml_manifest_entry *entry)
{
	struct aml_manifest_entry copy = *entry;

	if (m->count == SIZE_MAX || reserve(m, m->count + 1) != 0)
		return -1;
	copy.path = strdup(entry->path);
	copy.target = NULL;
	if (entry->type == AML_ENTRY_SYMLINK && entry->target)
		copy.target = strdup(entry->target);
	if (!copy.path ||
	    (entry->type == AML_ENTRY_SYMLINK && entry->target && !copy.target)) {
		free(copy.path);
		free(copy.target);
		return -1;
	}
	m->entries[m->count++] = copy;
	return 0;
}

int aml_manifest_take(struct aml_manifest *m, struct aml_manifest_entry *entry)
{
	if (m->count == SIZE_MAX || reserve(m, m->count + 1) != 0)
		return -1;
	m->entries[m->count] = *entry;
	if (entry->type != AML_ENTRY_SYMLINK) {
		free(m->entries[m->count].target);
		m->entries[m->count].target = NULL;
	}
	m->count++;
	entry->path = NULL;
	entry->target = NULL;
	return 0;
}

/* ---- checking the whole ---- */

/* "line N: " when decoding (entries start at line [line_base]), "" when
 * finishing. */
static const char *where(size_t line_base, size_t index, char buf[40])
{
	if (!line_base)
		return "";
	snprintf(buf, 40, "line %zu: ", line_base + index);
	return buf;
}

/*
 * Nothing below a file or a symlink, for entries sorted bytewise with
 * distinct, valid paths.  Neighbours are not enough: "a-b" and "a.txt"
 * sort between "a" and "a/b".  A stack does it in one pass without
 * hashing: it holds the chain of earlier entries each of which is a
 * string prefix of the next.  Every string between E and a later Q that
 * starts with E also starts with E, so an earlier entry that is a prefix
 * of Q is still on the stack when Q comes.  Only the top needs checking:
 * if a deeper E were an ancestor of Q ("E/..."), the top, a longer prefix
 * of Q, would be below E too and would have been refused already.
 */
static int check_ancestors(const struct aml_manifest *m, size_t line_base,
			   char *errbuf, size_t errlen)
{
	size_t *stack, depth = 0;
	size_t *lens;

	if (m->count < 2)
		return 0;
	stack = malloc(m->count * sizeof(*stack));
	lens = malloc(m->count * sizeof(*lens));
	if (!stack || !lens) {
		free(stack);
		free(lens);
		return aml_fail(errbuf, errlen, "out of memory checking the manifest");
	}
	for (size_t i = 0; i < m->count; i++) {
		const char *q = m->entries[i].path;
		size_t qlen = strlen(q);

		while (depth) {
			size_t top = stack[depth - 1];

			if (lens[top] < qlen &&
			    memcmp(m->entries[top].path, q, lens[top]) == 0)
				break;
			depth--;
		}
		if (depth && q[lens[stack[depth - 1]]] == '/') {
			const struct aml_manifest_entry *a =
				&m->entries[stack[depth - 1]];
			char q1[QUOTE_BUF], q2[QUOTE_BUF], w[40];

			free(stack);
			free(lens);
			return aml_fail(errbuf, errlen, "%spath %s: lies below the %s %s",
				    where(line_base, i, w),
				    aml_text_quote(q, qlen, q1, sizeof(q1)),
				    a->type == AML_ENTRY_FILE ? "file" : "symlink",
				    aml_text_quote(a->path, strlen(a->path),
						   q2, sizeof(q2)));
		}
		lens[i] = qlen;
		stack[depth++] = i;
	}
	free(stack);
	free(lens);
	return 0;
}

static int compare_entries(const void *a, const void *b)
{
	const struct aml_manifest_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

int aml_manifest_finish(struct aml_manifest *m, char *errbuf, size_t errlen)
{
	char rule[RULE_BUF], q1[QUOTE_BUF], q2[QUOTE_BUF];

	/* A capture adds its entries sorted: one pass instead of a sort. */
	for (size_t i = 1; i < m->count; i++) {
		if (strcmp(m->entries[i - 1].path, m->entries[i].path) > 0) {
			qsort(m->entries, m->count, sizeof(*m->entries),
			      compare_entries);
			break;
		}
	}
	for (size_t i = 0; i < m->count; i++) {
		struct aml_manifest_entry *e = &m->entries[i];
		size_t n = strlen(e->path);

		if (check_path_rule(e->path, n, rule) != 0)
			return aml_fail(errbuf, errlen, "path %s: %s",
				    aml_text_quote(e->path, n,
						   q1, sizeof(q1)), rule);
		if (i > 0 && strcmp(m->entries[i - 1].path, e->path) == 0)
			return aml_fail(errbuf, errlen, "path %s: appears twice",
				    aml_text_quote(e->path, n, q1, sizeof(q1)));
		if (e->type == AML_ENTRY_FILE) {
			if (!aml_sha256_is_hex(e->sha256))
				return aml_fail(errbuf, errlen,
					    "path %s: has no valid SHA-256",
					    aml_text_quote(e->path, n,
							   q1, sizeof(q1)));
			e->executable = e->executable != 0;
		} else if (e->type == AML_ENTRY_SYMLINK) {
			if (!e->target)
				return aml_fail(errbuf, errlen,
					    "symlink %s: has no target",
					    aml_text_quote(e->path, n,
							   q1, sizeof(q1)));
			if (check_target_rule(e->path, n, e->target,
					      strlen(e->target), rule) != 0)
				return aml_fail(errbuf, errlen,
					    "symlink %s: target %s: %s",
					    aml_text_quote(e->path, n, q1,
							   sizeof(q1)),
					    aml_text_quote(e->target,
							   strlen(e->target),
							   q2, sizeof(q2)),
					    rule);
			e->size = 0;
			e->executable = 0;
			e->sha256[0] = '\0';
		} else {
			return aml_fail(errbuf, errlen, "path %s: unknown entry type %d",
				    aml_text_quote(e->path, n, q1, sizeof(q1)),
				    (int)e->type);
		}
	}
	return check_ancestors(m, 0, errbuf, errlen);
}

/* ---- text ---- */

static size_t u64_digits(uint64_t v, char out[20])
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static size_t i64_digits(int64_t v, char out[21])
{
	if (v >= 0)
		return u64_digits((uint64_t)v, out);
	out[0] = '-';
	/* -(v + 1) + 1 avoids negating INT64_MIN. */
	return 1 + u64_digits((uint64_t)(-(v + 1)) + 1, out + 1);
}

char *aml_manifest_encode(const struct aml_manifest *m, size_t *len,
			  char id[AML_SHA256_HEX_LEN + 1])
{
	char digits[21];
	size_t total = HEADER_LEN, at;
	char *text;

	for (size_t i = 0; i < m->count; i++) {
		const struct aml_manifest_entry *e = &m->entries[i];

		if (e->type == AML_ENTRY_FILE)
			total += 2 + AML_SHA256_HEX_LEN + 1 +
				 u64_digits(e->size, digits) + 1 + 2 +
				 i64_digits(e->mtime_ns, digits) + 1 +
				 strlen(e->path) + 1;
		else
			total += 2 + i64_digits(e->mtime_ns, digits) + 1 +
				 strlen(e->path) + 1 +
				 (e->target ? strlen(e->target) : 0) + 1;
	}
	text = malloc(total + 1);
	if (!text)
		return NULL;
	memcpy(text, AML_MANIFEST_HEADER, HEADER_LEN);
	at = HEADER_LEN;
	for (size_t i = 0; i < m->count; i++) {
		const struct aml_manifest_entry *e = &m->entries[i];
		size_t n;

		if (e->type == AML_ENTRY_FILE) {
			memcpy(text + at, "f ", 2);
			memcpy(text + at + 2, e->sha256, AML_SHA256_HEX_LEN);
			at += 2 + AML_SHA256_HEX_LEN;
			text[at++] = ' ';
			at += u64_digits(e->size, text + at);
			text[at++] = ' ';
			text[at++] = e->executable ? 'x' : '-';
			text[at++] = ' ';
		} else {
			memcpy(text + at, "l ", 2);
			at += 2;
		}
		at += i64_digits(e->mtime_ns, text + at);
		text[at++] = ' ';
		n = strlen(e->path);
		memcpy(text + at, e->path, n);
		at += n;
		if (e->type != AML_ENTRY_FILE) {
			text[at++] = '\t';
			n = e->target ? strlen(e->target) : 0;
			memcpy(text + at, e->target, n);
			at += n;
		}
		text[at++] = '\n';
	}
	text[at] = '\0';
	if (id && aml_sha256_buffer(text, at, id) != 0) {
		free(text);
		return NULL;
	}
	*len = at;
	return text;
}

/* Canonical unsigned decimal: digits only, no leading zero, in range.
 * Up to 19 digits cannot overflow; 20 are compared with the largest. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
	static const char max[] = "18446744073709551615";
	uint64_t v = 0;

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		v = v * 10 + d;
	}
	if (n == 20 && memcmp(s, max, 20) > 0)
		return -1;
	*out = v;
	return 0;
}

/* Canonical signed decimal: as above with an optional '-', never "-0". */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
	uint64_t v;

	if (n > 0 && s[0] == '-') {
		if (parse_u64(s + 1, n - 1, &v) != 0 || v == 0 ||
		    v > (uint64_t)INT64_MAX + 1)
			return -1;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		return 0;
	}
	if (parse_u64(s, n, &v) != 0 || v > (uint64_t)INT64_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* One field of a line: up to the next blank, which must be there. */
static int next_field(const char **at, const char *end, const char **field,
		      size_t *n)
{
	const char *blank = memchr(*at, ' ', (size_t)(end - *at));

	if (!blank)
		return -1;
	*field = *at;
	*n = (size_t)(blank - *at);
	*at = blank + 1;
	return 0;
}

static char *copy_span(const char *s, size_t n)
{
	char *c = malloc(n + 1);

	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

/* Parse line [lineno] ([s], [n] bytes, without its newline) into [e],
 * whose path (and target) are malloc'd on success.  [prev] is the path of
 * the entry before, or NULL. */
static int decode_line(const char *s, size_t n, size_t lineno,
		       const char *prev, size_t prev_len,
		       struct aml_manifest_entry *e, char *errbuf,
		       size_t errlen)
{
	const char *at = s + 2, *end = s + n, *field, *path, *target = NULL;
	size_t flen, path_len, target_len = 0;
	char rule[RULE_BUF], q1[QUOTE_BUF], q2[QUOTE_BUF];
	int cmp;

	memset(e, 0, sizeof(*e));
	if (n >= 2 && s[0] == 'f' && s[1] == ' ') {
		e->type = AML_ENTRY_FILE;
		if (next_field(&at, end, &field, &flen) != 0)
			goto too_few;
		if (flen != AML_SHA256_HEX_LEN)
			goto bad_hash;
		memcpy(e->sha256, field, flen);
		e->sha256[flen] = '\0';
		if (!aml_sha256_is_hex(e->sha256))
			goto bad_hash;
		if (next_field(&at, end, &field, &flen) != 0)
			goto too_few;
		if (parse_u64(field, flen, &e->size) != 0)
			return aml_fail(errbuf, errlen,
				    "line %zu: size %s: must be a decimal number without leading zeros, at most 18446744073709551615",
				    lineno,
				    aml_text_quote(field, flen,
						   q1, sizeof(q1)));
		if (next_field(&at, end, &field, &flen) != 0)
			goto too_few;
		if (flen != 1 || (field[0] != 'x' && field[0] != '-'))
			return aml_fail(errbuf, errlen,
				    "line %zu: mode %s: must be \"x\" or \"-\"",
				    lineno,
				    aml_text_quote(field, flen,
						   q1, sizeof(q1)));
		e->executable = field[0] == 'x';
	} else if (n >= 2 && s[0] == 'l' && s[1] == ' ') {
		e->type = AML_ENTRY_SYMLINK;
	} else {
		return aml_fail(errbuf, errlen,
			    "line %zu: %s: must start with \"f \" (file) or \"l \" (symlink)",
			    lineno,
			    aml_text_quote(s, n < 16 ? n : 16, q1, sizeof(q1)));
	}
	if (next_field(&at, end, &field, &flen) != 0)
		goto too_few;
	if (parse_i64(field, flen, &e->mtime_ns) != 0)
		return aml_fail(errbuf, errlen,
			    "line %zu: mtime_ns %s: must be a decimal number of nanoseconds without leading zeros, in signed 64-bit range",
			    lineno,
			    aml_text_quote(field, flen, q1, sizeof(q1)));
	path = at;
	path_len = (size_t)(end - at);
	if (e->type == AML_ENTRY_SYMLINK) {
		const char *tab = memchr(at, '\t', path_len);

		if (!tab)
			return aml_fail(errbuf, errlen,
				    "line %zu: a symlink line needs a tab between the path and the target",
				    lineno);
		path_len = (size_t)(tab - at);
		target = tab + 1;
		target_len = (size_t)(end - target);
	}
	if (check_path_rule(path, path_len, rule) != 0)
		return aml_fail(errbuf, errlen, "line %zu: path %s: %s", lineno,
			    aml_text_quote(path, path_len,
					   q1, sizeof(q1)), rule);
	if (prev) {
		cmp = memcmp(prev, path, prev_len < path_len ? prev_len : path_len);
		if (cmp == 0)
			cmp = prev_len < path_len ? -1 : prev_len > path_len;
		if (cmp == 0)
			return aml_fail(errbuf, errlen,
				    "line %zu: path %s: appears twice", lineno,
				    aml_text_quote(path, path_len,
						   q1, sizeof(q1)));
		if (cmp > 0)
			return aml_fail(errbuf, errlen,
				    "line %zu: path %s: out of order (entries are sorted bytewise by path; it must come before %s)",
				    lineno,
				    aml_text_quote(path, path_len,
						   q1, sizeof(q1)),
				    aml_text_quote(prev, prev_len,
						   q2, sizeof(q2)));
	}
	if (target && check_target_rule(path, path_len, target, target_len,
					rule) != 0)
		return aml_fail(errbuf, errlen, "line %zu: symlink %s: target %s: %s",
			    lineno,
			    aml_text_quote(path, path_len, q1, sizeof(q1)),
			    aml_text_quote(target, target_len,
					   q2, sizeof(q2)), rule);
	e->path = copy_span(path, path_len);
	if (target)
		e->target = copy_span(target, target_len);
	if (!e->path || (target && !e->target)) {
		free(e->path);
		free(e->target);
		e->path = e->target = NULL;
		return aml_fail(errbuf, errlen, "line %zu: out of memory", lineno);
	}
	return 0;

too_few:
	return aml_fail(errbuf, errlen,
		    e->type == AML_ENTRY_FILE ?
		    "line %zu: too few fields (a file is \"f <sha256> <size> <x|-> <mtime_ns> <path>\")" :
		    "line %zu: too few fields (a symlink is \"l <mtime_ns> <path>\\t<target>\")",
		    lineno);
bad_hash:
	return aml_fail(errbuf, errlen,
		    "line %zu: sha256 %s: must be 64 lower-case hex digits",
		    lineno, aml_text_quote(field, flen, q1, sizeof(q1)));
}

int aml_manifest_decode(const char *text, size_t len, struct aml_manifest *m,
			char *errbuf, size_t errlen)
{
	size_t at = HEADER_LEN, lineno = 2, prev_len = 0;

	memset(m, 0, sizeof(*m));
	if (len < HEADER_LEN || memcmp(text, AML_MANIFEST_HEADER, HEADER_LEN) != 0)
		return aml_fail(errbuf, errlen,
			    "line 1: not a snapshot manifest (the first line must be \"aml-snapshot 1\")");
	while (at < len) {
		const char *line = text + at;
		const char *nl = memchr(line, '\n', len - at);
		struct aml_manifest_entry e;
		size_t n;

		if (!nl) {
			aml_fail(errbuf, errlen, "line %zu: does not end with a newline",
			     lineno);
			goto fail;
		}
		n = (size_t)(nl - line);
		if (reserve(m, m->count + 1) != 0) {
			aml_fail(errbuf, errlen, "line %zu: out of memory", lineno);
			goto fail;
		}
		if (decode_line(line, n, lineno,
				m->count ? m->entries[m->count - 1].path : NULL,
				prev_len, &e, errbuf, errlen) != 0)
			goto fail;
		prev_len = strlen(e.path);
		m->entries[m->count++] = e;
		at += n + 1;
		lineno++;
	}
	if (check_ancestors(m, 2, errbuf, errlen) != 0)
		goto fail;
	return 0;

fail:
	aml_manifest_free(m);
	return -1;
}

uint64_t aml_manifest_total_bytes(const struct aml_manifest *m)
{
	uint64_t total = 0;

	for (size_t i = 0; i < m->count; i++) {
		const struct aml_manifest_entry *e = &m->entries[i];

		if (e->type != AML_ENTRY_FILE)
			continue;
		if (e->size > UINT64_MAX - total)
			return UINT64_MAX;
		total += e->size;
	}
	return total;
}

void aml_manifest_free(struct aml_manifest *m)
{
	for (size_t i = 0; i < m->count; i++) {
		free(m->entries[i].path);
		free(m->entries[i].target);
	}
	free(m->entries);
	memset(m, 0, sizeof(*m));
}
