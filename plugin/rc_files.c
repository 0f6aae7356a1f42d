/*
 * rc_files.c: what a configuration names on the user's filesystem, done
 * where the user is (sbatch, aml-run) and never in the controller, which
 * reads no file: the source directory and the script are checked, and the
 * environment file and the conda file are read into the model, so that
 * the canonical form carries what they say (runconfig.h:
 * aml_runconfig_read_files).  Also the one way a small file is opened to
 * be read whole here (rc_open_regular), which aml_runconfig_load uses for
 * the configuration itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "rc_internal.h"

int rc_open_regular(const char *path, const char *field, uint64_t *size,
		    struct aml_errors *errs)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO put in the file's place opens at once (and is
	 * refused below) instead of waiting for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) < 0) {
		aml_errors_add(errs, field, "cannot read %s: %s", path,
			       strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		aml_errors_add(errs, field, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* [path] whole, at most AML_ENV_FILE_MAX bytes, into [*text] (NUL-ended)
 * and [*len]; 0, or -1 with the error at [field]. */
static int read_small(const char *path, const char *field, char **text,
		      size_t *len, struct aml_errors *errs)
{
	uint64_t size;
	int fd = rc_open_regular(path, field, &size, errs), r = -1;

	if (fd < 0)
		return -1;
	if (size > AML_ENV_FILE_MAX)
		aml_errors_add(errs, field, "%s is %llu bytes, at most %u",
			       path, (unsigned long long)size,
			       AML_ENV_FILE_MAX);
	else if (aml_read_fd(fd, AML_ENV_FILE_MAX, text, len) < 0)
		aml_errors_add(errs, field, "cannot read %s: %s", path,
			       strerror(errno));
	else
		r = 0;
	close(fd);
	return r;
}

/* [text], parsed, when it is an object ([what] names what it should be
 * in the message); else NULL with the error in [sub]. */
static struct aml_node *parse_object(const char *text, size_t len,
				     const char *what,
				     struct aml_errors *sub)
{
	struct aml_node *root = aml_doc_parse(text, len, AML_DOC_AUTO, sub);
	char shown[96];

	if (!root || root->type == AML_NODE_OBJECT)
		return root;
	aml_doc_describe(root, shown, sizeof(shown));
	aml_errors_add(sub, NULL, "%s must be an object of fields, got %s",
		       what, shown);
	aml_doc_free(root);
	return NULL;
}

/* [sub]'s lines (each naming the file read) into [errs] at [field]. */
static void fold_errors(struct aml_errors *errs, const char *field,
			struct aml_errors *sub)
{
	for (size_t i = 0; i < sub->count; i++)
		aml_errors_add(errs, field, "%s", sub->lines[i]);
	if (sub->out_of_memory)
		aml_errors_add(errs, field, "out of memory");
	aml_errors_free(sub);
}

/* A reader's context for a file read here: its errors in [sub], its
 * relative paths against [base_dir]. */
static void file_ctx(struct rc_ctx *ctx, struct aml_runconfig *rc,
		     const char *base_dir, const struct aml_run_limits *limits,
		     struct aml_errors *sub)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->errs = sub;
	ctx->rc = rc;
	ctx->base_dir = base_dir;
	ctx->limits = limits;
}

/* The environment file of a "file:" reference: Azure ML's environment
 * YAML, read as an inline definition would be, its paths relative to its
 * own directory. */
static void read_environment_file(struct aml_runconfig *rc,
				  const struct aml_run_limits *limits,
				  struct aml_errors *errs)
{
	char *path = rc->environment.environment_file, *dir = NULL;
	char *text = NULL;
	size_t len;
	struct aml_node *root = NULL;
	struct aml_errors sub;
	struct rc_ctx ctx;

	rc->environment.environment_file = NULL;
	aml_errors_init(&sub, path);
	if (read_small(path, "environment", &text, &len, errs) < 0)
		goto out;
	root = parse_object(text, len, "an environment file", &sub);
	dir = rc_join_normalise(path, "..");
	if (!dir)
		aml_errors_add(&sub, NULL, "out of memory");
	if (root && dir) {
		file_ctx(&ctx, rc, dir, limits, &sub);
		rc_read_v2_definition(&ctx, root, "", "an environment file");
	}
out:
	fold_errors(errs, "environment", &sub);
	aml_doc_free(root);
	free(text);
	free(dir);
	free(path);
}

/* Where the conda file was given, as the user's form spells it. */
static const char *conda_file_field(const struct aml_runconfig *rc)
{
	switch (rc->form) {
	case AML_FORM_RUN_CONFIGURATION:
		return "environment.python.condaDependenciesFile";
	case AML_FORM_COMMAND_JOB:
		return "environment.conda_file";
	case AML_FORM_SCRIPT_RUN_CONFIG:
		break;
	}
	return "environment.python.conda_dependencies_file";
}

/* The conda file into conda_dependencies, as compact JSON.  One already
 * there is the inline specification, refused beside a file, unless it is
 * the file's own content (a canonical form, which keeps both, read
 * again). */
