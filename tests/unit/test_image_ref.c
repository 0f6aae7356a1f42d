/*
 * test_image_ref.c: image references as registries and Docker write
 * them, read into their parts and written back (plugin/image_ref.c), and
 * the ones Docker's grammar refuses, each with the rule it breaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "image_ref.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct good {
	const char *text;
	const char *registry, *repository, *tag, *digest;
	const char *by_tag; /* aml_image_ref_format(by_digest 0) */
};

static void test_real_references(void **state)
{
	static const struct good cases[] = {
		{ "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:20230509.v1",
		  "mcr.microsoft.com", "azureml/openmpi4.1.0-ubuntu20.04",
		  "20230509.v1", "",
		  "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:20230509.v1" },
		{ "nvcr.io/nvidia/pytorch:23.10-py3", "nvcr.io",
		  "nvidia/pytorch", "23.10-py3", "",
		  "nvcr.io/nvidia/pytorch:23.10-py3" },
		{ "ubuntu", "docker.io", "library/ubuntu", "latest", "",
		  "docker.io/library/ubuntu:latest" },
		{ "ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "",
		  "docker.io/library/ubuntu:22.04" },
		{ "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime", "docker.io",
		  "pytorch/pytorch", "2.1.0-cuda12.1-cudnn8-runtime", "",
		  "docker.io/pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime" },
		{ "index.docker.io/ubuntu", "docker.io", "library/ubuntu",
		  "latest", "", "docker.io/library/ubuntu:latest" },
		{ "127.0.0.1:5000/aml/py@sha256:" HEX64, "127.0.0.1:5000",
		  "aml/py", "", "sha256:" HEX64,
		  "127.0.0.1:5000/aml/py@sha256:" HEX64 },
		{ "127.0.0.1:5000/aml/py:3.11@sha256:" HEX64, "127.0.0.1:5000",
		  "aml/py", "3.11", "sha256:" HEX64,
		  "127.0.0.1:5000/aml/py:3.11" },
		{ "localhost/x", "localhost", "x", "latest", "",
		  "localhost/x:latest" },
		{ "localhost:5000/a__b/c-----d.e_f:T_a.g-9", "localhost:5000",
		  "a__b/c-----d.e_f", "T_a.g-9", "", 
		  "localhost:5000/a__b/c-----d.e_f:T_a.g-9" },
		{ "[::1]:5000/img", "[::1]:5000", "img", "latest", "",
		  "[::1]:5000/img:latest" },
		{ "Registry.Site-1.example/x", "Registry.Site-1.example", "x",
		  "latest", "", "Registry.Site-1.example/x:latest" },
		/* Docker Hub's user "ubuntu", not a registry. */
		{ "ubuntu/x", "docker.io", "ubuntu/x", "latest", "",
		  "docker.io/ubuntu/x:latest" },
	};
	char buf[600], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct aml_image_ref ref;

		if (aml_image_ref_parse(cases[i].text, &ref, err,
					sizeof(err)) != 0)
			fail_msg("%s refused: %s", cases[i].text, err);
		assert_string_equal(ref.registry, cases[i].registry);
		assert_string_equal(ref.repository, cases[i].repository);
		assert_string_equal(ref.tag, cases[i].tag);
		assert_string_equal(ref.digest, cases[i].digest);
		assert_int_equal(aml_image_ref_format(&ref, 0, buf,
						      sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].by_tag);
		/* Its own spelling reads back the same (by tag, a digest
		 * beside a tag is left out). */
		{
			struct aml_image_ref again;

			assert_int_equal(aml_image_ref_parse(buf, &again, err,
							     sizeof(err)), 0);
			assert_string_equal(again.registry, ref.registry);
			assert_string_equal(again.repository, ref.repository);
			assert_string_equal(again.tag, ref.tag);
		}
	}
}

