/*
 * test_http.c: the REST transport (rest/http.c) against the MLflow test
 * server (tests/mlflow-server/mlflow_test_server.py) on loopback: answers
 * and errors, retries and their limits, Retry-After, timeouts, a dead
 * port, uploads reset midway, a 64 MiB upload in bounded memory,
 * downloads, auth, and a file that changes between attempts.
 *
 * The server runs as a child (mlflow_server.h); its faults are set and
 * its dump read through a raw socket, so a broken transport cannot hide
 * its own failures.  Short timeouts and backoffs keep the
 * whole file to seconds; the time bounds asserted are lower bounds (a
 * wait that must have happened), or generous upper ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fdio.h"
#include "hash.h"
#include "http.h"
#include "mlflow_server.h"

#define MiB (1024 * 1024)
#define ART "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/"

static struct mlflow_server main_server = { .pid = -1 };
static struct mlflow_server auth_server = { .pid = -1 };
static int log_mark;   /* requests the server had logged when a case began */
static const char *skip_reason;

/* Requests for [path] (exact) logged since the case began, and how many
 * of them a fault answered. */
static int logged(const cJSON *d, const char *path, int *faulted)
{
	const cJSON *r;
	int n = 0, i = 0;

	if (faulted)
		*faulted = 0;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(d, "requests")) {
		const char *p =
			cJSON_GetStringValue(cJSON_GetObjectItem(r, "path"));

		if (i++ < log_mark || !p || strcmp(p, path) != 0)
			continue;
		n++;
		if (faulted && cJSON_IsString(cJSON_GetObjectItem(r, "fault")))
			(*faulted)++;
	}
	return n;
}

/* The stored artifact [rel]'s sha256 (NULL when absent), and its size. */
static const char *stored_sha(const cJSON *d, const char *rel, double *size)
{
	const cJSON *all = cJSON_GetObjectItem(d, "artifacts");
	const cJSON *a = cJSON_GetObjectItem(all, rel);

	if (!a)
		return NULL;
	*size = cJSON_GetNumberValue(cJSON_GetObjectItem(a, "size"));
	return cJSON_GetStringValue(cJSON_GetObjectItem(a, "sha256"));
}

/* ---- files ---- */

/* A temporary file of [size] pseudo-random bytes, written 1 MiB at a time;
 * its sha256 into [hex].  Returns the descriptor (unlinked already). */
static int make_file(long long size, char hex[AML_SHA256_HEX_LEN + 1])
{
	static unsigned char buf[MiB];
	char path[] = "/tmp/test_http.upload.XXXXXX";
	struct aml_sha256 h;
	uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t)size;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(aml_sha256_init(&h), 0);
	for (long long done = 0; done < size;) {
		size_t n = size - done < MiB ? (size_t)(size - done) : MiB;

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (unsigned char)x;
		}
		assert_int_equal(aml_write_all(fd, buf, n), 0);
		assert_int_equal(aml_sha256_update(&h, buf, n), 0);
		done += (long long)n;
	}
	assert_int_equal(aml_sha256_final(&h, hex), 0);
	return fd;
}

/* sha256 of [fd] from [off] to its end. */
static void sha_from(int fd, off_t off, char hex[AML_SHA256_HEX_LEN + 1])
{
	static unsigned char buf[256 * 1024];
	struct aml_sha256 h;
	ssize_t r;

	assert_int_equal(aml_sha256_init(&h), 0);
	while ((r = pread(fd, buf, sizeof(buf), off)) > 0) {
		assert_int_equal(aml_sha256_update(&h, buf, (size_t)r), 0);
		off += r;
	}
	assert_int_equal(r, 0);
	assert_int_equal(aml_sha256_final(&h, hex), 0);
}

/* ---- handles ---- */

static struct aml_http_config config_for(int port, char *url, size_t len)
{
	struct aml_http_config cfg;

	snprintf(url, len, "http://127.0.0.1:%d", port);
	aml_http_config_init(&cfg);
	cfg.base_url = url;
	cfg.timeout_ms = 1000;
	cfg.connect_timeout_ms = 1000;
	cfg.max_retries = 3;
	cfg.backoff_base_ms = 50;
	cfg.backoff_cap_ms = 2000;
	return cfg;
}

static struct aml_http *open_cfg(const struct aml_http_config *cfg)
{
	struct aml_http *h;
	char err[256];

