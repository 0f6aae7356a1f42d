/*
 * image_pull.c: see image_pull.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"
#include "env_build.h"
#include "errors.h"
#include "fdio.h"
#include "hash.h"
#include "image_pull.h"
#include "image_ref.h"
#include "strlist.h"
#include "text.h"
#include "tree.h"

/* Shown of a digest in messages, as `docker images` shows it. */
#define SHORT_DIGEST 12

/* ---- skopeo's answer ---- */

void aml_image_skopeo_reason(const char *text, size_t len, char *buf,
			     size_t buflen)
{
	const char *end = text + len, *line = text, *best = NULL, *last = NULL;
	size_t best_n = 0, last_n = 0;
	char raw[1024];
	size_t r = 0;

	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = (size_t)((nl ? nl : end) - line);
		const char *msg = memmem(line, n, "msg=\"", 5);

		while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
			n--;
		if (n) {
			last = line;
			last_n = n;
		}
		if (msg && memmem(line, n, "level=fatal", 11)) {
			best = msg + 5;
			best_n = (size_t)(line + n - best);
			/* The closing quote is the line's last byte. */
			if (best_n && best[best_n - 1] == '"')
				best_n--;
		}
		line = nl ? nl + 1 : end;
	}
	if (!best) {
		best = last;
		best_n = last_n;
	}
	/* Go's %q escapes: \" and \\ are all skopeo's messages carry. */
	for (size_t i = 0; best && i < best_n && r < sizeof(raw) - 1; i++) {
		if (best[i] == '\\' && i + 1 < best_n &&
		    (best[i + 1] == '"' || best[i + 1] == '\\'))
			i++;
		raw[r++] = best[i];
	}
	if (!r) {
		snprintf(buf, buflen, "no answer");
		return;
	}
	aml_text_escape_n(raw, r, buf, buflen);
}

/* ---- running skopeo and umoci ---- */

/* env_build.h's clean environment, and XDG_RUNTIME_DIR, where a user's
 * own `skopeo login` keeps its credentials (image_pull.h). */
static int clean_env(struct aml_strlist *env, const char *fallback_runtime)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	char *xdg = NULL;
	int bad;

	if (aml_env_clean_env(env, 0) < 0)
		return -1;
	/* Without one podman makes /tmp/podman-run-<uid>, a name another
	 * user can take first. */
	if (!runtime || *runtime != '/')
		runtime = fallback_runtime;
	if (!runtime)
		return 0;
	xdg = aml_env_pair("XDG_RUNTIME_DIR", runtime);
	bad = !xdg || aml_strlist_push(env, xdg) < 0;
	free(xdg);
	return bad ? -1 : 0;
}

/* skopeo's access to the site's registries: its credentials and CA. */
static int access_args(struct aml_strlist *argv, const struct aml_site *site,
		       const char *cert_option)
{
	if (site->container_auth_file &&
	    (aml_strlist_push(argv, "--authfile") < 0 ||
	     aml_strlist_push(argv, site->container_auth_file) < 0))
		return -1;
	if (site->container_cert_dir &&
	    (aml_strlist_push(argv, cert_option) < 0 ||
	     aml_strlist_push(argv, site->container_cert_dir) < 0))
		return -1;
	return 0;
}

