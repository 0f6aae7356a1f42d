/*
 * text.h: a growing string, shell quoting, and text from elsewhere made
 * safe to show.
 *
 * Several parts of the core build text piece by piece (the canonical JSON of
 * a subtree, a resolved v2 command, the sbatch options); this is the one
 * buffer they share.  It remembers running out of memory, so a builder
 * appends without checking each step and asks once at the end.
 */
#ifndef AML_TEXT_H
#define AML_TEXT_H

#include <stdarg.h>
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

/* "[name]=[value]" (a NULL value as ""), an entry of an environment;
 * malloc'd, NULL when memory runs out. */
char *aml_env_pair(const char *name, const char *value);

/* The value of the first "[name]=" among the [n] entries of [env] (NULL
 * entries skipped), pointing into it; NULL when there is none. */
const char *aml_env_value(char *const *env, size_t n, const char *name);
/* The finished string, which the caller frees; "" when nothing was added.
 * NULL (and everything released) when memory ran out at any point. */
char *aml_text_finish(struct aml_text *t);

/* [n] words joined by blanks, each quoted as above; malloc'd, NULL when
 * memory runs out.  For showing an argument vector to a person. */
char *aml_shell_words(char *const *words, size_t n);

/*
 * Text from elsewhere (run history, a server, a file name, a value in a
 * run configuration or aml.conf: anything another user may have chosen)
 * as it may be shown on a terminal or put in a one-line message.  One rule
 * everywhere: C0 controls, DEL and bytes that are not UTF-8 (utf8.h) as
 * \xNN; the C1 controls U+0080-U+009F, the bidirectional formatting
 * characters (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069), the
 * line and paragraph separators U+2028-U+2029 and U+FEFF as \uNNNN; a
 * backslash doubled, so an escape always means the character was there;
 * between quotes, a '"' as \"; everything else as it is.  Shown raw, a
 * newline would forge a second line of a log, ESC [ 2 J clear another
 * user's screen, OSC 52 write their clipboard, and U+202E make a value
 * read as another.
 *
 * In a message a value is cut to the caller's buffer, so one value
 * cannot flood a line: the cut is marked "..." (inside the quotes), and
 * never falls in the middle of an escape or a character.  A buffer too
 * small for even the cut form gets "".
 */

/* [s] shown, into [buf] of [len] bytes. */
void aml_text_escape(const char *s, char *buf, size_t len);

/* The [n] bytes at [s] (NULs included, shown as \x00) shown, into [buf]
 * of [len] bytes. */
void aml_text_escape_n(const char *s, size_t n, char *buf, size_t len);

/* The [n] bytes at [s] shown between double quotes, into [buf] of [len]
 * bytes; returns [buf], to be an argument of the message. */
const char *aml_text_quote(const char *s, size_t n, char *buf, size_t len);

/* Append [s] shown, whole. */
void aml_text_add_shown(struct aml_text *t, const char *s);

/* Columns [s] takes once shown, one a character (wide and combining
 * characters are not told apart), for aligning a table. */
size_t aml_text_shown_width(const char *s);

/*
 * printf into [t] for text made of values from elsewhere: every %s
 * argument is shown (a NULL one as "(null)"), its width and precision
 * counted in columns of the shown form, so a table stays aligned; the
 * format is the caller's own and is added as it is.  Conversions: %s, %c,
 * %d %i %u %o %x %X (hh h l ll z j t), %e %f %g (L), %%, with flags,
 * width and precision, '*' included; any other conversion is added as
 * "?" and ends the text, since the arguments after it cannot be read.
 */
void aml_text_vprintf_shown(struct aml_text *t, const char *fmt, va_list ap);
void aml_text_printf_shown(struct aml_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Append the JSON text [json] (a JSON encoder's output) with what the
 * encoder left raw in its strings escaped in JSON's own form: DEL, C1 and
 * bidirectional controls as \uNNNN, and a byte that is not UTF-8 as
 * \ufffd, which also keeps the text valid JSON.  cJSON escapes C0 and
 * nothing else; its layout (newlines, tabs) stays as it is.
 */
void aml_text_add_shown_json(struct aml_text *t, const char *json);

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

/* ASCII letters and digits only: isalpha and isdigit follow the locale,
 * and a URL, a key or a number is ASCII under every locale. */
static inline int aml_ascii_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int aml_ascii_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/*
 * Order [alen] bytes at [a] against [blen] bytes at [b] as strcmp orders
 * strings (bytes unsigned, a prefix first): <0, 0 or >0.  For names cut
 * out of longer text ("NAME=value", "${{inputs.NAME}}") searched in a
 * list sorted with strcmp.
 */
int aml_compare_n(const char *a, size_t alen, const char *b, size_t blen);

/*
 * [text] as a plain decimal (digits only: no sign, blank or prefix, as
 * Slurm and the plugin write numbers) of at most [max], into [*out].
 * Returns 0, or -1 when it is empty, not one, or larger.
 */
int aml_parse_decimal(const char *text, unsigned long max,
		      unsigned long *out);

#endif
