/*
 * test_store.c: the per-user snapshot store (plugin/store.c): its
 * layout and modes, the refusals that keep another user or a planted
 * symlink out, atomic publication under kill -9 and under concurrent
 * writers, the lock, and gc.
 *
 * Every test gets a fresh snapshot directory under /tmp.  Children made
 * with fork() never call cmocka: they report through their exit status.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, asprintf */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "manifest.h"
#include "store.h"
#include "tree.h"

#define USER "alice"
#define NOBODY 65534

struct fixture {
	char base[64];        /* the snapshot directory */
	char *root;           /* base/alice */
	struct aml_store s;
	char err[1024];
};

/* ---- helpers ---- */

static void remove_tree(const char *path)
{
	aml_tree_remove(AT_FDCWD, path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->base, "/tmp/test_store.XXXXXX");
	if (!mkdtemp(f->base) || asprintf(&f->root, "%s/" USER, f->base) < 0)
		return -1;
	if (aml_store_open(&f->s, f->base, USER, 1, f->err, sizeof(f->err)) != 0) {
		fprintf(stderr, "setup: %s\n", f->err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aml_store_close(&f->s);
	remove_tree(f->base);
	free(f->root);
	free(f);
	return 0;
}

/* "<root>/<rel>" in a static buffer (one at a time). */
static const char *at(struct fixture *f, const char *rel)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", f->root, rel);
	return buf;
}

static const char *blob_path(struct fixture *f, const char *hex)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/blobs/%.2s/%s", f->root, hex, hex + 2);
	return buf;
}

