/*
 * node_spools.h: delivering what every user's spool on a node holds,
 * without the users coming back (aml-epilog).
 *
 * Writes run history could not take wait in their user's spool on the
 * node (spool.h).  The user's next write there delivers them, but a user
 * may never come back to that node, and a stateless node loses its disk
 * at reboot.  So aml-epilog, which Slurm runs as root on every node at
 * every job's end (Epilog=), delivers them:
 *   - first the spools of the job's own user (what the job just queued),
 *     again and again while they hold something, for a bounded while;
 *   - then every other user's, once each, starting at a different one
 *     each time ([start]), so a user whose spool cannot be delivered (run
 *     history still away, or a lock they hold) never keeps the others
 *     waiting for good;
 *   - everything within one deadline.
 *
 * Threat: SpoolDir is shared (1777), so anyone may put anything there
 * under any name.  A spool is found by listing SpoolDir and judged by
 * what its own descriptor says, never by its name (userdir.h): a real
 * directory (not a symlink), owned by a uid other than root, closed to
 * group and others.  Anything else is skipped and said.  Each spool is
 * then replayed by a child acting as its owner (bounded.h) before
 * anything inside it is touched, with a run history handle of the
 * owner's own, and stopped at its deadline: its owner may hold its lock.
 * Root's own spool belongs to the finalizer (history.h) and is left
 * alone here.
 *
 * What a spool still holds afterwards stays queued, for the next job's
 * end on the node; what run history refused for good is in the spool's
 * rejected/, with its reason, and is said.  Nothing is removed unless
 * delivered.
 */
#ifndef AML_NODE_SPOOLS_H
#define AML_NODE_SPOOLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "site.h"

/* What one delivery round did, summed over the spools. */
struct aml_node_spools_stats {
	size_t spools;      /* users' spool directories found */
	size_t tried;       /* of them, replayed (or tried) this time */
	size_t delivered;   /* entries written to run history */
	size_t rejected;    /* entries run history refused for good */
	size_t waiting;     /* entries still queued in the spools tried */
	size_t skipped;     /* entries of SpoolDir that are no spool */
};

/* One line worth logging, with a syslog level (LOG_INFO, LOG_WARNING,
 * LOG_ERR). */
typedef void (*aml_node_spools_say)(void *ctx, int level, const char *line);

/* How long each other user's spool may take. */
#define AML_NODE_SPOOL_MS 3000
/* How long the job's own user's may take, retries included. */
#define AML_NODE_JOB_USER_MS 5000

/*
 * Deliver what the spools under [site]->spool_dir hold, through the run
 * history [site] names, until [deadline_ms] (aml_monotonic_ms time).
 * [first_uid]'s spools go first (with [first_gid] as its group; (uid_t)-1:
 * none first); [start] chooses which other user's spool comes next (the
 * job id does).  [say] (may be NULL) gets every problem and outcome.  Must
 * run as root.  Returns 0 with [stats] (may be NULL), or -1 with errbuf
 * when SpoolDir itself cannot be read.
 */
int aml_node_spools_deliver(const struct aml_site *site, uid_t first_uid,
			    gid_t first_gid, unsigned start,
			    int64_t deadline_ms,
			    struct aml_node_spools_stats *stats,
			    aml_node_spools_say say, void *ctx, char *errbuf,
			    size_t errlen);

#endif
