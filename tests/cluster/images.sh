# A loopback registry and the images the container tests run (issue 18),
# for the cluster tests.  Sourced after lib.sh; runs as root.  Nothing
# leaves the machine but debootstrap's download from this machine's own
# Debian archive.
#
#   registry_start DIR        Debian's docker-registry on 127.0.0.1 at a
#                             free port, over TLS with a self-signed
#                             certificate for IP 127.0.0.1; its storage in
#                             DIR/data, its log in DIR/registry.log, its
#                             PID in DIR/pid; prints host:port once /v2/
#                             answers over TLS (call it with its output
#                             to a file, not in $(...), so that the
#                             registry is the caller's child and
#                             registry_stop reaps it).  DIR/certs holds the
#                             server's certificate and key; DIR/ca holds
#                             only ca.crt, the directory clients give as
#                             skopeo's --cert-dir (skopeo reads every
#                             *.key there as a client key and refuses one
#                             without its *.cert, so the server's key
#                             cannot sit beside it)
#   registry_start DIR USER:PASSWORD  the same, answering only that user
#                             (htpasswd, bcrypt): a site's private registry
#   registry_stop DIR         kill it by its PID and wait until it is gone
#   image_build_python [CACHE]  an OCI layout of a minimal Debian 12 with
#                             python3; prints oci:PATH:TAG
#   image_build_tiny [CACHE]  the same with busybox alone (seconds)
#   image_push LAYOUT REF CERTDIR [USER:PASSWORD]   skopeo copy LAYOUT to
#                             docker://REF, trusting the CA in CERTDIR
#
# Images are cached in CACHE (default $AML_IMAGE_CACHE or
# /var/tmp/aml-images), one layout per recipe and its version, and built
# only when missing; bump a recipe's version when the recipe changes.
# Each returns 0, or non-zero after one line on stderr saying why.

image_cache_default=${AML_IMAGE_CACHE:-/var/tmp/aml-images}
image_python_version=2
image_tiny_version=2
# How long the registry may take to answer, in seconds.
registry_timeout=20

_images_say() { echo "images: $*" >&2; }

# A TCP port nothing on this machine listens on now.  The registry may
# still lose it to another program before it binds: registry_start then
# tries another.
_registry_free_port() {
	local port used
	used=$(ss -Htln | awk '{ n = split($4, a, ":"); print a[n] }')
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 40000))
		grep -qx "$port" <<<"$used" || { echo "$port"; return 0; }
	done
	return 1
}

_registry_certs() {
	local dir=$1
	mkdir -p "$dir/certs" "$dir/ca" || return 1
	# Kept while it is good for another day: a DIR kept between runs
	# outlives the certificate's 30 days.
	[ -s "$dir/certs/server.key" ] && [ -s "$dir/ca/ca.crt" ] &&
		openssl x509 -noout -checkend 86400 -in "$dir/certs/server.crt" \
			>/dev/null 2>&1 && return 0
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -days 30 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 \
		-keyout "$dir/certs/server.key" -out "$dir/certs/server.crt" \
		>"$dir/certs/openssl.log" 2>&1) || {
		_images_say "openssl could not make the registry's certificate: $(tail -n1 "$dir/certs/openssl.log")"
		return 1
	}
	# Every user's skopeo reads the CA; only root the key.
	cp "$dir/certs/server.crt" "$dir/ca/ca.crt" &&
		chmod 755 "$dir/ca" && chmod 644 "$dir/ca/ca.crt"
}

_registry_config() {
	local dir=$1 port=$2 creds=$3
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  tls:
    certificate: $dir/certs/server.crt
    key: $dir/certs/server.key
EOF
	[ -n "$creds" ] || return 0
	# bcrypt, the only hash the registry's htpasswd takes.
	/usr/bin/python3 -W ignore -c 'import crypt, sys
u, p = sys.argv[1].split(":", 1)
print(u + ":" + crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH)))' "$creds" >"$dir/htpasswd" ||
		{ _images_say "cannot hash the registry's password"; return 1; }
	cat >>"$dir/config.yml" <<EOF
auth:
  htpasswd:
    realm: aml-test
    path: $dir/htpasswd
EOF
}

# Why the registry in DIR ended: its fatal message (its usage text
# follows it in the log).
_registry_fatal() {
	local why
	why=$(sed -n 's/.*level=fatal msg="\(.*\)".*/\1/p' "$1/registry.log" | tail -n1)
	echo "${why:-$(tail -n1 "$1/registry.log")}"
}

