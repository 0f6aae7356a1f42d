/*
 * rc_environment.c: the run's environment in every form Azure ML writes it
 * (rc_internal.h).
 *
 *   v1, Azure ML's Environment object: snake_case in a ScriptRunConfig and
 *   in the canonical form (which adds the keys only it needs: registry,
 *   file, credentials_given), camelCase in a .runconfig, spelled there as
 *   the SDK's serialiser spells it (to_camel_case of the same names).
 *   v2, a command job's environment: a reference (azureml:NAME:VERSION,
 *   azureml:NAME@latest, NAME:VERSION, NAME, a registry URI, a workspace
 *   asset id, file:PATH) or a definition (inline, or the content of the
 *   file: reference, which aml_runconfig_read_files reads with the same
 *   reader).
 *
 * Every key is honoured (read into struct aml_environment), accepted
 * because it holds Azure ML's default and so asks for nothing, or refused
 * naming the field and the reason: nothing in an environment is silently
 * ignored.  What an environment means on a node (the site's catalogue, a
 * built one, the user's interpreter, a container) is the resolver's
 * decision, as are the refusals that depend on the site; the refusals
 * here are those no site could honour.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rc_internal.h"

#define KEY_MAX 40
#define KEYS_MAX 16
/* Azure ML's asset names and versions: a letter or digit, then letters,
 * digits, '-', '_' and '.', at most 255. */
#define ASSET_NAME_MAX 255

/* ---- v1: one reader, two spellings ---- */

/*
 * The keys of each v1 object, in snake_case (camelCase is derived), each
 * at its index in the enum beside it.  Keys after the *_COMMON mark are
 * the canonical form's own (a ScriptRunConfig's too): what a v2
 * reference or file gave, which a .runconfig cannot say.
 */
enum { E_NAME, E_VERSION, E_VARIABLES, E_PYTHON, E_DOCKER, E_SPARK,
       E_DATABRICKS, E_R, E_INFERENCING, E_ASSET_ID, E_COMMON,
       E_REGISTRY = E_COMMON, E_FILE, E_ALL };
static const char *const env_keys[] = {
	[E_NAME] = "name", [E_VERSION] = "version",
	[E_VARIABLES] = "environment_variables", [E_PYTHON] = "python",
	[E_DOCKER] = "docker", [E_SPARK] = "spark",
	[E_DATABRICKS] = "databricks", [E_R] = "r",
	[E_INFERENCING] = "inferencing_stack_version",
	[E_ASSET_ID] = "asset_id", [E_REGISTRY] = "registry",
	[E_FILE] = "file",
};
enum { P_INTERPRETER, P_MANAGED, P_CONDA, P_CONDA_FILE, P_BASE_CONDA,
       P_ALL };
static const char *const python_keys[] = {
	[P_INTERPRETER] = "interpreter_path",
	[P_MANAGED] = "user_managed_dependencies",
	[P_CONDA] = "conda_dependencies",
	[P_CONDA_FILE] = "conda_dependencies_file",
	[P_BASE_CONDA] = "base_conda_environment",
};
enum { D_ENABLED, D_IMAGE, D_DOCKERFILE, D_CONTEXT, D_REGISTRY, D_SHM,
       D_ARGUMENTS, D_SHARED, D_GPU, D_PLATFORM, D_ALL };
static const char *const docker_keys[] = {
	[D_ENABLED] = "enabled", [D_IMAGE] = "base_image",
	[D_DOCKERFILE] = "base_dockerfile", [D_CONTEXT] = "build_context",
	[D_REGISTRY] = "base_image_registry", [D_SHM] = "shm_size",
	[D_ARGUMENTS] = "arguments", [D_SHARED] = "shared_volumes",
	[D_GPU] = "gpu_support", [D_PLATFORM] = "platform",
};
enum { B_TYPE, B_LOCATION, B_DOCKERFILE, B_ALL };
static const char *const build_context_keys[] = {
	[B_TYPE] = "location_type", [B_LOCATION] = "location",
	[B_DOCKERFILE] = "dockerfile_path",
};
/* The canonical form says whether credentials were written, never what
 * they were. */
enum { R_ADDRESS, R_USERNAME, R_PASSWORD, R_IDENTITY, R_COMMON,
       R_GIVEN = R_COMMON, R_ALL };
