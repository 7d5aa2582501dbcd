"""``await runner.call(fn, argument)``: run user code where it costs least, within its timeout.

A call runs either on the :class:`~shipyard.runtime.executor.ScoringExecutor`'s threads (so a
slow model cannot stall health checks or other connections) or, for ``run()`` calls that have
proved fast, inline on the event loop (see :mod:`shipyard.runtime.fastpath.inline` for when and why).
Whichever is chosen, at most ``threads`` calls run at once and, with one thread, in arrival
order: a call only runs inline when no call is queued or running on the threads.

``SHIPYARD_SCORING_MODE`` picks the policy: ``auto`` (default), ``thread`` (always the thread:
``init()`` and ``run()`` share one thread, for libraries that keep per-thread state) or
``inline`` (everything on the event loop, ``init()`` included, like azmlinfsrv's sync worker:
probes go unanswered while ``init()`` or ``run()`` works).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from shipyard.runtime.executor import Job, ScoringExecutor, as_request_error
from shipyard.runtime.fastpath.inline import (
    TIMEOUT_SETTING,
    InlinePolicy,
    MainThreadAlarm,
    ScoringMode,
    timeout_error,
)

T = TypeVar("T")
logger = logging.getLogger(__name__)

Observer = Callable[[float], None]


class ModelRunner:
    """Runs user code for one model: on its scoring threads or inline, with a timeout."""

    def __init__(self, threads: int, default_timeout: float, mode: ScoringMode = "auto",
                 timeout_setting: str = TIMEOUT_SETTING) -> None:
        """*timeout_setting*: how a 504 names the setting that set the timeout."""
        if mode == "auto" and threads > 1:
            mode = "thread"  # several threads were asked for so that run() calls overlap: keep them
        self.mode = mode
        self._executor = ScoringExecutor(threads)
        self._policy = InlinePolicy(mode)
        self._default_timeout = default_timeout
        self._timeout_setting = timeout_setting
        self._deadlines = _Deadlines(timeout_setting)
        self._on_threads = 0  # calls submitted to the threads and not yet settled
        self._idle: asyncio.Future[None] | None = None  # resolved when _on_threads drops to 0
        self._alarm: MainThreadAlarm | None = None
        self._inline_possible: bool | None = None  # None until checked: the alarm set up, or inline mode goes without

    async def call(
        self,
        fn: Callable[[Any], T],
        argument: Any,
        *,
        timeout: float | None,
        hot: bool = False,
        observe: Observer | None = None,
    ) -> T:
        """``fn(argument)``, inline or on a scoring thread.

        Args:
            timeout: seconds before the caller gets :class:`ScoringTimeoutError`; ``None``: none.
            hot: a per-request call (``run()``, V2 infer), which ``auto`` mode may run inline;
                other calls (``init()``, ``close()``, stream chunks) stay on the thread.
            observe: told how long ``fn`` ran once it returns (a timed-out call on a thread: later).

        Raises:
            ScoringTimeoutError: still running after *timeout* seconds; a thread call runs on
                (its result is dropped), an inline call is interrupted.
        """
        if self._inline_wanted(hot):
            if self._on_threads:  # keep one call at a time, in order: let the threads finish first
                await self._threads_idle(timeout)
            if not self._on_threads:
                return self.call_inline(fn, argument, timeout, hot=hot, observe=observe)[0]
        return await self._call_on_thread(fn, argument, timeout, hot, observe)

    def inline_ready(self) -> bool:
        """Whether a per-request call would run inline right now: then :meth:`call_inline` it directly.

        The shortcut saves the hot path a coroutine and reads only attributes; :meth:`call` decides
        the same way (and is where the alarm is first set up, so the first inline call goes there).
        """
        return self._inline_possible is True and self._policy.inline and not self._on_threads

    def shutdown(self, timeout: float) -> None:
        self._executor.shutdown(timeout)

    # -- inline ------------------------------------------------------------------------------------
    def _inline_wanted(self, hot: bool) -> bool:
        """Whether the policy puts this kind of call on the event loop now (threads busy or not)."""
        return (hot or self.mode == "inline") and self._policy.inline and self._inline_allowed()

    def _inline_allowed(self) -> bool:
        """Inline needs the alarm for timeouts; ``inline`` mode goes ahead without it (with a warning)."""
        if self._inline_possible is None:
            if MainThreadAlarm.available():
                self._alarm = MainThreadAlarm(self._timeout_setting)
            elif self.mode == "inline":
                logger.warning("SHIPYARD_SCORING_MODE=inline: the event loop is not on the main thread (or "
                               "SIGALRM is taken), so request timeouts cannot interrupt run()")
            else:
                logger.info("run() stays on the scoring thread: the event loop is not on the main thread "
                            "(or SIGALRM is taken), so an inline call could not be timed out")
            self._inline_possible = self._alarm is not None or self.mode == "inline"
        return self._inline_possible

    def call_inline(self, fn: Callable[[Any], T], argument: Any, timeout: float | None, *, hot: bool = True,
                    observe: Observer | None = None) -> tuple[T, float]:
        """``fn(argument)`` on this thread, interrupted by the alarm after *timeout* seconds.

        Returns:
            What *fn* returned and the seconds it took (the caller reports them without a callback).
        """
        alarm = self._alarm if timeout is not None else None
        start = time.perf_counter()
        try:
            if alarm is not None:
                alarm.arm(timeout)  # type: ignore[arg-type]
            try:
                result = fn(argument)
            finally:
                if alarm is not None:
                    alarm.disarm()  # raises the 504 if the alarm rang, even if run() swallowed it
        except BaseException as exc:
            self._report(time.perf_counter() - start, hot, observe)
            error = as_request_error(exc)
            if error is exc:
                raise
            raise error from exc
        seconds = time.perf_counter() - start
        self._report(seconds, hot, observe)
        return result, seconds

    def _report(self, seconds: float, hot: bool, observe: Observer | None) -> None:
        """Tell the policy (``auto`` mode, per-request calls) and the caller how long a finished call took."""
        if hot:
            self._policy.observe(seconds)
        if observe is not None:
            observe(seconds)

    async def _threads_idle(self, timeout: float | None) -> None:
        """Wait until no call is on the threads (the switch from thread to inline; rare).

        Without this wait, a busy server would never switch: each new request would find an
        earlier one still on the thread and queue behind it there.
        """
        if self._idle is None:
            self._idle = asyncio.get_running_loop().create_future()
        try:  # shielded: one request giving up must not cancel the others' wait
            await asyncio.wait_for(asyncio.shield(self._idle), timeout)
        except asyncio.TimeoutError:
            raise timeout_error(timeout, self._timeout_setting, interrupted=False) from None  # type: ignore[arg-type]

    # -- on the threads ------------------------------------------------------------------------
    async def _call_on_thread(self, fn: Callable[[Any], T], argument: Any, timeout: float | None, hot: bool,
                              observe: Observer | None) -> T:
        def settled(seconds: float | None) -> None:
            self._on_threads -= 1
            if not self._on_threads and self._idle is not None:
                self._idle.set_result(None)
                self._idle = None
            if seconds is not None:  # None: skipped, cancelled or timed out before it started
                self._report(seconds, hot, observe)

        job, waiter = self._executor.submit(fn, argument, settled)
        self._on_threads += 1
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


class _Deadlines:
    """Expires jobs that all share one timeout, with one periodic check instead of a timer each.

    Jobs are watched in submission order with the same timeout, so their deadlines are ordered:
    each check pops finished and expired jobs from the front. A timeout fires at most
    ``CHECK_INTERVAL_S`` late, which does not matter at the scale of request timeouts.
    """

    CHECK_INTERVAL_S = 0.05

    def __init__(self, timeout_setting: str) -> None:
        self._timeout_setting = timeout_setting
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
            _expire(job, timeout, self._timeout_setting)
        if len(jobs) > 10_000:  # finished jobs queued behind a slow one: drop them
            self._jobs = jobs = deque(item for item in jobs if not item[1].waiter.done())
        self._check = loop.call_later(self.CHECK_INTERVAL_S, self._sweep, loop) if jobs else None


def _expire(job: Job, timeout: float, setting: str) -> None:
    if job.waiter.done():
        return
    job.cancelled = True  # only skips the call while it is still queued
    job.waiter.set_exception(timeout_error(timeout, setting, interrupted=False))