	if (aml_http_open(&h, cfg, err, sizeof(err)) != 0)
		fail_msg("aml_http_open: %s", err);
	return h;
}

static struct aml_http *open_main(void)
{
	char url[64];
	struct aml_http_config cfg = config_for(main_server.port, url,
						sizeof(url));

	return open_cfg(&cfg);
}

static void assert_one_line(const char *err)
{
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	assert_null(strchr(err, '\r'));
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	(void)state;
	if (mlflow_server_start(&main_server, NULL, &skip_reason) != 0)
		printf("# SKIP: %s\n", skip_reason);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	mlflow_server_stop(&main_server);
	return 0;
}

/* Each case starts with no faults left over from another, and counts
 * only its own requests. */
static int setup(void **state)
{
	cJSON *d;

	(void)state;
	if (main_server.pid <= 0)
		return 0;
	mlflow_server_faults(&main_server, "{}");
	d = mlflow_server_dump(&main_server);
	log_mark = cJSON_GetArraySize(cJSON_GetObjectItem(d, "requests"));
	cJSON_Delete(d);
	return 0;
}

#define NEED_SERVER()                                        \
	do {                                                 \
		if (main_server.pid <= 0) {                  \
			printf("# SKIP: %s\n", skip_reason); \
			skip();                              \
		}                                            \
	} while (0)

/* ---- without a server ---- */

static void test_open_refuses_userinfo(void **state)
{
	struct aml_http_config cfg;
	struct aml_http *h = (struct aml_http *)1;
	char err[256];

	(void)state;
	aml_http_config_init(&cfg);
	cfg.base_url = "http://alice:pa55word@127.0.0.1:5000";
	assert_int_equal(aml_http_open(&h, &cfg, err, sizeof(err)), -1);
	assert_null(h);
	assert_one_line(err);
	assert_null(strstr(err, "pa55word"));
	assert_non_null(strstr(err, "user name or password"));

	cfg.base_url = "ftp://127.0.0.1/";
	assert_int_equal(aml_http_open(&h, &cfg, err, sizeof(err)), -1);
	cfg.base_url = "http://127.0.0.1:5000";
	cfg.auth_header = "Authorization: Bearer x\r\nX-Evil: 1";
	assert_int_equal(aml_http_open(&h, &cfg, err, sizeof(err)), -1);
	assert_null(strstr(err, "Evil"));
}

/* ---- answers ---- */

static void test_round_trip(void **state)
{
	struct aml_http *h;
	struct aml_http_response r;
	char err[512], url[96];
	cJSON *j;
	char *id;
	int out;

	(void)state;
	NEED_SERVER();
	h = open_main();
	out = aml_http_request(h, "GET", "/version", NULL, &r, err,
			       sizeof(err));
	assert_int_equal(out, AML_HTTP_ANSWER);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "2.17.2");
	assert_int_equal(r.attempts, 1);
	assert_non_null(r.content_type);
	aml_http_response_free(&r);

	out = aml_http_request(h, "POST", "/api/2.0/mlflow/experiments/create",
			       "{\"name\":\"round trip\"}", &r, err,
			       sizeof(err));
	assert_int_equal(out, AML_HTTP_ANSWER);
	assert_int_equal(r.status, 200);
	j = cJSON_Parse(r.body);
	id = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(j,
							    "experiment_id")));
	cJSON_Delete(j);
	aml_http_response_free(&r);

	out = aml_http_request(h, "GET",
			       "/api/2.0/mlflow/experiments/get-by-name"
			       "?experiment_name=round%20trip",
			       NULL, &r, err, sizeof(err));
	assert_int_equal(out, AML_HTTP_ANSWER);
	assert_int_equal(r.status, 200);
	j = cJSON_Parse(r.body);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
				    cJSON_GetObjectItem(j, "experiment"),
				    "experiment_id")), id);
	cJSON_Delete(j);
	aml_http_response_free(&r);
	free(id);

	/* An absolute URL (an artifact proxy elsewhere) works the same. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health",
		 main_server.port);
	out = aml_http_request(h, "GET", url, NULL, &r, err, sizeof(err));
	assert_int_equal(out, AML_HTTP_ANSWER);
	assert_string_equal(r.body, "OK");
	aml_http_response_free(&r);
	aml_http_close(h);
}

static void test_error_answer_not_retried(void **state)
{
	struct aml_http *h;
	struct aml_http_response r;
	char err[512];
	cJSON *d;
	int out;

	(void)state;
	NEED_SERVER();
	h = open_main();
	out = aml_http_request(h, "GET",
			       "/api/2.0/mlflow/experiments/get-by-name"
			       "?experiment_name=nowhere",
			       NULL, &r, err, sizeof(err));
	assert_int_equal(out, AML_HTTP_ANSWER);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.attempts, 1);
	assert_non_null(strstr(r.body, "RESOURCE_DOES_NOT_EXIST"));
	assert_non_null(strstr(r.content_type, "application/json"));
	assert_one_line(err);
	assert_non_null(strstr(err, "HTTP 404"));
	aml_http_response_free(&r);

	/* The wrong method: Flask's HTML page, final too. */
	out = aml_http_request(h, "POST",
			       "/api/2.0/mlflow/experiments/get-by-name",
			       "{}", &r, err, sizeof(err));
	assert_int_equal(out, AML_HTTP_ANSWER);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.content_type, "text/html"));
	assert_one_line(err);
	aml_http_response_free(&r);
	aml_http_close(h);

	d = mlflow_server_dump(&main_server);
	assert_int_equal(logged(d, "/api/2.0/mlflow/experiments/get-by-name",
				NULL), 2);
	cJSON_Delete(d);
}

