/*
 * datamap.c: resolving Azure ML's data references through the site's map.
 */
#include "datamap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SHOWN_NAMES 10

static const char default_store_token[] = "${{default_datastore}}";

int aml_data_is_uri(const char *ref)
{
	return !strncmp(ref, "azureml:", 8) || strstr(ref, "://") != NULL;
}

int aml_data_kind_from_type(const char *type)
{
	if (!strcmp(type, "uri_file"))
		return AML_DATA_FILE;
	if (!strcmp(type, "uri_folder") || !strcmp(type, "mltable") ||
	    !strcmp(type, "mlflow_model"))
		return AML_DATA_FOLDER;
	if (!strcmp(type, "custom_model"))
		return AML_DATA_ANY;
	return -1;
}

const char *aml_data_kind_describe(enum aml_data_kind kind)
{
	switch (kind) {
	case AML_DATA_FILE:
		return "a file";
	case AML_DATA_FOLDER:
		return "a folder";
	case AML_DATA_ANY:
		break;
	}
	return "a file or a folder";
}

const struct aml_datastore *aml_datamap_find_store(
	const struct aml_datamap *map, const char *name)
{
	for (size_t i = 0; map && i < map->n_stores; i++) {
		const struct aml_datastore *s = &map->stores[i];

		if (name ? !strcmp(s->name, name) : s->is_default)
			return s;
	}
	return NULL;
}

int aml_data_account_valid(const char *name)
{
	size_t n = strlen(name);

	if (n < 3 || n > 24)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return 0;
	return 1;
}

const struct aml_data_account *aml_datamap_find_account(
	const struct aml_datamap *map, const char *name, size_t n)
{
	for (size_t i = 0; map && i < map->n_accounts; i++)
		if (strlen(map->accounts[i].name) == n &&
		    !strncasecmp(map->accounts[i].name, name, n))
			return &map->accounts[i];
	return NULL;
}

const struct aml_data_asset *aml_datamap_find_asset(
	const struct aml_datamap *map, const char *name, const char *version)
{
	const struct aml_data_asset *best = NULL;

	for (size_t i = 0; map && i < map->n_assets; i++) {
		const struct aml_data_asset *a = &map->assets[i];

		if (strcmp(a->name, name))
			continue;
		if (version) {
			if (!strcmp(a->version, version))
				return a;
			continue;
		}
		/* The same order aml_site_find_env gives environments. */
		if (!best || strverscmp(a->version, best->version) > 0)
			best = a;
	}
	return best;
}

enum known_kind { KNOWN_STORES, KNOWN_ASSETS, KNOWN_ACCOUNTS };

/*
 * " (aml.conf maps a, b)" listing the first names of the map's
 * datastores, assets or storage accounts, or " (aml.conf maps none: add
 * a ...= line)" into [buf].
 */
static void list_known(const struct aml_datamap *map, enum known_kind what,
		       char *buf, size_t len)
{
	static const char *const line[] = { "Datastore", "DataAsset",
					    "DataStorageAccount" };
	size_t n = !map ? 0 : what == KNOWN_ASSETS ? map->n_assets :
			  what == KNOWN_ACCOUNTS ? map->n_accounts :
			  map->n_stores;
	size_t used;

	if (n == 0) {
		snprintf(buf, len, " (aml.conf maps none: add a %s= line)",
			 line[what]);
		return;
	}
	used = (size_t)snprintf(buf, len, " (aml.conf maps ");
	for (size_t i = 0; i < n && used < len; i++) {
		if (i == SHOWN_NAMES) {
			used += (size_t)snprintf(buf + used, len - used,
						 ", ...");
			break;
		}
		if (what == KNOWN_ASSETS)
			used += (size_t)snprintf(buf + used, len - used,
						 "%s%s:%s", i ? ", " : "",
						 map->assets[i].name,
						 map->assets[i].version);
		else
			used += (size_t)snprintf(buf + used, len - used,
						 "%s%s", i ? ", " : "",
						 what == KNOWN_ACCOUNTS
							 ? map->accounts[i].name
							 : map->stores[i].name);
	}
	if (used < len)
		snprintf(buf + used, len - used, ")");
}

