/*
 * history_file_find.c: where a run of the file backend is.  Its owner
 * decides, not its name: a run is looked for in the trees of HistoryDir
 * its searcher may use (the searcher's own first), then in the old
 * layout.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirtrust.h"
#include "errors.h"
#include "history_file_internal.h"
#include "runid.h"
#include "text.h"
#include "userdir.h"

int hf_open_root(struct file_backend *fb, char *errbuf, size_t errlen)
{
	int fd = open(fb->root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		aml_fail(errbuf, errlen, "run history: HistoryDir %s: %s%s",
			 fb->root, strerror(e),
			 e == ENOENT ? " (not mounted, or not created yet)"
				     : hf_admin_hint(e));
		/* A missing root is what an unmounted filesystem looks like. */
		errno = e;
		return hf_verdict(e);
	}
	return fd;
}

/* The experiment a generated id names: "<exp>_<digits>_<8 hex>". */
int hf_experiment_of_id(const char *run_id, char *buf, size_t len)
{
	const char *hex = strrchr(run_id, '_'), *secs;
	size_t n;

	if (!hex || strlen(hex + 1) != 8 || hex == run_id)
		return -1;
	for (secs = hex - 1; secs > run_id && *secs != '_'; secs--)
		if (*secs < '0' || *secs > '9')
			return -1;
	if (secs == run_id || secs == hex - 1)
		return -1;
	n = (size_t)(secs - run_id);
	if (n + 1 > len)
		return -1;
	memcpy(buf, run_id, n);
	buf[n] = '\0';
	return 0;
}

/*
 * The layout, and why (slurm-aml(8), Directories):
 *
 *     <HistoryDir>/<user>/<experiment>/<run_id>/
 *
 * HistoryDir is shared like /tmp (1777); each user's runs live in a tree
 * of their own (userdir.h: <user>, or <user>.<8 hex> when another uid
 * made that name first), which nobody else can write.  Threat: in the
 * old layout, <HistoryDir>/<experiment>/<run_id>, an experiment directory
 * was shared (1777) and owned by whoever used it first, and the owner of
 * a sticky directory may rename anything in it: that user could rename
 * another's run away and put a forged one under its id.  Here no user
 * can write a directory that holds another user's runs.
 *
 * Old experiment directories (sticky and writable by all) stay readable
 * beside the trees; a run still in one is written only when its
 * experiment directory belongs to root or to the run's owner, the two
 * who could rename it anyway.
 *
 * A run's owner is the owner of its directory, which must be the owner
 * of the tree it is in: names decide nothing.
 */

enum top_kind hf_top_kind(const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return TOP_OTHER;
	if ((st->st_mode & S_ISVTX) && (st->st_mode & S_IWOTH))
		return TOP_LEGACY;
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return TOP_TREE;
	return TOP_OTHER;
}

/*
 * The caller's own tree, made when [create] and missing.  Returns an
 * O_PATH descriptor, or a backend error with errbuf.
 */
int hf_open_own_tree(struct file_backend *fb, int rootfd, int create,
		     char *errbuf, size_t errlen)
{
	struct aml_userdir ud;
	char name[AML_RUNID_MAX];
	int fd;

	aml_userdir_default_name(geteuid(), name, sizeof(name));
	if (aml_userdir_open(rootfd, fb->root, name, geteuid(), fb->tree_mode,
			     S_IWGRP | S_IWOTH, create, &ud, errbuf,
			     errlen) < 0) {
		return hf_verdict(errno);
	}
	fd = ud.fd;
	ud.fd = -1;
	aml_userdir_close(&ud);
	return fd;
}

/*
 * <tree>/<experiment>, made (with the tree's mode, exactly) when
 * [create].  Inside a tree only its owner can make names, so anything
 * but a directory of the owner's that others cannot write is refused.
 */
