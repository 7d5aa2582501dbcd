"""REST JSON, REST binary and gRPC against the same Shipyard server, from the same load generator.

    python bench/protocols/run.py                          # small model, c = 1, 8, 64; 5 s each
    python bench/protocols/run.py --model mlp --concurrency 8 --duration 10

One Shipyard server (one worker, ONNX model from bench/batching/models.py served directly, gRPC
on) on the second CPU; one Python asyncio load generator on the first CPU that keeps
``concurrency`` 1-row V2 infer requests in flight for ``duration`` seconds in each protocol:

* ``rest-json``: ``POST /v2/models/m/infer`` with JSON tensors, over raw keep-alive HTTP/1.1 connections;
* ``rest-binary``: the same with Triton's binary tensor extension (what tritonclient.http sends);
* ``grpc``: ``ModelInfer`` with raw tensor contents (what tritonclient.grpc sends), over
  ``min(concurrency, 8)`` channels.

Every answer is checked against onnxruntime in-process. The same client code path (asyncio, one
process) drives all three, so the client's own cost is alike across protocols; wrk is not used
because it speaks no gRPC. Prints a markdown table; ``--json FILE`` writes the raw numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "batching"))
sys.path.insert(0, str(REPO))

from models import MODELS, make, request_row  # noqa: E402  (bench/batching/models.py)

PROTOCOLS = ("rest-json", "rest-binary", "grpc")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small", choices=sorted(MODELS))
    parser.add_argument("--concurrency", default="1,8,64", help="comma-separated requests in flight")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="leave CPU placement to the scheduler")
    return parser.parse_args(argv)


# -- one request per protocol ------------------------------------------------------------------------
def rest_request(row: np.ndarray, port: int, binary: bool) -> bytes:
    if binary:
        raw = row.astype("<f4").tobytes()
        header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(row.shape),
                                         "parameters": {"binary_data_size": len(raw)}}],
                             "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
        body, extra = header + raw, f"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {len(header)}\r\n"
    else:
        body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(row.shape),
                                       "data": row.ravel().tolist()}]}).encode()
        extra = "Content-Type: application/json\r\n"
    head = (f"POST /v2/models/m/infer HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def read_rest_answer(headers: dict[str, str], payload: bytes, binary: bool) -> np.ndarray:
    if binary:
        length = int(headers["inference-header-content-length"])
        return np.frombuffer(payload[length:], dtype="<f4")
    return np.asarray(json.loads(payload)["outputs"][0]["data"], dtype=np.float32)


async def rest_worker(port: int, request: bytes, binary: bool, stop: float, latencies: list[float],
                      answers: list[np.ndarray]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            payload = await reader.readexactly(int(headers["content-length"]))
            if b" 200 " not in status_line:
                raise RuntimeError(f"{status_line!r}: {payload[:200]!r}")
            latencies.append(time.perf_counter() - started)
            if len(answers) < 3:
                answers.append(read_rest_answer(headers, payload, binary))
    finally:
        writer.close()


async def grpc_worker(call, request, stop: float, latencies: list[float], answers: list[np.ndarray]) -> None:
    while time.perf_counter() < stop:
        started = time.perf_counter()
        response = await call(request, timeout=30)
        latencies.append(time.perf_counter() - started)
        if len(answers) < 3:
            answers.append(np.frombuffer(response.raw_output_contents[0], dtype="<f4"))


async def measure(protocol: str, port: int, grpc_port: int, row: np.ndarray, concurrency: int,
                  seconds: float) -> tuple[list[float], list[np.ndarray]]:
    latencies: list[float] = []
    answers: list[np.ndarray] = []
    stop = time.perf_counter() + seconds
    if protocol == "grpc":
        from grpc import aio

        from shipyard.runtime.oip_grpc import messages

        request = messages.ModelInferRequest(model_name="m")
        request.inputs.add(name="x", datatype="FP32", shape=row.shape)
        request.raw_input_contents.append(row.astype("<f4").tobytes())
        channels = [aio.insecure_channel(f"127.0.0.1:{grpc_port}") for _ in range(min(concurrency, 8))]
        calls = [channel.unary_unary(f"/{messages.SERVICE}/ModelInfer",
                                     request_serializer=messages.ModelInferRequest.SerializeToString,
                                     response_deserializer=messages.ModelInferResponse.FromString)
                 for channel in channels]
        try:
            await asyncio.gather(*(grpc_worker(calls[i % len(calls)], request, stop, latencies, answers)
                                   for i in range(concurrency)))
        finally:
            for channel in channels:
                await channel.close()
    else:
        binary = protocol == "rest-binary"
        request = rest_request(row, port, binary)
        await asyncio.gather(*(rest_worker(port, request, binary, stop, latencies, answers)
                               for _ in range(concurrency)))
    return latencies, answers


# -- the server ----------------------------------------------------------------------------------------
def start_server(model_dir: Path, log: Path, cpus: set[int] | None) -> tuple[subprocess.Popen[bytes], int, int]:
    from tests.fixtures.servers import free_port

    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "SHIPYARD_HOST": "127.0.0.1", "SHIPYARD_PORT": str(port), "SHIPYARD_GRPC_PORT": str(grpc_port),
           "SHIPYARD_MODEL_DIR": str(model_dir), "SHIPYARD_MODEL_NAME": "m", "SHIPYARD_ACCESS_LOG": "false",
           "PYTHONPATH": str(REPO)}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "shipyard.runtime"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, preexec_fn=(lambda: os.sched_setaffinity(0, cpus))
                                   if cpus else None)
    import urllib.request

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
    model = MODELS[args.model]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    cpus = sorted(os.sched_getaffinity(0))
    load_cpus, server_cpus = ({cpus[0]}, set(cpus[1:])) if args.pin and len(cpus) > 1 else (None, None)
    if load_cpus:
        os.sched_setaffinity(0, load_cpus)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make(model, work)
        row = request_row(model)
        import onnxruntime

        expected = onnxruntime.InferenceSession(str(model.file(work))).run(None, {"x": row})[0].ravel()
        process, port, grpc_port = start_server(model.folder(work), work / "server.log", server_cpus)
        results = []
        try:
            for concurrency in concurrencies:
                for protocol in PROTOCOLS:
                    asyncio.run(measure(protocol, port, grpc_port, row, concurrency, args.warmup))
                    latencies, answers = asyncio.run(measure(protocol, port, grpc_port, row, concurrency, args.duration))
                    for answer in answers:
                        np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-5)
                    ms = np.asarray(latencies) * 1000
                    results.append({"protocol": protocol, "concurrency": concurrency, "requests": len(latencies),
                                    "rps": len(latencies) / args.duration, "p50_ms": float(np.percentile(ms, 50)),
                                    "p99_ms": float(np.percentile(ms, 99))})
                    print(f"  {protocol:<12} c={concurrency:<4} {results[-1]['rps']:8.0f} req/s", file=sys.stderr)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"model {model.name} {model.dims}, 1-row requests, {args.duration:g} s each, load generator on CPU "
          f"{sorted(load_cpus) if load_cpus else 'any'}, server on {sorted(server_cpus) if server_cpus else 'any'}\n")
    print("| concurrency | REST JSON req/s (p50/p99 ms) | REST binary req/s (p50/p99 ms) | gRPC req/s (p50/p99 ms) | gRPC ÷ REST JSON |")
    print("|---:|---:|---:|---:|---:|")
    for concurrency in concurrencies:
        row_results = {r["protocol"]: r for r in results if r["concurrency"] == concurrency}
        cells = [f"{row_results[p]['rps']:,.0f} ({row_results[p]['p50_ms']:.2f}/{row_results[p]['p99_ms']:.2f})"
                 for p in PROTOCOLS]
        ratio = row_results["grpc"]["rps"] / row_results["rest-json"]["rps"]
        print(f"| {concurrency} | {' | '.join(cells)} | {ratio:.2f}× |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
