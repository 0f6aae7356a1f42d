#!/bin/bash
# Run history on an MLflow tracking server, end to end on the real
# cluster: sbatch (the user) creates the run, the node, the launcher and
# the finalizer (root) report to the server, each with its own
# credentials (HistoryCredentials=~/...), and the script logs into the
# same run with MLflow's variables and its user's own token, which is in
# its environment only, never in run history or Slurm's job record.  The
# server is the protocol's test server (tests/mlflow-server) on loopback,
# with a bearer token.  The hostile user, who shares the experiments
# (as users of one MLflow server do), makes runs of the victim's run's
# name in the victim's experiment while it runs: the victim's writers
# reach their run by its MLflow run id, and readers never take another's
# run of the same name.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher
server=$(cd "$tests/../mlflow-server" && pwd)/mlflow_test_server.py
token=s3cret-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
home=$(getent passwd "$user" | cut -d: -f6)
evil_home=$(getent passwd "$evil" | cut -d: -f6)
src=$home/aml-mlflow-test
work=$(mktemp -d /tmp/aml-mlflow-t.XXXXXX)
server_pid=
cp "$AML_CONF" "$work/aml.conf.saved"
finish() {
	cp "$work/aml.conf.saved" "$AML_CONF"
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$work" "$src" "$home/.aml" "$evil_home/.aml" /root/.aml/mlflow-credentials
}
trap finish EXIT
export PYTHONDONTWRITEBYTECODE=1

python3 "$server" --port 0 --port-file "$work/port" --auth "bearer:$token" --quiet &
server_pid=$!
wait_until 10 test -s "$work/port" || echo "# the test server did not start"
base=http://127.0.0.1:$(cat "$work/port")
dump() { curl -s "$base/__dump__"; }

# Each writer's own credentials, readable by it alone.
for who in "$user" "$evil" root; do
	dir=$(getent passwd "$who" | cut -d: -f6)/.aml
	mkdir -p "$dir"
	printf 'token = %s\n' "$token" >"$dir/mlflow-credentials"
	chown -R "$who:" "$dir"
	chmod 700 "$dir"
	chmod 600 "$dir/mlflow-credentials"
done
# The cluster's aml.conf, its history on the server (put back at the end).
sed -e '/^HistoryDir=/d' "$work/aml.conf.saved" >"$AML_CONF"
cat >>"$AML_CONF" <<EOF
HistoryBackend=mlflow
HistoryURI=$base
HistoryCredentials=~/.aml/mlflow-credentials
HistoryLogInterval=1
EOF

rm -rf "$src"
as_user mkdir -p "$src/hello"
as_user tee "$src/hello/hello.py" >/dev/null <<'EOF'
import json, os, time, urllib.request
os.makedirs("outputs", exist_ok=True)
with open("outputs/greeting.txt", "w") as f:
    f.write("hello\n")
# What mlflow.log_metric does, with the credential MLflow's client reads.
token = os.environ.get("MLFLOW_TRACKING_TOKEN")
if token and os.environ.get("MLFLOW_RUN_ID"):
    req = urllib.request.Request(
        os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric",
        data=json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "loss", "value": 0.25,
                         "timestamp": int(time.time() * 1000), "step": 1}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    urllib.request.urlopen(req).read()
with open("outputs/env.txt", "w") as f:
    for k in sorted(os.environ):
        f.write("%s=%s\n" % (k, "<set>" if k == "MLFLOW_TRACKING_TOKEN" else os.environ[k]))
print("mlflow run", os.environ.get("MLFLOW_RUN_ID"), flush=True)
EOF
echo '{"experiment_name": "mlflow-e2e", "script": "hello.py", "compute_target": "cpu"}' |
	as_user tee "$src/hello/run.json" >/dev/null
