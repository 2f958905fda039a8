#!/usr/bin/env bash
# Builds the fake NVML library (fake_nvml.c) as OUTDIR/libnvidia-ml.so.1, and beside it a
# static fake `nvidia-smi` on the same scenarios (fake_smi.c, for the stand-in NVIDIA hook),
# and prints the library's path as the last line (tests/testbed/setup.sh takes its directory for
# PTENV_FAKE_NVML_DIR). OUTDIR defaults to target/testbed/nvml. Rebuilds only when the source
# is newer than the library.
#
#   tests/nvml/build.sh [OUTDIR]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-"$ROOT/target/testbed/nvml"}
SO="$OUT/libnvidia-ml.so.1"

command -v gcc >/dev/null || { echo "tests/nvml/build.sh: gcc is needed (apt-get install gcc)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SO="$OUT/libnvidia-ml.so.1"
if [ ! -f "$SO" ] || [ "$HERE/fake_nvml.c" -nt "$SO" ] || [ "$0" -nt "$SO" ]; then
    # Build next to the target and rename, so that a test running at the same time never
    # loads a half-written library.
    gcc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 \
        -o "$SO.tmp.$$" "$HERE/fake_nvml.c"
    mv -f "$SO.tmp.$$" "$SO"
fi
SMI="$OUT/nvidia-smi"
if [ ! -f "$SMI" ] || [ "$HERE/fake_smi.c" -nt "$SMI" ] || [ "$HERE/fake_nvml.c" -nt "$SMI" ] ||
    [ "$0" -nt "$SMI" ]; then
    gcc -std=c11 -O2 -Wall -Wextra -Werror -static -o "$SMI.tmp.$$" "$HERE/fake_smi.c" "$HERE/fake_nvml.c"
    mv -f "$SMI.tmp.$$" "$SMI"
fi
echo "$SO"
