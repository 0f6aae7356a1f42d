/*
 * Unit tests of plugin/ignore.c: gitignore patterns, read and matched as
 * git 2.39 does.
 *
 * Every expectation in the tables below is checked against the real git
 * by table_agrees_with_git (git check-ignore on a tree built from the
 * table), and rich_set_agrees_with_git and random_sets_agree_with_git
 * compare the module with git path by path.  Those three skip when git
 * cannot be run.  git is run with a clean environment: HOME and
 * XDG_CONFIG_HOME in a temporary directory, no system configuration, no
 * global excludes file, core.ignorecase off.
 *
 * Like for like: git check-ignore calls a path ignored when one of its
 * parent directories is, while this module only judges the path's own
 * patterns (the walker never descends into an excluded directory).  So
 * git is only asked about paths whose parents it does not exclude.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ignore.h"
#include "tree.h"

/* ---------------------------------------------------------------------- */
/* The table                                                              */

struct expect {
	const char *path;
	int is_dir;
	int excluded;
};

/* A .gitignore (raw bytes, NULs allowed) and what it does to some paths. */
struct group {
	const char *name;
	const char *text;
	size_t len;
	size_t count;		/* aml_ignore_count(): lines that are neither
				 * comments nor blank once trimmed */
	const struct expect *cases;	/* ends with a NULL path */
};

#define PATS(s) s, sizeof(s) - 1
#define CASES(...) (const struct expect[]){ __VA_ARGS__, { NULL, 0, 0 } }
#define F 0	/* a file */
#define D 1	/* a directory */

