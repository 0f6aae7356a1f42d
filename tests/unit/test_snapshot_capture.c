/*
 * Unit tests of plugin/snapshot_capture.c: what a snapshot keeps, what it
 * refuses, what it reads again, and that nothing is published for a tree
 * that is refused or a capture that is killed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "manifest.h"
#include "snapshot.h"
#include "store.h"

struct fixture {
	char root[64];     /* temp dir holding src/ and store/ */
	char src[128];
	char snapshots[128];
	struct aml_store store;
	struct aml_errors errs;
	struct aml_capture_stats st;
	char id[AML_SHA256_HEX_LEN + 1];
};

#define PINNED_ID "dce47e6c12dc36d29e54f442ec0c6ff9eb1e252b6c354314cb0fbaad6cbcaf1d"

static const struct aml_snapshot_limits roomy = { 1ULL << 30, 100000 };

static void write_file(struct fixture *f, const char *rel, const char *text)
{
	char path[512];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", f->src, rel);
	out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	assert_int_equal(fclose(out), 0);
}

static void make_dir(struct fixture *f, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", f->src, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

/*
 * Move a file's mtime an hour back and let its ctime (which that sets to
 * now) fall out of the racy window, so the stat cache may vouch for the
 * file: the capture never trusts a file changed within the last timestamp
 * tick.  What is waited for is time itself, 30 ms past the change.
 */
static void age(struct fixture *f, const char *rel)
{
	char path[512];
	struct timespec t[2], now, wait = { 0, 30000000 };

	snprintf(path, sizeof(path), "%s/%s", f->src, rel);
	clock_gettime(CLOCK_REALTIME, &now);
	t[0] = now;
	t[0].tv_sec -= 3600;
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
	while (nanosleep(&wait, &wait) < 0 && errno == EINTR)
		;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct passwd *pw = getpwuid(geteuid());
	char errbuf[256];

	assert_non_null(f);
	strcpy(f->root, "/tmp/aml-test-capture.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->src, sizeof(f->src), "%s/src", f->root);
	snprintf(f->snapshots, sizeof(f->snapshots), "%s/snapshots", f->root);
	assert_int_equal(mkdir(f->src, 0755), 0);
	assert_int_equal(mkdir(f->snapshots, 0755), 0);
	assert_non_null(pw);
	if (aml_store_open(&f->store, f->snapshots, pw->pw_name, 1, errbuf,
			   sizeof(errbuf)) < 0)
		fail_msg("store: %s", errbuf);
	aml_errors_init(&f->errs, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	aml_store_close(&f->store);
	aml_errors_free(&f->errs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int capture(struct fixture *f, const struct aml_snapshot_limits *lim)
{
	aml_errors_free(&f->errs);
	aml_errors_init(&f->errs, NULL);
	return aml_snapshot_capture(f->src, &f->store, lim, NULL, NULL, f->id,
				    &f->st, &f->errs);
}

static void capture_ok(struct fixture *f)
{
	if (capture(f, &roomy) != 0)
		fail_msg("capture failed: %s",
			 f->errs.count ? f->errs.lines[0] : "(no message)");
}

/* The one error line of a failed capture, for exact comparison. */
static const char *only_error(struct fixture *f)
{
	assert_int_equal(capture(f, &roomy), -1);
	if (f->errs.count != 1) {
		for (size_t i = 0; i < f->errs.count; i++)
			print_message("# %s\n", f->errs.lines[i]);
		fail_msg("expected 1 error, got %zu", f->errs.count);
	}
	return f->errs.lines[0];
}

static void read_manifest(struct fixture *f, struct aml_manifest *m)
{
	char *text, errbuf[256];
	size_t len;

	if (aml_store_read_manifest(&f->store, f->id, &text, &len, errbuf,
				    sizeof(errbuf)) < 0 ||
	    aml_manifest_decode(text, len, m, errbuf, sizeof(errbuf)) < 0)
		fail_msg("manifest: %s", errbuf);
	free(text);
}

/* Blobs and manifests under [dir]: what a capture stores. */
static size_t count_stored(const char *dir)
{
	char cmd[512];
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "find '%s' -type f \\( -path '*/blobs/*' -o -path '*/manifests/*' \\) | wc -l",
		 dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

/* ---- what is kept ---- */

static void test_keeps_files_links_exec_bits(void **state)
{
	struct fixture *f = *state;
	struct aml_manifest m = { 0 };
	char link[512];

	make_dir(f, "pkg");
	write_file(f, "train.py", "print('hi')\n");
	write_file(f, "pkg/util.py", "x = 1\n");
	snprintf(link, sizeof(link), "%s/pkg/train-link", f->src);
	assert_int_equal(symlink("../train.py", link), 0);
	snprintf(link, sizeof(link), "%s/train.py", f->src);
	assert_int_equal(chmod(link, 0755), 0);
	make_dir(f, ".git");
	write_file(f, ".git/config", "secret\n");
	make_dir(f, "empty");
	capture_ok(f);
	assert_int_equal(f->st.files, 3);
	assert_int_equal(f->st.new_files, 2);
	assert_true(f->st.manifest_written);
	read_manifest(f, &m);
	assert_int_equal(m.count, 3);
	assert_string_equal(m.entries[0].path, "pkg/train-link");
	assert_int_equal(m.entries[0].type, AML_ENTRY_SYMLINK);
	assert_string_equal(m.entries[0].target, "../train.py");
	assert_string_equal(m.entries[1].path, "pkg/util.py");
	assert_false(m.entries[1].executable);
	assert_string_equal(m.entries[2].path, "train.py");
	assert_true(m.entries[2].executable);
	assert_int_equal(m.entries[2].size, 12);
	/* sha256sum of "print('hi')\n" */
	assert_string_equal(m.entries[2].sha256,
			    "caf026f25d7140209f98072605307a438914b9ce6f3c14b23d15d9667241de52");
	aml_manifest_free(&m);
}

static void test_unchanged_tree_same_id_nothing_read(void **state)
{
	struct fixture *f = *state;
	char first[AML_SHA256_HEX_LEN + 1];
	size_t blobs;

	write_file(f, "a.py", "a\n");
	write_file(f, "b.py", "b\n");
	age(f, "a.py");
	age(f, "b.py");
	capture_ok(f);
	strcpy(first, f->id);
	blobs = count_stored(f->snapshots);
	capture_ok(f);
	assert_string_equal(f->id, first);
	assert_int_equal(f->st.hashed_files, 0);
	assert_int_equal(f->st.new_files, 0);
	assert_false(f->st.manifest_written);
	assert_int_equal(count_stored(f->snapshots), blobs);
}

static void test_one_changed_file_is_the_only_one_read(void **state)
{
	struct fixture *f = *state;
	char first[AML_SHA256_HEX_LEN + 1];

	for (int i = 0; i < 20; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%02d.py", i);
		write_file(f, name, name);
		age(f, name);
	}
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 20);
	strcpy(first, f->id);
	write_file(f, "f07.py", "changed\n");
	age(f, "f07.py");
	capture_ok(f);
	assert_string_not_equal(f->id, first);
	assert_int_equal(f->st.hashed_files, 1);
	assert_int_equal(f->st.new_files, 1);
}

/* The store's one stat cache file, as it is now. */
static void cache_file(struct fixture *f, struct stat *st)
{
	char dir[512], path[1024];
	struct dirent *de;
	DIR *d;
	int found = 0;

	snprintf(dir, sizeof(dir), "%s/cache", f->store.path);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			assert_int_equal(stat(path, st), 0);
			found++;
		}
	closedir(d);
	assert_int_equal(found, 1);
}

/* Files f000..f<n-1>, an hour old and out of the racy window. */
static void aged_files(struct fixture *f, int first, int n, const char *text)
{
	struct timespec t[2], wait = { 0, 30000000 };
	char name[32], path[512];

	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= 3600;
	t[1] = t[0];
	for (int i = first; i < first + n; i++) {
		snprintf(name, sizeof(name), "f%03d", i);
		write_file(f, name, text);
		snprintf(path, sizeof(path), "%s/%s", f->src, name);
		assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	}
	while (nanosleep(&wait, &wait) < 0 && errno == EINTR)
		;
}

/* A few edits leave the cache as it was (rewriting it costs more than
 * reading them again); more than 1% of the tree, at least 8 files,
 * rewrites it, and then nothing is read again. */
static void test_cache_rewritten_only_when_worth_it(void **state)
{
	struct fixture *f = *state;
	struct stat before, after;
	char edited[AML_SHA256_HEX_LEN + 1];

	aged_files(f, 0, 100, "same\n");
	capture_ok(f);
	cache_file(f, &before);
	aged_files(f, 7, 1, "edited\n");
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 1);
	strcpy(edited, f->id);
	cache_file(f, &after);
	assert_int_equal(after.st_ino, before.st_ino);
	/* Read again, and still the same snapshot. */
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 1);
	assert_string_equal(f->id, edited);
	cache_file(f, &after);
	assert_int_equal(after.st_ino, before.st_ino);
	/* Six files the cache is wrong about: 12 entries differ, over 8. */
	aged_files(f, 20, 5, "edited too\n");
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 6);
	cache_file(f, &after);
	assert_int_not_equal(after.st_ino, before.st_ino);
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 0);
}

