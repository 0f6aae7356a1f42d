/*
 * admin_comment.h: what the controller writes into a run's job's admin
 * comment, and reads back from it.
 *
 * Users cannot change an admin comment, so it ties a job to its run and
 * is what a later update of the job is judged by (job_update.h).  No I/O,
 * no Slurm types.
 */
#ifndef AML_ADMIN_COMMENT_H
#define AML_ADMIN_COMMENT_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"

/*
 * The admin comment the plugin writes on a run's job: the comment plus
 * " target=<compute target> nodes=<N> tasks=<N> tpn=<N>", the planned
 * node count, task count and tasks per node (0: Slurm places them).
 * Users cannot change an admin comment, so it is what a later update of
 * the job is judged by: the controller can read nothing else of the
 * job's past.  malloc'd.
 */
char *aml_admin_comment_make(const struct aml_plan *plan);

/*
 * The run id in an admin comment the plugin wrote, into [buf] of [len]
 * bytes.  Returns 0, or -1 when [admin_comment] (may be NULL) is not
 * one of ours.  A job's name can be changed by its owner; its admin
 * comment cannot, so this is how a job is tied to its run.
 */
int aml_admin_comment_run_id(const char *admin_comment, char *buf, size_t len);

/*
 * The value of " [key]=" in an admin comment the plugin wrote, into [buf]
 * of [len] bytes (its words have no blanks: run ids, experiment and
 * target names, numbers).  Returns 0, or -1 when absent or too long.
 */
int aml_admin_comment_word(const char *comment, const char *key, char *buf,
			   size_t len);

/*
 * The plain decimal of " [key]=" into [out]; -1 when absent (a job
 * submitted before the plugin wrote it) or not a plain decimal.
 */
int aml_admin_comment_number(const char *comment, const char *key,
			     uint32_t *out);

#endif
