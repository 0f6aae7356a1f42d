/*
 * libFuzzer target: a run's Docker arguments (NUL-separated words here)
 * and each word as a Docker size.  Checking must never crash or read out
 * of bounds; a refusal says why in one line; an accepted --shm-size is
 * never 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker_args.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *words[MAX_WORDS];
	size_t n = 0;
	uint64_t shm, bytes;
	int ipc;
	char err[256];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *p = text; p <= text + size && n < MAX_WORDS;
	     p += strlen(p) + 1)
		words[n++] = p;
	for (size_t i = 0; i < n; i++)
		if (aml_docker_size_parse(words[i], &bytes) == 0 && !bytes)
			abort();
	if (aml_docker_args_check(words, n, &shm, &ipc, err, sizeof(err)) ==
	    0) {
		if (ipc != 0 && ipc != 1)
			abort();
	} else if (!err[0] || strchr(err, '\n')) {
		abort();
	}
	free(text);
	return 0;
}
