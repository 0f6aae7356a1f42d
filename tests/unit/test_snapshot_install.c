/*
 * test_snapshot_install.c: installing a snapshot into a run's directory
 * (plugin/snapshot_install.c).
 *
 * Every test builds a store under a fresh temporary directory ($TMPDIR, else
 * /tmp) with the real store and manifest code, then installs from it.  The
 * refusals check two things each: the error names what is wrong, and the
 * destination is left exactly as it was (absent, or empty) -- a partial
 * tree is the failure this module exists to prevent.
 *
 * Set TMPDIR to a filesystem with reflinks (XFS, btrfs) to run the same
 * tests through the clone path; test_reflink_used skips itself elsewhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "hash.h"
#include "manifest.h"
#include "snapshot.h"
#include "store.h"
#include "tree.h"

#define USER "alice"

/* An mtime with every nanosecond digit significant. */
#define MTIME ((int64_t)1700000000123456789)

struct fixture {
	/* Short buffers, so that every path made from them fits PATH_MAX
	 * (and the compiler can tell). */
	char root[256];           /* the temporary directory */
	char snapdir[300];        /* root/snapshots: the SnapshotDir */
	char dest[300];           /* root/run: where installs go */
	struct aml_store store;
	struct aml_manifest m;    /* being built by add_file/add_link */
	struct aml_errors errs;
	mode_t old_umask;
};

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	char err[1024];

	if (!f)
		return -1;
	if (!tmp || !*tmp || strlen(tmp) > 200)
		tmp = "/tmp";
	snprintf(f->root, sizeof(f->root), "%s/test_snapshot_install.XXXXXX",
		 tmp);
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->snapdir, sizeof(f->snapdir), "%s/snapshots", f->root);
	snprintf(f->dest, sizeof(f->dest), "%s/run", f->root);
	if (mkdir(f->snapdir, 0700) != 0)
		return -1;
	if (aml_store_open(&f->store, f->snapdir, USER, 1, err,
			   sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	aml_errors_init(&f->errs, NULL);
	/* A known umask, since modes are checked. */
	f->old_umask = umask(022);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	umask(f->old_umask);
	aml_manifest_free(&f->m);
	aml_errors_free(&f->errs);
	aml_store_close(&f->store);
	aml_tree_remove(AT_FDCWD, f->root);
	free(f);
	return 0;
}

/* "<dir>/<rel>" in one of a few rotating static buffers. */
static const char *join(const char *dir, const char *rel)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *buf = bufs[next++ % 4];

	snprintf(buf, PATH_MAX, "%s/%s", dir, rel);
	return buf;
}

/* Where the store keeps blob [hex] (the layout in store.h). */
static const char *blob_file(struct fixture *f, const char *hex)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s/blobs/%.2s/%s", f->snapdir, USER,
		 hex, hex + 2);
	return buf;
}

static const char *manifest_file(struct fixture *f, const char *id)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s/manifests/%s", f->snapdir, USER,
		 id);
	return buf;
}

