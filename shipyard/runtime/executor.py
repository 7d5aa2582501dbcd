"""The threads that run user code (``init()``, ``run()``) apart from the event loop.

Why not :class:`concurrent.futures.ThreadPoolExecutor` with ``run_in_executor``: its threads are
joined when the interpreter exits, so one ``run()`` stuck forever (the request already got its
504) would keep a worker from ever shutting down; these threads are daemons instead. And a call
crosses threads twice, so the crossing is kept minimal: a job is one small object, and the result
goes straight to the waiting asyncio future with one ``call_soon_threadsafe``, without a
:class:`concurrent.futures.Future`, its condition variable and its callbacks.

With one thread (the default) calls run one at a time in arrival order, like Azure's sync
workers. Calls run in the caller's :mod:`contextvars` context, so log records from ``run()``
carry the request id. Where a call runs (here or inline on the event loop) is decided by
:class:`~shipyard.runtime.runner.ModelRunner`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)
_STOP = object()

Settled = Callable[[float | None], None]
"""Told, on the event loop, how long a job's call took (``None``: it was skipped); always called."""


class Job:
    """One queued call. ``cancelled`` is set by the event loop; it only skips a call not yet started."""

    __slots__ = ("argument", "cancelled", "context", "fn", "loop", "settled", "waiter")

    def __init__(self, fn: Callable[[Any], Any], argument: Any, loop: asyncio.AbstractEventLoop,
                 waiter: asyncio.Future[Any], settled: Settled) -> None:
        self.fn, self.argument = fn, argument
        self.context = contextvars.copy_context()
        self.loop, self.waiter, self.settled = loop, waiter, settled
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

    def submit(self, fn: Callable[[Any], Any], argument: Any, settled: Settled) -> tuple[Job, asyncio.Future[Any]]:
        """Queue ``fn(argument)``; its result or exception lands in the returned asyncio future.

        Must be called from the event loop thread. *settled* is called on the loop once the call
        has returned or was skipped, even when nobody waits for the result any more.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        job = Job(fn, argument, loop, waiter, settled)
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
            result = error = seconds = None
            if not job.cancelled:
                start = time.perf_counter()
                try:
                    result = job.context.run(job.fn, job.argument)
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                    error = exc
                seconds = time.perf_counter() - start
            try:
                job.loop.call_soon_threadsafe(_settle, job, result, error, seconds)
            except RuntimeError:  # the loop is closed: nobody waits for this result any more
                pass


def _settle(job: Job, result: Any, error: BaseException | None, seconds: float | None) -> None:
    job.settled(seconds)
    if job.waiter.done():  # timed out, cancelled or skipped meanwhile
        return
    if error is None:
        job.waiter.set_result(result)
    else:
        job.waiter.set_exception(as_request_error(error))


def as_request_error(error: BaseException) -> Exception:
    """What a request sees of an exception from user code.

    ``SystemExit`` (or any other non-``Exception``) from a model must not stop the server, and
    ``StopIteration`` cannot cross into asyncio: both become a ``RuntimeError`` naming them.
    """
    if isinstance(error, Exception) and not isinstance(error, StopIteration):
        return error
    wrapped = RuntimeError(f"{type(error).__name__} raised by the model: {error}")
    wrapped.__cause__ = error
    return wrapped
