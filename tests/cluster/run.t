#!/bin/bash
# Runs from sbatch --aml-run to their end in run history, on the real
# cluster, as a regular user: the hello run's exact events, outputs and
# log; a distributed PyTorch run whose four ranks meet over TCP; exit
# codes; the exact duration limit; scancel; what the script receives; a
# source edited after submission; an outputs symlink to a root-only file.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher

src=$(fresh_user_dir aml-run-test)
history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")

# write FILE: stdin into a file of the test user's
# submit DIR FILE [SBATCH ARGS...]: the run id, or "" when refused
submit() {
	local dir=$1 file=$2 out; shift 2
	out=$(cd "$dir" && as_user sbatch -o /dev/null "$@" --aml-run="$file" </dev/null 2>&1)
	sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out"
}

echo "1..21"

# ---- hello: the whole life of a run
as_user mkdir -p "$src/hello"
write "$src/hello/hello.py" <<'EOF'
import os, sys
print("hello from", os.environ["AZUREML_RUN_ID"], "job", os.environ.get("SLURM_JOB_NAME"), "args", sys.argv[1:], flush=True)
os.makedirs("outputs", exist_ok=True)
with open("outputs/greeting.txt", "w") as f:
    f.write("hello\n")
EOF
write "$src/hello/run.json" <<'EOF'
{"experiment_name": "e2e", "script": "hello.py", "arguments": ["a b", "it's", "$(id)", ";", "\"q\""],
 "compute_target": "cpu", "max_run_duration_seconds": 300,
 "environment": {"environment_variables": {"GREETING_COLOUR": "blue"}}}
EOF
# -J: the job is renamed after its run, and SLURM_JOB_NAME follows.
run=$(submit "$src/hello" run.json -J my-own-name)
wait_until 120 ended "$run" || echo "# hello did not end: $(statuses "$run")"
same "hello: NotStarted Queued Preparing Running Finalizing Completed" \
	"NotStarted Queued Preparing Running Finalizing Completed" "$(statuses "$run")"
same "hello: the outputs file is in run history" hello \
	"$(cat "$history/$user/e2e/$run/outputs/greeting.txt" 2>/dev/null)"
same "hello: arguments arrive verbatim (spaces, quotes, \$(...), ;), SLURM_JOB_NAME is the run id" \
	"hello from $run job $run args ['a b', \"it's\", '\$(id)', ';', '\"q\"']" \
	"$(as_user aml-run logs "$run" 2>&1 | head -n 1)"

rundir=$(sed -n 's/^RunDir=//p' "$AML_CONF")
gone() { [ ! -e "$rundir/$user/$1/$2" ]; }
if wait_until 60 gone "$run" n1 && wait_until 5 gone "$run" n2; then ok "the epilog removed the run's working directory"
else not_ok "the epilog removed the run's working directory" "$(ls -la "$rundir/$user/$run" 2>&1)"; fi

# ---- a step the user starts themselves is left alone
write "$src/hello/own-step.sh" <<'EOF'
#!/bin/bash
srun -n 1 bash -c 'echo "rank=${RANK:-none}"'
EOF
out=$(cd "$src/hello" && as_user sbatch --parsable -o "$src/hello/own-step.out" --aml-run=run.json own-step.sh 2>/dev/null)
wait_until 60 job_ended "$out"
same "a step the user starts is not given a rank" "rank=none" "$(grep '^rank=' "$src/hello/own-step.out" 2>/dev/null)"

# ---- environment variables reach the script
write "$src/hello/env.py" <<'EOF'
import os
print(os.environ.get("GREETING_COLOUR"), os.environ.get("AZUREML_EXPERIMENT_NAME"), os.getcwd() == os.environ.get("AML_WORKDIR"))
EOF
jq '.script = "env.py" | .arguments = []' "$src/hello/run.json" | write "$src/hello/env.json"
run2=$(submit "$src/hello" env.json)
wait_until 120 ended "$run2"
same "environment_variables reach the script, which runs in its working directory" \
	"blue e2e True" "$(as_user aml-run logs "$run2" 2>&1 | head -n 1)"

# ---- exit 3: Failed with the code, and wait's exit status says so
write "$src/hello/fail.py" <<'EOF'
import sys
print("failing", flush=True)
sys.exit(3)
EOF
jq '.script = "fail.py" | .arguments = []' "$src/hello/run.json" | write "$src/hello/fail.json"
run3=$(submit "$src/hello" fail.json)
as_user timeout 120 aml-run wait "$run3" >/dev/null 2>&1; status=$?
same "a script exiting 3: Failed with exit code 3; wait exits 3" "Failed 3 3" \
	"$(as_user aml-run show --json "$run3" | jq -r '.status + " " + (.exit_code | tostring)') $status"

# ---- the exact duration limit
write "$src/hello/slow.py" <<'EOF'
import os, time
os.makedirs("outputs", exist_ok=True)
open("outputs/before-kill.txt", "w").write("written\n")
time.sleep(120)
EOF
jq '.script = "slow.py" | .arguments = [] | .max_run_duration_seconds = 5' "$src/hello/run.json" |
	write "$src/hello/slow.json"
