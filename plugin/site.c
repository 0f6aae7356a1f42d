/*
 * site.c: aml.conf, the site policy (contract in site.h).
 *
 * The text is read in two steps: conf_lines.h turns the bytes into
 * logical lines of Key=Value tokens with slurm.conf's lexical rules, then
 * each line is checked and applied, its values read by conf_values.h.
 * Every problem is collected with its line number, sorted, and handed to
 * the caller's error list at the end, so the admin sees them in file order
 * even though some (duplicate targets, DefaultTarget) are only known once
 * the whole file has been read.
 */
#include "site.h"
#include "conf_lines.h"
#include "conf_values.h"
#include "text.h"
#include "job_env.h"
#include "image_ref.h"
#include "datamap.h"
#include "data_url.h"
#include "placement_mode.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suggest.h"

/*
 * A real aml.conf is a few kilobytes.  Refusing anything absurd keeps line
 * numbers in an int and bounds what the controller will allocate.
 */
#define SITE_MAX_BYTES (16u * 1024 * 1024)

/* Beyond this many errors the file is not an aml.conf at all (a binary, a
 * wrong path): the rest would only flood the log. */
#define SITE_MAX_ERRORS 1000

/* Values in messages are cut after 60 bytes of plain text, for the same
 * reason: the quotes, the 60 bytes, "..." and the NUL. */
#define QUOTED_SIZE 66

/* A key longer than this is garbage, not a typo worth a suggestion. */
#define SUGGEST_MAX_WORD 64

#define MAX_NODES_LIMIT 100000
#define MAX_PROCESSES_LIMIT 10000
#define SNAPSHOT_FILES_LIMIT 10000000
#define FINALIZE_GRACE_LIMIT 86400

/*
 * Slurm keeps a time limit as minutes in a uint32_t whose two top values
 * are INFINITE and NO_VAL, so a longer MaxTime could not be submitted.
 */
#define SLURM_MAX_MINUTES ((uint64_t)UINT32_MAX - 2)

/* The defaults site.h documents. */
#define DEFAULT_HISTORY_DIR "/var/lib/aml/history"
#define DEFAULT_SNAPSHOT_DIR "/var/lib/aml/snapshots"
#define DEFAULT_SNAPSHOT_MAX_BYTES ((uint64_t)300 << 20)
#define DEFAULT_SNAPSHOT_MAX_FILES 2000
#define DEFAULT_RUN_DIR "/tmp/aml-runs"
#define DEFAULT_SPOOL_DIR "/var/spool/aml"
#define DEFAULT_INTERPRETER "python3"
#define DEFAULT_ENV_DIR "/var/lib/aml/envs"
#define DEFAULT_IMAGE_DIR "/var/lib/aml/images"
#define DEFAULT_DATA_CACHE_DIR "/var/lib/aml/data"
#define DEFAULT_DATA_DOWNLOAD_MAX ((uint64_t)10 << 30)
#define DEFAULT_MODULES_INIT "/usr/share/lmod/lmod/init/profile"
#define DEFAULT_FINALIZE_GRACE 120
/* A REST server's answer: the launcher's whole end must fit in KillWait,
 * and what does not reach the server in time is spooled anyway. */
#define DEFAULT_HISTORY_TIMEOUT 10
#define HISTORY_TIMEOUT_LIMIT 600
#define DEFAULT_HISTORY_PROBE_INTERVAL 15
#define HISTORY_PROBE_INTERVAL_LIMIT 3600
#define DEFAULT_HISTORY_LOG_INTERVAL 15
#define HISTORY_LOG_INTERVAL_LIMIT 3600
/*
 * The most a site may raise the caps on a run's size to: they exist to
 * keep one submission's cost to slurmctld small, and past these a single
 * run is a denial of service however linear the reading.
 */
#define CONFIG_SIZE_LIMIT ((uint64_t)64 << 20)
#define VARIABLES_LIMIT 1000000
#define ARGUMENTS_LIMIT 1000000
#define ARGUMENTS_SIZE_LIMIT ((uint64_t)64 << 20)

/*
 * Global keys first, then the keys that start a line of their own
 * (ComputeTarget, Environment, Datastore, DataAsset), then the keys of a
 * ComputeTarget line, then those of an Environment line, then those of
 * the data lines (Default is a ComputeTarget key a Datastore line takes
 * too): the ranges are the suggestion lists.
 */
enum key {
	K_HISTORY_DIR,
	K_HISTORY_BACKEND,
	K_HISTORY_URI,
	K_HISTORY_CREDENTIALS,
	K_HISTORY_TIMEOUT,
	K_HISTORY_PROBE_INTERVAL,
	K_HISTORY_LOG_INTERVAL,
	K_RUN_VISIBILITY,
	K_SNAPSHOT_DIR,
	K_SNAPSHOT_MAX_SIZE,
	K_SNAPSHOT_MAX_FILES,
	K_RUN_DIR,
	K_SPOOL_DIR,
	K_LAUNCHER,
	K_KEEP_FAILED_RUN_DIR,
	K_KEPT_RUN_DIR_MAX,
	K_CONTAINER_RUNTIME,
	K_CONTAINER_REGISTRIES,
	K_CONTAINER_AUTH_FILE,
	K_CONTAINER_CERT_DIR,
	K_CONTAINER_RUNTIME_ARGS,
	K_IMAGE_DIR,
	K_CONTAINER_BUILDER,
	K_CONTAINER_BUILDER_ARGS,
	K_DEFAULT_INTERPRETER,
	K_FINALIZE_GRACE,
	K_MAX_CONFIG_SIZE,
	K_MAX_ENVIRONMENT_VARIABLES,
	K_MAX_ARGUMENTS,
	K_MAX_ARGUMENTS_SIZE,
	K_DEFAULT_TARGET,
	K_ENV_DIR,
	K_PIP_OPTIONS,
	K_CONDA_COMMAND,
	K_MODULES_INIT,
	K_DEFAULT_ENVIRONMENT,
	K_PLACEMENT,
	K_DATA_DOWNLOAD_HOSTS,
	K_DATA_DOWNLOAD_MAX,
	K_DATA_CACHE_DIR,
	K_DATA_DOWNLOAD_CA_FILE,
	K_COMPUTE_TARGET,
	K_ENVIRONMENT,
	K_DATASTORE,
	K_DATA_ASSET,
	K_DATA_STORAGE_ACCOUNT,
	K_PARTITION,
	K_QOS,
	K_ACCOUNT,
	K_GRES,
	K_CONSTRAINT,
	K_MAX_NODES,
	K_MAX_TIME,
	K_MAX_PROCESSES_PER_NODE,
	K_ALLOW_USERS,
	K_ALLOW_ACCOUNTS,
	K_DEFAULT,
	K_PREFIX,
	K_INTERPRETER,
	K_MODULES,
	K_ENV,
	K_IMAGE,
	K_PATH,
	K_TYPE,
	K_COUNT,
	K_UNKNOWN = K_COUNT,
};

static const char *const key_names[K_COUNT] = {
	[K_HISTORY_DIR] = "HistoryDir",
	[K_HISTORY_BACKEND] = "HistoryBackend",
	[K_HISTORY_URI] = "HistoryURI",
	[K_HISTORY_CREDENTIALS] = "HistoryCredentials",
	[K_HISTORY_TIMEOUT] = "HistoryTimeout",
	[K_HISTORY_PROBE_INTERVAL] = "HistoryProbeInterval",
	[K_HISTORY_LOG_INTERVAL] = "HistoryLogInterval",
	[K_RUN_VISIBILITY] = "RunVisibility",
	[K_SNAPSHOT_DIR] = "SnapshotDir",
	[K_SNAPSHOT_MAX_SIZE] = "SnapshotMaxSize",
	[K_SNAPSHOT_MAX_FILES] = "SnapshotMaxFiles",
	[K_RUN_DIR] = "RunDir",
	[K_SPOOL_DIR] = "SpoolDir",
	[K_LAUNCHER] = "Launcher",
	[K_KEEP_FAILED_RUN_DIR] = "KeepFailedRunDir",
	[K_KEPT_RUN_DIR_MAX] = "KeptRunDirMax",
	[K_CONTAINER_RUNTIME] = "ContainerRuntime",
	[K_CONTAINER_REGISTRIES] = "ContainerRegistries",
	[K_CONTAINER_AUTH_FILE] = "ContainerAuthFile",
	[K_CONTAINER_CERT_DIR] = "ContainerCertDir",
	[K_CONTAINER_RUNTIME_ARGS] = "ContainerRuntimeArgs",
	[K_IMAGE_DIR] = "ImageDir",
	[K_CONTAINER_BUILDER] = "ContainerBuilder",
	[K_CONTAINER_BUILDER_ARGS] = "ContainerBuilderArgs",
	[K_DEFAULT_INTERPRETER] = "DefaultInterpreter",
	[K_FINALIZE_GRACE] = "FinalizeGrace",
	[K_MAX_CONFIG_SIZE] = "MaxConfigSize",
	[K_MAX_ENVIRONMENT_VARIABLES] = "MaxEnvironmentVariables",
	[K_MAX_ARGUMENTS] = "MaxArguments",
	[K_MAX_ARGUMENTS_SIZE] = "MaxArgumentsSize",
	[K_DEFAULT_TARGET] = "DefaultTarget",
	[K_ENV_DIR] = "EnvDir",
	[K_PIP_OPTIONS] = "PipOptions",
	[K_CONDA_COMMAND] = "CondaCommand",
	[K_MODULES_INIT] = "ModulesInit",
	[K_DEFAULT_ENVIRONMENT] = "DefaultEnvironment",
	[K_PLACEMENT] = "Placement",
	[K_DATA_DOWNLOAD_HOSTS] = "DataDownloadHosts",
	[K_DATA_DOWNLOAD_MAX] = "DataDownloadMax",
	[K_DATA_CACHE_DIR] = "DataCacheDir",
	[K_DATA_DOWNLOAD_CA_FILE] = "DataDownloadCAFile",
	[K_COMPUTE_TARGET] = "ComputeTarget",
	[K_ENVIRONMENT] = "Environment",
	[K_DATASTORE] = "Datastore",
	[K_DATA_ASSET] = "DataAsset",
	[K_DATA_STORAGE_ACCOUNT] = "DataStorageAccount",
	[K_PARTITION] = "Partition",
	[K_QOS] = "QOS",
	[K_ACCOUNT] = "Account",
	[K_GRES] = "Gres",
	[K_CONSTRAINT] = "Constraint",
	[K_MAX_NODES] = "MaxNodes",
	[K_MAX_TIME] = "MaxTime",
	[K_MAX_PROCESSES_PER_NODE] = "MaxProcessesPerNode",
	[K_ALLOW_USERS] = "AllowUsers",
	[K_ALLOW_ACCOUNTS] = "AllowAccounts",
	[K_DEFAULT] = "Default",
	[K_PREFIX] = "Prefix",
	[K_INTERPRETER] = "Interpreter",
	[K_MODULES] = "Modules",
	[K_ENV] = "Env",
	[K_IMAGE] = "Image",
	[K_PATH] = "Path",
	[K_TYPE] = "Type",
};

