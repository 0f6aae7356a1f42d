/*
 * http.c: see http.h.
 *
 * One call is a loop of attempts over a struct xfer: each attempt rewinds
 * the source and the output, configures the easy handle from scratch
 * (curl_easy_reset keeps the live connections, so they are still reused),
 * performs, and judges the result: an answer, a retry, unavailable, or a
 * local error.
 */
#include <errno.h>
#include <limits.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "errors.h"
#include "fdio.h"
#include "hangwatch.h"
#include "random.h"
#include "http.h"
#include "text.h"

#define EXCERPT_MAX 200     /* bytes of an answer quoted in a message */
#define WHY_MAX 512

struct aml_http {
	CURL *curl;
	char *base;           /* without a trailing '/' */
	char *label;
	char *auth;           /* header line, or NULL */
	char *secret;         /* its last word: what a message must not show */
	char *ca_file, *client_cert, *client_key, *proxy;
	long timeout_ms, connect_timeout_ms, base_ms, cap_ms;
	unsigned max_retries;
	int insecure;
	size_t max_body;
	void (*on_retry)(void *, const char *, unsigned, long);
	void *on_retry_arg;
	int (*retryable)(long, const char *, size_t);
	/* The connection's socket while libcurl holds one open (sockopt_cb,
	 * closesocket_cb): CURLINFO_ACTIVESOCKET says nothing during a
	 * transfer. */
	curl_socket_t sock;
	int unanswered;       /* the last call got no HTTP answer at all */
	char curl_err[CURL_ERROR_SIZE];
};

enum verdict { V_ANSWER, V_RETRY, V_UNAVAILABLE, V_ERROR };

/* One call, and the state of its current attempt. */
struct xfer {
	struct aml_http *h;
	const char *method;
	char *url;
	char *where;               /* "host:port", for messages */
	char *path;                /* the URL's path without its query */
	const char *json;
	struct curl_slist *headers;
	int in_fd;                 /* upload source, or -1 */
	long long in_size, in_off;
	int in_prefix;             /* only the first in_size bytes: the file
				    * may grow meanwhile (aml_http_upload_prefix) */
	int out_fd;                /* download target, or -1 */
	long long out_start;
	int out_regular;
	int streaming;             /* stall timeout instead of a total one */
	struct aml_http_response *resp;
	size_t cap;                /* bytes allocated for resp->body */
	long status_line;          /* of the answer being received */
	int failed;                /* a local error stopped the attempt */
	int stalled;
	long long last_move_ms;
	curl_off_t last_ul, last_dl;
	long long last_acked;   /* peer_acked, -1 while it says nothing */
	char local_err[256];
};

/* ---- small helpers ---- */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps the whole [ms]: a signal the process handles must not cut the
 * backoff short and turn it into a burst of attempts. */
static void sleep_ms(long ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until,
			       NULL) == EINTR)
		;
}

static void local_fail(struct xfer *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void local_fail(struct xfer *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->local_err, sizeof(x->local_err), fmt, ap);
	va_end(ap);
	x->failed = 1;
}

/* A URL as it may be printed: "user:pass@" after the scheme removed. */
static void strip_userinfo(const char *url, char *out, size_t len)
{
	const char *host = strstr(url, "://");
	const char *at, *end;

	host = host ? host + 3 : url;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (!at) {
		snprintf(out, len, "%s", url);
		return;
	}
	snprintf(out, len, "%.*s%s", (int)(host - url), url, at + 1);
}

/*
 * [len] bytes of an answer or of a libcurl message, fit for a one-line
 * message: control characters and runs of blanks become one space, bytes
 * outside printable ASCII '?', at most EXCERPT_MAX bytes, and every
 * occurrence of the credential "***", so a server (or proxy) that echoes
 * the request cannot put it into a log.
 */
