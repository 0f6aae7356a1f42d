/*
 * test_manifest.c: the snapshot manifest (plugin/manifest.c): every path
 * and target rule, every malformed line the decoder must refuse, the one
 * canonical text per tree, and its id.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_0 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HDR AML_MANIFEST_HEADER

/* ---- helpers ---- */

/* [path] is refused, with [expect] in the message. */
static void path_refused(const char *path, const char *expect)
{
	char err[256] = "";

	if (aml_manifest_check_path(path, err, sizeof(err)) == 0)
		fail_msg("path \"%s\" was accepted", path);
	if (!strstr(err, expect))
		fail_msg("path \"%s\": message \"%s\" lacks \"%s\"", path, err,
			 expect);
}

static void path_accepted(const char *path)
{
	char err[256] = "";

	if (aml_manifest_check_path(path, err, sizeof(err)) != 0)
		fail_msg("path \"%s\" was refused: %s", path, err);
}

static void add_file(struct aml_manifest *m, const char *path,
		     const char *sha, uint64_t size, int x, int64_t mtime)
{
	struct aml_manifest_entry e;

	memset(&e, 0, sizeof(e));
	e.type = AML_ENTRY_FILE;
	e.path = (char *)path;
	e.size = size;
	e.executable = x;
	e.mtime_ns = mtime;
	snprintf(e.sha256, sizeof(e.sha256), "%s", sha);
	assert_int_equal(aml_manifest_add(m, &e), 0);
}

static void add_link(struct aml_manifest *m, const char *path,
		     const char *target, int64_t mtime)
{
	struct aml_manifest_entry e;

	memset(&e, 0, sizeof(e));
	e.type = AML_ENTRY_SYMLINK;
	e.path = (char *)path;
	e.target = (char *)target;
	e.mtime_ns = mtime;
	assert_int_equal(aml_manifest_add(m, &e), 0);
}

/* Decode the header followed by [body]: returns the result, with the
 * message in [err]; the manifest is freed. */
static int decode_body(const char *body, size_t body_len, char *err,
		       size_t errlen)
{
	struct aml_manifest m;
	size_t hlen = strlen(HDR);
	char *text = malloc(hlen + body_len + 1);
	int rc;

	assert_non_null(text);
	memcpy(text, HDR, hlen);
	memcpy(text + hlen, body, body_len);
	err[0] = '\0';
	rc = aml_manifest_decode(text, hlen + body_len, &m, err, errlen);
	if (rc != 0) {
		assert_int_equal(m.count, 0);
		assert_null(m.entries);
	}
	aml_manifest_free(&m);
	free(text);
	return rc;
}

/* [body] (after the header) is refused with [expect] in the message. */
static void body_refused(const char *body, const char *expect)
{
	char err[512];

	if (decode_body(body, strlen(body), err, sizeof(err)) == 0)
		fail_msg("accepted: %s", body);
	if (!strstr(err, expect))
		fail_msg("message \"%s\" lacks \"%s\" (input: %s)", err, expect,
			 body);
}

static void body_accepted(const char *body)
{
	char err[512];

	if (decode_body(body, strlen(body), err, sizeof(err)) != 0)
		fail_msg("refused: %s: %s", body, err);
}

/* One symlink at [link] to [target], through finish and through decode:
 * both must agree. */
static void target_check(const char *link, const char *target, int ok,
			 const char *expect)
{
	struct aml_manifest m = { 0 };
	char err[512] = "", *body;
	int rc;

	add_link(&m, link, target, 0);
	rc = aml_manifest_finish(&m, err, sizeof(err));
	aml_manifest_free(&m);
	if (ok && rc != 0)
		fail_msg("%s -> %s refused by finish: %s", link, target, err);
	if (!ok && (rc == 0 || !strstr(err, expect)))
		fail_msg("%s -> %s: finish gave %d, \"%s\", wanted \"%s\"", link,
			 target, rc, err, expect);
	assert_true(asprintf(&body, "l 0 %s\t%s\n", link, target) > 0);
	rc = decode_body(body, strlen(body), err, sizeof(err));
	free(body);
	if (ok && rc != 0)
		fail_msg("%s -> %s refused by decode: %s", link, target, err);
	if (!ok && (rc == 0 || !strstr(err, expect) || !strstr(err, "line 2: ")))
		fail_msg("%s -> %s: decode gave %d, \"%s\", wanted \"%s\"", link,
			 target, rc, err, expect);
}

/* ---- path rules ---- */

static void test_paths_accepted(void **state)
{
	char longest[AML_MANIFEST_PATH_MAX + 1];

	(void)state;
	path_accepted("a");
	path_accepted("a/b/c.txt");
	path_accepted("with space/and  two blanks ");
	path_accepted(".gitignore");
	path_accepted(".github/workflows/ci.yml");
	path_accepted("a/.git-x/.gitx/git");
	path_accepted("...");
	path_accepted("..a/a..");
	path_accepted("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.py");
	path_accepted("\xc2\x80");              /* U+0080, first two-byte */
	path_accepted("\xed\x9f\xbf");          /* U+D7FF, before surrogates */
	path_accepted("\xee\x80\x80");          /* U+E000, after them */
	path_accepted("\xf0\x9f\x98\x80");      /* U+1F600 */
	path_accepted("\xf4\x8f\xbf\xbf");      /* U+10FFFF, the last */
	memset(longest, 'x', AML_MANIFEST_PATH_MAX);
	longest[AML_MANIFEST_PATH_MAX] = '\0';
	path_accepted(longest);
}