/* A descriptor reading [len] bytes of [data] from its start. */
static int data_fd(const void *data, size_t len)
{
	int fd = memfd_create("test_store", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Store [data]; returns [written]. */
static int put(struct fixture *f, const char *data, size_t len,
	       char hex[AML_SHA256_HEX_LEN + 1])
{
	char expect[AML_SHA256_HEX_LEN + 1];
	uint64_t size = 99;
	int fd = data_fd(data, len), written = -1;

	if (aml_store_put_fd(&f->s, fd, "data", hex, &size, &written, f->err,
			     sizeof(f->err)) != 0)
		fail_msg("put_fd: %s", f->err);
	close(fd);
	assert_true(size == len);
	assert_int_equal(aml_sha256_buffer(data, len, expect), 0);
	assert_string_equal(hex, expect);
	return written;
}

static void put_str(struct fixture *f, const char *data,
		    char hex[AML_SHA256_HEX_LEN + 1])
{
	put(f, data, strlen(data), hex);
}

/* Publish a manifest of files named f0, f1, ... with blobs [hexes];
 * returns [written] and fills [id]. */
static int publish(struct fixture *f, const char *const *hexes, size_t n,
		   char id[AML_SHA256_HEX_LEN + 1])
{
	struct aml_manifest m = { 0 };
	char path[32];
	size_t len;
	char *text;
	int written = -1;

	for (size_t i = 0; i < n; i++) {
		struct aml_manifest_entry e;

		memset(&e, 0, sizeof(e));
		e.type = AML_ENTRY_FILE;
		snprintf(path, sizeof(path), "f%zu", i);
		e.path = path;
		memcpy(e.sha256, hexes[i], AML_SHA256_HEX_LEN + 1);
		assert_int_equal(aml_manifest_add(&m, &e), 0);
	}
	assert_int_equal(aml_manifest_finish(&m, f->err, sizeof(f->err)), 0);
	text = aml_manifest_encode(&m, &len, id);
	assert_non_null(text);
	if (aml_store_put_manifest(&f->s, id, text, len, &written, f->err,
				   sizeof(f->err)) != 0)
		fail_msg("put_manifest: %s", f->err);
	free(text);
	aml_manifest_free(&m);
	return written;
}

static void set_age(const char *path, time_t seconds)
{
	struct timespec times[2];

	clock_gettime(CLOCK_REALTIME, &times[0]);
	times[0].tv_sec -= seconds;
	times[1] = times[0];
	assert_int_equal(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Entries in directory [path] other than "." and "..", or -1. */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static char *read_file(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

/* Every blob's content hashes to its name; returns how many there are. */
static int verify_all_blobs(struct fixture *f)
{
	char path[512];
	DIR *top;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/blobs", f->root);
	top = opendir(path);
	assert_non_null(top);
	while ((de = readdir(top))) {
		struct dirent *be;
		DIR *sub;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/blobs/%s", f->root, de->d_name);
		sub = opendir(path);
		assert_non_null(sub);
		while ((be = readdir(sub))) {
			char hex[AML_SHA256_HEX_LEN + 1], name[AML_SHA256_HEX_LEN + 1];
			struct aml_sha256 h;
			char buf[65536];
			ssize_t r;
			int fd;

			if (be->d_name[0] == '.')
				continue;
			snprintf(name, sizeof(name), "%.2s%.62s", de->d_name, be->d_name);
			fd = aml_store_open_blob(&f->s, name, f->err, sizeof(f->err));
			assert_true(fd >= 0);
			assert_int_equal(aml_sha256_init(&h), 0);
			while ((r = read(fd, buf, sizeof(buf))) > 0)
				assert_int_equal(aml_sha256_update(&h, buf, (size_t)r), 0);
			assert_int_equal(r, 0);
			close(fd);
			assert_int_equal(aml_sha256_final(&h, hex), 0);
			assert_string_equal(hex, name);
			n++;
		}
		closedir(sub);
	}
	closedir(top);
	return n;
}

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		print_message("# SKIP: needs root to give a directory to another uid\n");
		skip();
	}
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for child [pid]; returns its exit status, or 128 + signal. */
static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* ---- open ---- */

static void test_create_modes(void **state)
{
	static const char *const subdirs[] = { "blobs", "manifests", "cache",
					       "tmp" };
	struct fixture *f = *state;
	struct aml_store again;
	struct stat st;

	assert_string_equal(f->s.path, f->root);
	assert_int_equal(f->s.lockfd, -1);
	assert_int_equal(lstat(f->root, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, geteuid());
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(lstat(at(f, subdirs[i]), &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
	}
	/* Opening again, with or without create, is fine. */
	assert_int_equal(aml_store_open(&again, f->base, USER, 0, f->err,
					sizeof(f->err)), 0);
	aml_store_close(&again);
	assert_int_equal(aml_store_open(&again, f->base, USER, 1, f->err,
					sizeof(f->err)), 0);
	aml_store_close(&again);
	aml_store_close(&again);  /* twice is harmless */
}

static void test_open_missing(void **state)
{
	struct fixture *f = *state;
	struct aml_store s;
	char expect[256];

	assert_int_equal(aml_store_open(&s, f->base, "bob", 0, f->err,
					sizeof(f->err)), -1);
	snprintf(expect, sizeof(expect), "%s/bob: No such file or directory",
		 f->base);
	assert_string_equal(f->err, expect);
	aml_store_close(&s);   /* left closed: harmless */
	assert_false(exists(at(f, "../bob")));
	/* The snapshot directory itself is never made. */
	assert_int_equal(aml_store_open(&s, "/nonexistent/aml", "bob", 1, f->err,
					sizeof(f->err)), -1);
	assert_string_equal(f->err, "/nonexistent/aml: No such file or directory");
}

static void test_bad_user_names(void **state)
{
	static const char *const names[] = { "", "a/b", ".", "..", "/" };
	struct fixture *f = *state;
	struct aml_store s;

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		assert_int_equal(aml_store_open(&s, f->base, names[i], 1, f->err,
						sizeof(f->err)), -1);
		assert_non_null(strstr(f->err, "is not a plain file name"));
	}
}

/* A store another uid made first under the user's name is neither used
 * nor a refusal: the user gets a store of their own beside it. */
static void test_other_owner_stepped_around(void **state)
{
	struct fixture *f = *state;
	struct aml_store s;
	struct stat st;
	char path[128];

	skip_unless_root();
	snprintf(path, sizeof(path), "%s/bob", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chown(path, NOBODY, NOBODY), 0);
	assert_int_equal(aml_store_open(&s, f->base, "bob", 1, f->err,
					sizeof(f->err)), 0);
	assert_string_not_equal(s.path, path);
	assert_int_equal(strncmp(s.path, path, strlen(path)), 0);
	assert_int_equal(s.path[strlen(path)], '.');
	assert_int_equal(fstat(s.dirfd, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	aml_store_close(&s);
	/* The squatter's directory is left as it was, empty. */
	assert_int_equal(count_entries(path), 0);
	/* Found again without create. */
	assert_int_equal(aml_store_open(&s, f->base, "bob", 0, f->err,
					sizeof(f->err)), 0);
	assert_int_equal(s.path[strlen(path)], '.');
	aml_store_close(&s);
}

/* Another user's process (a forked child with euid nobody) is refused
 * the store root owns. */
static void test_refuse_store_of_another_user(void **state)
{
	struct fixture *f = *state;
	pid_t pid;

	skip_unless_root();
	assert_int_equal(chmod(f->base, 0711), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct aml_store s;
		char err[512];
		int refused;

		if (setegid(NOBODY) != 0 || seteuid(NOBODY) != 0)
			_exit(2);
		/* Root's store is not nobody's; nobody cannot read the
		 * 0711 directory to find or make one of its own. */
		refused = aml_store_open(&s, f->base, USER, 1, err, sizeof(err)) != 0 &&
			  strstr(err, "Permission denied");
		aml_store_close(&s);
		_exit(refused ? 0 : 1);
	}
	assert_int_equal(wait_child(pid), 0);
}

static void test_refuse_symlinked_store(void **state)
{
	struct fixture *f = *state;
	struct aml_store s;
	char real[128], link[128];

	snprintf(real, sizeof(real), "%s/real", f->base);
	snprintf(link, sizeof(link), "%s/carol", f->base);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink("real", link), 0);
	assert_int_equal(aml_store_open(&s, f->base, "carol", 0, f->err,
					sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "/carol: is a symbolic link: refused"));
	assert_int_equal(aml_store_open(&s, f->base, "carol", 1, f->err,
					sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "is a symbolic link"));
	/* Nothing was made through it. */
	assert_int_equal(count_entries(real), 0);
}

static void test_refuse_writable_store(void **state)
{
	struct fixture *f = *state;
	struct aml_store s;
	char path[128];

	snprintf(path, sizeof(path), "%s/dave", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0770), 0);
	assert_int_equal(aml_store_open(&s, f->base, "dave", 1, f->err,
					sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "/dave: is open to group or others (mode 0770): refused"));
	assert_int_equal(chmod(path, 0702), 0);
	assert_int_equal(aml_store_open(&s, f->base, "dave", 0, f->err,
					sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "(mode 0702)"));
	/* Readable by others is the owner's choice. */
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(aml_store_open(&s, f->base, "dave", 1, f->err,
					sizeof(f->err)), 0);
	aml_store_close(&s);
}

static void test_refuse_regular_file_store(void **state)
{
	struct fixture *f = *state;
	struct aml_store s;
	char path[128];

	snprintf(path, sizeof(path), "%s/erin", f->base);
	write_file(path, "x");
	assert_int_equal(aml_store_open(&s, f->base, "erin", 0, f->err,
					sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "/erin: is not a directory"));
}

/* ---- blobs ---- */

static void test_put_new_and_existing(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], again[AML_SHA256_HEX_LEN + 1];
	struct stat st;
	char buf[64];
	ssize_t n;
	int fd;

	assert_int_equal(put(f, "hello\n", 6, hex), 1);
	assert_string_equal(hex, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
	assert_true(aml_store_has_blob(&f->s, hex));
	assert_int_equal(lstat(blob_path(f, hex), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 6);
	assert_int_equal(put(f, "hello\n", 6, again), 0);
	assert_string_equal(hex, again);
	/* Nothing left behind in tmp/. */
	assert_int_equal(count_entries(at(f, "tmp")), 0);

	fd = aml_store_open_blob(&f->s, hex, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "hello\n", 6);
	close(fd);

	/* The empty file is a blob like any other. */
	assert_int_equal(put(f, "", 0, hex), 1);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_true(aml_store_has_blob(&f->s, hex));
	assert_false(aml_store_has_blob(&f->s, "0000000000000000000000000000000000000000000000000000000000000000"));
	assert_false(aml_store_has_blob(&f->s, "nothex"));
}

static void test_blob_read_only(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1];
	struct stat st;
	mode_t old = umask(077);

	/* 0444 whatever the umask. */
	put_str(f, "read only\n", hex);
	umask(old);
	assert_int_equal(lstat(blob_path(f, hex), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(st.st_uid, geteuid());
}

/* More than one 256 KiB chunk, through a pipe written in odd pieces. */
static void test_put_from_pipe_large(void **state)
{
	enum { SIZE = 3 * 1024 * 1024 + 12345 };
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], expect[AML_SHA256_HEX_LEN + 1];
	unsigned char *data = malloc(SIZE);
	uint64_t size;
	int p[2], written;
	uint32_t x = 88172645u;
	pid_t pid;
	struct stat st;

	assert_non_null(data);
	for (size_t i = 0; i < SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	assert_int_equal(aml_sha256_buffer(data, SIZE, expect), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t off = 0, step = 1000;

		close(p[0]);
		while (off < SIZE) {
			size_t n = step < SIZE - off ? step : SIZE - off;
			ssize_t w = write(p[1], data + off, n);

			if (w <= 0)
				_exit(1);
			off += (size_t)w;
			step = step * 7 % 300001 + 1;
		}
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(aml_store_put_fd(&f->s, p[0], "pipe", hex, &size,
					  &written, f->err, sizeof(f->err)), 0);
	close(p[0]);
	assert_int_equal(wait_child(pid), 0);
	assert_string_equal(hex, expect);
	assert_true(size == SIZE);
	assert_int_equal(written, 1);
	assert_int_equal(lstat(blob_path(f, hex), &st), 0);
	assert_int_equal(st.st_size, SIZE);
	free(data);
	assert_int_equal(verify_all_blobs(f), 1);
}

/* Sizes around the 256 KiB chunk: whole in the first read, exactly one
 * chunk, one byte more. */
static void test_put_chunk_boundaries(void **state)
{
	static const size_t sizes[] = { 256 * 1024 - 1, 256 * 1024,
					256 * 1024 + 1, 512 * 1024 };
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1];
	char *data = malloc(512 * 1024 + 1);
	struct stat st;

	assert_non_null(data);
	for (size_t i = 0; i < 512 * 1024 + 1; i++)
		data[i] = (char)(i * 131 + 7);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
		assert_int_equal(put(f, data, sizes[k], hex), 1);
		assert_int_equal(lstat(blob_path(f, hex), &st), 0);
		assert_int_equal((size_t)st.st_size, sizes[k]);
		assert_int_equal(put(f, data, sizes[k], hex), 0);
	}
	free(data);
	assert_int_equal(verify_all_blobs(f), 4);
	assert_int_equal(count_entries(at(f, "tmp")), 0);
}

/* A small source whose blob exists is hashed and dropped without a
 * temporary: it succeeds even with tmp/ unusable, and writes nothing. */
static void test_put_existing_small_writes_nothing(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], out[256];
	char *big = calloc(1, 300000);
	uint64_t size;
	int fd, written;

	assert_non_null(big);
	put_str(f, "already here\n", hex);
	assert_int_equal(put(f, big, 300000, hex), 1);
	snprintf(out, sizeof(out), "%s/outside", f->base);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(rmdir(at(f, "tmp")), 0);
	assert_int_equal(symlink(out, at(f, "tmp")), 0);
	assert_int_equal(put(f, "already here\n", 13, hex), 0);
	/* A larger one streams through tmp/ first, which is refused. */
	fd = data_fd(big, 300000);
	assert_int_equal(aml_store_put_fd(&f->s, fd, "big", hex, &size, &written,
					  f->err, sizeof(f->err)), -1);
	close(fd);
	assert_non_null(strstr(f->err, "/tmp: is a symbolic link: refused"));
	assert_int_equal(count_entries(out), 0);
	free(big);
}

static void test_put_read_error(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1];
	uint64_t size;
	int fd = open("/", O_RDONLY | O_DIRECTORY), written;

	assert_true(fd >= 0);
	assert_int_equal(aml_store_put_fd(&f->s, fd, "src/dir", hex, &size,
					  &written, f->err, sizeof(f->err)), -1);
	close(fd);
	assert_string_equal(f->err, "src/dir: Is a directory");
	assert_int_equal(count_entries(at(f, "tmp")), 0);
}

/* A blob torn by a crash (wrong size) is replaced by a fresh copy. */
static void test_torn_blob_replaced(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1];

	put_str(f, "the whole content\n", hex);
	assert_int_equal(chmod(blob_path(f, hex), 0644), 0);
	assert_int_equal(truncate(blob_path(f, hex), 4), 0);
	assert_int_equal(put(f, "the whole content\n", 18, hex), 1);
	assert_string_equal(read_file(blob_path(f, hex)), "the whole content\n");
}

static void test_open_blob_refusals(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], dir[512];

	assert_int_equal(aml_store_open_blob(&f->s, "ABC", f->err,
					     sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "is not a SHA-256 in hex"));
	assert_int_equal(aml_sha256_buffer("fifo", 4, hex), 0);
	assert_int_equal(aml_store_open_blob(&f->s, hex, f->err,
					     sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "No such file or directory"));
	assert_non_null(strstr(f->err, f->root));

	/* A FIFO planted as a blob does not hang the reader. */
	snprintf(dir, sizeof(dir), "%s/blobs/%.2s", f->root, hex);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkfifo(blob_path(f, hex), 0600), 0);
	assert_int_equal(aml_store_open_blob(&f->s, hex, f->err,
					     sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "is not a regular file"));
	assert_false(aml_store_has_blob(&f->s, hex));

	/* Nor is a symlink followed. */
	assert_int_equal(unlink(blob_path(f, hex)), 0);
	assert_int_equal(symlink("/etc/passwd", blob_path(f, hex)), 0);
	assert_int_equal(aml_store_open_blob(&f->s, hex, f->err,
					     sizeof(f->err)), -1);
	assert_false(aml_store_has_blob(&f->s, hex));
}

/* ---- planted symlinks ---- */

static void make_outside(struct fixture *f, char out[256])
{
	snprintf(out, 256, "%s/outside", f->base);
	assert_int_equal(mkdir(out, 0700), 0);
}

static void test_planted_symlink_blob_dir(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], out[256], sub[512];
	const char *content = "redirect me\n";
	uint64_t size;
	int fd, written;

	make_outside(f, out);
	assert_int_equal(aml_sha256_buffer(content, strlen(content), hex), 0);
	snprintf(sub, sizeof(sub), "%s/blobs/%.2s", f->root, hex);
	assert_int_equal(symlink(out, sub), 0);
	fd = data_fd(content, strlen(content));
	assert_int_equal(aml_store_put_fd(&f->s, fd, "src", hex, &size, &written,
					  f->err, sizeof(f->err)), -1);
	close(fd);
	assert_non_null(strstr(f->err, "/blobs/"));
	assert_non_null(strstr(f->err, "is a symbolic link: refused"));
	assert_int_equal(count_entries(out), 0);
	assert_int_equal(count_entries(at(f, "tmp")), 0);
	/* Nor is a blob read through it. */
	snprintf(sub, sizeof(sub), "%s/%s", out, hex + 2);
	write_file(sub, content);
	assert_false(aml_store_has_blob(&f->s, hex));
	assert_int_equal(aml_store_open_blob(&f->s, hex, f->err,
					     sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "is a symbolic link: refused"));
}

