/*
 * container.c: each runtime's command line for one process of a run in its
 * unpacked image (container.h).
 *
 * Why each option is there, runtime by runtime:
 *
 * podman (podman-run(1), podman 4.3; every option below run rootless on
 * this machine with --runtime runc --cgroup-manager=cgroupfs, which the
 * site gives in ContainerRuntimeArgs):
 *   --root/--runroot     the caller's per-user storage, so no two users
 *                        (nor the cluster tests) share podman's state.
 *   --rm                 nothing of the run outlives it in that storage.
 *   --rootfs             run the unpacked bundle, no image store.
 *   --read-only          the bundle is shared by every run of the digest;
 *                        without it the run would write into it.  podman
 *                        then mounts tmpfs on /tmp, /var/tmp and /run
 *                        (--read-only-tmpfs, default true).
 *   --network=host       ranks on different nodes meet over TCP as they
 *                        would without a container (no slirp4netns here).
 *   --pid=host           the command is not PID 1 of a new namespace,
 *                        where the kernel drops a SIGTERM it has no handler
 *                        for (a Python script's), so scancel and the
 *                        duration limit end it as without a container;
 *                        ranks see each other's pids.
 *   --userns=keep-id     the user's own uid and gid inside, not root: the
 *                        files it writes in the workdir are its own.
 *   --env-host           the host's environment (AZUREML_*, RANK, MASTER_*,
 *                        ...) over the image's; podman reads no image
 *                        config with --rootfs (container.h's image_env).
 *   --log-driver=passthrough  the process writes to the launcher's own
 *                        descriptors: no copy through conmon, no log file
 *                        in the storage, isatty as without a container.
 *   signals              --sig-proxy=true is podman's default (checked:
 *                        a SIGTERM to podman reaches the command's trap).
 *   --shm-size=<bytes>   /dev/shm's size when the run asks (podman's own
 *                        default is 64 MiB); podman refuses it together
 *                        with --ipc=host, and so do we.
 *   --device=nvidia.com/gpu=N  each GPU of the job through CDI (the node
 *                        needs the NVIDIA CDI specification).
 *   Not used: --group-add=keep-groups (crun only; runc is the runtime
 *   here), --privileged, --user (keep-id already maps the user).
 *
 * Charliecloud (ch-run(1) of 0.31):
 *   --bind=W:W --cd=W    the workdir at the same path (DST must exist in
 *                        the image: container.h), the start directory.
 *   The image stays read-only (no --write).  ch-run uses only user and
 *   mount namespaces: the host network, IPC and /dev (so /dev/shm at the
 *   host's size) are shared; the uid is the user's (it cannot change
 *   uids); it passes the host environment through unaltered except
 *   TMPDIR (unset, the host's /tmp is bound at /tmp), PATH (/bin added
 *   when missing) and CH_RUNNING: we give no --set-env or --unset-env.
 *   ch-run execs the command (a directory image), so signals reach it
 *   directly.  GPUs: nothing here; the site injects the driver's files
 *   into the image with ch-fromhost(1) --nvidia.
 *
 * Apptainer (apptainer-exec(1)):
 *   exec --bind=W:W --pwd=W [--nv] <rootfs> CMD...  The host environment
 *   passes by default (no --cleanenv, no --containall); so do the host's
 *   network, IPC (no --ipc) and PID namespaces and /dev/shm; the uid is
 *   the user's (no --fakeroot).  --nv binds the NVIDIA driver and every
 *   GPU; CUDA_VISIBLE_DEVICES from the host picks the job's.  The sandbox
 *   directory is read-only unless --writable, which is not given.
 *
 * pyxis (its README; enroot's docker.sh for the image reference): see
 * aml_container_srun_options.  enroot shares the host's network, IPC and
 * /dev/shm, runs the user's uid unless remapped (we say
 * --no-container-remap-root whatever the site's default), and its hooks
 * give the GPUs Slurm gave the step.
 */
#include "container.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "errors.h"
#include "text.h"

#define SHOWN_MAX 160

/* ---- building a list: push everything, check once ---- */

struct words {
	struct aml_strlist list;
	int oom;
};

static void word(struct words *w, const char *s)
{
	if (!w->oom && aml_strlist_push(&w->list, s) != 0)
		w->oom = 1;
}

/* The strings up to a NULL joined as one word. */
static void __attribute__((sentinel))
joined(struct words *w, const char *first, ...)
{
	struct aml_text t = AML_TEXT_INIT;
	va_list ap;
	char *s;

	va_start(ap, first);
	for (const char *part = first; part; part = va_arg(ap, const char *))
		aml_text_str(&t, part);
	va_end(ap);
	s = aml_text_finish(&t);
	if (!s) {
		w->oom = 1;
		return;
	}
	word(w, s);
	free(s);
}