/* A change that keeps size and mtime (tools restore mtimes) still shows
 * in the ctime, which the cache compares too. */
static void test_change_hidden_from_mtime_is_seen(void **state)
{
	struct fixture *f = *state;
	char path[512];
	struct stat before;
	struct timespec t[2];

	write_file(f, "w.py", "aaaa\n");
	age(f, "w.py");
	capture_ok(f);
	snprintf(path, sizeof(path), "%s/w.py", f->src);
	assert_int_equal(stat(path, &before), 0);
	write_file(f, "w.py", "bbbb\n");
	t[0] = before.st_atim;
	t[1] = before.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 1);
	assert_int_equal(f->st.new_files, 1);
}

static void test_amlignore_replaces_gitignore(void **state)
{
	struct fixture *f = *state;
	struct aml_manifest m = { 0 };

	make_dir(f, "data");
	write_file(f, "data/big.bin", "0123456789");
	write_file(f, "notes.log", "log\n");
	write_file(f, "keep.py", "k\n");
	write_file(f, ".gitignore", "*.py\n");
	write_file(f, ".amlignore", "data/\n*.log\n");
	capture_ok(f);
	read_manifest(f, &m);
	/* .gitignore's *.py does not apply: the files are not merged */
	assert_int_equal(m.count, 3);
	assert_string_equal(m.entries[0].path, ".amlignore");
	assert_string_equal(m.entries[1].path, ".gitignore");
	assert_string_equal(m.entries[2].path, "keep.py");
	assert_int_equal(f->st.ignored, 2);
	aml_manifest_free(&m);
}

