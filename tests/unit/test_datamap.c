/*
 * test_datamap.c: plugin/datamap.h, every form a data reference takes and
 * every refusal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "datamap.h"

static struct aml_datastore stores[] = {
	{ "workspaceblobstore", "/lustre/blob", 1, 1 },
	{ "scratch", "/scratch", 0, 2 },
};
static struct aml_data_asset assets[] = {
	{ "cifar10", "2", "/data/cifar10-2", AML_DATA_FOLDER, 3 },
	{ "cifar10", "10", "/data/cifar10-10", AML_DATA_ANY, 4 },
	{ "cifar10", "9", "/data/cifar10-9", AML_DATA_ANY, 5 },
	{ "iris", "1", "/data/iris.csv", AML_DATA_FILE, 6 },
};
static struct aml_data_account accounts[] = {
	{ "mlstore01", "/lustre/azure", 7 },
};
static const struct aml_datamap map = { stores, 2, assets, 4, accounts, 1,
					NULL, 0 };

static void resolves(const char *ref, const char *root, const char *rel,
		     const char *store, enum aml_data_kind kind)
{
	struct aml_data_target t;
	char err[512] = "";

	if (aml_datamap_resolve(&map, ref, &t, err, sizeof(err)) != 0)
		fail_msg("%s: %s", ref, err);
	assert_string_equal(t.root, root);
	assert_string_equal(t.rel, rel);
	if (store)
		assert_string_equal(t.store, store);
	else
		assert_null(t.store);
	assert_int_equal(t.kind, kind);
}

static void refused(const struct aml_datamap *m, const char *ref,
		    const char *expected)
{
	struct aml_data_target t;
	char err[512] = "";

	assert_int_equal(aml_datamap_resolve(m, ref, &t, err, sizeof(err)),
			 -1);
	assert_string_equal(err, expected);
}

static void test_datastore_paths(void **state)
{
	(void)state;
	resolves("azureml://datastores/workspaceblobstore/paths/data/iris.csv",
		 "/lustre/blob", "data/iris.csv", "workspaceblobstore",
		 AML_DATA_ANY);
	resolves("azureml://datastores/scratch/paths/", "/scratch", "",
		 "scratch", AML_DATA_ANY);
	resolves("azureml://datastores/${{default_datastore}}/paths/x",
		 "/lustre/blob", "x", "workspaceblobstore", AML_DATA_ANY);
	resolves("azureml://subscriptions/0000/resourcegroups/rg/workspaces/"
		 "ws/datastores/scratch/paths/a/b", "/scratch", "a/b",
		 "scratch", AML_DATA_ANY);
	resolves("azureml://subscriptions/0000/resourceGroups/rg/workspaces/"
		 "ws/datastores/scratch/paths/a", "/scratch", "a", "scratch",
		 AML_DATA_ANY);
}

static void test_assets(void **state)
{
	(void)state;
	resolves("azureml:cifar10:2", "/data/cifar10-2", "", NULL,
		 AML_DATA_FOLDER);
	/* Version order, not text order: 10 > 9 > 2. */
	resolves("azureml:cifar10@latest", "/data/cifar10-10", "", NULL,
		 AML_DATA_ANY);
	resolves("azureml:iris:1", "/data/iris.csv", "", NULL, AML_DATA_FILE);
	resolves("azureml://locations/westeurope/workspaces/ws/data/iris/"
		 "versions/1", "/data/iris.csv", "", NULL, AML_DATA_FILE);
	resolves("azureml://subscriptions/0/resourcegroups/rg/workspaces/ws/"
		 "data/cifar10/versions/9", "/data/cifar10-9", "", NULL,
		 AML_DATA_ANY);
}