run4=$(submit "$src/hello" slow.json)
wait_until 120 ended "$run4"
info=$(as_user aml-run show --json "$run4")
same "max_run_duration_seconds 5: Canceled, the reason names the limit" "Canceled max_run_duration_seconds" \
	"$(jq -r .status <<<"$info") $(jq -r .reason <<<"$info" | grep -o max_run_duration_seconds)"
secs=$(jq -r '.duration_seconds' <<<"$info")
if awk -v s="$secs" 'BEGIN { exit !(s >= 5 && s <= 15) }'; then ok "... within 5 to 15 seconds ($secs s)"
else not_ok "... within 5 to 15 seconds" "duration: $secs"; fi
same "... and what it wrote before the kill is uploaded" written \
	"$(cat "$history/$user/e2e/$run4/outputs/before-kill.txt" 2>/dev/null)"

# ---- scancel while running, and while pending
write "$src/hello/long.py" <<'EOF'
import time
print("started", flush=True)
time.sleep(300)
EOF
jq '.script = "long.py" | .arguments = []' "$src/hello/run.json" | write "$src/hello/long.json"
run5=$(submit "$src/hello" long.json)
wait_until 120 [ "$(status_of "$run5")" = Running ]
scancel "$(as_user aml-run show --json "$run5" | jq -r '.job_ids[-1]')"
wait_until 60 ended "$run5"
same "scancel while running: Canceled" Canceled "$(status_of "$run5")"
run6=$(submit "$src/hello" long.json --begin=now+1hour)
scancel "$(as_user aml-run show --json "$run6" | jq -r '.job_ids[-1]')"
wait_until 60 ended "$run6"
same "scancel while pending: Canceled" "Canceled" "$(status_of "$run6")"

# ---- the snapshot, not the directory, is what runs
write "$src/hello/late.py" <<'EOF'
print("as submitted", flush=True)
EOF
jq '.script = "late.py" | .arguments = []' "$src/hello/run.json" | write "$src/hello/late.json"
run7=$(submit "$src/hello" late.json --begin=now+3)
echo 'print("edited after submission", flush=True)' | write "$src/hello/late.py"
wait_until 120 ended "$run7"
same "editing the source after submission changes nothing" "as submitted" \
	"$(as_user aml-run logs "$run7" 2>&1 | head -n 1)"

# ---- an outputs symlink to a root-only file leaks nothing
secret=$(mktemp /root/aml-secret.XXXXXX 2>/dev/null || mktemp /var/tmp/aml-secret.XXXXXX)
echo "root only" >"$secret"
chmod 0600 "$secret"
write "$src/hello/leak.py" <<EOF
import os
os.makedirs("outputs", exist_ok=True)
os.symlink("$secret", "outputs/leak")
open("outputs/ok.txt", "w").write("ok\n")
EOF
jq '.script = "leak.py" | .arguments = []' "$src/hello/run.json" | write "$src/hello/leak.json"
run8=$(submit "$src/hello" leak.json)
wait_until 120 ended "$run8"
same "an outputs symlink to a root-only file: zero bytes leave" "ok absent" \
	"$(cat "$history/$user/e2e/$run8/outputs/ok.txt" 2>/dev/null) $([ -e "$history/$user/e2e/$run8/outputs/leak" ] && echo present || echo absent)"
rm -f "$secret"

# ---- PyTorch, 2 nodes x 2 processes: every rank's variables, and all
# four meet over TCP at MASTER_ADDR:MASTER_PORT
as_user mkdir -p "$src/ddp"
write "$src/ddp/meet.py" <<'EOF'
import os, socket, sys, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
os.makedirs("outputs", exist_ok=True)
open("outputs/rank%d.txt" % rank, "w").write(os.environ["SLURMD_NODENAME"] + "\n")
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
print("rank %s local %s of %s node %s master %s:%s" % (rank, os.environ["LOCAL_RANK"],
      world, os.environ["NODE_RANK"], addr, port), flush=True)
if rank == 0:
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("", port)); srv.listen(world)
    seen = sorted(int(srv.accept()[0].recv(16)) for _ in range(world - 1))
    print("met", seen, flush=True)
else:
    for _ in range(600):
        try:
            s = socket.create_connection((addr, port)); s.sendall(str(rank).encode()); break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("rank %d never met rank 0" % rank)
EOF
write "$src/ddp/run.json" <<'EOF'
{"experiment_name": "e2e", "script": "meet.py", "compute_target": "cpu", "node_count": 2,
 "distributed_job_config": {"type": "pytorch", "process_count": 4}, "max_run_duration_seconds": 300}
EOF
run9=$(submit "$src/ddp" run.json)
wait_until 180 ended "$run9"
same "PyTorch 2x2: Completed, and rank 0 met ranks 1, 2 and 3" "Completed met [1, 2, 3]" \
	"$(status_of "$run9") $(as_user aml-run logs --rank 0 "$run9" 2>&1 | grep '^met')"
same "PyTorch 2x2: every node's outputs are in run history (both nodes' files)" \
	"rank0.txt:n1 rank1.txt:n1 rank2.txt:n2 rank3.txt:n2" \
	"$(cd "$history/$user/e2e/$run9/outputs" 2>/dev/null && for f in rank*.txt; do echo "$f:$(cat "$f")"; done | xargs)"