/* The same with blobs/ itself a symlink. */
static void test_planted_symlink_blobs(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], out[256], path[512];
	const char *content = "redirect me too\n";
	uint64_t size;
	int fd, written;

	make_outside(f, out);
	assert_int_equal(aml_sha256_buffer(content, strlen(content), hex), 0);
	assert_int_equal(rmdir(at(f, "blobs")), 0);
	assert_int_equal(symlink(out, at(f, "blobs")), 0);
	fd = data_fd(content, strlen(content));
	assert_int_equal(aml_store_put_fd(&f->s, fd, "src", hex, &size, &written,
					  f->err, sizeof(f->err)), -1);
	close(fd);
	assert_non_null(strstr(f->err, "/blobs: is a symbolic link: refused"));
	assert_int_equal(count_entries(out), 0);
	snprintf(path, sizeof(path), "%s/%.2s", out, hex);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/%.2s/%s", out, hex, hex + 2);
	write_file(path, content);
	assert_false(aml_store_has_blob(&f->s, hex));
	assert_int_equal(aml_store_open_blob(&f->s, hex, f->err,
					     sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "/blobs: is a symbolic link: refused"));
}

static void test_planted_symlink_tmp(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], out[256], id[AML_SHA256_HEX_LEN + 1];
	uint64_t size;
	int fd, written;

	make_outside(f, out);
	assert_int_equal(rmdir(at(f, "tmp")), 0);
	assert_int_equal(symlink(out, at(f, "tmp")), 0);
	fd = data_fd("x", 1);
	assert_int_equal(aml_store_put_fd(&f->s, fd, "src", hex, &size, &written,
					  f->err, sizeof(f->err)), -1);
	close(fd);
	assert_non_null(strstr(f->err, "/tmp: is a symbolic link: refused"));
	assert_int_equal(aml_sha256_buffer(AML_MANIFEST_HEADER,
					   strlen(AML_MANIFEST_HEADER), id), 0);
	assert_int_equal(aml_store_put_manifest(&f->s, id, AML_MANIFEST_HEADER,
						strlen(AML_MANIFEST_HEADER),
						&written, f->err,
						sizeof(f->err)), -1);
	assert_int_equal(aml_store_write_cache(&f->s, "/src", "c", 1, f->err,
					       sizeof(f->err)), -1);
	assert_int_equal(count_entries(out), 0);
}

