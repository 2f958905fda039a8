#!/usr/bin/env bash
# The local container registry of the test bed: Debian's docker-registry (distribution 2.8) on
# 127.0.0.1:5000, plain HTTP (the daemon allows 127.0.0.0/8 without TLS), no auth.
#
#   registry.sh start|stop|status
#
# Its storage lives in ${PTENV_FIXTURE_CACHE:-$HOME/.cache/ptenv-fixtures}/registry, so what was
# pushed once survives a stop and fixtures.sh can skip the push. start and stop are idempotent.
set -euo pipefail

CACHE=${PTENV_FIXTURE_CACHE:-$HOME/.cache/ptenv-fixtures}
ADDR=${PTENV_TEST_REGISTRY:-127.0.0.1:5000}
DIR="$CACHE/registry"
PIDFILE="$DIR/registry.pid"

log() { printf '[registry %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

answers() { curl -sf -o /dev/null --max-time 2 "http://$ADDR/v2/"; }

our_pid() { # prints the pid of our registry if it runs
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        grep -q docker-registry "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

start() {
    if our_pid >/dev/null && answers; then
        log "already running on $ADDR (pid $(our_pid))"
        return
    fi
    if ! command -v docker-registry >/dev/null; then
        [ "$(id -u)" = 0 ] || die "docker-registry is not installed and we are not root: apt-get install docker-registry"
        log "installing docker-registry"
        apt-get install -y -q docker-registry >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null && apt-get install -y -q docker-registry >/dev/null; }
        # The package's own service (on :5000, storage in /var/lib) must not hold our port.
        systemctl disable --now docker-registry >/dev/null 2>&1 || invoke-rc.d docker-registry stop >/dev/null 2>&1 || true
    fi
    if answers; then
        die "something else answers on $ADDR (the distribution's docker-registry service? systemctl stop docker-registry)"
    fi
    mkdir -p "$DIR/storage"
    cat >"$DIR/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
http:
  addr: $ADDR
YML
    setsid docker-registry serve "$DIR/config.yml" >"$DIR/registry.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    local i
    for i in $(seq 50); do
        answers && { log "started on $ADDR (pid $(cat "$PIDFILE"), storage $DIR/storage)"; return; }
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
        sleep 0.2
    done
    tail -20 "$DIR/registry.log" >&2
    die "the registry did not come up on $ADDR"
}

stop() {
    local pid
    if pid=$(our_pid); then
        kill "$pid"
        local i
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        log "stopped (pid $pid)"
    else
        log "not running"
    fi
    rm -f "$PIDFILE"
}

main() {
    case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) if pid=$(our_pid) && answers; then echo "running on $ADDR (pid $pid)"; else echo "not running"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
    esac
}
main "$@"; exit
