#!/bin/bash
# Faults lose nothing (issue 13): a run's directory on a node is removed
# only once its outputs reached run history or the spool.
#   (a) the launcher is killed before its uploads (SIGKILL to aml-launch,
#       as the OOM killer does it): the SPANK epilog uploads outputs/x
#       itself, then removes the directory;
#   (b) run history closed to users and the user's spool unusable as the
#       run ends: the directory is kept, marked .undelivered-<node>, and
#       said in the slurmd log; once both are back, aml-epilog run by hand
#       (what a timer does) delivers it and removes it;
#   (d) meanwhile the hostile user plants, in their own tree, a marker and
#       symlinks to the victim's kept directory: aml-epilog follows none,
#       and nothing of the victim's is removed or uploaded into the
#       hostile user's runs;
#   (c) with KeptRunDirMax=1K the same fault removes the directory, says
#       so loudly, and the loss is recorded in the run
#       (aml.outputs_lost.<node>) once run history is back.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher
if ! grep -q '^Epilog=' "$SLURM_CONF"; then
	echo "1..0 # SKIP the cluster runs without aml-epilog"
	exit 0
fi

conf() { sed -n "s/^$1=//p" "$AML_CONF"; }
history=$(conf HistoryDir) spooldir=$(conf SpoolDir) rundir=$(conf RunDir)
cdir=$(dirname "$SLURM_CONF")
logs=$cdir/log
epilog=$cdir/aml-plugins/aml-epilog
uid=$(id -u "$user")
evil_uid=$(id -u "$evil")
src=$(fresh_user_dir aml-keep-test)
work=$(mktemp -d)

events() { cat "$history/$user/keep/$1/events.jsonl" 2>/dev/null; }
has_status() { events "$1" | grep -q "\"status\":\"$2\""; }
job_of() { events "$1" | jq -r 'select(.job_id) | .job_id' | tail -n 1; }
node_of() { events "$1" | jq -r 'select(.status == "Running") | .node' | tail -n 1; }
in_history() { cat "$history/$user/keep/$1/$2" 2>/dev/null; }
slurmd_log_has() { grep -qF "$2" "$logs/slurmd-$1.log"; }
# aml-epilog by hand, as root, as a timer would run it (no job, no node
# name: every node's directories found here).
epilog_by_hand() {
	timeout 120 env -u SLURM_JOB_ID -u SLURMD_NODENAME AML_CONF="$AML_CONF" \
		SLURM_CONF="$SLURM_CONF" "$epilog" --seconds=60 2>&1
}

# ---- the fault: run history closed to users, and the user's spool
# unusable (made impossible to use: their spool directory closed to
# them); undone by lift_fault, and on exit whatever happens.
history_mode=$(stat -c %a "$history")
fault() {
	local d found=0
	chmod 000 "$history"
	for d in $(find "$spooldir" -mindepth 1 -maxdepth 1 -uid "$uid" -type d); do
		chmod 000 "$d"
		found=1
	done
	if [ $found = 0 ]; then
		as_user mkdir -m 0700 "$spooldir/$uid"
		chmod 000 "$spooldir/$uid"
	fi
}
victim_tree_mode=
lift_fault() {
	local d
	chmod "$history_mode" "$history"
	[ -n "$victim_tree_mode" ] && chmod "$victim_tree_mode" "$history/$user"
	for d in $(find "$spooldir" -mindepth 1 -maxdepth 1 -uid "$uid" -type d); do
		chmod 0700 "$d"
	done
}
cp "$AML_CONF" "$work/aml.conf.saved"
cleanup() {
	lift_fault
	cp "$work/aml.conf.saved" "$AML_CONF"
	rm -rf "$work"
}
trap cleanup EXIT

# The script writes outputs/x, says it is ready (a file), then waits for
# the test's word (another file) to end.
as_user mkdir -p "$src/keep"
as_user tee "$src/keep/main.py" >/dev/null <<'EOF'
import os, sys, time
os.makedirs("outputs", exist_ok=True)
with open("outputs/x", "w") as f:
    f.write("bytes of x\n")
open(sys.argv[1], "w").close()
end = time.time() + 300
while not os.path.exists(sys.argv[2]) and time.time() < end:
    time.sleep(0.1)
EOF
# submit NAME: a run that waits for $src/keep/go-NAME; prints its id.
submit() {
	local out
	printf '{"experiment_name": "keep", "script": "main.py", "arguments": ["%s", "%s"], "compute_target": "cpu"}\n' \
		"$src/keep/ready-$1" "$src/keep/go-$1" | as_user tee "$src/keep/run-$1.json" >/dev/null
	out=$(cd "$src/keep" && as_user sbatch -o "$src/keep/job-$1.out" --aml-run="run-$1.json" </dev/null 2>&1)
	sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out"
}

