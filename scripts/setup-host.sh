#!/usr/bin/env bash
# Make this machine ready to build and run Shipyard images: Debian packages, a running Docker
# Engine, and Shipyard installed with its test extras. Safe to run again; it skips what is done.
# Used by scripts/quickstart.sh and scripts/test.sh (and so by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v qemu-aarch64-static >/dev/null || need_apt+=(qemu-user-static binfmt-support)
command -v ssh >/dev/null || need_apt+=(openssh-client)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)  # build-image --push test (loopback registry)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)  # the edge target's ssh:// device test
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    if [ "$(id -u)" != 0 ]; then echo "setup: need root to apt-get install ${need_apt[*]}" >&2; exit 1; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# A Docker Engine: use the one DOCKER_HOST or the default socket points at, else start one.
if ! docker info >/dev/null 2>&1; then
    if [ -n "${DOCKER_HOST:-}" ]; then
        echo "setup: no Docker Engine answers at DOCKER_HOST=$DOCKER_HOST" >&2; exit 1
    fi
    echo "setup: starting dockerd (log: /tmp/shipyard-dockerd.log)"
    (setsid dockerd >/tmp/shipyard-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /tmp/shipyard-dockerd.log" >&2; tail -20 /tmp/shipyard-dockerd.log >&2; exit 1; }
fi

# arm64 images run under emulation once binfmt handlers are registered.
if [ -d /proc/sys/fs/binfmt_misc ] && ! [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