/* Deterministic bytes that do not repeat within a file. */
static void fill(unsigned char *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

/* Put [len] bytes into the store; fills [hex]. */
static void put_blob(struct fixture *f, const void *data, size_t len,
		     char hex[AML_SHA256_HEX_LEN + 1])
{
	char path[PATH_MAX], err[1024];
	uint64_t size;
	int fd, written;

	snprintf(path, sizeof(path), "%s/data.XXXXXX", f->root);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	if (aml_store_put_fd(&f->store, fd, "test data", hex, &size, &written,
			     err, sizeof(err)) != 0)
		fail_msg("put_fd: %s", err);
	assert_int_equal(size, len);
	close(fd);
}

/* Add a file entry with [data] to the manifest being built. */
static void add_file(struct fixture *f, const char *path, const void *data,
		     size_t len, int executable, int64_t mtime_ns)
{
	struct aml_manifest_entry e;

	memset(&e, 0, sizeof(e));
	e.type = AML_ENTRY_FILE;
	e.path = (char *)path;
	e.size = len;
	e.executable = executable;
	e.mtime_ns = mtime_ns;
	put_blob(f, data, len, e.sha256);
	assert_int_equal(aml_manifest_add(&f->m, &e), 0);
}

static void add_text(struct fixture *f, const char *path, const char *text,
		     int executable)
{
	add_file(f, path, text, strlen(text), executable, MTIME);
}

static void add_link(struct fixture *f, const char *path, const char *target,
		     int64_t mtime_ns)
{
	struct aml_manifest_entry e;

	memset(&e, 0, sizeof(e));
	e.type = AML_ENTRY_SYMLINK;
	e.path = (char *)path;
	e.target = (char *)target;
	e.mtime_ns = mtime_ns;
	assert_int_equal(aml_manifest_add(&f->m, &e), 0);
}

/* Finish the manifest built so far and publish it; fills [id]. */
static void publish(struct fixture *f, char id[AML_SHA256_HEX_LEN + 1])
{
	char err[1024];
	size_t len;
	char *text;
	int written;

	if (aml_manifest_finish(&f->m, err, sizeof(err)) != 0)
		fail_msg("finish: %s", err);
	text = aml_manifest_encode(&f->m, &len, id);
	assert_non_null(text);
	if (aml_store_put_manifest(&f->store, id, text, len, &written, err,
				   sizeof(err)) != 0)
		fail_msg("put_manifest: %s", err);
	free(text);
}

/* Publish [text] as it is, under its true id: it passes the store's
 * check, so only the decoder stands between it and the disk. */
static void publish_text(struct fixture *f, const char *text,
			 char id[AML_SHA256_HEX_LEN + 1])
{
	char err[1024];
	int written;

	assert_int_equal(aml_sha256_buffer(text, strlen(text), id), 0);
	if (aml_store_put_manifest(&f->store, id, text, strlen(text),
				   &written, err, sizeof(err)) != 0)
		fail_msg("put_manifest: %s", err);
}

static int install(struct fixture *f, const char *id,
		   struct aml_install_stats *stats)
{
	struct aml_install_stats local;

	return aml_snapshot_install(&f->store, id, f->dest,
				    stats ? stats : &local, &f->errs);
}

/* The install failed with at least one error line, the first holding
 * every string given. */
static void assert_error(struct fixture *f, const char *a, const char *b)
{
	assert_true(f->errs.count >= 1);
	if (a && !strstr(f->errs.lines[0], a))
		fail_msg("error \"%s\" does not name \"%s\"",
			 f->errs.lines[0], a);
	if (b && !strstr(f->errs.lines[0], b))
		fail_msg("error \"%s\" does not name \"%s\"",
			 f->errs.lines[0], b);
}

static void assert_absent(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		fail_msg("%s exists", path);
	assert_int_equal(errno, ENOENT);
}

static void assert_empty_dir(const char *path)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fail_msg("%s holds %s", path, de->d_name);
	}
	closedir(d);
}

/* The whole content of [path] (malloc'd) and its length. */
static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		assert_true(n > 0);
		done += (size_t)n;
	}
	close(fd);
	*len = done;
	return buf;
}

/* [path] below the destination is a regular file holding [data], with
 * the mode and mtime (and atime) the manifest asked for. */
static void check_file(struct fixture *f, const char *path, const void *data,
		       size_t len, int executable, int64_t mtime_ns)
{
	const char *full = join(f->dest, path);
	unsigned char *got;
	struct stat st;
	size_t n;

	assert_int_equal(lstat(full, &st), 0);
	if (!S_ISREG(st.st_mode))
		fail_msg("%s is not a regular file", path);
	assert_int_equal(st.st_mode & 07777, executable ? 0755 : 0644);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal((int64_t)st.st_mtim.tv_sec * 1000000000 +
			 st.st_mtim.tv_nsec, mtime_ns);
	assert_int_equal((int64_t)st.st_atim.tv_sec * 1000000000 +
			 st.st_atim.tv_nsec, mtime_ns);
	got = slurp(full, &n);
	assert_int_equal(n, len);
	if (len)
		assert_memory_equal(got, data, len);
	free(got);
}

static void corrupt_byte(const char *path, off_t offset)
{
	unsigned char c;
	int fd;

	/* Blobs are read-only (0444); as root the mode would not stop the
	 * write, as a user it would. */
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, offset), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, offset), 1);
	close(fd);
	assert_int_equal(chmod(path, 0444), 0);
}

