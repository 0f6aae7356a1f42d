/*
 * datamap.h: Azure ML's data names mapped to the cluster's filesystems.
 *
 * Azure ML's datastores are names for storage and its data assets are
 * versioned names for a file or folder in one.  An HPC centre keeps that
 * data on its shared filesystems, so aml.conf (site.h) maps each name to
 * a path:
 *
 *     Datastore=workspaceblobstore Path=/lustre/aml/blob Default=yes
 *     DataAsset=cifar10:2 Path=/lustre/datasets/cifar10 Type=uri_folder
 *
 * and a run's data references resolve to those paths when it is
 * submitted (rc_commandjob.c), read-only mount semantics: the script gets
 * the path.  This module is the map and the resolver; it knows nothing of
 * aml.conf's syntax (site.c reads the lines) and does no I/O, so it is
 * safe anywhere, the controller included.
 *
 * Forms resolved (Azure ML's own spellings):
 *   azureml://datastores/NAME/paths/P
 *   azureml://subscriptions/S/resourcegroups/R/workspaces/W/datastores/NAME/paths/P
 *       -> the datastore's Path + "/" + P, P normalised and never above
 *          the datastore's root; NAME may be ${{default_datastore}}
 *   azureml:NAME:VERSION, azureml:NAME@latest (the highest version, in
 *   glibc's version order: "10" after "9"),
 *   azureml://[subscriptions/.../]locations/L/workspaces/W/data/NAME/versions/V,
 *   azureml://subscriptions/.../workspaces/W/data/NAME/versions/V
 *       -> the asset's Path
 *   wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/P (and wasb://,
 *   abfss://, abfs:// with .dfs.core.windows.net)
 *       -> the storage account's Path + "/" + CONTAINER + "/" + P, for an
 *          account aml.conf maps (DataStorageAccount=ACCOUNT Path=DIR)
 * https:// inputs are not paths: the user's side reads them with
 * data_url.h, downloaded on the node (data_fetch.h) from the hosts the
 * map allows (DataDownloadHosts=).  Anything else that is a URI
 * (azureml://jobs/..., azureml://registries/...) is refused naming its
 * form.
 */
#ifndef AML_DATAMAP_H
#define AML_DATAMAP_H

#include <stddef.h>

/* What a data reference is: Azure ML's input and output types. */
enum aml_data_kind {
	AML_DATA_ANY,      /* not said: a file or a folder */
	AML_DATA_FILE,     /* uri_file */
	AML_DATA_FOLDER,   /* uri_folder, mltable, mlflow_model */
};

struct aml_datastore {
	char *name;
	char *path;        /* absolute, no trailing '/' (but "/") */
	int is_default;
	int line;          /* aml.conf line, for messages */
};

struct aml_data_asset {
	char *name;
	char *version;
	char *path;        /* absolute, no trailing '/' (but "/") */
	enum aml_data_kind kind;   /* Type=; AML_DATA_ANY when not given */
	int line;
};

/* An Azure storage account whose containers are directories below
 * Path (DataStorageAccount= lines). */
struct aml_data_account {
	char *name;        /* the account's name, lowercase */
	char *path;        /* absolute, no trailing '/' (but "/") */
	int line;
};

struct aml_datamap {
	struct aml_datastore *stores;
	size_t n_stores;
	struct aml_data_asset *assets;
	size_t n_assets;
	struct aml_data_account *accounts;
	size_t n_accounts;
	/* DataDownloadHosts=: where https:// inputs may come from
	 * (data_url.h); none: downloads are refused. */
	char **download_hosts;
	size_t n_download_hosts;
};

/*
 * Whether [ref] is a data reference this module reads (starts with
 * "azureml:") or another URI ("scheme://"), rather than a path.
 */
int aml_data_is_uri(const char *ref);

/* Where a reference points: a mapped root and the part below it. */
struct aml_data_target {
	const char *root;   /* the datastore's or asset's Path (in the map) */
	const char *rel;    /* below root, as written (in the reference;
			     * "" for an asset): the caller normalises it
			     * and refuses one that climbs above root */
	const char *store;  /* the datastore's name; NULL for an asset */
	enum aml_data_kind kind;  /* an asset's Type=, else AML_DATA_ANY */
	/* A storage account's container: the first segment below root,
	 * before rel ([sub_len] bytes in the reference; 0: none). */
	const char *sub;
	size_t sub_len;
};

/*
 * Resolve [ref] (one of the forms above) into [*out], which points into
 * [map] and [ref].  [map] may be NULL (no aml.conf: nothing mapped).
 * Returns 0; or -1 with one sentence in [err] (no field name: the caller
 * adds it) naming the datastore or asset and what is mapped, or the form
 * that is not supported.
 */
int aml_datamap_resolve(const struct aml_datamap *map, const char *ref,
			struct aml_data_target *out, char *err,
			size_t errlen);

/* The storage account [n] bytes at [name] (any case), or NULL. */
const struct aml_data_account *aml_datamap_find_account(
	const struct aml_datamap *map, const char *name, size_t n);

/* Whether [name] is an Azure storage account's name: 3 to 24 lowercase
 * letters and digits. */
int aml_data_account_valid(const char *name);

/* The datastore [name] (exact), the default one for NULL, or NULL. */
const struct aml_datastore *aml_datamap_find_store(
	const struct aml_datamap *map, const char *name);

/* The asset [name] at [version], its highest version for NULL, or NULL. */
const struct aml_data_asset *aml_datamap_find_asset(
	const struct aml_datamap *map, const char *name, const char *version);

/*
 * "uri_file" -> AML_DATA_FILE, "uri_folder"/"mltable"/"mlflow_model" ->
 * AML_DATA_FOLDER, "custom_model" -> AML_DATA_ANY (Azure ML takes a file
 * or a folder); -1 for anything else.
 */
int aml_data_kind_from_type(const char *type);

/* "a file", "a folder", "a file or a folder", for messages. */
const char *aml_data_kind_describe(enum aml_data_kind kind);

void aml_datamap_free(struct aml_datamap *map);

#endif
