#!/usr/bin/env bash
# Fixture images for ptenv's tests: local stand-ins for the official pytorch/pytorch images.
#
#   fixtures.sh [--no-push] [small] [torch]      build or load, tag, push (default: both)
#   fixtures.sh --list-tags [small] [torch]      print the tags of the fixtures
#
# Each fixture is a Debian bookworm rootfs made with debootstrap, with a conda-like layout
# (/opt/conda is a venv, so /opt/conda/bin/python and /opt/conda/bin/pip exist), imported with
# the same ENV, LABEL, WORKDIR and CMD as the official image, and like it without jupyter or sshd.
#   small: no torch, for fast tests. Tagged ptenv-fixture/pytorch:<tag> for every tag in
#          SMALL_TAGS, locally and in the local registry.
#   torch: the real torch==2.6.0 (cu124 build) from PyPI with its dependencies. Tagged
#          pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime, locally and in the local registry.
#
# An image is identified by a content hash of recipe.sh and the package lists, kept in the
# image label dev.ptenv.testbed.hash. If the engine already has it, nothing is done; else it is
# loaded from ${PTENV_FIXTURE_CACHE:-$HOME/.cache/ptenv-fixtures}/images/<kind>-<hash>.tar.zst;
# else it is built and saved there (PTENV_FIXTURE_REBUILD=1: built in any case). A push is
# skipped when the registry already holds a manifest whose config digest is the image's id.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${PTENV_FIXTURE_CACHE:-$HOME/.cache/ptenv-fixtures}
REGISTRY=${PTENV_TEST_REGISTRY:-127.0.0.1:5000}
MIRROR=${PTENV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${PTENV_TEST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
SUITE=bookworm

SMALL_REPO=ptenv-fixture/pytorch
SMALL_TAGS=()
for v in 2.6.0-cuda11.8 2.6.0-cuda12.4 2.6.0-cuda12.6 2.7.0-cuda11.8 2.7.0-cuda12.6 2.7.0-cuda12.8; do
    SMALL_TAGS+=("$v-cudnn9-runtime" "$v-cudnn9-devel")
done
TORCH_REPO=pytorch/pytorch
TORCH_TAGS=(2.6.0-cuda12.4-cudnn9-runtime)

log() { printf '[fixtures %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

repo_of() { case $1 in small) echo "$SMALL_REPO" ;; torch) echo "$TORCH_REPO" ;; esac; }
tags_of() {
    case $1 in
    small) printf '%s\n' "${SMALL_TAGS[@]}" ;;
    torch) printf '%s\n' "${TORCH_TAGS[@]}" ;;
    esac
}
main_ref() { echo "$(repo_of "$1"):$(tags_of "$1" | grep -m1 2.6.0-cuda12.4-cudnn9-runtime)"; }

fixture_hash() {
    local files=("$HERE/recipe.sh" "$HERE/small.packages")
    [ "$1" = torch ] && files+=("$HERE/torch.requirements")
    { echo "kind=$1 suite=$SUITE"; cat "${files[@]}"; } | sha256sum | cut -c1-16
}

# --- building -----------------------------------------------------------------------------

MOUNTS=()
cleanup_mounts() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null || true; done
    MOUNTS=()
}
WORKDIRS=()
cleanup() {
    cleanup_mounts
    local d
    for d in "${WORKDIRS[@]}"; do rm -rf --one-file-system "$d"; done
}
trap cleanup EXIT

# shellcheck source=recipe.sh
source "$HERE/recipe.sh"

