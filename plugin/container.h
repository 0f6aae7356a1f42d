/*
 * container.h: the command line that runs one process of a run inside its
 * unpacked image, for each container runtime the site may choose.
 *
 * Pure: builds argument vectors, reads no file and runs nothing.  The
 * image has been pulled and unpacked before (umoci's rootless bundle:
 * <bundle>/rootfs and <bundle>/config.json), once per digest, and is
 * shared by every run of that digest on the node: no runtime here may
 * write into it.
 *
 * Inside the container a run must see what it sees without one: the host
 * network, the user's own uid (never root on the host), its working
 * directory read-write at the same path and as the start directory, the
 * host's environment, the signals Slurm and the launcher send, and the
 * job's GPUs.  Each runtime's options for that were read in its own
 * documentation (podman-run(1) of podman 4.3, ch-run(1) of Charliecloud
 * 0.31, apptainer-exec(1), pyxis's README and enroot's docker.sh) and,
 * for podman and ch-run, run on this kind of machine; see container.c.
 * Every argument is its own word: nothing here goes through a shell.
 */
#ifndef AML_CONTAINER_H
#define AML_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "site.h"
#include "strlist.h"

struct aml_container_spec {
	enum aml_container_runtime runtime;
	char *const *runtime_args;  /* ContainerRuntimeArgs, NULL-terminated
				     * or NULL: right after the program,
				     * before its subcommand (pyxis: the
				     * first srun options) */
	const char *bundle;         /* the unpacked image: <bundle>/rootfs
				     * (podman, charliecloud, apptainer) */
	const char *image;          /* pyxis only: the reference,
				     * registry/repo:tag or
				     * registry/repo@sha256:... */
	const char *workdir;        /* bound at the same path read-write,
				     * and the start directory */
	char *const *binds;         /* more host directories bound at the
				     * same path, NULL-terminated or NULL */
	const char *storage_dir;    /* podman only: --root <storage_dir>/root
				     * --runroot <storage_dir>/run */
	const char *runroot;        /* podman only: its --runroot instead
				     * (NULL: as above); podman refuses one
				     * longer than 50 bytes */
	char *const *env;           /* "K=V" set inside the container only
				     * (the image's own variables), never in
				     * the runtime's own environment on the
				     * host; NULL-terminated or NULL */
	uint64_t shm_bytes;         /* 0: the runtime's default */
	int ipc_host;               /* share the host's IPC namespace */
	const char *gpus;           /* the job's GPU indices ("0,1"); NULL
				     * or "": none */
	char *const *argv;          /* the command, NULL-terminated */
};

/*
 * The whole command for [s] (the runtime's program first, then the
 * command's words) appended to [out], which starts empty.  Returns 0, or
 * -1 with one line in [errbuf] (of [errlen] bytes) and [out] left empty:
 * the runtime is pyxis (its options go to srun: see below) or none, a
 * field the runtime needs is missing, a path is not absolute or holds
 * ':' or ',' (the runtimes' separators in a bind), a GPU index is not a
 * number, shm_bytes and ipc_host are both asked of podman (it refuses
 * the pair), or memory ran out.
 *
 * Charliecloud: ch-run creates no mount point in a read-only image, so
 * the workdir and every bind must already exist as directories in
 * <bundle>/rootfs (the unpacker makes them; --write would let a run
 * change the shared image).  A path under /tmp cannot be bound (ch-run
 * binds the host's /tmp there already).
 */
int aml_container_argv(const struct aml_container_spec *s,
		       struct aml_strlist *out, char *errbuf, size_t errlen);

/*
 * pyxis: the srun options that run each task of the step in the image
 * (they go before srun's "--"): runtime_args, --container-image in
 * enroot's form (REGISTRY#REPO[:TAG], a digest as REPO:sha256:HEX, since
 * enroot reads '@' as USER@), --container-mounts (the workdir and the
 * binds, same path), --container-workdir, --no-container-remap-root and
 * --no-container-entrypoint.  Appended to [out], which starts empty.
 * Returns 0, or -1 with one line (not pyxis, no image or workdir, an
 * image enroot cannot read, a bad path, memory) and [out] left empty.
 */
int aml_container_srun_options(const struct aml_container_spec *s,
			       struct aml_strlist *out, char *errbuf,
			       size_t errlen);

/* What aml_container_image_env reads at most. */
#define AML_CONTAINER_ENV_MAX_ENTRIES 4096
#define AML_CONTAINER_ENV_MAX_BYTES (1024 * 1024)

/*
 * The image's own variables from the [len] bytes of its OCI runtime
 * config.json [json] (umoci's bundle config: process.env, an array of
 * "K=V"), appended to [out] as "K=V" strings in their order.  A config
 * without process or process.env gives none.  Returns 0, or -1 with one
 * line and [out] as it was: not JSON, process not an object, env not an
 * array, an entry not a string or without a name before its '=' or
 * holding a NUL, more than AML_CONTAINER_ENV_MAX_ENTRIES entries or
 * AML_CONTAINER_ENV_MAX_BYTES of input, or memory.
 *
 * podman --rootfs, ch-run and apptainer on a plain directory never read
 * the config: the launcher gives those the run lacks (PATH always) as the
 * spec's env, which the runtime sets inside the container only.
 */
int aml_container_image_env(const char *json, size_t len,
			    struct aml_strlist *out, char *errbuf,
			    size_t errlen);

#endif