/* ---- retries ---- */

struct retries_seen {
	unsigned calls;
	long last_delay;
	char why[512];
};

static void note_retry(void *arg, const char *why, unsigned attempt,
		       long delay_ms)
{
	struct retries_seen *seen = arg;

	seen->calls++;
	assert_int_equal(attempt, seen->calls);
	seen->last_delay = delay_ms;
	snprintf(seen->why, sizeof(seen->why), "%s", why);
}

static void test_short_storm_succeeds(void **state)
{
	struct retries_seen seen = { 0 };
	struct aml_http_config cfg;
	struct aml_http *h;
	struct aml_http_response r;
	char err[512], url[64];
	int faulted;
	cJSON *d;

	(void)state;
	NEED_SERVER();
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"fail\","
		   "\"match\":\"/version\",\"status\":503,\"count\":3}]}");
	cfg = config_for(main_server.port, url, sizeof(url));
	cfg.on_retry = note_retry;
	cfg.on_retry_arg = &seen;
	h = open_cfg(&cfg);
	assert_int_equal(aml_http_request(h, "GET", "/version", NULL, &r, err,
					  sizeof(err)), AML_HTTP_ANSWER);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 4);
	assert_int_equal(seen.calls, 3);
	assert_non_null(strstr(seen.why, "HTTP 503"));
	/* Retry 3 waits min(cap, 50 * 2^2) + jitter in [0, 50). */
	assert_true(seen.last_delay >= 200 && seen.last_delay <= 249);
	aml_http_response_free(&r);
	aml_http_close(h);

	d = mlflow_server_dump(&main_server);
	assert_int_equal(logged(d, "/version", &faulted), 4);
	assert_int_equal(faulted, 3);
	cJSON_Delete(d);
}

static void test_long_storm_unavailable(void **state)
{
	struct aml_http *h;
	struct aml_http_response r;
	char err[512], where[32];
	cJSON *d;

	(void)state;
	NEED_SERVER();
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"fail\","
		   "\"match\":\"/version\",\"status\":503,\"count\":10,"
		   "\"body\":\"down for\\nmaintenance\","
		   "\"content_type\":\"text/plain\"}]}");
	h = open_main();
	assert_int_equal(aml_http_request(h, "GET", "/version", NULL, &r, err,
					  sizeof(err)), AML_HTTP_UNAVAILABLE);
	/* The last answer is kept for the caller. */
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "down for\nmaintenance");
	assert_int_equal(r.attempts, 4);
	assert_one_line(err);
	snprintf(where, sizeof(where), "127.0.0.1:%d", main_server.port);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, "GET /version: HTTP 503: down for "
				    "maintenance (4 attempts over"));
	aml_http_response_free(&r);
	aml_http_close(h);

	d = mlflow_server_dump(&main_server);
	assert_int_equal(logged(d, "/version", NULL), 4);
	cJSON_Delete(d);
}

