"""The werkzeug ``MultiDict`` surface that ``@rawhttp`` scripts use for ``request.args``/``form``/``files``.

Query strings and forms may repeat a key; werkzeug answers the first value for ``d[key]`` and
``d.get(key)`` and every value for ``d.getlist(key)``. Re-implemented here (a few lines) so entry
scripts keep working without werkzeug in the image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shipyard.errors import BadRequestError


class MultiDict(dict):
    """Keys map to lists internally; item access answers the first value like werkzeug."""

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        super().__init__()
        for key, value in pairs:
            super().setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> Any:
        try:
            return super().__getitem__(key)[0]
        except KeyError:
            # werkzeug raises BadRequestKeyError (a 400); a missing query parameter is the client's fault
            raise BadRequestError(f"missing request parameter {key!r}") from None

    def get(self, key: str, default: Any = None, type: Callable[[Any], Any] | None = None) -> Any:  # noqa: A002
        """First value of ``key``; ``type`` converts it, answering ``default`` when that fails."""
        values = super().get(key)
        if not values:
            return default
        if type is None:
            return values[0]
        try:
            return type(values[0])
        except (TypeError, ValueError):
            return default

    def getlist(self, key: str, type: Callable[[Any], Any] | None = None) -> list[Any]:  # noqa: A002
        """Every value of ``key`` in order; values that ``type`` cannot convert are skipped."""
        values = list(super().get(key, ()))
        if type is None:
            return values
        converted = []
        for value in values:
            try:
                converted.append(type(value))
            except (TypeError, ValueError):
                continue
        return converted

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return (items[0] for items in super().values())

    def items(self, multi: bool = False) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        for key, values in super().items():
            if multi:
                yield from ((key, value) for value in values)
            else:
                yield key, values[0]

    def lists(self) -> Iterator[tuple[str, list[Any]]]:
        """``(key, all values)`` pairs."""
        return ((key, list(values)) for key, values in super().items())

    def to_dict(self, flat: bool = True) -> dict[str, Any]:
        """A plain dict: first values when ``flat``, else lists."""
        return dict(self.items()) if flat else dict(self.lists())