submit() {
	local out
	out=$(cd "$1" && as_user sbatch -o /dev/null "${@:2}" --aml-run=run.json </dev/null 2>&1)
	sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out"
}
ended() { case $(show "$1" | jq -r .status) in Completed | Failed | Canceled) return 0 ;; *) return 1 ;; esac; }
server_run() { dump | jq -c --arg r "$1" '.runs[] | select(any(.tags[]; .key == "aml.run_id" and .value == $r))'; }
server_events() {
	server_run "$1" | jq -r '.tags | map(select(.key | startswith("aml.event.")))
		| sort_by(.key) | .[].value | fromjson | .status + " " + .source' | paste -sd ' '
}
artifact() {
	local id
	id=$(server_run "$1" | jq -r .info.run_id)
	curl -s -H "Authorization: Bearer $token" \
		"$base/api/2.0/mlflow-artifacts/artifacts/$(server_run "$1" | jq -r .info.experiment_id)/$id/artifacts/$2"
}

echo "1..25"

run=$(submit "$src/hello")
wait_until 120 ended "$run" || echo "# hello did not end: $(show "$run" | jq -c '[.events[].status]')"
same "hello on MLflow: every writer's event, in order, on the server" \
	"NotStarted sbatch Queued sbatch Preparing node Running launcher Finalizing launcher Completed launcher" \
	"$(server_events "$run")"
same "hello on MLflow: MLflow's status FINISHED, the exact one in aml.status" "FINISHED Completed" \
	"$(server_run "$run" | jq -r '.info.status + " " + (.tags[] | select(.key == "aml.status") | .value)')"
same "hello on MLflow: the outputs file is in the artifact store" hello "$(artifact "$run" outputs/greeting.txt)"
same "hello on MLflow: the log is in the artifact store" \
	"mlflow run $(server_run "$run" | jq -r .info.run_id)" "$(artifact "$run" user_logs/std_log.txt)"
env_txt=$(artifact "$run" outputs/env.txt)
same "the script gets MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and MLFLOW_EXPERIMENT_NAME" \
	"MLFLOW_EXPERIMENT_NAME=mlflow-e2e MLFLOW_RUN_ID=$(server_run "$run" | jq -r .info.run_id) MLFLOW_TRACKING_URI=$base" \
	"$(grep -E '^MLFLOW_(TRACKING_URI|RUN_ID|EXPERIMENT_NAME)=' <<<"$env_txt" | sort | paste -sd ' ')"
same "the script logs a metric into its run with the user's own token (MLFLOW_TRACKING_TOKEN)" \
	"MLFLOW_TRACKING_TOKEN=<set> loss=0.25" \
	"$(grep '^MLFLOW_TRACKING_TOKEN=' <<<"$env_txt") $(server_run "$run" | jq -r '.metrics[]? | select(.key == "loss") | "loss=" + (.value | tostring)' | head -n 1)"
hello_job=$(show "$run" | jq -r '[.events[] | select(.job_id) | .job_id] | last')
same "the token is nowhere in run history, nor in Slurm's record of the job" "0 0" \
	"$(dump | grep -c "$token") $(scontrol show job -dd "$hello_job" 2>/dev/null | grep -c "$token")"
same "aml-run show reads the run back from the server" "Completed cpu $user" \
	"$(show "$run" | jq -r '.status + " " + .compute_target + " " + .owner')"
same "MLflow's own user_id is the run's user, as search_runs(attributes.user_id) finds it" "$user" \
	"$(server_run "$run" | jq -r .info.user_id)"

# Cancelled while pending: the finalizer (root, with root's credentials)
# records the end on the server.
held=$(submit "$src/hello" --hold)
job=$(show "$held" | jq -r '[.events[] | select(.job_id) | .job_id] | last')
scancel "$job"
# Waiting on the server, not through aml-run (whose reconcile on read would
# race the finalizer to record the same end).
server_ended() { server_events "$1" | grep -q Canceled; }
wait_until 60 server_ended "$held"
same "cancelled while pending: Canceled on the server, by the finalizer" \
	"NotStarted sbatch Queued sbatch Canceled finalizer" "$(server_events "$held")"
