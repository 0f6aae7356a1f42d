/*
 * mlflow_artifacts.c: a run's artifacts on the MLflow server, through
 * its artifact proxy: listed, one opened (fetched to a temporary file),
 * and downloaded into a directory, each path checked before it is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts.h"
#include "errors.h"
#include "fdio.h"
#include "mlflow_internal.h"
#include "mlflow_url.h"
#include "text.h"

/* The artifact root URL of the MLflow run behind [info]. */
static int artifact_root(struct mlflow *m, const struct aml_run_info *info,
			 char **url, char **mlflow_id, char *errbuf,
			 size_t errlen)
{
	struct aml_mlflow_run run = { 0 };
	char *exp_id = NULL;
	int rc;

	/* The reader has the run already, and with it its MLflow id. */
	if (info->key)
		rc = mf_keyed_run(m, info->key, info->run_id, &run, errbuf,
				  errlen);
	else
		rc = mf_named_run(m, info->experiment, info->run_id, &exp_id,
				  &run, errbuf, errlen);
	free(exp_id);
	if (rc != 0)
		return -1;
	rc = run.artifact_uri ? aml_mlflow_artifact_url(m->base,
							 run.artifact_uri, url,
							 errbuf, errlen)
			      : aml_fail(errbuf, errlen, "run %s has no "
					 "artifact_uri", info->run_id);
	if (rc == 0 && mlflow_id && !(*mlflow_id = strdup(run.run_id)))
		rc = aml_fail(errbuf, errlen, "out of memory");
	aml_mlflow_run_free(&run);
	return rc;
}

/* A path the server gave us, made safe to use below a directory: no
 * absolute path, no "." or ".." segment, no empty one. */
