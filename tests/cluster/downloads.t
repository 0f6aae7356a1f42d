#!/bin/bash
# https:// inputs (issue 19): a loopback HTTPS server (python's
# http.server wrapped in TLS with a certificate of this test's own CA,
# given to the nodes by DataDownloadCAFile=) serves a file; a v2 job
# reads it at inputs/<name>/<file>, its download log among the run's
# logs; a second run does not download it again (the server sees one
# GET); a 404 and a file over DataDownloadMax fail the run naming the URL
# and why; the hostile user reads nothing of the victim's download cache;
# a host the site does not list and a URL with a password are refused at
# submit.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher
for c in openssl jq; do
	command -v "$c" >/dev/null && continue
	echo "1..0 # SKIP needs $c"
	exit 0
done
work=$(mktemp -d /var/tmp/aml-downloads-t.XXXXXX)
chmod 755 "$work"
cp "$AML_CONF" "$work/aml.conf.saved"
src=$(fresh_user_dir aml-downloads-test)
server_pid=
finish() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	cp "$work/aml.conf.saved" "$AML_CONF"
	restart_ctld
	rm -rf "$work" "$src"
}
trap finish EXIT

# ---- the server: its CA's certificate is the one the nodes trust
mkdir -p "$work/ca" "$work/www" "$work/cache"
chmod 1777 "$work/cache"
(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	-nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	-keyout "$work/ca/server.key" -out "$work/ca/server.crt" \
	>"$work/openssl.log" 2>&1) || { echo "1..0 # SKIP openssl: $(tail -n1 "$work/openssl.log")"; exit 0; }
cp "$work/ca/server.crt" "$work/ca.pem"
chmod 644 "$work/ca.pem"
printf 'sepal,petal\n1,2\n3,4\n5,6\n' >"$work/www/iris.csv"
head -c 3000000 /dev/zero >"$work/www/big.bin"
chmod -R a+rX "$work/www"

# The server picks its port and writes it: nothing else can take it first.
/usr/bin/python3 -c '
import functools, http.server, os, ssl, sys
root, crt, key, port_file = sys.argv[1:5]
handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                            directory=root)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(crt, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file + ".new", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(port_file + ".new", port_file)
server.serve_forever()
' "$work/www" "$work/ca/server.crt" "$work/ca/server.key" "$work/port" \
	2>"$work/server.log" &
server_pid=$!
port_known() { [ -s "$work/port" ]; }
if ! wait_until 15 port_known; then
	echo "1..0 # SKIP the HTTPS server did not start: $(tail -n2 "$work/server.log")"
	exit 0
fi
port=$(cat "$work/port")
base=https://127.0.0.1:$port
gets() { grep -c '"GET /iris.csv ' "$work/server.log"; }

cat >>"$AML_CONF" <<EOF
DataDownloadHosts=127.0.0.1
DataDownloadCAFile=$work/ca.pem
DataCacheDir=$work/cache
DataDownloadMax=1M
EOF
restart_ctld

history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")
run_of() { sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$1"; }
submit_job() { (cd "$src" && as_user sbatch -o /dev/null --aml-run="$1" </dev/null 2>&1); }
reason() { show "$1" | jq -r .reason; }

echo "1..11"

# ---- 1. a run reads the downloaded file
write "$src/count.py" <<'EOF'
import os, sys
path = sys.argv[1]
rows = sum(1 for _ in open(path)) - 1
print("rows", rows, path, os.access(path, os.W_OK), flush=True)
EOF
job() { # URL
	cat <<EOF
type: command
experiment_name: downloads
code: .
command: python3 count.py \${{inputs.iris}}
inputs:
  iris:
    type: uri_file
    path: $1
    mode: download
compute: azureml:cpu
EOF
}
job "$base/iris.csv" | write "$src/job.yml"
run=$(run_of "$(submit_job job.yml)")
wait_until 180 ended "$run" || echo "# the download run did not end"
same "a v2 job with an https input completes" Completed "$(status_of "$run")"
same "... the script read it at inputs/iris/iris.csv, read-only" \
	"rows 3 inputs/iris/iris.csv False" "$(log_of "$run" | head -n 1)"
dlog=$history/$user/downloads/$run/logs/azureml/data_download_log.iris.txt
same "... its download log is among the run's logs" "yes yes" \
	"$(grep -q "^downloading $base/iris.csv (last-modified " "$dlog" 2>/dev/null && echo yes) $(grep -q '^downloaded 24 bytes' "$dlog" 2>/dev/null && echo yes)"
same "... the server saw one GET" 1 "$(gets)"

# ---- 2. a second run finds it in the cache
run2=$(run_of "$(submit_job job.yml)")
wait_until 180 ended "$run2"
same "a second run completes without downloading again (no GET, no download log)" \
	"Completed 1 no" \
	"$(status_of "$run2") $(gets) $([ -e "$history/$user/downloads/$run2/logs/azureml/data_download_log.iris.txt" ] && echo yes || echo no)"

# ---- 3. the hostile user reads nothing of the victim's cache
cached=$(find "$work/cache" -name iris.csv -type f | head -n 1)
if [ -n "$cached" ] && ! as_evil cat "$cached" >/dev/null 2>&1 &&
	! as_evil ls "$(dirname "$(dirname "$cached")")" >/dev/null 2>&1; then
	ok "the hostile user can neither list nor read the victim's cached download"
else
	not_ok "the hostile user can neither list nor read the victim's cached download" "cached: $cached"
fi
same "... the victim's cache directory is theirs, 0700" "$user 700" \
	"$(stat -c '%U %a' "$(dirname "$(dirname "$cached")")" 2>/dev/null)"

# ---- 4. failures name the URL and the server's answer
job "$base/missing.csv" | write "$src/missing.yml"
run=$(run_of "$(submit_job missing.yml)")
wait_until 180 ended "$run"
r=$(reason "$run")
case "$(status_of "$run") $r" in
"Failed "*"input iris: $base/missing.csv: the server answered HTTP 404"*)
	ok "a 404 fails the run naming the URL and the status" ;;
*) not_ok "a 404 fails the run naming the URL and the status" "$(status_of "$run"): $r" ;; esac
job "$base/big.bin" | write "$src/big.yml"
run=$(run_of "$(submit_job big.yml)")
wait_until 180 ended "$run"
r=$(reason "$run")
case "$(status_of "$run") $r" in
"Failed "*"$base/big.bin: the file is 3000000 bytes, over DataDownloadMax (1048576 bytes)"*)
	ok "a file over DataDownloadMax fails the run before its body" ;;
*) not_ok "a file over DataDownloadMax fails the run before its body" "$(status_of "$run"): $r" ;; esac

# ---- 5. refusals at submit
job "https://localhost:$port/iris.csv" | write "$src/host.yml"
out=$(submit_job host.yml)
case $out in
*"inputs.iris.path: host localhost is not one this cluster downloads from (aml.conf's DataDownloadHosts=127.0.0.1)"*)
	ok "a host the site does not list is refused at submit" ;;
*) not_ok "a host the site does not list is refused at submit" "$out" ;; esac
job "https://me:hunter2@127.0.0.1:$port/iris.csv" | write "$src/creds.yml"
out=$(submit_job creds.yml)
case "$out $(run_of "$out")" in
*"inputs.iris.path: a URL with a user name or password"*hunter2*) not_ok "a URL with a password is refused and not repeated" "$out" ;;
*"inputs.iris.path: a URL with a user name or password"*" ") ok "a URL with a password is refused, not repeated, nothing submitted" ;;
*) not_ok "a URL with a password is refused, not repeated, nothing submitted" "$out" ;; esac
