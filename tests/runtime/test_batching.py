"""Dynamic batching against a real server: each request gets its own rows, errors stay with their
request, and the batch-size settings are honoured (observed through ``shipyard_batch_size`` in
``/metrics``, never through timing).

The model is ``y = x @ W`` (x FP32 [batch, 4]) and ``g = table[k]`` (k INT64 [batch], table of 10):
an index past the table passes every check but fails inside onnxruntime, the one way a request
can break the batched call itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures.servers import SCRIPTS, RunningServer, free_port, start_server

W = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
TABLE = np.arange(10, dtype=np.float32) * 10
LONG_DELAY_US = "10000000"  # 10 s: a batch runs only once it is full, never because the delay ran out


def write_model(folder: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Gather", ["table", "k"], ["g"], axis=0)],
        "batching_test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("k", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("g", TensorProto.FLOAT, ["batch"])],
        initializer=[numpy_helper.from_array(W, "w"), numpy_helper.from_array(TABLE, "table")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningServer]]:
    """``serve(SHIPYARD_MAX_BATCH_SIZE="8", ...)``: the model above (or ``script=``) with those settings."""
    root = tmp_path_factory.mktemp("batching")
    write_model(root / "model")
    started: list[RunningServer] = []

    def start(script: str | None = None, **env: str) -> RunningServer:
        server = start_server(root, model_dir=root / "model", entry_script=SCRIPTS / script if script else None,
                              env={"SHIPYARD_MODEL_NAME": "lin", "SHIPYARD_ACCESS_LOG": "false", **env})
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def v2_json(x: np.ndarray, k: np.ndarray) -> dict:
    return {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()},
                       {"name": "k", "datatype": "INT64", "shape": list(k.shape), "data": k.tolist()}]}


def batches(server: RunningServer) -> tuple[int, int, dict[float, int]]:
    """(batches formed, rows in them, cumulative count by bucket bound) from ``/metrics``."""
    text = httpx.get(server.url + "/metrics").text
    count = float(re.search(r"^shipyard_batch_size_count\{.*\} (\S+)$", text, re.M).group(1))
    total = float(re.search(r"^shipyard_batch_size_sum\{.*\} (\S+)$", text, re.M).group(1))
    buckets = {float(bound): int(float(value)) for bound, value in
               re.findall(r'^shipyard_batch_size_bucket\{le="([^"]+)".*\} (\S+)$', text, re.M) if bound != "+Inf"}
    return int(count), int(total), buckets


def concurrently(count: int, call: Callable[[int], object]) -> list[object]:
    """``call(0..count-1)``, all at once, each on its own thread."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


def test_each_concurrent_client_gets_exactly_its_own_rows_over_every_route(serve):
    import tritonclient.grpc as triton_grpc
    import tritonclient.http as triton

    grpc_port = free_port()
    server = serve(SHIPYARD_MAX_BATCH_SIZE="16", SHIPYARD_MAX_QUEUE_DELAY_US="20000", SHIPYARD_GRPC_PORT=str(grpc_port))
    clients, rounds = 24, 8

    def client(number: int) -> int:
        rng = np.random.default_rng(number)
        sent = 0
        triton_client = triton.InferenceServerClient(server.address)
        grpc_client = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for round_ in range(rounds):
                rows = 1 + (number + round_) % 3
                x = rng.standard_normal((rows, 4)).astype(np.float32) + number * 100  # distinct per client
                k = rng.integers(0, 10, rows)
                route = (number + round_) % 4
                if route == 0:  # V2 JSON
                    outputs = {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in
                               http.post("/v2/models/lin/infer", json=v2_json(x, k)).raise_for_status().json()["outputs"]}
                elif route == 1:  # V2 binary tensors, as tritonclient sends them
                    inputs = [triton.InferInput("x", list(x.shape), "FP32"), triton.InferInput("k", list(k.shape), "INT64")]
                    inputs[0].set_data_from_numpy(x, binary_data=True)
                    inputs[1].set_data_from_numpy(k.astype(np.int64), binary_data=True)
                    result = triton_client.infer("lin", inputs)
                    outputs = {"y": result.as_numpy("y"), "g": result.as_numpy("g")}
                elif route == 2:  # Azure /score
                    body = http.post("/score", json={"x": x.tolist(), "k": k.tolist()}).raise_for_status().json()
                    outputs = {name: np.array(value) for name, value in body.items()}
                else:  # V2 over gRPC, raw tensor contents
                    inputs = [triton_grpc.InferInput("x", list(x.shape), "FP32"),
                              triton_grpc.InferInput("k", list(k.shape), "INT64")]
                    inputs[0].set_data_from_numpy(x)
                    inputs[1].set_data_from_numpy(k.astype(np.int64))
                    result = grpc_client.infer("lin", inputs)
                    outputs = {"y": result.as_numpy("y"), "g": result.as_numpy("g")}
                np.testing.assert_allclose(outputs["y"], x @ W, rtol=1e-5)
                np.testing.assert_array_equal(outputs["g"], TABLE[k])
                sent += rows
        triton_client.close()
        grpc_client.close()
        return sent

    rows_sent = sum(concurrently(clients, client))
    formed, rows_batched, _ = batches(server)
    assert rows_batched == rows_sent  # every row went through the batcher exactly once
    assert formed < clients * rounds  # and requests did share model calls