int aml_image_resolve(const char *ref, const struct aml_site *site,
		      char digest[72], char *errbuf, size_t errlen)
{
	struct aml_image_ref parsed;
	struct aml_strlist argv = { 0 }, env = { 0 };
	struct aml_command cmd = { .timeout_ms = AML_IMAGE_RESOLVE_TIMEOUT_MS,
				   .out_max = 256, .err_max = 8192 };
	struct aml_command_result res;
	char name[600], why[512], *target = NULL;
	int rc = -1;

	digest[0] = '\0';
	if (aml_image_ref_parse(ref, &parsed, why, sizeof(why)) < 0)
		return aml_fail(errbuf, errlen, "image %s: %s", ref, why);
	if (parsed.digest[0]) {
		snprintf(digest, 72, "%s", parsed.digest);
		return 0;
	}
	if (aml_image_ref_format(&parsed, 0, name, sizeof(name)) < 0 ||
	    asprintf(&target, "docker://%s", name) < 0)
		return aml_fail(errbuf, errlen, "image %s: name too long", ref);
	if (clean_env(&env, NULL) < 0 || aml_strlist_push(&argv, "skopeo") < 0 ||
	    aml_strlist_push(&argv, "inspect") < 0 ||
	    aml_strlist_push(&argv, "--no-tags") < 0 ||
	    aml_strlist_push(&argv, "--format={{.Digest}}") < 0 ||
	    access_args(&argv, site, "--cert-dir") < 0 ||
	    aml_strlist_push(&argv, target) < 0) {
		aml_fail(errbuf, errlen, "out of memory");
		goto out;
	}
	cmd.argv = argv.items;
	cmd.envp = env.items;
	cmd.dir = "/";
	switch (aml_command_run(&cmd, &res)) {
	case AML_COMMAND_EXITED:
		if (res.exit_status == 0) {
			size_t n = strcspn(res.out, "\r\n");

			if (n == 71 && !strncmp(res.out, "sha256:", 7)) {
				memcpy(digest, res.out, 71);
				digest[71] = '\0';
				rc = 0;
			} else {
				aml_fail(errbuf, errlen, "image %s: the "
					 "registry gave no sha256 digest", name);
			}
			break;
		}
		aml_image_skopeo_reason(res.err, res.err_len, why,
					sizeof(why));
		aml_fail(errbuf, errlen, "image %s: %s", name, why);
		break;
	case AML_COMMAND_TIMEOUT:
		aml_fail(errbuf, errlen, "image %s: the registry did not answer "
			 "within %d s", name,
			 AML_IMAGE_RESOLVE_TIMEOUT_MS / 1000);
		break;
	case AML_COMMAND_NOT_STARTED:
		aml_fail(errbuf, errlen, "image %s: cannot run skopeo: %s",
			 name, res.error == ENOENT ? "not installed on this node"
						   : strerror(res.error));
		break;
	default:
		aml_fail(errbuf, errlen, "image %s: skopeo did not finish",
			 name);
		break;
	}
	aml_command_result_free(&res);
out:
	free(target);
	aml_strlist_free(&argv);
	aml_strlist_free(&env);
	return rc;
}

/* ---- the pull, as env_cache's builder ---- */

struct pull {
	const struct aml_site *site;
	const char *source;   /* docker://registry/repository@digest */
	const char *shown;    /* the reference as people read it */
};

/* See image_pull.h. */
int aml_image_make_mountpoint(const char *root, const char *path)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), next, e;
	const char *p = path;
	char part[NAME_MAX + 1];

	if (fd < 0)
		return -1;
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "/");
		if (n > NAME_MAX || (n == 1 && *p == '.') ||
		    (n == 2 && !strncmp(p, "..", 2))) {
			close(fd);
			errno = EINVAL;
			return -1;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		p += n;
		if ((mkdirat(fd, part, 0755) < 0 && errno != EEXIST) ||
		    (next = openat(fd, part, O_RDONLY | O_DIRECTORY |
						     O_NOFOLLOW | O_CLOEXEC)) <
			    0) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		close(fd);
		fd = next;
	}
	close(fd);
	return 0;
}

/* A failed step's one line, from its output in the log. */
static void step_failed(int log_fd, off_t from, const char *step,
			const struct pull *p, int status, char *errbuf,
			size_t errlen)
{
	size_t len = 0;
	char *text = aml_env_log_tail(log_fd, from, &len), why[512];

	aml_image_skopeo_reason(text ? text : "", text ? len : 0, why,
				sizeof(why));
	free(text);
	aml_fail(errbuf, errlen, "image %s: %s failed (status %d): %s",
		 p->shown, step, status, why);
}

/* One step of a pull or a build, logged; 0, or -1 with its one line. */
static int run_step(const struct aml_strlist *argv, char *const *envp,
		    int log_fd, int64_t deadline, const char *step,
		    const struct pull *p, char *errbuf, size_t errlen)
{
	off_t from = 0;
	int r = aml_env_run_logged(argv->items, argv->count, envp, log_fd,
				   deadline, &from, errbuf, errlen);

	if (r > 0)
		step_failed(log_fd, from, step, p, r, errbuf, errlen);
	return r == 0 ? 0 : -1;
}

