"""Dynamic batching: concurrent requests to the model are queued and answered by one model call.

A model bound by memory bandwidth or matrix multiplies (most neural networks) answers 64 rows in
a fraction of the time of 64 one-row calls. The batcher gathers what arrives while the model is
busy, as Triton's ``dynamic_batcher`` does, with the same three settings:

* ``max_batch_size``: most rows in one call (a request with more rows runs alone);
* ``max_queue_delay_us``: how long the oldest queued request may wait for a batch to fill before
  what is there runs anyway (0: never wait; a batch is whatever queued while the model was busy).
  A batch that has as many rows as the previous one runs without waiting: a lone client is never
  delayed, and a crowd of clients is gathered again as they come back;
* ``preferred_batch_sizes``: sizes (in rows) that run at once, without waiting out the delay.

Batches are only formed when a scoring thread is free (one at a time with the default single
thread, like one Triton model instance), so a busy model gathers larger batches by itself. The
call runs on the scoring thread, off the event loop (ONNX Runtime and PyTorch release the GIL),
or, for a model whose batches prove to take well under a millisecond, on the event loop itself,
as the runner decides for ``run()`` (:mod:`shipyard.runtime.fastpath.inline`).

Isolation: requests are parsed and checked one by one before they are queued (see
:class:`~shipyard.scoring.base.BatchingScorer`), so a bad request never joins a batch. If the
batched call fails anyway, each member is run alone, so only the culprit gets the error. Each
request keeps its own timeout; one that times out or whose client leaves is dropped from the queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.runtime.executor import as_request_error
from shipyard.runtime.fastpath.inline import InlineDeadline, timeout_error
from shipyard.runtime.runner import ModelRunner
from shipyard.runtime.settings import RuntimeSettings
from shipyard.scoring.base import BatchItem
from shipyard.scoring.batches import NotBatchMajor

logger = logging.getLogger(__name__)

RunBatch = Callable[[list[BatchItem]], list[Any]]


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch is complete enough to run (Triton's ``dynamic_batching`` settings)."""

    max_batch_size: int
    max_queue_delay_s: float = 0.0
    preferred_batch_sizes: frozenset[int] = frozenset()

    @classmethod
    def from_settings(cls, settings: RuntimeSettings) -> BatchPolicy | None:
        """The policy the settings ask for; ``None`` when batching is off (``max_batch_size`` 0 or 1)."""
        if settings.max_batch_size <= 1:
            return None
        return cls(settings.max_batch_size, settings.max_queue_delay_us / 1e6, frozenset(settings.preferred_batch_sizes))


class _Queued:
    __slots__ = ("arrived", "future", "item")

    def __init__(self, item: BatchItem, future: asyncio.Future[Any], arrived: float) -> None:
        self.item, self.future, self.arrived = item, future, arrived


