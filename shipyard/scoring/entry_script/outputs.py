"""Turn what ``run()`` returned into a :class:`~shipyard.scoring.base.ScoreResponse`.

Plain values are sent as JSON, like azmlinfsrv's ``json.dumps(output)`` (so a returned ``str``
becomes a JSON string), but numpy arrays and scalars work too. An ``AMLResponse`` controls status,
headers and body itself. It is a werkzeug ``Response``, as is the *real* Azure one (Flask's), and
any werkzeug response is recognised by its attributes and converted, so users with those packages
installed lose nothing; werkzeug itself is imported only by scripts that import ``AMLResponse``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shipyard.errors import ScoringError
from shipyard.scoring import json_codec
from shipyard.scoring.base import ScoreResponse

RUN_FAILED_HEADER = "x-ms-run-function-failed"
_PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})


def to_score_response(result: Any) -> ScoreResponse:
    """Encode a ``run()`` result.

    Raises:
        ScoringError: (500) the result cannot be encoded as JSON; the message names its type.
    """
    if result.__class__ not in _PLAIN and _is_werkzeug_response(result):  # plain answers skip the check
        return _from_werkzeug(result)
    try:
        return ScoreResponse(json_codec.dumps(result))
    except TypeError as exc:
        raise ScoringError(
            f"run() returned a {type(result).__module__}.{type(result).__qualname__}, which cannot be "
            f"encoded as JSON ({exc}); return JSON types, numpy arrays, or an AMLResponse"
        ) from exc


def _is_werkzeug_response(value: Any) -> bool:
    """An ``AMLResponse``, Shipyard's or Azure's, or any Flask/werkzeug ``Response``."""
    return hasattr(value, "status_code") and hasattr(value, "headers") and hasattr(value, "iter_encoded")


def _from_werkzeug(response: Any) -> ScoreResponse:
    """The answer a WSGI server would send for *response*: its headers (repeated ones kept), body, status.

    ``x-ms-run-function-failed`` becomes ``run_function_failed`` (``None`` when the response has
    no such header: azmlinfsrv then sends none either, unless the status is 5xx).
    """
    headers: list[tuple[str, str]] = []
    failed: bool | None = None
    media_type = None
    for name, value in response.headers.to_wsgi_list():
        lower = name.lower()
        if lower == "content-type":
            media_type = value
        elif lower == RUN_FAILED_HEADER:
            failed = value.lower() == "true"
        elif lower != "content-length":
            headers.append((name, value))
    body: bytes | Iterator[bytes]
    body = response.iter_encoded() if response.is_streamed else response.get_data()
    return ScoreResponse(
        body=body,
        status_code=int(response.status_code),
        headers=headers,
        media_type=media_type or "",
        run_function_failed=failed,
    )
