"""What Shipyard reads from inference-schema decorators: input errors, tensor specs, argument types.

inference-schema converts JSON to numpy/pandas inside its decorator and raises a bare ``ValueError``
or ``Exception`` when the client sent the wrong shape or type. azmlinfsrv reports those as a 500;
they are the client's mistake, so Shipyard answers 400 -- but only when the exception was raised
before the user's own ``run()`` body started; exceptions from that body propagate unchanged.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.errors import BadRequestError
from shipyard.scoring.base import TensorSpec

NUMPY_FORMAT = "numpy.ndarray"


def guard(run: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``run`` so inference-schema's input conversion errors become 400s.

    An exception counts as a conversion error when the traceback never reached the user's own
    ``run`` body (the innermost undecorated function), i.e. it was raised while the decorators were
    still converting the arguments.
    """
    user_code = inspect.unwrap(run).__code__

    def invoke(**arguments: Any) -> Any:
        try:
            return run(**arguments)
        except Exception as exc:
            if not any(frame.f_code is user_code for frame, _ in traceback.walk_tb(exc.__traceback__)):
                raise BadRequestError(f"input does not match run()'s @input_schema: {exc}") from exc
            raise

    return invoke


_FORMATS = {
    ("number", "float"): "FP32", ("number", "double"): "FP64", ("number", None): "FP64",
    ("integer", "int8"): "INT8", ("integer", "int16"): "INT16", ("integer", "int32"): "INT32",
    ("integer", "int64"): "INT64", ("integer", None): "INT64", ("integer", "uint8"): "UINT8",
    ("integer", "uint16"): "UINT16", ("integer", "uint32"): "UINT32", ("integer", "uint64"): "UINT64",
    ("boolean", None): "BOOL", ("string", None): "BYTES",
}


def _input_schema(run: Callable[..., Any]) -> dict[str, Any]:
    from inference_schema.schema_util import get_input_schema

    return get_input_schema(run)


def numpy_parameters(run: Callable[..., Any]) -> frozenset[str]:
    """Parameters declared with ``NumpyParameterType`` (they accept numpy arrays as is)."""
    properties = _input_schema(run).get("properties", {})
    return frozenset(name for name, prop in properties.items() if prop.get("format") == NUMPY_FORMAT)


def scalar_parameters(run: Callable[..., Any]) -> frozenset[str]:
    """Parameters whose schema example is a single value (not a list, object or array)."""
    examples = _input_schema(run).get("example") or {}
    return frozenset(name for name, value in examples.items() if isinstance(value, (int, float, str, bool)))


def _spec(name: str, fragment: dict[str, Any], example: Any) -> TensorSpec | None:
    """A numpy parameter's spec: dtype from the schema, shape from the example with a free batch dimension."""
    if fragment.get("format") != NUMPY_FORMAT or example is None:
        return None
    items = fragment
    while items.get("type") == "array" and isinstance(items.get("items"), dict):
        items = items["items"]
    datatype = _FORMATS.get((items.get("type"), items.get("format"))) or _FORMATS.get((items.get("type"), None))
    try:
        shape = np.shape(example)
    except ValueError:  # ragged example
        return None
    if datatype is None or not shape:
        return None
    return TensorSpec(name=name, datatype=datatype, shape=(-1, *shape[1:]))


def tensor_specs(run: Callable[..., Any]) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """V2 input/output specs of ``NumpyParameterType`` parameters and output (others are left out)."""
    from inference_schema.schema_util import get_output_schema

    schema = _input_schema(run)
    examples = schema.get("example") or {}
    inputs = tuple(
        spec for name, prop in schema.get("properties", {}).items()
        if (spec := _spec(name, prop, examples.get(name))) is not None
    )
    output = get_output_schema(run)
    output_spec = _spec("output0", output, output.get("example"))
    return inputs, ((output_spec,) if output_spec else ())