# _registry_answers DIR PORT [CREDS]: /v2/ answers 200 over TLS with the
# CA (and the credentials).
_registry_answers() {
	curl -fsS --max-time 2 --cacert "$1/ca/ca.crt" ${3:+-u "$3"} \
		"https://127.0.0.1:$2/v2/" >/dev/null 2>&1
}

registry_start() {
	local dir=${1:?registry_start DIR} creds=${2:-} port pid try deadline
	command -v docker-registry >/dev/null ||
		{ _images_say "needs docker-registry (apt-get install docker-registry)"; return 1; }
	[ -e "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null &&
		{ _images_say "$dir: a registry already runs there (PID $(cat "$dir/pid"))"; return 1; }
	mkdir -p "$dir/data" && chmod 755 "$dir" || return 1
	_registry_certs "$dir" || return 1
	for try in 1 2 3; do
		port=$(_registry_free_port) ||
			{ _images_say "no free TCP port found"; return 1; }
		_registry_config "$dir" "$port" "$creds" || return 1
		docker-registry serve "$dir/config.yml" \
			</dev/null >"$dir/registry.log" 2>&1 &
		pid=$!
		echo "$pid" >"$dir/pid"
		deadline=$((SECONDS + registry_timeout))
		until _registry_answers "$dir" "$port" "$creds"; do
			if ! kill -0 "$pid" 2>/dev/null; then
				wait "$pid" 2>/dev/null
				rm -f "$dir/pid"
				grep -q 'address already in use' "$dir/registry.log" &&
					continue 2
				_images_say "docker-registry exited: $(_registry_fatal "$dir")"
				return 1
			fi
			if [ $SECONDS -ge "$deadline" ]; then
				registry_stop "$dir"
				_images_say "docker-registry did not answer on https://127.0.0.1:$port/v2/ within ${registry_timeout}s"
				return 1
			fi
			sleep 0.05
		done
		echo "127.0.0.1:$port"
		return 0
	done
	_images_say "docker-registry found no free port in $try tries"
	return 1
}

# _registry_is PID: PID is a docker-registry (not a process that got its
# number after the registry died).
_registry_is() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'docker-registry serve'
}
_registry_gone() { ! _registry_is "$1"; }

