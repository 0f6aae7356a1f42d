/*
 * libFuzzer target: skopeo's output as image_pull.c reads a failure off
 * it.  The output carries what a registry answered, and a registry may be
 * anyone's: reading it must never crash or read out of bounds, and the
 * reason must be one line of printable text within its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_pull.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char reason[200];
	size_t n;

	memset(reason, 'x', sizeof(reason));
	aml_image_skopeo_reason((const char *)data, size, reason,
				sizeof(reason));
	n = strnlen(reason, sizeof(reason));
	if (n == sizeof(reason) || n == 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if (reason[i] == '\n' || reason[i] == '\r')
			abort();
	return 0;
}
