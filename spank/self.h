/*
 * self.h: what the plugin can learn about the process that loaded it
 * before Slurm tells it anything.
 *
 * slurm_spank_init runs before sbatch parses its options, and SPANK gives
 * an allocator plugin neither argv nor the program's name; /proc/self has
 * both.  Nothing here is a security decision: the user controls all of it.
 */
#ifndef AML_SPANK_SELF_H
#define AML_SPANK_SELF_H

#include <stddef.h>

/*
 * Non-zero when this process is the program [name] ("sbatch"): the
 * basename of /proc/self/exe, else of program_invocation_short_name when
 * /proc is unavailable.  sbatch, salloc and scrontab share the allocator
 * context; only sbatch submits runs.
 */
int aml_self_is(const char *name);

/*
 * Non-zero when the command line (/proc/self/cmdline, argv[1] on) holds
 * the long option [opt] ("--aml-run"), as "--aml-run" or "--aml-run=X".
 * Every argument is looked at, including the batch script's own, and
 * getopt's abbreviations are not recognised: the callers only use the
 * answer for things that are harmless when it is wrong.
 */
int aml_self_has_option(const char *opt);

/*
 * The value of the last -A/--account on the command line ("-A x", "-Ax",
 * "--account=x", "--account x"), copied into [buf] of [len] bytes.
 * Returns 1 when found, 0 when not (or it does not fit).
 */
int aml_self_account(char *buf, size_t len);

#endif
