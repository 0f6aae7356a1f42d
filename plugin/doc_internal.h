/*
 * doc_internal.h: the tree builder (doc_tree.c) shared by the JSON and YAML
 * readers.
 * Not part of the doc.h contract; only doc*.c include it.
 *
 * A whole tree lives in a few large arena chunks (usually one), so parsing a
 * configuration costs one or two malloc calls instead of one per value, and
 * aml_doc_free() releases the chunks.  The first chunk starts with the root
 * node, which is what aml_doc_parse() returns.
 *
 * Values are built bottom-up: each finished value is pushed on a stack of
 * pending nodes; when a container closes, its children (the top of that
 * stack) are copied into one exactly-sized array in the arena.  Readers
 * must not keep a node pointer across a push: the stack may move.
 */
#ifndef AML_DOC_INTERNAL_H
#define AML_DOC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "doc.h"

#include <string.h>

struct aml_doc_chunk {
	struct aml_doc_chunk *next;
	size_t size;            /* bytes usable in data */
	size_t used;
	max_align_t data[];
};

/* Per pending node: what duplicate-key checks need about its key. */
struct aml_doc_keyinfo {
	uint32_t hash;
	int line;
};

struct aml_doc_level {
	size_t mark;        /* index of the container on the pending stack */
	int is_object;
};

#define AML_DOC_LOCAL_NODES 64

struct aml_doc_build {
	struct aml_errors *errs;
	struct aml_doc_chunk *first, *cur;

	struct aml_node *nodes;           /* pending stack */
	struct aml_doc_keyinfo *keyinfo;  /* parallel to nodes */
	size_t top, cap;

	struct aml_doc_level levels[AML_DOC_MAX_DEPTH];
	int depth;

	/* key for the next pushed node (objects only) */
	char *key;
	struct aml_doc_keyinfo next_keyinfo;

	struct aml_node local_nodes[AML_DOC_LOCAL_NODES];
	struct aml_doc_keyinfo local_keyinfo[AML_DOC_LOCAL_NODES];
};

/*
 * Report "line N: message" into [errs] (which may be NULL).
 */
void aml_doc_error(struct aml_errors *errs, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Start a build; [size_hint] is the input length.  Returns -1 on OOM. */
int aml_doc_build_init(struct aml_doc_build *b, struct aml_errors *errs,
		       size_t size_hint);

/* The finished root (the only pending node), or NULL. */
struct aml_node *aml_doc_build_finish(struct aml_doc_build *b);

/* Release everything after a failure. */
void aml_doc_build_abort(struct aml_doc_build *b);

/* The slow paths of the inline functions below. */
void *aml_doc_build_alloc_slow(struct aml_doc_build *b, size_t n, int line);
struct aml_node *aml_doc_build_push_slow(struct aml_doc_build *b,
					 enum aml_node_type type, int line);

/*
 * Room for a string of at most [max] bytes plus its NUL in the arena;
 * NULL (error reported) when memory runs out.  Follow with
 * aml_doc_build_str_done() giving the real length, before any other
 * allocation, to hand the unused tail back.
 */
static inline char *aml_doc_build_str(struct aml_doc_build *b, size_t max,
				      int line)
{
	struct aml_doc_chunk *c = b->cur;

	if (max < c->size - c->used) {
		char *s = (char *)c->data + c->used;

		c->used += max + 1;
		return s;
	}
	return aml_doc_build_alloc_slow(b, max + 1, line);
}

static inline void aml_doc_build_str_done(struct aml_doc_build *b, char *s,
					  size_t len)
{
	s[len] = '\0';
	/* s was the last allocation in the current chunk: give back the rest */
	b->cur->used = (size_t)(s - (char *)b->cur->data) + len + 1;
}

/* Copy [n] bytes into the arena as a NUL-terminated string. */
static inline char *aml_doc_build_strdup(struct aml_doc_build *b,
					 const char *s, size_t n, int line)
{
	char *d = aml_doc_build_str(b, n, line);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/*
 * Push a scalar node; the pending key (if any) becomes its key.  Returns
 * the node (valid until the next push) or NULL on OOM (reported).
 */
static inline struct aml_node *aml_doc_build_push(struct aml_doc_build *b,
						  enum aml_node_type type,
						  int line)
{
	struct aml_node *n;

	if (b->top == b->cap)
		return aml_doc_build_push_slow(b, type, line);
	n = &b->nodes[b->top];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->line = line;
	n->key = b->key;
	b->keyinfo[b->top] = b->next_keyinfo;
	b->top++;
	b->key = NULL;
	return n;
}

/*
 * Open an ARRAY or OBJECT; refuses nesting deeper than AML_DOC_MAX_DEPTH.
 * Returns -1 on error (reported).
 */
int aml_doc_build_open(struct aml_doc_build *b, enum aml_node_type type,
		       int line);

/* Close the innermost container.  Returns -1 on error (reported). */
int aml_doc_build_close(struct aml_doc_build *b);

/*
 * Set the key (an arena string without NULs, [len] bytes) of the next
 * member of the innermost object, refusing a duplicate.  Returns -1 on
 * error (reported).
 */
int aml_doc_build_key(struct aml_doc_build *b, char *key, size_t len,
		      int line);

/* Whether the innermost open container is an object (0 at top level). */
static inline int aml_doc_build_in_object(const struct aml_doc_build *b)
{
	return b->depth > 0 && b->levels[b->depth - 1].is_object;
}

struct aml_node *aml_doc_parse_json(const char *text, size_t len,
				    struct aml_errors *errs);
struct aml_node *aml_doc_parse_yaml(const char *text, size_t len,
				    struct aml_errors *errs);

#endif
