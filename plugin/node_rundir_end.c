/*
 * node_rundir_end.c: the end of a job on a node (the SPANK epilog), and
 * what aml-epilog's retry does the same way: deliver the node's outputs
 * as the run's owner, measure what a kept directory takes, count it
 * against KeptRunDirMax, record a loss.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "bounded.h"
#include "clock.h"
#include "dirtrust.h"
#include "errors.h"
#include "event.h"
#include "fdio.h"
#include "history.h"
#include "job_env.h"
#include "launch.h"
#include "node_rundir_internal.h"
#include "privdrop.h"
#include "runid.h"
#include "text.h"
#include "tree.h"

#define REMOVE_MAX_DEPTH 512

static const char *const uploaded[] = { "outputs", "logs", "user_logs" };

/* One line of [s] (newlines and tabs as spaces), for a marker's line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
}

/* Whether [rdir] holds a .delivered marker [name] of job [job_id]. */
static int is_delivered(int rdir, const char *name, uint32_t job_id)
{
	char text[128];
	unsigned job;

	return nr_read_small(rdir, name, text, sizeof(text)) >= 0 &&
	       sscanf(text, "job %u ", &job) == 1 && job == job_id;
}

/* A handle on run history for [run_id], as the caller (the owner), and
 * the run's experiment in [exp] (looked up when [given] is empty).
 * Returns the handle, or NULL with errbuf. */
static struct aml_history *open_run_history(const struct aml_site *site,
					    const char *run_id,
					    const char *tracking,
					    const char *given, char *exp,
					    size_t exp_len, char *errbuf,
					    size_t errlen)
{
	struct aml_run_info info = { 0 };
	struct aml_history *h = NULL;
	char err[1024];

	if (aml_history_open(site, &h, errbuf, errlen) < 0)
		return NULL;
	if (tracking && *tracking &&
	    aml_history_bind(h, run_id, tracking, errbuf, errlen) < 0) {
		aml_history_close(h);
		return NULL;
	}
	if (given && *given) {
		snprintf(exp, exp_len, "%s", given);
		return h;
	}
	if (aml_history_read_run(h, run_id, 0, &info, err, sizeof(err)) < 0 ||
	    !info.experiment) {
		aml_fail(errbuf, errlen, "the run's experiment is not known "
			 "here, and run history cannot say it: %s", err);
		aml_run_info_free(&info);
		aml_history_close(h);
		return NULL;
	}
	snprintf(exp, exp_len, "%s", info.experiment);
	aml_run_info_free(&info);
	return h;
}

/*
 * Upload the node's outputs/, logs/ and user_logs/, as the caller.
 * Returns 0 when each was written, unchanged or queued in the spool, 1
 * when not (errbuf: the first reason), as a bounded child answers.
 */
