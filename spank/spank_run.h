/*
 * spank_run.h: what the SPANK plugin does for AML runs, as a module,
 * aml_spank_run.so, that spank_aml.so loads (module.h) only for a job
 * that is one: sbatch given --aml-run, a step of a job whose SPANK
 * environment names a run, the epilog of such a job.  Every other job's
 * sbatch, srun, salloc and slurmstepd loads spank_aml.so alone, which
 * links nothing but libc: not the core, nor cJSON, libyaml, libcrypto.
 *
 * The module exports one aml_spank_run, under AML_SPANK_RUN_SYMBOL; its
 * functions are those of sbatch_side.h, node_prepare.h, node_epilog.h
 * and stdin_launcher.h.  One from another build is refused (AML_SPANK_RUN_BUILD).
 */
#ifndef AML_SPANK_RUN_H
#define AML_SPANK_RUN_H

#include <stddef.h>

#include <slurm/spank.h>

#include "sbatch_side.h"

#define AML_SPANK_RUN_SYMBOL "aml_spank_run"

struct aml_spank_run {
	/* The build it comes from. */
	const char *version;
	size_t request_size;
	/* Once, after loading, before anything else. */
	void (*init)(void);
	int (*stdin_launcher_install)(char *errbuf, size_t errlen);
	int (*stdin_launcher_finish)(void);
	int (*sbatch_prepare)(spank_t sp, const struct aml_sbatch_request *req);
	void (*sbatch_finish)(int submit_errno);
	int (*node_user_init)(spank_t sp);
	int (*node_task_init)(spank_t sp);
	int (*node_job_epilog)(spank_t sp);
	void (*node_exit)(void);
};

#define AML_SPANK_RUN_BUILD                                            \
	.version = PACKAGE_VERSION,                                    \
	.request_size = sizeof(struct aml_sbatch_request)

#endif
