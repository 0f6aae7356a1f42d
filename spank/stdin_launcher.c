/*
 * stdin_launcher.c: the placeholder batch script on sbatch's standard
 * input (see stdin_launcher.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fdio.h"
#include "errors.h"
#include "stdin_launcher.h"

/* Never run: job_submit/aml puts the run's launcher in its place.  If a
 * job ever runs it (the controller lacks the plugin), it fails loudly
 * rather than succeed doing nothing. */
static const char placeholder[] =
	"#!/bin/sh\n"
	"# slurm-aml placeholder: the controller puts the run's launcher here\n"
	"exit 1\n";

static int memfd = -1;       /* the placeholder; shares fd 0's offset */
static int saved_stdin = -1; /* what fd 0 was, or -1 if it was closed */
static int verdict = -1;     /* aml_stdin_launcher_finish's answer */

/* A terminal, /dev/null (character device 1,3) or nothing at all: no
 * script can come from there, so the user has none on standard input. */
static int stdin_is_empty(void)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) < 0)
		return errno == EBADF;
	if (isatty(STDIN_FILENO))
		return 1;
	return S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
	       minor(st.st_rdev) == 3;
}

int aml_stdin_launcher_install(char *errbuf, size_t errlen)
{
	int fd;

	if (memfd >= 0 || !stdin_is_empty())
		return 0;
	fd = memfd_create("aml-launcher", MFD_CLOEXEC);
	if (fd < 0)
		return aml_fail(errbuf, errlen,
				"cannot make the placeholder batch script: %s",
				strerror(errno));
	if (aml_write_all(fd, placeholder, sizeof(placeholder) - 1) < 0 ||
	    lseek(fd, 0, SEEK_SET) < 0)
		goto fail;
	/* With standard input closed, the memfd itself is fd 0. */
	if (fd != STDIN_FILENO) {
		saved_stdin = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
		if (saved_stdin < 0 && errno != EBADF)
			goto fail;
		if (dup2(fd, STDIN_FILENO) < 0)
			goto fail;
	}
	memfd = fd;
	return 1;
fail:
	aml_fail(errbuf, errlen, "cannot make the placeholder batch script: %s",
		 strerror(errno));
	if (saved_stdin >= 0) {
		dup2(saved_stdin, STDIN_FILENO);
		close(saved_stdin);
		saved_stdin = -1;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return -1;
}

int aml_stdin_launcher_finish(void)
{
	off_t offset;

	if (verdict >= 0)
		return verdict;
	if (memfd < 0)
		return verdict = 0;
	/* fd 0 is a dup of the memfd: they share the offset, so anything
	 * sbatch read from standard input moved it. */
	offset = lseek(memfd, 0, SEEK_CUR);
	verdict = offset > 0;
	if (saved_stdin >= 0) {
		dup2(saved_stdin, STDIN_FILENO);
		close(saved_stdin);
		saved_stdin = -1;
	}
	if (memfd != STDIN_FILENO)
		close(memfd);
	memfd = -1;
	return verdict;
}
