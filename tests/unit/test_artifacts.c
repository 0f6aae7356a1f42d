/*
 * Unit tests of plugin/artifacts.c: what an upload copies, and exactly
 * how (content, counts, modes, atomic replacement); what it refuses to
 * read (symlinks leading out, FIFOs, loops, a root-only file) and to
 * write through (symlinks planted in the destination); downloads; the
 * listing; and escaped names in every message.
 *
 * Whether symlinks inside the working directory are followed depends on
 * openat2 (Linux 5.6; valgrind does not know it): main() finds out, says
 * which, and the tests expect what that mode promises.
 *
 * Every test gets a fresh directory under /tmp.  Children made with
 * fork() never call cmocka: they report through their exit status.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "errors.h"

#define NOBODY 65534
#define BIG (3 * 1024 * 1024)

/* Set once in main(): whether symlinks inside the root are followed. */
static int beneath;

struct fixture {
	char base[64];        /* /tmp/aml-test-artifacts.XXXXXX */
	int work_fd;          /* base/work: the run's working directory */
	int dest_fd;          /* base/dest: the run in history */
	struct aml_artifact_stats st;
	char err[1024];
};

/* Paths made by at(); apart from the fixture, which they are made from. */
static char paths[8][512];
static unsigned next_path;

/* ---- helpers ---- */

/* base/[rel]; eight live at once, enough for any one assertion. */
static const char *at(struct fixture *f, const char *rel)
{
	char *p = paths[next_path++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", f->base, rel);
	return p;
}

static void write_path(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void put(struct fixture *f, const char *rel, const char *text)
{
	write_path(at(f, rel), text, strlen(text));
}

static void make_dir(struct fixture *f, const char *rel)
{
	assert_int_equal(mkdir(at(f, rel), 0755), 0);
}

static void link_to(struct fixture *f, const char *target, const char *rel)
{
	assert_int_equal(symlink(target, at(f, rel)), 0);
}

/* The whole file at [path], malloc'd and NUL-terminated; NULL when it
 * cannot be opened. */
static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		ssize_t r;

		if (n + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = read(fd, buf + n, cap - n - 1);
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void assert_same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = slurp(a, &la), *y = slurp(b, &lb);

	if (!x || !y)
		fail_msg("cannot read %s or %s", a, b);
	assert_int_equal(la, lb);
	assert_memory_equal(x, y, la);
	free(x);
	free(y);
}

static void assert_text(const char *path, const char *text)
{
	char *got = slurp(path, NULL);

	if (!got)
		fail_msg("%s: missing", path);
	assert_string_equal(got, text);
	free(got);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* The note naming [path] that also says [why] (NULL: anything). */
static const char *find_note(const struct aml_artifact_stats *st,
			     const char *path, const char *why)
{
	char prefix[600];

	snprintf(prefix, sizeof(prefix), "%s: ", path);
	for (size_t i = 0; i < st->n_notes; i++)
		if (!strncmp(st->notes[i], prefix, strlen(prefix)) &&
		    (!why || strstr(st->notes[i], why)))
			return st->notes[i];
	return NULL;
}

static void assert_note(const struct aml_artifact_stats *st,
			const char *path, const char *why)
{
	if (!find_note(st, path, why)) {
		for (size_t i = 0; i < st->n_notes; i++)
			print_message("# note: %s\n", st->notes[i]);
		fail_msg("no note for %s saying \"%s\"", path, why ? why : "");
	}
}

/* What a skipped symlink's note says in this mode, when it leads out. */
static const char *outside_words(void)
{
	return beneath ? "leads outside the working directory"
		       : "a symbolic link; not uploaded";
}

/* Files below [path] whose name holds [part] (recursive, no links
 * followed). */
static int count_named(const char *path, const char *part)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char sub[1024];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strstr(de->d_name, part))
			n++;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
			n += count_named(sub, part);
	}
	closedir(d);
	return n;
}

/* Whether any regular file below [path] holds [text]. */
static int any_file_holds(const char *path, const char *text)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		char sub[1024];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = any_file_holds(sub, text);
		} else if (S_ISREG(st.st_mode)) {
			char *got = slurp(sub, NULL);

			found = got && strstr(got, text);
			free(got);
		}
	}
	closedir(d);
	return found;
}

static int copy_in(struct fixture *f, const char *src, const char *dst,
		   mode_t dir_mode, mode_t file_mode)
{
	aml_artifact_stats_free(&f->st);
	f->err[0] = '\0';
	return aml_artifacts_copy_in(f->work_fd, src, f->dest_fd, dst,
				     dir_mode, file_mode, &f->st, f->err,
				     sizeof(f->err));
}

static void copy_in_ok(struct fixture *f)
{
	if (copy_in(f, "outputs", "outputs", 0755, 0644) != 0)
		fail_msg("copy_in: %s", f->err);
}

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->base, "/tmp/aml-test-artifacts.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	make_dir(f, "work");
	make_dir(f, "work/outputs");
	make_dir(f, "dest");
	make_dir(f, "outside");
	f->work_fd = open_dir(at(f, "work"));
	f->dest_fd = open_dir(at(f, "dest"));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	close(f->work_fd);
	close(f->dest_fd);
	aml_artifact_stats_free(&f->st);
	/* rm, not nftw: a test makes paths longer than PATH_MAX, which
	 * only a walk by descriptors can remove. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- what is copied, and how ---- */

