/*
 * test_node_rundir.c: a run's directory on a node (plugin/node_rundir.c)
 * is never removed while its outputs have reached neither run history
 * nor the spool: the launcher's mark lets the epilog remove it; without
 * it the epilog uploads them itself; what cannot be delivered is kept,
 * marked and said, and aml-epilog's retry delivers and removes it later;
 * past KeptRunDirMax it is removed anyway, said loudly, and the loss is
 * recorded in the run.  Entries a user plants in their own tree are never
 * followed.
 *
 * Run history is the file backend in a temporary HistoryDir.  It is
 * taken away by pointing HistoryDir at a path that does not exist (what
 * an unmounted filesystem looks like), and the spool is made unusable by
 * pointing SpoolDir at a regular file: both hold for root, for whom
 * permissions would not.  As root, the run's owner is nobody (65534),
 * and one test adds a second, hostile user (65533); otherwise the
 * owner is the caller.  Children made with fork() never call cmocka.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "clock.h"
#include "event.h"
#include "history.h"
#include "node_rundir.h"
#include "node_rundir_internal.h"
#include "site.h"
#include "userdir.h"
#include "tree.h"

#define NOBODY 65534
#define OTHER 65533
#define EXP "keep"
#define RUN_A "keep_1764089396_0a0a0a0a"
#define RUN_B "keep_1764089396_0b0b0b0b"
#define NODE "n1"
#define JOB 42
#define CONTENT "weights\n"

struct fixture {
	char base[64];
	char hist[128], gone[128], spool[128], afile[128], runs[128];
	struct aml_site site;
	uid_t owner;
	gid_t group;
	char said[16384];
	char err[1024];
};

static int set_path(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_node_rundir.XXXXXX");
	if (!mkdtemp(f->base) || chmod(f->base, 0755) != 0)
		return -1;
	snprintf(f->hist, sizeof(f->hist), "%s/history", f->base);
	snprintf(f->gone, sizeof(f->gone), "%s/unmounted", f->base);
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->base);
	snprintf(f->afile, sizeof(f->afile), "%s/afile", f->base);
	snprintf(f->runs, sizeof(f->runs), "%s/runs", f->base);
	if (mkdir(f->hist, 0700) || chmod(f->hist, 01777) ||
	    mkdir(f->spool, 0700) || chmod(f->spool, 01777) ||
	    mkdir(f->runs, 0700) || chmod(f->runs, 01777))
		return -1;
	fd = open(f->afile, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	if (aml_site_defaults(&f->site) != 0 ||
	    set_path(&f->site.history_dir, f->hist) ||
	    set_path(&f->site.spool_dir, f->spool) ||
	    set_path(&f->site.run_dir, f->runs))
		return -1;
	f->site.history_backend = AML_HISTORY_FILE;
	f->owner = geteuid() == 0 ? NOBODY : geteuid();
	f->group = geteuid() == 0 ? NOBODY : getegid();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_site_free(&f->site);
	aml_tree_remove(AT_FDCWD, f->base);
	free(f);
	return 0;
}

static void collect(void *ctx, int level, const char *line)
{
	struct fixture *f = ctx;
	size_t n = strlen(f->said);

	snprintf(f->said + n, sizeof(f->said) - n, "%d %s\n", level, line);
}

static void said_has(struct fixture *f, const char *what)
{
	if (!strstr(f->said, what))
		fail_msg("not said: \"%s\"; said:\n%s", what, f->said);
}

/* Run history away (its filesystem gone), or back; the spool a regular
 * file (unusable), or back. */
static void history_away(struct fixture *f, int away)
{
	assert_int_equal(set_path(&f->site.history_dir,
				  away ? f->gone : f->hist), 0);
}

static void spool_unusable(struct fixture *f, int unusable)
{
	assert_int_equal(set_path(&f->site.spool_dir,
				  unusable ? f->afile : f->spool), 0);
}

/* ---- as a user, in a child ---- */

typedef int (*user_fn)(struct fixture *f, const void *arg);

static int as(struct fixture *f, uid_t uid, user_fn fn, const void *arg)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0) {
			gid_t g = (gid_t)uid;

			if (setgroups(1, &g) || setgid(g) || setuid(uid))
				_exit(100);
		}
		_exit(fn(f, arg));
	}
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

static int child_create_run(struct fixture *f, const void *arg)
{
	struct aml_history *h;
	struct aml_event ev;
	struct aml_run_new req = { EXP, arg, "{}", NULL, NULL, &ev };
	char err[1024];

	if (aml_history_open(&f->site, &h, err, sizeof(err)) < 0 ||
	    aml_event_init(&ev, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH))
		return 1;
	if (aml_history_create_run(h, &req, err, sizeof(err)) !=
	    AML_HISTORY_WRITTEN)
		return 2;
	aml_event_free(&ev);
	aml_history_close(h);
	return 0;
}

static void create_run(struct fixture *f, uid_t uid, const char *run_id)
{
	assert_int_equal(as(f, uid, child_create_run, run_id), 0);
}

static int write_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	return close(fd) == 0 && ok ? 0 : -1;
}

