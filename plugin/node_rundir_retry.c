/*
 * node_rundir_retry.c: aml-epilog's round over a node's kept run
 * directories: each user's, as the user in a bounded child, delivered
 * again or noted lost, and the ledger pruned of what is gone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "bounded.h"
#include "clock.h"
#include "dirtrust.h"
#include "errors.h"
#include "fdio.h"
#include "launch.h"
#include "node_rundir_internal.h"
#include "privdrop.h"
#include "text.h"
#include "tree.h"

#define SCAN_MAX 10000
#define SAID_MAX 10
#define SHOWN 160
#define NODE_MAX 128              /* a node name in a marker's name */
#define REPORT_LINES 32
#define REPORT_LINE_MAX 768
#define REPORT_KEPT_MAX 1024

/* ---------------------------------------------------------------------- */
/* aml-epilog: every kept directory on the node, each user's as the user  */

/* How old a ledger entry must be before a round that did not see its
 * directory drops it: the SPANK epilog counts a directory just before
 * it marks it. */
#define PRUNE_AGE_MS 60000

struct kept_key {
	char run_id[AML_RUNID_MAX];
	char node[NODE_MAX];
	int gone;                 /* delivered and removed this round */
};

/* What a user's child did, written as it goes and read by the parent
 * (MAP_SHARED): a child stopped at its deadline leaves what it had
 * done, with complete 0. */
struct report {
	int complete;             /* every tree seen whole, every kept
				   * directory listed in keys */
	size_t kept, delivered, noted, waiting, skipped, said;
	size_t n_lines, more_lines;
	int levels[REPORT_LINES];
	char lines[REPORT_LINES][REPORT_LINE_MAX];
	size_t n_keys;
	int keys_overflow;
	struct kept_key keys[REPORT_KEPT_MAX];
};

struct retry_arg {
	const struct aml_site *site;
	const char *node;         /* NULL: every node */
	const struct aml_userdir_entry *const *trees;
	size_t n_trees;
	int64_t stop_ms;
	struct report *rep;
};

