/*
 * stdin_launcher.h: a batch script for `sbatch --aml-run=run.json` when
 * the user gives none.
 *
 * sbatch reads its batch script before it calls any SPANK option callback;
 * with no script argument it reads the script from standard input, so
 * `sbatch --aml-run=run.json` alone would wait on the terminal (or fail on
 * /dev/null: "empty script").  Before sbatch parses its options, the
 * plugin therefore puts a placeholder script on standard input when the
 * command line names --aml-run and standard input is a terminal or
 * /dev/null; the controller replaces the placeholder with the run's
 * launcher (AML_LAUNCHER=1).  A script given as an argument, by --wrap or
 * piped in is the user's: the placeholder is then never read, and the
 * user's script is the run's command (AML_LAUNCHER=0).
 */
#ifndef AML_SPANK_STDIN_LAUNCHER_H
#define AML_SPANK_STDIN_LAUNCHER_H

#include <stddef.h>

/*
 * In sbatch's slurm_spank_init: when standard input is a terminal,
 * /dev/null or closed, make a memfd holding the placeholder script and put
 * it on file descriptor 0, keeping the old one aside.  Returns 1 when it
 * did, 0 when standard input is the user's (a pipe, a file), -1 with
 * [errbuf] when the memfd could not be made (sbatch then reads standard
 * input as it would without the plugin).
 */
int aml_stdin_launcher_install(char *errbuf, size_t errlen);

/*
 * In slurm_spank_init_post_opt, when sbatch has read its script: put the
 * original standard input back and say whether sbatch read the
 * placeholder (1: no script of the user's) or not (0).  Safe to call when
 * nothing was installed (0) and more than once (the same answer).
 */
int aml_stdin_launcher_finish(void);

#endif
