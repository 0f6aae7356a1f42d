/*
 * kvlist.c: the list of key/value strings (kvlist.h).
 */
#include "kvlist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *aml_kvlist_get(const struct aml_kvlist *list, const char *key)
{
	for (size_t i = 0; i < list->count; i++)
		if (!strcmp(list->items[i].key, key))
			return list->items[i].value;
	return NULL;
}

int aml_kvlist_set(struct aml_kvlist *list, const char *key,
		  const char *value)
{
	struct aml_kv *items;
	char *value_copy = strdup(value), *key_copy;

	if (!value_copy)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		if (!strcmp(list->items[i].key, key)) {
			free(list->items[i].value);
			list->items[i].value = value_copy;
			return 0;
		}
	}
	key_copy = strdup(key);
	items = realloc(list->items, (list->count + 1) * sizeof(*items));
	if (!key_copy || !items) {
		free(key_copy);
		free(value_copy);
		if (items)
			list->items = items;
		return -1;
	}
	list->items = items;
	list->items[list->count].key = key_copy;
	list->items[list->count].value = value_copy;
	list->count++;
	return 0;
}

/* A key of either list, and where it came from: dst's position, or
 * dst's count plus src's position. */
struct merge_key {
	const char *key;
	size_t seq;
};

static int merge_key_cmp(const void *pa, const void *pb)
{
	const struct merge_key *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);

	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int aml_kvlist_merge(struct aml_kvlist *dst, struct aml_kvlist *src)
{
	size_t n = dst->count, m = src->count, total = n + m;
	struct merge_key *keys = NULL;
	size_t *append_from = NULL;
	struct aml_kv *items;
	int rc = -1;

	if (m == 0) {
		rc = 0;
		goto out;
	}
	/* Everything that can fail comes first, so a failure leaves [dst]
	 * as it was. */
	if (total < n || total > SIZE_MAX / sizeof(*keys) ||
	    !(keys = malloc(total * sizeof(*keys))) ||
	    !(append_from = malloc(m * sizeof(*append_from))) ||
	    !(items = realloc(dst->items, total * sizeof(*items))))
		goto out;
	dst->items = items;
	for (size_t i = 0; i < n; i++)
		keys[i] = (struct merge_key){ dst->items[i].key, i };
	for (size_t j = 0; j < m; j++) {
		keys[n + j] = (struct merge_key){ src->items[j].key, n + j };
		append_from[j] = SIZE_MAX;
	}
	qsort(keys, total, sizeof(*keys), merge_key_cmp);
	/* Each run of one key: the first setting keeps its place, the last
	 * one's value wins, as a sequence of aml_kvlist_set calls gives. */
	for (size_t a = 0, b; a < total; a = b) {
		size_t first, last;

		for (b = a + 1; b < total && !strcmp(keys[b].key, keys[a].key);
		     b++)
			;
		first = keys[a].seq;
		last = keys[b - 1].seq;
		if (last < n)
			continue;
		if (first < n) {
			free(dst->items[first].value);
			dst->items[first].value = src->items[last - n].value;
			src->items[last - n].value = NULL;
		} else {
			append_from[first - n] = last - n;
		}
	}
	for (size_t j = 0; j < m; j++) {
		if (append_from[j] == SIZE_MAX)
			continue;
		dst->items[dst->count].key = src->items[j].key;
		dst->items[dst->count].value = src->items[append_from[j]].value;
		src->items[j].key = NULL;
		src->items[append_from[j]].value = NULL;
		dst->count++;
	}
	rc = 0;
out:
	free(keys);
	free(append_from);
	aml_kvlist_free(src);
	return rc;
}

void aml_kvlist_free(struct aml_kvlist *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].key);
		free(list->items[i].value);
	}
	free(list->items);
	list->items = NULL;
	list->count = 0;
}
