/*
 * libFuzzer target: a data reference as a run writes it (inputs.X.path,
 * outputs.X.path), resolved through a fixed map.  Resolving must never
 * crash or read out of bounds; a refusal says why; what resolves points
 * at a mapped root and at a part of the reference itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datamap.h"

static struct aml_datastore stores[] = {
	{ "workspaceblobstore", "/lustre/blob", 1, 1 },
	{ "scratch", "/scratch", 0, 2 },
};
static struct aml_data_asset assets[] = {
	{ "cifar10", "2", "/data/cifar10-2", AML_DATA_FOLDER, 3 },
	{ "cifar10", "10", "/data/cifar10-10", AML_DATA_ANY, 4 },
	{ "iris", "1", "/data/iris.csv", AML_DATA_FILE, 5 },
};
static struct aml_data_account accounts[] = {
	{ "mlstore01", "/lustre/azure", 6 },
};
static const struct aml_datamap map = { stores, 2, assets, 3, accounts, 1,
					NULL, 0 };

static int is_mapped_root(const char *root)
{
	for (size_t i = 0; i < map.n_stores; i++)
		if (root == map.stores[i].path)
			return 1;
	for (size_t i = 0; i < map.n_assets; i++)
		if (root == map.assets[i].path)
			return 1;
	for (size_t i = 0; i < map.n_accounts; i++)
		if (root == map.accounts[i].path)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aml_data_target t;
	char *text = malloc(size + 1);
	char err[512];
	size_t len;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	len = strlen(text);
	err[0] = '\0';
	if (aml_datamap_resolve(&map, text, &t, err, sizeof(err)) == 0) {
		if (!is_mapped_root(t.root))
			abort();
		if (*t.rel && (t.rel < text || t.rel > text + len))
			abort();
		/* A storage account's container is a part of the text. */
		if (t.sub_len && (t.sub < text || t.sub + t.sub_len > text + len))
			abort();
	} else if (!err[0]) {
		abort();
	}
	free(text);
	return 0;
}
