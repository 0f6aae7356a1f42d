# aml_libs.m4: the libraries, each found by pkg-config into its own
# *_CFLAGS and *_LIBS, so every target links only what it uses.  A missing
# one names the Debian package that brings it.

# AML_CHECK_PKG_CONFIG
# --------------------
AC_DEFUN([AML_CHECK_PKG_CONFIG], [
  m4_ifndef([PKG_CHECK_MODULES],
    [m4_fatal([pkg.m4 is missing: install pkg-config, then run ./bootstrap again])])
  PKG_PROG_PKG_CONFIG
  AS_IF([test -z "$PKG_CONFIG"],
    [AC_MSG_ERROR([pkg-config not found: install pkg-config])])
])

# AML_REQUIRE_PKG(VARIABLE-PREFIX, MODULE, WHAT, DEBIAN-PACKAGE)
# --------------------------------------------------------------
AC_DEFUN([AML_REQUIRE_PKG], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([$3 not found by pkg-config: install $4])])
])

# AML_CHECK_LIBS
# --------------
# hwloc places each task of a run on a node's cores and near its GPU
# (plugin/placement.h); the core links it.  munge is
# not here: Slurm talks to munged, the plugins never do.
AC_DEFUN([AML_CHECK_LIBS], [
  AC_REQUIRE([AML_CHECK_PKG_CONFIG])
  AML_REQUIRE_PKG([HWLOC], [hwloc], [hwloc], [libhwloc-dev])
  AML_REQUIRE_PKG([CJSON], [libcjson], [cJSON], [libcjson-dev])
  AML_REQUIRE_PKG([CURL], [libcurl], [libcurl], [libcurl4-openssl-dev])
  AML_REQUIRE_PKG([CRYPTO], [libcrypto], [libcrypto], [libssl-dev])
  AML_REQUIRE_PKG([YAML], [yaml-0.1], [libyaml], [libyaml-dev])
  dnl The unit tests are part of the project, so cmocka is required.
  AML_REQUIRE_PKG([CMOCKA], [cmocka], [cmocka], [libcmocka-dev])

  dnl faultfs (tests/faultfs) injects shared-filesystem faults for the
  dnl cluster tests.  Optional: without libfuse3 it is not built and the
  dnl tests that need it skip, saying why.
  PKG_CHECK_MODULES([FUSE3], [fuse3], [have_fuse3=yes],
    [have_fuse3=no
     AC_MSG_WARN([fuse3 not found by pkg-config: faultfs will not be built and the fault tests will skip (install libfuse3-dev)])])
  AM_CONDITIONAL([HAVE_FUSE3], [test "x$have_fuse3" = xyes])
])