/*
 * A tree copied with [dir_mode]/[file_mode] under a umask that would
 * change both: the modes come out exact only if they are set on the
 * descriptors, not left to open() and mkdir().
 */
static void copy_tree(struct fixture *f, mode_t dir_mode, mode_t file_mode,
		      mode_t mask, const char *dest)
{
	static const char *const dirs[] = { "", "/sub", "/sub/deep",
					    "/emptydir" };
	static const char *const files[] = { "/a.txt", "/empty",
					     "/sub/b.txt", "/sub/deep/big.bin" };
	char *big = malloc(BIG), src[256], dst[256];
	uint32_t x = 12345;
	mode_t old;
	int rc;

	assert_non_null(big);
	for (size_t i = 0; i < BIG; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (char)(x >> 16);
	}
	put(f, "work/outputs/a.txt", "alpha\n");
	put(f, "work/outputs/empty", "");
	make_dir(f, "work/outputs/sub");
	make_dir(f, "work/outputs/sub/deep");
	make_dir(f, "work/outputs/emptydir");
	put(f, "work/outputs/sub/b.txt", "bravo, two\n");
	write_path(at(f, "work/outputs/sub/deep/big.bin"), big, BIG);
	free(big);

	old = umask(mask);
	rc = copy_in(f, "outputs", dest, dir_mode, file_mode);
	umask(old);
	if (rc != 0)
		fail_msg("copy_in: %s", f->err);
	assert_int_equal(f->st.files, 4);
	assert_int_equal(f->st.bytes, 6 + 0 + 11 + BIG);
	assert_int_equal(f->st.skipped, 0);
	assert_int_equal(f->st.n_notes, 0);
	for (size_t i = 0; i < 4; i++) {
		snprintf(src, sizeof(src), "work/outputs%s", files[i]);
		snprintf(dst, sizeof(dst), "dest/%s%s", dest, files[i]);
		assert_same_file(at(f, src), at(f, dst));
		assert_int_equal(mode_of(at(f, dst)), file_mode);
	}
	for (size_t i = 0; i < 4; i++) {
		snprintf(dst, sizeof(dst), "dest/%s%s", dest, dirs[i]);
		assert_int_equal(mode_of(at(f, dst)), dir_mode);
	}
	assert_int_equal(count_named(at(f, "dest"), ".tmp-"), 0);
}

static void test_private_tree_copied_exactly(void **state)
{
	/* 0277 leaves 0500/0400 unless the modes are set exactly. */
	copy_tree(*state, 0700, 0600, 0277, "outputs");
}

static void test_shared_tree_copied_exactly(void **state)
{
	struct fixture *f = *state;

	/* Through a destination directory that does not exist yet: it is
	 * made with the same mode. */
	copy_tree(f, 0755, 0644, 077, "r1/outputs");
	assert_int_equal(mode_of(at(f, "dest/r1")), 0755);
}

static void test_missing_source_creates_nothing(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(copy_in(f, "logs", "logs", 0700, 0600), 0);
	assert_int_equal(f->st.files, 0);
	assert_int_equal(f->st.bytes, 0);
	assert_int_equal(f->st.skipped, 0);
	assert_false(exists(at(f, "dest/logs")));
	/* and no stats are needed to ask */
	assert_int_equal(aml_artifacts_copy_in(f->work_fd, "user_logs",
					       f->dest_fd, "user_logs", 0700,
					       0600, NULL, f->err,
					       sizeof(f->err)),
			 0);
	assert_false(exists(at(f, "dest/user_logs")));
}

static void test_paths_must_stay_below(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(copy_in(f, "../outside", "outputs", 0700, 0600), -1);
	assert_non_null(strstr(f->err, "not a path below the working directory"));
	assert_int_equal(copy_in(f, "/etc", "outputs", 0700, 0600), -1);
	assert_non_null(strstr(f->err, "\"/etc\""));
	assert_int_equal(copy_in(f, "outputs", "a/../../x", 0700, 0600), -1);
	assert_non_null(strstr(f->err, "not a path below the destination"));
	/* "./outputs/" is just outputs */
	put(f, "work/outputs/a.txt", "a");
	assert_int_equal(copy_in(f, "./outputs/", "outputs//", 0700, 0600), 0);
	assert_text(at(f, "dest/outputs/a.txt"), "a");
}

/* ---- symlinks in the source ---- */

