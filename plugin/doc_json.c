/*
 * doc_json.c: strict RFC 8259 JSON into the doc tree.
 *
 * Iterative (the builder's level stack is the parse stack), so nesting
 * costs no C stack.  aml_doc_parse() has already checked UTF-8 and removed
 * a BOM; this reader only has to care about JSON's own grammar.
 */
#include "doc_internal.h"
#include "text.h"
#include "utf8.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ONES 0x0101010101010101ULL

struct json {
	const unsigned char *p, *end;
	int line;
	struct aml_doc_build *b;
};

/* 1 for bytes that may appear unescaped inside a string */
static const unsigned char plain_char[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
	R16(0), R16(0),
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x20: '"' */
	R16(1), R16(1),
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,  /* 0x50: '\\' */
	R16(1), R16(1),
	R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1),
#undef R16
};

static inline void skip_ws(struct json *j)
{
	const unsigned char *p = j->p, *end = j->end;

	while (p < end) {
		unsigned char c = *p;

		if (c == ' ' || c == '\t' || c == '\r') {
			p++;
		} else if (c == '\n') {
			/* saturate: a 2 GiB file of newlines must not overflow */
			j->line += j->line < INT_MAX;
			p++;
		} else {
			break;
		}
	}
	j->p = p;
}

/* How the byte at p reads in "got ..." (input is valid UTF-8). */
static const char *got(const struct json *j, char *buf, size_t len)
{
	const unsigned char *p = j->p;
	size_t n = 0;

	if (p >= j->end)
		return "end of input";
	if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
		/* a word reads better whole: got 'True' */
		while (p + n < j->end && n < 24 &&
		       ((p[n] >= 'a' && p[n] <= 'z') ||
			(p[n] >= 'A' && p[n] <= 'Z') ||
			(p[n] >= '0' && p[n] <= '9') || p[n] == '_'))
			n++;
	} else if (*p < 0x80) {
		n = 1;
	} else {
		/* one character; aml_doc_parse let only valid UTF-8 in */
		n = aml_utf8_length(p, (size_t)(j->end - p));
		if (n == 0)
			n = 1;
	}
	buf[0] = '\'';
	aml_text_escape_n((const char *)p, n, buf + 1, len - 2);
	strcat(buf, "'");
	return buf;
}

static int fail_got(struct json *j, const char *what)
{
	char g[64];

	aml_doc_error(j->b->errs, j->line, "%s, got %s", what,
		      got(j, g, sizeof(g)));
	return -1;
}

static int hex4(const unsigned char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned c = s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/*
 * Decode the escaped string body [s, stop) into dst (room for stop - s
 * bytes: no escape decodes longer than it is written).  Returns the length
 * or -1 (reported).
 */
static long decode_escapes(struct json *j, const unsigned char *s,
			   const unsigned char *stop, char *dst, int is_key)
{
	char *q = dst;
	unsigned cp = 0, lo;

	while (s < stop) {
		const unsigned char *bs = memchr(s, '\\', (size_t)(stop - s));
		char c;

		if (!bs) {
			memcpy(q, s, (size_t)(stop - s));
			q += stop - s;
			break;
		}
		memcpy(q, s, (size_t)(bs - s));
		q += bs - s;
		s = bs + 1;
		switch (*s) {
		case '"': c = '"'; break;
		case '\\': c = '\\'; break;
		case '/': c = '/'; break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if (stop - s < 5 || hex4(s + 1, &cp) < 0) {
				aml_doc_error(j->b->errs, j->line,
					      "invalid \\u escape in a string "
					      "(expected 4 hex digits)");
				return -1;
			}
			s += 5;
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				goto unpaired;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (stop - s < 6 || s[0] != '\\' ||
				    s[1] != 'u' || hex4(s + 2, &lo) < 0 ||
				    lo < 0xDC00 || lo > 0xDFFF)
					goto unpaired;
				s += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) +
					(lo - 0xDC00);
			}
			if (cp == 0 && is_key) {
				aml_doc_error(j->b->errs, j->line,
					      "\\u0000 is not allowed in a key");
				return -1;
			}
			q += aml_utf8_encode(cp, q);
			continue;
		default: {
			char shown[16];

			/* s < stop: the scan never ends a string on a '\\' */
			aml_text_escape_n((const char *)s, 1, shown,
					  sizeof(shown));
			aml_doc_error(j->b->errs, j->line,
				      "invalid escape '\\%s' in a string",
				      shown);
			return -1;
		}
		}
		*q++ = c;
		s++;
	}
	return q - dst;
