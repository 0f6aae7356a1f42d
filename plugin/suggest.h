/*
 * suggest.h: "did you mean" for misspelt keys.
 *
 * An unknown key is always an error; when a known key is close, the message
 * names it, because a misspelt max_run_duration_second that was silently
 * ignored would give a 30-day limit.
 */
#ifndef AML_SUGGEST_H
#define AML_SUGGEST_H

#include <stddef.h>

/*
 * The candidate in [candidates] ([n] entries, NULL entries skipped) closest
 * to [word], compared case-insensitively with the optimal string alignment
 * distance (insertions, deletions, substitutions, adjacent swaps), and
 * treating '_', '-' and case changes as equal so "maxRunDuration" and
 * "max_run_duration" are close.  Returns NULL when none is within
 * max(2, strlen(word) / 3) edits.  Ties go to the earlier candidate.
 */
const char *aml_suggest(const char *word, const char *const *candidates,
			size_t n);

/*
 * The edit distance used above, exposed for tests.  Returns a value capped
 * at 255 for long inputs.
 */
unsigned aml_edit_distance(const char *a, const char *b);

#endif