static void test_path_empty_and_absolute(void **state)
{
	(void)state;
	path_refused("", "is empty");
	path_refused("/etc/passwd", "is absolute");
	path_refused("/", "is absolute");
}

static void test_path_empty_segment(void **state)
{
	(void)state;
	path_refused("a//b", "empty segment");
	path_refused("a/", "empty segment");
	path_refused("a/b/", "empty segment");
}

static void test_path_dot_segments(void **state)
{
	(void)state;
	path_refused(".", "\".\" segment");
	path_refused("./a", "\".\" segment");
	path_refused("a/./b", "\".\" segment");
	path_refused("a/.", "\".\" segment");
	path_refused("..", "\"..\" segment");
	path_refused("../a", "\"..\" segment");
	path_refused("a/../b", "\"..\" segment");
	path_refused("a/..", "\"..\" segment");
}

static void test_path_git_segment(void **state)
{
	(void)state;
	path_refused(".git", "\".git\" segment");
	path_refused(".git/config", "\".git\" segment");
	path_refused("sub/.git/HEAD", "\".git\" segment");
	path_refused("sub/.git", "\".git\" segment");
}

static void test_path_control_characters(void **state)
{
	(void)state;
	path_refused("a\nb", "control character (byte 0x0a at offset 1)");
	path_refused("a\tb", "control character (byte 0x09");
	path_refused("\x01", "control character (byte 0x01");
	path_refused("a\x1f", "control character (byte 0x1f");
	path_refused("a\x7f", "control character (byte 0x7f");
	path_refused("a\r", "control character (byte 0x0d");
}

static void test_path_invalid_utf8(void **state)
{
	(void)state;
	/* Overlong forms of '/' and of U+0000. */
	path_refused("\xc0\xaf", "not valid UTF-8 (byte 0xc0 at offset 0)");
	path_refused("a\xc1\x81", "not valid UTF-8 (byte 0xc1 at offset 1)");
	path_refused("\xe0\x80\xaf", "not valid UTF-8");
	path_refused("\xf0\x80\x80\xaf", "not valid UTF-8");
	path_refused("\xc0\x80", "not valid UTF-8");
	/* UTF-16 surrogates. */
	path_refused("\xed\xa0\x80", "not valid UTF-8");
	path_refused("\xed\xbf\xbf", "not valid UTF-8");
	/* Truncated sequences. */
	path_refused("\xc3", "not valid UTF-8");
	path_refused("\xe2\x82", "not valid UTF-8");
	path_refused("\xf0\x9f\x98", "not valid UTF-8");
	path_refused("\xc3x", "not valid UTF-8");
	path_refused("a\xe2\x82/b", "not valid UTF-8");
	/* Beyond U+10FFFF, stray continuation and never-valid bytes. */
	path_refused("\xf4\x90\x80\x80", "not valid UTF-8");
	path_refused("\xf5\x80\x80\x80", "not valid UTF-8");
	path_refused("\x80", "not valid UTF-8");
	path_refused("\xff", "not valid UTF-8");
	path_refused("\xfe", "not valid UTF-8");
}

static void test_path_too_long(void **state)
{
	char path[AML_MANIFEST_PATH_MAX + 2];

	(void)state;
	memset(path, 'x', AML_MANIFEST_PATH_MAX + 1);
	path[AML_MANIFEST_PATH_MAX + 1] = '\0';
	path_refused(path, "longer than 4096 bytes");
}

/* ---- symlink targets ---- */

static void test_targets_inside(void **state)
{
	(void)state;
	target_check("l", "b", 1, NULL);
	target_check("l", "sub/dir/file", 1, NULL);
	target_check("l", ".", 1, NULL);
	target_check("l", "./run.py", 1, NULL);
	target_check("l", "dir/", 1, NULL);
	target_check("l", "missing/anything", 1, NULL);
	target_check("a/l", "..", 1, NULL);
	target_check("a/l", "../b", 1, NULL);
	target_check("a/l", "../", 1, NULL);
	target_check("a/l", "./../b", 1, NULL);
	target_check("a/b/l", "../../c/d", 1, NULL);
	target_check("a/b/l", "../..", 1, NULL);
	target_check("l", "with blank", 1, NULL);
	target_check("l", "caf\xc3\xa9", 1, NULL);
}

