/*
 * ignore.h: which paths a snapshot leaves out.
 *
 * Azure ML reads one ignore file at the root of the source directory:
 * .amlignore if it exists, else .gitignore (they are never merged), with
 * git's gitignore semantics.  Those are implemented here in full: blank
 * lines and '#' comments, trailing blanks dropped unless escaped, "\" to
 * escape a leading '#' or '!' or any character, '!' to re-include, a
 * trailing '/' for directories only, a '/' at the start or in the middle
 * to anchor at the root, '*', '?', '[...]' (with ranges and '!'/'^'
 * negation) not matching '/', and "**" matching any number of
 * directories when it stands as a whole segment (leading, trailing or
 * inner: "**" then "/x", "x/" then "**", "x/" then "**" then "/y").  The last
 * matching pattern decides.  As in git, a path inside an excluded directory
 * stays excluded: the caller does not descend into a directory this
 * module excludes, so a "!" cannot bring back a file below it.
 *
 * .git is never part of a snapshot whatever the file says; that rule lives
 * in the walker, not here.
 */
#ifndef AML_IGNORE_H
#define AML_IGNORE_H

#include <stddef.h>

struct aml_ignore;

/*
 * Compile the patterns in [len] bytes of [text].  Returns NULL only when
 * memory runs out (no pattern is an error in git; a bad bracket expression
 * matches nothing, as in git).
 */
struct aml_ignore *aml_ignore_parse(const char *text, size_t len);

/*
 * Non-zero when [path] (relative to the root, '/'-separated, no leading or
 * trailing '/') is excluded by the patterns alone.  [is_dir] says whether
 * the path is a directory.
 */
int aml_ignore_match(const struct aml_ignore *ig, const char *path,
		     int is_dir);

/* Number of patterns compiled, for messages. */
size_t aml_ignore_count(const struct aml_ignore *ig);

void aml_ignore_free(struct aml_ignore *ig);

#endif
