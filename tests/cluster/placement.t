#!/bin/bash
# Placement (placement.h) on the real cluster, as a regular user: a
# 2-rank PyTorch-style run on one node gets one core each (disjoint, as
# os.sched_getaffinity sees it) and OMP_NUM_THREADS=1; the run's own
# OMP_NUM_THREADS wins; the node's real topology (as hwloc's own tools see
# it) and each rank's placement are run properties, and aml-run show
# prints them as a table; the one process aml-launch runs itself gets its
# OMP_NUM_THREADS too; with Placement=none the affinity is left alone.
# There is no GPU here: GPU binding is tested on topology files only
# (tests/unit/test_placement.c).
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher
for c in hwloc-calc lstopo-no-graphics; do
	if ! command -v "$c" >/dev/null; then
		echo "1..0 # SKIP $c is not installed (Debian's hwloc package)"
		exit 0
	fi
done
if [ "$(hwloc-calc -N core all)" -lt 2 ]; then
	echo "1..0 # SKIP one core: two ranks cannot have one each"
	exit 0
fi
work=$(mktemp -d /var/tmp/aml-placement-t.XXXXXX)
cp "$AML_CONF" "$work/aml.conf.saved"
src=$(fresh_user_dir aml-placement-test)
finish() {
	cp "$work/aml.conf.saved" "$AML_CONF"
	rm -rf "$work" "$src"
}
trap finish EXIT

prop() { show "$1" | jq -r --arg k "$2" '.properties[$k] // "missing"'; }
# The placement lines of every rank: "aff <rank> <cpus> omp <value>".
affinities() {
	for r in $(seq 0 $(($2 - 1))); do
		as_user aml-run logs --rank "$r" "$1" 2>&1 | grep '^aff'
	done | sort | xargs
}

echo "1..9"

as_user mkdir -p "$src/two" "$src/omp" "$src/single"
write "$src/two/aff.py" <<'PY'
import os
cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
print("aff", os.environ.get("RANK", "single"), cpus, "omp", os.environ.get("OMP_NUM_THREADS", "unset"), flush=True)
PY
write "$src/two/run.json" <<'EOF'
{"experiment_name": "placement", "script": "aff.py", "compute_target": "cpu", "node_count": 1,
 "distributed_job_config": {"type": "pytorch", "process_count": 2}, "max_run_duration_seconds": 300}
EOF
write "$src/omp/run.json" <<'EOF'
{"experiment_name": "placement", "script": "aff.py", "compute_target": "cpu", "node_count": 1,
 "distributed_job_config": {"type": "pytorch", "process_count": 2}, "max_run_duration_seconds": 300,
 "environment": {"environment_variables": {"OMP_NUM_THREADS": "7"}}}
EOF
write "$src/single/run.json" <<'EOF'
{"experiment_name": "placement", "script": "aff.py", "compute_target": "cpu", "max_run_duration_seconds": 300}
EOF
as_user cp "$src/two/aff.py" "$src/omp/aff.py"
as_user cp "$src/two/aff.py" "$src/single/aff.py"

# The first two cores' CPUs, as hwloc numbers them: rank 0 gets the first.
core0=$(hwloc-calc --physical-output --intersect pu core:0 | tr -d ' ')
core1=$(hwloc-calc --physical-output --intersect pu core:1 | tr -d ' ')
run=$(submit "$src/two")
wait_until 180 ended "$run"
same "2 ranks on one node: Completed, one core each, OMP_NUM_THREADS=1" \
	"Completed aff 0 $core0 omp 1 aff 1 $core1 omp 1" \
	"$(status_of "$run") $(affinities "$run" 2)"

# The node the run ran on, from its properties.
node=$(show "$run" | jq -r '.properties | keys[] | select(startswith("aml.node.") and endswith(".cpu"))' |
	sed 's/^aml\.node\.//; s/\.cpu$//')
model=$(lstopo-no-graphics --of xml | sed -n 's/.*name="CPUModel" value="\([^"]*\)".*/\1/p' | head -n 1)
same "the node's real CPU topology is a property" \
	"${model:-unknown model}: $(hwloc-calc -N package all) packages, $(hwloc-calc -N core all) cores, $(hwloc-calc -N pu all) threads" \
	"$(prop "$run" "aml.node.$node.cpu")"
numa=$(prop "$run" "aml.node.$node.numa")
case $numa in
"$(hwloc-calc -N numa all) node"*": 0 "*" GiB"*) ok "its NUMA nodes and their memory are a property" ;;
*) not_ok "its NUMA nodes and their memory are a property" "$numa" ;;
esac
same "each rank's placement is a property" \
	"$node local 0 cpus $core0 cores 1 gpu -|$node local 1 cpus $core1 cores 1 gpu -" \
	"$(prop "$run" aml.placement.0)|$(prop "$run" aml.placement.1)"
same "aml-run show prints the placement table" \
	"Placement
  RANK  NODE             LOCAL CORES GPU  CPUS
  0     $(printf '%-16s' "$node") 0     1     -    $core0
  1     $(printf '%-16s' "$node") 1     1     -    $core1" \
	"$(as_user aml-run show "$run" 2>&1 | sed -n '/^Placement/,/^$/p' | sed '/^$/d')"

run=$(submit "$src/omp")
wait_until 180 ended "$run"
same "the run's own OMP_NUM_THREADS wins; the cores are still one each" \
	"Completed aff 0 $core0 omp 7 aff 1 $core1 omp 7" \
	"$(status_of "$run") $(affinities "$run" 2)"

# One process, started by aml-launch itself: as many threads as the cores
# of its CPUs, and its placement recorded.
run=$(submit "$src/single")
wait_until 180 ended "$run"
line=$(log_of "$run" | grep '^aff single')
cpus=${line#aff single }
cpus=${cpus%% omp *}
same "one process: OMP_NUM_THREADS is the cores of its CPUs, and its placement is recorded" \
	"Completed omp $(hwloc-calc --physical-input -N core $(sed 's/[0-9][0-9]*/pu:&/g; s/,/ /g' <<<"$cpus")) recorded" \
	"$(status_of "$run") omp ${line##* omp } $(prop "$run" aml.placement.0 | grep -q ' local 0 cpus ' && echo recorded)"

# Placement=none: nothing touched.  The node side and the launcher read
# aml.conf for every job: no restart.
sed -i '/^Placement=/d' "$AML_CONF"
echo 'Placement=none' >>"$AML_CONF"
all=$(as_user python3 -c 'import os; print(",".join(str(c) for c in sorted(os.sched_getaffinity(0))))')
run=$(submit "$src/two")
wait_until 180 ended "$run"
same "Placement=none: each rank keeps the job's affinity, no OMP_NUM_THREADS" \
	"Completed aff 0 $all omp unset aff 1 $all omp unset" \
	"$(status_of "$run") $(affinities "$run" 2)"
same "Placement=none: recorded as such" "none: Placement=none" \
	"$(show "$run" | jq -r '.properties | to_entries[] | select(.key | test("^aml\\.placement\\.[^0-9]")) | .value')"