static const char *const registry_keys[] = {
	[R_ADDRESS] = "address", [R_USERNAME] = "username",
	[R_PASSWORD] = "password", [R_IDENTITY] = "registry_identity",
	[R_GIVEN] = "credentials_given",
};
enum { PF_OS, PF_ARCH, PF_ALL };
static const char *const platform_keys[] = {
	[PF_OS] = "os", [PF_ARCH] = "architecture",
};
enum { S_REPOSITORIES, S_PACKAGES, S_PRECACHE, S_ALL };
static const char *const spark_keys[] = {
	[S_REPOSITORIES] = "repositories", [S_PACKAGES] = "packages",
	[S_PRECACHE] = "precache_packages",
};
#define DATABRICKS_ALL 5
static const char *const databricks_keys[DATABRICKS_ALL] = {
	"maven_libraries", "pypi_libraries", "rcran_libraries",
	"jar_libraries", "egg_libraries",
};

struct v1 {
	struct rc_ctx *ctx;
	int camel;
	const char *hint;
};

/* [snake] as this form spells it: itself, or as the SDK's to_camel_case
 * writes it ("interpreter_path" -> "interpreterPath"). */
static const char *spell(const struct v1 *r, const char *snake,
			 char out[KEY_MAX])
{
	size_t n = 0;

	if (!r->camel)
		return snake;
	for (const char *p = snake; *p && n + 1 < KEY_MAX; p++) {
		if (*p == '_' && p[1])
			out[n++] = (char)toupper((unsigned char)*++p);
		else
			out[n++] = *p;
	}
	out[n] = '\0';
	return out;
}

/* One v1 object, its members found in one pass over it: the controller
 * reads a canonical form's environment for every job, and looking each
 * key up in turn, most of them absent, was most of this reader's cost. */
struct section {
	const struct v1 *r;
	const char *path;                       /* the object's field path */
	const char *const *keys;                /* snake_case, by index */
	const struct aml_node *at[KEYS_MAX];    /* by index; NULL: absent */
};

/*
 * [node] at [path], an object whose keys are [keys] ([n] of them, the
 * first [common] in both spellings, the rest in snake_case only), into
 * [s]; a key that is none of them is reported as rc_check_keys reports
 * one.  Returns 0, or -1 when [node] is absent or not an object.
 */
static int section_open(struct section *s, const struct v1 *r,
			const struct aml_node *node, const char *path,
			const char *const *keys, size_t n, size_t common)
{
	char names[KEYS_MAX][KEY_MAX];
	const char *known[KEYS_MAX + 1];
	const struct aml_node *obj = rc_object_or_null(r->ctx, node, path);
	size_t k = r->camel ? common : n;
	int unknown = 0;

	memset(s, 0, sizeof(*s));
	s->r = r;
	s->path = path;
	s->keys = keys;
	if (!obj)
		return -1;
	for (size_t i = 0; i < k; i++)
		known[i] = spell(r, keys[i], names[i]);
	known[k] = NULL;
	for (size_t c = 0; c < obj->n_children; c++) {
		const char *key = obj->children[c].key;
		size_t i = 0;

		while (i < k && (key[0] != known[i][0] || strcmp(key, known[i])))
			i++;
		if (i < k)
			s->at[i] = &obj->children[c];
		else
			unknown = 1;
	}
	if (unknown)
		rc_check_keys(r->ctx, obj, path, known, NULL, r->hint);
	return 0;
}

/* Member [i] of [s], its field path in [p] when it is there. */
static const struct aml_node *field(const struct section *s, size_t i,
				    char p[RC_PATH_MAX])
{
	if (s->at[i])
		rc_path(p, s->path, s->at[i]->key);
	return s->at[i];
}

/* The field path of member [i] of [s], whether it is there or not. */
static void field_path(const struct section *s, size_t i, char p[RC_PATH_MAX])
{
	char key[KEY_MAX];

	rc_path(p, s->path, spell(s->r, s->keys[i], key));
}

static void refuse(struct rc_ctx *ctx, const struct aml_node *node,
		   const char *path, const char *why)
{
	char shown[96];

	aml_doc_describe(node, shown, sizeof(shown));
	aml_errors_add(ctx->errs, path, "%s, got %s", why, shown);
}

