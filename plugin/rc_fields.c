/*
 * rc_fields.c: the field readers the three form readers share
 * (rc_internal.h): type and range checks with the field's path in every
 * error, and the path and word helpers behind them.  The form readers
 * (rc_script.c, rc_runconfiguration.c, rc_commandjob.c) and the
 * dispatcher (runconfig.c) call it; it calls none of them.
 */
#include "rc_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job_env.h"
#include "pystr.h"
#include "suggest.h"
#include "text.h"

int rc_dist_type_from_name(const char *name)
{
	if (!strcasecmp(name, "pytorch"))
		return AML_DIST_PYTORCH;
	if (!strcasecmp(name, "mpi"))
		return AML_DIST_MPI;
	if (!strcasecmp(name, "tensorflow"))
		return AML_DIST_TENSORFLOW;
	return -1;
}

/* ---- the node count ---- */

void rc_set_node_count(struct rc_ctx *ctx, uint64_t value, const char *path)
{
	if (ctx->node_count_given && ctx->rc->node_count != value) {
		aml_errors_add(ctx->errs, path, "%llu conflicts with %s = %u",
			       (unsigned long long)value,
			       ctx->node_count_path, ctx->rc->node_count);
		return;
	}
	ctx->rc->node_count = (uint32_t)value;
	ctx->node_count_given = 1;
	snprintf(ctx->node_count_path, sizeof(ctx->node_count_path), "%s",
		 path);
}

/* ---- paths and words ---- */

char *rc_normalise(const char *path, int absolute, int *escapes)
{
	char *out = malloc(strlen(path) + 2);
	size_t n = 0;
	const char *p = path;

	*escapes = 0;
	if (!out)
		return NULL;
	/* Lexical: symlinks are the snapshot's business, done as the user. */
	while (*p) {
		const char *seg;
		size_t len;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			if (n == 0 && !absolute) {
				*escapes = 1;
				free(out);
				return NULL;
			}
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		if (absolute || n)
			out[n++] = '/';
		memcpy(out + n, seg, len);
		n += len;
	}
	if (n == 0 && absolute)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

char *rc_join_normalise(const char *base, const char *path)
{
	size_t cap = (base ? strlen(base) : 0) + strlen(path) + 2;
	char *joined = malloc(cap), *out;
	int escapes;

	if (!joined)
		return NULL;
	if (path[0] == '/' || !base)
		snprintf(joined, cap, "%s", path);
	else
		snprintf(joined, cap, "%s/%s", base, path);
	out = rc_normalise(joined, 1, &escapes);
	free(joined);
	return out;
}

int rc_split_words(const char *text, struct aml_strlist *out)
{
	size_t cap = strlen(text) + 1;
	char *word = malloc(cap);
	const char *p = text;
	int rc = 0;

	if (!word)
		return -1;
	for (;;) {
		size_t n = 0;
		int in_word = 0;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		while (*p && !(*p == ' ' || *p == '\t' || *p == '\n')) {
			in_word = 1;
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');

				if (!end) {
					rc = -1;
					goto out;
				}
				memcpy(word + n, p + 1, (size_t)(end - p - 1));
				n += (size_t)(end - p - 1);
				p = end + 1;
			} else if (*p == '"') {
				p++;
				while (*p && *p != '"') {
					if (*p == '\\' && p[1] &&
					    strchr("\"\\$`", p[1]))
						p++;
					word[n++] = *p++;
				}
				if (*p != '"') {
					rc = -1;
					goto out;
				}
				p++;
			} else if (*p == '\\' && p[1]) {
				word[n++] = p[1];
				p += 2;
			} else {
				word[n++] = *p++;
			}
		}
		word[n] = '\0';
		if (in_word && aml_strlist_push(out, word) < 0) {
			rc = -1;
			goto out;
		}
	}
out:
	free(word);
	return rc;
}

/* ---- field readers ---- */

/* What snprintf(out, RC_PATH_MAX, "%s.%s", parent, key) writes, by
 * copying: the controller builds the path of every field present in a
 * canonical form, and formatting them cost it a tenth of its time. */
void rc_path(char out[RC_PATH_MAX], const char *parent, const char *key)
{
	size_t n = 0, room = RC_PATH_MAX - 1, len;

	if (parent && *parent) {
		len = strlen(parent);
		n = len < room ? len : room;
		memcpy(out, parent, n);
		if (n < room)
			out[n++] = '.';
	}
	len = strlen(key);
	if (len > room - n)
		len = room - n;
	memcpy(out + n, key, len);
	out[n + len] = '\0';
}

