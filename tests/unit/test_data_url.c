/*
 * test_data_url.c: plugin/data_url.h, the https:// inputs a run may
 * download and the site's host list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "data_url.h"

static void parses(const char *url, const char *host, unsigned port,
		   const char *name)
{
	struct aml_data_url u;
	char err[512] = "";

	if (aml_data_url_parse(url, &u, err, sizeof(err)) != 0)
		fail_msg("%s: %s", url, err);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	assert_string_equal(u.name, name);
}

static void refused(const char *url, const char *expected)
{
	struct aml_data_url u;
	char err[512] = "";

	assert_int_equal(aml_data_url_parse(url, &u, err, sizeof(err)), -1);
	assert_string_equal(err, expected);
}

static void test_urls(void **state)
{
	(void)state;
	parses("https://data.example.org/sets/iris.csv", "data.example.org",
	       443, "iris.csv");
	parses("HTTPS://Data.Example.ORG:8443/a/b/iris%2Bv2.csv?sig=x#frag",
	       "data.example.org", 8443, "iris+v2.csv");
	parses("https://127.0.0.1:4443/x.bin", "127.0.0.1", 4443, "x.bin");
	parses("https://h/a..b", "h", 443, "a..b");
}

static void test_refusals(void **state)
{
	static const char name_rule[] =
		"the file's name (the URL path's last segment, decoded) may "
		"hold only letters, digits and . _ - + , = @: the command gets "
		"its path as written";
	static const char file_rule[] =
		"the URL's path must end in a file's name "
		"(https://HOST/.../FILE): an https:// input is a uri_file";
	char longer[AML_DATA_URL_MAX + 64];

	(void)state;
	refused("http://data.example.org/iris.csv",
		"plain http:// is not downloaded (what it answers could be "
		"changed on the way): use https://");
	refused("ftp://data.example.org/iris.csv", "must be an https:// URL");
	/* The password is never repeated. */
	refused("https://me:s3cret@data.example.org/iris.csv",
		"a URL with a user name or password "
		"(https://USER:PASSWORD@HOST/) is refused and not kept: "
		"credentials in a run's configuration are readable in its "
		"history and its job");
	refused("https://token@data.example.org/iris.csv",
		"a URL with a user name or password "
		"(https://USER:PASSWORD@HOST/) is refused and not kept: "
		"credentials in a run's configuration are readable in its "
		"history and its job");
	refused("https://data example.org/x",
		"a URL may not hold blanks, quotes, backslashes, control or "
		"non-ASCII characters (escape them as %XX)");
	refused("https://[::1]/x",
		"the URL's host must be a host name (letters, digits, inner "
		"'-', joined by '.'), got \"[::1]\"");
	refused("https://-bad.org/x",
		"the URL's host must be a host name (letters, digits, inner "
		"'-', joined by '.'), got \"-bad.org\"");
	refused("https://h:0/x", "the URL's port must be a number from 1 to "
		"65535, got \"0\"");
	refused("https://h:65536/x", "the URL's port must be a number from 1 "
		"to 65535, got \"65536\"");
	refused("https://h:/x", "the URL's port must be a number from 1 to "
		"65535, got \"\"");
	refused("https://h", file_rule);
	refused("https://h/dir/", file_rule);
	refused("https://h/dir/..", file_rule);
	refused("https://h/%2E", file_rule);
	refused("https://h/a%2Fb", name_rule);
	refused("https://h/a%20b", name_rule);
	refused("https://h/$(id)", name_rule);
	refused("https://h/a%00.csv", name_rule);
	refused("https://h/a%2", "a '%' in the URL's path must start an "
		"escape %XX");
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, "https://h/", 10);
	refused(longer, "a URL is at most 2048 bytes, got 2111");
}

static void test_hosts(void **state)
{
	char *hosts[] = { "data.example.org", "*.blob.example.net" };

	(void)state;
	assert_int_equal(aml_data_host_pattern_valid("data.example.org"), 1);
	assert_int_equal(aml_data_host_pattern_valid("*.example.org"), 1);
	assert_int_equal(aml_data_host_pattern_valid("127.0.0.1"), 1);
	assert_int_equal(aml_data_host_pattern_valid("*"), 0);
	assert_int_equal(aml_data_host_pattern_valid("*.*.org"), 0);
	assert_int_equal(aml_data_host_pattern_valid("a..b"), 0);
	assert_int_equal(aml_data_host_pattern_valid("h:443"), 0);
	assert_int_equal(aml_data_host_pattern_valid("x.*.org"), 0);
	assert_int_equal(aml_data_host_allowed(hosts, 2, "data.example.org"),
			 1);
	assert_int_equal(aml_data_host_allowed(hosts, 2, "DATA.example.org"),
			 1);
	assert_int_equal(aml_data_host_allowed(hosts, 2, "a.blob.example.net"),
			 1);
	assert_int_equal(aml_data_host_allowed(hosts, 2, "a.b.blob.example.net"),
			 1);
	/* The domain itself is not below itself. */
	assert_int_equal(aml_data_host_allowed(hosts, 2, "blob.example.net"),
			 0);
	assert_int_equal(aml_data_host_allowed(hosts, 2, "evilblob.example.net"),
			 0);
	assert_int_equal(aml_data_host_allowed(hosts, 2,
					       "data.example.org.evil.net"), 0);
	assert_int_equal(aml_data_host_allowed(NULL, 0, "data.example.org"), 0);
}

static void test_download_path(void **state)
{
	struct aml_data_url u;
	char err[256], buf[64];

	(void)state;
	assert_int_equal(aml_data_url_parse("https://h/x/iris.csv", &u, err,
					    sizeof(err)), 0);
	assert_int_equal(aml_data_download_path("iris", &u, buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "inputs/iris/iris.csv");
	assert_int_equal(aml_data_download_path("iris", &u, buf, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_download_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