same "cancelled while pending: MLflow's status KILLED" KILLED "$(server_run "$held" | jq -r .info.status)"
same "cancelled while pending: aml-run shows it" \
	"NotStarted Queued Canceled" "$(show "$held" | jq -r '[.events[].status] | join(" ")')"

# ---- another user's runs of the same name, in the victim's experiment
# The MLflow run of a Slurm job, as the controller wrote it in the job's
# admin comment; the events of an MLflow run, by its id.
job_key() { scontrol show job -o "$1" | sed -n 's/.* AdminComment=aml run_id=[^ ]* mlflow_run_id=\([0-9a-f]*\).*/\1/p'; }
job_of() { show "$1" | jq -r '[.events[] | select(.job_id) | .job_id] | last'; }
key_events() {
	dump | jq -r --arg k "$1" '.runs[] | select(.info.run_id == $k) | .tags
		| map(select(.key | startswith("aml.event."))) | sort_by(.key)
		| .[].value | fromjson | .status + " " + .source' | paste -sd ' '
}
# evil_run RUN: the hostile user's run of that name in the victim's
# experiment, made as any of their runs is; its MLflow run id.
evil_run() { as_evil history-fixture create mlflow-e2e "$1" "$(now_ms)" cpu | sed -n 's/^key //p'; }
running() { [ "$(show "$1" | jq -r .status)" = Running ]; }

as_user mkdir -p "$src/slow"
as_user tee "$src/slow/slow.py" >/dev/null <<'EOF'
import os, time
time.sleep(6)
os.makedirs("outputs", exist_ok=True)
with open("outputs/mine.txt", "w") as f:
    f.write("the victim's\n")
print("victim's output", flush=True)
EOF
echo '{"experiment_name": "mlflow-e2e", "script": "slow.py", "compute_target": "cpu"}' |
	as_user tee "$src/slow/run.json" >/dev/null
run=$(submit "$src/slow")
wait_until 60 running "$run" || echo "# the slow run is not Running: $(show "$run" | jq -c '[.events[].status]')"
key=$(job_key "$(job_of "$run")")
theirs=$(evil_run "$run")
if [ -n "$key" ] && [ -n "$theirs" ] && [ "$key" != "$theirs" ]; then
	ok "a same-named run of the hostile user's is made in the victim's experiment while the run runs"
else
	not_ok "a same-named run of the hostile user's is made in the victim's experiment while the run runs" \
		"victim's key: '$key', hostile run: '$theirs'"
fi
wait_until 120 ended "$run" || echo "# the slow run did not end: $(key_events "$key")"
same "the victim's writers (sbatch, node, launcher) all reach their own MLflow run" \
	"NotStarted sbatch Queued sbatch Preparing node Running launcher Finalizing launcher Completed launcher" \
	"$(key_events "$key")"
same "the hostile user's run of the same name gets nothing of the victim's" \
	"NotStarted sbatch" "$(key_events "$theirs")"
out=$(as_user aml-run show --json "$run" 2>&1)
same "the victim's aml-run show takes the victim's run of the two" \
	"Completed $user $key" \
	"$(jq -r '.status + " " + .owner + " " + .properties["mlflow.run_id"]' <<<"$out" 2>/dev/null || echo "$out")"
dl=$(fresh_user_dir aml-mlflow-dl)
same "the victim's aml-run logs and download read the victim's run" \
	"victim's output|the victim's" \
	"$(as_user aml-run logs "$run" 2>&1)|$(cd "$dl" && as_user aml-run download "$run" outputs/mine.txt -o "$dl" >/dev/null 2>&1; cat "$dl/outputs/mine.txt" 2>/dev/null)"
rm -rf "$dl"
err=$(env SLURM_CONF="$SLURM_CONF" AML_CONF="$AML_CONF" "$bin/aml-run" show "$run" 2>&1 >/dev/null)
case $err in
*"2 runs on "*"$key"*"$theirs"* | *"2 runs on "*"$theirs"*"$key"*)
	ok "root, whose neither is, is refused with both MLflow run ids" ;;