/* The entry of [path] in the manifest being built. */
static const struct aml_manifest_entry *entry(struct fixture *f,
					      const char *path)
{
	for (size_t i = 0; i < f->m.count; i++) {
		if (strcmp(f->m.entries[i].path, path) == 0)
			return &f->m.entries[i];
	}
	fail_msg("no entry %s", path);
	return NULL;
}

/* [count] small files in ten directories, all sorting before "zz/". */
static void build_many(struct fixture *f, size_t count)
{
	char path[64], text[128];

	for (size_t i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "pkg%02zu/mod%04zu.py", i % 10, i);
		snprintf(text, sizeof(text), "# module %zu\nVALUE = %zu\n", i,
			 i * 7);
		add_text(f, path, text, 0);
	}
}

/* ---------------------------------------------------------------------- */
/* A normal install                                                        */

static void test_normal_install(void **state)
{
	struct fixture *f = *state;
	struct aml_install_stats stats;
	char id[AML_SHA256_HEX_LEN + 1], target[64];
	struct stat st;
	ssize_t n;

	add_file(f, "train.py", "print('hi')\n", 12, 1, MTIME);
	add_file(f, "README.md", "# hello\n", 8, 0, MTIME + 1);
	add_file(f, "data/a.txt", "a\n", 2, 0, 1500000000000000001);
	add_file(f, "data/sub/deep/b.bin", "\0\1\2\3", 4, 0, 42);
	/* Before 1970: the mtime rounds towards minus infinity. */
	add_file(f, "old.txt", "old\n", 4, 0, -1500000000);
	add_file(f, "lib/util.py", "X = 1\n", 6, 0, MTIME);
	add_file(f, "bin/run.sh", "#!/bin/sh\n", 10, 1, MTIME);
	add_link(f, "link.py", "train.py", 1600000000987654321);
	add_link(f, "data/sub/up.txt", "../a.txt", MTIME);
	add_link(f, "data/lib", "../lib", MTIME);
	publish(f, id);

	assert_int_equal(install(f, id, &stats), 0);
	assert_int_equal(f->errs.count, 0);

	/* The run directory is made private; the caller opens it up. */
	assert_int_equal(lstat(f->dest, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	/* Directories below follow the umask, as with cp. */
	assert_int_equal(lstat(join(f->dest, "data/sub/deep"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);

	check_file(f, "train.py", "print('hi')\n", 12, 1, MTIME);
	check_file(f, "README.md", "# hello\n", 8, 0, MTIME + 1);
	check_file(f, "data/a.txt", "a\n", 2, 0, 1500000000000000001);
	check_file(f, "data/sub/deep/b.bin", "\0\1\2\3", 4, 0, 42);
	check_file(f, "old.txt", "old\n", 4, 0, -1500000000);
	check_file(f, "lib/util.py", "X = 1\n", 6, 0, MTIME);
	check_file(f, "bin/run.sh", "#!/bin/sh\n", 10, 1, MTIME);

	/* Symlinks stay symlinks, with their own mtime. */
	assert_int_equal(lstat(join(f->dest, "link.py"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal((int64_t)st.st_mtim.tv_sec * 1000000000 +
			 st.st_mtim.tv_nsec, 1600000000987654321);
	n = readlink(join(f->dest, "link.py"), target, sizeof(target));
	assert_int_equal(n, 8);
	assert_memory_equal(target, "train.py", 8);
	n = readlink(join(f->dest, "data/sub/up.txt"), target, sizeof(target));
	assert_int_equal(n, 8);
	assert_memory_equal(target, "../a.txt", 8);
	/* ... and they work. */
	assert_int_equal(stat(join(f->dest, "data/lib/util.py"), &st), 0);

	assert_int_equal(stats.files, 10);
	assert_int_equal(stats.bytes, 12 + 8 + 2 + 4 + 4 + 6 + 10);
	assert_true(stats.cloned <= 7);
}

static void test_umask_applies(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];
	struct stat st;

	add_text(f, "a/run.sh", "#!/bin/sh\n", 1);
	add_text(f, "a/data.txt", "d\n", 0);
	publish(f, id);
	umask(077);
	assert_int_equal(install(f, id, NULL), 0);
	assert_int_equal(lstat(join(f->dest, "a/run.sh"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(join(f->dest, "a/data.txt"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(join(f->dest, "a"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_existing_empty_dest_used(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];
	struct stat st;

	add_text(f, "train.py", "x = 1\n", 0);
	publish(f, id);
	assert_int_equal(mkdir(f->dest, 0750), 0);
	assert_int_equal(install(f, id, NULL), 0);
	check_file(f, "train.py", "x = 1\n", 6, 0, MTIME);
	/* Its mode is the caller's: left alone. */
	assert_int_equal(lstat(f->dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
}

static void test_empty_snapshot(void **state)
{
	struct fixture *f = *state;
	struct aml_install_stats stats;
	char id[AML_SHA256_HEX_LEN + 1];

	publish(f, id);
	assert_int_equal(install(f, id, &stats), 0);
	assert_empty_dir(f->dest);
	assert_int_equal(stats.files, 0);
	assert_int_equal(stats.bytes, 0);
}

static void test_large_and_empty_files(void **state)
{
	struct fixture *f = *state;
	const size_t big = 5 * 1024 * 1024 + 123; /* several copy buffers */
	struct aml_install_stats stats;
	char id[AML_SHA256_HEX_LEN + 1];
	unsigned char *data = malloc(big);

	assert_non_null(data);
	fill(data, big, 7);
	add_file(f, "weights.bin", data, big, 0, MTIME);
	add_file(f, "empty", "", 0, 0, MTIME);
	add_file(f, "dir/__init__.py", "", 0, 0, 5);
	publish(f, id);
	assert_int_equal(install(f, id, &stats), 0);
	check_file(f, "weights.bin", data, big, 0, MTIME);
	check_file(f, "empty", "", 0, 0, MTIME);
	check_file(f, "dir/__init__.py", "", 0, 0, 5);
	assert_int_equal(stats.files, 3);
	assert_int_equal(stats.bytes, big);
	free(data);
}

static void test_thousand_files(void **state)
{
	struct fixture *f = *state;
	struct aml_install_stats stats;
	char id[AML_SHA256_HEX_LEN + 1], path[64];
	unsigned char data[3000];
	uint64_t total = 0;

	/* Sizes from 0 to ~3 KB over 20 directories, each content distinct,
	 * so a file written from the wrong blob (a mix-up between the two
	 * threads) is caught by the comparison below. */
	for (size_t i = 0; i < 1000; i++) {
		size_t len = (i * 37) % sizeof(data);

		snprintf(path, sizeof(path), "d%02zu/s%zu/f%04zu", i % 20,
			 i % 3, i);
		fill(data, len, (uint32_t)i + 1);
		add_file(f, path, data, len, i % 5 == 0, MTIME + (int64_t)i);
		total += len;
	}
	publish(f, id);
	assert_int_equal(install(f, id, &stats), 0);
	assert_int_equal(stats.files, 1000);
	assert_int_equal(stats.bytes, total);
	for (size_t i = 0; i < 1000; i++) {
		size_t len = (i * 37) % sizeof(data);

		snprintf(path, sizeof(path), "d%02zu/s%zu/f%04zu", i % 20,
			 i % 3, i);
		fill(data, len, (uint32_t)i + 1);
		check_file(f, path, data, len, i % 5 == 0,
			   MTIME + (int64_t)i);
	}
}

static void test_copies_are_independent(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1], hex[AML_SHA256_HEX_LEN + 1];
	const char *text = "weights = [1, 2, 3]\n";
	struct stat blob_st, st;
	unsigned char *data;
	size_t len;
	int fd;

	add_text(f, "train.py", text, 1);
	publish(f, id);
	assert_int_equal(install(f, id, NULL), 0);

	assert_int_equal(stat(blob_file(f, entry(f, "train.py")->sha256),
			      &blob_st), 0);
	assert_int_equal(lstat(join(f->dest, "train.py"), &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(blob_st.st_nlink, 1);
	assert_true(st.st_ino != blob_st.st_ino || st.st_dev != blob_st.st_dev);

	/* The script edits itself: the store must not notice. */
	fd = open(join(f->dest, "train.py"), O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "edited\n", 7), 7);
	close(fd);
	data = slurp(blob_file(f, entry(f, "train.py")->sha256), &len);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(data, text, len);
	assert_int_equal(aml_sha256_buffer(data, len, hex), 0);
	assert_string_equal(hex, entry(f, "train.py")->sha256);
	free(data);
}

/* On a filesystem with reflinks, big files are cloned (and still
 * verified: the damaged-blob tests take that path there too). */
static void test_reflink_used(void **state)
{
	struct fixture *f = *state;
	struct aml_install_stats stats;
	char id[AML_SHA256_HEX_LEN + 1], a[PATH_MAX], b[PATH_MAX];
	static unsigned char big[300 * 1024];
	int fa, fb, can;

	snprintf(a, sizeof(a), "%s/probe-a", f->root);
	snprintf(b, sizeof(b), "%s/probe-b", f->root);
	fa = open(a, O_RDWR | O_CREAT | O_EXCL, 0600);
	fb = open(b, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fa >= 0 && fb >= 0);
	assert_int_equal(write(fa, "probe", 5), 5);
	can = ioctl(fb, FICLONE, fa) == 0;
	close(fa);
	close(fb);
	unlink(a);
	unlink(b);
	if (!can) {
		/* tap-wrap takes the reason from this line. */
		print_message("# SKIP: no reflinks in the temporary directory "
			      "(set TMPDIR to an XFS or btrfs directory to "
			      "test them)\n");
		skip();
	}

	/* Big files are cloned; small ones are cheaper to copy. */
	fill(big, sizeof(big), 3);
	add_file(f, "b/model.bin", big, sizeof(big), 1, MTIME);
	add_text(f, "a.py", "a = 1\n", 0);
	add_file(f, "empty", "", 0, 0, MTIME);
	publish(f, id);
	assert_int_equal(install(f, id, &stats), 0);
	assert_int_equal(stats.cloned, 1);
	check_file(f, "b/model.bin", big, sizeof(big), 1, MTIME);
	check_file(f, "a.py", "a = 1\n", 6, 0, MTIME);
	check_file(f, "empty", "", 0, 0, MTIME);
}

/* ---------------------------------------------------------------------- */
/* The destination                                                         */

static void test_dest_not_empty_refused(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];
	unsigned char *data;
	size_t len;
	int fd;

	add_text(f, "train.py", "x = 1\n", 0);
	publish(f, id);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	fd = open(join(f->dest, "mine.txt"), O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "mine\n", 5), 5);
	close(fd);

	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, f->dest, "not empty");
	assert_absent(join(f->dest, "train.py"));
	data = slurp(join(f->dest, "mine.txt"), &len);
	assert_int_equal(len, 5);
	free(data);
}

static void test_dest_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1], elsewhere[PATH_MAX];
	struct stat st;

	add_text(f, "train.py", "x = 1\n", 0);
	publish(f, id);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", f->root);
	assert_int_equal(mkdir(elsewhere, 0755), 0);
	assert_int_equal(symlink(elsewhere, f->dest), 0);

	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, f->dest, "symbolic link");
	assert_empty_dir(elsewhere);
	assert_int_equal(lstat(f->dest, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void test_dest_dangling_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1], elsewhere[PATH_MAX];

	add_text(f, "train.py", "x = 1\n", 0);
	publish(f, id);
	/* mkdir() of a dangling symlink's name fails; it must not be made
	 * at the symlink's target either. */
	snprintf(elsewhere, sizeof(elsewhere), "%s/nowhere", f->root);
	assert_int_equal(symlink(elsewhere, f->dest), 0);
	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, f->dest, "symbolic link");
	assert_absent(elsewhere);
}

static void test_dest_regular_file_refused(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];
	int fd;

	add_text(f, "train.py", "x = 1\n", 0);
	publish(f, id);
	fd = open(f->dest, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, f->dest, "not a directory");
}

static void test_dest_parent_missing(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];

	add_text(f, "train.py", "x = 1\n", 0);
	publish(f, id);
	snprintf(f->dest, sizeof(f->dest), "%s/no/such/run", f->root);
	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, f->dest, "cannot create");
}

/* ---------------------------------------------------------------------- */
/* A store that lies                                                       */

/* How a test spoils a blob in the store. */
enum damage { FLIP_BYTE, TRUNCATE, REMOVE, EXTEND };

/*
 * A snapshot of 300 good files, a big one whose blob gets [damage], and a
 * symlink: the install must fail naming the big file (and [message]) and
 * its blob, and leave the destination as it was.
 */
static void check_damaged(struct fixture *f, enum damage damage,
			  int dest_exists, const char *message)
{
	char id[AML_SHA256_HEX_LEN + 1], blob[PATH_MAX];
	unsigned char big[200000];

	build_many(f, 300);
	/* A big file sorts after the small ones, and is damaged near its
	 * end, so the failure is met late and mid-copy. */
	fill(big, sizeof(big), 99);
	add_file(f, "zz/train.py", big, sizeof(big), 1, MTIME);
	add_link(f, "latest", "zz/train.py", MTIME);
	publish(f, id);
	snprintf(blob, sizeof(blob), "%s",
		 blob_file(f, entry(f, "zz/train.py")->sha256));

	switch (damage) {
	case FLIP_BYTE:
		corrupt_byte(blob, sizeof(big) - 10);
		break;
	case TRUNCATE:
		assert_int_equal(chmod(blob, 0644), 0);
		assert_int_equal(truncate(blob, sizeof(big) - 1), 0);
		break;
	case EXTEND:
		assert_int_equal(chmod(blob, 0644), 0);
		assert_int_equal(truncate(blob, sizeof(big) + 1), 0);
		break;
	case REMOVE:
		assert_int_equal(unlink(blob), 0);
		break;
	}
	if (dest_exists)
		assert_int_equal(mkdir(f->dest, 0755), 0);

	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, "zz/train.py: ", message);
	assert_error(f, blob + strlen(f->snapdir), NULL);
	/* Nothing partial: the 300 good files installed before are gone. */
	if (dest_exists)
		assert_empty_dir(f->dest);
	else
		assert_absent(f->dest);
}

static void test_corrupted_blob(void **state)
{
	struct fixture *f = *state;

	check_damaged(f, FLIP_BYTE, 0,
		      "content does not match its hash (store corrupted: ");
}

static void test_corrupted_blob_existing_dest(void **state)
{
	struct fixture *f = *state;

	check_damaged(f, FLIP_BYTE, 1, "does not match its hash");
}

static void test_truncated_blob(void **state)
{
	struct fixture *f = *state;

	check_damaged(f, TRUNCATE, 0, "store corrupted");
}

static void test_extended_blob(void **state)
{
	struct fixture *f = *state;

	check_damaged(f, EXTEND, 0, "store corrupted");
}

static void test_missing_blob(void **state)
{
	struct fixture *f = *state;

	check_damaged(f, REMOVE, 1, NULL);
}

/* The first file's blob is bad: nothing but the failure happened. */
static void test_corrupted_first_file(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];

	add_text(f, "a.py", "a = 1\n", 0);
	publish(f, id);
	corrupt_byte(blob_file(f, entry(f, "a.py")->sha256), 0);
	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, "a.py: content does not match its hash", NULL);
	assert_int_equal(f->errs.count, 1);
	assert_absent(f->dest);
}

static void test_tampered_manifest(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];
	const char *path;
	size_t len;
	unsigned char *text;
	int fd;

	add_text(f, "train.py", "x = 1\n", 0);
	add_text(f, "util.py", "y = 2\n", 0);
	publish(f, id);
	/* Make train.py executable in the stored text, keeping its name. */
	path = manifest_file(f, id);
	text = slurp(path, &len);
	{
		char *mode = strstr((char *)text, " - ");

		assert_non_null(mode);
		mode[1] = 'x';
	}
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	free(text);

	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, id, NULL);
	assert_absent(f->dest);
}

static void test_unknown_snapshot(void **state)
{
	struct fixture *f = *state;
	char id[AML_SHA256_HEX_LEN + 1];

	assert_int_equal(aml_sha256_buffer("nothing", 7, id), 0);
	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, id, NULL);
	assert_absent(f->dest);
}

