#!/bin/bash
# Environments end to end, as the test user: pip dependencies built once
# per content key from a wheelhouse the test builds itself (PyPI is out of
# reach), reused, built once for two runs submitted together, a bad
# package failing the run with its name and the build log in history; the
# site's catalogue with a module loaded through Debian's Lmod and a
# prebuilt prefix; an unknown name refused at submit.  The hostile user
# plants environments where the victim's runs might look (the victim's
# directory name in EnvDir, the shared area), and none is used.
tests=$(cd "$(dirname "$0")" && pwd)
. "$tests/lib.sh"

needs_launcher
if ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || [ ! -r /usr/share/lmod/lmod/init/bash ]; then
	echo "1..0 # SKIP python3-venv or lmod is not installed (contrib/install-deps installs both)"
	exit 0
fi
work=$(mktemp -d /var/tmp/aml-env-t.XXXXXX)
chmod 755 "$work"
cp "$AML_CONF" "$work/aml.conf.saved"
src=$(fresh_user_dir aml-env-test)
finish() {
	cp "$work/aml.conf.saved" "$AML_CONF"
	restart_ctld
	rm -rf "$work" "$src"
}
trap finish EXIT

# ---- the site: a wheelhouse, a prefix, a module, EnvDir
for v in 1.0 2.0; do
	mkdir -p "$work/pkg-$v/amlenvpkg"
	printf '__version__ = "%s"\n' "$v" >"$work/pkg-$v/amlenvpkg/__init__.py"
	cat >"$work/pkg-$v/setup.py" <<EOF
from setuptools import setup
setup(name="amlenvpkg", version="$v", packages=["amlenvpkg"])
EOF
	/usr/bin/python3 -m pip wheel -q --no-deps --no-build-isolation --no-index \
		-w "$work/wheels" "$work/pkg-$v" >"$work/wheel.log" 2>&1 ||
		echo "# pip wheel $v failed: $(tail -n 3 "$work/wheel.log")"
done
/usr/bin/python3 -m venv "$work/prefix" && "$work/prefix/bin/python" -m pip install -q \
	--no-index --find-links "$work/wheels" amlenvpkg==2.0 >"$work/prefix.log" 2>&1 ||
	echo "# the prefix environment did not build: $(tail -n 3 "$work/prefix.log")"
mkdir -p "$work/modules/amltest"
cat >"$work/modules/amltest/1.0.lua" <<'EOF'
setenv("AMLTEST_MODULE", "loaded 1.0")
EOF
cat >"$work/modules-init.sh" <<EOF
export MODULEPATH=$work/modules
. /usr/share/lmod/lmod/init/bash
EOF
mkdir -m 1777 "$work/envs"
chmod -R a+rX "$work"
sed -i '/^EnvDir=/d; /^PipOptions=/d; /^ModulesInit=/d; /^Environment=/d; /^DefaultInterpreter=/d' "$AML_CONF"
# Absolute, as a site sets it: root (aml-run env build) and the users find
# the same python whatever their PATHs.
cat >>"$AML_CONF" <<EOF
DefaultInterpreter=/usr/bin/python3
EnvDir=$work/envs
PipOptions="--no-index --find-links=$work/wheels"
ModulesInit=$work/modules-init.sh
Environment=site-prefix:1 Prefix=$work/prefix Env=SITE_NOTE=prefix
Environment=site-module Modules=amltest/1.0
EOF
restart_ctld

history=$(sed -n 's/^HistoryDir=//p' "$AML_CONF")
# Seconds from Preparing to Running: what preparing the environment took.
preparing_s() { show "$1" | jq -r '.seconds_in_status.Preparing // "none"'; }
# A run of [dir] whose run.json asks for the pip packages given.
pip_run() {
	local dir=$src/$1; shift
	as_user mkdir -p "$dir"
	write "$dir/show.py" <<'EOF'
import os, sys
import amlenvpkg
print("amlenvpkg", amlenvpkg.__version__, "in", sys.prefix, flush=True)
EOF
	jq -n --args '{experiment_name: "envs", script: "show.py", compute_target: "cpu",
		environment: {python: {user_managed_dependencies: false,
			conda_dependencies: {dependencies: ["pip", {pip: $ARGS.positional}]}}}}' "$@" |
		as_user tee "$dir/run.json" >/dev/null
}

echo "1..19"

