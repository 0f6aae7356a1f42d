/*
 * hash.h: SHA-256 for content addresses, through OpenSSL's libcrypto,
 * and SipHash for hash tables keyed by what users choose.
 *
 * Snapshots name every blob and manifest by the SHA-256 of its bytes, in
 * lower-case hex, so that a corrupted or substituted file is detected
 * wherever it is read.
 */
#ifndef AML_HASH_H
#define AML_HASH_H

#include <stddef.h>
#include <stdint.h>

#define AML_SHA256_HEX_LEN 64  /* hex digits, without the NUL */

struct aml_sha256 {
	void *ctx; /* EVP_MD_CTX, kept opaque so callers need no OpenSSL */
};

/* Start a digest.  Returns 0, or -1 when libcrypto fails (out of memory). */
int aml_sha256_init(struct aml_sha256 *h);

/* Add [len] bytes.  Returns 0, or -1. */
int aml_sha256_update(struct aml_sha256 *h, const void *data, size_t len);

/* Finish into [hex] (65 bytes: 64 digits and a NUL) and release the
 * context.  Returns 0, or -1. */
int aml_sha256_final(struct aml_sha256 *h, char hex[AML_SHA256_HEX_LEN + 1]);

/* Release a digest that will not be finished. */
void aml_sha256_abort(struct aml_sha256 *h);

/* The digest of one buffer.  Returns 0, or -1. */
int aml_sha256_buffer(const void *data, size_t len,
		      char hex[AML_SHA256_HEX_LEN + 1]);

/* Non-zero when [hex] is exactly 64 lower-case hex digits. */
int aml_sha256_is_hex(const char *hex);

/* Non-zero when [s] is exactly [n] lower-case hex digits and ends there
 * (the name of a snapshot store's blob, or of its directory). */
int aml_hex_is_lower(const char *s, size_t n);

/* The 32 bytes that [hex], which aml_sha256_is_hex accepts (or its first
 * 64 digits, which aml_hex_is_lower accepts), stands for. */
void aml_sha256_to_bin(const char *hex, unsigned char bin[32]);

/* The 64 lower-case hex digits of [bin], NUL-terminated, into [hex]. */
void aml_sha256_to_hex(const unsigned char bin[32],
		       char hex[AML_SHA256_HEX_LEN + 1]);

/*
 * SipHash-2-4 of [len] bytes under the secret [key], for hash tables
 * whose keys a user chooses (run ids in the controller): without the
 * key, nobody can pick keys that share a bucket and turn lookups into
 * scans.  Not a content hash; plain C, no libcrypto.
 */
uint64_t aml_siphash24(const void *data, size_t len,
		       const unsigned char key[16]);

#endif
