/*
 * docker_args.h: the Docker options a run may give its container (v1
 * environment.docker.arguments, v2 resources.docker_args), and Docker's
 * size syntax for shm_size.  Pure: no I/O.
 *
 * A run's container is started by the site's runtime, not by Docker, and
 * always on the host's network as the run's own user: of Docker's many
 * options only those that mean the same under every runtime are taken.
 *   --shm-size=SIZE, --shm-size SIZE   the size of /dev/shm
 *   --ipc=host, --ipc host             the host's IPC namespace
 *   --network=host, --net=host (and the two-word forms)
 *                                      what every run gets anyway
 * Anything else (--privileged, -v, --user, --gpus...) would be silently
 * different or a way around the site: refused.
 */
#ifndef AML_DOCKER_ARGS_H
#define AML_DOCKER_ARGS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Docker's size syntax ("2g", "512m", "64k", "1073741824", "1gb", "1GiB";
 * units are powers of 1024, any case; no fractions) into [bytes].
 * Returns 0, or -1 when malformed, zero or too large for 64 bits.
 */
int aml_docker_size_parse(const char *text, uint64_t *bytes);

/*
 * Check the [n] arguments at [args] (already split into words).  Returns
 * 0 and fills [shm_bytes] (0 unless --shm-size is given; the last one
 * wins, as in Docker) and [ipc_host] (0 or 1); or -1 with one line in
 * [errbuf] of [errlen] bytes naming the argument and listing the allowed
 * ones (the caller names the field).
 */
int aml_docker_args_check(char *const *args, size_t n, uint64_t *shm_bytes,
			  int *ipc_host, char *errbuf, size_t errlen);

#endif