static void test_targets_escaping(void **state)
{
	(void)state;
	target_check("l", "..", 0, "leaves the tree");
	target_check("l", "../x", 0, "leaves the tree");
	target_check("a/l", "../../x", 0, "leaves the tree");
	target_check("a/b/l", "../../../etc/passwd", 0, "leaves the tree");
	target_check("a/l", "./.././../x", 0, "leaves the tree");
	target_check("l", "/etc/passwd", 0, "is absolute");
	target_check("a/l", "/", 0, "is absolute");
	/* ".." after a name: lexically inside, but "s" may be a symlink to
	 * a shallower place, so it is refused. */
	target_check("l", "s/../x", 0, "\"..\" after a name");
	target_check("a/b/l", "x/../../../y", 0, "\"..\" after a name");
	target_check("a/l", "../s/..", 0, "\"..\" after a name");
}

static void test_targets_characters(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256], longest[AML_MANIFEST_PATH_MAX + 2];

	(void)state;
	target_check("l", "a\x01" "b", 0, "control character (byte 0x01");
	target_check("l", "a\x7f", 0, "control character (byte 0x7f");
	/* A newline in a target: finish refuses it (in text it would end
	 * the line). */
	add_link(&m, "l", "a\nb", 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control character (byte 0x0a"));
	aml_manifest_free(&m);
	target_check("l", "\xc0\xaf", 0, "not valid UTF-8");
	target_check("l", "", 0, "is empty");
	/* A tab in a target: finish refuses it (decode would read it as
	 * part of the target, also refused). */
	add_link(&m, "l", "a\tb", 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control character"));
	aml_manifest_free(&m);
	body_refused("l 0 l\ta\tb\n", "control character (byte 0x09");
	memset(longest, 'x', AML_MANIFEST_PATH_MAX + 1);
	longest[AML_MANIFEST_PATH_MAX + 1] = '\0';
	target_check("l", longest, 0, "longer than 4096");
	longest[AML_MANIFEST_PATH_MAX] = '\0';
	target_check("l", longest, 1, NULL);
}

static void test_symlink_without_target(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256];

	(void)state;
	add_link(&m, "l", NULL, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has no target"));
	aml_manifest_free(&m);
}

/* ---- the whole manifest ---- */

static void test_finish_refuses_bad_path(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256];

	(void)state;
	add_file(&m, "ok", SHA_A, 1, 0, 0);
	add_file(&m, "bad\nname", SHA_A, 1, 0, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	/* The path is named, escaped, with the rule. */
	assert_string_equal(err,
			    "path \"bad\\x0aname\": has a control character (byte 0x0a at offset 3)");
	aml_manifest_free(&m);
}

static void test_finish_refuses_bad_hash(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256];

	(void)state;
	add_file(&m, "a", "ABC", 1, 0, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no valid SHA-256"));
	aml_manifest_free(&m);
}

static void test_duplicates(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256];

	(void)state;
	add_file(&m, "b", SHA_A, 1, 0, 0);
	add_file(&m, "a", SHA_A, 1, 0, 0);
	add_file(&m, "b", SHA_B, 2, 0, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_string_equal(err, "path \"b\": appears twice");
	aml_manifest_free(&m);

	/* A file and a symlink of the same path. */
	add_file(&m, "a", SHA_A, 1, 0, 0);
	add_link(&m, "a", "b", 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "appears twice"));
	aml_manifest_free(&m);

	body_refused("f " SHA_A " 1 - 0 a\n"
		     "f " SHA_A " 1 - 0 a\n",
		     "line 3: path \"a\": appears twice");
	body_refused("f " SHA_A " 1 - 0 a\n"
		     "l 0 a\tb\n",
		     "line 3: path \"a\": appears twice");
}

static void test_below_a_file(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256];

	(void)state;
	add_file(&m, "a/b", SHA_A, 1, 0, 0);
	add_file(&m, "a", SHA_A, 1, 0, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_string_equal(err, "path \"a/b\": lies below the file \"a\"");
	aml_manifest_free(&m);

	/* "a-b" and "a.txt" sort between "a" and "a/b": the check must not
	 * rely on neighbours. */
	add_file(&m, "a/b/c", SHA_A, 1, 0, 0);
	add_file(&m, "a.txt", SHA_A, 1, 0, 0);
	add_file(&m, "a-b", SHA_A, 1, 0, 0);
	add_file(&m, "a", SHA_A, 1, 0, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_string_equal(err, "path \"a/b/c\": lies below the file \"a\"");
	aml_manifest_free(&m);

	body_refused("f " SHA_A " 1 - 0 a\n"
		     "f " SHA_A " 1 - 0 a-b\n"
		     "f " SHA_A " 1 - 0 a.txt\n"
		     "f " SHA_A " 1 - 0 a/b/c\n",
		     "line 5: path \"a/b/c\": lies below the file \"a\"");
	/* Deeper ancestors too. */
	body_refused("f " SHA_A " 1 - 0 x/y\n"
		     "f " SHA_A " 1 - 0 x/y-z\n"
		     "f " SHA_A " 1 - 0 x/y/z/w\n",
		     "line 4: path \"x/y/z/w\": lies below the file \"x/y\"");
}

static void test_below_a_symlink(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256];

	(void)state;
	add_link(&m, "lib", "src", 0);
	add_file(&m, "lib/x.py", SHA_A, 1, 0, 0);
	add_file(&m, "src/x.py", SHA_A, 1, 0, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_string_equal(err,
			    "path \"lib/x.py\": lies below the symlink \"lib\"");
	aml_manifest_free(&m);

	body_refused("l 0 lib\tsrc\n"
		     "f " SHA_A " 1 - 0 lib/x.py\n",
		     "line 3: path \"lib/x.py\": lies below the symlink \"lib\"");
}

static void test_siblings_with_common_prefix_accepted(void **state)
{
	(void)state;
	body_accepted("f " SHA_A " 1 - 0 a-b\n"
		      "f " SHA_A " 1 - 0 a.txt\n"
		      "f " SHA_A " 1 - 0 a/b\n"
		      "f " SHA_A " 1 - 0 ab\n"
		      "l 0 ab2\ta/b\n");
}

static void test_unsorted_refused(void **state)
{
	(void)state;
	body_refused("f " SHA_A " 1 - 0 b\n"
		     "f " SHA_A " 1 - 0 a\n",
		     "line 3: path \"a\": out of order");
	/* Bytewise: '-' (0x2d) sorts before '/' (0x2f). */
	body_refused("f " SHA_A " 1 - 0 a/b\n"
		     "f " SHA_A " 1 - 0 a-b\n",
		     "line 3: path \"a-b\": out of order");
	/* A prefix sorts first. */
	body_refused("f " SHA_A " 1 - 0 ab\n"
		     "f " SHA_A " 1 - 0 a\n",
		     "out of order");
	/* Bytewise, not by locale: 'B' (0x42) before 'a' (0x61), and UTF-8
	 * after ASCII. */
	body_accepted("f " SHA_A " 1 - 0 B\n"
		      "f " SHA_A " 1 - 0 a\n"
		      "f " SHA_A " 1 - 0 \xc3\xa9\n");
	body_refused("f " SHA_A " 1 - 0 a\n"
		     "f " SHA_A " 1 - 0 B\n",
		     "out of order");
}

static void test_finish_sorts_bytewise(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256], id[AML_SHA256_HEX_LEN + 1];
	size_t len;
	char *text;

	(void)state;
	add_file(&m, "a/b", SHA_A, 1, 0, 0);
	add_file(&m, "a.txt", SHA_A, 1, 0, 0);
	add_file(&m, "\xc3\xa9", SHA_A, 1, 0, 0);
	add_file(&m, "a-b", SHA_A, 1, 0, 0);
	add_file(&m, "B", SHA_A, 1, 0, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), 0);
	assert_string_equal(m.entries[0].path, "B");
	assert_string_equal(m.entries[1].path, "a-b");
	assert_string_equal(m.entries[2].path, "a.txt");
	assert_string_equal(m.entries[3].path, "a/b");
	assert_string_equal(m.entries[4].path, "\xc3\xa9");
	text = aml_manifest_encode(&m, &len, id);
	assert_non_null(text);
	/* What finish sorted, decode accepts as sorted. */
	assert_int_equal(decode_body(text + strlen(HDR), len - strlen(HDR), err,
				     sizeof(err)), 0);
	free(text);
	aml_manifest_free(&m);
}