/* A key Azure ML writes into every saved file with an empty value (null,
 * [] or {}): that asks for nothing; anything else asks for what [why]
 * says cannot be had. */
static void refuse_unless_empty(struct rc_ctx *ctx,
				const struct aml_node *node, const char *path,
				const char *why)
{
	if (!rc_is_empty(node))
		refuse(ctx, node, path, why);
}

/* A string read only for its type: it labels, and nothing uses it. */
static void check_string(struct rc_ctx *ctx, const struct aml_node *node,
			 const char *path)
{
	char *text = NULL;

	rc_read_string(ctx, node, path, &text);
	free(text);
}

/* A directory given as a Docker build context: one on the shared
 * filesystem, absolute in [*out]. */
static void read_context_dir(struct rc_ctx *ctx, const struct aml_node *node,
			     const char *path, char **out)
{
	char *text = NULL;

	if (!node || node->type == AML_NODE_NULL) {
		aml_errors_add(ctx->errs, path,
			       "is required: the build context's directory");
		return;
	}
	if (rc_read_string(ctx, node, path, &text) < 0)
		return;
	if (strstr(text, "://"))
		refuse(ctx, node, path,
		       "must be a directory on the shared filesystem (Azure storage and git build contexts cannot be reached from the cluster)");
	else
		rc_make_absolute(ctx, path, text, out);
	free(text);
}

/* The Dockerfile's path inside the build context: relative, staying
 * inside; Azure ML's default "Dockerfile" when not given. */
static void read_dockerfile_path(struct rc_ctx *ctx,
				 const struct aml_node *node,
				 const char *path, char **out)
{
	char *text = NULL, *normal;
	int escapes = 0;

	if (rc_read_string(ctx, node, path, &text) < 0)
		return;
	if (!text) {
		if (!(*out = strdup("Dockerfile")))
			aml_errors_add(ctx->errs, path, "out of memory");
		return;
	}
	normal = text[0] == '/' ? NULL : rc_normalise(text, 0, &escapes);
	if (!normal && text[0] != '/' && !escapes) {
		aml_errors_add(ctx->errs, path, "out of memory");
	} else if (!normal || !*normal) {
		refuse(ctx, node, path,
		       "must be the path of a file inside the build context");
		free(normal);
	} else {
		free(*out);
		*out = normal;
	}
	free(text);
}

static void read_python(const struct v1 *r, const struct aml_node *node,
			const char *path)
{
	struct rc_ctx *ctx = r->ctx;
	struct aml_environment *env = &ctx->rc->environment;
	struct section s;
	char p[RC_PATH_MAX];

	if (section_open(&s, r, node, path, python_keys, P_ALL, P_ALL) < 0)
		return;
	rc_read_string(ctx, field(&s, P_INTERPRETER, p), p,
		       &env->interpreter_path);
	rc_read_bool(ctx, field(&s, P_MANAGED, p), p,
		     &env->user_managed_dependencies);
	rc_read_json_text(ctx, field(&s, P_CONDA, p), p,
			  &env->conda_dependencies);
	rc_read_dir(ctx, field(&s, P_CONDA_FILE, p), p,
		    &env->conda_dependencies_file);
	/* A conda environment the run's is built on top of: its packages
	 * are whatever that environment held on Azure's side, which no
	 * site can reproduce. */
	refuse_unless_empty(ctx, field(&s, P_BASE_CONDA, p), p,
			    "building on another conda environment is not supported; list its packages in the conda specification instead");
}

static void read_build_context(const struct v1 *r,
			       const struct aml_node *node, const char *path)
{
	struct rc_ctx *ctx = r->ctx;
	struct aml_environment *env = &ctx->rc->environment;
	struct section s;
	char p[RC_PATH_MAX];

	if (section_open(&s, r, node, path, build_context_keys, B_ALL,
			 B_ALL) < 0)
		return;
	/* Azure ML's contexts are uploads to its storage or git URLs
	 * (locationType says which); here a context is a directory the
	 * nodes can read, which is what location names when no type is. */
	refuse_unless_empty(ctx, field(&s, B_TYPE, p), p,
			    "only a directory on the shared filesystem can be a build context here: give it as location, without a type");
	field_path(&s, B_LOCATION, p);
	read_context_dir(ctx, s.at[B_LOCATION], p, &env->build_context);
	field_path(&s, B_DOCKERFILE, p);
	read_dockerfile_path(ctx, s.at[B_DOCKERFILE], p,
			     &env->build_dockerfile);
}

