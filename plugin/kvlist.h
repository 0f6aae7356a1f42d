/*
 * kvlist.h: an ordered list of key/value strings with unique keys (a run's
 * environment variables, tags and properties), each string its own
 * malloc'd copy.  A list starts as { 0 }.
 */
#ifndef AML_KVLIST_H
#define AML_KVLIST_H

#include <stddef.h>

struct aml_kv {
	char *key;
	char *value;
};

/* Ordered, keys unique. */
struct aml_kvlist {
	struct aml_kv *items;
	size_t count;
};

/* Set [key] to a copy of [value], replacing an existing value in place (the
 * order of first setting is kept).  Returns 0, or -1 when memory runs out. */
int aml_kvlist_set(struct aml_kvlist *list, const char *key,
		   const char *value);

/*
 * Set every pair of [src] in [dst], in [src]'s order, with the outcome of
 * calling aml_kvlist_set for each (a key already set keeps its place and
 * takes the last value; a new key is appended), but in O((n + m) log(n +
 * m)) rather than a search of [dst] per key: a list from a user's file can
 * be long, and the controller merges it under its locks.  The strings of
 * [src] are moved, and [src] is left empty whatever happens.  Returns 0,
 * or -1 when memory runs out, with [dst] as it was.
 */
int aml_kvlist_merge(struct aml_kvlist *dst, struct aml_kvlist *src);

/* The value of [key], or NULL. */
const char *aml_kvlist_get(const struct aml_kvlist *list, const char *key);

/* Free every pair and the array; the list is left empty. */
void aml_kvlist_free(struct aml_kvlist *list);

#endif
