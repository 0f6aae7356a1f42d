/*
 * test_launch_logs.c: the launcher's copy of the run's output
 * (tools/launch_logs.c, launch_stream.c, launch_logfiles.c), driven as
 * the launcher's loop drives it, against a file run history in a
 * temporary directory:
 *   - every byte in the job's output, in user_logs/ of the working
 *     directory and, live, in run history; srun's labels split by rank;
 *   - run history that stops taking the live copy: a FIFO open for
 *     reading and never read in place of the log, so the streamer's
 *     write blocks for real.  The launcher never waits: it gives up when
 *     its pending buffer would overflow, or when HistoryTimeout passes
 *     without progress (on a clock the test moves), with one line;
 *   - a log run history refuses, the end's bounded wait, the streamer's
 *     descriptors and signals, a local copy that cannot be written.
 * The launcher's stderr is a file here, so its lines can be read back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "event.h"
#include "fdio.h"
#include "history.h"
#include "launch_common.h"
#include "launch_logs.h"
#include "site.h"
#include "tree.h"

#define EXP "logs"
#define RUN "logs_1764000000_0000abcd"

struct fixture {
	char base[64];
	char hist[128];
	char spool[128];
	char work[128];
	char run[512];       /* the run's directory in run history */
	struct aml_site site;
	struct launch_ctx ctx;
	int out_fd;          /* the job's output: a file */
	int err_fd;          /* the launcher's stderr, while a test runs */
	int saved_stderr;
	int fifo_fd;         /* holds a FIFO open, unread; -1 */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct passwd *pw = getpwuid(geteuid());
	struct aml_kvlist props = { 0 };
	struct aml_event ev;
	struct aml_run_new req = { EXP, RUN, "{\"script\":\"train.py\"}",
				   &props, NULL, &ev };
	char err[1024], path[256];

	if (!f || !pw)
		return -1;
	f->fifo_fd = f->saved_stderr = -1;
	strcpy(f->base, "/tmp/test_launch_logs.XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	snprintf(f->hist, sizeof(f->hist), "%s/history", f->base);
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->base);
	snprintf(f->work, sizeof(f->work), "%s/work", f->base);
	if (mkdir(f->hist, 0700) != 0 || chmod(f->hist, 01777) != 0 ||
	    mkdir(f->spool, 0700) != 0 || chmod(f->spool, 01777) != 0 ||
	    mkdir(f->work, 0755) != 0)
		return -1;
	if (aml_site_defaults(&f->site) != 0)
		return -1;
	free(f->site.history_dir);
	free(f->site.spool_dir);
	f->site.history_dir = strdup(f->hist);
	f->site.spool_dir = strdup(f->spool);
	f->site.history_backend = AML_HISTORY_FILE;
	f->site.history_timeout_seconds = 1;
	if (!f->site.history_dir || !f->site.spool_dir ||
	    aml_history_open(&f->site, &f->ctx.h, err, sizeof(err)) != 0)
		return -1;
	aml_kvlist_set(&props, AML_PROP_COMPUTE_TARGET, "cpu");
	aml_event_init(&ev, AML_STATUS_NOT_STARTED, AML_SOURCE_SBATCH);
	if (aml_history_create_run(f->ctx.h, &req, err, sizeof(err)) ==
	    AML_HISTORY_ERROR) {
		fprintf(stderr, "create: %s\n", err);
		return -1;
	}
	aml_kvlist_free(&props);
	aml_event_free(&ev);
	snprintf(f->run, sizeof(f->run), "%s/%s/%s/%s", f->hist, pw->pw_name,
		 EXP, RUN);
	snprintf(path, sizeof(path), "%s/out", f->base);
	f->out_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	snprintf(path, sizeof(path), "%s/err", f->base);
	f->err_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	f->ctx.workdir_fd = open(f->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->out_fd < 0 || f->err_fd < 0 || f->ctx.workdir_fd < 0)
		return -1;
	f->ctx.experiment = EXP;
	f->ctx.run_id = RUN;
	f->ctx.attempt = 1;
	f->ctx.site = &f->site;
	/* The launcher's lines go to err_fd while the test runs. */
	fflush(stderr);
	f->saved_stderr = dup(STDERR_FILENO);
	if (f->saved_stderr < 0 || dup2(f->err_fd, STDERR_FILENO) < 0)
		return -1;
	/* As the launcher: a streamer that went away is EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fflush(stderr);
	dup2(f->saved_stderr, STDERR_FILENO);
	close(f->saved_stderr);
	if (f->fifo_fd >= 0)
		close(f->fifo_fd);
	close(f->out_fd);
	close(f->err_fd);
	close(f->ctx.workdir_fd);
	/* Streamers killed and not yet reaped: they die at once (a FIFO
	 * is no hung filesystem). */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	aml_history_close(f->ctx.h);
	aml_site_free(&f->site);
	aml_tree_remove(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* The whole of the file at [path] (NUL-ended, malloc'd); NULL if none. */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!fp)
		return NULL;
	do {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
	} while (got);
	fclose(fp);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void assert_file(char *got, size_t got_len, const char *want,
			size_t len);

static char *in_run(struct fixture *f, const char *rel, size_t *len)
{
	char path[768];

	snprintf(path, sizeof(path), "%s/%s", f->run, rel);
	return slurp(path, len);
}

static char *in_work(struct fixture *f, const char *rel, size_t *len)
{
	char path[768];

	snprintf(path, sizeof(path), "%s/%s", f->work, rel);
	return slurp(path, len);
}

/* <run in history>/[rel] holds exactly [len] bytes of [want]. */
static void assert_in_run(struct fixture *f, const char *rel,
			  const char *want, size_t len)
{
	size_t got = 0;
	char *text = in_run(f, rel, &got);

	assert_file(text, got, want, len);
}

/* <working directory>/[rel] holds exactly [len] bytes of [want]. */
static void assert_in_work(struct fixture *f, const char *rel,
			   const char *want, size_t len)
{
	size_t got = 0;
	char *text = in_work(f, rel, &got);

	assert_file(text, got, want, len);
}

/* What the launcher said on stderr so far. */
static char *said(struct fixture *f)
{
	char path[128];

	fflush(stderr);
	snprintf(path, sizeof(path), "%s/err", f->base);
	return slurp(path, NULL);
}

/* [got] (freed) is exactly the [len] bytes of [want]. */
static void assert_file(char *got, size_t got_len, const char *want,
			size_t len)
{
	assert_non_null(got);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, want, len);
	free(got);
}

/* "1\n2\n...": [n] bytes or a little more, whole lines. */
static char *numbers(size_t n, size_t *len)
{
	char *buf = malloc(n + 32);
	size_t at = 0;

	assert_non_null(buf);
	for (unsigned i = 1; at < n; i++)
		at += (size_t)sprintf(buf + at, "%u\n", i);
	*len = at;
	return buf;
}

/* Feed [len] bytes in reads of 64 KiB at most, as the launcher's loop. */
static void feed(struct launch_logs *l, const char *p, size_t len)
{
	while (len) {
		size_t n = len < 65536 ? len : 65536;

		launch_logs_feed(l, p, n);
		p += n;
		len -= n;
	}
}

/* Run history's std_log.txt becomes a FIFO, held open by the test and
 * never read: the streamer's writes block once it is full. */
static void hang_history(struct fixture *f, const char *name)
{
	char path[768];

	snprintf(path, sizeof(path), "%s/user_logs", f->run);
	assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/user_logs/%s", f->run, name);
	assert_int_equal(mkfifo(path, 0600), 0);
	f->fifo_fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(f->fifo_fd >= 0);
}

/* The launcher's child: the log streamer (there is no other here). */
static pid_t streamer_pid(void)
{
	char path[64], text[64] = "";
	FILE *fp;
	long pid = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
		 (long)syscall(SYS_gettid));
	fp = fopen(path, "r");
	if (fp) {
		if (fgets(text, sizeof(text), fp))
			pid = strtol(text, NULL, 10);
		fclose(fp);
	}
	return (pid_t)pid;
}

