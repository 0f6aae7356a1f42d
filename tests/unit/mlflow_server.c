/*
 * mlflow_server.c: see mlflow_server.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "mlflow_server.h"

long long mlflow_server_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int read_port(const char *path)
{
	FILE *f = fopen(path, "r");
	int port = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}

void mlflow_server_stop(struct mlflow_server *s)
{
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		for (int i = 0; i < 250; i++) {
			if (waitpid(s->pid, &status, WNOHANG) == s->pid)
				break;
			if (i == 249) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &status, 0);
			}
			nap_ms(20);
		}
		s->pid = -1;
	}
	if (s->dir[0]) {
		unlink(s->port_file);
		rmdir(s->dir);
		s->dir[0] = '\0';
	}
}

int mlflow_server_start(struct mlflow_server *s, const char *auth,
			const char **why)
{
	const char *script = getenv("AML_MLFLOW_SERVER");
	const char *tmp = getenv("TMPDIR");
	pid_t parent = getpid();
	int status;

	memset(s, 0, sizeof(*s));
	s->pid = -1;
	if (!script || !*script) {
		*why = "AML_MLFLOW_SERVER is not set";
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "%s/mlflow_server.XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		s->dir[0] = '\0';
		*why = "cannot create a temporary directory";
		return -1;
	}
	snprintf(s->port_file, sizeof(s->port_file), "%s/port", s->dir);
	s->pid = fork();
	if (s->pid == 0) {
		/* Dies with the test, even one that crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		execlp("python3", "python3", script, "--port", "0",
		       "--port-file", s->port_file, "--quiet",
		       auth ? "--auth" : (char *)NULL, auth, (char *)NULL);
		_exit(127);
	}
	if (s->pid < 0) {
		*why = "fork failed";
		return -1;
	}
	for (long long end = mlflow_server_mono_ms() + 15000; mlflow_server_mono_ms() < end; nap_ms(20)) {
		s->port = read_port(s->port_file);
		if (s->port > 0)
			return 0;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = -1;
			*why = "the MLflow test server did not start "
				      "(python3 missing?)";
			mlflow_server_stop(s);
			return -1;
		}
	}
	*why = "the MLflow test server did not listen within 15 s";
	mlflow_server_stop(s);
	return -1;
}

/* ---- control requests, over a raw socket ---- */

static int connect_port(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

char *mlflow_server_control(const struct mlflow_server *s, const char *method,
			    const char *path, const char *body)
{
	char head[512], *text, *sep;
	size_t len;
	int fd = connect_port(s->port);

	snprintf(head, sizeof(head),
		 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 method, path, body ? strlen(body) : 0);
	assert_int_equal(aml_write_all(fd, head, strlen(head)), 0);
	if (body)
		assert_int_equal(aml_write_all(fd, body, strlen(body)), 0);
	assert_int_equal(aml_read_fd(fd, 64 << 20, &text, &len), 0);
	close(fd);
	assert_int_equal(strncmp(text, "HTTP/1.1 200 ", 13), 0);
	sep = strstr(text, "\r\n\r\n");
	assert_non_null(sep);
	memmove(text, sep + 4, strlen(sep + 4) + 1);
	return text;
}

void mlflow_server_faults(const struct mlflow_server *s, const char *json)
{
	free(mlflow_server_control(s, "POST", "/__faults__", json));
}

cJSON *mlflow_server_dump(const struct mlflow_server *s)
{
	char *text = mlflow_server_control(s, "GET", "/__dump__", NULL);
	cJSON *d = cJSON_Parse(text);

	free(text);
	assert_non_null(d);
	return d;
}

