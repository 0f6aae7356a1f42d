/*
 * doc.h: a parsed JSON or YAML document as one small tree.
 *
 * Run configurations arrive as JSON or YAML.  Both are read into this tree,
 * which keeps what a generic JSON library throws away and the rules need:
 *   - the source line of every value, for error messages;
 *   - the exact text of every number, so "1.0" stays a float and
 *     "10000000000000000000" stays an integer (Python's str() differs);
 *   - key order, and duplicate keys are refused instead of silently merged
 *     (a key given twice must not quietly pick one value).
 *
 * YAML is read with the YAML 1.2 core schema: unquoted true/false/null/~,
 * integers (decimal, 0o octal, 0x hex), floats (including .inf/.nan);
 * everything else, and every quoted scalar, is a string.  Anchors and
 * aliases, tags other than the core ones, and multi-document streams are
 * refused.  Nesting is bounded (AML_DOC_MAX_DEPTH) so hostile input cannot
 * exhaust the stack.
 */
#ifndef AML_DOC_H
#define AML_DOC_H

#include <stddef.h>

#include "errors.h"

#define AML_DOC_MAX_DEPTH 64

enum aml_node_type {
	AML_NODE_NULL,
	AML_NODE_BOOL,
	AML_NODE_INT,    /* integer text: digits with optional '-' */
	AML_NODE_FLOAT,  /* decimal text, or "inf", "-inf", "nan" */
	AML_NODE_STRING,
	AML_NODE_ARRAY,
	AML_NODE_OBJECT,
};

struct aml_node {
	enum aml_node_type type;
	int line;                 /* 1-based source line */
	char *key;                /* member name when the parent is an object */
	char *text;               /* STRING: value (NUL-terminated, may hold
				   * embedded NULs only if len says so);
				   * INT/FLOAT: the number as written, with
				   * YAML's 0x/0o forms converted to decimal */
	size_t len;               /* length of text */
	int boolean;              /* BOOL: 0 or 1 */
	struct aml_node *children; /* ARRAY/OBJECT: array of n_children */
	size_t n_children;
};

enum aml_doc_syntax {
	AML_DOC_AUTO,  /* JSON when the first non-blank byte is '{' or '[' */
	AML_DOC_JSON,
	AML_DOC_YAML,
};

/*
 * Parse [len] bytes of [text] as [syntax].  On success returns a malloc'd
 * tree (free with aml_doc_free).  On failure returns NULL and adds one line
 * to [errs] naming the line and what is wrong ("line 3: expected ',' or
 * '}' after object member").  Input that is not valid UTF-8 is refused.
 */
struct aml_node *aml_doc_parse(const char *text, size_t len,
			       enum aml_doc_syntax syntax,
			       struct aml_errors *errs);

/*
 * Free a tree from aml_doc_parse() (NULL is ignored).  The whole tree is a
 * few arena blocks owned by the root: pass only the root, and do not free
 * or keep any node, key or text of it afterwards (copy what must outlive
 * the tree).
 */
void aml_doc_free(struct aml_node *root);

/*
 * Member [key] of OBJECT [obj], or NULL when absent or [obj] is not an
 * object.  Linear search: configuration objects are small.
 */
const struct aml_node *aml_doc_get(const struct aml_node *obj,
				   const char *key);

/*
 * A short description of the node's type for messages: "a string",
 * "a number", "an object", "true", "null"...
 */
const char *aml_doc_type_name(const struct aml_node *node);

/*
 * Write the node's value as short text for an error message into [buf]
 * (at most [len] bytes with the NUL): strings in double quotes with
 * control characters escaped, long values cut with "...".
 */
void aml_doc_describe(const struct aml_node *node, char *buf, size_t len);

#endif
