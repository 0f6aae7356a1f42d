/*
 * doc_yaml.c: one YAML document into the doc tree, with the YAML 1.2 core
 * schema.
 *
 * libyaml only tokenises; typing plain scalars is ours.  libyaml speaks
 * YAML 1.1, whose schema would read "yes", "on" or "0755" differently, so
 * nothing of its resolution is used.  Features that make one document
 * mean something a reader of the file would not expect (anchors, aliases,
 * merge keys, application tags, several documents) are refused rather
 * than half-supported.
 */
#include "doc_internal.h"
#include "text.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

struct yaml {
	struct aml_doc_build *b;
	struct aml_errors *errs;
	/* per open level: 1 when the next scalar is a mapping key */
	unsigned char want_key[AML_DOC_MAX_DEPTH];
};

static int mark_line(yaml_mark_t m)
{
	return m.line < (size_t)(1 << 30) ? (int)m.line + 1 : 1 << 30;
}

static int eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

static int is_null(const char *s, size_t n)
{
	return n == 0 || eq(s, n, "~") || eq(s, n, "null") ||
		eq(s, n, "Null") || eq(s, n, "NULL");
}

static int is_bool(const char *s, size_t n, int *value)
{
	if (eq(s, n, "true") || eq(s, n, "True") || eq(s, n, "TRUE")) {
		*value = 1;
		return 1;
	}
	if (eq(s, n, "false") || eq(s, n, "False") || eq(s, n, "FALSE")) {
		*value = 0;
		return 1;
	}
	return 0;
}

static int all_digits(const char *s, size_t n, int base)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (base == 8 ? !(c >= '0' && c <= '7') :
		    base == 10 ? !(c >= '0' && c <= '9') :
		    !((c >= '0' && c <= '9') ||
		      ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')))
			return 0;
	}
	return 1;
}

/* 10, 8 or 16 when s is a core-schema integer, else 0. */
static int int_base(const char *s, size_t n)
{
	if (n > 2 && s[0] == '0' && s[1] == 'o' && all_digits(s + 2, n - 2, 8))
		return 8;
	if (n > 2 && s[0] == '0' && s[1] == 'x' &&
	    all_digits(s + 2, n - 2, 16))
		return 16;
	if (n > 0 && (s[0] == '-' || s[0] == '+'))
		return all_digits(s + 1, n - 1, 10) ? 10 : 0;
	return all_digits(s, n, 10) ? 10 : 0;
}

/*
 * [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
 */
