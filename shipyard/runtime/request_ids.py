"""Request ids, exactly as azmlinfsrv (Azure ML's inference server) assigns and echoes them.

Clients and log pipelines written for Azure ML correlate requests by these headers:

- ``x-request-id``: the client's value, or a new UUID4. Longer than 100 characters: 431.
- ``x-ms-client-request-id``: echoed when sent (or taken from a legacy ``x-ms-request-id``).
- ``x-ms-request-id`` (deprecated by Azure, still read by old clients): the client's value, else
  the client request id, else the request id; so it is on every response.
- ``TraceId``: echoed when sent.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

HEADER_LIMIT = 100
# Request ids must be unique, not secret: a per-process generator seeded from the OS is enough,
# and avoids uuid.uuid4()'s system call and UUID object on every request.
_random = random.Random(os.urandom(32))
if hasattr(os, "register_at_fork"):  # forked workers (gunicorn --preload) must not share a sequence
    os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def new_request_id() -> str:
    """A random UUID version 4 in its usual text form."""
    value = _random.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
    text = "%032x" % value
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True)
class RequestIds:
    """The ids of one request and the headers that carry them back."""

    request_id: str
    headers: list[tuple[bytes, bytes]]
    error: str | None = None  # set when a client header is too long: answer 431


def resolve(request_id: bytes | None, legacy: bytes | None, client: bytes | None, trace: bytes | None) -> RequestIds:
    """Work out the ids from the raw header values (``None`` when absent)."""
    error = None
    rid = request_id.decode("latin-1") if request_id else ""
    if len(rid) > HEADER_LIMIT:
        rid, error = "", f"x-request-id must not exceed {HEADER_LIMIT} characters"
    rid = rid or new_request_id()
    legacy_id = legacy.decode("latin-1") if legacy else ""
    client_id = client.decode("latin-1") if client else ""
    if legacy_id:
        client_id = client_id or legacy_id
    else:
        legacy_id = client_id or rid
    if error is None and (len(legacy_id) > HEADER_LIMIT or len(client_id) > HEADER_LIMIT):
        error = f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} characters"
        legacy_id, client_id = rid, ""
    headers = [(b"x-request-id", rid.encode("latin-1")), (b"x-ms-request-id", legacy_id.encode("latin-1"))]
    if client_id:
        headers.append((b"x-ms-client-request-id", client_id.encode("latin-1")))
    if trace:
        headers.append((b"traceid", trace))
    return RequestIds(request_id=rid, headers=headers, error=error)
