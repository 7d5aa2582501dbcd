"""Models and long-lived servers shared by the runtime tests (one server per module keeps it fast)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.servers import SCRIPTS, RunningServer, start_server


def write_onnx_model(folder: Path) -> Path:
    """A tiny ONNX model with every kind of tensor the V2 tests need.

    Inputs ``x`` FP32 [-1, 3], ``h`` FP16 [-1], ``t`` BYTES [-1]; outputs ``doubled`` (x * 2),
    ``total`` (row sums of x), ``h_out`` (h) and ``t_out`` (t).
    """
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["doubled"]),
            helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0),
            helper.make_node("Identity", ["h"], ["h_out"]),
            helper.make_node("Identity", ["t"], ["t_out"]),
        ],
        "runtime_test",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("h", TensorProto.FLOAT16, ["n"]),
            helper.make_tensor_value_info("t", TensorProto.STRING, ["m"]),
        ],
        [
            helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT16, ["n"]),
            helper.make_tensor_value_info("t_out", TensorProto.STRING, ["m"]),
        ],
        initializer=[
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def onnx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The ONNX model above served as ``tiny`` version 2."""
    root = tmp_path_factory.mktemp("onnx")
    write_onnx_model(root / "model")
    server = start_server(root, model_dir=root / "model",
                          env={"SHIPYARD_MODEL_NAME": "tiny", "SHIPYARD_MODEL_VERSION": "2"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningServer]]:
    """Start servers for a whole test module: ``module_runtime("echo_score.py", env={...})``."""
    started: list[RunningServer] = []

    def start(script: str | None, *, model_dir: Path | None = None, **kwargs: object) -> RunningServer:
        root = tmp_path_factory.mktemp("runtime")
        if model_dir is None:
            model_dir = root / "model"
            model_dir.mkdir()
        entry_script = SCRIPTS / script if script else None
        server = start_server(root, model_dir=model_dir, entry_script=entry_script, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
