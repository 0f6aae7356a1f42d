/*
 * slurm_compat.h: what differs between the Slurm releases slurm-aml
 * builds against (22.05 to 26.05), in one place.
 *
 * Each difference is found by configure (m4/aml_slurm.m4) from what
 * Slurm's headers declare, not from its version number, so a release in
 * between (23.02, 23.11, 24.05, 25.05) gets what its headers have; the
 * one exception is job_modify's arguments, which no public header states.
 * Everything else in slurm-aml calls these names and never tests a
 * version.
 */
#ifndef AML_SLURM_COMPAT_H
#define AML_SLURM_COMPAT_H

#include <errno.h>
#include <stdint.h>

#include <slurm/slurm.h>

/* 23.02 dropped slurm_get_errno: Slurm's codes are in errno itself. */
#if !HAVE_DECL_SLURM_GET_ERRNO
static inline int slurm_get_errno(void)
{
	return errno;
}
#endif

/* A host list: 23.02 made hostlist_t the structure, not a pointer. */
#if AML_HOSTLIST_IS_STRUCT
typedef hostlist_t *aml_hostlist_t;
#else
typedef hostlist_t aml_hostlist_t;
#endif

/* One job by id: 26.05 names a job by a slurm_step_id_t. */
static inline int aml_slurm_load_job(job_info_msg_t **resp, uint32_t job_id,
				     uint16_t show_flags)
{
#if AML_LOAD_JOB_TAKES_STEP_ID
	slurm_step_id_t id = SLURM_STEP_ID_INITIALIZER;

	id.job_id = job_id;
	return slurm_load_job(resp, id, show_flags);
#else
	return slurm_load_job(resp, job_id, show_flags);
#endif
}

/* Requeue a job by id, as slurm_load_job. */
static inline int aml_slurm_requeue(uint32_t job_id, uint32_t flags)
{
#if AML_REQUEUE_TAKES_STEP_ID
	slurm_step_id_t id = SLURM_STEP_ID_INITIALIZER;

	id.job_id = job_id;
	return slurm_requeue(id, flags);
#else
	return slurm_requeue(job_id, flags);
#endif
}

/* The job a submission made: 26.05 answers with a slurm_step_id_t. */
static inline uint32_t aml_submitted_job_id(const submit_response_msg_t *r)
{
#if HAVE_SUBMIT_RESPONSE_MSG_T_JOB_ID
	return r->job_id;
#else
	return r->step_id.job_id;
#endif
}

/*
 * A job_submit plugin's job_modify: from 23.02 slurmctld passes an
 * err_msg for the user, as it does to job_submit.  AML_JOB_MODIFY_ARGS
 * is the parameter list; AML_JOB_MODIFY_ERR_MSG the err_msg, or NULL.
 */
#if AML_JOB_MODIFY_HAS_ERR_MSG
#define AML_JOB_MODIFY_ARGS                                              \
	job_desc_msg_t *job_desc, job_record_t *job_ptr,                 \
		uint32_t submit_uid, char **err_msg
#define AML_JOB_MODIFY_ERR_MSG err_msg
#else
#define AML_JOB_MODIFY_ARGS                                              \
	job_desc_msg_t *job_desc, job_record_t *job_ptr, uint32_t submit_uid
#define AML_JOB_MODIFY_ERR_MSG ((char **)NULL)
#endif

#endif
