"""``/swagger.json`` for an entry script, shaped like azmlinfsrv's documents.

Version ``2`` (alias ``2.0``) is Swagger 2.0, ``3``/``3.0`` is OpenAPI 3.0.3 and ``3.1`` is OpenAPI
3.1.0. ``ServiceInput``/``ServiceOutput`` come from inference-schema decorators on ``run()``; an
undecorated script gets empty object schemas. A file the user ships in the app root wins:
``swagger.json`` or ``swagger2.json`` for version 2, ``swagger3.json`` for 3, ``swagger3.1.json``
for 3.1 (azmlinfsrv's names). ``SERVICE_NAME``, ``SERVICE_VERSION`` and ``SERVICE_PATH_PREFIX``
are honoured as in Azure, with azmlinfsrv 1.5.1's defaults (``ML service``, ``1.0``); the paths
are ``/``, ``/score`` and ``/swagger.json``, as in its templates.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.errors import ModelLoadError, ScoringError
from shipyard.scoring.base import ModelInfo

logger = logging.getLogger(__name__)

# accepted ?version= values -> canonical version
VERSIONS = {"2": "2", "2.0": "2", "3": "3", "3.0": "3", "3.1": "3.1"}
_USER_FILES = {"2": ("swagger.json", "swagger2.json"), "3": ("swagger3.json",), "3.1": ("swagger3.1.json",)}
_SCHEMA_VERSION = {"2": "2.0", "3": "3.0", "3.1": "3.1"}  # inference-schema's version names
_ERROR = {"type": "object", "properties": {"message": {"type": "string"}}}
_HEALTHY = "If service is up and running, this response will be returned with the content 'Healthy'"
_PREDICTED = "The service processed the input correctly and provided a result prediction, if applicable."
_PAYLOAD = "The input payload for executing the real-time machine learning service."
_FAILED = "The service failed to execute due to an error."
_HEALTH_TEXT = "Simple health check endpoint to ensure the service is up at any given point."
_SCORE_TEXT = "Run web service's model and get the prediction output"
_BEARER = {"type": "apiKey", "name": "Authorization", "in": "header", "description": "For example: Bearer abc123"}
_SWAGGER_TEXT = "Get the Swagger specification."
_SWAGGER_OK = "The Swagger specification."
DEFAULT_SERVICE_NAME = "ML service"  # azmlinfsrv's defaults for SERVICE_NAME / SERVICE_VERSION
DEFAULT_SERVICE_VERSION = "1.0"


def canonical_version(version: str) -> str:
    """``"2.0"`` → ``"2"``; unknown versions are a 404 like azmlinfsrv's.

    Raises:
        ScoringError: (404) the version is not one of 2, 2.0, 3, 3.0, 3.1.
    """
    try:
        return VERSIONS[str(version).strip()]
    except KeyError:
        raise ScoringError(
            f"Swagger version [{version}] is not valid. Supported versions: [2, 3, 3.1].", status_code=404
        ) from None


def build_swagger(version: str, run: Callable[..., Any], app_root: Path, info: ModelInfo) -> dict[str, Any] | None:
    """The document for canonical ``version``, or ``None`` when run()'s schema cannot be expressed in it."""
    for filename in _USER_FILES[version]:
        path = app_root / filename
        if path.is_file():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
            logger.info("Serving the user's %s for swagger version %s", path, version)
            return document
    input_schema, output_schema, supported = _schemas(run)
    if _SCHEMA_VERSION[version] not in supported:
        return None
    title = os.environ.get("SERVICE_NAME", DEFAULT_SERVICE_NAME)
    service_version = os.environ.get("SERVICE_VERSION", DEFAULT_SERVICE_VERSION)
    prefix = os.environ.get("SERVICE_PATH_PREFIX", "").strip("/")
    prefix = f"/{prefix}" if prefix else ""
    build = _swagger2 if version == "2" else _openapi3
    document = build(title, service_version, prefix, input_schema, output_schema)
    if version == "3.1":
        document["openapi"] = "3.1.0"
    return document