# ---- pip dependencies: built, then reused
pip_run one amlenvpkg==1.0
run=$(submit "$src/one")
wait_until 240 ended "$run" || echo "# the first pip run did not end: $(statuses "$run")"
out=$(log_of "$run")
if [[ $out =~ ^amlenvpkg\ 1\.0\ in\ $work/envs/[^/]+/[0-9a-f]{64}$ ]]; then
	ok "pip: the run imports the package at the version asked, from its environment in EnvDir"
else
	not_ok "pip: the run imports the package at the version asked, from its environment in EnvDir" "$(statuses "$run"): $out"
fi
case $(reason_of "$run" Preparing) in
"environment "*"(pip, 1 package): building") ok "pip: Preparing says the environment is being built" ;;
*) not_ok "pip: Preparing says the environment is being built" "$(reason_of "$run" Preparing)" ;; esac
same "pip: the build log is in the run's logs" yes \
	"$(grep -q amlenvpkg "$history/$user/envs/$run/logs/azureml/environment_build_log.txt" 2>/dev/null && echo yes)"

again=$(submit "$src/one")
wait_until 120 ended "$again" || echo "# the second pip run did not end: $(statuses "$again")"
same "pip again: the same spec is not built again (Preparing says cached)" \
	"Completed cached" "$(status_of "$again") $(reason_of "$again" Preparing | sed 's/.*: //')"
secs=$(preparing_s "$again")
if awk -v s="$secs" 'BEGIN { exit !(s != "none" && s < 1) }'; then
	ok "pip again: Preparing to Running in under a second (${secs} s)"
else
	not_ok "pip again: Preparing to Running in under a second" "took ${secs} s"
fi

# ---- two runs together: one build
pip_run two amlenvpkg==2.0
a=$(submit "$src/two")
b=$(submit "$src/two")
wait_until 240 ended "$a"
wait_until 240 ended "$b"
same "two runs together: both run the package at 2.0" "amlenvpkg 2.0|amlenvpkg 2.0" \
	"$(log_of "$a" | cut -d' ' -f1-2)|$(log_of "$b" | cut -d' ' -f1-2)"
# The run that builds hands its log on; one that finds it built (waiting
# for the other's build, or after it) has none to hand on.
has_log() { [ -s "$history/$user/envs/$1/logs/azureml/environment_build_log.txt" ] && echo 1 || echo 0; }
same "two runs together: built once (one of the two has a build log)" 1 \
	$(($(has_log "$a") + $(has_log "$b")))

# ---- a bad package fails the run, naming it, with the log in history
pip_run bad nosuchpkg==1.0
run=$(submit "$src/bad")
wait_until 240 ended "$run"
reason=$(show "$run" | jq -r .reason)
case "$(status_of "$run")|$reason" in
"Failed|"*nosuchpkg*) ok "a bad package: the run fails, its reason names the package" ;;
*) not_ok "a bad package: the run fails, its reason names the package" "$(status_of "$run"): $reason" ;; esac
dl=$(fresh_user_dir aml-env-dl)
(cd "$dl" && as_user aml-run download "$run" logs -o "$dl" >/dev/null 2>&1)
if grep -q nosuchpkg "$dl/logs/azureml/environment_build_log.txt" 2>/dev/null; then
	ok "a bad package: pip's log is in run history"
else
	not_ok "a bad package: pip's log is in run history" "$(ls -R "$dl" 2>&1 | head)"
fi
stamp=$(stat -c %Y.%s "$work/envs"/*/*.failed 2>/dev/null)
again=$(submit "$src/bad")
wait_until 120 ended "$again"
same "a bad package again: failed from the remembered failure, not built again" \
	"Failed|$stamp" "$(status_of "$again")|$(stat -c %Y.%s "$work/envs"/*/*.failed 2>/dev/null)"

# ---- the catalogue: a module, a prefix, an unknown name
as_user mkdir -p "$src/cat"
write "$src/cat/env.py" <<'EOF'
import os, sys
print(os.environ.get("AMLTEST_MODULE"), os.environ.get("SITE_NOTE"), sys.executable, flush=True)
EOF
echo '{"experiment_name": "envs", "script": "env.py", "compute_target": "cpu", "environment": {"name": "site-module"}}' |
	write "$src/cat/run.json"
run=$(submit "$src/cat")
wait_until 120 ended "$run"
same "catalogue: Modules= loads the module with the site's Lmod" "loaded 1.0 None" \
	"$(log_of "$run" | cut -d' ' -f1-3)"