static void excerpt(const struct aml_http *h, const char *s, size_t len,
		    char *out, size_t outlen)
{
	size_t slen = h->secret ? strlen(h->secret) : 0, o = 0;
	size_t max = outlen - 1 < EXCERPT_MAX ? outlen - 1 : EXCERPT_MAX;
	int blank = 1;

	for (size_t i = 0; i < len && o < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (slen && len - i >= slen &&
		    memcmp(s + i, h->secret, slen) == 0) {
			for (const char *r = "***"; *r && o < max; r++)
				out[o++] = *r;
			i += slen - 1;
			blank = 0;
			continue;
		}
		if (c <= ' ' || c == 0x7f) {
			if (!blank)
				out[o++] = ' ';
			blank = 1;
			continue;
		}
		out[o++] = c < 0x7f ? (char)c : '?';
		blank = 0;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

int aml_http_status_retryable(long status)
{
	switch (status) {
	case 408: case 429: case 500: case 502: case 503: case 504:
		return 1;
	default:
		return 0;
	}
}

static int status_retryable(long status, const char *body, size_t len)
{
	(void)body;
	(void)len;
	return aml_http_status_retryable(status);
}

/* ---- URLs ---- */

static int is_http_url(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 ||
	       strncasecmp(s, "https://", 8) == 0;
}

/*
 * Parse [url] for what messages show: [*where] "host:port" and [*path]
 * (no query).  Refuses userinfo, so no credential can travel in a URL or
 * reach a message.  Returns 0, or -1 with [why] (never quoting the URL).
 */
static int url_parts(const char *url, char **where, char **path,
		     char *why, size_t whylen)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *p = NULL, *user = NULL;
	CURLUcode rc;
	int ret = -1;

	*where = *path = NULL;
	if (!u) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	rc = curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS);
	if (rc != CURLUE_OK) {
		snprintf(why, whylen, "not a valid URL (%s)",
			 curl_url_strerror(rc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		snprintf(why, whylen,
			 "a URL must not carry a user name or password; "
			 "give credentials as an auth header");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
		    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &p, 0) != CURLUE_OK) {
		snprintf(why, whylen, "a URL needs a host");
		goto out;
	}
	if (asprintf(where, "%s:%s", host, port) < 0) {
		*where = NULL;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	*path = strdup(p);
	if (!*path) {
		free(*where);
		*where = NULL;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	ret = 0;
out:
	curl_free(user);
	curl_free(host);
	curl_free(port);
	curl_free(p);
	curl_url_cleanup(u);
	return ret;
}

/* Non-zero when the base URL has a query or fragment, which appending a
 * path would turn into nonsense. */
static int has_query(const char *url)
{
	return strpbrk(url, "?#") != NULL;
}

/* ---- the handle ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void aml_http_config_init(struct aml_http_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->label = "MLflow server";
	cfg->timeout_ms = 120000;
	cfg->connect_timeout_ms = 10000;
	cfg->max_retries = 5;
	cfg->backoff_base_ms = 2000;
	cfg->backoff_cap_ms = 120000;
	cfg->max_body = AML_HTTP_MAX_BODY_DEFAULT;
}

/* The credential of "Name: scheme credential": its last word. */
static char *secret_of(const char *header, int *oom)
{
	const char *end = header + strlen(header), *w;
	char *d;

	while (end > header && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	w = end;
	while (w > header && w[-1] != ' ' && w[-1] != '\t' && w[-1] != ':')
		w--;
	if (end - w < 4)   /* too short to blank out without mangling text */
		return NULL;
	d = strndup(w, (size_t)(end - w));
	if (!d)
		*oom = 1;
	return d;
}

static int check_config(const struct aml_http_config *cfg, const char *label,
			char *errbuf, size_t errlen)
{
	char shown[512], why[WHY_MAX];
	char *where, *path;

	if (!cfg->base_url || !*cfg->base_url)
		return aml_fail(errbuf, errlen, "%s: no URL given", label);
	strip_userinfo(cfg->base_url, shown, sizeof(shown));
	if (!is_http_url(cfg->base_url))
		return aml_fail(errbuf, errlen,
				"%s URL '%s': only http:// and https:// are "
				"supported", label, shown);
	if (has_query(cfg->base_url))
		return aml_fail(errbuf, errlen,
				"%s URL '%s': must not carry a query or "
				"fragment", label, shown);
	if (url_parts(cfg->base_url, &where, &path, why, sizeof(why)) != 0)
		return aml_fail(errbuf, errlen, "%s URL '%s': %s", label,
				shown, why);
	free(where);
	free(path);
	if (cfg->auth_header && (strpbrk(cfg->auth_header, "\r\n") ||
				 !strchr(cfg->auth_header, ':')))
		return aml_fail(errbuf, errlen,
				"%s: the auth header must be one "
				"'Name: value' line", label);
	if (cfg->timeout_ms <= 0 || cfg->connect_timeout_ms <= 0 ||
	    cfg->backoff_base_ms < 0 || cfg->backoff_cap_ms < 0 ||
	    cfg->max_body == 0 || cfg->max_body >= SIZE_MAX / 2)
		return aml_fail(errbuf, errlen,
				"%s: timeouts and the body cap must be "
				"positive, backoffs not negative", label);
	return 0;
}

void aml_http_close(struct aml_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	if (h->auth)
		explicit_bzero(h->auth, strlen(h->auth));
	if (h->secret)
		explicit_bzero(h->secret, strlen(h->secret));
	free(h->auth);
	free(h->secret);
	free(h->base);
	free(h->label);
	free(h->ca_file);
	free(h->client_cert);
	free(h->client_key);
	free(h->proxy);
	free(h);
}

int aml_http_open(struct aml_http **out, const struct aml_http_config *cfg,
		  char *errbuf, size_t errlen)
{
	const char *label = cfg->label ? cfg->label : "server";
	struct aml_http *h;
	size_t n;
	int oom = 0;

	*out = NULL;
	if (check_config(cfg, label, errbuf, errlen) != 0)
		return -1;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return aml_fail(errbuf, errlen, "%s: libcurl: %s", label,
				curl_easy_strerror(curl_init_rc));
	h = calloc(1, sizeof(*h));
	if (!h)
		return aml_fail(errbuf, errlen, "%s: out of memory", label);
	h->base = aml_strdup_opt(cfg->base_url, &oom);
	h->label = aml_strdup_opt(label, &oom);
	h->auth = aml_strdup_opt(cfg->auth_header, &oom);
	h->secret = cfg->auth_header ? secret_of(cfg->auth_header, &oom)
				     : NULL;
	h->ca_file = aml_strdup_opt(cfg->ca_file, &oom);
	h->client_cert = aml_strdup_opt(cfg->client_cert, &oom);
	h->client_key = aml_strdup_opt(cfg->client_key, &oom);
	h->proxy = aml_strdup_opt(cfg->proxy, &oom);
	h->sock = CURL_SOCKET_BAD;
	h->curl = curl_easy_init();
	if (oom || !h->curl) {
		aml_http_close(h);
		return aml_fail(errbuf, errlen, "%s: out of memory", label);
	}
	n = strlen(h->base);
	while (n > 0 && h->base[n - 1] == '/')
		h->base[--n] = '\0';
	h->timeout_ms = cfg->timeout_ms;
	h->connect_timeout_ms = cfg->connect_timeout_ms;
	h->max_retries = cfg->max_retries;
	h->base_ms = cfg->backoff_base_ms;
	h->cap_ms = cfg->backoff_cap_ms;
	h->insecure = cfg->insecure;
	h->max_body = cfg->max_body;
	h->on_retry = cfg->on_retry;
	h->on_retry_arg = cfg->on_retry_arg;
	h->retryable = cfg->retryable ? cfg->retryable : status_retryable;
	*out = h;
	return 0;
}

/* ---- libcurl callbacks ---- */

/* Tracks the status line and Retry-After of the answer being received
 * (an interim "100 Continue" starts over). */
static size_t header_cb(char *buf, size_t size, size_t n, void *arg)
{
	static const char ra[] = "retry-after:";
	struct xfer *x = arg;
	size_t len = size * n, i;

	if (len > 5 && memcmp(buf, "HTTP/", 5) == 0) {
		x->status_line = 0;
		x->resp->retry_after_s = -1;
		for (i = 5; i < len && buf[i] != ' '; i++)
			;
		for (i++; i < len && buf[i] >= '0' && buf[i] <= '9'; i++)
			x->status_line = x->status_line * 10 + (buf[i] - '0');
	} else if (len > sizeof(ra) - 1 &&
		   strncasecmp(buf, ra, sizeof(ra) - 1) == 0) {
		long v = 0;
		int digits = 0;

		for (i = sizeof(ra) - 1; i < len && buf[i] == ' '; i++)
			;
		for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
			if (v < 100000000L)
				v = v * 10 + (buf[i] - '0');
			digits = 1;
		}
		/* The HTTP-date form is ignored: the backoff applies. */
		if (digits)
			x->resp->retry_after_s = v;
	}
	return len;
}

static int keep(struct xfer *x, const char *buf, size_t len)
{
	struct aml_http_response *r = x->resp;
	size_t want;
	char *grown;

	if (len > x->h->max_body - r->body_len) {
		local_fail(x, "the answer is larger than %zu bytes",
			   x->h->max_body);
		return -1;
	}
	want = r->body_len + len + 1;
	if (want > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;

		while (cap < want)
			cap *= 2;
		if (cap > x->h->max_body + 1)
			cap = x->h->max_body + 1;
		grown = realloc(r->body, cap);
		if (!grown) {
			local_fail(x, "out of memory for the answer");
			return -1;
		}
		r->body = grown;
		x->cap = cap;
	}
	memcpy(r->body + r->body_len, buf, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

/* A download's 2xx bytes go to its descriptor; everything else to memory. */
static size_t write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->out_fd >= 0 && x->status_line >= 200 && x->status_line < 300) {
		if (aml_write_all(x->out_fd, buf, len) != 0) {
			local_fail(x, "cannot write the download: %s",
				   strerror(errno));
			return 0;
		}
		x->resp->downloaded += (long long)len;
		return len;
	}
	return keep(x, buf, len) == 0 ? len : 0;
}

/* Has the upload's file changed size since the call started? */
static int size_changed(struct xfer *x)
{
	struct stat st;

	if (fstat(x->in_fd, &st) != 0) {
		local_fail(x, "cannot stat the file to upload: %s",
			   strerror(errno));
		return 1;
	}
	if ((long long)st.st_size != x->in_size &&
	    (!x->in_prefix || (long long)st.st_size < x->in_size)) {
		local_fail(x, "the file changed size during the upload "
			   "(%lld bytes, now %lld); not uploaded",
			   x->in_size, (long long)st.st_size);
		return 1;
	}
	return 0;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t want = size * n;
	ssize_t r;

	if (x->in_off >= x->in_size)
		return 0;
	if ((long long)want > x->in_size - x->in_off)
		want = (size_t)(x->in_size - x->in_off);
	do
		r = pread(x->in_fd, buf, want, (off_t)x->in_off);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		local_fail(x, "cannot read the file to upload: %s",
			   strerror(errno));
		return CURL_READFUNC_ABORT;
	}
	if (r == 0) {
		size_changed(x);
		if (!x->failed)
			local_fail(x, "the file to upload ended early");
		return CURL_READFUNC_ABORT;
	}
	x->in_off += r;
	/* Its last bytes: one more look, so a file that grew while it was
	 * sent is refused rather than stored cut short. */
	if (x->in_off == x->in_size && size_changed(x))
		return CURL_READFUNC_ABORT;
	return (size_t)r;
}

/* libcurl rewinds on its own when a reused connection turns out dead. */
static int seek_cb(void *arg, curl_off_t off, int origin)
{
	struct xfer *x = arg;

	if (origin != SEEK_SET || off < 0 || off > x->in_size)
		return CURL_SEEKFUNC_CANTSEEK;
	x->in_off = off;
	return CURL_SEEKFUNC_OK;
}

static void (*report_progress)(void) = aml_hangwatch_progress;

void aml_http_report_progress_to(void (*progress)(void))
{
	report_progress = progress;
}

/*
 * How much of what we sent the peer has acknowledged (TCP_INFO), or -1
 * where the kernel does not say.  What libcurl counts as uploaded is no
 * sign of life: curl 8 keeps handing 64 KiB a second to a socket whose
 * peer reads nothing, and the kernel queues them unsent (Debian 13's
 * curl 8.14 kept a 32 MiB upload "moving" that way at a server that had
 * stopped reading).
 */
static long long peer_acked(struct xfer *x)
{
	curl_socket_t fd = x->h->sock;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (fd == CURL_SOCKET_BAD)
		return -1;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_acked) +
			  sizeof(ti.tcpi_bytes_acked))
		return -1;
	return (long long)ti.tcpi_bytes_acked;
}

