/*
 * fuzz_tasks_per_node.c: Slurm's tasks-per-node form ("2(x3),1"), which
 * the node side reads from a step's environment, must never crash or
 * write past the counts it was given, whatever the bytes (libFuzzer;
 * seeds in seeds/fuzz_tasks_per_node/).
 *
 * The first byte is the node count (0-15), the rest the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "step_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t n, *counts, total = 0;
	char *text;

	if (size == 0)
		return 0;
	n = data[0] & 15;
	/* Exact sizes, so one element or byte past the end is caught. */
	text = malloc(size);
	counts = malloc((n ? n : 1) * sizeof(*counts));
	if (!text || !counts)
		goto out;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (aml_tasks_per_node_parse(text, counts, n) == 0) {
		/* A success gave every count: reading them all is defined. */
		for (uint32_t i = 0; i < n; i++)
			total += counts[i];
		if (n == 0 && text[0] != '\0')
			abort();
	}
	(void)total;
out:
	free(counts);
	free(text);
	return 0;
}