/* Whether [*p] starts with the segment [word] and a '/' (any case, as
 * Azure ML writes both resourcegroups and resourceGroups); moves past. */
static int take_word(const char **p, const char *word)
{
	size_t n = strlen(word);

	if (strncasecmp(*p, word, n) || (*p)[n] != '/')
		return 0;
	*p += n + 1;
	return 1;
}

/* Move past one non-empty segment and its '/'; 0 when there is none. */
static int skip_segment(const char **p)
{
	const char *slash = strchr(*p, '/');

	if (!slash || slash == *p)
		return 0;
	*p = slash + 1;
	return 1;
}

static int resolve_store(const struct aml_datamap *map, const char *name,
			 size_t name_len, const char *rel,
			 struct aml_data_target *out, char *err,
			 size_t errlen)
{
	const struct aml_datastore *store = NULL;
	char known[512];

	if (name_len == strlen(default_store_token) &&
	    !strncmp(name, default_store_token, name_len)) {
		store = aml_datamap_find_store(map, NULL);
		if (!store) {
			snprintf(err, errlen,
				 "%s names the default datastore, and no "
				 "Datastore line in aml.conf has Default=yes",
				 default_store_token);
			return -1;
		}
	} else {
		for (size_t i = 0; map && i < map->n_stores && !store; i++)
			if (strlen(map->stores[i].name) == name_len &&
			    !strncmp(map->stores[i].name, name, name_len))
				store = &map->stores[i];
	}
	if (!store) {
		list_known(map, KNOWN_STORES, known, sizeof(known));
		snprintf(err, errlen,
			 "datastore \"%.*s\" is not mapped on this cluster%s",
			 (int)name_len, name, known);
		return -1;
	}
	out->root = store->path;
	out->rel = rel;
	out->store = store->name;
	out->kind = AML_DATA_ANY;
	return 0;
}

