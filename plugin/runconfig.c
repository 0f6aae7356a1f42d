/*
 * runconfig.c: the model's lifetime, form recognition, the field readers the
 * three forms share, and the rules that hold whatever the form.
 */
#include "runconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pystr.h"
#include "rc_internal.h"
#include "runid.h"
#include "suggest.h"
#include "text.h"

#define RC_MAX_NAME 255

void aml_run_limits_default(struct aml_run_limits *limits)
{
	limits->config_bytes = AML_DEFAULT_MAX_CONFIG_BYTES;
	limits->variables = AML_DEFAULT_MAX_VARIABLES;
	limits->arguments = AML_DEFAULT_MAX_ARGUMENTS;
	limits->argument_bytes = AML_DEFAULT_MAX_ARGUMENT_BYTES;
}

/* [limits], or the defaults in [buf] when it is NULL. */
static const struct aml_run_limits *
limits_or_default(const struct aml_run_limits *limits,
		  struct aml_run_limits *buf)
{
	if (limits)
		return limits;
	aml_run_limits_default(buf);
	return buf;
}

int aml_runconfig_check_size(uint64_t bytes, const char *what,
			     const struct aml_run_limits *limits,
			     struct aml_errors *errs)
{
	struct aml_run_limits defaults;

	limits = limits_or_default(limits, &defaults);
	if (bytes <= limits->config_bytes)
		return 0;
	aml_errors_add(errs, NULL,
		       "%s is %llu bytes, at most %llu (MaxConfigSize in aml.conf)",
		       what ? what : "the configuration",
		       (unsigned long long)bytes,
		       (unsigned long long)limits->config_bytes);
	return -1;
}

void aml_strlist_free(struct aml_strlist *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

void aml_kvlist_free(struct aml_kvlist *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].key);
		free(list->items[i].value);
	}
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

void aml_runconfig_free(struct aml_runconfig *rc)
{
	struct aml_environment *env = &rc->environment;

	free(rc->run_id);
	free(rc->experiment_name);
	free(rc->display_name);
	free(rc->description);
	free(rc->source_directory);
	free(rc->script);
	aml_strlist_free(&rc->arguments);
	aml_strlist_free(&rc->command);
	free(rc->command_line);
	free(rc->compute_target);
	free(rc->distributed.backend);
	free(env->name);
	free(env->version);
	free(env->interpreter_path);
	free(env->conda_dependencies);
	free(env->conda_dependencies_file);
	free(env->docker_base_image);
	free(env->docker_shm_size);
	aml_strlist_free(&env->docker_arguments);
	aml_kvlist_free(&rc->environment_variables);
	aml_kvlist_free(&rc->tags);
	aml_kvlist_free(&rc->properties);
	memset(rc, 0, sizeof(*rc));
}

uint32_t aml_runconfig_process_count(const struct aml_runconfig *rc)
{
	const struct aml_distributed *d = &rc->distributed;

	switch (d->type) {
	case AML_DIST_PYTORCH:
	case AML_DIST_MPI:
		return rc->node_count * d->process_count_per_node;
	case AML_DIST_TENSORFLOW:
		return d->worker_count + d->parameter_server_count;
	case AML_DIST_NONE:
		break;
	}
	return 1;
}

const char *aml_dist_type_name(enum aml_dist_type type)
{
	switch (type) {
	case AML_DIST_PYTORCH:
		return "pytorch";
	case AML_DIST_MPI:
		return "mpi";
	case AML_DIST_TENSORFLOW:
		return "tensorflow";
	case AML_DIST_NONE:
		break;
	}
	return "none";
}

const char *aml_config_form_name(enum aml_config_form form)
{
	switch (form) {
	case AML_FORM_RUN_CONFIGURATION:
		return "run_configuration";
	case AML_FORM_COMMAND_JOB:
		return "command_job";
	case AML_FORM_SCRIPT_RUN_CONFIG:
		break;
	}
	return "script_run_config";
}

