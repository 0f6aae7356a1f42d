#!/bin/bash
# Data on Slurm (issue 19), as the test user: a v2 job reads a file of a
# datastore aml.conf maps and a data asset by @latest, and writes an
# output that the launcher copies to a mapped datastore at Finalizing,
# owned by the user.  The hostile user reads nothing of the victim's
# through a datastore (the filesystem's permissions still decide, at
# submit), and a link planted in a shared datastore sends none of the
# victim's output elsewhere.  An unmapped datastore, and an https input on
# a site that allows no downloads (downloads.t: one that does), are
# refused at submit, naming what is wrong.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher
work=$(mktemp -d /var/tmp/aml-data-t.XXXXXX)
chmod 755 "$work"
cp "$AML_CONF" "$work/aml.conf.saved"
src=$(fresh_user_dir aml-data-test)
evil_src=$(fresh_user_dir aml-data-test "$evil")
finish() {
	cp "$work/aml.conf.saved" "$AML_CONF"
	restart_ctld
	rm -rf "$work" "$src" "$evil_src"
}
trap finish EXIT

# ---- the site: a read-only datastore with the user's private corner, a
# shared writable one (as /scratch is), an asset
mkdir -p "$work/blob/data" "$work/blob/private" "$work/store" "$work/evil-target"
printf 'sepal,petal\n1,2\n3,4\n5,6\n' >"$work/blob/data/iris.csv"
printf 'secret\n' >"$work/blob/private/secret.csv"
chown -R "$user:" "$work/blob/private"
chmod 700 "$work/blob/private"
chmod 1777 "$work/store"
chown "$evil:" "$work/evil-target"
chmod -R a+rX "$work/blob/data"
cat >>"$AML_CONF" <<EOF
Datastore=workspaceblobstore Path=$work/blob Default=yes
Datastore=scratchstore Path=$work/store
DataAsset=iris:1 Path=$work/blob/data/iris.csv Type=uri_file
DataAsset=iris:2 Path=$work/blob/data Type=uri_folder
EOF
restart_ctld

write() { as_user tee "$1" >/dev/null; }
status_of() { as_user aml-run show --json "$1" 2>/dev/null | jq -r .status; }
ended() { case $(status_of "$1") in Completed | Failed | Canceled) return 0 ;; *) return 1 ;; esac; }
submit_out() { (cd "$1" && as "$2" sbatch -o /dev/null --aml-run="$3" </dev/null 2>&1); }
run_of() { sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$1"; }

echo "1..9"

# ---- 1. read a datastore file and an asset, write to a datastore
write "$src/count.py" <<'EOF'
import os, sys
table, folder, out = sys.argv[1:4]
rows = sum(1 for _ in open(table)) - 1
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "rows.txt"), "w") as f:
    f.write("%d %s\n" % (rows, sorted(os.listdir(folder))))
print("rows", rows, table, flush=True)
EOF
write "$src/job.yml" <<'EOF'
type: command
experiment_name: data
code: .
command: >-
  python3 count.py ${{inputs.flowers}} ${{inputs.asset}} ${{outputs.counts}}
inputs:
  flowers:
    type: uri_file
    path: azureml://datastores/workspaceblobstore/paths/data/iris.csv
    mode: ro_mount
  asset:
    type: uri_folder
    path: azureml:iris@latest
outputs:
  counts:
    type: uri_folder
    path: azureml://datastores/scratchstore/paths/results/run1
    mode: rw_mount
compute: azureml:cpu
EOF
out=$(submit_out "$src" "$user" job.yml)
run=$(run_of "$out")
wait_until 180 ended "$run" || echo "# the data run did not end: $out"
same "a v2 job reading a mapped datastore file and asset completes" Completed "$(status_of "$run")"
same "... the script got the datastore file's path" "rows 3 $work/blob/data/iris.csv" \
	"$(as_user aml-run logs "$run" 2>&1 | head -n 1)"
same "... its output was copied to the mapped datastore path" "3 ['iris.csv']" \
	"$(cat "$work/store/results/run1/rows.txt" 2>/dev/null)"
same "... as the run's user" "$user" "$(stat -c %U "$work/store/results/run1/rows.txt" 2>/dev/null)"

# ---- 2. the hostile user reads nothing of the victim's through a datastore
as_evil tee "$evil_src/steal.yml" >/dev/null <<'EOF'
type: command
code: .
command: cat ${{inputs.loot}}
inputs:
  loot:
    type: uri_file
    path: azureml://datastores/workspaceblobstore/paths/private/secret.csv
compute: azureml:cpu
EOF
out=$(submit_out "$evil_src" "$evil" steal.yml)
case $out in
*"inputs.loot.path: $work/blob/private/secret.csv: Permission denied"*)
	ok "another user's private file in a datastore is refused at submit" ;;
*) not_ok "another user's private file in a datastore is refused at submit" "$out" ;; esac
same "... and nothing was submitted" "" "$(run_of "$out")"

# ---- 3. a link planted in a shared datastore sends nothing elsewhere
as_evil ln -s "$work/evil-target" "$work/store/planted"
sed 's|paths/results/run1|paths/planted/run2|' "$src/job.yml" | write "$src/planted.yml"
run=$(run_of "$(submit_out "$src" "$user" planted.yml)")
wait_until 180 ended "$run"
reason=$(as_user aml-run show --json "$run" 2>/dev/null | jq -r .reason)
same "a link planted in the datastore: the run fails saying its output was not copied, nothing lands there" \
	"Failed copied to their datastore 0" \
	"$(status_of "$run") $(grep -o 'copied to their datastore' <<<"$reason") $(find "$work/evil-target" -mindepth 1 | wc -l)"

# ---- 4. refusals at submit
sed 's|datastores/workspaceblobstore/|datastores/lake/|' "$src/job.yml" | write "$src/unmapped.yml"
out=$(submit_out "$src" "$user" unmapped.yml)
case $out in
*'inputs.flowers.path: datastore "lake" is not mapped on this cluster (aml.conf maps workspaceblobstore, scratchstore)'*)
	ok "an unmapped datastore is refused at submit, listing the mapped ones" ;;
*) not_ok "an unmapped datastore is refused at submit, listing the mapped ones" "$out" ;; esac
sed 's|azureml://datastores/workspaceblobstore/paths/data/iris.csv|https://127.0.0.1:9/iris.csv|' "$src/job.yml" | write "$src/https.yml"
out=$(submit_out "$src" "$user" https.yml)
case $out in
*'inputs.flowers.path: https:// inputs are not downloaded on this cluster (aml.conf has no DataDownloadHosts=)'*)
	ok "an https input is refused at submit where the site allows no downloads" ;;
*) not_ok "an https input is refused at submit where the site allows no downloads" "$out" ;; esac
