#!/usr/bin/env bash
# ptenv against the docker CLI on an engine reached over ssh (README, "GPU on another machine"):
# a re-`up` of a running environment against `docker -H ssh://… start` of its container, and
# `ptenv exec -- true` against `docker -H ssh://… exec NAME true`, on the test bed's second host
# (tests/testbed/remote.sh: sshd on 127.0.0.1:2222, the laptop user ptenv-laptop). The docker
# CLI pays its own ssh connection per command (`ssh … docker system dial-stdio`); ptenv keeps its
# ControlMaster between commands (the default), and a second re-`up` row gives each command its
# own (PTENV_SSH_PERSIST=0). Runs alternate; prints medians and ratios as a Markdown table for
# benches/RESULTS.md. Needs the test bed and root (setpriv).
#
#   RUNS=15 ./benches/remote.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
PTENV=${PTENV:-$HERE/target/release/ptenv}
RUNS=${RUNS:-15}
. "$HERE/target/testbed/testbed.env"
LAPTOP=$PTENV_TEST_REMOTE_LAPTOP_USER
SERVER=$PTENV_TEST_REMOTE_HOST
work=$(mktemp -d)
project="$work/bench-remote"
mkdir -p "$project" "$work/home" "$work/tmp"
cp "$PTENV" "$work/ptenv"
printf 'default: shell\nrepository: %s\ngpus: none\n' "$PTENV_TEST_SMALL_REPO" > "$project/ptenv.yaml"
printf 'print("hello")\n' > "$project/train.py"
chown -R "$LAPTOP:$LAPTOP" "$work"
chmod 700 "$work"

as_laptop() {
    (cd "$project" && setpriv --reuid="$LAPTOP" --regid="$LAPTOP" --init-groups \
        env HOME="$work/home" TMPDIR="$work/tmp" "$@")
}
cleanup() {
    as_laptop "$work/ptenv" --host "ssh://$SERVER" down >/dev/null 2>&1 || true
    for c in "$work"/tmp/ptenv-*/*.c; do
        [ -S "$c" ] && as_laptop ssh -O exit -o "ControlPath=$c" "$SERVER" >/dev/null 2>&1
    done
    docker volume ls -q --filter "label=dev.ptenv.project=$project" | xargs -r docker volume rm >/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

ms() { date +%s%N | awk '{printf "%.1f", $1 / 1000000}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
timed() { local t0 t1; t0=$(ms); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; t1=$(ms); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", b - a}'; }

as_laptop "$work/ptenv" --host "ssh://$SERVER" trust >/dev/null
as_laptop "$work/ptenv" --host "ssh://$SERVER" up --detach >/dev/null 2>&1
name=$(docker ps --filter "label=dev.ptenv.project=$project" --format '{{.Names}}')
[ -n "$name" ] || { echo "benches/remote.sh: the environment did not start" >&2; exit 1; }

up_p=() up_o=() up_d=() ex_p=() ex_d=()
for _ in $(seq "$RUNS"); do
    up_p+=("$(timed as_laptop "$work/ptenv" --host "ssh://$SERVER" up --detach)")
    up_o+=("$(timed as_laptop env PTENV_SSH_PERSIST=0 "$work/ptenv" --host "ssh://$SERVER" up --detach)")
    up_d+=("$(timed as_laptop docker -H "ssh://$SERVER" start "$name")")
    ex_p+=("$(timed as_laptop "$work/ptenv" --host "ssh://$SERVER" exec -- true)")
    ex_d+=("$(timed as_laptop docker -H "ssh://$SERVER" exec "$name" true)")
done
row() {
    local p d
    p=$(printf '%s\n' "${!2}" | median)
    d=$(printf '%s\n' "${!3}" | median)
    echo "| $1 | $p ms | $d ms | $(awk -v a="$p" -v b="$d" 'BEGIN {printf "%.2f", a / b}') | $RUNS |"
}
echo "| over ssh | ptenv | docker CLI | ratio | runs |"
echo "|---|---|---|---|---|"
row 're-`up` of a running env vs `docker -H ssh://… start`' 'up_p[@]' 'up_d[@]'
row 're-`up`, a connection per command (`PTENV_SSH_PERSIST=0`), vs the same' 'up_o[@]' 'up_d[@]'
row '`exec -- true` vs `docker -H ssh://… exec NAME true`' 'ex_p[@]' 'ex_d[@]'
