/*
 * site.h: the site policy, aml.conf.
 *
 * One file beside slurm.conf, in slurm.conf's own style, read by both
 * plugins and the tools:
 *
 *     # comment
 *     HistoryDir=/shared/aml/history
 *     DefaultTarget=cpu
 *     ComputeTarget=gpu-cluster Partition=gpu Gres=gpu:4 MaxNodes=64 \
 *         MaxTime=2-00:00:00 AllowAccounts=ml,vision
 *
 * Keys are case-insensitive; values are not.  A line ending in '\' continues
 * on the next.  An unknown key, a bad value or a duplicate is an error naming
 * the file and line ("aml.conf: line 7: MaxNodes: must be a whole number from
 * 1 to 100000, got \"sixty\"").  All errors are reported, not just the first.
 *
 * Global keys (defaults in brackets):
 *   HistoryDir=PATH             run history root [/var/lib/aml/history]
 *   HistoryBackend=file|mlflow  [file]
 *   HistoryURI=URI              required when HistoryBackend=mlflow
 *   HistoryCredentials=PATH     file with the REST credentials; "~/..."
 *                               is in each writer's own home
 *   HistoryTimeout=SECONDS      how long run history may go without
 *                               answering, on any backend (a REST
 *                               request; one filesystem operation on
 *                               HistoryDir; the launcher's live log) [10]
 *   HistoryProbeInterval=SECONDS  once run history has not answered, the
 *                               writes of that user on that machine queue
 *                               in the spool without trying it for this
 *                               long, doubled at each failed probe (at
 *                               most 20 times); 0: every write tries [15]
 *   HistoryLogInterval=SECONDS  where run history stores logs whole
 *                               (MLflow), how often the launcher puts the
 *                               run's growing logs there while it runs;
 *                               0: only at the end [15]
 *   RunVisibility=private|shared  run directories 0700 or 0755 [private]
 *   SnapshotDir=PATH            snapshot store root [/var/lib/aml/snapshots]
 *   SnapshotMaxSize=SIZE        bytes, with K/M/G/T suffix (binary) [300M]
 *   SnapshotMaxFiles=N          [2000]
 *   RunDir=PATH                 per-run working directories on nodes
 *                               [/tmp/aml-runs]
 *   SpoolDir=PATH               local disk where writes wait while run
 *                               history is unavailable; created 1777 by
 *                               the admin, one 0700 directory per user
 *                               inside [/var/spool/aml]
 *   Launcher=PATH               the program a run's batch script starts
 *                               [aml-launch where slurm-aml installed it]
 *   KeepFailedRunDir=BOOL       keep a node's run directory after failure [no]
 *   KeptRunDirMax=SIZE          the most a node keeps, in all, of run
 *                               directories whose outputs or logs could
 *                               reach neither run history nor the spool
 *                               (node_rundir.h); past it such a directory
 *                               is removed, said loudly and recorded in
 *                               its run (aml.outputs_lost.<node>).  Bytes
 *                               with K/M/G/T suffix, or UNLIMITED [UNLIMITED]
 *   ContainerRuntime=none|podman|charliecloud|apptainer|pyxis
 *                               how a run's container image is run on the
 *                               nodes; none: runs asking for an image are
 *                               refused at submit [none]
 *   ContainerRegistries=HOST[:PORT],...  the registries runs may pull
 *                               from ("docker.io" for Docker Hub's short
 *                               names) [any]
 *   ContainerAuthFile=PATH      registry credentials the site gives
 *                               (a containers-auth.json, skopeo's
 *                               --authfile); runs may not write their own
 *   ContainerCertDir=PATH       CA certificates for the registries
 *                               (skopeo's --src-cert-dir)
 *   ContainerRuntimeArgs="OPTIONS"  given to the runtime before its
 *                               subcommand, split at blanks (rootless
 *                               podman on hybrid cgroups: "--runtime=runc
 *                               --cgroup-manager=cgroupfs")
 *   ImageDir=PATH               the nodes' image cache, pulled and unpacked
 *                               once per digest; 1777 like EnvDir
 *                               [/var/lib/aml/images]
 *   ContainerBuilder=none|podman  builds runs' Dockerfiles and build
 *                               contexts on the node, once per content,
 *                               into ImageDir [none: refused]
 *   ContainerBuilderArgs="..."  the builder's options before its
 *                               subcommand, as ContainerRuntimeArgs
 *   DefaultInterpreter=PATH     interpreter for `script` [python3]
 *   FinalizeGrace=SECONDS       added to the Slurm time limit so outputs can
 *                               be uploaded after the run's deadline [120]
 *   DefaultTarget=NAME          target for compute_target "local" or absent
 *                               [the first ComputeTarget]
 *   MaxConfigSize=SIZE          a run configuration's bytes, as written and
 *                               as the controller receives it [1M]
 *   MaxEnvironmentVariables=N   a run's environment variables [4096]
 *   MaxArguments=N              its arguments or command words [4096]
 *   MaxArgumentsSize=SIZE       their bytes, or the command line's [256K]
 *                               (these four bound what one submission costs
 *                               slurmctld; runconfig.h, struct
 *                               aml_run_limits)
 *   EnvDir=PATH                 where runs' pip/conda environments are
 *                               built, once per content; on a filesystem
 *                               every node sees, 1777 like SpoolDir
 *                               [/var/lib/aml/envs]
 *   PipOptions="OPTIONS"        given to every pip build, split at blanks
 *                               (an index: "--index-url=URL", or a
 *                               wheelhouse: "--no-index --find-links=DIR")
 *   CondaCommand=PATH           a conda, mamba or micromamba, for what pip
 *                               alone cannot build; none: such runs are
 *                               refused at submit
 *   ModulesInit=PATH            the shell script that defines `module`
 *                               [/usr/share/lmod/lmod/init/profile]
 *   DefaultEnvironment=NAME[:VERSION]  the environment of runs that name
 *                               none and define none [none: DefaultInterpreter]
 *   Placement=hwloc|slurm|none  each task's cores and GPU on its node
 *                               (placement_node.h): hwloc places every
 *                               task near its GPU unless Slurm already
 *                               bound it; slurm keeps Slurm's binding;
 *                               none touches nothing [hwloc]
 *   DataDownloadHosts=HOST,*.DOMAIN,...  where a run's https:// inputs
 *                               may be downloaded from (data_url.h)
 *                               [none: such inputs refused at submit]
 *   DataDownloadMax=SIZE        the largest file downloaded, K/M/G/T
 *                               [10G]
 *   DataCacheDir=PATH           the nodes' download cache, once per URL
 *                               and version, one 0700 directory per
 *                               user; 1777 like ImageDir
 *                               [/var/lib/aml/data]
 *   DataDownloadCAFile=PATH     the CA certificates (PEM) downloads
 *                               trust [the system's]
 *
 * ComputeTarget=NAME lines, one per target, with these keys on the line:
 *   Partition=NAME (required), QOS=NAME, Account=NAME, Gres=SPEC (per node,
 *   as in --gres: "gpu:4", "gpu:a100:8"), Constraint=EXPR, MaxNodes=N,
 *   MaxTime=TIME (Slurm's time format: MIN, MIN:SEC, H:M:S, D-H, D-H:M,
 *   D-H:M:S, or UNLIMITED), MaxProcessesPerNode=N, AllowUsers=a,b,
 *   AllowAccounts=a,b, Default=YES|NO.
 *
 * Environment=NAME[:VERSION] lines, the site's catalogue (environment.h),
 * one per name and version, with at least one of:
 *   Prefix=PATH (a prebuilt venv or conda env), Interpreter=PATH|COMMAND
 *   (not with Prefix), Modules=a,b (module names, loaded in order),
 *   Image=REF (a container image, image_ref.h; not with Prefix or
 *   Modules, Interpreter is then inside the image, and ContainerRuntime
 *   must not be none), and any number of Env=NAME=VALUE.
 *
 * Datastore=NAME lines map an Azure ML datastore to a directory on the
 * cluster's filesystems (datamap.h): Path=DIR (required, absolute),
 * Default=YES|NO (at most one default: ${{default_datastore}}).
 * DataAsset=NAME:VERSION lines map one version of a data asset:
 * Path=PATH (required, absolute), Type=uri_file|uri_folder (what a run
 * may use it as; not given: either).  DataStorageAccount=ACCOUNT lines
 * map an Azure storage account: Path=DIR (required), each container a
 * directory below it (wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/P
 * is DIR/CONTAINER/P).  A name, or name and version, mapped twice is an
 * error.
 *
 * Paths must be absolute.  Booleans accept yes/no, true/false, 1/0, on/off.
 *
 * The lines are read by conf_lines.h, the values by conf_values.h (which
 * also reads and writes Slurm's time format); this is the policy: the
 * keys, what each allows, and the rules across lines.
 */