#define N_GLOBAL_KEYS (K_DATA_STORAGE_ACCOUNT + 1)
#define N_TARGET_KEYS (K_DEFAULT + 1 - K_PARTITION)
#define N_ENV_KEYS (K_IMAGE + 1 - K_PREFIX)
#define N_DATA_KEYS (K_COUNT - K_PATH)

/* Which kind of line a token is on: what it may hold, and what an
 * unknown key is compared with for a suggestion. */
enum line_kind { LINE_GLOBAL, LINE_TARGET, LINE_ENV, LINE_DATA };

/* Whether [k] starts a line of its own. */
static int starts_line(enum key k)
{
	return k == K_COMPUTE_TARGET || k == K_ENVIRONMENT ||
	       k == K_DATASTORE || k == K_DATA_ASSET ||
	       k == K_DATA_STORAGE_ACCOUNT;
}

/* The kind of line key [k] belongs on (Default: also a Datastore's). */
static enum line_kind line_of(enum key k)
{
	if (k >= K_PATH)
		return LINE_DATA;
	if (k >= K_PREFIX)
		return LINE_ENV;
	if (k >= K_PARTITION)
		return LINE_TARGET;
	return LINE_GLOBAL;
}

static const char *const time_rule =
	"must be a Slurm time: MIN, MIN:SEC, H:M:S, D-H, D-H:M, D-H:M:S or "
	"UNLIMITED (minutes and seconds 0-59, hours 0-23 after a day count)";

struct found_error {
	int line;          /* 0 for a problem of the whole file */
	size_t seq;        /* order of discovery, for a stable sort */
	char *message;
};

struct target_info {
	int name_ok;       /* a valid, usable name */
	int duplicate;     /* a later definition of an earlier name */
	int default_line;  /* line of Default=YES, 0 when not the default */
};

struct parser {
	struct aml_site *site;

	struct aml_conf_reader rd;

	/* What was seen, for duplicates and the checks across lines */
	int global_line[N_GLOBAL_KEYS];
	/*
	 * Copies, as the reader's tokens are reused line after line (their
	 * text stays).  A NULL text means the key was not given.
	 */
	struct aml_conf_token backend_tok, uri_tok, credentials_tok;
	struct aml_conf_token default_target_tok;
	int backend_ok;            /* HistoryBackend was valid (or absent) */
	int uri_ok;
	int credentials_ok;
	int default_target_ok;
	size_t target_lines;       /* ComputeTarget lines, valid or not */
	struct target_info *info;  /* parallel to site->targets */
	size_t cap_targets;
	long default_yes;          /* index of the Default=YES target, or -1 */
	size_t cap_envs;
	int *env_name_ok;          /* parallel to site->envs */
	struct aml_conf_token default_env_tok;
	int default_env_ok;
	size_t cap_stores, cap_assets, cap_accounts;
	int *store_ok, *asset_ok, *account_ok;  /* a valid name: parallel to
						 * site->data */
	int default_store_line;    /* the Datastore with Default=yes, or 0 */

	struct found_error *errors;
	size_t n_errors, cap_errors;
	size_t dropped_errors;
	int out_of_memory;
};

/* ---------------------------------------------------------------------- */
/* Error collection                                                       */

