"""Response helpers shared by the raw ASGI endpoints, the FastAPI routes and the middleware.

Every error body has the same shape, ``{"error": msg, "message": msg}``: V2 clients (tritonclient,
KServe) read ``error`` and Azure ML clients read ``message``, so one body serves both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.responses import Response
from starlette.types import Send

from shipyard.runtime import jsonfast

JSON = b"application/json"


def error_document(message: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, "message": message, **extra}


async def send_body(
    send: Send, status: int, body: bytes, content_type: bytes = JSON, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Send a complete response from a raw ASGI endpoint."""
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = (),
                     **extra: Any) -> None:
    """Send an error body; a 503 (model not loaded yet) tells clients when to retry."""
    if status == 503:
        headers = [*headers, (b"retry-after", b"1")]
    await send_body(send, status, jsonfast.dumps(error_document(message, **extra)), headers=headers)


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A FastAPI route's JSON answer, serialized by :mod:`~shipyard.runtime.jsonfast`."""
    return Response(jsonfast.dumps(document), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(error_document(message), status, headers)