def test_a_bad_request_never_fails_its_batch_mates(serve):
    # Exactly one batch of 8: seven good requests and one whose index breaks the model call itself.
    server = serve(SHIPYARD_MAX_BATCH_SIZE="8", SHIPYARD_MAX_QUEUE_DELAY_US=LONG_DELAY_US)
    culprit = 5

    def call(number: int) -> httpx.Response:
        x = np.full((1, 4), number, dtype=np.float32)
        k = np.array([99 if number == culprit else number])
        return httpx.post(server.url + "/v2/models/lin/infer", json=v2_json(x, k), timeout=30)

    answers = concurrently(8, call)
    assert batches(server)[:2] == (1, 8)  # they did share one call, which failed and was retried per request
    for number, answer in enumerate(answers):
        if number == culprit:
            assert answer.status_code == 400
            assert "indices element out of data bounds" in answer.json()["error"]
        else:
            assert answer.status_code == 200, answer.text
            y, g = (np.array(out["data"]) for out in answer.json()["outputs"])
            np.testing.assert_allclose(y, (np.full((1, 4), number) @ W).ravel(), rtol=1e-5)
            assert g.tolist() == [TABLE[number]]


def test_invalid_requests_are_refused_before_they_join_a_batch(serve):
    server = serve(SHIPYARD_MAX_BATCH_SIZE="4", SHIPYARD_MAX_QUEUE_DELAY_US=LONG_DELAY_US)
    bad = {
        0: {"x": [[1, 2, 3]], "k": [1]},  # three columns instead of four
        1: {"x": [[1, 2, 3, 4]]},  # k missing
        2: {"x": [["a", 2, 3, 4]], "k": [1]},  # not a number
    }

    def call(number: int) -> httpx.Response:
        body = bad.get(number, {"x": [[number] * 4], "k": [number]})
        return httpx.post(server.url + "/score", json=body, timeout=30)

    answers = concurrently(7, call)  # 3 refused at once; the 4 good ones fill exactly one batch
    assert [answer.status_code for answer in answers] == [400, 400, 400, 200, 200, 200, 200]
    assert "expected shape [-1, 4]" in answers[0].json()["error"]
    assert "missing input(s) ['k']" in answers[1].json()["error"]
    for number in range(3, 7):
        assert answers[number].json()["g"] == [TABLE[number]]
    assert batches(server)[:2] == (1, 4)


def test_max_batch_size_caps_every_batch(serve):
    server = serve(SHIPYARD_MAX_BATCH_SIZE="4", SHIPYARD_MAX_QUEUE_DELAY_US=LONG_DELAY_US)
    answers = concurrently(12, lambda n: httpx.post(server.url + "/score", json={"x": [[n] * 4], "k": [n % 10]},
                                                    timeout=30))
    assert all(answer.status_code == 200 for answer in answers)
    formed, rows, buckets = batches(server)
    assert (formed, rows) == (3, 12)
    assert buckets[2.0] == 0 and buckets[4.0] == 3  # three batches of exactly four


def test_preferred_batch_size_runs_without_waiting_out_the_delay(serve):
    server = serve(SHIPYARD_MAX_BATCH_SIZE="64", SHIPYARD_PREFERRED_BATCH_SIZES="3",
                   SHIPYARD_MAX_QUEUE_DELAY_US=LONG_DELAY_US)
    answers = concurrently(6, lambda n: httpx.post(server.url + "/score", json={"x": [[n] * 4], "k": [n]}, timeout=30))
    assert all(answer.status_code == 200 for answer in answers)
    formed, rows, buckets = batches(server)
    assert (formed, rows) == (2, 6) and buckets[2.0] == 0 and buckets[4.0] == 2


def test_queue_delay_gathers_requests_that_arrive_close_together(serve):
    server = serve(SHIPYARD_MAX_BATCH_SIZE="64", SHIPYARD_MAX_QUEUE_DELAY_US="3000000")  # 3 s
    answers = concurrently(5, lambda n: httpx.post(server.url + "/score", json={"x": [[n] * 4], "k": [n]}, timeout=30))
    assert all(answer.status_code == 200 for answer in answers)
    assert batches(server)[:2] == (1, 5)  # one call: the first request waited for the other four


def test_after_a_batch_of_one_a_lone_client_does_not_wait_out_the_delay(serve):
    server = serve(SHIPYARD_MAX_BATCH_SIZE="64", SHIPYARD_MAX_QUEUE_DELAY_US="3000000")  # 3 s
    first = httpx.post(server.url + "/score", json={"x": [[0] * 4], "k": [0]}, timeout=30)  # waits the 3 s once
    assert first.status_code == 200
    for n in range(1, 4):  # each is as many rows as the last batch had: it runs at once, well inside 2 s
        assert httpx.post(server.url + "/score", json={"x": [[n] * 4], "k": [n]}, timeout=2).status_code == 200
    assert batches(server)[:2] == (4, 4)


