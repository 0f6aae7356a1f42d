/*
 * rc_data.c: a command job's data inputs and outputs (rc_internal.h).
 *
 * A data input's path is a path on the shared filesystem, or an Azure ML
 * datastore path or data asset the site maps (datamap.h): either way the
 * command gets a path, with read-only mount semantics whatever the mode.
 * An output with a datastore path is written as every output, to
 * outputs/<name>, and copied to the datastore at Finalizing by the
 * launcher, as the run's user: the command's view of its outputs stays
 * Azure ML's upload mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data_url.h"
#include "rc_internal.h"

static const char *const literal_types[] = {
	"string", "integer", "number", "boolean", NULL,
};
static const char *const input_modes[] = {
	"ro_mount", "rw_mount", "download", "direct", "eval_mount",
	"eval_download", NULL,
};
static const char *const output_modes[] = {
	"rw_mount", "upload", "direct", NULL,
};
static const char data_types_text[] =
	"uri_file, uri_folder, mltable, mlflow_model or custom_model";

/* [key] of [obj] as a string into [*out] (NULL when absent), [field]
 * its path for messages. */
static int read_sub_string(struct rc_ctx *ctx, const struct aml_node *obj,
			   const char *parent, const char *key, char **out,
			   char field[RC_PATH_MAX])
{
	rc_path(field, parent, key);
	*out = NULL;
	return rc_read_string(ctx, aml_doc_get(obj, key), field, out);
}

/* mode: one of [modes]; the run reads or writes a path whatever it is. */
static void check_mode(struct rc_ctx *ctx, const struct aml_node *obj,
		       const char *parent, const char *const *modes,
		       const char *modes_text)
{
	char field[RC_PATH_MAX];
	char *mode;

	if (read_sub_string(ctx, obj, parent, "mode", &mode, field) < 0 ||
	    !mode)
		return;
	if (!rc_key_in_list(mode, modes))
		aml_errors_add(ctx->errs, field, "must be %s, got \"%s\"",
			       modes_text, mode);
	free(mode);
}

int rc_check_input_type(struct rc_ctx *ctx, const struct aml_node *in,
			const char *parent, int has_path, char **type,
			enum aml_data_kind *kind)
{
	char field[RC_PATH_MAX];
	int k;

	*kind = AML_DATA_ANY;
	if (read_sub_string(ctx, in, parent, "type", type, field) < 0)
		return -1;
	if (!*type)
		return 0;
	k = aml_data_kind_from_type(*type);
	if (k >= 0) {
		if (has_path)
			*kind = (enum aml_data_kind)k;
		return 0;
	}
	if (rc_key_in_list(*type, literal_types)) {
		if (!has_path)
			return 0;
		aml_errors_add(ctx->errs, field,
			       "%s is a literal type; an input with a path is %s",
			       *type, data_types_text);
		return -1;
	}
	aml_errors_add(ctx->errs, field,
		       "must be %s, or a literal: string, integer, number or boolean; got \"%s\"",
		       data_types_text, *type);
	return -1;
}

/*
 * [ref], a datastore path or data asset at [field], resolved through the
 * site's map: the absolute path (malloc'd) into [*out], what the site
 * says it is into [*kind] and the datastore's root and the part below it
 * into [*root] and [*below] ([below] may be NULL; malloc'd, and NULL
 * for an asset).  Returns 0, or
 * -1 after reporting.
 */
static int resolve_reference(struct rc_ctx *ctx, const char *field,
			     const char *ref, char **out,
			     enum aml_data_kind *kind, char **below,
			     const char **root)
{
	struct aml_data_target t;
	char err[1024];
	char *normal;
	int escapes;

	if (aml_datamap_resolve(ctx->data, ref, &t, err, sizeof(err)) < 0) {
		aml_errors_add(ctx->errs, field, "%s", err);
		return -1;
	}
	/* Lexical only: the map says which tree the site lends, and the
	 * user's own permissions say what in it they may read. */
	normal = rc_normalise(t.rel, 0, &escapes);
	if (escapes) {
		aml_errors_add(ctx->errs, field,
			       "must stay inside %s %s, got \"%s\"",
			       t.sub_len ? "storage account" : "datastore",
			       t.store, ref);
		return -1;
	}
	if (normal && t.sub_len) {
		/* A storage account's container, a checked name, is the
		 * first directory below the account's Path. */
		char *in_container = NULL;

		if (asprintf(&in_container, "%.*s/%s", (int)t.sub_len, t.sub,
			     normal) < 0)
			in_container = NULL;
		free(normal);
		normal = in_container;
	}
	*out = normal ? rc_join_normalise(t.root, normal) : NULL;
	if (!*out) {
		free(normal);
		aml_errors_add(ctx->errs, field, "out of memory");
		return -1;
	}
	*kind = t.kind;
	*root = t.root;
	if (below && t.store) {
		*below = normal;
	} else {
		if (below)
			*below = NULL;
		free(normal);
	}
	return 0;
}

