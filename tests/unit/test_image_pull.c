/*
 * test_image_pull.c: the parts of image_pull.c that run no program: the
 * mount point made inside an image (never through the image's own
 * symlinks), and a failure's reason read off skopeo's output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_pull.h"
#include "tree.h"

static char root[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "%s/aml-image-pull-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return aml_tree_remove(AT_FDCWD, root);
}

static int is_dir(const char *fmt, const char *a)
{
	char path[PATH_MAX * 2];
	struct stat st;

	snprintf(path, sizeof(path), fmt, root, a);
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_mountpoint_made(void **state)
{
	char rootfs[PATH_MAX + 8];

	(void)state;
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", root);
	assert_int_equal(mkdir(rootfs, 0755), 0);
	assert_int_equal(aml_image_make_mountpoint(rootfs, "/var/lib/aml/run"),
			 0);
	assert_true(is_dir("%s/rootfs%s", "/var/lib/aml/run"));
	/* Again: what exists is fine. */
	assert_int_equal(aml_image_make_mountpoint(rootfs, "//var/lib//aml/run/"),
			 0);
}

/* An image whose /var points elsewhere on the host: nothing is made
 * there. */
static void test_mountpoint_never_through_a_symlink(void **state)
{
	char rootfs[PATH_MAX + 8], outside[PATH_MAX + 8], link[PATH_MAX + 16];

	(void)state;
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", root);
	snprintf(outside, sizeof(outside), "%s/outside", root);
	snprintf(link, sizeof(link), "%s/var", rootfs);
	assert_int_equal(mkdir(rootfs, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(symlink(outside, link), 0);
	assert_int_equal(aml_image_make_mountpoint(rootfs, "/var/lib/aml/run"),
			 -1);
	assert_int_equal(errno, ENOTDIR);
	assert_false(is_dir("%s/outside%s", "/lib"));
	assert_int_equal(aml_image_make_mountpoint(rootfs, "/srv/../etc"), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_skopeo_reason(void **state)
{
	static const char fatal[] =
		"Getting image source signatures\n"
		"time=\"2026-12-07T22:04:21Z\" level=fatal msg=\"Error parsing "
		"image name \\\"docker://r:5000/aml/nosuch:1\\\": reading "
		"manifest 1 in r:5000/aml/nosuch: manifest unknown\"\n";
	char why[256];

	(void)state;
	aml_image_skopeo_reason(fatal, sizeof(fatal) - 1, why, sizeof(why));
	assert_string_equal(why, "Error parsing image name "
				 "\"docker://r:5000/aml/nosuch:1\": reading "
				 "manifest 1 in r:5000/aml/nosuch: manifest "
				 "unknown");
	aml_image_skopeo_reason("one\nlast line\n\n", 15, why, sizeof(why));
	assert_string_equal(why, "last line");
	aml_image_skopeo_reason("", 0, why, sizeof(why));
	assert_string_equal(why, "no answer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mountpoint_made, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_mountpoint_never_through_a_symlink, setup,
			teardown),
		cmocka_unit_test(test_skopeo_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
