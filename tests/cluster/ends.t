#!/bin/bash
# The ends of a run that Slurm decides, on the real cluster: out of
# memory (task/cgroup's limit), Slurm's own time limit (TIMEOUT), a node
# that fails to boot for the job (BOOT_FAIL), and a launcher killed
# KillWait seconds after scancel because it could not finish in time.
# Each must end the run once, with Slurm's reason, whoever records it.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher

src=$(fresh_user_dir aml-ends-test)
history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")
cluster_dir=$(dirname "$SLURM_CONF")

# submit DIR [SBATCH ARGS...]: the run id of DIR/run.json, or ""
submit() {
	local dir=$1 out; shift
	out=$(cd "$dir" && as_user sbatch -o "$dir/job.out" "$@" --aml-run=run.json </dev/null 2>&1)
	sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out"
}
running() { [ "$(status_of "$1")" = Running ]; }
job_of() { show "$1" | jq -r '[.events[] | select(.job_id) | .job_id] | last'; }
# The run's last event as "Status source", and its reason.
last_event() { show "$1" | jq -r '.events | last | .status + " " + .source'; }
last_reason() { show "$1" | jq -r '.events | last | .reason // ""'; }
terminals() { show "$1" | jq '[.events[] | select(.status == "Completed" or .status == "Failed" or .status == "Canceled")] | length'; }
uploaded() { cat "$history/$user/ends/$1/outputs/before.txt" 2>/dev/null; }

# make_run NAME BODY: a run whose script writes an output, then runs BODY
# (Python).
make_run() {
	local dir=$src/$1
	as_user mkdir -p "$dir"
	printf '%s\n' 'import os, signal, sys, time' \
		'os.makedirs("outputs", exist_ok=True)' \
		'with open("outputs/before.txt", "w") as f:' \
		'    f.write("written before the end\n")' \
		'print("started", flush=True)' "$2" | write "$dir/main.py"
	echo '{"experiment_name": "ends", "script": "main.py", "compute_target": "cpu"}' |
		write "$dir/run.json"
}

echo "1..15"

# ---- out of memory: the kernel's OOM killer at the job's --mem
if [ -f "$cluster_dir/cgroup.conf" ]; then
	make_run oom 'chunks = [bytearray(16 << 20) for _ in range(64)]'
	run=$(submit "$src/oom" --mem=96M)
	wait_until 120 ended "$run" || echo "# oom did not end: $(statuses "$run")"
	job=$(job_of "$run")
	wait_until 60 job_ended "$job"
	same "oom: Slurm ends the job OUT_OF_MEMORY" OUT_OF_MEMORY "$(job_state "$job")"
	same "oom: the run is Failed once, by the launcher, exit code 137" "Failed launcher 1 137" \
		"$(last_event "$run") $(terminals "$run") $(show "$run" | jq -r '.events | last | .exit_code')"
	reason=$(last_reason "$run")
	case $reason in
	"out of memory: the kernel's OOM killer ended 1 process of the run at the job's memory limit"*)
		ok "oom: the reason says out of memory" ;;
	*) not_ok "oom: the reason says out of memory" "got: $reason" ;;
	esac
	same "oom: the output written before is in run history" "written before the end" "$(uploaded "$run")"
else
	for t in "oom: OUT_OF_MEMORY" "oom: Failed once" "oom: the reason" "oom: the output"; do
		n=$((n + 1))
		echo "ok $n - $t # SKIP the cluster runs without task/cgroup (no writable v1 memory cgroup here, or AML_CLUSTER_CGROUP=no): Slurm cannot limit memory"
	done
fi

# ---- Slurm's own time limit
make_run timeout 'time.sleep(600)'
run=$(submit "$src/timeout")
wait_until 60 running "$run"
job=$(job_of "$run")
# One minute is Slurm's shortest limit, and slurmctld checks limits every
# 30 s: the job ends 60 to 90 s after it started.
scontrol update JobId="$job" TimeLimit=1
wait_until 180 ended "$run" || echo "# timeout did not end: $(statuses "$run")"
wait_until 60 job_ended "$job"
same "timeout: Slurm ends the job TIMEOUT" TIMEOUT "$(job_state "$job")"
same "timeout: the run is Canceled once, by the finalizer, with Slurm's reason" \
	"Canceled finalizer 1 Slurm ended the job: it reached its time limit (TIMEOUT)" \
	"$(last_event "$run") $(terminals "$run") $(last_reason "$run")"
