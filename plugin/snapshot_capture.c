/*
 * snapshot_capture.c: snapshot a source directory into the user's store.
 *
 * Two phases, so that nothing is stored for a tree that will be refused:
 *   1. walk (snapshot_walk.c): stat every entry (never following a
 *      symlink, never opening anything outside the tree), apply the ignore
 *      file, check names and types; then look files up in the stat cache
 *      and add up the limits;
 *   2. store: read only the files the cache cannot vouch for, put their
 *      contents in the store, publish the manifest, rewrite the cache.
 *
 * Files are opened beneath the root (aml_open_beneath: no symlinks) and
 * checked to be what the walk examined, so nothing swapped in between is
 * read.
 */
#include "fdio.h"
#include "snapshot.h"
#include "snapshot_walk.h"
#include "statcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ignore.h"
#include "manifest.h"
#include "text.h"

#define IGNORE_FILE_MAX (1024 * 1024)
/*
 * A file changed just before the capture may change again within the same
 * timestamp tick, and then look unchanged to the next capture.  The cache
 * never vouches for such a file.  The tick is the kernel's coarse clock
 * (a few ms) on filesystems with nanosecond timestamps; where both
 * timestamps have no nanoseconds the filesystem keeps whole seconds (or
 * two, on FAT), and the window must be that wide.
 */
#define RACY_FINE_NS 20000000LL
#define RACY_COARSE_NS 2000000000LL
/*
 * Rewriting the cache is a pass over every entry and a write of the whole
 * file (1 to 2 ms for 10,000 files), however little changed; keeping it
 * costs reading again, at each capture, the files it does not vouch for.
 * So it is rewritten only when it would say something different of more
 * than 1% of the tree (at least CACHE_STALE_MIN files) or of 64 MiB: a
 * one-file edit re-reads that file until enough else has changed.
 */
#define CACHE_STALE_MIN 8
#define CACHE_STALE_BYTES (64ULL << 20)

struct walk {
	const char *source;
	int rootfd;
	struct aml_ignore *ignore;
	struct aml_found *found;     /* sorted by path */
	size_t n_found;
	struct aml_errors *errs;
	size_t errors;
	struct aml_capture_stats *stats;
	long long started_ns;
	aml_capture_progress progress;
	void *progress_arg;
	long long last_progress_ns;
};

static long long timespec_ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return timespec_ns(&ts);
}

static void entry_error(struct walk *w, const char *path, const char *fmt,
			const char *detail)
{
	aml_snapshot_entry_error(w->errs, path, fmt, detail);
	w->errors++;
}

/* ---- the stat cache ---- */

/* A file the cache never vouches for: changed so recently that it may
 * change again within the same timestamp tick. */
static int is_racy(const struct walk *w, const struct aml_found *f)
{
	long long racy_after = w->started_ns -
		(f->st.st_mtim.tv_nsec || f->st.st_ctim.tv_nsec ? RACY_FINE_NS
								: RACY_COARSE_NS);

	return timespec_ns(&f->st.st_mtim) > racy_after ||
	       timespec_ns(&f->st.st_ctim) > racy_after;
}

/*
 * Mark the files the cache cannot vouch for, and keep in [vouched] (one
 * per found entry, NULL for the others) the entry of those it can, for
 * the next cache.  The walk sorted them, so the lookups are one pass over
 * the cache.
 */
static void cache_vouch(struct aml_stat_cache *c, struct aml_found *found,
			size_t n, const struct aml_stat_entry **vouched)
{
	for (size_t i = 0; i < n; i++) {
		struct aml_found *f = &found[i];
		const struct aml_stat_entry *e;

		vouched[i] = NULL;
		if (f->is_link)
			continue;
		e = aml_stat_cache_find(c, f->path);
		if (e && e->ino == (uint64_t)f->st.st_ino &&
		    e->size == (uint64_t)f->st.st_size &&
		    e->mtime_ns == timespec_ns(&f->st.st_mtim) &&
		    e->ctime_ns == timespec_ns(&f->st.st_ctim)) {
			aml_sha256_to_hex(e->sha256, f->sha256);
			vouched[i] = e;
		} else {
			f->fd_needed = 1;
		}
	}
}

/* ---- limits ---- */

/* A heavy directory (the first [len] bytes of [path]) or file. */
struct heavy {
	const char *path;
	size_t len;
	uint64_t bytes;
	uint64_t files;
};

