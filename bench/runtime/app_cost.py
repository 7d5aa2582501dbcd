"""CPU cost of Shipyard's ASGI app per request, without sockets, uvicorn or a load generator.

    python bench/runtime/app_cost.py                      # constant score.py, access log on
    python bench/runtime/app_cost.py --no-access-log --script score_onnx.py

The app is called directly, ``requests`` times, by 1 and by 8 concurrent callers, and the
process's CPU time is divided by the number of requests; the bare ASGI floor app is measured the
same way. What uvicorn, httptools and the kernel cost is the same for every app, so the
difference is exactly what Shipyard adds per request. The minimum over ``--repeat`` runs is
reported: on a shared machine, other programs only ever make a run slower, never faster. Use it
to check a change to the runtime in seconds, before the full benchmark (run.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import floor_app
from workload import MODEL_NAME, make_model, score_workload


def scope(body: bytes) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:5001"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/score", "raw_path": b"/score", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 5001),
    }  # fmt: skip


async def call(app: Any, body: bytes) -> None:
    """One POST /score through the app; fails loudly unless it answers 200."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(body), receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"the app answered {sent[0]['status']}: {sent[-1].get('body', b'')[:300]!r}")


async def cost(app: Any, body: bytes, requests: int, concurrency: int) -> float:
    """CPU microseconds per request (every thread of this process counts)."""

    async def caller(count: int) -> None:
        for _ in range(count):
            await call(app, body)

    started = time.process_time()
    await asyncio.gather(*(caller(requests // concurrency) for _ in range(concurrency)))
    return (time.process_time() - started) / requests * 1e6


async def measure(args: argparse.Namespace, model_dir: Path, body: bytes) -> None:
    from shipyard.runtime.app import create_app
    from shipyard.runtime.settings import RuntimeSettings

    settings = RuntimeSettings(
        model_dir=model_dir, entry_script=HERE / args.script, access_log=not args.no_access_log
    )
    app = create_app(settings)
    await app.state.dataplane.load()
    apps = {"uvicorn floor app": floor_app.app, f"shipyard ({args.script})": app}
    for concurrency in (1, 8):
        for name, candidate in apps.items():
            await cost(candidate, body, 500, concurrency)  # warm-up
            best = min([await cost(candidate, body, args.requests, concurrency) for _ in range(args.repeat)])
            print(f"c={concurrency}  {name:32s} {best:8.1f} µs CPU per request", file=sys.__stdout__, flush=True)
    await app.state.dataplane.close()
    logging.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="score_constant.py", help="score.py in bench/runtime/")
    parser.add_argument("--no-access-log", action="store_true", help="SHIPYARD_ACCESS_LOG=false")
    parser.add_argument("--requests", type=int, default=4000, help="requests per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs; the fastest counts")
    args = parser.parse_args()
    from shipyard.runtime.logconfig import configure_logging

    model_dir = HERE / ".work" / MODEL_NAME
    body = score_workload(make_model(model_dir)).body
    # The log goes where run.py sends it: a file, not a terminal.
    sys.stderr = open(model_dir.parent / "app_cost.log", "w")  # noqa: SIM115 - lives as long as the process
    configure_logging("info", "console")
    try:
        import uvloop
    except ImportError:  # uvicorn's "auto" loop falls back to asyncio the same way
        asyncio.run(measure(args, model_dir, body))
    else:
        uvloop.run(measure(args, model_dir, body))


if __name__ == "__main__":
    main()