static void test_retry_after_honoured(void **state)
{
	struct aml_http *h;
	struct aml_http_response r;
	char err[512];
	long long t0;

	(void)state;
	NEED_SERVER();
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"fail\","
		   "\"match\":\"/version\",\"status\":429,\"count\":1,"
		   "\"retry_after\":1}]}");
	h = open_main();
	t0 = mlflow_server_mono_ms();
	assert_int_equal(aml_http_request(h, "GET", "/version", NULL, &r, err,
					  sizeof(err)), AML_HTTP_ANSWER);
	/* The backoff alone would have been 50-99 ms. */
	assert_true(mlflow_server_mono_ms() - t0 >= 1000);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 2);
	aml_http_response_free(&r);
	aml_http_close(h);
}

/* A request the server lets a whole timeout pass on is not repeated
 * (each retry would wait as long): unavailable at once, saying why. */
static void test_timeout_not_retried(void **state)
{
	struct aml_http *h;
	struct aml_http_response r;
	char err[512];

	(void)state;
	NEED_SERVER();
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"delay\","
		   "\"match\":\"/version\",\"seconds\":2.5,\"count\":1}]}");
	h = open_main();
	assert_int_equal(aml_http_request(h, "GET", "/version", NULL, &r, err,
					  sizeof(err)), AML_HTTP_UNAVAILABLE);
	assert_int_equal(r.attempts, 1);
	assert_non_null(strstr(err, "1 attempt"));
	aml_http_response_free(&r);
	/* The server itself is fine. */
	assert_int_equal(aml_http_request(h, "GET", "/version", NULL, &r, err,
					  sizeof(err)), AML_HTTP_ANSWER);
	assert_int_equal(r.status, 200);
	aml_http_response_free(&r);
	aml_http_close(h);
}

/* A port nothing listens on: bound, then closed. */
static int dead_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void test_nothing_listening(void **state)
{
	struct aml_http_config cfg;
	struct aml_http *h;
	struct aml_http_response r;
	char err[512], url[64], where[128];
	int port = dead_port();
	long long t0;

	(void)state;
	cfg = config_for(port, url, sizeof(url));
	h = open_cfg(&cfg);
	t0 = mlflow_server_mono_ms();
	assert_int_equal(aml_http_request(h, "PUT", ART "x.bin", "{}", &r, err,
					  sizeof(err)), AML_HTTP_UNAVAILABLE);
	assert_true(mlflow_server_mono_ms() - t0 < 5000);
	assert_int_equal(r.status, 0);
	assert_null(r.body);
	assert_int_equal(r.attempts, 4);
	assert_one_line(err);
	snprintf(where, sizeof(where), "127.0.0.1:%d: PUT " ART, port);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, "connection refused (4 attempts over"));
	aml_http_response_free(&r);
	aml_http_close(h);
}

/* http_proxy in the environment is the job user's: it must not divert
 * the requests (http.h), while a configured proxy must be used. */
static void test_proxy_only_when_configured(void **state)
{
	struct aml_http_config cfg;
	struct aml_http *h;
	struct aml_http_response r;
	char err[512], url[64], proxy[64];
	int out;

	(void)state;
	NEED_SERVER();
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", dead_port());
	cfg = config_for(main_server.port, url, sizeof(url));
	cfg.max_retries = 0;
	h = open_cfg(&cfg);
	setenv("http_proxy", proxy, 1);
	setenv("all_proxy", proxy, 1);
	out = aml_http_request(h, "GET", "/version", NULL, &r, err,
			       sizeof(err));
	unsetenv("http_proxy");
	unsetenv("all_proxy");
	assert_int_equal(out, AML_HTTP_ANSWER);
	assert_int_equal(r.status, 200);
	aml_http_response_free(&r);
	aml_http_close(h);

	cfg.proxy = proxy;
	h = open_cfg(&cfg);
	assert_int_equal(aml_http_request(h, "GET", "/version", NULL, &r, err,
					  sizeof(err)), AML_HTTP_UNAVAILABLE);
	aml_http_response_free(&r);
	aml_http_close(h);
}

/* ---- uploads and downloads ---- */

static void upload_ok(struct aml_http *h, const char *target, int fd,
		      unsigned attempts)
{
	struct aml_http_response r;
	char err[512];
	int out = aml_http_upload(h, target, fd, NULL, &r, err, sizeof(err));

	if (out != AML_HTTP_ANSWER)
		fail_msg("upload: %s", err);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, attempts);
	aml_http_response_free(&r);
}