/* Keep the three heaviest by [by_files] ? file count : bytes.  A tie goes
 * to the newcomer: directories close after their subdirectories, so a
 * parent as heavy as its only child is the one named. */
static void consider(struct heavy top[3], struct heavy h, int by_files)
{
	uint64_t weight = by_files ? h.files : h.bytes;

	for (int i = 0; i < 3; i++) {
		if (weight && weight >= (by_files ? top[i].files : top[i].bytes)) {
			memmove(&top[i + 1], &top[i],
				(size_t)(2 - i) * sizeof(top[0]));
			top[i] = h;
			return;
		}
	}
}

static void add_heavy(struct aml_text *line, const struct heavy top[3],
		      const char *suffix, int with_files)
{
	char size[64];

	if (!top[0].path) {
		aml_text_str(line, "none");
		return;
	}
	for (int i = 0; i < 3 && top[i].path; i++) {
		aml_format_bytes(top[i].bytes, size, sizeof(size));
		if (with_files)
			snprintf(size + strlen(size), sizeof(size) - strlen(size),
				 " in %llu file%s", (unsigned long long)top[i].files,
				 top[i].files == 1 ? "" : "s");
		if (i)
			aml_text_str(line, ", ");
		aml_text_add(line, top[i].path, top[i].len);
		aml_text_str(line, suffix);
		aml_text_str(line, size);
	}
}

/*
 * Sum every directory's subtree.  Sorted (as the walk leaves them), the
 * entries under one directory are contiguous, so one pass with a stack of open prefixes does it.
 */
static void find_heaviest(struct walk *w, int by_files, struct heavy dirs[3],
			  struct heavy files[3])
{
	/* One slot per directory level a valid path can have (48 KiB). */
	size_t lens[AML_MANIFEST_PATH_MAX / 2 + 1];
	uint64_t sums[AML_MANIFEST_PATH_MAX / 2 + 1];
	uint64_t counts[AML_MANIFEST_PATH_MAX / 2 + 1];
	const char *prev = "";
	size_t depth = 0;

	for (size_t i = 0; i <= w->n_found; i++) {
		const char *path = i < w->n_found ? w->found[i].path : "";
		const char *slash;

		/* close the directories [path] is not inside */
		while (depth && (strncmp(path, prev, lens[depth - 1]) ||
				 path[lens[depth - 1]] != '/')) {
			depth--;
			consider(dirs, (struct heavy){ prev, lens[depth],
						       sums[depth], counts[depth] },
				 by_files);
			if (depth) {
				sums[depth - 1] += sums[depth];
				counts[depth - 1] += counts[depth];
			}
		}
		if (i == w->n_found)
			break;
		/* open the directories of [path] not open yet */
		for (slash = strchr(path + (depth ? lens[depth - 1] + 1 : 0), '/');
		     slash; slash = strchr(slash + 1, '/')) {
			lens[depth] = (size_t)(slash - path);
			counts[depth] = 0;
			sums[depth++] = 0;
		}
		if (depth)
			counts[depth - 1]++;
		if (!w->found[i].is_link) {
			uint64_t size = (uint64_t)w->found[i].st.st_size;

			if (depth)
				sums[depth - 1] += size;
			consider(files, (struct heavy){ path, strlen(path), size, 1 },
				 0);
		}
		prev = path;
	}
}

/* One line naming the limit, the heaviest directories and files, and the
 * way out. */
static void report_limits(struct walk *w,
			  const struct aml_snapshot_limits *limits)
{
	struct heavy dirs[4] = { 0 }, files[4] = { 0 };
	struct aml_text line = AML_TEXT_INIT;
	int over_bytes = w->stats->bytes > limits->max_bytes;
	/* Too many files is fixed where the files are, not the bytes. */
	int by_files = !over_bytes;
	char a[64], *message;

	find_heaviest(w, by_files, dirs, files);
	aml_format_bytes(w->stats->bytes, a, sizeof(a));
	aml_text_str(&line, "the snapshot would be ");
	aml_text_str(&line, a);
	snprintf(a, sizeof(a), " in %llu files, over the limit of ",
		 (unsigned long long)w->stats->files);
	aml_text_str(&line, a);
	if (over_bytes) {
		aml_format_bytes(limits->max_bytes, a, sizeof(a));
		aml_text_str(&line, a);
		aml_text_str(&line, " (SnapshotMaxSize in aml.conf)");
	}
	if (w->stats->files > limits->max_files) {
		snprintf(a, sizeof(a), "%s%u files (SnapshotMaxFiles in aml.conf)",
			 over_bytes ? " and of " : "", limits->max_files);
		aml_text_str(&line, a);
	}
	aml_text_str(&line, by_files ? "; directories with the most files: "
				     : "; largest directories: ");
	add_heavy(&line, dirs, "/ ", 1);
	if (!by_files) {
		aml_text_str(&line, "; largest files: ");
		add_heavy(&line, files, " ", 0);
	}
	aml_text_str(&line, "; leave out what the run does not need with a .amlignore file at the root of the source directory");
	message = aml_text_finish(&line);
	aml_errors_add(w->errs, NULL, "%s",
		       message ? message : "over the snapshot limits");
	free(message);
}

