/*
 * Unit tests of plugin/random.c: random bytes for secrets, and bits for
 * names that must not clash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "random.h"

/* Every byte of the buffer is written, however large: getrandom(2) may
 * return fewer bytes than asked for, and the rest must still come. */
static void test_random_fills_the_buffer(void **state)
{
	static unsigned char a[1 << 20], b[1 << 20];
	size_t zero = 0, same = 0;

	(void)state;
	assert_int_equal(aml_random(a, sizeof(a)), 0);
	assert_int_equal(aml_random(b, sizeof(b)), 0);
	for (size_t i = 0; i < sizeof(a); i++) {
		zero += a[i] == 0;
		same += a[i] == b[i];
	}
	/* about 4096 each by chance; far more means bytes left unwritten */
	assert_true(zero < 8192);
	assert_true(same < 8192);
	assert_int_equal(aml_random(a, 0), 0);
}

static void test_unique_bits_differ(void **state)
{
	unsigned long long seen[64];

	(void)state;
	for (size_t i = 0; i < 64; i++) {
		seen[i] = aml_unique_bits();
		for (size_t j = 0; j < i; j++)
			assert_true(seen[i] != seen[j]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_fills_the_buffer),
		cmocka_unit_test(test_unique_bits_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