/* [option]P:P for each path P: a bind at the same path. */
/* Whether [path] is [dir] or below it. */
static int is_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '/' || !path[n]);
}

/*
 * The workdir and the binds at the same path.  A workdir below a bind
 * (RunDir/<user>/<run>/<node> below RunDir) comes with it: a bind of its
 * own would need its mount point in the image for ch-run, which no image
 * has for a run's own directory.
 */
static void same_path_binds(struct words *w, const char *option,
			    const struct aml_container_spec *s)
{
	int covered = 0;

	for (size_t i = 0; s->binds && s->binds[i]; i++)
		covered |= is_below(s->workdir, s->binds[i]);
	if (!covered)
		joined(w, option, s->workdir, ":", s->workdir, NULL);
	for (size_t i = 0; s->binds && s->binds[i]; i++)
		joined(w, option, s->binds[i], ":", s->binds[i], NULL);
}

static void words_all(struct words *w, char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		word(w, v[i]);
}

/* [option]K=V for each variable of s->env: set by the runtime inside the
 * container, so that an image's LD_PRELOAD or PATH never reaches the
 * runtime's own process on the host. */
static void env_words(struct words *w, const char *option,
		      const struct aml_container_spec *s)
{
	for (size_t i = 0; s->env && s->env[i]; i++)
		joined(w, option, s->env[i], NULL);
}

/* Move what [w] built to the end of [out]; -1 (and [w] released) when
 * memory ran out at any point, [out] then as it was. */
static int words_finish(struct words *w, struct aml_strlist *out,
			char *errbuf, size_t errlen)
{
	char **grown = NULL;

	if (!w->oom && w->list.count > 0) {
		grown = realloc(out->items, (out->count + w->list.count + 1) *
						    sizeof(*grown));
		if (grown) {
			out->items = grown;
			memcpy(out->items + out->count, w->list.items,
			       w->list.count * sizeof(*grown));
			out->count += w->list.count;
			/* An argv, as strlist.h's pushes leave one. */
			out->items[out->count] = NULL;
			free(w->list.items);
			w->list.items = NULL;
			w->list.count = 0;
			return 0;
		}
	}
	if (!w->oom && w->list.count == 0)
		return 0;
	aml_strlist_free(&w->list);
	return aml_fail(errbuf, errlen, "container: out of memory");
}

/* ---- checks ---- */

/*
 * A path given to a runtime to bind or run: absolute, and without the
 * characters the runtimes split a bind at (podman's --volume and
 * apptainer's --bind at ':', ch-run's --bind at ':', pyxis's
 * --container-mounts at ',' and ':', apptainer's --bind list at ','; a
 * --rootfs ending in ":O" is an overlay to podman), nor controls: such a
 * path would bind something else than the caller meant.
 */
static int check_path(const char *field, const char *path, char *errbuf,
		      size_t errlen)
{
	char shown[SHOWN_MAX];

	if (!path || !*path)
		return aml_fail(errbuf, errlen, "container: %s: missing",
				field);
	if (path[0] == '/' && !strpbrk(path, ":,")) {
		const unsigned char *p = (const unsigned char *)path;

		while (*p >= 0x20 && *p != 0x7f)
			p++;
		if (!*p)
			return 0;
	}
	return aml_fail(errbuf, errlen,
			"container: %s: must be an absolute path without ':', "
			"',' or control characters (the runtimes split a bind "
			"there), got %s",
			field, aml_text_quote(path, strlen(path), shown,
					      sizeof(shown)));
}

static int check_binds(const struct aml_container_spec *s, char *errbuf,
		       size_t errlen)
{
	if (check_path("workdir", s->workdir, errbuf, errlen) != 0)
		return -1;
	for (size_t i = 0; s->binds && s->binds[i]; i++)
		if (check_path("binds", s->binds[i], errbuf, errlen) != 0)
			return -1;
	return 0;
}

static int has_gpus(const struct aml_container_spec *s)
{
	return s->gpus && *s->gpus;
}

/* gpus: decimal indices separated by single commas. */
static int check_gpus(const struct aml_container_spec *s, char *errbuf,
		      size_t errlen)
{
	const char *p = s->gpus;
	char shown[SHOWN_MAX];

	if (!has_gpus(s))
		return 0;
	for (;;) {
		size_t n = 0;

		while (aml_ascii_is_digit((unsigned char)p[n]))
			n++;
		if (n == 0 || n > 9)
			break;
		p += n;
		if (!*p)
			return 0;
		if (*p != ',')
			break;
		p++;
	}
	return aml_fail(errbuf, errlen,
			"container: gpus: must be GPU indices separated by "
			"commas (\"0,1\"), got %s",
			aml_text_quote(s->gpus, strlen(s->gpus), shown,
				       sizeof(shown)));
}