struct workdir_req {
	const char *run_id;
	const char *node;
	unsigned job;
};

/* What the node side and a run leave on the node: the working directory
 * with outputs/x and logs/l.txt, the attempt marker and the lock. */
static int child_make_workdir(struct fixture *f, const void *arg)
{
	const struct workdir_req *q = arg;
	struct aml_userdir own;
	char err[1024], marker[NAME_MAX + 1];
	int rdir, wd, sub;

	if (aml_node_rundir_open_user_root(f->site.run_dir, 1, &own, err,
					   sizeof(err)) < 0)
		return 1;
	rdir = aml_node_rundir_open_run(own.fd, own.path, q->run_id, 1, err,
					sizeof(err));
	if (rdir < 0)
		return 2;
	if (mkdirat(rdir, q->node, 0755) < 0 ||
	    (wd = openat(rdir, q->node, O_RDONLY | O_DIRECTORY)) < 0)
		return 3;
	if (mkdirat(wd, "outputs", 0755) < 0 || mkdirat(wd, "logs", 0755) < 0)
		return 4;
	sub = openat(wd, "outputs", O_RDONLY | O_DIRECTORY);
	if (sub < 0 || write_file(sub, "x", CONTENT) < 0)
		return 5;
	close(sub);
	sub = openat(wd, "logs", O_RDONLY | O_DIRECTORY);
	if (sub < 0 || write_file(sub, "l.txt", "log\n") < 0)
		return 6;
	close(sub);
	if (write_file(wd, "main.py", "print(1)\n") < 0)
		return 7;
	if (aml_node_rundir_marker(marker, sizeof(marker), AML_RUNDIR_ATTEMPT,
				   q->node) < 0 ||
	    aml_node_rundir_write_attempt(rdir, marker, q->job, 1) < 0)
		return 8;
	aml_node_rundir_marker(marker, sizeof(marker), AML_RUNDIR_LOCK,
			       q->node);
	if (write_file(rdir, marker, "") < 0)
		return 9;
	close(wd);
	close(rdir);
	aml_userdir_close(&own);
	return 0;
}

static void make_workdir(struct fixture *f, uid_t uid, const char *run_id,
			 const char *node)
{
	const struct workdir_req q = { run_id, node, JOB };

	assert_int_equal(as(f, uid, child_make_workdir, &q), 0);
}

/* <runs>/<uid's directory>, into [buf]. */
static void user_root(struct fixture *f, uid_t uid, char *buf, size_t len)
{
	char name[NAME_MAX + 1];

	aml_userdir_default_name(uid, name, sizeof(name));
	snprintf(buf, len, "%s/%s", f->runs, name);
}

/* <runs>/<owner>/<run_id>[/<rest>], into [buf]. */
static const char *in_run(struct fixture *f, uid_t uid, const char *run_id,
			  const char *rest, char *buf, size_t len)
{
	char root[1024];

	user_root(f, uid, root, sizeof(root));
	snprintf(buf, len, "%s/%s%s%s", root, run_id, rest ? "/" : "",
		 rest ? rest : "");
	return buf;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The run's file [rel] in run history (any owner's tree), into [buf];
 * "" when it is not there. */
static const char *history_file(struct fixture *f, const char *run_id,
				const char *rel, char *buf, size_t len)
{
	char pattern[4096];
	glob_t g;
	FILE *fp;
	size_t n = 0;

	buf[0] = '\0';
	snprintf(pattern, sizeof(pattern), "%s/*/%s/%s/%s", f->hist, EXP,
		 run_id, rel);
	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1 &&
	    (fp = fopen(g.gl_pathv[0], "r"))) {
		n = fread(buf, 1, len - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	globfree(&g);
	return buf;
}

static enum aml_node_rundir_fate end_job(struct fixture *f, uid_t uid,
					 const char *run_id, int keep)
{
	struct aml_node_rundir_end e = {
		.site = &f->site, .uid = uid, .gid = (gid_t)uid,
		.run_id = run_id, .node = NODE, .experiment = EXP,
		.tracking_id = NULL, .job_id = JOB, .keep = keep,
		.deadline_ms = aml_monotonic_ms() + AML_NODE_RUNDIR_EPILOG_MS,
	};

	if (geteuid() != 0)
		e.gid = f->group;
	f->said[0] = '\0';
	return aml_node_rundir_end_job(&e, collect, f);
}

static void retry(struct fixture *f, const char *node, int64_t ms,
		  struct aml_node_rundir_stats *st)
{
	f->said[0] = '\0';
	if (aml_node_rundirs_retry(&f->site, node, 0, aml_monotonic_ms() + ms,
				   st, collect, f, f->err,
				   sizeof(f->err)) != 0)
		fail_msg("retry: %s", f->err);
	assert_int_equal(geteuid(), geteuid() == 0 ? 0 : f->owner);
}

/* The ledger's entry of [uid]'s [run_id], in bytes, or -1. */
static long long ledger_entry(struct fixture *f, uid_t uid,
			      const char *run_id)
{
	char path[4096], text[32] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/.aml-kept/%s/%lu/%s", f->runs, NODE,
		 (unsigned long)uid, run_id);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	if (!fgets(text, sizeof(text), fp))
		text[0] = '\0';
	fclose(fp);
	return atoll(text);
}

