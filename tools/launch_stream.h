/*
 * launch_stream.h: the live copy of the run's logs in run history, made
 * by a child process, the log streamer, so that run history can never
 * stop the launcher.
 *
 * Why a process: a log in run history is a file on a shared filesystem.
 * When that filesystem hangs (an NFS server that stops answering), a
 * write(2) to it blocks in the kernel, uninterruptibly (state D): no
 * signal ends it, not even SIGKILL, until the server answers.  Were the
 * launcher the writer, it would stop reading the run's output, the run's
 * processes would block on their full stdout, and the job would sit
 * until its time limit with a launcher that cannot even be killed.  A
 * thread would not do: a thread stuck in the kernel keeps its whole
 * process from exiting.  So the launcher forks the streamer when the
 * first log byte comes, hands it the bytes, and never waits on it.
 *
 * The launcher side:
 *   - Bytes go to the streamer as frames, a header (rank, length: host
 *     order, native sizes, the same binary on both ends) and that many
 *     bytes, on a pipe whose write end is non-blocking (raised to 1 MiB
 *     where allowed).  The pipe is a byte stream with one writer and one
 *     reader, so a write may take part of a frame: the rest waits in a
 *     pending buffer (at most LAUNCH_STREAM_PENDING_MAX bytes) and goes
 *     first, in order, when the pipe has room again.  Nothing is ever
 *     dropped from the middle of the stream: the launcher either sends
 *     every byte, or gives the live copy up and kills the streamer, whose
 *     view of an unfinished frame then no longer matters.
 *   - The live copy is given up for good, with ONE line on stderr, when
 *     bytes wait and the streamer has taken nothing (not one page of its
 *     pipe) for HistoryTimeout seconds (aml.conf, 10 by default), when
 *     the pending buffer would overflow, or when the streamer ended
 *     (EPIPE, or its exit).  Short waits are normal under load: bytes
 *     then wait, and the launcher's poll loop sends them when the pipe
 *     has room (launch_stream_poll_fd).  Giving up closes
 *     the pipe and sends SIGKILL, without waiting: a streamer stuck in
 *     the kernel dies when the filesystem answers, and is reaped then,
 *     by the launcher's SIGCHLD, or by init after the launcher.
 *   - At the end, the pipe is closed and the streamer gets at most
 *     min(HistoryTimeout, 5 s) to finish before it is killed.
 *
 * The streamer: it opens each rank's log in run history
 * (aml_history_open_log) when its first byte comes, and appends, with
 * blocking writes (it is the one process allowed to block).  It holds
 * none of the launcher's descriptors but the pipe and its report pipe
 * (not the job's output, not the run's pipe, not the signalfd): its
 * stdin, stdout and stderr are /dev/null, so a streamer stuck for hours
 * delays no one's end of file.  It ignores the signals scancel and
 * Slurm's time limit send to the whole step (SIGTERM, SIGINT, SIGHUP,
 * SIGQUIT, SIGUSR1, SIGUSR2): the launcher still has its uploads to do,
 * and the streamer ends by itself when the pipe closes; SIGKILL ends it.
 * When a log cannot be opened or written, it puts one sentence on its
 * report pipe and exits 1; the launcher says it, once.
 *
 * A run history that stores logs only whole (a tracking server:
 * !aml_history_appends_logs) gets copies instead: the streamer is sent no
 * bytes, and every HistoryLogInterval seconds puts each log of
 * user_logs/ in the working directory that grew since its last copy, as
 * far as it has come (aml_history_put_log), through a history handle of
 * its own (the launcher's may share a connection with it).  The wait
 * after a round is at least COPY_IDLE_FACTOR times the round, so copies
 * of a long log cost a bounded share of the time; a server that does not
 * answer is left until the next round.  At the pipe's end it makes no
 * last copy: the launcher's upload of the whole logs follows.
 * HistoryLogInterval=0 starts no streamer.
 *
 * The live copy is only the live copy: the complete log is the one in
 * the working directory (launch_logs.h), uploaded at the end over it.
 */
#ifndef AML_TOOLS_LAUNCH_STREAM_H
#define AML_TOOLS_LAUNCH_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "launch_common.h"

/* The most bytes kept for the streamer beyond what its pipe holds. */
#define LAUNCH_STREAM_PENDING_MAX (2u << 20)
/* The longest the end waits for the streamer to finish. */
#define LAUNCH_STREAM_END_MAX_MS 5000

struct launch_stream;

/*
 * A live copy of run [c]'s logs (its history handle, experiment, run id
 * and site are used as long as the stream is), named as
 * launch_log_name([labelled], rank).  Nothing starts before the first
 * launch_stream_send.  NULL when memory runs out.
 */
struct launch_stream *launch_stream_new(const struct launch_ctx *c,
					int labelled);

/*
 * Append [n] bytes of [p] to rank [rank]'s live log: start the streamer
 * the first time, send what the pipe takes, keep the rest.  Never blocks;
 * does nothing once the live copy is given up.
 */
void launch_stream_send(struct launch_stream *s, size_t rank, const char *p,
			size_t n);

/*
 * What a poll loop must watch while bytes wait: returns the descriptor to
 * poll for POLLOUT, and in [*at_ms] (aml_monotonic_ms() time) when the
 * wait runs out, or -1 and 0 when nothing waits.
 */
int launch_stream_poll_fd(const struct launch_stream *s, int64_t *at_ms);

/*
 * Send what waits, as far as the pipe takes it, and give the live copy
 * up when nothing could be sent for HistoryTimeout seconds up to [now_ms]
 * (aml_monotonic_ms() time).  Never blocks; cheap when nothing waits.
 */
void launch_stream_pump(struct launch_stream *s, int64_t now_ms);

/*
 * A child of the launcher ended ([pid], waitpid's [status]): returns 1
 * when it was the streamer (reaped: it is not waited for again), 0
 * otherwise.  A streamer that ended before the end gives the live copy up.
 */
int launch_stream_child_ended(struct launch_stream *s, pid_t pid, int status);

/*
 * The run's output has ended: send what waits, close the pipe, and let
 * the streamer finish, all within min(HistoryTimeout, 5 s); then kill it.
 * Frees [s] (NULL: nothing).
 */
void launch_stream_end(struct launch_stream *s);

#endif
