/*
 * utf8.h: the one UTF-8 validator of the core, strict RFC 3629.
 *
 * Valid means: no overlong form ("\xc0\xaf" for '/'), no UTF-16 surrogate
 * (U+D800-U+DFFF), nothing past U+10FFFF, no sequence cut short by the
 * end of the bytes.  Every reader of text from elsewhere (a run
 * configuration, a manifest, a line of events.jsonl, a server's answer, a
 * value shown in a message) judges it by this one rule, so a byte sequence
 * one part accepts is never refused, or shown differently, by another.
 * A NUL byte is a valid character here; whether it is allowed is the
 * caller's rule.
 */
#ifndef AML_UTF8_H
#define AML_UTF8_H

#include <stddef.h>

/* The largest code point and the longest sequence. */
#define AML_UTF8_MAX_CODE_POINT 0x10ffffu
#define AML_UTF8_MAX_LEN 4

/*
 * Length (1 to 4) of the valid character that starts at [p], of which
 * [n] bytes may be read; 0 when [n] is 0 or the bytes at [p] do not start
 * a valid character.  Reads no byte past [p] + [n].
 */
size_t aml_utf8_length(const unsigned char *p, size_t n);

/*
 * Offset of the first byte of [p] ([n] bytes) that does not start a valid
 * character, or [n] when all of it is valid UTF-8.  Fast on ASCII, for
 * whole documents.
 */
size_t aml_utf8_invalid_at(const unsigned char *p, size_t n);

/*
 * The code point of the valid [len]-byte character at [p] ([len] as
 * aml_utf8_length returned it: undefined for anything else).
 */
unsigned aml_utf8_decode(const unsigned char *p, size_t len);

/*
 * Write [cp] (at most AML_UTF8_MAX_CODE_POINT, not a surrogate) as UTF-8
 * at [out], which has room for AML_UTF8_MAX_LEN bytes; returns the bytes
 * written.
 */
size_t aml_utf8_encode(unsigned cp, char *out);

#endif