static void read_text(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/* ---- the launcher's mark ---- */

struct mark_req {
	const char *run_id;
	const char *shown_as;     /* AML_WORKDIR's last component */
};

static int child_mark(struct fixture *f, const void *arg)
{
	const struct mark_req *q = arg;
	char root[1024], path[4096], shown[4096], err[1024];
	int wd, r;

	user_root(f, geteuid(), root, sizeof(root));
	snprintf(path, sizeof(path), "%s/%s/%s", root, q->run_id, NODE);
	snprintf(shown, sizeof(shown), "%s/%s/%s", root, q->run_id,
		 q->shown_as);
	wd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wd < 0)
		return 10;
	r = aml_node_rundir_mark_delivered(wd, shown, JOB, 1, err,
					   sizeof(err));
	close(wd);
	return r < 0 ? 1 : 0;
}

/* The launcher delivered: its mark is trusted, nothing is uploaded again,
 * and everything goes. */
static void test_delivered_mark_removes(void **state)
{
	struct fixture *f = *state;
	const struct mark_req q = { RUN_A, NODE };
	char path[4096], text[1024];

	create_run(f, f->owner, RUN_A);
	make_workdir(f, f->owner, RUN_A, NODE);
	assert_int_equal(as(f, f->owner, child_mark, &q), 0);
	read_text(in_run(f, f->owner, RUN_A, ".delivered-" NODE, path,
			 sizeof(path)), text, sizeof(text));
	assert_true(!strncmp(text, "job 42 attempt 1 2", 18));
	assert_int_equal(end_job(f, f->owner, RUN_A, 0),
			 AML_RUNDIR_FATE_REMOVED);
	assert_false(exists(in_run(f, f->owner, RUN_A, NULL, path,
				   sizeof(path))));
	/* Trusted: not uploaded a second time. */
	assert_string_equal(history_file(f, RUN_A, "outputs/x", text,
					 sizeof(text)), "");
}

/* The mark is written only beside the very working directory, in a run
 * directory of the user's alone. */
static void test_mark_refused_elsewhere(void **state)
{
	struct fixture *f = *state;
	const struct mark_req other_name = { RUN_A, "n2" };
	const struct mark_req q = { RUN_A, NODE };
	char path[4096];

	make_workdir(f, f->owner, RUN_A, NODE);
	make_workdir(f, f->owner, RUN_A, "n2");
	/* AML_WORKDIR names n2, but the launcher is in n1. */
	assert_int_equal(as(f, f->owner, child_mark, &other_name), 1);
	assert_false(exists(in_run(f, f->owner, RUN_A, ".delivered-n2", path,
				   sizeof(path))));
	/* A run directory others may write is no place for it. */
	assert_int_equal(chmod(in_run(f, f->owner, RUN_A, NULL, path,
				      sizeof(path)), 0777), 0);
	assert_int_equal(as(f, f->owner, child_mark, &q), 1);
	assert_false(exists(in_run(f, f->owner, RUN_A, ".delivered-" NODE,
				   path, sizeof(path))));
}

/* The launcher was killed before its uploads: the epilog uploads them,
 * with the run's experiment looked up in run history when not given. */
static void test_epilog_delivers(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_end e = {
		.site = &f->site, .uid = f->owner, .gid = f->group,
		.run_id = RUN_A, .node = NODE, .experiment = NULL,
		.job_id = JOB,
		.deadline_ms = aml_monotonic_ms() + AML_NODE_RUNDIR_EPILOG_MS,
	};
	char path[4096], text[1024];

	create_run(f, f->owner, RUN_A);
	make_workdir(f, f->owner, RUN_A, NODE);
	assert_int_equal(aml_node_rundir_end_job(&e, collect, f),
			 AML_RUNDIR_FATE_REMOVED);
	assert_string_equal(history_file(f, RUN_A, "outputs/x", text,
					 sizeof(text)), CONTENT);
	assert_string_equal(history_file(f, RUN_A, "logs/l.txt", text,
					 sizeof(text)), "log\n");
	said_has(f, "run " RUN_A ": outputs of node n1 delivered by the "
		 "epilog");
	assert_false(exists(in_run(f, f->owner, RUN_A, NULL, path,
				   sizeof(path))));
}

/* slurmstepd's SPANK epilog runs with its stdin closed, so the epilog's
 * first descriptors are 0 and up, which a bounded child gets as
 * /dev/null: the run's directory must still be where its children work. */
static int child_epilog_without_stdin(struct fixture *f, const void *arg)
{
	(void)arg;
	close(STDIN_FILENO);
	return end_job(f, f->owner, RUN_A, 0) == AML_RUNDIR_FATE_REMOVED ? 0
									   : 1;
}

