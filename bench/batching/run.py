"""Model-bound benchmark: Shipyard unbatched and batched, MLServer, BentoML and LitServe, and onnxruntime in-process.

    python bench/batching/run.py                       # everything, one round (~15 minutes)
    python bench/batching/run.py --models small --concurrency 1,64 --duration 3 --servers shipyard,shipyard-batched
    python bench/batching/run.py --paired-rounds 7     # only the ceiling goal: batched vs in-process, paired

Same ONNX models (made by models.py), one worker process each, 1-row requests, wrk closed-loop
load at each concurrency, wrk on its own CPU and every server (all its processes) on the others.
MLServer, BentoML and LitServe run in their own virtualenvs under --venvs, created on first use
with pinned versions. The ceiling is onnxruntime called in-process, pinned like the servers, at
the same batch sizes. Writes results.md, raw.json and batching.png to --work-dir; exits 2 when a
server answered wrongly or with errors under load (the numbers are then void); requests that took
over wrk's 10 s timeout are counted in the table. ``--paired-rounds N`` measures only the goal
"batched Shipyard >= 70 % of the in-process ceiling" (mlp, c=64), alternating the two sides round
by round so that the machine's drift hits both alike. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "runtime"))
sys.path.insert(0, str(HERE))  # first: this folder's report.py, not bench/runtime's

from load import Measurement, find_wrk, group_cpu_seconds, pinned, run_wrk  # noqa: E402  (bench/runtime/load.py)
from models import MODELS, Model, make, request_row  # noqa: E402
from report import paired_summary, render  # noqa: E402

REPO = HERE.parent.parent
PEERS = HERE / "peers"
MAX_BATCH = 64
PEER_DELAY_S = 0.002  # the queue delay the issue gave MLServer (max_batch_time); LitServe's batch_timeout
VENVS = {  # side venv name -> what goes in it (pinned: the versions the results name)
    "bench-mlserver": ["mlserver==1.7.1", "onnxruntime", "numpy"],
    "bench-bentoml": ["bentoml==1.4.40", "onnxruntime", "numpy"],
    "bench-litserve": ["litserve==0.2.19", "onnxruntime", "numpy"],
    "bench-plot": ["matplotlib"],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mlp,small", help="comma-separated: mlp, small")
    parser.add_argument("--servers", default="", help="only these (shipyard, shipyard-batched, shipyard-batched-plain, "
                                                      "mlserver, bentoml, litserve), comma-separated; default all")
    parser.add_argument("--concurrency", default="1,8,64,256", help="comma-separated connection counts")
    parser.add_argument("--duration", type=int, default=5, help="whole seconds per measurement (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="whole seconds of unmeasured load first (default 2)")
    parser.add_argument("--shipyard-delay-us", type=int, default=int(PEER_DELAY_S * 1e6),
                        help="SHIPYARD_MAX_QUEUE_DELAY_US for shipyard-batched (default 2000, the peers' delay)")
    parser.add_argument("--venvs", type=Path, default=Path("/work/venvs"), help="where the peers' venvs live")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work", help="models, logs, results")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin wrk and the servers")
    parser.add_argument("--paired-rounds", type=int, default=0,
                        help="only the in-process goal (mlp, c=64): N rounds of batched Shipyard (REST JSON) and the "
                             "ceiling at batch 64, back to back; per-round ratios and their median (default 0: off)")
    parser.add_argument("--paired-protocol", choices=("json", "binary"), default="json",
                        help="the REST protocol of the paired rounds (default json: the goal cell)")
    return parser.parse_args(argv)


# -- bodies ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Body:
    """One request as a protocol sends it, and how to read ``y`` out of the answer."""

    protocol: str  # "json" or "binary"
    data: bytes
    headers: dict[str, str]
    read: Callable[[bytes, dict[str, str]], np.ndarray]


def v2_json(row: np.ndarray) -> Body:
    document = {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(row.shape), "data": row.ravel().tolist()}]}

    def read(payload: bytes, headers: dict[str, str]) -> np.ndarray:
        return np.asarray(json.loads(payload)["outputs"][0]["data"], dtype=np.float32)

    return Body("json", json.dumps(document).encode(), {"Content-Type": "application/json"}, read)


def v2_binary(row: np.ndarray) -> Body:
    raw = row.astype("<f4").tobytes()
    header = json.dumps({
        "inputs": [{"name": "x", "datatype": "FP32", "shape": list(row.shape), "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
    }).encode()  # fmt: skip

    def read(payload: bytes, headers: dict[str, str]) -> np.ndarray:
        length = int({k.lower(): v for k, v in headers.items()}["inference-header-content-length"])
        return np.frombuffer(payload[length:], dtype="<f4")

    return Body("binary", header + raw, {"Content-Type": "application/octet-stream",
                                          "Inference-Header-Content-Length": str(len(header))}, read)


def x_json(row: np.ndarray, key: str | None) -> Body:
    """``{"x": [[...]]}`` (BentoML, LitServe); the answer is the array itself or ``{key: array}``."""

    def read(payload: bytes, headers: dict[str, str]) -> np.ndarray:
        answer = json.loads(payload)
        return np.asarray(answer[key] if key else answer, dtype=np.float32).ravel()

    return Body("json", json.dumps({"x": row.tolist()}).encode(), {"Content-Type": "application/json"}, read)


# -- servers -----------------------------------------------------------------------------------------
@dataclass
class ServerDef:
    """How to start one server for one model, where to send what, and when it is up."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ready_path: str
    infer_path: str
    bodies: list[Body]
    cwd: Path = REPO
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def server_defs(model: Model, args: argparse.Namespace, work_dir: Path) -> list[ServerDef]:
    row, model_file = request_row(model), model.file(work_dir)
    venv = args.venvs
    shipyard_env = {"SHIPYARD_MODEL_DIR": str(model.folder(work_dir)), "SHIPYARD_MODEL_NAME": model.name,
                    "SHIPYARD_HOST": "127.0.0.1", "SHIPYARD_PORT": "{port}", "SHIPYARD_WORKERS": "1",
                    "SHIPYARD_ACCESS_LOG": "false", "PYTHONPATH": str(REPO)}
    v2_path = f"/v2/models/{model.name}/infer"
    shipyard_bodies = [v2_json(row), v2_binary(row)]
    mlserver_dir = work_dir / f"mlserver-{model.name}"
    peer_env = {"BENCH_MODEL_FILE": str(model_file), "BENCH_MAX_BATCH": str(MAX_BATCH),
                "BENCH_BATCH_TIMEOUT_S": str(PEER_DELAY_S)}
    return [
        ServerDef("shipyard", [sys.executable, "-m", "shipyard.runtime"], shipyard_env,
                  "/v2/health/ready", v2_path, shipyard_bodies),
        ServerDef("shipyard-batched", [sys.executable, "-m", "shipyard.runtime"],
                  {**shipyard_env, "SHIPYARD_MAX_BATCH_SIZE": str(MAX_BATCH),
                   "SHIPYARD_MAX_QUEUE_DELAY_US": str(args.shipyard_delay_us)},
                  "/v2/health/ready", v2_path, shipyard_bodies),
        ServerDef("shipyard-batched-plain", [sys.executable, "-m", "shipyard.runtime"],  # fastpath/ left out
                  {**shipyard_env, "SHIPYARD_MAX_BATCH_SIZE": str(MAX_BATCH),
                   "SHIPYARD_MAX_QUEUE_DELAY_US": str(args.shipyard_delay_us),
                   "SHIPYARD_HTTP_FAST_PATHS": "false", "SHIPYARD_SCORING_MODE": "thread"},
                  "/v2/health/ready", v2_path, [v2_json(row)]),
        ServerDef("mlserver", [str(venv / "bench-mlserver/bin/mlserver"), "start", str(mlserver_dir)],
                  {"PYTHONPATH": str(PEERS), "MLSERVER_HTTP_PORT": "{port}"}, "/v2/health/ready", v2_path,
                  [v2_json(row)], cwd=mlserver_dir),
        ServerDef("bentoml", [str(venv / "bench-bentoml/bin/bentoml"), "serve", "bentoml_service:Model",
                              "--host", "127.0.0.1", "--port", "{port}"],
                  {**peer_env, "BENTOML_HOME": str(work_dir / "bentoml-home"), "BENTOML_DO_NOT_TRACK": "true"},
                  "/readyz", "/predict", [x_json(row, None)], cwd=PEERS),
        ServerDef("litserve", [str(venv / "bench-litserve/bin/python"), "litserve_app.py", "{port}"], peer_env,
                  "/health", "/predict", [x_json(row, "y")], cwd=PEERS),
    ]


