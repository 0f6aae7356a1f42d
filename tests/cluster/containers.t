#!/bin/bash
# Container images end to end, as the test user, with nothing outside the
# machine: a loopback registry over TLS (images.sh) holding a Debian image
# with python3 that the harness builds, Charliecloud's ch-run as the
# site's runtime.  A run in the image writes outputs that reach history;
# the image is pulled once, then found; a 2-node PyTorch-style run's ranks
# meet over TCP inside it; a missing image fails the run naming it and the
# registry's answer; max_run_duration_seconds stops a run in the image;
# a site without a runtime, Docker arguments the site does not allow and
# a registry the site does not list are refused at submit.  The hostile
# user plants an image where the victim's runs might look, and it is not
# used.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"
. "$tests/images.sh"

needs_launcher
for c in ch-run skopeo umoci docker-registry openssl debootstrap; do
	if ! command -v "$c" >/dev/null; then
		echo "1..0 # SKIP $c is not installed (contrib/install-deps installs it)"
		exit 0
	fi
done
work=$(mktemp -d /var/tmp/aml-containers-t.XXXXXX)
chmod 755 "$work"
cp "$AML_CONF" "$work/aml.conf.saved"
src=$(fresh_user_dir aml-containers-test)
finish() {
	registry_stop "$work/registry" >/dev/null 2>&1
	cp "$work/aml.conf.saved" "$AML_CONF"
	restart_ctld
	rm -rf "$work" "$src"
}
trap finish EXIT

history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")
# run.json of [dir]: the script [script] in the image [image] (v1 docker).
image_run() {
	local dir=$src/$1 image=$2 script=$3; shift 3
	as_user mkdir -p "$dir"
	jq -n --arg i "$image" --arg s "$script" '{experiment_name: "containers", script: $s,
		compute_target: "cpu",
		environment: {docker: {enabled: true, base_image: $i},
			python: {user_managed_dependencies: true, interpreter_path: "python3"}}}' |
		jq "$@" | as_user tee "$dir/run.json" >/dev/null
}
n_jobs_of_user() { squeue -h -u "$user" | wc -l; }
# The user's live podman processes (a killed one its parent has not
# reaped yet is not one).
podman_leftovers() {
	local p
	p=$(ps -u "$user" -o stat=,pid=,args= | awk '$1 !~ /^Z/ && /conmon|podman/')
	echo "${p:-none}"
}

echo "1..34"

# ---- a site without a runtime refuses a run asking for an image, at submit
image_run none 127.0.0.1:5000/aml/python:3 main.py .
before=$(n_jobs_of_user)
out=$(submit_out "$src/none")
case $out in
*"environment.docker.base_image"*"ContainerRuntime=none"*) ok "ContainerRuntime=none: an image is refused at submit, naming the field" ;;
*) not_ok "ContainerRuntime=none: an image is refused at submit, naming the field" "$out" ;; esac
same "ContainerRuntime=none: nothing was submitted" "$before" "$(n_jobs_of_user)"

# ---- the registry, the image, the site
# Not in $(...): the registry stays this shell's child (images.sh).  It
# answers only the site's credentials, which runs get from
# ContainerAuthFile, never from run.json.
creds="amlsite:$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
registry_start "$work/registry" "$creds" >"$work/registry.addr" 2>"$work/registry.err" ||
	{ echo "Bail out! the registry did not start: $(cat "$work/registry.err")"; exit 1; }
reg=$(cat "$work/registry.addr")
py=$(image_build_python) || { echo "Bail out! the python image did not build: $py"; exit 1; }
image_push "$py" "$reg/aml/python:3" "$work/registry/ca" "$creds" >"$work/push.log" 2>&1 ||
	{ echo "Bail out! the push failed: $(tail -n 2 "$work/push.log")"; exit 1; }