static void test_epilog_without_stdin(void **state)
{
	struct fixture *f = *state;
	char text[1024];
	pid_t pid;
	int status;

	create_run(f, f->owner, RUN_A);
	make_workdir(f, f->owner, RUN_A, NODE);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_epilog_without_stdin(f, NULL));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(history_file(f, RUN_A, "outputs/x", text,
					 sizeof(text)), CONTENT);
}

/* Queued in the spool is delivered: removed. */
static void test_spooled_is_delivered(void **state)
{
	struct fixture *f = *state;
	char path[4096], text[1024];
	glob_t g;

	create_run(f, f->owner, RUN_A);
	make_workdir(f, f->owner, RUN_A, NODE);
	history_away(f, 1);
	assert_int_equal(end_job(f, f->owner, RUN_A, 0),
			 AML_RUNDIR_FATE_REMOVED);
	assert_false(exists(in_run(f, f->owner, RUN_A, NULL, path,
				   sizeof(path))));
	snprintf(path, sizeof(path), "%s/*/q/*/files/x", f->spool);
	assert_int_equal(glob(path, 0, NULL, &g), 0);
	assert_int_equal(g.gl_pathc, 1);
	read_text(g.gl_pathv[0], text, sizeof(text));
	assert_string_equal(text, CONTENT);
	globfree(&g);
}

/* Neither run history nor the spool: kept, marked with the time and
 * why, said, counted; aml-epilog's retry fails while the fault lasts,
 * then delivers and removes it. */
static void test_kept_then_delivered(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_stats st;
	char path[4096], text[4096], *nl;
	struct aml_userdir own;
	int rdir;

	create_run(f, f->owner, RUN_A);
	make_workdir(f, f->owner, RUN_A, NODE);
	history_away(f, 1);
	spool_unusable(f, 1);
	assert_int_equal(end_job(f, f->owner, RUN_A, 0), AML_RUNDIR_FATE_KEPT);
	assert_true(exists(in_run(f, f->owner, RUN_A, NODE "/outputs/x", path,
				  sizeof(path))));
	assert_false(exists(in_run(f, f->owner, RUN_A, ".attempt-" NODE, path,
				   sizeof(path))));
	read_text(in_run(f, f->owner, RUN_A, ".undelivered-" NODE, path,
			 sizeof(path)), text, sizeof(text));
	/* "<time> <why>", then how to deliver it. */
	nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_true(text[4] == '-' && text[10] == 'T');
	assert_non_null(strstr(text, "outputs/: "));
	assert_true(nl - text < 1200);
	assert_string_equal(nl + 1, "run " EXP " - keep 0\n");
	said_has(f, "run " RUN_A ": outputs of node n1 not delivered (outputs/: ");
	said_has(f, "; kept in ");
	said_has(f, "/" RUN_A "/n1 until they are (aml-epilog retries at "
		 "every job's end)");
	assert_true(ledger_entry(f, f->owner, RUN_A) > 0);
	/* The node side may not start another attempt over it. */
	if (geteuid() == 0)
		assert_int_equal(seteuid(f->owner), 0);
	assert_int_equal(aml_node_rundir_open_user_root(f->runs, 0, &own,
							f->err,
							sizeof(f->err)), 0);
	rdir = aml_node_rundir_open_run(own.fd, own.path, RUN_A, 0, f->err,
					sizeof(f->err));
	assert_true(rdir >= 0);
	assert_int_equal(aml_node_rundir_is_kept(rdir, NODE), 1);
	assert_int_equal(aml_node_rundir_is_kept(rdir, "n2"), 0);
	close(rdir);
	aml_userdir_close(&own);
	if (geteuid() != getuid())
		assert_int_equal(seteuid(0), 0);

	/* Still away: kept. */
	retry(f, NODE, 10000, &st);
	assert_int_equal(st.kept, 1);
	assert_int_equal(st.delivered, 0);
	assert_int_equal(st.waiting, 1);
	said_has(f, "run " RUN_A ": outputs of node n1 still not delivered");
	assert_true(exists(in_run(f, f->owner, RUN_A, NODE "/outputs/x", path,
				  sizeof(path))));
	assert_true(ledger_entry(f, f->owner, RUN_A) > 0);

	/* Back: delivered, removed, forgotten. */
	history_away(f, 0);
	spool_unusable(f, 0);
	retry(f, NODE, 10000, &st);
	assert_int_equal(st.kept, 1);
	assert_int_equal(st.delivered, 1);
	assert_int_equal(st.waiting, 0);
	said_has(f, "run " RUN_A ": outputs of node n1 delivered to run "
		 "history; ");
	assert_string_equal(history_file(f, RUN_A, "outputs/x", text,
					 sizeof(text)), CONTENT);
	assert_false(exists(in_run(f, f->owner, RUN_A, NULL, path,
				   sizeof(path))));
	assert_int_equal(ledger_entry(f, f->owner, RUN_A), -1);
	/* Nothing left: a round says nothing. */
	retry(f, NULL, 10000, &st);
	assert_int_equal(st.kept, 0);
	assert_string_equal(f->said, "");
}