static const struct group table[] = {
	/* A pattern without '/' matches the basename at any depth. */
	{ "basename", PATS("foo\n"), 1, CASES(
		{ "foo", F, 1 }, { "a/foo", F, 1 }, { "a/b/foo", D, 1 },
		{ "foobar", F, 0 }, { "xfoo", F, 0 }, { "a/foo.c", F, 0 }) },
	/* "*literal" is a suffix test on the basename. */
	{ "suffix", PATS("*.log\n*.py[co]\n"), 2, CASES(
		{ "a.log", F, 1 }, { ".log", F, 1 }, { "x/y/z.log", F, 1 },
		{ "log", F, 0 }, { "a.log.txt", F, 0 }, { "a.pyc", F, 1 },
		{ "d/a.pyo", F, 1 }, { "a.py", F, 0 }, { "a.pyx", F, 0 }) },
	/* '*' and '?' do not match '/'. */
	{ "star and question", PATS("src/*.c\n/x?z\n?.txt\n"), 3, CASES(
		{ "src/m.c", F, 1 }, { "src/.c", F, 1 }, { "src/d/m.c", F, 0 },
		{ "y/src/m.c", F, 0 }, { "xyz", F, 1 }, { "x/z", F, 0 },
		{ "a.txt", F, 1 }, { "d/b.txt", F, 1 }, { "ab.txt", F, 0 },
		{ ".txt", F, 0 }) },
	{ "star slash", PATS("a/*/b\nc/*\n"), 2, CASES(
		{ "a/x/b", F, 1 }, { "a/x/y/b", F, 0 }, { "a/b", F, 0 },
		{ "c/x", F, 1 }, { "c/y", D, 1 }, { "c", D, 0 }) },
	/* Ranges, negation with '!' and '^', ']' first is a member. */
	{ "brackets",
	  PATS("[a-c]?.txt\n[!x]*.md\nz[^0-9]\n[]]b\n[!]]c\nr[a-]\n"
	       "[a-c-e]g\n"), 7, CASES(
		{ "a1.txt", F, 1 }, { "b9.txt", F, 1 }, { "d2.txt", F, 0 },
		{ "c.txt", F, 0 }, { "y.md", F, 1 }, { "x.md", F, 0 },
		{ "xy.md", F, 0 }, { ".md", F, 0 }, { "za", F, 1 },
		{ "z5", F, 0 }, { "]b", F, 1 }, { "ac", F, 1 },
		{ "]c", F, 0 }, { "ra", F, 1 }, { "r-", F, 1 },
		{ "rb", F, 0 }, { "bg", F, 1 }, { "-g", F, 1 },
		{ "eg", F, 1 }, { "dg", F, 0 }) },
	/* Classes use git's ctype: ASCII only, and no '\v' or '\f' in
	 * [:space:]. */
	{ "classes",
	  PATS("[[:digit:]]x\n[[:upper:]][[:lower:]]\n[[:space:]]s\n"
	       "[[:alpha:]-]d\n[[:punct:]]p\n[[:xdigit:]]h\n"), 6, CASES(
		{ "5x", F, 1 }, { "ax", F, 0 }, { "Ab", F, 1 },
		{ "ab", F, 0 }, { "AB", F, 0 }, { " s", F, 1 },
		{ "\ts", F, 1 }, { "\vs", F, 0 }, { "\fs", F, 0 },
		{ "ad", F, 1 }, { "-d", F, 1 }, { "1d", F, 0 },
		{ "_p", F, 1 }, { "~p", F, 1 }, { "ap", F, 0 },
		{ "\xe9p", F, 0 }, { "Fh", F, 1 }, { "gh", F, 0 }) },
	/* "[:" without ":]" is a plain '['; the set goes on after it. */
	{ "class lookalikes", PATS("y[[:alpha]\nx[[:]\n"), 2, CASES(
		{ "y[", F, 1 }, { "y:", F, 1 }, { "yp", F, 1 },
		{ "yb", F, 0 }, { "x:", F, 1 }, { "x[", F, 1 },
		{ "xa", F, 0 }) },
	/* git gives up on these: the whole pattern matches nothing. */
	{ "bad brackets",
	  PATS("[abc\nx[\n[[:foo:]]y\n[]\n[!]\nq[z-\\\n[[:alpha:]\n"
	       "[![:foo:]]n\n"), 8,
	  CASES(
		{ "[abc", F, 0 }, { "a", F, 0 }, { "x[", F, 0 }, { "an", F, 0 },
		{ "x", F, 0 }, { "fy", F, 0 }, { "[]", F, 0 },
		{ "[!]", F, 0 }, { "qz", F, 0 }, { "q[z-\\", F, 0 }) },
	/* A reversed range is empty, but its first end was already read
	 * as a member, so "[z-a]" is "[z]"; escapes in ranges. */
	{ "range edges", PATS("[z-a]e\n[\\]-a]x\n[a-\\]]y\n"), 3, CASES(
		{ "ze", F, 1 }, { "ae", F, 0 }, { "_x", F, 1 },
		{ "ax", F, 1 }, { "\\x", F, 0 }, { "bx", F, 0 },
		{ "]y", F, 0 }, { "ay", F, 1 }) },
	{ "escapes",
	  PATS("\\#hash\n\\!bang\n\\*star\nq\\?\n\\a\\b\n\\[br]\nq\\\\\n"),
	  7, CASES(
		{ "#hash", F, 1 }, { "!bang", F, 1 }, { "*star", F, 1 },
		{ "xstar", F, 0 }, { "q?", F, 1 }, { "qz", F, 0 },
		{ "ab", F, 1 }, { "[br]", F, 1 }, { "b", F, 0 },
		{ "q\\", F, 1 }) },
	/* Only a '#' in the first column starts a comment. */
	{ "comments", PATS("#foo\n #bar\n"), 1, CASES(
		{ "#foo", F, 0 }, { "foo", F, 0 }, { " #bar", F, 1 },
		{ "#bar", F, 0 }) },
	/* Trailing spaces go, unless escaped; tabs stay; a line ending in
	 * a lone '\' keeps its spaces and matches nothing. */
	{ "trailing spaces",
	  PATS("sp  \ntrail\\ \ntwo\\  \ntab\t\nbs \\\n  lead\n"), 6, CASES(
		{ "sp", F, 1 }, { "sp ", F, 0 }, { "trail ", F, 1 },
		{ "trail", F, 0 }, { "two ", F, 1 }, { "two  ", F, 0 },
		{ "tab\t", F, 1 }, { "tab", F, 0 }, { "bs ", F, 0 },
		{ "bs \\", F, 0 }, { "bs", F, 0 }, { "  lead", F, 1 },
		{ "lead", F, 0 }) },
	{ "trailing backslash", PATS("bs\\\n\\\n"), 2, CASES(
		{ "bs", F, 0 }, { "bs\\", F, 0 }, { "\\", F, 0 }) },
	{ "negation", PATS("*.log\n!keep.log\n!/top.log\n"), 3, CASES(
		{ "a.log", F, 1 }, { "keep.log", F, 0 }, { "d/keep.log", F, 0 },
		{ "top.log", F, 0 }, { "d/top.log", F, 1 }) },
	{ "last match wins", PATS("!a\na\n*.c\n!*.c\n*.h\n!*.h\n*.h\n"), 7,
	  CASES({ "a", F, 1 }, { "x.c", F, 0 }, { "x.h", F, 1 }) },
	{ "directories only", PATS("build/\n/out/\ndoc/frotz/\n"), 3, CASES(
		{ "build", D, 1 }, { "a/build", D, 1 },
		{ "a/build2", D, 0 }, { "out", D, 1 }, { "a/out", D, 0 },
		{ "doc/frotz", D, 1 }, { "a/doc/frotz", D, 0 },
		{ "doc/frotz2", D, 0 }) },
	{ "directories only, file", PATS("build/\nout/\n"), 2, CASES(
		{ "build", F, 0 }, { "a/out", F, 0 }) },
	/* A '/' at the start or in the middle anchors at the root. */
	{ "anchoring", PATS("/anchored\nmid/dle\n/x/*.c\n"), 3, CASES(
		{ "anchored", F, 1 }, { "d/anchored", F, 0 },
		{ "mid/dle", F, 1 }, { "x/mid/dle", F, 0 },
		{ "x/m.c", F, 1 }, { "y/x/m.c", F, 0 }) },
	/* Only one leading '/' is dropped: "//abs" never matches. */
	{ "double slash", PATS("//abs\n"), 1, CASES({ "abs", F, 0 }) },
	/* "/", "!" and "!/" are patterns that match nothing. */
	{ "empty bodies", PATS("/\n!\n!/\n"), 3, CASES(
		{ "a", F, 0 }, { "b", D, 0 }) },
	{ "leading **", PATS("**/foo\n**/bar/baz\n"), 2, CASES(
		{ "foo", F, 1 }, { "a/foo", F, 1 }, { "a/b/foo", D, 1 },
		{ "afoo", F, 0 }, { "bar/baz", F, 1 }, { "a/bar/baz", F, 1 },
		{ "a/bar/x/baz", F, 0 }, { "baz", F, 0 }) },
	{ "trailing **", PATS("abc/**\n"), 1, CASES(
		{ "abc", D, 0 }, { "abc/x", F, 1 }, { "abc/y", D, 1 },
		{ "x/abc/y", F, 0 }) },
	{ "inner **", PATS("a/**/b\n"), 1, CASES(
		{ "a/b", F, 1 }, { "a/x/b", F, 1 }, { "a/x/y/b", F, 1 },
		{ "a/xb", F, 0 }, { "b", F, 0 }, { "x/a/b", F, 0 }) },
	{ "two inner **", PATS("**/deep/**/x\n"), 1, CASES(
		{ "deep/x", F, 1 }, { "deep/a/x", F, 1 },
		{ "a/deep/b/c/x", F, 1 }, { "deep", D, 0 }, { "deepy", F, 0 },
		{ "adeep/x", F, 0 }, { "deepx/x", F, 0 }) },
	{ "**/**", PATS("**/**/q\nr/**/**\n"), 2, CASES(
		{ "q", F, 1 }, { "a/b/q", F, 1 }, { "r", D, 0 },
		{ "r/s", F, 1 }) },
	/* Other runs of '*' are a single '*'. */
	{ "other **", PATS("a**b\nx/c**d\n"), 2, CASES(
		{ "ab", F, 1 }, { "axxb", F, 1 }, { "y/ab", F, 1 },
		{ "x/cd", F, 1 }, { "x/cyyd", F, 1 }, { "x/c/d", F, 0 }) },
	/* git compares the literal head first and starts the glob after
	 * it, so there "**" counts as leading. */
	/* A "**" after a literal head is two '*' (git 2.39 let it cross '/'). */
	{ "** after the literal head", PATS("foo**/bar\nx/y**z\n"), 2, CASES(
		{ "foo/bar", F, 1 }, { "foox/bar", F, 1 },
		{ "foo/x/y/bar", F, 0 }, { "x/yQQz", F, 1 },
		{ "x/y/z", F, 0 }) },
	/* "**" before an escaped '/' has no zero-directory shortcut. */
	{ "** before \\/", PATS("a/**\\/b\n"), 1, CASES(
		{ "a/b", F, 0 }, { "a/x/b", F, 1 }, { "a/x/y/b", F, 1 }) },
	{ "** alone", PATS("**\n"), 1, CASES(
		{ "x", F, 1 }, { "y", D, 1 }) },
	{ "/** alone", PATS("/**\n"), 1, CASES({ "x", F, 1 }) },
	/* CR LF: one CR before the LF goes, any other CR stays. */
	{ "CRLF", PATS("crlf\r\n*.t\r\r\ncr2 \r\n"), 3, CASES(
		{ "crlf", F, 1 }, { "crlf\r", F, 0 }, { "a.t\r", F, 1 },
		{ "a.t", F, 0 }, { "cr2", F, 1 }) },
	{ "lone CR", PATS("a\rb\n\r\n"), 1, CASES(
		{ "a\rb", F, 1 }, { "a", F, 0 }) },
	/* A byte order mark is skipped at the very start only. */
	{ "BOM", PATS("\xef\xbb\xbf" "bom\n\xef\xbb\xbf" "later\n"), 2, CASES(
		{ "bom", F, 1 }, { "later", F, 0 },
		{ "\xef\xbb\xbf" "later", F, 1 }) },
	{ "BOM comment", PATS("\xef\xbb\xbf#c\n"), 0, CASES(
		{ "#c", F, 0 }) },
	/* A NUL ends its line's pattern; the next line is read. */
	{ "NUL", PATS("nul\0tail\nnext\n\0all\n"), 2, CASES(
		{ "nul", F, 1 }, { "nultail", F, 0 }, { "next", F, 1 },
		{ "all", F, 0 }) },
	/* Bytes, not characters: '?' is one byte of a UTF-8 sequence. */
	{ "invalid UTF-8", PATS("\xff\xfe*\n[\x80-\xff]x\n?y\n\xc3\n"), 4,
	  CASES(
		{ "\xff\xfe.txt", F, 1 }, { "\xe9x", F, 1 }, { "ax", F, 0 },
		{ "\xc3\xa9y", F, 0 }, { "\xe9y", F, 1 }, { "\xc3", F, 1 }) },
	{ "no final newline", PATS("a\nlast"), 2, CASES(
		{ "last", F, 1 }, { "a", F, 1 }) },
	/* Blank lines (spaces only) match nothing; a tab is a pattern. */
	{ "blank lines", PATS("\n   \n\t\n"), 1, CASES(
		{ "\t", F, 1 }, { "   ", F, 0 }) },
	{ "empty file", PATS(""), 0, CASES({ "a", F, 0 }, { "b", D, 0 }) },
	{ "only comments", PATS("# one\n#two\n\n#\n"), 0, CASES(
		{ "one", F, 0 }, { "#two", F, 0 }) },
};