#ifndef AML_SITE_H
#define AML_SITE_H

#include <stdint.h>
#include <stddef.h>

#include "datamap.h"
#include "errors.h"
#include "kvlist.h"
#include "placement_mode.h"
#include "run_limits.h"
#include "strlist.h"

/* "No limit" for the numeric limits below, as Slurm's INFINITE. */
#define AML_SITE_UNLIMITED UINT32_MAX
#define AML_SITE_UNLIMITED64 UINT64_MAX

enum aml_history_backend {
	AML_HISTORY_FILE,
	AML_HISTORY_MLFLOW,
};

enum aml_run_visibility {
	AML_RUNS_PRIVATE, /* 0700 */
	AML_RUNS_SHARED,  /* 0755 */
};

/* APPTAINER stays last: site.c tries every name up to it. */
enum aml_container_runtime {
	AML_CONTAINER_NONE,
	AML_CONTAINER_PYXIS,
	AML_CONTAINER_PODMAN,
	AML_CONTAINER_CHARLIECLOUD,
	AML_CONTAINER_APPTAINER,
};

struct aml_target {
	char *name;
	char *partition;
	char *qos;          /* NULL: the job's own / Slurm's default */
	char *account;      /* NULL: the job's own / the user's default */
	char *gres;         /* per node, as written: "gpu:4"; NULL for none */
	char *constraint;   /* NULL for none */
	uint32_t max_nodes;               /* AML_SITE_UNLIMITED if unset */
	uint64_t max_time_seconds;        /* AML_SITE_UNLIMITED64 if unset */
	uint32_t max_processes_per_node;  /* AML_SITE_UNLIMITED if unset */
	char **allow_users;               /* NULL when no user list */
	size_t n_allow_users;
	char **allow_accounts;            /* NULL when no account list */
	size_t n_allow_accounts;
	int line;                         /* where it was defined */
};

