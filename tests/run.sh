#!/usr/bin/env bash
# ptenv's test command (README, .ci/run).
#
#   tests/run.sh           the full suite: test bed up (tests/testbed/setup.sh), cargo fmt --check,
#                          cargo clippy -D warnings, cargo test against the real engine and registry,
#                          registry down, and no container left behind
#   tests/run.sh --fast    unit tests only (cargo test --lib --bins): no engine needed
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
    cargo test "${targets[@]}"
}

# Containers that a test left behind: ptenv's label, or a ptenv name. Removes them (unless
# PTENV_KEEP_LEFTOVERS=1) so that the next run starts clean, and fails if there were any.
no_leftovers() {
    local ids
    ids=$({
        docker ps -aq --no-trunc --filter label=dev.ptenv.project
        docker ps -a --no-trunc --format '{{.ID}} {{.Names}}' | awk '$2 ~ /^ptenv-/ {print $1}'
    } | sort -u)
    if [ -z "$ids" ]; then
        echo "no container left behind"
        return 0
    fi
    echo "containers left behind:"
    # shellcheck disable=SC2086
    docker ps -a --no-trunc --format '  {{.ID}} {{.Names}} {{.Image}} {{.Status}} {{.Labels}}' $(printf -- '--filter id=%s ' $ids)
    if [ "${PTENV_KEEP_LEFTOVERS:-0}" != 1 ]; then
        # shellcheck disable=SC2086
        docker rm -f -v $ids >/dev/null
    fi
    return 1
}

if [ "${1:-}" = --fast ]; then
    phase unit unit_tests
    summary
    exit
fi
[ $# = 0 ] || { echo "usage: $0 [--fast]" >&2; exit 2; }

if phase setup tests/testbed/setup.sh; then
    phase fmt cargo fmt --check
    phase clippy cargo clippy --all-targets -- -D warnings
    phase test cargo test -- --test-threads=2
    phase leftovers no_leftovers
fi
phase registry tests/testbed/registry.sh stop
summary