/* Whether a credential was written: the value is never kept, and never
 * shown, even in a type error. */
static int credential_given(struct rc_ctx *ctx, const struct aml_node *node,
			    const char *path)
{
	if (!node || node->type == AML_NODE_NULL)
		return 0;
	if (node->type != AML_NODE_STRING) {
		aml_errors_add(ctx->errs, path,
			       "must be a string (its value is not shown)");
		return 0;
	}
	return node->len > 0;
}

static void read_registry(const struct v1 *r, const struct aml_node *node,
			  const char *path)
{
	struct rc_ctx *ctx = r->ctx;
	struct aml_environment *env = &ctx->rc->environment;
	struct section s;
	char p[RC_PATH_MAX];
	int given = 0, canonical = 0;

	if (section_open(&s, r, node, path, registry_keys, R_ALL,
			 R_COMMON) < 0)
		return;
	rc_read_string(ctx, field(&s, R_ADDRESS, p), p,
		       &env->registry_address);
	/* Both are looked at even when the first was given, so that a
	 * password of the wrong type is reported without its value. */
	given |= credential_given(ctx, field(&s, R_USERNAME, p), p);
	given |= credential_given(ctx, field(&s, R_PASSWORD, p), p);
	rc_read_bool(ctx, field(&s, R_GIVEN, p), p, &canonical);
	if (given || canonical)
		env->registry_credentials_given = 1;
	refuse_unless_empty(ctx, field(&s, R_IDENTITY, p), p,
			    "Azure managed identities cannot sign in to a registry from the cluster");
}

/* Azure ML's default, Linux on amd64, is the only platform a run here
 * can ask for. */
static void read_platform(const struct v1 *r, const struct aml_node *node,
			  const char *path)
{
	struct rc_ctx *ctx = r->ctx;
	struct section s;
	char *os = NULL, *arch = NULL;
	char p[RC_PATH_MAX];

	if (section_open(&s, r, node, path, platform_keys, PF_ALL,
			 PF_ALL) < 0)
		return;
	if (rc_read_string(ctx, field(&s, PF_OS, p), p, &os) == 0 && os &&
	    strcasecmp(os, "linux"))
		refuse(ctx, s.at[PF_OS], p, "only Linux nodes run jobs here");
	if (rc_read_string(ctx, field(&s, PF_ARCH, p), p, &arch) == 0 &&
	    arch && strcasecmp(arch, "amd64") && strcasecmp(arch, "x86_64"))
		refuse(ctx, s.at[PF_ARCH], p,
		       "only amd64 (x86_64) nodes run jobs here");
	free(os);
	free(arch);
}

void rc_read_shared_volumes(struct rc_ctx *ctx, const struct aml_node *node,
			    const char *path)
{
	int shared = 1;

	/* Azure ML copies the run's files into the container instead of
	 * mounting them when this is false, a workaround for Docker hosts
	 * with broken shared volumes; here the run's directory is always
	 * the one the script sees, so that request cannot be met. */
	if (rc_read_bool(ctx, node, path, &shared) == 0 && !shared)
		aml_errors_add(ctx->errs, path,
			       "must be true: the run's directory is always shared with the run here (Azure ML's copy-instead workaround for broken shared volumes is not offered), got false");
}