static void check_group(const struct group *g, int *failures)
{
	struct aml_ignore *ig = aml_ignore_parse(g->text, g->len);

	assert_non_null(ig);
	if (aml_ignore_count(ig) != g->count) {
		print_message("%s: %zu patterns, expected %zu\n", g->name,
			      aml_ignore_count(ig), g->count);
		(*failures)++;
	}
	for (const struct expect *c = g->cases; c->path; c++) {
		int got = aml_ignore_match(ig, c->path, c->is_dir);

		if (got != c->excluded) {
			print_message("%s: \"%s\"%s: %s, expected %s\n",
				      g->name, c->path, c->is_dir ? "/" : "",
				      got ? "excluded" : "kept",
				      c->excluded ? "excluded" : "kept");
			(*failures)++;
		}
	}
	aml_ignore_free(ig);
}

static void table_cases(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		check_group(&table[i], &failures);
	assert_int_equal(failures, 0);
}

/* The walker never descends into an excluded directory, so a '!' for a
 * file under one is moot; here the module judges the file's own
 * patterns (git check-ignore would say "ignored", from the parent). */
static void path_patterns_only(void **state)
{
	static const char text[] = "d/\n!d/f\n";
	struct aml_ignore *ig = aml_ignore_parse(text, sizeof(text) - 1);

	(void)state;
	assert_non_null(ig);
	assert_true(aml_ignore_match(ig, "d", 1));
	assert_false(aml_ignore_match(ig, "d/f", 0));
	aml_ignore_free(ig);
}

static void api_edges(void **state)
{
	struct aml_ignore *ig;

	(void)state;
	ig = aml_ignore_parse(NULL, 0);
	assert_non_null(ig);
	assert_int_equal(aml_ignore_count(ig), 0);
	assert_false(aml_ignore_match(ig, "a", 0));
	aml_ignore_free(ig);
	assert_int_equal(aml_ignore_count(NULL), 0);
	aml_ignore_free(NULL);

	/* [len] bounds the text: what follows is not read. */
	ig = aml_ignore_parse("a\nb\n", 2);
	assert_non_null(ig);
	assert_int_equal(aml_ignore_count(ig), 1);
	assert_true(aml_ignore_match(ig, "a", 0));
	assert_false(aml_ignore_match(ig, "b", 0));
	/* An empty path is no path. */
	assert_false(aml_ignore_match(ig, "", 0));
	aml_ignore_free(ig);
}

/* ---------------------------------------------------------------------- */
/* Long and hostile patterns                                              */

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t n = strlen(unit), t = strlen(tail);
	char *s = malloc(n * times + t + 2);

	assert_non_null(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * n, unit, n);
	memcpy(s + n * times, tail, t + 1);
	return s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Patterns that make a backtracking matcher take exponential time or
 * recurse once per '*'.  git 2.39 itself needs more than 20 s to match
 * "*a*a*a*a*a*a*aa*a*a*a*b" against a name of 61 'a' and a 'c'.  The
 * bound is loose (valgrind is slow); the point is that none of this is
 * exponential.
 */
static void hostile_patterns(void **state)
{
	static const char *const units[] = {
		"*a", "**/", "*/", "?*", "[a]*", "a/**/", "*\\a", "**a",
	};
	char *text = repeat("*a", 40, "b\n");
	char *path = repeat("a", 3000, "");
	char *deep = repeat("a/", 2000, "c");
	struct aml_ignore *ig;
	double t0 = now();

	(void)state;
	ig = aml_ignore_parse(text, strlen(text));
	assert_non_null(ig);
	assert_false(aml_ignore_match(ig, path, 0));
	assert_false(aml_ignore_match(ig, deep, 0));
	aml_ignore_free(ig);
	free(text);

	/* Each unit repeated 20,000 times, as one pattern; a few tails. */
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		char *p = repeat(units[u], 20000, "b");

		ig = aml_ignore_parse(p, strlen(p));
		assert_non_null(ig);
		assert_int_equal(aml_ignore_count(ig), 1);
		aml_ignore_match(ig, path, 0);
		aml_ignore_match(ig, deep, 1);
		aml_ignore_match(ig, "b", 0);
		aml_ignore_free(ig);
		free(p);
	}

	/* "**" + "/" many times does match: each one may stand for no
	 * directory. */
	text = repeat("**/", 5000, "c");
	ig = aml_ignore_parse(text, strlen(text));
	assert_non_null(ig);
	assert_true(aml_ignore_match(ig, "c", 0));
	assert_true(aml_ignore_match(ig, deep, 0));
	aml_ignore_free(ig);
	free(text);

	/* 1 MiB of pattern bytes of every kind. */
	text = malloc(1 << 20);
	assert_non_null(text);
	for (size_t i = 0; i < 1 << 20; i++)
		text[i] = "ab*?[]!/\\\n #-:^\r\0"[(i * 7919u) % 18u];
	ig = aml_ignore_parse(text, 1 << 20);
	assert_non_null(ig);
	aml_ignore_match(ig, deep, 0);
	aml_ignore_match(ig, path, 1);
	aml_ignore_free(ig);
	free(text);

	free(path);
	free(deep);
	print_message("# hostile patterns: %.3f s\n", now() - t0);
	assert_true(now() - t0 < 60.0);
}

