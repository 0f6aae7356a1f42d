/*
 * datastore_copy.h: a run's output copied to the datastore it names.
 *
 * A command job's output with path azureml://datastores/NAME/paths/PATH
 * is written by the command, as every output, to outputs/<name> in the
 * run's working directory; at Finalizing the launcher, as the run's user,
 * copies it to PATH below the datastore's Path (runconfig.h, struct
 * aml_datastore_output).  The copy follows artifacts.h's rules: from the
 * working directory nothing that leads out of it is read, only regular
 * files and directories are copied, each file lands whole (a temporary
 * name renamed into place); in the datastore, every directory below its
 * Path is opened without following a link and made when missing, so a
 * link another user planted in a shared datastore cannot send the files
 * elsewhere.  The datastore's Path itself is the site's, opened as given.
 * Modes are the user's: 0777 and 0666 less the umask, as a script
 * writing there itself would get.
 */
#ifndef AML_DATASTORE_COPY_H
#define AML_DATASTORE_COPY_H

#include <stddef.h>

#include "artifacts.h"
#include "runconfig.h"

/*
 * Copy outputs/<o->name> below [workdir_fd] to o->root/o->path.  A
 * missing outputs/<name> copies nothing (the run wrote none).  Returns 0,
 * or -1 with one sentence naming the output and the datastore folder in
 * [errbuf].  [stats] is filled either way (free its notes with
 * aml_artifact_stats_free).
 */
int aml_datastore_copy(int workdir_fd, const struct aml_datastore_output *o,
		       struct aml_artifact_stats *stats, char *errbuf,
		       size_t errlen);

#endif