/* ---- malformed text ---- */

static void test_wrong_header(void **state)
{
	static const char *const texts[] = {
		"", "aml-snapshot 1", "aml-snapshot 2\n", "AML-snapshot 1\n",
		"aml-snapshot 1\r\n", " aml-snapshot 1\n", "aml-snapshot  1\n",
		"aml-snapshot 10\n",
	};
	struct aml_manifest m;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
		assert_int_equal(aml_manifest_decode(texts[i], strlen(texts[i]),
						     &m, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "line 1: not a snapshot manifest"));
		aml_manifest_free(&m);
	}
}

static void test_missing_final_newline(void **state)
{
	(void)state;
	body_refused("f " SHA_A " 1 - 0 a", "line 2: does not end with a newline");
	body_refused("f " SHA_A " 1 - 0 a\nl 0 b\tc",
		     "line 3: does not end with a newline");
}

static void test_bad_hex(void **state)
{
	(void)state;
	body_refused("f " "A" SHA_A " 1 - 0 a\n", "sha256");
	body_refused("f AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 1 - 0 a\n",
		     "line 2: sha256 \"AAAA");
	body_refused("f aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaag 1 - 0 a\n",
		     "must be 64 lower-case hex digits");
	body_refused("f aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 - 0 a\n",
		     "must be 64 lower-case hex digits");
	body_refused("f " SHA_A "a 1 - 0 a\n", "must be 64 lower-case hex digits");
}

