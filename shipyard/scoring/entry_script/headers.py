"""Request headers as Azure scripts see them: ``Content-Type`` style keys, looked up in any case.

azmlinfsrv hands scripts Flask/werkzeug headers, whose keys read ``Content-Type`` and whose lookups
ignore case. ASGI servers deliver lower-case names, so scripts that do
``request_headers["Content-Type"]`` or iterate over the keys would break without this adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def _title(name: str) -> str:
    return name.title()


class Headers(dict):
    """A ``dict`` with werkzeug-style ``Title-Case`` keys and case-insensitive lookups.

    It stays a plain ``dict`` subclass so ``json.dumps(request_headers)`` and ``dict(...)`` work
    in user code exactly as they did under azmlinfsrv.
    """

    __slots__ = ()

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        super().__init__((_title(key), value) for key, value in pairs)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(_title(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(_title(key))

    def get(self, key: str, default: str | None = None, type=None) -> object:  # noqa: A002 - werkzeug's name
        """Like werkzeug ``Headers.get``: optional ``type`` converts the value (``None`` when it fails)."""
        value = super().get(_title(key))
        if value is None:
            return default
        if type is None:
            return value
        try:
            return type(value)
        except (TypeError, ValueError):
            return default

    def getlist(self, key: str) -> list[str]:
        """All values of ``key`` (comma-separated values of one header stay one entry, as in werkzeug)."""
        value = super().get(_title(key))
        return [] if value is None else [value]
