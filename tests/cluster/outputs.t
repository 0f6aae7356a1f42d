#!/bin/bash
# ./outputs, ./logs and a command job's declared output folders exist
# before the command starts, on every node, as Azure ML's own examples
# assume (echo hello > ./outputs/helloworld.txt); what a snapshot plants
# under those names is refused, never followed; the default experiment is
# the directory the user submits from, not the code's.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher

src=$(fresh_user_dir aml-outputs-test)
history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")

write() { as_user tee "$1" >/dev/null; }
# submit DIR FILE: the run id, or "" when refused
submit() {
	local dir=$1 file=$2 out
	out=$(cd "$dir" && as_user sbatch -o /dev/null --aml-run="$file" </dev/null 2>&1)
	sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out"
}
show() { as_user aml-run show --json "$1" 2>/dev/null; }
status_of() { show "$1" | jq -r .status; }
ended() { case $(status_of "$1") in Completed | Failed | Canceled) return 0 ;; *) return 1 ;; esac; }
# failed_with RUN TEXT NAME: the run Failed, its reason holding TEXT
failed_with() {
	local reason
	reason=$(show "$1" | jq -r '[.events[] | select(.status == "Failed") | .reason] | last')
	case "$(status_of "$1") $reason" in
	"Failed "*"$2"*) ok "$3" ;;
	*) not_ok "$3" "$(status_of "$1"): $reason" ;;
	esac
}

echo "1..6"

# ---- Azure ML's hello world: a shell command writing into ./outputs
as_user mkdir -p "$src/hello"
write "$src/hello/hello.yml" <<'EOF'
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
experiment_name: outs
command: echo hello > ./outputs/helloworld.txt && ls -d logs
compute: azureml:cpu
EOF
run=$(submit "$src/hello" hello.yml)
wait_until 120 ended "$run"
same "echo hello > ./outputs/helloworld.txt: Completed, the file in run history" \
	"Completed hello" \
	"$(status_of "$run") $(cat "$history/$user/outs/$run/outputs/helloworld.txt" 2>/dev/null)"

# ---- a v2 job writing into its declared output, code in src/: the
# experiment is the submitting directory's name
as_user mkdir -p "$src/my-project/src"
write "$src/my-project/src/fit.sh" <<'EOF'
echo weights > "$1/m.txt"
echo "experiment $AZUREML_EXPERIMENT_NAME"
EOF
write "$src/my-project/job.yml" <<'EOF'
type: command
code: src
command: bash fit.sh ${{outputs.model}} && test -d ${{outputs.evals}}
outputs:
  model:
    type: uri_folder
  evals:
compute: azureml:cpu
EOF
run2=$(submit "$src/my-project" job.yml)
wait_until 120 ended "$run2"
same "\${{outputs.model}}/m.txt: Completed, the file in run history" \
	"Completed weights" \
	"$(status_of "$run2") $(cat "$history/$user/my-project/$run2/outputs/model/m.txt" 2>/dev/null)"
same "the default experiment is the submitting directory's, also in AZUREML_EXPERIMENT_NAME" \
	"my-project experiment my-project" \
	"$(show "$run2" | jq -r .experiment) $(as_user aml-run logs "$run2" 2>&1 | grep '^experiment')"

# ---- two nodes: each one's folders exist before its process starts
as_user mkdir -p "$src/two"
write "$src/two/job.yml" <<'EOF'
type: command
experiment_name: outs
command: test -d outputs/shards && test -d logs && echo "rank $RANK" > outputs/shards/r$RANK.txt
outputs:
  shards:
distribution:
  type: pytorch
  process_count_per_instance: 1
resources:
  instance_count: 2
compute: azureml:cpu
EOF
run3=$(submit "$src/two" job.yml)
wait_until 180 ended "$run3"
same "two nodes: outputs/shards made on each before its process, both files delivered" \
	"Completed rank 0 rank 1" \
	"$(status_of "$run3") $(cat "$history/$user/outs/$run3/outputs/shards/r0.txt" "$history/$user/outs/$run3/outputs/shards/r1.txt" 2>/dev/null | xargs)"

# ---- a snapshot whose outputs is a symbolic link (a relative one inside
# the tree: sbatch's snapshot keeps no other): the run fails saying so,
# and nothing is made through it
as_user mkdir -p "$src/planted/data"
as_user ln -s data "$src/planted/outputs"
write "$src/planted/run.json" <<'EOF'
{"experiment_name": "outs", "command": "echo hi > outputs/x", "compute_target": "cpu"}
EOF
run4=$(submit "$src/planted" run.json)
wait_until 120 ended "$run4"
failed_with "$run4" "outputs is a symbolic link in the run's snapshot" \
	"a snapshot's outputs -> data: Failed, naming the link"
# outputs/<name> a link one level down: the same
as_user mkdir -p "$src/planted2/outputs" "$src/planted2/data"
as_user ln -s ../data "$src/planted2/outputs/model"
write "$src/planted2/job.yml" <<'EOF'
type: command
experiment_name: outs
command: echo hi > ${{outputs.model}}/x
outputs:
  model:
compute: azureml:cpu
EOF
run5=$(submit "$src/planted2" job.yml)
wait_until 120 ended "$run5"
failed_with "$run5" "outputs/model is a symbolic link" \
	"a snapshot's outputs/model -> ../data: Failed, naming the link"
