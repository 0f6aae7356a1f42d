/*
 * launch_image.c: see launch_image.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "env_cache.h"
#include "errors.h"
#include "fdio.h"
#include "image_pull.h"
#include "image_ref.h"
#include "job_env.h"
#include "launch_env.h"
#include "runconfig.h"
#include "launch_image.h"
#include "launch_reap.h"
#include "site.h"
#include "tree.h"

/* How long a process waits for another run's pull of the same image. */
#define PULL_WAIT_MS (3600LL * 1000)
/* An image's config.json is a few KiB; a bigger one is not umoci's. */
#define CONFIG_MAX (1u << 20)

static const char opt_image[] = "--in-image=";
static const char opt_shm[] = "--shm-bytes=";
static const char opt_ipc[] = "--ipc-host";
/* --in-image=built:KEY: an image the site built from the run's Docker
 * build, by its content key. */
#define BUILT "built:"

/* registry/repository@digest of [ref] pinned to [digest]. */
static int pin(const char *ref, const char *digest, char *buf, size_t len,
	       char *errbuf, size_t errlen)
{
	struct aml_image_ref parsed;
	char why[256];

	if (aml_image_ref_parse(ref, &parsed, why, sizeof(why)) < 0)
		return aml_fail(errbuf, errlen, "image %s: %s", ref, why);
	snprintf(parsed.digest, sizeof(parsed.digest), "%s", digest);
	if (aml_image_ref_format(&parsed, 1, buf, len) < 0)
		return aml_fail(errbuf, errlen, "image %s: name too long", ref);
	return 0;
}

/*
 * The image ready on this node, held: [build]'s when it is a Docker build
 * the site makes, else [ref]'s pull.  [bundle], [key] (the digest's or
 * the build's hex), the hold in [*held_fd]; the log, when there was a
 * pull or a build, kept in the working directory as [log_name].  0, or
 * -1 with errbuf.
 */
static int make_held(const struct aml_site *site,
		     const struct aml_env_choice *build, const char *ref,
		     int workdir_fd, const char *log_name, char *bundle,
		     size_t blen, char key[65], int *held_fd, char *errbuf,
		     size_t errlen)
{
	struct aml_env_hold held = { -1 };
	enum aml_env_outcome got;
	char log_path[PATH_MAX], digest[72];

	*held_fd = -1;
	if (build) {
		got = aml_image_build_make(build, site, PULL_WAIT_MS, key,
					   bundle, blen, log_path,
					   sizeof(log_path), errbuf, errlen);
	} else {
		got = aml_image_make(ref, site, PULL_WAIT_MS, digest, bundle,
				     blen, log_path, sizeof(log_path), errbuf,
				     errlen);
		snprintf(key, 65, "%s", got == AML_ENV_CACHED ||
						got == AML_ENV_BUILT
					? digest + 7 : "");
	}
	if (log_path[0])
		launch_keep_log(workdir_fd, log_path, log_name);
	if (got != AML_ENV_CACHED && got != AML_ENV_BUILT)
		return -1;
	/* Held while the run runs, so that no gc takes it away under it. */
	if (aml_env_cache_hold(site->image_dir, key, &held, bundle, blen,
			       errbuf, errlen) < 0)
		return -1;
	*held_fd = held.fd;
	return 0;
}

int launch_image_prepare(const struct launch_ctx *c,
			 const struct aml_env_choice *env,
			 struct launch_image *img, char *errbuf,
			 size_t errlen)
{
	char digest[72], key[65];

	img->pinned[0] = img->bundle[0] = '\0';
	img->held_fd = -1;
	if (!aml_env_in_container(env))
		return 0;
	if (!env->image) {
		/* What the site builds travels by its key; every node
		 * finds it, or builds it from the same context. */
		if (make_held(c->site, env, NULL, c->workdir_fd,
			      "image_build_log.txt", img->bundle,
			      sizeof(img->bundle), key, &img->held_fd, errbuf,
			      errlen) < 0)
			return -1;
		snprintf(img->pinned, sizeof(img->pinned), "%s%s", BUILT, key);
		return 0;
	}
	if (c->site->container_runtime == AML_CONTAINER_PYXIS) {
		/* enroot pulls on each node; the digest keeps them equal. */
		if (aml_image_resolve(env->image, c->site, digest, errbuf,
				      errlen) < 0)
			return -1;
		return pin(env->image, digest, img->pinned,
			   sizeof(img->pinned), errbuf, errlen);
	}
	if (make_held(c->site, NULL, env->image, c->workdir_fd,
		      "image_pull_log.txt", img->bundle, sizeof(img->bundle),
		      key, &img->held_fd, errbuf, errlen) < 0)
		return -1;
	snprintf(digest, sizeof(digest), "sha256:%s", key);
	return pin(env->image, digest, img->pinned, sizeof(img->pinned),
		   errbuf, errlen);
}

