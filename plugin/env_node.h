/*
 * env_node.h: what a node contributes to a run's environment
 * (environment.h): the facts a built environment depends on, and what
 * Preparing says about the environment.  Runs as the job's user, on the
 * node (the SPANK task, aml-launch) or on a login node (aml-run plan, for
 * a node like it).
 */
#ifndef AML_ENV_NODE_H
#define AML_ENV_NODE_H

#include <stddef.h>

#include <stdint.h>

#include "env_cache.h"
#include "environment.h"
#include "site.h"

/*
 * The node's part of an environment's content key, into [buf]: its
 * machine (uname), its OS release (os-release's ID and VERSION_ID), and
 * the major.minor version of [interpreter] (a venv made by one Python
 * minor version breaks under another) with the file it really is (a
 * venv refers to it by path: two pythons of one version, found on two
 * users' PATHs, are two keys).  The version is read from the
 * interpreter's real name (python3 -> python3.11) where it says it, else
 * by running it once.  Returns 0, or -1 with [errbuf] (no such
 * interpreter).
 */
int aml_env_node_facts(const char *interpreter, char *buf, size_t len,
		       char *errbuf, size_t errlen);

/*
 * [interpreter]'s full version ("3.11.2"), by running it (at most 10 s).
 * Returns 0, or -1 with [errbuf].
 */
int aml_env_python_version(const char *interpreter, char *buf, size_t len,
			   char *errbuf, size_t errlen);

/*
 * What Preparing says of [c] on this node, into [buf]: "environment
 * AzureML-Minimal:2", or for a built one its short key and whether it is
 * there: "environment 3f2a9c1d0e4b (pip, 4 packages): building",
 * "...: cached".  [key] (may be NULL) gets the full key of a built one.
 * Never fails: what it cannot find out, it does not say.
 */
void aml_env_reason(const struct aml_env_choice *c,
		    const struct aml_site *site, char *buf, size_t len,
		    char key[65]);

/*
 * Make the PIP or CONDA environment [c] ready on this node: its key
 * (into [key]) from this node's facts, then EnvDir's build of it, found or
 * built now (env_cache.h: waiting up to [wait_ms] for another builder of
 * it), by pip into a venv of the site's DefaultInterpreter with its
 * PipOptions (refused first when the specification's python is not that
 * interpreter's), or by the site's CondaCommand.  [prefix] gets its
 * path; [log_path] the build log's when one was made or failed ("" when
 * not).  Returns what aml_env_cache_get does, with [errbuf] on FAILED
 * and ERROR.
 */
enum aml_env_outcome aml_env_make(const struct aml_env_choice *c,
				  const struct aml_site *site,
				  int64_t wait_ms, char key[65],
				  char *prefix, size_t plen, char *log_path,
				  size_t llen, char *errbuf, size_t errlen);

#endif