static void read_docker(const struct v1 *r, const struct aml_node *node,
			const char *path)
{
	struct rc_ctx *ctx = r->ctx;
	struct aml_environment *env = &ctx->rc->environment;
	struct section s;
	char p[RC_PATH_MAX], k1[KEY_MAX], k2[KEY_MAX], k3[KEY_MAX];
	int gpu_support = 0;

	if (section_open(&s, r, node, path, docker_keys, D_ALL, D_ALL) < 0)
		return;
	rc_read_bool(ctx, field(&s, D_ENABLED, p), p, &env->docker_enabled);
	rc_read_string(ctx, field(&s, D_IMAGE, p), p, &env->docker_base_image);
	if (rc_read_string(ctx, field(&s, D_DOCKERFILE, p), p,
			   &env->docker_base_dockerfile) == 0 &&
	    env->docker_base_dockerfile && !*env->docker_base_dockerfile)
		aml_errors_add(ctx->errs, p, "must not be empty");
	read_build_context(r, field(&s, D_CONTEXT, p), p);
	read_registry(r, field(&s, D_REGISTRY, p), p);
	rc_read_string(ctx, field(&s, D_SHM, p), p, &env->docker_shm_size);
	rc_read_strlist(ctx, field(&s, D_ARGUMENTS, p), p,
			&env->docker_arguments);
	rc_read_shared_volumes(ctx, field(&s, D_SHARED, p), p);
	if (rc_read_bool(ctx, field(&s, D_GPU, p), p, &gpu_support) == 0 &&
	    gpu_support)
		refuse(ctx, s.at[D_GPU], p,
		       "GPUs come from the compute target here (its gres), not from the environment: choose a GPU compute target and remove it");
	read_platform(r, field(&s, D_PLATFORM, p), p);
	if (!!env->docker_base_image + !!env->docker_base_dockerfile +
	    !!env->build_context > 1)
		aml_errors_add(ctx->errs, path,
			       "%s, %s and %s are alternatives (as in Azure ML): give one",
			       spell(r, docker_keys[D_IMAGE], k1),
			       spell(r, docker_keys[D_DOCKERFILE], k2),
			       spell(r, docker_keys[D_CONTEXT], k3));
}

static void read_spark(const struct v1 *r, const struct aml_node *node,
		       const char *path)
{
	struct rc_ctx *ctx = r->ctx;
	struct section s;
	const char *why = "Spark packages are for PySpark runs, which need a Spark cluster; not supported on Slurm";
	char p[RC_PATH_MAX];
	int precache;

	if (section_open(&s, r, node, path, spark_keys, S_ALL, S_ALL) < 0)
		return;
	refuse_unless_empty(ctx, field(&s, S_REPOSITORIES, p), p, why);
	refuse_unless_empty(ctx, field(&s, S_PACKAGES, p), p, why);
	/* With no packages there is nothing to precache, whatever it
	 * says: only its type matters. */
	rc_read_bool(ctx, field(&s, S_PRECACHE, p), p, &precache);
}

static void read_databricks(const struct v1 *r, const struct aml_node *node,
			    const char *path)
{
	struct section s;
	char p[RC_PATH_MAX];

	if (section_open(&s, r, node, path, databricks_keys, DATABRICKS_ALL,
			 DATABRICKS_ALL) < 0)
		return;
	for (size_t i = 0; i < DATABRICKS_ALL; i++)
		refuse_unless_empty(r->ctx, field(&s, i, p), p,
				    "Databricks libraries need a Databricks cluster; not supported on Slurm");
}

void rc_read_v1_environment(struct rc_ctx *ctx, const struct aml_node *node,
			    int camel, const char *form_hint)
{
	struct v1 r = { ctx, camel, form_hint };
	struct aml_environment *env = &ctx->rc->environment;
	struct section s;
	char p[RC_PATH_MAX];

	if (section_open(&s, &r, node, "environment", env_keys, E_ALL,
			 E_COMMON) < 0)
		return;
	rc_read_string(ctx, field(&s, E_NAME, p), p, &env->name);
	rc_read_string(ctx, field(&s, E_VERSION, p), p, &env->version);
	/* A .runconfig's deprecated place: its top-level
	 * environmentVariables, read after this, win for a name in both. */
	rc_read_kvlist(ctx, field(&s, E_VARIABLES, p), p, 1,
		       &ctx->rc->environment_variables);
	rc_read_string(ctx, field(&s, E_REGISTRY, p), p, &env->registry);
	if (env->registry && !env->name)
		aml_errors_add(ctx->errs, p,
			       "names the registry of an environment, and environment.name is missing");
	rc_read_dir(ctx, field(&s, E_FILE, p), p, &env->environment_file);
	read_python(&r, field(&s, E_PYTHON, p), p);
	read_docker(&r, field(&s, E_DOCKER, p), p);
	read_spark(&r, field(&s, E_SPARK, p), p);
	read_databricks(&r, field(&s, E_DATABRICKS, p), p);
	refuse_unless_empty(ctx, field(&s, E_R, p), p,
			    "R environments are not supported on Slurm: only Python runs");
	refuse_unless_empty(ctx, field(&s, E_INFERENCING, p), p,
			    "inferencing stacks are for deployed models, not training runs");
	/* The id of the registered asset this definition was saved from:
	 * the definition beside it is what runs, so it only says where the
	 * definition came from. */
	check_string(ctx, field(&s, E_ASSET_ID, p), p);
}

