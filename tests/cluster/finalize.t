#!/bin/bash
# The controller-side finalizer (aml-finalize, run by slurmctld through
# jobcomp/script at every job's end, as root) records the end of runs
# whose launcher could not: cancelled while pending, a failure, a job that
# ended while history said Running; it leaves an end the launcher wrote
# alone, and writes as the run's owner.  The events file is read directly
# (as root): aml-run would reconcile, and hide whether the finalizer wrote.
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

if ! grep -q '^JobCompLoc=' "$SLURM_CONF" 2>/dev/null; then
	echo "1..0 # SKIP the cluster runs without aml-finalize"
	exit 0
fi
history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")

echo "1..8"

events_of() { cat "$history/$user/$1/$2/events.jsonl" 2>/dev/null; }
# finalized EXP RUN: the finalizer has written an event for the run
finalized() { events_of "$1" "$2" | grep -q '"source":"finalizer"'; }
last_event() { events_of "$1" "$2" | in_event_order | tail -n 1 | jq -r '[.status, .source, (.exit_code // "-" | tostring)] | join(" ")'; }

# Cancelled while pending: no node ever ran anything.
run=$(new_run_id fin)
job=$(as_user sbatch --parsable -J "$run" -o /dev/null --begin=now+1hour --wrap true)
fixture create fin "$run" "$(now_ms)" cpu
fixture event fin "$run" Queued "$(now_ms)" sbatch "job=$job"
scancel "$job"
wait_until 60 finalized fin "$run"
same "a job cancelled while pending: Canceled, by the finalizer" "Canceled finalizer 0" "$(last_event fin "$run")"
same "the finalizer wrote as the run's owner" "$user" "$(stat -c %U "$history/$user/fin/$run/events.jsonl")"

# A job that failed with no launcher to say so.
run2=$(new_run_id fin)
fixture create fin "$run2" "$(now_ms)" cpu
job2=$(as_user sbatch --parsable -J "$run2" -o /dev/null --wrap 'exit 3')
fixture event fin "$run2" Queued "$(now_ms)" sbatch "job=$job2"
wait_until 60 finalized fin "$run2"
same "a failed job: Failed with its exit code" "Failed finalizer 3" "$(last_event fin "$run2")"

# History said Running, the job ended: the finalizer is the authority.
run3=$(new_run_id fin)
fixture create fin "$run3" "$(now_ms)" cpu
job3=$(as_user sbatch --parsable -J "$run3" -o /dev/null --wrap 'sleep 2')
fixture event fin "$run3" Queued "$(now_ms)" sbatch "job=$job3"
wait_until 60 job_running "$job3"
fixture event fin "$run3" Running "$(now_ms)" launcher "job=$job3" node=n1
wait_until 60 finalized fin "$run3"
same "a job that ended while history said Running: Completed" "Completed finalizer 0" "$(last_event fin "$run3")"

# The launcher recorded the end: it stands.  jobcomp/script runs one job
# at a time, in order, so once the next job is finalized, this one was.
run4=$(new_run_id fin)
fixture create fin "$run4" "$(now_ms)" cpu
job4=$(as_user sbatch --parsable -J "$run4" -o /dev/null --wrap 'sleep 1; exit 1')
fixture event fin "$run4" Queued "$(now_ms)" sbatch "job=$job4"
wait_until 60 job_running "$job4"
fixture event fin "$run4" Running "$(now_ms)" launcher "job=$job4" node=n1
fixture event fin "$run4" Completed "$(now_ms)" launcher "job=$job4" exit=0
wait_until 60 job_ended "$job4"
run5=$(new_run_id fin)
fixture create fin "$run5" "$(now_ms)" cpu
job5=$(as_user sbatch --parsable -J "$run5" -o /dev/null --wrap true)
fixture event fin "$run5" Queued "$(now_ms)" sbatch "job=$job5"
wait_until 60 finalized fin "$run5"
same "an end the launcher recorded stands; nothing is added" "4 Completed launcher 0" \
	"$(events_of fin "$run4" | wc -l) $(last_event fin "$run4")"
same "no refused events either" "" "$(cat "$history/$user/fin/$run4/refused.jsonl" 2>/dev/null)"

# A job of another user named after a run cannot end it.
run6=$(new_run_id fin)
fixture create fin "$run6" "$(now_ms)" cpu
job6=$(sbatch --parsable -J "$run6" -o /dev/null --wrap true)
wait_until 60 job_ended "$job6"
run7=$(new_run_id fin)
fixture create fin "$run7" "$(now_ms)" cpu
job7=$(as_user sbatch --parsable -J "$run7" -o /dev/null --wrap true)
fixture event fin "$run7" Queued "$(now_ms)" sbatch "job=$job7"
wait_until 60 finalized fin "$run7"
same "a job of another user named after a run leaves it alone" "1 NotStarted sbatch -" \
	"$(events_of fin "$run6" | wc -l) $(last_event fin "$run6")"

# A job named like a run that does not exist is left alone.
job8=$(as_user sbatch --parsable -J "fin_1_00000000" -o /dev/null --wrap true)
wait_until 60 job_ended "$job8"
same "a job that is not a run leaves no trace" "" "$(ls "$history/$user/fin" | grep -c '^fin_1_00000000$' | grep -v '^0$')"