static int sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct aml_http *h = arg;

	if (purpose == CURLSOCKTYPE_IPCXN)
		h->sock = fd;
	return CURL_SOCKOPT_OK;
}

static int closesocket_cb(void *arg, curl_socket_t fd)
{
	struct aml_http *h = arg;

	if (h->sock == fd)
		h->sock = CURL_SOCKET_BAD;
	return close(fd);
}

/* The stall timeout of streamed transfers: a download moves when bytes
 * arrive, an upload when the peer acknowledges more of it. */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	long long now = mono_ms();
	long long acked = ulnow ? peer_acked(x) : -1;
	int sent_moved = acked >= 0 ? acked != x->last_acked
				    : ulnow != x->last_ul;

	(void)dltotal;
	(void)ultotal;
	if (dlnow != x->last_dl || sent_moved) {
		x->last_dl = dlnow;
		x->last_ul = ulnow;
		x->last_acked = acked;
		x->last_move_ms = now;
		report_progress();
		return 0;
	}
	if (now - x->last_move_ms > x->h->timeout_ms) {
		x->stalled = 1;
		return 1;
	}
	return 0;
}

/* ---- one attempt ---- */

static void clear_answer(struct aml_http_response *r)
{
	free(r->body);
	free(r->content_type);
	r->body = NULL;
	r->content_type = NULL;
	r->body_len = 0;
	r->downloaded = 0;
	r->status = 0;
	r->retry_after_s = -1;
}