static void test_symlink_inside_followed_with_openat2(void **state)
{
	struct fixture *f = *state;

	make_dir(f, "work/data");
	put(f, "work/data/x", "inside data\n");
	link_to(f, "../data/x", "work/outputs/x");
	link_to(f, "../data", "work/outputs/dlink");
	copy_in_ok(f);
	if (beneath) {
		print_message("# openat2: links inside are uploaded\n");
		assert_int_equal(f->st.files, 2);
		assert_int_equal(f->st.skipped, 0);
		assert_text(at(f, "dest/outputs/x"), "inside data\n");
		assert_text(at(f, "dest/outputs/dlink/x"), "inside data\n");
		/* a copy, not a link */
		assert_int_equal(mode_of(at(f, "dest/outputs/x")), 0644);
	} else {
		print_message("# no openat2: no link is followed\n");
		assert_int_equal(f->st.files, 0);
		assert_int_equal(f->st.skipped, 2);
		assert_note(&f->st, "outputs/x", "a symbolic link; not uploaded");
		assert_note(&f->st, "outputs/dlink", "a symbolic link");
		assert_false(exists(at(f, "dest/outputs/x")));
		assert_false(exists(at(f, "dest/outputs/dlink")));
	}
}

static void test_symlinks_leading_out_skipped(void **state)
{
	struct fixture *f = *state;
	char target[512];

	put(f, "outside/secret", "SECRET\n");
	put(f, "work/outputs/ok.txt", "ok\n");
	link_to(f, "/etc/passwd", "work/outputs/passwd");
	snprintf(target, sizeof(target), "%s/outside/secret", f->base);
	link_to(f, target, "work/outputs/abs");
	link_to(f, "../../outside/secret", "work/outputs/rel");
	link_to(f, "../../outside", "work/outputs/outdir");
	/* leading out only through a directory symlink elsewhere in the
	 * working directory: checked against the root, not the source */
	link_to(f, "../outside", "work/escape");
	link_to(f, "../escape/secret", "work/outputs/via");
	copy_in_ok(f);
	assert_int_equal(f->st.files, 1);
	assert_int_equal(f->st.bytes, 3);
	assert_int_equal(f->st.skipped, 5);
	assert_int_equal(f->st.n_notes, 5);
	assert_note(&f->st, "outputs/passwd", outside_words());
	assert_note(&f->st, "outputs/abs", outside_words());
	assert_note(&f->st, "outputs/rel", outside_words());
	assert_note(&f->st, "outputs/outdir", outside_words());
	assert_note(&f->st, "outputs/via", outside_words());
	if (beneath)
		assert_string_equal(find_note(&f->st, "outputs/abs", NULL),
				    "outputs/abs: a symlink that leads outside the working directory; not uploaded");
	assert_false(exists(at(f, "dest/outputs/passwd")));
	assert_false(exists(at(f, "dest/outputs/abs")));
	assert_false(exists(at(f, "dest/outputs/rel")));
	assert_false(exists(at(f, "dest/outputs/outdir")));
	assert_false(exists(at(f, "dest/outputs/via")));
	assert_false(any_file_holds(at(f, "dest"), "SECRET"));
	assert_false(any_file_holds(at(f, "dest"), "root:"));
}

/*
 * The case of the issue: a file only root may read, outside the working
 * directory, and a symlink to it in outputs/.  As the job's user the
 * upload could not read it anyway; as root (privilege not dropped, by a
 * bug or by design) the symlink rule alone must keep it out.
 */
static void test_root_only_file_not_leaked(void **state)
{
	struct fixture *f = *state;
	char secret[512], line[1024] = { 0 }, dest_nobody[512];
	unsigned long long files, bytes, skipped;
	int pipefd[2], status, rc, used = 0;
	ssize_t got;
	pid_t pid;

	if (geteuid() != 0) {
		print_message("# SKIP: needs root to make a root-only file\n");
		skip();
	}
	snprintf(secret, sizeof(secret), "%s", at(f, "outside/rootonly"));
	put(f, "outside/rootonly", "TOPSECRET\n");
	assert_int_equal(chown(secret, 0, 0), 0);
	assert_int_equal(chmod(secret, 0600), 0);
	assert_int_equal(chmod(f->base, 0755), 0);
	assert_int_equal(chmod(at(f, "outside"), 0755), 0);
	put(f, "work/outputs/ok.txt", "ok\n");
	link_to(f, secret, "work/outputs/leak");
	assert_int_equal(chown(at(f, "work"), NOBODY, NOBODY), 0);
	assert_int_equal(chown(at(f, "work/outputs"), NOBODY, NOBODY), 0);
	assert_int_equal(chown(at(f, "work/outputs/ok.txt"), NOBODY, NOBODY), 0);
	assert_int_equal(lchown(at(f, "work/outputs/leak"), NOBODY, NOBODY), 0);
	snprintf(dest_nobody, sizeof(dest_nobody), "%s", at(f, "dest-nobody"));
	assert_int_equal(mkdir(dest_nobody, 0700), 0);
	assert_int_equal(chown(dest_nobody, NOBODY, NOBODY), 0);

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct aml_artifact_stats st;
		char err[512], out[1024];
		int work, dest, n;

		close(pipefd[0]);
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(3);
		work = open(at(f, "work"), O_RDONLY | O_DIRECTORY);
		dest = open(dest_nobody, O_RDONLY | O_DIRECTORY);
		if (work < 0 || dest < 0)
			_exit(4);
		rc = aml_artifacts_copy_in(work, "outputs", dest, "outputs",
					   0700, 0600, &st, err, sizeof(err));
		n = snprintf(out, sizeof(out), "%d %llu %llu %llu\n%s", rc,
			     (unsigned long long)st.files,
			     (unsigned long long)st.bytes,
			     (unsigned long long)st.skipped,
			     rc ? err : st.n_notes ? st.notes[0] : "");
		if (write(pipefd[1], out, (size_t)n) != n)
			_exit(5);
		_exit(0);
	}
	close(pipefd[1]);
	while ((got = read(pipefd[0], line + used,
			   sizeof(line) - 1 - (size_t)used)) > 0)
		used += (int)got;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	{
		char *nl = strchr(line, '\n');

		print_message("# as nobody: %.*s; %s\n",
			      nl ? (int)(nl - line) : (int)strlen(line), line,
			      nl ? nl + 1 : "");
	}
	assert_int_equal(sscanf(line, "%d %llu %llu %llu", &rc, &files, &bytes,
				&skipped),
			 4);
	assert_int_equal(rc, 0);
	assert_int_equal(files, 1);
	assert_int_equal(bytes, 3);       /* ok.txt only: nothing of leak */
	assert_int_equal(skipped, 1);
	assert_non_null(strstr(line, "\noutputs/leak: "));
	assert_true(exists(at(f, "dest-nobody/outputs/ok.txt")));
	assert_false(exists(at(f, "dest-nobody/outputs/leak")));
	assert_false(any_file_holds(dest_nobody, "TOPSECRET"));

	/* as root, who could read it */
	copy_in_ok(f);
	assert_int_equal(f->st.files, 1);
	assert_int_equal(f->st.bytes, 3);
	assert_int_equal(f->st.skipped, 1);
	assert_note(&f->st, "outputs/leak", outside_words());
	assert_false(exists(at(f, "dest/outputs/leak")));
	assert_false(any_file_holds(at(f, "dest"), "TOPSECRET"));
}

