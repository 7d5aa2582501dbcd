"""The load: wrk, a C load generator, driven through post.lua.

A Python load generator would saturate a core long before the servers do, and on a 2-core machine
it would steal the server's CPU; wrk costs a fraction of that. Each measurement is a closed loop:
``concurrency`` connections, each sending its next request as soon as the last one is answered.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from workload import HERE

LUA_SCRIPT = HERE / "post.lua"


@dataclass(frozen=True)
class Measurement:
    """What one wrk run saw."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    server_cpu_us: float | None = None  # server CPU time per request, filled in by run.py

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def bad(self) -> int:
        """Non-2xx/3xx answers, refused connections and timeouts: any of these voids the run."""
        return self.errors["status"] + self.errors["connect"] + self.errors["timeout"]

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "rps": self.rps}


def find_wrk() -> str:
    """Path to wrk, or an error that says how to get it."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(
            "error: the benchmark needs wrk (https://github.com/wg/wrk) on PATH: "
            "`apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)."
        )
    return path


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that confines the child (and what it forks) to *cpus*; ``None`` for no pinning."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def group_cpu_seconds(group: int) -> float | None:
    """CPU time (user + system) used so far by every live process of process group ``group``.

    Linux only (reads /proc); None elsewhere. Servers here are started as their own group, so
    this counts all of a server's processes, workers included.
    """
    if not Path("/proc/self/stat").exists():
        return None
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == group:  # field 5, pgrp
            ticks += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(
    wrk: str, url: str, body_file: Path, concurrency: int, seconds: int, result_file: Path,
    cpus: set[int] | None = None, headers: dict[str, str] | None = None,
) -> Measurement:
    """Load ``url`` for ``seconds`` (whole: wrk has no sub-second unit) with ``concurrency`` connections.

    One wrk thread: it drives tens of thousands of requests a second, more than any server here
    answers, and a second thread would only take CPU from the server. *cpus*: run wrk on these only.
    """
    result_file.unlink(missing_ok=True)
    argv = [
        wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s", "--latency",
        "-s", str(LUA_SCRIPT), url,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_RESULT_FILE": str(result_file), **(headers or {})}
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, preexec_fn=pinned(cpus))
    if completed.returncode != 0 or not result_file.exists():
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    raw = json.loads(result_file.read_text())
    latency = raw["latency_us"]
    return Measurement(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        errors=raw["errors"],
    )
