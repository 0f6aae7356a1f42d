/*
 * test_doc.c: the JSON and YAML readers and the tree helpers (plugin/doc.c,
 * doc_json.c, doc_yaml.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "joined_errors.h"

#define J AML_DOC_JSON
#define Y AML_DOC_YAML
#define A AML_DOC_AUTO

/* Parse text that must be accepted. */
static struct aml_node *parse_ok_n(const char *text, size_t len,
				   enum aml_doc_syntax syntax)
{
	struct aml_errors errs;
	struct aml_node *root;

	aml_errors_init(&errs, "run.json");
	root = aml_doc_parse(text, len, syntax, &errs);
	if (!root) {
		char *msg = joined_errors(&errs);

		print_error("unexpected refusal of [%s]: %s\n", text,
			    msg ? msg : "(no message)");
		free(msg);
	}
	assert_non_null(root);
	assert_int_equal(errs.count, 0);
	aml_errors_free(&errs);
	return root;
}

static struct aml_node *parse_ok(const char *text, enum aml_doc_syntax syntax)
{
	return parse_ok_n(text, strlen(text), syntax);
}

/* Parse text that must be refused with exactly [expected]. */
static void refused_n(const char *text, size_t len, enum aml_doc_syntax syntax,
		      const char *expected)
{
	struct aml_errors errs;
	struct aml_node *root;
	char *msg;

	aml_errors_init(&errs, "run.json");
	root = aml_doc_parse(text, len, syntax, &errs);
	assert_null(root);
	assert_int_equal(errs.count, 1);
	msg = joined_errors(&errs);
	assert_non_null(msg);
	assert_string_equal(msg, expected);
	free(msg);
	aml_errors_free(&errs);
}

static void refused(const char *text, enum aml_doc_syntax syntax,
		    const char *expected)
{
	refused_n(text, strlen(text), syntax, expected);
}

/* The single child (or member [key]) of a scalar test document. */
static const struct aml_node *member(const struct aml_node *obj,
				     const char *key)
{
	const struct aml_node *n = aml_doc_get(obj, key);

	if (!n)
		print_error("no member \"%s\"\n", key);
	assert_non_null(n);
	return n;
}

static void assert_text(const struct aml_node *n, enum aml_node_type type,
			const char *text)
{
	assert_int_equal(n->type, type);
	assert_non_null(n->text);
	assert_string_equal(n->text, text);
	assert_int_equal(n->len, strlen(text));
}

/* ---------------------------------------------------------------- JSON */

static void json_every_type(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"{\n"
		"  \"s\": \"text\",\n"
		"  \"i\": 42,\n"
		"  \"f\": 0.8,\n"
		"  \"t\": true,\n"
		"  \"n\": null,\n"
		"  \"a\": [1, \"two\", false, [], {}],\n"
		"  \"o\": {\"inner\": {\"deep\": -1}}\n"
		"}\n", J);

	assert_int_equal(r->type, AML_NODE_OBJECT);
	assert_null(r->key);
	assert_int_equal(r->line, 1);
	assert_int_equal(r->n_children, 7);
	assert_text(member(r, "s"), AML_NODE_STRING, "text");
	assert_text(member(r, "i"), AML_NODE_INT, "42");
	assert_text(member(r, "f"), AML_NODE_FLOAT, "0.8");
	assert_int_equal(member(r, "t")->type, AML_NODE_BOOL);
	assert_int_equal(member(r, "t")->boolean, 1);
	assert_int_equal(member(r, "n")->type, AML_NODE_NULL);

	const struct aml_node *a = member(r, "a");
	assert_int_equal(a->type, AML_NODE_ARRAY);
	assert_int_equal(a->n_children, 5);
	assert_text(&a->children[0], AML_NODE_INT, "1");
	assert_null(a->children[0].key);
	assert_text(&a->children[1], AML_NODE_STRING, "two");
	assert_int_equal(a->children[2].type, AML_NODE_BOOL);
	assert_int_equal(a->children[2].boolean, 0);
	assert_int_equal(a->children[3].type, AML_NODE_ARRAY);
	assert_int_equal(a->children[3].n_children, 0);
	assert_null(a->children[3].children);
	assert_int_equal(a->children[4].type, AML_NODE_OBJECT);
	assert_int_equal(a->children[4].n_children, 0);

	const struct aml_node *deep = member(member(member(r, "o"), "inner"),
					     "deep");
	assert_text(deep, AML_NODE_INT, "-1");
	assert_string_equal(deep->key, "deep");
	assert_int_equal(deep->line, 8);
	aml_doc_free(r);
}

static void json_key_order_and_lines(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"{\"z\": 1,\n"
		"\n"
		" \"a\": 2, \"m\":\n"
		"   3,\r\n"
		" \"list\": [\n"
		"   \"x\",\n"
		"   \"y\"\n"
		" ]}", J);

	assert_int_equal(r->n_children, 4);
	assert_string_equal(r->children[0].key, "z");
	assert_string_equal(r->children[1].key, "a");
	assert_string_equal(r->children[2].key, "m");
	assert_string_equal(r->children[3].key, "list");
	assert_int_equal(r->children[0].line, 1);
	assert_int_equal(r->children[1].line, 3);
	/* a value's own line, not its key's */
	assert_int_equal(r->children[2].line, 4);
	assert_int_equal(r->children[3].line, 5);
	assert_int_equal(r->children[3].children[0].line, 6);
	assert_int_equal(r->children[3].children[1].line, 7);
	aml_doc_free(r);
}

static void json_scalar_roots(void **state)
{
	(void)state;
	struct aml_node *r;

	r = parse_ok("  \"just a string\"  ", J);
	assert_text(r, AML_NODE_STRING, "just a string");
	aml_doc_free(r);
	r = parse_ok("\n\n7", J);
	assert_text(r, AML_NODE_INT, "7");
	assert_int_equal(r->line, 3);
	aml_doc_free(r);
	r = parse_ok("null", J);
	assert_int_equal(r->type, AML_NODE_NULL);
	aml_doc_free(r);
	r = parse_ok("false\n", J);
	assert_int_equal(r->type, AML_NODE_BOOL);
	aml_doc_free(r);
}

static void json_number_text(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum aml_node_type type;
	} cases[] = {
		{ "1", AML_NODE_INT },
		{ "1.0", AML_NODE_FLOAT },
		{ "1e5", AML_NODE_FLOAT },
		{ "1E+5", AML_NODE_FLOAT },
		{ "2.5e-3", AML_NODE_FLOAT },
		{ "-0", AML_NODE_INT },
		{ "-0.0", AML_NODE_FLOAT },
		{ "0", AML_NODE_INT },
		{ "-17", AML_NODE_INT },
		{ "10000000000000000000", AML_NODE_INT },
		{ "123456789012345678901234567890", AML_NODE_INT },
		{ "1e400", AML_NODE_FLOAT },
		{ "0.30000000000000004", AML_NODE_FLOAT },
	};
	char doc[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml_node *r;

		snprintf(doc, sizeof(doc), "{\"v\": %s}", cases[i].in);
		r = parse_ok(doc, J);
		assert_text(member(r, "v"), cases[i].type, cases[i].in);
		aml_doc_free(r);
	}
}

