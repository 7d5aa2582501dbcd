"""Open Inference Protocol (KServe V2) routes, with Triton's binary tensor data extension.

``POST .../infer`` is a raw ASGI endpoint (the hot path; see :mod:`shipyard.runtime.middleware`);
server and model metadata and model readiness are ordinary FastAPI routes. Server liveness and
readiness (``/v2/health/*``) live in :mod:`shipyard.runtime.health`. All behaviour is in
:class:`~shipyard.runtime.dataplane.DataPlane`; this module only moves bytes and headers.
"""

from __future__ import annotations

import functools
import logging
import zlib

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shipyard.errors import BadRequestError, PayloadTooLargeError, ScoringError
from shipyard.runtime import limits
from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.middleware import REQUEST_ID_KEY, ROUTE_KEY
from shipyard.runtime.responses import error_response, json_response, send_body, send_error

MODELS_PREFIX = "/v2/models/"
INFER_SUFFIX = "/infer"
HEADER_LENGTH = b"inference-header-content-length"
_ROUTE = "/v2/models/{model_name}/infer"
_VERSIONED_ROUTE = "/v2/models/{model_name}/versions/{model_version}/infer"
logger = logging.getLogger(__name__)
_WBITS = {b"gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}


def is_infer_path(path: str) -> bool:
    return path.startswith(MODELS_PREFIX) and path.endswith(INFER_SUFFIX)


class InferEndpoint:
    """``POST /v2/models/{name}[/versions/{version}]/infer`` as a raw ASGI app."""

    def __init__(self, dataplane: DataPlane, max_body_bytes: int) -> None:
        self.dataplane = dataplane
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name, _, version = scope["path"][len(MODELS_PREFIX):-len(INFER_SUFFIX)].partition("/versions/")
        scope[ROUTE_KEY] = _VERSIONED_ROUTE if version else _ROUTE
        if scope["method"] != "POST":
            await send_error(scope, send, 405, "infer takes POST", [(b"allow", b"POST")])
            return
        request_id = scope[REQUEST_ID_KEY]
        header_length = encoding = None
        for key, value in scope["headers"]:
            if key == HEADER_LENGTH:
                header_length = value
            elif key == b"content-encoding":
                encoding = value.strip().lower()
        try:
            body = await limits.read_body(receive, self.max_body_bytes)
            if encoding and encoding != b"identity":  # a few bytes may inflate to the limit: off the loop
                body = await self.dataplane.off_loop(functools.partial(self._decompress, encoding=encoding), body)
            payload, response_header_length = await self.dataplane.infer(
                name, version or None, body, _parse_length(header_length), request_id
            )
        except ScoringError as exc:
            extra = {"request_id": request_id} if exc.status_code >= 500 else {}
            if exc.status_code < 500:  # the client's mistake: why, in one line (the access log says what)
                logger.info("infer request %s refused with %d: %.300s", request_id, exc.status_code, exc)
            await send_error(scope, send, exc.status_code, str(exc), **extra)
            return
        if response_header_length is None:
            await send_body(scope, send, 200, payload)
        else:
            await send_body(scope, send, 200, payload, b"application/octet-stream",
                            [(HEADER_LENGTH, str(response_header_length).encode())])

    def _decompress(self, body: bytes, encoding: bytes) -> bytes:
        """Undo ``Content-Encoding`` (tritonclient's request compression), within the body limit."""
        wbits = _WBITS.get(encoding)
        if wbits is None:
            raise BadRequestError(f"Content-Encoding {encoding.decode('latin-1')!r} is not supported; use gzip or deflate")
        decompressor = zlib.decompressobj(wbits)
        try:
            plain = decompressor.decompress(body, self.max_body_bytes + 1)
        except zlib.error as exc:
            raise BadRequestError(f"the body is not valid {encoding.decode()} data: {exc}") from None
        if len(plain) > self.max_body_bytes or decompressor.unconsumed_tail:
            raise PayloadTooLargeError(limits.too_large_message(self.max_body_bytes) + " (after decompression)")
        return plain


def _parse_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequestError(f"Inference-Header-Content-Length {value.decode('latin-1')!r} is not a number") from None


def register(app: FastAPI, dataplane: DataPlane) -> None:
    """Add the V2 metadata and model-readiness routes to *app*."""

    def answer(call, *args) -> Response:  # type: ignore[no-untyped-def]
        try:
            return json_response(call(*args))
        except ScoringError as exc:
            return error_response(exc.status_code, str(exc))

    @app.get("/v2", include_in_schema=False)
    async def server_metadata() -> Response:
        return json_response(dataplane.server_metadata())

    @app.get("/v2/models/{model_name}", include_in_schema=False)
    async def model_metadata(model_name: str) -> Response:
        return answer(dataplane.model_metadata, model_name, None)

    @app.get("/v2/models/{model_name}/versions/{model_version}", include_in_schema=False)
    async def model_version_metadata(model_name: str, model_version: str) -> Response:
        return answer(dataplane.model_metadata, model_name, model_version)

    def ready(model_name: str, model_version: str | None) -> Response:
        try:
            if dataplane.model_ready(model_name, model_version):
                return json_response({"name": model_name, "ready": True})
            return error_response(503, str(dataplane.not_ready_error()))
        except ScoringError as exc:
            return error_response(exc.status_code, str(exc))

    @app.get("/v2/models/{model_name}/ready", include_in_schema=False)
    async def model_ready(model_name: str) -> Response:
        return ready(model_name, None)

    @app.get("/v2/models/{model_name}/versions/{model_version}/ready", include_in_schema=False)
    async def model_version_ready(model_name: str, model_version: str) -> Response:
        return ready(model_name, model_version)
