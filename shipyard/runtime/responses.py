"""Response helpers shared by the raw ASGI endpoints, the FastAPI routes and the middleware.

Every error body has the same shape, ``{"error": msg, "message": msg}``: V2 clients (tritonclient,
KServe) read ``error`` and Azure ML clients read ``message``, so one body serves both. Where
azmlinfsrv answered with fixed words (werkzeug's 404/405 texts), ``message`` keeps them and
``error`` says more. Every error carries ``x-ms-run-function-failed`` (``False`` unless said
otherwise), as azmlinfsrv's error answers do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Scope, Send

from shipyard.scoring import json_codec

JSON = b"application/json"


# What azmlinfsrv (werkzeug) says in "message" for these; "error" says more.
AZURE_HTTP_ERRORS = {
    404: "The requested URL was not found on the server. If you entered the URL manually please check your spelling "
         "and try again.",
    405: "The method is not allowed for the requested URL.",
}


RUN_FAILED = b"x-ms-run-function-failed"
_NOT_FAILED = (RUN_FAILED, b"False")


def error_document(message: str, *, azure_message: str | None = None, **extra: Any) -> dict[str, Any]:
    """The error body; *azure_message*, when given, is what azmlinfsrv said in ``message``."""
    return {"error": message, "message": azure_message or message, **extra}


ID_HEADERS_KEY = "shipyard.id_headers"  # scope key: the request-id headers every answer carries
STATUS_KEY = "shipyard.status"  # scope key: the status a raw endpoint answered (for metrics and logs)


def start_message(scope: Scope, status: int, headers: list[tuple[bytes, bytes]]) -> Message:
    """The ``http.response.start`` of a raw endpoint: adds the request-id headers, records the status.

    Raw endpoints (and :class:`~shipyard.runtime.middleware.RuntimeMiddleware` itself) answer
    through this instead of through a wrapped ``send``: one less coroutine layer per message.
    """
    scope[STATUS_KEY] = status
    headers.extend(scope[ID_HEADERS_KEY])
    return {"type": "http.response.start", "status": status, "headers": headers}


async def send_body(
    scope: Scope, send: Send, status: int, body: bytes, content_type: bytes = JSON,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete response from a raw ASGI endpoint (what :func:`start_message` does, in one list)."""
    scope[STATUS_KEY] = status
    raw = [(b"content-type", content_type), (b"content-length", b"%d" % len(body)), *headers, *scope[ID_HEADERS_KEY]]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_error(scope: Scope, send: Send, status: int, message: str,
                     headers: Iterable[tuple[bytes, bytes]] = (), **extra: Any) -> None:
    """Send an error body; a 503 (model not loaded yet) tells clients when to retry."""
    headers = list(headers)
    if status == 503 and not any(name == b"retry-after" for name, _ in headers):
        headers.append((b"retry-after", b"1"))
    if not any(name == RUN_FAILED for name, _ in headers):
        headers.append(_NOT_FAILED)
    await send_body(scope, send, status, json_codec.dumps(error_document(message, **extra)), headers=headers)


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A FastAPI route's JSON answer, serialized by :mod:`~shipyard.scoring.json_codec`."""
    return Response(json_codec.dumps(document), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   azure_message: str | None = None) -> Response:
    return json_response(error_document(message, azure_message=azure_message), status,
                         {"x-ms-run-function-failed": "False", **(headers or {})})
