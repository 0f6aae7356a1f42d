/*
 * tools.h: the subcommands of aml-run and what they share.
 *
 * Exit codes follow one rule across commands, so scripts can tell a bad
 * file from a bad command line: 0 success, 2 the input is invalid (the
 * error lines are on stderr), 64 usage error, 75 run history did not
 * answer in time (AML_HANGWATCH_EXIT: try again later), 1 anything else.
 */
#ifndef AML_TOOLS_H
#define AML_TOOLS_H

#include <stdio.h>

#define AML_EXIT_OK 0
#define AML_EXIT_FAILURE 1
#define AML_EXIT_INVALID 2
#define AML_EXIT_USAGE 64

struct aml_errors;

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_env(int argc, char **argv);

struct aml_site;

/* Register run history on MLflow as its module, loaded only when a site
 * uses it (tool_module.c): the first thing each tool's main does. */
void aml_tool_use_mlflow_module(void);

/*
 * Load the site policy from [conf], or from the default path (as
 * aml_site_default_path) when [conf] is NULL, printing every problem.
 * Returns AML_EXIT_OK with [site] filled (site->path says which file), or
 * the exit status for [command] to return.
 */
int tool_load_site(const char *command, const char *conf,
		   struct aml_site *site);

/* Print every line of [errs] to stderr. */
void tool_print_errors(const struct aml_errors *errs);

/*
 * printf to [out] for everything aml-run shows from run history (and
 * from Slurm or the command line beside it): every %s argument is shown
 * by text.h's rule for text others chose (aml_text_printf_shown), so one
 * user's tag, reason or experiment name cannot drive another user's (or
 * an admin's) terminal, and widths count columns, so tables stay aligned.
 * The run's own log stream is the one thing printed raw: it is the run's
 * output, as its user wrote it.  Error lines from the core (errbuf) are
 * already made this way where they are written, and printed as they are.
 */
void tool_printf(FILE *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "aml-run <command>: <message>" on stderr, then the usage hint; returns
 * AML_EXIT_USAGE for the caller to return. */
int tool_usage_error(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