static void test_planted_symlink_blob_file(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], out[256], victim[300], sub[512];
	const char *content = "replace the link\n";
	struct stat st;

	make_outside(f, out);
	snprintf(victim, sizeof(victim), "%s/victim", out);
	write_file(victim, "victim\n");
	assert_int_equal(aml_sha256_buffer(content, strlen(content), hex), 0);
	snprintf(sub, sizeof(sub), "%s/blobs/%.2s", f->root, hex);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(symlink(victim, blob_path(f, hex)), 0);
	/* The rename replaces the link itself. */
	assert_int_equal(put(f, content, strlen(content), hex), 1);
	assert_int_equal(lstat(blob_path(f, hex), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_string_equal(read_file(victim), "victim\n");
	assert_string_equal(read_file(blob_path(f, hex)), content);
}

static void test_planted_symlink_manifests_and_cache(void **state)
{
	struct fixture *f = *state;
	char out[256], id[AML_SHA256_HEX_LEN + 1];
	struct timespec mtime;
	char *text;
	size_t len;
	int written;

	make_outside(f, out);
	assert_int_equal(rmdir(at(f, "manifests")), 0);
	assert_int_equal(symlink(out, at(f, "manifests")), 0);
	assert_int_equal(rmdir(at(f, "cache")), 0);
	assert_int_equal(symlink(out, at(f, "cache")), 0);
	assert_int_equal(aml_sha256_buffer(AML_MANIFEST_HEADER,
					   strlen(AML_MANIFEST_HEADER), id), 0);
	assert_int_equal(aml_store_put_manifest(&f->s, id, AML_MANIFEST_HEADER,
						strlen(AML_MANIFEST_HEADER),
						&written, f->err,
						sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "/manifests: is a symbolic link: refused"));
	assert_int_equal(aml_store_read_manifest(&f->s, id, &text, &len, f->err,
						 sizeof(f->err)), -1);
	assert_int_equal(aml_store_write_cache(&f->s, "/src", "c", 1, f->err,
					       sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "/cache: is a symbolic link: refused"));
	assert_int_equal(aml_store_read_cache(&f->s, "/src", &text, &len, &mtime, f->err,
					      sizeof(f->err)), -1);
	assert_int_equal(count_entries(out), 0);
	/* Nor does gc walk through it. */
	{
		struct aml_gc_stats st;

		assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err,
					      sizeof(f->err)), -1);
		assert_non_null(strstr(f->err, "manifests"));
	}
	/* And the temporaries of the refused writes are gone. */
	assert_int_equal(count_entries(at(f, "tmp")), 0);
}

/* ---- manifests ---- */

static void test_manifest_put_and_read(void **state)
{
	struct fixture *f = *state;
	char a[AML_SHA256_HEX_LEN + 1], id[AML_SHA256_HEX_LEN + 1];
	const char *hexes[1] = { a };
	char *text;
	size_t len;
	struct stat st;
	char path[512];

	put_str(f, "content a", a);
	assert_int_equal(publish(f, hexes, 1, id), 1);
	snprintf(path, sizeof(path), "%s/manifests/%s", f->root, id);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(aml_store_read_manifest(&f->s, id, &text, &len, f->err,
						 sizeof(f->err)), 0);
	assert_int_equal(len, strlen(text));
	assert_non_null(strstr(text, a));
	free(text);
	assert_int_equal(publish(f, hexes, 1, id), 0);
	assert_int_equal(count_entries(at(f, "tmp")), 0);
	assert_int_equal(aml_store_read_manifest(&f->s, "nothex", &text, &len,
						 f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "is not a SHA-256 in hex"));
}

static void test_manifest_wrong_id_refused(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];
	int written;

	assert_int_equal(aml_sha256_buffer("other", 5, id), 0);
	assert_int_equal(aml_store_put_manifest(&f->s, id, AML_MANIFEST_HEADER,
						strlen(AML_MANIFEST_HEADER),
						&written, f->err,
						sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "not its id: refused"));
	assert_int_equal(count_entries(at(f, "manifests")), 0);
	assert_int_equal(aml_store_put_manifest(&f->s, "xyz", "", 0, &written,
						f->err, sizeof(f->err)), -1);
}

static void test_manifest_corruption_detected(void **state)
{
	struct fixture *f = *state;
	char a[AML_SHA256_HEX_LEN + 1], id[AML_SHA256_HEX_LEN + 1], path[512];
	const char *hexes[1] = { a };
	char expect[600], *text, c;
	size_t len;
	int fd;

	put_str(f, "content a", a);
	publish(f, hexes, 1, id);
	snprintf(path, sizeof(path), "%s/manifests/%s", f->root, id);
	/* Flip one byte in place. */
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 20), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, 20), 1);
	close(fd);
	text = (char *)1;
	assert_int_equal(aml_store_read_manifest(&f->s, id, &text, &len, f->err,
						 sizeof(f->err)), -1);
	assert_null(text);
	snprintf(expect, sizeof(expect), "%s: corrupted: its content's SHA-256 is ",
		 path);
	assert_memory_equal(f->err, expect, strlen(expect));
}

static void test_manifest_too_large_refused(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1], path[512], *text;
	size_t len;
	int fd;

	assert_int_equal(aml_sha256_buffer("big", 3, id), 0);
	snprintf(path, sizeof(path), "%s/manifests/%s", f->root, id);
	fd = open(path, O_WRONLY | O_CREAT, 0444);
	assert_true(fd >= 0);
	/* Sparse: costs no disk. */
	assert_int_equal(ftruncate(fd, ((off_t)256 << 20) + 1), 0);
	close(fd);
	assert_int_equal(aml_store_read_manifest(&f->s, id, &text, &len, f->err,
						 sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "is larger than 256 MiB (268435457 bytes): refused"));
}