*) not_ok "root, whose neither is, is refused with both MLflow run ids" "$err" ;;
esac

# A run of the same name that claims the victim (MLflow takes user_id
# and tags from any client): readers refuse to guess, the MLflow run id
# picks.
exp_id=$(dump | jq -r --arg k "$key" '.runs[] | select(.info.run_id == $k) | .info.experiment_id')
as_evil curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
	-d "{\"experiment_id\":\"$exp_id\",\"run_name\":\"$run\",\"user_id\":\"$user\",\"tags\":[{\"key\":\"aml.run_id\",\"value\":\"$run\"},{\"key\":\"aml.schema\",\"value\":\"1\"},{\"key\":\"mlflow.user\",\"value\":\"$user\"},{\"key\":\"aml.owner_uid\",\"value\":\"$(id -u "$user")\"}]}" \
	"$base/api/2.0/mlflow/runs/create" >/dev/null
err=$(as_user aml-run show "$run" 2>&1 >/dev/null)
case $err in
*"3 runs on "*"$key"*"by its MLflow run id"*) ok "a run forged in the victim's name: the victim's show refuses to guess, naming each" ;;
*) not_ok "a run forged in the victim's name: the victim's show refuses to guess, naming each" "$err" ;;
esac
same "the victim's run, by its MLflow run id" "Completed $run" \
	"$(as_user aml-run show --json "$key" 2>&1 | jq -r '.status + " " + .run_id' 2>/dev/null)"

# Cancelled while pending beside a same-named run of the hostile user's:
# the finalizer (root) finds the victim's run by the MLflow run id in the
# job's admin comment.
held=$(submit "$src/hello" --hold)
job=$(job_of "$held")
key=$(job_key "$job")
theirs=$(evil_run "$held")
scancel "$job"
key_ended() { key_events "$1" | grep -q Canceled; }
wait_until 60 key_ended "$key"
same "the finalizer records the victim's cancel on the victim's MLflow run" \
	"NotStarted sbatch Queued sbatch Canceled finalizer" "$(key_events "$key")"
same "and nothing on the hostile user's run of the same name" "NotStarted sbatch" "$(key_events "$theirs")"

# ---- the log while the run runs: the launcher puts the growing log on
# the server every HistoryLogInterval (1 s here), and aml-run logs
# --follow prints it from there, then the rest at the end.
as_user mkdir -p "$src/live"
as_user tee "$src/live/live.py" >/dev/null <<'EOF'
import os, sys, time
print("first line", flush=True)
deadline = time.time() + 90
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.2)
print("second line", flush=True)
EOF
printf '{"experiment_name": "mlflow-e2e", "script": "live.py", "arguments": ["%s"], "compute_target": "cpu"}\n' \
	"$src/live/go" | as_user tee "$src/live/run.json" >/dev/null
run=$(submit "$src/live")
as_user aml-run logs --follow "$run" >"$work/follow.out" 2>&1 &
follower=$!
if wait_until 90 grep -q "first line" "$work/follow.out"; then
	same "aml-run logs --follow on MLflow: the first line while the run still runs" \
		"Running|first line" "$(show "$run" | jq -r .status)|$(cat "$work/follow.out")"
else
	not_ok "aml-run logs --follow on MLflow: the first line while the run still runs" \
		"$(show "$run" | jq -c '[.events[].status]')" "$(cat "$work/follow.out")"
fi
same "... the server has the log as far as it came, before the run's end" "first line" \
	"$(artifact "$run" user_logs/std_log.txt)"
as_user touch "$src/live/go"
follower_gone() { ! kill -0 "$follower"; }
wait_until 90 follower_gone || kill "$follower"
wait "$follower"
same "... and the rest once it ends: every line once, the follower done" \
	"0|first line
second line|Completed" "$?|$(cat "$work/follow.out")|$(show "$run" | jq -r .status)"