void rc_check_v1_python(struct rc_ctx *ctx, int camel,
			const char *conda_file_field)
{
	struct v1 r = { ctx, camel, NULL };
	struct aml_environment *env = &ctx->rc->environment;
	const char *py = "environment.python";
	char ibuf[KEY_MAX], mbuf[KEY_MAX], cbuf[KEY_MAX], fbuf[KEY_MAX];
	const char *interp = spell(&r, "interpreter_path", ibuf);
	const char *managed = spell(&r, "user_managed_dependencies", mbuf);
	char path[RC_PATH_MAX], file_path[RC_PATH_MAX];

	if (env->user_managed_dependencies) {
		/* The run then uses its interpreter as it is: a specification
		 * to build contradicts that. */
		rc_path(path, py, spell(&r, "conda_dependencies", cbuf));
		rc_path(file_path, py,
			spell(&r, "conda_dependencies_file", fbuf));
		if (env->conda_dependencies)
			aml_errors_add(ctx->errs, path,
				       "cannot be used with %s: true (the run then uses its interpreter as it is, and nothing is built); remove one of them",
				       managed);
		if (env->conda_dependencies_file)
			aml_errors_add(ctx->errs,
				       conda_file_field ? conda_file_field
							: file_path,
				       "cannot be used with %s: true (the run then uses its interpreter as it is, and nothing is built); remove one of them",
				       managed);
		if (env->interpreter_path && !*env->interpreter_path) {
			rc_path(path, py, interp);
			aml_errors_add(ctx->errs, path, "must not be empty");
		}
		return;
	}
	if (!env->interpreter_path)
		return;
	/* Azure ML's default, in every saved .runconfig: "the
	 * environment's python", which is what a system-managed run gets. */
	if (!strcmp(env->interpreter_path, "python")) {
		free(env->interpreter_path);
		env->interpreter_path = NULL;
		return;
	}
	rc_path(path, py, interp);
	aml_errors_add(ctx->errs, path,
		       "used only with %s: true (Azure ML ignores it otherwise); remove it or set %s: true",
		       managed, managed);
}

/* ---- v2: a reference or a definition ---- */

static const char *const v2_keys[] = {
	"$schema", "name", "version", "description", "tags", "image",
	"conda_file", "build", "os_type", "inference_config", NULL,
};
static const char *const v2_build_keys[] = {
	"path", "dockerfile_path", NULL,
};

static int asset_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > ASSET_NAME_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return 0;
	return 1;
}

/* A reference taken apart: pointers into the text, with lengths. */
struct ref {
	const char *name, *version, *label, *registry;
	size_t name_len, version_len, label_len, registry_len;
};

/* Split [s] at '/' into at most [max] segments; returns the count, or
 * max + 1 when there are more. */
static size_t segments(const char *s, const char **seg, size_t *len,
		       size_t max)
{
	size_t n = 0;

	for (;;) {
		const char *end = strchr(s, '/');
		size_t l = end ? (size_t)(end - s) : strlen(s);

		if (n == max)
			return max + 1;
		seg[n] = s;
		len[n++] = l;
		if (!end)
			return n;
		s = end + 1;
	}
}

static int seg_is(const char *seg, size_t len, const char *word)
{
	return len == strlen(word) && !strncmp(seg, word, len);
}

/* azureml://registries/REG/environments/NAME/{versions/V|labels/L} */
static int parse_registry_uri(const char *s, struct ref *ref)
{
	const char *seg[6];
	size_t len[6];

	if (segments(s, seg, len, 5) != 5 ||
	    !seg_is(seg[1], len[1], "environments"))
		return -1;
	ref->registry = seg[0];
	ref->registry_len = len[0];
	ref->name = seg[2];
	ref->name_len = len[2];
	if (seg_is(seg[3], len[3], "versions")) {
		ref->version = seg[4];
		ref->version_len = len[4];
	} else if (seg_is(seg[3], len[3], "labels")) {
		ref->label = seg[4];
		ref->label_len = len[4];
	} else {
		return -1;
	}
	return asset_name_ok(ref->registry, ref->registry_len) ? 0 : -1;
}