static void assert_stored(const char *rel, const char *hex, double size)
{
	cJSON *d = mlflow_server_dump(&main_server);
	double got = -1;
	const char *sha = stored_sha(d, rel, &got);

	assert_non_null(sha);
	assert_string_equal(sha, hex);
	assert_true(got == size);
	cJSON_Delete(d);
}

static void test_reset_mid_upload(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1];
	struct aml_http *h;
	int fd, faulted;
	cJSON *d;

	(void)state;
	NEED_SERVER();
	fd = make_file(3 * MiB, hex);
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"reset\","
		   "\"match\":\"reset.bin\",\"after_bytes\":1048576}]}");
	h = open_main();
	upload_ok(h, ART "reset.bin", fd, 2);
	aml_http_close(h);
	close(fd);

	assert_stored("1/run/artifacts/reset.bin", hex, 3 * MiB);
	d = mlflow_server_dump(&main_server);
	assert_int_equal(logged(d, ART "reset.bin", &faulted), 2);
	assert_int_equal(faulted, 1);
	cJSON_Delete(d);
}

static long maxrss_kib(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

static void test_large_upload_streams(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1], url[64];
	struct aml_http_config cfg;
	struct aml_http *h;
	long before;
	int fd;

	(void)state;
	NEED_SERVER();
	fd = make_file(64LL * MiB, hex);
	cfg = config_for(main_server.port, url, sizeof(url));
	cfg.timeout_ms = 20000;   /* a stall bound, even under valgrind */
	h = open_cfg(&cfg);
	before = maxrss_kib();
	upload_ok(h, ART "big.bin", fd, 1);
	/* A 64 MiB buffer anywhere would show here. */
	assert_true(maxrss_kib() - before < 24 * 1024);
	aml_http_close(h);
	close(fd);
	assert_stored("1/run/artifacts/big.bin", hex, 64.0 * MiB);
}

/* An upload nothing moves for a whole timeout is given up, not
 * repeated; the next one arrives whole. */
static void test_upload_stall_given_up(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1], err[512];
	struct aml_http_response r;
	struct aml_http *h;
	int fd;

	(void)state;
	NEED_SERVER();
	/* More than loopback's socket buffers hold, so the client must wait
	 * on the sleeping server and notice that nothing moves. */
	fd = make_file(32 * MiB, hex);
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"delay\","
		   "\"match\":\"stall.bin\",\"seconds\":6,\"count\":1}]}");
	h = open_main();
	assert_int_equal(aml_http_upload(h, ART "stall.bin", fd, NULL, &r, err,
					 sizeof(err)),
			 AML_HTTP_UNAVAILABLE);
	assert_int_equal(r.attempts, 1);
	aml_http_response_free(&r);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	upload_ok(h, ART "stall.bin", fd, 1);
	aml_http_close(h);
	close(fd);
	assert_stored("1/run/artifacts/stall.bin", hex, 32.0 * MiB);
}

static void test_download(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1], got[AML_SHA256_HEX_LEN + 1];
	char path[] = "/tmp/test_http.download.XXXXXX", head[4], err[512];
	struct aml_http *h;
	struct aml_http_response r;
	struct stat st;
	int in, out;

	(void)state;
	NEED_SERVER();
	in = make_file(5 * MiB, hex);
	h = open_main();
	upload_ok(h, ART "down.bin", in, 1);
	close(in);

	out = mkstemp(path);
	assert_true(out >= 0);
	unlink(path);
	/* "HEAD" stays; 6 MiB of stale bytes after it must not outlive the
	 * 5 MiB download. */
	assert_int_equal(aml_write_all(out, "HEAD", 4), 0);
	assert_int_equal(ftruncate(out, 4 + 6 * MiB), 0);
	/* The first answer is cut after 1 MiB: the retry must not leave
	 * those bytes before the whole file. */
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"reset\","
		   "\"method\":\"GET\",\"match\":\"down.bin\","
		   "\"after_bytes\":1048576}]}");
	assert_int_equal(aml_http_download(h, ART "down.bin", out, &r, err,
					   sizeof(err)), AML_HTTP_ANSWER);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 2);
	assert_null(r.body);
	assert_int_equal(r.downloaded, 5 * MiB);
	aml_http_response_free(&r);
	assert_int_equal(fstat(out, &st), 0);
	assert_int_equal(st.st_size, 4 + 5 * MiB);
	assert_int_equal(pread(out, head, 4, 0), 4);
	assert_memory_equal(head, "HEAD", 4);
	sha_from(out, 4, got);
	assert_string_equal(got, hex);

	/* A 404 stays in memory; the output is left as it was. */
	assert_int_equal(lseek(out, 4, SEEK_SET), 4);
	assert_int_equal(ftruncate(out, 4), 0);
	assert_int_equal(aml_http_download(h, ART "missing.bin", out, &r, err,
					   sizeof(err)), AML_HTTP_ANSWER);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "RESOURCE_DOES_NOT_EXIST"));
	assert_int_equal(fstat(out, &st), 0);
	assert_int_equal(st.st_size, 4);
	aml_http_response_free(&r);
	close(out);
	aml_http_close(h);
}

