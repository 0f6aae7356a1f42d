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
 * The digest, not the tag, travels: every node runs the same image even
 * when the tag moves during the run.
 *
 * pyxis is not run this way: srun itself gets --container-image and
 * enroot pulls (launch_image_srun_options).
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

/* The command each process starts with: [argv] run through
 * `aml-launch --in-image` ([self], this program's path); -1 on ENOMEM. */
int launch_image_wrap(const struct launch_image *img,
		      const struct aml_env_choice *env, const char *self,
		      char *const *argv, struct aml_strlist *out);

/*
 * pyxis: srun's container options for [img], RunDir bound and the start
 * directory.  pyxis's one --container-workdir cannot be each node's own
 * working directory, so each task's command moves there itself
 * (launch_image_pyxis_command).
 */
int launch_image_srun_options(const struct launch_image *img,
			      const struct aml_env_choice *env,
			      const struct aml_site *site,
			      struct aml_strlist *out, char *errbuf,
			      size_t errlen);

/* pyxis: [argv] run from the task's AML_WORKDIR (the node side's, set in
 * every task): /bin/sh -c 'cd "$AML_WORKDIR" && exec "$@"' aml-task
 * ARGV...; -1 on ENOMEM. */
int launch_image_pyxis_command(char *const *argv, struct aml_strlist *out);

/* The --in-image mode ([argv] from its first option); never returns when
 * the runtime starts: the exit status of a failure (126, 127). */
int launch_image_exec(int argc, char **argv);

#endif
