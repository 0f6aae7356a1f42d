/*
 * command.h: run a program and keep what it prints, within a time bound.
 *
 * For the short questions the project asks other programs (git about a
 * source directory, scontrol, sacct, squeue and scancel about a job): the
 * program is found on PATH and run without a shell, with stdin from
 * /dev/null, none of the caller's other descriptors (a lock file, a
 * socket), every signal unblocked and SIGPIPE at its default, in a
 * process group of its own.  Its stdout and stderr are read together
 * (poll), so a program that fills one pipe while we wait on the other
 * cannot hang both; each is kept up to a bound and the rest read and
 * dropped.  At the deadline the whole group is killed (a wrapper script's
 * children too), also when the program closed its output and went on
 * running.  For single-threaded callers: the child runs code between fork
 * and exec.
 */
#ifndef AML_COMMAND_H
#define AML_COMMAND_H

#include <stddef.h>
#include <stdint.h>

struct aml_command {
	char *const *argv;      /* argv[0] is looked up on PATH */
	char *const *envp;      /* NULL: the caller's environment */
	const char *dir;        /* where it runs; NULL: where the caller is */
	int64_t timeout_ms;     /* from the start until it is reaped */
	size_t out_max;         /* bytes of stdout kept (0: none) */
	size_t err_max;         /* bytes of stderr kept (0: none) */
	int stop_on_more;       /* more stdout than out_max stops it */
};

enum aml_command_outcome {
	AML_COMMAND_EXITED,      /* exit_status */
	AML_COMMAND_SIGNALED,    /* term_signal */
	AML_COMMAND_TIMEOUT,     /* timeout_ms passed: its group was killed */
	AML_COMMAND_TOO_MUCH,    /* stdout passed out_max (stop_on_more):
				  * its group was killed */
	AML_COMMAND_NOT_STARTED, /* exec failed with [error]; ENOENT: no
				  * such program on PATH */
	AML_COMMAND_FAILED,      /* [failed_call] failed with [error] (in
				  * the caller, or "chdir" in the child) */
};

struct aml_command_result {
	enum aml_command_outcome outcome;
	int exit_status;
	int term_signal;
	int error;              /* errno of NOT_STARTED and FAILED */
	const char *failed_call;        /* FAILED: "pipe", "fork", ... */
	char *out;              /* malloc'd, NUL-terminated: what was kept */
	size_t out_len;
	size_t out_total;       /* bytes it wrote to stdout, kept or not
				 * (stops counting at a stop_on_more) */
	char *err;              /* the same for stderr */
	size_t err_len;
	int err_cut;            /* it wrote more stderr than err_max */
};

/*
 * Run [cmd] and wait for it, at most [cmd->timeout_ms] (and up to a
 * second more to reap a killed child; one stuck in the kernel even after
 * SIGKILL is left behind, unreaped).  Fills [res] and returns its
 * outcome.  [res->out] and [res->err] are allocated whatever the outcome
 * (NULL only when memory ran out: AML_COMMAND_FAILED with ENOMEM); free
 * them with aml_command_result_free.
 */
enum aml_command_outcome aml_command_run(const struct aml_command *cmd,
					 struct aml_command_result *res);

/*
 * aml_command_run for a program whose whole output must be kept (an
 * environment's build log): its stdout and stderr are both [fd] (open
 * for writing, appended to where it stands), written by the program
 * itself, so nothing is read and out_max, err_max and stop_on_more do
 * not apply ([res->out] and [res->err] come back empty).  The deadline
 * and the kill of the whole group are the same.  [fd] below 0 is
 * AML_COMMAND_FAILED with EBADF.
 */
enum aml_command_outcome aml_command_run_to(const struct aml_command *cmd,
					    int fd,
					    struct aml_command_result *res);

/* Free what aml_command_run allocated in [res]; safe to call twice. */
void aml_command_result_free(struct aml_command_result *res);

#endif