int hf_open_tree_experiment(struct file_backend *fb, int treefd,
			    const char *experiment, int create,
			    char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	fd = openat(treefd, experiment, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		int made = mkdirat(treefd, experiment, fb->tree_mode & 0777);

		if (made < 0 && errno != EEXIST)
			return hf_sysfail(errbuf, errlen, errno,
					  "cannot create experiment %s",
					  experiment);
		if (made == 0) {
			int wfd = openat(treefd, experiment,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			/* The umask must not decide who may enter. */
			if (wfd >= 0) {
				(void)fchmod(wfd, fb->tree_mode);
				close(wfd);
			}
		}
		fd = openat(treefd, experiment, O_RDONLY | O_DIRECTORY |
							O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return hf_sysfail(errbuf, errlen, errno, "experiment %s%s",
				  experiment,
				  errno == ELOOP || errno == ENOTDIR
					  ? " is not a directory" : "");
	if (fstat(fd, &st) < 0 ||
	    aml_trust_user_dir(&st, geteuid()) != AML_TRUSTED) {
		close(fd);
		return aml_fail(errbuf, errlen, "run history: experiment %s "
				"is not a directory of its user's that others "
				"cannot write; refusing to use it", experiment);
	}
	return fd;
}

int hf_each_subdir(int parent, subdir_wanted_fn wanted, subdir_fn visit,
		   void *ctx)
{
	struct dirent *de;
	int fd, r = 0;
	DIR *d;

	fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	while (r == 0 && (de = readdir(d))) {
		struct stat st;
		int sub;

		if (de->d_name[0] == '.' || (wanted && !wanted(ctx, de->d_name)))
			continue;
		sub = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY |
							   O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (fstat(sub, &st) == 0)
			r = visit(ctx, sub, de->d_name, &st);
		close(sub);
	}
	closedir(d);
	return r;
}

void hf_search_free(struct run_search *s)
{
	for (size_t i = 0; i < s->n; i++)
		close(s->m[i].fd);
	s->n = 0;
}

/* Add <dirfd>/<run_id> when it is a run directory owned by [owner]
 * ((uid_t)-1: anyone). */
static void try_run(struct run_search *s, int dirfd, const char *experiment,
		    uid_t owner, int legacy, int legacy_safe)
{
	struct stat st;
	int fd;

	if (s->n == MAX_MATCHES)
		return;
	fd = openat(dirfd, s->run_id, O_PATH | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES)
			s->denied = 1;
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    (owner != (uid_t)-1 && st.st_uid != owner) ||
	    (!s->any_owner && st.st_uid != s->uid)) {
		close(fd);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		struct stat seen;

		/* The same directory through two paths counts once. */
		if (fstat(s->m[i].fd, &seen) == 0 &&
		    seen.st_dev == st.st_dev && seen.st_ino == st.st_ino) {
			close(fd);
			return;
		}
	}
	s->m[s->n].fd = fd;
	s->m[s->n].uid = st.st_uid;
	s->m[s->n].legacy = legacy;
	s->m[s->n].legacy_safe = legacy_safe;
	snprintf(s->m[s->n].experiment, sizeof(s->m[s->n].experiment), "%s",
		 experiment);
	s->n++;
}

/* Whether the experiment [st] of a tree of [owner] can hold runs: one
 * others may write would let them rename runs away. */
static int experiment_is_safe(struct run_search *s, const struct stat *st,
			      uid_t owner)
{
	if (aml_trust_user_dir(st, owner) == AML_TRUSTED)
		return 1;
	s->unsafe = 1;
	return 0;
}

struct tree_search {
	struct run_search *s;
	uid_t owner;
};

static int search_experiment(void *ctx, int expfd, const char *name,
			     const struct stat *st)
{
	struct tree_search *t = ctx;

	if (experiment_is_safe(t->s, st, t->owner))
		try_run(t->s, expfd, name, t->owner, 0, 0);
	return t->s->n == MAX_MATCHES;
}

/* Every experiment of the tree [treefd] (owned by [owner]) that holds
 * the run. */
static void search_tree(struct run_search *s, int treefd, uid_t owner)
{
	struct tree_search t = { s, owner };
	char guess[AML_RUNID_MAX];

	if (s->experiment || hf_experiment_of_id(s->run_id, guess,
						 sizeof(guess)) == 0) {
		const char *exp = s->experiment ? s->experiment : guess;
		struct stat st;
		int fd;

		fd = openat(treefd, exp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);
		if (fd >= 0) {
			size_t before = s->n;

			if (fstat(fd, &st) == 0 &&
			    experiment_is_safe(s, &st, owner))
				try_run(s, fd, exp, owner, 0, 0);
			close(fd);
			if (s->experiment || s->n > before)
				return;
		} else if (s->experiment) {
			if (errno == EACCES)
				s->denied = 1;
			return;
		}
	}
	/* A run named by its user (v2 `name`) may be in any experiment. */
	if (hf_each_subdir(treefd, NULL, search_experiment, &t) < 0 &&
	    errno == EACCES)
		s->denied = 1;
}

/* The run in the old layout, <HistoryDir>/<experiment>/<run_id>. */
static void search_legacy(struct run_search *s, int rootfd, const char *exp)
{
	struct stat st;
	int fd;

	fd = openat(rootfd, exp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && hf_top_kind(&st) == TOP_LEGACY) {
		size_t before = s->n;

		try_run(s, fd, exp, (uid_t)-1, 1, 0);
		/* Only root and the experiment's owner may rename runs in a
		 * sticky directory: safe to write when that is the run's
		 * owner. */
		if (s->n > before)
			s->m[before].legacy_safe =
				st.st_uid == 0 || st.st_uid == s->m[before].uid;
	}
	close(fd);
}

/*
 * Find the run: in the searcher's own tree first (the usual case, a few
 * lookups), then in every tree of HistoryDir the search allows, then in
 * the old layout.  Fills s->m; errno of the scan when it cannot run.
 */
static int search_top(void *ctx, int topfd, const char *name,
		      const struct stat *st)
{
	struct run_search *s = ctx;

	(void)name;
	if (hf_top_kind(st) == TOP_TREE && (s->any_owner || st->st_uid == s->uid))
		search_tree(s, topfd, st->st_uid);
	return s->n == MAX_MATCHES;
}

/* Whether a tree named [name] can be one of the searched owner's. */
static int tree_wanted(void *ctx, const char *name)
{
	struct run_search *s = ctx;

	return s->any_owner || aml_userdir_name_matches(name, s->names[0]) ||
	       aml_userdir_name_matches(name, s->names[1]);
}

int hf_search_run(struct file_backend *fb, int rootfd,
		  struct run_search *s)
{
	char guess[AML_RUNID_MAX], ignored[256];
	int own;

	if (!s->any_owner) {
		aml_userdir_default_name(s->uid, s->names[0],
					 sizeof(s->names[0]));
		snprintf(s->names[1], sizeof(s->names[1]), "%lu",
			 (unsigned long)s->uid);
	}

	own = hf_open_own_tree(fb, rootfd, 0, ignored, sizeof(ignored));
	if (own >= 0) {
		search_tree(s, own, geteuid());
		close(own);
		/* The caller's own run is the one they mean. */
		if (s->n > 0)
			return 0;
	}
	if (hf_each_subdir(rootfd, tree_wanted, search_top, s) < 0)
		return -1;
	if (s->experiment)
		search_legacy(s, rootfd, s->experiment);
	else if (hf_experiment_of_id(s->run_id, guess, sizeof(guess)) == 0)
		search_legacy(s, rootfd, guess);
	return 0;
}

int hf_check_names(const char *experiment, const char *run_id,
		   char *errbuf, size_t errlen)
{
	char shown[96];

	if (!aml_runid_is_valid(experiment)) {
		aml_text_escape(experiment, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "run history: experiment name "
				"\"%s\" must be letters, digits, '_' and '-', "
				"starting with a letter or digit", shown);
	}
	if (!aml_runid_is_valid(run_id)) {
		aml_text_escape(run_id, shown, sizeof(shown));
		return aml_fail(errbuf, errlen, "run history: run id \"%s\" "
				"must be letters, digits, '_' and '-', "
				"starting with a letter or digit", shown);
	}
	return 0;
}

/* "alice, bob" for a message: the owners of [s]'s matches. */
void hf_owners_of(const struct run_search *s, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n; i++) {
		char name[AML_RUNID_MAX];
		int dup = 0;

		for (size_t j = 0; j < i; j++)
			dup |= s->m[j].uid == s->m[i].uid;
		if (dup)
			continue;
		aml_userdir_default_name(s->m[i].uid, name, sizeof(name));
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0,
					 "%s%s", used ? ", " : "", name);
		if (used >= len)
			break;
	}
}

/* Whether [s] found runs of more than one user. */
int hf_several_owners(const struct run_search *s)
{
	for (size_t i = 1; i < s->n; i++)
		if (s->m[i].uid != s->m[0].uid)
			return 1;
	return 0;
}

/* Why a writer's search found nothing. */
int hf_not_found(const struct run_search *s, char *errbuf, size_t errlen)
{
	if (s->unsafe)
		return aml_fail(errbuf, errlen, "run history: experiment %s "
				"of run %s can be written by others, who "
				"could swap its runs; refusing to use it (its "
				"owner can chmod go-w it)", s->experiment,
				s->run_id);
	/* A writer names a run sbatch made: missing, it is not there yet
	 * (its creation waits in a spool on the login host) or HistoryDir
	 * is not what it was (another filesystem mounted, or none).  Kept
	 * for later, not refused. */
	if (s->any_owner)
		aml_fail(errbuf, errlen, "run history: no run %s in "
			 "experiment %s (yet)", s->run_id, s->experiment);
	else
		aml_fail(errbuf, errlen, "run history: no run %s in "
			 "experiment %s of uid %lu (yet)", s->run_id,
			 s->experiment, (unsigned long)s->uid);
	return AML_BACKEND_UNAVAILABLE;
}