int rc_is_empty(const struct aml_node *node)
{
	return !node || node->type == AML_NODE_NULL ||
	       ((node->type == AML_NODE_ARRAY ||
		 node->type == AML_NODE_OBJECT) && node->n_children == 0);
}

int rc_key_in_list(const char *key, const char *const *list)
{
	/* Called for every key of every object: the first byte settles most
	 * comparisons without a call. */
	for (; list && *list; list++)
		if (key[0] == (*list)[0] && !strcmp(key, *list))
			return 1;
	return 0;
}

int rc_check_keys(struct rc_ctx *ctx, const struct aml_node *obj,
		  const char *path, const char *const *known,
		  const char *const *ignored, const char *form_hint)
{
	size_t n_known = 0;
	int bad = 0;

	while (known[n_known])
		n_known++;
	for (size_t i = 0; i < obj->n_children; i++) {
		const char *key = obj->children[i].key;
		const char *guess;
		char where[RC_PATH_MAX];

		if (rc_key_in_list(key, known) ||
		    rc_key_in_list(key, ignored))
			continue;
		bad = 1;
		rc_path(where, path, key);
		guess = aml_suggest(key, known, n_known);
		if (guess)
			aml_errors_add(ctx->errs, where,
				       "unknown key for %s (line %d); did you mean \"%s\"?",
				       form_hint, obj->children[i].line,
				       guess);
		else
			aml_errors_add(ctx->errs, where,
				       "unknown key for %s (line %d)",
				       form_hint, obj->children[i].line);
	}
	return bad ? -1 : 0;
}

static void type_error(struct rc_ctx *ctx, const struct aml_node *node,
		       const char *path, const char *expected)
{
	char shown[96];

	aml_doc_describe(node, shown, sizeof(shown));
	aml_errors_add(ctx->errs, path, "must be %s, got %s", expected,
		       shown);
}

const struct aml_node *rc_object_or_null(struct rc_ctx *ctx,
					 const struct aml_node *node,
					 const char *path)
{
	if (!node || node->type == AML_NODE_NULL)
		return NULL;
	if (node->type != AML_NODE_OBJECT) {
		type_error(ctx, node, path, "an object");
		return NULL;
	}
	return node;
}

int rc_read_string(struct rc_ctx *ctx, const struct aml_node *node,
		   const char *path, char **out)
{
	if (!node || node->type == AML_NODE_NULL)
		return 0;
	if (node->type != AML_NODE_STRING) {
		type_error(ctx, node, path, "a string");
		return -1;
	}
	if (strlen(node->text) != node->len) {
		aml_errors_add(ctx->errs, path, "must not contain a NUL byte");
		return -1;
	}
	free(*out);
	*out = strdup(node->text);
	if (!*out) {
		aml_errors_add(ctx->errs, path, "out of memory");
		return -1;
	}
	return 0;
}

int rc_read_backend(struct rc_ctx *ctx, const struct aml_node *node,
		    const char *path, char **out)
{
	char *backend = NULL;

	if (rc_read_string(ctx, node, path, &backend) < 0 || !backend)
		return backend ? -1 : 0;
	for (char *p = backend; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strcmp(backend, "nccl") && strcmp(backend, "gloo")) {
		aml_errors_add(ctx->errs, path,
			       "must be \"nccl\" or \"gloo\", got \"%s\"",
			       backend);
		free(backend);
		return -1;
	}
	free(*out);
	*out = backend;
	return 0;
}

int rc_read_uint(struct rc_ctx *ctx, const struct aml_node *node,
		 const char *path, uint64_t min, uint64_t max, uint64_t *out,
		 int *given)
{
	unsigned long long value;
	char *end;

	if (given)
		*given = 0;
	if (!node || node->type == AML_NODE_NULL)
		return 0;
	errno = 0;
	if (node->type != AML_NODE_INT || node->text[0] == '-' ||
	    (value = strtoull(node->text, &end, 10), errno || *end) ||
	    value < min || value > max) {
		char shown[96];

		aml_doc_describe(node, shown, sizeof(shown));
		aml_errors_add(ctx->errs, path,
			       "must be a whole number from %llu to %llu, got %s",
			       (unsigned long long)min,
			       (unsigned long long)max, shown);
		return -1;
	}
	*out = value;
	if (given)
		*given = 1;
	return 0;
}

int rc_read_bool(struct rc_ctx *ctx, const struct aml_node *node,
		 const char *path, int *out)
{
	if (!node || node->type == AML_NODE_NULL)
		return 0;
	if (node->type != AML_NODE_BOOL) {
		type_error(ctx, node, path, "true or false");
		return -1;
	}
	*out = node->boolean;
	return 0;
}

