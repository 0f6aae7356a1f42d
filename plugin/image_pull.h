/*
 * image_pull.h: a run's container image made ready on a node, as the
 * run's user: its digest asked of the registry, then the image pulled and
 * unpacked once per digest into ImageDir.
 *
 * ImageDir has EnvDir's layout and trust (env_cache.h): the key is the
 * digest's 64 hex digits, each user pulls into a directory of their own
 * (0700), and root's pre-pulled images in shared/ are used only when
 * root's.  Why per user: a user who could put an unpacked image where
 * another user's run looks would choose what that run executes, and a
 * digest proves nothing about a directory's content once unpacked.  Two
 * runs of one user on a node pull a digest once (the key's lock); the
 * others wait for it.
 *
 * An entry ("bundle") is umoci's OCI runtime bundle: <key>/rootfs, the
 * image's files owned by the user, and <key>/config.json, which holds the
 * image's variables.  RunDir is made inside the rootfs, so a runtime that
 * binds only onto what exists (ch-run) can bind the runs' directories at
 * the same path.
 *
 * The tools are skopeo (registry access: the site's ContainerAuthFile and
 * ContainerCertDir, else the user's own `skopeo login`) and umoci, found
 * on PATH=/usr/bin:/bin, run in a clean environment (env_build.h) that
 * keeps HOME and XDG_RUNTIME_DIR (where a login is kept).
 */
#ifndef AML_IMAGE_PULL_H
#define AML_IMAGE_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "env_cache.h"
#include "environment.h"
#include "site.h"

/* Asking the registry for a digest, and a whole pull. */
#define AML_IMAGE_RESOLVE_TIMEOUT_MS 60000
#define AML_IMAGE_PULL_TIMEOUT_MS (3600 * 1000LL)

/*
 * The digest [ref] names now ("sha256:<hex>" into [digest]): the one it
 * carries, else the registry's answer for its tag.  Returns 0, or -1 with
 * "image REF: <the registry's answer>" in errbuf.
 */
int aml_image_resolve(const char *ref, const struct aml_site *site,
		      char digest[72], char *errbuf, size_t errlen);

/*
 * Make [ref] ready on this node: resolve it, then find its digest in
 * ImageDir or pull and unpack it (waiting up to [wait_ms] for another
 * pull of it).  [digest] gets the digest, [bundle] the bundle's path,
 * [log_path] the pull log's (only when pulled or failed, else "").  On
 * FAILED and ERROR errbuf says why in one line, naming the image.
 */
enum aml_env_outcome aml_image_make(const char *ref,
				    const struct aml_site *site,
				    int64_t wait_ms, char digest[72],
				    char *bundle, size_t blen,
				    char *log_path, size_t llen,
				    char *errbuf, size_t errlen);

/*
 * What the node's Preparing says of [ref], without asking the registry:
 * "image REF (sha256:0123456789ab): cached" when an image pulled for it
 * is ready here, else "image REF: pulling".
 */
void aml_image_reason(const char *ref, const struct aml_site *site,
		      char *buf, size_t len);

/*
 * The registry's answer in skopeo's output [text]: the message of its
 * last `level=fatal msg="..."` line, unquoted, else its last line; into
 * [buf].  Pure.
 */
void aml_image_skopeo_reason(const char *text, size_t len, char *buf,
			     size_t buflen);

/*
 * Images the site builds (ContainerBuilder=podman) from a run's Docker
 * build: the content key of [c]'s build (environment.h's build fields):
 * SHA-256 of its Dockerfile (text, or path in the context), the site's
 * ContainerBuilderArgs and every entry of the build context (path, type, mode,
 * content; at most 100000 entries and 8 GiB), read as the run's user.
 * 0, or -1 with errbuf.
 */
int aml_image_build_key(const struct aml_env_choice *c,
			const struct aml_site *site, char key[65],
			char *errbuf, size_t errlen);

/*
 * Make [c]'s build ready on this node: its key, then ImageDir's build of
 * it, found or built now (`podman build` with the host's network and the
 * site's registry access, `podman push` into an OCI layout, `umoci unpack
 * --rootless`; podman's storage for it is removed after), as
 * aml_image_make.
 */
enum aml_env_outcome aml_image_build_make(const struct aml_env_choice *c,
					  const struct aml_site *site,
					  int64_t wait_ms, char key[65],
					  char *bundle, size_t blen,
					  char *log_path, size_t llen,
					  char *errbuf, size_t errlen);

/*
 * mkdir -p [path] (absolute: the site's RunDir, where runs are bound)
 * below [root] (an unpacked image's rootfs), one component at a time and
 * never through a symlink or "..": the tree is the image's, and an
 * image's symlink (/var -> /etc) must not make the puller (root, for
 * shared/) create directories elsewhere on the host.  0, or -1 with
 * errno (ELOOP or ENOTDIR where a component is not a directory).
 */
int aml_image_make_mountpoint(const char *root, const char *path);

#endif
