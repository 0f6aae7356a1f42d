/*
 * kvjson.h: a key/value list as a JSON object of strings, both ways, as
 * run properties and tags are kept (properties.json, tags.json, spooled
 * records) and as the canonical run configuration writes its maps.
 */
#ifndef AML_KVJSON_H
#define AML_KVJSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "kvlist.h"

/*
 * {"key": "value", ...} in [list]'s order; a NULL [list] gives {}.
 * Returns a new object the caller deletes, or NULL when memory runs out.
 */
cJSON *aml_kvlist_to_json(const struct aml_kvlist *list);

/*
 * The pairs of [obj] into the empty [list], which the caller frees; a
 * NULL [obj] (a field that is absent) is the empty list.  A value that is
 * not a string is refused, never skipped: a list written back after a
 * read must not lose what it held, and run history records only
 * strings, so another value is a file someone else wrote.  Returns 0, or
 * -1 with [list] empty, errno (EBADMSG: not an object of strings;
 * ENOMEM) and one sentence in [errbuf] that names the key.
 */
int aml_kvlist_from_json(const cJSON *obj, struct aml_kvlist *list,
			 char *errbuf, size_t errlen);

#endif
