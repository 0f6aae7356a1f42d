/*
 * env_spec.c: a conda environment specification read, checked, and
 * written for the builders (env_spec.h).
 *
 * conda's rules followed here were read in its source and documentation:
 *   - conda/models/match_spec.py (_parse_spec_str): the package name ends
 *     at the first of " =<>!~"; then a version that starts with "==" loses
 *     it (exact), one that starts with a lone '=' and holds none of "=,|"
 *     becomes "X*" (the versions X begins), and any other is kept as is.
 *   - conda/models/version.py (VersionSpec): ',' binds before '|'; a
 *     version without an operator and without '*' is exact ("=="), with
 *     '*' at its end a prefix; "=X" is a prefix; ".*" after "=", ">=" is
 *     dropped, after "!=" makes "not this prefix", after any other
 *     operator is an error; a '*' inside a version is a pattern, which is
 *     not read here.
 * The command lines of the three conda-compatible programs: see
 * aml_env_conda_argv below.
 */
#include "env_spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "doc.h"
#include "suggest.h"
#include "text.h"

#define WHERE_MAX 512

/* ---- versions and constraints ---- */

enum version_op {
	OP_ANY,        /* "*" */
	OP_PREFIX,     /* the versions X begins: "3.10" is 3.10.x */
	OP_EQ,         /* "==X" */
	OP_NE,         /* "!=X" */
	OP_NE_PREFIX,  /* "!=X.*" */
	OP_GE, OP_LE, OP_GT, OP_LT,
};

struct atom {
	enum version_op op;
	const char *version;  /* digits and dots, no '*' */
	size_t len;
};

/* A python version as platform.python_version() prints it: dotted
 * numbers, then perhaps a pre-release tag. */
struct pyversion {
	const char *numbers;
	size_t len;
	int prerelease;
};

/* Whether [n] bytes at [s] are digits separated by single dots. */
static int is_dotted(const char *s, size_t n)
{
	int digit_before = 0;

	for (size_t i = 0; i < n; i++) {
		if (aml_ascii_is_digit((unsigned char)s[i]))
			digit_before = 1;
		else if (s[i] == '.' && digit_before)
			digit_before = 0;
		else
			return 0;
	}
	return digit_before;
}

/* The next component of a dotted version at *[p] (before [end]), without
 * its leading zeros; a version that has ended gives "" (read as 0).
 * Numbers are compared as text so no length overflows. */
static void next_component(const char **p, const char *end,
			   const char **digits, size_t *n)
{
	const char *s = *p;

	while (s < end && *s == '0')
		s++;
	*digits = s;
	while (s < end && *s != '.')
		s++;
	*n = (size_t)(s - *digits);
	*p = s < end ? s + 1 : s;
}

static int compare_component(const char *a, size_t an, const char *b,
			     size_t bn)
{
	if (an != bn)
		return an < bn ? -1 : 1;
	return an ? memcmp(a, b, an) : 0;
}

/* [a] against [b], component by component, a missing one as 0
 * (conda: 3.10 == 3.10.0). */
static int compare_dotted(const char *a, size_t an, const char *b,
			  size_t bn)
{
	const char *pa = a, *pb = b, *ea = a + an, *eb = b + bn;

	while (pa < ea || pb < eb) {
		const char *da, *db;
		size_t na, nb;
		int c;

		next_component(&pa, ea, &da, &na);
		next_component(&pb, eb, &db, &nb);
		c = compare_component(da, na, db, nb);
		if (c)
			return c;
	}
	return 0;
}

/* Whether [v]'s first components are all of [x]'s. */
static int begins_with(const struct pyversion *v, const char *x, size_t xn)
{
	const char *pv = v->numbers, *ev = v->numbers + v->len;
	const char *px = x, *ex = x + xn;

	while (px < ex) {
		const char *dv, *dx;
		size_t nv, nx;

		if (pv >= ev)
			return 0;
		next_component(&pv, ev, &dv, &nv);
		next_component(&px, ex, &dx, &nx);
		if (compare_component(dv, nv, dx, nx))
			return 0;
	}
	return 1;
}

static int compare_version(const struct pyversion *v, const char *x,
			   size_t xn)
{
	int c = compare_dotted(v->numbers, v->len, x, xn);

	/* A pre-release comes before its release. */
	return c ? c : v->prerelease ? -1 : 0;
}

