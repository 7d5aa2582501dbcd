"""Build benchmark: cold build, one-line score.py rebuild, image size, start to ready.

Run by hand on a machine with a Docker Engine (not part of the test suite):

    python bench/build/run.py --base-image shipyard-test-base:bookworm \
        --extra-ca /etc/ssl/certs/ca-certificates.crt [--runs 3] [--json out.json]

It trains the iris example into a temporary copy, then measures with Shipyard's own API:

- cold build: ``build_image(..., no_cache=True)``: every layer rebuilt, packages downloaded;
- rebuild after a one-line score.py change (goal: under 10 s);
- image size against the base image plus what was installed (/opt/venv, the runtime, model, app;
  goal: at most 10 % above);
- container start to ready: ``docker run`` until ``GET /v2/health/ready`` answers 200.

The peer comparison (``mlflow models build-docker``) is in bench/build/mlflow_peer.py.
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

from shipyard.builder import build_image, load_spec

REPO = Path(__file__).resolve().parents[2]
TAG = "shipyard-bench-iris:latest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", required=True)
    parser.add_argument("--extra-ca", type=Path)
    parser.add_argument("--runs", type=int, default=3, help="repetitions of the rebuild and start measurements")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    client = docker.from_env(timeout=900)
    with tempfile.TemporaryDirectory() as temp:
        example = Path(temp) / "iris"
        shutil.copytree(REPO / "examples" / "iris", example, ignore=shutil.ignore_patterns("model"))
        subprocess.run([sys.executable, str(example / "train.py")], check=True, capture_output=True)
        spec = load_spec(example)
        options = {"base_image": args.base_image, "extra_ca": args.extra_ca, "client": client}

        cold = build_image(spec, TAG, no_cache=True, **options)
        print(f"cold build: {cold.duration_s:.1f} s ({len(cold.steps)} steps)")

        rebuilds = []
        for run in range(args.runs):
            with (example / "score.py").open("a") as handle:
                handle.write(f"# edit {run}\n")
            result = build_image(load_spec(example), TAG, **options)
            rebuilds.append(result.duration_s)
            rebuilt = [step.instruction[:60] for step in result.steps if not step.cached]
            print(f"rebuild after a one-line score.py change: {result.duration_s:.2f} s "
                  f"({result.cached_steps}/{len(result.steps)} steps cached; rebuilt: {rebuilt})")

        sizes = measure_sizes(client, TAG, args.base_image)
        print(f"sizes: {json.dumps(sizes)}")
        starts = [start_to_ready(client, TAG) for _ in range(args.runs)]
        print(f"start to ready: {', '.join(f'{s:.2f}' for s in starts)} s")

    results = {
        "cold_build_s": round(cold.duration_s, 1),
        "rebuild_one_line_s": {"median": round(statistics.median(rebuilds), 2), "runs": [round(r, 2) for r in rebuilds]},
        **sizes,
        "start_to_ready_s": {"median": round(statistics.median(starts), 2), "runs": [round(s, 2) for s in starts]},
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def measure_sizes(client: docker.DockerClient, tag: str, base: str) -> dict[str, float]:
    """Final image vs base image plus the bytes Shipyard installed on top of it."""
    mib = 1024 * 1024
    image_size = client.images.get(tag).attrs["Size"]
    base_size = client.images.get(base).attrs["Size"]
    du = client.containers.run(tag, ["du", "-sb", "/opt/venv", "/opt/shipyard", "/var/azureml-app"], remove=True)
    installed = sum(int(line.split()[0]) for line in du.decode().splitlines())
    return {
        "image_mib": round(image_size / mib, 1),
        "base_mib": round(base_size / mib, 1),
        "installed_mib": round(installed / mib, 1),
        "overhead_pct": round(100 * (image_size / (base_size + installed) - 1), 1),
    }


def start_to_ready(client: docker.DockerClient, tag: str) -> float:
    """Seconds from ``docker run`` until the readiness endpoint answers 200."""
    started = time.monotonic()
    container = client.containers.run(tag, detach=True, ports={"5001/tcp": ("127.0.0.1", None)})
    try:
        while True:
            container.reload()
            bindings = container.ports.get("5001/tcp") or []
            if bindings:
                try:
                    url = f"http://127.0.0.1:{bindings[0]['HostPort']}/v2/health/ready"
                    if httpx.get(url, timeout=1).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
            if time.monotonic() - started > 120:
                raise RuntimeError(f"not ready after 120 s:\n{container.logs().decode(errors='replace')}")
            time.sleep(0.05)
    finally:
        container.remove(force=True)


if __name__ == "__main__":
    main()