static void json_bad_numbers(void **state)
{
	(void)state;
	refused("[01]", J, "run.json: line 1: numbers cannot have leading zeros");
	refused("[-]", J, "run.json: line 1: expected a digit after '-', got ']'");
	refused("[1.]", J, "run.json: line 1: expected a digit after '.', got ']'");
	refused("[1e]", J,
		"run.json: line 1: expected a digit in the exponent, got ']'");
	refused("[1e+", J,
		"run.json: line 1: expected a digit in the exponent, got end of input");
	refused("[+1]", J, "run.json: line 1: expected a value, got '+'");
	refused("[.5]", J, "run.json: line 1: expected a value, got '.'");
	refused("[NaN]", J, "run.json: line 1: expected a value, got 'NaN'");
	refused("[Infinity]", J,
		"run.json: line 1: expected a value, got 'Infinity'");
	refused("[0x10]", J,
		"run.json: line 1: expected ',' or ']' after array element, got 'x10'");
}

static void json_strings(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"[\"q\\\"b\\\\s\\/f\\b\\f\\n\\r\\t\","
		" \"\\u00e9\\u20AC\", \"\\ud83d\\ude00\", \"caf\xc3\xa9\","
		" \"a\\u0000b\", \"\"]", J);

	assert_int_equal(r->n_children, 6);
	assert_text(&r->children[0], AML_NODE_STRING,
		    "q\"b\\s/f\b\f\n\r\t");
	assert_text(&r->children[1], AML_NODE_STRING,
		    "\xc3\xa9\xe2\x82\xac");
	assert_text(&r->children[2], AML_NODE_STRING, "\xf0\x9f\x98\x80");
	assert_text(&r->children[3], AML_NODE_STRING, "caf\xc3\xa9");
	/* an embedded NUL is kept, len says so */
	assert_int_equal(r->children[4].len, 3);
	assert_memory_equal(r->children[4].text, "a\0b", 4);
	assert_text(&r->children[5], AML_NODE_STRING, "");
	aml_doc_free(r);
}

static void json_bad_strings(void **state)
{
	(void)state;
	refused("[\"\\ud83d\"]", J,
		"run.json: line 1: unpaired surrogate \\uD83D in a string");
	refused("[\"\\ud83dx\"]", J,
		"run.json: line 1: unpaired surrogate \\uD83D in a string");
	refused("[\"\\ud83d\\u0041\"]", J,
		"run.json: line 1: unpaired surrogate \\uD83D in a string");
	refused("[\"\\ude00\"]", J,
		"run.json: line 1: unpaired surrogate \\uDE00 in a string");
	refused("[\"\\u12\"]", J,
		"run.json: line 1: invalid \\u escape in a string "
		"(expected 4 hex digits)");
	refused("[\"\\u12g4\"]", J,
		"run.json: line 1: invalid \\u escape in a string "
		"(expected 4 hex digits)");
	refused("[\"\\x41\"]", J,
		"run.json: line 1: invalid escape '\\x' in a string");
	refused("[\"\\'\"]", J,
		"run.json: line 1: invalid escape '\\'' in a string");
	refused("[\"tab\there\"]", J,
		"run.json: line 1: control character U+0009 in a string must "
		"be escaped");
	refused("{\"a\":\n\"two\nlines\"}", J,
		"run.json: line 2: unterminated string (a string cannot span "
		"lines; write \\n)");
	refused("[\"open", J, "run.json: line 1: unterminated string");
	refused("[\"open\\", J, "run.json: line 1: unterminated string");
	refused("[\"open\\\"", J, "run.json: line 1: unterminated string");
	refused("{\"a\\u0000b\": 1}", J,
		"run.json: line 1: \\u0000 is not allowed in a key");
	refused_n("[\"a\0b\"]", 6, J,
		  "run.json: line 1: control character U+0000 in a string must "
		  "be escaped");
}

static void json_syntax_errors(void **state)
{
	(void)state;
	refused("{\n\"a\": 1,\n\"b\": 2 x}", J,
		"run.json: line 3: expected ',' or '}' after object member, "
		"got 'x'");
	refused("{\"a\" 1}", J,
		"run.json: line 1: expected ':' after object key, got '1'");
	refused("{a: 1}", J,
		"run.json: line 1: expected a string key or '}', got 'a'");
	refused("{\"a\": 1,}", J,
		"run.json: line 1: expected a string key, got '}'");
	refused("[1, 2,]", J, "run.json: line 1: expected a value, got ']'");
	refused("[1 2]", J,
		"run.json: line 1: expected ',' or ']' after array element, "
		"got '2'");
	refused("{\"a\": True}", J,
		"run.json: line 1: expected a value, got 'True'");
	refused("{\"a\": tru}", J, "run.json: line 1: expected a value, got 'tru'");
	refused("{\"a\": [1, 2}", J,
		"run.json: line 1: expected ',' or ']' after array element, "
		"got '}'");
	refused("{\"a\": 1", J,
		"run.json: line 1: expected ',' or '}' after object member, "
		"got end of input");
	refused("[", J, "run.json: line 1: expected a value, got end of input");
	refused("{\"a\":", J,
		"run.json: line 1: expected a value, got end of input");
	refused("// comment\n{}", J, "run.json: line 1: expected a value, got '/'");
	refused("['single']", J, "run.json: line 1: expected a value, got '''");
	refused("[\x01]", J, "run.json: line 1: expected a value, got '\\x01'");
	refused("{\"k\": \xc3\xa9}", J,
		"run.json: line 1: expected a value, got '\xc3\xa9'");
}

static void json_trailing_garbage(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok("{}  \n\t\r\n", J);

	aml_doc_free(r);
	refused("{} x", J,
		"run.json: line 1: expected the end of the document, got 'x'");
	refused("{}}", J,
		"run.json: line 1: expected the end of the document, got '}'");
	refused("[1]\n[2]", J,
		"run.json: line 2: expected the end of the document, got '['");
	refused_n("{}\0", 3, J,
		  "run.json: line 1: expected the end of the document, "
		  "got '\\x00'");
}

static void json_empty(void **state)
{
	(void)state;
	refused("", J, "run.json: line 1: empty document");
	refused(" \n\t\r\n ", J, "run.json: line 1: empty document");
	refused_n(NULL, 0, J, "run.json: line 1: empty document");
	refused("\xef\xbb\xbf", J, "run.json: line 1: empty document");
}

static void json_duplicate_keys(void **state)
{
	(void)state;
	struct aml_node *r;

	refused("{\n  \"a\": 1,\n  \"b\": 2,\n  \"a\": 3\n}", J,
		"run.json: line 4: duplicate key \"a\" (first at line 2)");
	refused("{\"o\": {\"x\": 1,\n\"x\": {}}}", J,
		"run.json: line 2: duplicate key \"x\" (first at line 1)");
	/* the same key in different objects is fine */
	r = parse_ok("{\"a\": {\"a\": 1}, \"b\": [{\"a\": 1}, {\"a\": 2}]}", J);
	aml_doc_free(r);
	/* "\u0061" is "a": keys compare decoded */
	refused("{\"a\": 1, \"\\u0061\": 2}", J,
		"run.json: line 1: duplicate key \"a\" (first at line 1)");
	/* the key is escaped in the message */
	refused("{\"a\\n\\\"\": 1,\n\"a\\n\\\"\": 2}", J,
		"run.json: line 2: duplicate key \"a\\x0a\\\"\" (first at line 1)");
	/* prefixes are not duplicates */
	r = parse_ok("{\"ab\": 1, \"a\": 2, \"abc\": 3, \"\": 4}", J);
	assert_int_equal(r->n_children, 4);
	assert_text(member(r, ""), AML_NODE_INT, "4");
	aml_doc_free(r);
}

