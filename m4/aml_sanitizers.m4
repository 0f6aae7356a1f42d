# aml_sanitizers.m4: AddressSanitizer and UBSan builds, and the libFuzzer
# targets (which imply them).

# AML_CHECK_SANITIZERS
# --------------------
# --enable-sanitizers and --enable-fuzzers; sets ENABLE_FUZZERS and
# ASAN_DETECT_LEAKS (1 where LeakSanitizer works, for the tests), and
# calls AML_CHECK_FORTIFY when neither is asked for.
AC_DEFUN([AML_CHECK_SANITIZERS], [
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers],
      [build with AddressSanitizer and UndefinedBehaviorSanitizer])],
    [], [enable_sanitizers=no])
  AC_ARG_ENABLE([fuzzers],
    [AS_HELP_STRING([--enable-fuzzers],
      [build the libFuzzer targets in tests/fuzz (needs CC=clang)])],
    [], [enable_fuzzers=no])

  aml_sanitize=no
  AS_IF([test "x$enable_sanitizers" != xno || test "x$enable_fuzzers" != xno],
    [aml_sanitize=yes])
  AML_SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

  AS_IF([test "x$enable_fuzzers" != xno], [
    AC_MSG_CHECKING([whether $CC can build libFuzzer targets])
    aml_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -fsanitize=fuzzer,address,undefined"
    AC_LINK_IFELSE([AC_LANG_SOURCE([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{ (void)data; (void)size; return 0; }
]])],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no])
       AC_MSG_ERROR([--enable-fuzzers needs clang with libFuzzer: install clang and libclang-rt-14-dev, then configure with CC=clang])])
    CFLAGS=$aml_save_CFLAGS
    dnl Coverage instrumentation for the code under test; only the fuzz
    dnl targets link the libFuzzer driver (-fsanitize=fuzzer).
    AML_SAN_FLAGS="$AML_SAN_FLAGS -fsanitize=fuzzer-no-link"
  ])

  ASAN_DETECT_LEAKS=0
  AS_IF([test "x$aml_sanitize" = xyes], [
    AC_MSG_CHECKING([whether $CC supports $AML_SAN_FLAGS])
    AML_TRY_FLAGS([$AML_SAN_FLAGS], [$AML_SAN_FLAGS],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no])
       AC_MSG_ERROR([sanitizers unavailable: install gcc (libasan, libubsan) or clang and libclang-rt-14-dev])])
    AML_CFLAGS="$AML_CFLAGS $AML_SAN_FLAGS"
    AML_LDFLAGS="$AML_LDFLAGS $AML_SAN_FLAGS"

    dnl LeakSanitizer cannot run everywhere (under ptrace, in some
    dnl containers): turn it on for the tests only where it works.
    AC_MSG_CHECKING([whether LeakSanitizer works here])
    aml_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS $AML_SAN_FLAGS"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <stdlib.h>
void *volatile aml_leak;]], [[aml_leak = malloc(64); aml_leak = 0;]])], [
      AS_IF([ASAN_OPTIONS=detect_leaks=1 ./conftest$EXEEXT 2>&1 | grep 'detected memory leaks' >/dev/null 2>&1],
        [ASAN_DETECT_LEAKS=1])
    ])
    CFLAGS=$aml_save_CFLAGS
    AS_IF([test $ASAN_DETECT_LEAKS = 1],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no, tests run with detect_leaks=0])])
  ], [
    AML_CHECK_FORTIFY
  ])

  AC_SUBST([ASAN_DETECT_LEAKS])
  AM_CONDITIONAL([ENABLE_FUZZERS], [test "x$enable_fuzzers" != xno])
])
