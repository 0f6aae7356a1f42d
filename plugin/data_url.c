/*
 * data_url.c: see data_url.h.
 */
#include "data_url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* A DNS name of [n] bytes at [s]: labels of letters, digits and inner
 * '-', 1 to 63 bytes each, joined by '.'. */
static int is_host(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > AML_DATA_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && !(c == '-' && label > 0))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-';
}

int aml_data_host_pattern_valid(const char *pattern)
{
	if (!strncmp(pattern, "*.", 2))
		pattern += 2;
	return is_host(pattern, strlen(pattern));
}

int aml_data_host_allowed(char *const *patterns, size_t n, const char *host)
{
	size_t hlen = strlen(host);

	for (size_t i = 0; i < n; i++) {
		const char *p = patterns[i];

		if (!strncmp(p, "*.", 2)) {
			/* ".example.org" at the end, with a label before it. */
			size_t plen = strlen(p + 1);

			if (hlen > plen &&
			    !strcasecmp(host + hlen - plen, p + 1))
				return 1;
		} else if (!strcasecmp(host, p)) {
			return 1;
		}
	}
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The last segment of the path [s] ([n] bytes, from its '/'),
 * percent-decoded, into [out]. */
static int file_name(const char *s, size_t n, char *out, char *err,
		     size_t errlen)
{
	const char *seg = s + n;
	size_t len = 0;

	while (seg > s && seg[-1] != '/')
		seg--;
	for (const char *p = seg; p < s + n; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int hi = p + 2 < s + n ? hex_value(p[1]) : -1;
			int lo = hi >= 0 ? hex_value(p[2]) : -1;

			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "a '%%' in the URL's path "
					 "must start an escape %%XX");
				return -1;
			}
			c = hi * 16 + lo;
			p += 2;
		}
		/* strchr finds the terminator too: a decoded NUL is no
		 * character of a name. */
		if (!is_alnum((char)c) && (!c || !strchr("._-+,=@", c))) {
			snprintf(err, errlen, "the file's name (the URL path's "
				 "last segment, decoded) may hold only letters, "
				 "digits and . _ - + , = @: the command gets its "
				 "path as written");
			return -1;
		}
		if (len == AML_DATA_NAME_MAX) {
			snprintf(err, errlen, "the file's name (the URL path's "
				 "last segment) is over %d bytes",
				 AML_DATA_NAME_MAX);
			return -1;
		}
		out[len++] = (char)c;
	}
	out[len] = '\0';
	if (!len || !strcmp(out, ".") || !strcmp(out, "..")) {
		snprintf(err, errlen, "the URL's path must end in a file's "
			 "name (https://HOST/.../FILE): an https:// input is a "
			 "uri_file");
		return -1;
	}
	return 0;
}

int aml_data_url_parse(const char *url, struct aml_data_url *out, char *err,
		       size_t errlen)
{
	const char *auth, *auth_end, *path, *path_end, *colon;
	size_t n = strlen(url), host_len;

	memset(out, 0, sizeof(*out));
	if (!strncasecmp(url, "http://", 7)) {
		snprintf(err, errlen, "plain http:// is not downloaded (what "
			 "it answers could be changed on the way): use "
			 "https://");
		return -1;
	}
	if (strncasecmp(url, "https://", 8)) {
		snprintf(err, errlen, "must be an https:// URL");
		return -1;
	}
	if (n > AML_DATA_URL_MAX) {
		snprintf(err, errlen, "a URL is at most %d bytes, got %zu",
			 AML_DATA_URL_MAX, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '"') {
			snprintf(err, errlen, "a URL may not hold blanks, "
				 "quotes, backslashes, control or non-ASCII "
				 "characters (escape them as %%XX)");
			return -1;
		}
	}
	auth = url + 8;
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth))) {
		/* Never repeat it: it holds a password. */
		snprintf(err, errlen, "a URL with a user name or password "
			 "(https://USER:PASSWORD@HOST/) is refused and not "
			 "kept: credentials in a run's configuration are "
			 "readable in its history and its job");
		return -1;
	}
	colon = memchr(auth, ':', (size_t)(auth_end - auth));
	host_len = (size_t)((colon ? colon : auth_end) - auth);
	if (*auth == '[' || !is_host(auth, host_len)) {
		snprintf(err, errlen, "the URL's host must be a host name "
			 "(letters, digits, inner '-', joined by '.'), got "
			 "\"%.*s\"", (int)(auth_end - auth), auth);
		return -1;
	}
	for (size_t i = 0; i < host_len; i++)
		out->host[i] = (char)((auth[i] >= 'A' && auth[i] <= 'Z')
					      ? auth[i] - 'A' + 'a'
					      : auth[i]);
	out->port = 443;
	if (colon) {
		unsigned long port = 0;
		const char *p = colon + 1;

		if (p == auth_end || auth_end - p > 5)
			port = 0;
		for (; p < auth_end && port <= 65535; p++)
			port = (*p >= '0' && *p <= '9')
				       ? port * 10 + (unsigned long)(*p - '0')
				       : 100000;
		if (port == 0 || port > 65535) {
			snprintf(err, errlen, "the URL's port must be a number "
				 "from 1 to 65535, got \"%.*s\"",
				 (int)(auth_end - colon - 1), colon + 1);
			return -1;
		}
		out->port = (unsigned)port;
	}
	path = auth_end;
	path_end = path + strcspn(path, "?#");
	if (*path != '/') {
		snprintf(err, errlen, "the URL's path must end in a file's "
			 "name (https://HOST/.../FILE): an https:// input is a "
			 "uri_file");
		return -1;
	}
	return file_name(path, (size_t)(path_end - path), out->name, err,
			 errlen);
}

int aml_data_download_path(const char *input, const struct aml_data_url *u,
			   char *buf, size_t len)
{
	int n = snprintf(buf, len, "inputs/%s/%s", input, u->name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}
