#!/bin/bash
# The faults of tests/cluster/faults.sh behave as the real faults would
# (issue 13), before any test trusts them with run history.  For each kind,
# on a scratch directory of its own (not HistoryDir): the test user writes
# on the fresh filesystem; once the fault is injected, a new file, a mkdir
# and a read fail with the real error (or, for a hang, block until killed);
# once it is lifted, what was written is there and writes work again; once
# released, the directory is back as it was, with nothing left mounted or
# running.  No Slurm job is needed.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"
. "$tests/faults.sh"

scratch_root=$(dirname "$fault_work")/fault-mechanisms
tmp=$(mktemp -d) || exit 1

# What a user sees under each fault: writing a new file, making a
# directory, reading the file written before ("first": it still reads).
declare -A write_error=(
	[eacces]="Permission denied" [erofs]="Read-only file system"
	[enospc]="No space left on device" [edquot]="Disk quota exceeded"
	[estale]="Stale file handle" [eio]="Input/output error"
	[missing]="No such file or directory")
declare -A read_result=(
	[eacces]="Permission denied" [erofs]=first [enospc]=first
	[edquot]=first [estale]="Stale file handle" [eio]="Input/output error"
	[missing]="No such file or directory")

cleanup() {
	local kind
	for kind in $fault_kinds; do
		fault_release "$kind" "$scratch_root/$kind" 2>/dev/null
		fault_release "$kind" "$scratch_root/$kind-busy" 2>/dev/null
		fault_release "$kind" "$scratch_root/$kind-release" 2>/dev/null
	done
	# Never into a mount left behind: rm would delete or hang in it.
	grep -qF " $scratch_root/" /proc/self/mountinfo || rm -rf "$scratch_root"
	rm -rf "$tmp"
}
trap cleanup EXIT

# skip COUNT REASON DESCRIPTION: COUNT results that cannot run here.
skip() {
	local i
	for ((i = 0; i < $1; i++)); do
		n=$((n + 1))
		echo "ok $n - $3 # SKIP $2"
	done
}

# scratch NAME: an empty root-owned 1777 directory with a marker file,
# for one case.  Prints its path.
scratch() {
	local d=$scratch_root/$1
	mkdir -p "$scratch_root" && chmod 0755 "$scratch_root"
	rm -rf "$d"
	mkdir -m 1777 "$d"
	chmod 1777 "$d"
	echo "marker of $1" >"$d/marker"
	echo "$d"
}

# as_user_write FILE TEXT: write TEXT to FILE as the test user; prints
# the error, if any.
as_user_write() {
	printf '%s\n' "$2" | as_user dd of="$1" status=none 2>&1
}

# bounded SECONDS OUT COMMAND...: run COMMAND with its output in OUT,
# waiting at most SECONDS (a fault that never lets go must fail this
# test, not hang it).  Returns its status, or 200 if it still runs.
bounded() {
	local secs=$1 out=$2 pid; shift 2
	rm -f "$out.rc"
	( "$@" >"$out" 2>&1; echo $? >"$out.rc" ) &
	pid=$!
	wait_until "$secs" test -s "$out.rc" || return 200
	wait "$pid"
	return "$(cat "$out.rc")"
}

