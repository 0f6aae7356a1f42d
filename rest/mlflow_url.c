/*
 * mlflow_url.c: the URLs MLflow's tracking API is reached at (contract in
 * mlflow_url.h).
 *
 * Where the contract is silent: artifact paths keep their percent-escapes,
 * since run.info.artifact_uri is a URI already, and encoding it again
 * would turn "%20" into "%2520".
 */
#include "mlflow_url.h"
#include "errors.h"
#include "text.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_unreserved(int c)
{
	return aml_ascii_is_alpha(c) || aml_ascii_is_digit(c) || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

#define URI_SCHEMES "http://, https:// or azureml://"

/* Printable ASCII only: a blank would end the URL in a log and curl
 * refuses it; a control character could forge a log line. */
static int check_uri_chars(const char *uri, char *errbuf, size_t errlen)
{
	for (size_t i = 0; uri[i]; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c <= 0x20 || c >= 0x7f)
			return aml_fail(errbuf, errlen,
					"HistoryURI: holds whitespace, a control or a non-ASCII character (at offset %zu); a URI is printable ASCII (percent-encode the rest)",
					i);
	}
	return 0;
}

/* The scheme's length when [uri] starts with "<scheme>://", else 0. */
static size_t scheme_length(const char *uri)
{
	size_t n = 0;

	if (!aml_ascii_is_alpha((unsigned char)uri[0]))
		return 0;
	while (aml_ascii_is_alpha((unsigned char)uri[n]) ||
	       aml_ascii_is_digit((unsigned char)uri[n]) || uri[n] == '+' ||
	       uri[n] == '-' || uri[n] == '.')
		n++;
	return strncmp(uri + n, "://", 3) == 0 ? n : 0;
}

static int check_port(const char *port, size_t n, char *errbuf,
		      size_t errlen)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; i < n && i < 6 && aml_ascii_is_digit((unsigned char)port[i]);
	     i++)
		v = v * 10 + (unsigned long)(port[i] - '0');
	if (n == 0 || i != n || v < 1 || v > 65535)
		return aml_fail(errbuf, errlen,
				"HistoryURI: port \"%.*s\" is not a number from 1 to 65535",
				(int)(n > 16 ? 16 : n), port);
	return 0;
}

/* [auth] of [n] bytes is host, [host]:port, host:port or [v6]:port. */
static int check_authority(const char *scheme, const char *auth, size_t n,
			   char *errbuf, size_t errlen)
{
	const char *colon = NULL;
	size_t host_len;

	if (n && auth[0] == '[') {
		const char *close = memchr(auth, ']', n);

		if (!close || close == auth + 1)
			return aml_fail(errbuf, errlen,
					"HistoryURI: no host after \"%s://\" (an IPv6 address goes in [brackets])",
					scheme);
		host_len = (size_t)(close - auth) + 1;
		if (host_len < n && auth[host_len] != ':')
			return aml_fail(errbuf, errlen,
					"HistoryURI: text after the IPv6 address's ']' that is not \":port\"");
	} else {
		for (size_t i = 0; i < n; i++)
			if (auth[i] == ':')
				colon = auth + i;
		host_len = colon ? (size_t)(colon - auth) : n;
	}
	if (host_len == 0)
		return aml_fail(errbuf, errlen,
				"HistoryURI: no host after \"%s://\"", scheme);
	if (host_len < n)
		return check_port(auth + host_len + 1, n - host_len - 1, errbuf,
				  errlen);
	return 0;
}

static int accepted_scheme(const char *uri, size_t n, const char **lower)
{
	static const char *const schemes[] = { "http", "https", "azureml" };

	for (size_t i = 0; i < 3; i++)
		if (n == strlen(schemes[i]) &&
		    aml_ascii_ieq_n(uri, n, schemes[i])) {
			*lower = schemes[i];
			return 1;
		}
	return 0;
}

/* Azure ML's URI carries /mlflow/v1.0; MLflow 2 semantics (such as
 * experiments/search) live under v2.0, where the azureml-mlflow plugin sends MLflow 2 clients. */