/* Back to where the call started: offset 0 of the upload, the download's
 * first offset with nothing after it. */
static int rewind_xfer(struct xfer *x)
{
	clear_answer(x->resp);
	x->cap = 0;
	x->status_line = 0;
	x->stalled = 0;
	x->last_move_ms = mono_ms();
	x->last_ul = x->last_dl = 0;
	x->last_acked = -1;
	if (x->in_fd >= 0) {
		if (size_changed(x))
			return -1;
		x->in_off = 0;
	}
	if (x->out_fd >= 0 &&
	    (lseek(x->out_fd, (off_t)x->out_start, SEEK_SET) < 0 ||
	     (x->out_regular &&
	      ftruncate(x->out_fd, (off_t)x->out_start) != 0))) {
		local_fail(x, "cannot rewind the download's output: %s",
			   strerror(errno));
		return -1;
	}
	return 0;
}

#define SET(opt, val)                                            \
	do {                                                     \
		if (rc == CURLE_OK)                              \
			rc = curl_easy_setopt(c, opt, val);      \
	} while (0)

static CURLcode setup_common(struct aml_http *h, struct xfer *x)
{
	CURL *c = h->curl;
	CURLcode rc = CURLE_OK;

	curl_easy_reset(c);
	h->curl_err[0] = '\0';
	SET(CURLOPT_URL, x->url);
	SET(CURLOPT_ERRORBUFFER, h->curl_err);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, "slurm-aml/" PACKAGE_VERSION);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* "" rather than NULL: NULL would let libcurl read *_proxy from the
	 * environment (see http.h). */
	SET(CURLOPT_PROXY, h->proxy ? h->proxy : "");
	/* Through an https tunnel our headers (the auth one) travel inside
	 * it only, never in the CONNECT the proxy reads. */
	SET(CURLOPT_HEADEROPT, (long)CURLHEADER_SEPARATE);
	SET(CURLOPT_HTTPHEADER, x->headers);
	SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	SET(CURLOPT_SOCKOPTDATA, h);
	SET(CURLOPT_CLOSESOCKETFUNCTION, closesocket_cb);
	SET(CURLOPT_CLOSESOCKETDATA, h);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, x);
	if (h->ca_file)
		SET(CURLOPT_CAINFO, h->ca_file);
	if (h->client_cert)
		SET(CURLOPT_SSLCERT, h->client_cert);
	if (h->client_key)
		SET(CURLOPT_SSLKEY, h->client_key);
	if (h->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (x->streaming) {
		SET(CURLOPT_NOPROGRESS, 0L);
		SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
		SET(CURLOPT_XFERINFODATA, x);
	} else {
		SET(CURLOPT_TIMEOUT_MS, h->timeout_ms);
	}
	return rc;
}

