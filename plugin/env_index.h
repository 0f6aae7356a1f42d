/*
 * env_index.h: a job's planned variables indexed by name.
 */
#ifndef AML_ENV_INDEX_H
#define AML_ENV_INDEX_H

#include <stddef.h>

#include "strlist.h"

/*
 * The plan's variables, sorted by name, for putting them into a job's
 * environment in one pass: a job can carry any number of variables of
 * its own and a run up to MaxEnvironmentVariables, and a search of the
 * job's array per planned variable made a submission cost their product
 * under slurmctld's locks.  Names in [vars] are unique (the planner's
 * are: users may not set the ones it adds).
 */
struct aml_env_index {
	char *const *items;  /* vars->items, not owned */
	size_t *order;       /* indices into items, sorted by name */
	size_t count;
};

/*
 * Index [vars] ("NAME=value" strings).  Returns 0, or -1 when memory runs
 * out ([ix] then needs no free).  O(m log m).
 */
int aml_env_index_init(struct aml_env_index *ix,
		       const struct aml_strlist *vars);

/*
 * The index in [vars] of the variable with the name of [entry] ("NAME=
 * value"; all of it is the name when there is no '='), or -1.  O(log m).
 */
long aml_env_index_find(const struct aml_env_index *ix, const char *entry);

void aml_env_index_free(struct aml_env_index *ix);

#endif
