#!/usr/bin/env bash
# The second host of the test bed: a "GPU server" reached over real OpenSSH on this machine, and
# a "laptop" user that reaches it, for ptenv's remote-host tests.
#
#   remote.sh start|stop|status
#
# start (idempotent; needs root) makes:
#   - Debian's openssh-server, our own sshd on 127.0.0.1:$PTENV_TEST_REMOTE_PORT (default 2222)
#     with its own config and host key under $CACHE/remote-host (never the machine's sshd: the
#     package's service is left disabled), key-only logins for the users below
#   - ptenv-remote: the server's user, in the docker group (may use the engine's socket), its own
#     HOME /home/ptenv-remote (0700); its sessions get the fake NVML through their environment
#     (sshd's SetEnv: PTENV_NVML_LIB and PTENV_FAKE_NVML_SCENARIO, one Ada GPU, driver 550)
#   - ptenv-nogroup: a server user NOT allowed on the socket (for that error)
#   - ptenv-laptop: the laptop user, NOT in the docker group (so ptenv run as it cannot fall
#     back on this machine's engine), HOME /home/ptenv-laptop (0700) with ~/.ssh/config naming
#     the hosts below, its key (authorized for both server users) and known_hosts pinning the
#     server's host key:
#         gpu-server            ptenv-remote@127.0.0.1:PORT
#         gpu-server-nogroup    ptenv-nogroup@127.0.0.1:PORT
#         gpu-server-unknown    the same server with an empty known_hosts (unknown host key)
#     The laptop user's project folders (0700, made by the tests) are unreadable to the server
#     users, as a laptop's files are to a server.
# Prints nothing on stdout; tests/testbed/setup.sh writes the names into testbed.env.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${PTENV_FIXTURE_CACHE:-$HOME/.cache/ptenv-fixtures}
PORT=${PTENV_TEST_REMOTE_PORT:-2222}
DIR="$CACHE/remote-host"
PIDFILE="$DIR/sshd.pid"
REMOTE_USER=ptenv-remote
NOGROUP_USER=ptenv-nogroup
LAPTOP_USER=ptenv-laptop

