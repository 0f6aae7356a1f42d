/*
 * strlist.c: the list of strings (strlist.h).
 */
#include "strlist.h"

#include <stdlib.h>
#include <string.h>

int aml_strlist_push(struct aml_strlist *list, const char *value)
{
	char **items = realloc(list->items,
			       (list->count + 2) * sizeof(*items));
	char *copy;

	if (!items)
		return -1;
	list->items = items;
	copy = strdup(value);
	if (!copy)
		return -1;
	list->items[list->count++] = copy;
	list->items[list->count] = NULL;
	return 0;
}

void aml_strlist_free(struct aml_strlist *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}
