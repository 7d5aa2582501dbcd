"""The V2 (Open Inference Protocol) convention for entry scripts.

A ``score.py`` knows nothing about tensors, so a V2 request is turned into the call the script
already understands, and its return value into output tensors:

Inputs
    * ``@input_schema`` script whose parameters include every input name: ``run(name=array, ...)``
      (numpy arrays for ``NumpyParameterType`` parameters, nested lists otherwise).
    * any other script: ``run(data)`` gets the JSON text ``{"<input name>": <nested list>, ...}``;
      with exactly one input it also appears under ``"data"``, the key nearly every Azure sample
      reads (``json.loads(raw)["data"]``). ``BYTES`` elements are decoded as UTF-8 strings.
      ``@rawhttp`` scripts get the same JSON as a POST body with ``Content-Type: application/json``.

Outputs
    * a ``dict``: one output tensor per key;
    * anything else (list, array, number, string): one tensor named ``output0``;
    * a ``str`` that holds JSON (scripts often ``return json.dumps(result)``) is parsed first;
    * an ``AMLResponse`` with status >= 400 becomes an error with that status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import BadRequestError, ScoringError
from shipyard.scoring import json_codec
from shipyard.scoring.base import InferRequest, InferResponse, InferTensor, ScoreRequest
from shipyard.scoring.datatypes import numpy_to_datatype, to_bytes_tensor, to_str_tensor
from shipyard.scoring.entry_script import schema
from shipyard.scoring.entry_script.headers import script_headers
from shipyard.scoring.entry_script.outputs import to_score_response
from shipyard.scoring.entry_script.signature import HEADERS_PARAMETER, RunPlan

if TYPE_CHECKING:
    from shipyard.scoring.entry_script.scorer import EntryScriptScorer

DEFAULT_OUTPUT = "output0"
SINGLE_INPUT_ALIAS = "data"


class V2Adapter:
    """Calls one script's ``run()`` for V2 requests; what it learns from the schema is computed once."""

    def __init__(self, scorer: EntryScriptScorer, run: Callable[..., Any], plan: RunPlan) -> None:
        self.scorer, self.plan = scorer, plan
        self.numpy_parameters = schema.numpy_parameters(run) if plan.mode == "schema" else frozenset()
        self.scalar_parameters = schema.scalar_parameters(run) if plan.mode == "schema" else frozenset()

    def infer(self, request: InferRequest) -> InferResponse:
        """Call the script for a V2 request and return its result as tensors."""
        plan = self.plan
        if plan.mode == "schema":
            arguments = self._schema_arguments(request)
        else:
            score_request = ScoreRequest(
                method="POST", path="/score", headers={"content-type": "application/json"}, query=[],
                body=_json_body(request), request_id=request.id or "",
            )
            arguments = plan.parse(score_request)
        if plan.wants_headers:
            arguments[HEADERS_PARAMETER] = script_headers({"content-type": "application/json"})
        outputs = to_tensors(_unwrap(self.scorer.invoke(arguments)))
        return InferResponse(outputs=_select(outputs, request.requested_outputs), id=request.id)

    def _schema_arguments(self, request: InferRequest) -> dict[str, Any]:
        parser = self.plan.parse
        names = parser.names()  # type: ignore[union-attr]
        unknown = [tensor.name for tensor in request.inputs if tensor.name not in names]
        if unknown:
            raise BadRequestError(f"input(s) {unknown} are not parameters of run(); its parameters are {names}")
        document = {tensor.name: self._argument(tensor) for tensor in request.inputs}
        return parser.extract(document)  # type: ignore[union-attr]

    def _argument(self, tensor: InferTensor) -> Any:
        """numpy parameters take the array; scalar parameters a one-element tensor's value; others lists."""
        if tensor.name in self.numpy_parameters:  # a copy of a read-only (zero-copy) tensor: run() may write to it
            return tensor.data if tensor.data.flags.writeable else tensor.data.copy()
        value = _json_value(tensor)
        value = value.tolist() if isinstance(value, np.ndarray) else value
        if tensor.name in self.scalar_parameters and tensor.data.size == 1:
            return np.reshape(value, -1)[0].item() if isinstance(value, list) else value
        return value


def _json_value(tensor: InferTensor) -> Any:
    """What a tensor looks like inside the JSON body: numpy as is (encoded natively), BYTES as str."""
    data = tensor.data
    if data.dtype == object or data.dtype.kind in "SU":
        return to_str_tensor(data).tolist()
    return data


def _json_body(request: InferRequest) -> bytes:
    """``{"<name>": tensor, ...}`` (plus ``"data"`` for a single input) as JSON bytes, encoded once."""
    document: dict[str, Any] = {tensor.name: _json_value(tensor) for tensor in request.inputs}
    if len(request.inputs) == 1 and SINGLE_INPUT_ALIAS not in document:
        document[SINGLE_INPUT_ALIAS] = document[request.inputs[0].name]
    return json_codec.dumps(document)


def _unwrap(result: Any) -> Any:
    """Reduce what run() returned to plain data: decode responses and JSON strings."""
    if hasattr(result, "get_data"):  # an AMLResponse or other werkzeug response
        response = to_score_response(result)
        body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
        if response.status_code >= 400:
            raise ScoringError(body.decode("utf-8", errors="replace"), status_code=response.status_code)
        try:
            return json_codec.loads(body)
        except ValueError:
            return body
    if isinstance(result, str):
        try:
            return json_codec.loads(result)
        except ValueError:
            return result
    return result


def to_tensors(result: Any) -> list[InferTensor]:
    """One tensor per dict key, or a single ``output0``."""
    items = result.items() if isinstance(result, dict) else [(DEFAULT_OUTPUT, result)]
    return [InferTensor(name=str(name), data=_as_array(str(name), value)) for name, value in items]


def _as_array(name: str, value: Any) -> np.ndarray:
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except ValueError as exc:
        raise ScoringError(
            f"run() output {name!r} is not a rectangular array ({exc}); V2 outputs must be tensors"
        ) from exc
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind in "SU":
        return to_bytes_tensor(array)
    if array.dtype == object:
        flat = [item if isinstance(item, bytes) else (item.encode() if isinstance(item, str) else json_codec.dumps(item))
                for item in array.flat]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(array.shape)
    try:
        numpy_to_datatype(array.dtype)
    except TypeError as exc:
        raise ScoringError(f"run() output {name!r}: {exc}") from exc
    return array


def _select(outputs: list[InferTensor], requested: list[str] | None) -> list[InferTensor]:
    if requested is None:
        return outputs
    by_name = {tensor.name: tensor for tensor in outputs}
    missing = [name for name in requested if name not in by_name]
    if missing:
        raise BadRequestError(f"requested output(s) {missing} not produced by run(); it produced {list(by_name)}")
    return [by_name[name] for name in requested]
