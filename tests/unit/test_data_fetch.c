/*
 * test_data_fetch.c: plugin/data_fetch.h against a small HTTP server in
 * this process (a thread on loopback): validators, a server without
 * HEAD, errors naming the URL and the status, the size limit before and
 * during the body, and redirects followed only to allowed hosts.
 *
 * The server speaks plain HTTP, so the fetches here allow "http"; the
 * launcher allows only "https" (its TLS is libcurl's, tested on the
 * cluster with a certificate of the test's own CA).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "data_fetch.h"

static int listen_fd = -1;
static int port;
static pthread_t server;
static int heads, gets;   /* requests seen (the server thread's count) */

static const char body_csv[] = "a,b\n1,2\n";

/* Write the whole of [s]; a closed peer is the test's business. */
static void put(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void answer(int fd, int head, const char *path)
{
	char buf[8192];
	int n = 0;

	if (!strcmp(path, "/etag.csv"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nETag: \"v1\""
			     "\r\nContent-Length: %zu\r\n\r\n%s",
			     strlen(body_csv), head ? "" : body_csv);
	else if (!strcmp(path, "/lm.csv"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n"
			     "Last-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n"
			     "Content-Length: 1\r\n\r\n%s", head ? "" : "x");
	else if (!strcmp(path, "/nohead.csv") && head)
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 405 Method Not "
			     "Allowed\r\nContent-Length: 0\r\n\r\n");
	else if (!strcmp(path, "/nohead.csv"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n"
			     "Content-Length: 1\r\n\r\ny");
	else if (!strcmp(path, "/huge.bin"))
		/* The body never comes: refused before it. */
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n"
			     "Content-Length: 1000000\r\n\r\n");
	else if (!strcmp(path, "/growing.bin")) {
		/* No length: the body ends when the connection does. */
		n = snprintf(buf, sizeof(buf), "HTTP/1.0 200 OK\r\n\r\n");
		put(fd, buf, (size_t)n);
		if (head)
			return;
		memset(buf, 'g', sizeof(buf));
		put(fd, buf, sizeof(buf));
		return;
	} else if (!strcmp(path, "/short.bin"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n"
			     "Content-Length: 100\r\n\r\n%s",
			     head ? "" : "only ten b");
	else if (!strcmp(path, "/redirect-ok"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 302 Found\r\n"
			     "Location: /etag.csv\r\nContent-Length: 0\r\n\r\n");
	else if (!strcmp(path, "/redirect-evil"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 302 Found\r\n"
			     "Location: http://localhost:%d/etag.csv\r\n"
			     "Content-Length: 0\r\n\r\n", port);
	else if (!strcmp(path, "/redirect-creds"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 302 Found\r\n"
			     "Location: http://u:p@127.0.0.1:%d/etag.csv\r\n"
			     "Content-Length: 0\r\n\r\n", port);
	else if (!strcmp(path, "/redirect-https"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 301 Moved\r\n"
			     "Location: https://127.0.0.1:%d/etag.csv\r\n"
			     "Content-Length: 0\r\n\r\n", port);
	else if (!strcmp(path, "/redirect-loop"))
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 302 Found\r\n"
			     "Location: /redirect-loop\r\n"
			     "Content-Length: 0\r\n\r\n");
	else
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 404 Not Found\r\n"
			     "Content-Length: 9\r\n\r\n%s",
			     head ? "" : "not here\n");
	put(fd, buf, (size_t)n);
}

/* One request per connection, answered and closed. */
static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		char req[4096], method[16], path[1024];
		size_t got = 0;
		int fd = accept(listen_fd, NULL, NULL);

		if (fd < 0)
			return NULL;
		while (got < sizeof(req) - 1) {
			ssize_t r = read(fd, req + got, sizeof(req) - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[got] = '\0';
		if (sscanf(req, "%15s %1023s", method, path) == 2) {
			int head = !strcmp(method, "HEAD");

			__atomic_add_fetch(head ? &heads : &gets, 1,
					   __ATOMIC_SEQ_CST);
			answer(fd, head, path);
		}
		shutdown(fd, SHUT_WR);
		close(fd);
	}
}

static int setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	(void)state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (void *)&a, sizeof(a)) < 0 ||
	    listen(listen_fd, 16) < 0 ||
	    getsockname(listen_fd, (void *)&a, &len) < 0)
		return -1;
	port = ntohs(a.sin_port);
	return pthread_create(&server, NULL, serve, NULL) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	/* The server thread ends when accept fails. */
	shutdown(listen_fd, SHUT_RDWR);
	close(listen_fd);
	pthread_join(server, NULL);
	return 0;
}

static char *allowed[] = { "127.0.0.1" };

static struct aml_fetch_opts opts(uint64_t max)
{
	struct aml_fetch_opts o = {
		.hosts = allowed,
		.n_hosts = 1,
		.max_bytes = max,
		.protocols = "http",
		.connect_timeout_ms = 5000,
		.stall_timeout_ms = 5000,
	};

	return o;
}

static void url_of(const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "http://127.0.0.1:%d%s", port, path);
}

/* GET [path] into a temporary file: its result, and its body into
 * [body] (at most [len] bytes). */
static int get(const char *path, const struct aml_fetch_opts *o,
	       struct aml_fetch_meta *meta, char *body, size_t len,
	       char *err, size_t errlen)
{
	char url[256];
	FILE *f = tmpfile();
	uint64_t bytes = 0;
	size_t n;
	int r;

	assert_non_null(f);
	url_of(path, url, sizeof(url));
	r = aml_fetch_get(url, o, fileno(f), meta, &bytes, err, errlen);
	rewind(f);
	n = fread(body, 1, len - 1, f);
	body[n] = '\0';
	if (r == 0)
		assert_int_equal(bytes, n);
	fclose(f);
	return r;
}

static void test_validators(void **state)
{
	struct aml_fetch_opts o = opts(1 << 20);
	struct aml_fetch_meta meta;
	char url[256], err[512] = "", body[256], v[384];

	(void)state;
	url_of("/etag.csv", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), 0);
	assert_string_equal(meta.etag, "\"v1\"");
	assert_int_equal(meta.has_length, 1);
	assert_int_equal(meta.length, strlen(body_csv));
	aml_fetch_validator(&meta, v, sizeof(v));
	assert_string_equal(v, "etag \"v1\"");
	assert_int_equal(get("/etag.csv", &o, &meta, body, sizeof(body), err,
			     sizeof(err)), 0);
	assert_string_equal(body, body_csv);
	assert_string_equal(meta.etag, "\"v1\"");

	url_of("/lm.csv", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), 0);
	aml_fetch_validator(&meta, v, sizeof(v));
	assert_string_equal(v, "last-modified Tue, 01 Dec 2026 10:00:00 GMT");

	/* No HEAD: no validator, and the GET still works. */
	url_of("/nohead.csv", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), 0);
	aml_fetch_validator(&meta, v, sizeof(v));
	assert_string_equal(v, "");
	assert_int_equal(get("/nohead.csv", &o, &meta, body, sizeof(body), err,
			     sizeof(err)), 0);
	assert_string_equal(body, "y");
}

