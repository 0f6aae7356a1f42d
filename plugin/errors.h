/*
 * errors.h: a list of one-line, human-readable error messages.
 *
 * Every check in the core reports into one of these instead of stopping at
 * the first problem, so a user sees every mistake in their file at once.
 * Each line has the shape
 *
 *     <file>: <where>: <rule, with the value found>
 *
 * where <where> is a field path ("distributed_job_config.process_count") or
 * a line ("line 12").  The caller decides where the lines go (stderr,
 * slurm_error, err_msg).
 */
#ifndef AML_ERRORS_H
#define AML_ERRORS_H

#include <stdarg.h>
#include <stddef.h>

/* What every message the Slurm plugins log begins with (in sbatch, in
 * slurmstepd and slurmd, in slurmctld), as pyxis's begin with "pyxis: ":
 * one word for a user or an admin to find them by in any Slurm log. */
#define AML_LOG_PREFIX "aml: "

struct aml_errors {
	char *file;       /* name shown first on every line; "" when unknown */
	char **lines;     /* each a complete message, no trailing newline */
	size_t count;
	size_t capacity;
	int out_of_memory; /* set when a line could not be stored */
};

/*
 * Start an empty list whose lines are prefixed by [file] (may be NULL).
 */
void aml_errors_init(struct aml_errors *errs, const char *file);

/*
 * Append "<file>: <where>: <formatted message>".  [where] may be NULL or ""
 * to leave that part out.  Never fails visibly: on allocation failure the
 * list remembers it (out_of_memory) and aml_errors_any() stays true.
 */
void aml_errors_add(struct aml_errors *errs, const char *where,
		    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void aml_errors_vadd(struct aml_errors *errs, const char *where,
		     const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * Non-zero when at least one error was recorded (or could not be stored).
 */
int aml_errors_any(const struct aml_errors *errs);

/*
 * For functions that report one sentence into a caller's buffer (the
 * errbuf/errlen convention): format into [errbuf] (when non-NULL and
 * [errlen] > 0, truncating) and return -1, so "return aml_fail(...)" both
 * reports and fails.
 */
int aml_fail(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Release every line and the file name; the list may be re-initialised.
 */
void aml_errors_free(struct aml_errors *errs);

#endif
