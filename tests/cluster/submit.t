#!/bin/bash
# sbatch --aml-run through a real slurmctld with the SPANK and job_submit
# plugins, as a regular user: what is accepted gets exactly the planned
# allocation; what is wrong is refused by sbatch with its one line, and
# leaves no job and no run behind; what is forged past sbatch is refused by
# the controller.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

if ! grep -q spank_aml "${SLURM_CONF%/*}/plugstack.conf" 2>/dev/null; then
	echo "1..0 # SKIP the cluster runs without the slurm-aml plugins"
	exit 0
fi

home=$(getent passwd "$user" | cut -d: -f6)
src=$home/aml-submit-test
rm -rf "$src"
mkdir -p "$src/hello" "$src/bad"
cp "$tests/../../contrib/examples/hello/hello.py" "$src/hello/"
cat >"$src/hello/run.json" <<'EOF'
{
  "experiment_name": "submit-test",
  "script": "hello.py",
  "arguments": ["--greeting", "hi"],
  "compute_target": "cpu",
  "node_count": 2,
  "distributed_job_config": {"type": "pytorch", "process_count": 4},
  "max_run_duration_seconds": 600
}
EOF
printf '%s\n' '{"script": "hello.py", "node_count": 0}' >"$src/bad/node-count.json"
printf '%s\n' '{"script": "hello.py", "max_run_duration_second": 60}' >"$src/bad/unknown-key.json"
printf '%s\n' '{"script": "hello.py", "compute_target": "gpu-cluster"}' >"$src/bad/target.json"
printf '%s\n' '{"script": "missing.py"}' >"$src/bad/missing-script.json"
printf '%s\n' '{"script": "hello.py", "node_count": 3}' >"$src/bad/too-many-nodes.json"
cp "$src/hello/hello.py" "$src/bad/"
printf '#!/bin/bash\n#SBATCH --aml-run=%s\nenv > "$HOME/aml-submit-test/env-$SLURM_JOB_ID"\n' \
	"$src/hello/run.json" >"$src/hello/sbatch-line.sh"
printf '#!/bin/bash\nenv > "$HOME/aml-submit-test/env-$SLURM_JOB_ID"\n' >"$src/hello/print-env.sh"
chown -R "$user:" "$src"

