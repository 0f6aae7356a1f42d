/*
 * aml-run snapshot: the user's snapshot store by hand.  sbatch takes
 * snapshots by itself; these commands are for seeing what a snapshot holds,
 * reproducing a run's code, and housekeeping.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "gitinfo.h"
#include "manifest.h"
#include "site.h"
#include "snapshot.h"
#include "store.h"
#include "text.h"
#include "tools.h"

static const char usage[] =
	"Usage: aml-run snapshot create [--conf PATH] [--id-only] DIR\n"
	"       aml-run snapshot show [--conf PATH] ID\n"
	"       aml-run snapshot install [--conf PATH] ID DIR\n"
	"       aml-run snapshot gc [--conf PATH] --older-than DAYS\n"
	"\n"
	"Snapshots are what sbatch --aml-run stores of a source directory: every\n"
	"file by its SHA-256 in your store under the site's SnapshotDir, and a\n"
	"manifest whose SHA-256 is the snapshot id.\n"
	"\n"
	"  create DIR      snapshot DIR (its .amlignore, else .gitignore, applies);\n"
	"                  only files changed since the last snapshot are read\n"
	"  show ID         list what snapshot ID holds\n"
	"  install ID DIR  write snapshot ID into DIR (new or empty), verifying\n"
	"                  every file against its hash\n"
	"  gc              remove snapshots not used for DAYS days, and the file\n"
	"                  contents no remaining snapshot needs\n"
	"\n"
	"  --conf PATH     site policy (default: as aml-run check-config)\n"
	"  --id-only       print only the snapshot id\n"
	"  --older-than N  with gc: the age in days\n"
	"  -h, --help      show this help\n"
	"\n"
	"Exit status: 0 done, 2 refused (the reasons are on stderr), 64 usage.\n";

struct options {
	const char *conf;
	int id_only;
	long older_than;
};

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* A snapshot id as the user typed it: say so plainly when it is not one,
 * rather than report a missing file in the store. */
static int check_id(const char *id)
{
	if (aml_sha256_is_hex(id))
		return 0;
	fprintf(stderr, "aml-run snapshot: \"%s\" is not a snapshot id (64 lower-case hex digits, as aml-run snapshot create prints)\n",
		id);
	return -1;
}

/* Load the site policy and open the caller's store in it. */
static int open_store(const struct options *o, int create,
		      struct aml_site *site, struct aml_store *store)
{
	char errbuf[512];
	struct passwd *pw = getpwuid(geteuid());
	int status;

	if (!pw) {
		fprintf(stderr, "aml-run snapshot: cannot find the name of uid %u\n",
			(unsigned)geteuid());
		return AML_EXIT_FAILURE;
	}
	status = tool_load_site("snapshot", o->conf, site);
	if (status != AML_EXIT_OK)
		return status;
	if (aml_store_open(store, site->snapshot_dir, pw->pw_name, create,
			   errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "aml-run snapshot: %s\n", errbuf);
		aml_site_free(site);
		return AML_EXIT_INVALID;
	}
	return AML_EXIT_OK;
}

static void show_progress(const struct aml_capture_stats *st, void *arg)
{
	char read[32], added[32];

	*(int *)arg = 1;
	aml_format_bytes(st->hashed_bytes, read, sizeof(read));
	aml_format_bytes(st->new_bytes, added, sizeof(added));
	fprintf(stderr, "\rsnapshot: %llu files, read %llu (%s), %s new   ",
		(unsigned long long)st->files,
		(unsigned long long)st->hashed_files, read, added);
	fflush(stderr);
}

