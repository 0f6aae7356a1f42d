/*
 * launch_logs.h: the run's output, copied to the job's output file and
 * to the run's user logs.
 *
 * Everything the run's processes print arrives on one pipe.  Each byte is
 * written unchanged to the job's output (the launcher's stdout, so
 * `sbatch -o` and Slurm's own tools keep working), and to the run's log
 * in run history, as Azure ML names them:
 *   one process:  user_logs/std_log.txt, the bytes as they came;
 *   srun (-l):    user_logs/std_log_process_<rank>.txt, the lines whose
 *                 label srun put in front is "<rank>: ", without it.
 *                 Lines without a label are srun's own messages: they go
 *                 to the job's output only.
 *
 * A log is opened in run history (aml_history_open_log: appended as it
 * is written, so `aml-run logs --follow` sees it).  When that fails, it
 * is written to user_logs/<name> in the working directory instead, which
 * the launcher uploads at the end.  A log that then fails to write is
 * given up with one line on stderr; the job's output still has it all.
 */
#ifndef AML_TOOLS_LAUNCH_LOGS_H
#define AML_TOOLS_LAUNCH_LOGS_H

#include <stddef.h>
#include <stdint.h>

#include "launch_common.h"

struct launch_logs;

/*
 * Start copying for the run [c] (history, names and working directory
 * are used as long as the logs are), to [out_fd].  [labelled]: split by
 * srun's labels into per-rank logs; otherwise one std_log.txt.  Logs are
 * opened when their first byte comes.  NULL when memory runs out.
 */
struct launch_logs *launch_logs_new(const struct launch_ctx *c, int out_fd,
				    int labelled);

/* Copy [len] bytes read from the run's pipe. */
void launch_logs_feed(struct launch_logs *l, const char *buf, size_t len);

/*
 * The first error srun reported about the run's processes, without its
 * "srun: error: " ("n2: task 2: Exited with exit code 3"), or NULL.
 * srun's own exit status only says the highest of its tasks', which
 * after --kill-on-bad-exit is the SIGTERM of the innocent ones.
 */
const char *launch_logs_srun_error(const struct launch_logs *l);

/* Close every log (the run's output has ended) and free [l]. */
void launch_logs_free(struct launch_logs *l);

#endif
