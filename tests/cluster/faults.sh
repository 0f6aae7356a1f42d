# Faults of the shared filesystem that holds run history, for the cluster
# tests (issue 13).  Sourced after lib.sh; runs as root.
#
#   fault_prepare KIND DIR   mount over DIR (an existing directory, e.g. the
#                            cluster's HistoryDir) a fresh, empty filesystem
#                            for KIND, root's and mode 1777 at its root; what
#                            is written in DIR from now on lives on it
#   fault_inject KIND DIR    the fault begins
#   fault_lift KIND DIR      the fault ends; what was written before is back
#   fault_release KIND DIR   lift if needed, unmount, stop and remove all that
#                            prepare made: DIR is as it was (owner, mode, and
#                            its own content visible again).  Safe from a trap,
#                            in any state, even while the fault is injected.
#   fault_pid DIR            the pid of DIR's faultfs (KINDs that use one)
#
# KIND is one of $fault_kinds.  inject and lift are idempotent.  Each
# returns 0, or non-zero after one line on stderr saying why; prepare
# returns 2 when this machine cannot make KIND (a test skips then).
#
#   KIND     what the fault is               how (real unless said)
#   eacces   Permission denied               tmpfs whose root turns mode 000
#                                            (NFS after a Kerberos ticket expired)
#   erofs    Read-only file system           ext4 on a loop device, remounted ro;
#                                            with files open for writing, which a
#                                            remount refuses, made read-only the
#                                            way the kernel does on a filesystem
#                                            error (lift then mounts a checked
#                                            copy: files open before stay ro)
#   enospc   No space left on device         ext4 (-m 0) on a loop device, filled
#   edquot   Disk quota exceeded             faultfs "errno EDQUOT writes"
#                                            (simulated: no quota in this kernel)
#   estale   Stale file handle               faultfs "errno ESTALE" (simulated)
#   eio      Input/output error              faultfs "errno EIO" (simulated)
#   missing  No such file or directory       a bind mount, unmounted (lazily if
#                                            busy), showing an empty root-owned
#                                            0755 directory: an absent automount
#   hang     every access blocks             faultfs "hang" (simulated); as on a
#                                            hard NFS mount, a process killed
#                                            while it waits dies
#
# Work files live in $fault_work (root's, 0700): one directory per DIR.

fault_kinds="eacces erofs enospc edquot estale eio missing hang"
fault_work=${AML_FAULT_WORK:-${AML_CLUSTER_DIR:-/var/tmp/aml-cluster}/faults}
fault_faultfs=${AML_FAULTFS:-${AML_BIN:-/nonexistent}/faultfs}
# Size of the ext4 images (sparse files).
fault_image_mb=64

_fault_say() { echo "faults: $*" >&2; }

_fault_valid_kind() {
	case " $fault_kinds " in
	*" $1 "*) return 0 ;;
	esac
	_fault_say "unknown fault kind \"$1\" (one of: $fault_kinds)"
	return 1
}

_fault_uses_faultfs() {
	case $1 in edquot | estale | eio | hang) return 0 ;; esac
	return 1
}

# _fault_canon DIR: DIR's absolute path with its parent's symlinks
# resolved, without looking at DIR itself: a hung or stale mount on DIR
# would block or fail the look.
_fault_canon() {
	local d=$1 parent
	while [ "${d%/}" != "$d" ] && [ "$d" != / ]; do d=${d%/}; done
	parent=$(cd -P -- "$(dirname -- "$d")" 2>/dev/null && pwd -P) || {
		_fault_say "$1: its parent directory cannot be reached"
		return 1
	}
	[ "$parent" = / ] && parent=
	printf '%s/%s\n' "$parent" "$(basename -- "$d")"
}

# _fault_state CANON: the work directory of the canonical path CANON.
_fault_state() {
	printf '%s/%s\n' "$fault_work" "$(printf '%s' "$1" | sha256sum | cut -c1-16)"
}