static CURLcode setup_method(struct aml_http *h, struct xfer *x)
{
	CURL *c = h->curl;
	CURLcode rc = CURLE_OK;
	int post = strcmp(x->method, "POST") == 0;

	if (x->in_fd >= 0) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_READFUNCTION, read_cb);
		SET(CURLOPT_READDATA, x);
		SET(CURLOPT_SEEKFUNCTION, seek_cb);
		SET(CURLOPT_SEEKDATA, x);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->in_size);
	} else if (x->json || post) {
		if (post)
			SET(CURLOPT_POST, 1L);
		else
			SET(CURLOPT_CUSTOMREQUEST, x->method);
		SET(CURLOPT_POSTFIELDS, x->json ? x->json : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(x->json ? strlen(x->json) : 0));
	} else if (strcmp(x->method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(x->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else {
		SET(CURLOPT_CUSTOMREQUEST, x->method);
	}
	return rc;
}

#undef SET

/* Failures worth another attempt at once: the network or the server's
 * process, not the request. */
static int transport_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SEND_FAIL_REWIND:
		return 1;
	default:
		return 0;
	}
}

/* Failures of this side that waiting cannot fix. */
static int transport_local(CURLcode rc)
{
	switch (rc) {
	case CURLE_OUT_OF_MEMORY:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_NOT_BUILT_IN:
	case CURLE_FAILED_INIT:
	case CURLE_WRITE_ERROR:
	case CURLE_READ_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
		return 1;
	default:
		return 0;
	}
}