/*
 * Until the streamer [pid] is blocked in write(2) to a history log (a
 * descriptor past its pipes) with its pipe full, pumping as the
 * launcher's loop does meanwhile.  Then nothing moves until the test
 * reads the FIFO.
 */
static void wait_blocked(struct launch_logs *l, pid_t pid)
{
	char path[64], text[256];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (int64_t end = aml_monotonic_ms() + 10000;
	     aml_monotonic_ms() < end; usleep(1000)) {
		long nr = -1;
		unsigned long arg0 = 0;
		int64_t at;
		int fd = launch_logs_poll_fd(l, &at);
		struct pollfd p = { fd, POLLOUT, 0 };
		FILE *fp;

		if (fd >= 0 && poll(&p, 1, 0) > 0) {
			launch_logs_pump(l, aml_monotonic_ms());
			continue;
		}
		fp = fopen(path, "r");
		if (fp) {
			if (fgets(text, sizeof(text), fp))
				sscanf(text, "%ld %lx", &nr, &arg0);
			fclose(fp);
		}
		/* The pipe again: the streamer may have read from it
		 * between the two looks, and then blocked. */
		if (nr == SYS_write && arg0 > 4 &&
		    (fd < 0 || poll(&p, 1, 0) == 0))
			return;
	}
	fail_msg("the streamer did not block on the FIFO");
}

