"""Benchmark Shipyard's runtime against azureml-inference-server-http and a bare-uvicorn floor.

    python bench/runtime/run.py                     # 1 worker, 3 rounds of 5 s per measurement
    python bench/runtime/run.py --rounds 5 --workers 2 --out results.md

All servers are started first, then measured one after another at each concurrency, round after
round, so the two sides of every comparison are measured seconds apart (see report.py).

Prints the tables and PASS/FAIL for the two goals of issue #2; exits 0 when both pass, 1 when a
goal is missed, 2 when a server answered wrongly or errored under load (the numbers are void).
See docs/benchmarks.md for what is measured and the caveats.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azml_env import ensure_azml_venv, installed_version
from load import Measurement, find_wrk, run_wrk
from report import Key, Results, tables, verdicts
from servers import RunningServer, build_specs
from workload import HERE, prepare


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="whole seconds per measurement (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="whole seconds of unmeasured load first (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, same for every server")
    parser.add_argument("--concurrency", default="1,8,64", help="comma-separated connection counts")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per server and concurrency (default 3)")
    parser.add_argument(
        "--servers",
        default="",
        help="only these server/scenario labels, comma-separated "
        "(shipyard/score, azmlinfsrv/score, uvicorn-floor/constant, shipyard/constant, "
        "azmlinfsrv/constant, shipyard/v2-infer, shipyard-thread/constant)",
    )
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work", help="model, logs, raw results")
    parser.add_argument("--azml-venv", type=Path, default=HERE / ".venv-azml", help="azmlinfsrv's own venv")
    parser.add_argument("--azml-version", default="1.5.1", help="azureml-inference-server-http version")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place wrk and the servers (default, with 2+ CPUs: wrk on CPU 0, servers on the rest)",
    )
    return parser.parse_args(argv)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Which CPUs the load generator and the servers run on (``None``: wherever the scheduler puts them).

    On a small machine the scheduler moves wrk and the server between the same few cores, so each
    request may start on a core whose caches the other process just filled, and how often that
    happens drifts from run to run. Keeping them apart makes the measurement steadier and is the
    same for every server.
    """

    load: set[int] | None
    servers: set[int] | None

    @classmethod
    def choose(cls, pin: bool) -> Placement:
        cpus = sorted(os.sched_getaffinity(0))
        if not pin or len(cpus) < 2:
            return cls(None, None)
        return cls({cpus[0]}, set(cpus[1:]))

    def describe(self) -> str:
        if self.load is None or self.servers is None:
            return "not pinned"
        return f"wrk on CPU {min(self.load)}, servers on CPU {','.join(map(str, sorted(self.servers)))}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.placement = placement = Placement.choose(args.pin)
    wrk = find_wrk()
    concurrencies = [int(part) for part in args.concurrency.split(",") if part.strip()]
    work_dir = args.work_dir.resolve()
    (work_dir / "logs").mkdir(parents=True, exist_ok=True)

    model_dir, workloads, bodies = prepare(work_dir)

    azml_bin = ensure_azml_venv(args.azml_venv.resolve(), args.azml_version)
    specs = build_specs(model_dir, azml_bin, args.workers, workloads)
    if args.servers:
        chosen = {label.strip() for label in args.servers.split(",")}
        unknown = chosen - {spec.label for spec in specs}
        if unknown:
            raise SystemExit(f"error: unknown --servers {sorted(unknown)}; known: {[s.label for s in specs]}")
        specs = [spec for spec in specs if spec.label in chosen]

    measured: dict[Key, list[Measurement]] = defaultdict(list)
    raw: list[dict[str, object]] = []
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        servers = []
        for spec in specs:  # all up at once, so the sides of a comparison are measured seconds apart
            print(f"{spec.label}: starting", file=sys.stderr, flush=True)
            servers.append(stack.enter_context(RunningServer(spec, work_dir / "logs", cpus=placement.servers)))
        for round_number in range(1, args.rounds + 1):
            # Every other round in reverse order: the two sides of a comparison take turns going
            # first, so a machine that speeds up or slows down within a round favours neither.
            order = servers if round_number % 2 else servers[::-1]
            for concurrency in concurrencies:
                for server in order:
                    measurement = measure(server, wrk, bodies[server.spec.workload.name], concurrency, args, work_dir)
                    spec = server.spec
                    raw.append(
                        {"round": round_number, "server": spec.server, "scenario": spec.scenario,
                         "concurrency": concurrency, **measurement.to_dict()}
                    )  # fmt: skip
                    print(
                        f"[round {round_number}] {spec.label} c={concurrency}: {measurement.rps:,.0f} req/s, "
                        f"p50 {measurement.p50_ms:.2f} ms, p99 {measurement.p99_ms:.2f} ms, "
                        f"CPU {measurement.server_cpu_us or 0:,.0f} µs/req, errors {measurement.errors}",
                        file=sys.stderr,
                        flush=True,
                    )
                    if measurement.bad:
                        (work_dir / "raw.json").write_text(json.dumps({"runs": raw}, indent=1))
                        print(
                            f"error: {spec.label} at concurrency {concurrency}: {measurement.errors} (non-2xx, "
                            f"connect or timeout errors void the numbers; see {server.log_path})",
                            file=sys.stderr,
                        )
                        return 2
                    measured[(spec.server, spec.scenario, concurrency)].append(measurement)

    results = Results(measured)
    env = environment(azml_bin, args)
    text = render(results, concurrencies, env)
    (work_dir / "raw.json").write_text(json.dumps({"environment": env, "runs": raw}, indent=1))
    (work_dir / "results.md").write_text(text)
    if args.out:
        args.out.write_text(text)
    print(text)
    print(f"(took {time.monotonic() - started:.0f}s; raw numbers in {work_dir / 'raw.json'})", file=sys.stderr)
    return 0 if all(verdict.passed for verdict in verdicts(results, concurrencies)) else 1


