"""Reliability under load: a killed worker costs clients nothing, SIGTERM finishes what it accepted.

Real servers, real signals, real connections from :mod:`tests.fixtures.load`; each run is
bounded in time. Clients open a new connection per request (as the load balancers in front of a
service do), so connections keep arriving while a worker dies and its replacement loads.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.load import run_load
from tests.fixtures.procs import open_fds, rss_bytes
from tests.fixtures.servers import SCRIPTS, RunningServer


def worker_pids(server: RunningServer) -> list[int]:
    """The worker processes of a multi-worker server (the supervisor's children)."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in _cmdline(int(pid))]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def wait_all_ready(server: RunningServer, timeout: float = 30) -> None:
    """Wait until the supervisor reports every worker ready (readiness is 200 once *one* is)."""
    deadline = time.monotonic() + timeout
    while "workers are ready" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


@pytest.fixture
def pid_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pids"
    folder.mkdir()
    return folder


def test_kill_9_of_one_worker_costs_clients_no_503(start_runtime, pid_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # init() takes 2 s, in the replacement too: the window in which it used to take connections
    server = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py",
                           env={"SHIPYARD_WORKERS": "2", "PID_DIR": str(pid_dir), "INIT_SLEEP_S": "2"})
    wait_all_ready(server)
    victim = worker_pids(server)[0]

    def kill_one() -> None:
        os.kill(victim, signal.SIGKILL)

    result = run_load(server.port, clients=16, seconds=6, during=kill_one)
    assert result.statuses[200] > 100, result
    assert result.statuses[503] == 0, result.not_ok
    # Only requests the killed worker had already accepted can fail (at most one per client).
    assert set(result.statuses) == {200} and sum(result.errors.values()) <= 16, result.not_ok
    assert "starting a replacement" in server.log()
    deadline = time.monotonic() + 10
    while len(list(pid_dir.iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(pid_dir.iterdir())) == 3  # the replacement ran init() and serves
    assert server.stop() == 0


def _score_count(server: RunningServer) -> float:
    """``shipyard_requests_total`` for ``POST /score`` 200, summed over all workers, from ``/metrics``."""
    text = httpx.get(server.url + "/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("shipyard_requests_total{") and 'route="/score"' in line and 'status="200"' in line)


def test_sigterm_under_load_answers_every_request_it_accepted(start_runtime, pid_dir: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py",
                           env={"SHIPYARD_WORKERS": "2", "PID_DIR": str(pid_dir)})
    signalled: list[float] = []

    def sigterm() -> None:
        time.sleep(1.0)
        signalled.append(time.monotonic())
        server.process.send_signal(signal.SIGTERM)

    # keep-alive clients: each one's request in flight at the SIGTERM is one a worker accepted
    result = run_load(server.port, clients=16, seconds=4, keep_alive=True, body=b'{"sleep": 0.05}',
                      during=sigterm, record=True)
    assert server.wait_exit(timeout=20) == 0
    assert result.requests is not None and result.statuses[200] > 16
    # Everything sent before the signal (less a 0.1 s margin for the server to have read it) was answered 200.
    before = [outcome for sent, outcome in result.requests if sent < signalled[0] - 0.1]
    assert before and set(before) == {200}, result.not_ok
    assert not any(status >= 500 for status in result.statuses), result.not_ok  # never a 503 on the way out
    # After the drain, new connections are refused at once (nothing left listening), not left hanging.
    assert "TimeoutError" not in result.errors, result.not_ok


@pytest.mark.parametrize(("workers", "keep_alive"), [("1", False), ("2", True)])
def test_max_requests_recycles_workers_without_losing_a_request_or_a_count(start_runtime, pid_dir: Path,  # type: ignore[no-untyped-def]
                                                                            workers: str, keep_alive: bool) -> None:
    server = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py", env={
        "SHIPYARD_WORKERS": workers, "PID_DIR": str(pid_dir), "INIT_SLEEP_S": "0.5",
        "SHIPYARD_MAX_REQUESTS": "100", "SHIPYARD_MAX_REQUESTS_JITTER": "50",
    })
    wait_all_ready(server)
    # under load until a replacement has taken over (and its predecessor drained), at most 40 s
    # (keep-alive clients are told "connection: close" by a retiring worker and move on, none cut off)
    result = run_load(server.port, clients=8, seconds=40, body=b'{"sleep": 0.002}', keep_alive=keep_alive,
                      until=lambda: "after its replacement took over" in server.log())
    assert set(result.statuses) == {200} and not result.errors, result.not_ok
    log = server.log()
    assert "asking for a replacement" in log and "stopped with exit code 0 after its replacement took over" in log
    assert len(list(pid_dir.iterdir())) > int(workers)  # init() ran in the replacement(s)
    time.sleep(0.5)  # the last retired worker flushes on its way out; live ones every 0.2 s
    assert _score_count(server) == result.statuses[200]  # retired workers' counts are still there
    assert server.stop() == 0


def test_memory_ceiling_recycles_a_leaking_worker(start_runtime) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(entry_script=SCRIPTS / "leaky_score.py",
                           env={"SHIPYARD_MAX_WORKER_MEMORY_MB": "300", "LEAK_KB": "4096"})
    # 4 MiB kept per request: past 300 MiB within ~50 requests, unless the worker is replaced
    result = run_load(server.port, clients=2, seconds=40,
                      until=lambda: "after its replacement took over" in server.log())
    assert set(result.statuses) == {200} and not result.errors, result.not_ok
    assert "is above max_worker_memory_mb 300" in server.log()
    assert server.stop() == 0


def test_a_killed_workers_counts_survive_but_its_last_fifth_of_a_second(start_runtime, pid_dir: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py",
                           env={"SHIPYARD_WORKERS": "2", "PID_DIR": str(pid_dir)})
    result = run_load(server.port, clients=4, seconds=1.5)
    assert set(result.statuses) == {200}
    time.sleep(0.6)  # three flush periods: everything is in the shared files now
    for pid in worker_pids(server):
        os.kill(pid, signal.SIGKILL)
    server.wait_ready()  # replacements
    assert _score_count(server) == result.statuses[200]


def test_a_minute_of_64_clients_without_an_error_or_growing_memory(start_runtime, pid_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """The soak, bounded for CI: 60 s, 64 keep-alive clients, two workers (bench/runtime/soak.py runs longer)."""
    server = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py",
                           env={"SHIPYARD_WORKERS": "2", "PID_DIR": str(pid_dir)})
    wait_all_ready(server)
    warm: list[tuple[int, int]] = []

    def sample_when_warm() -> None:
        time.sleep(10)  # allocators, caches and 64 connections' buffers have settled by now
        warm.append((rss_bytes(server.process.pid), open_fds(server.process.pid)))

    result = run_load(server.port, clients=64, seconds=60, keep_alive=True, during=sample_when_warm)
    rss, fds = rss_bytes(server.process.pid), open_fds(server.process.pid)
    assert set(result.statuses) == {200} and not result.errors, result.not_ok
    assert result.answered > 10_000, result  # it really was under load
    (warm_rss, warm_fds), = warm
    assert rss - warm_rss < 16 * 2**20, f"RSS grew from {warm_rss / 2**20:.1f} to {rss / 2**20:.1f} MiB"
    assert fds <= warm_fds + 4, (warm_fds, fds)
