"""The recycle policy alone: each worker's own jittered request limit, and the memory ceiling."""

from __future__ import annotations

from shipyard.runtime.recycling import RecyclePolicy, resident_memory_bytes
from shipyard.runtime.settings import RuntimeSettings


def test_no_limits_no_policy() -> None:
    assert RecyclePolicy.from_settings(RuntimeSettings(), print) is None
    assert not RuntimeSettings().recycles_workers


def test_each_worker_draws_its_limit_within_the_jitter_and_asks_once() -> None:
    settings = RuntimeSettings(max_requests=1000, max_requests_jitter=50)
    limits = set()
    for _ in range(200):
        policy = RecyclePolicy.from_settings(settings, print)
        assert policy is not None
        limits.add(policy.max_requests)
    assert limits <= set(range(1000, 1051)) and len(limits) > 10  # spread, so workers do not restart together
    asked: list[str] = []
    policy = RecyclePolicy(max_requests=10, max_memory_bytes=None, on_recycle=asked.append)
    policy.check(9)
    assert asked == []
    policy.check(10)
    policy.check(11)
    assert asked == ["served 10 requests (max_requests 10)"]  # once


def test_the_memory_ceiling_reads_this_processs_rss() -> None:
    rss = resident_memory_bytes()
    assert rss is not None and rss > 10 * 2**20
    asked: list[str] = []
    RecyclePolicy(max_requests=None, max_memory_bytes=rss * 2, on_recycle=asked.append).check(0)
    assert asked == []
    RecyclePolicy(max_requests=None, max_memory_bytes=2**20, on_recycle=asked.append).check(0, memory=False)
    assert asked == []  # memory is only read when asked (once a second)
    RecyclePolicy(max_requests=None, max_memory_bytes=2**20, on_recycle=asked.append).check(0)
    assert len(asked) == 1 and "is above max_worker_memory_mb 1" in asked[0]
