"""Where run() executes: SHIPYARD_SCORING_MODE=auto (default), thread or inline.

``auto`` runs a run() that has proved fast on the event loop (no thread hand-off per request)
and moves it back to the scoring thread when it turns slow; ``thread`` keeps init() and run() on
one scoring thread; ``inline`` runs both on the event loop, like Azure's sync workers. In every
mode a request timeout answers 504 and the server keeps serving.
"""

from __future__ import annotations

import time

import httpx
import pytest

from shipyard.runtime.fastpath.inline import FIRST_PROBATION, INLINE_BUDGET_S, STALL_S, TOLERANCE_WINDOW, InlinePolicy
from tests.fixtures.servers import RunningServer

LOOP_THREAD = "MainThread"  # the event loop runs on the worker's main thread
SCORING_THREAD = "scoring-0"


def score(server: RunningServer, sleep: float = 0.0) -> httpx.Response:
    return httpx.post(server.url + "/score", json={"sleep": sleep}, timeout=10)


def until_inline(server: RunningServer) -> int:
    """Score until run() is on the event loop; how many calls that took.

    Normally ``FIRST_PROBATION`` calls; more if the machine is so busy that a call is slow now
    and then (which rightly delays the move), so allow plenty.
    """
    for calls in range(1, FIRST_PROBATION * 10):
        if score(server).json()["thread"] == LOOP_THREAD:
            return calls
    raise AssertionError(f"run() still on the scoring thread after {calls} fast calls:\n{server.log()}")


def test_auto_mode_moves_a_fast_run_onto_the_event_loop(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py")
    first = score(server).json()
    assert first == {"thread": SCORING_THREAD, "init_thread": SCORING_THREAD, "slept": 0.0}
    assert until_inline(server) >= FIRST_PROBATION  # 1 + this many calls: never before the probation
    assert {score(server).json()["thread"] for _ in range(10)} == {LOOP_THREAD}


def test_auto_mode_moves_a_run_that_turns_slow_back_to_the_thread(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py")
    until_inline(server)
    assert score(server, sleep=STALL_S * 2).json()["thread"] == LOOP_THREAD  # this one stalls the loop...
    assert score(server).json()["thread"] == SCORING_THREAD  # ...and is the last to do so


def test_auto_mode_times_out_an_inline_run_that_catches_every_exception(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py", env={"SHIPYARD_REQUEST_TIMEOUT_S": "0.5"})
    until_inline(server)
    start = time.monotonic()
    response = score(server, sleep=5)
    assert response.status_code == 504, response.text
    assert time.monotonic() - start < 2
    assert "run() was interrupted" in response.json()["message"]
    assert response.headers["x-ms-run-function-failed"] == "True"
    # Interrupted, not left running: the very next call is answered at once, on the thread again.
    assert score(server).json()["thread"] == SCORING_THREAD
    assert "Traceback" not in server.log()


def test_thread_mode_keeps_init_and_run_on_one_scoring_thread(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py", env={"SHIPYARD_SCORING_MODE": "thread"})
    answers = [score(server).json() for _ in range(FIRST_PROBATION * 2)]
    assert {(answer["init_thread"], answer["thread"]) for answer in answers} == {(SCORING_THREAD, SCORING_THREAD)}


def test_inline_mode_runs_init_and_run_on_the_event_loop(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py", env={"SHIPYARD_SCORING_MODE": "inline",
                                                    "SHIPYARD_REQUEST_TIMEOUT_S": "0.5"})
    assert score(server).json() == {"thread": LOOP_THREAD, "init_thread": LOOP_THREAD, "slept": 0.0}
    timed_out = score(server, sleep=5)
    assert timed_out.status_code == 504 and "run() was interrupted" in timed_out.json()["message"]
    assert httpx.get(server.url + "/v2/health/live").status_code == 200
    assert score(server).json()["thread"] == LOOP_THREAD


def test_an_unknown_mode_stops_the_server_naming_the_variable(start_runtime) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(entry_script=None, env={"SHIPYARD_SCORING_MODE": "fast"}, wait=False)
    assert server.wait_exit() != 0
    assert "SHIPYARD_SCORING_MODE" in server.log() and "'auto', 'thread' or 'inline'" in server.log()


class TestInlinePolicy:
    """The auto mode's bookkeeping, call by call (durations in seconds)."""

    FAST, SLOW = INLINE_BUDGET_S / 10, INLINE_BUDGET_S * 2

    def promoted(self) -> InlinePolicy:
        policy = InlinePolicy("auto")
        for _ in range(FIRST_PROBATION):
            policy.observe(self.FAST)
        assert policy.inline
        return policy

    def test_starts_on_the_thread_and_earns_the_loop(self) -> None:
        policy = InlinePolicy("auto")
        for _ in range(FIRST_PROBATION - 1):
            policy.observe(self.FAST)
            assert not policy.inline
        policy.observe(self.FAST)
        assert policy.inline

    def test_forgives_a_lone_slow_call(self) -> None:
        policy = self.promoted()
        policy.observe(self.SLOW)
        assert policy.inline

    def test_a_second_slow_call_within_the_window_sends_calls_back_for_a_longer_probation(self) -> None:
        policy = self.promoted()
        policy.observe(self.SLOW)
        for _ in range(TOLERANCE_WINDOW - 2):
            policy.observe(self.FAST)
        policy.observe(self.SLOW)
        assert not policy.inline
        for _ in range(FIRST_PROBATION * 2 - 1):
            policy.observe(self.FAST)
        assert not policy.inline
        policy.observe(self.FAST)
        assert policy.inline

    def test_a_stall_or_a_timeout_sends_calls_back_at_once(self) -> None:
        for duration in (STALL_S * 1.5, None):
            policy = self.promoted()
            policy.observe(duration)
            assert not policy.inline

    def test_thread_and_inline_modes_never_change(self) -> None:
        for mode, inline in (("thread", False), ("inline", True)):
            policy = InlinePolicy(mode)  # type: ignore[arg-type]
            for duration in (self.FAST,) * FIRST_PROBATION + (STALL_S * 2,):
                policy.observe(duration)
                assert policy.inline is inline


@pytest.mark.parametrize("threads", ["2"])
def test_auto_mode_with_several_scoring_threads_stays_on_them(module_runtime, threads: str) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py", env={"SHIPYARD_SCORING_THREADS": threads})
    names = {score(server).json()["thread"] for _ in range(FIRST_PROBATION * 2)}
    assert names and LOOP_THREAD not in names


def test_an_app_embedded_off_the_main_thread_keeps_run_on_the_scoring_thread(model_folder) -> None:  # type: ignore[no-untyped-def]
    """create_app() under a plain uvicorn.Server (ASGI version sniffed) in a thread: no SIGALRM there."""
    import threading

    import uvicorn

    from shipyard.runtime import create_app, load_settings
    from tests.fixtures.servers import SCRIPTS, free_port

    port = free_port()
    app = create_app(load_settings(model_dir=model_folder, entry_script=SCRIPTS / "thread_score.py"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        threads = {httpx.post(url + "/score", json={}).json()["thread"] for _ in range(FIRST_PROBATION * 2)}
        assert threads == {SCORING_THREAD}
    finally:
        server.should_exit = True
        thread.join(10)
