"""The ``request_headers`` argument of ``run(data, request_headers)``, as azmlinfsrv builds it.

azmlinfsrv passes ``dict(request.headers)``: a plain ``dict`` whose names read as werkzeug spells
them from the WSGI environment (``Content-Type``, ``X-Ms-Client-Request-Id``), so lookups are
case-sensitive and a repeated header is one comma-joined value. ASGI delivers lower-case names;
this rebuilds that dict without importing werkzeug, which only ``@rawhttp`` scripts pay for.
"""

from __future__ import annotations

from collections.abc import Mapping


def script_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``dict(werkzeug_request.headers)`` for *headers* (any-case names)."""
    raw = getattr(headers, "raw", None)
    if raw is None:
        return {name.replace("_", "-").title(): value for name, value in headers.items()}
    built: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name, value = raw_name.decode("latin-1").replace("_", "-").title(), raw_value.decode("latin-1")
        built[name] = f"{built[name]},{value}" if name in built else value
    return built