/* Past KeptRunDirMax: removed anyway, said loudly with what the admin
 * can do, and the loss is recorded in the run once run history is
 * back (noted beside meanwhile). */
static void test_bound_removes_and_records(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_stats st;
	char path[4096], text[4096], props[8192];

	create_run(f, f->owner, RUN_A);
	make_workdir(f, f->owner, RUN_A, NODE);
	f->site.kept_run_dir_max = 1024;
	history_away(f, 1);
	spool_unusable(f, 1);
	assert_int_equal(end_job(f, f->owner, RUN_A, 0), AML_RUNDIR_FATE_LOST);
	assert_false(exists(in_run(f, f->owner, RUN_A, NODE, path,
				   sizeof(path))));
	assert_false(exists(in_run(f, f->owner, RUN_A, ".undelivered-" NODE,
				   path, sizeof(path))));
	assert_int_equal(ledger_entry(f, f->owner, RUN_A), -1);
	said_has(f, "3 run " RUN_A ": outputs of node n1 (");
	said_has(f, ") not delivered and removed: kept run directories on "
		 "this node would exceed KeptRunDirMax=1K; outputs/: ");
	said_has(f, "(the admin can raise KeptRunDirMax");
	read_text(in_run(f, f->owner, RUN_A, ".lost-" NODE, path,
			 sizeof(path)), text, sizeof(text));
	assert_true(!strncmp(text, "run " RUN_A ": outputs of node n1 (", 34));
	assert_non_null(strstr(text, "\nrun " EXP " - keep 0\n"));

	/* Back: the run is told, the note goes, then the run's directory. */
	history_away(f, 0);
	spool_unusable(f, 0);
	retry(f, NODE, 10000, &st);
	assert_int_equal(st.noted, 1);
	assert_int_equal(st.waiting, 0);
	history_file(f, RUN_A, "properties.json", props, sizeof(props));
	assert_non_null(strstr(props, "\"aml.outputs_lost.n1\""));
	assert_non_null(strstr(props, "would exceed KeptRunDirMax=1K"));
	assert_false(exists(in_run(f, f->owner, RUN_A, NULL, path,
				   sizeof(path))));
	/* A second round has nothing to say. */
	retry(f, NODE, 10000, &st);
	assert_int_equal(st.noted, 0);
}

/* The upload fails with run history there (a file where outputs/ goes
 * in the run; the spool unusable, so it cannot be queued either): past
 * the bound, the loss is recorded in the run at once, and nothing of the
 * run is left on the node. */
static int child_block_outputs(struct fixture *f, const void *arg)
{
	char pattern[4096], p[4096];
	glob_t g;
	int r;

	(void)arg;
	snprintf(pattern, sizeof(pattern), "%s/*/%s/%s", f->hist, EXP, RUN_A);
	if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc != 1)
		return 1;
	snprintf(p, sizeof(p), "%s/outputs", g.gl_pathv[0]);
	globfree(&g);
	r = write_file(AT_FDCWD, p, "in the way\n");
	return r < 0 ? 2 : 0;
}

static void test_bound_records_at_once(void **state)
{
	struct fixture *f = *state;
	char path[4096], props[8192];

	create_run(f, f->owner, RUN_A);
	make_workdir(f, f->owner, RUN_A, NODE);
	assert_int_equal(as(f, f->owner, child_block_outputs, NULL), 0);
	f->site.kept_run_dir_max = 1;
	spool_unusable(f, 1);
	assert_int_equal(end_job(f, f->owner, RUN_A, 0), AML_RUNDIR_FATE_LOST);
	said_has(f, "would exceed KeptRunDirMax=1; outputs/: ");
	said_has(f, "recorded in the run as aml.outputs_lost.n1");
	history_file(f, RUN_A, "properties.json", props, sizeof(props));
	assert_non_null(strstr(props, "\"aml.outputs_lost.n1\""));
	assert_false(exists(in_run(f, f->owner, RUN_A, NULL, path,
				   sizeof(path))));
}

/* The bound counts every kept directory of the node: within it, kept;
 * the one that would pass it, removed. */
static void test_bound_counts_all_kept(void **state)
{
	struct fixture *f = *state;
	char path[4096];
	long long first;

	create_run(f, f->owner, RUN_A);
	create_run(f, f->owner, RUN_B);
	make_workdir(f, f->owner, RUN_A, NODE);
	make_workdir(f, f->owner, RUN_B, NODE);
	history_away(f, 1);
	spool_unusable(f, 1);
	assert_int_equal(end_job(f, f->owner, RUN_A, 0), AML_RUNDIR_FATE_KEPT);
	first = ledger_entry(f, f->owner, RUN_A);
	assert_true(first > 0);
	/* Room for one and a half such directories. */
	f->site.kept_run_dir_max = (uint64_t)(first + first / 2);
	assert_int_equal(end_job(f, f->owner, RUN_B, 0), AML_RUNDIR_FATE_LOST);
	assert_true(exists(in_run(f, f->owner, RUN_A, NODE, path,
				  sizeof(path))));
	assert_false(exists(in_run(f, f->owner, RUN_B, NODE, path,
				   sizeof(path))));
	assert_int_equal(ledger_entry(f, f->owner, RUN_B), -1);
	/* With room for both, both are kept. */
	f->site.kept_run_dir_max = (uint64_t)(3 * first);
	make_workdir(f, f->owner, RUN_B, NODE);
	assert_int_equal(end_job(f, f->owner, RUN_B, 0), AML_RUNDIR_FATE_KEPT);
	assert_true(ledger_entry(f, f->owner, RUN_B) > 0);
}

