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
 * max(2, strlen(word) / 3) edits, the length counted without '_' and
 * '-'.  Ties go to the earlier candidate.  Failing that, a candidate that
 * extends the word ("process_count" -> "process_count_per_node", words of 6
 * or more letters) is returned when it is the only one.
 */
const char *aml_suggest(const char *word, const char *const *candidates,
			size_t n);

/*
 * The edit distance used above, exposed for tests.  Returns a value capped
 * at 255 for long inputs.
 */
unsigned aml_edit_distance(const char *a, const char *b);

#endif