/* ---- other kinds of entries ---- */

static void test_fifo_and_socket_skipped_without_blocking(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int sock, status;
	pid_t pid;

	put(f, "work/outputs/after.txt", "after\n");
	assert_int_equal(mkfifo(at(f, "work/outputs/pipe"), 0644), 0);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(sock >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s",
		 at(f, "work/outputs/sock"));
	assert_int_equal(bind(sock, (struct sockaddr *)&sun, sizeof(sun)), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct aml_artifact_stats st;
		char err[512];
		int rc;

		/* A read of the FIFO would wait for a writer forever. */
		alarm(10);
		rc = aml_artifacts_copy_in(f->work_fd, "outputs", f->dest_fd,
					   "outputs", 0755, 0644, &st, err,
					   sizeof(err));
		if (rc != 0)
			_exit(2);
		if (st.files != 1 || st.skipped != 2)
			_exit(3);
		if (!find_note(&st, "outputs/pipe", "a FIFO; not uploaded"))
			_exit(4);
		if (!find_note(&st, "outputs/sock", "a socket"))
			_exit(5);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(sock);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		fail_msg("the upload blocked on the FIFO");
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_text(at(f, "dest/outputs/after.txt"), "after\n");
	assert_false(exists(at(f, "dest/outputs/pipe")));
	assert_false(exists(at(f, "dest/outputs/sock")));
}

static void test_directory_loops_are_cut(void **state)
{
	struct fixture *f = *state;
	const char *why = beneath ? "leads back to a directory it is inside"
				  : "a symbolic link";

	make_dir(f, "work/outputs/sub");
	put(f, "work/outputs/sub/f.txt", "f\n");
	link_to(f, ".", "work/outputs/loop");
	link_to(f, "..", "work/outputs/sub/up");
	alarm(60);  /* a loop not cut would end only at PATH_MAX, slowly */
	copy_in_ok(f);
	alarm(0);
	assert_int_equal(f->st.files, 1);
	assert_int_equal(f->st.skipped, 2);
	assert_note(&f->st, "outputs/loop", why);
	assert_note(&f->st, "outputs/sub/up", why);
	assert_text(at(f, "dest/outputs/sub/f.txt"), "f\n");
	assert_false(exists(at(f, "dest/outputs/loop")));
	assert_false(exists(at(f, "dest/outputs/sub/up")));
}

static void test_notes_are_capped_skips_are_not(void **state)
{
	struct fixture *f = *state;
	char name[64];

	for (int i = 0; i < AML_ARTIFACTS_NOTES + 3; i++) {
		snprintf(name, sizeof(name), "work/outputs/fifo%02d", i);
		assert_int_equal(mkfifo(at(f, name), 0644), 0);
	}
	copy_in_ok(f);
	assert_int_equal(f->st.skipped, AML_ARTIFACTS_NOTES + 3);
	assert_int_equal(f->st.n_notes, AML_ARTIFACTS_NOTES);
	/* in name order: the first ones are described */
	assert_note(&f->st, "outputs/fifo00", "a FIFO");
	assert_null(find_note(&f->st, "outputs/fifo10", NULL));
}

/*
 * Past PATH_MAX a path is skipped in both modes (openat2 refuses it; the
 * fallback is held to the same), which is what bounds the walk's depth.
 * Names of 100 bytes: level 38 fits, level 41 does not.
 */
static void test_paths_past_path_max_skipped(void **state)
{
	struct fixture *f = *state;
	char name[101];
	int fd, next, found = 0;

	memset(name, 'd', 100);
	name[100] = '\0';
	fd = open_dir(at(f, "work/outputs"));
	for (int level = 1; level <= 42; level++) {
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
		if (level == 38 || level == 42) {
			int file = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC,
					  0644);

			assert_true(file >= 0);
			assert_int_equal(write(file, "deep", 4), 4);
			close(file);
		}
	}
	close(fd);
	copy_in_ok(f);
	assert_int_equal(f->st.files, 1);
	assert_int_equal(f->st.bytes, 4);
	assert_int_equal(f->st.skipped, 1);
	assert_int_equal(f->st.n_notes, 1);
	assert_non_null(strstr(f->st.notes[0], "...: the path is longer than the system allows; not uploaded"));

	/* the file at level 38 arrived */
	fd = open_dir(at(f, "dest/outputs"));
	for (int level = 1; level <= 38; level++) {
		next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			      O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	found = faccessat(fd, "f", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	close(fd);
	assert_true(found);
}

/* ---- the destination ---- */

static void test_existing_file_replaced_atomically(void **state)
{
	struct fixture *f = *state;
	struct stat before, after;

	put(f, "work/outputs/a.txt", "new content\n");
	make_dir(f, "dest/outputs");
	put(f, "dest/outputs/a.txt", "old\n");
	assert_int_equal(stat(at(f, "dest/outputs/a.txt"), &before), 0);
	copy_in_ok(f);
	assert_int_equal(stat(at(f, "dest/outputs/a.txt"), &after), 0);
	/* a new inode renamed over the old one: a reader holding the old
	 * file kept it whole */
	assert_true(before.st_ino != after.st_ino);
	assert_text(at(f, "dest/outputs/a.txt"), "new content\n");
	assert_int_equal(count_named(at(f, "dest"), ".tmp-"), 0);
}

static void test_symlink_at_the_file_is_replaced_not_followed(void **state)
{
	struct fixture *f = *state;

	make_dir(f, "elsewhere");
	put(f, "elsewhere/target", "orig\n");
	put(f, "work/outputs/a.txt", "mine\n");
	make_dir(f, "dest/outputs");
	link_to(f, "../../elsewhere/target", "dest/outputs/a.txt");
	copy_in_ok(f);
	assert_text(at(f, "elsewhere/target"), "orig\n");
	assert_int_equal(mode_of(at(f, "dest/outputs/a.txt")), 0644);
	assert_text(at(f, "dest/outputs/a.txt"), "mine\n");
}

static void test_symlinked_destination_refused(void **state)
{
	struct fixture *f = *state;

	make_dir(f, "elsewhere");
	put(f, "work/outputs/a.txt", "a\n");
	make_dir(f, "work/outputs/sub");
	put(f, "work/outputs/sub/b.txt", "b\n");

	/* the destination directory itself */
	link_to(f, "../elsewhere", "dest/outputs");
	assert_int_equal(copy_in(f, "outputs", "outputs", 0700, 0600), -1);
	assert_string_equal(f->err,
			    "outputs: is a symbolic link: refused (nothing in the destination is followed)");
	assert_int_equal(count_named(at(f, "elsewhere"), ""), 0);

	/* one below it */
	assert_int_equal(unlink(at(f, "dest/outputs")), 0);
	make_dir(f, "dest/outputs");
	link_to(f, "../../elsewhere", "dest/outputs/sub");
	assert_int_equal(copy_in(f, "outputs", "outputs", 0700, 0600), -1);
	assert_non_null(strstr(f->err, "outputs/sub: is a symbolic link"));
	assert_int_equal(count_named(at(f, "elsewhere"), ""), 0);
	/* what came before the error stays, whole */
	assert_text(at(f, "dest/outputs/a.txt"), "a\n");
	assert_int_equal(count_named(at(f, "dest"), ".tmp-"), 0);
}

static void test_destination_in_the_way(void **state)
{
	struct fixture *f = *state;

	make_dir(f, "work/outputs/sub");
	put(f, "work/outputs/sub/b.txt", "b\n");
	put(f, "work/outputs/c.txt", "c\n");
	make_dir(f, "dest/outputs");
	put(f, "dest/outputs/sub", "a file where a directory goes\n");
	assert_int_equal(copy_in(f, "outputs", "outputs", 0700, 0600), -1);
	assert_string_equal(f->err,
			    "outputs/sub: exists and is not a directory: refused");

	/* c.txt sorts first: copied, whole, before the error */
	assert_text(at(f, "dest/outputs/c.txt"), "c\n");

	/* a directory where a file goes: the temporary is cleaned up */
	assert_int_equal(unlink(at(f, "dest/outputs/sub")), 0);
	assert_int_equal(unlink(at(f, "dest/outputs/c.txt")), 0);
	make_dir(f, "dest/outputs/c.txt");
	put(f, "dest/outputs/c.txt/keep", "k");
	assert_int_equal(copy_in(f, "outputs", "outputs", 0700, 0600), -1);
	assert_string_equal(f->err,
			    "outputs/c.txt: exists and is a directory: not replaced");
	assert_int_equal(count_named(at(f, "dest"), ".tmp-"), 0);
	assert_text(at(f, "dest/outputs/c.txt/keep"), "k");
}

static void test_the_destination_inside_the_source(void **state)
{
	struct fixture *f = *state;
	int run;

	/* history below the working directory, reached from outputs */
	make_dir(f, "work/history");
	put(f, "work/outputs/a.txt", "a\n");
	link_to(f, "../history/outputs", "work/outputs/hist");
	run = open_dir(at(f, "work/history"));
	aml_artifact_stats_free(&f->st);
	alarm(60);
	assert_int_equal(aml_artifacts_copy_in(f->work_fd, "outputs", run,
					       "outputs", 0700, 0600, &f->st,
					       f->err, sizeof(f->err)),
			 0);
	alarm(0);
	close(run);
	assert_text(at(f, "work/history/outputs/a.txt"), "a\n");
	assert_int_equal(f->st.files, 1);
	assert_int_equal(f->st.skipped, 1);
	assert_note(&f->st, "outputs/hist",
		    beneath ? "is where the copy goes" : "a symbolic link");
	assert_false(exists(at(f, "work/history/outputs/hist")));
}

/* ---- downloads ---- */

static void test_copy_out_round_trip(void **state)
{
	struct fixture *f = *state;
	struct aml_artifact_stats st = { 0 };
	mode_t old;
	int out, rc;

	make_dir(f, "work/outputs/sub");
	put(f, "work/outputs/a.txt", "alpha\n");
	put(f, "work/outputs/sub/b.txt", "bravo\n");
	put(f, "work/outputs/sub/empty", "");
	if (copy_in(f, "outputs", "outputs", 0700, 0600) != 0)
		fail_msg("copy_in: %s", f->err);

	/* one file: its directory is made, as the umask says */
	make_dir(f, "out1");
	out = open_dir(at(f, "out1"));
	old = umask(027);
	rc = aml_artifacts_copy_out(f->dest_fd, "outputs/sub/b.txt", out, &st,
				    f->err, sizeof(f->err));
	umask(old);
	close(out);
	if (rc != 0)
		fail_msg("copy_out: %s", f->err);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.bytes, 6);
	assert_same_file(at(f, "work/outputs/sub/b.txt"),
			 at(f, "out1/outputs/sub/b.txt"));
	assert_int_equal(mode_of(at(f, "out1/outputs/sub/b.txt")), 0640);
	assert_int_equal(mode_of(at(f, "out1/outputs")), 0750);
	assert_int_equal(mode_of(at(f, "out1/outputs/sub")), 0750);
	aml_artifact_stats_free(&st);

	/* a directory, over an older download */
	make_dir(f, "out2");
	make_dir(f, "out2/outputs");
	put(f, "out2/outputs/a.txt", "stale\n");
	out = open_dir(at(f, "out2"));
	rc = aml_artifacts_copy_out(f->dest_fd, "outputs/", out, &st, f->err,
				    sizeof(f->err));
	close(out);
	if (rc != 0)
		fail_msg("copy_out: %s", f->err);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.bytes, 12);
	assert_int_equal(st.skipped, 0);
	assert_same_file(at(f, "work/outputs/a.txt"), at(f, "out2/outputs/a.txt"));
	assert_same_file(at(f, "work/outputs/sub/b.txt"),
			 at(f, "out2/outputs/sub/b.txt"));
	assert_same_file(at(f, "work/outputs/sub/empty"),
			 at(f, "out2/outputs/sub/empty"));
	assert_int_equal(count_named(at(f, "out2"), ".tmp-"), 0);
	aml_artifact_stats_free(&st);
}