/* Objects past the incremental check are checked when they close. */
static void json_duplicate_keys_large_object(void **state)
{
	(void)state;
	char *doc = malloc(64 * 1024);
	size_t at = 0;
	struct aml_node *r;

	assert_non_null(doc);
	at += (size_t)sprintf(doc + at, "{\n");
	for (int i = 0; i < 1000; i++)
		at += (size_t)sprintf(doc + at, "\"key%d\": %d,\n", i, i);
	at += (size_t)sprintf(doc + at, "\"last\": 0}\n");
	r = parse_ok(doc, J);
	assert_int_equal(r->n_children, 1001);
	assert_text(member(r, "key999"), AML_NODE_INT, "999");
	assert_string_equal(r->children[500].key, "key500");
	aml_doc_free(r);

	/* key700 again on line 1003, and key5 on 1004: the first wins */
	at = (size_t)sprintf(doc, "{\n");
	for (int i = 0; i < 1000; i++)
		at += (size_t)sprintf(doc + at, "\"key%d\": %d,\n", i, i);
	at += (size_t)sprintf(doc + at, "\"x\": 0,\n\"key700\": 1,\n"
			      "\"key5\": 1}\n");
	refused(doc, J,
		"run.json: line 1003: duplicate key \"key700\" (first at line 702)");
	free(doc);
}

/* Keys forged to share the quick hash (length, first and last four
 * bytes): still told apart, and a duplicate among them still found. */
static void json_duplicate_keys_same_hash(void **state)
{
	(void)state;
	char *doc = malloc(64 * 1024);
	size_t at = 0;
	struct aml_node *r;

	assert_non_null(doc);
	at += (size_t)sprintf(doc + at, "{\n");
	for (int i = 0; i < 1000; i++)
		at += (size_t)sprintf(doc + at, "\"AAAA%04dZZZZ\": %d,\n", i, i);
	at += (size_t)sprintf(doc + at, "\"AAAAxxxxZZZZ\": 0}\n");
	r = parse_ok(doc, J);
	assert_int_equal(r->n_children, 1001);
	assert_text(member(r, "AAAA0999ZZZZ"), AML_NODE_INT, "999");
	aml_doc_free(r);

	at = (size_t)sprintf(doc, "{\n");
	for (int i = 0; i < 1000; i++)
		at += (size_t)sprintf(doc + at, "\"AAAA%04dZZZZ\": %d,\n", i, i);
	at += (size_t)sprintf(doc + at, "\"AAAA0500ZZZZ\": 1,\n"
			      "\"AAAA0001ZZZZ\": 1}\n");
	refused(doc, J,
		"run.json: line 1002: duplicate key \"AAAA0500ZZZZ\" (first at line 502)");
	free(doc);
}

static char *nested(int depth, char open, char close, const char *inner)
{
	size_t n = strlen(inner);
	char *s = malloc((size_t)depth * 2 + n + 1);

	memset(s, open, (size_t)depth);
	memcpy(s + depth, inner, n);
	memset(s + depth + n, close, (size_t)depth);
	s[depth * 2 + n] = '\0';
	return s;
}

static void json_depth_limit(void **state)
{
	(void)state;
	char *s = nested(AML_DOC_MAX_DEPTH, '[', ']', "1");
	struct aml_node *r = parse_ok(s, J);
	const struct aml_node *n = r;

	for (int i = 0; i < AML_DOC_MAX_DEPTH; i++) {
		assert_int_equal(n->type, AML_NODE_ARRAY);
		assert_int_equal(n->n_children, 1);
		n = &n->children[0];
	}
	assert_text(n, AML_NODE_INT, "1");
	aml_doc_free(r);
	free(s);

	s = nested(AML_DOC_MAX_DEPTH + 1, '[', ']', "");
	refused(s, J,
		"run.json: line 1: nesting deeper than 64 levels is not allowed");
	free(s);

	/* far deeper input fails the same way, without recursion */
	s = nested(1000000, '[', ']', "");
	refused(s, J,
		"run.json: line 1: nesting deeper than 64 levels is not allowed");
	free(s);

	/* objects count too */
	{
		char buf[1024];
		size_t at = 0;

		for (int i = 0; i <= AML_DOC_MAX_DEPTH; i++)
			at += (size_t)sprintf(buf + at, "{\"k\":");
		buf[at++] = '1';
		buf[at] = '\0';
		refused(buf, J,
			"run.json: line 1: nesting deeper than 64 levels is "
			"not allowed");
	}
}

static void invalid_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t len;
		const char *msg;
	} cases[] = {
		{ "[\"\xc0\x80\"]", 6, "run.json: line 1: invalid UTF-8 (byte 0xC0)" },
		{ "[\"\xed\xa0\x80\"]", 7, "run.json: line 1: invalid UTF-8 (byte 0xED)" },
		{ "[\"\xf5\x80\x80\x80\"]", 8, "run.json: line 1: invalid UTF-8 (byte 0xF5)" },
		{ "[\"\xf4\x90\x80\x80\"]", 8, "run.json: line 1: invalid UTF-8 (byte 0xF4)" },
		{ "[\"\xe0\x80\xaf\"]", 7, "run.json: line 1: invalid UTF-8 (byte 0xE0)" },
		{ "[\"\x80\"]", 5, "run.json: line 1: invalid UTF-8 (byte 0x80)" },
		{ "[\n\n\"ok\xc3\"]", 9, "run.json: line 3: invalid UTF-8 (byte 0xC3)" },
		{ "[\"\xe2\x82\"]", 6, "run.json: line 1: invalid UTF-8 (byte 0xE2)" },
		{ "\xff", 1, "run.json: line 1: invalid UTF-8 (byte 0xFF)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		refused_n(cases[i].text, cases[i].len, J, cases[i].msg);
		refused_n(cases[i].text, cases[i].len, Y, cases[i].msg);
		refused_n(cases[i].text, cases[i].len, A, cases[i].msg);
	}
	/* in YAML the same goes for comments and plain scalars */
	refused("a: 1\n# caf\xe9\n", Y,
		"run.json: line 2: invalid UTF-8 (byte 0xE9)");
	/* the longest valid forms pass */
	struct aml_node *r = parse_ok("[\"\xf4\x8f\xbf\xbf\xef\xbf\xbf\xdf\xbf\"]", J);
	assert_int_equal(r->children[0].len, 9);
	aml_doc_free(r);
}

static void bom_accepted(void **state)
{
	(void)state;
	struct aml_node *r;

	r = parse_ok("\xef\xbb\xbf{\"a\": 1}", J);
	assert_text(member(r, "a"), AML_NODE_INT, "1");
	aml_doc_free(r);
	r = parse_ok("\xef\xbb\xbf  \n[1]", A);
	assert_int_equal(r->type, AML_NODE_ARRAY);
	assert_int_equal(r->line, 2);
	aml_doc_free(r);
	r = parse_ok("\xef\xbb\xbf" "a: 1\n", Y);
	assert_text(member(r, "a"), AML_NODE_INT, "1");
	aml_doc_free(r);
	r = parse_ok("\xef\xbb\xbf" "a: 1\n", A);
	assert_text(member(r, "a"), AML_NODE_INT, "1");
	aml_doc_free(r);
	/* only at the start */
	refused("[1]\xef\xbb\xbf", J,
		"run.json: line 1: expected the end of the document, "
		"got '\\ufeff'");
}