jobs_of_user() { squeue -h -u "$user" -o %i | wc -l; }
runs_of_user() { as_user aml-run list --user "$user" --json 2>/dev/null | jq length; }
blobs() { find "$(sed -n 's/^SnapshotDir=//p' "$AML_CONF")/$user/blobs" -type f 2>/dev/null | wc -l; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# NumNodes as scontrol prints a fixed count: "2-2" is 2.
nodes_of() { local v; v=$(field "$(scontrol show job -o "$1")" NumNodes); echo "${v%%-*}"; }

echo "1..27"

# ---- a valid run
out=$(cd "$src/hello" && as_user sbatch -o /dev/null --aml-run=run.json </dev/null 2>&1); status=$?
job=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' <<<"$out")
run=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
if [ $status = 0 ] && [ -n "$job" ] && [ -n "$run" ]; then ok "a valid run is submitted"
else not_ok "a valid run is submitted" "exit $status" "$out"; fi
same "sbatch prints the summary line" \
	"sbatch: run $run: compute target cpu, 2 nodes x 2 tasks per node, time limit 11 min" \
	"$(grep '^sbatch: run ' <<<"$out")"

info=$(scontrol show job -o "$job")
plan=$(as_user aml-run plan --json --run-id "$run" "$src/hello/run.json")
same "the job has exactly the planned allocation" \
	"$(jq -r '[.partition, .min_nodes, .num_tasks, .time_limit_minutes, .job_name] | join(" ")' <<<"$plan")" \
	"$(field "$info" Partition) $(nodes_of "$job") $(field "$info" NumTasks) $(($(field "$info" TimeLimit | awk -F: '{ print $1 * 60 + $2 }'))) $(field "$info" JobName)"
same "the comment names the run" "aml run_id=$run experiment=submit-test" \
	"$(scontrol show job "$job" | sed -n 's/^ *Comment=//p' | sed 's/ *$//')"

# (Only the first two: the job may have ended already, the launcher being
# another issue's, and reading the run then records that end too.)
events=$(as_user aml-run show --json "$run" | jq -r '[.events[0:2][] | .status + ":" + (.job_id // 0 | tostring)] | join(" ")')
same "run history: NotStarted, then Queued with the job id" "NotStarted:0 Queued:$job" "$events"
same "run history: the target and the snapshot are properties" "cpu 64" \
	"$(as_user aml-run show --json "$run" | jq -r '.properties["aml.compute_target"] + " " + (.properties.ContentSnapshotId | length | tostring)')"
scancel "$job"

# ---- resubmitting an unchanged directory writes no new blob
before=$(blobs)
job2=$(cd "$src/hello" && as_user sbatch -o /dev/null --parsable --aml-run=run.json </dev/null 2>/dev/null)
same "a resubmit of an unchanged directory writes no new blob" "$before" "$(blobs)"
[ -n "$job2" ] && scancel "$job2"

# ---- bad run.json: one line each, nothing left behind
jobs0=$(jobs_of_user) runs0=$(runs_of_user)
refused() {
	local name=$1 pattern=$2 file=$3 out status
	out=$(cd "$src/bad" && as_user sbatch --aml-run="$file" </dev/null 2>&1); status=$?
	if [ $status != 0 ] && grep -qE -- "$pattern" <<<"$out"; then ok "$name"
	else not_ok "$name" "exit $status" "$out"; fi
}
refused "node_count 0 is refused with its rule" \
	'^sbatch: error: .*node-count.json: node_count: must be a whole number from 1' node-count.json
refused "an unknown key is refused with a suggestion" \
	'max_run_duration_second: unknown key .*did you mean "max_run_duration_seconds"' unknown-key.json
refused "an unknown compute target lists the known ones" \
	'compute_target: .*gpu-cluster.*(cpu.*long|long.*cpu)' target.json
refused "a missing script is refused" 'missing.py' missing-script.json
refused "more nodes than the target allows is refused" 'node_count: .*at most 2' too-many-nodes.json
same "refused runs leave no job and no run" "$jobs0 $runs0" "$(jobs_of_user) $(runs_of_user)"

# ---- forged past sbatch: the controller judges by the same rules
canonical=$(cd "$src/hello" && as_user aml-run validate --canonical run.json)
forged=$(jq -c '.node_count = 64 | .distributed_job_config.process_count = 64' <<<"$canonical")
out=$(cd "$src/hello" && as_user forge-submit "AML_CONFIG=$forged" \
	"AML_RUN_ID=$(new_run_id submit-test)" "AML_SNAPSHOT_ID=$(printf '0%.0s' {1..64})" \
	AML_LAUNCHER=1 2>&1); status=$?
if [ $status = 1 ] && grep -q 'node_count: .*at most 2' <<<"$out" && grep -q '^refused' <<<"$out"; then
	ok "a forged configuration over a limit is refused by the controller"
else not_ok "a forged configuration over a limit is refused by the controller" "$out"; fi

# ---- another user's run id (issue 12, point 8): the controller remembers
# which user each run id was accepted for.  $run's job was accepted for
# the test user (and cancelled since); the hostile user claims it.
out=$(cd / && as_evil forge-submit "AML_CONFIG=$canonical" "AML_RUN_ID=$run" \
	"AML_SNAPSHOT_ID=$(printf '0%.0s' {1..64})" AML_LAUNCHER=1 2>&1); status=$?
if [ $status = 1 ] && grep -q "run $run belongs to another user" <<<"$out"; then
	ok "a job claiming another user's run id is refused"
else not_ok "a job claiming another user's run id is refused" "exit $status" "$out"; fi
out=$(cd / && as_user forge-submit "AML_CONFIG=$canonical" "AML_RUN_ID=$run" \
	"AML_SNAPSHOT_ID=$(printf '0%.0s' {1..64})" AML_LAUNCHER=1 2>&1); status=$?
forged_job=$(sed -n 's/^submitted \([0-9]*\)$/\1/p' <<<"$out")
if [ $status = 0 ] && [ -n "$forged_job" ]; then
	ok "the run's own user may submit its run id again"
else not_ok "the run's own user may submit its run id again" "exit $status" "$out"; fi
[ -n "$forged_job" ] && scancel "$forged_job"

# ---- a run's history names its job, and its owner writes that history:
# an administrator cancelling the hostile user's run must not cancel the
# test user's job the run names.
victim_job=$(as_user sbatch --parsable -o /dev/null --begin=now+1hour --wrap true 2>/dev/null)
evil_run=$(new_run_id forged)
as_evil history-fixture create forged "$evil_run" "$(now_ms)" cpu >/dev/null
as_evil history-fixture event forged "$evil_run" Queued "$(now_ms)" sbatch "job=$victim_job" >/dev/null
out=$(PATH=$bin:$PATH aml-run cancel "$evil_run" 2>&1); status=$?
if [ $status != 0 ] && grep -q "Slurm job $victim_job belongs to uid $(id -u "$user"), not to the run's owner" <<<"$out"; then
	ok "cancelling a run that names another user's job refuses to scancel it"
else not_ok "cancelling a run that names another user's job refuses to scancel it" "exit $status" "$out"; fi
same "the other user's job is still pending" PENDING "$(job_state "$victim_job")"
[ -n "$victim_job" ] && scancel "$victim_job"

# ---- --export=NONE and #SBATCH --aml-run
job3=$(cd "$src/hello" && as_user sbatch -o /dev/null --parsable --export=NONE --aml-run=run.json print-env.sh 2>/dev/null)
wait_until 60 job_ended "$job3"
same "--export=NONE: the run's variables still reach the job" "AML_SNAPSHOT_ID AZUREML_RUN_ID" \
	"$(grep -oE '^(AZUREML_RUN_ID|AML_SNAPSHOT_ID)=' "$src/env-$job3" 2>/dev/null | tr -d = | sort | xargs)"
job4=$(cd "$src/hello" && as_user sbatch -o /dev/null --parsable sbatch-line.sh 2>/dev/null)
same "#SBATCH --aml-run= in the script makes it a run" "submit-test" \
	"$(scontrol show job -o "$job4" | sed -n 's/.* JobName=\(submit-test\)_.*/\1/p')"
[ -n "$job4" ] && scancel "$job4"

# ---- scontrol update cannot take a run past its target
job5=$(cd "$src/hello" && as_user sbatch -o /dev/null --parsable --hold --aml-run=run.json </dev/null 2>/dev/null)
out=$(as_user scontrol update jobid="$job5" NumNodes=3 2>&1); status=$?
same "an update past the target's MaxNodes is refused" \
	"1 2" "$status $(nodes_of "$job5")"
grep -q "Node count specification invalid" <<<"$out" || echo "# scontrol said: $out"
as_user scontrol update jobid="$job5" TimeLimit=5 >/dev/null 2>&1
same "an update within the target is accepted" 00:05:00 "$(field "$(scontrol show job -o "$job5")" TimeLimit)"
[ -n "$job5" ] && scancel "$job5"

# ---- how sbatch learns its job: cli_filter/aml names it, the user cannot
# sdiag counts the controller's RPCs by type: asking for every job of a
# user is REQUEST_JOB_USER_INFO, for one job REQUEST_JOB_INFO_SINGLE.
rpcs() { sdiag | awk -v t="$1" '$1 == t { sub(/.*count:/, ""); print $1 + 0; f = 1 } END { if (!f) print 0 }'; }
queued_job() { as_user aml-run show --json "$1" | jq -r '[.events[] | select(.status == "Queued") | .job_id] | first // 0'; }
if grep -q '^CliFilterPlugins=aml' "$SLURM_CONF"; then
	listed=$(rpcs REQUEST_JOB_USER_INFO) single=$(rpcs REQUEST_JOB_INFO_SINGLE)
	out=$(cd "$src/hello" && as_user sbatch -o /dev/null --hold --aml-run=run.json </dev/null 2>&1)
	job6=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' <<<"$out")
	run6=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
	same "with cli_filter/aml, Queued names the job sbatch submitted" "$job6" "$(queued_job "$run6")"
	same "with cli_filter/aml, sbatch asks for its one job, not all of its user's" \
		"$listed more" "$(rpcs REQUEST_JOB_USER_INFO) $( [ "$(rpcs REQUEST_JOB_INFO_SINGLE)" -gt "$single" ] && echo more || echo same)"
	[ -n "$job6" ] && scancel "$job6"
	# The hostile user's pending job: a user who names it as "the job sbatch
	# submitted" must not get it recorded as their run's.
	evil_job=$(as_evil sbatch --parsable -o /dev/null --hold --wrap true 2>/dev/null)
	out=$(cd "$src/hello" && as_user env AML_SUBMITTED_JOB_ID="$evil_job" sbatch -o /dev/null --hold --aml-run=run.json </dev/null 2>&1)
	job7=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' <<<"$out")
	run7=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
	same "an AML_SUBMITTED_JOB_ID the user sets is not taken: Queued names sbatch's own job" \
		"$job7" "$(queued_job "$run7")"
	same "... and the other user's job is left as it was" "PENDING wrap" \
		"$(job_state "$evil_job") $(field "$(scontrol show job -o "$evil_job")" JobName)"
	[ -n "$job7" ] && scancel "$job7"
	[ -n "$evil_job" ] && scancel "$evil_job"
	# A login node whose slurm.conf lacks the line: sbatch finds the job
	# among the user's, as before.
	conf=$home/aml-submit-test/slurm-no-cli-filter.conf
	grep -v '^CliFilterPlugins=' "$SLURM_CONF" >"$conf"
	chmod 0644 "$conf"
	listed=$(rpcs REQUEST_JOB_USER_INFO)
	out=$(cd "$src/hello" && as_user env SLURM_CONF="$conf" sbatch -o /dev/null --hold --aml-run=run.json </dev/null 2>&1)
	job8=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' <<<"$out")
	run8=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
	same "without cli_filter/aml, Queued still names the job, found among the user's" \
		"$job8 listed" "$(queued_job "$run8") $( [ "$(rpcs REQUEST_JOB_USER_INFO)" -gt "$listed" ] && echo listed || echo not-listed)"
	[ -n "$job8" ] && scancel "$job8"
else
	for t in "Queued names the job sbatch submitted" "sbatch asks for its one job" \
		"a user's AML_SUBMITTED_JOB_ID is not taken" "the other user's job is left as it was" \
		"without cli_filter/aml, Queued still names the job"; do
		ok "$t # SKIP the cluster's slurm.conf loads no cli_filter/aml"
	done
fi
