/*
 * launch_image.h: a run in its container image (environment.h's image).
 *
 * While the run is Preparing, the batch node's launcher resolves the
 * image's digest and pulls it once (image_pull.h), its pull log going to
 * the run's logs/azureml/image_pull_log.txt, and holds the entry for the
 * run's life.  Every process of the run is then started as
 *   aml-launch --in-image=REGISTRY/REPO@DIGEST [--shm-bytes=N] [--ipc-host]
 *              -- COMMAND...
 * directly, or as srun's tasks on every node: in the working directory
 * the node side moved the task into, this finds the image on its node
 * (pulling it there first when that node has not: a node-local ImageDir),
 * holds it, takes the image's own variables where the run has none (PATH
 * always the image's), and execs the site's runtime (container.h) with
 * the command: no process of ours stays between the runtime and Slurm, so
 * signals, exit codes and the duration limit are as without an image.
 * podman alone is run as a child, this process staying its subreaper
 * until what it forked away from itself has ended (launch_reap.h), then
 * ending as podman did.
 * The digest, not the tag, travels: every node runs the same image even
 * when the tag moves during the run.
 *
 * pyxis is not run this way: srun itself gets --container-image and
 * enroot pulls.
 */
#ifndef AML_TOOLS_LAUNCH_IMAGE_H
#define AML_TOOLS_LAUNCH_IMAGE_H

#include <limits.h>
#include <stddef.h>

#include "environment.h"
#include "launch_common.h"
#include "strlist.h"

struct launch_image {
	char pinned[700];        /* registry/repository@sha256:... */
	char bundle[PATH_MAX];   /* "" for pyxis */
	int held_fd;             /* the entry's hold; -1: none */
};

/*
 * Make [env]'s image ready for the run of [c] (nothing when it has none:
 * img->pinned is then ""); 0, or -1 with the reason the run fails in
 * [errbuf] (the pull log is kept first).
 */
int launch_image_prepare(const struct launch_ctx *c,
			 const struct aml_env_choice *env,
			 struct launch_image *img, char *errbuf,
			 size_t errlen);

/*
 * The command each process of the run starts with, in [command]: empty
 * when the run has no image (run [argv] itself); else [argv] through
 * `aml-launch --in-image` (this program), or for pyxis each task's move to
 * its working directory, with srun's container options in [srun_opts]
 * and *[srun_only] set: pyxis runs images only in srun's steps.  0, or -1
 * with errbuf.
 */
int launch_image_command(const struct launch_image *img,
			 const struct aml_env_choice *env,
			 const struct aml_site *site, char *const *argv,
			 struct aml_strlist *command,
			 struct aml_strlist *srun_opts, int *srun_only,
			 char *errbuf, size_t errlen);

/* The --in-image mode ([argv] from its first option); never returns when
 * the runtime starts: the exit status of a failure (126, 127). */
int launch_image_exec(int argc, char **argv);

#endif
