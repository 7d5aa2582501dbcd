"""Several worker processes on one socket, without crash loops.

uvicorn's own multi-worker mode restarts a worker whenever it dies, so a ``score.py`` whose
``init()`` raises turns into an endless restart loop that looks alive from outside. This
supervisor instead distinguishes:

- a worker that dies *before* reporting its model loaded: the model cannot load; stop all
  workers and raise :class:`~shipyard.errors.ModelLoadError` (the process exits non-zero);
- a worker that dies *after* loading (out of memory, a crash in native code): start a
  replacement, unless that happens more than ``MAX_RESTARTS`` times in ``RESTART_WINDOW_S``.

Workers are started with ``spawn`` (a fresh interpreter, so no state or threads are inherited),
each loads the model itself, and reports readiness over a pipe. SIGTERM/SIGINT are forwarded;
each worker drains its in-flight requests; stragglers are killed after the graceful timeout.

Only ready workers take connections, whenever one exists: a worker whose model is loading joins
the shared socket only while no worker is ready (so liveness probes are answered while ``init()``
runs), else once its model is loaded. The supervisor publishes the number of ready workers in
shared memory for them. A crash thus costs the clients nothing but the requests the dead worker
held.

Recycling (``max_requests``, ``max_worker_memory_mb``): a worker asks to be replaced; the
supervisor starts the replacement, and once it is ready, SIGTERMs the old worker, which stops
accepting and finishes its in-flight requests. There is always a ready worker accepting.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from shipyard.errors import ModelLoadError, ShipyardError
from shipyard.runtime.settings import RuntimeSettings

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by shipyard.runtime.metrics in each worker
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
_READY = "ready"
_FAILED = "failed"
_RECYCLE = "recycle"


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection
    ready: bool = False
    failure: str | None = None  # why it could not load, as the worker reported it
    started: float = field(default_factory=time.monotonic)
    replaces: _Worker | None = None  # the worker this one takes over from once it is ready (a recycle)
    replaced_by: _Worker | None = None  # set when this worker asked to be recycled
    retiring: bool = False  # told to stop after its replacement became ready: its exit is expected


class Supervisor:
    """Start ``settings.workers`` workers on *sock* and watch them until a stop signal."""

    def __init__(self, settings: RuntimeSettings, sock: socket.socket,
                 health_sock: socket.socket | None = None) -> None:
        self.settings = settings
        self.sock = sock
        self.health_sock = health_sock  # the separate health port, served by every worker too
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._stop_signal: int | None = None
        self._restarts: deque[float] = deque()
        # How many workers are ready, for loading workers to decide whether to accept (see worker.py).
        self._ready_count = self._context.Value("i", 0, lock=False)

    def run(self) -> None:
        """Return after a stop signal once every worker has exited.

        Raises:
            ModelLoadError: a worker exited before its model loaded.
            ShipyardError: workers kept dying after loading.
        """
        own_dir = None
        if not os.environ.get(MULTIPROC_ENV):
            own_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
            os.environ[MULTIPROC_ENV] = own_dir  # inherited by the spawned workers
        originals = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self.settings.workers):
                self._start(index)
            self._watch()
        finally:
            self._stop_all()
            for sig, handler in originals.items():
                signal.signal(sig, handler)
            if own_dir is not None:
                os.environ.pop(MULTIPROC_ENV, None)
                shutil.rmtree(own_dir, ignore_errors=True)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._stop_signal is None:
            logger.info("Received %s; stopping %d worker(s) after their in-flight requests",
                        signal.Signals(signum).name, len(self._workers))
        self._stop_signal = signum

    def _start(self, index: int) -> _Worker:
        parent_conn, child_conn = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker_main, args=(self.settings, self.sock, child_conn, self._ready_count, self.health_sock),
            name=f"shipyard-worker-{index}",
        )  # fmt: skip
        process.start()
        child_conn.close()
        worker = _Worker(index=index, process=process, conn=parent_conn)
        self._workers.append(worker)
        logger.info("Started worker %d (pid %d)", index, process.pid)
        return worker

    def _publish_ready(self) -> None:
        """Tell the workers how many of them are ready and alive (loading ones accept only while none is)."""
        self._ready_count.value = sum(1 for w in self._workers if w.ready and not w.retiring and w.process.is_alive())

    def _watch(self) -> None:
        announced = False
        while self._stop_signal is None:
            waitables = [w.process.sentinel for w in self._workers] + [w.conn for w in self._workers if not w.conn.closed]
            multiprocessing.connection.wait(waitables, timeout=0.5)
            for worker in list(self._workers):
                self._read_messages(worker)
                if worker.process.is_alive() or self._stop_signal is not None:
                    continue
                self._workers.remove(worker)
                self._publish_ready()  # before a replacement starts: it must know whether anyone is ready
                self._on_exit(worker)
            self._publish_ready()
            if not announced and all(w.ready for w in self._workers):
                announced = True
                logger.info("All %d workers are ready", len(self._workers))

    def _read_messages(self, worker: _Worker) -> None:
        """Act on what *worker* reported: loaded, could not load, or asks to be recycled."""
        while not worker.conn.closed and worker.conn.poll():
            try:
                kind, detail = worker.conn.recv()
            except (EOFError, OSError):
                worker.conn.close()
                return
            if kind == _READY:
                worker.ready = True
                if worker.replaces is not None:
                    self._retire(worker.replaces)
                    worker.replaces = None
            elif kind == _FAILED:
                worker.failure = detail
            elif kind == _RECYCLE and worker.replaced_by is None and not worker.retiring:
                logger.info("Worker %d (pid %d) %s: starting its replacement", worker.index, worker.process.pid, detail)
                worker.replaced_by = self._start(worker.index)
                worker.replaced_by.replaces = worker

    def _retire(self, worker: _Worker) -> None:
        """SIGTERM a recycled worker now that its replacement is ready; it drains, then exits."""
        worker.retiring = True
        if worker.process.is_alive():
            logger.info("Worker %d (pid %d) replaced; stopping it after its in-flight requests",
                        worker.index, worker.process.pid)
            os.kill(worker.process.pid, signal.SIGTERM)

    def _on_exit(self, worker: _Worker) -> None:
        code = worker.process.exitcode
        worker.conn.close()
        if worker.retiring:
            logger.info("Worker %d (pid %d) stopped with exit code %s after its replacement took over",
                        worker.index, worker.process.pid, code)
            return
        if worker.replaced_by is not None and worker.replaced_by.replaces is worker:
            worker.replaced_by.replaces = None  # died while its replacement loads: the replacement takes over
            logger.error("Worker %d (pid %d) died with exit code %s while its replacement was loading",
                         worker.index, worker.process.pid, code)
            return
        if not worker.ready:
            reason = worker.failure or f"it exited with code {code} before the model finished loading"
            raise ModelLoadError(f"worker {worker.index} (pid {worker.process.pid}) could not load the model: {reason}")
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > RESTART_WINDOW_S:
            self._restarts.popleft()
        if len(self._restarts) > MAX_RESTARTS:
            raise ShipyardError(
                f"workers died {len(self._restarts)} times within {RESTART_WINDOW_S:.0f} s (last: worker "
                f"{worker.index}, exit code {code}); giving up instead of restarting them forever"
            )
        logger.error("Worker %d (pid %d) died with exit code %s after loading; starting a replacement",
                     worker.index, worker.process.pid, code)
        # With another worker ready, the replacement stays off the socket until its model is loaded.
        self._start(worker.index)

    def _stop_all(self) -> None:
        # No more workers will start: let go of the listening socket, so that once the workers have
        # closed theirs, new connections are refused at once instead of waiting in the backlog for
        # the drain to end (and then being reset).
        self.sock.close()
        if self.health_sock is not None:
            self.health_sock.close()
        for worker in self._workers:
            if worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.graceful_timeout_s + 5.0
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                logger.error("Worker %d (pid %d) did not stop in time; killing it", worker.index, worker.process.pid)
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()


def _worker_main(settings: RuntimeSettings, sock: socket.socket, conn: Connection, ready_count: Any,
                 health_sock: socket.socket | None = None) -> None:
    """Entry point of a spawned worker process."""
    from shipyard.runtime.logconfig import configure_logging
    from shipyard.runtime.worker import run_worker

    _die_with_parent()
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_worker(settings, sock, on_ready=lambda: conn.send((_READY, None)), health_sock=health_sock,
                   others_ready=lambda: ready_count.value > 0, on_recycle=lambda reason: conn.send((_RECYCLE, reason)))
    except ShipyardError as exc:
        with contextlib.suppress(OSError):
            conn.send((_FAILED, str(exc)))  # the supervisor's one-line explanation
        sys.exit(exc.exit_code)  # the traceback is already in the log


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if the supervisor dies, so no orphan keeps the port."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        sys.exit(1)
