/*
 * env_spec.h: a run's Python dependencies as Azure ML writes them, a conda
 * environment specification:
 *
 *     name: project_environment          # ignored: the site names environments
 *     channels: [conda-forge, defaults]
 *     dependencies:
 *       - python=3.10
 *       - pip=23.1
 *       - numpy>=1.24                    # a conda package
 *       - pip:
 *           - torch==2.1.0
 *
 * (v1 environment.python.conda_dependencies, an object in run.json; or a
 * conda YAML file, v1 conda_dependencies_file / v2 conda_file), read into a
 * normalised form whose canonical text is the content key of a built
 * environment, and written out again for the builder that makes it: a
 * requirements file for pip, an environment.yml and a command line for a
 * conda-compatible program.  Pure: no I/O but the text the caller hands in.
 *
 * The controller reads it too, so its cost is bounded: the text, the
 * number of items and each item's length are limited below, and every item
 * is printable ASCII on one line, so it means the same to this reader, to
 * conda's YAML reader and in a pip requirements file.
 *
 * What is refused, and why: anything that would let a run choose where
 * packages come from or where the environment goes, which are the site's
 * (pip options, URLs, paths and VCS references among the pip requirements;
 * a prefix); keys this project does not honour (variables); and python
 * constraints it cannot read, since they decide whether the node's own
 * interpreter can serve (aml_env_python_matches).
 */
#ifndef AML_ENV_SPEC_H
#define AML_ENV_SPEC_H

#include <stddef.h>

#include "errors.h"
#include "strlist.h"

#define AML_ENV_SPEC_MAX_BYTES 65536  /* the whole text */
#define AML_ENV_SPEC_MAX_ITEMS 500    /* channels, dependencies and pip
				       * requirements, counted together */
#define AML_ENV_SPEC_MAX_ITEM 512     /* bytes of one of them */

struct aml_env_spec {
	/* python's version constraint, normalised (below); "*" when python
	 * is listed without one; NULL when python is not listed */
	char *python;
	struct aml_strlist channels; /* as written, trimmed, in order (order
				      * is conda's priority) */
	struct aml_strlist conda;    /* conda packages other than python and
				      * pip, trimmed, in order */
	struct aml_strlist pip;      /* pip requirements, trimmed, in order */
	/* "pip" (any version) is a conda dependency.  pip's own version is
	 * not kept: the builder's pip installs the list. */
	int pip_listed;
};

/*
 * Parse [len] bytes of [text] (JSON or YAML) into [spec] (which the caller
 * frees with aml_env_spec_free either way).  [field] names the
 * specification in messages and begins every field path
 * ("environment.python.conda_dependencies" gives
 * "environment.python.conda_dependencies.dependencies[2]: ...").
 *
 * python's constraint is kept in the dialect aml_env_python_matches reads,
 * with conda's meaning: "python=3.10", "python 3.10.*" -> "3.10" (3.10.x);
 * "python==3.10" and "python 3.10" -> "==3.10" (conda reads a version
 * without an operator after a blank as exactly that version, 3.10.0);
 * "python>=3.9, <3.12" -> ">=3.9,<3.12"; "python=3.10|3.11" -> "3.10|==3.11"
 * (conda drops the '=' only when it is alone).  So two spellings conda reads
 * alike are one key.
 *
 * Returns 0, or -1 with every problem in [errs] (errors.h), one line each:
 * the field path, the rule and the value found.  On -1, [spec] holds
 * nothing useful.
 */
int aml_env_spec_parse(const char *text, size_t len, const char *field,
		       struct aml_env_spec *spec, struct aml_errors *errs);

/* Release what [spec] holds and leave it empty (NULL is ignored). */
void aml_env_spec_free(struct aml_env_spec *spec);

/*
 * Whether pip alone can build it: no conda packages but python and pip
 * (channels are then irrelevant).  Whether the node's python satisfies
 * the constraint is the caller's question (aml_env_python_matches).
 */
int aml_env_spec_pip_only(const struct aml_env_spec *spec);