static void test_gitignore_applies_without_amlignore(void **state)
{
	struct fixture *f = *state;
	struct aml_manifest m = { 0 };

	write_file(f, "a.pyc", "c");
	write_file(f, "a.py", "p");
	write_file(f, ".gitignore", "*.pyc\n");
	capture_ok(f);
	read_manifest(f, &m);
	assert_int_equal(m.count, 2);
	assert_string_equal(m.entries[1].path, "a.py");
	aml_manifest_free(&m);
}

/* ---- what is refused ---- */

static void test_symlink_leaving_the_tree_refused(void **state)
{
	struct fixture *f = *state;
	char link[512];

	write_file(f, "ok.py", "x");
	snprintf(link, sizeof(link), "%s/passwd", f->src);
	assert_int_equal(symlink("../../../../../etc/passwd", link), 0);
	assert_non_null(strstr(only_error(f), "passwd"));
	assert_non_null(strstr(f->errs.lines[0], ".amlignore"));
	/* refused in the walk: nothing read, nothing stored */
	assert_int_equal(count_stored(f->snapshots), 0);
}

static void test_absolute_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char link[512];

	snprintf(link, sizeof(link), "%s/abs", f->src);
	assert_int_equal(symlink("/etc/hostname", link), 0);
	assert_non_null(strstr(only_error(f), "abs"));
}

