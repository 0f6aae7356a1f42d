/*
 * digestset.c: open addressing over SHA-256 digests (contract in
 * digestset.h).  A digest is already uniform, so its first eight bytes are
 * the hash; the table doubles before it is half full, which keeps probe
 * sequences short.
 */
#include "digestset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t slot_of(const struct aml_digest_set *set,
		      const unsigned char key[32], int *found)
{
	uint64_t h;
	size_t at;

	memcpy(&h, key, sizeof(h));
	for (at = (size_t)h & set->mask; set->used[at];
	     at = (at + 1) & set->mask) {
		if (memcmp(set->keys[at], key, 32) == 0) {
			*found = 1;
			return at;
		}
	}
	*found = 0;
	return at;
}

static int grow(struct aml_digest_set *set)
{
	struct aml_digest_set bigger;
	size_t size = set->mask ? (set->mask + 1) * 2 : 1024;

	bigger.keys = malloc(size * sizeof(*bigger.keys));
	bigger.used = calloc(size, 1);
	if (!bigger.keys || !bigger.used) {
		free(bigger.keys);
		free(bigger.used);
		return -1;
	}
	bigger.mask = size - 1;
	bigger.count = set->count;
	for (size_t i = 0; set->mask && i <= set->mask; i++) {
		int found;
		size_t at;

		if (!set->used[i])
			continue;
		at = slot_of(&bigger, set->keys[i], &found);
		memcpy(bigger.keys[at], set->keys[i], 32);
		bigger.used[at] = 1;
	}
	free(set->keys);
	free(set->used);
	*set = bigger;
	return 0;
}

int aml_digest_set_add(struct aml_digest_set *set, const unsigned char key[32])
{
	int found;
	size_t at;

	if ((set->count + 1) * 2 > (set->mask ? set->mask + 1 : 0) &&
	    grow(set) != 0)
		return -1;
	at = slot_of(set, key, &found);
	if (!found) {
		memcpy(set->keys[at], key, 32);
		set->used[at] = 1;
		set->count++;
	}
	return 0;
}

int aml_digest_set_has(const struct aml_digest_set *set,
		       const unsigned char key[32])
{
	int found = 0;

	if (set->mask)
		slot_of(set, key, &found);
	return found;
}

void aml_digest_set_free(struct aml_digest_set *set)
{
	free(set->keys);
	free(set->used);
	memset(set, 0, sizeof(*set));
}