static int check_command(const struct aml_container_spec *s, char *errbuf,
			 size_t errlen)
{
	if (!s->argv || !s->argv[0] || !*s->argv[0])
		return aml_fail(errbuf, errlen,
				"container: argv: no command to run");
	return 0;
}

/* ---- the runtimes ---- */

static void rootfs_word(struct words *w, const char *bundle)
{
	joined(w, bundle, "/rootfs", NULL);
}

static void podman_argv(const struct aml_container_spec *s, struct words *w)
{
	word(w, "podman");
	words_all(w, s->runtime_args);
	word(w, "--root");
	joined(w, s->storage_dir, "/root", NULL);
	word(w, "--runroot");
	if (s->runroot)
		word(w, s->runroot);
	else
		joined(w, s->storage_dir, "/run", NULL);
	/* Its own state beside the runroot: podman's default,
	 * /tmp/podman-run-<uid>, is a name another user can take first. */
	word(w, "--tmpdir");
	if (s->runroot)
		joined(w, s->runroot, "/tmp", NULL);
	else
		joined(w, s->storage_dir, "/tmp", NULL);
	word(w, "run");
	word(w, "--rm");
	word(w, "--rootfs");
	word(w, "--read-only");
	word(w, "--network=host");
	word(w, "--pid=host");
	word(w, "--userns=keep-id");
	word(w, "--env-host");
	word(w, "--log-driver=passthrough");
	same_path_binds(w, "--volume=", s);
	joined(w, "--workdir=", s->workdir, NULL);
	env_words(w, "--env=", s);
	if (s->ipc_host)
		word(w, "--ipc=host");
	if (s->shm_bytes > 0) {
		char bytes[24];

		snprintf(bytes, sizeof(bytes), "%llu",
			 (unsigned long long)s->shm_bytes);
		joined(w, "--shm-size=", bytes, NULL);
	}
	if (has_gpus(s)) {
		const char *p = s->gpus;

		while (*p) {
			size_t n = strcspn(p, ",");
			char index[16];

			memcpy(index, p, n);
			index[n] = '\0';
			joined(w, "--device=nvidia.com/gpu=", index, NULL);
			p += n + (p[n] == ',');
		}
	}
	rootfs_word(w, s->bundle);
	words_all(w, s->argv);
}

static void charliecloud_argv(const struct aml_container_spec *s,
			      struct words *w)
{
	word(w, "ch-run");
	words_all(w, s->runtime_args);
	same_path_binds(w, "--bind=", s);
	joined(w, "--cd=", s->workdir, NULL);
	/* Values as the image wrote them: ch-run would expand $VAR. */
	if (s->env && s->env[0])
		word(w, "--env-no-expand");
	env_words(w, "--set-env=", s);
	rootfs_word(w, s->bundle);
	word(w, "--");
	words_all(w, s->argv);
}

static void apptainer_argv(const struct aml_container_spec *s,
			   struct words *w)
{
	word(w, "apptainer");
	words_all(w, s->runtime_args);
	word(w, "exec");
	same_path_binds(w, "--bind=", s);
	joined(w, "--pwd=", s->workdir, NULL);
	env_words(w, "--env=", s);
	if (has_gpus(s))
		word(w, "--nv");
	/* exec stops reading its options at the container: the command's
	 * own options stay the command's. */
	rootfs_word(w, s->bundle);
	words_all(w, s->argv);
}

int aml_container_argv(const struct aml_container_spec *s,
		       struct aml_strlist *out, char *errbuf, size_t errlen)
{
	struct words w = { { 0 }, 0 };
	const char *name = aml_container_runtime_name(s->runtime);

