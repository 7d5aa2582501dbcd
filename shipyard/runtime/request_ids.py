"""Request ids, exactly as azmlinfsrv (Azure ML's inference server) assigns and echoes them.

Clients and log pipelines written for Azure ML correlate requests by these headers:

- ``x-request-id``: the client's value, or a new UUID4. Longer than 100 characters: 431.
- ``x-ms-client-request-id``: echoed when sent (or taken from a legacy ``x-ms-request-id``).
- ``x-ms-request-id`` (deprecated by Azure, still read by old clients): the client's value, else
  the client request id, else the request id; so it is on every response.
- ``TraceId``: echoed when sent.
- ``x-ms-server-version``: on every answer unless ``SERVER_VERSION_LOG_RESPONSE_ENABLED`` is set
  to something other than ``true``, as azmlinfsrv 1.5.1 does (it names itself, ``azmlinfsrv/1.5.1``;
  Shipyard names itself too). Turned off, a value in ``HTTP_X_MS_SERVER_VERSION`` is still sent,
  again as azmlinfsrv does.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping

HEADER_LIMIT = 100


def server_version_headers(environ: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """The ``x-ms-server-version`` header azmlinfsrv's settings in *environ* ask for (maybe none)."""
    from shipyard import __version__

    enabled = environ.get("SERVER_VERSION_LOG_RESPONSE_ENABLED")
    value = f"shipyard/{__version__}" if enabled is None or enabled.lower() == "true" else (
        environ.get("HTTP_X_MS_SERVER_VERSION", ""))
    return [(b"x-ms-server-version", value.encode("latin-1"))] if value else []


_VERSION_HEADERS = server_version_headers(os.environ)


class _IdGenerator:
    """UUID-4-shaped ids: a random prefix per process, then a counter from a random start.

    Request ids must be unique, not secret or unguessable; this costs a fraction of
    ``uuid.uuid4()`` (a system call and an object per request) on the hot path. The prefix is
    redrawn in forked children (gunicorn ``--preload``) so processes never share a sequence.
    """

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        text = "%032x" % (int.from_bytes(os.urandom(16), "big") & ~(0xF000 << 64) & ~(0xC000 << 48)
                          | (0x4000 << 64) | (0x8000 << 48))
        self._prefix = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-"
        self._next = itertools.count(int(text[20:], 16)).__next__

    def next_id(self) -> str:
        # 12 hex digits via bytes.hex(): half the cost of a ``:012x`` format spec, same text
        return self._prefix + (self._next() & 0xFFFFFFFFFFFF).to_bytes(6, "big").hex()


_ids = _IdGenerator()
new_request_id = _ids.next_id
"""A new request id, in the usual UUID text form (version 4 bits set)."""
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.reseed)


ID_HEADER_NAMES = frozenset({b"x-request-id", b"x-ms-request-id", b"x-ms-client-request-id", b"traceid"})

RequestIds = tuple[str, list[tuple[bytes, bytes]], "str | None"]
"""``(request_id, headers that carry the ids back, error)``; *error* is set when a client header is
too long (answer 431). A plain tuple: one is built for every request."""


def resolve(headers: Mapping[bytes, bytes]) -> RequestIds:
    """Work out the ids from the request's headers (lower-case names, as ASGI gives them)."""
    if headers.keys().isdisjoint(ID_HEADER_NAMES):  # the usual case: the client sent none
        rid = new_request_id()
        raw = rid.encode("latin-1")
        return rid, [(b"x-request-id", raw), (b"x-ms-request-id", raw), *_VERSION_HEADERS], None
    request_id, legacy = headers.get(b"x-request-id"), headers.get(b"x-ms-request-id")
    client, trace = headers.get(b"x-ms-client-request-id"), headers.get(b"traceid")
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
    id_headers = [(b"x-request-id", rid.encode("latin-1")), (b"x-ms-request-id", legacy_id.encode("latin-1"))]
    if client_id:
        id_headers.append((b"x-ms-client-request-id", client_id.encode("latin-1")))
    if trace:
        id_headers.append((b"traceid", trace))
    id_headers.extend(_VERSION_HEADERS)
    return rid, id_headers, error
