/*
 * Unit tests of plugin/kvjson.c: key/value lists as JSON objects of
 * strings, as run history keeps properties and tags.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvjson.h"

static char *encode(const struct aml_kvlist *list)
{
	cJSON *obj = aml_kvlist_to_json(list);
	char *text;

	assert_non_null(obj);
	text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	assert_non_null(text);
	return text;
}

static void test_encode_keeps_order(void **state)
{
	struct aml_kvlist list = { 0 };
	char *text;

	(void)state;
	assert_int_equal(aml_kvlist_set(&list, "b", "2"), 0);
	assert_int_equal(aml_kvlist_set(&list, "a", "say \"1\"\n"), 0);
	assert_int_equal(aml_kvlist_set(&list, "empty", ""), 0);
	text = encode(&list);
	assert_string_equal(text,
			    "{\"b\":\"2\",\"a\":\"say \\\"1\\\"\\n\",\"empty\":\"\"}");
	free(text);
	aml_kvlist_free(&list);
}

static void test_encode_empty_and_null(void **state)
{
	struct aml_kvlist list = { 0 };
	char *text;

	(void)state;
	text = encode(&list);
	assert_string_equal(text, "{}");
	free(text);
	text = encode(NULL);
	assert_string_equal(text, "{}");
	free(text);
}

static void test_round_trip(void **state)
{
	struct aml_kvlist in = { 0 }, out = { 0 };
	char err[128];
	cJSON *obj;

	(void)state;
	assert_int_equal(aml_kvlist_set(&in, "azureml.git.branch", "main"), 0);
	assert_int_equal(aml_kvlist_set(&in, "\xc3\xa9t\xc3\xa9", "\t"), 0);
	obj = aml_kvlist_to_json(&in);
	assert_non_null(obj);
	assert_int_equal(aml_kvlist_from_json(obj, &out, err, sizeof(err)), 0);
	cJSON_Delete(obj);
	assert_int_equal(out.count, 2);
	assert_string_equal(out.items[0].key, "azureml.git.branch");
	assert_string_equal(aml_kvlist_get(&out, "\xc3\xa9t\xc3\xa9"), "\t");
	aml_kvlist_free(&in);
	aml_kvlist_free(&out);
}

static void test_absent_is_empty(void **state)
{
	struct aml_kvlist out = { 0 };

	(void)state;
	assert_int_equal(aml_kvlist_from_json(NULL, &out, NULL, 0), 0);
	assert_int_equal(out.count, 0);
}

/* [json] is refused with errno EBADMSG and [message], nothing kept. */
static void expect_refused(const char *json, const char *message)
{
	struct aml_kvlist out = { 0 };
	cJSON *obj = cJSON_Parse(json);
	char err[128];

	assert_non_null(obj);
	errno = 0;
	assert_int_equal(aml_kvlist_from_json(obj, &out, err, sizeof(err)), -1);
	assert_int_equal(errno, EBADMSG);
	assert_string_equal(err, message);
	assert_int_equal(out.count, 0);
	assert_null(out.items);
	cJSON_Delete(obj);
}

/* What history.c refused and history_file.c skipped: now refused by
 * both, naming the key, and nothing is left half-read. */
static void test_non_string_refused_naming_key(void **state)
{
	static const char *const bad[] = {
		"{\"a\":\"1\",\"n\":1}", "{\"a\":\"1\",\"n\":null}",
		"{\"a\":\"1\",\"n\":{\"x\":\"y\"}}",
		"{\"a\":\"1\",\"n\":[\"x\"]}",
		"{\"a\":\"1\",\"n\":true}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i], "the value of \"n\" is not a string");
}

static void test_not_an_object(void **state)
{
	static const char *const bad[] = { "[]", "\"s\"", "1", "null" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i], "not a JSON object of strings");
}

/* A key is shown escaped: it may be anyone's text. */
static void test_key_shown_escaped(void **state)
{
	struct aml_kvlist out = { 0 };
	cJSON *obj = cJSON_Parse("{\"\\u001b[2J\":1}");
	char err[128];

	(void)state;
	assert_non_null(obj);
	assert_int_equal(aml_kvlist_from_json(obj, &out, err, sizeof(err)), -1);
	assert_null(strchr(err, '\x1b'));
	cJSON_Delete(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_keeps_order),
		cmocka_unit_test(test_encode_empty_and_null),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_absent_is_empty),
		cmocka_unit_test(test_non_string_refused_naming_key),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_key_shown_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
