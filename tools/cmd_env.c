/*
 * aml-run env: the site's environments (the catalogue, environment.h)
 * and the built ones on this host's EnvDir (env_cache.h): list them, show
 * one, build one ahead of the runs that need it, remove unused ones.
 *
 * Built as root, an environment goes to EnvDir/shared, which every user's
 * runs use (an admin pre-building the site's usual specifications); as a
 * user, to the user's own directory there, which only their runs use.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "env_cache.h"
#include "env_node.h"
#include "container.h"
#include "env_spec.h"
#include "environment.h"
#include "errors.h"
#include "fdio.h"
#include "image_pull.h"
#include "runconfig.h"
#include "site.h"
#include "text.h"
#include "tools.h"

/* A build ahead of time waits as long as a run would for another's. */
#define BUILD_WAIT_MS (3600LL * 1000)
#define DEFAULT_UNUSED_DAYS 30

static const char usage[] =
	"Usage: aml-run env ACTION [OPTIONS]\n"
	"\n"
	"The site's environments, those built in EnvDir, the container\n"
	"images pulled into ImageDir and the runs' https:// inputs\n"
	"downloaded into DataCacheDir on this host.\n"
	"\n"
	"Actions:\n"
	"  list                 the catalogue (aml.conf Environment= lines) and\n"
	"                       the built environments (yours, and the shared ones)\n"
	"  show NAME[:VERSION]  one catalogue environment; or KEY, one built one\n"
	"  build FILE           build the environment a conda file asks for\n"
	"                       (environment.yml, or conda_dependencies as JSON),\n"
	"                       as a run would; as root, into EnvDir/shared, for\n"
	"                       every user's runs\n"
	"  pull IMAGE           pull a container image into ImageDir as a run\n"
	"                       would; as root, into ImageDir/shared\n"
	"  gc [--unused DAYS]   remove built environments, pulled images and\n"
	"                       downloads no run used for DAYS days (30), and\n"
	"                       failed ones\n"
	"\n"
	"  --conf PATH          site policy to use\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 done, 1 a build failed, 2 refused, 64 usage error.\n";

static void print_time(const char *label, int64_t ms)
{
	char when[32] = "unknown";
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms > 0 && localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	printf("  %-10s %s\n", label, when);
}

static void print_entry_line(void *arg, const struct aml_env_entry *e)
{
	char size[32];

	(void)arg;
	aml_format_bytes(e->bytes, size, sizeof(size));
	printf("  %.12s  %-6s %-8s %-24s %s%s%s\n", e->key,
	       e->shared ? "shared" : "yours",
	       e->failed ? "failed" : e->ready ? "ready" : "partial",
	       e->what[0] ? e->what : "-", size, e->note[0] ? "  " : "",
	       e->note);
}

static void print_image_line(void *arg, const struct aml_env_entry *e)
{
	char size[32];

	(void)arg;
	aml_format_bytes(e->bytes, size, sizeof(size));
	printf("image  sha256:%.12s  %-6s %-8s %-32s %s%s%s\n", e->key,
	       e->shared ? "shared" : "yours",
	       e->failed ? "failed" : e->ready ? "ready" : "partial",
	       e->what[0] ? e->what : "-", size, e->note[0] ? "  " : "",
	       e->note);
}

struct shown {
	const char *key;
	int found;
};

static void print_entry_whole(void *arg, const struct aml_env_entry *e)
{
	struct shown *s = arg;
	char size[32];

	if (strncmp(e->key, s->key, strlen(s->key)))
		return;
	s->found++;
	aml_format_bytes(e->bytes, size, sizeof(size));
	printf("%s\n", e->key);
	printf("  %-10s %s\n", "where", e->path ? e->path : "-");
	printf("  %-10s %s\n", "owner", e->shared ? "shared (root's)" : "yours");
	printf("  %-10s %s\n", "state",
	       e->failed ? "failed" : e->ready ? "ready" : "partial");
	printf("  %-10s %s %s\n", "built", e->kind, e->what);
	print_time("built at", e->built_ms);
	print_time("last used", e->used_ms);
	printf("  %-10s %s\n", "size", size);
	if (e->note[0])
		printf("  %-10s %s\n", "note", e->note);
}

static void print_catalogue_entry(const struct aml_site_env *e, int whole)
{
	char name[300];

	snprintf(name, sizeof(name), "%s%s%s", e->name, e->version ? ":" : "",
		 e->version ? e->version : "");
	if (!whole) {
		printf("  %-28s %s%s", name,
		       e->prefix ? "prefix " : e->interpreter ? "interpreter "
							      : "",
		       e->prefix ? e->prefix : e->interpreter ? e->interpreter
								: "");
		if (e->n_modules)
			printf("%smodules", e->prefix || e->interpreter ? ", " : "");
		for (size_t i = 0; i < e->n_modules; i++)
			printf("%s%s", i ? "," : " ", e->modules[i]);
		printf("\n");
		return;
	}
	printf("%s (aml.conf line %d)\n", name, e->line);
	if (e->prefix)
		printf("  %-12s %s\n", "prefix", e->prefix);
	if (e->interpreter)
		printf("  %-12s %s\n", "interpreter", e->interpreter);
	for (size_t i = 0; i < e->n_modules; i++)
		printf("  %-12s %s\n", i ? "" : "modules", e->modules[i]);
	for (size_t i = 0; i < e->vars.count; i++)
		printf("  %-12s %s=%s\n", i ? "" : "variables",
		       e->vars.items[i].key, e->vars.items[i].value);
}