static int add_data_use(struct rc_ctx *ctx, const char *field,
			const char *path, const char *type,
			enum aml_data_kind kind)
{
	struct aml_runconfig *rc = ctx->rc;
	struct aml_data_use *more, *u;

	more = realloc(rc->data_uses, (rc->n_data_uses + 1) * sizeof(*more));
	if (!more)
		goto oom;
	rc->data_uses = more;
	u = &rc->data_uses[rc->n_data_uses];
	u->field = strdup(field);
	u->path = strdup(path);
	u->type = type ? strdup(type) : NULL;
	u->kind = kind;
	rc->n_data_uses++;
	if (u->field && u->path && (!type || u->type))
		return 0;
oom:
	aml_errors_add(ctx->errs, field, "out of memory");
	return -1;
}

/* Whether [where] is a URL the node downloads (or plain http, which
 * data_url.h refuses with its reason). */
static int is_download(const char *where)
{
	return !strncasecmp(where, "https://", 8) ||
	       !strncasecmp(where, "http://", 7);
}

/* " (aml.conf's DataDownloadHosts=a,b)" into [buf]. */
static void list_hosts(const struct aml_datamap *map, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, " (aml.conf's "
				       "DataDownloadHosts=");

	for (size_t i = 0; i < map->n_download_hosts && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 i ? "," : "",
					 map->download_hosts[i]);
	if (used < len)
		snprintf(buf + used, len - used, ")");
}

/*
 * An https:// input [name] at [field]: checked against the URL rules and
 * the site's hosts, recorded in rc->downloads.  Returns the path the
 * command gets (malloc'd), or NULL after reporting.
 */
static char *read_download(struct rc_ctx *ctx, const char *name,
			   const char *field, const char *type_field,
			   const char *url, const char *type,
			   enum aml_data_kind kind)
{
	struct aml_runconfig *rc = ctx->rc;
	const struct aml_datamap *map = ctx->data;
	struct aml_download *more, *d;
	struct aml_data_url u;
	char err[1024], hosts[768], path[AML_DATA_NAME_MAX + RC_PATH_MAX];

	if (kind == AML_DATA_FOLDER) {
		aml_errors_add(ctx->errs, type_field,
			       "%s over https:// is not supported on Slurm: a URL is downloaded as one file (uri_file)",
			       type);
		return NULL;
	}
	if (aml_data_url_parse(url, &u, err, sizeof(err)) < 0) {
		aml_errors_add(ctx->errs, field, "%s", err);
		return NULL;
	}
	if (!map || map->n_download_hosts == 0) {
		aml_errors_add(ctx->errs, field,
			       "https:// inputs are not downloaded on this cluster (aml.conf has no DataDownloadHosts=), got \"%s\": put the data on a filesystem the nodes share and give its path",
			       url);
		return NULL;
	}
	if (!aml_data_host_allowed(map->download_hosts,
				   map->n_download_hosts, u.host)) {
		list_hosts(map, hosts, sizeof(hosts));
		aml_errors_add(ctx->errs, field,
			       "host %s is not one this cluster downloads from%s",
			       u.host, hosts);
		return NULL;
	}
	if (aml_data_download_path(name, &u, path, sizeof(path)) < 0) {
		aml_errors_add(ctx->errs, field, "the input's name and file "
			       "name are too long");
		return NULL;
	}
	more = realloc(rc->downloads, (rc->n_downloads + 1) * sizeof(*more));
	if (!more)
		goto oom;
	rc->downloads = more;
	d = &rc->downloads[rc->n_downloads++];
	d->name = strdup(name);
	d->url = strdup(url);
	d->path = strdup(path);
	if (d->name && d->url && d->path)
		return strdup(path);
oom:
	aml_errors_add(ctx->errs, field, "out of memory");
	return NULL;
}

