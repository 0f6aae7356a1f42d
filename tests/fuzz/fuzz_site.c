/*
 * fuzz_site.c: aml.conf parsing must never crash, leak or read out of
 * bounds, whatever the bytes (libFuzzer; seeds in seeds/fuzz_site/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf_values.h"
#include "errors.h"
#include "site.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aml_site site;
	struct aml_errors errs;
	char *text, buf[64];
	uint64_t seconds;

	/* An exact-size copy, so reading one byte past the end is caught. */
	text = malloc(size ? size : 1);
	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	aml_errors_init(&errs, NULL);
	if (aml_site_parse(text, size, "fuzz.conf", &site, &errs) == 0) {
		/* A success must be complete: every target findable, named
		 * and with a partition, and the default one of them. */
		if (!site.default_target ||
		    !aml_site_find_target(&site, site.default_target))
			abort();
		for (size_t i = 0; i < site.n_targets; i++) {
			const struct aml_target *t = &site.targets[i];

			if (!t->partition ||
			    aml_site_find_target(&site, t->name) != t)
				abort();
			aml_format_slurm_time(t->max_time_seconds, buf,
					      sizeof(buf));
			if (aml_parse_slurm_time(buf, &seconds) != 0 ||
			    seconds != t->max_time_seconds)
				abort();
		}
		aml_site_free(&site);
	} else if (errs.count == 0 && !errs.out_of_memory) {
		abort();   /* refused without saying why */
	}
	aml_errors_free(&errs);

	/* The time parser on its own, as a C string. */
	free(text);
	text = malloc(size + 1);
	if (text) {
		memcpy(text, data, size);
		text[size] = '\0';
		aml_parse_slurm_time(text, &seconds);
		free(text);
	}
	return 0;
}