def write_mlserver_settings(model: Model, work_dir: Path) -> None:
    folder = work_dir / f"mlserver-{model.name}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps({
        "parallel_workers": 0,  # one process, like every other server here (inference off-loop in a thread)
        "metrics_endpoint": None, "grpc_port": free_port(), "metrics_port": free_port(), "debug": False,
    }))  # fmt: skip
    (folder / "model-settings.json").write_text(json.dumps({
        "name": model.name, "implementation": "mlserver_runtime.OnnxModel",
        "parameters": {"uri": str(model.file(work_dir))},
        "max_batch_size": MAX_BATCH, "max_batch_time": PEER_DELAY_S,
    }))  # fmt: skip


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(server: ServerDef, log_dir: Path, cpus: set[int] | None) -> None:
    server.port = free_port()
    env = {**os.environ, **{key: value.format(port=server.port) for key, value in server.env.items()}}
    argv = [part.format(port=server.port) for part in server.argv]
    log = open(log_dir / f"{server.name}.log", "ab")  # noqa: SIM115 - kept open for the child's life
    server.process = subprocess.Popen(argv, env=env, cwd=server.cwd, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True, preexec_fn=pinned(cpus))


def wait_ready(server: ServerDef, log_dir: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited; see {log_dir / (server.name + '.log')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{server.ready_path}", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f} s; see {log_dir / (server.name + '.log')}")


def infer_request(server: ServerDef, body: Body) -> urllib.request.Request:
    return urllib.request.Request(f"http://127.0.0.1:{server.port}{server.infer_path}", data=body.data,
                                  method="POST", headers=body.headers)


def check_answer(server: ServerDef, body: Body, expected: np.ndarray) -> None:
    with urllib.request.urlopen(infer_request(server, body), timeout=60) as answer:
        got = body.read(answer.read(), dict(answer.headers))
    if got.shape != expected.ravel().shape or not np.allclose(got, expected.ravel(), rtol=1e-3, atol=1e-4):
        raise RuntimeError(f"{server.name} ({body.protocol}) answered {got[:4]}..., expected {expected.ravel()[:4]}...")


def stop(server: ServerDef) -> None:
    process = server.process
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def serving(server: ServerDef, model: Model, work_dir: Path, cpus: set[int] | None,
            expected: np.ndarray) -> Iterator[ServerDef]:
    """``server`` started on ``cpus``, up, and checked for the right answer to every body; stopped after."""
    start(server, work_dir / "logs", cpus)
    try:
        wait_ready(server, work_dir / "logs")
        for body in server.bodies:
            check_answer(server, body, expected)
        print(f"{model.name}: {server.name} up and right", file=sys.stderr, flush=True)
        yield server
    finally:
        stop(server)


def expected_answer(model: Model, work_dir: Path) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(model.file(work_dir))).run(None, {"x": request_row(model)})[0]