/* /subscriptions/.../environments/NAME/versions/V, a full ARM id as saved
 * job YAMLs carry: only its last four segments say which environment. */
static int parse_asset_id(const char *s, struct ref *ref)
{
	const char *seg[32];
	size_t len[32], n = segments(s + 1, seg, len, 31);

	if (n > 31 || n < 6 || !seg_is(seg[0], len[0], "subscriptions") ||
	    !seg_is(seg[n - 4], len[n - 4], "environments") ||
	    !seg_is(seg[n - 2], len[n - 2], "versions"))
		return -1;
	ref->name = seg[n - 3];
	ref->name_len = len[n - 3];
	ref->version = seg[n - 1];
	ref->version_len = len[n - 1];
	return 0;
}

/* NAME, NAME:VERSION or NAME@LABEL, with or without "azureml:". */
static int parse_short(const char *s, struct ref *ref)
{
	const char *at = strchr(s, '@'), *colon = strchr(s, ':');

	ref->name = s;
	if (at && !colon) {
		ref->name_len = (size_t)(at - s);
		ref->label = at + 1;
		ref->label_len = strlen(at + 1);
		return asset_name_ok(ref->label, ref->label_len) ? 0 : -1;
	}
	if (at)
		return -1;
	ref->name_len = colon ? (size_t)(colon - s) : strlen(s);
	if (colon) {
		ref->version = colon + 1;
		ref->version_len = strlen(colon + 1);
	}
	return 0;
}

static int parse_reference(const char *text, struct ref *ref)
{
	const char *s = text;
	int r;

	memset(ref, 0, sizeof(*ref));
	if (!strncmp(s, "azureml://registries/", 21))
		r = parse_registry_uri(s + 21, ref);
	else if (!strncmp(s, "azureml:/subscriptions/", 23))
		r = parse_asset_id(s + 8, ref);
	else
		r = parse_short(strncmp(s, "azureml:", 8) ? s : s + 8, ref);
	if (r < 0 || !asset_name_ok(ref->name, ref->name_len) ||
	    (ref->version && !asset_name_ok(ref->version, ref->version_len)))
		return -1;
	return 0;
}

static int dup_part(struct rc_ctx *ctx, const char *s, size_t n, char **out)
{
	if (!s)
		return 0;
	*out = strndup(s, n);
	if (*out)
		return 0;
	aml_errors_add(ctx->errs, "environment", "out of memory");
	return -1;
}

static void read_reference(struct rc_ctx *ctx, const struct aml_node *node)
{
	struct aml_environment *env = &ctx->rc->environment;
	char *text = NULL;
	struct ref ref;

	if (rc_read_string(ctx, node, "environment", &text) < 0)
		return;
	if (!strncmp(text, "file:", 5)) {
		/* Read, with what it names, by aml_runconfig_read_files. */
		if (!text[5])
			refuse(ctx, node, "environment",
			       "file: must be followed by the environment file's path");
		else
			rc_make_absolute(ctx, "environment", text + 5,
					 &env->environment_file);
	} else if (parse_reference(text, &ref) < 0) {
		refuse(ctx, node, "environment",
		       "must be azureml:NAME:VERSION, azureml:NAME@latest, NAME:VERSION, NAME, azureml://registries/REGISTRY/environments/NAME/versions/VERSION (or /labels/latest), azureml:/subscriptions/.../environments/NAME/versions/VERSION, file:PATH or an object");
	} else if (ref.label && (ref.label_len != 6 ||
				 strncmp(ref.label, "latest", 6))) {
		refuse(ctx, node, "environment",
		       "only @latest: the site's catalogue has versions, not labels");
	} else {
		dup_part(ctx, ref.name, ref.name_len, &env->name);
		dup_part(ctx, ref.version, ref.version_len, &env->version);
		dup_part(ctx, ref.registry, ref.registry_len, &env->registry);
	}
	free(text);
}

