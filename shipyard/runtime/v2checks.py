"""What the V2 protocol says about a model: its metadata document, and requests checked against it.

The checks run before the model sees a request, so a client gets a 400 naming the tensor ("input
'x' has shape [1, 4] but the model expects [-1, 3]") instead of a backend's opaque error. They
apply only to what the scorer declares (ONNX models, ``@input_schema`` scripts with numpy
samples); missing inputs are left to the scorer, since an entry script's inputs may have defaults.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import BadRequestError
from shipyard.runtime.v2codec import datatype_of
from shipyard.scoring.base import InferRequest, ModelMetadata, TensorSpec


def describe(metadata: ModelMetadata, name: str, version: str) -> dict[str, Any]:
    """The ``GET /v2/models/{name}`` document."""

    def tensors(specs: tuple[TensorSpec, ...]) -> list[dict[str, Any]]:
        return [{"name": s.name, "datatype": s.datatype, "shape": list(s.shape)} for s in specs]

    document: dict[str, Any] = {
        "name": name,
        "versions": [version],
        "platform": metadata.platform,
        "inputs": tensors(metadata.inputs),
        "outputs": tensors(metadata.outputs),
    }
    if metadata.extra:  # the V2 spec's optional "parameters": execution providers, device...
        document["parameters"] = dict(metadata.extra)
    return document


def check_request(request: InferRequest, metadata: ModelMetadata | None, model_name: str) -> None:
    """Reject inputs and requested outputs the model's metadata rules out.

    Raises:
        BadRequestError: naming the tensor and what the model expects.
    """
    if metadata is None:
        return
    if metadata.inputs:
        specs = {spec.name: spec for spec in metadata.inputs}
        for tensor in request.inputs:
            spec = specs.get(tensor.name)
            if spec is None:
                raise BadRequestError(f"unknown input '{tensor.name}'; model '{model_name}' takes {', '.join(specs)}")
            datatype = datatype_of(tensor.data, tensor.name)
            if datatype != spec.datatype:
                raise BadRequestError(
                    f"input '{tensor.name}' has datatype {datatype} but the model expects {spec.datatype}"
                )
            shape = tensor.data.shape
            if len(shape) != len(spec.shape) or any(want not in (-1, got) for want, got in zip(spec.shape, shape)):
                raise BadRequestError(
                    f"input '{tensor.name}' has shape {list(shape)} but the model expects {list(spec.shape)} "
                    "(-1 is any size)"
                )
    if metadata.outputs and request.requested_outputs:
        known = {spec.name for spec in metadata.outputs}
        for name in request.requested_outputs:
            if name not in known:
                raise BadRequestError(
                    f"unknown output '{name}'; model '{model_name}' produces {', '.join(sorted(known))}"
                )
