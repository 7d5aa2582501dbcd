"""Nothing CPU-heavy on the event loop: large bodies are parsed, decoded and scored off it.

The event loop answers health probes; while it parses a 30 MB body, a liveness probe waits. So a
body larger than ``SHIPYARD_INLINE_BODY_BYTES`` never runs on the loop, even once ``run()`` has
proved fast enough to run there for small bodies (``auto`` mode), and V2 requests that large are
decoded and encoded on the scoring thread. (How long probes wait is measured, not tested:
``bench/runtime/event_loop.py``.)
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from shipyard.runtime import dataplane as dataplane_module
from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.settings import RuntimeSettings
from tests.fixtures.servers import SCRIPTS, RunningServer
from tests.runtime.test_scoring_modes import LOOP_THREAD, SCORING_THREAD, score, until_inline

LARGE = RuntimeSettings().inline_body_bytes + 1


def v2_infer(server: RunningServer, values: int) -> dict:
    """V2 JSON infer with one FP32 tensor of *values* elements; thread_score.py's outputs, decoded."""
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [values], "data": [0.5] * values}]}
    response = httpx.post(server.url + "/v2/models/model/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return {output["name"]: output["data"][0] for output in response.json()["outputs"]}


def test_a_large_score_body_is_parsed_and_scored_on_the_thread_after_run_moved_inline(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py")
    until_inline(server)
    large = httpx.post(server.url + "/score", json={"sleep": 0, "padding": "x" * LARGE}, timeout=30)
    assert large.status_code == 200, large.text
    assert large.json()["thread"] == SCORING_THREAD
    # A large body teaches the runner nothing about run(): small bodies stay on the event loop.
    assert score(server).json()["thread"] == LOOP_THREAD


def test_a_large_v2_request_is_scored_on_the_thread_after_run_moved_inline(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py")
    until_inline(server)
    assert v2_infer(server, 4)["thread"] == LOOP_THREAD
    assert v2_infer(server, LARGE // 3)["thread"] == SCORING_THREAD  # > LARGE bytes of JSON
    assert v2_infer(server, 4)["thread"] == LOOP_THREAD


def test_setting_the_threshold_keeps_larger_bodies_inline(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("thread_score.py", env={"SHIPYARD_INLINE_BODY_BYTES": str(LARGE * 4)})
    until_inline(server)
    large = httpx.post(server.url + "/score", json={"sleep": 0, "padding": "x" * LARGE}, timeout=30)
    assert large.json()["thread"] == LOOP_THREAD


@pytest.mark.parametrize("size", [16, LARGE], ids=["small", "large"])
def test_v2_decoding_and_encoding_happen_off_the_loop_for_large_bodies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Where the runtime's own decoder and encoder run, recorded around the real ones."""
    seen: dict[str, str] = {}
    real_decode, real_encode = dataplane_module.v2codec.decode_request, dataplane_module.v2codec.encode_response

    def decode(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen["decode"] = threading.current_thread().name
        return real_decode(*args, **kwargs)

    def encode(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen["encode"] = threading.current_thread().name
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(dataplane_module.v2codec, "decode_request", decode)
    monkeypatch.setattr(dataplane_module.v2codec, "encode_response", encode)
    settings = RuntimeSettings(model_dir=tmp_path, entry_script=SCRIPTS / "v2_sum_score.py", scoring_mode="thread")
    values = np.full((max(size // 8, 1), 2), 0.25).tolist()
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [len(values), 2], "data": values}]})

    async def infer() -> str:
        plane = DataPlane(settings)
        await plane.load()
        try:
            payload, _ = await plane.infer(plane.model_name, None, body.encode(), None, "r-1")
        finally:
            await plane.close()
        seen["loop"] = threading.current_thread().name
        return payload.decode()

    answer = json.loads(asyncio.run(infer()))
    assert {output["name"] for output in answer["outputs"]} == {"row_sum", "keys"}
    where = {"decode": seen["decode"], "encode": seen["encode"]}
    if size == LARGE:
        assert where == {"decode": SCORING_THREAD, "encode": SCORING_THREAD}
    else:
        assert where == {"decode": seen["loop"], "encode": seen["loop"]}


def test_a_large_grpc_request_is_scored_on_the_thread_after_run_moved_inline(tmp_path: Path) -> None:
    import tritonclient.grpc as triton_grpc

    from tests.runtime.test_grpc import _start

    (tmp_path / "model").mkdir()
    server = _start(tmp_path, env={}, model_dir=tmp_path / "model", entry_script=SCRIPTS / "thread_score.py")
    try:
        until_inline(server)
        with triton_grpc.InferenceServerClient(server.grpc_address) as client:

            def thread_of(values: int) -> str:
                tensor = triton_grpc.InferInput("x", [values], "FP32")
                tensor.set_data_from_numpy(np.full(values, 0.5, dtype=np.float32))
                return client.infer("model", [tensor]).as_numpy("thread").item().decode()

            assert thread_of(4) == LOOP_THREAD
            assert thread_of(LARGE // 4 + 1) == SCORING_THREAD
            assert thread_of(4) == LOOP_THREAD
    finally:
        server.stop()