unpaired:
	aml_doc_error(j->b->errs, j->line,
		      "unpaired surrogate \\u%04X in a string", cp);
	return -1;
}

/* j->p at the opening quote.  Returns the arena string or NULL. */
static char *parse_string(struct json *j, size_t *len, int is_key)
{
	const unsigned char *start = j->p + 1, *p = start, *end = j->end;
	int escaped = 0;
	char *dst;

	for (;;) {
		/*
		 * Eight bytes at a time while none is '"', '\\' or a control
		 * character: most of a config is string bytes.  The zero-byte
		 * tests can misfire only above a real hit, so the lowest flag
		 * is exact and locates the byte without a byte loop.
		 */
		while (end - p >= 8) {
			uint64_t w, q, bs, ctl, hit;

			memcpy(&w, p, 8);
			q = w ^ ONES * '"';
			bs = w ^ ONES * '\\';
			ctl = (w - ONES * 0x20) & ~w;
			q = (q - ONES) & ~q;
			bs = (bs - ONES) & ~bs;
			hit = (q | bs | ctl) & ONES * 0x80;
			if (hit) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				p += __builtin_ctzll(hit) >> 3;
				goto special;
#else
				break;
#endif
			}
			p += 8;
		}
		while (p < end && plain_char[*p])
			p++;
		if (p >= end)
			goto unterminated;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
special:
#endif
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (end - p < 2)
				goto unterminated;
			escaped = 1;
			p += 2;
			continue;
		}
		aml_doc_error(j->b->errs, j->line,
			      *p == '\n' ? "unterminated string (a string "
			      "cannot span lines; write \\n)" :
			      "control character U+%04X in a string must be "
			      "escaped", *p);
		return NULL;
	}
	dst = aml_doc_build_str(j->b, (size_t)(p - start), j->line);
	if (!dst)
		return NULL;
	if (!escaped) {
		memcpy(dst, start, (size_t)(p - start));
		*len = (size_t)(p - start);
	} else {
		long n = decode_escapes(j, start, p, dst, is_key);

		if (n < 0)
			return NULL;
		*len = (size_t)n;
	}
	aml_doc_build_str_done(j->b, dst, *len);
	j->p = p + 1;
	return dst;
unterminated:
	aml_doc_error(j->b->errs, j->line, "unterminated string");
	return NULL;
}

static int parse_number(struct json *j)
{
	const unsigned char *s = j->p, *p = s, *end = j->end;
	enum aml_node_type type = AML_NODE_INT;
	struct aml_node *n;
	char *text;

	if (*p == '-')
		p++;
	if (p >= end || !aml_ascii_is_digit(*p)) {
		j->p = p;
		return fail_got(j, "expected a digit after '-'");
	}
	if (*p == '0') {
		p++;
		if (p < end && aml_ascii_is_digit(*p)) {
			aml_doc_error(j->b->errs, j->line,
				      "numbers cannot have leading zeros");
			return -1;
		}
	} else {
		while (p < end && aml_ascii_is_digit(*p))
			p++;
	}
	if (p < end && *p == '.') {
		type = AML_NODE_FLOAT;
		p++;
		if (p >= end || !aml_ascii_is_digit(*p)) {
			j->p = p;
			return fail_got(j, "expected a digit after '.'");
		}
		while (p < end && aml_ascii_is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		type = AML_NODE_FLOAT;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !aml_ascii_is_digit(*p)) {
			j->p = p;
			return fail_got(j, "expected a digit in the exponent");
		}
		while (p < end && aml_ascii_is_digit(*p))
			p++;
	}
	text = aml_doc_build_strdup(j->b, (const char *)s, (size_t)(p - s),
				    j->line);
	if (!text)
		return -1;
	n = aml_doc_build_push(j->b, type, j->line);
	if (!n)
		return -1;
	n->text = text;
	n->len = (size_t)(p - s);
	j->p = p;
	return 0;
}