static void auto_detection(void **state)
{
	(void)state;
	struct aml_node *r;

	r = parse_ok("{\"a\": [1]}", A);
	assert_int_equal(r->type, AML_NODE_OBJECT);
	aml_doc_free(r);
	r = parse_ok(" \r\n\t[true]", A);
	assert_int_equal(r->type, AML_NODE_ARRAY);
	aml_doc_free(r);
	r = parse_ok("a: [1]\n", A);
	assert_int_equal(r->type, AML_NODE_OBJECT);
	aml_doc_free(r);
	r = parse_ok("# yaml comment\n{a: 1}\n", A);
	assert_int_equal(r->type, AML_NODE_OBJECT);
	aml_doc_free(r);
	/* a YAML flow mapping at the start is read as JSON, as the contract says */
	refused("{a: 1}", A,
		"run.json: line 1: expected a string key or '}', got 'a'");
	/* the JSON reader's messages, not libyaml's */
	refused("{\"a\": 1,}", A,
		"run.json: line 1: expected a string key, got '}'");
	refused("", A, "run.json: line 1: empty document");
	refused("  \n", A, "run.json: line 1: empty document");
}

static void unknown_syntax(void **state)
{
	(void)state;
	refused("[]", (enum aml_doc_syntax)42,
		"run.json: line 1: unknown document syntax 42");
}

static void null_errors_list(void **state)
{
	(void)state;
	/* a caller that only wants yes or no may pass no list */
	assert_null(aml_doc_parse("{", 1, J, NULL));
	assert_null(aml_doc_parse("a: *x", 5, Y, NULL));
	assert_null(aml_doc_parse("\xff", 1, A, NULL));
	assert_null(aml_doc_parse(NULL, 3, A, NULL));
	struct aml_node *r = aml_doc_parse("[]", 2, J, NULL);
	assert_non_null(r);
	aml_doc_free(r);
	aml_doc_free(NULL);
}

/* A document larger than the first arena chunk spills into more. */
static void large_document(void **state)
{
	(void)state;
	size_t cap = 4 * 1024 * 1024, at = 0;
	char *doc = malloc(cap);
	struct aml_node *r;

	at += (size_t)sprintf(doc + at, "[");
	for (int i = 0; i < 100000; i++)
		at += (size_t)sprintf(doc + at, "%s{\"n\":%d,\"s\":\"v%d\"}",
				      i ? "," : "", i, i);
	at += (size_t)sprintf(doc + at, "]");
	r = parse_ok_n(doc, at, J);
	assert_int_equal(r->n_children, 100000);
	assert_text(member(&r->children[99999], "s"), AML_NODE_STRING,
		    "v99999");
	assert_text(member(&r->children[12345], "n"), AML_NODE_INT, "12345");
	aml_doc_free(r);
	free(doc);
}

/* ---------------------------------------------------------------- YAML */

static void yaml_block_config(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"# a run configuration\n"                  /* 1 */
		"script: train.py\n"                       /* 2 */
		"arguments:\n"                             /* 3 */
		"  - --lr\n"                               /* 4 */
		"  - 0.8\n"                                /* 5 */
		"  - --flag\n"                             /* 6 */
		"  - true   # inline comment\n"            /* 7 */
		"node_count: 4\n"                          /* 8 */
		"distributed_job_config:\n"                /* 9 */
		"  type: pytorch\n"                        /* 10 */
		"  process_count: 8\n"                     /* 11 */
		"environment:\n"                           /* 12 */
		"  variables: {A: '1', B: \"two\"}\n"      /* 13 */
		"  list: [a, 2, null]\n"                   /* 14 */
		"empty:\n", Y);                            /* 15 */

	assert_int_equal(r->type, AML_NODE_OBJECT);
	assert_int_equal(r->n_children, 6);
	assert_string_equal(r->children[0].key, "script");
	assert_string_equal(r->children[5].key, "empty");
	assert_text(member(r, "script"), AML_NODE_STRING, "train.py");
	assert_int_equal(member(r, "script")->line, 2);

	const struct aml_node *args = member(r, "arguments");
	assert_int_equal(args->type, AML_NODE_ARRAY);
	assert_int_equal(args->n_children, 4);
	assert_text(&args->children[0], AML_NODE_STRING, "--lr");
	assert_text(&args->children[1], AML_NODE_FLOAT, "0.8");
	assert_int_equal(args->children[1].line, 5);
	assert_int_equal(args->children[3].type, AML_NODE_BOOL);
	assert_int_equal(args->children[3].boolean, 1);
	assert_int_equal(args->children[3].line, 7);

	const struct aml_node *dist = member(r, "distributed_job_config");
	assert_text(member(dist, "process_count"), AML_NODE_INT, "8");
	assert_int_equal(member(dist, "process_count")->line, 11);

	const struct aml_node *env = member(r, "environment");
	const struct aml_node *vars = member(env, "variables");
	assert_int_equal(vars->line, 13);
	assert_text(member(vars, "A"), AML_NODE_STRING, "1");
	assert_text(member(vars, "B"), AML_NODE_STRING, "two");
	const struct aml_node *list = member(env, "list");
	assert_text(&list->children[0], AML_NODE_STRING, "a");
	assert_text(&list->children[1], AML_NODE_INT, "2");
	assert_int_equal(list->children[2].type, AML_NODE_NULL);
	assert_int_equal(member(r, "empty")->type, AML_NODE_NULL);
	aml_doc_free(r);
}

static void yaml_flow_style(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"{a: [1, {b: c}], \"d\": [], e: {}, f: [[x]]}", Y);

	assert_int_equal(r->n_children, 4);
	assert_text(member(member(r, "a")->children + 1, "b"),
		    AML_NODE_STRING, "c");
	assert_int_equal(member(r, "d")->n_children, 0);
	assert_int_equal(member(r, "e")->type, AML_NODE_OBJECT);
	assert_text(&member(r, "f")->children[0].children[0],
		    AML_NODE_STRING, "x");
	aml_doc_free(r);

	r = parse_ok("- a\n- - b\n  - c\n- d: 1\n  e: 2\n", Y);
	assert_int_equal(r->type, AML_NODE_ARRAY);
	assert_int_equal(r->n_children, 3);
	assert_int_equal(r->children[1].n_children, 2);
	assert_text(member(&r->children[2], "e"), AML_NODE_INT, "2");
	assert_int_equal(member(&r->children[2], "e")->line, 5);
	aml_doc_free(r);
}