static void test_bad_numbers(void **state)
{
	(void)state;
	body_refused("f " SHA_A " 12a - 0 a\n", "line 2: size \"12a\"");
	body_refused("f " SHA_A " -1 - 0 a\n", "size \"-1\"");
	body_refused("f " SHA_A " +1 - 0 a\n", "size \"+1\"");
	body_refused("f " SHA_A " 0x10 - 0 a\n", "size \"0x10\"");
	body_refused("f " SHA_A " 18446744073709551616 - 0 a\n",
		     "size \"18446744073709551616\"");
	body_refused("f " SHA_A " 99999999999999999999 - 0 a\n", "size");
	body_refused("f " SHA_A " 111111111111111111111 - 0 a\n", "size");
	body_refused("f " SHA_A " 1 - 1.5 a\n", "mtime_ns \"1.5\"");
	body_refused("f " SHA_A " 1 - - a\n", "mtime_ns \"-\"");
	body_refused("f " SHA_A " 1 - 9223372036854775808 a\n", "mtime_ns");
	body_refused("f " SHA_A " 1 - -9223372036854775809 a\n", "mtime_ns");
	body_refused("l 1e9 a\tb\n", "line 2: mtime_ns \"1e9\"");
	body_refused("l +5 a\tb\n", "mtime_ns \"+5\"");
	/* The extremes are fine. */
	body_accepted("f " SHA_A " 18446744073709551615 - 9223372036854775807 a\n");
	body_accepted("f " SHA_A " 0 - -9223372036854775808 a\n");
	body_accepted("l -1 a\tb\n");
}

static void test_leading_zeros(void **state)
{
	(void)state;
	body_refused("f " SHA_A " 01 - 0 a\n", "size \"01\"");
	body_refused("f " SHA_A " 00 - 0 a\n", "size \"00\"");
	body_refused("f " SHA_A " 1 - 00 a\n", "mtime_ns \"00\"");
	body_refused("f " SHA_A " 1 - 0123 a\n", "mtime_ns \"0123\"");
	body_refused("f " SHA_A " 1 - -01 a\n", "mtime_ns \"-01\"");
	/* Negative zero has a shorter spelling. */
	body_refused("f " SHA_A " 1 - -0 a\n", "mtime_ns \"-0\"");
	body_refused("l 007 a\tb\n", "mtime_ns \"007\"");
	body_accepted("f " SHA_A " 0 - 0 a\n");
}

static void test_bad_mode(void **state)
{
	(void)state;
	body_refused("f " SHA_A " 1 y 0 a\n", "line 2: mode \"y\": must be \"x\" or \"-\"");
	body_refused("f " SHA_A " 1 xx 0 a\n", "mode \"xx\"");
	body_refused("f " SHA_A " 1 X 0 a\n", "mode \"X\"");
	body_refused("f " SHA_A " 1 + 0 a\n", "mode \"+\"");
}

static void test_missing_fields(void **state)
{
	(void)state;
	body_refused("f\n", "line 2: \"f\": must start with");
	body_refused("f " SHA_A "\n", "line 2: too few fields");
	body_refused("f " SHA_A " 1\n", "too few fields");
	body_refused("f " SHA_A " 1 -\n", "too few fields");
	body_refused("f " SHA_A " 1 - 0\n", "too few fields");
	body_refused("f " SHA_A " 1 - 0 \n", "path \"\": is empty");
	body_refused("l 0\n", "too few fields");
	body_refused("l 0 a\n", "needs a tab between the path and the target");
	body_refused("l 0 \tb\n", "path \"\": is empty");
	body_refused("l 0 a\t\n", "target \"\": is empty");
}

static void test_extra_blanks(void **state)
{
	(void)state;
	body_refused("f  " SHA_A " 1 - 0 a\n", "sha256 \"\"");
	body_refused("f " SHA_A "  1 - 0 a\n", "size \"\"");
	body_refused("f " SHA_A " 1  - 0 a\n", "mode \"\"");
	body_refused("f " SHA_A " 1 -  0 a\n", "mtime_ns \"\"");
	body_refused("l  0 a\tb\n", "mtime_ns \"\"");
	body_refused(" f " SHA_A " 1 - 0 a\n", "must start with");
	/* After the last number the blanks belong to the path, which may
	 * start or end with one: that is still the one text of that tree. */
	body_accepted("f " SHA_A " 1 - 0  a\n");
	body_accepted("f " SHA_A " 1 - 0 a \n");
	body_accepted("l 0 a \t b\n");
}

static void test_other_malformed_lines(void **state)
{
	char err[256];

	(void)state;
	body_refused("\n", "line 2: \"\": must start with");
	body_refused("d 0 a\n", "must start with \"f \" (file) or \"l \" (symlink)");
	body_refused("F " SHA_A " 1 - 0 a\n", "must start with");
	body_refused("f\t" SHA_A " 1 - 0 a\n", "must start with");
	/* CRLF: the CR ends up in the path. */
	body_refused("f " SHA_A " 1 - 0 a\r\n", "control character (byte 0x0d");
	/* Bad paths on a line name the line and the rule. */
	body_refused("f " SHA_A " 1 - 0 ../etc/passwd\n",
		     "line 2: path \"../etc/passwd\": has a \"..\" segment");
	body_refused("f " SHA_A " 1 - 0 /etc/passwd\n", "is absolute");
	body_refused("f " SHA_A " 1 - 0 .git/config\n", "\".git\" segment");
	body_refused("f " SHA_A " 1 - 0 a\xff\n",
		     "path \"a\\xff\": is not valid UTF-8");
	/* A NUL byte inside the text. */
	assert_int_equal(decode_body("f " SHA_A " 1 - 0 a\0b\n",
				     strlen("f " SHA_A " 1 - 0 a") + 3, err,
				     sizeof(err)), -1);
	assert_non_null(strstr(err, "control character (byte 0x00"));
	/* A NUL in the header. */
	{
		struct aml_manifest m;
		char text[] = "aml-snapshot 1\0";

		assert_int_equal(aml_manifest_decode(text, sizeof(text) - 1, &m,
						     err, sizeof(err)), -1);
		aml_manifest_free(&m);
	}
}

