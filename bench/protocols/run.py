"""REST JSON, REST binary and gRPC against the same Shipyard server, from the same C load generator.

    python bench/protocols/run.py                          # small model, c = 1, 8, 64, 256; 3 rounds of 5 s
    python bench/protocols/run.py --model mlp --concurrency 8 --duration 10 --rounds 1

One Shipyard server (one worker, ONNX model from bench/batching/models.py served directly, gRPC
on) pinned to the second CPU; h2load (nghttp2's load generator, written in C) pinned to the first,
keeping ``concurrency`` 1-row V2 infer requests in flight in each protocol:

* ``rest-json``: ``POST /v2/models/m/infer`` with JSON tensors, one keep-alive HTTP/1.1
  connection per request in flight (what tritonclient.http's connection pool does);
* ``rest-binary``: the same with Triton's binary tensor extension (what tritonclient.http sends);
* ``grpc``: ``ModelInfer`` with raw tensor contents, every call multiplexed on one HTTP/2
  connection (what one ``tritonclient.grpc`` client, one channel, does);
* ``grpc-conn``: the same, one connection per call in flight (many clients, one call each).

The same generator drives all four, so its own cost is alike. Each round measures every
protocol at every concurrency, in an order that alternates between rounds; the report gives the
median per cell and the median of the per-round gRPC ÷ REST JSON ratios, so drift of the machine
between rounds lands on both sides of a ratio. Before measuring, one answer per protocol is
checked against onnxruntime in-process; after, the server's own metrics must show every gRPC call
answered OK (h2load sees only HTTP statuses, and gRPC errors travel with HTTP 200). Latencies
come from h2load's per-request log. ``--json FILE`` writes the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "runtime"))
sys.path.insert(0, str(HERE.parent / "batching"))
sys.path.insert(0, str(REPO))

from load import group_cpu_seconds  # noqa: E402  (bench/runtime/load.py)
from models import MODELS, make, request_row  # noqa: E402  (bench/batching/models.py)

PROTOCOLS = ("rest-json", "rest-binary", "grpc", "grpc-conn")
INFER_PATH = "/v2/models/m/infer"
GRPC_PATH = "/inference.GRPCInferenceService/ModelInfer"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small", choices=sorted(MODELS))
    parser.add_argument("--concurrency", default="1,8,64,256", help="comma-separated requests in flight")
    parser.add_argument("--duration", type=int, default=5, help="whole seconds per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="whole seconds of unmeasured load first")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per cell (median reported)")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated subset")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="leave CPU placement to the scheduler")
    return parser.parse_args(argv)


def find_h2load() -> str:
    path = shutil.which("h2load")
    if path is None:
        raise SystemExit("h2load is needed (the load generator): apt-get install nghttp2-client, or brew install nghttp2")
    return path


# -- the request bodies ----------------------------------------------------------------------------
def write_bodies(row: np.ndarray, folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """Each protocol's body file and extra headers."""
    from shipyard.runtime.oip_grpc import messages

    raw = row.astype("<f4").tobytes()
    json_body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(row.shape),
                                        "data": row.ravel().tolist()}]}).encode()
    header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(row.shape),
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
    request = messages.ModelInferRequest(model_name="m")
    request.inputs.add(name="x", datatype="FP32", shape=row.shape)
    request.raw_input_contents.append(raw)
    message = request.SerializeToString()
    bodies = {
        "rest-json": (json_body, ["content-type: application/json"]),
        "rest-binary": (header + raw, ["content-type: application/octet-stream",
                                       f"inference-header-content-length: {len(header)}"]),
        "grpc": (struct.pack(">BI", 0, len(message)) + message, ["content-type: application/grpc", "te: trailers"]),
    }
    bodies["grpc-conn"] = bodies["grpc"]
    files = {}
    for protocol, (body, headers) in bodies.items():
        path = folder / f"{protocol}.body"
        path.write_bytes(body)
        files[protocol] = (path, headers)
    return files