# _fault_mounts CANON: how many mounts are stacked on CANON, read from the
# mount table (no stat of CANON, which could hang).
_fault_mounts() {
	local esc
	esc=$(printf '%s' "$1" | sed 's/\\/\\134/g; s/ /\\040/g; s/\t/\\011/g')
	awk -v p="$esc" '$5 == p { n++ } END { print n + 0 }' /proc/self/mountinfo
}

# _fault_unmount CANON: take the top mount off CANON, lazily if busy.
_fault_unmount() {
	umount -- "$1" 2>/dev/null || umount -l -- "$1"
}

# _fault_prepared KIND DIR: the state directory of DIR prepared for KIND,
# or a message and 1.
_fault_prepared() {
	local canon state
	_fault_valid_kind "$1" || return 1
	canon=$(_fault_canon "$2") || return 1
	state=$(_fault_state "$canon")
	if [ ! -f "$state/kind" ]; then
		_fault_say "$canon: not prepared (fault_prepare $1 $canon first)"
		return 1
	fi
	if [ "$(cat "$state/kind")" != "$1" ]; then
		_fault_say "$canon: prepared for $(cat "$state/kind"), not $1"
		return 1
	fi
	echo "$state"
}

# _fault_set_control STATE LINE: the next faultfs request obeys LINE.
# Renamed into place, so faultfs never reads half a line.
_fault_set_control() {
	printf '%s\n' "$2" >"$1/control.new" && chmod 0600 "$1/control.new" &&
		mv -f "$1/control.new" "$1/control"
}

# _fault_is_faultfs PID: whether PID runs faultfs (by its binary, so a
# reused pid is never taken for it).  A zombie has no binary: it is gone.
_fault_is_faultfs() {
	[ -n "$1" ] && [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$fault_faultfs")" ]
}