static void test_copy_out_follows_no_symlink(void **state)
{
	struct fixture *f = *state;
	struct aml_artifact_stats st = { 0 };
	int out;

	put(f, "outside/secret", "SECRET\n");
	make_dir(f, "dest/outputs");
	put(f, "dest/outputs/ok.txt", "ok\n");
	/* even one that stays inside the run is not followed */
	link_to(f, "ok.txt", "dest/outputs/inside");
	link_to(f, "../../outside/secret", "dest/outputs/evil");
	link_to(f, "../../outside", "dest/outputs/evildir");
	link_to(f, "../outside", "dest/logs");
	put(f, "dest/outputs/.ok.txt.tmp-0123456789abcdef", "half");
	make_dir(f, "out");
	out = open_dir(at(f, "out"));

	assert_int_equal(aml_artifacts_copy_out(f->dest_fd, "outputs", out, &st,
						f->err, sizeof(f->err)),
			 0);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.skipped, 3);
	assert_note(&st, "outputs/evil", "a symbolic link; not downloaded");
	assert_note(&st, "outputs/evildir", "a symbolic link");
	assert_note(&st, "outputs/inside", "a symbolic link");
	assert_text(at(f, "out/outputs/ok.txt"), "ok\n");
	assert_false(exists(at(f, "out/outputs/evil")));
	assert_false(exists(at(f, "out/outputs/evildir")));
	assert_false(exists(at(f, "out/outputs/inside")));
	assert_int_equal(count_named(at(f, "out"), ".tmp-"), 0);
	assert_false(any_file_holds(at(f, "out"), "SECRET"));
	aml_artifact_stats_free(&st);

	assert_int_equal(aml_artifacts_copy_out(f->dest_fd, "outputs/evil", out,
						&st, f->err, sizeof(f->err)),
			 -1);
	assert_string_equal(f->err,
			    "outputs/evil: is a symbolic link, or below one, in run history: refused");
	aml_artifact_stats_free(&st);
	assert_int_equal(aml_artifacts_copy_out(f->dest_fd,
						"outputs/evildir/secret", out,
						&st, f->err, sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "symbolic link"));
	aml_artifact_stats_free(&st);
	assert_int_equal(aml_artifacts_copy_out(f->dest_fd, "logs", out, &st,
						f->err, sizeof(f->err)),
			 -1);
	aml_artifact_stats_free(&st);
	assert_int_equal(aml_artifacts_copy_out(f->dest_fd, "outputs/none", out,
						&st, f->err, sizeof(f->err)),
			 -1);
	assert_string_equal(f->err, "outputs/none: not in the run");
	aml_artifact_stats_free(&st);
	assert_int_equal(aml_artifacts_copy_out(f->dest_fd, "../work", out, &st,
						f->err, sizeof(f->err)),
			 -1);
	assert_string_equal(f->err, "\"../work\": not a path below the run");
	aml_artifact_stats_free(&st);
	close(out);
	assert_false(exists(at(f, "out/logs")));
	assert_false(any_file_holds(at(f, "out"), "SECRET"));
}

