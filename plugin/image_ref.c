/*
 * image_ref.c: see image_ref.h.  Written from the grammar in the
 * comment of Docker's distribution/reference (reference.go).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#include <stdio.h>
#include <string.h>

#include "image_ref.h"
#include "errors.h"
#include "text.h"

#define TAG_MAX 128
#define DIGEST_PREFIX "sha256:"
#define DIGEST_HEX 64
#define DEFAULT_REGISTRY "docker.io"
#define DEFAULT_TAG "latest"

/* Quoted parts are cut here: a line, not a page. */
#define SHOWN_SIZE 80

static int lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || aml_ascii_is_digit(c);
}

static int alnum(int c)
{
	return aml_ascii_is_alpha(c) || aml_ascii_is_digit(c);
}

static const char *shown(const char *s, size_t n, char buf[SHOWN_SIZE])
{
	return aml_text_quote(s, n, buf, SHOWN_SIZE);
}

/* alpha-numeric (separator alpha-numeric)*, separator [_.] | __ | -+ */
static int is_path_component(const char *s, size_t n)
{
	size_t i = 0;

	if (!n || !lower_alnum((unsigned char)s[0]) ||
	    !lower_alnum((unsigned char)s[n - 1]))
		return 0;
	while (i < n) {
		if (lower_alnum((unsigned char)s[i])) {
			i++;
			continue;
		}
		if (s[i] == '_' && i + 1 < n && s[i + 1] == '_')
			i += 2;
		else if (s[i] == '.' || s[i] == '_')
			i++;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return 0;
		/* A separator is followed by an alpha-numeric run. */
		if (i >= n || !lower_alnum((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static int is_domain_label(const char *s, size_t n)
{
	if (!n || !alnum((unsigned char)s[0]) ||
	    !alnum((unsigned char)s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* host [':' port]: DNS labels joined by '.', or [IPv6]. */
static int is_domain(const char *s, size_t n)
{
	size_t host = n;
	const char *colon;

	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close || close == s + 1)
			return 0;
		for (const char *p = s + 1; p < close; p++)
			if (!strchr("0123456789abcdefABCDEF:", *p))
				return 0;
		host = (size_t)(close + 1 - s);
		if (host < n && s[host] != ':')
			return 0;
	} else {
		colon = memchr(s, ':', n);
		if (colon)
			host = (size_t)(colon - s);
		for (size_t start = 0, i = 0; i <= host; i++) {
			if (i < host && s[i] != '.')
				continue;
			if (!is_domain_label(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	if (host < n) {
		if (host + 1 == n)
			return 0;
		for (size_t i = host + 1; i < n; i++)
			if (!aml_ascii_is_digit((unsigned char)s[i]))
				return 0;
	}
	return 1;
}

static int is_tag(const char *s, size_t n)
{
	if (!n || n > TAG_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!alnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
}

static int is_digest(const char *s)
{
	size_t p = strlen(DIGEST_PREFIX);

	if (strncmp(s, DIGEST_PREFIX, p) || strlen(s + p) != DIGEST_HEX)
		return 0;
	for (size_t i = p; s[i]; i++)
		if (!aml_ascii_is_digit((unsigned char)s[i]) &&
		    !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return 1;
}

/* Whether the first component of a name is a registry: Docker's rule. */
static int names_registry(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) ||
	       (n == 9 && !memcmp(s, "localhost", 9));
}

/* The repository [s, n) (no registry written), component by component. */
static int check_path(const char *s, size_t n, char *errbuf, size_t errlen)
{
	char buf[SHOWN_SIZE];
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		if (i == start)
			return aml_fail(errbuf, errlen, "has an empty path "
				        "component (two '/' in a row, or one at "
				        "an end), got %s", shown(s, n, buf));
		if (!is_path_component(s + start, i - start))
			return aml_fail(errbuf, errlen, "a path component is "
				        "lowercase letters and digits, separated "
				        "by '.', '_', '__' or '-', got %s",
				        shown(s + start, i - start, buf));
		start = i + 1;
	}
	return 0;
}

static int parse(const char *text, struct aml_image_ref *ref, char *errbuf,
		 size_t errlen)
{
	const char *at, *slash, *colon, *path;
	size_t name_len, path_len, reg_len, total;
	char buf[SHOWN_SIZE];
	int library;

	if (!*text)
		return aml_fail(errbuf, errlen, "is empty");
	for (const char *c = text; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return aml_fail(errbuf, errlen, "must not contain blanks, "
				        "control characters or non-ASCII bytes, "
				        "got %s", shown(text, strlen(text), buf));
	at = strchr(text, '@');
	name_len = at ? (size_t)(at - text) : strlen(text);
	if (at) {
		if (!is_digest(at + 1))
			return aml_fail(errbuf, errlen, "a digest is sha256: and "
				        "64 lowercase hexadecimal digits, got %s",
				        shown(at + 1, strlen(at + 1), buf));
		memcpy(ref->digest, at + 1, strlen(at + 1) + 1);
	}
	/* A tag's ':' is after the last '/'; before it, a port's. */
	slash = memrchr(text, '/', name_len);
	colon = memrchr(slash ? slash : text, ':',
			name_len - (size_t)(slash ? slash - text : 0));
	if (colon) {
		size_t n = name_len - (size_t)(colon + 1 - text);

		if (!is_tag(colon + 1, n))
			return aml_fail(errbuf, errlen, "a tag is 1 to 128 "
				        "letters, digits, '_', '.' and '-', not "
				        "starting with '.' or '-', got %s",
				        shown(colon + 1, n, buf));
		memcpy(ref->tag, colon + 1, n);
		ref->tag[n] = '\0';
		name_len = (size_t)(colon - text);
	} else if (!at) {
		strcpy(ref->tag, DEFAULT_TAG);
	}
	if (!name_len)
		return aml_fail(errbuf, errlen, "has no name before its %s",
			        at && !colon ? "digest" : "tag");

	slash = memchr(text, '/', name_len);
	if (slash && names_registry(text, (size_t)(slash - text))) {
		reg_len = (size_t)(slash - text);
		if (!is_domain(text, reg_len))
			return aml_fail(errbuf, errlen, "a registry is a host "
				        "name (letters, digits, inner '-', "
				        "joined by '.') or [IPv6 address], with "
				        "an optional :port, got %s",
				        shown(text, reg_len, buf));
		path = slash + 1;
	} else {
		reg_len = 0;
		path = text;
	}
	path_len = name_len - (size_t)(path - text);
	if (check_path(path, path_len, errbuf, errlen) < 0)
		return -1;
	/* Before the copy: a registry longer than the whole name may be
	 * (fuzz_image_ref found one) overflows ref->registry. */
	if (reg_len + 1 + path_len > AML_IMAGE_NAME_MAX)
		return aml_fail(errbuf, errlen, "a name is at most %d bytes "
			        "(registry and path), got %zu",
			        AML_IMAGE_NAME_MAX, reg_len + 1 + path_len);

	/* Docker Hub's own alias, and its official images' namespace. */
	if (!reg_len || (reg_len == 15 && !memcmp(text, "index.docker.io", 15)))
		strcpy(ref->registry, DEFAULT_REGISTRY);
	else
		memcpy(ref->registry, text, reg_len);
	library = !strcmp(ref->registry, DEFAULT_REGISTRY) &&
		  !memchr(path, '/', path_len);
	/* As Docker counts it: the name once normalized. */
	total = strlen(ref->registry) + 1 + (library ? 8 : 0) + path_len;
	if (total > AML_IMAGE_NAME_MAX)
		return aml_fail(errbuf, errlen, "a name is at most %d bytes "
			        "(registry and path), got %zu",
			        AML_IMAGE_NAME_MAX, total);
	snprintf(ref->repository, sizeof(ref->repository), "%s%.*s",
		 library ? "library/" : "", (int)path_len, path);
	return 0;
}

int aml_image_ref_parse(const char *text, struct aml_image_ref *ref,
			char *errbuf, size_t errlen)
{
	memset(ref, 0, sizeof(*ref));
	if (errlen)
		errbuf[0] = '\0';
	if (parse(text, ref, errbuf, errlen) == 0)
		return 0;
	memset(ref, 0, sizeof(*ref));
	return -1;
}

int aml_image_ref_format(const struct aml_image_ref *ref, int by_digest,
			 char *buf, size_t len)
{
	int digest = ref->digest[0] && (by_digest || !ref->tag[0]);
	int n = snprintf(buf, len, "%s/%s%s%s", ref->registry,
			 ref->repository, digest ? "@" : ":",
			 digest ? ref->digest : ref->tag);

	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -1;
	}
	return 0;
}

int aml_image_registry_valid(const char *text)
{
	return is_domain(text, strlen(text));
}
