/*
 * http.h: the HTTP transport of the REST history backend: one libcurl
 * easy handle per server, requests with retries, answers in memory,
 * uploads and downloads streamed through file descriptors.
 *
 * It knows HTTP, not MLflow: the caller builds paths and JSON and reads
 * the answers.  Every call ends in one of three outcomes:
 *
 *   AML_HTTP_ANSWER       the server answered; [resp->status] may be any
 *                         status (a 4xx is the caller's to interpret);
 *   AML_HTTP_UNAVAILABLE  no usable answer after every attempt: the
 *                         server could not be reached, timed out, reset
 *                         the connection, or still answered 408, 429 or
 *                         5xx (the last such answer is kept in [resp]).
 *                         The caller spools the operation for later;
 *   AML_HTTP_ERROR (-1)   a local failure no retry can fix: out of
 *                         memory, the upload's file unreadable or changed
 *                         size, the output unwritable, an answer over the
 *                         in-memory cap, a malformed URL.
 *
 * Unavailable and error come with one sentence in errbuf, e.g.
 *
 *   MLflow server 127.0.0.1:5000: PUT /api/2.0/mlflow-artifacts/...:
 *   connection refused (4 attempts over 3.1 s)
 *
 * (one line), and so does an answer of 400 or more ("...: HTTP 404:
 * <start of the body>"); otherwise errbuf is left empty.  Messages never
 * carry a request header, a query string (an Azure SAS URL holds its
 * signature there) or URL userinfo (refused anyway), and the auth
 * header's credential is blanked out of any body text they quote.
 *
 * Policy, for a process that is a Slurm plugin or a job's helper:
 *  - CURLOPT_NOSIGNAL: libcurl never touches signal handlers;
 *  - no redirects are followed (one could carry the auth header to
 *    another host): a 3xx is an answer like any other;
 *  - only http and https, also for an absolute URL given per request;
 *  - no proxy unless [proxy] is set: http_proxy, https_proxy and
 *    all_proxy in the environment are ignored, since the environment is
 *    the job user's and a proxy there would see every plain-http request,
 *    auth header included;
 *  - retries on 408, 429, 500, 502, 503, 504 and on transport failures
 *    (as MLflow 2.10.2's mlflow/utils/request_utils.py) but a timeout, never on another 4xx, waiting
 *    min(cap, base * 2^(n-1)) plus a random jitter in [0, base) before
 *    retry n, or the answer's Retry-After (seconds form, at most cap)
 *    when that is longer.  POSTs are retried like the reference client
 *    does; idempotency is the caller's concern;
 *  - a timeout (no answer, or a transfer that stalled, for [timeout_ms])
 *    and other transport failures (a certificate not trusted, a garbled
 *    answer) end the call at once as unavailable: a server that let a
 *    whole timeout pass would most likely let the next pass too, waiting
 *    will not fix the others, and the operation must not be lost.
 *
 * A handle is for one thread at a time.
 */
#ifndef AML_HTTP_H
#define AML_HTTP_H

#include <stddef.h>

enum aml_http_outcome {
	AML_HTTP_ERROR = -1,
	AML_HTTP_ANSWER = 0,
	AML_HTTP_UNAVAILABLE = 1,
};

#define AML_HTTP_MAX_BODY_DEFAULT (16u << 20)

struct aml_http_config {
	/* "http(s)://host[:port][/prefix]": paths are appended to it.  No
	 * userinfo, query or fragment.  Required. */
	const char *base_url;
	/* Messages start "<label> <host:port>: ".  NULL: "server". */
	const char *label;
	/* A whole header line, "Authorization: Bearer x", or NULL.  Sent to
	 * the base URL's host and to absolute URLs alike (the artifact proxy
	 * of the same server).  No CR or LF. */
	const char *auth_header;
	/* In-memory requests: the longest an attempt may take.  Streamed
	 * uploads and downloads: the longest nothing may move, since a 2 GB
	 * transfer may rightly take longer than any fixed bound. */
	long timeout_ms;
	long connect_timeout_ms;
	/* Attempts after the first one; 0: never retry. */
	unsigned max_retries;
	long backoff_base_ms;
	long backoff_cap_ms;
	/* TLS: a CA bundle, a client certificate and its key (PEM), each
	 * NULL for libcurl's default; [insecure] skips peer and host checks
	 * (MLFLOW_TRACKING_INSECURE_TLS). */
	const char *ca_file;
	const char *client_cert;
	const char *client_key;
	int insecure;
	/* A proxy URL for every request, or NULL for direct connections.
	 * A plain-http request through it shows the proxy the auth header;
	 * an https one is tunnelled. */
	const char *proxy;
	/* The largest answer kept in memory, in bytes. */
	size_t max_body;
	/* Called before each wait between attempts, with why the attempt
	 * failed (one sentence, as in errbuf), the attempt number (1 for the
	 * first) and the wait: for a log line, or NULL. */
	void (*on_retry)(void *arg, const char *why, unsigned attempt,
			 long delay_ms);
	void *on_retry_arg;
	/* Whether an answer with [status] (and [body]) is worth another
	 * attempt; NULL: aml_http_status_retryable.  A protocol may know
	 * more (Azure ML's RequestThrottled body). */
	int (*retryable)(long status, const char *body, size_t len);
};

