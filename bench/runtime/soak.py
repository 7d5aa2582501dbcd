"""Soak: a Shipyard runtime under steady load for minutes, watching errors, memory and open files.

    python bench/runtime/soak.py                                  # 5 minutes, 64 clients, 2 workers
    python bench/runtime/soak.py --minutes 30 --clients 16 --workers 1 --kill-every 60

The server is ``python -m shipyard.runtime`` on 127.0.0.1 with a constant ``score.py``; the load
is the Python load generator of the reliability tests (``tests/fixtures/load.py``: closed loop,
keep-alive, every failure counted, never retried), in this process, so on a small machine it
shares the CPUs with the server: the request rate is not the point here, the flat lines are.
Every ``--sample`` seconds one line: requests answered so far, non-200 answers and failures,
the server's RSS (supervisor and workers) and open file descriptors. ``--kill-every N`` also
``kill -9``\\ s one worker every N seconds (the others must absorb it: no 503, see
docs/runtime.md). ``--max-requests`` recycles workers. The last line is the verdict; the run
exits 1 if any request failed (other than those held by a killed worker) or 503'd.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fixtures.load import LoadResult, load  # noqa: E402
from tests.fixtures.procs import open_fds, process_tree, rss_bytes  # noqa: E402
from tests.fixtures.servers import SCRIPTS, start_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between report lines")
    parser.add_argument("--kill-every", type=float, default=0.0, help="kill -9 one worker every N seconds")
    parser.add_argument("--max-requests", type=int, default=0, help="recycle workers after N requests")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="shipyard-soak-"))
    (folder / "model").mkdir()
    (folder / "pids").mkdir()
    env = {"SHIPYARD_WORKERS": str(args.workers), "PID_DIR": str(folder / "pids"), "SHIPYARD_ACCESS_LOG": "false"}
    if args.max_requests:
        env.update(SHIPYARD_MAX_REQUESTS=str(args.max_requests), SHIPYARD_MAX_REQUESTS_JITTER=str(args.max_requests // 10))
    server = start_server(folder, model_dir=folder / "model", entry_script=SCRIPTS / "runtime_pid_score.py", env=env)
    print(f"server pid {server.process.pid} on {server.url}, {args.workers} worker(s); log {server.log_path}")
    seconds = args.minutes * 60
    result = LoadResult()
    stop = threading.Event()
    kills = 0

    def watch() -> None:
        nonlocal kills
        start = last_kill = time.monotonic()
        print(f"{'t (s)':>7} {'answered':>10} {'req/s':>8} {'not 200':>8} {'RSS MiB':>8} {'fds':>5}")
        previous = 0
        while not stop.wait(args.sample):
            now = time.monotonic()
            answered = result.answered
            bad = sum(result.not_ok.values())
            print(f"{now - start:7.0f} {answered:10d} {(answered - previous) / args.sample:8.0f} {bad:8d} "
                  f"{rss_bytes(server.process.pid) / 2**20:8.1f} {open_fds(server.process.pid):5d}", flush=True)
            previous = answered
            if args.kill_every and now - last_kill >= args.kill_every:
                workers = process_tree(server.process.pid)[1:]
                if workers:
                    os.kill(workers[0], signal.SIGKILL)
                    kills += 1
                    last_kill = now

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        final = asyncio.run(load(server.port, clients=args.clients, seconds=seconds, keep_alive=True, result=result))
    finally:
        stop.set()
        server.stop()
    failures = sum(final.errors.values())
    print(f"{final.answered} answers in {final.seconds:.0f} s ({final.answered / final.seconds:.0f} req/s), "
          f"statuses {dict(final.statuses)}, failures {dict(final.errors)}, workers killed {kills}")
    if final.statuses.get(503) or failures > kills * args.clients or set(final.statuses) - {200}:
        print("FAIL: requests failed")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
