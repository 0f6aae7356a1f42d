/*
 * kvjson.c: key/value lists as JSON objects of strings (contract in
 * kvjson.h).
 */
#include "kvjson.h"
#include "errors.h"
#include "text.h"

#include <errno.h>
#include <string.h>

cJSON *aml_kvlist_to_json(const struct aml_kvlist *list)
{
	cJSON *obj = cJSON_CreateObject();

	for (size_t i = 0; obj && list && i < list->count; i++) {
		if (!cJSON_AddStringToObject(obj, list->items[i].key,
					     list->items[i].value)) {
			cJSON_Delete(obj);
			return NULL;
		}
	}
	return obj;
}

int aml_kvlist_from_json(const cJSON *obj, struct aml_kvlist *list,
			 char *errbuf, size_t errlen)
{
	const cJSON *item;
	char shown[80];

	memset(list, 0, sizeof(*list));
	if (!obj)
		return 0;
	if (!cJSON_IsObject(obj)) {
		aml_fail(errbuf, errlen, "not a JSON object of strings");
		errno = EBADMSG;
		return -1;
	}
	cJSON_ArrayForEach(item, obj) {
		if (!cJSON_IsString(item)) {
			aml_kvlist_free(list);
			aml_text_escape(item->string, shown, sizeof(shown));
			aml_fail(errbuf, errlen,
				 "the value of \"%s\" is not a string", shown);
			errno = EBADMSG;
			return -1;
		}
		if (aml_kvlist_set(list, item->string, item->valuestring) < 0) {
			aml_kvlist_free(list);
			aml_fail(errbuf, errlen, "out of memory");
			errno = ENOMEM;
			return -1;
		}
	}
	return 0;
}
