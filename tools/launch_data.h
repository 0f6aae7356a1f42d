/*
 * launch_data.h: a run's https:// inputs (runconfig.h, struct
 * aml_download) made ready on the batch node while the run is Preparing.
 *
 * For each: the URL is checked against this node's aml.conf
 * (DataDownloadHosts=: the controller's copy of the list is not trusted
 * to be the node's), the server asked what version it has (data_fetch.h,
 * HEAD), and the file found in the user's download cache or downloaded
 * into it once: DataCacheDir has EnvDir's layout and trust (env_cache.h),
 * keyed by SHA-256 of the URL and its validator (ETag, else
 * Last-Modified), so two runs of a user on a node never download one
 * version twice (the key's lock) and no user reads another's downloads
 * (each user's 0700 directory).  A server that gives no validator gets
 * no reuse: its file is downloaded for each run.  The entry is held for
 * the launcher's life, as images are, and the file is bound at the path
 * the command already holds, inputs/<name>/<file> in the working
 * directory: a hard link to the cached file (read-only, 0444), or a copy
 * where the working directory is on another filesystem.
 *
 * A download's log (the URL, the version, progress, the size) goes to
 * logs/azureml/data_download_log.<name>.txt; a cached copy writes none.
 * Progress is said on the launcher's stderr too.
 */
#ifndef AML_TOOLS_LAUNCH_DATA_H
#define AML_TOOLS_LAUNCH_DATA_H

#include <stddef.h>

#include "launch_common.h"
#include "runconfig.h"

/* The cache entries a run holds (their locks' descriptors). */
struct launch_data {
	int *held_fds;
	size_t n_held;
};

/*
 * Make every download of [rc] ready and bound in the working directory of
 * [c].  Returns 0, or -1 with the reason the run fails in [errbuf]
 * ("input NAME: https://host/x.csv: the server answered HTTP 404").
 */
int launch_data_prepare(const struct launch_ctx *c,
			const struct aml_runconfig *rc, struct launch_data *d,
			char *errbuf, size_t errlen);

/* Let the entries go (gc may take them). */
void launch_data_release(struct launch_data *d);

#endif