echo "1..24"

# ---- (a) the launcher killed before its uploads
run=$(submit a)
if wait_until 120 test -e "$src/keep/ready-a"; then ok "(a) the run wrote outputs/x and waits"
else not_ok "(a) the run wrote outputs/x and waits" "run: $run" "$(cat "$src/keep/job-a.out" 2>&1)"; fi
job=$(job_of "$run") node=$(node_of "$run")
rdir=$rundir/$user/$run
same "(a) outputs/x is in the run's directory on $node" "bytes of x" "$(cat "$rdir/$node/outputs/x" 2>&1)"
# The launcher itself killed, as the OOM killer or a SIGKILL after
# KillWait does it: nothing of it runs after this.  (scancel, even with
# --signal=KILL, makes slurmd send SIGTERM first, and the launcher then
# uploads within KillWait.)
launcher_of() {
	local p
	for p in $(pgrep -u "$user" -x aml-launch); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_JOB_ID=$1" && echo "$p"
	done
}
pid=$(launcher_of "$job")
if [ -n "$pid" ] && kill -KILL $pid; then ok "(a) aml-launch killed (SIGKILL) while its script runs"
else not_ok "(a) aml-launch killed (SIGKILL) while its script runs" "no aml-launch of job $job: $(pgrep -a -u "$user")"; fi
wait_until 60 job_ended "$job"
wait_until 60 test ! -e "$rdir"
same "(a) the launcher never reached its uploads (no Finalizing, recorded or refused)" "" \
	"$(cat "$history/$user/keep/$run/events.jsonl" "$history/$user/keep/$run/refused.jsonl" 2>/dev/null |
		grep '"status":"Finalizing"')"
same "(a) the epilog uploaded outputs/x, with its bytes" "bytes of x" "$(in_history "$run" outputs/x)"
if slurmd_log_has "$node" "aml: run $run: outputs of node $node delivered by the epilog"; then
	ok "(a) the slurmd log says the epilog delivered them"
else not_ok "(a) the slurmd log says the epilog delivered them" "$(grep -F "$run" "$logs/slurmd-$node.log" | tail -n 5)"; fi
same "(a) then the run's directory on the node is gone" gone "$([ -e "$rdir" ] && echo there || echo gone)"

# ---- (b) neither run history nor the spool as the run ends
run_b=$(submit b)
wait_until 120 test -e "$src/keep/ready-b"
job=$(job_of "$run_b") node_b=$(node_of "$run_b")
rdir_b=$rundir/$user/$run_b
fault
as_user touch "$src/keep/go-b"
wait_until 120 job_ended "$job"
msg="aml: run $run_b: outputs of node $node_b not delivered ("
if wait_until 60 slurmd_log_has "$node_b" "$msg"; then ok "(b) the slurmd log says the outputs are not delivered"
else not_ok "(b) the slurmd log says the outputs are not delivered" "$(grep -F "$run_b" "$logs/slurmd-$node_b.log" | tail -n 5)"; fi
line=$(grep -F "$msg" "$logs/slurmd-$node_b.log" | tail -n 1)
case $line in
*"); kept in $rdir_b/$node_b until they are (aml-epilog retries at every job's end)") ok "(b) ...and where they are kept, in one line" ;;
*) not_ok "(b) ...and where they are kept, in one line" "$line" ;;
esac
same "(b) the directory is kept, outputs/x in it" "bytes of x" "$(cat "$rdir_b/$node_b/outputs/x" 2>&1)"
marker=$(head -n 1 "$rdir_b/.undelivered-$node_b" 2>&1)
case $marker in
20[0-9][0-9]-[01][0-9]-[0-3][0-9]T*" outputs/: "*) ok "(b) .undelivered-$node_b says when and why" ;;
*) not_ok "(b) .undelivered-$node_b says when and why" "$marker" ;;
esac

# ---- (d) the hostile user plants a marker and symlinks in their own tree
# while the victim's fault lasts (for the victim alone now: their tree in
# run history closed to them, their spool still unusable).
chmod "$history_mode" "$history"
victim_tree_mode=$(stat -c %a "$history/$user")
chmod 000 "$history/$user"
erun=$(new_run_id hostile)
as_evil history-fixture create hostile "$erun" "$(now_ms)" cpu >/dev/null
eroot=$rundir/$evil
as_evil mkdir -p -m 0700 "$eroot/$erun"
printf '2026-01-01T00:00:00.000Z planted\nrun hostile - keep 0\n' |
	as_evil tee "$eroot/$erun/.undelivered-$node_b" >/dev/null
