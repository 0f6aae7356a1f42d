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
  AC_DEFINE_UNQUOTED([AML_SLURM_BUILT_FOR], ["$SLURM_VERSION"],
    [the Slurm release this is built for, as slurmctld -V says it])

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

# AML_CHECK_SLURM_FEATURES
# ------------------------
# What differs between the Slurm releases slurm-aml builds against
# (22.05 to 26.05), each found by what the headers declare, for
# compat/slurm_compat.h, the one place that uses the results:
#   HAVE_DECL_SLURM_GET_ERRNO      0 from 23.02: Slurm's codes are in errno
#   AML_HOSTLIST_IS_STRUCT         hostlist_t names the structure (23.02),
#                                  not a pointer to it
#   AML_LOAD_JOB_TAKES_STEP_ID     slurm_load_job and slurm_requeue take
#   AML_REQUEUE_TAKES_STEP_ID      a slurm_step_id_t, not a job id (26.05)
#   HAVE_SUBMIT_RESPONSE_MSG_T_JOB_ID  a submission's answer has job_id,
#                                  not step_id.job_id (before 26.05)
# and the one fact no public header states, the arguments slurmctld calls
# a job_submit plugin's job_modify with, by the release that changed them:
#   AML_JOB_MODIFY_HAS_ERR_MSG     job_modify(..., char **err_msg), 23.02
# AML_SLURM_SIGNATURE(WHAT, FUNCTION, POINTER-TYPE, MACRO)
# -------------------------------------------------------
# Define MACRO when Slurm's FUNCTION has exactly the type POINTER-TYPE
# points to (_Generic: a mismatch is an error, not a warning).
AC_DEFUN([AML_SLURM_SIGNATURE], [
  AC_MSG_CHECKING([whether $1])
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <slurm/slurm.h>]],
      [[_Static_assert(_Generic($2, $3: 1, default: 0), "$2");]])],
    [AC_MSG_RESULT([yes])
     AC_DEFINE([$4], [1], [$1])],
    [AC_MSG_RESULT([no])])
])

AC_DEFUN([AML_CHECK_SLURM_FEATURES], [
  AC_REQUIRE([AML_CHECK_SLURM])
  AC_CHECK_DECLS([slurm_get_errno], [], [], [[#include <slurm/slurm.h>]])
  AC_CHECK_MEMBERS([submit_response_msg_t.job_id], [], [],
    [[#include <slurm/slurm.h>]])
  AML_SLURM_SIGNATURE([slurm_load_job takes a slurm_step_id_t],
    [slurm_load_job], [int (*)(job_info_msg_t **, slurm_step_id_t, uint16_t)],
    [AML_LOAD_JOB_TAKES_STEP_ID])
  AML_SLURM_SIGNATURE([slurm_requeue takes a slurm_step_id_t],
    [slurm_requeue], [int (*)(slurm_step_id_t, uint32_t)],
    [AML_REQUEUE_TAKES_STEP_ID])
  AC_MSG_CHECKING([whether hostlist_t is the structure, not a pointer])
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <slurm/slurm.h>]],
      [[_Static_assert(_Generic(slurm_hostlist_create("n1"),
                                hostlist_t *: 1, default: 0),
                       "slurm_hostlist_create returns a hostlist_t *");]])],
    [AC_MSG_RESULT([yes])
     AC_DEFINE([AML_HOSTLIST_IS_STRUCT], [1],
       [hostlist_t is struct hostlist (Slurm 23.02 and later)])],
    [AC_MSG_RESULT([no])])
  AC_MSG_CHECKING([whether job_modify has an err_msg])
  AS_IF([test "$SLURM_VERSION_NUMBER" -ge $(( (23 << 16) + (2 << 8) ))],
    [AC_MSG_RESULT([yes (Slurm 23.02 and later)])
     AC_DEFINE([AML_JOB_MODIFY_HAS_ERR_MSG], [1],
       [slurmctld calls job_modify with a char **err_msg (23.02 and later)])],
    [AC_MSG_RESULT([no])])
])