/* ---------------------------------------------------------------------- */
/* Timing on a realistic set                                              */

static const char realistic[] =
	"# Byte-compiled / optimized / DLL files\n"
	"__pycache__/\n*.py[cod]\n*$py.class\n*.so\n"
	".Python\nbuild/\ndevelop-eggs/\ndist/\ndownloads/\neggs/\n.eggs/\n"
	"/lib/\n/lib64/\nparts/\nsdist/\nvar/\nwheels/\n*.egg-info/\n"
	".installed.cfg\n*.egg\nMANIFEST\n*.manifest\n*.spec\n"
	"pip-log.txt\nhtmlcov/\n.tox/\n.coverage\n.coverage.*\n.cache\n"
	"nosetests.xml\ncoverage.xml\n*.cover\n.hypothesis/\n"
	".pytest_cache/\n*.mo\n*.pot\n*.log\n.ipynb_checkpoints\n"
	".env\n.venv\nenv/\nvenv/\n.mypy_cache/\n"
	"outputs/\nmlruns/\n**/checkpoints/*.ckpt\n!**/checkpoints/best.ckpt\n"
	"data/raw/**\n!data/raw/README.md\n*.tmp\n.DS_Store\n";

static void match_timing(void **state)
{
	enum { NPATHS = 10000, ROUNDS = 20 };
	static const char *const shapes[] = {
		"src/pkg%d/module%d.py",
		"src/pkg%d/__pycache__/m%d.cpython-310.pyc",
		"data/raw/shard%d/part-%05d.csv",
		"notebooks/exp%d/run%d.ipynb",
		"outputs/run%d/epoch%d.pt",
		"tests/unit%d/test_%d.py",
		"configs/c%d/sweep%d.yaml",
		"models/m%d/checkpoints/step%d.ckpt",
		"docs/section%d/page%d.md",
		"scripts/s%d/job%d.sh",
	};
	struct aml_ignore *ig = aml_ignore_parse(realistic,
						 sizeof(realistic) - 1);
	char (*paths)[96] = malloc(NPATHS * sizeof(*paths));
	long hits = 0;
	double t0, dt;

	(void)state;
	assert_non_null(ig);
	assert_non_null(paths);
	for (int i = 0; i < NPATHS; i++)
		snprintf(paths[i], sizeof(paths[i]), shapes[i % 10],
			 i / 10 % 37, i);
	t0 = now();
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < NPATHS; i++)
			hits += aml_ignore_match(ig, paths[i], 0);
	dt = now() - t0;
	print_message("# ignore: %zu patterns, %d paths x %d rounds: "
		      "%.0f ns per path, %ld excluded\n",
		      aml_ignore_count(ig), NPATHS, ROUNDS,
		      dt * 1e9 / (NPATHS * ROUNDS), hits / ROUNDS);
	assert_true(hits > 0 && hits < (long)NPATHS * ROUNDS);
	free(paths);
	aml_ignore_free(ig);
}

/* ---------------------------------------------------------------------- */
/* Running git                                                            */

/* snprintf that fails the test rather than truncate. */
static void fmt(char *dst, size_t size, const char *f, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt(char *dst, size_t size, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(dst, size, f, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
}

struct git {
	char top[PATH_MAX];	/* temporary directory, removed at the end */
	char repo[PATH_MAX];	/* the work tree: top/repo */
	char exe[PATH_MAX];	/* git's full path */
	char env_home[PATH_MAX + 8], env_xdg[PATH_MAX + 24];
	char env_path[PATH_MAX + 8];
	char *envp[8];
	const char *why;	/* why git cannot be used, or NULL */
	/* git before 2.4x: a "**" right after a pattern's literal head
	 * crosses '/' ("foo**" + "/bar" matched "foo/x/y/bar"), which
	 * gitignore(5) never said and later git does not do.  Against such
	 * a git, lines with one are left out of what both sides read. */
	int old_head_globstar;
	int probed;
};

/* git's verdict on one path. */
struct verdict {
	int excluded;
	char source[96];	/* "line N: pattern", or "" */
};

static int git_check(struct git *g, const char *text, size_t len,
		     char *const *paths, size_t n, struct verdict *out);
static int make_path(struct git *g, const char *rel, int is_dir);
static void wipe_tree(struct git *g);

static int find_git(char *exe, size_t size)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;
	int found = 0;

	copy = strdup(path && *path ? path : "/usr/bin:/bin");
	if (!copy)
		return 0;
	for (dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(exe, size, "%s/git", dir) < size &&
		    access(exe, X_OK) == 0)
			found = 1;
	}
	free(copy);
	return found;
}

/* Run git with [argv] (argv[0] unused) in the repository, stdin from
 * [in] (or /dev/null), stdout to [out] (or /dev/null).  Returns its exit
 * status, or -1 when it could not be run. */
