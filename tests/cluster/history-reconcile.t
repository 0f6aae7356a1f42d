#!/bin/bash
# Run history against real Slurm jobs: reconcile on read (a run whose
# events stop short of the end is given the end Slurm recorded), and
# aml-run cancel (scancel of the run's job; Canceled recorded for a job
# that never reached a node).  Runs as a regular user on aml-cluster.
# The jobs are not named after their runs, so the finalizer (which finds
# a run by its job's name) leaves them to reconcile.
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

echo "1..9"

# A run queued on a job that fails: reading it records the failure.
run=$(new_run_id recon)
job=$(as_user sbatch --parsable -J "other-$run" -o /dev/null --wrap 'exit 3')
fixture create recon "$run" "$(now_ms)" cpu
fixture event recon "$run" Queued "$(now_ms)" sbatch "job=$job"
if wait_until 60 job_ended "$job"; then ok "the failing job ended"
else not_ok "the failing job ended" "state: $(job_state "$job")"; fi
out=$(as_user aml-run show --json "$run")
same "show reconciles: Failed with the job's exit code, from reconcile" \
	"Failed 3 reconcile $job" \
	"$(jq -r '[.status, .exit_code, .events[-1].source, .events[-1].job_id] | join(" ")' <<<"$out")"
as_user aml-run show "$run" >/dev/null
same "reading it again records nothing more" 3 \
	"$(as_user aml-run show --json "$run" | jq '.events | length')"

# list reconciles too: a completed job.
run2=$(new_run_id recon)
job2=$(as_user sbatch --parsable -J "other-$run2" -o /dev/null --wrap 'true')
fixture create recon "$run2" "$(now_ms)" cpu
fixture event recon "$run2" Queued "$(now_ms)" sbatch "job=$job2"
wait_until 60 job_ended "$job2"
same "list shows Slurm's end of a run history left Queued" Completed \
	"$(as_user aml-run list --experiment recon --json | jq -r ".[] | select(.run_id == \"$run2\") | .status")"

# Cancel while pending: nothing on a node will ever report, so the cancel
# itself records Canceled.
run3=$(new_run_id cancel)
job3=$(as_user sbatch --parsable -J "other-$run3" -o /dev/null --begin=now+1hour --wrap 'true')
fixture create cancel "$run3" "$(now_ms)" cpu
fixture event cancel "$run3" Queued "$(now_ms)" sbatch "job=$job3"
out=$(as_user aml-run cancel "$run3" 2>&1)
same "cancel of a pending run: scancel, then Canceled" \
	"Cancelled Slurm job $job3 of run $run3 (Canceled)|Canceled user" \
	"$out|$(as_user aml-run show --json "$run3" | jq -r '.status + " " + .events[-1].source')"
if wait_until 30 job_ended "$job3" && [ "$(job_state "$job3")" = CANCELLED ]; then
	ok "the pending job is cancelled in Slurm"
else not_ok "the pending job is cancelled in Slurm" "state: $(job_state "$job3")"; fi

# Cancel while running: CancelRequested, and with no launcher to report
# (this job is a plain sleep), wait's reconcile records Canceled.
run4=$(new_run_id cancel)
job4=$(as_user sbatch --parsable -J "other-$run4" -o /dev/null --wrap 'sleep 300')
fixture create cancel "$run4" "$(now_ms)" cpu
fixture event cancel "$run4" Queued "$(now_ms)" sbatch "job=$job4"
wait_until 60 job_running "$job4"
fixture event cancel "$run4" Running "$(now_ms)" launcher "job=$job4" node=n1
as_user aml-run cancel "$run4" >/dev/null 2>&1
# (Reading it may already reconcile the end that scancel brought.)
same "cancel of a running run records CancelRequested" "CancelRequested user" \
	"$(as_user aml-run show --json "$run4" | jq -r '.events[] | select(.status == "CancelRequested") | .status + " " + .source')"
as_user timeout 60 aml-run wait --timeout 50 "$run4" 2>/dev/null; status=$?
same "wait ends when Slurm has cancelled the job: exit 130, Canceled" "130 Canceled" \
	"$status $(as_user aml-run show --json "$run4" | jq -r .status)"

# RunVisibility=private: another user neither lists nor reads the runs.
other=$(cd / && runuser -u nobody -- env SLURM_CONF="$SLURM_CONF" AML_CONF="$AML_CONF" \
	"$bin/aml-run" list --experiment recon --json 2>/dev/null | jq length)
err=$(cd / && runuser -u nobody -- env SLURM_CONF="$SLURM_CONF" AML_CONF="$AML_CONF" \
	"$bin/aml-run" show "$run" 2>&1 >/dev/null)
same "another user sees none of a user's private runs" "0|aml-run show: run history: run $run is private to its owner" \
	"$other|$err"
