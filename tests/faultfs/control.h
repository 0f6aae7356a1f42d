/*
 * The control file of faultfs: one line that says which fault the
 * filesystem shows now.  A test changes the line to inject or lift a fault
 * while the filesystem stays mounted, as a real server goes bad and
 * recovers under running programs.
 *
 *   ok                 (or a missing or empty file): pass everything through
 *   errno NAME         every operation fails with NAME
 *   errno NAME writes  only operations that change or allocate fail
 *   hang               every operation blocks until the line changes
 *
 * NAME is EIO, ESTALE, EACCES, EROFS, ENOSPC, EDQUOT, ENOTCONN or a number.
 */
#ifndef FAULTFS_CONTROL_H
#define FAULTFS_CONTROL_H

#include <stddef.h>
#include <sys/stat.h>

enum fault_mode { FAULT_PASS, FAULT_ERRNO, FAULT_HANG };

struct fault {
	enum fault_mode mode;
	int err;         /* FAULT_ERRNO: the errno operations fail with */
	int writes_only; /* FAULT_ERRNO: reads and lookups still pass */
};

/*
 * Parse one control line [line] (a trailing newline and surrounding
 * blanks are allowed) into [f].  Returns 0, or -1 with one sentence
 * naming the bad word in [errbuf] of [errlen] bytes ([f] is then left
 * as it was).
 */
int fault_parse(const char *line, struct fault *f, char *errbuf,
		size_t errlen);

/*
 * The text of [f] as a control line would say it ("errno EIO writes"),
 * in [buf] of [len] bytes.  Returns [buf].
 */
const char *fault_describe(const struct fault *f, char *buf, size_t len);

struct control {
	const char *path;
	int seen;        /* whether [st] describes the file last read */
	struct stat st;  /* what it was when last read */
	struct fault now;
};

/*
 * Start watching the control file at [path] (absolute: faultfs runs from
 * /), which must outlive [c], and read it once.  Returns 0, or -1 with a
 * sentence in [errbuf] when the file exists but cannot be used (not a
 * regular file, not root's, writable by others, or a line that does not
 * parse), so a mistake shows at mount time and not as a fault that never
 * comes.
 */
int control_init(struct control *c, const char *path, char *errbuf,
		 size_t errlen);

/*
 * The fault in force now.  Stats the file and reads it again only when
 * its inode, size, mtime or ctime changed.  A file that later becomes
 * unusable or unparsable is reported once on stderr and treated as "ok":
 * a test that expected a fault then fails visibly instead of seeing a
 * fault it did not ask for.
 */
const struct fault *control_current(struct control *c);

#endif
