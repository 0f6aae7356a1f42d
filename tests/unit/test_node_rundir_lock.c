/*
 * test_node_rundir_lock.c: plugin/node_rundir_lock.c, one node's claim on
 * a run's directory: the lock that makes a node's steps install one at a
 * time, and what an install finds there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node_rundir.h"
#include "node_rundir_lock.h"
#include "tree.h"

#define RUN "hello_1700000000_ab12cd34"
#define NODE "n1"
#define JOB 42

struct fixture {
	char base[64];
	char workdir[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->base, sizeof(f->base), "/tmp/test_rundir_lock.XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	snprintf(f->workdir, sizeof(f->workdir), "%s/root/%s/%s", f->base,
		 RUN, NODE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		(void)aml_tree_remove(fd, f->base + strlen("/tmp/"));
		close(fd);
	}
	free(f);
	return 0;
}

static void lock(struct fixture *f, struct aml_node_rundir_lock *l,
		 int create)
{
	char errbuf[1024];

	if (aml_node_rundir_lock(l, f->base, RUN, NODE, create, errbuf,
				 sizeof(errbuf)) != 0) {
		print_error("%s\n", errbuf);
		fail();
	}
}

/* A second opener waits while the first holds the lock, and goes on as
 * soon as it lets go. */
static void test_second_opener_waits(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_lock l;
	struct pollfd pfd;
	int pipefd[2], status;
	char c;
	pid_t pid;

	lock(f, &l, 1);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct aml_node_rundir_lock mine;
		char errbuf[1024];

		/* The lock is the open file's, which fork shares: the
		 * child is another step only once it lets go of its copy. */
		aml_node_rundir_unlock(&l);
		close(pipefd[0]);
		if (aml_node_rundir_lock(&mine, f->base, RUN, NODE, 0, errbuf,
					 sizeof(errbuf)) != 0)
			_exit(1);
		(void)!write(pipefd[1], "x", 1);
		aml_node_rundir_unlock(&mine);
		_exit(0);
	}
	close(pipefd[1]);
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	/* Still waiting while held. */
	assert_int_equal(poll(&pfd, 1, 300), 0);
	aml_node_rundir_unlock(&l);
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Unlocked twice is harmless. */
	aml_node_rundir_unlock(&l);
}

/* Without [create], a run directory that is not there is said. */
static void test_lock_without_create(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_lock l;
	char errbuf[1024];

	assert_int_equal(aml_node_rundir_lock(&l, f->base, RUN, NODE, 0,
					      errbuf, sizeof(errbuf)), -1);
	assert_int_equal(l.root, -1);
	assert_int_equal(l.rdir, -1);
	assert_int_equal(l.lock, -1);
	assert_null(l.root_path);
	assert_int_equal(aml_node_rundir_mark_attempt(f->base, RUN, NODE, JOB,
						      1, errbuf,
						      sizeof(errbuf)), -1);
}

static void test_node_name_too_long(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_lock l;
	char node[NAME_MAX + 1], errbuf[1024];

	memset(node, 'n', sizeof(node) - 1);
	node[sizeof(node) - 1] = '\0';
	assert_int_equal(aml_node_rundir_lock(&l, f->base, RUN, node, 1,
					      errbuf, sizeof(errbuf)), -1);
	assert_non_null(strstr(errbuf, "is too long"));
}

static int claim(struct fixture *f, struct aml_node_rundir_lock *l,
		 uint32_t job, unsigned attempt, int fresh, char *errbuf,
		 size_t errlen)
{
	return aml_node_rundir_claim(l, NODE, f->workdir, job, attempt, fresh,
				     errbuf, errlen);
}

