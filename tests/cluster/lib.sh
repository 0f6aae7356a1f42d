# Shared by the tests that run on the aml-cluster test cluster: TAP
# helpers, running as the test user, and waiting for a condition.
# Sourced by each test; tests/run-all's cluster stage provides the
# environment: AML_BIN (aml-run, history-fixture), SLURM_CONF, AML_CONF,
# AML_CLUSTER_USER.

set -u
bin=${AML_BIN:?set AML_BIN to a directory with aml-run and history-fixture}
user=${AML_CLUSTER_USER:?set AML_CLUSTER_USER to the test user}
# The hostile second user: another regular user of the same cluster, who
# tries everything against $user's runs (aml-cluster creates both).
evil=${AML_CLUSTER_HOSTILE:-amlevil}
: "${SLURM_CONF:?}" "${AML_CONF:?}"

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
# same NAME EXPECTED ACTUAL
same() {
	if [ "$2" = "$3" ]; then ok "$1"
	else not_ok "$1" "expected: $2" "got:      $3"; fi
}

# Wherever the tests were started from, the test user may not enter it.
cd /

# as USER COMMAND...: run as USER, in the current directory, with the
# cluster's configuration.
as() {
	local who=$1; shift
	runuser -u "$who" -- env SLURM_CONF="$SLURM_CONF" \
		AML_CONF="$AML_CONF" TZ=UTC PATH="$bin:$PATH" "$@"
}
# as_user COMMAND...: as the test user; as_evil: as the hostile one.
as_user() { as "$user" "$@"; }
as_evil() { as "$evil" "$@"; }

# The events.jsonl lines on stdin in the one order every reader folds them
# in (plugin/event.h: attempt, phase of the status, time, id): writers on
# several hosts append in whatever order they reach run history.
in_event_order() {
	jq -c -s 'def phase: {"NotStarted": 0, "Queued": 1, "Preparing": 2,
		"Running": 3, "NotResponding": 3, "CancelRequested": 4,
		"Finalizing": 5}[.status] // 6;
		sort_by(.attempt, phase, .time, .id) | .[]'
}

# wait_until SECONDS COMMAND...: poll until COMMAND succeeds; 1 on timeout.
wait_until() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# The base state Slurm has for job $1 ("" once forgotten).
job_state() {
	scontrol show job -o "$1" 2>/dev/null | sed -n 's/.* JobState=\([A-Z_]*\).*/\1/p'
}
job_ended() {
	case $(job_state "$1") in
	PENDING | RUNNING | CONFIGURING | COMPLETING | SUSPENDED | "") return 1 ;;
	*) return 0 ;;
	esac
}
job_running() { [ "$(job_state "$1")" = RUNNING ]; }

# A fresh run id in experiment $1.
new_run_id() { echo "${1}_$(date +%s)_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"; }

# fixture ARGS...: history-fixture as the test user.
fixture() { as_user history-fixture "$@" >/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Tests that run jobs to their end need the launcher: skip the whole file
# (TAP's plan of none) when the cluster runs without it.
needs_launcher() {
	if ! grep -q '^Launcher=' "$AML_CONF" 2>/dev/null; then
		echo "1..0 # SKIP the cluster runs without aml-launch"
		exit 0
	fi
}

# fresh_user_dir NAME [USER]: an empty directory NAME in USER's home (the
# test user's by default), theirs; prints its path.
fresh_user_dir() {
	local dir who=${2:-$user}
	dir=$(getent passwd "$who" | cut -d: -f6)/$1
	rm -rf "$dir"
	mkdir -p "$dir"
	chown "$who:" "$dir"
	echo "$dir"
}

# slurmctld reads aml.conf (job_submit/aml) when it starts, as a site
# restarts it after changing the catalogue or the container runtime
# (slurm-aml(8)): tests that change aml.conf restart it.
restart_ctld() {
	AML_CLUSTER_DIR=$(dirname "$AML_CONF") "$(dirname "${BASH_SOURCE[0]}")/../../contrib/aml-cluster" restart-ctld >/dev/null ||
		echo "# slurmctld did not restart"
}

# ---- a run as the test user sees it (aml-run, as that user)
# Write stdin to [file] as the user.
write() { as_user tee "$1" >/dev/null; }
# sbatch --aml-run=run.json from [dir] (more sbatch options after it);
# prints the run id.
submit() {
	local dir=$1 out; shift
	out=$(cd "$dir" && as_user sbatch -o /dev/null "$@" --aml-run=run.json </dev/null 2>&1)
	sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out"
}
# sbatch's whole answer, for refusals.
submit_out() { (cd "$1" && as_user sbatch -o /dev/null --aml-run=run.json </dev/null 2>&1); }
show() { as_user aml-run show --json "$1" 2>/dev/null; }
status_of() { show "$1" | jq -r .status; }
ended() { case $(status_of "$1") in Completed | Failed | Canceled) return 0 ;; *) return 1 ;; esac; }
statuses() { show "$1" | jq -r '[.events[].status] | join(" ")'; }
# The reason of the run's last event of status [2].
reason_of() { show "$1" | jq -r --arg s "$2" '[.events[] | select(.status == $s) | .reason // ""] | last'; }
log_of() { as_user aml-run logs "$1" 2>&1; }
