/*
 * test_pystr.c: Python's str() of scalars (plugin/pystr.c).  Every expected
 * value was produced by CPython 3.11's str()/repr() and is written out
 * here, so the test needs no Python.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pystr.h"

static const struct {
	double value;
	const char *python;
} floats[] = {
	/* the cases users meet */
	{ 0.8, "0.8" },
	{ 1.0, "1.0" },
	{ 1e-5, "1e-05" },
	{ 0.0001, "0.0001" },
	{ 1e16, "1e+16" },
	{ 123456789.123, "123456789.123" },
	{ 1e22, "1e+22" },
	{ 0x1.3333333333334p-2 /* 0.1 + 0.2 */, "0.30000000000000004" },
	{ 5e-324, "5e-324" },
	{ 1.7976931348623157e308, "1.7976931348623157e+308" },
	{ -0.0, "-0.0" },
	{ 100000.0, "100000.0" },
	{ 1234567890123456.0, "1234567890123456.0" },
	{ 12345678901234567.0, "1.2345678901234568e+16" },
	/* the fixed/exponent boundaries: 1e-4 <= |x| < 1e16 is fixed */
	{ 0.0, "0.0" },
	{ 1e-4, "0.0001" },
	{ 0.000123, "0.000123" },
	{ 0.00001234, "1.234e-05" },
	{ 5e-5, "5e-05" },
	{ 1e-7, "1e-07" },
	{ -1e-5, "-1e-05" },
	{ 1e15, "1000000000000000.0" },
	{ 9.999999999999999e15, "1e+16" },
	{ 1.5e16, "1.5e+16" },
	{ 1e17, "1e+17" },
	{ 1e23, "1e+23" },
	{ 8.41e21, "8.41e+21" },
	{ 1e100, "1e+100" },
	{ 1e-100, "1e-100" },
	{ 123e-20, "1.23e-18" },
	/* shortest round-trip digits */
	{ 0.1, "0.1" },
	{ 0.3, "0.3" },
	{ 0.5, "0.5" },
	{ 4.35, "4.35" },
	{ 3.14159, "3.14159" },
	{ -1.5, "-1.5" },
	{ -123.456, "-123.456" },
	{ 0x1.5555555555555p-2 /* 1/3 */, "0.3333333333333333" },
	{ 0x1.5555555555555p-1 /* 2/3 */, "0.6666666666666666" },
	{ 99999999999999.99, "99999999999999.98" },
	{ 0.001, "0.001" },
	{ 299792458.0, "299792458.0" },
	{ 6.02214076e23, "6.02214076e+23" },
	{ 1234.5678e10, "12345678000000.0" },
	{ 0x1.0000000000000p+53 /* 2**53 */, "9007199254740992.0" },
	{ 0x1.0000000000001p+53 /* 2**53 + 2 */, "9007199254740994.0" },
	{ 9007199254740993.0, "9007199254740992.0" },
	{ -1.7976931348623157e308, "-1.7976931348623157e+308" },
	{ 2.2250738585072014e-308, "2.2250738585072014e-308" },
	{ 0x0.0000000000003p-1022 /* 3 * 2**-1074 */, "1.5e-323" },
	/*
	 * Powers of two, where the rounding interval is lopsided and the
	 * correctly rounded 16 digits do not read back but the next decimal
	 * up does: Python prints 16 digits, not 17.
	 */
	{ 0x1p+182, "6.129982163463556e+54" },
	{ 0x1p-44, "5.684341886080802e-14" },
	{ 0x1p+305, "6.518515124270356e+91" },
};

static void float_table(void **state)
{
	(void)state;
	char buf[64];

	for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
		int n = aml_pystr_float(floats[i].value, buf, sizeof(buf));

		if (strcmp(buf, floats[i].python) != 0)
			print_error("%a: got %s, Python says %s\n",
				    floats[i].value, buf, floats[i].python);
		assert_string_equal(buf, floats[i].python);
		assert_int_equal(n, (int)strlen(floats[i].python));
	}
}

