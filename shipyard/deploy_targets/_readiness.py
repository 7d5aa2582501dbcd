"""Wait until a freshly started service is ready, or say why it never will be.

Every target does the same thing after starting a service: poll the runtime's readiness endpoint
(``GET /v2/health/ready``) until it answers 200, and stop early when waiting is pointless: the
process died, or the runtime reports that ``init()`` failed (it answers 503 and stays up rather
than crash-looping, so only its answer tells us).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shipyard.deploy_targets._http import request

logger = logging.getLogger(__name__)

READY_PATH = "/v2/health/ready"
LIVE_PATH = "/"


class NotReadyError(Exception):
    """The service did not become ready; ``reason`` says why in one sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def wait_until_ready(base_url: str, *, timeout_s: float, check_alive: Callable[[], str | None],
                     interval_s: float = 0.5) -> float:
    """Poll ``base_url`` + ``/v2/health/ready`` until it answers 200.

    Args:
        base_url: ``http://host:port`` of the service.
        timeout_s: give up after this long.
        check_alive: returns ``None`` while the service's process runs, else why it stopped
            (e.g. ``"the container exited with code 1"``); called between polls.
        interval_s: pause between polls.

    Returns:
        Seconds it took.

    Raises:
        NotReadyError: the process stopped, ``init()`` failed, or the timeout passed.
    """
    started = time.monotonic()
    last = "no answer yet"
    while True:
        try:
            answer = request("GET", base_url + READY_PATH, timeout=min(5.0, timeout_s))
            if answer.status == 200:
                elapsed = time.monotonic() - started
                logger.info("%s ready after %.1f s", base_url, elapsed)
                return elapsed
            last = f"readiness answered {answer.status}: {answer.text.strip()[:300]}"
            if answer.status == 503 and "failed" in answer.text.lower():
                raise NotReadyError(f"the model failed to load ({answer.text.strip()[:500]})")
        except OSError as exc:
            last = f"no answer from {base_url} ({exc})"
        stopped = check_alive()
        if stopped:
            raise NotReadyError(stopped)
        if time.monotonic() - started > timeout_s:
            raise NotReadyError(f"not ready after {timeout_s:g} s; last: {last}")
        time.sleep(interval_s)
