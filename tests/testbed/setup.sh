#!/usr/bin/env bash
# Brings up the test bed that ptenv's integration tests use, and writes target/testbed/testbed.env.
#
#   1. a Docker Engine (installs Debian's docker.io and starts dockerd if none answers and we
#      are root; fails loudly otherwise)
#   2. the tools the tests drive: ssh (openssh-client), tmux, curl, zstd, debootstrap
#   3. the local registry on 127.0.0.1:5000 (registry.sh)
#   4. the fixture images, built or reloaded from cache, and pushed (fixtures.sh)
#   5. the fake NVML library, if tests/nvml/build.sh exists (it prints the path of the .so)
#   6. the second host for remote tests: sshd on a loopback port, a server user and a laptop
#      user (remote.sh)
#   7. the GPU engine: a second dockerd of our own with a stand-in for the NVIDIA container hook,
#      so that containers with a GPU request start here (gpu-engine.sh; needs the fake NVML)
#   8. the validators of `ptenv export`: docker-compose, and kubernetes-validate (PyPI) in a venv
#      under the cache folder
#
# Idempotent: a second run does (almost) nothing. tests/run.sh calls it; so can you, before
# `cargo test`. Stop the registry afterwards with tests/testbed/registry.sh stop.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/target/testbed"
REGISTRY=${PTENV_TEST_REGISTRY:-127.0.0.1:5000}
CACHE=${PTENV_FIXTURE_CACHE:-$HOME/.cache/ptenv-fixtures}
# Pinned: each release bundles the schemas of the Kubernetes versions it knows.
KUBERNETES_VALIDATE=kubernetes-validate==1.37.0
CA_BUNDLE=${PTENV_TEST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

log() { printf '[setup %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

APT_UPDATED=0
apt_install() {
    is_root || die "need root to apt-get install $*"
    log "apt-get install $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; then
        [ $APT_UPDATED = 1 ] || { apt-get update -q >/dev/null; APT_UPDATED=1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
    fi
}

ensure_tools() {
    local missing=() cmd pkg
    for pair in ssh:openssh-client tmux:tmux curl:curl zstd:zstd debootstrap:debootstrap \
        openssl:openssl htpasswd:apache2-utils \
        flock:util-linux chroot:coreutils update-ca-certificates:ca-certificates \
        docker-compose:docker-compose jq:jq ip:iproute2 unshare:util-linux \
        socat:socat nsenter:util-linux; do
        cmd=${pair%%:*} pkg=${pair#*:}
        command -v "$cmd" >/dev/null || missing+=("$pkg")
    done
    [ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"
    [ -f "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE"
}

wait_engine() { # wait_engine SECONDS PID
    local i
    for i in $(seq "$1"); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 1
    done
    return 1
}

ensure_engine() {
    if docker info >/dev/null 2>&1; then
        log "Docker Engine $(docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}})') answers"
        return
    fi
    is_root || die "the Docker engine is not reachable (docker info fails) and we are not root to start one"
    command -v dockerd >/dev/null && command -v docker >/dev/null || apt_install docker.io
    mkdir -p "$OUT"
    log "starting dockerd in the background (log: $OUT/dockerd.log)"
    setsid dockerd >"$OUT/dockerd.log" 2>&1 </dev/null &
    local pid=$!
    if ! wait_engine 60 "$pid"; then
        # Inside a container overlay2 may be refused: retry with fuse-overlayfs.
        kill "$pid" 2>/dev/null || true
        sleep 2
        command -v fuse-overlayfs >/dev/null || apt_install fuse-overlayfs
        log "dockerd did not come up; retrying with --storage-driver fuse-overlayfs"
        setsid dockerd --storage-driver fuse-overlayfs >"$OUT/dockerd.log" 2>&1 </dev/null &
        pid=$!
        wait_engine 60 "$pid" || { tail -20 "$OUT/dockerd.log" >&2; die "dockerd did not start"; }
    fi
    echo "$pid" >"$OUT/dockerd.pid"
    log "Docker Engine $(docker version -f '{{.Server.Version}}') started (pid $pid)"
}

build_nvml() { # prints the directory holding libnvidia-ml.so.1, or nothing
    local script="$ROOT/tests/nvml/build.sh" so
    [ -f "$script" ] || { log "no tests/nvml/build.sh yet: no fake NVML"; return 0; }
    so=$(bash "$script" | tail -n1)
    [ -f "$so" ] || die "tests/nvml/build.sh printed '$so', which is not a file"
    log "fake NVML: $so"
    dirname "$so"
}

# Prints the path of the kubernetes-validate executable, installing it into a venv first.
ensure_kubernetes_validate() {
    local venv="$CACHE/kubernetes-validate" bin installed
    bin="$venv/bin/kubernetes-validate"
    installed=$("$venv/bin/pip" show "${KUBERNETES_VALIDATE%%==*}" 2>/dev/null | sed -n 's/^Version: //p') || true
    if [ "$installed" != "${KUBERNETES_VALIDATE#*==}" ]; then
        python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
        [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
        log "pip install $KUBERNETES_VALIDATE into $venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$KUBERNETES_VALIDATE" >&2
    fi
    [ -x "$bin" ] || die "kubernetes-validate is not at $bin after pip install"
    echo "$bin"
}

main() {
    local t0=$SECONDS t nvml_dir kubernetes_validate gpu_engine=
    t=$SECONDS; ensure_engine; log "engine: $((SECONDS - t)) s"
    t=$SECONDS; ensure_tools; log "tools: $((SECONDS - t)) s"
    t=$SECONDS; "$HERE/registry.sh" start; log "registry: $((SECONDS - t)) s"
    t=$SECONDS; "$HERE/fixtures.sh" small torch; log "fixtures: $((SECONDS - t)) s"
    t=$SECONDS; nvml_dir=$(build_nvml); log "nvml: $((SECONDS - t)) s"
    t=$SECONDS; "$HERE/remote.sh" start; log "remote host: $((SECONDS - t)) s"
    if [ -n "$nvml_dir" ]; then
        t=$SECONDS
        gpu_engine=$("$HERE/gpu-engine.sh" start "$nvml_dir/libnvidia-ml.so.1")
        log "gpu engine: $((SECONDS - t)) s"
    fi
    t=$SECONDS; kubernetes_validate=$(ensure_kubernetes_validate); log "kubernetes-validate: $((SECONDS - t)) s"

    mkdir -p "$OUT"
    {
        echo "# written by tests/testbed/setup.sh on $(date -u +%FT%TZ); read by tests/support/mod.rs"
        echo "PTENV_TEST_REGISTRY=$REGISTRY"
        echo "PTENV_TEST_SMALL_REPO=$REGISTRY/ptenv-fixture/pytorch"
        echo "PTENV_TEST_TORCH_REPO=$REGISTRY/pytorch/pytorch"
        echo "PTENV_TEST_TORCH_IMAGE=pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
        echo "PTENV_TEST_SMALL_IMAGE=ptenv-fixture/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
        echo "PTENV_TEST_SMALL_TAGS=$("$HERE/fixtures.sh" --list-tags small | paste -sd, -)"
        [ -z "$nvml_dir" ] || echo "PTENV_FAKE_NVML_DIR=$nvml_dir"
        echo "PTENV_TEST_CA_BUNDLE=$CA_BUNDLE"
        echo "PTENV_TEST_KUBERNETES_VALIDATE=$kubernetes_validate"
        echo "PTENV_TEST_REMOTE_HOST=gpu-server"
        echo "PTENV_TEST_REMOTE_LAPTOP_USER=ptenv-laptop"
        [ -z "$gpu_engine" ] || echo "$gpu_engine"
    } >"$OUT/testbed.env.tmp"
    mv "$OUT/testbed.env.tmp" "$OUT/testbed.env"
    log "wrote $OUT/testbed.env; test bed ready in $((SECONDS - t0)) s"
}
main "$@"; exit
