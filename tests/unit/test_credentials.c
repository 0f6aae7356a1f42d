/*
 * Unit tests of rest/credentials.c: the credentials file's rules, the
 * Authorization header, and redaction.  Files are made under a mkdtemp
 * directory; the ownership cases chown to uid 12345, so they need root
 * (the test suite runs as root) and are skipped otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credentials.h"

#define OTHER_UID 12345
#define USER_UID 1000

static char dir[] = "/tmp/test_credentials.XXXXXX";
static char errbuf[512];

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* [dir]/[name] holding [len] bytes of [text], mode [mode]; the path is
 * static, valid until the next call. */
static const char *make_file_n(const char *name, const char *text,
			       size_t len, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char *make_file(const char *name, const char *text)
{
	return make_file_n(name, text, strlen(text), 0600);
}

static void assert_empty(const struct aml_credentials *c)
{
	assert_null(c->username);
	assert_null(c->password);
	assert_null(c->token);
}

/* Load [text] as a file; expect failure with [message] (after the
 * "path: ") and [secret] nowhere in it. */
static void expect_refused(const char *text, const char *message,
			   const char *secret)
{
	struct aml_credentials c;
	const char *path = make_file("bad.cred", text);
	char expected[512];

	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected), "%s: %s", path, message);
	assert_string_equal(errbuf, expected);
	if (secret)
		assert_null(strstr(errbuf, secret));
	assert_empty(&c);
}

/* ---- good files ------------------------------------------------------ */

static void test_load_username_password(void **state)
{
	struct aml_credentials c;
	const char *path = make_file("basic.cred",
				     "username = ci\npassword = pa:ss\n");

	(void)state;
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), 0);
	assert_string_equal(c.username, "ci");
	assert_string_equal(c.password, "pa:ss");
	assert_null(c.token);
	aml_credentials_free(&c);
	assert_empty(&c);
}

static void test_load_token_comments_blanks(void **state)
{
	struct aml_credentials c;
	const char *path = make_file("token.cred",
				     "# MLflow\n\n   \n  # indented comment\n"
				     "\t token \t=  abc.def-_=  \n");

	(void)state;
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), 0);
	assert_null(c.username);
	assert_null(c.password);
	assert_string_equal(c.token, "abc.def-_=");
	aml_credentials_free(&c);
}

static void test_load_keys_any_case_crlf_no_final_newline(void **state)
{
	struct aml_credentials c;
	const char *path = make_file("crlf.cred",
				     "Username = u\r\nPASSWORD=p w=x\r\nToken=t");

	(void)state;
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), 0);
	assert_string_equal(c.username, "u");
	assert_string_equal(c.password, "p w=x"); /* inner blanks and '=' kept */
	assert_string_equal(c.token, "t");
	aml_credentials_free(&c);
}

static void test_load_owned_by_the_user(void **state)
{
	struct aml_credentials c;
	const char *path;

	(void)state;
	if (geteuid() != 0)
		skip();
	path = make_file("user.cred", "token = t\n");
	assert_int_equal(chown(path, OTHER_UID, OTHER_UID), 0);
	assert_int_equal(aml_credentials_load(path, OTHER_UID, &c, errbuf,
					      sizeof(errbuf)), 0);
	assert_string_equal(c.token, "t");
	aml_credentials_free(&c);
}

static void test_load_exactly_64k(void **state)
{
	size_t n = AML_CREDENTIALS_MAX_SIZE;
	char *text = malloc(n);
	struct aml_credentials c;
	const char *path;

	(void)state;
	assert_non_null(text);
	memset(text, '#', n);
	memcpy(text + n - 9, "\ntoken=t\n", 9);
	path = make_file_n("big.cred", text, n, 0600);
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), 0);
	assert_string_equal(c.token, "t");
	aml_credentials_free(&c);
	free(text);
}

/* ---- the file's own rules -------------------------------------------- */

static void test_refuse_larger_than_64k(void **state)
{
	size_t n = AML_CREDENTIALS_MAX_SIZE + 1;
	char *text = malloc(n), expected[300];
	struct aml_credentials c;
	const char *path;

	(void)state;
	assert_non_null(text);
	memset(text, '#', n);
	memcpy(text + n - 9, "\ntoken=t\n", 9);
	path = make_file_n("huge.cred", text, n, 0600);
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected),
		 "%s: larger than 64 KiB (65537 bytes); a credentials file holds a few short lines",
		 path);
	assert_string_equal(errbuf, expected);
	assert_empty(&c);
	free(text);
}