static void test_manifest_republish_refreshes_mtime(void **state)
{
	struct fixture *f = *state;
	char a[AML_SHA256_HEX_LEN + 1], id[AML_SHA256_HEX_LEN + 1], path[512];
	const char *hexes[1] = { a };
	struct stat st;

	put_str(f, "content a", a);
	publish(f, hexes, 1, id);
	snprintf(path, sizeof(path), "%s/manifests/%s", f->root, id);
	set_age(path, 30 * 86400);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(st.st_mtime < time(NULL) - 29 * 86400);
	assert_int_equal(publish(f, hexes, 1, id), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(st.st_mtime >= time(NULL) - 60);
	assert_int_equal(st.st_mode & 07777, 0444);
}

/* The store names a text itself: its SHA-256, published as
 * aml_store_put_manifest would under that id, then refreshed. */
static void test_manifest_publish_names_it(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1], want[AML_SHA256_HEX_LEN + 1];
	char *text;
	size_t len;
	int written;

	assert_int_equal(aml_sha256_buffer(AML_MANIFEST_HEADER,
					   strlen(AML_MANIFEST_HEADER), want), 0);
	assert_int_equal(aml_store_publish_manifest(&f->s, AML_MANIFEST_HEADER,
						    strlen(AML_MANIFEST_HEADER),
						    id, &written, f->err,
						    sizeof(f->err)), 0);
	assert_string_equal(id, want);
	assert_int_equal(written, 1);
	assert_int_equal(aml_store_read_manifest(&f->s, id, &text, &len, f->err,
						 sizeof(f->err)), 0);
	assert_string_equal(text, AML_MANIFEST_HEADER);
	free(text);
	assert_int_equal(aml_store_publish_manifest(&f->s, AML_MANIFEST_HEADER,
						    strlen(AML_MANIFEST_HEADER),
						    id, &written, f->err,
						    sizeof(f->err)), 0);
	assert_int_equal(written, 0);
	assert_int_equal(count_entries(at(f, "manifests")), 1);
}

/* ---- cache ---- */

static void test_cache(void **state)
{
	struct fixture *f = *state;
	char *text = (char *)1, name[AML_SHA256_HEX_LEN + 1], rel[128];
	struct timespec written = { 1, 1 };
	struct stat st;
	size_t len = 7;

	assert_int_equal(aml_store_read_cache(&f->s, "/home/u/project", &text,
					      &len, &written, f->err, sizeof(f->err)), 0);
	assert_null(text);
	assert_int_equal(len, 0);
	assert_int_equal(written.tv_sec, 0);
	assert_int_equal(aml_store_write_cache(&f->s, "/home/u/project", "one\n",
					       4, f->err, sizeof(f->err)), 0);
	assert_int_equal(aml_store_write_cache(&f->s, "/home/u/project", "two\n",
					       4, f->err, sizeof(f->err)), 0);
	assert_int_equal(aml_store_read_cache(&f->s, "/home/u/project", &text,
					      &len, &written, f->err, sizeof(f->err)), 0);
	assert_non_null(text);
	assert_int_equal(len, 4);
	assert_string_equal(text, "two\n");
	free(text);
	/* Named by the SHA-256 of the key. */
	assert_int_equal(aml_sha256_buffer("/home/u/project", 15, name), 0);
	snprintf(rel, sizeof(rel), "cache/%s", name);
	assert_true(exists(at(f, rel)));
	assert_int_equal(stat(at(f, rel), &st), 0);
	assert_int_equal(written.tv_sec, st.st_mtim.tv_sec);
	assert_int_equal(written.tv_nsec, st.st_mtim.tv_nsec);
	assert_int_equal(count_entries(at(f, "cache")), 1);
	assert_int_equal(count_entries(at(f, "tmp")), 0);
	/* Another key, another file. */
	assert_int_equal(aml_store_read_cache(&f->s, "/home/u/other", &text,
					      &len, &written, f->err, sizeof(f->err)), 0);
	assert_null(text);
}

/* Wait out a tick of file times: what is written next is dated later. */
static void next_tick(void)
{
	struct timespec wait = { 0, 20000000 };

	while (nanosleep(&wait, &wait) < 0 && errno == EINTR)
		;
}

/*
 * A cache written after the last gc began vouches for its snapshot's
 * blobs without reading the snapshot; one written before does not, nor
 * any while the store has no gc-stamp (which asking makes, dated now).
 */
/* A stat cache written a tick from now; its date, as a capture reads it. */
static struct timespec cache_written_later(struct fixture *f)
{
	struct timespec written;
	char *text;
	size_t len;

	next_tick();
	assert_int_equal(aml_store_write_cache(&f->s, "/p", "c", 1, f->err,
					       sizeof(f->err)), 0);
	assert_int_equal(aml_store_read_cache(&f->s, "/p", &text, &len,
					      &written, f->err,
					      sizeof(f->err)), 0);
	free(text);
	return written;
}

static void test_blobs_kept_since(void **state)
{
	struct fixture *f = *state;
	struct timespec before, after;
	struct aml_gc_stats gc;

	/* A new store starts with its stamp. */
	assert_true(exists(at(f, "gc-stamp")));
	before = cache_written_later(f);
	assert_int_equal(aml_store_blobs_kept_since(&f->s, &before), 1);
	/* One an earlier slurm-aml made has none. */
	assert_int_equal(unlink(at(f, "gc-stamp")), 0);
	assert_int_equal(aml_store_blobs_kept_since(&f->s, &before), 0);
	assert_true(exists(at(f, "gc-stamp")));
	/* Dated now, after the cache: still not vouched for. */
	assert_int_equal(aml_store_blobs_kept_since(&f->s, &before), 0);
	after = cache_written_later(f);
	assert_int_equal(aml_store_blobs_kept_since(&f->s, &after), 1);
	/* A gc since: the cache no longer vouches. */
	next_tick();
	assert_int_equal(aml_store_gc(&f->s, 0, &gc, f->err, sizeof(f->err)), 0);
	assert_int_equal(aml_store_blobs_kept_since(&f->s, &after), 0);
	/* A stamp that is not a file vouches for nothing. */
	assert_int_equal(unlink(at(f, "gc-stamp")), 0);
	assert_int_equal(symlink("/", at(f, "gc-stamp")), 0);
	assert_int_equal(aml_store_blobs_kept_since(&f->s, &after), 0);
	assert_int_equal(aml_store_stamp_gc(&f->s, f->err, sizeof(f->err)), -1);
}

/* ---- lock ---- */

