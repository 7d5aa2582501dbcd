"""What Shipyard reads from inference-schema decorators: input errors, tensor specs, argument types.

inference-schema converts JSON to numpy/pandas inside its decorator and raises a bare ``ValueError``
or ``Exception`` when the client sent the wrong shape or type. azmlinfsrv reports those as a 500;
they are the client's mistake, so Shipyard answers 400 -- but only when the exception was raised
by inference-schema's own code, never for exceptions from the user's ``run()`` body.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.errors import BadRequestError
from shipyard.scoring.base import TensorSpec
from shipyard.scoring.datatypes import numpy_to_datatype

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


def input_properties(run: Callable[..., Any]) -> dict[str, dict[str, Any]]:
    """``{parameter: JSON-schema fragment}`` from ``@input_schema`` decorators."""
    from inference_schema.schema_util import get_input_schema

    return dict(get_input_schema(run).get("properties", {}))


def output_property(run: Callable[..., Any]) -> dict[str, Any] | None:
    """The ``@output_schema`` JSON-schema fragment, if any."""
    from inference_schema.schema_util import get_output_schema

    schema = get_output_schema(run)
    return schema if "example" in schema else None


def numpy_parameters(run: Callable[..., Any]) -> frozenset[str]:
    """Parameters declared with ``NumpyParameterType`` (they accept numpy arrays as is)."""
    return frozenset(name for name, prop in input_properties(run).items() if prop.get("format") == NUMPY_FORMAT)


def _spec(name: str, fragment: dict[str, Any]) -> TensorSpec | None:
    """A tensor spec from a schema example: its dtype, and its shape with a free batch dimension."""
    if "example" not in fragment:
        return None
    try:
        sample = np.asarray(fragment["example"])
        datatype = numpy_to_datatype(sample.dtype)
    except (ValueError, TypeError):
        return None
    if sample.ndim == 0:
        return None
    return TensorSpec(name=name, datatype=datatype, shape=(-1, *sample.shape[1:]))


def tensor_specs(run: Callable[..., Any]) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Best-effort V2 input/output specs from array-like schema examples (others are left out)."""
    inputs = tuple(spec for name, prop in input_properties(run).items() if (spec := _spec(name, prop)))
    output = output_property(run)
    out_spec = _spec("output0", output) if output else None
    return inputs, ((out_spec,) if out_spec else ())
