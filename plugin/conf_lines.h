/*
 * conf_lines.h: slurm.conf's lexical rules, one logical line at a time.
 *
 * aml.conf is written in slurm.conf's own style, so it is read by the same
 * rules, as Slurm's parse_config.c has them: '#' starts a comment anywhere,
 * even inside quotes, unless escaped as "\#"; a line whose last character
 * (ignoring blanks and a comment) is an unescaped '\' continues on the
 * next one, joined without a separator; '\' escapes the next character; a
 * value in double quotes may hold blanks.  A logical line is a list of
 * blank-separated tokens, each "Key=Value" or a bare word.
 *
 * The reader knows no keys: what a token means is its caller's (site.h).
 */
#ifndef AML_CONF_LINES_H
#define AML_CONF_LINES_H

#include <stddef.h>

struct aml_conf_token {
	char *text;        /* the whole token, quotes and escapes removed */
	size_t key_len;    /* bytes before the '=' (all of them without one) */
	char *value;       /* after the '=', or NULL when there is none */
	int line;          /* physical line the token starts on, from 1 */
	int unterminated;  /* a '"' was opened and never closed */
};

/*
 * Called for every physical line holding a NUL byte, with its number: the
 * text is not text (or was cut by a tool that thought so), and the logical
 * line it belongs to is then [poisoned].
 */
typedef void aml_conf_nul_line(void *ctx, int line);

struct aml_conf_reader {
	const char *p, *end;
	int line;          /* the physical line [p] is on */
	int poisoned;      /* the last logical line held a NUL byte */
	char *out;         /* token text; len + 1 bytes always suffice */
	size_t used;
	struct aml_conf_token *toks;  /* the last logical line's tokens */
	size_t n_toks, cap_toks;
	aml_conf_nul_line *on_nul;
	void *ctx;
};

/*
 * Start reading the [len] bytes at [text] (kept, not copied: they must
 * outlive the reader).  [on_nul] (may be NULL) gets [ctx].  Returns 0, or
 * -1 when memory runs out (nothing to free then).
 */
int aml_conf_reader_init(struct aml_conf_reader *r, const char *text,
			 size_t len, aml_conf_nul_line *on_nul, void *ctx);

/*
 * Read the next logical line into r->toks (r->n_toks of them, possibly 0
 * for a blank or comment line).  Returns 1, 0 at the end of the input, or
 * -1 when memory runs out.  The tokens' text stays valid until
 * aml_conf_reader_free, so a caller may keep a token across lines.
 */
int aml_conf_read_line(struct aml_conf_reader *r);

void aml_conf_reader_free(struct aml_conf_reader *r);

#endif
