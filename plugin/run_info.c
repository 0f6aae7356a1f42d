/*
 * run_info.c: freeing a run read from run history (see run_info.h).
 */
#include <stdlib.h>
#include <string.h>

#include "run_info.h"

void aml_run_info_free(struct aml_run_info *info)
{
	free(info->experiment);
	free(info->run_id);
	free(info->owner);
	free(info->key);
	free(info->config_json);
	aml_kvlist_free(&info->properties);
	aml_kvlist_free(&info->tags);
	aml_events_free(info->events, info->n_events);
	aml_run_state_free(&info->state);
	memset(info, 0, sizeof(*info));
}
