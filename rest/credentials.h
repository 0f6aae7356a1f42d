/*
 * credentials.h: the REST history backend's credentials file
 * (aml.conf HistoryCredentials), and keeping its secrets out of logs.
 *
 * The file holds "key = value" lines:
 *
 *     # MLflow tracking server, basic-auth app
 *     username = ci
 *     password = pa:ss
 *     # or, for a server behind a token-checking proxy, or Azure ML:
 *     token = eyJ0eXAiOi...
 *
 * Keys are username, password and token (ASCII case-insensitive, as admins
 * expect of Slurm-style files), each at most once; blanks around key and
 * value are trimmed, blank lines and lines starting with '#' ignored, a
 * CRLF line end is taken as LF.  username and password go together.
 *
 * Threat: the file holds a secret that lets anyone write to the tracking
 * server as the user.  Another user must not be able to read it, nor to
 * decide what it says: through a file they own or a symlink to one, the
 * job would report with credentials of their choosing, and a FIFO put in
 * its place would hang the job.  So the file itself, not what a name
 * points to, is judged, and a message about it never repeats a value.
 */
#ifndef AML_CREDENTIALS_H
#define AML_CREDENTIALS_H

#include <stddef.h>
#include <sys/types.h>

/* Each NUL-terminated and malloc'd, or NULL when the file had none. */
struct aml_credentials {
	char *username;
	char *password;
	char *token;
};

/* Files larger than this are refused unread. */
#define AML_CREDENTIALS_MAX_SIZE (64 * 1024)

/*
 * Read the credentials file [path] into [c] (overwritten, not freed).
 * The file is opened O_NOFOLLOW|O_CLOEXEC (a symlink is refused) and
 * judged by fstat of that descriptor: it must be a regular file, owned by
 * root or by [owner_uid] (the user the credentials are for), with no
 * permission bits for group or others, and at most
 * AML_CREDENTIALS_MAX_SIZE bytes.  Then it must parse as above and give
 * a username with a password, or a token, or both.
 *
 * Returns 0, or -1 with one line in [errbuf] naming [path] (and the line
 * number) and the rule broken, never a value from the file; [c] is then
 * all NULL and nothing stays allocated.
 */
int aml_credentials_load(const char *path, uid_t owner_uid,
			 struct aml_credentials *c, char *errbuf,
			 size_t errlen);

/*
 * The HTTP header line for [c], without CRLF, malloc'd:
 *   "Authorization: Basic <base64(username:password)>" when both are set
 *   (Basic wins over a token, as in MLflow's reference client), else
 *   "Authorization: Bearer <token>".
 * NULL when [c] holds no usable credential or memory runs out.
 * The text is a secret: release it with aml_credentials_header_free()
 * (explicit_bzero, then free), not plain free().
 */
char *aml_credentials_auth_header(const struct aml_credentials *c);

/* explicit_bzero the NUL-terminated [header], then free it; NULL is fine. */
void aml_credentials_header_free(char *header);

/* explicit_bzero every secret, free it, and leave [c] all NULL.  NULL and
 * an all-NULL [c] are fine; freeing twice is harmless. */
void aml_credentials_free(struct aml_credentials *c);

/*
 * Hide [c]'s secrets in the NUL-terminated [msg] (a buffer of [msgsize]
 * bytes), in place:
 *   - every occurrence of the password, the token and base64 of
 *     "username:password" becomes "***" (occurrences that overlap make
 *     one run and one "***", so no piece of either shows);
 *   - a secret cut off by the end of the message, or just before a final
 *     "..." (a message truncated to fit), is hidden too when at least 4
 *     of its bytes show;
 *   - whatever follows "Authorization:" (any case, so also
 *     "Proxy-Authorization:" and HTTP/2's "authorization:") up to the end
 *     of the line becomes " ***", whoever's credential it is.
 * Empty secrets are ignored; [c] may be NULL (then only headers are
 * hidden).  A secret shorter than "***" makes the text longer: what no
 * longer fits in [msgsize] is cut, never a secret kept.  The username is
 * not a secret.  [msg] is copied once; when that memory is not to be had,
 * the whole message becomes "***".
 *
 * Returns the number of replacements.  Meant for every error message the
 * REST backend produces, so that a secret echoed by a server or by
 * libcurl never reaches a log.
 */
size_t aml_credentials_redact(const struct aml_credentials *c, char *msg,
			      size_t msgsize);

#endif