static void report(struct parser *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct parser *ps, int line, const char *fmt, ...)
{
	struct found_error *e;
	va_list ap;
	char *message;
	int n;

	if (ps->n_errors >= SITE_MAX_ERRORS) {
		ps->dropped_errors++;
		return;
	}
	if (ps->n_errors == ps->cap_errors) {
		size_t cap = ps->cap_errors ? ps->cap_errors * 2 : 8;
		struct found_error *grown;

		grown = realloc(ps->errors, cap * sizeof(*grown));
		if (!grown) {
			ps->out_of_memory = 1;
			return;
		}
		ps->errors = grown;
		ps->cap_errors = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (n < 0) {
		ps->out_of_memory = 1;
		return;
	}
	e = &ps->errors[ps->n_errors];
	e->line = line;
	e->seq = ps->n_errors;
	e->message = message;
	ps->n_errors++;
}

/* "<Key>: <rule>, got "<value>"" at the token's line. */
static void bad_value(struct parser *ps, const struct aml_conf_token *t,
		      enum key k, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void bad_value(struct parser *ps, const struct aml_conf_token *t,
		      enum key k, const char *fmt, ...)
{
	char quoted[QUOTED_SIZE];
	char *rule;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&rule, fmt, ap);
	va_end(ap);
	if (n < 0) {
		ps->out_of_memory = 1;
		return;
	}
	report(ps, t->line, "%s: %s, got %s", key_names[k], rule,
	       aml_text_quote(t->value, strlen(t->value),
			      quoted, sizeof(quoted)));
	free(rule);
}

static int compare_errors(const void *a, const void *b)
{
	const struct found_error *x = a, *y = b;
	/* Problems of the whole file go last, after every numbered line. */
	unsigned lx = x->line > 0 ? (unsigned)x->line : UINT32_MAX;
	unsigned ly = y->line > 0 ? (unsigned)y->line : UINT32_MAX;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * The caller's list may have been started for another name, or none: the
 * contract is that this parse names [file], so it is put in place just for
 * these lines.
 */
static void add_error(struct aml_errors *errs, char *file, const char *where,
		      const char *message)
{
	char *saved = errs->file;

	if (file)
		errs->file = file;
	aml_errors_add(errs, where, "%s", message);
	errs->file = saved;
}

/* Hand everything found to [errs]; returns non-zero when there was any. */
static int flush_errors(struct parser *ps, const char *filename,
			struct aml_errors *errs)
{
	char *file = filename ? strdup(filename) : NULL;
	char where[32];

	if (ps->n_errors > 1)
		qsort(ps->errors, ps->n_errors, sizeof(*ps->errors),
		      compare_errors);
	for (size_t i = 0; i < ps->n_errors; i++) {
		const struct found_error *e = &ps->errors[i];

		if (e->line > 0) {
			snprintf(where, sizeof(where), "line %d", e->line);
			add_error(errs, file, where, e->message);
		} else {
			add_error(errs, file, NULL, e->message);
		}
	}
	if (ps->dropped_errors) {
		char message[96];

		snprintf(message, sizeof(message),
			 "%zu more errors not shown", ps->dropped_errors);
		add_error(errs, file, NULL, message);
	}
	if (ps->out_of_memory)
		add_error(errs, file, NULL, "out of memory");
	free(file);
	return ps->n_errors > 0 || ps->dropped_errors || ps->out_of_memory;
}

/* The reader's word that a line is not text: whatever else the line
 * holds cannot be trusted to be what the admin wrote. */
static void report_nul(void *ctx, int line)
{
	report(ctx, line, "contains a NUL byte");
}

/* ---------------------------------------------------------------------- */
/* Values                                                                 */

/* A NULL-terminated list of malloc'd strings, and the list. */
static void free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static int set_string(struct parser *ps, char **slot, const char *value)
{
	char *copy = strdup(value);

	if (!copy) {
		ps->out_of_memory = 1;
		return -1;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

static void set_path(struct parser *ps, const struct aml_conf_token *t,
		     enum key k, char **slot)
{
	/*
	 * The plugins run in slurmctld, slurmd and the user's shell, each
	 * with its own working directory: a relative path would name a
	 * different place in each.
	 */
	if (t->value[0] != '/') {
		bad_value(ps, t, k, "must be an absolute path");
		return;
	}
	set_string(ps, slot, t->value);
}

static int get_bool(struct parser *ps, const struct aml_conf_token *t,
		    enum key k, int *out)
{
	if (aml_conf_bool(t->value, out) == 0)
		return 0;
	bad_value(ps, t, k, "must be yes or no (or true/false, 1/0, on/off)");
	return -1;
}

/* A whole number in [lo, hi]; UNLIMITED too when [unlimited] is set. */
static void get_u32(struct parser *ps, const struct aml_conf_token *t,
		    enum key k, uint32_t lo, uint32_t hi, int unlimited,
		    uint32_t *out)
{
	uint64_t v;

	if (unlimited && aml_conf_is_unlimited(t->value)) {
		*out = AML_SITE_UNLIMITED;
		return;
	}
	if (aml_conf_digits(t->value, strlen(t->value), &v) == 0 && v >= lo &&
	    v <= hi) {
		*out = (uint32_t)v;
		return;
	}
	bad_value(ps, t, k, "must be a whole number from %" PRIu32 " to %"
		  PRIu32 "%s", lo, hi, unlimited ? " or UNLIMITED" : "");
}

/* A size of 1 byte to [hi] (parse_size's form) into [out]; UNLIMITED
 * too, as AML_SITE_UNLIMITED64, when [unlimited] is set. */
static void get_size(struct parser *ps, const struct aml_conf_token *t,
		     enum key k, uint64_t hi, int unlimited, uint64_t *out)
{
	char most[32];
	uint64_t n;
	int rc;

	if (unlimited && aml_conf_is_unlimited(t->value)) {
		*out = AML_SITE_UNLIMITED64;
		return;
	}
	rc = aml_conf_size(t->value, &n);
	if (rc == -2) {
		bad_value(ps, t, k, "too large (must fit in 64 bits)");
		return;
	}
	if (rc == 0 && n >= 1 && n <= hi) {
		*out = n;
		return;
	}
	if (rc == 0 && n > hi) {
		aml_format_bytes(hi, most, sizeof(most));
		bad_value(ps, t, k, "must be at most %s", most);
		return;
	}
	bad_value(ps, t, k, "must be a size of at least 1 byte: a whole "
		  "number with an optional K, M, G or T suffix (powers of "
		  "1024)%s", unlimited ? ", or UNLIMITED" : "");
}

/* A comma list (aml_conf_list) into [items]. */
static void get_list(struct parser *ps, const struct aml_conf_token *t,
		     enum key k, char ***items, size_t *n_items)
{
	int rc = aml_conf_list(t->value, items, n_items);

	if (rc == -2)
		ps->out_of_memory = 1;
	else if (rc < 0)
		bad_value(ps, t, k, "must be a comma-separated list of names, "
			  "with no empty items or blanks");
}

/* ---------------------------------------------------------------------- */
/* Lines                                                                  */

static enum key find_key(const char *s, size_t n)
{
	for (int k = 0; k < K_COUNT; k++)
		if (aml_ascii_ieq_n(s, n, key_names[k]))
			return (enum key)k;
	return K_UNKNOWN;
}

/*
 * The checks every token gets: its shape, a known key, a closed quote, a
 * non-empty value without control characters.  Returns the key, or
 * K_UNKNOWN when the token is not Key=Value with a known key (then
 * [meant] is the key suggested, or K_UNKNOWN).  [value_ok] is 0 when the
 * value was refused here: the key still counts as given, so that one
 * mistake is not also reported as a missing or duplicate key.
 */
static enum key check_token(struct parser *ps, const struct aml_conf_token *t,
			    enum line_kind on, int *value_ok, enum key *meant)
{
	char quoted[QUOTED_SIZE], key[QUOTED_SIZE - 2];   /* key: no quotes */
	enum key k;

	*value_ok = 0;
	*meant = K_UNKNOWN;
	if (!t->value || t->key_len == 0) {
		report(ps, t->line, "expected Key=Value, got %s",
		       aml_text_quote(t->text, strlen(t->text),
				      quoted, sizeof(quoted)));
		return K_UNKNOWN;
	}
	k = find_key(t->text, t->key_len);
	if (k == K_UNKNOWN) {
		const char *const *candidates =
			on == LINE_TARGET ? key_names + K_PARTITION :
			on == LINE_ENV ? key_names + K_PREFIX :
			on == LINE_DATA ? key_names + K_PATH : key_names;
		size_t n = on == LINE_TARGET ? N_TARGET_KEYS :
			   on == LINE_ENV ? N_ENV_KEYS :
			   on == LINE_DATA ? N_DATA_KEYS : N_GLOBAL_KEYS;
		const char *near = NULL;
		char *word = NULL;

		/*
		 * Past the cap nothing is shown, and a word this long is no
		 * misspelling: spare the suggestion, the costliest step on
		 * garbage input.
		 */
		if (ps->n_errors < SITE_MAX_ERRORS &&
		    t->key_len <= SUGGEST_MAX_WORD) {
			word = strndup(t->text, t->key_len);
			if (!word)
				ps->out_of_memory = 1;
			else
				near = aml_suggest(word, candidates, n);
		}
		/* The key as written, made safe to print, without quotes. */
		aml_text_escape_n(t->text, t->key_len, key, sizeof(key));
		if (near) {
			*meant = find_key(near, strlen(near));
			report(ps, t->line, "%s: unknown key (did you mean %s?), "
			       "got %s", key, near,
			       aml_text_quote(t->value, strlen(t->value),
					      quoted, sizeof(quoted)));
		} else {
			report(ps, t->line, "%s: unknown key, got %s", key,
			       aml_text_quote(t->value, strlen(t->value),
					      quoted, sizeof(quoted)));
		}
		free(word);
		return K_UNKNOWN;
	}
	if (t->unterminated) {
		bad_value(ps, t, k, "unterminated quote");
		return k;
	}
	if (!t->value[0]) {
		bad_value(ps, t, k, "must not be empty");
		return k;
	}
	for (const char *c = t->value; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			bad_value(ps, t, k, "must not contain control "
				  "characters");
			return k;
		}
	}
	*value_ok = 1;
	return k;
}

/* Blank-separated words (in quotes on the line) into [out]. */
static void get_words(struct parser *ps, const struct aml_conf_token *t,
		      enum key k, struct aml_strlist *out)
{
	const char *p = t->value;

	aml_strlist_free(out);
	while (*p) {
		size_t n;
		char *word;

		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, " \t");
		if (!n)
			break;
		if (!(word = strndup(p, n)) || aml_strlist_push(out, word) < 0) {
			free(word);
			ps->out_of_memory = 1;
			return;
		}
		free(word);
		p += n;
	}
	if (!out->count)
		bad_value(ps, t, k, "must hold at least one option");
}

/* ContainerRegistries: each a registry as image references write them
 * (image_ref.h), so that a run's image can be matched against it. */
static void get_registries(struct parser *ps, const struct aml_conf_token *t,
			   enum key k)
{
	struct aml_site *site = ps->site;

	aml_conf_list_free(site->container_registries,
			   site->n_container_registries);
	site->container_registries = NULL;
	site->n_container_registries = 0;
	get_list(ps, t, k, &site->container_registries,
		 &site->n_container_registries);
	for (size_t i = 0; i < site->n_container_registries; i++) {
		char shown[QUOTED_SIZE];
		const char *r = site->container_registries[i];

		if (aml_image_registry_valid(r))
			continue;
		bad_value(ps, t, k, "%s is not a registry: a host name "
			  "(letters, digits, inner '-', joined by '.') or "
			  "[IPv6 address], with an optional :port",
			  aml_text_quote(r, strlen(r), shown, sizeof(shown)));
		break;
	}
}

/* DataDownloadHosts: host names or "*.domain" (data_url.h). */
static void get_download_hosts(struct parser *ps,
			       const struct aml_conf_token *t, enum key k)
{
	struct aml_datamap *map = &ps->site->data;

	aml_conf_list_free(map->download_hosts, map->n_download_hosts);
	map->download_hosts = NULL;
	map->n_download_hosts = 0;
	get_list(ps, t, k, &map->download_hosts, &map->n_download_hosts);
	for (size_t i = 0; i < map->n_download_hosts; i++) {
		char shown[QUOTED_SIZE];
		const char *h = map->download_hosts[i];

		if (aml_data_host_pattern_valid(h))
			continue;
		bad_value(ps, t, k, "%s is not a host: a host name (letters, "
			  "digits, inner '-', joined by '.') or *.DOMAIN for "
			  "every host below DOMAIN",
			  aml_text_quote(h, strlen(h), shown, sizeof(shown)));
		break;
	}
}

/* ContainerRuntimeArgs: words, kept NULL-terminated for an argv. */
static void get_runtime_args(struct parser *ps,
			     const struct aml_conf_token *t, enum key k,
			     char ***into, size_t *n_into)
{
	struct aml_strlist words = { 0 };
	char **argv;

	get_words(ps, t, k, &words);
	if (!words.count)
		return;
	argv = realloc(words.items, (words.count + 1) * sizeof(*argv));
	if (!argv) {
		aml_strlist_free(&words);
		ps->out_of_memory = 1;
		return;
	}
	argv[words.count] = NULL;
	free_argv(*into);
	*into = argv;
	*n_into = words.count;
}

static void apply_global(struct parser *ps, const struct aml_conf_token *t,
			 enum key k)
{
	struct aml_site *site = ps->site;
	const char *v = t->value;

	switch (k) {
	case K_HISTORY_DIR:
		set_path(ps, t, k, &site->history_dir);
		break;
	case K_HISTORY_BACKEND:
		if (aml_ascii_ieq(v, "file")) {
			site->history_backend = AML_HISTORY_FILE;
		} else if (aml_ascii_ieq(v, "mlflow")) {
			site->history_backend = AML_HISTORY_MLFLOW;
		} else {
			ps->backend_ok = 0;
			bad_value(ps, t, k, "must be file or mlflow");
		}
		break;
	case K_HISTORY_URI:
		if (!aml_conf_is_uri(v))
			bad_value(ps, t, k, "must be a URI such as "
				  "https://host/path");
		else if (set_string(ps, &site->history_uri, v) == 0)
			ps->uri_ok = 1;
		break;
	case K_HISTORY_CREDENTIALS:
		/* "~/" is each writer's own home: users write history as
		 * themselves, each with a token only they can read. */
		if (!strncmp(v, "~/", 2) && v[2])
			set_string(ps, &site->history_credentials, v);
		else
			set_path(ps, t, k, &site->history_credentials);
		ps->credentials_ok = site->history_credentials != NULL;
		break;
	case K_RUN_VISIBILITY:
		if (aml_ascii_ieq(v, "private"))
			site->run_visibility = AML_RUNS_PRIVATE;
		else if (aml_ascii_ieq(v, "shared"))
			site->run_visibility = AML_RUNS_SHARED;
		else
			bad_value(ps, t, k, "must be private or shared");
		break;
	case K_SNAPSHOT_DIR:
		set_path(ps, t, k, &site->snapshot_dir);
		break;
	case K_SNAPSHOT_MAX_SIZE:
		get_size(ps, t, k, UINT64_MAX - 1, 0,
			 &site->snapshot_max_bytes);
		break;
	case K_MAX_CONFIG_SIZE:
		get_size(ps, t, k, CONFIG_SIZE_LIMIT, 0,
			 &site->limits.config_bytes);
		break;
	case K_MAX_ENVIRONMENT_VARIABLES:
		get_u32(ps, t, k, 1, VARIABLES_LIMIT, 0,
			&site->limits.variables);
		break;
	case K_MAX_ARGUMENTS:
		get_u32(ps, t, k, 1, ARGUMENTS_LIMIT, 0,
			&site->limits.arguments);
		break;
	case K_MAX_ARGUMENTS_SIZE:
		get_size(ps, t, k, ARGUMENTS_SIZE_LIMIT, 0,
			 &site->limits.argument_bytes);
		break;
	case K_SNAPSHOT_MAX_FILES:
		get_u32(ps, t, k, 1, SNAPSHOT_FILES_LIMIT, 0,
			&site->snapshot_max_files);
		break;
	case K_RUN_DIR:
		set_path(ps, t, k, &site->run_dir);
		break;
	case K_SPOOL_DIR:
		set_path(ps, t, k, &site->spool_dir);
		break;
	case K_LAUNCHER:
		set_path(ps, t, k, &site->launcher);
		break;
	case K_KEEP_FAILED_RUN_DIR:
		get_bool(ps, t, k, &site->keep_failed_run_dir);
		break;
	case K_KEPT_RUN_DIR_MAX:
		get_size(ps, t, k, UINT64_MAX - 1, 1, &site->kept_run_dir_max);
		break;
	case K_CONTAINER_RUNTIME: {
		int r = AML_CONTAINER_APPTAINER;

		while (r >= 0 &&
		       !aml_ascii_ieq(v, aml_container_runtime_name(
						 (enum aml_container_runtime)r)))
			r--;
		if (r < 0)
			bad_value(ps, t, k, "must be none, podman, charliecloud, "
				  "apptainer or pyxis");
		else
			site->container_runtime = (enum aml_container_runtime)r;
		break;
	}
	case K_CONTAINER_REGISTRIES:
		get_registries(ps, t, k);
		break;
	case K_CONTAINER_AUTH_FILE:
		set_path(ps, t, k, &site->container_auth_file);
		break;
	case K_CONTAINER_CERT_DIR:
		set_path(ps, t, k, &site->container_cert_dir);
		break;
	case K_CONTAINER_RUNTIME_ARGS:
		get_runtime_args(ps, t, k, &site->container_runtime_args,
				 &site->n_container_runtime_args);
		break;
	case K_CONTAINER_BUILDER_ARGS:
		get_runtime_args(ps, t, k, &site->container_builder_args,
				 &site->n_container_builder_args);
		break;
	case K_IMAGE_DIR:
		set_path(ps, t, k, &site->image_dir);
		break;
	case K_DATA_DOWNLOAD_HOSTS:
		get_download_hosts(ps, t, k);
		break;
	case K_DATA_DOWNLOAD_MAX:
		get_size(ps, t, k, UINT64_MAX - 1, 0, &site->data_download_max);
		break;
	case K_DATA_CACHE_DIR:
		set_path(ps, t, k, &site->data_cache_dir);
		break;
	case K_DATA_DOWNLOAD_CA_FILE:
		set_path(ps, t, k, &site->data_download_ca_file);
		break;
	case K_PLACEMENT:
		if (aml_placement_mode_parse(v, &site->placement) < 0)
			bad_value(ps, t, k, "must be hwloc, slurm or none");
		break;
	case K_CONTAINER_BUILDER:
		if (aml_ascii_ieq(v, "podman"))
			site->container_builder_podman = 1;
		else if (aml_ascii_ieq(v, "none"))
			site->container_builder_podman = 0;
		else
			bad_value(ps, t, k, "must be none or podman");
		break;
	case K_DEFAULT_INTERPRETER:
		/* A bare name is looked up in the job's PATH; anything with a
		 * '/' would be relative to a directory nobody chose. */
		if ((strchr(v, '/') && v[0] != '/') ||
		    (v[0] != '/' && !aml_conf_is_word(v)))
			bad_value(ps, t, k, "must be a command name or an "
				  "absolute path");
		else
			set_string(ps, &site->default_interpreter, v);
		break;
	case K_FINALIZE_GRACE:
		get_u32(ps, t, k, 0, FINALIZE_GRACE_LIMIT, 0,
			&site->finalize_grace_seconds);
		break;
	case K_HISTORY_TIMEOUT:
		get_u32(ps, t, k, 1, HISTORY_TIMEOUT_LIMIT, 0,
			&site->history_timeout_seconds);
		break;
	case K_HISTORY_PROBE_INTERVAL:
		get_u32(ps, t, k, 0, HISTORY_PROBE_INTERVAL_LIMIT, 0,
			&site->history_probe_interval_seconds);
		break;
	case K_HISTORY_LOG_INTERVAL:
		get_u32(ps, t, k, 0, HISTORY_LOG_INTERVAL_LIMIT, 0,
			&site->history_log_interval_seconds);
		break;
	case K_DEFAULT_TARGET:
		/* Checked once every target is known: it may come first. */
		break;
	case K_ENV_DIR:
		set_path(ps, t, k, &site->env_dir);
		break;
	case K_MODULES_INIT:
		set_path(ps, t, k, &site->modules_init);
		break;
	case K_CONDA_COMMAND: {
		const char *base = strrchr(v, '/');

		base = base ? base + 1 : v;
		if (v[0] != '/')
			bad_value(ps, t, k, "must be an absolute path");
		else if (strcmp(base, "conda") && strcmp(base, "mamba") &&
			 strcmp(base, "micromamba"))
			bad_value(ps, t, k, "must be a conda, mamba or micromamba "
				  "program (its name says which options it "
				  "takes)");
		else
			set_string(ps, &site->conda_command, v);
		break;
	}
	case K_PIP_OPTIONS:
		get_words(ps, t, k, &site->pip_options);
		break;
	case K_DEFAULT_ENVIRONMENT:
		/* Checked once every environment is known. */
		break;
	default:
		break;
	}
}

static void process_global_line(struct parser *ps)
{
	for (size_t i = 0; i < ps->rd.n_toks; i++) {
		const struct aml_conf_token *t = &ps->rd.toks[i];
		enum key meant, k;
		int ok;

		k = check_token(ps, t, LINE_GLOBAL, &ok, &meant);
		if (k == K_UNKNOWN)
			continue;
		if (starts_line(k)) {
			if (ok)
				bad_value(ps, t, k, "must be the first key on "
					  "its line");
			/* The admin did write a target: "no ComputeTarget"
			 * would only repeat this.  The rest of the line is
			 * that target's (or environment's), not global
			 * keys. */
			if (k == K_COMPUTE_TARGET)
				ps->target_lines++;
			return;
		}
		if (line_of(k) != LINE_GLOBAL) {
			if (ok)
				bad_value(ps, t, k, "only valid on %s line",
					  line_of(k) == LINE_TARGET
						  ? "a ComputeTarget"
						  : line_of(k) == LINE_ENV
						  ? "an Environment"
						  : "a Datastore, DataAsset or DataStorageAccount");
			continue;
		}
		if (ps->global_line[k]) {
			if (ok)
				bad_value(ps, t, k, "duplicate key (first set "
					  "on line %d)", ps->global_line[k]);
			continue;
		}
		ps->global_line[k] = t->line;
		/* Remembered even when refused, so the checks across keys
		 * do not report the same mistake a second time. */
		if (k == K_HISTORY_BACKEND) {
			ps->backend_tok = *t;
			ps->backend_ok = ok;
		} else if (k == K_HISTORY_URI) {
			ps->uri_tok = *t;
		} else if (k == K_HISTORY_CREDENTIALS) {
			ps->credentials_tok = *t;
		} else if (k == K_DEFAULT_TARGET) {
			ps->default_target_tok = *t;
			ps->default_target_ok = ok;
		} else if (k == K_DEFAULT_ENVIRONMENT) {
			ps->default_env_tok = *t;
			ps->default_env_ok = ok;
		}
		if (ok)
			apply_global(ps, t, k);
	}
}

/*
 * Whether key [k] of token [t] belongs on a ComputeTarget or Environment
 * line ([on]); if not, says where it does (when its value was fine: a
 * refused value has been reported already).
 */
static int belongs_on(struct parser *ps, const struct aml_conf_token *t,
		      enum key k, int ok, enum line_kind on)
{
	enum line_kind home = line_of(k);

	if (starts_line(k)) {
		if (ok)
			bad_value(ps, t, k, "one per line; start a new line");
		return 0;
	}
	if (home == on)
		return 1;
	if (ok)
		bad_value(ps, t, k, "%s, not valid on %s line",
			  home == LINE_GLOBAL ? "is a global key" :
			  home == LINE_TARGET ? "belongs on a ComputeTarget line" :
			  home == LINE_ENV ? "belongs on an Environment line"
					   : "belongs on a Datastore, DataAsset or DataStorageAccount line",
			  on == LINE_TARGET ? "a ComputeTarget" : "an Environment");
	return 0;
}

static void apply_target(struct parser *ps, size_t index,
			 const struct aml_conf_token *t, enum key k)
{
	struct aml_target *target = &ps->site->targets[index];
	const char *v = t->value;
	uint64_t seconds;
	int yes;

	switch (k) {
	case K_PARTITION:
	case K_QOS:
	case K_ACCOUNT:
	case K_CONSTRAINT: {
		char **slot = k == K_PARTITION ? &target->partition :
			      k == K_QOS ? &target->qos :
			      k == K_ACCOUNT ? &target->account :
			      &target->constraint;

		if (!aml_conf_is_word(v))
			bad_value(ps, t, k, "must be printable ASCII without "
				  "blanks");
		else
			set_string(ps, slot, v);
		break;
	}
	case K_GRES:
		if (!aml_conf_is_gres(v))
			bad_value(ps, t, k, "must be NAME[:TYPE][:COUNT] per "
				  "node, comma-separated, as in --gres "
				  "(gpu:4, gpu:a100:8)");
		else
			set_string(ps, &target->gres, v);
		break;
	case K_MAX_NODES:
		get_u32(ps, t, k, 1, MAX_NODES_LIMIT, 1, &target->max_nodes);
		break;
	case K_MAX_PROCESSES_PER_NODE:
		get_u32(ps, t, k, 1, MAX_PROCESSES_LIMIT, 1,
			&target->max_processes_per_node);
		break;
	case K_MAX_TIME:
		if (aml_parse_slurm_time(v, &seconds) < 0)
			bad_value(ps, t, k, "%s", time_rule);
		else if (seconds == 0)
			bad_value(ps, t, k, "must be longer than 0");
		else if (seconds != AML_SITE_UNLIMITED64 &&
			 seconds > SLURM_MAX_MINUTES * 60)
			bad_value(ps, t, k, "must be at most %" PRIu64
				  " minutes (Slurm's longest time limit)",
				  SLURM_MAX_MINUTES);
		else
			target->max_time_seconds = seconds;
		break;
	case K_ALLOW_USERS:
		get_list(ps, t, k, &target->allow_users,
			 &target->n_allow_users);
		break;
	case K_ALLOW_ACCOUNTS:
		get_list(ps, t, k, &target->allow_accounts,
			 &target->n_allow_accounts);
		break;
	case K_DEFAULT:
		if (get_bool(ps, t, k, &yes) < 0 || !yes)
			break;
		if (ps->default_yes >= 0) {
			size_t first = (size_t)ps->default_yes;

			bad_value(ps, t, k, "only one ComputeTarget may have "
				  "Default=YES (%s on line %d already has)",
				  ps->site->targets[first].name,
				  ps->info[first].default_line);
			break;
		}
		ps->default_yes = (long)index;
		ps->info[index].default_line = t->line;
		break;
	default:
		break;
	}
}

static long add_target(struct parser *ps)
{
	struct aml_site *site = ps->site;
	struct aml_target *target;

	if (site->n_targets == ps->cap_targets) {
		size_t cap = ps->cap_targets ? ps->cap_targets * 2 : 4;
		struct aml_target *targets;
		struct target_info *info;

		targets = realloc(site->targets, cap * sizeof(*targets));
		if (!targets)
			goto oom;
		site->targets = targets;
		info = realloc(ps->info, cap * sizeof(*info));
		if (!info)
			goto oom;
		ps->info = info;
		ps->cap_targets = cap;
	}
	target = &site->targets[site->n_targets];
	memset(target, 0, sizeof(*target));
	target->max_nodes = AML_SITE_UNLIMITED;
	target->max_time_seconds = AML_SITE_UNLIMITED64;
	target->max_processes_per_node = AML_SITE_UNLIMITED;
	memset(&ps->info[site->n_targets], 0, sizeof(*ps->info));
	return (long)site->n_targets++;
oom:
	ps->out_of_memory = 1;
	return -1;
}

static void process_target_line(struct parser *ps)
{
	const struct aml_conf_token *first = &ps->rd.toks[0];
	int seen[K_COUNT] = { 0 }, partition_meant = 0, ok;
	struct aml_target *target;
	enum key meant;
	long index;

	ps->target_lines++;
	index = add_target(ps);
	if (index < 0)
		return;
	target = &ps->site->targets[index];
	target->line = first->line;
	/* Kept even when invalid, so a DefaultTarget naming it is not
	 * reported as a second, misleading error. */
	if (set_string(ps, &target->name, first->value) < 0)
		return;
	check_token(ps, first, LINE_TARGET, &ok, &meant);
	if (!ok) {
		/* Reported by check_token. */
	} else if (!aml_conf_is_name(first->value))
		bad_value(ps, first, K_COMPUTE_TARGET, "must be a name of "
			  "letters, digits, '.', '_' and '-'");
	else
		ps->info[index].name_ok = 1;

	for (size_t i = 1; i < ps->rd.n_toks; i++) {
		const struct aml_conf_token *t = &ps->rd.toks[i];
		enum key k = check_token(ps, t, LINE_TARGET, &ok, &meant);

		if (k == K_UNKNOWN) {
			partition_meant |= meant == K_PARTITION;
			continue;
		}
		if (!belongs_on(ps, t, k, ok, LINE_TARGET))
			continue;
		if (seen[k]) {
			if (ok)
				bad_value(ps, t, k, "duplicate key on this "
					  "ComputeTarget line (first set on line "
					  "%d)", seen[k]);
			continue;
		}
		seen[k] = t->line;
		if (ok)
			apply_target(ps, (size_t)index, t, k);
	}
	/* A misspelt Partition has been reported with its suggestion. */
	if (!seen[K_PARTITION] && !partition_meant)
		bad_value(ps, first, K_COMPUTE_TARGET, "must have a Partition");
}

/* ---- Environment lines ---- */

/* A module name as Lmod and Environment Modules write them:
 * "cuda/12.2", "py-torch/2.1+cuda", "gcc@13" (Spack). */
static int is_module_name(const char *s)
{
	if (!*s || *s == '/' || *s == '-')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-/+@", *s))
			return 0;
	return 1;
}

static long add_env(struct parser *ps)
{
	struct aml_site *site = ps->site;

	if (site->n_envs == ps->cap_envs) {
		size_t cap = ps->cap_envs ? ps->cap_envs * 2 : 4;
		struct aml_site_env *envs;
		int *ok;

		envs = realloc(site->envs, cap * sizeof(*envs));
		if (!envs)
			goto oom;
		site->envs = envs;
		ok = realloc(ps->env_name_ok, cap * sizeof(*ok));
		if (!ok)
			goto oom;
		ps->env_name_ok = ok;
		ps->cap_envs = cap;
	}
	memset(&site->envs[site->n_envs], 0, sizeof(*site->envs));
	ps->env_name_ok[site->n_envs] = 0;
	return (long)site->n_envs++;
oom:
	ps->out_of_memory = 1;
	return -1;
}

static void apply_env(struct parser *ps, struct aml_site_env *env,
		      const struct aml_conf_token *t, enum key k)
{
	const char *v = t->value;

	switch (k) {
	case K_PREFIX:
		set_path(ps, t, k, &env->prefix);
		break;
	case K_INTERPRETER:
		if ((strchr(v, '/') && v[0] != '/') ||
		    (v[0] != '/' && !aml_conf_is_word(v)))
			bad_value(ps, t, k, "must be a command name or an "
				  "absolute path");
		else
			set_string(ps, &env->interpreter, v);
		break;
	case K_MODULES:
		get_list(ps, t, k, &env->modules, &env->n_modules);
		for (size_t i = 0; i < env->n_modules; i++) {
			if (is_module_name(env->modules[i]))
				continue;
			bad_value(ps, t, k, "module names are letters, digits "
				  "and . _ - / + @, not starting with / or -");
			break;
		}
		break;
	case K_IMAGE: {
		struct aml_image_ref ref;
		char err[256];

		if (aml_image_ref_parse(v, &ref, err, sizeof(err)) < 0)
			bad_value(ps, t, k, "%s", err);
		else
			set_string(ps, &env->image, v);
		break;
	}
	case K_ENV: {
		const char *eq = strchr(v, '=');
		char *name = eq ? strndup(v, (size_t)(eq - v)) : NULL;

		if (eq && !name) {
			ps->out_of_memory = 1;
			break;
		}
		if (!name || !aml_is_env_name(name))
			bad_value(ps, t, k, "must be NAME=VALUE, NAME of letters, "
				  "digits and '_', not starting with a digit");
		else if (!strncmp(name, AML_ENV_RESERVED_PREFIX,
				  strlen(AML_ENV_RESERVED_PREFIX)))
			bad_value(ps, t, k, "%s: names starting with %s are "
				  "slurm-aml's own", name,
				  AML_ENV_RESERVED_PREFIX);
		else if (aml_kvlist_get(&env->vars, name))
			bad_value(ps, t, k, "%s is set twice on this line", name);
		else if (aml_kvlist_set(&env->vars, name, eq + 1) < 0)
			ps->out_of_memory = 1;
		free(name);
		break;
	}
	default:
		break;
	}
}

static void process_env_line(struct parser *ps)
{
	const struct aml_conf_token *first = &ps->rd.toks[0];
	int seen[K_COUNT] = { 0 }, ok;
	struct aml_site_env *env;
	const char *colon;
	enum key meant;
	long index;

	index = add_env(ps);
	if (index < 0)
		return;
	env = &ps->site->envs[index];
	env->line = first->line;
	check_token(ps, first, LINE_ENV, &ok, &meant);
	colon = ok ? strchr(first->value, ':') : NULL;
	if (ok && (!(env->name = colon ? strndup(first->value,
						  (size_t)(colon - first->value))
					: strdup(first->value)) ||
		   (colon && !(env->version = strdup(colon + 1))))) {
		ps->out_of_memory = 1;
		return;
	}
	if (!ok) {
		/* Reported by check_token. */
	} else if (!aml_conf_is_name(env->name) ||
		   (env->version && !aml_conf_is_name(env->version)))
		bad_value(ps, first, K_ENVIRONMENT, "must be NAME or "
			  "NAME:VERSION, each of letters, digits, '.', '_' "
			  "and '-'");
	else
		ps->env_name_ok[index] = 1;

	for (size_t i = 1; i < ps->rd.n_toks; i++) {
		const struct aml_conf_token *t = &ps->rd.toks[i];
		enum key k = check_token(ps, t, LINE_ENV, &ok, &meant);

		if (k == K_UNKNOWN)
			continue;
		if (!belongs_on(ps, t, k, ok, LINE_ENV))
			continue;
		/* Env= names one variable each time. */
		if (seen[k] && k != K_ENV) {
			if (ok)
				bad_value(ps, t, k, "duplicate key on this "
					  "Environment line (first set on line "
					  "%d)", seen[k]);
			continue;
		}
		seen[k] = t->line;
		if (ok)
			apply_env(ps, env, t, k);
	}
	if (seen[K_IMAGE] && (seen[K_PREFIX] || seen[K_MODULES]))
		bad_value(ps, first, K_ENVIRONMENT, "Image excludes Prefix and "
			  "Modules (they are the host's; the image brings its "
			  "own)");
	else if (seen[K_PREFIX] && seen[K_INTERPRETER])
		bad_value(ps, first, K_ENVIRONMENT, "Prefix and Interpreter "
			  "exclude each other (a Prefix's interpreter is "
			  "PREFIX/bin/python)");
	else if (!seen[K_PREFIX] && !seen[K_INTERPRETER] && !seen[K_MODULES] &&
		 !seen[K_IMAGE])
		bad_value(ps, first, K_ENVIRONMENT, "must give Prefix, "
			  "Interpreter, Modules or Image");
}

/* ---- Datastore and DataAsset lines ---- */

/* Room for one more entry of [*items] (each [size] bytes) and of its
 * parallel [*ok], doubling [*cap]; the new slots zeroed. */
static int grow_data(struct parser *ps, void **items, size_t size,
		     size_t count, size_t *cap, int **ok)
{
	if (count == *cap) {
		size_t n = *cap ? *cap * 2 : 4;
		void *more = realloc(*items, n * size);
		int *more_ok;

		if (!more)
			goto oom;
		*items = more;
		more_ok = realloc(*ok, n * sizeof(**ok));
		if (!more_ok)
			goto oom;
		*ok = more_ok;
		*cap = n;
	}
	memset((char *)*items + count * size, 0, size);
	(*ok)[count] = 0;
	return 0;
oom:
	ps->out_of_memory = 1;
	return -1;
}

/* Path=: absolute (nodes, login nodes and the controller each have their
 * own working directory), kept without trailing '/' so that a datastore
 * path joins with one. */
static void get_data_path(struct parser *ps, const struct aml_conf_token *t,
			  char **slot)
{
	size_t n = strlen(t->value);

	if (t->value[0] != '/') {
		bad_value(ps, t, K_PATH, "must be an absolute path");
		return;
	}
	while (n > 1 && t->value[n - 1] == '/')
		n--;
	free(*slot);
	if (!(*slot = strndup(t->value, n)))
		ps->out_of_memory = 1;
}

/* The first token of a data line: NAME (Datastore) or NAME:VERSION
 * (DataAsset), names of letters, digits, '.', '_' and '-'.  Returns 1
 * when valid. */
static int get_data_name(struct parser *ps, const struct aml_conf_token *t,
			 enum key k, char **name, char **version)
{
	const char *colon = strchr(t->value, ':');

	if (k == K_DATA_STORAGE_ACCOUNT) {
		if (!aml_data_account_valid(t->value)) {
			bad_value(ps, t, k, "must be a storage account's name: "
				  "3 to 24 lowercase letters and digits");
			return 0;
		}
		return set_string(ps, name, t->value) == 0;
	}
	if (k == K_DATASTORE) {
		if (!aml_conf_is_name(t->value)) {
			bad_value(ps, t, k, "must be a name of letters, "
				  "digits, '.', '_' and '-'");
			return 0;
		}
		return set_string(ps, name, t->value) == 0;
	}
	if (!colon) {
		bad_value(ps, t, k, "must be NAME:VERSION (a data asset is "
			  "mapped one version at a time)");
		return 0;
	}
	if (!(*name = strndup(t->value, (size_t)(colon - t->value))) ||
	    !(*version = strdup(colon + 1))) {
		ps->out_of_memory = 1;
		return 0;
	}
	if (!aml_conf_is_name(*name) || !aml_conf_is_name(*version)) {
		bad_value(ps, t, k, "must be NAME:VERSION, each of letters, "
			  "digits, '.', '_' and '-'");
		return 0;
	}
	return 1;
}

static void apply_data(struct parser *ps, const struct aml_conf_token *t,
		       enum key k, char **path, struct aml_datastore *store,
		       struct aml_data_asset *asset)
{
	int yes, kind;

	switch (k) {
	case K_PATH:
		get_data_path(ps, t, path);
		break;
	case K_DEFAULT:
		if (get_bool(ps, t, k, &yes) < 0 || !yes)
			break;
		if (ps->default_store_line) {
			bad_value(ps, t, k, "only one Datastore may have "
				  "Default=yes (line %d already has)",
				  ps->default_store_line);
			break;
		}
		ps->default_store_line = t->line;
		store->is_default = 1;
		break;
	case K_TYPE:
		kind = aml_data_kind_from_type(t->value);
		if (strcmp(t->value, "uri_file") &&
		    strcmp(t->value, "uri_folder"))
			kind = -1;
		if (kind < 0)
			bad_value(ps, t, k, "must be uri_file or uri_folder");
		else
			asset->kind = (enum aml_data_kind)kind;
		break;
	default:
		break;
	}
}

/* What a data line of [line_key] takes besides Path: Default on a
 * Datastore line, Type on a DataAsset line, nothing else. */
static enum key data_line_extra(enum key line_key)
{
	return line_key == K_DATASTORE ? K_DEFAULT :
	       line_key == K_DATA_ASSET ? K_TYPE : K_PATH;
}

static void process_data_line(struct parser *ps, enum key line_key)
{
	struct aml_datamap *map = &ps->site->data;
	const struct aml_conf_token *first = &ps->rd.toks[0];
	const char *line_name = key_names[line_key];
	struct aml_datastore *store = NULL;
	struct aml_data_asset *asset = NULL;
	struct aml_data_account *account = NULL;
	int seen[K_COUNT] = { 0 }, ok, *name_ok;
	enum key meant, extra = data_line_extra(line_key);
	char **path, **name, **version = NULL;

	if (line_key == K_DATASTORE) {
		if (grow_data(ps, (void **)&map->stores, sizeof(*store),
			      map->n_stores, &ps->cap_stores,
			      &ps->store_ok) < 0)
			return;
		name_ok = &ps->store_ok[map->n_stores];
		store = &map->stores[map->n_stores++];
		store->line = first->line;
		path = &store->path;
		name = &store->name;
	} else if (line_key == K_DATA_ASSET) {
		if (grow_data(ps, (void **)&map->assets, sizeof(*asset),
			      map->n_assets, &ps->cap_assets,
			      &ps->asset_ok) < 0)
			return;
		name_ok = &ps->asset_ok[map->n_assets];
		asset = &map->assets[map->n_assets++];
		asset->line = first->line;
		path = &asset->path;
		name = &asset->name;
		version = &asset->version;
	} else {
		if (grow_data(ps, (void **)&map->accounts, sizeof(*account),
			      map->n_accounts, &ps->cap_accounts,
			      &ps->account_ok) < 0)
			return;
		name_ok = &ps->account_ok[map->n_accounts];
		account = &map->accounts[map->n_accounts++];
		account->line = first->line;
		path = &account->path;
		name = &account->name;
	}
	check_token(ps, first, LINE_DATA, &ok, &meant);
	if (ok)
		*name_ok = get_data_name(ps, first, line_key, name, version);
	for (size_t i = 1; i < ps->rd.n_toks; i++) {
		const struct aml_conf_token *t = &ps->rd.toks[i];
		enum key k = check_token(ps, t, LINE_DATA, &ok, &meant);

		if (k == K_UNKNOWN)
			continue;
		if (k != K_PATH && k != extra) {
			if (ok && extra != K_PATH)
				bad_value(ps, t, k, "not valid on a %s line "
					  "(it takes Path and %s)", line_name,
					  key_names[extra]);
			else if (ok)
				bad_value(ps, t, k, "not valid on a %s line "
					  "(it takes Path)", line_name);
			continue;
		}
		if (seen[k]) {
			if (ok)
				bad_value(ps, t, k, "duplicate key on this %s "
					  "line (first set on line %d)",
					  line_name, seen[k]);
			continue;
		}
		seen[k] = t->line;
		if (ok)
			apply_data(ps, t, k, path, store, asset);
	}
	if (!seen[K_PATH])
		bad_value(ps, first, line_key, "must have a Path");
}

static int compare_stores(const void *a, const void *b)
{
	const struct aml_datastore *x = *(const struct aml_datastore *const *)a;
	const struct aml_datastore *y = *(const struct aml_datastore *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->line - y->line;
}

static int compare_assets(const void *a, const void *b)
{
	const struct aml_data_asset *x = *(const struct aml_data_asset *const *)a;
	const struct aml_data_asset *y = *(const struct aml_data_asset *const *)b;
	int c = strcmp(x->name, y->name);

	if (!c)
		c = strcmp(x->version, y->version);
	return c ? c : x->line - y->line;
}

static int compare_accounts(const void *a, const void *b)
{
	const struct aml_data_account *x =
		*(const struct aml_data_account *const *)a;
	const struct aml_data_account *y =
		*(const struct aml_data_account *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->line - y->line;
}

/* A name mapped twice: sorted, as targets are, so that a generated file
 * of many lines costs no quadratic time. */
static void find_duplicate_data(struct parser *ps)
{
	const struct aml_datamap *map = &ps->site->data;
	size_t most = map->n_stores > map->n_assets ? map->n_stores
						    : map->n_assets;
	const void **refs;
	size_t n = 0;

	if (map->n_accounts > most)
		most = map->n_accounts;
	refs = most ? malloc(most * sizeof(*refs)) : NULL;
	if (most && !refs) {
		ps->out_of_memory = 1;
		return;
	}
	for (size_t i = 0; i < map->n_stores; i++)
		if (ps->store_ok[i])
			refs[n++] = &map->stores[i];
	if (n > 1)
		qsort(refs, n, sizeof(*refs), compare_stores);
	for (size_t i = 1, first = 0; i < n; i++) {
		const struct aml_datastore *a = refs[i], *b = refs[first];

		if (strcmp(a->name, b->name)) {
			first = i;
			continue;
		}
		report(ps, a->line, "%s: %s is mapped twice (first on line "
		       "%d)", key_names[K_DATASTORE], a->name, b->line);
	}
	n = 0;
	for (size_t i = 0; i < map->n_assets; i++)
		if (ps->asset_ok[i])
			refs[n++] = &map->assets[i];
	if (n > 1)
		qsort(refs, n, sizeof(*refs), compare_assets);
	for (size_t i = 1, first = 0; i < n; i++) {
		const struct aml_data_asset *a = refs[i], *b = refs[first];

		if (strcmp(a->name, b->name) || strcmp(a->version, b->version)) {
			first = i;
			continue;
		}
		report(ps, a->line, "%s: %s:%s is mapped twice (first on line "
		       "%d)", key_names[K_DATA_ASSET], a->name, a->version,
		       b->line);
	}
	n = 0;
	for (size_t i = 0; i < map->n_accounts; i++)
		if (ps->account_ok[i])
			refs[n++] = &map->accounts[i];
	if (n > 1)
		qsort(refs, n, sizeof(*refs), compare_accounts);
	for (size_t i = 1, first = 0; i < n; i++) {
		const struct aml_data_account *a = refs[i], *b = refs[first];

		if (strcmp(a->name, b->name)) {
			first = i;
			continue;
		}
		report(ps, a->line, "%s: %s is mapped twice (first on line "
		       "%d)", key_names[K_DATA_STORAGE_ACCOUNT], a->name,
		       b->line);
	}
	free(refs);
}

static void process_line(struct parser *ps)
{
	const struct aml_conf_token *first;
	enum key k;

	if (ps->rd.poisoned || ps->rd.n_toks == 0)
		return;
	first = &ps->rd.toks[0];
	k = first->value ? find_key(first->text, first->key_len) : K_UNKNOWN;
	if (k == K_COMPUTE_TARGET)
		process_target_line(ps);
	else if (k == K_ENVIRONMENT)
		process_env_line(ps);
	else if (k == K_DATASTORE || k == K_DATA_ASSET ||
		 k == K_DATA_STORAGE_ACCOUNT)
		process_data_line(ps, k);
	else
		process_global_line(ps);
}

/* ---------------------------------------------------------------------- */
/* Whole-file rules                                                       */

struct name_ref {
	const char *name;
	size_t index;
};

static int compare_names(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorted rather than compared pairwise: a generated file with thousands
 * of targets must not take quadratic time in the controller. */
static void find_duplicate_targets(struct parser *ps)
{
	struct aml_site *site = ps->site;
	struct name_ref *refs;
	size_t n = 0;

	if (site->n_targets < 2)
		return;
	refs = malloc(site->n_targets * sizeof(*refs));
	if (!refs) {
		ps->out_of_memory = 1;
		return;
	}
	for (size_t i = 0; i < site->n_targets; i++) {
		if (!ps->info[i].name_ok)
			continue;
		refs[n].name = site->targets[i].name;
		refs[n++].index = i;
	}
	qsort(refs, n, sizeof(*refs), compare_names);
	for (size_t i = 1, first = 0; i < n; i++) {
		const struct aml_target *dup = &site->targets[refs[i].index];
		char quoted[QUOTED_SIZE];

		if (strcmp(refs[i].name, refs[first].name) != 0) {
			first = i;
			continue;
		}
		ps->info[refs[i].index].duplicate = 1;
		report(ps, dup->line, "%s: duplicate target name (first "
		       "defined on line %d), got %s",
		       key_names[K_COMPUTE_TARGET],
		       site->targets[refs[first].index].line,
		       aml_text_quote(dup->name, strlen(dup->name),
				      quoted, sizeof(quoted)));
	}
	free(refs);
}

/* "cpu, gpu-cluster", the first ten, for a message. */
static char *known_targets(const struct parser *ps)
{
	const struct aml_site *site = ps->site;
	char *list = NULL;
	size_t size = 0, shown = 0;
	FILE *f = open_memstream(&list, &size);

	if (!f)
		return NULL;
	for (size_t i = 0; i < site->n_targets; i++) {
		if (!ps->info[i].name_ok || ps->info[i].duplicate)
			continue;
		if (shown == 10) {
			fputs(", ...", f);
			break;
		}
		fprintf(f, "%s%s", shown ? ", " : "", site->targets[i].name);
		shown++;
	}
	if (fclose(f) != 0) {
		free(list);
		return NULL;
	}
	return list;
}

static void resolve_default_target(struct parser *ps)
{
	struct aml_site *site = ps->site;
	const struct aml_conf_token *t = ps->default_target_tok.text ?
				&ps->default_target_tok : NULL;
	const char *name = NULL;

	if (t && !ps->default_target_ok)
		return;
	if (t) {
		long found = -1;

		for (size_t i = 0; i < site->n_targets && found < 0; i++)
			if (strcmp(site->targets[i].name, t->value) == 0)
				found = (long)i;
		if (found < 0) {
			char *known = known_targets(ps);

			if (!known)
				ps->out_of_memory = 1;
			else if (*known)
				bad_value(ps, t, K_DEFAULT_TARGET, "must name a "
					  "ComputeTarget (known: %s)", known);
			else
				bad_value(ps, t, K_DEFAULT_TARGET, "must name a "
					  "ComputeTarget, and none is defined");
			free(known);
			return;
		}
		if (ps->default_yes >= 0 && ps->default_yes != found &&
		    strcmp(site->targets[ps->default_yes].name, t->value)) {
			bad_value(ps, t, K_DEFAULT_TARGET, "conflicts with "
				  "Default=YES on ComputeTarget %s (line %d)",
				  site->targets[ps->default_yes].name,
				  ps->info[ps->default_yes].default_line);
			return;
		}
		name = t->value;
	} else if (ps->default_yes >= 0) {
		name = site->targets[ps->default_yes].name;
	} else if (site->n_targets > 0) {
		name = site->targets[0].name;
	}
	if (name)
		set_string(ps, &site->default_target, name);
}

static void check_history(struct parser *ps)
{
	const struct aml_site *site = ps->site;
	int mlflow = site->history_backend == AML_HISTORY_MLFLOW;

	/* A value that was itself wrong has been reported: judging the
	 * combination too would report one mistake twice. */
	if (!ps->backend_ok)
		return;
	if (mlflow && !ps->uri_tok.text)
		bad_value(ps, &ps->backend_tok, K_HISTORY_BACKEND,
			  "mlflow requires HistoryURI");
	/* Left in place, a URI that is never used would let an admin believe
	 * run history goes to the server while it goes to HistoryDir. */
	if (!mlflow && ps->uri_ok)
		bad_value(ps, &ps->uri_tok, K_HISTORY_URI,
			  "only used with HistoryBackend=mlflow");
	if (!mlflow && ps->credentials_ok)
		bad_value(ps, &ps->credentials_tok, K_HISTORY_CREDENTIALS,
			  "only used with HistoryBackend=mlflow");
}

/* Two Environment lines of one name and version; the default environment
 * names one. */
static void check_envs(struct parser *ps)
{
	struct aml_site *site = ps->site;
	const struct aml_conf_token *t = &ps->default_env_tok;

	/* Catalogues are short (a site's curated list): pairs cost nothing
	 * next to reading the lines. */
	for (size_t i = 0; i < site->n_envs; i++) {
		const struct aml_site_env *a = &site->envs[i];

		for (size_t j = 0; ps->env_name_ok[i] && j < i; j++) {
			const struct aml_site_env *b = &site->envs[j];

			if (!ps->env_name_ok[j] || strcmp(a->name, b->name) ||
			    !a->version != !b->version ||
			    (a->version && strcmp(a->version, b->version)))
				continue;
			report(ps, a->line, "%s: %s%s%s is defined twice (first "
			       "on line %d)", key_names[K_ENVIRONMENT], a->name,
			       a->version ? ":" : "",
			       a->version ? a->version : "", b->line);
			break;
		}
	}
	/* ContainerRuntime may come after the line. */
	for (size_t i = 0; site->container_runtime == AML_CONTAINER_NONE &&
			   i < site->n_envs; i++)
		if (site->envs[i].image)
			report(ps, site->envs[i].line, "%s: %s has Image= but "
			       "ContainerRuntime=none: set ContainerRuntime to "
			       "the site's runtime, or remove the Image",
			       key_names[K_ENVIRONMENT],
			       site->envs[i].name ? site->envs[i].name : "it");
	if (!t->text || !ps->default_env_ok)
		return;
	{
		const char *colon = strchr(t->value, ':');
		char *name = colon ? strndup(t->value,
					     (size_t)(colon - t->value))
				   : strdup(t->value);

		if (!name) {
			ps->out_of_memory = 1;
			return;
		}
		if (!aml_site_find_env(site, name, colon ? colon + 1 : NULL)) {
			bad_value(ps, t, K_DEFAULT_ENVIRONMENT, "must name an "
				  "Environment line%s", site->n_envs ? "" :
				  ", and none is defined");
		} else {
			set_string(ps, &site->default_environment, t->value);
		}
		free(name);
	}
}

static void check_whole_file(struct parser *ps)
{
	find_duplicate_targets(ps);
	if (ps->target_lines == 0)
		report(ps, 0, "no ComputeTarget defined; at least one is "
		       "required");
	resolve_default_target(ps);
	check_history(ps);
	check_envs(ps);
	find_duplicate_data(ps);
}

/* ---------------------------------------------------------------------- */
/* Public functions                                                       */

const char *aml_container_runtime_name(enum aml_container_runtime r)
{
	switch (r) {
	case AML_CONTAINER_NONE:
		return "none";
	case AML_CONTAINER_PYXIS:
		return "pyxis";
	case AML_CONTAINER_PODMAN:
		return "podman";
	case AML_CONTAINER_CHARLIECLOUD:
		return "charliecloud";
	case AML_CONTAINER_APPTAINER:
		return "apptainer";
	}
	return "unknown";
}

int aml_site_defaults(struct aml_site *site)
{
	memset(site, 0, sizeof(*site));
	site->history_dir = strdup(DEFAULT_HISTORY_DIR);
	site->history_backend = AML_HISTORY_FILE;
	site->run_visibility = AML_RUNS_PRIVATE;
	site->snapshot_dir = strdup(DEFAULT_SNAPSHOT_DIR);
	site->snapshot_max_bytes = DEFAULT_SNAPSHOT_MAX_BYTES;
	site->snapshot_max_files = DEFAULT_SNAPSHOT_MAX_FILES;
	site->run_dir = strdup(DEFAULT_RUN_DIR);
	site->spool_dir = strdup(DEFAULT_SPOOL_DIR);
	site->keep_failed_run_dir = 0;
	site->kept_run_dir_max = AML_SITE_UNLIMITED64;
	site->container_runtime = AML_CONTAINER_NONE;
	site->placement = AML_PLACEMENT_HWLOC;
	site->default_interpreter = strdup(DEFAULT_INTERPRETER);
	site->env_dir = strdup(DEFAULT_ENV_DIR);
	site->image_dir = strdup(DEFAULT_IMAGE_DIR);
	site->data_cache_dir = strdup(DEFAULT_DATA_CACHE_DIR);
	site->data_download_max = DEFAULT_DATA_DOWNLOAD_MAX;
	site->modules_init = strdup(DEFAULT_MODULES_INIT);
	site->finalize_grace_seconds = DEFAULT_FINALIZE_GRACE;
	site->history_timeout_seconds = DEFAULT_HISTORY_TIMEOUT;
	site->history_probe_interval_seconds = DEFAULT_HISTORY_PROBE_INTERVAL;
	site->history_log_interval_seconds = DEFAULT_HISTORY_LOG_INTERVAL;
	aml_run_limits_default(&site->limits);
	if (!site->history_dir || !site->snapshot_dir || !site->run_dir ||
	    !site->spool_dir || !site->default_interpreter ||
	    !site->env_dir || !site->modules_init || !site->image_dir ||
	    !site->data_cache_dir) {
		aml_site_free(site);
		return -1;
	}
	return 0;
}

int aml_site_parse(const char *text, size_t len, const char *filename,
		   struct aml_site *site, struct aml_errors *errs)
{
	struct parser ps;
	int rc = -1;

	memset(&ps, 0, sizeof(ps));
	ps.site = site;
	ps.backend_ok = 1;
	ps.default_yes = -1;
	if (!text)
		len = 0;
	if (aml_site_defaults(site) < 0) {
		ps.out_of_memory = 1;
		goto out;
	}
	if (filename && !(site->path = strdup(filename))) {
		ps.out_of_memory = 1;
		goto out;
	}
	if (len > SITE_MAX_BYTES) {
		report(&ps, 0, "too large (more than %u bytes)",
		       SITE_MAX_BYTES);
		goto out;
	}
	if (aml_conf_reader_init(&ps.rd, text, len, report_nul, &ps) < 0) {
		ps.out_of_memory = 1;
		goto out;
	}
	for (;;) {
		int got = aml_conf_read_line(&ps.rd);

		if (got < 0)
			ps.out_of_memory = 1;
		if (got <= 0)
			break;
		process_line(&ps);
		if (ps.out_of_memory)
			break;
	}
	if (!ps.out_of_memory)
		check_whole_file(&ps);
	rc = 0;
out:
	if (flush_errors(&ps, filename, errs)) {
		aml_site_free(site);
		rc = -1;
	}
	for (size_t i = 0; i < ps.n_errors; i++)
		free(ps.errors[i].message);
	free(ps.errors);
	aml_conf_reader_free(&ps.rd);
	free(ps.info);
	free(ps.env_name_ok);
	free(ps.store_ok);
	free(ps.asset_ok);
	free(ps.account_ok);
	return rc;
}

/* Append to [errs] as if [path] had been given to aml_errors_init. */
static void load_error(struct aml_errors *errs, const char *path,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void load_error(struct aml_errors *errs, const char *path,
		       const char *fmt, ...)
{
	char *message = NULL, *file = strdup(path);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&message, fmt, ap);
	va_end(ap);
	add_error(errs, file, NULL, n < 0 ? "out of memory" : message);
	if (n >= 0)
		free(message);
	free(file);
}

int aml_site_load(const char *path, struct aml_site *site,
		  struct aml_errors *errs)
{
	char *buf = NULL, errbuf[128];
	size_t len = 0, cap;
	struct stat st;
	int fd, rc = -1;

	memset(site, 0, sizeof(*site));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		load_error(errs, path, "cannot read: %s",
			   strerror_r(errno, errbuf, sizeof(errbuf)));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		load_error(errs, path, "cannot read: %s",
			   strerror_r(errno, errbuf, sizeof(errbuf)));
		goto out;
	}
	/* A FIFO or a device would block or never end. */
	if (!S_ISREG(st.st_mode)) {
		load_error(errs, path, "cannot read: not a regular file");
		goto out;
	}
	if (st.st_size > (off_t)SITE_MAX_BYTES) {
		load_error(errs, path, "too large (more than %u bytes)",
			   SITE_MAX_BYTES);
		goto out;
	}
	/* Sized from fstat, grown if the file grew since, never past the
	 * limit (one byte more, to notice a file that did). */
	cap = (size_t)st.st_size + 1;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *grown;

			if (cap > SITE_MAX_BYTES) {
				load_error(errs, path, "too large (more than "
					   "%u bytes)", SITE_MAX_BYTES);
				goto out;
			}
			cap = cap * 2 > SITE_MAX_BYTES + 1 ?
			      SITE_MAX_BYTES + 1 : cap * 2;
			grown = realloc(buf, cap);
			if (!grown) {
				load_error(errs, path, "out of memory");
				goto out;
			}
			buf = grown;
		} else if (!buf && !(buf = malloc(cap))) {
			load_error(errs, path, "out of memory");
			goto out;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			load_error(errs, path, "cannot read: %s",
				   strerror_r(errno, errbuf, sizeof(errbuf)));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = aml_site_parse(buf, len, path, site, errs);
out:
	free(buf);
	close(fd);
	return rc;
}

int aml_site_default_path(char *buf, size_t len)
{
	const char *env = getenv("AML_CONF");
	int n;

	if (env && *env) {
		n = snprintf(buf, len, "%s", env);
	} else if ((env = getenv("SLURM_CONF")) && *env) {
		const char *slash = strrchr(env, '/');

		/* aml.conf sits beside slurm.conf, whatever that is called. */
		if (slash)
			n = snprintf(buf, len, "%.*s/aml.conf",
				     (int)(slash - env), env);
		else
			n = snprintf(buf, len, "aml.conf");
	} else {
		n = snprintf(buf, len, "/etc/slurm/aml.conf");
	}
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return -1;
	}
	return 0;
}

int aml_site_load_default(struct aml_site *site, char *errbuf,
			  size_t errlen)
{
	char path[PATH_MAX];
	struct aml_errors errs;
	int r;

	if (aml_site_default_path(path, sizeof(path)) < 0) {
		memset(site, 0, sizeof(*site));
		snprintf(errbuf, errlen,
			 "the path of aml.conf is too long (AML_CONF or SLURM_CONF)");
		return -1;
	}
	aml_errors_init(&errs, NULL);
	r = aml_site_load(path, site, &errs);
	if (r < 0)
		snprintf(errbuf, errlen, "%s%s",
			 errs.count ? errs.lines[0] : "out of memory",
			 errs.count > 1 ? " (and more errors)" : "");
	aml_errors_free(&errs);
	return r;
}

const struct aml_target *aml_site_find_target(const struct aml_site *site,
					      const char *name)
{
	if (!site || !name)
		return NULL;
	for (size_t i = 0; i < site->n_targets; i++)
		if (site->targets[i].name &&
		    strcmp(site->targets[i].name, name) == 0)
			return &site->targets[i];
	return NULL;
}

const struct aml_site_env *aml_site_find_env(const struct aml_site *site,
					     const char *name,
					     const char *version)
{
	const struct aml_site_env *best = NULL;

	if (!site || !name)
		return NULL;
	for (size_t i = 0; i < site->n_envs; i++) {
		const struct aml_site_env *e = &site->envs[i];

		if (!e->name || strcmp(e->name, name))
			continue;
		if (version) {
			if (e->version && !strcmp(e->version, version))
				return e;
			continue;
		}
		/* glibc's version order: "1.10" after "1.9", "10" after
		 * "9"; an unversioned line is the lowest. */
		if (!best || (e->version && (!best->version ||
			      strverscmp(e->version, best->version) > 0)))
			best = e;
	}
	return best;
}

void aml_site_free(struct aml_site *site)
{
	if (!site)
		return;
	free(site->path);
	free(site->history_dir);
	free(site->history_uri);
	free(site->history_credentials);
	free(site->snapshot_dir);
	free(site->run_dir);
	free(site->spool_dir);
	free(site->launcher);
	free(site->default_interpreter);
	free(site->default_target);
	for (size_t i = 0; i < site->n_targets; i++) {
		struct aml_target *t = &site->targets[i];

		free(t->name);
		free(t->partition);
		free(t->qos);
		free(t->account);
		free(t->gres);
		free(t->constraint);
		aml_conf_list_free(t->allow_users, t->n_allow_users);
		aml_conf_list_free(t->allow_accounts, t->n_allow_accounts);
	}
	free(site->targets);
	free(site->env_dir);
	free(site->image_dir);
	free(site->data_cache_dir);
	free(site->data_download_ca_file);
	free(site->container_auth_file);
	free(site->container_cert_dir);
	aml_conf_list_free(site->container_registries,
			   site->n_container_registries);
	free_argv(site->container_runtime_args);
	free_argv(site->container_builder_args);
	free(site->modules_init);
	free(site->conda_command);
	free(site->default_environment);
	aml_strlist_free(&site->pip_options);
	for (size_t i = 0; i < site->n_envs; i++) {
		struct aml_site_env *e = &site->envs[i];

		free(e->name);
		free(e->version);
		free(e->prefix);
		free(e->interpreter);
		free(e->image);
		aml_conf_list_free(e->modules, e->n_modules);
		aml_kvlist_free(&e->vars);
	}
	free(site->envs);
	aml_datamap_free(&site->data);
	memset(site, 0, sizeof(*site));
}
