# aml_slurm.m4: the Slurm this is built for.

# AML_CHECK_SLURM
# ---------------
# The public headers, SLURM_VERSION_NUMBER (the job_submit plugin must be
# built against the Slurm it runs in) and SLURM_VERSION, and slurmplugindir
# (--with-slurm-plugindir, else Debian's /usr/lib/MULTIARCH/slurm-wlm).
AC_DEFUN([AML_CHECK_SLURM], [
  m4_foreach_w([aml_hdr], [slurm/slurm.h slurm/spank.h slurm/slurm_version.h],
    [AC_CHECK_HEADER(aml_hdr, [],
      [AC_MSG_ERROR([Slurm header aml_hdr not found: install libslurm-dev])])
  ])

  AC_COMPUTE_INT([SLURM_VERSION_NUMBER], [SLURM_VERSION_NUMBER],
    [[#include <slurm/slurm_version.h>]],
    [AC_MSG_ERROR([cannot read SLURM_VERSION_NUMBER from slurm/slurm_version.h: install libslurm-dev])])
  SLURM_VERSION=`printf '%d.%02d.%d' $(( SLURM_VERSION_NUMBER >> 16 )) \
    $(( (SLURM_VERSION_NUMBER >> 8) & 255 )) $(( SLURM_VERSION_NUMBER & 255 ))`
  AC_MSG_CHECKING([Slurm version])
  AC_MSG_RESULT([$SLURM_VERSION ($SLURM_VERSION_NUMBER)])
  AC_SUBST([SLURM_VERSION_NUMBER])
  AC_SUBST([SLURM_VERSION])

  AC_ARG_WITH([slurm-plugindir],
    [AS_HELP_STRING([--with-slurm-plugindir=DIR],
      [where Slurm loads plugins from (default: /usr/lib/MULTIARCH/slurm-wlm)])],
    [slurmplugindir=$withval], [slurmplugindir=])
  AS_CASE([$slurmplugindir],
    [no], [AC_MSG_ERROR([--without-slurm-plugindir: the plugins need a directory])],
    [""|yes], [
      AC_MSG_CHECKING([for the multiarch triplet])
      aml_multiarch=`$CC -print-multiarch 2>/dev/null`
      AS_IF([test -z "$aml_multiarch"],
        [aml_multiarch=`dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null`])
      AS_IF([test -z "$aml_multiarch"],
        [AC_MSG_RESULT([unknown])
         AC_MSG_ERROR([cannot tell the multiarch triplet (neither $CC -print-multiarch nor dpkg-architecture): install dpkg-dev or pass --with-slurm-plugindir=DIR])])
      AC_MSG_RESULT([$aml_multiarch])
      slurmplugindir=/usr/lib/$aml_multiarch/slurm-wlm
      AS_IF([test ! -d "$slurmplugindir"],
        [AC_MSG_ERROR([Slurm plugin directory $slurmplugindir not found: install slurm-wlm (or pass --with-slurm-plugindir=DIR)])])
    ])
  AC_MSG_CHECKING([Slurm plugin directory])
  AC_MSG_RESULT([$slurmplugindir])
  AC_SUBST([slurmplugindir])
])
