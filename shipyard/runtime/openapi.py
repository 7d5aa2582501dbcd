"""The runtime's HTTP API as an OpenAPI 3.0 document: the Azure ML routes and the Open Inference Protocol.

FastAPI would describe only the routes it dispatches, and the hot ones (``/score``, V2 ``infer``)
are raw ASGI endpoints it never sees, so the document is written out here. It describes what a
client may send; the reliability suite (``tests/runtime/test_openapi_fuzz.py``) has schemathesis
generate requests from it against a real server and requires that none gets a 5xx, except the
500 of a ``run()`` that raised. (A scoring script's own input schema is ``/swagger.json``.)
"""

from __future__ import annotations

from typing import Any

from shipyard import __version__
from shipyard.scoring.datatypes import WIRE_DTYPES

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}
_NAME = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "model_version", "in": "path", "required": True, "schema": {"type": "string"}}

_TENSOR = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string", "enum": sorted(WIRE_DTYPES)},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "data": {},
        "parameters": {"type": "object"},
    },
}
_INFER_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "parameters": {"type": "object"}}}},
    },
}


def _answers(*statuses: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Responses: 200 with *body* (any JSON by default), and an error body for each other status."""
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {
        "schema": body or {}}}}}
    for status in statuses:
        responses[str(status)] = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
    return responses


def _get(summary: str, *statuses: int, parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": parameters or [], "responses": _answers(*statuses)}}


def runtime_openapi() -> dict[str, Any]:
    """The OpenAPI 3.0 document of every route the runtime serves."""
    infer = {"post": {
        "summary": "Open Inference Protocol inference (JSON tensors; Triton's binary extension is not described)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _INFER_REQUEST}}},
        "responses": _answers(400, 404, 413, 503, 504),
    }}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shipyard runtime", "version": __version__},
        "paths": {
            "/": _get("Azure ML liveness/readiness: 'Healthy' once the model is loaded", 503),
            "/score": {
                "post": {
                    "summary": "Azure ML scoring: the body goes to run()",
                    "requestBody": {"content": {"application/json": {"schema": {}},
                                                "text/plain": {"schema": {"type": "string"}}}},
                    "responses": _answers(400, 413, 415, 500, 503, 504),
                },
                "get": {
                    "summary": "Azure ML scoring with query parameters as the input",
                    "parameters": [{"name": "params", "in": "query", "style": "form", "explode": True,
                                    "schema": {"type": "object", "additionalProperties": {"type": "string"}}}],
                    "responses": _answers(400, 500, 503, 504),
                },
                "options": {"summary": "Allowed methods", "responses": {"200": {"description": "OK"}}},
            },
            "/swagger.json": _get("The scoring script's Swagger document", 404, parameters=[
                {"name": "version", "in": "query", "schema": {"type": "string"}}]),
            "/v2": _get("Server metadata"),
            "/v2/health/live": _get("Liveness"),
            "/v2/health/ready": _get("Readiness", 503),
            "/v2/models/{model_name}": _get("Model metadata", 404, 503, parameters=[_NAME]),
            "/v2/models/{model_name}/versions/{model_version}": _get(
                "Model version metadata", 404, 503, parameters=[_NAME, _VERSION]),
            "/v2/models/{model_name}/ready": _get("Model readiness", 404, 503, parameters=[_NAME]),
            "/v2/models/{model_name}/versions/{model_version}/ready": _get(
                "Model version readiness", 404, 503, parameters=[_NAME, _VERSION]),
            "/v2/models/{model_name}/infer": {"post": {**infer["post"], "parameters": [_NAME]}},
            "/v2/models/{model_name}/versions/{model_version}/infer": {
                "post": {**infer["post"], "parameters": [_NAME, _VERSION]}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
                "description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
    }
