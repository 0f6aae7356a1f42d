/*
 * snapshot_walk.c: find what a snapshot keeps (contract in
 * snapshot_walk.h).
 *
 * Directories are opened beneath the root (aml_open_beneath: no symlinks)
 * from the root, one at a time, so a walker holds one directory
 * descriptor whatever the depth, and a directory swapped for a symlink
 * while we walk makes the open fail instead of leading us out of the tree.
 *
 * Two threads share the stack of directories still to read: a resubmit
 * of a large tree is mostly the time of one fstatat per entry, which two
 * threads halve where the filesystem and the cores allow.  Each keeps
 * what it finds apart, and the whole is sorted at the end, so the result
 * does not depend on which thread read which directory.  Errors are not
 * worded while two threads walk: their order would depend on the threads.
 * A tree with any is walked again by one thread, which words them in the
 * order it meets them, as before there were two; a refused tree is the
 * rare case, and the user reads those messages.
 */
#include "fdio.h"
#include "manifest.h"
#include "snapshot_walk.h"
#include "strlist.h"
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WALK_THREADS 2

/* What the walkers share, under [lock]. */
struct shared {
	struct aml_walk *w;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char **dirs;            /* directories still to read (a stack) */
	size_t n_dirs, cap_dirs;
	size_t busy;            /* directories being read */
	int quiet;              /* errors counted, not worded */
	int stop;               /* quiet and refused: no use going on */
};

/* One thread's walk. */
struct walker {
	struct shared *sh;
	int is_caller;          /* the thread that called aml_snapshot_walk */
	struct aml_found *found;
	size_t n_found, cap_found;
	struct aml_strlist subdirs; /* found in the directory being read */
	uint64_t files, bytes, ignored; /* not yet added to the stats */
	size_t errors;
};

void aml_snapshot_entry_error(struct aml_errors *errs, const char *path,
			      const char *fmt, const char *detail)
{
	char where[96];
	char message[512];

	aml_text_escape(path, where, sizeof(where));
	snprintf(message, sizeof(message), fmt, detail ? detail : "");
	aml_errors_add(errs, where, "%s", message);
}

static void refuse(struct walker *k, const char *path, const char *fmt,
		   const char *detail)
{
	k->errors++;
	if (!k->sh->quiet)
		aml_snapshot_entry_error(k->sh->w->errs, path, fmt, detail);
}

static struct aml_found *new_found(struct walker *k, const char *path)
{
	struct aml_found *f;

	if (k->n_found == k->cap_found) {
		size_t cap = k->cap_found ? k->cap_found * 2 : 256;
		struct aml_found *grown = realloc(k->found, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		k->found = grown;
		k->cap_found = cap;
	}
	f = &k->found[k->n_found];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		return NULL;
	k->n_found++;
	return f;
}

static void visit(struct walker *k, int dirfd, const char *dir_path,
		  const char *name)
{
	char path[AML_MANIFEST_PATH_MAX + 2];
	char reason[128];
	size_t dir_len, name_len;
	struct aml_found *f;
	struct stat st;

	/* .git is never part of a snapshot, whatever the ignore file says
	 * (nor a submodule's .git file). */
	if (!strcmp(name, ".git"))
		return;
	dir_len = strlen(dir_path);
	name_len = strlen(name);
	if (dir_len + !!dir_len + name_len > AML_MANIFEST_PATH_MAX) {
		char shown[64];

		snprintf(shown, sizeof(shown), "%.40s...", dir_path);
		refuse(k, shown,
		       "a path below here is longer than %s bytes, the most a snapshot keeps; leave out a directory above it with .amlignore",
		       "4096");
		return;
	}
	memcpy(path, dir_path, dir_len);
	if (dir_len)
		path[dir_len++] = '/';
	memcpy(path + dir_len, name, name_len + 1);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		refuse(k, path, "cannot be examined: %s", strerror(errno));
		return;
	}
	if (k->sh->w->ignore &&
	    aml_ignore_match(k->sh->w->ignore, path, S_ISDIR(st.st_mode))) {
		k->ignored++;
		return;
	}
	if (aml_manifest_check_path(path, reason, sizeof(reason)) < 0) {
		refuse(k, path,
		       "the name cannot be kept in a snapshot (%s); rename it or add it to .amlignore",
		       reason);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		if (aml_strlist_push(&k->subdirs, path) < 0)
			refuse(k, path, "out of memory%s", NULL);
		return;
	}
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		refuse(k, path,
		       "is %s; a snapshot holds only files, directories and symbolic links: add it to .amlignore",
		       aml_file_kind(st.st_mode, "of an unknown kind"));
		return;
	}
	f = new_found(k, path);
	if (!f) {
		refuse(k, path, "out of memory%s", NULL);
		return;
	}
	f->st = st;
	if (S_ISLNK(st.st_mode)) {
		char target[AML_MANIFEST_PATH_MAX + 1];
		ssize_t len = readlinkat(dirfd, name, target, sizeof(target) - 1);

		f->is_link = 1;
		if (len < 0) {
			refuse(k, path, "cannot read the link: %s",
			       strerror(errno));
			return;
		}
		if ((size_t)len >= sizeof(target) - 1) {
			refuse(k, path, "the link's target is too long%s",
			       NULL);
			return;
		}
		target[len] = '\0';
		if (aml_manifest_check_target(path, target, reason,
					      sizeof(reason)) < 0) {
			char shown[128], message[sizeof(shown) + sizeof(reason) + 32];

			aml_text_escape(target, shown, sizeof(shown));
			snprintf(message, sizeof(message),
				 "symbolic link to \"%s\" %s", shown, reason);
			refuse(k, path,
			       "%s; a snapshot keeps only relative links that stay inside the source directory: add the link to .amlignore, or copy what it points to into the tree",
			       message);
			return;
		}
		f->target = strdup(target);
		if (!f->target)
			refuse(k, path, "out of memory%s", NULL);
		k->files++;
		return;
	}
	k->files++;
	k->bytes += (uint64_t)st.st_size;
}