/*
 * An environment the site provides by name (an Environment= line): what a
 * run that names it (Azure ML's curated names, or the site's own) runs in.
 * Its interpreter: Interpreter=, else PREFIX/bin/python, else python3 as
 * the Modules leave PATH.
 */
struct aml_site_env {
	char *name;
	char *version;              /* NULL: unversioned */
	char *prefix;               /* a prebuilt venv or conda env; NULL */
	char *interpreter;          /* absolute path or command name; NULL;
				     * with an image, the one inside it */
	char *image;                /* Image=, as written (valid, image_ref.h);
				     * NULL: no container */
	char **modules;             /* loaded in this order */
	size_t n_modules;
	struct aml_kvlist vars;     /* Env=NAME=VALUE, in order */
	int line;                   /* where it was defined */
};

struct aml_site {
	char *path;                 /* file it came from, for messages */
	char *history_dir;
	enum aml_history_backend history_backend;
	char *history_uri;
	char *history_credentials;
	enum aml_run_visibility run_visibility;
	char *snapshot_dir;
	uint64_t snapshot_max_bytes;
	uint32_t snapshot_max_files;
	char *run_dir;
	char *spool_dir;
	char *launcher;             /* NULL: the installed aml-launch */
	int keep_failed_run_dir;
	uint64_t kept_run_dir_max;  /* AML_SITE_UNLIMITED64 if unset */
	enum aml_container_runtime container_runtime;
	char **container_registries;   /* NULL: any registry */
	size_t n_container_registries;
	char *container_auth_file;     /* NULL: none */
	char *container_cert_dir;      /* NULL: none */
	char **container_runtime_args; /* NULL-terminated; NULL: none */
	size_t n_container_runtime_args;
	char *image_dir;               /* ImageDir: the node's image cache */
	int container_builder_podman;  /* ContainerBuilder=podman */
	char **container_builder_args; /* ContainerBuilderArgs: podman's
					* global options for builds;
					* NULL-terminated; NULL: none */
	size_t n_container_builder_args;
	char *default_interpreter;
	uint32_t finalize_grace_seconds;
	uint32_t history_timeout_seconds;
	uint32_t history_probe_interval_seconds;  /* 0: no breaker */
	uint32_t history_log_interval_seconds;    /* 0: logs at the end only */
	struct aml_run_limits limits;  /* MaxConfigSize and the other caps */
	char *default_target;       /* resolved: never NULL after a successful
				     * parse with at least one target */
	struct aml_target *targets;
	size_t n_targets;
	/* Environments (environment.h) */
	char *env_dir;              /* EnvDir: built environments */
	struct aml_strlist pip_options; /* PipOptions, split at blanks */
	char *conda_command;        /* CondaCommand; NULL: none */
	char *modules_init;         /* ModulesInit: the shell's module init */
	char *default_environment;  /* DefaultEnvironment, as written; NULL */
	enum aml_placement_mode placement; /* Placement= */
	struct aml_site_env *envs;
	size_t n_envs;
	/* Datastore=, DataAsset= and DataStorageAccount= lines, and
	 * DataDownloadHosts= (datamap.h) */
	struct aml_datamap data;
	uint64_t data_download_max;  /* DataDownloadMax: bytes per file */
	char *data_cache_dir;        /* DataCacheDir: downloads, per user */
	char *data_download_ca_file; /* DataDownloadCAFile; NULL: the
				      * system's CAs */
};