static int atom_holds(const struct atom *a, const struct pyversion *v)
{
	switch (a->op) {
	case OP_ANY:
		return 1;
	case OP_PREFIX:
		return begins_with(v, a->version, a->len);
	case OP_NE_PREFIX:
		return !begins_with(v, a->version, a->len);
	case OP_EQ:
		return compare_version(v, a->version, a->len) == 0;
	case OP_NE:
		return compare_version(v, a->version, a->len) != 0;
	case OP_GE:
		return compare_version(v, a->version, a->len) >= 0;
	case OP_LE:
		return compare_version(v, a->version, a->len) <= 0;
	case OP_GT:
		return compare_version(v, a->version, a->len) > 0;
	case OP_LT:
		return compare_version(v, a->version, a->len) < 0;
	}
	return 0;
}

/*
 * Read one constraint term, the [n] bytes at [s] (already trimmed).
 * [bare_exact]: a version without operator or '*' is exact, as conda's
 * VersionSpec reads it; otherwise a prefix, as after "python=".
 */
static int read_atom(const char *s, size_t n, int bare_exact,
		     struct atom *a, char *errbuf, size_t errlen)
{
	static const struct {
		const char *text;
		enum version_op op;
	} ops[] = {
		{ "==", OP_EQ }, { "!=", OP_NE }, { ">=", OP_GE },
		{ "<=", OP_LE }, { "<", OP_LT }, { ">", OP_GT },
		{ "=", OP_PREFIX },
	};
	const char *v = s;
	size_t vn = n;
	int star = 0, has_op = 0;

	a->op = OP_ANY;
	a->version = s;
	a->len = 0;
	if (n == 1 && s[0] == '*')
		return 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
		size_t len = strlen(ops[i].text);

		if (n >= len && !memcmp(s, ops[i].text, len)) {
			a->op = ops[i].op;
			v += len;
			vn -= len;
			has_op = 1;
			break;
		}
	}
	if (vn >= 2 && v[vn - 2] == '.' && v[vn - 1] == '*') {
		star = 1;
		vn -= 2;
	} else if (vn >= 1 && v[vn - 1] == '*') {
		star = 1;
		vn -= 1;
	}
	if (!is_dotted(v, vn))
		return aml_fail(errbuf, errlen,
				"\"%.*s\" is not a version (digits separated by dots, perhaps ending in \".*\", after one of == != >= <= > < =)",
				(int)n, s);
	a->version = v;
	a->len = vn;
	if (!has_op)
		a->op = star || !bare_exact ? OP_PREFIX : OP_EQ;
	else if (star && a->op == OP_NE)
		a->op = OP_NE_PREFIX;
	else if (star && a->op != OP_PREFIX && a->op != OP_GE)
		/* conda drops ".*" after '=' and ">=", refuses it after the
		 * others. */
		return aml_fail(errbuf, errlen,
				"\"%.*s\" means nothing to conda: '*' only after =, >= or !=",
				(int)n, s);
	return 0;
}

/* How a term is written: in the canonical form (a prefix as "X"), or for
 * conda after "python " (a prefix as "X.*"). */
enum atom_out { OUT_CANONICAL, OUT_CONDA };

static void write_atom(struct aml_text *t, const struct atom *a,
		       enum atom_out out)
{
	static const char *const op_text[] = {
		[OP_ANY] = "", [OP_PREFIX] = "", [OP_EQ] = "==",
		[OP_NE] = "!=", [OP_NE_PREFIX] = "!=", [OP_GE] = ">=",
		[OP_LE] = "<=", [OP_GT] = ">", [OP_LT] = "<",
	};

	if (a->op == OP_ANY) {
		aml_text_str(t, "*");
		return;
	}
	aml_text_str(t, op_text[a->op]);
	aml_text_add(t, a->version, a->len);
	if (a->op == OP_NE_PREFIX || (a->op == OP_PREFIX && out == OUT_CONDA))
		aml_text_str(t, ".*");
}

static int is_blank(char c)
{
	return c == ' ';
}

/*
 * Walk the constraint [text]: every term is read (so one that cannot be
 * read fails the whole, wherever it is), written to [t] when it is not
 * NULL, and tested against [v] when it is not NULL.  Returns 1 when [v]
 * satisfies it (or [v] is NULL), 0 when not, -1 with [errbuf] when a term
 * cannot be read.
 */