/* ---- listing ---- */

/* ---- walking for a sink (a REST upload) ---- */

struct sunk {
	char paths[8][128];
	char bodies[8][64];
	size_t n;
	int fail_at;   /* 1-based file number whose sink call fails; 0 */
};

static int collect(void *arg, const char *path, int fd, const struct stat *st,
		   char *errbuf, size_t errlen)
{
	struct sunk *k = arg;
	ssize_t r;

	assert_true(S_ISREG(st->st_mode));
	assert_true(k->n < 8);
	if (k->fail_at && (size_t)k->fail_at == k->n + 1)
		return aml_fail(errbuf, errlen, "server said no");
	snprintf(k->paths[k->n], sizeof(k->paths[0]), "%s", path);
	r = read(fd, k->bodies[k->n], sizeof(k->bodies[0]) - 1);
	assert_true(r >= 0);
	k->bodies[k->n][r] = '\0';
	k->n++;
	return 0;
}

static const char *sunk_body(const struct sunk *k, const char *path)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->paths[i], path))
			return k->bodies[i];
	return NULL;
}

/* The walk lets through exactly what copy_in would copy, under the
 * destination's name, and nothing of what it would refuse. */
static void test_walk_hands_the_sink_what_copy_in_would_copy(void **state)
{
	struct fixture *f = *state;
	struct sunk k = { 0 };
	char target[512];

	put(f, "outside/secret", "SECRET\n");
	put(f, "work/outputs/ok.txt", "ok\n");
	make_dir(f, "work/outputs/nested");
	put(f, "work/outputs/nested/deep.txt", "deep\n");
	link_to(f, "/etc/passwd", "work/outputs/passwd");
	snprintf(target, sizeof(target), "%s/outside/secret", f->base);
	link_to(f, target, "work/outputs/abs");
	link_to(f, "../../outside/secret", "work/outputs/rel");
	assert_int_equal(mkfifo(at(f, "work/outputs/pipe"), 0644), 0);
	alarm(10); /* a read of the FIFO would wait forever */
	assert_int_equal(aml_artifacts_walk(f->work_fd, "outputs", "files/outputs",
					    collect, &k, &f->st, f->err,
					    sizeof(f->err)), 0);
	alarm(0);
	assert_int_equal(k.n, 2);
	assert_string_equal(sunk_body(&k, "files/outputs/ok.txt"), "ok\n");
	assert_string_equal(sunk_body(&k, "files/outputs/nested/deep.txt"),
			    "deep\n");
	assert_int_equal(f->st.files, 2);
	assert_int_equal(f->st.bytes, 8);
	assert_int_equal(f->st.skipped, 4);
	assert_note(&f->st, "outputs/passwd", outside_words());
	assert_note(&f->st, "outputs/abs", outside_words());
	assert_non_null(find_note(&f->st, "outputs/pipe", "a FIFO; not uploaded"));
	/* Nothing is written anywhere: the sink is the only destination. */
	assert_false(exists(at(f, "dest/outputs")));
	assert_false(exists(at(f, "dest/files")));
}

