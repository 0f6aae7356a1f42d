/*
 * runid.h: run ids in Azure ML's form, <experiment>_<unix seconds>_<8 hex>.
 *
 * The id is the Slurm job name and sits in the job comment, so every hook at
 * the end of a job can find its run; it must therefore be unique and safe in
 * a file name, a job name and a shell word.
 */
#ifndef AML_RUNID_H
#define AML_RUNID_H

#include <stddef.h>
#include <time.h>

#define AML_RUNID_MAX 256

/*
 * Make a new id for [experiment] at time [now] with 32 random bits from
 * getrandom(2).  Characters of the experiment outside [A-Za-z0-9_-] become
 * '_', and it is cut to keep the id within AML_RUNID_MAX - 1.  Writes into
 * [buf] of [len] bytes; returns 0, or -1 (errno set) when randomness is
 * unavailable or [len] is too small.
 */
int aml_runid_generate(const char *experiment, time_t now, char *buf,
		       size_t len);

/*
 * Non-zero when [id] is acceptable as a run id: 1 to AML_RUNID_MAX - 1
 * characters of [A-Za-z0-9_-], starting with a letter or digit.  Applies to
 * ids users choose (v2 `name`) as well as generated ones.
 */
int aml_runid_is_valid(const char *id);

/*
 * Non-zero when [id] has the form of a tracking server's own id for a run
 * (the MLflow run id sbatch learns when it creates the run, and hands the
 * job as AML_MLFLOW_RUN_ID): 32 hexadecimal digits, as an MLflow server
 * makes them, or a GUID (8-4-4-4-12 hexadecimal digits), as an Azure ML
 * workspace does.  The form only, which the controller can check without
 * asking anyone: whether a run has this id is the server's to say.
 */
int aml_runid_is_tracking_id(const char *id);

#endif