static void test_refusals(void **state)
{
	const struct aml_datamap empty = { 0 };

	(void)state;
	refused(&map, "azureml://datastores/other/paths/x",
		"datastore \"other\" is not mapped on this cluster (aml.conf "
		"maps workspaceblobstore, scratch)");
	refused(NULL, "azureml://datastores/other/paths/x",
		"datastore \"other\" is not mapped on this cluster (aml.conf "
		"maps none: add a Datastore= line)");
	refused(&empty, "azureml://datastores/${{default_datastore}}/paths/x",
		"${{default_datastore}} names the default datastore, and no "
		"Datastore line in aml.conf has Default=yes");
	refused(&map, "azureml:cifar10:3",
		"data asset \"cifar10:3\" is not mapped on this cluster "
		"(aml.conf maps cifar10:2, cifar10:10, cifar10:9, iris:1)");
	refused(&map, "azureml:mnist@latest",
		"data asset \"mnist\" is not mapped on this cluster (aml.conf "
		"maps cifar10:2, cifar10:10, cifar10:9, iris:1)");
	refused(&map, "azureml:cifar10",
		"a data asset is azureml:NAME:VERSION or azureml:NAME@latest, "
		"got \"azureml:cifar10\"");
	refused(&map, "azureml:cifar10@stable",
		"a data asset is azureml:NAME:VERSION or azureml:NAME@latest, "
		"got \"azureml:cifar10@stable\"");
	refused(&map, "azureml://datastores/scratch/x",
		"\"azureml://datastores/scratch/x\" is not "
		"azureml://datastores/NAME/paths/PATH");
	refused(&map, "azureml://jobs/abc/outputs/artifacts/model",
		"azureml://jobs/... references are not supported on Slurm: "
		"use azureml://datastores/NAME/paths/PATH or "
		"azureml:NAME:VERSION (mapped in aml.conf)");
	refused(&map, "azureml://registries/reg/data/iris/versions/1",
		"azureml://registries/... references are not supported on "
		"Slurm: use azureml://datastores/NAME/paths/PATH or "
		"azureml:NAME:VERSION (mapped in aml.conf)");
	refused(&map, "azureml://subscriptions/0/workspaces/ws/datastores/a/"
		"paths/x",
		"\"azureml://subscriptions/0/workspaces/ws/datastores/a/paths/"
		"x\" is not azureml://subscriptions/S/resourcegroups/R/"
		"workspaces/W/...");
	refused(&map, "azureml://locations/l/workspaces/w/data/iris",
		"\"azureml://locations/l/workspaces/w/data/iris\" is not "
		".../data/NAME/versions/VERSION");
	refused(&map, "https://example.org/iris.csv",
		"https:// data is not read on Slurm, got "
		"\"https://example.org/iris.csv\": put the data on a "
		"filesystem the nodes share and give its path, or an "
		"azureml://datastores/NAME/paths/PATH or azureml:NAME:VERSION "
		"that aml.conf maps");
}

/* [ref] resolves to the account's Path, container [sub], [rel]. */
static void resolves_storage(const char *ref, const char *sub,
			     const char *rel)
{
	struct aml_data_target t;
	char err[512] = "";

	if (aml_datamap_resolve(&map, ref, &t, err, sizeof(err)) != 0)
		fail_msg("%s: %s", ref, err);
	assert_string_equal(t.root, "/lustre/azure");
	assert_int_equal(t.sub_len, strlen(sub));
	assert_memory_equal(t.sub, sub, t.sub_len);
	assert_string_equal(t.rel, rel);
	assert_string_equal(t.store, "mlstore01");
}

static void test_storage_accounts(void **state)
{
	static const struct aml_datamap empty = { 0 };

	(void)state;
	resolves_storage("wasbs://data@mlstore01.blob.core.windows.net/iris/"
			 "iris.csv", "data", "iris/iris.csv");
	resolves_storage("wasb://data@MLSTORE01.blob.core.windows.net/x",
			 "data", "x");
	resolves_storage("abfss://lake@mlstore01.dfs.core.windows.net/a/b",
			 "lake", "a/b");
	resolves_storage("wasbs://data@mlstore01.blob.core.windows.net",
			 "data", "");
	refused(&map, "wasbs://data@other.blob.core.windows.net/x",
		"storage account \"other\" is not mapped on this cluster "
		"(aml.conf maps mlstore01)");
	refused(&empty, "wasbs://data@other.blob.core.windows.net/x",
		"storage account \"other\" is not mapped on this cluster "
		"(aml.conf maps none: add a DataStorageAccount= line)");
	refused(&map, "wasbs://Data@mlstore01.blob.core.windows.net/x",
		"\"wasbs://Data@mlstore01.blob.core.windows.net/x\" is not "
		"wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PATH (a "
		"container is 3 to 63 lowercase letters, digits and '-')");
	refused(&map, "wasbs://data@mlstore01.example.org/x",
		"\"wasbs://data@mlstore01.example.org/x\" is not "
		"wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PATH");
	refused(&map, "abfss://lake@mlstore01.blob.core.windows.net/x",
		"\"abfss://lake@mlstore01.blob.core.windows.net/x\" is not "
		"abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH");
	assert_int_equal(aml_data_account_valid("mlstore01"), 1);
	assert_int_equal(aml_data_account_valid("ml"), 0);
	assert_int_equal(aml_data_account_valid("ML01"), 0);
}

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(aml_data_kind_from_type("uri_file"), AML_DATA_FILE);
	assert_int_equal(aml_data_kind_from_type("uri_folder"),
			 AML_DATA_FOLDER);
	assert_int_equal(aml_data_kind_from_type("mltable"), AML_DATA_FOLDER);
	assert_int_equal(aml_data_kind_from_type("mlflow_model"),
			 AML_DATA_FOLDER);
	assert_int_equal(aml_data_kind_from_type("custom_model"),
			 AML_DATA_ANY);
	assert_int_equal(aml_data_kind_from_type("string"), -1);
	assert_int_equal(aml_data_is_uri("azureml:x:1"), 1);
	assert_int_equal(aml_data_is_uri("wasbs://c@a.blob/x"), 1);
	assert_int_equal(aml_data_is_uri("./data"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datastore_paths),
		cmocka_unit_test(test_assets),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_storage_accounts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
