/*
 * doc.c: the front of the document reader (doc.h): checks the encoding,
 * picks the syntax and hands the text to its reader (doc_json.c,
 * doc_yaml.c), which builds the tree with doc_tree.c; then what callers
 * ask of a finished tree.
 */
#include "doc_internal.h"
#include "text.h"
#include "utf8.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the public API ---- */

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
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
	bad = aml_utf8_invalid_at(u, len);
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
			aml_text_quote(node->text ? node->text : "",
				       node->text ? node->len : 0, buf, len);
			return;
		case AML_NODE_INT:
		case AML_NODE_FLOAT:
			if (node->text) {
				aml_text_escape_n(node->text, node->len, buf,
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
	aml_text_escape(word, buf, len);
}
