/*
 * bench_doc.c: time to parse one run configuration with aml_doc_parse(),
 * the cost the controller pays per submission.
 *
 *   gcc -std=gnu11 -D_GNU_SOURCE -O2 -Iplugin plugin/errors.c plugin/doc.c \
 *       plugin/doc_json.c plugin/doc_yaml.c bench/bench_doc.c -lyaml \
 *       -o /tmp/bench_doc
 *   /tmp/bench_doc [file [parses [json|yaml|auto]]]
 *
 * Prints the median and spread of single-parse times (parse + free).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "doc.h"

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] :
		"tests/fuzz/seeds/fuzz_doc/run_full.json";
	long parses = argc > 2 ? atol(argv[2]) : 100000;
	const char *mode = argc > 3 ? argv[3] : "json";
	enum aml_doc_syntax syntax = strcmp(mode, "yaml") == 0 ? AML_DOC_YAML :
		strcmp(mode, "auto") == 0 ? AML_DOC_AUTO : AML_DOC_JSON;
	static char text[1 << 20];
	struct aml_errors errs;
	FILE *f = fopen(path, "rb");
	size_t len;
	long *ns;

	if (!f) {
		perror(path);
		return 1;
	}
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	if (parses < 1 || !(ns = malloc((size_t)parses * sizeof(*ns))))
		return 1;
	aml_errors_init(&errs, path);
	for (long i = 0; i < parses; i++) {
		struct timespec t0, t1;
		struct aml_node *root;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		root = aml_doc_parse(text, len, syntax, &errs);
		aml_doc_free(root);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!root) {
			for (size_t k = 0; k < errs.count; k++)
				fprintf(stderr, "%s\n", errs.lines[k]);
			if (errs.count == 0)
				fprintf(stderr, "parse failed\n");
			return 1;
		}
		ns[i] = (t1.tv_sec - t0.tv_sec) * 1000000000L +
			(t1.tv_nsec - t0.tv_nsec);
	}
	qsort(ns, (size_t)parses, sizeof(*ns), cmp_long);
	printf("%s (%zu bytes, %s): median %.2f us, p10 %.2f, p90 %.2f, "
	       "p99 %.2f over %ld parses\n", path, len, mode,
	       ns[parses / 2] / 1000.0, ns[parses / 10] / 1000.0,
	       ns[parses * 9 / 10] / 1000.0, ns[parses * 99 / 100] / 1000.0,
	       parses);
	free(ns);
	aml_errors_free(&errs);
	return 0;
}