# -- venvs and the in-process ceiling -------------------------------------------------------------
def ensure_venv(root: Path, name: str) -> Path:
    """``root/name``, created with its pinned packages on first use."""
    folder = root / name
    python = folder / "bin" / "python"
    if not python.exists():
        print(f"creating {folder} ({', '.join(VENVS[name])})", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *VENVS[name]], check=True)
    return python


def in_process_argv(model: Model, work_dir: Path, *rest: str) -> list[str]:
    return [sys.executable, str(HERE / "inprocess.py"), str(model.file(work_dir)), *rest]


def in_process(model: Model, work_dir: Path, batches: list[int], seconds: float, cpus: set[int] | None) -> dict:
    """onnxruntime's rows/s at each batch size, in a process pinned like the servers (inprocess.py)."""
    argv = in_process_argv(model, work_dir, ",".join(map(str, batches)), str(seconds))
    completed = subprocess.run(argv, capture_output=True, text=True, check=True, preexec_fn=pinned(cpus))
    return json.loads(completed.stdout)


class CeilingRunner:
    """``inprocess.py --serve``: one pinned process that keeps its sessions and measures on request.

    Between requests it is blocked reading its input, so it takes no CPU while a server is measured.
    """

    def __init__(self, model: Model, work_dir: Path, cpus: set[int] | None) -> None:
        self.process = subprocess.Popen(in_process_argv(model, work_dir, "--serve"), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, preexec_fn=pinned(cpus))
        self._answer()  # {"ready": ...}: its sessions are made, so that work is not done while the server is loaded

    def measure(self, batch: int, seconds: float) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{batch} {seconds}\n")
        self.process.stdin.flush()
        return self._answer()

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"inprocess.py --serve ended (exit status {self.process.wait()}); its error is above")
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the run -------------------------------------------------------------------------------------------
def measure(wrk: str, server: ServerDef, body: Body, concurrency: int, args: argparse.Namespace,
            work_dir: Path, cpus: set[int] | None) -> Measurement:
    body_file = work_dir / f"body-{server.name}-{body.protocol}.bin"
    body_file.write_bytes(body.data)
    headers = {"BENCH_CONTENT_TYPE": body.headers["Content-Type"]}
    if "Inference-Header-Content-Length" in body.headers:
        headers["BENCH_HEADER_LENGTH"] = body.headers["Inference-Header-Content-Length"]
    url = f"http://127.0.0.1:{server.port}{server.infer_path}"
    result = work_dir / "wrk-result.json"
    if args.warmup:
        run_wrk(wrk, url, body_file, concurrency, args.warmup, result, cpus, headers)
        drain(server, body)  # so the measurement does not start behind the warm-up's backlog
    assert server.process is not None
    cpu_before = group_cpu_seconds(server.process.pid)
    measurement = run_wrk(wrk, url, body_file, concurrency, args.duration, result, cpus, headers)
    cpu_after = group_cpu_seconds(server.process.pid)
    if cpu_before is None or cpu_after is None or not measurement.requests:
        return measurement
    return dataclasses.replace(measurement, server_cpu_us=(cpu_after - cpu_before) / measurement.requests * 1e6)


