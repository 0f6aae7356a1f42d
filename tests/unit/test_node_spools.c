/*
 * test_node_spools.c: delivering every user's spool on a node
 * (plugin/node_spools.c), as aml-epilog does at a job's end: each user's
 * queued writes reach run history as that user, whatever their spool's
 * name; what is no spool (a symlink, a file, a directory open to others)
 * is skipped and said; a user holding their own spool's lock holds up no
 * one else and costs a bounded time; root's own spool is left alone.
 *
 * Needs root (it acts as other users); every test skips without it.
 * Children made with fork() never call cmocka: they report through their
 * exit status.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "bounded.h"
#include "event.h"
#include "history.h"
#include "node_spools.h"
#include "site.h"
#include "spool.h"
#include "tree.h"

#define NOBODY 65534
#define OTHER 65533
#define EXP "hello"
#define RUN_A "hello_1764089396_0a0a0a0a"
#define RUN_B "hello_1764089396_0b0b0b0b"

struct fixture {
	char base[64];
	char hist[128], away[128], spool[128];
	struct aml_site site;
	char said[8192];      /* every line said, one per line */
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_node_spools.XXXXXX");
	if (!mkdtemp(f->base) || chmod(f->base, 0755) != 0)
		return -1;
	snprintf(f->hist, sizeof(f->hist), "%s/history", f->base);
	snprintf(f->away, sizeof(f->away), "%s/history.away", f->base);
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->base);
	if (mkdir(f->hist, 0700) || chmod(f->hist, 01777) ||
	    mkdir(f->spool, 0700) || chmod(f->spool, 01777))
		return -1;
	if (aml_site_defaults(&f->site) != 0)
		return -1;
	free(f->site.history_dir);
	free(f->site.spool_dir);
	f->site.history_dir = strdup(f->hist);
	f->site.spool_dir = strdup(f->spool);
	f->site.history_backend = AML_HISTORY_FILE;
	*state = f;
	return f->site.history_dir && f->site.spool_dir ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_site_free(&f->site);
	aml_tree_remove(AT_FDCWD, f->base);
	free(f);
	return 0;
}

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		print_message("# SKIP: needs root to act as other users\n");
		skip();
	}
}

static void collect(void *ctx, int level, const char *line)
{
	struct fixture *f = ctx;
	size_t n = strlen(f->said);

	(void)level;
	snprintf(f->said + n, sizeof(f->said) - n, "%s\n", line);
}

/* ---- as a user, in a child ---- */

/* What a user's node writes: the run, then (history away) events that
 * wait in the user's spool. */
struct user_writes {
	const char *run_id;
	int queued;               /* events to queue once history is away */
};

static int child_writes(struct fixture *f, const struct user_writes *w)
{
	struct aml_history *h;
	struct aml_event ev;
	struct aml_run_new req = { EXP, w->run_id, "{}", NULL, NULL, &ev };
	static const enum aml_status later[] = { AML_STATUS_QUEUED,
						 AML_STATUS_RUNNING,
						 AML_STATUS_FINALIZING };
	char err[1024];

	if (aml_history_open(&f->site, &h, err, sizeof(err)) < 0 ||
	    aml_event_init(&ev, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH) ||
	    aml_history_create_run(h, &req, err, sizeof(err)) !=
		    AML_HISTORY_WRITTEN)
		return 1;
	aml_event_free(&ev);
	/* Only the test (root) moves history; a user just finds it gone. */
	for (int i = 0; i < 100 && access(f->away, F_OK) != 0; i++)
		usleep(20000);
	for (int i = 0; i < w->queued; i++) {
		if (aml_event_init(&ev, later[i], AML_SOURCE_LAUNCHER))
			return 2;
		if (aml_history_record(h, EXP, w->run_id, &ev, err,
				       sizeof(err)) != AML_HISTORY_SPOOLED)
			return 3;
		aml_event_free(&ev);
	}
	aml_history_close(h);
	return 0;
}

static pid_t as_user(struct fixture *f, uid_t uid,
		     const struct user_writes *w)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t g = (gid_t)uid;

		if (setgroups(1, &g) || setgid(g) || setuid(uid))
			_exit(100);
		_exit(child_writes(f, w));
	}
	return pid;
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

/* <HistoryDir>/<the owner's tree>/<EXP>/<run_id>/events.jsonl, into
 * [path]; 0, or -1 when the run is not there. */