static void yaml_core_schema(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum aml_node_type type;
		const char *text;   /* NULL for null/bool */
		int boolean;
	} cases[] = {
		{ "true", AML_NODE_BOOL, NULL, 1 },
		{ "True", AML_NODE_BOOL, NULL, 1 },
		{ "TRUE", AML_NODE_BOOL, NULL, 1 },
		{ "false", AML_NODE_BOOL, NULL, 0 },
		{ "False", AML_NODE_BOOL, NULL, 0 },
		{ "FALSE", AML_NODE_BOOL, NULL, 0 },
		{ "null", AML_NODE_NULL, NULL, 0 },
		{ "Null", AML_NODE_NULL, NULL, 0 },
		{ "NULL", AML_NODE_NULL, NULL, 0 },
		{ "~", AML_NODE_NULL, NULL, 0 },
		{ "", AML_NODE_NULL, NULL, 0 },
		{ "0", AML_NODE_INT, "0", 0 },
		{ "42", AML_NODE_INT, "42", 0 },
		{ "-42", AML_NODE_INT, "-42", 0 },
		{ "+42", AML_NODE_INT, "42", 0 },
		{ "007", AML_NODE_INT, "7", 0 },
		{ "-007", AML_NODE_INT, "-7", 0 },
		{ "-0", AML_NODE_INT, "-0", 0 },
		{ "000", AML_NODE_INT, "0", 0 },
		{ "0o17", AML_NODE_INT, "15", 0 },
		{ "0o0", AML_NODE_INT, "0", 0 },
		{ "0x1F", AML_NODE_INT, "31", 0 },
		{ "0xff", AML_NODE_INT, "255", 0 },
		{ "0xFFFFFFFFFFFFFFFF", AML_NODE_INT, "18446744073709551615", 0 },
		{ "0o1777777777777777777777", AML_NODE_INT,
		  "18446744073709551615", 0 },
		{ "18446744073709551616", AML_NODE_INT, "18446744073709551616", 0 },
		{ "123456789012345678901234567890", AML_NODE_INT,
		  "123456789012345678901234567890", 0 },
		{ "1.5", AML_NODE_FLOAT, "1.5", 0 },
		{ "1.0", AML_NODE_FLOAT, "1.0", 0 },
		{ "-1.5", AML_NODE_FLOAT, "-1.5", 0 },
		{ "+1.5", AML_NODE_FLOAT, "1.5", 0 },
		{ ".5", AML_NODE_FLOAT, ".5", 0 },
		{ "1.", AML_NODE_FLOAT, "1.", 0 },
		{ "1e5", AML_NODE_FLOAT, "1e5", 0 },
		{ "1E-5", AML_NODE_FLOAT, "1E-5", 0 },
		{ "2.5e+3", AML_NODE_FLOAT, "2.5e+3", 0 },
		{ ".inf", AML_NODE_FLOAT, "inf", 0 },
		{ ".Inf", AML_NODE_FLOAT, "inf", 0 },
		{ "+.INF", AML_NODE_FLOAT, "inf", 0 },
		{ "-.inf", AML_NODE_FLOAT, "-inf", 0 },
		{ "-.Inf", AML_NODE_FLOAT, "-inf", 0 },
		{ ".nan", AML_NODE_FLOAT, "nan", 0 },
		{ ".NaN", AML_NODE_FLOAT, "nan", 0 },
		{ ".NAN", AML_NODE_FLOAT, "nan", 0 },
		/* YAML 1.1 spellings are strings in the core schema */
		{ "yes", AML_NODE_STRING, "yes", 0 },
		{ "no", AML_NODE_STRING, "no", 0 },
		{ "on", AML_NODE_STRING, "on", 0 },
		{ "off", AML_NODE_STRING, "off", 0 },
		{ "y", AML_NODE_STRING, "y", 0 },
		{ "tRUE", AML_NODE_STRING, "tRUE", 0 },
		{ "nULL", AML_NODE_STRING, "nULL", 0 },
		{ "1_000", AML_NODE_STRING, "1_000", 0 },
		{ "0b101", AML_NODE_STRING, "0b101", 0 },
		{ "0x", AML_NODE_STRING, "0x", 0 },
		{ "0o8", AML_NODE_STRING, "0o8", 0 },
		{ "0X1F", AML_NODE_STRING, "0X1F", 0 },
		{ "-0x1F", AML_NODE_STRING, "-0x1F", 0 },
		{ "1e", AML_NODE_STRING, "1e", 0 },
		{ ".", AML_NODE_STRING, ".", 0 },
		{ "+", AML_NODE_STRING, "+", 0 },
		{ "-.nan", AML_NODE_STRING, "-.nan", 0 },
		{ ".infinity", AML_NODE_STRING, ".infinity", 0 },
		{ "inf", AML_NODE_STRING, "inf", 0 },
		{ "1:30", AML_NODE_STRING, "1:30", 0 },
		{ "2024-01-01", AML_NODE_STRING, "2024-01-01", 0 },
		{ "1.2.3", AML_NODE_STRING, "1.2.3", 0 },
		{ "3.10", AML_NODE_FLOAT, "3.10", 0 },
	};
	char doc[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml_node *r;
		const struct aml_node *v;

		snprintf(doc, sizeof(doc), "v: %s\n", cases[i].in);
		r = parse_ok(doc, Y);
		v = member(r, "v");
		if (v->type != cases[i].type)
			print_error("[%s]: type %d\n", cases[i].in, v->type);
		if (cases[i].text)
			assert_text(v, cases[i].type, cases[i].text);
		else
			assert_int_equal(v->type, cases[i].type);
		if (cases[i].type == AML_NODE_BOOL)
			assert_int_equal(v->boolean, cases[i].boolean);
		aml_doc_free(r);
	}
}

static void yaml_quoted_and_block_are_strings(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"a: 'true'\n"
		"b: \"42\"\n"
		"c: \"null\"\n"
		"d: ''\n"
		"e: |\n"
		"  12\n"
		"f: >-\n"
		"  3.5\n"
		"g: 'it''s'\n"
		"h: \"tab\\there \\u00e9 \\x41\"\n", Y);

	assert_text(member(r, "a"), AML_NODE_STRING, "true");
	assert_text(member(r, "b"), AML_NODE_STRING, "42");
	assert_text(member(r, "c"), AML_NODE_STRING, "null");
	assert_text(member(r, "d"), AML_NODE_STRING, "");
	assert_text(member(r, "e"), AML_NODE_STRING, "12\n");
	assert_text(member(r, "f"), AML_NODE_STRING, "3.5");
	assert_text(member(r, "g"), AML_NODE_STRING, "it's");
	assert_text(member(r, "h"), AML_NODE_STRING, "tab\there \xc3\xa9 A");
	aml_doc_free(r);
}

static void yaml_multiline_strings(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"literal: |\n"          /* 1 */
		"  line one\n"
		"    indented\n"
		"  line three\n"
		"folded: >\n"           /* 5 */
		"  folded\n"
		"  text\n"
		"\n"
		"  para\n"
		"keep: |+\n"            /* 10 */
		"  kept\n"
		"\n"
		"strip: |-\n"           /* 13 */
		"  stripped\n"
		"plain: a plain\n"      /* 15 */
		"  scalar over\n"
		"  three lines\n"
		"quoted: \"one\n"       /* 18 */
		"  two\"\n", Y);

	assert_text(member(r, "literal"), AML_NODE_STRING,
		    "line one\n  indented\nline three\n");
	assert_text(member(r, "folded"), AML_NODE_STRING,
		    "folded text\npara\n");
	assert_text(member(r, "keep"), AML_NODE_STRING, "kept\n\n");
	assert_text(member(r, "strip"), AML_NODE_STRING, "stripped");
	assert_text(member(r, "plain"), AML_NODE_STRING,
		    "a plain scalar over three lines");
	assert_text(member(r, "quoted"), AML_NODE_STRING, "one two");
	assert_int_equal(member(r, "literal")->line, 1);
	assert_int_equal(member(r, "folded")->line, 5);
	assert_int_equal(member(r, "strip")->line, 13);
	assert_int_equal(member(r, "plain")->line, 15);
	assert_int_equal(member(r, "quoted")->line, 18);
	aml_doc_free(r);
}

