/*
 * history_file_read.c: the file backend's readers: a run by its id, the
 * listing of every run a reader may see, and a run's artifacts.  Readers
 * take no lock (history_file.c, Concurrency).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts.h"
#include "errors.h"
#include "fdio.h"
#include "history_file_internal.h"
#include "runid.h"
#include "text.h"

static const char *const artifact_tops[] = { "outputs", "logs", "user_logs" };
#define N_TOPS (sizeof(artifact_tops) / sizeof(artifact_tops[0]))

static char *owner_name(uid_t uid)
{
	struct passwd pw, *found = NULL;
	char buf[1024], *name;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		return strdup(found->pw_name);
	if (asprintf(&name, "%lu", (unsigned long)uid) < 0)
		return NULL;
	return name;
}

/* The run's timeline and state from its events.jsonl text. */
static int load_events(struct aml_run_info *info, const char *text,
		       size_t len)
{
	return aml_run_events(text, len, &info->state, &info->events,
			      &info->n_events);
}

/* Fill [info] from the open run directory [fd]. */
static int load_run(int fd, const char *experiment, const char *run_id,
		    int with_config, struct aml_run_info *info, char *errbuf,
		    size_t errlen)
{
	struct stat st;
	char *text = NULL, why[160];
	size_t len;

	memset(info, 0, sizeof(*info));
	aml_run_state_init(&info->state);
	if (fstat(fd, &st) < 0)
		return hf_sysfail(errbuf, errlen, errno, "run %s", run_id);
	info->uid = st.st_uid;
	info->experiment = strdup(experiment);
	info->run_id = strdup(run_id);
	info->owner = owner_name(st.st_uid);
	if (!info->experiment || !info->run_id || !info->owner)
		goto oom;
	if (hf_read_file_at(fd, EVENTS, &text, &len) < 0) {
		int e = errno;

		aml_run_info_free(info);
		if (e == EACCES)
			return aml_fail(errbuf, errlen, "run history: run %s is "
					"private to its owner (uid %lu)",
					run_id, (unsigned long)st.st_uid);
		return hf_sysfail(errbuf, errlen, e, "cannot read %s of run %s",
				  EVENTS, run_id);
	}
	if (load_events(info, text, len) < 0)
		goto oom;
	free(text);
	text = NULL;
	if (hf_read_kvlist_at(fd, PROPERTIES, &info->properties, why,
			      sizeof(why)) < 0 ||
	    hf_read_kvlist_at(fd, TAGS, &info->tags, why, sizeof(why)) < 0) {
		int e = errno;

		aml_run_info_free(info);
		return hf_sysfail(errbuf, errlen, e, "cannot read the "
				  "properties or tags of run %s%s%s", run_id,
				  *why ? ", " : "", why);
	}
	if (with_config && hf_read_file_at(fd, CONFIG, &info->config_json,
					   &len) < 0 && errno != ENOENT) {
		int e = errno;

		aml_run_info_free(info);
		return hf_sysfail(errbuf, errlen, e, "cannot read %s of run %s",
				  CONFIG, run_id);
	}
	return 0;
oom:
	free(text);
	aml_run_info_free(info);
	return aml_fail(errbuf, errlen, "out of memory");
}

/*
 * Find a reader's run by its id alone.  The reader's own run, when there
 * is one; else the one run of that id; runs of that id of several users
 * (a user may name a run as they like: v2 `name`) are refused rather
 * than one picked, so nobody can make another user's run show as theirs.
 * Returns the run's directory (O_RDONLY) with [exp_out] and [*uid], or
 * -1 with errbuf (errno EACCES: private).
 */
