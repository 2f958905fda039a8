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
#     there already);
#   - listening also on tcp://127.0.0.1:2376 of its namespace with --tlsverify: certificates
#     made here by openssl ($STATE/tls: a CA, the engine's certificate, a client's in
#     $STATE/tls/client as DOCKER_CERT_PATH wants them, and an unrelated CA for the wrong-CA
#     test), and a relay (socat, each connection entering the namespace with nsenter) from
#     $TLS_ADDR:$TLS_PORT of the host's network: the address of the host's docker0 (an address
#     of this machine that is not loopback, so that ptenv treats the engine as another
#     machine's), else 127.0.0.1. The relay passes bytes; TLS is the engine's own;
#   - a second TLS address, $TLS_ADDR:$HOST_TLS_PORT, for the machine's OWN engine as a server
#     without the NVIDIA runtime would be reached: socat ends TLS there with the same server
#     certificate and requires a client certificate of the same CA (verify=1), then passes the
#     bytes to /var/run/docker.sock. The engine itself is not touched; only a client with the
#     test bed's client certificate gets through.
# start is idempotent (a running engine is reused, its settings refreshed); stop ends the daemon
# (and so its containerd and containers). Prints nothing on stdout except `start`'s lines for
# testbed.env: PTENV_TEST_GPU_ENGINE (the engine's address, unix://$SOCK),
# PTENV_TEST_GPU_ENGINE_STATE ($STATE: scenario, records/), PTENV_TEST_GPU_ENGINE_TLS (the relay's
# tcp:// address), PTENV_TEST_GPU_ENGINE_TLS_CERTS (the client's ca.pem, cert.pem, key.pem) and
# PTENV_TEST_GPU_ENGINE_TLS_OTHER_CA (a CA that signed nothing of the engine's), and
# PTENV_TEST_HOST_ENGINE_TLS (the machine's own engine behind TLS, same client certificates).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${PTENV_FIXTURE_CACHE:-$HOME/.cache/ptenv-fixtures}
STATE=${PTENV_GPU_ENGINE_STATE:-/run/ptenv-testbed/gpu-engine}
SOCK=${PTENV_GPU_ENGINE_SOCK:-/run/ptenv-testbed/gpu-docker.sock}
DATA="$CACHE/gpu-engine/docker"
PIDFILE="$STATE/dockerd.pid"
SMALL_IMAGE=ptenv-fixture/pytorch:2.6.0-cuda12.4-cudnn9-runtime
TLS="$STATE/tls"
TLS_PORT=${PTENV_GPU_ENGINE_TLS_PORT:-23760}
TLS_INNER=127.0.0.1:2376
RELAY_PIDFILE="$STATE/tls-relay.pid"
HOST_TLS_PORT=${PTENV_HOST_ENGINE_TLS_PORT:-23761}
HOST_RELAY_PIDFILE="$STATE/host-tls-relay.pid"

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

tls_addr() { # the host address the relay listens on: docker0's IPv4, else loopback
    local a
    a=$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n1)
    echo "${a:-127.0.0.1}"
}

make_certs() { # make_certs ADDR: the CA, the engine's and a client's certificates (kept when made for ADDR)
    local addr=$1 d
    [ "$(cat "$TLS/address" 2>/dev/null)" = "$addr" ] && [ -f "$TLS/client/key.pem" ] && return 0
    command -v openssl >/dev/null || die "needs openssl"
    log "making TLS certificates for the engine (tcp://$addr:$TLS_PORT) in $TLS"
    rm -rf "$TLS"
    mkdir -p "$TLS/client" "$TLS/other-ca"
    chmod 0700 "$TLS"
    d=$(mktemp -d)
    for ca in "$TLS" "$TLS/other-ca"; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
            -subj "/CN=ptenv test bed CA $(basename "$ca")" -keyout "$ca/ca-key.pem" -out "$ca/ca.pem" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    done
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=gpu-engine \
        -keyout "$TLS/server-key.pem" -out "$d/server.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost\n' "$addr" >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" -CAcreateserial \
        -days 3650 -extfile "$d/server.ext" -out "$TLS/server-cert.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=ptenv-laptop \
        -keyout "$TLS/client/key.pem" -out "$d/client.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$d/client.ext"
    openssl x509 -req -in "$d/client.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" -CAcreateserial \
        -days 3650 -extfile "$d/client.ext" -out "$TLS/client/cert.pem" 2>/dev/null
    cp "$TLS/ca.pem" "$TLS/client/ca.pem"
    rm -rf "$d"
    echo "$addr" >"$TLS/address"
}

