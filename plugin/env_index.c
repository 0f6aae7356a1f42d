/*
 * env_index.c: variables sorted by name, found by binary search (contract
 * in env_index.h).
 */
#include "env_index.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

/* The length of the name in "NAME=value" (all of it without '='). */
static size_t env_name_length(const char *entry)
{
	return strcspn(entry, "=");
}

/* qsort has no context argument: the items ride along in each element. */
struct env_sort_item {
	const char *entry;
	size_t index;
};

static int env_sort_cmp(const void *pa, const void *pb)
{
	const struct env_sort_item *a = pa, *b = pb;

	return aml_compare_n(a->entry, env_name_length(a->entry),
				 b->entry, env_name_length(b->entry));
}

int aml_env_index_init(struct aml_env_index *ix,
		       const struct aml_strlist *vars)
{
	struct env_sort_item *tmp;

	memset(ix, 0, sizeof(*ix));
	ix->items = vars->items;
	if (vars->count == 0)
		return 0;
	tmp = calloc(vars->count, sizeof(*tmp));
	ix->order = calloc(vars->count, sizeof(*ix->order));
	if (!tmp || !ix->order) {
		free(tmp);
		free(ix->order);
		ix->order = NULL;
		return -1;
	}
	for (size_t i = 0; i < vars->count; i++)
		tmp[i] = (struct env_sort_item){ vars->items[i], i };
	qsort(tmp, vars->count, sizeof(*tmp), env_sort_cmp);
	for (size_t i = 0; i < vars->count; i++)
		ix->order[i] = tmp[i].index;
	ix->count = vars->count;
	free(tmp);
	return 0;
}

long aml_env_index_find(const struct aml_env_index *ix, const char *entry)
{
	size_t len = env_name_length(entry), lo = 0, hi = ix->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *item = ix->items[ix->order[mid]];
		int c = aml_compare_n(entry, len, item,
					  env_name_length(item));

		if (c == 0)
			return (long)ix->order[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

void aml_env_index_free(struct aml_env_index *ix)
{
	free(ix->order);
	memset(ix, 0, sizeof(*ix));
}
