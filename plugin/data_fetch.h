/*
 * data_fetch.h: one file downloaded over HTTPS with libcurl, for a run's
 * https:// inputs (data_url.h), on the node, as the run's user.
 *
 * Its own small library (libamlfetch), linked only into aml-launch: the
 * core and the Slurm plugins never load libcurl for it.
 *
 * A download is asked first (HEAD) for what names this version of the
 * file, its validator (ETag, else Last-Modified) and its size; the cache
 * (launch_data.c, env_cache.h) keys the copy by URL and validator, so a
 * file downloaded once is downloaded again only when the server says it
 * changed.  Then GET writes the body to a file descriptor.
 *
 * Policy, each rule against a named threat:
 *  - redirects are followed by hand, at most AML_FETCH_MAX_REDIRECTS, and
 *    only to a URL of the same scheme, without userinfo, whose host the
 *    site allows: a server the site trusts must not send a run's node to
 *    one it does not (an internal address, a metadata service);
 *  - only [protocols] ("https"; tests give "http"), also for redirects;
 *  - a size limit: a Content-Length over it is refused before the body,
 *    and a body that grows past it is cut off and refused: a server must
 *    not fill the node's disk;
 *  - timeouts: connecting, and a transfer that moves nothing for
 *    [stall_ms]; a whole download may rightly take long;
 *  - no proxy from the environment (the user's, and a proxy there would
 *    see every request), CURLOPT_NOSIGNAL, certificates verified against
 *    [ca_file] or the system's.
 * A failure is one sentence naming the URL (its query left out: a SAS
 * URL's signature sits there) and the server's answer ("HTTP 404").
 */
#ifndef AML_DATA_FETCH_H
#define AML_DATA_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "data_url.h"

#define AML_FETCH_MAX_REDIRECTS 5
#define AML_FETCH_CONNECT_TIMEOUT_MS 30000
#define AML_FETCH_STALL_TIMEOUT_MS 120000

struct aml_fetch_opts {
	char *const *hosts;       /* DataDownloadHosts= (data_url.h) */
	size_t n_hosts;
	uint64_t max_bytes;       /* DataDownloadMax= */
	const char *ca_file;      /* NULL: the system's CAs */
	const char *protocols;    /* NULL: "https" */
	long connect_timeout_ms;  /* 0: AML_FETCH_CONNECT_TIMEOUT_MS */
	long stall_timeout_ms;    /* 0: AML_FETCH_STALL_TIMEOUT_MS */
	/* Told of the bytes so far and the whole (0: not known), at most
	 * every [progress_ms] (0: every second) and once at the end; may be
	 * NULL. */
	void (*progress)(void *arg, uint64_t got, uint64_t total);
	void *progress_arg;
	long progress_ms;
};

/* What the server says of a file's version. */
struct aml_fetch_meta {
	char etag[256];           /* "" when none */
	char last_modified[64];   /* "" when none */
	uint64_t length;          /* Content-Length */
	int has_length;
	char final_url[AML_DATA_URL_MAX + 1];  /* after redirects, no query */
};

/*
 * HEAD [url]: [*meta] from the answer (after redirects).  A server that
 * does not take HEAD (405, 501) gives a meta with no validator.  A
 * Content-Length over max_bytes is refused.  Returns 0, or -1 with one
 * sentence in [errbuf].
 */
int aml_fetch_head(const char *url, const struct aml_fetch_opts *o,
		   struct aml_fetch_meta *meta, char *errbuf, size_t errlen);

/*
 * GET [url] into [fd] (written from its current offset), [*meta] from
 * the answer.  Returns 0 with the body's size in [*bytes], or -1 with one
 * sentence in [errbuf] (what was written stays: the caller removes it).
 */
int aml_fetch_get(const char *url, const struct aml_fetch_opts *o, int fd,
		  struct aml_fetch_meta *meta, uint64_t *bytes, char *errbuf,
		  size_t errlen);

/*
 * The validator of [meta] as one line: "etag W/\"x\"", "last-modified
 * <date>", or "" when the server gave neither.
 */
void aml_fetch_validator(const struct aml_fetch_meta *meta, char *buf,
			 size_t len);

/* [url] without its query and fragment, for messages, into [buf]. */
void aml_fetch_shown_url(const char *url, char *buf, size_t len);

#endif