static void yaml_tags(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"s: !!str 123\n"
		"t: !!str true\n"
		"i: !!int \"42\"\n"
		"h: !!int '0x10'\n"
		"f: !!float 1\n"
		"g: !!float \"2.5\"\n"
		"n: !!float .nan\n"
		"b: !!bool \"false\"\n"
		"z: !!null ''\n"
		"m: !!map {a: 1}\n"
		"q: !!seq [1]\n"
		"e: !<tag:yaml.org,2002:str> 5\n", Y);

	assert_text(member(r, "s"), AML_NODE_STRING, "123");
	assert_text(member(r, "t"), AML_NODE_STRING, "true");
	assert_text(member(r, "i"), AML_NODE_INT, "42");
	assert_text(member(r, "h"), AML_NODE_INT, "16");
	assert_text(member(r, "f"), AML_NODE_FLOAT, "1");
	assert_text(member(r, "g"), AML_NODE_FLOAT, "2.5");
	assert_text(member(r, "n"), AML_NODE_FLOAT, "nan");
	assert_int_equal(member(r, "b")->type, AML_NODE_BOOL);
	assert_int_equal(member(r, "b")->boolean, 0);
	assert_int_equal(member(r, "z")->type, AML_NODE_NULL);
	assert_int_equal(member(r, "m")->type, AML_NODE_OBJECT);
	assert_int_equal(member(r, "q")->type, AML_NODE_ARRAY);
	assert_text(member(r, "e"), AML_NODE_STRING, "5");
	aml_doc_free(r);

	refused("a: !!int abc\n", Y,
		"run.json: line 1: \"abc\" is not a valid !!int value");
	refused("a: !!int 1.5\n", Y,
		"run.json: line 1: \"1.5\" is not a valid !!int value");
	refused("a: !!bool yes\n", Y,
		"run.json: line 1: \"yes\" is not a valid !!bool value");
	refused("a: !!null 0\n", Y,
		"run.json: line 1: \"0\" is not a valid !!null value");
	refused("a: !!float x\n", Y,
		"run.json: line 1: \"x\" is not a valid !!float value");
	refused("a: 1\nb: !!binary aGVsbG8=\n", Y,
		"run.json: line 2: YAML tag !!binary is not supported");
	refused("a: !!timestamp 2001-12-14\n", Y,
		"run.json: line 1: YAML tag !!timestamp is not supported");
	refused("a: !custom x\n", Y,
		"run.json: line 1: YAML tag !custom is not supported");
	refused("a: ! x\n", Y, "run.json: line 1: YAML tag ! is not supported");
	refused("a: !!seq {b: 1}\n", Y,
		"run.json: line 1: YAML tag !!seq is not supported");
	refused("a: !!map [1]\n", Y,
		"run.json: line 1: YAML tag !!map is not supported");
	refused("a: !!set {b}\n", Y,
		"run.json: line 1: YAML tag !!set is not supported");
	refused("!!python/object:os.system x: 1\n", Y,
		"run.json: line 1: YAML tag !!python/object:os.system is not "
		"supported");
	/* libyaml decodes %XX in tags: the message stays on one line */
	refused("a: !x%0A%1B%5B31m y\n", Y,
		"run.json: line 1: YAML tag !x\\x0a\\x1b[31m is not supported");
	refused("%TAG !! tag:example.com,2000:\n---\na: !!int 1\n", Y,
		"run.json: line 3: YAML tag tag:example.com,2000:int is not "
		"supported");
	refused("a: !!int 0x10000000000000000\n", Y,
		"run.json: line 1: integer \"0x10000000000000000\" does not fit "
		"in 64 bits");
}

static void yaml_integer_overflow(void **state)
{
	(void)state;
	refused("a: 0x10000000000000000\n", Y,
		"run.json: line 1: integer \"0x10000000000000000\" does not fit "
		"in 64 bits");
	refused("a: 1\nb: 0o2000000000000000000000\n", Y,
		"run.json: line 2: integer \"0o2000000000000000000000\" does not "
		"fit in 64 bits");
}

static void yaml_anchors_aliases(void **state)
{
	(void)state;
	refused("a: 1\nb: 2\nc: 3\nd: *x\n", Y,
		"run.json: line 4: YAML aliases are not supported");
	refused("base: &b\n  x: 1\nother: *b\n", Y,
		"run.json: line 1: YAML anchors are not supported");
	refused("a: &x 1\n", Y,
		"run.json: line 1: YAML anchors are not supported");
	refused("a: [&x 1, *x]\n", Y,
		"run.json: line 1: YAML anchors are not supported");
	refused("- &s [1]\n", Y,
		"run.json: line 1: YAML anchors are not supported");
	refused("&k a: 1\n", Y,
		"run.json: line 1: YAML anchors are not supported");
	refused("*a : 1\n", Y,
		"run.json: line 1: YAML aliases are not supported");
}

static void yaml_merge_keys(void **state)
{
	(void)state;
	struct aml_node *r;

	refused("a: 1\n<<: {b: 2}\n", Y,
		"run.json: line 2: YAML merge keys (<<) are not supported");
	refused("a: {<<: {b: 2}}\n", Y,
		"run.json: line 1: YAML merge keys (<<) are not supported");
	/* a quoted "<<" is an ordinary key */
	r = parse_ok("\"<<\": 1\n'<<x': 2\n", Y);
	assert_text(member(r, "<<"), AML_NODE_INT, "1");
	aml_doc_free(r);
}

static void yaml_documents(void **state)
{
	(void)state;
	struct aml_node *r;

	refused("a: 1\n---\nb: 2\n", Y,
		"run.json: line 2: only one YAML document is allowed, found "
		"another");
	refused("---\na: 1\n...\n---\nb: 2\n", Y,
		"run.json: line 4: only one YAML document is allowed, found "
		"another");
	refused("a: 1\n---\n", Y,
		"run.json: line 2: only one YAML document is allowed, found "
		"another");
	r = parse_ok("%YAML 1.2\n---\na: 1\n...\n", Y);
	assert_text(member(r, "a"), AML_NODE_INT, "1");
	aml_doc_free(r);
	r = parse_ok("--- [1, 2]\n", Y);
	assert_int_equal(r->n_children, 2);
	aml_doc_free(r);
	r = parse_ok("just a string\n", Y);
	assert_text(r, AML_NODE_STRING, "just a string");
	aml_doc_free(r);
	r = parse_ok("~\n", Y);
	assert_int_equal(r->type, AML_NODE_NULL);
	aml_doc_free(r);
	r = parse_ok("''\n", Y);
	assert_text(r, AML_NODE_STRING, "");
	aml_doc_free(r);
}

static void yaml_empty(void **state)
{
	(void)state;
	refused("", Y, "run.json: line 1: empty document");
	refused("\n\n", Y, "run.json: line 1: empty document");
	refused("# only a comment\n# and another\n", Y,
		"run.json: line 1: empty document");
	refused("---\n", Y, "run.json: line 1: empty document");
	refused("---\n...\n", Y, "run.json: line 1: empty document");
	refused("# c\n", A, "run.json: line 1: empty document");
	refused("\xef\xbb\xbf", Y, "run.json: line 1: empty document");
}