wait_until 30 uploaded "$run"
same "timeout: the launcher still uploads the outputs" "written before the end" "$(uploaded "$run")"
# Whoever wrote first, the launcher leaves the end to the finalizer and
# says so once: the end was there already, or it is the finalizer's.
if [ "$(grep -c -e "run history already has the run's end, Canceled" \
	-e "Slurm ended the job (TIMEOUT): aml-finalize records" "$src/timeout/job.out")" = 1 ] &&
	! grep -q "cannot record" "$src/timeout/job.out"; then
	ok "timeout: the launcher says once that the end is recorded"
else
	not_ok "timeout: the launcher says once that the end is recorded" "$(cat "$src/timeout/job.out")"
fi

# ---- a node that fails to boot for the job, which may not be requeued
make_run boot 'time.sleep(600)'
run=$(submit "$src/boot" --no-requeue)
wait_until 60 running "$run"
job=$(job_of "$run")
fail_out=$("$bin/fail-boot" "$job" 2>&1) || echo "# fail-boot: $fail_out"
wait_until 60 ended "$run" || echo "# boot did not end: $(statuses "$run")"
wait_until 60 job_ended "$job"
same "boot failure: Slurm ends the job BOOT_FAIL" BOOT_FAIL "$(job_state "$job")"
same "boot failure: the run is Failed once, by the finalizer, without an exit code" \
	"Failed finalizer 1 null A node of the job failed to boot (BOOT_FAIL)" \
	"$(last_event "$run") $(terminals "$run") $(show "$run" | jq -r '.events | last | .exit_code') $(last_reason "$run")"
wait_until 30 uploaded "$run"
same "boot failure: the launcher still uploads the outputs" "written before the end" "$(uploaded "$run")"

# ---- the hard kill after KillWait
# The script ignores SIGTERM and run history hangs (the run's lock is
# held, as on a hung shared filesystem), so the launcher cannot finish
# before Slurm's SIGKILL.  The finalizer does not wait for the filesystem
# either: after a few seconds the end waits in root's spool, and the next
# job's end, once the filesystem answers again, writes it.
make_run hardkill 'signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(600)'
run=$(submit "$src/hardkill")
wait_until 60 running "$run"
job=$(job_of "$run")
lock_out=$(mktemp)
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(600)' "$history/$user/ends/$run/events.jsonl" >"$lock_out" &
locker=$!
wait_until 10 grep -q locked "$lock_out"
kill_wait=$(sed -n 's/^KillWait=//p' "$SLURM_CONF")
cancelled_at=$(now_ms)
scancel "$job"
# The job leaves COMPLETING only once its last process is gone: the
# launcher, blocked on run history, goes with Slurm's SIGKILL.
wait_until 60 job_ended "$job"
gone_after=$((($(now_ms) - cancelled_at) / 1000))
kill "$locker"
wait "$locker" 2>/dev/null
rm -f "$lock_out"
trigger=$(sbatch --parsable -J "$(new_run_id trigger)" -o /dev/null --wrap true)
wait_until 60 job_ended "$trigger"
# Waiting on the file, not through aml-run (whose reconcile on read would
# race the finalizer, released at the same moment, to record the end).
wait_until 60 grep -q '"status":"Canceled"' "$history/$user/ends/$run/events.jsonl" ||
	echo "# hardkill did not end: $(statuses "$run")"
# slurmstepd counts KillWait in whole seconds from its own start of the
# kill, so the job may go up to a second before KillWait after scancel
# returns: one that went earlier than that did not wait for SIGKILL.
if [ "$gone_after" -ge $((kill_wait - 1)) ]; then
	ok "hard kill: the launcher lived until Slurm's SIGKILL (gone ${gone_after} s after scancel, KillWait ${kill_wait} s)"
else
	not_ok "hard kill: the launcher lived until Slurm's SIGKILL" \
		"the job ended ${gone_after} s after scancel; KillWait=$kill_wait"
fi
same "hard kill: Slurm ends the job CANCELLED" CANCELLED "$(job_state "$job")"
same "hard kill: the run is Canceled once, by the finalizer, with no Finalizing" \
	"NotStarted Queued Preparing Running Canceled finalizer 1" \
	"$(statuses "$run") $(show "$run" | jq -r '.events | last | .source') $(terminals "$run")"
same "hard kill: the reason is Slurm's" \
	"The job was cancelled in Slurm, by scancel or an administrator (CANCELLED)" \
	"$(last_reason "$run")"

[ -n "${AML_KEEP_TEST_DIRS:-}" ] || rm -rf "$src"