	switch (s->runtime) {
	case AML_CONTAINER_PODMAN:
	case AML_CONTAINER_CHARLIECLOUD:
	case AML_CONTAINER_APPTAINER:
		break;
	case AML_CONTAINER_PYXIS:
		return aml_fail(errbuf, errlen,
				"container: pyxis runs the image through "
				"srun's options, not a command of its own");
	case AML_CONTAINER_NONE:
	default:
		return aml_fail(errbuf, errlen,
				"container: no command line for runtime %s",
				name);
	}
	if (check_path("bundle", s->bundle, errbuf, errlen) != 0 ||
	    check_binds(s, errbuf, errlen) != 0 ||
	    check_gpus(s, errbuf, errlen) != 0 ||
	    check_command(s, errbuf, errlen) != 0)
		return -1;
	/* apptainer's --env is a list: it splits its value at commas. */
	for (size_t i = 0; s->runtime == AML_CONTAINER_APPTAINER && s->env &&
			   s->env[i]; i++)
		if (strchr(s->env[i], ','))
			return aml_fail(errbuf, errlen,
					"container: apptainer: the image's "
					"variable %.*s holds a ',', which "
					"apptainer's --env would split",
					(int)strcspn(s->env[i], "="), s->env[i]);
	if (s->runtime == AML_CONTAINER_PODMAN) {
		if (check_path("storage_dir", s->storage_dir, errbuf,
			       errlen) != 0 ||
		    (s->runroot && check_path("runroot", s->runroot, errbuf,
					      errlen) != 0))
			return -1;
		if (s->ipc_host && s->shm_bytes > 0)
			return aml_fail(errbuf, errlen,
					"container: podman: a /dev/shm size "
					"and the host's IPC namespace cannot "
					"both be asked (--shm-size conflicts "
					"with --ipc=host)");
		podman_argv(s, &w);
	} else if (s->runtime == AML_CONTAINER_CHARLIECLOUD) {
		charliecloud_argv(s, &w);
	} else {
		apptainer_argv(s, &w);
	}
	return words_finish(&w, out, errbuf, errlen);
}

/* ---- pyxis ---- */

static int is_lower_name(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		      aml_ascii_is_digit((unsigned char)p[i]) ||
		      strchr("/._-", p[i])))
			return 0;
	return n > 0;
}

static int is_tag(const char *p, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!(aml_ascii_is_alpha((unsigned char)p[i]) ||
		      aml_ascii_is_digit((unsigned char)p[i]) ||
		      strchr("._-", p[i]) || strchr(extra, p[i])))
			return 0;
	return n > 0;
}

/*
 * [image] (registry/repo:tag, registry/repo@sha256:HEX) in enroot's form,
 * which enroot's docker.sh reads as [USER@][REGISTRY#]IMAGE[:TAG] with
 * IMAGE in [a-z0-9/._-] and TAG in [A-Za-z0-9._:-]: the registry (a first
 * component with '.' or ':', or "localhost", as docker reads it) before
 * '#'; a digest as a tag ("sha256:HEX", which enroot puts in the manifest
 * URL as the registry API takes a digest), since '@' is its USER@; a tag
 * beside a digest is dropped, the digest naming the image.  Into a new
 * string in *[out].
 */
static int enroot_image(const char *image, char **out, char *errbuf,
			size_t errlen)
{
	const char *slash, *name, *at, *colon, *end;
	const char *registry = NULL;
	size_t registry_len = 0;
	struct aml_text t = AML_TEXT_INIT;
	char shown[SHOWN_MAX];

	if (!image || !*image)
		return aml_fail(errbuf, errlen, "container: image: missing");
	end = image + strlen(image);
	slash = strchr(image, '/');
	name = image;
	if (slash) {
		size_t n = (size_t)(slash - image);

		if (memchr(image, '.', n) || memchr(image, ':', n) ||
		    (n == 9 && memcmp(image, "localhost", 9) == 0)) {
			registry = image;
			registry_len = n;
			name = slash + 1;
		}
	}
	at = strchr(name, '@');
	colon = memchr(name, ':', (size_t)((at ? at : end) - name));
	if (!is_lower_name(name, (size_t)((colon ? colon : at ? at : end) -
					  name)) ||
	    (colon && !is_tag(colon + 1,
			      (size_t)((at ? at : end) - colon - 1), "")) ||
	    (at && (strncmp(at + 1, "sha256:", 7) != 0 ||
		    !is_tag(at + 8, (size_t)(end - at - 8), ""))) ||
	    (registry && (memchr(registry, '#', registry_len) ||
			  memchr(registry, '@', registry_len) ||
			  !is_tag(registry, registry_len, ":"))))
		return aml_fail(errbuf, errlen,
				"container: image: must be "
				"[registry/]repository[:tag][@sha256:digest] "
				"with a lowercase repository, got %s",
				aml_text_quote(image, strlen(image), shown,
					       sizeof(shown)));
	if (registry) {
		aml_text_add(&t, registry, registry_len);
		aml_text_str(&t, "#");
	}
	aml_text_add(&t, name,
		     (size_t)((colon ? colon : at ? at : end) - name));
	if (at) {
		aml_text_str(&t, ":");
		aml_text_str(&t, at + 1);
	} else if (colon) {
		aml_text_str(&t, colon);
	}
	*out = aml_text_finish(&t);
	if (!*out)
		return aml_fail(errbuf, errlen, "container: out of memory");
	return 0;
}