static void yaml_duplicate_keys(void **state)
{
	(void)state;
	refused("a: 1\nb: 2\na: 3\n", Y,
		"run.json: line 3: duplicate key \"a\" (first at line 1)");
	refused("{a: 1, b: 2, a: 3}\n", Y,
		"run.json: line 1: duplicate key \"a\" (first at line 1)");
	refused("o:\n  x: 1\n  y:\n    - 1\n  x: 2\n", Y,
		"run.json: line 5: duplicate key \"x\" (first at line 2)");
	/* quoting does not make a different key */
	refused("a: 1\n'a': 2\n", Y,
		"run.json: line 2: duplicate key \"a\" (first at line 1)");
	/* the key's line, even when its value is a block on later lines */
	refused("env:\n  k: 1\nenv:\n  k: 2\n", Y,
		"run.json: line 3: duplicate key \"env\" (first at line 1)");
}

static void yaml_non_scalar_keys(void **state)
{
	(void)state;
	struct aml_node *r;

	refused("[a]: 1\n", Y,
		"run.json: line 1: a YAML mapping key must be a scalar, not a "
		"sequence");
	refused("? {a: 1}\n: 1\n", Y,
		"run.json: line 1: a YAML mapping key must be a scalar, not a "
		"mapping");
	refused("x:\n  ? - a\n  : 1\n", Y,
		"run.json: line 2: a YAML mapping key must be a scalar, not a "
		"sequence");
	refused("!!int 1: a\n", Y,
		"run.json: line 1: YAML tag !!int is not supported");
	refused("\"a\\0b\": 1\n", Y,
		"run.json: line 1: a NUL character is not allowed in a key");
	/* scalar keys of other types keep their text */
	r = parse_ok("1: a\ntrue: b\n~: c\n? x\n: d\n!!str 0x1: e\n", Y);
	assert_string_equal(r->children[0].key, "1");
	assert_string_equal(r->children[1].key, "true");
	assert_string_equal(r->children[2].key, "~");
	assert_string_equal(r->children[3].key, "x");
	assert_string_equal(r->children[4].key, "0x1");
	aml_doc_free(r);
	/* an empty key is the empty string */
	r = parse_ok("? \n: v\n", Y);
	assert_string_equal(r->children[0].key, "");
	aml_doc_free(r);
}

static void yaml_depth_limit(void **state)
{
	(void)state;
	char *s = nested(AML_DOC_MAX_DEPTH, '[', ']', "1");
	struct aml_node *r = parse_ok(s, Y);

	aml_doc_free(r);
	free(s);
	s = nested(AML_DOC_MAX_DEPTH + 1, '[', ']', "");
	refused(s, Y,
		"run.json: line 1: nesting deeper than 64 levels is not allowed");
	free(s);
	s = nested(200000, '[', ']', "");
	refused(s, Y,
		"run.json: line 1: nesting deeper than 64 levels is not allowed");
	free(s);

	/* block style: 65 nested mappings, one per line */
	{
		char buf[16384];
		size_t at = 0;

		for (int i = 0; i <= AML_DOC_MAX_DEPTH; i++)
			at += (size_t)sprintf(buf + at, "%*sk:\n", i, "");
		at += (size_t)sprintf(buf + at, "%*sv: 1\n",
				      AML_DOC_MAX_DEPTH + 1, "");
		refused(buf, Y,
			"run.json: line 65: nesting deeper than 64 levels is "
			"not allowed");
	}
}

static void yaml_syntax_errors(void **state)
{
	(void)state;
	refused("a: b: c\n", Y,
		"run.json: line 1: mapping values are not allowed in this "
		"context");
	refused("a:\n  - 1\n - 2\n", Y,
		"run.json: line 3: did not find expected key (while parsing a "
		"block mapping at line 1)");
	refused("a: [1, 2\nb: 3\n", Y,
		"run.json: line 2: did not find expected ',' or ']' (while "
		"parsing a flow sequence at line 1)");
	refused("a: \"open\n", Y,
		"run.json: line 2: found unexpected end of stream (while "
		"scanning a quoted scalar at line 1)");
	refused("a:\n\tb: 1\n", Y,
		"run.json: line 2: found character that cannot start any token "
		"(while scanning for the next token)");
	refused("a: 1\nb: \x01\n", Y,
		"run.json: line 2: control characters are not allowed");
	refused_n("a: 1\0", 5, Y,
		  "run.json: line 1: control characters are not allowed");
	refused("a: \"\\q\"\n", Y,
		"run.json: line 1: found unknown escape character (while "
		"parsing a quoted scalar)");
}

/* UTF-16 input would be guessed by libyaml from a BOM; it is not UTF-8. */
static void yaml_refuses_utf16(void **state)
{
	(void)state;
	refused_n("\xff\xfe" "a\0:\0 \0" "1\0", 10, Y,
		  "run.json: line 1: invalid UTF-8 (byte 0xFF)");
	refused_n("\xfe\xff\0a", 4, A,
		  "run.json: line 1: invalid UTF-8 (byte 0xFE)");
}

static void yaml_unicode(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"caf\xc3\xa9: \"\\u00e9\\U0001F600\"\nname: \xe2\x82\xac 5\n", Y);

	assert_text(member(r, "caf\xc3\xa9"), AML_NODE_STRING,
		    "\xc3\xa9\xf0\x9f\x98\x80");
	assert_text(member(r, "name"), AML_NODE_STRING, "\xe2\x82\xac 5");
	aml_doc_free(r);
	/* embedded NULs survive in values, as in JSON */
	r = parse_ok("v: \"a\\0b\"\n", Y);
	assert_int_equal(member(r, "v")->len, 3);
	assert_memory_equal(member(r, "v")->text, "a\0b", 4);
	aml_doc_free(r);
}

/* The same config in both syntaxes gives the same tree. */
static int same_tree(const struct aml_node *a, const struct aml_node *b)
{
	if (a->type != b->type || a->n_children != b->n_children ||
	    (!a->key) != (!b->key) || (a->key && strcmp(a->key, b->key)) ||
	    a->boolean != b->boolean || a->len != b->len ||
	    (!a->text) != (!b->text) ||
	    (a->text && memcmp(a->text, b->text, a->len)))
		return 0;
	for (size_t i = 0; i < a->n_children; i++)
		if (!same_tree(&a->children[i], &b->children[i]))
			return 0;
	return 1;
}

static void json_yaml_agree(void **state)
{
	(void)state;
	struct aml_node *j = parse_ok(
		"{\"script\": \"train.py\", \"arguments\": [\"--lr\", 0.8, 1e-05,"
		" true, null, -3], \"nested\": {\"a\": {\"b\": []}, \"c\": {}},"
		" \"u\": \"\\u00e9\"}", J);
	struct aml_node *y = parse_ok(
		"script: train.py\n"
		"arguments: [--lr, 0.8, 1e-05, true, null, -3]\n"
		"nested:\n"
		"  a:\n"
		"    b: []\n"
		"  c: {}\n"
		"u: \xc3\xa9\n", Y);

	assert_true(same_tree(j, y));
	aml_doc_free(j);
	aml_doc_free(y);
}

/* ----------------------------------------------------------- helpers */

