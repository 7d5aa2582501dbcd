"""Optional API-key authentication: ``Authorization: Bearer <key>``, as Azure ML endpoints use.

Off when no keys are configured. Health probes and ``/metrics`` stay open so orchestrators and
scrapers work without the key; everything else needs one of the keys. Keys are compared in
constant time (and all of them, every time) so response timing does not leak key material.
"""

from __future__ import annotations

import hmac

OPEN_PATHS = frozenset({"/", "/v2/health/live", "/v2/health/ready", "/metrics"})
_SCHEME = b"bearer "


class ApiKeyAuth:
    """Checks one request's ``Authorization`` header against the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [key.encode() for key in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, path: str, authorization: bytes | None) -> tuple[str, bytes] | None:
        """``None`` when the request may pass, else (message, WWW-Authenticate value) for a 401."""
        if not self._keys or path in OPEN_PATHS:
            return None
        if not authorization:
            return (
                "this endpoint needs an API key: send the header 'Authorization: Bearer <key>'",
                b'Bearer realm="shipyard"',
            )
        token = authorization[len(_SCHEME):].strip() if authorization[:7].lower() == _SCHEME else b""
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(token, key)
        if matched:
            return None
        return (
            "the API key is not valid: send 'Authorization: Bearer <key>' with one of the server's keys",
            b'Bearer realm="shipyard", error="invalid_token"',
        )
