/*
 * store_internal.h: what store.c shares with store_gc.c, and nothing
 * else includes.
 */
#ifndef AML_STORE_INTERNAL_H
#define AML_STORE_INTERNAL_H

#include <stddef.h>

#include "store.h"

#define REL_MAX 160          /* longest path inside a store, with margin */
#define TEMP_MAX_AGE 86400   /* a temporary older than this was abandoned */

/* "<store>/<rel>: <strerror(err)>" into [errbuf], or, when [err] comes
 * from a symlink met where a directory or file was expected, the first
 * component of [rel] that is one.  Returns -1. */
int aml_store_path_fail(const struct aml_store *s, const char *rel, int err,
			char *errbuf, size_t errlen);

/* Read manifests/<id> from [mdir] into malloc'd [text] and check that its
 * SHA-256 is [id].  Returns 0, or -1 with errbuf and [sys_error] set when
 * the cause is the system's (I/O, permission) rather than the content. */
int aml_store_read_manifest_at(struct aml_store *s, int mdir, const char *id,
			       char **text, size_t *len, int *sys_error,
			       char *errbuf, size_t errlen);

#endif
