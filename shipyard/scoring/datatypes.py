"""Open Inference Protocol (V2) datatypes, numpy dtypes and ONNX type strings, in one table.

Every scorer and the runtime's V2 codec must agree on these names; keeping the mapping here avoids
three slightly different copies.
"""

from __future__ import annotations

import numpy as np

from shipyard.errors import BadRequestError

# V2 datatype -> numpy dtype (BYTES: object arrays holding bytes)
DATATYPE_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_NUMPY_TO_DATATYPE = {dtype: name for name, dtype in DATATYPE_TO_NUMPY.items()}
# The same dtypes in little-endian byte order: how V2 binary tensor data (Triton's binary extension)
# lays them out on the wire, whatever the host's order (BOOL, UINT8, INT8, BYTES have no byte order).
WIRE_DTYPES: dict[str, np.dtype] = {name: dtype.newbyteorder("<") for name, dtype in DATATYPE_TO_NUMPY.items()}

# ONNX tensor element type (as onnxruntime spells it in NodeArg.type) -> V2 datatype
ONNX_TO_DATATYPE: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def numpy_to_datatype(dtype: np.dtype) -> str:
    """The V2 datatype of a numpy dtype; text and object arrays are ``BYTES``.

    Raises:
        TypeError: no V2 datatype fits (complex numbers, datetimes, structured dtypes).
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "USO":
        return "BYTES"
    try:
        return _NUMPY_TO_DATATYPE[dtype]
    except KeyError:
        raise TypeError(f"numpy dtype {dtype} has no Open Inference Protocol datatype") from None


def datatype_to_numpy(datatype: str) -> np.dtype:
    """The numpy dtype of a V2 datatype name.

    Raises:
        BadRequestError: unknown name; the message lists the valid ones.
    """
    try:
        return DATATYPE_TO_NUMPY[datatype]
    except KeyError:
        raise BadRequestError(
            f"unknown datatype {datatype!r}; valid datatypes: {', '.join(DATATYPE_TO_NUMPY)}"
        ) from None


def to_bytes_tensor(array: np.ndarray) -> np.ndarray:
    """Text arrays (``<U``/``S``/object of str) as the object-of-bytes arrays V2 ``BYTES`` uses."""
    if array.dtype == object and all(isinstance(item, bytes) for item in array.flat):
        return array
    flat = [item if isinstance(item, bytes) else str(item).encode("utf-8") for item in array.flat]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(array.shape)


def to_str_tensor(array: np.ndarray) -> np.ndarray:
    """V2 ``BYTES`` (bytes objects) as the str object arrays onnxruntime expects for ``tensor(string)``."""
    flat = [item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in array.flat]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(array.shape)
