"""When a worker should be replaced: after ``max_requests`` (plus jitter) or above a memory ceiling.

A ``run()`` that leaks a little per request (a cache that never forgets, a native library's
arena) grows a worker without bound. gunicorn's answer is ``--max-requests`` with
``--max-requests-jitter`` (so workers started together do not all restart together); Shipyard
takes those, and adds a ceiling on the worker's resident memory (RSS) for leaks that do not
scale with the request count. The worker only *asks* to be replaced: the supervisor starts a
replacement, waits until its model is loaded, and only then stops this worker, which finishes
its in-flight requests first (see :mod:`shipyard.runtime.supervisor`). No request is lost.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable

from shipyard.runtime.settings import RuntimeSettings

logger = logging.getLogger(__name__)


def resident_memory_bytes() -> int | None:
    """This process's resident set size now (Linux ``/proc``); ``None`` where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class RecyclePolicy:
    """Checked by a worker ten times a second (memory: once a second); calls ``on_recycle(reason)`` once when it is time."""

    def __init__(self, max_requests: int | None, max_memory_bytes: int | None,
                 on_recycle: Callable[[str], None]) -> None:
        self.max_requests = max_requests
        self.max_memory_bytes = max_memory_bytes
        self._on_recycle = on_recycle
        self.asked = False

    @classmethod
    def from_settings(cls, settings: RuntimeSettings, on_recycle: Callable[[str], None]) -> RecyclePolicy | None:
        """The policy *settings* ask for (this worker's own jittered request limit); ``None`` when off."""
        max_requests = settings.max_requests
        if max_requests is not None and settings.max_requests_jitter:
            max_requests += random.randint(0, settings.max_requests_jitter)  # as gunicorn: uniform in [0, jitter]
        max_memory = settings.max_worker_memory_mb * 1024 * 1024 if settings.max_worker_memory_mb else None
        if max_requests is None and max_memory is None:
            return None
        return cls(max_requests, max_memory, on_recycle)

    def check(self, requests_served: int, *, memory: bool = True) -> None:
        """Ask for a replacement if this worker has served enough requests or (*memory*) grown too large."""
        if self.asked:
            return
        reason = None
        if self.max_requests is not None and requests_served >= self.max_requests:
            reason = f"served {requests_served} requests (max_requests {self.max_requests})"
        elif memory and self.max_memory_bytes is not None:
            rss = resident_memory_bytes()
            if rss is not None and rss > self.max_memory_bytes:
                reason = (f"resident memory {rss / 2**20:.0f} MiB is above max_worker_memory_mb "
                          f"{self.max_memory_bytes / 2**20:.0f}")
        if reason is not None:
            self.asked = True
            logger.info("Worker (pid %d) %s; asking for a replacement", os.getpid(), reason)
            self._on_recycle(reason)