static int run_git(struct git *g, const char *const *argv, const char *in,
		   const char *out)
{
	char *args[16];
	int n = 0, status;
	pid_t pid;

	args[n++] = g->exe;
	args[n++] = (char *)"-C";
	args[n++] = g->repo;
	for (int i = 1; argv[i] && n < 15; i++)
		args[n++] = (char *)argv[i];
	args[n] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fi = open(in ? in : "/dev/null", O_RDONLY);
		int fo = open(out ? out : "/dev/null",
			      O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open("/dev/null", O_WRONLY);

		if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 ||
		    dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(127);
		execve(g->exe, args, g->envp);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void rm_rf(const char *path)
{
	aml_tree_remove(AT_FDCWD, path);
}

static void skip_because(const char *why)
{
	print_message("# SKIP: %s\n", why);
	fflush(stdout);
	skip();
}

/*
 * cmocka setup: a fresh repository that reads only its own .gitignore.
 * When git is missing or does not work, the test finds g->why set and
 * skips itself; the teardown removes the directory whatever happened.
 */
static int git_setup(void **state)
{
	static const char *const init[] = { "git", "init", "-q",
					     "--template=", ".", NULL };
	static const char *const cfg1[] = { "git", "config",
					     "core.excludesFile", "/dev/null",
					     NULL };
	static const char *const cfg2[] = { "git", "config", "core.ignorecase",
					     "false", NULL };
	const char *tmp = getenv("TMPDIR");
	struct git *g = calloc(1, sizeof(*g));
	char home[PATH_MAX + 8];

	if (!g)
		return -1;
	*state = g;
	if (!find_git(g->exe, sizeof(g->exe))) {
		g->why = "git is not installed";
		return 0;
	}
	fmt(g->top, sizeof(g->top), "%s/aml-ignore-XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(g->top)) {
		g->top[0] = '\0';
		return -1;
	}
	fmt(g->repo, sizeof(g->repo), "%s/repo", g->top);
	fmt(home, sizeof(home), "%s/home", g->top);
	if (mkdir(g->repo, 0700) != 0 || mkdir(home, 0700) != 0)
		return -1;
	fmt(g->env_home, sizeof(g->env_home), "HOME=%s", home);
	fmt(g->env_xdg, sizeof(g->env_xdg), "XDG_CONFIG_HOME=%s", home);
	fmt(g->env_path, sizeof(g->env_path), "PATH=%s",
	    getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	g->envp[0] = g->env_home;
	g->envp[1] = g->env_xdg;
	g->envp[2] = g->env_path;
	g->envp[3] = (char *)"GIT_CONFIG_NOSYSTEM=1";
	g->envp[4] = (char *)"LC_ALL=C";
	g->envp[5] = NULL;
	if (run_git(g, init, NULL, NULL) != 0 ||
	    run_git(g, cfg1, NULL, NULL) != 0 ||
	    run_git(g, cfg2, NULL, NULL) != 0)
		g->why = "git init failed";
	return 0;
}

static int git_teardown(void **state)
{
	struct git *g = *state;

	if (g && g->top[0])
		rm_rf(g->top);
	free(g);
	return 0;
}

/* Whether a .gitignore line has a "**" right after its literal head. */
static int head_globstar(const char *line, size_t len)
{
	size_t k = 0;

	if (len && line[0] == '!') {
		line++;
		len--;
	}
	while (k < len && !strchr("*?[\\", line[k]))
		k++;
	return k > 0 && k + 1 < len && line[k] == '*' && line[k + 1] == '*' &&
	       line[k - 1] != '/';
}

/* [text] for a comparison with [g]'s git, into [out] (as big as [text]):
 * the same, or without the lines that git reads otherwise (see
 * old_head_globstar).  Returns its length. */
static size_t for_this_git(const struct git *g, const char *text, size_t len,
			   char *out)
{
	size_t n = 0;

	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;

		if (!g->old_head_globstar ||
		    !head_globstar(text + at, end - at - (nl != NULL))) {
			memcpy(out + n, text + at, end - at);
			n += end - at;
		}
		at = end;
	}
	return n;
}

/* The repository of the setup, or skip the test with the reason. */
static struct git *git_or_skip(void **state)
{
	struct git *g = *state;

	if (g->why)
		skip_because(g->why);
	if (!g->probed) {
		char *probe[] = { (char *)"foo/x/bar" };
		struct verdict v = { 0, "" };

		g->probed = 1;
		if (make_path(g, probe[0], 0) == 0 &&
		    git_check(g, "foo**/bar\n", 10, probe, 1,
			      &v) == 0)
			g->old_head_globstar = v.excluded;
		wipe_tree(g);
		if (g->old_head_globstar)
			print_message("# this git lets a \"**\" after a literal "
				      "head cross '/': such lines are not "
				      "compared\n");
	}
	return g;
}

/* Empty the work tree but .git. */
static void wipe_tree(struct git *g)
{
	DIR *d = opendir(g->repo);
	struct dirent *e;
	char sub[PATH_MAX];

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, ".git"))
			continue;
		fmt(sub, sizeof(sub), "%s/%s", g->repo, e->d_name);
		rm_rf(sub);
	}
	closedir(d);
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Create [rel] under the repository, with its parents.  Returns 0, or -1
 * when something else is in the way. */
static int make_path(struct git *g, const char *rel, int is_dir)
{
	char full[PATH_MAX];
	struct stat st;
	size_t base = strlen(g->repo) + 1;
	int fd;

	if ((size_t)snprintf(full, sizeof(full), "%s/%s", g->repo, rel) >=
	    sizeof(full))
		return -1;
	for (char *p = full + base; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(full, 0700) != 0 &&
		    (errno != EEXIST || lstat(full, &st) != 0 ||
		     !S_ISDIR(st.st_mode)))
			return -1;
		*p = '/';
	}
	if (is_dir)
		return mkdir(full, 0700) == 0 ||
		       (errno == EEXIST && lstat(full, &st) == 0 &&
			S_ISDIR(st.st_mode)) ? 0 : -1;
	if (lstat(full, &st) == 0)
		return S_ISREG(st.st_mode) ? 0 : -1;
	fd = open(full, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/*
 * Ask git check-ignore about [paths] (which exist in the work tree) with
 * [text] as the .gitignore.  Fills [out][i].  Returns 0, or -1 when git
 * failed or answered out of order.
 */
static int git_check(struct git *g, const char *text, size_t len,
		     char *const *paths, size_t n, struct verdict *out)
{
	static const char *const argv[] = { "git", "check-ignore",
					    "--no-index", "-v", "-n", "-z",
					    "--stdin", NULL };
	char in[PATH_MAX + 8], res[PATH_MAX + 8], gi[PATH_MAX + 16];
	FILE *f;
	char *buf = NULL, *p, *end;
	size_t cap = 0, got = 0, i = 0;
	int rc;

	fmt(gi, sizeof(gi), "%s/.gitignore", g->repo);
	write_file(gi, text, len);
	fmt(in, sizeof(in), "%s/in", g->top);
	fmt(res, sizeof(res), "%s/out", g->top);
	f = fopen(in, "wb");
	assert_non_null(f);
	for (size_t k = 0; k < n; k++)
		fwrite(paths[k], 1, strlen(paths[k]) + 1, f);
	assert_int_equal(fclose(f), 0);
	rc = run_git(g, argv, in, res);
	if (rc != 0 && rc != 1)
		return -1;
	f = fopen(res, "rb");
	assert_non_null(f);
	for (;;) {
		if (got + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + got, 1, cap - got - 1, f);

		if (r == 0)
			break;
		got += r;
	}
	fclose(f);
	/* Records of four NUL-ended fields: source, line, pattern, path. */
	p = buf;
	end = buf + got;
	for (; i < n && p < end; i++) {
		const char *field[4];

		for (int k = 0; k < 4; k++) {
			char *z = memchr(p, '\0', (size_t)(end - p));

			if (!z) {
				free(buf);
				return -1;
			}
			field[k] = p;
			p = z + 1;
		}
		if (strcmp(field[3], paths[i]) != 0) {
			free(buf);
			return -1;
		}
		/* The pattern as written, with its '!' when negative. */
		out[i].excluded = field[2][0] && field[2][0] != '!';
		fmt(out[i].source, sizeof(out[i].source), "%s%s%s",
		    field[1][0] ? "line " : "", field[1],
		    field[1][0] ? ": " : "");
		strncat(out[i].source, field[2],
			sizeof(out[i].source) - strlen(out[i].source) - 1);
	}
	free(buf);
	return i == n ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* The table against git                                                  */

struct pathlist {
	char **v;
	size_t n, cap;
};

static size_t pathlist_add(struct pathlist *l, const char *s, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == len && !memcmp(l->v[i], s, len))
			return i;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n] = strndup(s, len);
	assert_non_null(l->v[l->n]);
	return l->n++;
}

