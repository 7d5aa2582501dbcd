"""GPU check: the PyTorch scorer on CUDA behind the real runtime, answering tritonclient.

Run by hand on a machine with an NVIDIA GPU and a CUDA build of torch::

    python bench/gpu_check.py                # exits 2 with a clear message when there is no CUDA
    python bench/gpu_check.py --allow-cpu    # the same check on the CPU (what CI machines can do)

It saves a TorchScript model with known weights, starts ``python -m shipyard.runtime`` on it with
``SHIPYARD_EXECUTION_PROVIDERS=CUDA`` and strict providers (so a silent CPU fallback fails the
check), then with ``tritonclient.http``: checks readiness, reads the model metadata (which reports
the device), sends batches as binary tensors, compares the answers with numpy, and prints the
device, the results and request latencies. It does so once per scoring mode
(``SHIPYARD_SCORING_MODE``): ``thread`` (CUDA calls on the scoring thread), ``inline`` (on the
event loop's thread) and ``auto`` (starts on the thread, moves to the loop once calls prove fast;
the check reports whether it moved). Exit status: 0 passed, 1 wrong answers or server failure,
2 no CUDA (without --allow-cpu).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

FEATURES, CLASSES = 64, 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def save_model(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """A TorchScript linear layer with fixed weights; returns them so answers can be checked."""
    import torch

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(CLASSES, FEATURES)).astype(np.float32)
    bias = rng.normal(size=CLASSES).astype(np.float32)
    layer = torch.nn.Linear(FEATURES, CLASSES)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(layer.eval(), torch.zeros(1, FEATURES)), folder / "model.pt")
    (folder / "model.json").write_text(json.dumps({
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, FEATURES]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, CLASSES]}]}))
    return weight, bias


MOVED_TO_LOOP = "running it on the event loop"  # the runtime's debug line when auto mode goes inline


def start_runtime(model_dir: Path, port: int, log_path: Path, providers: str, strict: bool,
                  mode: str) -> subprocess.Popen:
    env = {**os.environ, "SHIPYARD_MODEL_DIR": str(model_dir), "SHIPYARD_MODEL_NAME": "gpu-check",
           "SHIPYARD_HOST": "127.0.0.1", "SHIPYARD_PORT": str(port), "SHIPYARD_SCORING_MODE": mode,
           "SHIPYARD_LOG_LEVEL": "debug",
           "SHIPYARD_EXECUTION_PROVIDERS": providers, "SHIPYARD_STRICT_PROVIDERS": "true" if strict else "false"}
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "shipyard.runtime"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(client, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the runtime exited with code {process.returncode} before it was ready")
        with contextlib.suppress(Exception):  # not listening yet
            if client.is_server_ready():
                return
        time.sleep(0.2)
    raise RuntimeError(f"the runtime was not ready after {timeout_s:.0f} s")


def check(address: str, weight: np.ndarray, bias: np.ndarray, requests: int, batch: int) -> dict:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(address)
    metadata = client.get_model_metadata("gpu-check")
    rng = np.random.default_rng(1)
    latencies, worst = [], 0.0
    for _ in range(requests):
        x = rng.normal(size=(batch, FEATURES)).astype(np.float32)
        tensor = triton.InferInput("features", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)  # binary tensor data, tritonclient's default
        started = time.perf_counter()
        result = client.infer("gpu-check", [tensor])
        latencies.append((time.perf_counter() - started) * 1000)
        worst = max(worst, float(np.abs(result.as_numpy("logits") - (x @ weight.T + bias)).max()))
    return {"metadata": metadata, "max_abs_error": worst, "p50_ms": statistics.median(latencies),
            "max_ms": max(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow-cpu", action="store_true", help="Run on the CPU when there is no CUDA.")
    parser.add_argument("--requests", type=int, default=200, help="per scoring mode (auto moves after 32)")
    parser.add_argument("--modes", default="thread,inline,auto", help="scoring modes to check, comma-separated")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=120.0, help="Seconds to wait for the runtime.")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        print("gpu_check: PyTorch is not installed (pip install torch)", file=sys.stderr)
        return 2
    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, cuda available: {cuda}")
    if cuda:
        print(f"device: {torch.cuda.get_device_name(0)}")
    elif not args.allow_cpu:
        print("gpu_check: no CUDA device: torch.cuda.is_available() is False. Run on a machine with an NVIDIA "
              "GPU, its driver and a CUDA build of torch, or pass --allow-cpu for the CPU form of this check.",
              file=sys.stderr)
        return 2

    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    with tempfile.TemporaryDirectory(prefix="shipyard-gpu-check-") as temp:
        folder = Path(temp)
        (folder / "model").mkdir()
        weight, bias = save_model(folder / "model")
        failures = [problem for mode in modes
                    if (problem := check_mode(mode, folder, weight, bias, cuda, args)) is not None]
    for problem in failures:
        print(f"gpu_check: FAILED: {problem}", file=sys.stderr)
    if failures:
        return 1
    print(f"gpu_check: PASSED in scoring modes {', '.join(modes)}")
    return 0


def check_mode(mode: str, folder: Path, weight: np.ndarray, bias: np.ndarray, cuda: bool,
               args: argparse.Namespace) -> str | None:
    """Serve the model in one scoring mode and check it; the problem found, or None."""
    port = free_port()
    log_path = folder / f"runtime-{mode}.log"
    process = start_runtime(folder / "model", port, log_path, "CUDA" if cuda else "CUDA,CPU", cuda, mode)
    try:
        import tritonclient.http as triton

        wait_ready(triton.InferenceServerClient(f"127.0.0.1:{port}"), process, args.timeout)
        outcome = check(f"127.0.0.1:{port}", weight, bias, args.requests, args.batch)
    except Exception as exc:  # noqa: BLE001 - report and show the server's log
        return f"[{mode}] {exc}\n--- runtime log ---\n{log_path.read_text(errors='replace')}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    log = log_path.read_text(errors="replace")
    loaded = [line for line in log.splitlines() if "Loaded" in line]
    parameters = outcome["metadata"].get("parameters", {})
    print(f"[{mode}] runtime: {loaded[-1].strip() if loaded else '(no load line)'}")
    print(f"[{mode}] model metadata: platform={outcome['metadata']['platform']} device={parameters.get('device')} "
          f"execution_providers={parameters.get('execution_providers')}")
    if mode == "auto":
        print(f"[{mode}] moved from the scoring thread to the event loop: {'yes' if MOVED_TO_LOOP in log else 'no'}")
    print(f"[{mode}] {args.requests} requests of batch {args.batch} via tritonclient: p50 {outcome['p50_ms']:.2f} ms, "
          f"max {outcome['max_ms']:.2f} ms, max |error| vs numpy {outcome['max_abs_error']:.2e}")
    expected_device = "cuda" if cuda else "cpu"
    if not str(parameters.get("device", "")).startswith(expected_device):
        return f"[{mode}] the model runs on {parameters.get('device')}, expected {expected_device}"
    if outcome["max_abs_error"] > 1e-3:
        return f"[{mode}] answers differ from numpy (max |error| {outcome['max_abs_error']:.2e})"
    return None


if __name__ == "__main__":
    sys.exit(main())