class DynamicBatcher:
    """Queues prepared requests and runs them in batches on the model runner's threads."""

    def __init__(
        self,
        run_batch: RunBatch,
        policy: BatchPolicy,
        runner: ModelRunner,
        *,
        instances: int = 1,
        timeout: float | None = None,
        observe_batch: Callable[[int], None] | None = None,
    ) -> None:
        """
        Args:
            run_batch: the scorer's ``run_batch`` (called on a scoring thread).
            instances: batches that may run at once (the scoring threads).
            timeout: the request timeout, which also bounds a batch run inline (see below).
            observe_batch: told the rows of each batch formed (the ``shipyard_batch_size`` metric).
        """
        self.policy = policy
        self._run_batch = run_batch
        self._runner = runner
        self._instances = instances
        self._timeout = timeout
        self._observe = observe_batch or (lambda rows: None)
        self._queue: deque[_Queued] = deque()
        self._queued_rows = 0
        self._running = 0
        self._timer: asyncio.TimerHandle | None = None
        self._warned = False
        self._last_rows = policy.max_batch_size  # rows of the last batch: see _take

    async def run(self, item: BatchItem, timeout: float | None) -> tuple[Any, float]:
        """Queue *item*; its own result and the seconds its batch's model call took.

        Raises:
            ScoringTimeoutError: no result within *timeout* seconds (the batch may still run).
            Exception: what the model raised for this item (run alone).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, float]] = loop.create_future()
        self._queue.append(_Queued(item, future, loop.time()))
        self._queued_rows += item.rows
        if self._running < self._instances:
            self._schedule()
        timer = loop.call_later(timeout, _expire, future, timeout) if timeout is not None else None
        try:
            return await future
        finally:  # a cancelled or timed-out request is skipped when the next batch is formed
            if timer is not None:
                timer.cancel()

    # -- forming batches (event loop) -------------------------------------------------------------
    def _schedule(self) -> None:
        """Start batches while a thread is free and a batch is ready; else wake up when the delay ends."""
        loop = asyncio.get_running_loop()
        while self._running < self._instances:
            batch = self._take(loop.time())
            if not batch:
                return
            self._running += 1
            loop.create_task(self._run(batch))

    def _take(self, now: float) -> list[_Queued] | None:
        """The next batch to run, removed from the queue; ``None`` if it should wait for more."""
        queue, policy = self._queue, self.policy
        while queue and queue[0].future.done():  # timed out or cancelled while queued
            self._queued_rows -= queue.popleft().item.rows
        if not queue:
            return None
        head = queue[0]
        key = head.item.key
        if key is None:  # no common row axis (see tensor_item): runs alone, at once
            self._remove([head])
            return [head]
        expired = now - head.arrived >= policy.max_queue_delay_s
        maximum = policy.max_batch_size
        # A batch as large as the last one need not wait out the delay: when the clients of the last
        # batch have all come back, no more are coming (a lone client's request never waits; a
        # crowd's is not run one at a time while the rest are still on their way).
        enough = min(maximum, self._last_rows)
        if not expired and self._queued_rows < enough and not policy.preferred_batch_sizes:
            self._wake_at(head.arrived + policy.max_queue_delay_s)
            return None
        chosen: list[_Queued] = []
        rows, preferred_cut, full = 0, 0, False
        for queued in queue:
            if queued.future.done() or queued.item.key != key:  # others wait for a batch of their kind
                continue
            if chosen and rows + queued.item.rows > maximum:
                full = True
                break
            chosen.append(queued)
            rows += queued.item.rows
            if rows in policy.preferred_batch_sizes:
                preferred_cut = len(chosen)
            if rows >= maximum:
                full = True
                break
        if not (full or expired or rows >= enough):
            if not preferred_cut:
                self._wake_at(head.arrived + policy.max_queue_delay_s)
                return None
            chosen = chosen[:preferred_cut]
        self._remove(chosen)
        self._last_rows = max(1, sum(queued.item.rows for queued in chosen))
        return chosen

    def _remove(self, chosen: list[_Queued]) -> None:
        queue = self._queue
        if all(queue[index] is queued for index, queued in enumerate(chosen)):  # usually a prefix
            for _ in chosen:
                queue.popleft()
        else:
            taken = {id(queued) for queued in chosen}
            self._queue = deque(queued for queued in queue if id(queued) not in taken)
        self._queued_rows -= sum(queued.item.rows for queued in chosen)

    def _wake_at(self, when: float) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(when, self._wake)

    def _wake(self) -> None:
        self._timer = None
        self._schedule()

    # -- running batches -------------------------------------------------------------------------
    async def _run(self, batch: list[_Queued]) -> None:
        items = [queued.item for queued in batch]
        self._observe(sum(item.rows for item in items))
        try:
            # hot: the runner's inline policy applies to batches as to run(), so a model whose batches
            # answer within a millisecond runs them on the event loop instead of paying two thread hops
            results, seconds = await self._runner.call(self._call_model, items, timeout=self._timeout, hot=True)
        except BaseException as exc:  # the runner itself failed (shutting down): fail the whole batch
            results, seconds = [exc] * len(batch), 0.0
        finally:
            self._running -= 1
            if self._queue:
                self._schedule()
        for queued, result in zip(batch, results, strict=True):
            if queued.future.done():
                continue
            if isinstance(result, BaseException):
                queued.future.set_exception(as_request_error(result))
            else:
                queued.future.set_result((result, seconds))

    def _call_model(self, items: list[BatchItem]) -> tuple[list[Any], float]:
        """On a scoring thread: the batch's results, each item's alone if the batched call fails."""
        start = time.perf_counter()
        try:
            results = self._run_batch(items)
            if len(results) != len(items):
                raise ValueError(f"run_batch() returned {len(results)} results for {len(items)} inputs")
        except InlineDeadline:  # a batch run inline ran out of time: the whole call ends (504s)
            raise
        except BaseException as exc:  # noqa: BLE001 - isolated below; SystemExit from a model must not stop us
            if len(items) == 1:
                results = [exc]
            else:
                self._explain(exc, len(items))
                results = [self._alone(item) for item in items]
        return results, time.perf_counter() - start

    def _alone(self, item: BatchItem) -> Any:
        try:
            (result,) = self._run_batch([item])
        except InlineDeadline:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to this item's request
            return exc
        return result

    def _explain(self, exc: BaseException, size: int) -> None:
        if isinstance(exc, NotBatchMajor) and not self._warned:
            self._warned = True
            logger.warning("Batching does not fit this model (%s): its requests are run one by one; "
                           "turn batching off (SHIPYARD_MAX_BATCH_SIZE=0)", exc)
        else:
            logger.debug("A batch of %d failed (%s: %s); running its requests one by one", size,
                         type(exc).__name__, exc)


def _expire(future: asyncio.Future[Any], timeout: float) -> None:
    if not future.done():
        future.set_exception(timeout_error(timeout, interrupted=False))
