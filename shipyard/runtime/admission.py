"""A per-worker concurrency limit for scoring calls, with a bounded queue and a queue-wait timeout.

Azure's AKS services had ``replica_max_concurrent_requests`` and ``max_request_wait_time``: at most
N requests scored at once, the rest wait in a queue, and a request that waits longer than the
limit is answered 503 so the client (or a load balancer) retries elsewhere. This module is that,
for ``/score`` and V2 ``infer`` only (health, metrics and metadata are never queued behind
scoring). Waiters are served first come, first served: a finished request hands its slot
directly to the oldest waiter, so a newcomer cannot overtake the queue.

The limit is per worker process; a replica with ``SHIPYARD_WORKERS=2`` scores up to twice as many.
"""

from __future__ import annotations

import asyncio
import collections
import math

from starlette.types import Receive, Scope, Send

from shipyard.runtime.middleware import Endpoint
from shipyard.runtime.responses import send_error


class Admission:
    """Slots for ``limit`` concurrent requests; up to ``max_queue`` more wait up to ``max_wait_s``."""

    def __init__(self, limit: int, *, max_queue: int, max_wait_s: float) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> str | None:
        """Take a slot, waiting in the queue if need be; ``None`` on success, else why not."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return None
        if len(self._waiters) >= self.max_queue:
            return f"the server is busy: {self.active} requests running and {len(self._waiters)} queued; retry later"
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.max_wait_s)
            return None  # release() handed its slot over: active is unchanged
        except asyncio.TimeoutError:
            if waiter.done():  # the slot arrived just as the time ran out: keep it
                return None
            self._waiters.remove(waiter)
            waiter.cancel()
            return (f"the request waited {self.max_wait_s * 1000:g} ms for one of {self.limit} scoring slots "
                    "(SHIPYARD_MAX_QUEUE_WAIT_MS); retry later")
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # cancelled after being handed a slot: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give the slot to the oldest waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1


def limit_endpoint(endpoint: Endpoint, admission: Admission) -> Endpoint:
    """*endpoint* behind *admission*: 503 with ``Retry-After`` when no slot comes in time."""
    retry_after = str(max(1, math.ceil(admission.max_wait_s))).encode()

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        refused = await admission.acquire()
        if refused is not None:
            await send_error(scope, send, 503, refused, [(b"retry-after", retry_after)])
            return
        try:
            await endpoint(scope, receive, send)
        finally:
            admission.release()

    return limited
