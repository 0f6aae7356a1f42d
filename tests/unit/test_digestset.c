/*
 * test_digestset.c: the set of SHA-256 digests that snapshot gc marks
 * kept blobs in (plugin/digestset.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "digestset.h"

/* A digest whose first eight bytes (the table's hash) are [h] and whose
 * last byte is [tail]: equal hashes, different keys make collisions. */
static void key_of(unsigned char key[32], uint64_t h, unsigned char tail)
{
	memset(key, 0, 32);
	memcpy(key, &h, sizeof(h));
	key[31] = tail;
}

static void test_empty_set_has_nothing(void **state)
{
	struct aml_digest_set set = { 0 };
	unsigned char key[32];

	(void)state;
	key_of(key, 1, 0);
	assert_false(aml_digest_set_has(&set, key));
	aml_digest_set_free(&set);
	aml_digest_set_free(&set);
	assert_int_equal(set.count, 0);
}

static void test_add_twice_counts_once(void **state)
{
	struct aml_digest_set set = { 0 };
	unsigned char key[32];

	(void)state;
	key_of(key, 42, 7);
	assert_int_equal(aml_digest_set_add(&set, key), 0);
	assert_int_equal(aml_digest_set_add(&set, key), 0);
	assert_int_equal(set.count, 1);
	assert_true(aml_digest_set_has(&set, key));
	key[31] = 8;
	assert_false(aml_digest_set_has(&set, key));
	aml_digest_set_free(&set);
}

/* Keys that all hash to one slot still each stay findable. */
static void test_collisions(void **state)
{
	struct aml_digest_set set = { 0 };
	unsigned char key[32];

	(void)state;
	for (unsigned i = 0; i < 200; i++) {
		key_of(key, 5, (unsigned char)i);
		assert_int_equal(aml_digest_set_add(&set, key), 0);
	}
	assert_int_equal(set.count, 200);
	for (unsigned i = 0; i < 200; i++) {
		key_of(key, 5, (unsigned char)i);
		assert_true(aml_digest_set_has(&set, key));
	}
	key_of(key, 6, 0);
	assert_false(aml_digest_set_has(&set, key));
	aml_digest_set_free(&set);
}

/* Growing past the first tables keeps every key and stays under half
 * full. */
static void test_growth_keeps_everything(void **state)
{
	struct aml_digest_set set = { 0 };
	unsigned char key[32];
	const unsigned n = 100000;

	(void)state;
	for (unsigned i = 0; i < n; i++) {
		key_of(key, (uint64_t)i * 0x9e3779b97f4a7c15ULL, 1);
		assert_int_equal(aml_digest_set_add(&set, key), 0);
	}
	assert_int_equal(set.count, n);
	assert_true(set.count * 2 <= set.mask + 1);
	for (unsigned i = 0; i < n; i++) {
		key_of(key, (uint64_t)i * 0x9e3779b97f4a7c15ULL, 1);
		assert_true(aml_digest_set_has(&set, key));
		key[31] = 2;
		assert_false(aml_digest_set_has(&set, key));
	}
	aml_digest_set_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_set_has_nothing),
		cmocka_unit_test(test_add_twice_counts_once),
		cmocka_unit_test(test_collisions),
		cmocka_unit_test(test_growth_keeps_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