static void test_lock_shared_and_exclusive(void **state)
{
	struct fixture *f = *state;
	struct aml_store other;
	struct stat st;
	int fd;

	assert_int_equal(aml_store_lock(&f->s, 0, f->err, sizeof(f->err)), 0);
	assert_true(f->s.lockfd >= 0);
	assert_int_equal(lstat(at(f, "lock"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* Another shared holder does not wait. */
	assert_int_equal(aml_store_open(&other, f->base, USER, 0, f->err,
					sizeof(f->err)), 0);
	assert_int_equal(aml_store_lock(&other, 0, f->err, sizeof(f->err)), 0);
	aml_store_close(&other);   /* releases it */
	/* An exclusive one would. */
	fd = open(at(f, "lock"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	aml_store_unlock(&f->s);
	assert_int_equal(f->s.lockfd, -1);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	aml_store_unlock(&f->s);   /* twice is harmless */
}

static void test_lock_refuses_fifo(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkfifo(at(f, "lock"), 0600), 0);
	assert_int_equal(aml_store_lock(&f->s, 1, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "/lock: is not a regular file"));
	assert_int_equal(f->s.lockfd, -1);
}

static void test_sync(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1];

	put_str(f, "sync me", hex);
	assert_int_equal(aml_store_sync(&f->s, f->err, sizeof(f->err)), 0);
}

/* The blobs a sync flushes are those put since the last one: one by one
 * while few, all at once (syncfs) past AML_STORE_FRESH_MAX; one found
 * already there too (another capture may not have synced it), but not
 * those of earlier syncs. */
static void test_sync_only_fresh_blobs(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], data[32];

	assert_int_equal(f->s.n_fresh, 0);
	assert_int_equal(aml_store_sync(&f->s, f->err, sizeof(f->err)), 0);
	put_str(f, "fresh one", hex);
	assert_int_equal(f->s.n_fresh, 1);
	assert_string_equal(f->s.fresh[0], hex);
	assert_int_equal(f->s.fresh_dirs, 1);
	assert_int_equal(aml_store_sync(&f->s, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->s.n_fresh, 0);
	assert_int_equal(f->s.fresh_dirs, 0);
	assert_int_equal(f->s.n_fresh, 0);
	put_str(f, "fresh one", hex);
	assert_int_equal(f->s.n_fresh, 1);
	assert_int_equal(f->s.fresh_dirs, 0);
	assert_int_equal(aml_store_sync(&f->s, f->err, sizeof(f->err)), 0);
	for (int i = 0; i <= AML_STORE_FRESH_MAX; i++) {
		snprintf(data, sizeof(data), "many %d", i);
		put_str(f, data, hex);
	}
	assert_int_equal(f->s.n_fresh, AML_STORE_FRESH_MAX);
	assert_int_equal(f->s.fresh_many, 1);
	assert_int_equal(aml_store_sync(&f->s, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->s.n_fresh, 0);
	assert_int_equal(f->s.fresh_many, 0);
}

/* A blob that cannot be flushed (here: replaced by a directory before
 * the sync) fails the sync, naming it, and stays to be flushed. */
static void test_sync_failure_named(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], rel[128];

	put_str(f, "to be swapped", hex);
	snprintf(rel, sizeof(rel), "blobs/%.2s/%s", hex, hex + 2);
	assert_int_equal(unlink(at(f, rel)), 0);
	assert_int_equal(mkdir(at(f, rel), 0700), 0);
	assert_int_equal(aml_store_sync(&f->s, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, hex + 2));
	assert_int_equal(f->s.n_fresh, 1);
	assert_int_equal(rmdir(at(f, rel)), 0);
}

/* ---- kill -9 and concurrency ---- */

/* A writer killed half-way leaves only a temporary, which gc removes
 * once it is a day old. */
static void test_killed_writer(void **state)
{
	enum { HALF = 300000 };
	struct fixture *f = *state;
	struct aml_gc_stats st;
	char *data = malloc(HALF), tmpfile[600];
	int p[2], tries;
	pid_t pid;

	assert_non_null(data);
	memset(data, 'k', HALF);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char hex[AML_SHA256_HEX_LEN + 1], err[256];
		uint64_t size;
		int written;

		close(p[1]);
		aml_store_put_fd(&f->s, p[0], "pipe", hex, &size, &written, err,
				 sizeof(err));
		_exit(3);   /* never reached: the pipe is not closed */
	}
	close(p[0]);
	assert_int_equal(write(p[1], data, HALF), HALF);
	free(data);
	/* Wait (polling state, not timing) until the temporary holds all
	 * that was sent. */
	for (tries = 0; tries < 1000; tries++) {
		DIR *d = opendir(at(f, "tmp"));
		struct dirent *de;
		struct stat fst;
		int done = 0;

		assert_non_null(d);
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(tmpfile, sizeof(tmpfile), "%s/tmp/%s", f->root,
				 de->d_name);
			done = stat(tmpfile, &fst) == 0 && fst.st_size == HALF;
		}
		closedir(d);
		if (done)
			break;
		usleep(10000);
	}
	assert_true(tries < 1000);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(wait_child(pid), 128 + SIGKILL);
	close(p[1]);

	/* Nothing became visible. */
	assert_int_equal(count_entries(at(f, "blobs")), 0);
	assert_int_equal(count_entries(at(f, "manifests")), 0);
	assert_int_equal(count_entries(at(f, "tmp")), 1);

	/* A young temporary may still belong to a writer: kept. */
	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	assert_true(st.temporaries_removed == 0);
	assert_true(exists(tmpfile));
	/* Two days old: removed. */
	set_age(tmpfile, 2 * 86400);
	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	assert_true(st.temporaries_removed == 1);
	assert_int_equal(count_entries(at(f, "tmp")), 0);
}

#define WRITERS 4
#define ROUNDS 25

/* Four processes store the same and different blobs at once. */
static void test_concurrent_writers(void **state)
{
	struct fixture *f = *state;
	pid_t pids[WRITERS];
	int go[2];
	char *big = malloc(600000);

	assert_non_null(big);
	memset(big, 'B', 600000);
	assert_int_equal(pipe(go), 0);
	for (int c = 0; c < WRITERS; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0) {
			struct aml_store s;
			char err[512], hex[AML_SHA256_HEX_LEN + 1];
			char expect[AML_SHA256_HEX_LEN + 1], mine[64];
			uint64_t size;
			int written, ok = 1;
			char b;

			close(go[1]);
			/* Start together: when the parent closes the pipe. */
			if (read(go[0], &b, 1) != 0)
				_exit(4);
			if (aml_store_open(&s, f->base, USER, 1, err, sizeof(err)) != 0 ||
			    aml_store_lock(&s, 0, err, sizeof(err)) != 0)
				_exit(5);
			for (int r = 0; r < ROUNDS && ok; r++) {
				const char *data[3] = { "shared by all\n", big, mine };
				size_t lens[3] = { 14, 600000, 0 };

				snprintf(mine, sizeof(mine), "writer %d round %d\n", c, r);
				lens[2] = strlen(mine);
				for (int k = 0; k < 3 && ok; k++) {
					int fd = memfd_create("w", MFD_CLOEXEC);

					ok = fd >= 0 &&
					     write(fd, data[k], lens[k]) == (ssize_t)lens[k] &&
					     lseek(fd, 0, SEEK_SET) == 0 &&
					     aml_store_put_fd(&s, fd, "w", hex, &size,
							      &written, err,
							      sizeof(err)) == 0 &&
					     aml_sha256_buffer(data[k], lens[k], expect) == 0 &&
					     strcmp(hex, expect) == 0 && size == lens[k];
					if (fd >= 0)
						close(fd);
				}
			}
			aml_store_close(&s);
			_exit(ok ? 0 : 6);
		}
	}
	close(go[0]);
	close(go[1]);
	free(big);
	for (int c = 0; c < WRITERS; c++)
		assert_int_equal(wait_child(pids[c]), 0);
	assert_int_equal(verify_all_blobs(f), 2 + WRITERS * ROUNDS);
	assert_int_equal(count_entries(at(f, "tmp")), 0);
}

