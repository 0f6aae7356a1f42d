/*
 * hash.c: SHA-256 through OpenSSL 3's EVP interface (contract in hash.h).
 *
 * The digest is fetched once and kept: EVP_DigestInit_ex with the legacy
 * EVP_sha256() handle fetches the provider's implementation on every
 * call, which costs more than hashing a small file.  The fetched EVP_MD is
 * never freed: it lives as long as the process (or the plugin), and
 * freeing it from a destructor could run after OpenSSL's own atexit
 * cleanup.
 */
#include "hash.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static const EVP_MD *md_sha256;

static void md_fetch(void)
{
	EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA256", NULL);

	/* A configuration without a default provider can refuse the fetch;
	 * the legacy handle still works there, only slower. */
	md_sha256 = fetched ? fetched : EVP_sha256();
}

static const EVP_MD *md_get(void)
{
	if (pthread_once(&md_once, md_fetch) != 0)
		return EVP_sha256();
	return md_sha256;
}

static void to_hex(const unsigned char *bin, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[bin[i] >> 4];
		hex[2 * i + 1] = digits[bin[i] & 15];
	}
	hex[2 * n] = '\0';
}

int aml_sha256_init(struct aml_sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	h->ctx = NULL;
	if (!ctx)
		return -1;
	if (EVP_DigestInit_ex(ctx, md_get(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	h->ctx = ctx;
	return 0;
}

int aml_sha256_update(struct aml_sha256 *h, const void *data, size_t len)
{
	if (!h->ctx)
		return -1;
	if (len == 0)
		return 0;
	return EVP_DigestUpdate(h->ctx, data, len) == 1 ? 0 : -1;
}

int aml_sha256_final(struct aml_sha256 *h, char hex[AML_SHA256_HEX_LEN + 1])
{
	unsigned char bin[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int ok;

	if (!h->ctx)
		return -1;
	ok = EVP_DigestFinal_ex(h->ctx, bin, &n) == 1 &&
	     n == AML_SHA256_HEX_LEN / 2;
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	if (!ok)
		return -1;
	to_hex(bin, n, hex);
	return 0;
}

void aml_sha256_abort(struct aml_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int aml_sha256_buffer(const void *data, size_t len,
		      char hex[AML_SHA256_HEX_LEN + 1])
{
	unsigned char bin[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	/* EVP_Digest makes and frees its own context: one call. */
	if (EVP_Digest(len ? data : "", len, bin, &n, md_get(), NULL) != 1 ||
	    n != AML_SHA256_HEX_LEN / 2)
		return -1;
	to_hex(bin, n, hex);
	return 0;
}

/* Lower-case hex digits: a table, as manifests check one hash per file,
 * 10,000 at a time. */
static const unsigned char hex_digit[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1,
	['f'] = 1,
};

int aml_hex_is_lower(const char *s, size_t n)
{
	unsigned bad = 0;
	size_t i;

	if (!s)
		return 0;
	/* Stop at the first NUL (a short string) but otherwise without a
	 * branch per digit. */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!c)
			return 0;
		bad |= hex_digit[c] ^ 1u;
	}
	return !bad && s[i] == '\0';
}

int aml_sha256_is_hex(const char *hex)
{
	return aml_hex_is_lower(hex, AML_SHA256_HEX_LEN);
}

static unsigned hex_value(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

void aml_sha256_to_bin(const char *hex, unsigned char bin[32])
{
	for (size_t i = 0; i < AML_SHA256_HEX_LEN / 2; i++)
		bin[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 |
					 hex_value(hex[2 * i + 1]));
}

void aml_sha256_to_hex(const unsigned char bin[32],
		       char hex[AML_SHA256_HEX_LEN + 1])
{
	to_hex(bin, AML_SHA256_HEX_LEN / 2, hex);
}

/* ---- SipHash-2-4 (Aumasson and Bernstein, 2012) ---- */

static uint64_t load64_le(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t rotl64(uint64_t x, unsigned b)
{
	return x << b | x >> (64 - b);
}

#define SIPROUND                                                         \
	do {                                                             \
		v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0;                 \
		v0 = rotl64(v0, 32);                                     \
		v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                 \
		v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                 \
		v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2;                 \
		v2 = rotl64(v2, 32);                                     \
	} while (0)

uint64_t aml_siphash24(const void *data, size_t len,
		       const unsigned char key[16])
{
	const unsigned char *in = data, *end = in + (len - len % 8);
	uint64_t k0 = load64_le(key), k1 = load64_le(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56;

	for (; in != end; in += 8) {
		uint64_t m = load64_le(in);

		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t i = len % 8; i > 0; i--)
		b |= (uint64_t)in[i - 1] << (8 * (i - 1));
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