mkdir -m 1777 "$work/images"
chmod -R a+rX "$work/registry/ca"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$reg" "$(printf %s "$creds" | base64 -w0)" >"$work/auth.json"
chmod 644 "$work/auth.json"
sed -i '/^ContainerRuntime=/d; /^ContainerRegistries=/d; /^ContainerCertDir=/d; /^ContainerAuthFile=/d; /^ImageDir=/d; /^Environment=/d' "$AML_CONF"
case $(as_user skopeo inspect --cert-dir "$work/registry/ca" "docker://$reg/aml/python:3" 2>&1) in
*unauthorized*) ok "the registry answers only the site's credentials (the user's own skopeo is refused)" ;;
*) not_ok "the registry answers only the site's credentials (the user's own skopeo is refused)" ;; esac
cat >>"$AML_CONF" <<EOF
ContainerRuntime=charliecloud
ContainerRegistries=$reg
ContainerCertDir=$work/registry/ca
ContainerAuthFile=$work/auth.json
ImageDir=$work/images
Environment=py-image:1 Image=$reg/aml/python:3 Interpreter=python3
EOF
restart_ctld

# ---- a run in the image
as_user mkdir -p "$src/first"
write "$src/first/main.py" <<'EOF'
import json, os, socket
os.makedirs("outputs", exist_ok=True)
facts = {
    "uid": os.getuid(),
    "cwd": os.getcwd(),
    "workdir": os.environ.get("AML_WORKDIR"),
    "run_id": os.environ.get("AZUREML_RUN_ID"),
    # On the host, not in the image: proves where the script runs.
    "host_sbatch": os.path.exists("/usr/bin/sbatch"),
    "hostname": socket.gethostname(),
}
with open("outputs/facts.json", "w") as f:
    json.dump(facts, f)
print("in the image", flush=True)
EOF
image_run first "$reg/aml/python:3" main.py .
run=$(submit "$src/first")
wait_until 300 ended "$run" || echo "# the first image run did not end: $(statuses "$run")"
facts=$history/$user/containers/$run/outputs/facts.json
same "a run in the image: Completed, its outputs in history" "Completed yes" \
	"$(status_of "$run") $([ -s "$facts" ] && echo yes)"
same "in the image: not the host's files, the user's own uid, its working directory, its variables" \
	"false $(id -u "$user") true $run" \
	"$(jq -r '"\(.host_sbatch) \(.uid) \(.cwd == .workdir) \(.run_id)"' "$facts" 2>/dev/null)"
case $(reason_of "$run" Preparing) in
"image $reg/aml/python:3: pulling") ok "Preparing says the image is being pulled" ;;
*) not_ok "Preparing says the image is being pulled" "$(reason_of "$run" Preparing)" ;; esac
same "the pull log is in the run's logs" yes \
	"$(grep -q 'skopeo copy' "$history/$user/containers/$run/logs/azureml/image_pull_log.txt" 2>/dev/null && echo yes)"

# ---- again: found, not pulled
again=$(submit "$src/first")
wait_until 120 ended "$again" || echo "# the second image run did not end: $(statuses "$again")"
case $(status_of "$again")/$(reason_of "$again" Preparing) in
"Completed/image $reg/aml/python:3 (sha256:"*"): cached") ok "a second run finds the image pulled (Preparing says cached)" ;;
*) not_ok "a second run finds the image pulled (Preparing says cached)" "$(status_of "$again") $(reason_of "$again" Preparing)" ;; esac
same "a second run pulls nothing (no pull log)" no \
	"$([ -e "$history/$user/containers/$again/logs/azureml/image_pull_log.txt" ] && echo yes || echo no)"
same "one image in the user's cache" 1 "$(as_user aml-run env list 2>/dev/null | grep -c "^image ")"

# ---- aml-run plan: the image, whether this host has it, each process's command
plan=$(cd "$src/first" && as_user aml-run plan run.json 2>&1)
case $plan in
*"  image:         $reg/aml/python:3 (ContainerRuntime=charliecloud)"*"  on this host:  image $reg/aml/python:3 (sha256:"*"): cached"*"  each process:  ch-run --bind="*" -- python3 main.py"*)
	ok "aml-run plan shows the image, that it is here, and the command each process runs" ;;