printf 'type: command\nexperiment_name: envs\ncode: .\ncommand: python env.py\ncompute: azureml:cpu\nenvironment: azureml:site-prefix@latest\n' |
	write "$src/cat/job.yml"
out=$(cd "$src/cat" && as_user sbatch -o /dev/null --aml-run=job.yml </dev/null 2>&1)
run=$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")
wait_until 120 ended "$run"
same "catalogue (v2 azureml:NAME@latest): a Prefix= environment runs its interpreter, with its Env= variables" \
	"None prefix $work/prefix/bin/python" "$(log_of "$run")"
echo '{"experiment_name": "envs", "script": "env.py", "compute_target": "cpu", "environment": {"name": "site-modul"}}' |
	write "$src/cat/run.json"
out=$(cd "$src/cat" && as_user sbatch -o /dev/null --aml-run=run.json </dev/null 2>&1)
case $out in
*"environment.name: not in this site's catalogue (did you mean site-module?"*) ok "an unknown name is refused at submit, with a suggestion" ;;
*) not_ok "an unknown name is refused at submit, with a suggestion" "$out" ;; esac
same "... and nothing was submitted" "" "$(sed -n 's/^sbatch: run \([^:]*\):.*/\1/p' <<<"$out")"

# ---- the hostile user plants environments where the victim's could be
pip_run three amlenvpkg==1.0
write "$src/three/show.py" <<'EOF'
import sys
import amlenvpkg
print("amlenvpkg", amlenvpkg.__version__, sys.prefix == sys.base_prefix, flush=True)
EOF
key=$(cd "$src/three" && as_user aml-run plan run.json 2>/dev/null | sed -n 's/^  key: *\([0-9a-f]\{64\}\).*/\1/p')
as "$evil" mkdir -p "$work/envs/shared/$key/bin" 2>/dev/null
printf '#!/bin/sh\necho pwned\n' | as "$evil" tee "$work/envs/shared/$key/bin/python" >/dev/null 2>&1
as "$evil" chmod 755 "$work/envs/shared/$key/bin/python" 2>/dev/null
as "$evil" touch "$work/envs/shared/$key.ready" 2>/dev/null
# ...and tries the victim's own build of it, which it cannot write.
for f in "$work/envs"/[0-9]*/"$key/bin/python"; do
	printf '#!/bin/sh\necho pwned\n' | as "$evil" tee "$f" >/dev/null 2>&1
done
if [ -n "$key" ] && [ -e "$work/envs/shared/$key/bin/python" ]; then
	ok "the hostile user planted an environment under the victim's key in EnvDir/shared"
else
	not_ok "the hostile user planted an environment under the victim's key in EnvDir/shared" "key '$key'"
fi
run=$(submit "$src/three")
wait_until 120 ended "$run"
same "... which the victim's run does not use: it runs its own build" \
	"Completed amlenvpkg 1.0 False" "$(status_of "$run") $(log_of "$run")"

# ---- an administrator's build ahead of time, in EnvDir/shared, which
# every user's runs use
pip_run four amlenvpkg
printf '{"dependencies": ["pip", {"pip": ["amlenvpkg"]}]}\n' >"$work/four.json"
build_as_root() { env SLURM_CONF="$SLURM_CONF" AML_CONF="$AML_CONF" "$bin/aml-run" env build "$work/four.json" 2>&1; }
# The hostile user's shared/ from above is refused, not built into...
case $(build_as_root) in
*"shared is owned by uid $(id -u "$evil"), not root: refused"*) ok "root's build refuses a shared/ someone else made first" ;;
*) not_ok "root's build refuses a shared/ someone else made first" "$(build_as_root)" ;; esac
# ...until the administrator removes it, as the message says.
rm -rf "$work/envs/shared"
built=$(build_as_root)
case $built in
*": built, in $work/envs/shared/"*) ok "root builds an environment ahead of time into EnvDir/shared" ;;
*) not_ok "root builds an environment ahead of time into EnvDir/shared" "$built" ;; esac
run=$(submit "$src/four")
wait_until 120 ended "$run"
same "... and the user's run with the same specification uses it, as built" \
	"cached|amlenvpkg 2.0 in $work/envs/shared" \
	"$(reason_of "$run" Preparing | sed 's/.*: //')|$(log_of "$run" | sed 's#/[0-9a-f]\{64\}$##')"
