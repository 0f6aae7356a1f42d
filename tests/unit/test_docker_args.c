/*
 * test_docker_args.c: Docker's size syntax, and the Docker arguments a
 * run's container may be given (plugin/docker_args.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "docker_args.h"

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
		{ "2g", 2ull << 30 },       { "2G", 2ull << 30 },
		{ "512m", 512ull << 20 },   { "64k", 64ull << 10 },
		{ "1073741824", 1ull << 30 }, { "1gb", 1ull << 30 },
		{ "1GiB", 1ull << 30 },     { "100b", 100 },
		{ "1t", 1ull << 40 },
	};
	static const char *const bad[] = {
		"", "g", "gb", "0", "0g", "-1g", "1.5g", "2 g", "2x", "2gg",
		"18446744073709551615", "99999999999999999999",
		"17179869184g", " 2g", "2g ", "0x10",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		v = 0;
		if (aml_docker_size_parse(good[i].text, &v) != 0)
			fail_msg("%s refused", good[i].text);
		assert_int_equal(v, good[i].bytes);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 7;
		if (aml_docker_size_parse(bad[i], &v) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(v, 7);
	}
}

static int check(char *const *args, size_t n, uint64_t *shm, int *ipc,
		 char *err)
{
	return aml_docker_args_check(args, n, shm, ipc, err, 256);
}

static void test_allowed(void **state)
{
	char *none[] = { NULL };
	char *eq[] = { "--shm-size=2g", "--ipc=host", "--network=host" };
	char *words[] = { "--shm-size", "512m", "--ipc", "host", "--net",
			  "host", "--network", "host", "--net=host" };
	char *last_wins[] = { "--shm-size=1g", "--shm-size=64m" };
	uint64_t shm = 9;
	int ipc = 9;
	char err[256];

	(void)state;
	assert_int_equal(check(none, 0, &shm, &ipc, err), 0);
	assert_int_equal(shm, 0);
	assert_int_equal(ipc, 0);
	assert_int_equal(check(eq, 3, &shm, &ipc, err), 0);
	assert_int_equal(shm, 2ull << 30);
	assert_int_equal(ipc, 1);
	assert_int_equal(check(words, 9, &shm, &ipc, err), 0);
	assert_int_equal(shm, 512ull << 20);
	assert_int_equal(ipc, 1);
	assert_int_equal(check(last_wins, 2, &shm, &ipc, err), 0);
	assert_int_equal(shm, 64ull << 20);
	assert_int_equal(ipc, 0);
}

static void test_refused(void **state)
{
	static const struct {
		char *args[3];
		size_t n;
		const char *message;
	} cases[] = {
		{ { "--privileged" }, 1, "\"--privileged\" is not allowed: a "
		  "run's container takes only --shm-size=SIZE, --ipc=host, "
		  "--network=host or --net=host" },
		{ { "-v", "/:/host" }, 2, "\"-v\" is not allowed: a run's "
		  "container takes only --shm-size=SIZE, --ipc=host, "
		  "--network=host or --net=host" },
		{ { "--shm-sizes=1g" }, 1, "\"--shm-sizes=1g\" is not allowed: "
		  "a run's container takes only --shm-size=SIZE, --ipc=host, "
		  "--network=host or --net=host" },
		{ { "--ipc=host", "host" }, 2, "\"host\" is not allowed: a run's "
		  "container takes only --shm-size=SIZE, --ipc=host, "
		  "--network=host or --net=host" },
		{ { "--shm-size" }, 1, "--shm-size: needs a value" },
		{ { "--ipc" }, 1, "--ipc: needs a value" },
		{ { "--shm-size=lots" }, 1, "--shm-size: must be a size such "
		  "as 2g, 512m or 1073741824 (units k, m, g, t: powers of "
		  "1024), got \"lots\"" },
		{ { "--shm-size", "0" }, 2, "--shm-size: must be a size such "
		  "as 2g, 512m or 1073741824 (units k, m, g, t: powers of "
		  "1024), got \"0\"" },
		{ { "--ipc=private" }, 1, "--ipc: only host is allowed, got "
		  "\"private\"" },
		{ { "--network", "bridge" }, 2, "--network: only host is "
		  "allowed, got \"bridge\"" },
		{ { "--net=none" }, 1, "--net: only host is allowed, got "
		  "\"none\"" },
		{ { "--net=host", "--user=0" }, 2, "\"--user=0\" is not "
		  "allowed: a run's container takes only --shm-size=SIZE, "
		  "--ipc=host, --network=host or --net=host" },
	};
	uint64_t shm;
	int ipc;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		assert_int_equal(check(cases[i].args, cases[i].n, &shm, &ipc,
				       err), -1);
		assert_string_equal(err, cases[i].message);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
