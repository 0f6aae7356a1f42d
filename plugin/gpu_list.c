/*
 * gpu_list.c: see gpu_list.h.
 */
#include <string.h>

#include "errors.h"
#include "gpu_list.h"
#include "text.h"

const char *const aml_gpu_list_vars[4] = {
	"SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES",
	"GPU_DEVICE_ORDINAL",
};

int aml_gpu_list_find(const struct aml_gpu_list *l, unsigned id)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->ids[i] == id)
			return (int)i;
	return -1;
}

/* [s, s+n) as an index; -1 when it is not one. */
static int index_of(const char *s, size_t n, unsigned *out)
{
	char word[16];
	unsigned long v;

	if (n == 0 || n >= sizeof(word))
		return -1;
	memcpy(word, s, n);
	word[n] = '\0';
	if (aml_parse_decimal(word, AML_GPU_INDEX_MAX, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int aml_gpu_list_parse(const char *name, const char *text,
		       struct aml_gpu_list *out, char *errbuf, size_t errlen)
{
	const char *p = text;

	out->count = 0;
	if (!*p)
		return 0;
	for (;;) {
		const char *end = strchrnul(p, ','), *dash;
		unsigned lo, hi;

		dash = memchr(p, '-', (size_t)(end - p));
		if (dash ? index_of(p, (size_t)(dash - p), &lo) < 0 ||
				   index_of(dash + 1, (size_t)(end - dash - 1),
					    &hi) < 0
			 : index_of(p, (size_t)(end - p), &lo) < 0) {
			out->count = 0;
			return aml_fail(errbuf, errlen,
					"%s: \"%.*s\" is not a GPU index (a whole number from 0 to %u, or a range A-B of them)",
					name, (int)(end - p > 64 ? 64 : end - p),
					p, AML_GPU_INDEX_MAX);
		}
		if (!dash)
			hi = lo;
		if (hi < lo) {
			out->count = 0;
			return aml_fail(errbuf, errlen,
					"%s: range %u-%u goes backwards", name,
					lo, hi);
		}
		for (unsigned id = lo;; id++) {
			if (aml_gpu_list_find(out, id) >= 0 ||
			    out->count == AML_GPU_LIST_MAX) {
				int repeated = aml_gpu_list_find(out, id) >= 0;

				out->count = 0;
				if (repeated)
					return aml_fail(errbuf, errlen,
							"%s: GPU %u is named twice",
							name, id);
				return aml_fail(errbuf, errlen,
						"%s: more than %d GPUs", name,
						AML_GPU_LIST_MAX);
			}
			out->ids[out->count++] = id;
			if (id == hi)
				break;
		}
		if (!*end)
			return 0;
		p = end + 1;
	}
}

int aml_gpu_list_from_env(const char *(*get)(const char *name, void *arg),
			  void *arg, struct aml_gpu_list *out,
			  const char **from, char *errbuf, size_t errlen)
{
	out->count = 0;
	*from = NULL;
	for (size_t i = 0; i < sizeof(aml_gpu_list_vars) /
				       sizeof(aml_gpu_list_vars[0]); i++) {
		const char *v = get(aml_gpu_list_vars[i], arg);

		if (!v || !*v)
			continue;
		*from = aml_gpu_list_vars[i];
		return aml_gpu_list_parse(aml_gpu_list_vars[i], v, out, errbuf,
					  errlen);
	}
	return 0;
}
