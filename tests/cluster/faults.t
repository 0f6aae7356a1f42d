#!/bin/bash
# Faults lose nothing (issue 13).  For each fault of the storage under
# HistoryDir (permission denied, read-only, no space, quota exceeded, a
# stale handle, an I/O error, unmounted, hung), injected at each phase of
# a run (before submission, while Preparing, while Running, during
# Finalizing, during the finalizer's end), a real job of the unprivileged
# test user runs on the real cluster; once the fault is lifted and the
# hosts' delivery has run (aml-epilog and aml-finalize --flush by hand, as
# the Epilog and the aml-deliver timer run them), run history has every
# event, every byte of the run's output and its log, and the right end.
# How each fault is made, real or simulated: tests/cluster/faults.sh.
#
# AML_FAULTS and AML_FAULT_PHASES (space-separated) choose a subset.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"
. "$tests/faults.sh"

needs_launcher
if ! grep -q '^Epilog=' "$SLURM_CONF" || ! grep -q '^JobCompLoc=' "$SLURM_CONF" ||
	! grep -q '^TaskProlog=' "$SLURM_CONF"; then
	echo "1..0 # SKIP the cluster runs without aml-epilog, aml-finalize or its TaskProlog gate"
	exit 0
fi

kinds=${AML_FAULTS:-eacces erofs enospc edquot estale eio missing hang}
phases=${AML_FAULT_PHASES:-submit preparing running finalizing finalizer}
cluster=$(dirname "$SLURM_CONF")
history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")
gates=$cluster/gates
src=$(fresh_user_dir aml-faults-test)
exp=faults

set -- $kinds
nk=$#
set -- $phases
echo "1..$((nk * $# + 1))"

# A short HistoryTimeout, so a hung filesystem costs each writer 2 s, and
# a short HistoryProbeInterval, so writers probe it again a second after
# each fault is lifted.
conf_saved=$(mktemp)
cp "$AML_CONF" "$conf_saved"
sed -i '/^HistoryTimeout=/d; /^HistoryProbeInterval=/d' "$AML_CONF"
printf 'HistoryTimeout=2\nHistoryProbeInterval=1\n' >>"$AML_CONF"
current=""
cleanup() {
	[ -n "$current" ] && fault_release "$current" "$history"
	cp "$conf_saved" "$AML_CONF"
	rm -f "$conf_saved"
	# The tests after this one start with run history known to answer,
	# as a site's writers would once their breakers' next probe passed
	# (with the default HistoryProbeInterval, up to minutes later).
	rm -f "$(sed -n 's/^SpoolDir=//p' "$AML_CONF")"/*/breaker
}
trap cleanup EXIT

events() { cat "$history/$user/$exp/$1/events.jsonl" 2>/dev/null; }
statuses() { events "$1" | jq -r .status | paste -sd ' '; }
final_status() { events "$1" | in_event_order | tail -n 1 | jq -r .status; }
# The launcher is done with the job: it is no longer running there (a
# child stuck in a hung filesystem may keep it COMPLETING).
job_off() {
	case $(job_state "$1") in
	PENDING | RUNNING | CONFIGURING | SUSPENDED | "") return 1 ;;
	*) return 0 ;;
	esac
}
# What the Epilog and the aml-deliver timer do, by hand.
deliver() {
	"$cluster/aml-epilog" </dev/null >/dev/null 2>&1
	AML_CONF=$AML_CONF SLURM_CONF=$SLURM_CONF \
		"$(sed -n 's/^exec \([^ ]*aml-finalize\) .*/\1/p' "$cluster/aml-finalize")" \
		--flush </dev/null >/dev/null 2>&1
	return 0
}
# Everything of run $1 is in history, ending $2.
complete() {
	local run=$1 want=$2 dir=$history/$user/$exp/$1 s
	s=" $(statuses "$run") "
	for st in NotStarted Queued Preparing Running "$want"; do
		case $s in *" $st "*) ;; *) return 1 ;; esac
	done
	[ "$(final_status "$run")" = "$want" ] || return 1
	[ "$want" = Canceled ] || case $s in *" Finalizing "*) ;; *) return 1 ;; esac
	[ -f "$dir/outputs/data.bin" ] && [ -f "$dir/outputs/data.sha256" ] || return 1
	[ "$(sha256sum <"$dir/outputs/data.bin" | cut -d' ' -f1)" = "$(cat "$dir/outputs/data.sha256")" ] || return 1
	[ "$(stat -c %s "$dir/outputs/data.bin")" = 262144 ] || return 1
	grep -q "wrote the outputs" "$dir/user_logs/std_log.txt" 2>/dev/null
}
deliver_until_complete() { deliver; complete "$@"; }
why_not() {
	local run=$1 dir=$history/$user/$exp/$1
	echo "statuses: $(statuses "$run")"
	echo "history: $(cd "$dir" 2>/dev/null && find . -type f | sort | paste -sd ' ')"
	echo "spools: $(find "$(sed -n 's/^SpoolDir=//p' "$AML_CONF")" -path '*/q/*' -maxdepth 3 2>/dev/null | wc -l) queued, rejected: $(find "$(sed -n 's/^SpoolDir=//p' "$AML_CONF")" -path '*/rejected/*' -name reason 2>/dev/null | xargs -r cat | head -c 400)"
	echo "job: $(scontrol show job -o "$2" 2>/dev/null | grep -o 'JobState=[^ ]*\|Comment=[^ ]*' | paste -sd ' ')"
}

