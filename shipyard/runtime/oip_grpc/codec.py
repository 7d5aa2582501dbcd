"""gRPC inference messages to the scorers' plain types and back.

The gRPC twin of :mod:`shipyard.runtime.v2codec`: a ``ModelInferRequest`` becomes an
:class:`~shipyard.scoring.base.InferRequest` of numpy arrays, an
:class:`~shipyard.scoring.base.InferResponse` becomes a ``ModelInferResponse``. Raw tensor contents
(what ``tritonclient.grpc`` sends, and what responses always use, as Triton's do) share the
binary layout of the HTTP binary extension, so they go through the same functions. Typed
``contents`` fields are read with one numpy conversion per tensor, never element by element in
Python. Every client mistake raises :class:`~shipyard.errors.BadRequestError` naming the tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import BadRequestError
from shipyard.runtime import v2codec
from shipyard.runtime.oip_grpc import messages
from shipyard.scoring.base import InferRequest, InferResponse, InferTensor
from shipyard.scoring.datatypes import WIRE_DTYPES

# Which field of InferTensorContents carries each datatype (FP16 has none: raw contents only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}  # fmt: skip


def decode_request(message: Any) -> InferRequest:
    """A ``ModelInferRequest`` as the scorers' :class:`InferRequest`."""
    if not message.inputs:
        raise BadRequestError("the infer request needs at least one input tensor")
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise BadRequestError(
            f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs; "
            "with raw contents every input needs exactly one entry, in input order"
        )
    inputs = []
    for position, tensor in enumerate(message.inputs):
        name, datatype = tensor.name, tensor.datatype
        if not name:
            raise BadRequestError(f"inputs[{position}] needs a name")
        shape = list(tensor.shape)
        v2codec.check_datatype(name, datatype)
        count = v2codec.check_shape(name, datatype, shape)
        if raw:
            if tensor.HasField("contents"):
                raise BadRequestError(f"input '{name}': use raw_input_contents or contents, not both")
            array = v2codec.array_from_binary(name, datatype, shape, count, memoryview(raw[position]))
        else:
            array = _from_contents(name, datatype, shape, count, tensor.contents)
        inputs.append(InferTensor(name, array, parameters_of(tensor.parameters) if tensor.parameters else {}))
    requested = None
    if message.outputs:
        requested = [output.name for output in message.outputs]
        for output in message.outputs:
            if output.parameters and parameters_of(output.parameters).get("classification"):
                raise BadRequestError(f"output '{output.name}': the classification extension is not supported")
    return InferRequest(inputs, requested, message.id or None, parameters_of(message.parameters) if message.parameters else {})


def encode_response(response: InferResponse, *, model_name: str, model_version: str) -> Any:
    """An :class:`InferResponse` as a ``ModelInferResponse`` with raw output contents."""
    message = messages.ModelInferResponse(model_name=model_name, model_version=model_version, id=response.id or "")
    if response.parameters:
        set_parameters(message.parameters, response.parameters)
    for tensor in response.outputs:
        array = np.asarray(tensor.data)
        datatype = v2codec.datatype_of(array, tensor.name)
        output = message.outputs.add(name=tensor.name, datatype=datatype, shape=array.shape)
        if tensor.parameters:
            set_parameters(output.parameters, tensor.parameters)
        message.raw_output_contents.append(v2codec.array_to_binary(array, datatype))
    return message


def parameters_of(parameters: Any) -> dict[str, Any]:
    """A protobuf ``map<string, InferParameter>`` as a plain dict (unset values are left out)."""
    values = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        if choice is not None:
            values[key] = getattr(parameter, choice)
    return values


def set_parameters(target: Any, values: dict[str, Any]) -> None:
    """Fill a protobuf parameter map from a dict; values of other types travel as strings."""
    for key, value in values.items():
        parameter = target[str(key)]
        if isinstance(value, bool):
            parameter.bool_param = value
        elif isinstance(value, int) and -(2**63) <= value < 2**63:
            parameter.int64_param = value
        elif isinstance(value, float):
            parameter.double_param = value
        else:
            parameter.string_param = str(value)


def _from_contents(name: str, datatype: str, shape: list[int], count: int, contents: Any) -> np.ndarray:
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise BadRequestError(f"input '{name}': {datatype} tensors must be sent as raw_input_contents")
    values = getattr(contents, field)
    if len(values) != count:
        raise BadRequestError(
            f"input '{name}': shape {shape} needs {count} values, contents.{field} has {len(values)}"
        )
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
    else:
        dtype = WIRE_DTYPES[datatype]
        wide = np.array(values, dtype=np.float64 if dtype.kind == "f" else (np.int64 if dtype.kind != "u" else np.uint64))
        if dtype.kind in "iu" and wide.size and (wide.min() < np.iinfo(dtype).min or wide.max() > np.iinfo(dtype).max):
            raise BadRequestError(f"input '{name}': a value in contents.{field} is out of range for {datatype}")
        array = wide.astype(dtype.newbyteorder("="))
    try:
        return array.reshape(shape)
    except ValueError as exc:
        raise BadRequestError(f"input '{name}': shape {shape} does not fit its contents ({exc})") from None
