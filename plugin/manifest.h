/*
 * manifest.h: the list of what a snapshot holds, and its text form.
 *
 * A manifest is the canonical description of a source tree: one entry per
 * regular file or symbolic link, sorted by path (bytewise), directories
 * implied by the paths (empty directories are not kept, as in Azure ML).
 * Its text form is line-based, so it is cheap to write and hash for 10,000
 * files, readable with `less`, and has exactly one encoding per tree:
 *
 *     aml-snapshot 1
 *     f <sha256> <size> <x|-> <mtime_ns> <path>
 *     l <mtime_ns> <path>\t<target>
 *
 * The snapshot id is the SHA-256 of that text, so the stored manifest
 * verifies itself.  Fields are separated by one blank; the path is the last
 * field (it may hold blanks); a symlink's target follows a tab.
 *
 * Path rules, for capture and for decoding alike (a manifest read back from
 * the store is untrusted input): relative, '/'-separated, no empty, "." or
 * ".." segment, no ".git" segment, valid UTF-8, no control characters
 * (U+0000-U+001F, U+007F), at most AML_MANIFEST_PATH_MAX bytes.  A symlink
 * target must be relative, follow the same character rules, and resolve,
 * lexically from the link's directory, to a path inside the tree, with
 * every ".." before its first name ("../lib/x", not "a/../x": after a
 * name, ".." climbs from wherever a symlink in between points, which no
 * lexical check can see); no entry may lie below a symlink or below a
 * file (an entry "a" and an entry "a/b").
 */
#ifndef AML_MANIFEST_H
#define AML_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define AML_MANIFEST_PATH_MAX 4096
#define AML_MANIFEST_HEADER "aml-snapshot 1\n"

enum aml_entry_type {
	AML_ENTRY_FILE,
	AML_ENTRY_SYMLINK,
};

struct aml_manifest_entry {
	enum aml_entry_type type;
	char *path;            /* malloc'd */
	char *target;          /* SYMLINK: malloc'd target; FILE: NULL */
	uint64_t size;         /* FILE: bytes; SYMLINK: 0 */
	int executable;        /* FILE: any x bit was set */
	int64_t mtime_ns;      /* nanoseconds since the epoch */
	char sha256[AML_SHA256_HEX_LEN + 1]; /* FILE: content; SYMLINK: "" */
};

struct aml_manifest {
	struct aml_manifest_entry *entries;
	size_t count;
	size_t capacity;
};

/*
 * Check one path against the rules above.  Returns 0, or -1 with one
 * sentence in [errbuf] ("has a control character", "leaves the tree").
 */
int aml_manifest_check_path(const char *path, char *errbuf, size_t errlen);

/*
 * Check the target of the symlink at [link] (a path that passed
 * aml_manifest_check_path) by the target rules above.  Returns 0, or -1
 * with one sentence in [errbuf] ("is absolute", "leaves the tree").  A
 * capture calls it while walking, so a tree is refused before anything
 * of it is stored.
 */
int aml_manifest_check_target(const char *link, const char *target,
			      char *errbuf, size_t errlen);

/*
 * Append a copy of [entry] (path and target are copied).  No checks: the
 * caller checked the path; aml_manifest_finish() checks the whole.
 * Returns 0, or -1 when memory runs out.
 */
int aml_manifest_add(struct aml_manifest *m,
		     const struct aml_manifest_entry *entry);

/*
 * Append [entry] taking its path and target (malloc'd; the target is
 * freed unless the entry is a symlink): [entry]'s pointers are NULL on
 * return.  Returns 0, or -1 when memory runs out, [entry] left as it was.
 */
int aml_manifest_take(struct aml_manifest *m,
		      struct aml_manifest_entry *entry);

/*
 * Sort the entries and check the whole manifest: every path and target by
 * the rules, no duplicates, nothing below a file or a symlink.  Returns 0,
 * or -1 with one sentence naming the offending path in [errbuf].
 */
int aml_manifest_finish(struct aml_manifest *m, char *errbuf, size_t errlen);

/*
 * The canonical text of a finished manifest, malloc'd, with its length in
 * [*len] and its id in [id], or no id when [id] is NULL (for a caller
 * whose store names the text itself: aml_store_publish_manifest, so a
 * capture hashes its manifest once).  Returns NULL when memory runs out.
 */
char *aml_manifest_encode(const struct aml_manifest *m, size_t *len,
			  char id[AML_SHA256_HEX_LEN + 1]);

/*
 * Parse [len] bytes of manifest text, untrusted: every line, path, target,
 * number and hash is checked, the order must be strictly sorted (so there
 * is one text per tree and duplicates are impossible), and the result is
 * checked as aml_manifest_finish() does.  Returns 0 and fills [m], or -1
 * with one sentence in [errbuf] naming the line and [m] left empty.
 */
int aml_manifest_decode(const char *text, size_t len, struct aml_manifest *m,
			char *errbuf, size_t errlen);

/* Totals of a manifest's files. */
uint64_t aml_manifest_total_bytes(const struct aml_manifest *m);

void aml_manifest_free(struct aml_manifest *m);

#endif