static void get_member(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok("{\"a\": 1, \"ab\": 2, \"\": 3, "
				      "\"list\": [{\"a\": 4}]}", J);

	assert_text(aml_doc_get(r, "a"), AML_NODE_INT, "1");
	assert_text(aml_doc_get(r, "ab"), AML_NODE_INT, "2");
	assert_text(aml_doc_get(r, ""), AML_NODE_INT, "3");
	assert_null(aml_doc_get(r, "b"));
	assert_null(aml_doc_get(r, "A"));
	assert_null(aml_doc_get(r, NULL));
	assert_null(aml_doc_get(NULL, "a"));
	/* arrays and scalars have no members, even when children have keys */
	assert_null(aml_doc_get(aml_doc_get(r, "list"), "a"));
	assert_null(aml_doc_get(aml_doc_get(r, "a"), "a"));
	aml_doc_free(r);
}

static void type_names(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok("[null, true, false, 1, 1.5, \"s\", [], {}]",
				      J);

	assert_string_equal(aml_doc_type_name(&r->children[0]), "null");
	assert_string_equal(aml_doc_type_name(&r->children[1]), "true");
	assert_string_equal(aml_doc_type_name(&r->children[2]), "false");
	assert_string_equal(aml_doc_type_name(&r->children[3]), "a number");
	assert_string_equal(aml_doc_type_name(&r->children[4]), "a number");
	assert_string_equal(aml_doc_type_name(&r->children[5]), "a string");
	assert_string_equal(aml_doc_type_name(&r->children[6]), "an array");
	assert_string_equal(aml_doc_type_name(&r->children[7]), "an object");
	assert_string_equal(aml_doc_type_name(NULL), "nothing");
	aml_doc_free(r);
}

static void describe_values(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"[null, true, false, 42, -1.5e3, \"plain\", [1], {\"a\": 1},"
		" \"q\\\"b\\\\n\\n\\t\\r\\u0001\\u007f\", \"caf\\u00e9\","
		" \"a\\u0000b\", \"\\u202e\\u0085\\u2028\", \"\"]", J);
	char buf[128];
	static const char *const expect[] = {
		"null", "true", "false", "42", "-1.5e3", "\"plain\"",
		"an array", "an object",
		"\"q\\\"b\\\\n\\x0a\\x09\\x0d\\x01\\x7f\"",
		"\"caf\xc3\xa9\"",
		"\"a\\x00b\"",
		"\"\\u202e\\u0085\\u2028\"",
		"\"\"",
	};

	assert_int_equal(r->n_children, sizeof(expect) / sizeof(expect[0]));
	for (size_t i = 0; i < r->n_children; i++) {
		aml_doc_describe(&r->children[i], buf, sizeof(buf));
		assert_string_equal(buf, expect[i]);
	}
	aml_doc_describe(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "nothing");
	aml_doc_free(r);
}

static void describe_truncation(void **state)
{
	(void)state;
	struct aml_node *r = parse_ok(
		"[\"abcdefghij\", \"\\u00e9\\u00e9\\u00e9\\u00e9\","
		" \"a\\nb\\nc\", 12345678901234567890, \"abc\"]", J);
	char buf[64];

	/* fits exactly: "abcdefghij" is 12 characters */
	aml_doc_describe(&r->children[0], buf, 13);
	assert_string_equal(buf, "\"abcdefghij\"");
	aml_doc_describe(&r->children[0], buf, 12);
	assert_string_equal(buf, "\"abcdef...\"");
	aml_doc_describe(&r->children[0], buf, 9);
	assert_string_equal(buf, "\"abc...\"");
	aml_doc_describe(&r->children[0], buf, 6);
	assert_string_equal(buf, "\"...\"");
	/* too small for even that: nothing rather than half a form */
	aml_doc_describe(&r->children[0], buf, 5);
	assert_string_equal(buf, "");
	aml_doc_describe(&r->children[0], buf, 2);
	assert_string_equal(buf, "");
	aml_doc_describe(&r->children[0], buf, 1);
	assert_string_equal(buf, "");
	/* len 0 writes nothing at all */
	buf[0] = 'X';
	aml_doc_describe(&r->children[0], buf, 0);
	assert_int_equal(buf[0], 'X');
	aml_doc_describe(&r->children[0], NULL, 10);

	/* a UTF-8 character is never split: each é is 2 bytes */
	aml_doc_describe(&r->children[1], buf, 10);
	assert_string_equal(buf, "\"\xc3\xa9\xc3\xa9...\"");
	aml_doc_describe(&r->children[1], buf, 9);
	assert_string_equal(buf, "\"\xc3\xa9...\"");
	/* nor an escape */
	aml_doc_describe(&r->children[2], buf, 11);
	assert_string_equal(buf, "\"a\\x0a...\"");
	aml_doc_describe(&r->children[2], buf, 10);
	assert_string_equal(buf, "\"a...\"");
	/* numbers are cut without quotes */
	aml_doc_describe(&r->children[3], buf, 10);
	assert_string_equal(buf, "123456...");
	aml_doc_describe(&r->children[3], buf, 21);
	assert_string_equal(buf, "12345678901234567890");
	aml_doc_describe(&r->children[4], buf, 6);
	assert_string_equal(buf, "\"abc\"");
	aml_doc_free(r);

	/* words are cut too */
	struct aml_node n = { .type = AML_NODE_OBJECT };
	aml_doc_describe(&n, buf, 6);
	assert_string_equal(buf, "an...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_every_type),
		cmocka_unit_test(json_key_order_and_lines),
		cmocka_unit_test(json_scalar_roots),
		cmocka_unit_test(json_number_text),
		cmocka_unit_test(json_bad_numbers),
		cmocka_unit_test(json_strings),
		cmocka_unit_test(json_bad_strings),
		cmocka_unit_test(json_syntax_errors),
		cmocka_unit_test(json_trailing_garbage),
		cmocka_unit_test(json_empty),
		cmocka_unit_test(json_duplicate_keys),
		cmocka_unit_test(json_duplicate_keys_large_object),
		cmocka_unit_test(json_duplicate_keys_same_hash),
		cmocka_unit_test(json_depth_limit),
		cmocka_unit_test(invalid_utf8),
		cmocka_unit_test(bom_accepted),
		cmocka_unit_test(auto_detection),
		cmocka_unit_test(unknown_syntax),
		cmocka_unit_test(null_errors_list),
		cmocka_unit_test(large_document),
		cmocka_unit_test(yaml_block_config),
		cmocka_unit_test(yaml_flow_style),
		cmocka_unit_test(yaml_core_schema),
		cmocka_unit_test(yaml_quoted_and_block_are_strings),
		cmocka_unit_test(yaml_multiline_strings),
		cmocka_unit_test(yaml_tags),
		cmocka_unit_test(yaml_integer_overflow),
		cmocka_unit_test(yaml_anchors_aliases),
		cmocka_unit_test(yaml_merge_keys),
		cmocka_unit_test(yaml_documents),
		cmocka_unit_test(yaml_empty),
		cmocka_unit_test(yaml_duplicate_keys),
		cmocka_unit_test(yaml_non_scalar_keys),
		cmocka_unit_test(yaml_depth_limit),
		cmocka_unit_test(yaml_syntax_errors),
		cmocka_unit_test(yaml_refuses_utf16),
		cmocka_unit_test(yaml_unicode),
		cmocka_unit_test(json_yaml_agree),
		cmocka_unit_test(get_member),
		cmocka_unit_test(type_names),
		cmocka_unit_test(describe_values),
		cmocka_unit_test(describe_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
