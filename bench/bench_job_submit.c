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
 * median of 9 batches, the call alone on the clock; beside it, the same
 * job passed through the plugin as a job without an AML configuration
 * (the cost every other job pays).
 *
 * Then the same run with many environment variables, made from
 * RUN_CONFIG_JSON (a canonical configuration, one line, as `aml-run
 * validate --canonical` prints it) by adding NAME=value pairs to its
 * environment_variables (in place of its own), as a user's run.json or a
 * forger could: the ones
 * aml.conf's limits accept (up to MaxEnvironmentVariables, 4096 by
 * default) and the ones they refuse, a count over the limit that still
 * fits MaxConfigSize (parsed, then refused) and 100,000 (1.4 MB: refused
 * on its size, before parsing).  Each is printed as a ratio to the plain
 * run of the same process: the controller's cost per submission must stay
 * within a constant of it, whatever the input (issue 12).  A refusal is
 * expected for those over the limit; anything else is an error.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <slurm/slurm.h>

extern char *slurm_xstrdup(const char *str);
extern char *slurm_xstrdup_printf(const char *fmt, ...);
extern void slurm_xfree(void **item);
extern void *slurm_xrecalloc(void **item, size_t count, size_t size,
			     bool clear, bool try_, const char *file,
			     int line, const char *func);

typedef int (*init_fn)(void);
typedef int (*submit_fn)(job_desc_msg_t *, uint32_t, char **);

/* The configuration the next jobs carry. */
static const char *config_text;
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
	d->spank_job_env[0] = slurm_xstrdup_printf("AML_CONFIG=%s", config_text);
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

/* What the plugin must answer for the jobs measured. */
enum expect { EXPECT_ACCEPT, EXPECT_REFUSE };

/* The controller's message for the last refusal, for the report. */
static char last_refusal[160];

/*
 * Median over 9 batches of [iters] calls, in microseconds per call of
 * job_submit() alone: each job is built and freed outside the clock,
 * since a megabyte configuration costs the harness more to copy than the
 * plugin to refuse.
 */
static double measure(submit_fn submit, int aml, long iters,
		      enum expect expect)
{
	double samples[9];

	for (int s = 0; s < 9; s++) {
		double spent = 0;

		for (long i = 0; i < iters; i++) {
			job_desc_msg_t d;
			char *msg = NULL;
			double t0;
			int rc;

			make_job(&d, aml);
			t0 = now_us();
			rc = submit(&d, 1000, &msg);
			spent += now_us() - t0;
			if ((rc == SLURM_SUCCESS) != (expect == EXPECT_ACCEPT)) {
				fprintf(stderr, "bench_job_submit: %s: %s\n",
					rc == SLURM_SUCCESS ? "accepted"
							    : "refused",
					msg ? msg : "?");
				exit(1);
			}
			if (rc != SLURM_SUCCESS && msg)
				snprintf(last_refusal, sizeof(last_refusal),
					 "%s", msg);
			slurm_xfree((void **)&msg);
			free_job(&d);
		}
		samples[s] = spent / (double)iters;
	}
	qsort(samples, 9, sizeof(samples[0]), compare);
	return samples[4];
}

/* What the clock itself adds to each call measured. */
static int no_submit(job_desc_msg_t *d, uint32_t uid, char **msg)
{
	(void)d;
	(void)uid;
	(void)msg;
	return SLURM_SUCCESS;
}

/*
 * [base] with its environment_variables replaced by exactly [n]
 * variables V0000000=x ...; NULL when [base] has no such object.
 * malloc'd.  The object is flat (names and string values), so its end is
 * the first '}' outside a string.
 */
static char *with_variables(const char *base, long n)
{
	static const char key[] = "\"environment_variables\":{";
	const char *at = strstr(base, key), *end;
	size_t head, size;
	char *out, *p;
	int in_string = 0;

	if (!at)
		return NULL;
	head = (size_t)(at - base) + strlen(key);
	for (end = base + head; *end && (in_string || *end != '}'); end++) {
		if (in_string && *end == '\\' && end[1])
			end++;
		else if (*end == '"')
			in_string = !in_string;
	}
	if (!*end)
		return NULL;
	size = head + (size_t)n * 16 + strlen(end) + 1;
	if (!(out = malloc(size)))
		return NULL;
	memcpy(out, base, head);
	p = out + head;
	for (long i = 0; i < n; i++)
		p += sprintf(p, "%s\"V%07ld\":\"x\"", i ? "," : "", i);
	strcpy(p, end);
	return out;
}

int main(int argc, char **argv)
{
	/* Sizes of the environment, and whether aml.conf's default limits
	 * accept them (MaxEnvironmentVariables 4096, MaxConfigSize 1M). */
	static const struct {
		long variables;
		enum expect expect;
	} cases[] = {
		{ 1024, EXPECT_ACCEPT },
		{ 4096, EXPECT_ACCEPT },
		{ 8192, EXPECT_REFUSE },
		{ 60000, EXPECT_REFUSE },
		{ 100000, EXPECT_REFUSE },
	};
	long iters = argc > 3 ? strtol(argv[3], NULL, 10) : 20000;
	FILE *f;
	long len;
	void *so;
	init_fn init;
	submit_fn submit;
	double clock, plain, aml;
	char *base;

	if (argc < 3 || iters <= 0) {
		fprintf(stderr, "usage: bench_job_submit PLUGIN.so RUN_CONFIG_JSON [ITERATIONS]\n");
		return 2;
	}
	if (!(f = fopen(argv[2], "r")) || fseek(f, 0, SEEK_END) < 0 ||
	    (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(base = calloc(1, (size_t)len + 1)) ||
	    fread(base, 1, (size_t)len, f) != (size_t)len) {
		perror(argv[2]);
		return 1;
	}
	fclose(f);
	base[strcspn(base, "\n")] = '\0';
	config_text = base;
	if (!(so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) ||
	    !(init = (init_fn)dlsym(so, "init")) ||
	    !(submit = (submit_fn)dlsym(so, "job_submit"))) {
		fprintf(stderr, "bench_job_submit: %s\n", dlerror());
		return 1;
	}
	if (init() != SLURM_SUCCESS)
		return 1;
	clock = measure(no_submit, 1, iters, EXPECT_ACCEPT);
	plain = measure(submit, 0, iters, EXPECT_ACCEPT) - clock;
	aml = measure(submit, 1, iters, EXPECT_ACCEPT) - clock;
	printf("job_submit(), per call, median of 9 x %ld: an AML run %.2f us; "
	       "a job without AML configuration %.3f us (the clock's own "
	       "cost, taken off both: %.3f us)\n",
	       iters, aml, plain, clock);
	fflush(stdout);

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char *big = with_variables(base, cases[c].variables);
		/* About as long per batch as the plain run's batches. */
		long n = iters / (cases[c].variables / 8 + 1);
		double own;

		if (!big) {
			fprintf(stderr, "bench_job_submit: %s has no environment_variables object\n",
				argv[2]);
			return 1;
		}
		config_text = big;
		last_refusal[0] = '\0';
		own = measure(submit, 1, n < 3 ? 3 : n, cases[c].expect) -
		      clock;
		config_text = base;
		printf("  %6ld variables (%zu bytes), %s: %.0f us per call, "
		       "%.1f x the plain run%s%s\n",
		       cases[c].variables, strlen(big),
		       cases[c].expect == EXPECT_ACCEPT ? "accepted" : "refused",
		       own, own / aml, *last_refusal ? ": " : "",
		       last_refusal);
		fflush(stdout);
		free(big);
	}
	free(base);
	return 0;
}