/* An answer over the in-memory cap is refused, not truncated. */
static void test_body_cap(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1], err[512], url[64];
	struct aml_http_config cfg;
	struct aml_http *h;
	struct aml_http_response r;
	int fd;

	(void)state;
	NEED_SERVER();
	fd = make_file(64 * 1024, hex);
	h = open_main();
	upload_ok(h, ART "capped.bin", fd, 1);
	aml_http_close(h);
	close(fd);

	cfg = config_for(main_server.port, url, sizeof(url));
	cfg.max_body = 1024;
	h = open_cfg(&cfg);
	assert_int_equal(aml_http_request(h, "GET", ART "capped.bin", NULL, &r,
					  err, sizeof(err)), AML_HTTP_ERROR);
	assert_int_equal(r.attempts, 1);
	assert_null(r.body);
	assert_one_line(err);
	assert_non_null(strstr(err, "larger than 1024 bytes"));
	aml_http_response_free(&r);
	aml_http_close(h);
}

struct growing {
	int fd;
	unsigned calls;
};

/* Between attempts the file grows, as a log still being written would. */
static void grow_file(void *arg, const char *why, unsigned attempt,
		      long delay_ms)
{
	struct growing *g = arg;
	struct stat st;

	(void)why;
	(void)attempt;
	(void)delay_ms;
	g->calls++;
	assert_int_equal(fstat(g->fd, &st), 0);
	assert_int_equal(pwrite(g->fd, "more", 4, st.st_size), 4);
}

static void test_file_changed_size(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1], err[512], url[64];
	struct aml_http_config cfg;
	struct growing g = { -1, 0 };
	struct aml_http *h;
	struct aml_http_response r;
	double size;
	cJSON *d;

	(void)state;
	NEED_SERVER();
	g.fd = make_file(MiB, hex);
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"fail\","
		   "\"match\":\"grows.bin\",\"status\":503}]}");
	cfg = config_for(main_server.port, url, sizeof(url));
	cfg.on_retry = grow_file;
	cfg.on_retry_arg = &g;
	h = open_cfg(&cfg);
	assert_int_equal(aml_http_upload(h, ART "grows.bin", g.fd, NULL, &r,
					 err, sizeof(err)), AML_HTTP_ERROR);
	assert_int_equal(g.calls, 1);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(r.status, 0);
	assert_one_line(err);
	assert_non_null(strstr(err, "changed size"));
	aml_http_response_free(&r);
	aml_http_close(h);
	close(g.fd);

	d = mlflow_server_dump(&main_server);
	assert_int_equal(logged(d, ART "grows.bin", NULL), 1);
	assert_null(stored_sha(d, "1/run/artifacts/grows.bin", &size));
	cJSON_Delete(d);
}

/* A log still being written: its first bytes are sent, whatever it grows
 * by meanwhile, and a length beyond its end is refused. */