static void read_conda_file(struct aml_runconfig *rc, struct aml_errors *errs)
{
	struct aml_environment *env = &rc->environment;
	const char *field = conda_file_field(rc);
	char *text = NULL, *json = NULL;
	size_t len;
	struct aml_node *root = NULL;
	struct aml_errors sub;
	struct rc_ctx ctx;

	aml_errors_init(&sub, env->conda_dependencies_file);
	if (read_small(env->conda_dependencies_file, field, &text, &len,
		       errs) < 0)
		goto out;
	root = parse_object(text, len, "a conda specification", &sub);
	if (!root)
		goto out;
	file_ctx(&ctx, rc, NULL, NULL, &sub);
	if (rc_read_json_text(&ctx, root, "", &json) < 0)
		goto out;
	if (!env->conda_dependencies) {
		env->conda_dependencies = json;
		json = NULL;
	} else if (strcmp(env->conda_dependencies, json)) {
		aml_errors_add(errs, field,
			       "the conda specification is given both inline and in a file (%s); keep one",
			       env->conda_dependencies_file);
	}
out:
	fold_errors(errs, field, &sub);
	aml_doc_free(root);
	free(text);
	free(json);
}

int aml_runconfig_check_read(const struct aml_runconfig *rc,
			     struct aml_errors *errs)
{
	const struct aml_environment *env = &rc->environment;
	int r = 0;

	if (env->environment_file) {
		aml_errors_add(errs, "environment",
			       "the environment file %s was not read: sbatch reads it and hands on what it says; submit with sbatch --aml-run",
			       env->environment_file);
		r = -1;
	}
	if (env->conda_dependencies_file && !env->conda_dependencies) {
		aml_errors_add(errs, conda_file_field(rc),
			       "%s was not read: sbatch reads the conda file and hands on its specification; submit with sbatch --aml-run",
			       env->conda_dependencies_file);
		r = -1;
	}
	return r;
}

static void check_regular_inside(struct aml_errors *errs, const char *field,
				 const char *dir, const char *path)
{
	char *full = path[0] == '/' ? strdup(path)
				    : rc_join_normalise(dir, path);
	struct stat st;

	if (!full) {
		aml_errors_add(errs, field, "out of memory");
		return;
	}
	if (stat(full, &st) < 0)
		aml_errors_add(errs, field, "%s: %s", full, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		aml_errors_add(errs, field, "%s is not a regular file", full);
	free(full);
}

/*
 * A data input is there, and is what its type says, as the run's user
 * sees it (stat follows links: a datastore may well be a link farm).
 * Only this side can look: the controller must not touch user paths.
 */
static void check_data_use(const struct aml_data_use *u,
			   struct aml_errors *errs)
{
	struct stat st;

	if (stat(u->path, &st) < 0) {
		aml_errors_add(errs, u->field, "%s: %s", u->path,
			       strerror(errno));
		return;
	}
	if (u->kind == AML_DATA_FILE && !S_ISREG(st.st_mode))
		aml_errors_add(errs, u->field,
			       "%s is not a regular file, and type %s needs one",
			       u->path, u->type ? u->type : "uri_file");
	else if (u->kind == AML_DATA_FOLDER && !S_ISDIR(st.st_mode))
		aml_errors_add(errs, u->field,
			       "%s is not a directory, and type %s needs one",
			       u->path, u->type ? u->type : "uri_folder");
	else if (u->kind == AML_DATA_ANY && !S_ISREG(st.st_mode) &&
		 !S_ISDIR(st.st_mode))
		aml_errors_add(errs, u->field,
			       "%s is neither a regular file nor a directory",
			       u->path);
}

int aml_runconfig_read_files(struct aml_runconfig *rc,
			     const struct aml_run_limits *limits,
			     struct aml_errors *errs)
{
	size_t before = errs->count, before_env;
	struct aml_run_limits defaults;
	struct stat st;

	if (stat(rc->source_directory, &st) < 0) {
		aml_errors_add(errs, "source_directory", "%s: %s",
			       rc->source_directory, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		aml_errors_add(errs, "source_directory",
			       "%s is not a directory", rc->source_directory);
		return -1;
	}
	if (rc->script)
		check_regular_inside(errs, "script", rc->source_directory,
				     rc->script);
	if (!limits) {
		aml_run_limits_default(&defaults);
		limits = &defaults;
	}
	for (size_t i = 0; i < rc->n_data_uses; i++)
		check_data_use(&rc->data_uses[i], errs);
	before_env = errs->count;
	if (rc->environment.environment_file)
		read_environment_file(rc, limits, errs);
	/* A conda file named by an environment file that was refused is
	 * not looked for: its errors would only repeat that one. */
	if (rc->environment.conda_dependencies_file &&
	    errs->count == before_env)
		read_conda_file(rc, errs);
	return errs->count > before || errs->out_of_memory ? -1 : 0;
}