ensure_image() { # ensure_image KIND: the image with the current hash is in the engine, all tags set
    local kind=$1 hash ref file have
    hash=$(fixture_hash "$kind")
    ref=$(main_ref "$kind")
    file="$CACHE/images/$kind-$hash.tar.zst"
    mkdir -p "$CACHE/images"
    exec 9>"$CACHE/$kind.lock"
    flock 9
    have=$(docker image inspect -f '{{index .Config.Labels "dev.ptenv.testbed.hash"}}' "$ref" 2>/dev/null || true)
    if [ "${PTENV_FIXTURE_REBUILD:-0}" = 1 ]; then
        log "$kind: PTENV_FIXTURE_REBUILD=1: building even if the engine or the cache has it"
        have=rebuild
        rm -f "$file"
    fi
    if [ "$have" = "$hash" ]; then
        log "$kind: $ref ($hash) already in the engine"
    elif [ -f "$file" ]; then
        log "$kind: loading $file"
        zstd -dc "$file" | docker load >/dev/null
    else
        local root="$CACHE/work/$kind-$hash"
        rm -rf --one-file-system "$root"
        mkdir -p "$root"
        WORKDIRS+=("$root")
        build_rootfs "$kind" "$root"
        import_rootfs "$kind" "$hash" "$root" "$ref"
        cleanup
        WORKDIRS=()
        log "$kind: saving to $file"
        docker save "$ref" | zstd -q -T0 -3 -o "$file.tmp"
        mv "$file.tmp" "$file"
        find "$CACHE/images" -name "$kind-*.tar.zst" ! -name "$kind-$hash.tar.zst" -delete
    fi
    have=$(docker image inspect -f '{{index .Config.Labels "dev.ptenv.testbed.hash"}}' "$ref" 2>/dev/null || true)
    [ "$have" = "$hash" ] || die "$kind: $ref does not carry hash $hash after load"
    local repo tag
    repo=$(repo_of "$kind")
    for tag in $(tags_of "$kind"); do docker tag "$ref" "$repo:$tag"; done
    # Superseded fixtures of this kind that no tag names any more. Images built FROM a fixture
    # carry its labels too, hence dangling only, and only of another hash: the intermediate
    # images of a build running now on the current fixture are dangling as well. No -f: one in
    # use stays.
    local id old
    id=$(docker image inspect -f '{{.Id}}' "$ref")
    for old in $(docker images -q --no-trunc --filter dangling=true --filter "label=dev.ptenv.testbed.fixture=$kind"); do
        [ "$old" = "$id" ] && continue
        [ "$(docker image inspect -f '{{index .Config.Labels "dev.ptenv.testbed.hash"}}' "$old" 2>/dev/null)" = "$hash" ] && continue
        docker rmi "$old" >/dev/null 2>&1 || true
    done
    flock -u 9
}

# --- pushing ------------------------------------------------------------------------------

# registry_config_digest REPO TAG: the config digest of the registry's manifest, if any.
registry_config_digest() {
    curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null | tr -d ' \n\t\r' |
        sed -n 's/.*"config":{[^}]*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p'
}

push_image() { # push_image KIND
    local kind=$1 ref id repo tag remote pushed=0 skipped=0
    # Under the kind's lock, like the build: two test beds set up at once (worktrees) would
    # otherwise untag each other's push tag before it is pushed.
    exec 9>"$CACHE/$kind.lock"
    flock 9
    ref=$(main_ref "$kind")
    repo=$(repo_of "$kind")
    id=$(docker image inspect -f '{{.Id}}' "$ref")
    for tag in $(tags_of "$kind"); do
        if [ "$(registry_config_digest "$repo" "$tag")" = "$id" ]; then
            skipped=$((skipped + 1))
            continue
        fi
        remote="$REGISTRY/$repo:$tag"
        log "$kind: docker push $remote"
        docker tag "$ref" "$remote"
        docker push -q "$remote" >/dev/null || die "docker push $remote failed"
        # Untag, so that a test pulling from the registry really pulls (layers stay shared).
        docker rmi "$remote" >/dev/null
        pushed=$((pushed + 1))
    done
    flock -u 9
    log "$kind: registry $REGISTRY/$repo: $pushed pushed, $skipped already there"
}

# --- main ---------------------------------------------------------------------------------

main() {
    local push=1 list=0 kinds=() arg kind start
    for arg in "$@"; do
        case $arg in
        --no-push) push=0 ;;
        --list-tags) list=1 ;;
        small | torch) kinds+=("$arg") ;;
        -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; return 0 ;;
        *) die "unknown argument: $arg" ;;
        esac
    done
    [ ${#kinds[@]} -gt 0 ] || kinds=(small torch)
    if [ $list = 1 ]; then
        for kind in "${kinds[@]}"; do tags_of "$kind"; done
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "building fixtures needs root (debootstrap, chroot)"
    docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (run tests/testbed/setup.sh)"
    if [ $push = 1 ]; then
        curl -sf "http://$REGISTRY/v2/" >/dev/null ||
            die "no registry answers at http://$REGISTRY/v2/ (tests/testbed/registry.sh start)"
    fi
    for kind in "${kinds[@]}"; do
        start=$SECONDS
        ensure_image "$kind"
        if [ $push = 1 ]; then push_image "$kind"; fi
        log "$kind: ready in $((SECONDS - start)) s"
    done
}
main "$@"; exit