static void test_fifo_socket_device_refused(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char path[512];
	int sock, have_device;

	snprintf(path, sizeof(path), "%s/pipe", f->src);
	assert_int_equal(mkfifo(path, 0644), 0);
	/* src is "/tmp/aml-test-capture.XXXXXX/src": well under sun_path */
	assert_true(strlen(f->src) + sizeof("/sock") <= sizeof(addr.sun_path));
	memcpy(addr.sun_path, f->src, strlen(f->src));
	memcpy(addr.sun_path + strlen(f->src), "/sock", sizeof("/sock"));
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(sock >= 0);
	assert_int_equal(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	snprintf(path, sizeof(path), "%s/null", f->src);
	have_device = mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0;
	assert_int_equal(capture(f, &roomy), -1);
	assert_int_equal(f->errs.count, 2 + have_device);
	for (size_t i = 0; i < f->errs.count; i++)
		assert_non_null(strstr(f->errs.lines[i], "add it to .amlignore"));
	close(sock);
}

static void test_odd_names_refused_and_shown_escaped(void **state)
{
	struct fixture *f = *state;

	write_file(f, "new\nline.py", "x");
	write_file(f, "bad\xff.py", "x");
	assert_int_equal(capture(f, &roomy), -1);
	assert_int_equal(f->errs.count, 2);
	for (size_t i = 0; i < f->errs.count; i++) {
		/* one line each: the newline is shown, not printed */
		assert_null(strchr(f->errs.lines[i], '\n'));
		assert_non_null(strstr(f->errs.lines[i], "rename it or add it to .amlignore"));
	}
	assert_true(strstr(f->errs.lines[0], "new\\x0aline.py") ||
		    strstr(f->errs.lines[1], "new\\x0aline.py"));
	assert_true(strstr(f->errs.lines[0], "bad\\xff.py") ||
		    strstr(f->errs.lines[1], "bad\\xff.py"));
}

/* 10,000 directories deep: the walk stops where paths pass the manifest's
 * limit, with one error, instead of running out of descriptors or stack. */
static void test_ten_thousand_deep(void **state)
{
	struct fixture *f = *state;
	int fd = open(f->src, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	for (int i = 0; i < 10000; i++) {
		int next;

		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
	assert_non_null(strstr(only_error(f), "longer than 4096 bytes"));
}

static void test_unreadable_file_refused(void **state)
{
	struct fixture *f = *state;
	struct passwd *nobody = getpwnam("nobody");
	char path[512], store_dir[256];
	int pipefd[2];
	pid_t pid;
	int status;

	if (geteuid() != 0 || !nobody) {
		print_message("# SKIP: needs root to run a capture as nobody\n");
		skip();
	}
	write_file(f, "secret.py", "s");
	snprintf(path, sizeof(path), "%s/secret.py", f->src);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(chmod(f->root, 0755), 0);
	snprintf(store_dir, sizeof(store_dir), "%s/nobody-snapshots", f->root);
	assert_int_equal(mkdir(store_dir, 0755), 0);
	assert_int_equal(chown(store_dir, nobody->pw_uid, nobody->pw_gid), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct aml_store store;
		struct aml_errors errs;
		struct aml_capture_stats st;
		char id[AML_SHA256_HEX_LEN + 1], errbuf[256];
		int rc;

		close(pipefd[0]);
		if (setgid(nobody->pw_gid) || setuid(nobody->pw_uid) ||
		    aml_store_open(&store, store_dir, "nobody", 1, errbuf,
				   sizeof(errbuf)) < 0)
			_exit(3);
		aml_errors_init(&errs, NULL);
		rc = aml_snapshot_capture(f->src, &store, &roomy, NULL, NULL,
					  id, &st, &errs);
		if (errs.count)
			(void)!write(pipefd[1], errs.lines[0],
				     strlen(errs.lines[0]));
		_exit(rc == -1 && errs.count == 1 ? 0 : 1);
	}
	close(pipefd[1]);
	{
		char line[512] = { 0 };

		(void)!read(pipefd[0], line, sizeof(line) - 1);
		close(pipefd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_non_null(strstr(line, "secret.py"));
		assert_non_null(strstr(line, "Permission denied"));
	}
}

/* ---- limits ---- */

static void test_over_the_limits_names_what_is_heavy(void **state)
{
	struct fixture *f = *state;
	struct aml_snapshot_limits tight = { 1000, 4 };
	char big[2001];
	const char *line;

	memset(big, 'x', 2000);
	big[2000] = '\0';
	make_dir(f, "data");
	make_dir(f, "data/raw");
	write_file(f, "data/raw/huge.bin", big);
	write_file(f, "data/small.txt", "s");
	write_file(f, "train.py", "t");
	write_file(f, "a.py", "a");
	write_file(f, "b.py", "b");
	assert_int_equal(capture(f, &tight), -1);
	assert_int_equal(f->errs.count, 1);
	line = f->errs.lines[0];
	assert_non_null(strstr(line, "the snapshot would be 2.0 KiB in 5 files"));
	assert_non_null(strstr(line, "1000 bytes (SnapshotMaxSize in aml.conf)"));
	assert_non_null(strstr(line, "4 files (SnapshotMaxFiles in aml.conf)"));
	assert_non_null(strstr(line, "largest directories: data/ 2.0 KiB in 2 files, data/raw/ 2.0 KiB in 1 file"));
	assert_non_null(strstr(line, "largest files: data/raw/huge.bin 2.0 KiB"));
	assert_non_null(strstr(line, ".amlignore"));
	/* nothing was stored: no blob, no manifest */
	assert_int_equal(count_stored(f->snapshots), 0);
}

/* Too many small files: the directories holding the most files are named,
 * whatever their size. */
static void test_too_many_files_names_the_crowded_directory(void **state)
{
	struct fixture *f = *state;
	struct aml_snapshot_limits few = { 1 << 20, 5 };
	char big[1001];
	const char *line;

	memset(big, 'b', 1000);
	big[1000] = '\0';
	make_dir(f, "node_modules");
	make_dir(f, "node_modules/pkg");
	for (int i = 0; i < 6; i++) {
		char name[64];

		snprintf(name, sizeof(name), "node_modules/pkg/m%d.js", i);
		write_file(f, name, "1");
	}
	make_dir(f, "models");
	write_file(f, "models/weights.bin", big);
	assert_int_equal(capture(f, &few), -1);
	line = f->errs.lines[0];
	assert_non_null(strstr(line, "over the limit of 5 files (SnapshotMaxFiles in aml.conf)"));
	assert_non_null(strstr(line, "directories with the most files: node_modules/ 6 bytes in 6 files, node_modules/pkg/ 6 bytes in 6 files, models/ 1000 bytes in 1 file"));
	assert_null(strstr(line, "largest files"));
}

/* ---- atomicity and concurrency ---- */

static void test_two_captures_at_once(void **state)
{
	struct fixture *f = *state;
	pid_t pids[2];
	int status;

	for (int i = 0; i < 50; i++) {
		char name[32];

		snprintf(name, sizeof(name), "m%02d.py", i);
		write_file(f, name, name);
		age(f, name);
	}
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(capture(f, &roomy) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	capture_ok(f);
	assert_int_equal(f->st.new_files, 0);
}

/* Killed half way: what is visible is whole, and the next capture works. */
static void test_killed_capture_leaves_nothing_partial(void **state)
{
	struct fixture *f = *state;
	struct aml_manifest m = { 0 };
	char tmp[512], blob_dir[512];
	char *big = malloc(64 << 20);
	pid_t pid;
	int status;
	FILE *out;

	assert_non_null(big);
	memset(big, 'q', 64 << 20);
	snprintf(tmp, sizeof(tmp), "%s/big.bin", f->src);
	out = fopen(tmp, "w");
	assert_non_null(out);
	assert_int_equal(fwrite(big, 1, 64 << 20, out), 64 << 20);
	assert_int_equal(fclose(out), 0);
	free(big);
	write_file(f, "small.py", "s\n");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(capture(f, &roomy) == 0 ? 0 : 1);
	/* wait until the child is writing into the store's tmp/ */
	snprintf(blob_dir, sizeof(blob_dir), "%s/%s/tmp", f->snapshots,
		 getpwuid(geteuid())->pw_name);
	for (int i = 0; i < 20000; i++) {
		DIR *d = opendir(blob_dir);
		struct dirent *de;
		int busy = 0;

		while (d && (de = readdir(d)))
			busy |= de->d_name[0] != '.';
		if (d)
			closedir(d);
		if (busy || waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(500);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* no manifest may be visible unless the child finished */
	snprintf(tmp, sizeof(tmp), "find '%s' -path '*/manifests/*' -type f | wc -l",
		 f->snapshots);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		FILE *p = popen(tmp, "r");
		int n = -1;

		assert_int_equal(fscanf(p, "%d", &n), 1);
		pclose(p);
		assert_int_equal(n, 0);
	}
	/* every blob that is visible has the content its name says */
	snprintf(tmp, sizeof(tmp),
		 "cd '%s' && for b in */blobs/*/*; do [ -e \"$b\" ] || continue; "
		 "h=$(sha256sum < \"$b\" | cut -c1-64); "
		 "n=$(echo \"$b\" | awk -F/ '{print $(NF-1) $NF}'); "
		 "[ \"$h\" = \"$n\" ] || exit 1; done",
		 f->snapshots);
	assert_int_equal(system(tmp), 0);
	capture_ok(f);
	read_manifest(f, &m);
	assert_int_equal(m.count, 2);
	aml_manifest_free(&m);
}

/* A cache whose snapshot was collected may vouch for blobs that are gone:
 * the capture notices and reads the files again. */
static void test_cache_after_gc_reads_again(void **state)
{
	struct fixture *f = *state;
	struct aml_gc_stats gc;
	char errbuf[256];

	write_file(f, "g.py", "gone\n");
	age(f, "g.py");
	capture_ok(f);
	/* the snapshot was last used a day ago: gc --older-than 0 takes it */
	snprintf(errbuf, sizeof(errbuf),
		 "find '%s' -path '*/manifests/*' -type f -exec touch -d '1 day ago' {} +",
		 f->snapshots);
	assert_int_equal(system(errbuf), 0);
	assert_int_equal(aml_store_gc(&f->store, 0, &gc, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(gc.manifests_removed, 1);
	capture_ok(f);
	assert_int_equal(f->st.new_files, 1);
	assert_true(f->st.manifest_written);
}

/*
 * A gc drops the blobs that only a damaged manifest names; the capture
 * after it sees the gc (aml_store_blobs_kept_since), finds the cache's
 * manifest unreadable, and reads and stores the file again.
 */
static void test_cache_of_damaged_snapshot_after_gc(void **state)
{
	struct fixture *f = *state;
	struct aml_gc_stats gc;
	char cmd[512], errbuf[256];

	write_file(f, "d.py", "damaged later\n");
	age(f, "d.py");
	capture_ok(f);
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 0);
	/* One byte changed, the size kept. */
	snprintf(cmd, sizeof(cmd),
		 "chmod u+w '%s/manifests/%s' && printf X | dd of='%s/manifests/%s' bs=1 seek=20 conv=notrunc 2>/dev/null",
		 f->store.path, f->id, f->store.path, f->id);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(aml_store_gc(&f->store, 30, &gc, errbuf,
				      sizeof(errbuf)), 0);
	assert_int_equal(gc.manifests_invalid, 1);
	assert_int_equal(gc.blobs_removed, 1);
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 1);
	assert_int_equal(f->st.new_files, 1);
}

/* Set [rel]'s mtime to [sec] seconds and [nsec] nanoseconds. */
static void set_mtime(struct fixture *f, const char *rel, time_t sec, long nsec)
{
	char path[512];
	struct timespec t[2] = { { sec, nsec }, { sec, nsec } };

	snprintf(path, sizeof(path), "%s/%s", f->src, rel);
	assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

/*
 * The id of a small tree, pinned: snapshots already in stores stay valid
 * only while the same tree gives the same id, however the capture finds,
 * orders and encodes what it holds.  Captured twice, the second time with
 * the stat cache vouching for every file.
 */
static void test_small_tree_id_pinned(void **state)
{
	struct fixture *f = *state;
	struct timespec wait = { 0, 30000000 };
	char path[512];

	make_dir(f, "src");
	make_dir(f, "src/pkg");
	make_dir(f, "data");
	write_file(f, "train.py", "print('hi')\n");
	write_file(f, "src/pkg/a b.py", "x = 1\n");
	write_file(f, "src/pkg/util.py", "");
	write_file(f, "data/caf\xc3\xa9.csv", "1,2\n");
	write_file(f, "src-notes.txt", "notes\n");
	snprintf(path, sizeof(path), "%s/train.py", f->src);
	assert_int_equal(chmod(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/src/pkg/train", f->src);
	assert_int_equal(symlink("../../train.py", path), 0);
	set_mtime(f, "train.py", 1700000000, 123456789);
	set_mtime(f, "src/pkg/a b.py", 1600000000, 0);
	set_mtime(f, "src/pkg/util.py", 1700000001, 1);
	set_mtime(f, "data/caf\xc3\xa9.csv", 1700000002, 999999999);
	set_mtime(f, "src-notes.txt", 1500000000, 500);
	set_mtime(f, "src/pkg/train", 1700000003, 42);
	/* past the racy window of the ctimes just set, as age() does */
	while (nanosleep(&wait, &wait) < 0 && errno == EINTR)
		;
	capture_ok(f);
	assert_int_equal(f->st.files, 6);
	assert_string_equal(f->id, PINNED_ID);
	capture_ok(f);
	assert_int_equal(f->st.hashed_files, 0);
	assert_string_equal(f->id, PINNED_ID);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_keeps_files_links_exec_bits),
		T(test_unchanged_tree_same_id_nothing_read),
		T(test_one_changed_file_is_the_only_one_read),
		T(test_cache_rewritten_only_when_worth_it),
		T(test_change_hidden_from_mtime_is_seen),
		T(test_amlignore_replaces_gitignore),
		T(test_gitignore_applies_without_amlignore),
		T(test_symlink_leaving_the_tree_refused),
		T(test_absolute_symlink_refused),
		T(test_fifo_socket_device_refused),
		T(test_odd_names_refused_and_shown_escaped),
		T(test_ten_thousand_deep),
		T(test_unreadable_file_refused),
		T(test_over_the_limits_names_what_is_heavy),
		T(test_too_many_files_names_the_crowded_directory),
		T(test_two_captures_at_once),
		T(test_killed_capture_leaves_nothing_partial),
		T(test_cache_after_gc_reads_again),
		T(test_cache_of_damaged_snapshot_after_gc),
		T(test_small_tree_id_pinned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