static void test_bad_id(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(install(f, "../../etc/passwd", NULL), -1);
	assert_error(f, "../../etc/passwd", "hex");
	assert_int_equal(aml_snapshot_install(&f->store, NULL, f->dest, NULL,
					      &f->errs), -1);
	assert_absent(f->dest);
}

/*
 * Manifests that a capture never writes, stored under their true ids so
 * that they pass the store's check: each must be refused by the decoder,
 * before the destination is touched.
 */
static void test_hostile_manifests(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], id[AML_SHA256_HEX_LEN + 1];
	char text[1024], outside[PATH_MAX];
	static const char *const bodies[] = {
		/* climbs out */
		"f %1$s 5 - 0 ../evil\n",
		"f %1$s 5 - 0 a/../../evil\n",
		/* absolute */
		"f %1$s 5 - 0 /tmp/evil\n",
		/* empty and dot segments */
		"f %1$s 5 - 0 a//b\n",
		"f %1$s 5 - 0 ./a\n",
		/* twice */
		"f %1$s 5 - 0 a\nf %1$s 5 - 0 a\n",
		"f %1$s 5 - 0 a\nl 0 a\tb\n",
		/* below a symlink: d -> outside the tree, then d/x */
		"l 0 d\t..\nf %1$s 5 - 0 d/x\n",
		"l 0 d\tsub\nf %1$s 5 - 0 d/x\nf %1$s 5 - 0 sub/y\n",
		/* below a file */
		"f %1$s 5 - 0 d\nf %1$s 5 - 0 d/x\n",
		/* a symlink leaving the tree */
		"l 0 up\t../outside\n",
		"l 0 abs\t/etc/passwd\n",
		/* out of order */
		"f %1$s 5 - 0 b\nf %1$s 5 - 0 a\n",
		/* the size disagrees with nothing yet, but the line is bad */
		"f %1$s -5 - 0 a\n",
		/* .git */
		"f %1$s 5 - 0 .git/config\n",
	};

	put_blob(f, "evil\n", 5, hex);
	snprintf(outside, sizeof(outside), "%s/evil", f->root);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
		int n = snprintf(text, sizeof(text), "%s",
				 AML_MANIFEST_HEADER);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(text + n, sizeof(text) - (size_t)n, bodies[i], hex);
