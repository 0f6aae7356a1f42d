/*
 * run_folders.h: the folders Azure ML makes in a run's working directory
 * before the command starts: ./outputs, ./logs, and outputs/<name> for
 * each output a command job declares (its ${{outputs.<name>}}).  Scripts
 * rely on them (echo hello > ./outputs/helloworld.txt).
 *
 * Data goes one way: the configuration holds the declared names
 * (runconfig.h: output_names), the plan lists the folders
 * (aml_run_folders_list, plan.h: output_dirs) and hands them to every
 * node in the job's environment (AML_ENV_OUTPUT_DIRS, joined by ':'),
 * where the node side makes them after it installed the snapshot
 * (aml_run_folders_make), as the user.
 *
 * Threat: the snapshot is the user's source directory, and may hold
 * anything under those names: `outputs -> /etc`, `outputs/model -> ..`,
 * a FIFO.  A folder is reached one component at a time from the working
 * directory's descriptor, never following a symbolic link; what is not a
 * folder is refused with the reason, and nothing outside the working
 * directory is created or changed.  The job's environment is the user's
 * to write too: the node checks every name again (aml_run_folders_split).
 */
#ifndef AML_RUN_FOLDERS_H
#define AML_RUN_FOLDERS_H

#include <stddef.h>

#include "strlist.h"

/* Longest declared output name accepted (a single path component). */
#define AML_RUN_FOLDER_NAME_MAX 255

/*
 * Whether [name] may name a declared output's folder: letters, digits
 * and '_', not starting with a digit (it also names a variable,
 * AZURE_ML_OUTPUT_<name>), at most AML_RUN_FOLDER_NAME_MAX bytes: so no
 * '/', '.', ".." nor empty name can get through.
 */
int aml_run_folder_name_ok(const char *name);

/*
 * Whether [rel] is one of the folders a run may ask for: "outputs",
 * "logs" or "outputs/<name>" with aml_run_folder_name_ok(name).
 */
int aml_run_folder_ok(const char *rel);

/*
 * The folders of a run that declares [names] (may be NULL): "outputs",
 * "logs", then "outputs/<name>" for each, appended to [out] (empty on
 * entry).  Returns 0, or -1 when a name is not valid (errno EINVAL) or
 * memory runs out (ENOMEM); [out] is then freed.
 */
int aml_run_folders_list(const struct aml_strlist *names,
			 struct aml_strlist *out);

/*
 * [dirs] joined by ':' (no folder may hold one), malloc'd; "" for an
 * empty list.  NULL when memory runs out.
 */
char *aml_run_folders_join(const struct aml_strlist *dirs);

/*
 * The folders of [value] (the job's AML_ENV_OUTPUT_DIRS; NULL or "":
 * none) appended to [out], each checked by aml_run_folder_ok.  Returns 0,
 * or -1 with one sentence naming the bad entry in [errbuf] and [out]
 * freed.
 */
int aml_run_folders_split(const char *value, struct aml_strlist *out,
			  char *errbuf, size_t errlen);

/*
 * Make "outputs" and "logs", then every folder of [dirs] (may be NULL),
 * below the directory [workdir_fd], as the caller: each component is
 * made (mode 0777 less the umask) unless it exists, and opened with
 * O_NOFOLLOW; one that exists must be a folder, and one the caller may
 * not write in is given u+rwx (the caller owns what the snapshot
 * installed).  Returns 0, or -1 with one sentence in [errbuf] naming the
 * folder and what is wrong ("outputs is a symbolic link in the
 * snapshot...").
 */
int aml_run_folders_make(int workdir_fd, const struct aml_strlist *dirs,
			 char *errbuf, size_t errlen);

#endif
