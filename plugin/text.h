/*
 * text.h: a growing string, and shell quoting.
 *
 * Several parts of the core build text piece by piece (the canonical JSON of
 * a subtree, a resolved v2 command, the sbatch options); this is the one
 * buffer they share.  It remembers running out of memory, so a builder
 * appends without checking each step and asks once at the end.
 */
#ifndef AML_TEXT_H
#define AML_TEXT_H

#include <stddef.h>

struct aml_text {
	char *data;   /* NUL-terminated once anything was added; may be NULL */
	size_t len;
	size_t cap;
	int oom;      /* an append failed: the text is incomplete */
};

#define AML_TEXT_INIT { NULL, 0, 0, 0 }

/* Append [n] bytes of [s] (may contain NULs).  On failure sets t->oom;
 * later appends do nothing. */
void aml_text_add(struct aml_text *t, const char *s, size_t n);

/* Append the NUL-terminated [s]. */
void aml_text_str(struct aml_text *t, const char *s);

/* Append [word] as one POSIX shell word: as is when every character is
 * one a shell takes literally ([A-Za-z0-9_./:=,@%+-]), else in single
 * quotes with each ' written as '\''.  The empty word becomes ''. */
void aml_text_shell_word(struct aml_text *t, const char *word);

/* strdup that keeps NULL as NULL, for optional fields copied in a row:
 * sets *[oom] when a copy fails, so the caller checks once at the end. */
char *aml_strdup_opt(const char *s, int *oom);

/* The finished string, which the caller frees; "" when nothing was added.
 * NULL (and everything released) when memory ran out at any point. */
char *aml_text_finish(struct aml_text *t);

/* [n] words joined by blanks, each quoted as above; malloc'd, NULL when
 * memory runs out.  For showing an argument vector to a person. */
char *aml_shell_words(char *const *words, size_t n);

/*
 * [s] for a message, into [buf] of [len] bytes: control characters and
 * bytes that are not UTF-8 as \xNN, a backslash doubled, and cut with
 * "..." when it does not fit.  File names can hold anything; shown raw, a
 * newline in one would forge a second line of a log.
 */
void aml_text_escape(const char *s, char *buf, size_t len);

/*
 * [bytes] for people: "512 bytes", "1.5 KiB", "300.0 MiB" (binary units,
 * one decimal), into [buf] of [len] bytes.
 */
void aml_format_bytes(unsigned long long bytes, char *buf, size_t len);

/*
 * Case-insensitive comparison, ASCII only: strcasecmp follows the locale,
 * and a keyword ("UNLIMITED", "Completed", "CANCELLED") must not stop
 * matching under a Turkish one, where "I" and "i" are different letters.
 * aml_ascii_ieq_n compares the [n] bytes at [a] with all of [b].
 */
int aml_ascii_lower(int c);
int aml_ascii_ieq(const char *a, const char *b);
int aml_ascii_ieq_n(const char *a, size_t n, const char *b);

/*
 * Order [alen] bytes at [a] against [blen] bytes at [b] as strcmp orders
 * strings (bytes unsigned, a prefix first): <0, 0 or >0.  For names cut
 * out of longer text ("NAME=value", "${{inputs.NAME}}") searched in a
 * list sorted with strcmp.
 */
int aml_compare_n(const char *a, size_t alen, const char *b, size_t blen);

#endif