int aml_is_env_name(const char *name)
{
	if (!name || !(isalpha((unsigned char)*name) || *name == '_'))
		return 0;
	for (const char *p = name + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return 0;
	return 1;
}

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

/* ---- lists ---- */

int rc_strlist_push(struct aml_strlist *list, const char *value)
{
	char **items = realloc(list->items,
			       (list->count + 1) * sizeof(*items));
	char *copy;

	if (!items)
		return -1;
	list->items = items;
	copy = strdup(value);
	if (!copy)
		return -1;
	list->items[list->count++] = copy;
	return 0;
}

const char *aml_kvlist_get(const struct aml_kvlist *list, const char *key)
{
	for (size_t i = 0; i < list->count; i++)
		if (!strcmp(list->items[i].key, key))
			return list->items[i].value;
	return NULL;
}

int aml_kvlist_set(struct aml_kvlist *list, const char *key,
		  const char *value)
{
	struct aml_kv *items;
	char *value_copy = strdup(value), *key_copy;

	if (!value_copy)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		if (!strcmp(list->items[i].key, key)) {
			free(list->items[i].value);
			list->items[i].value = value_copy;
			return 0;
		}
	}
	key_copy = strdup(key);
	items = realloc(list->items, (list->count + 1) * sizeof(*items));
	if (!key_copy || !items) {
		free(key_copy);
		free(value_copy);
		if (items)
			list->items = items;
		return -1;
	}
	list->items = items;
	list->items[list->count].key = key_copy;
	list->items[list->count].value = value_copy;
	list->count++;
	return 0;
}

/* A key of either list, and where it came from: dst's position, or
 * dst's count plus src's position. */
struct merge_key {
	const char *key;
	size_t seq;
};

static int merge_key_cmp(const void *pa, const void *pb)
{
	const struct merge_key *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);

	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int aml_kvlist_merge(struct aml_kvlist *dst, struct aml_kvlist *src)
{
	size_t n = dst->count, m = src->count, total = n + m;
	struct merge_key *keys = NULL;
	size_t *append_from = NULL;
	struct aml_kv *items;
	int rc = -1;

	if (m == 0) {
		rc = 0;
		goto out;
	}
	/* Everything that can fail comes first, so a failure leaves [dst]
	 * as it was. */
	if (total < n || total > SIZE_MAX / sizeof(*keys) ||
	    !(keys = malloc(total * sizeof(*keys))) ||
	    !(append_from = malloc(m * sizeof(*append_from))) ||
	    !(items = realloc(dst->items, total * sizeof(*items))))
		goto out;
	dst->items = items;
	for (size_t i = 0; i < n; i++)
		keys[i] = (struct merge_key){ dst->items[i].key, i };
	for (size_t j = 0; j < m; j++) {
		keys[n + j] = (struct merge_key){ src->items[j].key, n + j };
		append_from[j] = SIZE_MAX;
	}
	qsort(keys, total, sizeof(*keys), merge_key_cmp);
	/* Each run of one key: the first setting keeps its place, the last
	 * one's value wins, as a sequence of aml_kvlist_set calls gives. */
	for (size_t a = 0, b; a < total; a = b) {
		size_t first, last;

		for (b = a + 1; b < total && !strcmp(keys[b].key, keys[a].key);
		     b++)
			;
		first = keys[a].seq;
		last = keys[b - 1].seq;
		if (last < n)
			continue;
		if (first < n) {
			free(dst->items[first].value);
			dst->items[first].value = src->items[last - n].value;
			src->items[last - n].value = NULL;
		} else {
			append_from[first - n] = last - n;
		}
	}
	for (size_t j = 0; j < m; j++) {
		if (append_from[j] == SIZE_MAX)
			continue;
		dst->items[dst->count].key = src->items[j].key;
		dst->items[dst->count].value = src->items[append_from[j]].value;
		src->items[j].key = NULL;
		src->items[append_from[j]].value = NULL;
		dst->count++;
	}
	rc = 0;
out:
	free(keys);
	free(append_from);
	aml_kvlist_free(src);
	return rc;
}

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

char *rc_join_normalise(const char *base, const char *path)
{
	size_t cap = (base ? strlen(base) : 0) + strlen(path) + 3;
	char *joined = malloc(cap), *out;
	size_t n = 0;
	const char *p;

	if (!joined)
		return NULL;
	if (path[0] == '/' || !base)
		snprintf(joined, cap, "%s", path);
	else
		snprintf(joined, cap, "%s/%s", base, path);
	out = malloc(cap);
	if (!out) {
		free(joined);
		return NULL;
	}
	/* Lexical: symlinks are the snapshot's business, done as the user. */
	p = joined;
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
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		out[n++] = '/';
		memcpy(out + n, seg, len);
		n += len;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
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
		if (in_word && rc_strlist_push(out, word) < 0) {
			rc = -1;
			goto out;
		}
	}