/* v2's version: a string, or a whole number as YAML users write it
 * (version: 1), kept as written. */
static void read_version(struct rc_ctx *ctx, const struct aml_node *node,
			 const char *path, char **out)
{
	if (node && node->type == AML_NODE_INT) {
		free(*out);
		if (!(*out = strdup(node->text)))
			aml_errors_add(ctx->errs, path, "out of memory");
		return;
	}
	rc_read_string(ctx, node, path, out);
}

static void read_v2_build(struct rc_ctx *ctx, const struct aml_node *node,
			  const char *path, const char *hint)
{
	struct aml_environment *env = &ctx->rc->environment;
	const struct aml_node *obj = rc_object_or_null(ctx, node, path);
	char p[RC_PATH_MAX];

	if (!obj)
		return;
	rc_check_keys(ctx, obj, path, v2_build_keys, NULL, hint);
	rc_path(p, path, "path");
	read_context_dir(ctx, aml_doc_get(obj, "path"), p, &env->build_context);
	rc_path(p, path, "dockerfile_path");
	read_dockerfile_path(ctx, aml_doc_get(obj, "dockerfile_path"), p,
			     &env->build_dockerfile);
}

void rc_read_v2_definition(struct rc_ctx *ctx, const struct aml_node *obj,
			   const char *path, const char *form_hint)
{
	struct aml_environment *env = &ctx->rc->environment;
	const struct aml_node *conda, *os;
	char p[RC_PATH_MAX];
	char *os_type = NULL;

	rc_check_keys(ctx, obj, path, v2_keys, NULL, form_hint);
	/* $schema names the file's schema; description and tags label the
	 * environment as an asset in a workspace, and change nothing in
	 * what the run gets: read for their type only. */
	rc_path(p, path, "$schema");
	check_string(ctx, aml_doc_get(obj, "$schema"), p);
	rc_path(p, path, "description");
	check_string(ctx, aml_doc_get(obj, "description"), p);
	rc_path(p, path, "tags");
	rc_object_or_null(ctx, aml_doc_get(obj, "tags"), p);

	rc_path(p, path, "name");
	rc_read_string(ctx, aml_doc_get(obj, "name"), p, &env->name);
	rc_path(p, path, "version");
	read_version(ctx, aml_doc_get(obj, "version"), p, &env->version);
	rc_path(p, path, "image");
	if (rc_read_string(ctx, aml_doc_get(obj, "image"), p,
			   &env->docker_base_image) == 0 &&
	    env->docker_base_image)
		env->docker_enabled = 1;
	/* A path, as written; or the specification itself, as a saved
	 * job or `az ml environment show` writes it. */
	conda = aml_doc_get(obj, "conda_file");
	rc_path(p, path, "conda_file");
	if (conda && conda->type == AML_NODE_OBJECT)
		rc_read_json_text(ctx, conda, p, &env->conda_dependencies);
	else
		rc_read_dir(ctx, conda, p, &env->conda_dependencies_file);
	rc_path(p, path, "build");
	read_v2_build(ctx, aml_doc_get(obj, "build"), p, form_hint);
	if (env->docker_base_image && env->build_context)
		aml_errors_add(ctx->errs, p,
			       "image and build are alternatives (as in Azure ML): give one");

	os = aml_doc_get(obj, "os_type");
	rc_path(p, path, "os_type");
	if (rc_read_string(ctx, os, p, &os_type) == 0 && os_type &&
	    strcasecmp(os_type, "linux"))
		refuse(ctx, os, p, "only linux nodes run jobs here");
	free(os_type);
	rc_path(p, path, "inference_config");
	refuse_unless_empty(ctx, aml_doc_get(obj, "inference_config"), p,
			    "inference configurations are for deployments (online endpoints), not jobs");
}

void rc_read_v2_environment(struct rc_ctx *ctx, const struct aml_node *node)
{
	const struct aml_node *obj;

	if (!node || node->type == AML_NODE_NULL)
		return;
	if (node->type == AML_NODE_STRING) {
		read_reference(ctx, node);
		return;
	}
	obj = rc_object_or_null(ctx, node, "environment");
	if (obj)
		rc_read_v2_definition(ctx, obj, "environment",
				      "a command job");
}
