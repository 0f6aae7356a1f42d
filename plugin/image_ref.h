/*
 * image_ref.h: a container image reference, as Docker's
 * distribution/reference grammar defines it, read into its parts and
 * written back in one normalized spelling.  Pure: no I/O.
 *
 *     [domain[:port]/]path-component[/path-component...][:tag][@sha256:HEX]
 *
 * A path component is lowercase letters and digits in runs separated by
 * '.', '_', '__' or any number of '-'; a domain is DNS labels (letters,
 * digits, inner '-') joined by '.', or a bracketed IPv6 address, with an
 * optional port; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; the name
 * (domain and path) is at most 255 bytes.  The first component is the
 * registry only when it has a '.' or a ':' or is "localhost"
 * ("ubuntu/x" is Docker Hub's user "ubuntu"); with none the registry is
 * docker.io, whose one-component names live under "library/".  Only
 * sha256 digests are accepted: the node pulls by digest and checks it.
 *
 * Used at submit (the run's image, the catalogue's Image=) and on the
 * node, so both read a reference the same way.
 */
#ifndef AML_IMAGE_REF_H
#define AML_IMAGE_REF_H

#include <stddef.h>

#define AML_IMAGE_NAME_MAX 255

struct aml_image_ref {
	char registry[256];   /* host[:port]; "docker.io" when none is written */
	char repository[256]; /* "library/ubuntu" for docker.io's short names */
	char tag[129];        /* "" when only a digest is given; "latest" when neither */
	char digest[72];      /* "sha256:<64 lowercase hex>" or "" */
};

/*
 * Read [text] into [ref].  Returns 0, or -1 with one line in [errbuf] of
 * [errlen] bytes naming the rule broken and quoting the part that breaks
 * it (not the field: the caller names it); [ref] is then zeroed.
 */
int aml_image_ref_parse(const char *text, struct aml_image_ref *ref,
			char *errbuf, size_t errlen);

/*
 * Write [ref] into [buf] of [len] bytes: registry/repository:tag, or
 * registry/repository@digest when [by_digest] and there is a digest (or
 * when there is no tag).  Returns 0, or -1 when [len] is too small (then
 * [buf] holds "" if [len] > 0).
 */
int aml_image_ref_format(const struct aml_image_ref *ref, int by_digest,
			 char *buf, size_t len);

/*
 * Whether [text] is a registry as a reference writes it: host[:port],
 * the host DNS labels joined by '.' or a bracketed IPv6 address (what
 * aml.conf's ContainerRegistries lists).  1 or 0.
 */
int aml_image_registry_valid(const char *text);

#endif