char *rc_read_data_input(struct rc_ctx *ctx, const struct aml_node *in,
			 const char *name, const char *parent)
{
	char field[RC_PATH_MAX], type_field[RC_PATH_MAX];
	char *where = NULL, *type = NULL, *value = NULL;
	enum aml_data_kind kind, site_kind = AML_DATA_ANY;
	const char *root;

	rc_path(type_field, parent, "type");
	if (rc_check_input_type(ctx, in, parent, 1, &type, &kind) < 0)
		goto out;
	check_mode(ctx, in, parent, input_modes,
		   "ro_mount, rw_mount, download, direct, eval_mount or eval_download (each gives the command the path)");
	if (read_sub_string(ctx, in, parent, "path", &where, field) < 0 ||
	    !where)
		goto out;
	if (!strncmp(where, "file://", 7))
		memmove(where, where + 7, strlen(where + 7) + 1);
	if (is_download(where)) {
		value = read_download(ctx, name, field, type_field, where, type,
				      kind);
		goto out;
	}
	if (aml_data_is_uri(where)) {
		if (resolve_reference(ctx, field, where, &value, &site_kind,
				      NULL, &root) < 0)
			goto out;
	} else if (where[0] != '/' && !ctx->base_dir) {
		aml_errors_add(ctx->errs, field,
			       "must be an absolute path here, got \"%s\"",
			       where);
		goto out;
	} else if (!(value = rc_join_normalise(ctx->base_dir, where))) {
		aml_errors_add(ctx->errs, field, "out of memory");
		goto out;
	}
	if (site_kind != AML_DATA_ANY && kind != AML_DATA_ANY &&
	    kind != site_kind) {
		aml_errors_add(ctx->errs, type_field,
			       "is %s, but aml.conf maps \"%s\" as %s",
			       type, where,
			       site_kind == AML_DATA_FILE ? "uri_file"
							  : "uri_folder");
		free(value);
		value = NULL;
		goto out;
	}
	if (add_data_use(ctx, field, value,
			 type ? type : site_kind == AML_DATA_FILE ? "uri_file" :
			 site_kind == AML_DATA_FOLDER ? "uri_folder" : NULL,
			 kind != AML_DATA_ANY ? kind : site_kind) < 0) {
		free(value);
		value = NULL;
	}
out:
	free(where);
	free(type);
	return value;
}

int rc_read_data_output(struct rc_ctx *ctx, const struct aml_node *out,
			const char *name, const char *parent)
{
	struct aml_runconfig *rc = ctx->rc;
	struct aml_datastore_output *more, *o;
	char field[RC_PATH_MAX], type_field[RC_PATH_MAX];
	char *where = NULL, *type = NULL, *mapped = NULL, *below = NULL;
	enum aml_data_kind kind = AML_DATA_ANY, site_kind;
	const char *root;
	int k, result = -1;

	check_mode(ctx, out, parent, output_modes,
		   "rw_mount, upload or direct (the run writes outputs/NAME in each case)");
	if (read_sub_string(ctx, out, parent, "type", &type, type_field) < 0)
		goto done;
	if (type) {
		k = aml_data_kind_from_type(type);
		if (k < 0) {
			aml_errors_add(ctx->errs, type_field,
				       "must be %s, got \"%s\"",
				       data_types_text, type);
			goto done;
		}
		kind = (enum aml_data_kind)k;
	}
	if (read_sub_string(ctx, out, parent, "path", &where, field) < 0)
		goto done;
	if (!where) {
		result = 0;
		goto done;
	}
	if (strncmp(where, "azureml://", 10)) {
		aml_errors_add(ctx->errs, field,
			       "an output's path is a datastore path, azureml://datastores/NAME/paths/PATH (mapped in aml.conf); without a path the output stays in the run's outputs/%s, got \"%s\"",
			       name, where);
		goto done;
	}
	if (resolve_reference(ctx, field, where, &mapped, &site_kind, &below,
			      &root) < 0)
		goto done;
	if (!below) {
		aml_errors_add(ctx->errs, field,
			       "a data asset is read-only; an output's path is a datastore path, azureml://datastores/NAME/paths/PATH, got \"%s\"",
			       where);
		goto done;
	}
	if (!*below) {
		aml_errors_add(ctx->errs, field,
			       "must name a folder below the datastore's root, got \"%s\"",
			       where);
		goto done;
	}
	if (kind == AML_DATA_FILE) {
		aml_errors_add(ctx->errs, type_field,
			       "uri_file outputs with a datastore path are not supported on Slurm: the run writes the folder outputs/%s, which is copied to the datastore; use uri_folder",
			       name);
		goto done;
	}
	more = realloc(rc->datastore_outputs,
		       (rc->n_datastore_outputs + 1) * sizeof(*more));
	if (!more)
		goto oom;
	rc->datastore_outputs = more;
	o = &rc->datastore_outputs[rc->n_datastore_outputs++];
	o->name = strdup(name);
	o->root = strdup(root);
	o->path = below;
	below = NULL;
	if (!o->name || !o->root)
		goto oom;
	result = 0;
	goto done;
oom:
	aml_errors_add(ctx->errs, parent, "out of memory");
done:
	free(where);
	free(type);
	free(mapped);
	free(below);
	return result;
}
