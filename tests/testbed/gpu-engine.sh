#!/usr/bin/env bash
# The test bed's GPU engine: a second Docker daemon of our own whose containers can be started
# with a GPU request, through a stand-in for the NVIDIA container hook (tests/gpuhook).
#
#   gpu-engine.sh start|stop|status
#
# Docker 20.10 looks up `nvidia-container-runtime-hook` on its PATH once, when the daemon starts
# (docs/gpu-testbed.md), so the machine's own engine, which has no hook, can never start a
# container with `--gpus`; it must not be restarted or reconfigured either. This script starts
# another dockerd:
#   - its own socket $SOCK, data root ($CACHE/gpu-engine/docker), exec root, pidfile and
#     config file (so /etc/docker/daemon.json is not read), and its own containerd (managed by it
#     under its exec root) and cgroup parent;
#   - in a network namespace of its own (unshare --net), with --iptables=false and
#     --ip-masq=false: its bridge is made there and cannot touch the host's docker0, iptables or
#     DNS. The host's docker0 is compared before and after the start (ifindex, address), and the
#     engine is stopped again if it changed. Its containers are not reachable from the host's
#     network; tests use it for starting containers and exec'ing in them;
#   - with tests/gpuhook/nvidia-container-runtime-hook first on its PATH, set up by
#     $STATE/gpuhook.json to hand the fake NVML ($1 of start, or PTENV_FAKE_NVML_DIR) and the
#     engine's machine ($STATE/scenario: 4 GPUs) to the GPU containers and record their requests
#     in $STATE/records/<container id>.json;
#   - with the small fixture image loaded (docker save | load, skipped when the same image ID is
#     there already).
# start is idempotent (a running engine is reused, its settings refreshed); stop ends the daemon
# (and so its containerd and containers). Prints nothing on stdout except `start`'s lines for
# testbed.env: PTENV_TEST_GPU_ENGINE (the engine's address, unix://$SOCK) and
# PTENV_TEST_GPU_ENGINE_STATE ($STATE: scenario, records/).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${PTENV_FIXTURE_CACHE:-$HOME/.cache/ptenv-fixtures}
STATE=${PTENV_GPU_ENGINE_STATE:-/run/ptenv-testbed/gpu-engine}
SOCK=${PTENV_GPU_ENGINE_SOCK:-/run/ptenv-testbed/gpu-docker.sock}
DATA="$CACHE/gpu-engine/docker"
PIDFILE="$STATE/dockerd.pid"
SMALL_IMAGE=ptenv-fixture/pytorch:2.6.0-cuda12.4-cudnn9-runtime