# _fault_poll SECONDS COMMAND...: until COMMAND succeeds; 1 on timeout.
_fault_poll() {
	local deadline=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

_fault_not() { ! "$@"; }

# _fault_detach_loops STATE: detach STATE's loop devices, now or (still
# mounted lazily) once the last file open on them closes.  Only while
# they still serve one of STATE's images: a number freed may be someone
# else's device by now.
_fault_detach_loops() {
	local dev back
	[ -f "$1/loops" ] || return 0
	while read -r dev; do
		back=$(losetup -n -O BACK-FILE "$dev" 2>/dev/null)
		case $back in
		"$1"/*) losetup -d "$dev" ;;
		esac
	done <"$1/loops"
}

# ---------------------------------------------------------------------------
# Per kind: _fault_prepare_KIND CANON STATE, _fault_inject_KIND, _fault_lift_KIND

# An ext4 image of $fault_image_mb MiB on a loop device of its own,
# mounted on CANON.  No root reserve (-m 0): full means full for root too,
# so root can check it.  errors=remount-ro: see _fault_inject_erofs.
_fault_ext4_mount() {
	local canon=$1 state=$2 image=$3 dev
	dev=$(losetup --find --show "$image") || return 1
	echo "$dev" >>"$state/loops"
	mount -t ext4 -o nosuid,nodev,errors=remount-ro -- "$dev" "$canon" || return 1
	# A fresh filesystem is empty: users see only what they make.
	rmdir -- "$canon/lost+found" 2>/dev/null
	chmod 1777 -- "$canon"
}

_fault_prepare_ext4() {
	local canon=$1 state=$2 tool
	for tool in mkfs.ext4 e2fsck losetup; do
		if ! command -v "$tool" >/dev/null; then
			_fault_say "$tool not found: install e2fsprogs and mount"
			return 2
		fi
	done
	echo "$state/image.0" >"$state/image"
	truncate -s "${fault_image_mb}M" "$state/image.0" &&
		mkfs.ext4 -q -F -m 0 -E root_owner=0:0 "$state/image.0" >>"$state/log" 2>&1 &&
		_fault_ext4_mount "$canon" "$state" "$state/image.0"
}

_fault_prepare_eacces() {
	mount -t tmpfs -o mode=1777,uid=0,gid=0,size=${fault_image_mb}m,nosuid,nodev \
		aml-fault-eacces "$1"
}
_fault_inject_eacces() { chmod 000 -- "$1"; }
_fault_lift_eacces() { chmod 1777 -- "$1"; }

_fault_prepare_erofs() { _fault_prepare_ext4 "$@"; }

# A remount is refused while a file is open for writing on the
# filesystem (as a job's log is): the kernel itself turns an ext4 that
# hit an error read-only regardless (errors=remount-ro), and that is what
# the sysfs trigger does.  Every write then fails with EROFS, through
# open files too, until it is unmounted: the kernel never makes it
# writable again.
_fault_inject_erofs() {
	local canon=$1 state=$2 dev probe
	if mount -o remount,ro -- "$canon" 2>/dev/null; then
		rm -f "$state/forced"
		return 0
	fi
	dev=$(tail -n 1 "$state/loops")
	_fault_say "erofs: $canon is busy with files open for writing: read-only as on a filesystem error"
	# What was written so far must be in the image for the lift.
	sync -f -- "$canon"
	echo 1 >"/sys/fs/ext4/${dev#/dev/}/trigger_fs_error" || return 1
	touch "$state/forced"
	probe=$canon/.aml-fault-probe.$$
	if mkdir -- "$probe" 2>/dev/null; then
		rmdir -- "$probe"
		_fault_say "erofs: $canon still takes writes after the error"
		return 1
	fi
}

# A forced one stays read-only until unmounted, and whoever still has a
# file open keeps the old mount alive: mount a checked copy of the image
# (what was synced before the error), so the old mount never writes over
# the new one's image.
_fault_lift_erofs() {
	local canon=$1 state=$2 old new n
	if [ ! -e "$state/forced" ]; then
		mount -o remount,rw -- "$canon"
		return
	fi
	old=$(cat "$state/image")
	n=$(($(wc -l <"$state/loops") + 0))
	new=$state/image.$n
	_fault_unmount "$canon" || return 1
	cp --sparse=always -- "$old" "$new" || return 1
	# 0: clean, 1: errors fixed; more is a filesystem left broken.
	e2fsck -fy "$new" >>"$state/log" 2>&1
	if [ $? -ge 4 ]; then
		_fault_say "erofs: e2fsck could not repair $new (see $state/log)"
		return 1
	fi
	echo "$new" >"$state/image"
	_fault_ext4_mount "$canon" "$state" "$new" || return 1
	rm -f -- "$state/forced" "$old"
}

_fault_prepare_enospc() { _fault_prepare_ext4 "$@"; }

# _fault_is_full CANON: whether a one-block write and a mkdir both fail
# with ENOSPC (as root, who has no reserve here: -m 0).
_fault_is_full() {
	local probe=$1/.aml-fault-filler/probe out
	out=$(dd if=/dev/zero of="$probe" bs=4096 count=1 conv=fsync status=none 2>&1)
	rm -f -- "$probe"
	case $out in *"No space left on device"*) ;; *) return 1 ;; esac
	out=$(mkdir -- "$probe.d" 2>&1)
	rmdir -- "$probe.d" 2>/dev/null
	case $out in *"No space left on device"*) return 0 ;; esac
	return 1
}

# Filled by a root-only directory whose name starts with a dot: run
# history skips such names.
_fault_inject_enospc() {
	local canon=$1 fill=$1/.aml-fault-filler try avail
	[ -d "$fill" ] || mkdir -m 0700 -- "$fill" || return 1
	for try in 1 2 3; do
		avail=$(stat -f -c '%a %S' -- "$canon") || return 1
		avail=$((${avail% *} * ${avail#* }))
		[ "$avail" -gt 0 ] && fallocate -l "$avail" -- "$fill/fallocate.$try" 2>/dev/null
		# Whatever fallocate left: block by block until ENOSPC.
		dd if=/dev/zero of="$fill/dd.$try" bs=4096 status=none 2>/dev/null
		sync -f -- "$canon"
		_fault_is_full "$canon" && return 0
	done
	_fault_say "enospc: $canon still has room after filling it"
	return 1
}
_fault_lift_enospc() {
	rm -rf -- "$1/.aml-fault-filler" && sync -f -- "$1"
}

# Two mounts: an empty root-owned 0755 directory (what an automount
# point shows when nothing is mounted), and the backing directory over it.
_fault_prepare_missing() {
	local canon=$1 state=$2
	mkdir -m 0755 -- "$state/absent" "$state/backing" &&
		chmod 1777 -- "$state/backing" &&
		mount --bind -- "$state/absent" "$canon" &&
		mount --bind -- "$state/backing" "$canon"
}
_fault_inject_missing() {
	local before
	before=$(_fault_mounts "$1")
	_fault_unmount "$1" || return 1
	[ "$(_fault_mounts "$1")" -lt "$before" ]
}
_fault_lift_missing() { mount --bind -- "$2/backing" "$1"; }

_fault_prepare_faultfs() {
	local canon=$1 state=$2
	if [ ! -x "$fault_faultfs" ]; then
		_fault_say "faultfs not built: libfuse3-dev missing"
		return 2
	fi
	mkdir -m 0755 -- "$state/backing" && chmod 1777 -- "$state/backing" &&
		_fault_set_control "$state" ok || return 1
	# It returns once the mount is live, its pid in $state/pid.
	"$fault_faultfs" "$state/backing" "$canon" "$state/control" "$state/pid" \
		2>>"$state/log" </dev/null >/dev/null || {
		_fault_say "faultfs failed to mount $canon: $(tail -n 3 "$state/log")"
		return 1
	}
}
_fault_prepare_edquot() { _fault_prepare_faultfs "$@"; }
_fault_prepare_estale() { _fault_prepare_faultfs "$@"; }
_fault_prepare_eio() { _fault_prepare_faultfs "$@"; }
_fault_prepare_hang() { _fault_prepare_faultfs "$@"; }

_fault_control_line() {
	case $1 in
	edquot) echo "errno EDQUOT writes" ;;
	estale) echo "errno ESTALE" ;;
	eio) echo "errno EIO" ;;
	hang) echo "hang" ;;
	esac
}

# ---------------------------------------------------------------------------

fault_prepare() {
	local kind=$1 canon state rc
	_fault_valid_kind "$kind" || return 1
	if [ "$(id -u)" != 0 ]; then
		_fault_say "fault_prepare: must run as root (it mounts)"
		return 1
	fi
	canon=$(_fault_canon "$2") || return 1
	if [ ! -d "$canon" ] || [ -L "$canon" ]; then
		_fault_say "fault_prepare $kind: $canon is not a directory"
		return 1
	fi
	state=$(_fault_state "$canon")
	if [ -e "$state" ]; then
		_fault_say "$canon: already prepared for $(cat "$state/kind" 2>/dev/null) (fault_release it first)"
		return 1
	fi
	if _fault_uses_faultfs "$kind" && [ ! -x "$fault_faultfs" ]; then
		_fault_say "faultfs not built: libfuse3-dev missing"
		return 2
	fi
	mkdir -p -- "$(dirname -- "$fault_work")" &&
		{ [ -d "$fault_work" ] || mkdir -m 0700 -- "$fault_work"; } &&
		chmod 0700 -- "$fault_work" && mkdir -m 0700 -- "$state" || return 1
	echo "$kind" >"$state/kind"
	echo "$canon" >"$state/dir"
	stat -c '%u:%g:%a' -- "$canon" >"$state/orig"
	_fault_mounts "$canon" >"$state/mounts"
	if _fault_uses_faultfs "$kind"; then
		_fault_prepare_faultfs "$canon" "$state"
	else
		"_fault_prepare_$kind" "$canon" "$state"
	fi
	rc=$?
	if [ $rc != 0 ]; then
		[ $rc = 2 ] || _fault_say "fault_prepare $kind $canon failed (log: $state/log)"
		fault_release "$kind" "$canon" 2>/dev/null
		return $rc
	fi
}

fault_inject() {
	local state canon
	state=$(_fault_prepared "$1" "$2") || return 1
	canon=$(cat "$state/dir")
	[ -e "$state/injected" ] && return 0
	if _fault_uses_faultfs "$1"; then
		_fault_is_faultfs "$(cat "$state/pid" 2>/dev/null)" || {
			_fault_say "inject $1: faultfs on $canon is not running (log: $state/log)"
			return 1
		}
		_fault_set_control "$state" "$(_fault_control_line "$1")"
	else
		"_fault_inject_$1" "$canon" "$state"
	fi || {
		_fault_say "inject $1 on $canon failed"
		return 1
	}
	touch "$state/injected"
}

fault_lift() {
	local state canon
	state=$(_fault_prepared "$1" "$2") || return 1
	canon=$(cat "$state/dir")
	[ -e "$state/injected" ] || return 0
	if _fault_uses_faultfs "$1"; then
		_fault_set_control "$state" ok
	else
		"_fault_lift_$1" "$canon" "$state"
	fi || {
		_fault_say "lift $1 on $canon failed"
		return 1
	}
	rm -f -- "$state/injected"
}

fault_pid() {
	local canon
	canon=$(_fault_canon "$1") || return 1
	cat "$(_fault_state "$canon")/pid" 2>/dev/null
}

fault_release() {
	local kind=$1 canon state pid before dev orig now rc=0
	_fault_valid_kind "$kind" || return 1
	canon=$(_fault_canon "$2") || return 1
	state=$(_fault_state "$canon")
	# Nothing prepared (a trap after a failed prepare): nothing to do.
	[ -d "$state" ] || return 0
	# Released as what it is, whatever the caller thinks it is.
	if [ -f "$state/kind" ] && [ "$(cat "$state/kind")" != "$kind" ]; then
		_fault_say "release $kind: $canon was prepared for $(cat "$state/kind"): released as such"
		kind=$(cat "$state/kind")
	fi
	if _fault_uses_faultfs "$kind" && [ -f "$state/control" ]; then
		# First, so nothing stays blocked on a hang.
		_fault_set_control "$state" ok
		# Its pid, read once: it removes the file as it exits.
		pid=$(cat "$state/pid" 2>/dev/null)
		if _fault_is_faultfs "$pid"; then
			kill -TERM "$pid" 2>/dev/null
			if ! _fault_poll 10 _fault_not _fault_is_faultfs "$pid"; then
				_fault_say "release: faultfs $pid ignored SIGTERM: SIGKILL"
				kill -KILL "$pid" 2>/dev/null
				_fault_poll 5 _fault_not _fault_is_faultfs "$pid" || rc=1
			fi
		fi
	fi
	# Everything prepare stacked on DIR comes off (faultfs takes its own).
	before=$(cat "$state/mounts" 2>/dev/null || echo 0)
	while [ "$(_fault_mounts "$canon")" -gt "$before" ]; do
		_fault_unmount "$canon" || { rc=1; break; }
	done
	_fault_detach_loops "$state"
	orig=$(cat "$state/orig" 2>/dev/null)
	now=$(stat -c '%u:%g:%a' -- "$canon" 2>/dev/null)
	if [ -n "$orig" ] && [ "$now" != "$orig" ]; then
		_fault_say "release: $canon was $orig, is $now: put back"
		chown "${orig%:*}" -- "$canon" && chmod "${orig##*:}" -- "$canon" || rc=1
	fi
	rm -rf -- "$state"
	rmdir -- "$fault_work" 2>/dev/null
	[ $rc = 0 ] || _fault_say "release $kind on $canon left something behind"
	return $rc
}
