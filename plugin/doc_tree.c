/*
 * doc_tree.c: the tree builder the JSON and YAML readers share
 * (doc_internal.h), and the release of a finished tree.  The readers call
 * it; it calls neither of them nor the front (doc.c).
 */
#include "doc_internal.h"
#include "text.h"

#include <limits.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Objects up to this many members are checked for a duplicate as each key
 * arrives (so the error comes in document order); larger ones once more,
 * sorted, when they close, so hostile input cannot make it quadratic.
 */
#define SMALL_OBJECT 32

/* The first chunk is sized from the input so that a config needs one. */
#define FIRST_CHUNK_MIN 1024
#define FIRST_CHUNK_MAX (1024 * 1024)

void aml_doc_error(struct aml_errors *errs, int line, const char *fmt, ...)
{
	char where[32];
	va_list ap;

	if (!errs)
		return;
	snprintf(where, sizeof(where), "line %d", line);
	va_start(ap, fmt);
	aml_errors_vadd(errs, where, fmt, ap);
	va_end(ap);
}

static struct aml_doc_chunk *chunk_new(size_t size)
{
	struct aml_doc_chunk *c;

	if (size > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

/* Bump allocation, with a new chunk when the current one is full. */
static void *arena_alloc(struct aml_doc_build *b, size_t n, size_t align,
			 int line)
{
	struct aml_doc_chunk *c = b->cur, *fresh;
	size_t at = (c->used + align - 1) & ~(align - 1);
	size_t size;

	if (at <= c->size && n <= c->size - at) {
		c->used = at + n;
		return (char *)c->data + at;
	}
	size = c->size < SIZE_MAX / 4 ? c->size * 2 : c->size;
	if (size < n)
		size = n;
	fresh = chunk_new(size);
	if (!fresh) {
		aml_doc_error(b->errs, line, "out of memory");
		return NULL;
	}
	c->next = fresh;
	b->cur = fresh;
	fresh->used = n;
	return fresh->data;
}

void *aml_doc_build_alloc_slow(struct aml_doc_build *b, size_t n, int line)
{
	if (n >= SIZE_MAX / 2) {
		aml_doc_error(b->errs, line, "out of memory");
		return NULL;
	}
	return arena_alloc(b, n, 1, line);
}

int aml_doc_build_init(struct aml_doc_build *b, struct aml_errors *errs,
		       size_t size_hint)
{
	size_t size;

	b->errs = errs;
	b->nodes = b->local_nodes;
	b->keyinfo = b->local_keyinfo;
	b->top = 0;
	b->cap = AML_DOC_LOCAL_NODES;
	b->depth = 0;
	b->key = NULL;
	b->next_keyinfo.hash = 0;
	b->next_keyinfo.line = 0;

	/* Configs need 3 to 5 bytes of tree per input byte (more when compact). */
	size = size_hint < FIRST_CHUNK_MAX / 5 ? size_hint * 5 : FIRST_CHUNK_MAX;
	if (size < FIRST_CHUNK_MIN)
		size = FIRST_CHUNK_MIN;
	b->first = chunk_new(sizeof(struct aml_node) + size);
	if (!b->first) {
		aml_doc_error(errs, 1, "out of memory");
		return -1;
	}
	b->first->used = sizeof(struct aml_node);
	b->cur = b->first;
	return 0;
}

static void chunks_free(struct aml_doc_chunk *c)
{
	while (c) {
		struct aml_doc_chunk *next = c->next;

		free(c);
		c = next;
	}
}

static void stack_release(struct aml_doc_build *b)
{
	if (b->nodes != b->local_nodes) {
		free(b->nodes);
		free(b->keyinfo);
	}
	b->nodes = b->local_nodes;
	b->keyinfo = b->local_keyinfo;
	b->top = 0;
	b->cap = AML_DOC_LOCAL_NODES;
}

void aml_doc_build_abort(struct aml_doc_build *b)
{
	stack_release(b);
	chunks_free(b->first);
	b->first = b->cur = NULL;
}

struct aml_node *aml_doc_build_finish(struct aml_doc_build *b)
{
	struct aml_node *root;

	if (b->depth != 0 || b->top != 1) {
		aml_doc_build_abort(b);
		return NULL;
	}
	root = (struct aml_node *)b->first->data;
	*root = b->nodes[0];
	stack_release(b);
	b->first = b->cur = NULL;
	return root;
}

static int stack_grow(struct aml_doc_build *b, int line)
{
	size_t cap = b->cap * 2;
	struct aml_node *nodes;
	struct aml_doc_keyinfo *keyinfo;

	if (cap > SIZE_MAX / sizeof(*nodes))
		goto oom;
	if (b->nodes == b->local_nodes) {
		nodes = malloc(cap * sizeof(*nodes));
		keyinfo = malloc(cap * sizeof(*keyinfo));
		if (!nodes || !keyinfo) {
			free(nodes);
			free(keyinfo);
			goto oom;
		}
		memcpy(nodes, b->nodes, b->top * sizeof(*nodes));
		memcpy(keyinfo, b->keyinfo, b->top * sizeof(*keyinfo));
	} else {
		nodes = realloc(b->nodes, cap * sizeof(*nodes));
		if (!nodes)
			goto oom;
		b->nodes = nodes;
		keyinfo = realloc(b->keyinfo, cap * sizeof(*keyinfo));
		if (!keyinfo)
			goto oom;
	}
	b->nodes = nodes;
	b->keyinfo = keyinfo;
	b->cap = cap;
	return 0;
oom:
	aml_doc_error(b->errs, line, "out of memory");
	return -1;
}

struct aml_node *aml_doc_build_push_slow(struct aml_doc_build *b,
					 enum aml_node_type type, int line)
{
	if (stack_grow(b, line) < 0)
		return NULL;
	return aml_doc_build_push(b, type, line);
}

int aml_doc_build_open(struct aml_doc_build *b, enum aml_node_type type,
		       int line)
{
	if (b->depth == AML_DOC_MAX_DEPTH) {
		aml_doc_error(b->errs, line,
			      "nesting deeper than %d levels is not allowed",
			      AML_DOC_MAX_DEPTH);
		return -1;
	}
	if (!aml_doc_build_push(b, type, line))
		return -1;
	b->levels[b->depth].mark = b->top - 1;
	b->levels[b->depth].is_object = type == AML_NODE_OBJECT;
	b->depth++;
	return 0;
}

static void duplicate_error(struct aml_doc_build *b, const char *key,
			    int first_line, int line)
{
	char shown[96];

	aml_text_quote(key, strlen(key), shown, sizeof(shown));
	aml_doc_error(b->errs, line, "duplicate key %s (first at line %d)",
		      shown, first_line);
}

struct sort_entry {
	uint32_t hash;
	uint32_t index;
	const char *key;
};

static int sort_entry_cmp(const void *pa, const void *pb)
{
	const struct sort_entry *a = pa, *b = pb;
	int c;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	c = strcmp(a->key, b->key);
	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

/*
 * [e] in the order of sort_entry_cmp: by hash in four stable byte-wise
 * passes (linear, through [tmp]), then each run of one hash by key and
 * index.  The controller checks every object of every configuration, so
 * a big one costs a few linear passes rather than n log n comparisons;
 * keys forged to share a hash still cost no more than one qsort.
 */
static void sort_entries(struct sort_entry *e, struct sort_entry *tmp,
			 size_t n)
{
	for (unsigned shift = 0; shift < 32; shift += 8) {
		size_t count[257] = { 0 };

		for (size_t i = 0; i < n; i++)
			count[((e[i].hash >> shift) & 0xff) + 1]++;
		for (size_t d = 1; d <= 256; d++)
			count[d] += count[d - 1];
		for (size_t i = 0; i < n; i++)
			tmp[count[(e[i].hash >> shift) & 0xff]++] = e[i];
		memcpy(e, tmp, n * sizeof(*e));
	}
	for (size_t a = 0, z; a < n; a = z) {
		for (z = a + 1; z < n && e[z].hash == e[a].hash; z++)
			;
		if (z - a > 1)
			qsort(e + a, z - a, sizeof(*e), sort_entry_cmp);
	}
}

/*
 * Find the duplicate whose second occurrence comes first, so the message
 * is the same one the incremental check would have given.
 */
static int check_duplicates_sorted(struct aml_doc_build *b, size_t first,
				   size_t n)
{
	struct sort_entry *e, *tmp;
	size_t best = SIZE_MAX, best_first = 0;

	if (n > UINT32_MAX || !(e = malloc(2 * n * sizeof(*e)))) {
		aml_doc_error(b->errs, b->nodes[first - 1].line,
			      "out of memory");
		return -1;
	}
	tmp = e + n;
	for (size_t i = 0; i < n; i++) {
		e[i].hash = b->keyinfo[first + i].hash;
		e[i].index = (uint32_t)i;
		e[i].key = b->nodes[first + i].key;
	}
	sort_entries(e, tmp, n);
	for (size_t i = 1; i < n; i++) {
		/* e[i-1] is the earliest of its run when it starts one */
		if (e[i].hash == e[i - 1].hash &&
		    strcmp(e[i].key, e[i - 1].key) == 0 &&
		    (i < 2 || e[i - 2].hash != e[i].hash ||
		     strcmp(e[i - 2].key, e[i].key) != 0) &&
		    e[i].index < best) {
			best = e[i].index;
			best_first = e[i - 1].index;
		}
	}
	free(e);
	if (best == SIZE_MAX)
		return 0;
	duplicate_error(b, b->nodes[first + best].key,
			b->keyinfo[first + best_first].line,
			b->keyinfo[first + best].line);
	return -1;
}

int aml_doc_build_close(struct aml_doc_build *b)
{
	struct aml_doc_level *lvl = &b->levels[b->depth - 1];
	size_t first = lvl->mark + 1, n = b->top - first;
	struct aml_node *children = NULL;

	if (lvl->is_object && n > SMALL_OBJECT &&
	    check_duplicates_sorted(b, first, n) < 0)
		return -1;
	if (n) {
		children = arena_alloc(b, n * sizeof(*children),
				       alignof(struct aml_node),
				       b->nodes[lvl->mark].line);
		if (!children)
			return -1;
		memcpy(children, &b->nodes[first], n * sizeof(*children));
	}
	b->nodes[lvl->mark].children = children;
	b->nodes[lvl->mark].n_children = n;
	b->top = first;
	b->depth--;
	return 0;
}

/*
 * Only a quick filter before strcmp: length and both ends are enough to
 * tell config keys apart, at a constant cost per key.
 */
static uint32_t key_hash(const char *s, size_t n)
{
	uint32_t a = 0, z = 0;

	if (n >= 4) {
		memcpy(&a, s, 4);
		memcpy(&z, s + n - 4, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			a = a << 8 | (unsigned char)s[i];
	}
	return (a * 2654435761u) ^ (z * 40503u) ^ (uint32_t)n;
}

int aml_doc_build_key(struct aml_doc_build *b, char *key, size_t len,
		      int line)
{
	const struct aml_doc_level *lvl = &b->levels[b->depth - 1];
	size_t first = lvl->mark + 1;
	uint32_t h = key_hash(key, len);

	if (b->top - first <= SMALL_OBJECT) {
		for (size_t i = first; i < b->top; i++) {
			if (b->keyinfo[i].hash == h &&
			    strcmp(b->nodes[i].key, key) == 0) {
				duplicate_error(b, key, b->keyinfo[i].line,
						line);
				return -1;
			}
		}
	}
	b->key = key;
	b->next_keyinfo.hash = h;
	b->next_keyinfo.line = line;
	return 0;
}

void aml_doc_free(struct aml_node *root)
{
	struct aml_doc_chunk *first;

	if (!root)
		return;
	first = (struct aml_doc_chunk *)
		((char *)root - offsetof(struct aml_doc_chunk, data));
	chunks_free(first);
}