def drain(server: ServerDef, body: Body) -> None:
    """Wait until one more request gets through ``server``.

    wrk leaves with requests still queued in the server (a closed connection does not stop a request
    that is being scored); what comes next would run behind that backlog (seconds, for an unbatched
    model-bound server).
    """
    with urllib.request.urlopen(infer_request(server, body), timeout=120) as answer:
        answer.read()


GOAL = ("mlp", "shipyard-batched", "json", MAX_BATCH)  # model, server, protocol, concurrency = ceiling's batch


def run_paired(args: argparse.Namespace, wrk: str, work_dir: Path, raw: dict, load_cpus: set[int] | None,
               server_cpus: set[int] | None) -> int:
    """The in-process goal, paired: per round, batched Shipyard at c=64 and the ceiling at batch 64.

    Both are measured seconds apart on the same CPU, so a slower machine (the host's drift, another
    process on that CPU) weighs on both sides of a round's ratio; the median over rounds is the
    verdict. The side that goes first alternates, so a trend within a round does not favour one.
    The server and the ceiling's process stay up across rounds, each idle while the other runs.
    """
    model_name, server_name, _, concurrency = GOAL
    protocol = args.paired_protocol
    model = MODELS[model_name]
    make(model, work_dir)
    server = next(s for s in server_defs(model, args, work_dir) if s.name == server_name)
    body = next(b for b in server.bodies if b.protocol == protocol)
    server.bodies = [body]  # check (and measure) only what the goal names
    rounds: list[dict] = []
    raw["paired"] = {"model": model_name, "server": server_name, "protocol": protocol, "concurrency": concurrency,
                     "rounds": rounds}
    with contextlib.ExitStack() as stack:
        stack.enter_context(serving(server, model, work_dir, server_cpus, expected_answer(model, work_dir)))
        ceiling = CeilingRunner(model, work_dir, server_cpus)
        stack.callback(ceiling.close)
        for index in range(args.paired_rounds):
            sides = ["shipyard", "ceiling"] if index % 2 == 0 else ["ceiling", "shipyard"]
            entry: dict = {"round": index + 1, "order": sides, "load_avg": [os.getloadavg()[0]]}
            for side in sides:
                if side == "shipyard":
                    entry["shipyard"] = measure(wrk, server, body, concurrency, args, work_dir, load_cpus).to_dict()
                    drain(server, body)  # the server idle before the ceiling runs
                else:
                    entry["ceiling"] = ceiling.measure(concurrency, args.duration)
            entry["load_avg"].append(os.getloadavg()[0])
            shipyard = entry["shipyard"]
            if shipyard["server_cpu_us"] is not None:  # like the ceiling's: ~1.0 when it had its CPU alone
                shipyard["cpu_share"] = round(shipyard["server_cpu_us"] * shipyard["requests"] / 1e6
                                              / shipyard["seconds"], 3)
            entry["ratio"] = shipyard["rps"] / entry["ceiling"]["rows_per_s"]
            rounds.append(entry)
            print(f"round {index + 1}: {server_name} {shipyard['rps']:,.0f} req/s (CPU share "
                  f"{shipyard.get('cpu_share', float('nan')):.3f}), in-process "
                  f"{entry['ceiling']['rows_per_s']:,.0f} rows/s (CPU share {entry['ceiling']['cpu_share']:.3f}): "
                  f"{entry['ratio']:.0%}", file=sys.stderr, flush=True)
            (work_dir / "raw.json").write_text(json.dumps(raw, indent=1))
            errors = entry["shipyard"]["errors"]
            if errors["status"] or errors["connect"]:
                print(f"error: {server_name} failed under load ({errors}); numbers void", file=sys.stderr)
                return 2
    raw["paired"]["summary"] = paired_summary(rounds)
    return 0


