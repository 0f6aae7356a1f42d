/*
 * test_hash.c: SHA-256 through libcrypto (plugin/hash.c), against the
 * standard's test vectors and against coreutils' sha256sum.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* popen */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"

#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256 \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MILLION_A_SHA256 \
	"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void test_empty(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1];
	struct aml_sha256 h;

	(void)state;
	assert_int_equal(aml_sha256_buffer("", 0, hex), 0);
	assert_string_equal(hex, EMPTY_SHA256);
	assert_int_equal(aml_sha256_buffer(NULL, 0, hex), 0);
	assert_string_equal(hex, EMPTY_SHA256);
	assert_int_equal(aml_sha256_init(&h), 0);
	assert_int_equal(aml_sha256_update(&h, NULL, 0), 0);
	assert_int_equal(aml_sha256_final(&h, hex), 0);
	assert_string_equal(hex, EMPTY_SHA256);
}

static void test_abc(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1];
	struct aml_sha256 h;

	(void)state;
	assert_int_equal(aml_sha256_buffer("abc", 3, hex), 0);
	assert_string_equal(hex, ABC_SHA256);
	/* Split updates give the same digest. */
	assert_int_equal(aml_sha256_init(&h), 0);
	assert_int_equal(aml_sha256_update(&h, "a", 1), 0);
	assert_int_equal(aml_sha256_update(&h, "bc", 2), 0);
	assert_int_equal(aml_sha256_final(&h, hex), 0);
	assert_string_equal(hex, ABC_SHA256);
}

static void test_million_a(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1];
	char *buf = malloc(1000000);

	(void)state;
	assert_non_null(buf);
	memset(buf, 'a', 1000000);
	assert_int_equal(aml_sha256_buffer(buf, 1000000, hex), 0);
	assert_string_equal(hex, MILLION_A_SHA256);
	free(buf);
}

/* A 1 MiB pseudo-random buffer, digested whole and in odd-sized pieces,
 * must match what sha256sum says of the same bytes. */
static void test_one_megabyte_against_sha256sum(void **state)
{
	enum { SIZE = 1 << 20 };
	char path[] = "/tmp/test_hash.XXXXXX", cmd[64], line[128];
	char whole[AML_SHA256_HEX_LEN + 1], pieces[AML_SHA256_HEX_LEN + 1];
	unsigned char *buf = malloc(SIZE);
	struct aml_sha256 h;
	uint32_t x = 2463534242u;
	size_t at = 0, step = 1;
	FILE *p;
	int fd;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
	assert_int_equal(aml_sha256_buffer(buf, SIZE, whole), 0);
	assert_int_equal(aml_sha256_init(&h), 0);
	while (at < SIZE) {
		size_t n = step < SIZE - at ? step : SIZE - at;

		assert_int_equal(aml_sha256_update(&h, buf + at, n), 0);
		at += n;
		step = step * 3 + 1;
	}
	assert_int_equal(aml_sha256_final(&h, pieces), 0);
	assert_string_equal(whole, pieces);

	if (system("command -v sha256sum >/dev/null 2>&1") != 0) {
		free(buf);
		print_message("# SKIP: sha256sum is not installed\n");
		skip();
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, SIZE), SIZE);
	close(fd);
	free(buf);
	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	unlink(path);
	line[AML_SHA256_HEX_LEN] = '\0';
	assert_string_equal(whole, line);
}

static void test_final_releases_context(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1];
	struct aml_sha256 h;

	(void)state;
	assert_int_equal(aml_sha256_init(&h), 0);
	assert_int_equal(aml_sha256_final(&h, hex), 0);
	assert_null(h.ctx);
	/* A finished digest cannot be used again. */
	assert_int_equal(aml_sha256_update(&h, "x", 1), -1);
	assert_int_equal(aml_sha256_final(&h, hex), -1);
	aml_sha256_abort(&h);
}

static void test_abort(void **state)
{
	struct aml_sha256 h;

	(void)state;
	assert_int_equal(aml_sha256_init(&h), 0);
	assert_int_equal(aml_sha256_update(&h, "abc", 3), 0);
	aml_sha256_abort(&h);   /* valgrind: nothing leaked */
	assert_null(h.ctx);
	aml_sha256_abort(&h);   /* twice is harmless */
}

static void test_is_hex(void **state)
{
	char upper[] = ABC_SHA256;

	(void)state;
	assert_true(aml_sha256_is_hex(ABC_SHA256));
	assert_true(aml_sha256_is_hex(EMPTY_SHA256));
	upper[0] = 'B';
	assert_false(aml_sha256_is_hex(upper));
	assert_false(aml_sha256_is_hex(ABC_SHA256 "0"));
	assert_false(aml_sha256_is_hex(&ABC_SHA256[1]));
	assert_false(aml_sha256_is_hex(""));
	assert_false(aml_sha256_is_hex(NULL));
	upper[0] = 'g';
	assert_false(aml_sha256_is_hex(upper));
}

/* A store's blob directory is named by 2 digits and its blobs by 62. */
static void test_hex_is_lower(void **state)
{
	(void)state;
	assert_true(aml_hex_is_lower("ba", 2));
	assert_true(aml_hex_is_lower("", 0));
	assert_false(aml_hex_is_lower("ba7", 2));
	assert_false(aml_hex_is_lower("b", 2));
	assert_false(aml_hex_is_lower("bA", 2));
	assert_false(aml_hex_is_lower("..", 2));
	assert_false(aml_hex_is_lower(NULL, 2));
}

static void test_to_bin(void **state)
{
	unsigned char bin[32], back[32];
	char hex[AML_SHA256_HEX_LEN + 1];

	(void)state;
	aml_sha256_to_bin(ABC_SHA256, bin);
	assert_int_equal(bin[0], 0xba);
	assert_int_equal(bin[1], 0x78);
	assert_int_equal(bin[31], 0xad);
	for (int i = 0; i < 32; i++)
		snprintf(&hex[2 * i], 3, "%02x", bin[i]);
	assert_string_equal(hex, ABC_SHA256);
	aml_sha256_to_bin(EMPTY_SHA256, back);
	assert_int_equal(back[0], 0xe3);
	assert_int_equal(back[31], 0x55);
	memset(hex, 'x', sizeof(hex));
	aml_sha256_to_hex(bin, hex);
	assert_string_equal(hex, ABC_SHA256);
	aml_sha256_to_hex(back, hex);
	assert_string_equal(hex, EMPTY_SHA256);
}

/* The reference vectors of the SipHash paper: key 00..0f, messages
 * 00, 00 01, ... (vectors.h of the reference code). */
static void test_siphash_vectors(void **state)
{
	unsigned char key[16], msg[64];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (unsigned char)i;
	assert_true(aml_siphash24(msg, 0, key) == 0x726fdb47dd0e0e31ULL);
	assert_true(aml_siphash24(msg, 1, key) == 0x74f839c593dc67fdULL);
	assert_true(aml_siphash24(msg, 8, key) == 0x93f5f5799a932462ULL);
	assert_true(aml_siphash24(msg, 15, key) == 0xa129ca6149be45e5ULL);
	/* The key matters. */
	key[0] ^= 1;
	assert_true(aml_siphash24(msg, 15, key) != 0xa129ca6149be45e5ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_abc),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_one_megabyte_against_sha256sum),
		cmocka_unit_test(test_final_releases_context),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_is_hex),
		cmocka_unit_test(test_hex_is_lower),
		cmocka_unit_test(test_to_bin),
		cmocka_unit_test(test_siphash_vectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
