"""The per-worker concurrency limit: N scoring calls at once, a bounded queue, 503 + Retry-After past the wait.

Against a real server: run() sleeps as long as each request asks, on two scoring threads.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from shipyard.runtime.admission import Admission
from tests.fixtures.servers import SCRIPTS


@pytest.fixture
def limited(start_runtime):
    return start_runtime(entry_script=SCRIPTS / "runtime_slow_score.py", env={
        "SHIPYARD_MAX_CONCURRENT_REQUESTS": "2", "SHIPYARD_MAX_QUEUE": "1", "SHIPYARD_MAX_QUEUE_WAIT_MS": "300",
        "SHIPYARD_SCORING_THREADS": "2"})


async def _score(client: httpx.AsyncClient, url: str, sleep: float) -> httpx.Response:
    return await client.post(url + "/score", json={"sleep": sleep}, timeout=10)


def test_past_the_limit_requests_queue_then_get_503_with_retry_after(limited):
    async def scenario():
        async with httpx.AsyncClient() as client:
            running = [asyncio.create_task(_score(client, limited.url, 1.5)) for _ in range(2)]
            await asyncio.sleep(0.3)  # both slots taken
            started = time.monotonic()
            queued = asyncio.create_task(_score(client, limited.url, 0))
            await asyncio.sleep(0.05)
            refused = await _score(client, limited.url, 0)  # the one queue place is taken: refused at once
            refused_after = time.monotonic() - started
            health = await client.get(limited.url + "/v2/health/ready")  # never queued behind scoring
            timed_out = await queued
            waited = time.monotonic() - started
            done = await asyncio.gather(*running)
            after = await _score(client, limited.url, 0)
            return refused, refused_after, health, timed_out, waited, done, after

    refused, refused_after, health, timed_out, waited, done, after = asyncio.run(scenario())
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "queued" in refused.json()["error"] and refused_after < 0.3
    assert health.status_code == 200
    assert timed_out.status_code == 503 and "SHIPYARD_MAX_QUEUE_WAIT_MS" in timed_out.json()["error"]
    assert 0.3 <= waited < 1.2
    assert [response.status_code for response in done] == [200, 200]
    assert after.status_code == 200  # every slot came back


def test_a_queued_request_gets_the_next_free_slot(limited):
    async def scenario():
        async with httpx.AsyncClient() as client:
            running = [asyncio.create_task(_score(client, limited.url, 0.2)) for _ in range(2)]
            await asyncio.sleep(0.05)
            queued = await _score(client, limited.url, 0)  # waits < 300 ms for a slot
            return queued, await asyncio.gather(*running)

    queued, done = asyncio.run(scenario())
    assert queued.status_code == 200 and [r.status_code for r in done] == [200, 200]


def test_slots_pass_to_waiters_first_come_first_served():
    async def scenario():
        admission = Admission(1, max_queue=5, max_wait_s=5)
        order = []
        assert await admission.acquire() is None

        async def waiter(name):
            assert await admission.acquire() is None
            order.append(name)
            await asyncio.sleep(0)
            admission.release()

        tasks = [asyncio.create_task(waiter(name)) for name in "abc"]
        await asyncio.sleep(0.01)
        assert admission.queued == 3
        admission.release()
        await asyncio.gather(*tasks)
        return order, admission.active

    assert asyncio.run(scenario()) == (list("abc"), 0)


def test_grpc_infer_shares_the_slots_and_gets_unavailable(start_runtime):
    pytest.importorskip("grpc")
    import numpy as np
    import tritonclient.grpc as triton_grpc
    from tritonclient.utils import InferenceServerException

    from tests.fixtures.servers import free_port

    grpc_port = free_port()
    server = start_runtime(entry_script=SCRIPTS / "slow_any_score.py", env={
        "SHIPYARD_MAX_CONCURRENT_REQUESTS": "1", "SHIPYARD_MAX_QUEUE": "0", "SHIPYARD_GRPC_PORT": str(grpc_port)})

    def infer(client, seconds):
        tensor = triton_grpc.InferInput("sleep", [1], "FP64")
        tensor.set_data_from_numpy(np.array([float(seconds)]))
        return client.infer("model", [tensor])

    async def scenario():
        async with httpx.AsyncClient() as http:
            busy = asyncio.create_task(_score(http, server.url, 1.5))
            await asyncio.sleep(0.3)  # the one slot is taken over REST
            with triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}") as client:
                with pytest.raises(InferenceServerException) as refused:
                    await asyncio.to_thread(infer, client, 0)
                done = await busy
                answer = await asyncio.to_thread(infer, client, 0)
            return refused.value, done, answer

    refused, done, answer = asyncio.run(scenario())
    assert refused.status() == "StatusCode.UNAVAILABLE" and "busy" in refused.message()
    assert done.status_code == 200
    assert answer.as_numpy("slept").tolist() == [0.0]
