#!/bin/sh
# Shipyard edge bundle installer. Generated with the bundle; do not edit (a changed file fails the
# checksum check). POSIX sh: runs with dash, bash and busybox ash.
#
#   sh install.sh            verify the bundle, load the image, replace the scoring container
#   sh install.sh --verify   only verify the bundle; change nothing
#   sh install.sh --help     print the usage; change nothing (any other argument is refused)
#
# Order matters on a device with a poor link: nothing on the device changes until every file of
# the bundle matched its SHA-256 and `docker load` succeeded, and the previous container is kept
# (stopped, renamed) until the new one answers its readiness probe (GET /v2/health/ready: the
# model is loaded); if it never does, the previous one is put back and started again.
#
# Needs: docker (CLI, talking to the device's engine; DOCKER_HOST is honoured) and sha256sum.
# Env: SHIPYARD_HEALTH_TIMEOUT_S overrides how long to wait for the new container.

set -eu

log() { printf 'shipyard-install: %s\n' "$*" >&2; }
fail() { log "error: $*"; exit 1; }

usage() {
    cat <<'USAGE'
Usage: sh install.sh [--verify | --help]

Installs this Shipyard edge bundle on this device's Docker Engine (DOCKER_HOST is honoured):
  1. verifies every file against SHA256SUMS (nothing changes if one does not match),
  2. loads image.tar.gz with docker load,
  3. replaces the scoring container (the previous one is kept, stopped, until the new one is ready),
  4. waits for GET /v2/health/ready, and puts the previous container back if it never answers.
It says what it is about to change before changing it.

Options:
  --verify   only check the bundle's files; change nothing
  --help     print this help; change nothing

Environment:
  SHIPYARD_HEALTH_TIMEOUT_S   seconds to wait for the new container (default: the bundle's)
USAGE
}

# Arguments first: --help and a mistyped option must never reach docker.
verify_only=no
for argument in "$@"; do
    case "$argument" in
        -h|--help) usage; exit 0 ;;
        --verify) verify_only=yes ;;
        *) log "error: unknown argument '$argument'; nothing was changed. Usage: sh install.sh [--verify | --help]"
           exit 2 ;;
    esac
done

bundle_dir=$(cd "$(dirname "$0")" && pwd)
cd "$bundle_dir"

command -v sha256sum >/dev/null 2>&1 || fail "sha256sum not found; install coreutils or busybox"

# --- 1. verify (read-only) ------------------------------------------------------------------
[ -f SHA256SUMS ] || fail "SHA256SUMS is missing: the bundle in $bundle_dir is incomplete"
for required in image.tar.gz bundle.conf container.env container.labels manifest.json deployment.json; do
    grep -q " [* ]\{0,1\}$required\$" SHA256SUMS \
        || fail "SHA256SUMS does not list $required: the bundle is incomplete or was altered"
    [ -f "$required" ] || fail "$required is missing: copy the whole bundle folder again"
done
if ! check_output=$(sha256sum -c SHA256SUMS 2>&1); then
    printf '%s\n' "$check_output" | grep -v ': OK$' >&2 || true
    fail "checksum mismatch: the bundle is corrupted or truncated; nothing was changed on this device. Copy the bundle again."
fi
log "verified $(grep -c . SHA256SUMS) files against SHA256SUMS"

# Only now is it safe to read the settings file.
. ./bundle.conf

if [ "$verify_only" = yes ]; then
    log "bundle for '$NAME' ($IMAGE_REF, $PLATFORM) is intact"
    exit 0
fi

command -v docker >/dev/null 2>&1 || fail "docker CLI not found on this device"
docker version >/dev/null 2>&1 || fail "cannot reach the Docker Engine (DOCKER_HOST=${DOCKER_HOST:-default socket})"

engine_arch=$(docker info --format '{{.Architecture}}' 2>/dev/null || echo unknown)
case "$engine_arch" in
    x86_64) engine_arch=amd64 ;;
    aarch64) engine_arch=arm64 ;;
    armv7l) engine_arch=arm ;;
