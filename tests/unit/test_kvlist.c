/*
 * test_kvlist.c: the list of key/value strings (plugin/kvlist.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kvlist.h"

static void kv_push(struct aml_kvlist *l, const char *k, const char *v)
{
	struct aml_kv *items = realloc(l->items, (l->count + 1) * sizeof(*items));

	assert_non_null(items);
	l->items = items;
	l->items[l->count].key = strdup(k);
	l->items[l->count].value = strdup(v);
	l->count++;
}

/* The same outcome as one aml_kvlist_set per pair, in order. */
static void test_kvlist_merge_as_set(void **state)
{
	struct aml_kvlist dst = { 0 }, src = { 0 }, want = { 0 };

	(void)state;
	kv_push(&dst, "B", "1");
	kv_push(&dst, "A", "2");
	kv_push(&src, "C", "3");
	kv_push(&src, "A", "4");
	kv_push(&src, "D", "5");
	kv_push(&src, "C", "6");
	for (size_t i = 0; i < dst.count; i++)
		assert_int_equal(aml_kvlist_set(&want, dst.items[i].key,
						dst.items[i].value), 0);
	for (size_t i = 0; i < src.count; i++)
		assert_int_equal(aml_kvlist_set(&want, src.items[i].key,
						src.items[i].value), 0);
	assert_int_equal(aml_kvlist_merge(&dst, &src), 0);
	assert_int_equal(src.count, 0);
	assert_null(src.items);
	assert_int_equal(dst.count, want.count);
	for (size_t i = 0; i < want.count; i++) {
		assert_string_equal(dst.items[i].key, want.items[i].key);
		assert_string_equal(dst.items[i].value, want.items[i].value);
	}
	/* B=1 A=4 C=6 D=5 */
	assert_string_equal(dst.items[2].key, "C");
	assert_string_equal(dst.items[2].value, "6");
	/* Nothing to merge, and into an empty list. */
	assert_int_equal(aml_kvlist_merge(&dst, &src), 0);
	assert_int_equal(dst.count, 4);
	aml_kvlist_free(&want);
	kv_push(&src, "X", "1");
	assert_int_equal(aml_kvlist_merge(&want, &src), 0);
	assert_int_equal(want.count, 1);
	assert_string_equal(want.items[0].key, "X");
	aml_kvlist_free(&want);
	aml_kvlist_free(&dst);
}

/* A key set again keeps its first place and takes the new value. */
static void test_kvlist_set_get(void **state)
{
	struct aml_kvlist l = { 0 };

	(void)state;
	assert_null(aml_kvlist_get(&l, "A"));
	assert_int_equal(aml_kvlist_set(&l, "A", "1"), 0);
	assert_int_equal(aml_kvlist_set(&l, "B", "2"), 0);
	assert_int_equal(aml_kvlist_set(&l, "A", "3"), 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.items[0].key, "A");
	assert_string_equal(aml_kvlist_get(&l, "A"), "3");
	assert_string_equal(aml_kvlist_get(&l, "B"), "2");
	assert_null(aml_kvlist_get(&l, "C"));
	aml_kvlist_free(&l);
	assert_null(l.items);
	assert_int_equal(l.count, 0);
	aml_kvlist_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvlist_merge_as_set),
		cmocka_unit_test(test_kvlist_set_get),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
