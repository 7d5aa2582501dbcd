"""Turn a ``/score`` request into the keyword arguments of the script's ``run()``, as azmlinfsrv does.

Which parser applies is decided once, when the script is loaded (see
:func:`shipyard.scoring.entry_script.signature.analyse_run`), so the per-request path is one call:

* undecorated ``run(data)``: the body as ``str`` (GET: the query parameters as a JSON object string);
* ``@input_schema``-decorated ``run(a, b)``: the body must be a JSON object; its keys become the
  arguments, which inference-schema then converts to numpy/pandas/... types;
* ``@rawhttp`` ``run(request)``: an :class:`~shipyard.scoring.entry_script.aml_request.AMLRequest`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shipyard.errors import BadRequestError
from shipyard.scoring import json_codec
from shipyard.scoring.base import ScoreRequest
from shipyard.scoring.bodies import decode_body, is_json_content_type, query_values

NO_DEFAULT = object()


class StringInput:
    """``run(data)`` gets the body text."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, request: ScoreRequest) -> dict[str, Any]:
        if request.method == "GET":
            return {self.name: json.dumps(query_values(request.query))}
        return {self.name: decode_body(request.body)}


class SchemaInput:
    """``run(**params)`` gets the body's JSON object keys; missing required parameters are a 400."""

    __slots__ = ("parameters",)

    def __init__(self, parameters: Sequence[tuple[str, Any]]) -> None:
        self.parameters = tuple(parameters)  # (name, default or NO_DEFAULT)

    def __call__(self, request: ScoreRequest) -> dict[str, Any]:
        if request.method == "GET":
            return self.extract(query_values(request.query))
        if not is_json_content_type(request.headers):
            raise BadRequestError(
                "run() is decorated with @input_schema, so the request needs "
                "'Content-Type: application/json' and a JSON object body",
                status_code=415, azure_message="Expects Content-Type to be application/json",
            )
        body = request.body
        if not body.strip():
            raise BadRequestError("POST body is empty; expected a JSON object such as {\"data\": ...}",
                                  azure_message="POST body is empty. Expecting a JSON dictionary.")
        try:
            document = json_codec.loads(body)
        except ValueError as exc:
            raise BadRequestError(f"POST body is not valid JSON: {exc}",
                                  azure_message=f"POST body could not be decoded as JSON: {exc}") from None
        if not isinstance(document, dict):
            raise BadRequestError(
                f"POST body must be a JSON object with keys {self.names()}, got a JSON {type(document).__name__}",
                azure_message="POST body should be a JSON dictionary.",
            )
        return self.extract(document)

    def extract(self, document: dict[str, Any]) -> dict[str, Any]:
        """Pick run()'s parameters out of ``document``, honouring defaults."""
        arguments = {}
        for name, default in self.parameters:
            value = document.get(name, default)
            if value is NO_DEFAULT:
                raise BadRequestError(
                    f"no value for the {name!r} parameter of run(); the JSON body needs keys {self.names()}",
                    azure_message=f"A value is not provided for the {name!r} parameter.",
                )
            arguments[name] = value
        return arguments

    def names(self) -> list[str]:
        return [name for name, _ in self.parameters]


class RawInput:
    """``@rawhttp`` ``run(request)`` gets an :class:`AMLRequest`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, request: ScoreRequest) -> dict[str, Any]:
        from shipyard.scoring.entry_script.aml_request import AMLRequest  # werkzeug: only @rawhttp pays

        return {self.name: AMLRequest(request)}