/* ---- round trip and id ---- */

static void build_sample(struct aml_manifest *m, int reversed)
{
	if (!reversed) {
		add_file(m, "train.py", SHA_0, 1234, 1, 1700000000123456789LL);
		add_file(m, "data/ca f\xc3\xa9.csv", SHA_A, 0, 0, -1);
		add_link(m, "data/latest", "ca f\xc3\xa9.csv", 5);
		add_link(m, "lib/up", "../data", INT64_MIN);
		add_file(m, "lib/x.py", SHA_B, UINT64_MAX, 7, INT64_MAX);
	} else {
		add_file(m, "lib/x.py", SHA_B, UINT64_MAX, 1, INT64_MAX);
		add_link(m, "lib/up", "../data", INT64_MIN);
		add_link(m, "data/latest", "ca f\xc3\xa9.csv", 5);
		add_file(m, "data/ca f\xc3\xa9.csv", SHA_A, 0, 0, -1);
		add_file(m, "train.py", SHA_0, 1234, 1, 1700000000123456789LL);
	}
}

#define SAMPLE_TEXT \
	HDR \
	"f " SHA_A " 0 - -1 data/ca f\xc3\xa9.csv\n" \
	"l 5 data/latest\tca f\xc3\xa9.csv\n" \
	"l -9223372036854775808 lib/up\t../data\n" \
	"f " SHA_B " 18446744073709551615 x 9223372036854775807 lib/x.py\n" \
	"f " SHA_0 " 1234 x 1700000000123456789 train.py\n"

/* The SHA-256 of SAMPLE_TEXT, computed once with Python's hashlib: the text
 * format and the id must never change silently. */
#define SAMPLE_ID "ee850b6c04e9fd2c3a815a3119f53e461ff921f94ddf8b3317a045fec2c42c82"

static void test_encode_exact_text(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256], id[AML_SHA256_HEX_LEN + 1], check[AML_SHA256_HEX_LEN + 1];
	size_t len;
	char *text;

	(void)state;
	build_sample(&m, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), 0);
	text = aml_manifest_encode(&m, &len, id);
	assert_non_null(text);
	assert_int_equal(len, strlen(SAMPLE_TEXT));
	assert_memory_equal(text, SAMPLE_TEXT, len);
	assert_int_equal(text[len], '\0');
	assert_int_equal(aml_sha256_buffer(text, len, check), 0);
	assert_string_equal(id, check);
	assert_string_equal(id, SAMPLE_ID);
	free(text);
	/* Without an id to fill, the same text (nothing hashed). */
	text = aml_manifest_encode(&m, &len, NULL);
	assert_non_null(text);
	assert_int_equal(len, strlen(SAMPLE_TEXT));
	assert_memory_equal(text, SAMPLE_TEXT, len + 1);
	free(text);
	aml_manifest_free(&m);
}

static void test_round_trip(void **state)
{
	struct aml_manifest m = { 0 }, back;
	char err[256], id1[AML_SHA256_HEX_LEN + 1], id2[AML_SHA256_HEX_LEN + 1];
	size_t len1, len2;
	char *t1, *t2;

	(void)state;
	build_sample(&m, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), 0);
	t1 = aml_manifest_encode(&m, &len1, id1);
	assert_non_null(t1);
	assert_int_equal(aml_manifest_decode(t1, len1, &back, err, sizeof(err)), 0);
	assert_int_equal(back.count, m.count);
	for (size_t i = 0; i < m.count; i++) {
		const struct aml_manifest_entry *a = &m.entries[i], *b = &back.entries[i];

		assert_int_equal(a->type, b->type);
		assert_string_equal(a->path, b->path);
		if (a->type == AML_ENTRY_SYMLINK)
			assert_string_equal(a->target, b->target);
		else
			assert_null(b->target);
		assert_true(a->size == b->size);
		assert_int_equal(a->executable, b->executable);
		assert_true(a->mtime_ns == b->mtime_ns);
		assert_string_equal(a->sha256, b->sha256);
	}
	t2 = aml_manifest_encode(&back, &len2, id2);
	assert_non_null(t2);
	assert_int_equal(len1, len2);
	assert_memory_equal(t1, t2, len1);
	assert_string_equal(id1, id2);
	free(t1);
	free(t2);
	aml_manifest_free(&m);
	aml_manifest_free(&back);
}

/* Finish [a] and [b] and check they encode to the same text; its id in
 * [id]. */
