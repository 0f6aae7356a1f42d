#!/bin/bash
# One user cannot stall every user's finalization (issue 12, point 3).
# slurmctld runs aml-finalize (jobcomp/script, as root) for one job at a
# time.  A hostile user who holds flock on their own run's events.jsonl,
# or on their own spool's lock, and cancels their pending job must delay
# no other user's end by more than a few seconds: the finalizer gives up
# on the held lock, keeps the hostile run's end in root's own spool, and a
# later finalizer writes it once the user lets go.  As the real users the
# harness creates: $user is the victim, $evil the hostile one.
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

jobcomp=$(sed -n 's/^JobCompLoc=//p' "$SLURM_CONF" 2>/dev/null)
if [ -z "$jobcomp" ]; then
	echo "1..0 # SKIP the cluster runs without aml-finalize"
	exit 0
fi
history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")
spooldir=$(sed -n 's/^SpoolDir=//p' "$AML_CONF")
# The program behind the wrapper jobcomp/script runs, for --flush.
finalize=$(sed -n 's/^exec \([^ ]*aml-finalize\).*/\1/p' "$jobcomp")

echo "1..12"

# Each user's runs are in a tree of their own: <HistoryDir>/<user>/...
events_of() { cat "$history"/*/"$1"/"$2"/events.jsonl 2>/dev/null; }
last_event() { events_of "$1" "$2" | in_event_order | tail -n 1 | jq -r '[.status, .source] | join(" ")'; }
has_status() { events_of "$1" "$2" | grep -q "\"status\":\"$3\""; }
finalized() { events_of "$1" "$2" | grep -q '"source":"finalizer"'; }
evil_fixture() { as_evil history-fixture "$@" >/dev/null; }
# Entries waiting in root's spool (its directory is root's: userdir.h).
root_queue() {
	local d
	for d in "$spooldir"/0 "$spooldir"/0.*; do
		[ -d "$d/q" ] && [ "$(stat -c %u "$d")" = 0 ] && ls "$d/q"
	done 2>/dev/null | grep -c .
}
# The job's end as Slurm recorded it, in ms since the epoch.
slurm_end_ms() {
	local end
	end=$(scontrol show job -o "$1" | sed -n 's/.* EndTime=\([^ ]*\).*/\1/p')
	echo $(($(date -d "$end" +%s) * 1000))
}
event_ms() {
	events_of "$1" "$2" | grep "\"source\":\"finalizer\"" | tail -n 1 |
		jq -r '.time' | xargs -I{} date -d {} +%s%3N
}

# hold_lock FILE: as the hostile user, flock FILE until $release exists
# (or 120 s pass); the pid is $locker.
release=$(mktemp -u /tmp/aml-hostile-release.XXXXXX)
hold_lock() {
	local out
	out=$(mktemp)
	as_evil python3 -c 'import fcntl, os, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
end = time.time() + 120
while time.time() < end and not os.path.exists(sys.argv[2]):
    time.sleep(0.1)' "$1" "$release" >"$out" 2>&1 &
	locker=$!
	wait_until 10 grep -q locked "$out"
	rm -f "$out"
}
let_go() {
	touch "$release"
	wait "$locker" 2>/dev/null
	rm -f "$release"
}

# A pending job of the hostile user's run.
erun=$(new_run_id hostile)
evil_fixture create hostile "$erun" "$(now_ms)" cpu
ejob=$(as_evil sbatch --parsable -J "$erun" -o /dev/null --begin=now+1hour --wrap true)
evil_fixture event hostile "$erun" Queued "$(now_ms)" sbatch "job=$ejob"
hold_lock "$history/$evil/hostile/$erun/events.jsonl"
as_evil scancel "$ejob"
wait_until 30 job_ended "$ejob"

