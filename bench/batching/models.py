"""The models under load, made fresh on every run: float32 MLPs exported to ONNX with random weights.

* ``mlp``: 1024 -> 4096 -> 4096 -> 16 (~21M parameters, 84 MB): every call reads all the weights,
  so one row costs nearly as much as many; the model does the work and batching pays.
* ``small``: 16 -> 32 -> 4: microseconds per call; HTTP and the servers' own code dominate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Model:
    name: str
    dims: tuple[int, ...]

    @property
    def inputs(self) -> int:
        return self.dims[0]

    def folder(self, work_dir: Path) -> Path:
        return work_dir / "models" / self.name

    def file(self, work_dir: Path) -> Path:
        return self.folder(work_dir) / "model.onnx"


MODELS = {"mlp": Model("mlp", (1024, 4096, 4096, 16)), "small": Model("small", (16, 32, 4))}


def make(model: Model, work_dir: Path) -> Path:
    """Write ``<work_dir>/models/<name>/model.onnx`` (Gemm + Relu layers, input ``x``, output ``y``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = model.file(work_dir)
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    nodes, weights, previous = [], [], "x"
    layers = list(zip(model.dims, model.dims[1:]))
    for index, (fan_in, fan_out) in enumerate(layers):
        weights.append(numpy_helper.from_array((rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in))
                                               .astype(np.float32), f"w{index}"))
        weights.append(numpy_helper.from_array(np.zeros(fan_out, np.float32), f"b{index}"))
        last = index == len(layers) - 1
        out = "y" if last else f"z{index}"
        nodes.append(helper.make_node("Gemm", [previous, f"w{index}", f"b{index}"], [out]))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"a{index}"]))
            out = f"a{index}"
        previous = out
    graph = helper.make_graph(
        nodes, model.name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", model.dims[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", model.dims[-1]])],
        initializer=weights,
    )  # fmt: skip
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx_model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, path)
    return path


def request_row(model: Model) -> np.ndarray:
    """The one row every request carries (so every server's answer can be checked against onnxruntime)."""
    return np.random.default_rng(1).standard_normal((1, model.inputs)).astype(np.float32)
