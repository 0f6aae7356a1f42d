#!/bin/bash
# The container tests' registry and images (issue 18): the loopback
# registry answers over TLS only, both images the harness builds reach it,
# the unprivileged test user pulls them with nothing but the registry's CA,
# unpacks the python one rootless and runs python3 in it with Charliecloud
# as the runs will, and the registry ends without a trace.  No Slurm: only
# lib.sh's helpers.  tests/cluster/images.sh says how each piece is made.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"
. "$tests/images.sh"

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (debootstrap, the registry)"
	exit 0
fi
for c in docker-registry skopeo umoci ch-run debootstrap openssl curl; do
	command -v "$c" >/dev/null && continue
	echo "1..0 # SKIP needs $c (contrib/install-deps)"
	exit 0
done

echo "1..13"
reg=$(mktemp -d /var/tmp/aml-registry.XXXXXX) || exit 1
work=$(mktemp -d /var/tmp/aml-images-t.XXXXXX) || exit 1
chmod 755 "$reg"
chown "$user:" "$work"
trap 'registry_stop "$reg"; rm -rf "$reg" "$work"' EXIT
cache=${AML_IMAGE_CACHE:-$image_cache_default}

ms() { echo $(($(date +%s%N) / 1000000)); }

# Not in $(...): the registry is then this shell's child, which
# registry_stop reaps.
t0=$(ms)
if registry_start "$reg" >"$reg/addr"; then
	addr=$(cat "$reg/addr")
	ok "registry_start: $addr answers /v2/ over TLS in $(($(ms) - t0)) ms"
else
	not_ok "registry_start" "see above"
	exit 1
fi
pid=$(cat "$reg/pid")
same "it listens on the loopback only" "127.0.0.1:${addr#*:}" \
	"$(ss -Htln "sport = :${addr#*:}" | awk '{ print $4 }')"

got=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$addr/v2/" 2>&1)
same "a plain-HTTP request is refused (400: HTTP to an HTTPS server)" 400 "$got"
if curl -fsS --max-time 5 -o /dev/null "https://$addr/v2/" 2>/dev/null; then
	not_ok "a client without the registry's CA is refused"
else ok "a client without the registry's CA is refused"; fi

# Builds: the tiny one always; the python one once, then from the cache.
built() {
	local name=$1 t
	t=$(ms)
	if layout=$("image_build_$name" "$cache"); then
		ok "image_build_$name: $layout in $(($(ms) - t)) ms"
	else
		not_ok "image_build_$name" "see above"
		layout=
	fi
}
built tiny
tiny=$layout
built python
python=$layout

# pushed_and_seen NAME LAYOUT: pushed as aml/NAME:1, the test user's
# skopeo sees it, with the digest of the layout's manifest.
pushed_and_seen() {
	local name=$1 layout=$2 want got
	if [ -z "$layout" ] || ! image_push "$layout" "$addr/aml/$name:1" "$reg/ca"; then
		not_ok "$name: pushed and inspected by $user" "not pushed"
		return
	fi
	want=$(jq -r '.manifests[0].digest' "$(echo "$layout" | cut -d: -f2)/index.json")
	got=$(as_user skopeo inspect --cert-dir "$reg/ca" --format '{{.Digest}}' \
		"docker://$addr/aml/$name:1" 2>&1)
	same "$name: pushed, and $user's skopeo inspect gives its digest" "$want" "$got"
}
pushed_and_seen tiny "$tiny"
pushed_and_seen python "$python"

got=$(as_user skopeo inspect --cert-dir "$reg/ca" "docker://$addr/aml/python:nope" 2>&1)
case $? in
0) not_ok "an unknown tag fails" "skopeo inspect succeeded: $got" ;;
*) case $got in
	*"manifest unknown"*) ok "an unknown tag fails: manifest unknown" ;;
	*) not_ok "an unknown tag fails: manifest unknown" "got: $got" ;;
	esac ;;
esac

# What a node will do: pull by tag into an OCI layout, unpack rootless,
# run.  The directory bound must exist in the image (ch-run 0.31 makes no
# mount point); the rootfs is the user's own after a rootless unpack.
# pulled_runs NAME COMMAND...: COMMAND in aml/NAME:1, bound at $work.
pulled_runs() {
	local name=$1 b=$work/$1 out
	shift
	out=$(cd "$work" && as_user sh -c '
		mkdir -p "$3" &&
		skopeo copy --quiet --src-cert-dir "$1" "docker://$2" "oci:$3/layout:1" &&
		umoci unpack --rootless --image "$3/layout:1" "$3/bundle" >/dev/null &&
		mkdir -p "$3/bundle/rootfs$4"' sh "$reg/ca" "$addr/aml/$name:1" "$b" "$work" 2>&1 &&
		as_user ch-run -b "$work:$work" -c "$work" "$b/bundle/rootfs" -- "$@" 2>&1)
	same "$name: $user pulls it, unpacks it rootless, and ch-run runs $*" 1 "$out"
}
pulled_runs python python3 -c 'import socket,json; print(1)'
pulled_runs tiny sh -c 'echo 1'

t0=$(ms)
again=$(image_build_python "$cache")
same "image_build_python again: the cached layout ($(($(ms) - t0)) ms)" "$python" "$again"

registry_stop "$reg"
if [ -e "$reg/pid" ] || [ -e "/proc/$pid" ] ||
	pgrep -f "docker-registry serve $reg/" >/dev/null; then
	not_ok "registry_stop: no process left" "$(ps -o pid,stat,cmd -p "$pid")"
else ok "registry_stop: no process left"; fi