/* ---- phase 2: storing ---- */

static void maybe_progress(void *arg)
{
	struct walk *w = arg;
	long long now = now_ns();

	/* Silent for captures under a second; then four times a second. */
	if (!w->progress || now - w->started_ns < 1000000000LL ||
	    now - w->last_progress_ns < 250000000LL)
		return;
	w->last_progress_ns = now;
	w->progress(w->stats, w->progress_arg);
}

static int store_file(struct walk *w, struct aml_store *store,
		      struct aml_found *f)
{
	char errbuf[512];
	struct stat after;
	uint64_t size;
	int written, fd;

	fd = aml_open_beneath(w->rootfd, f->path,
			      O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, NULL);
	if (fd < 0) {
		entry_error(w, f->path, "cannot be read: %s", strerror(errno));
		return -1;
	}
	/* What we open must be what we examined: a file swapped for a FIFO
	 * or another file in between is refused, not read. */
	if (fstat(fd, &after) < 0 || !S_ISREG(after.st_mode) ||
	    after.st_ino != f->st.st_ino || after.st_dev != f->st.st_dev) {
		close(fd);
		entry_error(w, f->path, "was replaced while the snapshot was taken; try again%s",
			    NULL);
		return -1;
	}
	if (aml_store_put_fd(store, fd, f->path, f->sha256, &size, &written,
			     errbuf, sizeof(errbuf)) < 0) {
		close(fd);
		entry_error(w, f->path, "%s", errbuf);
		return -1;
	}
	if (fstat(fd, &after) < 0 || size != (uint64_t)f->st.st_size ||
	    timespec_ns(&after.st_mtim) != timespec_ns(&f->st.st_mtim)) {
		close(fd);
		entry_error(w, f->path, "changed while the snapshot was taken; try again%s",
			    NULL);
		return -1;
	}
	close(fd);
	w->stats->hashed_files++;
	w->stats->hashed_bytes += size;
	if (written) {
		w->stats->new_files++;
		w->stats->new_bytes += size;
	}
	return 0;
}

/*
 * The cache for the next capture: the finished manifest [m] (whose
 * entries are [w]'s found, in the same order: both sorted, and the
 * manifest took the paths) with the inode and ctime of each file, bar the
 * racy ones.  A file the old cache vouched for ([vouched], not read
 * since) keeps its entry as it was.  Returns the text, its length in
 * [*len], or NULL.
 */
static char *encode_cache(const struct walk *w, const struct aml_manifest *m,
			  const struct aml_stat_entry *const *vouched,
			  const char *manifest_id, size_t *len)
{
	struct aml_stat_cache_writer wr;
	size_t path_bytes = 0;

	for (size_t i = 0; i < m->count; i++)
		path_bytes += strlen(m->entries[i].path);
	aml_stat_cache_start(&wr, manifest_id, m->count, path_bytes);
	for (size_t i = 0; i < m->count; i++) {
		const struct aml_found *f = &w->found[i];
		const struct aml_manifest_entry *e = &m->entries[i];

		if (f->is_link || is_racy(w, f))
			continue;
		if (vouched[i] && !f->fd_needed) {
			aml_stat_cache_copy(&wr, vouched[i]);
			continue;
		}
		aml_stat_cache_add(&wr, e->path, (uint64_t)f->st.st_ino, e->size,
				   e->mtime_ns, timespec_ns(&f->st.st_ctim),
				   e->sha256);
	}
	return aml_stat_cache_end(&wr, len);
}