static int resolve_asset(const struct aml_datamap *map, const char *name,
			 size_t name_len, const char *version,
			 size_t version_len, struct aml_data_target *out,
			 char *err, size_t errlen)
{
	char *n = strndup(name, name_len);
	char *v = version ? strndup(version, version_len) : NULL;
	const struct aml_data_asset *asset;
	char known[512];

	if (!n || (version && !v)) {
		free(n);
		free(v);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	asset = aml_datamap_find_asset(map, n, v);
	if (!asset) {
		list_known(map, KNOWN_ASSETS, known, sizeof(known));
		snprintf(err, errlen,
			 "data asset \"%s%s%s\" is not mapped on this "
			 "cluster%s", n, v ? ":" : "", v ? v : "", known);
	} else {
		out->root = asset->path;
		out->rel = "";
		out->store = NULL;
		out->kind = asset->kind;
	}
	free(n);
	free(v);
	return asset ? 0 : -1;
}

/* "data/NAME/versions/V" at [p], the end of the reference. */
static int resolve_asset_path(const struct aml_datamap *map, const char *p,
			      const char *ref, struct aml_data_target *out,
			      char *err, size_t errlen)
{
	const char *name = p, *slash = strchr(p, '/'), *version;

	if (!slash || slash == name ||
	    strncmp(slash, "/versions/", 10) || !slash[10] ||
	    strchr(slash + 10, '/')) {
		snprintf(err, errlen,
			 "\"%s\" is not .../data/NAME/versions/VERSION", ref);
		return -1;
	}
	version = slash + 10;
	return resolve_asset(map, name, (size_t)(slash - name), version,
			     strlen(version), out, err, errlen);
}

/* "datastores/NAME/paths/P" or "data/NAME/versions/V" at [p]. */
static int resolve_long_tail(const struct aml_datamap *map, const char *p,
			     const char *ref, struct aml_data_target *out,
			     char *err, size_t errlen)
{
	if (take_word(&p, "datastores")) {
		const char *slash = strchr(p, '/');

		if (!slash || slash == p || strncmp(slash, "/paths/", 7)) {
			snprintf(err, errlen,
				 "\"%s\" is not azureml://datastores/NAME/"
				 "paths/PATH", ref);
			return -1;
		}
		return resolve_store(map, p, (size_t)(slash - p), slash + 7,
				     out, err, errlen);
	}
	if (take_word(&p, "data"))
		return resolve_asset_path(map, p, ref, out, err, errlen);
	snprintf(err, errlen,
		 "\"%s\" is not a datastore path or a data asset this "
		 "cluster reads: use azureml://datastores/NAME/paths/PATH or "
		 "azureml:NAME:VERSION", ref);
	return -1;
}

static int resolve_azureml_uri(const struct aml_datamap *map,
			       const char *ref, struct aml_data_target *out,
			       char *err, size_t errlen)
{
	const char *p = ref + strlen("azureml://");

	if (!strncasecmp(p, "datastores/", 11))
		return resolve_long_tail(map, p, ref, out, err, errlen);
	/* The workspace's own coordinates say nothing on Slurm: the
	 * datastore or asset name is what the site maps. */
	if (take_word(&p, "subscriptions")) {
		if (!skip_segment(&p) || !take_word(&p, "resourcegroups") ||
		    !skip_segment(&p) || !take_word(&p, "workspaces") ||
		    !skip_segment(&p)) {
			snprintf(err, errlen,
				 "\"%s\" is not azureml://subscriptions/S/"
				 "resourcegroups/R/workspaces/W/...", ref);
			return -1;
		}
		return resolve_long_tail(map, p, ref, out, err, errlen);
	}
	if (take_word(&p, "locations")) {
		if (!skip_segment(&p) || !take_word(&p, "workspaces") ||
		    !skip_segment(&p) || !take_word(&p, "data")) {
			snprintf(err, errlen,
				 "\"%s\" is not azureml://locations/L/"
				 "workspaces/W/data/NAME/versions/VERSION", ref);
			return -1;
		}
		return resolve_asset_path(map, p, ref, out, err, errlen);
	}
	{
		const char *slash = strchr(p, '/');
		int n = slash ? (int)(slash - p) : (int)strlen(p);

		snprintf(err, errlen,
			 "azureml://%.*s/... references are not supported on "
			 "Slurm: use azureml://datastores/NAME/paths/PATH or "
			 "azureml:NAME:VERSION (mapped in aml.conf)", n, p);
	}
	return -1;
}

/* azureml:NAME:VERSION or azureml:NAME@latest. */
static int resolve_short_asset(const struct aml_datamap *map,
			       const char *ref, struct aml_data_target *out,
			       char *err, size_t errlen)
{
	const char *name = ref + strlen("azureml:");
	const char *colon = strchr(name, ':'), *at = strchr(name, '@');

	if (at && !colon && !strcmp(at, "@latest") && at != name)
		return resolve_asset(map, name, (size_t)(at - name), NULL, 0,
				     out, err, errlen);
	if (colon && !at && colon != name && colon[1] &&
	    !strchr(colon + 1, ':'))
		return resolve_asset(map, name, (size_t)(colon - name),
				     colon + 1, strlen(colon + 1), out, err,
				     errlen);
	snprintf(err, errlen,
		 "a data asset is azureml:NAME:VERSION or azureml:NAME@latest, "
		 "got \"%s\"", ref);
	return -1;
}

/* A blob container's name as Azure allows it: 3 to 63 lowercase
 * letters, digits and inner '-' (or "$root"). */
static int container_valid(const char *s, size_t n)
{
	if (n == 5 && !strncmp(s, "$root", 5))
		return 1;
	if (n < 3 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/P (and its siblings)
 * through the account the site maps; [scheme_len] bytes of "wasbs". */
static int resolve_storage(const struct aml_datamap *map, const char *ref,
			   size_t scheme_len, struct aml_data_target *out,
			   char *err, size_t errlen)
{
	const char *container = ref + scheme_len + 3;
	const char *at = strchr(container, '@');
	const char *slash = strchr(container, '/');
	const char *account, *dot;
	const struct aml_data_account *a;
	int dfs = ref[0] == 'a';
	const char *suffix = dfs ? ".dfs.core.windows.net"
				 : ".blob.core.windows.net";
	char known[512];

	if (!at || (slash && slash < at) || !container_valid(container,
						     (size_t)(at - container))) {
		snprintf(err, errlen,
			 "\"%s\" is not %.*s://CONTAINER@ACCOUNT%s/PATH (a "
			 "container is 3 to 63 lowercase letters, digits and "
			 "'-')", ref, (int)scheme_len, ref, suffix);
		return -1;
	}
	account = at + 1;
	dot = strchr(account, '.');
	if (!dot || (slash && strncmp(dot, suffix, strlen(suffix))) ||
	    (!slash && strcmp(dot, suffix)) ||
	    (slash && dot + strlen(suffix) != slash)) {
		snprintf(err, errlen,
			 "\"%s\" is not %.*s://CONTAINER@ACCOUNT%s/PATH",
			 ref, (int)scheme_len, ref, suffix);
		return -1;
	}
	a = aml_datamap_find_account(map, account, (size_t)(dot - account));
	if (!a) {
		list_known(map, KNOWN_ACCOUNTS, known, sizeof(known));
		snprintf(err, errlen,
			 "storage account \"%.*s\" is not mapped on this "
			 "cluster%s", (int)(dot - account), account, known);
		return -1;
	}
	out->root = a->path;
	out->store = a->name;
	out->sub = container;
	out->sub_len = (size_t)(at - container);
	out->rel = slash ? slash + 1 : "";
	out->kind = AML_DATA_ANY;
	return 0;
}

int aml_datamap_resolve(const struct aml_datamap *map, const char *ref,
			struct aml_data_target *out, char *err,
			size_t errlen)
{
	const char *scheme_end = strstr(ref, "://");

	memset(out, 0, sizeof(*out));
	if (!strncmp(ref, "azureml://", 10))
		return resolve_azureml_uri(map, ref, out, err, errlen);
	if (!strncmp(ref, "azureml:", 8))
		return resolve_short_asset(map, ref, out, err, errlen);
	if (scheme_end && (!strncmp(ref, "wasbs://", 8) ||
			   !strncmp(ref, "wasb://", 7) ||
			   !strncmp(ref, "abfss://", 8) ||
			   !strncmp(ref, "abfs://", 7)))
		return resolve_storage(map, ref, (size_t)(scheme_end - ref),
				       out, err, errlen);
	if (scheme_end)
		snprintf(err, errlen,
			 "%.*s:// data is not read on Slurm, got \"%s\": put "
			 "the data on a filesystem the nodes share and give "
			 "its path, or an azureml://datastores/NAME/paths/PATH "
			 "or azureml:NAME:VERSION that aml.conf maps",
			 (int)(scheme_end - ref), ref, ref);
	else
		snprintf(err, errlen, "\"%s\" is a path, not a data reference",
			 ref);
	return -1;
}

void aml_datamap_free(struct aml_datamap *map)
{
	for (size_t i = 0; i < map->n_stores; i++) {
		free(map->stores[i].name);
		free(map->stores[i].path);
	}
	for (size_t i = 0; i < map->n_assets; i++) {
		free(map->assets[i].name);
		free(map->assets[i].version);
		free(map->assets[i].path);
	}
	for (size_t i = 0; i < map->n_accounts; i++) {
		free(map->accounts[i].name);
		free(map->accounts[i].path);
	}
	for (size_t i = 0; i < map->n_download_hosts; i++)
		free(map->download_hosts[i]);
	free(map->stores);
	free(map->assets);
	free(map->accounts);
	free(map->download_hosts);
	memset(map, 0, sizeof(*map));
}
