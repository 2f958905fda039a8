# The recipe of the fixture images, sourced by fixtures.sh. The fixtures' content hash covers this
# file and the package lists, not fixtures.sh: change the recipe here and the images are rebuilt;
# change how they are cached or pushed in fixtures.sh and they are not.
#
# Uses from fixtures.sh: log, die, CACHE, MIRROR, SUITE, CA_BUNDLE, HERE, MOUNTS, cleanup_mounts.
# shellcheck shell=bash

in_root() { # in_root ROOTFS CMD...: run CMD in the chroot with a clean environment
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

mount_chroot() {
    local root=$1
    mount -t proc proc "$root/proc" && MOUNTS+=("$root/proc")
    mount --rbind /dev "$root/dev" && MOUNTS+=("$root/dev")
    cp /etc/resolv.conf "$root/etc/resolv.conf"
}

build_rootfs() { # build_rootfs KIND DIR
    local kind=$1 root=$2
    command -v debootstrap >/dev/null || { log "installing debootstrap"; apt-get install -y debootstrap >/dev/null; }
    mkdir -p "$CACHE/debootstrap"
    log "$kind: debootstrap $SUITE (minbase) from $MIRROR"
    debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap" "$SUITE" "$root" "$MIRROR" >"$root.debootstrap.log" 2>&1 ||
        { tail -20 "$root.debootstrap.log" >&2; die "debootstrap failed"; }
    rm -f "$root.debootstrap.log"
    mount_chroot "$root"
    log "$kind: apt-get install $(tr '\n' ' ' <"$HERE/small.packages")"
    in_root "$root" apt-get update -q >/dev/null
    # shellcheck disable=SC2046
    in_root "$root" apt-get install -y -q --no-install-recommends $(cat "$HERE/small.packages") >/dev/null
    log "$kind: python3 -m venv /opt/conda"
    in_root "$root" python3 -m venv /opt/conda
    mkdir -p "$root/workspace"
    if [ "$kind" = torch ]; then
        log "$kind: pip install $(tr '\n' ' ' <"$HERE/torch.requirements")(this is the slow part)"
        mkdir -p "$CACHE/pip" "$root/var/cache/ptenv-pip"
        mount --bind "$CACHE/pip" "$root/var/cache/ptenv-pip" && MOUNTS+=("$root/var/cache/ptenv-pip")
        cp "$CA_BUNDLE" "$root/tmp/host-ca.crt"
        cp "$HERE/torch.requirements" "$root/tmp/requirements.txt"
        in_root "$root" pip install -q --no-input --disable-pip-version-check --progress-bar off \
            --cert /tmp/host-ca.crt --cache-dir /var/cache/ptenv-pip -r /tmp/requirements.txt
        rm -f "$root/tmp/host-ca.crt" "$root/tmp/requirements.txt"
        local got
        got=$(in_root "$root" python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())" 2>/dev/null)
        log "$kind: torch reports: $got"
        [ "$got" = "2.6.0+cu124 12.4 False" ] || die "torch fixture: expected '2.6.0+cu124 12.4 False', got '$got'"
    fi
    cleanup_mounts
    rmdir "$root/var/cache/ptenv-pip" 2>/dev/null || true
    # Like the official image: no package lists, no caches; docker supplies resolv.conf, hostname.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/root/.cache "$root"/tmp/* "$root"/var/log/*.log
    : >"$root/etc/resolv.conf"
    echo localhost >"$root/etc/hostname"
}

import_rootfs() { # import_rootfs KIND HASH DIR REF
    local kind=$1 hash=$2 root=$3 ref=$4
    log "$kind: docker import -> $ref"
    tar --numeric-owner --xattrs -C "$root" -c . | docker import \
        --change 'ENV PATH=/opt/conda/bin:/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV NVIDIA_VISIBLE_DEVICES=all' \
        --change 'ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility' \
        --change 'ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64' \
        --change 'ENV PYTORCH_VERSION=2.6.0' \
        --change 'LABEL com.nvidia.volumes.needed=nvidia_driver' \
        --change "LABEL dev.ptenv.testbed.fixture=$kind" \
        --change "LABEL dev.ptenv.testbed.hash=$hash" \
        --change 'WORKDIR /workspace' \
        --change 'CMD ["/bin/bash"]' \
        - "$ref" >/dev/null
}