def measure(
    server: RunningServer, wrk: str, body: Path, concurrency: int, args: argparse.Namespace, work_dir: Path
) -> Measurement:
    """Warm up, then measure one server at one concurrency, with its CPU time per request."""
    result_file = work_dir / "wrk-result.json"
    if args.warmup > 0:
        run_wrk(wrk, server.url, body, concurrency, args.warmup, result_file, args.placement.load)
    cpu_before = server.cpu_seconds()
    measurement = run_wrk(wrk, server.url, body, concurrency, args.duration, result_file, args.placement.load)
    cpu_after = server.cpu_seconds()
    if cpu_before is not None and cpu_after is not None and measurement.requests:
        cpu_us = (cpu_after - cpu_before) * 1e6 / measurement.requests
        measurement = dataclasses.replace(measurement, server_cpu_us=cpu_us)
    return measurement


def environment(azml_bin: Path, args: argparse.Namespace) -> dict[str, object]:
    """Versions and machine facts printed with the results, so a reader can reproduce them."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines() if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "shipyard": version("shipyard"),
        "azureml-inference-server-http": installed_version(azml_bin),
        "uvicorn": version("uvicorn"),
        "fastapi": version("fastapi"),
        "uvloop": version("uvloop"),
        "httptools": version("httptools"),
        "onnxruntime": version("onnxruntime"),
        "workers": args.workers,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "cpus pinned": args.placement.describe(),
    }


def render(results: Results, concurrencies: list[int], env: dict[str, object]) -> str:
    facts = ", ".join(f"{key} {value}" for key, value in env.items())
    verdict_lines = "\n".join(f"- {verdict.line()}" for verdict in verdicts(results, concurrencies))
    return f"{tables(results, concurrencies)}\n\n{verdict_lines}\n\n<sub>{facts}</sub>\n"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