static int azure_v1_path(const char *path, size_t n)
{
	static const char v1[] = "/mlflow/v1.0";
	size_t v1n = sizeof(v1) - 1;

	return n >= v1n && strncmp(path, v1, v1n) == 0 &&
	       (n == v1n || path[v1n] == '/');
}

int aml_mlflow_base_url(const char *uri, char **base, char *errbuf,
			size_t errlen)
{
	struct aml_text t = AML_TEXT_INIT;
	const char *scheme, *auth, *path;
	size_t sn, an, pn;

	*base = NULL;
	if (check_uri_chars(uri, errbuf, errlen) != 0)
		return -1;
	sn = scheme_length(uri);
	if (sn == 0)
		return aml_fail(errbuf, errlen,
				"HistoryURI: does not start with a scheme (expected " URI_SCHEMES ")");
	if (!accepted_scheme(uri, sn, &scheme))
		return aml_fail(errbuf, errlen,
				"HistoryURI: scheme \"%.*s\" is not supported (expected " URI_SCHEMES ")",
				(int)(sn > 32 ? 32 : sn), uri);
	auth = uri + sn + 3;
	an = strcspn(auth, "/?#");
	/* Checked before anything that could quote the authority. */
	if (memchr(auth, '@', an))
		return aml_fail(errbuf, errlen,
				"HistoryURI: holds user information (\"user:password@\", not shown); credentials belong in HistoryCredentials");
	if (strpbrk(uri, "?#"))
		return aml_fail(errbuf, errlen,
				"HistoryURI: holds a query or fragment ('?' or '#'); endpoints are appended to it, so it must end with its path");
	if (check_authority(scheme, auth, an, errbuf, errlen) != 0)
		return -1;
	path = auth + an;
	pn = strlen(path);
	while (pn && path[pn - 1] == '/')
		pn--;
	if (strcmp(scheme, "azureml") == 0) {
		aml_text_str(&t, "https://");
		aml_text_add(&t, auth, an);
		if (azure_v1_path(path, pn)) {
			aml_text_str(&t, "/mlflow/v2.0");
			path += 12;
			pn -= 12;
		}
	} else {
		aml_text_str(&t, scheme);
		aml_text_str(&t, "://");
		aml_text_add(&t, auth, an);
	}
	aml_text_add(&t, path, pn);
	*base = aml_text_finish(&t);
	return *base ? 0 : aml_fail(errbuf, errlen, "HistoryURI: out of memory");
}

/*
 * Append [n] (> 0) bytes of [s] percent-encoded by curl, which keeps
 * exactly RFC 3986's unreserved bytes and writes upper-case hex (the
 * handle it takes is unused since curl 7.82).
 */
static void add_escaped(struct aml_text *t, const char *s, size_t n)
{
	char *e = n <= INT_MAX ? curl_easy_escape(NULL, s, (int)n) : NULL;

	if (!e) {
		t->oom = 1;
		return;
	}
	aml_text_str(t, e);
	curl_free(e);
}

char *aml_url_encode(const char *s)
{
	struct aml_text t = AML_TEXT_INIT;

	/* curl reads a length of 0 as "up to the NUL". */
	if (*s)
		add_escaped(&t, s, strlen(s));
	return aml_text_finish(&t);
}

char *aml_url_encode_path(const char *s)
{
	struct aml_text t = AML_TEXT_INIT;

	for (;;) {
		size_t n = strcspn(s, "/");

		if (n)
			add_escaped(&t, s, n);
		if (!s[n])
			break;
		aml_text_add(&t, "/", 1);
		s += n + 1;
	}
	return aml_text_finish(&t);
}

/* What may stand in a URI path as is (RFC 3986 pchar, '%' and '/'). */
static int keep_uri_path_char(int c)
{
	return is_unreserved(c) || (c && strchr("!$&'()*+,;=:@%/", c));
}

/*
 * Append [n] bytes of a URI path segment, bytes a URI cannot hold
 * percent-encoded.  By hand, as curl has no encoder that keeps the '%'
 * of escapes already there (CURLU_URLENCODE encodes it again).
 */