/*
 * Canonical compact JSON, the environment's content key:
 *     {"python":"3.10","channels":[...],"conda":[...],"pip":[...]}
 * keys always in this order, an absent python as null.  Two specifications
 * that differ only in layout, quoting, key order, comments, the ignored
 * name, whitespace around items or the spelling of the same python
 * constraint give the same text.  Returns a malloc'd string; NULL when
 * memory runs out.
 */
char *aml_env_spec_canonical(const struct aml_env_spec *spec);

/*
 * The environment.yml a conda-compatible builder is given: no name (the
 * builder is given the prefix), the channels, then python, pip, the conda
 * packages and the pip list.  pip is listed when the specification listed
 * it or has pip requirements (conda installs those with the environment's
 * own pip).  Every item is written in double quotes, so no item can read
 * as YAML syntax.  aml_env_spec_parse of it gives the same canonical text.
 * Returns a malloc'd string; NULL when memory runs out.
 */
char *aml_env_spec_conda_yaml(const struct aml_env_spec *spec);

/* The pip requirements file text, one requirement a line, each ending in
 * a newline ("" for none).  Returns a malloc'd string; NULL when memory
 * runs out. */
char *aml_env_spec_requirements(const struct aml_env_spec *spec);

/*
 * Whether python [version] ("3.11.2", as `python3 -c 'import platform;
 * print(platform.python_version())'` prints; a pre-release such as
 * "3.13.0rc1" sorts before its release, a trailing '+' of an unreleased
 * build is ignored) satisfies [constraint], by conda's rules for versions
 * except that a version without an operator means the versions it begins,
 * as after "python=":
 *     "3.11", "=3.11", "3.11.*", "3.11*"   3.11.x
 *     "==3.11.2"                           exactly 3.11.2 (3.11 == 3.11.0)
 *     ">=3.9", "<=3.12", ">3.9", "<3.12"   ordered component by component
 *     "!=3.10", "!=3.10.*"                 not that version, not 3.10.x
 *     "*"                                  any
 *     ',' is AND, '|' is OR (AND binds first), blanks around them allowed
 * A NULL [constraint] is any.  Returns 1 or 0; -1 when the constraint or
 * the version cannot be read, with one sentence in [errbuf] (of [errlen]
 * bytes).
 */
int aml_env_python_matches(const char *constraint, const char *version,
			   char *errbuf, size_t errlen);

/*
 * The command line that makes a conda environment at [prefix] from the
 * environment file [yaml_path] with [command], a conda-compatible program
 * the site chose; its basename decides the dialect:
 *     conda       conda env create EXTRA... -p PREFIX -f FILE
 *     mamba       mamba env create EXTRA... -p PREFIX -f FILE
 *     micromamba  micromamba create -y EXTRA... -p PREFIX -f FILE
 * [extra] (may be NULL) are the site's options for that subcommand,
 * placed before the prefix and the file, which come last so that no extra
 * replaces them (conda's argparse keeps a repeated option's last
 * value).  [prefix] and [yaml_path] must be absolute
 * (so neither can read as an option), and the file must end in ".yml" or
 * ".yaml", the names each of these programs reads as an environment file;
 * call it environment.yml, since conda 26.5 documents that other names
 * need --format, which older releases do not have.  No "--yes" for conda:
 * its env create has it only since 23.x, and a new prefix asks nothing;
 * nor for mamba, whose 1.x runs conda's env create and whose 2.x, like
 * micromamba, takes an unanswered question (stdin at its end) as its
 * default, yes.  Where each was verified is in env_spec.c.
 *
 * Appends to [argv], which must be empty.  Returns 0, or -1 with [argv]
 * empty and one sentence in [errbuf]: an unknown dialect names the three
 * it knows.
 */
int aml_env_conda_argv(const char *command, const char *prefix,
		       const char *yaml_path, const struct aml_strlist *extra,
		       struct aml_strlist *argv, char *errbuf, size_t errlen);

#endif