static int snapshot_create(const struct options *o, const char *dir)
{
	struct aml_site site;
	struct aml_store store;
	struct aml_errors errs;
	struct aml_capture_stats st;
	struct aml_snapshot_limits limits;
	struct aml_kvlist git = { 0 };
	char id[AML_SHA256_HEX_LEN + 1], total[32], read[32], added[32];
	char errbuf[512];
	int status = open_store(o, 1, &site, &store), progress, shown = 0;

	if (status != AML_EXIT_OK)
		return status;
	limits.max_bytes = site.snapshot_max_bytes;
	limits.max_files = site.snapshot_max_files;
	progress = !o->id_only && isatty(STDERR_FILENO);
	aml_errors_init(&errs, dir);
	if (aml_snapshot_capture(dir, &store, &limits,
				 progress ? show_progress : NULL, &shown, id,
				 &st, &errs) < 0) {
		if (shown)
			fputc('\n', stderr);
		tool_print_errors(&errs);
		status = AML_EXIT_INVALID;
		goto out;
	}
	if (shown)
		fputc('\n', stderr);
	if (o->id_only) {
		printf("%s\n", id);
		goto out;
	}
	aml_format_bytes(st.bytes, total, sizeof(total));
	aml_format_bytes(st.hashed_bytes, read, sizeof(read));
	aml_format_bytes(st.new_bytes, added, sizeof(added));
	printf("snapshot %s: %llu file%s, %s%s\n", id,
	       (unsigned long long)st.files, plural(st.files), total,
	       st.manifest_written ? "" : " (unchanged)");
	printf("  read %llu file%s (%s), stored %llu new (%s), ignored %llu\n",
	       (unsigned long long)st.hashed_files, plural(st.hashed_files),
	       read, (unsigned long long)st.new_files, added,
	       (unsigned long long)st.ignored);
	if (aml_git_properties(dir, &git, errbuf, sizeof(errbuf)) < 0)
		fprintf(stderr, "aml-run snapshot: git: %s\n", errbuf);
	for (size_t i = 0; i < git.count; i++)
		if (!strncmp(git.items[i].key, "azureml.", 8))
			printf("  %s = %s\n", git.items[i].key,
			       git.items[i].value);
out:
	aml_kvlist_free(&git);
	aml_errors_free(&errs);
	aml_store_close(&store);
	aml_site_free(&site);
	return status;
}

static int snapshot_show(const struct options *o, const char *id)
{
	struct aml_site site;
	struct aml_store store;
	struct aml_manifest m = { 0 };
	char *text = NULL, errbuf[512], total[32];
	size_t len;
	int status;

	if (check_id(id) < 0)
		return AML_EXIT_INVALID;
	status = open_store(o, 0, &site, &store);
	if (status != AML_EXIT_OK)
		return status;
	if (aml_store_read_manifest(&store, id, &text, &len, errbuf,
				    sizeof(errbuf)) < 0 ||
	    aml_manifest_decode(text, len, &m, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "aml-run snapshot show: %s\n", errbuf);
		status = AML_EXIT_INVALID;
		goto out;
	}
	aml_format_bytes(aml_manifest_total_bytes(&m), total, sizeof(total));
	printf("snapshot %s: %zu entries, %s\n", id, m.count, total);
	for (size_t i = 0; i < m.count; i++) {
		const struct aml_manifest_entry *e = &m.entries[i];
		time_t seconds = (time_t)(e->mtime_ns / 1000000000LL);
		char when[32], shown[AML_MANIFEST_PATH_MAX * 4 + 8];
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
			 localtime_r(&seconds, &tm));
		aml_text_escape(e->path, shown, sizeof(shown));
		if (e->type == AML_ENTRY_SYMLINK) {
			printf("l %12s  %s  %s -> %s\n", "-", when, shown,
			       e->target);
		} else {
			printf("%c %12llu  %s  %s\n", e->executable ? 'x' : '-',
			       (unsigned long long)e->size, when, shown);
		}
	}
out:
	aml_manifest_free(&m);
	free(text);
	aml_store_close(&store);
	aml_site_free(&site);
	return status;
}

static int snapshot_install(const struct options *o, const char *id,
			    const char *dir)
{
	struct aml_site site;
	struct aml_store store;
	struct aml_errors errs;
	struct aml_install_stats st;
	char total[32];
	int status;

	if (check_id(id) < 0)
		return AML_EXIT_INVALID;
	status = open_store(o, 0, &site, &store);
	if (status != AML_EXIT_OK)
		return status;
	aml_errors_init(&errs, NULL);
	if (aml_snapshot_install(&store, id, dir, &st, &errs) < 0) {
		tool_print_errors(&errs);
		status = AML_EXIT_INVALID;
	} else {
		aml_format_bytes(st.bytes, total, sizeof(total));
		printf("installed snapshot %s into %s: %llu file%s, %s (%llu by reflink)\n",
		       id, dir, (unsigned long long)st.files, plural(st.files),
		       total, (unsigned long long)st.cloned);
	}
	aml_errors_free(&errs);
	aml_store_close(&store);
	aml_site_free(&site);
	return status;
}

