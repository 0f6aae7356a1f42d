#!/bin/bash
# What a node could not write to run history is not stranded there (issue
# 12, point 9).  The run's directory in run history turns read-only under
# a running job (a read-only bind mount: the filesystem answers EROFS, as
# a remounted or full one would), so its Finalizing, outputs and end wait
# in the user's spool on the node.  Meanwhile the run says where they
# wait, never Completed.  Once run history is writable again, without the
# user running anything, the next job's epilog on the node (another
# user's job) delivers them, as the user, and the run ends Completed with
# its outputs.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher
if ! grep -q '^Epilog=' "$SLURM_CONF" || ! grep -q '^JobCompLoc=' "$SLURM_CONF"; then
	echo "1..0 # SKIP the cluster runs without aml-epilog or aml-finalize"
	exit 0
fi

src=$(fresh_user_dir aml-spooled-test)
history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")
spooldir=$(sed -n 's/^SpoolDir=//p' "$AML_CONF")
logs=$(dirname "$SLURM_CONF")/log

events() { cat "$history/$user/spooled/$1/events.jsonl" 2>/dev/null; }
last_event() { events "$1" | in_event_order | tail -n 1 | jq -r '.status + " " + .source'; }
statuses() { events "$1" | jq -r .status | paste -sd ' '; }
has_status() { events "$1" | grep -q "\"status\":\"$2\""; }
# Entries waiting in the spools of uid $1 (each user directory they own).
queued_of() {
	find "$spooldir" -mindepth 3 -maxdepth 3 -path '*/q/*' -uid "$1" 2>/dev/null | grep -c .
}
# Entries run history refused for uid $1 since this test began (an entry
# gets its reason file, which touches it, when it is refused): what
# earlier tests on the cluster left is theirs to answer for.
began=$(mktemp)
rejected_of() {
	find "$spooldir" -mindepth 3 -maxdepth 3 -path '*/rejected/*' -uid "$1" \
		-newer "$began" 2>/dev/null | grep -c .
}
uid_of() { id -u "$1"; }

echo "1..13"

as_user mkdir -p "$src/spooled"
# The script writes its output, then waits for the test's word (a file),
# so run history can be taken away while it runs.
write "$src/spooled/main.py" <<'EOF'
import os, sys, time
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write("weights\n")
print("waiting for", sys.argv[1], flush=True)
end = time.time() + 180
while not os.path.exists(sys.argv[1]) and time.time() < end:
    time.sleep(0.1)
print("done", flush=True)
EOF
printf '{"experiment_name": "spooled", "script": "main.py", "arguments": ["%s"], "compute_target": "cpu"}\n' \
	"$src/spooled/go" | write "$src/spooled/run.json"
out=$(cd "$src/spooled" && as_user sbatch -o "$src/spooled/job.out" --aml-run=run.json </dev/null 2>&1)
run=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
wait_until 120 has_status "$run" Running || echo "# $run did not start: $out $(statuses "$run")"
job=$(events "$run" | jq -r 'select(.job_id) | .job_id' | tail -n 1)
node=$(events "$run" | jq -r 'select(.status == "Running") | .node')

# Run history turns read-only under the job.
rdir=$history/$user/spooled/$run
mount --bind "$rdir" "$rdir" && mount -o remount,bind,ro "$rdir"
trap 'umount "$rdir" 2>/dev/null' EXIT
as_user touch "$src/spooled/go"
wait_until 120 job_ended "$job"
# Both have given up by now: the finalizer, and the job's own epilog on
# its node (it retries for a few seconds, then says what still waits).
wait_until 30 grep -q "run $run: .*queued in" "$logs/aml-finalize.log"
wait_until 30 grep -q "(uid $(uid_of "$user")): .*still waiting" "$logs/aml-epilog.log"

same "the job's comment says where the run's end waits" "spooled_on=$node" \
	"$(scontrol show job -o "$job" | grep -o 'spooled_on=[^ ]*')"
same "run history still says Running" "Running launcher" "$(last_event "$run")"
show=$(as_user aml-run show --json "$run" 2>/dev/null)
same "aml-run show: Finalizing, not Completed" Finalizing "$(jq -r .status <<<"$show")"
same "aml-run show: the reason says where and since when" \
	"outputs and events of node $node are waiting in its spool since HH:MM (run history unavailable there)" \
	"$(jq -r .reason <<<"$show" | sed -E 's/since [0-9]{2}:[0-9]{2}/since HH:MM/')"
if [ "$(queued_of "$(uid_of "$user")")" -ge 3 ]; then
	ok "Finalizing, the uploads and the end wait in the user's spool"
else
	not_ok "Finalizing, the uploads and the end wait in the user's spool" \
		"$(find "$spooldir" -maxdepth 3 -ls)"
fi
same "the outputs are not in run history yet" no \
	"$([ -e "$rdir/outputs/model.txt" ] && echo yes || echo no)"

# Run history is writable again.  The user runs nothing; another user's
# job ends on the node, and its epilog delivers.
umount "$rdir"
trap - EXIT
other=$(as_evil sbatch --parsable -w "$node" -o /dev/null --wrap true)
wait_until 60 job_ended "$other"
wait_until 60 has_status "$run" Completed
same "the run's own events arrived: it ends Completed, by its launcher" \
	"NotStarted Queued Preparing Running Finalizing Completed|Completed launcher" \
	"$(statuses "$run")|$(last_event "$run")"
same "its outputs are in run history" weights "$(cat "$rdir/outputs/model.txt" 2>/dev/null)"
same "written as the user" "$user" "$(stat -c %U "$rdir/outputs/model.txt" 2>/dev/null)"
wait_until 30 test "$(queued_of "$(uid_of "$user")")" = 0
counts="$(queued_of "$(uid_of "$user")") $(rejected_of "$(uid_of "$user")")"
if [ "$counts" = "0 0" ]; then
	ok "the user's spool is empty, nothing refused"
else
	# What was refused, and why, is what a reader of a failure needs.
	not_ok "the user's spool is empty, nothing refused" "got $counts (queued, refused)" \
		"$(find "$spooldir" -mindepth 3 -maxdepth 4 -path '*/rejected/*' \
			-uid "$(uid_of "$user")" -newer "$began" -type f -exec sh -c 'echo "== $1"; head -c 600 "$1"' _ {} \;)"
fi
wait_until 30 test "$(queued_of 0)" = 0
same "root's spool is empty too (the finalizer's note written or dropped)" "0 0" \
	"$(queued_of 0) $(rejected_of 0)"
if grep -q "(uid $(uid_of "$user")): [0-9]* delivered" "$logs/aml-epilog.log"; then
	ok "the epilog said what it delivered"
else
	not_ok "the epilog said what it delivered" "$(tail -n 5 "$logs/aml-epilog.log")"
fi
same "aml-run show: Completed" Completed "$(as_user aml-run show --json "$run" | jq -r .status)"
rm -f "$began"
