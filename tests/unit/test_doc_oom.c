/*
 * test_doc_oom.c: every allocation failure in the readers (and in libyaml
 * under them) is survived: no crash, no leak, NULL with a message.
 *
 * malloc, calloc, realloc and free are interposed for the whole process
 * (libyaml included) and fail the Nth allocation, for every N until a
 * parse needs no more.  Not meant for valgrind or ASan, which bring their
 * own allocator; the test skips itself when its hooks are not reached.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#include "doc.h"
#include "pystr.h"
#include "suggest.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

/* volatile: the compiler assumes malloc leaves globals alone */
static volatile int armed;      /* count allocations and fail one */
static volatile long countdown; /* allocations left before the failure */
static volatile int failed;     /* the failure happened */
static volatile long live;      /* allocations not yet freed while armed */
static volatile long hooked;    /* allocations seen at all */

static int should_fail(void)
{
	hooked++;
	if (!armed)
		return 0;
	if (countdown-- == 0) {
		failed = 1;
		return 1;
	}
	return 0;
}

void *malloc(size_t n)
{
	void *p;

	if (should_fail())
		return NULL;
	p = __libc_malloc(n);
	if (p && armed)
		live++;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	p = __libc_calloc(n, size);
	if (p && armed)
		live++;
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p;

	if (should_fail())
		return NULL;
	p = __libc_realloc(old, n);
	if (p && !old && armed)
		live++;
	return p;
}

void free(void *p)
{
	if (p && armed)
		live--;
	__libc_free(p);
}

static void arm(long n)
{
	countdown = n;
	failed = 0;
	live = 0;
	armed = 1;
}

static void disarm(void)
{
	armed = 0;
}

/* Parse [text] failing each allocation in turn. */
static void parse_under_oom(const char *text, enum aml_doc_syntax syntax)
{
	long n;

	for (n = 0; n < 100000; n++) {
		struct aml_errors errs;
		struct aml_node *root;
		char buf[64];

		arm(n);
		aml_errors_init(&errs, "run.json");
		root = aml_doc_parse(text, strlen(text), syntax, &errs);
		if (root) {
			for (size_t i = 0; i < root->n_children; i++)
				aml_doc_describe(&root->children[i], buf,
						 sizeof(buf));
		} else {
			/* a failure always leaves a trace */
			assert_true(aml_errors_any(&errs));
		}
		aml_doc_free(root);
		aml_errors_free(&errs);
		disarm();
		assert_int_equal(live, 0);
		if (!failed)
			break;
	}
	assert_false(failed);
	assert_true(n > 0);
}

static void hooks_reached(void **state)
{
	(void)state;
	long before = hooked;
	void *volatile p = malloc(1);

	free(p);
	if (hooked == before)
		skip();
}

static const char json_config[] =
	"{\"script\": \"train.py\", \"arguments\": [\"--lr\", 0.8, true, null],"
	" \"env\": {\"A\": \"\\u00e9\", \"B\": [[], {}]}, \"n\": 4}";

static const char yaml_config[] =
	"script: train.py\n"
	"arguments: [--lr, 0.8, true, ~]\n"
	"env:\n"
	"  A: \"\\u00e9\"\n"
	"  B: !!int 0x10\n"
	"  C: |\n"
	"    text\n";

static void json_oom(void **state)
{
	(void)state;
	parse_under_oom(json_config, AML_DOC_JSON);
	parse_under_oom(json_config, AML_DOC_AUTO);
	parse_under_oom("{\"a\": 1, \"a\": 2}", AML_DOC_JSON);
	parse_under_oom("[1, 2", AML_DOC_JSON);
}

static void json_oom_large(void **state)
{
	(void)state;
	/* past the local stack and the first chunk */
	char *doc = __libc_malloc(200000);
	size_t at = 0;

	at += (size_t)sprintf(doc + at, "{");
	for (int i = 0; i < 3000; i++)
		at += (size_t)sprintf(doc + at, "%s\"k%d\": [\"v%d\"]",
				      i ? "," : "", i, i);
	sprintf(doc + at, "}");
	parse_under_oom(doc, AML_DOC_JSON);
	__libc_free(doc);
}

static void yaml_oom(void **state)
{
	(void)state;
	parse_under_oom(yaml_config, AML_DOC_YAML);
	parse_under_oom(yaml_config, AML_DOC_AUTO);
	parse_under_oom("a: 1\na: 2\n", AML_DOC_YAML);
	parse_under_oom("a: [1\n", AML_DOC_YAML);
	parse_under_oom("a: *x\n", AML_DOC_YAML);
}

static void pystr_and_suggest_oom(void **state)
{
	(void)state;
	struct aml_node f = { .type = AML_NODE_FLOAT, .text = "0.8", .len = 3 };
	struct aml_node s = { .type = AML_NODE_STRING, .text = "x", .len = 1 };
	struct aml_node i = { .type = AML_NODE_INT, .text = "-007", .len = 4 };
	const struct aml_node *nodes[] = { &f, &s, &i };
	char *long_word = __libc_malloc(1001);
	const char *const cands[] = { "script", "arguments" };

	memset(long_word, 'a', 1000);
	long_word[1000] = '\0';
	for (size_t k = 0; k < 3; k++) {
		char *out;

		arm(0);
		out = aml_pystr(nodes[k]);
		disarm();
		assert_null(out);
	}
	/* the distance needs memory only for long words; none is no match */
	arm(0);
	assert_null(aml_suggest(long_word, cands, 2));
	disarm();
	for (long n = 0; n < 3; n++) {
		arm(n);
		assert_int_equal(aml_edit_distance(long_word, long_word), 255);
		disarm();
		assert_int_equal(live, 0);
	}
	assert_int_equal(live, 0);
	assert_string_equal(aml_suggest("scirpt", cands, 2), "script");
	__libc_free(long_word);
}

/* Both bring their own allocator, which this test's interposed malloc would
 * bypass: under them it proves nothing, so it says so instead of failing. */
static const char *foreign_allocator(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return "AddressSanitizer replaces malloc";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return "AddressSanitizer replaces malloc";
#endif
#endif
#if __has_include(<valgrind/valgrind.h>)
	if (RUNNING_ON_VALGRIND)
		return "valgrind replaces malloc";
#endif
	return NULL;
}

int main(void)
{
	const char *why_not = foreign_allocator();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hooks_reached),
		cmocka_unit_test(json_oom),
		cmocka_unit_test(json_oom_large),
		cmocka_unit_test(yaml_oom),
		cmocka_unit_test(pystr_and_suggest_oom),
	};

	if (why_not) {
		printf("1..0 # SKIP %s; the allocation-failure test runs in the plain build\n",
		       why_not);
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