/*
 * Whether the cache is worth rewriting (CACHE_STALE_MIN): always when
 * [current] is 0, where no cache could be trusted without reading its
 * snapshot (none, a gc since it was written, or no gc-stamp yet);
 * otherwise when the files it would newly vouch for, and its entries no
 * file used, are too many.
 */
static int cache_worth_rewriting(const struct walk *w,
				 const struct aml_stat_cache *c,
				 const struct aml_stat_entry *const *vouched,
				 int current)
{
	size_t used = 0, fresh = 0;
	uint64_t fresh_bytes = 0;

	if (!current)
		return 1;
	for (size_t i = 0; i < w->n_found; i++) {
		const struct aml_found *f = &w->found[i];

		if (vouched[i] && !f->fd_needed)
			used++;
		else if (!f->is_link && !is_racy(w, f)) {
			fresh++;
			fresh_bytes += (uint64_t)f->st.st_size;
		}
	}
	return fresh + (c->count - used) >
		       (w->n_found / 100 > CACHE_STALE_MIN ? w->n_found / 100
							   : CACHE_STALE_MIN) ||
	       fresh_bytes > CACHE_STALE_BYTES;
}

static int build_manifest(struct walk *w, struct aml_manifest *m)
{
	char errbuf[512];

	for (size_t i = 0; i < w->n_found; i++) {
		struct aml_found *f = &w->found[i];
		struct aml_manifest_entry e = {
			.type = f->is_link ? AML_ENTRY_SYMLINK : AML_ENTRY_FILE,
			.path = f->path,
			.target = f->target,
			.size = f->is_link ? 0 : (uint64_t)f->st.st_size,
			.executable = !f->is_link &&
				      (f->st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)),
			.mtime_ns = timespec_ns(&f->st.st_mtim),
		};

		if (!f->is_link)
			memcpy(e.sha256, f->sha256, sizeof(e.sha256));
		if (aml_manifest_take(m, &e) < 0) {
			aml_errors_add(w->errs, NULL, "out of memory");
			return -1;
		}
		f->path = NULL;
		f->target = NULL;
	}
	if (aml_manifest_finish(m, errbuf, sizeof(errbuf)) < 0) {
		/* The walk checked every name and link: this is a bug, or the
		 * tree changed under us. */
		aml_errors_add(w->errs, NULL, "%s", errbuf);
		return -1;
	}
	return 0;
}

static int load_ignore(struct walk *w)
{
	static const char *const names[] = { ".amlignore", ".gitignore" };

	for (size_t i = 0; i < 2; i++) {
		int fd = openat(w->rootfd, names[i],
				O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK |
					O_CLOEXEC);
		struct stat st;
		char *text;
		ssize_t n;

		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_size > IGNORE_FILE_MAX) {
			entry_error(w, names[i],
				    "the ignore file must be a regular file of at most 1 MiB%s",
				    NULL);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		text = malloc((size_t)st.st_size + 1);
		n = text ? read(fd, text, (size_t)st.st_size) : -1;
		close(fd);
		if (n < 0) {
			free(text);
			entry_error(w, names[i], "cannot be read: %s",
				    strerror(errno));
			return -1;
		}
		w->ignore = aml_ignore_parse(text, (size_t)n);
		free(text);
		if (!w->ignore) {
			entry_error(w, names[i], "out of memory%s", NULL);
			return -1;
		}
		return 0;
	}
	return 0;
}

static void walk_free(struct walk *w)
{
	struct aml_walk found = { .found = w->found, .n_found = w->n_found };

	aml_snapshot_walk_free(&found);
	aml_ignore_free(w->ignore);
}

int aml_snapshot_capture(const char *source_dir, struct aml_store *store,
			 const struct aml_snapshot_limits *limits,
			 aml_capture_progress progress, void *progress_arg,
			 char id[AML_SHA256_HEX_LEN + 1],
			 struct aml_capture_stats *stats,
			 struct aml_errors *errs)
{
	struct walk w = { .source = source_dir, .errs = errs, .stats = stats,
			  .progress = progress, .progress_arg = progress_arg };
	struct aml_walk walk = { .stats = stats, .errs = errs,
				 .tick = maybe_progress, .tick_arg = &w };
	struct aml_stat_cache cache = { 0 };
	struct timespec cache_written;
	const struct aml_stat_entry **vouched = NULL;
	struct aml_manifest manifest = { 0 };
	char errbuf[512], *text = NULL, *cache_text = NULL, *cache_raw = NULL;
	char real[PATH_MAX];
	size_t len, cache_len;
	int locked = 0, result = -1, written, cache_current = 0;