static void pathlist_free(struct pathlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Check one table group's expectations with git; returns disagreements. */
static int group_against_git(struct git *g, const struct group *grp)
{
	struct pathlist l = { 0 };
	struct verdict *v;
	int bad = 0;

	for (size_t at = 0; g->old_head_globstar && at < grp->len;) {
		const char *nl = memchr(grp->text + at, '\n', grp->len - at);
		size_t end = nl ? (size_t)(nl - grp->text) : grp->len;

		if (head_globstar(grp->text + at, end - at)) {
			print_message("# %s: not compared with this git\n",
				      grp->name);
			return 0;
		}
		at = end + 1;
	}
	wipe_tree(g);
	for (const struct expect *c = grp->cases; c->path; c++) {
		if (make_path(g, c->path, c->is_dir) != 0) {
			print_message("%s: cannot create \"%s\"\n", grp->name,
				      c->path);
			bad++;
		}
		/* The parents too: git must not exclude any of them. */
		for (const char *s = c->path; (s = strchr(s, '/')); s++)
			pathlist_add(&l, c->path, (size_t)(s - c->path));
		pathlist_add(&l, c->path, strlen(c->path));
	}
	v = calloc(l.n, sizeof(*v));
	assert_non_null(v);
	if (git_check(g, grp->text, grp->len, l.v, l.n, v) != 0) {
		print_message("%s: git check-ignore failed\n", grp->name);
		bad++;
		goto out;
	}
	for (const struct expect *c = grp->cases; c->path; c++) {
		size_t k = pathlist_add(&l, c->path, strlen(c->path));

		for (const char *s = c->path; (s = strchr(s, '/')); s++) {
			size_t pk = pathlist_add(&l, c->path,
						 (size_t)(s - c->path));

			if (v[pk].excluded) {
				print_message("%s: \"%s\": git excludes its "
					      "parent \"%s\"; not a like-for-"
					      "like case\n", grp->name,
					      c->path, l.v[pk]);
				bad++;
			}
		}
		if (v[k].excluded != c->excluded) {
			print_message("%s: \"%s\"%s: git says %s (%s), the "
				      "table %s\n", grp->name, c->path,
				      c->is_dir ? "/" : "",
				      v[k].excluded ? "excluded" : "kept",
				      v[k].source,
				      c->excluded ? "excluded" : "kept");
			bad++;
		}
	}
out:
	free(v);
	pathlist_free(&l);
	return bad;
}

static void table_agrees_with_git(void **state)
{
	struct git *g = git_or_skip(state);
	int bad = 0;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		bad += group_against_git(g, &table[i]);
	assert_int_equal(bad, 0);
}

/* Long patterns, built here, checked with the module and with git. */
static void long_patterns_agree_with_git(void **state)
{
	char *esc = repeat("\\a", 200, "\n");
	char *brk = repeat("[a]", 250, "\n");
	char *stars = repeat("**/", 200, "x\n");
	char *many = repeat("*a", 3000, "*\n");
	char *qm = repeat("?", 255, "\n");
	char *lots = repeat("*", 10000, "z\n");
	char *a200 = repeat("a", 200, ""), *a199 = repeat("a", 199, "");
	char *a250 = repeat("a", 250, ""), *b255 = repeat("b", 255, "");
	const struct expect e_esc[] = { { a200, F, 1 }, { a199, F, 0 },
					{ NULL, 0, 0 } };
	const struct expect e_brk[] = { { a250, F, 1 }, { a200, F, 0 },
					{ NULL, 0, 0 } };
	const struct expect e_stars[] = { { "x", F, 1 }, { "d/e/x", F, 1 },
					  { "d/e/y", F, 0 }, { NULL, 0, 0 } };
	const struct expect e_many[] = { { a250, F, 0 }, { NULL, 0, 0 } };
	const struct expect e_qm[] = { { b255, F, 1 }, { a250, F, 0 },
				       { NULL, 0, 0 } };
	const struct expect e_lots[] = { { "abz", F, 1 }, { "d/z", F, 1 },
					 { "za", F, 0 }, { NULL, 0, 0 } };
	const struct group groups[] = {
		{ "400 bytes of escapes", esc, strlen(esc), 1, e_esc },
		{ "250 brackets", brk, strlen(brk), 1, e_brk },
		{ "200 leading **", stars, strlen(stars), 1, e_stars },
		{ "3000 stars", many, strlen(many), 1, e_many },
		{ "255 ?", qm, strlen(qm), 1, e_qm },
		{ "10000 * in a row", lots, strlen(lots), 1, e_lots },
	};
	struct git *g = *state;
	int failures = 0;

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		check_group(&groups[i], &failures);
	if (!failures && !g->why)
		for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
			failures += group_against_git(g, &groups[i]);
	free(esc);
	free(brk);
	free(stars);
	free(many);
	free(qm);
	free(lots);
	free(a200);
	free(a199);
	free(a250);
	free(b255);
	assert_int_equal(failures, 0);
	git_or_skip(state);	/* the module passed; git was not asked */
}

/* ---------------------------------------------------------------------- */
/* Whole trees against git                                                */

struct entry {
	char *path;
	int is_dir;
};

struct tree {
	struct entry *v;
	size_t n, cap;
};

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path,
		      ((const struct entry *)b)->path);
}