static void add_uri_path_segment(struct aml_text *t, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (keep_uri_path_char(c))
			aml_text_add(t, s + i, 1);
		else
			aml_text_add(t, esc, 3);
	}
}

#define ARTIFACTS_API "/api/2.0/mlflow-artifacts/artifacts"
#define PROXY_ONLY "only the tracking server's artifact proxy, mlflow-artifacts:, is"

static int unsupported_artifact_uri(const char *uri, char *errbuf,
				    size_t errlen)
{
	size_t n = strcspn(uri, ":/");
	char shown[128];

	if (uri[n] == ':' && n > 1 &&
	    aml_ascii_is_alpha((unsigned char)uri[0])) {
		char scheme[40];

		snprintf(scheme, sizeof(scheme), "%.*s", (int)n, uri);
		aml_text_escape(scheme, shown, sizeof(shown));
		return aml_fail(errbuf, errlen,
				"artifact upload is not supported for artifact_uri scheme \"%s\" (" PROXY_ONLY ")",
				shown);
	}
	aml_text_escape(uri, shown, sizeof(shown));
	return aml_fail(errbuf, errlen,
			"artifact upload is not supported for artifact_uri \"%s\", a path on the server (" PROXY_ONLY ")",
			shown);
}

/* Append [path] without leading, trailing or doubled '/', each part
 * after a '/', bytes a URL cannot hold percent-encoded. */
static void add_artifact_path(struct aml_text *t, const char *path)
{
	for (;;) {
		size_t n;

		path += strspn(path, "/");
		n = strcspn(path, "/");
		if (n == 0)
			return;
		aml_text_add(t, "/", 1);
		add_uri_path_segment(t, path, n);
		path += n;
	}
}

int aml_mlflow_artifact_url(const char *base, const char *artifact_uri,
			    char **url, char *errbuf, size_t errlen)
{
	static const char scheme[] = "mlflow-artifacts:";
	struct aml_text t = AML_TEXT_INIT;
	const char *rest, *base_sep;
	size_t bn;

	*url = NULL;
	/* aml_ascii_ieq_n stops at [artifact_uri]'s NUL, so a shorter one
	 * is safe. */
	if (!aml_ascii_ieq_n(artifact_uri, sizeof(scheme) - 1, scheme))
		return unsupported_artifact_uri(artifact_uri, errbuf, errlen);
	base_sep = strstr(base, "://");
	if (!base_sep)
		return aml_fail(errbuf, errlen,
				"tracking URL has no scheme; cannot resolve artifact_uri");
	rest = artifact_uri + sizeof(scheme) - 1;
	if (strpbrk(rest, "?#"))
		return aml_fail(errbuf, errlen,
				"artifact_uri holds a query or fragment ('?' or '#'); a run's artifact location cannot");
	if (strncmp(rest, "//", 2) == 0) {
		/* A separate artifact server, reached the way the tracking
		 * server is (same scheme). */
		size_t an = strcspn(rest + 2, "/");

		if (an == 0 || rest[2] == ':' || memchr(rest + 2, '@', an))
			return aml_fail(errbuf, errlen,
					"artifact_uri: \"mlflow-artifacts://\" must be followed by host[:port], without user information");
		aml_text_add(&t, base, (size_t)(base_sep - base) + 3);
		aml_text_add(&t, rest + 2, an);
		rest += 2 + an;
	} else {
		bn = strlen(base);
		while (bn && base[bn - 1] == '/')
			bn--;
		aml_text_add(&t, base, bn);
	}
	aml_text_str(&t, ARTIFACTS_API);
	add_artifact_path(&t, rest);
	*url = aml_text_finish(&t);
	return *url ? 0 : aml_fail(errbuf, errlen, "out of memory");
}

char *aml_mlflow_artifact_file_url(const char *url, const char *path)
{
	struct aml_text t = AML_TEXT_INIT;
	char *enc = aml_url_encode_path(path);

	if (!enc)
		return NULL;
	aml_text_str(&t, url);
	aml_text_add(&t, "/", 1);
	aml_text_str(&t, enc);
	free(enc);
	return aml_text_finish(&t);
}