/* [argv] through `aml-launch --in-image` ([self], this program). */
static int wrap(const struct launch_image *img,
		const struct aml_env_choice *env, const char *self,
		char *const *argv, struct aml_strlist *out)
{
	char *word = NULL;
	int bad;

	memset(out, 0, sizeof(*out));
	bad = aml_strlist_push(out, self) < 0 ||
	      asprintf(&word, "%s%s", opt_image, img->pinned) < 0 ||
	      aml_strlist_push(out, word) < 0;
	free(word);
	word = NULL;
	if (!bad && env->shm_bytes)
		bad = asprintf(&word, "%s%" PRIu64, opt_shm, env->shm_bytes) <
			      0 ||
		      aml_strlist_push(out, word) < 0;
	free(word);
	if (!bad && env->ipc_host)
		bad = aml_strlist_push(out, opt_ipc) < 0;
	if (!bad)
		bad = aml_strlist_push(out, "--") < 0;
	for (size_t i = 0; !bad && argv[i]; i++)
		bad = aml_strlist_push(out, argv[i]) < 0;
	if (bad)
		aml_strlist_free(out);
	return bad ? -1 : 0;
}

/* The job's GPUs on this node as Slurm gave them, for the runtime. */
static const char *job_gpus(void)
{
	const char *g = getenv("SLURM_STEP_GPUS");

	if (!g || !*g)
		g = getenv("SLURM_JOB_GPUS");
	return g && *g ? g : NULL;
}

/* pyxis: srun's container options, RunDir bound. */
static int srun_options(const struct launch_image *img,
			const struct aml_env_choice *env,
			const struct aml_site *site, struct aml_strlist *out,
			char *errbuf, size_t errlen)
{
	struct aml_container_spec s = {
		.runtime = site->container_runtime,
		.runtime_args = site->container_runtime_args,
		.image = img->pinned,
		.workdir = site->run_dir,
		.shm_bytes = env->shm_bytes,
		.ipc_host = env->ipc_host,
		.gpus = job_gpus(),
	};

	return aml_container_srun_options(&s, out, errbuf, errlen);
}

/* pyxis's one --container-workdir cannot be each node's own working
 * directory: each task moves to its AML_WORKDIR (set by the node side)
 * itself. */
static int pyxis_command(char *const *argv, struct aml_strlist *out)
{
	static const char *const head[] = {
		"/bin/sh", "-c", "cd \"$" AML_ENV_WORKDIR "\" && exec \"$@\"",
		"aml-task",
	};
	int bad = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; !bad && i < sizeof(head) / sizeof(*head); i++)
		bad = aml_strlist_push(out, head[i]) < 0;
	for (size_t i = 0; !bad && argv[i]; i++)
		bad = aml_strlist_push(out, argv[i]) < 0;
	if (bad)
		aml_strlist_free(out);
	return bad ? -1 : 0;
}

/* ---- --in-image ---- */

/*
 * The image's own variables where the run has none, and PATH the
 * image's, whose programs the run means: into [out], for the runtime to
 * set inside the container (container.h), never here, where an image's
 * LD_PRELOAD or PATH would choose what the runtime itself runs.
 */
