#!/bin/bash
# Users who do not trust each other (issue 12): a second regular user
# ($evil) tries, on the real cluster, what the issue reproduced against the
# test user's ($user) runs, and none of it may work:
#   - squatting the victim's directories in HistoryDir, SnapshotDir,
#     SpoolDir and RunDir before the victim's first run (a real run then
#     still completes, with its outputs, and the squats stay empty);
#   - taking a run over: writing into, renaming or replacing the victim's
#     run, or naming a run of one's own after it;
#   - making the root finalizer write into the victim's run, by
#     rename-exchange or by a job named after the victim's run;
#   - stalling everyone's finalization with a lock held on one's own run.
# Files are read directly as root where aml-run would reconcile.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

if ! grep -q '^JobCompLoc=' "$SLURM_CONF" 2>/dev/null ||
	! grep -q spank_aml "${SLURM_CONF%/*}/plugstack.conf" 2>/dev/null; then
	echo "1..0 # SKIP the cluster runs without the slurm-aml plugins"
	exit 0
fi
needs_launcher

conf() { sed -n "s/^$1=//p" "$AML_CONF"; }
history=$(conf HistoryDir) snapshots=$(conf SnapshotDir)
spool=$(conf SpoolDir) rundir=$(conf RunDir)
uid=$(id -u "$user")
events_of() { cat "$history"/*/"$1"/"$2"/events.jsonl 2>/dev/null; }
last_status() { events_of "$1" "$2" | in_event_order | tail -n 1 | jq -r .status; }
finalized() { events_of "$1" "$2" | grep -q '"source":"finalizer"'; }
evil_fixture() { as_evil history-fixture "$@" >/dev/null; }

echo "1..17"

# ---- 1. directory squats: the victim's names taken before the first run
saved=()
for d in "$history/$user" "$snapshots/$user" "$spool/$uid" "$rundir/$user"; do
	if [ -e "$d" ]; then mv "$d" "$d-before-hostile" && saved+=("$d"); fi
done
evil_home=$(fresh_user_dir aml-hostile "$evil")
as_evil mkdir -m 0777 "$history/$user" "$snapshots/$user" "$spool/$uid"
as_evil ln -s "$evil_home" "$rundir/$user"

src=$(fresh_user_dir aml-hostile)
as_user cp "$tests/../../contrib/examples/hello/hello.py" "$src/"
printf '%s\n' '{"experiment_name": "hostile", "script": "hello.py", "compute_target": "cpu",
 "max_run_duration_seconds": 120}' | as_user tee "$src/run.json" >/dev/null
out=$(cd "$src" && as_user sbatch -o /dev/null --aml-run=run.json </dev/null 2>&1)
run=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
if [ -n "$run" ] && wait_until 120 ended "$run"; then ok "squatted directories: the victim's run is submitted and ends"
else not_ok "squatted directories: the victim's run is submitted and ends" "$out" "status: $(status_of "$run")"; fi
same "squatted directories: it completed" Completed "$(status_of "$run")"
same "squatted directories: its outputs are in run history" present \
	"$(test -s "$(echo "$history"/"$user".*/hostile/"$run"/outputs/greeting.txt)" && echo present)"
squats_used=$(find "$history/$user" "$snapshots/$user" "$spool/$uid" "$evil_home" -mindepth 1 2>/dev/null | wc -l)
same "squatted directories: nothing of the victim's went into them" 0 "$squats_used"
same "squatted directories: the run is the victim's own, in a tree of theirs" "$user $user" \
	"$(stat -c %U "$history"/"$user".*/hostile/"$run" "$history"/"$user".*/hostile 2>/dev/null | sort -u | xargs) $(stat -c %U "$history"/"$user".* | sort -u | xargs)"
rm -rf "$history/$user" "$snapshots/$user" "$spool/$uid" "$rundir/$user"
for d in "${saved[@]}"; do mv "$d-before-hostile" "$d"; done

# ---- 2. taking a run over
vrun=$(new_run_id takeover)
fixture create takeover "$vrun" "$(now_ms)" cpu
vdir=$history/$user/takeover/$vrun
if as_evil mkdir "$history/$user/takeover/forged" 2>/dev/null ||
	as_evil mv "$vdir" "$history/$user/takeover/away" 2>/dev/null ||
	as_evil touch "$vdir/events.jsonl" 2>/dev/null; then
	not_ok "the hostile user cannot write, rename or replace in the victim's tree"
else ok "the hostile user cannot write, rename or replace in the victim's tree"; fi
# A run of the hostile user's own under the victim's run id (v2 `name`).
evil_fixture create takeover "$vrun" "$(now_ms)" cpu
same "the victim's show is the victim's run" "$user" \
	"$(as_user aml-run show --json "$vrun" | jq -r .owner)"