mounts_on() { _fault_mounts "$(_fault_canon "$1")"; }
# A process that exited is gone, reaped or not (its parent is init).
alive() {
	[ -n "$1" ] && [ -e "/proc/$1" ] &&
		! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
gone() { ! alive "$1"; }
# Loop devices still serving a file under the fault work directory.
our_loops() { losetup -n -O BACK-FILE 2>/dev/null | grep -c "^$fault_work/"; }
# Whether thread $1 is blocked waiting for a FUSE answer.
in_fuse_wait() { [ "$(cat "/proc/$1/wchan" 2>/dev/null)" = request_wait_answer ]; }

# as_user_blocked_cat FILE OUT: cat FILE as the test user in the
# background; OUT's first line is its pid.
as_user_blocked_cat() {
	as_user sh -c 'echo $$; exec cat "$1"' sh "$1" >"$2" 2>&1 &
	wait_until 10 test -s "$2"
	head -n 1 "$2"
}

# prepare_case KIND DIR DESCRIPTION: fault_prepare, said as one result
# (none when KIND cannot be made here: returns 2, the reason in
# $skip_reason).  Returns 1 when it failed.
prepare_case() {
	local kind=$1 d=$2 before err rc
	before=$(mounts_on "$d")
	err=$(fault_prepare "$kind" "$d" 2>&1)
	rc=$?
	if [ $rc = 2 ]; then
		skip_reason=${err#faults: }
		return 2
	fi
	if [ $rc = 0 ] && [ "$(mounts_on "$d")" -gt "$before" ] &&
		[ "$(stat -c '%U %a' "$d")" = "root 1777" ] && [ ! -e "$d/marker" ]; then
		ok "$3"
		return 0
	fi
	not_ok "$3" "fault_prepare $kind: status $rc: $err" \
		"mounts on $d: $before before, $(mounts_on "$d") now" \
		"$(stat -c 'owner %U, mode %a' "$d")" "$(ls -A "$d" | head -n 5)"
	return 1
}

# first_writes KIND DIR: the test user makes u/ and u/a, theirs.
first_writes() {
	local kind=$1 d=$2 err
	err=$(as_user mkdir "$d/u" 2>&1 && as_user_write "$d/u/a" first)
	if [ -z "$err" ] && [ "$(cat "$d/u/a")" = first ] &&
		[ "$(stat -c %U "$d/u" "$d/u/a" | sort -u)" = "$user" ]; then
		ok "$kind: the user makes a directory and a file on it, owned by them"
	else
		not_ok "$kind: the user makes a directory and a file on it, owned by them" \
			"error: $err" "$(ls -ln "$d" "$d/u" 2>&1)"
	fi
}

inject_twice() {
	local err
	if err=$(fault_inject "$1" "$2" 2>&1 && fault_inject "$1" "$2" 2>&1); then
		ok "$1: inject, and inject again (idempotent)"
	else
		not_ok "$1: inject, and inject again (idempotent)" "$err"
	fi
}

lift_then_write() {
	local kind=$1 d=$2 err
	if err=$(fault_lift "$kind" "$d" 2>&1 && fault_lift "$kind" "$d" 2>&1); then
		ok "$kind: lift, and lift again (idempotent)"
	else
		not_ok "$kind: lift, and lift again (idempotent)" "$err"
	fi
	err=$(as_user_write "$d/u/c" third)
	if [ "$(as_user cat "$d/u/a" 2>&1)" = first ] && [ -z "$err" ] &&
		[ "$(cat "$d/u/c" 2>&1)" = third ]; then
		ok "$kind: lifted: u/a is still there and a new file can be written"
	else
		not_ok "$kind: lifted: u/a is still there and a new file can be written" \
			"u/a: $(as_user cat "$d/u/a" 2>&1)" "writing u/c: $err"
	fi
}

# release_case KIND DIR [PID]: fault_release leaves DIR as it was, and
# nothing mounted, running (faultfs PID) or attached behind.
release_case() {
	local kind=$1 d=$2 pid=${3:-} err mode_before=$4
	err=$(fault_release "$kind" "$d" 2>&1)
	if [ $? = 0 ] && [ "$(cat "$d/marker" 2>&1)" = "marker of ${d##*/}" ] &&
		[ "$(stat -c '%U %a' "$d")" = "$mode_before" ]; then
		ok "$kind: release: the directory's own content, owner and mode are back"
	else
		not_ok "$kind: release: the directory's own content, owner and mode are back" \
			"$err" "$(ls -la "$d" 2>&1 | head -n 5)"
	fi
	if [ "$(mounts_on "$d")" = 0 ] && ! mountpoint -q "$d" && gone "$pid" &&
		[ "$(our_loops)" = 0 ]; then
		ok "$kind: release: nothing left mounted, running or attached"
	else
		not_ok "$kind: release: nothing left mounted, running or attached" \
			"mounts on $d: $(mounts_on "$d")" "faultfs pid ${pid:-none}: $(alive "$pid" && echo alive)" \
			"loop devices: $(losetup -n -O NAME,BACK-FILE 2>/dev/null | grep "$fault_work/")"
	fi
}

# An injected fault, as the user sees it: a new file, a mkdir, a read.
show_errors() {
	local kind=$1 d=$2 want=${write_error[$1]} got
	got=$(as_user_write "$d/u/b" second)
	case $got in
	*"$want"*) ok "$kind: writing a new file: $want" ;;
	*) not_ok "$kind: writing a new file: $want" "got: ${got:-success}" ;;
	esac
	got=$(as_user mkdir "$d/u/d" 2>&1)
	case $got in
	*"$want"*) ok "$kind: mkdir: $want" ;;
	*) not_ok "$kind: mkdir: $want" "got: ${got:-success}" ;;
	esac
	got=$(as_user cat "$d/u/a" 2>&1)
	case $got in
	*"${read_result[$kind]}"*) ok "$kind: reading the file written before: ${read_result[$kind]}" ;;
	*) not_ok "$kind: reading the file written before: ${read_result[$kind]}" "got: $got" ;;
	esac
}