out:
	free(word);
	return rc;
}

/* ---- field readers ---- */

void rc_path(char out[RC_PATH_MAX], const char *parent, const char *key)
{
	if (parent && *parent)
		snprintf(out, RC_PATH_MAX, "%s.%s", parent, key);
	else
		snprintf(out, RC_PATH_MAX, "%s", key);
}

static int in_list(const char *key, const char *const *list)
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

		if (in_list(key, known) || in_list(key, ignored))
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

int rc_read_dir(struct rc_ctx *ctx, const struct aml_node *node,
		const char *path, char **out)
{
	char *text = NULL;

	if (rc_read_string(ctx, node, path, &text) < 0)
		return -1;
	if (!text)
		return 0;
	if (!*text) {
		aml_errors_add(ctx->errs, path, "must not be empty");
		free(text);
		return -1;
	}
	if (text[0] != '/' && !ctx->base_dir) {
		aml_errors_add(ctx->errs, path,
			       "must be an absolute path here, got \"%s\"",
			       text);
		free(text);
		return -1;
	}
	free(*out);
	*out = rc_join_normalise(ctx->base_dir, text);
	free(text);
	if (!*out) {
		aml_errors_add(ctx->errs, path, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- recognising the form ---- */

static const char *const form1_only[] = {
	"source_directory", "compute_target", "node_count",
	"distributed_job_config", "max_run_duration_seconds", "run_id",
	"original_form", NULL,
};
static const char *const form2_only[] = {
	"target", "framework", "communicator", "maxRunDurationSeconds",
	"nodeCount", "environmentVariables", "history", "docker", "mpi",
	"pytorch", "pyTorch", "tensorflow", "dataReferences", "data",
	"spark", "hdi", "amlcompute", "amlCompute", "priority",
	"outputData", "datacaches", "credentialPassthrough",
	"sourceDirectoryDataStore", "paralleltask", "parallelTask",
	"ArgumentVector", "Target", "Framework", "CondaDependenciesFile",
	"TrackedRun", "EnvironmentVariables", "sourceDirectory", NULL,
};
static const char *const form3_only[] = {
	"$schema", "type", "code", "compute", "resources", "distribution",
	"limits", "inputs", "outputs", "environment_variables", "name",
	"queue_settings", "services", "identity", NULL,
};

static int count_keys(const struct aml_node *root, const char *const *keys)
{
	int n = 0;

	for (size_t i = 0; i < root->n_children; i++)
		if (in_list(root->children[i].key, keys))
			n++;
	return n;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static enum aml_config_form detect_form(const struct aml_node *root,
					const char *filename)
{
	const struct aml_node *schema = aml_doc_get(root, "$schema");
	const struct aml_node *type = aml_doc_get(root, "type");
	int f1, f2, f3;

	if (schema && schema->type == AML_NODE_STRING &&
	    strcasestr(schema->text, "commandJob"))
		return AML_FORM_COMMAND_JOB;
	if (type && type->type == AML_NODE_STRING &&
	    !strcasecmp(type->text, "command"))
		return AML_FORM_COMMAND_JOB;
	f1 = count_keys(root, form1_only);
	f2 = count_keys(root, form2_only);
	f3 = count_keys(root, form3_only);
	if (f2 > f1 && f2 >= f3)
		return AML_FORM_RUN_CONFIGURATION;
	if (f3 > f1 && f3 > f2)
		return AML_FORM_COMMAND_JOB;
	if (f1 == 0 && f2 == 0 && f3 == 0 && filename &&
	    ends_with(filename, ".runconfig"))
		return AML_FORM_RUN_CONFIGURATION;
	return AML_FORM_SCRIPT_RUN_CONFIG;
}

/* ---- shared rules ---- */

static int valid_experiment_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > RC_MAX_NAME || !isalnum((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)name[i]) || name[i] == '_' ||
		      name[i] == '-'))
			return 0;
	return 1;
}

/* Azure ML names the experiment after the submitting directory when the
 * file does not; such a name may hold characters an experiment may not. */
static char *experiment_from_dir(const char *dir)
{
	const char *base = dir ? strrchr(dir, '/') : NULL;
	char *name;
	size_t n = 0;

	base = base ? base + 1 : (dir ? dir : "");
	name = malloc(strlen(base) + sizeof("Default"));
	if (!name)
		return NULL;
	for (const char *p = base; *p && n < RC_MAX_NAME; p++) {
		if (isalnum((unsigned char)*p) || ((*p == '_' || *p == '-') && n))
			name[n++] = *p;
		else if (n)
			name[n++] = '_';
	}
	name[n] = '\0';
	if (n == 0)
		strcpy(name, "Default");
	return name;
}

/*
 * Normalise a relative path that must not climb out of its root: "a/../b"
 * is fine, "../src/x" is not even if it happens to come back, because the
 * source directory's own name is not part of the snapshot.  Returns a
 * malloc'd normal form, or NULL with *escapes set (or out of memory).
 */
static char *normalise_inside(const char *path, int *escapes)
{
	char *out = malloc(strlen(path) + 1);
	size_t n = 0;
	const char *p = path;

	*escapes = 0;
	if (!out)
		return NULL;
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
			if (n == 0) {
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
		if (n)
			out[n++] = '/';
		memcpy(out + n, seg, len);
		n += len;
	}
	out[n] = '\0';
	return out;
}

static void check_script_path(struct rc_ctx *ctx)
{
	struct aml_runconfig *rc = ctx->rc;
	char *normal;
	int escapes;

	if (rc->script[0] == '/') {
		aml_errors_add(ctx->errs, "script",
			       "must be a path relative to the source directory, got \"%s\"",
			       rc->script);
		return;
	}
	normal = normalise_inside(rc->script, &escapes);
	if (escapes) {
		aml_errors_add(ctx->errs, "script",
			       "must stay inside the source directory, got \"%s\"",
			       rc->script);
		return;
	}
	if (!normal) {
		aml_errors_add(ctx->errs, "script", "out of memory");
		return;
	}
	if (!*normal) {
		aml_errors_add(ctx->errs, "script",
			       "must name a file, got \"%s\"", rc->script);
		free(normal);
		return;
	}
	free(rc->script);
	rc->script = normal;
}

/*
 * The limits on what the lists add up to, once every place that sets
 * them has been read: each list was bounded on its own as it was read,
 * but a RunConfiguration has two places for variables, a command job's
 * inputs and outputs add theirs, and a string of arguments is only
 * counted once it is split.
 */
static void check_totals(struct rc_ctx *ctx)
{
	const struct aml_runconfig *rc = ctx->rc;
	const struct aml_run_limits *lim = ctx->limits;
	const struct aml_strlist *args =
		rc->command.count ? &rc->command : &rc->arguments;
	const char *field = rc->command.count || rc->command_line
				    ? "command" : "arguments";
	uint64_t bytes = 0;

	if (rc->environment_variables.count > lim->variables)
		aml_errors_add(ctx->errs, NULL,
			       "%zu environment variables in all, at most %u (MaxEnvironmentVariables in aml.conf)",
			       rc->environment_variables.count, lim->variables);
	if (args->count > lim->arguments) {
		aml_errors_add(ctx->errs, field,
			       "%zu arguments, at most %u (MaxArguments in aml.conf)",
			       args->count, lim->arguments);
		return;
	}
	for (size_t i = 0; i < args->count; i++)
		bytes += strlen(args->items[i]) + 1;
	if (rc->command_line)
		bytes += strlen(rc->command_line) + 1;
	if (bytes > lim->argument_bytes)
		aml_errors_add(ctx->errs, field,
			       "%llu bytes of arguments, at most %llu (MaxArgumentsSize in aml.conf)",
			       (unsigned long long)bytes,
			       (unsigned long long)lim->argument_bytes);
}

void rc_finish(struct rc_ctx *ctx)
{
	struct aml_runconfig *rc = ctx->rc;
	struct aml_distributed *d = &rc->distributed;

	if (ctx->has_command && (ctx->has_script || ctx->has_arguments))
		aml_errors_add(ctx->errs, "command",
			       "command and script/arguments cannot be used together");
	else if (!ctx->has_command && !ctx->has_script && ctx->has_arguments)
		aml_errors_add(ctx->errs, "arguments",
			       "arguments need a script to pass them to");
	else if (!ctx->has_command && !ctx->has_script &&
		 !aml_errors_any(ctx->errs))
		aml_errors_add(ctx->errs, "script",
			       "one of script or command is required");
	if (rc->script)
		check_script_path(ctx);
	if (ctx->has_command && rc->command_line && !*rc->command_line)
		aml_errors_add(ctx->errs, "command", "must not be empty");

	if (rc->node_count == 0)
		rc->node_count = 1;
	if (rc->max_run_duration_seconds == 0)
		rc->max_run_duration_seconds = AML_DEFAULT_MAX_RUN_DURATION;
	else
		rc->max_run_duration_given = 1;

	if (d->type == AML_DIST_PYTORCH) {
		if (!d->backend)
			d->backend = strdup("nccl");
		if (ctx->pytorch_total_given) {
			if (ctx->pytorch_total % rc->node_count) {
				aml_errors_add(ctx->errs,
					       ctx->pytorch_total_path,
					       "%u processes cannot be spread evenly over %u nodes",
					       ctx->pytorch_total,
					       rc->node_count);
			} else {
				d->process_count_per_node =
					ctx->pytorch_total / rc->node_count;
			}
		}
	}
	if ((d->type == AML_DIST_PYTORCH || d->type == AML_DIST_MPI) &&
	    d->process_count_per_node == 0)
		d->process_count_per_node = 1;
	if ((d->type == AML_DIST_PYTORCH || d->type == AML_DIST_MPI) &&
	    (uint64_t)d->process_count_per_node * rc->node_count >
		    AML_MAX_PROCESSES)
		aml_errors_add(ctx->errs, "distributed_job_config",
			       "%u nodes x %u processes is more than %u processes",
			       rc->node_count, d->process_count_per_node,
			       AML_MAX_PROCESSES);
	if (d->type == AML_DIST_TENSORFLOW && d->worker_count == 0)
		aml_errors_add(ctx->errs, "distributed_job_config.worker_count",
			       "must be at least 1, got 0");

	if (!rc->experiment_name) {
		rc->experiment_name =
			ctx->default_experiment
				? experiment_from_dir(ctx->default_experiment)
				: experiment_from_dir(rc->source_directory);
	} else if (!valid_experiment_name(rc->experiment_name)) {
		aml_errors_add(ctx->errs, "experiment_name",
			       "must be 1 to 255 letters, digits, '_' or '-', starting with a letter or digit, got \"%s\"",
			       rc->experiment_name);
	}
	if (rc->run_id && !aml_runid_is_valid(rc->run_id))
		aml_errors_add(ctx->errs,
			       rc->form == AML_FORM_COMMAND_JOB ? "name" : "run_id",
			       "must be 1 to %d letters, digits, '_' or '-', starting with a letter or digit, got \"%s\"",
			       AML_RUNID_MAX - 1, rc->run_id);
	if (rc->display_name && strlen(rc->display_name) > RC_MAX_NAME)
		aml_errors_add(ctx->errs, "display_name",
			       "must be at most %d characters, got %zu",
			       RC_MAX_NAME, strlen(rc->display_name));
	check_totals(ctx);
}

/* ---- entry points ---- */

static char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	dir = strndup(path, (size_t)(slash - path));
	return dir;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int aml_runconfig_parse(const char *text, size_t len, const char *filename,
			const char *base_dir, const char *default_experiment,
			const struct aml_run_limits *limits,
			struct aml_runconfig *rc, struct aml_errors *errs)
{
	struct rc_ctx ctx;
	struct aml_node *root;
	struct aml_run_limits defaults;
	char *project_dir = NULL;
	size_t errors_before = errs->count;

	memset(rc, 0, sizeof(*rc));
	memset(&ctx, 0, sizeof(ctx));
	ctx.errs = errs;
	ctx.rc = rc;
	ctx.base_dir = base_dir;
	ctx.default_experiment = default_experiment;
	ctx.limits = limits_or_default(limits, &defaults);
	/* Before a byte is read: the size alone refuses it. */
	if (aml_runconfig_check_size(len, NULL, ctx.limits, errs) < 0)
		return -1;

	root = aml_doc_parse(text, len, AML_DOC_AUTO, errs);
	if (!root)
		return -1;
	if (root->type != AML_NODE_OBJECT) {
		char shown[96];

		aml_doc_describe(root, shown, sizeof(shown));
		aml_errors_add(errs, NULL,
			       "a run configuration must be an object of fields, got %s",
			       shown);
		aml_doc_free(root);
		return -1;
	}
	rc->form = detect_form(root, filename);
	/* A saved .runconfig lives in <project>/.azureml/: the project is the
	 * source directory, as Azure ML's Project does it. */
	if (rc->form == AML_FORM_RUN_CONFIGURATION && base_dir &&
	    (!strcmp(basename_of(base_dir), ".azureml") ||
	     !strcmp(basename_of(base_dir), "aml_config"))) {
		project_dir = dirname_of(base_dir);
		if (!project_dir) {
			aml_errors_add(errs, NULL, "out of memory");
			aml_doc_free(root);
			return -1;
		}
		ctx.base_dir = project_dir;
	}

	switch (rc->form) {
	case AML_FORM_SCRIPT_RUN_CONFIG:
		rc_read_script_run_config(&ctx, root);
		break;
	case AML_FORM_RUN_CONFIGURATION:
		rc_read_run_configuration(&ctx, root);
		break;
	case AML_FORM_COMMAND_JOB:
		rc_read_command_job(&ctx, root);
		break;
	}
	if (!rc->source_directory && ctx.base_dir) {
		rc->source_directory = rc_join_normalise(NULL, ctx.base_dir);
		if (!rc->source_directory)
			aml_errors_add(errs, NULL, "out of memory");
	} else if (!rc->source_directory) {
		aml_errors_add(errs, "source_directory",
			       "is required (an absolute path) in this form");
	}
	rc_finish(&ctx);
	aml_doc_free(root);
	free(project_dir);
	if (errs->count > errors_before || errs->out_of_memory) {
		aml_runconfig_free(rc);
		return -1;
	}
	return 0;
}

static char *absolute_dir_of(const char *path)
{
	char *dir = dirname_of(path), *abs = NULL;
	char cwd[PATH_MAX];

	if (!dir)
		return NULL;
	if (dir[0] == '/') {
		abs = rc_join_normalise(NULL, dir);
	} else if (getcwd(cwd, sizeof(cwd))) {
		abs = rc_join_normalise(cwd, dir);
	}
	free(dir);
	return abs;
}

int aml_runconfig_load(const char *path, const struct aml_run_limits *limits,
		       struct aml_runconfig *rc, struct aml_errors *errs)
{
	char *text = NULL, *base = NULL;
	size_t len = 0;
	struct stat st;
	struct aml_run_limits defaults;
	int fd, result = -1;

	memset(rc, 0, sizeof(*rc));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		aml_errors_add(errs, NULL, "cannot read %s: %s", path,
			       strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		aml_errors_add(errs, NULL, "%s is not a regular file", path);
		goto out;
	}
	limits = limits_or_default(limits, &defaults);
	if (aml_runconfig_check_size((uint64_t)st.st_size, path, limits,
				     errs) < 0)
		goto out;
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		aml_errors_add(errs, NULL, "out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			aml_errors_add(errs, NULL, "cannot read %s: %s", path,
				       strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	text[len] = '\0';
	base = absolute_dir_of(path);
	if (!base) {
		aml_errors_add(errs, NULL,
			       "cannot tell the directory of %s", path);
		goto out;
	}
	result = aml_runconfig_parse(text, len, path, base, NULL, limits, rc,
				     errs);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(base);
	return result;
}

static void check_regular_inside(struct aml_errors *errs, const char *field,
				 const char *dir, const char *path)
{
	char *full = path[0] == '/' ? strdup(path)
				    : rc_join_normalise(dir, path);
	struct stat st;

	if (!full) {
		aml_errors_add(errs, field, "out of memory");
		return;
	}
	if (stat(full, &st) < 0)
		aml_errors_add(errs, field, "%s: %s", full, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		aml_errors_add(errs, field, "%s is not a regular file", full);
	free(full);
}

int aml_runconfig_check_files(const struct aml_runconfig *rc,
			      struct aml_errors *errs)
{
	size_t before = errs->count;
	struct stat st;

	if (stat(rc->source_directory, &st) < 0) {
		aml_errors_add(errs, "source_directory", "%s: %s",
			       rc->source_directory, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		aml_errors_add(errs, "source_directory",
			       "%s is not a directory", rc->source_directory);
		return -1;
	}
	if (rc->script)
		check_regular_inside(errs, "script", rc->source_directory,
				     rc->script);
	if (rc->environment.conda_dependencies_file)
		check_regular_inside(errs,
				     "environment.python.conda_dependencies_file",
				     rc->source_directory,
				     rc->environment.conda_dependencies_file);
	return errs->count > before ? -1 : 0;
}