static int env_list(const struct aml_site *site)
{
	char err[1024];

	printf("Catalogue (%s):\n", site->path ? site->path : "aml.conf");
	if (!site->n_envs)
		printf("  (none)\n");
	for (size_t i = 0; i < site->n_envs; i++)
		print_catalogue_entry(&site->envs[i], 0);
	if (site->default_environment)
		printf("  default: %s\n", site->default_environment);
	printf("Built in %s:\n", site->env_dir);
	if (aml_env_cache_list(site->env_dir, print_entry_line, NULL, err,
			       sizeof(err)) < 0) {
		fprintf(stderr, "aml-run env: %s\n", err);
		return AML_EXIT_FAILURE;
	}
	if (site->data.n_download_hosts) {
		printf("Downloads in %s:\n", site->data_cache_dir);
		if (aml_env_cache_list(site->data_cache_dir, print_entry_line,
				       NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "aml-run env: %s\n", err);
			return AML_EXIT_FAILURE;
		}
	}
	if (site->container_runtime == AML_CONTAINER_NONE)
		return AML_EXIT_OK;
	printf("Images in %s (ContainerRuntime=%s):\n", site->image_dir,
	       aml_container_runtime_name(site->container_runtime));
	if (aml_env_cache_list(site->image_dir, print_image_line, NULL, err,
			       sizeof(err)) < 0) {
		fprintf(stderr, "aml-run env: %s\n", err);
		return AML_EXIT_FAILURE;
	}
	return AML_EXIT_OK;
}

static int env_show(const struct aml_site *site, const char *what)
{
	struct shown s = { what, 0 };
	const struct aml_site_env *e;
	const char *colon = strchr(what, ':');
	char name[256], err[1024];

	snprintf(name, sizeof(name), "%.*s",
		 (int)(colon ? (size_t)(colon - what) : strlen(what)), what);
	e = aml_site_find_env(site, name, colon ? colon + 1 : NULL);
	if (e) {
		print_catalogue_entry(e, 1);
		return AML_EXIT_OK;
	}
	/* A key, or the first digits of one, as list shows them. */
	if (strlen(what) >= 6 && strspn(what, "0123456789abcdef") ==
					 strlen(what)) {
		if (aml_env_cache_list(site->env_dir, print_entry_whole, &s,
				       err, sizeof(err)) < 0) {
			fprintf(stderr, "aml-run env: %s\n", err);
			return AML_EXIT_FAILURE;
		}
		if (s.found)
			return AML_EXIT_OK;
	}
	fprintf(stderr, "aml-run env show: %s is neither an environment of "
		"the catalogue nor a built one (see aml-run env list)\n", what);
	return AML_EXIT_INVALID;
}

static int env_build(const struct aml_site *site, const char *file)
{
	struct aml_runconfig rc;
	struct aml_env_choice c;
	struct aml_errors errs;
	char *text = NULL, key[65], prefix[PATH_MAX], log[PATH_MAX];
	char err[1024];
	enum aml_env_outcome got;
	size_t len;
	int fd = open(file, O_RDONLY | O_CLOEXEC), r;

	/* Read whole, within the specification's own limit: a longer file
	 * is refused, not cut and then judged. */
	r = fd < 0 ? -1 : aml_read_fd(fd, AML_ENV_SPEC_MAX_BYTES, &text, &len);
	if (fd >= 0)
		aml_close_quietly(fd);
	if (r < 0) {
		fprintf(stderr, "aml-run env build: %s: %s\n", file,
			errno == EFBIG ? "larger than a conda specification may "
					 "be (64 KiB)"
				       : strerror(errno));
		return AML_EXIT_INVALID;
	}
	/* What a run with this file as its conda file would get. */
	memset(&rc, 0, sizeof(rc));
	rc.environment.conda_dependencies = text;
	aml_errors_init(&errs, file);
	if (aml_env_choose(&rc, site, &c, &errs) < 0) {
		tool_print_errors(&errs);
		free(text);
		return AML_EXIT_INVALID;
	}
	aml_errors_free(&errs);
	free(text);
	printf("building %s into %s%s\n", c.label, site->env_dir,
	       geteuid() == 0 ? "/shared" : " (yours)");
	fflush(stdout);
	got = aml_env_make(&c, site, BUILD_WAIT_MS, key, prefix,
			   sizeof(prefix), log, sizeof(log), err, sizeof(err));
	aml_env_choice_free(&c);
	switch (got) {
	case AML_ENV_CACHED:
		printf("%s: already built, in %s\n", key, prefix);
		return AML_EXIT_OK;
	case AML_ENV_BUILT:
		printf("%s: built, in %s (log %s)\n", key, prefix, log);
		return AML_EXIT_OK;
	default:
		fprintf(stderr, "aml-run env build: %s%s%s\n", err,
			log[0] ? "; log: " : "", log);
		return AML_EXIT_FAILURE;
	}
}

