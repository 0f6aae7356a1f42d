/*
 * libFuzzer target: an answer from an MLflow tracking server, which is
 * whatever the network (or a hostile or broken server) sends.  Every
 * parser of mlflow_answer must refuse or accept it without crashing or
 * reading out of bounds, say why when it refuses, and the error line
 * made from it must be one line of printable text within its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlflow_answer.h"
#include "mlflow_error.h"

static void check_error_line(const char *body, size_t len)
{
	static const char *const types[] = { NULL, "text/html",
					     "application/json", "text/plain" };
	char line[160];

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		aml_mlflow_error_line(503, types[t], body, len, line,
				      sizeof(line));
		if (strlen(line) >= sizeof(line))
			abort();
		for (const char *c = line; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	char err[256];
	struct aml_mlflow_run run;
	struct aml_mlflow_runs runs;
	struct aml_mlflow_experiment exp;
	struct aml_mlflow_experiments exps;
	struct aml_mlflow_files files;
	char *id = NULL;

#define REFUSAL_SAYS_WHY(call)                          \
	do {                                            \
		err[0] = '\0';                          \
		if ((call) != 0 && err[0] == '\0')      \
			abort();                        \
	} while (0)

	REFUSAL_SAYS_WHY(aml_mlflow_parse_run("runs/get", body, size, &run,
					      err, sizeof(err)));
	aml_mlflow_run_free(&run);
	REFUSAL_SAYS_WHY(aml_mlflow_parse_runs("runs/search", body, size, &runs,
					       err, sizeof(err)));
	aml_mlflow_runs_free(&runs);
	REFUSAL_SAYS_WHY(aml_mlflow_parse_experiment("experiments/get", body,
						     size, &exp, err,
						     sizeof(err)));
	aml_mlflow_experiment_free(&exp);
	REFUSAL_SAYS_WHY(aml_mlflow_parse_experiments("experiments/search",
						      body, size, &exps, err,
						      sizeof(err)));
	aml_mlflow_experiments_free(&exps);
	REFUSAL_SAYS_WHY(aml_mlflow_parse_files("artifacts/list", body, size,
						&files, err, sizeof(err)));
	aml_mlflow_files_free(&files);
	REFUSAL_SAYS_WHY(aml_mlflow_parse_experiment_id("experiments/create",
							body, size, &id, err,
							sizeof(err)));
	free(id);
	check_error_line(body, size);
	return 0;
}