def main(argv: list[str] | None = None) -> int:
    import onnxruntime

    args = parse_args(argv)
    wrk = find_wrk()
    work_dir = args.work_dir.resolve()
    (work_dir / "logs").mkdir(parents=True, exist_ok=True)
    load_cpus, server_cpus = placement(args.pin)
    raw: dict = {"environment": environment(args, load_cpus, server_cpus, onnxruntime.__version__), "runs": [],
                 "in_process": {}}
    started = time.monotonic()
    if args.paired_rounds:
        status = run_paired(args, wrk, work_dir, raw, load_cpus, server_cpus)
        return status or write_report(raw, work_dir, started)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    wanted = {name.strip() for name in args.servers.split(",") if name.strip()}
    for name in ("bench-mlserver", "bench-bentoml", "bench-litserve"):
        if not wanted or name.removeprefix("bench-") in wanted:
            ensure_venv(args.venvs, name)
    plot_python = ensure_venv(args.venvs, "bench-plot")
    for model_name in args.models.split(","):
        model = MODELS[model_name.strip()]
        make(model, work_dir)
        write_mlserver_settings(model, work_dir)
        print(f"{model.name}: onnxruntime in-process ...", file=sys.stderr, flush=True)
        raw["in_process"][model.name] = in_process(model, work_dir, concurrencies, args.duration, server_cpus)
        expected = expected_answer(model, work_dir)
        servers = [s for s in server_defs(model, args, work_dir) if not wanted or s.name in wanted]
        # One server at a time: an idle server is not free (LitServe's worker polls its queue: ~11 % of
        # a CPU here), and every server shares the servers' CPU with whatever else is up.
        for server in servers:
            with serving(server, model, work_dir, server_cpus, expected):
                for concurrency in concurrencies:
                    for body in server.bodies:
                        load_before = os.getloadavg()[0]
                        measurement = measure(wrk, server, body, concurrency, args, work_dir, load_cpus)
                        run = {"model": model.name, "server": server.name, "protocol": body.protocol,
                               "concurrency": concurrency, "load_avg": [load_before, os.getloadavg()[0]],
                               **measurement.to_dict()}
                        raw["runs"].append(run)
                        print(f"{model.name} {server.name}/{body.protocol} c={concurrency}: {measurement.rps:,.0f} "
                              f"req/s, p50 {measurement.p50_ms:.1f} ms, p99 {measurement.p99_ms:.1f} ms, "
                              f"errors {measurement.errors}, load {load_before:.1f}", file=sys.stderr, flush=True)
                        (work_dir / "raw.json").write_text(json.dumps(raw, indent=1))
                        if measurement.errors["status"] or measurement.errors["connect"]:
                            print(f"error: {server.name} failed under load ({measurement.errors}); numbers void",
                                  file=sys.stderr)
                            return 2  # timeouts (wrk's 10 s) are reported in the table instead: slow, not wrong
    return write_report(raw, work_dir, started, plot_python)


