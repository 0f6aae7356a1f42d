/*
 * test_suggest.c: "did you mean" (plugin/suggest.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "suggest.h"

static const char *const keys[] = {
	"source_directory", "script", "arguments", "compute_target",
	"node_count", "distributed_job_config", "max_run_duration_seconds",
	"environment", "docker_runtime_config",
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static void distance_basics(void **state)
{
	(void)state;
	assert_int_equal(aml_edit_distance("", ""), 0);
	assert_int_equal(aml_edit_distance("abc", ""), 3);
	assert_int_equal(aml_edit_distance("", "abc"), 3);
	assert_int_equal(aml_edit_distance("abc", "abc"), 0);
	assert_int_equal(aml_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(aml_edit_distance("abc", "abd"), 1);   /* substitute */
	assert_int_equal(aml_edit_distance("abc", "abcd"), 1);  /* insert */
	assert_int_equal(aml_edit_distance("abcd", "abc"), 1);  /* delete */
	assert_int_equal(aml_edit_distance("ab", "ba"), 1);     /* swap */
	assert_int_equal(aml_edit_distance("scirpt", "script"), 1);
	/* optimal string alignment, not full Damerau: no edit of a swap */
	assert_int_equal(aml_edit_distance("ca", "abc"), 3);
	/* symmetric */
	assert_int_equal(aml_edit_distance("abc", "ca"), 3);
}