/*
 * The field path of a list item or object member, built only when there is
 * an error to report: the controller reads every field of every job, and
 * formatting paths it never shows was most of its cost.
 */
static void member_path(char out[RC_PATH_MAX], const char *parent,
			const struct aml_node *member, size_t index)
{
	if (member->key)
		rc_path(out, parent, member->key);
	else
		snprintf(out, RC_PATH_MAX, "%s[%zu]", parent, index);
}

static char *scalar_text(struct rc_ctx *ctx, const struct aml_node *node,
			 const char *parent, size_t index)
{
	char where[RC_PATH_MAX];
	char *text;

	if (node->type == AML_NODE_ARRAY || node->type == AML_NODE_OBJECT) {
		member_path(where, parent, node, index);
		type_error(ctx, node, where, "a string, number or boolean");
		return NULL;
	}
	if (node->type == AML_NODE_STRING && strlen(node->text) != node->len) {
		member_path(where, parent, node, index);
		aml_errors_add(ctx->errs, where, "must not contain a NUL byte");
		return NULL;
	}
	text = aml_pystr(node);
	if (!text) {
		member_path(where, parent, node, index);
		aml_errors_add(ctx->errs, where, "out of memory");
	}
	return text;
}

int rc_read_strlist(struct rc_ctx *ctx, const struct aml_node *node,
		    const char *path, struct aml_strlist *out)
{
	int bad = 0;

	if (!node || node->type == AML_NODE_NULL)
		return 0;
	if (node->type != AML_NODE_ARRAY) {
		type_error(ctx, node, path, "a list");
		return -1;
	}
	aml_strlist_free(out);
	if (node->n_children == 0)
		return 0;
	out->items = malloc(node->n_children * sizeof(*out->items));
	if (!out->items) {
		aml_errors_add(ctx->errs, path, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < node->n_children; i++) {
		char *text = scalar_text(ctx, &node->children[i], path, i);

		if (!text) {
			bad = 1;
			continue;
		}
		out->items[out->count++] = text;
	}
	return bad ? -1 : 0;
}

int rc_read_arguments(struct rc_ctx *ctx, const struct aml_node *node,
		      const char *path, size_t extra,
		      struct aml_strlist *out)
{
	if (node && node->type == AML_NODE_ARRAY &&
	    node->n_children > extra &&
	    node->n_children - extra > ctx->limits->arguments) {
		aml_errors_add(ctx->errs, path,
			       "%zu arguments, at most %u (MaxArguments in aml.conf)",
			       node->n_children - extra,
			       ctx->limits->arguments);
		return -1;
	}
	return rc_read_strlist(ctx, node, path, out);
}

int rc_check_variable_count(struct rc_ctx *ctx, const struct aml_node *obj,
			    const char *path, const char *what)
{
	if (obj->n_children <= ctx->limits->variables)
		return 0;
	aml_errors_add(ctx->errs, path,
		       "%zu %s, each an environment variable, at most %u (MaxEnvironmentVariables in aml.conf)",
		       obj->n_children, what, ctx->limits->variables);
	return -1;
}

int rc_read_kvlist(struct rc_ctx *ctx, const struct aml_node *node,
		   const char *path, int env_names, struct aml_kvlist *out)
{
	struct aml_kvlist read = { 0 };
	int bad = 0;

	if (!node || node->type == AML_NODE_NULL)
		return 0;
	if (node->type != AML_NODE_OBJECT) {
		type_error(ctx, node, path, "an object of names and values");
		return -1;
	}
	/* Before any item is read: the count alone refuses it. */
	if (env_names && node->n_children > ctx->limits->variables) {
		aml_errors_add(ctx->errs, path,
			       "%zu variables, at most %u (MaxEnvironmentVariables in aml.conf)",
			       node->n_children, ctx->limits->variables);
		return -1;
	}
	if (node->n_children &&
	    !(read.items = malloc(node->n_children * sizeof(*read.items)))) {
		aml_errors_add(ctx->errs, path, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < node->n_children; i++) {
		const struct aml_node *child = &node->children[i];
		char where[RC_PATH_MAX];
		char *text, *key;

		if ((env_names && !aml_is_env_name(child->key)) ||
		    !*child->key) {
			rc_path(where, path, child->key);
			aml_errors_add(ctx->errs, where, env_names
				? "not a valid environment variable name (letters, digits and '_', not starting with a digit)"
				: "names must not be empty");
			bad = 1;
			continue;
		}
		text = scalar_text(ctx, child, path, i);
		if (!text) {
			bad = 1;
			continue;
		}
		if (!(key = strdup(child->key))) {
			rc_path(where, path, child->key);
			aml_errors_add(ctx->errs, where, "out of memory");
			free(text);
			bad = 1;
			continue;
		}
		read.items[read.count].key = key;
		read.items[read.count].value = text;
		read.count++;
	}
	/* The document's keys are unique, but [out] may hold another
	 * place's (a RunConfiguration's two lists): merged once, sorted,
	 * rather than a search of [out] per key, which a configuration of
	 * many variables made quadratic in the controller. */
	if (aml_kvlist_merge(out, &read) < 0) {
		aml_errors_add(ctx->errs, path, "out of memory");
		bad = 1;
	}
	return bad ? -1 : 0;
}

static void append_json_string(struct aml_text *t, const char *s, size_t n)
{
	aml_text_add(t, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			aml_text_add(t, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			aml_text_add(t, esc, 6);
		} else {
			aml_text_add(t, &s[i], 1);
		}
	}
	aml_text_add(t, "\"", 1);
}

/* Depth is bounded by the document reader (AML_DOC_MAX_DEPTH). */
static void node_to_json(const struct aml_node *node, struct aml_text *t)
{
	switch (node->type) {
	case AML_NODE_NULL:
		aml_text_str(t, "null");
		return;
	case AML_NODE_BOOL:
		aml_text_str(t, node->boolean ? "true" : "false");
		return;
	case AML_NODE_INT:
		aml_text_add(t, node->text, node->len);
		return;
	case AML_NODE_FLOAT:
		/* JSON has no inf/nan: keep them as strings, not as bad JSON. */
		if (!strcmp(node->text, "inf") || !strcmp(node->text, "-inf") ||
		    !strcmp(node->text, "nan"))
			append_json_string(t, node->text, node->len);
		else
			aml_text_add(t, node->text, node->len);
		return;
	case AML_NODE_STRING:
		append_json_string(t, node->text, node->len);
		return;
	case AML_NODE_ARRAY:
	case AML_NODE_OBJECT:
		break;
	}
	aml_text_str(t, node->type == AML_NODE_ARRAY ? "[" : "{");
	for (size_t i = 0; i < node->n_children; i++) {
		const struct aml_node *child = &node->children[i];

		if (i)
			aml_text_add(t, ",", 1);
		if (node->type == AML_NODE_OBJECT) {
			append_json_string(t, child->key, strlen(child->key));
			aml_text_add(t, ":", 1);
		}
		node_to_json(child, t);
	}
	aml_text_str(t, node->type == AML_NODE_ARRAY ? "]" : "}");
}

int rc_read_json_text(struct rc_ctx *ctx, const struct aml_node *node,
		      const char *path, char **out)
{
	struct aml_text t = AML_TEXT_INIT;
	char *json;

	if (!node || node->type == AML_NODE_NULL)
		return 0;
	if (node->type == AML_NODE_STRING) {
		/* The canonical form carries it as already-compact text. */
		return rc_read_string(ctx, node, path, out);
	}
	if (node->type != AML_NODE_OBJECT) {
		type_error(ctx, node, path, "an object");
		return -1;
	}
	node_to_json(node, &t);
	json = aml_text_finish(&t);
	if (!json) {
		aml_errors_add(ctx->errs, path, "out of memory");
		return -1;
	}
	free(*out);
	*out = json;
	return 0;
}

int rc_make_absolute(struct rc_ctx *ctx, const char *path, const char *text,
		     char **out)
{
	if (!*text) {
		aml_errors_add(ctx->errs, path, "must not be empty");
		return -1;
	}
	if (text[0] != '/' && !ctx->base_dir) {
		aml_errors_add(ctx->errs, path,
			       "must be an absolute path here, got \"%s\"",
			       text);
		return -1;
	}
	free(*out);
	*out = rc_join_normalise(ctx->base_dir, text);
	if (!*out) {
		aml_errors_add(ctx->errs, path, "out of memory");
		return -1;
	}
	return 0;
}

int rc_read_dir(struct rc_ctx *ctx, const struct aml_node *node,
		const char *path, char **out)
{
	char *text = NULL;
	int r;

	if (rc_read_string(ctx, node, path, &text) < 0)
		return -1;
	if (!text)
		return 0;
	r = rc_make_absolute(ctx, path, text, out);
	free(text);
	return r;
}
