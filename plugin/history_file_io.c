/*
 * history_file_io.c: the file backend's reading of a run's files (each
 * whole, never through a symlink, bounded), and what a failed system call
 * on HistoryDir means for a write: one judgement for every writer.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "fdio.h"
#include "history_file_internal.h"
#include "kvjson.h"

#define MAX_RECORD_FILE (16u << 20)  /* a run's events or JSON files */

/*
 * What a failed system call on HistoryDir says about a write: nothing
 * about the write itself.  Whatever the errno (a full or read-only
 * filesystem, an unmount, a stale handle, and equally a permission an
 * expired Kerberos ticket took away, or a mount an admin broke), the
 * write is sound and the location is not: history.c keeps it in the spool
 * and writes it when the location is fixed.  Only the backend's own
 * judgements (a transition the state machine refuses, a property that
 * would change, a run that is another user's) are refusals; those are
 * made with aml_fail, never from an errno.  [e] == 0 (a failure that set
 * no errno) is such a judgement.
 */
int hf_verdict(int e)
{
	return e ? AML_BACKEND_UNAVAILABLE : AML_BACKEND_REFUSED;
}

/* What an admin, not the writer, must do about [e], or "". */
const char *hf_admin_hint(int e)
{
	switch (e) {
	case EACCES: case EPERM:
		return " (access to run history was taken away: an admin "
		       "must give it back)";
	case EROFS:
		return " (an admin must make it writable again)";
	case ENOSPC: case EDQUOT:
		return " (space must be freed there)";
	case ESTALE: case EIO: case ENOTCONN:
		return " (its mount is broken: an admin must repair it)";
	default:
		return "";
	}
}

int hf_sysfail(char *errbuf, size_t errlen, int e, const char *fmt,
	       ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	aml_fail(errbuf, errlen, "run history: %s: %s%s", what, strerror(e),
		 hf_admin_hint(e));
	return hf_verdict(e);
}

int hf_read_all(int fd, char **text, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	return aml_read_fd(fd, MAX_RECORD_FILE, text, len);
}

int hf_read_file_at(int dirfd, const char *name, char **text,
		    size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
					    O_NOCTTY | O_NONBLOCK);
	int r, saved;

	if (fd < 0)
		return -1;
	r = hf_read_all(fd, text, len);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* Read a JSON object of strings (properties.json, tags.json); a missing
 * file is an empty list.  0, or -1 with errno, and with what is wrong in
 * the text in [why] (else [why] is ""). */
int hf_read_kvlist_at(int dirfd, const char *name,
		      struct aml_kvlist *list, char *why, size_t whylen)
{
	char *text;
	size_t len;
	cJSON *obj;
	int r;

	memset(list, 0, sizeof(*list));
	why[0] = '\0';
	if (hf_read_file_at(dirfd, name, &text, &len) < 0)
		return errno == ENOENT ? 0 : -1;
	obj = cJSON_ParseWithLength(text, len);
	free(text);
	if (!obj) {
		errno = EBADMSG;
		return -1;
	}
	r = aml_kvlist_from_json(obj, list, why, whylen);
	cJSON_Delete(obj);
	return r;
}
