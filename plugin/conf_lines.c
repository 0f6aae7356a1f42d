/*
 * conf_lines.c: slurm.conf's lexical rules (contract in conf_lines.h).
 */
#include "conf_lines.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Called at the start of every physical line. */
static void check_physical_line(struct aml_conf_reader *r)
{
	const char *eol = memchr(r->p, '\n', (size_t)(r->end - r->p));

	if (!eol)
		eol = r->end;
	if (memchr(r->p, '\0', (size_t)(eol - r->p))) {
		if (r->on_nul)
			r->on_nul(r->ctx, r->line);
		r->poisoned = 1;
	}
}

static long open_token(struct aml_conf_reader *r)
{
	struct aml_conf_token *t;

	if (r->n_toks == r->cap_toks) {
		size_t cap = r->cap_toks ? r->cap_toks * 2 : 16;
		struct aml_conf_token *grown;

		grown = realloc(r->toks, cap * sizeof(*grown));
		if (!grown)
			return -1;
		r->toks = grown;
		r->cap_toks = cap;
	}
	t = &r->toks[r->n_toks];
	t->text = r->out + r->used;
	t->key_len = 0;
	t->value = NULL;
	t->line = r->line;
	t->unterminated = 0;
	return (long)r->n_toks++;
}

static void close_token(struct aml_conf_reader *r, long tok, size_t eq,
			int in_quote)
{
	struct aml_conf_token *t = &r->toks[tok];

	r->out[r->used++] = '\0';
	t->unterminated = in_quote;
	if (eq != SIZE_MAX) {
		t->key_len = eq;
		t->value = t->text + eq + 1;
	} else {
		t->key_len = strlen(t->text);
	}
}

int aml_conf_reader_init(struct aml_conf_reader *r, const char *text,
			 size_t len, aml_conf_nul_line *on_nul, void *ctx)
{
	memset(r, 0, sizeof(*r));
	/* Every token byte comes from a text byte, and each token's NUL
	 * from at least one more (a blank, a newline, or the end). */
	r->out = malloc(len + 1);
	if (!r->out)
		return -1;
	r->p = text ? text : "";
	r->end = r->p + (text ? len : 0);
	r->line = 1;
	r->on_nul = on_nul;
	r->ctx = ctx;
	return 0;
}

int aml_conf_read_line(struct aml_conf_reader *r)
{
	long tok = -1;
	size_t eq = SIZE_MAX;   /* offset of the separating '=' in tok */
	int in_quote = 0;

	r->n_toks = 0;
	r->poisoned = 0;
	if (r->p >= r->end)
		return 0;
	check_physical_line(r);
	while (r->p < r->end) {
		char c = *r->p;

		if (c == '\n') {
			r->p++;
			r->line++;
			break;
		}
		if (c == '#') {
			const char *nl = memchr(r->p, '\n',
						(size_t)(r->end - r->p));

			r->p = nl ? nl : r->end;
			continue;
		}
		if (c == '\\') {
			const char *q = r->p + 1;

			while (q < r->end && is_blank(*q))
				q++;
			/* "\#" is an escaped '#', "\ #" a comment. */
			if (q == r->end || *q == '\n' ||
			    (*q == '#' && q > r->p + 1)) {
				const char *nl = memchr(q, '\n',
							(size_t)(r->end - q));

				if (!nl) {
					r->p = r->end;
					break;
				}
				r->p = nl + 1;
				r->line++;
				check_physical_line(r);
				continue;
			}
			if (tok < 0 && (tok = open_token(r)) < 0)
				return -1;
			r->out[r->used++] = r->p[1];
			r->p += 2;
			continue;
		}
		if (c == '"') {
			if (tok < 0 && (tok = open_token(r)) < 0)
				return -1;
			in_quote = !in_quote;
			r->p++;
			continue;
		}
		if (!in_quote && is_blank(c)) {
			if (tok >= 0) {
				close_token(r, tok, eq, 0);
				tok = -1;
				eq = SIZE_MAX;
			}
			r->p++;
			continue;
		}
		if (tok < 0 && (tok = open_token(r)) < 0)
			return -1;
		if (c == '=' && !in_quote && eq == SIZE_MAX)
			eq = (size_t)(r->out + r->used - r->toks[tok].text);
		r->out[r->used++] = c;
		r->p++;
	}
	if (tok >= 0)
		close_token(r, tok, eq, in_quote);
	return 1;
}

void aml_conf_reader_free(struct aml_conf_reader *r)
{
	free(r->toks);
	free(r->out);
	memset(r, 0, sizeof(*r));
}
