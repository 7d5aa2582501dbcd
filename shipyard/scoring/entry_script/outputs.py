"""Turn what ``run()`` returned into a :class:`~shipyard.scoring.base.ScoreResponse`.

Plain values are sent as JSON, like azmlinfsrv's ``json.dumps(output)`` (so a returned ``str``
becomes a JSON string), but numpy arrays and scalars work too. An ``AMLResponse`` controls status,
headers and body itself; a response from the *real* Azure packages (a Flask/werkzeug ``Response``)
is recognised by its attributes and converted, so users with those packages installed lose nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shipyard.errors import ScoringError
from shipyard.scoring import json_codec
from shipyard.scoring.base import ScoreResponse
from shipyard.scoring.entry_script.aml_response import AMLResponse, encode_chunks

RUN_FAILED_HEADER = "x-ms-run-function-failed"
_PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})


def to_score_response(result: Any) -> ScoreResponse:
    """Encode a ``run()`` result.

    Raises:
        ScoringError: (500) the result cannot be encoded as JSON; the message names its type.
    """
    if result.__class__ not in _PLAIN:  # the usual answers skip the response-object checks
        if isinstance(result, AMLResponse):
            return result.to_score_response()
        if _is_werkzeug_response(result):
            return _from_werkzeug(result)
    try:
        return ScoreResponse(json_codec.dumps(result))
    except TypeError as exc:
        raise ScoringError(
            f"run() returned a {type(result).__module__}.{type(result).__qualname__}, which cannot be "
            f"encoded as JSON ({exc}); return JSON types, numpy arrays, or an AMLResponse"
        ) from exc


def _is_werkzeug_response(value: Any) -> bool:
    return hasattr(value, "status_code") and hasattr(value, "headers") and hasattr(value, "get_data")


def _from_werkzeug(response: Any) -> ScoreResponse:
    """Convert a Flask/werkzeug ``Response`` (e.g. the real Azure ``AMLResponse``)."""
    headers: dict[str, str] = {}
    failed = False
    for name, value in response.headers.items():
        lower = name.lower()
        if lower in ("content-type", "content-length"):
            continue
        if lower == RUN_FAILED_HEADER:
            failed = str(value).lower() == "true"
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else str(value)
    body: bytes | Iterator[bytes]
    if getattr(response, "is_streamed", False):
        body = encode_chunks(response.response)
    else:
        body = response.get_data()
    return ScoreResponse(
        body=body,
        status_code=int(response.status_code),
        headers=headers,
        media_type=response.headers.get("Content-Type") or "application/json",
        run_function_failed=failed,
    )