registry_stop() {
	local dir=${1:?registry_stop DIR} pid
	[ -s "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	if _registry_is "$pid"; then
		kill "$pid" 2>/dev/null
		wait_until 10 _registry_gone "$pid" || {
			kill -KILL "$pid" 2>/dev/null
			wait_until 5 _registry_gone "$pid"
		} || { _images_say "docker-registry $pid does not end"; return 1; }
	fi
	# Reap it when this shell started it, so it leaves no zombie.
	wait "$pid" 2>/dev/null
	rm -f "$dir/pid"
}

# The Debian archive this machine's apt uses, for bookworm's main
# component (one-line or deb822 sources).
_images_mirror() {
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
	[ -n "$m" ] || m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
		/^[ \t]*$/ { if (u != "" && s ~ /(^| )bookworm( |$)/) { print u; exit } u = s = "" }
		/^URIs:/ { u = $2 }
		/^Suites:/ { $1 = ""; s = $0 " " }
		END { if (u != "" && s ~ /(^| )bookworm( |$)/) print u }' | head -n1)
	echo "${m:-http://deb.debian.org/debian}"
}

# _image_root_fixup ROOTFS: what a container runtime mounts over or binds
# exists, and nothing that an unprivileged unpack cannot make (device
# nodes) or that only fills the image (apt's downloads and lists).
_image_root_fixup() {
	local root=$1 d
	rm -rf "${root:?}/dev" "$root/var/cache/apt/archives/"*.deb \
		"$root/var/lib/apt/lists/"* 2>/dev/null
	for d in dev proc sys tmp run home etc var/tmp; do
		mkdir -p "$root/$d" || return 1
	done
	chmod 1777 "$root/tmp" "$root/var/tmp"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
	: >"$root/etc/resolv.conf"
	# ch-run binds the host's passwd and group over these, and refuses to
	# run an image without them.
	[ -e "$root/etc/passwd" ] ||
		echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	[ -e "$root/etc/group" ] || echo 'root:x:0:' >"$root/etc/group"
	chmod 644 "$root/etc/hosts" "$root/etc/resolv.conf" \
		"$root/etc/passwd" "$root/etc/group"
}

# _image_pack ROOTFS LAYOUT TAG PATH CMD...: the tree ROOTFS as the one
# layer of image TAG in a new OCI layout LAYOUT, with PATH and CMD in its
# config.  The bundle is rootless, as the nodes' unpack will be: every
# file is recorded as root's, which is what an unprivileged runtime shows
# anyway (each file the user's own outside, root's or the user's inside).
_image_pack() {
	local root=$1 layout=$2 tag=$3 path=$4 bundle arg args=() log
	shift 4
	bundle=$layout.bundle
	log=$layout.log
	rm -rf "$layout" "$bundle"
	for arg in "$@"; do args+=(--config.cmd "$arg"); done
	{
		umoci init --layout "$layout" &&
			umoci new --image "$layout:$tag" &&
			umoci unpack --rootless --image "$layout:$tag" "$bundle" &&
			rmdir "$bundle/rootfs" && mv "$root" "$bundle/rootfs" &&
			umoci repack --image "$layout:$tag" "$bundle" &&
			umoci config --image "$layout:$tag" \
				--config.env "PATH=$path" "${args[@]}" &&
			umoci gc --layout "$layout"
	} >"$log" 2>&1 || {
		_images_say "umoci could not pack $layout: $(tail -n1 "$log")"
		return 1
	}
	rm -rf "$bundle" "$log"
}

# _image_cached CACHE NAME VERSION BUILDER PATH CMD...: the layout
# NAME-vVERSION in CACHE, made by BUILDER ROOTFS (which fills the empty
# directory ROOTFS) and packed with PATH and CMD when missing, under a
# lock so that two builders make it once.
_image_cached() {
	local cache=${1:-$image_cache_default} name=$2 version=$3 builder=$4
	local path=$5 layout tag=latest work start rc
	shift 5
	layout=$cache/$name-v$version
	mkdir -p "$cache" && chmod 755 "$cache" || return 1
	(
		flock 9 || exit 1
		[ -f "$layout/index.json" ] && exit 0
		start=$SECONDS
		work=$cache/.$name-v$version.work
		rm -rf "$work" && mkdir -p "$work" || exit 1
		if ! "$builder" "$work/rootfs" || ! _image_root_fixup "$work/rootfs" ||
			! _image_pack "$work/rootfs" "$work/layout" "$tag" "$path" "$@"; then
			rm -rf "$work"
			exit 1
		fi
		chmod -R a+rX "$work/layout" &&
			mv "$work/layout" "$layout" && rm -rf "$work" || exit 1
		# The layouts of the recipe's earlier versions are never used again.
		find "$cache" -maxdepth 1 -name "$name-v*" ! -name "$name-v$version" \
			-exec rm -rf {} +
		_images_say "$name: built $layout in $((SECONDS - start))s"
	) 9>"$cache/.$name.lock"
	rc=$?
	[ $rc = 0 ] || return $rc
	echo "oci:$layout:$tag"
}

_image_root_python() {
	local root=$1 mirror log=$1.debootstrap.log
	mirror=$(_images_mirror)
	command -v debootstrap >/dev/null ||
		{ _images_say "needs debootstrap (apt-get install debootstrap)"; return 1; }
	debootstrap --variant=minbase --include=python3 bookworm "$root" \
		"$mirror" >"$log" 2>&1 || {
		_images_say "debootstrap bookworm from $mirror failed: $(tail -n1 "$log")"
		return 1
	}
}
image_build_python() {
	_image_cached "${1:-}" python "$image_python_version" _image_root_python \
		/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin python3
}

_image_root_tiny() {
	local root=$1 busybox applet
	busybox=$(command -v busybox) || busybox=/bin/busybox
	# The image has no libc for a dynamic one to load.
	! ldd "$busybox" >/dev/null 2>&1 ||
		{ _images_say "needs a static busybox (apt-get install busybox-static)"; return 1; }
	mkdir -p "$root/bin" && cp "$busybox" "$root/bin/busybox" || return 1
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet" || return 1
	done
}
image_build_tiny() {
	_image_cached "${1:-}" tiny "$image_tiny_version" _image_root_tiny /bin /bin/sh
}

image_push() {
	local layout=${1:?image_push LAYOUT REF CERTDIR} ref=${2:?} certs=${3:?} creds=${4:-} log
	log=$(mktemp) || return 1
	skopeo copy --quiet --dest-cert-dir "$certs" ${creds:+--dest-creds "$creds"} \
		"$layout" "docker://$ref" \
		>"$log" 2>&1 || {
		_images_say "skopeo could not push $layout to $ref: $(tail -n1 "$log")"
		rm -f "$log"
		return 1
	}
	rm -f "$log"
}
