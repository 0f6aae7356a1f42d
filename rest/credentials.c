/*
 * credentials.c: the REST credentials file (contract in credentials.h).
 *
 * Where the contract is silent:
 *   - Every buffer that held a secret (the file's text, values, the
 *     "user:pass" pair, its base64) is explicit_bzero'd before free, so a
 *     core dump or a later malloc does not hand it out.  The file is read
 *     into one buffer sized once, never realloc'd: realloc would leave
 *     copies behind that nobody can wipe.
 *   - An unknown key is shown only when it looks like a key name (ASCII
 *     lower-case letters, '_', '-', at most 24): a password pasted alone
 *     whose text holds a '=' ("s3cr=t", a base64 token's padding) would
 *     otherwise be printed as "the key".
 *   - Values are refused when empty or holding control characters (a
 *     header cannot carry them); a username holding ':' is refused
 *     (Basic authentication splits at the first ':'), and a token holding
 *     a blank (a bearer token is one word).
 */
#include "credentials.h"
#include "dirtrust.h"
#include "errors.h"
#include "fdio.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum cred_key { KEY_USERNAME, KEY_PASSWORD, KEY_TOKEN, KEY_COUNT };

static const char *const key_names[KEY_COUNT] = {
	[KEY_USERNAME] = "username",
	[KEY_PASSWORD] = "password",
	[KEY_TOKEN] = "token",
};

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void aml_credentials_header_free(char *header)
{
	secret_free(header);
}

void aml_credentials_free(struct aml_credentials *c)
{
	if (!c)
		return;
	secret_free(c->username);
	secret_free(c->password);
	secret_free(c->token);
	c->username = c->password = c->token = NULL;
}

/* ---- reading the file ------------------------------------------------ */

/* The file as opened, judged before a byte is read. */
static int check_file(const char *path, int fd, uid_t owner_uid,
		      char *errbuf, size_t errlen)
{
	struct stat st;
	unsigned mode;

	if (fstat(fd, &st) != 0)
		return aml_fail(errbuf, errlen, "%s: cannot stat: %s", path,
				strerror(errno));
	mode = (unsigned)st.st_mode & 07777;
	switch (aml_trust_secret_file(&st, owner_uid)) {
	case AML_TRUSTED:
		break;
	case AML_UNTRUSTED_LINK:
	case AML_UNTRUSTED_KIND:
		return aml_fail(errbuf, errlen,
				"%s: not a regular file; credentials must be in a regular file",
				path);
	case AML_UNTRUSTED_OWNER:
		return aml_fail(errbuf, errlen,
				"%s: owned by uid %lu; credentials must be owned by root or by their user, uid %lu (chown)",
				path, (unsigned long)st.st_uid,
				(unsigned long)owner_uid);
	case AML_UNTRUSTED_MODE:
		return aml_fail(errbuf, errlen,
				"%s: %s by group or others (mode %04o); credentials must be readable only by their owner (chmod 600)",
				path,
				mode & 044 ? "readable" :
				mode & 022 ? "writable" : "executable",
				mode);
	}
	if (st.st_size > AML_CREDENTIALS_MAX_SIZE)
		return aml_fail(errbuf, errlen,
				"%s: larger than 64 KiB (%lld bytes); a credentials file holds a few short lines",
				path, (long long)st.st_size);
	return 0;
}

/* Read all of [fd] into [buf] of AML_CREDENTIALS_MAX_SIZE + 1 bytes;
 * a file that grew past the limit since fstat is refused. */
static int read_file(const char *path, int fd, char *buf, size_t *len,
		     char *errbuf, size_t errlen)
{
	size_t at = 0;

	for (;;) {
		ssize_t r = aml_read_some(fd, buf + at,
					  AML_CREDENTIALS_MAX_SIZE + 1 - at);

		if (r < 0)
			return aml_fail(errbuf, errlen, "%s: cannot read: %s",
					path, strerror(errno));
		if (r == 0)
			break;
		at += (size_t)r;
		if (at > AML_CREDENTIALS_MAX_SIZE)
			return aml_fail(errbuf, errlen,
					"%s: larger than 64 KiB; a credentials file holds a few short lines",
					path);
	}
	*len = at;
	return 0;
}

/* ---- parsing --------------------------------------------------------- */