static int safe_relpath(const char *p)
{
	const char *s = p;

	if (!*p || *p == '/')
		return 0;
	while (*s) {
		size_t len = strcspn(s, "/");

		if (len == 0 || (len == 1 && s[0] == '.') ||
		    (len == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += len;
		if (*s == '/')
			s++;
	}
	return p[strlen(p) - 1] != '/';
}

/* Every file below [top] of MLflow run [id], paths relative to the
 * run's artifact root (the tracking API's listing). */
static int list_below(struct mlflow *m, const char *id, const char *top,
		      struct aml_artifact **list, size_t *n, size_t *cap,
		      int depth, char *errbuf, size_t errlen)
{
	struct aml_mlflow_files files = { 0 };
	struct aml_http_response resp;
	char *eid = aml_url_encode(id), *etop = aml_url_encode(top), *target;
	int rc;

	if (depth > 64)
		return aml_fail(errbuf, errlen, "run history (MLflow): %s: "
				"nested too deep", top);
	if (!eid || !etop || asprintf(&target, "artifacts/list?run_id=%s&"
				      "path=%s", eid, etop) < 0) {
		free(eid);
		free(etop);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	free(eid);
	free(etop);
	rc = mf_request(m, "GET", target, NULL, &resp, errbuf, errlen);
	free(target);
	if (rc == AML_BACKEND_OK &&
	    aml_mlflow_parse_files("artifacts/list", resp.body, resp.body_len,
				   &files, errbuf, errlen) < 0)
		rc = AML_BACKEND_REFUSED;
	aml_http_response_free(&resp);
	if (rc != AML_BACKEND_OK)
		return -1;
	for (size_t i = 0; rc == 0 && i < files.count; i++) {
		const struct aml_mlflow_file *f = &files.items[i];

		if (!safe_relpath(f->path) ||
		    strncmp(f->path, top, strlen(top)) ||
		    f->path[strlen(top)] != '/')
			continue; /* not below what we asked for */
		if (f->is_dir) {
			rc = list_below(m, id, f->path, list, n, cap, depth + 1,
					errbuf, errlen);
			continue;
		}
		if (*n == *cap) {
			size_t grow = *cap ? *cap * 2 : 32;
			struct aml_artifact *g = realloc(*list,
							 grow * sizeof(*g));

			if (!g) {
				rc = aml_fail(errbuf, errlen, "out of memory");
				break;
			}
			*list = g;
			*cap = grow;
		}
		(*list)[*n].path = strdup(f->path);
		(*list)[*n].size = f->file_size > 0 ? (uint64_t)f->file_size
						    : 0;
		(*list)[*n].mtime_ms = 0;
		if (!(*list)[*n].path)
			rc = aml_fail(errbuf, errlen, "out of memory");
		else
			(*n)++;
	}
	aml_mlflow_files_free(&files);
	return rc;
}

static int compare_artifacts(const void *a, const void *b)
{
	return strcmp(((const struct aml_artifact *)a)->path,
		      ((const struct aml_artifact *)b)->path);
}

static int list_tops(struct mlflow *m, const char *id,
		     const char *const *tops, size_t n_tops,
		     struct aml_artifact **list, size_t *n, char *errbuf,
		     size_t errlen)
{
	size_t cap = 0;

	*list = NULL;
	*n = 0;
	for (size_t i = 0; i < n_tops; i++)
		if (list_below(m, id, tops[i], list, n, &cap, 0, errbuf,
			       errlen) < 0) {
			aml_artifact_list_free(*list, *n);
			*list = NULL;
			*n = 0;
			return -1;
		}
	if (*n)
		qsort(*list, *n, sizeof(**list), compare_artifacts);
	return 0;
}

int mf_list_artifacts(void *self, const struct aml_run_info *run,
		      struct aml_artifact **list, size_t *n,
		      char *errbuf, size_t errlen)
{
	static const char *const tops[] = { "outputs", "logs", "user_logs" };
	struct mlflow *m = self;
	char *url = NULL, *id = NULL;
	int rc;

	if (artifact_root(m, run, &url, &id, errbuf, errlen) < 0)
		return -1;
	rc = list_tops(m, id, tops, 3, list, n, errbuf, errlen);
	free(url);
	free(id);
	return rc;
}

/* Download [path] of the run into [fd]: 0, or -1 with errbuf (errno
 * ENOENT when the server has no such file). */
static int fetch_to(struct mlflow *m, const char *url, const char *path,
		    int fd, char *errbuf, size_t errlen)
{
	struct aml_http_response resp;
	char *target = aml_mlflow_artifact_file_url(url, path), err[1024];
	int rc, missing;

	if (!target)
		return aml_fail(errbuf, errlen, "out of memory");
	rc = aml_http_download(m->http, target, fd, &resp, err, sizeof(err));
	free(target);
	if (rc == AML_HTTP_ANSWER && resp.status / 100 == 2) {
		aml_http_response_free(&resp);
		return 0;
	}
	mf_transfer_failed(m, "", path, rc, &resp, err, errbuf, errlen);
	missing = rc == AML_HTTP_ANSWER && resp.status == 404;
	aml_http_response_free(&resp);
	errno = missing ? ENOENT : EIO;
	return -1;
}

int mf_open_artifact(void *self, const struct aml_run_info *run,
		     const char *path, char *errbuf, size_t errlen)
{
	struct mlflow *m = self;
	const char *tmp = getenv("TMPDIR");
	char *url = NULL;
	int fd, err;

	if (!safe_relpath(path))
		return aml_fail(errbuf, errlen, "%s: not a path in the run",
				path);
	if (artifact_root(m, run, &url, NULL, errbuf, errlen) < 0)
		return -1;
	/* Unnamed: nothing to clean up, whatever happens to the reader. */
	fd = open(tmp && *tmp == '/' ? tmp : "/tmp",
		  O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(url);
		return aml_fail(errbuf, errlen, "cannot make a temporary file "
				"for %s: %s", path, strerror(errno));
	}
	if (fetch_to(m, url, path, fd, errbuf, errlen) < 0 ||
	    lseek(fd, 0, SEEK_SET) < 0) {
		err = errno;
		close(fd);
		free(url);
		errno = err;
		return -1;
	}
	free(url);
	return fd;
}

/* Make the directories of [path] below [dir_fd], none followed if a
 * symlink; returns the parent's descriptor (to close), or -1. */
static int parent_dir(int dir_fd, const char *path, char *errbuf,
		      size_t errlen)
{
	char *copy = strdup(path), *seg, *next;
	int fd = dup(dir_fd);

	if (!copy || fd < 0) {
		free(copy);
		if (fd >= 0)
			close(fd);
		return aml_fail(errbuf, errlen, "out of memory");
	}
	for (seg = copy; (next = strchr(seg, '/')); seg = next + 1) {
		int sub;

		*next = '\0';
		if (mkdirat(fd, seg, 0777) < 0 && errno != EEXIST)
			goto failed;
		sub = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC);
		if (sub < 0)
			goto failed;
		close(fd);
		fd = sub;
	}
	free(copy);
	return fd;
failed:
	aml_fail(errbuf, errlen, "%s: cannot make its directory: %s", path,
		 strerror(errno));
	close(fd);
	free(copy);
	return -1;
}

static int download_one(struct mlflow *m, const char *url, const char *path,
			int out_fd, struct aml_artifact_stats *stats,
			char *errbuf, size_t errlen)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char temp[300];
	int dir, fd;
	struct stat st;

	if ((dir = parent_dir(out_fd, path, errbuf, errlen)) < 0)
		return -1;
	snprintf(temp, sizeof(temp), ".%.200s.aml-download", base);
	fd = openat(dir, temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				       O_CLOEXEC, 0666);
	if (fd < 0) {
		aml_fail(errbuf, errlen, "%s: cannot write: %s", path,
			 strerror(errno));
		close(dir);
		return -1;
	}
	if (fetch_to(m, url, path, fd, errbuf, errlen) < 0 ||
	    fstat(fd, &st) < 0 || close(fd) < 0 ||
	    renameat(dir, temp, dir, base) < 0) {
		if (!errbuf[0])
			aml_fail(errbuf, errlen, "%s: %s", path,
				 strerror(errno));
		unlinkat(dir, temp, 0);
		close(dir);
		return -1;
	}
	close(dir);
	if (stats) {
		stats->files++;
		stats->bytes += (uint64_t)st.st_size;
	}
	return 0;
}

int mf_download(void *self, const struct aml_run_info *run,
		const char *path, int out_fd,
		struct aml_artifact_stats *stats, char *errbuf,
		size_t errlen)
{
	static const char *const all_tops[] = { "outputs", "logs",
						"user_logs" };
	struct mlflow *m = self;
	struct aml_artifact *list = NULL;
	char *url = NULL, *id = NULL;
	size_t n = 0;
	int rc = -1;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (path && *path && !safe_relpath(path))
		return aml_fail(errbuf, errlen, "\"%s\": not a path below the "
				"run", path);
	if (artifact_root(m, run, &url, &id, errbuf, errlen) < 0)
		return -1;
	if (path && *path) {
		/* A file, or a directory to list. */
		if (list_tops(m, id, &path, 1, &list, &n, errbuf, errlen) < 0)
			goto done;
		if (n == 0) {
			errbuf[0] = '\0';
			rc = download_one(m, url, path, out_fd, stats, errbuf,
					  errlen);
			if (rc < 0 && errno == ENOENT)
				aml_fail(errbuf, errlen, "%s: not in the run",
					 path);
			goto done;
		}
	} else if (list_tops(m, id, all_tops, 3, &list, &n, errbuf,
			     errlen) < 0) {
		goto done;
	}
	rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		errbuf[0] = '\0';
		rc = download_one(m, url, list[i].path, out_fd, stats, errbuf,
				  errlen);
	}
done:
	aml_artifact_list_free(list, n);
	free(url);
	free(id);
	return rc;
}