def check_answers(protocol: str, port: int, grpc_port: int, body: Path, headers: list[str],
                  expected: np.ndarray) -> None:
    """One request as the load will send it; its answer must match onnxruntime's."""
    if protocol.startswith("grpc"):
        import grpc

        from shipyard.runtime.oip_grpc import messages

        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            call = channel.unary_unary(GRPC_PATH, request_serializer=lambda raw: raw,
                                       response_deserializer=messages.ModelInferResponse.FromString)
            answer = np.frombuffer(call(body.read_bytes()[5:], timeout=30).raw_output_contents[0], dtype="<f4")
    else:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{INFER_PATH}", data=body.read_bytes(),
                                         headers=dict(h.split(": ", 1) for h in headers))
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            length = response.headers.get("inference-header-content-length")
        if length is not None:
            answer = np.frombuffer(payload[int(length):], dtype="<f4")
        else:
            answer = np.asarray(json.loads(payload)["outputs"][0]["data"], dtype=np.float32)
    np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-5)


# -- one measurement -------------------------------------------------------------------------------
def h2load_argv(protocol: str, concurrency: int, port: int, grpc_port: int, body: Path, headers: list[str],
                seconds: int, warmup: int, log: Path) -> list[str]:
    argv = [find_h2load(), "-D", str(seconds), "--warm-up-time", str(warmup), "-d", str(body), "--log-file", str(log)]
    for header in headers:
        argv += ["-H", header]
    if protocol == "grpc":  # one connection, every call a stream on it
        return [*argv, "-c", "1", "-m", str(concurrency), f"http://127.0.0.1:{grpc_port}{GRPC_PATH}"]
    if protocol == "grpc-conn":
        return [*argv, "-c", str(concurrency), "-m", "1", f"http://127.0.0.1:{grpc_port}{GRPC_PATH}"]
    return [*argv, "--h1", "-c", str(concurrency), "-m", "1", f"http://127.0.0.1:{port}{INFER_PATH}"]


def measure(argv: list[str], log: Path, server_pid: int, load_cpus: set[int] | None, seconds: int,
            warmup: int) -> dict[str, float]:
    load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=(lambda: os.sched_setaffinity(0, load_cpus)) if load_cpus else None)
    time.sleep(warmup)  # the server's CPU is read over the measured seconds only (h2load logs only those)
    cpu_before = group_cpu_seconds(server_pid) or 0.0
    stdout, stderr = load.communicate(timeout=seconds * 4 + 60)
    cpu = (group_cpu_seconds(server_pid) or 0.0) - cpu_before
    if load.returncode != 0:
        raise SystemExit(f"h2load failed ({load.returncode}): {stderr[-2000:]}")
    statuses = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", stdout)
    failed = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored",
                       stdout)
    if statuses is None or failed is None:
        raise SystemExit(f"cannot read h2load's summary:\n{stdout[-2000:]}")
    bad = sum(int(n) for n in statuses.groups()[1:]) + int(failed.group(1)) + int(failed.group(2))
    if bad:
        raise SystemExit(f"{bad} requests failed under load; numbers void:\n{stdout[-2000:]}")
    latencies = np.asarray([int(line.split("\t")[2]) for line in log.read_text().splitlines()]) / 1000
    return {"rps": len(latencies) / seconds, "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)), "server_cpu_us": cpu / len(latencies) * 1e6,
            "server_cpu_share": cpu / seconds}