ranks=$(for r in 0 1 2 3; do as_user aml-run logs --rank $r "$run9" 2>&1 | grep '^rank'; done |
	awk '{ print $2, $4, $6, $8 }' | sort | xargs)
same "PyTorch 2x2: RANK, LOCAL_RANK, WORLD_SIZE, NODE_RANK of every process" \
	"0 0 4 0 1 1 4 0 2 0 4 1 3 1 4 1" "$ranks"
same "PyTorch 2x2: aml-run show names both nodes" "Nodes:       n1,n2" \
	"$(as_user aml-run show "$run9" 2>&1 | grep '^Nodes:')"

# ---- MPI and TensorFlow: every process's variables
write "$src/ddp/show_mpi.py" <<'EOF'
import os
print("mpi", *(os.environ.get("OMPI_COMM_WORLD_" + k, "-") for k in ("RANK", "SIZE", "LOCAL_RANK", "LOCAL_SIZE", "NODE_RANK")), flush=True)
EOF
write "$src/ddp/mpi.json" <<'EOF'
{"experiment_name": "e2e", "script": "show_mpi.py", "compute_target": "cpu", "node_count": 2,
 "distributed_job_config": {"type": "mpi", "process_count_per_node": 2}, "max_run_duration_seconds": 300}
EOF
run10=$(submit "$src/ddp" mpi.json)
wait_until 180 ended "$run10"
same "MPI 2x2: OMPI_COMM_WORLD_RANK, SIZE, LOCAL_RANK, LOCAL_SIZE, NODE_RANK" \
	"mpi 0 4 0 2 0 mpi 1 4 1 2 0 mpi 2 4 0 2 1 mpi 3 4 1 2 1" \
	"$(for r in 0 1 2 3; do as_user aml-run logs --rank $r "$run10" 2>&1 | grep '^mpi'; done | xargs)"
write "$src/ddp/show_tf.py" <<'EOF'
import json, os
c = json.loads(os.environ["TF_CONFIG"])
print("tf", c["task"]["type"], c["task"]["index"], len(c["cluster"]["worker"]), len(c["cluster"].get("ps", [])), flush=True)
EOF
write "$src/ddp/tf.json" <<'EOF'
{"experiment_name": "e2e", "script": "show_tf.py", "compute_target": "cpu", "node_count": 2,
 "distributed_job_config": {"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1},
 "max_run_duration_seconds": 300}
EOF
run11=$(submit "$src/ddp" tf.json)
wait_until 180 ended "$run11"
same "TensorFlow 2 workers + 1 ps: each process's TF_CONFIG task, over the whole cluster" \
	"tf ps 0 2 1 tf worker 0 2 1 tf worker 1 2 1" \
	"$(for r in 0 1 2; do as_user aml-run logs --rank $r "$run11" 2>&1 | grep '^tf'; done | sort | xargs)"

# ---- a node dies mid-run: Slurm requeues the job (NODE_FAIL), the
# finalizer records a new attempt, which runs on the other node
write "$src/hello/node.py" <<'EOF'
import os, time
attempt = int(os.environ.get("SLURM_RESTART_COUNT", "0")) + 1
print("attempt", attempt, flush=True)
if attempt == 1:
    time.sleep(300)
EOF
jq '.script = "node.py" | .arguments = []' "$src/hello/run.json" | write "$src/hello/node.json"
run12=$(submit "$src/hello" node.json)
wait_until 120 [ "$(status_of "$run12")" = Running ]
node=$(as_user aml-run show --json "$run12" | jq -r '.events[-1].node')
job=$(as_user aml-run show --json "$run12" | jq -r '.job_ids[-1]')
cdir=${SLURM_CONF%/*}
# The node dies: its slurmd, the job's slurmstepd and everything the job
# ran there (launcher included) are gone at once, and nothing reports.
if [ -n "$node" ] && [ -n "$job" ] && [ -s "$cdir/run/slurmd-$node.pid" ]; then
	kill -9 "$(cat "$cdir/run/slurmd-$node.pid")"
	pkill -9 -f "slurmstepd: \[$job\." || true
	pkill -9 -u "$user" -f 'aml-launch|node.py' || true
fi
requeued() { as_user aml-run show --json "$run12" | jq -e '.events[] | select(.attempt == 2)' >/dev/null; }
wait_until 120 requeued
# Slurm holds a requeued job back a while (BeginTime); let it go now.
scontrol update jobid="$job" StartTime=now >/dev/null 2>&1
wait_until 180 ended "$run12"
same "a node killed mid-run: Queued again as attempt 2 by the finalizer, then Completed" \
	"Queued finalizer Completed 2" \
	"$(as_user aml-run show --json "$run12" | jq -r '(.events[] | select(.attempt == 2 and .status == "Queued") | .status + " " + .source) + " " + .status + " " + (.attempt | tostring)')"
up=$("${tests%/tests/cluster}/contrib/aml-cluster" up 2>&1) ||
	echo "# could not bring node $node back: $up"