log() { printf '[gpu-engine %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
gdocker() { docker -H "unix://$SOCK" "$@"; }

our_pid() { # prints the pid of our dockerd if it runs
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--exec-root $STATE/exec" && echo "$pid"
}

docker0() { # the host's docker0 as "ifindex address", or "none"
    # Not its MTU: a bridge's MTU follows the ports attached to it, so it changes whenever the
    # main engine's containers come and go. A recreated bridge has a new ifindex.
    local line
    line=$(ip -o link show docker0 2>/dev/null) || { echo none; return; }
    echo "${line%%:*} $(sed -n 's|.* link/ether \([0-9a-f:]*\) .*|\1|p' <<<"$line")"
}

write_settings() { # write_settings NVML_LIB
    mkdir -p "$STATE/bin" "$STATE/records"
    install -m 0755 "$ROOT/tests/gpuhook/nvidia-container-runtime-hook" "$STATE/bin/nvidia-container-runtime-hook.tmp"
    mv -f "$STATE/bin/nvidia-container-runtime-hook.tmp" "$STATE/bin/nvidia-container-runtime-hook"
    # The machine behind this engine: four Ampere GPUs on driver 550 (CUDA 12.4).
    cat >"$STATE/scenario.tmp" <<'SCENARIO'
driver 550.54.15
cuda 12040
gpu 8.6 25769803776 GPU-0a000000-0000-4000-8000-000000000000 AMPERE NVIDIA RTX A5000
gpu 8.6 25769803776 GPU-0a000000-0000-4000-8000-000000000001 AMPERE NVIDIA RTX A5000
gpu 8.6 25769803776 GPU-0a000000-0000-4000-8000-000000000002 AMPERE NVIDIA RTX A5000
gpu 8.6 25769803776 GPU-0a000000-0000-4000-8000-000000000003 AMPERE NVIDIA RTX A5000
SCENARIO
    mv -f "$STATE/scenario.tmp" "$STATE/scenario"
    jq -n --arg lib "$1" --arg scenario "$STATE/scenario" --arg records "$STATE/records" \
        '{nvml_lib: $lib, scenario: $scenario, records: $records}' >"$STATE/gpuhook.json.tmp"
    mv -f "$STATE/gpuhook.json.tmp" "$STATE/gpuhook.json"
    jq -n --arg driver "$(docker info -f '{{.Driver}}')" \
        '{"storage-driver": $driver, "log-driver": "json-file", "mtu": 1400}' >"$STATE/daemon.json"
}

wait_answer() { # wait_answer SECONDS PID
    local i
    for i in $(seq "$1"); do
        gdocker version >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 1
    done
    return 1
}

start_daemon() {
    local before after pid
    before=$(docker0)
    mkdir -p "$DATA" "$STATE/exec" "$(dirname "$SOCK")"
    rm -f "$SOCK"
    log "starting dockerd in its own network namespace (socket $SOCK, log $STATE/dockerd.log)"
    # lo up so that the namespace's loopback works; the PATH puts the stand-in hook first; fd 9
    # (start's lock) closed, or the daemon would hold the lock for its whole life.
    setsid unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
        env PATH="$STATE/bin:$PATH" dockerd \
        --config-file "$STATE/daemon.json" --host "unix://$SOCK" --data-root "$DATA" \
        --exec-root "$STATE/exec" --pidfile "$PIDFILE" --cgroup-parent /ptenv-gpu-engine \
        --iptables=false --ip-masq=false --ip-forward=false \
        >"$STATE/dockerd.log" 2>&1 </dev/null 9>&- &
    pid=$!
    wait_answer 60 "$pid" || { tail -20 "$STATE/dockerd.log" >&2; die "dockerd did not start"; }
    after=$(docker0)
    if [ "$before" != "$after" ]; then
        stop
        die "the host's docker0 changed while our dockerd started ('$before' -> '$after'): stopped it"
    fi
    log "dockerd $(gdocker version -f '{{.Server.Version}}') answers (pid $(cat "$PIDFILE")); host docker0 unchanged ($after)"
}

load_fixture() {
    local want have
    want=$(docker image inspect -f '{{.Id}}' "$SMALL_IMAGE") || die "$SMALL_IMAGE is not in the main engine (run fixtures.sh small)"
    have=$(gdocker image inspect -f '{{.Id}}' "$SMALL_IMAGE" 2>/dev/null) || true
    [ "$want" = "$have" ] && return 0
    log "loading $SMALL_IMAGE into the GPU engine"
    docker save "$SMALL_IMAGE" | gdocker load >/dev/null
}

start() {
    local lib=${1:-${PTENV_FAKE_NVML_DIR:+$PTENV_FAKE_NVML_DIR/libnvidia-ml.so.1}}
    [ "$(id -u)" = 0 ] || die "needs root (a second dockerd)"
    [ -n "$lib" ] && [ -f "$lib" ] || die "no fake NVML library given (gpu-engine.sh start PATH/libnvidia-ml.so.1)"
    # The hook runs in runc's working directory: only an absolute path finds the library.
    lib=$(realpath "$lib")
    [ -x /usr/bin/python3 ] || die "the stand-in hook needs /usr/bin/python3"
    command -v jq >/dev/null || die "needs jq"
    mkdir -p "$STATE"
    exec 9>"$STATE.lock"
    flock 9
    write_settings "$lib"
    if our_pid >/dev/null && gdocker version >/dev/null 2>&1; then
        log "running already (pid $(our_pid)): reused"
    else
        start_daemon
    fi
    load_fixture
    echo "PTENV_TEST_GPU_ENGINE=unix://$SOCK"
    echo "PTENV_TEST_GPU_ENGINE_STATE=$STATE"
}

stop() {
    local pid i
    pid=$(our_pid) || { log "not running"; return 0; }
    log "stopping dockerd (pid $pid)"
    kill "$pid"
    for i in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }
        sleep 1
    done
    die "dockerd (pid $pid) did not stop in 30 s"
}

status() {
    local pid
    pid=$(our_pid) || { echo "gpu engine: not running"; return 1; }
    echo "gpu engine: running (pid $pid, socket $SOCK)"
}

case ${1:-} in
start) shift; start "$@" ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start [LIBNVIDIA_ML]|stop|status" >&2; exit 2 ;;
esac