static void expect_mode_refused(mode_t mode, const char *what)
{
	struct aml_credentials c;
	const char *path = make_file_n("mode.cred", "token = s3cret\n", 15,
				       mode);
	char expected[300];

	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected),
		 "%s: %s by group or others (mode %04o); credentials must be readable only by their owner (chmod 600)",
		 path, what, (unsigned)mode);
	assert_string_equal(errbuf, expected);
	assert_null(strstr(errbuf, "s3cret"));
	assert_empty(&c);
}

static void test_refuse_group_or_other_bits(void **state)
{
	(void)state;
	expect_mode_refused(0640, "readable");
	expect_mode_refused(0604, "readable");
	expect_mode_refused(0620, "writable");
	expect_mode_refused(0602, "writable");
	expect_mode_refused(0610, "executable");
	expect_mode_refused(0601, "executable");
}

static void test_owner_only_modes_accepted(void **state)
{
	static const mode_t modes[] = { 0600, 0400, 0700, 0200 };
	struct aml_credentials c;

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const char *path = make_file_n("ok.cred", "token=t\n", 8,
					       modes[i]);

		/* root reads a 0200 file all the same */
		assert_int_equal(aml_credentials_load(path, USER_UID, &c,
						      errbuf, sizeof(errbuf)),
				 geteuid() == 0 || (modes[i] & 0400) ? 0 : -1);
		aml_credentials_free(&c);
	}
}

static void test_refuse_other_owner(void **state)
{
	struct aml_credentials c;
	const char *path;
	char expected[300];

	(void)state;
	if (geteuid() != 0)
		skip();
	path = make_file("other.cred", "token = t\n");
	assert_int_equal(chown(path, OTHER_UID, 0), 0);
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected),
		 "%s: owned by uid 12345; credentials must be owned by root or by their user, uid 1000 (chown)",
		 path);
	assert_string_equal(errbuf, expected);
	assert_empty(&c);
}

static void test_refuse_symlink(void **state)
{
	struct aml_credentials c;
	char target[256], link[256], expected[400];

	(void)state;
	snprintf(target, sizeof(target), "%s", make_file("t.cred", "token=t\n"));
	snprintf(link, sizeof(link), "%s/link.cred", dir);
	unlink(link);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(aml_credentials_load(link, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected),
		 "%s: is a symbolic link; credentials are read from a regular file only, never through a link",
		 link);
	assert_string_equal(errbuf, expected);
	assert_empty(&c);
}

static void test_refuse_directory_and_fifo(void **state)
{
	struct aml_credentials c;
	char path[256], expected[400];

	(void)state;
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected),
		 "%s: not a regular file; credentials must be in a regular file",
		 path);
	assert_string_equal(errbuf, expected);

	/* no writer: a blocking open would never return */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected),
		 "%s: not a regular file; credentials must be in a regular file",
		 path);
	assert_string_equal(errbuf, expected);
	assert_empty(&c);
}

static void test_refuse_missing_file(void **state)
{
	struct aml_credentials c;
	char path[256], expected[400];

	(void)state;
	snprintf(path, sizeof(path), "%s/none.cred", dir);
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	snprintf(expected, sizeof(expected),
		 "%s: cannot open: No such file or directory", path);
	assert_string_equal(errbuf, expected);
	assert_empty(&c);
}

/* ---- parse errors: each names the line and never a value --------------- */

static void test_refuse_unknown_key(void **state)
{
	(void)state;
	expect_refused("username = u\n# x\npasswd = hunter2\n",
		       "line 3: unknown key \"passwd\" (expected username, password or token)",
		       "hunter2");
}

static void test_unknown_key_that_may_be_a_secret_not_shown(void **state)
{
	(void)state;
	/* a base64 token pasted alone: its padding looks like "key =" */
	expect_refused("dG9rZW4xMjM0NQ==\n",
		       "line 1: unknown key, not shown as it may be part of a secret (expected username, password or token)",
		       "dG9rZW4xMjM0NQ");
	expect_refused("S3cr=t\n",
		       "line 1: unknown key, not shown as it may be part of a secret (expected username, password or token)",
		       "S3cr");
}