log() { printf '[remote %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

our_pid() { # prints the pid of our sshd if it runs
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        grep -q "$DIR/sshd_config" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

answers() { # the server's banner on the port
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && head -c 4 <&3" 2>/dev/null | grep -q SSH-
}

ensure_user() { # ensure_user NAME GROUPS...: a user with its own 0700 home
    local name=$1
    shift
    id -u "$name" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$name"
    # No password, but not locked ('!'): sshd without PAM refuses locked accounts even for keys.
    [ "$(getent shadow "$name" | cut -d: -f2)" = '*' ] || usermod -p '*' "$name"
    local g
    for g in "$@"; do
        id -nG "$name" | tr ' ' '\n' | grep -qx "$g" || usermod -aG "$g" "$name"
    done
    chmod 700 "$(getent passwd "$name" | cut -d: -f6)"
}

home_of() { getent passwd "$1" | cut -d: -f6; }

install_file() { # install_file OWNER MODE SRC DEST: copy when the content differs
    cmp -s "$3" "$4" 2>/dev/null || install -o "$1" -g "$1" -m "$2" "$3" "$4"
}

start() {
    [ "$(id -u)" = 0 ] || die "the remote test host needs root (users, sshd)"
    if ! [ -x /usr/sbin/sshd ]; then
        log "apt-get install openssh-server"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >/dev/null; }
        # The package's own service (port 22) is not ours to run.
        systemctl disable --now ssh >/dev/null 2>&1 || true
    fi
    getent group docker >/dev/null || die "no docker group: the engine's socket must belong to it"
    mkdir -p "$DIR"
    chmod 700 "$DIR"

    ensure_user "$REMOTE_USER" docker
    ensure_user "$NOGROUP_USER"
    ensure_user "$LAPTOP_USER"
    # The laptop user must not reach the engine here: remove it from docker if someone added it.
    if id -nG "$LAPTOP_USER" | tr ' ' '\n' | grep -qx docker; then gpasswd -d "$LAPTOP_USER" docker >/dev/null; fi

    # The server's fake GPU, in its own home.
    local rhome nvml_src tmp
    rhome=$(home_of "$REMOTE_USER")
    nvml_src=$(bash "$ROOT/tests/nvml/build.sh" | tail -n1)
    install -d -o "$REMOTE_USER" -g "$REMOTE_USER" -m 755 "$rhome/fake-gpu"
    install_file "$REMOTE_USER" 755 "$nvml_src" "$rhome/fake-gpu/libnvidia-ml.so.1"
    tmp=$(mktemp)
    printf '%s\n' '# the remote test host: one Ada GPU, driver 550 (CUDA 12.4)' \
        'driver 550.54.15' 'cuda 12040' \
        'gpu 8.9 25757220864 GPU-7e57a1e0-0000-4000-8000-000000000001 ADA NVIDIA GeForce RTX 4090' >"$tmp"
    install_file "$REMOTE_USER" 644 "$tmp" "$rhome/fake-gpu/scenario"
    rm -f "$tmp"

    # Keys: the server's host key and the laptop's client key, made once.
    [ -f "$DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C ptenv-test-remote-host -f "$DIR/host_ed25519"
    local lhome
    lhome=$(home_of "$LAPTOP_USER")
    install -d -o "$LAPTOP_USER" -g "$LAPTOP_USER" -m 700 "$lhome/.ssh"
    [ -f "$lhome/.ssh/id_ed25519" ] ||
        { ssh-keygen -q -t ed25519 -N '' -C ptenv-laptop -f "$lhome/.ssh/id_ed25519" &&
            chown "$LAPTOP_USER:$LAPTOP_USER" "$lhome/.ssh/id_ed25519" "$lhome/.ssh/id_ed25519.pub"; }
    local user uhome
    for user in "$REMOTE_USER" "$NOGROUP_USER"; do
        uhome=$(home_of "$user")
        install -d -o "$user" -g "$user" -m 700 "$uhome/.ssh"
        install_file "$user" 600 "$lhome/.ssh/id_ed25519.pub" "$uhome/.ssh/authorized_keys"
    done
    tmp=$(mktemp)
    echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$DIR/host_ed25519.pub")" >"$tmp"
    install_file "$LAPTOP_USER" 600 "$tmp" "$lhome/.ssh/known_hosts"
    : >"$tmp"
    install_file "$LAPTOP_USER" 600 "$tmp" "$lhome/.ssh/known_hosts_empty"
    cat >"$tmp" <<EOF
# written by ptenv's tests/testbed/remote.sh
Host gpu-server gpu-server-nogroup gpu-server-unknown
    HostName 127.0.0.1
    Port $PORT
    IdentityFile ~/.ssh/id_ed25519
    IdentitiesOnly yes
Host gpu-server gpu-server-unknown
    User $REMOTE_USER
Host gpu-server-nogroup
    User $NOGROUP_USER
Host gpu-server-unknown
    UserKnownHostsFile ~/.ssh/known_hosts_empty
EOF
    install_file "$LAPTOP_USER" 600 "$tmp" "$lhome/.ssh/config"
    rm -f "$tmp"

    cat >"$DIR/sshd_config.tmp" <<EOF
# ptenv's remote test host (tests/testbed/remote.sh); not the machine's sshd.
ListenAddress 127.0.0.1:$PORT
HostKey $DIR/host_ed25519
PidFile $PIDFILE
AllowUsers $REMOTE_USER $NOGROUP_USER
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
MaxSessions 50
MaxStartups 50:30:100
SetEnv PTENV_NVML_LIB=$rhome/fake-gpu/libnvidia-ml.so.1 PTENV_FAKE_NVML_SCENARIO=$rhome/fake-gpu/scenario
Subsystem sftp internal-sftp
EOF
    if ! cmp -s "$DIR/sshd_config.tmp" "$DIR/sshd_config" 2>/dev/null; then
        mv "$DIR/sshd_config.tmp" "$DIR/sshd_config"
        stop_quiet
    else
        rm -f "$DIR/sshd_config.tmp"
    fi
    if our_pid >/dev/null && answers; then
        log "sshd already running on 127.0.0.1:$PORT (pid $(our_pid))"
    else
        start_sshd
    fi
    # The whole chain once, as the tests will use it.
    setpriv --reuid="$LAPTOP_USER" --regid="$LAPTOP_USER" --init-groups env HOME="$lhome" \
        ssh -o BatchMode=yes gpu-server 'id -nG | grep -qw docker && test -S /var/run/docker.sock' ||
        die "ssh gpu-server as $LAPTOP_USER does not reach a docker-group session"
    log "laptop user $LAPTOP_USER reaches gpu-server ($REMOTE_USER@127.0.0.1:$PORT)"
}

start_sshd() {
    mkdir -p /run/sshd # sshd's privilege separation directory
    /usr/sbin/sshd -t -f "$DIR/sshd_config" || die "sshd rejects $DIR/sshd_config"
    /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
    local i
    for i in $(seq 50); do
        answers && break
        sleep 0.2
    done
    answers || { tail -20 "$DIR/sshd.log" >&2; die "sshd did not answer on 127.0.0.1:$PORT"; }
    log "sshd started on 127.0.0.1:$PORT (pid $(our_pid))"
}

stop_quiet() {
    local pid
    pid=$(our_pid) || return 0
    kill "$pid"
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

case ${1:-} in
start) start ;;
stop) stop_quiet; log "stopped" ;;
status) if pid=$(our_pid) && answers; then log "running (pid $pid) on 127.0.0.1:$PORT"; else log "not running"; exit 1; fi ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