esac
case "$PLATFORM" in
    */"$engine_arch"|*/"$engine_arch"/*) ;;
    *) log "warning: image is $PLATFORM but the engine runs on $engine_arch; it starts only with emulation (qemu binfmt) installed" ;;
esac

# Say what is about to change, before anything does.
if docker container inspect "$NAME" >/dev/null 2>&1; then
    replacing="replace the container '$NAME' (now $(docker inspect --format '{{.Config.Image}}, {{.State.Status}}' "$NAME" 2>/dev/null || echo unknown); kept, stopped, as '$NAME-shipyard-old' until the new one is ready)"
else
    replacing="create the container '$NAME'"
fi
log "about to change this device's Docker Engine (${DOCKER_HOST:-default socket}): load $IMAGE_REF, $replacing, publish port ${HOST_PORT:-(none)} -> $CONTAINER_PORT, restart policy $RESTART"

# --- 2. load (adds an image; the running container is untouched) ----------------------------
if ! load_output=$(docker load -i image.tar.gz 2>&1); then
    fail "docker load failed; the running container was not touched: $load_output"
fi
loaded_id=$(docker image inspect --format '{{.Id}}' "$IMAGE_REF" 2>/dev/null || true)
[ "$loaded_id" = "$IMAGE_ID" ] \
    || fail "after loading, $IMAGE_REF is '$loaded_id', expected $IMAGE_ID; the running container was not touched"
log "loaded $IMAGE_REF ($IMAGE_ID)"

# --- 3. replace the container, keeping the previous one until the new one is healthy --------
previous="$NAME-shipyard-old"  # the name the container target also uses mid-update
had_previous=no
if docker container inspect "$NAME" >/dev/null 2>&1; then
    docker rm -f "$previous" >/dev/null 2>&1 || true
    docker rename "$NAME" "$previous"
    docker stop "$previous" >/dev/null 2>&1 || true
    had_previous=yes
fi

restore_previous() {
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    if [ "$had_previous" = yes ]; then
        docker rename "$previous" "$NAME" && docker start "$NAME" >/dev/null \
            && log "the previous container was started again"
    fi
}

# RUN_ARGS (--gpus, --cpus, --memory...) is split on spaces on purpose; Shipyard writes it
# without spaces or shell characters inside an argument.
# shellcheck disable=SC2086
set -- --detach --name "$NAME" --restart "$RESTART" --env-file container.env \
    --label-file container.labels --security-opt no-new-privileges:true $RUN_ARGS
if [ -n "$HOST_PORT" ]; then
    set -- "$@" --publish "$HOST_PORT:$CONTAINER_PORT"
fi
if ! run_output=$(docker run "$@" "$IMAGE_REF" 2>&1); then
    restore_previous
    fail "docker run failed: $run_output"
fi

# Probe readiness (the model is loaded) from the host with curl or wget, else inside the container.
probe() {
    if [ -n "$HOST_PORT" ] && command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$HOST_PORT$READY_PATH"
    elif [ -n "$HOST_PORT" ] && command -v wget >/dev/null 2>&1; then
        wget -q -O /dev/null -T 3 "http://127.0.0.1:$HOST_PORT$READY_PATH"
    else
        docker exec "$NAME" python3 -c 'import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=3)' \
            "$CONTAINER_PORT" "$READY_PATH"
    fi
}

timeout_s=${SHIPYARD_HEALTH_TIMEOUT_S:-$HEALTH_TIMEOUT_S}
waited=0
until probe >/dev/null 2>&1; do
    # A crash during start shows as not running, or as a restart under the restart policy.
    state=$(docker inspect --format '{{.State.Status}} {{.RestartCount}}' "$NAME" 2>/dev/null || echo "missing 0")
    if [ "$state" != "running 0" ] || [ "$waited" -ge "$timeout_s" ]; then
        log "the new container did not get ready (GET $READY_PATH; state: $state, waited ${waited}s); its last log lines:"
        docker logs --tail 30 "$NAME" >&2 2>&1 || true
        restore_previous
        fail "rolled back: $NAME was not replaced"
    fi
    sleep 2
    waited=$((waited + 2))
done

docker rm -f "$previous" >/dev/null 2>&1 || true
log "ready: $NAME serves $IMAGE_REF on port ${HOST_PORT:-(not published)} after ${waited}s"