static int events_path(struct fixture *f, const char *run_id, char *path,
		       size_t len)
{
	char pattern[256];
	glob_t g;
	int rc = -1;

	snprintf(pattern, sizeof(pattern), "%s/*/%s/%s/events.jsonl", f->hist,
		 EXP, run_id);
	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1) {
		snprintf(path, len, "%s", g.gl_pathv[0]);
		rc = 0;
	}
	globfree(&g);
	return rc;
}

/* Both users' runs made, then [na] and [nb] events queued in their
 * spools while history is away; history back. */
static void two_users_waiting(struct fixture *f, int na, int nb)
{
	const struct user_writes wa = { RUN_A, na }, wb = { RUN_B, nb };
	pid_t a, b;

	/* Runs first, history there; then away for the events. */
	a = as_user(f, NOBODY, &wa);
	b = as_user(f, OTHER, &wb);
	/* Give both a moment to create their runs before history goes. */
	for (int i = 0; i < 500; i++) {
		char path[256];

		if (events_path(f, RUN_A, path, sizeof(path)) == 0 &&
		    events_path(f, RUN_B, path, sizeof(path)) == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(rename(f->hist, f->away), 0);
	assert_int_equal(wait_child(a), 0);
	assert_int_equal(wait_child(b), 0);
	assert_int_equal(rename(f->away, f->hist), 0);
}

static int lines_of(struct fixture *f, const char *run_id)
{
	char path[256];
	int n = 0, c;
	FILE *fp;

	if (events_path(f, run_id, path, sizeof(path)) < 0)
		return -1;
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

/* The path of [uid]'s spool (its only directory in SpoolDir). */
static const char *spool_of(struct fixture *f, uid_t uid)
{
	static char path[256];
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find %s -mindepth 1 -maxdepth 1 -uid %lu "
		 "-type d", f->spool, (unsigned long)uid);
	p = popen(cmd, "r");
	assert_non_null(p);
	path[0] = '\0';
	if (!fgets(path, sizeof(path), p))
		path[0] = '\0';
	pclose(p);
	path[strcspn(path, "\n")] = '\0';
	assert_true(path[0] != '\0');
	return path;
}

static void deliver_ok(struct fixture *f, uid_t first, int64_t ms,
		       struct aml_node_spools_stats *st)
{
	f->said[0] = '\0';
	if (aml_node_spools_deliver(&f->site, first, (gid_t)first, 0,
				    aml_monotonic_ms() + ms, st, collect, f,
				    f->err, sizeof(f->err)) != 0)
		fail_msg("deliver: %s", f->err);
	assert_int_equal(geteuid(), 0);
	assert_int_equal(getegid(), 0);
}

/* ---- tests ---- */

static void test_every_user_delivered_as_owner(void **state)
{
	struct fixture *f = *state;
	struct aml_node_spools_stats st;

	skip_unless_root();
	two_users_waiting(f, 3, 2);
	assert_int_equal(lines_of(f, RUN_A), 1);
	assert_int_equal(lines_of(f, RUN_B), 1);
	deliver_ok(f, NOBODY, 10000, &st);
	assert_int_equal(st.spools, 2);
	assert_int_equal(st.tried, 2);
	assert_int_equal(st.delivered, 5);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(lines_of(f, RUN_A), 4);
	assert_int_equal(lines_of(f, RUN_B), 3);
	/* Nothing said but what was delivered. */
	assert_non_null(strstr(f->said, "(uid 65534): 3 delivered"));
	assert_non_null(strstr(f->said, "(uid 65533): 2 delivered"));
	/* A second round finds nothing and says nothing. */
	deliver_ok(f, (uid_t)-1, 10000, &st);
	assert_int_equal(st.delivered, 0);
	assert_string_equal(f->said, "");
}

/* A spool's name is nobody's proof: OTHER's spool named after NOBODY's
 * uid is delivered as OTHER, NOBODY's under its own other name. */
static void test_names_decide_nothing(void **state)
{
	struct fixture *f = *state;
	struct aml_node_spools_stats st;
	char a[256], b[256], tmp[256];

	skip_unless_root();
	two_users_waiting(f, 1, 1);
	snprintf(a, sizeof(a), "%s", spool_of(f, NOBODY));
	snprintf(b, sizeof(b), "%s", spool_of(f, OTHER));
	snprintf(tmp, sizeof(tmp), "%s/x", f->spool);
	assert_int_equal(rename(a, tmp), 0);
	assert_int_equal(rename(b, a), 0);          /* OTHER's as "65534" */
	snprintf(b, sizeof(b), "%s/65534.0badf00d", f->spool);
	assert_int_equal(rename(tmp, b), 0);
	deliver_ok(f, NOBODY, 10000, &st);
	assert_int_equal(st.delivered, 2);
	assert_int_equal(lines_of(f, RUN_A), 2);
	assert_int_equal(lines_of(f, RUN_B), 2);
}

/* Not a spool: skipped, said, and never entered. */
static void test_skips(void **state)
{
	struct fixture *f = *state;
	struct aml_node_spools_stats st;
	char path[256], target[256];

	skip_unless_root();
	two_users_waiting(f, 1, 1);
	/* NOBODY's spool opened to the group: not delivered, and said. */
	snprintf(target, sizeof(target), "%s", spool_of(f, NOBODY));
	assert_int_equal(chmod(target, 0770), 0);
	/* A symlink to OTHER's, and a file. */
	snprintf(path, sizeof(path), "%s/link", f->spool);
	assert_int_equal(symlink(spool_of(f, OTHER), path), 0);
	assert_int_equal(lchown(path, OTHER, OTHER), 0);
	snprintf(path, sizeof(path), "%s/file", f->spool);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(chown(path, NOBODY, NOBODY), 0);
	deliver_ok(f, NOBODY, 10000, &st);
	assert_int_equal(st.spools, 1);
	assert_int_equal(st.skipped, 3);
	assert_int_equal(st.delivered, 1);
	assert_int_equal(lines_of(f, RUN_A), 1);
	assert_int_equal(lines_of(f, RUN_B), 2);
	assert_non_null(strstr(f->said, "/link (uid 65533) is a symbolic link"));
	assert_non_null(strstr(f->said, "/file (uid 65534) is not a directory"));
	assert_non_null(strstr(f->said, "is open to group or others"));
	/* Its owner closes it again: delivered. */
	assert_int_equal(chmod(target, 0700), 0);
	deliver_ok(f, NOBODY, 10000, &st);
	assert_int_equal(lines_of(f, RUN_A), 2);
}

/* A user holding their spool's lock costs a bounded time and holds up
 * no one else; their entries wait for the next round. */
static void test_held_lock(void **state)
{
	struct fixture *f = *state;
	struct aml_node_spools_stats st;
	char path[256];
	int64_t t0, took;
	int fd;

	skip_unless_root();
	two_users_waiting(f, 2, 2);
	snprintf(path, sizeof(path), "%s/lock", spool_of(f, NOBODY));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	t0 = aml_monotonic_ms();
	/* NOBODY is the job's user: its share ends the round early. */
	deliver_ok(f, NOBODY, 1500, &st);
	took = aml_monotonic_ms() - t0;
	if (took > 3000)
		fail_msg("the round took %lld ms", (long long)took);
	assert_int_equal(lines_of(f, RUN_A), 1);
	assert_non_null(strstr(f->said, "(uid 65534): not done within"));
	/* Out of time for OTHER in that round; the next one starts
	 * elsewhere, and OTHER goes through while NOBODY still holds it. */
	deliver_ok(f, (uid_t)-1, 1500, &st);
	assert_int_equal(lines_of(f, RUN_B), 3);
	close(fd);
	deliver_ok(f, (uid_t)-1, 10000, &st);
	assert_int_equal(lines_of(f, RUN_A), 3);
	assert_int_equal(st.waiting, 0);
}

/* Root's spool is the finalizer's. */
static void test_root_spool_left_alone(void **state)
{
	struct fixture *f = *state;
	struct aml_node_spools_stats st;
	struct aml_spool sp;

	skip_unless_root();
	assert_int_equal(aml_spool_open(&sp, f->spool, f->err,
					sizeof(f->err)), 0);
	assert_int_equal(aml_spool_push(&sp, "{}", 2, -1, NULL, NULL, f->err,
					sizeof(f->err)), 0);
	deliver_ok(f, (uid_t)-1, 5000, &st);
	assert_int_equal(st.spools, 0);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(aml_spool_count(&sp, f->err, sizeof(f->err)), 1);
	aml_spool_close(&sp);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_every_user_delivered_as_owner),
		T(test_names_decide_nothing),
		T(test_skips),
		T(test_held_lock),
		T(test_root_spool_left_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