static int find_run_for_reader(struct file_backend *fb, int rootfd,
			       const char *run_id, char *exp_out,
			       size_t exp_len, char *errbuf, size_t errlen)
{
	struct run_search s = { .run_id = run_id, .any_owner = 1 };
	size_t pick = 0;
	int fd, e;

	if (hf_search_run(fb, rootfd, &s) < 0)
		return hf_sysfail(errbuf, errlen, errno, "cannot read "
				  "HistoryDir %s", fb->root);
	if (s.n == 0) {
		errno = s.denied ? EACCES : ENOENT;
		return s.denied ? aml_fail(errbuf, errlen, "run history: run "
					   "%s is private to its owner",
					   run_id)
				: aml_fail(errbuf, errlen, "run history: no run "
					   "%s (looked in %s)", run_id,
					   fb->root);
	}
	while (pick < s.n && s.m[pick].uid != geteuid())
		pick++;
	if (pick == s.n) {
		if (hf_several_owners(&s)) {
			char owners[256];

			hf_owners_of(&s, owners, sizeof(owners));
			hf_search_free(&s);
			errno = EEXIST;
			return aml_fail(errbuf, errlen, "run history: run id "
					"%s is used by several users (%s); "
					"only its owner can tell which is "
					"theirs", run_id, owners);
		}
		pick = 0;
	}
	snprintf(exp_out, exp_len, "%s", s.m[pick].experiment);
	fd = openat(s.m[pick].fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e = errno;
	hf_search_free(&s);
	if (fd < 0) {
		errno = e;
		if (e == EACCES)
			return aml_fail(errbuf, errlen, "run history: run %s "
					"is private to its owner", run_id);
		return hf_sysfail(errbuf, errlen, e, "run %s", run_id);
	}
	return fd;
}

int hf_read_run(void *self, const char *run_id, int with_config,
		struct aml_run_info *info, char *errbuf, size_t errlen)
{
	struct file_backend *fb = self;
	char experiment[AML_RUNID_MAX], shown[96];
	int rootfd, fd, r;

	memset(info, 0, sizeof(*info));
	if (!aml_runid_is_valid(run_id)) {
		aml_text_escape(run_id, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "\"%s\" is not a run id "
				"(letters, digits, '_' and '-')", shown);
	}
	rootfd = hf_open_root(fb, errbuf, errlen);
	if (rootfd < 0)
		return -1;
	fd = find_run_for_reader(fb, rootfd, run_id, experiment,
				 sizeof(experiment), errbuf, errlen);
	if (fd < 0) {
		close(rootfd);
		return -1;
	}
	r = load_run(fd, experiment, run_id, with_config, info, errbuf, errlen);
	close(fd);
	close(rootfd);
	return r < 0 ? -1 : 0;
}

int hf_filter_matches(const struct aml_run_filter *f,
		      const struct aml_run_info *info)
{
	if (!f)
		return 1;
	if (f->has_status && (!info->state.has_events ||
			      info->state.status != f->status))
		return 0;
	if (f->user && strcmp(f->user, info->owner))
		return 0;
	if (f->since_ms && info->state.created_ms < f->since_ms)
		return 0;
	return 1;
}

static int newest_first(const void *a, const void *b)
{
	const struct aml_run_info *x = a, *y = b;

	if (x->state.created_ms != y->state.created_ms)
		return x->state.created_ms > y->state.created_ms ? -1 : 1;
	return strcmp(y->run_id, x->run_id);
}

/* Add every readable, matching run of the experiment [expfd] to [*runs]. */
static int list_experiment(int expfd, const char *experiment, uid_t owner,
			   const struct aml_run_filter *filter,
			   struct aml_run_info **runs, size_t *n, size_t *cap,
			   char *errbuf, size_t errlen)
{
	int fd = openat(expfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0; /* an experiment we cannot read has no runs for us */
	}
	while ((de = readdir(d))) {
		struct aml_run_info info;
		char ignored[256];
		int runfd;

		if (de->d_name[0] == '.' || !aml_runid_is_valid(de->d_name))
			continue;
		runfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
							     O_NOFOLLOW |
							     O_CLOEXEC);
		if (runfd < 0)
			continue;
		/* In a user's tree, only the tree owner's runs are runs. */
		if (owner != (uid_t)-1) {
			struct stat st;

			if (fstat(runfd, &st) < 0 || st.st_uid != owner) {
				close(runfd);
				continue;
			}
		}
		/* Others' private runs are simply not listed. */
		if (load_run(runfd, experiment, de->d_name, 0, &info, ignored,
			     sizeof(ignored)) < 0) {
			close(runfd);
			continue;
		}
		close(runfd);
		if (!hf_filter_matches(filter, &info)) {
			aml_run_info_free(&info);
			continue;
		}
		if (*n == *cap) {
			size_t grown_cap = *cap ? *cap * 2 : 64;
			struct aml_run_info *grown =
				realloc(*runs, grown_cap * sizeof(*grown));

			if (!grown) {
				aml_run_info_free(&info);
				closedir(d);
				return aml_fail(errbuf, errlen, "out of memory");
			}
			*runs = grown;
			*cap = grown_cap;
		}
		(*runs)[(*n)++] = info;
	}
	closedir(d);
	return 0;
}

