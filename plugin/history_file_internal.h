/*
 * history_file_internal.h: what the file backend's modules share, and
 * nothing else includes.  Data goes one way:
 *
 *     history_file_io.c    a run's files read whole; what a failed system
 *                          call on HistoryDir means for a write
 *     history_file_find.c  finding a run across HistoryDir's trees
 *     history_file_read.c  the readers: a run, the listing, artifacts
 *     history_file.c       the writers, and the backend's operations
 */
#ifndef AML_HISTORY_FILE_INTERNAL_H
#define AML_HISTORY_FILE_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "history_backend.h"
#include "kvlist.h"
#include "runid.h"

#define EVENTS "events.jsonl"
#define PROPERTIES "properties.json"
#define TAGS "tags.json"
#define CONFIG "run.json"

struct file_backend {
	char *root;
	mode_t tree_mode;            /* a user's tree and its experiments */
	mode_t dir_mode, file_mode;  /* a run's directories and files */
};

/* ---- history_file_io.c ---- */

/* The verdict on a write whose system call failed with [e]: UNAVAILABLE
 * (spooled, written once the location is fixed), or REFUSED when [e] is
 * 0, a judgement of the backend's own that set no errno. */
int hf_verdict(int e);

/* What an admin, not the writer, must do about [e], or "". */
const char *hf_admin_hint(int e);

/* "run history: <fmt>: strerror(e)<admin hint>" into [errbuf].  Returns
 * hf_verdict(e). */
int hf_sysfail(char *errbuf, size_t errlen, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The whole regular file open at [fd] (at most a run's record size) into
 * malloc'd [*text] and [*len].  0, or -1 with errno (EINVAL: not a
 * regular file). */
int hf_read_all(int fd, char **text, size_t *len);

/* hf_read_all of [name] in [dirfd], opened without following a symlink.
 * 0, or -1 with errno. */
int hf_read_file_at(int dirfd, const char *name, char **text, size_t *len);

/* Read a JSON object of strings (properties.json, tags.json) named [name]
 * in [dirfd] into [list]; a missing file is an empty list.  0, or -1 with
 * errno, and with what is wrong in the text in [why] (else [why] is ""). */
int hf_read_kvlist_at(int dirfd, const char *name, struct aml_kvlist *list,
		      char *why, size_t whylen);

/* ---- history_file_find.c ---- */

/* What an entry of HistoryDir is, judged by its mode: a user's tree is
 * writable by its owner alone; an experiment of the old layout is
 * sticky and writable by everyone. */
enum top_kind { TOP_OTHER, TOP_TREE, TOP_LEGACY };

enum top_kind hf_top_kind(const struct stat *st);

/* HistoryDir, O_PATH.  The descriptor, or a backend error with errbuf (a
 * missing HistoryDir is UNAVAILABLE: it looks like an unmount). */
int hf_open_root(struct file_backend *fb, char *errbuf, size_t errlen);

/* The experiment a generated id names, "<exp>_<digits>_<8 hex>", into
 * [buf].  0, or -1 when [run_id] is not of that form or [buf] too short. */
int hf_experiment_of_id(const char *run_id, char *buf, size_t len);

/* The caller's own tree in [rootfd], made when [create] and missing.
 * Returns an O_PATH descriptor, or a backend error with errbuf. */
int hf_open_own_tree(struct file_backend *fb, int rootfd, int create,
		     char *errbuf, size_t errlen);

/* <tree>/<experiment> (O_RDONLY), made with the tree's mode when
 * [create].  Anything but a directory of the tree's owner that others
 * cannot write is refused.  The descriptor, or a backend error. */
int hf_open_tree_experiment(struct file_backend *fb, int treefd,
			    const char *experiment, int create, char *errbuf,
			    size_t errlen);

/*
 * Call [visit] for every directory in [parent] whose name does not start
 * with '.' (and that [wanted], when not NULL, wants by its name alone,
 * which costs no system call), opened O_PATH without following a
 * symlink, with its stat.  [visit] returns 0 to go on, a positive value
 * to stop, which is returned.  -1 with errno when [parent] cannot be
 * read.
 */
typedef int (*subdir_fn)(void *ctx, int fd, const char *name,
			 const struct stat *st);
typedef int (*subdir_wanted_fn)(void *ctx, const char *name);

int hf_each_subdir(int parent, subdir_wanted_fn wanted, subdir_fn visit,
		   void *ctx);

/* A run found: where it is and whose it is. */
struct run_match {
	int fd;                           /* the run directory, O_PATH */
	uid_t uid;                        /* its owner */
	int legacy;                       /* in an old shared experiment */
	int legacy_safe;                  /* ...owned by root or the owner */
	char experiment[AML_RUNID_MAX];
};

#define MAX_MATCHES 8

struct run_search {
	const char *run_id;
	const char *experiment;  /* NULL: any (a v2 job names its run) */
	int any_owner;           /* 0: only runs of [uid] */
	uid_t uid;
	struct run_match m[MAX_MATCHES];
	size_t n;
	int denied;              /* a tree or experiment we could not read */
	int unsafe;              /* an experiment others may write, skipped */
	/* With one owner, the names its trees can have (userdir.h): its
	 * login name and its uid, so a search need not open every user's
	 * tree of a HistoryDir with thousands. */
	char names[2][NAME_MAX + 1];
};

/*
 * Find the run [s] names: in the searcher's own tree first (the usual
 * case, a few lookups), then in every tree of HistoryDir the search
 * allows, then in the old layout.  Fills s->m (free with
 * hf_search_free).  0, or -1 with errno of the scan when it cannot run.
 */
int hf_search_run(struct file_backend *fb, int rootfd, struct run_search *s);

/* Close the matches of [s]. */
void hf_search_free(struct run_search *s);

/* 0 when [experiment] and [run_id] are names a run can have, else -1
 * with errbuf. */
int hf_check_names(const char *experiment, const char *run_id, char *errbuf,
		   size_t errlen);

/* "alice, bob" for a message: the owners of [s]'s matches. */
void hf_owners_of(const struct run_search *s, char *buf, size_t len);

/* Whether [s] found runs of more than one user. */
int hf_several_owners(const struct run_search *s);

/* Why a writer's search [s] found nothing, into errbuf; the verdict. */
int hf_not_found(const struct run_search *s, char *errbuf, size_t errlen);

/* ---- history_file_read.c: the readers of struct aml_history_ops ---- */

int hf_read_run(void *self, const char *run_id, int with_config,
		struct aml_run_info *info, char *errbuf, size_t errlen);
int hf_list(void *self, const struct aml_run_filter *filter,
	    struct aml_run_info **runs, size_t *n, char *errbuf,
	    size_t errlen);
int hf_list_artifacts(void *self, const struct aml_run_info *run,
		      struct aml_artifact **list, size_t *n, char *errbuf,
		      size_t errlen);
int hf_open_artifact(void *self, const struct aml_run_info *run,
		     const char *path, char *errbuf, size_t errlen);
int hf_download(void *self, const struct aml_run_info *run,
		const char *path, int out_fd,
		struct aml_artifact_stats *stats, char *errbuf,
		size_t errlen);

/* Whether [info] passes [f] (NULL: every run does). */
int hf_filter_matches(const struct aml_run_filter *f,
		      const struct aml_run_info *info);

/* Whether [path] names something inside a run: relative, no "." or ".."
 * components, below one of the artifact folders. */
int hf_artifact_path_ok(const char *path);

#endif