/* ---- the ordinary case ---- */

static void test_every_byte_in_all_three(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l = launch_logs_new(&f->ctx, f->out_fd, 0);
	size_t len, got = 0;
	char *text = numbers(3 << 20, &len), *live = NULL;

	assert_non_null(l);
	feed(l, text, len / 2);
	/* The first half reaches run history while the run goes on: wait
	 * for it, pumping as the launcher's loop does (bounded). */
	for (int64_t end = aml_monotonic_ms() + 10000;
	     aml_monotonic_ms() < end;) {
		int64_t at;
		int fd = launch_logs_poll_fd(l, &at);
		struct pollfd p = { fd, POLLOUT, 0 };

		poll(&p, fd >= 0, 10);
		launch_logs_pump(l, aml_monotonic_ms());
		live = in_run(f, "user_logs/std_log.txt", &got);
		if (live && got == len / 2)
			break;
		free(live);
		live = NULL;
	}
	assert_file(live, got, text, len / 2);
	feed(l, text + len / 2, len - len / 2);
	launch_logs_free(l);
	assert_in_run(f, "user_logs/std_log.txt", text, len);
	assert_in_work(f, "user_logs/std_log.txt", text, len);
	assert_int_equal(lseek(f->out_fd, 0, SEEK_SET), 0);
	{
		char *out = malloc(len + 1);
		ssize_t n = read(f->out_fd, out, len + 1);

		assert_int_equal(n, (ssize_t)len);
		assert_memory_equal(out, text, len);
		free(out);
	}
	live = said(f);
	assert_string_equal(live, "");
	free(live);
	free(text);
}

static void test_labels_split_by_rank(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l = launch_logs_new(&f->ctx, f->out_fd, 1);
	const char *in = "0: zero 1\n 1: one 1\nsrun: error: n1: task 1: "
			 "Exited with exit code 2\n0: zero 2\n 1: one 2\n";

	assert_non_null(l);
	/* Byte by byte: labels cut anywhere. */
	for (const char *p = in; *p; p++)
		launch_logs_feed(l, p, 1);
	assert_string_equal(launch_logs_srun_error(l),
			    "n1: task 1: Exited with exit code 2");
	launch_logs_free(l);
	assert_in_run(f, "user_logs/std_log_process_0.txt", "zero 1\nzero 2\n",
		      14);
	assert_in_work(f, "user_logs/std_log_process_0.txt",
		       "zero 1\nzero 2\n", 14);
	assert_in_run(f, "user_logs/std_log_process_1.txt", "one 1\none 2\n",
		      12);
	assert_in_work(f, "user_logs/std_log_process_1.txt", "one 1\none 2\n",
		       12);
}

/* A user_logs/std_log.txt the snapshot brought is not the run's log. */
static void test_local_log_starts_empty(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/user_logs", f->work);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/user_logs/std_log.txt", f->work);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, "stale\n", 6), 6);
	close(fd);
	l = launch_logs_new(&f->ctx, f->out_fd, 0);
	launch_logs_feed(l, "new\n", 4);
	launch_logs_free(l);
	assert_in_work(f, "user_logs/std_log.txt", "new\n", 4);
}