/* A visitor's "stop: errbuf says why" (hf_each_subdir's -1 is its own). */
#define LIST_FAILED 2

/* What listing carries through the directories it visits. */
struct listing {
	const struct aml_run_filter *filter;
	struct aml_run_info **runs;
	size_t *n, cap;
	uid_t owner;           /* of the tree being listed */
	char *errbuf;
	size_t errlen;
};

static int list_tree_experiment(void *ctx, int expfd, const char *name,
				const struct stat *st)
{
	struct listing *l = ctx;

	(void)st;
	return list_experiment(expfd, name, l->owner, l->filter, l->runs,
			       l->n, &l->cap, l->errbuf, l->errlen) < 0
		       ? LIST_FAILED : 0;
}

/* Every experiment of a user's tree, or the one the filter names. */
static int list_tree(int treefd, struct listing *l)
{
	int fd, r;

	if (l->filter && l->filter->experiment) {
		fd = openat(treefd, l->filter->experiment,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return 0;
		r = list_experiment(fd, l->filter->experiment, l->owner,
				    l->filter, l->runs, l->n, &l->cap,
				    l->errbuf, l->errlen);
		close(fd);
		return r < 0 ? LIST_FAILED : 0;
	}
	r = hf_each_subdir(treefd, NULL, list_tree_experiment, l);
	/* A tree we cannot read (a private one) lists nothing for us. */
	return r < 0 ? 0 : r;
}

static int list_top(void *ctx, int topfd, const char *name,
		    const struct stat *st)
{
	struct listing *l = ctx;

	switch (hf_top_kind(st)) {
	case TOP_TREE:
		l->owner = st->st_uid;
		return list_tree(topfd, l);
	case TOP_LEGACY:
		if (l->filter && l->filter->experiment &&
		    strcmp(l->filter->experiment, name))
			return 0;
		return list_experiment(topfd, name, (uid_t)-1, l->filter,
				       l->runs, l->n, &l->cap, l->errbuf,
				       l->errlen) < 0 ? LIST_FAILED : 0;
	default:
		return 0;
	}
}

int hf_list(void *self, const struct aml_run_filter *filter,
	    struct aml_run_info **runs, size_t *n, char *errbuf,
	    size_t errlen)
{
	struct file_backend *fb = self;
	struct listing l = { .filter = filter, .runs = runs, .n = n,
			     .errbuf = errbuf, .errlen = errlen };
	int rootfd, r;

	*runs = NULL;
	*n = 0;
	rootfd = hf_open_root(fb, errbuf, errlen);
	if (rootfd < 0)
		return -1;
	r = hf_each_subdir(rootfd, NULL, list_top, &l);
	if (r < 0)
		hf_sysfail(errbuf, errlen, errno, "cannot read HistoryDir %s",
			   fb->root);
	close(rootfd);
	if (r != 0) {
		for (size_t i = 0; i < *n; i++)
			aml_run_info_free(&(*runs)[i]);
		free(*runs);
		*runs = NULL;
		*n = 0;
		return -1;
	}
	if (*n > 1)
		qsort(*runs, *n, sizeof(**runs), newest_first);
	return 0;
}

/* The run directory of a run read before, for reading: the run of that
 * owner, experiment and id, wherever it is. */
static int open_run_read(struct file_backend *fb,
			 const struct aml_run_info *run, char *errbuf,
			 size_t errlen)
{
	struct run_search s = { .run_id = run->run_id,
				.experiment = run->experiment,
				.uid = run->uid };
	int rootfd = hf_open_root(fb, errbuf, errlen), fd = -1, e = ENOENT;

	if (rootfd < 0)
		return -1;
	if (hf_search_run(fb, rootfd, &s) == 0 && s.n > 0) {
		fd = openat(s.m[0].fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		e = errno;
	}
	hf_search_free(&s);
	close(rootfd);
	if (fd < 0)
		hf_sysfail(errbuf, errlen, e, "run %s", run->run_id);
	return fd;
}

int hf_list_artifacts(void *self, const struct aml_run_info *run,
		      struct aml_artifact **list, size_t *n,
		      char *errbuf, size_t errlen)
{
	int fd = open_run_read(self, run, errbuf, errlen), r;

	*list = NULL;
	*n = 0;
	if (fd < 0)
		return -1;
	r = aml_artifacts_list(fd, artifact_tops, N_TOPS, list, n, errbuf,
			       errlen);
	close(fd);
	return r;
}

/* A path inside a run: relative, no "." or ".." components, below one of
 * the artifact folders. */
int hf_artifact_path_ok(const char *path)
{
	const char *p = path;
	int top_ok = 0;

	for (size_t i = 0; i < N_TOPS; i++) {
		size_t n = strlen(artifact_tops[i]);

		if (!strncmp(path, artifact_tops[i], n) &&
		    (path[n] == '/' || path[n] == '\0'))
			top_ok = 1;
	}
	if (!top_ok)
		return 0;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

int hf_open_artifact(void *self, const struct aml_run_info *run,
		     const char *path, char *errbuf, size_t errlen)
{
	int runfd, fd, e;

	if (!hf_artifact_path_ok(path)) {
		aml_fail(errbuf, errlen, "\"%s\" is not a path in a run: it "
			 "must start with outputs/, logs/ or user_logs/", path);
		errno = EINVAL;
		return -1;
	}
	runfd = open_run_read(self, run, errbuf, errlen);
	if (runfd < 0)
		return -1;
	fd = aml_open_nofollow(runfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	e = errno;
	close(runfd);
	if (fd < 0)
		hf_sysfail(errbuf, errlen, e, "%s of run %s", path,
			   run->run_id);
	errno = e;
	return fd;
}

int hf_download(void *self, const struct aml_run_info *run,
		const char *path, int out_fd,
		struct aml_artifact_stats *stats, char *errbuf,
		size_t errlen)
{
	int runfd, r = 0;

	if (path && *path && !hf_artifact_path_ok(path))
		return aml_fail(errbuf, errlen, "\"%s\" is not a path in a "
				"run: it must start with outputs/, logs/ or "
				"user_logs/", path);
	runfd = open_run_read(self, run, errbuf, errlen);
	if (runfd < 0)
		return -1;
	if (path && *path) {
		r = aml_artifacts_copy_out(runfd, path, out_fd, stats, errbuf,
					   errlen);
	} else {
		/* Each copy counts from zero; the caller wants the sum. */
		struct aml_artifact_stats sum = { 0 };

		for (size_t i = 0; r == 0 && i < N_TOPS; i++) {
			struct aml_artifact_stats one = { 0 };

			if (faccessat(runfd, artifact_tops[i], F_OK,
				      AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			r = aml_artifacts_copy_out(runfd, artifact_tops[i],
						   out_fd, &one, errbuf, errlen);
			sum.files += one.files;
			sum.bytes += one.bytes;
			sum.skipped += one.skipped;
			for (size_t k = 0; k < one.n_notes &&
					   k < AML_ARTIFACTS_NOTES; k++) {
				if (sum.n_notes < AML_ARTIFACTS_NOTES)
					sum.notes[sum.n_notes++] = one.notes[k];
				else
					free(one.notes[k]);
			}
		}
		if (stats)
			*stats = sum;
		else
			aml_artifact_stats_free(&sum);
	}
	close(runfd);
	return r;
}