out=$("$bin/aml-run" show "$vrun" 2>&1)
case $out in
*"used by several users"*"$user"* | *"used by several users"*"$evil"*) ok "anyone else is told the run id is ambiguous, not shown the forgery" ;;
*) not_ok "anyone else is told the run id is ambiguous, not shown the forgery" "$out" ;;
esac

# ---- 3. the root finalizer must not write into the victim's run
vrun3=$(new_run_id victim)
fixture create victim "$vrun3" "$(now_ms)" cpu
vjob=$(as_user sbatch --parsable -J "$vrun3" -o /dev/null --begin=now+1hour --wrap true)
fixture event victim "$vrun3" Queued "$(now_ms)" sbatch "job=$vjob"
erun=$(new_run_id evil)
evil_fixture create evil "$erun" "$(now_ms)" cpu
ejob=$(as_evil sbatch --parsable -J "$erun" -o /dev/null --begin=now+1hour --wrap true)
evil_fixture event evil "$erun" Queued "$(now_ms)" sbatch "job=$ejob"
swap=$(as_evil python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
r = libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD, sys.argv[2].encode(), RENAME_EXCHANGE)
print("swapped" if r == 0 else os.strerror(ctypes.get_errno()))' \
	"$history/$evil/evil/$erun" "$history/$user/victim/$vrun3" 2>&1)
same "rename-exchange of the hostile user's run with the victim's is refused" "Permission denied" "$swap"
# A job of the hostile user's named after the victim's run, and their own
# run's job, both cancelled while pending.
fjob=$(as_evil sbatch --parsable -J "$vrun3" -o /dev/null --begin=now+1hour --wrap true)
scancel "$ejob" "$fjob"
wait_until 60 finalized evil "$erun"
same "the hostile user's own run is Canceled by the finalizer" Canceled "$(last_status evil "$erun")"
wait_until 30 job_ended "$fjob"
# jobcomp runs one job at a time, in order: once a later job's end is
# recorded, the earlier ones were handled.
mark=$(new_run_id mark)
fixture create mark "$mark" "$(now_ms)" cpu
mjob=$(as_user sbatch --parsable -J "$mark" -o /dev/null --begin=now+1hour --wrap true)
fixture event mark "$mark" Queued "$(now_ms)" sbatch "job=$mjob"
scancel "$mjob"
wait_until 60 finalized mark "$mark"
same "the victim's run is untouched by the hostile user's jobs" "NotStarted Queued" \
	"$(events_of victim "$vrun3" | jq -r .status | xargs)"
same "...and written by nobody but the victim" "$user" \
	"$(stat -c %U "$history/$user/victim/$vrun3/events.jsonl")"

# ---- 4. a lock held on one's own run delays nobody else's end
lrun=$(new_run_id locked)
evil_fixture create locked "$lrun" "$(now_ms)" cpu
ljob=$(as_evil sbatch --parsable -J "$lrun" -o /dev/null --begin=now+1hour --wrap true)
evil_fixture event locked "$lrun" Queued "$(now_ms)" sbatch "job=$ljob"
ready=$evil_home/lock-held
runuser -u "$evil" -- flock -x "$history/$evil/locked/$lrun/events.jsonl" \
	sh -c "touch '$ready'; exec sleep 300" &
holder=$!
wait_until 10 test -e "$ready"
vrun4=$(new_run_id victim)
fixture create victim "$vrun4" "$(now_ms)" cpu
vjob4=$(as_user sbatch --parsable -J "$vrun4" -o /dev/null --begin=now+1hour --wrap true)
fixture event victim "$vrun4" Queued "$(now_ms)" sbatch "job=$vjob4"
scancel "$ljob"
start=$SECONDS
scancel "$vjob4"
if wait_until 20 finalized victim "$vrun4"; then
	ok "with a lock held on another user's run, the victim's end is recorded in $((SECONDS - start)) s"
else not_ok "with a lock held on another user's run, the victim's end is recorded within 20 s" \
	"$(events_of victim "$vrun4")" "$(tail -n 5 "${SLURM_CONF%/*}/log/aml-finalize.log" 2>/dev/null)"; fi
same "the victim's run is Canceled" Canceled "$(last_status victim "$vrun4")"
same "the held lock kept the hostile run's own event out, not in it" "NotStarted Queued" \
	"$(events_of locked "$lrun" | jq -r .status | xargs)"
pkill -u "$evil" -f "sleep 300" 2>/dev/null
wait "$holder" 2>/dev/null

# ---- 5. nothing of the victim's is the hostile user's to read or list
same "the hostile user lists none of the victim's private runs" 0 \
	"$(as_evil aml-run list --user "$user" --json 2>/dev/null | jq length)"
out=$(as_evil aml-run show "$vrun3" 2>&1)
case $out in
*"private to its owner"*) ok "the hostile user cannot read the victim's private run" ;;
*) not_ok "the hostile user cannot read the victim's private run" "$out" ;;
esac

scancel "$vjob" 2>/dev/null