def _schemas(run: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    try:
        from inference_schema.schema_util import (
            get_input_schema,
            get_output_schema,
            get_supported_versions,
            is_schema_decorated,
        )
    except ImportError:  # pragma: no cover
        empty = {"type": "object", "example": {}}
        return empty, empty, list(_SCHEMA_VERSION.values())
    if not is_schema_decorated(run):
        empty = {"type": "object", "example": {}}
        return empty, dict(empty), list(_SCHEMA_VERSION.values())
    return get_input_schema(run), get_output_schema(run), list(get_supported_versions(run))


def _operations(prefix: str, health: dict, score: dict, swagger: dict) -> dict[str, Any]:
    return {f"{prefix}/": {"get": health}, f"{prefix}/score": {"post": score},
            f"{prefix}/swagger.json": {"get": swagger}}


def _swagger2(title: str, version: str, prefix: str, service_input: dict, service_output: dict) -> dict[str, Any]:
    error = {"description": _FAILED, "schema": {"$ref": "#/definitions/ErrorResponse"}}
    health = {
        "operationId": "ServiceHealthCheck",
        "description": _HEALTH_TEXT,
        "responses": {
            "200": {"description": _HEALTHY,
                    "schema": {"type": "string"}, "examples": {"application/json": "Healthy"}},
            "default": error,
        },
    }
    score = {
        "operationId": "RunMLService",
        "description": _SCORE_TEXT,
        "security": [{"Bearer": []}],
        "parameters": [{"name": "serviceInputPayload", "in": "body",
                        "description": _PAYLOAD,
                        "schema": {"$ref": "#/definitions/ServiceInput"}}],
        "responses": {
            "200": {"description": _PREDICTED,
                    "schema": {"$ref": "#/definitions/ServiceOutput"}},
            "default": error,
        },
    }
    swagger = {
        "operationId": "GetSwaggerSpec",
        "description": _SWAGGER_TEXT,
        "parameters": [{"name": "version", "in": "query", "required": False, "type": "integer", "enum": [2, 3]}],
        "responses": {"200": {"description": _SWAGGER_OK, "schema": {"type": "string"}}, "default": error},
    }
    return {
        "swagger": "2.0",
        "info": {"title": title, "description": f"API specification for the Azure Machine Learning service {title}",
                 "version": version},
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": _BEARER},
        "paths": _operations(prefix, health, score, swagger),
        "definitions": {"ServiceInput": service_input, "ServiceOutput": service_output, "ErrorResponse": _ERROR},
    }


def _openapi3(title: str, version: str, prefix: str, service_input: dict, service_output: dict) -> dict[str, Any]:
    def json_body(ref: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}

    error = {"description": _FAILED, "content": json_body("ErrorResponse")}
    health = {
        "operationId": "ServiceHealthCheck",
        "description": _HEALTH_TEXT,
        "responses": {
            "200": {"description": _HEALTHY,
                    "content": {"text/plain": {"schema": {"type": "string", "example": "Healthy"}}}},
            "default": error,
        },
    }
    score = {
        "operationId": "RunMLService",
        "description": _SCORE_TEXT,
        "security": [{"Bearer": []}],
        "requestBody": {"description": _PAYLOAD,
                        "content": json_body("ServiceInput")},
        "responses": {
            "200": {"description": _PREDICTED,
                    "content": json_body("ServiceOutput")},
            "default": error,
        },
    }
    swagger = {
        "operationId": "GetSwaggerSpec",
        "description": _SWAGGER_TEXT,
        "parameters": [{"name": "version", "in": "query", "required": False,
                        "schema": {"type": "integer", "enum": [2, 3]}}],
        "responses": {"200": {"description": _SWAGGER_OK, "content": {"text/plain": {"schema": {"type": "string"}}}},
                      "default": error},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "description": f"API specification for the Azure Machine Learning service {title}",
                 "version": version},
        "security": [{"Bearer": []}],
        "paths": _operations(prefix, health, score, swagger),
        "components": {
            "schemas": {"ServiceInput": service_input, "ServiceOutput": service_output, "ErrorResponse": _ERROR},
            "securitySchemes": {"Bearer": _BEARER},
        },
    }