static int parse_literal(struct json *j)
{
	static const struct {
		const char *word;
		size_t len;
		enum aml_node_type type;
		int boolean;
	} lit[] = {
		{ "true", 4, AML_NODE_BOOL, 1 },
		{ "false", 5, AML_NODE_BOOL, 0 },
		{ "null", 4, AML_NODE_NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
		struct aml_node *n;

		if ((size_t)(j->end - j->p) < lit[i].len ||
		    memcmp(j->p, lit[i].word, lit[i].len) != 0)
			continue;
		n = aml_doc_build_push(j->b, lit[i].type, j->line);
		if (!n)
			return -1;
		n->boolean = lit[i].boolean;
		j->p += lit[i].len;
		return 0;
	}
	return fail_got(j, "expected a value");
}

/* j->p at the key's opening quote (checked by the caller). */
static int parse_key(struct json *j)
{
	size_t len;
	int line = j->line;
	char *key = parse_string(j, &len, 1);

	if (!key || aml_doc_build_key(j->b, key, len, line) < 0)
		return -1;
	skip_ws(j);
	if (j->p >= j->end || *j->p != ':')
		return fail_got(j, "expected ':' after object key");
	j->p++;
	return 0;
}

struct aml_node *aml_doc_parse_json(const char *text, size_t len,
				    struct aml_errors *errs)
{
	struct aml_doc_build b;
	struct json j = {
		.p = (const unsigned char *)text,
		.end = (const unsigned char *)text + len,
		.line = 1,
		.b = &b,
	};

	if (aml_doc_build_init(&b, errs, len) < 0)
		return NULL;
	skip_ws(&j);
	if (j.p >= j.end) {
		aml_doc_error(errs, 1, "empty document");
		goto fail;
	}
value:
	skip_ws(&j);
	if (j.p >= j.end) {
		fail_got(&j, "expected a value");
		goto fail;
	}
	switch (*j.p) {
	case '{':
		if (aml_doc_build_open(&b, AML_NODE_OBJECT, j.line) < 0)
			goto fail;
		j.p++;
		skip_ws(&j);
		if (j.p < j.end && *j.p == '}') {
			j.p++;
			if (aml_doc_build_close(&b) < 0)
				goto fail;
			goto after;
		}
		if (j.p >= j.end || *j.p != '"') {
			fail_got(&j, "expected a string key or '}'");
			goto fail;
		}
		if (parse_key(&j) < 0)
			goto fail;
		goto value;
	case '[':
		if (aml_doc_build_open(&b, AML_NODE_ARRAY, j.line) < 0)
			goto fail;
		j.p++;
		skip_ws(&j);
		if (j.p < j.end && *j.p == ']') {
			j.p++;
			if (aml_doc_build_close(&b) < 0)
				goto fail;
			goto after;
		}
		goto value;
	case '"': {
		size_t n;
		int line = j.line;
		char *s = parse_string(&j, &n, 0);
		struct aml_node *node;

		if (!s)
			goto fail;
		node = aml_doc_build_push(&b, AML_NODE_STRING, line);
		if (!node)
			goto fail;
		node->text = s;
		node->len = n;
		goto after;
	}
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		if (parse_number(&j) < 0)
			goto fail;
		goto after;
	default:
		if (parse_literal(&j) < 0)
			goto fail;
		goto after;
	}
after:
	skip_ws(&j);
	if (b.depth == 0) {
		if (j.p < j.end) {
			fail_got(&j, "expected the end of the document");
			goto fail;
		}
		return aml_doc_build_finish(&b);
	}
	if (j.p < j.end && *j.p == ',') {
		j.p++;
		if (!aml_doc_build_in_object(&b))
			goto value;
		skip_ws(&j);
		if (j.p >= j.end || *j.p != '"') {
			fail_got(&j, "expected a string key");
			goto fail;
		}
		if (parse_key(&j) < 0)
			goto fail;
		goto value;
	}
	if (aml_doc_build_in_object(&b)) {
		if (j.p >= j.end || *j.p != '}') {
			fail_got(&j, "expected ',' or '}' after object member");
			goto fail;
		}
	} else if (j.p >= j.end || *j.p != ']') {
		fail_got(&j, "expected ',' or ']' after array element");
		goto fail;
	}
	j.p++;
	if (aml_doc_build_close(&b) < 0)
		goto fail;
	goto after;
fail:
	aml_doc_build_abort(&b);
	return NULL;
}