*) not_ok "aml-run plan shows the image, that it is here, and the command each process runs" "$plan" ;; esac

# ---- the catalogue's image, by name
as_user mkdir -p "$src/named"
write "$src/named/main.py" <<'EOF'
import os
print("named", os.path.exists("/usr/bin/sbatch"), flush=True)
EOF
jq -n '{experiment_name: "containers", script: "main.py", compute_target: "cpu",
	environment: {name: "py-image", version: "1"}}' | write "$src/named/run.json"
run=$(submit "$src/named")
wait_until 120 ended "$run"
same "a catalogue environment with Image= runs in it" "Completed named False" \
	"$(status_of "$run") $(log_of "$run" | grep -o 'named .*')"

# ---- 2 nodes, PyTorch-style: the ranks meet over TCP in the image
as_user mkdir -p "$src/dist"
write "$src/dist/main.py" <<'EOF'
import os, socket, time
rank = int(os.environ["RANK"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
if rank == 0:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port)); s.listen(1); s.settimeout(60)
    c, _ = s.accept()
    got = c.recv(100).decode()
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/met.txt", "w") as f:
        f.write(got)
    print("rank 0 got", got, flush=True)
else:
    end = time.time() + 60
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=5)
            break
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.2)
    print("rank 1 on %s in the image: %s" % (os.environ["SLURMD_NODENAME"],
          not os.path.exists("/usr/bin/sbatch")), flush=True)
    c.sendall(("hello from rank %d of %s" % (rank, os.environ["WORLD_SIZE"])).encode())
EOF
image_run dist "$reg/aml/python:3" main.py \
	'.distributed_job_config = {type: "pytorch", process_count: 2} | .node_count = 2 | .max_run_duration_seconds = 300'
run=$(submit "$src/dist")
wait_until 300 ended "$run" || echo "# the 2-node run did not end: $(statuses "$run")"
same "2 nodes in the image: rank 1 reached rank 0 over TCP" "Completed hello from rank 1 of 2" \
	"$(status_of "$run") $(cat "$history/$user/containers/$run/outputs/met.txt" 2>/dev/null)"
same "2 nodes: rank 1 ran on the other node, in the image too" "rank 1 on n2 in the image: True" \
	"$(as_user aml-run logs --rank 1 "$run" 2>&1 | grep -o 'rank 1 on .*')"

# ---- a missing image fails the run, naming it and the registry's answer
image_run missing "$reg/aml/nosuch:1" main.py .
write "$src/missing/main.py" <<<'print("never")'
run=$(submit "$src/missing")
wait_until 120 ended "$run"
case $(status_of "$run")/$(reason_of "$run" Failed) in
"Failed/image $reg/aml/nosuch:1: "*"manifest unknown"*) ok "a missing image: Failed, naming the image and the registry's answer" ;;
*) not_ok "a missing image: Failed, naming the image and the registry's answer" "$(status_of "$run") $(reason_of "$run" Failed)" ;; esac

# ---- the duration limit in the image
as_user mkdir -p "$src/long"
write "$src/long/main.py" <<'EOF'
import time
print("sleeping", flush=True)
time.sleep(120)
EOF
image_run long "$reg/aml/python:3" main.py '.max_run_duration_seconds = 3'
run=$(submit "$src/long")
wait_until 120 ended "$run"
same "max_run_duration_seconds stops a run in its image" "Canceled max_run_duration_seconds (3 s) reached" \
	"$(status_of "$run") $(reason_of "$run" Canceled)"

# ---- scancel of a run in its image
run=$(submit "$src/long")
wait_until 120 [ "$(status_of "$run")" = Running ]
scancel "$(show "$run" | jq -r '.job_ids[-1]')"
wait_until 60 ended "$run"
same "scancel of a run in its image: Canceled" Canceled "$(status_of "$run")"

