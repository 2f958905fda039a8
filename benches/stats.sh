#!/usr/bin/env bash
# What one `ptenv stats` refresh costs, beside `docker stats --no-stream` (the refresh a
# docker user already pays; there is no nvidia-smi here to compare with). ptenv's refresh
# reads NVML (the tests' fake NVML, four GPUs with one process each: this machine has no GPU),
# each process's /proc/PID/cgroup and the engine's container list. Prints the median wall time
# of each over RUNS runs and their ratio. Figures only from a quiet machine; never a test.
#
#   benches/stats.sh            (RUNS=20 by default; needs a built ptenv and a Docker engine)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
PTENV=${PTENV:-$HERE/target/debug/ptenv}
RUNS=${RUNS:-20}
LIB=$(bash "$HERE/tests/nvml/build.sh" | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
    printf 'driver 550.54.15\ncuda 12040\n'
    for i in 0 1 2 3; do
        printf 'gpu 8.0 85899345920 GPU-bench-%s AMPERE NVIDIA A100-SXM4-80GB\n' "$i"
        printf 'load %s 50 20\nprocess %s %s 1073741824\n' "$i" "$i" "$$"
    done
} > "$work/scenario"

ms() { date +%s%N | cut -c1-13; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_of() {
    for _ in $(seq "$RUNS"); do
        local t0; t0=$(ms)
        "$@" >/dev/null 2>&1 || { echo "benches/stats.sh: failed: $*" >&2; exit 1; }
        echo $(( $(ms) - t0 ))
    done | median
}

ptenv_ms=$(PTENV_NVML_LIB=$LIB PTENV_FAKE_NVML_SCENARIO=$work/scenario time_of "$PTENV" --json stats)
docker_ms=$(time_of docker stats --no-stream)
echo "| refresh | median ms ($RUNS runs) |"
echo "|---|---|"
echo "| ptenv stats --json | $ptenv_ms |"
echo "| docker stats --no-stream | $docker_ms |"
awk -v a="$ptenv_ms" -v b="$docker_ms" 'BEGIN { if (b > 0) printf "ratio ptenv/docker: %.2f\n", a / b }'