static void read_directory(struct walker *k, const char *dir_path)
{
	int fd = aml_open_beneath(k->sh->w->rootfd, dir_path,
				  O_RDONLY | O_DIRECTORY, 0, NULL);
	struct dirent *de;
	DIR *dir;

	if (fd < 0) {
		refuse(k, *dir_path ? dir_path : ".",
		       errno == EXDEV || errno == ELOOP
			       ? "changed into a symbolic link while being read%s"
			       : "cannot be opened: %s",
		       errno == EXDEV || errno == ELOOP ? NULL
							: strerror(errno));
		return;
	}
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		refuse(k, dir_path, "cannot be read: %s", strerror(errno));
		return;
	}
	errno = 0;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		visit(k, dirfd(dir), dir_path, de->d_name);
		errno = 0;
	}
	if (errno)
		refuse(k, dir_path, "cannot be read: %s", strerror(errno));
	closedir(dir);
}

/*
 * Under the lock, once a directory is read: its subdirectories go on the
 * shared stack in the order they were met (so one walker reads the tree
 * in the order a plain depth-first walk does), its counts into the stats.
 */
static void finish_directory(struct walker *k)
{
	struct shared *sh = k->sh;
	struct aml_capture_stats *stats = sh->w->stats;

	for (size_t i = 0; i < k->subdirs.count; i++) {
		if (sh->n_dirs == sh->cap_dirs) {
			size_t cap = sh->cap_dirs ? sh->cap_dirs * 2 : 64;
			char **grown = realloc(sh->dirs, cap * sizeof(*grown));

			if (!grown) {
				refuse(k, k->subdirs.items[i], "out of memory%s",
				       NULL);
				free(k->subdirs.items[i]);
				continue;
			}
			sh->dirs = grown;
			sh->cap_dirs = cap;
		}
		sh->dirs[sh->n_dirs++] = k->subdirs.items[i];
	}
	k->subdirs.count = 0;   /* the stack has them now */
	stats->files += k->files;
	stats->bytes += k->bytes;
	stats->ignored += k->ignored;
	k->files = k->bytes = k->ignored = 0;
	if (sh->quiet && k->errors)
		sh->stop = 1;
}

