"""One worker process: the FastAPI app under uvicorn on an already-bound socket.

Kept apart from :mod:`shipyard.runtime.server` and :mod:`shipyard.runtime.supervisor` so the
supervisor process never imports FastAPI, numpy or the model's libraries: it only starts and
watches workers, and starts fast.

While its model loads, a worker takes connections only as long as no other worker of its group
is ready (``others_ready``):

- while none is (a lone worker, a cold start, a replacement for the last ready worker), it
  accepts at once: someone must answer liveness probes during a slow ``init()``, and readiness
  says 503 until a model is loaded;
- while another worker is ready (a replacement after a crash or a recycle, the slower workers of
  a cold start), it stays off the shared socket until its model is loaded, so every new
  connection goes to a worker that can score it and a restart costs the clients nothing. As
  gunicorn does, whose workers load the app before their accept loop starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from shipyard.errors import ModelLoadError
from shipyard.runtime import client_limits
from shipyard.runtime.app import create_app
from shipyard.runtime.fastpath import response_cycle
from shipyard.runtime.fastpath.transport import CoalescingHTTPProtocol
from shipyard.runtime.held_log import HeldStartupLog
from shipyard.runtime.recycling import RecyclePolicy
from shipyard.runtime.settings import RuntimeSettings

ACCEPTED_GRACE_S = 0.25
"""On a graceful stop, how long connections keep being served (each answer closing its connection)
before the idle ones are closed."""


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising the signal after a graceful shutdown.

    uvicorn re-delivers SIGTERM to itself once it has drained, so the process dies "by signal"
    (exit status 143) and skips the caller's cleanup. A drained shutdown is a success: exit 0.

    Also: while its model loads it listens only while no other worker is ready (see the module
    docstring), and ten times a second it asks its recycle policy whether it is time to be replaced.
    """

    def __init__(self, config: uvicorn.Config, *, others_ready: Callable[[], bool] | None = None,
                 recycle: RecyclePolicy | None = None) -> None:
        super().__init__(config)
        self.others_ready = others_ready
        self.model_ready = False
        self.recycle = recycle
        self.servers: list[asyncio.base_events.Server] = []

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's startup without listeners: the lifespan starts loading the model...
        await super().startup(sockets=[])
        # ...while it loads, take connections only while no other worker is ready...
        while not (self.model_ready or self.should_exit):
            await self._listen(sockets or [], self.others_ready is None or not self.others_ready())
            await asyncio.sleep(0.02)
        if not self.should_exit:  # ...and from the moment it is loaded, always
            await self._listen(sockets or [], True)

    async def _listen(self, sockets: list[socket.socket], wanted: bool) -> None:
        """Start or stop accepting on *sockets* (each listener gets its own duplicate: closing one
        closes its socket, and the original must stay open for the next time)."""
        if not wanted:
            for server in self.servers:
                server.close()
            self.servers = []
            return
        if self.servers:
            return
        config, loop = self.config, asyncio.get_running_loop()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]  # as uvicorn's startup() does
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=_loop
            )

        self.servers = [await loop.create_server(create_protocol, sock=sock.dup(), backlog=config.backlog)
                        for sock in sockets]

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Stop accepting, and for a moment keep serving: every answer now says "connection: close"
        # (uvicorn adds its default headers to each, and closes after one that says so), so
        # keep-alive clients move to another worker after their next answer, and connections
        # accepted a moment ago deliver their request. Only then does uvicorn close the
        # connections with no request in progress: a request sent on one just then would be lost.
        for server in self.servers:
            server.close()
        self.server_state.default_headers = [*self.server_state.default_headers, (b"connection", b"close")]
        await asyncio.sleep(ACCEPTED_GRACE_S)
        await super().shutdown(sockets=sockets)

    async def on_tick(self, counter: int) -> bool:
        if self.recycle is not None and self.model_ready:  # every 0.1 s; memory once a second
            self.recycle.check(self.server_state.total_requests, memory=counter % 10 == 0)
        return await super().on_tick(counter)

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


def run_worker(
    settings: RuntimeSettings,
    sock: socket.socket,
    on_ready: Callable[[], None] | None = None,
    health_sock: socket.socket | None = None,
    *,
    others_ready: Callable[[], bool] | None = None,
    on_recycle: Callable[[str], None] | None = None,
) -> None:
    """Serve on *sock* (and *health_sock*, the separate health port, if any) in this process until told to stop.

    Args:
        on_ready: called once the model has loaded.
        others_ready: whether another worker of the group is ready now (asked every 20 ms while
            the model loads); ``None``: this is the only worker, it takes connections at once.
        on_recycle: called once, with the reason, when this worker has served its
            ``max_requests`` or outgrown ``max_worker_memory_mb``; the supervisor then starts a
            replacement and stops this worker once the replacement is ready.

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
        if server is not None:
            server.model_ready = True
        if on_ready is not None:
            on_ready()

    if settings.http_fast_paths:  # see shipyard/runtime/fastpath/ for what each saves
        response_cycle.install()  # the usual answer's head in a few C-level passes (checked against uvicorn's)
    app = create_app(settings, on_ready=ready, on_load_failed=load_failed)
    config = uvicorn.Config(
        app.server_entry(),  # the runtime middleware itself: one coroutine layer less per request
        loop="auto",  # uvloop when installed
        # uvicorn's own protocol (httptools), with one write per response unless told to stay plain,
        # bounding slow or huge request heads and stalled bodies either way
        http=client_limits.guarded(
            CoalescingHTTPProtocol if settings.http_fast_paths else AutoHTTPProtocol,
            client_limits.ClientLimits(settings.header_timeout_s, settings.body_idle_timeout_s,
                                       settings.max_header_count, settings.max_header_bytes)),
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
    recycle = RecyclePolicy.from_settings(settings, on_recycle) if on_recycle is not None else None
    server = _Server(config, others_ready=others_ready, recycle=recycle)
    with startup_log:
        server.run(sockets=[sock] if health_sock is None else [sock, health_sock])
    if failures:
        raise failures[0]