static void report_line(struct report *rep, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report_line(struct report *rep, int level, const char *fmt, ...)
{
	va_list ap;

	if (rep->n_lines >= REPORT_LINES) {
		rep->more_lines++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(rep->lines[rep->n_lines], REPORT_LINE_MAX, fmt, ap);
	va_end(ap);
	rep->levels[rep->n_lines] = level;
	rep->n_lines++;
}

static void report_key(struct report *rep, const char *run_id,
		       const char *node, int gone)
{
	struct kept_key *k;

	if (rep->n_keys >= REPORT_KEPT_MAX) {
		rep->keys_overflow = 1;
		return;
	}
	k = &rep->keys[rep->n_keys];
	snprintf(k->run_id, sizeof(k->run_id), "%s", run_id);
	snprintf(k->node, sizeof(k->node), "%s", node);
	k->gone = gone;
	rep->n_keys++;
}

/* An odd entry of a user's tree, said SAID_MAX times a round at most. */
static void report_skip(struct report *rep, const char *path,
			const char *name, const char *why)
{
	char shown[SHOWN];

	rep->skipped++;
	if (rep->said++ >= SAID_MAX)
		return;
	aml_text_escape(name, shown, sizeof(shown));
	report_line(rep, LOG_WARNING, "%s/%s %s: skipped", path, shown, why);
}

/* One kept directory, .undelivered-<node> in [rdir]; as the owner. */
static void retry_kept(struct retry_arg *a, const char *path, int rdir,
		       const char *run_id, const char *node)
{
	struct report *rep = a->rep;
	struct run_name rn;
	struct names n;
	char text[MARKER_MAX], why[1024] = "", shown[SHOWN], *nl;
	struct deliver_arg d;

	if (nr_make_names(&n, node) < 0)
		return;
	aml_text_escape(node, shown, sizeof(shown));
	rep->kept++;
	if (nr_read_small(rdir, n.undelivered, text, sizeof(text)) < 0 ||
	    !(nl = strchr(text, '\n')) || nr_parse_run_line(nl + 1, &rn) < 0) {
		/* Counted as kept all the same: it is on disk. */
		report_key(rep, run_id, node, 0);
		report_skip(rep, path, n.undelivered,
			    "is no marker slurm-aml wrote");
		return;
	}
	d.site = a->site;
	d.rdir = rdir;
	d.run_id = run_id;
	d.node = node;
	d.experiment = rn.experiment;
	d.tracking = rn.tracking;
	if (nr_deliver_node(&d, why, sizeof(why)) != 0) {
		if (!rn.keep)
			report_key(rep, run_id, node, 0);
		rep->waiting++;
		report_line(rep, LOG_WARNING, "run %s: outputs of node %s still "
			    "not delivered (%s); kept in %s/%s/%s", run_id,
			    shown, why, path, run_id, shown);
		return;
	}
	if (rn.keep) {
		(void)unlinkat(rdir, n.undelivered, 0);
		rep->delivered++;
		report_line(rep, LOG_INFO, "run %s: outputs of node %s "
			    "delivered to run history; %s/%s/%s stays "
			    "(KeepFailedRunDir=yes)", run_id, shown, path,
			    run_id, shown);
		return;
	}
	if (aml_tree_remove(rdir, node) < 0) {
		/* Delivered, yet still on disk: the next round tries again
		 * (its uploads are then unchanged). */
		report_key(rep, run_id, node, 0);
		rep->waiting++;
		report_line(rep, LOG_ERR, "run %s: outputs of node %s delivered "
			    "to run history, but %s/%s/%s cannot be removed: "
			    "%s", run_id, shown, path, run_id, shown,
			    strerror(errno));
		return;
	}
	nr_drop_markers(rdir, &n, 1);
	report_key(rep, run_id, node, 1);
	rep->delivered++;
	report_line(rep, LOG_INFO, "run %s: outputs of node %s delivered to run "
		    "history; %s/%s/%s removed", run_id, shown, path, run_id,
		    shown);
}

/* One .lost-<node> note in [rdir]; as the owner. */
static void retry_lost(struct retry_arg *a, const char *path, int rdir,
		       const char *run_id, const char *node)
{
	struct report *rep = a->rep;
	struct run_name rn;
	struct names n;
	struct note_arg na;
	char text[MARKER_MAX], why[1024] = "", shown[SHOWN], *nl;

	if (nr_make_names(&n, node) < 0)
		return;
	aml_text_escape(node, shown, sizeof(shown));
	if (nr_read_small(rdir, n.lost, text, sizeof(text)) < 0 ||
	    !(nl = strchr(text, '\n')) || nl == text ||
	    nr_parse_run_line(nl + 1, &rn) < 0) {
		report_skip(rep, path, n.lost, "is no note slurm-aml wrote");
		return;
	}
	*nl = '\0';
	na.site = a->site;
	na.run_id = run_id;
	na.node = node;
	na.experiment = rn.experiment;
	na.tracking = rn.tracking;
	na.sentence = text;
	if (nr_record_loss(&na, why, sizeof(why)) != 0) {
		rep->waiting++;
		report_line(rep, LOG_WARNING, "run %s: the loss of the outputs "
			    "of node %s cannot be recorded in the run yet (%s)",
			    run_id, shown, why);
		return;
	}
	(void)unlinkat(rdir, n.lost, 0);
	rep->noted++;
	report_line(rep, LOG_INFO, "run %s: the loss of the outputs of node %s "
		    "is recorded in the run (" AML_PROP_OUTPUTS_LOST "%s)",
		    run_id, shown, shown);
}

/* The markers of [rdir] this round looks at: "<prefix><node>". */
#define MARKERS_PER_RUN 64

/* One run's directory [run_id] in the tree [dfd] ([path]); as the owner.
 * Returns 0, or -1 when its markers could not all be seen. */
static int retry_run(struct retry_arg *a, int dfd, const char *path,
		     const char *run_id)
{
	static const char *const prefixes[] = { AML_RUNDIR_UNDELIVERED,
						AML_RUNDIR_LOST };
	char names[MARKERS_PER_RUN][NAME_MAX + 1];
	size_t n = 0, seen = 0, done;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rdir, whole = 1;

	rdir = nr_open_dir_nofollow(dfd, run_id);
	if (rdir < 0) {
		if (errno == ELOOP)
			report_skip(a->rep, path, run_id,
				    "is a symbolic link (not followed)");
		return 0;
	}
	if (fstat(rdir, &st) < 0 ||
	    aml_trust_user_dir(&st, geteuid()) != AML_TRUSTED) {
		report_skip(a->rep, path, run_id,
			    "is not its user's alone");
		close(rdir);
		return 0;
	}
	/* Names first, acted on after: acting removes entries. */
	{
		int lfd = openat(rdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (lfd < 0 || !(d = fdopendir(lfd))) {
			if (lfd >= 0)
				close(lfd);
			close(rdir);
			return -1;
		}
	}
	while ((de = readdir(d))) {
		const char *node = NULL;
		size_t len;

		/* A run directory holds a few entries; one its user filled
		 * with more costs only this round's share. */
		if (++seen > SCAN_MAX || aml_monotonic_ms() >= a->stop_ms) {
			whole = 0;
			break;
		}
		for (size_t i = 0; i < 2 && !node; i++)
			if (!strncmp(de->d_name, prefixes[i],
				     strlen(prefixes[i])))
				node = de->d_name + strlen(prefixes[i]);
		if (!node)
			continue;
		len = strlen(node);
		/* A marker's temporary (<marker>.new) is no marker. */
		if (!aml_is_path_component(node) || len >= NODE_MAX ||
		    (len > 4 && !strcmp(node + len - 4, ".new")) ||
		    (a->node && strcmp(node, a->node)))
			continue;
		if (n == MARKERS_PER_RUN) {
			whole = 0;
			break;
		}
		snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(d);
	done = a->rep->delivered + a->rep->noted;
	for (size_t i = 0; i < n; i++) {
		int lost = names[i][1] == 'l';
		const char *node = names[i] + strlen(prefixes[lost]);

		if (aml_monotonic_ms() >= a->stop_ms) {
			whole = 0;
			/* Not looked at: still kept, as far as we know. */
			if (!lost)
				report_key(a->rep, run_id, node, 0);
			continue;
		}
		if (lost)
			retry_lost(a, path, rdir, run_id, node);
		else
			retry_kept(a, path, rdir, run_id, node);
	}
	close(rdir);
	/* Gone once this round emptied it; an empty one it did not touch
	 * may be a starting job's, whose node side is about to fill it. */
	if (a->rep->delivered + a->rep->noted > done)
		(void)unlinkat(dfd, run_id, AT_REMOVEDIR);
	return whole ? 0 : -1;
}

/* In the child, as the trees' owner: every tree of theirs.  0. */
static int retry_user(void *arg, char *errbuf, size_t errlen)
{
	struct retry_arg *a = arg;
	int whole = 1;

	(void)errbuf;
	(void)errlen;
	for (size_t t = 0; t < a->n_trees; t++) {
		const struct aml_userdir_entry *tr = a->trees[t];
		char path[PATH_MAX];
		struct dirent *de;
		struct stat st;
		size_t seen = 0;
		DIR *d;
		int dfd;

		snprintf(path, sizeof(path), "%s/%s", a->site->run_dir,
			 tr->name);
		/* Opened again as the owner: what root listed, the owner
		 * now reads, with the owner's rights only. */
		dfd = openat(tr->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fstat(dfd, &st) < 0 || st.st_uid != geteuid() ||
		    !(d = fdopendir(dfd))) {
			if (dfd >= 0)
				close(dfd);
			whole = 0;
			continue;
		}
		while ((de = readdir(d))) {
			if (aml_monotonic_ms() >= a->stop_ms) {
				whole = 0;
				break;
			}
			if (++seen > SCAN_MAX) {
				report_line(a->rep, LOG_WARNING, "%s: more than "
					    "%d entries; the rest wait for a "
					    "later round", path, SCAN_MAX);
				whole = 0;
				break;
			}
			/* Run ids are file names as they are (runid.h);
			 * anything else is not a run's. */
			if (!aml_runid_is_valid(de->d_name))
				continue;
			if (retry_run(a, dirfd(d), path, de->d_name) < 0)
				whole = 0;
		}
		closedir(d);
	}
	a->rep->complete = whole && !a->rep->keys_overflow;
	return 0;
}

/* Whether [key] ([run_id] on [node]) is among [rep]'s still kept. */
static int still_kept(const struct report *rep, const char *run_id,
		      const char *node)
{
	for (size_t i = 0; i < rep->n_keys; i++)
		if (!rep->keys[i].gone && !strcmp(rep->keys[i].run_id, run_id) &&
		    !strcmp(rep->keys[i].node, node))
			return 1;
	return 0;
}

/*
 * After [uid]'s round [rep]: drop from the ledger what it delivered, and,
 * when the round saw all of the user's trees, what it found kept no more
 * (removed by the user) unless younger than PRUNE_AGE_MS before
 * [started_ms].  As the ledger's owner.
 */
static void prune_ledger(const struct aml_site *site, const char *node,
			 uid_t uid, const struct report *rep,
			 int64_t started_ms)
{
	struct aml_userdir own;
	struct dirent *de;
	char ignored[512], uname[32];
	DIR *d = NULL;
	int lfd;

	for (size_t i = 0; i < rep->n_keys; i++)
		if (rep->keys[i].gone)
			ledger_forget(site, rep->keys[i].node, uid,
				      rep->keys[i].run_id);
	if (!rep->complete ||
	    ledger_root(site, 0, &own, ignored, sizeof(ignored)) < 0)
		return;
	snprintf(uname, sizeof(uname), "%lu", (unsigned long)uid);
	lfd = openat(own.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0 || !(d = fdopendir(lfd))) {
		if (lfd >= 0)
			close(lfd);
		aml_userdir_close(&own);
		return;
	}
	while ((de = readdir(d))) {
		struct dirent *ue;
		DIR *u;
		int nfd, ufd;

		if (de->d_name[0] == '.' || (node && strcmp(de->d_name, node)))
			continue;
		nfd = ledger_node(&own, de->d_name, 0, ignored,
				  sizeof(ignored));
		if (nfd < 0)
			continue;
		if (ledger_lock(nfd) < 0 ||
		    (ufd = openat(nfd, uname, O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC)) < 0) {
			close(nfd);
			continue;
		}
		if (!(u = fdopendir(ufd))) {
			close(ufd);
			close(nfd);
			continue;
		}
		while ((ue = readdir(u))) {
			struct stat st;
			int64_t mtime_ms;

			if (ue->d_name[0] == '.' ||
			    fstatat(dirfd(u), ue->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
				   st.st_mtim.tv_nsec / 1000000;
			if (mtime_ms < started_ms - PRUNE_AGE_MS &&
			    !still_kept(rep, ue->d_name, de->d_name))
				(void)unlinkat(dirfd(u), ue->d_name, 0);
		}
		closedir(u);
		(void)unlinkat(nfd, uname, AT_REMOVEDIR);
		close(nfd);
	}
	closedir(d);
	aml_userdir_close(&own);
}

/* Whether RunDir's entry [name] ([st]) is a user's tree to go through;
 * says why not when that is worth saying. */
static int is_user_tree(struct report *said, const char *run_dir,
			const char *name, const struct stat *st,
			aml_node_rundir_say say_fn, void *ctx)
{
	char shown[SHOWN];
	const char *why;

	/* The ledger, ours. */
	if (aml_userdir_name_matches(name, LEDGER) && S_ISDIR(st->st_mode) &&
	    st->st_uid == geteuid())
		return 0;
	/* Threat: anyone may make anything in RunDir; the name proves
	 * nothing, the owner decides (userdir.h). */
	if (aml_trust_user_dir(st, st->st_uid) == AML_TRUSTED &&
	    st->st_uid != 0)
		return geteuid() == 0 || st->st_uid == geteuid();
	if (S_ISLNK(st->st_mode))
		why = "is a symbolic link (not followed)";
	else if (!S_ISDIR(st->st_mode))
		why = "is not a directory";
	else if (st->st_uid == 0)
		why = "belongs to root, not to a user";
	else
		why = "is open to group or others";
	said->skipped++;
	if (said->said++ < SAID_MAX) {
		aml_text_escape(name, shown, sizeof(shown));
		say(say_fn, ctx, LOG_WARNING, "%s/%s (uid %lu) %s: skipped, no "
		    "user's run directories", run_dir, shown,
		    (unsigned long)st->st_uid, why);
	}
	return 0;
}

struct tree_judge {
	struct report *said;
	const char *run_dir;
	aml_node_rundir_say say_fn;
	void *ctx;
};

static int keep_tree(void *ctx, const char *name, const struct stat *st)
{
	struct tree_judge *j = ctx;

	return is_user_tree(j->said, j->run_dir, name, st, j->say_fn, j->ctx);
}

/* RunDir's users' trees, sorted by name. */
static int scan_trees(const struct aml_site *site, struct report *said,
		      struct aml_userdir_entry **list, size_t *n,
		      aml_node_rundir_say say_fn, void *ctx, char *errbuf,
		      size_t errlen)
{
	struct tree_judge j = { said, site->run_dir, say_fn, ctx };
	int root, r, e, more;

	*list = NULL;
	*n = 0;
	root = nr_open_run_root(site->run_dir, errbuf, errlen);
	if (root < 0)
		return -1;
	r = aml_userdir_scan(root, SCAN_MAX, keep_tree, &j, list, n, &more);
	e = errno;
	close(root);
	if (r < 0)
		return aml_fail(errbuf, errlen, "RunDir %s: %s", site->run_dir,
				strerror(e));
	if (more)
		say(say_fn, ctx, LOG_WARNING, "RunDir %s: more than %d "
		    "entries; the rest wait for a later round", site->run_dir,
		    SCAN_MAX);
	if (said->said > SAID_MAX)
		say(say_fn, ctx, LOG_WARNING, "RunDir %s: %zu more entries "
		    "skipped", site->run_dir, said->said - SAID_MAX);
	return 0;
}

int aml_node_rundirs_retry(const struct aml_site *site, const char *node,
			   unsigned start, int64_t deadline_ms,
			   struct aml_node_rundir_stats *stats,
			   aml_node_rundir_say say_fn, void *ctx, char *errbuf,
			   size_t errlen)
{
	struct aml_node_rundir_stats local;
	struct report said = { 0 }, *rep;
	const struct aml_userdir_entry **mine = NULL;
	struct aml_userdir_entry *list = NULL;
	uid_t *uids = NULL;
	size_t n = 0, n_uids = 0;
	int rc = -1;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (node && !aml_is_path_component(node))
		return aml_fail(errbuf, errlen, "node name \"%s\" cannot name a "
				"run directory's marker", node);
	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED)
		return aml_fail(errbuf, errlen, "mmap: %s", strerror(errno));
	if (scan_trees(site, &said, &list, &n, say_fn, ctx, errbuf,
		       errlen) < 0)
		goto out;
	stats->users = n;
	stats->skipped = said.skipped;
	uids = calloc(n ? n : 1, sizeof(*uids));
	mine = calloc(n ? n : 1, sizeof(*mine));
	if (!uids || !mine) {
		aml_fail(errbuf, errlen, "out of memory");
		goto out;
	}
	/* Users in the order of their trees' names, each once. */
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < n_uids && uids[j] != list[i].uid)
			j++;
		if (j == n_uids)
			uids[n_uids++] = list[i].uid;
	}
	for (size_t k = 0; k < n_uids; k++) {
		uid_t uid = uids[(start + k) % n_uids];
		int64_t now = aml_monotonic_ms(), until, share;
		int64_t started = nr_realtime_ms();
		struct retry_arg a;
		char msg[1024];
		size_t n_mine = 0;
		gid_t gid = 0;
		int res;

		if (now >= deadline_ms) {
			say(say_fn, ctx, LOG_WARNING, "RunDir %s: out of time "
			    "with %zu users' kept run directories not tried; "
			    "they wait for a later round", site->run_dir,
			    n_uids - k);
			break;
		}
		share = (deadline_ms - now) / (int64_t)(n_uids - k);
		if (share < AML_NODE_RUNDIR_USER_MIN_MS)
			share = AML_NODE_RUNDIR_USER_MIN_MS;
		until = now + share < deadline_ms ? now + share : deadline_ms;
		for (size_t i = 0; i < n; i++)
			if (list[i].uid == uid) {
				mine[n_mine++] = &list[i];
				gid = list[i].gid;
			}
		memset(rep, 0, sizeof(*rep));
		a.site = site;
		a.node = node;
		a.trees = mine;
		a.n_trees = n_mine;
		a.stop_ms = nr_before(until, STOP_MARGIN_MS);
		a.rep = rep;
		res = aml_bounded_call(uid, aml_primary_gid(uid, gid), until,
				       retry_user, &a, msg, sizeof(msg));
		for (size_t i = 0; i < rep->n_lines && i < REPORT_LINES; i++)
			if (say_fn) {
				rep->lines[i][REPORT_LINE_MAX - 1] = '\0';
				say_fn(ctx, rep->levels[i], rep->lines[i]);
			}
		if (rep->more_lines)
			say(say_fn, ctx, LOG_WARNING, "uid %lu: %zu more lines "
			    "not said", (unsigned long)uid, rep->more_lines);
		stats->kept += rep->kept;
		stats->delivered += rep->delivered;
		stats->noted += rep->noted;
		stats->waiting += rep->waiting;
		stats->skipped += rep->skipped;
		if (res == AML_BOUNDED_TIMEOUT)
			say(say_fn, ctx, LOG_WARNING, "RunDir %s (uid %lu): not "
			    "done within %lld ms (run history hangs, or too "
			    "much to deliver): stopped; the rest waits for a "
			    "later round", site->run_dir, (unsigned long)uid,
			    (long long)share);
		else if (res != 0)
			say(say_fn, ctx, LOG_WARNING, "RunDir %s (uid %lu): %s",
			    site->run_dir, (unsigned long)uid, msg);
		else
			prune_ledger(site, node, uid, rep, started);
	}
	rc = 0;
out:
	aml_userdir_scan_free(list, n);
	free(uids);
	free(mine);
	munmap(rep, sizeof(*rep));
	return rc;
}