static void finish_same_text(struct aml_manifest *a, struct aml_manifest *b,
			     char id[AML_SHA256_HEX_LEN + 1])
{
	char err[256], id1[AML_SHA256_HEX_LEN + 1];
	size_t l1, l2;
	char *t1, *t2;

	assert_int_equal(aml_manifest_finish(a, err, sizeof(err)), 0);
	assert_int_equal(aml_manifest_finish(b, err, sizeof(err)), 0);
	t1 = aml_manifest_encode(a, &l1, id1);
	t2 = aml_manifest_encode(b, &l2, id);
	assert_non_null(t1);
	assert_non_null(t2);
	assert_int_equal(l1, l2);
	assert_memory_equal(t1, t2, l1);
	assert_string_equal(id1, id);
	free(t1);
	free(t2);
}

static void test_id_stable_across_order(void **state)
{
	struct aml_manifest a = { 0 }, b = { 0 };
	char id1[AML_SHA256_HEX_LEN + 1], id2[AML_SHA256_HEX_LEN + 1];
	size_t l1;
	char *t1;

	(void)state;
	build_sample(&a, 0);
	build_sample(&b, 1);
	finish_same_text(&a, &b, id2);
	/* Any change of content changes the id. */
	a.entries[0].mtime_ns++;
	t1 = aml_manifest_encode(&a, &l1, id1);
	assert_non_null(t1);
	assert_string_not_equal(id1, id2);
	free(t1);
	aml_manifest_free(&a);
	aml_manifest_free(&b);
}

static void test_empty_manifest(void **state)
{
	struct aml_manifest m = { 0 }, back;
	char err[256], id[AML_SHA256_HEX_LEN + 1], check[AML_SHA256_HEX_LEN + 1];
	size_t len;
	char *text;

	(void)state;
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), 0);
	text = aml_manifest_encode(&m, &len, id);
	assert_non_null(text);
	assert_string_equal(text, HDR);
	assert_int_equal(aml_sha256_buffer(HDR, strlen(HDR), check), 0);
	assert_string_equal(id, check);
	assert_int_equal(aml_manifest_decode(text, len, &back, err, sizeof(err)), 0);
	assert_int_equal(back.count, 0);
	aml_manifest_free(&back);
	free(text);
	assert_int_equal(aml_manifest_total_bytes(&m), 0);
}

static void test_finish_normalises(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256];

	(void)state;
	add_file(&m, "a", SHA_A, 3, 0755, 0);
	{
		struct aml_manifest_entry e;

		memset(&e, 0, sizeof(e));
		e.type = AML_ENTRY_SYMLINK;
		e.path = "l";
		e.target = "a";
		e.size = 99;
		e.executable = 1;
		memcpy(e.sha256, SHA_B, sizeof(e.sha256));
		assert_int_equal(aml_manifest_add(&m, &e), 0);
	}
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), 0);
	assert_int_equal(m.entries[0].executable, 1);
	assert_int_equal(m.entries[1].size, 0);
	assert_int_equal(m.entries[1].executable, 0);
	assert_string_equal(m.entries[1].sha256, "");
	aml_manifest_free(&m);

	/* add() keeps no target for a file. */
	{
		struct aml_manifest_entry e;

		memset(&e, 0, sizeof(e));
		e.type = AML_ENTRY_FILE;
		e.path = "f";
		e.target = "ignored";
		memcpy(e.sha256, SHA_A, sizeof(e.sha256));
		assert_int_equal(aml_manifest_add(&m, &e), 0);
		assert_null(m.entries[0].target);
	}
	aml_manifest_free(&m);
}

static void test_total_bytes(void **state)
{
	struct aml_manifest m = { 0 };

	(void)state;
	add_file(&m, "a", SHA_A, 10, 0, 0);
	add_file(&m, "b", SHA_A, 32, 0, 0);
	add_link(&m, "c", "a", 0);
	assert_true(aml_manifest_total_bytes(&m) == 42);
	add_file(&m, "d", SHA_A, UINT64_MAX - 1, 0, 0);
	/* Saturates: a hostile manifest cannot wrap under a limit. */
	assert_true(aml_manifest_total_bytes(&m) == UINT64_MAX);
	aml_manifest_free(&m);
	aml_manifest_free(&m);  /* freeing twice is harmless */
}

/* 10,000 entries in a realistic tree, through finish, encode and decode. */
static void test_ten_thousand_entries(void **state)
{
	struct aml_manifest m = { 0 }, back;
	char err[256], id1[AML_SHA256_HEX_LEN + 1], id2[AML_SHA256_HEX_LEN + 1];
	char path[128];
	size_t l1, l2;
	char *t1, *t2;

	(void)state;
	for (int i = 0; i < 10000; i++) {
		snprintf(path, sizeof(path), "pkg%02d/module_%03d/file_%04d.py",
			 i % 37, i % 101, i);
		add_file(&m, path, SHA_0, (uint64_t)i * 977, i % 3 == 0,
			 1700000000000000000LL + i);
	}
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), 0);
	t1 = aml_manifest_encode(&m, &l1, id1);
	assert_non_null(t1);
	assert_int_equal(aml_manifest_decode(t1, l1, &back, err, sizeof(err)), 0);
	assert_int_equal(back.count, 10000);
	t2 = aml_manifest_encode(&back, &l2, id2);
	assert_non_null(t2);
	assert_int_equal(l1, l2);
	assert_memory_equal(t1, t2, l1);
	assert_string_equal(id1, id2);
	free(t1);
	free(t2);
	aml_manifest_free(&m);
	aml_manifest_free(&back);
}