/* "connection refused" from "Connection refused". */
static void errno_text(long err, char *out, size_t len)
{
	snprintf(out, len, "%s", strerror((int)err));
	if (out[0] >= 'A' && out[0] <= 'Z' && (out[1] < 'A' || out[1] > 'Z'))
		out[0] = (char)(out[0] - 'A' + 'a');
}

static void describe_transport(struct xfer *x, CURLcode rc, char *why,
			       size_t len)
{
	struct aml_http *h = x->h;
	long os = 0;
	char text[128];

	curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os);
	if (x->stalled) {
		snprintf(why, len, "nothing sent or received for %ld ms",
			 h->timeout_ms);
	} else if (rc == CURLE_COULDNT_CONNECT && os) {
		errno_text(os, why, len);
	} else if ((rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR) && os) {
		errno_text(os, text, sizeof(text));
		snprintf(why, len, "%s while %s", text,
			 rc == CURLE_SEND_ERROR ? "sending" : "receiving");
	} else if (rc == CURLE_GOT_NOTHING) {
		snprintf(why, len,
			 "the server closed the connection without answering");
	} else if (h->curl_err[0]) {
		excerpt(h, h->curl_err, strlen(h->curl_err), why, len);
		if (why[0] >= 'A' && why[0] <= 'Z' &&
		    (why[1] < 'A' || why[1] > 'Z'))
			why[0] = (char)(why[0] - 'A' + 'a');
	} else {
		snprintf(why, len, "%s", curl_easy_strerror(rc));
	}
}

static void describe_status(const struct xfer *x, char *why, size_t len)
{
	const struct aml_http_response *r = x->resp;
	char quote[EXCERPT_MAX + 1];

	excerpt(x->h, r->body ? r->body : "", r->body_len, quote,
		sizeof(quote));
	if (quote[0])
		snprintf(why, len, "HTTP %ld: %s", r->status, quote);
	else
		snprintf(why, len, "HTTP %ld", r->status);
}

/* What libcurl left after a completed exchange, into [x->resp]. */
static int collect_answer(struct xfer *x)
{
	struct aml_http_response *r = x->resp;
	char *ct = NULL;

	curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(x->h->curl, CURLINFO_CONTENT_TYPE, &ct);
	if (ct) {
		r->content_type = strdup(ct);
		if (!r->content_type) {
			local_fail(x, "out of memory for the answer");
			return -1;
		}
	}
	if (!r->body && !(x->out_fd >= 0 && r->status >= 200 &&
			  r->status < 300))
		return keep(x, "", 0);
	return 0;
}

static enum verdict attempt(struct xfer *x, char *why, size_t len)
{
	struct aml_http *h = x->h;
	CURLcode rc;

	x->failed = 0;
	if (rewind_xfer(x) != 0)
		goto local;
	rc = setup_common(h, x);
	if (rc == CURLE_OK)
		rc = setup_method(h, x);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(h->curl);
	if (x->failed)
		goto local;
	if (rc == CURLE_OK) {
		if (collect_answer(x) != 0)
			goto local;
		if (!h->retryable(x->resp->status, x->resp->body,
				  x->resp->body_len))
			return V_ANSWER;
		describe_status(x, why, len);
		return V_RETRY;
	}
	clear_answer(x->resp);
	describe_transport(x, rc, why, len);
	/* A server that let a whole timeout pass without answering would
	 * most likely let the next one pass too: the caller is told at
	 * once (run history queues the write and stops trying for a
	 * while), instead of waiting the timeout again for each retry. */
	if (x->stalled || rc == CURLE_OPERATION_TIMEDOUT)
		return V_UNAVAILABLE;
	if (transport_retryable(rc))
		return V_RETRY;
	return transport_local(rc) ? V_ERROR : V_UNAVAILABLE;
local:
	clear_answer(x->resp);
	snprintf(why, len, "%s", x->local_err);
	return V_ERROR;
}

/* ---- the loop of attempts ---- */