/* A sink that fails stops the walk with its message. */
static void test_walk_stops_at_a_failing_sink(void **state)
{
	struct fixture *f = *state;
	struct sunk k = { .fail_at = 2 };

	put(f, "work/outputs/a.txt", "a");
	put(f, "work/outputs/b.txt", "b");
	put(f, "work/outputs/c.txt", "c");
	assert_int_equal(aml_artifacts_walk(f->work_fd, "outputs", "outputs",
					    collect, &k, &f->st, f->err,
					    sizeof(f->err)), -1);
	assert_int_equal(k.n, 1);
	assert_string_equal(f->err, "server said no");
}

static void test_list_sorted_regular_files(void **state)
{
	static const char *const tops[] = { "outputs", "logs", "user_logs" };
	struct fixture *f = *state;
	struct timespec times[2] = { { 1700000000, 123456789 },
				     { 1700000000, 123456789 } };
	struct aml_artifact *list;
	size_t n;

	make_dir(f, "dest/outputs");
	make_dir(f, "dest/outputs/a");
	make_dir(f, "dest/logs");
	put(f, "dest/outputs/b.txt", "bbb");
	put(f, "dest/outputs/a/c.txt", "c");
	put(f, "dest/outputs/a/b.txt", "0123456789");
	put(f, "dest/logs/x.log", "");
	put(f, "dest/outputs/.b.txt.tmp-0123456789abcdef", "half");
	link_to(f, "b.txt", "dest/outputs/link");
	link_to(f, "../outside", "dest/outputs/dirlink");
	put(f, "outside/far", "far");
	assert_int_equal(mkfifo(at(f, "dest/outputs/fifo"), 0644), 0);
	assert_int_equal(utimensat(AT_FDCWD, at(f, "dest/outputs/a/b.txt"),
				   times, 0),
			 0);

	if (aml_artifacts_list(f->dest_fd, tops, 3, &list, &n, f->err,
			       sizeof(f->err)) != 0)
		fail_msg("list: %s", f->err);
	assert_int_equal(n, 4);
	assert_string_equal(list[0].path, "logs/x.log");
	assert_string_equal(list[1].path, "outputs/a/b.txt");
	assert_string_equal(list[2].path, "outputs/a/c.txt");
	assert_string_equal(list[3].path, "outputs/b.txt");
	assert_int_equal(list[0].size, 0);
	assert_int_equal(list[1].size, 10);
	assert_int_equal(list[2].size, 1);
	assert_int_equal(list[3].size, 3);
	assert_int_equal(list[1].mtime_ms, 1700000000123LL);
	assert_true(list[3].mtime_ms > 1700000000123LL);
	aml_artifact_list_free(list, n);

	/* missing tops are empty, and empty is still an array */
	if (aml_artifacts_list(f->dest_fd, tops + 2, 1, &list, &n, f->err,
			       sizeof(f->err)) != 0)
		fail_msg("list: %s", f->err);
	assert_int_equal(n, 0);
	assert_non_null(list);
	aml_artifact_list_free(list, n);

	{
		static const char *const bad[] = { "outputs", "../work" };

		assert_int_equal(aml_artifacts_list(f->dest_fd, bad, 2, &list,
						    &n, f->err, sizeof(f->err)),
				 -1);
		assert_null(list);
		assert_string_equal(f->err, "\"../work\": not a path below the run");
	}
}

