#!/usr/bin/env bash
# ptenv against plain docker, side by side (issue #8). Not part of the test suite.
#
#   ./benches/run.sh [--quick]
#
# Builds the release binary, checks the test bed (./tests/testbed/setup.sh), then runs
# benches/bench.py, which alternates ptenv and docker runs and prints medians, ratios and the
# targets as a Markdown table (copy it into benches/RESULTS.md). About 2 minutes on a quiet 2-core
# machine, plus a few the first time (it builds the Jupyter image and pushes a 100 MB test image);
# --quick does fewer rounds (a smoke run, not figures to record), --only start,pull,cold,jupyter,select
# runs some rows.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
env_file=target/testbed/testbed.env
if [ ! -r "$env_file" ] || ! curl -sf -o /dev/null --max-time 3 http://127.0.0.1:5000/v2/; then
    echo "benches: the test bed is not up; run ./tests/testbed/setup.sh first" >&2
    exit 1
fi
exec python3 benches/bench.py --ptenv target/release/ptenv --testbed "$env_file" "$@"