/* KeepFailedRunDir: kept whatever; delivered later, it still stays. */
static void test_keep_failed(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_stats st;
	char path[4096], text[4096];

	create_run(f, f->owner, RUN_A);
	make_workdir(f, f->owner, RUN_A, NODE);
	f->site.kept_run_dir_max = 1;
	history_away(f, 1);
	spool_unusable(f, 1);
	assert_int_equal(end_job(f, f->owner, RUN_A, 1),
			 AML_RUNDIR_FATE_KEPT_FAILED);
	said_has(f, "kept (KeepFailedRunDir=yes); its outputs are not "
		 "delivered (");
	assert_int_equal(ledger_entry(f, f->owner, RUN_A), -1);
	read_text(in_run(f, f->owner, RUN_A, ".undelivered-" NODE, path,
			 sizeof(path)), text, sizeof(text));
	assert_non_null(strstr(text, "\nrun " EXP " - keep 1\n"));
	history_away(f, 0);
	spool_unusable(f, 0);
	retry(f, NODE, 10000, &st);
	assert_int_equal(st.delivered, 1);
	assert_string_equal(history_file(f, RUN_A, "outputs/x", text,
					 sizeof(text)), CONTENT);
	assert_true(exists(in_run(f, f->owner, RUN_A, NODE "/outputs/x", path,
				  sizeof(path))));
	assert_false(exists(in_run(f, f->owner, RUN_A, ".undelivered-" NODE,
				   path, sizeof(path))));
}

/* Another job's directory (a job submitted from inside the run) is left
 * alone. */
static void test_other_job_left_alone(void **state)
{
	struct fixture *f = *state;
	const struct workdir_req q = { RUN_A, NODE, 7 };
	char path[4096];

	assert_int_equal(as(f, f->owner, child_make_workdir, &q), 0);
	assert_int_equal(end_job(f, f->owner, RUN_A, 0),
			 AML_RUNDIR_FATE_NOT_OURS);
	said_has(f, "belongs to job 7, not 42: left alone");
	assert_true(exists(in_run(f, f->owner, RUN_A, NODE "/outputs/x", path,
				  sizeof(path))));
}

/* What a user plants in their own tree: a marker whose node directory
 * is a symlink to another directory of theirs, a FIFO for a marker, a
 * run directory that is a symlink, junk in RunDir.  Nothing is
 * followed, nothing blocks, the target is untouched and not uploaded. */
static int child_plant(struct fixture *f, const void *arg)
{
	char root[1024], p[4096], elsewhere[2048];
	int r = 0;

	(void)arg;
	user_root(f, geteuid(), root, sizeof(root));
	snprintf(elsewhere, sizeof(elsewhere), "%s/%s/" NODE, root, RUN_A);
	snprintf(p, sizeof(p), "%s/" RUN_B, root);
	r |= mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/" RUN_B "/.undelivered-" NODE, root);
	r |= write_file(AT_FDCWD, p, "2026-01-01T00:00:00.000Z planted\n"
			"run " EXP " - keep 0\n");
	snprintf(p, sizeof(p), "%s/" RUN_B "/" NODE, root);
	r |= symlink(elsewhere, p);
	snprintf(p, sizeof(p), "%s/" RUN_B "/.undelivered-n2", root);
	r |= mkfifo(p, 0600);
	snprintf(p, sizeof(p), "%s/keep_1764089396_0c0c0c0c", root);
	r |= symlink(elsewhere, p);
	return r ? 1 : 0;
}

static void test_planted_entries_not_followed(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_stats st;
	char path[4096], text[1024];
	int64_t t0;

	create_run(f, f->owner, RUN_A);
	create_run(f, f->owner, RUN_B);
	make_workdir(f, f->owner, RUN_A, NODE);
	assert_int_equal(as(f, f->owner, child_plant, NULL), 0);
	snprintf(path, sizeof(path), "%s/junk", f->runs);
	assert_int_equal(write_file(AT_FDCWD, path, ""), 0);
	snprintf(path, sizeof(path), "%s/alias", f->runs);
	user_root(f, f->owner, text, sizeof(text));
	assert_int_equal(symlink(text, path), 0);
	t0 = aml_monotonic_ms();
	retry(f, NULL, 10000, &st);
	assert_true(aml_monotonic_ms() - t0 < 5000);
	said_has(f, "/alias (uid ");
	said_has(f, ") is a symbolic link (not followed): skipped");
	said_has(f, "/junk (uid ");
	said_has(f, "run " RUN_B ": outputs of node n1 still not delivered "
		 "(n1: is a symbolic link, not followed)");
	said_has(f, ".undelivered-n2 is no marker slurm-aml wrote: skipped");
	said_has(f, "/keep_1764089396_0c0c0c0c is a symbolic link (not "
		 "followed): skipped");
	assert_int_equal(st.delivered, 0);
	/* The target is whole, in place, and was uploaded to no run. */
	assert_true(exists(in_run(f, f->owner, RUN_A, NODE "/outputs/x", path,
				  sizeof(path))));
	assert_string_equal(history_file(f, RUN_B, "outputs/x", text,
					 sizeof(text)), "");
	assert_string_equal(history_file(f, RUN_A, "outputs/x", text,
					 sizeof(text)), "");
}

