/*
 * data_fetch.c: see data_fetch.h.
 */
#include "data_fetch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "clock.h"
#include "data_url.h"
#include "errors.h"
#include "fdio.h"

struct xfer {
	const struct aml_fetch_opts *o;
	const char *shown;            /* the URL for messages */
	int fd;                       /* -1: HEAD, no body kept */
	long status;                  /* of the answer being read */
	uint64_t got;                 /* body bytes written */
	int too_large;
	int write_errno;              /* writing to fd failed */
	int64_t last_progress_ms;
	struct aml_fetch_meta *meta;
};

void aml_fetch_shown_url(const char *url, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int)strcspn(url, "?#"), url);
}

void aml_fetch_validator(const struct aml_fetch_meta *meta, char *buf,
			 size_t len)
{
	if (meta->etag[0])
		snprintf(buf, len, "etag %s", meta->etag);
	else if (meta->last_modified[0])
		snprintf(buf, len, "last-modified %s", meta->last_modified);
	else if (len)
		buf[0] = '\0';
}

/* The value of header [name] on the line [p] of [n] bytes, trimmed, into
 * [out]; 1 when it is that header. */
static int header_value(const char *p, size_t n, const char *name, char *out,
			size_t len)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(p, name, k) || p[k] != ':')
		return 0;
	p += k + 1;
	n -= k + 1;
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' ||
		     p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	snprintf(out, len, "%.*s", (int)n, p);
	return 1;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	char value[32];

	if (n > 5 && !strncmp(p, "HTTP/", 5)) {
		/* A new answer (after a 100 Continue too): its own headers. */
		const char *sp = memchr(p, ' ', n);

		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->meta->etag[0] = x->meta->last_modified[0] = '\0';
		x->meta->has_length = 0;
		return n;
	}
	header_value(p, n, "ETag", x->meta->etag, sizeof(x->meta->etag));
	header_value(p, n, "Last-Modified", x->meta->last_modified,
		     sizeof(x->meta->last_modified));
	if (header_value(p, n, "Content-Length", value, sizeof(value))) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(value, &end, 10);
		if (!errno && end != value && !*end && value[0] != '-') {
			x->meta->length = v;
			x->meta->has_length = 1;
			/* Refused before the body comes. */
			if (x->fd >= 0 && x->status >= 200 && x->status < 300 &&
			    v > x->o->max_bytes) {
				x->too_large = 1;
				return 0;
			}
		}
	}
	return n;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	/* An error page or a redirect's body is not the file. */
	if (x->fd < 0 || x->status < 200 || x->status >= 300)
		return n;
	if (n > x->o->max_bytes - x->got) {
		x->too_large = 1;
		return 0;
	}
	if (aml_write_all(x->fd, p, n) < 0) {
		x->write_errno = errno ? errno : EIO;
		return 0;
	}
	x->got += n;
	return n;
}

static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	long every = x->o->progress_ms > 0 ? x->o->progress_ms : 1000;
	int64_t now = aml_monotonic_ms();

	(void)ultotal;
	(void)ulnow;
	(void)dlnow;
	if (x->o->progress && x->fd >= 0 &&
	    now - x->last_progress_ms >= every) {
		x->last_progress_ms = now;
		x->o->progress(x->o->progress_arg, x->got,
			       dltotal > 0 ? (uint64_t)dltotal : 0);
	}
	return 0;
}

#define SET(opt, val)                                                    \
	do {                                                             \
		if (curl_easy_setopt(c, opt, val) != CURLE_OK)           \
			goto setup_failed;                               \
	} while (0)

/*
 * One request of [url] (HEAD when x->fd < 0): its status in x->status
 * and a redirect's target in [location] ("" when none).  Returns 0 when
 * the server answered, or -1 with errbuf.
 */
static int perform(const char *url, struct xfer *x, char *location,
		   size_t llen, char *errbuf, size_t errlen)
{
	const struct aml_fetch_opts *o = x->o;
	long stall = o->stall_timeout_ms > 0 ? o->stall_timeout_ms
					     : AML_FETCH_STALL_TIMEOUT_MS;
	char curl_err[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	char *redirect = NULL;
	CURLcode rc;

	location[0] = '\0';
	if (!c)
		return aml_fail(errbuf, errlen, "%s: cannot start libcurl",
				x->shown);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_ERRORBUFFER, curl_err);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, "slurm-aml/" PACKAGE_VERSION);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, o->protocols ? o->protocols : "https");
#else
	SET(CURLOPT_PROTOCOLS, o->protocols && !strcmp(o->protocols, "http")
				       ? (long)CURLPROTO_HTTP
				       : (long)CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms > 0
					       ? o->connect_timeout_ms
					       : AML_FETCH_CONNECT_TIMEOUT_MS);
	/* Stalled: under 1 byte a second for the whole stall time. */
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, stall / 1000 > 0 ? stall / 1000 : 1L);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
	SET(CURLOPT_XFERINFODATA, x);
	if (o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	if (x->fd < 0)
		SET(CURLOPT_NOBODY, 1L);
	else
		SET(CURLOPT_HTTPGET, 1L);
	x->status = 0;
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
		if (x->status >= 300 && x->status < 400 &&
		    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redirect) ==
			    CURLE_OK &&
		    redirect)
			snprintf(location, llen, "%s", redirect);
		curl_easy_cleanup(c);
		return 0;
	}
	curl_easy_cleanup(c);
	if (x->too_large)
		return aml_fail(errbuf, errlen, "%s: the file is larger than "
				"DataDownloadMax (%" PRIu64 " bytes)",
				x->shown, o->max_bytes);
	if (x->write_errno)
		return aml_fail(errbuf, errlen, "%s: writing the download: %s",
				x->shown, strerror(x->write_errno));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return aml_fail(errbuf, errlen, "%s: timed out (%s)", x->shown,
				curl_err[0] ? curl_err : curl_easy_strerror(rc));
	return aml_fail(errbuf, errlen, "%s: %s", x->shown,
			curl_err[0] ? curl_err : curl_easy_strerror(rc));