static long backoff_ms(const struct aml_http *h, unsigned retry,
		       long retry_after_s)
{
	long d = h->base_ms;

	for (unsigned i = 1; i < retry && d < h->cap_ms; i++)
		d = d > LONG_MAX / 2 ? LONG_MAX : d * 2;
	if (d > h->cap_ms)
		d = h->cap_ms;
	if (h->base_ms > 0)
		d += (long)(aml_unique_bits() % (unsigned long long)h->base_ms);
	if (retry_after_s > 0) {
		long ra = retry_after_s > h->cap_ms / 1000 ?
				  h->cap_ms : retry_after_s * 1000;

		if (ra > d)
			d = ra;
	}
	return d;
}

static void say(const struct xfer *x, char *out, size_t len, const char *why,
		int with_attempts)
{
	const struct aml_http_response *r = x->resp;
	char tail[64] = "";

	if (with_attempts)
		snprintf(tail, sizeof(tail), " (%u attempt%s over %.1f s)",
			 r->attempts, r->attempts == 1 ? "" : "s",
			 (double)r->elapsed_ms / 1000.0);
	snprintf(out, len, "%s %s: %s %s: %s%s", x->h->label, x->where,
		 x->method, x->path, why, tail);
}

static int run(struct xfer *x, char *errbuf, size_t errlen)
{
	struct aml_http *h = x->h;
	struct aml_http_response *r = x->resp;
	long long t0 = mono_ms();
	char why[WHY_MAX], line[2 * WHY_MAX];
	enum verdict v;
	long delay;

	for (unsigned n = 1;; n++) {
		/* Each attempt has HistoryTimeout of its own (the stall
		 * timeout, for a streamed one): a watch of the command
		 * (hangwatch.h) counts from here, and lets it run out. */
		report_progress();
		v = attempt(x, why, sizeof(why));
		r->attempts = n;
		r->elapsed_ms = (long)(mono_ms() - t0);
		if (v != V_RETRY || n > h->max_retries)
			break;
		delay = backoff_ms(h, n, r->retry_after_s);
		if (h->on_retry) {
			say(x, line, sizeof(line), why, 0);
			h->on_retry(h->on_retry_arg, line, n, delay);
		}
		sleep_ms(delay);
	}
	h->unanswered = (v == V_RETRY || v == V_UNAVAILABLE) && r->status == 0;
	switch (v) {
	case V_ANSWER:
		if (r->status >= 400) {
			describe_status(x, why, sizeof(why));
			say(x, line, sizeof(line), why, r->attempts > 1);
			aml_fail(errbuf, errlen, "%s", line);
		}
		return AML_HTTP_ANSWER;
	case V_ERROR:
		say(x, line, sizeof(line), why, 0);
		aml_fail(errbuf, errlen, "%s", line);
		return AML_HTTP_ERROR;
	default:
		say(x, line, sizeof(line), why, 1);
		aml_fail(errbuf, errlen, "%s", line);
		return AML_HTTP_UNAVAILABLE;
	}
}

/* ---- calls ---- */

static void xfer_free(struct xfer *x)
{
	free(x->url);
	free(x->where);
	free(x->path);
	curl_slist_free_all(x->headers);
}

static int add_header(struct xfer *x, const char *line)
{
	struct curl_slist *l = curl_slist_append(x->headers, line);

	if (!l)
		return -1;
	x->headers = l;
	return 0;
}

/*
 * Start a call: the URL of [target], the headers, [resp] emptied.
 * [content_type] NULL sends none; "" removes the one libcurl would add.
 */
static int xfer_init(struct xfer *x, struct aml_http *h, const char *method,
		     const char *target, const char *content_type,
		     struct aml_http_response *resp, char *errbuf,
		     size_t errlen)
{
	char why[WHY_MAX], ct[256];

	memset(x, 0, sizeof(*x));
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	x->h = h;
	x->method = method;
	x->resp = resp;
	x->in_fd = x->out_fd = -1;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (target[0] == '/') {
		if (asprintf(&x->url, "%s%s", h->base, target) < 0)
			x->url = NULL;
	} else if (is_http_url(target)) {
		x->url = strdup(target);
	} else {
		return aml_fail(errbuf, errlen,
				"%s: %s: the target must be a path or an "
				"http(s) URL", h->label, method);
	}
	if (!x->url)
		return aml_fail(errbuf, errlen, "%s: out of memory", h->label);
	if (content_type && strpbrk(content_type, "\r\n"))
		return aml_fail(errbuf, errlen, "%s: %s: a line break in the "
				"content type", h->label, method);
	if (url_parts(x->url, &x->where, &x->path, why, sizeof(why)) != 0)
		return aml_fail(errbuf, errlen, "%s: %s: %s", h->label,
				method, why);
	if (content_type)
		snprintf(ct, sizeof(ct), "Content-Type:%s%s",
			 *content_type ? " " : "", content_type);
	if ((h->auth && add_header(x, h->auth) != 0) ||
	    (content_type && add_header(x, ct) != 0))
		return aml_fail(errbuf, errlen, "%s: out of memory", h->label);
	return 0;
}