/* ---- names in messages ---- */

static void test_names_escaped_in_notes_and_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkfifo(at(f, "work/outputs/bad\nname\x01"), 0644), 0);
	copy_in_ok(f);
	assert_int_equal(f->st.n_notes, 1);
	assert_string_equal(f->st.notes[0],
			    "outputs/bad\\x0aname\\x01: a FIFO; not uploaded");

	make_dir(f, "work/outputs/d\x1bir");
	put(f, "work/outputs/d\x1bir/f.txt", "f");
	put(f, "dest/outputs/d\x1bir", "in the way");
	assert_int_equal(copy_in(f, "outputs", "outputs", 0755, 0644), -1);
	assert_string_equal(f->err,
			    "outputs/d\\x1bir: exists and is not a directory: refused");
	assert_null(strchr(f->err, '\x1b'));
}

/* ---- main ---- */

static int have_openat2(void)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH,
	};
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno != ENOSYS;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_private_tree_copied_exactly),
		T(test_shared_tree_copied_exactly),
		T(test_missing_source_creates_nothing),
		T(test_paths_must_stay_below),
		T(test_symlink_inside_followed_with_openat2),
		T(test_symlinks_leading_out_skipped),
		T(test_root_only_file_not_leaked),
		T(test_fifo_and_socket_skipped_without_blocking),
		T(test_directory_loops_are_cut),
		T(test_notes_are_capped_skips_are_not),
		T(test_paths_past_path_max_skipped),
		T(test_existing_file_replaced_atomically),
		T(test_symlink_at_the_file_is_replaced_not_followed),
		T(test_symlinked_destination_refused),
		T(test_destination_in_the_way),
		T(test_the_destination_inside_the_source),
		T(test_copy_out_round_trip),
		T(test_copy_out_follows_no_symlink),
		T(test_walk_hands_the_sink_what_copy_in_would_copy),
		T(test_walk_stops_at_a_failing_sink),
		T(test_list_sorted_regular_files),
		T(test_names_escaped_in_notes_and_errors),
	};

	beneath = have_openat2();
	print_message("# openat2 %s\n",
		      beneath ? "available: symlinks inside the working directory are followed"
			      : "unavailable: no symlink is followed");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
