/*
 * data_url.h: the https:// inputs a run may download, and the site's list
 * of hosts they may come from (aml.conf's DataDownloadHosts=).
 *
 * Pure: no I/O, safe in the controller.  The user's side reads a run's
 * inputs.<name>.path with it (rc_data.c), the controller and the node the
 * canonical form's "downloads", and the downloader (data_fetch.h) each
 * redirect's target.
 *
 * Threats and rules:
 *  - only https: a plain http answer could be changed on its way, and the
 *    run would read it as its data;
 *  - no userinfo (https://user:pass@host/): a password would be stored in
 *    the run's configuration, its history and the job's environment, all
 *    readable by more people than the password was meant for.  The
 *    refusal never repeats the URL, which would print the password;
 *  - no control characters, blanks or backslashes: what a log line or a
 *    shell would split or read differently;
 *  - the file's name in the run's working directory is the URL path's
 *    last segment, percent-decoded, of letters, digits and . _ - + , = @
 *    only, and not "." or "..": the command line gets its path as
 *    written, so a name must not be read by the shell as anything else
 *    (a blank, a quote, "$(...)").
 */
#ifndef AML_DATA_URL_H
#define AML_DATA_URL_H

#include <stddef.h>

/* Longest URL accepted: a run's input, not a document. */
#define AML_DATA_URL_MAX 2048
/* Longest host name (DNS). */
#define AML_DATA_HOST_MAX 253
/* Longest file name taken from a URL. */
#define AML_DATA_NAME_MAX 255

struct aml_data_url {
	char host[AML_DATA_HOST_MAX + 1];       /* lowercase */
	unsigned port;                          /* 443 when not given */
	char name[AML_DATA_NAME_MAX + 1];       /* the file's name */
};

/*
 * Parse [url], an https:// URL as above, into [*out].  Returns 0; or -1
 * with one sentence in [err] saying what rule it breaks (never the
 * userinfo of a URL that has one).
 */
int aml_data_url_parse(const char *url, struct aml_data_url *out, char *err,
		       size_t errlen);

/*
 * Whether [pattern] is a DataDownloadHosts= item: a host name (letters,
 * digits, inner '-', labels joined by '.'), or "*." and one: any host
 * below that domain, not the domain itself.
 */
int aml_data_host_pattern_valid(const char *pattern);

/*
 * Whether [host] (lowercase, as aml_data_url_parse gives it) is one of
 * [patterns] ([n] of them), comparing without regard to case.
 */
int aml_data_host_allowed(char *const *patterns, size_t n, const char *host);

/*
 * The path a downloaded input [name] is bound to, relative to the run's
 * working directory: "inputs/<input>/<file name>", into [buf].  Returns
 * 0, or -1 when it does not fit.
 */
int aml_data_download_path(const char *input, const struct aml_data_url *u,
			   char *buf, size_t len);

#endif