static int is_float(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	for (d = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		d++;
	if (i < n && s[i] == '.') {
		i++;
		if (d == 0 && !(i < n && s[i] >= '0' && s[i] <= '9'))
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else if (d == 0) {
		return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		if (!(i < n && s[i] >= '0' && s[i] <= '9'))
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

/* "inf", "-inf", "nan" for the core schema's special floats, else NULL. */
static const char *special_float(const char *s, size_t n)
{
	const char *sign = "";

	if (n > 0 && (s[0] == '-' || s[0] == '+')) {
		sign = s[0] == '-' ? "-" : "";
		s++;
		n--;
		if (eq(s, n, ".inf") || eq(s, n, ".Inf") || eq(s, n, ".INF"))
			return *sign ? "-inf" : "inf";
		return NULL;
	}
	if (eq(s, n, ".inf") || eq(s, n, ".Inf") || eq(s, n, ".INF"))
		return "inf";
	if (eq(s, n, ".nan") || eq(s, n, ".NaN") || eq(s, n, ".NAN"))
		return "nan";
	return NULL;
}

static void shown_value(const char *s, size_t n, char *buf, size_t len)
{
	aml_text_quote(s, n, buf, len);
}

/*
 * Set node text to the decimal form of integer s (base from int_base).
 * Decimal keeps every digit (Python ints are unbounded); 0x/0o forms are
 * converted through uint64 and refused beyond it.
 */
static int set_int_text(struct yaml *y, struct aml_node *n, const char *s,
			size_t len, int base, int line)
{
	char digits[32], *text;
	const char *out = digits;
	size_t out_len;

	if (base == 10) {
		int neg = s[0] == '-';

		if (s[0] == '-' || s[0] == '+') {
			s++;
			len--;
		}
		while (len > 1 && s[0] == '0') {
			s++;
			len--;
		}
		text = aml_doc_build_str(y->b, len + 1, line);
		if (!text)
			return -1;
		if (neg)
			text[0] = '-';
		memcpy(text + neg, s, len);
		n->text = text;
		n->len = len + neg;
		aml_doc_build_str_done(y->b, text, n->len);
		return 0;
	} else {
		uint64_t v = 0;

		for (size_t i = 2; i < len; i++) {
			unsigned c = (unsigned char)s[i], d;

			d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
			if (v > (UINT64_MAX - d) / (unsigned)base) {
				char shown[64];

				shown_value(s, len, shown, sizeof(shown));
				aml_doc_error(y->errs, line,
					      "integer %s does not fit in 64 "
					      "bits", shown);
				return -1;
			}
			v = v * (unsigned)base + d;
		}
		snprintf(digits, sizeof(digits), "%" PRIu64, v);
	}
	out_len = strlen(out);
	n->text = aml_doc_build_strdup(y->b, out, out_len, line);
	n->len = out_len;
	return n->text ? 0 : -1;
}

static int set_float_text(struct yaml *y, struct aml_node *n, const char *s,
			  size_t len, int line)
{
	const char *special = special_float(s, len);

	if (special) {
		s = special;
		len = strlen(special);
	} else if (len > 0 && s[0] == '+') {
		s++;
		len--;
	}
	n->text = aml_doc_build_strdup(y->b, s, len, line);
	n->len = len;
	return n->text ? 0 : -1;
}

/*
 * "!!int" for core tags, the tag itself otherwise, for messages; escaped,
 * since libyaml decodes %XX in tags and a message must stay one line.
 */
static void shown_tag(const char *tag, char *buf, size_t len)
{
	size_t p = strlen(TAG_PREFIX);

	if (strncmp(tag, TAG_PREFIX, p) == 0) {
		buf[0] = '!';
		buf[1] = '!';
		aml_text_escape(tag + p, buf + 2, len - 2);
	} else {
		aml_text_escape(tag, buf, len);
	}
}

static int refuse_tag(struct yaml *y, const char *tag, int line)
{
	char shown[72];

	shown_tag(tag, shown, sizeof(shown));
	aml_doc_error(y->errs, line, "YAML tag %s is not supported", shown);
	return -1;
}

static int push_scalar(struct yaml *y, const yaml_event_t *ev, int line)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *t = NULL;
	struct aml_node *n;
	int base, boolean;
	char shown[64];

	if (tag) {
		if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
			return refuse_tag(y, tag, line);
		t = tag + strlen(TAG_PREFIX);
		if (strcmp(t, "str") && strcmp(t, "int") &&
		    strcmp(t, "float") && strcmp(t, "bool") &&
		    strcmp(t, "null"))
			return refuse_tag(y, tag, line);
	} else if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		t = "str";
	}

	if (t && strcmp(t, "str") == 0)
		goto string;
	if ((!t || strcmp(t, "null") == 0) && is_null(s, len)) {
		return aml_doc_build_push(y->b, AML_NODE_NULL, line) ? 0 : -1;
	}
	if ((!t || strcmp(t, "bool") == 0) && is_bool(s, len, &boolean)) {
		n = aml_doc_build_push(y->b, AML_NODE_BOOL, line);
		if (!n)
			return -1;
		n->boolean = boolean;
		return 0;
	}
	base = int_base(s, len);
	if (base && (!t || strcmp(t, "int") == 0 || strcmp(t, "float") == 0)) {
		n = aml_doc_build_push(y->b, t && strcmp(t, "float") == 0 ?
				       AML_NODE_FLOAT : AML_NODE_INT, line);
		return n ? set_int_text(y, n, s, len, base, line) : -1;
	}
	if ((!t || strcmp(t, "float") == 0) &&
	    (is_float(s, len) || special_float(s, len))) {
		n = aml_doc_build_push(y->b, AML_NODE_FLOAT, line);
		return n ? set_float_text(y, n, s, len, line) : -1;
	}
	if (t) {
		shown_value(s, len, shown, sizeof(shown));
		aml_doc_error(y->errs, line, "%s is not a valid !!%s value",
			      shown, t);
		return -1;
	}
string:
	n = aml_doc_build_push(y->b, AML_NODE_STRING, line);
	if (!n)
		return -1;
	n->text = aml_doc_build_strdup(y->b, s, len, line);
	n->len = len;
	return n->text ? 0 : -1;
}

static int take_key(struct yaml *y, const yaml_event_t *ev, int line)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	char *key;

	if (tag && strcmp(tag, TAG_PREFIX "str") != 0)
		return refuse_tag(y, tag, line);
	if (!tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    eq(s, len, "<<")) {
		aml_doc_error(y->errs, line,
			      "YAML merge keys (<<) are not supported");
		return -1;
	}
	if (memchr(s, '\0', len)) {
		aml_doc_error(y->errs, line,
			      "a NUL character is not allowed in a key");
		return -1;
	}
	key = aml_doc_build_strdup(y->b, s, len, line);
	if (!key)
		return -1;
	return aml_doc_build_key(y->b, key, len, line);
}

static int check_collection_tag(struct yaml *y, const yaml_char_t *tag,
				const char *expected, int line)
{
	if (!tag || strcmp((const char *)tag, expected) == 0)
		return 0;
	return refuse_tag(y, (const char *)tag, line);
}

static void report_libyaml(const yaml_parser_t *p, const char *text,
			   size_t len, struct aml_errors *errs)
{
	int line;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		aml_doc_error(errs, 1, "out of memory");
		return;
	case YAML_READER_ERROR:
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len &&
		     line < (1 << 30); i++)
			line += text[i] == '\n';
		aml_doc_error(errs, line, "%s",
			      p->problem ? p->problem : "unreadable input");
		return;
	default:
		line = mark_line(p->problem_mark);
		if (p->context && mark_line(p->context_mark) != line)
			aml_doc_error(errs, line, "%s (%s at line %d)",
				      p->problem ? p->problem : "syntax error",
				      p->context, mark_line(p->context_mark));
		else if (p->context)
			aml_doc_error(errs, line, "%s (%s)",
				      p->problem ? p->problem : "syntax error",
				      p->context);
		else
			aml_doc_error(errs, line, "%s",
				      p->problem ? p->problem : "syntax error");
		return;
	}
}