static int env_pull(const struct aml_site *site, const char *image)
{
	char digest[72], bundle[PATH_MAX], log[PATH_MAX], err[1024];
	enum aml_env_outcome got;

	if (site->container_runtime == AML_CONTAINER_NONE ||
	    site->container_runtime == AML_CONTAINER_PYXIS) {
		fprintf(stderr, "aml-run env pull: ContainerRuntime=%s pulls no "
			"images into ImageDir\n",
			aml_container_runtime_name(site->container_runtime));
		return AML_EXIT_INVALID;
	}
	printf("pulling %s into %s%s\n", image, site->image_dir,
	       geteuid() == 0 ? "/shared" : " (yours)");
	fflush(stdout);
	got = aml_image_make(image, site, BUILD_WAIT_MS, digest, bundle,
			     sizeof(bundle), log, sizeof(log), err,
			     sizeof(err));
	switch (got) {
	case AML_ENV_CACHED:
		printf("%s: already pulled, in %s\n", digest, bundle);
		return AML_EXIT_OK;
	case AML_ENV_BUILT:
		printf("%s: pulled, in %s (log %s)\n", digest, bundle, log);
		return AML_EXIT_OK;
	default:
		fprintf(stderr, "aml-run env pull: %s%s%s\n", err,
			log[0] ? "; log: " : "", log);
		return AML_EXIT_FAILURE;
	}
}

static void print_removed(void *arg, const struct aml_env_entry *e)
{
	(void)arg;
	printf("removed %s (%s%s%s)\n", e->key, e->shared ? "shared, " : "",
	       e->failed ? "failed" : "unused",
	       e->note[0] ? ": " : "");
}

static int env_gc(const struct aml_site *site, long days)
{
	char err[1024];

	int status = AML_EXIT_OK;

	if (aml_env_cache_gc(site->env_dir, (int64_t)days * 86400,
			     print_removed, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "aml-run env gc: %s\n", err);
		status = AML_EXIT_FAILURE;
	}
	if (site->container_runtime != AML_CONTAINER_NONE &&
	    aml_env_cache_gc(site->image_dir, (int64_t)days * 86400,
			     print_removed, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "aml-run env gc: %s\n", err);
		status = AML_EXIT_FAILURE;
	}
	if (site->data.n_download_hosts &&
	    aml_env_cache_gc(site->data_cache_dir, (int64_t)days * 86400,
			     print_removed, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "aml-run env gc: %s\n", err);
		status = AML_EXIT_FAILURE;
	}
	return status;
}

int cmd_env(int argc, char **argv)
{
	static const struct option options[] = {
		{ "unused", required_argument, NULL, 'u' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *action;
	struct aml_site site;
	long days = DEFAULT_UNUSED_DAYS;
	int opt, status;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'u':
			days = strtol(optarg, &end, 10);
			if (end == optarg || *end || days < 0 || days > 36500)
				return tool_usage_error("env", "--unused: must "
					"be a whole number of days from 0, got "
					"\"%s\"", optarg);
			break;
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return AML_EXIT_OK;
		default:
			return tool_usage_error("env", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return tool_usage_error("env", "an action is needed: list, show, "
					"build, pull or gc");
	action = argv[optind];
	if ((!strcmp(action, "show") || !strcmp(action, "build") ||
	     !strcmp(action, "pull")) &&
	    optind + 2 != argc)
		return tool_usage_error("env", "%s takes one argument", action);
	if ((!strcmp(action, "list") || !strcmp(action, "gc")) &&
	    optind + 1 != argc)
		return tool_usage_error("env", "%s takes no argument", action);
	status = tool_load_site("env", conf, &site);
	if (status != AML_EXIT_OK)
		return status;
	if (!strcmp(action, "list"))
		status = env_list(&site);
	else if (!strcmp(action, "show"))
		status = env_show(&site, argv[optind + 1]);
	else if (!strcmp(action, "build"))
		status = env_build(&site, argv[optind + 1]);
	else if (!strcmp(action, "pull"))
		status = env_pull(&site, argv[optind + 1]);
	else if (!strcmp(action, "gc"))
		status = env_gc(&site, days);
	else
		status = tool_usage_error("env", "unknown action %s (list, show, "
					  "build, pull or gc)", action);
	aml_site_free(&site);
	return status;
}