def write_report(raw: dict, work_dir: Path, started: float, plot_python: Path | None = None) -> int:
    """Write raw.json and results.md (and batching.png with ``plot_python``), print the tables; 0."""
    raw["environment"]["took_s"] = round(time.monotonic() - started)
    (work_dir / "raw.json").write_text(json.dumps(raw, indent=1))
    text = render(raw)
    (work_dir / "results.md").write_text(text)
    written = [work_dir / "raw.json", work_dir / "results.md"]
    if plot_python is not None:
        written.append(work_dir / "batching.png")
        subprocess.run([str(plot_python), str(HERE / "plot.py"), str(written[0]), str(written[-1])], check=True)
    print(text)
    print(f"(took {time.monotonic() - started:.0f} s; {', '.join(map(str, written))})", file=sys.stderr)
    return 0


def placement(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(wrk's CPUs, the servers' and the ceiling's CPUs): the first CPU and the others; (None, None) unpinned."""
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, set(cpus[1:])) if pin and len(cpus) > 1 else (None, None)


def environment(args: argparse.Namespace, load_cpus: set[int] | None, server_cpus: set[int] | None,
                ort_version: str) -> dict:
    import platform
    from datetime import datetime, timezone

    def peer_version(venv: str, package: str) -> str:
        python = args.venvs / venv / "bin" / "python"
        if not python.exists():
            return "not installed"
        code = f"from importlib.metadata import version; print(version('{package}'))"
        return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(), "python": platform.python_version(), "onnxruntime": ort_version,
        "placement": f"wrk on CPU {sorted(load_cpus)}, servers and in-process on CPU {sorted(server_cpus)}"
        if load_cpus else "not pinned",
        "load_avg_at_start": os.getloadavg(), "shipyard_delay_us": args.shipyard_delay_us,
        "mlserver": peer_version("bench-mlserver", "mlserver"), "bentoml": peer_version("bench-bentoml", "bentoml"),
        "litserve": peer_version("bench-litserve", "litserve"),
        "settings": f"1 worker each; batch max {MAX_BATCH}; Shipyard queue delay {args.shipyard_delay_us} us; "
                    f"MLServer max_batch_time / LitServe batch_timeout {PEER_DELAY_S * 1000:g} ms; BentoML adaptive; "
                    f"{args.warmup} s warm-up + {args.duration} s per measurement",
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