struct parse {
	const char *path;
	unsigned line;
	char *vals[KEY_COUNT];
	unsigned lines[KEY_COUNT];
	char *errbuf;
	size_t errlen;
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_blank((*s)[*n - 1]))
		(*n)--;
}

static int looks_like_key_name(const char *s, size_t n)
{
	if (n == 0 || n > 24)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' ||
		      s[i] == '-'))
			return 0;
	return 1;
}

static int unknown_key(struct parse *p, const char *key, size_t n)
{
	if (!looks_like_key_name(key, n))
		return aml_fail(p->errbuf, p->errlen,
				"%s: line %u: unknown key, not shown as it may be part of a secret (expected username, password or token)",
				p->path, p->line);
	return aml_fail(p->errbuf, p->errlen,
			"%s: line %u: unknown key \"%.*s\" (expected username, password or token)",
			p->path, p->line, (int)n, key);
}

/* The value's own rules; the message names the key, never the value. */
static int check_value(struct parse *p, enum cred_key k, const char *v,
		       size_t n)
{
	const char *name = key_names[k];

	if (n == 0)
		return aml_fail(p->errbuf, p->errlen,
				"%s: line %u: %s has no value", p->path,
				p->line, name);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f)
			return aml_fail(p->errbuf, p->errlen,
					"%s: line %u: %s holds a control character (value not shown); an HTTP header cannot carry it",
					p->path, p->line, name);
		if (k == KEY_USERNAME && c == ':')
			return aml_fail(p->errbuf, p->errlen,
					"%s: line %u: username holds ':' (value not shown), which Basic authentication cannot carry",
					p->path, p->line);
		if (k == KEY_TOKEN && c == ' ')
			return aml_fail(p->errbuf, p->errlen,
					"%s: line %u: token holds a blank (value not shown); a bearer token is one word",
					p->path, p->line);
	}
	return 0;
}

static int parse_line(struct parse *p, const char *s, size_t n)
{
	const char *eq, *key, *val;
	size_t klen, vlen;
	int k;

	if (n && s[n - 1] == '\r')
		n--;
	trim(&s, &n);
	if (n == 0 || s[0] == '#')
		return 0;
	eq = memchr(s, '=', n);
	if (!eq)
		return aml_fail(p->errbuf, p->errlen,
				"%s: line %u: no '=' (expected key = value)",
				p->path, p->line);
	key = s;
	klen = (size_t)(eq - s);
	val = eq + 1;
	vlen = n - klen - 1;
	trim(&key, &klen);
	trim(&val, &vlen);
	if (klen == 0)
		return aml_fail(p->errbuf, p->errlen,
				"%s: line %u: no key before '=' (expected key = value)",
				p->path, p->line);
	for (k = 0; k < KEY_COUNT; k++)
		if (aml_ascii_ieq_n(key, klen, key_names[k]))
			break;
	if (k == KEY_COUNT)
		return unknown_key(p, key, klen);
	if (p->vals[k])
		return aml_fail(p->errbuf, p->errlen,
				"%s: line %u: duplicate key %s (first on line %u)",
				p->path, p->line, key_names[k], p->lines[k]);
	if (check_value(p, (enum cred_key)k, val, vlen) != 0)
		return -1;
	p->vals[k] = strndup(val, vlen);
	if (!p->vals[k])
		return aml_fail(p->errbuf, p->errlen, "%s: out of memory",
				p->path);
	p->lines[k] = p->line;
	return 0;
}

static int parse_text(struct parse *p, const char *text, size_t len)
{
	const char *s = text, *end = text + len;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		p->line++;
		if (parse_line(p, s, n) != 0)
			return -1;
		s += n + 1;
	}
	return 0;
}

/* What the lines give, as a whole. */
static int check_complete(const struct parse *p, char *errbuf, size_t errlen)
{
	int user = p->vals[KEY_USERNAME] != NULL;
	int pass = p->vals[KEY_PASSWORD] != NULL;

	if (user && !pass)
		return aml_fail(errbuf, errlen,
				"%s: username without password; Basic authentication needs both (or give a token)",
				p->path);
	if (pass && !user)
		return aml_fail(errbuf, errlen,
				"%s: password without username; Basic authentication needs both (or give a token)",
				p->path);
	if (!user && !p->vals[KEY_TOKEN])
		return aml_fail(errbuf, errlen,
				"%s: no credential (expected username and password, or token)",
				p->path);
	return 0;
}

