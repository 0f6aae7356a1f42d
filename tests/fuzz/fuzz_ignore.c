/*
 * fuzz_ignore.c: gitignore parsing and matching must never crash, leak,
 * read out of bounds or take exponential time, whatever the bytes
 * (libFuzzer; seeds in seeds/fuzz_ignore/).
 *
 * The input is a .gitignore, then a line "%%", then paths, one a line; a
 * path ending in '/' is asked about as a directory (without the '/').
 * Without a "%%" line, the patterns are matched against a fixed set of
 * paths.  Paths are passed as they come, even when the contract says a
 * caller would not (empty segments, a leading '/'): robustness only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed_paths[] = {
	"a", "a/b", "a/b/c", "foo", "src/foo/bar.py", "deep/x/deep/y/x",
	"#hash", "!bang", "trailing ", "a b/c\td", "\xff\xfe/\xc3\xa9",
	".gitignore", "x/y/z/w/v/u/t/s/r/q/p/o/n/m/l/k/j/i/h/g/f/e/d/c/b/a",
};

/* Match [path] both as itself and as a directory: the answer is 0 or 1
 * and does not change when asked twice. */
static void ask(const struct aml_ignore *ig, const char *path)
{
	for (int d = 0; d < 2; d++) {
		int r = aml_ignore_match(ig, path, d);

		if ((r != 0 && r != 1) || aml_ignore_match(ig, path, d) != r)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = NULL, *p, *end = data + size;
	struct aml_ignore *ig;
	size_t plen = size, lines = 1;
	char *text;

	for (p = data; p + 4 <= end; p++)
		if (memcmp(p, "\n%%\n", 4) == 0) {
			sep = p;
			plen = (size_t)(p - data) + 1;
			break;
		}

	/* An exact-size copy, so reading one byte past the end is caught. */
	text = malloc(plen ? plen : 1);
	if (!text)
		return 0;
	if (plen)
		memcpy(text, data, plen);
	ig = aml_ignore_parse(text, plen);
	free(text);	/* the compiled patterns must not point into it */
	if (!ig)
		return 0;
	for (size_t i = 0; i < plen; i++)
		lines += data[i] == '\n';
	if (aml_ignore_count(ig) > lines)
		abort();

	if (!sep) {
		size_t n = sizeof(fixed_paths) / sizeof(fixed_paths[0]);

		for (size_t i = 0; i < n; i++)
			ask(ig, fixed_paths[i]);
		aml_ignore_free(ig);
		return 0;
	}
	for (p = sep + 4; p < end;) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int is_dir = n > 0 && p[n - 1] == '/';
		char *path = malloc(n + 1);

		if (!path)
			break;
		memcpy(path, p, n);
		path[n - (size_t)is_dir] = '\0';
		if (aml_ignore_match(ig, path, is_dir) !=
		    aml_ignore_match(ig, path, is_dir))
			abort();
		ask(ig, path);
		free(path);
		p += n + 1;
	}
	aml_ignore_free(ig);
	return 0;
}