static void float_special(void **state)
{
	(void)state;
	char buf[8];

	assert_int_equal(aml_pystr_float(INFINITY, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "inf");
	assert_int_equal(aml_pystr_float(-INFINITY, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "-inf");
	assert_int_equal(aml_pystr_float(NAN, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "nan");
	/* Python has no "-nan" */
	assert_int_equal(aml_pystr_float(-NAN, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "nan");
}

static void float_buffer_too_small(void **state)
{
	(void)state;
	char buf[32];

	/* "0.8" needs 4 bytes with the NUL */
	assert_int_equal(aml_pystr_float(0.8, buf, 4), 3);
	assert_string_equal(buf, "0.8");
	assert_int_equal(aml_pystr_float(0.8, buf, 3), -1);
	assert_int_equal(aml_pystr_float(0.8, buf, 0), -1);
	assert_int_equal(aml_pystr_float(0.8, NULL, 10), -1);
	assert_int_equal(aml_pystr_float(-1.7976931348623157e308, buf, 25), 24);
	assert_int_equal(aml_pystr_float(-1.7976931348623157e308, buf, 24), -1);
}

/* repr() is the same in every locale; printf and strtod are not. */
static void float_ignores_locale(void **state)
{
	(void)state;
	static const char *const names[] = {
		"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C.UTF-8",
	};
	char buf[32];
	struct aml_node n = { .type = AML_NODE_FLOAT, .text = "0.8", .len = 3 };
	char *s;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!setlocale(LC_ALL, names[i]))
			continue;
		aml_pystr_float(1234.5, buf, sizeof(buf));
		assert_string_equal(buf, "1234.5");
		s = aml_pystr(&n);
		assert_string_equal(s, "0.8");
		free(s);
	}
	setlocale(LC_ALL, "C");
}

static char *str_of(enum aml_node_type type, const char *text)
{
	struct aml_node n = { .type = type };

	if (text) {
		n.text = (char *)text;
		n.len = strlen(text);
	}
	return aml_pystr(&n);
}

static void expect_str(enum aml_node_type type, const char *text,
		       const char *python)
{
	char *s = str_of(type, text);

	assert_non_null(s);
	assert_string_equal(s, python);
	free(s);
}

static void float_nodes(void **state)
{
	(void)state;
	/* the node's text as the readers leave it */
	expect_str(AML_NODE_FLOAT, "0.8", "0.8");
	expect_str(AML_NODE_FLOAT, "1.0", "1.0");
	expect_str(AML_NODE_FLOAT, "1e5", "100000.0");
	expect_str(AML_NODE_FLOAT, "1E-5", "1e-05");
	expect_str(AML_NODE_FLOAT, "2.50", "2.5");
	expect_str(AML_NODE_FLOAT, "-0.0", "-0.0");
	expect_str(AML_NODE_FLOAT, "1.", "1.0");
	expect_str(AML_NODE_FLOAT, ".5", "0.5");
	expect_str(AML_NODE_FLOAT, "1", "1.0");
	expect_str(AML_NODE_FLOAT, "1e400", "inf");
	expect_str(AML_NODE_FLOAT, "-1e400", "-inf");
	expect_str(AML_NODE_FLOAT, "1e-400", "0.0");
	expect_str(AML_NODE_FLOAT, "inf", "inf");
	expect_str(AML_NODE_FLOAT, "-inf", "-inf");
	expect_str(AML_NODE_FLOAT, "nan", "nan");
	expect_str(AML_NODE_FLOAT, "0.1000000000000000055511151231257827",
		   "0.1");
}

static void int_nodes(void **state)
{
	(void)state;
	expect_str(AML_NODE_INT, "0", "0");
	expect_str(AML_NODE_INT, "42", "42");
	expect_str(AML_NODE_INT, "-42", "-42");
	expect_str(AML_NODE_INT, "-0", "0");
	expect_str(AML_NODE_INT, "-000", "0");
	expect_str(AML_NODE_INT, "+7", "7");
	expect_str(AML_NODE_INT, "007", "7");
	expect_str(AML_NODE_INT, "-007", "-7");
	expect_str(AML_NODE_INT, "000", "0");
	/* Python ints have no size limit */
	expect_str(AML_NODE_INT, "10000000000000000000", "10000000000000000000");
	expect_str(AML_NODE_INT, "-123456789012345678901234567890",
		   "-123456789012345678901234567890");
	expect_str(AML_NODE_INT, "18446744073709551616",
		   "18446744073709551616");
}

static void other_scalars(void **state)
{
	(void)state;
	struct aml_node b = { .type = AML_NODE_BOOL, .boolean = 1 };
	struct aml_node s = { .type = AML_NODE_STRING, .text = "a b\n",
			      .len = 4 };
	char *out;

	out = aml_pystr(&b);
	assert_string_equal(out, "True");
	free(out);
	b.boolean = 0;
	out = aml_pystr(&b);
	assert_string_equal(out, "False");
	free(out);
	expect_str(AML_NODE_NULL, NULL, "None");
	out = aml_pystr(&s);
	assert_string_equal(out, "a b\n");
	free(out);
	expect_str(AML_NODE_STRING, "", "");
	expect_str(AML_NODE_STRING, "caf\xc3\xa9", "caf\xc3\xa9");
	/* strings are not quoted or escaped: str(), not repr() */
	expect_str(AML_NODE_STRING, "it's \"x\"", "it's \"x\"");
}

static void containers_refused(void **state)
{
	(void)state;
	struct aml_node a = { .type = AML_NODE_ARRAY };
	struct aml_node o = { .type = AML_NODE_OBJECT };

	assert_null(aml_pystr(&a));
	assert_null(aml_pystr(&o));
	assert_null(aml_pystr(NULL));
}

/* From a parsed document, the way runconfig uses it. */
static void from_document(void **state)
{
	(void)state;
	static const char *const json =
		"[\"--lr\", 0.8, \"--flag\", true, 1e-5, 100000.0, -0, null, "
		"1e16, 10000000000000000000]";
	static const char *const python[] = {
		"--lr", "0.8", "--flag", "True", "1e-05", "100000.0", "0",
		"None", "1e+16", "10000000000000000000",
	};
	static const char *const yaml =
		"[--lr, 0.8, --flag, True, 1e-5, 0x10, 0o17, ~, .inf, -.inf, "
		".nan, '1.0', 1.0]";
	static const char *const python_yaml[] = {
		"--lr", "0.8", "--flag", "True", "1e-05", "16", "15", "None",
		"inf", "-inf", "nan", "1.0", "1.0",
	};
	struct aml_node *r;

	r = aml_doc_parse(json, strlen(json), AML_DOC_JSON, NULL);
	assert_non_null(r);
	assert_int_equal(r->n_children, 10);
	for (size_t i = 0; i < r->n_children; i++) {
		char *s = aml_pystr(&r->children[i]);

		assert_string_equal(s, python[i]);
		free(s);
	}
	aml_doc_free(r);

	r = aml_doc_parse(yaml, strlen(yaml), AML_DOC_YAML, NULL);
	assert_non_null(r);
	assert_int_equal(r->n_children, 13);
	for (size_t i = 0; i < r->n_children; i++) {
		char *s = aml_pystr(&r->children[i]);

		assert_string_equal(s, python_yaml[i]);
		free(s);
	}
	aml_doc_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(float_table),
		cmocka_unit_test(float_special),
		cmocka_unit_test(float_buffer_too_small),
		cmocka_unit_test(float_ignores_locale),
		cmocka_unit_test(float_nodes),
		cmocka_unit_test(int_nodes),
		cmocka_unit_test(other_scalars),
		cmocka_unit_test(containers_refused),
		cmocka_unit_test(from_document),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
