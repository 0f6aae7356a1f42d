/*
 * doc.c: the front of the document reader (doc.h): checks the encoding,
 * picks the syntax and hands the text to its reader (doc_json.c,
 * doc_yaml.c), which builds the tree with doc_tree.c; then what callers
 * ask of a finished tree.
 */
#include "doc_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the public API ---- */

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Offset of the first byte that is not valid UTF-8, or [n]. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c;

		while (n - i >= 8) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		c = s[i];
		if (c < 0x80) {
			i++;
		} else if (c < 0xC2) {
			return i;
		} else if (c < 0xE0) {
			if (n - i < 2 || (s[i + 1] & 0xC0) != 0x80)
				return i;
			i += 2;
		} else if (c < 0xF0) {
			unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
			unsigned char hi = c == 0xED ? 0x9F : 0xBF;

			if (n - i < 3 || s[i + 1] < lo || s[i + 1] > hi ||
			    (s[i + 2] & 0xC0) != 0x80)
				return i;
			i += 3;
		} else if (c < 0xF5) {
			unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
			unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;

			if (n - i < 4 || s[i + 1] < lo || s[i + 1] > hi ||
			    (s[i + 2] & 0xC0) != 0x80 ||
			    (s[i + 3] & 0xC0) != 0x80)
				return i;
			i += 4;
		} else {
			return i;
		}
	}
	return n;
}

static int line_at(const char *text, size_t offset)
{
	int line = 1;

	for (size_t i = 0; i < offset && line < INT_MAX; i++)
		line += text[i] == '\n';
	return line;
}

struct aml_node *aml_doc_parse(const char *text, size_t len,
			       enum aml_doc_syntax syntax,
			       struct aml_errors *errs)
{
	const unsigned char *u = (const unsigned char *)text;
	size_t bad;

	if (!text) {
		if (len) {
			aml_doc_error(errs, 1, "no input");
			return NULL;
		}
		text = "";
		u = (const unsigned char *)text;
	}
	bad = utf8_invalid_at(u, len);
	if (bad < len) {
		aml_doc_error(errs, line_at(text, bad),
			      "invalid UTF-8 (byte 0x%02X)", u[bad]);
		return NULL;
	}
	/* A BOM is legal noise from Windows editors; neither reader needs it. */
	if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
		text += 3;
		u += 3;
		len -= 3;
	}
	if (syntax == AML_DOC_AUTO) {
		size_t i = 0;

		while (i < len && is_blank(u[i]))
			i++;
		syntax = i < len && (u[i] == '{' || u[i] == '[') ?
			AML_DOC_JSON : AML_DOC_YAML;
	}
	switch (syntax) {
	case AML_DOC_JSON:
		return aml_doc_parse_json(text, len, errs);
	case AML_DOC_YAML:
		return aml_doc_parse_yaml(text, len, errs);
	default:
		aml_doc_error(errs, 1, "unknown document syntax %d",
			      (int)syntax);
		return NULL;
	}
}

const struct aml_node *aml_doc_get(const struct aml_node *obj,
				   const char *key)
{
	if (!obj || !key || obj->type != AML_NODE_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n_children; i++) {
		const char *k = obj->children[i].key;

		if (k && k[0] == key[0] && strcmp(k, key) == 0)
			return &obj->children[i];
	}
	return NULL;
}

const char *aml_doc_type_name(const struct aml_node *node)
{
	if (!node)
		return "nothing";
	switch (node->type) {
	case AML_NODE_NULL:
		return "null";
	case AML_NODE_BOOL:
		return node->boolean ? "true" : "false";
	case AML_NODE_INT:
	case AML_NODE_FLOAT:
		return "a number";
	case AML_NODE_STRING:
		return "a string";
	case AML_NODE_ARRAY:
		return "an array";
	case AML_NODE_OBJECT:
		return "an object";
	}
	return "an unknown value";
}

/* Bytes of the UTF-8 sequence starting at s[0] (of n), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t k = utf8_invalid_at(s, n < 4 ? n : 4);

	if (k > 0)
		return s[0] < 0x80 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
	return 0;
}

/*
 * The escaped form of the character at s[0] into out (at least 7 bytes);
 * returns its length and sets *used to the input bytes it consumed.
 * Invisible and direction-changing characters are escaped so a value in a
 * message cannot disguise itself on a terminal.
 */
static size_t escape_char(const unsigned char *s, size_t n, int quote,
			  char *out, size_t *used)
{
	unsigned char c = s[0];
	size_t k;
	unsigned cp;

	*used = 1;
	if (c >= 0x20 && c < 0x7F) {
		if ((c == '"' && quote) || c == '\\') {
			out[0] = '\\';
			out[1] = (char)c;
			return 2;
		}
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x80) {
		const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" :
			c == '\r' ? "\\r" : NULL;

		if (e) {
			memcpy(out, e, 2);
			return 2;
		}
		return (size_t)snprintf(out, 7, "\\u%04X", c);
	}
	k = utf8_seq(s, n);
	if (k == 0)
		return (size_t)snprintf(out, 7, "\\x%02X", c);
	*used = k;
	cp = k == 2 ? (s[0] & 0x1Fu) << 6 | (s[1] & 0x3Fu) :
		k == 3 ? (s[0] & 0x0Fu) << 12 | (s[1] & 0x3Fu) << 6 |
			(s[2] & 0x3Fu) : 0x10000;
	if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0x200E || cp == 0x200F || cp == 0xFEFF)
		return (size_t)snprintf(out, 7, "\\u%04X", cp);
	memcpy(out, s, k);
	return k;
}

void aml_doc_quote(const char *s, size_t n, int quote, char *buf, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	const size_t tail = quote ? 4 : 3;    /* ...\" or ... */
	size_t cap, need = quote ? 2 : 0, at = 0, i;
	char piece[8];

	if (!buf || len == 0)
		return;
	cap = len - 1;
	/* First pass: does the whole value fit? */
	for (i = 0; i < n && need <= cap; ) {
		size_t used;

		need += escape_char(u + i, n - i, quote, piece, &used);
		i += used;
	}
	if (quote && cap > 0)
		buf[at++] = '"';
	for (i = 0; i < n; ) {
		size_t used, k = escape_char(u + i, n - i, quote, piece, &used);

		if (need > cap ? at + k + tail > cap : at + k > cap)
			break;
		memcpy(buf + at, piece, k);
		at += k;
		i += used;
	}
	if (need > cap) {
		const char *dots = quote ? "...\"" : "...";

		for (size_t j = 0; j < tail && at < cap; j++)
			buf[at++] = dots[j];
	} else if (quote) {
		buf[at++] = '"';
	}
	buf[at] = '\0';
}

void aml_doc_describe(const struct aml_node *node, char *buf, size_t len)
{
	const char *word;

	if (!buf || len == 0)
		return;
	if (!node) {
		word = "nothing";
	} else {
		switch (node->type) {
		case AML_NODE_STRING:
			aml_doc_quote(node->text ? node->text : "",
				      node->text ? node->len : 0, 1, buf, len);
			return;
		case AML_NODE_INT:
		case AML_NODE_FLOAT:
			if (node->text) {
				aml_doc_quote(node->text, node->len, 0, buf,
					      len);
				return;
			}
			word = aml_doc_type_name(node);
			break;
		default:
			word = aml_doc_type_name(node);
			break;
		}
	}
	aml_doc_quote(word, strlen(word), 0, buf, len);
}
