/*
 * strlist.h: an ordered list of strings, each its own malloc'd copy (a
 * run's arguments, its command words, a job's environment as "NAME=value").
 * A list starts as { 0 }.
 */
#ifndef AML_STRLIST_H
#define AML_STRLIST_H

#include <stddef.h>

struct aml_strlist {
	char **items;
	size_t count;
};

/* Append a copy of [value], with a NULL after it, so that a list made by
 * pushes is an argv or an envp as it stands.  Returns 0, or -1 when
 * memory runs out (the list is then as it was). */
int aml_strlist_push(struct aml_strlist *list, const char *value);

/* Free every item and the array; the list is left empty. */
void aml_strlist_free(struct aml_strlist *list);

#endif