static void test_prefix_of_growing_file(void **state)
{
	char hex[AML_SHA256_HEX_LEN + 1], err[512], url[64];
	struct aml_http_config cfg;
	struct growing g = { -1, 0 };
	struct aml_http *h;
	struct aml_http_response r;

	(void)state;
	NEED_SERVER();
	g.fd = make_file(MiB, hex);
	mlflow_server_faults(&main_server, "{\"faults\":[{\"type\":\"fail\","
		   "\"match\":\"prefix.bin\",\"status\":503}]}");
	cfg = config_for(main_server.port, url, sizeof(url));
	cfg.on_retry = grow_file;
	cfg.on_retry_arg = &g;
	h = open_cfg(&cfg);
	assert_int_equal(aml_http_upload_prefix(h, ART "prefix.bin", g.fd, MiB,
						NULL, &r, err, sizeof(err)),
			 AML_HTTP_ANSWER);
	assert_int_equal(g.calls, 1);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(r.status, 200);
	aml_http_response_free(&r);
	assert_stored("1/run/artifacts/prefix.bin", hex, MiB);

	assert_int_equal(aml_http_upload_prefix(h, ART "prefix.bin", g.fd,
						4 * MiB, NULL, &r, err,
						sizeof(err)), AML_HTTP_ERROR);
	assert_one_line(err);
	assert_non_null(strstr(err, "has 1048580 bytes, not 4194304"));
	aml_http_response_free(&r);
	aml_http_close(h);
	close(g.fd);
}

/* ---- auth ---- */

static void test_bearer_auth(void **state)
{
	struct aml_http_config cfg;
	struct mlflow_server *s = &auth_server;
	struct aml_http *h;
	struct aml_http_response r;
	char err[512], url[64];
	const char *exp0 = "/api/2.0/mlflow/experiments/get?experiment_id=0";

	(void)state;
	NEED_SERVER();
	if (mlflow_server_start(s, "bearer:s3cret", &skip_reason) != 0)
		fail_msg("%s", skip_reason);

	cfg = config_for(s->port, url, sizeof(url));
	cfg.auth_header = "Authorization: Bearer s3cret";
	h = open_cfg(&cfg);
	assert_int_equal(aml_http_request(h, "GET", exp0, NULL, &r, err,
					  sizeof(err)), AML_HTTP_ANSWER);
	assert_int_equal(r.status, 200);
	aml_http_response_free(&r);
	aml_http_close(h);

	cfg.auth_header = "Authorization: Bearer s3cret-expired";
	h = open_cfg(&cfg);
	assert_int_equal(aml_http_request(h, "GET", exp0, NULL, &r, err,
					  sizeof(err)), AML_HTTP_ANSWER);
	assert_int_equal(r.status, 401);
	assert_int_equal(r.attempts, 1);
	assert_non_null(strstr(r.body, "You are not authenticated"));
	assert_one_line(err);
	assert_non_null(strstr(err, "HTTP 401: You are not authenticated"));
	assert_null(strstr(err, "s3cret"));
	aml_http_response_free(&r);

	/* A proxy that echoes the request: the credential is blanked out of
	 * the quoted answer. */
	mlflow_server_faults(s, "{\"faults\":[{\"type\":\"fail\",\"status\":401,"
		   "\"content_type\":\"text/plain\",\"body\":\"token "
		   "s3cret-expired is not valid\"}]}");
	assert_int_equal(aml_http_request(h, "GET", exp0, NULL, &r, err,
					  sizeof(err)), AML_HTTP_ANSWER);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(err, "HTTP 401: token *** is not valid"));
	assert_null(strstr(err, "s3cret"));
	aml_http_response_free(&r);
	aml_http_close(h);
}

/* Also when the case failed midway. */
static int stop_auth_server(void **state)
{
	(void)state;
	mlflow_server_stop(&auth_server);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_refuses_userinfo),
		cmocka_unit_test_setup(test_round_trip, setup),
		cmocka_unit_test_setup(test_error_answer_not_retried, setup),
		cmocka_unit_test_setup(test_short_storm_succeeds, setup),
		cmocka_unit_test_setup(test_long_storm_unavailable, setup),
		cmocka_unit_test_setup(test_retry_after_honoured, setup),
		cmocka_unit_test_setup(test_timeout_not_retried, setup),
		cmocka_unit_test(test_nothing_listening),
		cmocka_unit_test_setup(test_proxy_only_when_configured, setup),
		cmocka_unit_test_setup(test_reset_mid_upload, setup),
		cmocka_unit_test_setup(test_large_upload_streams, setup),
		cmocka_unit_test_setup(test_upload_stall_given_up, setup),
		cmocka_unit_test_setup(test_download, setup),
		cmocka_unit_test_setup(test_file_changed_size, setup),
		cmocka_unit_test_setup(test_prefix_of_growing_file, setup),
		cmocka_unit_test_setup(test_body_cap, setup),
		cmocka_unit_test_setup_teardown(test_bearer_auth, setup,
						stop_auth_server),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