static void test_refuse_duplicate_key(void **state)
{
	(void)state;
	expect_refused("token = first-s3cret\n\nTOKEN = second-s3cret\n",
		       "line 3: duplicate key token (first on line 1)",
		       "s3cret");
}

static void test_refuse_line_without_equals(void **state)
{
	(void)state;
	expect_refused("username = u\npassword hunter2\n",
		       "line 2: no '=' (expected key = value)", "hunter2");
}

static void test_refuse_line_without_key(void **state)
{
	(void)state;
	expect_refused("token = t\n  = hunter2\n",
		       "line 2: no key before '=' (expected key = value)",
		       "hunter2");
}

static void test_refuse_empty_value(void **state)
{
	(void)state;
	expect_refused("username = u\npassword =   \n",
		       "line 2: password has no value", NULL);
}

static void test_refuse_control_characters(void **state)
{
	(void)state;
	expect_refused("username = u\npassword = hun\tter2\n",
		       "line 2: password holds a control character (value not shown); an HTTP header cannot carry it",
		       "hun");
	expect_refused("token = abc\x01" "def\n",
		       "line 1: token holds a control character (value not shown); an HTTP header cannot carry it",
		       "abc");
	expect_refused("token = abc\x7f" "def\n",
		       "line 1: token holds a control character (value not shown); an HTTP header cannot carry it",
		       "def");
	/* a lone CR inside a line is not a line end */
	expect_refused("token = abc\rdef\n",
		       "line 1: token holds a control character (value not shown); an HTTP header cannot carry it",
		       "abc");
}

static void test_refuse_nul_byte(void **state)
{
	struct aml_credentials c;
	const char *path = make_file_n("nul.cred", "token = ab\0cd\n", 14,
				       0600);

	(void)state;
	assert_int_equal(aml_credentials_load(path, USER_UID, &c, errbuf,
					      sizeof(errbuf)), -1);
	assert_non_null(strstr(errbuf, "line 1: token holds a control character"));
	assert_empty(&c);
}

static void test_refuse_colon_in_username(void **state)
{
	(void)state;
	expect_refused("username = ci:x\npassword = p\n",
		       "line 1: username holds ':' (value not shown), which Basic authentication cannot carry",
		       "ci:x");
}

static void test_refuse_blank_in_token(void **state)
{
	(void)state;
	expect_refused("token = Bearer abcdef\n",
		       "line 1: token holds a blank (value not shown); a bearer token is one word",
		       "abcdef");
}

static void test_refuse_username_without_password(void **state)
{
	(void)state;
	expect_refused("username = ci\ntoken = s3cret\n",
		       "username without password; Basic authentication needs both (or give a token)",
		       "s3cret");
}

static void test_refuse_password_without_username(void **state)
{
	(void)state;
	expect_refused("password = hunter2\n",
		       "password without username; Basic authentication needs both (or give a token)",
		       "hunter2");
}

static void test_refuse_no_credential(void **state)
{
	(void)state;
	expect_refused("# nothing yet\n\n",
		       "no credential (expected username and password, or token)",
		       NULL);
	expect_refused("",
		       "no credential (expected username and password, or token)",
		       NULL);
}

/* ---- the header ------------------------------------------------------ */

static void test_header_basic(void **state)
{
	/* "user:pa:ss" = 75 73 65 | 72 3a 70 | 61 3a 73 | 73
	 * -> dXNl cjpw YTpz cw== (by hand, 6 bits at a time) */
	struct aml_credentials c = { "user", "pa:ss", NULL };
	char *h = aml_credentials_auth_header(&c);

	(void)state;
	assert_string_equal(h, "Authorization: Basic dXNlcjpwYTpzcw==");
	aml_credentials_header_free(h);
}

