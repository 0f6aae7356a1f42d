/*
 * bench_plan: what an AML job costs the controller.
 *
 * slurmctld decodes the canonical configuration, re-validates it and plans
 * it under its locks, so that path is measured (median microseconds per
 * call) against a baseline in the same run: cJSON parsing the same text,
 * the floor for anything that reads JSON.  The user-side path (the 2 KB
 * file as written, in sbatch) is reported too.
 *
 * Usage: bench_plan RUN.json SITE.conf [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "plan.h"
#include "runconfig.h"
#include "site.h"
#include "admission.h"

#define CALLS_PER_ROUND 200

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *text;
	long size;

	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		perror(path);
		exit(1);
	}
	text = malloc((size_t)size + 1);
	if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
		perror(path);
		exit(1);
	}
	text[size] = '\0';
	fclose(f);
	*len = (size_t)size;
	return text;
}

struct workload {
	const char *text;
	size_t len;
	const char *base_dir;
	const struct aml_site *site;
	char **spank_env;     /* the job_submit plugin's input */
};

static void plan_once(const struct workload *w)
{
	static const struct aml_submitter who = { "alice", "vision" };
	struct aml_runconfig rc;
	struct aml_plan plan;
	struct aml_errors errs;

	aml_errors_init(&errs, "run.json");
	if (aml_runconfig_parse(w->text, w->len, "run.json", w->base_dir, NULL,
				&w->site->limits, &rc, &errs) != 0 ||
	    aml_plan_from_config(&rc, w->site, &who,
				 "resnet50-imagenet_1700000000_0a1b2c3d", &plan,
				 &errs) != 0) {
		for (size_t i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.lines[i]);
		exit(1);
	}
	aml_plan_free(&plan);
	aml_runconfig_free(&rc);
	aml_errors_free(&errs);
}

/* The whole decision job_submit/aml takes per job: find the variables in
 * the SPANK environment, decode, validate, plan, build the summary. */
static void decide_once(const struct workload *w)
{
	static const struct aml_submitter who = { "alice", "vision" };
	struct aml_admission d;
	char err[1024];

	if (aml_admission_decide(w->spank_env, 4, w->site, &who, &d, err,
				 sizeof(err)) != 0 || !d.is_aml) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	aml_admission_free(&d);
}

static void cjson_once(const struct workload *w)
{
	cJSON *doc = cJSON_ParseWithLength(w->text, w->len);

	if (!doc)
		exit(1);
	cJSON_Delete(doc);
}

static double median_us(void (*fn)(const struct workload *),
			const struct workload *w, int rounds)
{
	double *samples = malloc(sizeof(double) * (size_t)rounds), median;

	for (int r = 0; r < rounds; r++) {
		double start = now_us();

		for (int i = 0; i < CALLS_PER_ROUND; i++)
			fn(w);
		samples[r] = (now_us() - start) / CALLS_PER_ROUND;
	}
	qsort(samples, (size_t)rounds, sizeof(double), compare_double);
	median = samples[rounds / 2];
	free(samples);
	return median;
}

int main(int argc, char **argv)
{
	struct aml_runconfig rc;
	struct aml_site site;
	struct aml_errors errs;
	struct workload user, controller;
	char *text, *canonical;
	size_t len;
	int rounds = argc > 3 ? atoi(argv[3]) : 200;
	double user_us, controller_us, baseline_user, baseline_controller;
	double decide_us;
	char *config_var;
	char *spank_env[] = { NULL,
			      AML_JOBENV_RUN_ID "=resnet50-imagenet_1700000000_0a1b2c3d",
			      AML_JOBENV_SNAPSHOT "=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			      AML_JOBENV_LAUNCHER "=1", NULL };

	if (argc < 3 || rounds < 1) {
		fprintf(stderr, "usage: %s RUN.json SITE.conf [ROUNDS]\n", argv[0]);
		return 64;
	}
	text = read_file(argv[1], &len);
	aml_errors_init(&errs, NULL);
	if (aml_site_load(argv[2], &site, &errs) != 0 ||
	    aml_runconfig_parse(text, len, argv[1], "/home/alice", NULL,
				&site.limits, &rc, &errs) != 0) {
		for (size_t i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.lines[i]);
		return 1;
	}
	canonical = aml_runconfig_encode(&rc);
	aml_runconfig_free(&rc);
	aml_errors_free(&errs);

	if (asprintf(&config_var, "%s=%s", AML_JOBENV_CONFIG, canonical) < 0)
		return 1;
	spank_env[0] = config_var;
	user = (struct workload){ text, len, "/home/alice", &site, NULL };
	controller = (struct workload){ canonical, strlen(canonical), NULL,
					&site, spank_env };
	/* Warm caches and the allocator before measuring. */
	median_us(plan_once, &controller, 5);

	controller_us = median_us(plan_once, &controller, rounds);
	decide_us = median_us(decide_once, &controller, rounds);
	baseline_controller = median_us(cjson_once, &controller, rounds);
	user_us = median_us(plan_once, &user, rounds);
	baseline_user = median_us(cjson_once, &user, rounds);

	printf("input: %s (%zu bytes as written, %zu bytes canonical)\n",
	       argv[1], len, strlen(canonical));
	printf("controller path (decode canonical + validate + plan): median %.2f us/call\n",
	       controller_us);
	printf("  baseline cJSON_Parse of the same text:               median %.2f us/call\n",
	       baseline_controller);
	printf("  ratio: %.2fx the baseline\n", controller_us / baseline_controller);
	printf("job_submit decision (aml_admission_decide, all of it):    median %.2f us/call\n",
	       decide_us);
	printf("user path (parse file + validate + plan):             median %.2f us/call\n",
	       user_us);
	printf("  baseline cJSON_Parse of the same text:               median %.2f us/call\n",
	       baseline_user);
	printf("  ratio: %.2fx the baseline\n", user_us / baseline_user);
	printf("goal: controller path under 20 us: %s\n",
	       controller_us < 20.0 ? "met" : "NOT met");
	free(config_var);
	free(canonical);
	free(text);
	aml_site_free(&site);
	return 0;
}
