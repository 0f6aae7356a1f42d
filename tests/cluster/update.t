#!/bin/bash
# scontrol update of a pending run by its own, hostile, owner (issue 12,
# point 5).  The cluster has two targets on partition debug told apart by
# Constraint: cpu (any node) and big (Constraint=big: n2, which has the
# feature big, kept for the test user by AllowUsers).  The hostile user
# submits to cpu and tries to reach what big keeps, or to change the
# layout the run's processes were planned for: every such update is
# refused by job_submit/aml (its reason in slurmctld's log) and leaves the
# job as it was; updates that select nothing (hold, release, a new name,
# excluding a node) go through.  Submissions that ask for the same things
# with sbatch's own options are refused the same way.  Last, no job of the
# hostile user may be named after the test user's run (point 8).
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

if ! grep -q spank_aml "${SLURM_CONF%/*}/plugstack.conf" 2>/dev/null; then
	echo "1..0 # SKIP the cluster runs without the slurm-aml plugins"
	exit 0
fi
if ! grep -q '^ComputeTarget=big .*Constraint=big' "$AML_CONF"; then
	echo "1..0 # SKIP aml.conf has no target big (Constraint=big): an older aml-cluster"
	exit 0
fi

log=${SLURM_CONF%/*}/log/slurmctld.log
evil_uid=$(id -u "$evil")
src=$(fresh_user_dir aml-update-test "$evil")
cp "$tests/../../contrib/examples/hello/hello.py" "$src/"
cat >"$src/run.json" <<'EOF'
{"experiment_name": "update-test", "script": "hello.py", "compute_target": "cpu",
 "node_count": 2, "distributed_job_config": {"type": "pytorch", "process_count": 4},
 "max_run_duration_seconds": 600}
EOF
printf '%s\n' '{"experiment_name": "update-test", "script": "hello.py", "compute_target": "big"}' \
	>"$src/big.json"
chown -R "$evil:" "$src"
mine=$(fresh_user_dir aml-update-test)
cp "$src/hello.py" "$src/big.json" "$mine/"
chown -R "$user:" "$mine"

# The fields an update could change, as Slurm has them now.
state_of() {
	scontrol show job -o "$1" | tr ' ' '\n' |
		grep -E '^(Features|ReqNodeList|NumTasks|NumNodes|TresPerNode|TresPerTask|Partition|TimeLimit)=' |
		sort | tr '\n' ' '
}
field() { scontrol show job -o "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "1..19"

# A pending run of the hostile user on target cpu: --begin keeps it
# pending when it is released.  sbatch exports the user's environment, in
# which the hostile user claims a plan on target big: updates are judged
# by the plan in the job's environment (AML_PLAN), so the controller's own
# must replace it, or the refusals below would not be.
forged="aml run_id=forged experiment=update-test target=big nodes=1 tasks=1 tpn=0"
job=$(cd "$src" && as_evil env AML_PLAN="$forged" sbatch -o /dev/null \
	--parsable --begin=now+1hour --aml-run=run.json </dev/null 2>/dev/null)
run=$(field "$job" JobName)
if [ -n "$job" ] && [ "$(job_state "$job")" = PENDING ]; then
	ok "the hostile user's run is pending on target cpu"
else not_ok "the hostile user's run is pending on target cpu" "job '$job' state $(job_state "$job")"; fi

# refused NAME REASON UPDATE...: the update fails, the job is unchanged,
# and slurmctld's log has job_submit/aml's REASON for it.
refused() {
	local name=$1 reason=$2 before out status; shift 2
	before=$(state_of "$job")
	out=$(as_evil scontrol update jobid="$job" "$@" 2>&1); status=$?
	if [ $status != 0 ] && [ "$(state_of "$job")" = "$before" ] &&
		wait_until 5 grep -qF "refused an update by uid $evil_uid: run $run: $reason" "$log"; then
		ok "$name"
	else
		not_ok "$name" "exit $status: $out" "before: $before" "after:  $(state_of "$job")" \
			"log: $(grep 'aml: refused an update' "$log" | tail -n 2)"
	fi
}

refused "Features=big is refused: target cpu sets no Constraint" \
	"Features: compute target cpu sets no Constraint" Features=big
refused "Gres is refused: target cpu has no Gres" \
	"Gres: compute target cpu has no Gres" Gres=gpu:1
refused "NumTasks is refused: the processes were planned for 4" \
	"NumTasks: the run's processes were planned as 4 task(s), asked 8" NumTasks=8
refused "NodeList=n2 is refused: nodes are chosen within the target" \
	"NodeList: a run's nodes are chosen within compute target cpu" NodeList=n2
refused "TasksPerNode is refused: the layout was planned" \
	"NtasksPerNode: the run's processes were planned with another layout" TasksPerNode=1
refused "Partition=long is refused" \
	"Partition: compute target cpu runs in partition debug only" Partition=long
same "the job still asks for no feature after all of it" "(null)" "$(field "$job" Features)"

# What selects nothing goes through.
as_evil scontrol hold "$job" >/dev/null 2>&1
held=$(field "$job" Priority)
as_evil scontrol release "$job" >/dev/null 2>&1
same "hold and release work" "0 yes" "$held $( [ "$(field "$job" Priority)" -gt 0 ] && echo yes)"
out=$(as_evil scontrol update jobid="$job" ExcNodeList=n1 2>&1); status=$?
same "excluding a node (narrowing) is accepted" "0 n1" "$status $(field "$job" ExcNodeList)"
out=$(as_evil scontrol update jobid="$job" Features= 2>&1); status=$?
same "clearing features the run never had is accepted" "0 (null)" "$status $(field "$job" Features)"
out=$(as_evil scontrol update jobid="$job" Name=renamed 2>&1); status=$?
same "a new name is accepted" "0 renamed" "$status $(field "$job" JobName)"
scancel "$job"

# The same through sbatch's own options, at submission.
out=$(cd "$src" && as_evil sbatch -o /dev/null --constraint=big --aml-run=run.json </dev/null 2>&1); status=$?
if [ $status != 0 ] && grep -q "Features: compute target cpu sets no Constraint" <<<"$out"; then
	ok "sbatch --constraint=big on target cpu is refused"
else not_ok "sbatch --constraint=big on target cpu is refused" "exit $status" "$out"; fi
out=$(cd "$src" && as_evil sbatch -o /dev/null --nodelist=n2 --aml-run=run.json </dev/null 2>&1); status=$?
if [ $status != 0 ] && grep -q "NodeList: a run's nodes are chosen within compute target cpu" <<<"$out"; then
	ok "sbatch --nodelist=n2 on target cpu is refused"
else not_ok "sbatch --nodelist=n2 on target cpu is refused" "exit $status" "$out"; fi
out=$(cd "$src" && as_evil sbatch -o /dev/null --aml-run=big.json </dev/null 2>&1); status=$?
if [ $status != 0 ] && grep -q "compute target big is restricted to AllowUsers=$user" <<<"$out"; then
	ok "the hostile user may not use target big"
else not_ok "the hostile user may not use target big" "exit $status" "$out"; fi

# The user big is kept for gets its nodes, and may not widen them.
job2=$(cd "$mine" && as_user sbatch -o /dev/null --parsable --begin=now+1hour \
	--aml-run=big.json </dev/null 2>/dev/null)
out=$(as_user scontrol update jobid="$job2" Features=big 2>&1); status=$?
same "target big's run asks for feature big, and may set it again" "0 big" "$status $(field "$job2" Features)"
out=$(as_user scontrol update jobid="$job2" Features= 2>&1); status=$?
same "target big's run may not drop its constraint" "1 big" "$status $(field "$job2" Features)"

# That run's id is the test user's now (issue 12, point 8): no job of
# the hostile user may be named after it, at submission or by a rename.
run2=$(field "$job2" JobName)
out=$(cd "$src" && as_evil sbatch -o /dev/null -J "$run2" --wrap true 2>&1); status=$?
if [ $status != 0 ] && grep -q "the job name $run2 is the run id of another user's run" <<<"$out"; then
	ok "a plain job named after another user's run is refused"
else not_ok "a plain job named after another user's run is refused" "exit $status" "$out"; fi
plain=$(cd "$src" && as_evil sbatch -o /dev/null --parsable -J mine --begin=now+1hour --wrap true 2>/dev/null)
out=$(as_evil scontrol update jobid="$plain" Name="$run2" 2>&1); status=$?
same "renaming a job after another user's run is refused" "1 mine" "$status $(field "$plain" JobName)"
[ -n "$plain" ] && scancel "$plain"
[ -n "$job2" ] && scancel "$job2"
exit 0
