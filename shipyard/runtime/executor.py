"""The threads that run user code (``init()``, ``run()``), apart from the event loop.

Why not :class:`concurrent.futures.ThreadPoolExecutor` with ``run_in_executor``: its threads are
joined when the interpreter exits, so one ``run()`` stuck forever (the request already got its
504) would keep a worker from ever shutting down; these threads are daemons instead. And every
request crosses threads twice, so the crossing is kept minimal: a job is one small object, and
the result goes straight to the waiting asyncio future with one ``call_soon_threadsafe``, without
a :class:`concurrent.futures.Future`, its condition variable and its callbacks.

With one thread (the default) calls run one at a time in arrival order, like Azure's sync
workers: ``score.py`` code that is not thread-safe stays safe, and ``init()`` runs on the same
thread as ``run()`` (some libraries keep per-thread state). Calls run in the caller's
:mod:`contextvars` context, so log records from ``run()`` carry the request id.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from shipyard.errors import ScoringTimeoutError

T = TypeVar("T")
logger = logging.getLogger(__name__)
_STOP = object()


class Job:
    """One queued call. ``cancelled`` is set by the event loop; it only skips a call not yet started."""

    __slots__ = ("argument", "cancelled", "context", "fn", "loop", "waiter")

    def __init__(self, fn: Callable[[Any], Any], argument: Any, loop: asyncio.AbstractEventLoop,
                 waiter: asyncio.Future[Any]) -> None:
        self.fn, self.argument = fn, argument
        self.context = contextvars.copy_context()
        self.loop, self.waiter = loop, waiter
        self.cancelled = False


class ScoringExecutor:
    """A fixed pool of daemon threads fed from one FIFO queue."""

    def __init__(self, threads: int = 1, name: str = "scoring") -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True) for index in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[Any], Any], argument: Any) -> tuple[Job, asyncio.Future[Any]]:
        """Queue ``fn(argument)``; its result or exception lands in the returned asyncio future.

        Must be called from the event loop thread.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        job = Job(fn, argument, loop, waiter)
        self._queue.put(job)
        return job, waiter

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the threads once their current call returns; wait at most *timeout* seconds."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("scoring thread %s is still busy at shutdown; leaving it behind", thread.name)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if job.cancelled:
                continue
            result = error = None
            try:
                result = job.context.run(job.fn, job.argument)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                error = exc
            try:
                job.loop.call_soon_threadsafe(_settle, job.waiter, result, error)
            except RuntimeError:  # the loop is closed: nobody waits for this result any more
                pass


def _settle(waiter: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if waiter.done():  # timed out or cancelled meanwhile
        return
    if error is None:
        waiter.set_result(result)
        return
    if isinstance(error, StopIteration) or not isinstance(error, Exception):
        # SystemExit from user code must not stop the server; StopIteration cannot cross into asyncio.
        wrapped = RuntimeError(f"{type(error).__name__} raised by the model: {error}")
        wrapped.__cause__ = error
        error = wrapped
    waiter.set_exception(error)


class ModelRunner:
    """Runs calls on a :class:`ScoringExecutor` with a timeout: ``await runner.call(fn, argument)``."""

    def __init__(self, threads: int, default_timeout: float) -> None:
        self._executor = ScoringExecutor(threads)
        self._default_timeout = default_timeout
        self._deadlines = _Deadlines()

    async def call(self, fn: Callable[[Any], T], argument: Any, *, timeout: float | None) -> T:
        """``fn(argument)`` on a scoring thread.

        Raises:
            ScoringTimeoutError: still running after *timeout* seconds (the thread runs on; its
                result is dropped). ``None``: no timeout.
        """
        job, waiter = self._executor.submit(fn, argument)
        timer = None
        if timeout == self._default_timeout:
            self._deadlines.watch(job, timeout)
        elif timeout is not None:
            timer = job.loop.call_later(timeout, _expire, job, timeout)
        try:
            return await waiter
        except asyncio.CancelledError:
            job.cancelled = True
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def shutdown(self, timeout: float) -> None:
        self._executor.shutdown(timeout)


class _Deadlines:
    """Expires jobs that all share one timeout, with one periodic check instead of a timer each.

    Jobs are watched in submission order with the same timeout, so their deadlines are ordered:
    each check pops finished and expired jobs from the front. A timeout fires at most
    ``CHECK_INTERVAL_S`` late, which does not matter at the scale of request timeouts.
    """

    CHECK_INTERVAL_S = 0.05

    def __init__(self) -> None:
        self._jobs: deque[tuple[float, Job, float]] = deque()
        self._check: asyncio.TimerHandle | None = None

    def watch(self, job: Job, timeout: float) -> None:
        self._jobs.append((job.loop.time() + timeout, job, timeout))
        if self._check is None:
            self._check = job.loop.call_later(min(self.CHECK_INTERVAL_S, timeout), self._sweep, job.loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now, jobs = loop.time(), self._jobs
        while jobs and (jobs[0][1].waiter.done() or jobs[0][0] <= now):
            _, job, timeout = jobs.popleft()
            _expire(job, timeout)
        if len(jobs) > 10_000:  # finished jobs queued behind a slow one: drop them
            self._jobs = jobs = deque(item for item in jobs if not item[1].waiter.done())
        self._check = loop.call_later(self.CHECK_INTERVAL_S, self._sweep, loop) if jobs else None


def _expire(job: Job, timeout: float) -> None:
    if job.waiter.done():
        return
    job.cancelled = True  # only skips the call while it is still queued
    job.waiter.set_exception(
        ScoringTimeoutError(
            f"scoring did not finish within the {timeout:g} s request timeout (SHIPYARD_REQUEST_TIMEOUT_S "
            "or --request-timeout); the model may still be busy with it"
        )
    )