# ---- refusals at submit
image_run args "$reg/aml/python:3" main.py '.environment.docker.arguments = ["--privileged"]'
write "$src/args/main.py" <<<'print("never")'
out=$(submit_out "$src/args")
outs=$out
case $out in
*"environment.docker.arguments"*"--privileged"*) ok "Docker arguments the site does not allow are refused at submit, naming the argument" ;;
*) not_ok "Docker arguments the site does not allow are refused at submit, naming the argument" "$out" ;; esac
image_run elsewhere "registry.example.com/aml/python:3" main.py .
write "$src/elsewhere/main.py" <<<'print("never")'
out=$(submit_out "$src/elsewhere")
outs+=$out
case $out in
*"environment.docker.base_image: registry registry.example.com is not one this site pulls from (allowed: $reg)"*) ok "a registry the site does not list is refused at submit" ;;
*) not_ok "a registry the site does not list is refused at submit" "$out" ;; esac
same "refusals: nothing was submitted" none \
	"$(grep -q 'Submitted batch job' <<<"$outs" && echo submitted || echo none)"

# ---- the hostile user plants an image where the victim's run might look
digest=$(skopeo inspect --creds "$creds" --cert-dir "$work/registry/ca" --format '{{.Digest}}' "docker://$reg/aml/python:3" 2>/dev/null)
key=${digest#sha256:}
# shared/ is root's: a user's shared/ is ignored, and so is what they put
# in it; the victim's own directory is 0700.
as_evil mkdir -p "$work/images/shared/$key/rootfs" 2>/dev/null
as_evil sh -c "echo evil > '$work/images/shared/$key.ready'" 2>/dev/null
victim_dir=$(find "$work/images" -maxdepth 1 -user "$user" -type d | head -n 1)
same "the victim's image directory is not the hostile user's to read" denied \
	"$(as_evil ls "$victim_dir" >/dev/null 2>&1 && echo read || echo denied)"
run=$(submit "$src/first")
wait_until 120 ended "$run"
same "the victim's run uses its own image, not the planted one" "Completed false" \
	"$(status_of "$run") $(jq -r .host_sbatch "$history/$user/containers/$run/outputs/facts.json" 2>/dev/null)"

# ---- rootless podman: the same runs
# crun cannot run in this machine's hybrid cgroups: the site's podman
# options choose runc, as a site's would.
if command -v podman >/dev/null && grep -q "^$user:" /etc/subuid; then
	sed -i '/^ContainerRuntime=/d; /^ContainerRuntimeArgs=/d' "$AML_CONF"
	printf 'ContainerRuntime=podman\nContainerRuntimeArgs="--runtime=runc --cgroup-manager=cgroupfs"\n' >>"$AML_CONF"
	restart_ctld
	uid=$(id -u "$user")
	rm -rf "/tmp/podman-run-$uid"
	podman_dirs_left() {
		local d
		d=$(find /tmp -maxdepth 1 \( -name 'aml-podman-*' -o -name "podman-run-$uid" \) -user "$user" | tr '\n' ' ')
		echo "${d:-none}"
	}
	run=$(submit "$src/first")
	wait_until 180 ended "$run" || echo "# the podman run did not end: $(statuses "$run")"
	# The test cluster tracks a job's processes by their parents
	# (proctrack/linuxproc): what podman forks away from itself
	# (conmon, its exit command, the pause process) must still end
	# with the run, and its private directories with it.
	same "podman: nothing of podman outlives the run (conmon, its clean-up, its pause process, its directories)" \
		"none none" "$(podman_leftovers) $(podman_dirs_left)"
	facts=$history/$user/containers/$run/outputs/facts.json
	same "podman: Completed in the image, the user's own uid, its working directory, its variables" \
		"Completed false $(id -u "$user") true $run" \
		"$(status_of "$run") $(jq -r '"\(.host_sbatch) \(.uid) \(.cwd == .workdir) \(.run_id)"' "$facts" 2>/dev/null)"
	[ "$(status_of "$run")" = Completed ] || echo "# $(reason_of "$run" Failed); $(log_of "$run" | tail -n 5)"
	as_user mkdir -p "$src/shm"
	write "$src/shm/main.py" <<'PY'
import os
st = os.statvfs("/dev/shm")
print("shm", st.f_blocks * st.f_frsize // (1024 * 1024), "MiB", flush=True)
PY
	image_run shm "$reg/aml/python:3" main.py '.environment.docker.shm_size = "256m"'
	run=$(submit "$src/shm")
	wait_until 180 ended "$run"
	same "podman: docker.shm_size sizes /dev/shm in the image" "Completed shm 256 MiB" \
		"$(status_of "$run") $(log_of "$run" | grep -o 'shm .*')"
	# Two ranks on one node: each process's podman state is its own
	# (podman's database refuses a second runroot over one storage).
	as_user mkdir -p "$src/podman-2"
	as_user cp "$src/dist/main.py" "$src/podman-2/main.py"
	image_run podman-2 "$reg/aml/python:3" main.py \
		'.distributed_job_config = {type: "pytorch", process_count: 2} | .node_count = 1 | .max_run_duration_seconds = 300'
	run=$(submit "$src/podman-2")
	wait_until 300 ended "$run" || echo "# the 2-rank podman run did not end: $(statuses "$run")"
	same "podman: 2 ranks on one node, each in the image, rank 1 reached rank 0" "Completed hello from rank 1 of 2" \
		"$(status_of "$run") $(cat "$history/$user/containers/$run/outputs/met.txt" 2>/dev/null)"
	[ "$(status_of "$run")" = Completed ] || echo "# $(reason_of "$run" Failed); $(log_of "$run" | tail -n 5)"
	run=$(submit "$src/long")
	wait_until 120 ended "$run"
	same "podman: max_run_duration_seconds stops a run in its image" \
		"Canceled max_run_duration_seconds (3 s) reached" \
		"$(status_of "$run") $(reason_of "$run" Canceled)"
	same "podman: nothing of podman outlives a run stopped at its duration limit" none \
		"$(podman_leftovers)"
else
	ok "podman: docker.shm_size sizes /dev/shm in the image # SKIP podman is not installed or $user has no /etc/subuid range"
	ok "podman: Completed in the image # SKIP podman is not installed or $user has no /etc/subuid range"
	ok "podman: max_run_duration_seconds stops a run in its image # SKIP podman is not installed or $user has no /etc/subuid range"
	ok "podman: nothing of podman outlives the run # SKIP podman is not installed or $user has no /etc/subuid range"
	ok "podman: 2 ranks on one node # SKIP podman is not installed or $user has no /etc/subuid range"
	ok "podman: nothing of podman outlives a run stopped at its duration limit # SKIP podman is not installed or $user has no /etc/subuid range"
fi

# ---- Docker builds the site makes (ContainerBuilder=podman): once per content
# charliecloud runs what podman builds; podman's own options are the
# builder's (ContainerBuilderArgs), not ch-run's.
sed -i '/^ContainerRuntime=/d; /^ContainerRuntimeArgs=/d; /^ContainerBuilder/d' "$AML_CONF"
printf 'ContainerRuntime=charliecloud\nContainerBuilder=podman\n' >>"$AML_CONF"
printf 'ContainerBuilderArgs="--runtime=runc --cgroup-manager=cgroupfs"\n' >>"$AML_CONF"
restart_ctld
as_user mkdir -p "$src/built/ctx"
write "$src/built/ctx/marker.txt" <<<'from the build context'
printf 'FROM %s/aml/python:3\nCOPY marker.txt /opt/aml-marker.txt\nRUN echo built > /opt/aml-built.txt\n' "$reg" |
	write "$src/built/ctx/Dockerfile"
write "$src/built/main.py" <<'PY'
print("built:", open("/opt/aml-built.txt").read().strip(), "|", open("/opt/aml-marker.txt").read().strip(), flush=True)
PY
jq -n --arg ctx "$src/built/ctx" '{"$schema": "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json",
	command: "python3 main.py", code: ".", compute: "azureml:cpu", experiment_name: "containers",
	environment: {build: {path: $ctx, dockerfile_path: "Dockerfile"}}}' | write "$src/built/job.yml"
out=$(cd "$src/built" && as_user sbatch -o /dev/null --aml-run=job.yml </dev/null 2>&1)
run=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
[ -n "$run" ] || echo "# sbatch: $out"
wait_until 400 ended "$run" || echo "# the build run did not end: $(statuses "$run")"
same "a build context: built by podman, run in the image (its RUN and COPY there)" \
	"Completed built: built | from the build context" \
	"$(status_of "$run") $(log_of "$run" | grep -o 'built: .*')"
[ "$(status_of "$run")" = Completed ] || echo "# $(reason_of "$run" Failed); $(tail -n 5 "$history/$user/containers/$run/logs/azureml/image_build_log.txt" 2>/dev/null)"
same "the build log is in the run's logs" yes \
	"$(grep -q 'podman' "$history/$user/containers/$run/logs/azureml/image_build_log.txt" 2>/dev/null && echo yes)"
again=$(cd "$src/built" && as_user sbatch -o /dev/null --aml-run=job.yml </dev/null 2>&1 | sed -n 's/^sbatch: run \([^:]*\):.*/\1/p')
wait_until 120 ended "$again"
same "the same context again: not built again (no build log), the same image" \
	"Completed no built: built | from the build context" \
	"$(status_of "$again") $([ -e "$history/$user/containers/$again/logs/azureml/image_build_log.txt" ] && echo yes || echo no) $(log_of "$again" | grep -o 'built: .*')"

# ---- v1's Dockerfile text, built the same way
as_user mkdir -p "$src/v1build"
write "$src/v1build/main.py" <<'PY'
print("v1:", open("/opt/aml-v1.txt").read().strip(), flush=True)
PY
jq -n --arg df "$(printf 'FROM %s/aml/python:3\nRUN echo from-v1-dockerfile > /opt/aml-v1.txt\n' "$reg")" \
	'{experiment_name: "containers", script: "main.py", compute_target: "cpu",
	environment: {docker: {enabled: true, base_dockerfile: $df},
		python: {user_managed_dependencies: true, interpreter_path: "python3"}}}' |
	write "$src/v1build/run.json"
run=$(submit "$src/v1build")
wait_until 400 ended "$run" || echo "# the v1 build run did not end: $(statuses "$run")"
same "v1 docker.base_dockerfile: built, and the run runs in it" "Completed v1: from-v1-dockerfile" \
	"$(status_of "$run") $(log_of "$run" | grep -o 'v1: .*')"
[ "$(status_of "$run")" = Completed ] || echo "# $(reason_of "$run" Failed)"
# The builder's podman keeps a pause process too, forked away to init.
same "nothing of the builder's podman outlives the runs it built for" none "$(podman_leftovers)"

# ---- aml-run env gc: the user's images no run holds, unused for 0 days, go
before=$(as_user aml-run env list 2>/dev/null | grep -c "^image ")
gc=$(as_user aml-run env gc --unused 0 2>&1)
after=$(as_user aml-run env list 2>/dev/null | grep -c "^image ")
if [ "$before" -ge 3 ] && [ "$after" = 0 ] && [ "$(grep -c '^removed ' <<<"$gc")" -ge "$before" ]; then
	ok "aml-run env gc removes the user's unused images ($before pulled and built)"
else
	not_ok "aml-run env gc removes the user's unused images" "before $before, after $after" "$gc"
fi
