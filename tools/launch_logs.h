/*
 * launch_logs.h: the run's output, copied to the job's output file and
 * to the run's user logs.
 *
 * Everything the run's processes print arrives on one pipe.  Each byte is
 * written unchanged to the job's output (the launcher's stdout, so
 * `sbatch -o` and Slurm's own tools keep working), and to the run's logs,
 * as Azure ML names them:
 *   one process:  user_logs/std_log.txt, the bytes as they came;
 *   srun (-l):    user_logs/std_log_process_<rank>.txt, the lines whose
 *                 label srun put in front is "<rank>: ", without it.
 *                 Lines without a label are srun's own messages: they go
 *                 to the job's output only.
 *
 * Each log is kept twice:
 *   - whole, in user_logs/<name> of the run's working directory (local
 *     disk), written by the launcher itself; this is the copy the
 *     launcher uploads at the end (launch_finish.h), over the other;
 *   - live, in run history, so `aml-run logs --follow` sees the run as
 *     it goes: appended by a child process, the log streamer
 *     (launch_stream.h), never by the launcher.
 * Why two: run history is a shared filesystem, and when it hangs (an NFS
 * server that stops answering) a write(2) to it blocks in the kernel,
 * uninterruptibly (state D), until the server answers.  A launcher
 * blocked so would stop reading the run's pipe, the run's processes
 * would block on their full stdout, and the job would sit until its
 * time limit with a launcher that not even SIGKILL ends.  So the launcher
 * writes only to local files and to the streamer's pipe, without ever
 * waiting for it; when run history stops taking the live copy, the
 * launcher gives it up with one line, and the run goes on, its whole log
 * on local disk.
 *
 * A local log that cannot be written (a full local disk) is given up with
 * one line on stderr, and what was written of it removed, so the upload
 * does not replace the live copy with part of it; the job's output still
 * has it all.
 */
#ifndef AML_TOOLS_LAUNCH_LOGS_H
#define AML_TOOLS_LAUNCH_LOGS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "launch_common.h"

struct launch_logs;

/*
 * Start copying for the run [c] (its history handle, names, site and
 * working directory are used as long as the logs are), to [out_fd].  [labelled]: split by
 * srun's labels into per-rank logs; otherwise one std_log.txt.  Logs are
 * opened when their first byte comes.  NULL when memory runs out.
 */
struct launch_logs *launch_logs_new(const struct launch_ctx *c, int out_fd,
				    int labelled);

/* Copy [len] bytes read from the run's pipe.  Never waits on run
 * history (the job's output, and local disk, it does wait for). */
void launch_logs_feed(struct launch_logs *l, const char *buf, size_t len);

/*
 * For the launcher's poll loop (launch_stream.h): the descriptor to poll
 * for POLLOUT while live-log bytes wait, and in [*at_ms] when to call
 * launch_logs_pump at the latest; -1 and 0 when nothing waits.
 */
int launch_logs_poll_fd(const struct launch_logs *l, int64_t *at_ms);

/* Move the live copy on, at [now_ms] (aml_monotonic_ms() time): after
 * every poll.  Never blocks. */
void launch_logs_pump(struct launch_logs *l, int64_t now_ms);

/* A child of the launcher was reaped ([pid], waitpid's [status]): 1 when
 * it was the log streamer, 0 when it is not ours. */
int launch_logs_child_ended(struct launch_logs *l, pid_t pid, int status);

/*
 * The first error srun reported about the run's processes, without its
 * "srun: error: " ("n2: task 2: Exited with exit code 3"), or NULL.
 * srun's own exit status only says the highest of its tasks', which
 * after --kill-on-bad-exit is the SIGTERM of the innocent ones.
 */
const char *launch_logs_srun_error(const struct launch_logs *l);

/*
 * The run's output has ended: close every local log (user_logs/ is then
 * whole, for the upload), let the streamer finish the live copy for at
 * most min(HistoryTimeout, 5 s) (launch_stream_end), and free [l].
 */
void launch_logs_free(struct launch_logs *l);

#endif
