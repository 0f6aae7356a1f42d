/*
 * mlflow_server.h: the MLflow test server (tests/mlflow-server) as a
 * child of a unit test of rest/, on loopback, for test_http.c (the
 * transport) and test_history_mlflow.c (the backend).
 *
 * Its faults are set and its dump read through a raw socket, not through
 * rest/http.c, so a broken transport cannot hide its own failures.  The
 * control calls assert (cmocka) that the server answered 200.
 */
#ifndef AML_TEST_MLFLOW_SERVER_H
#define AML_TEST_MLFLOW_SERVER_H

#include <sys/types.h>

#include <cjson/cJSON.h>

struct mlflow_server {
	pid_t pid;          /* -1: not running */
	int port;
	char dir[64];
	char port_file[96];
};

/*
 * Start python3 $AML_MLFLOW_SERVER on an ephemeral port ([auth] NULL or
 * "bearer:TOKEN", "basic:USER:PASS") and wait (15 s at most) for it to
 * listen.  It dies with the test.  Returns 0, or -1 with why (for a SKIP
 * line) in [*why].
 */
int mlflow_server_start(struct mlflow_server *s, const char *auth,
			const char **why);
void mlflow_server_stop(struct mlflow_server *s);

/* The body of [method] [path] (with [body], JSON, or NULL), which must
 * answer 200; malloc'd. */
char *mlflow_server_control(const struct mlflow_server *s, const char *method,
			    const char *path, const char *body);

/* POST /__faults__ [json]; "{}" clears them. */
void mlflow_server_faults(const struct mlflow_server *s, const char *json);

/* GET /__dump__, parsed (cJSON_Delete it). */
cJSON *mlflow_server_dump(const struct mlflow_server *s);

/* A monotonic clock in milliseconds, for waits and time bounds. */
long long mlflow_server_mono_ms(void);

#endif
