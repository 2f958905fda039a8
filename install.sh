#!/usr/bin/env bash
# Install ptenv from this checkout with cargo.
#
#   ./install.sh            build and install `ptenv` into cargo's bin dir (~/.cargo/bin)
#   PTENV_INSTALL_ROOT=DIR ./install.sh    install into DIR/bin instead
#
# Idempotent: running it again rebuilds and replaces the binary. As root on Debian/Ubuntu it
# installs missing build prerequisites (gcc, pkg-config) and, when there is no Docker Engine,
# Debian's docker.io, and starts the daemon. It never installs Rust itself: use rustup.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
    have apt-get || die "missing $* and there is no apt-get here: install them with your package manager and run ./install.sh again"
    is_root || die "missing $*: run \`sudo apt-get install -y $*\` (or this script as root) and run ./install.sh again"
    say "installing $* with apt"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; } \
        || die "apt-get could not install $*"
}

have cargo || die "cargo is not installed: install Rust with rustup (https://rustup.rs), open a new shell, and run ./install.sh again"

missing=()
have cc || missing+=(gcc)
have pkg-config || missing+=(pkg-config)
[ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"

root_args=()
[ -n "${PTENV_INSTALL_ROOT:-}" ] && root_args=(--root "$PTENV_INSTALL_ROOT")
say "building ptenv (release) and installing it"
cargo install --quiet --locked --force --path . "${root_args[@]}" || die "cargo install failed (see above)"

bin_dir="${PTENV_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
say "installed $bin_dir/ptenv ($("$bin_dir/ptenv" --version))"
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) say "note: $bin_dir is not on your PATH; add it: export PATH=\"$bin_dir:\$PATH\"" ;;
esac

# ptenv needs a Docker Engine. Install Debian's when there is none and we may.
if ! have docker || ! docker info >/dev/null 2>&1; then
    if ! have dockerd; then
        if is_root && have apt-get; then
            apt_install docker.io
        else
            say "note: no Docker Engine found; install it (e.g. \`sudo apt-get install docker.io\`) before \`ptenv up\`"
            exit 0
        fi
    fi
    if ! docker info >/dev/null 2>&1; then
        if is_root; then
            say "starting the Docker daemon"
            if have systemctl && systemctl start docker 2>/dev/null; then :; else
                nohup dockerd >/var/log/dockerd.log 2>&1 &
            fi
            for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
            docker info >/dev/null 2>&1 || die "the Docker daemon did not start; see /var/log/dockerd.log"
        else
            say "note: the Docker daemon is not reachable; start it (\`sudo systemctl start docker\`) and make sure you are in the docker group"
        fi
    fi
fi
say "done: try \`ptenv --help\`, then \`ptenv up jupyter\` in a project folder"
