"""The threads that run user code (``init()``, ``run()``), apart from the event loop.

Why not :class:`concurrent.futures.ThreadPoolExecutor`: its threads are joined when the
interpreter exits, so one ``run()`` stuck forever (the request already got its 504) would keep a
worker from ever shutting down. Python cannot kill a thread; these threads are daemons instead,
so the process can exit around them.

With one thread (the default) calls run one at a time in arrival order, like Azure's sync
workers: ``score.py`` code that is not thread-safe stays safe, and ``init()`` runs on the same
thread as ``run()`` (some libraries keep per-thread state).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)
_STOP = object()


class ScoringExecutor:
    """A fixed pool of daemon threads fed from one FIFO queue."""

    def __init__(self, threads: int = 1, name: str = "scoring") -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True) for index in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; the future is skipped if cancelled before a thread picks it up."""
        future: Future[T] = Future()
        self._queue.put((future, fn, args))
        return future

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
            item = self._queue.get()
            if item is _STOP:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                future.set_exception(exc)
            else:
                future.set_result(result)
