/*
 * launch_data.c: see launch_data.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts.h"
#include "data_fetch.h"
#include "data_url.h"
#include "env_cache.h"
#include "errors.h"
#include "fdio.h"
#include "hash.h"
#include "launch_data.h"
#include "launch_env.h"
#include "site.h"

/* How long a run waits for another run's download of the same version. */
#define DOWNLOAD_WAIT_MS (3600LL * 1000)
/* How often progress is said while downloading. */
#define PROGRESS_MS 10000

/* One download in the cache's builder (env_cache.h). */
struct fetch_job {
	const struct aml_download *d;
	const char *file;            /* the file's name in the entry */
	const char *validator;       /* what HEAD said: the key's */
	const struct aml_fetch_opts *o;
	int log_fd;
};

/* "12 MiB" into [buf]. */
static void mib(uint64_t n, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 " MiB", n >> 20);
}

static void say_progress(void *arg, uint64_t got, uint64_t total)
{
	struct fetch_job *j = arg;
	char a[32], b[32], shown[512], line[1024];

	aml_fetch_shown_url(j->d->url, shown, sizeof(shown));
	mib(got, a, sizeof(a));
	mib(total, b, sizeof(b));
	if (total)
		snprintf(line, sizeof(line), "downloading %s: %s of %s",
			 shown, a, b);
	else
		snprintf(line, sizeof(line), "downloading %s: %s", shown, a);
	launch_say("input %s: %s", j->d->name, line);
	if (j->log_fd >= 0)
		dprintf(j->log_fd, "%s\n", line);
}

/* The builder: the file downloaded into [prefix]/<file>, read-only. */
static int fetch_build(void *arg, const char *prefix, int log_fd,
		       char *errbuf, size_t errlen)
{
	struct fetch_job *j = arg;
	struct aml_fetch_opts o = *j->o;
	struct aml_fetch_meta meta;
	char got_validator[384], shown[512];
	uint64_t bytes = 0;
	int dirfd = -1, fd = -1, r = -1;

	j->log_fd = log_fd;
	o.progress = say_progress;
	o.progress_arg = j;
	o.progress_ms = PROGRESS_MS;
	aml_fetch_shown_url(j->d->url, shown, sizeof(shown));
	dprintf(log_fd, "downloading %s (%s)\n", shown,
		j->validator[0] ? j->validator : "no validator");
	if (mkdir(prefix, 0700) < 0 ||
	    (dirfd = open(prefix, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					  O_CLOEXEC)) < 0 ||
	    (fd = openat(dirfd, j->file, O_WRONLY | O_CREAT | O_EXCL |
						O_NOFOLLOW | O_CLOEXEC,
			 0600)) < 0) {
		aml_fail(errbuf, errlen, "%s: the download cache: %s", prefix,
			 strerror(errno));
		goto out;
	}
	if (aml_fetch_get(j->d->url, &o, fd, &meta, &bytes, errbuf,
			  errlen) < 0)
		goto out;
	aml_fetch_validator(&meta, got_validator, sizeof(got_validator));
	/* The key names the version HEAD saw; a body of another is not
	 * kept under it. */
	if (j->validator[0] && strcmp(got_validator, j->validator)) {
		aml_fail(errbuf, errlen, "%s: the file changed during the "
			 "download (%s, then %s)", shown, j->validator,
			 got_validator);
		goto out;
	}
	if (fchmod(fd, 0444) < 0 || fsync(fd) < 0) {
		aml_fail(errbuf, errlen, "%s/%s: %s", prefix, j->file,
			 strerror(errno));
		goto out;
	}
	dprintf(log_fd, "downloaded %" PRIu64 " bytes from %s\n", bytes,
		meta.final_url);
	r = 0;
out:
	if (fd >= 0 && aml_close_checked(fd) < 0 && r == 0)
		r = aml_fail(errbuf, errlen, "%s/%s: %s", prefix, j->file,
			     strerror(errno));
	if (dirfd >= 0)
		close(dirfd);
	if (r < 0)
		dprintf(log_fd, "failed: %s\n", errbuf);
	return r;
}

/* The cache key of [url] at [validator]; with no validator, one of
 * this run's own, so that nothing is reused. */
static int cache_key(const struct launch_ctx *c, const char *url,
		     const char *validator, char key[65])
{
	char *text = NULL;
	int n, r;

	if (validator[0])
		n = asprintf(&text, "download\n%s\n%s", url, validator);
	else
		n = asprintf(&text, "download\n%s\nrun %s attempt %u job %u "
			     "node %s", url, c->run_id ? c->run_id : "",
			     c->attempt, c->job_id, c->node ? c->node : "");
	if (n < 0)
		return -1;
	r = aml_sha256_buffer(text, (size_t)n, key);
	free(text);
	return r;
}

/*
 * [file] of the entry [prefix] at [path] (inputs/<name>/<file>) below
 * the working directory [workdir_fd]: a hard link, else a copy.
 */
