/*
 * runid_claims.c: which user each run id was accepted for (contract in
 * runid_claims.h).
 */
#include "runid_claims.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

int aml_runid_claims_init(struct aml_runid_claims *c, size_t capacity,
			  const unsigned char key[16])
{
	size_t buckets = 1;

	memset(c, 0, sizeof(*c));
	if (capacity == 0 || capacity > ((size_t)1 << 31))
		return -1;
	/* At most one entry per two buckets: chains stay short. */
	while (buckets < 2 * capacity)
		buckets <<= 1;
	c->entries = calloc(capacity, sizeof(*c->entries));
	c->buckets = calloc(buckets, sizeof(*c->buckets));
	if (!c->entries || !c->buckets) {
		free(c->entries);
		free(c->buckets);
		memset(c, 0, sizeof(*c));
		return -1;
	}
	c->capacity = capacity;
	c->mask = buckets - 1;
	memcpy(c->key, key, sizeof(c->key));
	return 0;
}

static uint64_t hash_of(const struct aml_runid_claims *c, const char *id)
{
	return aml_siphash24(id, strlen(id), c->key);
}

/* The entry of [id] with hash [h], or NULL. */
static struct aml_runid_claim *find(const struct aml_runid_claims *c,
				    const char *id, uint64_t h)
{
	uint32_t at = c->buckets[h & c->mask];

	while (at) {
		struct aml_runid_claim *e = &c->entries[at - 1];

		if (e->hash == h && !strcmp(e->run_id, id))
			return e;
		at = e->next;
	}
	return NULL;
}

int aml_runid_claims_owner(const struct aml_runid_claims *c,
			   const char *run_id, uint32_t *uid)
{
	const struct aml_runid_claim *e;

	if (!c->entries || !run_id)
		return 0;
	e = find(c, run_id, hash_of(c, run_id));
	if (!e)
		return 0;
	*uid = e->uid;
	return 1;
}

/* Take the oldest entry out of its bucket's chain and free its id. */
static void forget_oldest(struct aml_runid_claims *c)
{
	size_t slot = c->head;
	struct aml_runid_claim *e = &c->entries[slot];
	uint32_t *link = &c->buckets[e->hash & c->mask];

	while (*link && *link != slot + 1)
		link = &c->entries[*link - 1].next;
	if (*link)
		*link = e->next;
	free(e->run_id);
	memset(e, 0, sizeof(*e));
	c->head = (c->head + 1) % c->capacity;
	c->count--;
}

int aml_runid_claims_add(struct aml_runid_claims *c, const char *run_id,
			 uint32_t uid, uint32_t *owner)
{
	struct aml_runid_claim *e;
	uint64_t h;
	size_t slot;
	char *copy;

	if (!c->entries || !run_id)
		return -1;
	h = hash_of(c, run_id);
	if ((e = find(c, run_id, h))) {
		if (e->uid == uid)
			return 0;
		if (owner)
			*owner = e->uid;
		return 1;
	}
	if (!(copy = strdup(run_id)))
		return -1;
	if (c->count == c->capacity)
		forget_oldest(c);
	slot = (c->head + c->count) % c->capacity;
	e = &c->entries[slot];
	e->run_id = copy;
	e->uid = uid;
	e->hash = h;
	e->next = c->buckets[h & c->mask];
	c->buckets[h & c->mask] = (uint32_t)(slot + 1);
	c->count++;
	return 0;
}

void aml_runid_claims_free(struct aml_runid_claims *c)
{
	if (c->entries)
		for (size_t i = 0; i < c->capacity; i++)
			free(c->entries[i].run_id);
	free(c->entries);
	free(c->buckets);
	memset(c, 0, sizeof(*c));
}
