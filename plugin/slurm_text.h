/*
 * slurm_text.h: what Slurm's commands print about a job, read back.
 *
 * aml-run asks Slurm how a job ended (to reconcile a run whose history
 * stopped short of its end) through its commands rather than libslurm:
 * a client library that exits the process on a missing slurm.conf has no
 * place in a tool that mostly reads files.  These parsers are pure, so
 * the formats are tested without a cluster.
 */
#ifndef AML_SLURM_TEXT_H
#define AML_SLURM_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct aml_slurm_job {
	char state[32];       /* base state: "COMPLETED", "PENDING", ... */
	int exit_code;        /* 0-255 */
	int signal;           /* 0 for none */
	unsigned restarts;    /* requeues so far */
	int requeue;          /* Requeue=1: Slurm may run it again */
	char reason[128];     /* Slurm's Reason=, "" when None */
	int64_t end_ms;       /* EndTime (local time, as Slurm prints it),
			       * 0 when Unknown or not ended */
	char tracking_id[40]; /* the run's id on a tracking server, from the
			       * word the controller put right after the run
			       * id in AdminComment (admission.h); "" when none
			       * or from sacct.  It came from the user's own
			       * submission: a pointer, not a proof, and the
			       * run it names is checked by whoever uses it */
	char spooled_on[256]; /* the nodes the comment's spooled_on word
			       * names (waiting.h), "" when none */
	char run_id[256];     /* the run the controller wrote into
			       * AdminComment ("aml run_id=<id> ..."), and
			       * its experiment: what a finalizer that cannot
			       * read run history knows the run by; "" when
			       * not an aml job (or from sacct) */
	char experiment[256];
};

/*
 * Parse `scontrol show job -o ID` (one line of Key=Value words; Reason may
 * be the last of a few that hold blanks, so only the keys we need are
 * read, each up to the next " Key=", and AdminComment only at the fixed
 * place of its mlflow_run_id word).  The comment's words are read as keys
 * are, so its spooled_on word (waiting.h) comes out as a key of its own.
 * Returns 0, or -1 when JobState is missing.
 */
int aml_slurm_parse_scontrol(const char *text, struct aml_slurm_job *job);

/*
 * Parse one line of `sacct -n -P -X -o State,ExitCode,End -j ID`:
 * "CANCELLED by 1000|0:15|2026-11-25T16:49:56" (End may be absent).
 * Returns 0, or -1 when malformed.
 */
int aml_slurm_parse_sacct(const char *line, struct aml_slurm_job *job);

/*
 * The release in what `slurmctld -V` or `slurmd -V` prints, "slurm
 * 24.11.5" (Debian's: "slurm-wlm 24.11.5"), into [buf]: the last word of
 * the first line, digits and dots with two dots.  Returns 0, or -1 when
 * the text names no release.
 */
int aml_slurm_parse_version(const char *text, char *buf, size_t len);

#endif
