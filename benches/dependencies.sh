#!/usr/bin/env bash
# The dependency layer's build time, cold and cached, with uv and with pip (see README, "Your
# project's dependencies"). For each installer: a project on the small fixture with a
# requirements.txt is brought up with no cached layer (cold), then a second profile of the same
# project (sudo: false) whose dependency layer comes from the builder's cache (cached). The
# difference cold - cached is the dependency layer itself. Prints a Markdown table; the
# results go in benches/RESULTS.md. Needs the test bed (tests/testbed/setup.sh) and PyPI.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
PTENV=${PTENV:-$HERE/target/debug/ptenv}
RUNS=${RUNS:-2}
. "$HERE/target/testbed/testbed.env"
CA=${PTENV_TEST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "benches/dependencies.sh: $1" >&2; cat "$2" >&2; exit 1; }

ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

row() {
    local installer=$1 cold=() cached=()
    for i in $(seq "$RUNS"); do
        local p="$work/$installer-$i"
        mkdir -p "$p/home"
        printf 'default: shell\nrepository: %s\ngpus: none\ndependencies: {installer: %s}\nprofiles:\n  nosudo: {mode: shell, sudo: false}\n' \
            "$PTENV_TEST_SMALL_REPO" "$installer" > "$p/ptenv.yaml"
        # A floor no release is below, different in every run: the cold build finds no layer
        # of an earlier run (or of an earlier bench) in the cache.
        printf 'einops\nrich\ntoolz\ntqdm>=0.0.%s\n' "$(date +%s%N)" > "$p/requirements.txt"
        chown -R 1000:1000 "$p" 2>/dev/null || true
        local t0 t1 t2
        t0=$(ms)
        (cd "$p" && HOME="$p/home" SSL_CERT_FILE="$CA" "$PTENV" up -v --detach --trust >/dev/null 2>"$p/cold.log") \
            || fail "the cold up failed" "$p/cold.log"
        t1=$(ms)
        (cd "$p" && HOME="$p/home" SSL_CERT_FILE="$CA" "$PTENV" up -v nosudo --detach --trust >/dev/null 2>"$p/cached.log") \
            || fail "the second up failed" "$p/cached.log"
        t2=$(ms)
        grep -q "installing the requirements with $installer" "$p/cold.log" || { echo "$installer was not used: $p/cold.log" >&2; exit 1; }
        cold+=($((t1 - t0)))
        cached+=($((t2 - t1)))
        local images
        images=$(docker ps -a --filter "label=dev.ptenv.project=$p" --format '{{.Image}}' | sort -u)
        docker rm -f $(docker ps -aq --filter "label=dev.ptenv.project=$p") >/dev/null
        docker rmi $images >/dev/null
    done
    local c k
    c=$(printf '%s\n' "${cold[@]}" | median)
    k=$(printf '%s\n' "${cached[@]}" | median)
    echo "| $installer | $c ms | $k ms | $((c - ${k%.*})) ms | $RUNS |"
}

echo "| installer | cold \`up\` (every layer built) | second profile (dependency layer cached) | dependency layer (difference) | runs |"
echo "|---|---|---|---|---|"
row uv
row pip