static void test_format(void **state)
{
	struct aml_image_ref ref;
	char buf[200], err[256];

	(void)state;
	assert_int_equal(aml_image_ref_parse("127.0.0.1:5000/aml/py:3.11@sha256:"
					     HEX64, &ref, err, sizeof(err)), 0);
	assert_int_equal(aml_image_ref_format(&ref, 1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "127.0.0.1:5000/aml/py@sha256:" HEX64);
	assert_int_equal(aml_image_ref_format(&ref, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "127.0.0.1:5000/aml/py:3.11");
	/* Exactly fits, then one byte short. */
	assert_int_equal(aml_image_ref_format(&ref, 0, buf,
					      strlen(buf) + 1), 0);
	assert_int_equal(aml_image_ref_format(&ref, 0, buf,
					      strlen("127.0.0.1:5000/aml/py:3.11")),
			 -1);
	assert_string_equal(buf, "");
	/* By tag with no tag: the digest is all there is. */
	assert_int_equal(aml_image_ref_parse("x@sha256:" HEX64, &ref, err,
					     sizeof(err)), 0);
	assert_int_equal(aml_image_ref_format(&ref, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "docker.io/library/x@sha256:" HEX64);
	assert_int_equal(aml_image_ref_format(&ref, 1, buf, 0), -1);
}

struct bad {
	const char *text;
	const char *message;
};

static void test_refused(void **state)
{
	char long_name[300], long_tag[200], with_control[16];
	struct bad cases[] = {
		{ "", "is empty" },
		{ "Ubuntu", "a path component is lowercase letters and digits, "
		  "separated by '.', '_', '__' or '-', got \"Ubuntu\"" },
		{ "nvcr.io/NVIDIA/pytorch:23.10-py3", "a path component is "
		  "lowercase letters and digits, separated by '.', '_', '__' "
		  "or '-', got \"NVIDIA\"" },
		{ "nvcr.io//pytorch", "has an empty path component (two '/' in "
		  "a row, or one at an end), got \"/pytorch\"" },
		{ "nvcr.io/pytorch/", "has an empty path component (two '/' in "
		  "a row, or one at an end), got \"pytorch/\"" },
		{ "a___b", "a path component is lowercase letters and digits, "
		  "separated by '.', '_', '__' or '-', got \"a___b\"" },
		{ "a..b", "a path component is lowercase letters and digits, "
		  "separated by '.', '_', '__' or '-', got \"a..b\"" },
		{ "-a", "a path component is lowercase letters and digits, "
		  "separated by '.', '_', '__' or '-', got \"-a\"" },
		{ "ubuntu:", "a tag is 1 to 128 letters, digits, '_', '.' and "
		  "'-', not starting with '.' or '-', got \"\"" },
		{ "ubuntu:.x", "a tag is 1 to 128 letters, digits, '_', '.' and "
		  "'-', not starting with '.' or '-', got \".x\"" },
		{ ":tag", "has no name before its tag" },
		{ "@sha256:" HEX64, "has no name before its digest" },
		{ "ubuntu@sha256:ABC", "a digest is sha256: and 64 lowercase "
		  "hexadecimal digits, got \"sha256:ABC\"" },
		{ "ubuntu@sha512:" HEX64, "a digest is sha256: and 64 lowercase "
		  "hexadecimal digits, got \"sha512:" HEX64 "\"" },
		{ "ubuntu@sha256:" HEX64 "0", "a digest is sha256: and 64 "
		  "lowercase hexadecimal digits, got \"sha256:" HEX64 "0\"" },
		{ "ubuntu @x", "must not contain blanks, control characters or "
		  "non-ASCII bytes, got \"ubuntu @x\"" },
		{ "bad_host.io/x", "a registry is a host name (letters, digits, "
		  "inner '-', joined by '.') or [IPv6 address], with an "
		  "optional :port, got \"bad_host.io\"" },
		{ "host.io:/x", "a registry is a host name (letters, digits, "
		  "inner '-', joined by '.') or [IPv6 address], with an "
		  "optional :port, got \"host.io:\"" },
		{ "host.io:50a/x", "a registry is a host name (letters, digits, "
		  "inner '-', joined by '.') or [IPv6 address], with an "
		  "optional :port, got \"host.io:50a\"" },
		{ long_name, "a name is at most 255 bytes (registry and path), "
		  "got 256" },
		{ long_tag, "a tag is 1 to 128 letters, digits, '_', '.' and "
		  "'-', not starting with '.' or '-', got \"aaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "a...\"" },
		{ with_control, "must not contain blanks, control characters "
		  "or non-ASCII bytes, got \"ub\\x0auntu\"" },
	};
	struct aml_image_ref ref;
	char err[256];

	(void)state;
	/* docker.io/library/ + 238 = 256 */
	memset(long_name, 'a', 238);
	long_name[238] = '\0';
	memset(long_tag, 'a', sizeof(long_tag));
	memcpy(long_tag, "x:", 2);
	long_tag[2 + 129] = '\0';
	strcpy(with_control, "ub\nuntu");
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		memset(&ref, 0x55, sizeof(ref));
		assert_int_equal(aml_image_ref_parse(cases[i].text, &ref, err,
						     sizeof(err)), -1);
		if (strcmp(err, cases[i].message))
			fail_msg("%s: got \"%s\"", cases[i].text, err);
		assert_string_equal(ref.registry, "");
	}
	/* One byte under the limit is a name. */
	long_name[237] = '\0';
	assert_int_equal(aml_image_ref_parse(long_name, &ref, err,
					     sizeof(err)), 0);
	long_tag[2 + 128] = '\0';
	assert_int_equal(aml_image_ref_parse(long_tag, &ref, err,
					     sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_references),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
