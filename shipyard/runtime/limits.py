"""Request body limits: bodies larger than ``max_body_bytes`` get 413 before they use memory.

Two checks, because ``Content-Length`` can be absent (chunked uploads) or wrong: the header is
checked before anything is read, and bytes are counted while the body streams in. (The request
timeout, the other limit, lives in :mod:`shipyard.runtime.dataplane` where user code runs.)
"""

from __future__ import annotations

from starlette.types import Receive

from shipyard.errors import BadRequestError, PayloadTooLargeError


def too_large_message(limit: int) -> str:
    return (
        f"the request body is larger than the server's limit of {limit} bytes; send less, or raise "
        "SHIPYARD_MAX_BODY_BYTES / --max-body-bytes"
    )


def check_content_length(value: bytes | None, limit: int) -> tuple[int, str] | None:
    """(status, message) when the declared length is over the limit (413) or not a number (400)."""
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        return 400, f"Content-Length {value.decode('latin-1')!r} is not a number"
    return (413, too_large_message(limit)) if length > limit else None


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, counting bytes as they arrive.

    Raises:
        PayloadTooLargeError: more than *limit* bytes arrived.
        BadRequestError: the client disconnected before sending the whole body.
    """
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body = message.get("body", b"")  # the usual case: one message, no copy
        if len(body) > limit:
            raise PayloadTooLargeError(too_large_message(limit))
        return body
    chunks, size = [], 0
    while True:
        if message["type"] == "http.disconnect":
            raise BadRequestError("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(too_large_message(limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()
