"""Instructions per request, counted by valgrind: Shipyard's constant score.py vs the bare-uvicorn floor.

    python bench/runtime/instructions.py                 # needs valgrind (callgrind) and wrk
    python bench/runtime/instructions.py --seconds 20 --concurrency 64

req/s on a shared or virtual machine drifts by tens of percent within minutes (see RESULTS.md);
the number of instructions a server executes per request does not, to a percent or so. That makes
this the measure to check a change to the runtime's hot path against, before the full benchmark
(``run.py``) confirms it in req/s.

Each server runs under callgrind with instrumentation off (about native speed) until it is up
and has taken a few seconds of load; then instrumentation is switched on (``callgrind_control
-i on``) for ``--seconds`` of wrk load, the counts are dumped, and the instruction total is divided
by the requests answered. What it counts: user-space instructions of the server process, every
thread, Python and C alike. What it does not: the kernel's work (system calls: the floor writes
each response with two ``send()`` calls, Shipyard with one), cache misses, or time spent waiting.

Shipyard runs with ``SHIPYARD_SCORING_MODE=inline``: under valgrind every ``run()`` takes longer
than the millisecond ``auto`` mode allows on the event loop, so ``auto`` would keep calls on the
scoring thread, which a real run of the constant script does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import find_wrk, run_wrk
from servers import RunningServer, build_specs
from workload import HERE, prepare

SERVERS = ("uvicorn-floor/constant", "shipyard/constant")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="seconds of counted load per server (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of uncounted load first (default 3)")
    parser.add_argument("--concurrency", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work", help="model, logs, callgrind files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        print("error: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    wrk = find_wrk()
    work_dir = args.work_dir.resolve()
    (work_dir / "logs").mkdir(parents=True, exist_ok=True)
    model_dir, workloads, bodies = prepare(work_dir)
    body = bodies["constant"]

    specs = {spec.label: spec for spec in build_specs(model_dir, None, 1, workloads)}  # no azmlinfsrv here
    counts: dict[str, tuple[int, int]] = {}
    for label in SERVERS:
        out_file = work_dir / f"callgrind-{label.replace('/', '-')}.out"
        for stale in work_dir.glob(out_file.name + "*"):
            stale.unlink()
        spec = dataclasses.replace(
            specs[label],
            argv=(valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}",
                  *specs[label].argv),
            env={**specs[label].env, "SHIPYARD_SCORING_MODE": "inline"} if label.startswith("shipyard") else
            specs[label].env,
        )  # fmt: skip
        print(f"{label}: starting under callgrind", file=sys.stderr, flush=True)
        with RunningServer(spec, work_dir / "logs", ready_timeout_s=600) as server:
            result_file = work_dir / "wrk-result.json"
            run_wrk(wrk, server.url, body, args.concurrency, args.warmup, result_file)
            subprocess.run([control, "-i", "on", str(server.pid)], check=True, capture_output=True)
            measurement = run_wrk(wrk, server.url, body, args.concurrency, args.seconds, result_file)
            subprocess.run([control, "-d", str(server.pid)], check=True, capture_output=True)
            subprocess.run([control, "-i", "off", str(server.pid)], check=True, capture_output=True)
        if measurement.bad or not measurement.requests:
            print(f"error: {label} answered badly under load: {measurement.errors}", file=sys.stderr)
            return 2
        counts[label] = (_total_instructions(out_file), measurement.requests)
        print(f"{label}: {counts[label][1]} requests counted", file=sys.stderr, flush=True)

    floor_per_request = counts[SERVERS[0]][0] / counts[SERVERS[0]][1]
    print(f"Instructions per request (callgrind, user space, constant score.py, concurrency {args.concurrency})\n")
    print("| server | requests counted | instructions per request | ÷ floor |\n|---|---:|---:|---:|")
    for label, (instructions, requests) in counts.items():
        per_request = instructions / requests
        print(f"| {label} | {requests:,} | {per_request:,.0f} | {per_request / floor_per_request:.2f}× |")
    return 0


def _total_instructions(out_file: Path) -> int:
    """The instruction total of the first dump (``<out>.1``) callgrind wrote on request."""
    dump = out_file.with_name(out_file.name + ".1")
    for line in dump.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no instruction total in {dump}")


if __name__ == "__main__":
    sys.exit(main())
