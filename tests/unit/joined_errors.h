/*
 * joined_errors.h: an error list as one text, for tests that compare every
 * line a parser reported with what they expect.
 */
#ifndef AML_TEST_JOINED_ERRORS_H
#define AML_TEST_JOINED_ERRORS_H

#include "errors.h"

/* The lines of [errs] joined by '\n' (no newline at the end), malloc'd;
 * NULL when there are none or memory runs out. */
char *joined_errors(const struct aml_errors *errs);

#endif