/* As root, across users: a hostile user's marker and symlinks into the
 * victim's kept directory touch nothing of the victim's, while the
 * victim's own fault lasts (their history tree closed to them, their
 * spool unusable). */
static int child_plant_into(struct fixture *f, const void *arg)
{
	const char *victim_run = arg;
	char root[1024], vroot[1024], p[4096], t[4096];
	int r = 0;

	user_root(f, geteuid(), root, sizeof(root));
	user_root(f, NOBODY, vroot, sizeof(vroot));
	{
		struct aml_userdir own;
		char err[256];

		if (aml_node_rundir_open_user_root(f->runs, 1, &own, err,
						   sizeof(err)) < 0)
			return 2;
		aml_userdir_close(&own);
	}
	snprintf(p, sizeof(p), "%s/" RUN_B, root);
	r |= mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/" RUN_B "/.undelivered-" NODE, root);
	r |= write_file(AT_FDCWD, p, "2026-01-01T00:00:00.000Z planted\n"
			"run " EXP " - keep 0\n");
	snprintf(p, sizeof(p), "%s/" RUN_B "/" NODE, root);
	snprintf(t, sizeof(t), "%s/%s/" NODE, vroot, victim_run);
	r |= symlink(t, p);
	snprintf(p, sizeof(p), "%s/%s", root, victim_run);
	snprintf(t, sizeof(t), "%s/%s", vroot, victim_run);
	r |= symlink(t, p);
	return r ? 1 : 0;
}

static void test_hostile_user_cannot_reach_victim(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_stats st;
	char path[4096], text[1024], vtree[4096], vspool[256];
	glob_t g;

	if (geteuid() != 0) {
		print_message("# SKIP: needs root to be two users\n");
		skip();
	}
	create_run(f, NOBODY, RUN_A);
	make_workdir(f, NOBODY, RUN_A, NODE);
	create_run(f, OTHER, RUN_B);
	/* The victim's fault: history away, spool unusable. */
	history_away(f, 1);
	spool_unusable(f, 1);
	assert_int_equal(end_job(f, NOBODY, RUN_A, 0), AML_RUNDIR_FATE_KEPT);
	history_away(f, 0);
	spool_unusable(f, 0);
	/* ... which lasts for the victim alone: their tree in HistoryDir
	 * and their spool closed to them. */
	snprintf(path, sizeof(path), "%s/*/%s/%s", f->hist, EXP, RUN_A);
	assert_int_equal(glob(path, 0, NULL, &g), 0);
	snprintf(vtree, sizeof(vtree), "%s", g.gl_pathv[0]);
	globfree(&g);
	*strrchr(vtree, '/') = '\0';
	*strrchr(vtree, '/') = '\0';
	assert_int_equal(chmod(vtree, 0), 0);
	snprintf(vspool, sizeof(vspool), "%s/%d", f->spool, NOBODY);
	/* Made by the victim's first write, or now. */
	if (mkdir(vspool, 0700) != 0)
		assert_int_equal(errno, EEXIST);
	assert_int_equal(chown(vspool, NOBODY, NOBODY), 0);
	assert_int_equal(chmod(vspool, 0), 0);
	assert_int_equal(as(f, OTHER, child_plant_into, RUN_A), 0);

	retry(f, NULL, 20000, &st);
	assert_int_equal(chmod(vtree, 0700), 0);
	assert_int_equal(chmod(vspool, 0700), 0);
	said_has(f, "run " RUN_B ": outputs of node n1 still not delivered "
		 "(n1: ");
	said_has(f, "/" RUN_A " is a symbolic link (not followed): skipped");
	said_has(f, "run " RUN_A ": outputs of node n1 still not delivered");
	/* The victim's directory is whole; nothing of it went anywhere. */
	assert_true(exists(in_run(f, NOBODY, RUN_A, NODE "/outputs/x", path,
				  sizeof(path))));
	assert_true(exists(in_run(f, NOBODY, RUN_A, ".undelivered-" NODE,
				  path, sizeof(path))));
	assert_string_equal(history_file(f, RUN_B, "outputs/x", text,
					 sizeof(text)), "");
	snprintf(path, sizeof(path), "%s/*/q/*/files/x", f->spool);
	assert_int_not_equal(glob(path, 0, NULL, &g), 0);
	globfree(&g);

	/* The victim's fault lifted: theirs delivered, to their run. */
	retry(f, NULL, 20000, &st);
	assert_string_equal(history_file(f, RUN_A, "outputs/x", text,
					 sizeof(text)), CONTENT);
	assert_false(exists(in_run(f, NOBODY, RUN_A, NULL, path,
				   sizeof(path))));
}