def grpc_statuses(port: int) -> dict[str, float]:
    """ModelInfer calls counted by the server's metrics, per status."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("shipyard_requests_total{") and GRPC_PATH in line:
            status = re.search(r'status="(\d+)"', line)
            if status:
                counts[status.group(1)] = counts.get(status.group(1), 0) + float(line.rsplit(" ", 1)[1])
    return counts


# -- the server ------------------------------------------------------------------------------------
def start_server(model_dir: Path, log: Path, cpus: set[int] | None) -> tuple[subprocess.Popen[bytes], int, int]:
    from tests.fixtures.servers import free_port

    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "SHIPYARD_HOST": "127.0.0.1", "SHIPYARD_PORT": str(port), "SHIPYARD_GRPC_PORT": str(grpc_port),
           "SHIPYARD_MODEL_DIR": str(model_dir), "SHIPYARD_MODEL_NAME": "m", "SHIPYARD_ACCESS_LOG": "false",
           "PYTHONPATH": str(REPO)}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "shipyard.runtime"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=(lambda: os.sched_setaffinity(0, cpus))
                                   if cpus else None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as answer:
                if answer.status == 200:
                    time.sleep(0.5)  # gRPC opens right after readiness
                    return process, port, grpc_port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not get ready; see {log}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    find_h2load()
    model = MODELS[args.model]
    protocols = [p for p in args.protocols.split(",") if p]
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise SystemExit(f"unknown protocol(s) {sorted(unknown)}; choose from {', '.join(PROTOCOLS)}")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    cpus = sorted(os.sched_getaffinity(0))
    load_cpus, server_cpus = ({cpus[0]}, set(cpus[1:])) if args.pin and len(cpus) > 1 else (None, None)
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make(model, work)
        row = request_row(model)
        import onnxruntime

        expected = onnxruntime.InferenceSession(str(model.file(work))).run(None, {"x": row})[0].ravel()
        bodies = write_bodies(row, work)
        process, port, grpc_port = start_server(model.folder(work), work / "server.log", server_cpus)
        try:
            for protocol in protocols:
                check_answers(protocol, port, grpc_port, *bodies[protocol], expected)
            before = grpc_statuses(port)
            cells = [(protocol, c) for c in concurrencies for protocol in protocols]
            for round_number in range(args.rounds):
                for protocol, concurrency in (cells if round_number % 2 == 0 else cells[::-1]):
                    log = work / "h2load.log"
                    log.unlink(missing_ok=True)  # h2load appends
                    body, headers = bodies[protocol]
                    cell = measure(h2load_argv(protocol, concurrency, port, grpc_port, body, headers, args.duration,
                                               args.warmup, log), log, process.pid, load_cpus, args.duration,
                                   args.warmup)
                    results.append({"round": round_number, "protocol": protocol, "concurrency": concurrency, **cell})
                    print(f"  round {round_number} {protocol:<12} c={concurrency:<4} {cell['rps']:8.0f} req/s "
                          f"{cell['server_cpu_us']:6.0f} us CPU/req, server busy {cell['server_cpu_share']:.0%}", file=sys.stderr, flush=True)
            after = grpc_statuses(port)
        finally:
            process.terminate()
            process.wait(timeout=30)
    not_ok = {status: after.get(status, 0) - before.get(status, 0) for status in after if status != "200"}
    if any(not_ok.values()):
        raise SystemExit(f"gRPC calls that did not answer OK under load: {not_ok}; numbers void")
    print(report(results, protocols, concurrencies, args, model, load_cpus, server_cpus))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def report(results: list[dict], protocols: list[str], concurrencies: list[int], args: argparse.Namespace,
           model: object, load_cpus: set[int] | None, server_cpus: set[int] | None) -> str:
    def cells(protocol: str, concurrency: int) -> list[dict]:
        return [r for r in results if r["protocol"] == protocol and r["concurrency"] == concurrency]

    lines = [f"model {model.name} {model.dims}, 1-row requests, {args.rounds} round(s) of {args.duration} s per cell "  # type: ignore[attr-defined]
             f"(medians), h2load on CPU {sorted(load_cpus) if load_cpus else 'any'}, server on "
             f"{sorted(server_cpus) if server_cpus else 'any'}", ""]
    names = {"rest-json": "REST JSON", "rest-binary": "REST binary", "grpc": "gRPC, one connection",
             "grpc-conn": "gRPC, a connection per call"}
    lines.append("| concurrency | " + " | ".join(f"{names[p]} req/s (p50/p99 ms; CPU µs/req)" for p in protocols)
                 + (" | gRPC ÷ REST JSON (per-round median) |" if "grpc" in protocols and "rest-json" in protocols else " |"))
    lines.append("|---:|" + "---:|" * len(protocols) + ("---:|" if "grpc" in protocols and "rest-json" in protocols else ""))
    for concurrency in concurrencies:
        row = []
        for protocol in protocols:
            rows = cells(protocol, concurrency)
            row.append(f"{statistics.median(r['rps'] for r in rows):,.0f} ({statistics.median(r['p50_ms'] for r in rows):.2f}/"
                       f"{statistics.median(r['p99_ms'] for r in rows):.2f}; {statistics.median(r['server_cpu_us'] for r in rows):.0f})")
        line = f"| {concurrency} | " + " | ".join(row) + " |"
        if "grpc" in protocols and "rest-json" in protocols:
            ratios = []
            for number in range(args.rounds):
                grpc_rps = [r["rps"] for r in cells("grpc", concurrency) if r["round"] == number]
                rest_rps = [r["rps"] for r in cells("rest-json", concurrency) if r["round"] == number]
                ratios.append(grpc_rps[0] / rest_rps[0])
            line += f" {statistics.median(ratios):.2f}× ({', '.join(f'{r:.2f}' for r in ratios)}) |"
        lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
