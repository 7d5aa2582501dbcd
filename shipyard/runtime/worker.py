"""One worker process: the FastAPI app under uvicorn on an already-bound socket.

Kept apart from :mod:`shipyard.runtime.server` and :mod:`shipyard.runtime.supervisor` so the
supervisor process never imports FastAPI, numpy or the model's libraries: it only starts and
watches workers, and starts fast.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import uvicorn

from shipyard.errors import ModelLoadError
from shipyard.runtime import response_cycle
from shipyard.runtime.app import create_app
from shipyard.runtime.held_log import HeldStartupLog
from shipyard.runtime.settings import RuntimeSettings
from shipyard.runtime.transport import CoalescingHTTPProtocol


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising the signal after a graceful shutdown.

    uvicorn re-delivers SIGTERM to itself once it has drained, so the process dies "by signal"
    (exit status 143) and skips the caller's cleanup. A drained shutdown is a success: exit 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def run_worker(settings: RuntimeSettings, sock: socket.socket, on_ready: Callable[[], None] | None = None,
               health_sock: socket.socket | None = None) -> None:
    """Serve on *sock* (and *health_sock*, the separate health port, if any) in this process until told to stop.

    Raises:
        ModelLoadError: the model failed to load; the server stopped instead of staying half-up.
    """
    failures: list[ModelLoadError] = []
    server: _Server | None = None
    startup_log = HeldStartupLog()  # uvicorn's start/stop lines: shown only for a process that serves

    def load_failed(exc: ModelLoadError) -> None:
        failures.append(exc)
        startup_log.drop()
        if server is not None:
            server.should_exit = True

    def ready() -> None:
        # Everything alive now (modules, the model) lives as long as the process: keep it out of
        # the garbage collector's full scans, which otherwise grow with the model's object graph.
        gc.freeze()
        startup_log.release()
        if on_ready is not None:
            on_ready()

    response_cycle.install()  # the usual answer's head in a few C-level passes (checked against uvicorn's)
    app = create_app(settings, on_ready=ready, on_load_failed=load_failed)
    config = uvicorn.Config(
        app.server_entry(),  # the runtime middleware itself: one coroutine layer less per request
        loop="auto",  # uvloop when installed
        http=CoalescingHTTPProtocol,  # uvicorn's (httptools when installed), one write per response
        interface="asgi3",
        lifespan="on",
        access_log=False,  # RuntimeMiddleware writes the access log, with the request id
        server_header=False,  # no "server: uvicorn": one header less per answer, nothing to fingerprint
        # X-Forwarded-* only from the proxies named: uvicorn trusts 127.0.0.1 by default, which no
        # container's peer is, and its check costs every request a pass over the headers.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        log_config=None,  # logging was configured by the entry point
        timeout_graceful_shutdown=settings.graceful_timeout_s,
    )
    server = _Server(config)
    with startup_log:
        server.run(sockets=[sock] if health_sock is None else [sock, health_sock])
    if failures:
        raise failures[0]
