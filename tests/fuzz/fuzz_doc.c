/*
 * fuzz_doc.c: libFuzzer target for the JSON and YAML readers.
 *
 * Every input is read three ways (JSON, YAML, AUTO).  An accepted tree is
 * walked and its invariants checked, so a reader that builds a broken tree
 * crashes here instead of in the code that trusts it.
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -Iplugin plugin/errors.c plugin/doc.c plugin/doc_json.c \
 *       plugin/doc_yaml.c plugin/pystr.c tests/fuzz/fuzz_doc.c -lyaml \
 *       -o /tmp/fuzz_doc
 *   /tmp/fuzz_doc -dict=tests/fuzz/fuzz_doc.dict tests/fuzz/seeds/fuzz_doc
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "pystr.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

static void walk(const struct aml_node *n, const struct aml_node *parent,
		 int depth)
{
	char small[8], big[200];
	char *s;

	check(depth <= AML_DOC_MAX_DEPTH + 1);
	check(n->line >= 1);
	aml_doc_describe(n, small, sizeof(small));
	check(strlen(small) < sizeof(small));
	aml_doc_describe(n, big, sizeof(big));
	check(strlen(big) < sizeof(big));
	check(aml_doc_type_name(n) != NULL);
	if (parent && parent->type == AML_NODE_OBJECT) {
		/* keys are unique, so a lookup finds this very member */
		check(n->key != NULL);
		check(aml_doc_get(parent, n->key) == n);
	} else {
		check(n->key == NULL);
	}
	switch (n->type) {
	case AML_NODE_STRING:
	case AML_NODE_INT:
	case AML_NODE_FLOAT:
		check(n->text != NULL && n->text[n->len] == '\0');
		check(n->type == AML_NODE_STRING || strlen(n->text) == n->len);
		check(n->n_children == 0);
		break;
	case AML_NODE_ARRAY:
	case AML_NODE_OBJECT:
		check((n->n_children == 0) == (n->children == NULL));
		for (size_t i = 0; i < n->n_children; i++)
			walk(&n->children[i], n, depth + 1);
		return;
	default:
		check(n->n_children == 0);
		break;
	}
	s = aml_pystr(n);
	check(s != NULL);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum aml_doc_syntax syntaxes[] = {
		AML_DOC_JSON, AML_DOC_YAML, AML_DOC_AUTO,
	};

	for (size_t i = 0; i < 3; i++) {
		struct aml_errors errs;
		struct aml_node *root;

		aml_errors_init(&errs, "fuzz");
		root = aml_doc_parse((const char *)data, size, syntaxes[i],
				     &errs);
		/* exactly one message on failure, none on success */
		check(root ? errs.count == 0 : errs.count == 1);
		if (root)
			walk(root, NULL, 1);
		aml_doc_free(root);
		aml_errors_free(&errs);
	}
	return 0;
}
