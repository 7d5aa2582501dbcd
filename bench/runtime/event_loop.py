"""Health-probe latency while large bodies are being scored on the same worker.

    python bench/runtime/event_loop.py                      # all scenarios, 20 s each
    python bench/runtime/event_loop.py --seconds 10 --scenario score-30mb

A liveness probe that goes unanswered for seconds gets a pod restarted. This runs one Shipyard
worker (default settings: ``auto`` scoring mode, one scoring thread), first earns ``run()`` its
place on the event loop with small requests, then keeps one client sending large bodies (each after
``--between`` small ones, which keep ``run()`` fast on average) while another sends ``GET /v2/health/live`` every 20 ms on its own keep-alive connection,
and reports the probe's latency percentiles. The goal (issue #14): p99 < 50 ms while 30 MB bodies
are scored. Results go in ``bench/RESULTS.md`` by hand.

Scenarios:

* ``score-30mb``: ``POST /score``, a 30 MB JSON body carrying a base64 image, as Azure clients
  send pictures, to a ``run(data)`` that only measures it: what the runtime does with the body.
* ``score-30mb-image``: the same, but ``run()`` parses the JSON and decodes the image itself
  (``json.loads``, ``base64.b64decode``): C calls in the script that hold the GIL throughout.
* ``v2-binary-30mb``: V2 ``infer`` with a 30 MB FP32 tensor in Triton's binary extension (what
  ``tritonclient`` sends by default) to an ONNX model.
* ``v2-json-7mb``: V2 ``infer`` with a 7 MB JSON tensor (``data`` a list of floats).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import multiprocessing.sharedctypes
import multiprocessing.synchronize
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCORE_SCRIPT = '''
import base64, json
import numpy as np

def init():
    pass

def run(raw_data):
    if not raw_data.startswith('{"decode": true'):
        return {"characters": len(raw_data)}
    document = json.loads(raw_data)
    pixels = np.frombuffer(base64.b64decode(document["image"]), dtype=np.uint8)
    return {"bytes": int(pixels.size), "mean": float(pixels.mean()) if pixels.size else 0.0}
'''


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    large: bytes
    small: bytes
    headers: dict[str, str]
    small_headers: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _onnx_model(folder: Path) -> None:
    """``y = ReduceSum(x)`` over a 1-D FP32 tensor: cheap, so the probe measures the server."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)], "sum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")


def _v2_json(values: np.ndarray) -> bytes:
    return json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [int(values.size)],
                                   "data": values.tolist()}]}).encode()


def _v2_binary(values: np.ndarray) -> tuple[bytes, dict[str, str]]:
    raw = values.astype("<f4").tobytes()
    header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [int(values.size)],
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    return header + raw, {"Inference-Header-Content-Length": str(len(header)),
                          "Content-Type": "application/octet-stream"}


def scenarios() -> dict[str, Callable[[], Scenario]]:
    rng = np.random.default_rng(0)

    json_headers = {"Content-Type": "application/json"}

    def score(decode: bool) -> Scenario:
        image = base64.b64encode(rng.integers(0, 255, 22_500_000, dtype=np.uint8).tobytes()).decode()
        large = json.dumps({"decode": decode, "image": image}).encode()
        small = json.dumps({"decode": decode, "image": base64.b64encode(b"tiny").decode()}).encode()
        name = "score-30mb-image" if decode else "score-30mb"
        return Scenario(name, "/score", large, small, json_headers, json_headers)

    def v2_binary() -> Scenario:
        large, headers = _v2_binary(rng.random(7_500_000, dtype=np.float32))
        small, small_headers = _v2_binary(np.ones(4, dtype=np.float32))
        return Scenario("v2-binary-30mb", "/v2/models/m/infer", large, small, headers, small_headers)

    def v2_json() -> Scenario:
        values = rng.random(350_000, dtype=np.float32).round(5)
        return Scenario("v2-json-7mb", "/v2/models/m/infer", _v2_json(values), _v2_json(np.ones(4, np.float32)),
                        json_headers, json_headers)

    return {"score-30mb": lambda: score(False), "score-30mb-image": lambda: score(True),
            "v2-binary-30mb": v2_binary, "v2-json-7mb": v2_json}


def _start(root: Path, onnx_model: bool, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    model_dir = root / "m"
    environment = {**os.environ, "SHIPYARD_HOST": "127.0.0.1", "SHIPYARD_PORT": str(port),
                   "SHIPYARD_MODEL_DIR": str(model_dir), "SHIPYARD_ACCESS_LOG": "false", **env}
    if onnx_model:
        _onnx_model(model_dir)
        environment.pop("SHIPYARD_ENTRY_SCRIPT", None)
    else:
        model_dir.mkdir(exist_ok=True)
        (root / "score.py").write_text(SCORE_SCRIPT)
        environment["SHIPYARD_ENTRY_SCRIPT"] = str(root / "score.py")
    log = open(root / f"server-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, *os.environ.get("BENCH_SERVER", "-m shipyard.runtime").split()], env=environment, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v2/health/ready")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start; see {log.name}")


def _post(connection: http.client.HTTPConnection, scenario: Scenario, large: bool) -> None:
    body, headers = (scenario.large, scenario.headers) if large else (scenario.small, scenario.small_headers)
    connection.request("POST", scenario.path, body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise SystemExit(f"{scenario.name}: HTTP {response.status}: {payload[:300]!r}")


def _load(scenario: Scenario, port: int, between: int, stop: multiprocessing.synchronize.Event,
          scored: multiprocessing.sharedctypes.Synchronized) -> None:
    """Post large bodies, *between* small ones before each, until told to stop (a process of its own,
    so that the probe's timing does not wait for this one's share of the GIL)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while not stop.is_set():
        for _ in range(between):  # mostly small requests, as most services see
            _post(connection, scenario, False)
        _post(connection, scenario, True)
        with scored.get_lock():
            scored.value += 1


def measure(scenario: Scenario, port: int, seconds: float, between: int) -> dict[str, float]:
    """Probe latencies (ms) while large bodies are posted, *between* small ones before each."""
    warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(200):  # earn run() its place on the event loop (auto mode)
        _post(warm, scenario, False)
    context = multiprocessing.get_context("fork")
    stop, scored = context.Event(), context.Value("i", 0)
    loader = context.Process(target=_load, args=(scenario, port, between, stop, scored), daemon=True)
    loader.start()
    time.sleep(1.0)
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        probe.request("GET", "/v2/health/live")
        response = probe.getresponse()
        response.read()
        latencies.append((time.perf_counter() - start) * 1000)
        time.sleep(0.02)
    stop.set()
    loader.join(120)
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return {"probes": len(ordered), "large_bodies": scored.value, "p50_ms": round(pct(50), 1),
            "p99_ms": round(pct(99), 1), "max_ms": round(ordered[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scenario", action="append", choices=sorted(scenarios()))
    parser.add_argument("--between", type=int, default=50, help="small requests before each large one")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    builders = scenarios()
    for name in args.scenario or list(builders):
        scenario = builders[name]()
        with tempfile.TemporaryDirectory() as folder:
            process, port = _start(Path(folder), name.startswith("v2"), env)
            try:
                result = measure(scenario, port, args.seconds, args.between)
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
        print(json.dumps({"scenario": name, "body_mb": round(len(scenario.large) / 1e6, 1), **result}), flush=True)


if __name__ == "__main__":
    main()