/* Deep paths (2,000 segments) must not make the ancestor check
 * quadratic in the path length. */
static void test_deep_paths(void **state)
{
	struct aml_manifest m = { 0 };
	char err[256], *path = malloc(AML_MANIFEST_PATH_MAX + 1);
	size_t n = 0;

	(void)state;
	assert_non_null(path);
	while (n + 2 <= AML_MANIFEST_PATH_MAX - 8) {
		path[n++] = 'd';
		path[n++] = '/';
	}
	for (unsigned i = 0; i < 300; i++) {
		snprintf(path + n, 8, "f%u", i % 1000);
		add_file(&m, path, SHA_A, 1, 0, 0);
	}
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), 0);
	/* And a file on the way down is found. */
	add_file(&m, "d/d/d", SHA_A, 1, 0, 0);
	assert_int_equal(aml_manifest_finish(&m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lies below the file \"d/d/d\""));
	free(path);
	aml_manifest_free(&m);
}

static void test_long_value_quoted_short(void **state)
{
	char body[AML_MANIFEST_PATH_MAX + 200], err[2048];
	size_t n;

	(void)state;
	n = (size_t)snprintf(body, sizeof(body), "f " SHA_A " 1 - 0 ");
	memset(body + n, 'x', AML_MANIFEST_PATH_MAX + 1);
	n += AML_MANIFEST_PATH_MAX + 1;
	body[n++] = '\n';
	assert_int_equal(decode_body(body, n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "xxx...\": is longer than 4096 bytes"));
	assert_true(strlen(err) < 400);
}

static void test_tiny_errbuf(void **state)
{
	struct aml_manifest m;
	char err[8];

	(void)state;
	assert_int_equal(aml_manifest_check_path("", err, sizeof(err)), -1);
	assert_string_equal(err, "is empt");
	assert_int_equal(aml_manifest_check_path("", NULL, 0), -1);
	assert_int_equal(aml_manifest_decode("x", 1, &m, NULL, 0), -1);
}

/* aml_manifest_take() keeps the entry's own strings, drops a file's
 * target, and encodes as aml_manifest_add() does. */
static void test_take_keeps_the_strings(void **state)
{
	struct aml_manifest added = { 0 }, taken = { 0 };
	struct aml_manifest_entry e = { 0 };
	char id[AML_SHA256_HEX_LEN + 1];
	char *path;

	(void)state;
	build_sample(&added, 0);
	for (size_t k = 0; k < added.count; k++) {
		e = added.entries[k];
		path = e.path = strdup(added.entries[k].path);
		e.target = strdup(e.target ? e.target : "ignored for a file");
		assert_non_null(e.path);
		assert_non_null(e.target);
		assert_int_equal(aml_manifest_take(&taken, &e), 0);
		assert_null(e.path);
		assert_null(e.target);
		assert_ptr_equal(taken.entries[k].path, path);
		if (taken.entries[k].type == AML_ENTRY_FILE)
			assert_null(taken.entries[k].target);
	}
	finish_same_text(&added, &taken, id);
	aml_manifest_free(&added);
	aml_manifest_free(&taken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_accepted),
		cmocka_unit_test(test_path_empty_and_absolute),
		cmocka_unit_test(test_path_empty_segment),
		cmocka_unit_test(test_path_dot_segments),
		cmocka_unit_test(test_path_git_segment),
		cmocka_unit_test(test_path_control_characters),
		cmocka_unit_test(test_path_invalid_utf8),
		cmocka_unit_test(test_path_too_long),
		cmocka_unit_test(test_targets_inside),
		cmocka_unit_test(test_targets_escaping),
		cmocka_unit_test(test_targets_characters),
		cmocka_unit_test(test_symlink_without_target),
		cmocka_unit_test(test_finish_refuses_bad_path),
		cmocka_unit_test(test_finish_refuses_bad_hash),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_below_a_file),
		cmocka_unit_test(test_below_a_symlink),
		cmocka_unit_test(test_siblings_with_common_prefix_accepted),
		cmocka_unit_test(test_unsorted_refused),
		cmocka_unit_test(test_finish_sorts_bytewise),
		cmocka_unit_test(test_wrong_header),
		cmocka_unit_test(test_missing_final_newline),
		cmocka_unit_test(test_bad_hex),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_leading_zeros),
		cmocka_unit_test(test_bad_mode),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_extra_blanks),
		cmocka_unit_test(test_other_malformed_lines),
		cmocka_unit_test(test_encode_exact_text),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_id_stable_across_order),
		cmocka_unit_test(test_empty_manifest),
		cmocka_unit_test(test_finish_normalises),
		cmocka_unit_test(test_total_bytes),
		cmocka_unit_test(test_ten_thousand_entries),
		cmocka_unit_test(test_deep_paths),
		cmocka_unit_test(test_long_value_quoted_short),
		cmocka_unit_test(test_tiny_errbuf),
		cmocka_unit_test(test_take_keeps_the_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