struct aml_http_response {
	long status;          /* HTTP status; 0 when nothing was answered */
	char *content_type;   /* malloc'd, or NULL when there was none */
	/* The answer's bytes, malloc'd and NUL-ended ("" when empty); NULL
	 * when nothing was answered, or when a download wrote them to its
	 * descriptor (then [downloaded] counts them). */
	char *body;
	size_t body_len;
	long long downloaded;
	/* The answer's Retry-After in seconds; -1 when absent or in the
	 * HTTP-date form. */
	long retry_after_s;
	/* Attempts made, 1 + the retries; 0 when the call failed before
	 * sending anything. */
	unsigned attempts;
	long elapsed_ms;      /* from the first attempt to the end of the last */
};

/*
 * Fill [cfg] with the defaults: no base URL, label "MLflow server", the
 * reference client's timeout of 120 s, 5 retries, backoff base 2 s (its
 * backoff factor) and cap 120 s (urllib3's), as MLflow 2.10.2's mlflow/environment_variables.py;
 * connect timeout 10 s, body cap AML_HTTP_MAX_BODY_DEFAULT, no TLS
 * options, no proxy, no callback.
 */
void aml_http_config_init(struct aml_http_config *cfg);

struct aml_http;

/*
 * Check [cfg] and open a handle for it in [*out]; the strings are copied.
 * Initialises libcurl once per process.  Returns 0, or -1 with errbuf
 * (bad URL, userinfo in it, an auth header with a line break, out of
 * memory).
 */
int aml_http_open(struct aml_http **out, const struct aml_http_config *cfg,
		  char *errbuf, size_t errlen);

/* Close connections and free the handle (its credential wiped); NULL is
 * fine. */
void aml_http_close(struct aml_http *h);

/* Whether the last call got no HTTP answer at all (a timeout, no
 * connection), as opposed to an answer, even an error. */
int aml_http_unanswered(const struct aml_http *h);

/*
 * [method] ("GET", "POST", "PUT", "DELETE"...) on [target]: a path
 * starting with '/' (may carry a query string), appended to the base
 * URL, or an absolute "http(s)://" URL.  [json], when non-NULL, is sent
 * as the body with Content-Type: application/json.  The answer lands in
 * [resp], which is overwritten: free it with aml_http_response_free
 * whatever the outcome.  Returns an enum aml_http_outcome; see the top
 * of this file for when errbuf is written.
 */
int aml_http_request(struct aml_http *h, const char *method,
		     const char *target, const char *json,
		     struct aml_http_response *resp,
		     char *errbuf, size_t errlen);

/*
 * PUT the regular file open on [fd] to [target], [content_type] (NULL:
 * application/octet-stream), streamed with pread from offset 0 (the
 * descriptor's offset is left alone), never held in memory.  Its size is
 * taken when the call starts; every attempt starts again from offset 0,
 * and an attempt that finds the size changed fails as AML_HTTP_ERROR
 * instead of storing a mix of two versions.  Otherwise as
 * aml_http_request.
 */
int aml_http_upload(struct aml_http *h, const char *target, int fd,
		    const char *content_type, struct aml_http_response *resp,
		    char *errbuf, size_t errlen);

/*
 * The same for the first [len] bytes of a file that only grows (a log
 * still being written): bytes added while it is sent are not sent, and
 * are no error; a file that shrinks below [len] is.
 */
int aml_http_upload_prefix(struct aml_http *h, const char *target, int fd,
			   long long len, const char *content_type,
			   struct aml_http_response *resp, char *errbuf,
			   size_t errlen);

/*
 * GET [target] into [fd] from its current offset, which must be seekable:
 * every attempt seeks back there and, for a regular file, cuts what lies
 * beyond, so the file ends as its bytes before that offset followed by
 * exactly one whole answer.  Only a 2xx answer's bytes go to [fd]; any
 * other answer's stay in [resp->body], so a 404 page never becomes the
 * file.  Otherwise as aml_http_request.
 */
int aml_http_download(struct aml_http *h, const char *target, int fd,
		      struct aml_http_response *resp,
		      char *errbuf, size_t errlen);

/* Release what [resp] holds and zero it; a zeroed [resp] is fine. */
void aml_http_response_free(struct aml_http_response *resp);

/* Non-zero for the statuses worth another attempt: 408, 429, 500, 502,
 * 503, 504. */
int aml_http_status_retryable(long status);

/*
 * Whom a transfer that moves tells so (hangwatch.h): by default this
 * copy of the core's aml_hangwatch_progress.  The MLflow module carries a
 * copy of the core of its own, whose hang watch watches nothing; the
 * program that loads it hands it its own (history_module.h), so that a
 * long download is not taken for a hung server.  Called once, before
 * any transfer.
 */
void aml_http_report_progress_to(void (*progress)(void));

#endif
