/*
 * libFuzzer target: an image reference as a run or aml.conf writes it
 * (environment.image, docker.base_image, Image=).  Reading must never
 * crash or read out of bounds; a refusal says why in one line; what is
 * accepted is written back in a spelling that reads back to the same
 * parts, by tag and by digest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_ref.h"

static void check_round_trip(const struct aml_image_ref *ref, int by_digest)
{
	struct aml_image_ref again;
	char buf[600], err[256];

	if (aml_image_ref_format(ref, by_digest, buf, sizeof(buf)) != 0)
		abort();
	if (aml_image_ref_parse(buf, &again, err, sizeof(err)) != 0)
		abort();
	/* By tag, a digest beside a tag is left out; by digest, the tag. */
	if (strcmp(ref->registry, again.registry) ||
	    strcmp(ref->repository, again.repository) ||
	    ((by_digest || !ref->tag[0]) &&
	     strcmp(ref->digest, again.digest)) ||
	    (!by_digest && strcmp(ref->tag, again.tag)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aml_image_ref ref;
	char *text = malloc(size + 1);
	char err[256];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (aml_image_ref_parse(text, &ref, err, sizeof(err)) == 0) {
		if (!ref.registry[0] || !ref.repository[0] ||
		    (!ref.tag[0] && !ref.digest[0]))
			abort();
		check_round_trip(&ref, 0);
		check_round_trip(&ref, 1);
	} else if (!err[0] || strchr(err, '\n')) {
		abort();
	}
	free(text);
	return 0;
}