static int image_env(const char *bundle, struct aml_strlist *out,
		     char *errbuf, size_t errlen)
{
	struct aml_strlist vars = { 0 };
	char path[PATH_MAX + 16], *text = NULL;
	size_t len = 0;
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/config.json", bundle);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return aml_fail(errbuf, errlen, "%s: %s", path,
				strerror(errno));
	if (aml_read_fd(fd, CONFIG_MAX, &text, &len) < 0) {
		aml_fail(errbuf, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (aml_container_image_env(text, len, &vars, errbuf, errlen) < 0)
		goto out;
	for (size_t i = 0; i < vars.count; i++) {
		const char *v = vars.items[i];
		size_t n = strcspn(v, "=");
		char name[256];

		if (n >= sizeof(name))
			continue;
		memcpy(name, v, n);
		name[n] = '\0';
		if ((!strcmp(name, "PATH") || !getenv(name)) &&
		    aml_strlist_push(out, v) < 0) {
			aml_fail(errbuf, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	free(text);
	aml_strlist_free(&vars);
	return rc;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("aml-launch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * podman's state for one process of the run: storage, runroot (its
 * sockets and locks; podman refuses one over 50 bytes, so not in the
 * working directory) and tmpdir (where it keeps its pause process's pid),
 * all in a new private directory made by mkdtemp, whose name no other
 * user can have taken first: in the user's XDG_RUNTIME_DIR when it is
 * theirs, else in /tmp.  One per process, as podman's database records
 * its runroot and refuses a second one over the same storage; removed
 * when the process ends (podman_run).
 */
static int podman_private_dir(char *buf, size_t len, char *errbuf,
			      size_t errlen)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (xdg && *xdg == '/' && lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == getuid() && !(st.st_mode & 077) &&
	    (size_t)snprintf(buf, len, "%s/aml-podman-XXXXXX", xdg) < 46 &&
	    mkdtemp(buf))
		return 0;
	snprintf(buf, len, "/tmp/aml-podman-XXXXXX");
	if (!mkdtemp(buf))
		return aml_fail(errbuf, errlen, "podman's run directory in "
				"/tmp: %s", strerror(errno));
	/* Else podman makes /tmp/podman-run-<uid>, a name another user can
	 * take first. */
	if (!xdg || !*xdg)
		setenv("XDG_RUNTIME_DIR", buf, 1);
	return 0;
}

/* How long conmon's exit command (podman container cleanup) has to end
 * after podman run has. */
#define PODMAN_CLEANUP_MS 20000

/*
 * Run podman's [cmd] and stay its subreaper (launch_reap.h): its conmon,
 * its exit command and its pause process end with it, whatever Slurm's
 * process tracking; then its private directory [priv] goes, and this
 * process ends as podman did.
 */
static void podman_run(char *const *cmd, const char *priv)
{
	char pause_pid[PATH_MAX], err[512];
	const char *base = strrchr(priv, '/');
	int status, dirfd;

	snprintf(pause_pid, sizeof(pause_pid), "%s/tmp/pause.pid", priv);
	if (launch_reap_run(cmd, pause_pid, PODMAN_CLEANUP_MS, &status, err,
			    sizeof(err)) < 0)
		say("%s", err);
	dirfd = open(priv, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd >= 0) {
		char parent[PATH_MAX];

		snprintf(parent, sizeof(parent), "%.*s", (int)(base - priv),
			 priv);
		close(dirfd);
		dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0 || aml_tree_remove(dirfd, base + 1) < 0)
			say("podman's directory %s is left: %s", priv,
			    strerror(errno));
		if (dirfd >= 0)
			close(dirfd);
	}
	launch_reap_mirror(status);
}

/* The run's Docker build as the job's configuration gives it (the
 * environment the controller judged), for a node that builds it too. */
static int job_build(const struct aml_site *site, struct aml_env_choice *c,
		     char *errbuf, size_t errlen)
{
	const char *config = getenv(AML_ENV_NODE_CONFIG);
	struct aml_runconfig rc;
	struct aml_errors errs;
	int rc_ok, r = -1;

	if (!config)
		return aml_fail(errbuf, errlen, "%s is not set",
				AML_ENV_NODE_CONFIG);
	aml_errors_init(&errs, NULL);
	rc_ok = aml_runconfig_parse(config, strlen(config), AML_ENV_NODE_CONFIG,
				    NULL, NULL, &site->limits, &rc, &errs) == 0;
	if (rc_ok && aml_env_choose(&rc, site, c, &errs) == 0) {
		if (!c->image && aml_env_in_container(c))
			r = 0;
		else
			aml_fail(errbuf, errlen, "the run's configuration "
				 "holds no Docker build");
	} else {
		aml_fail(errbuf, errlen, "%s", errs.count ? errs.lines[0]
							  : "out of memory");
	}
	if (rc_ok)
		aml_runconfig_free(&rc);
	aml_errors_free(&errs);
	return r;
}


int launch_image_exec(int argc, char **argv)
{
	struct aml_site site;
	struct aml_strlist cmd = { 0 }, vars = { 0 };
	const char *ref = NULL, *node = getenv("SLURMD_NODENAME");
	uint64_t shm = 0;
	int ipc = 0, i, workdir_fd, held_fd = -1;
	char err[1024], bundle[PATH_MAX], key[65], workdir[PATH_MAX],
	     log_name[128];

	for (i = 0; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strncmp(argv[i], opt_image, sizeof(opt_image) - 1))
			ref = argv[i] + sizeof(opt_image) - 1;
		else if (!strncmp(argv[i], opt_shm, sizeof(opt_shm) - 1))
			shm = strtoull(argv[i] + sizeof(opt_shm) - 1, NULL, 10);
		else if (!strcmp(argv[i], opt_ipc))
			ipc = 1;
		else
			break;
	}
	if (!ref || i >= argc - 1 || strcmp(argv[i], "--")) {
		say("usage: aml-launch --in-image=IMAGE@DIGEST [--shm-bytes=N] "
		    "[--ipc-host] -- COMMAND...");
		return 64;
	}
	if (aml_site_load_default(&site, err, sizeof(err)) < 0) {
		say("%s", err);
		return 126;
	}
	if (!getcwd(workdir, sizeof(workdir)) ||
	    (workdir_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		say("the working directory: %s", strerror(errno));
		aml_site_free(&site);
		return 126;
	}
	snprintf(log_name, sizeof(log_name), "image_pull_log.%s.txt",
		 node && *node && !strchr(node, '/') ? node : "node");
	if (!strncmp(ref, BUILT, sizeof(BUILT) - 1)) {
		struct aml_env_choice build = { 0 };
		int r = job_build(&site, &build, err, sizeof(err));

		snprintf(log_name, sizeof(log_name), "image_build_log.%s.txt",
			 node && *node && !strchr(node, '/') ? node : "node");
		if (r == 0)
			r = make_held(&site, &build, NULL, workdir_fd, log_name,
				      bundle, sizeof(bundle), key, &held_fd,
				      err, sizeof(err));
		if (r == 0 && strcmp(key, ref + sizeof(BUILT) - 1))
			r = aml_fail(err, sizeof(err), "image build: the build "
				     "context changed since the batch node "
				     "built it (key %.12s, now %.12s)",
				     ref + sizeof(BUILT) - 1, key);
		aml_env_choice_free(&build);
		if (r < 0) {
			say("%s", err);
			close(workdir_fd);
			aml_site_free(&site);
			return 126;
		}
	} else if (make_held(&site, NULL, ref, workdir_fd, log_name, bundle,
			     sizeof(bundle), key, &held_fd, err,
			     sizeof(err)) < 0) {
		say("%s", err);
		close(workdir_fd);
		aml_site_free(&site);
		return 126;
	}
	if (image_env(bundle, &vars, err, sizeof(err)) < 0) {
		say("%s", err);
		close(workdir_fd);
		aml_site_free(&site);
		return 126;
	}
	close(workdir_fd);
	/* The hold goes on with the runtime, and the command under it. */
	if (held_fd >= 0)
		fcntl(held_fd, F_SETFD, 0);
	{
		char *binds[] = { site.run_dir, NULL };
		struct aml_container_spec s = {
			.runtime = site.container_runtime,
			.runtime_args = site.container_runtime_args,
			.bundle = bundle,
			.workdir = workdir,
			.binds = binds,
			.shm_bytes = shm,
			.ipc_host = ipc,
			.gpus = job_gpus(),
			.env = vars.items,
			.argv = argv + i + 1,
		};
		char priv[64] = "";

		if (site.container_runtime == AML_CONTAINER_PODMAN &&
		    podman_private_dir(priv, sizeof(priv), err,
				       sizeof(err)) < 0) {
			say("%s", err);
			aml_site_free(&site);
			return 126;
		}
		s.storage_dir = priv;
		if (aml_container_argv(&s, &cmd, err, sizeof(err)) < 0) {
			say("%s", err);
			aml_site_free(&site);
			return 126;
		}
		if (priv[0])
			podman_run(cmd.items, priv);
	}
	execvp(cmd.items[0], cmd.items);
	say("cannot run %s: %s", cmd.items[0], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

int launch_image_command(const struct launch_image *img,
			 const struct aml_env_choice *env,
			 const struct aml_site *site, char *const *argv,
			 struct aml_strlist *command,
			 struct aml_strlist *srun_opts, int *srun_only,
			 char *errbuf, size_t errlen)
{
	char self[PATH_MAX];
	ssize_t n;

	memset(command, 0, sizeof(*command));
	memset(srun_opts, 0, sizeof(*srun_opts));
	*srun_only = 0;
	if (!img->pinned[0])
		return 0;
	if (site->container_runtime == AML_CONTAINER_PYXIS) {
		*srun_only = 1;
		if (srun_options(img, env, site, srun_opts, errbuf, errlen) < 0)
			return -1;
		if (pyxis_command(argv, command) < 0) {
			aml_strlist_free(srun_opts);
			return aml_fail(errbuf, errlen, "out of memory");
		}
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return aml_fail(errbuf, errlen,
				"cannot find aml-launch itself: %s",
				strerror(errno));
	self[n] = '\0';
	if (wrap(img, env, self, argv, command) < 0)
		return aml_fail(errbuf, errlen, "out of memory");
	return 0;
}
