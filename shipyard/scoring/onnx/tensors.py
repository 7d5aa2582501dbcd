"""The model's inputs and outputs as ONNX Runtime declares them, and checks of request tensors.

Built once at load: each input's numpy dtype and shape (``-1`` for a free dimension), so checking a
request is a dtype comparison and a short loop over the dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import BadRequestError
from shipyard.scoring.base import TensorSpec
from shipyard.scoring.datatypes import ONNX_TO_DATATYPE, datatype_to_numpy

ZIPMAP_PREFIX = "seq(map("


@dataclass(frozen=True)
class OnnxTensor:
    """One model input or output."""

    name: str
    onnx_type: str  # e.g. "tensor(float)" or "seq(map(int64,tensor(float)))"
    datatype: str  # V2 name; non-tensors are reported as FP32 (ZipMap) or BYTES
    dtype: np.dtype
    shape: tuple[int, ...]

    @classmethod
    def from_node(cls, node: Any) -> OnnxTensor:
        """From an onnxruntime ``NodeArg``."""
        onnx_type = node.type
        shape = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in (node.shape or ()))
        if onnx_type in ONNX_TO_DATATYPE:
            datatype = ONNX_TO_DATATYPE[onnx_type]
        elif onnx_type.startswith(ZIPMAP_PREFIX):
            datatype, shape = "FP32", (-1, -1)  # per-row class probabilities
        else:
            datatype, shape = "BYTES", (-1,)  # other sequences/maps: one JSON document per element
        return cls(node.name, onnx_type, datatype, datatype_to_numpy(datatype), shape)

    @property
    def is_tensor(self) -> bool:
        return self.onnx_type.startswith("tensor(")

    @property
    def is_zipmap(self) -> bool:
        return self.onnx_type.startswith(ZIPMAP_PREFIX)

    @property
    def is_string(self) -> bool:
        return self.onnx_type == "tensor(string)"

    def spec(self) -> TensorSpec:
        return TensorSpec(name=self.name, datatype=self.datatype, shape=self.shape)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Raises BadRequestError naming the input, expected and received shape."""
        expected = self.shape
        pairs = zip(expected, shape, strict=False)  # lengths compared first
        if len(shape) != len(expected) or any(want not in (-1, got) for want, got in pairs):
            raise BadRequestError(
                f"input {self.name!r}: expected shape {list(expected)} (-1: any size), got {list(shape)}"
            )

    def check_datatype(self, array: np.ndarray, datatype: str | None = None) -> None:
        """Raises BadRequestError naming the input, expected and received datatype."""
        if array.dtype != self.dtype:
            got = datatype or str(array.dtype)
            raise BadRequestError(f"input {self.name!r}: expected datatype {self.datatype}, got {got}")

    def from_json(self, value: Any) -> np.ndarray:
        """A nested JSON list as this input's array (numbers are converted to the model's dtype)."""
        try:
            array = np.asarray(value, dtype=object if self.is_string else self.dtype)
        except (ValueError, TypeError) as exc:
            raise BadRequestError(
                f"input {self.name!r}: cannot read the value as a {self.datatype} tensor of shape "
                f"{list(self.shape)}: {exc}"
            ) from None
        self.check_shape(array.shape)
        return array