/*
 * Fill [site] with the built-in defaults and no targets.  Returns 0, or -1
 * when memory runs out.
 */
int aml_site_defaults(struct aml_site *site);

/*
 * Parse [len] bytes of aml.conf text.  [filename] is used in messages.
 * Fills [site] (defaults for what the text leaves out) and returns 0; on any
 * error returns -1 with every problem in [errs] and [site] freed.
 * At least one ComputeTarget is required; DefaultTarget must name one.
 */
int aml_site_parse(const char *text, size_t len, const char *filename,
		   struct aml_site *site, struct aml_errors *errs);

/*
 * Read and parse the file at [path].  Errors as aml_site_parse, plus one
 * line when the file cannot be read.
 */
int aml_site_load(const char *path, struct aml_site *site,
		  struct aml_errors *errs);

/*
 * The path of aml.conf to use: $AML_CONF if set, else aml.conf in the
 * directory of $SLURM_CONF if set, else /etc/slurm/aml.conf.  Writes into
 * [buf] of [len] bytes; returns -1 if it does not fit.
 */
int aml_site_default_path(char *buf, size_t len);

/*
 * Load aml.conf from aml_site_default_path's place into [site], for a
 * caller that has one line to say why not: returns 0, or -1 with the
 * first error in errbuf (" (and more errors)" after it when there were).
 */
int aml_site_load_default(struct aml_site *site, char *errbuf,
			  size_t errlen);

/*
 * The catalogue's environment [name] (exact, case-sensitive) at [version],
 * or its highest version when [version] is NULL (versions compare as
 * dotted numbers where they are, as text elsewhere: "10" > "9" > "1.2"),
 * or NULL.
 */
const struct aml_site_env *aml_site_find_env(const struct aml_site *site,
					     const char *name,
					     const char *version);

/* "none", "pyxis", "podman"... as aml.conf writes them. */
const char *aml_container_runtime_name(enum aml_container_runtime r);

/*
 * The target called [name] (exact, case-sensitive), or NULL.
 */
const struct aml_target *aml_site_find_target(const struct aml_site *site,
					      const char *name);

void aml_site_free(struct aml_site *site);

#endif
