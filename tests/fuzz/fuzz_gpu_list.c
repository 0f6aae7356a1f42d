/*
 * fuzz_gpu_list.c: the GPU lists Slurm writes into a job's environment
 * (SLURM_JOB_GPUS, CUDA_VISIBLE_DEVICES...), which the node side reads
 * from an environment the user can write, must never crash, and a list
 * that parses holds distinct indices in range, no more than the limit
 * (libFuzzer; seeds in seeds/fuzz_gpu_list/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aml_gpu_list l;
	char err[256];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (aml_gpu_list_parse("SLURM_JOB_GPUS", text, &l, err,
			       sizeof(err)) == 0) {
		if (l.count > AML_GPU_LIST_MAX)
			abort();
		for (size_t i = 0; i < l.count; i++) {
			if (l.ids[i] > AML_GPU_INDEX_MAX)
				abort();
			for (size_t j = 0; j < i; j++)
				if (l.ids[i] == l.ids[j])
					abort();
		}
	} else if (l.count != 0 || !memchr(err, '\0', sizeof(err))) {
		abort();
	}
	free(text);
	return 0;
}
