/*
 * run_info.h: one run as run history reads it, shared by history.c and
 * every backend (which fill it), so neither reaches into the other for
 * its type or its free.
 */
#ifndef AML_RUN_INFO_H
#define AML_RUN_INFO_H

#include <stddef.h>
#include <sys/types.h>

#include "event.h"
#include "kvlist.h"

struct aml_run_info {
	char *experiment;
	char *run_id;
	char *owner;          /* user name, or the uid in decimal */
	uid_t uid;
	char *key;            /* the backend's own id of the run (the MLflow
			       * run id), or NULL (the file backend) */
	char *config_json;    /* NULL when not asked for (lists) */
	struct aml_kvlist properties;
	struct aml_kvlist tags;
	struct aml_event *events;   /* those the machine accepts, in the one
				     * order of event.h */
	size_t n_events;
	struct aml_run_state state;
};

/* Free what [info] holds and zero it, so freeing it twice is harmless. */
void aml_run_info_free(struct aml_run_info *info);

#endif