# 10 results for each kind but hang.
errno_kind() {
	local kind=$1 d pid mode_before
	d=$(scratch "$kind")
	mode_before=$(stat -c '%U %a' "$d")
	prepare_case "$kind" "$d" "$kind: prepare mounts a fresh, empty, root-owned 1777 filesystem"
	case $? in
	2) skip 10 "$skip_reason" "$kind"; return ;;
	1) skip 9 "fault_prepare failed" "$kind"; return ;;
	esac
	pid=$(fault_pid "$d")
	first_writes "$kind" "$d"
	inject_twice "$kind" "$d"
	show_errors "$kind" "$d"
	lift_then_write "$kind" "$d"
	release_case "$kind" "$d" "$pid" "$mode_before"
}

# 11 results.
hang_kind() {
	local kind=hang d pid mode_before rc rc2 bg cat_pid
	d=$(scratch hang)
	mode_before=$(stat -c '%U %a' "$d")
	prepare_case hang "$d" "hang: prepare mounts a fresh, empty, root-owned 1777 filesystem"
	case $? in
	2) skip 11 "$skip_reason" hang; return ;;
	1) skip 10 "fault_prepare failed" hang; return ;;
	esac
	pid=$(fault_pid "$d")
	first_writes hang "$d"
	inject_twice hang "$d"

	# Blocked where the kernel waits for FUSE, then SIGKILL: it dies (a
	# hard NFS mount lets it; bare FUSE keeps a process whose request the
	# server has read in D state).  First, while no other request waits,
	# so faultfs has read this one.
	cat_pid=$(as_user_blocked_cat "$d/u/a" "$tmp/killed")
	if [ -n "$cat_pid" ] && wait_until 10 in_fuse_wait "$cat_pid"; then
		kill -KILL "$cat_pid"
		if wait_until 5 gone "$cat_pid"; then
			ok "hang: a reader blocked on the hang dies of SIGKILL"
		else
			not_ok "hang: a reader blocked on the hang dies of SIGKILL" \
				"pid $cat_pid: $(grep State /proc/"$cat_pid"/status 2>&1)"
		fi
	else
		not_ok "hang: a reader blocked on the hang dies of SIGKILL" \
			"the reader (pid ${cat_pid:-unknown}) never blocked: $(cat "$tmp/killed")"
	fi
	# A second reader, already waiting when the first comes: one stuck
	# request stops everyone, as on a hung NFS server.
	bg=$tmp/second
	( as_user timeout 4 stat "$d/u" >/dev/null 2>&1; echo $? >"$bg.rc" ) &
	bounded 15 "$tmp/first" as_user timeout 2 cat "$d/u/a"
	rc=$?
	wait_until 15 test -s "$bg.rc"
	rc2=$(cat "$bg.rc" 2>/dev/null)
	same "hang: timeout 2 cat u/a is killed after 2 s (124)" 124 "$rc"
	same "hang: a second process, waiting at the same time, hangs too (124)" 124 "${rc2:-still running}"
	if alive "$pid" && [ "$(mounts_on "$d")" -gt 0 ]; then
		ok "hang: faultfs still runs and the mount is still there"
	else
		not_ok "hang: faultfs still runs and the mount is still there" \
			"pid $pid: $(alive "$pid" && echo alive || echo gone)" "mounts: $(mounts_on "$d")"
	fi

	# Anything still stuck (a failure above) goes on once lifted.
	lift_then_write hang "$d"
	release_case hang "$d" "$pid" "$mode_before"
}

