/*
 * fuzz_run_folders.c: the folder list the node reads from the job's
 * environment (AML_OUTPUT_DIRS, which the user can write) must never
 * crash, and every entry it accepts must be one the node may make: a
 * single "outputs/<name>" below the working directory, or outputs, logs
 * (libFuzzer; seeds in seeds/fuzz_run_folders/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "run_folders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aml_strlist dirs = { 0 };
	char *text = malloc(size + 1), err[512], *joined;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (aml_run_folders_split(text, &dirs, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < dirs.count; i++)
			if (!aml_run_folder_ok(dirs.items[i]) ||
			    strstr(dirs.items[i], "..") ||
			    dirs.items[i][0] == '/')
				abort();
		/* What the plan writes, the node reads back the same. */
		joined = aml_run_folders_join(&dirs);
		if (joined) {
			struct aml_strlist back = { 0 };

			if (aml_run_folders_split(joined, &back, err,
						  sizeof(err)) < 0 ||
			    back.count != dirs.count)
				abort();
			aml_strlist_free(&back);
			free(joined);
		}
	}
	aml_strlist_free(&dirs);
	free(text);
	return 0;
}