int aml_container_srun_options(const struct aml_container_spec *s,
			       struct aml_strlist *out, char *errbuf,
			       size_t errlen)
{
	struct words w = { { 0 }, 0 };
	struct aml_text mounts = AML_TEXT_INIT;
	char *image = NULL, *list;

	if (s->runtime != AML_CONTAINER_PYXIS)
		return aml_fail(errbuf, errlen,
				"container: srun options are pyxis's; "
				"runtime %s has a command line",
				aml_container_runtime_name(s->runtime));
	if (check_binds(s, errbuf, errlen) != 0 ||
	    enroot_image(s->image, &image, errbuf, errlen) != 0)
		return -1;
	aml_text_str(&mounts, s->workdir);
	aml_text_str(&mounts, ":");
	aml_text_str(&mounts, s->workdir);
	for (size_t i = 0; s->binds && s->binds[i]; i++) {
		aml_text_str(&mounts, ",");
		aml_text_str(&mounts, s->binds[i]);
		aml_text_str(&mounts, ":");
		aml_text_str(&mounts, s->binds[i]);
	}
	list = aml_text_finish(&mounts);
	if (!list)
		w.oom = 1;
	words_all(&w, s->runtime_args);
	joined(&w, "--container-image=", image, NULL);
	if (list)
		joined(&w, "--container-mounts=", list, NULL);
	joined(&w, "--container-workdir=", s->workdir, NULL);
	word(&w, "--no-container-remap-root");
	word(&w, "--no-container-entrypoint");
	free(image);
	free(list);
	return words_finish(&w, out, errbuf, errlen);
}

/* ---- the image's variables ---- */

int aml_container_image_env(const char *json, size_t len,
			    struct aml_strlist *out, char *errbuf,
			    size_t errlen)
{
	struct aml_errors errs;
	struct aml_node *root;
	const struct aml_node *process, *env;
	struct words w = { { 0 }, 0 };
	int r = -1;

	if (len > AML_CONTAINER_ENV_MAX_BYTES)
		return aml_fail(errbuf, errlen,
				"config.json: %zu bytes, more than the %d "
				"read", len, AML_CONTAINER_ENV_MAX_BYTES);
	aml_errors_init(&errs, "config.json");
	root = aml_doc_parse(json, len, AML_DOC_JSON, &errs);
	if (!root) {
		aml_fail(errbuf, errlen, "%s",
			 errs.count > 0 ? errs.lines[0]
					: "config.json: out of memory");
		aml_errors_free(&errs);
		return -1;
	}
	aml_errors_free(&errs);
	if (root->type != AML_NODE_OBJECT) {
		aml_fail(errbuf, errlen,
			 "config.json: must be an object, got %s",
			 aml_doc_type_name(root));
		goto done;
	}
	process = aml_doc_get(root, "process");
	if (process && process->type != AML_NODE_OBJECT) {
		aml_fail(errbuf, errlen,
			 "config.json: process: must be an object, got %s",
			 aml_doc_type_name(process));
		goto done;
	}
	env = process ? aml_doc_get(process, "env") : NULL;
	if (env && env->type != AML_NODE_ARRAY) {
		aml_fail(errbuf, errlen,
			 "config.json: process.env: must be an array, got %s",
			 aml_doc_type_name(env));
		goto done;
	}
	if (env && env->n_children > AML_CONTAINER_ENV_MAX_ENTRIES) {
		aml_fail(errbuf, errlen,
			 "config.json: process.env: %zu entries, more than "
			 "the %d read",
			 env->n_children, AML_CONTAINER_ENV_MAX_ENTRIES);
		goto done;
	}
	for (size_t i = 0; env && i < env->n_children; i++) {
		const struct aml_node *e = &env->children[i];
		const char *eq;
		char shown[SHOWN_MAX];

		if (e->type != AML_NODE_STRING ||
		    memchr(e->text, '\0', e->len) ||
		    !(eq = strchr(e->text, '=')) || eq == e->text) {
			aml_doc_describe(e, shown, sizeof(shown));
			aml_fail(errbuf, errlen,
				 "config.json: process.env[%zu]: must be a "
				 "string NAME=VALUE, got %s",
				 i, shown);
			aml_strlist_free(&w.list);
			goto done;
		}
		word(&w, e->text);
	}
	r = words_finish(&w, out, errbuf, errlen);
done:
	aml_doc_free(root);
	return r;
}