static int walk_constraint(const char *text, int bare_exact,
			   const struct pyversion *v, struct aml_text *t,
			   enum atom_out out, char *errbuf, size_t errlen)
{
	const char *p = text;
	int any_branch = 0, branch = 1;

	for (;;) {
		const char *end = p + strcspn(p, ",|");
		const char *s = p, *e = end;
		struct atom a;

		while (s < e && is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			e--;
		if (s == e)
			return aml_fail(errbuf, errlen,
					"an empty term in \"%s\"", text);
		if (read_atom(s, (size_t)(e - s), bare_exact, &a, errbuf,
			      errlen) < 0)
			return -1;
		if (t)
			write_atom(t, &a, out);
		if (v && !atom_holds(&a, v))
			branch = 0;
		if (*end == '\0')
			break;
		if (*end == '|') {
			any_branch |= branch;
			branch = 1;
		}
		if (t)
			aml_text_add(t, end, 1);
		p = end + 1;
	}
	return any_branch | branch;
}

/* The characters a python constraint may hold: no build strings,
 * channels, brackets or patterns. */
static const char constraint_chars[] = "0123456789.*<>=!,| ";

static int read_pyversion(const char *version, struct pyversion *v)
{
	size_t n = strlen(version), num;

	if (n && version[n - 1] == '+')
		n--;  /* an unreleased build of that version */
	num = strspn(version, "0123456789.");
	if (num > n)
		num = n;
	v->numbers = version;
	v->len = num;
	v->prerelease = num < n;
	if (!is_dotted(version, num))
		return -1;
	if (num < n) {
		const char *tag = version + num;

		if (!strncmp(tag, "rc", 2))
			tag += 2;
		else if (*tag == 'a' || *tag == 'b')
			tag++;
		else
			return -1;
		if (tag == version + n ||
		    strspn(tag, "0123456789") != (size_t)(version + n - tag))
			return -1;
	}
	return 0;
}

int aml_env_python_matches(const char *constraint, const char *version,
			   char *errbuf, size_t errlen)
{
	struct pyversion v;

	if (!version || read_pyversion(version, &v) < 0)
		return aml_fail(errbuf, errlen,
				"cannot read python version \"%s\" (expected digits separated by dots, as 3.11.2 or 3.13.0rc1)",
				version ? version : "(null)");
	if (!constraint)
		return 1;
	if (constraint[strspn(constraint, constraint_chars)])
		return aml_fail(errbuf, errlen,
				"cannot read python constraint \"%s\": only digits, '.', '*', the operators == != >= <= > < = and ',' '|' are allowed",
				constraint);
	return walk_constraint(constraint, 0, &v, NULL, OUT_CANONICAL,
			       errbuf, errlen);
}

/* ---- reading ---- */

struct reader {
	const char *field;
	struct aml_errors *errs;
	struct aml_env_spec *spec;
	char python_at[WHERE_MAX];  /* where python was listed, or "" */
	size_t pip_list_at;         /* index of the pip list + 1, or 0 */
};

/* "<field><suffix>" into [buf], for a message. */
static const char *where(char buf[WHERE_MAX], const struct reader *r,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static const char *where(char buf[WHERE_MAX], const struct reader *r,
			 const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, WHERE_MAX, "%s", r->field);

	if (n < 0 || n >= WHERE_MAX)
		return buf;
	va_start(ap, fmt);
	vsnprintf(buf + n, WHERE_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	return buf;
}

static void type_error(struct reader *r, const char *at,
		       const struct aml_node *node, const char *expected)
{
	char shown[96];

	aml_doc_describe(node, shown, sizeof(shown));
	aml_errors_add(r->errs, at, "must be %s, got %s", expected, shown);
}

static void oom(struct reader *r, const char *at)
{
	aml_errors_add(r->errs, at, "out of memory");
}

/*
 * The string [node] trimmed, as a malloc'd copy; NULL after reporting why
 * it is not one.  Printable ASCII only: a package, a channel or a
 * requirement is ASCII, and anything else (a line break, a NUL, a
 * character a YAML reader takes for a line break) could mean one thing
 * here and another to conda or pip.
 */
static char *item_text(struct reader *r, const struct aml_node *node,
		       const char *at, const char *what)
{
	const char *s, *e;
	char shown[96];
	char *copy;

	if (node->type != AML_NODE_STRING) {
		type_error(r, at, node, what);
		return NULL;
	}
	if (node->len > AML_ENV_SPEC_MAX_ITEM) {
		aml_errors_add(r->errs, at,
			       "%zu bytes, at most %d in one item of an environment specification",
			       node->len, AML_ENV_SPEC_MAX_ITEM);
		return NULL;
	}
	for (size_t i = 0; i < node->len; i++) {
		unsigned char c = (unsigned char)node->text[i];

		if (c < 0x20 || c > 0x7e) {
			aml_doc_describe(node, shown, sizeof(shown));
			aml_errors_add(r->errs, at,
				       "must be printable ASCII on one line, got %s",
				       shown);
			return NULL;
		}
	}
	s = node->text;
	e = node->text + node->len;
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	if (s == e) {
		aml_errors_add(r->errs, at, "must not be empty");
		return NULL;
	}
	copy = strndup(s, (size_t)(e - s));
	if (!copy)
		oom(r, at);
	return copy;
}

static void push(struct reader *r, struct aml_strlist *list, char *item,
		 const char *at)
{
	if (aml_strlist_push(list, item) < 0)
		oom(r, at);
	free(item);
}

/*
 * python's version constraint, the text after the name in [item], as
 * conda reads it, into the canonical form (env_spec.h).
 */
static void read_python(struct reader *r, const char *item,
			const char *rest, const char *at)
{
	struct aml_text t = AML_TEXT_INIT;
	char err[256], *version = NULL;
	const char *read;
	size_t n;

	if (rest[strspn(rest, constraint_chars)]) {
		aml_errors_add(r->errs, at,
			       "python's version constraint may hold only digits, '.', '*', the operators == != >= <= > < = and ',' '|' (no build string or channel), got \"%s\"",
			       item);
		return;
	}
	while (is_blank(*rest))
		rest++;
	n = strlen(rest);
	if (n == 0) {
		read = "*";
	} else if (rest[0] == '=' && rest[1] == '=') {
		read = rest + 2;
	} else if (rest[0] == '=' && !strpbrk(rest + 1, "=,|") &&
		   rest[1] != '\0') {
		/* "=X" is "X*"; written so, as conda rewrites it. */
		if (asprintf(&version, "%s%s", rest + 1,
			     rest[n - 1] == '*' ? "" : "*") < 0) {
			version = NULL;
			oom(r, at);
			return;
		}
		read = version;
	} else {
		read = rest;
	}
	if (walk_constraint(read, 1, NULL, &t, OUT_CANONICAL, err,
			    sizeof(err)) < 0) {
		aml_errors_add(r->errs, at,
			       "cannot read python's version constraint in \"%s\": %s",
			       item, err);
		free(version);
		free(aml_text_finish(&t));
		return;
	}
	free(version);
	r->spec->python = aml_text_finish(&t);
	if (!r->spec->python)
		oom(r, at);
	snprintf(r->python_at, sizeof(r->python_at), "%s", at);
}

/* A conda dependency: python, pip, or a package. */
static void read_conda_item(struct reader *r, const struct aml_node *node,
			    size_t index)
{
	char at[WHERE_MAX];
	char *item;
	size_t name;

	where(at, r, ".dependencies[%zu]", index);
	item = item_text(r, node, at,
			 "a conda package (a string) or a pip list ({pip: [...]})");
	if (!item)
		return;
	/* conda's MatchSpec: the name ends at the first of these. */
	name = strcspn(item, " =<>!~");
	if (name == 6 && !memcmp(item, "python", 6)) {
		if (r->python_at[0])
			aml_errors_add(r->errs, at,
				       "python is listed twice (first at %s), got \"%s\"",
				       r->python_at, item);
		else
			read_python(r, item, item + name, at);
		free(item);
		return;
	}
	if (name == 3 && !memcmp(item, "pip", 3)) {
		r->spec->pip_listed = 1;
		free(item);
		return;
	}
	push(r, &r->spec->conda, item, at);
}

/*
 * A pip requirement must be a package from the site's index, named as in
 * PEP 508 ("torch==2.1.0", "mypkg[extra]==1.0", "pkg; python_version <
 * '3.11'"): the run chooses what, never where from.  pip reads options
 * ("-r", "-e", "--index-url", and per-requirement ones after a blank),
 * URLs, VCS references, paths and archive files from the same lines, and
 * each would let a run install what the site's index does not serve.
 */
static void check_pip_item(struct reader *r, const char *item,
			   const char *at)
{
	static const char *const archives[] = {
		".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz",
		".tar.xz", ".txz", ".tar",
	};
	size_t requirement = strcspn(item, ";");
	size_t name = 0;

	for (const char *p = item; *p; p++)
		if (*p == '-' && (p == item || is_blank(p[-1]))) {
			aml_errors_add(r->errs, at,
				       "pip options are the site's (PipOptions in aml.conf), got \"%s\"",
				       item);
			return;
		}
	while (name < requirement &&
	       (aml_ascii_is_alpha((unsigned char)item[name]) ||
		aml_ascii_is_digit((unsigned char)item[name]) ||
		strchr("._-", item[name])))
		name++;
	if (!aml_ascii_is_alpha((unsigned char)item[0]) &&
	    !aml_ascii_is_digit((unsigned char)item[0]))
		goto not_a_package;
	/* ':' and '@' begin URLs and direct references, '/' paths; no
	 * name, version or extra holds them (a marker after ';' may, in a
	 * quoted value).  pip also expands ${NAME} from its environment and
	 * joins a line ending in '\' with the next, anywhere in the line. */
	for (size_t i = 0; i < requirement; i++)
		if (strchr(":@/", item[i]))
			goto not_a_package;
	if (strpbrk(item, "$\\"))
		goto not_a_package;
	for (size_t i = 0; i < sizeof(archives) / sizeof(*archives); i++) {
		size_t n = strlen(archives[i]);

		if (name >= n && aml_ascii_ieq_n(item + name - n, n,
						 archives[i]))
			goto not_a_package;
	}
	return;
not_a_package:
	aml_errors_add(r->errs, at,
		       "only package requirements from the site's package index (a name first, as in torch==2.1.0; no URL, path, VCS reference or archive), got \"%s\"",
		       item);
}

static void read_pip_list(struct reader *r, const struct aml_node *map,
			  size_t index)
{
	const struct aml_node *list = NULL;
	char at[WHERE_MAX];

	if (r->pip_list_at) {
		aml_errors_add(r->errs, where(at, r, ".dependencies[%zu]",
					      index),
			       "a second pip list (the first is dependencies[%zu]); put every pip requirement in one",
			       r->pip_list_at - 1);
		return;
	}
	r->pip_list_at = index + 1;
	for (size_t i = 0; i < map->n_children; i++) {
		const struct aml_node *m = &map->children[i];

		if (!strcmp(m->key, "pip"))
			list = m;
		else
			aml_errors_add(r->errs,
				       where(at, r, ".dependencies[%zu].%s",
					     index, m->key),
				       "unknown key (line %d): a mapping among the dependencies holds only pip",
				       m->line);
	}
	where(at, r, ".dependencies[%zu].pip", index);
	if (!list) {
		/* An unknown key already said what is wrong. */
		if (map->n_children == 0)
			aml_errors_add(r->errs, at,
				       "missing: a mapping among the dependencies is {pip: [requirements]}");
		return;
	}
	if (list->type != AML_NODE_ARRAY) {
		type_error(r, at, list, "a list of pip requirements");
		return;
	}
	for (size_t i = 0; i < list->n_children; i++) {
		char *item;

		where(at, r, ".dependencies[%zu].pip[%zu]", index, i);
		item = item_text(r, &list->children[i], at,
				 "a pip requirement (a string)");
		if (!item)
			continue;
		check_pip_item(r, item, at);
		push(r, &r->spec->pip, item, at);
	}
}

/* Whether [node], the member [key] of the top level, is a list to read:
 * not when it is absent or null, nor after saying it must be [expected]. */
static int is_list(struct reader *r, const struct aml_node *node,
		   const char *key, const char *expected)
{
	char at[WHERE_MAX];

	if (!node || node->type == AML_NODE_NULL)
		return 0;
	if (node->type == AML_NODE_ARRAY)
		return 1;
	type_error(r, where(at, r, ".%s", key), node, expected);
	return 0;
}

static void read_dependencies(struct reader *r, const struct aml_node *deps)
{
	if (!is_list(r, deps, "dependencies",
		     "a list of conda packages and at most one {pip: [...]}"))
		return;
	for (size_t i = 0; i < deps->n_children; i++) {
		const struct aml_node *d = &deps->children[i];

		if (d->type == AML_NODE_OBJECT)
			read_pip_list(r, d, i);
		else
			read_conda_item(r, d, i);
	}
}

static void read_channels(struct reader *r, const struct aml_node *channels)
{
	char at[WHERE_MAX];

	if (!is_list(r, channels, "channels", "a list of channel names"))
		return;
	for (size_t i = 0; i < channels->n_children; i++) {
		char *item;

		where(at, r, ".channels[%zu]", i);
		item = item_text(r, &channels->children[i], at,
				 "a channel name (a string)");
		if (item)
			push(r, &r->spec->channels, item, at);
	}
}

/* Every key of the top level is known, or refused with the reason. */
static void check_keys(struct reader *r, const struct aml_node *root)
{
	static const char *const known[] = { "name", "channels",
					     "dependencies" };
	char at[WHERE_MAX];

	for (size_t i = 0; i < root->n_children; i++) {
		const struct aml_node *m = &root->children[i];
		const char *guess;
		int is_known = 0;

		for (size_t k = 0; k < sizeof(known) / sizeof(*known); k++)
			is_known |= !strcmp(m->key, known[k]);
		if (is_known)
			continue;
		where(at, r, ".%s", m->key);
		if (!strcmp(m->key, "prefix")) {
			aml_errors_add(r->errs, at,
				       "not allowed (line %d): the environment's place is the site's (EnvDir in aml.conf)",
				       m->line);
			continue;
		}
		if (!strcmp(m->key, "variables")) {
			aml_errors_add(r->errs, at,
				       "not supported here (line %d); set the run's environment_variables instead",
				       m->line);
			continue;
		}
		guess = aml_suggest(m->key, known,
				    sizeof(known) / sizeof(*known));
		aml_errors_add(r->errs, at,
			       "unknown key for a conda environment (line %d), which has only name, channels and dependencies%s%s%s",
			       m->line, guess ? "; did you mean \"" : "",
			       guess ? guess : "", guess ? "\"?" : "");
	}
}

/* Items in all, counted before any is read, so a huge list costs no more
 * than its count. */
static size_t count_items(const struct aml_node *channels,
			  const struct aml_node *deps)
{
	size_t n = 0;

	if (channels && channels->type == AML_NODE_ARRAY)
		n += channels->n_children;
	if (!deps || deps->type != AML_NODE_ARRAY)
		return n;
	n += deps->n_children;
	for (size_t i = 0; i < deps->n_children; i++) {
		const struct aml_node *pip =
			aml_doc_get(&deps->children[i], "pip");

		if (pip && pip->type == AML_NODE_ARRAY)
			n += pip->n_children;
	}
	return n;
}

int aml_env_spec_parse(const char *text, size_t len, const char *field,
		       struct aml_env_spec *spec, struct aml_errors *errs)
{
	struct reader r = { .field = field, .errs = errs, .spec = spec };
	const struct aml_node *name, *channels, *deps;
	struct aml_errors doc_errs;
	struct aml_node *root;
	size_t before = errs->count, items;

	memset(spec, 0, sizeof(*spec));
	if (len > AML_ENV_SPEC_MAX_BYTES) {
		aml_errors_add(errs, field,
			       "%zu bytes, at most %d in an environment specification",
			       len, AML_ENV_SPEC_MAX_BYTES);
		return -1;
	}
	aml_errors_init(&doc_errs, NULL);
	root = aml_doc_parse(text, len, AML_DOC_AUTO, &doc_errs);
	for (size_t i = 0; i < doc_errs.count; i++)
		aml_errors_add(errs, field, "%s", doc_errs.lines[i]);
	if (doc_errs.out_of_memory)
		oom(&r, field);
	aml_errors_free(&doc_errs);
	if (!root) {
		if (errs->count == before)
			oom(&r, field);
		return -1;
	}
	if (root->type != AML_NODE_OBJECT) {
		type_error(&r, field, root,
			   "a conda environment: a mapping of name, channels and dependencies");
		goto out;
	}
	check_keys(&r, root);
	name = aml_doc_get(root, "name");
	channels = aml_doc_get(root, "channels");
	deps = aml_doc_get(root, "dependencies");
	if (name && name->type != AML_NODE_NULL &&
	    name->type != AML_NODE_STRING) {
		char at[WHERE_MAX];

		type_error(&r, where(at, &r, ".name"), name,
			   "a string (it is ignored: the site names environments)");
	}
	items = count_items(channels, deps);
	if (items > AML_ENV_SPEC_MAX_ITEMS) {
		aml_errors_add(errs, field,
			       "%zu channels, dependencies and pip requirements, at most %d in all",
			       items, AML_ENV_SPEC_MAX_ITEMS);
		goto out;
	}
	read_channels(&r, channels);
	read_dependencies(&r, deps);
out:
	aml_doc_free(root);
	if (errs->count == before && !errs->out_of_memory)
		return 0;
	aml_env_spec_free(spec);
	return -1;
}

void aml_env_spec_free(struct aml_env_spec *spec)
{
	if (!spec)
		return;
	free(spec->python);
	aml_strlist_free(&spec->channels);
	aml_strlist_free(&spec->conda);
	aml_strlist_free(&spec->pip);
	memset(spec, 0, sizeof(*spec));
}

int aml_env_spec_pip_only(const struct aml_env_spec *spec)
{
	return spec->conda.count == 0;
}

/* ---- writing ---- */

static cJSON *string_array(const struct aml_strlist *list)
{
	cJSON *array = cJSON_CreateArray();

	for (size_t i = 0; array && i < list->count; i++) {
		cJSON *item = cJSON_CreateString(list->items[i]);

		if (!item || !cJSON_AddItemToArray(array, item)) {
			cJSON_Delete(item);
			cJSON_Delete(array);
			return NULL;
		}
	}
	return array;
}

static int add_to(cJSON *object, const char *key, cJSON *value)
{
	if (value && cJSON_AddItemToObject(object, key, value))
		return 0;
	cJSON_Delete(value);
	return -1;
}

char *aml_env_spec_canonical(const struct aml_env_spec *spec)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;

	if (root &&
	    add_to(root, "python", spec->python
			? cJSON_CreateString(spec->python)
			: cJSON_CreateNull()) == 0 &&
	    add_to(root, "channels", string_array(&spec->channels)) == 0 &&
	    add_to(root, "conda", string_array(&spec->conda)) == 0 &&
	    add_to(root, "pip", string_array(&spec->pip)) == 0)
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

/* [s] in double quotes, escaped as JSON, which YAML reads alike: the item
 * can never be taken for YAML syntax ("- pip:", "{", "#"). */
static void add_quoted(struct aml_text *t, const char *s)
{
	cJSON *string = cJSON_CreateString(s);
	char *quoted = string ? cJSON_PrintUnformatted(string) : NULL;

	if (quoted)
		aml_text_str(t, quoted);
	else
		t->oom = 1;
	free(quoted);
	cJSON_Delete(string);
}

static void add_list_item(struct aml_text *t, const char *indent,
			  const char *s)
{
	aml_text_str(t, indent);
	aml_text_str(t, "- ");
	add_quoted(t, s);
	aml_text_str(t, "\n");
}

/* The python dependency as conda reads the canonical constraint. */
static void add_python(struct aml_text *t, const char *constraint)
{
	struct aml_text dep = AML_TEXT_INIT;
	char *text;

	if (!strcmp(constraint, "*")) {
		aml_text_str(&dep, "python");
	} else if (!constraint[strcspn(constraint, ",|<>=!*")]) {
		/* One prefix: conda's own spelling, "python=3.10". */
		aml_text_str(&dep, "python=");
		aml_text_str(&dep, constraint);
	} else {
		/* After a blank, conda reads the version as VersionSpec
		 * does, so each prefix is spelt "X.*". */
		aml_text_str(&dep, "python ");
		walk_constraint(constraint, 0, NULL, &dep, OUT_CONDA, NULL, 0);
	}
	text = aml_text_finish(&dep);
	if (!text) {
		t->oom = 1;
		return;
	}
	add_list_item(t, "  ", text);
	free(text);
}

char *aml_env_spec_conda_yaml(const struct aml_env_spec *spec)
{
	struct aml_text t = AML_TEXT_INIT;
	int any = spec->python || spec->pip_listed || spec->pip.count ||
		  spec->conda.count;

	if (spec->channels.count) {
		aml_text_str(&t, "channels:\n");
		for (size_t i = 0; i < spec->channels.count; i++)
			add_list_item(&t, "  ", spec->channels.items[i]);
	}
	aml_text_str(&t, any ? "dependencies:\n" : "dependencies: []\n");
	if (spec->python)
		add_python(&t, spec->python);
	if (spec->pip_listed || spec->pip.count)
		add_list_item(&t, "  ", "pip");
	for (size_t i = 0; i < spec->conda.count; i++)
		add_list_item(&t, "  ", spec->conda.items[i]);
	if (spec->pip.count) {
		aml_text_str(&t, "  - pip:\n");
		for (size_t i = 0; i < spec->pip.count; i++)
			add_list_item(&t, "      ", spec->pip.items[i]);
	}
	return aml_text_finish(&t);
}

char *aml_env_spec_requirements(const struct aml_env_spec *spec)
{
	struct aml_text t = AML_TEXT_INIT;

	for (size_t i = 0; i < spec->pip.count; i++) {
		aml_text_str(&t, spec->pip.items[i]);
		aml_text_str(&t, "\n");
	}
	return aml_text_finish(&t);
}

/* ---- the builder's command line ---- */

/*
 * What each program takes, verified in its documentation or source:
 *   conda: docs.conda.io, commands/env/create (23.7.x, 24.1.x, latest):
 *     "conda env create [-f FILE] [-n ENVIRONMENT | -p PATH] ... [-y]";
 *     -y/--yes replaced --force (removed in 24.3) and is absent from
 *     older releases, so it is left to the site's options.
 *   mamba 1.x: mamba/mamba_env.py hands "mamba env create" to conda's own
 *     env create (conda_env.cli.main), with mamba's installer.
 *   mamba 2.x and micromamba (one code base): micromamba/src/env.cpp makes
 *     "env create" an alias of "create"; common_options.cpp gives create
 *     -y/--yes (init_general_options), -p/--prefix (init_prefix_options)
 *     and -f/--file (init_install_options); libmamba's Console::prompt
 *     answers an empty reply (stdin at its end) with the default, yes.
 */
static const struct conda_dialect {
	const char *name;
	const char *const words[3];  /* after the command, before [extra] */
} dialects[] = {
	{ "conda", { "env", "create", NULL } },
	{ "mamba", { "env", "create", NULL } },
	{ "micromamba", { "create", "-y", NULL } },
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

int aml_env_conda_argv(const char *command, const char *prefix,
		       const char *yaml_path, const struct aml_strlist *extra,
		       struct aml_strlist *argv, char *errbuf, size_t errlen)
{
	const struct conda_dialect *d = NULL;
	const char *base;
	int bad = 0;

	if (!command || !*command)
		return aml_fail(errbuf, errlen,
				"no conda-compatible command given");
	base = strrchr(command, '/');
	base = base ? base + 1 : command;
	for (size_t i = 0; i < sizeof(dialects) / sizeof(*dialects); i++)
		if (!strcmp(base, dialects[i].name))
			d = &dialects[i];
	if (!d)
		return aml_fail(errbuf, errlen,
				"%s: not a conda-compatible command this project knows (its name must be conda, mamba or micromamba)",
				command);
	if (!prefix || prefix[0] != '/')
		return aml_fail(errbuf, errlen,
				"the environment's prefix must be an absolute path, got \"%s\"",
				prefix ? prefix : "(null)");
	if (!yaml_path || yaml_path[0] != '/' ||
	    !(ends_with(yaml_path, ".yml") || ends_with(yaml_path, ".yaml")))
		return aml_fail(errbuf, errlen,
				"the environment file must be an absolute path ending in .yml or .yaml, got \"%s\"",
				yaml_path ? yaml_path : "(null)");
	bad |= aml_strlist_push(argv, command);
	for (size_t i = 0; d->words[i]; i++)
		bad |= aml_strlist_push(argv, d->words[i]);
	for (size_t i = 0; extra && i < extra->count; i++)
		bad |= aml_strlist_push(argv, extra->items[i]);
	bad |= aml_strlist_push(argv, "-p");
	bad |= aml_strlist_push(argv, prefix);
	bad |= aml_strlist_push(argv, "-f");
	bad |= aml_strlist_push(argv, yaml_path);
	if (bad) {
		aml_strlist_free(argv);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	return 0;
}
