"""Peer comparison: the same iris model through MLflow's Docker image builder.

``mlflow models build-docker`` needs ``ubuntu:24.04`` (or ``python:X-slim``) from Docker Hub, which
air-gapped sites (and this benchmark machine) cannot reach. So the script records that attempt and
then builds what ``mlflow models generate-dockerfile`` writes, with the smallest adaptation to a
local base image (the one ``shipyard base-image build`` makes): ``FROM`` swapped, ``python`` linked
to Debian's ``python3``, pip allowed to install into the system Python (PEP 668) and given the
extra CA bundle this network needs. Everything else is MLflow's Dockerfile as generated.

Measured like bench/build/run.py: cold build, rebuild after a one-line change in the model folder
(MLflow has no score.py; its model folder is what changes), image size, start to ready (GET /ping).

    python bench/build/mlflow_peer.py --mlflow-python /tmp/mlflow-venv/bin/python \
        --base-image shipyard-test-base:bookworm --extra-ca /etc/ssl/certs/ca-certificates.crt

The MLflow venv needs ``mlflow-skinny pandas scikit-learn==1.9.1`` (pip install, no Docker Hub).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import httpx

REPO = Path(__file__).resolve().parents[2]
TAG = "shipyard-bench-mlflow:latest"
SAVE_MODEL = """
import sys, joblib, mlflow.sklearn
model = joblib.load(sys.argv[1])
mlflow.sklearn.save_model(model, sys.argv[2], serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow-python", required=True, type=Path, help="python of a venv with mlflow-skinny")
    parser.add_argument("--base-image", required=True)
    parser.add_argument("--extra-ca", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    mlflow = args.mlflow_python.parent / "mlflow"
    client = docker.from_env(timeout=1800)
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        subprocess.run([sys.executable, str(REPO / "examples" / "iris" / "train.py"), "--out", str(work / "trained")],
                       check=True, capture_output=True)
        model = work / "mlflow-model"
        subprocess.run([str(args.mlflow_python), "-c", SAVE_MODEL, str(work / "trained" / "model.pkl"), str(model)],
                       check=True, capture_output=True)

        attempt = subprocess.run([str(mlflow), "models", "build-docker", "-m", str(model), "-n", TAG],
                                 capture_output=True, text=True, cwd=work, check=False)
        failure = next((line for line in attempt.stdout.splitlines() + attempt.stderr.splitlines()
                        if "registry-1.docker.io" in line or line.startswith("Step 1/")), "")
        print(f"mlflow models build-docker: exit {attempt.returncode}; {failure}")

        context = work / "mlflow-dockerfile"
        subprocess.run([str(mlflow), "models", "generate-dockerfile", "-m", str(model), "-d", str(context)],
                       check=True, capture_output=True, cwd=work)
        adapt(context / "Dockerfile", args.base_image, args.extra_ca)

        cold = build(client, context, no_cache=True)
        print(f"cold build: {cold:.1f} s")
        rebuilds = []
        conda = next(context.glob("model_dir/*/conda.yaml"))
        for run in range(args.runs):
            with conda.open("a") as handle:
                handle.write(f"# edit {run}\n")
            rebuilds.append(build(client, context))
            print(f"rebuild after a one-line change in the model folder: {rebuilds[-1]:.1f} s")
        image_size = client.images.get(TAG).attrs["Size"]
        base_size = client.images.get(args.base_image).attrs["Size"]
        starts = [start_to_ready(client) for _ in range(args.runs)]
        print(f"start to ready: {', '.join(f'{s:.2f}' for s in starts)} s")

    results = {
        "build_docker_attempt": {"exit_code": attempt.returncode, "failure": failure},
        "cold_build_s": round(cold, 1),
        "rebuild_one_line_s": {"median": round(statistics.median(rebuilds), 1), "runs": [round(r, 1) for r in rebuilds]},
        "image_mib": round(image_size / 2**20, 1),
        "base_mib": round(base_size / 2**20, 1),
        "start_to_ready_s": {"median": round(statistics.median(starts), 2), "runs": [round(s, 2) for s in starts]},
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def adapt(dockerfile: Path, base_image: str, extra_ca: Path | None) -> None:
    """Swap MLflow's Docker Hub base for a local one; change nothing else of substance."""
    lines = dockerfile.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("FROM "))
    adaptation = [f"FROM {base_image}",
                  "# adaptation for a Debian base without a registry (see bench/build/mlflow_peer.py)",
                  "RUN ln -sf /usr/bin/python3 /usr/local/bin/python",
                  "ENV PIP_BREAK_SYSTEM_PACKAGES=1"]
    if extra_ca is not None:
        shutil.copyfile(extra_ca, dockerfile.parent / "extra-ca.pem")
        adaptation += ["COPY extra-ca.pem /opt/extra-ca.pem", "ENV PIP_CERT=/opt/extra-ca.pem"]
    lines[start:start + 1] = adaptation
    dockerfile.write_text("\n".join(lines) + "\n")


def build(client: docker.DockerClient, context: Path, *, no_cache: bool = False) -> float:
    started = time.monotonic()
    for record in client.api.build(path=str(context), tag=TAG, rm=True, forcerm=True, decode=True, nocache=no_cache):
        if "error" in record:
            raise RuntimeError(record["error"])
    return time.monotonic() - started


def start_to_ready(client: docker.DockerClient) -> float:
    started = time.monotonic()
    container = client.containers.run(TAG, detach=True, ports={"8080/tcp": ("127.0.0.1", None)})
    try:
        while time.monotonic() - started < 180:
            container.reload()
            bindings = container.ports.get("8080/tcp") or []
            if bindings:
                try:
                    if httpx.get(f"http://127.0.0.1:{bindings[0]['HostPort']}/ping", timeout=1).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"not ready after 180 s:\n{container.logs().decode(errors='replace')}")
    finally:
        container.remove(force=True)


if __name__ == "__main__":
    main()