/* A tree with more entries than a round looks at: said, and the round
 * still ends. */
static int child_many(struct fixture *f, const void *arg)
{
	char root[1024], p[4096];
	struct aml_userdir own;
	char err[256];

	(void)arg;
	if (aml_node_rundir_open_user_root(f->runs, 1, &own, err,
					   sizeof(err)) < 0)
		return 1;
	aml_userdir_close(&own);
	user_root(f, geteuid(), root, sizeof(root));
	for (int i = 0; i < 10050; i++) {
		snprintf(p, sizeof(p), "%s/r%05d", root, i);
		if (write_file(AT_FDCWD, p, "") < 0)
			return 2;
	}
	return 0;
}

static void test_huge_tree_bounded(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_stats st;

	assert_int_equal(as(f, f->owner, child_many, NULL), 0);
	retry(f, NULL, 10000, &st);
	said_has(f, ": more than 10000 entries; the rest wait for a later "
		 "round");
}

/* Attempt markers: written, read, and a FIFO of that name blocks
 * nothing. */
static void test_attempt_marker(void **state)
{
	struct fixture *f = *state;
	char name[NAME_MAX + 1];
	uint32_t job;
	unsigned attempt;
	int dir = open(f->base, O_RDONLY | O_DIRECTORY);

	assert_true(dir >= 0);
	assert_int_equal(aml_node_rundir_marker(name, sizeof(name),
						AML_RUNDIR_ATTEMPT, "n1"), 0);
	assert_string_equal(name, ".attempt-n1");
	assert_int_equal(aml_node_rundir_marker(name, sizeof(name),
						AML_RUNDIR_ATTEMPT, "a/b"), -1);
	assert_int_equal(aml_node_rundir_marker(name, sizeof(name),
						AML_RUNDIR_ATTEMPT, ".."), -1);
	assert_int_equal(aml_node_rundir_marker(name, 12, AML_RUNDIR_ATTEMPT,
						"n1"), -1);
	assert_int_equal(aml_node_rundir_read_attempt(dir, ".attempt-n1", &job,
						      &attempt), 0);
	assert_int_equal(aml_node_rundir_write_attempt(dir, ".attempt-n1", 9,
						       3), 0);
	assert_int_equal(aml_node_rundir_read_attempt(dir, ".attempt-n1", &job,
						      &attempt), 1);
	assert_int_equal(job, 9);
	assert_int_equal(attempt, 3);
	assert_int_equal(mkfifoat(dir, ".attempt-n2", 0600), 0);
	assert_int_equal(aml_node_rundir_read_attempt(dir, ".attempt-n2", &job,
						      &attempt), -1);
	close(dir);
}

/* A marker's "run" line: written for what is known ('-' for the rest)
 * and read back; a value not of its form is refused. */
static void test_run_line(void **state)
{
	struct run_name rn;
	char line[AML_RUNID_MAX + TRACKING_MAX + 32];

	(void)state;
	nr_format_run_line(line, sizeof(line), EXP, "", 1);
	assert_string_equal(line, "run keep - keep 1\n");
	assert_int_equal(nr_parse_run_line(line, &rn), 0);
	assert_string_equal(rn.experiment, EXP);
	assert_string_equal(rn.tracking, "");
	assert_int_equal(rn.keep, 1);
	nr_format_run_line(line, sizeof(line), NULL, NULL, 0);
	assert_string_equal(line, "run - - keep 0\n");
	assert_int_equal(nr_parse_run_line(line, &rn), 0);
	assert_string_equal(rn.experiment, "");
	assert_int_equal(rn.keep, 0);
	/* keep is optional; anything but 1 is not kept. */
	assert_int_equal(nr_parse_run_line("run exp -", &rn), 0);
	assert_int_equal(rn.keep, 0);
	assert_int_equal(nr_parse_run_line("run exp - keep 7", &rn), 0);
	assert_int_equal(rn.keep, 0);
	assert_int_equal(nr_parse_run_line("run ../x -", &rn), -1);
	assert_int_equal(nr_parse_run_line("run exp", &rn), -1);
	assert_int_equal(nr_parse_run_line("walk exp -", &rn), -1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_delivered_mark_removes),
		T(test_mark_refused_elsewhere),
		T(test_epilog_delivers),
		T(test_epilog_without_stdin),
		T(test_spooled_is_delivered),
		T(test_kept_then_delivered),
		T(test_bound_removes_and_records),
		T(test_bound_records_at_once),
		T(test_bound_counts_all_kept),
		T(test_keep_failed),
		T(test_other_job_left_alone),
		T(test_planted_entries_not_followed),
		T(test_hostile_user_cannot_reach_victim),
		T(test_huge_tree_bounded),
		T(test_attempt_marker),
		T(test_run_line),
	};

	/* Messages go to syslog too in production; not from tests. */
	(void)LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
