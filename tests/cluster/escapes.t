#!/bin/bash
# What one user puts in their own run (tags, properties, output names)
# never reaches another user's or the admin's terminal raw.  The hostile
# user submits a real run whose run.json carries terminal escapes and
# tags it with more (OSC 52 writes the clipboard of whoever reads it,
# ESC [ 2 J clears their screen, CR overwrites a line, C1 controls, U+202E,
# bytes that are not UTF-8); root, who reads every run under
# RunVisibility=private, lists and shows it and gets escapes (\x1b,
# \u009b), in text and in JSON.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

if ! grep -q spank_aml "${SLURM_CONF%/*}/plugstack.conf" 2>/dev/null; then
	echo "1..0 # SKIP the cluster runs without the slurm-aml plugins"
	exit 0
fi

src=$(fresh_user_dir aml-escapes-test "$evil")
work=$(mktemp -d /tmp/aml-escapes-t.XXXXXX)
job=
finish() {
	[ -n "$job" ] && scancel "$job" 2>/dev/null
	rm -rf "$work" "$src"
}
trap finish EXIT
# as_root aml-run ARGS...: as the admin reads history.
as_root() { env SLURM_CONF="$SLURM_CONF" AML_CONF="$AML_CONF" TZ=UTC "$bin/aml-run" "$@"; }
# safe NAME FILE: FILE holds nothing a terminal acts on.
safe() {
	local why
	if why=$("$tests/../tools/terminal-safe" "$2"); then ok "$1"
	else not_ok "$1" "$why"; fi
}

echo "1..8"

echo 'print("hi")' | as_evil tee "$src/train.py" >/dev/null
as_evil tee "$src/run.json" >/dev/null <<'EOF2'
{"experiment_name": "escapes", "script": "train.py", "compute_target": "cpu",
 "tags": {"from-json": "\u001b[2J\u001b[H"},
 "properties": {"p\u009b31m": "\u202egpj.exe\r"}}
EOF2
out=$(cd "$src" && as_evil sbatch -o /dev/null --hold --aml-run=run.json </dev/null 2>&1)
run=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
job=$(as_root show --json "$run" 2>/dev/null | jq -r '[.events[] | select(.job_id) | .job_id] | last')
as_evil aml-run tag "$run" $'osc52=\e]52;c;cm0gLXJmIH4K\a' $'clear=\e[2J\e[3J' \
	$'cr=ok\rFAKE' $'c1=\xc2\x9b31m\x9b' $'bad=\xff\xfe' >"$work/tag.out" 2>&1
status=$?
same "the hostile user's run is submitted and tagged" "0 escapes" \
	"$status $(as_root show --json "$run" 2>/dev/null | jq -r .experiment)"

as_root list --experiment escapes >"$work/list" 2>&1
as_root show "$run" >"$work/show" 2>&1
as_root list --experiment escapes --json >"$work/list.json" 2>&1
as_root show --json "$run" >"$work/show.json" 2>&1
same "root lists the run" "$run Queued" "$(awk 'NR == 2 { print $1, $3 }' "$work/list")"
safe "root's aml-run list prints no control character" "$work/list"
safe "root's aml-run show prints no control character" "$work/show"
same "root's aml-run show: tags and properties as escapes" \
"  p\u009b31m: \u202egpj.exe\x0d
  from-json: \x1b[2J\x1b[H
  osc52: \x1b]52;c;cm0gLXJmIH4K\x07
  clear: \x1b[2J\x1b[3J
  cr: ok\x0dFAKE
  c1: \u009b31m\x9b
  bad: \xff\xfe" \
	"$(sed -n '/^Properties/,/^Outputs/p' "$work/show" | grep -E '^  (p\\u009b|from-json|osc52|clear|cr|c1|bad)')"
safe "root's aml-run list --json prints no control character" "$work/list.json"
safe "root's aml-run show --json prints no control character" "$work/show.json"
same "JSON keeps every value, \\u-escaped (a byte that is not UTF-8 as U+FFFD)" \
	'{"from-json":"\u001b[2J\u001b[H","osc52":"\u001b]52;c;cm0gLXJmIH4K\u0007","clear":"\u001b[2J\u001b[3J","cr":"ok\rFAKE","c1":"\u009b31m\ufffd","bad":"\ufffd\ufffd"}' \
	"$(jq -ac .tags "$work/show.json")"