static int pull_build(void *arg, const char *prefix, int log_fd,
		      char *errbuf, size_t errlen)
{
	const struct pull *p = arg;
	struct aml_strlist copy = { 0 }, unpack = { 0 }, env = { 0 };
	char layout[PATH_MAX + 8], rootfs[PATH_MAX + 8], *dest = NULL,
	     *image = NULL;
	int64_t deadline = aml_monotonic_ms() + AML_IMAGE_PULL_TIMEOUT_MS;
	int rc = -1;

	snprintf(layout, sizeof(layout), "%s.oci", prefix);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", prefix);
	if (clean_env(&env, NULL) < 0 || asprintf(&dest, "oci:%s:img", layout) < 0 ||
	    asprintf(&image, "%s:img", layout) < 0 ||
	    aml_strlist_push(&copy, "skopeo") < 0 ||
	    aml_strlist_push(&copy, "copy") < 0 ||
	    access_args(&copy, p->site, "--src-cert-dir") < 0 ||
	    aml_strlist_push(&copy, p->source) < 0 ||
	    aml_strlist_push(&copy, dest) < 0 ||
	    aml_strlist_push(&unpack, "umoci") < 0 ||
	    aml_strlist_push(&unpack, "unpack") < 0 ||
	    aml_strlist_push(&unpack, "--rootless") < 0 ||
	    aml_strlist_push(&unpack, "--image") < 0 ||
	    aml_strlist_push(&unpack, image) < 0 ||
	    aml_strlist_push(&unpack, prefix) < 0) {
		aml_fail(errbuf, errlen, "out of memory");
		goto out;
	}
	/* What a killed pull left is the cache's to remove with <key>.*;
	 * a layout of our own from before is only in the way. */
	aml_tree_remove(AT_FDCWD, layout);
	if (run_step(&copy, env.items, log_fd, deadline, "pulling", p, errbuf,
		     errlen) < 0 ||
	    run_step(&unpack, env.items, log_fd, deadline, "unpacking", p,
		     errbuf, errlen) < 0)
		goto out;
	if (aml_image_make_mountpoint(rootfs, p->site->run_dir) < 0) {
		aml_fail(errbuf, errlen, "image %s: cannot make %s in it: %s",
			 p->shown, p->site->run_dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	/* The unpacked bundle is what runs use; the layout would double
	 * the disk an image takes. */
	aml_tree_remove(AT_FDCWD, layout);
	free(dest);
	free(image);
	aml_strlist_free(&copy);
	aml_strlist_free(&unpack);
	aml_strlist_free(&env);
	return rc;
}

enum aml_env_outcome aml_image_make(const char *ref,
				    const struct aml_site *site,
				    int64_t wait_ms, char digest[72],
				    char *bundle, size_t blen,
				    char *log_path, size_t llen,
				    char *errbuf, size_t errlen)
{
	struct aml_image_ref parsed;
	struct aml_env_builder b = { .kind = "image" };
	struct pull p = { .site = site };
	char shown[600], source[700], why[512];

	if (llen)
		log_path[0] = '\0';
	if (aml_image_ref_parse(ref, &parsed, why, sizeof(why)) < 0) {
		aml_fail(errbuf, errlen, "image %s: %s", ref, why);
		return AML_ENV_FAILED;
	}
	if (aml_image_ref_format(&parsed, 0, shown, sizeof(shown)) < 0 ||
	    aml_image_resolve(ref, site, digest, errbuf, errlen) < 0)
		return AML_ENV_FAILED;
	snprintf(parsed.digest, sizeof(parsed.digest), "%s", digest);
	memcpy(source, "docker://", 9);
	if (aml_image_ref_format(&parsed, 1, source + 9, sizeof(source) - 9) <
	    0) {
		aml_fail(errbuf, errlen, "image %s: name too long", ref);
		return AML_ENV_FAILED;
	}
	p.source = source;
	p.shown = shown;
	b.what = shown;
	b.build = pull_build;
	b.arg = &p;
	return aml_env_cache_get(site->image_dir, digest + 7, &b, wait_ms,
				 NULL, NULL, bundle, blen, log_path, llen,
				 errbuf, errlen);
}

/* ---- Preparing's reason ---- */

struct newest {
	const char *what;
	char key[AML_ENV_KEY_LEN + 1];
	int64_t built_ms;
};

static void newest_of(void *arg, const struct aml_env_entry *e)
{
	struct newest *n = arg;

	if (e->ready && !strcmp(e->what, n->what) &&
	    (!n->key[0] || e->built_ms > n->built_ms)) {
		memcpy(n->key, e->key, sizeof(n->key));
		n->built_ms = e->built_ms;
	}
}

void aml_image_reason(const char *ref, const struct aml_site *site,
		      char *buf, size_t len)
{
	struct aml_image_ref parsed;
	struct newest n = { 0 };
	char shown[600], err[512], bundle[PATH_MAX];

	if (aml_image_ref_parse(ref, &parsed, err, sizeof(err)) < 0 ||
	    aml_image_ref_format(&parsed, 0, shown, sizeof(shown)) < 0) {
		snprintf(buf, len, "image %s", ref);
		return;
	}
	if (parsed.digest[0]) {
		if (aml_env_cache_lookup(site->image_dir, parsed.digest + 7,
					 bundle, sizeof(bundle), err,
					 sizeof(err)) == 1)
			memcpy(n.key, parsed.digest + 7, AML_ENV_KEY_LEN + 1);
	} else {
		/* The tag's digest is the registry's to say; the newest
		 * pull of this name here is what the run most likely gets. */
		n.what = shown;
		aml_env_cache_scan(site->image_dir, 0, newest_of, &n, err,
				   sizeof(err));
	}
	if (n.key[0])
		snprintf(buf, len, "image %s (sha256:%.*s): cached", shown,
			 SHORT_DIGEST, n.key);
	else
		snprintf(buf, len, "image %s: pulling", shown);
}

/* ---- images the site builds (ContainerBuilder=podman) ---- */

/* A build context bigger than this is refused: it would be read whole
 * for its key by every run. */
#define CONTEXT_MAX_ENTRIES 100000
#define CONTEXT_MAX_BYTES (8ULL << 30)

struct walk {
	struct aml_sha256 h;
	size_t entries;
	uint64_t bytes;
	char err[512];
};

static int hash_part(struct walk *w, const void *p, size_t n)
{
	return aml_sha256_update(&w->h, p, n);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hash the file [fd] (at [rel]) into [w]. */
static int hash_file(struct walk *w, int fd, const char *rel)
{
	struct aml_sha256 f;
	char buf[65536], hex[AML_SHA256_HEX_LEN + 1];
	ssize_t n;

	if (aml_sha256_init(&f) < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (aml_sha256_update(&f, buf, (size_t)n) < 0)
			break;
	if (n != 0) {
		aml_sha256_abort(&f);
		snprintf(w->err, sizeof(w->err), "%s: %s", rel,
			 n < 0 ? strerror(errno) : "cannot hash");
		return -1;
	}
	return aml_sha256_final(&f, hex) < 0 ? -1 : hash_part(w, hex, 65);
}

/* Every entry below [dfd] ([rel] its path in the context), in name order:
 * its path, type, mode and content. */
static int walk_dir(struct walk *w, int dfd, const char *rel)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	if (!d) {
		close(dfd);
		snprintf(w->err, sizeof(w->err), "%s: %s", rel, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			char **grown = realloc(names, (cap = cap ? cap * 2 : 32) *
							      sizeof(*names));
			if (!grown)
				goto out;
			names = grown;
		}
		if (!(names[n] = strdup(e->d_name)))
			goto out;
		n++;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char path[PATH_MAX], head[64], target[PATH_MAX];
		ssize_t t;
		int fd;

		snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "",
			 names[i]);
		if (++w->entries > CONTEXT_MAX_ENTRIES) {
			snprintf(w->err, sizeof(w->err), "more than %d entries",
				 CONTEXT_MAX_ENTRIES);
			goto out;
		}
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			snprintf(w->err, sizeof(w->err), "%s: %s", path,
				 strerror(errno));
			goto out;
		}
		snprintf(head, sizeof(head), "%c %o %llu",
			 S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l'
			 : S_ISREG(st.st_mode) ? 'f' : '?',
			 (unsigned)(st.st_mode & 07777),
			 (unsigned long long)(S_ISREG(st.st_mode) ? st.st_size
								  : 0));
		if (hash_part(w, path, strlen(path) + 1) < 0 ||
		    hash_part(w, head, strlen(head) + 1) < 0)
			goto out;
		if (S_ISLNK(st.st_mode)) {
			t = readlinkat(dirfd(d), names[i], target,
				       sizeof(target) - 1);
			if (t < 0 || hash_part(w, target, (size_t)t) < 0 ||
			    hash_part(w, "", 1) < 0)
				goto out;
		} else if (S_ISREG(st.st_mode)) {
			if ((w->bytes += (uint64_t)st.st_size) >
			    CONTEXT_MAX_BYTES) {
				snprintf(w->err, sizeof(w->err), "more than "
					 "%llu GiB", CONTEXT_MAX_BYTES >> 30);
				goto out;
			}
			fd = openat(dirfd(d), names[i],
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				snprintf(w->err, sizeof(w->err), "%s: %s",
					 path, strerror(errno));
				goto out;
			}
			t = hash_file(w, fd, path);
			close(fd);
			if (t < 0)
				goto out;
		} else if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd(d), names[i],
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC);
			if (fd < 0) {
				snprintf(w->err, sizeof(w->err), "%s: %s",
					 path, strerror(errno));
				goto out;
			}
			if (walk_dir(w, fd, path) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int aml_image_build_key(const struct aml_env_choice *c,
			const struct aml_site *site, char key[65],
			char *errbuf, size_t errlen)
{
	struct walk w = { .entries = 0 };
	const char *df = c->dockerfile_text ? c->dockerfile_text
					    : c->build_dockerfile;
	int ok;

	if (!df || aml_sha256_init(&w.h) < 0)
		return aml_fail(errbuf, errlen, "image build: nothing to build");
	/* Each part ends with a NUL: no two splits hash alike.  The
	 * builder's options can change what it builds. */
	ok = hash_part(&w, "aml-image-build 1", 18) == 0 &&
	     hash_part(&w, c->dockerfile_text ? "text" : "file", 5) == 0 &&
	     hash_part(&w, df, strlen(df) + 1) == 0;
	for (size_t i = 0; ok && site->container_builder_args &&
			   site->container_builder_args[i]; i++)
		ok = hash_part(&w, site->container_builder_args[i],
			       strlen(site->container_builder_args[i]) + 1) == 0;
	if (ok && c->build_context) {
		int fd = open(c->build_context,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			aml_sha256_abort(&w.h);
			return aml_fail(errbuf, errlen, "image build: the build "
					"context %s: %s", c->build_context,
					strerror(errno));
		}
		if (walk_dir(&w, fd, "") < 0) {
			aml_sha256_abort(&w.h);
			return aml_fail(errbuf, errlen, "image build: the build "
					"context %s: %s", c->build_context,
					w.err[0] ? w.err : "out of memory");
		}
	}
	if (!ok) {
		aml_sha256_abort(&w.h);
		return aml_fail(errbuf, errlen, "image build: out of memory");
	}
	return aml_sha256_final(&w.h, key) < 0
		       ? aml_fail(errbuf, errlen, "image build: cannot hash")
		       : 0;
}

struct build {
	const struct aml_site *site;
	const struct aml_env_choice *c;
	const char *key;
};

/*
 * Rootless podman keeps its user namespace in a pause process that never
 * ends by itself, forked away from podman (to init): the build's would
 * outlive the run.  Its pid is in the build's own tmpdir, a directory
 * only this user could write; killed only while it is this user's.
 */
static void end_pause_process(const char *runroot)
{
	char path[96], text[24], proc[40];
	struct stat st;
	ssize_t len;
	int fd, pid;

	snprintf(path, sizeof(path), "%s/tmp/pause.pid", runroot);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (len <= 0)
		return;
	text[len] = '\0';
	pid = atoi(text);
	snprintf(proc, sizeof(proc), "/proc/%d", pid);
	if (pid > 1 && stat(proc, &st) == 0 && st.st_uid == getuid())
		kill(pid, SIGKILL);
}

/* podman's global words: the site's (ContainerBuilderArgs), its storage
 * and short runroot. */
static int podman_head(struct aml_strlist *argv, const struct aml_site *site,
		       const char *root, const char *runroot)
{
	int bad = aml_strlist_push(argv, "podman") < 0;

	for (size_t i = 0; !bad && site->container_builder_args &&
			   site->container_builder_args[i]; i++)
		bad = aml_strlist_push(argv, site->container_builder_args[i]) <
		      0;
	char tmp[80];

	/* podman's own state beside the runroot: its default in /tmp is a
	 * name another user can take first. */
	snprintf(tmp, sizeof(tmp), "%s/tmp", runroot);
	return bad || aml_strlist_push(argv, "--root") < 0 ||
			       aml_strlist_push(argv, root) < 0 ||
			       aml_strlist_push(argv, "--runroot") < 0 ||
			       aml_strlist_push(argv, runroot) < 0 ||
			       aml_strlist_push(argv, "--tmpdir") < 0 ||
			       aml_strlist_push(argv, tmp) < 0
		       ? -1
		       : 0;
}

static int build_build(void *arg, const char *prefix, int log_fd,
		       char *errbuf, size_t errlen)
{
	const struct build *b = arg;
	struct aml_strlist build = { 0 }, push = { 0 }, unpack = { 0 },
			   clean = { 0 }, env = { 0 };
	char root[PATH_MAX + 16], runroot[64] = "/tmp/aml-build-XXXXXX",
	     ctx[PATH_MAX + 16], dockerfile[PATH_MAX * 2], tag[128],
	     dest[PATH_MAX + 32], image[PATH_MAX + 32], layout[PATH_MAX + 16],
	     rootfs[PATH_MAX + 16];
	const char *context = b->c->build_context;
	int64_t deadline = aml_monotonic_ms() + AML_IMAGE_PULL_TIMEOUT_MS;
	struct pull shown = { .site = b->site,
			      .shown = b->c->build_context
					       ? b->c->build_context
					       : "of the run's Dockerfile" };
	off_t from = 0;
	int r, rc = -1, made_runroot = 0;

	snprintf(root, sizeof(root), "%s.podman", prefix);
	snprintf(ctx, sizeof(ctx), "%s.ctx", prefix);
	snprintf(layout, sizeof(layout), "%s.oci", prefix);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", prefix);
	snprintf(tag, sizeof(tag), "localhost/aml-build:%.16s", b->key);
	snprintf(dest, sizeof(dest), "oci:%s:img", layout);
	snprintf(image, sizeof(image), "%s:img", layout);
	aml_tree_remove(AT_FDCWD, layout);
	if (!mkdtemp(runroot)) {
		aml_fail(errbuf, errlen, "image build: a run directory in /tmp: "
			 "%s", strerror(errno));
		goto out;
	}
	made_runroot = 1;
	if (b->c->dockerfile_text) {
		/* v1's Dockerfile text alone: an empty context beside it. */
		int fd;

		aml_tree_remove(AT_FDCWD, ctx);
		if (mkdir(ctx, 0700) < 0) {
			aml_fail(errbuf, errlen, "image build: %s: %s", ctx,
				 strerror(errno));
			goto out;
		}
		snprintf(dockerfile, sizeof(dockerfile), "%s/Dockerfile", ctx);
		fd = open(dockerfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0600);
		if (fd < 0 || aml_write_all(fd, b->c->dockerfile_text,
					    strlen(b->c->dockerfile_text)) < 0) {
			if (fd >= 0)
				close(fd);
			aml_fail(errbuf, errlen, "image build: %s: %s",
				 dockerfile, strerror(errno));
			goto out;
		}
		close(fd);
		context = ctx;
	} else {
		snprintf(dockerfile, sizeof(dockerfile), "%s/%s", context,
			 b->c->build_dockerfile);
	}
	if (clean_env(&env, runroot) < 0 ||
	    podman_head(&build, b->site, root, runroot) < 0 ||
	    aml_strlist_push(&build, "build") < 0 ||
	    /* RUN steps see the network the runs see: the host's. */
	    aml_strlist_push(&build, "--network=host") < 0 ||
	    access_args(&build, b->site, "--cert-dir") < 0 ||
	    aml_strlist_push(&build, "--file") < 0 ||
	    aml_strlist_push(&build, dockerfile) < 0 ||
	    aml_strlist_push(&build, "--tag") < 0 ||
	    aml_strlist_push(&build, tag) < 0 ||
	    aml_strlist_push(&build, context) < 0 ||
	    podman_head(&push, b->site, root, runroot) < 0 ||
	    aml_strlist_push(&push, "push") < 0 ||
	    aml_strlist_push(&push, tag) < 0 ||
	    aml_strlist_push(&push, dest) < 0 ||
	    aml_strlist_push(&unpack, "umoci") < 0 ||
	    aml_strlist_push(&unpack, "unpack") < 0 ||
	    aml_strlist_push(&unpack, "--rootless") < 0 ||
	    aml_strlist_push(&unpack, "--image") < 0 ||
	    aml_strlist_push(&unpack, image) < 0 ||
	    aml_strlist_push(&unpack, prefix) < 0 ||
	    podman_head(&clean, b->site, root, runroot) < 0 ||
	    aml_strlist_push(&clean, "unshare") < 0 ||
	    aml_strlist_push(&clean, "rm") < 0 ||
	    aml_strlist_push(&clean, "-rf") < 0 ||
	    aml_strlist_push(&clean, root) < 0) {
		aml_fail(errbuf, errlen, "out of memory");
		goto out;
	}
	r = run_step(&build, env.items, log_fd, deadline, "podman build",
		     &shown, errbuf, errlen);
	if (r == 0)
		r = run_step(&push, env.items, log_fd, deadline, "podman push",
			     &shown, errbuf, errlen);
	if (r == 0)
		r = run_step(&unpack, env.items, log_fd, deadline, "unpacking",
			     &shown, errbuf, errlen);
	if (r == 0 && aml_image_make_mountpoint(rootfs, b->site->run_dir) < 0) {
		aml_fail(errbuf, errlen, "image build: cannot make %s in it: %s",
			 b->site->run_dir, strerror(errno));
		r = -1;
	}
	rc = r == 0 ? 0 : -1;
	/* podman's storage holds files of the user's subordinate ids:
	 * only inside its user namespace can they be removed. */
	{
		char ignored[256];

		aml_env_run_logged(clean.items, clean.count, env.items, log_fd,
				   deadline, &from, ignored, sizeof(ignored));
	}
	end_pause_process(runroot);
out:
	aml_tree_remove(AT_FDCWD, root);
	aml_tree_remove(AT_FDCWD, layout);
	aml_tree_remove(AT_FDCWD, ctx);
	if (made_runroot)
		aml_tree_remove(AT_FDCWD, runroot);
	aml_strlist_free(&build);
	aml_strlist_free(&push);
	aml_strlist_free(&unpack);
	aml_strlist_free(&clean);
	aml_strlist_free(&env);
	return rc;
}

enum aml_env_outcome aml_image_build_make(const struct aml_env_choice *c,
					  const struct aml_site *site,
					  int64_t wait_ms, char key[65],
					  char *bundle, size_t blen,
					  char *log_path, size_t llen,
					  char *errbuf, size_t errlen)
{
	struct aml_env_builder b = { .kind = "build" };
	struct build arg = { .site = site, .c = c, .key = key };

	if (llen)
		log_path[0] = '\0';
	if (aml_image_build_key(c, site, key, errbuf, errlen) < 0)
		return AML_ENV_FAILED;
	b.what = c->label;
	b.build = build_build;
	b.arg = &arg;
	return aml_env_cache_get(site->image_dir, key, &b, wait_ms, NULL, NULL,
				 bundle, blen, log_path, llen, errbuf, errlen);
}