/* ---- gc ---- */

static void test_gc_keeps_referenced(void **state)
{
	struct fixture *f = *state;
	char a[AML_SHA256_HEX_LEN + 1], b[AML_SHA256_HEX_LEN + 1];
	char c[AML_SHA256_HEX_LEN + 1], id[AML_SHA256_HEX_LEN + 1];
	const char *hexes[2] = { a, b };
	struct aml_gc_stats st;

	put_str(f, "blob a", a);
	put_str(f, "blob b", b);
	put_str(f, "unreferenced blob c", c);
	publish(f, hexes, 2, id);
	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->err, "");
	assert_true(st.manifests_kept == 1);
	assert_true(st.manifests_removed == 0);
	assert_true(st.manifests_invalid == 0);
	assert_true(st.blobs_kept == 2);
	assert_true(st.blobs_removed == 1);
	assert_true(st.bytes_removed == strlen("unreferenced blob c"));
	assert_true(aml_store_has_blob(&f->s, a));
	assert_true(aml_store_has_blob(&f->s, b));
	assert_false(aml_store_has_blob(&f->s, c));
	/* Its directory went with it unless another blob shares it. */
	if (strncmp(c, a, 2) && strncmp(c, b, 2)) {
		char sub[16];

		snprintf(sub, sizeof(sub), "blobs/%.2s", c);
		assert_false(exists(at(f, sub)));
	}
	assert_int_equal(f->s.lockfd, -1);   /* gc released its lock */
}

static void test_gc_ages_manifests(void **state)
{
	struct fixture *f = *state;
	char a[AML_SHA256_HEX_LEN + 1], b[AML_SHA256_HEX_LEN + 1];
	char old_id[AML_SHA256_HEX_LEN + 1], young_id[AML_SHA256_HEX_LEN + 1];
	char rel[128];
	const char *old_refs[1] = { a }, *young_refs[1] = { b };
	struct aml_gc_stats st;

	put_str(f, "only in the old snapshot", a);
	put_str(f, "only in the young snapshot", b);
	publish(f, old_refs, 1, old_id);
	publish(f, young_refs, 1, young_id);
	snprintf(rel, sizeof(rel), "manifests/%s", old_id);
	set_age(at(f, rel), 10 * 86400);
	snprintf(rel, sizeof(rel), "manifests/%s", young_id);
	set_age(at(f, rel), 6 * 86400);
	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	assert_true(st.manifests_removed == 1);
	assert_true(st.manifests_kept == 1);
	assert_true(st.blobs_removed == 1);
	assert_true(st.blobs_kept == 1);
	snprintf(rel, sizeof(rel), "manifests/%s", old_id);
	assert_false(exists(at(f, rel)));
	snprintf(rel, sizeof(rel), "manifests/%s", young_id);
	assert_true(exists(at(f, rel)));
	assert_false(aml_store_has_blob(&f->s, a));
	assert_true(aml_store_has_blob(&f->s, b));
}

static void test_gc_republished_manifest_kept(void **state)
{
	struct fixture *f = *state;
	char a[AML_SHA256_HEX_LEN + 1], id[AML_SHA256_HEX_LEN + 1], rel[128];
	const char *refs[1] = { a };
	struct aml_gc_stats st;

	put_str(f, "resubmitted", a);
	publish(f, refs, 1, id);
	snprintf(rel, sizeof(rel), "manifests/%s", id);
	set_age(at(f, rel), 10 * 86400);
	/* The same snapshot captured again: only the mtime changes. */
	assert_int_equal(publish(f, refs, 1, id), 0);
	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	assert_true(st.manifests_removed == 0);
	assert_true(st.manifests_kept == 1);
	assert_true(exists(at(f, rel)));
	assert_true(aml_store_has_blob(&f->s, a));
}

/* A manifest that fails to verify or to decode is kept, counted and
 * named, and decides nothing. */
static void test_gc_invalid_manifests(void **state)
{
	struct fixture *f = *state;
	char a[AML_SHA256_HEX_LEN + 1], b[AML_SHA256_HEX_LEN + 1];
	char id[AML_SHA256_HEX_LEN + 1], bad_id[AML_SHA256_HEX_LEN + 1];
	char good_id[AML_SHA256_HEX_LEN + 1];
	char rel[128], path[600];
	const char *refs[1] = { a }, *good_refs[1] = { b };
	const char *garbage = "not a manifest\n";
	struct aml_gc_stats st;

	put_str(f, "referenced only by the corrupted one", a);
	put_str(f, "referenced by a good one", b);
	publish(f, refs, 1, id);
	snprintf(rel, sizeof(rel), "manifests/%s", id);
	snprintf(path, sizeof(path), "%s", at(f, rel));
	assert_int_equal(chmod(path, 0644), 0);
	{
		int fd = open(path, O_WRONLY | O_APPEND);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x", 1), 1);
		close(fd);
	}
	/* Verifies, does not decode. */
	assert_int_equal(aml_sha256_buffer(garbage, strlen(garbage), bad_id), 0);
	snprintf(rel, sizeof(rel), "manifests/%s", bad_id);
	write_file(at(f, rel), garbage);
	publish(f, good_refs, 1, good_id);

	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	assert_true(st.manifests_invalid == 2);
	assert_true(st.manifests_kept == 3);
	assert_true(st.manifests_removed == 0);
	assert_non_null(strstr(f->err, "/manifests/"));
	assert_true(strstr(f->err, "corrupted") ||
		    strstr(f->err, "not a snapshot manifest"));
	assert_true(exists(path));
	assert_false(aml_store_has_blob(&f->s, a));
	assert_true(aml_store_has_blob(&f->s, b));
}

/*
 * A manifest that cannot be read at all (mode 0000) stops gc before
 * blobs go.  Run by a user other than root, who reads anything: the
 * scenario takes a snapshot directory that user owns and reports 0 when
 * gc behaved, without cmocka, so that a child can run it.
 */
