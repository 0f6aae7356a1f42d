/*
 * launch_reap.h: a command run as this process's child, this process
 * staying its child subreaper until everything it started has ended.
 *
 * Rootless podman starts the container under conmon, which forks itself
 * away from podman; conmon runs podman's exit command (`podman container
 * cleanup`) when the container ends; and podman keeps its user namespace
 * in a "pause" process that never ends by itself.  Orphaned to init, each
 * would leave the job's process tree and outlive the job where Slurm
 * tracks a job's processes by their parents (proctrack/linuxproc).  As a
 * child subreaper (PR_SET_CHILD_SUBREAPER) this process gets every such
 * orphan back as its own child: they stay in the job's tree, the step's
 * signals reach them, and when the command has ended they are given
 * [grace_ms] to finish (conmon's clean-up), then killed.
 */
#ifndef AML_TOOLS_LAUNCH_REAP_H
#define AML_TOOLS_LAUNCH_REAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Run [argv] (execvp) and wait for it and every process it left behind.
 * Signals that would end this process (TERM, INT, HUP, QUIT, USR1, USR2,
 * ALRM, PIPE) are held while it waits: they reach the command's process
 * group from Slurm and the launcher, as they reached it before, and this
 * process must outlive the command to end what it leaves.  They stay
 * held after it returns: the end to give is the command's
 * (launch_reap_mirror), not theirs.
 * [keeper_pidfile], when not NULL, names a file holding the pid of a
 * leftover that never ends by itself (podman's pause process): it is not
 * waited for, only killed.  The command's wait status in *[wait_status];
 * 0, or -1 with errbuf when it could not be started (*[wait_status] then
 * the exit status to give: 127 for a command not found, else 126).
 */
int launch_reap_run(char *const argv[], const char *keeper_pidfile,
		    int64_t grace_ms, int *wait_status, char *errbuf,
		    size_t errlen);

/* End this process as [wait_status] says the command ended: the same exit
 * status, or the same signal. */
void launch_reap_mirror(int wait_status) __attribute__((noreturn));

#endif
