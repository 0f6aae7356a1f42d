/*
 * bench_job_submit: what job_submit_aml.so's job_submit() costs per call,
 * whole, as slurmctld calls it: decode, validate, plan, and writing the
 * plan into the job (names, comments, environment, the launcher, the two
 * hashes), with libslurm's own allocator.  bench_plan times only the
 * decision; the controller pays for all of it.
 *
 *   bench_job_submit PLUGIN.so RUN_CONFIG_JSON [ITERATIONS]
 *
 * aml.conf comes from $AML_CONF, as in slurmctld.  Each sample is the
 * median of 9 batches; beside it, the same job passed through the plugin
 * as a job without an AML configuration (the cost every other job pays),
 * and building and freeing the job description alone (the harness).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <slurm/slurm.h>

extern char *slurm_xstrdup(const char *str);
extern void slurm_xfree(void **item);
extern void *slurm_xrecalloc(void **item, size_t count, size_t size,
			     bool clear, bool try_, const char *file,
			     int line, const char *func);

typedef int (*init_fn)(void);
typedef int (*submit_fn)(job_desc_msg_t *, uint32_t, char **);

static char *config_text;
static const char *base_env[] = {
	"PATH=/usr/bin:/bin", "HOME=/home/alice", "USER=alice",
	"SHELL=/bin/bash", "LANG=C.UTF-8", "PWD=/home/alice/project",
	"SLURM_CONF=/etc/slurm/slurm.conf", "TERM=xterm-256color",
};

static char **xarray(size_t n)
{
	char **a = NULL;

	slurm_xrecalloc((void **)&a, n + 1, sizeof(*a), true, false,
			__FILE__, __LINE__, __func__);
	return a;
}

/* A job as sbatch sends it: the user's environment, a script, and, for
 * an AML run, the four SPANK variables. */
static void make_job(job_desc_msg_t *d, int aml)
{
	size_t n = sizeof(base_env) / sizeof(base_env[0]);
	char buf[8192];

	slurm_init_job_desc_msg(d);
	d->user_id = 1000;
	d->group_id = 1000;
	d->name = slurm_xstrdup("sbatch");
	d->script = slurm_xstrdup("#!/bin/sh\nexec aml-launch\n");
	d->environment = xarray(n);
	for (size_t i = 0; i < n; i++)
		d->environment[i] = slurm_xstrdup(base_env[i]);
	d->env_size = (uint32_t)n;
	if (!aml)
		return;
	d->spank_job_env = xarray(4);
	snprintf(buf, sizeof(buf), "AML_CONFIG=%s", config_text);
	d->spank_job_env[0] = slurm_xstrdup(buf);
	d->spank_job_env[1] = slurm_xstrdup("AML_RUN_ID=bench_1795600000_0a1b2c3d");
	d->spank_job_env[2] = slurm_xstrdup(
		"AML_SNAPSHOT_ID=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	d->spank_job_env[3] = slurm_xstrdup("AML_LAUNCHER=1");
	d->spank_job_env_size = 4;
}

static void free_array(char ***a, uint32_t n)
{
	for (uint32_t i = 0; *a && i < n; i++)
		slurm_xfree((void **)&(*a)[i]);
	slurm_xfree((void **)a);
}

static void free_job(job_desc_msg_t *d)
{
	free_array(&d->environment, d->env_size);
	free_array(&d->spank_job_env, d->spank_job_env_size);
	slurm_xfree((void **)&d->name);
	slurm_xfree((void **)&d->script);
	slurm_xfree((void **)&d->comment);
	slurm_xfree((void **)&d->admin_comment);
	slurm_xfree((void **)&d->partition);
	slurm_xfree((void **)&d->qos);
	slurm_xfree((void **)&d->account);
	slurm_xfree((void **)&d->tres_per_node);
	slurm_xfree((void **)&d->features);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median over 9 batches of [iters] calls, in microseconds per call. */
static double measure(submit_fn submit, int aml, long iters)
{
	double samples[9];

	for (int s = 0; s < 9; s++) {
		double t0 = now_us();

		for (long i = 0; i < iters; i++) {
			job_desc_msg_t d;
			char *msg = NULL;

			make_job(&d, aml);
			if (submit && submit(&d, 1000, &msg) != SLURM_SUCCESS) {
				fprintf(stderr, "bench_job_submit: refused: %s\n",
					msg ? msg : "?");
				exit(1);
			}
			slurm_xfree((void **)&msg);
			free_job(&d);
		}
		samples[s] = (now_us() - t0) / (double)iters;
	}
	qsort(samples, 9, sizeof(samples[0]), compare);
	return samples[4];
}

int main(int argc, char **argv)
{
	long iters = argc > 3 ? strtol(argv[3], NULL, 10) : 20000;
	FILE *f;
	long len;
	void *so;
	init_fn init;
	submit_fn submit;
	double harness, plain, aml;

	if (argc < 3 || iters <= 0) {
		fprintf(stderr, "usage: bench_job_submit PLUGIN.so RUN_CONFIG_JSON [ITERATIONS]\n");
		return 2;
	}
	if (!(f = fopen(argv[2], "r")) || fseek(f, 0, SEEK_END) < 0 ||
	    (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(config_text = calloc(1, (size_t)len + 1)) ||
	    fread(config_text, 1, (size_t)len, f) != (size_t)len) {
		perror(argv[2]);
		return 1;
	}
	fclose(f);
	config_text[strcspn(config_text, "\n")] = '\0';
	if (!(so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) ||
	    !(init = (init_fn)dlsym(so, "init")) ||
	    !(submit = (submit_fn)dlsym(so, "job_submit"))) {
		fprintf(stderr, "bench_job_submit: %s\n", dlerror());
		return 1;
	}
	if (init() != SLURM_SUCCESS)
		return 1;
	harness = measure(NULL, 1, iters);
	plain = measure(submit, 0, iters) - measure(NULL, 0, iters);
	aml = measure(submit, 1, iters) - harness;
	printf("job_submit(), per call, median of 9 x %ld: an AML run %.2f us; "
	       "a job without AML configuration %.3f us (the harness's own "
	       "job build and free: %.2f us)\n",
	       iters, aml, plain, harness);
	return 0;
}
