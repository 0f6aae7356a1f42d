/*
 * The process behind the current FUSE request: faultfs does each
 * operation as that process's user, and gives up waiting for it when it
 * is being killed.  faultfs answers one request at a time, on one thread,
 * so these act on the calling thread only.
 */
#ifndef FAULTFS_CALLER_H
#define FAULTFS_CALLER_H

#include <sys/types.h>

/*
 * Remember the daemon's own supplementary groups, which caller_restore()
 * puts back.  Call once, as root, before serving requests.  Returns 0, or
 * -1 with errno set.
 */
int caller_init(void);

/*
 * Take on the filesystem uid, gid and supplementary groups of the process
 * that made the current request, so the backing filesystem decides
 * permissions and owns what is created exactly as if that process had
 * done the operation itself.  Returns 0, or -errno (nothing changed
 * then).
 */
int caller_become(void);

/* Back to root's filesystem identity and groups.  Keeps errno. */
void caller_restore(void);

/*
 * Whether thread [pid] is dying: it has SIGKILL pending (a fatal signal,
 * including a SIGTERM it does not catch, is turned into one) or is gone.
 * A hard NFS mount lets such a process die while the server hangs; the
 * kernel's FUSE client does not once the server has read the request, so
 * faultfs, which sees it, answers instead.  [pid] 0 (a request the kernel
 * makes on its own) is never dying.
 */
int caller_is_dying(pid_t pid);

#endif