static int bind_file(int workdir_fd, const char *prefix, const char *file,
		     const struct aml_download *d, char *errbuf,
		     size_t errlen)
{
	struct aml_artifact_stats stats;
	char dir[PATH_MAX];
	int entry = -1, inputs = -1, own = -1, r = -1;

	snprintf(dir, sizeof(dir), "inputs/%s", d->name);
	entry = open(prefix, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (entry < 0) {
		aml_fail(errbuf, errlen, "%s: %s", prefix, strerror(errno));
		goto out;
	}
	/* Never through a link the snapshot holds: inputs/ is made here. */
	if ((mkdirat(workdir_fd, "inputs", 0755) < 0 && errno != EEXIST) ||
	    (inputs = aml_open_nofollow(workdir_fd, "inputs",
					O_RDONLY | O_DIRECTORY)) < 0 ||
	    (mkdirat(inputs, d->name, 0755) < 0 && errno != EEXIST) ||
	    (own = aml_open_nofollow(inputs, d->name,
				     O_RDONLY | O_DIRECTORY)) < 0) {
		aml_fail(errbuf, errlen, "%s in the working directory: %s", dir,
			 strerror(errno));
		goto out;
	}
	if (linkat(entry, file, own, file, 0) == 0) {
		r = 0;
		goto out;
	}
	if (errno == EEXIST) {
		aml_fail(errbuf, errlen, "%s already exists in the working "
			 "directory (the snapshot has it): the input is bound "
			 "there", d->path);
		goto out;
	}
	if (errno != EXDEV && errno != EPERM && errno != EMLINK) {
		aml_fail(errbuf, errlen, "%s: %s", d->path, strerror(errno));
		goto out;
	}
	r = aml_artifacts_copy_in(entry, file, own, file, 0755, 0444, &stats,
				  errbuf, errlen);
	aml_artifact_stats_free(&stats);
out:
	if (own >= 0)
		close(own);
	if (inputs >= 0)
		close(inputs);
	if (entry >= 0)
		close(entry);
	return r;
}

/* One download made ready, held and bound. */
static int prepare_one(const struct launch_ctx *c,
		       const struct aml_download *d,
		       const struct aml_fetch_opts *o, struct launch_data *ld,
		       char *errbuf, size_t errlen)
{
	const struct aml_site *site = c->site;
	struct aml_env_hold held = { -1 };
	struct aml_fetch_meta meta;
	struct aml_data_url u;
	struct fetch_job job = { 0 };
	struct aml_env_builder b;
	enum aml_env_outcome got;
	char validator[384], key[65], prefix[PATH_MAX], log_path[PATH_MAX];
	char log_name[128], shown[512];
	int tries;

	aml_fetch_shown_url(d->url, shown, sizeof(shown));
	if (aml_data_url_parse(d->url, &u, errbuf, errlen) < 0)
		return -1;
	if (!aml_data_host_allowed(o->hosts, o->n_hosts, u.host))
		return aml_fail(errbuf, errlen, "%s: host %s is not in this "
				"node's DataDownloadHosts", shown, u.host);
	if (aml_fetch_head(d->url, o, &meta, errbuf, errlen) < 0)
		return -1;
	aml_fetch_validator(&meta, validator, sizeof(validator));
	if (cache_key(c, d->url, validator, key) < 0)
		return aml_fail(errbuf, errlen, "out of memory");
	job.d = d;
	job.file = u.name;
	job.validator = validator;
	job.o = o;
	job.log_fd = -1;
	b.kind = "download";
	b.what = shown;
	b.build = fetch_build;
	b.arg = &job;
	snprintf(log_name, sizeof(log_name), "data_download_log.%s.txt",
		 d->name);
	/* gc may take the entry between finding and holding it: once more. */
	for (tries = 0; tries < 2; tries++) {
		int h;

		got = aml_env_cache_get(site->data_cache_dir, key, &b,
					DOWNLOAD_WAIT_MS, NULL, NULL, prefix,
					sizeof(prefix), log_path,
					sizeof(log_path), errbuf, errlen);
		if (log_path[0])
			launch_keep_log(c->workdir_fd, log_path, log_name);
		if (got != AML_ENV_CACHED && got != AML_ENV_BUILT)
			return -1;
		if (got == AML_ENV_CACHED)
			launch_say("input %s: %s: cached (%s)", d->name, shown,
				   validator[0] ? validator : "no validator");
		h = aml_env_cache_hold(site->data_cache_dir, key, &held,
				       prefix, sizeof(prefix), errbuf, errlen);
		if (h < 0)
			return -1;
		if (h == 1)
			break;
	}
	if (tries == 2)
		return aml_fail(errbuf, errlen, "%s: the cached copy was "
				"removed twice while being taken", shown);
	if (held.fd >= 0) {
		int *more = realloc(ld->held_fds,
				    (ld->n_held + 1) * sizeof(*more));

		if (!more) {
			aml_env_cache_release(&held);
			return aml_fail(errbuf, errlen, "out of memory");
		}
		ld->held_fds = more;
		ld->held_fds[ld->n_held++] = held.fd;
	}
	return bind_file(c->workdir_fd, prefix, u.name, d, errbuf, errlen);
}

int launch_data_prepare(const struct launch_ctx *c,
			const struct aml_runconfig *rc, struct launch_data *d,
			char *errbuf, size_t errlen)
{
	const struct aml_site *site = c->site;
	struct aml_fetch_opts o = { 0 };
	char why[1024];

	memset(d, 0, sizeof(*d));
	if (rc->n_downloads == 0)
		return 0;
	if (!site || site->data.n_download_hosts == 0)
		return aml_fail(errbuf, errlen, "input %s: this node's "
				"aml.conf has no DataDownloadHosts: "
				"https:// inputs are not downloaded",
				rc->downloads[0].name);
	o.hosts = site->data.download_hosts;
	o.n_hosts = site->data.n_download_hosts;
	o.max_bytes = site->data_download_max;
	o.ca_file = site->data_download_ca_file;
	for (size_t i = 0; i < rc->n_downloads; i++)
		if (prepare_one(c, &rc->downloads[i], &o, d, why,
				sizeof(why)) < 0)
			return aml_fail(errbuf, errlen, "input %s: %s",
					rc->downloads[i].name, why);
	return 0;
}

void launch_data_release(struct launch_data *d)
{
	for (size_t i = 0; i < d->n_held; i++) {
		struct aml_env_hold h = { d->held_fds[i] };

		aml_env_cache_release(&h);
	}
	free(d->held_fds);
	memset(d, 0, sizeof(*d));
}