# The run: its output, a line in its log, then it waits for the word of
# the test (a file in the user's own directory, never in HistoryDir).
as_user mkdir -p "$src/run"
write "$src/run/main.py" <<'EOF'
import hashlib, os, sys, time
os.makedirs("outputs", exist_ok=True)
data = os.urandom(262144)
with open("outputs/data.bin", "wb") as f:
    f.write(data)
with open("outputs/data.sha256", "w") as f:
    f.write(hashlib.sha256(data).hexdigest())
print("wrote the outputs", flush=True)
open(sys.argv[1] + ".started", "w").close()
end = time.time() + 300
while not os.path.exists(sys.argv[1] + ".go") and time.time() < end:
    time.sleep(0.1)
open(sys.argv[1] + ".past", "w").close()
while not os.path.exists(sys.argv[1] + ".end") and time.time() < end:
    time.sleep(0.1)
print("done", flush=True)
EOF

# submit CASE [sbatch options]: prints the run id, the job id.
submit() {
	local case=$1 out; shift
	printf '{"experiment_name": "%s", "script": "main.py", "arguments": ["%s"], "compute_target": "cpu"}\n' \
		"$exp" "$src/run/$case" | write "$src/run/run.json"
	out=$(cd "$src/run" && as_user sbatch "$@" -o "$src/run/$case.out" --aml-run=run.json </dev/null 2>&1)
	run=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
	job=$(sed -n 's/.*Submitted batch job \([0-9]*\).*/\1/p' <<<"$out")
	[ -n "$run" ] && [ -n "$job" ] || echo "# sbatch: $out"
}
go() { as_user touch "$src/run/$1.$2"; }

one_case() {
	local kind=$1 phase=$2 case=$1-$2 want=Completed r missed=""
	run="" job=""
	case $phase in
	submit)
		go "$case" go; go "$case" end
		fault_inject "$kind" "$history"
		submit "$case"
		wait_until 180 job_off "$job"
		;;
	preparing)
		go "$case" go; go "$case" end
		submit "$case" -H
		: >"$gates/$run.hold"
		scontrol release "$job"
		# Without the gate this case would inject its fault after
		# the run, and test nothing it names.
		wait_until 120 test -e "$gates/$run.reached" ||
			missed="the job never reached the TaskProlog gate (is SLURM_JOB_NAME its run id?)"
		fault_inject "$kind" "$history"
		rm -f "$gates/$run.hold"
		wait_until 180 job_off "$job"
		;;
	running)
		submit "$case"
		wait_until 120 test -e "$src/run/$case.started"
		fault_inject "$kind" "$history"
		go "$case" go
		wait_until 60 test -e "$src/run/$case.past"
		fault_lift "$kind" "$history"
		go "$case" end
		wait_until 180 job_off "$job"
		;;
	finalizing)
		go "$case" go
		submit "$case"
		wait_until 120 test -e "$src/run/$case.past"
		fault_inject "$kind" "$history"
		go "$case" end
		wait_until 180 job_off "$job"
		;;
	finalizer)
		want=Canceled
		submit "$case"
		wait_until 120 test -e "$src/run/$case.started"
		fault_inject "$kind" "$history"
		scancel "$job"
		wait_until 180 job_off "$job"
		;;
	esac
	r=$([ -n "$job" ] && job_state "$job")
	fault_lift "$kind" "$history"
	if [ -n "$missed" ]; then
		not_ok "$kind $phase: the fault was injected while $phase" "$missed"
	elif wait_until 90 deliver_until_complete "$run" "$want"; then
		ok "$kind $phase: $want with every event and output byte once lifted (Slurm: $r)"
	else
		not_ok "$kind $phase: $want with every event and output byte once lifted" \
			"run $run job $job (Slurm: $r)" "$(why_not "$run" "$job")"
	fi
	rm -f "$gates/$run.hold" "$gates/$run.reached"
}

for kind in $kinds; do
	fault_prepare "$kind" "$history"
	rc=$?
	if [ $rc -ne 0 ]; then
		for phase in $phases; do
			if [ $rc -eq 2 ]; then ok "$kind $phase # SKIP faultfs not built: libfuse3-dev missing"
			else not_ok "$kind $phase: the fault could not be prepared"; fi
		done
		continue
	fi
	current=$kind
	for phase in $phases; do
		one_case "$kind" "$phase"
	done
	fault_release "$kind" "$history"
	current=""
done

# Every fault above was survived by waiting, so run history judged
# nothing: a write that was repeated (a child given up on that wrote
# after all, a replay after a lost removal) is applied again, not refused.
refused=$(find "$(sed -n 's/^SpoolDir=//p' "$AML_CONF")" -mindepth 4 -maxdepth 4 \
	-path '*/rejected/*' -name reason 2>/dev/null)
if [ -z "$refused" ]; then
	ok "run history refused nothing any fault made the writers repeat"
else
	not_ok "run history refused nothing any fault made the writers repeat" \
		"$(for f in $refused; do echo "$f: $(head -c 300 "$f")"; done)"
fi
