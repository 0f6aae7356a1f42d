/*
 * digestset.h: a set of SHA-256 digests (32 bytes each), for marking what
 * is still referred to among hundreds of thousands of blobs: adding and
 * looking up stay constant time, and memory is two bytes of slack per
 * byte of key at most.
 */
#ifndef AML_DIGESTSET_H
#define AML_DIGESTSET_H

#include <stddef.h>

struct aml_digest_set {
	unsigned char (*keys)[32];
	unsigned char *used;
	size_t mask, count;
};

/* An empty set is all zeros: struct aml_digest_set set = { 0 }. */

/* Add [key]; adding one that is there already changes nothing.  Returns
 * 0, or -1 when memory runs out (the set is unchanged then). */
int aml_digest_set_add(struct aml_digest_set *set, const unsigned char key[32]);

/* Non-zero when [key] was added. */
int aml_digest_set_has(const struct aml_digest_set *set,
		       const unsigned char key[32]);

/* Release the set's memory; it is empty again afterwards. */
void aml_digest_set_free(struct aml_digest_set *set);

#endif