int aml_http_unanswered(const struct aml_http *h)
{
	return h && h->unanswered;
}

int aml_http_request(struct aml_http *h, const char *method,
		     const char *target, const char *json,
		     struct aml_http_response *resp,
		     char *errbuf, size_t errlen)
{
	struct xfer x;
	const char *ct = json ? "application/json" :
			 strcmp(method, "POST") == 0 ? "" : NULL;
	int ret = AML_HTTP_ERROR;

	if (xfer_init(&x, h, method, target, ct, resp, errbuf, errlen) == 0) {
		x.json = json;
		ret = run(&x, errbuf, errlen);
	}
	xfer_free(&x);
	return ret;
}

/* PUT [len] bytes of [fd] from offset 0; [len] < 0: the whole file as it
 * is now, which must not change while it is sent. */
static int upload(struct aml_http *h, const char *target, int fd,
		  long long len, const char *content_type,
		  struct aml_http_response *resp, char *errbuf, size_t errlen)
{
	struct xfer x;
	struct stat st;
	int ret = AML_HTTP_ERROR;

	if (xfer_init(&x, h, "PUT", target,
		      content_type ? content_type : "application/octet-stream",
		      resp, errbuf, errlen) != 0)
		goto out;
	if (fstat(fd, &st) != 0) {
		aml_fail(errbuf, errlen, "%s %s: PUT %s: cannot stat the file "
			 "to upload: %s", h->label, x.where, x.path,
			 strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		aml_fail(errbuf, errlen, "%s %s: PUT %s: the upload must come "
			 "from a regular file", h->label, x.where, x.path);
		goto out;
	}
	if (len > (long long)st.st_size) {
		aml_fail(errbuf, errlen, "%s %s: PUT %s: the file to upload "
			 "has %lld bytes, not %lld", h->label, x.where, x.path,
			 (long long)st.st_size, len);
		goto out;
	}
	x.in_fd = fd;
	x.in_prefix = len >= 0;
	x.in_size = len >= 0 ? len : (long long)st.st_size;
	x.streaming = 1;
	ret = run(&x, errbuf, errlen);
out:
	xfer_free(&x);
	return ret;
}

int aml_http_upload(struct aml_http *h, const char *target, int fd,
		    const char *content_type, struct aml_http_response *resp,
		    char *errbuf, size_t errlen)
{
	return upload(h, target, fd, -1, content_type, resp, errbuf, errlen);
}

int aml_http_upload_prefix(struct aml_http *h, const char *target, int fd,
			   long long len, const char *content_type,
			   struct aml_http_response *resp, char *errbuf,
			   size_t errlen)
{
	if (len < 0)
		return aml_fail(errbuf, errlen, "%s: PUT %s: a negative length",
				h->label, target);
	return upload(h, target, fd, len, content_type, resp, errbuf, errlen);
}

int aml_http_download(struct aml_http *h, const char *target, int fd,
		      struct aml_http_response *resp,
		      char *errbuf, size_t errlen)
{
	struct xfer x;
	struct stat st;
	off_t start;
	int ret = AML_HTTP_ERROR;

	if (xfer_init(&x, h, "GET", target, NULL, resp, errbuf, errlen) != 0)
		goto out;
	start = lseek(fd, 0, SEEK_CUR);
	if (start < 0 || fstat(fd, &st) != 0) {
		aml_fail(errbuf, errlen,
			 "%s %s: GET %s: the output cannot be rewound for a "
			 "retry: %s", h->label, x.where, x.path,
			 strerror(errno));
		goto out;
	}
	x.out_fd = fd;
	x.out_start = (long long)start;
	x.out_regular = S_ISREG(st.st_mode);
	x.streaming = 1;
	ret = run(&x, errbuf, errlen);
out:
	xfer_free(&x);
	return ret;
}

void aml_http_response_free(struct aml_http_response *resp)
{
	free(resp->body);
	free(resp->content_type);
	memset(resp, 0, sizeof(*resp));
}