int nr_deliver_node(void *arg, char *errbuf, size_t errlen)
{
	const struct deliver_arg *a = arg;
	char exp[AML_RUNID_MAX], err[1024];
	struct aml_history *h;
	struct stat st;
	int wd, failed = 0;

	wd = nr_open_dir_nofollow(a->rdir, a->node);
	if (wd < 0) {
		aml_fail(errbuf, errlen, "%s: %s", a->node,
			 errno == ELOOP ? "is a symbolic link, not followed"
					: strerror(errno));
		return 1;
	}
	if (fstat(wd, &st) < 0 || st.st_uid != geteuid()) {
		close(wd);
		aml_fail(errbuf, errlen, "%s: not the user's own directory",
			 a->node);
		return 1;
	}
	h = open_run_history(a->site, a->run_id, a->tracking, a->experiment,
			     exp, sizeof(exp), errbuf, errlen);
	if (!h) {
		close(wd);
		return 1;
	}
	for (size_t i = 0; i < sizeof(uploaded) / sizeof(*uploaded); i++) {
		struct aml_artifact_stats stats = { 0 };

		if (aml_history_upload(h, exp, a->run_id, wd, uploaded[i],
				       &stats, err, sizeof(err)) ==
			    AML_HISTORY_ERROR &&
		    !failed++)
			aml_fail(errbuf, errlen, "%s/: %s", uploaded[i], err);
		aml_artifact_stats_free(&stats);
	}
	aml_history_close(h);
	close(wd);
	return failed ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* Measuring, as the owner                                                */

struct measure {
	unsigned long long bytes;
	int64_t stop_ms;
	int complete;
};

/* Add what [name] in [parent] takes on disk; 0, or -1 when it could not
 * all be seen (unreadable, too deep, out of time). */
static int measure_below(struct measure *m, int parent, const char *name,
			 int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, r = 0;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	m->bytes += (unsigned long long)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (depth >= REMOVE_MAX_DEPTH || aml_monotonic_ms() >= m->stop_ms)
		return -1;
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (aml_monotonic_ms() >= m->stop_ms) {
			r = -1;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (measure_below(m, dirfd(dir), de->d_name, depth + 1) < 0)
			r = -1;
	}
	closedir(dir);
	return r;
}

struct measure_arg {
	int rdir;
	const char *node;
	int64_t stop_ms;
};

/* The child's answer: "<bytes> <complete>" in errbuf, result 0. */
static int measure_node(void *arg, char *errbuf, size_t errlen)
{
	const struct measure_arg *a = arg;
	struct measure m = { 0, a->stop_ms, 0 };

	m.complete = measure_below(&m, a->rdir, a->node, 0) == 0;
	snprintf(errbuf, errlen, "%llu %d", m.bytes, m.complete);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Recording a loss, as the owner                                         */

/*
 * The run's property aml.outputs_lost.<node> = the sentence, as the
 * caller.  0 when written, queued in the spool, or already there (with
 * any value: properties never change, and it already says so); 1 when
 * not (errbuf), as a bounded child answers.
 */
int nr_record_loss(void *arg, char *errbuf, size_t errlen)
{
	const struct note_arg *a = arg;
	struct aml_kvlist props = { 0 };
	struct aml_run_info info = { 0 };
	enum aml_history_result r;
	char key[sizeof(AML_PROP_OUTPUTS_LOST) + NAME_MAX];
	char exp[AML_RUNID_MAX], ignored[256];
	struct aml_history *h;

	h = open_run_history(a->site, a->run_id, a->tracking, a->experiment,
			     exp, sizeof(exp), errbuf, errlen);
	if (!h)
		return 1;
	snprintf(key, sizeof(key), "%s%s", AML_PROP_OUTPUTS_LOST, a->node);
	if (aml_kvlist_set(&props, key, a->sentence) < 0) {
		aml_history_close(h);
		aml_fail(errbuf, errlen, "out of memory");
		return 1;
	}
	r = aml_history_add_properties(h, exp, a->run_id, &props, errbuf,
				       errlen);
	if (r == AML_HISTORY_ERROR &&
	    aml_history_read_run(h, a->run_id, 0, &info, ignored,
				 sizeof(ignored)) == 0 &&
	    aml_kvlist_get(&info.properties, key))
		r = AML_HISTORY_UNCHANGED;
	aml_run_info_free(&info);
	aml_kvlist_free(&props);
	aml_history_close(h);
	return r == AML_HISTORY_ERROR ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* The SPANK epilog: the job ended on the node                            */

int nr_make_names(struct names *n, const char *node)
{
	return aml_node_rundir_marker(n->lock, sizeof(n->lock),
				      AML_RUNDIR_LOCK, node) < 0 ||
	       aml_node_rundir_marker(n->attempt, sizeof(n->attempt),
				      AML_RUNDIR_ATTEMPT, node) < 0 ||
	       aml_node_rundir_marker(n->delivered, sizeof(n->delivered),
				      AML_RUNDIR_DELIVERED, node) < 0 ||
	       aml_node_rundir_marker(n->undelivered,
				      sizeof(n->undelivered),
				      AML_RUNDIR_UNDELIVERED, node) < 0 ||
	       aml_node_rundir_marker(n->lost, sizeof(n->lost),
				      AML_RUNDIR_LOST, node) < 0
		       ? -1 : 0;
}

/* As the owner: the node's markers that outlive nothing. */
void nr_drop_markers(int rdir, const struct names *n, int undelivered)
{
	(void)unlinkat(rdir, n->attempt, 0);
	(void)unlinkat(rdir, n->lock, 0);
	(void)unlinkat(rdir, n->delivered, 0);
	if (undelivered)
		(void)unlinkat(rdir, n->undelivered, 0);
}

/* [bytes] as aml.conf would write it: "1K", "20G", "1000". */
static void format_conf_size(unsigned long long bytes, char *buf, size_t len)
{
	static const struct { unsigned shift; char unit; } units[] = {
		{ 40, 'T' }, { 30, 'G' }, { 20, 'M' }, { 10, 'K' },
	};

	if (bytes == AML_SITE_UNLIMITED64) {
		snprintf(buf, len, "UNLIMITED");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (bytes && bytes % (1ull << units[i].shift) == 0) {
			snprintf(buf, len, "%llu%c", bytes >> units[i].shift,
				 units[i].unit);
			return;
		}
	snprintf(buf, len, "%llu", bytes);
}

/* The .undelivered marker, as the owner.  0, or -1 with errno. */
static int write_undelivered(int rdir, const struct names *n,
			     const struct aml_node_rundir_end *e,
			     const char *why, int keep)
{
	char text[MARKER_MAX], reason[1024], when[32];
	char line[AML_RUNID_MAX + TRACKING_MAX + 32];

	snprintf(reason, sizeof(reason), "%s", why);
	one_line(reason);
	aml_event_format_time(nr_realtime_ms(), when, sizeof(when));
	nr_format_run_line(line, sizeof(line), e->experiment, e->tracking_id,
			   keep);
	snprintf(text, sizeof(text), "%s %s\n%s", when, reason, line);
	return nr_write_small(rdir, n->undelivered, text);
}

/* The .lost note, as the owner.  0, or -1 with errno. */
static int write_lost(int rdir, const struct names *n,
		      const struct aml_node_rundir_end *e,
		      const char *sentence)
{
	char text[MARKER_MAX], line[AML_RUNID_MAX + TRACKING_MAX + 32];

	nr_format_run_line(line, sizeof(line), e->experiment, e->tracking_id,
			   0);
	snprintf(text, sizeof(text), "%s\n%s", sentence, line);
	return nr_write_small(rdir, n->lost, text);
}

/* The deadline [ms] before [deadline], but not past it and not already
 * gone: what is left when less remains. */
int64_t nr_before(int64_t deadline, int64_t ms)
{
	int64_t now = aml_monotonic_ms(), at = deadline - ms;

	return at > now ? at : deadline;
}

/*
 * Whether keeping [bytes] more ([complete]: measured whole) keeps the
 * node within KeptRunDirMax; when it does, the directory is counted in
 * the ledger.  As the ledger's owner (the caller).  Returns 1 kept, 0
 * over the bound ([why] says how), with [total] what was kept before.
 */
static int account(const struct aml_node_rundir_end *e,
		   unsigned long long bytes, int complete,
		   unsigned long long *total, char *why, size_t why_len,
		   aml_node_rundir_say say_fn, void *ctx)
{
	const unsigned long long max = e->site->kept_run_dir_max;
	char err[1024];
	int fd, fits;

	*total = 0;
	fd = ledger_open(e->site, e->node, 1, err, sizeof(err));
	if (fd >= 0 && ledger_lock(fd) < 0) {
		snprintf(err, sizeof(err), "cannot lock the ledger of kept run "
			 "directories: %s", strerror(errno));
		close(fd);
		fd = -1;
	}
	if (fd < 0 || ledger_sum(fd, total) < 0) {
		if (fd >= 0) {
			snprintf(err, sizeof(err), "cannot read the ledger of "
				 "kept run directories: %s", strerror(errno));
			close(fd);
		}
		if (max == AML_SITE_UNLIMITED64) {
			say(say_fn, ctx, LOG_WARNING, "run %s: node %s: what "
			    "it keeps cannot be counted (%s); kept anyway "
			    "(KeptRunDirMax=UNLIMITED)", e->run_id, e->node,
			    err);
			return 1;
		}
		snprintf(why, why_len, "what this node keeps cannot be counted "
			 "(%.400s)", err);
		return 0;
	}
	fits = max == AML_SITE_UNLIMITED64 ||
	       (complete && bytes <= max && *total <= max - bytes);
	if (!fits)
		snprintf(why, why_len, "%s", complete ? "" :
			 "its size could not be measured in time");
	else if (ledger_put(fd, e->uid, e->run_id, bytes) < 0)
		say(say_fn, ctx, LOG_WARNING, "run %s: node %s: the ledger of "
		    "kept run directories cannot count it: %s", e->run_id,
		    e->node, strerror(errno));
	close(fd);
	return fits;
}

enum aml_node_rundir_fate aml_node_rundir_end_job(
	const struct aml_node_rundir_end *e, aml_node_rundir_say say_fn,
	void *ctx)
{
	enum aml_node_rundir_fate fate = AML_RUNDIR_FATE_ERROR;
	struct aml_userdir own = { -1, NULL };
	struct aml_identity saved = { 0 };
	struct names n;
	struct stat st;
	char errbuf[2048], why[1024] = "", where[PATH_MAX + 512];
	uint32_t marked_job;
	unsigned marked_attempt;
	int rdir = -1, as_owner = 0, delivered, is_dir, r;

	/* Run ids are what aml-epilog looks for (runid.h): a directory
	 * kept under another name would never be delivered. */
	if (nr_make_names(&n, e->node) < 0 || !aml_runid_is_valid(e->run_id)) {
		say(say_fn, ctx, LOG_ERR, "run %.200s: it, or node name %s, "
		    "cannot name the run's files on the node", e->run_id,
		    e->node);
		return fate;
	}
	/* Root never touches the user's tree: as the user, a symlink the
	 * run left can lead nowhere the user could not go anyway. */
	if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
				sizeof(errbuf)) < 0) {
		say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s", e->run_id,
		    errbuf);
		return fate;
	}
	as_owner = 1;
	if (aml_node_rundir_open_user_root(e->site->run_dir, 0, &own, errbuf,
					   sizeof(errbuf)) < 0) {
		if (errno == ENOENT) {
			fate = AML_RUNDIR_FATE_GONE;
		} else {
			say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s",
			    e->run_id, errbuf);
		}
		goto out;
	}
	rdir = aml_node_rundir_open_run(own.fd, own.path, e->run_id, 0,
					errbuf, sizeof(errbuf));
	if (rdir == -2) {
		fate = AML_RUNDIR_FATE_GONE;
		goto out;
	}
	if (rdir < 0) {
		say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s", e->run_id,
		    errbuf);
		goto out;
	}
	/* The children below work in it (bounded.h). */
	if ((r = aml_fd_above_stdio(rdir)) < 0) {
		say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s", e->run_id,
		    strerror(errno));
		goto out;
	}
	rdir = r;
	snprintf(where, sizeof(where), "%s/%s/%s", own.path, e->run_id,
		 e->node);
	if (aml_node_rundir_read_attempt(rdir, n.attempt, &marked_job,
					 &marked_attempt) == 1 &&
	    marked_job != e->job_id) {
		say(say_fn, ctx, LOG_ERR, "run %s: cleanup: the directory on %s "
		    "belongs to job %u, not %u: left alone", e->run_id,
		    e->node, (unsigned)marked_job, (unsigned)e->job_id);
		fate = AML_RUNDIR_FATE_NOT_OURS;
		goto out;
	}
	is_dir = fstatat(rdir, e->node, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		 S_ISDIR(st.st_mode);
	/* No working directory (or only something else by its name): there
	 * is nothing to deliver. */
	delivered = !is_dir || is_delivered(rdir, n.delivered, e->job_id);
	aml_identity_restore(&saved);
	as_owner = 0;

	if (!delivered) {
		struct deliver_arg a = {
			.site = e->site, .rdir = rdir, .run_id = e->run_id,
			.node = e->node, .experiment = e->experiment,
			.tracking = e->tracking_id,
		};

		r = aml_bounded_call(e->uid, e->gid,
				     nr_before(e->deadline_ms,
					       AML_NODE_RUNDIR_MEASURE_MS),
				     nr_deliver_node, &a, why, sizeof(why));
		delivered = r == 0;
		if (r == AML_BOUNDED_TIMEOUT)
			snprintf(why, sizeof(why), "the upload did not end in "
				 "time (run history hangs?) and was stopped");
		else if (!delivered && !*why)
			snprintf(why, sizeof(why), "the upload failed");
		/* A warning: the launcher did not do its part, and the
		 * slurmd log of Slurm 22.05 keeps nothing below it from the
		 * SPANK epilog. */
		if (delivered)
			say(say_fn, ctx, LOG_WARNING, "run %s: outputs of node "
			    "%s delivered by the epilog (the launcher had not: "
			    "it was stopped before its uploads, or they "
			    "failed)", e->run_id, e->node);
	}

	if (e->keep) {
		if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
					sizeof(errbuf)) < 0)
			goto said;
		as_owner = 1;
		nr_drop_markers(rdir, &n, delivered);
		if (!delivered &&
		    write_undelivered(rdir, &n, e, why, 1) < 0)
			say(say_fn, ctx, LOG_ERR, "run %s: %s/%s/%s: cannot "
			    "write: %s", e->run_id, own.path, e->run_id,
			    n.undelivered, strerror(errno));
		say(say_fn, ctx, delivered ? LOG_INFO : LOG_WARNING,
		    "run %s: job %u failed: %s kept "
		    "(KeepFailedRunDir=yes)%s%s%s", e->run_id,
		    (unsigned)e->job_id, where,
		    delivered ? "" : "; its outputs are not delivered (",
		    delivered ? "" : why,
		    delivered ? "" : "): aml-epilog retries at every job's "
		    "end");
		fate = AML_RUNDIR_FATE_KEPT_FAILED;
		goto out;
	}

	if (delivered) {
		if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
					sizeof(errbuf)) < 0)
			goto said;
		as_owner = 1;
		if (aml_tree_remove(rdir, e->node) < 0)
			say(say_fn, ctx, LOG_ERR, "run %s: cannot remove %s: %s",
			    e->run_id, where, strerror(errno));
		nr_drop_markers(rdir, &n, 1);
		/* Not empty while another node's directory, or a kept one,
		 * or a note remains. */
		(void)unlinkat(own.fd, e->run_id, AT_REMOVEDIR);
		aml_identity_restore(&saved);
		as_owner = 0;
		ledger_forget(e->site, e->node, e->uid, e->run_id);
		fate = AML_RUNDIR_FATE_REMOVED;
		goto out;
	}

	{
		struct measure_arg m = { rdir, e->node, 0 };
		unsigned long long bytes = 0, total = 0;
		char size[32], max[32], bound[512] = "", answer[64];
		char sentence[2048];
		int complete = 0, kept;

		m.stop_ms = nr_before(e->deadline_ms, STOP_MARGIN_MS);
		if (aml_bounded_call(e->uid, e->gid, e->deadline_ms,
				     measure_node, &m, answer,
				     sizeof(answer)) == 0)
			(void)sscanf(answer, "%llu %d", &bytes, &complete);
		kept = account(e, bytes, complete, &total, bound,
			       sizeof(bound), say_fn, ctx);
		if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
					sizeof(errbuf)) < 0)
			goto said;
		as_owner = 1;
		if (kept) {
			nr_drop_markers(rdir, &n, 0);
			if (write_undelivered(rdir, &n, e, why, 0) < 0)
				say(say_fn, ctx, LOG_ERR, "run %s: %s/%s/%s: "
				    "cannot write (aml-epilog will not find "
				    "it): %s", e->run_id, own.path, e->run_id,
				    n.undelivered, strerror(errno));
			say(say_fn, ctx, LOG_WARNING, "run %s: outputs of node "
			    "%s not delivered (%s); kept in %s until they are "
			    "(aml-epilog retries at every job's end)",
			    e->run_id, e->node, why, where);
			fate = AML_RUNDIR_FATE_KEPT;
			goto out;
		}
		aml_format_bytes(bytes, size, sizeof(size));
		format_conf_size(e->site->kept_run_dir_max, max, sizeof(max));
		snprintf(sentence, sizeof(sentence), "run %s: outputs of node %s "
			 "(%s%s) not delivered and removed: kept run "
			 "directories on this node would exceed "
			 "KeptRunDirMax=%s%s%s%s; %s", e->run_id, e->node,
			 complete ? "" : "at least ", size, max,
			 *bound ? " (" : "", bound, *bound ? ")" : "", why);
		one_line(sentence);
		if (aml_tree_remove(rdir, e->node) < 0)
			say(say_fn, ctx, LOG_ERR, "run %s: cannot remove %s: %s",
			    e->run_id, where, strerror(errno));
		nr_drop_markers(rdir, &n, 1);
		aml_identity_restore(&saved);
		as_owner = 0;
		{
			struct note_arg a = {
				.site = e->site, .run_id = e->run_id,
				.node = e->node, .experiment = e->experiment,
				.tracking = e->tracking_id,
				.sentence = sentence,
			};
			char note_err[1024];

			r = aml_bounded_call(e->uid, e->gid,
					     aml_monotonic_ms() +
						     AML_HISTORY_OWNED_WRITE_MS,
					     nr_record_loss, &a, note_err,
					     sizeof(note_err));
			aml_format_bytes(total, size, sizeof(size));
			say(say_fn, ctx, LOG_ERR, "%s (the admin can raise "
			    "KeptRunDirMax, of which %s is kept on this node, "
			    "or bring run history back, so that what is kept "
			    "is delivered); %s%s%s", sentence, size,
			    r == 0 ? "recorded in the run as "
				     AML_PROP_OUTPUTS_LOST
				   : "the run is told once run history is "
				     "back (" AML_RUNDIR_LOST,
			    e->node, r == 0 ? "" : ")");
			if (aml_identity_become(e->uid, e->gid, &saved, errbuf,
						sizeof(errbuf)) < 0)
				goto said;
			as_owner = 1;
			if (r != 0 && write_lost(rdir, &n, e, sentence) < 0)
				say(say_fn, ctx, LOG_ERR, "run %s: %s/%s/%s: "
				    "cannot write: %s", e->run_id, own.path,
				    e->run_id, n.lost, strerror(errno));
			(void)unlinkat(own.fd, e->run_id, AT_REMOVEDIR);
		}
		fate = AML_RUNDIR_FATE_LOST;
		goto out;
	}
said:
	say(say_fn, ctx, LOG_ERR, "run %s: cleanup: %s", e->run_id, errbuf);
out:
	if (rdir >= 0)
		close(rdir);
	aml_userdir_close(&own);
	if (as_owner)
		aml_identity_restore(&saved);
	return fate;
}