relay_pid() { # prints the pid of our relay if it runs
    local pid
    pid=$(cat "$RELAY_PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "TCP-LISTEN:$TLS_PORT," && echo "$pid"
}

start_relay() { # start_relay ADDR: the host's ADDR:TLS_PORT to the engine's TLS port in its namespace
    local addr=$1 pid
    command -v socat >/dev/null || die "needs socat (apt-get install socat)"
    if pid=$(relay_pid); then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "bind=$addr," && return 0
        kill "$pid"
    fi
    # Each connection enters the namespace of the engine that runs now (the pid file).
    printf '#!/bin/sh\nexec nsenter --net=/proc/"$(cat %s)"/ns/net socat STDIO TCP:%s\n' "$PIDFILE" "$TLS_INNER" >"$STATE/bin/tls-hop"
    chmod 0755 "$STATE/bin/tls-hop"
    setsid socat "TCP-LISTEN:$TLS_PORT,bind=$addr,reuseaddr,fork" "EXEC:$STATE/bin/tls-hop" \
        >"$STATE/tls-relay.log" 2>&1 </dev/null 9>&- &
    echo $! >"$RELAY_PIDFILE"
    wait_listening "$addr" "$TLS_PORT" || true # the check below says what failed
    relay_pid >/dev/null || die "the TLS relay did not start (see $STATE/tls-relay.log)"
    log "TLS relay tcp://$addr:$TLS_PORT -> the engine's $TLS_INNER (pid $(cat "$RELAY_PIDFILE"))"
}

host_relay_pid() { # prints the pid of the relay to the machine's own engine if it runs
    local pid
    pid=$(cat "$HOST_RELAY_PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "OPENSSL-LISTEN:$HOST_TLS_PORT," && echo "$pid"
}

start_host_relay() { # start_host_relay ADDR: TLS with client certificates at ADDR:HOST_TLS_PORT to this machine's own engine
    local addr=$1 pid
    if pid=$(host_relay_pid); then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "bind=$addr," && return 0
        kill "$pid"
    fi
    setsid socat "OPENSSL-LISTEN:$HOST_TLS_PORT,bind=$addr,reuseaddr,fork,cert=$TLS/server-cert.pem,key=$TLS/server-key.pem,cafile=$TLS/ca.pem,verify=1" \
        UNIX-CONNECT:/var/run/docker.sock >"$STATE/host-tls-relay.log" 2>&1 </dev/null 9>&- &
    echo $! >"$HOST_RELAY_PIDFILE"
    wait_listening "$addr" "$HOST_TLS_PORT" || true
    host_relay_pid >/dev/null || die "the TLS relay to this machine's engine did not start (see $STATE/host-tls-relay.log)"
    log "TLS relay tcp://$addr:$HOST_TLS_PORT -> this machine's own engine (pid $(cat "$HOST_RELAY_PIDFILE"))"
}

wait_listening() { # wait_listening ADDR PORT: until something accepts there, at most 4 s
    local i
    for i in $(seq 20); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
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
        --host "tcp://$TLS_INNER" --tlsverify --tlscacert "$TLS/ca.pem" \
        --tlscert "$TLS/server-cert.pem" --tlskey "$TLS/server-key.pem" \
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
    local lib=${1:-${PTENV_FAKE_NVML_DIR:+$PTENV_FAKE_NVML_DIR/libnvidia-ml.so.1}} addr
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
    addr=$(tls_addr)
    make_certs "$addr"
    if our_pid >/dev/null && gdocker version >/dev/null 2>&1 &&
        tr '\0' ' ' <"/proc/$(our_pid)/cmdline" | grep -q -- "--tlscert $TLS/server-cert.pem"; then
        log "running already (pid $(our_pid)): reused"
    else
        # An engine started before it listened on TLS (or before its certificates changed) is
        # started again with its listener.
        if our_pid >/dev/null; then stop; fi
        start_daemon
    fi
    start_relay "$addr"
    start_host_relay "$addr"
    load_fixture
    echo "PTENV_TEST_GPU_ENGINE=unix://$SOCK"
    echo "PTENV_TEST_GPU_ENGINE_STATE=$STATE"
    echo "PTENV_TEST_GPU_ENGINE_TLS=tcp://$addr:$TLS_PORT"
    echo "PTENV_TEST_GPU_ENGINE_TLS_CERTS=$TLS/client"
    echo "PTENV_TEST_GPU_ENGINE_TLS_OTHER_CA=$TLS/other-ca/ca.pem"
    echo "PTENV_TEST_HOST_ENGINE_TLS=tcp://$addr:$HOST_TLS_PORT"
}

stop() {
    local pid i
    if pid=$(relay_pid); then kill "$pid"; rm -f "$RELAY_PIDFILE"; fi
    if pid=$(host_relay_pid); then kill "$pid"; rm -f "$HOST_RELAY_PIDFILE"; fi
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