/* ---- run history stops taking the live copy ---- */

static const char *const stopped =
	"aml-launch: user_logs: run history stopped taking the live log (";
static const char *const whole =
	"); the whole log is in user_logs/ of the working directory and is "
	"uploaded at the end\n";

/* Exactly one line on stderr: [stopped] [why] [whole]. */
static void assert_one_stop(struct fixture *f, const char *why)
{
	char *text = said(f), want[512];

	snprintf(want, sizeof(want), "%s%s%s", stopped, why, whole);
	assert_string_equal(text, want);
	free(text);
}

static void test_overflow_gives_up_at_once(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l;
	int64_t t0 = aml_monotonic_ms(), at;
	size_t len;
	char *text = numbers(5 << 20, &len);

	hang_history(f, "std_log.txt");
	l = launch_logs_new(&f->ctx, f->out_fd, 0);
	feed(l, text, len);
	/* Given up during the feed: nothing waits, nothing to poll. */
	assert_int_equal(launch_logs_poll_fd(l, &at), -1);
	assert_int_equal(at, 0);
	launch_logs_free(l);
	assert_true(aml_monotonic_ms() - t0 < 3000);
	assert_one_stop(f, "it fell more than 2 MiB behind");
	assert_in_work(f, "user_logs/std_log.txt", text, len);
	assert_int_equal(lseek(f->out_fd, 0, SEEK_END), (off_t)len);
	free(text);
}

static void test_no_progress_for_history_timeout(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l;
	int64_t at, at2;
	size_t len;
	char *text = numbers(1536 << 10, &len), *none;
	int fd;

	hang_history(f, "std_log.txt");
	l = launch_logs_new(&f->ctx, f->out_fd, 0);
	/* More than the pipe, the FIFO and the streamer's buffer take
	 * (1 MiB + 2 x 64 KiB), less than the pending buffer. */
	feed(l, text, len);
	wait_blocked(l, streamer_pid());
	fd = launch_logs_poll_fd(l, &at);
	assert_true(fd >= 0);
	assert_true(at > 0);
	/* Short of HistoryTimeout (1 s): it waits, and says nothing. */
	launch_logs_pump(l, at - 1);
	assert_true(launch_logs_poll_fd(l, &at2) >= 0);
	assert_int_equal(at2, at);
	none = said(f);
	assert_string_equal(none, "");
	free(none);
	/* At it: given up, once. */
	launch_logs_pump(l, at);
	assert_int_equal(launch_logs_poll_fd(l, &at2), -1);
	launch_logs_pump(l, at + 60000);
	launch_logs_feed(l, "after\n", 6);
	launch_logs_free(l);
	assert_one_stop(f, "1 s without progress");
	text = realloc(text, len + 6);
	memcpy(text + len, "after\n", 6);
	assert_in_work(f, "user_logs/std_log.txt", text, len + 6);
	free(text);
}

static void test_end_waits_a_bounded_time(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l;
	int64_t t0, took;
	size_t len;
	char *text = numbers(100 << 10, &len);

	hang_history(f, "std_log.txt");
	l = launch_logs_new(&f->ctx, f->out_fd, 0);
	feed(l, text, len);
	t0 = aml_monotonic_ms();
	launch_logs_free(l);
	took = aml_monotonic_ms() - t0;
	/* min(HistoryTimeout, 5 s) = 1 s, then SIGKILL, not waited for. */
	assert_true(took >= 900 && took < 3000);
	assert_one_stop(f, "still writing 1 s after the run's end");
	assert_in_work(f, "user_logs/std_log.txt", text, len);
	free(text);
}

static void test_history_refuses_the_log(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l;
	char path[768], want[1024], *text;

	snprintf(path, sizeof(path), "%s/user_logs", f->run);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/user_logs/std_log.txt", f->run);
	assert_int_equal(symlink("/nonexistent", path), 0);
	l = launch_logs_new(&f->ctx, f->out_fd, 0);
	launch_logs_feed(l, "one\n", 4);
	launch_logs_feed(l, "two\n", 4);
	launch_logs_free(l);
	snprintf(want, sizeof(want),
		 "aml-launch: user_logs: no live copy in run history (run "
		 "history: user_logs/std_log.txt of run %s: Too many levels "
		 "of symbolic links%s", RUN, whole);
	text = said(f);
	assert_string_equal(text, want);
	free(text);
	assert_in_work(f, "user_logs/std_log.txt", "one\ntwo\n", 8);
}

