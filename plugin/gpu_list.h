/*
 * gpu_list.h: the GPUs Slurm gave a job, as its environment says.
 *
 * Slurm writes a job's GPUs into the task environment in several
 * variables: SLURM_STEP_GPUS and SLURM_JOB_GPUS hold the node's own GPU
 * indices (gres.conf's order, nvml's with AutoDetect), CUDA_VISIBLE_DEVICES
 * and GPU_DEVICE_ORDINAL hold what the CUDA/ROCm runtime is told to show,
 * in the same order (numbered from 0 again where ConstrainDevices hides the
 * others).  Each is a comma-separated list; Slurm writes "NoDevFiles" when
 * the gres has no device file.  Nothing here knows hwloc or Slurm.
 */
#ifndef AML_GPU_LIST_H
#define AML_GPU_LIST_H

#include <stddef.h>

/* More GPUs than any node has; a longer list is refused, so what the
 * user's environment holds costs a bounded amount. */
#define AML_GPU_LIST_MAX 256
/* The largest GPU index accepted. */
#define AML_GPU_INDEX_MAX 65535u

struct aml_gpu_list {
	unsigned ids[AML_GPU_LIST_MAX];
	size_t count;
};

/*
 * Parse [text] ("0,1,2", or ranges "0-3,6"), named [name] in messages,
 * into [out], keeping the order written.  An empty text is an empty list.
 * Returns 0, or -1 with one sentence in errbuf naming [name] and the rule
 * (a word that is not a whole number from 0 to AML_GPU_INDEX_MAX, such as
 * a GPU UUID or "NoDevFiles"; a range written backwards; a repeated index;
 * more than AML_GPU_LIST_MAX).
 */
int aml_gpu_list_parse(const char *name, const char *text,
		       struct aml_gpu_list *out, char *errbuf, size_t errlen);

/* The variables that may name the job's GPUs, in the order they are
 * believed: the node's own indices first. */
extern const char *const aml_gpu_list_vars[4];

/*
 * The job's GPUs from the first of aml_gpu_list_vars that [get] (the
 * job's getenv: [arg] is passed through) finds set and not empty, into
 * [out]; *[from] is that variable's name, NULL when none is set (then
 * [out] is empty and 0 is returned).  -1 as aml_gpu_list_parse.
 */
int aml_gpu_list_from_env(const char *(*get)(const char *name, void *arg),
			  void *arg, struct aml_gpu_list *out,
			  const char **from, char *errbuf, size_t errlen);

/* Whether [id] is in [l]; its position or -1. */
int aml_gpu_list_find(const struct aml_gpu_list *l, unsigned id);

#endif