static int snapshot_gc(const struct options *o)
{
	struct aml_site site;
	struct aml_store store;
	struct aml_gc_stats st = { 0 };
	char errbuf[512], freed[32];
	int status = open_store(o, 0, &site, &store);

	if (status != AML_EXIT_OK)
		return status;
	if (aml_store_gc(&store, (unsigned)o->older_than, &st, errbuf,
			 sizeof(errbuf)) < 0) {
		fprintf(stderr, "aml-run snapshot gc: %s\n", errbuf);
		status = AML_EXIT_FAILURE;
	} else {
		aml_format_bytes(st.bytes_removed, freed, sizeof(freed));
		printf("removed %llu snapshot%s, %llu file content%s (%s) and %llu leftover temporar%s; kept %llu snapshot%s and %llu file content%s\n",
		       (unsigned long long)st.manifests_removed,
		       plural(st.manifests_removed),
		       (unsigned long long)st.blobs_removed,
		       plural(st.blobs_removed), freed,
		       (unsigned long long)st.temporaries_removed,
		       st.temporaries_removed == 1 ? "y" : "ies",
		       (unsigned long long)st.manifests_kept,
		       plural(st.manifests_kept),
		       (unsigned long long)st.blobs_kept, plural(st.blobs_kept));
		/* A snapshot that does not verify is kept (and so are its
		 * files): say so, the store needs a look. */
		if (st.manifests_invalid)
			fprintf(stderr, "aml-run snapshot gc: %llu snapshot%s did not verify and %s kept; first: %s\n",
				(unsigned long long)st.manifests_invalid,
				plural(st.manifests_invalid),
				st.manifests_invalid == 1 ? "was" : "were",
				errbuf);
	}
	aml_store_close(&store);
	aml_site_free(&site);
	return status;
}

int cmd_snapshot(int argc, char **argv)
{
	static const struct option options[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "id-only", no_argument, NULL, 'i' },
		{ "older-than", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .older_than = -1 };
	const char *action;
	char *end;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.conf = optarg;
			break;
		case 'i':
			o.id_only = 1;
			break;
		case 'o':
			o.older_than = strtol(optarg, &end, 10);
			if (*end || end == optarg || o.older_than < 0 ||
			    o.older_than > 100000)
				return tool_usage_error("snapshot",
							"--older-than must be a number of days from 0 to 100000, got \"%s\"",
							optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return AML_EXIT_OK;
		case ':':
			return tool_usage_error("snapshot",
						"option %s needs a value",
						argv[optind - 1]);
		default:
			return tool_usage_error("snapshot", "unknown option %s",
						argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return tool_usage_error("snapshot",
					"expected create, show, install or gc");
	action = argv[optind++];
	argc -= optind;
	argv += optind;
	/* An option meant for another action is a mistake worth saying. */
	if (o.id_only && strcmp(action, "create"))
		return tool_usage_error("snapshot",
					"--id-only goes with create only");
	if (o.older_than >= 0 && strcmp(action, "gc"))
		return tool_usage_error("snapshot",
					"--older-than goes with gc only");
	if (!strcmp(action, "create") && argc == 1)
		return snapshot_create(&o, argv[0]);
	if (!strcmp(action, "show") && argc == 1)
		return snapshot_show(&o, argv[0]);
	if (!strcmp(action, "install") && argc == 2)
		return snapshot_install(&o, argv[0], argv[1]);
	if (!strcmp(action, "gc") && argc == 0) {
		if (o.older_than < 0)
			return tool_usage_error("snapshot",
						"gc needs --older-than DAYS");
		return snapshot_gc(&o);
	}
	return tool_usage_error("snapshot",
				"expected create DIR, show ID, install ID DIR or gc --older-than DAYS");
}