static void test_header_basic_padding(void **state)
{
	static const struct {
		const char *user, *pass, *header;
	} cases[] = {
		{ "a", "b", "Authorization: Basic YTpi" },
		{ "ab", "c", "Authorization: Basic YWI6Yw==" },
		{ "ab", "cd", "Authorization: Basic YWI6Y2Q=" },
		/* bytes above 0x7f: "u:\xc3\xbc" ("u:u-umlaut") */
		{ "u", "\xc3\xbc", "Authorization: Basic dTrDvA==" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml_credentials c = { (char *)cases[i].user,
					     (char *)cases[i].pass, NULL };
		char *h = aml_credentials_auth_header(&c);

		assert_string_equal(h, cases[i].header);
		aml_credentials_header_free(h);
	}
}

static void test_header_basic_wins_over_token(void **state)
{
	struct aml_credentials c = { "ci", "hunter2", "tok" };
	char *h = aml_credentials_auth_header(&c);

	(void)state;
	assert_string_equal(h, "Authorization: Basic Y2k6aHVudGVyMg==");
	aml_credentials_header_free(h);
}

static void test_header_bearer(void **state)
{
	struct aml_credentials c = { NULL, NULL, "eyJ0.abc" };
	char *h = aml_credentials_auth_header(&c);

	(void)state;
	assert_string_equal(h, "Authorization: Bearer eyJ0.abc");
	aml_credentials_header_free(h);
}

static void test_header_none(void **state)
{
	struct aml_credentials none = { NULL, NULL, NULL };
	struct aml_credentials half = { "ci", NULL, NULL };

	(void)state;
	assert_null(aml_credentials_auth_header(&none));
	assert_null(aml_credentials_auth_header(&half));
	assert_null(aml_credentials_auth_header(NULL));
	aml_credentials_header_free(NULL);
}

static void test_free_leaves_zeroed(void **state)
{
	struct aml_credentials c = { strdup("u"), strdup("p"), strdup("t") };

	(void)state;
	aml_credentials_free(&c);
	assert_empty(&c);
	aml_credentials_free(&c);
	aml_credentials_free(NULL);
}

/* ---- redaction ------------------------------------------------------- */

/* Redact [in] in a buffer of [size] bytes (0: just large enough) and
 * expect [out] and [count]. */
static void expect_redacted(const struct aml_credentials *c, const char *in,
			    size_t size, const char *out, size_t count)
{
	char buf[512];

	if (size == 0)
		size = strlen(in) + 1;
	assert_true(size <= sizeof(buf));
	snprintf(buf, size, "%s", in);
	assert_int_equal(aml_credentials_redact(c, buf, size), count);
	assert_string_equal(buf, out);
}

static void test_redact_start_middle_end(void **state)
{
	struct aml_credentials c = { "ci", "hunter2", NULL };

	(void)state;
	expect_redacted(&c, "hunter2 at start", 0, "*** at start", 1);
	expect_redacted(&c, "in hunter2 middle", 0, "in *** middle", 1);
	expect_redacted(&c, "at the end hunter2", 0, "at the end ***", 1);
	expect_redacted(&c, "hunter2", 0, "***", 1);
}

static void test_redact_repeated(void **state)
{
	struct aml_credentials c = { "ci", "hunter2", NULL };

	(void)state;
	expect_redacted(&c, "hunter2 hunter2, hunter2", 0, "*** ***, ***", 3);
	expect_redacted(&c, "hunter2hunter2", 0, "******", 2);
}

static void test_redact_overlapping(void **state)
{
	struct aml_credentials same = { NULL, "abab", NULL };
	struct aml_credentials two = { "u", "secret", "cretin" };

	(void)state;
	/* "ababab" holds "abab" twice, overlapping: none of it may show */
	expect_redacted(&same, "x ababab y", 0, "x *** y", 1);
	/* the password runs into the token */
	expect_redacted(&two, "a secretin b", 0, "a *** b", 1);
}

static void test_redact_longer_than_mask(void **state)
{
	struct aml_credentials c = {
		NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl"
	};

	(void)state;
	expect_redacted(&c,
			"401: bad token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl for ci",
			0, "401: bad token *** for ci", 1);
}

static void test_redact_shorter_than_mask(void **state)
{
	struct aml_credentials c = { "u", "pw", NULL };

	(void)state;
	expect_redacted(&c, "a pw b", 64, "a *** b", 1);
	/* the text grows past the buffer: cut, never a secret kept */
	expect_redacted(&c, "pw pw pw pw abcdef", 0, "*** *** *** *** ab", 4);
	expect_redacted(&c, "pwpw", 0, "****", 2);
}

static void test_redact_basic_pair(void **state)
{
	struct aml_credentials c = { "user", "pa:ss", NULL };

	(void)state;
	expect_redacted(&c, "sent dXNlcjpwYTpzcw== to the server", 0,
			"sent *** to the server", 1);
	/* the username is not a secret */
	expect_redacted(&c, "user user", 0, "user user", 0);
}

static void test_redact_authorization_header(void **state)
{
	struct aml_credentials c = { "user", "pa:ss", NULL };

	(void)state;
	expect_redacted(&c,
			"> Authorization: Basic dXNlcjpwYTpzcw==\r\n> Host: h\n",
			0, "> Authorization: ***\r\n> Host: h\n", 1);
	/* anyone's header, any case, with no credentials known */
	expect_redacted(NULL, "authorization: Bearer zzz\nnext line", 0,
			"authorization: ***\nnext line", 1);
	expect_redacted(NULL, "Proxy-Authorization: Basic abc", 0,
			"Proxy-Authorization: ***", 1);
}

static void test_redact_secret_cut_at_the_end(void **state)
{
	struct aml_credentials c = { NULL, NULL, "tokenvalue12345" };

	(void)state;
	expect_redacted(&c, "server said: tokenval", 0, "server said: ***", 1);
	expect_redacted(&c, "server said: tokenval...", 0,
			"server said: ***...", 1);
	/* three bytes could be anything */
	expect_redacted(&c, "server said: tok", 0, "server said: tok", 0);
}

static void test_redact_empty_secrets_ignored(void **state)
{
	struct aml_credentials c = { "", "", "" };

	(void)state;
	expect_redacted(&c, "nothing to hide", 0, "nothing to hide", 0);
	expect_redacted(NULL, "", 0, "", 0);
}

static void test_redact_tiny_buffer(void **state)
{
	struct aml_credentials c = { NULL, "p", NULL };
	char buf[2] = "p";

	(void)state;
	assert_int_equal(aml_credentials_redact(&c, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "*");
	assert_int_equal(aml_credentials_redact(&c, buf, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_username_password),
		cmocka_unit_test(test_load_token_comments_blanks),
		cmocka_unit_test(test_load_keys_any_case_crlf_no_final_newline),
		cmocka_unit_test(test_load_owned_by_the_user),
		cmocka_unit_test(test_load_exactly_64k),
		cmocka_unit_test(test_refuse_larger_than_64k),
		cmocka_unit_test(test_refuse_group_or_other_bits),
		cmocka_unit_test(test_owner_only_modes_accepted),
		cmocka_unit_test(test_refuse_other_owner),
		cmocka_unit_test(test_refuse_symlink),
		cmocka_unit_test(test_refuse_directory_and_fifo),
		cmocka_unit_test(test_refuse_missing_file),
		cmocka_unit_test(test_refuse_unknown_key),
		cmocka_unit_test(test_unknown_key_that_may_be_a_secret_not_shown),
		cmocka_unit_test(test_refuse_duplicate_key),
		cmocka_unit_test(test_refuse_line_without_equals),
		cmocka_unit_test(test_refuse_line_without_key),
		cmocka_unit_test(test_refuse_empty_value),
		cmocka_unit_test(test_refuse_control_characters),
		cmocka_unit_test(test_refuse_nul_byte),
		cmocka_unit_test(test_refuse_colon_in_username),
		cmocka_unit_test(test_refuse_blank_in_token),
		cmocka_unit_test(test_refuse_username_without_password),
		cmocka_unit_test(test_refuse_password_without_username),
		cmocka_unit_test(test_refuse_no_credential),
		cmocka_unit_test(test_header_basic),
		cmocka_unit_test(test_header_basic_padding),
		cmocka_unit_test(test_header_basic_wins_over_token),
		cmocka_unit_test(test_header_bearer),
		cmocka_unit_test(test_header_none),
		cmocka_unit_test(test_free_leaves_zeroed),
		cmocka_unit_test(test_redact_start_middle_end),
		cmocka_unit_test(test_redact_repeated),
		cmocka_unit_test(test_redact_overlapping),
		cmocka_unit_test(test_redact_longer_than_mask),
		cmocka_unit_test(test_redact_shorter_than_mask),
		cmocka_unit_test(test_redact_basic_pair),
		cmocka_unit_test(test_redact_authorization_header),
		cmocka_unit_test(test_redact_secret_cut_at_the_end),
		cmocka_unit_test(test_redact_empty_secrets_ignored),
		cmocka_unit_test(test_redact_tiny_buffer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