/* Every path under the work tree but .git, parents before children. */
static void walk(struct git *g, const char *rel, struct tree *t)
{
	char full[PATH_MAX], sub[PATH_MAX];
	struct dirent *e;
	DIR *d;
	size_t first = t->n;

	fmt(full, sizeof(full), "%s%s%s", g->repo, *rel ? "/" : "", rel);
	d = opendir(full);
	assert_non_null(d);
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (!*rel && !strcmp(e->d_name, ".git")))
			continue;
		fmt(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
		    e->d_name);
		fmt(full, sizeof(full), "%s/%s", g->repo, sub);
		assert_int_equal(lstat(full, &st), 0);
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 256;
			t->v = realloc(t->v, t->cap * sizeof(*t->v));
			assert_non_null(t->v);
		}
		t->v[t->n].path = strdup(sub);
		assert_non_null(t->v[t->n].path);
		t->v[t->n++].is_dir = S_ISDIR(st.st_mode);
	}
	closedir(d);
	/* Sorted, so that runs are reproducible. */
	qsort(t->v + first, t->n - first, sizeof(*t->v), entry_cmp);
	for (size_t i = first, last = t->n; i < last; i++)
		if (t->v[i].is_dir) {
			char *p = strdup(t->v[i].path);

			assert_non_null(p);
			walk(g, p, t);
			free(p);
		}
}

/* Create [dirs], and in each of them the [files] picked by [every] (each
 * n-th pair), where no directory is in the way. */
static void build_tree(struct git *g, const char *const *dirs, size_t ndirs,
		       const char *const *files, size_t nfiles, size_t every)
{
	char path[PATH_MAX];

	wipe_tree(g);
	for (size_t i = 0; i < ndirs; i++)
		if (*dirs[i])
			assert_int_equal(make_path(g, dirs[i], 1), 0);
	for (size_t i = 0; i < ndirs; i++)
		for (size_t j = 0; j < nfiles; j++) {
			if ((i * 7 + j) % every)
				continue;
			fmt(path, sizeof(path), "%s%s%s", dirs[i],
			    *dirs[i] ? "/" : "", files[j]);
			make_path(g, path, 0);	/* a directory may be there */
		}
}

/*
 * With [text] as the .gitignore, walk the tree as the capture does (top
 * down, never into an excluded directory) and compare the module with
 * git at every path reached.  Returns the number of disagreements; adds
 * the paths compared to [st]->compared and those git excludes to
 * [st]->excluded.
 */
struct tally {
	size_t compared, excluded;
};

static int tree_against_git(struct git *g, const char *name,
			    const char *given, size_t given_len,
			    struct tally *st)
{
	char *text = malloc(given_len + 1);
	size_t len = text ? for_this_git(g, given, given_len, text) : 0;
	struct aml_ignore *ig = text ? aml_ignore_parse(text, len) : NULL;
	struct tree t = { 0 };
	struct verdict *v;
	char **paths, path[PATH_MAX];
	unsigned char *reached;
	int bad = 0;

	assert_non_null(ig);
	/* The .gitignore itself is a path of the tree too. */
	fmt(path, sizeof(path), "%s/.gitignore", g->repo);
	write_file(path, text, len);
	walk(g, "", &t);

	paths = calloc(t.n, sizeof(*paths));
	v = calloc(t.n, sizeof(*v));
	reached = calloc(t.n, 1);
	assert_true(paths && v && reached);
	for (size_t i = 0; i < t.n; i++)
		paths[i] = t.v[i].path;
	if (git_check(g, text, len, paths, t.n, v) != 0) {
		print_message("%s: git check-ignore failed\n", name);
		bad++;
	} else {
		/* walk() put every directory before its contents, so one
		 * pass finds what the capture reaches: a path is reached
		 * when its parent is reached and not excluded. */
		for (size_t i = 0; i < t.n; i++) {
			const char *slash = strrchr(t.v[i].path, '/');
			int ours;

			if (slash) {
				size_t plen = (size_t)(slash - t.v[i].path);
				size_t k = i;

				while (k-- > 0)
					if (strlen(t.v[k].path) == plen &&
					    !memcmp(t.v[k].path, t.v[i].path,
						    plen))
						break;
				assert_true(k < i && t.v[k].is_dir);
				if (!reached[k] || v[k].excluded)
					continue;
			}
			reached[i] = 1;
			st->compared++;
			st->excluded += (size_t)v[i].excluded;
			ours = aml_ignore_match(ig, t.v[i].path,
						t.v[i].is_dir);
			if (ours != v[i].excluded) {
				print_message("%s: \"%s\"%s: ours %s, git %s "
					      "(%s)\n", name, t.v[i].path,
					      t.v[i].is_dir ? "/" : "",
					      ours ? "excluded" : "kept",
					      v[i].excluded ? "excluded" :
					      "kept", v[i].source);
				bad++;
			}
		}
	}
	if (bad)
		print_message("%s: the patterns were:\n%.*s\n", name, (int)len,
			      text);
	for (size_t i = 0; i < t.n; i++)
		free(t.v[i].path);
	free(t.v);
	free(paths);
	free(v);
	free(reached);
	aml_ignore_free(ig);
	free(text);
	return bad;
}