#pragma GCC diagnostic pop
		publish_text(f, text, id);
		aml_errors_free(&f->errs);
		aml_errors_init(&f->errs, NULL);
		/* Once with no destination, once with an empty one. */
		if (install(f, id, NULL) != -1)
			fail_msg("accepted manifest %zu:\n%s", i, text);
		assert_error(f, id, NULL);
		assert_absent(f->dest);
		assert_absent(outside);
		assert_int_equal(mkdir(f->dest, 0755), 0);
		if (install(f, id, NULL) != -1)
			fail_msg("accepted manifest %zu:\n%s", i, text);
		assert_empty_dir(f->dest);
		assert_int_equal(rmdir(f->dest), 0);
	}
}

/* A manifest whose file has the right hash but claims another size is a
 * corrupted store, not a short file. */
static void test_manifest_size_disagrees(void **state)
{
	struct fixture *f = *state;
	char hex[AML_SHA256_HEX_LEN + 1], id[AML_SHA256_HEX_LEN + 1];
	char text[512];

	put_blob(f, "hello\n", 6, hex);
	snprintf(text, sizeof(text), "%sf %s 5 - 0 a.txt\n",
		 AML_MANIFEST_HEADER, hex);
	publish_text(f, text, id);
	assert_int_equal(install(f, id, NULL), -1);
	assert_error(f, "a.txt: ", "store corrupted");
	assert_absent(f->dest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_normal_install, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_umask_applies, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_existing_empty_dest_used,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_snapshot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_large_and_empty_files,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_thousand_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copies_are_independent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reflink_used, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dest_not_empty_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dest_symlink_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_dest_dangling_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dest_regular_file_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dest_parent_missing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupted_blob, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_corrupted_blob_existing_dest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_blob, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_extended_blob, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_blob, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupted_first_file,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_manifest, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_snapshot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_manifests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_manifest_size_disagrees,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