	memset(stats, 0, sizeof(*stats));
	w.started_ns = now_ns();
	w.rootfd = open(source_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.rootfd < 0 || !realpath(source_dir, real)) {
		aml_errors_add(errs, NULL, "%s: cannot open the source directory: %s",
			       source_dir, strerror(errno));
		goto out;
	}
	if (load_ignore(&w) < 0)
		goto out;
	if (aml_store_read_cache(store, real, &cache_raw, &len, &cache_written,
				 errbuf, sizeof(errbuf)) == 0 && cache_raw)
		aml_stat_cache_parse(cache_raw, len, &cache);

	walk.rootfd = w.rootfd;
	walk.ignore = w.ignore;
	w.errors = aml_snapshot_walk(&walk);
	w.found = walk.found;
	w.n_found = walk.n_found;
	if (w.errors)
		goto out;
	vouched = malloc((w.n_found ? w.n_found : 1) * sizeof(*vouched));
	if (!vouched) {
		aml_errors_add(errs, NULL, "out of memory");
		goto out;
	}
	cache_vouch(&cache, w.found, w.n_found, vouched);
	if (stats->bytes > limits->max_bytes || stats->files > limits->max_files) {
		report_limits(&w, limits);
		goto out;
	}

	/* Shared with other captures, exclusive of gc: from here on, what we
	 * check is in the store stays there until our manifest is published. */
	if (aml_store_lock(store, 0, errbuf, sizeof(errbuf)) < 0) {
		aml_errors_add(errs, NULL, "%s", errbuf);
		goto out;
	}
	locked = 1;

	/* The cache vouches for contents it saw in a published snapshot; if
	 * a gc ran since and that snapshot is gone, its blobs may be too. */
	if (!cache.count || !cache.manifest[0]) {
		/* no cache: nothing vouched for */
	} else if (aml_store_blobs_kept_since(store, &cache_written)) {
		cache_current = 1;
	} else {
		/* Read to be sure, then rewritten (cache_current stays 0),
		 * so that the next capture need not read it. */
		char *old = NULL;
		size_t old_len;

		if (aml_store_read_manifest(store, cache.manifest, &old,
					    &old_len, errbuf, sizeof(errbuf)) < 0) {
			for (size_t i = 0; i < w.n_found; i++)
				if (!w.found[i].is_link && !w.found[i].fd_needed &&
				    !aml_store_has_blob(store, w.found[i].sha256))
					w.found[i].fd_needed = 1;
		}
		free(old);
	}

	for (size_t i = 0; i < w.n_found; i++) {
		if (!w.found[i].fd_needed)
			continue;
		store_file(&w, store, &w.found[i]);
		maybe_progress(&w);
	}
	if (w.errors || build_manifest(&w, &manifest) < 0)
		goto out;
	text = aml_manifest_encode(&manifest, &len, NULL);
	if (!text) {
		aml_errors_add(errs, NULL, "out of memory");
		goto out;
	}
	/* The blobs before the manifest that names them: a crash never
	 * leaves an id whose files are missing or torn. */
	if (aml_store_sync(store, errbuf, sizeof(errbuf)) < 0 ||
	    aml_store_publish_manifest(store, text, len, id, &written, errbuf,
				       sizeof(errbuf)) < 0) {
		aml_errors_add(errs, NULL, "%s", errbuf);
		goto out;
	}
	stats->manifest_written = written;
	if (cache_worth_rewriting(&w, &cache, vouched, cache_current)) {
		cache_text = encode_cache(&w, &manifest, vouched, id, &cache_len);
		if (cache_text)
			aml_store_write_cache(store, real, cache_text, cache_len,
					      errbuf, sizeof(errbuf));
	}
	if (progress && now_ns() - w.started_ns >= 1000000000LL)
		progress(stats, progress_arg);
	result = 0;
out:
	if (locked)
		aml_store_unlock(store);
	if (w.rootfd >= 0)
		close(w.rootfd);
	free(text);
	free(cache_text);
	free(vouched);
	aml_stat_cache_free(&cache);
	free(cache_raw);
	aml_manifest_free(&manifest);
	walk_free(&w);
	return result;
}