static void test_errors(void **state)
{
	struct aml_fetch_opts o = opts(1 << 20);
	struct aml_fetch_meta meta;
	char url[256], err[512] = "", body[256], expected[512];

	(void)state;
	url_of("/missing.csv?sig=secret", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "http://127.0.0.1:%d/missing.csv: "
		 "the server answered HTTP 404", port);
	/* The query (a SAS signature) is never shown. */
	assert_string_equal(err, expected);
	assert_int_equal(get("/missing.csv", &o, &meta, body, sizeof(body), err,
			     sizeof(err)), -1);
	assert_string_equal(err, expected);
	/* The error page is not the file. */
	assert_string_equal(body, "");

	assert_int_equal(get("/short.bin", &o, &meta, body, sizeof(body), err,
			     sizeof(err)), -1);
	assert_non_null(strstr(err, "/short.bin: "));

	/* Nothing listens there. */
	snprintf(url, sizeof(url), "http://127.0.0.1:1/x.csv");
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http://127.0.0.1:1/x.csv: "));

	/* Only the protocols given. */
	o.protocols = "https";
	url_of("/etag.csv", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), -1);
}

static void test_size_limit(void **state)
{
	struct aml_fetch_opts o = opts(1000);
	struct aml_fetch_meta meta;
	char url[256], err[512] = "", body[256], expected[512];
	int gets_before;

	(void)state;
	url_of("/huge.bin", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "http://127.0.0.1:%d/huge.bin: "
		 "the file is 1000000 bytes, over DataDownloadMax (1000 bytes)",
		 port);
	assert_string_equal(err, expected);
	gets_before = __atomic_load_n(&gets, __ATOMIC_SEQ_CST);
	assert_int_equal(get("/huge.bin", &o, &meta, body, sizeof(body), err,
			     sizeof(err)), -1);
	assert_int_equal(__atomic_load_n(&gets, __ATOMIC_SEQ_CST),
			 gets_before + 1);
	snprintf(expected, sizeof(expected), "http://127.0.0.1:%d/huge.bin: "
		 "the file is larger than DataDownloadMax (1000 bytes)", port);
	assert_string_equal(err, expected);
	assert_string_equal(body, "");

	/* No length said: cut off once past the limit. */
	assert_int_equal(get("/growing.bin", &o, &meta, body, sizeof(body), err,
			     sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "http://127.0.0.1:%d/growing.bin: "
		 "the file is larger than DataDownloadMax (1000 bytes)", port);
	assert_string_equal(err, expected);
}

static void test_redirects(void **state)
{
	struct aml_fetch_opts o = opts(1 << 20);
	struct aml_fetch_meta meta;
	char url[256], err[512] = "", body[256], expected[512];

	(void)state;
	assert_int_equal(get("/redirect-ok", &o, &meta, body, sizeof(body), err,
			     sizeof(err)), 0);
	assert_string_equal(body, body_csv);
	snprintf(expected, sizeof(expected), "http://127.0.0.1:%d/etag.csv",
		 port);
	assert_string_equal(meta.final_url, expected);

	url_of("/redirect-evil", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "http://127.0.0.1:%d/"
		 "redirect-evil: redirected to http://localhost:%d/etag.csv, "
		 "whose host localhost is not in DataDownloadHosts: not "
		 "followed", port, port);
	assert_string_equal(err, expected);
	assert_int_equal(get("/redirect-evil", &o, &meta, body, sizeof(body),
			     err, sizeof(err)), -1);
	assert_string_equal(err, expected);

	/* libcurl 8 (Debian sid's) drops the user name and password from
	 * the redirect's URL it reports: the redirect is then followed, and
	 * no credentials go anywhere.  Older libcurl reports them, and the
	 * redirect is refused. */
	url_of("/redirect-creds", url, sizeof(url));
	if (aml_fetch_head(url, &o, &meta, err, sizeof(err)) == 0) {
		assert_null(strchr(meta.final_url, '@'));
	} else {
		snprintf(expected, sizeof(expected), "http://127.0.0.1:%d/"
			 "redirect-creds: redirected to a URL with a user name "
			 "or password: not followed", port);
		assert_string_equal(err, expected);
	}

	url_of("/redirect-https", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "another scheme: not followed"));

	url_of("/redirect-loop", url, sizeof(url));
	assert_int_equal(aml_fetch_head(url, &o, &meta, err, sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "http://127.0.0.1:%d/"
		 "redirect-loop: more than 5 redirects", port);
	assert_string_equal(err, expected);
}

struct seen {
	int calls;
	uint64_t got, total;
};

static void progress(void *arg, uint64_t got, uint64_t total)
{
	struct seen *s = arg;

	s->calls++;
	s->got = got;
	s->total = total;
}

static void test_progress(void **state)
{
	struct aml_fetch_opts o = opts(1 << 20);
	struct aml_fetch_meta meta;
	struct seen s = { 0 };
	char err[512] = "", body[256];

	(void)state;
	o.progress = progress;
	o.progress_arg = &s;
	assert_int_equal(get("/etag.csv", &o, &meta, body, sizeof(body), err,
			     sizeof(err)), 0);
	/* At least the last word: all of it. */
	assert_true(s.calls >= 1);
	assert_int_equal(s.got, strlen(body_csv));
	assert_int_equal(s.total, strlen(body_csv));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validators),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_progress),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
