/*
 * gitinfo.h: the git properties Azure ML records on a run.
 *
 * When the source directory is inside a git work tree, Azure ML records
 * where the code came from under two sets of names:
 *
 *     azureml.git.repository_uri   mlflow.source.git.repoURL   (remote URL)
 *     azureml.git.branch           mlflow.source.git.branch
 *     azureml.git.commit           mlflow.source.git.commit
 *     azureml.git.dirty            "True" / "False"
 *
 * The environment variables AZUREML_GIT_REPOSITORY_URI, _BRANCH, _COMMIT,
 * _DIRTY, _BUILD_ID and _BUILD_URI take precedence over git, as in Azure
 * ML (the last two give azureml.git.build_id / build_uri).
 */
#ifndef AML_GITINFO_H
#define AML_GITINFO_H

#include <stddef.h>

#include "kvlist.h"

/*
 * Add the git properties of [dir] to [props].  Runs git (found on PATH) as
 * the calling user, without a shell, with stdin from /dev/null, a bounded
 * time (10 s per command) and GIT_TERMINAL_PROMPT=0 / GIT_OPTIONAL_LOCKS=0
 * so it never prompts or takes the index lock of a work tree the user is
 * using.  Returns 1 when properties were added, 0 when [dir] is not in a
 * work tree or git is not installed (nothing added, and not an error:
 * plenty of code lives outside git), -1 with one sentence in [errbuf] when
 * git misbehaved.
 */
int aml_git_properties(const char *dir, struct aml_kvlist *props,
		       char *errbuf, size_t errlen);

/*
 * [uri] without credentials: "https://user:token@host/x" gives
 * "https://host/x"; scp-like "git@host:x" is kept (the user name is not a
 * secret there).  Malloc'd; NULL when memory runs out.
 */
char *aml_git_strip_credentials(const char *uri);

#endif
