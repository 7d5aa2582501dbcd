"""Azure ML compatible routes: ``/score`` (POST, GET, OPTIONS) and ``/swagger.json``.

``/score`` is a raw ASGI endpoint (see :mod:`shipyard.runtime.middleware` for why); it only
translates HTTP to a :class:`~shipyard.scoring.base.ScoreRequest` and the answer back, with the
headers azmlinfsrv sends: ``x-ms-run-fn-exec-ms`` (time inside ``run()``) and
``x-ms-run-function-failed``.
``OPTIONS /score`` answers 200 without calling ``run()``, as azmlinfsrv does for CORS preflights.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shipyard.errors import ScoringError
from shipyard.runtime import limits
from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.middleware import REQUEST_ID_KEY, ROUTE_KEY
from shipyard.runtime.responses import (
    AZURE_HTTP_ERRORS,
    error_response,
    json_response,
    send_body,
    send_error,
    start_message,
)
from shipyard.scoring.base import ScoreRequest, ScoreResponse

logger = logging.getLogger(__name__)

SCORE_PATH = "/score"
_ALLOW = [(b"allow", b"GET, POST, OPTIONS")]
_FAILED = {True: b"True", False: b"False"}
_JSON = b"application/json"
_HTML = b"text/html; charset=utf-8"
_NOT_FAILED = {"x-ms-run-function-failed": "False"}  # azmlinfsrv's AMLResponse puts it on every answer


class ScoreEndpoint:
    """``/score`` as a raw ASGI app."""

    def __init__(self, dataplane: DataPlane, max_body_bytes: int) -> None:
        self.dataplane = dataplane
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[ROUTE_KEY] = SCORE_PATH
        method = scope["method"]
        if method == "OPTIONS":  # azmlinfsrv: AMLResponse("", 200), i.e. Flask's text/html
            await send(start_message(scope, 200, [(b"content-type", _HTML), (b"content-length", b"0"), *_ALLOW,
                                                  (b"x-ms-run-function-failed", b"False")]))
            await send({"type": "http.response.body", "body": b""})
            return
        if method not in ("GET", "POST"):
            await send_error(scope, send, 405, f"method {method} is not allowed on /score; use POST or GET", _ALLOW,
                             azure_message=AZURE_HTTP_ERRORS[405])
            return
        request_id = scope[REQUEST_ID_KEY]
        try:
            body = await limits.read_body(receive, self.max_body_bytes)
            query = scope["query_string"]
            # Positional: a dataclass called with keywords costs a dict per call, on every request.
            request = ScoreRequest(method, scope["path"], RequestHeaders(scope["headers"]),
                                   _query(query) if query else [], body, request_id, query, scope["scheme"])
            response, run_ms = await self.dataplane.score(request)
        except ScoringError as exc:
            failed = exc.status_code >= 500
            extra = {"request_id": request_id} if failed else {}
            await send_error(scope, send, exc.status_code, str(exc), [(b"x-ms-run-function-failed", _FAILED[failed])],
                             azure_message=exc.azure_message, **extra)
            return
        headers = [(b"x-ms-run-fn-exec-ms", b"%.3f" % run_ms)]
        failed = response.run_function_failed
        if failed is not None or response.status_code >= 500:  # None: a werkzeug Response without it
            headers.append((b"x-ms-run-function-failed", _FAILED[bool(failed) or response.status_code >= 500]))
        content_type = _JSON if response.media_type == "application/json" else response.media_type.encode("latin-1")
        if response.headers:  # only AMLResponse answers set headers
            pairs = response.headers.items() if isinstance(response.headers, dict) else response.headers
            for name, value in pairs:
                if name.lower() == "content-type":
                    content_type = value.encode("latin-1")
                elif name.lower() != "content-length":
                    headers.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
        body = response.body
        if body.__class__ is not bytes:  # the usual answer is bytes already: skip the type checks
            if isinstance(body, str):
                body = body.encode()
            elif isinstance(body, (bytes, bytearray, memoryview)):  # subclasses, buffers
                body = bytes(body)
            else:
                await self._stream(scope, send, response, content_type, headers, request_id)
                return
        await send_body(scope, send, response.status_code, body, content_type, headers)

    async def _stream(self, scope: Scope, send: Send, response: ScoreResponse, content_type: bytes,
                      headers: list[tuple[bytes, bytes]], request_id: str) -> None:
        """Send an iterable body chunk by chunk; each chunk is produced on the scoring thread."""
        iterator = iter(response.body)  # type: ignore[arg-type]
        await send(start_message(scope, response.status_code, [(b"content-type", content_type), *headers]))
        # An exception here (run()'s generator failed, or a chunk timed out) propagates: the
        # middleware logs it and the connection is closed mid-stream, so the client sees a cut body.
        while (chunk := await self.dataplane.next_chunk(iterator, request_id)) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class RequestHeaders(Mapping[str, str]):
    """The request's headers as ``str`` (lower-case names), decoded on first use.

    Most ``run()`` functions never look at headers, so the hot path does not decode them.
    """

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """Every header as received: repeated names kept, in order (``@rawhttp`` requests read these)."""
        return self._raw

    def _headers(self) -> dict[str, str]:
        if self._decoded is None:
            self._decoded = {name.decode("latin-1"): value.decode("latin-1") for name, value in self._raw}
        return self._decoded

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())


def _query(raw: bytes) -> list[tuple[str, str]]:
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


def register(app: FastAPI, dataplane: DataPlane) -> None:
    """Add ``GET /swagger.json`` to *app* (``/score`` is dispatched by the middleware)."""

    @app.get("/swagger.json", include_in_schema=False)
    async def swagger(request: Request) -> Response:
        try:
            return json_response(dataplane.swagger(request.query_params.get("version")), headers=_NOT_FAILED)
        except ScoringError as exc:
            return error_response(exc.status_code, str(exc))
