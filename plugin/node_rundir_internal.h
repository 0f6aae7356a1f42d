/*
 * node_rundir_internal.h: what node_rundir.c shares with the end of a job
 * (node_rundir_end.c), the ledger (node_ledger.c) and aml-epilog's retry
 * (node_rundir_retry.c), and nothing else includes.  Data goes one way:
 * node_rundir.c <- node_ledger.c <- node_rundir_end.c <- node_rundir_retry.c.
 */
#ifndef AML_NODE_RUNDIR_INTERNAL_H
#define AML_NODE_RUNDIR_INTERNAL_H

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "node_rundir.h"
#include "runid.h"
#include "site.h"
#include "userdir.h"

#define MARKER_MAX 4096
#define LEDGER ".aml-kept"
#define STOP_MARGIN_MS 300
#define TRACKING_MAX 64

/* [fmt] to [fn] at [level], when there is one to say it to.  Inline so
 * each of the files that report has it without a symbol of its own. */
static inline void say(aml_node_rundir_say fn, void *ctx, int level,
		const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(ctx, level, line);
}

/* ---- node_rundir.c ---- */

/* The wall clock in ms since the epoch (0 when it cannot be read). */
int64_t nr_realtime_ms(void);

/* RunDir, checked to be root's and sticky when others may write it.  The
 * descriptor, or -1 with errbuf. */
int nr_open_run_root(const char *run_dir, char *errbuf, size_t errlen);

/*
 * The regular file [name] in [dirfd], at most [cap] - 1 bytes of it,
 * NUL-terminated, opened without following a symlink or blocking on a
 * FIFO.  Returns the bytes read, or -1 with errno (ENOENT: none; EINVAL:
 * not a regular file; EFBIG: longer).
 */
ssize_t nr_read_small(int dirfd, const char *name, char *buf, size_t cap);

/* The directory [name] in [dirfd], not followed if a symlink: -1 with
 * errno ELOOP then (open(2) says ENOTDIR when O_DIRECTORY meets one). */
int nr_open_dir_nofollow(int dirfd, const char *name);

/* [text] as the file [name] in [dirfd], written aside (<name>.new) and
 * renamed, so a reader never sees half of it.  0, or -1 with errno. */
int nr_write_small(int dirfd, const char *name, const char *text);

/* What run history knows the run by, as a marker's "run" line says. */
struct run_name {
	char experiment[AML_RUNID_MAX];   /* "" when not known */
	char tracking[TRACKING_MAX];      /* "" when none */
	int keep;
};


/* The "run <experiment> <tracking> keep <n>" line (keep optional), each
 * value checked for its form ('-': not known).  0, or -1. */
int nr_parse_run_line(const char *line, struct run_name *rn);

/* That line, for [experiment] and [tracking] (NULL or "": '-'). */
void nr_format_run_line(char *buf, size_t len, const char *experiment,
			const char *tracking, int keep);

/* ---- node_ledger.c (the caller's own: root's) ---- */

/* <RunDir>/.aml-kept, the caller's own (userdir.h), made when [create].
 * 0 with [own], or -1 with errbuf (errno ENOENT: none, not [create]). */
int ledger_root(const struct aml_site *site, int create,
		struct aml_userdir *own, char *errbuf, size_t errlen);

/* [own]'s <node>, made when [create]; opened O_RDONLY for its flock.
 * The descriptor, or -1 with errbuf (errno ENOENT: none). */
int ledger_node(const struct aml_userdir *own, const char *node,
		int create, char *errbuf, size_t errlen);

/* The node's ledger: ledger_root, then ledger_node. */
int ledger_open(const struct aml_site *site, const char *node,
		int create, char *errbuf, size_t errlen);

/* flock(LOCK_EX) of the ledger [fd], waiting.  0, or -1 with errno. */
int ledger_lock(int fd);

/* The bytes every entry of the node's ledger [fd] counts.  0, or -1. */
int ledger_sum(int fd, unsigned long long *total);

/* The entry of [uid]'s [run_id]: [bytes].  0, or -1 with errno. */
int ledger_put(int fd, uid_t uid, const char *run_id,
	       unsigned long long bytes);

/* Forget [uid]'s [run_id] on [node], if the ledger has it. */
void ledger_forget(const struct aml_site *site, const char *node,
		   uid_t uid, const char *run_id);

/* ---- node_rundir_end.c ---- */

struct deliver_arg {
	const struct aml_site *site;
	int rdir;                 /* the run's directory */
	const char *run_id;
	const char *node;
	const char *experiment;   /* NULL or "": looked up */
	const char *tracking;     /* NULL or "": none */
};


/*
 * Upload the node's outputs/, logs/ and user_logs/, as the caller, for
 * aml_bounded_call ([arg]: a struct deliver_arg).  Returns 0 when each
 * was written, unchanged or queued in the spool, 1 when not (errbuf: the
 * first reason).
 */
int nr_deliver_node(void *arg, char *errbuf, size_t errlen);

struct note_arg {
	const struct aml_site *site;
	const char *run_id;
	const char *node;
	const char *experiment;   /* NULL or "": looked up */
	const char *tracking;     /* NULL or "": none */
	const char *sentence;
};


/* The run's property aml.outputs_lost.<node> = the sentence, as the
 * caller, for aml_bounded_call ([arg]: a struct note_arg).  0 when
 * written, queued or already there; 1 when not (errbuf). */
int nr_record_loss(void *arg, char *errbuf, size_t errlen);

/* The names of a node's markers. */
struct names {
	char lock[NAME_MAX + 1];
	char attempt[NAME_MAX + 1];
	char delivered[NAME_MAX + 1];
	char undelivered[NAME_MAX + 1];
	char lost[NAME_MAX + 1];
};


/* [n] for [node].  0, or -1 when a name would not fit. */
int nr_make_names(struct names *n, const char *node);

/* As the owner: the node's markers that outlive nothing (.undelivered
 * too when [undelivered]). */
void nr_drop_markers(int rdir, const struct names *n, int undelivered);

/* The deadline [ms] before [deadline], but not past it and not already
 * gone: what is left when less remains. */
int64_t nr_before(int64_t deadline, int64_t ms);

#endif