as_evil ln -s "$rdir_b/$node_b" "$eroot/$erun/$node_b"
as_evil ln -s "$rdir_b" "$eroot/$run_b"
as_evil mkfifo "$eroot/$erun/.undelivered-n9"
as_evil ln -s "$rundir/$user" "$rundir/$user.0badf00d"
out=$(epilog_by_hand)
status=$?
if [ $status = 1 ]; then ok "(d) aml-epilog ends in time, with something left"
else not_ok "(d) aml-epilog ends in time, with something left" "exit status $status" "$out"; fi
same "(d) the victim's kept directory survives, whole" "bytes of x|kept" \
	"$(cat "$rdir_b/$node_b/outputs/x" 2>&1)|$([ -f "$rdir_b/.undelivered-$node_b" ] && echo kept)"
same "(d) nothing of the victim's went into the hostile user's run" none \
	"$([ -e "$history/$evil/hostile/$erun/outputs" ] && echo some || echo none)"
same "(d) ...nor into the hostile user's spool" 0 \
	"$(find "$spooldir" -uid "$evil_uid" -path '*/files/*' 2>/dev/null | wc -l)"
case $out in
*"$eroot/$run_b is a symbolic link (not followed): skipped"*"run $erun: outputs of node $node_b still not delivered ($node_b: is a symbolic link, not followed)"* | \
	*"run $erun: outputs of node $node_b still not delivered ($node_b: is a symbolic link, not followed)"*"$eroot/$run_b is a symbolic link (not followed): skipped"*)
	ok "(d) aml-epilog says it followed neither symlink" ;;
*) not_ok "(d) aml-epilog says it followed neither symlink" "$out" ;;
esac
case $out in
*"$rundir/$user.0badf00d (uid $evil_uid) is a symbolic link (not followed): skipped"*) ok "(d) ...nor the alias of the victim's tree in RunDir" ;;
*) not_ok "(d) ...nor the alias of the victim's tree in RunDir" "$out" ;;
esac
chmod "$victim_tree_mode" "$history/$user"
rm -rf "$eroot/$erun" "$eroot/$run_b" "$rundir/$user.0badf00d"

# ---- (b, continued) both back: aml-epilog by hand delivers and removes
lift_fault
out=$(epilog_by_hand)
same "(b) once both are back, aml-epilog delivers outputs/x, with its bytes" "bytes of x" \
	"$(in_history "$run_b" outputs/x)"
same "(b) ...and removes the directory" gone "$([ -e "$rdir_b" ] && echo there || echo gone)"
case $out in
*"run $run_b: outputs of node $node_b delivered to run history; $rdir_b/$node_b removed"*) ok "(b) ...and says so" ;;
*) not_ok "(b) ...and says so" "$out" ;;
esac

# ---- (c) KeptRunDirMax=1K: the same fault removes it, loudly
echo "KeptRunDirMax=1K" >>"$AML_CONF"
run_c=$(submit c)
wait_until 120 test -e "$src/keep/ready-c"
job=$(job_of "$run_c") node_c=$(node_of "$run_c")
rdir_c=$rundir/$user/$run_c
fault
as_user touch "$src/keep/go-c"
wait_until 120 job_ended "$job"
msg="aml: run $run_c: outputs of node $node_c ("
wait_until 60 slurmd_log_has "$node_c" "$msg"
line=$(grep -F "$msg" "$logs/slurmd-$node_c.log" | tail -n 1)
case $line in
*"$msg"*") not delivered and removed: kept run directories on this node would exceed KeptRunDirMax=1K; outputs/: "*"(the admin can raise KeptRunDirMax"*"or bring run history back"*)
	ok "(c) the slurmd log says loudly it was removed, why, and what the admin can do" ;;
*) not_ok "(c) the slurmd log says loudly it was removed, why, and what the admin can do" "$line" \
	"$(grep -F "$run_c" "$logs/slurmd-$node_c.log" | tail -n 5)" ;;
esac
same "(c) the node's directory is removed" gone "$([ -e "$rdir_c/$node_c" ] && echo there || echo gone)"
lift_fault
cp "$work/aml.conf.saved" "$AML_CONF"
out=$(epilog_by_hand)
show=$(as_user aml-run show --json "$run_c" 2>&1)
lost=$(jq -r --arg k "aml.outputs_lost.$node_c" '.properties[$k] // empty' <<<"$show" 2>/dev/null)
case $lost in
"run $run_c: outputs of node $node_c ("*") not delivered and removed: kept run directories on this node would exceed KeptRunDirMax=1K; "*)
	ok "(c) once run history is back, aml-run show tells the owner (aml.outputs_lost.$node_c)" ;;
*) not_ok "(c) once run history is back, aml-run show tells the owner (aml.outputs_lost.$node_c)" "$show" "$out" ;;
esac
same "(c) nothing of the run is left on the node" gone "$([ -e "$rdir_c" ] && echo there || echo gone)"