static void *walk_thread(void *arg)
{
	struct walker *k = arg;
	struct shared *sh = k->sh;

	pthread_mutex_lock(&sh->lock);
	for (;;) {
		char *dir;

		while (!sh->n_dirs && sh->busy && !sh->stop)
			pthread_cond_wait(&sh->changed, &sh->lock);
		if (!sh->n_dirs || sh->stop)
			break;
		dir = sh->dirs[--sh->n_dirs];
		sh->busy++;
		pthread_mutex_unlock(&sh->lock);
		read_directory(k, dir);
		free(dir);
		pthread_mutex_lock(&sh->lock);
		sh->busy--;
		finish_directory(k);
		if (k->is_caller && sh->w->tick)
			sh->w->tick(sh->w->tick_arg);
		pthread_cond_broadcast(&sh->changed);
	}
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

static int compare_found(const void *a, const void *b)
{
	return strcmp(((const struct aml_found *)a)->path,
		      ((const struct aml_found *)b)->path);
}

static void free_found(struct aml_found *found, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(found[i].path);
		free(found[i].target);
	}
	free(found);
}

/* Append what [from] found to [to]; -1 when memory runs out. */
static int merge_found(struct walker *to, struct walker *from)
{
	struct aml_found *grown;

	if (!from->n_found)
		return 0;
	grown = realloc(to->found,
			(to->n_found + from->n_found) * sizeof(*grown));
	if (!grown)
		return -1;
	memcpy(grown + to->n_found, from->found,
	       from->n_found * sizeof(*grown));
	to->found = grown;
	to->n_found += from->n_found;
	to->cap_found = to->n_found;
	free(from->found);
	from->found = NULL;
	from->n_found = 0;
	return 0;
}

/* One walk by [threads] walkers (1 or WALK_THREADS); the errors of a walk
 * by more than one are counted, not worded.  Returns the errors. */
static size_t walk_with(struct aml_walk *w, int threads)
{
	struct shared sh = { .w = w };
	struct walker k[WALK_THREADS] = { { 0 } };
	pthread_t helper;
	int helping = 0;
	size_t errors = 0;

	pthread_mutex_init(&sh.lock, NULL);
	pthread_cond_init(&sh.changed, NULL);
	for (int i = 0; i < WALK_THREADS; i++)
		k[i].sh = &sh;
	k[0].is_caller = 1;
	if (aml_strlist_push(&k[0].subdirs, "") < 0) {
		aml_errors_add(w->errs, NULL, "out of memory");
		errors = 1;
		goto out;
	}
	finish_directory(&k[0]);
	if (threads > 1) {
		sigset_t all, old;

		/* The helper takes none of the process's signals: their
		 * handlers expect the thread that installed them. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		sh.quiet = 1;
		helping = pthread_create(&helper, NULL, walk_thread, &k[1]) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		/* alone after all: no thread but this one reads [quiet] */
		if (!helping)
			sh.quiet = 0;
	}
	walk_thread(&k[0]);
	if (helping)
		pthread_join(helper, NULL);
	for (int i = 0; i < WALK_THREADS; i++)
		errors += k[i].errors;
	if (merge_found(&k[0], &k[1]) < 0) {
		aml_errors_add(w->errs, NULL, "out of memory");
		errors++;
	}
out:
	for (size_t i = 0; i < sh.n_dirs; i++)
		free(sh.dirs[i]);
	free(sh.dirs);
	for (int i = 0; i < WALK_THREADS; i++)
		aml_strlist_free(&k[i].subdirs);
	free_found(k[1].found, k[1].n_found);
	w->found = k[0].found;
	w->n_found = k[0].n_found;
	pthread_cond_destroy(&sh.changed);
	pthread_mutex_destroy(&sh.lock);
	return errors;
}

size_t aml_snapshot_walk(struct aml_walk *w)
{
	struct aml_capture_stats before = *w->stats;
	size_t errors;

	w->found = NULL;
	w->n_found = 0;
	errors = walk_with(w, WALK_THREADS);
	if (errors) {
		/* Word the errors, in order: the same walk again, alone. */
		aml_snapshot_walk_free(w);
		*w->stats = before;
		errors = walk_with(w, 1);
	}
	/* A refused tree can leave nothing found: qsort of no array is
	 * undefined even with a count of 0. */
	if (w->n_found > 1)
		qsort(w->found, w->n_found, sizeof(*w->found), compare_found);
	return errors;
}

void aml_snapshot_walk_free(struct aml_walk *w)
{
	free_found(w->found, w->n_found);
	w->found = NULL;
	w->n_found = 0;
}
