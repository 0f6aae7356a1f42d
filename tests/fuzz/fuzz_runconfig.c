/*
 * libFuzzer target: the run-configuration parser on arbitrary bytes, as the
 * controller sees them (no base directory, no data map) and as sbatch sees
 * them (with one, and the site's datastores and data assets).  Whatever
 * parses must also encode and parse back to the same canonical text: the
 * controller depends on that.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runconfig.h"

static struct aml_datastore stores[] = {
	{ "workspaceblobstore", "/lustre/blob", 1, 1 },
	{ "scratch", "/", 0, 2 },
};
static struct aml_data_asset assets[] = {
	{ "cifar10", "2", "/data/cifar10-2", AML_DATA_FOLDER, 3 },
	{ "iris", "1", "/data/iris.csv", AML_DATA_FILE, 4 },
};
static struct aml_data_account accounts[] = {
	{ "mlstore01", "/lustre/azure", 5 },
};
static char *hosts[] = { "data.example.org", "*.blob.example.net" };
static const struct aml_datamap map = { stores, 2, assets, 2, accounts, 1,
					hosts, 2 };

static void check_roundtrip(const struct aml_runconfig *rc)
{
	char *canonical = aml_runconfig_encode(rc), *again;
	struct aml_runconfig back;
	struct aml_errors errs;

	if (!canonical)
		return;
	aml_errors_init(&errs, "canonical");
	if (aml_runconfig_parse(canonical, strlen(canonical), "canonical", NULL,
				NULL, NULL, &back, &errs) != 0)
		abort();
	again = aml_runconfig_encode(&back);
	if (!again || strcmp(canonical, again) != 0)
		abort();
	free(again);
	free(canonical);
	aml_runconfig_free(&back);
	aml_errors_free(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const bases[] = { NULL, "/home/u/project" };

	for (size_t i = 0; i < 2; i++) {
		struct aml_runconfig rc;
		struct aml_errors errs;

		aml_errors_init(&errs, "fuzz.json");
		if (aml_runconfig_parse_mapped((const char *)data, size,
					       "fuzz.json", bases[i], NULL,
					       NULL, i ? &map : NULL, &rc,
					       &errs) == 0) {
			check_roundtrip(&rc);
			aml_runconfig_free(&rc);
		}
		aml_errors_free(&errs);
	}
	return 0;
}
