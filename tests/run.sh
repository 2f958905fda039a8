#!/usr/bin/env bash
# ptenv's test command (README, .ci/run).
#
#   tests/run.sh           the full suite: test bed up (tests/testbed/setup.sh), cargo fmt --check,
#                          cargo clippy -D warnings, cargo test against the real engine and registry,
#                          registry down (if this run started it), and no container left behind
#   tests/run.sh --fast    unit tests only (cargo test --workspace --lib --bins): no engine needed
#
# Exits non-zero if any phase failed; prints the time of each phase at the end.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PHASES=()
FAILED=()
phase() { # phase NAME CMD...: run CMD, record its time and result
    local name=$1 start=$SECONDS rc
    shift
    printf '\n==> %s: %s\n' "$name" "$*"
    "$@"
    rc=$?
    PHASES+=("$(printf '%-12s %5d s  %s' "$name" $((SECONDS - start)) "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")")")
    [ $rc = 0 ] || FAILED+=("$name")
    return $rc
}

summary() {
    printf '\n==> timings\n'
    printf '  %s\n' "${PHASES[@]}"
    if [ ${#FAILED[@]} -gt 0 ]; then
        printf 'FAILED: %s\n' "${FAILED[*]}"
        return 1
    fi
    echo "all phases passed"
}

unit_tests() {
    local targets=(--bins)
    [ -f src/lib.rs ] && targets=(--lib --bins)
    cargo test --workspace "${targets[@]}"
}

# Containers that this run left behind. Tests make their projects under $RUN_TMP, and ptenv
# labels a project's containers dev.ptenv.project=<project path>: a container labelled with a
# path under $RUN_TMP is ours. A container with that label elsewhere, or named ptenv-*, made
# since the run began is suspect: on CI (nothing else runs there) it counts as ours; on a
# developer's machine it may belong to someone else, so it is only reported.
# Ours are removed (unless PTENV_KEEP_LEFTOVERS=1) so that the next run starts clean.
no_leftovers() {
    local id name label created ours=() suspects=()
    while IFS=$'\t' read -r id name label; do
        case $label in
        "$RUN_TMP"/*) ours+=("$id") ; continue ;;
        esac
        [ -n "$label" ] || [[ $name == ptenv-* ]] || continue
        created=$(docker inspect -f '{{.Created}}' "$id" 2>/dev/null) || continue
        [ "$(date -d "$created" +%s)" -ge "$RUN_START" ] || continue
        if [ "${CI:-}" = true ]; then ours+=("$id"); else suspects+=("$id"); fi
    done < <(docker ps -a --no-trunc --format '{{.ID}}	{{.Names}}	{{.Label "dev.ptenv.project"}}')
    local show='  {{.ID}} {{.Names}} {{.Image}} {{.Status}} {{.Labels}}'
    if [ ${#suspects[@]} -gt 0 ]; then
        echo "warning: containers made during this run, maybe by someone else (not removed):"
        for id in "${suspects[@]}"; do docker ps -a --no-trunc --filter "id=$id" --format "$show"; done
    fi
    if [ ${#ours[@]} = 0 ]; then
        echo "no container left behind"
        return 0
    fi
    echo "containers left behind:"
    for id in "${ours[@]}"; do docker ps -a --no-trunc --filter "id=$id" --format "$show"; done
    [ "${PTENV_KEEP_LEFTOVERS:-0}" = 1 ] || docker rm -f -v "${ours[@]}" >/dev/null
    return 1
}

if [ "${1:-}" = --fast ]; then
    phase unit unit_tests
    summary
    exit
fi
[ $# = 0 ] || { echo "usage: $0 [--fast]" >&2; exit 2; }

# The registry and the remote test host's sshd are stopped at the end if this run started them
# (on a developer's machine one that was already running may serve someone else).
registry_was_up=0
tests/testbed/registry.sh status >/dev/null 2>&1 && registry_was_up=1
remote_was_up=0
tests/testbed/remote.sh status >/dev/null 2>&1 && remote_was_up=1
gpu_engine_was_up=0
tests/testbed/gpu-engine.sh status >/dev/null 2>&1 && gpu_engine_was_up=1
RUN_START=$(date +%s)
RUN_TMP=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/ptenv-run-XXXXXX")")
# Some tests run ptenv as an unprivileged user (setpriv), who must reach their project folders.
chmod 755 "$RUN_TMP"
if phase setup tests/testbed/setup.sh; then
    phase fmt cargo fmt --all --check
    phase clippy cargo clippy --workspace --all-targets -- -D warnings
    phase test env TMPDIR="$RUN_TMP" cargo test --workspace -- --test-threads=2
    phase leftovers no_leftovers
fi
rm -rf "$RUN_TMP"
if [ $registry_was_up = 0 ]; then
    phase registry tests/testbed/registry.sh stop
else
    echo "the registry was running before this run: left running (tests/testbed/registry.sh stop)"
fi
if [ $remote_was_up = 0 ]; then
    phase remote tests/testbed/remote.sh stop
fi
if [ $gpu_engine_was_up = 0 ]; then
    phase gpu-engine tests/testbed/gpu-engine.sh stop
fi
summary