static void distance_normalises(void **state)
{
	(void)state;
	assert_int_equal(aml_edit_distance("maxRunDuration",
					   "max_run_duration"), 0);
	assert_int_equal(aml_edit_distance("max-run-duration",
					   "MAX_RUN_DURATION"), 0);
	assert_int_equal(aml_edit_distance("NodeCount", "node_count"), 0);
	assert_int_equal(aml_edit_distance("__", ""), 0);
	assert_int_equal(aml_edit_distance("a_b", "ab_"), 0);
	/* only ASCII letters change case */
	assert_int_equal(aml_edit_distance("\xc3\x89", "\xc3\xa9"), 1);
	assert_int_equal(aml_edit_distance(NULL, "a"), 255);
	assert_int_equal(aml_edit_distance("a", NULL), 255);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void distance_capped(void **state)
{
	(void)state;
	char *a = repeat('a', 300), *b = repeat('b', 300), *c = repeat('a', 10);
	char *long_a = repeat('a', 100000), *long_b = repeat('a', 100000);

	assert_int_equal(aml_edit_distance(a, b), 255);
	assert_int_equal(aml_edit_distance(a, c), 255);
	assert_int_equal(aml_edit_distance(a, ""), 255);
	/* equal long words: the banded table stays cheap */
	assert_int_equal(aml_edit_distance(long_a, long_b), 0);
	long_b[50000] = 'b';
	assert_int_equal(aml_edit_distance(long_a, long_b), 1);
	long_b[99999] = '\0';
	assert_int_equal(aml_edit_distance(long_a, long_b), 2);
	/* just under the cap is exact */
	a[254] = '\0';
	assert_int_equal(aml_edit_distance(a, ""), 254);
	free(a);
	free(b);
	free(c);
	free(long_a);
	free(long_b);
}

static void suggests_close_keys(void **state)
{
	(void)state;
	static const struct {
		const char *word;
		const char *expect;   /* NULL: no suggestion */
	} cases[] = {
		{ "max_run_duration_second", "max_run_duration_seconds" },
		{ "maxRunDurationSeconds", "max_run_duration_seconds" },
		{ "MaxRunDurationSeconds", "max_run_duration_seconds" },
		{ "max-run-duration-seconds", "max_run_duration_seconds" },
		{ "nodecount", "node_count" },
		{ "node_cuont", "node_count" },
		{ "node_counts", "node_count" },
		{ "scirpt", "script" },
		{ "scrip", "script" },
		{ "Script", "script" },
		{ "argumnets", "arguments" },
		{ "args", NULL },
		{ "enviroment", "environment" },
		{ "environmnet_", "environment" },
		{ "computetarget", "compute_target" },
		/* a v2 user writing form 1: the unique key extending it */
		{ "compute", "compute_target" },
		{ "src_dir", NULL },
		{ "xyz", NULL },
		{ "", NULL },
		/* 17 letters allow 5 edits; "job" is 3 */
		{ "distributed_config", "distributed_job_config" },
		{ "distributed_job_configs", "distributed_job_config" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = aml_suggest(cases[i].word, keys, N_KEYS);

		if (cases[i].expect == NULL) {
			if (got)
				print_error("%s -> %s\n", cases[i].word, got);
			assert_null(got);
		} else {
			if (!got)
				print_error("%s -> nothing\n", cases[i].word);
			assert_non_null(got);
			assert_string_equal(got, cases[i].expect);
			/* the candidate itself, not a copy */
			assert_true(got == cases[i].expect ||
				    strcmp(got, cases[i].expect) == 0);
		}
	}
}

static void threshold(void **state)
{
	(void)state;
	/* short words: at most 2 edits */
	static const char *const c1[] = { "abcdef" };
	assert_non_null(aml_suggest("abcdxx", c1, 1));
	assert_null(aml_suggest("abcxxx", c1, 1));
	assert_non_null(aml_suggest("ab", (const char *const[]){ "abcd" }, 1));
	assert_null(aml_suggest("ab", (const char *const[]){ "abcde" }, 1));
	/* longer words: len / 3 of the normalised word (12 -> 4) */
	static const char *const c2[] = { "abcdefghijkl" };
	assert_non_null(aml_suggest("abcdefghxxxx", c2, 1));
	assert_null(aml_suggest("abcdefgxxxxx", c2, 1));
	/* separators do not lengthen the word: a_b_c_d_e_f is 6 long -> 2 */
	static const char *const c3[] = { "abcdef" };
	assert_null(aml_suggest("a_b_c_x_x_x", c3, 1));
	assert_non_null(aml_suggest("a_b_c_d_x_x", c3, 1));
}

static void ties_and_nulls(void **state)
{
	(void)state;
	const char *const c[] = { NULL, "cat", "car", NULL, "cab" };
	const char *const best[] = { "cart", "car" };

	/* "cas" is one edit from all three: the earliest wins */
	assert_ptr_equal(aml_suggest("cas", c, 5), c[1]);
	/* the closest wins over an earlier one */
	assert_ptr_equal(aml_suggest("car", best, 2), best[1]);
	assert_null(aml_suggest("cas", c, 0));
	assert_null(aml_suggest("cas", NULL, 3));
	assert_null(aml_suggest(NULL, c, 5));
	{
		const char *const only_null[] = { NULL, NULL };

		assert_null(aml_suggest("x", only_null, 2));
	}
}

static void long_inputs(void **state)
{
	(void)state;
	char *word = repeat('x', 100000);
	char *cand = repeat('x', 200);
	const char *const c[] = { "script", cand };

	/* a hostile key costs nothing and matches nothing */
	assert_null(aml_suggest(word, c, 2));
	word[201] = '\0';
	assert_ptr_equal(aml_suggest(word, c, 2), cand);
	free(word);
	free(cand);
}

/* A truncated key: too many edits away, but the only key extending it. */
static void suggests_unique_extension(void **state)
{
	static const char *const mpi[] = { "type", "process_count_per_node",
					   "node_count" };
	static const char *const two[] = { "process_count_per_node",
					   "process_count_per_instance" };

	(void)state;
	assert_string_equal(aml_suggest("process_count", mpi, 3),
			    "process_count_per_node");
	assert_string_equal(aml_suggest("processCount", mpi, 3),
			    "process_count_per_node");
	/* Two keys extend it: no confident guess. */
	assert_null(aml_suggest("process_count", two, 2));
	/* Short words are too ambiguous to extend. */
	assert_null(aml_suggest("node", mpi + 1, 1));
	/* Within the edit limit, the close key still wins over an extension. */
	assert_string_equal(aml_suggest("node_coun", mpi, 3), "node_count");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(distance_basics),
		cmocka_unit_test(distance_normalises),
		cmocka_unit_test(distance_capped),
		cmocka_unit_test(suggests_close_keys),
		cmocka_unit_test(threshold),
		cmocka_unit_test(ties_and_nulls),
		cmocka_unit_test(long_inputs),
		cmocka_unit_test(suggests_unique_extension),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