def test_a_request_with_more_rows_than_the_maximum_runs_alone(serve):
    server = serve(SHIPYARD_MAX_BATCH_SIZE="2")
    x, k = np.ones((5, 4), dtype=np.float32), np.arange(5)
    answer = httpx.post(server.url + "/v2/models/lin/infer", json=v2_json(x, k), timeout=30)
    assert answer.status_code == 200
    assert np.array(answer.json()["outputs"][1]["data"]).tolist() == TABLE[:5].tolist()
    assert batches(server)[:2] == (1, 5)


# -- entry scripts: opt in with run_batch() ---------------------------------------------------------
def test_a_score_py_with_run_batch_gets_concurrent_bodies_in_one_call(serve):
    server = serve("batch_score.py", SHIPYARD_MAX_BATCH_SIZE="6", SHIPYARD_MAX_QUEUE_DELAY_US=LONG_DELAY_US)
    answers = concurrently(6, lambda n: httpx.post(server.url + "/score", content=f"item-{n}", timeout=30))
    for number, answer in enumerate(answers):
        assert answer.status_code == 200
        assert answer.json() == {"echo": f"item-{number}", "batch_size": 6, "via": "run_batch"}
    assert batches(server)[:2] == (1, 6)


def test_run_batch_errors_stay_with_the_request_that_caused_them(serve):
    server = serve("batch_score.py", SHIPYARD_MAX_BATCH_SIZE="4", SHIPYARD_MAX_QUEUE_DELAY_US=LONG_DELAY_US)
    bodies = ["fine-0", "boom", "fine-2", "refused"]
    answers = concurrently(4, lambda n: httpx.post(server.url + "/score", content=bodies[n], timeout=30))
    assert [answer.status_code for answer in answers] == [200, 500, 200, 500]
    # "boom" made run_batch raise: every request was retried alone, so the good ones answered from batches of 1
    assert answers[0].json() == {"echo": "fine-0", "batch_size": 1, "via": "run_batch"}
    assert answers[1].json()["request_id"] == answers[1].headers["x-ms-request-id"]  # a generic 500, details in the log
    assert "ValueError: refused" in server.log()  # the exception run_batch returned for that one input


def test_batching_leaves_a_plain_score_py_unchanged(serve):
    server = serve("echo_score.py", SHIPYARD_MAX_BATCH_SIZE="8")
    answer = httpx.post(server.url + "/score", content="hello", timeout=30)
    assert answer.status_code == 200 and answer.json()["data"] == "hello"
    assert "defines no run_batch(data_list); run() answers each request" in server.log()


def test_batching_is_off_unless_asked_for(serve):
    server = serve()
    assert httpx.post(server.url + "/score", json={"x": [[1] * 4], "k": [1]}, timeout=30).status_code == 200
    assert "shipyard_batch_size_count" not in httpx.get(server.url + "/metrics").text


# -- settings: flags, environment ---------------------------------------------------------------------
def test_shipyard_serve_flags_set_the_batching(tmp_path):
    import sys

    write_model(tmp_path / "model")
    server = start_server(tmp_path, model_dir=tmp_path / "model", argv=[
        sys.executable, "-c", "from shipyard.cli import main; main()", "serve", "--host", "127.0.0.1",
        "--port", "{port}", "--max-batch-size", "4", "--max-queue-delay-us", LONG_DELAY_US,
        "--preferred-batch-size", "2", "--preferred-batch-size", "3",
    ])  # fmt: skip
    try:
        answers = concurrently(2, lambda n: httpx.post(server.url + "/score", json={"x": [[n] * 4], "k": [n]}, timeout=30))
        assert [answer.status_code for answer in answers] == [200, 200]
        assert batches(server)[:2] == (1, 2)  # a preferred size: ran without waiting out the 10 s delay
        assert "up to 4 rows, queue delay 10000000 us, preferred sizes [2, 3]" in server.log()
    finally:
        server.stop()


def test_preferred_sizes_beyond_the_maximum_are_refused_with_the_variable_to_fix(monkeypatch):
    from shipyard.errors import ServerStartError
    from shipyard.runtime.settings import load_settings

    monkeypatch.setenv("SHIPYARD_PREFERRED_BATCH_SIZES", "8, 32")
    monkeypatch.setenv("SHIPYARD_MAX_BATCH_SIZE", "16")
    with pytest.raises(ServerStartError, match=r"preferred batch sizes \[32\] must lie between 1 and max_batch_size"):
        load_settings()
    monkeypatch.setenv("SHIPYARD_MAX_BATCH_SIZE", "32")
    settings = load_settings()
    assert (settings.max_batch_size, settings.preferred_batch_sizes) == (32, [8, 32])
