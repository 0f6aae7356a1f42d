/*
 * datastore_copy.c: see datastore_copy.h.
 */
#include "datastore_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int aml_datastore_copy(int workdir_fd, const struct aml_datastore_output *o,
		       struct aml_artifact_stats *stats, char *errbuf,
		       size_t errlen)
{
	char src[512], why[768];
	mode_t mask = umask(0);
	int root, rc;

	umask(mask);
	memset(stats, 0, sizeof(*stats));
	if ((size_t)snprintf(src, sizeof(src), "outputs/%s", o->name) >=
	    sizeof(src)) {
		snprintf(errbuf, errlen, "outputs.%s: name too long", o->name);
		return -1;
	}
	root = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		snprintf(errbuf, errlen,
			 "outputs.%s: cannot open the datastore's %s: %s",
			 o->name, o->root, strerror(errno));
		return -1;
	}
	rc = aml_artifacts_copy_in(workdir_fd, src, root, o->path,
				   0777 & ~mask, 0666 & ~mask, stats, why,
				   sizeof(why));
	close(root);
	if (rc < 0)
		snprintf(errbuf, errlen, "outputs.%s: copying to %s/%s: %s",
			 o->name, o->root, o->path, why);
	return rc;
}