static const char rich_patterns[] =
	"# every rule at once; order matters (the last match wins)\n"
	"\n"
	"[!x]*\n"
	"!*/\n"
	"![a-m]*\n"
	"!*.*\n"
	"**/foo\n"
	"foo/**\n"
	"a/**/b\n"
	"*.py[co]\n"
	"*.log\n"
	"!keep.log\n"
	"\\#hash\n"
	"\\!bang\n"
	"trailing\\ \n"
	"/anchored\n"
	"mid/dle\n"
	"dir/\n"
	"[a-c]?.txt\n"
	"**/deep/**/x\n"
	"/build/\n"
	"out/\n"
	"!/out/\n"
	"**/node_modules\n"
	"*.tmp\n"
	"!important.tmp\n"
	"doc/*.txt\n"
	"doc/**/*.pdf\n"
	"*~\n"
	".*.swp\n"
	".DS_Store\n"
	"__pycache__/\n"
	"*.egg-info/\n"
	"/dist\n"
	"x[0-9]\n"
	"x[!0-9]y\n"
	"x[[:upper:]]*\n"
	"?z\n"
	"zz?\n"
	"\\*star\n"
	"\\?qm\n"
	"\\[br]\n"
	"q\\\\\n"
	"*.[oa]\n"
	"lib*.so\n"
	"lib*.so.*\n"
	"/*.bak\n"
	"sub/*.bak\n"
	"**/sub/**/cache/\n"
	"!cache/keep\n"
	"abc/**/\n"
	"*.ckpt\n"
	"!best.ckpt\n"
	"data/**/*.csv\n"
	"!data/small/*.csv\n"
	"logs/**\n"
	"!logs/**/\n"
	"!logs/**/*.keep\n"
	"[Tt]emp\n"
	"tmp*/\n"
	"spaces\\ in\\ name\n"
	"  leading-spaces\n"
	"tab\tend\n"
	"foo**/bar\n"
	"a/**\\/c\n"
	"**/**/dd\n"
	"trail   \n"
	"#not-a-comment-below\n"
	"\\#not-a-comment\n"
	"[[:digit:]][[:digit:]]\n"
	"!/x/m/\n"
	"m/*/\n"
	"/[a-c]/**/z*\n"
	"nope\n"
	"!a/nope\n";

static const char *const rich_dirs[] = {
	"", "a", "a/x", "a/x/y", "a/q", "src", "src/foo", "foo", "deep",
	"deep/p", "deep/p/q", "w", "w/deep", "w/deep/k", "mid", "doc",
	"doc/sub", "doc/sub/deeper", "build", "src/build", "out", "out/keep",
	"x", "x/m", "x/m/y", "sub", "sub/c", "sub/c/cache", "data",
	"data/small", "data/big", "data/big/more", "logs", "logs/2024",
	"abc", "abc/d", "node_modules", "Temp", "tmpdir", "dist",
	"pkg.egg-info",
	"__pycache__", "sub2", "sub2/dir", "m", "m/n", "m/n/o", "b", "b/z1",
	"c", "c/e/f",
};

static const char *const rich_files[] = {
	"foo", "bar", "bar.py", "bar.pyc", "bar.pyo", "keep.log", "x.log",
	"#hash", "!bang", "trailing ", "trailing", "anchored", "dle", "dir",
	"a1.txt", "d2.txt", "ab.txt", "x", "xylo", "nope", "x1", "xay",
	"x1y", "xAb", "az", "zzz", "*star", "?qm", "[br]", "q\\", "m.o",
	"m.a", "libz.so", "libz.so.1", "f.bak", "e.tmp", "important.tmp",
	"p.pdf", "n.csv", "t.keep", "file~", ".f.swp", ".DS_Store",
	"spaces in name", "  leading-spaces", "tab\tend", "best.ckpt",
	"m.ckpt", "dd", "temp", "trail", "42", "c", "zeta", "notes",
};

static void rich_set_agrees_with_git(void **state)
{
	struct git *g = git_or_skip(state);
	struct tally st = { 0, 0 };
	size_t npat = 0;
	int bad;

	for (const char *p = rich_patterns; *p; p++)
		npat += *p == '\n';
	build_tree(g, rich_dirs, sizeof(rich_dirs) / sizeof(rich_dirs[0]),
		   rich_files, sizeof(rich_files) / sizeof(rich_files[0]), 3);
	bad = tree_against_git(g, "rich set", rich_patterns,
			       sizeof(rich_patterns) - 1, &st);
	print_message("# rich set: %zu lines, %zu paths compared with git, "
		      "%zu excluded\n", npat, st.compared, st.excluded);
	assert_true(npat >= 60);
	assert_true(st.compared >= 200);
	/* Both verdicts, plenty of each. */
	assert_true(st.excluded >= 50 && st.compared - st.excluded >= 50);
	assert_int_equal(bad, 0);
}

/* xorshift64*: the same sets on every run. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Small random pattern sets built from the pieces of the syntax, on a
 * tree whose names are made of the same pieces. */
static void random_sets_agree_with_git(void **state)
{
	static const char *const pieces[] = {
		"a", "b", "a", "b", "ab", "*", "*", "**", "?", "/", "/",
		"[ab]", "[!a]", "[a-b]", "[]a]", "\\*", "\\a", "\\", "[", ".",
		"**/", "/**", "/**/", "[[:alpha:]]", " ", "\\ ",
	};
	static const char *const dirs[] = {
		"", "a", "b", "ab", "a/a", "a/b", "b/a", "a/b/a", "ab/b",
		"a/ab/b", "b/b/b",
	};
	static const char *const files[] = {
		"a", "b", "ab", "ba", "aab", "a.b", "*", "[a]", "?", "\\",
		"!a", "#a", "a ", "]a", ".",
	};
	enum { SETS = 60, LINES = 6 };
	struct git *g = git_or_skip(state);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	struct tally st = { 0, 0 };
	int bad = 0;

	build_tree(g, dirs, sizeof(dirs) / sizeof(dirs[0]), files,
		   sizeof(files) / sizeof(files[0]), 1);
	for (int s = 0; s < SETS; s++) {
		char text[512], name[32];
		size_t len = 0;

		for (int l = 0; l < LINES; l++) {
			int np = 1 + (int)(rnd(&seed) % 5);

			if (rnd(&seed) % 4 == 0)
				text[len++] = '!';
			if (rnd(&seed) % 5 == 0)
				text[len++] = '/';
			for (int k = 0; k < np; k++) {
				const char *pc = pieces[rnd(&seed) %
					(sizeof(pieces) / sizeof(pieces[0]))];

				memcpy(text + len, pc, strlen(pc));
				len += strlen(pc);
			}
			if (rnd(&seed) % 5 == 0)
				text[len++] = '/';
			text[len++] = '\n';
		}
		fmt(name, sizeof(name), "random set %d", s);
		bad += tree_against_git(g, name, text, len, &st);
	}
	print_message("# random sets: %d sets, %zu paths compared with git, "
		      "%zu excluded\n", SETS, st.compared, st.excluded);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_cases),
		cmocka_unit_test(path_patterns_only),
		cmocka_unit_test(api_edges),
		cmocka_unit_test(hostile_patterns),
		cmocka_unit_test(match_timing),
		cmocka_unit_test_setup_teardown(table_agrees_with_git,
						git_setup, git_teardown),
		cmocka_unit_test_setup_teardown(long_patterns_agree_with_git,
						git_setup, git_teardown),
		cmocka_unit_test_setup_teardown(rich_set_agrees_with_git,
						git_setup, git_teardown),
		cmocka_unit_test_setup_teardown(random_sets_agree_with_git,
						git_setup, git_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