static int unreadable_manifest_scenario(const char *base)
{
	struct aml_store s;
	struct aml_gc_stats st;
	char err[512], a[AML_SHA256_HEX_LEN + 1], id[AML_SHA256_HEX_LEN + 1];
	char text[200], path[400];
	uint64_t size;
	int fd = memfd_create("u", MFD_CLOEXEC), written, rc = 1;

	if (fd < 0 || write(fd, "keep me", 7) != 7 || lseek(fd, 0, SEEK_SET) != 0)
		return 2;
	if (aml_store_open(&s, base, USER, 1, err, sizeof(err)) != 0 ||
	    aml_store_put_fd(&s, fd, "u", a, &size, &written, err,
			     sizeof(err)) != 0)
		goto out;
	snprintf(text, sizeof(text), "%sf %s 7 - 0 k\n", AML_MANIFEST_HEADER, a);
	if (aml_sha256_buffer(text, strlen(text), id) != 0 ||
	    aml_store_put_manifest(&s, id, text, strlen(text), &written, err,
				   sizeof(err)) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/manifests/%s", s.path, id);
	if (chmod(path, 0) != 0)
		goto out;
	rc = aml_store_gc(&s, 7, &st, err, sizeof(err)) == -1 &&
	     strstr(err, "Permission denied") && strstr(err, id) &&
	     aml_store_has_blob(&s, a) && st.blobs_removed == 0 ? 0 : 3;
out:
	close(fd);
	aml_store_close(&s);
	return rc;
}

static void test_gc_unreadable_manifest_stops(void **state)
{
	struct fixture *f = *state;
	char base[128];
	pid_t pid;

	if (geteuid() != 0) {
		assert_int_equal(unreadable_manifest_scenario(f->base), 0);
		return;
	}
	/* Root reads a file of mode 0000: run it as nobody. */
	snprintf(base, sizeof(base), "%s/nobody", f->base);
	assert_int_equal(mkdir(base, 0700), 0);
	assert_int_equal(chown(base, NOBODY, NOBODY), 0);
	assert_int_equal(chmod(f->base, 0711), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setegid(NOBODY) != 0 || seteuid(NOBODY) != 0)
			_exit(9);
		_exit(unreadable_manifest_scenario(base));
	}
	assert_int_equal(wait_child(pid), 0);
}

static void test_gc_leaves_unknown_names(void **state)
{
	struct fixture *f = *state;
	struct aml_gc_stats st;
	char out[256], victim[400], link[16], a[AML_SHA256_HEX_LEN + 1];

	make_outside(f, out);
	snprintf(victim, sizeof(victim), "%s/%.62s", out,
		 "00000000000000000000000000000000000000000000000000000000000000");
	write_file(victim, "x");
	put_str(f, "unreferenced", a);
	write_file(at(f, "manifests/README"), "x");
	assert_int_equal(mkdir(at(f, "blobs/zz"), 0700), 0);
	write_file(at(f, "blobs/zz/junk"), "x");
	write_file(at(f, "blobs/notes"), "x");
	/* A symlink planted as blobs/<2 hex> is not followed. */
	snprintf(link, sizeof(link), "blobs/%s", strncmp(a, "01", 2) ? "01" : "02");
	assert_int_equal(symlink(out, at(f, link)), 0);
	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	assert_true(st.blobs_removed == 1);
	assert_false(aml_store_has_blob(&f->s, a));
	assert_true(exists(at(f, "manifests/README")));
	assert_true(exists(at(f, "blobs/zz/junk")));
	assert_true(exists(at(f, "blobs/notes")));
	assert_true(exists(at(f, link)));
	assert_true(exists(victim));
}

/* gc waits for a capture's shared lock. */
static void test_gc_waits_for_shared_lock(void **state)
{
	struct fixture *f = *state;
	struct aml_gc_stats st;
	int ready[2];
	double t0, waited;
	pid_t pid;
	char b;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct aml_store s;
		char err[256];

		close(ready[0]);
		if (aml_store_open(&s, f->base, USER, 0, err, sizeof(err)) != 0 ||
		    aml_store_lock(&s, 0, err, sizeof(err)) != 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		sleep(1);   /* how long the capture holds it, not ordering */
		aml_store_close(&s);
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &b, 1), 1);   /* the lock is held */
	close(ready[0]);
	t0 = now_seconds();
	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	waited = now_seconds() - t0;
	assert_int_equal(wait_child(pid), 0);
	print_message("# gc waited %.3f s for the shared lock\n", waited);
	assert_true(waited >= 0.8);
}

/* Many blobs: marking and sweeping stay linear. */
static void test_gc_many_blobs(void **state)
{
	enum { N = 2000 };
	struct fixture *f = *state;
	char (*hex)[AML_SHA256_HEX_LEN + 1] = malloc(N * sizeof(*hex));
	const char **keep = malloc(N / 2 * sizeof(*keep));
	char id[AML_SHA256_HEX_LEN + 1], data[32];
	struct aml_gc_stats st;

	assert_non_null(hex);
	assert_non_null(keep);
	for (int i = 0; i < N; i++) {
		snprintf(data, sizeof(data), "blob %d", i);
		put_str(f, data, hex[i]);
		if (i % 2 == 0)
			keep[i / 2] = hex[i];
	}
	publish(f, keep, N / 2, id);
	assert_int_equal(aml_store_gc(&f->s, 7, &st, f->err, sizeof(f->err)), 0);
	assert_true(st.blobs_kept == N / 2);
	assert_true(st.blobs_removed == N / 2);
	for (int i = 0; i < N; i++)
		assert_int_equal(aml_store_has_blob(&f->s, hex[i]), i % 2 == 0);
	free(hex);
	free(keep);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_modes),
		T(test_open_missing),
		T(test_bad_user_names),
		T(test_other_owner_stepped_around),
		T(test_refuse_store_of_another_user),
		T(test_refuse_symlinked_store),
		T(test_refuse_writable_store),
		T(test_refuse_regular_file_store),
		T(test_put_new_and_existing),
		T(test_blob_read_only),
		T(test_put_from_pipe_large),
		T(test_put_chunk_boundaries),
		T(test_put_existing_small_writes_nothing),
		T(test_put_read_error),
		T(test_torn_blob_replaced),
		T(test_open_blob_refusals),
		T(test_planted_symlink_blob_dir),
		T(test_planted_symlink_blobs),
		T(test_planted_symlink_tmp),
		T(test_planted_symlink_blob_file),
		T(test_planted_symlink_manifests_and_cache),
		T(test_manifest_put_and_read),
		T(test_manifest_publish_names_it),
		T(test_manifest_wrong_id_refused),
		T(test_manifest_corruption_detected),
		T(test_manifest_too_large_refused),
		T(test_manifest_republish_refreshes_mtime),
		T(test_blobs_kept_since),
		T(test_cache),
		T(test_lock_shared_and_exclusive),
		T(test_lock_refuses_fifo),
		T(test_sync),
		T(test_sync_only_fresh_blobs),
		T(test_sync_failure_named),
		T(test_killed_writer),
		T(test_concurrent_writers),
		T(test_gc_keeps_referenced),
		T(test_gc_ages_manifests),
		T(test_gc_republished_manifest_kept),
		T(test_gc_invalid_manifests),
		T(test_gc_unreadable_manifest_stops),
		T(test_gc_leaves_unknown_names),
		T(test_gc_waits_for_shared_lock),
		T(test_gc_many_blobs),
	};

	/* Children report by exit status; SIGPIPE must not hide one. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
