/*
 * test_runid_claims.c: the controller's memory of which user each run id
 * was accepted for (plugin/runid_claims.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runid_claims.h"

static const unsigned char key[16] = { 1, 2, 3, 4, 5, 6, 7, 8,
				       9, 10, 11, 12, 13, 14, 15, 16 };

static void test_first_claim_wins(void **state)
{
	struct aml_runid_claims c;
	uint32_t uid = 0, owner = 0;

	(void)state;
	assert_int_equal(aml_runid_claims_init(&c, 8, key), 0);
	assert_int_equal(aml_runid_claims_owner(&c, "exp_1_aa", &uid), 0);
	assert_int_equal(aml_runid_claims_add(&c, "exp_1_aa", 1000, NULL), 0);
	assert_int_equal(aml_runid_claims_owner(&c, "exp_1_aa", &uid), 1);
	assert_int_equal(uid, 1000);
	/* The same user again: a resubmission. */
	assert_int_equal(aml_runid_claims_add(&c, "exp_1_aa", 1000, &owner), 0);
	assert_int_equal(c.count, 1);
	/* Another user: refused, and told whose it is. */
	assert_int_equal(aml_runid_claims_add(&c, "exp_1_aa", 1001, &owner), 1);
	assert_int_equal(owner, 1000);
	assert_int_equal(aml_runid_claims_add(&c, "exp_1_aa", 1001, NULL), 1);
	assert_int_equal(aml_runid_claims_owner(&c, "exp_1_aa", &uid), 1);
	assert_int_equal(uid, 1000);
	/* Ids are compared whole. */
	assert_int_equal(aml_runid_claims_owner(&c, "exp_1_a", &uid), 0);
	assert_int_equal(aml_runid_claims_owner(&c, "exp_1_aaa", &uid), 0);
	assert_int_equal(aml_runid_claims_add(&c, "exp_1_a", 1001, NULL), 0);
	aml_runid_claims_free(&c);
	aml_runid_claims_free(&c);
}

/* Beyond its capacity the table forgets the oldest claims first, and
 * only them. */
static void test_oldest_forgotten_first(void **state)
{
	struct aml_runid_claims c;
	char id[32];
	uint32_t uid;

	(void)state;
	assert_int_equal(aml_runid_claims_init(&c, 4, key), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "run_%d", i);
		assert_int_equal(aml_runid_claims_add(&c, id, 1000 + i, NULL),
				 0);
		assert_true(c.count <= 4);
	}
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "run_%d", i);
		assert_int_equal(aml_runid_claims_owner(&c, id, &uid), i >= 6);
		if (i >= 6)
			assert_int_equal(uid, 1000 + i);
	}
	/* A forgotten id can be claimed again, by anyone. */
	assert_int_equal(aml_runid_claims_add(&c, "run_0", 2000, NULL), 0);
	assert_int_equal(aml_runid_claims_owner(&c, "run_6", &uid), 0);
	assert_int_equal(aml_runid_claims_owner(&c, "run_0", &uid), 1);
	assert_int_equal(uid, 2000);
	aml_runid_claims_free(&c);
}

/* Many ids through a small table: every lookup agrees with a plain
 * record of the last [capacity] ids, whatever shares a bucket. */
static void test_agrees_with_a_plain_list(void **state)
{
	enum { CAP = 100, N = 5000 };
	struct aml_runid_claims c;
	char id[32];
	uint32_t uid;

	(void)state;
	assert_int_equal(aml_runid_claims_init(&c, CAP, key), 0);
	for (int i = 0; i < N; i++) {
		/* Every third id repeats an earlier one, some still held. */
		int n = i % 3 == 2 ? i - 50 : i;

		snprintf(id, sizeof(id), "exp_%d", n);
		(void)aml_runid_claims_add(&c, id, (uint32_t)n, NULL);
	}
	assert_int_equal(c.count, CAP);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "exp_%d", i);
		if (aml_runid_claims_owner(&c, id, &uid))
			assert_int_equal(uid, i);
	}
	aml_runid_claims_free(&c);
}

static void test_bad_arguments(void **state)
{
	struct aml_runid_claims c;
	uint32_t uid;

	(void)state;
	assert_int_equal(aml_runid_claims_init(&c, 0, key), -1);
	/* A table that failed to start answers nothing and takes nothing. */
	assert_int_equal(aml_runid_claims_owner(&c, "x", &uid), 0);
	assert_int_equal(aml_runid_claims_add(&c, "x", 1, NULL), -1);
	aml_runid_claims_free(&c);
	assert_int_equal(aml_runid_claims_init(&c, 1, key), 0);
	assert_int_equal(aml_runid_claims_add(&c, NULL, 1, NULL), -1);
	assert_int_equal(aml_runid_claims_owner(&c, NULL, &uid), 0);
	assert_int_equal(aml_runid_claims_add(&c, "a", 1, NULL), 0);
	assert_int_equal(aml_runid_claims_add(&c, "b", 2, NULL), 0);
	assert_int_equal(aml_runid_claims_owner(&c, "a", &uid), 0);
	aml_runid_claims_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_claim_wins),
		cmocka_unit_test(test_oldest_forgotten_first),
		cmocka_unit_test(test_agrees_with_a_plain_list),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
