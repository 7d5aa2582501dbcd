"""Running ``run()`` on the event loop itself, for models that answer in well under a millisecond.

Handing a call to the scoring thread and back costs two thread wake-ups: 20-130 µs of CPU on the
machines we measured (``bench/RESULTS.md``), more than many ``run()`` functions take. For those,
calling ``run()`` right on the event loop is both faster and cheaper. It is not free of risk:
while ``run()`` runs inline, the loop answers nothing else (health probes included) and cannot
time the call out by itself. So inline execution is earned and lost by measurement:

* ``auto`` mode (the default) starts every ``run()`` on the scoring thread. Once
  :data:`FIRST_PROBATION` calls in a row have returned within :data:`INLINE_BUDGET_S`, calls run
  inline. A slow call ends that, unless it is a lone one: a call over the budget that comes
  more than :data:`TOLERANCE_WINDOW` calls after the previous slow one is forgiven (the
  operating system preempting the process, a garbage collection), but not a second within the
  window nor any call over :data:`STALL_S`. Each time calls go back to the thread, the run of
  fast calls needed to come back doubles (up to :data:`MAX_PROBATION`), so a model that is
  often slow settles on the thread.
* A call running inline is bounded by the request timeout with ``SIGALRM``, the signal
  azureml-inference-server-http uses to time out every call: the alarm raises :class:`InlineDeadline`
  (a ``BaseException``, so a ``score.py`` that catches ``Exception`` cannot swallow it) inside
  ``run()`` and the request gets 504. Signals reach only the main thread, so inline execution
  needs the event loop to run there (it does under ``shipyard serve`` and in images).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Literal

from shipyard.errors import ScoringTimeoutError

logger = logging.getLogger(__name__)

ScoringMode = Literal["auto", "thread", "inline"]

INLINE_BUDGET_S = 0.001
"""A call that takes longer than this does not belong on the event loop (in ``auto`` mode)."""
STALL_S = 0.05
"""A call this long sends calls back to the thread at once: longer than any scheduler hiccup."""
TOLERANCE_WINDOW = 100
"""A call over the budget is forgiven if the previous one was more calls ago than this."""
FIRST_PROBATION = 32
"""Fast calls in a row before ``auto`` first runs calls inline."""
MAX_PROBATION = 32_768


TIMEOUT_SETTING = "SHIPYARD_REQUEST_TIMEOUT_S or --request-timeout"
"""How a 504 names the timeout when nobody said which setting set it."""


class InlinePolicy:
    """Decides, call by call, whether a ``run()`` may run on the event loop (``auto`` mode learns it)."""

    def __init__(self, mode: ScoringMode) -> None:
        self.mode = mode
        self.inline = mode == "inline"
        """Whether ``run()`` calls go on the event loop now (a plain attribute: read on every request)."""
        self._calls = 0
        self._last_slow = -TOLERANCE_WINDOW - 1  # call number of the latest call over the budget
        self._last_strike = 0  # call number of the latest slow call that was not forgiven
        self._probation = FIRST_PROBATION

    def observe(self, seconds: float | None) -> None:
        """Learn from one finished ``run()``: how long it took (``None``: unknown, counted as a stall)."""
        if self.mode != "auto":
            return
        self._calls += 1
        if seconds is not None and seconds <= INLINE_BUDGET_S:
            if not self.inline and self._calls - self._last_strike >= self._probation:
                self.inline = True
                logger.debug("run() answered within %g ms %d times in a row: running it on the event loop",
                             INLINE_BUDGET_S * 1000, self._probation)
            return
        lone = seconds is not None and seconds <= STALL_S and self._calls - self._last_slow > TOLERANCE_WINDOW
        self._last_slow = self._calls
        if lone:
            return
        if self.inline:  # back to the thread, for longer than last time
            self.inline = False
            self._probation = min(self._probation * 2, MAX_PROBATION)
            logger.debug("run() took %s: back on the scoring thread until %d calls in a row are fast",
                         "too long" if seconds is None else f"{seconds * 1000:.1f} ms", self._probation)
        self._last_strike = self._calls


class InlineDeadline(BaseException):
    """Raised inside an inline ``run()`` by the alarm; a ``BaseException`` so ``except Exception`` misses it."""


class MainThreadAlarm:
    """A deadline for calls running on the main thread, enforced with ``SIGALRM``.

    Arming costs no system call: a daemon thread looks at the armed deadline every
    :data:`CHECK_INTERVAL_S` and, once it has passed, sends ``SIGALRM`` to the main thread, whose
    handler raises :class:`InlineDeadline` inside the running call (a signal also cuts short a
    blocking system call there, such as a ``sleep`` or a socket read). The handler checks the
    deadline again, so a signal meant for a call that has just finished never hits the next one.
    """

    CHECK_INTERVAL_S = 0.05

    def __init__(self, timeout_setting: str = TIMEOUT_SETTING) -> None:
        self._deadline: float | None = None
        self._timeout = 0.0
        self._timeout_setting = timeout_setting
        self.rang = False
        self._main_thread = threading.main_thread().ident
        signal.signal(signal.SIGALRM, self._ring)
        threading.Thread(target=self._watch, name="inline-watchdog", daemon=True).start()

    @staticmethod
    def available() -> bool:
        """Whether this thread can own the alarm: the main thread, with nobody else's ``SIGALRM`` handler."""
        if threading.current_thread() is not threading.main_thread():
            return False
        return signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)

    def arm(self, timeout: float) -> None:
        self._timeout, self.rang = timeout, False
        self._deadline = time.monotonic() + timeout

    def disarm(self) -> None:
        """Stop watching; raise :class:`ScoringTimeoutError` if the alarm rang (even if ``run()`` swallowed it)."""
        self._deadline = None
        if self.rang:
            raise timeout_error(self._timeout, self._timeout_setting, interrupted=True)

    def _watch(self) -> None:
        while True:
            time.sleep(self.CHECK_INTERVAL_S)
            deadline = self._deadline
            if deadline is not None and time.monotonic() >= deadline and not self.rang:
                signal.pthread_kill(self._main_thread, signal.SIGALRM)  # type: ignore[arg-type]

    def _ring(self, signum: int, frame: FrameType | None) -> None:
        deadline = self._deadline
        if deadline is None or time.monotonic() < deadline:  # meant for a call that has ended
            return
        self.rang = True
        raise InlineDeadline


def timeout_error(timeout: float, setting: str = TIMEOUT_SETTING, *, interrupted: bool) -> ScoringTimeoutError:
    """The 504 for a call past its deadline.

    Args:
        timeout: the deadline, in seconds.
        setting: the setting that set it (``SCORING_TIMEOUT_MS`` for an Azure-style image...).
        interrupted: the call was stopped, not left running.
    """
    fate = "run() was interrupted" if interrupted else "the model may still be busy with it"
    return ScoringTimeoutError(f"scoring did not finish within the {timeout:g} s request timeout ({setting}); {fate}")