int aml_credentials_load(const char *path, uid_t owner_uid,
			 struct aml_credentials *c, char *errbuf,
			 size_t errlen)
{
	struct parse p = { .path = path, .errbuf = errbuf, .errlen = errlen };
	char *buf = NULL;
	size_t len = 0;
	int fd, rc = -1;

	memset(c, 0, sizeof(*c));
	/* O_NONBLOCK: a FIFO put in the file's place must not hang the job
	 * in open(); it is refused by check_file() right after. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			return aml_fail(errbuf, errlen,
					"%s: is a symbolic link; credentials are read from a regular file only, never through a link",
					path);
		return aml_fail(errbuf, errlen, "%s: cannot open: %s", path,
				strerror(errno));
	}
	buf = malloc(AML_CREDENTIALS_MAX_SIZE + 1);
	if (!buf) {
		aml_fail(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	if (check_file(path, fd, owner_uid, errbuf, errlen) != 0 ||
	    read_file(path, fd, buf, &len, errbuf, errlen) != 0 ||
	    parse_text(&p, buf, len) != 0 ||
	    check_complete(&p, errbuf, errlen) != 0)
		goto out;
	c->username = p.vals[KEY_USERNAME];
	c->password = p.vals[KEY_PASSWORD];
	c->token = p.vals[KEY_TOKEN];
	memset(p.vals, 0, sizeof(p.vals));
	rc = 0;
out:
	for (int k = 0; k < KEY_COUNT; k++)
		secret_free(p.vals[k]);
	if (buf) {
		explicit_bzero(buf, AML_CREDENTIALS_MAX_SIZE + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

/* ---- the header ------------------------------------------------------ */

/*
 * RFC 4648 base64 with padding and no line breaks, malloc'd; NULL when
 * memory runs out.  libcrypto's, which this library links already for
 * content hashes (libcurl has no public base64).  [n] fits its int: the
 * pair comes from a file of at most AML_CREDENTIALS_MAX_SIZE bytes.
 */
static char *base64(const unsigned char *in, size_t n)
{
	unsigned char *out = malloc((n + 2) / 3 * 4 + 1);

	if (!out)
		return NULL;
	(void)EVP_EncodeBlock(out, in, (int)n);
	return (char *)out;
}

/* base64("username:password"), or NULL when either is missing or empty,
 * or memory runs out. */
static char *basic_token(const struct aml_credentials *c)
{
	size_t ul, pl;
	char *pair, *b64;

	if (!c || !c->username || !c->password || !*c->username ||
	    !*c->password)
		return NULL;
	ul = strlen(c->username);
	pl = strlen(c->password);
	pair = malloc(ul + pl + 2);
	if (!pair)
		return NULL;
	memcpy(pair, c->username, ul);
	pair[ul] = ':';
	memcpy(pair + ul + 1, c->password, pl + 1);
	b64 = base64((const unsigned char *)pair, ul + 1 + pl);
	explicit_bzero(pair, ul + pl + 2);
	free(pair);
	return b64;
}

static char *join_header(const char *scheme, const char *value)
{
	static const char name[] = "Authorization: ";
	size_t nl = strlen(name), sl = strlen(scheme), vl = strlen(value);
	char *h = malloc(nl + sl + 1 + vl + 1);

	if (!h)
		return NULL;
	memcpy(h, name, nl);
	memcpy(h + nl, scheme, sl);
	h[nl + sl] = ' ';
	memcpy(h + nl + sl + 1, value, vl + 1);
	return h;
}

char *aml_credentials_auth_header(const struct aml_credentials *c)
{
	char *b64, *h;

	if (!c)
		return NULL;
	if (c->username && *c->username && c->password && *c->password) {
		b64 = basic_token(c);
		if (!b64)
			return NULL;
		h = join_header("Basic", b64);
		secret_free(b64);
		return h;
	}
	if (c->token && *c->token)
		return join_header("Bearer", c->token);
	return NULL;
}

/* ---- redaction ------------------------------------------------------- */

#define MASK "***"
#define AUTH_NAME "authorization:"
#define MIN_PARTIAL 4

struct redactor {
	const char *text;        /* a copy of the message, as it came */
	size_t len;
	size_t partial_end;      /* where a cut-off secret would end */
	const char *secrets[3];
	size_t lens[3];
	size_t nsecrets;
};

/* Where the secret that starts at [i] ends (the longest one, or one cut
 * off at partial_end), or 0 when none starts there. */
static size_t secret_end(const struct redactor *r, size_t i)
{
	size_t end = 0;

	for (size_t k = 0; k < r->nsecrets; k++) {
		size_t sl = r->lens[k];

		if (i + sl <= r->len && memcmp(r->text + i, r->secrets[k], sl) == 0) {
			if (i + sl > end)
				end = i + sl;
		} else if (i + MIN_PARTIAL <= r->partial_end &&
			   r->partial_end - i < sl &&
			   memcmp(r->text + i, r->secrets[k],
				  r->partial_end - i) == 0) {
			if (r->partial_end > end)
				end = r->partial_end;
		}
	}
	return end;
}

/* The end of the run of secrets starting at [i]: one that starts inside
 * another extends it, so no piece of either is left showing. */
static size_t run_end(const struct redactor *r, size_t i)
{
	size_t end = secret_end(r, i);

	for (size_t j = i + 1; j < end; j++) {
		size_t e = secret_end(r, j);

		if (e > end)
			end = e;
	}
	return end;
}

static int is_auth_name(const struct redactor *r, size_t i)
{
	size_t n = sizeof(AUTH_NAME) - 1;

	return i + n <= r->len && aml_ascii_ieq_n(r->text + i, n, AUTH_NAME);
}

static size_t line_end(const struct redactor *r, size_t i)
{
	while (i < r->len && r->text[i] != '\n' && r->text[i] != '\r')
		i++;
	return i;
}

struct out {
	char *buf;
	size_t at;
	size_t cap; /* bytes that may hold text, the NUL not counted */
};

static void put(struct out *o, const char *s, size_t n)
{
	while (n-- && o->at < o->cap)
		o->buf[o->at++] = *s++;
}

static void redactor_add(struct redactor *r, const char *s)
{
	if (s && *s) {
		r->secrets[r->nsecrets] = s;
		r->lens[r->nsecrets++] = strlen(s);
	}
}

static size_t redact_text(const struct redactor *r, struct out *o)
{
	size_t count = 0, i = 0;

	while (i < r->len && o->at < o->cap) {
		size_t end;

		if (is_auth_name(r, i)) {
			put(o, r->text + i, sizeof(AUTH_NAME) - 1);
			put(o, " " MASK, strlen(" " MASK));
			i = line_end(r, i + sizeof(AUTH_NAME) - 1);
			count++;
		} else if ((end = run_end(r, i)) > i) {
			put(o, MASK, strlen(MASK));
			i = end;
			count++;
		} else {
			put(o, r->text + i, 1);
			i++;
		}
	}
	return count;
}

/* When the secrets cannot be looked for (no memory), the only safe
 * message is none. */
static size_t redact_all(char *msg, size_t msgsize)
{
	snprintf(msg, msgsize, "%s", MASK);
	return 1;
}

size_t aml_credentials_redact(const struct aml_credentials *c, char *msg,
			      size_t msgsize)
{
	struct redactor r = { 0 };
	struct out o = { msg, 0, msgsize ? msgsize - 1 : 0 };
	char *copy, *b64 = NULL;
	size_t count, n;

	if (!msg || msgsize == 0)
		return 0;
	n = strnlen(msg, msgsize - 1);
	msg[n] = '\0';
	if (c && c->username && c->password) {
		b64 = basic_token(c);
		if (!b64 && *c->username && *c->password)
			return redact_all(msg, msgsize);
	}
	copy = strdup(msg);
	if (!copy) {
		secret_free(b64);
		return redact_all(msg, msgsize);
	}
	r.text = copy;
	r.len = n;
	r.partial_end = n >= 3 && memcmp(copy + n - 3, "...", 3) == 0 ? n - 3 : n;
	if (c) {
		redactor_add(&r, c->password);
		redactor_add(&r, c->token);
	}
	redactor_add(&r, b64);
	count = redact_text(&r, &o);
	msg[o.at] = '\0';
	secret_free(copy);
	secret_free(b64);
	return count;
}