# 5 results.  A job keeps its log open for writing: a remount refuses,
# so faults.sh fails the filesystem as the kernel does on an error.
erofs_busy() {
	local kind=erofs d mode_before got
	d=$(scratch erofs-busy)
	mode_before=$(stat -c '%U %a' "$d")
	if ! fault_prepare erofs "$d" 2>"$tmp/err"; then
		not_ok "erofs, a file open for writing: prepare" "$(cat "$tmp/err")"
		skip 4 "fault_prepare failed" "erofs, a file open for writing"
		return
	fi
	as_user mkdir "$d/u"
	as_user_write "$d/u/a" first >/dev/null
	# The holder writes a line each time it is told to, and says how it went.
	coproc HOLDER { as_user bash -c 'exec 3>>"$1" || exit 1; echo open
		while read -r _; do
			if echo line >&3 2>/dev/null; then echo written; else echo refused; fi
		done' holder "$d/u/held"; }
	read -r -t 10 got <&"${HOLDER[0]}"
	if fault_inject erofs "$d" 2>"$tmp/err" && [ "$got" = open ]; then
		echo go >&"${HOLDER[1]}"
		read -r -t 10 got <&"${HOLDER[0]}"
		same "erofs, a file open for writing: inject; the open file refuses writes" \
			"refused ${write_error[erofs]}" "$got $(as_user_write "$d/u/b" second | grep -o "${write_error[erofs]}")"
	else
		not_ok "erofs, a file open for writing: inject; the open file refuses writes" \
			"holder: $got" "$(cat "$tmp/err")"
	fi
	lift_then_write erofs "$d"
	eval "exec ${HOLDER[1]}>&-"
	wait "$HOLDER_PID" 2>/dev/null
	release_case erofs "$d" "" "$mode_before"
}

# 3 results.  A trap releases whatever state the test is in.
release_while_hung() {
	local d cat_pid pid
	d=$(scratch hang-release)
	if ! fault_prepare hang "$d" 2>"$tmp/err"; then
		skip 3 "$(sed "s/^faults: //" "$tmp/err")" "hang, released while injected"
		return
	fi
	pid=$(fault_pid "$d")
	as_user mkdir "$d/u"
	as_user_write "$d/u/a" first >/dev/null
	fault_inject hang "$d"
	cat_pid=$(as_user_blocked_cat "$d/u/a" "$tmp/stuck")
	wait_until 10 in_fuse_wait "$cat_pid"
	bounded 30 "$tmp/release" fault_release hang "$d"
	same "hang, released while injected: fault_release returns 0" 0 $?
	if wait_until 10 gone "$cat_pid"; then
		ok "hang, released while injected: the reader blocked on it is gone"
	else
		not_ok "hang, released while injected: the reader blocked on it is gone" \
			"pid $cat_pid: $(grep State /proc/"$cat_pid"/status 2>&1)"
	fi
	if [ "$(mounts_on "$d")" = 0 ] && gone "$pid" && [ "$(cat "$d/marker")" = "marker of hang-release" ]; then
		ok "hang, released while injected: no mount, no faultfs, the marker is back"
	else
		not_ok "hang, released while injected: no mount, no faultfs, the marker is back" \
			"mounts: $(mounts_on "$d")" "faultfs $pid: $(alive "$pid" && echo alive)" \
			"$(cat "$tmp/release")"
	fi
}

echo "1..89"
for kind in eacces erofs enospc missing edquot estale eio; do
	errno_kind "$kind"
done
hang_kind
erofs_busy
release_while_hung