/* Whether [name] is in the run's directory. */
static int present(struct aml_node_rundir_lock *l, const char *name)
{
	return faccessat(l->rdir, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Locked, with the node's working directory and, when [marker] is set,
 * the file [marker] beside it. */
static void lock_with(struct fixture *f, struct aml_node_rundir_lock *l,
		      const char *marker)
{
	lock(f, l, 1);
	assert_int_equal(mkdirat(l->rdir, NODE, 0700), 0);
	if (marker)
		close(openat(l->rdir, marker, O_CREAT | O_WRONLY, 0600));
}

/* The first step of an attempt installs; the others find its marker. */
static void test_claim_and_marker(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_lock l;
	char errbuf[1024];
	uint32_t job;
	unsigned attempt;

	lock(f, &l, 1);
	assert_int_equal(claim(f, &l, JOB, 1, 0, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(mkdirat(l.rdir, NODE, 0700), 0);
	assert_int_equal(aml_node_rundir_note_attempt(&l, RUN, JOB, 1, errbuf,
						      sizeof(errbuf)), 0);
	assert_int_equal(aml_node_rundir_read_attempt(l.rdir, l.marker, &job,
						      &attempt), 1);
	assert_int_equal(job, JOB);
	assert_int_equal(attempt, 1);
	/* The same attempt: installed already. */
	assert_int_equal(claim(f, &l, JOB, 1, 0, errbuf, sizeof(errbuf)), 1);
	/* The batch step installs afresh, the directory and marker gone. */
	assert_int_equal(claim(f, &l, JOB, 1, 1, errbuf, sizeof(errbuf)), 0);
	assert_false(present(&l, NODE));
	assert_int_equal(aml_node_rundir_read_attempt(l.rdir, l.marker, &job,
						      &attempt), 0);
	aml_node_rundir_unlock(&l);

	/* The batch task's marker, under the lock again. */
	assert_int_equal(aml_node_rundir_mark_attempt(f->base, RUN, NODE, JOB,
						      2, errbuf,
						      sizeof(errbuf)), 0);
	lock(f, &l, 0);
	/* A later attempt clears the earlier one's word it delivered. */
	assert_int_equal(mkdirat(l.rdir, NODE, 0700), 0);
	close(openat(l.rdir, l.delivered, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(claim(f, &l, JOB, 3, 0, errbuf, sizeof(errbuf)), 0);
	assert_false(present(&l, l.delivered));
	assert_false(present(&l, NODE));
	aml_node_rundir_unlock(&l);
}

/* Another job with the run's AML_RUN_ID never wipes the run's files. */
static void test_claim_refuses_another_job(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_lock l;
	char errbuf[1024], expected[PATH_MAX + 512];

	lock_with(f, &l, NULL);
	assert_int_equal(aml_node_rundir_note_attempt(&l, RUN, JOB, 1, errbuf,
						      sizeof(errbuf)), 0);
	assert_int_equal(claim(f, &l, JOB + 1, 1, 1, errbuf, sizeof(errbuf)),
			 -1);
	snprintf(expected, sizeof(expected), "%s belongs to job 42, not to "
		 "this job 43: a job submitted from inside a run inherits "
		 "AML_RUN_ID; unset it (and AML_LAUNCH_STEP) for jobs that "
		 "are not the run", f->workdir);
	assert_string_equal(errbuf, expected);
	assert_true(present(&l, NODE));
	aml_node_rundir_unlock(&l);
}

/* An earlier attempt's undelivered outputs stay: the attempt fails. */
static void test_claim_refuses_kept(void **state)
{
	struct fixture *f = *state;
	struct aml_node_rundir_lock l;
	char errbuf[1024], name[NAME_MAX + 1];

	assert_int_equal(aml_node_rundir_marker(name, sizeof(name),
						AML_RUNDIR_UNDELIVERED, NODE),
			 0);
	lock_with(f, &l, name);
	assert_int_equal(claim(f, &l, JOB, 2, 0, errbuf, sizeof(errbuf)), -1);
	assert_non_null(strstr(errbuf, "holds outputs of an earlier attempt"));
	assert_true(present(&l, NODE));
	aml_node_rundir_unlock(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_second_opener_waits,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_without_create,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_name_too_long,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_and_marker,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_refuses_another_job,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_refuses_kept,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