/*
 * One event into the tree.  Returns 1 when the root is complete, 0 to go
 * on, -1 on error (reported).
 */
static int take_event(struct yaml *y, const yaml_event_t *ev)
{
	struct aml_doc_build *b = y->b;
	int line = mark_line(ev->start_mark);
	int key_expected = b->depth > 0 && y->want_key[b->depth - 1];

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		aml_doc_error(y->errs, line, "YAML aliases are not supported");
		return -1;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor)
			goto anchor;
		if (key_expected) {
			y->want_key[b->depth - 1] = 0;
			return take_key(y, ev, line) < 0 ? -1 : 0;
		}
		if (b->depth == 0 && !ev->data.scalar.tag &&
		    ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    ev->data.scalar.length == 0) {
			aml_doc_error(y->errs, 1, "empty document");
			return -1;
		}
		if (push_scalar(y, ev, line) < 0)
			return -1;
		break;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT: {
		int is_map = ev->type == YAML_MAPPING_START_EVENT;
		const yaml_char_t *anchor = is_map ?
			ev->data.mapping_start.anchor :
			ev->data.sequence_start.anchor;

		if (anchor)
			goto anchor;
		if (key_expected) {
			aml_doc_error(y->errs, line,
				      "a YAML mapping key must be a scalar, "
				      "not a %s", is_map ? "mapping" :
				      "sequence");
			return -1;
		}
		if (check_collection_tag(y, is_map ?
					 ev->data.mapping_start.tag :
					 ev->data.sequence_start.tag,
					 is_map ? TAG_PREFIX "map" :
					 TAG_PREFIX "seq", line) < 0)
			return -1;
		if (aml_doc_build_open(b, is_map ? AML_NODE_OBJECT :
				       AML_NODE_ARRAY, line) < 0)
			return -1;
		y->want_key[b->depth - 1] = (unsigned char)is_map;
		return 0;
	}
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		if (b->depth == 0) {
			/* libyaml balances its events; never trust it blindly */
			aml_doc_error(y->errs, line, "unbalanced YAML document");
			return -1;
		}
		if (aml_doc_build_close(b) < 0)
			return -1;
		break;
	default:
		return 0;
	}
	/* a value is complete */
	if (b->depth == 0)
		return 1;
	if (aml_doc_build_in_object(b))
		y->want_key[b->depth - 1] = 1;
	return 0;
anchor:
	aml_doc_error(y->errs, line, "YAML anchors are not supported");
	return -1;
}

struct aml_node *aml_doc_parse_yaml(const char *text, size_t len,
				    struct aml_errors *errs)
{
	struct aml_doc_build b;
	struct yaml y = { .b = &b, .errs = errs };
	yaml_parser_t parser;
	yaml_event_t ev;
	int state = 0;      /* 0: before the root, 1: after it */
	struct aml_node *root = NULL;

	if (aml_doc_build_init(&b, errs, len) < 0)
		return NULL;
	if (!yaml_parser_initialize(&parser)) {
		aml_doc_error(errs, 1, "out of memory");
		aml_doc_build_abort(&b);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
				     len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	for (;;) {
		int r = 0, line;

		if (!yaml_parser_parse(&parser, &ev)) {
			report_libyaml(&parser, text, len, errs);
			goto fail;
		}
		line = mark_line(ev.start_mark);
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			if (state == 0) {
				aml_doc_error(errs, 1, "empty document");
				goto fail;
			}
			root = aml_doc_build_finish(&b);
			if (!root)
				aml_doc_error(errs, line, "incomplete document");
			yaml_parser_delete(&parser);
			return root;
		case YAML_DOCUMENT_START_EVENT:
			if (state == 1) {
				aml_doc_error(errs, line,
					      "only one YAML document is "
					      "allowed, found another");
				r = -1;
			}
			break;
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		default:
			r = take_event(&y, &ev);
			if (r == 1) {
				state = 1;
				r = 0;
			}
			break;
		}
		yaml_event_delete(&ev);
		if (r < 0)
			goto fail;
	}
fail:
	yaml_parser_delete(&parser);
	aml_doc_build_abort(&b);
	return NULL;
}
