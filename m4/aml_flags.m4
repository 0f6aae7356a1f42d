# aml_flags.m4: the compiler and linker flags every target is built with.
#
# They go into AML_CPPFLAGS, AML_CFLAGS and AML_LDFLAGS, used as AM_* in
# every Makefile.am, and never into CFLAGS: the checks that follow must
# compile with the user's flags alone, and -Werror there would turn any
# warning in an autoconf test program into a missing feature.

# AML_TRY_FLAGS(CFLAGS, LDFLAGS, [IF-OK], [IF-NOT])
# -------------------------------------------------
# Link a trivial program with the extra flags and -Werror, so a flag the
# compiler only warns about counts as unsupported.
AC_DEFUN([AML_TRY_FLAGS], [
  aml_save_CFLAGS=$CFLAGS
  aml_save_LDFLAGS=$LDFLAGS
  CFLAGS="$CFLAGS -Werror $1"
  LDFLAGS="$LDFLAGS $2"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <stdio.h>]], [[puts("x");]])],
    [$3], [$4])
  CFLAGS=$aml_save_CFLAGS
  LDFLAGS=$aml_save_LDFLAGS
])

# AML_CHECK_WARNINGS
# ------------------
# C11 with -Wall -Wextra always.  -Werror only with --enable-werror: the
# developers' builds (tests/run-all, hence CI) turn it on, while a user
# building a release with a newer compiler, which warns about things this
# one does not, still gets a build.
AC_DEFUN([AML_CHECK_WARNINGS], [
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--enable-werror],
      [treat compiler warnings as errors (for developers; tests/run-all turns it on)])],
    [], [enable_werror=no])
  AML_CPPFLAGS="-D_GNU_SOURCE"
  AML_CFLAGS="-std=gnu11 -Wall -Wextra"
  AML_LDFLAGS=""
  AC_MSG_CHECKING([whether $CC accepts $AML_CFLAGS])
  AML_TRY_FLAGS([$AML_CFLAGS], [],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([$CC cannot build C11 with -Wall -Wextra: install build-essential (gcc) or clang])])
  AS_CASE([$enable_werror],
    [yes], [AML_CFLAGS="$AML_CFLAGS -Werror"],
    [no], [],
    [AC_MSG_ERROR([--enable-werror takes no value, got $enable_werror])])
])

# AML_CHECK_HARDENING
# -------------------
# Stack protector and a read-only GOT with immediate binding: the plugins
# run inside root's slurmctld and slurmstepd.  Each is used where the
# toolchain has it.
AC_DEFUN([AML_CHECK_HARDENING], [
  AC_MSG_CHECKING([whether $CC accepts -fstack-protector-strong])
  AML_TRY_FLAGS([-fstack-protector-strong], [],
    [AC_MSG_RESULT([yes]); AML_CFLAGS="$AML_CFLAGS -fstack-protector-strong"],
    [AC_MSG_RESULT([no])])

  AC_MSG_CHECKING([whether the linker accepts -z relro -z now -z noexecstack])
  AML_TRY_FLAGS([], [-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack],
    [AC_MSG_RESULT([yes]); AML_LDFLAGS="$AML_LDFLAGS -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack"],
    [AC_MSG_RESULT([no])])
])

# AML_CHECK_FORTIFY
# -----------------
# _FORTIFY_SOURCE needs optimization (glibc warns otherwise, an error
# under --enable-werror), so it is used only when CFLAGS optimize.
# Sanitizer builds leave it out (AML_CHECK_SANITIZERS does not call this).
AC_DEFUN([AML_CHECK_FORTIFY], [
  AC_MSG_CHECKING([whether to use _FORTIFY_SOURCE=2])
  aml_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -Werror -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <stdio.h>
#ifndef __OPTIMIZE__
#error not optimizing
#endif]], [[puts("x");]])],
    [AC_MSG_RESULT([yes])
     AML_CPPFLAGS="$AML_CPPFLAGS -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2"],
    [AC_MSG_RESULT([no (not optimizing)])])
  CFLAGS=$aml_save_CFLAGS
])
