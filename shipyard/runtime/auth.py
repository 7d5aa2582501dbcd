"""Optional API-key authentication: ``Authorization: Bearer <key>``, as Azure ML endpoints use.

Keys come from ``SHIPYARD_API_KEYS`` (environment), a keys file (``SHIPYARD_API_KEYS_FILE`` /
``--api-key-file``: what the container target mounts) or ``--api-key``; the command line is the
one place every local user can read (``ps``), so the docs recommend the other two.

Off when no keys are configured. Health probes and ``/metrics`` stay open so orchestrators and
scrapers work without the key; everything else needs one of the keys. Keys are compared in
constant time (and all of them, every time) so response timing does not leak key material.
"""

from __future__ import annotations

import hmac
from pathlib import Path

OPEN_PATHS = frozenset({"/", "/v2/health/live", "/v2/health/ready", "/metrics"})
_SCHEME = b"bearer "


def read_keys_file(path: Path) -> list[str]:
    """The keys in a keys file: one per line (commas also separate), blank lines and ``#`` comments skipped.

    Raises:
        ValueError: the file cannot be read, or holds no key (auth would silently be off).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot read the API keys file {str(path)!r}: {reason}") from None
    keys = [key.strip() for line in text.splitlines() if not line.lstrip().startswith("#")
            for key in line.split(",") if key.strip()]
    if not keys:
        raise ValueError(f"the API keys file {str(path)!r} holds no key (one key per line expected)")
    return keys


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
