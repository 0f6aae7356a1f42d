/*
 * self.c: this process's program name and command line, from /proc/self.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "self.h"

/* The arguments after argv[0], NUL-separated, in a malloc'd buffer;
 * NULL when /proc/self/cmdline cannot be read. */
static char *read_args(size_t *len)
{
	size_t cap = 4096, n = 0, skip;
	char *buf = malloc(cap), *grown;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (!buf || fd < 0)
		goto fail;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			grown = realloc(buf, cap * 2);
			if (!grown)
				goto fail;
			buf = grown;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	/* The kernel ends every argument with a NUL, but a process may have
	 * rewritten its argv: make sure the last one is terminated. */
	if (n == cap) {
		grown = realloc(buf, cap + 1);
		if (!grown) {
			free(buf);
			return NULL;
		}
		buf = grown;
	}
	buf[n] = '\0';
	skip = strnlen(buf, n);
	skip = skip < n ? skip + 1 : n;
	memmove(buf, buf + skip, n - skip + 1);
	*len = n - skip;
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

int aml_self_is(const char *name)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *base;

	if (n > 0) {
		exe[n] = '\0';
		base = strrchr(exe, '/');
		return !strcmp(base ? base + 1 : exe, name);
	}
	return !strcmp(program_invocation_short_name, name);
}

int aml_self_has_option(const char *opt)
{
	size_t len, olen = strlen(opt);
	char *args = read_args(&len);
	int found = 0;

	if (!args)
		return 0;
	for (char *a = args; a < args + len; a += strlen(a) + 1) {
		if (!strncmp(a, opt, olen) && (a[olen] == '\0' ||
					       a[olen] == '=')) {
			found = 1;
			break;
		}
	}
	free(args);
	return found;
}

int aml_self_account(char *buf, size_t len)
{
	size_t n;
	char *args = read_args(&n);
	const char *value = NULL;

	if (!args)
		return 0;
	for (char *a = args; a < args + n; a += strlen(a) + 1) {
		char *next = a + strlen(a) + 1;
		int has_next = next < args + n;

		if (!strcmp(a, "-A") || !strcmp(a, "--account")) {
			if (has_next)
				value = next;
		} else if (!strncmp(a, "--account=", 10)) {
			value = a + 10;
		} else if (!strncmp(a, "-A", 2)) {
			value = a + 2;
		}
	}
	if (value && strlen(value) < len)
		strcpy(buf, value);
	else
		value = NULL;
	free(args);
	return value != NULL;
}
