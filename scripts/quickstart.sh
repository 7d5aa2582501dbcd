#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: install what is needed, train the example model,
# make a Python base image without any registry, build the example's image from its Azure-style
# score.py + conda YAML, deploy it as a local container with a generated key, and score it.
#
#   bash scripts/quickstart.sh              # leaves the deployment running; prints how to remove it
#   QUICKSTART_CLEANUP=1 bash scripts/quickstart.sh   # removes it at the end
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh

BASE=${SHIPYARD_BASE_IMAGE:-shipyard-base:bookworm}
TAG=${QUICKSTART_TAG:-iris:1}
NAME=${QUICKSTART_NAME:-iris-quickstart}
# Behind a TLS-intercepting proxy pip in the build needs this machine's CA bundle; it is used in
# the build stage only and never lands in the final image (see docs/building.md).
CA=${SHIPYARD_EXTRA_CA:-/etc/ssl/certs/ca-certificates.crt}
ca_args=(); [ -f "$CA" ] && ca_args=(--extra-ca "$CA")

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Training the example model (examples/iris/model/)"
python3 -m pip install -q --disable-pip-version-check -r examples/iris/requirements.txt  # what train.py imports
python3 examples/iris/train.py

if docker image inspect "$BASE" >/dev/null 2>&1; then
    step "Base image $BASE exists; reusing it"
else
    step "Making the base image $BASE from Debian packages (debootstrap + docker import, ~1 min)"
    shipyard base-image build --tag "$BASE" "${ca_args[@]}"
fi

step "Building $TAG from examples/iris/shipyard.yaml"
shipyard build-image examples/iris/shipyard.yaml --tag "$TAG" --base-image "$BASE" "${ca_args[@]}"

step "Deploying $TAG as container deployment '$NAME'"
shipyard deploy "$TAG" --target container --name "$NAME" --json | tee /tmp/shipyard-quickstart.json

step "Scoring it with the CLI (shipyard invoke sends the key)"
shipyard invoke "$NAME" --data examples/iris/sample-request.json

step "Scoring it with curl, as any client would"
uri=$(python3 -c 'import json; print(json.load(open("/tmp/shipyard-quickstart.json"))["scoring_uri"])')
key=$(python3 -c 'import json; print(json.load(open("/tmp/shipyard-quickstart.json"))["keys"]["primary"])')
curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data @examples/iris/sample-request.json "$uri"; echo
printf 'without the key: HTTP %s\n' "$(curl -s -o /dev/null -w '%{http_code}' --data @examples/iris/sample-request.json "$uri")"

if [ "${QUICKSTART_CLEANUP:-0}" = 1 ]; then
    step "Removing the deployment"
    shipyard delete "$NAME"
else
    printf '\nThe service keeps running at %s\n  shipyard status %s --show-keys   shipyard logs %s   shipyard delete %s\n' \
        "$uri" "$NAME" "$NAME" "$NAME"
fi