/* What the streamer holds: /dev/null for 0, 1 and 2, its two pipes, and
 * nothing else of the launcher's (not the job's output, not stderr).  It
 * ignores the signals Slurm sends the whole step, and blocks none. */
static void test_streamer_holds_nothing_else(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l;
	char path[128], target[512], line[256];
	struct dirent *de;
	unsigned long long ignored = 0, blocked = 1;
	size_t len;
	char *text;
	pid_t pid;
	DIR *d;
	FILE *fp;

	hang_history(f, "std_log.txt");
	l = launch_logs_new(&f->ctx, f->out_fd, 0);
	text = numbers(200 << 10, &len);
	feed(l, text, len);
	free(text);
	pid = streamer_pid();
	assert_true(pid > 0);
	wait_blocked(l, pid);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char link[512];
		ssize_t len;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		/* Above its RLIMIT_NOFILE no program has descriptors:
		 * valgrind keeps its own there. */
		if (fd >= aml_fd_limit())
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		assert_true(len > 0);
		target[len] = '\0';
		if (fd <= 2)
			assert_string_equal(target, "/dev/null");
		else if (fd <= 4)
			assert_true(!strncmp(target, "pipe:", 5));
		else if (!strstr(target, "user_logs/std_log.txt")) {
			/* The history log it has open, and nothing else.
			 * (stderr is the launcher's file here.) */
			printf("# the streamer holds descriptor %d: %s\n", fd,
			       target);
			fail();
		}
	}
	closedir(d);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		sscanf(line, "SigIgn: %llx", &ignored);
		sscanf(line, "SigBlk: %llx", &blocked);
	}
	fclose(fp);
	for (int sig = 1; sig < 32; sig++) {
		int want = sig == SIGTERM || sig == SIGINT || sig == SIGHUP ||
			   sig == SIGQUIT || sig == SIGUSR1 ||
			   sig == SIGUSR2 || sig == SIGPIPE;

		assert_int_equal(!!(ignored & (1ULL << (sig - 1))), want);
	}
	assert_int_equal(blocked, 0);
	launch_logs_free(l);
}

/* A streamer that ends before the run does (killed): the launcher hears
 * it from its loop's waitpid, says it once, and goes on locally. */
static void test_streamer_killed(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l = launch_logs_new(&f->ctx, f->out_fd, 0);
	int status;
	pid_t pid;

	launch_logs_feed(l, "one\n", 4);
	pid = streamer_pid();
	assert_true(pid > 0);
	assert_int_equal(launch_logs_child_ended(l, pid + 100000, 0), 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(launch_logs_child_ended(l, pid, status), 1);
	launch_logs_feed(l, "two\n", 4);
	launch_logs_free(l);
	assert_one_stop(f, "its writer ended");
	assert_in_work(f, "user_logs/std_log.txt", "one\ntwo\n", 8);
}

/* The working directory cannot take the log: said once, the live copy
 * in run history goes on whole. */
static void test_local_copy_lost(void **state)
{
	struct fixture *f = *state;
	struct launch_logs *l;
	char path[256], *text;
	int fd;

	snprintf(path, sizeof(path), "%s/user_logs", f->work);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	l = launch_logs_new(&f->ctx, f->out_fd, 0);
	launch_logs_feed(l, "one\n", 4);
	launch_logs_feed(l, "two\n", 4);
	launch_logs_free(l);
	text = said(f);
	assert_string_equal(text, "aml-launch: user_logs/std_log.txt cannot "
			    "be written in the working directory: Not a "
			    "directory; the job's output has all of it, run "
			    "history only its live copy\n");
	free(text);
	assert_in_run(f, "user_logs/std_log.txt", "one\ntwo\n", 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_byte_in_all_three,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_split_by_rank,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_log_starts_empty,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_gives_up_at_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_no_progress_for_history_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_waits_a_bounded_time,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_refuses_the_log,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_streamer_holds_nothing_else, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streamer_killed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_local_copy_lost, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