# The victim's short job ends right after.
vrun=$(new_run_id victim)
fixture create victim "$vrun" "$(now_ms)" cpu
vjob=$(as_user sbatch --parsable --hold -J "$vrun" -o /dev/null --wrap true)
fixture event victim "$vrun" Queued "$(now_ms)" sbatch "job=$vjob"
as_user scontrol release "$vjob"
wait_until 60 job_ended "$vjob"
if wait_until 30 finalized victim "$vrun"; then
	delay=$(($(event_ms victim "$vrun") - $(slurm_end_ms "$vjob")))
	if [ "$delay" -le 10000 ]; then
		ok "the victim's end is recorded ${delay} ms after its job's end, while the hostile user holds the lock"
	else
		not_ok "the victim's end is recorded within 10 s of its job's end" "it took ${delay} ms"
	fi
else
	not_ok "the victim's end is recorded while the hostile user holds the lock" \
		"nothing after 30 s: $(events_of victim "$vrun" | tail -n 1)"
fi
same "the victim's run: Completed, by the finalizer" "Completed finalizer" "$(last_event victim "$vrun")"
same "the hostile run's end waits: not written while its lock is held" "Queued sbatch" \
	"$(last_event hostile "$erun")"
same "it waits in root's spool" 1 "$(root_queue)"
same "not in the hostile user's own spool" "" \
	"$(find "$spooldir" -mindepth 3 -maxdepth 3 -path '*/q/*' -user "$evil" 2>/dev/null)"

# The administrator's --flush is bounded too, and says what waits.
start=$(now_ms)
out=$("$finalize" --flush --seconds=2 2>&1)
status=$?
took=$(($(now_ms) - start))
same "--flush while the lock is held: exit 1, 1 still waiting" "1 yes" \
	"$status $(grep -q '1 still waiting' <<<"$out" && echo yes || echo "no: $out")"
if [ "$took" -le 5000 ]; then ok "--flush gave up within its 2 s (${took} ms)"
else not_ok "--flush gave up within its 2 s" "it took ${took} ms"; fi

# The hostile user lets go; a later job's end writes their Canceled.
let_go
trigger=$(sbatch --parsable -J "$(new_run_id trigger)" -o /dev/null --wrap true)
wait_until 60 job_ended "$trigger"
wait_until 30 has_status hostile "$erun" Canceled
same "after the lock is let go, a later finalizer writes the hostile run's Canceled" \
	"Canceled finalizer" "$(last_event hostile "$erun")"
same "written as the hostile run's owner" "$evil" \
	"$(stat -c %U "$history/$evil/hostile/$erun/events.jsonl")"
wait_until 10 test "$(root_queue)" = 0
same "root's spool is empty again, nothing rejected" "0 0" \
	"$(root_queue) $(find "$spooldir"/0 "$spooldir"/0.* -maxdepth 2 -path '*/rejected/*' 2>/dev/null | grep -c .)"

# A lock on the hostile user's own spool does not matter, even with
# something queued in it (which a replay would have to lock for): root
# never goes near it.
erun2=$(new_run_id hostile)
evil_fixture create hostile "$erun2" "$(now_ms)" cpu
ejob2=$(as_evil sbatch --parsable -J "$erun2" -o /dev/null --begin=now+1hour --wrap true)
evil_fixture event hostile "$erun2" Queued "$(now_ms)" sbatch "job=$ejob2"
as_evil aml-run list >/dev/null 2>&1  # makes the user's spool
espool=$(find "$spooldir" -mindepth 1 -maxdepth 1 -user "$evil" -type d | head -n 1)
as_evil mkdir -p "$espool/q/00000000000000000001-abcdef"
echo '{"op":"nothing"}' | as_evil tee "$espool/q/00000000000000000001-abcdef/record" >/dev/null
as_evil touch "$espool/lock"
hold_lock "$espool/lock"
as_evil scancel "$ejob2"
wait_until 60 job_ended "$ejob2"
if wait_until 15 has_status hostile "$erun2" Canceled; then
	ok "a hostile user's lock on their own spool does not hold up their end's record"
else
	not_ok "a hostile user's lock on their own spool does not hold up their end's record" \
		"$(last_event hostile "$erun2")"
fi
let_go
same "and nothing of it went to root's spool" 0 "$(root_queue)"
as_evil rm -rf "$espool/q/00000000000000000001-abcdef"