setup_failed:
	curl_easy_cleanup(c);
	return aml_fail(errbuf, errlen, "%s: libcurl refused an option",
			x->shown);
}

/*
 * Whether the redirect from [from] to [to] may be followed: the same
 * scheme, no userinfo, a host the site allows.  0, or -1 with errbuf.
 */
static int check_redirect(const char *from, const char *to,
			  const struct aml_fetch_opts *o, char *errbuf,
			  size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
	char shown_from[512], shown_to[512];
	size_t from_scheme = strcspn(from, ":");
	int r = -1;

	aml_fetch_shown_url(from, shown_from, sizeof(shown_from));
	if (!u)
		return aml_fail(errbuf, errlen, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, to, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		aml_fail(errbuf, errlen, "%s: redirected to a URL that cannot "
			 "be read", shown_from);
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	if (user || pass) {
		aml_fail(errbuf, errlen, "%s: redirected to a URL with a user "
			 "name or password: not followed", shown_from);
		goto out;
	}
	aml_fetch_shown_url(to, shown_to, sizeof(shown_to));
	if (strlen(scheme) != from_scheme ||
	    strncasecmp(scheme, from, from_scheme)) {
		aml_fail(errbuf, errlen, "%s: redirected to %s, another "
			 "scheme: not followed", shown_from, shown_to);
		goto out;
	}
	if (!aml_data_host_allowed(o->hosts, o->n_hosts, host)) {
		aml_fail(errbuf, errlen, "%s: redirected to %s, whose host %s "
			 "is not in DataDownloadHosts: not followed",
			 shown_from, shown_to, host);
		goto out;
	}
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return r;
}

/* HEAD ([fd] < 0) or GET of [url], redirects followed by hand. */
static int fetch(const char *url, const struct aml_fetch_opts *o, int fd,
		 struct aml_fetch_meta *meta, uint64_t *bytes, char *errbuf,
		 size_t errlen)
{
	char cur[AML_DATA_URL_MAX + 1], next[AML_DATA_URL_MAX + 1];
	char shown[sizeof(cur)];
	struct xfer x;

	memset(meta, 0, sizeof(*meta));
	if (bytes)
		*bytes = 0;
	if (strlen(url) > AML_DATA_URL_MAX)
		return aml_fail(errbuf, errlen, "a URL is at most %d bytes",
				AML_DATA_URL_MAX);
	snprintf(cur, sizeof(cur), "%s", url);
	for (int hops = 0;; hops++) {
		aml_fetch_shown_url(cur, shown, sizeof(shown));
		memset(&x, 0, sizeof(x));
		x.o = o;
		x.fd = fd;
		x.shown = shown;
		x.meta = meta;
		x.last_progress_ms = aml_monotonic_ms();
		if (perform(cur, &x, next, sizeof(next), errbuf, errlen) < 0)
			return -1;
		if (x.status >= 300 && x.status < 400 && next[0]) {
			if (hops == AML_FETCH_MAX_REDIRECTS)
				return aml_fail(errbuf, errlen, "%s: more than "
						"%d redirects", shown,
						AML_FETCH_MAX_REDIRECTS);
			if (check_redirect(cur, next, o, errbuf, errlen) < 0)
				return -1;
			snprintf(cur, sizeof(cur), "%s", next);
			continue;
		}
		break;
	}
	snprintf(meta->final_url, sizeof(meta->final_url), "%s", shown);
	if (fd < 0 && (x.status == 405 || x.status == 501)) {
		/* No HEAD here: no validator, so no copy is reused. */
		meta->etag[0] = meta->last_modified[0] = '\0';
		meta->has_length = 0;
		return 0;
	}
	if (x.status < 200 || x.status >= 300)
		return aml_fail(errbuf, errlen, "%s: the server answered HTTP "
				"%ld", shown, x.status);
	if (meta->has_length && meta->length > o->max_bytes)
		return aml_fail(errbuf, errlen, "%s: the file is %" PRIu64
				" bytes, over DataDownloadMax (%" PRIu64
				" bytes)", shown, meta->length, o->max_bytes);
	if (fd >= 0 && meta->has_length && x.got != meta->length)
		return aml_fail(errbuf, errlen, "%s: the server sent %" PRIu64
				" of %" PRIu64 " bytes", shown, x.got,
				meta->length);
	if (bytes)
		*bytes = x.got;
	if (fd >= 0 && o->progress)
		o->progress(o->progress_arg, x.got, x.got);
	return 0;
}

int aml_fetch_head(const char *url, const struct aml_fetch_opts *o,
		   struct aml_fetch_meta *meta, char *errbuf, size_t errlen)
{
	return fetch(url, o, -1, meta, NULL, errbuf, errlen);
}

int aml_fetch_get(const char *url, const struct aml_fetch_opts *o, int fd,
		  struct aml_fetch_meta *meta, uint64_t *bytes, char *errbuf,
		  size_t errlen)
{
	if (fd < 0)
		return aml_fail(errbuf, errlen, "no file to download into");
	return fetch(url, o, fd, meta, bytes, errbuf, errlen);
}
