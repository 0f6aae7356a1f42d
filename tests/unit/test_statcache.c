/*
 * Unit tests of plugin/statcache.c: the stat cache's bytes, read back as
 * written, looked up in one pass, and dropped whole when anything in it
 * is off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "statcache.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* where the first and second records end */
#define R1 (91 + 66 + 12)
#define R2 (R1 + 66 + 3)
#define SHA_B "b1b2b3b4b5b6b7b8b9b0b1b2b3b4b5b6b7b8b9b0b1b2b3b4b5b6b7b8b9b0ffff"

static char *sample(size_t *len)
{
	struct aml_stat_cache_writer wr;

	aml_stat_cache_start(&wr, ID, 1, 0); /* reserves too little: grows */
	aml_stat_cache_add(&wr, "a b/caf\xc3\xa9.py", 1, 0, -1, INT64_MIN, SHA_A);
	aml_stat_cache_add(&wr, "a-b", UINT64_MAX, 10240,
			   1700000000123456789LL, INT64_MAX, SHA_B);
	aml_stat_cache_add(&wr, "z", 42, 7, 0, 5, SHA_A);
	return aml_stat_cache_end(&wr, len);
}

static void test_written_then_read(void **state)
{
	struct aml_stat_cache c;
	const struct aml_stat_entry *e;
	char hex[AML_SHA256_HEX_LEN + 1];
	size_t len;
	char *text = sample(&len);

	(void)state;
	assert_non_null(text);
	/* header, manifest line, three records of 66 bytes and their paths */
	assert_int_equal(len, 17 + 74 + 3 * 66 + 12 + 3 + 1);
	assert_memory_equal(text, "aml-stat-cache 2\nmanifest " ID "\n", 91);
	assert_int_equal(aml_stat_cache_parse(text, len, &c), 0);
	assert_int_equal(c.count, 3);
	assert_string_equal(c.manifest, ID);
	e = &c.entries[1];
	assert_int_equal(e->path_len, 3);
	assert_memory_equal(e->path, "a-b", 3);
	assert_true(e->ino == UINT64_MAX);
	assert_true(e->size == 10240);
	assert_true(e->mtime_ns == 1700000000123456789LL);
	assert_true(e->ctime_ns == INT64_MAX);
	aml_sha256_to_hex(e->sha256, hex);
	assert_string_equal(hex, SHA_B);
	assert_true(c.entries[0].mtime_ns == -1);
	assert_true(c.entries[0].ctime_ns == INT64_MIN);
	/* the ino's least significant byte first */
	assert_int_equal((unsigned char)text[91], 1);
	aml_stat_cache_free(&c);
	free(text);
}

/* Entries read back and copied make the same bytes as those written. */
static void test_copy_is_what_was_written(void **state)
{
	struct aml_stat_cache_writer wr;
	struct aml_stat_cache c;
	size_t len, copy_len;
	char *text = sample(&len), *copy;

	(void)state;
	assert_int_equal(aml_stat_cache_parse(text, len, &c), 0);
	aml_stat_cache_start(&wr, ID, 0, 0);
	for (size_t i = 0; i < c.count; i++)
		aml_stat_cache_copy(&wr, &c.entries[i]);
	copy = aml_stat_cache_end(&wr, &copy_len);
	assert_non_null(copy);
	assert_int_equal(copy_len, len);
	assert_memory_equal(copy, text, len);
	free(copy);
	aml_stat_cache_free(&c);
	free(text);
}

static void test_find_in_one_pass(void **state)
{
	struct aml_stat_cache c;
	size_t len;
	char *text = sample(&len);

	(void)state;
	assert_int_equal(aml_stat_cache_parse(text, len, &c), 0);
	assert_null(aml_stat_cache_find(&c, "a"));
	assert_non_null(aml_stat_cache_find(&c, "a b/caf\xc3\xa9.py"));
	assert_null(aml_stat_cache_find(&c, "a b/d"));
	assert_true(aml_stat_cache_find(&c, "a-b")->ino == UINT64_MAX);
	assert_null(aml_stat_cache_find(&c, "m"));
	assert_true(aml_stat_cache_find(&c, "z")->ino == 42);
	assert_null(aml_stat_cache_find(&c, "zz"));
	aml_stat_cache_free(&c);
	free(text);
}

static void assert_dropped(const char *text, size_t len)
{
	struct aml_stat_cache c;

	assert_int_equal(aml_stat_cache_parse(text, len, &c), -1);
	assert_int_equal(c.count, 0);
	assert_string_equal(c.manifest, "");
	assert_null(aml_stat_cache_find(&c, "a-b"));
	aml_stat_cache_free(&c);
}

static void test_anything_off_drops_it(void **state)
{
	size_t len;
	char *text = sample(&len), *copy = malloc(len);
	struct aml_stat_cache c;

	(void)state;
	assert_non_null(copy);
	assert_dropped(NULL, 0);
	assert_dropped("aml-stat-cache 1\nmanifest " ID "\n", 91);
	/* cut anywhere inside a record */
	for (size_t cut = 92; cut < len; cut++)
		if (cut != R1 && cut != R2)
			assert_dropped(text, cut);
	/* a manifest id that is not hex */
	memcpy(copy, text, len);
	copy[30] = 'G';
	assert_dropped(copy, len);
	/* a path length of 0, then one longer than what is left */
	memcpy(copy, text, len);
	copy[91 + 64] = 0;
	copy[91 + 65] = 0;
	assert_dropped(copy, len);
	memcpy(copy, text, len);
	copy[91 + 65] = 0x01;
	assert_dropped(copy, len);
	/* out of order: "a" after "a-b" */
	memcpy(copy, text, len);
	copy[R2 + 66] = 'a';
	assert_dropped(copy, len);
	/* cut after a record, or after the header: shorter, still a cache */
	assert_int_equal(aml_stat_cache_parse(text, R2, &c), 0);
	assert_int_equal(c.count, 2);
	aml_stat_cache_free(&c);
	assert_int_equal(aml_stat_cache_parse(text, 91, &c), 0);
	assert_int_equal(c.count, 0);
	assert_string_equal(c.manifest, ID);
	aml_stat_cache_free(&c);
	free(copy);
	free(text);
}

static void test_writer_refuses_what_would_be_dropped(void **state)
{
	struct aml_stat_cache_writer wr;
	char long_path[4098];
	size_t len;

	(void)state;
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	aml_stat_cache_start(&wr, ID, 0, 0);
	aml_stat_cache_add(&wr, long_path, 1, 1, 1, 1, SHA_A);
	assert_null(aml_stat_cache_end(&wr, &len));
	assert_int_equal(len, 0);
	aml_stat_cache_start(&wr, ID, 0, 0);
	aml_stat_cache_add(&wr, "x", 1, 1, 1, 1, "not a hash");
	assert_null(aml_stat_cache_end(&wr, &len));
	aml_stat_cache_start(&wr, "not an id", 0, 0);
	assert_null(aml_stat_cache_end(&wr, &len));
	aml_stat_cache_start(&wr, ID, 0, 0);
	aml_stat_cache_add(&wr, "", 1, 1, 1, 1, SHA_A);
	assert_null(aml_stat_cache_end(&wr, &len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_written_then_read),
		cmocka_unit_test(test_copy_is_what_was_written),
		cmocka_unit_test(test_find_in_one_pass),
		cmocka_unit_test(test_anything_off_drops_it),
		cmocka_unit_test(test_writer_refuses_what_would_be_dropped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
