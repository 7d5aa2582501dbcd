"""Execution providers through the real runtime: reported in V2 metadata and the log, strict at start.

This machine has no GPU, so asking for CUDA shows both behaviours: a fallback to the CPU that is
visible (metadata ``parameters`` and a warning), and a strict start that fails instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper


@pytest.fixture
def adder_dir(tmp_path: Path) -> Path:
    """An ONNX model computing ``sum = a + b`` for FP32 vectors."""
    folder = tmp_path / "adder"
    folder.mkdir()
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"])], "adder",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n"]) for name in ("a", "b")],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["n"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), folder / "adder.onnx")
    return folder


def test_a_missing_accelerator_falls_back_visibly(start_runtime, adder_dir: Path):
    server = start_runtime(model_dir=adder_dir, env={"SHIPYARD_EXECUTION_PROVIDERS": "CUDA,CPU"})
    client = triton.InferenceServerClient(server.address)

    assert client.get_model_metadata("adder")["parameters"]["execution_providers"] == ["CPU"]
    assert "Execution provider CUDAExecutionProvider is not available here" in server.log()
    inputs = []
    for name, values in (("a", [1.0, 2.0]), ("b", [10.0, 20.0])):
        tensor = triton.InferInput(name, [2], "FP32")
        tensor.set_data_from_numpy(np.asarray(values, dtype=np.float32))
        inputs.append(tensor)
    assert client.infer("adder", inputs).as_numpy("sum").tolist() == [11.0, 22.0]


def test_strict_providers_stop_the_server_at_start(start_runtime, adder_dir: Path):
    server = start_runtime(model_dir=adder_dir, wait=False,
                           env={"SHIPYARD_EXECUTION_PROVIDERS": "CUDA", "SHIPYARD_STRICT_PROVIDERS": "true"})
    assert server.wait_exit() == 3
    assert "execution provider CUDA (CUDAExecutionProvider) is not available" in server.log()
